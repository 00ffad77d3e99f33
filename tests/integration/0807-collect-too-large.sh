#!/usr/bin/env bash
# A Kafka cluster that takes smaller messages than the service's 1,000,000 bytes: its
# message.max.bytes is 100,000, and the operator says so with KAFKA_MESSAGE_MAX_BYTES.
# /collect answers 413 naming that limit and spools nothing, pooled and per request:
# - at the door, for a raw message over the limit less Kafka's framing (97 bytes): the
#   largest message that fits is taken (200), one byte more is not;
# - when Kafka refuses a message anyway as too large: the dev broker's control pipe makes
#   it answer MSG_SIZE_TOO_LARGE (10), as a broker whose limit is below the setting would
#   (librdkafka's mock cluster enforces no size limit of its own).
# None of them is spooled or reaches the raw topic; events_rejected_total{too_large}
# counts them, received = acked + spooled + unavailable + too_large, and a small batch
# right after Kafka's refusal is acknowledged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-metrics.sh"
export KAFKA_MESSAGE_MAX_BYTES=100000 KAFKA_TIMEOUT_MS=15000
RAW=collect-topic1 MAX=$((100000 - 97))
start_broker -p 1 -c "$T/control" || exit 1
start_stack || exit 1
J='Content-Type: application/json'

