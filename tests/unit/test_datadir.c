/* test_datadir.c - confined opens: what is opened inside the data directory, and what
 * is refused (absolute paths, "..", links leading out, non-regular files), with which
 * error. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datadir.h"
#include "tap.h"

static char root[256]; /* holds data/ and, beside it, what must stay out of reach */

static void put(const char *rel, const char *text) {
        char p[PATH_MAX];
        FILE *fp;
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        if (!(fp = fopen(p, "w")))
                return;
        fputs(text, fp);
        fclose(fp);
}

/* link REL -> TARGET; a TARGET starting with '@' is made absolute under root. */
static void mklink(const char *rel, const char *target) {
        char p[PATH_MAX], t[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        if (target[0] == '@')
                snprintf(t, sizeof(t), "%s/%s", root, target + 1);
        else
                snprintf(t, sizeof(t), "%s", target);
        if (symlink(t, p) == -1)
                perror(p);
}

static void mkdir_in(const char *rel) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        mkdir(p, 0755);
}

static const char *const err_name[] = {
    [SVC_DATADIR_OK] = "opened",
    [SVC_DATADIR_ABSOLUTE] = "absolute",
    [SVC_DATADIR_DOTDOT] = "dot-dot",
    [SVC_DATADIR_OUTSIDE] = "outside",
    [SVC_DATADIR_NOT_FOUND] = "not found",
    [SVC_DATADIR_DENIED] = "denied",
    [SVC_DATADIR_TOO_LONG] = "too long",
    [SVC_DATADIR_IS_DIR] = "a directory",
    [SVC_DATADIR_NOT_REGULAR] = "not regular",
    [SVC_DATADIR_UNOPENABLE] = "unopenable",
    [SVC_DATADIR_UNAVAILABLE] = "unavailable",
};

/* The whole content of fd (at most 63 bytes). */
static const char *slurp(int fd) {
        static char buf[64];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        return buf;
}

