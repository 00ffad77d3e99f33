/* kafka_batch.c - many messages in flight and one wait at the end (svc_kafka_batch_*),
 * and svc_kafka_produce_wait, a batch of one.
 *
 * Threads: a batch is used by one thread at a time; its reports are counted on the
 * delivery thread (kafka.c), or on the batch's own thread once it serves the reports
 * itself, and on any other serving batch's thread. Memory: a batch is freed by the last
 * of its references, the caller's (svc_kafka_batch_destroy) and one per message in
 * flight; payloads are copied by librdkafka and freed by it. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "kafka_int.h"

/* A batch serves delivery reports itself from its SERVE_AFTER-th message on, looks at them
 * every SERVE_EVERY messages, and is relied on while it looked within SERVE_STALE_MS
 * (batch_serve()). */
#define SERVE_AFTER 1000
#define SERVE_EVERY 64

static void batch_unref(svc_kafka_batch_t *kb) {
        if (atomic_fetch_sub(&kb->refcnt, 1) != 1)
                return;
        pthread_mutex_destroy(&kb->lock);
        pthread_cond_destroy(&kb->cond);
        svc_jbuf_free(&kb->dev);
        free(kb);
}

static size_t batch_settled(svc_kafka_batch_t *kb) {
        return atomic_load(&kb->acked) + atomic_load(&kb->failed);
}

/* Runs where the report is served (the delivery thread, or a serving batch's), once per
 * message of a batch, with its final outcome. */
static void batch_report(struct report_to *to, const rd_kafka_message_t *rkm) {
        svc_kafka_batch_t *kb = (svc_kafka_batch_t *)to;
        if (rkm->err) {
                pthread_mutex_lock(&kb->lock);
                if (!kb->first_err[0]) {
                        snprintf(kb->first_err, sizeof(kb->first_err), "%s: %s",
                                 rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err));
                        kb->first_err_code = rkm->err;
                }
                pthread_mutex_unlock(&kb->lock);
                atomic_fetch_add(&kb->failed, 1);
        } else {
                atomic_fetch_add(&kb->acked, 1);
        }
        /* The waiter sets waiting before it looks at the counts, this looks at waiting
         * after counting (both sequentially consistent): either it sees this count or this
         * sees it waiting. Taking the lock makes sure it sleeps before it is woken, and
         * signalling outside it that it does not wake only to block on it; this message's
         * reference keeps kb alive until it is released below. */
        if (atomic_load(&kb->waiting) && batch_settled(kb) >= atomic_load(&kb->queued)) {
                pthread_mutex_lock(&kb->lock);
                pthread_mutex_unlock(&kb->lock);
                pthread_cond_broadcast(&kb->cond);
        }
        batch_unref(kb);
}

svc_kafka_batch_t *svc_kafka_batch_new(svc_kafka_t *kp) {
        svc_kafka_batch_t *kb = calloc(1, sizeof(*kb));
        if (!kb)
                return NULL;
        kb->to.report = batch_report;
        kb->kp = kp;
        atomic_init(&kb->refcnt, 1);
        pthread_mutex_init(&kb->lock, NULL);
        {
                /* deadlines on the monotonic clock: a clock step changes no wait */
                pthread_condattr_t attr;
                pthread_condattr_init(&attr);
                pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
                pthread_cond_init(&kb->cond, &attr);
                pthread_condattr_destroy(&attr);
        }
        return kb;
}

/* A batch of many messages (a file's rows) serves the delivery reports itself, as kcat -P
 * does, and the poller naps meanwhile: each message's copy is then freed by the thread
 * that allocated it. Freed by the poller, every free locked the producing thread's
 * malloc arena against that thread's next allocation: measured on 1M-row ingests, the
 * poller spent half its time or more in free() and its futex waits, the producing
 * thread 8-10 % in futex wake-ups (bench/README.md, "Row 3"). The batch's thread polls
 * every SERVE_EVERY messages and while it waits; reports of other batches it meets are
 * theirs as before (their callbacks are thread-safe). When it stops polling for
 * SERVE_STALE_MS (a slow source), the poller serves again. */
