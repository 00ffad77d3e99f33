#!/usr/bin/env bash
# /health and / per request: through nginx -> fcgiwrap and invoked directly. /health
# reports the broker's state honestly in each mode (connected, disconnected, dev_mode), and
# with Kafka down whether the spool still takes /collect (degraded) or not (unhealthy).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cgi.sh"
start_broker
start_stack

http GET /cgi/health
is "fcgiwrap: /health -> 200 healthy, connected" \
	"$STATUS $(jq -r '[.status, .kafka_status] | join(" ")' <<<"$BODY")" "200 healthy connected"
check "fcgiwrap: /health has a timestamp" jq -e '.timestamp | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")' <<<"$BODY"
check "fcgiwrap: /health answers with an X-Request-Id" test -n "$(header X-Request-Id)"
http POST /cgi/health -d x
is "fcgiwrap: POST /health -> 405" "$STATUS" 405
http GET /cgi/ -H 'Accept: text/html'
is "fcgiwrap: / for a browser is HTML" "$STATUS $(header Content-Type)" "200 text/html; charset=utf-8"
check "fcgiwrap: the page names /collect" grep -q 'POST /collect' <<<"$BODY"
http GET /cgi/ -H 'Accept: application/json'
is "fcgiwrap: / as JSON lists the five endpoints" \
	"$STATUS $(jq -r '[.endpoints[].path] | sort | join(" ")' <<<"$BODY")" \
	"200 / /api/ingest /api/processed-events /collect /health"

direct health REQUEST_METHOD=GET DOCUMENT_URI=/health
is "direct: /health -> exit 0, 200 connected" "$RC $STATUS $(jq -r .kafka_status <<<"$BODY")" "0 200 connected"
direct health REQUEST_METHOD=GET KAFKA_URL="127.0.0.1:$(closed_port)" SPOOL_DIR=off
is "direct: /health with Kafka down, no spool -> exit 0, 503 unhealthy disconnected" \
	"$RC $STATUS $(jq -r '[.status, .kafka_status] | join(" ")' <<<"$BODY")" "0 503 unhealthy disconnected"
check "direct: the unreachable broker is logged" grep -qi 'kafka' <<<"$LOG"
direct health REQUEST_METHOD=GET KAFKA_URL="127.0.0.1:$(closed_port)" SPOOL_DIR="$T/cgi-spool"
is "direct: /health with Kafka down, a spool -> exit 0, 200 degraded disconnected, spool numbers" \
	"$RC $STATUS $(jq -r '[.status, .kafka_status, .spool.records, .spool.bytes] | join(" ")' <<<"$BODY")" \
	"0 200 degraded disconnected 0 0"
direct health REQUEST_METHOD=GET FORCE_DEV_MODE=true
is "direct: /health in dev mode -> 200 dev_mode" "$RC $STATUS $(jq -r .kafka_status <<<"$BODY")" "0 200 dev_mode"
direct health REQUEST_METHOD=DELETE
is "direct: DELETE /health -> exit 0, 405" "$RC $STATUS" "0 405"
direct home REQUEST_METHOD=GET DOCUMENT_URI=/ HTTP_ACCEPT=application/json
is "direct: / as JSON -> exit 0, 200" "$RC $STATUS $(jq -r .service <<<"$BODY")" "0 200 event-ingestion"
direct home REQUEST_METHOD=GET DOCUMENT_URI=/
is "direct: / as HTML" "$RC $STATUS $(header Content-Type)" "0 200 text/html; charset=utf-8"
direct home REQUEST_METHOD=GET DOCUMENT_URI=/nope
is "direct: unknown path -> 404 JSON" "$RC $STATUS" "0 404"
check "direct: the 404 is a JSON error" json_error
direct home REQUEST_METHOD=GET KAFKA_TIMEOUT_MS=-5
is "direct: / with an unusable setting -> exit 1, no answer" "$RC $STATUS" "1 "
