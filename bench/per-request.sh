#!/usr/bin/env bash
# per-request.sh - latency of one /collect per request, beside its floor, in one run on one
# dev broker: p50/p99 of sequential requests (one client, one connection) for
#   floor-fcgiwrap     tools/trivialcgi (libfcgi only, answers 200) via nginx -> fcgiwrap
#   collect-fcgiwrap   build/bin/collect via nginx -> the same fcgiwrap
#   floor-direct       tools/trivialcgi invoked directly (fork, exec, read to the end)
#   collect-direct     build/bin/collect invoked directly, the serverless way
#   floor-adapter      tools/trivialcgi through the vercel-compat adapter (node http)
#   collect-adapter    the bundled collect through the vercel-compat adapter
#   collect-pooled     /collect via nginx -> the spawn-fcgi pool (the long-running path)
# Prints "name p50_ms p99_ms" lines (floor-fcgiwrap-2: the floor again, measured alongside
# the pooled row), the ratio of collect-fcgiwrap's p50 to the floor's
# (goal <= 2.5), and the same as "row|measured|ceiling|ratio|goal|met" lines for bench/run.
#
#   bench/per-request.sh [--quick]      BENCH_N requests per row (default 300, quick 60)
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BIN="$TOP/build/bin"
N=${BENCH_N:-300}
[ "${1:-}" = "--quick" ] && N=${BENCH_N:-60}
W=$(mktemp -d "${TMPDIR:-/tmp}/svc-per-request.XXXXXX")
BROKER_PID="" NODE_PID="" STACK=0 NGINX=0

cleanup() {
	[ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null
	[ $NGINX = 1 ] && nginx -c "$W/floor.conf" -p "$W" -s quit 2>/dev/null
	[ $STACK = 1 ] && "$TOP/tools/stack" stop "$W/stack" >/dev/null 2>&1
	[ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
die() { echo "per-request: $*" >&2; exit 1; }
free_port() { "$TOP/tools/free-port"; }

make -C "$TOP" --no-print-directory all vercel-bundle >"$W/make.log" 2>&1 || die "make failed: $(tail -5 "$W/make.log")"
for b in devbroker collect trivialcgi cgitime; do [ -x "$BIN/$b" ] || die "$BIN/$b is missing"; done

# One broker for every row.
"$BIN/devbroker" -f "$W/bootstrap" >/dev/null 2>"$W/devbroker.log" &
BROKER_PID=$!
for _ in $(seq 100); do [ -s "$W/bootstrap" ] && break; sleep 0.05; done
[ -s "$W/bootstrap" ] || die "the dev broker did not start"
export KAFKA_URL=$(cat "$W/bootstrap")
unset FORCE_DEV_MODE INGEST_API_TOKEN
export ERROR_LOG="$W/errors.jsonl" DEV_STORE="$W/dev.jsonl" INGEST_DATA_DIR="$W"

# The service's stack (pools, fcgiwrap, nginx), plain build; its fcgiwrap may run the
# trivial program too (it runs only the handlers otherwise).
export PORT=$(free_port) SVC_BUILD=build FCGIWRAP_ALLOW="$BIN/trivialcgi"
"$TOP/tools/stack" start "$W/stack" >"$W/stack.log" 2>&1 || die "stack: $(tail -5 "$W/stack.log")"
STACK=1
BASE="http://127.0.0.1:$PORT"
# A second nginx server in front of the very same fcgiwrap, for the floor and for collect
# (the stack's site has no location for the trivial program); same FastCGI parameters.
FPORT=$(free_port)
user=""
[ "$(id -u)" -eq 0 ] && user="user root;"
mkdir -p "$W/tmp"
cat >"$W/floor.conf" <<EOF
$user
worker_processes 1;
pid $W/floor-nginx.pid;
error_log $W/floor-nginx.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $W/tmp;
    fastcgi_temp_path $W/tmp;
    proxy_temp_path $W/tmp;
    uwsgi_temp_path $W/tmp;
    scgi_temp_path $W/tmp;
    map \$http_x_request_id \$svc_request_id { "" \$request_id; default \$http_x_request_id; }
    server {
        listen 127.0.0.1:$FPORT;
        location = /cgi/trivialcgi { set \$handler trivialcgi; include $W/stack/fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME $BIN/trivialcgi; fastcgi_pass unix:$W/stack/fcgiwrap.sock; }
        location = /cgi/collect { include $W/stack/fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME $BIN/collect;
            fastcgi_param EVENTS_CONFIG $W/stack/events.conf;
            fastcgi_pass unix:$W/stack/fcgiwrap.sock; }
    }
}
EOF
nginx -c "$W/floor.conf" -p "$W" -e "$W/floor-nginx.log" 2>>"$W/floor-nginx.log" || die "nginx: $(tail -3 "$W/floor-nginx.log")"
NGINX=1

# The adapter on a local http server: collect from the bundle, trivialcgi from the build.
node -e '
const http = require("node:http");
const { createHandler } = require(process.argv[1] + "/vercel-compat/api/_cgi.js");
const routes = {
  "/collect": require(process.argv[1] + "/vercel-compat/api/collect.js"),
  "/trivialcgi": createHandler({ executable: process.argv[2], path: "/trivialcgi", loader: "off", libDir: null }),
};
const server = http.createServer((req, res) => routes[req.url](req, res));
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
' "$TOP" "$BIN/trivialcgi" >"$W/node.port" 2>"$W/node.log" &
NODE_PID=$!
for _ in $(seq 100); do [ -s "$W/node.port" ] && break; sleep 0.05; done
[ -s "$W/node.port" ] || die "adapter server: $(tail -3 "$W/node.log")"
ABASE="http://127.0.0.1:$(cat "$W/node.port")"

BODY='{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"bench","product_id":"p1"}]}'
printf '%s' "$BODY" >"$W/body.json"

# p50/p99 (nearest rank) of a column of milliseconds on stdin.
pct() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) { print "- -"; exit }
	i = int((NR * 50 + 99) / 100); j = int((NR * 99 + 99) / 100); printf "%.2f %.2f\n", a[i], a[j] }'; }

