#!/usr/bin/env bash
# /metrics as Prometheus sees it: nginx serves it to loopback only (and to what
# METRICS_ALLOW names instead), the text passes promtool check metrics with every family
# present (handlers, forwarder, consumer), and a real Prometheus server, configured by the
# scrape_config of docs/metrics.md, scrapes it every second: up == 1, the events the test
# sent read back through its HTTP API are the test's own count, the consumer's records and
# lag arrive there too, and every query of docs/metrics.md evaluates.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"
. "$(dirname "$0")/lib-metrics.sh"

start_broker -p 2 || exit 1
start_stack || exit 1
J='Content-Type: application/json'

scrape
is "GET /metrics from 127.0.0.1: 200, the exposition format 0.0.4" "$STATUS $(header Content-Type)" \
	"200 text/plain; version=0.0.4"
http GET /metrics --interface 127.0.0.2
is "from another address (127.0.0.2): 403, as JSON" "$STATUS $(jq -r .status <<<"$BODY")" "403 error"
http GET /cgi/metrics --interface 127.0.0.2
is "per request too" "$STATUS" 403

# 25 batches of 2 events, pooled and per request; the consumer transforms them.
sent=0
for i in $(seq 25); do
	path=/collect
	[ $((i % 5)) = 0 ] && path=/cgi/collect
	http POST $path -H "$J" -d '{"events":[{"event_type":"a","event_time":1750867000000,"user_id":"u1"},{"event_type":"b","event_time":1750867000000,"user_id":"u2"}]}'
	[ "$STATUS" = 200 ] && sent=$((sent + 2))
done
is "50 events sent and acknowledged" "$sent" 50
stack_topics t0841
start_consumer c
if wait_drained 120; then ok "the consumer transforms them"; else not_ok "the consumer transforms them" "$(tail -5 "$CONSUMER_LOG")"; fi

# The consumer's counts are in its file at once; its lag gauge within a second or so.
for _ in $(seq 100); do
	scrape
	[ "$(metric 'events_consumer_records_total{outcome="produced"}')" = 50 ] && [ "$(metric events_consumer_lag)" = 0 ] && break
	sleep 0.2
done
is "the consumer's committed records and its lag, in /metrics" \
	"$(metric 'events_consumer_records_total{outcome="produced"}') $(metric events_consumer_lag)" "50 0"
check "every family is there: handlers, Kafka, spool, forwarder, consumer, processes" \
	bash -c 'for f in events_http_requests_total events_http_request_duration_seconds_bucket events_received_total \
		events_acked_total events_spooled_total events_rejected_total events_kafka_produce_duration_seconds_bucket \
		events_kafka_delivery_errors_total events_spool_records events_spool_bytes events_spool_forwarded_total \
		events_consumer_records_total events_consumer_transactions_total events_consumer_lag \
		events_process_start_time_seconds; do grep -q "^$f[{ ]" <<<"$1" || { echo "no $f"; exit 1; }; done' _ "$M"
if out=$(promtool check metrics <<<"$M" 2>&1); then ok "promtool check metrics"; else not_ok "promtool check metrics" "$out"; fi
is "events_build_info: 1, with the service's version and librdkafka's" \
	"$(grep '^events_build_info{' <<<"$M" | sed -E 's/librdkafka="[0-9]+\.[0-9]+\.[0-9]+[^"]*"/librdkafka="X"/')" \
	'events_build_info{version="1.0",librdkafka="X"} 1'
txns=$(metric 'events_consumer_transactions_total{result="committed"}')
check "the consumer committed transactions ($txns)" test "${txns:-0}" -ge 1
is "the consumer's transaction time: one observation per committed transaction" \
	"$(metric events_consumer_transaction_duration_seconds_count)" "$txns"
check "and its +Inf bucket holds them all" \
	test "$(metric 'events_consumer_transaction_duration_seconds_bucket{le="+Inf"}')" = "$txns"

# A Prometheus server of the test's own: the scrape_config of docs/metrics.md, aimed at
# this stack, every second.
awk '/^```yaml$/ { f = 1; next } /^```$/ { f = 0 } f' "$TOP/docs/metrics.md" |
	sed -e "s|targets: .*|targets: ['127.0.0.1:$PORT']|" -e 's|scrape_interval: .*|scrape_interval: 1s|' >"$T/prometheus.yml"
if out=$(promtool check config "$T/prometheus.yml" 2>&1); then ok "the scrape_config of docs/metrics.md is valid"; else
	not_ok "the scrape_config of docs/metrics.md is valid" "$out"; fi
PROM_PORT=$(free_port)
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prometheus-data" \
	--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
trap 'kill $PROM_PID 2>/dev/null; wait $PROM_PID 2>/dev/null; _consumer_cleanup' EXIT
# promql EXPR: the first sample's value ("" when none), its status in PROM_STATUS
promql() {
	local out
	out=$(curl -sS -m 10 -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" 2>/dev/null)
	PROM_STATUS=$(jq -r '.status // "no answer"' <<<"$out" 2>/dev/null)
	jq -r '.data.result[0].value[1] // ""' <<<"$out" 2>/dev/null
}
for _ in $(seq 150); do
	[ "$(promql 'up{job="events"}')" = 1 ] && break
	sleep 0.2
done
is "Prometheus scrapes the stack: up == 1" "$(promql 'up{job="events"}')" 1
for _ in $(seq 100); do
	[ "$(promql 'events_received_total{endpoint="/collect"}')" = "$sent" ] && break
	sleep 0.2
done
is "events_received_total{endpoint=\"/collect\"} through Prometheus' API: the test's own count" \
	"$(promql 'events_received_total{endpoint="/collect"}')" "$sent"
is "events_consumer_records_total{outcome=\"produced\"} there too" \
	"$(promql 'events_consumer_records_total{outcome="produced"}')" "$sent"
is "events_http_requests_total{endpoint=\"/collect\",code=\"200\"}: 25" \
	"$(promql 'events_http_requests_total{endpoint="/collect",code="200"}')" 25
bad=""
while IFS= read -r q; do
	promql "$q" >/dev/null
	[ "$PROM_STATUS" = success ] || bad+="$q ($PROM_STATUS); "
done < <(awk '/^```promql$/ { f = 1; next } /^```$/ { f = 0 } f && !/^#/' "$TOP/docs/metrics.md")
is "every query of docs/metrics.md evaluates" "$bad" ""
stop_consumer

# METRICS_ALLOW names who may read it instead.
stop_stack
METRICS_ALLOW="127.0.0.2" start_stack || exit 1
http GET /metrics --interface 127.0.0.2
is "METRICS_ALLOW=127.0.0.2: that address gets 200" "$STATUS" 200
http GET /metrics
is "and loopback's 127.0.0.1 403" "$STATUS" 403
