/* deliver.c - Kafka first, the spool when Kafka does not acknowledge: the one completion
 * path of /collect (docs/spool.md).
 *
 * Pooled, one spool thread per process writes what Kafka failed or timed out, many
 * records per fdatasync (group commit), and settles their requests; the threads that
 * accept requests and the delivery thread never wait for the disk. Per request (CGI), the
 * one message is spooled on the spot. Whether Kafka is known to be down, so that a
 * message goes to the spool without waiting for it, is outage.c's. A message Kafka refuses
 * as too large is never spooled: no later try could deliver it.
 *
 * Threads: svc_deliver_send runs on the handler's thread; Kafka's answer (kafka_done) on
 * the producer's delivery thread; spool writes on the spool thread (pooled). done() runs
 * on whichever settles the job. Memory: a job is allocated by svc_deliver_send and freed
 * once settled, right after done(); topic, key and val stay the caller's. */
#include "deliver.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "outage.h"
#include "spool.h"

#define SPOOL_BATCH_MAX 256    /* records per append */
#define SPOOL_IDLE_SEAL_MS 100 /* pooled: an idle writer seals its file after this */

struct job {
        svc_deliver_t *dl;
        const char *topic, *key, *val;
        size_t key_len, val_len;
        svc_deliver_done_fn *done;
        void *opaque;
        struct job *next;
};

struct svc_deliver {
        svc_kafka_t *kp;
        char *spool_dir; /* NULL: no spool */
        long long spool_max_bytes;
        svc_spool_t *spool; /* opened at start (pooled) or when first needed */
        int pooled;
        svc_outage_t *outage; /* with a spool: what the host knows of Kafka's outages */

        /* the spool thread (pooled) */
        pthread_t thread;
        int thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct job *head, *tail;
        int stopping;
};

static void settle(struct job *job, svc_deliver_outcome_t outcome, const char *why) {
        job->done(job->opaque, outcome, why);
        free(job);
}

/* Opens the spool writer when it is not open yet (per request: only when needed). */
static int spool_ready(svc_deliver_t *dl, char *errstr, size_t errstr_size) {
        if (!dl->spool)
                dl->spool = svc_spool_open(dl->spool_dir, dl->spool_max_bytes, errstr, errstr_size);
        return dl->spool ? 0 : -1;
}

/* Appends jobs (at most SPOOL_BATCH_MAX) in one durable write and settles them. */
static void spool_write(svc_deliver_t *dl, struct job **jobs, size_t cnt) {
        struct svc_spool_rec recs[SPOOL_BATCH_MAX];
        char errstr[256];
        svc_spool_err_t err = SVC_SPOOL_IO;

        for (size_t i = 0; i < cnt; i++)
                recs[i] = (struct svc_spool_rec){jobs[i]->topic, jobs[i]->key, jobs[i]->key_len,
                                                 jobs[i]->val, jobs[i]->val_len};
        if (spool_ready(dl, errstr, sizeof(errstr)) == 0)
                err = svc_spool_append(dl->spool, recs, cnt, errstr, sizeof(errstr));
        if (err)
                svc_log(SVC_LOG_ERROR, NULL, "spool", "%zu message(s) not spooled: %s", cnt,
                        errstr);
        for (size_t i = 0; i < cnt; i++)
                settle(jobs[i], err ? SVC_DELIVER_FAILED : SVC_DELIVER_SPOOLED,
                       err ? (err == SVC_SPOOL_FULL ? "spool full" : "spool unwritable") : NULL);
}

static void *spool_loop(void *arg) {
        svc_deliver_t *dl = arg;
        struct job *batch[SPOOL_BATCH_MAX];
        struct timespec until;
        int unsealed = 0; /* records were appended since the file was last sealed */

        pthread_mutex_lock(&dl->lock);
        for (;;) {
                size_t n = 0;
                while (dl->head && n < SPOOL_BATCH_MAX) {
                        batch[n++] = dl->head;
                        if (!(dl->head = dl->head->next))
                                dl->tail = NULL;
                }
                if (n) {
                        pthread_mutex_unlock(&dl->lock);
                        spool_write(dl, batch, n);
                        pthread_mutex_lock(&dl->lock);
                        unsealed = 1;
                        continue;
                }
                if (dl->stopping)
                        break;
                if (!unsealed) {
                        pthread_cond_wait(&dl->cond, &dl->lock);
                        continue;
                }
                /* The burst is over (Kafka is back, or traffic paused): the file is sealed
                 * after SPOOL_IDLE_SEAL_MS without an append, so the forwarder may take it
                 * at once instead of when the file is a second old. */
                until = svc_clock_after(CLOCK_REALTIME, SPOOL_IDLE_SEAL_MS);
                if (pthread_cond_timedwait(&dl->cond, &dl->lock, &until) && !dl->head) {
                        pthread_mutex_unlock(&dl->lock);
                        svc_spool_seal(dl->spool);
                        pthread_mutex_lock(&dl->lock);
                        unsealed = 0;
                }
        }
        pthread_mutex_unlock(&dl->lock);
        return NULL;
}

