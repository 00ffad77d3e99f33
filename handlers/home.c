/* home.c - GET /: a page for a person, with what the service is doing now; the list of
 * endpoints as JSON; and GET /?stats, the sums of the host's counters the page shows
 * (docs/metrics.md, "The home page"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "metrics.h"

static const char page_head[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Event ingestion service</title>\n<style>body{font:16px/1.5 system-ui,"
    "sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}code,pre{background:#f4f4f4;"
    "padding:.1rem .3rem}pre{padding:.6rem;overflow:auto}"
    ".tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));gap:.6rem}"
    ".tile{border:1px solid #ddd;border-radius:.4rem;padding:.5rem .7rem}"
    ".tile b{display:block;font-size:1.5rem}.tile small{display:block;color:#555}"
    ".tile svg{width:100%;height:2rem}.tile polyline{fill:none;stroke:#2a6;stroke-width:2}"
    "</style></head><body>\n"
    "<h1>Event ingestion service</h1>\n"
    "<p>Takes tracking events over HTTP and puts them into Kafka without losing one. "
    "Health: <strong id=\"health\">checking&hellip;</strong></p>\n";

/* What the service is doing: GET /?stats every 3 s, rates and latencies from the
 * difference between two answers, a sparkline of the last 40. */
static const char page_live[] =
    "<h2>Now</h2><p id=\"live-note\">Events of every process of this host, refreshed "
    "every 3 s.</p>\n<div class=\"tiles\">"
    "<div class=\"tile\" id=\"t-received\"><span>received</span><b>&ndash;</b><small>"
    "passed the checks</small><svg viewBox=\"0 0 100 20\" preserveAspectRatio=\"none\">"
    "</svg></div>"
    "<div class=\"tile\" id=\"t-acked\"><span>acknowledged by Kafka</span><b>&ndash;</b>"
    "<small>&nbsp;</small></div>"
    "<div class=\"tile\" id=\"t-spooled\"><span>spooled</span><b>&ndash;</b><small>"
    "kept for the forwarder</small></div>"
    "<div class=\"tile\" id=\"t-refused\"><span>refused</span><b>&ndash;</b><small>"
    "&nbsp;</small></div>"
    "<div class=\"tile\" id=\"t-latency\"><span>Kafka acknowledgement p99</span>"
    "<b>&ndash;</b><small>&nbsp;</small><svg viewBox=\"0 0 100 20\" "
    "preserveAspectRatio=\"none\"></svg></div>"
    "<div class=\"tile\" id=\"t-spool\"><span>in the spool</span><b>&ndash;</b><small>"
    "&nbsp;</small><svg viewBox=\"0 0 100 20\" preserveAspectRatio=\"none\"></svg></div>"
    "<div class=\"tile\" id=\"t-lag\"><span>consumer lag</span><b>&ndash;</b><small>"
    "records not transformed yet</small><svg viewBox=\"0 0 100 20\" "
    "preserveAspectRatio=\"none\"></svg></div></div>\n"
    "<script>(function(){var last=null,series={},N=40;"
    "function tile(id,big,small){var t=document.getElementById('t-'+id);"
    "t.querySelector('b').textContent=big;if(small!=null)t.querySelector('small').textContent="
    "small}"
    "function n(v){return v.toLocaleString('en')}"
    "function spark(id,v){var s=series[id]=(series[id]||[]).concat([v]).slice(-N),"
    "max=Math.max.apply(null,s.concat([1]));document.querySelector('#t-'+id+' svg').innerHTML="
    "'<polyline points=\"'+s.map(function(y,i){return((N-s.length+i)*100/(N-1)).toFixed(1)+','+"
    "(19-18*y/max).toFixed(1)}).join(' ')+'\"/>'}"
    /* a quantile of the acknowledgements between two answers, as Prometheus'
     * histogram_quantile() does: linear inside the bucket */
    "function quantile(q,a,b){var prev=0,prevLe=0,total=b[b.length-1][1]-(a?a[a.length-1][1]:0);"
    "if(!total)return null;for(var i=0;i<b.length;i++){var c=b[i][1]-(a?a[i][1]:0);"
    "if(c>=q*total)return b[i][0]==null?prevLe:prevLe+(b[i][0]-prevLe)*(q*total-prev)/"
    "Math.max(c-prev,1);prev=c;prevLe=b[i][0]}return prevLe}"
    "function show(s){var e=s.events,r=e.rejected,dt=last?(s.time_ms-last.time_ms)/1000:0;"
    "if(last&&dt>0){var rate=(e.received-last.events.received)/dt;tile('received',n(e.received),"
    "rate.toFixed(1)+' events/s');spark('received',rate)}else tile('received',n(e.received));"
    "tile('acked',n(e.acked));tile('spooled',n(e.spooled));"
    "tile('refused',n(r.invalid+r.unavailable+r.too_large),'invalid '+n(r.invalid)+"
    "' \\u00b7 unavailable '+n(r.unavailable)+' \\u00b7 too large '+n(r.too_large));"
    "var p99=quantile(0.99,last&&last.kafka_ack.buckets,s.kafka_ack.buckets),"
    "p50=quantile(0.5,last&&last.kafka_ack.buckets,s.kafka_ack.buckets);"
    "tile('latency',p99==null?'\\u2013':(p99*1000).toFixed(1)+' ms',p99==null?"
    "'no acknowledgement lately':'p50 '+(p50*1000).toFixed(1)+' ms, '+n(s.kafka_delivery_errors)"
    "+' delivery errors');if(last)spark('latency',p99||0);"
    "if(s.spool){tile('spool',n(s.spool.records)+' records',n(s.spool.bytes)+' bytes, '+"
    "n(s.spool.forwarded)+' forwarded');spark('spool',s.spool.records)}"
    "else tile('spool','off','no spool on this host');"
    "if(s.consumer.lag!=null){tile('lag',n(s.consumer.lag));spark('lag',s.consumer.lag)}"
    "else tile('lag','\\u2013','no consumer running here');last=s}"
    "function tick(){fetch(location.pathname+'?stats',{cache:'no-store'}).then(function(r){"
    "if(!r.ok)throw r.status;return r.json()}).then(show).catch(function(x){"
    "document.getElementById('live-note').textContent=x==404?'Counters are off on this host "
    "(METRICS_DIR=off).':'The counters cannot be read now.'})}"
    "tick();setInterval(tick,3000)})()</script>\n";

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
        len = asprintf(&html, "%s%s%s%s", page_head, page_live, site ? site : "", page_tail);
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

