/* httpc.c - outgoing HTTP(S) on libcurl: the only file that uses libcurl. */
#include "httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "jbuf.h"

#define HTTPC_ERR_BODY_MAX (64 * 1024) /* kept of a non-2xx body, for its message */

static pthread_once_t httpc_once = PTHREAD_ONCE_INIT;
static CURLcode httpc_init_rc;

/* curl_global_init() is not thread-safe in every libcurl: run it once per process. */
static void httpc_global_init(void) {
        httpc_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct httpc_sink {
        const svc_httpc_req_t *hreq;
        CURL *curl;
        long status;     /* of the response being received, 0 until known */
        size_t total;    /* body bytes of this response */
        size_t max;      /* bound for this response */
        svc_jbuf_t body; /* of the response being received */
        int too_large;   /* the bound was hit */
        int stopped;     /* on_data asked to stop */
};

static int httpc_append(struct httpc_sink *sink, const char *data, size_t len) {
        svc_jbuf_put(&sink->body, data, len);
        return sink->body.err ? -1 : 0;
}

static size_t httpc_write_cb(char *data, size_t size, size_t nmemb, void *opaque) {
        struct httpc_sink *sink = opaque;
        size_t len = size * nmemb;

        if (!sink->status) {
                curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &sink->status);
                sink->max = sink->status >= 200 && sink->status < 300 ? sink->hreq->max_bytes
                                                                      : HTTPC_ERR_BODY_MAX;
        }
        if (sink->status >= 300 && sink->status < 400 && sink->hreq->max_redirects > 0)
                return len; /* a redirect's body is not wanted */
        if (sink->total + len > sink->max) {
                if (sink->status < 200 || sink->status >= 300) {
                        /* An error body is only read for its message: keep the start. */
                        len = sink->max - sink->total;
                        if (len && httpc_append(sink, data, len) == 0)
                                sink->total += len;
                        return size * nmemb;
                }
                sink->too_large = 1;
                return 0; /* makes curl fail with CURLE_WRITE_ERROR */
        }
        sink->total += len;
        if (sink->status >= 200 && sink->status < 300 && sink->hreq->on_data) {
                if (sink->hreq->on_data(sink->hreq->data_opaque, data, len) != 0) {
                        sink->stopped = 1;
                        return 0;
                }
                return len;
        }
        if (httpc_append(sink, data, len) != 0)
                return 0;
        return len;
}

static int httpc_is_redirect(long status) {
        return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The Authorization header of a bearer token, built so the token is not left in memory
 * other than curl's own copy. Returns 0, or -1 when out of memory. */
static int httpc_add_bearer(struct curl_slist **headers, const char *bearer) {
        size_t hlen = strlen(bearer) + sizeof("Authorization: Bearer ");
        char *h = malloc(hlen);
        struct curl_slist *nh;

        if (!h)
                return -1;
        snprintf(h, hlen, "Authorization: Bearer %s", bearer);
        nh = curl_slist_append(*headers, h);
        memset(h, 0, hlen);
        free(h);
        if (!nh)
                return -1;
        *headers = nh;
        return 0;
}

/* The options every exchange uses; the URL and the time left are set per hop. */
static void httpc_setopts(CURL *curl, const svc_httpc_req_t *req, struct httpc_sink *sink,
                          struct curl_slist *headers, char *curl_err) {
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS */
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L); /* followed here, checked */
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
        curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_bytes);
        curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, ""); /* bound applies decoded */
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "svc-ingest/1");
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, httpc_write_cb);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
        if (headers)
                curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        if (req->form)
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->form);
}

/* Names a failed curl_easy_perform(). */
static svc_httpc_err_t httpc_perform_failed(const struct httpc_sink *sink, CURLcode rc,
                                            const char *curl_err, char *errstr,
                                            size_t errstr_size) {
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(rc);

        if (sink->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
                snprintf(errstr, errstr_size, "response larger than %zu bytes",
                         sink->hreq->max_bytes);
                return SVC_HTTPC_TOO_LARGE;
        }
        if (sink->stopped) {
                snprintf(errstr, errstr_size, "stopped by the reader");
                return SVC_HTTPC_STOPPED;
        }
        if (rc == CURLE_OPERATION_TIMEDOUT) {
                snprintf(errstr, errstr_size, "timed out (%s)", why);
                return SVC_HTTPC_TIMEOUT;
        }
        snprintf(errstr, errstr_size, "%s", why);
        switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR: return SVC_HTTPC_CONNECT;
        default: return SVC_HTTPC_ERROR;
        }
}

/* After a redirect to `next` at hop `hop`: moves *url there when it may be followed. Returns
 * SVC_HTTPC_OK to go on, or why not. */
