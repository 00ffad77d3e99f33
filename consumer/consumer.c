/* consumer.c - the collect consumer: exactly-once transform of COLLECT_RAW_TOPIC into
 * COLLECT_OUT_TOPIC (and COLLECT_DLQ_TOPIC) with Kafka transactions.
 *
 * A read-process-write loop after librdkafka's examples/transactions.c: consume raw
 * messages in group `collect-consumer` (read_committed, no auto commit), produce the
 * records of each one inside a transaction together with the consumed offsets
 * (rd_kafka_send_offsets_to_transaction), commit every CONSUMER_TXN_MAX_EVENTS records
 * or CONSUMER_TXN_MAX_MS milliseconds. An abortable error aborts the transaction and
 * rewinds to the committed offsets; a fatal error (e.g. fenced by another instance with
 * the same transactional.id) ends the process with status 1 so a supervisor restarts it;
 * SIGTERM/SIGINT commit the open transaction, leave the group and exit 0.
 *
 * Settings (besides those of docs/configuration.md: KAFKA_URL, COLLECT_*_TOPIC, RDKAFKA_*
 * which apply to both the consumer and the producer):
 *   CONSUMER_GROUP_ID          collect-consumer       consumer group
 *   CONSUMER_TRANSACTIONAL_ID  collect-consumer-<host>  transactional.id of this instance;
 *                              stable across restarts so a restarted instance fences
 *                              its crashed predecessor and aborts its open transaction at
 *                              once. Two live instances must not share it: give each
 *                              instance on a host its own (e.g. systemd's %i).
 *   CONSUMER_TXN_MAX_EVENTS    10000  records (output + dead-letter) per transaction; a
 *                              raw message is never split, so a transaction holds at most
 *                              this + 999 records
 *   CONSUMER_TXN_MAX_MS        500    longest a transaction stays open (ms): bounds the
 *                              delay before read_committed readers see a record
 *   CONSUMER_STATS_INTERVAL_MS 10000  period of the stats log line (0: only at exit)
 *   CONSUMER_TXN_TIMEOUT_MS    60000  how long one transactional call may wait for the
 *                              brokers before it counts as failed
 *   CONSUMER_PLAIN_COMMIT      auto   also commit the offsets outside the transaction:
 *                              auto = only on the dev broker, which ignores transactional
 *                              offset commits (see set_plain_commit); true; false
 *   DEDUPE_WINDOW_MS           86400000  copies of a request within this span of
 *                              received_at produce nothing (0: off)
 *   COLLECT_DEDUPE_TOPIC       collect-dedupe  the changelog of the requests seen
 *
 * Copies (consumer/README.md, "Copies"): before a raw message is transformed, the store of
 * its partition (dedupe.c) says whether it is a copy. A new request is written to the
 * changelog topic, key rid+digest, in the same transaction as its records and offset;
 * requests past the window get a tombstone at the start of a transaction. When a partition
 * is assigned, its window is read back from the changelog before any of its messages is
 * transformed, trusting only the entries below the committed offset.
 *
 * Exit status: 0 after a drain (SIGTERM/SIGINT), 1 on a fatal or configuration error. */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "dedupe.h"
#include "heap.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "transform.h"

#define LOG_NAME "consumer"
#define POISON_MAX 1024                /* records remembered as refused by Kafka for good */
#define BACKOFF_MAX_MS 5000            /* longest pause between two aborted transactions */
#define LAG_EVERY_MS 1000              /* how often events_consumer_lag is refreshed */
#define COMMIT_RETRY_MS 1000           /* pause before a refused plain commit is tried again */
#define DEDUPE_WINDOW_MAX 31536000000L /* ms: a year */

/* How often the allocator is asked to give back what it keeps freed beyond TRIM_KEEP
 * bytes: a backlog (after an outage) is read ahead, held, then freed, and without this
 * the process stays at that size (docs/operations.md, "Soak"). */
#define TRIM_EVERY_MS 10000
#define TRIM_KEEP (8u << 20)

/* Where a record of the open transaction came from, found again by its delivery report. */
struct txn_origin {
        int32_t partition; /* of the raw message */
        int64_t offset;
        long long event_index; /* -1: a letter about the whole message */
};

/* A record Kafka refused for good (a permanent delivery error): when its raw message is
 * transformed again after the abort, a small dead letter takes its place. */
struct poison {
        int32_t partition;
        int64_t offset;
        long long event_index;
        rd_kafka_resp_err_t err; /* Kafka's reason */
        int letter_refused;      /* the letter standing for it was refused too */
};

/* A tombstone for a request the window forgot, until a transaction carrying it commits. */
struct tomb {
        int32_t partition;
        unsigned char key[SVC_DEDUPE_KEY_LEN];
};

/* Why the loop ends, by severity: stop() keeps the worst reason it was given. */
enum stop_reason {
        STOP_NONE,   /* running */
        STOP_SIGNAL, /* SIGTERM/SIGINT: drain, exit 0 */
        STOP_FATAL   /* a fatal Kafka error, or the drain failed: exit 1 */
};

static volatile sig_atomic_t signalled; /* the signal handler's only effect */

static void on_signal(int sig) {
        signalled = sig;
}

/* A rebalance librdkafka announced and the loop has yet to apply (handle_rebalance).
 * librdkafka waits for that before the next one, so there is at most one. */
struct rebalance {
        int pending;
        rd_kafka_resp_err_t err; /* ASSIGN_PARTITIONS, REVOKE_PARTITIONS or a failure */
        rd_kafka_topic_partition_list_t *parts; /* a copy of the callback's list */
        int lost;                               /* the revoked partitions were lost */
        int cooperative; /* incremental (un)assign, else the whole assignment */
};

/* The state of one consumer instance. */
struct consumer {
        rd_kafka_t *consumer;      /* group member reading the raw topic */
        rd_kafka_t *producer;      /* transactional producer */
        rd_kafka_topic_t *out_rkt; /* COLLECT_OUT_TOPIC */
        rd_kafka_topic_t *dlq_rkt; /* COLLECT_DLQ_TOPIC */
        const char *raw_topic;
        long txn_max_events;
        long txn_max_ms;
        long stats_interval_ms;
        int txn_timeout_ms;

        int txn_open;                 /* a transaction has begun and holds records */
        long long txn_started_ms;     /* monotonic time of its first message */
        size_t txn_records;           /* records produced in it */
        size_t txn_produced, txn_dlq; /* of which output records, dead letters */
        rd_kafka_topic_partition_list_t *txn_offsets; /* next offset per partition in it */
        struct txn_origin *origins; /* of each record in it, by production order */
        size_t origins_size;
        int32_t cur_partition; /* the raw message being transformed */
        int64_t cur_offset;
        struct poison poison[POISON_MAX]; /* until committed past; full: the oldest go */
        unsigned poison_cnt;              /* entries in use */
        unsigned poison_next;             /* where a new one goes once it is full */
        long backoff_ms;                  /* pause before transforming again after an abort */
        int need_rewind;                  /* a transaction was aborted: seek to committed */
        int plain_commit; /* also commit offsets outside the transaction (dev broker) */
        rd_kafka_topic_partition_list_t *commit_pending; /* refused plain commit, retried */
        long long commit_retry_ms;                       /* monotonic time of the next try */
        struct rebalance rebalance;

        /* Removal of copies; all unused when dedupe_window_ms is 0. */
        long dedupe_window_ms;
        const char *dedupe_topic;
        rd_kafka_topic_t *dedupe_rkt; /* the changelog, written by the producer */
        rd_kafka_t *restorer;         /* reads the changelog when partitions are assigned */
        svc_dedupe_t **stores;        /* by raw partition; NULL where not assigned */
        int32_t stores_cnt;
        struct tomb *tombs; /* of the open transaction, and of aborted ones again */
        size_t tombs_cnt, tombs_size;
        int32_t expiring;      /* the partition svc_dedupe_expire() works on */
        size_t txn_duplicate;  /* events of copies removed in the open transaction */
        int dedupe_oom;        /* a tombstone could not be kept */
        int closing;           /* in rd_kafka_consumer_close(): rebalances apply at once */
        enum stop_reason stop; /* set by stop() only */
        const char *group_id;
        char txn_id[256]; /* CONSUMER_TRANSACTIONAL_ID */
};

