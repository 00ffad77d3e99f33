/* health.c - GET /health: is the service up, can it reach Kafka within 1 s, and, when it
 * cannot, does the spool still accept /collect (docs/spool.md)? */
#include <string.h>

#include "app.h"
#include "log.h"
#include "spool.h"

#define HEALTH_KAFKA_TIMEOUT_MS 1000

/* Looks at the spool: its numbers, and with Kafka down whether it still takes records.
 * Returns NULL when it does (or Kafka is up), else why not. */
static const char *spool_state(const svc_config_t *cfg, int kafka_down, long long *records,
                               long long *bytes, char *errstr, size_t errstr_size) {
        const char *why = NULL;

        *records = *bytes = 0;
        if (!cfg->spool_dir)
                return kafka_down ? "SPOOL_DIR=off" : NULL;
        /* A real write, only when it matters: it costs an fsync. */
        if (kafka_down && svc_spool_writable(cfg->spool_dir, errstr, errstr_size) == -1)
                why = errstr;
        if (svc_spool_usage(cfg->spool_dir, records, bytes) == -1) {
                *records = *bytes = 0; /* nothing spooled yet: no directory */
                if (kafka_down && !why)
                        why = "the spool directory cannot be read";
        } else if (kafka_down && !why && *bytes >= cfg->spool_max_bytes) {
                why = "the spool is full (SPOOL_MAX_BYTES)";
        }
        return why;
}

static void health(svc_req_t *req, void *opaque) {
        svc_app_t *app = opaque;
        const char *method = svc_http_method(req), *kafka = "connected", *status = "healthy";
        const char *refused;
        char now[40], errstr[256], why[512];
        long long records, bytes;
        int down = 0;
        json_t *resp;

        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
                svc_http_add_header(req, "Allow", "GET, HEAD");
                svc_http_send_error(req, 405, "use GET for /health");
                return;
        }
        if (svc_kafka_is_dev(app->kp)) {
                kafka = "dev_mode";
        } else if (svc_kafka_ping(app->kp, HEALTH_KAFKA_TIMEOUT_MS, errstr, sizeof(errstr))) {
                svc_log(SVC_LOG_WARN, svc_http_request_id(req), app->endpoint,
                        "Kafka unreachable: %s", errstr);
                kafka = "disconnected";
                down = 1;
        }
        refused = spool_state(&app->cfg, down, &records, &bytes, why, sizeof(why));
        if (down) {
                /* While the spool takes /collect this node keeps events: a load balancer
                 * must not take every node out during a Kafka outage. */
                status = refused ? "unhealthy" : "degraded";
                if (refused)
                        svc_log(SVC_LOG_WARN, svc_http_request_id(req), app->endpoint,
                                "the spool cannot take /collect either: %s", refused);
        }
        svc_log_iso_now(now, sizeof(now));
        now[strlen(now) - 1] = '\0'; /* the seed's format has no zone suffix */
        resp =
            json_pack("{s:s, s:s, s:s}", "status", status, "kafka_status", kafka, "timestamp", now);
        if (resp && app->cfg.spool_dir)
                json_object_set_new(resp, "spool",
                                    json_pack("{s:I, s:I}", "records", (json_int_t)records, "bytes",
                                              (json_int_t)bytes));
        svc_http_send_json(req, down && refused ? 503 : 200, resp);
}

int main(void) {
        svc_app_t app;
        int ret;

        if (svc_app_init(&app, "/health", SVC_APP_F_KAFKA) == -1)
                return 1;
        ret = svc_app_run(&app, 2, health);
        svc_app_close(&app);
        return ret;
}
