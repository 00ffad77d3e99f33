#!/usr/bin/env bash
# No leak in a pooled handler: the resident memory of a /collect process stays flat over
# tens of thousands of requests once warmed up (optimized build; ASan's allocator would
# hide a slow leak behind its quarantine, and LeakSanitizer covers the other tests).
. "$(dirname "$0")/lib.sh"
export SVC_BUILD=build
start_broker -p 4
POOL_PROCS=1 HANDLER_THREADS=8 start_stack
pid=$(head -1 "$T/run/collect.pid")
cat >"$T/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"user_test","product_id":"prod_demo"}],"ctx":{"browser":"Firefox"}}'
local ok2xx = 0
response = function(status) if status == 200 then ok2xx = ok2xx + 1 end end
LUA
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# run_requests N: wrk in bursts until at least N requests were answered (at most 5
# minutes: a machine busy with other tests may serve a few hundred a second)
run_requests() {
	local want=$1 done_n=0 n
	for _ in $(seq 150); do
		n=$(wrk -t1 -c8 -d2s -s "$T/post.lua" "$BASE_URL/collect" | awk '/requests in/ {print $1}')
		done_n=$((done_n + ${n:-0}))
		[ $done_n -ge "$want" ] && break
	done
	echo $done_n
}
n0=$(run_requests 5000)
before=$(rss "$pid")
n1=$(run_requests 20000)
after=$(rss "$pid")
echo "# warm-up $n0 requests, then $n1 more: VmRSS $before kB -> $after kB"
check "served at least 20,000 requests after the warm-up" test "$n1" -ge 20000
check "RSS grew by less than 2 MiB over them (from $before to $after kB)" test $((after - before)) -lt 2048
http GET /health
is "the process still serves" "$STATUS" 200
is "the topic holds every acknowledged request" "$(( $(topic_count collect-topic1) >= n0 + n1 ))" 1
