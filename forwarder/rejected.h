/* rejected.h - what the forwarder does with a spooled record Kafka refuses for good: its
 * bytes are kept in SPOOL_DIR/rejected/ (a spool directory of its own, read and re-queued
 * with tools/spooltool), and a small dead letter goes to COLLECT_DLQ_TOPIC
 * (docs/spool.md, "Records Kafka refuses for good").
 *
 * Threads: one thread at a time (the forwarder's). Memory: the handle is the caller's,
 * freed with fwd_rejected_destroy(); records are copied. */
#ifndef FWD_REJECTED_H
#define FWD_REJECTED_H
#include <stddef.h>

#include "kafka.h"
#include "spool.h"

#define FWD_REJECTED_DIR "rejected" /* under SPOOL_DIR */

typedef struct fwd_rejected fwd_rejected_t; /* opaque */

/**
 * @brief Prepares the keeping of refused records; rejected/ is created at the first one.
 *        max_bytes (SPOOL_MAX_BYTES) bounds rejected/ too, as part of the spool.
 * @returns the handle, or NULL when out of memory.
 */
fwd_rejected_t *fwd_rejected_new(const char *spool_dir, long long max_bytes, svc_kafka_t *kp,
                                 const char *dlq_topic, int timeout_ms);

/**
 * @brief Keeps rec in rejected/ (appended and fdatasync'ed), then produces its letter
 *        {"error","request_id","size","reason"} to COLLECT_DLQ_TOPIC and waits for it.
 *        reason is Kafka's. A letter Kafka refuses for good is logged and dropped: the
 *        bytes are kept all the same.
 * @returns 0, or -1 with errstr when the record could not be kept or its letter could
 *          not be delivered now (rejected/ full, no broker): try again later.
 */
int fwd_rejected_keep(fwd_rejected_t *r, const struct svc_spool_rec *rec, const char *reason,
                      char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/** @brief Seals the file of rejected/ being written, if any. */
void fwd_rejected_seal(fwd_rejected_t *r);

/** @brief Seals and frees. NULL is a no-op. */
void fwd_rejected_destroy(fwd_rejected_t *r);
#endif
