#!/usr/bin/env bash
# CLIENT_IP_MODE at /collect's door: truncate keeps the first three octets of IPv4 and the
# first 48 bits of IPv6, drop writes null; what is not kept reaches neither Kafka, the
# spool nor the consumer's records. nginx listens on 127.0.0.1 only: IPv6 is given to the
# CGI executable directly, in REMOTE_ADDR.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cgi.sh"
start_broker -p 1
good='{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"u1"}]}'

# ip_of KEY: the client_ip of the raw message keyed KEY, as JSON.
ip_of() { topic_dump collect-topic1 | jq -c "select(.key==\"$1\") | .value.client_ip"; }

export CLIENT_IP_MODE=truncate
start_stack
http POST /collect -H "$J" -H 'X-Request-Id: ip-trunc-pool' -d "$good"
is "truncate, pooled: 200" "$STATUS" 200
is "truncate, pooled: 127.0.0.1 becomes 127.0.0.0" "$(ip_of ip-trunc-pool)" '"127.0.0.0"'
http POST /cgi/collect -H "$J" -H 'X-Request-Id: ip-trunc-cgi' -d "$good"
is "truncate, fcgiwrap: 127.0.0.1 becomes 127.0.0.0" "$STATUS $(ip_of ip-trunc-cgi)" '200 "127.0.0.0"'
stop_stack

body_file "$good"
for c in "2001:db8:abcd:12:3456:789a:bcde:f012|2001:db8:abcd::|v6" "::ffff:198.51.100.77|::ffff:198.51.100.0|mapped" \
	"198.51.100.77|198.51.100.0|v4" "not-an-address|null|bad"; do
	IFS='|' read -r addr want name <<<"$c"
	direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
		REMOTE_ADDR="$addr" HTTP_X_REQUEST_ID="ip-trunc-$name"
	[ "$want" = null ] || want="\"$want\""
	is "truncate, direct: $addr -> $want" "$STATUS $(ip_of "ip-trunc-$name")" "200 $want"
done

export CLIENT_IP_MODE=drop
start_stack
http POST /collect -H "$J" -H 'X-Request-Id: ip-drop-pool' -d "$good"
is "drop, pooled: client_ip is null" "$STATUS $(ip_of ip-drop-pool)" "200 null"
http POST /cgi/collect -H "$J" -H 'X-Request-Id: ip-drop-cgi' -d "$good"
is "drop, fcgiwrap: client_ip is null" "$STATUS $(ip_of ip-drop-cgi)" "200 null"
stop_stack
direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" \
	REMOTE_ADDR=2001:db8:abcd:12::99 HTTP_X_REQUEST_ID=ip-drop-v6
is "drop, direct IPv6: client_ip is null" "$STATUS $(ip_of ip-drop-v6)" "200 null"

# Kafka away: the spool keeps the message as truncated, never the whole address.
CLIENT_IP_MODE=truncate direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json \
	CONTENT_LENGTH="$LEN" REMOTE_ADDR=203.0.113.77 HTTP_X_REQUEST_ID=ip-spooled \
	KAFKA_URL="127.0.0.1:$(closed_port)" KAFKA_TIMEOUT_MS=1500 SPOOL_DIR="$T/ip-spool"
is "truncate, Kafka down: 202 spooled" "$STATUS" 202
is "truncate, Kafka down: the spool holds 203.0.113.0" \
	"$("$BUILD/bin/spooltool" cat "$T/ip-spool" 2>/dev/null | grep ip-spooled | grep -o '"client_ip":"[^"]*"')" '"client_ip":"203.0.113.0"'
check "truncate, Kafka down: 203.0.113.77 is in no file of the spool" \
	bash -c "! grep -rqF 203.0.113.77 '$T/ip-spool'"

CLIENT_IP_MODE=hide direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN"
is "CLIENT_IP_MODE=hide: exit 1, no answer" "$RC $STATUS" "1 "
check "... and the log names the setting" grep -q 'CLIENT_IP_MODE=hide' <<<"$LOG"