/* GET /?stats: the page's numbers. */
static void send_stats(svc_req_t *req, svc_app_t *app) {
        char errstr[512];
        svc_metrics_snap_t *snap;

        if (!app->cfg.metrics_dir) {
                svc_http_send_error(req, 404, "counters are off on this host (METRICS_DIR=off)");
                return;
        }
        if (!(snap = svc_metrics_snap_new(&app->cfg, errstr, sizeof(errstr)))) {
                svc_log(SVC_LOG_ERROR, svc_http_request_id(req), app->endpoint, "%s", errstr);
                svc_http_send_error(req, 500, "the counters cannot be read");
                return;
        }
        svc_http_send_json(req, 200, svc_metrics_summary(snap));
        svc_metrics_snap_destroy(snap);
}

static void home(svc_req_t *req, void *opaque) {
        const char *method = svc_http_method(req);
        char flag[8];

        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
                svc_http_add_header(req, "Allow", "GET, HEAD");
                svc_http_send_error(req, 405, "use GET for /");
                return;
        }
        if (strcmp(svc_http_path(req), "/") && strcmp(svc_http_path(req), "/cgi/")) {
                svc_http_send_error(req, 404, "no such endpoint: see GET / for the list");
                return;
        }
        if (svc_http_query_param(req, "stats", flag, sizeof(flag)) != -1) {
                send_stats(req, opaque);
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
                      "service", "event-ingestion", "endpoints", "method", "POST", "path",
                      "/collect", "description",
                      "a JSON batch of product events, produced to Kafka", "method", "POST", "path",
                      "/api/ingest", "description",
                      "CSV file or Google Sheet of tracking rows to CLICK/CONVERSION events",
                      "method", "GET", "path", "/api/processed-events", "description",
                      "dev mode only: the stored events, paged", "method", "GET", "path", "/health",
                      "description", "service and Kafka status", "method", "GET", "path", "/",
                      "description", "this index"));
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
