/* forwarder.c - replays the spool of /collect into Kafka: one long-running process per
 * host (docs/spool.md).
 *
 * Takes the oldest spool file it may (a sealed one, or an open one whose writer died),
 * produces every whole record with the same key and value to COLLECT_RAW_TOPIC, whatever
 * topic the record names (acks=all, idempotent producer: shared/kafka.c), and goes on with
 * the next file; once Kafka acknowledged all records of a file and of every file before
 * it, it removes the file and fsyncs the directory. Unacknowledged records over all files
 * in flight are bounded (WINDOW_*). Damaged bytes (a record torn by a crash, never
 * answered 202) are skipped and logged with the file name and offset. A file that none of
 * the service's writers made (another owner, writable by others, not a regular file) is
 * not read: it is set aside, logged and counted. When Kafka refuses a record of a file for
 * good (svc_kafka_fail_is_permanent), that file is produced again one record at a time:
 * each refused record is set aside in SPOOL_DIR/rejected/ with a dead letter
 * (rejected.c), the others go to Kafka, and the file is removed. A file Kafka did not take
 * for any other reason stays, and is
 * tried again after a growing pause; while no broker answers, the Kafka-down mark is kept
 * fresh so that the handlers spool at once instead of waiting for Kafka. After a kill -9
 * the files in flight are replayed from their start: a record may reach Kafka twice,
 * byte-identical with the same key, never zero times.
 *
 * Settings (README.md "Configuration"): KAFKA_URL, SPOOL_DIR, KAFKA_TIMEOUT_MS (how long
 * Kafka may take to acknowledge a record), RDKAFKA_*, and
 *   FORWARDER_STATS_INTERVAL_MS  10000  period of the stats log line (0: only at exit)
 *
 * SIGTERM/SIGINT: finishes the files in flight (within about KAFKA_TIMEOUT_MS, else they
 * stay for the next start) and exits 0. Exit status 1 on a configuration error, or when
 * a forwarded file cannot be removed (it would be replayed again and again). */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "heap.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "outage.h"
#include "rejected.h"
#include "spool.h"

#define LOG_NAME "forwarder"
#define IDLE_MS 200  /* how often an empty spool is looked at again */
#define PING_MS 1000 /* reachability checks while brokers answer but refused a file */
/* While no broker answers: how often one is tried (each try is a TCP connection attempt,
 * refused or timed out by the network, never a request load on a broker), how long a
 * connected broker gets to answer, and how often the Kafka-down mark is refreshed. */
#define PING_DOWN_MS 100
#define PING_ANSWER_MS 1000
#define MARK_MS 1000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
/* Produced but not yet acknowledged, over all files in flight, at most: a failure shows
 * after one window, and a SIGTERM does not wait on a full queue. */
#define WINDOW_BYTES (4 << 20)
#define WINDOW_RECORDS 10000
#define FILES_IN_FLIGHT 32 /* produced files waiting for their acknowledgements, at most */
#define SWEEP_MS 60000

static volatile sig_atomic_t run = 1;

static void stop(int sig) {
        (void)sig;
        run = 0;
}

/* A file produced (or being produced) whose acknowledgements are awaited; it is removed
 * once all of them came, after every file before it. */
struct inflight {
        svc_spool_file_t *f;
        const char *name;
        svc_kafka_batch_t *kb;
        unsigned long long records, damaged;
        unsigned long long renamed;          /* records naming another topic than the raw one */
        size_t window_bytes, window_records; /* produced since its last full acknowledgement */
        int produced;                        /* every record of it is produced */
};

struct forwarder {
        const char *dir;
        const char *topic; /* COLLECT_RAW_TOPIC: every record goes there */
        svc_kafka_t *kp;
        int timeout_ms;             /* KAFKA_TIMEOUT_MS */
        long long stop_deadline_ms; /* after a signal: when the file in progress is given up */
        long backoff_ms;            /* pause before the next try after a failure */
        int down;                   /* no broker answered since the last failure */
        int fatal;
        char *sift;     /* the file to produce one record at a time (a record refused) */
        int sift_fresh; /* sift was just set: no pause before it */
        fwd_rejected_t *rej;
        struct inflight q[FILES_IN_FLIGHT]; /* oldest first, from q[head], cnt of them */
        int head, cnt;
        size_t window_bytes, window_records; /* the sum of theirs */
};

