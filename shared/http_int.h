/* http_int.h - what http.c (a request, its body and its answer) and http_serve.c (the
 * FastCGI pool and the single CGI request) share, and nothing else may use. */
#ifndef SVC_HTTP_INT_H
#define SVC_HTTP_INT_H
#include <fcgiapp.h>
#include <time.h>

#include "http.h"
#include "metrics.h"

#define HTTP_MAX_HEADERS 16

struct pool;

struct svc_req {
        FCGX_Request fcgx; /* FastCGI mode only */
        struct pool *pool; /* FastCGI mode: the pool the request goes back to (http_serve.c) */
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

/**
 * @brief Readies a request the server handed over for its handler: start time, counters,
 *        request id, path.
 * @returns 0, or -1 (out of memory) with a 500 answered.
 */
int svc_http_req_begin(svc_req_t *req);

/** @brief Releases what the request allocated, for the next one. */
void svc_http_req_release(svc_req_t *req);
#endif
