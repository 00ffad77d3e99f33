/* kafka.c - the configuration of every Kafka client of the service, and the handlers'
 * producer on librdkafka (or the dev store when Kafka is not configured). The only file of
 * shared/ that includes librdkafka (README.md, "Kafka clients"). */
#include "kafka.h"

#include <librdkafka/rdkafka.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "jbuf.h"
#include "log.h"
#include "metrics.h"

#define DEV_FLUSH_BYTES (64 * 1024) /* dev store: append in chunks of whole lines */
#define KAFKA_MAX_WARM 4            /* topics warmed up, see warm_up() */
/* A batch serves delivery reports itself from its SERVE_AFTER-th message on, looks at them
 * every SERVE_EVERY messages, and is relied on while it looked within SERVE_STALE_MS
 * (batch_serve()). */
#define SERVE_AFTER 1000
#define SERVE_EVERY 64
#define SERVE_STALE_MS 20
#define NAP_MS 5 /* the poller's nap while batches serve; a wait for queue room */

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
        atomic_int serving;           /* batches that serve delivery reports: batch_serve() */
        atomic_llong served_ms;       /* when one of them last polled (CLOCK_MONOTONIC) */
        pthread_mutex_t pending_lock;
        struct async_msg *pending_head, *pending_tail; /* async messages by deadline */
        rd_kafka_topic_t *warm_rkt[KAFKA_MAX_WARM];    /* their handles, see produce_msg() */
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
        int serving;        /* this batch's thread serves delivery reports: batch_serve() */
        char first_err[256];
        svc_jbuf_t dev; /* dev mode: lines not yet appended */
};

int svc_kafka_is_dev(const svc_kafka_t *kp) {
        return kp->rk == NULL;
}

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

/* Runs on the poller thread, once per message of a batch, with its final outcome. */
static void batch_report(struct report_to *to, const rd_kafka_message_t *rkm) {
        svc_kafka_batch_t *kb = (svc_kafka_batch_t *)to;
        if (rkm->err) {
                pthread_mutex_lock(&kb->lock);
                if (!kb->first_err[0])
                        snprintf(kb->first_err, sizeof(kb->first_err), "%s: %s",
                                 rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err));
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

/* One message produced by svc_kafka_produce_async(). Its caller hears once: from the
 * delivery report, or at its deadline if that comes first (librdkafka's own
 * message.timeout.ms is checked only about once a second while no broker is up). The
 * report still comes later and frees it. */
struct async_msg {
        struct report_to to; /* async_report */
        svc_kafka_t *kp;
        svc_kafka_done_fn *done;
        void *opaque;
        atomic_int settled; /* done() was called */
        int linked;         /* in kp's pending list (under pending_lock) */
        long long deadline_ms;
        struct async_msg *prev, *next;
};

static void pending_unlink_locked(svc_kafka_t *kp, struct async_msg *am) {
        if (!am->linked)
                return;
        if (am->prev)
                am->prev->next = am->next;
        else
                kp->pending_head = am->next;
        if (am->next)
                am->next->prev = am->prev;
        else
                kp->pending_tail = am->prev;
        am->linked = 0;
}

static void settle(struct async_msg *am, const char *why) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&am->settled, &expected, 1))
                am->done(am->opaque, why);
}

static void async_report(struct report_to *to, const rd_kafka_message_t *rkm) {
        struct async_msg *am = (struct async_msg *)to;
        char why[256];

        pthread_mutex_lock(&am->kp->pending_lock);
        pending_unlink_locked(am->kp, am);
        pthread_mutex_unlock(&am->kp->pending_lock);
        if (rkm->err)
                snprintf(why, sizeof(why), "%s: %s", rd_kafka_topic_name(rkm->rkt),
                         rd_kafka_err2str(rkm->err));
        settle(am, rkm->err ? why : NULL);
        free(am);
}

