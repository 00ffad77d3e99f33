#!/usr/bin/env bash
# A Kafka outage as a browser sees it: the broker goes down (data kept), 200 pooled and
# 20 per-request (fcgiwrap) /collect requests are all answered 202 "spooled", fast: the
# failover does not make each request wait KAFKA_TIMEOUT_MS (set to 10 s here, so a
# request that waited for it shows at once). The broker comes back: the stack's forwarder
# replays the spool, every request is in collect-topic1 (duplicates only byte-identical),
# and the consumer turns them into collect-topic2 records.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"

export KAFKA_TIMEOUT_MS=10000
start_broker -p 4 -c "$T/control" || exit 1
start_stack || exit 1
J='Content-Type: application/json'
ev='{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"u1"}]}'

http POST /collect -H "$J" -H 'X-Request-Id: before-outage' -d "$ev"
is "broker up: 200" "$STATUS" 200

echo "down 1" >"$T/control"
# post PATH ID: one request; "code seconds" into $T/res/ID
mkdir -p "$T/res"
post() {
	curl -sS -m 60 -o /dev/null -w '%{http_code} %{time_total}\n' -H "$J" -H "X-Request-Id: $2" \
		-d "$ev" "$BASE_URL$1" >"$T/res/$2" 2>/dev/null
}
export -f post
export J ev T BASE_URL
seq 200 | xargs -P 16 -I{} bash -c 'post /collect out-{}'
seq 20 | xargs -P 4 -I{} bash -c 'post /cgi/collect cgi-{}'
cat "$T"/res/* >"$T/all"
is "all 220 answered 202" "$(awk '{print $1}' "$T/all" | sort | uniq -c | awk '{print $1 "x" $2}')" "220x202"
median=$(awk '{print $2}' "$T/all" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
echo "# answer times: median $median s, slowest $(awk '{print $2}' "$T/all" | sort -n | tail -1) s"
check "median answer well under KAFKA_TIMEOUT_MS (10 s): $median s" \
	awk -v m="$median" 'BEGIN { exit !(m < 5) }'
http GET /health
is "/health during the outage: 200 degraded, disconnected" \
	"$STATUS $(jq -c '[.status, .kafka_status, (.spool.records > 0)]' <<<"$BODY")" \
	'200 ["degraded","disconnected",true]'

echo "up 1" >"$T/control"
{ echo before-outage; seq -f 'out-%g' 200; seq -f 'cgi-%g' 20; } | sort >"$T/want"
for _ in $(seq 600); do
	topic_dump collect-topic1 | jq -r .key | sort -u >"$T/got"
	cmp -s "$T/want" "$T/got" && break
	sleep 0.2
done
is "broker back: every request is in collect-topic1" "$(comm -23 "$T/want" "$T/got" | wc -l)" 0
is "duplicates are byte-identical (one distinct value per key)" \
	"$(topic_dump collect-topic1 | jq -c '[.key, .value]' | sort -u | wc -l)" "$(wc -l <"$T/want")"

stack_topics t0810
start_consumer c
if wait_drained 120; then ok "the consumer transforms them"; else
	not_ok "the consumer transforms them" "$(tail -5 "$CONSUMER_LOG")"; fi
stop_consumer
out_lines "$OUT" | sed 's/^[^\t]*\t{"event_id":"\([^"]*\)-0".*/\1/' | sort -u >"$T/out"
is "every request's event is in collect-topic2" "$(comm -23 "$T/want" "$T/out" | wc -l)" 0
