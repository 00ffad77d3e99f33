/* http.c - request/response glue on libfcgi, for FastCGI pools and single CGI requests.
 * The only file that includes libfcgi. */
#include "http.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "metrics.h"

#define HTTP_MAX_HEADERS 16
#define HTTP_MAX_THREADS 256
#define HTTP_RETRY_AFTER_S 5 /* on every 503; README.md, Endpoints */
#define HTTP_MAX_INFLIGHT 4096

struct pool;

struct svc_req {
        FCGX_Request fcgx; /* FastCGI mode only */
        struct pool *pool; /* FastCGI mode: the pool the request goes back to */
        struct svc_req *next_free;
        int is_cgi;
        const char *endpoint;
        svc_metrics_ep_t ep;     /* the endpoint it is counted under */
        struct timespec started; /* when the handler got it */
        const svc_config_t *cfg;
        char request_id[65];
        char *path;       /* owned */
        char *body;       /* owned, NUL-terminated */
        int sent;         /* a response went out */
        size_t body_read; /* raw body bytes consumed */
        int status;
        char *headers[HTTP_MAX_HEADERS]; /* "Name: value", owned */
        int header_cnt;
};

static int cgi_mode = -1;

int svc_http_is_cgi(void) {
        if (cgi_mode == -1)
                cgi_mode = FCGX_IsCGI();
        return cgi_mode;
}

const char *svc_http_param(svc_req_t *req, const char *name) {
        return req->is_cgi ? getenv(name) : FCGX_GetParam(name, req->fcgx.envp);
}

const char *svc_http_method(svc_req_t *req) {
        const char *m = svc_http_param(req, "REQUEST_METHOD");
        return m ? m : "GET";
}

const char *svc_http_path(svc_req_t *req) {
        return req->path;
}

const char *svc_http_request_id(svc_req_t *req) {
        return req->request_id;
}

const char *svc_http_client_ip(svc_req_t *req) {
        const char *ip = svc_http_param(req, "REMOTE_ADDR");
        return ip ? ip : "";
}

const char *svc_http_endpoint(svc_req_t *req) {
        return req->endpoint;
}

/* An incoming id is kept when it is a sane token: 1-64 of [A-Za-z0-9._-]. */
static int is_sane_request_id(const char *id) {
        size_t n = id ? strlen(id) : 0;
        if (n == 0 || n > 64)
                return 0;
        return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789._-") == n;
}

static void new_request_id(char *buf) {
        unsigned char rnd[16];
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
                /* Never expected; fall back to something unique enough per process. */
                static unsigned long counter;
                snprintf(buf, 33, "%08x%08lx%016lx", (unsigned)getpid(),
                         __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED),
                         (unsigned long)time(NULL));
                return;
        }
        for (int i = 0; i < 16; i++)
                sprintf(buf + 2 * i, "%02x", rnd[i]);
}

static char *request_path(svc_req_t *req) {
        const char *p = svc_http_param(req, "DOCUMENT_URI");
        const char *uri, *q;

        if (p && *p)
                return strdup(p);
        if ((uri = svc_http_param(req, "REQUEST_URI")) && *uri) {
                q = strchr(uri, '?');
                return strndup(uri, q ? (size_t)(q - uri) : strlen(uri));
        }
        if ((p = svc_http_param(req, "SCRIPT_NAME")) && *p) {
                const char *info = svc_http_param(req, "PATH_INFO");
                char *s;
                if (asprintf(&s, "%s%s", p, info ? info : "") < 0)
                        return NULL;
                return s;
        }
        return strdup("/");
}

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c |= 0x20;
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int svc_http_query_param(svc_req_t *req, const char *name, char *buf, size_t buf_size) {
        const char *q = svc_http_param(req, "QUERY_STRING");
        size_t name_len = strlen(name);

        while (q && *q) {
                const char *end = q + strcspn(q, "&");
                if ((size_t)(end - q) >= name_len && !strncmp(q, name, name_len) &&
                    (q[name_len] == '=' || q + name_len == end)) {
                        const char *v = q + name_len + (q[name_len] == '=');
                        size_t n = 0;
                        for (; v < end; v++) {
                                int c = (unsigned char)*v;
                                if (c == '+')
                                        c = ' ';
                                else if (c == '%' && end - v >= 3 && hexval(v[1]) >= 0 &&
                                         hexval(v[2]) >= 0) {
                                        c = hexval(v[1]) * 16 + hexval(v[2]);
                                        v += 2;
                                }
                                if (n + 1 >= buf_size)
                                        return -2;
                                buf[n++] = (char)c;
                        }
                        buf[n] = '\0';
                        return (int)n;
                }
                q = *end ? end + 1 : end;
        }
        return -1;
}

