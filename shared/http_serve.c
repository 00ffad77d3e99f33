/* http_serve.c - how requests are served: a FastCGI pool of threads under spawn-fcgi, with
 * the SIGTERM drain, or the single request of a CGI process; and deferred answers, which
 * another thread finishes (svc_http_defer, svc_http_finish).
 *
 * Threads: the pool's workers accept requests and run the handler; the thread that
 * called svc_http_serve waits for SIGTERM/SIGINT and drains; a deferred request is
 * finished on whichever thread calls svc_http_finish (a Kafka delivery report). Memory:
 * the pool and its requests live in svc_http_serve (its stack and one allocation) until
 * every request was given back and the drain saw the pool idle; a request's own
 * allocations are released (svc_http_req_release) before it goes back. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_int.h"
#include "log.h"

#define HTTP_MAX_THREADS 256
#define HTTP_MAX_INFLIGHT 4096

static int cgi_mode = -1;

int svc_http_is_cgi(void) {
        if (cgi_mode == -1)
                cgi_mode = FCGX_IsCGI();
        return cgi_mode;
}

/* CGI mode: the one request's deferred answer, waited for by the main thread. */
static pthread_mutex_t cgi_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cgi_cond = PTHREAD_COND_INITIALIZER;
static int cgi_done;

static void cgi_finished(svc_req_t *req) {
        (void)req;
        pthread_mutex_lock(&cgi_lock);
        cgi_done = 1;
        pthread_cond_signal(&cgi_cond);
        pthread_mutex_unlock(&cgi_lock);
}

/* Set by svc_http_defer() on the thread running the handler: the request is no longer
 * that thread's once the handler returns (svc_http_finish() may already have run). */
static _Thread_local int deferred;

void svc_http_defer(svc_req_t *req) {
        (void)req;
        deferred = 1;
}

/* Runs one request through the handler. Returns 1 when the handler deferred its answer:
 * the request then belongs to whoever calls svc_http_finish(). */
static int handle(svc_req_t *req, svc_http_handler_fn *fn, void *opaque) {
        deferred = 0;
        if (svc_http_req_begin(req) == 0)
                fn(req, opaque);
        return deferred;
}

/* A CGI answer sent before the body was read (413, 415, ...) must still let the server
 * finish writing it: fcgiwrap turns a failed write to our stdin into its own 502. So the
 * rest of the body is read and dropped, at most CONTENT_LENGTH bytes, before exiting. */
static void cgi_drain_body(size_t already_read) {
        const char *cl = getenv("CONTENT_LENGTH");
        unsigned long long left = cl ? strtoull(cl, NULL, 10) : 0;
        char buf[16384];

        left = left > already_read ? left - already_read : 0;
        while (left > 0) {
                size_t r = fread(buf, 1, left < sizeof(buf) ? (size_t)left : sizeof(buf), stdin);
                if (r == 0)
                        break;
                left -= r;
        }
}

/* Under AddressSanitizer the report at exit goes to stderr: it stays open there. */
#if defined(__SANITIZE_ADDRESS__)
#define HTTP_KEEP_STDERR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HTTP_KEEP_STDERR 1
#endif
#endif

