#!/usr/bin/env bash
# The consumer turns raw collect messages into exactly the records of docs/api.md
# (checked field by field and key by key against records computed here with jq), and
# sends what it cannot transform to the dead-letter topic with the reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"

consumer_topics t0400 4 4
start_broker -p 4 $BROKER_TOPICS || exit 1

# Valid messages: hand-written edge cases, then generated ones.
{
	printf 'v-1\t%s\n' '{"request_id":"v-1","received_at":1750867000123,"client_ip":"203.0.113.9","user_agent":"Mozilla/5.0 (X11)","payload":{"events":[{"event_type":"product_view","event_time":1750867000000,"user_id":"user_test","product_id":"prod_demo","price":19.5,"nested":{"b":1,"a":[true,null]},"name":"Grüße ✓"},{"user_id":"u-2","event_time":1,"event_type":"signup","plan":"pro"},{"event_type":"click","event_time":253402300799999,"user_id":"u-3","product_id":42}],"ctx":{"browser":"Firefox","device":"Desktop","version":"126.0","extra":"ignored"}}}'
	printf 'v-2\t%s\n' '{"request_id":"v-2","received_at":1750867001000,"payload":{"events":[{"event_type":"a","event_time":1750867000999,"user_id":"u-4"},{"event_type":"b","event_time":1750867001001,"user_id":"u-4","product_id":null}]}}'
	gen_raw 30 4 g
} >"$T/valid.tsv"
bad_event='{"request_id":"be-1","received_at":5,"client_ip":"::1","user_agent":"ua","payload":{"events":[{"event_type":"ok","event_time":1000,"user_id":"u-5"},{"event_type":"x","event_time":"yesterday","user_id":"u-6"},{"event_type":"ok2","event_time":2000,"user_id":"u-7"},{"event_type":"y","event_time":5}],"ctx":{"browser":"Chrome"}}}'
{
	printf 'bad-json\t%s\n' 'not json at all {'
	printf 'no-payload\t%s\n' '{"request_id":"np-1","received_at":1}'
	printf 'bad-event\t%s\n' "$bad_event"
	printf 'no-events\t%s\n' '{"request_id":"ne-1","payload":{"events":[]}}'
	printf 'not-object\t%s\n' '[1,2,3]'
	printf 'bad-utf8\t\xff\xfe{\n'
} >"$T/bad.tsv"
cat "$T/valid.tsv" "$T/bad.tsv" | kcat -P -b "$KAFKA_URL" -t "$RAW" -K '\t' -l /dev/stdin
check "raw messages preloaded" test "$(topic_count "$RAW")" -ge 38

cut -f2- "$T/valid.tsv" | expected_records >"$T/expected"
printf '%s\n' "$bad_event" | expected_records | jq -c 'select(.event_id == "be-1-0" or .event_id == "be-1-2")' >>"$T/expected"
n_expected=$(wc -l <"$T/expected")

start_consumer c1
if wait_drained 60; then ok "consumer drained the backlog"; else not_ok "consumer drained the backlog" "$(tail -20 "$CONSUMER_LOG")"; fi
stop_consumer
is "consumer exits 0 on SIGTERM" "$CONSUMER_RC" 0

out_lines "$OUT" >"$T/out"
is "one record per valid event, no more" "$(wc -l <"$T/out")" "$n_expected"
cut -f2- "$T/out" | jq -c . | sort >"$T/got.sorted"
jq -c . "$T/expected" | sort >"$T/want.sorted"
if cmp -s "$T/got.sorted" "$T/want.sorted"; then
	ok "records equal the expected ones field by field"
else
	not_ok "records equal the expected ones field by field" "$(diff "$T/want.sorted" "$T/got.sorted" | head -20)"
fi
is "every key is the record's user_id" \
	"$(awk -F'\t' '{print $2}' "$T/out" | jq -r .user_id | paste -sd' ' | md5sum)" \
	"$(cut -f1 "$T/out" | paste -sd' ' | md5sum)"
is "fields in the documented order" \
	"$(cut -f2- "$T/out" | jq -c 'keys_unsorted' | sort -u)" \
	'["event_id","event_type","event_time","event_timestamp","user_id","product_id","properties","browser","device","browser_version","client_ip","user_agent","request_id","received_at"]'
rec() { grep -F "\"event_id\":\"$1\"" "$T/out" | cut -f2-; }
is "v-1-0 as in the documented example" \
	"$(rec v-1-0 | jq -c '[.event_timestamp, .browser, .device, .browser_version, .product_id, .client_ip, .received_at]')" \
	'["2025-06-25T15:56:40.000Z","Firefox","Desktop","126.0","prod_demo","203.0.113.9",1750867000123]'
is "v-1-0 properties keep the other fields" "$(rec v-1-0 | jq -c .properties)" \
	'{"price":19.5,"nested":{"b":1,"a":[true,null]},"name":"Grüße ✓"}'
is "v-1-2 last millisecond of year 9999" "$(rec v-1-2 | jq -r .event_timestamp)" "9999-12-31T23:59:59.999Z"
is "v-2: no ctx, no client_ip give nulls" \
	"$(rec v-2-0 | jq -c '[.browser, .device, .browser_version, .client_ip, .user_agent, .product_id, .properties]')" \
	'[null,null,null,null,null,null,{}]'
is "valid siblings of a bad event are produced" "$(grep -c '"request_id":"be-1"' "$T/out")" 2

kcat -b "$KAFKA_URL" -C -t "$DLQ" -o beginning -e -q -X isolation.level=read_committed \
	-f '%k\t%s\n' >"$T/dlq" 2>/dev/null
is "dead letters: one per bad message or bad event" "$(wc -l <"$T/dlq")" 7
dlq() { awk -F'\t' -v k="$1" '$1 == k' "$T/dlq" | cut -f2- | jq -c "$2"; }
is "not JSON: reason and the raw text" "$(dlq bad-json '[.error, .raw, has("event_index")]')" \
	'["raw message is not valid JSON: invalid token near '"'"'not'"'"' (line 1, column 3)","not json at all {",false]'
is "no payload: reason and the raw JSON" "$(dlq no-payload '[.error, .raw]')" \
	'["raw message has no payload object",{"request_id":"np-1","received_at":1}]'
is "bad events: index and reason each" "$(dlq bad-event '[.event_index, .error]' | paste -sd' ')" \
	'[1,"event_time must be a positive integer (epoch milliseconds)"] [3,"user_id must be a non-empty string"]'
is "bad events: the event itself and the request id, not the whole raw message" \
	"$(dlq bad-event '[.request_id, .event, has("raw")]' | paste -sd' ')" \
	"$(jq -c '[.request_id, .payload.events[1], false], [.request_id, .payload.events[3], false]' <<<"$bad_event" | paste -sd' ')"
is "empty events array" "$(dlq no-events '.error')" '"payload.events must be a non-empty array"'
is "JSON that is not an object" "$(dlq not-object '[.error, .raw]')" '["raw message is not a JSON object",[1,2,3]]'
is "invalid UTF-8 kept as replacement characters" "$(dlq bad-utf8 '.raw')" '"��{"'
check "stats line counts consumed, produced, dead-lettered" \
	grep -qE "stats consumed=38 produced=$n_expected dead_lettered=7 " "$CONSUMER_LOG"
