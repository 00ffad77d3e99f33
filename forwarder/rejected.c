/* rejected.c - the records Kafka refuses for good, set aside by the forwarder: their bytes
 * into SPOOL_DIR/rejected/ (written by the spool's own writer, so `spooltool ls|cat` read
 * it and `spooltool requeue` moves it back), their letter to COLLECT_DLQ_TOPIC.
 *
 * Threads: the forwarder's thread only. Memory: the handle owns its writer and its copy
 * of the directory name; letters are built and freed here. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rejected.h"

#define LOG_NAME "forwarder"

struct fwd_rejected {
        char *dir; /* SPOOL_DIR/rejected */
        long long max_bytes;
        svc_kafka_t *kp;
        const char *dlq_topic;
        int timeout_ms;
        svc_spool_t *sp; /* opened at the first record */
};

fwd_rejected_t *fwd_rejected_new(const char *spool_dir, long long max_bytes, svc_kafka_t *kp,
                                 const char *dlq_topic, int timeout_ms) {
        fwd_rejected_t *r = calloc(1, sizeof(*r));

        if (!r || asprintf(&r->dir, "%s/%s", spool_dir, FWD_REJECTED_DIR) == -1) {
                free(r);
                return NULL;
        }
        r->max_bytes = max_bytes;
        r->kp = kp;
        r->dlq_topic = dlq_topic;
        r->timeout_ms = timeout_ms;
        return r;
}

/* The letter: what an operator needs to find the record, never its content. */
static char *letter(const struct svc_spool_rec *rec, const char *reason) {
        json_t *l = json_pack("{s:s, s:s%, s:I, s:s}", "error",
                              "Kafka refused the spooled record for good: its bytes are in "
                              "SPOOL_DIR/" FWD_REJECTED_DIR,
                              "request_id", rec->key, rec->key_len, "size",
                              (json_int_t)(rec->key_len + rec->val_len), "reason", reason);
        char *s = l ? json_dumps(l, JSON_COMPACT) : NULL;

        json_decref(l);
        return s;
}

int fwd_rejected_keep(fwd_rejected_t *r, const struct svc_spool_rec *rec, const char *reason,
                      char *errstr, size_t errstr_size) {
        char *val = NULL;
        svc_kafka_batch_t *kb = NULL;
        size_t acked;
        int ret = -1;

        if (!r->sp && !(r->sp = svc_spool_open(r->dir, r->max_bytes, errstr, errstr_size)))
                goto out;
        if (svc_spool_append(r->sp, rec, 1, errstr, errstr_size) != SVC_SPOOL_OK)
                goto out;
        if (!(val = letter(rec, reason)) || !(kb = svc_kafka_batch_new(r->kp))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        if (svc_kafka_batch_produce(kb, r->dlq_topic, rec->key, rec->key_len, val, strlen(val),
                                    errstr, errstr_size) == -1)
                goto out;
        if (svc_kafka_batch_wait(kb, r->timeout_ms, &acked, errstr, errstr_size) == -1) {
                if (!svc_kafka_fail_is_permanent(svc_kafka_batch_first_err(kb)))
                        goto out;
                svc_log(SVC_LOG_ERROR, NULL, LOG_NAME,
                        "the dead letter of a refused record was refused too (%s): its bytes "
                        "are in %s",
                        errstr, r->dir);
        }
        ret = 0;
out:
        svc_kafka_batch_destroy(kb);
        free(val);
        return ret;
}

void fwd_rejected_seal(fwd_rejected_t *r) {
        if (r->sp)
                svc_spool_seal(r->sp);
}

void fwd_rejected_destroy(fwd_rejected_t *r) {
        if (!r)
                return;
        svc_spool_close(r->sp);
        free(r->dir);
        free(r);
}