/* The one place that ends the loop: logs why and records the reason. */
__attribute__((format(printf, 3, 4))) static void stop(struct consumer *c, enum stop_reason why,
                                                       const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        svc_log(why == STOP_FATAL ? SVC_LOG_ERROR : SVC_LOG_INFO, NULL, LOG_NAME, "%s", msg);
        if (why > c->stop)
                c->stop = why;
}

static int is_fatal(const struct consumer *c) {
        return c->stop == STOP_FATAL;
}

static struct poison *poison_find(struct consumer *c, int32_t partition, int64_t offset,
                                  long long event_index) {
        for (unsigned i = 0; i < c->poison_cnt; i++)
                if (c->poison[i].partition == partition && c->poison[i].offset == offset &&
                    c->poison[i].event_index == event_index)
                        return &c->poison[i];
        return NULL;
}

/* Forgets the refused records of messages the committed offsets have passed. */
static void poison_forget(struct consumer *c, const rd_kafka_topic_partition_list_t *offsets) {
        unsigned kept = 0;

        for (unsigned i = 0; i < c->poison_cnt; i++) {
                const struct poison *p = &c->poison[i];
                const rd_kafka_topic_partition_t *tp =
                    rd_kafka_topic_partition_list_find(offsets, c->raw_topic, p->partition);
                if (!tp || p->offset >= tp->offset)
                        c->poison[kept++] = *p;
        }
        c->poison_cnt = kept;
}

/* Logs a transactional error and, when it is fatal, stops the loop for good. */
static void txn_error(struct consumer *c, const char *what, rd_kafka_error_t *error) {
        if (rd_kafka_error_is_fatal(error)) {
                stop(c, STOP_FATAL,
                     "fatal: %s: %s: %s; exiting (restart to recover; if another "
                     "instance uses the same transactional.id, give each its own "
                     "CONSUMER_TRANSACTIONAL_ID)",
                     what, rd_kafka_error_name(error), rd_kafka_error_string(error));
        } else {
                svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "%s: %s: %s", what,
                        rd_kafka_error_name(error), rd_kafka_error_string(error));
        }
        rd_kafka_error_destroy(error);
}

static void txn_reset(struct consumer *c) {
        c->txn_open = 0;
        c->txn_records = c->txn_produced = c->txn_dlq = c->txn_duplicate = 0;
        if (c->txn_offsets)
                rd_kafka_topic_partition_list_destroy(c->txn_offsets);
        c->txn_offsets = NULL;
}

/* Aborts the open transaction; the consumer must then rewind (need_rewind). */
static void txn_abort(struct consumer *c, const char *why) {
        rd_kafka_error_t *error;

        svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                "aborting the transaction of %zu records (%s); rewinding to the committed "
                "offsets",
                c->txn_records, why);
        svc_metrics_add(SVC_METRICS_CONSUMER_ABORTED, 1);
        c->need_rewind = 1;
        /* The same cause (a broker away, a missing topic) usually comes back at once. */
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
        if (c->backoff_ms > BACKOFF_MAX_MS)
                c->backoff_ms = BACKOFF_MAX_MS;
        /* Aborting purges the undelivered messages of the transaction itself. Their
         * delivery reports name the records Kafka refused for good (dr_msg_cb), so they
         * are served before the transaction's records are forgotten. */
        if (!is_fatal(c) && (error = rd_kafka_abort_transaction(c->producer, c->txn_timeout_ms)))
                txn_error(c, "abort_transaction", error);
        rd_kafka_poll(c->producer, 0);
        txn_reset(c);
}

/* Tries the pending plain commit (dev broker only). A coordinator that refuses it (a
 * rebalance in progress, the coordinator away) gets it again from the loop every
 * COMMIT_RETRY_MS: a consumer that has gone idle would otherwise leave the group's
 * offsets behind for good. */
static void plain_commit_try(struct consumer *c) {
        rd_kafka_resp_err_t err;

        if (!c->commit_pending)
                return;
        if ((err = rd_kafka_commit(c->consumer, c->commit_pending, 0))) {
                if (!c->commit_retry_ms)
                        svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                                "plain offset commit: %s (retrying every %d ms)",
                                rd_kafka_err2str(err), COMMIT_RETRY_MS);
                c->commit_retry_ms = svc_clock_ms(CLOCK_MONOTONIC) + COMMIT_RETRY_MS;
                return;
        }
        if (c->commit_retry_ms)
                svc_log(SVC_LOG_INFO, NULL, LOG_NAME, "plain offset commit: accepted");
        rd_kafka_topic_partition_list_destroy(c->commit_pending);
        c->commit_pending = NULL;
        c->commit_retry_ms = 0;
}

/* Adds a committed transaction's offsets to the pending plain commit (the larger offset
 * of a partition wins: a rewind may transform messages again), then tries it. */
static void plain_commit(struct consumer *c, const rd_kafka_topic_partition_list_t *offsets) {
        if (!c->commit_pending) {
                if (!(c->commit_pending = rd_kafka_topic_partition_list_copy(offsets)))
                        return; /* out of memory: the next transaction commits them */
        } else {
                for (int i = 0; i < offsets->cnt; i++) {
                        const rd_kafka_topic_partition_t *o = &offsets->elems[i];
                        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
                            c->commit_pending, o->topic, o->partition);
                        if (!tp)
                                tp = rd_kafka_topic_partition_list_add(c->commit_pending, o->topic,
                                                                       o->partition);
                        if (tp->offset < o->offset)
                                tp->offset = o->offset;
                }
        }
        plain_commit_try(c);
}

/* Forgets the pending plain commit of partitions no longer ours (NULL: of all): their
 * next owner commits them. */
static void plain_commit_forget(struct consumer *c, const rd_kafka_topic_partition_list_t *parts) {
        for (int i = 0; c->commit_pending && parts && i < parts->cnt; i++)
                rd_kafka_topic_partition_list_del(c->commit_pending, parts->elems[i].topic,
                                                  parts->elems[i].partition);
        if (c->commit_pending && (!parts || c->commit_pending->cnt == 0)) {
                rd_kafka_topic_partition_list_destroy(c->commit_pending);
                c->commit_pending = NULL;
                c->commit_retry_ms = 0;
        }
}

/**
 * Commits the open transaction with the offsets of the messages it transformed.
 * Returns 0 when committed (or nothing was open), -1 when it was aborted instead
 * (need_rewind is then set) or a fatal error occurred.
 */
static int txn_commit(struct consumer *c) {
        rd_kafka_consumer_group_metadata_t *cgmd;
        rd_kafka_error_t *error = NULL;
        int tries;

        if (!c->txn_open)
                return 0;
        long long started = svc_clock_ms(CLOCK_MONOTONIC);
        cgmd = rd_kafka_consumer_group_metadata(c->consumer);
        for (tries = 0; tries < 3; tries++) {
                error = rd_kafka_send_offsets_to_transaction(c->producer, c->txn_offsets, cgmd,
                                                             c->txn_timeout_ms);
                if (!error || !rd_kafka_error_is_retriable(error))
                        break;
                txn_error(c, "send_offsets_to_transaction (retrying)", error);
                error = NULL;
        }
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        if (error) {
                txn_error(c, "send_offsets_to_transaction", error);
                if (!is_fatal(c))
                        txn_abort(c, "offsets not accepted");
                return -1;
        }
        /* Flushes the transaction's records first, then ends it with the offsets. */
        for (tries = 0; tries < 3; tries++) {
                error = rd_kafka_commit_transaction(c->producer, c->txn_timeout_ms);
                if (!error || !rd_kafka_error_is_retriable(error))
                        break;
                txn_error(c, "commit_transaction (retrying)", error);
                error = NULL;
        }
        if (error) {
                txn_error(c, "commit_transaction", error);
                if (!is_fatal(c))
                        txn_abort(c, "commit failed");
                return -1;
        }
        /* After commit_transaction() every record is in Kafka: the offsets cannot get
         * ahead of them. */
        if (c->plain_commit)
                plain_commit(c, c->txn_offsets);
        /* The statistics count what read_committed readers see. */
        svc_metrics_add(SVC_METRICS_CONSUMER_COMMITTED, 1);
        svc_metrics_consumer_txn((uint64_t)(svc_clock_ms(CLOCK_MONOTONIC) - c->txn_started_ms) *
                                 1000);
        svc_metrics_add(SVC_METRICS_CONSUMER_COMMIT_MS,
                        (uint64_t)(svc_clock_ms(CLOCK_MONOTONIC) - started));
        svc_metrics_add(SVC_METRICS_CONSUMER_PRODUCED, c->txn_produced);
        svc_metrics_add(SVC_METRICS_CONSUMER_DEAD_LETTERED, c->txn_dlq);
        svc_metrics_add(SVC_METRICS_CONSUMER_DUPLICATE, c->txn_duplicate);
        c->tombs_cnt = 0; /* in Kafka now */
        c->backoff_ms = 0;
        poison_forget(c, c->txn_offsets);
        txn_reset(c);
        return 0;
}

