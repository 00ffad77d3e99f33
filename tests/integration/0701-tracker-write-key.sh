#!/usr/bin/env bash
# The browser tracker with a write key, in headless Chromium, through nginx, the pools and a
# dev broker (driver: tests/node/tracker-key.js): a key of 2 events a second makes the
# collector answer 429 on the way; the tracker waits Retry-After and every event arrives
# once with the key's source. An unknown key stops the page's sending, keeping its queue.
. "$(dirname "$0")/lib.sh"
start_broker -p 2
export WRITE_KEY=wk_tracker_page_00112233 SOURCE=tracker.shop
printf '%s %s 2 3\n' "$WRITE_KEY" "$SOURCE" >"$T/keys"
export COLLECT_WRITE_KEYS=$T/keys
start_stack
node_deps || { not_ok "the test's npm packages are installed (tests/node)"; exit 0; }
http OPTIONS /collect -H 'Origin: http://shop.example' -H 'Access-Control-Request-Headers: x-write-key'
is "the preflight allows X-Write-Key" "$(header Access-Control-Allow-Headers)" "Content-Type, X-Request-Id, X-Write-Key"
(cd "$TOP/tests/node" && timeout 300 node tracker-key.js) 2>"$T/driver.log"
rc=$?
[ $rc -le 1 ] || not_ok "the browser driver ended by itself" "exit $rc: $(tail -20 "$T/driver.log")"
