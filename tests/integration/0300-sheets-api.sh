#!/usr/bin/env bash
# /api/ingest of a Google Sheet through the Sheets API v4 (a local stub that verifies the
# RS256 JWT): the events in Kafka are exactly those of the same rows as a CSV file (same
# event_ids); gid picks the tab; one token serves many ingests of a pooled process; CGI
# caches it in a 0600 file; a revoked or short-lived token is renewed; no secret in logs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
. "$TOP/tests/stubs/google-stub.sh"

SHEETS="$TOP/tests/data/sheets/stub-sheets.json"
make_key_pair k1
start_google_stub "$SHEETS" "$T/k1.pub" "$SA_EMAIL"
make_sa_json k1
export GOOGLE_SERVICE_ACCOUNT_KEY=$T/k1.json
start_broker -p 2
export GOOGLE_PAGE_ROWS=2 # small pages: empty rows and page ends meet
POOL_PROCS=1 start_stack # one pooled process: its token cache is the one counted below

URL0='https://docs.google.com/spreadsheets/d/tracking1/edit#gid=0'
URL2='https://docs.google.com/spreadsheets/d/tracking1/edit?usp=sharing&gid=1234567'

ingest "{\"file_path\":\"$URL0\",\"query_param_a\":3,\"reason\":\"sheet\"}"
is "sheet: 200 partial, 4 processed, 3 errors (two empty rows, a bad IP)" "$STATUS $(counts)" "200 partial 4 3 0"
sheet_errors=$(jq -c '[.errors[] | [.row, .field]]' <<<"$BODY")
is "sheet: the bad rows are data rows 3, 4 (empty) and 6" "$sheet_errors" '[[3,"DATE"],[4,"DATE"],[6,"IP"]]'
is "rows read in pages of GOOGLE_PAGE_ROWS up to the grid's end" "$(stub_stat 'rows_asked | join(" ")')" "1:2 3:4 5:6 7:8 9:10"

# As Google exports it: every row as wide as the widest.
jq -r '.tracking1[0].rows | (map(length) | max) as $w | .[] | . + [range(length; $w) | ""] | @csv' "$SHEETS" | csv tracking1.csv
ingest '{"file_path":"tracking1.csv","query_param_a":3,"reason":"csv"}'
is "same rows as a CSV file: same answer" "$STATUS $(counts)" "200 partial 4 3 0"
is "same rows as a CSV file: same row errors" "$(jq -c '[.errors[] | [.row, .field]]' <<<"$BODY")" "$sheet_errors"

for topic in "$CONV" "$CLICK"; do
	s=$(by_reason "$topic" sheet | jq -c '{key, value: (.value | del(.ingested_at, .reason, .request_id))}' | sort)
	c=$(by_reason "$topic" csv | jq -c '{key, value: (.value | del(.ingested_at, .reason, .request_id))}' | sort)
	check "$topic: the sheet produced events" test -n "$s"
	is "$topic: sheet events equal the CSV events (event_id, key, every field)" "$s" "$c"
done
is "conversions of the sheet ingest" \
	"$(by_reason "$CONV" sheet | jq -r .value.ref_number | sort | tr '\n' ' ')" "REF3 US_EN_97_043800_2250981 "
is "a cell with a newline, comma and quotes arrives intact" \
	"$(by_reason "$CLICK" sheet | jq -r 'select(.value.ref_number == "REF2") | .value.user_agent')" \
	'UA, with comma and "quotes"'

ingest "{\"file_path\":\"$URL2\",\"reason\":\"tab2\"}"
is "gid selects the tab (title with a quote and a space)" "$STATUS $(counts)" "200 success 1 0 0"
is "the tab's row, in its own column order" \
	"$(by_reason "$CLICK" tab2 | jq -c '[.value.ref_number, .value.user_fp, .value.date]')" '["T2R1","fp-t2","2025-10-24"]'

conv_before=$(topic_count "$CONV")
click_before=$(topic_count "$CLICK")
ingest '{"file_path":"https://docs.google.com/spreadsheets/d/tracking1/edit#gid=99","query_param_a":3}'
is "unknown gid: 404" "$STATUS" 404
check "unknown gid: the message names it" jq -e '.message | test("gid 99")' <<<"$BODY"

