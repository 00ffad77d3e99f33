# lib-spool.sh - helpers of the spool tests (0800-0899); source after lib.sh.
#   gen_records N PREFIX [PAD]     "key<TAB>value" lines: keys PREFIX-0.., JSON values
#                                  (PAD: that many more bytes in each value)
#   spool_write [spooltool write options] < lines    into $SPOOL, topic $TOPIC
#   spool_records / spool_files    what `spooltool ls` counts in $SPOOL now
#   start_forwarder NAME / stop_forwarder / kill_forwarder   (log: $T/NAME.log)
#   wait_spool_empty SECONDS       every file forwarded and removed
#   topic_lines                    "key<TAB>value" of every message of $TOPIC
#   topic_total                    messages ever produced to $TOPIC (its $TOPIC_PARTITIONS
#                                  high watermarks, in one round trip)
# Each script gets its own spool ($SPOOL, exported as SPOOL_DIR) and topic ($TOPIC, the
# COLLECT_RAW_TOPIC of start_forwarder's forwarder).
SPOOL="$T/spool"
TOPIC=${TOPIC:-collect-topic1}
TOPIC_PARTITIONS=${TOPIC_PARTITIONS:-4}
export SPOOL_DIR=$SPOOL
FORWARDER_PID=""

gen_records() {
	jq -nr --argjson n "$1" --arg p "$2" --argjson pad "${3:-0}" '
	("x" * (if $pad > 0 then $pad else 0 end)) as $x |
	range($n) as $i | "\($p)-\($i)" as $k |
	"\($k)\t\({request_id: $k, received_at: (1750867000000 + $i), pad: ($x // ""),
	          payload: {events: [{event_type: "a\"b é", event_time: 1, user_id: "u\($i % 7)"}]}} |
	          tojson)"'
}

spool_write() {
	"$BUILD/bin/spooltool" write "$@" "$SPOOL" "$TOPIC" >/dev/null
}

# The totals line of `spooltool ls`: "N files, N records, N bytes, N damaged runs".
_spool_totals() { "$BUILD/bin/spooltool" ls "$SPOOL" 2>/dev/null | tail -1; }
spool_records() { _spool_totals | awk '{print $3}'; }
spool_files() { _spool_totals | awk '{print $1}'; }

start_forwarder() {
	FORWARDER_LOG="$T/$1.log"
	# it produces every record to COLLECT_RAW_TOPIC, whatever topic the record names
	COLLECT_RAW_TOPIC=$TOPIC "$BUILD/bin/forwarder" >/dev/null 2>>"$FORWARDER_LOG" &
	FORWARDER_PID=$!
	ALL_FORWARDER_PIDS="${ALL_FORWARDER_PIDS:-} $FORWARDER_PID"
}

# stop_forwarder: SIGTERM, then waits (at most 30 s); sets FORWARDER_RC.
stop_forwarder() {
	kill -TERM "$FORWARDER_PID" 2>/dev/null
	for _ in $(seq 300); do
		kill -0 "$FORWARDER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$FORWARDER_PID" 2>/dev/null && kill -9 "$FORWARDER_PID"
	wait "$FORWARDER_PID"
	FORWARDER_RC=$?
	FORWARDER_PID=""
}

kill_forwarder() {
	kill -9 "$FORWARDER_PID" 2>/dev/null
	wait "$FORWARDER_PID" 2>/dev/null
	FORWARDER_PID=""
}

# wait_spool_empty SECONDS: no spool file is left; fails early when the forwarder died.
wait_spool_empty() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		[ "$(spool_files)" = 0 ] && return 0
		[ -n "$FORWARDER_PID" ] && ! kill -0 "$FORWARDER_PID" 2>/dev/null && return 1
		sleep 0.1
	done
	echo "# still in the spool after $1 s: $(_spool_totals)"
	return 1
}

topic_lines() {
	kcat -b "$KAFKA_URL" -C -t "$TOPIC" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null
}

topic_total() {
	local args=() p
	for ((p = 0; p < TOPIC_PARTITIONS; p++)); do args+=(-t "$TOPIC:$p:-1"); done
	kcat -b "$KAFKA_URL" -Q "${args[@]}" 2>/dev/null | awk '{s += $NF} END {print s + 0}'
}

_forwarder_cleanup() {
	for p in ${ALL_FORWARDER_PIDS:-}; do kill -9 "$p" 2>/dev/null; done
	_cleanup
}
trap _forwarder_cleanup EXIT
