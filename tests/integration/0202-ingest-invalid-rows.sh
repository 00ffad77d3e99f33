#!/usr/bin/env bash
# Invalid input in the file: a missing column is a 422 before anything is produced (high
# watermarks unchanged); every kind of bad row is counted and reported with its 1-based
# data row and field, at most 100 in the answer and every one in ERROR_LOG; no valid row
# is a 422; a 10 MB field is a row error, not a crash.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
start_broker -p 2
start_stack

marks() { echo "$(topic_count "$CONV") $(topic_count "$CLICK")"; }
before=$(marks)

# Missing column (URL), with otherwise valid rows: nothing may be produced.
csv nourl.csv <<EOT
DATE,REF_NUMBER,IP,USER_AGENT,USER_FP,SOURCE
2025-10-22,R1,10.0.0.1,ua,fp,COOKIE
2025-10-22,R2,10.0.0.2,ua,fp,LINK_TRACKING
EOT
ingest '{"file_path":"nourl.csv","query_param_a":3}'
is "missing column -> 422" "$STATUS $(jq -r .status <<<"$BODY")" "422 error"
check "the message names the missing column" jq -e '.message | test("URL")' <<<"$BODY"
printf 'date,ip\n2025-10-22,1.2.3.4\n' >"$INGEST_DATA_DIR/two-missing.csv"
ingest '{"file_path":"two-missing.csv","query_param_a":3}'
is "several missing columns are all named" "$STATUS $(jq -r .message <<<"$BODY" | grep -o 'REF_NUMBER, USER_AGENT, USER_FP, URL, SOURCE (' )" "422 REF_NUMBER, USER_AGENT, USER_FP, URL, SOURCE ("
is "nothing produced by a header refusal (high watermarks unchanged)" "$(marks)" "$before"

# One bad row of every kind, between good ones.
lines0=$(cat "$ERROR_LOG" 2>/dev/null | wc -l)
csv bad.csv <<EOT
$H
2025-10-22,G1,10.0.0.1,ua,fp-g1,https://e.com,COOKIE
2025-02-30,B2,10.0.0.2,ua,fp,https://e.com,COOKIE
2025-10-22,,10.0.0.3,ua,fp,https://e.com,COOKIE
2025-10-22,B4,10.0.0.300,ua,fp,https://e.com,COOKIE
2025-10-22,B5,10.0.0.5,ua,,https://e.com,COOKIE
2025-10-22,B6,10.0.0.6,ua,fp,mailto:x@e.com,COOKIE
2025-10-22,B7,10.0.0.7,ua,fp,https://e.com,WEB
2025-10-22,B8,10.0.0.8,ua
2025-10-22,G9,::1,ua,fp-g9,http://e.com,LINK_TRACKING
2025/10/22,B10,10.0.0.10,ua,fp,https://e.com,COOKIE
EOT
ingest '{"file_path":"bad.csv","query_param_a":2,"reason":"bad"}' -H 'X-Request-Id: bad-rows-1'
is "bad rows: partial, 2 processed, 8 errors" "$STATUS $(counts)" "200 partial 2 8 0"
is "each error names its 1-based data row and field" "$(jq -c '[.errors[] | [.row, .field]]' <<<"$BODY")" \
	'[[2,"DATE"],[3,"REF_NUMBER"],[4,"IP"],[5,"USER_FP"],[6,"URL"],[7,"SOURCE"],[8,"USER_FP"],[10,"DATE"]]'
