/* kafka_client.c - what every Kafka client of the service shares (the handlers' producer,
 * the consumer, the forwarder, grouplag): its configuration, what a failed delivery
 * means, and how far a reader is behind a partition.
 *
 * Threads: librdkafka calls log_cb on its own threads; the rest is pure or runs on the
 * caller's thread. Memory: svc_kafka_conf_new's configuration is the caller's until
 * rd_kafka_new() takes it. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "kafka.h"
#include "log.h"

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

/* One row a kind of failure: librdkafka's codes that mean it. */
static const struct {
        rd_kafka_resp_err_t err;
        svc_kafka_fail_t kind;
} fail_kinds[] = {
    {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, SVC_KAFKA_FAIL_TIMED_OUT},
    {RD_KAFKA_RESP_ERR__TRANSPORT, SVC_KAFKA_FAIL_BROKER_DOWN},
    {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, SVC_KAFKA_FAIL_BROKER_DOWN},
    {RD_KAFKA_RESP_ERR__PURGE_QUEUE, SVC_KAFKA_FAIL_PURGED},
    {RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, SVC_KAFKA_FAIL_PURGED},
    {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, SVC_KAFKA_FAIL_TOO_LARGE},
    {RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, SVC_KAFKA_FAIL_TOO_LARGE},
    {RD_KAFKA_RESP_ERR_INVALID_MSG, SVC_KAFKA_FAIL_INVALID},
    {RD_KAFKA_RESP_ERR_INVALID_RECORD, SVC_KAFKA_FAIL_INVALID},
    {RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE, SVC_KAFKA_FAIL_INVALID},
    {RD_KAFKA_RESP_ERR__INVALID_ARG, SVC_KAFKA_FAIL_INVALID},
    {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, SVC_KAFKA_FAIL_UNKNOWN_TOPIC},
    {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, SVC_KAFKA_FAIL_UNKNOWN_TOPIC},
    {RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, SVC_KAFKA_FAIL_UNKNOWN_TOPIC},
    {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, SVC_KAFKA_FAIL_NOT_AUTHORIZED},
    {RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, SVC_KAFKA_FAIL_NOT_AUTHORIZED},
};

svc_kafka_fail_t svc_kafka_fail_kind(int err) {
        for (size_t i = 0; i < sizeof(fail_kinds) / sizeof(fail_kinds[0]); i++)
                if ((int)fail_kinds[i].err == err)
                        return fail_kinds[i].kind;
        return SVC_KAFKA_FAIL_OTHER;
}

int svc_kafka_fail_means_down(int err) {
        svc_kafka_fail_t kind = svc_kafka_fail_kind(err);
        return kind == SVC_KAFKA_FAIL_TIMED_OUT || kind == SVC_KAFKA_FAIL_BROKER_DOWN;
}

int svc_kafka_fail_is_permanent(int err) {
        svc_kafka_fail_t kind = svc_kafka_fail_kind(err);
        return kind == SVC_KAFKA_FAIL_TOO_LARGE || kind == SVC_KAFKA_FAIL_INVALID;
}

long svc_kafka_message_max(const svc_config_t *cfg) {
        long fits = cfg->kafka_batch_max - SVC_KAFKA_BATCH_HEADER - SVC_KAFKA_RECORD_FRAMING;
        return fits < SVC_KAFKA_MESSAGE_MAX ? fits : SVC_KAFKA_MESSAGE_MAX;
}

const char *svc_kafka_version(void) {
        return rd_kafka_version_str();
}

const char *svc_kafka_err_str(int err) {
        return rd_kafka_err2str((rd_kafka_resp_err_t)err);
}

long long svc_kafka_lag(long long lo, long long hi, long long pos) {
        if (pos < lo) /* none committed (negative), or older than what is kept */
                pos = lo;
        return hi > pos ? hi - pos : 0;
}
