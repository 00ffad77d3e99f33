/* test_livefile.c - files whose lock says their writer lives: created under a temporary
 * name and locked, put in place without replacing anything, asked whether their writer
 * lives, and swept when a crash left them behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "livefile.h"
#include "tap.h"

static int exists(int dirfd, const char *name) {
        struct stat st;
        return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Sets name's modification time age_s seconds back. */
static void age(int dirfd, const char *name, int age_s) {
        struct timespec times[2] = {{time(NULL) - age_s, 0}, {time(NULL) - age_s, 0}};
        utimensat(dirfd, name, times, 0);
}

int main(void) {
        char dir[] = "/tmp/test_livefile.XXXXXX", buf[8] = "";
        int dirfd, fd, reader, shared;

        if (!mkdtemp(dir) || (dirfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
                return 1;

        fd = svc_livefile_create(dirfd, ".tmp-a", "head", 4, SVC_LIVEFILE_F_LOCK);
        ok(fd != -1, "create: a locked file under its temporary name");
        ok(pread(fd, buf, 4, 0) == 4 && !memcmp(buf, "head", 4), "create: with its head");
        ok(svc_livefile_create(dirfd, ".tmp-a", NULL, 0, 0) == -1 && errno == EEXIST,
           "create: never an existing file");
        is_int(svc_livefile_place(dirfd, ".tmp-a", "a"), 0, "place: in place");
        ok(exists(dirfd, "a") && !exists(dirfd, ".tmp-a"), "place: under its name only");
        reader = openat(dirfd, "a", O_RDONLY);
        is_int(svc_livefile_writer_lives(reader), 1, "a reader: the writer lives while locked");
        close(fd);
        is_int(svc_livefile_writer_lives(reader), 0, "a reader: the writer is gone, lock taken");
        close(reader);

        shared = svc_livefile_create(dirfd, ".tmp-b", "x", 1, 0);
        close(shared);
        errno = 0;
        ok(svc_livefile_place(dirfd, ".tmp-b", "a") == -1 && errno == EEXIST,
           "place: never replaces a file (EEXIST)");
        ok(!exists(dirfd, ".tmp-b"), "place: a failure leaves no temporary file");

        static const struct {
                const char *name;
                int age_s, want, kept;
        } sweeps[] = {
            {".tmp-old", 120, 1, 0},
            {".tmp-young", 0, 1, 1},
            {"a", 120, 0, 1},
            {NULL, 0, 0, 0},
        };
        for (int i = 0; sweeps[i].name; i++) {
                if (!exists(dirfd, sweeps[i].name))
                        close(openat(dirfd, sweeps[i].name, O_WRONLY | O_CREAT, 0600));
                age(dirfd, sweeps[i].name, sweeps[i].age_s);
                is_int(svc_livefile_sweep(dirfd, sweeps[i].name, 60), sweeps[i].want,
                       "sweep %s: temporary or not", sweeps[i].name);
                is_int(exists(dirfd, sweeps[i].name), sweeps[i].kept, "sweep %s: kept or not",
                       sweeps[i].name);
        }
        unlinkat(dirfd, "a", 0);
        unlinkat(dirfd, ".tmp-young", 0);
        close(dirfd);
        rmdir(dir);
        return done_testing();
}
