#!/usr/bin/env bash
# `make run` stops everything it started, every time. Under load (/collect from several
# clients at once, an ingest of the sample, the consumer busy), SIGTERM to its process
# group, as a terminal's Ctrl-C or a supervisor sends it (then once more to the script, as
# make passes it on): within 10 s nothing of it is left. SIGKILL of a make run leaves its
# processes running: the next make run, on the same port, stops them first and serves.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
RUN_PORT=$(free_port) LOAD_PIDS=""

# alive PID...: those that still run (not gone, not a zombie).
alive() {
	local p st
	for p in "$@"; do
		st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && echo "$p"
	done
}

# gone_within S T0 PID...: the run's script and those processes are gone within S seconds
# of T0 (date +%s%N), and no other process works in the checkout; GONE_AFTER: "1.2".
gone_within() {
	local s=$1 t0=$2 now
	shift 2
	while :; do
		now=$(date +%s%N)
		GONE_AFTER=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
		[ -z "$(alive "$RUN_PID" "$@")" ] && break
		[ $(((now - t0) / 1000000000)) -ge "$s" ] && return 1
		sleep 0.1
	done
	[ -z "$(running)" ]
}

# announced NAME: tools/run printed its banner (its stack is up), within 60 s.
announced() {
	for _ in $(seq 600); do
		grep -q '^Event ingestion service on' "$T/$1.out" && return 0
		kill -0 "$RUN_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# load N: N clients sending /collect (bounded: 3000 requests each, 60 s at most).
load() {
	local body='{"events":[{"event_type":"a","event_time":1750867000000,"user_id":"u1"}]}'
	for _ in $(seq "$1"); do
		(for _ in $(seq 3000); do
			curl -s -m 2 -o /dev/null -X POST "http://127.0.0.1:$RUN_PORT/collect" \
				-H 'Content-Type: application/json' -d "$body" || true
		done) &
		LOAD_PIDS="$LOAD_PIDS $!"
	done
}
stop_load() {
	for p in $LOAD_PIDS; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	wait $LOAD_PIDS 2>/dev/null
	LOAD_PIDS=""
}

cleanup_runs() {
	stop_load
	for p in $RUN_PIDS; do kill -KILL -- "-$p" 2>/dev/null; done
	for p in $(running); do kill -KILL "$p" 2>/dev/null; done
}
trap 'cleanup_runs; _cleanup' EXIT

# 1. SIGTERM to the process group under load. Another program may take the port before
# nginx binds it: then make run exits, and another port is tried.
for _ in 1 2 3; do
	start_run loaded
	serving && break
	kill -0 "$RUN_PID" 2>/dev/null && break
	echo "# make run on port $RUN_PORT exited: $(tail -3 "$T/loaded.out")"
	RUN_PORT=$(free_port)
done
if kill -0 "$RUN_PID" 2>/dev/null && serving; then ok "make run serves"; else
	not_ok "make run serves" "$(tail -20 "$T/loaded.out")"; fi
load 6
curl -s -m 60 -o /dev/null -X POST "http://127.0.0.1:$RUN_PORT/api/ingest" \
	-H 'Content-Type: application/json' -d '{"file_path":"events.csv"}' &
LOAD_PIDS="$LOAD_PIDS $!"
for _ in $(seq 100); do [ -s "$R/var/run/consumer.log" ] && break; sleep 0.1; done
sleep 3 # load for a while: the thing under test is a stop while busy
procs=$(running)
check "the stack runs ($(grep -c . <<<"$procs") processes)" test "$(grep -c . <<<"$procs")" -ge 6
stop_load # right after the load: the backlog is the consumer's and forwarder's
t0=$(date +%s%N)
kill -TERM -- "-$RUN_PID"
kill -TERM "$RUN_PID" 2>/dev/null # as make passes the signal on
if gone_within 10 "$t0" $procs; then ok "SIGTERM after load: nothing left after $GONE_AFTER s"; else
	not_ok "SIGTERM after load: nothing left within 10 s" "$(running | xargs -r ps -o pid,comm,args -p)"; fi
check "it said it stopped" grep -q '^stopped\.' "$T/loaded.out"

# 2. SIGKILL: its processes stay; the next make run on the same port stops them first.
start_run killed
if serving; then ok "a new make run serves"; else
	not_ok "a new make run serves" "$(tail -20 "$T/killed.out")"; fi
before=$(running)
kill -KILL -- "-$RUN_PID"
wait "$RUN_PID" 2>/dev/null
sleep 0.5
check "SIGKILL leaves the stack running (nginx, pools, forwarder, consumer, broker)" \
	test "$(grep -c . <<<"$before")" -ge 6 -a "$(running | grep -c .)" -ge 6
start_run next
# The old nginx still answers on that port: wait for the new run's banner first.
if announced next && serving; then ok "the next make run, on the same port, serves"; else
	not_ok "the next make run, on the same port, serves" "$(tail -5 "$T/next.out")"; fi
check "it stopped the leftovers first" grep -q "stopping what a previous make run left running" "$T/next.out"
left=""
for p in $before; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
is "none of the killed run's processes is left" "$left" ""
procs=$(running)
t0=$(date +%s%N)
kill -TERM -- "-$RUN_PID"
if gone_within 10 "$t0" $procs; then ok "SIGTERM idle: nothing left after $GONE_AFTER s"; else
	not_ok "SIGTERM idle: nothing left within 10 s" "$(running | xargs -r ps -o pid,comm,args -p)"; fi
