/* metrics.h - the counters of every process of a host, for GET /metrics and the home
 * page: each process keeps them in a small fixed-layout file under METRICS_DIR, mapped
 * into memory and updated with atomic adds; a reader sums every file (docs/metrics.md). */
#ifndef SVC_METRICS_H
#define SVC_METRICS_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The `endpoint` label of requests and events. */
typedef enum {
        SVC_METRICS_EP_NONE = -1,        /* not counted */
        SVC_METRICS_EP_COLLECT,          /* /collect */
        SVC_METRICS_EP_INGEST,           /* /api/ingest */
        SVC_METRICS_EP_PROCESSED_EVENTS, /* /api/processed-events */
        SVC_METRICS_EP_HEALTH,           /* /health */
        SVC_METRICS_EP_HOME,             /* / */
        SVC_METRICS_EP_METRICS,          /* /metrics */
        SVC_METRICS_EP_CNT
} svc_metrics_ep_t;

/* What became of the events of a request. For every endpoint
 * RECEIVED = ACKED + SPOOLED + UNAVAILABLE + TOO_LARGE. */
typedef enum {
        SVC_METRICS_RECEIVED,     /* passed the checks */
        SVC_METRICS_ACKED,        /* acknowledged by Kafka, or in the dev store */
        SVC_METRICS_SPOOLED,      /* in the spool, for the forwarder */
        SVC_METRICS_INVALID,      /* refused by the checks: never received */
        SVC_METRICS_UNAVAILABLE,  /* received, then neither acknowledged nor spooled */
        SVC_METRICS_TOO_LARGE,    /* received, then too large for one Kafka message */
        SVC_METRICS_RATE_LIMITED, /* refused by a write key's or an address's budget (429,
                                   * or 413 over a key's burst): never received */
        SVC_METRICS_OUTCOME_CNT
} svc_metrics_outcome_t;

/* Counters with no label but their own name. */
typedef enum {
        /* events_kafka_delivery_errors_total{error}: the handlers' and forwarder's producer */
        SVC_METRICS_KAFKA_ERR_TIMED_OUT,
        SVC_METRICS_KAFKA_ERR_BROKER_DOWN,
        SVC_METRICS_KAFKA_ERR_PURGED, /* failed before sending: no broker, or exit */
        SVC_METRICS_KAFKA_ERR_TOO_LARGE,
        SVC_METRICS_KAFKA_ERR_UNKNOWN_TOPIC,
        SVC_METRICS_KAFKA_ERR_NOT_AUTHORIZED,
        SVC_METRICS_KAFKA_ERR_OTHER,
        /* the forwarder */
        SVC_METRICS_SPOOL_FORWARDED, /* records Kafka acknowledged */
        SVC_METRICS_SPOOL_FILES,     /* files forwarded and removed */
        SVC_METRICS_SPOOL_DAMAGED,   /* damaged runs skipped */
        SVC_METRICS_SPOOL_FAILURES,  /* files Kafka did not take (they stay) */
        SVC_METRICS_SPOOL_REFUSED,   /* files set aside: not made by this user's writers */
        SVC_METRICS_SPOOL_REJECTED,  /* records Kafka refused for good: kept in rejected/ */
        /* the consumer */
        SVC_METRICS_CONSUMER_MESSAGES,      /* raw messages read (again after a rewind) */
        SVC_METRICS_CONSUMER_PRODUCED,      /* records in committed transactions */
        SVC_METRICS_CONSUMER_DEAD_LETTERED, /* dead letters in committed transactions */
        SVC_METRICS_CONSUMER_DUPLICATE,     /* events of copies removed, same */
        SVC_METRICS_CONSUMER_COMMITTED,     /* transactions */
        SVC_METRICS_CONSUMER_ABORTED,
        SVC_METRICS_CONSUMER_COMMIT_MS, /* time spent committing */
        SVC_METRICS_CONSUMER_DELIVERY_ERRORS,
        SVC_METRICS_CONSUMER_REFUSED, /* records Kafka refused for good: a letter instead */
        SVC_METRICS_CONSUMER_DROPPED, /* and whose letter it refused too */
        SVC_METRICS_COUNTER_CNT
} svc_metrics_counter_t;