static void spool_job(svc_deliver_t *dl, struct job *job) {
        if (!dl->thread_started) {
                spool_write(dl, &job, 1);
                return;
        }
        job->next = NULL;
        pthread_mutex_lock(&dl->lock);
        if (dl->tail)
                dl->tail->next = job;
        else
                dl->head = job;
        dl->tail = job;
        /* Signalled under the lock: once it is let go, the spool thread may settle the
         * job, the last request may end, and svc_deliver_destroy() free dl. */
        pthread_cond_signal(&dl->cond);
        pthread_mutex_unlock(&dl->lock);
}

/* Kafka did not take the job: to the spool when there is one. */
static void kafka_failed(struct job *job, const char *why) {
        svc_deliver_t *dl = job->dl;

        if (!dl->spool_dir) {
                settle(job, SVC_DELIVER_FAILED, why);
                return;
        }
        svc_outage_failed(dl->outage);
        spool_job(dl, job);
}

/* svc_kafka_done_fn: Kafka's answer for one job. */
static void kafka_done(void *opaque, int err, const char *why) {
        struct job *job = opaque;
        svc_deliver_t *dl = job->dl;

        if (!err) {
                if (dl->outage)
                        svc_outage_acked(dl->outage);
                settle(job, SVC_DELIVER_ACKED, NULL);
                return;
        }
        /* The same bytes would be refused again from the spool: the forwarder would only
         * set them aside. Kafka answered, so it is not down either. */
        if (svc_kafka_fail_kind(err) == SVC_KAFKA_FAIL_TOO_LARGE) {
                settle(job, SVC_DELIVER_TOO_LARGE, why);
                return;
        }
        kafka_failed(job, why);
}

void svc_deliver_send(svc_deliver_t *dl, const char *topic, const char *key, size_t key_len,
                      const char *val, size_t val_len, svc_deliver_done_fn *done, void *opaque) {
        struct job *job = malloc(sizeof(*job));
        char errstr[256];

        if (!job) {
                done(opaque, SVC_DELIVER_FAILED, "out of memory");
                return;
        }
        *job = (struct job){dl, topic, key, val, key_len, val_len, done, opaque, NULL};
        if (dl->spool_dir && svc_outage_known(dl->outage)) {
                spool_job(dl, job);
                return;
        }
        if (svc_kafka_produce_async(dl->kp, topic, key, key_len, val, val_len, kafka_done, job,
                                    errstr, sizeof(errstr)) == -1)
                kafka_failed(job, errstr);
}

svc_deliver_t *svc_deliver_new(const svc_config_t *cfg, svc_kafka_t *kp, int per_request,
                               char *errstr, size_t errstr_size) {
        svc_deliver_t *dl = calloc(1, sizeof(*dl));

        if (!dl) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        dl->kp = kp;
        dl->pooled = !per_request;
        dl->spool_max_bytes = cfg->spool_max_bytes;
        pthread_mutex_init(&dl->lock, NULL);
        pthread_cond_init(&dl->cond, NULL);
        /* No spool in dev mode: the dev store is written at once. */
        if (!cfg->spool_dir || svc_kafka_is_dev(kp))
                return dl;
        if (!(dl->spool_dir = strdup(cfg->spool_dir)) ||
            !(dl->outage = svc_outage_new(kp, cfg->spool_dir, dl->pooled))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (!dl->pooled) {
                /* One request: a cheap check now (the full one, which creates the
                 * directory, only when it fails), the writer only if Kafka fails. */
                if (access(dl->spool_dir, W_OK | X_OK) == 0 ||
                    svc_spool_writable(dl->spool_dir, errstr, errstr_size) == 0)
                        return dl;
                goto fail;
        }
        if (spool_ready(dl, errstr, errstr_size) == -1)
                goto fail;
        if (pthread_create(&dl->thread, NULL, spool_loop, dl) != 0) {
                snprintf(errstr, errstr_size, "cannot start the spool thread");
                goto fail;
        }
        dl->thread_started = 1;
        return dl;
fail:
        svc_deliver_destroy(dl);
        return NULL;
}

void svc_deliver_destroy(svc_deliver_t *dl) {
        if (!dl)
                return;
        if (dl->thread_started) {
                pthread_mutex_lock(&dl->lock);
                dl->stopping = 1;
                pthread_cond_signal(&dl->cond);
                pthread_mutex_unlock(&dl->lock);
                pthread_join(dl->thread, NULL);
        }
        svc_spool_close(dl->spool);
        svc_outage_destroy(dl->outage);
        pthread_cond_destroy(&dl->cond);
        pthread_mutex_destroy(&dl->lock);
        free(dl->spool_dir);
        free(dl);
}