static void nap(long long ms) {
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        if (ms > 0)
                nanosleep(&ts, NULL); /* a signal cuts it short */
}

/* Once stopping, the file in progress gets KAFKA_TIMEOUT_MS more; returns the ms left
 * (LLONG_MAX while running). */
static long long stop_left_ms(struct forwarder *fw) {
        if (run)
                return LLONG_MAX;
        if (!fw->stop_deadline_ms)
                fw->stop_deadline_ms = svc_clock_ms(CLOCK_MONOTONIC) + fw->timeout_ms;
        return fw->stop_deadline_ms - svc_clock_ms(CLOCK_MONOTONIC);
}

/* Waits until Kafka acknowledged everything produced so far. Records time out on their
 * own after KAFKA_TIMEOUT_MS (message.timeout.ms, checked about once a second), so the
 * delivery reports say why by then. While no broker is connected, librdkafka connects
 * one only when asked: it is asked every PING_DOWN_MS, so that the records waiting go as
 * soon as a broker is back instead of timing out. */
static int wait_acked(struct forwarder *fw, svc_kafka_batch_t *kb, char *errstr,
                      size_t errstr_size) {
        long long timeout = fw->timeout_ms + 2000, left = stop_left_ms(fw), end;
        char why[256];
        size_t acked;

        if (left < timeout)
                timeout = left > 0 ? left : 0;
        end = svc_clock_ms(CLOCK_MONOTONIC) + timeout;
        while (svc_kafka_brokers_down(fw->kp) &&
               end - svc_clock_ms(CLOCK_MONOTONIC) > PING_DOWN_MS) {
                long long started = svc_clock_ms(CLOCK_MONOTONIC);
                if (svc_kafka_batch_wait(kb, PING_DOWN_MS, &acked, errstr, errstr_size) == 0)
                        return 0;
                if (svc_clock_ms(CLOCK_MONOTONIC) - started < PING_DOWN_MS - 5)
                        return -1; /* ended early: every record has its report, some failed */
                svc_kafka_ping_quick(fw->kp, PING_DOWN_MS, PING_DOWN_MS, why, sizeof(why));
        }
        left = end - svc_clock_ms(CLOCK_MONOTONIC);
        return svc_kafka_batch_wait(kb, left > 0 ? (int)left : 0, &acked, errstr, errstr_size);
}

static struct inflight *oldest(struct forwarder *fw) {
        return &fw->q[fw->head];
}

/* Kafka acknowledged everything of the oldest file produced so far. */
static void acked(struct forwarder *fw) {
        struct inflight *e = oldest(fw);
        fw->window_bytes -= e->window_bytes;
        fw->window_records -= e->window_records;
        e->window_bytes = e->window_records = 0;
}

/* Drops the oldest entry; its file stays when it was not removed (f is NULL then). */
static void pop(struct forwarder *fw) {
        struct inflight *e = oldest(fw);
        fw->window_bytes -= e->window_bytes;
        fw->window_records -= e->window_records;
        svc_kafka_batch_destroy(e->kb);
        svc_spool_file_close(e->f);
        fw->head = (fw->head + 1) % FILES_IN_FLIGHT;
        fw->cnt--;
}

