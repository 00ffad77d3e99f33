#!/usr/bin/env bash
# /health through the stack with a spool: healthy while Kafka answers; with the broker
# down, 200 "degraded" while the spool takes /collect and 503 "unhealthy" once it is past
# SPOOL_MAX_BYTES, or off, or cannot be written; "spool": {records, bytes} says what it
# holds. The stack's own forwarder replays the spool once the broker is back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-spool.sh"
. "$(dirname "$0")/lib-cgi.sh"
export KAFKA_TIMEOUT_MS=1500 SPOOL_MAX_BYTES=30000
start_broker -p 4 -c "$T/control" || exit 1
start_stack || exit 1
h() { jq -r '[.status, .kafka_status, (.spool | if . then "\(.records) \(.bytes)" else "no spool" end)] | join(" ")' <<<"$BODY"; }
ls_bytes() { "$BUILD/bin/spooltool" ls "$SPOOL" | tail -1 | awk '{print $5}'; }

http GET /health
is "broker up: 200 healthy, an empty spool" "$STATUS $(h)" "200 healthy connected 0 0"
gen_records 10 early | spool_write
if wait_spool_empty 60; then ok "the stack's forwarder replays the spool"; else
	not_ok "the stack's forwarder replays the spool" "$(tail -5 "$T/run/forwarder.log")"; fi
is "its 10 records are in $TOPIC" "$(topic_lines | grep -c '^early-')" 10

echo "down 1" >"$T/control"
http GET /health
is "broker down, spool empty: 200 degraded" "$STATUS $(h)" "200 degraded disconnected 0 0"
gen_records 20 down | spool_write -b 20
http GET /health
is "broker down, 20 records spooled: 200 degraded, the spool's numbers" \
	"$STATUS $(h)" "200 degraded disconnected 20 $(ls_bytes)"
gen_records 200 more | spool_write -b 200
http GET /health
is "past SPOOL_MAX_BYTES (30000 < $(ls_bytes)): 503 unhealthy" \
	"$STATUS $(h)" "503 unhealthy disconnected 220 $(ls_bytes)"
check "the reason is logged" grep -q "the spool is full" "$T/run/health.log"

# Per request, the serverless way, with other settings.
direct health REQUEST_METHOD=GET SPOOL_MAX_BYTES=1073741824
is "per request, room in the spool: 200 degraded" "$STATUS $(h)" "200 degraded disconnected 220 $(ls_bytes)"
direct health REQUEST_METHOD=GET SPOOL_DIR=off
is "per request, SPOOL_DIR=off: 503 unhealthy, no spool" "$STATUS $(h)" "503 unhealthy disconnected no spool"
: >"$T/not-a-dir"
direct health REQUEST_METHOD=GET SPOOL_DIR="$T/not-a-dir/spool"
is "per request, a spool that cannot be written: 503 unhealthy" "$STATUS $(h)" "503 unhealthy disconnected 0 0"
check "and the reason is logged" grep -q "not-a-dir/spool.*Not a directory" <<<"$LOG"

echo "up 1" >"$T/control"
if wait_spool_empty 60; then ok "broker back: the forwarder empties the spool"; else
	not_ok "broker back: the forwarder empties the spool" "$(tail -5 "$T/run/forwarder.log")"; fi
is "every spooled record is in $TOPIC" "$(topic_lines | grep -cE '^(down|more)-')" 220
http GET /health
is "broker back: 200 healthy, an empty spool" "$STATUS $(h)" "200 healthy connected 0 0"
