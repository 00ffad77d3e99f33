#!/usr/bin/env bash
# kill -9 of the consumer in a loop while 20,000 events (400 requests of 50) flow through
# nginx and the pool, with copies among them (a quarter of the requests sent twice, as a
# fetch and as a beacon):
#   - every event is in collect-topic2 (read_committed);
#   - no event appears more often than the dev broker explains: it shows the records of
#     the transaction a kill left open (each kill: at most one transaction, byte-identical
#     records with the same event_id); on a real cluster (TEST_KAFKA_URL), none;
#   - on the next clean pass (a consumer started after the kills, its window restored
#     from the changelog) every request sent once more is removed as a copy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"
. "$(dirname "$0")/lib-metrics.sh"

REQS=${REQS:-400} EVENTS=50 COPIES=$((REQS / 4)) KILLS=4
export CONSUMER_TXN_MAX_EVENTS=1000 CONSUMER_TXN_MAX_MS=300
TXN_MAX=$((CONSUMER_TXN_MAX_EVENTS + EVENTS - 1))

start_broker -p 4 || exit 1
start_stack || exit 1
stack_topics t0408
export CONSUMER_STATS_INTERVAL_MS=300
export RDKAFKA_SESSION_TIMEOUT_MS=6000 RDKAFKA_HEARTBEAT_INTERVAL_MS=1000
DUP='events_consumer_records_total{outcome="duplicate"}'
P=t0408-$$

# The requests: one body file each; the list to send is every request once and COPIES of
# them again, the copy as a beacon (text/plain, ?request_id=), in shuffled order.
mkdir -p "$T/req"
jq -cn --arg p "$P" --argjson n "$REQS" --argjson k "$EVENTS" '
	range($n) as $i | {events: [range($k) as $j | {event_type: "product_view",
	  event_time: (1750867000000 + $i * 1000 + $j), user_id: "u-\($i % 97)", product_id: "p\($j)"}]}' |
	split -l 1 -a 5 -d - "$T/req/b"
{
	for ((i = 0; i < REQS; i++)); do printf '%s-%d %s/req/b%05d json\n' "$P" "$i" "$T" "$i"; done
	for ((i = 0; i < REQS; i += REQS / COPIES)); do printf '%s-%d %s/req/b%05d beacon\n' "$P" "$i" "$T" "$i"; done
} | shuf >"$T/list"
# send LIST CODES: every line of LIST posted to /collect, 4 at a time; the status codes
# appended to CODES.
send() {
	xargs -P 4 -L 1 sh -c '
		if [ "$2" = beacon ]; then
			curl -s -m 60 -o /dev/null -w "%{http_code}\n" -H "Content-Type: text/plain" \
				--data-binary "@$1" "$0/collect?request_id=$3"
		else
			curl -s -m 60 -o /dev/null -w "%{http_code}\n" -H "Content-Type: application/json" \
				-H "X-Request-Id: $3" --data-binary "@$1" "$0/collect"
		fi' "$BASE_URL" <<<"$(awk '{print $2, $3, $1}' "$1")" >>"$2"
}

# work: records and duplicates of the consumers' committed transactions, from /metrics
# (the counters of killed consumers stay).
work() {
	local p d
	scrape
	p=$(metric 'events_consumer_records_total{outcome="produced"}')
	d=$(metric "$DUP")
	echo $((${p:-0} + ${d:-0}))
}
# wait_work BEFORE SECONDS: the running consumer committed a transaction past BEFORE.
wait_work() {
	for ((i = 0; i < $2 * 4; i++)); do
		[ "$(work)" -gt "$1" ] && return 0
		kill -0 "$CONSUMER_PID" 2>/dev/null || return 1
		sleep 0.25
	done
	return 1
}

# wait_started: the running consumer is in /metrics (its signal handler is in place).
wait_started() {
	for _ in $(seq 300); do
		scrape
		grep -q "^events_process_start_time_seconds{process=\"consumer\",pid=\"$CONSUMER_PID\"}" <<<"$M" &&
			return 0
		sleep 0.1
	done
	return 1
}

