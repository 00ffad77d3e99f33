/* outage.h - Kafka being unreachable, as this host knows it, in one place: a producer's
 * own view (svc_kafka_brokers_down: no broker reachable since its last acknowledgement)
 * and the host-wide mark in SPOOL_DIR that every process reads, so that a new process
 * (one CGI request) spools at once instead of waiting KAFKA_TIMEOUT_MS first. Whoever
 * sees Kafka fail marks it; whoever sees it acknowledge clears it; the forwarder keeps it
 * fresh while Kafka stays away (docs/spool.md); a mark older than
 * SVC_OUTAGE_MARK_MAX_AGE_MS no longer counts, so without a forwarder one request in that
 * time tries Kafka again. */
#ifndef SVC_OUTAGE_H
#define SVC_OUTAGE_H
#include "kafka.h"

#define SVC_OUTAGE_MARK_MAX_AGE_MS 5000 /* the forwarder refreshes it every 1-2 s */

typedef struct svc_outage svc_outage_t; /* opaque; thread-safe */

/**
 * @brief What this process knows of Kafka's outages, through kp (borrowed: it must
 *        outlive the result) and the mark in spool_dir (copied). pooled: a long-running
 *        process, which looks at the mark file at most every 200 ms.
 * @returns the handle, or NULL when out of memory.
 */
svc_outage_t *svc_outage_new(svc_kafka_t *kp, const char *spool_dir, int pooled)
    __attribute__((warn_unused_result));

/** @brief 1 when Kafka is known to be unreachable: a message should not wait for it. */
int svc_outage_known(svc_outage_t *ou);

/** @brief A message failed: when the producer sees no broker, the host is marked down. */
void svc_outage_failed(svc_outage_t *ou);

/** @brief Kafka acknowledged a message: a mark this process set is cleared. */
void svc_outage_acked(svc_outage_t *ou);

/** @brief NULL is a no-op. */
void svc_outage_destroy(svc_outage_t *ou);

/* The mark itself, in directory dir, for the forwarder (which keeps it fresh while it
 * cannot reach Kafka, and clears it once Kafka takes its files) and for /health. */

/** @brief Marks Kafka down now (creates the mark, or makes it fresh again). */
void svc_outage_mark_down(const char *dir);

/** @brief Clears the mark. */
void svc_outage_mark_up(const char *dir);

/** @brief 1 when a mark no older than max_age_ms is there (one from the future too). */
int svc_outage_is_marked(const char *dir, int max_age_ms);
#endif