/* Seeks every assigned partition back to its committed offset after an abort, so the
 * aborted messages are transformed again. */
static void rewind_consumer(struct consumer *c) {
        rd_kafka_topic_partition_list_t *offsets = NULL;
        rd_kafka_error_t *error;
        rd_kafka_resp_err_t err;

        c->need_rewind = 0;
        if (c->backoff_ms)
                usleep((useconds_t)c->backoff_ms * 1000); /* a signal cuts it short */
        if ((err = rd_kafka_assignment(c->consumer, &offsets)) || offsets->cnt == 0)
                goto out;
        if ((err = rd_kafka_committed(c->consumer, offsets, c->txn_timeout_ms))) {
                stop(c, STOP_FATAL, "fatal: cannot read the committed offsets to rewind to: %s",
                     rd_kafka_err2str(err));
                goto out;
        }
        for (int i = 0; i < offsets->cnt; i++) {
                int32_t p = offsets->elems[i].partition;
                /* The requests of the aborted messages are forgotten: they are read again. */
                if (p >= 0 && p < c->stores_cnt && c->stores[p])
                        svc_dedupe_rewind(c->stores[p], offsets->elems[i].offset);
                if (offsets->elems[i].offset < 0)
                        offsets->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        if ((error = rd_kafka_seek_partitions(c->consumer, offsets, c->txn_timeout_ms))) {
                stop(c, STOP_FATAL, "fatal: cannot rewind: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
out:
        if (offsets)
                rd_kafka_topic_partition_list_destroy(offsets);
}

/* What one restore found, for its log line. */
struct restore_counts {
        size_t kinds[SVC_DEDUPE_UNREADABLE + 1]; /* by svc_dedupe_restore_t */
};

/* Reads the changelog partitions of parts from their beginning to their end into fresh
 * stores (the committed offsets of the raw partitions decide which entries are trusted).
 * Returns 0, or -1 with errstr. */
static int restore_stores(struct consumer *c, const rd_kafka_topic_partition_list_t *parts,
                          char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
        rd_kafka_topic_partition_list_t *log = rd_kafka_topic_partition_list_new(parts->cnt);
        struct restore_counts cnt = {{0}};
        long long started = svc_clock_ms(CLOCK_MONOTONIC), last = started;
        int64_t *end = calloc((size_t)parts->cnt + 1, sizeof(*end));
        rd_kafka_resp_err_t err;
        int left = 0, ret = -1;

        if (!committed || !log || !end) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        if ((err = rd_kafka_committed(c->consumer, committed, c->txn_timeout_ms))) {
                snprintf(errstr, errstr_size, "committed offsets: %s", rd_kafka_err2str(err));
                goto out;
        }
        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                int64_t lo = 0, hi = 0;
                if (p >= c->stores_cnt) {
                        svc_dedupe_t **stores =
                            realloc(c->stores, (size_t)(p + 1) * sizeof(*stores));
                        if (!stores) {
                                snprintf(errstr, errstr_size, "out of memory");
                                goto out;
                        }
                        memset(stores + c->stores_cnt, 0,
                               (size_t)(p + 1 - c->stores_cnt) * sizeof(*stores));
                        c->stores = stores, c->stores_cnt = p + 1;
                }
                svc_dedupe_destroy(c->stores[p]);
                if (!(c->stores[p] = svc_dedupe_new(c->dedupe_window_ms))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto out;
                }
                if ((err = rd_kafka_query_watermark_offsets(c->restorer, c->dedupe_topic, p, &lo,
                                                            &hi, c->txn_timeout_ms))) {
                        snprintf(errstr, errstr_size, "%s [%d] watermarks: %s", c->dedupe_topic,
                                 (int)p, rd_kafka_err2str(err));
                        goto out;
                }
                end[i] = hi;
                if (hi > lo) {
                        rd_kafka_topic_partition_list_add(log, c->dedupe_topic, p)->offset =
                            RD_KAFKA_OFFSET_BEGINNING;
                        left++;
                }
        }
        if (left && (err = rd_kafka_assign(c->restorer, log))) {
                snprintf(errstr, errstr_size, "assign %s: %s", c->dedupe_topic,
                         rd_kafka_err2str(err));
                goto out;
        }
        while (left > 0) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->restorer, 100 /* ms */);
                long long now = svc_clock_ms(CLOCK_MONOTONIC);
                if (!rkm) {
                        if (now - last > c->txn_timeout_ms) {
                                snprintf(errstr, errstr_size,
                                         "%s: nothing read for %d ms (%d partitions left)",
                                         c->dedupe_topic, c->txn_timeout_ms, left);
                                goto out;
                        }
                        continue;
                }
                last = now;
                int i = 0;
                while (i < parts->cnt && parts->elems[i].partition != rkm->partition)
                        i++;
                if (rkm->err && rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "restore: %s",
                                rd_kafka_message_errstr(rkm));
                } else if (i < parts->cnt && end[i] >= 0) {
                        if (!rkm->err) {
                                int kind =
                                    svc_dedupe_restore(c->stores[rkm->partition], rkm->key,
                                                       rkm->key_len, rkm->len ? rkm->payload : NULL,
                                                       rkm->len, committed->elems[i].offset);
                                if (kind == -1) {
                                        rd_kafka_message_destroy(rkm);
                                        snprintf(errstr, errstr_size, "out of memory");
                                        goto out;
                                }
                                cnt.kinds[kind]++;
                        }
                        if (rkm->err || rkm->offset + 1 >= end[i]) {
                                end[i] = -1; /* done */
                                left--;
                        }
                }
                rd_kafka_message_destroy(rkm);
        }
        ret = 0;
        long long ms = svc_clock_ms(CLOCK_MONOTONIC) - started;
        size_t records = 0, remembered = 0, n, bytes;
        for (int k = 0; k <= SVC_DEDUPE_UNREADABLE; k++)
                records += cnt.kinds[k];
        for (int i = 0; i < parts->cnt; i++) {
                svc_dedupe_stats(c->stores[parts->elems[i].partition], &n, &bytes);
                remembered += n;
        }
        /* bench/consumer.sh reads this line. */
        svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                "restored the window of %d partition(s) from %s in %lld ms: %zu records (%zu "
                "entries, %zu tombstones, %zu untrusted: at or past the committed offset, %zu "
                "unreadable), %zu requests remembered",
                parts->cnt, c->dedupe_topic, ms, records, cnt.kinds[SVC_DEDUPE_RESTORED],
                cnt.kinds[SVC_DEDUPE_TOMBSTONE], cnt.kinds[SVC_DEDUPE_UNTRUSTED],
                cnt.kinds[SVC_DEDUPE_UNREADABLE], remembered);
out:
        if (left)
                rd_kafka_assign(c->restorer, NULL);
        free(end);
        if (log)
                rd_kafka_topic_partition_list_destroy(log);
        if (committed)
                rd_kafka_topic_partition_list_destroy(committed);
        return ret;
}

