#!/usr/bin/env bash
# Kafka down while KAFKA_URL is set: /collect answers 503 within KAFKA_TIMEOUT_MS (plus a
# margin), /health answers 503 "disconnected", every 503 says Retry-After, and no 200 is
# given for an unacknowledged event. Both "nothing listening" and "broker died under a
# running pool" are covered.
. "$(dirname "$0")/lib.sh"
J='Content-Type: application/json'
ev='{"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}'
export KAFKA_TIMEOUT_MS=1500
# Without a spool: what a node with the spool answers is tested in 0804.
export SPOOL_DIR=off

# 1. Nothing listens at KAFKA_URL.
export KAFKA_URL="127.0.0.1:$(free_port)"
start_stack
for path in /collect /cgi/collect; do
	# curl's -m is the bound: the answer must come within the Kafka deadline + margin.
	http POST "$path" -m 6 -H "$J" -d "$ev"
	is "$path with no broker -> 503" "$STATUS" 503
	check "$path 503 says nothing was accepted" jq -e '.status=="error" and (.message|test("Kafka"))' <<<"$BODY"
	is "$path 503 says when to retry" "$(header Retry-After)" 5
done
http GET /health -m 6
is "/health with no broker -> 503 disconnected" "$STATUS $(jq -c '[.status,.kafka_status]' <<<"$BODY")" '503 ["unhealthy","disconnected"]'
is "/health 503 says when to retry" "$(header Retry-After)" 5
stop_stack

# 2. The broker dies while the pool is serving.
unset KAFKA_URL
start_broker -p 1
start_stack
http POST /collect -H "$J" -H 'X-Request-Id: before-crash' -d "$ev"
is "with the broker up -> 200" "$STATUS" 200
is "and it is in the topic" "$(topic_dump collect-topic1 | jq -r .key)" "before-crash"
stop_broker
codes=""
for i in 1 2 3; do
	http POST /collect -m 6 -H "$J" -H "X-Request-Id: after-crash-$i" -d "$ev"
	codes="$codes$STATUS/$(header Retry-After) "
done
is "after the broker died every /collect -> 503, Retry-After 5" "$codes" "503/5 503/5 503/5 "
http GET /health -m 6
is "/health after the broker died -> 503 disconnected" "$STATUS $(jq -r .kafka_status <<<"$BODY")" "503 disconnected"
check "the 503s are in ERROR_LOG" test "$(jq -s '[.[] | select(.status==503)] | length' "$ERROR_LOG")" -ge 4