# The requests go in KILLS parts, one part beside each consumer run, so that every run
# has work however fast the previous one was, and is killed while requests flow.
split -n l/$KILLS -d "$T/list" "$T/part"
kills=0
for ((k = 1; k <= KILLS; k++)); do
	send "$T/part$(printf %02d $((k - 1)))" "$T/codes" &
	sender=$!
	before=$(work)
	start_consumer "run$k"
	if ! wait_work "$before" 120; then
		not_ok "consumer $k started working" \
			"$(grep -E 'assigned|revoked|WARN|ERROR|rebalance' "$CONSUMER_LOG" | tail -8; tail -2 "$CONSUMER_LOG")"
		kill_consumer
		wait "$sender"
		break
	fi
	sleep "0.$((RANDOM % 10))" # a random point of the transaction cycle
	kill_consumer
	kills=$((kills + 1))
	echo "# kill -9 number $k: $before records and duplicates committed before the run, $(work) after the kill"
	wait "$sender"
done
check "the consumer was killed $KILLS times while requests flowed ($kills)" test "$kills" -eq $KILLS
is "every request accepted (200, or 202 when spooled)" \
	"$(grep -c -v -E '^(200|202)$' "$T/codes") $(wc -l <"$T/codes")" "0 $((REQS + COPIES))"
# A spooled request reaches Kafka through the forwarder: wait for every raw message.
for _ in $(seq 300); do
	[ "$(topic_count "$RAW")" -ge $((REQS + COPIES)) ] && break
	sleep 0.2
done
is "every request is in $RAW" "$(($(topic_count "$RAW") >= REQS + COPIES))" 1

start_consumer final
if wait_drained 180 && wait_started; then ok "the last consumer completes the work"; else
	not_ok "the last consumer completes the work" "$(tail -5 "$CONSUMER_LOG")"; fi
stop_consumer
is "it exits 0 on SIGTERM" "$CONSUMER_RC" 0

out_lines "$OUT" | cut -f2- | grep -F "\"request_id\":\"$P-" >"$T/out"
jq -r .event_id "$T/out" >"$T/ids"
sort -u "$T/ids" >"$T/ids.uniq"
for ((i = 0; i < REQS; i++)); do for ((j = 0; j < EVENTS; j++)); do echo "$P-$i-$j"; done; done |
	sort >"$T/ids.want"
lost=$(comm -13 "$T/ids.uniq" "$T/ids.want" | wc -l)
extra=$(comm -23 "$T/ids.uniq" "$T/ids.want" | wc -l)
total=$(wc -l <"$T/out")
dups=$((total - $(wc -l <"$T/ids.uniq")))
most=$(sort "$T/ids" | uniq -c | sort -rn | awk 'NR == 1 {print $1}')
aborted=0 # transactions aborted by the consumers themselves: each run's last count
for f in "$T"/run*.log "$T"/final.log; do
	a=$(grep -o 'aborted=[0-9]*' "$f" | tail -1 | cut -d= -f2)
	aborted=$((aborted + ${a:-0}))
done
echo "# measured: $((REQS * EVENTS)) events, $COPIES requests sent twice, $kills kills," \
	"$total records, $dups shown again, at most $most times one event, ${aborted:-0} aborts"
is "every event is in $OUT" "$lost" 0
is "no record that was not expected" "$extra" 0
is "records shown again are byte-identical (one distinct record per event_id)" \
	"$(sort -u "$T/out" | wc -l)" "$(wc -l <"$T/ids.uniq")"
if [ -n "${TEST_KAFKA_URL:-}" ]; then
	is "a real cluster hides killed transactions: no event twice" "$dups" 0
else
	bound=$(((kills + ${aborted:-0}) * TXN_MAX))
	check "events shown again ($dups) at most (kills + aborts) x transaction size ($bound)" \
		test "$dups" -le "$bound"
	check "no event more than 1 + kills + aborts times ($most)" \
		test "${most:-0}" -le $((1 + kills + ${aborted:-0}))
fi

# The next clean pass: a consumer restores the window, and every request comes again.
scrape
dup_before=$(metric "$DUP")
start_consumer clean
awk '$3 == "json"' "$T/list" >"$T/again"
send "$T/again" "$T/codes.again"
is "every request sent once more: accepted" "$(grep -c -v -E '^(200|202)$' "$T/codes.again")" 0
for _ in $(seq 300); do
	[ "$(topic_count "$RAW")" -ge $((2 * REQS + COPIES)) ] && break
	sleep 0.2
done
if wait_drained 180; then ok "the clean pass drained"; else
	not_ok "the clean pass drained" "$(tail -5 "$CONSUMER_LOG")"; fi
stop_consumer
is "the clean pass produced no record of them" \
	"$(out_lines "$OUT" | cut -f2- | grep -c -F "\"request_id\":\"$P-")" "$total"
scrape
is "and counted each of their events as a duplicate" "$(($(metric "$DUP") - ${dup_before:-0}))" \
	$((REQS * EVENTS))
