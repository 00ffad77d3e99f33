#!/usr/bin/env bash
# make install and make uninstall. First as a package is built: into a DESTDIR with the
# default paths, every file where it belongs, naming installed paths only, and make
# uninstall takes it all back (an edited events.conf stays). Then installed under a
# temporary prefix and run from there alone: the pools, fcgiwrap and the forwarder
# started by their systemd units' commands in the units' clean environment, nginx with
# the installed site; a /collect lands in Kafka (the dev broker), a refusal in the
# installed ERROR_LOG, and the installed logrotate rule, forced again and again under
# concurrent writers, loses no line.
. "$(dirname "$0")/lib.sh"
start_broker -p 2
mk() { make -C "$TOP" --no-print-directory "$@" >>"$T/make.log" 2>&1; }

# 1. A package's view: DESTDIR, default paths.
S=$T/stage
if mk install DESTDIR="$S" PREFIX=/usr/local; then ok "make install DESTDIR=... PREFIX=/usr/local"; else not_ok "make install DESTDIR=... PREFIX=/usr/local" "$(tail -20 "$T/make.log")"; fi
missing=""
for f in usr/local/libexec/events/{collect,health,home,ingest,processed_events,metrics,consumer,forwarder} \
	usr/local/share/events/{tracker.js,openapi.yaml} etc/events/{events.conf,events.conf.example,fastcgi.conf,cgi.conf} \
	etc/nginx/sites-available/events etc/systemd/system/events-{handler@,fcgiwrap,consumer,forwarder}.service \
	etc/sysusers.d/events.conf etc/tmpfiles.d/events.conf etc/logrotate.d/events; do
	[ -f "$S/$f" ] || missing="$missing $f"
done
is "executables, static files, settings, nginx site, units, sysusers, tmpfiles, logrotate" "$missing" ""
check "state and log directories" test -d "$S/var/lib/events/data" -a -d "$S/var/lib/events/spool" -a -d "$S/var/lib/events/metrics" -a -d "$S/var/log/events"
check "the executables run" test -x "$S/usr/local/libexec/events/collect"
is "nothing installed names the source tree" "$(grep -rl "$TOP" "$S")" ""
is "no placeholder is left" "$(grep -rlE '@[A-Z_]+@' "$S/etc")" ""
check "the site serves the installed files and sockets" grep -q 'root /usr/local/share/events;' "$S/etc/nginx/sites-available/events"
check "the pools' unit runs the installed handler on /run/events" \
	grep -qx 'ExecStart=/usr/bin/spawn-fcgi -n -s /run/events/%i.sock -M 0660 -b 4096 -- /usr/local/libexec/events/%i' "$S/etc/systemd/system/events-handler@.service"
is "state and logs where a server keeps them" "$(grep -E '^[A-Z_]+(DIR|STORE|LOG)=' "$S/etc/events/events.conf" | tr '\n' ' ')" \
	"INGEST_DATA_DIR=/var/lib/events/data SPOOL_DIR=/var/lib/events/spool METRICS_DIR=/var/lib/events/metrics DEV_STORE=/var/lib/events/dev-events.jsonl ERROR_LOG=/var/log/events/errors.jsonl "
is "events.conf is not for every user" "$(stat -c %a "$S/etc/events/events.conf")" 640
check "the executables are the plain build" bash -c "! ldd '$S/usr/local/libexec/events/collect' | grep -q asan"
echo "KAFKA_URL=broker.example:9092" >>"$S/etc/events/events.conf"
mk uninstall DESTDIR="$S" PREFIX=/usr/local
is "make uninstall removes every file but an edited events.conf" "$(cd "$S" && find . -type f)" "./etc/events/events.conf"
rm "$S/etc/events/events.conf"
mk install DESTDIR="$S" PREFIX=/usr/local && mk uninstall DESTDIR="$S" PREFIX=/usr/local
is "an events.conf as installed goes too" "$(cd "$S" && find . -type f)" ""

