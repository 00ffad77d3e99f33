#!/usr/bin/env bash
# The browser tracker in headless Chromium, through nginx, the pools and a dev broker
# (driver: tests/node/tracker-browser.js): a page on another origin tracks events and
# they land in collect-topic1; with the collector down the page keeps them across a
# reload and every one arrives once it is back, a copy only ever as the same request;
# pagehide sends pending events by sendBeacon; Retry-After is honoured, a 422 is not
# retried, the queue is bounded; the home page demo shows its event accepted. A failed run
# keeps its screenshots in var/test-artifacts/0700/.
. "$(dirname "$0")/lib.sh"
start_broker -p 2
start_stack
node_deps || { not_ok "the test's npm packages are installed (tests/node)"; exit 0; }

version=$(sha256sum "$TOP/tracker/tracker.js" | cut -c1-12)
http GET "/tracker.js?v=$version" -H 'Origin: http://shop.example' --compressed
is "/tracker.js?v=<content hash> -> 200 JavaScript" "$STATUS $(header Content-Type)" "200 text/javascript; charset=utf-8"
is "cached for a year, immutable" "$(header Cache-Control)" "public, max-age=31536000, immutable"
is "any origin may load it" "$(header Access-Control-Allow-Origin)" "*"
is "sent compressed" "$(header Content-Encoding)" "gzip"
http GET /tracker.js
is "without the version: cached five minutes only" "$(header Cache-Control)" "public, max-age=300"
size=$(curl -sS -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "$BASE_URL/tracker.js?v=$version")
check "a few KB on the wire ($size bytes)" test "$size" -lt 8192

mkdir -p "$T/shots"
(cd "$TOP/tests/node" && TEST_DIR="$T/shots" ARTIFACTS="$TOP/var/test-artifacts/0700" \
	timeout 400 node tracker-browser.js) 2>"$T/driver.log"
rc=$?
[ $rc -le 1 ] || not_ok "the browser driver ended by itself" "exit $rc: $(tail -20 "$T/driver.log")"
