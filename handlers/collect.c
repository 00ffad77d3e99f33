/* collect.c - POST /collect: a JSON batch of product events, produced as one raw
 * message to COLLECT_RAW_TOPIC and answered once it is safe: 200 when Kafka acknowledged
 * it, 202 when the spool keeps it, 413 when Kafka takes no message that large, 503 when
 * none of them (README.md, docs/spool.md). The answer is written by whichever thread
 * settles the message (shared/deliver.h). */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "clientip.h"
#include "collect.h"
#include "deliver.h"
#include "jbuf.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "writekeys.h"

/* The handler's state, shared by its threads (read-only once serving). */
struct collect {
        svc_deliver_t *dl;
        svc_clientip_mode_t ip_mode; /* CLIENT_IP_MODE */
        svc_writekeys_watch_t *keys; /* COLLECT_WRITE_KEYS; NULL: /collect is open */
        svc_ratelimit_t *limits;     /* the host's budgets; NULL: neither keys nor ip limit */
        uint32_t ip_rate, ip_burst;  /* COLLECT_RATE_LIMIT_IP; 0: none */
        long message_max;            /* svc_kafka_message_max(): key + value */
        long cluster_max;            /* KAFKA_MESSAGE_MAX_BYTES: the cluster's batch limit */
};

/* No body larger than one Kafka message can become one (after gzip decompression too). */
#define COLLECT_MAX_BODY SVC_KAFKA_MESSAGE_MAX

/* CORS for browser trackers: "*", or the Origin when it is in the allowed list. A
 * tracker reads X-Request-Id and Retry-After, which are not CORS-safelisted: expose them. */
