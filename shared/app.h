/* app.h - what every handler's main() does: settings, producer, serve, drain, exit code. */
#ifndef SVC_APP_H
#define SVC_APP_H
#include "config.h"
#include "http.h"
#include "kafka.h"

typedef struct svc_app {
        const char *endpoint; /* e.g. "/collect", for log lines and the error log */
        svc_config_t cfg;
        svc_kafka_t *kp; /* NULL unless asked for */
        void *opaque;    /* the handler's own state */
} svc_app_t;

#define SVC_APP_F_KAFKA 0x1 /* create the producer (or dev store writer) */

/**
 * @brief Loads the settings and, with SVC_APP_F_KAFKA, creates the producer (with small
 *        queues and no linger when serving one CGI request).
 * @returns 0, or -1 after logging why (the caller exits 1).
 */
int svc_app_init(svc_app_t *app, const char *endpoint, int flags);

/**
 * @brief Pooled processes only: fetches the metadata of the topics the handler produces
 *        to (NULL-terminated), so the first request does not wait for it. A failure is
 *        logged, not fatal: the broker may come up later.
 */
void svc_app_prepare_topics(svc_app_t *app, const char *const *topics);

/**
 * @brief Serves requests with fn (opaque = app): one CGI request, or a FastCGI pool of
 *        HANDLER_THREADS threads (default default_threads) until SIGTERM.
 * @returns the process exit code: 0 after a clean end.
 */
int svc_app_run(svc_app_t *app, int default_threads, svc_http_handler_fn *fn);

/** @brief Waits for deliveries in flight (KAFKA_TIMEOUT_MS at most) and frees all. */
void svc_app_close(svc_app_t *app);
#endif
