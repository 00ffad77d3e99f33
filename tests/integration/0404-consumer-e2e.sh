#!/usr/bin/env bash
# End to end: POST /collect through nginx and the FastCGI pool, then the consumer: every
# event of every accepted request is in collect-topic2 with the request's id, client
# address and user agent, and the event ids the responses announced.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"

start_broker -p 2 || exit 1
start_stack || exit 1
RAW=${COLLECT_RAW_TOPIC:-collect-topic1} OUT=${COLLECT_OUT_TOPIC:-collect-topic2}
DLQ=${COLLECT_DLQ_TOPIC:-collect-dlq}
export CONSUMER_GROUP_ID=t0404-$$-$RANDOM CONSUMER_TRANSACTIONAL_ID=t0404-$$-$RANDOM
export CONSUMER_STATS_INTERVAL_MS=300

rids=()
for i in 1 2 3 4 5; do
	http POST /collect -H 'Content-Type: application/json' -A "e2e-agent/$i" --data-binary \
		"{\"events\":[{\"event_type\":\"product_view\",\"event_time\":175086700000$i,\"user_id\":\"e2e-u$i\",\"product_id\":\"p$i\",\"color\":\"red\"},{\"event_type\":\"add_to_cart\",\"event_time\":1750867000999,\"user_id\":\"e2e-v$i\"}],\"ctx\":{\"browser\":\"Firefox\",\"device\":\"Desktop\",\"version\":\"12$i.0\"}}"
	[ "$STATUS" = 200 ] || not_ok "POST /collect $i answers 200" "$STATUS $BODY"
	rids+=("$(jq -r .request_id <<<"$BODY")")
done
is "five requests accepted" "${#rids[@]}" 5

start_consumer e2e
if wait_drained 90; then ok "consumer drained collect-topic1"; else
	not_ok "consumer drained collect-topic1" "$(tail -5 "$CONSUMER_LOG")"; fi
stop_consumer
is "consumer exits 0" "$CONSUMER_RC" 0

out_lines "$OUT" >"$T/out"
for i in 1 2 3 4 5; do
	rid=${rids[$((i - 1))]}
	got=$(grep -F "\"request_id\":\"$rid\"" "$T/out" | cut -f2- | jq -sc 'sort_by(.event_id) | map(
		[.event_id, .user_id, .event_timestamp, .product_id, .properties, .browser_version,
		 .client_ip, .user_agent, (.received_at | type)])')
	want="[[\"$rid-0\",\"e2e-u$i\",\"2025-06-25T15:56:40.00${i}Z\",\"p$i\",{\"color\":\"red\"},\"12$i.0\",\"127.0.0.1\",\"e2e-agent/$i\",\"number\"],[\"$rid-1\",\"e2e-v$i\",\"2025-06-25T15:56:40.999Z\",null,{},\"12$i.0\",\"127.0.0.1\",\"e2e-agent/$i\",\"number\"]]"
	is "request $i: both events, with the request's context" "$got" "$want"
done
is "keys are the user ids" "$(grep -F -f <(printf '"request_id":"%s"\n' "${rids[@]}") "$T/out" | awk -F'\t' '{print $1}' | sort | paste -sd' ')" \
	"e2e-u1 e2e-u2 e2e-u3 e2e-u4 e2e-u5 e2e-v1 e2e-v2 e2e-v3 e2e-v4 e2e-v5"
