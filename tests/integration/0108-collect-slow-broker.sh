#!/usr/bin/env bash
# A slow broker does not cap /collect at threads / round trip: with one process of one
# thread and a broker that answers after 1 s, twelve concurrent requests are all handed
# to the producer before the first acknowledgement comes back (their messages' create
# times lie within one round trip), and each is answered 200 once acknowledged. A thread
# that waited for its acknowledgement would space them a round trip apart.
# alone: it measures time (twelve requests within one round trip of 1 s), which scripts
# loading the machine beside it would stretch.
. "$(dirname "$0")/lib.sh"

RTT=1000 N=12
export POOL_PROCS=1 HANDLER_THREADS=1 KAFKA_TIMEOUT_MS=30000
start_broker -p 1 -r $RTT || exit 1
start_stack || exit 1
J='Content-Type: application/json'

pids=()
for i in $(seq $N); do
	curl -sS -m 60 -o "$T/body-$i" -w '%{http_code}' -H "$J" -H "X-Request-Id: slow-$i" \
		-d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}' \
		"$BASE_URL/collect" >"$T/code-$i" 2>/dev/null &
	pids+=($!)
done
wait "${pids[@]}"
is "all $N answered 200" "$(for f in "$T"/code-*; do cat "$f"; echo; done | sort | uniq -c | awk '{print $1 " " $2}')" "$N 200"
kcat -b "$KAFKA_URL" -C -t collect-topic1 -o beginning -e -q -f '%k %T\n' 2>/dev/null |
	grep '^slow-' >"$T/times"
is "all $N in collect-topic1" "$(wc -l <"$T/times")" "$N"
spread=$(awk '{print $2}' "$T/times" | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {print hi - lo}')
echo "# create times of the $N messages span $spread ms (one broker round trip: $RTT ms)"
check "all handed to the producer within one round trip" test "$spread" -lt $RTT