# body N: a valid batch of one event, N bytes of JSON.
body() {
	local head='{"events":[{"event_type":"view","event_time":1750867000000,"user_id":"u","pad":"'
	local tail='"}]}'
	printf '%s' "$head"
	head -c $(($1 - ${#head} - ${#tail})) /dev/zero | tr '\0' x
	printf '%s' "$tail"
}
# post PATH ID N: a body of N bytes as request ID (every ID is 10 characters long, so
# every envelope has the same length).
post() {
	body "$3" >"$T/body"
	req /collect POST "$1" -H "$J" -H 'User-Agent: t0807' -H "X-Request-Id: $2" \
		--data-binary @"$T/body"
}
# inject: the next produce request is refused with MSG_SIZE_TOO_LARGE (waits until the
# dev broker took the command).
INJECTED=0
inject() {
	INJECTED=$((INJECTED + 1))
	echo "produce-errors 10 1" >"$T/control"
	for _ in $(seq 200); do
		[ "$(grep -c 'devbroker: produce-errors 10 1' "$T/devbroker.log")" -ge "$INJECTED" ] && return 0
		sleep 0.05
	done
	echo "# the dev broker did not take the command"
}
# in_topic: "key value-size" of every message of the raw topic, sorted.
in_topic() {
	timeout 10 kcat -b "$KAFKA_URL" -C -t "$RAW" -o beginning -e -q -f '%k %S\n' 2>/dev/null | sort
}
too_large() {
	[ "$STATUS" = 413 ] && [ "$(header Content-Type)" = "application/json; charset=utf-8" ] &&
		jq -e '.status == "error"' <<<"$BODY" >/dev/null 2>&1 && grep -q "$1" <<<"$BODY"
}

# until SECONDS COMMAND...: runs COMMAND until it succeeds, for SECONDS at most.
until_ok() {
	local end=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# The envelope's length, from a small message as Kafka holds it.
post /collect probe00001 1000
is "a small batch: 200" "$STATUS" 200
has_key() { in_topic | grep -q "^$1 "; }
until_ok 30 has_key probe00001
envelope=$(($(in_topic | awk '$1 == "probe00001" { print $2 }') - 1000 + 10))
check "the envelope's length is known ($envelope bytes, key included)" test "$envelope" -gt 100
fit=$((MAX - envelope))

for path in /collect /cgi/collect; do
	p=${path//\//}
	p=${p:0:4}
	post "$path" "${p}fit001" "$fit"
	is "$path: the largest message that fits the cluster with Kafka's framing ($MAX bytes): 200" \
		"$STATUS" 200
	post "$path" "${p}over01" $((fit + 1))
	if too_large "a message of $((MAX + 1)) bytes; this Kafka cluster takes at most 100000 bytes"; then
		ok "$path: one byte more: 413 naming the cluster's limit"
	else not_ok "$path: one byte more: 413 naming the cluster's limit" "$STATUS $BODY"; fi
	post "$path" "${p}big001" 300000
	if too_large "at most 100000 bytes"; then ok "$path: 300 kB: 413 naming the limit"; else
		not_ok "$path: 300 kB: 413 naming the limit" "$STATUS $BODY"; fi

	inject
	post "$path" "${p}ref001" 50000
	if too_large "Kafka refused the events as too large.*at most 100000 bytes"; then
		ok "$path: Kafka refuses a message as too large: 413 naming the limit"
	else not_ok "$path: Kafka refuses a message as too large: 413 naming the limit" "$STATUS $BODY"; fi
	post "$path" "${p}aft001" 1000
	is "$path: a small batch right after Kafka's refusal: 200" "$STATUS" 200
done

want=$(printf '%s\n' probe00001 collfit001 collaft001 cgicfit001 cgicaft001 | sort)
keys_are() { [ "$(in_topic | awk '{ print $1 }')" = "$1" ]; }
until_ok 30 keys_are "$want"
is "the raw topic holds the batches answered 200, and none answered 413" \
	"$(in_topic | awk '{ print $1 }' | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$want")"
is "the largest messages are in Kafka whole ($MAX bytes, key and value)" \
	"$(in_topic | awk '$1 ~ /fit001$/ { print $2 + length($1) }' | sort -u)" "$MAX"
is "nothing was spooled: the spool holds no record, and nothing was set aside" \
	"$("$BUILD/bin/spooltool" ls "$SPOOL_DIR" | tail -1 | awk '{ print $3 }') $(find "$SPOOL_DIR" -path '*rejected*' -type f | wc -l)" \
	"0 0"
check "the pool's log tells the operator which setting to fix" \
	grep -q "Kafka refused a message of .* KAFKA_MESSAGE_MAX_BYTES=100000" "$T"/run/*.log

scrape
got=""
for s in received acked spooled; do got+="$s=$(metric "events_${s}_total{endpoint=\"/collect\"}") "; done
for r in unavailable too_large; do
	got+="$r=$(metric "events_rejected_total{endpoint=\"/collect\",reason=\"$r\"}") "
done
is "/metrics: 11 received = 5 acked + 0 spooled + 0 unavailable + 6 too large" "$got" \
	"received=11 acked=5 spooled=0 unavailable=0 too_large=6 "
is "events_http_requests_total is the client's tally" \
	"$(metric_requests | grep '^/collect ')" "$(client_requests | grep '^/collect ')"

# A record too large for the cluster can still be in a spool (spooled before the setting
# was lowered): the forwarder's producer refuses it before sending, and the forwarder sets
# it aside like any record Kafka refuses for good, with the records around it forwarded.
big=$(head -c 150000 /dev/zero | tr '\0' x)
printf '%s\t%s\n' spool-a '{"a":1}' spool-b "{\"pad\":\"$big\"}" spool-c '{"c":1}' |
	"$BUILD/bin/spooltool" write -b 3 "$SPOOL_DIR" "$RAW" >/dev/null
spool_empty() { [ "$("$BUILD/bin/spooltool" ls "$SPOOL_DIR" | tail -1 | awk '{ print $1 }')" = 0 ]; }
until_ok 60 spool_empty
is "the stack's forwarder emptied the spool" \
	"$("$BUILD/bin/spooltool" ls "$SPOOL_DIR" | tail -1 | awk '{ print $1 }')" 0
until_ok 30 has_key spool-c
# (the file's first try may have delivered spool-a already: at least once)
is "the records around it are in $RAW" \
	"$(in_topic | awk '$1 ~ /^spool-/ { print $1 }' | sort -u | tr '\n' ' ')" "spool-a spool-c "
is "the one too large is in rejected/" \
	"$("$BUILD/bin/spooltool" cat "$SPOOL_DIR/rejected" | cut -f1 | tr '\n' ' ')" "spool-b "
has_letter() { [ "$(topic_count collect-dlq)" -ge 1 ]; }
until_ok 30 has_letter
is "its dead letter names it and Kafka's reason" \
	"$(timeout 10 kcat -b "$KAFKA_URL" -C -t collect-dlq -o beginning -e -q -f '%s\n' 2>/dev/null |
		jq -r '"\(.request_id) \(.size) \(.reason)"')" \
	"spool-b $((7 + 150010)) Broker: Message size too large"
scrape
is "/metrics: events_spool_rejected_total 1" "$(metric events_spool_rejected_total)" 1
