#!/usr/bin/env bash
# SIGTERM to a pooled handler drains it: it takes no new request, answers the ones in
# progress after their delivery reports, and exits 0. Every 200 it gave is in Kafka.
. "$(dirname "$0")/lib.sh"
# Every broker answer is delayed, so requests are still waiting for Kafka at SIGTERM.
start_broker -p 1 -r 1000
export KAFKA_TIMEOUT_MS=20000 # the first request pays for several delayed round trips
start_stack

# Put our own collect process behind nginx's socket, so this script can see its exit code.
kill $(cat "$T/run/collect.pid")
for _ in $(seq 50); do kill -0 $(cat "$T/run/collect.pid") 2>/dev/null || break; sleep 0.1; done
rm -f "$T/run/collect.sock"
HANDLER_THREADS=8 spawn-fcgi -n -s "$T/run/collect.sock" -M 0600 -- "$BUILD/bin/collect" 2>>"$T/run/collect-drain.log" &
pid=$!
for _ in $(seq 50); do [ -S "$T/run/collect.sock" ] && break; sleep 0.1; done
http POST /collect -H 'Content-Type: application/json' -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}'
is "the handler serves before SIGTERM" "$STATUS" 200

curl_pids=""
for i in $(seq 6); do
	curl -s -o /dev/null -w '%{http_code}\n' -m 20 -X POST "$BASE_URL/collect" \
		-H 'Content-Type: application/json' -H "X-Request-Id: inflight-$i" \
		-d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}' >"$T/code-$i" &
	curl_pids="$curl_pids $!"
done
# The requests reach the handler and wait (1 s) for their delivery reports: give them
# half a second, then wait until none is left in the socket's backlog (ss: Recv-Q).
# On a loaded machine the curl processes themselves may start late: first wait until
# all six are connected to nginx.
sleep 0.5
for _ in $(seq 50); do
	[ "$(ss -tnH state established "( dport = :$PORT )" | wc -l)" -ge 6 ] && break
	sleep 0.1
done
for _ in $(seq 50); do
	[ "$(ss -xlH src "$T/run/collect.sock" | awk '{print $3}')" = 0 ] && break
	sleep 0.1
done
sleep 0.2
kill -TERM "$pid"
sleep 0.1
http POST /collect -m 10 -H 'Content-Type: application/json' -H 'X-Request-Id: after-term' -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}'
check "a request after SIGTERM is not accepted" test "$STATUS" != 200
wait $curl_pids
wait "$pid"
is "the drained handler exits 0" "$?" 0
codes=$(cat "$T"/code-* | sort | uniq -c | awk '{print $2"x"$1}' | xargs)
is "the requests in progress were answered 200" "$codes" "200x6"
landed=$(topic_dump collect-topic1 | jq -r '.key' | grep -c '^inflight-')
is "each of them is in the topic" "$landed" 6
check "the drain is in the log" grep -q 'draining' "$T/run/collect-drain.log"
is "nothing of the refused request landed" "$(topic_dump collect-topic1 | jq -r .key | grep -c after-term)" 0
