#!/usr/bin/env bash
# /api/processed-events per request, in dev mode: events stored by per-request /collect
# and /api/ingest processes are listed by a per-request /api/processed-events, through
# nginx -> fcgiwrap and invoked directly; outside dev mode it is a 404.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
. "$(dirname "$0")/lib-cgi.sh"
export FORCE_DEV_MODE=true
start_stack

http POST /cgi/collect -H "$J" -H 'X-Request-Id: cgi-dev-1' \
	-d '{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"u1"}]}'
is "fcgiwrap: /collect in dev mode -> 200" "$STATUS" 200
csv dev.csv <<EOT
$H
2025-10-22,REF_L,10.1.2.3,curl/8.0,fp-dev-link,https://example.com/,LINK_TRACKING
EOT
INGEST_PATH=/cgi/api/ingest ingest '{"file_path":"dev.csv","reason":"cgi dev"}'
is "fcgiwrap: /api/ingest in dev mode -> 200, 1 processed" "$STATUS $(counts)" "200 success 1 0 0"

http GET /cgi/api/processed-events
is "fcgiwrap: processed-events lists both, oldest first" \
	"$STATUS $(jq -c '[.count, [.events[].topic]]' <<<"$BODY")" \
	"200 [2,[\"collect-topic1\",\"$CLICK\"]]"
is "fcgiwrap: the stored collect record is keyed by its request id" \
	"$(jq -r '.events[0].key' <<<"$BODY")" cgi-dev-1
http GET "/cgi/api/processed-events?topic=$CLICK&limit=5"
is "fcgiwrap: ?topic= keeps one topic" "$STATUS $(jq -c '[.count, [.events[].key]]' <<<"$BODY")" '200 [1,["fp-dev-link"]]'

# Run by hand on this host: the client is loopback, which INGEST_ALLOW lets in without a token.
direct processed_events REMOTE_ADDR=127.0.0.1 REQUEST_METHOD=GET QUERY_STRING='offset=1&limit=1' DOCUMENT_URI=/api/processed-events
is "direct: ?offset=1&limit=1 -> exit 0, the second event" \
	"$RC $STATUS $(jq -c '[.count, [.events[].key]]' <<<"$BODY")" '0 200 [2,["fp-dev-link"]]'
direct processed_events REMOTE_ADDR=127.0.0.1 REQUEST_METHOD=GET QUERY_STRING='limit=abc'
check "direct: a bad limit -> 400 JSON error, exit 0" test "$RC $STATUS" = "0 400"
direct processed_events REMOTE_ADDR=127.0.0.1 REQUEST_METHOD=GET FORCE_DEV_MODE=false KAFKA_URL=127.0.0.1:9
is "direct: outside dev mode -> exit 0, 404" "$RC $STATUS" "0 404"
check "direct: the 404 is a JSON error" json_error
