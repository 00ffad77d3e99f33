/* httpc.c - outgoing HTTP(S) on libcurl: the only file that uses libcurl. */
#include "httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        long status;  /* of the response being received, 0 until known */
        size_t total; /* body bytes of this response */
        size_t max;   /* bound for this response */
        char *buf;
        size_t len, size;
        int too_large; /* the bound was hit */
        int stopped;   /* on_data asked to stop */
};

static int httpc_append(struct httpc_sink *sink, const char *data, size_t len) {
        if (sink->len + len + 1 > sink->size) {
                size_t nsize = sink->size ? sink->size : 4096;
                while (nsize < sink->len + len + 1)
                        nsize *= 2;
                char *nbuf = realloc(sink->buf, nsize);
                if (!nbuf)
                        return -1;
                sink->buf = nbuf;
                sink->size = nsize;
        }
        memcpy(sink->buf + sink->len, data, len);
        sink->len += len;
        sink->buf[sink->len] = '\0';
        return 0;
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

static long httpc_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int httpc_is_redirect(long status) {
        return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

svc_httpc_err_t svc_httpc_do(const svc_httpc_req_t *hreq, long *status, char **body,
                             size_t *body_len, char *errstr, size_t errstr_size) {
        svc_httpc_req_t req = *hreq;
        struct httpc_sink sink;
        struct curl_slist *headers = NULL;
        char curl_err[CURL_ERROR_SIZE];
        char *url = NULL;
        CURL *curl = NULL;
        svc_httpc_err_t ret = SVC_HTTPC_ERROR;
        long deadline;
        int hop;

        memset(&sink, 0, sizeof(sink));
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
        sink.hreq = &req;

        pthread_once(&httpc_once, httpc_global_init);
        if (httpc_init_rc != CURLE_OK) {
                snprintf(errstr, errstr_size, "libcurl initialisation failed");
                goto out;
        }
        if (!(curl = curl_easy_init()) || !(url = strdup(req.url))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        sink.curl = curl;
        if (req.bearer) {
                /* Built in a local buffer so the token is not left in errstr paths. */
                size_t hlen = strlen(req.bearer) + sizeof("Authorization: Bearer ");
                char *h = malloc(hlen);
                struct curl_slist *nh;
                if (!h) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto out;
                }
                snprintf(h, hlen, "Authorization: Bearer %s", req.bearer);
                nh = curl_slist_append(headers, h);
                memset(h, 0, hlen);
                free(h);
                if (!nh) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto out;
                }
                headers = nh;
        }

        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS */
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L); /* followed here, checked */
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, req.connect_timeout_ms);
        curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req.max_bytes);
        curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, ""); /* bound applies decoded */
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "svc-ingest/1");
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, httpc_write_cb);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
        if (headers)
                curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        if (req.form)
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.form);

        deadline = httpc_now_ms() + req.timeout_ms;
        for (hop = 0;; hop++) {
                long left = deadline - httpc_now_ms();
                CURLcode rc;

                if (left <= 0) {
                        snprintf(errstr, errstr_size, "timed out after %ld ms", req.timeout_ms);
                        ret = SVC_HTTPC_TIMEOUT;
                        goto out;
                }
                curl_err[0] = '\0';
                free(sink.buf);
                sink.buf = NULL;
                sink.len = sink.size = sink.total = 0;
                sink.status = 0;
                curl_easy_setopt(curl, CURLOPT_URL, url);
                curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, left);
                rc = curl_easy_perform(curl);
                if (rc != CURLE_OK) {
                        if (sink.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
                                snprintf(errstr, errstr_size, "response larger than %zu bytes",
                                         req.max_bytes);
                                ret = SVC_HTTPC_TOO_LARGE;
                        } else if (sink.stopped) {
                                snprintf(errstr, errstr_size, "stopped by the reader");
                                ret = SVC_HTTPC_STOPPED;
                        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
                                snprintf(errstr, errstr_size, "timed out (%s)",
                                         curl_err[0] ? curl_err : curl_easy_strerror(rc));
                                ret = SVC_HTTPC_TIMEOUT;
                        } else {
                                snprintf(errstr, errstr_size, "%s",
                                         curl_err[0] ? curl_err : curl_easy_strerror(rc));
                                ret = rc == CURLE_COULDNT_RESOLVE_HOST ||
                                              rc == CURLE_COULDNT_CONNECT ||
                                              rc == CURLE_SSL_CONNECT_ERROR ||
                                              rc == CURLE_PEER_FAILED_VERIFICATION ||
                                              rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR
                                          ? SVC_HTTPC_CONNECT
                                          : SVC_HTTPC_ERROR;
                        }
                        goto out;
                }
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
                if (req.max_redirects > 0 && httpc_is_redirect(*status)) {
                        char *next = NULL;
                        curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &next);
                        if (next) {
                                if (hop >= req.max_redirects) {
                                        snprintf(errstr, errstr_size, "more than %d redirects",
                                                 req.max_redirects);
                                        ret = SVC_HTTPC_REDIRECT;
                                        goto out;
                                }
                                if (!req.redirect_ok(req.redirect_opaque, next)) {
                                        snprintf(errstr, errstr_size,
                                                 "redirect to a host that is not allowed");
                                        ret = SVC_HTTPC_REDIRECT;
                                        goto out;
                                }
                                free(url);
                                if (!(url = strdup(next))) {
                                        snprintf(errstr, errstr_size, "out of memory");
                                        goto out;
                                }
                                if (req.form && *status != 307 && *status != 308)
                                        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
                                continue;
                        }
                }
                break;
        }
        if (!sink.buf && !(sink.buf = calloc(1, 1))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        *body = sink.buf;
        sink.buf = NULL;
        if (body_len)
                *body_len = sink.len;
        ret = SVC_HTTPC_OK;
out:
        free(sink.buf);
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