# 2. Installed under a temporary prefix, run from there alone.
R=$T/root
port=$(free_port)
if mk install PREFIX="$R/usr" SYSCONFDIR="$R/etc" LOCALSTATEDIR="$R/var" RUNSTATEDIR="$R/run" \
	LISTEN="127.0.0.1:$port" EVENTS_USER=root; then
	ok "make install under a temporary prefix"
else
	not_ok "make install under a temporary prefix" "$(tail -20 "$T/make.log")"
fi
echo "KAFKA_URL=$KAFKA_URL" >>"$R/etc/events/events.conf" # what an admin does
U=$R/etc/systemd/system
sed 's/%i/collect/g' "$U/events-handler@.service" >"$T/events-handler@collect.service"
for u in "$U/events-consumer.service" "$U/events-forwarder.service" "$U/events-fcgiwrap.service" "$T/events-handler@collect.service"; do
	if out=$(timeout 60 systemd-analyze verify "$u" 2>&1); then ok "systemd-analyze verify $(basename "$u")"; else not_ok "systemd-analyze verify $(basename "$u")" "$out"; fi
done
if out=$(logrotate -d -s "$T/lr.state" "$R/etc/logrotate.d/events" 2>&1) && ! grep -q '^error' <<<"$out"; then
	ok "logrotate reads the installed rule"
else
	not_ok "logrotate reads the installed rule" "$out"
fi

# unit FILE KEY INSTANCE: the value of KEY= in the unit, %i as INSTANCE.
unit() { sed -n "s/^$2=//p" "$1" | sed "s/%i/$3/g"; }
# run_unit FILE INSTANCE LOG: ExecStartPre, then ExecStart in the background, in the
# unit's environment only (EnvironmentFile, Environment), from /, as systemd would.
run_unit() {
	local envs=(PATH=/usr/sbin:/usr/bin:/sbin:/bin) line
	while IFS= read -r line; do
		case "$line" in [A-Z]*=*) envs+=("$line") ;; esac
	done < <(unit "$1" Environment "$2"; f=$(unit "$1" EnvironmentFile "$2"); [ -z "$f" ] || cat "$f")
	(cd / && env -i "${envs[@]}" $(unit "$1" ExecStartPre "$2"))
	(cd / && exec setsid env -i "${envs[@]}" $(unit "$1" ExecStart "$2") </dev/null >/dev/null 2>>"$3") &
	echo $! >>"$T/unit.pids"
}
stop_installed() {
	[ -f "$T/nginx.pid" ] && nginx -c "$T/nginx.conf" -p "$T" -s quit 2>/dev/null
	for p in $(cat "$T/unit.pids" 2>/dev/null); do kill -TERM -- "-$p" 2>/dev/null; done
}
trap 'stop_installed; _cleanup' EXIT
mkdir -p "$R/run/events"
for h in collect health home ingest processed_events metrics; do
	run_unit "$U/events-handler@.service" "$h" "$T/$h.log"
done
run_unit "$U/events-fcgiwrap.service" "" "$T/fcgiwrap.log"
run_unit "$U/events-forwarder.service" "" "$T/forwarder.log"
forwarder=$(tail -1 "$T/unit.pids")
mkdir -p "$T/nginx-tmp"
cat >"$T/nginx.conf" <<EOF
user root;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections 256; }
http {
    client_body_temp_path $T/nginx-tmp; fastcgi_temp_path $T/nginx-tmp; proxy_temp_path $T/nginx-tmp;
    uwsgi_temp_path $T/nginx-tmp; scgi_temp_path $T/nginx-tmp;
    include $R/etc/nginx/sites-available/events;
}
EOF
nginx -c "$T/nginx.conf" -p "$T" 2>>"$T/nginx-error.log"
export BASE_URL="http://127.0.0.1:$port"
for _ in $(seq 100); do
	[ -S "$R/run/events/collect.sock" ] && [ -S "$R/run/events/fcgiwrap.sock" ] &&
		curl -fsS -o /dev/null "$BASE_URL/health" 2>/dev/null && break
	sleep 0.1