/* The oldest file is in Kafka, every record of it: removes it. */
static void retire(struct forwarder *fw) {
        struct inflight *e = oldest(fw);
        char errstr[512];

        /* Kafka acknowledges: handlers may produce again (before the file goes, so that
         * whoever sees it gone sees the mark gone too). */
        svc_outage_mark_up(fw->dir);
        if (fw->down)
                svc_log(SVC_LOG_INFO, NULL, LOG_NAME, "Kafka acknowledges again");
        fw->down = 0;
        fw->backoff_ms = 0;
        svc_metrics_add(SVC_METRICS_SPOOL_FILES, 1);
        svc_metrics_add(SVC_METRICS_SPOOL_FORWARDED, e->records);
        svc_metrics_add(SVC_METRICS_SPOOL_DAMAGED, e->damaged);
        if (svc_spool_file_remove(e->f, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME,
                        "fatal: %s is in Kafka but stays in the spool (%s): stopping rather "
                        "than replaying it again",
                        e->name, errstr);
                fw->fatal = 1;
                run = 0;
        }
        e->f = NULL;
        pop(fw);
}

/* Every file in flight stays, the oldest because of why: none overtakes it. Their records
 * sent so far may be in Kafka, and are produced again with them (docs/spool.md). */
static void give_up(struct forwarder *fw, const char *why) {
        const char *oldest_name = oldest(fw)->name;
        svc_kafka_batch_t *kb = oldest(fw)->kb;

        /* Kafka refused a record of the oldest file itself: that file goes one record at a
         * time next, so that the refused ones can be set aside (sift_file). */
        if (kb && svc_kafka_fail_is_permanent(svc_kafka_batch_first_err(kb)) &&
            (!fw->sift || strcmp(fw->sift, oldest_name))) {
                free(fw->sift);
                if ((fw->sift = strdup(oldest_name)))
                        fw->sift_fresh = 1;
        }
        for (int first = 1; fw->cnt; first = 0) {
                struct inflight *e = oldest(fw);
                if (first)
                        svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                                "%s stays in the spool (%llu records sent): %s", e->name,
                                e->records, why);
                else
                        svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                                "%s stays in the spool (%llu records sent) behind %s", e->name,
                                e->records, oldest_name);
                pop(fw);
        }
}

/* Waits for the oldest file's acknowledgements (of what is produced of it), and removes
 * it when it is whole. Returns -1 with errstr when Kafka did not take it. */
static int wait_oldest(struct forwarder *fw, char *errstr, size_t errstr_size) {
        if (wait_acked(fw, oldest(fw)->kb, errstr, errstr_size) == -1)
                return -1;
        acked(fw);
        if (oldest(fw)->produced)
                retire(fw);
        return 0;
}

/* Removes the oldest files Kafka acknowledged whole already, without waiting. */
static void retire_acked(struct forwarder *fw) {
        char errstr[512];
        size_t n;

        while (run && fw->cnt && oldest(fw)->produced &&
               svc_kafka_batch_wait(oldest(fw)->kb, 0, &n, errstr, sizeof(errstr)) == 0) {
                acked(fw);
                retire(fw);
        }
}

/* Waits for every file in flight, oldest first. Returns 0 when all were removed, -1 when
 * one failed (it and those after it stay). */
static int drain(struct forwarder *fw) {
        char errstr[512];

        while (fw->cnt) {
                if (fw->fatal) {
                        give_up(fw, "stopping: a forwarded file could not be removed");
                        return -1;
                }
                if (wait_oldest(fw, errstr, sizeof(errstr)) == -1) {
                        give_up(fw, errstr);
                        return -1;
                }
        }
        return 0;
}

/* Produces the records of a file one at a time, each waited for, because Kafka refused
 * one of them for good: a refused record is set aside (rejected.c: its bytes in
 * rejected/, a dead letter) and counted, the others go to Kafka; then the file is
 * removed. Returns 0, or -1 when a record could be neither delivered nor set aside now
 * (the file stays; its records sent so far are produced again with it). */
