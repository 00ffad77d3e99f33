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
 * @brief Opens the spool directory for writing (creating it 0700 when missing) and checks
 *        that records can be written there: a start-up error, not a surprise at the first
 *        outage. The directory must be this user's, writable by no one else, and not a
 *        symbolic link. max_bytes bounds the size of all files of the directory together.
 * @returns the writer, or NULL with errstr.
 */
svc_spool_t *svc_spool_open(const char *dir, long long max_bytes, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Appends cnt records and makes them durable (one fdatasync for all, plus the
 *        directory when a file was created). All or nothing: on failure the file is cut
 *        back, and none of the records may be reported as accepted.
 * @returns SVC_SPOOL_OK, or the failure with errstr (never the content of a record).
 */
svc_spool_err_t svc_spool_append(svc_spool_t *sp, const struct svc_spool_rec *recs, size_t cnt,
                                 char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Seals the current file, if any: the forwarder may take it. svc_spool_append seals
 *        a file a second old on its own; a writer that goes idle (the burst is over, Kafka
 *        is back) calls this, or its last records wait for its next append.
 */
void svc_spool_seal(svc_spool_t *sp);

/** @brief Seals and frees. NULL is a no-op. */
void svc_spool_close(svc_spool_t *sp);

/**
 * @brief What the directory holds now: records and bytes of every spool file. Cheap
 *        enough for /health: sealed files carry their record count in their name, only
 *        open files are walked (header by header).
 * @returns 0, or -1 with errno when the directory cannot be read.
 */
int svc_spool_usage(const char *dir, long long *records, long long *bytes);

/**
 * @brief The checks svc_spool_open makes, for /health and the forwarder: creates the
 *        directory when missing, checks that it is ours, then writes, fsyncs and removes a
 *        probe file in it.
 * @returns 0, or -1 with errstr.
 */
int svc_spool_writable(const char *dir, char *errstr, size_t errstr_size);

/* Reading, for the forwarder and tools/spooltool. */

typedef struct svc_spool_file svc_spool_file_t; /* one spool file, read into memory */

typedef enum {
        SVC_SPOOL_END = 0, /* no more records */
        SVC_SPOOL_RECORD,  /* a record whose checksum verified */
        SVC_SPOOL_DAMAGED, /* bytes that are no record: torn by a crash, or corrupt */
} svc_spool_next_t;

#define SVC_SPOOL_F_TAKE 0x1 /* lock the file for replaying it (see svc_spool_file_open) */

/**
 * @brief The spool files of dir (open and sealed, not temporary ones), oldest first.
 * @returns a NULL-terminated array of names, empty when there is none, to free with
 *          svc_spool_list_free(); NULL with errstr when the directory cannot be read.
 */
char **svc_spool_list(const char *dir, char *errstr, size_t errstr_size);

/** @brief Frees a list. NULL is a no-op. */
void svc_spool_list_free(char **names);

/**
 * @brief Reads the file `name` of dir. With SVC_SPOOL_F_TAKE the file is locked first, as
 *        its writer locks it: a file with a live writer, or that another forwarder holds,
 *        is busy; and a file none of this user's writers made (another owner, writable by
 *        others, a symbolic link, not a regular file) is not read but renamed
 *        ".refused-<name>", which no reader takes. Without it the file is read as it is
 *        now (spooltool).
 * @returns 1 and *file; 0 when it is busy or gone (sealed or removed meanwhile); -2 with
 *          errstr when it was refused; -1 with errstr.
 */
int svc_spool_file_open(const char *dir, const char *name, int flags, svc_spool_file_t **file,
                        char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/**
 * @brief The next record of the file. rec points into the file's memory and is valid until
 *        the next call. Bytes that do not form a record with a valid checksum are reported
 *        once as SVC_SPOOL_DAMAGED (*off, *len: where and how many), and reading goes on at
 *        the next whole record, if any: a record torn by a crash is the damaged tail.
 *        *off is also set for a record.
 */
svc_spool_next_t svc_spool_file_next(svc_spool_file_t *file, struct svc_spool_rec *rec, size_t *off,
                                     size_t *len);

/**
 * @brief Removes the file (its records are in Kafka), makes that durable (fsync of the
 *        directory), then closes it.
 * @returns 0, or -1 with errstr: the file is then closed but may still be there.
 */
int svc_spool_file_remove(svc_spool_file_t *file, char *errstr, size_t errstr_size);

/** @brief Closes (and unlocks) the file, which stays. NULL is a no-op. */
void svc_spool_file_close(svc_spool_file_t *file);

/** @brief Removes temporary files that a writer dying at the wrong moment left behind. */
void svc_spool_sweep(const char *dir);
#endif