done

J='Content-Type: application/json'
ev='{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"u1"}]}'
http POST /collect -H "$J" -H 'X-Request-Id: installed-1' -d "$ev"
is "the installed pool answers /collect 200" "$STATUS" 200
is "and the batch is in Kafka" "$(topic_dump collect-topic1 | jq -r 'select(.key=="installed-1") | .value.request_id')" installed-1
http POST /cgi/collect -H "$J" -H 'X-Request-Id: installed-cgi-1' -d "$ev"
is "per request through the installed fcgiwrap unit and EVENTS_CONFIG: 200, in Kafka" \
	"$STATUS $(topic_dump collect-topic1 | jq -r 'select(.key=="installed-cgi-1") | .value.request_id')" "200 installed-cgi-1"
http GET /health
is "/health reaches Kafka" "$STATUS $(jq -r .kafka_status <<<"$BODY")" "200 connected"
http GET /metrics
is "the installed /metrics counts both /collect answers (pooled and per request) in the installed METRICS_DIR" \
	"$STATUS $(grep '^events_http_requests_total{endpoint="/collect",code="200"}' <<<"$BODY" | cut -d' ' -f2)" "200 2"
http GET /
check "the page loads the installed tracker" grep -q 'src="/tracker.js?v=[0-9a-f]*"' <<<"$BODY"
http GET /tracker.js
is "nginx serves tracker.js from the installed share directory" "$STATUS" 200
bad=0
for p in $(cat "$T/unit.pids"); do
	for c in $p $(pgrep -s "$p"); do
		exe=$(readlink "/proc/$c/exe" 2>/dev/null) || continue
		case "$exe" in "$R"/* | /usr/bin/* | /usr/sbin/* | /bin/*) ;; *) bad=$((bad + 1)); echo "# $c runs $exe" ;; esac
		[ "$(readlink "/proc/$c/cwd")" = / ] || { bad=$((bad + 1)); echo "# $c works in $(readlink "/proc/$c/cwd")"; }
		tr '\0' '\n' <"/proc/$c/environ" | grep -q "$TOP" && { bad=$((bad + 1)); echo "# $c has the source tree in its environment"; }
	done
done
is "every running process is an installed executable, in /, with nothing of the source tree" "$bad" 0
is "the forwarder runs, as its unit starts it" "$(readlink "/proc/$forwarder/exe")" "$R/usr/libexec/events/forwarder"

# ERROR_LOG where the installed configuration puts it, and its rotation under writers.
L=$R/var/log/events/errors.jsonl
http POST /collect -H "$J" -H 'X-Request-Id: rot-first' -d '{'
check "a refusal is a line of the installed ERROR_LOG" grep -q '"request_id":"rot-first"' "$L"
writer() { # writer NAME: 60 refused requests, one ERROR_LOG line each
	for i in $(seq 60); do
		curl -s -o /dev/null -X POST -H "$J" -H "X-Request-Id: rot-$1-$i" -d '{' "$BASE_URL/collect"
	done
}
writer a &
wa=$!
writer b &
wb=$!
rotations=0
while kill -0 $wa 2>/dev/null || kill -0 $wb 2>/dev/null; do
	[ $rotations -lt 12 ] || break
	logrotate -f -s "$T/lr.state" "$R/etc/logrotate.d/events" 2>>"$T/logrotate.log" && rotations=$((rotations + 1))
done
wait $wa $wb
check "logrotate rotated while the writers wrote" test -f "$L.1"
is "no line lost or torn: every refusal is one whole line in the log or a rotated one" \
	"$(zcat -f "$L"* | jq -r 'select(.request_id | startswith("rot-")) | .request_id' | sort -u | wc -l)/$(zcat -f "$L"* | grep -c '"request_id":"rot-')" "121/121"
