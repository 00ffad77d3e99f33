#!/usr/bin/env bash
# /api/ingest of a public sheet without a service-account key: the CSV export (a local
# stub) is streamed through the CSV reader and gives the CSV file's events; redirects are
# followed up to 5 times and only to allowed hosts; a private sheet, a missing one, an
# HTML answer and a slow export are clear errors and produce nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
. "$TOP/tests/stubs/google-stub.sh"

SHEETS="$TOP/tests/data/sheets/stub-sheets.json"
make_key_pair k1
start_google_stub "$SHEETS" "$T/k1.pub" "$SA_EMAIL" --slow-ms 6000
export GOOGLE_TIMEOUT_MS=1500
start_broker -p 2
start_stack

sheet() { echo "{\"file_path\":\"https://docs.google.com/spreadsheets/d/$1\",\"query_param_a\":3,\"reason\":\"$2\"}"; }

ingest "$(sheet 'tracking1/edit#gid=0' export)"
is "public export: 200 partial, 4 processed, 3 errors" "$STATUS $(counts)" "200 partial 4 3 0"
# As Google exports it: every row as wide as the widest.
jq -r '.tracking1[0].rows | (map(length) | max) as $w | .[] | . + [range(length; $w) | ""] | @csv' "$SHEETS" | csv tracking1.csv
ingest '{"file_path":"tracking1.csv","query_param_a":3,"reason":"csv"}'
is "the CSV file: same answer" "$STATUS $(counts)" "200 partial 4 3 0"
for topic in "$CONV" "$CLICK"; do
	s=$(by_reason "$topic" export | jq -c '{key, value: (.value | del(.ingested_at, .reason, .request_id))}' | sort)
	c=$(by_reason "$topic" csv | jq -c '{key, value: (.value | del(.ingested_at, .reason, .request_id))}' | sort)
	check "$topic: the export produced events" test -n "$s"
	is "$topic: export events equal the CSV events" "$s" "$c"
done
is "no token was asked for without a key" "$(stub_stat token) $(stub_stat meta)" "0 0"

ingest "$(sheet 'tracking1/edit?gid=1234567' tab2)"
is "gid picks the exported tab" "$STATUS $(counts)" "200 success 1 0 0"
is "the tab's row" "$(by_reason "$CLICK" tab2 | jq -r .value.ref_number)" "T2R1"

before=$(stub_stat export)
ingest "$(sheet 'redir5-tracking1/edit#gid=1234567' redirected)"
is "5 redirects on the export host are followed" "$STATUS $(counts)" "200 success 1 0 0"
is "6 export requests for it" "$(($(stub_stat export) - before))" 6

conv=$(topic_count "$CONV")
click=$(topic_count "$CLICK")
# expect STATUS LABEL SHEET MESSAGE_REGEX
expect() {
	ingest "$(sheet "$3" bad)"
	is "$2: $1" "$STATUS" "$1"
	if jq -e --arg re "$4" '.status == "error" and (.message | test($re))' <<<"$BODY" >/dev/null 2>&1; then
		ok "$2: message says what to do"
	else
		not_ok "$2: message says what to do" "body: $BODY"
	fi
}
expect 403 "a 6th redirect is refused" 'redir6-tracking1/edit' "redirected more than 5 times"
expect 403 "a redirect to another host is refused" 'evilredir-1/edit' "redirected elsewhere"
expect 403 "private sheet" 'forbidden-1/edit' "not public.*Anyone with the link"
expect 404 "missing sheet" 'nope-1/edit' "not found"
expect 404 "missing tab" 'tracking1/edit#gid=5' "not found"
expect 403 "a sign-in page instead of CSV" 'malformed-1/edit' "web page instead of CSV"
expect 504 "slow export" 'slow-1/edit' "did not answer within 1500 ms"
is "nothing produced by the failures" "$(topic_count "$CONV") $(topic_count "$CLICK")" "$conv $click"
is "no record carries their reason" "$(by_reason "$CLICK" bad; by_reason "$CONV" bad)" ""
