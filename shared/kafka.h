/* kafka.h - the producer every handler shares: acks=all, idempotent, waits for delivery
 * reports (never for flush's poll loop), or the dev store in dev mode; and what every Kafka
 * client of the service shares: its configuration, what a failure means, a reader's lag.
 * The producer is kafka.c with kafka_batch.c, kafka_async.c and kafka_dev.c; the shared
 * part kafka_client.c. */
#ifndef SVC_KAFKA_H
#define SVC_KAFKA_H
#include <stddef.h>

#include "config.h"

typedef struct svc_kafka svc_kafka_t;             /* opaque; thread-safe */
typedef struct svc_kafka_batch svc_kafka_batch_t; /* opaque; one thread at a time */

#define SVC_KAFKA_F_PER_REQUEST 0x1 /* CGI: small queues, no linger, least start-up work */
/* The forwarder: after an outage, a broker is tried again every 0.1 s rather than every
 * second (docs/spool.md, "The forwarder"). */
#define SVC_KAFKA_F_QUICK_RECONNECT 0x2

/* The largest message (key + value) the service produces anywhere: the raw /collect
 * message, every consumer record and dead letter. It fits a broker's default
 * message.max.bytes (1,048,588) with room for the record batch's overhead, and every
 * producer of the service is configured with it (README.md, "Sizes"). */
#define SVC_KAFKA_MESSAGE_MAX 1000000
#define SVC_KAFKA_STR_(x) #x
#define SVC_KAFKA_STR(x) SVC_KAFKA_STR_(x)
#define SVC_KAFKA_MESSAGE_MAX_STR SVC_KAFKA_STR(SVC_KAFKA_MESSAGE_MAX)

/* What Kafka adds to a message (key + value) in a record batch of one: the batch's header,
 * and the record's own framing at most (its varints at their longest). A broker's
 * message.max.bytes, or a topic's max.message.bytes, bounds the whole batch. */
#define SVC_KAFKA_BATCH_HEADER 61
#define SVC_KAFKA_RECORD_FRAMING 36

/* librdkafka's rd_kafka_conf_t, for the programs that are Kafka clients themselves (they
 * include librdkafka; a handler never needs it). */
struct rd_kafka_conf_s;

/**
 * @brief The configuration of every client of the configured cluster, in this order:
 *        librdkafka's log lines into svc_log, bootstrap.servers from KAFKA_URL,
 *        message.max.bytes SVC_KAFKA_MESSAGE_MAX, then `props` ("name", "value", ...,
 *        NULL; may be NULL), then the RDKAFKA_* settings (security, tuning), last so
 *        that they win (docs/configuration.md).
 * @returns a configuration the caller owns until rd_kafka_new() takes it, or NULL with
 *          errstr naming the refused property (an RDKAFKA_* one as "RDKAFKA_* setting x.y").
 */
