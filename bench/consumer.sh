#!/usr/bin/env bash
# consumer.sh - events/s of the collect consumer (collect-topic1 -> collect-topic2, with
# transactions) beside a kcat topic-to-topic pipe of the same raw messages, on one dev
# broker. Prints:
#   consumer_events_per_s=<n>  kcat_pipe_events_per_s=<n>  ratio=<consumer/pipe>
# plus a few details as "# ..." lines.
#
#   bench/consumer.sh            100,000 raw messages of EVENTS events (default 1)
#   QUICK=1 bench/consumer.sh    20,000 messages, one round (else best of ROUNDS=3)
#   MESSAGES=n EVENTS=k          override; CONSUMER_TXN_MAX_EVENTS etc. are passed on
#
# Consumer time: from its "assigned" log line to its exit after SIGTERM, sent once its
# stats line (every 100 ms) reports no lag, so it includes the last commit and up to
# ~150 ms of detection delay (conservative). Pipe time: `kcat -C -e | kcat -P` from start
# to exit, i.e. until every message is acknowledged.
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
"$BIN/devbroker" -p "$PARTS" -f "$W/bootstrap" -t kcat-pipe-out:"$PARTS" >/dev/null \
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

# 2. The consumer, in a fresh group each round.
run_consumer() {
	local round=$1 drained="" rc c0 c1
	CONSUMER_GROUP_ID=bench-$round CONSUMER_TRANSACTIONAL_ID=bench-$round \
		CONSUMER_STATS_INTERVAL_MS=100 "$BIN/consumer" 2>"$W/consumer.log" &
	CONSUMER_PID=$!
	for _ in $(seq 6000); do
		if awk '/assigned [1-9][0-9]* partition/ {s = 1} s && /stats .* lag=0$/ {f = 1}
			END {exit !f}' "$W/consumer.log"; then
			drained=1
			break
		fi
		kill -0 "$CONSUMER_PID" 2>/dev/null || break
		sleep 0.05
	done
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
	produced=$(grep 'stats consumed' "$W/consumer.log" | tail -1 | sed 's/.*produced=\([0-9]*\).*/\1/')
	[ "$produced" = "$total_events" ] || die "consumer produced $produced records, expected $total_events"
}

# Rounds alternate the two, so both see the same load on a shared machine; best of each.
best_pipe="" best_consumer=""
for round in $(seq "$ROUNDS"); do
	run_pipe
	run_consumer "$round"
	echo "# round $round: consumer ${consumer_s}s (cpu ${consumer_cpu}s), kcat pipe ${pipe_s}s (cpu ${pipe_cpu}s)"
	grep 'stats consumed' "$W/consumer.log" | tail -1 | sed 's/.*stats /#   consumer stats: /'
	if [ -z "$best_pipe" ] || [ "$(echo "$pipe_s < $best_pipe" | bc -l)" = 1 ]; then
		best_pipe=$pipe_s best_pipe_cpu=$pipe_cpu
	fi
	if [ -z "$best_consumer" ] || [ "$(echo "$consumer_s < $best_consumer" | bc -l)" = 1 ]; then
		best_consumer=$consumer_s best_consumer_cpu=$consumer_cpu
	fi
done

c_rate=$(echo "$total_events / $best_consumer" | bc -l)
p_rate=$(echo "$total_events / $best_pipe" | bc -l)
echo "# $MESSAGES raw messages x $EVENTS event(s), $PARTS partitions, dev broker, best of $ROUNDS"
printf '# cpu per event: consumer %.1f us, kcat pipe (both processes) %.1f us; load average %s\n' \
	"$(echo "$best_consumer_cpu * 1000000 / $total_events" | bc -l)" \
	"$(echo "$best_pipe_cpu * 1000000 / $total_events" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'consumer_events_per_s=%.0f\n' "$c_rate"
printf 'kcat_pipe_events_per_s=%.0f\n' "$p_rate"
printf 'ratio=%.2f\n' "$(echo "$c_rate / $p_rate" | bc -l)"
