#!/usr/bin/env bash
# The counters survive their processes: a pooled /collect process killed with kill -9
# keeps its counts, so does the whole pool killed and started again by the test, and under
# load, with a process killed in the middle, no scrape ever shows less than the one before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-metrics.sh"

start_broker -p 2 || exit 1
export POOL_PROCS=2 # two: one is killed, the other goes on
start_stack || exit 1
ev='{"events":[{"event_type":"a","event_time":1750867000000,"user_id":"u1"}]}'
J='Content-Type: application/json'
ok200=0
post() { # post N: N /collect requests; ok200 counts their 200s
	for _ in $(seq "$1"); do
		http POST /collect -H "$J" -d "$ev"
		[ "$STATUS" = 200 ] && ok200=$((ok200 + 1))
	done
}
REQS='events_http_requests_total{endpoint="/collect",code="200"}'
counts() { scrape && echo "$(metric "$REQS") $(metric 'events_received_total{endpoint="/collect"}')"; }
pids() { cat "$T/run/collect.pid"; }
wait_dead() { for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done; return 1; }

post 20
is "20 requests counted" "$(counts)" "20 20"
victim=$(pids | head -1)
kill -9 "$victim"
check "one pooled process killed with kill -9" wait_dead "$victim"
ended=$(scrape && metric events_processes_ended_total)
is "its counts stay: still 20" "$(counts)" "20 20"
is "its file was folded (one process ended)" "$ended" 1
check "and removed" bash -c "! ls '$METRICS_DIR' | grep -q -- '-$victim-'"
post 10
is "the other process goes on: 30" "$(counts)" "30 30"

for p in $(pids); do kill -9 "$p" 2>/dev/null; done
for p in $(pids); do wait_dead "$p"; done
http POST /collect -H "$J" -d "$ev"
is "the whole pool killed: nginx answers 503 itself" "$STATUS" 503
is "nothing lost: 30" "$(counts)" "30 30"
"$TOP/tools/stack" pool "$T/run" collect
for _ in $(seq 100); do
	http POST /collect -H "$J" -d "$ev"
	[ "$STATUS" = 200 ] && { ok200=$((ok200 + 1)); break; }
	sleep 0.1
done
is "the pool started again answers" "$STATUS" 200
post 9
is "the totals go on from there: 40" "$(counts)" "40 40"
is "the client's count of 200s" "$ok200" 40
scrape
check "the new processes are in events_process_start_time_seconds" \
	bash -c "for p in $(pids | tr '\n' ' '); do grep -q \"process=\\\"/collect\\\",pid=\\\"\$p\\\"\" <<<\"\$1\" || exit 1; done" _ "$M"

# Under load: 300 requests on 8 connections, a process killed in the middle, scrapes all
# along; no scrape may show less than the one before.
mkdir -p "$T/load"
load() {
	seq 300 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H "$J" -d "$ev" "$BASE_URL/collect" >"$T/load/codes"
}
load &
loader=$!
prev=0 backwards="" scrapes=0 killed=""
while kill -0 "$loader" 2>/dev/null || [ $scrapes -lt 3 ]; do
	v=$(scrape && metric "$REQS")
	scrapes=$((scrapes + 1))
	[ -n "$v" ] && [ "$v" -lt "$prev" ] && backwards+="$prev -> $v; "
	[ -n "$v" ] && prev=$v
	if [ -z "$killed" ] && [ "${v:-0}" -ge 100 ]; then
		killed=$(pids | head -1)
		kill -9 "$killed"
	fi
done
wait "$loader"
v=$(scrape && metric "$REQS")
[ "$v" -lt "$prev" ] && backwards+="$prev -> $v; "
is "$scrapes scrapes under load, one process killed: none went backwards" "$backwards" ""
check "a process was killed during the load" test -n "$killed"
got200=$(grep -c '^200$' "$T/load/codes")
others=$(grep -vc '^200$' "$T/load/codes")
echo "# under load: $got200 answered 200, $others not (the killed process's requests), counted $((v - 40))"
# A request the killed process counted but could not answer is a 502/503 to the client.
check "the 200s the client got are all counted ($got200 <= $((v - 40)) <= $got200 + $others)" \
	test "$((v - 40))" -ge "$got200" -a "$((v - 40))" -le "$((got200 + others))"
