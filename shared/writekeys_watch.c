/* writekeys_watch.c - a process's write keys, read again when their file changes
 * (writekeys.h, the watcher). Threads: any thread looks up under a read lock; the first
 * to find the check due (at most every SVC_WRITEKEYS_CHECK_MS) stats the file and, when
 * it changed, parses the new one outside the lock and swaps it in under the write lock.
 * Memory: the watcher owns the current set; a replaced set is freed once swapped out. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "writekeys.h"

#define WRITEKEYS_FILE_MAX (16 * 1024 * 1024) /* far above 10000 keys of 128 bytes */

/* What says a file changed: a rename gives another inode, an edit another mtime or size. */
struct version {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
};

struct svc_writekeys_watch {
        char *path;
        pthread_rwlock_t lock; /* over keys */
        svc_writekeys_t *keys;
        pthread_mutex_t check;   /* held by the thread that looks at the file */
        long long next_check_ms; /* CLOCK_MONOTONIC; read and written with atomics */
        struct version seen;     /* the version last read, good or bad (under check) */
        int seen_ok;             /* 0: the file could not be stat'ed last time */
};

static int same_version(const struct version *a, const struct version *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
               a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Reads and parses path; *ver: the version read. NULL with errstr "<path>: ...". */
static svc_writekeys_t *load(const char *path, struct version *ver, char *errstr,
                             size_t errstr_size) {
        svc_writekeys_t *wk = NULL;
        char *text = NULL, why[256];
        struct stat st;
        size_t len = 0;
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC), line;

        if (fd == -1 || fstat(fd, &st) == -1) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                goto out;
        }
        *ver = (struct version){st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
        if (!S_ISREG(st.st_mode) || st.st_size > WRITEKEYS_FILE_MAX) {
                snprintf(errstr, errstr_size, "%s: not a regular file of at most %d bytes", path,
                         WRITEKEYS_FILE_MAX);
                goto out;
        }
        if (!(text = malloc((size_t)st.st_size + 1))) {
                snprintf(errstr, errstr_size, "%s: out of memory", path);
                goto out;
        }
        while (len < (size_t)st.st_size && (n = read(fd, text + len, (size_t)st.st_size - len)) > 0)
                len += (size_t)n;
        if (len < (size_t)st.st_size) {
                snprintf(errstr, errstr_size, "%s: cannot read it whole", path);
                goto out;
        }
        if (!(wk = svc_writekeys_parse(text, len, &line, why, sizeof(why))))
                snprintf(errstr, errstr_size, "%s: %s", path, why);
out:
        free(text);
        if (fd != -1)
                close(fd);
        return wk;
}

svc_writekeys_watch_t *svc_writekeys_watch_new(const char *path, char *errstr, size_t errstr_size) {
        svc_writekeys_watch_t *w = calloc(1, sizeof(*w));

        if (!w || !(w->path = strdup(path))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (!(w->keys = load(path, &w->seen, errstr, errstr_size)))
                goto fail;
        w->seen_ok = 1;
        pthread_rwlock_init(&w->lock, NULL);
        pthread_mutex_init(&w->check, NULL);
        w->next_check_ms = svc_clock_ms(CLOCK_MONOTONIC) + SVC_WRITEKEYS_CHECK_MS;
        return w;
fail:
        if (w)
                free(w->path);
        free(w);
        return NULL;
}

/* Under w->check: reads the file again when it changed since last seen. */
static void check_file(svc_writekeys_watch_t *w) {
        struct version ver;
        struct stat st;
        svc_writekeys_t *fresh, *old;
        char errstr[768];

        if (stat(w->path, &st) == -1) {
                if (w->seen_ok)
                        svc_log(SVC_LOG_ERROR, NULL, "/collect",
                                "write keys: %s: %s; the keys read before stay", w->path,
                                strerror(errno));
                w->seen_ok = 0;
                return;
        }
        ver = (struct version){st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
        if (w->seen_ok && same_version(&ver, &w->seen))
                return;
        fresh = load(w->path, &ver, errstr, sizeof(errstr));
        w->seen = ver;
        w->seen_ok = 1;
        if (!fresh) {
                svc_log(SVC_LOG_ERROR, NULL, "/collect",
                        "write keys: %s; the keys read before stay", errstr);
                return;
        }
        pthread_rwlock_wrlock(&w->lock);
        old = w->keys;
        w->keys = fresh;
        pthread_rwlock_unlock(&w->lock);
        svc_writekeys_destroy(old);
        svc_log(SVC_LOG_INFO, NULL, "/collect", "write keys: %zu read from %s",
                svc_writekeys_cnt(fresh), w->path);
}

int svc_writekeys_watch_lookup(svc_writekeys_watch_t *w, const char *key, size_t key_len,
                               struct svc_writekey *out) {
        long long now = svc_clock_ms(CLOCK_MONOTONIC);
        const struct svc_writekey *k;
        int found = 0;

        if (now >= __atomic_load_n(&w->next_check_ms, __ATOMIC_RELAXED) &&
            pthread_mutex_trylock(&w->check) == 0) {
                __atomic_store_n(&w->next_check_ms, now + SVC_WRITEKEYS_CHECK_MS, __ATOMIC_RELAXED);
                check_file(w);
                pthread_mutex_unlock(&w->check);
        }
        pthread_rwlock_rdlock(&w->lock);
        if ((k = svc_writekeys_find(w->keys, key, key_len))) {
                *out = *k;
                found = 1;
        }
        pthread_rwlock_unlock(&w->lock);
        return found;
}

void svc_writekeys_watch_destroy(svc_writekeys_watch_t *w) {
        if (!w)
                return;
        svc_writekeys_destroy(w->keys);
        pthread_rwlock_destroy(&w->lock);
        pthread_mutex_destroy(&w->check);
        free(w->path);
        free(w);
}
