/* metrics.c - counting: this process's counters, in a small fixed-layout file under
 * METRICS_DIR mapped into memory and updated with atomic adds (docs/metrics.md). How the
 * files of every process are summed is metrics_store.c; how the sums are shown,
 * metrics_prom.c (the Prometheus text) and metrics_home.c (the home page's JSON).
 *
 * METRICS_DIR holds:
 *   proc-<kind>-<pid>-<ms>.metrics  one per long-running process (pooled handler,
 *                                   consumer, forwarder), flock'd by it while it lives
 *   cgi.metrics                     shared by every per-request (CGI) process
 *   archive.metrics                 the counters of ended processes (metrics_store.c)
 *   lock                            taken by whoever folds or sums
 *   .tmp-*                          a file being created (livefile.h)
 * Every counter is a 64-bit slot updated with an atomic add, so a process killed at any
 * moment leaves whole values.
 *
 * Threads: any thread counts, lock-free; open and close run before and after them. Memory:
 * the process's block is a mapping (or, METRICS_DIR=off, an allocation) held from
 * svc_metrics_open to svc_metrics_close, with its file's fd and lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "livefile.h"
#include "log.h"
#include "metrics_int.h"

const uint64_t svc_metrics_bucket_us[BUCKET_CNT - 1] = {500,     1000,    2500,    5000,    10000,
                                                        25000,   50000,   100000,  250000,  500000,
                                                        1000000, 2500000, 5000000, 10000000};
const char *const svc_metrics_bucket_le[BUCKET_CNT] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "+Inf"};

const char *const svc_metrics_ep_path[SVC_METRICS_EP_CNT] = {
    [SVC_METRICS_EP_COLLECT] = "/collect",
    [SVC_METRICS_EP_INGEST] = "/api/ingest",
    [SVC_METRICS_EP_PROCESSED_EVENTS] = "/api/processed-events",
    [SVC_METRICS_EP_HEALTH] = "/health",
    [SVC_METRICS_EP_HOME] = "/",
    [SVC_METRICS_EP_METRICS] = "/metrics",
};

static struct block *blk; /* NULL: this process does not count */
static int blk_fd = -1;   /* its file, locked (-1: in memory, or mapped without a lock) */
static int blk_mapped;
static int blk_shared; /* the per-request file: no gauges */

/* Counting ------------------------------------------------------------------------- */

static void cadd(size_t slot, uint64_t n) {
        __atomic_fetch_add(&blk->counters[slot], n, __ATOMIC_RELAXED);
}

static size_t bucket_index(uint64_t usec) {
        size_t i = 0;
        while (i < BUCKET_CNT - 1 && usec > svc_metrics_bucket_us[i])
                i++;
        return i;
}

svc_metrics_ep_t svc_metrics_endpoint(const char *path) {
        for (int i = 0; i < SVC_METRICS_EP_CNT; i++)
                if (path && !strcmp(path, svc_metrics_ep_path[i]))
                        return (svc_metrics_ep_t)i;
        return SVC_METRICS_EP_NONE;
}

void svc_metrics_http_begin(svc_metrics_ep_t ep) {
        if (blk && !blk_shared && ep != SVC_METRICS_EP_NONE)
                __atomic_fetch_add(&blk->gauges[G_INFLIGHT + ep], 1, __ATOMIC_RELAXED);
}

void svc_metrics_http_end(svc_metrics_ep_t ep) {
        if (blk && !blk_shared && ep != SVC_METRICS_EP_NONE)
                __atomic_fetch_sub(&blk->gauges[G_INFLIGHT + ep], 1, __ATOMIC_RELAXED);
}

void svc_metrics_http_answered(svc_metrics_ep_t ep, int status, uint64_t usec) {
        if (!blk || ep == SVC_METRICS_EP_NONE)
                return;
        cadd(C_HTTP + (size_t)ep * CODE_CNT + svc_http_status_index(status), 1);
        cadd(C_HTTP_BUCKET + (size_t)ep * BUCKET_CNT + bucket_index(usec), 1);
        cadd(C_HTTP_SUM + (size_t)ep, usec);
}

void svc_metrics_events(svc_metrics_ep_t ep, svc_metrics_outcome_t outcome, uint64_t n) {
        if (blk && ep != SVC_METRICS_EP_NONE && n)
                cadd(C_EVENTS + (size_t)ep * SVC_METRICS_OUTCOME_CNT + outcome, n);
}