int main(void) {
        static const struct {
                const char *relpath;
                svc_datadir_err_t err;
                const char *content; /* of the opened file, when err is OK */
        } t[] = {
            {"ok.csv", SVC_DATADIR_OK, "ok"},
            {"./ok.csv", SVC_DATADIR_OK, "ok"},
            {"sub/inner.csv", SVC_DATADIR_OK, "inner"},
            {"sub//inner.csv", SVC_DATADIR_OK, "inner"},
            {"rel-in.csv", SVC_DATADIR_OK, "inner"},
            {"sub/up.csv", SVC_DATADIR_OK, "ok"},
            {"abs-in.csv", SVC_DATADIR_OK, "ok"},
            {"abs-dir-in/inner.csv", SVC_DATADIR_OK, "inner"},
            {"sub/abs-up.csv", SVC_DATADIR_OK, "ok"},
            {"..x", SVC_DATADIR_OK, "dots"},
            {"/etc/passwd", SVC_DATADIR_ABSOLUTE, NULL},
            {"../outside/secret.csv", SVC_DATADIR_DOTDOT, NULL},
            {"sub/../ok.csv", SVC_DATADIR_DOTDOT, NULL},
            {"sub/..", SVC_DATADIR_DOTDOT, NULL},
            {"abs-out.csv", SVC_DATADIR_OUTSIDE, NULL},
            {"rel-out.csv", SVC_DATADIR_OUTSIDE, NULL},
            {"dir-out/secret.csv", SVC_DATADIR_OUTSIDE, NULL},
            {"rel-dir-out/secret.csv", SVC_DATADIR_OUTSIDE, NULL},
            {"prefix-out.csv", SVC_DATADIR_OUTSIDE, NULL},
            {"abs-prefix-out.csv", SVC_DATADIR_OUTSIDE, NULL},
            {"magic-out.csv", SVC_DATADIR_OUTSIDE, NULL},
            /* Through a link out, a missing file looks like an existing one: the answer
             * tells nothing about what exists outside. */
            {"dir-out/nope.csv", SVC_DATADIR_OUTSIDE, NULL},
            {"rel-dir-out/nope.csv", SVC_DATADIR_OUTSIDE, NULL},
            {"abs-dangling.csv", SVC_DATADIR_OUTSIDE, NULL},
            {"nope.csv", SVC_DATADIR_NOT_FOUND, NULL},
            {"...", SVC_DATADIR_NOT_FOUND, NULL},
            {"ok.csv/x", SVC_DATADIR_NOT_FOUND, NULL},
            {"sub", SVC_DATADIR_IS_DIR, NULL},
            {".", SVC_DATADIR_IS_DIR, NULL},
            {"abs-self", SVC_DATADIR_IS_DIR, NULL},
            {"fifo", SVC_DATADIR_NOT_REGULAR, NULL},
            {"abs-fifo", SVC_DATADIR_NOT_REGULAR, NULL},
            {"loop", SVC_DATADIR_UNOPENABLE, NULL},
            {NULL, 0, NULL},
        };
        char dir[PATH_MAX], errstr[512], longname[300];
        svc_datadir_err_t err;
        int fd;

        snprintf(root, sizeof(root), "%s/test_datadir.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(root)) {
                perror("mkdtemp");
                return 1;
        }
        mkdir_in("data");
        mkdir_in("data/sub");
        mkdir_in("outside");
        mkdir_in("data-evil");
        put("data/ok.csv", "ok");
        put("data/..x", "dots");
        put("data/sub/inner.csv", "inner");
        put("outside/secret.csv", "secret");
        put("data-evil/x.csv", "evil");
        mklink("data/rel-in.csv", "sub/inner.csv");
        mklink("data/sub/up.csv", "../ok.csv");
        mklink("data/abs-out.csv", "@outside/secret.csv");
        mklink("data/rel-out.csv", "../outside/secret.csv");
        mklink("data/dir-out", "@outside");
        mklink("data/rel-dir-out", "../outside");
        mklink("data/prefix-out.csv", "../data-evil/x.csv");
        mklink("data/abs-in.csv", "@data/ok.csv");
        mklink("data/abs-dir-in", "@data/sub");
        mklink("data/sub/abs-up.csv", "@data/ok.csv");
        mklink("data/abs-prefix-out.csv", "@data-evil/x.csv");
        mklink("data/magic-out.csv", "/proc/self/exe");
        mklink("data/abs-dangling.csv", "@data/nope.csv");
        mklink("data/abs-self", "@data");
        mklink("data/abs-fifo", "@data/fifo");
        mklink("data/loop", "loop");
        snprintf(dir, sizeof(dir), "%s/data/fifo", root);
        mkfifo(dir, 0644);
        snprintf(dir, sizeof(dir), "%s/data", root);

        for (int i = 0; t[i].relpath; i++) {
                errstr[0] = '\0';
                fd = svc_datadir_open(dir, t[i].relpath, &err, errstr, sizeof(errstr));
                ok(err == t[i].err && (fd == -1) == (t[i].err != SVC_DATADIR_OK), "'%s' -> %s",
                   t[i].relpath, err_name[t[i].err]);
                if (err != t[i].err)
                        printf("#   got: %s, fd %d (%s)\n", err_name[err], fd, errstr);
                if (fd == -1) {
                        ok(errstr[0] != '\0', "'%s': errstr says why", t[i].relpath);
                        continue;
                }
                is_str(slurp(fd), t[i].content, "'%s': the right file", t[i].relpath);
                ok((fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_RDONLY &&
                       (fcntl(fd, F_GETFD) & FD_CLOEXEC),
                   "'%s': read-only, blocking, close-on-exec", t[i].relpath);
                close(fd);
        }

        memset(longname, 'n', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        fd = svc_datadir_open(dir, longname, &err, errstr, sizeof(errstr));
        ok(fd == -1 && err == SVC_DATADIR_TOO_LONG, "a 299-byte name -> too long");

        /* The directory may be named through a link, or relative to the working one. */
        mklink("data-link", "data");
        snprintf(dir, sizeof(dir), "%s/data-link", root);
        fd = svc_datadir_open(dir, "sub/inner.csv", &err, errstr, sizeof(errstr));
        ok(fd != -1 && !strcmp(slurp(fd), "inner"), "a data directory named by a link");
        if (fd != -1)
                close(fd);
        if (chdir(root) == 0) {
                fd = svc_datadir_open("data", "ok.csv", &err, errstr, sizeof(errstr));
                ok(fd != -1 && !strcmp(slurp(fd), "ok"), "a relative data directory");
                if (fd != -1)
                        close(fd);
        }
        snprintf(dir, sizeof(dir), "%s/no-such-dir", root);
        fd = svc_datadir_open(dir, "ok.csv", &err, errstr, sizeof(errstr));
        ok(fd == -1 && err == SVC_DATADIR_UNAVAILABLE && strstr(errstr, "no-such-dir"),
           "a missing data directory -> unavailable, and errstr names it");

        if (geteuid() != 0) { /* root reads anything */
                put("data/secret-mode.csv", "x");
                snprintf(dir, sizeof(dir), "%s/data/secret-mode.csv", root);
                chmod(dir, 0);
                snprintf(dir, sizeof(dir), "%s/data", root);
                fd = svc_datadir_open(dir, "secret-mode.csv", &err, errstr, sizeof(errstr));
                ok(fd == -1 && err == SVC_DATADIR_DENIED, "an unreadable file -> denied");
        }

        pid_t pid = fork();
        if (pid == 0) {
                execlp("rm", "rm", "-rf", root, (char *)NULL);
                _exit(127);
        }
        waitpid(pid, NULL, 0);
        return done_testing();
}