check "every error has a message" jq -e '[.errors[] | .message | length > 0] | all' <<<"$BODY"
is "only the good rows landed" "$( (by_reason "$CONV" bad; by_reason "$CLICK" bad) | jq -r .value.ref_number | sort | tr '\n' ' ')" "G1 G9 "
is "each bad row is one ERROR_LOG line with row and field" \
	"$(jq -c 'select(.request_id=="bad-rows-1" and .row) | [.row, .field, .status, .endpoint]' "$ERROR_LOG" | tr '\n' ' ')" \
	'[2,"DATE",422,"/api/ingest"] [3,"REF_NUMBER",422,"/api/ingest"] [4,"IP",422,"/api/ingest"] [5,"USER_FP",422,"/api/ingest"] [6,"URL",422,"/api/ingest"] [7,"SOURCE",422,"/api/ingest"] [8,"USER_FP",422,"/api/ingest"] [10,"DATE",422,"/api/ingest"] '

# COOKIE rows without query_param_a are row errors; LINK_TRACKING rows do not need it.
csv noa.csv <<EOT
$H
2025-10-22,A1,10.0.0.1,ua,fp-a1,https://e.com,COOKIE
2025-10-22,A2,10.0.0.2,ua,fp-a2,https://e.com,LINK_TRACKING
EOT
ingest '{"file_path":"noa.csv","query_param_a":null,"reason":"noa"}'
is "no query_param_a: the COOKIE row is an error, the click goes through" "$STATUS $(counts) $(jq -c '[.errors[] | [.row, .field]]' <<<"$BODY")" \
	'200 partial 1 1 0 [[1,"query_param_a"]]'

# 250 bad rows: 100 in the answer, 250 in ERROR_LOG; no valid row -> 422.
{
	echo "$H"
	for i in $(seq 250); do echo "2025-10-22,R$i,bad-ip,ua,fp,https://e.com,COOKIE"; done
} >"$INGEST_DATA_DIR/many-bad.csv"
ingest '{"file_path":"many-bad.csv","query_param_a":1}' -H 'X-Request-Id: many-bad-1'
is "no valid row -> 422 with the counts" "$STATUS $(counts)" "422 error 0 250 0"
is "the answer lists the first 100 errors" "$(jq -c '[.errors | length, .[0].row, .[99].row]' <<<"$BODY")" "[100,1,100]"
check "the message says more are in the error log" jq -e '.message | test("error log")' <<<"$BODY"
is "ERROR_LOG has all 250 rows" "$(jq -c 'select(.request_id=="many-bad-1" and .row)' "$ERROR_LOG" | wc -l)" 250
is "ERROR_LOG rows are 1..250" "$(jq -r 'select(.request_id=="many-bad-1" and .row) | .row' "$ERROR_LOG" | sort -n | sed -n '1p;$p' | tr '\n' ' ')" "1 250 "
check "ERROR_LOG lines are whole JSON objects" jq -e -s 'length > 250' "$ERROR_LOG"

# A 10 MB single field: a row error naming the field, the next row still processed.
{
	echo "$H"
	printf '2025-10-22,BIG,10.0.0.1,'
	head -c 10485760 /dev/zero | tr '\0' 'x'
	printf ',fp,https://e.com,COOKIE\n'
	echo "2025-10-22,AFTER,10.0.0.2,ua,fp-after,https://e.com,COOKIE"
} >"$INGEST_DATA_DIR/huge-field.csv"
ingest '{"file_path":"huge-field.csv","query_param_a":1,"reason":"huge"}'
is "10 MB field: partial, the next row processed" "$STATUS $(counts)" "200 partial 1 1 0"
is "10 MB field: the error says which field and the bound" "$(jq -c '.errors' <<<"$BODY")" \
	'[{"row":1,"field":null,"message":"the CSV record cannot be read: field 4 is longer than 65536 bytes"}]'
is "10 MB field: only the next row landed" "$(by_reason "$CONV" huge | jq -r .value.ref_number)" "AFTER"

# A binary file: every line a row error or the header refused, never a crash.
head -c 200000 /dev/urandom >"$INGEST_DATA_DIR/random.bin"
ingest '{"file_path":"random.bin","query_param_a":1}'
is "random bytes -> 422" "$STATUS" 422
http GET /health
is "the service still answers" "$STATUS" 200
