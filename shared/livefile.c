/* livefile.c - files whose lock says their writer lives (livefile.h): create under a
 * temporary name, lock, put in place; ask whether the writer lives; sweep what a crash
 * left. Threads: none of its own; any thread. Memory: nothing allocated; the caller owns
 * every fd it gets. */
#include "livefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int svc_livefile_create(int dirfd, const char *tmp, const void *head, size_t head_len, int flags) {
        int fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600), e;
        ssize_t n;

        if (fd == -1)
                return -1;
        if ((flags & SVC_LIVEFILE_F_LOCK) && flock(fd, LOCK_EX) == -1)
                goto fail;
        if (head_len && (n = pwrite(fd, head, head_len, 0)) != (ssize_t)head_len) {
                if (n >= 0)
                        errno = EIO; /* short: a full disk */
                goto fail;
        }
        return fd;
fail:
        e = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        errno = e;
        return -1;
}

int svc_livefile_rename(int dirfd, const char *from, const char *to) {
        if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -1;
        /* A file system without the flag: a link never replaces either. */
        if (linkat(dirfd, from, dirfd, to, 0) == -1)
                return -1;
        unlinkat(dirfd, from, 0);
        return 0;
}

int svc_livefile_place(int dirfd, const char *tmp, const char *name) {
        int e;

        if (svc_livefile_rename(dirfd, tmp, name) == 0)
                return 0;
        e = errno;
        unlinkat(dirfd, tmp, 0);
        errno = e;
        return -1;
}

int svc_livefile_writer_lives(int fd) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                return 0;
        return errno == EWOULDBLOCK ? 1 : -1;
}

int svc_livefile_sweep(int dirfd, const char *name, int max_age_s) {
        struct stat st;

        if (strncmp(name, SVC_LIVEFILE_TMP, strlen(SVC_LIVEFILE_TMP)))
                return 0;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            time(NULL) - st.st_mtime > max_age_s)
                unlinkat(dirfd, name, 0);
        return 1;
}
