#!/usr/bin/env bash
# Nothing /collect accepts can stop the consumer, and no dead letter multiplies a message:
#  1. an event whose record would not fit one Kafka message, sent through /collect, then
#     ordinary events: the ordinary ones come out, the large one is in the output or in a
#     small letter naming it;
#  2. a raw message of 300 bad events (2 KB each) and one good one: the good one comes
#     out, 300 letters, together at most the message's size plus ~700 bytes per letter;
#  3. a produce error Kafka retries (NOT_ENOUGH_REPLICAS): every record arrives, no letter;
#  4. a produce error that is permanent (INVALID_RECORD): the refused records become
#     letters naming the reason, every other record arrives, the consumer goes on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"

consumer_topics t0405 4 4
start_broker -p 4 -c "$T/broker.ctl" $BROKER_TOPICS || exit 1
export COLLECT_RAW_TOPIC=$RAW COLLECT_OUT_TOPIC=$OUT COLLECT_DLQ_TOPIC=$DLQ
start_stack || exit 1
LIMIT=1000000

dlq_lines() {
	kcat -b "$KAFKA_URL" -C -t "$DLQ" -o beginning -e -q -f '%s\n' 2>/dev/null
}
ids_of() { sed 's/^[^\t]*\t{"event_id":"\([^"]*\)".*/\1/' | sort -u; }

# 1. A large event through /collect, then ordinary ones.
{ printf '{"events":[{"event_type":"big","event_time":1750867000000,"user_id":"u","pad":"'
  head -c 999700 /dev/zero | tr '\0' x
  printf '"}]}'; } >"$T/big.json"
http POST /collect -H 'Content-Type: application/json' -H 'X-Request-Id: big-1' -A t \
	--data-binary @"$T/big.json"
is "a large event that fits one raw message is accepted" "$STATUS" 200
for i in $(seq 20); do
	http POST /collect -H 'Content-Type: application/json' -H "X-Request-Id: after-$i" -d \
		"{\"events\":[{\"event_type\":\"a\",\"event_time\":1750867000000,\"user_id\":\"u$i\"}]}"
	[ "$STATUS" = 200 ] || not_ok "ordinary request $i accepted" "$STATUS $BODY"
done
start_consumer c1
if wait_drained 90; then ok "the consumer gets past the large event"; else
	not_ok "the consumer gets past the large event" "$(tail -5 "$CONSUMER_LOG")"; fi
out_lines "$OUT" | ids_of >"$T/ids"
is "every ordinary event came out" "$(grep -c '^after-' "$T/ids")" 20
big_out=$(grep -c '^big-1-0$' "$T/ids")
big_letter=$(dlq_lines | jq -c 'select(.request_id == "big-1" and .event_index == 0)')
if [ "$big_out" = 1 ]; then
	ok "the large event came out whole"
else
	is "the large event is a letter naming it, its size and why" \
		"$(jq -c '[(.size > 1000000), (.error | test("larger than a Kafka message")), has("event")]' <<<"$big_letter")" \
		'[true,true,false]'
fi
check "no message over the limit anywhere" test "$(
	{ out_lines "$OUT"; dlq_lines; } | awk -v m=$LIMIT 'length($0) > m' | wc -l)" = 0
stop_consumer
is "consumer exits 0" "$CONSUMER_RC" 0

# 2. 300 bad events of 2 KB and one good one.
jq -nc '{request_id: "bad-300", received_at: 1, payload: {events: (
	[{event_type: "ok", event_time: 1750867000000, user_id: "good"}] +
	[range(300) | {event_type: "bad", event_time: 1750867000000, pad: ("y" * 2000)}])}}' |
	sed 's/^/bad-300\t/' >"$T/bad300.tsv"
raw_size=$(($(wc -c <"$T/bad300.tsv") - 8 - 1))
kcat -P -b "$KAFKA_URL" -t "$RAW" -K '\t' -l "$T/bad300.tsv"
start_consumer c2
if wait_drained 90; then ok "300 bad events: drained"; else
	not_ok "300 bad events: drained" "$(tail -5 "$CONSUMER_LOG")"; fi
is "the good event came out" "$(out_lines "$OUT" | ids_of | grep -c '^bad-300-0$')" 1
dlq_lines | jq -c 'select(.request_id == "bad-300")' | sort -u >"$T/l300"
is "300 letters" "$(wc -l <"$T/l300")" 300
is "each carries its event, index and reason, not the raw message" \
	"$(jq -c '[has("event"), has("raw"), (.event.pad | length), (.error | test("user_id"))]' "$T/l300" | sort -u)" \
	'[true,false,2000,true]'
is "indices 1..300" "$(jq .event_index "$T/l300" | sort -n | sed -n '1p;$p' | paste -sd,)" "1,300"
bytes=$(awk '{n += length($0)} END {print n}' "$T/l300")
check "letters weigh $bytes bytes: at most the message ($raw_size) + 700 per letter" \
	test "$bytes" -le $((raw_size + 300 * 700))
stop_consumer

# 3. and 4.: produce errors injected into the next produce requests of the consumer,
# which is the only producer while it runs.
phase() { # phase NAME CODE COUNT: 50 messages of 4 events, errors, a consumer run
	gen_raw 50 4 "$1" >"$T/$1.tsv"
	kcat -P -b "$KAFKA_URL" -t "$RAW" -K '\t' -l "$T/$1.tsv"
	echo "produce-errors $2 $3" >"$T/broker.ctl"
	start_consumer "$1"
	if wait_drained 120; then ok "$1: drained"; else
		not_ok "$1: drained" "$(tail -5 "$CONSUMER_LOG")"; fi
	stop_consumer
	is "$1: consumer exits 0" "$CONSUMER_RC" 0
	for ((i = 0; i < 50; i++)); do for ((j = 0; j < 4; j++)); do echo "$1-$i-$j"; done; done |
		sort >"$T/$1.want"
	out_lines "$OUT" | ids_of | grep "^$1-" >"$T/$1.out"
	dlq_lines | jq -r --arg p "$1-" 'select(.request_id // "" | startswith($p)) |
		"\(.request_id)-\(.event_index)\t\(.error)"' | sort >"$T/$1.letters"
}

phase retried 19 3
is "retried: every record arrived" "$(comm -3 "$T/retried.want" "$T/retried.out" | wc -l)" 0
is "retried: no letter" "$(wc -l <"$T/retried.letters")" 0

# Removal of copies off: its changelog records travel in produce requests of their own,
# and the one refused request must be one of records.
DEDUPE_WINDOW_MS=0 phase refused 87 1
lettered=$(cut -f1 "$T/refused.letters" | sort -u) # the dev broker shows aborted ones too
check "refused: some records became letters" test -n "$lettered"
is "refused: every letter names Kafka's reason" \
	"$(cut -f2 "$T/refused.letters" | sed 's/: .*//' | sort -u)" "Kafka refused the record"
is "refused: every event came out or is a letter, once" \
	"$(sort "$T/refused.out" <(printf '%s\n' $lettered) | uniq -u | cmp - "$T/refused.want" && echo same)" same
