#!/usr/bin/env bash
# Hostile or wrong file_path URLs are refused with 400 before any network call, pooled
# and CGI, with a key (Sheets API) and without one (export): the Google stub counts zero
# requests and nothing reaches Kafka.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
. "$TOP/tests/stubs/google-stub.sh"

make_key_pair k1
start_google_stub "$TOP/tests/data/sheets/stub-sheets.json" "$T/k1.pub" "$SA_EMAIL"
make_sa_json k1
start_broker -p 2

hostile=(
	"https://example.org/spreadsheets/d/tracking1/edit"
	"https://docs.google.com.example.org/spreadsheets/d/tracking1/edit"
	"https://docs.google.com@example.org/spreadsheets/d/tracking1/edit"
	"https://user:pass@docs.google.com/spreadsheets/d/tracking1/edit"
	"https://docs.google.com:443/spreadsheets/d/tracking1/edit"
	"https://docs.google.com:8080/spreadsheets/d/tracking1/edit"
	"http://docs.google.com/spreadsheets/d/tracking1/edit"
	"file:///etc/passwd"
	"file://docs.google.com/spreadsheets/d/tracking1/edit"
	"ftp://docs.google.com/spreadsheets/d/tracking1/edit"
	"gopher://127.0.0.1:70/_x"
	"https://docs.google.com/document/d/tracking1/edit"
	"https://docs.google.com/spreadsheets/d/../../../etc/passwd"
	"https://docs.google.com/spreadsheets/d/track%2Fing1/edit"
	"https://docs%2egoogle%2ecom/spreadsheets/d/tracking1/edit"
	"https://docs.google.com%2eexample.org/spreadsheets/d/tracking1/edit"
	"https://docs.google.com./spreadsheets/d/tracking1/edit"
	"https://docs.google.com\\@example.org/spreadsheets/d/tracking1/edit"
	"https://127.0.0.1/spreadsheets/d/tracking1/edit"
	"https:/docs.google.com/spreadsheets/d/tracking1/edit"
	"https://docs.google.com/spreadsheets/d/tracking1/edit#gid=1x"
	"https://sheets.googleapis.com/v4/spreadsheets/tracking1"
	"$STUB_URL/spreadsheets/d/tracking1/export?format=csv"
)

# refuse_all LABEL PATH: every hostile URL answers 400 with a JSON message.
refuse_all() {
	local label=$1 u n=0 bad=""
	for u in "${hostile[@]}"; do
		INGEST_PATH=$2 ingest "$(jq -nc --arg u "$u" '{file_path: $u, query_param_a: 3}')"
		if [ "$STATUS" = 400 ] && jq -e '.status == "error" and (.message | length > 0)' <<<"$BODY" >/dev/null 2>&1; then
			n=$((n + 1))
		else
			bad="$bad$u -> $STATUS $BODY"$'\n'
		fi
	done
	is "$label: every hostile URL answers 400 with a message" "$n${bad:+ $bad}" "${#hostile[@]}"
}

export GOOGLE_SERVICE_ACCOUNT_KEY=$T/k1.json
start_stack
refuse_all "with a key, pooled" /api/ingest
refuse_all "with a key, CGI" /cgi/api/ingest
ingest '{"file_path":"https://docs.google.com/spreadsheets/d/tracking1/edit?gid=0#gid=1","query_param_a":3}'
check "the message says why (two different gids)" jq -e '.message | test("gid")' <<<"$BODY"
ingest '{"file_path":"https://docs.google.com.example.org/spreadsheets/d/x","query_param_a":3}'
check "the message names the allowed host" jq -e '.message | test("docs.google.com")' <<<"$BODY"
stop_stack

unset GOOGLE_SERVICE_ACCOUNT_KEY
start_stack
refuse_all "without a key (export), pooled" /api/ingest
refuse_all "without a key (export), CGI" /cgi/api/ingest
is "the Google stub saw no request at all" "$(stub_stat requests)" 0
is "nothing reached Kafka" "$(topic_count "$CONV") $(topic_count "$CLICK")" "0 0"