static void batch_poll(svc_kafka_batch_t *kb, int timeout_ms) {
        atomic_store(&kb->kp->served_ms, svc_clock_ms(CLOCK_MONOTONIC));
        rd_kafka_poll(kb->kp->rk, timeout_ms);
}

int svc_kafka_served_by_batches(svc_kafka_t *kp) {
        return atomic_load(&kp->serving) > 0 &&
               svc_clock_ms(CLOCK_MONOTONIC) - atomic_load(&kp->served_ms) < SERVE_STALE_MS;
}

static void batch_serve(svc_kafka_batch_t *kb) {
        size_t queued = atomic_load(&kb->queued);

        if (!kb->serving) {
                if (queued < SERVE_AFTER)
                        return;
                kb->serving = 1;
                atomic_store(&kb->kp->served_ms, svc_clock_ms(CLOCK_MONOTONIC));
                atomic_fetch_add(&kb->kp->serving, 1);
        }
        if (queued % SERVE_EVERY == 0)
                batch_poll(kb, 0);
}

/* The batch's thread allocated and freed its message copies in its own malloc arena,
 * and the last of them, kept in the thread's cache at the arena's top, pin its size:
 * another request then gets another thread, and so another arena. malloc_trim() hands
 * the free pages of every arena back (1M-row requests in a row: peak RSS 29, 41, 46 MB
 * without). */
static void batch_stop_serving(svc_kafka_batch_t *kb) {
        if (!kb->serving)
                return;
        kb->serving = 0;
        atomic_fetch_sub(&kb->kp->serving, 1);
        malloc_trim(0);
}

/* Hands one message to librdkafka; while its queue is full (queue.buffering.max.kbytes,
 * which bounds memory), waits for room: serving reports, or napping while the poller
 * serves them. Not RD_KAFKA_MSG_F_BLOCK: a producer blocked on the size bound is woken
 * only once the whole queue is empty (librdkafka's rd_kafka_curr_msgs_sub() signals when
 * the size crosses the bound, which a blocked producer's queue never reached), so every
 * refill started from an idle pipeline; and a serving batch blocked there would wait for
 * reports only it serves. Gives up after KAFKA_TIMEOUT_MS without room: by then the
 * messages ahead have timed out themselves. */
