#!/usr/bin/env bash
# Six writer processes append to one spool at once, each with its own writer and batch
# size (1 to 500 records per append): every record's CRC verifies, the count matches and
# each record is there once. Then the same with the forwarder running meanwhile (it takes
# files as their writers seal them): every record reaches Kafka once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-spool.sh"
start_broker -p 4 || exit 1
BATCHES="1 3 10 50 100 500" PER_WRITER=1000

# writers ROUND: the six writers at once; their input in $T/ROUND.tsv.
writers() {
	local round=$1 w=0 pids="" b rc=0
	: >"$T/$round.tsv"
	for b in $BATCHES; do
		w=$((w + 1))
		gen_records $PER_WRITER "$round-w$w" >"$T/$round-w$w.tsv"
		cat "$T/$round-w$w.tsv" >>"$T/$round.tsv"
		spool_write -b "$b" <"$T/$round-w$w.tsv" &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p" || rc=1; done
	return $rc
}
total=$((6 * PER_WRITER))

check "round 1: six writers at once, each exits 0" writers one
"$BUILD/bin/spooltool" verify "$SPOOL" >"$T/verify.out"
is "every record's CRC verifies" "$?" 0
is "spooltool counts $total records" "$(tail -1 "$T/verify.out" | awk '{print $3}')" "$total"
"$BUILD/bin/spooltool" cat "$SPOOL" | sort >"$T/one.got"
check "each record once, as written" cmp -s "$T/one.got" <(sort "$T/one.tsv")

start_forwarder fwd
check "round 2: six writers at once while the forwarder runs" writers two
if wait_spool_empty 60; then ok "the forwarder empties the spool"; else
	not_ok "the forwarder empties the spool" "$(tail -5 "$FORWARDER_LOG")"; fi
topic_lines | sort >"$T/got"
is "every record of both rounds in $TOPIC once, same key and bytes" \
	"$(sort "$T/one.tsv" "$T/two.tsv" | cmp -s - "$T/got" && echo same)" same
stop_forwarder
is "SIGTERM: exit 0" "$FORWARDER_RC" 0
check "nothing damaged on the way" grep -q 'records=12000 damaged=0 ' "$FORWARDER_LOG"