struct rd_kafka_conf_s *svc_kafka_conf_new(const svc_config_t *cfg, const char *const *props,
                                           char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* What a failed delivery means, the same for every Kafka client of the service: the label
 * of events_kafka_delivery_errors_total, whether the brokers are out of reach, whether
 * sending the record again could succeed. */
typedef enum {
        SVC_KAFKA_FAIL_TIMED_OUT,      /* no acknowledgement within the message's time-out */
        SVC_KAFKA_FAIL_BROKER_DOWN,    /* no broker connection */
        SVC_KAFKA_FAIL_PURGED,         /* failed before it was sent: no broker, or exit */
        SVC_KAFKA_FAIL_TOO_LARGE,      /* larger than the broker takes: permanent */
        SVC_KAFKA_FAIL_INVALID,        /* the record itself is refused: permanent */
        SVC_KAFKA_FAIL_UNKNOWN_TOPIC,  /* no such topic or partition */
        SVC_KAFKA_FAIL_NOT_AUTHORIZED, /* the topic or cluster refuses this client */
        SVC_KAFKA_FAIL_OTHER,
} svc_kafka_fail_t;

/** @brief The kind of failure librdkafka's error code err (an rd_kafka_resp_err_t) is. */
svc_kafka_fail_t svc_kafka_fail_kind(int err);

/** @brief 1 when err says no broker can be reached (rather than one record refused). */
int svc_kafka_fail_means_down(int err);

/** @brief 1 when Kafka refuses the record itself: sending it again cannot succeed. */
int svc_kafka_fail_is_permanent(int err);

/**
 * @brief The largest message (key + value) the handlers and the forwarder produce: one that
 *        fits, with Kafka's framing, in the record batch limit of the cluster
 *        (KAFKA_MESSAGE_MAX_BYTES), and never more than SVC_KAFKA_MESSAGE_MAX.
 */
long svc_kafka_message_max(const svc_config_t *cfg);

/** @brief librdkafka's version, as it names itself ("2.0.2"). */
const char *svc_kafka_version(void);

/** @brief Kafka's words for the error code err (an rd_kafka_resp_err_t); static text. */
const char *svc_kafka_err_str(int err);

/**
 * @brief Records a reader at offset pos still has to read in a partition whose watermarks
 *        are lo and hi: hi - pos. A missing position (negative: nothing committed) or one
 *        below lo (retention removed what it pointed at) counts from lo, where a reader
 *        with auto.offset.reset=earliest resumes: records no longer kept are nobody's lag.
 * @returns the lag, never negative.
 */
long long svc_kafka_lag(long long lo, long long hi, long long pos);

/**
 * @brief Creates the producer of a process (or, in dev mode, a writer to DEV_STORE with
 *        the same API). A background thread serves delivery reports. Its messages are
 *        bounded by svc_kafka_message_max(), its batches by KAFKA_MESSAGE_MAX_BYTES.
 * @returns the handle, or NULL with errstr (bad RDKAFKA_* property, ...).
 */
svc_kafka_t *svc_kafka_new(const svc_config_t *cfg, int flags, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Fetches the metadata of `topic` now, so that its first message does not wait for
 *        librdkafka's next topic scan (up to 1 s). Call before serving: not thread-safe.
 * @returns 0 (also in dev mode), -1 with errstr when no broker answered in KAFKA_TIMEOUT_MS.
 */
int svc_kafka_prepare_topic(svc_kafka_t *kp, const char *topic, char *errstr, size_t errstr_size);

/** @brief 1 when events go to the dev store instead of Kafka. */
int svc_kafka_is_dev(const svc_kafka_t *kp);

/**
 * @brief Produces one message and waits for its delivery report, at most timeout_ms.
 * @returns 0 once acknowledged (acks=all), -1 with errstr on failure or time-out.
 */
int svc_kafka_produce_wait(svc_kafka_t *kp, const char *topic, const char *key, size_t key_len,
                           const char *val, size_t val_len, int timeout_ms, char *errstr,
                           size_t errstr_size) __attribute__((warn_unused_result));

/* The outcome of one asynchronous message, on the delivery thread (or at once, in dev
 * mode, or when librdkafka refuses it at produce time): err is 0 and why NULL when Kafka
 * acknowledged it; else err is librdkafka's code (an rd_kafka_resp_err_t, for
 * svc_kafka_fail_kind(); a deadline passed is RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) and why
 * the reason in words. */
typedef void(svc_kafka_done_fn)(void *opaque, int err, const char *why);

/**
 * @brief Produces one message without waiting: done() is called exactly once, when Kafka
 *        acknowledged it, failed it, or KAFKA_TIMEOUT_MS passed without an answer (then
 *        the message may still be delivered later), or when librdkafka refused it at once
 *        (too large, its queue full), maybe before this returns. key and val are copied.
 * @returns 0, or -1 with errstr when the message never reached librdkafka (per request: no
 *          broker answered for the topic's metadata; out of memory; the dev store failed);
 *          done() is then not called.
 */
int svc_kafka_produce_async(svc_kafka_t *kp, const char *topic, const char *key, size_t key_len,
                            const char *val, size_t val_len, svc_kafka_done_fn *done, void *opaque,
                            char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/** @brief 1 when librdkafka found no broker reachable and nothing was acknowledged since. */
int svc_kafka_brokers_down(svc_kafka_t *kp);

/**
 * @brief Starts a batch: many messages in flight, one wait at the end.
 * @returns the batch, or NULL when out of memory.
 */
svc_kafka_batch_t *svc_kafka_batch_new(svc_kafka_t *kp);

/**
 * @brief Queues one message (payloads are copied). Blocks while the local queue is
 *        full, so memory stays bounded however many messages a batch has.
 * @returns 0, or -1 with errstr (the message was not queued).
 */
int svc_kafka_batch_produce(svc_kafka_batch_t *kb, const char *topic, const char *key,
                            size_t key_len, const char *val, size_t val_len, char *errstr,
                            size_t errstr_size) __attribute__((warn_unused_result));

/**
 * @brief Waits until every queued message is acknowledged or failed, at most
 *        timeout_ms in all. *acked_cnt: messages acknowledged so far.
 * @returns 0 when all were acknowledged, -1 with errstr (first failure, or time-out).
 */
int svc_kafka_batch_wait(svc_kafka_batch_t *kb, int timeout_ms, size_t *acked_cnt, char *errstr,
                         size_t errstr_size) __attribute__((warn_unused_result));

/**
 * @brief The librdkafka error code (an rd_kafka_resp_err_t) of the batch's first failed
 *        message, from its delivery report or from librdkafka's refusal in
 *        svc_kafka_batch_produce() (too large), for svc_kafka_fail_kind() and its kin.
 * @returns the code, 0 while none failed.
 */
int svc_kafka_batch_first_err(svc_kafka_batch_t *kb);

/** @brief Releases the batch; messages still in flight finish on their own. NULL ok. */
void svc_kafka_batch_destroy(svc_kafka_batch_t *kb);

/**
 * @brief Asks the cluster for its metadata (one broker round trip), for /health.
 * @returns 0 when a broker answered within timeout_ms, -1 with errstr. 0 in dev mode.
 */
int svc_kafka_ping(svc_kafka_t *kp, int timeout_ms, char *errstr, size_t errstr_size);

/**
 * @brief svc_kafka_ping() for a caller that asks often while no broker is up (the
 *        forwarder): gives up after connect_ms when no broker can be connected, while a
 *        connected broker gets answer_ms to answer (a slow link is not taken for none).
 * @returns 0 when a broker answered, -1 with errstr. 0 in dev mode.
 */
int svc_kafka_ping_quick(svc_kafka_t *kp, int connect_ms, int answer_ms, char *errstr,
                         size_t errstr_size);

/**
 * @brief Stops the delivery thread and waits up to timeout_ms for the messages in flight
 *        (their reports then run on the calling thread); fails those left. Call once
 *        every request is finished; only svc_kafka_destroy() may follow. NULL ok.
 * @returns 0 when nothing was left in flight (also in dev mode), -1 otherwise.
 */
int svc_kafka_settle(svc_kafka_t *kp, int timeout_ms);

/** @brief svc_kafka_settle(), then frees everything. NULL ok. */
void svc_kafka_destroy(svc_kafka_t *kp, int timeout_ms);
#endif
