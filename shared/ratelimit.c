/* ratelimit.c - token buckets shared by every process of a host (ratelimit.h).
 *
 * The file, METRICS_DIR/limits.buckets: a header with a process-shared robust mutex, then
 * SVC_RATELIMIT_SLOTS buckets in an open-addressed table (SVC_RATELIMIT_PROBES probes).
 * Tokens are kept in millionths, so no float is shared between processes.
 *
 * Threads: any thread takes, under the mutex (held for a few hundred nanoseconds).
 * Memory: the table is a mapping held from open to close; the fd is closed at once. */
#include "ratelimit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "livefile.h"

#define LIMITS_MAGIC "SVCLIM01" /* change the digits whenever the layout changes */
#define LIMITS_FILE "limits.buckets"
#define MICRO 1000000LL

struct bucket {
        uint64_t id;        /* 0: free */
        int64_t tokens_u;   /* millionths of a token, at last_us */
        int64_t last_us;    /* when tokens_u was right */
        int64_t full_at_us; /* when the bucket is full again: free to give away after */
};

struct table {
        char magic[8];
        uint32_t size; /* sizeof(struct table) */
        uint32_t pad;
        pthread_mutex_t mutex; /* process-shared, robust */
        struct bucket buckets[SVC_RATELIMIT_SLOTS];
};

struct svc_ratelimit {
        struct table *t;
};

int64_t svc_ratelimit_now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * MICRO + ts.tv_nsec / 1000;
}

static int init_mutex(pthread_mutex_t *m) {
        pthread_mutexattr_t attr;
        int err;

        pthread_mutexattr_init(&attr);
        pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        err = pthread_mutex_init(m, &attr);
        pthread_mutexattr_destroy(&attr);
        return err;
}

static struct table *map_table(int fd) {
        void *p = mmap(NULL, sizeof(struct table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        return p == MAP_FAILED ? NULL : p;
}

/* Makes the file whole under a temporary name and puts it in place; a second creator
 * finds the first one's there (EEXIST) and uses it. */
static int create_file(const char *dir, const char *path, char *errstr, size_t errstr_size) {
        char tmp[4096];
        struct table *t = NULL;
        int fd, ret = -1;

        snprintf(tmp, sizeof(tmp), "%s/" SVC_LIVEFILE_TMP "limits-%d", dir, (int)getpid());
        unlink(tmp); /* a leftover of a process of the same pid */
        if ((fd = svc_livefile_create(AT_FDCWD, tmp, NULL, 0, 0)) == -1) {
                snprintf(errstr, errstr_size, "cannot create %s: %s", tmp, strerror(errno));
                return -1;
        }
        if (ftruncate(fd, sizeof(struct table)) == -1 || !(t = map_table(fd)) ||
            init_mutex(&t->mutex)) {
                snprintf(errstr, errstr_size, "cannot make %s: %s", tmp, strerror(errno));
                unlink(tmp);
                goto out;
        }
        t->size = sizeof(*t);
        memcpy(t->magic, LIMITS_MAGIC, sizeof(t->magic));
        if (svc_livefile_place(AT_FDCWD, tmp, path) == -1 && errno != EEXIST) {
                snprintf(errstr, errstr_size, "cannot create %s: %s", path, strerror(errno));
                goto out;
        }
        ret = 0;
out:
        if (t)
                munmap(t, sizeof(*t));
        close(fd);
        return ret;
}

svc_ratelimit_t *svc_ratelimit_open(const char *dir, char *errstr, size_t errstr_size) {
        svc_ratelimit_t *rl = calloc(1, sizeof(*rl));
        char path[4096];
        struct stat st;
        int fd = -1;

        if (!rl) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (!dir) {
                void *p = mmap(NULL, sizeof(struct table), PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED || init_mutex(&((struct table *)p)->mutex)) {
                        snprintf(errstr, errstr_size, "cannot map the limits' table: %s",
                                 strerror(errno));
                        goto fail;
                }
                rl->t = p;
                return rl;
        }
        snprintf(path, sizeof(path), "%s/" LIMITS_FILE, dir);
        for (int tries = 0; tries < 3 && !rl->t; tries++) {
                if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1) {
                        if (errno != ENOENT) {
                                snprintf(errstr, errstr_size, "cannot open %s: %s", path,
                                         strerror(errno));
                                goto fail;
                        }
                        if (create_file(dir, path, errstr, errstr_size) == -1)
                                goto fail;
                        continue;
                }
                if (fstat(fd, &st) == 0 && st.st_size == sizeof(struct table) &&
                    (rl->t = map_table(fd)) &&
                    (memcmp(rl->t->magic, LIMITS_MAGIC, 8) ||
                     rl->t->size != sizeof(struct table))) {
                        munmap(rl->t, sizeof(struct table));
                        rl->t = NULL;
                }
                close(fd);
                fd = -1;
                if (!rl->t) /* another layout (an older build): replaced */
                        unlink(path);
        }
        if (rl->t)
                return rl;
        snprintf(errstr, errstr_size, "%s: not of this build's layout", path);
fail:
        free(rl);
        return NULL;
}

/* The bucket of a->id: its own, or else a free one or the one that will be full soonest,
 * given to it full (never one of the request's other buckets, mine). */
static struct bucket *find(struct table *t, const struct svc_ratelimit_ask *a, int64_t now_us,
                           struct bucket *const *mine, size_t mine_cnt) {
        struct bucket *b, *victim = NULL;

