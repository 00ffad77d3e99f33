#!/usr/bin/env bash
# The budgets of /collect, through nginx with 2 pooled processes and fcgiwrap, one budget
# for the host: a key of 5/s with a burst of 5 takes 5 events, refuses 5 more with 429 and
# Retry-After, takes them after that wait, and refuses 6 at once with 413; the same key's
# budget holds across both pooled processes and CGI runs together; an address limit gives
# 429 within its burst plus its rate times the time. Refusals produce nothing, are never
# spooled, and are counted as rate_limited.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cgi.sh"
. "$(dirname "$0")/lib-metrics.sh"
start_broker -p 2 || exit 1
K5=wk_five_per_second_000001
KS=wk_shared_budget_00000002
printf '%s five 5 5\n%s shared 1 8\n' "$K5" "$KS" >"$T/keys"
export COLLECT_WRITE_KEYS=$T/keys POOL_PROCS=2
start_stack || exit 1
batch() { # batch N: a body of N events
	jq -nc --argjson n "$1" '{events: [range($n) | {event_type: "v", event_time: 1750867000000, user_id: "u\(.)"}]}'
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
before=$(topic_count collect-topic1)
msgs=0 refused=0 # requests that passed, events refused

# 5 pass, 5 more are refused: two batches of 5 sent together, one passes, the other gets a
# 429. Both pass only when the machine is so slow that a second went by between them:
# then again after a full refill, five times at most.
for try in 1 2 3 4 5; do
	pids=""
	for i in 1 2; do
		curl -sS -m 30 -D "$T/k5.$i.h" -o "$T/k5.$i.b" -w '%{http_code}' -X POST "$BASE_URL/collect" \
			-H "$J" -H "X-Write-Key: $K5" -d "$(batch 5)" >"$T/k5.$i" &
		pids="$pids $!"
	done
	wait $pids
	codes=$(cat "$T/k5.1" "$T/k5.2" | fold -w3 | sort | tr '\n' ' ')
	for c in $codes; do
		if [ "$c" = 200 ]; then msgs=$((msgs + 1)); else refused=$((refused + 5)); fi
	done
	[ "$codes" = "200 200 " ] || break
	sleep 1.2
done
r=1; [ "$(cat "$T/k5.1")" = 429 ] || r=2
s1=200 s2=$(cat "$T/k5.$r") ra=$(grep -i '^Retry-After:' "$T/k5.$r.h" | tr -dc 0-9) BODY=$(cat "$T/k5.$r.b")
is "two batches of 5 at once: one passes, one is refused" "$codes" "200 429 "
is "the 5 more: 429 with Retry-After 1" "$s2 $ra" "429 1"
check "... a JSON error naming the key's rate" jq -e '.message | test("5 events a second")' <<<"$BODY"
sleep "$ra"
http POST /collect -H "$J" -H "X-Write-Key: $K5" -d "$(batch 5)"
is "after Retry-After, they pass" "$STATUS" 200
[ "$STATUS" = 200 ] && msgs=$((msgs + 1))
http POST /cgi/collect -H "$J" -H "X-Write-Key: $K5" -d "$(batch 6)"
is "6 at once: 413 naming the burst" "$STATUS $(jq -r '.message | test("burst of 5")' <<<"$BODY")" "413 true"
http POST /collect -H "$J" -H "X-Write-Key: $K5" -d "$(batch 6)"
is "6 at once, pooled: 413 too" "$STATUS" 413
refused=$((refused + 12))

# One budget for the host: 1/s, burst 8, drawn by 2 pooled processes and fcgiwrap's CGI
# runs at once. Without sharing each would pass 8.
t0=$(now_ms)
for round in 1 2 3; do
	pids=""
	for i in 1 2 3 4 5 6 7 8; do
		path=/collect
		[ $((i % 2)) = 0 ] && path=/cgi/collect
		curl -sS -m 30 -o /dev/null -w '%{http_code}\n' -X POST "$BASE_URL$path" -H "$J" \
			-H "X-Write-Key: $KS" -d "$(batch 1)" >"$T/shared.$round.$i" &
		pids="$pids $!"
	done
	wait $pids
done
el=$(($(now_ms) - t0))
ok200=$(cat "$T"/shared.* | grep -c '^200$')
n429=$(cat "$T"/shared.* | grep -c '^429$')
allowed=$((8 + (el + 999) / 1000))
check "shared budget: $ok200 of 24 passed in $el ms, at least the burst of 8, at most $allowed" \
	test "$ok200" -ge 8 -a "$ok200" -le "$allowed"
is "shared budget: every other request was a 429" "$((ok200 + n429))" 24
msgs=$((msgs + ok200)) refused=$((refused + n429))

# An address's budget: 2 requests a second, 4 at once, whatever the key (none here).
stop_stack
unset COLLECT_WRITE_KEYS
export COLLECT_RATE_LIMIT_IP=2:4
start_stack || exit 1
t0=$(now_ms)
pids=""
for i in $(seq 16); do
	curl -sS -m 30 -D "$T/ip.$i.h" -o "$T/ip.$i.b" -w '%{http_code}\n' -X POST "$BASE_URL/collect" \
		-H "$J" -d "$(batch 1)" >"$T/ip.$i" &
	pids="$pids $!"
done
wait $pids
el=$(($(now_ms) - t0))
ipok=$(cat "$T"/ip.? "$T"/ip.?? | grep -c '^200$')
ip429=$(cat "$T"/ip.? "$T"/ip.?? | grep -c '^429$')
msgs=$((msgs + ipok)) refused=$((refused + ip429))
allowed=$((4 + 2 * (el + 999) / 1000))
check "address budget: $ipok of 16 at once passed in $el ms: at least 4, at most 4 + 2/s x the time ($allowed)" \
	test "$ipok" -ge 4 -a "$ipok" -le "$allowed"
is "address budget: the others were 429s" "$((ipok + ip429))" 16
check "address budget: each 429 says Retry-After" \
	test "$(grep -li '^Retry-After: [1-9]' "$T"/ip.*.h | wc -l)" = "$ip429"
check "address budget: a 429 is a JSON error naming the address's rate" \
	jq -e '.message | test("2 requests a second")' "$(grep -l '"status":"error"' "$T"/ip.*.b | head -1)"

is "Kafka holds exactly the requests that passed" "$(($(topic_count collect-topic1) - before))" "$msgs"
is "no refusal was spooled" "$("$BUILD/bin/spooltool" cat "$SPOOL_DIR" 2>/dev/null | wc -l)" 0
scrape
is "events_rejected_total{reason=rate_limited} counts every refused event" \
	"$(metric 'events_rejected_total{endpoint="/collect",reason="rate_limited"}')" "$refused"
is "rate-limited events were never received: received = acked + spooled" \
	"$(metric 'events_received_total{endpoint="/collect"}')" \
	"$(($(metric 'events_acked_total{endpoint="/collect"}') + $(metric 'events_spooled_total{endpoint="/collect"}')))"
check "the 429 answers are counted by status" \
	test "$(metric 'events_http_requests_total{endpoint="/collect",code="429"}')" -ge 1
