/* home.c - GET /: a page for a person, or the list of endpoints as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

static const char page_head[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Event ingestion service</title>\n<style>body{font:16px/1.5 system-ui,"
    "sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}code,pre{background:#f4f4f4;"
    "padding:.1rem .3rem}pre{padding:.6rem;overflow:auto}</style></head><body>\n"
    "<h1>Event ingestion service</h1>\n"
    "<p>Takes tracking events over HTTP and puts them into Kafka without losing one. "
    "Health: <strong id=\"health\">checking&hellip;</strong></p>\n";

/* Behind the nginx site, which serves /tracker.js and /openapi.yaml: the tracker's demo.
 * %s: the tracker's URL (TRACKER_URL). */
static const char page_site[] =
    "<p>Every endpoint, its answers and their schemas: <a href=\"/openapi.yaml\">"
    "/openapi.yaml</a> (OpenAPI 3.1).</p>\n"
    "<h2>Browser tracker</h2><p>Two lines on any page send events here; batches the "
    "collector has not accepted yet wait in the browser and are sent again.</p>\n"
    "<pre>&lt;script src=\"http://HOST/tracker.js\" data-endpoint=\"http://HOST/collect\"&gt;"
    "&lt;/script&gt;\n&lt;script&gt;tracker.track(\"product_view\", {product_id: \"p1\"})"
    "&lt;/script&gt;</pre>\n"
    "<p><button id=\"demo\" type=\"button\">Send a test event</button> "
    "<output id=\"demo-status\">nothing sent yet</output></p>\n"
    "<script src=\"%s\" data-endpoint=\"/collect\"></script>\n"
    "<script>(function(){var s=document.getElementById('demo-status');"
    "document.getElementById('demo').onclick=function(){if(!window.tracker){s.textContent="
    "'the tracker did not load';return}tracker.track('demo_click',{source:'home page'});"
    "tracker.flush();s.textContent='sending...'};"
    "addEventListener('tracker:sent',function(e){s.textContent='Accepted: '+e.detail.received+"
    "' event(s), request id '+e.detail.request_id+(e.detail.spooled?' (spooled)':'')});"
    "addEventListener('tracker:retry',function(e){s.textContent='Not accepted yet ('+"
    "(e.detail.status||'network error')+'), trying again in '+Math.ceil(e.detail.delay_ms/1000)+"
    "' s'});addEventListener('tracker:rejected',function(e){s.textContent='Refused ('+"
    "e.detail.status+'): '+e.detail.message})})()</script>\n";

static const char page_tail[] =
    "<h2>POST /collect</h2><p>A JSON batch of product events (up to 1000).</p>\n"
    "<pre>curl -X POST http://HOST/collect -H 'Content-Type: application/json' \\\n"
    "  -d '{\"events\":[{\"event_type\":\"product_view\",\"event_time\":1750867000000,"
    "\"user_id\":\"user_test\",\"product_id\":\"prod_demo\"}],\"ctx\":{\"browser\":"
    "\"Firefox\"}}'</pre>\n"
    "<h2>POST /api/ingest</h2><p>A CSV file in the data directory, or a Google Sheet.</p>\n"
    "<pre>curl -X POST http://HOST/api/ingest -H 'Content-Type: application/json' \\\n"
    "  -d '{\"file_path\":\"events.csv\",\"query_param_a\":\"3\"}'</pre>\n"
    "<h2>GET /api/processed-events</h2><p>Dev mode only: the events stored instead of "
    "Kafka.</p>\n<pre>curl 'http://HOST/api/processed-events?limit=10'</pre>\n"
    "<h2>GET /health</h2>\n<pre>curl http://HOST/health</pre>\n"
    "<script>document.querySelectorAll('pre').forEach(function(p){p.textContent="
    "p.textContent.split('http://HOST').join(location.origin)});"
    "fetch('/health').then(function(r){return r.json()}).then(function(h){"
    "document.getElementById('health').textContent=h.status+' (kafka: '+h.kafka_status+')'})"
    ".catch(function(){document.getElementById('health').textContent='unreachable'});"
    "</script>\n</body></html>\n";

/* TRACKER_URL, when the site gives one that is safe in an HTML attribute; else NULL. */
static const char *tracker_url(svc_req_t *req) {
        const char *url = svc_http_param(req, "TRACKER_URL");
        size_t n = url ? strlen(url) : 0;

        if (n == 0 || n > 256 ||
            strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._?=:-") !=
                n)
                return NULL;
        return url;
}

/* The page: its demo only where the site serves the tracker. */
static void send_page(svc_req_t *req) {
        const char *url = tracker_url(req);
        char *html = NULL, *site = NULL;
        int len;

        if (url && asprintf(&site, page_site, url) < 0)
                site = NULL;
        len = asprintf(&html, "%s%s%s", page_head, site ? site : "", page_tail);
        free(site);
        if (len < 0) {
                svc_http_send_error(req, 500, "internal error");
                return;
        }
        svc_http_send(req, 200, "text/html; charset=utf-8", html, (size_t)len);
        free(html);
}

/* Accept: application/json (and nothing that prefers HTML) gets the JSON index. */
static int wants_json(svc_req_t *req) {
        const char *accept = svc_http_param(req, "HTTP_ACCEPT");
        return accept && strstr(accept, "application/json") && !strstr(accept, "text/html");
}

static void home(svc_req_t *req, void *opaque) {
        const char *method = svc_http_method(req);
        (void)opaque;

        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
                svc_http_add_header(req, "Allow", "GET, HEAD");
                svc_http_send_error(req, 405, "use GET for /");
                return;
        }
        if (strcmp(svc_http_path(req), "/") && strcmp(svc_http_path(req), "/cgi/")) {
                svc_http_send_error(req, 404, "no such endpoint: see GET / for the list");
                return;
        }
        if (!wants_json(req)) {
                send_page(req);
                return;
        }
        svc_http_send_json(
            req, 200,
            json_pack("{s:s, s:[{s:s,s:s,s:s}, {s:s,s:s,s:s}, {s:s,s:s,s:s}, {s:s,s:s,s:s},"
                      " {s:s,s:s,s:s}]}",
                      "service", "event-ingestion", "endpoints",
                      "method", "POST", "path", "/collect", "description",
                      "a JSON batch of product events, produced to Kafka",
                      "method", "POST", "path", "/api/ingest", "description",
                      "CSV file or Google Sheet of tracking rows to CLICK/CONVERSION events",
                      "method", "GET", "path", "/api/processed-events", "description",
                      "dev mode only: the stored events, paged",
                      "method", "GET", "path", "/health", "description",
                      "service and Kafka status",
                      "method", "GET", "path", "/", "description", "this index"));
}

int main(void) {
        svc_app_t app;
        int ret;

        if (svc_app_init(&app, "/", 0) == -1)
                return 1;
        ret = svc_app_run(&app, 2, home);
        svc_app_close(&app);
        return ret;
}
