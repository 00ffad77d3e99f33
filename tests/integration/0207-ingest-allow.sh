#!/usr/bin/env bash
# Without INGEST_API_TOKEN, /api/ingest and /api/processed-events answer only the addresses
# of INGEST_ALLOW (loopback by default), pooled, through fcgiwrap and invoked directly:
# another address gets a 403 JSON error and nothing is ingested; the pooled ingest says so
# once at start (WARN). With the token, any address that sends it is served.
# nginx listens on 127.0.0.1: "another address" is loopback under an INGEST_ALLOW that
# leaves it out, and 192.0.2.10 for the executables invoked directly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
. "$(dirname "$0")/lib-cgi.sh"
export FORCE_DEV_MODE=true
csv ok.csv <<EOT
$H
2025-10-22,REF_A,172.56.209.0,curl/8.0,fp-allow,https://example.com/,LINK_TRACKING
EOT
B='{"file_path":"ok.csv","query_param_a":3}'
stored() { wc -l <"$DEV_STORE" 2>/dev/null || echo 0; }
forbidden() { # the last answer is the 403 of an address INGEST_ALLOW leaves out
	[ "$STATUS" = 403 ] && json_error &&
		jq -e '.message | test("forbidden for this address.*INGEST_API_TOKEN")' <<<"$BODY" >/dev/null
}
new_logs() { [ -d "$T/run" ] && mkdir -p "$T/old-logs" && mv "$T"/run/*.log "$T/old-logs/" 2>/dev/null; }

no_token_warnings() {
	grep -c 'WARN.*INGEST_API_TOKEN is unset: /api/ingest and /api/processed-events answer only INGEST_ALLOW (127.0.0.1 ::1)' "$T/run/ingest.log"
}

# The default: loopback (nginx's 127.0.0.1) is served.
start_stack || exit 1
for p in /api/ingest /cgi/api/ingest; do
	INGEST_PATH=$p ingest "$B"
	is "default INGEST_ALLOW, $p from 127.0.0.1 -> 200" "$STATUS $(counts)" "200 success 1 0 0"
	# the pool answered, so it has started (once, or again if start_stack had to retry)
	[ "$p" = /api/ingest ] && warned=$(no_token_warnings)
	http GET "${p%ingest}processed-events?limit=1"
	is "default INGEST_ALLOW, ${p%ingest}processed-events from 127.0.0.1 -> 200" "$STATUS" 200
done
stop_stack
check "the pooled ingest warned at start that there is no token, and not per request" \
	test "$warned" -ge 1 -a "$(no_token_warnings)" = "$warned"

# An INGEST_ALLOW without loopback: nginx's client is now an address it leaves out.
new_logs
export INGEST_ALLOW="192.0.2.0/24, 2001:db8::/32"
start_stack || exit 1
before=$(stored)
for p in /api/ingest /cgi/api/ingest; do
	INGEST_PATH=$p ingest "$B"
	check "INGEST_ALLOW=$INGEST_ALLOW, $p from 127.0.0.1 -> 403 JSON error" forbidden
	http GET "${p%ingest}processed-events"
	check "INGEST_ALLOW=$INGEST_ALLOW, ${p%ingest}processed-events -> 403 JSON error" forbidden
done
is "nothing was ingested" "$(stored)" "$before"
stop_stack

# With a token: every address that sends it, whatever INGEST_ALLOW says; no warning.
new_logs
export INGEST_API_TOKEN=allow-test-token
start_stack || exit 1
for p in /api/ingest /cgi/api/ingest; do
	INGEST_PATH=$p ingest "$B"
	is "token set, $p without it -> 401" "$STATUS" 401
	INGEST_PATH=$p ingest "$B" -H "Authorization: Bearer $INGEST_API_TOKEN"
	is "token set, $p with it from an address INGEST_ALLOW leaves out -> 200" "$STATUS $(counts)" "200 success 1 0 0"
	http GET "${p%ingest}processed-events?limit=1" -H "Authorization: Bearer $INGEST_API_TOKEN"
	is "token set, ${p%ingest}processed-events with it -> 200" "$STATUS" 200
done
stop_stack
check "with a token the pooled ingest does not warn" bash -c "! grep -q 'INGEST_API_TOKEN is unset' '$T/run/ingest.log'"

# Invoked directly, the serverless way: REMOTE_ADDR is the client.
unset INGEST_API_TOKEN INGEST_ALLOW
body_file "$B"
run_ingest() { direct ingest REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" "$@"; }
before=$(stored)
run_ingest
check "direct, default INGEST_ALLOW, from 192.0.2.10 -> exit 0, 403 JSON error" test "$RC" = 0 -a "$(forbidden && echo y)" = y
is "direct: nothing was ingested" "$(stored)" "$before"
run_ingest REMOTE_ADDR=127.0.0.1
is "direct, default INGEST_ALLOW, from 127.0.0.1 -> 200" "$STATUS $(counts)" "200 success 1 0 0"
run_ingest REMOTE_ADDR=::ffff:127.0.0.1
is "direct, from ::ffff:127.0.0.1 (IPv4-mapped) -> 200" "$STATUS" 200
run_ingest REMOTE_ADDR=::1
is "direct, from ::1 -> 200" "$STATUS" 200
run_ingest REMOTE_ADDR=
check "direct, no REMOTE_ADDR -> 403" forbidden
run_ingest INGEST_ALLOW=192.0.2.0/24
is "direct, INGEST_ALLOW=192.0.2.0/24, from 192.0.2.10 -> 200" "$STATUS" 200
run_ingest INGEST_ALLOW=all
is "direct, INGEST_ALLOW=all, from 192.0.2.10 -> 200" "$STATUS" 200
run_ingest INGEST_API_TOKEN=direct-token HTTP_AUTHORIZATION="Bearer direct-token"
is "direct, token set and sent, from 192.0.2.10 -> 200" "$STATUS" 200
run_ingest INGEST_API_TOKEN=direct-token
is "direct, token set, not sent -> 401" "$STATUS" 401
direct processed_events REQUEST_METHOD=GET
check "direct processed-events from 192.0.2.10 -> 403" forbidden
direct processed_events REQUEST_METHOD=GET REMOTE_ADDR=127.0.0.1
is "direct processed-events from 127.0.0.1 -> 200" "$STATUS" 200
run_ingest INGEST_ALLOW="127.0.0.1 localhost"
check "direct, a malformed INGEST_ALLOW: the process refuses to start, naming the entry" \
	test "$RC" = 1 -a "$(grep -c 'INGEST_ALLOW: \"localhost\" is not an address' <<<"$LOG")" = 1
