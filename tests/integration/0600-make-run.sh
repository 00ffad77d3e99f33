#!/usr/bin/env bash
# `make run` (tools/run) in a checkout of its own, fresh (no data/, no var/): every example
# it prints works as printed, with the dev broker and in FORCE_DEV_MODE; a second one on
# another port is refused while the first runs, and leaves the first alone; stopping the
# first stops everything it started, and then a new one starts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
INGESTED=""

# examples FILE: the commands tools/run printed, one a line (continuations joined).
examples() {
	sed -n '/^Event ingestion service on/,$p' "$1" | sed -e :a -e '/\\$/N; s/\\\n//; ta' |
		grep -E '^  (curl|kcat) '
}

# try_examples NAME N: runs each of the N examples NAME printed (they come after nginx is
# up: wait for them), as printed; each must succeed.
try_examples() {
	local cmd out label n=0
	for _ in $(seq 100); do
		[ "$(examples "$T/$1.out" | wc -l)" -ge "$2" ] && break
		sleep 0.1
	done
	while IFS= read -r cmd; do
		n=$((n + 1))
		label=$(sed -E 's|https?://[^/]+||; s/^ +//; s/ +/ /g' <<<"$cmd" | cut -c1-40)
		case "$cmd" in
		*kcat*) # the consumer's output comes when it comes: wait for it
			for _ in $(seq 60); do
				out=$(timeout 20 bash -c "$cmd" 2>"$T/example.err" </dev/null)
				grep -q '"user_id":"u1"' <<<"$out" && break
				sleep 0.5
			done
			is "$1: kcat shows the consumer's record of the /collect example" \
				"$(grep -c '"user_id":"u1"' <<<"$out")" 1 ;;
		*/metrics*)
			out=$(timeout 30 bash -c "$cmd" 2>"$T/example.err" </dev/null)
			check "$1: $label... has the counters" grep -q '^events_received_total{endpoint="/collect"}' <<<"$out" ;;
		*)
			out=$(timeout 30 bash -c "$cmd" 2>"$T/example.err" </dev/null)
			check "$1: $label... answers no error" jq -e '.status != "error"' <<<"$out"
			case "$cmd" in */api/ingest*) INGESTED=$(jq -c '[.processed_count, .error_count]' <<<"$out") ;; esac ;;
		esac
	done < <(examples "$T/$1.out")
	is "$1: it printed $2 examples" "$n" "$2"
}

stop_runs() {
	local p
	for p in $RUN_PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $RUN_PIDS; do ended "$p"; done
	for p in $(running); do kill -KILL "$p" 2>/dev/null; done
}
trap 'stop_runs; _cleanup' EXIT

RUN_PORT=$(free_port)
start_run first
check "a first make run serves" serving
first=$RUN_PID first_port=$RUN_PORT
try_examples first 5
is "first: the /api/ingest example reads the sample, every row valid" "$INGESTED" \
	"[$(($(wc -l <"$TOP/tools/sample/events.csv") - 1)),0]"
first_procs=$(running)
nginx_pid=$(cat "$R/var/run/nginx.pid" 2>/dev/null)

RUN_PORT=$(free_port)
start_run second
if ended "$RUN_PID"; then
	is "a second one, on another port, exits with status 1" "$RUN_STATUS" 1
else
	not_ok "a second one, on another port, exits with status 1" "still running after 30 s"
fi
check "and says why" grep -q 'already running' "$T/second.out"
check "it serves nothing" bash -c "! curl -fsS -m 2 -o /dev/null http://127.0.0.1:$RUN_PORT/nginx-health"
check "the first still serves" curl -fsS -m 5 -o /dev/null "http://127.0.0.1:$first_port/health"
is "the first's processes are untouched" "$(running | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$first_procs")"
is "and so is its nginx pid file" "$(cat "$R/var/run/nginx.pid" 2>/dev/null)" "$nginx_pid"

kill -TERM "$first"
check "SIGTERM (as Ctrl-C) stops the first" ended "$first"
is "and nothing it started is left" "$(running)" ""

printf '%s\n' 'DATE,REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE' \
	'2025-10-22,R1,192.0.2.1,ua,fp-1,https://example.com,COOKIE' >"$R/data/events.csv"
RUN_PORT=$(free_port)
FORCE_DEV_MODE=true start_run third
check "then a new one starts" serving
try_examples third 5
is "third: an events.csv already there is kept" "$INGESTED" "[1,0]"
kill -TERM "$RUN_PID"
check "and stops" ended "$RUN_PID"
is "leaving nothing behind" "$(running)" ""
