#!/usr/bin/env bash
# consumer.sh - events/s of the collect consumer (collect-topic1 -> collect-topic2, with
# transactions) beside a kcat topic-to-topic pipe of the same raw messages, on one dev
# broker; the consumer with removal of copies on (the default) and off; how fast it
# restores its window from the changelog beside kcat reading that changelog; and the
# memory per remembered request. Prints the rows of bench/run's table
# ("row|measured|ceiling|ratio|goal|met?"), then
#   consumer_events_per_s=<n>  kcat_pipe_events_per_s=<n>  ratio=<consumer/pipe>
# plus a few details as "# ..." lines.
#
#   bench/consumer.sh            100,000 raw messages of EVENTS events (default 1)
#   QUICK=1 bench/consumer.sh    20,000 messages, one round (else ROUNDS=3)
#   MESSAGES=n EVENTS=k          override; CONSUMER_TXN_MAX_EVENTS etc. are passed on
#   PIPE_ONLY=1                  only the consumer (removal on) against the pipe: no
#                                rounds with removal off, no restore (bench/run's row 4
#                                with 100 events per message)
#
# The ratio is the median of the rounds' own ratios (consumer events/s over the pipe's in
# the same round); CPU per event is read from /proc/<pid>/stat for the consumer (start to
# drained) and from the shell's `times` for the two kcat processes (start to exit).
# Consumer time: from its "assigned" log line to its exit after SIGTERM, sent once its
# stats line (every 20 ms) reports every message consumed and no lag, so it includes the
# last commit, leaving the group and up to ~250 ms of detection delay (conservative: the
# idle loop looks at its stats clock every 100 ms, and tail ends at the line after the one
# grep took). Pipe time: `kcat -C -e | kcat -P` from start to exit, i.e. until every
# message is acknowledged.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BIN="$TOP/${SVC_BUILD:-build}/bin"
MESSAGES=${MESSAGES:-$([ -n "${QUICK:-}" ] && echo 20000 || echo 100000)}
EVENTS=${EVENTS:-1}
ROUNDS=${ROUNDS:-$([ -n "${QUICK:-}" ] && echo 1 || echo 3)}
PARTS=${PARTS:-16} # the dev broker keeps ~5 MB per partition: room for every message
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-consumer.XXXXXX")
BROKER_PID="" CONSUMER_PID=""

