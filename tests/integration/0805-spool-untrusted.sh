#!/usr/bin/env bash
# The spool trusts only what the service's user wrote. The forwarder sets aside, unread, a
# spool file owned by another user (nobody) and one that others may write to: both are
# logged, counted in events_spool_refused_files_total, and none of their records reaches
# Kafka. A record naming another topic is produced to COLLECT_RAW_TOPIC, never to that
# topic. A SPOOL_DIR that others may write to, another user's, or a symbolic link stops
# the forwarder at start with a clear error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-spool.sh"
. "$(dirname "$0")/lib-cgi.sh"
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP chown to nobody needs root"
	exit 0
fi
start_broker -p 4 || exit 1
OTHER=conversion-untrusted-$$
export METRICS_DIR="$T/metrics"

# Files made by the real writer (spooltool write), one file per write.
printf 'own-%d\t{"n":%d}\n' 1 1 2 2 3 3 | spool_write
printf 'named-other\t{"n":4}\n' | "$BUILD/bin/spooltool" write "$SPOOL" "$OTHER" >/dev/null
printf 'foreign-1\t{"n":5}\n' | spool_write
printf 'loose-1\t{"n":6}\n' | spool_write
foreign=$(cd "$SPOOL" && grep -l foreign-1 -- *.spool)
loose=$(cd "$SPOOL" && grep -l loose-1 -- *.spool)
chown nobody "$SPOOL/$foreign"
chmod 0620 "$SPOOL/$loose"
is "the spool holds 6 records in 4 files" "$(spool_files) $(spool_records)" "4 6"

start_forwarder fwd
# Done when every file is either forwarded (removed) or set aside.
for _ in $(seq 600); do
	[ "$(spool_files)" = 0 ] && [ -e "$SPOOL/.refused-$foreign" ] && [ -e "$SPOOL/.refused-$loose" ] && break
	kill -0 "$FORWARDER_PID" 2>/dev/null || break
	sleep 0.1
done
is "the trusted files were forwarded and removed" "$(spool_files)" 0
check "the foreign file is set aside, still nobody's" test "$(stat -c %U "$SPOOL/.refused-$foreign" 2>/dev/null)" = nobody
check "the group-writable file is set aside" test -f "$SPOOL/.refused-$loose"
# The raw topic's high watermarks: the 4 trusted records are all there is to wait for.
for _ in $(seq 300); do [ "$(topic_total)" -ge 4 ] && break; sleep 0.1; done
is "$TOPIC holds the trusted records only, the one naming $OTHER among them" \
	"$(topic_lines | cut -f1 | sort | tr '\n' ' ')" "named-other own-1 own-2 own-3 "
is "nothing reached $OTHER" "$(topic_count "$OTHER")" 0
stop_forwarder
is "SIGTERM: exit 0" "$FORWARDER_RC" 0
check "the foreign file is logged with its owner" \
	grep -q "WARN.*$foreign belongs to uid 65534, not to this user (uid 0): not forwarded, set aside as .refused-$foreign" "$FORWARDER_LOG"
check "the group-writable file is logged with its mode" \
	grep -q "WARN.*$loose is writable by others (mode 0620): not forwarded" "$FORWARDER_LOG"
check "the record naming $OTHER is logged" grep -q "WARN.*names the topic \"$OTHER\": produced to $TOPIC" "$FORWARDER_LOG"
check "the last stats line counts 2 refused files" grep -q 'stats files=[0-9]* records=4 damaged=0 failures=0 refused=2 ' "$FORWARDER_LOG"
direct metrics REQUEST_METHOD=GET DOCUMENT_URI=/metrics
is "/metrics: events_spool_refused_files_total 2" \
	"$(grep '^events_spool_refused_files_total ' <<<"$BODY")" "events_spool_refused_files_total 2"

# A SPOOL_DIR the forwarder must not trust: it refuses to start, saying why.
refuse_start() { # LABEL DIR WANT: the forwarder exits 1 at once, and logs WANT
	timeout 30 env SPOOL_DIR="$2" "$BUILD/bin/forwarder" >/dev/null 2>"$T/start.log"
	local rc=$?
	if [ "$rc" = 1 ] && grep -q "ERROR.*$3" "$T/start.log"; then ok "$1"; else
		not_ok "$1" "exit $rc: $(cat "$T/start.log")"; fi
}
mkdir -m 0770 "$T/group-writable"
refuse_start "a group-writable SPOOL_DIR stops the forwarder at start" "$T/group-writable" \
	"spool directory $T/group-writable is writable by others (mode 0770): refused"
mkdir -m 0700 "$T/nobodys"
chown nobody "$T/nobodys"
refuse_start "another user's SPOOL_DIR stops it too" "$T/nobodys" \
	"spool directory $T/nobodys belongs to uid 65534, not to this user (uid 0): refused"
ln -s "$SPOOL" "$T/spool-link"
refuse_start "and a SPOOL_DIR that is a symbolic link" "$T/spool-link" \
	"spool directory $T/spool-link is a symbolic link: refused"