static int sift_file(struct forwarder *fw, svc_spool_file_t *f, const char *name) {
        unsigned long long records = 0, rejected = 0, damaged = 0;
        struct svc_spool_rec rec;
        svc_spool_next_t next;
        size_t off, len;
        char errstr[512], why[512];

        svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                "%s: Kafka refused a record of it for good: producing it one record at a time",
                name);
        while ((next = svc_spool_file_next(f, &rec, &off, &len)) != SVC_SPOOL_END) {
                svc_kafka_batch_t *kb;
                int err = 0;

                if (next == SVC_SPOOL_DAMAGED) {
                        damaged++;
                        continue;
                }
                if (!run) {
                        snprintf(errstr, sizeof(errstr), "stopping");
                        goto failed;
                }
                if (!(kb = svc_kafka_batch_new(fw->kp))) {
                        snprintf(errstr, sizeof(errstr), "out of memory");
                        goto failed;
                }
                if (svc_kafka_batch_produce(kb, fw->topic, rec.key, rec.key_len, rec.val,
                                            rec.val_len, why, sizeof(why)) == 0 &&
                    wait_acked(fw, kb, why, sizeof(why)) == 0) {
                        svc_kafka_batch_destroy(kb);
                        records++;
                        continue;
                }
                err = svc_kafka_batch_first_err(kb);
                svc_kafka_batch_destroy(kb);
                if (!svc_kafka_fail_is_permanent(err)) {
                        snprintf(errstr, sizeof(errstr), "%s", why);
                        goto failed;
                }
                snprintf(why, sizeof(why), "%s", svc_kafka_err_str(err));
                if (fwd_rejected_keep(fw->rej, &rec, why, errstr, sizeof(errstr)) == -1)
                        goto failed;
                rejected++;
                svc_metrics_add(SVC_METRICS_SPOOL_REJECTED, 1);
                svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                        "%s: the record at offset %zu (%zu bytes) is refused for good (%s): "
                        "kept in %s/" FWD_REJECTED_DIR ", dead letter sent",
                        name, off, len, why, fw->dir);
        }
        fwd_rejected_seal(fw->rej);
        svc_outage_mark_up(fw->dir);
        fw->down = 0;
        fw->backoff_ms = 0;
        svc_metrics_add(SVC_METRICS_SPOOL_FILES, 1);
        svc_metrics_add(SVC_METRICS_SPOOL_FORWARDED, records);
        svc_metrics_add(SVC_METRICS_SPOOL_DAMAGED, damaged);
        free(fw->sift);
        fw->sift = NULL;
        svc_log(SVC_LOG_INFO, NULL, LOG_NAME, "%s: %llu records in Kafka, %llu set aside", name,
                records, rejected);
        if (svc_spool_file_remove(f, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME,
                        "fatal: %s is in Kafka but stays in the spool (%s): stopping rather "
                        "than replaying it again",
                        name, errstr);
                fw->fatal = 1;
                run = 0;
                return -1;
        }
        return 0;
failed:
        fwd_rejected_seal(fw->rej);
        svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "%s stays in the spool (%llu records sent): %s", name,
                records + rejected, errstr);
        svc_spool_file_close(f);
        return -1;
}

/* Produces every whole record of one taken file, in flight behind the files before it,
 * waiting for the oldest ones while the window is full. Returns 0, or -1 when a wait
 * failed (every file in flight stays) or the file could not be produced (the files before
 * it are drained, it stays). */
