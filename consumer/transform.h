/* transform.h - turns one raw collect message into output and dead-letter records. */
#ifndef SVC_TRANSFORM_H
#define SVC_TRANSFORM_H
#include <stddef.h>

/* Where a record comes from: the raw message's request_id (NULL when it has none that
 * can be read) and the event's index, -1 for a letter about the message as a whole. */
struct svc_transform_origin {
        const char *request_id;
        size_t request_id_len;
        long long event_index;
};

/**
 * Receives one record. dlq is 1 for a dead-letter record, 0 for an output record.
 * key may be NULL (a dead-letter record of a raw message without key).
 * value (value_len bytes, NUL-terminated, from malloc) is handed over to the callback,
 * which must free() it, also when it fails. key + value never exceed
 * SVC_KAFKA_MESSAGE_MAX: a larger record is replaced by a letter saying so.
 * Returns 0, or -1 to stop the transformation (the record could not be produced).
 */
typedef int(svc_transform_emit_t)(void *opaque, const struct svc_transform_origin *from, int dlq,
                                  const char *key, size_t key_len, char *value, size_t value_len);

/* What one raw message became. */
struct svc_transform_counts {
        size_t produced_cnt; /* output records emitted */
        size_t dlq_cnt;      /* dead-letter records emitted */
};

/**
 * @brief Transforms one raw message of COLLECT_RAW_TOPIC (consumer/README.md): one
 *        output record per valid event (key user_id), one dead letter per invalid event
 *        ({"error","request_id","event_index","event"}), or a single dead letter
 *        {"error","raw"} when the message as a whole cannot be read (key: the raw
 *        message's key). Records come out in event order and are byte-identical whenever
 *        the same raw bytes are transformed again. The letters of one message weigh at
 *        most its size plus about 700 bytes per bad event.
 * @param raw the message value; may be NULL (empty message)
 * @param key the message key; may be NULL
 * @returns 0 when every record was emitted, -1 when emit failed (records emitted before
 *          the failure stay emitted). cnt is updated either way.
 */
int svc_transform_raw(const char *raw, size_t raw_len, const char *key, size_t key_len,
                      svc_transform_emit_t *emit, void *opaque, struct svc_transform_counts *cnt)
    __attribute__((warn_unused_result));

/**
 * @brief svc_transform_raw() for a request whose request_id came with another payload
 *        (consumer/README.md, "Copies"): its event_ids are `<request_id>:<tag>-<index>`
 *        instead of `<request_id>-<index>`; every other byte is the same.
 * @param tag NUL-terminated; NULL: svc_transform_raw()
 */
int svc_transform_raw_tagged(const char *raw, size_t raw_len, const char *key, size_t key_len,
                             const char *tag, svc_transform_emit_t *emit, void *opaque,
                             struct svc_transform_counts *cnt) __attribute__((warn_unused_result));

/**
 * @brief svc_transform_raw_tagged() by jansson alone: the message parsed into a tree,
 *        every record written from it. svc_transform_raw_tagged() takes the common
 *        message in one walk over its text instead and leaves the others to this path;
 *        the unit test holds the two to byte-identical output.
 */
int svc_transform_raw_reference(const char *raw, size_t raw_len, const char *key, size_t key_len,
                                const char *tag, svc_transform_emit_t *emit, void *opaque,
                                struct svc_transform_counts *cnt)
    __attribute__((warn_unused_result));

/**
 * @brief Formats epoch milliseconds as ISO 8601 UTC with milliseconds,
 *        2025-06-25T15:56:40.000Z (buf_size >= 25).
 * @returns 0, or -1 when ms is outside [0, SVC_COLLECT_MAX_EVENT_TIME].
 */
int svc_transform_iso_ms(long long ms, char *buf, size_t buf_size);

/**
 * @brief The small letter that stands for a record Kafka cannot take (too large, or
 *        refused for good): {"error","request_id","event_index","size"}, content cut.
 * @returns the letter (from malloc, *len bytes), or NULL when out of memory.
 */
char *svc_transform_refused_letter(const struct svc_transform_origin *from, const char *reason,
                                   size_t size, size_t *len);
#endif
