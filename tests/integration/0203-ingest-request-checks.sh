#!/usr/bin/env bash
# /api/ingest request checks (dev mode, nothing else needed): hostile paths are refused
# with 400 and a message that does not show server paths; bad parameters, bodies,
# content types and methods get their status; INGEST_API_TOKEN guards both endpoints.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
export FORCE_DEV_MODE=true
start_stack

echo "$H" >"$INGEST_DATA_DIR/ok.csv"
echo "2025-10-22,R1,10.0.0.1,ua,fp-1,https://e.com,COOKIE" >>"$INGEST_DATA_DIR/ok.csv"
mkdir -p "$INGEST_DATA_DIR/sub" "$T/outside"
cp "$INGEST_DATA_DIR/ok.csv" "$INGEST_DATA_DIR/sub/inner.csv"
cp "$INGEST_DATA_DIR/ok.csv" "$T/outside/secret.csv"
ln -s "$T/outside/secret.csv" "$INGEST_DATA_DIR/abs-link.csv"
ln -s ../outside/secret.csv "$INGEST_DATA_DIR/rel-link.csv"
ln -s "$T/outside" "$INGEST_DATA_DIR/dir-link"
ln -s sub/inner.csv "$INGEST_DATA_DIR/inner-link.csv"
ln -s "$INGEST_DATA_DIR/ok.csv" "$INGEST_DATA_DIR/abs-in.csv"
ln -s "$INGEST_DATA_DIR/sub" "$INGEST_DATA_DIR/abs-dir-in"
mkfifo "$INGEST_DATA_DIR/fifo.csv"

ingest '{"file_path":"ok.csv","query_param_a":3}'
is "a plain relative path works" "$STATUS $(counts)" "200 success 1 0 0"
ingest '{"file_path":"sub/inner.csv","query_param_a":3}'
is "a file in a subdirectory works" "$STATUS $(counts)" "200 success 1 0 0"
ingest '{"file_path":"inner-link.csv","query_param_a":3}'
is "a symlink that stays inside works" "$STATUS $(counts)" "200 success 1 0 0"
ingest '{"file_path":"abs-in.csv","query_param_a":3}'
is "an absolute symlink that stays inside works" "$STATUS $(counts)" "200 success 1 0 0"
INGEST_PATH=/cgi/api/ingest ingest '{"file_path":"abs-dir-in/inner.csv","query_param_a":3}'
is "CGI: an absolute symlink to a directory inside works" "$STATUS $(counts)" "200 success 1 0 0"
stored=$(wc -l <"$DEV_STORE")

# refused STATUS LABEL JSON [curl args]: the answer is STATUS with a JSON error that shows
# no server path.
refused() {
	local want=$1 label=$2 body=$3
	shift 3
	ingest "$body" "$@"
	if [ "$STATUS" = "$want" ] && jq -e '.status=="error" and (.message|length>0)' <<<"$BODY" >/dev/null 2>&1 &&
		! grep -qF -e "$T" -e "$TOP" <<<"$BODY"; then
		ok "$label -> $want"
	else
		not_ok "$label -> $want" "status $STATUS body $BODY"
	fi
}
refused 400 "absolute path" '{"file_path":"'"$INGEST_DATA_DIR"'/ok.csv","query_param_a":3}'
refused 400 "/etc/passwd" '{"file_path":"/etc/passwd","query_param_a":3}'
refused 400 "dot-dot out" '{"file_path":"../outside/secret.csv","query_param_a":3}'
refused 400 "dot-dot that comes back inside" '{"file_path":"sub/../ok.csv","query_param_a":3}'
refused 400 "absolute symlink out" '{"file_path":"abs-link.csv","query_param_a":3}'
refused 400 "relative symlink out" '{"file_path":"rel-link.csv","query_param_a":3}'
refused 400 "symlinked directory out" '{"file_path":"dir-link/secret.csv","query_param_a":3}'
refused 400 "a directory" '{"file_path":"sub","query_param_a":3}'
refused 400 "the data directory itself" '{"file_path":".","query_param_a":3}'
refused 400 "a FIFO (no hang)" '{"file_path":"fifo.csv","query_param_a":3}'
refused 400 "a missing file" '{"file_path":"nope.csv","query_param_a":3}'
refused 400 "a file under a file" '{"file_path":"ok.csv/x","query_param_a":3}'
refused 400 "NUL in the path" '{"file_path":"ok.csv\u0000.txt","query_param_a":3}'
refused 400 "an arbitrary URL" '{"file_path":"https://evil.example/x.csv","query_param_a":3}'
refused 400 "a file:// URL" '{"file_path":"file:///etc/passwd","query_param_a":3}'
ingest '{"file_path":"../outside/secret.csv"}'
check "the dot-dot message is clear" jq -e '.message | test("\\.\\.")' <<<"$BODY"
ingest '{"file_path":"rel-link.csv"}'
check "the symlink message says outside the data directory" jq -e '.message | test("outside the data directory")' <<<"$BODY"
ingest '{"file_path":"dir-link/secret.csv"}'
through_link=$BODY
refused 400 "symlinked directory out, to a missing file" '{"file_path":"dir-link/nope.csv","query_param_a":3}'
is "a link out says the same whether the file there exists or not" \
	"$(jq -r .message <<<"$BODY")" "$(jq -r .message <<<"$through_link")"