/* Forgets the windows of partitions no longer ours, and their pending tombstones. */
static void drop_stores(struct consumer *c, const rd_kafka_topic_partition_list_t *parts) {
        for (int i = 0; parts && i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                size_t kept = 0;
                if (p < 0 || p >= c->stores_cnt)
                        continue;
                svc_dedupe_destroy(c->stores[p]);
                c->stores[p] = NULL;
                for (size_t t = 0; t < c->tombs_cnt; t++)
                        if (c->tombs[t].partition != p)
                                c->tombs[kept++] = c->tombs[t];
                c->tombs_cnt = kept;
        }
}

/* Makes the assignment change of the pending rebalance and forgets it. */
static void apply_rebalance(struct consumer *c) {
        struct rebalance *rb = &c->rebalance;
        rd_kafka_error_t *error = NULL;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        char why[512];

        if (!rb->parts && (rb->err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ||
                           rb->err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)) {
                rb->pending = 0; /* the callback's copy failed: a restart starts clean */
                stop(c, STOP_FATAL, "fatal: out of memory copying a rebalance's partitions");
                return;
        }
        switch (rb->err) {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                svc_log(SVC_LOG_INFO, NULL, LOG_NAME, "assigned %d partition(s) of %s",
                        rb->parts->cnt, c->raw_topic);
                /* Their windows first: no message of theirs is read before. */
                if (c->dedupe_window_ms && rb->parts->cnt &&
                    restore_stores(c, rb->parts, why, sizeof(why)) == -1) {
                        stop(c, STOP_FATAL, "fatal: cannot restore the window of copies: %s", why);
                        break;
                }
                if (rb->cooperative)
                        error = rd_kafka_incremental_assign(c->consumer, rb->parts);
                else
                        err = rd_kafka_assign(c->consumer, rb->parts);
                break;
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
                svc_log(SVC_LOG_INFO, NULL, LOG_NAME, "revoked %d partition(s)%s", rb->parts->cnt,
                        rb->lost ? " (lost)" : "");
                if (rb->cooperative)
                        error = rd_kafka_incremental_unassign(c->consumer, rb->parts);
                else
                        err = rd_kafka_assign(c->consumer, NULL);
                drop_stores(c, rb->parts);
                plain_commit_forget(c, rb->parts);
                break;
        default:
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "rebalance failed: %s",
                        rd_kafka_err2str(rb->err));
                err = rd_kafka_assign(c->consumer, NULL);
                plain_commit_forget(c, NULL);
                for (int32_t p = 0; p < c->stores_cnt; p++)
                        svc_dedupe_destroy(c->stores[p]), c->stores[p] = NULL;
                c->tombs_cnt = 0;
                break;
        }
        rb->pending = 0;
        if (rb->parts)
                rd_kafka_topic_partition_list_destroy(rb->parts);
        rb->parts = NULL;
        if (error) {
                stop(c, STOP_FATAL, "fatal: partition assignment: %s",
                     rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (err) {
                stop(c, STOP_FATAL, "fatal: partition assignment: %s", rd_kafka_err2str(err));
        }
}

/* Called from rd_kafka_consumer_poll() (and rd_kafka_consumer_close()): only notes the
 * rebalance and makes the poll return. The loop settles the open transaction first, while
 * the revoked partitions are still ours, and then applies it (handle_rebalance); while
 * closing, no transaction is open and it applies at once. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
        struct consumer *c = opaque;
        struct rebalance *rb = &c->rebalance;

        if (rb->parts)
                rd_kafka_topic_partition_list_destroy(rb->parts);
        /* Known once the group is joined: NONE before, then EAGER or COOPERATIVE. */
        *rb = (struct rebalance){
            .pending = 1,
            .err = err,
            .parts = parts ? rd_kafka_topic_partition_list_copy(parts) : NULL,
            .lost = rd_kafka_assignment_lost(rk),
            .cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE"),
        };
        if (c->closing)
                apply_rebalance(c);
        else
                rd_kafka_yield(rk); /* rd_kafka_consumer_poll() returns now, to the loop */
}

/* Settles the open transaction for the pending rebalance, then applies it: the offsets
 * of revoked partitions are committed while they are still ours (aborted when they were
 * lost, or when the rebalance failed). */
static void handle_rebalance(struct consumer *c) {
        const struct rebalance *rb = &c->rebalance;

        if (!rb->pending)
                return;
        if (c->txn_open && !is_fatal(c) && rb->err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (rb->err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
                        txn_abort(c, "rebalance failed");
                else if (rb->lost)
                        txn_abort(c, "assignment lost");
                else
                        txn_commit(c);
        }
        apply_rebalance(c);
}

/* librdkafka's own errors: mostly transient (it retries), a fatal one ends the process. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        struct consumer *c = opaque;
        char fatal_str[512];

        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                rd_kafka_fatal_error(rk, fatal_str, sizeof(fatal_str));
                stop(c, STOP_FATAL, "fatal: %s: %s; exiting", rd_kafka_name(rk), fatal_str);
                return;
        }
        svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "%s: %s: %s", rd_kafka_name(rk),
                rd_kafka_err2name(err), reason);
}

/* A failed delivery puts the transaction in the abortable state; the commit finds it.
 * A permanent failure also marks the record, so that the next attempt sends a dead letter
 * in its place (every record of the batch Kafka refused is marked: Kafka answers per
 * batch). Logs the first failures only, the count goes to the stats line. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
        struct consumer *c = opaque;
        size_t seq = (size_t)(uintptr_t)rkm->_private;
        struct poison *p;
        (void)rk;
        if (!rkm->err || rkm->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
            rkm->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) /* an abort purged them */
                return;
        svc_metrics_add(SVC_METRICS_CONSUMER_DELIVERY_ERRORS, 1);
        if (svc_metrics_get(SVC_METRICS_CONSUMER_DELIVERY_ERRORS) <= 10)
                svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "delivery to %s failed: %s%s",
                        rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err),
                        svc_kafka_fail_is_permanent(rkm->err)
                            ? " (permanent: a dead letter takes its place)"
                            : "");
        if (!svc_kafka_fail_is_permanent(rkm->err) || seq == 0 || seq > c->txn_records)
                return;
        const struct txn_origin *o = &c->origins[seq - 1];
        if ((p = poison_find(c, o->partition, o->offset, o->event_index))) {
                p->letter_refused = 1; /* it was the letter that failed this time */
                return;
        }
        if (c->poison_cnt < POISON_MAX)
                p = &c->poison[c->poison_cnt++];
        else
                p = &c->poison[c->poison_next++ % POISON_MAX];
        *p = (struct poison){o->partition, o->offset, o->event_index, rkm->err, 0};
}

/* Produces one record into the open transaction, its origin kept for the delivery
 * report. Returns the producev error; value is handed over either way. */
static rd_kafka_resp_err_t produce(struct consumer *c, const struct svc_transform_origin *from,
                                   int dlq, const char *key, size_t key_len, char *value,
                                   size_t value_len) {
        rd_kafka_resp_err_t err;

        if (c->txn_records == c->origins_size) {
                size_t size = c->origins_size ? c->origins_size * 2 : 1024;
                struct txn_origin *o = realloc(c->origins, size * sizeof(*o));
                if (!o) {
                        free(value);
                        return RD_KAFKA_RESP_ERR__FAIL /* out of memory */;
                }
                c->origins = o, c->origins_size = size;
        }
        c->origins[c->txn_records] =
            (struct txn_origin){c->cur_partition, c->cur_offset, from->event_index};
        for (;;) {
                err = rd_kafka_producev(
                    c->producer, RD_KAFKA_V_RKT(dlq ? c->dlq_rkt : c->out_rkt),
                    RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(value, value_len),
                    /* value is from malloc: librdkafka frees it */
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                    RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(c->txn_records + 1)), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || is_fatal(c))
                        break;
                /* The local queue is full: let deliveries make room. */
                rd_kafka_poll(c->producer, 50 /* ms */);
        }
        if (err) {
                free(value);
                return err;
        }
        c->txn_records++;
        if (dlq)
                c->txn_dlq++;
        else
                c->txn_produced++;
        return 0;
}

