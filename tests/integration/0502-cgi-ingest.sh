#!/usr/bin/env bash
# /api/ingest per request: through nginx -> fcgiwrap and invoked directly. Rows land in
# their topics as on the pooled path (key user_fp, mapping by SOURCE and a), the bearer
# token is enforced, refusals produce nothing; exit 0 whenever the process answered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
. "$(dirname "$0")/lib-cgi.sh"
start_broker -p 2
export INGEST_API_TOKEN=cgi-secret-token
start_stack
AUTH='Authorization: Bearer cgi-secret-token'

csv cgi.csv <<EOT
$H
2025-10-22,REF_C,172.56.209.0,Mozilla/5.0 (X11; Linux),fp-cgi-cookie,https://example.com/job/1,COOKIE
2025-10-22,REF_L,2001:db8::7,curl/8.0,fp-cgi-link,http://example.com/?a=1&b=2,LINK_TRACKING
2025-10-21,REF_OLD,10.0.0.1,curl/8.0,fp-cgi-old,https://example.com/,COOKIE
2025-10-22,REF_BAD,not-an-ip,curl/8.0,fp-cgi-bad,https://example.com/,COOKIE
EOT

INGEST_PATH=/cgi/api/ingest ingest '{"file_path":"cgi.csv","query_param_a":"3","date":"2025-10-22","reason":"cgi fcgiwrap"}' -H "$AUTH"
is "fcgiwrap: partial ingest -> 200 partial, 2 processed, 1 error, 1 skipped" "$STATUS $(counts)" "200 partial 2 1 1"
is "fcgiwrap: the bad row is described (row 4, IP)" "$(jq -c '[.errors[] | [.row, .field]]' <<<"$BODY")" '[[4,"IP"]]'
is "fcgiwrap: the COOKIE row is a CONVERSION APPLY keyed by user_fp" \
	"$(by_reason "$CONV" 'cgi fcgiwrap' | jq -r '[.key, .value.event_type, .value.conversion_type] | join(" ")')" \
	"fp-cgi-cookie CONVERSION APPLY"
is "fcgiwrap: the LINK_TRACKING row is a CLICK" \
	"$(by_reason "$CLICK" 'cgi fcgiwrap' | jq -r '[.key, .value.event_type] | join(" ")')" "fp-cgi-link CLICK"
before=$(( $(topic_count "$CONV") + $(topic_count "$CLICK") ))
INGEST_PATH=/cgi/api/ingest ingest '{"file_path":"cgi.csv","query_param_a":"3"}'
is "fcgiwrap: no token -> 401" "$STATUS" 401
INGEST_PATH=/cgi/api/ingest ingest '{"file_path":"cgi.csv","query_param_a":"3"}' -H 'Authorization: Bearer wrong'
is "fcgiwrap: wrong token -> 401" "$STATUS" 401
INGEST_PATH=/cgi/api/ingest ingest '{"file_path":"../etc/passwd","query_param_a":"3"}' -H "$AUTH"
is "fcgiwrap: path outside the data directory -> 400" "$STATUS" 400
INGEST_PATH=/cgi/api/ingest ingest '{"file_path":"cgi.csv","query_param_a":"7"}' -H "$AUTH"
is "fcgiwrap: query_param_a 7 -> 400" "$STATUS" 400
is "fcgiwrap: refusals produced nothing" "$(( $(topic_count "$CONV") + $(topic_count "$CLICK") ))" "$before"

# Direct invocation, the serverless way.
body_file '{"file_path":"cgi.csv","query_param_a":2,"date":"2025-10-22","reason":"cgi direct"}'
direct ingest REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
	HTTP_AUTHORIZATION="Bearer cgi-secret-token" HTTP_X_REQUEST_ID=direct-ingest-1 DOCUMENT_URI=/api/ingest
is "direct: ingest -> exit 0, 200 partial 2 1 1" "$RC $STATUS $(counts)" "0 200 partial 2 1 1"
conv=$(by_reason "$CONV" 'cgi direct')
is "direct: COOKIE with a=2 -> APPLY_START, request_id of the invocation" \
	"$(jq -r '[.key, .value.conversion_type, .value.request_id] | join(" ")' <<<"$conv")" \
	"fp-cgi-cookie APPLY_START direct-ingest-1"
is "direct: the click landed too" "$(by_reason "$CLICK" 'cgi direct' | jq -r .key)" fp-cgi-link
is "direct: same row and a on both paths -> same event_id only when a matches" \
	"$(jq -r .value.event_id <<<"$conv" | wc -l) $([ "$(jq -r .value.event_id <<<"$conv")" != "$(by_reason "$CONV" 'cgi fcgiwrap' | jq -r .value.event_id)" ] && echo differ)" "1 differ"
direct ingest REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN"
is "direct: no token -> exit 0, 401" "$RC $STATUS" "0 401"
check "direct: the 401 is a JSON error" json_error
body_file '{"file_path":"missing.csv","query_param_a":"3"}'
direct ingest REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
	HTTP_AUTHORIZATION="Bearer cgi-secret-token"
check "direct: a missing file is a 4xx JSON error, exit 0" test "$RC" = 0 -a "${STATUS:-0}" -ge 400 -a "${STATUS:-0}" -lt 500
body_file '{"file_path":"cgi.csv","query_param_a":"3","date":"2025-10-22"}'
direct ingest REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
	HTTP_AUTHORIZATION="Bearer cgi-secret-token" KAFKA_URL="127.0.0.1:$(closed_port)" KAFKA_TIMEOUT_MS=1500
is "direct: Kafka down -> exit 0, 503" "$RC $STATUS" "0 503"