for i in 1 2 3; do ingest "{\"file_path\":\"$URL2\",\"reason\":\"again\"}"; done
is "three more ingests answer 200" "$STATUS $(counts)" "200 success 1 0 0"
is "one token for every ingest of the pooled process" "$(stub_stat token)" 1
is "every API call carried a valid token" "$(stub_stat unauthorized)" 0

# CGI: one process per request; the token is cached in a private file next to ERROR_LOG.
INGEST_PATH=/cgi/api/ingest ingest "{\"file_path\":\"$URL2\",\"reason\":\"cgi\"}"
is "CGI: 200" "$STATUS $(counts)" "200 success 1 0 0"
INGEST_PATH=/cgi/api/ingest ingest "{\"file_path\":\"$URL2\",\"reason\":\"cgi\"}"
is "CGI again: 200" "$STATUS $(counts)" "200 success 1 0 0"
is "CGI requests share one cached token" "$(stub_stat token)" 2
cache=$(ls "$(dirname "$ERROR_LOG")"/gauth-*.token 2>/dev/null)
is "one token cache file" "$(wc -w <<<"$cache")" 1
is "the cache file is private (0600)" "$(stat -c %a $cache 2>/dev/null)" 600

# The API rejects the cached token (expired or revoked at Google): renewed once, retried.
stub_control revoke=1
ingest "{\"file_path\":\"$URL2\",\"reason\":\"revoked\"}"
is "revoked token: 200 after one renewal" "$STATUS $(counts)" "200 success 1 0 0"
is "the stale token got one 401" "$(stub_stat unauthorized)" 1
is "one new token" "$(stub_stat token)" 3

# Short-lived tokens are renewed before they expire, without a 401.
stub_control 'revoke=1&ttl=2'
ingest "{\"file_path\":\"$URL2\",\"reason\":\"short\"}"
is "short-lived token: 200" "$STATUS" 200
sleep 1.5
ingest "{\"file_path\":\"$URL2\",\"reason\":\"short\"}"
is "after half its life: 200" "$STATUS" 200
# At least one renewal: a machine slow enough to take over a second between the two
# API calls of one ingest renews within it too, which is right.
short_tokens=$(stub_stat token)
check "the short-lived token was renewed (two tokens or more: $short_tokens - 3)" test "$short_tokens" -ge 5
is "the renewal needed no 401" "$(stub_stat unauthorized)" 2
stub_control ttl=3600

# Threads of the pooled process that all hold a revoked token renew it once between them.
stub_control revoke=1
tokens_before=$(stub_stat token)
pids=""
for i in 1 2 3 4; do
	curl -sS -m 30 -o /dev/null -w '%{http_code}' -H "$J" \
		--data-binary "{\"file_path\":\"$URL2\",\"reason\":\"parallel\"}" "$BASE_URL/api/ingest" >"$T/par$i" &
	pids="$pids $!"
done
wait $pids
is "four concurrent ingests: 200 each" "$(cat "$T"/par[1-4] | tr -d '\n')" "200200200200"
is "one renewal for the four" "$(($(stub_stat token) - tokens_before))" 1
is "records of every successful ingest are in Kafka" \
	"$(by_reason "$CLICK" again | wc -l) $(by_reason "$CLICK" cgi | wc -l) $(by_reason "$CLICK" revoked | wc -l) $(by_reason "$CLICK" short | wc -l)" "3 2 1 2"
is "nothing else was produced (not by the 404 either)" "$(topic_count "$CONV") $(topic_count "$CLICK")" "$conv_before $((click_before + 12))"

# No private key, JWT or access token in any log, the error log or the cache directory's
# other files.
curl -sS "$STUB_URL/_issued" >"$T/issued"
is "the stub issued every token it counted" "$(grep -c . "$T/issued")" "$(stub_stat token)"
logs=$(ls "$T"/run/*.log "$ERROR_LOG" 2>/dev/null)
leaks=$(cat $logs | grep -F -f "$T/issued" -e 'PRIVATE KEY' -e 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9' \
	-e "$(sed -n 3p "$T/k1.pem")" | head -3)
is "no token, key or JWT in any log" "$leaks" ""
check "the handlers logged something (the leak check saw real logs)" test -s "$T/run/ingest.log" -o -s "$T/run/cgi.log"