/* svc_transform_emit_t: produces one record into the open transaction, or the dead
 * letter that stands for it when Kafka refuses it for good (now, or in an earlier
 * attempt: see dr_msg_cb). Only a letter refused as well is dropped, loudly. */
static int emit_record(void *opaque, const struct svc_transform_origin *from, int dlq,
                       const char *key, size_t key_len, char *value, size_t value_len) {
        struct consumer *c = opaque;
        struct poison *p = poison_find(c, c->cur_partition, c->cur_offset, from->event_index);
        char reason[160];
        size_t size = key_len + value_len;
        rd_kafka_resp_err_t err = 0;

        if (!p) {
                err = produce(c, from, dlq, key, key_len, value, value_len);
                if (!err || !svc_kafka_fail_is_permanent(err))
                        goto out;
        } else {
                free(value);
        }
        snprintf(reason, sizeof(reason), "Kafka refused the record: %s",
                 rd_kafka_err2str(p ? p->err : err));
        svc_metrics_add(SVC_METRICS_CONSUMER_REFUSED, 1);
        if (!(p && p->letter_refused) &&
            !(value = svc_transform_refused_letter(from, reason, size, &value_len))) {
                err = RD_KAFKA_RESP_ERR__FAIL /* out of memory */;
                goto out;
        }
        if ((p && p->letter_refused) ||
            (err = produce(c, from, 1, key, key_len, value, value_len))) {
                if (err && !svc_kafka_fail_is_permanent(err))
                        goto out;
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME,
                        "dropped: record %lld of %s partition %d offset %lld and the dead "
                        "letter for it (%s)",
                        from->event_index, c->raw_topic, (int)c->cur_partition,
                        (long long)c->cur_offset, reason);
                svc_metrics_add(SVC_METRICS_CONSUMER_DROPPED, 1);
                err = 0;
        }
out:
        if (err)
                svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "cannot produce to %s: %s",
                        rd_kafka_topic_name(dlq ? c->dlq_rkt : c->out_rkt), rd_kafka_err2str(err));
        return err ? -1 : 0;
}

/* Produces one record of the changelog into the open transaction, to the partition of
 * the raw message it is about; value NULL: a tombstone. */
static rd_kafka_resp_err_t produce_changelog(struct consumer *c, int32_t partition,
                                             const unsigned char *key, const unsigned char *value) {
        rd_kafka_resp_err_t err;

        for (;;) {
                err = rd_kafka_producev(
                    c->producer, RD_KAFKA_V_RKT(c->dedupe_rkt), RD_KAFKA_V_PARTITION(partition),
                    RD_KAFKA_V_KEY(key, SVC_DEDUPE_KEY_LEN),
                    RD_KAFKA_V_VALUE((void *)value, value ? SVC_DEDUPE_VALUE_LEN : 0),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_OPAQUE(NULL) /* no origin: not a record of the output */,
                    RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || is_fatal(c))
                        return err;
                rd_kafka_poll(c->producer, 50 /* ms */);
        }
}

/* svc_dedupe_forgot_t: keeps the tombstone of a request the window forgot. */
static void on_forgot(void *opaque, const struct svc_dedupe_entry *entry) {
        struct consumer *c = opaque;

        if (c->tombs_cnt == c->tombs_size) {
                size_t size = c->tombs_size ? c->tombs_size * 2 : 256;
                struct tomb *t = realloc(c->tombs, size * sizeof(*t));
                if (!t) {
                        c->dedupe_oom = 1; /* the entry stays in the changelog until a restore */
                        return;
                }
                c->tombs = t, c->tombs_size = size;
        }
        c->tombs[c->tombs_cnt].partition = c->expiring;
        svc_dedupe_encode(entry, c->tombs[c->tombs_cnt++].key, NULL);
}

/* At the start of a transaction: forgets the requests past the window in every partition
 * and writes their tombstones (with those of aborted transactions). Returns 0 or -1. */
static int expire_windows(struct consumer *c) {
        rd_kafka_resp_err_t err;

        for (c->expiring = 0; c->expiring < c->stores_cnt; c->expiring++)
                if (c->stores[c->expiring])
                        svc_dedupe_expire(c->stores[c->expiring], on_forgot, c);
        if (c->dedupe_oom) {
                svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                        "out of memory: some tombstones of %s were not written", c->dedupe_topic);
                c->dedupe_oom = 0;
        }
        for (size_t i = 0; i < c->tombs_cnt; i++)
                if ((err = produce_changelog(c, c->tombs[i].partition, c->tombs[i].key, NULL))) {
                        svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "cannot produce to %s: %s",
                                c->dedupe_topic, rd_kafka_err2str(err));
                        return -1;
                }
        return 0;
}

/* The step before the transform: is the raw message a copy? A new request is remembered
 * and written to the changelog. Returns the verdict (a message that cannot be read as a
 * request is NEW: it is never taken for a copy), or -1 when the changelog record could not
 * be produced. *msg and *tag are set for COPY and NEW_BODY. */
static int dedupe_step(struct consumer *c, const rd_kafka_message_t *rkm,
                       struct svc_dedupe_msg *msg, char *tag, size_t tag_size) {
        svc_dedupe_t *dd = rkm->partition >= 0 && rkm->partition < c->stores_cnt
                               ? c->stores[rkm->partition]
                               : NULL;
        struct svc_dedupe_entry entry;
        unsigned char key[SVC_DEDUPE_KEY_LEN], value[SVC_DEDUPE_VALUE_LEN];
        rd_kafka_resp_err_t err;
        int verdict;

        if (!dd) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME,
                        "partition %d has no window (not restored): copies pass",
                        (int)rkm->partition);
                return SVC_DEDUPE_NEW;
        }
        if (svc_dedupe_read(rkm->payload, rkm->len, msg) == -1)
                return SVC_DEDUPE_NEW;
        if ((verdict = svc_dedupe_check(dd, msg, rkm->offset, &entry)) == -1) {
                svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "out of memory remembering a request");
                return -1;
        }
        if (verdict == SVC_DEDUPE_COPY)
                return verdict;
        if (verdict == SVC_DEDUPE_NEW_BODY)
                svc_dedupe_tag(msg->digest, tag, tag_size);
        svc_dedupe_encode(&entry, key, value);
        if ((err = produce_changelog(c, rkm->partition, key, value))) {
                svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "cannot produce to %s: %s", c->dedupe_topic,
                        rd_kafka_err2str(err));
                return -1;
        }
        return verdict;
}

/* Remembers the offset to commit for the partition of rkm (the next one to read). */
static int track_offset(struct consumer *c, const rd_kafka_message_t *rkm) {
        rd_kafka_topic_partition_t *tp;
        const char *topic = rd_kafka_topic_name(rkm->rkt);

        if (!c->txn_offsets && !(c->txn_offsets = rd_kafka_topic_partition_list_new(8)))
                return -1;
        tp = rd_kafka_topic_partition_list_find(c->txn_offsets, topic, rkm->partition);
        if (!tp)
                tp = rd_kafka_topic_partition_list_add(c->txn_offsets, topic, rkm->partition);
        tp->offset = rkm->offset + 1;
        return 0;
}

