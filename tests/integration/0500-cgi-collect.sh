#!/usr/bin/env bash
# /collect per request: the same executable as CGI through nginx -> fcgiwrap, and invoked
# directly with a CGI environment (the serverless way). Accepted batches land in
# collect-topic1 exactly like the pooled path's; refusals produce nothing; the exit code
# says whether the process answered (0, whatever the HTTP status) or could not start (1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cgi.sh"
start_broker -p 2
start_stack

good='{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"user_test","product_id":"prod_demo"}],"ctx":{"browser":"Firefox","device":"Desktop","version":"126.0"}}'

# --- through nginx and fcgiwrap --------------------------------------------------------
http POST /cgi/collect -H "$J" -H 'X-Request-Id: cgi-collect-1' -H 'User-Agent: cgi-probe/1.0' -d "$good"
is "fcgiwrap: valid batch answers 200" "$STATUS" 200
is "fcgiwrap: body says success, 1 event, the request id" \
	"$(jq -c '[.status,.received,.request_id]' <<<"$BODY")" '["success",1,"cgi-collect-1"]'
is "fcgiwrap: X-Request-Id echoed" "$(header X-Request-Id)" cgi-collect-1
is "fcgiwrap: CORS header on the POST answer" "$(header Access-Control-Allow-Origin)" '*'
rec=$(topic_dump collect-topic1 | jq -c 'select(.key=="cgi-collect-1")')
is "fcgiwrap: one raw message keyed by request_id" "$(jq -s length <<<"$rec")" 1
is "fcgiwrap: raw record has request_id, client_ip, user_agent" \
	"$(jq -c '.value | [.request_id, .client_ip, .user_agent]' <<<"$rec")" '["cgi-collect-1","127.0.0.1","cgi-probe/1.0"]'
is "fcgiwrap: raw record payload is the request's JSON" "$(jq -c .value.payload <<<"$rec")" "$(jq -c . <<<"$good")"
check "fcgiwrap: received_at is epoch ms" jq -e '.value.received_at | type == "number" and . > 1700000000000' <<<"$rec"
http POST '/cgi/collect?request_id=cgi-beacon-1' -H 'Content-Type: text/plain;charset=UTF-8' -d "$good"
is "fcgiwrap: a sendBeacon batch named by ?request_id= keys its raw message" \
	"$STATUS $(topic_dump collect-topic1 | jq -r 'select(.key=="cgi-beacon-1") | .value.request_id')" "200 cgi-beacon-1"

before=$(topic_count collect-topic1)
http POST /cgi/collect -H "$J" -d '{"events":[{"event_type":"a","event_time":1}]}'
is "fcgiwrap: event without user_id -> 422" "$STATUS" 422
check "fcgiwrap: 422 is a JSON error" json_error
http POST /cgi/collect -H "$J" -d '{"events": [}'
is "fcgiwrap: malformed JSON -> 400" "$STATUS" 400
http GET /cgi/collect
is "fcgiwrap: GET -> 405 with Allow" "$STATUS $(header Allow)" "405 POST, OPTIONS"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/big.json"
http POST /cgi/collect -H "$J" --data-binary @"$T/big.json"
is "fcgiwrap: body over 1 MiB -> 413" "$STATUS" 413
http OPTIONS /cgi/collect -H 'Origin: https://shop.example' -H 'Access-Control-Request-Method: POST'
is "fcgiwrap: CORS preflight -> 204 allowing POST" "$STATUS $(header Access-Control-Allow-Methods)" "204 POST, OPTIONS"
is "fcgiwrap: refusals produced nothing" "$(topic_count collect-topic1)" "$before"

# sendBeacon style, gzip: the CGI path reads the same bodies as the pooled one.
printf '%s' "$good" | gzip -c >"$T/good.gz"
http POST /cgi/collect -H 'Content-Type: text/plain;charset=UTF-8' -H 'Content-Encoding: gzip' \
	-H 'X-Request-Id: cgi-collect-gz' --data-binary @"$T/good.gz"
is "fcgiwrap: gzip text/plain batch -> 200" "$STATUS" 200
is "fcgiwrap: gzip batch landed decompressed" \
	"$(topic_dump collect-topic1 | jq -c 'select(.key=="cgi-collect-gz") | .value.payload')" "$(jq -c . <<<"$good")"

