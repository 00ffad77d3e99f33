/* spool.c - the durable spool of /collect: append-only files of checksummed records, one
 * writer per file, and the reader the forwarder replays them with (docs/spool.md).
 *
 * A record is a 20-byte header followed by the topic, the key and the value:
 *   "SPL1" | crc32 | topic_len | key_len | val_len    (integers 32-bit little-endian)
 * The CRC (zlib's crc32) covers the three lengths and the bytes after them.
 * File names sort oldest first: <epoch ms, 16 digits>-<pid, 10>-<seq, 6> followed by
 * ".open" while written and ".<records>.spool" once sealed. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "clock.h"
#include "log.h"

#define SPOOL_MAGIC "SPL1"
#define SPOOL_HDR 20                  /* magic, crc, three lengths */
#define SPOOL_TOPIC_MAX 255           /* Kafka's own limit is 249 */
#define SPOOL_SEAL_MS 1000            /* a busy writer hands the forwarder a file a second */
#define SPOOL_SEAL_BYTES (16LL << 20) /* and never has to read a huge file into memory */
#define SPOOL_SCAN_MS 1000            /* other writers' usage is seen this late at most */
#define SPOOL_MARK "kafka-down"
#define SPOOL_TMP ".tmp-"         /* not a spool file yet: readers ignore it */
#define SPOOL_TMP_MAX_AGE_S 60    /* older ones were left by a writer that died */
#define SPOOL_REFUSED ".refused-" /* a file the forwarder did not trust, set aside */
#define SPOOL_BASE_SIZE 48

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

struct svc_spool_file {
        int dirfd;
        int fd;
        char *name;
        unsigned char *buf; /* the whole file */
        size_t len;
        size_t off; /* where the next record starts */
        char topic[SPOOL_TOPIC_MAX + 1];
};

static void put32(unsigned char *p, uint32_t v) {
        p[0] = (unsigned char)v;
        p[1] = (unsigned char)(v >> 8);
        p[2] = (unsigned char)(v >> 16);
        p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What a directory entry is: 1 an open file, 2 a sealed one (*records from its name, or
 * -1 when the name does not say), 0 anything else (temporary files, the mark). */
static int name_kind(const char *name, long long *records) {
        size_t len = strlen(name);
        char *end;

        if (name[0] == '.')
                return 0;
        if (len > 5 && !strcmp(name + len - 5, ".open"))
                return 1;
        if (len > 6 && !strcmp(name + len - 6, ".spool")) {
                const char *dot = strchr(name, '.');
                long long n = strtoll(dot + 1, &end, 10);
                *records = end == name + len - 6 && end > dot + 1 && n >= 0 ? n : -1;
                return 2;
        }
        return 0;
}

/* Counts the records of a file by their headers alone (no checksum), up to a torn tail. */
static long long count_records(int dirfd, const char *name, long long size) {
        unsigned char h[SPOOL_HDR];
        long long off = 0, cnt = 0;
        int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd == -1)
                return 0;
        while (off + SPOOL_HDR <= size && pread(fd, h, sizeof(h), off) == SPOOL_HDR &&
               !memcmp(h, SPOOL_MAGIC, 4)) {
                off += SPOOL_HDR + (long long)get32(h + 8) + get32(h + 12) + get32(h + 16);
                if (off > size)
                        break;
                cnt++;
        }
        close(fd);
        return cnt;
}

/* Sums the bytes of the spool files of a directory, and their records unless records is
 * NULL. Returns 0, or -1 with errno. */