/* Transforms one raw message into the transaction (begun here when none is open). */
static void process_message(struct consumer *c, const rd_kafka_message_t *rkm) {
        struct svc_transform_counts cnt = {0, 0};
        struct svc_dedupe_msg msg;
        char tag[SVC_DEDUPE_TAG_LEN + 1] = "";
        int verdict = SVC_DEDUPE_NEW;
        rd_kafka_error_t *error;

        if (!c->txn_open) {
                if ((error = rd_kafka_begin_transaction(c->producer))) {
                        txn_error(c, "begin_transaction", error);
                        if (!is_fatal(c))
                                stop(c, STOP_FATAL, "fatal: no transaction could begin");
                        return;
                }
                c->txn_open = 1;
                c->txn_started_ms = svc_clock_ms(CLOCK_MONOTONIC);
                if (c->dedupe_window_ms && expire_windows(c) == -1) {
                        txn_abort(c, "a tombstone could not be produced");
                        return;
                }
        }
        svc_metrics_add(SVC_METRICS_CONSUMER_MESSAGES, 1);
        c->cur_partition = rkm->partition;
        c->cur_offset = rkm->offset;
        if (c->dedupe_window_ms) {
                verdict = dedupe_step(c, rkm, &msg, tag, sizeof(tag));
                if (verdict == -1) {
                        txn_abort(c, "the request could not be remembered");
                        return;
                }
                if (verdict == SVC_DEDUPE_COPY) { /* nothing produced, the offset moves on */
                        c->txn_duplicate += msg.events;
                        if (track_offset(c, rkm) == -1)
                                txn_abort(c, "out of memory");
                        return;
                }
        }
        if (svc_transform_raw_tagged(rkm->payload, rkm->len, rkm->key, rkm->key_len,
                                     verdict == SVC_DEDUPE_NEW_BODY ? tag : NULL, emit_record, c,
                                     &cnt) == -1) {
                txn_abort(c, "a record of the message could not be produced");
                return;
        }
        if (track_offset(c, rkm) == -1)
                txn_abort(c, "out of memory");
}

/* Records behind the end of the assigned partitions: high watermark minus the position,
 * or minus the committed offset for a partition not read yet in this run; also sets
 * events_consumer_lag. Asks the brokers for what is not cached (for the stats line), or
 * with cached_only returns -1 when something is not cached (for the gauge, every second:
 * the loop must not wait for the brokers). */
static long long consumer_lag(struct consumer *c, int cached_only) {
        rd_kafka_topic_partition_list_t *parts = NULL, *committed = NULL;
        long long lag = 0;

        if (rd_kafka_assignment(c->consumer, &parts) || !parts)
                return -1;
        rd_kafka_position(c->consumer, parts);
        for (int i = 0; i < parts->cnt && !committed; i++)
                if (parts->elems[i].offset < 0) {
                        committed = rd_kafka_topic_partition_list_copy(parts);
                        if (cached_only ||
                            rd_kafka_committed(c->consumer, committed, 2000 /* ms */)) {
                                lag = -1;
                                goto out;
                        }
                }
        for (int i = 0; i < parts->cnt; i++) {
                int64_t lo = -1, hi = -1, pos;
                rd_kafka_topic_partition_t *tp = &parts->elems[i];
                if (rd_kafka_get_watermark_offsets(c->consumer, tp->topic, tp->partition, &lo,
                                                   &hi) ||
                    hi < 0)
                        if (cached_only ||
                            rd_kafka_query_watermark_offsets(c->consumer, tp->topic, tp->partition,
                                                             &lo, &hi, 2000 /* ms */)) {
                                lag = -1;
                                goto out;
                        }
                pos = tp->offset >= 0 ? tp->offset : committed->elems[i].offset;
                lag += svc_kafka_lag(lo, hi, pos);
        }
out:
        if (committed)
                rd_kafka_topic_partition_list_destroy(committed);
        rd_kafka_topic_partition_list_destroy(parts);
        if (lag >= 0)
                svc_metrics_set(SVC_METRICS_CONSUMER_LAG, lag);
        return lag;
}

static void log_stats(struct consumer *c) {
        size_t remembered = 0, remembered_bytes = 0;
        struct svc_heap heap;

        for (int32_t p = 0; p < c->stores_cnt; p++)
                if (c->stores[p]) {
                        size_t cnt, bytes;
                        svc_dedupe_stats(c->stores[p], &cnt, &bytes);
                        remembered += cnt, remembered_bytes += bytes;
                }
        svc_heap_get(&heap);
        svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                "stats consumed=%llu produced=%llu dead_lettered=%llu duplicate=%llu "
                "transactions=%llu commit_ms=%lld aborted=%llu delivery_errors=%llu refused=%llu "
                "dropped=%llu remembered=%zu remembered_bytes=%zu heap_used_kb=%zu "
                "heap_free_kb=%zu lag=%lld",
                (unsigned long long)svc_metrics_get(SVC_METRICS_CONSUMER_MESSAGES),
                (unsigned long long)svc_metrics_get(SVC_METRICS_CONSUMER_PRODUCED),
                (unsigned long long)svc_metrics_get(SVC_METRICS_CONSUMER_DEAD_LETTERED),
                (unsigned long long)svc_metrics_get(SVC_METRICS_CONSUMER_DUPLICATE),
                (unsigned long long)svc_metrics_get(SVC_METRICS_CONSUMER_COMMITTED),
                (long long)svc_metrics_get(SVC_METRICS_CONSUMER_COMMIT_MS),
                (unsigned long long)svc_metrics_get(SVC_METRICS_CONSUMER_ABORTED),
                (unsigned long long)svc_metrics_get(SVC_METRICS_CONSUMER_DELIVERY_ERRORS),
                (unsigned long long)svc_metrics_get(SVC_METRICS_CONSUMER_REFUSED),
                (unsigned long long)svc_metrics_get(SVC_METRICS_CONSUMER_DROPPED), remembered,
                remembered_bytes, heap.used_bytes / 1024, heap.free_bytes / 1024,
                consumer_lag(c, 0));
}

/* The consumer's own settings (the header of this file), and the checks before any client
 * is made. */
static int configure(struct consumer *c, const svc_config_t *cfg, char *errstr,
                     size_t errstr_size) {
        const char *txn_id;
        char host[128];
        long timeout;

        if (!cfg->kafka_url || cfg->dev_mode) {
                snprintf(errstr, errstr_size,
                         "KAFKA_URL is unset or FORCE_DEV_MODE=true: in dev mode /collect "
                         "writes to the dev store and there is no topic to consume; set "
                         "KAFKA_URL (the dev broker's bootstrap address, or a cluster)");
                return -1;
        }
        if (svc_config_int(cfg, "CONSUMER_TXN_MAX_EVENTS", 10000, 1, 1000000, &c->txn_max_events,
                           errstr, errstr_size) ||
            svc_config_int(cfg, "CONSUMER_TXN_MAX_MS", 500, 1, 3600000, &c->txn_max_ms, errstr,
                           errstr_size) ||
            svc_config_int(cfg, "CONSUMER_STATS_INTERVAL_MS", 10000, 0, 86400000,
                           &c->stats_interval_ms, errstr, errstr_size) ||
            svc_config_int(cfg, "CONSUMER_TXN_TIMEOUT_MS", 60000, 1000, 3600000, &timeout, errstr,
                           errstr_size) ||
            svc_config_int(cfg, "DEDUPE_WINDOW_MS", 86400000, 0, DEDUPE_WINDOW_MAX,
                           &c->dedupe_window_ms, errstr, errstr_size))
                return -1;
        if (!(c->dedupe_topic = svc_config_get(cfg, "COLLECT_DEDUPE_TOPIC")) || !*c->dedupe_topic)
                c->dedupe_topic = "collect-dedupe";
        c->txn_timeout_ms = (int)timeout;
        c->raw_topic = cfg->collect_raw_topic;
        if (!(c->group_id = svc_config_get(cfg, "CONSUMER_GROUP_ID")) || !*c->group_id)
                c->group_id = "collect-consumer";
        if ((txn_id = svc_config_get(cfg, "CONSUMER_TRANSACTIONAL_ID")) && *txn_id) {
                snprintf(c->txn_id, sizeof(c->txn_id), "%s", txn_id);
        } else {
                if (gethostname(host, sizeof(host)) == -1)
                        snprintf(host, sizeof(host), "unknown");
                host[sizeof(host) - 1] = '\0';
                snprintf(c->txn_id, sizeof(c->txn_id), "collect-consumer-%s", host);
        }
        return 0;
}

/* CONSUMER_PLAIN_COMMIT: the dev broker (librdkafka's mock cluster, cluster id
 * "mockCluster...") accepts TxnOffsetCommit but never stores the offsets, so there the
 * offsets are committed once more with a plain OffsetCommit after each transaction;
 * without it every restart would start over from the beginning. On a real cluster the
 * transaction alone commits them ("auto" leaves it off there). */