        for (size_t i = 0; i < SVC_RATELIMIT_PROBES; i++) {
                int taken = 0;
                b = &t->buckets[(a->id + i) % SVC_RATELIMIT_SLOTS];
                if (b->id == a->id)
                        return b;
                for (size_t j = 0; j < mine_cnt; j++)
                        taken |= b == mine[j]; /* the request's other buckets stay theirs */
                if (taken)
                        continue;
                if (!victim || (victim->id && (!b->id || b->full_at_us < victim->full_at_us)))
                        victim = b;
        }
        victim->id = a->id;
        victim->tokens_u = (int64_t)a->burst * MICRO;
        victim->last_us = victim->full_at_us = now_us;
        return victim;
}

/* The bucket's tokens at now_us, at most its burst. */
static int64_t tokens_at(const struct bucket *b, const struct svc_ratelimit_ask *a,
                         int64_t now_us) {
        int64_t cap = (int64_t)a->burst * MICRO, elapsed = now_us - b->last_us;

        if (elapsed < 0 || b->tokens_u > cap || elapsed >= cap / a->rate + 1)
                return cap; /* a clock that went back (reboot), a smaller burst, or idle */
        return b->tokens_u + elapsed * a->rate < cap ? b->tokens_u + elapsed * a->rate : cap;
}

int svc_ratelimit_take(svc_ratelimit_t *rl, const struct svc_ratelimit_ask *asks, size_t ask_cnt,
                       int64_t now_us, unsigned *retry_after_s, size_t *refused) {
        struct table *t = rl->t;
        struct bucket *b[4];
        int64_t have[4], wait_us = 0;
        int err, fits = 1;

        if (ask_cnt > 4)
                ask_cnt = 4;
        if ((err = pthread_mutex_lock(&t->mutex)) == EOWNERDEAD)
                pthread_mutex_consistent(&t->mutex); /* buckets are whole words: still sane */
        else if (err)
                return 1; /* cannot count: let it through rather than refuse everyone */
        for (size_t i = 0; i < ask_cnt; i++) {
                int64_t need = (int64_t)asks[i].cost * MICRO;
                b[i] = find(t, &asks[i], now_us, b, i);
                have[i] = tokens_at(b[i], &asks[i], now_us);
                if (have[i] < need) {
                        int64_t w = (need - have[i] + asks[i].rate - 1) / asks[i].rate;
                        if (fits)
                                *refused = i;
                        fits = 0;
                        if (w > wait_us)
                                wait_us = w;
                }
        }
        for (size_t i = 0; i < ask_cnt; i++) {
                /* A refused request leaves its buckets refilled, not drawn. */
                b[i]->tokens_u = have[i] - (fits ? (int64_t)asks[i].cost * MICRO : 0);
                b[i]->last_us = now_us;
                b[i]->full_at_us =
                    now_us + ((int64_t)asks[i].burst * MICRO - b[i]->tokens_u) / asks[i].rate;
        }
        pthread_mutex_unlock(&t->mutex);
        if (!fits)
                *retry_after_s = wait_us <= MICRO ? 1 : (unsigned)((wait_us + MICRO - 1) / MICRO);
        return fits;
}

void svc_ratelimit_close(svc_ratelimit_t *rl) {
        if (!rl)
                return;
        munmap(rl->t, sizeof(*rl->t));
        free(rl);
}