int svc_http_content_type_is(svc_req_t *req, const char *type) {
        const char *ct = svc_http_param(req, "CONTENT_TYPE");
        size_t n = strlen(type);
        if (!ct)
                return 0;
        while (*ct == ' ')
                ct++;
        return !strncasecmp(ct, type, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Reads up to n bytes of the raw body; returns the count read. */
static size_t read_raw(svc_req_t *req, char *buf, size_t n) {
        size_t got = 0;
        while (got < n) {
                size_t want = n - got > (1 << 20) ? (1 << 20) : n - got;
                size_t r;
                if (req->is_cgi)
                        r = fread(buf + got, 1, want, stdin);
                else {
                        int ri = FCGX_GetStr(buf + got, (int)want, req->fcgx.in);
                        r = ri > 0 ? (size_t)ri : 0;
                }
                if (r == 0)
                        break;
                got += r;
        }
        req->body_read += got;
        return got;
}

/* Inflates a gzip body into a new buffer of at most max bytes. */
static svc_body_err_t gunzip(const char *in, size_t in_len, size_t max, char **out, size_t *out_len,
                             char *errstr, size_t errstr_size) {
        z_stream zs = {0};
        size_t cap = in_len * 4 + 1024 < max + 1 ? in_len * 4 + 1024 : max + 1;
        char *buf = malloc(cap + 1);
        svc_body_err_t err = SVC_BODY_BAD_ENCODING;
        int rc;

        if (!buf || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
                free(buf);
                snprintf(errstr, errstr_size, "out of memory");
                return SVC_BODY_BAD_ENCODING;
        }
        zs.next_in = (Bytef *)in;
        zs.avail_in = (uInt)in_len;
        do {
                if (zs.total_out == cap) {
                        char *n;
                        if (cap > max) { /* one byte past the bound proves it is too large */
                                err = SVC_BODY_TOO_LARGE;
                                snprintf(errstr, errstr_size,
                                         "the decompressed body is larger than %zu bytes", max);
                                goto fail;
                        }
                        cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
                        if (!(n = realloc(buf, cap + 1))) {
                                snprintf(errstr, errstr_size, "out of memory");
                                goto fail;
                        }
                        buf = n;
                }
                zs.next_out = (Bytef *)buf + zs.total_out;
                zs.avail_out = (uInt)(cap - zs.total_out);
                rc = inflate(&zs, Z_NO_FLUSH);
        } while (rc == Z_OK || (rc == Z_BUF_ERROR && zs.avail_out == 0));
        if (rc != Z_STREAM_END) {
                snprintf(errstr, errstr_size, "the gzip body is corrupt or truncated");
                goto fail;
        }
        if (zs.total_out > max) {
                err = SVC_BODY_TOO_LARGE;
                snprintf(errstr, errstr_size, "the decompressed body is larger than %zu bytes",
                         max);
                goto fail;
        }
        buf[zs.total_out] = '\0';
        *out = buf;
        *out_len = zs.total_out;
        inflateEnd(&zs);
        return SVC_BODY_OK;
fail:
        inflateEnd(&zs);
        free(buf);
        return err;
}

svc_body_err_t svc_http_read_body(svc_req_t *req, size_t max, char **body, size_t *len,
                                  char *errstr, size_t errstr_size) {
        const char *cl = svc_http_param(req, "CONTENT_LENGTH");
        const char *ce = svc_http_param(req, "HTTP_CONTENT_ENCODING");
        int gzip = 0;
        char *raw, *end;
        unsigned long long want = 0;
        size_t got;

        if (ce && *ce) {
                if (!strcasecmp(ce, "gzip") || !strcasecmp(ce, "x-gzip"))
                        gzip = 1;
                else if (strcasecmp(ce, "identity")) {
                        snprintf(errstr, errstr_size, "unsupported Content-Encoding (use gzip)");
                        return SVC_BODY_BAD_ENCODING;
                }
        }
        if (cl && *cl) {
                errno = 0;
                want = strtoull(cl, &end, 10);
                if (errno || *end || *cl == '-') {
                        snprintf(errstr, errstr_size, "invalid Content-Length");
                        return SVC_BODY_TRUNCATED;
                }
        }
        if (want > max) {
                snprintf(errstr, errstr_size, "the body is larger than %zu bytes", max);
                return SVC_BODY_TOO_LARGE;
        }
        if (!(raw = malloc((size_t)want + 1))) {
                snprintf(errstr, errstr_size, "out of memory");
                return SVC_BODY_TOO_LARGE;
        }
        got = read_raw(req, raw, (size_t)want);
        if (got < want) {
                free(raw);
                snprintf(errstr, errstr_size, "the body ended after %zu of %llu bytes", got, want);
                return SVC_BODY_TRUNCATED;
        }
        raw[got] = '\0';
        if (gzip) {
                char *plain = NULL;
                svc_body_err_t err = gunzip(raw, got, max, &plain, &got, errstr, errstr_size);
                free(raw);
                if (err != SVC_BODY_OK)
                        return err;
                raw = plain;
        }
        free(req->body);
        req->body = raw;
        *body = raw;
        *len = got;
        return SVC_BODY_OK;
}

int svc_http_read_text(svc_req_t *req, size_t max, const char **body, size_t *len) {
        char errstr[512] = "", *text; /* never sent unwritten */

        switch (svc_http_read_body(req, max, &text, len, errstr, sizeof(errstr))) {
        case SVC_BODY_OK: *body = text; return 0;
        case SVC_BODY_TOO_LARGE: svc_http_send_error(req, 413, "%s", errstr); return -1;
        default: svc_http_send_error(req, 400, "%s", errstr); return -1;
        }
}

json_t *svc_http_parse_json(svc_req_t *req, const char *body, size_t len) {
        json_error_t jerr;
        json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

        if (!obj)
                svc_http_send_error(req, 400, "malformed JSON at line %d, column %d: %s", jerr.line,
                                    jerr.column, jerr.text);
        return obj;
}

json_t *svc_http_read_json(svc_req_t *req, size_t max) {
        const char *text;
        size_t len;

        return svc_http_read_text(req, max, &text, &len) == -1
                   ? NULL
                   : svc_http_parse_json(req, text, len);
}

void svc_http_add_header(svc_req_t *req, const char *name, const char *value) {
        char *h;
        if (req->header_cnt == HTTP_MAX_HEADERS || asprintf(&h, "%s: %s", name, value) < 0)
                return;
        /* Header values come from our code; still, never let one split a line. */
        for (char *p = h; *p; p++)
                if (*p == '\r' || *p == '\n')
                        *p = ' ';
        req->headers[req->header_cnt++] = h;
}

static const char *reason_phrase(int status) {
        switch (status) {
        case 200: return "OK";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 411: return "Length Required";
        case 413: return "Payload Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Entity";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "Status";
        }
}

static uint64_t usec_since(const struct timespec *t) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (uint64_t)((now.tv_sec - t->tv_sec) * 1000000LL + (now.tv_nsec - t->tv_nsec) / 1000);
}

static void put(svc_req_t *req, const char *s, size_t n) {
        if (req->is_cgi)
                fwrite(s, 1, n, stdout);
        else
                FCGX_PutStr(s, (int)n, req->fcgx.out);
}

void svc_http_send(svc_req_t *req, int status, const char *content_type, const char *body,
                   size_t len) {
        char head[512];
        int n;

        if (req->sent)
                return;
        req->sent = 1;
        req->status = status;
        /* Counted before it goes out: whoever got the answer finds it in /metrics. */
        svc_metrics_http_answered(req->ep, status, usec_since(&req->started));
        n = snprintf(head, sizeof(head),
                     "Status: %d %s\r\nContent-Type: %s\r\nX-Request-Id: %s\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\n",
                     status, reason_phrase(status), content_type, req->request_id, len);
        /* Said here, where every answer goes out, so no 503 can be sent without it. */
        if (status == 503)
                n += snprintf(head + n, sizeof(head) - (size_t)n, "Retry-After: %d\r\n",
                              HTTP_RETRY_AFTER_S);
        put(req, head, (size_t)n);
        for (int i = 0; i < req->header_cnt; i++) {
                put(req, req->headers[i], strlen(req->headers[i]));
                put(req, "\r\n", 2);
        }
        put(req, "\r\n", 2);
        /* HEAD: the headers of the GET answer, Content-Length included, and no body */
        if (len && strcmp(svc_http_method(req), "HEAD"))
                put(req, body, len);
        if (req->is_cgi)
                fflush(stdout);
}

void svc_http_send_json(svc_req_t *req, int status, json_t *obj) {
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        if (!text) {
                static const char oom[] = "{\"status\":\"error\",\"message\":\"internal error\"}";
                svc_http_send(req, 500, "application/json; charset=utf-8", oom, sizeof(oom) - 1);
                return;
        }
        svc_http_send(req, status, "application/json; charset=utf-8", text, strlen(text));
        free(text);
}

void svc_http_send_error_details(svc_req_t *req, int status, const char *message, json_t *extra) {
        json_t *obj = json_pack("{s:s, s:s}", "status", "error", "message", message);
        if (obj && extra)
                json_object_update(obj, extra);
        json_decref(extra);
        if (req->cfg && !req->sent)
                svc_log_persist_error(req->cfg->error_log, req->endpoint, req->request_id, status,
                                      message, 0, NULL);
        svc_log(status >= 500 ? SVC_LOG_ERROR : SVC_LOG_INFO, req->request_id, req->endpoint,
                "%d %s", status, message);
        svc_http_send_json(req, status, obj);
}

void svc_http_send_error(svc_req_t *req, int status, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        svc_http_send_error_details(req, status, msg, NULL);
}

int svc_http_bearer_ok(svc_req_t *req, const char *token) {
        const char *auth = svc_http_param(req, "HTTP_AUTHORIZATION");
        size_t tlen = strlen(token), alen;
        unsigned char diff = 0;

        if (!auth || strncasecmp(auth, "Bearer ", 7))
                return 0;
        auth += 7;
        alen = strlen(auth);
        /* Time depends only on the length of the presented token, never on the secret. */
        for (size_t i = 0; i < alen; i++)
                diff |= (unsigned char)(auth[i] ^ (i < tlen ? token[i] : 0));
        return diff == 0 && alen == tlen;
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
        const char *id = svc_http_param(req, "HTTP_X_REQUEST_ID");

        clock_gettime(CLOCK_MONOTONIC, &req->started);
        svc_metrics_http_begin(req->ep);
        if (is_sane_request_id(id))
                snprintf(req->request_id, sizeof(req->request_id), "%s", id);
        else
                new_request_id(req->request_id);
        deferred = 0;
        if (!(req->path = request_path(req)))
                svc_http_send_error(req, 500, "internal error");
        else
                fn(req, opaque);
        return deferred;
}

/* Releases what the request allocated, for the next one. */
static void release(svc_req_t *req) {
        free(req->path);
        free(req->body);
        for (int i = 0; i < req->header_cnt; i++)
                free(req->headers[i]);
        req->path = req->body = NULL;
        req->header_cnt = 0;
        req->sent = 0;
        req->body_read = 0;
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
        release(req);
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
                release(&req);
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
