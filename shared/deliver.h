/* deliver.h - the one way /collect hands a message over: to Kafka, and when Kafka does
 * not acknowledge it, to the local spool (docs/spool.md). The caller learns the outcome
 * once, from whichever thread settles it: acknowledged (200), spooled (202), refused by
 * Kafka as too large (413: never spooled, it could never be delivered), or none of them
 * (503: nothing of it was accepted). */
#ifndef SVC_DELIVER_H
#define SVC_DELIVER_H
#include <stddef.h>

#include "config.h"
#include "kafka.h"

typedef struct svc_deliver svc_deliver_t; /* opaque; thread-safe */

typedef enum {
        SVC_DELIVER_ACKED,     /* Kafka acknowledged it (or the dev store has it) */
        SVC_DELIVER_SPOOLED,   /* on disk in the spool: the forwarder will deliver it */
        SVC_DELIVER_FAILED,    /* neither: Kafka unavailable and no spool, or the spool full */
        SVC_DELIVER_TOO_LARGE, /* Kafka (or librdkafka) refused it as too large: not spooled */
} svc_deliver_outcome_t;

/* The outcome of one message; why says what failed (for the log, never for the client:
 * it may name a path). */
typedef void(svc_deliver_done_fn)(void *opaque, svc_deliver_outcome_t outcome, const char *why);

/**
 * @brief Sets up delivery through kp, with the spool of cfg->spool_dir when there is one
 *        (checked for writing now: a start-up error, not a surprise at the first outage).
 *        per_request: one CGI request; the spool is written on the spot, no thread.
 * @returns the handle, or NULL with errstr.
 */
svc_deliver_t *svc_deliver_new(const svc_config_t *cfg, svc_kafka_t *kp, int per_request,
                               char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Hands one message over. While Kafka is known to be unreachable it goes to the
 *        spool at once; otherwise to Kafka, and to the spool when Kafka fails or does not
 *        acknowledge it within KAFKA_TIMEOUT_MS, unless Kafka refused it as too large.
 *        done() is called exactly once, maybe before this returns. key and val must stay
 *        valid until then. The caller keeps a message larger than svc_kafka_message_max()
 *        out: while Kafka is down it would be spooled.
 */
void svc_deliver_send(svc_deliver_t *dl, const char *topic, const char *key, size_t key_len,
                      const char *val, size_t val_len, svc_deliver_done_fn *done, void *opaque);

/** @brief Frees all; call once no message is outstanding. NULL is a no-op. */
void svc_deliver_destroy(svc_deliver_t *dl);
#endif
