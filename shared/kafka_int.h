/* kafka_int.h - what the files of the handlers' producer share, and nothing else may use:
 * the producer's handle, where a delivery report goes, and the calls between kafka.c (the
 * handle and its delivery thread), kafka_batch.c, kafka_async.c and kafka_dev.c. */
#ifndef SVC_KAFKA_INT_H
#define SVC_KAFKA_INT_H
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "jbuf.h"
#include "kafka.h"

#define KAFKA_MAX_WARM 4  /* topics warmed up, see svc_kafka_warm_up() */
#define SERVE_STALE_MS 20 /* batches that polled within this are relied on: kafka_batch.c */
#define NAP_MS 5          /* the poller's nap while batches serve; a wait for queue room */

struct svc_kafka {
        rd_kafka_t *rk;               /* NULL in dev mode */
        char *dev_store;              /* dev mode: DEV_STORE path */
        pthread_t poller;             /* serves delivery reports */
        atomic_int run;               /* the poller runs while set */
        int timeout_ms;               /* KAFKA_TIMEOUT_MS, also the local message timeout */
        int per_request;              /* SVC_KAFKA_F_PER_REQUEST */
        char *warm[KAFKA_MAX_WARM];   /* topics whose metadata was fetched */
        rd_kafka_topic_t *sticky_rkt; /* COLLECT_RAW_TOPIC, pooled only */
        atomic_int down;              /* no broker reachable, since the last acknowledgement */
        atomic_int serving;           /* batches that serve delivery reports: kafka_batch.c */
        atomic_llong served_ms;       /* when one of them last polled (CLOCK_MONOTONIC) */
        pthread_mutex_t pending_lock;
        struct async_msg *pending_head, *pending_tail; /* kafka_async.c, by deadline */
        rd_kafka_topic_t *warm_rkt[KAFKA_MAX_WARM];    /* their handles: svc_kafka_produce_msg() */
};

/* Where a message's delivery report goes: every message's opaque starts with this. */
struct report_to {
        void (*report)(struct report_to *self, const rd_kafka_message_t *rkm);
};

/* A batch counts its reports without a lock: the delivery thread adds to acked or failed
 * and takes the lock only to wake a waiter (waiting is set), so a million-row ingest does
 * not lock and unlock twice per message. */
struct svc_kafka_batch {
        struct report_to to; /* batch_report */
        svc_kafka_t *kp;
        pthread_mutex_t lock; /* the waiter's sleep, and first_err */
        pthread_cond_t cond;
        atomic_size_t queued, acked, failed;
        atomic_int waiting; /* a waiter sleeps until acked + failed == queued */
        atomic_int refcnt;  /* the caller's reference + one per message in flight */
        int serving;        /* this batch's thread serves delivery reports: kafka_batch.c */
        char first_err[256];
        int first_err_code; /* its librdkafka code (under lock) */
        svc_jbuf_t dev;     /* dev mode: lines not yet appended */
};

/* kafka.c */

/**
 * @brief Hands one message to librdkafka, with opaque as its report's destination.
 * @returns librdkafka's error (RD_KAFKA_RESP_ERR__QUEUE_FULL: no room now).
 */
rd_kafka_resp_err_t svc_kafka_produce_msg(svc_kafka_t *kp, const char *topic, const char *key,
                                          size_t key_len, const char *val, size_t val_len,
                                          int msgflags, struct report_to *opaque);
/** @brief Fetches topic's metadata once (per request: before its first message).
 *  @returns 0, or -1 with errstr when no broker answered within KAFKA_TIMEOUT_MS. */
int svc_kafka_warm_up(svc_kafka_t *kp, const char *topic, char *errstr, size_t errstr_size);
void svc_kafka_nap_ms(int ms);

/* kafka_batch.c */

/** @brief 1 while a batch serves the delivery reports and polled lately. */
int svc_kafka_served_by_batches(svc_kafka_t *kp);

/* kafka_async.c */

/** @brief On the delivery thread: settles the async messages whose deadline passed.
 *  @returns ms until the next deadline, at most max. */
int svc_kafka_async_expire(svc_kafka_t *kp, int max);

/* kafka_dev.c: the dev store, written instead of Kafka when kp->rk is NULL */

/** @brief Opens the dev backend: kp then writes to cfg->dev_store. @returns 0, or -1
 *  with errstr. */
int svc_kafka_dev_open(svc_kafka_t *kp, const svc_config_t *cfg, char *errstr, size_t errstr_size);
/** @brief Adds one line to the batch; appends to the store every DEV_FLUSH_BYTES.
 *  @returns 0, or -1 with errstr (the line is not kept). */
int svc_kafka_dev_produce(svc_kafka_batch_t *kb, const char *topic, const char *key, size_t key_len,
                          const char *val, size_t val_len, char *errstr, size_t errstr_size);
/** @brief Appends the batch's lines: acknowledged once appended. @returns 0, or -1. */
int svc_kafka_dev_flush(svc_kafka_batch_t *kb, char *errstr, size_t errstr_size);
/** @brief svc_kafka_produce_async() on the dev store: written, then done(), at once. */
int svc_kafka_dev_send(svc_kafka_t *kp, const char *topic, const char *key, size_t key_len,
                       const char *val, size_t val_len, svc_kafka_done_fn *done, void *opaque,
                       char *errstr, size_t errstr_size);
#endif
