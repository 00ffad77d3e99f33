#!/usr/bin/env bash
# Faults during a Kafka outage; nothing answered 202 may go missing.
#  1. Concurrent writers: 2 pooled processes x 16 threads and CGI processes spool at once:
#     every record's checksum verifies and the spool holds exactly the 202s.
#  2. kill -9 of every /collect process and of the forwarder, a restart, more requests:
#     once the broker is back, every request answered 202 is in collect-topic1.
#  3. A full spool (small SPOOL_MAX_BYTES): 503 with Retry-After, nothing of it counted;
#     what was spooled still drains once Kafka is back.
. "$(dirname "$0")/lib.sh"

# Requests in flight when the broker goes down wait KAFKA_TIMEOUT_MS for their answer;
# what this script checks is that no 202 goes missing, not how fast, so the default will do.
export KAFKA_TIMEOUT_MS=5000 POOL_PROCS=2 HANDLER_THREADS=16
start_broker -p 4 -c "$T/control" || exit 1
start_stack || exit 1
mkdir -p "$T/res"
post() { # post PATH ID: "code" into $T/res/ID
	curl -sS -m 60 -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
		-H "X-Request-Id: $2" -d "{\"events\":[{\"event_type\":\"a\",\"event_time\":1,\"user_id\":\"$2\"}]}" \
		"$BASE_URL$1" >"$T/res/$2" 2>/dev/null
}
export -f post
export T
accepted() { grep -l '^202$' "$T"/res/* 2>/dev/null | xargs -r -n1 basename | sort; }
spooltool() { "$BUILD/bin/spooltool" "$@"; }
# wait_landed: until every key in $T/want is in collect-topic1 (at most 120 s); $T/got.
wait_landed() {
	for _ in $(seq 600); do
		topic_dump collect-topic1 | jq -r .key | sort -u >"$T/got"
		[ -z "$(comm -23 "$T/want" "$T/got")" ] && return
		sleep 0.2
	done
}

echo "down 1" >"$T/control"
seq 300 | xargs -P 32 -I{} bash -c 'post /collect w-{}'
seq 20 | xargs -P 4 -I{} bash -c 'post /cgi/collect c-{}'
n202=$(accepted | wc -l)
is "concurrent writers: all 320 answered 202" "$n202" 320
check "every record's checksum verifies" spooltool verify "$SPOOL_DIR"
is "the spool holds exactly the 202s" "$(spooltool cat "$SPOOL_DIR" | cut -f1 | sort)" "$(accepted)"

# 2. kill -9 the pool and the forwarder, restart, spool more.
for p in $(cat "$T/run/collect.pid" "$T/run/forwarder.pid"); do kill -9 "$p" 2>/dev/null; done
stop_stack >/dev/null 2>&1
start_stack || exit 1
seq 30 | xargs -P 8 -I{} bash -c 'post /collect k-{}'
is "after kill -9 and a restart: 30 more answered 202" "$(accepted | grep -c '^k-')" 30
accepted >"$T/want"

echo "up 1" >"$T/control"
wait_landed
is "broker back: every request answered 202 is in collect-topic1" \
	"$(comm -23 "$T/want" "$T/got" | wc -l)" 0
for _ in $(seq 300); do [ "$(spooltool ls "$SPOOL_DIR" | tail -1 | awk '{print $1}')" = 0 ] && break; sleep 0.2; done
is "and the spool is empty" "$(spooltool ls "$SPOOL_DIR" | tail -1 | awk '{print $1, $3}')" "0 0"

# 3. A full spool.
stop_stack
export SPOOL_MAX_BYTES=6000
start_stack || exit 1
echo "down 1" >"$T/control"
rm -f "$T"/res/*
for i in $(seq 200); do
	post /collect f-$i
	[ "$(cat "$T/res/f-$i")" = 503 ] && break
done
is "past SPOOL_MAX_BYTES: 503" "$(cat "$T/res/f-$i")" 503
http POST /collect -H 'Content-Type: application/json' -d '{"events":[{"event_type":"a","event_time":1,"user_id":"u"}]}'
is "with Retry-After, saying nothing was accepted" \
	"$STATUS $(header Retry-After | grep -c '^[0-9]') $(jq -r '.message | test("nothing was accepted")' <<<"$BODY")" "503 1 true"
accepted >"$T/want"
check "some were spooled before it filled up" test -s "$T/want"
echo "up 1" >"$T/control"
wait_landed
is "broker back: the full spool drained into collect-topic1" "$(comm -23 "$T/want" "$T/got" | wc -l)" 0