/* Settles the messages whose deadline passed; returns ms until the next one (<= max). */
static int expire_pending(svc_kafka_t *kp, int max) {
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
                pending_unlink_locked(kp, am);
                pthread_mutex_unlock(&kp->pending_lock);
                atomic_store(&kp->down, 1);
                snprintf(why, sizeof(why), "no acknowledgement from Kafka within %d ms",
                         kp->timeout_ms);
                settle(am, why);
        }
}

/* Errors that say no broker can be reached (rather than one message being refused). */
static int means_down(rd_kafka_resp_err_t err) {
        return err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
               err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
}

/* The events_kafka_delivery_errors_total label of a failed delivery. */
static svc_metrics_counter_t error_kind(rd_kafka_resp_err_t err) {
        switch (err) {
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT: return SVC_METRICS_KAFKA_ERR_TIMED_OUT;
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN: return SVC_METRICS_KAFKA_ERR_BROKER_DOWN;
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
        case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT: return SVC_METRICS_KAFKA_ERR_PURGED;
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: return SVC_METRICS_KAFKA_ERR_TOO_LARGE;
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION: return SVC_METRICS_KAFKA_ERR_UNKNOWN_TOPIC;
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
                return SVC_METRICS_KAFKA_ERR_NOT_AUTHORIZED;
        default: return SVC_METRICS_KAFKA_ERR_OTHER;
        }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
        svc_kafka_t *kp = opaque;
        struct report_to *to = rkm->_private;
        int64_t latency_us;
        (void)rk;
        if (!rkm->err) {
                if (atomic_load(&kp->down)) /* a store per message would bounce its line */
                        atomic_store(&kp->down, 0);
                if ((latency_us = rd_kafka_message_latency(rkm)) >= 0)
                        svc_metrics_kafka_acked((uint64_t)latency_us);
        } else {
                if (means_down(rkm->err))
                        atomic_store(&kp->down, 1);
                svc_metrics_add(error_kind(rkm->err), 1);
        }
        to->report(to, rkm);
}

/* librdkafka's own errors: it retries by itself. "All brokers down" is worth acting on
 * at once: the messages still waiting to be sent fail now (their callers may spool them)
 * instead of each waiting for its time-out. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        svc_kafka_t *kp = opaque;
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                atomic_store(&kp->down, 1);
                rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_NON_BLOCKING);
        }
        svc_log(SVC_LOG_WARN, NULL, "kafka", "%s: %s", rd_kafka_err2name(err), reason);
}

int svc_kafka_brokers_down(svc_kafka_t *kp) {
        return atomic_load(&kp->down);
}

/* Raw collect messages are keyed by request id, unique per message: hashing the key
 * spreads a pooled process's messages over every partition in batches of one or two.
 * That topic gets a sticky partitioner instead (one partition per 10 ms, different per
 * process, as KIP-480 does for keyless records), but only with DEDUPE_WINDOW_MS=0: the
 * consumer recognises copies of a request within one partition (consumer/README.md,
 * "Copies"), so they must land where the key hash puts them. */
static unsigned sticky_salt;

static int32_t sticky_partitioner(const rd_kafka_topic_t *rkt, const void *key, size_t key_len,
                                  int32_t partition_cnt, void *rkt_opaque, void *msg_opaque) {
        struct timespec now;
        int32_t p;

        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
        p = (int32_t)(((unsigned long long)now.tv_sec * 100 +
                       (unsigned long long)now.tv_nsec / 10000000 + sticky_salt) %
                      (unsigned)partition_cnt);
        if (rd_kafka_topic_partition_available(rkt, p))
                return p;
        return rd_kafka_msg_partitioner_consistent_random(rkt, key, key_len, partition_cnt,
                                                          rkt_opaque, msg_opaque);
}

