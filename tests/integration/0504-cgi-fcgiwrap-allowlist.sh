#!/usr/bin/env bash
# fcgiwrap runs the handlers and nothing else. A FastCGI client on the stack's per-request
# socket that names SCRIPT_FILENAME=/bin/sh, with a shell command as its body, is refused
# (403) and nothing runs; naming a handler, it is served. The socket is the stack's user's
# alone. The installed unit starts fcgiwrap with the same list, on a socket whose group
# holds nginx's user alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cgi.sh"
export FORCE_DEV_MODE=true
start_stack || exit 1
S=$T/run/fcgiwrap.sock

# fcgi NAME=VALUE...: one request on fcgiwrap's socket, body from $T/body; sets FC_RC,
# FC_STATUS (of the CGI "Status:" line) and FC_OUT.
fcgi() {
	"$BUILD/bin/fcgicall" "$S" GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
		REMOTE_ADDR=127.0.0.1 CONTENT_LENGTH="$(stat -c %s "$T/body")" "$@" \
		<"$T/body" >"$T/fcgi.out" 2>"$T/fcgi.err"
	FC_RC=$?
	FC_OUT=$(cat "$T/fcgi.out")
	FC_STATUS=$(sed -n 's/^Status: \([0-9]*\).*/\1/p' "$T/fcgi.out" | head -1)
}

: >"$T/body"
for prog in /bin/sh /bin/bash /usr/bin/env "$BUILD/bin/fcgicall" "$BUILD/bin/../bin/health"; do
	fcgi SCRIPT_FILENAME="$prog" REQUEST_METHOD=GET
	is "SCRIPT_FILENAME=$prog -> 403" "$FC_RC ${FC_STATUS:-none}" "0 403"
done
# With a body, fcgiwrap may still be writing it to the refused child's stdin as the child
# exits: it then answers 502 instead of the child's 403. Either way nothing ran.
printf 'touch %s\n' "$T/pwned" >"$T/body"
fcgi SCRIPT_FILENAME=/bin/sh REQUEST_METHOD=POST
check "SCRIPT_FILENAME=/bin/sh with a shell command as its body -> refused (403, or 502)" \
	test "${FC_STATUS:-none}" = 403 -o "${FC_STATUS:-none}" = 502
check "no shell ran the body: nothing was created" test ! -e "$T/pwned"

: >"$T/body"
fcgi SCRIPT_FILENAME="$BUILD/bin/health" REQUEST_METHOD=GET EVENTS_CONFIG="$T/run/events.conf"
is "SCRIPT_FILENAME naming a handler -> 200 from it" \
	"$FC_STATUS $(sed -n '/^{/p' "$T/fcgi.out" | jq -r .kafka_status)" "200 dev_mode"
http GET /cgi/health
is "nginx's per-request path still works" "$STATUS $(jq -r .status <<<"$BODY")" "200 healthy"
is "the socket is its user's alone" "$(stat -c '%a %U' "$S")" "700 $(id -un)"

# The installed files: the unit's -p list is every handler, the sockets' group is nginx's
# user's alone.
u=$("$TOP/nginx/render" "$TOP/nginx/systemd/events-fcgiwrap.service" RUN=/run/events \
	BIN=/usr/libexec/events CONF=/etc/events USER=events SOCKET_GROUP=events-web)
is "the installed unit runs only the six handlers" \
	"$(grep '^ExecStart=' <<<"$u" | grep -o -- '-p [^ ]*' | tr '\n' ' ')" \
	"-p /usr/libexec/events/collect -p /usr/libexec/events/health -p /usr/libexec/events/home -p /usr/libexec/events/ingest -p /usr/libexec/events/processed_events -p /usr/libexec/events/metrics "
is "its socket's group is the service's socket group, 0660" "$(grep -E '^(Group|UMask)=' <<<"$u" | tr '\n' ' ')" "Group=events-web UMask=0007 "
is "whose only member is nginx's user" \
	"$("$TOP/nginx/render" "$TOP/nginx/systemd/events.sysusers" USER=events STATE=/var/lib/events SOCKET_GROUP=events-web NGINX_USER=www-data | grep -E '^[gm] ')" \
	"g events-web -
m www-data events-web"
