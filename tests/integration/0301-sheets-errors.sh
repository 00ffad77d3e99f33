#!/usr/bin/env bash
# /api/ingest of a sheet when Google says no: 403 (says to share it with the service
# account, whose client_email only the log names), 404, a stub slower than GOOGLE_TIMEOUT_MS, a malformed answer, an answer over
# GOOGLE_MAX_RESPONSE_BYTES, a key Google refuses and an unusable key: each a clear JSON
# error with an honest status, and nothing in Kafka.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
. "$TOP/tests/stubs/google-stub.sh"

make_key_pair k1
make_key_pair k2
start_google_stub "$TOP/tests/data/sheets/stub-sheets.json" "$T/k1.pub" "$SA_EMAIL" \
	--slow-ms 6000 --huge-bytes 400000
make_sa_json k1
make_sa_json k2
cp "$T/k1.json" "$T/key.json"
export GOOGLE_SERVICE_ACCOUNT_KEY=$T/key.json GOOGLE_TIMEOUT_MS=1500 GOOGLE_MAX_RESPONSE_BYTES=200000
start_broker -p 2
POOL_PROCS=1 start_stack # one pooled process: one token

sheet() { echo "{\"file_path\":\"https://docs.google.com/spreadsheets/d/$1/edit\",\"query_param_a\":3}"; }

# expect STATUS LABEL SHEET_ID MESSAGE_REGEX
expect() {
	ingest "$(sheet "$3")"
	is "$2: $1" "$STATUS" "$1"
	if jq -e --arg re "$4" '.status == "error" and (.message | test($re))' <<<"$BODY" >/dev/null 2>&1; then
		ok "$2: message says what to do"
	else
		not_ok "$2: message says what to do" "body: $BODY"
	fi
}

expect 403 "not shared with the service account" forbidden-1 "share the sheet with the service account"
check "403: the answer does not name the service account's client_email" \
	jq -e --arg e "$SA_EMAIL" '.message | contains($e) | not' <<<"$BODY"
check "403: the log does, for the operator" \
	grep -q "WARN.*spreadsheet forbidden-1 is not shared with the service account $SA_EMAIL" "$T/run/ingest.log"
expect 404 "no such spreadsheet" nope-1 "not found"
expect 504 "slow Google" slow-1 "did not answer within 1500 ms"
expect 502 "malformed answer" malformed-1 "malformed"
expect 413 "sheet over the size bound" huge-1 "larger than the 200000 bytes"
ingest "$(sheet tracking1)"
is "the same stack reads a good sheet (the key works)" "$STATUS $(counts)" "200 partial 4 3 0"
is "one token so far" "$(stub_stat token)" 1

meta_before=$(stub_stat meta)
# CGI processes read the key file per request: swap in a key Google does not know.
cp "$T/k2.json" "$T/key.json"
INGEST_PATH=/cgi/api/ingest ingest "$(sheet tracking1)"
is "key refused at token_uri: 502" "$STATUS" 502
check "refused key: message says the token was refused, without the client_email" \
	jq -e --arg e "$SA_EMAIL" '.message | (test("refused") and (contains($e) | not))' <<<"$BODY"
check "refused key: the log names the account" grep -q "WARN.*service account $SA_EMAIL: Google refused" "$T/run/cgi.log"
is "the stub refused that JWT's signature" "$(stub_stat token_refused)" 1
is "no API call with a refused key" "$(stub_stat meta)" "$meta_before"

echo '{"client_email": "x@y", "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"}' >"$T/key.json"
INGEST_PATH=/cgi/api/ingest ingest "$(sheet tracking1)"
is "unusable key: 502" "$STATUS" 502
check "unusable key: the message says so, without the key" \
	jq -e '.message | (test("key") and (contains("BEGIN") | not))' <<<"$BODY"

is "only the good sheet reached Kafka" "$(topic_count "$CONV") $(topic_count "$CLICK")" "2 2"
is "every refusal is in ERROR_LOG" "$(jq -r "select(.row == null) | .status" "$ERROR_LOG" | sort | tr '\n' ' ')" "403 404 413 502 502 502 504 "
leaks=$(cat "$T"/run/*.log "$ERROR_LOG" | grep -e 'PRIVATE KEY' -e 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9' \
	-e "$(sed -n 3p "$T/k1.pem")" -e "$(sed -n 3p "$T/k2.pem")" | head -3)
is "no key or JWT in any log" "$leaks" ""