/* The topic handle that carries the sticky partitioner (producev finds it by name). */
static rd_kafka_topic_t *sticky_topic_new(rd_kafka_t *rk, const char *topic) {
        rd_kafka_topic_conf_t *tconf = rd_kafka_default_topic_conf_dup(rk);
        rd_kafka_topic_t *rkt;

        if (!tconf)
                return NULL;
        sticky_salt = (unsigned)getpid();
        rd_kafka_topic_conf_set_partitioner_cb(tconf, sticky_partitioner);
        if (!(rkt = rd_kafka_topic_new(rk, topic, tconf)))
                rd_kafka_topic_conf_destroy(tconf);
        return rkt;
}

static void nap_ms(int ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

/* 1 while a batch serves the delivery reports (batch_serve()) and polled lately. */
static int served_by_batches(svc_kafka_t *kp) {
        return atomic_load(&kp->serving) > 0 &&
               svc_clock_ms(CLOCK_MONOTONIC) - atomic_load(&kp->served_ms) < SERVE_STALE_MS;
}

static void *poll_loop(void *arg) {
        svc_kafka_t *kp = arg;
        int wait_ms = 100;
        while (atomic_load(&kp->run)) {
                if (served_by_batches(kp))
                        nap_ms(NAP_MS);
                else /* wakes at once on a report */
                        rd_kafka_poll(kp->rk, atomic_load(&kp->serving) ? NAP_MS : wait_ms);
                wait_ms = expire_pending(kp, 100);
                svc_metrics_set(SVC_METRICS_KAFKA_QUEUE, rd_kafka_outq_len(kp->rk));
        }
        return NULL;
}

/* Cyrus SASL plugins (dlopen of every installed mechanism, about 5 ms of CPU at each
 * start) serve only GSSAPI, the default mechanism of a SASL security.protocol; PLAIN,
 * SCRAM and OAUTHBEARER are built into librdkafka. */
static int needs_sasl_plugins(const svc_config_t *cfg) {
        const char *proto = "", *mech = "GSSAPI";
        for (char **p = cfg->rdkafka; p && *p; p++) {
                if (!strncmp(*p, "security.protocol=", 18))
                        proto = *p + 18;
                else if (!strncmp(*p, "sasl.mechanisms=", 16) ||
                         !strncmp(*p, "sasl.mechanism=", 15))
                        mech = strchr(*p, '=') + 1;
        }
        return !strncasecmp(proto, "sasl", 4) && !strcasecmp(mech, "GSSAPI");
}

/* librdkafka's log lines (syslog levels) as the service's own. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        svc_log(level <= 3   ? SVC_LOG_ERROR
                : level == 4 ? SVC_LOG_WARN
                : level <= 6 ? SVC_LOG_INFO
                             : SVC_LOG_DEBUG,
                NULL, "kafka", "%s: %s: %s", rk ? rd_kafka_name(rk) : "rdkafka", fac, buf);
}

/* Sets "name=value" (an RDKAFKA_* setting); errstr names the setting. */
static int set_passthrough(rd_kafka_conf_t *conf, const char *prop, char *errstr,
                           size_t errstr_size) {
        const char *eq = strchr(prop, '=');
        char name[256], why[512];

        if (!eq || (size_t)(eq - prop) >= sizeof(name)) {
                snprintf(errstr, errstr_size, "RDKAFKA_* setting %.64s...: no such property", prop);
                return -1;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(eq - prop), prop);
        if (rd_kafka_conf_set(conf, name, eq + 1, why, sizeof(why)) == RD_KAFKA_CONF_OK)
                return 0;
        snprintf(errstr, errstr_size, "RDKAFKA_* setting %s: %s", name, why);
        return -1;
}

rd_kafka_conf_t *svc_kafka_conf_new(const svc_config_t *cfg, const char *const *props, char *errstr,
                                    size_t errstr_size) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();

        if (!conf) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        rd_kafka_conf_set_log_cb(conf, log_cb);
        if (cfg->kafka_url && rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_url, errstr,
                                                errstr_size) != RD_KAFKA_CONF_OK)
                goto fail;
        /* a larger message is refused at produce(), before it reaches a broker */
        if (rd_kafka_conf_set(conf, "message.max.bytes", SVC_KAFKA_MESSAGE_MAX_STR, errstr,
                              errstr_size) != RD_KAFKA_CONF_OK)
                goto fail;
        for (; props && *props; props += 2)
                if (rd_kafka_conf_set(conf, props[0], props[1], errstr, errstr_size) !=
                    RD_KAFKA_CONF_OK)
                        goto fail;
        for (char **p = cfg->rdkafka; p && *p; p++) /* last: an operator's setting wins */
                if (set_passthrough(conf, *p, errstr, errstr_size) == -1)
                        goto fail;
        return conf;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

