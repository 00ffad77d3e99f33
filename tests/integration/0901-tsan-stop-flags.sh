#!/usr/bin/env bash
# A FastCGI pool's stop flag, written by the thread that waits for SIGTERM and read by
# every worker, is shared without a data race: the pooled handler glue (shared/http.c,
# through the home handler) and the empty handler of the benchmarks, built with
# ThreadSanitizer, each serve a request and drain on SIGTERM without a report.
# (The Kafka producer's flag is not covered: librdkafka's own threads crash under TSan.)
# Then a request whose answer is deferred and finished by a thread of its own (as a Kafka
# delivery report finishes /collect's) goes back to its pool without touching the pool
# after the drain may have ended: the pool lives on svc_http_serve()'s stack and is gone
# once the drain saw it idle. A pool that woke the drain after letting go of its lock is
# reported as a race with the pool's destruction.
. "$(dirname "$0")/lib.sh"

pkgs="jansson rdkafka libcurl openssl zlib"
cflags="-std=c11 -D_GNU_SOURCE -pthread -I$TOP/shared -O1 -g -fsanitize=thread $(pkg-config --cflags $pkgs)"
mkdir -p "$T/tsan"
for f in "$TOP"/shared/*.c; do
	# shellcheck disable=SC2086
	if ! out=$(${CC:-gcc} $cflags -c -o "$T/tsan/$(basename "$f" .c).o" "$f" 2>&1); then
		not_ok "$f builds with ThreadSanitizer" "$out"
		exit 0
	fi
done
ar rcs "$T/tsan/libsvc.a" "$T"/tsan/*.o

# fcgi_get PORT: one FastCGI request (no parameters, empty body); prints the answer's
# Status line. The handler closes the connection after it (no keep-alive flag).
fcgi_get() {
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	# BEGIN_REQUEST (role responder), end of PARAMS, end of STDIN; request id 1
	printf '\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00'`
		`'\x01\x04\x00\x01\x00\x00\x00\x00\x01\x05\x00\x01\x00\x00\x00\x00' >&3
	timeout 10 cat <&3 | tr -d '\0' | grep -a -o -m1 'Status: [0-9]*'
	exec 3<&-
}

# serve_tsan NAME BIN: BIN under spawn-fcgi on a free port, ThreadSanitizer's reports in
# $T/NAME-tsan.log; sets port and pid once it listens. The caller's environment
# assignments reach BIN. Another program may take the port before spawn-fcgi binds it:
# then spawn-fcgi exits and another port is tried.
serve_tsan() {
	for _ in 1 2 3; do
		port=$(free_port)
		TSAN_OPTIONS=exitcode=66 spawn-fcgi -n -a 127.0.0.1 -p "$port" -- "$2" 2>"$T/$1-tsan.log" &
		pid=$!
		for _ in $(seq 200); do
			[ -n "$(ss -ltnH "sport = :$port")" ] && return 0
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		echo "# $1 did not listen on $port: $(head -c 2000 "$T/$1-tsan.log")"
	done
}

for src in handlers/home.c tools/emptyfcgi.c; do
	name=$(basename "$src" .c)
	bin="$T/tsan/$name"
	# shellcheck disable=SC2086
	if ! out=$(${CC:-gcc} $cflags -o "$bin" "$TOP/$src" "$T/tsan/libsvc.a" $(pkg-config --libs $pkgs) \
		-lfcgi -pthread 2>&1); then
		not_ok "$name builds with ThreadSanitizer" "$out"
		continue
	fi
	FORCE_DEV_MODE=true HANDLER_THREADS=4 serve_tsan "$name" "$bin"
	# A worker read the flag before it accepted this request: SIGTERM's write comes after.
	is "$name under TSan: a request is served" "$(fcgi_get "$port")" "Status: 200"
	kill -TERM "$pid"
	wait "$pid"
	is "$name under TSan: drains and exits 0" "$?" 0
	if grep -q ThreadSanitizer "$T/$name-tsan.log"; then
		not_ok "$name under TSan: no data race" "$(grep -A12 'WARNING: ThreadSanitizer' "$T/$name-tsan.log" | head -30)"
	else
		ok "$name under TSan: no data race"
	fi
done

# The handler defers every answer, says so in DEFER_MARK, and answers from a thread of
# its own a little later.
cat >"$T/deferfcgi.c" <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "http.h"

static void *finish_later(void *arg) {
        svc_req_t *req = arg;
        struct timespec nap = {0, 200 * 1000000L};
        nanosleep(&nap, NULL);
        svc_http_send(req, 200, "text/plain", "late\n", 5);
        svc_http_finish(req);
        return NULL;
}

static void handler(svc_req_t *req, void *opaque) {
        pthread_t tid;
        FILE *fp;
        (void)opaque;
        svc_http_defer(req);
        if (pthread_create(&tid, NULL, finish_later, req) != 0) {
                svc_http_send(req, 500, "text/plain", "", 0);
                svc_http_finish(req);
                return;
        }
        pthread_detach(tid);
        if ((fp = fopen(getenv("DEFER_MARK"), "w")))
                fclose(fp);
}

int main(void) {
        return svc_http_serve("/defer", NULL, 2, 4, handler, NULL) ? 1 : 0;
}
EOF
bin="$T/tsan/deferfcgi"
# shellcheck disable=SC2086
if ! out=$(${CC:-gcc} $cflags -o "$bin" "$T/deferfcgi.c" "$T/tsan/libsvc.a" $(pkg-config --libs $pkgs) \
	-lfcgi -pthread 2>&1); then
	not_ok "deferfcgi builds with ThreadSanitizer" "$out"
	exit 0
fi

DEFER_MARK="$T/deferred" serve_tsan deferfcgi "$bin"
fcgi_get "$port" >"$T/answer" &
getter=$!
for _ in $(seq 400); do # the request is deferred: SIGTERM comes while it is in flight
	[ -e "$T/deferred" ] && break
	sleep 0.05
done
check "deferred under TSan: the request was deferred" test -e "$T/deferred"
kill -TERM "$pid"
wait "$getter"
is "deferred under TSan: answered during the drain" "$(cat "$T/answer")" "Status: 200"
wait "$pid"
is "deferred under TSan: drains and exits 0" "$?" 0
if grep -q ThreadSanitizer "$T/deferfcgi-tsan.log"; then
	not_ok "deferred under TSan: no race between the last finish and the pool's end" \
		"$(grep -A24 'WARNING: ThreadSanitizer' "$T/deferfcgi-tsan.log" | head -40)"
else
	ok "deferred under TSan: no race between the last finish and the pool's end"
fi
