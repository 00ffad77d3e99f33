#!/usr/bin/env bash
# The home page shows what the service is doing, live, in headless Chromium (driver:
# tests/node/home-live.js): events sent from the page, an invalid batch, a Kafka outage
# filling the spool and the forwarder draining it, the consumer's lag; every number the
# one GET /?stats says. A failed run keeps its screenshot in var/test-artifacts/0843/.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-consumer.sh"

export KAFKA_TIMEOUT_MS=3000 # a batch during the outage is spooled within it
start_broker -p 2 -c "$T/control" || exit 1
start_stack || exit 1
node_deps || { not_ok "the test's npm packages are installed (tests/node)"; exit 0; }
stack_topics t0843
start_consumer c

http GET '/?stats'
is "GET /?stats: the sums as JSON" "$STATUS $(jq -c '[.events.received, .spool.records, (.kafka_ack.buckets | length)]' <<<"$BODY")" \
	"200 [0,0,15]"
http GET / -H 'Accept: text/html'
check "the page has the live tiles" grep -q 'id="t-received"' <<<"$BODY"

mkdir -p "$T/shots"
(cd "$TOP/tests/node" && TEST_DIR="$T/shots" CONTROL="$T/control" ARTIFACTS="$TOP/var/test-artifacts/0843" \
	timeout 300 node home-live.js) 2>"$T/driver.log"
rc=$?
[ $rc -le 1 ] || not_ok "the browser driver ended by itself" "exit $rc: $(tail -20 "$T/driver.log")"
stop_consumer
