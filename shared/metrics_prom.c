/* metrics_prom.c - a snapshot in the Prometheus text exposition format 0.0.4
 * (svc_metrics_render), for GET /metrics (docs/metrics.md). One flat table of series.
 *
 * Threads: the caller's. Memory: the text is the caller's to free; the snapshot is only
 * read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "metrics_int.h"
#include "version.h"

/* Rendering ------------------------------------------------------------------------ */

static void family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram series; labels is "" or `name="value"`. */
static void histogram(FILE *f, const char *name, const char *labels, const uint64_t *buckets,
                      uint64_t sum_us) {
        uint64_t cum = 0;

        for (size_t i = 0; i < BUCKET_CNT; i++) {
                cum += buckets[i];
                fprintf(f, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, *labels ? "," : "",
                        svc_metrics_bucket_le[i], (unsigned long long)cum);
        }
        fprintf(f, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
                (double)sum_us / 1e6);
        fprintf(f, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
                (unsigned long long)cum);
}

/* Endpoints that take events: their event series are shown even at zero. */
static int takes_events(int ep) {
        return ep == SVC_METRICS_EP_COLLECT || ep == SVC_METRICS_EP_INGEST;
}

char *svc_metrics_render(const svc_metrics_snap_t *snap, size_t *len) {
        static const char *const outcome_family[SVC_METRICS_OUTCOME_CNT][2] = {
            [SVC_METRICS_RECEIVED] = {"events_received_total",
                                      "Events (or rows) in requests that passed the checks."},
            [SVC_METRICS_ACKED] = {"events_acked_total",
                                   "Received events acknowledged by Kafka (or written to "
                                   "the dev store)."},
            [SVC_METRICS_SPOOLED] = {"events_spooled_total",
                                     "Received events Kafka did not acknowledge, kept in "
                                     "the spool for the forwarder."},
        };
        static const char *const reasons[SVC_METRICS_OUTCOME_CNT] = {
            [SVC_METRICS_INVALID] = "invalid",
            [SVC_METRICS_UNAVAILABLE] = "unavailable",
            [SVC_METRICS_TOO_LARGE] = "too_large",
            [SVC_METRICS_RATE_LIMITED] = "rate_limited",
        };
        /* The counters of svc_metrics_counter_t, in its order: a family's series are
         * consecutive, and a line with a help text starts a family. */
        static const struct {
                const char *series, *help;
        } plain[SVC_METRICS_COUNTER_CNT] = {
            {"events_kafka_delivery_errors_total{error=\"timed_out\"}",
             "Messages Kafka did not acknowledge, by error (handlers and forwarder)."},
            {"events_kafka_delivery_errors_total{error=\"broker_down\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"purged\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"too_large\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"unknown_topic\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"not_authorized\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"other\"}", NULL},
            {"events_spool_forwarded_total",
             "Spooled records the forwarder put into Kafka (acknowledged)."},
            {"events_spool_forwarded_files_total", "Spool files forwarded and removed."},
            {"events_spool_damaged_total",
             "Damaged runs of bytes the forwarder skipped (records torn by a crash)."},
            {"events_spool_forward_failures_total",
             "Times a spool file was not taken by Kafka (it stays, and is tried again)."},
            {"events_spool_refused_files_total",
             "Spool files the forwarder did not trust (another owner, loose mode): set aside."},
            {"events_spool_rejected_total",
             "Spooled records Kafka refused for good: kept in rejected/, a dead letter sent."},
            {"events_consumer_messages_total",
             "Raw messages the consumer read (again after a rewind)."},
            {"events_consumer_records_total{outcome=\"produced\"}",
             "Records of the consumer's committed transactions, by outcome."},
            {"events_consumer_records_total{outcome=\"dead_lettered\"}", NULL},
            {"events_consumer_records_total{outcome=\"duplicate\"}", NULL},
            {"events_consumer_transactions_total{result=\"committed\"}",
             "The consumer's transactions, by result."},
            {"events_consumer_transactions_total{result=\"aborted\"}", NULL},
            {"events_consumer_commit_seconds_total",
             "Time the consumer spent committing transactions."},
            {"events_consumer_delivery_errors_total",
             "Records of the consumer's transactions that Kafka failed."},
            {"events_consumer_refused_total",
             "Records Kafka refused for good; a dead letter took their place."},
            {"events_consumer_dropped_total",
             "Refused records whose dead letter Kafka refused too."},
        };
        FILE *f;
        char *text = NULL, labels[96], name[64];

        if (!(f = open_memstream(&text, len)))
                return NULL;

        family(f, "events_build_info", "gauge",
               "1, labelled with the service's version and librdkafka's.");
        fprintf(f, "events_build_info{version=\"%s\",librdkafka=\"%s\"} 1\n", SVC_VERSION,
                svc_kafka_version());
        family(f, "events_http_requests_total", "counter",
               "Requests the handlers answered, by endpoint and status code.");
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                for (size_t c = 0; c < CODE_CNT; c++) {
                        uint64_t v = snap->counters[C_HTTP + (size_t)ep * CODE_CNT + c];
                        char code[8] = "other";
                        if (!v)
                                continue;
                        if (c < CODE_CNT - 1)
                                snprintf(code, sizeof(code), "%d", svc_http_status_code(c));
                        fprintf(f, "events_http_requests_total{endpoint=\"%s\",code=\"%s\"} %llu\n",
                                svc_metrics_ep_path[ep], code, (unsigned long long)v);
                }
        family(f, "events_http_request_duration_seconds", "histogram",
               "Time from a request's start in the handler to its answer.");
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++) {
                const uint64_t *b = &snap->counters[C_HTTP_BUCKET + (size_t)ep * BUCKET_CNT];
                uint64_t n = 0;
                for (size_t i = 0; i < BUCKET_CNT; i++)
                        n += b[i];
                if (!n)
                        continue;
                snprintf(labels, sizeof(labels), "endpoint=\"%s\"", svc_metrics_ep_path[ep]);
                histogram(f, "events_http_request_duration_seconds", labels, b,
                          snap->counters[C_HTTP_SUM + ep]);
        }
        family(f, "events_http_requests_in_flight", "gauge",
               "Requests the handlers are serving now.");
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                fprintf(f, "events_http_requests_in_flight{endpoint=\"%s\"} %lld\n",
                        svc_metrics_ep_path[ep], (long long)snap->gauges[G_INFLIGHT + ep]);

        for (int o = SVC_METRICS_RECEIVED; o <= SVC_METRICS_SPOOLED; o++) {
                family(f, outcome_family[o][0], "counter", outcome_family[o][1]);
                for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                        if (takes_events(ep) || svc_metrics_events_of(snap, ep, o))
                                fprintf(f, "%s{endpoint=\"%s\"} %llu\n", outcome_family[o][0],
                                        svc_metrics_ep_path[ep],
                                        (unsigned long long)svc_metrics_events_of(snap, ep, o));
        }
        family(f, "events_rejected_total", "counter",
               "Events refused: invalid (by the checks, never received), or received and "
               "then unavailable (neither acknowledged nor spooled) or too_large; rate_limited "
               "(over a write key's or a client address's budget, never received).");
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                for (int o = SVC_METRICS_INVALID; o <= SVC_METRICS_RATE_LIMITED; o++)
                        /* only /collect has budgets */
                        if ((takes_events(ep) &&
                             (o != SVC_METRICS_RATE_LIMITED || ep == SVC_METRICS_EP_COLLECT)) ||
                            svc_metrics_events_of(snap, ep, o))
                                fprintf(
                                    f,
                                    "events_rejected_total{endpoint=\"%s\",reason=\"%s\"} %llu\n",
                                    svc_metrics_ep_path[ep], reasons[o],
                                    (unsigned long long)svc_metrics_events_of(snap, ep, o));

        family(f, "events_kafka_produce_duration_seconds", "histogram",
               "Time from producing a message to Kafka's acknowledgement (handlers and "
               "forwarder).");
        histogram(f, "events_kafka_produce_duration_seconds", "", &snap->counters[C_ACK_BUCKET],
                  snap->counters[C_ACK_SUM]);
        family(f, "events_kafka_queue_messages", "gauge",
               "Messages in the producers of the handlers and forwarder, not acknowledged yet.");
        fprintf(f, "events_kafka_queue_messages %lld\n",
                (long long)snap->gauges[G_PLAIN + SVC_METRICS_KAFKA_QUEUE]);
        if (snap->spool_records >= 0) {
                family(f, "events_spool_records", "gauge",
                       "Records in the spool, waiting for the forwarder.");
                fprintf(f, "events_spool_records %lld\n", snap->spool_records);
                family(f, "events_spool_bytes", "gauge", "Bytes of the spool's files.");
                fprintf(f, "events_spool_bytes %lld\n", snap->spool_bytes);
        }
        for (int i = 0; i < SVC_METRICS_COUNTER_CNT; i++) {
                uint64_t v = snap->counters[C_PLAIN + i];
                if (plain[i].help) {
                        snprintf(name, sizeof(name), "%.*s", (int)strcspn(plain[i].series, "{"),
                                 plain[i].series);
                        family(f, name, "counter", plain[i].help);
                }
                if (i == SVC_METRICS_CONSUMER_COMMIT_MS)
                        fprintf(f, "%s %.3f\n", plain[i].series, (double)v / 1000);
                else
                        fprintf(f, "%s %llu\n", plain[i].series, (unsigned long long)v);
        }
        family(f, "events_consumer_transaction_duration_seconds", "histogram",
               "Time of the consumer's committed transactions, from their first message to "
               "the end of their commit.");
        histogram(f, "events_consumer_transaction_duration_seconds", "",
                  &snap->counters[C_TXN_BUCKET], snap->counters[C_TXN_SUM]);
        if (snap->gauge_set & (1ULL << (G_PLAIN + SVC_METRICS_CONSUMER_LAG))) {
                family(f, "events_consumer_lag", "gauge",
                       "Records of the raw topic (COLLECT_RAW_TOPIC) the running consumers have "
                       "not transformed yet.");
                fprintf(f, "events_consumer_lag %lld\n",
                        (long long)snap->gauges[G_PLAIN + SVC_METRICS_CONSUMER_LAG]);
        }

        family(f, "events_process_start_time_seconds", "gauge",
               "Start of each live process that keeps its own counters (pooled handlers, "
               "consumer, forwarder).");
        for (size_t i = 0; i < snap->proc_cnt; i++)
                fprintf(f, "events_process_start_time_seconds{process=\"%s\",pid=\"%lld\"} %.3f\n",
                        snap->procs[i].kind, (long long)snap->procs[i].pid,
                        (double)snap->procs[i].started_ms / 1000);
        family(f, "events_processes_ended_total", "counter",
               "Long-running processes that ended (exit, crash, restart) and whose counts "
               "were kept.");
        fprintf(f, "events_processes_ended_total %llu\n",
                (unsigned long long)snap->counters[C_ENDED]);
        if (fclose(f) != 0) {
                free(text);
                return NULL;
        }
        return text;
}
