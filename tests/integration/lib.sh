# lib.sh - helpers for the integration scripts. Source it first:
#   . "$(dirname "$0")/lib.sh"
# Gives $TOP, $BUILD (executables under test), $T (private temp dir, removed at exit),
# start_broker, start_stack, http, topic_dump, topic_count, node_deps and the TAP helpers.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD="$TOP/${SVC_BUILD:-build-asan}"
T=$(mktemp -d "${TMPDIR:-/tmp}/svc-test.XXXXXX")
TAP_N=0
_BROKER_PID=""
_STACK_RUN=""
unset KAFKA_URL FORCE_DEV_MODE INGEST_API_TOKEN GOOGLE_SERVICE_ACCOUNT_KEY EVENTS_CONFIG

ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1"; }
not_ok() {
	TAP_N=$((TAP_N + 1))
	echo "not ok $TAP_N - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | head -c 2000 | sed 's/^/#   /'
	return 0
}
# check "label" command... : ok when the command succeeds.
check() {
	local label=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$label"; else not_ok "$label" "failed: $*"; fi
}
# is "label" got want
is() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2
want: $3"; fi
}

free_port() { "$TOP/tools/free-port"; }

# start_broker [devbroker options]: a dev broker on loopback; exports KAFKA_URL.
# With TEST_KAFKA_URL set, that cluster is used instead and nothing is started.
start_broker() {
	if [ -n "${TEST_KAFKA_URL:-}" ]; then
		export KAFKA_URL=$TEST_KAFKA_URL
		return 0
	fi
	rm -f "$T/bootstrap"
	"$TOP/build/bin/devbroker" -f "$T/bootstrap" "$@" >/dev/null 2>"$T/devbroker.log" &
	_BROKER_PID=$!
	for _ in $(seq 100); do
		[ -s "$T/bootstrap" ] && break
		sleep 0.05
	done
	[ -s "$T/bootstrap" ] || { echo "# dev broker did not start"; cat "$T/devbroker.log"; return 1; }
	export KAFKA_URL=$(cat "$T/bootstrap")
}

stop_broker() {
	[ -n "$_BROKER_PID" ] && kill "$_BROKER_PID" 2>/dev/null && wait "$_BROKER_PID" 2>/dev/null
	_BROKER_PID=""
}

# start_stack: nginx + pools + fcgiwrap on a free port; exports BASE_URL and PORT.
# The handlers get the current environment (KAFKA_URL, FORCE_DEV_MODE, ...).
start_stack() {
	export INGEST_DATA_DIR=${INGEST_DATA_DIR:-$T/data}
	export DEV_STORE=${DEV_STORE:-$T/var/dev-events.jsonl}
	export ERROR_LOG=${ERROR_LOG:-$T/var/errors.jsonl}
	export SPOOL_DIR=${SPOOL_DIR:-$T/var/spool} METRICS_DIR=${METRICS_DIR:-$T/var/metrics}
	mkdir -p "$INGEST_DATA_DIR"
	_STACK_RUN="$T/run"
	# Another program may take the free port before nginx binds it: try another one.
	for _ in 1 2 3; do
		export PORT=$(free_port)
		export BASE_URL="http://127.0.0.1:$PORT"
		SVC_BUILD=${SVC_BUILD:-build-asan} "$TOP/tools/stack" start "$_STACK_RUN" && return 0
		"$TOP/tools/stack" stop "$_STACK_RUN" >/dev/null 2>&1
	done
	echo "# the stack did not start: $(tail -3 "$_STACK_RUN/nginx-error.log" 2>/dev/null)"
	return 1
}

stop_stack() {
	[ -n "$_STACK_RUN" ] && "$TOP/tools/stack" stop "$_STACK_RUN"
	_STACK_RUN=""
}

# http METHOD PATH [curl args...]: sets STATUS, BODY and HEADERS (a file).
http() {
	local method=$1 path=$2
	shift 2
	HEADERS="$T/last-headers"
	BODY=$(curl -sS -m 30 -X "$method" -D "$HEADERS" -o - -w '\n%{http_code}' "$@" \
		"$BASE_URL$path" 2>"$T/curl.err")
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
	[ "$STATUS" = 000 ] && echo "# curl: $(cat "$T/curl.err")"
	return 0
}

# header NAME: the value of a response header of the last http call.
header() {
	grep -i "^$1:" "$HEADERS" | head -1 | cut -d: -f2- | sed 's/^ //; s/\r$//'
}

# topic_dump TOPIC [kcat options]: every message as {"key","value","partition","offset"},
# value parsed as JSON when it is JSON.
topic_dump() {
	local topic=$1
	shift
	kcat -b "$KAFKA_URL" -C -t "$topic" -o beginning -e -q -J "$@" 2>/dev/null |
		jq -c '{key, partition, offset, value: (.payload as $p | try ($p | fromjson) catch $p)}'
}

# topic_count TOPIC: the sum of the partitions' high watermarks (messages ever produced).
topic_count() {
	local topic=$1 n parts total=0 p off
	parts=$(kcat -b "$KAFKA_URL" -L -t "$topic" -J 2>/dev/null | jq '.topics[0].partitions | length')
	for ((p = 0; p < ${parts:-0}; p++)); do
		off=$(kcat -b "$KAFKA_URL" -Q -t "$topic:$p:-1" 2>/dev/null | awk '{print $NF}')
		total=$((total + ${off:-0}))
	done
	echo "$total"
}

# node_deps: the npm packages of tests/node (Chromium driver, OpenAPI tools), installed
# from its package-lock.json by npm ci whenever node_modules was made from another lock.
# Scripts running side by side take turns under a lock: npm ci replaces node_modules whole.
node_deps() {
	local dir="$TOP/tests/node" want
	want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
	(
		flock -w 900 9 || { echo "# tests/node is locked by another npm ci for 900 s"; exit 1; }
		[ "$(cat "$dir/node_modules/.lock-sha256" 2>/dev/null)" = "$want" ] && exit 0
		if ! (cd "$dir" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1; then
			echo "# npm ci in tests/node failed: $(tail -5 "$T/npm.log")"
			exit 1
		fi
		echo "$want" >"$dir/node_modules/.lock-sha256"
	) 9>"$dir/.npm-lock"
}

# Fails the script's last assertion when a sanitizer spoke in any log.
_scan_sanitizers() {
	local hits
	hits=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/run/*.log "$T"/*.log 2>/dev/null)
	if [ -n "$hits" ]; then
		not_ok "no sanitizer report in the logs" "$(grep -h -A20 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' $hits | head -60)"
	fi
}

_cleanup() {
	stop_stack >/dev/null 2>&1
	stop_broker
	_scan_sanitizers
	[ -n "${KEEP_TEST_DIR:-}" ] && echo "# kept $T" || rm -rf "$T"
}
trap _cleanup EXIT