# A floor and its subject are measured interleaved, request by request (HTTP) or ten runs
# at a time (direct), so that whatever else the machine does weighs on both alike.
#
# http_pair NAME_A URL_A NAME_B URL_B: N sequential POSTs to each, alternating, one curl
# (one kept-alive connection per server), after 5 of each to warm up. Prints two rows.
http_pair() {
	local args=() i name url codes
	for ((i = 0; i < N + 5; i++)); do args+=(-o /dev/null "$2" -o /dev/null "$4"); done
	curl -sS -w '%{url_effective} %{http_code} %{time_total}\n' -X POST \
		-H 'Content-Type: application/json' --data-binary @"$W/body.json" "${args[@]}" \
		>"$W/$1-$3.times" 2>"$W/$1-$3.err"
	for name in "$1" "$3"; do
		[ "$name" = "$1" ] && url=$2 || url=$4
		awk -v u="$url" '$1 == u' "$W/$1-$3.times" | tail -n +6 >"$W/$name.times"
		codes=$(cut -d' ' -f2 "$W/$name.times" | sort -u | tr '\n' ' ')
		[ "$codes" = "200 " ] || echo "per-request: $name answered ${codes:-nothing }(see $W/$1-$3.err)" >&2
		echo "$name $(awk '{ print $3 * 1000 }' "$W/$name.times" | pct)"
	done
}
# direct_pair NAME_A PROGRAM_A NAME_B PROGRAM_B: N direct invocations of each, alternating
# ten at a time. Prints two rows.
direct_pair() {
	local i name prog
	rm -f "$W/$1.ms" "$W/$3.ms"
	for ((i = 0; i < (N + 9) / 10; i++)); do
		for name in "$1" "$3"; do
			[ "$name" = "$1" ] && prog=$2 || prog=$4
			REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=${#BODY} \
				GATEWAY_INTERFACE=CGI/1.1 REMOTE_ADDR=127.0.0.1 DOCUMENT_URI=/collect \
				"$BIN/cgitime" -n 10 -w $((i == 0 ? 3 : 0)) -i "$W/body.json" -s 200 -o "$W/$name.ms" \
				-- "$prog" >/dev/null 2>>"$W/$name.err" ||
				echo "per-request: $name failed: $(tail -1 "$W/$name.err")" >&2
		done
	done
	for name in "$1" "$3"; do echo "$name $(pct <"$W/$name.ms")"; done
}
# records_now: the sum of collect-topic1's high watermarks.
records_now() {
	local parts p total=0 off
	parts=$(kcat -b "$KAFKA_URL" -L -t collect-topic1 -J 2>/dev/null | jq '.topics[0].partitions | length')
	for ((p = 0; p < ${parts:-0}; p++)); do
		off=$(kcat -b "$KAFKA_URL" -Q -t "collect-topic1:$p:-1" 2>/dev/null | awk '{ print $NF }')
		total=$((total + ${off:-0}))
	done
	echo "$total"
}
before=$(records_now)
echo "name p50_ms p99_ms"
mapfile -t res < <(
	http_pair floor-fcgiwrap "http://127.0.0.1:$FPORT/cgi/trivialcgi" collect-fcgiwrap "http://127.0.0.1:$FPORT/cgi/collect"
	direct_pair floor-direct "$BIN/trivialcgi" collect-direct "$BIN/collect"
	http_pair floor-adapter "$ABASE/trivialcgi" collect-adapter "$ABASE/collect"
	http_pair floor-fcgiwrap-2 "http://127.0.0.1:$FPORT/cgi/trivialcgi" collect-pooled "$BASE/collect"
)
printf '%s\n' "${res[@]}"

p50() { printf '%s\n' "${res[@]}" | awk -v n="$1" '$1 == n { print $2 }'; }
p99() { printf '%s\n' "${res[@]}" | awk -v n="$1" '$1 == n { print $3 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
r=$(ratio "$(p50 collect-fcgiwrap)" "$(p50 floor-fcgiwrap)")
echo "ratio collect-fcgiwrap/floor-fcgiwrap p50 $r (goal <= 2.5)"
echo "ratio collect-direct/floor-direct p50 $(ratio "$(p50 collect-direct)" "$(p50 floor-direct)")"
echo "ratio collect-adapter/floor-adapter p50 $(ratio "$(p50 collect-adapter)" "$(p50 floor-adapter)")"
after=$(records_now)
echo "# collect-topic1 grew by $((after - before)) records during the run (requests answered 200: $((3 * (N + 5) + (N + 9) / 10 * 10 + 3)))"

met=$(awk -v r="$r" 'BEGIN { print (r != "-" && r <= 2.5) ? "yes" : "no" }')
row() { echo "$1|p50 $(p50 "$2") ms, p99 $(p99 "$2") ms|p50 $(p50 "$3") ms|$(ratio "$(p50 "$2")" "$(p50 "$3")")|$4|$5"; }
row "per-request /collect (fcgiwrap)" collect-fcgiwrap floor-fcgiwrap "<= 2.5" "$met"
row "per-request /collect (direct)" collect-direct floor-direct "-" "-"
row "per-request /collect (vercel adapter)" collect-adapter floor-adapter "-" "-"
row "/collect pooled, 1 connection" collect-pooled floor-fcgiwrap-2 "-" "-"