/* Gauges: what a live process says now; gone with the process. */
typedef enum {
        SVC_METRICS_KAFKA_QUEUE,  /* messages in the producer, not acknowledged yet */
        SVC_METRICS_CONSUMER_LAG, /* records of its partitions not transformed yet */
        SVC_METRICS_GAUGE_CNT
} svc_metrics_gauge_t;

#define SVC_METRICS_F_PER_REQUEST                                                                  \
        0x1 /* one CGI request: add into the file all such                                         \
             * processes share; no gauges */
#define SVC_METRICS_F_IN_MEMORY                                                                    \
        0x2 /* count in memory when there is no file                                               \
             * (METRICS_DIR=off): a stats line reads them */

/**
 * @brief Starts counting for this process, as `kind` (e.g. "/collect", "consumer"):
 *        creates its own file under cfg->metrics_dir (held with an flock for its life),
 *        or, per request, maps the shared one. Does nothing when METRICS_DIR=off (unless
 *        SVC_METRICS_F_IN_MEMORY). Call once, before any thread counts.
 * @returns 0, or -1 with errstr when the file could not be made: the process then counts
 *          in memory only (SVC_METRICS_F_IN_MEMORY) or not at all.
 */
int svc_metrics_open(const svc_config_t *cfg, const char *kind, int flags, char *errstr,
                     size_t errstr_size) __attribute__((warn_unused_result));

/** @brief Stops counting (the counts stay in the file); call after every thread. */
void svc_metrics_close(void);

/** @brief The endpoint of a path such as "/collect"; SVC_METRICS_EP_NONE if unknown. */
svc_metrics_ep_t svc_metrics_endpoint(const char *path);

/* Counting: thread-safe, lock-free, no-ops when the process does not count. */

/** @brief A request began (requests in flight). */
void svc_metrics_http_begin(svc_metrics_ep_t ep);
/** @brief A request was answered `status`, `usec` microseconds after it began. */
void svc_metrics_http_answered(svc_metrics_ep_t ep, int status, uint64_t usec);
/** @brief A request ended (after svc_metrics_http_begin). */
void svc_metrics_http_end(svc_metrics_ep_t ep);

/** @brief n events of endpoint ep had this outcome. */
void svc_metrics_events(svc_metrics_ep_t ep, svc_metrics_outcome_t outcome, uint64_t n);

/** @brief Kafka acknowledged a message `usec` microseconds after it was produced. */
void svc_metrics_kafka_acked(uint64_t usec);

/** @brief The consumer: one committed transaction took usec, from its first message to
 *  the end of its commit. */
void svc_metrics_consumer_txn(uint64_t usec);

void svc_metrics_add(svc_metrics_counter_t counter, uint64_t n);
void svc_metrics_set(svc_metrics_gauge_t gauge, int64_t value);

/** @brief This process's own count (for its stats line); 0 when it does not count. */
uint64_t svc_metrics_get(svc_metrics_counter_t counter);

/* Reading: the sums of every process of the host. */

typedef struct svc_metrics_snap svc_metrics_snap_t; /* opaque */

/**
 * @brief Sums the files under cfg->metrics_dir: the processes alive now (their counters
 *        and gauges), the per-request file, and the archive of the ended ones. Under the
 *        directory's lock it first folds the file of every ended process into the
 *        archive, exactly once, so that no counter goes backwards when a process exits.
 *        Adds the spool's size (cfg->spool_dir) as it is now.
 * @returns the snapshot, or NULL with errstr (METRICS_DIR=off, unreadable, out of memory).
 */
svc_metrics_snap_t *svc_metrics_snap_new(const svc_config_t *cfg, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief The snapshot in the Prometheus text exposition format 0.0.4.
 * @returns a malloc'd text (its length in *len), or NULL when out of memory.
 */
char *svc_metrics_render(const svc_metrics_snap_t *snap, size_t *len);

/**
 * @brief The few sums the home page shows, as JSON (docs/metrics.md, "The home page").
 * @returns a new reference, or NULL when out of memory.
 */
json_t *svc_metrics_summary(const svc_metrics_snap_t *snap);

/** @brief NULL is a no-op. */
void svc_metrics_snap_destroy(svc_metrics_snap_t *snap);
#endif