void svc_metrics_kafka_acked(uint64_t usec) {
        if (!blk)
                return;
        cadd(C_ACK_BUCKET + bucket_index(usec), 1);
        cadd(C_ACK_SUM, usec);
}

void svc_metrics_consumer_txn(uint64_t usec) {
        if (!blk)
                return;
        cadd(C_TXN_BUCKET + bucket_index(usec), 1);
        cadd(C_TXN_SUM, usec);
}

void svc_metrics_add(svc_metrics_counter_t counter, uint64_t n) {
        if (blk)
                cadd(C_PLAIN + counter, n);
}

uint64_t svc_metrics_get(svc_metrics_counter_t counter) {
        return blk ? __atomic_load_n(&blk->counters[C_PLAIN + counter], __ATOMIC_RELAXED) : 0;
}

void svc_metrics_set(svc_metrics_gauge_t gauge, int64_t value) {
        if (!blk || blk_shared)
                return;
        __atomic_store_n(&blk->gauges[G_PLAIN + gauge], value, __ATOMIC_RELAXED);
        __atomic_fetch_or(&blk->gauge_set, 1ULL << (G_PLAIN + gauge), __ATOMIC_RELAXED);
}

/* This process's file ------------------------------------------------------------ */

static void init_header(struct block *b, const char *kind, int per_request) {
        memcpy(b->magic, METRICS_MAGIC, sizeof(b->magic));
        b->size = sizeof(*b);
        b->per_request = (uint32_t)per_request;
        b->pid = getpid();
        b->started_ms = svc_clock_ms(CLOCK_REALTIME);
        snprintf(b->kind, sizeof(b->kind), "%s", kind);
}

int svc_metrics_is_ours(const struct block *b) {
        return !memcmp(b->magic, METRICS_MAGIC, sizeof(b->magic)) && b->size == sizeof(*b);
}

struct block *svc_metrics_map_block(int fd, int prot) {
        void *p = mmap(NULL, sizeof(struct block), prot, MAP_SHARED, fd, 0);
        return p == MAP_FAILED ? NULL : p;
}

/* Creates dir/.tmp-<name>, full size, with its header; returns its fd (locked when
 * `lock`, which then lives with the process), or -1 with errstr. */
static int create_tmp(const char *dir, const char *name, const char *kind, int per_request,
                      int lock, char *tmp, size_t tmp_size, char *errstr, size_t errstr_size) {
        struct block b = {0};
        int fd;

        snprintf(tmp, tmp_size, "%s/" SVC_LIVEFILE_TMP "%s", dir, name);
        init_header(&b, kind, per_request);
        if ((fd = svc_livefile_create(AT_FDCWD, tmp, &b, sizeof(b),
                                      lock ? SVC_LIVEFILE_F_LOCK : 0)) == -1)
                snprintf(errstr, errstr_size, "cannot create %s: %s", tmp, strerror(errno));
        return fd;
}

/* The process's own file: created under a temporary name, locked, then renamed into
 * place, so a reader never sees one that is not whole or not locked. */
static int open_own(const char *dir, const char *kind, char *errstr, size_t errstr_size) {
        const char *short_kind = kind + strspn(kind, "/");
        char name[128], tmp[4096], path[4096];
        int fd, lockfd;
        size_t i;

        snprintf(name, sizeof(name), "proc-%s-%d-%lld.metrics", *short_kind ? short_kind : "home",
                 (int)getpid(), svc_clock_ms(CLOCK_REALTIME)); /* the home page's endpoint is "/" */
        for (i = 5; name[i]; i++)                              /* the kind, in a file name */
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._",
                            name[i]))
                        name[i] = '_';
        if ((fd = create_tmp(dir, name, kind, 0, 1, tmp, sizeof(tmp), errstr, errstr_size)) == -1)
                return -1;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (!(blk = svc_metrics_map_block(fd, PROT_READ | PROT_WRITE))) {
                snprintf(errstr, errstr_size, "cannot map %s: %s", tmp, strerror(errno));
                close(fd);
                unlink(tmp);
                return -1;
        }
        if (svc_livefile_place(AT_FDCWD, tmp, path) == -1) {
                snprintf(errstr, errstr_size, "cannot create %s: %s", path, strerror(errno));
                munmap(blk, sizeof(*blk));
                blk = NULL;
                close(fd);
                return -1;
        }
        blk_fd = fd;
        blk_mapped = 1;
        /* Each start folds what ended before it, so the directory stays small even when
         * nobody reads /metrics. */
        if ((lockfd = svc_metrics_lock_dir(dir, errstr, errstr_size)) != -1) {
                svc_metrics_fold_locked(dir, NULL, errstr, errstr_size);
                close(lockfd);
        }
        return 0;
}

