/* kafka_async.c - messages sent without waiting (svc_kafka_produce_async): each is heard
 * of once, from its delivery report or at its deadline, whichever comes first.
 *
 * Threads: done() runs on the delivery thread (kafka.c), either from a delivery report or
 * at the deadline, or on a batch's thread when that batch serves the reports
 * (kafka_batch.c); never on two at once for one message. Memory: a message is freed by
 * the last of its two references (its report's and the pending list's); the caller's
 * opaque stays the caller's. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "kafka_int.h"

/* One message produced by svc_kafka_produce_async(). Its caller hears once: from the
 * delivery report, or at its deadline if that comes first (librdkafka's own
 * message.timeout.ms is checked only about once a second while no broker is up). Two
 * references keep it: its delivery report's, and the pending list's, which goes to
 * whoever takes it off the list. The report may run on any thread that polls (a serving
 * batch's too) while the delivery thread settles it at its deadline, so neither may free
 * it alone. */
struct async_msg {
        struct report_to to; /* async_report */
        svc_kafka_t *kp;
        svc_kafka_done_fn *done;
        void *opaque;
        atomic_int settled; /* done() was called */
        atomic_int refcnt;  /* the report's + the pending list's while linked */
        int linked;         /* in kp's pending list (under pending_lock) */
        long long deadline_ms;
        struct async_msg *prev, *next;
};

static void async_unref(struct async_msg *am) {
        if (atomic_fetch_sub(&am->refcnt, 1) == 1)
                free(am);
}

/* Returns 1 when it took am off the list: the caller then holds the list's reference. */
static int pending_unlink_locked(svc_kafka_t *kp, struct async_msg *am) {
        if (!am->linked)
                return 0;
        if (am->prev)
                am->prev->next = am->next;
        else
                kp->pending_head = am->next;
        if (am->next)
                am->next->prev = am->prev;
        else
                kp->pending_tail = am->prev;
        am->linked = 0;
        return 1;
}

static void settle(struct async_msg *am, rd_kafka_resp_err_t err, const char *why) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&am->settled, &expected, 1))
                am->done(am->opaque, err, why);
}

static void async_report(struct report_to *to, const rd_kafka_message_t *rkm) {
        struct async_msg *am = (struct async_msg *)to;
        char why[256];
        int unlinked;

        pthread_mutex_lock(&am->kp->pending_lock);
        unlinked = pending_unlink_locked(am->kp, am);
        pthread_mutex_unlock(&am->kp->pending_lock);
        if (rkm->err)
                snprintf(why, sizeof(why), "%s: %s", rd_kafka_topic_name(rkm->rkt),
                         rd_kafka_err2str(rkm->err));
        settle(am, rkm->err, rkm->err ? why : NULL);
        if (unlinked)
                async_unref(am);
        async_unref(am); /* the report's */
}

/* Settles the messages whose deadline passed; returns ms until the next one (<= max). */
int svc_kafka_async_expire(svc_kafka_t *kp, int max) {
        long long now = svc_clock_ms(CLOCK_MONOTONIC);
        struct async_msg *am;
        char why[128];

        for (;;) {
                pthread_mutex_lock(&kp->pending_lock);
                if (!(am = kp->pending_head) || am->deadline_ms > now) {
                        long long left = am ? am->deadline_ms - now : max;
                        pthread_mutex_unlock(&kp->pending_lock);
                        return left < max ? (int)left : max;
                }
                pending_unlink_locked(kp, am); /* the list's reference is now ours */
                pthread_mutex_unlock(&kp->pending_lock);
                atomic_store(&kp->down, 1);
                snprintf(why, sizeof(why), "no acknowledgement from Kafka within %d ms",
                         kp->timeout_ms);
                settle(am, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, why);
                async_unref(am);
        }
}

int svc_kafka_produce_async(svc_kafka_t *kp, const char *topic, const char *key, size_t key_len,
                            const char *val, size_t val_len, svc_kafka_done_fn *done, void *opaque,
                            char *errstr, size_t errstr_size) {
        struct async_msg *am;
        rd_kafka_resp_err_t err;

        if (!kp->rk)
                return svc_kafka_dev_send(kp, topic, key, key_len, val, val_len, done, opaque,
                                          errstr, errstr_size);
        if (kp->per_request && svc_kafka_warm_up(kp, topic, errstr, errstr_size) == -1)
                return -1;
        if (!(am = calloc(1, sizeof(*am)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        am->to.report = async_report;
        am->kp = kp, am->done = done, am->opaque = opaque;
        atomic_init(&am->refcnt, 2); /* the report's and the pending list's */
        am->deadline_ms = svc_clock_ms(CLOCK_MONOTONIC) + kp->timeout_ms;
        /* Linked before it is produced: its report may come at once. Same timeout for
         * all, so appending keeps the list in deadline order. */
        pthread_mutex_lock(&kp->pending_lock);
        am->prev = kp->pending_tail;
        if (kp->pending_tail)
                kp->pending_tail->next = am;
        else
                kp->pending_head = am;
        kp->pending_tail = am;
        am->linked = 1;
        pthread_mutex_unlock(&kp->pending_lock);
        /* Copied: the caller may free val once done() ran, before librdkafka is done. */
        err = svc_kafka_produce_msg(kp, topic, key, key_len, val, val_len, RD_KAFKA_MSG_F_COPY,
                                    &am->to);
        if (err) {
                char why[256];
                /* No report will come: librdkafka's refusal (a message larger than
                 * message.max.bytes, a full queue) is the outcome, unless the deadline
                 * came first. The delivery thread, if it took it off the list, releases
                 * that reference. */
                snprintf(why, sizeof(why), "%s: %s", topic, rd_kafka_err2str(err));
                settle(am, err, why);
                pthread_mutex_lock(&kp->pending_lock);
                if (pending_unlink_locked(kp, am))
                        async_unref(am);
                pthread_mutex_unlock(&kp->pending_lock);
                async_unref(am); /* the report's */
        }
        return 0;
}
