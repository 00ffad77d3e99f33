/* processed_events.c - GET /api/processed-events: pages through the dev store, oldest
 * first, optionally for one topic. Dev mode only; 404 otherwise. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "devstore.h"
#include "log.h"

#define EVENTS_DEFAULT_LIMIT 100
#define EVENTS_MAX_LIMIT 1000
#define EVENTS_MAX_TOPIC 249                /* Kafka's own bound on topic names */
#define EVENTS_MAX_OFFSET ((size_t)1 << 53) /* exact in a JSON number */

/* Reads a non-negative integer query parameter at most max; def when absent.
 * Returns 0, or -1 after answering 400. */
static int query_count(svc_req_t *req, const char *name, size_t def, size_t max, size_t *out) {
        char buf[32], *end;
        unsigned long long v;
        int n = svc_http_query_param(req, name, buf, sizeof(buf));

        *out = def;
        if (n == -1)
                return 0;
        errno = 0;
        v = n > 0 && buf[0] >= '0' && buf[0] <= '9' ? strtoull(buf, &end, 10) : 0;
        if (n <= 0 || buf[0] < '0' || buf[0] > '9' || *end || errno || v > max) {
                if (max >= EVENTS_MAX_OFFSET)
                        svc_http_send_error(req, 400, "%s must be a non-negative integer", name);
                else
                        svc_http_send_error(req, 400, "%s must be an integer from 0 to %zu", name,
                                            max);
                return -1;
        }
        *out = (size_t)v;
        return 0;
}

static void processed_events(svc_req_t *req, void *opaque) {
        svc_app_t *app = opaque;
        const svc_config_t *cfg = &app->cfg;
        char topic[EVENTS_MAX_TOPIC + 2], errstr[256];
        size_t offset, limit, count;
        json_t *events;
        int topic_len;

        if (strcmp(svc_http_method(req), "GET") && strcmp(svc_http_method(req), "HEAD")) {
                svc_http_add_header(req, "Allow", "GET, HEAD");
                svc_http_send_error(req, 405, "use GET to read the processed events");
                return;
        }
        /* Without a token, only the addresses of INGEST_ALLOW (loopback by default). */
        if (!cfg->ingest_api_token &&
            !svc_addrlist_has(&cfg->ingest_allow_list, svc_http_client_ip(req))) {
                svc_http_send_error(req, 403,
                                    "forbidden for this address: without a token "
                                    "(INGEST_API_TOKEN) only the addresses of INGEST_ALLOW may "
                                    "read the processed events");
                return;
        }
        if (cfg->ingest_api_token && !svc_http_bearer_ok(req, cfg->ingest_api_token)) {
                svc_http_add_header(req, "WWW-Authenticate", "Bearer");
                svc_http_send_error(req, 401,
                                    "a valid token is required: Authorization: Bearer <token>");
                return;
        }
        if (!cfg->dev_mode) {
                svc_http_send_error(req, 404,
                                    "processed events are kept only in dev mode (no KAFKA_URL, "
                                    "or FORCE_DEV_MODE=true); read them from the Kafka "
                                    "topics instead");
                return;
        }
        if (query_count(req, "offset", 0, EVENTS_MAX_OFFSET, &offset) == -1 ||
            query_count(req, "limit", EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT, &limit) == -1)
                return;
        topic_len = svc_http_query_param(req, "topic", topic, sizeof(topic));
        if (topic_len == -2 || topic_len == 0) {
                svc_http_send_error(req, 400, "topic must be a topic name of 1 to %d characters",
                                    EVENTS_MAX_TOPIC);
                return;
        }
        if (svc_devstore_read(cfg->dev_store, topic_len > 0 ? topic : NULL, offset, limit, &count,
                              &events, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, svc_http_request_id(req), svc_http_endpoint(req), "%s",
                        errstr);
                svc_http_send_error(req, 500, "the dev store cannot be read");
                return;
        }
        svc_http_send_json(req, 200,
                           json_pack("{s:I, s:I, s:I, s:o}", "count", (json_int_t)count, "offset",
                                     (json_int_t)offset, "limit", (json_int_t)limit, "events",
                                     events));
}

int main(void) {
        svc_app_t app;
        int ret;

        if (svc_app_init(&app, "/api/processed-events", 0) == -1)
                return 1;
        ret = svc_app_run(&app, 4, processed_events);
        svc_app_close(&app);
        return ret;
}
