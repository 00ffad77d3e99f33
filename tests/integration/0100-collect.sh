#!/usr/bin/env bash
# /collect through nginx -> spawn-fcgi pool -> handler -> dev broker: accepted batches
# land in collect-topic1 with the documented fields; every kind of bad input is refused with
# its status and a JSON error, nothing is produced, and each refusal is one ERROR_LOG line.
. "$(dirname "$0")/lib.sh"
start_broker -p 2
start_stack

J='Content-Type: application/json'
good='{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"user_test","product_id":"prod_demo"},{"event_type":"add_to_cart","event_time":1750867000001,"user_id":"u2","qty":2}],"ctx":{"browser":"Firefox","device":"Desktop","version":"126.0"}}'

http POST /collect -H "$J" -H 'X-Request-Id: test-req-0001' -H 'User-Agent: probe/1.0' -d "$good"
is "valid batch answers 200" "$STATUS" 200
is "response says success with the event count" "$(jq -c '[.status,.received,.request_id]' <<<"$BODY")" '["success",2,"test-req-0001"]'
is "X-Request-Id echoes the incoming id" "$(header X-Request-Id)" "test-req-0001"
is "content type is JSON" "$(header Content-Type)" "application/json; charset=utf-8"

rec=$(topic_dump collect-topic1 | jq -c 'select(.key=="test-req-0001")')
is "one raw message keyed by request_id" "$(jq -s length <<<"$rec")" 1
is "raw record carries request_id, client_ip, user_agent" \
	"$(jq -c '.value | [.request_id, .client_ip, .user_agent]' <<<"$rec")" '["test-req-0001","127.0.0.1","probe/1.0"]'
is "raw record payload is the request's JSON" "$(jq -c '.value.payload' <<<"$rec")" "$(jq -c . <<<"$good")"
now_ms=$(($(date +%s) * 1000))
ra=$(jq '.value.received_at' <<<"$rec")
check "received_at is epoch milliseconds near now" test "$ra" -gt $((now_ms - 600000)) -a "$ra" -le $((now_ms + 1000))

http POST /collect -H "$J" -H 'X-Request-Id: bad id with spaces' -d "$good"
rid=$(header X-Request-Id)
check "an insane incoming id is replaced by a new one" test -n "$rid" -a "$rid" != "bad id with spaces"
is "the new id is the one in the body" "$(jq -r .request_id <<<"$BODY")" "$rid"

base=$(topic_count collect-topic1)
is "two batches so far in the topic" "$base" 2
lines_before=$(cat "$ERROR_LOG" 2>/dev/null | wc -l)

