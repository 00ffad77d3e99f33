#!/usr/bin/env bash
# /api/ingest through nginx -> pool -> dev broker: every row of the mapping table lands in
# its topic with the documented record, key user_fp; event_ids are deterministic (same file
# twice, a ignored for clicks); the date filter; the CGI path; 404 for processed-events.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
start_broker -p 2
start_stack

csv map.csv <<EOT
$H
2025-10-22,REF_C,172.56.209.0,Mozilla/5.0 (X11; Linux),fp-cookie,https://example.com/job/1,COOKIE
2025-10-22,REF_L,2001:db8::7,curl/8.0,fp-link,http://example.com/?a=1&b=2,LINK_TRACKING
EOT

# a as a string and as an integer.
for a in '"3"' 2 '"1"'; do
	ingest "{\"file_path\":\"map.csv\",\"query_param_a\":$a,\"reason\":\"map ${a//\"/}\"}" -H "X-Request-Id: map-req-${a//\"/}"
	is "query_param_a=$a: 200 success, 2 processed" "$STATUS $(counts)" "200 success 2 0 0"
	is "query_param_a=$a: message and empty errors" "$(jq -c '[.message, .errors]' <<<"$BODY")" '["Events processed successfully",[]]'
done

conv=$(topic_dump "$CONV")
click=$(topic_dump "$CLICK")
is "3 conversions, keyed by user_fp" "$(jq -r .key <<<"$conv" | sort | uniq -c | awk '{print $1, $2}')" "3 fp-cookie"
is "3 clicks, keyed by user_fp" "$(jq -r .key <<<"$click" | sort | uniq -c | awk '{print $1, $2}')" "3 fp-link"
is "COOKIE a=3/2/1 -> CONVERSION APPLY/APPLY_START/VIEW" \
	"$(jq -r '[.value.reason, .value.event_type, .value.conversion_type] | join(" ")' <<<"$conv" | sort)" \
	"$(printf 'map 1 CONVERSION VIEW\nmap 2 CONVERSION APPLY_START\nmap 3 CONVERSION APPLY')"
is "LINK_TRACKING -> CLICK without conversion_type, whatever a" \
	"$(jq -r '[.value.event_type, (.value.conversion_type|tostring)] | join(" ")' <<<"$click" | sort -u)" "CLICK null"
one=$(jq -c 'select(.value.reason == "map 3") | .value' <<<"$conv")
is "conversion record carries the row's values" \
	"$(jq -c '[.date, .ref_number, .ip, .user_agent, .user_fp, .url, .source]' <<<"$one")" \
	'["2025-10-22","REF_C","172.56.209.0","Mozilla/5.0 (X11; Linux)","fp-cookie","https://example.com/job/1","COOKIE"]'
is "record has exactly the expected members" "$(jq -c 'keys' <<<"$one")" \
	'["conversion_type","date","event_id","event_type","ingested_at","ip","reason","ref_number","request_id","source","url","user_agent","user_fp"]'
check "event_id is 64 hex digits" jq -e '.event_id | test("^[0-9a-f]{64}$")' <<<"$one"
check "ingested_at is an ISO UTC time" jq -e '.ingested_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")' <<<"$one"
is "request_id of the record is the request's" "$(jq -r .request_id <<<"$one")" "map-req-3"
is "click record carries IPv6 and the URL untouched" \
	"$(jq -c 'select(.value.reason == "map 2") | .value | [.ip, .url, .source]' <<<"$click")" \
	'["2001:db8::7","http://example.com/?a=1&b=2","LINK_TRACKING"]'
is "the three conversion ids differ (a is hashed)" "$(jq -r .value.event_id <<<"$conv" | sort -u | wc -l)" 3
is "the three click ids are one (a is not hashed for clicks)" "$(jq -r .value.event_id <<<"$click" | sort -u | wc -l)" 1

# The same file again: the same ids.
ingest '{"file_path":"map.csv","query_param_a":3,"reason":"again"}'
is "same file again: 200" "$STATUS $(counts)" "200 success 2 0 0"
is "same file twice -> same conversion event_id" \
	"$(by_reason "$CONV" again | jq -r .value.event_id)" "$(jq -r .event_id <<<"$one")"
is "same file twice -> same click event_id" \
	"$(by_reason "$CLICK" again | jq -r .value.event_id)" "$(jq -r 'select(.value.reason == "map 2") | .value.event_id' <<<"$click")"

# Date filter: other days are skipped whatever else is wrong with them; a bad DATE is an error.
csv dates.csv <<EOT
$H
2025-10-22,D1,10.0.0.1,ua,fp-d1,https://e.com,COOKIE
2025-10-23,D2,10.0.0.2,ua,fp-d2,https://e.com,COOKIE
2025-10-21,,not-an-ip,ua,,ftp://x,NOPE
2025-10-23,D3,10.0.0.3,ua,fp-d3,https://e.com,LINK_TRACKING
2025-13-01,D4,10.0.0.4,ua,fp-d4,https://e.com,COOKIE
2025-10-23,D5,10.0.0.5,ua,fp-d5,https://e.com,LINK_TRACKING
EOT
ingest '{"file_path":"dates.csv","query_param_a":1,"date":"2025-10-23","reason":"dated"}'
is "date filter: 3 processed, 1 error, 2 skipped, partial" "$STATUS $(counts)" "200 partial 3 1 2"
is "date filter: the bad DATE is row 5" "$(jq -c '.errors' <<<"$BODY")" '[{"row":5,"field":"DATE","message":"DATE must be a calendar date as YYYY-MM-DD"}]'
is "date filter: only that day's rows landed" \
	"$( (by_reason "$CONV" dated; by_reason "$CLICK" dated) | jq -r '.value.ref_number + " " + .value.date' | sort | tr '\n' ' ')" \
	"D2 2025-10-23 D3 2025-10-23 D5 2025-10-23 "
ingest '{"file_path":"dates.csv","query_param_a":1,"date":"2025-10-30"}'
is "a date no row has: 422 (no valid row), the others skipped" "$STATUS $(counts)" "422 error 0 1 5"

# Per request, through fcgiwrap.
INGEST_PATH=/cgi/api/ingest ingest '{"file_path":"map.csv","query_param_a":"2","reason":"via cgi"}'
is "CGI path: 200 success" "$STATUS $(counts)" "200 success 2 0 0"
is "CGI path: both records landed" "$( (by_reason "$CONV" "via cgi"; by_reason "$CLICK" "via cgi") | wc -l)" 2

http GET /api/processed-events
is "processed-events outside dev mode -> 404" "$STATUS $(jq -r .status <<<"$BODY")" "404 error"
