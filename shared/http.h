/* http.h - request/response glue on libfcgi: one handler function serves FastCGI
 * (a pool of threads under spawn-fcgi) and CGI (one request, fcgiwrap or direct).
 * Serving is http_serve.c; a request, its body and its answer are http.c. */
#ifndef SVC_HTTP_H
#define SVC_HTTP_H
#include <jansson.h>
#include <stddef.h>

#include "config.h"

typedef struct svc_req svc_req_t; /* opaque; one request, valid during the handler call,
                                   * or until svc_http_finish() after svc_http_defer() */

/* Called once per request; its return value is ignored (respond with svc_http_send*). */
typedef void(svc_http_handler_fn)(svc_req_t *req, void *opaque);

/**
 * @brief Serves requests until there are no more: in CGI mode exactly one; under
 *        FastCGI with `threads` threads and at most `inflight` requests open at once
 *        (deferred ones included) until SIGTERM/SIGINT, after which the listening socket
 *        is shut down and every request in progress is answered (the drain).
 *        Every error response is persisted to cfg->error_log.
 * @returns 0 after a clean end, -1 when the listening socket failed.
 */
int svc_http_serve(const char *endpoint, const svc_config_t *cfg, int threads, int inflight,
                   svc_http_handler_fn *fn, void *opaque);

/**
 * @brief Called by a handler that will answer later, from another thread: when the
 *        handler returns, its thread goes on to the next request, and this one stays open
 *        until svc_http_finish(). The handler must not touch req after handing it over.
 *        In CGI mode the process waits for svc_http_finish() (one request, one wait).
 */
void svc_http_defer(svc_req_t *req);

/** @brief Ends a deferred request once its answer was sent; any thread, exactly once. */
void svc_http_finish(svc_req_t *req);

/** @brief 1 when the process serves a single CGI request. */
int svc_http_is_cgi(void);

/**
 * @brief CGI mode, once the answer is complete and nothing more will be said about it:
 *        ends the output (stdout, and stderr but in sanitizer builds), so that the server
 *        finishes the response while the process winds down. Later log lines are lost.
 */
void svc_http_end_output(void);

/** @brief CGI variable of the request (e.g. "REQUEST_METHOD", "HTTP_USER_AGENT"), or NULL. */
const char *svc_http_param(svc_req_t *req, const char *name);
const char *svc_http_method(svc_req_t *req);     /* never NULL */
const char *svc_http_path(svc_req_t *req);       /* URI path without query, never NULL */
const char *svc_http_request_id(svc_req_t *req); /* sane incoming X-Request-Id, or new */
const char *svc_http_client_ip(svc_req_t *req);  /* REMOTE_ADDR, never NULL */
const char *svc_http_endpoint(svc_req_t *req);

/**
 * @brief Copies the URL-decoded query parameter `name` into buf.
 * @returns its length, -1 when absent, -2 when longer than buf_size - 1.
 */
int svc_http_query_param(svc_req_t *req, const char *name, char *buf, size_t buf_size);

/** @brief 1 when the Content-Type's media type (before ';') is `type`, case-insensitive. */
int svc_http_content_type_is(svc_req_t *req, const char *type);

typedef enum {
        SVC_BODY_OK = 0,
        SVC_BODY_TOO_LARGE,    /* over max (also after gzip decompression): 413 */
        SVC_BODY_BAD_ENCODING, /* unknown Content-Encoding or broken gzip: 400 */
        SVC_BODY_TRUNCATED,    /* fewer bytes than Content-Length: 400 */
} svc_body_err_t;

/**
 * @brief Reads the whole body, at most max bytes (decompressed when
 *        Content-Encoding: gzip). *body is NUL-terminated, owned by the request
 *        (freed after the handler returns).
 */
svc_body_err_t svc_http_read_body(svc_req_t *req, size_t max, char **body, size_t *len,
                                  char *errstr, size_t errstr_size);

/**
 * @brief Reads the body as svc_http_read_body() does; on failure answers the request (413
 *        too large, 400 truncated or badly encoded) and returns -1.
 * @returns 0 with the NUL-terminated text (owned by the request) in *body and *len.
 */
int svc_http_read_text(svc_req_t *req, size_t max, const char **body, size_t *len);

/**
 * @brief Parses text as JSON, rejecting duplicate keys; answers 400 when it is malformed.
 * @returns a new reference the caller releases, or NULL after the error answer.
 */
json_t *svc_http_parse_json(svc_req_t *req, const char *body, size_t len);

/**
 * @brief svc_http_read_text(), then svc_http_parse_json(): NULL after an error answer.
 */
json_t *svc_http_read_json(svc_req_t *req, size_t max);

/** @brief Adds a response header (name and value copied); at most 16 per request. */
void svc_http_add_header(svc_req_t *req, const char *name, const char *value);

/** @brief Sends status, headers and a body (a 503 also says Retry-After). Only the first
 *         send of a request counts. */
void svc_http_send(svc_req_t *req, int status, const char *content_type, const char *body,
                   size_t len);

/** @brief Sends `obj` as JSON (compact) and releases it (steals the reference). */
void svc_http_send_json(svc_req_t *req, int status, json_t *obj);

/**
 * @brief Sends {"status":"error","message":...} and persists it to ERROR_LOG.
 *        `message` is shown to the client: never put a secret or internal path in it.
 */
void svc_http_send_error(svc_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** @brief Like svc_http_send_error, with extra members merged into the error object
 *         (stolen); used for per-event or per-row details. */
void svc_http_send_error_details(svc_req_t *req, int status, const char *message, json_t *extra);

/** @brief Compares the Authorization bearer token with `token` in constant time.
 *  @returns 1 when they match. */
int svc_http_bearer_ok(svc_req_t *req, const char *token);
#endif
