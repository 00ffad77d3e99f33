/* app.c - the common life of a handler process. */
#include "app.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

int svc_app_init(svc_app_t *app, const char *endpoint, int flags) {
        char errstr[512];

        memset(app, 0, sizeof(*app));
        app->endpoint = endpoint;
        if (svc_config_load(&app->cfg, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, endpoint, "configuration: %s", errstr);
                return -1;
        }
        /* Taking events matters more than counting them: a metrics file that cannot be
         * made is logged, and the handler serves without. */
        if (svc_metrics_open(&app->cfg, endpoint, svc_http_is_cgi() ? SVC_METRICS_F_PER_REQUEST : 0,
                             errstr, sizeof(errstr)) == -1)
                svc_log(SVC_LOG_ERROR, NULL, endpoint, "metrics: %s", errstr);
        if (!(flags & SVC_APP_F_KAFKA))
                return 0;
        app->kp = svc_kafka_new(&app->cfg, svc_http_is_cgi() ? SVC_KAFKA_F_PER_REQUEST : 0, errstr,
                                sizeof(errstr));
        if (!app->kp) {
                svc_log(SVC_LOG_ERROR, NULL, endpoint, "kafka producer: %s", errstr);
                svc_metrics_close();
                svc_config_close(&app->cfg);
                return -1;
        }
        return 0;
}

void svc_app_prepare_topics(svc_app_t *app, const char *const *topics) {
        char errstr[512];

        if (!app->kp || svc_http_is_cgi()) /* per request: warmed by the first produce */
                return;
        for (; *topics; topics++)
                if (svc_kafka_prepare_topic(app->kp, *topics, errstr, sizeof(errstr)) == -1)
                        svc_log(SVC_LOG_WARN, NULL, app->endpoint, "kafka: %s", errstr);
}

int svc_app_run(svc_app_t *app, int default_threads, svc_http_handler_fn *fn) {
        char errstr[256];
        long threads, inflight;

        if (svc_config_int(&app->cfg, "HANDLER_THREADS", default_threads, 1, 256, &threads, errstr,
                           sizeof(errstr)) == -1 ||
            svc_config_int(&app->cfg, "HANDLER_INFLIGHT", 256, 1, 4096, &inflight, errstr,
                           sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, app->endpoint, "%s", errstr);
                return 1;
        }
        if (svc_http_serve(app->endpoint, &app->cfg, (int)threads, (int)inflight, fn, app) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, app->endpoint,
                        "cannot serve: FastCGI socket unusable");
                return 1;
        }
        return 0;
}

void svc_app_close(svc_app_t *app) {
        /* Per request, with nothing left in flight the answer is all there is to say:
         * the response ends here, before librdkafka's threads and the process wind down
         * (3-10 ms; bench/README.md, "Per request"). Otherwise the warnings of the
         * teardown still reach the log. */
        if (svc_kafka_settle(app->kp, app->cfg.kafka_timeout_ms) == 0)
                svc_http_end_output();
        svc_kafka_destroy(app->kp, app->cfg.kafka_timeout_ms);
        app->kp = NULL;
        svc_metrics_close(); /* after the delivery thread, which counts too */
        if (!svc_http_is_cgi())
                svc_log(SVC_LOG_INFO, NULL, app->endpoint, "stopped");
        svc_config_close(&app->cfg);
}