/* The handlers' producer: acks=all, idempotent, and bounded in time and memory. */
static rd_kafka_conf_t *producer_conf(const svc_config_t *cfg, int flags, char *errstr,
                                      size_t errstr_size) {
        int per_request = flags & SVC_KAFKA_F_PER_REQUEST;
        char timeout[16];
        snprintf(timeout, sizeof(timeout), "%d", cfg->kafka_timeout_ms);
        /* clang-format off */
        const char *props[] = {
                "acks", "all",
                "enable.idempotence", "true",
                /* a message not delivered by the time the client gave up on it fails too */
                "message.timeout.ms", timeout,
                "socket.connection.setup.timeout.ms", timeout,
                /* pooled: fewer produce requests and broker-thread wake-ups per message;
                 * no request thread waits for them (docs/operations.md, "Scaling") */
                "linger.ms", per_request ? "0" : "3",
                "queue.buffering.max.messages", per_request ? "10000" : "100000",
                /* bounds memory for a million-row ingest: a batch waits for room when it is full */
                "queue.buffering.max.kbytes", per_request ? "2048" : "8192",
                /* after an outage, reconnect within a second, not librdkafka's 10 s (the
                 * forwarder: within 0.1 s, as often as it asks) */
                "reconnect.backoff.max.ms", flags & SVC_KAFKA_F_QUICK_RECONNECT ? "100" : "1000",
                "log_level", "4",
                NULL};
        /* clang-format on */
        return svc_kafka_conf_new(cfg, props, errstr, errstr_size);
}

svc_kafka_t *svc_kafka_new(const svc_config_t *cfg, int flags, char *errstr, size_t errstr_size) {
        svc_kafka_t *kp = calloc(1, sizeof(*kp));
        rd_kafka_conf_t *conf = NULL;
        int per_request = flags & SVC_KAFKA_F_PER_REQUEST;

        if (!kp) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        kp->timeout_ms = cfg->kafka_timeout_ms;
        kp->per_request = per_request;
        pthread_mutex_init(&kp->pending_lock, NULL);
        if (cfg->dev_mode) {
                if (!(kp->dev_store = strdup(cfg->dev_store))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto fail;
                }
                return kp;
        }

        if (!(conf = producer_conf(cfg, flags, errstr, errstr_size)))
                goto fail;
        rd_kafka_conf_set_opaque(conf, kp);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        /* One request, one process: skip the plugin scan nobody will use (SASL_PATH is
         * Cyrus SASL's plugin directory; the process is still single-threaded here). */
        if (per_request && !getenv("SASL_PATH") && !needs_sasl_plugins(cfg))
                setenv("SASL_PATH", "/nonexistent", 0);
        if (!(kp->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size)))
                goto fail;
        conf = NULL; /* now owned, and freed, by the rd_kafka_t instance */
        const char *window = svc_config_get(cfg, "DEDUPE_WINDOW_MS");
        if (!per_request && window && !strcmp(window, "0") &&
            !(kp->sticky_rkt = sticky_topic_new(kp->rk, cfg->collect_raw_topic)))
                svc_log(SVC_LOG_WARN, NULL, "kafka", "%s: no sticky partitioner: %s",
                        cfg->collect_raw_topic, rd_kafka_err2str(rd_kafka_last_error()));
        atomic_store(&kp->run, 1);
        if (pthread_create(&kp->poller, NULL, poll_loop, kp) != 0) {
                snprintf(errstr, errstr_size, "cannot start the delivery thread");
                atomic_store(&kp->run, 0);
                goto fail;
        }
        return kp;