static int set_plain_commit(struct consumer *c, const svc_config_t *cfg, char *errstr,
                            size_t errstr_size) {
        const char *mode = svc_config_get(cfg, "CONSUMER_PLAIN_COMMIT");
        char *cluster_id;

        if (mode && !strcmp(mode, "true")) {
                c->plain_commit = 1;
        } else if (mode && !strcmp(mode, "false")) {
                c->plain_commit = 0;
        } else if (!mode || !*mode || !strcmp(mode, "auto")) {
                cluster_id = rd_kafka_clusterid(c->producer, 5000 /* ms */);
                c->plain_commit = cluster_id && !strncmp(cluster_id, "mockCluster", 11);
                if (cluster_id)
                        rd_kafka_mem_free(c->producer, cluster_id);
        } else {
                snprintf(errstr, errstr_size, "CONSUMER_PLAIN_COMMIT must be auto, true or false");
                return -1;
        }
        if (c->plain_commit)
                svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                        "offsets are also committed outside the transactions (dev broker, "
                        "or CONSUMER_PLAIN_COMMIT=true): delivery is at-least-once, "
                        "event_id identifies duplicates");
        return 0;
}

/* The transactional producer (idempotent and acks=all implicitly), its topics, and the
 * fencing of an older instance with the same transactional.id. */
static int create_producer(struct consumer *c, const svc_config_t *cfg, char *errstr,
                           size_t errstr_size) {
        const char *props[] = {"transactional.id", c->txn_id, "client.id",
                               "collect-consumer-producer", NULL};
        char why[400]; /* what librdkafka says, prefixed in errstr */
        rd_kafka_conf_t *conf = svc_kafka_conf_new(cfg, props, why, sizeof(why));
        rd_kafka_error_t *error;

        if (!conf)
                goto fail;
        rd_kafka_conf_set_opaque(conf, c);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        if (!(c->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why)))) {
                rd_kafka_conf_destroy(conf);
                goto fail;
        }
        conf = NULL; /* now owned, and freed, by the producer */
        c->out_rkt = rd_kafka_topic_new(c->producer, cfg->collect_out_topic, NULL);
        c->dlq_rkt = rd_kafka_topic_new(c->producer, cfg->collect_dlq_topic, NULL);
        if (c->dedupe_window_ms)
                c->dedupe_rkt = rd_kafka_topic_new(c->producer, c->dedupe_topic, NULL);
        if (!c->out_rkt || !c->dlq_rkt || (c->dedupe_window_ms && !c->dedupe_rkt)) {
                snprintf(errstr, errstr_size, "topic handles: %s",
                         rd_kafka_err2str(rd_kafka_last_error()));
                return -1;
        }
        /* Aborts the transaction a crashed predecessor left open. */
        if ((error = rd_kafka_init_transactions(c->producer, c->txn_timeout_ms))) {
                snprintf(errstr, errstr_size,
                         "cannot initialise transactions (transactional.id %s) at %s: %s",
                         c->txn_id, cfg->kafka_url, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                return -1;
        }
        return set_plain_commit(c, cfg, errstr, errstr_size);
fail:
        snprintf(errstr, errstr_size, "producer: %s", why);
        return -1;
}

/* The group member reading COLLECT_RAW_TOPIC, subscribed. */
static int create_consumer(struct consumer *c, const svc_config_t *cfg, char *errstr,
                           size_t errstr_size) {
        /* clang-format off */
        const char *props[] = {
                "group.id", c->group_id,
                "client.id", "collect-consumer",
                "enable.auto.commit", "false",
                "enable.auto.offset.store", "false",
                "isolation.level", "read_committed",
                "auto.offset.reset", "earliest",
                "partition.assignment.strategy", "cooperative-sticky",
                NULL};
        /* clang-format on */
        char why[400]; /* what librdkafka says, prefixed in errstr */
        rd_kafka_conf_t *conf = svc_kafka_conf_new(cfg, props, why, sizeof(why));
        rd_kafka_topic_partition_list_t *topics;
        rd_kafka_resp_err_t err;

        if (!conf)
                goto fail;
        rd_kafka_conf_set_opaque(conf, c);
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        if (!(c->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
                rd_kafka_conf_destroy(conf);
                goto fail;
        }
        conf = NULL; /* now owned, and freed, by the consumer */
        rd_kafka_poll_set_consumer(c->consumer);
        topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, c->raw_topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(c->consumer, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err) {
                snprintf(errstr, errstr_size, "subscribe to %s: %s", c->raw_topic,
                         rd_kafka_err2str(err));
                return -1;
        }
        return 0;
fail:
        snprintf(errstr, errstr_size, "consumer: %s", why);
        return -1;
}

/* The partitions of topic (0 when it does not exist), asked of the brokers through rk;
 * -1 when they did not answer. */
static int partition_count(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        rd_kafka_resp_err_t err;
        int cnt = -1;

        if (!rkt) {
                snprintf(errstr, errstr_size, "%s: %s", topic,
                         rd_kafka_err2str(rd_kafka_last_error()));
                return -1;
        }
        if ((err = rd_kafka_metadata(rk, 0, rkt, &md, 10000 /* ms */))) {
                snprintf(errstr, errstr_size, "metadata of %s: %s", topic, rd_kafka_err2str(err));
        } else if (md->topic_cnt == 1 &&
                   md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                cnt = 0;
        } else if (md->topic_cnt != 1 || md->topics[0].err) {
                snprintf(errstr, errstr_size, "metadata of %s: %s", topic,
                         rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                                        : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        } else {
                cnt = md->topics[0].partition_cnt;
        }
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return cnt;
}

/* Creates the changelog topic: compacted, with partitions partitions. */
static int create_changelog(struct consumer *c, int partitions, char *errstr, size_t errstr_size) {
        rd_kafka_NewTopic_t *nt = NULL;
        rd_kafka_queue_t *q = rd_kafka_queue_new(c->producer);
        rd_kafka_AdminOptions_t *opts = NULL;
        rd_kafka_event_t *ev = NULL;
        const rd_kafka_topic_result_t **res;
        size_t res_cnt = 0;
        int ret = -1;

        if (!q || !(nt = rd_kafka_NewTopic_new(c->dedupe_topic, partitions,
                                               -1 /* the brokers' default replication */, errstr,
                                               errstr_size)))
                goto out;
        if (rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact")) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        opts = rd_kafka_AdminOptions_new(c->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        if (opts)
                rd_kafka_AdminOptions_set_request_timeout(opts, 10000 /* ms */, NULL, 0);
        rd_kafka_CreateTopics(c->producer, &nt, 1, opts, q);
        if (!(ev = rd_kafka_queue_poll(q, 15000 /* ms */))) {
                snprintf(errstr, errstr_size, "no answer to CreateTopics");
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "%s", rd_kafka_event_error_string(ev));
                goto out;
        }
        res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &res_cnt);
        if (res_cnt == 1 && rd_kafka_topic_result_error(res[0]) &&
            rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errstr, errstr_size, "%s", rd_kafka_topic_result_error_string(res[0]));
                goto out;
        }
        svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                "created %s (%d partitions, cleanup.policy=compact) for the window of copies",
                c->dedupe_topic, partitions);
        ret = 0;
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (opts)
                rd_kafka_AdminOptions_destroy(opts);
        if (nt)
                rd_kafka_NewTopic_destroy(nt);
        if (q)
                rd_kafka_queue_destroy(q);
        return ret;
}

/* The changelog topic, partitioned like the raw topic (created when missing), and the
 * client that reads it back. */
