#!/usr/bin/env bash
# kill -9 of the whole node (nginx, the pools, fcgiwrap, the forwarder and the consumer)
# after a request landed and was transformed; the node started again; the same request
# sent again (a fetch and a beacon): its events are still in collect-topic2 once
# (read_committed): the new consumer restored the window from the changelog topic.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"
. "$(dirname "$0")/lib-metrics.sh"

start_broker -p 2 || exit 1
start_stack || exit 1
stack_topics t0407
export CONSUMER_STATS_INTERVAL_MS=300 CONSUMER_TXN_MAX_MS=100
export RDKAFKA_SESSION_TIMEOUT_MS=6000 RDKAFKA_HEARTBEAT_INTERVAL_MS=1000
DUP='events_consumer_records_total{outcome="duplicate"}'
rid=t0407-$$
B=$(jq -cn '{events: [range(4) as $i | {event_type: "purchase", event_time: (1750867000000 + $i),
	user_id: "u\($i)"}]}')

wait_dead() { for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done; return 1; }
count_ids() {
	out_lines "$OUT" | grep -F "\"request_id\":\"$rid\"" | cut -f2- | jq -r .event_id | sort |
		uniq -c | awk '{print $2, $1}' | paste -sd' '
}
ONCE="$rid-0 1 $rid-1 1 $rid-2 1 $rid-3 1"

start_consumer before
http POST /collect -H 'Content-Type: application/json' -H "X-Request-Id: $rid" --data-binary "$B"
is "the request is accepted" "$STATUS" 200
if wait_drained 90; then ok "it was transformed and its offset committed"; else
	not_ok "it was transformed and its offset committed" "$(tail -5 "$CONSUMER_LOG")"; fi
is "its events are there once" "$(count_ids)" "$ONCE"

# The whole node, with kill -9: every process of the stack (nginx's workers too) and the
# consumer. The dev broker is the Kafka cluster: it stays.
node=$(for f in "$T"/run/*.pid; do echo "$(cat "$f")"; done)
node=$(echo $node $(for p in $node; do pgrep -P "$p"; done) "$CONSUMER_PID")
check "the node has its processes (nginx, pools, workers, consumer): $node" \
	test "$(wc -w <<<"$node")" -ge 5
for p in $node; do kill -9 "$p" 2>/dev/null; done
dead=0
for p in $node; do wait_dead "$p" && dead=$((dead + 1)); done
wait "$CONSUMER_PID" 2>/dev/null
CONSUMER_PID=""
is "every process of the node is gone" "$dead" "$(wc -w <<<"$node")"
"$TOP/tools/stack" stop "$T/run" >/dev/null 2>&1 # the files the killed processes left
start_stack || exit 1

start_consumer after
http POST /collect -H 'Content-Type: application/json' -H "X-Request-Id: $rid" --data-binary "$B"
is "the same request again after the restart: 200" "$STATUS" 200
http POST "/collect?request_id=$rid" -H 'Content-Type: text/plain' --data-binary "$B"
is "and as a beacon: 200" "$STATUS" 200
if wait_drained 120; then ok "the restarted consumer drained"; else
	not_ok "the restarted consumer drained" "$(tail -5 "$CONSUMER_LOG")"; fi
is "its events are still there once" "$(count_ids)" "$ONCE"
if wait_metric "$DUP" 8; then ok "both copies counted as duplicates: 2 x 4 events"; else
	not_ok "both copies counted as duplicates: 2 x 4 events"; fi
stop_consumer
is "consumer exits 0" "$CONSUMER_RC" 0
