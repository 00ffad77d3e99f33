#!/usr/bin/env bash
# Kafka down while KAFKA_URL is set: /api/ingest answers 503 (with Retry-After) saying
# nothing was reliably processed, never 200 and never a processed_count; a header error
# is still a 422.
# Covered: nothing listening, and the broker dying under a running pool.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
export KAFKA_TIMEOUT_MS=1500
{
	echo "$H"
	for i in $(seq 1 50); do echo "2025-10-22,K$i,10.0.0.$i,ua,fp-$i,https://e.com,COOKIE"; done
} >"$INGEST_DATA_DIR/k.csv"
printf 'DATE,IP\n2025-10-22,1.2.3.4\n' >"$INGEST_DATA_DIR/nohdr.csv"

down() { # down LABEL PATH
	INGEST_PATH=$2 ingest '{"file_path":"k.csv","query_param_a":3}' -m 20
	is "$1: 503" "$STATUS $(jq -r .status <<<"$BODY")" "503 error"
	is "$1: Retry-After" "$(header Retry-After)" 5
	check "$1: says nothing was reliably processed" jq -e '(.message | test("Kafka")) and (.message | test("nothing was processed|not reliably processed")) and (has("processed_count") | not)' <<<"$BODY"
}

# 1. Nothing listens at KAFKA_URL.
export KAFKA_URL="127.0.0.1:$(free_port)"
start_stack
down "no broker, pooled" /api/ingest
down "no broker, per request" /cgi/api/ingest
ingest '{"file_path":"nohdr.csv","query_param_a":3}'
is "no broker: a missing column is still a 422" "$STATUS" 422
http GET /api/processed-events
is "KAFKA_URL set: processed-events 404" "$STATUS" 404
stop_stack

# 2. The broker dies under a running pool.
unset KAFKA_URL
start_broker -p 2
start_stack
ingest '{"file_path":"k.csv","query_param_a":3}'
is "broker up: 200, 50 processed" "$STATUS $(counts)" "200 success 50 0 0"
stop_broker
down "broker gone, pooled" /api/ingest
down "broker gone, per request" /cgi/api/ingest