ingest '{"file_path":"nope.csv"}'
check "the missing-file message is clear" jq -e '.message | test("does not name an existing file")' <<<"$BODY"

refused 400 "file_path missing" '{"query_param_a":3}'
refused 400 "file_path empty" '{"file_path":""}'
refused 400 "file_path a number" '{"file_path":5}'
for a in 0 4 '"4"' '"0"' '"three"' 3.0 true '[3]' '"03"' '" 3"' '""'; do
	refused 400 "query_param_a $a" '{"file_path":"ok.csv","query_param_a":'"$a"'}'
done
for d in '"2025-02-30"' '"20251022"' 20251022 '"2025-10-22T00:00:00"' '""'; do
	refused 400 "date $d" '{"file_path":"ok.csv","query_param_a":3,"date":'"$d"'}'
done
r257=$(printf 'r%.0s' $(seq 257))
refused 400 "reason of 257 characters" '{"file_path":"ok.csv","query_param_a":3,"reason":"'"$r257"'"}'
refused 400 "reason not a string" '{"file_path":"ok.csv","query_param_a":3,"reason":7}'
e256=$(printf '\xc3\xa9%.0s' $(seq 256))
ingest '{"file_path":"ok.csv","query_param_a":3,"reason":"'"$e256"'"}'
is "reason of 256 two-byte characters is fine" "$STATUS $(counts)" "200 success 1 0 0"
refused 400 "malformed JSON" '{"file_path":'
refused 400 "body is an array" '["ok.csv"]'
refused 400 "duplicate keys" '{"file_path":"nope.csv","file_path":"ok.csv"}'
refused 400 "empty body" ''
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
http POST /api/ingest -H "$J" --data-binary @"$T/big.json"
is "a body over 64 KiB -> 413" "$STATUS $(jq -r .status <<<"$BODY")" "413 error"
http POST /api/ingest -H 'Content-Type: text/csv' --data-binary @"$INGEST_DATA_DIR/ok.csv"
is "text/csv body -> 415" "$STATUS $(jq -r .status <<<"$BODY")" "415 error"
http GET /api/ingest
is "GET /api/ingest -> 405" "$STATUS $(jq -r .status <<<"$BODY")" "405 error"
check "405 says Allow: POST" grep -qi '^Allow: POST' "$HEADERS"
INGEST_PATH=/cgi/api/ingest refused 400 "CGI: symlink out" '{"file_path":"abs-link.csv","query_param_a":3}'
is "nothing stored by the refusals (one accepted ingest among them)" "$(wc -l <"$DEV_STORE")" "$((stored + 1))"

# INGEST_API_TOKEN: both endpoints need the bearer token, pooled and per request.
stop_stack
export INGEST_API_TOKEN='s3cret-token'
start_stack
for p in /api/ingest /cgi/api/ingest; do
	INGEST_PATH=$p ingest '{"file_path":"ok.csv","query_param_a":3}'
	is "$p without a token -> 401 JSON" "$STATUS $(jq -r .status <<<"$BODY")" "401 error"
	INGEST_PATH=$p ingest '{"file_path":"ok.csv","query_param_a":3}' -H 'Authorization: Bearer s3cret-tokeN'
	is "$p with a wrong token -> 401" "$STATUS" 401
	INGEST_PATH=$p ingest '{"file_path":"ok.csv","query_param_a":3}' -H 'Authorization: Bearer s3cret-token-and-more'
	is "$p with a longer token -> 401" "$STATUS" 401
	INGEST_PATH=$p ingest '{"file_path":"ok.csv","query_param_a":3}' -H 'Authorization: Basic s3cret-token'
	is "$p with another scheme -> 401" "$STATUS" 401
	INGEST_PATH=$p ingest '{"file_path":"ok.csv","query_param_a":3}' -H 'Authorization: Bearer s3cret-token'
	is "$p with the token -> 200" "$STATUS $(counts)" "200 success 1 0 0"
done
http GET /api/processed-events
is "processed-events without a token -> 401" "$STATUS $(jq -r .status <<<"$BODY")" "401 error"
http GET /api/processed-events -H 'Authorization: Bearer s3cret-token'
is "processed-events with the token -> 200" "$STATUS" 200
check "the token is in no log" bash -c "! grep -rq s3cret-token '$ERROR_LOG' '$T'/run/*.log"
