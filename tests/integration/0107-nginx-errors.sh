#!/usr/bin/env bash
# The errors nginx answers itself (unknown path, wrong method, body over its bound, a bad
# request, a URL or a header too long, its own internal error, a pool that is down) are
# JSON like the handlers' errors, with the same Content-Type; the answer for a pool that
# is down is a 503 with Retry-After.
. "$(dirname "$0")/lib.sh"
export FORCE_DEV_MODE=true
start_stack
JSON='application/json; charset=utf-8'

# nginx_error LABEL STATUS: the last answer is an nginx error of that status, as JSON.
nginx_error() {
	is "$1 -> $2" "$STATUS" "$2"
	is "$1: Content-Type" "$(header Content-Type)" "$JSON"
	check "$1: a JSON error" jq -e '.status == "error" and (.message | length > 0)' <<<"$BODY"
}

http GET /no/such/path
nginx_error "unknown path" 404
http GET /cgi/no/such/path
nginx_error "unknown CGI path" 404
http TRACE /collect
nginx_error "TRACE" 405
head -c $((3 * 1024 * 1024)) /dev/zero | tr '\0' x >"$T/big"
http POST /collect -H 'Content-Type: application/json' --data-binary @"$T/big"
nginx_error "a body over nginx's bound" 413
http GET /collect -H 'Host:'
nginx_error "an HTTP/1.1 request without Host" 400
long=$(head -c 20000 /dev/zero | tr '\0' a)
http GET "/collect?x=$long"
nginx_error "a URL over nginx's bound" 414
http GET /collect -H "X-Long: $long"
nginx_error "a header over nginx's bound (nginx's 494)" 431
http GET /nginx-health
is "nginx's own health is JSON too" "$STATUS $(header Content-Type)" "200 $JSON"

# Stop the /collect pool: nginx cannot reach it and answers for it.
pids=$(cat "$T/run/collect.pid")
kill $pids
for _ in $(seq 100); do
	alive=0
	for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ $alive -eq 0 ] && break
	sleep 0.1
done
is "the /collect pool is gone" "$alive" 0
http POST /collect -H 'Content-Type: application/json' -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}'
nginx_error "pool down" 503
is "pool down: Retry-After" "$(header Retry-After)" 5
rm -f "$T/run/collect.sock"
http POST /collect -H 'Content-Type: application/json' -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}'
nginx_error "pool socket gone" 503
is "pool socket gone: Retry-After" "$(header Retry-After)" 5

# nginx's own failure: it cannot keep a body over client_body_buffer_size in its temporary
# directory (here a file, no longer a directory).
rm -rf "$T/run/nginx-body" && touch "$T/run/nginx-body"
head -c $((1536 * 1024)) /dev/zero | tr '\0' x >"$T/mid"
http POST /collect -H 'Content-Type: application/json' --data-binary @"$T/mid"
nginx_error "nginx's internal error" 500
