/* spool_write.c - the spool's writer: appends records to its own file, one durable write
 * per batch (fdatasync), seals the file after a second or 16 MiB so the forwarder can take
 * it, and keeps the directory within SPOOL_MAX_BYTES (docs/spool.md). The format is
 * spool.c's.
 *
 * Threads: a writer is used by one thread at a time (deliver.c's spool thread, or the one
 * thread of a CGI request). Memory: the writer owns its directory fd, its file's fd and
 * lock (a lock held means the writer lives: livefile.h) and its serialising buffer,
 * released by svc_spool_close; the records are the caller's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "clock.h"
#include "livefile.h"
#include "spool_int.h"

struct svc_spool {
        char *dir;
        int dirfd;
        long long max_bytes;
        int fd;                     /* the file being written, -1 when none */
        char base[SPOOL_BASE_SIZE]; /* its name without the suffix */
        long long size;             /* its bytes, whole records only */
        unsigned long long records; /* its records */
        long long opened_ms;        /* when it was created (monotonic) */
        unsigned seq;               /* files created by this writer */
        long long used;             /* bytes of the directory: last scan + own appends */
        long long scanned_ms;       /* when it was scanned (monotonic), 0: never */
        unsigned char *buf;         /* the records of one append, serialised */
        size_t buf_size;
};

svc_spool_t *svc_spool_open(const char *dir, long long max_bytes, char *errstr,
                            size_t errstr_size) {
        svc_spool_t *sp = calloc(1, sizeof(*sp));

        if (!sp || !(sp->dir = strdup(dir))) {
                snprintf(errstr, errstr_size, "out of memory");
                free(sp);
                return NULL;
        }
        sp->fd = -1;
        sp->max_bytes = max_bytes;
        if ((sp->dirfd = svc_spool_open_dir(dir, errstr, errstr_size)) == -1)
                goto fail;
        if (svc_spool_probe(sp->dirfd, dir, errstr, errstr_size) == -1)
                goto fail;
        return sp;
fail:
        svc_spool_close(sp);
        return NULL;
}

/* Creates the writer's next file: under a temporary name, locked (the forwarder takes an
 * open file only when its lock is free), then renamed to "<base>.open". */
