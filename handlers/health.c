/* health.c - GET /health: is the service up, and can it reach Kafka within 1 s? */
#include <string.h>

#include "app.h"
#include "log.h"

#define HEALTH_KAFKA_TIMEOUT_MS 1000

static void health(svc_req_t *req, void *opaque) {
        svc_app_t *app = opaque;
        const char *method = svc_http_method(req);
        char now[40], errstr[256];
        const char *kafka = "connected";
        int up = 1;

        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
                svc_http_add_header(req, "Allow", "GET, HEAD");
                svc_http_send_error(req, 405, "use GET for /health");
                return;
        }
        if (svc_kafka_is_dev(app->kp))
                kafka = "dev_mode";
        else if (svc_kafka_ping(app->kp, HEALTH_KAFKA_TIMEOUT_MS, errstr, sizeof(errstr))) {
                svc_log(SVC_LOG_WARN, svc_http_request_id(req), app->endpoint,
                        "Kafka unreachable: %s", errstr);
                kafka = "disconnected";
                up = 0;
        }
        svc_log_iso_now(now, sizeof(now));
        now[strlen(now) - 1] = '\0'; /* the seed's format has no zone suffix */
        svc_http_send_json(req, up ? 200 : 503,
                           json_pack("{s:s, s:s, s:s}", "status", up ? "healthy" : "unhealthy",
                                     "kafka_status", kafka, "timestamp", now));
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
