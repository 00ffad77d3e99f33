#!/usr/bin/env bash
# CSV edge cases through the whole stack: BOM, CRLF, quoted commas, line breaks and "",
# header order and case, extra columns. The values land in Kafka exactly, and the
# event_ids equal those of the same rows written plainly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
start_broker -p 2
start_stack

# The reference: plain LF file, documented column order.
csv plain.csv <<EOT
$H
2025-10-22,R1,10.1.1.1,plain-ua,fp-1,https://e.com/a,COOKIE
2025-10-22,R2,10.1.1.2,plain-ua,fp-2,https://e.com/b,LINK_TRACKING
EOT
ingest '{"file_path":"plain.csv","query_param_a":3,"reason":"plain"}'
is "plain file: 2 processed" "$STATUS $(counts)" "200 success 2 0 0"

# The same rows: BOM, CRLF, header in another order and case, extra columns, every
# value quoted.
printf '\xef\xbb\xbfextra,Source,url,User_FP,user_agent,IP,ref_number,date,more\r\n' >"$INGEST_DATA_DIR/messy.csv"
printf '"x","COOKIE","https://e.com/a","fp-1","plain-ua","10.1.1.1","R1","2025-10-22","y"\r\n' >>"$INGEST_DATA_DIR/messy.csv"
printf 'z,LINK_TRACKING,https://e.com/b,fp-2,plain-ua,10.1.1.2,R2,2025-10-22,\r\n' >>"$INGEST_DATA_DIR/messy.csv"
ingest '{"file_path":"messy.csv","query_param_a":"3","reason":"messy"}'
is "BOM + CRLF + shuffled header + extra columns: 2 processed" "$STATUS $(counts)" "200 success 2 0 0"
ids() { (by_reason "$CONV" "$1"; by_reason "$CLICK" "$1") | jq -r '.value.ref_number + " " + .value.event_id' | sort; }
is "same rows, same event_ids whatever the file's layout" "$(ids messy)" "$(ids plain)"
is "values are the same too" \
	"$( (by_reason "$CONV" messy; by_reason "$CLICK" messy) | jq -c '.value | del(.reason, .ingested_at, .request_id)' | sort)" \
	"$( (by_reason "$CONV" plain; by_reason "$CLICK" plain) | jq -c '.value | del(.reason, .ingested_at, .request_id)' | sort)"

# Quoting: commas, line breaks and "" inside values.
{
	echo "$H"
	printf '2025-10-22,"R,3",10.1.1.3,"Mozilla/5.0 (X11, Linux) ""quoted""",fp-3,"https://e.com/?q=a,b",COOKIE\n'
	printf '2025-10-22,R4,10.1.1.4,"two\nlines",fp-4,https://e.com/c,LINK_TRACKING\n'
	printf '2025-10-22,R5,10.1.1.5,,fp-5,https://e.com/d,LINK_TRACKING\n'
	printf '2025-10-22,R6,10.1.1.6,"",fp-6,https://e.com/e,LINK_TRACKING'  # no final line break
} >"$INGEST_DATA_DIR/quoted.csv"
ingest '{"file_path":"quoted.csv","query_param_a":1,"reason":"quoted"}'
is "quoted commas, line breaks, \"\" and a last line without break: 4 processed" "$STATUS $(counts)" "200 success 4 0 0"
is "quoted values land exactly" \
	"$( (by_reason "$CONV" quoted; by_reason "$CLICK" quoted) | jq -c '.value | [.ref_number, .user_agent, .url]' | sort)" \
	"$(printf '%s\n' '["R,3","Mozilla/5.0 (X11, Linux) \"quoted\"","https://e.com/?q=a,b"]' '["R4","two\nlines","https://e.com/c"]' '["R5","","https://e.com/d"]' '["R6","","https://e.com/e"]')"

# Malformed quoting is a row error naming the problem; the rows after it still count.
{
	echo "$H"
	printf '2025-10-22,R7,10.1.1.7,bad"quote,fp-7,https://e.com,COOKIE\n'
	printf '2025-10-22,R8,10.1.1.8,ua,fp-8,https://e.com,COOKIE\n'
	printf '2025-10-22,R9,10.1.1.9,"never closed,fp-9,https://e.com,COOKIE\n'
	printf '2025-10-22,R10,10.1.1.10,ua,fp-10,https://e.com,COOKIE\n'
} >"$INGEST_DATA_DIR/badquote.csv"
ingest '{"file_path":"badquote.csv","query_param_a":1,"reason":"badquote"}'
is "malformed quoting: 1 processed, 2 row errors" "$STATUS $(counts)" "200 partial 1 2 0"
is "the errors name row and problem" "$(jq -c '[.errors[] | [.row, .message]]' <<<"$BODY")" \
	'[[1,"the CSV record cannot be read: field 4 has a quote but does not start with one"],[3,"the CSV record cannot be read: field 4 has an opening quote that is never closed"]]'
is "only the good row landed" "$(by_reason "$CONV" badquote | jq -r .value.ref_number)" "R8"

# Blank lines are not rows; a header with a BOM and spaces around names still maps.
printf '\xef\xbb\xbf DATE , REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE\n\n2025-10-22,R11,10.1.1.11,ua,fp-11,https://e.com,COOKIE\n\n\n' >"$INGEST_DATA_DIR/blank.csv"
ingest '{"file_path":"blank.csv","query_param_a":2,"reason":"blank"}'
is "blank lines skipped: 1 processed" "$STATUS $(counts)" "200 success 1 0 0"

# Header only: nothing to do, still a success.
echo "$H" >"$INGEST_DATA_DIR/header-only.csv"
ingest '{"file_path":"header-only.csv","query_param_a":2}'
is "header only: 200, 0 processed" "$STATUS $(counts) $(jq -r .message <<<"$BODY")" "200 success 0 0 0 The file has no data rows"
: >"$INGEST_DATA_DIR/empty.csv"
ingest '{"file_path":"empty.csv","query_param_a":2}'
is "empty file: 422" "$STATUS" 422
check "empty file: the message asks for a header" jq -e '.message | test("header")' <<<"$BODY"
