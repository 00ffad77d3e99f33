# lib-metrics.sh - helpers of the metrics scripts (084x); source after lib.sh.
#   req ENDPOINT METHOD PATH [curl args...]   http, and the answer tallied in CLIENT
#                                             under "ENDPOINT STATUS" (as the handlers
#                                             count it: /cgi/... under its endpoint)
#   scrape [PATH]                             GET /metrics (tallied); the text in $M
#   metric SERIES                             the value of one series of $M, "" if absent
#   wait_metric SERIES VALUE                  scrapes until SERIES reads VALUE (10 s at most)
#   client_requests / metric_requests         "endpoint code count" lines, sorted: what
#                                             the client counted, and what $M says
declare -A CLIENT=()

req() {
	local endpoint=$1
	shift
	http "$@"
	CLIENT["$endpoint $STATUS"]=$((${CLIENT["$endpoint $STATUS"]:-0} + 1))
}

scrape() {
	req /metrics GET "${1:-/metrics}"
	M=$BODY
}

metric() {
	awk -v s="$1" 'index($0, s " ") == 1 { print substr($0, length(s) + 2); exit }' <<<"$M"
}

# Counters of committed work are added just after the work is committed: wait for them.
wait_metric() {
	for _ in $(seq 100); do
		scrape
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	echo "# $1 is $(metric "$1"), not $2"
	return 1
}

client_requests() {
	local k
	for k in "${!CLIENT[@]}"; do echo "$k ${CLIENT[$k]}"; done | sort
}

# The scrape in $M was answered after its text was made: it counts itself only from the
# next scrape on, so it is taken off the client's tally.
metric_requests() {
	sed -n 's/^events_http_requests_total{endpoint="\([^"]*\)",code="\([^"]*\)"} \(.*\)$/\1 \2 \3/p' <<<"$M" |
		awk '$1 == "/metrics" && $2 == 200 { $3 += 1 } { print }' | sort
}