# expect STATUS LABEL curl-args...: the answer is STATUS with a JSON error message.
rejections=0
expect() {
	local want=$1 label=$2
	shift 2
	http "$@"
	rejections=$((rejections + 1))
	if [ "$STATUS" = "$want" ] && jq -e '.status=="error" and (.message|type=="string" and length>0)' <<<"$BODY" >/dev/null 2>&1; then
		ok "$label -> $want with a JSON error"
	else
		not_ok "$label -> $want with a JSON error" "status $STATUS body $BODY"
	fi
}
expect 400 "malformed JSON" POST /collect -H "$J" -d '{"events": [}'
expect 400 "truncated JSON" POST /collect -H "$J" -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}'
expect 400 "empty body" POST /collect -H "$J" --data-binary ''
expect 422 "missing events" POST /collect -H "$J" -d '{"ctx":{}}'
expect 422 "empty events" POST /collect -H "$J" -d '{"events":[]}'
expect 422 "events not an array" POST /collect -H "$J" -d '{"events":{"event_type":"a"}}'
expect 422 "body is an array" POST /collect -H "$J" -d '[1,2]'
many=$(jq -cn '{events: [range(1001) | {event_type:"a", event_time:1, user_id:"u"}]}')
expect 422 "1001 events" POST /collect -H "$J" --data-binary "$many"
expect 422 "event without user_id" POST /collect -H "$J" -d '{"events":[{"event_type":"a","event_time":1}]}'
expect 422 "event_time not an integer" POST /collect -H "$J" -d '{"events":[{"event_type":"a","event_time":"soon","user_id":"u"}]}'
expect 422 "event_time after the year 9999" POST /collect -H "$J" -d '{"events":[{"event_type":"a","event_time":253402300800000,"user_id":"u"}]}'
expect 422 "event_time a float" POST /collect -H "$J" -d '{"events":[{"event_type":"a","event_time":1.5,"user_id":"u"}]}'
expect 422 "empty event_type" POST /collect -H "$J" -d '{"events":[{"event_type":"","event_time":1,"user_id":"u"}]}'
expect 422 "event_type over 128 bytes" POST /collect -H "$J" -d "{\"events\":[{\"event_type\":\"$(printf 'x%.0s' $(seq 129))\",\"event_time\":1,\"user_id\":\"u\"}]}"
expect 422 "ctx not an object" POST /collect -H "$J" -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}],"ctx":"x"}'
http POST /collect -H "$J" -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"},{"event_type":"a","event_time":1}]}'
rejections=$((rejections + 1))
is "one bad event among good ones: 422 naming its index" "$STATUS $(jq -c '[.errors[].index]' <<<"$BODY")" "422 [1]"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/big.json"
expect 413 "body over 1 MiB" POST /collect -H "$J" --data-binary @"$T/big.json"
printf '{"events":[{"event_type":"a","event_time":1,"user_id":"u","pad":"%s"}]}' "$(head -c 2000000 /dev/zero | tr '\0' x)" | gzip -c >"$T/bomb.gz"
expect 413 "gzip body over 1 MiB once decompressed" POST /collect -H "$J" -H 'Content-Encoding: gzip' --data-binary @"$T/bomb.gz"
printf 'not gzip at all' >"$T/notgz"
expect 400 "corrupt gzip body" POST /collect -H "$J" -H 'Content-Encoding: gzip' --data-binary @"$T/notgz"
expect 400 "unknown Content-Encoding" POST /collect -H "$J" -H 'Content-Encoding: br' -d "$good"
expect 415 "wrong content type" POST /collect -H 'Content-Type: application/x-www-form-urlencoded' -d "$good"
expect 415 "no content type" POST /collect -H 'Content-Type:' -d "$good"
expect 405 "GET /collect" GET /collect
expect 405 "PUT /collect" PUT /collect -H "$J" -d "$good"
deep=$(printf '[%.0s' $(seq 5000))
expect 400 "deeply nested JSON" POST /collect -H "$J" -d "{\"events\":$deep"
printf '{"events":[{"event_type":"\xff\xfe","event_time":1,"user_id":"u"}]}' >"$T/bad-utf8.json"
expect 400 "invalid UTF-8" POST /collect -H "$J" --data-binary @"$T/bad-utf8.json"
expect 400 "duplicate keys" POST /collect -H "$J" -d '{"events":[],"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}'

http GET /no/such/path
is "unknown path -> 404 JSON" "$STATUS $(jq -r .status <<<"$BODY")" "404 error"
http GET /collect/../etc/passwd
check "dot-dot path is not served" test "$STATUS" = 404 -o "$STATUS" = 400

is "nothing produced by the refusals" "$(topic_count collect-topic1)" "$base"
lines_after=$(wc -l <"$ERROR_LOG")
is "one ERROR_LOG line per refusal" "$((lines_after - lines_before))" "$rejections"
check "every ERROR_LOG line is JSON with the documented fields" \
	jq -e -s 'all(.[]; has("at") and .endpoint=="/collect" and (.request_id|length>0) and (.status|type=="number") and (.message|length>0))' "$ERROR_LOG"
check "ERROR_LOG holds no request body" bash -c "! grep -q product_demo '$ERROR_LOG'"

