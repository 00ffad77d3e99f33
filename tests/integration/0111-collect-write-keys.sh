#!/usr/bin/env bash
# Write keys on /collect, through nginx, the pool and fcgiwrap: no key or an unknown one is
# a 401 and produces nothing; a header key and a beacon key (?write_key=) each give their
# source to the raw message and, through the consumer, to every record; the key's bytes
# are in no file of the run; a key added to the file is taken within 2 s while the old
# ones keep working, and a bad file keeps the old keys.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cgi.sh"
. "$(dirname "$0")/lib-consumer.sh"
start_broker -p 2 || exit 1
KH=wk_header_7f3c9a1e5b2d4c6e
KB=wk-beacon-0a1b2c3d4e5f6a7b
KN=wk_new_key_99887766554433
keys="$T/keys"
printf '# test keys\n%s shop.web\n%s app.beacon 1000 1000\n' "$KH" "$KB" >"$keys"
export COLLECT_WRITE_KEYS=$keys
start_stack || exit 1
stack_topics t0111
export CONSUMER_STATS_INTERVAL_MS=300
ev() { echo "{\"events\":[{\"event_type\":\"product_view\",\"event_time\":1750867000000,\"user_id\":\"$1\"}]}"; }

for path in /collect /cgi/collect; do
	before=$(topic_count collect-topic1)
	http POST "$path" -H "$J" -d "$(ev nokey)"
	is "$path: no key -> 401" "$STATUS" 401
	check "$path: ... a JSON error that says how to send one" jq -e '.message | test("X-Write-Key")' <<<"$BODY"
	http POST "$path" -H "$J" -H 'X-Write-Key: wk_unknown_0000000000000' -d "$(ev unknown)"
	is "$path: unknown key -> 401" "$STATUS" 401
	http POST "$path?write_key=wk_unknown_0000000000000" -H 'Content-Type: text/plain' -d "$(ev unknown)"
	is "$path: unknown beacon key -> 401" "$STATUS" 401
	http POST "$path" -H "$J" -H 'X-Write-Key: short' -d "$(ev short)"
	is "$path: a malformed key -> 401" "$STATUS" 401
	is "$path: the 401s produced nothing" "$(topic_count collect-topic1)" "$before"
done

http OPTIONS /collect -H 'Origin: https://shop.example' -H 'Access-Control-Request-Headers: x-write-key'
is "preflight allows X-Write-Key" "$STATUS $(header Access-Control-Allow-Headers)" "204 Content-Type, X-Request-Id, X-Write-Key"

http POST /collect -H "$J" -H "X-Write-Key: $KH" -H 'X-Request-Id: wk-header-pool' -d "$(ev uh1)"
is "pool: header key -> 200" "$STATUS" 200
http POST /cgi/collect -H "$J" -H "X-Write-Key: $KH" -H 'X-Request-Id: wk-header-cgi' -d "$(ev uh2)"
is "fcgiwrap: header key -> 200" "$STATUS" 200
http POST "/collect?write_key=$KB&request_id=wk-beacon-pool" -H 'Content-Type: text/plain;charset=UTF-8' -d "$(ev ub1)"
is "pool: beacon key -> 200" "$STATUS" 200
http POST "/cgi/collect?request_id=wk-beacon-cgi&write_key=$KB" -H 'Content-Type: text/plain;charset=UTF-8' -d "$(ev ub2)"
is "fcgiwrap: beacon key -> 200" "$STATUS" 200
src() { topic_dump collect-topic1 | jq -r "select(.key==\"$1\") | .value.source"; }
is "raw messages carry the key's source" \
	"$(src wk-header-pool) $(src wk-header-cgi) $(src wk-beacon-pool) $(src wk-beacon-cgi)" \
	"shop.web shop.web app.beacon app.beacon"

# A key added: taken within 2 s, while the old keys keep working the whole time.
printf '%s new.source\n' "$KN" >>"$keys.new" && cat "$keys" "$keys.new" >"$keys.tmp" && mv "$keys.tmp" "$keys"
added=$(date +%s%N)
got="" old_ok=1
for i in $(seq 60); do
	http POST /collect -H "$J" -H "X-Write-Key: $KH" -d "$(ev old$i)"
	[ "$STATUS" = 200 ] || old_ok=0
	http POST /collect -H "$J" -H "X-Write-Key: $KN" -H "X-Request-Id: wk-new-$i" -d "$(ev new$i)"
	if [ "$STATUS" = 200 ]; then got=$((($(date +%s%N) - added) / 1000000)); break; fi
	sleep 0.1
done
check "a key added to the file is taken within 2 s (after ${got:-never} ms)" test -n "$got" -a "${got:-9999}" -le 2000
is "the old key kept working meanwhile" "$old_ok" 1
http POST /cgi/collect -H "$J" -H "X-Write-Key: $KN" -d "$(ev new-cgi)"
is "fcgiwrap takes the new key too" "$STATUS" 200

# A bad file: the old keys stay, an ERROR says which line.
printf '%s shop.web\nnot-a-key x\n' "$KH" >"$keys.tmp" && mv "$keys.tmp" "$keys"
for i in $(seq 40); do grep -q 'line 2' "$_STACK_RUN/collect.log" 2>/dev/null && break; sleep 0.1; done
http POST /collect -H "$J" -H "X-Write-Key: $KN" -d "$(ev still)"
is "a bad file later: the keys read before stay" "$STATUS" 200
check "... and an ERROR names the line" grep -q 'ERROR.*write keys.*line 2' "$_STACK_RUN/collect.log"

# Through the consumer: the source in every record.
start_consumer keys
if wait_drained 90; then ok "consumer drained collect-topic1"; else not_ok "consumer drained" "$(tail -5 "$CONSUMER_LOG")"; fi
stop_consumer
out_lines "$OUT" | cut -f2- >"$T/out"
for k in wk-header-pool wk-header-cgi wk-beacon-pool wk-beacon-cgi; do
	want=shop.web; [ "${k#wk-beacon}" != "$k" ] && want=app.beacon
	is "collect-topic2: $k has source $want" "$(jq -r "select(.request_id==\"$k\") | .source" "$T/out")" "$want"
done

# The key's bytes are in no file of the run: logs, spool, metrics, error log, consumer log.
stop_stack
found=$(grep -rlaF -e "$KH" -e "$KB" -e "$KN" "$T" --exclude=keys --exclude='keys.*' 2>/dev/null || true)
is "no file of the run holds a key (but the key file)" "$found" ""

# At start, a bad file stops the service, naming the line.
body_file "$(ev x)"
direct collect REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$LEN" HTTP_X_WRITE_KEY="$KH"
is "direct, bad file: exit 1, no answer" "$RC $STATUS" "1 "
check "direct, bad file: the log names the line" grep -q 'COLLECT_WRITE_KEYS.*line 2' <<<"$LOG"
