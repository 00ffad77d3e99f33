/* spool.c - the durable spool of /collect: append-only files of checksummed records, one
 * writer per file, and the reader the forwarder replays them with (docs/spool.md).
 *
 * A record is a 20-byte header followed by the topic, the key and the value:
 *   "SPL1" | crc32 | topic_len | key_len | val_len    (integers 32-bit little-endian)
 * The CRC (zlib's crc32) covers the three lengths and the bytes after them.
 * File names sort oldest first: <epoch ms, 16 digits>-<pid, 10>-<seq, 6> followed by
 * ".open" while written and ".<records>.spool" once sealed.
 *
 * This file holds what the writer (spool_write.c) and the reader (spool_read.c) share: how
 * a directory is trusted, probed and measured. Threads: the caller's; nothing is kept
 * between calls. Memory: nothing allocated outlives a call; fds are the caller's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "livefile.h"
#include "log.h"
#include "spool_int.h"

int svc_spool_name_kind(const char *name, long long *records) {
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
                off += SPOOL_HDR + (long long)svc_spool_get32(h + 8) + svc_spool_get32(h + 12) +
                       svc_spool_get32(h + 16);
                if (off > size)
                        break;
                cnt++;
        }
        close(fd);
        return cnt;
}

int svc_spool_scan(int dirfd, long long *records, long long *bytes) {
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
                if (!(kind = svc_spool_name_kind(de->d_name, &n)) ||
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

int svc_spool_untrusted(const struct stat *st, mode_t type, char *why, size_t why_size) {
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

int svc_spool_open_dir(const char *dir, char *errstr, size_t errstr_size) {
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
        if (fstat(fd, &st) == -1 || svc_spool_untrusted(&st, S_IFDIR, why, sizeof(why))) {
                snprintf(errstr, errstr_size, "spool directory %s %s: refused", dir,
                         *why ? why : "cannot be examined");
                close(fd);
                return -1;
        }
        return fd;
}

int svc_spool_probe(int dirfd, const char *dir, char *errstr, size_t errstr_size) {
        static unsigned probe_seq;
        char name[64];
        int fd, e;

        snprintf(name, sizeof(name), SVC_LIVEFILE_TMP "probe-%ld-%u", (long)getpid(),
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
        int dirfd = svc_spool_open_dir(dir, errstr, errstr_size), ret;

        if (dirfd == -1)
                return -1;
        ret = svc_spool_probe(dirfd, dir, errstr, errstr_size);
        close(dirfd);
        return ret;
}

int svc_spool_usage(const char *dir, long long *records, long long *bytes) {
        int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret, e;

        if (dirfd == -1)
                return -1;
        ret = svc_spool_scan(dirfd, records, bytes);
        e = errno;
        close(dirfd);
        errno = e;
        return ret;
}