cleanup() {
	[ -n "$CONSUMER_PID" ] && kill -9 "$CONSUMER_PID" 2>/dev/null
	[ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
die() { echo "bench/consumer.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
# ISO time of a log line (2025-01-01T00:00:00.123456Z ...) as epoch seconds.
log_epoch() { date -d "$(cut -d' ' -f1 <<<"$1")" +%s.%N; }

for b in devbroker consumer; do [ -x "$BIN/$b" ] || die "$BIN/$b missing: run make"; done
unset KAFKA_URL FORCE_DEV_MODE EVENTS_CONFIG
# Each round's consumer with removal on writes a changelog of its own: a restore in a
# later round would otherwise be timed with the transform.
"$BIN/devbroker" -p "$PARTS" -f "$W/bootstrap" -t kcat-pipe-out:"$PARTS" \
	$(for r in $(seq "$ROUNDS"); do echo "-t bench-dedupe-$r:$PARTS"; done) >/dev/null \
	2>"$W/broker.log" &
BROKER_PID=$!
for _ in $(seq 100); do [ -s "$W/bootstrap" ] && break; sleep 0.05; done
[ -s "$W/bootstrap" ] || die "dev broker did not start: $(cat "$W/broker.log")"
export KAFKA_URL=$(cat "$W/bootstrap")

# Raw messages as /collect writes them, EVENTS events each.
jq -nr --argjson n "$MESSAGES" --argjson k "$EVENTS" '
	range($n) as $i | "bench-\($i)" as $rid |
	{request_id: $rid, received_at: (1750867000000 + $i), client_ip: "10.1.\($i % 256).\($i % 200)",
	 user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
	 payload: {events: [range($k) as $j | {event_type: "product_view",
	   event_time: (1750867000000 + $i), user_id: "user-\($i % 1000)",
	   product_id: "prod-\($i % 5000)", price: ($i % 100)}],
	  ctx: {browser: "Firefox", device: "Desktop", version: "126.0"}}} |
	"\($rid)\t\(tojson)"' >"$W/raw.tsv" || die "jq failed"
kcat -P -b "$KAFKA_URL" -t collect-topic1 -K '\t' -l "$W/raw.tsv" || die "preload failed"
total_events=$((MESSAGES * EVENTS))
clk=$(getconf CLK_TCK)
# cpu_of PID: user+system CPU seconds used so far by a live process.
cpu_of() { awk -v t="$clk" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

# 1. kcat pipe of the same messages to another topic.
run_pipe() {
	local t0 t1
	t0=$(now)
	# The subshell's `times` gives the CPU time of its children, the two kcats.
	(
		kcat -C -b "$KAFKA_URL" -t collect-topic1 -o beginning -e -q -f '%k\t%s\n' |
			kcat -P -b "$KAFKA_URL" -t kcat-pipe-out -K '\t' || exit 1
		times >"$W/times"
	) || die "kcat pipe failed"
	t1=$(now)
	pipe_s=$(echo "$t1 - $t0" | bc -l)
	pipe_cpu=$(tail -1 "$W/times" | tr 'ms' '  ' |
		awk '{print $1 * 60 + $2 + $3 * 60 + $4}')
}

# 2. The consumer, in a fresh group each round; removal of copies on or off.
run_consumer() {
	local round=$1 mode=$2 drained="" rc c0 c1 window=86400000
	[ "$mode" = off ] && window=0
	CONSUMER_GROUP_ID=bench-$mode-$round CONSUMER_TRANSACTIONAL_ID=bench-$mode-$round \
		COLLECT_DEDUPE_TOPIC=bench-dedupe-$round DEDUPE_WINDOW_MS=$window \
		CONSUMER_STATS_INTERVAL_MS=20 "$BIN/consumer" 2>"$W/consumer.log" &
	CONSUMER_PID=$!
	# tail follows the log as it grows (no process started per look, so the watch takes
	# no CPU from the consumer); it ends when the consumer does, or after 300 s. grep, not
	# mawk, reads it: mawk waits for a full block of input, and the drain was seen 0.5-1.2 s
	# late (a 100 ms stats line at a time), time counted as the consumer's.
	if timeout 300 tail -n +1 --pid="$CONSUMER_PID" -F "$W/consumer.log" 2>/dev/null |
		grep -q -m1 "stats consumed=$MESSAGES .* lag=0\$"; then
		drained=1
	fi
	[ -n "$drained" ] || die "consumer did not drain: $(tail -5 "$W/consumer.log")"
	consumer_cpu=$(cpu_of "$CONSUMER_PID")
	kill -TERM "$CONSUMER_PID"
	wait "$CONSUMER_PID"
	rc=$?
	CONSUMER_PID=""
	[ "$rc" -eq 0 ] || die "consumer exited with $rc: $(tail -5 "$W/consumer.log")"
	c0=$(log_epoch "$(grep -m1 'assigned [1-9][0-9]* partition' "$W/consumer.log")")
	c1=$(log_epoch "$(grep 'exiting with status 0' "$W/consumer.log" | tail -1)")
	consumer_s=$(echo "$c1 - $c0" | bc -l)
	stats=$(grep 'stats consumed' "$W/consumer.log" | tail -1)
	produced=$(sed 's/.*produced=\([0-9]*\).*/\1/' <<<"$stats")
	[ "$produced" = "$total_events" ] || die "consumer produced $produced records, expected $total_events"
	[ "$mode" = on ] && cp "$W/consumer.log" "$W/consumer-on-$round.log"
	return 0
}

# Rounds alternate them, so all see the same load on a shared machine. The ratio is the
# median of the rounds' own ratios (consumer / pipe of the same round); CPU per event is
# the median round's.
ratios=() cpus=() pipe_cpus=() c_rates=() p_rates=() off_rates=()
for round in $(seq "$ROUNDS"); do
	run_pipe
	run_consumer "$round" on
	echo "# round $round: consumer ${consumer_s}s (cpu ${consumer_cpu}s), kcat pipe ${pipe_s}s (cpu ${pipe_cpu}s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "#   consumer stats: ${stats#*stats }"
	remembered=$(sed 's/.* remembered=\([0-9]*\).*/\1/' <<<"$stats")
	remembered_bytes=$(sed 's/.*remembered_bytes=\([0-9]*\).*/\1/' <<<"$stats")
	c_rates+=("$(echo "$total_events / $consumer_s" | bc -l)")
	p_rates+=("$(echo "$total_events / $pipe_s" | bc -l)")
	ratios+=("$(echo "$pipe_s / $consumer_s" | bc -l)")
	cpus+=("$(echo "$consumer_cpu * 1000000 / $total_events" | bc -l)")
	pipe_cpus+=("$(echo "$pipe_cpu * 1000000 / $total_events" | bc -l)")
	[ -n "${PIPE_ONLY:-}" ] && continue
	run_consumer "$round" off
	echo "# round $round: consumer with removal off ${consumer_s}s (cpu ${consumer_cpu}s)"
	off_rates+=("$(echo "$total_events / $consumer_s" | bc -l)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
meets() { awk -v r="$1" -v g="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? (r + 0 >= g + 0) : (r + 0 <= g + 0); print ok ? "yes" : "no" }'; }
c_rate=$(median "${c_rates[@]}")
p_rate=$(median "${p_rates[@]}")
ratio=$(median "${ratios[@]}")
cpu=$(median "${cpus[@]}")
pipe_cpu_med=$(median "${pipe_cpus[@]}")
load="$(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${PIPE_ONLY:-}" ]; then
	# The same messages with EVENTS events each: the consumer writes EVENTS records where
	# the pipe writes one message, a figure to watch rather than a goal.
	printf 'consumer, %s events/message: events/s (vs kcat pipe, median ratio of %s)|%.0f|%.0f|%.2f|-|-\n' \
		"$EVENTS" "$ROUNDS" "$c_rate" "$p_rate" "$ratio"
	printf '  same: CPU us/event, consumer (vs kcat pipe, both processes)|%.2f|%.2f|%.2f|-|-\n' \
		"$cpu" "$pipe_cpu_med" "$(echo "$cpu / $pipe_cpu_med" | bc -l)"
	echo "# $MESSAGES raw messages x $EVENTS event(s), $PARTS partitions, dev broker, ratios per round: ${ratios[*]}; load average $load"
	printf 'consumer_events_per_s=%.0f\nkcat_pipe_events_per_s=%.0f\nratio=%.2f\n' "$c_rate" "$p_rate" "$ratio"
	exit 0
fi

# 3. Restore: a consumer of round 1's group reads round 1's changelog (every entry below
# the committed offsets: all trusted) before it is assigned the partitions; beside it,
# kcat reads the same changelog to its end.
restore_s="" kcat_s=""
for _ in $(seq "$ROUNDS"); do
	t0=$(now)
	kcat -C -b "$KAFKA_URL" -t bench-dedupe-1 -o beginning -e -q -f '%o\n' >"$W/changelog.offsets" ||
		die "kcat could not read the changelog"
	t1=$(now)
	k=$(echo "$t1 - $t0" | bc -l)
	changelog_records=$(wc -l <"$W/changelog.offsets")
	CONSUMER_GROUP_ID=bench-on-1 CONSUMER_TRANSACTIONAL_ID=bench-on-1 \
		COLLECT_DEDUPE_TOPIC=bench-dedupe-1 "$BIN/consumer" 2>"$W/restore.log" &
	CONSUMER_PID=$!
	line=""
	for _ in $(seq 1200); do
		line=$(grep -m1 'restored the window' "$W/restore.log") && break
		kill -0 "$CONSUMER_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -TERM "$CONSUMER_PID" 2>/dev/null
	wait "$CONSUMER_PID"
	CONSUMER_PID=""
	[ -n "$line" ] || die "no restore: $(tail -3 "$W/restore.log")"
	ms=$(sed 's/.* in \([0-9]*\) ms: .*/\1/' <<<"$line")
	restored=$(sed 's/.* ms: \([0-9]*\) records.*/\1/' <<<"$line")
	echo "# restore: ${line#*consumer: }; kcat read $changelog_records records in ${k}s"
	r=$(echo "$ms / 1000" | bc -l)
	if [ -z "$restore_s" ] || [ "$(echo "$r < $restore_s" | bc -l)" = 1 ]; then restore_s=$r; fi
	if [ -z "$kcat_s" ] || [ "$(echo "$k < $kcat_s" | bc -l)" = 1 ]; then kcat_s=$k; fi
done

off_rate=$(median "${off_rates[@]}")
restore_rate=$(echo "$restored / ($restore_s + 0.0005)" | bc -l)
kcat_read_rate=$(echo "$changelog_records / $kcat_s" | bc -l)
on_off=$(echo "$c_rate / $off_rate" | bc -l)
restore_ratio=$(echo "$restore_rate / $kcat_read_rate" | bc -l)
printf 'consumer: events/s (vs kcat pipe, median ratio of %s rounds)|%.0f|%.0f|%.2f|>= 0.8|%s\n' "$ROUNDS" \
	"$c_rate" "$p_rate" "$ratio" "$(meets "$ratio" '>=' 0.8)"
printf '  same: CPU us/event, consumer (vs kcat pipe, both processes)|%.2f|%.2f|%.2f|-|-\n' \
	"$cpu" "$pipe_cpu_med" "$(echo "$cpu / $pipe_cpu_med" | bc -l)"
printf 'consumer: events/s, removal of copies on (vs off)|%.0f|%.0f|%.2f|>= 0.9|%s\n' "$c_rate" \
	"$off_rate" "$on_off" "$(meets "$on_off" '>=' 0.9)"
printf 'consumer: restore, changelog records/s (vs kcat reading it)|%.0f|%.0f|%.2f|>= 0.5|%s\n' \
	"$restore_rate" "$kcat_read_rate" "$restore_ratio" "$(meets "$restore_ratio" '>=' 0.5)"
printf 'consumer: bytes of memory per remembered request|%.1f|-|-|-|-\n' \
	"$(echo "$remembered_bytes / $remembered" | bc -l)"
echo "# $MESSAGES raw messages x $EVENTS event(s), $PARTS partitions, dev broker, medians of $ROUNDS rounds; ratios per round: ${ratios[*]}; load average $load"
printf 'consumer_events_per_s=%.0f\n' "$c_rate"
printf 'kcat_pipe_events_per_s=%.0f\n' "$p_rate"
printf 'ratio=%.2f\n' "$ratio"
