/* datadir.c - confined opens inside a data directory. */
#include "datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(svc_datadir_err_t *err, svc_datadir_err_t e, char *errstr,
                size_t errstr_size, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(svc_datadir_err_t *err, svc_datadir_err_t e, char *errstr,
                size_t errstr_size, const char *fmt, ...) {
        va_list ap;
        *err = e;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
        return -1;
}

static int has_dotdot(const char *path) {
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return 1;
                p += n + (p[n] == '/');
        }
        return 0;
}

static svc_datadir_err_t err_of(int e) {
        switch (e) {
        case ENOENT:
        case ENOTDIR: return SVC_DATADIR_NOT_FOUND;
        case EXDEV:
        case ELOOP: return SVC_DATADIR_OUTSIDE;
        case EACCES:
        case EPERM: return SVC_DATADIR_DENIED;
        case ENAMETOOLONG: return SVC_DATADIR_TOO_LONG;
        default: return SVC_DATADIR_UNOPENABLE;
        }
}

/* openat2(RESOLVE_BENEATH): the kernel resolves the path inside dirfd and refuses
 * absolute paths, ".." and symbolic links that lead out of it. */
static int open_beneath(int dirfd, const char *path) {
        struct open_how how = {
            .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* Without openat2 (kernels before 5.6): resolve both paths and compare the results. */
static int open_resolved(const char *data_dir, const char *path) {
        char *dir = realpath(data_dir, NULL), *full = NULL, *file = NULL;
        size_t dlen;
        int fd = -1;

        if (!dir || asprintf(&full, "%s/%s", dir, path) < 0)
                goto out;
        if (!(file = realpath(full, NULL)))
                goto out;
        dlen = strlen(dir);
        if (strncmp(file, dir, dlen) != 0 || (file[dlen] != '/' && dlen > 1)) {
                errno = EXDEV;
                goto out;
        }
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
out:
        free(dir);
        free(full);
        free(file);
        return fd;
}

int svc_datadir_open(const char *dir, const char *relpath, svc_datadir_err_t *err,
                     char *errstr, size_t errstr_size) {
        struct stat st;
        int dirfd, fd, e;

        *err = SVC_DATADIR_OK;
        if (relpath[0] == '/')
                return fail(err, SVC_DATADIR_ABSOLUTE, errstr, errstr_size,
                            "%s is an absolute path", relpath);
        if (has_dotdot(relpath))
                return fail(err, SVC_DATADIR_DOTDOT, errstr, errstr_size,
                            "%s has a '..' component", relpath);
        if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
                return fail(err, SVC_DATADIR_UNAVAILABLE, errstr, errstr_size,
                            "data directory %s: %s", dir, strerror(errno));
        fd = open_beneath(dirfd, relpath);
        if (fd == -1 && errno == ENOSYS)
                fd = open_resolved(dir, relpath);
        e = errno;
        close(dirfd);
        if (fd == -1)
                return fail(err, err_of(e), errstr, errstr_size, "open %s in %s: %s", relpath,
                            dir, strerror(e));
        if (fstat(fd, &st) == -1)
                st.st_mode = 0;
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return fail(err, S_ISDIR(st.st_mode) ? SVC_DATADIR_IS_DIR : SVC_DATADIR_NOT_REGULAR,
                            errstr, errstr_size, "%s in %s is not a regular file", relpath, dir);
        }
        /* O_NONBLOCK only kept a FIFO from blocking the open; a regular file ignores it,
         * but clear it anyway. */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
}
