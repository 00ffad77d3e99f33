#!/usr/bin/env bash
# docs/openapi.yaml against the service: it passes Redocly's strict lint, nginx serves it,
# and the answers of the running stack are what it says. One request per status the test
# can provoke (Kafka up, Kafka down with and without the spool, dev mode, a Google stub, a
# handler pool down) is recorded with its headers and body; tests/node/openapi-check.js
# then checks each against the document: documented operation and status, required
# headers (X-Request-Id, Retry-After on 503, Allow, CORS ...), media type and the JSON
# Schema of the body.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
. "$TOP/tests/stubs/google-stub.sh"
node_deps || { not_ok "the test's npm packages are installed (tests/node)"; exit 0; }

if (cd "$TOP/tests/node" && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1 \
	timeout 120 node_modules/.bin/redocly lint --config redocly.yaml "$TOP/docs/openapi.yaml") >"$T/lint.log" 2>&1; then
	ok "docs/openapi.yaml passes redocly lint (tests/node/redocly.yaml)"
else
	not_ok "docs/openapi.yaml passes redocly lint (tests/node/redocly.yaml)" "$(grep -v '^ *[║╔╚]' "$T/lint.log" | tail -40)"
fi

EX="$T/exchanges.jsonl"
# call LABEL METHOD PATH [curl args...]: one request; its answer is kept for the check.
call() {
	local label=$1 method=$2 path=$3
	shift 3
	http "$method" "$path" "$@"
	jq -cn --arg label "$label" --arg method "$method" --arg path "${path%%\?*}" --arg status "$STATUS" \
		--rawfile head "$HEADERS" --arg body "$BODY" '$ARGS.named' >>"$EX"
}

make_key_pair k1
start_google_stub "$TOP/tests/data/sheets/stub-sheets.json" "$T/k1.pub" "$SA_EMAIL" --slow-ms 5000
make_sa_json k1
export GOOGLE_SERVICE_ACCOUNT_KEY=$T/k1.json GOOGLE_TIMEOUT_MS=1000
export INGEST_API_TOKEN=openapi-test-token KAFKA_TIMEOUT_MS=1500
A="Authorization: Bearer $INGEST_API_TOKEN"
start_broker -p 2
start_stack

http GET /openapi.yaml
is "nginx serves the document at /openapi.yaml" "$STATUS $(header Content-Type)" "200 application/yaml; charset=utf-8"
curl -sS -o "$T/served.yaml" "$BASE_URL/openapi.yaml"
check "the very file of the repository" cmp "$T/served.yaml" "$TOP/docs/openapi.yaml"
http GET / -H 'Accept: text/html'
check "GET / links it" grep -q 'href="/openapi.yaml"' <<<"$BODY"

# Kafka up.
ev='{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"u1","product_id":"p1"}],"ctx":{"browser":"Firefox"}}'
call "a page" GET / -H 'Accept: text/html'
call "the endpoints as JSON" GET / -H 'Accept: application/json'
call "wrong method" POST / -d x
call "the page's numbers" GET '/?stats'
call "the metrics" GET /metrics
call "not from this address" GET /metrics --interface 127.0.0.2
call "wrong method" POST /metrics -d x
call "connected" GET /health
call "wrong method" POST /health -d x
call "accepted" POST /collect -H "$J" -H 'X-Request-Id: openapi-1' -d "$ev"
call "a beacon" POST '/collect?request_id=openapi-2' -H 'Content-Type: text/plain;charset=UTF-8' -H 'Origin: http://shop.example' -d "$ev"
call "malformed JSON" POST /collect -H "$J" -d '{"events": [}'
call "an invalid event" POST /collect -H "$J" -d '{"events":[{"event_type":"a","event_time":1}]}'
call "no events" POST /collect -H "$J" -d '{"ctx":{}}'
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/1m.json"
call "over 1,000,000 bytes" POST /collect -H "$J" --data-binary @"$T/1m.json"
head -c 3000000 /dev/zero | tr '\0' ' ' >"$T/3m.json"
call "over 2 MiB: nginx" POST /collect -H "$J" --data-binary @"$T/3m.json"
call "form data" POST /collect -H 'Content-Type: application/x-www-form-urlencoded' -d "$ev"
call "wrong method" GET /collect
call "preflight" OPTIONS /collect -H 'Origin: http://shop.example' -H 'Access-Control-Request-Method: POST' \
	-H 'Access-Control-Request-Headers: content-type, x-request-id'