static int forward_file(struct forwarder *fw, svc_spool_file_t *f, const char *name) {
        struct inflight *e;
        struct svc_spool_rec rec;
        svc_spool_next_t next;
        size_t off, len;
        char errstr[512];

        if (fw->sift && !strcmp(fw->sift, name)) {
                if (drain(fw) == -1) {
                        svc_spool_file_close(f);
                        return -1;
                }
                return sift_file(fw, f, name);
        }
        if (fw->cnt == FILES_IN_FLIGHT && wait_oldest(fw, errstr, sizeof(errstr)) == -1) {
                give_up(fw, errstr);
                svc_spool_file_close(f);
                return -1;
        }
        e = &fw->q[(fw->head + fw->cnt++) % FILES_IN_FLIGHT];
        *e = (struct inflight){.f = f, .name = name, .kb = svc_kafka_batch_new(fw->kp)};
        if (!e->kb) {
                snprintf(errstr, sizeof(errstr), "out of memory");
                goto refused;
        }
        while ((next = svc_spool_file_next(f, &rec, &off, &len)) != SVC_SPOOL_END) {
                if (next == SVC_SPOOL_DAMAGED) {
                        svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                                "%s: skipping %zu damaged bytes at offset %zu (a record torn "
                                "by a crash, or corrupt)",
                                name, len, off);
                        e->damaged++;
                        continue;
                }
                while (fw->window_bytes >= WINDOW_BYTES || fw->window_records >= WINDOW_RECORDS)
                        if (wait_oldest(fw, errstr, sizeof(errstr)) == -1)
                                goto failed;
                /* Only /collect spools, and only its raw topic: a record naming another
                 * one (hand-made, or spooled before COLLECT_RAW_TOPIC changed) goes there
                 * too, where the consumer checks it like any raw message. */
                if (strcmp(rec.topic, fw->topic) && !e->renamed++)
                        svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                                "%s: a record names the topic \"%s\": produced to %s, as "
                                "every spooled record",
                                name, rec.topic, fw->topic);
                /* Metadata first (once): a fresh producer could otherwise wait for its
                 * next topic scan, up to a second, and without a broker the file fails
                 * here at once. */
                if (svc_kafka_prepare_topic(fw->kp, fw->topic, errstr, sizeof(errstr)) == -1 ||
                    svc_kafka_batch_produce(e->kb, fw->topic, rec.key, rec.key_len, rec.val,
                                            rec.val_len, errstr, sizeof(errstr)) == -1)
                        goto refused;
                e->records++;
                e->window_bytes += len, fw->window_bytes += len;
                e->window_records++, fw->window_records++;
                if (stop_left_ms(fw) <= 0) {
                        snprintf(errstr, sizeof(errstr), "stopping: no time left");
                        goto failed;
                }
        }
        e->produced = 1;
        return 0;
refused: /* this file stays; those before it may still be taken */
        if (fw->cnt > 1) {
                struct inflight last = *e;
                fw->cnt--;
                if (drain(fw) == -1) { /* they stay too, and this one behind them */
                        fw->window_bytes -= last.window_bytes;
                        fw->window_records -= last.window_records;
                        svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                                "%s stays in the spool (%llu records sent): %s", last.name,
                                last.records, errstr);
                        svc_kafka_batch_destroy(last.kb);
                        svc_spool_file_close(last.f);
                        return -1;
                }
                fw->q[(fw->head + fw->cnt++) % FILES_IN_FLIGHT] = last;
        }
failed:
        give_up(fw, errstr);
        return -1;
}

/* After a file failed. While no broker answers, asks again every PING_DOWN_MS and
 * refreshes the Kafka-down mark every second (handlers then spool at once instead of
 * waiting for Kafka), until one answers. When brokers answer but did not take the file,
 * waits a growing pause. */
static void pause_after_failure(struct forwarder *fw) {
        long long until = svc_clock_ms(CLOCK_MONOTONIC), marked = 0;
        char errstr[256];

        svc_metrics_add(SVC_METRICS_SPOOL_FAILURES, 1);
        /* The first failure after a success is tried again as soon as a broker answers
         * (records that timed out while a broker came back were not refused); then the
         * pause doubles from BACKOFF_MIN_MS. */
        if (fw->backoff_ms) {
                fw->backoff_ms *= 2;
                if (fw->backoff_ms > BACKOFF_MAX_MS)
                        fw->backoff_ms = BACKOFF_MAX_MS;
                until += fw->backoff_ms;
        } else {
                fw->backoff_ms = BACKOFF_MIN_MS / 2; /* doubled at the next failure */
        }
        while (run) {
                long long started = svc_clock_ms(CLOCK_MONOTONIC);
                /* quick: librdkafka connects a broker when asked, so one long wait
                 * would try a single connection and then only wait */
                if (svc_kafka_ping_quick(fw->kp, PING_DOWN_MS, PING_ANSWER_MS, errstr,
                                         sizeof(errstr)) == 0) {
                        if (fw->down) {
                                svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                                        "a broker answers again: forwarding");
                                fw->down = 0;
                                return;
                        }
                } else {
                        if (svc_clock_ms(CLOCK_MONOTONIC) - marked >= MARK_MS) {
                                svc_outage_mark_down(fw->dir);
                                marked = svc_clock_ms(CLOCK_MONOTONIC);
                        }
                        if (!fw->down)
                                svc_log(SVC_LOG_WARN, NULL, LOG_NAME,
                                        "Kafka unreachable (%s): marked down, handlers spool "
                                        "at once",
                                        errstr);
                        fw->down = 1;
                }
                if (!fw->down && svc_clock_ms(CLOCK_MONOTONIC) >= until)
                        return;
                nap((fw->down ? PING_DOWN_MS : PING_MS) -
                    (svc_clock_ms(CLOCK_MONOTONIC) - started));
        }
}

