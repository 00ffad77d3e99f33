#!/usr/bin/env bash
# GET /metrics counts exactly, through nginx, the pools and fcgiwrap. A mixed load: good,
# invalid, malformed and too large /collect batches, CSV ingests with bad and skipped rows,
# pooled and per request; the broker down with the spool on (202), then the stack
# restarted with the spool off (503), then the broker back. Afterwards, per endpoint,
# events_received_total = acked + spooled + rejected{unavailable,too_large}, each of them
# what the client's answers said, and events_http_requests_total is exactly the client's
# tally of (endpoint, status). GET /?stats says the same sums, and the text passes
# promtool check metrics.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ingest.sh"
. "$(dirname "$0")/lib-metrics.sh"

export KAFKA_TIMEOUT_MS=3000 # the outage's requests answer within it
start_broker -p 2 -c "$T/control" || exit 1
start_stack || exit 1

# What the answers said, per endpoint: EV["/collect received"] ...
declare -A EV=()
ev_add() { EV["$1 $2"]=$((${EV["$1 $2"]:-0} + $3)); }

# batch N: N valid events
batch() {
	jq -cn --argjson n "$1" '{events: [range($n) | {event_type: "view", event_time: 1750867000000, user_id: "u\(.)"}]}'
}
# collect PATH N: a batch of N valid events; the answer says where they went.
collect() {
	req /collect POST "$1" -H "$J" -d "$(batch "$2")"
	case "$STATUS" in
	200) ev_add /collect acked "$2" ;;
	202) ev_add /collect spooled "$2" ;;
	503) ev_add /collect unavailable "$2" ;;
	*) echo "# $1: unexpected $STATUS $BODY" ;;
	esac
	[ "$STATUS" = 000 ] || ev_add /collect received "$2"
}