static int prepare_dedupe(struct consumer *c, const svc_config_t *cfg, char *errstr,
                          size_t errstr_size) {
        /* clang-format off */
        const char *props[] = {
                "group.id", c->group_id, /* never joined: partitions are assigned */
                "client.id", "collect-consumer-restore",
                "enable.auto.commit", "false",
                "enable.auto.offset.store", "false",
                "enable.partition.eof", "true",
                "isolation.level", "read_committed",
                "auto.offset.reset", "earliest",
                NULL};
        /* clang-format on */
        char why[400];
        rd_kafka_conf_t *conf;
        int raw_cnt, log_cnt;

        if (!c->dedupe_window_ms) {
                svc_log(SVC_LOG_INFO, NULL, LOG_NAME, "DEDUPE_WINDOW_MS=0: copies are not removed");
                return 0;
        }
        if ((raw_cnt = partition_count(c->consumer, c->raw_topic, why, sizeof(why))) <= 0 ||
            (log_cnt = partition_count(c->consumer, c->dedupe_topic, why, sizeof(why))) < 0) {
                if (raw_cnt == 0)
                        snprintf(why, sizeof(why), "%s does not exist", c->raw_topic);
                snprintf(errstr, errstr_size,
                         "cannot size %s like %s: %s (create both, or set DEDUPE_WINDOW_MS=0)",
                         c->dedupe_topic, c->raw_topic, why);
                return -1;
        }
        if (log_cnt == 0 && create_changelog(c, raw_cnt, why, sizeof(why)) == -1) {
                snprintf(errstr, errstr_size,
                         "cannot create %s: %s; create it with %d partitions and "
                         "cleanup.policy=compact",
                         c->dedupe_topic, why, raw_cnt);
                return -1;
        }
        if (log_cnt > 0 && log_cnt != raw_cnt) {
                snprintf(errstr, errstr_size,
                         "%s has %d partitions and %s %d: the window of a raw partition lives "
                         "in the changelog partition of the same number; give them the same "
                         "count",
                         c->dedupe_topic, log_cnt, c->raw_topic, raw_cnt);
                return -1;
        }
        if (!(conf = svc_kafka_conf_new(cfg, props, why, sizeof(why))))
                goto fail;
        if (!(c->restorer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
                rd_kafka_conf_destroy(conf);
                goto fail;
        }
        conf = NULL; /* now owned, and freed, by the restorer */
        rd_kafka_poll_set_consumer(c->restorer);
        svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                "copies are removed within %ld ms of received_at; their memory is %s",
                c->dedupe_window_ms, c->dedupe_topic);
        return 0;
fail:
        snprintf(errstr, errstr_size, "changelog reader: %s", why);
        return -1;
}

/* The loop goes on until stop() was called; a signal calls it here. */
static int running(struct consumer *c) {
        if (signalled && c->stop == STOP_NONE)
                stop(c, STOP_SIGNAL, "%s: stopping", strsignal(signalled));
        return c->stop == STOP_NONE;
}

/* How long to wait for a message: no longer than the open transaction may stay open. */
static int poll_timeout(const struct consumer *c) {
        long long left;

        if (!c->txn_open)
                return 100; /* ms */
        left = c->txn_started_ms + c->txn_max_ms - svc_clock_ms(CLOCK_MONOTONIC);
        return left < 0 ? 0 : left < 100 ? (int)left : 100;
}

/* The read-process-write loop, until stop(). */
static void consume(struct consumer *c) {
        long long last_stats = svc_clock_ms(CLOCK_MONOTONIC), last_lag = last_stats;
        long long last_trim = last_stats;

        while (running(c)) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->consumer, poll_timeout(c));
                if (rkm) {
                        /* Informational: the client retries on its own. */
                        if (rkm->err && rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "consume: %s",
                                        rd_kafka_message_errstr(rkm));
                        else if (!rkm->err && !c->need_rewind && !is_fatal(c))
                                process_message(c, rkm);
                        rd_kafka_message_destroy(rkm);
                }
                handle_rebalance(c);           /* one the poll announced */
                rd_kafka_poll(c->producer, 0); /* delivery reports */
                if (c->txn_open &&
                    (c->txn_records >= (size_t)c->txn_max_events ||
                     svc_clock_ms(CLOCK_MONOTONIC) - c->txn_started_ms >= c->txn_max_ms))
                        txn_commit(c);
                if (c->need_rewind && !is_fatal(c))
                        rewind_consumer(c);
                if (c->commit_pending && svc_clock_ms(CLOCK_MONOTONIC) >= c->commit_retry_ms)
                        plain_commit_try(c);
                if (c->stats_interval_ms &&
                    svc_clock_ms(CLOCK_MONOTONIC) - last_stats >= c->stats_interval_ms) {
                        log_stats(c);
                        last_stats = last_lag = svc_clock_ms(CLOCK_MONOTONIC);
                } else if (svc_clock_ms(CLOCK_MONOTONIC) - last_lag >= LAG_EVERY_MS) {
                        consumer_lag(c, 1);
                        last_lag = svc_clock_ms(CLOCK_MONOTONIC);
                }
                if (svc_clock_ms(CLOCK_MONOTONIC) - last_trim >= TRIM_EVERY_MS) {
                        svc_heap_trim(TRIM_KEEP);
                        last_trim = svc_clock_ms(CLOCK_MONOTONIC);
                }
        }
}

/* After the loop: commits the open transaction (not after a fatal error, which may have
 * left it unfinished: a restart aborts it), then leaves the group. */
static void drain(struct consumer *c) {
        rd_kafka_resp_err_t err;

        if (!is_fatal(c)) {
                if (c->txn_open)
                        svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                                "stopping: committing the open transaction (%zu records)",
                                c->txn_records);
                if (txn_commit(c) == -1 && !is_fatal(c))
                        stop(c, STOP_FATAL,
                             "the last transaction was aborted; its messages will be "
                             "transformed again after a restart");
        }
        log_stats(c);
        c->closing = 1; /* the revoke of the close finds no open transaction */
        if ((err = rd_kafka_consumer_close(c->consumer)))
                svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "consumer close: %s", rd_kafka_err2str(err));
}

static void consumer_destroy(struct consumer *c) {
        txn_reset(c);
        plain_commit_forget(c, NULL);
        free(c->origins);
        if (c->rebalance.parts)
                rd_kafka_topic_partition_list_destroy(c->rebalance.parts);
        if (c->consumer)
                rd_kafka_destroy(c->consumer);
        if (c->out_rkt)
                rd_kafka_topic_destroy(c->out_rkt);
        if (c->dlq_rkt)
                rd_kafka_topic_destroy(c->dlq_rkt);
        if (c->dedupe_rkt)
                rd_kafka_topic_destroy(c->dedupe_rkt);
        for (int32_t p = 0; p < c->stores_cnt; p++)
                svc_dedupe_destroy(c->stores[p]);
        free(c->stores);
        free(c->tombs);
        if (c->restorer) {
                rd_kafka_consumer_close(c->restorer);
                rd_kafka_destroy(c->restorer);
        }
        if (c->producer)
                rd_kafka_destroy(c->producer);
}

int main(void) {
        svc_config_t cfg;
        struct consumer c = {0};
        struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: waits return */
        char errstr[512];
        int ret = 1;

        /* First: a stop asked for while the clients start ends the loop as soon as it runs. */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        if (svc_config_load(&cfg, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "configuration: %s", errstr);
                return 1;
        }
        if (configure(&c, &cfg, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "configuration: %s", errstr);
                goto out;
        }
        /* The stats line reads the same counters, so they are kept in memory without
         * METRICS_DIR too. */
        if (svc_metrics_open(&cfg, LOG_NAME, SVC_METRICS_F_IN_MEMORY, errstr, sizeof(errstr)) == -1)
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "metrics: %s", errstr);
        if (create_producer(&c, &cfg, errstr, sizeof(errstr)) == -1 ||
            create_consumer(&c, &cfg, errstr, sizeof(errstr)) == -1 ||
            prepare_dedupe(&c, &cfg, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "%s", errstr);
                goto out;
        }
        svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                "consuming %s in group %s -> %s (dead letters: %s), transactional.id %s, "
                "transactions of %ld records / %ld ms",
                c.raw_topic, c.group_id, cfg.collect_out_topic, cfg.collect_dlq_topic, c.txn_id,
                c.txn_max_events, c.txn_max_ms);

        consume(&c);
        drain(&c);
        ret = is_fatal(&c) ? 1 : 0;
        svc_log(ret ? SVC_LOG_ERROR : SVC_LOG_INFO, NULL, LOG_NAME, "exiting with status %d (%s)",
                ret, ret ? "fatal error" : "stopped by a signal");
out:
        consumer_destroy(&c);
        svc_metrics_close();
        svc_config_close(&cfg);
        return ret;
}
