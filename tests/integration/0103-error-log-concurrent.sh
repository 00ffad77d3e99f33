#!/usr/bin/env bash
# ERROR_LOG under concurrent writers: many processes and threads refusing requests at
# once append whole lines, one per refusal, none lost, none interleaved.
. "$(dirname "$0")/lib.sh"
start_broker -p 1
POOL_PROCS=3 start_stack
writers=8 per=40
pids=""
for w in $(seq $writers); do
	(
		for i in $(seq $per); do
			# A long message (over PIPE_BUF once logged) makes interleaving visible.
			curl -s -o /dev/null -X POST "$BASE_URL/collect" -H 'Content-Type: application/json' \
				-H "X-Request-Id: w$w-$i" -d "{\"events\":[{\"event_type\":\"$(printf 'y%.0s' $(seq 200))\",\"event_time\":1,\"user_id\":\"u\"}]}"
		done
	) &
	pids="$pids $!"
done
# and the CGI path writes to the same file from other processes
for i in $(seq 10); do
	curl -s -o /dev/null -X POST "$BASE_URL/cgi/collect" -H 'Content-Type: application/json' -H "X-Request-Id: cgi-$i" -d '{'
done
wait $pids
is "one line per refusal" "$(wc -l <"$ERROR_LOG")" $((writers * per + 10))
check "every line is a whole JSON object" jq -e -s 'length > 0' "$ERROR_LOG"
is "every request id appears exactly once" "$(jq -r .request_id "$ERROR_LOG" | sort | uniq -d | wc -l)" 0
is "the CGI refusals are there too" "$(jq -r 'select(.request_id|startswith("cgi-")) | .status' "$ERROR_LOG" | sort -u)" 400
