#!/usr/bin/env bash
# kill -9 at random points while the consumer works through a backlog of 80,000 events,
# four times, restarting it each time: afterwards collect-topic2 (read_committed) holds
# every event at least once; every duplicate is byte-identical, with the same event_id;
# duplicates are at most kills x the largest transaction. On a real cluster
# (TEST_KAFKA_URL) transactions hide the killed work: zero duplicates.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"

MSGS=${MSGS:-20000} EVENTS=4 KILLS=4
export CONSUMER_TXN_MAX_EVENTS=1000 CONSUMER_TXN_MAX_MS=300
# A transaction closes after the message that reaches the limit: at most limit + EVENTS - 1.
TXN_MAX=$((CONSUMER_TXN_MAX_EVENTS + EVENTS - 1))

consumer_topics t0401 8 16 # ~5 MB kept per partition: room for records and duplicates
start_broker -p 4 $BROKER_TOPICS || exit 1
gen_raw $MSGS $EVENTS c >"$T/raw.tsv"
kcat -P -b "$KAFKA_URL" -t "$RAW" -K '\t' -l "$T/raw.tsv"
is "backlog preloaded" "$(topic_count "$RAW")" $MSGS

busy_kills=0
for k in $(seq $KILLS); do
	before=$(group_lag)
	start_consumer "run$k"
	# Working: the group's committed offsets moved in this run.
	if ! wait_progress "${before:-$MSGS}" 90; then
		not_ok "consumer $k started working" "$(tail -5 "$CONSUMER_LOG")"
		kill_consumer
		break
	fi
	sleep "0.$((RANDOM % 4))$((RANDOM % 10))" # a random point of the transaction cycle
	kill_consumer
	lag=$(group_lag)
	echo "# kill -9 number $k, lag before the run $before, after the kill $lag"
	[ "${lag:-0}" -gt 0 ] && busy_kills=$((busy_kills + 1))
done
is "every kill hit a consumer with a backlog" "$busy_kills" $KILLS

start_consumer final
if wait_drained 120; then ok "restarted consumer completes the backlog"; else
	not_ok "restarted consumer completes the backlog" "$(tail -5 "$CONSUMER_LOG")"; fi
stop_consumer
is "final consumer exits 0 on SIGTERM" "$CONSUMER_RC" 0

out_lines "$OUT" >"$T/out"
sed 's/^[^\t]*\t{"event_id":"\([^"]*\)".*/\1/' "$T/out" >"$T/ids"
sort -u "$T/ids" >"$T/ids.uniq"
for ((i = 0; i < MSGS; i++)); do for ((j = 0; j < EVENTS; j++)); do echo "c-$i-$j"; done; done |
	sort >"$T/ids.want"
lost=$(comm -13 "$T/ids.uniq" "$T/ids.want" | wc -l)
extra=$(comm -23 "$T/ids.uniq" "$T/ids.want" | wc -l)
total=$(wc -l <"$T/out")
distinct=$(wc -l <"$T/ids.uniq")
dups=$((total - distinct))
echo "# measured: $((MSGS * EVENTS)) events, $KILLS kills, $total records read, $dups duplicates, $lost lost"
is "zero loss: every event is in $OUT" "$lost" 0
is "no record that was not expected" "$extra" 0
is "duplicates are byte-identical (one distinct record per event_id)" \
	"$(sort -u "$T/out" | wc -l)" "$distinct"
if [ -n "${TEST_KAFKA_URL:-}" ]; then
	is "real cluster: zero duplicates" "$dups" 0
else
	check "duplicates ($dups) at most kills x transaction size ($((KILLS * TXN_MAX)))" \
		test "$dups" -le $((KILLS * TXN_MAX))
fi
