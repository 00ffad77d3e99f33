/* spool_read.c - the spool's reader, for the forwarder and tools/spooltool: lists the
 * files oldest first, takes one whose writer is gone (its lock free: livefile.h) or that
 * is sealed, walks its records (checksums verified, damaged runs skipped), removes it once
 * Kafka has it all, sets aside a file it does not trust, and sweeps what a writer dying
 * at the wrong moment left. The format is spool.c's.
 *
 * Threads: the caller's; a file is read by one thread at a time. Memory: a list and a
 * file are the caller's (svc_spool_list_free, svc_spool_file_close); a record points
 * into its file's buffer and lives as long as the file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "livefile.h"
#include "log.h"
#include "spool_int.h"

struct svc_spool_file {
        int dirfd;
        int fd;
        char *name;
        unsigned char *buf; /* the whole file */
        size_t len;
        size_t off; /* where the next record starts */
        char topic[SPOOL_TOPIC_MAX + 1];
};

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
                if (!svc_spool_name_kind(de->d_name, &records))
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
                if (svc_spool_untrusted(&st, S_IFREG, why, sizeof(why))) {
                        ret = set_aside(f, why, errstr, errstr_size);
                        goto out;
                }
                switch (svc_livefile_writer_lives(f->fd)) {
                case 0: break; /* its writer is gone: the lock is ours */
                case 1: ret = 0; goto out;
                default:
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
        tl = svc_spool_get32(p + 8);
        kl = svc_spool_get32(p + 12);
        vl = svc_spool_get32(p + 16);
        if (tl == 0 || tl > SPOOL_TOPIC_MAX || tl + kl + vl > f->len - off - SPOOL_HDR ||
            crc32_z(0, p + 8, 12 + tl + kl + vl) != svc_spool_get32(p + 4))
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

        if (!d)
                return;
        while ((de = readdir(d)))
                svc_livefile_sweep(dirfd(d), de->d_name, SPOOL_TMP_MAX_AGE_S);
        closedir(d);
}
