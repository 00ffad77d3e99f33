/* dedupe.h - the consumer's memory of the requests it has seen in one partition of
 * COLLECT_RAW_TOPIC: copies of a request are recognised by a digest of its request_id and
 * payload bytes, within DEDUPE_WINDOW_MS of the first on received_at (consumer/README.md,
 * "Copies"). Pure: no Kafka, no clock. The consumer writes each remembered request to the
 * changelog topic (svc_dedupe_encode) and rebuilds the window from it (svc_dedupe_restore).
 * Not thread-safe: one thread owns a store. */
#ifndef SVC_DEDUPE_H
#define SVC_DEDUPE_H
#include <stddef.h>
#include <stdint.h>

#define SVC_DEDUPE_DIGEST_LEN 16                       /* bytes of SHA-256 compared: 128 bits */
#define SVC_DEDUPE_KEY_LEN 24                          /* a changelog record's key: rid, digest */
#define SVC_DEDUPE_VALUE_LEN 17                        /* its value: version, received_at, offset */
#define SVC_DEDUPE_TAG_LEN (2 * SVC_DEDUPE_DIGEST_LEN) /* hex digits of an event_id's tag */

/* What the store needs of one raw message (svc_dedupe_read). */
struct svc_dedupe_msg {
        unsigned char digest[SVC_DEDUPE_DIGEST_LEN]; /* SHA-256(len, request_id, payload) */
        uint64_t rid;          /* 64 bits of SHA-256(request_id): finds its other bodies */
        long long received_at; /* epoch ms, from the envelope */
        size_t events;         /* entries of payload.events (1 when it has none) */
};

/* One remembered request. */
struct svc_dedupe_entry {
        unsigned char digest[SVC_DEDUPE_DIGEST_LEN];
        uint64_t rid;
        long long received_at;
        int64_t offset; /* of its raw message in the partition; -1: forgotten */
};

/* What a raw message is to the store. */
typedef enum {
        SVC_DEDUPE_NEW,      /* first of its request_id in the window: remembered */
        SVC_DEDUPE_NEW_BODY, /* its request_id came with another payload: remembered, and
                              * its event_ids carry the tag (svc_dedupe_tag) */
        SVC_DEDUPE_COPY      /* a copy of a remembered request: produces nothing */
} svc_dedupe_verdict_t;

/* What a changelog record was to svc_dedupe_restore(). */
typedef enum {
        SVC_DEDUPE_RESTORED,  /* an entry backed by committed input: remembered */
        SVC_DEDUPE_TOMBSTONE, /* a tombstone: its entry forgotten */
        SVC_DEDUPE_UNTRUSTED, /* an entry of a message at or past the committed offset:
                               * written by a transaction that may not have committed */
        SVC_DEDUPE_UNREADABLE /* not a record of this format: skipped */
} svc_dedupe_restore_t;

typedef struct svc_dedupe svc_dedupe_t; /* opaque */

/**
 * @brief Finds request_id, received_at and payload in a raw message without building it,
 *        and digests them.
 * @returns 0 with msg filled; -1 when the message has no string request_id, no integer
 *          received_at or no payload, has an escaped member name, or is not a well-formed
 *          JSON object: such a message is never taken for a copy.
 */
int svc_dedupe_read(const char *raw, size_t raw_len, struct svc_dedupe_msg *msg)
    __attribute__((warn_unused_result));

/**
 * @brief A store for one partition; window_ms > 0.
 * @returns the store, or NULL when out of memory.
 */
svc_dedupe_t *svc_dedupe_new(long long window_ms);
void svc_dedupe_destroy(svc_dedupe_t *dd); /* NULL is a no-op */

/**
 * @brief Looks msg up; when it is not a copy, remembers it as the message at offset
 *        (*entry then holds what to write to the changelog).
 *        A copy: the same digest, and received_at at most window_ms apart.
 * @returns the verdict, or -1 when out of memory (nothing remembered).
 */
int svc_dedupe_check(svc_dedupe_t *dd, const struct svc_dedupe_msg *msg, int64_t offset,
                     struct svc_dedupe_entry *entry) __attribute__((warn_unused_result));

/** Receives each request svc_dedupe_expire() forgets (borrowed for the call). */
typedef void(svc_dedupe_forgot_t)(void *opaque, const struct svc_dedupe_entry *entry);

/**
 * @brief Forgets, oldest remembered first, the requests whose received_at is more than
 *        window_ms before the newest one remembered; forgot (may be NULL) hears of each.
 * @returns how many were forgotten.
 */
size_t svc_dedupe_expire(svc_dedupe_t *dd, svc_dedupe_forgot_t *forgot, void *opaque);

/**
 * @brief Forgets the requests of messages at or past offset: their transaction was
 *        aborted, and they will be read again.
 */
void svc_dedupe_rewind(svc_dedupe_t *dd, int64_t offset);

/**
 * @brief Applies one changelog record, in the order of the changelog: value NULL is a
 *        tombstone; an entry is remembered only when its offset is below committed (the
 *        partition's committed offset: -1 when none, then nothing is trusted).
 *        Restored requests past the window stay until the next svc_dedupe_expire(),
 *        which the consumer calls in a transaction, so that their tombstones are written.
 * @returns what the record was, or -1 when out of memory.
 */
int svc_dedupe_restore(svc_dedupe_t *dd, const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t committed) __attribute__((warn_unused_result));

/** @brief The changelog key (SVC_DEDUPE_KEY_LEN bytes) and value (SVC_DEDUPE_VALUE_LEN
 *         bytes) of entry; value may be NULL. */
void svc_dedupe_encode(const struct svc_dedupe_entry *entry, unsigned char *key,
                       unsigned char *value);

/** @brief The tag of a NEW_BODY request's event_ids: the digest in lower-case hex, NUL
 *         terminated (tag_size > SVC_DEDUPE_TAG_LEN). */
void svc_dedupe_tag(const unsigned char *digest, char *tag, size_t tag_size);

/** @brief Requests remembered, and the bytes of memory the store holds for them. */
void svc_dedupe_stats(const svc_dedupe_t *dd, size_t *cnt, size_t *bytes);
#endif