static void log_stats(struct forwarder *fw) {
        long long records = -1, bytes = -1;
        struct svc_heap heap;

        svc_spool_usage(fw->dir, &records, &bytes);
        svc_heap_get(&heap);
        svc_log(SVC_LOG_INFO, NULL, LOG_NAME,
                "stats files=%llu records=%llu damaged=%llu failures=%llu refused=%llu "
                "rejected=%llu spool_records=%lld spool_bytes=%lld heap_used_kb=%zu "
                "heap_free_kb=%zu kafka=%s",
                (unsigned long long)svc_metrics_get(SVC_METRICS_SPOOL_FILES),
                (unsigned long long)svc_metrics_get(SVC_METRICS_SPOOL_FORWARDED),
                (unsigned long long)svc_metrics_get(SVC_METRICS_SPOOL_DAMAGED),
                (unsigned long long)svc_metrics_get(SVC_METRICS_SPOOL_FAILURES),
                (unsigned long long)svc_metrics_get(SVC_METRICS_SPOOL_REFUSED),
                (unsigned long long)svc_metrics_get(SVC_METRICS_SPOOL_REJECTED), records, bytes,
                heap.used_bytes / 1024, heap.free_bytes / 1024, fw->down ? "down" : "up");
}

/* One pass over the spool, oldest first. Returns 1 when files were taken (and
 * forwarded), 0 when there was nothing to take, -1 when a file failed (it stays). */
static int forward_all(struct forwarder *fw) {
        char errstr[512];
        char **names = svc_spool_list(fw->dir, errstr, sizeof(errstr));
        int ret = 0;

        if (!names) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "%s", errstr);
                return -1;
        }
        for (char **name = names; *name && run; name++) {
                svc_spool_file_t *f;
                int rc = svc_spool_file_open(fw->dir, *name, SVC_SPOOL_F_TAKE, &f, errstr,
                                             sizeof(errstr));
                if (rc == 0)
                        continue; /* its writer lives, or it was sealed meanwhile */
                if (rc == -2) {   /* not made by a writer of this user: set aside */
                        svc_log(SVC_LOG_WARN, NULL, LOG_NAME, "%s", errstr);
                        svc_metrics_add(SVC_METRICS_SPOOL_REFUSED, 1);
                        continue;
                }
                if (rc == -1) {
                        svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "%s", errstr);
                        continue;
                }
                if (forward_file(fw, f, *name) == -1) {
                        ret = -1; /* oldest first: no newer file overtakes it */
                        break;
                }
                ret = 1;
                retire_acked(fw);
        }
        if (drain(fw) == -1) /* before the names the files in flight point to are freed */
                ret = -1;
        svc_spool_list_free(names);
        return ret;
}

