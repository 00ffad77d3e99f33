/* grouplag.c - how far a consumer group is behind on a topic: the sum over the topic's
 * partitions of high watermark minus the group's committed offset, as svc_kafka_lag()
 * counts it for the consumer too (no committed offset, or one below the low watermark,
 * counts from the low watermark).
 *
 *   grouplag [-b bootstrap] -g group -t topic
 *
 * A Kafka client of the configured cluster like the consumer: KAFKA_URL (or -b) and the
 * RDKAFKA_* settings (security) of docs/configuration.md, through svc_kafka_conf_new().
 * Prints "lag=N" and exits 0; exits 1 when the brokers cannot tell. Reads the committed
 * offsets without joining the group, so it never moves a partition. The tests wait for
 * lag=0 ("every raw message transformed and committed") instead of a consumer's log line,
 * and an operator can ask the same question of a running pipeline. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "kafka.h"

#define TIMEOUT_MS 5000

/* The group's lag on topic: sums what each partition has past the committed offset.
 * Returns 0, or -1 with errstr. */
static int group_lag(rd_kafka_t *rk, const char *topic, long long *lag, char *errstr,
                     size_t errstr_size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_topic_t *rkt;
        rd_kafka_resp_err_t err;
        int ret = -1;

        *lag = 0;
        if (!(rkt = rd_kafka_topic_new(rk, topic, NULL)) ||
            (err = rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS)) || md->topic_cnt != 1 ||
            md->topics[0].err) {
                snprintf(errstr, errstr_size, "no metadata for %s", topic);
                goto out;
        }
        parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (int i = 0; i < md->topics[0].partition_cnt; i++)
                rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id);
        if ((err = rd_kafka_committed(rk, parts, TIMEOUT_MS))) {
                snprintf(errstr, errstr_size, "committed offsets: %s", rd_kafka_err2str(err));
                goto out;
        }
        for (int i = 0; i < parts->cnt; i++) {
                int64_t lo, hi, pos = parts->elems[i].offset;
                if ((err = rd_kafka_query_watermark_offsets(rk, topic, parts->elems[i].partition,
                                                            &lo, &hi, TIMEOUT_MS))) {
                        snprintf(errstr, errstr_size, "watermarks: %s", rd_kafka_err2str(err));
                        goto out;
                }
                *lag += svc_kafka_lag(lo, hi, pos);
        }
        ret = 0;
out:
        if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
        if (md)
                rd_kafka_metadata_destroy(md);
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        return ret;
}

int main(int argc, char **argv) {
        const char *brokers = NULL, *group = NULL, *topic = NULL;
        rd_kafka_conf_t *conf = NULL;
        rd_kafka_t *rk = NULL;
        svc_config_t cfg;
        char errstr[512];
        long long lag = 0;
        int opt, ret = 1;

        while ((opt = getopt(argc, argv, "b:g:t:")) != -1) {
                switch (opt) {
                case 'b': brokers = optarg; break;
                case 'g': group = optarg; break;
                case 't': topic = optarg; break;
                default:
                        group = NULL;
                        optind = argc;
                        break;
                }
        }
        if (!group || !topic) {
                fprintf(stderr, "usage: %s [-b bootstrap] -g group -t topic\n", argv[0]);
                return 1;
        }
        if (svc_config_load(&cfg, errstr, sizeof(errstr)) == -1) {
                fprintf(stderr, "grouplag: configuration: %s\n", errstr);
                return 1;
        }
        if (!brokers && !(brokers = cfg.kafka_url)) {
                fprintf(stderr, "grouplag: no brokers: set KAFKA_URL or pass -b\n");
                goto out;
        }
        {
                const char *props[] = {"bootstrap.servers", brokers, "group.id", group,
                                       "log_level",         "3",     NULL};
                if (!(conf = svc_kafka_conf_new(&cfg, props, errstr, sizeof(errstr))) ||
                    !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
                        fprintf(stderr, "grouplag: %s\n", errstr);
                        goto out;
                }
                conf = NULL; /* now owned, and freed, by the rd_kafka_t instance */
        }
        if (group_lag(rk, topic, &lag, errstr, sizeof(errstr)) == -1) {
                fprintf(stderr, "grouplag: %s\n", errstr);
                goto out;
        }
        printf("lag=%lld\n", lag);
        ret = 0;
out:
        if (conf)
                rd_kafka_conf_destroy(conf);
        if (rk)
                rd_kafka_destroy(rk);
        svc_config_close(&cfg);
        return ret;
}
