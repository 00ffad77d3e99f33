#!/usr/bin/env bash
# The forwarder replays spool files written by the real writer (sealed ones, and the open
# file of a writer that died) into Kafka: every record with the same key and bytes, then
# the files are gone. A file whose last record is torn, and one with a corrupt record in
# the middle: the whole records are forwarded, the damaged bytes skipped and logged with
# the file name and offset, and the forwarder goes on. SIGTERM: exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-spool.sh"
start_broker -p 4 || exit 1

# Sealed files of 50-record appends, one record of 900,000 bytes among them.
gen_records 300 a >"$T/a.tsv"
gen_records 2 big 900000 >"$T/big.tsv"
spool_write -b 50 <"$T/a.tsv"
spool_write <"$T/big.tsv"
# A writer killed -9 after its appends: its file stays "<name>.open", its lock free.
gen_records 40 dead >"$T/dead.tsv"
mkfifo "$T/feed"
"$BUILD/bin/spooltool" write "$SPOOL" "$TOPIC" <"$T/feed" >/dev/null &
writer=$!
exec 3>"$T/feed"
cat "$T/dead.tsv" >&3
for _ in $(seq 100); do [ "$(spool_records)" = 342 ] && break; sleep 0.1; done
{
	kill -9 $writer
	wait $writer
} 2>/dev/null # no "Killed" line
exec 3>&-
is "the spool holds 342 records" "$(spool_records)" 342
check "one file was left open by a dead writer" test "$(ls "$SPOOL" | grep -c '\.open$')" = 1
check "spooltool verify finds nothing damaged" "$BUILD/bin/spooltool" verify "$SPOOL"

start_forwarder fwd
if wait_spool_empty 60; then ok "every file forwarded and removed"; else
	not_ok "every file forwarded and removed" "$(tail -5 "$FORWARDER_LOG")"; fi
cat "$T/a.tsv" "$T/big.tsv" "$T/dead.tsv" | sort >"$T/want"
topic_lines | sort >"$T/got"
is "$TOPIC holds each record once, same key and bytes" "$(cmp -s "$T/want" "$T/got" && echo same)" same
[ -s "$T/got" ] || echo "# nothing read back from $TOPIC"

# Damaged files, made in another directory and moved in whole (the forwarder runs).
# Records of 20 + 14 (topic) + 6 (key) + 7 (value) = 47 bytes.
stage="$T/stage"
printf 'torn-%d\t{"n":%d}\n' 1 1 2 2 3 3 4 4 5 5 | "$BUILD/bin/spooltool" write -b 5 "$stage" "$TOPIC" >/dev/null
torn=$(ls "$stage")
truncate -s -10 "$stage/$torn" # the last record loses its last 10 bytes: 37 left at 188
printf 'flip-%d\t{"n":%d}\n' 1 1 2 2 3 3 4 4 5 5 | "$BUILD/bin/spooltool" write -b 5 "$stage" "$TOPIC" >/dev/null
flip=$(ls "$stage" | grep -v "$torn")
# One byte of the second record's value (47 + 40) changes: its CRC fails.
printf 'X' | dd of="$stage/$flip" bs=1 seek=87 conv=notrunc status=none
"$BUILD/bin/spooltool" verify "$stage" >"$T/verify.out"
is "spooltool verify exits 1 on damage" "$?" 1
check "and names the torn tail" grep -q "$torn: 37 damaged bytes at offset 188" "$T/verify.out"
mv "$stage/$torn" "$stage/$flip" "$SPOOL/"
if wait_spool_empty 60; then ok "damaged files forwarded and removed"; else
	not_ok "damaged files forwarded and removed" "$(tail -5 "$FORWARDER_LOG")"; fi
{
	printf 'torn-%d\t{"n":%d}\n' 1 1 2 2 3 3 4 4
	printf 'flip-%d\t{"n":%d}\n' 1 1 3 3 4 4 5 5
} | sort >"$T/want-damaged"
topic_lines | grep -E '^(torn|flip)-' | sort >"$T/got-damaged"
is "the whole records of both are in $TOPIC, once" "$(cat "$T/got-damaged")" "$(cat "$T/want-damaged")"
check "the torn tail is logged: file and offset" \
	grep -q "$torn: skipping 37 damaged bytes at offset 188" "$FORWARDER_LOG"
check "the corrupt record is logged: file and offset" \
	grep -q "$flip: skipping 47 damaged bytes at offset 47" "$FORWARDER_LOG"
check "the forwarder still runs" kill -0 "$FORWARDER_PID"

stop_forwarder
is "SIGTERM: exit 0" "$FORWARDER_RC" 0
check "the last stats line counts 350 records and 2 damaged runs" \
	grep -q 'stats files=[0-9]* records=350 damaged=2 ' "$FORWARDER_LOG"
