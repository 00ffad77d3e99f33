#!/usr/bin/env bash
# A failure that involves a server path (here: a dev store that cannot be written) is
# answered without that path; the log line keeps it for the operator. HEAD has no body.
. "$(dirname "$0")/lib.sh"
export FORCE_DEV_MODE=true
export DEV_STORE=/proc/no-such-dir/store.jsonl
start_stack
http POST /collect -H 'Content-Type: application/json' -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}'
is "an unwritable dev store -> 503" "$STATUS" 503
check "the answer names no server path" bash -c "! grep -q '/proc\|no-such-dir' <<<'$BODY'"
is "ERROR_LOG holds the refusal, one line" "$(jq -c '[.endpoint, .status]' "$ERROR_LOG" 2>&1)" '["/collect",503]'
check "and that line names no server path" bash -c "! grep -q 'no-such-dir' '$ERROR_LOG'"
check "the log line does, for the operator" grep -q 'no-such-dir' "$T/run/collect.log"
body='{"x":1}'
out=$(printf '%s' "$body" | REQUEST_METHOD=HEAD "$BUILD/bin/home")
check "HEAD answered directly as CGI has headers" grep -q '^Status: 200' <<<"$out"
is "and no body" "$(printf '%s' "$out" | sed -n '/^\r$/,$p' | tail -n +2 | wc -c)" 0