# Browser trackers: preflight, then a sendBeacon-style text/plain body.
http OPTIONS /collect -H 'Origin: https://shop.example' -H 'Access-Control-Request-Method: POST'
is "CORS preflight -> 204" "$STATUS" 204
is "preflight allows the origin" "$(header Access-Control-Allow-Origin)" "*"
check "preflight allows POST" grep -qi '^Access-Control-Allow-Methods:.*POST' "$HEADERS"
is "preflight allows Content-Type and X-Request-Id (a tracker's batch id)" "$(header Access-Control-Allow-Headers)" "Content-Type, X-Request-Id"
http POST /collect -H 'Content-Type: text/plain;charset=UTF-8' -H 'Origin: https://shop.example' -d "$good"
is "text/plain JSON body (sendBeacon) -> 200" "$STATUS" 200
is "POST response carries CORS too" "$(header Access-Control-Allow-Origin)" "*"
is "a page may read X-Request-Id and Retry-After" "$(header Access-Control-Expose-Headers)" "X-Request-Id, Retry-After"
http POST '/collect?request_id=beacon-0001' -H 'Content-Type: text/plain;charset=UTF-8' -d "$good"
is "sendBeacon names its batch with ?request_id=" "$STATUS $(header X-Request-Id)" "200 beacon-0001"
is "which keys its raw message" "$(topic_dump collect-topic1 | jq -c 'select(.key=="beacon-0001") | .value.request_id')" '"beacon-0001"'
http POST '/collect?request_id=from-the-url' -H "$J" -H 'X-Request-Id: from-the-header' -d "$good"
is "X-Request-Id wins over ?request_id=" "$(header X-Request-Id)" "from-the-header"
printf '%s' "$good" | gzip -c >"$T/good.gz"
http POST /collect -H "$J" -H 'Content-Encoding: gzip' -H 'X-Request-Id: gz-1' --data-binary @"$T/good.gz"
is "gzip body -> 200" "$STATUS" 200
is "gzip batch landed decompressed" "$(topic_dump collect-topic1 | jq -c 'select(.key=="gz-1") | .value.payload.events | length')" 2
# One Kafka message holds at most 1,000,000 bytes (key + value): the body bound, and the
# raw message with its envelope, are checked against that one limit.
padded() { # padded N: a one-event body with a pad of N bytes
	printf '{"events":[{"event_type":"a","event_time":1,"user_id":"u","pad":"'
	head -c "$1" /dev/zero | tr '\0' x
	printf '"}]}'
}
padded 1047000 >"$T/almost-1mib.json"
expect 413 "a body under 1 MiB but over one Kafka message" POST /collect -H "$J" --data-binary @"$T/almost-1mib.json"
padded 999900 >"$T/fits-body.json"
http POST /collect -H "$J" -H 'X-Request-Id: envelope-too-big' --data-binary @"$T/fits-body.json"
is "a body that fits, whose raw message does not -> 413 saying so" \
	"$STATUS $(jq -r '.message | test("at most 1000000 fit in one Kafka message")' <<<"$BODY")" "413 true"
padded 999000 >"$T/fits.json"
http POST /collect -H "$J" -H 'X-Request-Id: fits-1mb' --data-binary @"$T/fits.json"
is "a raw message just under the limit -> 200" "$STATUS" 200
is "and it landed whole" "$(topic_dump collect-topic1 | jq -c 'select(.key=="fits-1mb") | .value.payload.events[0].pad | length')" 999000
# A valid batch the fast check leaves to the parser (\u escapes, an escaped key).
slow='{"events":[{"event_type":"caf\u00e9","event_time":1,"user_id":"\ud83d\ude00","p\u0061d":1}]}'
http POST /collect -H "$J" -H 'X-Request-Id: slow-path-1' -d "$slow"
is "a valid batch with \\u escapes -> 200 with its count" "$STATUS $(jq .received <<<"$BODY")" "200 1"
is "and it landed as sent" "$(topic_dump collect-topic1 | jq -c 'select(.key=="slow-path-1") | .value.payload.events[0] | [.event_type, .pad]')" '["café",1]'
base=$((base + 4)) # the text/plain batch, the two ?request_id= ones, the escaped one
is "the service still answers after all that" "$(topic_count collect-topic1)" "$((base + 2))"

http GET /nginx-health
is "nginx answers its own liveness" "$STATUS" 200
http GET /health
is "/health connected" "$STATUS $(jq -r .kafka_status <<<"$BODY")" "200 connected"
http POST /health
is "POST /health -> 405" "$STATUS" 405
http GET / -H 'Accept: text/html'
check "/ for a browser is HTML" grep -qi '^Content-Type: text/html' "$HEADERS"
check "the page shows a curl example" grep -q 'curl -X POST' <<<"$BODY"
http GET / -H 'Accept: application/json'
is "/ as JSON lists the endpoints" "$(jq -c '[.endpoints[].path] | sort' <<<"$BODY")" '["/","/api/ingest","/api/processed-events","/collect","/health"]'
