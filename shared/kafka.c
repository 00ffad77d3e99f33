/* kafka.c - the handlers' producer: its handle on librdkafka (acks=all, idempotent), its
 * delivery thread, the topics it warms up, its sticky partitioner, ping and shutdown. How a
 * message completes is in kafka_batch.c (a batch and its wait), kafka_async.c (a send
 * with a deadline) and kafka_dev.c (the dev store, without Kafka); what every Kafka
 * client shares is in kafka_client.c.
 *
 * Threads: the delivery thread (poll_loop) serves delivery reports and error events,
 * unless a serving batch does (kafka_batch.c); dr_msg_cb and error_cb run there. Memory:
 * the handle owns librdkafka's instance, its topic handles and names; every message's
 * opaque (struct report_to) belongs to the file that produced it, and its report frees
 * it or releases it. */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kafka_int.h"
#include "log.h"
#include "metrics.h"

int svc_kafka_is_dev(const svc_kafka_t *kp) {
        return kp->rk == NULL;
}

/* The events_kafka_delivery_errors_total label of each kind of failure. */
static const svc_metrics_counter_t error_counter[] = {
    [SVC_KAFKA_FAIL_TIMED_OUT] = SVC_METRICS_KAFKA_ERR_TIMED_OUT,
    [SVC_KAFKA_FAIL_BROKER_DOWN] = SVC_METRICS_KAFKA_ERR_BROKER_DOWN,
    [SVC_KAFKA_FAIL_PURGED] = SVC_METRICS_KAFKA_ERR_PURGED,
    [SVC_KAFKA_FAIL_TOO_LARGE] = SVC_METRICS_KAFKA_ERR_TOO_LARGE,
    [SVC_KAFKA_FAIL_INVALID] = SVC_METRICS_KAFKA_ERR_OTHER,
    [SVC_KAFKA_FAIL_UNKNOWN_TOPIC] = SVC_METRICS_KAFKA_ERR_UNKNOWN_TOPIC,
    [SVC_KAFKA_FAIL_NOT_AUTHORIZED] = SVC_METRICS_KAFKA_ERR_NOT_AUTHORIZED,
    [SVC_KAFKA_FAIL_OTHER] = SVC_METRICS_KAFKA_ERR_OTHER,
};

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
                if (svc_kafka_fail_means_down(rkm->err))
                        atomic_store(&kp->down, 1);
                svc_metrics_add(error_counter[svc_kafka_fail_kind(rkm->err)], 1);
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

void svc_kafka_nap_ms(int ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

static void *poll_loop(void *arg) {
        svc_kafka_t *kp = arg;
        int wait_ms = 100;
        while (atomic_load(&kp->run)) {
                if (svc_kafka_served_by_batches(kp))
                        svc_kafka_nap_ms(NAP_MS);
                else /* wakes at once on a report */
                        rd_kafka_poll(kp->rk, atomic_load(&kp->serving) ? NAP_MS : wait_ms);
                wait_ms = svc_kafka_async_expire(kp, 100);
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

/* The handlers' producer: acks=all, idempotent, and bounded in time and memory. */
static rd_kafka_conf_t *producer_conf(const svc_config_t *cfg, int flags, char *errstr,
                                      size_t errstr_size) {
        int per_request = flags & SVC_KAFKA_F_PER_REQUEST;
        char timeout[16], message_max[24];
        snprintf(timeout, sizeof(timeout), "%d", cfg->kafka_timeout_ms);
        /* librdkafka refuses a message whose key, value and record framing pass it, and
         * closes a batch of several before it does: each batch then fits the cluster's
         * KAFKA_MESSAGE_MAX_BYTES, and a batch of small messages is never refused. */
        snprintf(message_max, sizeof(message_max), "%ld",
                 svc_kafka_message_max(cfg) + SVC_KAFKA_RECORD_FRAMING);
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
                "message.max.bytes", message_max,
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
                if (svc_kafka_dev_open(kp, cfg, errstr, errstr_size) == -1)
                        goto fail;
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

/* A fresh producer sometimes misses the metadata of the first topic it produces to (its
 * leader query races with the bootstrap broker changing its name once the first metadata
 * answer is in) and then waits for librdkafka's 1 s topic scan: measured on 7 of 300
 * per-request processes, and on the first request of fresh pools. One metadata request
 * for the topic before its first message (one round trip) removes that wait: per request
 * from svc_kafka_batch_produce (single-threaded), pooled from svc_kafka_prepare_topic
 * before serving; once per topic.
 * Returns -1 with errstr when no broker answered within KAFKA_TIMEOUT_MS: the message
 * would not have been delivered either, and the request keeps to its deadline. */
int svc_kafka_warm_up(svc_kafka_t *kp, const char *topic, char *errstr, size_t errstr_size) {
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
         * handle is in place before the name that svc_kafka_produce_msg() looks for. */
        kp->warm_rkt[i] = rkt;
        if (!(kp->warm[i] = strdup(topic))) {
                kp->warm_rkt[i] = NULL;
                rd_kafka_topic_destroy(rkt);
        }
        return 0;
}

int svc_kafka_prepare_topic(svc_kafka_t *kp, const char *topic, char *errstr, size_t errstr_size) {
        return kp->rk ? svc_kafka_warm_up(kp, topic, errstr, errstr_size) : 0;
}

/* Hands one message to librdkafka: on the warmed-up topic's handle when there is one (no
 * lookup by name), else by name. warm[] is only written before serving (pooled) or on the
 * one thread (per request), so it is read here without a lock. */
rd_kafka_resp_err_t svc_kafka_produce_msg(svc_kafka_t *kp, const char *topic, const char *key,
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
