#!/usr/bin/env bash
# Dev mode (no KAFKA_URL): ingested events go to DEV_STORE and /api/processed-events shows
# exactly them, oldest first, with paging and a topic filter; concurrent ingests from
# several processes (pool and CGI) neither lose nor interleave lines.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
start_stack

http GET /health
is "/health says dev_mode" "$(jq -r .kafka_status <<<"$BODY")" "dev_mode"
http GET /api/processed-events
is "empty store: count 0, no events" "$STATUS $(jq -c '[.count, .events]' <<<"$BODY")" "200 [0,[]]"

{
	echo "$H"
	for i in $(seq 1 5); do echo "2025-10-22,C$i,10.0.0.$i,ua,fp-c$i,https://e.com/$i,COOKIE"; done
	for i in $(seq 1 3); do echo "2025-10-22,L$i,10.0.1.$i,ua,fp-l$i,https://e.com/l$i,LINK_TRACKING"; done
	echo "2025-10-22,X,bad,ua,fp,https://e.com,COOKIE"
} >"$INGEST_DATA_DIR/dev.csv"
ingest '{"file_path":"dev.csv","query_param_a":2,"reason":"dev"}'
is "dev ingest: partial, 8 processed, 1 error" "$STATUS $(counts)" "200 partial 8 1 0"

http GET /api/processed-events
is "processed-events: count 8" "$STATUS $(jq .count <<<"$BODY")" "200 8"
is "processed-events: exactly those events, oldest first" \
	"$(jq -r '.events[] | .value.ref_number' <<<"$BODY" | tr '\n' ' ')" "C1 C2 C3 C4 C5 L1 L2 L3 "
is "each record has topic, key, value" \
	"$(jq -c '.events[0] | [.topic, .key, .value.event_type, .value.conversion_type, (.value.event_id|length)]' <<<"$BODY")" \
	"[\"$CONV\",\"fp-c1\",\"CONVERSION\",\"APPLY_START\",64]"
is "clicks are bound for the click topic" "$(jq -r '.events[5:][] | .topic' <<<"$BODY" | sort -u)" "$CLICK"
http GET "/api/processed-events?offset=2&limit=3"
is "paging: offset 2 limit 3" "$(jq -c '[.count, [.events[].value.ref_number]]' <<<"$BODY")" '[8,["C3","C4","C5"]]'
http GET "/api/processed-events?offset=7&limit=3"
is "paging: the last page is short" "$(jq -c '[.count, [.events[].value.ref_number]]' <<<"$BODY")" '[8,["L3"]]'
http GET "/api/processed-events?offset=8"
is "paging: past the end is empty" "$(jq -c '[.count, .events]' <<<"$BODY")" '[8,[]]'
http GET "/api/processed-events?topic=$CLICK"
is "topic filter: count is that topic's" "$(jq -c '[.count, [.events[].value.ref_number]]' <<<"$BODY")" '[3,["L1","L2","L3"]]'
http GET "/api/processed-events?topic=$CONV&offset=4&limit=10"
is "topic filter with paging" "$(jq -c '[.count, [.events[].value.ref_number]]' <<<"$BODY")" '[5,["C5"]]'
http GET "/api/processed-events?topic=no-such-topic"
is "unknown topic: count 0" "$(jq -c '[.count, .events]' <<<"$BODY")" '[0,[]]'
http GET "/cgi/api/processed-events?limit=1"
is "per request (CGI) too" "$STATUS $(jq -c '[.count, [.events[].value.ref_number]]' <<<"$BODY")" '200 [8,["C1"]]'
http GET "/api/processed-events?limit=1001"
is "limit over 1000 -> 400" "$STATUS" 400
http GET "/api/processed-events?offset=abc"
is "offset not a number -> 400" "$STATUS" 400
http POST /api/processed-events -d x
is "POST -> 405" "$STATUS" 405

# Concurrency: 3 ingests through the pool, 3 through fcgiwrap and 2 direct CGI processes
# at once, 600 rows each.
{
	echo "$H"
	for i in $(seq 1 600); do echo "2025-10-22,P$i,10.2.$((i / 250)).$((i % 250)),ua $i,fp-p$i,https://e.com/p$i,LINK_TRACKING"; done
} >"$INGEST_DATA_DIR/par.csv"
before=$(wc -l <"$DEV_STORE")
pids=()
for k in 1 2 3; do
	curl -sS -m 60 -o "$T/par-pool-$k.json" -H "$J" -d "{\"file_path\":\"par.csv\",\"reason\":\"pool $k\"}" "$BASE_URL/api/ingest" &
	pids+=($!)
	curl -sS -m 60 -o "$T/par-cgi-$k.json" -H "$J" -d "{\"file_path\":\"par.csv\",\"reason\":\"cgi $k\"}" "$BASE_URL/cgi/api/ingest" &
	pids+=($!)
done
for k in 1 2; do
	body="{\"file_path\":\"par.csv\",\"reason\":\"direct $k\"}"
	REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} REMOTE_ADDR=127.0.0.1 \
		"$BUILD/bin/ingest" <<<"$body" >"$T/par-direct-$k.out" 2>>"$T/direct.log" &
	pids+=($!)
done
wait "${pids[@]}"
is "every concurrent ingest processed 600" \
	"$(cat "$T"/par-pool-*.json "$T"/par-cgi-*.json <(for k in 1 2; do sed -n '/^{/p' "$T/par-direct-$k.out"; done) | jq -r .processed_count | tr '\n' ' ')" \
	"600 600 600 600 600 600 600 600 "
is "the store grew by exactly 4800 lines" "$(($(wc -l <"$DEV_STORE") - before))" 4800
check "every line of the store is one whole JSON record" jq -e -s 'all(.[]; .topic and .key and (.value|type=="object"))' "$DEV_STORE"
is "each ingest's 600 rows are all there, once" \
	"$(jq -r 'select(.value.reason // "" | test("^(pool|cgi|direct)")) | .value.reason + " " + .value.ref_number' "$DEV_STORE" | sort -u | awk '{print $1, $2}' | uniq -c | awk '{print $1}' | sort -u)" "600"
is "each ingest wrote its rows in file order" \
	"$(jq -r 'select(.value.reason == "pool 1") | .value.ref_number' "$DEV_STORE" | tr -d P | awk 'NR != $1 {bad=1} END {print bad ? "out of order" : "in order"}')" "in order"
http GET "/api/processed-events?topic=$CLICK&limit=1"
is "processed-events counts them all" "$(jq .count <<<"$BODY")" $((3 + 4800))
