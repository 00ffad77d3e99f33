# lib-consumer.sh - helpers of the consumer tests (0400-0499); source after lib.sh.
#   consumer_topics PREFIX RAW_PARTS OUT_PARTS   names and devbroker -t options
#   stack_topics NAME                            the service's own topics, NAME's own group
#   gen_raw N EVENTS PREFIX                      raw messages as "key<TAB>json" lines
#   expected_records < raw json lines            the records docs/api.md describes
#   start_consumer NAME / stop_consumer / kill_consumer
#   wait_log_after LOG MARK PATTERN SECONDS      waits for PATTERN after the last MARK line
#   group_lag / wait_progress BEFORE SECONDS     the group's lag on RAW / waits for it to fall
#   wait_drained SECONDS                         waits until the group committed all of RAW
#   out_lines TOPIC                              "key<TAB>value" lines, read_committed

# Unique topic, group and transactional names, so a real cluster (TEST_KAFKA_URL) with
# older data works too. Sets RAW OUT DLQ DEDUPE and BROKER_TOPICS (options for start_broker).
consumer_topics() {
	local prefix=$1-$$-$RANDOM
	# Not exported: the dev broker would create them itself with its default partitions.
	RAW=$prefix-raw OUT=$prefix-out DLQ=$prefix-dlq DEDUPE=$prefix-dedupe
	export CONSUMER_GROUP_ID=$prefix-group CONSUMER_TRANSACTIONAL_ID=$prefix-txn
	# The consumer's changelog is partitioned like RAW (the dev broker cannot create topics
	# on request; a real cluster gets it from the consumer).
	BROKER_TOPICS="-t $RAW:$2 -t $OUT:$3 -t $DLQ:4 -t $DEDUPE:$2"
	# A killed member stays in the group until its session times out: keep that short.
	export RDKAFKA_SESSION_TIMEOUT_MS=6000 RDKAFKA_HEARTBEAT_INTERVAL_MS=1000
	export CONSUMER_STATS_INTERVAL_MS=${CONSUMER_STATS_INTERVAL_MS:-300}
}

# For a consumer beside start_stack's service, which writes the service's own topics: sets
# RAW OUT DLQ DEDUPE to those, and exports a consumer group and transactional id of NAME's
# own.
stack_topics() {
	RAW=collect-topic1 OUT=collect-topic2 DLQ=collect-dlq DEDUPE=collect-dedupe
	export CONSUMER_GROUP_ID=$1-$$-$RANDOM CONSUMER_TRANSACTIONAL_ID=$1-$$-$RANDOM
}

# gen_raw N EVENTS PREFIX: N raw messages (as /collect produces them) of EVENTS events.
gen_raw() {
	jq -nr --argjson n "$1" --argjson k "$2" --arg p "$3" '
	range($n) as $i | "\($p)-\($i)" as $rid |
	{request_id: $rid, received_at: (1750867000000 + $i), client_ip: "10.0.\($i % 256).\($i % 7)",
	 user_agent: "Mozilla/5.0 (test \($i % 5))",
	 payload: {events: [range($k) as $j |
	   {event_type: (["product_view", "add_to_cart", "purchase"][($i + $j) % 3]),
	    event_time: (1750867000000 + $i * 1000 + $j), user_id: "user-\(($i * $k + $j) % 97)",
	    product_id: "prod-\($j)", price: ($i % 100), tags: ["t\($j)"]}],
	  ctx: {browser: "Firefox", device: "Desktop", version: "126.\($i % 3)"}}} |
	"\($rid)\t\(tojson)"'
}

# The output records of valid raw messages (one JSON object per input line), computed
# independently of the consumer, in the documented field order.
expected_records() {
	jq -c '. as $m | (.payload.ctx // {}) as $c | .payload.events | to_entries[] |
	.key as $i | .value as $e |
	{event_id: "\($m.request_id)-\($i)", event_type: $e.event_type, event_time: $e.event_time,
	 event_timestamp: (try ((($e.event_time / 1000 | floor | todate | sub("Z$"; "")) + "." +
	                   ("00" + ($e.event_time % 1000 | tostring))[-3:] + "Z")) catch null),
	 user_id: $e.user_id, product_id: $e.product_id,
	 properties: ($e | del(.event_type, .event_time, .user_id, .product_id)),
	 browser: $c.browser, device: $c.device, browser_version: $c.version,
	 client_ip: $m.client_ip, user_agent: $m.user_agent, request_id: $m.request_id,
	 received_at: $m.received_at}'
}

