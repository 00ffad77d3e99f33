#!/usr/bin/env bash
# A request whose answer is deferred and finished by a thread of its own (as a Kafka
# delivery report finishes /collect's) goes back to its FastCGI pool without touching the
# pool after the drain may have ended: the pool lives on svc_http_serve()'s stack and is
# gone once the drain saw it idle. Built with ThreadSanitizer, a pool that woke the drain
# after letting go of its lock is reported as a race with the pool's destruction.
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

# fcgi_get PORT: one FastCGI request (no parameters, empty body); prints the answer's
# Status line.
fcgi_get() {
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	# BEGIN_REQUEST (role responder), end of PARAMS, end of STDIN; request id 1
	printf '\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00'`
		`'\x01\x04\x00\x01\x00\x00\x00\x00\x01\x05\x00\x01\x00\x00\x00\x00' >&3
	timeout 20 cat <&3 | tr -d '\0' | grep -a -o -m1 'Status: [0-9]*'
	exec 3<&-
}

port=$(free_port)
DEFER_MARK="$T/deferred" TSAN_OPTIONS=exitcode=66 \
	spawn-fcgi -n -a 127.0.0.1 -p "$port" -- "$bin" 2>"$T/deferfcgi-tsan.log" &
pid=$!
for _ in $(seq 200); do
	[ -n "$(ss -ltnH "sport = :$port")" ] && break
	sleep 0.05
done
fcgi_get "$port" >"$T/answer" &
getter=$!
for _ in $(seq 400); do # the request is deferred: SIGTERM comes while it is in flight
	[ -e "$T/deferred" ] && break
	sleep 0.05
done
check "the request was deferred" test -e "$T/deferred"
kill -TERM "$pid"
wait "$getter"
is "the deferred request is answered during the drain" "$(cat "$T/answer")" "Status: 200"
wait "$pid"
is "the pool drains and exits 0" "$?" 0
if grep -q ThreadSanitizer "$T/deferfcgi-tsan.log"; then
	not_ok "no race between the last finish and the pool's end" \
		"$(grep -A24 'WARNING: ThreadSanitizer' "$T/deferfcgi-tsan.log" | head -40)"
else
	ok "no race between the last finish and the pool's end"
fi
