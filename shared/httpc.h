/* httpc.h - outgoing HTTP(S) requests on libcurl, bounded in time, size and redirects. */
#ifndef SVC_HTTPC_H
#define SVC_HTTPC_H
#include <stddef.h>

typedef enum {
        SVC_HTTPC_OK = 0,           /* a final response arrived (any status: see *status) */
        SVC_HTTPC_TIMEOUT,          /* connect or total time-out */
        SVC_HTTPC_TOO_LARGE,        /* the body grew over max_bytes */
        SVC_HTTPC_REDIRECT_LIMIT,   /* more than max_redirects redirects */
        SVC_HTTPC_REDIRECT_REFUSED, /* a Location refused by redirect_ok */
        SVC_HTTPC_CONNECT,          /* name resolution, connection or TLS failure */
        SVC_HTTPC_STOPPED,          /* on_data returned -1 */
        SVC_HTTPC_ERROR,            /* anything else (bad URL, out of memory, protocol error) */
} svc_httpc_err_t;

/* Receives the body of a 2xx response as it arrives. Return 0 to go on, -1 to stop. */
typedef int(svc_httpc_data_fn)(void *opaque, const char *data, size_t len);

/* Decides whether a redirect to `url` (absolute) may be followed. Return 1 to follow. */
typedef int(svc_httpc_redirect_fn)(void *opaque, const char *url);

typedef struct svc_httpc_req {
        const char *url;
        const char *bearer;      /* sent as "Authorization: Bearer ..."; may be NULL */
        const char *form;        /* POSTed as application/x-www-form-urlencoded; NULL: GET */
        long connect_timeout_ms; /* 0: 5000 */
        long timeout_ms;         /* whole exchange including redirects; 0: 30000 */
        size_t max_bytes;        /* body bound of the final response; 0: 16 MiB */
        int max_redirects;       /* 0: redirects are not followed (3xx is the answer) */
        svc_httpc_redirect_fn *redirect_ok; /* required when max_redirects > 0 */
        void *redirect_opaque;
        svc_httpc_data_fn *on_data; /* streams a 2xx body instead of buffering it; may be NULL */
        void *data_opaque;
} svc_httpc_req_t;

/**
 * @brief Performs one request. Only the http and https schemes are allowed, and
 *        redirects are followed one by one after redirect_ok() approved each target.
 *        Secrets (the bearer token, the form) never appear in errstr.
 * @returns SVC_HTTPC_OK with the final status in *status and, unless the body was
 *          streamed to on_data, the body in *body (malloc'ed, NUL-terminated, the
 *          caller frees it; a non-2xx body is kept up to 64 KiB). On failure *body is
 *          NULL and errstr says what happened.
 */
svc_httpc_err_t svc_httpc_do(const svc_httpc_req_t *hreq, long *status, char **body,
                             size_t *body_len, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Percent-encodes s (everything but ALPHA, DIGIT and "-._~").
 * @returns a malloc'ed string, or NULL when out of memory.
 */
char *svc_httpc_escape(const char *s);
#endif