printf '%s\n%s\n' "$H" '2025-10-22,R1,10.0.0.1,ua,fp-1,https://e.com,COOKIE' | csv good.csv
printf '%s\n%s\n%s\n' "$H" '2025-10-22,R1,10.0.0.1,ua,fp-1,https://e.com,COOKIE' '2025-10-22,R2,bad-ip,ua,fp-2,https://e.com,COOKIE' | csv mixed.csv
printf '%s\n%s\n' "$H" '2025-10-22,R2,bad-ip,ua,fp-2,https://e.com,COOKIE' | csv bad.csv
printf 'DATE,IP\n2025-10-22,10.0.0.1\n' | csv nohdr.csv
sheet() { echo "{\"file_path\":\"https://docs.google.com/spreadsheets/d/$1/edit\",\"query_param_a\":3}"; }
call "no token" POST /api/ingest -H "$J" -d '{"file_path":"good.csv","query_param_a":3}'
call "success" POST /api/ingest -H "$J" -H "$A" -d '{"file_path":"good.csv","query_param_a":3,"reason":"openapi"}'
call "partial" POST /api/ingest -H "$J" -H "$A" -d '{"file_path":"mixed.csv","query_param_a":"3"}'
call "no file_path" POST /api/ingest -H "$J" -H "$A" -d '{"query_param_a":3}'
call "no valid row" POST /api/ingest -H "$J" -H "$A" -d '{"file_path":"bad.csv","query_param_a":3}'
call "a header without the columns" POST /api/ingest -H "$J" -H "$A" -d '{"file_path":"nohdr.csv"}'
call "not JSON" POST /api/ingest -H 'Content-Type: text/csv' -H "$A" -d 'x'
printf '{"file_path":"good.csv","reason":"%s"}' "$(head -c 70000 /dev/zero | tr '\0' x)" >"$T/70k.json"
call "over 64 KiB" POST /api/ingest -H "$J" -H "$A" --data-binary @"$T/70k.json"
call "wrong method" GET /api/ingest -H "$A"
call "a sheet not shared" POST /api/ingest -H "$J" -H "$A" -d "$(sheet forbidden-1)"
call "no such sheet" POST /api/ingest -H "$J" -H "$A" -d "$(sheet nope-1)"
call "Google answers garbage" POST /api/ingest -H "$J" -H "$A" -d "$(sheet malformed-1)"
call "Google too slow" POST /api/ingest -H "$J" -H "$A" -d "$(sheet slow-1)"
call "not in dev mode" GET /api/processed-events -H "$A"
call "no token" GET /api/processed-events
call "wrong method" POST /api/processed-events -H "$A" -d x
call "the tracker" GET "/tracker.js?v=0"
call "wrong method" POST /tracker.js -d x
call "the document" GET /openapi.yaml
call "nginx alone" GET /nginx-health

# A handler pool that is down: nginx answers.
kill $(cat "$T/run/collect.pid") 2>/dev/null
for _ in $(seq 50); do
	kill -0 $(cat "$T/run/collect.pid") 2>/dev/null || break
	sleep 0.1
done
call "the pool is down" POST /collect -H "$J" -d "$ev"

# Kafka down, with the spool: /health degraded, /collect as the spool answers.
stop_broker
call "Kafka down, spool on" GET /health
call "Kafka down, spool on" POST /cgi/collect -H "$J" -d "$ev"
call "Kafka down" POST /api/ingest -H "$J" -H "$A" -d '{"file_path":"good.csv","query_param_a":3}'
stop_stack
# ... and without: /health unhealthy, /collect 503.
export SPOOL_DIR=off
start_stack
call "Kafka down, spool off" GET /health
call "Kafka down, spool off" POST /collect -H "$J" -d "$ev"
stop_stack

# Dev mode.
export FORCE_DEV_MODE=true METRICS_DIR=off
start_stack
call "dev mode" GET /health
call "counters off" GET /metrics
call "counters off" GET '/?stats'
call "dev mode" POST /collect -H "$J" -d "$ev"
call "the stored events" GET '/api/processed-events?limit=10' -H "$A"
call "limit too large" GET '/api/processed-events?limit=5000' -H "$A"

# Write keys and budgets: 401, 413 over a key's burst, 429, and the preflight that allows the key.
stop_stack
printf 'wk_openapi_0123456789ab openapi.test 1 3\n' >"$T/keys"
export COLLECT_WRITE_KEYS=$T/keys
start_stack
W='X-Write-Key: wk_openapi_0123456789ab'
call "no write key" POST /collect -H "$J" -d "$ev"
call "an unknown write key" POST '/collect?write_key=wk_unknown_000000000000' -H 'Content-Type: text/plain' -d "$ev"
call "a write key" POST /collect -H "$J" -H "$W" -d "$ev"
# events: 1, then 4 (over the burst of 3), 2 (the bucket is empty), 3 (3 s until it fits)
call "over the key's burst" POST /collect -H "$J" -H "$W" -d "$(jq -c '.events += .events + .events + .events' <<<"$ev")"
call "a write key" POST /collect -H "$J" -H "$W" -d "$(jq -c '.events += .events' <<<"$ev")"
call "over the key's budget" POST /collect -H "$J" -H "$W" -d "$(jq -c '.events += .events + .events' <<<"$ev")"
call "preflight with keys" OPTIONS /collect -H 'Origin: http://shop.example' -H 'Access-Control-Request-Method: POST'
is "the exchanges with keys answered 401, 401, 200, 413, 200, 429" \
	"$(tail -7 "$EX" | head -6 | jq -r .status | tr '\n' ' ')" "401 401 200 413 200 429 "

# /cgi/collect is documented as /collect: the same answers per request.
sed -i 's|"path":"/cgi/collect"|"path":"/collect"|' "$EX"
(cd "$TOP/tests/node" && timeout 120 node openapi-check.js "$TOP/docs/openapi.yaml" "$EX") 2>&1
