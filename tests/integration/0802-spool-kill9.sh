#!/usr/bin/env bash
# kill -9 of the forwarder while it replays a large file, three times, restarting it each
# time: afterwards every record is in Kafka at least once, every duplicate byte-identical
# (same key, same value), and the spool is empty. Duplicates are at most kills x (the
# records of the largest file + 10000): a restart replays the files in flight from their
# start, the one in progress and, within the first 10000 records of the second file, the
# first one (docs/spool.md, "The forwarder").
. "$(dirname "$0")/lib.sh"
TOPIC=spool-kill TOPIC_PARTITIONS=32 # ~5 MB kept per partition: room for the duplicates
. "$(dirname "$0")/lib-spool.sh"
N=${N:-150000} KILLS=3
start_broker -p 4 -t "$TOPIC:$TOPIC_PARTITIONS" || exit 1

gen_records "$N" r >"$T/in.tsv"
spool_write -b 1000 <"$T/in.tsv"
is "the spool holds $N records" "$(spool_records)" "$N"
largest=$("$BUILD/bin/spooltool" ls "$SPOOL" | awk -F'\t' 'NF > 1 {n = $2 + 0; if (n > m) m = n} END {print m}')
echo "# $(spool_files) files, the largest of $largest records"

busy=0
for k in $(seq $KILLS); do
	before=$(topic_total)
	start_forwarder "run$k"
	# Kill it once this run has put records into Kafka (the broker's high watermarks).
	for _ in $(seq 600); do
		[ "$(topic_total)" -gt "$before" ] && break
		kill -0 "$FORWARDER_PID" 2>/dev/null || break
		sleep 0.05
	done
	sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
	kill_forwarder
	after=$(topic_total)
	files=$(spool_files)
	echo "# kill -9 number $k: $before -> $after messages in $TOPIC, $files files left"
	[ "$after" -gt "$before" ] && [ "$files" -gt 0 ] && busy=$((busy + 1))
done
is "every kill hit a forwarder in the middle of the spool" "$busy" $KILLS

start_forwarder final
if wait_spool_empty 120; then ok "a restarted forwarder empties the spool"; else
	not_ok "a restarted forwarder empties the spool" "$(tail -5 "$FORWARDER_LOG")"; fi
stop_forwarder
is "it exits 0 on SIGTERM" "$FORWARDER_RC" 0

topic_lines >"$T/out"
cut -f1 "$T/out" | sort -u >"$T/keys"
cut -f1 "$T/in.tsv" | sort >"$T/keys.want"
total=$(wc -l <"$T/out")
dups=$((total - $(wc -l <"$T/keys")))
echo "# measured: $N records, $KILLS kills, $total messages read, $dups duplicates"
is "zero loss: every key is in $TOPIC" "$(comm -13 "$T/keys" "$T/keys.want" | wc -l)" 0
is "no key that was not written" "$(comm -23 "$T/keys" "$T/keys.want" | wc -l)" 0
is "duplicates are byte-identical (one distinct message per key)" \
	"$(sort -u "$T/out" | wc -l)" "$(wc -l <"$T/keys")"
check "and each is a record as written" cmp -s <(sort -u "$T/out") <(sort "$T/in.tsv")
check "duplicates ($dups) at most kills x (the largest file + 10000) ($((KILLS * (largest + 10000))))" \
	test "$dups" -le $((KILLS * (largest + 10000)))