# 1. Kafka up.
for i in $(seq 6); do collect /collect $i; done
for i in 1 2 3; do collect /cgi/collect 2; done
is "the good batches: 200" "$(client_requests | grep '^/collect 200 ')" "/collect 200 9"
# invalid: 3 events, the second without user_id: all three refused by the checks
req /collect POST /collect -H "$J" -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"},{"event_type":"a","event_time":1},{"event_type":"a","event_time":1,"user_id":"u"}]}'
is "an invalid batch: 422" "$STATUS" 422
ev_add /collect invalid 3
req /collect POST /cgi/collect -H "$J" -d '{"events":[{"event_type":""}]}'
ev_add /collect invalid 1
req /collect POST /collect -H "$J" -d '{"events": [}'
is "malformed JSON: 400, no event counted" "$STATUS" 400
req /collect POST /collect -H 'Content-Type: application/xml' -d '<x/>'
req /collect GET /collect
# Over 1,000,000 bytes: refused while reading, before any check (no event counted).
head -c 1000001 /dev/zero | tr '\0' ' ' >"$T/big.json"
req /collect POST /collect -H "$J" --data-binary @"$T/big.json"
is "a body over the bound: 413" "$STATUS" 413
# Under the bound and valid, but its raw message (the envelope added) is not: received,
# then refused as too_large.
head='{"events":[{"event_type":"view","event_time":1750867000000,"user_id":"u","pad":"'
tail='"}]}'
{ printf '%s' "$head"; head -c $((999990 - ${#head} - ${#tail})) /dev/zero | tr '\0' x; printf '%s' "$tail"; } >"$T/near.json"
req /collect POST /collect -H "$J" --data-binary @"$T/near.json"
is "a batch whose raw message would not fit one Kafka message: 413" "$STATUS" 413
ev_add /collect received 1
ev_add /collect too_large 1

{
	echo "$H"
	for i in 1 2 3 4 5; do echo "2025-10-22,R$i,10.0.0.$i,ua,fp-$i,https://e.com,LINK_TRACKING"; done
	echo "2025-10-22,R6,not-an-ip,ua,fp-6,https://e.com,LINK_TRACKING"
	echo "2025-10-22,R7,10.0.0.7,ua,fp-7,ftp://e.com,COOKIE"
	echo "2025-10-21,R8,10.0.0.8,ua,fp-8,https://e.com,LINK_TRACKING"
} | csv mixed.csv
printf '%s\n%s\n' "$H" '2025-10-22,R1,bad,ua,fp-1,https://e.com,COOKIE' | csv bad.csv
# ingest PATH JSON: the answer's counts say where the rows went.
ingest_req() {
	req /api/ingest POST "$1" -H "$J" -d "$2"
	if [ "$STATUS" = 200 ] || [ "$STATUS" = 422 ]; then
		ev_add /api/ingest received "$(jq '.processed_count // 0' <<<"$BODY")"
		ev_add /api/ingest acked "$(jq '.processed_count // 0' <<<"$BODY")"
		ev_add /api/ingest invalid "$(jq '.error_count // 0' <<<"$BODY")"
	fi
}
ingest_req /api/ingest '{"file_path":"mixed.csv","query_param_a":3,"date":"2025-10-22"}'
is "a CSV with bad and skipped rows: partial, 5 processed, 2 rejected, 1 skipped" "$(counts)" "partial 5 2 1"
ingest_req /cgi/api/ingest '{"file_path":"mixed.csv","query_param_a":3}'
is "per request, without the date filter: 6 processed, 2 rejected" "$(counts)" "partial 6 2 0"
ingest_req /api/ingest '{"file_path":"bad.csv","query_param_a":3}'
is "no valid row: 422" "$STATUS" 422
req /api/ingest POST /api/ingest -H "$J" -d '{"file_path":"../etc/passwd"}'
is "a refused path: 400" "$STATUS" 400
req /health GET /health
req / GET /
scrape /cgi/metrics
is "per request, /cgi/metrics answers too" "$STATUS $(header Content-Type)" "200 text/plain; version=0.0.4"

# 2. The broker down, the spool on: /collect keeps the events (202), /api/ingest 503.
echo "down 1" >"$T/control"
for i in 1 2 3; do collect /collect 4; done
collect /cgi/collect 3
is "broker down, spool on: 202" "$(client_requests | grep '^/collect 202 ')" "/collect 202 4"
# The ingest stops at its first valid row, which was received and is then unavailable.
ingest_req /api/ingest '{"file_path":"mixed.csv","query_param_a":3}'
is "broker down: /api/ingest 503" "$STATUS" 503
ev_add /api/ingest received 1
ev_add /api/ingest unavailable 1

# 3. The stack again, with the spool off: /collect 503, nothing kept. The counts of the
# first pools stay.
first_pools=$(awk 1 "$T"/run/{collect,health,home,ingest,processed_events,metrics}.pid | wc -l)
stop_stack
export SPOOL_DIR=off
start_stack || exit 1
for i in 1 2; do collect /collect 5; done
collect /cgi/collect 1
is "broker down, spool off: 503" "$(client_requests | grep '^/collect 503 ')" "/collect 503 3"

# 4. The broker back: the pools produce again (a first request may still find it away).
echo "up 1" >"$T/control"
for _ in $(seq 100); do
	collect /collect 2
	[ "$STATUS" = 200 ] && break
	sleep 0.2
done
is "broker back: 200" "$STATUS" 200
collect /cgi/collect 2

req / GET '/?stats'
STATS=$BODY
scrape
check "promtool check metrics: the text is valid exposition format" \
	bash -c 'promtool check metrics <<<"$1"' _ "$M"
for ep in /collect /api/ingest; do
	got=""
	want=""
	for o in received acked spooled; do
		got+="$o=$(metric "events_${o}_total{endpoint=\"$ep\"}") "
		want+="$o=${EV["$ep $o"]:-0} "
	done
	for r in invalid unavailable too_large; do
		got+="$r=$(metric "events_rejected_total{endpoint=\"$ep\",reason=\"$r\"}") "
		want+="$r=${EV["$ep $r"]:-0} "
	done
	is "$ep: every count is what the answers said" "$got" "$want"
	rec=$(metric "events_received_total{endpoint=\"$ep\"}")
	sum=$(($(metric "events_acked_total{endpoint=\"$ep\"}") + $(metric "events_spooled_total{endpoint=\"$ep\"}") +
		$(metric "events_rejected_total{endpoint=\"$ep\",reason=\"unavailable\"}") +
		$(metric "events_rejected_total{endpoint=\"$ep\",reason=\"too_large\"}")))
	is "$ep: received ($rec) = acked + spooled + unavailable + too_large ($sum)" "$sum" "$rec"
done
check "the outage was seen: some spooled, some unavailable" \
	test "${EV["/collect spooled"]:-0}" -gt 0 -a "${EV["/collect unavailable"]:-0}" -gt 0
is "events_http_requests_total is the client's tally, endpoint by endpoint, code by code" \
	"$(metric_requests)" "$(client_requests)"
is "no request in flight but this scrape" \
	"$(grep '^events_http_requests_in_flight' <<<"$M" | awk '{ s += $2 } END { print s }')" 1
is "GET /?stats says the same sums" \
	"$(jq -c '.endpoints["/collect"] | [.received, .acked, .spooled, .rejected.unavailable]' <<<"$STATS")" \
	"[$(metric 'events_received_total{endpoint="/collect"}'),$(metric 'events_acked_total{endpoint="/collect"}'),$(metric 'events_spooled_total{endpoint="/collect"}'),$(metric 'events_rejected_total{endpoint="/collect",reason="unavailable"}')]"
check "the first stack's $first_pools pooled processes were folded when they stopped" \
	test "$first_pools" -ge 6 -a "$(metric events_processes_ended_total)" -ge "$first_pools"