static int scan(int dirfd, long long *records, long long *bytes) {
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd == -1 ? NULL : fdopendir(fd);
        struct dirent *de;
        struct stat st;
        long long n;
        int kind;

        if (!d) {
                if (fd != -1)
                        close(fd);
                return -1;
        }
        *bytes = 0;
        if (records)
                *records = 0;
        while ((de = readdir(d))) {
                if (!(kind = name_kind(de->d_name, &n)) ||
                    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
                        continue; /* removed by the forwarder meanwhile */
                *bytes += st.st_size;
                if (records)
                        *records +=
                            kind == 2 && n >= 0 ? n : count_records(dirfd, de->d_name, st.st_size);
        }
        closedir(d);
        return 0;
}

/* Whether the spool may not trust a directory or file: it is the spool's only when it is
 * of that type (S_IFDIR, S_IFREG), this user owns it and no one else may write to it.
 * Returns 1 and why, or 0. */
static int untrusted(const struct stat *st, mode_t type, char *why, size_t why_size) {
        if (st->st_uid != geteuid())
                snprintf(why, why_size, "belongs to uid %lu, not to this user (uid %lu)",
                         (unsigned long)st->st_uid, (unsigned long)geteuid());
        else if (st->st_mode & (S_IWGRP | S_IWOTH))
                snprintf(why, why_size, "is writable by others (mode %04o)",
                         (unsigned)(st->st_mode & 07777));
        else if ((st->st_mode & S_IFMT) != type)
                snprintf(why, why_size, "is not a %s",
                         type == S_IFDIR ? "directory" : "regular file");
        else
                return 0;
        return 1;
}

/* Opens (creating it when missing) the directory, and trusts it only when it is ours: not
 * a symbolic link, owned by this user, writable by no one else. Returns its fd, or -1 with
 * errstr. */
static int open_dir(const char *dir, char *errstr, size_t errstr_size) {
        struct stat st;
        char why[128] = "";
        int fd;

        if (svc_log_mkdir_p(dir, 0700) == -1 ||
            (fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
                if ((errno == ELOOP || errno == ENOTDIR) && lstat(dir, &st) == 0 &&
                    S_ISLNK(st.st_mode))
                        snprintf(errstr, errstr_size,
                                 "spool directory %s is a symbolic link: refused (name the "
                                 "directory itself)",
                                 dir);
                else
                        snprintf(errstr, errstr_size, "spool directory %s: %s", dir,
                                 strerror(errno));
                return -1;
        }
        if (fstat(fd, &st) == -1 || untrusted(&st, S_IFDIR, why, sizeof(why))) {
                snprintf(errstr, errstr_size, "spool directory %s %s: refused", dir,
                         *why ? why : "cannot be examined");
                close(fd);
                return -1;
        }
        return fd;
}

/* Writes, fsyncs and removes a probe file: the only real proof that a record would fit. */
static int probe(int dirfd, const char *dir, char *errstr, size_t errstr_size) {
        static unsigned probe_seq;
        char name[64];
        int fd, e;

        snprintf(name, sizeof(name), SPOOL_TMP "probe-%ld-%u", (long)getpid(),
                 __atomic_add_fetch(&probe_seq, 1, __ATOMIC_RELAXED));
        if ((fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
                snprintf(errstr, errstr_size, "spool directory %s is not writable: %s", dir,
                         strerror(errno));
                return -1;
        }
        e = write(fd, "probe\n", 6) == 6 ? 0 : errno ? errno : EIO;
        if (!e && fsync(fd) == -1)
                e = errno;
        close(fd);
        unlinkat(dirfd, name, 0);
        if (e) {
                snprintf(errstr, errstr_size, "spool directory %s is not writable: %s", dir,
                         strerror(e));
                return -1;
        }
        return 0;
}

int svc_spool_writable(const char *dir, char *errstr, size_t errstr_size) {
        int dirfd = open_dir(dir, errstr, errstr_size), ret;

        if (dirfd == -1)
                return -1;
        ret = probe(dirfd, dir, errstr, errstr_size);
        close(dirfd);
        return ret;
}

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
        if ((sp->dirfd = open_dir(dir, errstr, errstr_size)) == -1)
                goto fail;
        if (probe(sp->dirfd, dir, errstr, errstr_size) == -1)
                goto fail;
        return sp;
fail:
        svc_spool_close(sp);
        return NULL;
}

/* rename(2) that never replaces a file (two writers can never share a name, but a pid
 * reused within the same millisecond could). */
static int rename_new(int dirfd, const char *from, const char *to) {
        if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -1;
        return renameat(dirfd, from, dirfd, to); /* a file system without the flag */
}

/* Creates the writer's next file: under a temporary name, locked (the forwarder takes an
 * open file only when its lock is free), then renamed to "<base>.open". */
static int create_file(svc_spool_t *sp) {
        char tmp[SPOOL_BASE_SIZE + 8], name[SPOOL_BASE_SIZE + 8];
        int fd, e;

        snprintf(sp->base, sizeof(sp->base), "%016lld-%010ld-%06u", svc_clock_ms(CLOCK_REALTIME),
                 (long)getpid(), ++sp->seq % 1000000);
        snprintf(tmp, sizeof(tmp), SPOOL_TMP "%s", sp->base);
        snprintf(name, sizeof(name), "%s.open", sp->base);
        if ((fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
                return -1;
        if (flock(fd, LOCK_EX) == -1 || rename_new(sp->dirfd, tmp, name) == -1) {
                e = errno;
                unlinkat(sp->dirfd, tmp, 0);
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
                put32(p + 8, (uint32_t)tl);
                put32(p + 12, (uint32_t)recs[i].key_len);
                put32(p + 16, (uint32_t)recs[i].val_len);
                memcpy(p + SPOOL_HDR, recs[i].topic, tl);
                if (recs[i].key_len)
                        memcpy(p + SPOOL_HDR + tl, recs[i].key, recs[i].key_len);
                if (recs[i].val_len)
                        memcpy(p + SPOOL_HDR + tl + recs[i].key_len, recs[i].val, recs[i].val_len);
                put32(p + 4,
                      (uint32_t)crc32_z(0, p + 8, 12 + tl + recs[i].key_len + recs[i].val_len));
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

/* Seals the open file when it is old or full enough, and checks that total more bytes
 * stay within SPOOL_MAX_BYTES (the directory is scanned again now and then). */
static svc_spool_err_t make_room(svc_spool_t *sp, size_t total, char *errstr, size_t errstr_size) {
        long long now = svc_clock_ms(CLOCK_MONOTONIC), used;

        if (sp->fd != -1 && (now - sp->opened_ms >= SPOOL_SEAL_MS ||
                             sp->size + (long long)total > SPOOL_SEAL_BYTES))
                svc_spool_seal(sp);
        if (!sp->scanned_ms || now - sp->scanned_ms >= SPOOL_SCAN_MS) {
                if (scan(sp->dirfd, NULL, &used) == -1)
                        return io_error(errno, sp, "reading the directory", errstr, errstr_size);
                sp->used = used;
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
        rename_new(sp->dirfd, from, to);
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

int svc_spool_usage(const char *dir, long long *records, long long *bytes) {
        int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret, e;

        if (dirfd == -1)
                return -1;
        ret = scan(dirfd, records, bytes);
        e = errno;
        close(dirfd);
        errno = e;
        return ret;
}

static void mark_path(char *path, size_t path_size, const char *dir) {
        snprintf(path, path_size, "%s/" SPOOL_MARK, dir);
}

void svc_spool_mark_down(const char *dir) {
        char path[PATH_MAX];
        int fd;

        mark_path(path, sizeof(path), dir);
        if (utimensat(AT_FDCWD, path, NULL, 0) == 0 || errno != ENOENT)
                return;
        if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) != -1)
                close(fd);
}

void svc_spool_mark_up(const char *dir) {
        char path[PATH_MAX];

        mark_path(path, sizeof(path), dir);
        unlink(path);
}

int svc_spool_is_down(const char *dir, int max_age_ms) {
        char path[PATH_MAX];
        struct stat st;
        long long age;

        mark_path(path, sizeof(path), dir);
        if (stat(path, &st) == -1)
                return 0;
        age = svc_clock_ms(CLOCK_REALTIME) -
              ((long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
        return age <= max_age_ms; /* a mark from "the future" (clock step) counts too */
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

char **svc_spool_list(const char *dir, char *errstr, size_t errstr_size) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char **names = NULL, **n;
        size_t cnt = 0, size = 0;
        long long records;

        if (!d) {
                snprintf(errstr, errstr_size, "spool directory %s: %s", dir, strerror(errno));
                return NULL;
        }
        while ((de = readdir(d))) {
                if (!name_kind(de->d_name, &records))
                        continue;
                if (cnt + 1 >= size) { /* room for this one and the NULL after it */
                        size = size ? size * 2 : 64;
                        if (!(n = realloc(names, size * sizeof(*names))))
                                goto oom;
                        names = n;
                }
                if (!(names[cnt] = strdup(de->d_name)))
                        goto oom;
                cnt++;
        }
        if (!names && !(names = calloc(1, sizeof(*names))))
                goto oom;
        names[cnt] = NULL;
        qsort(names, cnt, sizeof(*names), cmp_names);
        closedir(d);
        return names;
oom:
        closedir(d);
        if (names)
                names[cnt] = NULL;
        svc_spool_list_free(names);
        snprintf(errstr, errstr_size, "out of memory listing %s", dir);
        return NULL;
}

void svc_spool_list_free(char **names) {
        if (!names)
                return;
        for (char **p = names; *p; p++)
                free(*p);
        free(names);
}

/* Renames a file the forwarder does not trust out of its way. Returns -2, with errstr. */
static int set_aside(svc_spool_file_t *f, const char *why, char *errstr, size_t errstr_size) {
        char to[NAME_MAX + 1];

        if (snprintf(to, sizeof(to), SPOOL_REFUSED "%s", f->name) >= (int)sizeof(to) ||
            renameat(f->dirfd, f->name, f->dirfd, to) == -1)
                snprintf(errstr, errstr_size, "%s %s: not forwarded (cannot be set aside: %s)",
                         f->name, why, strerror(errno));
        else
                snprintf(errstr, errstr_size, "%s %s: not forwarded, set aside as %s", f->name, why,
                         to);
        return -2;
}

int svc_spool_file_open(const char *dir, const char *name, int flags, svc_spool_file_t **file,
                        char *errstr, size_t errstr_size) {
        svc_spool_file_t *f = calloc(1, sizeof(*f));
        struct stat st, by_name;
        char why[128];
        int ret = -1;

        *file = NULL;
        if (!f || !(f->name = strdup(name))) {
                snprintf(errstr, errstr_size, "out of memory");
                free(f);
                return -1;
        }
        f->fd = -1;
        if ((f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
                snprintf(errstr, errstr_size, "spool directory %s: %s", dir, strerror(errno));
                goto out;
        }
        /* O_NONBLOCK: a FIFO put there must not hang the reader */
        if ((f->fd = openat(f->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) ==
            -1) {
                if (errno == ENOENT)
                        ret = 0;
                else if (errno == ELOOP && (flags & SVC_SPOOL_F_TAKE))
                        ret = set_aside(f, "is a symbolic link", errstr, errstr_size);
                else
                        snprintf(errstr, errstr_size, "%s/%s: %s", dir, name, strerror(errno));
                goto out;
        }
        if (fstat(f->fd, &st) == -1) {
                snprintf(errstr, errstr_size, "%s/%s: %s", dir, name, strerror(errno));
                goto out;
        }
        if (flags & SVC_SPOOL_F_TAKE) {
                if (untrusted(&st, S_IFREG, why, sizeof(why))) {
                        ret = set_aside(f, why, errstr, errstr_size);
                        goto out;
                }
                if (flock(f->fd, LOCK_EX | LOCK_NB) == -1) {
                        if (errno == EWOULDBLOCK)
                                ret = 0;
                        else
                                snprintf(errstr, errstr_size, "%s/%s: lock: %s", dir, name,
                                         strerror(errno));
                        goto out;
                }
                /* Locked once its writer sealed it under another name, or once another
                 * forwarder removed it: this name is then no longer this file. */
                if (fstatat(f->dirfd, name, &by_name, AT_SYMLINK_NOFOLLOW) == -1 ||
                    st.st_ino != by_name.st_ino || st.st_dev != by_name.st_dev) {
                        ret = 0;
                        goto out;
                }
                /* the size now that its writer is done with it */
                if (fstat(f->fd, &st) == -1) {
                        snprintf(errstr, errstr_size, "%s/%s: %s", dir, name, strerror(errno));
                        goto out;
                }
        }
        if (!(f->buf = malloc(st.st_size ? (size_t)st.st_size : 1))) {
                snprintf(errstr, errstr_size, "out of memory reading %s/%s", dir, name);
                goto out;
        }
        while (f->len < (size_t)st.st_size) {
                ssize_t n =
                    pread(f->fd, f->buf + f->len, (size_t)st.st_size - f->len, (off_t)f->len);
                if (n == -1) {
                        snprintf(errstr, errstr_size, "%s/%s: %s", dir, name, strerror(errno));
                        goto out;
                }
                if (n == 0)
                        break; /* cut meanwhile: the rest is read as a torn tail */
                f->len += (size_t)n;
        }
        *file = f;
        return 1;
out:
        svc_spool_file_close(f);
        return ret;
}

/* Checks the record at off; on success fills rec (when not NULL) and *end. */
static int parse_at(svc_spool_file_t *f, size_t off, struct svc_spool_rec *rec, size_t *end) {
        const unsigned char *p = f->buf + off;
        size_t tl, kl, vl;

        if (f->len - off < SPOOL_HDR || memcmp(p, SPOOL_MAGIC, 4))
                return 0;
        tl = get32(p + 8);
        kl = get32(p + 12);
        vl = get32(p + 16);
        if (tl == 0 || tl > SPOOL_TOPIC_MAX || tl + kl + vl > f->len - off - SPOOL_HDR ||
            crc32_z(0, p + 8, 12 + tl + kl + vl) != get32(p + 4))
                return 0;
        *end = off + SPOOL_HDR + tl + kl + vl;
        if (rec) {
                memcpy(f->topic, p + SPOOL_HDR, tl);
                f->topic[tl] = '\0';
                rec->topic = f->topic;
                rec->key = (const char *)p + SPOOL_HDR + tl;
                rec->key_len = kl;
                rec->val = (const char *)p + SPOOL_HDR + tl + kl;
                rec->val_len = vl;
        }
        return 1;
}

svc_spool_next_t svc_spool_file_next(svc_spool_file_t *f, struct svc_spool_rec *rec, size_t *off,
                                     size_t *len) {
        size_t start = f->off, p, end;
        const unsigned char *m;

        *off = start;
        *len = 0;
        if (start >= f->len)
                return SVC_SPOOL_END;
        if (parse_at(f, start, rec, &end)) {
                *len = end - start;
                f->off = end;
                return SVC_SPOOL_RECORD;
        }
        /* Damaged: go on at the next place where a whole record checks out, if any. */
        for (p = start + 1; p < f->len; p = (size_t)(m - f->buf) + 1) {
                if (!(m = memmem(f->buf + p, f->len - p, SPOOL_MAGIC, 4))) {
                        p = f->len;
                        break;
                }
                if (parse_at(f, (size_t)(m - f->buf), NULL, &end)) {
                        p = (size_t)(m - f->buf);
                        break;
                }
        }
        *len = p - start;
        f->off = p;
        return SVC_SPOOL_DAMAGED;
}

int svc_spool_file_remove(svc_spool_file_t *f, char *errstr, size_t errstr_size) {
        int ret = 0;

        if (unlinkat(f->dirfd, f->name, 0) == -1 || fsync(f->dirfd) == -1) {
                snprintf(errstr, errstr_size, "removing %s: %s", f->name, strerror(errno));
                ret = -1;
        }
        svc_spool_file_close(f);
        return ret;
}

void svc_spool_file_close(svc_spool_file_t *f) {
        if (!f)
                return;
        if (f->fd != -1)
                close(f->fd);
        if (f->dirfd >= 0)
                close(f->dirfd);
        free(f->buf);
        free(f->name);
        free(f);
}

void svc_spool_sweep(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        struct stat st;
        time_t now = time(NULL);

        if (!d)
                return;
        while ((de = readdir(d)))
                if (!strncmp(de->d_name, SPOOL_TMP, strlen(SPOOL_TMP)) &&
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    now - st.st_mtime > SPOOL_TMP_MAX_AGE_S)
                        unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
}