fail:
        if (conf)
                rd_kafka_conf_destroy(conf);
        if (kp->sticky_rkt)
                rd_kafka_topic_destroy(kp->sticky_rkt);
        if (kp->rk)
                rd_kafka_destroy(kp->rk);
        free(kp->dev_store);
        free(kp);
        return NULL;
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

static int dev_flush(svc_kafka_batch_t *kb, char *errstr, size_t errstr_size) {
        if (kb->dev.len == 0)
                return 0;
        if (svc_log_append_line(kb->kp->dev_store, kb->dev.ptr, kb->dev.len, errstr, errstr_size) ==
            -1)
                return -1;
        atomic_store(&kb->acked, atomic_load(&kb->queued)); /* appended: as good as acked */
        svc_jbuf_reset(&kb->dev);
        return 0;
}

/* Dev store line: {"topic":"...","key":"...","value":<the record>}. A line that cannot be
 * written leaves the lines before it as they were. */
static int dev_produce(svc_kafka_batch_t *kb, const char *topic, const char *key, size_t key_len,
                       const char *val, size_t val_len, char *errstr, size_t errstr_size) {
        svc_jbuf_t *b = &kb->dev;
        size_t start = b->len;

        if (!key || !svc_jbuf_utf8_valid(topic, strlen(topic)) ||
            !svc_jbuf_utf8_valid(key, key_len)) {
                snprintf(errstr, errstr_size, "topic or key is not valid UTF-8");
                return -1;
        }
        SVC_JBUF_LIT(b, "{\"topic\":");
        svc_jbuf_str(b, topic, strlen(topic));
        SVC_JBUF_LIT(b, ",\"key\":");
        svc_jbuf_str(b, key, key_len);
        SVC_JBUF_LIT(b, ",\"value\":");
        svc_jbuf_put(b, val, val_len);
        SVC_JBUF_LIT(b, "}\n");
        if (b->err) {
                svc_jbuf_truncate(b, start);
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        atomic_fetch_add(&kb->queued, 1);
        return b->len >= DEV_FLUSH_BYTES ? dev_flush(kb, errstr, errstr_size) : 0;
}

/* A fresh producer sometimes misses the metadata of the first topic it produces to (its
 * leader query races with the bootstrap broker changing its name once the first metadata
 * answer is in) and then waits for librdkafka's 1 s topic scan: measured on 7 of 300
 * per-request processes, and on the first request of fresh pools. One metadata request
 * for the topic before its first message (one round trip) removes that wait: per request
 * from svc_kafka_batch_produce (single-threaded), pooled from svc_kafka_prepare_topic
 * before serving; once per topic.
 * Returns -1 with errstr when no broker answered within KAFKA_TIMEOUT_MS: the message
 * would not have been delivered either, and the request keeps to its deadline. */
static int warm_up(svc_kafka_t *kp, const char *topic, char *errstr, size_t errstr_size) {
        const struct rd_kafka_metadata *md;
        rd_kafka_resp_err_t err;
        rd_kafka_topic_t *rkt;
        int i;

        for (i = 0; i < KAFKA_MAX_WARM && kp->warm[i]; i++)
                if (!strcmp(kp->warm[i], topic))
                        return 0;
        if (i == KAFKA_MAX_WARM || !(rkt = rd_kafka_topic_new(kp->rk, topic, NULL)))
                return 0;
        err = rd_kafka_metadata(kp->rk, 0, rkt, &md, kp->timeout_ms);
        if (err) {
                rd_kafka_topic_destroy(rkt);
                snprintf(errstr, errstr_size, "no metadata for %s within %d ms: %s", topic,
                         kp->timeout_ms, rd_kafka_err2str(err));
                return -1;
        }
        rd_kafka_metadata_destroy(md);
        /* kept: messages to it are produced on it rather than looked up by name; a handle
         * of a topic is the same topic (and partitioner) as any other handle of it. The
         * handle is in place before the name that produce_msg() looks for. */
        kp->warm_rkt[i] = rkt;
        if (!(kp->warm[i] = strdup(topic))) {
                kp->warm_rkt[i] = NULL;
                rd_kafka_topic_destroy(rkt);
        }
        return 0;
}

int svc_kafka_prepare_topic(svc_kafka_t *kp, const char *topic, char *errstr, size_t errstr_size) {
        return kp->rk ? warm_up(kp, topic, errstr, errstr_size) : 0;
}

/* Hands one message to librdkafka: on the warmed-up topic's handle when there is one (no
 * lookup by name), else by name. warm[] is only written before serving (pooled) or on the
 * one thread (per request), so it is read here without a lock. */
static rd_kafka_resp_err_t produce_msg(svc_kafka_t *kp, const char *topic, const char *key,
                                       size_t key_len, const char *val, size_t val_len,
                                       int msgflags, struct report_to *opaque) {
        for (int i = 0; i < KAFKA_MAX_WARM && kp->warm[i]; i++) {
                if (strcmp(kp->warm[i], topic))
                        continue;
                if (rd_kafka_produce(kp->warm_rkt[i], RD_KAFKA_PARTITION_UA, msgflags, (void *)val,
                                     val_len, key, key_len, opaque) == -1)
                        return rd_kafka_last_error();
                return RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        return rd_kafka_producev(kp->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                 RD_KAFKA_V_VALUE((void *)val, val_len),
                                 RD_KAFKA_V_MSGFLAGS(msgflags), RD_KAFKA_V_OPAQUE(opaque),
                                 RD_KAFKA_V_END);
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

        while ((err = produce_msg(kb->kp, topic, key, key_len, val, val_len, RD_KAFKA_MSG_F_COPY,
                                  &kb->to)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                if (!deadline)
                        deadline = svc_clock_ms(CLOCK_MONOTONIC) + kb->kp->timeout_ms;
                else if (svc_clock_ms(CLOCK_MONOTONIC) >= deadline)
                        break;
                if (kb->serving)
                        batch_poll(kb, NAP_MS);
                else
                        nap_ms(NAP_MS);
        }
        return err;
}

int svc_kafka_batch_produce(svc_kafka_batch_t *kb, const char *topic, const char *key,
                            size_t key_len, const char *val, size_t val_len, char *errstr,
                            size_t errstr_size) {
        rd_kafka_resp_err_t err;

        if (!kb->kp->rk)
                return dev_produce(kb, topic, key, key_len, val, val_len, errstr, errstr_size);
        /* single-threaded in CGI mode */
        if (kb->kp->per_request && warm_up(kb->kp, topic, errstr, errstr_size) == -1)
                return -1;
        atomic_fetch_add(&kb->refcnt, 1); /* released by batch_report */
        atomic_fetch_add(&kb->queued, 1);
        if ((err = produce_with_room(kb, topic, key, key_len, val, val_len))) {
                snprintf(errstr, errstr_size, "cannot queue a message for %s: %s", topic,
                         rd_kafka_err2str(err));
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
                ret = dev_flush(kb, errstr, errstr_size);
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

int svc_kafka_produce_async(svc_kafka_t *kp, const char *topic, const char *key, size_t key_len,
                            const char *val, size_t val_len, svc_kafka_done_fn *done, void *opaque,
                            char *errstr, size_t errstr_size) {
        struct async_msg *am;
        rd_kafka_resp_err_t err;

        if (!kp->rk) { /* the dev store: written at once */
                if (svc_kafka_produce_wait(kp, topic, key, key_len, val, val_len, kp->timeout_ms,
                                           errstr, errstr_size) == -1)
                        return -1;
                done(opaque, NULL);
                return 0;
        }
        if (kp->per_request && warm_up(kp, topic, errstr, errstr_size) == -1)
                return -1;
        if (!(am = calloc(1, sizeof(*am)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        am->to.report = async_report;
        am->kp = kp, am->done = done, am->opaque = opaque;
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
        err = produce_msg(kp, topic, key, key_len, val, val_len, RD_KAFKA_MSG_F_COPY, &am->to);
        if (err) {
                snprintf(errstr, errstr_size, "cannot queue a message for %s: %s", topic,
                         rd_kafka_err2str(err));
                pthread_mutex_lock(&kp->pending_lock);
                pending_unlink_locked(kp, am);
                pthread_mutex_unlock(&kp->pending_lock);
                free(am);
                return -1;
        }
        return 0;
}

int svc_kafka_ping_quick(svc_kafka_t *kp, int connect_ms, int answer_ms, char *errstr,
                         size_t errstr_size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;

        if (!kp->rk)
                return 0;
        /* _TRANSPORT: no broker connection within the time; _TIMED_OUT: one took the
         * request but had not answered yet, so it is asked again for longer. */
        err = rd_kafka_metadata(kp->rk, 0, NULL, &md, connect_ms);
        if (err == RD_KAFKA_RESP_ERR__TIMED_OUT && answer_ms > connect_ms)
                err = rd_kafka_metadata(kp->rk, 0, NULL, &md, answer_ms);
        if (err) {
                snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
                return -1;
        }
        rd_kafka_metadata_destroy(md);
        return 0;
}

int svc_kafka_ping(svc_kafka_t *kp, int timeout_ms, char *errstr, size_t errstr_size) {
        return svc_kafka_ping_quick(kp, timeout_ms, timeout_ms, errstr, errstr_size);
}

int svc_kafka_settle(svc_kafka_t *kp, int timeout_ms) {
        rd_kafka_queue_t *rkqu;
        rd_kafka_resp_err_t err;

        if (!kp || !kp->rk)
                return 0;
        /* The poller stops first, and the flush serves the last reports itself. Beside a
         * running poller, the flush sleeps up to 10 ms in its own poll when the poller
         * takes the last report: librdkafka counts the message out only after its
         * callback returned, and nothing wakes the flush then (1-10 ms at the end of
         * every per-request process, whose callback answered the request). The poller
         * is woken now rather than at the end of its 100 ms poll. */
        if (!atomic_exchange(&kp->run, 0)) /* settled already: no second wait */
                return rd_kafka_outq_len(kp->rk) ? -1 : 0;
        rkqu = rd_kafka_queue_get_main(kp->rk);
        rd_kafka_queue_yield(rkqu);
        rd_kafka_queue_destroy(rkqu);
        pthread_join(kp->poller, NULL);
        if (!(err = rd_kafka_flush(kp->rk, timeout_ms)))
                return 0;
        svc_log(SVC_LOG_WARN, NULL, "kafka", "%d messages not delivered at exit: %s",
                rd_kafka_outq_len(kp->rk), rd_kafka_err2str(err));
        /* Fail them now, so their reports release their batches. */
        rd_kafka_purge(kp->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(kp->rk, 1000 /* ms */);
        return -1;
}

void svc_kafka_destroy(svc_kafka_t *kp, int timeout_ms) {
        if (!kp)
                return;
        if (kp->rk) {
                svc_kafka_settle(kp, timeout_ms);
                if (kp->sticky_rkt)
                        rd_kafka_topic_destroy(kp->sticky_rkt);
                for (int i = 0; i < KAFKA_MAX_WARM && kp->warm[i]; i++)
                        rd_kafka_topic_destroy(kp->warm_rkt[i]);
                rd_kafka_destroy(kp->rk);
        }
        for (int i = 0; i < KAFKA_MAX_WARM; i++)
                free(kp->warm[i]);
        pthread_mutex_destroy(&kp->pending_lock);
        free(kp->dev_store);
        free(kp);
}
