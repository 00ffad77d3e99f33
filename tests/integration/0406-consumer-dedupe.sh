#!/usr/bin/env bash
# Copies removed by the consumer, through nginx, the pool, the dev broker and the
# consumer, read back from collect-topic2 with read_committed:
#   (a) one request sent three times (two fetches and a beacon: one id, one body): each
#       event once, and events_consumer_records_total{outcome="duplicate"} + 2 x events;
#   (b) one raw message produced twice straight into collect-topic1: once;
#   (c) one id with two different bodies: both batches, every event_id distinct;
#   and with DEDUPE_WINDOW_MS=0 nothing is removed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"
. "$(dirname "$0")/lib-metrics.sh"

start_broker -p 2 || exit 1
start_stack || exit 1
stack_topics t0406
export CONSUMER_STATS_INTERVAL_MS=300 CONSUMER_TXN_MAX_MS=100
DUP='events_consumer_records_total{outcome="duplicate"}'

# body ID N: a batch of N events whose fields name ID.
body() {
	jq -cn --arg id "$1" --argjson n "$2" '{events: [range($n) as $i |
		{event_type: "product_view", event_time: (1750867000000 + $i), user_id: "u-\($id)-\($i)",
		 product_id: "p\($i)"}], ctx: {browser: "Firefox"}}'
}
# count_ids RID: "event_id count" lines of the records of request RID, sorted.
count_ids() {
	grep -F "\"request_id\":\"$1\"" "$T/out" | cut -f2- | jq -r .event_id | sort | uniq -c |
		awk '{print $2, $1}'
}

start_consumer dedupe

# (a) two fetches and a beacon of one batch.
rid_a=t0406-a-$$
A=$(body a 3)
http POST /collect -H 'Content-Type: application/json' -H "X-Request-Id: $rid_a" --data-binary "$A"
is "(a) first fetch: 200 with the id" "$STATUS $(jq -r .request_id <<<"$BODY")" "200 $rid_a"
http POST /collect -H 'Content-Type: application/json' -H "X-Request-Id: $rid_a" --data-binary "$A"
is "(a) the fetch again: 200 with the id" "$STATUS $(jq -r .request_id <<<"$BODY")" "200 $rid_a"
http POST "/collect?request_id=$rid_a" -H 'Content-Type: text/plain;charset=UTF-8' --data-binary "$A"
is "(a) the beacon (text/plain, ?request_id=): 200 with the id" \
	"$STATUS $(jq -r .request_id <<<"$BODY")" "200 $rid_a"

# (b) one raw message, produced twice by hand.
rid_b=t0406-b-$$
raw_b=$(jq -cn --arg rid "$rid_b" --argjson p "$(body b 2)" \
	'{request_id: $rid, received_at: 1750867000000, client_ip: "10.1.2.3", user_agent: "kcat",
	  payload: $p}')
printf '%s\t%s\n%s\t%s\n' "$rid_b" "$raw_b" "$rid_b" "$raw_b" |
	kcat -P -b "$KAFKA_URL" -t "$RAW" -K '\t'

# (c) one id, two bodies.
rid_c=t0406-c-$$
http POST /collect -H 'Content-Type: application/json' -H "X-Request-Id: $rid_c" \
	--data-binary "$(body c1 2)"
is "(c) first body: 200" "$STATUS" 200
http POST /collect -H 'Content-Type: application/json' -H "X-Request-Id: $rid_c" \
	--data-binary "$(body c2 2)"
is "(c) second body: 200" "$STATUS" 200

if wait_drained 90; then ok "consumer drained $RAW"; else
	not_ok "consumer drained $RAW" "$(tail -5 "$CONSUMER_LOG")"; fi
out_lines "$OUT" >"$T/out"

is "(a) each event once" "$(count_ids "$rid_a" | paste -sd' ')" \
	"$rid_a-0 1 $rid_a-1 1 $rid_a-2 1"
is "(b) each event once" "$(count_ids "$rid_b" | paste -sd' ')" "$rid_b-0 1 $rid_b-1 1"
ids_c=$(count_ids "$rid_c")
is "(c) four records, four distinct event_ids" \
	"$(wc -l <<<"$ids_c") $(awk '$2 != 1' <<<"$ids_c" | wc -l)" "4 0"
is "(c) the first body keeps <request_id>-<index>" \
	"$(grep -c -E "^$rid_c-[01] 1\$" <<<"$ids_c")" 2
is "(c) the second gets <request_id>:<32 hex digits>-<index>" \
	"$(grep -E "^$rid_c:[0-9a-f]{32}-[01] 1\$" <<<"$ids_c" | sed 's/-[01] 1$//' | sort -u | wc -l) $(grep -c -E "^$rid_c:[0-9a-f]{32}-[01] 1\$" <<<"$ids_c")" \
	"1 2"
is "(c) both bodies' events are there" \
	"$(grep -F "\"request_id\":\"$rid_c\"" "$T/out" | cut -f2- | jq -r .user_id | sort | paste -sd' ')" \
	"u-c1-0 u-c1-1 u-c2-0 u-c2-1"
is "nothing in the dead letters" "$(out_lines "$DLQ" | wc -l)" 0
if wait_metric "$DUP" $((2 * 3 + 1 * 2)); then
	ok "duplicate counter: 2 x 3 events of (a) + 2 events of (b)"
else
	not_ok "duplicate counter: 2 x 3 events of (a) + 2 events of (b)"
fi
is "the changelog has an entry for each request kept (a, b, two of c; more after an abort)" \
	"$(($(topic_count "$DEDUPE") >= 4))" 1
stop_consumer
is "consumer exits 0" "$CONSUMER_RC" 0

# Removal off: a new group reads everything again, and the copies pass.
export CONSUMER_GROUP_ID=t0406-off-$$-$RANDOM CONSUMER_TRANSACTIONAL_ID=t0406-off-$$-$RANDOM
before=$(out_lines "$OUT" | wc -l)
DEDUPE_WINDOW_MS=0 start_consumer off
if wait_drained 90; then ok "DEDUPE_WINDOW_MS=0: drained"; else
	not_ok "DEDUPE_WINDOW_MS=0: drained" "$(tail -5 "$CONSUMER_LOG")"; fi
stop_consumer
is "DEDUPE_WINDOW_MS=0: every copy produced (3 x 3 + 2 x 2 + 2 x 2 records)" \
	"$(($(out_lines "$OUT" | wc -l) - before))" 17