int main(void) {
        svc_config_t cfg;
        struct forwarder fw = {0};
        char errstr[512];
        long stats_interval_ms;
        long long last_stats, last_sweep = 0;
        int ret = 1, replayed = 0; /* files went to Kafka since the spool was last empty */
        struct sigaction sa = {.sa_handler = stop}; /* no SA_RESTART: naps end at once */

        /* Its threads take turns (a replay, then idle): one arena, so the trim after a
         * replay gives back what librdkafka's threads freed too. */
        svc_heap_one_arena();
        if (svc_config_load(&cfg, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "configuration: %s", errstr);
                return 1;
        }
        if (!cfg.spool_dir) {
                svc_log(SVC_LOG_INFO, NULL, LOG_NAME, "SPOOL_DIR=off: nothing to forward");
                ret = 0;
                goto out;
        }
        if (!cfg.kafka_url || cfg.dev_mode) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME,
                        "KAFKA_URL is unset or FORCE_DEV_MODE=true: there is no Kafka to "
                        "forward the spool to");
                goto out;
        }
        if (svc_config_int(&cfg, "FORWARDER_STATS_INTERVAL_MS", 10000, 0, 86400000,
                           &stats_interval_ms, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "configuration: %s", errstr);
                goto out;
        }
        /* It removes files: a spool it cannot write to is a start-up error. */
        if (svc_spool_writable(cfg.spool_dir, errstr, sizeof(errstr)) == -1) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "%s", errstr);
                goto out;
        }
        /* Its stats line reads the same counters: kept in memory without METRICS_DIR too. */
        if (svc_metrics_open(&cfg, LOG_NAME, SVC_METRICS_F_IN_MEMORY, errstr, sizeof(errstr)) == -1)
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "metrics: %s", errstr);
        fw.dir = cfg.spool_dir;
        fw.topic = cfg.collect_raw_topic;
        fw.timeout_ms = cfg.kafka_timeout_ms;
        if (!(fw.kp = svc_kafka_new(&cfg, SVC_KAFKA_F_QUICK_RECONNECT, errstr, sizeof(errstr)))) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "kafka producer: %s", errstr);
                goto out;
        }
        if (!(fw.rej = fwd_rejected_new(fw.dir, cfg.spool_max_bytes, fw.kp, cfg.collect_dlq_topic,
                                        fw.timeout_ms))) {
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME, "out of memory");
                goto out;
        }
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        svc_log(SVC_LOG_INFO, NULL, LOG_NAME, "forwarding %s to %s", fw.dir, cfg.kafka_url);

        last_stats = svc_clock_ms(CLOCK_MONOTONIC);
        while (run) {
                int rc;
                if (svc_clock_ms(CLOCK_MONOTONIC) - last_sweep >= SWEEP_MS) {
                        svc_spool_sweep(fw.dir);
                        last_sweep = svc_clock_ms(CLOCK_MONOTONIC);
                }
                rc = forward_all(&fw);
                if (rc == -1 && run && fw.sift_fresh)
                        fw.sift_fresh = 0; /* the file Kafka refused a record of: at once */
                else if (rc == -1 && run)
                        pause_after_failure(&fw);
                if (rc == 1)
                        replayed = 1;
                if (rc == 0 && replayed) {
                        /* The spool is empty again after a replay: the files read and the
                         * copies produced were freed, but the allocator keeps what they
                         * took (measured: 11 MB kept, 0.1 MB in use, after a 30 s outage
                         * at 2,200 requests/s) unless asked to give it back. */
                        svc_heap_trim(0);
                        replayed = 0;
                }
                if (rc == 0)
                        nap(IDLE_MS);
                if (stats_interval_ms &&
                    svc_clock_ms(CLOCK_MONOTONIC) - last_stats >= stats_interval_ms) {
                        log_stats(&fw);
                        last_stats = svc_clock_ms(CLOCK_MONOTONIC);
                }
        }
        log_stats(&fw);
        ret = fw.fatal ? 1 : 0;
        svc_log(fw.fatal ? SVC_LOG_ERROR : SVC_LOG_INFO, NULL, LOG_NAME, "exiting with status %d",
                ret);
out:
        /* Whatever is still in flight belongs to a file that stays: no need to wait long. */
        fwd_rejected_destroy(fw.rej);
        free(fw.sift);
        svc_kafka_destroy(fw.kp, 1000 /* ms */);
        svc_metrics_close(); /* after the delivery thread, which counts too */
        svc_config_close(&cfg);
        return ret;
}