static void add_cors(svc_req_t *req, const char *allowed) {
        const char *origin = svc_http_param(req, "HTTP_ORIGIN");

        svc_http_add_header(req, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
        if (!strcmp(allowed, "*")) {
                svc_http_add_header(req, "Access-Control-Allow-Origin", "*");
                return;
        }
        svc_http_add_header(req, "Vary", "Origin");
        if (!origin || !*origin || strchr(origin, ','))
                return;
        for (const char *p = allowed; *p;) {
                size_t n = strcspn(p, ",");
                while (*p == ' ' && n)
                        p++, n--;
                if (n == strlen(origin) && !strncmp(p, origin, n)) {
                        svc_http_add_header(req, "Access-Control-Allow-Origin", origin);
                        return;
                }
                p += n + (p[n] == ',');
        }
}

/* 1 when s is a string that can stand in JSON: not NULL, valid UTF-8. */
static int is_text(const char *s) {
        return s && svc_jbuf_utf8_valid(s, strlen(s));
}

/* The raw message: the envelope, then the body's own text as its "payload" (the body
 * parsed as a JSON object, so the text is one): serializing the parsed payload again would
 * cost about as much as parsing it. ip: what CLIENT_IP_MODE keeps of the address (NULL:
 * null). NULL when out of memory or a header is not UTF-8. *len: the message's length. */
static char *raw_message(svc_req_t *req, const char *ip, const char *source, const char *body,
                         size_t body_len, size_t *len) {
        const char *rid = svc_http_request_id(req);
        const char *ua = svc_http_param(req, "HTTP_USER_AGENT");
        svc_jbuf_t b = SVC_JBUF_INIT;
        struct timespec now;

        if (!ua)
                ua = "";
        if (!is_text(rid) || (ip && !is_text(ip)) || !is_text(ua))
                return NULL;
        clock_gettime(CLOCK_REALTIME, &now);
        svc_jbuf_reserve(&b, body_len + strlen(ua) + 160); /* most often the only allocation */
        SVC_JBUF_LIT(&b, "{\"request_id\":");
        svc_jbuf_cstr(&b, rid);
        SVC_JBUF_LIT(&b, ",\"received_at\":");
        svc_jbuf_int(&b, (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        SVC_JBUF_LIT(&b, ",\"client_ip\":");
        if (ip)
                svc_jbuf_cstr(&b, ip);
        else
                SVC_JBUF_LIT(&b, "null");
        SVC_JBUF_LIT(&b, ",\"user_agent\":");
        svc_jbuf_cstr(&b, ua);
        if (source) { /* a write key's: [A-Za-z0-9._-] */
                SVC_JBUF_LIT(&b, ",\"source\":");
                svc_jbuf_cstr(&b, source);
        }
        SVC_JBUF_LIT(&b, ",\"payload\":");
        svc_jbuf_put(&b, body, body_len);
        SVC_JBUF_LIT(&b, "}");
        return svc_jbuf_take(&b, len);
}

/* A request whose message is on its way. */
struct pending {
        svc_req_t *req;
        char *text;      /* the raw message; Kafka or the spool reads it until settled */
        size_t size;     /* the message's bytes, key and value */
        size_t received; /* events in it */
        const char *endpoint;
        const struct collect *co;
};

/* The 413 of a message that does not fit one Kafka message, before or after Kafka saw it.
 * Names the cluster's limit when it is the smaller one, else the service's own. */
static void send_too_large(svc_req_t *req, const struct collect *co, size_t size) {
        if (co->message_max < SVC_KAFKA_MESSAGE_MAX)
                svc_http_send_error(req, 413,
                                    "the events with their envelope make a message of %zu "
                                    "bytes; this Kafka cluster takes at most %ld bytes in one "
                                    "message, framing included (%ld for the message itself): "
                                    "send them in smaller batches",
                                    size, co->cluster_max, co->message_max);
        else
                svc_http_send_error(req, 413,
                                    "the events with their envelope make a message of %zu "
                                    "bytes; at most %d fit in one Kafka message: send them "
                                    "in smaller batches",
                                    size, SVC_KAFKA_MESSAGE_MAX);
}

/* svc_deliver_done_fn: answers the request and ends it. */
static void collect_done(void *opaque, svc_deliver_outcome_t outcome, const char *why) {
        struct pending *p = opaque;
        svc_req_t *req = p->req;
        char reply[192];

        /* Counted before the answer goes out (docs/metrics.md, "Accounting"). */
        svc_metrics_events(SVC_METRICS_EP_COLLECT,
                           outcome == SVC_DELIVER_ACKED       ? SVC_METRICS_ACKED
                           : outcome == SVC_DELIVER_SPOOLED   ? SVC_METRICS_SPOOLED
                           : outcome == SVC_DELIVER_TOO_LARGE ? SVC_METRICS_TOO_LARGE
                                                              : SVC_METRICS_UNAVAILABLE,
                           p->received);
        switch (outcome) {
        case SVC_DELIVER_ACKED:
        case SVC_DELIVER_SPOOLED:
                /* request_id is a token of [A-Za-z0-9._-]: nothing in it needs escaping. */
                svc_http_send(req, outcome == SVC_DELIVER_ACKED ? 200 : 202,
                              "application/json; charset=utf-8", reply,
                              (size_t)snprintf(reply, sizeof(reply),
                                               outcome == SVC_DELIVER_ACKED
                                                   ? "{\"status\":\"success\",\"received\":%zu,"
                                                     "\"request_id\":\"%s\"}"
                                                   : "{\"status\":\"accepted\",\"spooled\":true,"
                                                     "\"received\":%zu,\"request_id\":\"%s\"}",
                                               p->received, svc_http_request_id(req)));
                break;
        case SVC_DELIVER_FAILED:
                /* why may name a server path (dev store, spool): it goes to the log only. */
                svc_log(SVC_LOG_ERROR, svc_http_request_id(req), p->endpoint, "not delivered: %s",
                        why);
                svc_http_send_error(req, 503,
                                    "Kafka did not acknowledge the events and they could not "
                                    "be kept for later; nothing was accepted, send them again");
                break;
        case SVC_DELIVER_TOO_LARGE:
                /* The door let it through: the cluster takes less than KAFKA_MESSAGE_MAX_BYTES
                 * says, or an RDKAFKA_MESSAGE_MAX_BYTES lowered librdkafka's bound. */
                svc_log(SVC_LOG_ERROR, svc_http_request_id(req), p->endpoint,
                        "Kafka refused a message of %zu bytes as too large (%s), though "
                        "KAFKA_MESSAGE_MAX_BYTES=%ld leaves room for %ld: set it to the "
                        "topic's max.message.bytes; answered 413, not spooled",
                        p->size, why, p->co->cluster_max, p->co->message_max);
                svc_http_send_error(req, 413,
                                    "Kafka refused the events as too large: with their envelope "
                                    "they make a message of %zu bytes, and this Kafka cluster "
                                    "takes less than that in one message (it was set up for at "
                                    "most %ld bytes, framing included): send them in smaller "
                                    "batches",
                                    p->size, p->co->cluster_max);
                break;
        }
        free(p->text);
        free(p);
        svc_http_finish(req);
}

/* The slow path of the checks: parses the body and checks the tree (400 or 422 with each
 * bad event's reason). Returns the number of events, or 0 once the request is answered. */
static size_t check_slowly(svc_req_t *req, const char *body, size_t len) {
        char errstr[512];
        json_t *payload = svc_http_parse_json(req, body, len), *errors = NULL;
        size_t n;

        if (!payload)
                return 0;
        n = json_array_size(json_object_get(payload, "events"));
        if (svc_collect_check_payload(payload, &errors, errstr, sizeof(errstr)) == -1) {
                svc_metrics_events(SVC_METRICS_EP_COLLECT, SVC_METRICS_INVALID, n);
                svc_http_send_error_details(req, 422, errstr,
                                            errors ? json_pack("{s:o}", "errors", errors) : NULL);
                n = 0;
        }
        json_decref(payload);
        return n;
}

/* The request's write key, from X-Write-Key or ?write_key= (sendBeacon cannot set a
 * header). Returns 0 with *wk, or -1 once the request is answered 401. The key itself is
 * never repeated: not in the answer, the error log or a log line. */
static int find_key(svc_req_t *req, struct collect *co, struct svc_writekey *wk) {
        const char *key = svc_http_param(req, "HTTP_X_WRITE_KEY");
        char buf[SVC_WRITEKEY_MAX + 2];
        int n;

        if ((!key || !*key) && (n = svc_http_query_param(req, "write_key", buf, sizeof(buf))) != -1)
                key = n == -2 ? "" : buf; /* too long: no key of the file */
        if (!key || !*key) {
                svc_http_send_error(req, 401,
                                    "a write key is needed: send it in the X-Write-Key header, "
                                    "or as ?write_key= in the URL");
                return -1;
        }
        if (!svc_writekeys_watch_lookup(co->keys, key, strlen(key), wk)) {
                svc_http_send_error(req, 401, "the write key is not known");
                return -1;
        }
        return 0;
}

/* A 64-bit name of the client address in the budgets' table (never the address). */
static uint64_t address_id(const char *ip) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (const char *p = "ip:"; *p; p++)
                h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
        for (; *ip; ip++)
                h = (h ^ (unsigned char)*ip) * 0x100000001b3ULL;
        return h ? h : 1;
}

/* The budgets of the host: the key's events, the address's requests, taken together or
 * not at all. Returns 0 when the request fits, or -1 once it is answered: 413 for a batch
 * larger than the key's burst, 429 with Retry-After. Refused events count as
 * rate_limited, never as received. */
static int within_budget(svc_req_t *req, struct collect *co, const struct svc_writekey *wk,
                         size_t received) {
        struct svc_ratelimit_ask asks[2];
        size_t ask_cnt = 0, refused = 0;
        unsigned retry_after = 0;
        char value[16];

        if (wk && wk->rate && received > wk->burst) {
                svc_metrics_events(SVC_METRICS_EP_COLLECT, SVC_METRICS_RATE_LIMITED, received);
                svc_http_send_error(req, 413,
                                    "a batch of %zu events can never fit this write key's burst "
                                    "of %u events: send at most %u at once",
                                    received, wk->burst, wk->burst);
                return -1;
        }
        if (co->ip_rate)
                asks[ask_cnt++] = (struct svc_ratelimit_ask){address_id(svc_http_client_ip(req)),
                                                             co->ip_rate, co->ip_burst, 1};
        if (wk && wk->rate)
                asks[ask_cnt++] =
                    (struct svc_ratelimit_ask){wk->id, wk->rate, wk->burst, (uint32_t)received};
        if (!ask_cnt || svc_ratelimit_take(co->limits, asks, ask_cnt, svc_ratelimit_now_us(),
                                           &retry_after, &refused))
                return 0;
        svc_metrics_events(SVC_METRICS_EP_COLLECT, SVC_METRICS_RATE_LIMITED, received);
        snprintf(value, sizeof(value), "%u", retry_after);
        svc_http_add_header(req, "Retry-After", value);
        if (asks[refused].id == (wk ? wk->id : 0))
                svc_http_send_error(req, 429,
                                    "this write key may send %u events a second (%u at once); "
                                    "send them again in %u s",
                                    wk->rate, wk->burst, retry_after);
        else
                svc_http_send_error(req, 429,
                                    "this address may send %u requests a second (%u at once); "
                                    "send them again in %u s",
                                    co->ip_rate, co->ip_burst, retry_after);
        return -1;
}

static void collect(svc_req_t *req, void *opaque) {
        svc_app_t *app = opaque;
        struct collect *co = app->opaque;
        const char *method = svc_http_method(req);
        const char *body, *rid = svc_http_request_id(req), *ip;
        struct pending *p = NULL;
        size_t len, text_len, received;
        char ip_buf[SVC_CLIENTIP_BUF];
        struct svc_writekey wk;

        add_cors(req, app->cfg.cors_origins);
        if (!strcmp(method, "OPTIONS")) {
                svc_http_add_header(req, "Access-Control-Allow-Methods", "POST, OPTIONS");
                /* a tracker names its batch in X-Request-Id, so that a retry keeps its
                 * Kafka key and the consumer's event_ids */
                svc_http_add_header(req, "Access-Control-Allow-Headers",
                                    co->keys ? "Content-Type, X-Request-Id, X-Write-Key"
                                             : "Content-Type, X-Request-Id");
                svc_http_add_header(req, "Access-Control-Max-Age", "86400");
                svc_http_send(req, 204, "text/plain", "", 0);
                return;
        }
        if (strcmp(method, "POST")) {
                svc_http_add_header(req, "Allow", "POST, OPTIONS");
                svc_http_send_error(req, 405, "use POST to send events to /collect");
                return;
        }
        if (co->keys && find_key(req, co, &wk) == -1)
                return;
        /* text/plain is what navigator.sendBeacon sends. */
        if (!svc_http_content_type_is(req, "application/json") &&
            !svc_http_content_type_is(req, "text/plain")) {
                svc_http_send_error(req, 415,
                                    "Content-Type must be application/json (or text/plain "
                                    "carrying JSON)");
                return;
        }
        if (svc_http_read_text(req, COLLECT_MAX_BODY, &body, &len) == -1)
                return;
        /* One walk over the text decides the common body; the rest is parsed and checked,
         * which also names what is wrong. */
        if (!(received = svc_collect_scan(body, len)) && !(received = check_slowly(req, body, len)))
                return;
        if (co->limits && within_budget(req, co, co->keys ? &wk : NULL, received) == -1)
                return;
        /* At the door: only what CLIENT_IP_MODE keeps goes any further. */
        ip = svc_clientip_apply(co->ip_mode, svc_http_client_ip(req), ip_buf, sizeof(ip_buf));
        if (!(p = calloc(1, sizeof(*p))) ||
            !(p->text = raw_message(req, ip, co->keys ? wk.source : NULL, body, len, &text_len))) {
                svc_http_send_error(req, 500, "internal error");
                goto out;
        }
        /* Received: from here each event is acknowledged, spooled or refused. */
        p->received = received;
        svc_metrics_events(SVC_METRICS_EP_COLLECT, SVC_METRICS_RECEIVED, p->received);
        /* The envelope adds a few hundred bytes: a body near the bound may not fit, nor
         * one over a smaller cluster's limit. Never spooled: it could never be delivered. */
        p->size = text_len + strlen(rid);
        if (p->size > (size_t)co->message_max) {
                svc_metrics_events(SVC_METRICS_EP_COLLECT, SVC_METRICS_TOO_LARGE, p->received);
                send_too_large(req, co, p->size);
                goto out;
        }
        p->req = req;
        p->endpoint = app->endpoint;
        p->co = co;
        /* From here the request belongs to collect_done(), maybe already on another thread. */
        svc_http_defer(req);
        svc_deliver_send(co->dl, app->cfg.collect_raw_topic, rid, strlen(rid), p->text, text_len,
                         collect_done, p);
        return;
out:
        if (p)
                free(p->text);
        free(p);
}

/* "<rate>[:<burst>]", whole numbers from 1 to SVC_WRITEKEY_RATE_MAX; the burst is the rate
 * when not written. Returns 0, or -1 when malformed. */
static int parse_rate(const char *text, uint32_t *rate, uint32_t *burst) {
        unsigned long r, b;
        char *end;

        if (!isdigit((unsigned char)*text) || (r = strtoul(text, &end, 10)) < 1 ||
            r > SVC_WRITEKEY_RATE_MAX)
                return -1;
        b = r;
        if (*end == ':' && (!isdigit((unsigned char)end[1]) ||
                            (b = strtoul(end + 1, &end, 10)) < 1 || b > SVC_WRITEKEY_RATE_MAX))
                return -1;
        if (*end)
                return -1;
        *rate = (uint32_t)r;
        *burst = (uint32_t)b;
        return 0;
}

/* Reads the settings of the door (docs/configuration.md). Returns 0, or -1 with errstr. */
static int collect_setup(struct collect *co, const svc_config_t *cfg, char *errstr,
                         size_t errstr_size) {
        const char *mode = svc_config_get(cfg, "CLIENT_IP_MODE"), *keys, *ip_limit;
        char why[1024];

        if (svc_clientip_mode_parse(mode, &co->ip_mode) == -1) {
                snprintf(errstr, errstr_size, "CLIENT_IP_MODE=%s: must be full, truncate or drop",
                         mode);
                return -1;
        }
        if ((keys = svc_config_get(cfg, "COLLECT_WRITE_KEYS")) && *keys &&
            !(co->keys = svc_writekeys_watch_new(keys, why, sizeof(why)))) {
                snprintf(errstr, errstr_size, "COLLECT_WRITE_KEYS: %s", why);
                return -1;
        }
        if ((ip_limit = svc_config_get(cfg, "COLLECT_RATE_LIMIT_IP")) && *ip_limit) {
                if (parse_rate(ip_limit, &co->ip_rate, &co->ip_burst) == -1) {
                        snprintf(
                            errstr, errstr_size,
                            "COLLECT_RATE_LIMIT_IP=%s: must be <requests per second>[:<burst>], "
                            "whole numbers from 1 to %d",
                            ip_limit, SVC_WRITEKEY_RATE_MAX);
                        return -1;
                }
        }
        /* One table for the host, beside the metrics files; per process without them. */
        if ((co->keys || co->ip_rate) &&
            !(co->limits = svc_ratelimit_open(cfg->metrics_dir, why, sizeof(why)))) {
                snprintf(errstr, errstr_size, "rate limits: %s", why);
                return -1;
        }
        return 0;
}

int main(void) {
        struct collect co = {0};
        svc_app_t app;
        char errstr[2048];
        int ret;

        if (svc_app_init(&app, "/collect", SVC_APP_F_KAFKA) == -1)
                return 1;
        if (collect_setup(&co, &app.cfg, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, app.endpoint, "%s", errstr);
                svc_ratelimit_close(co.limits);
                svc_writekeys_watch_destroy(co.keys);
                svc_app_close(&app);
                return 1;
        }
        if (!(co.dl =
                  svc_deliver_new(&app.cfg, app.kp, svc_http_is_cgi(), errstr, sizeof(errstr)))) {
                svc_log(SVC_LOG_ERROR, NULL, app.endpoint, "spool: %s", errstr);
                svc_app_close(&app);
                return 1;
        }
        co.message_max = svc_kafka_message_max(&app.cfg);
        co.cluster_max = app.cfg.kafka_batch_max;
        app.opaque = &co;
        svc_app_prepare_topics(&app, (const char *[]){app.cfg.collect_raw_topic, NULL});
        ret = svc_app_run(&app, 16, collect);
        svc_deliver_destroy(co.dl);
        svc_app_close(&app);
        svc_ratelimit_close(co.limits);
        svc_writekeys_watch_destroy(co.keys);
        return ret;
}
