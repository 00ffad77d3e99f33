/* metrics.c - GET /metrics: the counters of every process of the host (pooled handlers,
 * per-request runs, consumer, forwarder) summed, in the Prometheus text format 0.0.4
 * (docs/metrics.md). nginx serves it to the addresses of METRICS_ALLOW only. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "metrics.h"

static void metrics(svc_req_t *req, void *opaque) {
        svc_app_t *app = opaque;
        const char *method = svc_http_method(req);
        svc_metrics_snap_t *snap;
        char errstr[512], *text = NULL;
        size_t len = 0;

        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
                svc_http_add_header(req, "Allow", "GET, HEAD");
                svc_http_send_error(req, 405, "use GET for /metrics");
                return;
        }
        if (!app->cfg.metrics_dir) {
                svc_http_send_error(req, 404, "metrics are off on this host (METRICS_DIR=off)");
                return;
        }
        if (!(snap = svc_metrics_snap_new(&app->cfg, errstr, sizeof(errstr))) ||
            !(text = svc_metrics_render(snap, &len))) {
                svc_log(SVC_LOG_ERROR, svc_http_request_id(req), app->endpoint, "%s",
                        snap ? "out of memory" : errstr);
                svc_http_send_error(req, 500, "the metrics cannot be read");
        } else {
                svc_http_send(req, 200, "text/plain; version=0.0.4", text, len);
        }
        free(text);
        svc_metrics_snap_destroy(snap);
}

int main(void) {
        svc_app_t app;
        int ret;

        if (svc_app_init(&app, "/metrics", 0) == -1)
                return 1;
        ret = svc_app_run(&app, 2, metrics);
        svc_app_close(&app);
        return ret;
}
