/* spool_int.h - what the spool's files share, and nothing else may use: the record format
 * and the look of a spool directory (spool.c), for the writer (spool_write.c) and the
 * reader (spool_read.c). */
#ifndef SVC_SPOOL_INT_H
#define SVC_SPOOL_INT_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "spool.h"

#define SPOOL_MAGIC "SPL1"
#define SPOOL_HDR 20                  /* magic, crc, three lengths */
#define SPOOL_TOPIC_MAX 255           /* Kafka's own limit is 249 */
#define SPOOL_SEAL_MS 1000            /* a busy writer hands the forwarder a file a second */
#define SPOOL_SEAL_BYTES (16LL << 20) /* and never has to read a huge file into memory */
#define SPOOL_SCAN_MS 1000            /* other writers' usage is seen this late at most */
#define SPOOL_TMP_MAX_AGE_S 60        /* older ones were left by a writer that died */
#define SPOOL_REFUSED ".refused-"     /* a file the forwarder did not trust, set aside */
#define SPOOL_BASE_SIZE 48

static inline void svc_spool_put32(unsigned char *p, uint32_t v) {
        p[0] = (unsigned char)v;
        p[1] = (unsigned char)(v >> 8);
        p[2] = (unsigned char)(v >> 16);
        p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t svc_spool_get32(const unsigned char *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What a directory entry is: 1 an open file, 2 a sealed one (*records from its name, or
 * -1 when the name does not say), 0 anything else (temporary files, the mark). */
int svc_spool_name_kind(const char *name, long long *records);

/* Sums the bytes of the spool files of a directory, and their records unless records is
 * NULL. Returns 0, or -1 with errno. */
int svc_spool_scan(int dirfd, long long *records, long long *bytes);

/* Whether the spool may not trust a directory or file: it is the spool's only when it is
 * of that type (S_IFDIR, S_IFREG), this user owns it and no one else may write to it.
 * Returns 1 and why, or 0. */
int svc_spool_untrusted(const struct stat *st, mode_t type, char *why, size_t why_size);

/* Opens (creating it when missing) the directory, and trusts it only when it is ours: not
 * a symbolic link, owned by this user, writable by no one else. Returns its fd, or -1 with
 * errstr. */
int svc_spool_open_dir(const char *dir, char *errstr, size_t errstr_size);

/* Writes, fsyncs and removes a probe file: the only real proof that a record would fit.
 * Returns 0, or -1 with errstr. */
int svc_spool_probe(int dirfd, const char *dir, char *errstr, size_t errstr_size);
#endif
