#!/usr/bin/env bash
# The broker goes down while the forwarder runs: spool files stay (none is lost, none is
# removed), the forwarder keeps the Kafka-down mark fresh; the broker comes back: every
# record is forwarded and the mark is cleared. Once with the dev broker's control pipe
# (down 1 / up 1), once with its signals (SIGUSR1 / SIGUSR2, what README tells a person).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-spool.sh"
export KAFKA_TIMEOUT_MS=2000
start_broker -p 4 -c "$T/control" || exit 1
start_forwarder fwd
mark="$SPOOL/kafka-down"

# outage NAME DOWN UP: writes 3 files while the broker is down (DOWN and UP are commands).
outage() {
	local name=$1 before mtime
	eval "$2"
	gen_records 200 "$name" >"$T/$name.tsv"
	split -n l/3 "$T/$name.tsv" "$T/$name.part."
	for f in "$T/$name".part.*; do spool_write -b 20 <"$f"; done
	# The forwarder tried, failed, found no broker, and marked Kafka down.
	for _ in $(seq 300); do [ -e "$mark" ] && break; sleep 0.1; done
	check "$name: the forwarder marked Kafka down" test -e "$mark"
	before=$(stat -c %y "$mark" 2>/dev/null)
	for _ in $(seq 100); do
		mtime=$(stat -c %y "$mark" 2>/dev/null)
		[ "$mtime" != "$before" ] && break
		sleep 0.1
	done
	check "$name: and keeps the mark fresh while the broker is down" test "$mtime" != "$before"
	is "$name: the 3 files' 200 records stay in the spool" "$(spool_records)" 200
	check "$name: the forwarder runs" kill -0 "$FORWARDER_PID"
	eval "$3"
	if wait_spool_empty 60; then ok "$name: broker back: every file forwarded"; else
		not_ok "$name: broker back: every file forwarded" "$(tail -5 "$FORWARDER_LOG")"; fi
	topic_lines | grep "^$name-" | sort >"$T/$name.got"
	is "$name: every record in $TOPIC once, same key and bytes" \
		"$(sort "$T/$name.tsv" | cmp -s - "$T/$name.got" && echo same)" same
	check "$name: the mark is cleared once Kafka acknowledged" test ! -e "$mark"
}

outage pipe 'echo "down 1" >"$T/control"' 'echo "up 1" >"$T/control"'
outage signal 'kill -USR1 $_BROKER_PID' 'kill -USR2 $_BROKER_PID'

stop_forwarder
is "SIGTERM: exit 0" "$FORWARDER_RC" 0
check "the outage is in the log" grep -q "Kafka unreachable" "$FORWARDER_LOG"
