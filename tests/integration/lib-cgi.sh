# lib-cgi.sh - helpers of the per-request scripts (05xx), sourced after lib.sh.
#
# direct HANDLER [VAR=value...] : runs $BUILD/bin/HANDLER once as a CGI program, the
# serverless way (no web server): the current environment plus the given variables, stdin
# from $DIRECT_BODY (a file; /dev/null when unset), stderr appended to $T/direct.log.
# DIRECT_UNSET names one variable to remove from the environment. Sets RC (exit status),
# STATUS (from the CGI "Status:" line), BODY, and HEADERS (a file
# of the CGI header lines, so lib.sh's `header NAME` works), and LOG (this run's stderr).
J='Content-Type: application/json'

direct() {
	local handler=$1 out="$T/direct.out" err="$T/direct.err"
	shift
	env ${DIRECT_UNSET:+-u "$DIRECT_UNSET"} GATEWAY_INTERFACE=CGI/1.1 REMOTE_ADDR=192.0.2.10 "$@" \
		"$BUILD/bin/$handler" <"${DIRECT_BODY:-/dev/null}" >"$out" 2>"$err"
	RC=$?
	LOG=$(cat "$err")
	cat "$err" >>"$T/direct.log"
	HEADERS="$T/direct-headers"
	# The header block ends at the first empty line (CRLF or LF).
	awk '{ sub(/\r$/, "") } /^$/ { exit } { print }' "$out" >"$HEADERS"
	BODY=$(awk 'done { print; next } { sub(/\r$/, "") } /^$/ { done = 1 }' "$out")
	STATUS=$(sed -n 's/^Status: \([0-9][0-9][0-9]\).*/\1/p' "$HEADERS" | head -1)
}

# body_file TEXT: writes TEXT (no newline added) to a file, points DIRECT_BODY at it and
# sets LEN to its length (for CONTENT_LENGTH).
body_file() {
	DIRECT_BODY="$T/direct-body"
	printf '%s' "$1" >"$DIRECT_BODY"
	LEN=$(stat -c %s "$DIRECT_BODY")
}

# json_error: the last answer is a JSON error with a message.
json_error() {
	jq -e '.status == "error" and (.message | type == "string" and length > 0)' <<<"$BODY" >/dev/null 2>&1
}

# closed_port: a loopback port nothing listens on (for "Kafka is down").
closed_port() { free_port; }
