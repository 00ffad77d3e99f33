/* kafka_dev.c - the dev store: the producer's backend when Kafka is not configured (dev
 * mode). A batch gathers whole JSON lines in memory and appends them to DEV_STORE, every
 * DEV_FLUSH_BYTES and at its wait; appended counts as acknowledged.
 *
 * Threads: everything runs on the caller's thread; nothing is called back later (an
 * async send calls done() before it returns). Memory: the batch owns its line buffer
 * (freed with the batch, kafka_batch.c); kp owns the DEV_STORE path (kafka.c frees it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jbuf.h"
#include "kafka_int.h"
#include "log.h"

#define DEV_FLUSH_BYTES (64 * 1024) /* append in chunks of whole lines */

int svc_kafka_dev_open(svc_kafka_t *kp, const svc_config_t *cfg, char *errstr, size_t errstr_size) {
        if (!(kp->dev_store = strdup(cfg->dev_store))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        return 0;
}

int svc_kafka_dev_flush(svc_kafka_batch_t *kb, char *errstr, size_t errstr_size) {
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
int svc_kafka_dev_produce(svc_kafka_batch_t *kb, const char *topic, const char *key, size_t key_len,
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
        return b->len >= DEV_FLUSH_BYTES ? svc_kafka_dev_flush(kb, errstr, errstr_size) : 0;
}

int svc_kafka_dev_send(svc_kafka_t *kp, const char *topic, const char *key, size_t key_len,
                       const char *val, size_t val_len, svc_kafka_done_fn *done, void *opaque,
                       char *errstr, size_t errstr_size) {
        if (svc_kafka_produce_wait(kp, topic, key, key_len, val, val_len, kp->timeout_ms, errstr,
                                   errstr_size) == -1)
                return -1;
        done(opaque, 0, NULL);
        return 0;
}
