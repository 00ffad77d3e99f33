/* metrics_home.c - the few sums the home page shows, as JSON (svc_metrics_summary;
 * docs/metrics.md, "The home page").
 *
 * Threads: the caller's. Memory: the JSON is a new reference, the caller's; the snapshot
 * is only read. */
#include <jansson.h>
#include <time.h>

#include "clock.h"
#include "metrics_int.h"

/* The home page's view --------------------------------------------------------------- */

static json_t *outcomes_json(const svc_metrics_snap_t *snap, int only_ep) {
        uint64_t v[SVC_METRICS_OUTCOME_CNT] = {0};

        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                if (only_ep < 0 || ep == only_ep)
                        for (int o = 0; o < SVC_METRICS_OUTCOME_CNT; o++)
                                v[o] += svc_metrics_events_of(snap, ep, o);
        return json_pack("{s:I, s:I, s:I, s:{s:I, s:I, s:I}}", "received",
                         (json_int_t)v[SVC_METRICS_RECEIVED], "acked",
                         (json_int_t)v[SVC_METRICS_ACKED], "spooled",
                         (json_int_t)v[SVC_METRICS_SPOOLED], "rejected", "invalid",
                         (json_int_t)v[SVC_METRICS_INVALID], "unavailable",
                         (json_int_t)v[SVC_METRICS_UNAVAILABLE], "too_large",
                         (json_int_t)v[SVC_METRICS_TOO_LARGE]);
}

json_t *svc_metrics_summary(const svc_metrics_snap_t *snap) {
        const uint64_t *plain = &snap->counters[C_PLAIN];
        json_t *buckets = json_array(), *spool = json_null(), *lag = json_null();
        uint64_t cum = 0, requests = 0, errors = 0, kafka_errors = 0;

        for (size_t i = 0; buckets && i < BUCKET_CNT; i++) {
                cum += snap->counters[C_ACK_BUCKET + i];
                /* +Inf as null: JSON has no infinity */
                json_array_append_new(
                    buckets,
                    json_pack("[o, I]",
                              i < BUCKET_CNT - 1 ? json_real((double)svc_metrics_bucket_us[i] / 1e6)
                                                 : json_null(),
                              (json_int_t)cum));
        }
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                for (size_t c = 0; c < CODE_CNT; c++) {
                        uint64_t v = snap->counters[C_HTTP + (size_t)ep * CODE_CNT + c];
                        requests += v;
                        if (c == CODE_CNT - 1 || svc_http_status_code(c) >= 500)
                                errors += v;
                }
        for (int i = SVC_METRICS_KAFKA_ERR_TIMED_OUT; i <= SVC_METRICS_KAFKA_ERR_OTHER; i++)
                kafka_errors += plain[i];
        if (snap->spool_records >= 0)
                spool = json_pack("{s:I, s:I, s:I}", "records", (json_int_t)snap->spool_records,
                                  "bytes", (json_int_t)snap->spool_bytes, "forwarded",
                                  (json_int_t)plain[SVC_METRICS_SPOOL_FORWARDED]);
        if (snap->gauge_set & (1ULL << (G_PLAIN + SVC_METRICS_CONSUMER_LAG)))
                lag = json_integer(snap->gauges[G_PLAIN + SVC_METRICS_CONSUMER_LAG]);
        return json_pack(
            "{s:I, s:o, s:{s:o, s:o}, s:{s:I, s:I}, s:{s:I, s:f, s:o}, s:I, s:o, s:{s:o, s:I, "
            "s:I}}",
            "time_ms", (json_int_t)svc_clock_ms(CLOCK_REALTIME), "events", outcomes_json(snap, -1),
            "endpoints", "/collect", outcomes_json(snap, SVC_METRICS_EP_COLLECT), "/api/ingest",
            outcomes_json(snap, SVC_METRICS_EP_INGEST), "http", "requests", (json_int_t)requests,
            "errors_5xx", (json_int_t)errors, "kafka_ack", "count", (json_int_t)cum, "sum_seconds",
            (double)snap->counters[C_ACK_SUM] / 1e6, "buckets", buckets, "kafka_delivery_errors",
            (json_int_t)kafka_errors, "spool", spool, "consumer", "lag", lag, "produced",
            (json_int_t)plain[SVC_METRICS_CONSUMER_PRODUCED], "dead_lettered",
            (json_int_t)plain[SVC_METRICS_CONSUMER_DEAD_LETTERED]);
}