static rd_kafka_resp_err_t produce_with_room(svc_kafka_batch_t *kb, const char *topic,
                                             const char *key, size_t key_len, const char *val,
                                             size_t val_len) {
        long long deadline = 0;
        rd_kafka_resp_err_t err;

        while ((err = svc_kafka_produce_msg(kb->kp, topic, key, key_len, val, val_len,
                                            RD_KAFKA_MSG_F_COPY, &kb->to)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                if (!deadline)
                        deadline = svc_clock_ms(CLOCK_MONOTONIC) + kb->kp->timeout_ms;
                else if (svc_clock_ms(CLOCK_MONOTONIC) >= deadline)
                        break;
                if (kb->serving)
                        batch_poll(kb, NAP_MS);
                else
                        svc_kafka_nap_ms(NAP_MS);
        }
        return err;
}

int svc_kafka_batch_produce(svc_kafka_batch_t *kb, const char *topic, const char *key,
                            size_t key_len, const char *val, size_t val_len, char *errstr,
                            size_t errstr_size) {
        rd_kafka_resp_err_t err;

        if (!kb->kp->rk)
                return svc_kafka_dev_produce(kb, topic, key, key_len, val, val_len, errstr,
                                             errstr_size);
        /* single-threaded in CGI mode */
        if (kb->kp->per_request && svc_kafka_warm_up(kb->kp, topic, errstr, errstr_size) == -1)
                return -1;
        atomic_fetch_add(&kb->refcnt, 1); /* released by batch_report */
        atomic_fetch_add(&kb->queued, 1);
        if ((err = produce_with_room(kb, topic, key, key_len, val, val_len))) {
                snprintf(errstr, errstr_size, "cannot queue a message for %s: %s", topic,
                         rd_kafka_err2str(err));
                /* librdkafka's refusal is the batch's failure too: a message larger than
                 * message.max.bytes is as permanent as a broker's refusal of it. */
                pthread_mutex_lock(&kb->lock);
                if (!kb->first_err[0]) {
                        snprintf(kb->first_err, sizeof(kb->first_err), "%s: %s", topic,
                                 rd_kafka_err2str(err));
                        kb->first_err_code = err;
                }
                pthread_mutex_unlock(&kb->lock);
                atomic_fetch_sub(&kb->queued, 1);
                batch_unref(kb);
                return -1;
        }
        batch_serve(kb);
        return 0;
}

/* The end of a serving batch: it serves reports until its own are in (another serving
 * batch may take some, hence the short polls) or timeout_ms passed, then stops. */
static void serve_until_settled(svc_kafka_batch_t *kb, size_t queued, int timeout_ms) {
        long long deadline = svc_clock_ms(CLOCK_MONOTONIC) + timeout_ms, left;

        while (batch_settled(kb) < queued && (left = deadline - svc_clock_ms(CLOCK_MONOTONIC)) > 0)
                batch_poll(kb, left < NAP_MS ? (int)left : NAP_MS);
        batch_stop_serving(kb);
}

int svc_kafka_batch_wait(svc_kafka_batch_t *kb, int timeout_ms, size_t *acked_cnt, char *errstr,
                         size_t errstr_size) {
        size_t queued = atomic_load(&kb->queued), acked, failed;
        struct timespec deadline;
        int ret = 0, stop = timeout_ms <= 0; /* 0: only a look at the counts */

        if (!kb->kp->rk) {
                ret = svc_kafka_dev_flush(kb, errstr, errstr_size);
                *acked_cnt = atomic_load(&kb->acked);
                return ret;
        }
        if (kb->serving && timeout_ms > 0) {
                serve_until_settled(kb, queued, timeout_ms);
                stop = 1;
        }
        deadline = svc_clock_after(CLOCK_MONOTONIC, timeout_ms);
        pthread_mutex_lock(&kb->lock);
        atomic_store(&kb->waiting, 1); /* before the counts are looked at: batch_report */
        while (!stop && batch_settled(kb) < queued)
                stop = pthread_cond_timedwait(&kb->cond, &kb->lock, &deadline) != 0;
        atomic_store(&kb->waiting, 0);
        /* the outcome is the counts' alone: the last report may land as the wait times out */
        failed = atomic_load(&kb->failed);
        acked = *acked_cnt = atomic_load(&kb->acked);
        if (failed) {
                snprintf(errstr, errstr_size, "%zu of %zu messages failed (first: %s)", failed,
                         queued, kb->first_err);
                ret = -1;
        } else if (acked < queued) {
                snprintf(errstr, errstr_size, "Kafka acknowledged %zu of %zu messages within %d ms",
                         acked, queued, timeout_ms);
                ret = -1;
        }
        pthread_mutex_unlock(&kb->lock);
        return ret;
}

int svc_kafka_batch_first_err(svc_kafka_batch_t *kb) {
        int err;

        pthread_mutex_lock(&kb->lock);
        err = kb->first_err_code;
        pthread_mutex_unlock(&kb->lock);
        return err;
}

void svc_kafka_batch_destroy(svc_kafka_batch_t *kb) {
        if (!kb)
                return;
        batch_stop_serving(kb);
        batch_unref(kb);
}

int svc_kafka_produce_wait(svc_kafka_t *kp, const char *topic, const char *key, size_t key_len,
                           const char *val, size_t val_len, int timeout_ms, char *errstr,
                           size_t errstr_size) {
        svc_kafka_batch_t *kb = svc_kafka_batch_new(kp);
        size_t acked;
        int ret = -1;

        if (!kb) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (svc_kafka_batch_produce(kb, topic, key, key_len, val, val_len, errstr, errstr_size) ==
            0)
                ret = svc_kafka_batch_wait(kb, timeout_ms, &acked, errstr, errstr_size);
        svc_kafka_batch_destroy(kb);
        return ret;
}
