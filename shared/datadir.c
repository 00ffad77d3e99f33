/* datadir.c - confined opens inside a data directory: the kernel walks the path beneath
 * the directory; a path through an absolute link is followed, then judged by where the
 * opened file really is. */
#include "datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(svc_datadir_err_t *err, svc_datadir_err_t e, char *errstr, size_t errstr_size,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(svc_datadir_err_t *err, svc_datadir_err_t e, char *errstr, size_t errstr_size,
                const char *fmt, ...) {
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
        case EACCES:
        case EPERM: return SVC_DATADIR_DENIED;
        case ENAMETOOLONG: return SVC_DATADIR_TOO_LONG;
        default: return SVC_DATADIR_UNOPENABLE;
        }
}

/* The path the kernel holds for fd, symbolic links resolved. */
static int fd_path(int fd, char *path, size_t path_size) {
        char link[32];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        if ((n = readlink(link, path, path_size)) == -1)
                return -1;
        if ((size_t)n == path_size) {
                errno = ENAMETOOLONG;
                return -1;
        }
        path[n] = '\0';
        return 0;
}

/* dir itself or below it; both are real paths. */
static int is_inside(const char *dir, const char *path) {
        size_t n = strlen(dir);
        if (n == 1) /* "/" */
                return 1;
        return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

int svc_datadir_open(const char *dir, const char *relpath, svc_datadir_err_t *err, char *errstr,
                     size_t errstr_size) {
        struct open_how how = {
            .flags = O_PATH | O_CLOEXEC,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        char dir_real[PATH_MAX], file_real[PATH_MAX], link[32];
        struct stat st;
        int dirfd = -1, pathfd = -1, fd = -1, followed = 0;

        *err = SVC_DATADIR_OK;
        if (relpath[0] == '/')
                return fail(err, SVC_DATADIR_ABSOLUTE, errstr, errstr_size,
                            "%s is an absolute path", relpath);
        if (has_dotdot(relpath))
                return fail(err, SVC_DATADIR_DOTDOT, errstr, errstr_size, "%s has a '..' component",
                            relpath);
        if ((dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1 ||
            fd_path(dirfd, dir_real, sizeof(dir_real)) == -1) {
                fail(err, SVC_DATADIR_UNAVAILABLE, errstr, errstr_size, "data directory %s: %s",
                     dir, strerror(errno));
                goto out;
        }
        /* O_PATH opens nothing yet: no FIFO blocks, no device notices. The kernel keeps
         * the walk beneath dirfd, and says EXDEV when a link is absolute or climbs out. */
        pathfd = (int)syscall(SYS_openat2, dirfd, relpath, &how, sizeof(how));
        if (pathfd == -1 && (errno == EXDEV || errno == ENOSYS)) {
                /* Follow the links, then judge the file by where it really is. */
                followed = 1;
                pathfd = openat(dirfd, relpath, O_PATH | O_CLOEXEC);
        }
        if (pathfd == -1) {
                /* Past a link, "missing" would tell what exists outside: say outside. */
                fail(err, followed ? SVC_DATADIR_OUTSIDE : err_of(errno), errstr, errstr_size,
                     "open %s in %s: %s", relpath, dir, strerror(errno));
                goto out;
        }
        if (fd_path(pathfd, file_real, sizeof(file_real)) == -1) {
                fail(err, SVC_DATADIR_UNAVAILABLE, errstr, errstr_size,
                     "the real path of %s in %s: %s", relpath, dir, strerror(errno));
                goto out;
        }
        if (!is_inside(dir_real, file_real)) {
                fail(err, SVC_DATADIR_OUTSIDE, errstr, errstr_size, "%s in %s is %s, outside %s",
                     relpath, dir, file_real, dir_real);
                goto out;
        }
        if (fstat(pathfd, &st) == -1)
                st.st_mode = 0;
        if (!S_ISREG(st.st_mode)) {
                fail(err, S_ISDIR(st.st_mode) ? SVC_DATADIR_IS_DIR : SVC_DATADIR_NOT_REGULAR,
                     errstr, errstr_size, "%s in %s is not a regular file", relpath, dir);
                goto out;
        }
        /* Reopen the checked file itself, not its name, which may have changed since. */
        snprintf(link, sizeof(link), "/proc/self/fd/%d", pathfd);
        if ((fd = open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
                fail(err, err_of(errno), errstr, errstr_size, "open %s in %s: %s", relpath, dir,
                     strerror(errno));
out:
        if (pathfd != -1)
                close(pathfd);
        if (dirfd != -1)
                close(dirfd);
        return fd;
}