# Several at once: fcgiwrap runs one process per request, each its own producer.
pids=""
for i in 1 2 3 4 5 6; do
	curl -sS -m 30 -o "$T/par.$i" -w '%{http_code}\n' -X POST "$BASE_URL/cgi/collect" \
		-H "$J" -H "X-Request-Id: cgi-par-$i" -d "$good" >"$T/par.$i.code" &
	pids="$pids $!"
done
wait $pids
is "fcgiwrap: 6 concurrent requests all answered 200" "$(cat "$T"/par.*.code | sort -u)" 200
is "fcgiwrap: 6 concurrent requests, 6 records" \
	"$(topic_dump collect-topic1 | jq -r 'select(.key|startswith("cgi-par-")) | .key' | sort -u | wc -l)" 6

# --- direct invocation -----------------------------------------------------------------
body_file "$good"
direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
	HTTP_X_REQUEST_ID=direct-collect-1 HTTP_USER_AGENT=direct/1 DOCUMENT_URI=/collect
is "direct: exit 0 after a 200" "$RC $STATUS" "0 200"
is "direct: answer names the request id" "$(jq -r .request_id <<<"$BODY")" direct-collect-1
is "direct: CGI headers carry the JSON type and the id" \
	"$(header Content-Type) | $(header X-Request-Id)" "application/json; charset=utf-8 | direct-collect-1"
rec=$(topic_dump collect-topic1 | jq -c 'select(.key=="direct-collect-1")')
is "direct: one record with the client address and agent of the CGI environment" \
	"$(jq -c '.value | [.client_ip, .user_agent, .payload.events[0].user_id]' <<<"$rec")" '["192.0.2.10","direct/1","user_test"]'

before=$(topic_count collect-topic1)
body_file '{"events":[]}'
direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN"
is "direct: a 422 answer is still exit 0 (the process answered)" "$RC $STATUS" "0 422"
check "direct: the 422 is a JSON error" json_error
check "direct: the refusal is logged on stderr with its status" grep -q '422' <<<"$LOG"
body_file "$good"
direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=$((LEN + 10))
is "direct: body shorter than CONTENT_LENGTH -> 400, exit 0" "$RC $STATUS" "0 400"
is "direct: refusals produced nothing" "$(topic_count collect-topic1)" "$before"

# Kafka unreachable and no spool to keep the batch: the process still answers (503,
# nothing accepted), within the deadline. (With the spool it is a 202: 0810.)
body_file "$good"
direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
	KAFKA_URL="127.0.0.1:$(closed_port)" KAFKA_TIMEOUT_MS=1500 SPOOL_DIR=off
is "direct: Kafka down -> 503, exit 0" "$RC $STATUS" "0 503"
check "direct: the 503 says to send again" jq -e '.message | test("send them again")' <<<"$BODY"

# Settings that cannot be used: no answer, exit 1, a log line that says why.
direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" KAFKA_TIMEOUT_MS=soon
is "direct: bad setting -> exit 1" "$RC" 1
is "direct: bad setting -> no CGI answer on stdout" "$STATUS" ""
check "direct: bad setting is logged as a configuration error" grep -q 'configuration' <<<"$LOG"
direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
	EVENTS_CONFIG="$T/no-such-file.conf"
is "direct: unreadable EVENTS_CONFIG -> exit 1" "$RC" 1

# The config file alone carries the settings (what fcgiwrap's environment looks like).
printf 'KAFKA_URL=%s\nCOLLECT_RAW_TOPIC=collect-topic1\n' "$KAFKA_URL" >"$T/events.conf"
DIRECT_UNSET=KAFKA_URL direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
	HTTP_X_REQUEST_ID=direct-conf-1 EVENTS_CONFIG="$T/events.conf"
is "direct: settings from EVENTS_CONFIG -> 200" "$RC $STATUS" "0 200"
is "direct: ... and the record is in Kafka" \
	"$(topic_dump collect-topic1 | jq -r 'select(.key=="direct-conf-1") | .key')" direct-conf-1

# Dev mode: per request into the dev store.
direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
	HTTP_X_REQUEST_ID=direct-dev-1 FORCE_DEV_MODE=true DEV_STORE="$T/dev.jsonl"
is "direct: dev mode -> 200" "$RC $STATUS" "0 200"
is "direct: dev mode stored the record with its topic" \
	"$(jq -r 'select(.key=="direct-dev-1") | .topic' "$T/dev.jsonl" 2>/dev/null)" collect-topic1