/* The file every per-request process adds into. Made whole under a temporary name and
 * linked into place: a second creator finds it there and uses that one. A file of another
 * layout (an older build) is replaced, under the directory's lock so only once. */
static int open_shared(const char *dir, char *errstr, size_t errstr_size) {
        char tmp[4096], path[4096], name[64];
        struct stat st;
        int fd, lockfd = -1;

        snprintf(path, sizeof(path), "%s/cgi.metrics", dir);
        /* at worst: another layout, again under the lock, removed, created, opened */
        for (int tries = 0; tries < 4 && !blk; tries++) {
                if ((fd = open(path, O_RDWR | O_CLOEXEC)) != -1) {
                        if (fstat(fd, &st) == 0 && st.st_size == sizeof(struct block) &&
                            (blk = svc_metrics_map_block(fd, PROT_READ | PROT_WRITE)) &&
                            !svc_metrics_is_ours(blk)) {
                                munmap(blk, sizeof(*blk));
                                blk = NULL;
                        }
                        close(fd); /* a mapping stays */
                        if (blk)
                                break;
                        if (lockfd == -1)
                                lockfd = svc_metrics_lock_dir(dir, errstr, errstr_size);
                        else
                                unlink(path);
                        if (lockfd == -1)
                                break;
                        continue;
                }
                if (errno != ENOENT) {
                        snprintf(errstr, errstr_size, "cannot open %s: %s", path, strerror(errno));
                        break;
                }
                snprintf(name, sizeof(name), "cgi-%d-%lld", (int)getpid(),
                         svc_clock_ms(CLOCK_REALTIME));
                if ((fd = create_tmp(dir, name, "cgi", 1, 0, tmp, sizeof(tmp), errstr,
                                     errstr_size)) == -1)
                        break;
                close(fd);
                /* a second creator finds the first one's in place, and uses it */
                if (svc_livefile_place(AT_FDCWD, tmp, path) == -1 && errno != EEXIST) {
                        snprintf(errstr, errstr_size, "cannot create %s: %s", path,
                                 strerror(errno));
                        break;
                }
        }
        if (lockfd != -1)
                close(lockfd);
        if (!blk) {
                if (!*errstr)
                        snprintf(errstr, errstr_size, "%s: not of this build's layout", path);
                return -1;
        }
        blk_mapped = 1;
        blk_shared = 1;
        return 0;
}

int svc_metrics_open(const svc_config_t *cfg, const char *kind, int flags, char *errstr,
                     size_t errstr_size) {
        int ret = 0;

        *errstr = '\0';
        if (cfg->metrics_dir) {
                /* one system call when it is there (every CGI run gets here) */
                if (access(cfg->metrics_dir, F_OK) == -1 &&
                    svc_log_mkdir_p(cfg->metrics_dir, 0700) == -1) {
                        snprintf(errstr, errstr_size, "cannot create METRICS_DIR %s: %s",
                                 cfg->metrics_dir, strerror(errno));
                        ret = -1;
                } else if (flags & SVC_METRICS_F_PER_REQUEST) {
                        ret = open_shared(cfg->metrics_dir, errstr, errstr_size);
                } else {
                        ret = open_own(cfg->metrics_dir, kind, errstr, errstr_size);
                }
        }
        if (!blk && (flags & SVC_METRICS_F_IN_MEMORY) && (blk = calloc(1, sizeof(*blk))))
                init_header(blk, kind, 0);
        return ret;
}

void svc_metrics_close(void) {
        struct block *b = blk;

        blk = NULL;
        if (!b)
                return;
        if (blk_mapped)
                munmap(b, sizeof(*b));
        else
                free(b);
        if (blk_fd != -1)
                close(blk_fd); /* its lock goes: the next reader folds the file */
        blk_fd = -1;
        blk_mapped = blk_shared = 0;
}
