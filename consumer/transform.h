/* transform.h - turns one raw collect message into output and dead-letter records. */
#ifndef SVC_TRANSFORM_H
#define SVC_TRANSFORM_H
#include <stddef.h>

/* Latest event_time accepted: 9999-12-31T23:59:59.999Z, so event_timestamp has 4 digits. */
#define SVC_TRANSFORM_MAX_EVENT_TIME 253402300799999LL

/**
 * Receives one record. dlq is 1 for a dead-letter record, 0 for an output record.
 * key may be NULL (a dead-letter record of a raw message without key).
 * value (value_len bytes, NUL-terminated, from malloc) is handed over to the callback,
 * which must free() it, also when it fails.
 * Returns 0, or -1 to stop the transformation (the record could not be produced).
 */
typedef int(svc_transform_emit_t)(void *opaque, int dlq, const char *key, size_t key_len,
                                  char *value, size_t value_len);

/* What one raw message became. */
struct svc_transform_counts {
        size_t produced_cnt; /* output records emitted */
        size_t dlq_cnt;      /* dead-letter records emitted */
};

/**
 * @brief Transforms one raw message of COLLECT_RAW_TOPIC (spec section 4): one output
 *        record per valid event (key user_id), one dead-letter record per invalid event
 *        (with "event_index"), or a single dead-letter record when the message as a whole
 *        cannot be read (key: the raw message's key). Records come out in event order and
 *        are byte-identical whenever the same raw bytes are transformed again.
 * @param raw the message value; may be NULL (empty message)
 * @param key the message key; may be NULL
 * @returns 0 when every record was emitted, -1 when emit failed (records emitted before
 *          the failure stay emitted). cnt is updated either way.
 */
int svc_transform_raw(const char *raw, size_t raw_len, const char *key, size_t key_len,
                      svc_transform_emit_t *emit, void *opaque,
                      struct svc_transform_counts *cnt)
    __attribute__((warn_unused_result));

/**
 * @brief Formats epoch milliseconds as ISO 8601 UTC with milliseconds,
 *        2025-06-25T15:56:40.000Z (buf_size >= 25).
 * @returns 0, or -1 when ms is outside [0, SVC_TRANSFORM_MAX_EVENT_TIME].
 */
int svc_transform_iso_ms(long long ms, char *buf, size_t buf_size);
#endif