static int create_file(svc_spool_t *sp) {
        char tmp[SPOOL_BASE_SIZE + 8], name[SPOOL_BASE_SIZE + 8];
        int fd, e;

        snprintf(sp->base, sizeof(sp->base), "%016lld-%010ld-%06u", svc_clock_ms(CLOCK_REALTIME),
                 (long)getpid(), ++sp->seq % 1000000);
        snprintf(tmp, sizeof(tmp), SVC_LIVEFILE_TMP "%s", sp->base);
        snprintf(name, sizeof(name), "%s.open", sp->base);
        if ((fd = svc_livefile_create(sp->dirfd, tmp, NULL, 0, SVC_LIVEFILE_F_LOCK)) == -1)
                return -1;
        if (svc_livefile_place(sp->dirfd, tmp, name) == -1) {
                e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        sp->fd = fd;
        sp->size = 0;
        sp->records = 0;
        sp->opened_ms = svc_clock_ms(CLOCK_MONOTONIC);
        return 0;
}

/* Serialises the records into sp->buf. Returns the length, 0 when out of memory. */
static size_t serialise(svc_spool_t *sp, const struct svc_spool_rec *recs, size_t cnt,
                        size_t total) {
        unsigned char *p;

        if (total > sp->buf_size) {
                unsigned char *n = realloc(sp->buf, total);
                if (!n)
                        return 0;
                sp->buf = n;
                sp->buf_size = total;
        }
        p = sp->buf;
        for (size_t i = 0; i < cnt; i++) {
                size_t tl = strlen(recs[i].topic);
                memcpy(p, SPOOL_MAGIC, 4);
                svc_spool_put32(p + 8, (uint32_t)tl);
                svc_spool_put32(p + 12, (uint32_t)recs[i].key_len);
                svc_spool_put32(p + 16, (uint32_t)recs[i].val_len);
                memcpy(p + SPOOL_HDR, recs[i].topic, tl);
                if (recs[i].key_len)
                        memcpy(p + SPOOL_HDR + tl, recs[i].key, recs[i].key_len);
                if (recs[i].val_len)
                        memcpy(p + SPOOL_HDR + tl + recs[i].key_len, recs[i].val, recs[i].val_len);
                svc_spool_put32(p + 4, (uint32_t)crc32_z(
                                           0, p + 8, 12 + tl + recs[i].key_len + recs[i].val_len));
                p += SPOOL_HDR + tl + recs[i].key_len + recs[i].val_len;
        }
        return total;
}

static svc_spool_err_t io_error(int e, const svc_spool_t *sp, const char *what, char *errstr,
                                size_t errstr_size) {
        snprintf(errstr, errstr_size, "spool %s: %s: %s", sp->dir, what, strerror(e));
        return e == ENOSPC || e == EDQUOT ? SVC_SPOOL_FULL : SVC_SPOOL_IO;
}

/* The bytes cnt records take in a file. Returns 0, or -1 with errstr when one of them
 * cannot be stored. */
static int records_size(const struct svc_spool_rec *recs, size_t cnt, size_t *total, char *errstr,
                        size_t errstr_size) {
        *total = 0;
        for (size_t i = 0; i < cnt; i++) {
                size_t tl = recs[i].topic ? strlen(recs[i].topic) : 0;
                if (tl == 0 || tl > SPOOL_TOPIC_MAX || recs[i].key_len > UINT32_MAX ||
                    recs[i].val_len > UINT32_MAX || (recs[i].val_len && !recs[i].val) ||
                    (recs[i].key_len && !recs[i].key)) {
                        snprintf(errstr, errstr_size,
                                 "spool: record %zu of %zu cannot be "
                                 "stored (topic of 1 to %d bytes, key and value below 4 GiB)",
                                 i + 1, cnt, SPOOL_TOPIC_MAX);
                        return -1;
                }
                *total += SPOOL_HDR + tl + recs[i].key_len + recs[i].val_len;
        }
        return 0;
}

/* The bytes of the spool's rejected/ (records Kafka refused for good, set aside by the
 * forwarder): they count against SPOOL_MAX_BYTES too. */
static long long rejected_bytes(int dirfd) {
        int fd = openat(dirfd, "rejected", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        long long bytes = 0;

        if (fd == -1)
                return 0;
        if (svc_spool_scan(fd, NULL, &bytes) == -1)
                bytes = 0;
        close(fd);
        return bytes;
}

/* Seals the open file when it is old or full enough, and checks that total more bytes
 * stay within SPOOL_MAX_BYTES (the directory is scanned again now and then). */
static svc_spool_err_t make_room(svc_spool_t *sp, size_t total, char *errstr, size_t errstr_size) {
        long long now = svc_clock_ms(CLOCK_MONOTONIC), used;

        if (sp->fd != -1 && (now - sp->opened_ms >= SPOOL_SEAL_MS ||
                             sp->size + (long long)total > SPOOL_SEAL_BYTES))
                svc_spool_seal(sp);
        if (!sp->scanned_ms || now - sp->scanned_ms >= SPOOL_SCAN_MS) {
                if (svc_spool_scan(sp->dirfd, NULL, &used) == -1)
                        return io_error(errno, sp, "reading the directory", errstr, errstr_size);
                sp->used = used + rejected_bytes(sp->dirfd);
                sp->scanned_ms = now;
        }
        if (sp->used + (long long)total > sp->max_bytes) {
                snprintf(errstr, errstr_size,
                         "spool %s is full: %lld bytes used, %zu more would pass "
                         "SPOOL_MAX_BYTES (%lld)",
                         sp->dir, sp->used, total, sp->max_bytes);
                return SVC_SPOOL_FULL;
        }
        return SVC_SPOOL_OK;
}

svc_spool_err_t svc_spool_append(svc_spool_t *sp, const struct svc_spool_rec *recs, size_t cnt,
                                 char *errstr, size_t errstr_size) {
        size_t total = 0, done = 0;
        svc_spool_err_t err;
        int created = 0, e;
        const char *what;

        if (cnt == 0)
                return SVC_SPOOL_OK;
        if (records_size(recs, cnt, &total, errstr, errstr_size) == -1)
                return SVC_SPOOL_IO;
        if ((err = make_room(sp, total, errstr, errstr_size)) != SVC_SPOOL_OK)
                return err;
        if (!serialise(sp, recs, cnt, total)) {
                snprintf(errstr, errstr_size, "spool: out of memory for %zu bytes", total);
                return SVC_SPOOL_IO;
        }
        if (sp->fd == -1) {
                if (create_file(sp) == -1)
                        return io_error(errno, sp, "creating a file", errstr, errstr_size);
                created = 1;
        }
        /* One write and one fdatasync for all the records; a short write on a regular file
         * means the next one reports why. */
        what = "write";
        errno = 0;
        while (done < total) {
                ssize_t n = pwrite(sp->fd, sp->buf + done, total - done, sp->size + (off_t)done);
                if (n <= 0)
                        goto fail;
                done += (size_t)n;
        }
        what = "fdatasync";
        if (fdatasync(sp->fd) == -1)
                goto fail;
        what = "fsync of the directory";
        if (created && fsync(sp->dirfd) == -1)
                goto fail;
        sp->size += (long long)total;
        sp->records += cnt;
        sp->used += (long long)total;
        return SVC_SPOOL_OK;
fail:
        e = errno ? errno : EIO;
        /* All or nothing: none of these records may reach the forwarder. */
        if (created) {
                char name[SPOOL_BASE_SIZE + 8];
                snprintf(name, sizeof(name), "%s.open", sp->base);
                unlinkat(sp->dirfd, name, 0);
                close(sp->fd);
                sp->fd = -1;
        } else if (ftruncate(sp->fd, sp->size) == -1) {
                svc_spool_seal(sp); /* the forwarder skips the torn tail */
        }
        return io_error(e, sp, what, errstr, errstr_size);
}

void svc_spool_seal(svc_spool_t *sp) {
        char from[SPOOL_BASE_SIZE + 8], to[SPOOL_BASE_SIZE + 32];

        if (!sp || sp->fd == -1)
                return;
        snprintf(from, sizeof(from), "%s.open", sp->base);
        snprintf(to, sizeof(to), "%s.%llu.spool", sp->base, sp->records);
        /* Not fsynced: after a crash the file is back to its open name, whose lock is free,
         * and the forwarder takes it all the same. A failed rename leaves it so now. */
        svc_livefile_rename(sp->dirfd, from, to);
        close(sp->fd); /* releases the lock */
        sp->fd = -1;
}

void svc_spool_close(svc_spool_t *sp) {
        if (!sp)
                return;
        svc_spool_seal(sp);
        if (sp->dirfd >= 0)
                close(sp->dirfd);
        free(sp->buf);
        free(sp->dir);
        free(sp);
}
