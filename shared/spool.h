/* spool.h - the local durable spool of /collect: what Kafka did not acknowledge is kept
 * in append-only files of length-prefixed, checksummed records under SPOOL_DIR, until the
 * forwarder has replayed it into Kafka (docs/spool.md).
 *
 * Every file has exactly one writer, so writers never interleave: a pooled process
 * writes its own files (one thread of it writes, many records per fdatasync), a CGI
 * process its own one-record file. A file is written under a temporary name, locked,
 * then renamed to "*.open"; it is sealed by renaming it to "*.spool". The forwarder takes
 * sealed files, and open files whose writer died (their lock is free). */
#ifndef SVC_SPOOL_H
#define SVC_SPOOL_H
#include <stddef.h>

typedef struct svc_spool svc_spool_t; /* a writer; one thread at a time */

/* One record: the Kafka message it stands for. */
struct svc_spool_rec {
        const char *topic;
        const char *key;
        size_t key_len;
        const char *val;
        size_t val_len;
};

typedef enum {
        SVC_SPOOL_OK = 0,
        SVC_SPOOL_FULL, /* SPOOL_MAX_BYTES reached, or the disk is full (ENOSPC) */
        SVC_SPOOL_IO,   /* any other I/O error */
} svc_spool_err_t;

/**
 * @brief Opens the spool directory for writing (creating it when missing) and checks that
 *        records can be written there: a start-up error, not a surprise at the first
 *        outage. max_bytes bounds the size of all files of the directory together.
 * @returns the writer, or NULL with errstr.
 */
svc_spool_t *svc_spool_open(const char *dir, long long max_bytes, char *errstr,
                            size_t errstr_size) __attribute__((warn_unused_result));

/**
 * @brief Appends cnt records and makes them durable (one fdatasync for all, plus the
 *        directory when a file was created). All or nothing: on failure the file is cut
 *        back, and none of the records may be reported as accepted.
 * @returns SVC_SPOOL_OK, or the failure with errstr (never the content of a record).
 */
svc_spool_err_t svc_spool_append(svc_spool_t *sp, const struct svc_spool_rec *recs,
                                 size_t cnt, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/** @brief Seals the current file, if any: the forwarder may take it. */
void svc_spool_seal(svc_spool_t *sp);

/** @brief Seals and frees. NULL is a no-op. */
void svc_spool_close(svc_spool_t *sp);

/**
 * @brief What the directory holds now: records and bytes of every spool file.
 * @returns 0, or -1 with errno when the directory cannot be read.
 */
int svc_spool_usage(const char *dir, long long *records, long long *bytes);

/* Kafka unreachable, as seen by any process of the host: a mark file in the directory,
 * so that a new process (one CGI request) spools at once instead of waiting
 * KAFKA_TIMEOUT_MS first. Whoever sees Kafka fail marks it; whoever sees it acknowledge
 * clears it; a mark older than max_age_ms no longer counts. */
void svc_spool_mark_down(const char *dir);
void svc_spool_mark_up(const char *dir);
int svc_spool_is_down(const char *dir, int max_age_ms);
#endif