# start_consumer NAME: the consumer in the background, stderr in $T/NAME.log.
start_consumer() {
	CONSUMER_LOG="$T/$1.log"
	COLLECT_RAW_TOPIC=$RAW COLLECT_OUT_TOPIC=$OUT COLLECT_DLQ_TOPIC=$DLQ \
		COLLECT_DEDUPE_TOPIC=${DEDUPE:-${COLLECT_DEDUPE_TOPIC:-collect-dedupe}} "$BUILD/bin/consumer" >/dev/null 2>"$CONSUMER_LOG" &
	CONSUMER_PID=$!
	ALL_CONSUMER_PIDS="${ALL_CONSUMER_PIDS:-} $CONSUMER_PID"
}

# stop_consumer: SIGTERM, then waits (at most 60 s); sets CONSUMER_RC.
stop_consumer() {
	kill -TERM "$CONSUMER_PID" 2>/dev/null
	for _ in $(seq 600); do
		kill -0 "$CONSUMER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$CONSUMER_PID" 2>/dev/null && kill -9 "$CONSUMER_PID"
	wait "$CONSUMER_PID"
	CONSUMER_RC=$?
	CONSUMER_PID=""
}

kill_consumer() {
	kill -9 "$CONSUMER_PID" 2>/dev/null
	wait "$CONSUMER_PID" 2>/dev/null
	CONSUMER_PID=""
}

# wait_log_after LOG MARK PATTERN SECONDS: succeeds once a line matching PATTERN follows
# the last line matching MARK (both extended regular expressions).
wait_log_after() {
	local i
	for ((i = 0; i < $4 * 10; i++)); do
		awk -v m="$2" -v p="$3" '$0 ~ m {seen = 1; hit = 0} seen && $0 ~ p {hit = 1}
			END {exit !hit}' "$1" 2>/dev/null && return 0
		[ -n "${CONSUMER_PID:-}" ] && ! kill -0 "$CONSUMER_PID" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

# group_lag: the group's lag on $RAW now ("" when the brokers did not answer).
group_lag() {
	"$TOP/build/bin/grouplag" -b "$KAFKA_URL" -g "$CONSUMER_GROUP_ID" -t "$RAW" 2>/dev/null |
		sed -n 's/^lag=//p'
}

# wait_progress BEFORE SECONDS: the running consumer has committed some work (the group's
# lag fell below BEFORE).
wait_progress() {
	local i lag
	for ((i = 0; i < $2 * 5; i++)); do
		lag=$(group_lag)
		[ -n "$lag" ] && [ "$lag" -lt "$1" ] && return 0
		[ -n "${CONSUMER_PID:-}" ] && ! kill -0 "$CONSUMER_PID" 2>/dev/null && return 1
		sleep 0.2
	done
	return 1
}

# wait_drained SECONDS: the group has committed every message of $RAW (committed offsets
# at the high watermarks: each raw message transformed and its records in Kafka), asked
# of the brokers, not of a consumer's log; fails early when the running consumer exited.
wait_drained() {
	local i lag
	for ((i = 0; i < $1 * 5; i++)); do
		lag=$(group_lag)
		[ "$lag" = 0 ] && return 0
		[ -n "${CONSUMER_PID:-}" ] && ! kill -0 "$CONSUMER_PID" 2>/dev/null && return 1
		sleep 0.2
	done
	echo "# still behind after $1 s: ${lag:-no answer}"
	return 1
}

out_lines() {
	kcat -b "$KAFKA_URL" -C -t "$1" -o beginning -e -q -X isolation.level=read_committed \
		-f '%k\t%s\n' 2>/dev/null
}

# Stops a consumer a failed test left running.
_consumer_cleanup() {
	for p in ${ALL_CONSUMER_PIDS:-}; do kill -9 "$p" 2>/dev/null; done
	_cleanup
}
trap _consumer_cleanup EXIT
