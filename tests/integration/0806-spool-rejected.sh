#!/usr/bin/env bash
# A record Kafka refuses for good never blocks the spool. The dev broker's leader of the
# raw topic refuses produce requests with INVALID_RECORD: the records of the first spool
# file become dead letters in COLLECT_DLQ_TOPIC (request id, size, Kafka's reason), their
# bytes are kept in SPOOL_DIR/rejected/, events_spool_rejected_total counts them, and the
# file behind it is forwarded. Nothing is lost: every record is in the raw topic or in
# rejected/, and `spooltool requeue` puts the rejected ones back for the forwarder.
. "$(dirname "$0")/lib.sh"
TOPIC=spool-rej TOPIC_PARTITIONS=1
. "$(dirname "$0")/lib-spool.sh"
. "$(dirname "$0")/lib-cgi.sh"
DLQ=spool-rej-dlq N=5
export KAFKA_TIMEOUT_MS=5000 METRICS_DIR="$T/metrics" COLLECT_RAW_TOPIC=$TOPIC COLLECT_DLQ_TOPIC=$DLQ
# Two brokers: the raw topic's on 1 (made to refuse), the letters' on 2 (answers).
start_broker -b 2 -p 1 -c "$T/control" || exit 1
echo "leader $TOPIC 0 1" >"$T/control"
echo "leader $DLQ 0 2" >"$T/control"
# One request for the file's first try (sometimes two), then one per record: all or all but
# one of its records are refused.
echo "broker-produce-errors 1 87 $((N + 1))" >"$T/control"
for _ in $(seq 100); do grep -q "broker-produce-errors" "$T/devbroker.log" && break; sleep 0.05; done

gen_records "$N" bad >"$T/bad.tsv"
gen_records 20 good >"$T/good.tsv"
spool_write -b "$N" <"$T/bad.tsv"
spool_write -b 20 <"$T/good.tsv"
is "the spool holds 2 files, $((N + 20)) records" "$(spool_files) $(spool_records)" "2 $((N + 20))"
start_forwarder fwd
if wait_spool_empty 60; then ok "both files left the spool"; else
	not_ok "both files left the spool" "$(tail -5 "$FORWARDER_LOG")"; fi
for _ in $(seq 300); do [ "$(topic_total)" -ge 20 ] && break; sleep 0.1; done
topic_lines | sort >"$T/raw.got"
is "the file behind the refused one is in $TOPIC, every record, same bytes" \
	"$(grep '^good-' "$T/raw.got" | cmp -s - <(sort "$T/good.tsv") && echo same)" same
rejected=$("$BUILD/bin/spooltool" cat "$SPOOL/rejected" | sort)
nrej=$(grep -c . <<<"$rejected")
check "Kafka refused records of the first file (rejected/ holds $nrej)" test "$nrej" -ge 1
is "nothing lost: each bad record is in $TOPIC or in rejected/, same bytes" \
	"$( (grep '^bad-' "$T/raw.got"; echo "$rejected") | sort | cmp -s - <(sort "$T/bad.tsv") && echo same)" same
check "the refused file went one record at a time" grep -q "Kafka refused a record of it for good: producing it one record at a time" "$FORWARDER_LOG"
for _ in $(seq 300); do [ "$(topic_count "$DLQ")" -ge "$nrej" ] && break; sleep 0.1; done
kcat -b "$KAFKA_URL" -C -t "$DLQ" -o beginning -e -q -f '%s\n' 2>/dev/null >"$T/letters"
is "one dead letter per rejected record" "$(grep -c . "$T/letters")" "$nrej"
key=$(head -1 <<<"$rejected" | cut -f1)
size=$(head -1 <<<"$rejected" | awk -F'\t' '{print length($1) + length($2)}')
letter=$(jq -c --arg k "$key" 'select(.request_id == $k)' "$T/letters")
is "its letter names the request id and the size" "$(jq -r '"\(.request_id) \(.size)"' <<<"$letter")" "$key $size"
is "its letter gives Kafka's reason" "$(jq -r .reason <<<"$letter")" "Broker: Broker failed to validate record"
check "and says where the bytes are" grep -q "rejected" <<<"$(jq -r .error <<<"$letter")"
check "the letter holds none of the record's content" test "$(grep -c 'event_type' <<<"$letter")" = 0
stop_forwarder
is "SIGTERM: exit 0" "$FORWARDER_RC" 0
check "the stats line counts them" grep -q "stats .* rejected=$nrej " "$FORWARDER_LOG"
direct metrics REQUEST_METHOD=GET DOCUMENT_URI=/metrics
is "/metrics: events_spool_rejected_total $nrej" \
	"$(grep '^events_spool_rejected_total ' <<<"$BODY")" "events_spool_rejected_total $nrej"

# Once the cause is gone: `spooltool requeue` moves them back, the forwarder takes them.
"$BUILD/bin/spooltool" requeue "$SPOOL" >"$T/requeue.out"
is "requeue empties rejected/" "$("$BUILD/bin/spooltool" rejected "$SPOOL" | tail -1 | awk '{print $3}')" 0
start_forwarder fwd2
if wait_spool_empty 60; then ok "the requeued records were forwarded"; else
	not_ok "the requeued records were forwarded" "$(tail -5 "$FORWARDER_LOG")"; fi
for _ in $(seq 300); do [ "$(topic_total)" -ge $((20 + N)) ] && break; sleep 0.1; done
is "every bad record is in $TOPIC now" \
	"$(topic_lines | grep '^bad-' | sort -u | cmp -s - <(sort "$T/bad.tsv") && echo same)" same
stop_forwarder
