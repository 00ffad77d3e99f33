/* http.c - one request and its answer, on libfcgi or CGI alike: its parameters, query and
 * request id, its body (bounded, gzip), JSON, and the answer with its headers. How
 * requests are served (the FastCGI pool, the single CGI request, the drain) is
 * http_serve.c. Only http.c and http_serve.c include libfcgi.
 *
 * Threads: a request is used by one thread at a time, the handler's, or after
 * svc_http_defer() whichever thread finishes it. Memory: the request owns its path, body
 * and extra headers (freed by svc_http_req_release); what the accessors return is lent
 * until the request ends. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>
#include <zlib.h>

#include "http_int.h"
#include "http_status.h"
#include "log.h"

#define HTTP_RETRY_AFTER_S 5 /* on every 503; README.md, Endpoints */

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

int svc_http_req_begin(svc_req_t *req) {
        const char *id = svc_http_param(req, "HTTP_X_REQUEST_ID");

        clock_gettime(CLOCK_MONOTONIC, &req->started);
        svc_metrics_http_begin(req->ep);
        if (is_sane_request_id(id))
                snprintf(req->request_id, sizeof(req->request_id), "%s", id);
        else
                new_request_id(req->request_id);
        if (!(req->path = request_path(req))) {
                svc_http_send_error(req, 500, "internal error");
                return -1;
        }
        return 0;
}

void svc_http_req_release(svc_req_t *req) {
        free(req->path);
        free(req->body);
        for (int i = 0; i < req->header_cnt; i++)
                free(req->headers[i]);
        req->path = req->body = NULL;
        req->header_cnt = 0;
        req->sent = 0;
        req->body_read = 0;
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
                     status, svc_http_status_reason(status), content_type, req->request_id, len);
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