void svc_http_end_output(void) {
        int fd;

        if (!svc_http_is_cgi() || (fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
                return;
        fflush(stdout);
        /* fcgiwrap ends the response when both pipes reach their end, a direct caller
         * reads stdout to its end: /dev/null in their place keeps fds 1 and 2 valid. */
        dup2(fd, STDOUT_FILENO);
#ifndef HTTP_KEEP_STDERR
        dup2(fd, STDERR_FILENO);
#endif
        close(fd);
}

/* A FastCGI pool: `threads` threads accept requests, each into a free request of the
 * pool's `inflight`, and run the handler; a deferred request is finished later by another
 * thread (a Kafka delivery report) while its thread accepts the next one. When every
 * request is in flight, accepting waits: the bound keeps memory fixed, and it is only
 * reached when Kafka stalls, where waiting in nginx's queue is better than a 503. */
struct pool {
        const char *endpoint;
        const svc_config_t *cfg;
        svc_http_handler_fn *fn;
        void *opaque;
        atomic_int stopping; /* set by the thread that waits for SIGTERM */
        pthread_mutex_t lock;
        pthread_cond_t freed; /* a request went back to the free list */
        svc_req_t *free_list;
        int busy; /* requests accepted and not finished */
};

/* True once the request body was read to its end (the empty end-of-stdin record included,
 * which this reads when it is all that is left). */
static int stdin_is_done(svc_req_t *req) {
        char c;
        return FCGX_GetStr(&c, 1, req->fcgx.in) == 0 && FCGX_HasSeenEOF(req->fcgx.in) == EOF;
}

/* Puts a request back on its pool's free list. The wake-up is given under the lock: once
 * it is let go, wait_idle() may see the pool idle and svc_http_serve() end it (the pool
 * lives on its stack), so nothing of the pool may be touched after the unlock. */
static void give_back(struct pool *pool, svc_req_t *req) {
        pthread_mutex_lock(&pool->lock);
        req->next_free = pool->free_list;
        pool->free_list = req;
        pool->busy--;
        pthread_cond_broadcast(&pool->freed);
        pthread_mutex_unlock(&pool->lock);
}

void svc_http_finish(svc_req_t *req) {
        if (!req->sent)
                svc_http_send_error(req, 500, "the handler gave no answer");
        svc_metrics_http_end(req->ep);
        if (req->is_cgi) {
                cgi_finished(req);
                return;
        }
        /* libfcgi closes a connection by shutting down its side and then waiting in poll()
         * until nginx closes too, which holds the thread and costs a context switch per
         * request. That lingering only matters when the client may still be sending: once
         * the body was read to its end, a plain close() is safe. */
        if (stdin_is_done(req))
                req->fcgx.detached = 1;
        /* Touches only this request's streams and socket: safe on any thread
         * (libfcgi's fcgiapp.c). */
        FCGX_Finish_r(&req->fcgx);
        svc_http_req_release(req);
        give_back(req->pool, req);
}

/* A free request, waiting while all are in flight; NULL once stopping. */
static svc_req_t *take_free(struct pool *pool) {
        svc_req_t *req = NULL;

        pthread_mutex_lock(&pool->lock);
        while (!atomic_load(&pool->stopping) && !(req = pool->free_list))
                pthread_cond_wait(&pool->freed, &pool->lock);
        if (req) {
                pool->free_list = req->next_free;
                pool->busy++;
        }
        pthread_mutex_unlock(&pool->lock);
        return req;
}

static void *worker(void *arg) {
        struct pool *pool = arg;
        svc_req_t *req;

        while ((req = take_free(pool))) {
                if (atomic_load(&pool->stopping) || FCGX_Accept_r(&req->fcgx) < 0) {
                        give_back(pool, req);
                        break;
                }
                if (!handle(req, pool->fn, pool->opaque))
                        svc_http_finish(req);
        }
        return NULL;
}

/* Waits until every deferred request was finished (the drain). */
static void wait_idle(struct pool *pool) {
        pthread_mutex_lock(&pool->lock);
        while (pool->busy > 0)
                pthread_cond_wait(&pool->freed, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
}

int svc_http_serve(const char *endpoint, const svc_config_t *cfg, int threads, int inflight,
                   svc_http_handler_fn *fn, void *opaque) {
        pthread_t tids[HTTP_MAX_THREADS];
        struct pool pool = {.endpoint = endpoint, .cfg = cfg, .fn = fn, .opaque = opaque};
        svc_req_t *reqs = NULL;
        sigset_t stop_sigs, old;
        int started = 0, sig, ret = -1;

        signal(SIGPIPE, SIG_IGN); /* a client that went away is not a reason to die */
        if (svc_http_is_cgi()) {
                svc_req_t req = {.is_cgi = 1,
                                 .endpoint = endpoint,
                                 .ep = svc_metrics_endpoint(endpoint),
                                 .cfg = cfg};
                cgi_done = 0;
                if (handle(&req, fn, opaque)) { /* one request, one wait */
                        pthread_mutex_lock(&cgi_lock);
                        while (!cgi_done)
                                pthread_cond_wait(&cgi_cond, &cgi_lock);
                        pthread_mutex_unlock(&cgi_lock);
                } else {
                        svc_http_finish(&req);
                }
                cgi_drain_body(req.body_read);
                svc_http_req_release(&req);
                return 0;
        }
        if (FCGX_Init() != 0)
                return -1;
        threads = threads < 1 ? 1 : threads > HTTP_MAX_THREADS ? HTTP_MAX_THREADS : threads;
        inflight = inflight < threads             ? threads
                   : inflight > HTTP_MAX_INFLIGHT ? HTTP_MAX_INFLIGHT
                                                  : inflight;
        if (!(reqs = calloc((size_t)inflight, sizeof(*reqs))))
                return -1;
        pthread_mutex_init(&pool.lock, NULL);
        pthread_cond_init(&pool.freed, NULL);
        for (int i = 0; i < inflight; i++) {
                if (FCGX_InitRequest(&reqs[i].fcgx, 0, 0) != 0)
                        goto out;
                reqs[i].pool = &pool;
                reqs[i].endpoint = endpoint;
                reqs[i].ep = svc_metrics_endpoint(endpoint);
                reqs[i].cfg = cfg;
                reqs[i].next_free = pool.free_list;
                pool.free_list = &reqs[i];
        }

        /* Workers never see SIGTERM/SIGINT: this thread waits for them with sigwait(),
         * because libfcgi's own handler only sets a flag that blocked accepts ignore. */
        sigemptyset(&stop_sigs);
        sigaddset(&stop_sigs, SIGTERM);
        sigaddset(&stop_sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop_sigs, &old);
        for (; started < threads; started++)
                if (pthread_create(&tids[started], NULL, worker, &pool) != 0)
                        break;
        if (started == 0)
                goto out;
        svc_log(SVC_LOG_INFO, NULL, endpoint,
                "serving FastCGI with %d threads, at most %d requests in flight", started,
                inflight);

        sigwait(&stop_sigs, &sig);
        svc_log(SVC_LOG_INFO, NULL, endpoint, "%s: draining", strsignal(sig));
        pthread_mutex_lock(&pool.lock);
        atomic_store(&pool.stopping, 1);
        pthread_cond_broadcast(&pool.freed);
        pthread_mutex_unlock(&pool.lock);
        /* Wakes every thread blocked in accept(); a request being served completes. */
        shutdown(0, SHUT_RDWR);
        for (int i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        wait_idle(&pool); /* every deferred request answered */
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        ret = 0;
out:
        for (int i = 0; reqs && i < inflight; i++)
                FCGX_Free(&reqs[i].fcgx, 1);
        free(reqs);
        pthread_cond_destroy(&pool.freed);
        pthread_mutex_destroy(&pool.lock);
        return ret;
}