static svc_httpc_err_t httpc_follow(CURL *curl, const svc_httpc_req_t *req, long status, int hop,
                                    const char *next, char **url, char *errstr,
                                    size_t errstr_size) {
        if (hop >= req->max_redirects) {
                snprintf(errstr, errstr_size, "more than %d redirects", req->max_redirects);
                return SVC_HTTPC_REDIRECT_LIMIT;
        }
        if (!req->redirect_ok(req->redirect_opaque, next)) {
                snprintf(errstr, errstr_size, "redirect to a host that is not allowed");
                return SVC_HTTPC_REDIRECT_REFUSED;
        }
        free(*url);
        if (!(*url = strdup(next))) {
                snprintf(errstr, errstr_size, "out of memory");
                return SVC_HTTPC_ERROR;
        }
        if (req->form && status != 307 && status != 308)
                curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        return SVC_HTTPC_OK;
}

/* Runs the exchange, hop after hop, until a final answer. *url may be replaced. */
static svc_httpc_err_t httpc_exchange(CURL *curl, const svc_httpc_req_t *req,
                                      struct httpc_sink *sink, char *curl_err, char **url,
                                      long *status, char *errstr, size_t errstr_size) {
        long deadline = svc_clock_ms(CLOCK_MONOTONIC) + req->timeout_ms;
        svc_httpc_err_t ret;
        int hop;

        for (hop = 0;; hop++) {
                long left = deadline - svc_clock_ms(CLOCK_MONOTONIC);
                CURLcode rc;
                char *next = NULL;

                if (left <= 0) {
                        snprintf(errstr, errstr_size, "timed out after %ld ms", req->timeout_ms);
                        return SVC_HTTPC_TIMEOUT;
                }
                curl_err[0] = '\0';
                svc_jbuf_reset(&sink->body);
                sink->total = 0;
                sink->status = 0;
                curl_easy_setopt(curl, CURLOPT_URL, *url);
                curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, left);
                if ((rc = curl_easy_perform(curl)) != CURLE_OK)
                        return httpc_perform_failed(sink, rc, curl_err, errstr, errstr_size);
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
                if (req->max_redirects <= 0 || !httpc_is_redirect(*status))
                        return SVC_HTTPC_OK;
                curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &next);
                if (!next) /* a redirect status without a Location is the answer */
                        return SVC_HTTPC_OK;
                ret = httpc_follow(curl, req, *status, hop, next, url, errstr, errstr_size);
                if (ret != SVC_HTTPC_OK)
                        return ret;
        }
}

svc_httpc_err_t svc_httpc_do(const svc_httpc_req_t *hreq, long *status, char **body,
                             size_t *body_len, char *errstr, size_t errstr_size) {
        svc_httpc_req_t req = *hreq;
        struct httpc_sink sink = {.hreq = &req};
        struct curl_slist *headers = NULL;
        char curl_err[CURL_ERROR_SIZE] = "";
        char *url = NULL;
        CURL *curl = NULL;
        size_t len;
        svc_httpc_err_t ret = SVC_HTTPC_ERROR;

        *status = 0;
        *body = NULL;
        if (body_len)
                *body_len = 0;
        if (!req.connect_timeout_ms)
                req.connect_timeout_ms = 5000;
        if (!req.timeout_ms)
                req.timeout_ms = 30000;
        if (!req.max_bytes)
                req.max_bytes = 16 * 1024 * 1024;
        if (req.max_redirects > 0 && !req.redirect_ok)
                req.max_redirects = 0;

        pthread_once(&httpc_once, httpc_global_init);
        if (httpc_init_rc != CURLE_OK) {
                snprintf(errstr, errstr_size, "libcurl initialisation failed");
                goto out;
        }
        if (!(curl = curl_easy_init()) || !(url = strdup(req.url)) ||
            (req.bearer && httpc_add_bearer(&headers, req.bearer) != 0)) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        sink.curl = curl;
        httpc_setopts(curl, &req, &sink, headers, curl_err);
        ret = httpc_exchange(curl, &req, &sink, curl_err, &url, status, errstr, errstr_size);
        if (ret != SVC_HTTPC_OK)
                goto out;
        svc_jbuf_put(&sink.body, "", 0); /* an empty body is "" */
        if (!(*body = svc_jbuf_take(&sink.body, &len))) {
                snprintf(errstr, errstr_size, "out of memory");
                ret = SVC_HTTPC_ERROR;
                goto out;
        }
        if (body_len)
                *body_len = len;
out:
        svc_jbuf_free(&sink.body);
        free(url);
        curl_easy_cleanup(curl);
        curl_slist_free_all(headers);
        return ret;
}

char *svc_httpc_escape(const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *out = malloc(3 * n + 1), *o = out;

        if (!out)
                return NULL;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~') {
                        *o++ = (char)c;
                } else {
                        *o++ = '%';
                        *o++ = hex[c >> 4];
                        *o++ = hex[c & 15];
                }
        }
        *o = '\0';
        return out;
}
