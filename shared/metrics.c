/* metrics.c - per-process counter files under METRICS_DIR, and their sums for /metrics
 * and the home page (docs/metrics.md).
 *
 * METRICS_DIR holds:
 *   proc-<kind>-<pid>-<ms>.metrics  one per long-running process (pooled handler,
 *                                   consumer, forwarder), flock'd by it while it lives
 *   cgi.metrics                     shared by every per-request (CGI) process
 *   archive.metrics                 the counters of ended processes, and the names of the
 *                                   files last folded into it
 *   lock                            taken by whoever folds or sums
 *   .tmp-*                          a file being created
 * Every counter is a 64-bit slot updated with an atomic add, so a process killed at any
 * moment leaves whole values. An ended process's file (its lock free) is added into a new
 * archive, which replaces the old one by rename, and then removed; its name stays in the
 * archive until the next fold, so a folder killed between the rename and the removal
 * leaves a file that the next one removes without adding it twice. */
#include "metrics.h"

#include <dirent.h>
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

#include "log.h"
#include "spool.h"

/* The layout below, as readers check it: change the digits whenever it changes (a file of
 * another layout is not read; the archive then starts from zero, a counter reset). */
#define METRICS_MAGIC "SVCMET02"
#define METRICS_TMP_MAX_AGE_S 60 /* a .tmp- file older than this lost its creator */

/* Status codes the handlers answer (code="other" for anything else). */
static const int codes[] = {200, 202, 204, 400, 401, 403, 404, 405,
                            411, 413, 415, 422, 500, 502, 503, 504};
#define CODE_CNT (sizeof(codes) / sizeof(codes[0]) + 1)

/* Histogram bounds, in microseconds, for HTTP answers and Kafka acknowledgements alike:
 * from a fast acknowledgement (~1 ms) to KAFKA_TIMEOUT_MS (5 s by default) and beyond. */
static const uint64_t bucket_us[] = {500,    1000,   2500,   5000,    10000,   25000,   50000,
                                     100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
static const char *const bucket_le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
                                        "0.025",  "0.05",  "0.1",    "0.25",  "0.5",
                                        "1",      "2.5",   "5",      "10",    "+Inf"};
#define BUCKET_CNT (sizeof(bucket_us) / sizeof(bucket_us[0]) + 1)

static const char *const ep_path[SVC_METRICS_EP_CNT] = {
    [SVC_METRICS_EP_COLLECT] = "/collect",
    [SVC_METRICS_EP_INGEST] = "/api/ingest",
    [SVC_METRICS_EP_PROCESSED_EVENTS] = "/api/processed-events",
    [SVC_METRICS_EP_HEALTH] = "/health",
    [SVC_METRICS_EP_HOME] = "/",
    [SVC_METRICS_EP_METRICS] = "/metrics",
};

/* Counter slots: each family a flat array. */
enum {
        C_HTTP = 0,                                                   /* [ep][code] */
        C_HTTP_BUCKET = C_HTTP + SVC_METRICS_EP_CNT * CODE_CNT,       /* [ep][bucket] */
        C_HTTP_SUM = C_HTTP_BUCKET + SVC_METRICS_EP_CNT * BUCKET_CNT, /* [ep], us */
        C_EVENTS = C_HTTP_SUM + SVC_METRICS_EP_CNT,                   /* [ep][outcome] */
        C_ACK_BUCKET = C_EVENTS + SVC_METRICS_EP_CNT * SVC_METRICS_OUTCOME_CNT,
        C_ACK_SUM = C_ACK_BUCKET + BUCKET_CNT, /* us */
        C_ENDED = C_ACK_SUM + 1,               /* processes folded (archive) */
        C_PLAIN = C_ENDED + 1,                 /* [svc_metrics_counter_t] */
        C_SLOTS = C_PLAIN + SVC_METRICS_COUNTER_CNT
};
enum {
        G_INFLIGHT = 0,                            /* [ep] */
        G_PLAIN = G_INFLIGHT + SVC_METRICS_EP_CNT, /* [svc_metrics_gauge_t] */
        G_SLOTS = G_PLAIN + SVC_METRICS_GAUGE_CNT
};

/* One file, as it is on disk and in memory. */
struct block {
        char magic[8];        /* METRICS_MAGIC */
        uint32_t size;        /* sizeof(struct block) */
        uint32_t per_request; /* cgi.metrics */
        int64_t pid;
        int64_t started_ms; /* epoch */
        char kind[32];
        uint64_t gauge_set; /* a bit per gauge slot the process has set */
        int64_t gauges[G_SLOTS];
        uint64_t counters[C_SLOTS];
};

static struct block *blk; /* NULL: this process does not count */
static int blk_fd = -1;   /* its file, locked (-1: in memory, or mapped without a lock) */
static int blk_mapped;
static int blk_shared; /* the per-request file: no gauges */

/* Counting ------------------------------------------------------------------------- */

static void cadd(size_t slot, uint64_t n) {
        __atomic_fetch_add(&blk->counters[slot], n, __ATOMIC_RELAXED);
}

static size_t code_index(int status) {
        for (size_t i = 0; i < CODE_CNT - 1; i++)
                if (codes[i] == status)
                        return i;
        return CODE_CNT - 1;
}

static size_t bucket_index(uint64_t usec) {
        size_t i = 0;
        while (i < BUCKET_CNT - 1 && usec > bucket_us[i])
                i++;
        return i;
}

svc_metrics_ep_t svc_metrics_endpoint(const char *path) {
        for (int i = 0; i < SVC_METRICS_EP_CNT; i++)
                if (path && !strcmp(path, ep_path[i]))
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
        cadd(C_HTTP + (size_t)ep * CODE_CNT + code_index(status), 1);
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

/* Files ---------------------------------------------------------------------------- */

static long long epoch_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void init_header(struct block *b, const char *kind, int per_request) {
        memcpy(b->magic, METRICS_MAGIC, sizeof(b->magic));
        b->size = sizeof(*b);
        b->per_request = (uint32_t)per_request;
        b->pid = getpid();
        b->started_ms = epoch_ms();
        snprintf(b->kind, sizeof(b->kind), "%s", kind);
}

static int is_ours(const struct block *b) {
        return !memcmp(b->magic, METRICS_MAGIC, sizeof(b->magic)) && b->size == sizeof(*b);
}

/* Creates dir/.tmp-<name>, full size, with its header; returns its fd (locked when
 * `lock`), or -1 with errstr. */
static int create_tmp(const char *dir, const char *name, const char *kind, int per_request,
                      int lock, char *tmp, size_t tmp_size, char *errstr, size_t errstr_size) {
        struct block b = {0};
        int fd;

        snprintf(tmp, tmp_size, "%s/.tmp-%s", dir, name);
        if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
                snprintf(errstr, errstr_size, "cannot create %s: %s", tmp, strerror(errno));
                return -1;
        }
        init_header(&b, kind, per_request);
        if ((lock && flock(fd, LOCK_EX) == -1) || pwrite(fd, &b, sizeof(b), 0) != sizeof(b)) {
                snprintf(errstr, errstr_size, "cannot write %s: %s", tmp, strerror(errno));
                close(fd);
                unlink(tmp);
                return -1;
        }
        return fd;
}

static struct block *map_block(int fd, int prot) {
        void *p = mmap(NULL, sizeof(struct block), prot, MAP_SHARED, fd, 0);
        return p == MAP_FAILED ? NULL : p;
}

static int fold_locked(const char *dir, svc_metrics_snap_t *snap, char *errstr, size_t errstr_size);
static int lock_dir(const char *dir, char *errstr, size_t errstr_size);

/* The process's own file: created under a temporary name, locked, then renamed into
 * place, so a reader never sees one that is not whole or not locked. */
static int open_own(const char *dir, const char *kind, char *errstr, size_t errstr_size) {
        const char *short_kind = kind + strspn(kind, "/");
        char name[128], tmp[4096], path[4096];
        int fd, lockfd;
        size_t i;

        snprintf(name, sizeof(name), "proc-%s-%d-%lld.metrics", *short_kind ? short_kind : "home",
                 (int)getpid(), epoch_ms()); /* the home page's endpoint is "/" */
        for (i = 5; name[i]; i++)            /* the kind, in a file name */
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._",
                            name[i]))
                        name[i] = '_';
        if ((fd = create_tmp(dir, name, kind, 0, 1, tmp, sizeof(tmp), errstr, errstr_size)) == -1)
                return -1;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (!(blk = map_block(fd, PROT_READ | PROT_WRITE)) || rename(tmp, path) == -1) {
                snprintf(errstr, errstr_size, "cannot map %s: %s", path, strerror(errno));
                if (blk)
                        munmap(blk, sizeof(*blk));
                blk = NULL;
                close(fd);
                unlink(tmp);
                return -1;
        }
        blk_fd = fd;
        blk_mapped = 1;
        /* Each start folds what ended before it, so the directory stays small even when
         * nobody reads /metrics. */
        if ((lockfd = lock_dir(dir, errstr, errstr_size)) != -1) {
                fold_locked(dir, NULL, errstr, errstr_size);
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
                            (blk = map_block(fd, PROT_READ | PROT_WRITE)) && !is_ours(blk)) {
                                munmap(blk, sizeof(*blk));
                                blk = NULL;
                        }
                        close(fd); /* a mapping stays */
                        if (blk)
                                break;
                        if (lockfd == -1)
                                lockfd = lock_dir(dir, errstr, errstr_size);
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
                snprintf(name, sizeof(name), "cgi-%d-%lld", (int)getpid(), epoch_ms());
                if ((fd = create_tmp(dir, name, "cgi", 1, 0, tmp, sizeof(tmp), errstr,
                                     errstr_size)) == -1)
                        break;
                close(fd);
                if (link(tmp, path) == -1 && errno != EEXIST) {
                        snprintf(errstr, errstr_size, "cannot create %s: %s", path,
                                 strerror(errno));
                        unlink(tmp);
                        break;
                }
                unlink(tmp);
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

/* Reading ------------------------------------------------------------------------- */

struct proc {
        char kind[32];
        int64_t pid, started_ms;
};

struct svc_metrics_snap {
        uint64_t counters[C_SLOTS]; /* every process, ended ones included */
        int64_t gauges[G_SLOTS];    /* the live ones */
        uint64_t gauge_set;
        struct proc *procs; /* live processes with a file of their own */
        size_t proc_cnt;
        long long spool_records, spool_bytes; /* -1: no spool */
};

static int lock_dir(const char *dir, char *errstr, size_t errstr_size) {
        char path[4096];
        int fd;

        snprintf(path, sizeof(path), "%s/lock", dir);
        if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
            flock(fd, LOCK_EX) == -1) {
                snprintf(errstr, errstr_size, "cannot lock %s: %s", path, strerror(errno));
                if (fd != -1)
                        close(fd);
                return -1;
        }
        return fd;
}

/* Adds a mapped file into the snapshot: counters, and when live its gauges. Every slot is
 * read atomically: its process may be adding to it. */
static void add_block(svc_metrics_snap_t *snap, const struct block *b, int live) {
        for (size_t i = 0; i < C_SLOTS; i++)
                snap->counters[i] += __atomic_load_n(&b->counters[i], __ATOMIC_RELAXED);
        if (!live || b->per_request)
                return;
        for (size_t i = 0; i < G_SLOTS; i++)
                snap->gauges[i] += __atomic_load_n(&b->gauges[i], __ATOMIC_RELAXED);
        snap->gauge_set |= __atomic_load_n(&b->gauge_set, __ATOMIC_RELAXED);
}

/* The archive: a block, then the names of the files last folded into it, one a line. */
struct archive {
        struct block b;
        char *names; /* "name\n"..., NUL-terminated; owned */
};

/* Returns 1 when the file must be stored again: it was torn or of another layout. */
static int archive_load(const char *dir, struct archive *ar) {
        char path[4096];
        FILE *f;
        long size;

        memset(&ar->b, 0, sizeof(ar->b));
        ar->names = NULL;
        snprintf(path, sizeof(path), "%s/archive.metrics", dir);
        if (!(f = fopen(path, "re")))
                return 0;
        if (fread(&ar->b, sizeof(ar->b), 1, f) != 1 || !is_ours(&ar->b)) {
                /* a torn file (a crash of the host) or another layout: start again */
                svc_log(SVC_LOG_WARN, NULL, "metrics",
                        "%s is not of this build's layout: the totals start from zero", path);
                memset(&ar->b, 0, sizeof(ar->b));
                fclose(f);
                return 1;
        }
        if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > (long)sizeof(ar->b) &&
            (ar->names = calloc(1, (size_t)size - sizeof(ar->b) + 1))) {
                fseek(f, sizeof(ar->b), SEEK_SET);
                if (fread(ar->names, 1, (size_t)size - sizeof(ar->b), f) == 0)
                        ar->names[0] = '\0';
        }
        fclose(f);
        return 0;
}

static int archive_has(const struct archive *ar, const char *name) {
        size_t n = strlen(name);
        for (const char *p = ar->names; p && *p; p = strchr(p, '\n') + 1) {
                if (!strncmp(p, name, n) && p[n] == '\n')
                        return 1;
                if (!strchr(p, '\n'))
                        break;
        }
        return 0;
}

/* Replaces the archive (whole, by rename). */
static int archive_store(const char *dir, const struct archive *ar, const char *names, char *errstr,
                         size_t errstr_size) {
        char tmp[4096], path[4096];
        FILE *f;
        int ok;

        snprintf(tmp, sizeof(tmp), "%s/.tmp-archive", dir);
        snprintf(path, sizeof(path), "%s/archive.metrics", dir);
        if (!(f = fopen(tmp, "we"))) {
                snprintf(errstr, errstr_size, "cannot write %s: %s", tmp, strerror(errno));
                return -1;
        }
        ok = fwrite(&ar->b, sizeof(ar->b), 1, f) == 1 && fputs(names, f) >= 0;
        if (fclose(f) != 0 || !ok || rename(tmp, path) == -1) {
                snprintf(errstr, errstr_size, "cannot write %s: %s", path, strerror(errno));
                unlink(tmp);
                return -1;
        }
        return 0;
}

static int append_name(char **names, size_t *len, const char *name) {
        size_t n = strlen(name);
        char *p = realloc(*names, *len + n + 2);
        if (!p)
                return -1;
        memcpy(p + *len, name, n);
        p[*len + n] = '\n';
        p[*len + n + 1] = '\0';
        *names = p;
        *len += n + 1;
        return 0;
}

/* Under the directory's lock: folds every ended process's file into the archive, and
 * when snap is not NULL sums everything into it. Returns 0, or -1 with errstr (the
 * directory cannot be read; a failure to store the archive only keeps the ended files
 * for the next try, their counts still in snap). */
static int fold_locked(const char *dir, svc_metrics_snap_t *snap, char *errstr,
                       size_t errstr_size) {
        struct archive ar;
        DIR *d;
        struct dirent *de;
        char *folded = NULL; /* names of the files added into the archive now */
        size_t folded_len = 0;
        int store;

        if (!(d = opendir(dir))) {
                snprintf(errstr, errstr_size, "cannot read %s: %s", dir, strerror(errno));
                return -1;
        }
        store = archive_load(dir, &ar);
        while ((de = readdir(d))) {
                int is_proc = !strncmp(de->d_name, "proc-", 5);
                int is_cgi = !strcmp(de->d_name, "cgi.metrics");
                struct block *b = NULL;
                struct stat st;
                int fd;

                if (!strncmp(de->d_name, ".tmp-", 5)) {
                        /* its creator died before renaming it */
                        if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
                            time(NULL) - st.st_mtime > METRICS_TMP_MAX_AGE_S)
                                unlinkat(dirfd(d), de->d_name, 0);
                        continue;
                }
                if ((!is_proc && !is_cgi) ||
                    (fd = openat(dirfd(d), de->d_name, O_RDWR | O_CLOEXEC)) == -1)
                        continue;
                if (fstat(fd, &st) == 0 && st.st_size == sizeof(struct block))
                        b = map_block(fd, PROT_READ);
                if (is_cgi) {
                        if (b && is_ours(b) && snap)
                                add_block(snap, b, 0);
                } else if (flock(fd, LOCK_EX | LOCK_NB) == -1) { /* alive */
                        if (b && is_ours(b) && snap) {
                                struct proc *p =
                                    realloc(snap->procs, (snap->proc_cnt + 1) * sizeof(*p));
                                add_block(snap, b, 1);
                                if (p) {
                                        snap->procs = p;
                                        p += snap->proc_cnt++;
                                        memcpy(p->kind, b->kind, sizeof(p->kind));
                                        p->kind[sizeof(p->kind) - 1] = '\0';
                                        p->pid = b->pid;
                                        p->started_ms = b->started_ms;
                                }
                        }
                } else if (archive_has(&ar, de->d_name)) {
                        /* folded already, by a folder that died before removing it */
                        unlinkat(dirfd(d), de->d_name, 0);
                } else if (!b || !is_ours(b)) {
                        /* another build's process: its counts cannot be added */
                        unlinkat(dirfd(d), de->d_name, 0);
                } else if (append_name(&folded, &folded_len, de->d_name) == 0) {
                        for (size_t i = 0; i < C_SLOTS; i++)
                                ar.b.counters[i] += b->counters[i];
                        ar.b.counters[C_ENDED]++;
                }
                if (b)
                        munmap(b, sizeof(*b));
                close(fd);
        }
        if (folded || store) {
                memcpy(ar.b.magic, METRICS_MAGIC, sizeof(ar.b.magic));
                ar.b.size = sizeof(ar.b);
                snprintf(ar.b.kind, sizeof(ar.b.kind), "archive");
                if (archive_store(dir, &ar, folded ? folded : "", errstr, errstr_size) == 0) {
                        for (char *p = folded, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
                                *nl = '\0';
                                unlinkat(dirfd(d), p, 0);
                        }
                } else {
                        svc_log(SVC_LOG_WARN, NULL, "metrics", "%s", errstr);
                }
        }
        if (snap)
                for (size_t i = 0; i < C_SLOTS; i++)
                        snap->counters[i] += ar.b.counters[i];
        free(folded);
        free(ar.names);
        closedir(d);
        return 0;
}

svc_metrics_snap_t *svc_metrics_snap_new(const svc_config_t *cfg, char *errstr,
                                         size_t errstr_size) {
        svc_metrics_snap_t *snap = NULL;
        int lockfd = -1;

        if (!cfg->metrics_dir) {
                snprintf(errstr, errstr_size, "METRICS_DIR=off");
                return NULL;
        }
        if (!(snap = calloc(1, sizeof(*snap)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (svc_log_mkdir_p(cfg->metrics_dir, 0700) == -1) {
                snprintf(errstr, errstr_size, "cannot create METRICS_DIR %s: %s", cfg->metrics_dir,
                         strerror(errno));
                goto fail;
        }
        if ((lockfd = lock_dir(cfg->metrics_dir, errstr, errstr_size)) == -1 ||
            fold_locked(cfg->metrics_dir, snap, errstr, errstr_size) == -1)
                goto fail;
        close(lockfd);
        snap->spool_records = snap->spool_bytes = -1;
        if (cfg->spool_dir &&
            svc_spool_usage(cfg->spool_dir, &snap->spool_records, &snap->spool_bytes) == -1)
                snap->spool_records = snap->spool_bytes = 0; /* nothing spooled yet */
        return snap;
fail:
        if (lockfd != -1)
                close(lockfd);
        svc_metrics_snap_destroy(snap);
        return NULL;
}

void svc_metrics_snap_destroy(svc_metrics_snap_t *snap) {
        if (!snap)
                return;
        free(snap->procs);
        free(snap);
}

/* Rendering ------------------------------------------------------------------------ */

static void family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram series; labels is "" or `name="value"`. */
static void histogram(FILE *f, const char *name, const char *labels, const uint64_t *buckets,
                      uint64_t sum_us) {
        uint64_t cum = 0;

        for (size_t i = 0; i < BUCKET_CNT; i++) {
                cum += buckets[i];
                fprintf(f, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, *labels ? "," : "",
                        bucket_le[i], (unsigned long long)cum);
        }
        fprintf(f, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
                (double)sum_us / 1e6);
        fprintf(f, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
                (unsigned long long)cum);
}

static uint64_t events_of(const svc_metrics_snap_t *snap, int ep, svc_metrics_outcome_t o) {
        return snap->counters[C_EVENTS + (size_t)ep * SVC_METRICS_OUTCOME_CNT + o];
}

/* Endpoints that take events: their event series are shown even at zero. */
static int takes_events(int ep) {
        return ep == SVC_METRICS_EP_COLLECT || ep == SVC_METRICS_EP_INGEST;
}

char *svc_metrics_render(const svc_metrics_snap_t *snap, size_t *len) {
        static const char *const outcome_family[SVC_METRICS_OUTCOME_CNT][2] = {
            [SVC_METRICS_RECEIVED] = {"events_received_total",
                                      "Events (or rows) in requests that passed the checks."},
            [SVC_METRICS_ACKED] = {"events_acked_total",
                                   "Received events acknowledged by Kafka (or written to "
                                   "the dev store)."},
            [SVC_METRICS_SPOOLED] = {"events_spooled_total",
                                     "Received events Kafka did not acknowledge, kept in "
                                     "the spool for the forwarder."},
        };
        static const char *const reasons[SVC_METRICS_OUTCOME_CNT] = {
            [SVC_METRICS_INVALID] = "invalid",
            [SVC_METRICS_UNAVAILABLE] = "unavailable",
            [SVC_METRICS_TOO_LARGE] = "too_large",
        };
        /* The counters of svc_metrics_counter_t, in its order: a family's series are
         * consecutive, and a line with a help text starts a family. */
        static const struct {
                const char *series, *help;
        } plain[SVC_METRICS_COUNTER_CNT] = {
            {"events_kafka_delivery_errors_total{error=\"timed_out\"}",
             "Messages Kafka did not acknowledge, by error (handlers and forwarder)."},
            {"events_kafka_delivery_errors_total{error=\"broker_down\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"purged\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"too_large\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"unknown_topic\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"not_authorized\"}", NULL},
            {"events_kafka_delivery_errors_total{error=\"other\"}", NULL},
            {"events_spool_forwarded_total",
             "Spooled records the forwarder put into Kafka (acknowledged)."},
            {"events_spool_forwarded_files_total", "Spool files forwarded and removed."},
            {"events_spool_damaged_total",
             "Damaged runs of bytes the forwarder skipped (records torn by a crash)."},
            {"events_spool_forward_failures_total",
             "Times a spool file was not taken by Kafka (it stays, and is tried again)."},
            {"events_consumer_messages_total",
             "Raw messages the consumer read (again after a rewind)."},
            {"events_consumer_records_total{outcome=\"produced\"}",
             "Records of the consumer's committed transactions, by outcome."},
            {"events_consumer_records_total{outcome=\"dead_lettered\"}", NULL},
            {"events_consumer_records_total{outcome=\"duplicate\"}", NULL},
            {"events_consumer_transactions_total{result=\"committed\"}",
             "The consumer's transactions, by result."},
            {"events_consumer_transactions_total{result=\"aborted\"}", NULL},
            {"events_consumer_commit_seconds_total",
             "Time the consumer spent committing transactions."},
            {"events_consumer_delivery_errors_total",
             "Records of the consumer's transactions that Kafka failed."},
            {"events_consumer_refused_total",
             "Records Kafka refused for good; a dead letter took their place."},
            {"events_consumer_dropped_total",
             "Refused records whose dead letter Kafka refused too."},
        };
        FILE *f;
        char *text = NULL, labels[96], name[64];

        if (!(f = open_memstream(&text, len)))
                return NULL;

        family(f, "events_http_requests_total", "counter",
               "Requests the handlers answered, by endpoint and status code.");
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                for (size_t c = 0; c < CODE_CNT; c++) {
                        uint64_t v = snap->counters[C_HTTP + (size_t)ep * CODE_CNT + c];
                        char code[8] = "other";
                        if (!v)
                                continue;
                        if (c < CODE_CNT - 1)
                                snprintf(code, sizeof(code), "%d", codes[c]);
                        fprintf(f, "events_http_requests_total{endpoint=\"%s\",code=\"%s\"} %llu\n",
                                ep_path[ep], code, (unsigned long long)v);
                }
        family(f, "events_http_request_duration_seconds", "histogram",
               "Time from a request's start in the handler to its answer.");
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++) {
                const uint64_t *b = &snap->counters[C_HTTP_BUCKET + (size_t)ep * BUCKET_CNT];
                uint64_t n = 0;
                for (size_t i = 0; i < BUCKET_CNT; i++)
                        n += b[i];
                if (!n)
                        continue;
                snprintf(labels, sizeof(labels), "endpoint=\"%s\"", ep_path[ep]);
                histogram(f, "events_http_request_duration_seconds", labels, b,
                          snap->counters[C_HTTP_SUM + ep]);
        }
        family(f, "events_http_requests_in_flight", "gauge",
               "Requests the handlers are serving now.");
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                fprintf(f, "events_http_requests_in_flight{endpoint=\"%s\"} %lld\n", ep_path[ep],
                        (long long)snap->gauges[G_INFLIGHT + ep]);

        for (int o = SVC_METRICS_RECEIVED; o <= SVC_METRICS_SPOOLED; o++) {
                family(f, outcome_family[o][0], "counter", outcome_family[o][1]);
                for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                        if (takes_events(ep) || events_of(snap, ep, o))
                                fprintf(f, "%s{endpoint=\"%s\"} %llu\n", outcome_family[o][0],
                                        ep_path[ep], (unsigned long long)events_of(snap, ep, o));
        }
        family(f, "events_rejected_total", "counter",
               "Events refused: invalid (by the checks, never received), or received and "
               "then unavailable (neither acknowledged nor spooled) or too_large.");
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                for (int o = SVC_METRICS_INVALID; o <= SVC_METRICS_TOO_LARGE; o++)
                        if (takes_events(ep) || events_of(snap, ep, o))
                                fprintf(
                                    f,
                                    "events_rejected_total{endpoint=\"%s\",reason=\"%s\"} %llu\n",
                                    ep_path[ep], reasons[o],
                                    (unsigned long long)events_of(snap, ep, o));

        family(f, "events_kafka_produce_duration_seconds", "histogram",
               "Time from producing a message to Kafka's acknowledgement (handlers and "
               "forwarder).");
        histogram(f, "events_kafka_produce_duration_seconds", "", &snap->counters[C_ACK_BUCKET],
                  snap->counters[C_ACK_SUM]);
        family(f, "events_kafka_queue_messages", "gauge",
               "Messages in the producers of the handlers and forwarder, not acknowledged yet.");
        fprintf(f, "events_kafka_queue_messages %lld\n",
                (long long)snap->gauges[G_PLAIN + SVC_METRICS_KAFKA_QUEUE]);
        if (snap->spool_records >= 0) {
                family(f, "events_spool_records", "gauge",
                       "Records in the spool, waiting for the forwarder.");
                fprintf(f, "events_spool_records %lld\n", snap->spool_records);
                family(f, "events_spool_bytes", "gauge", "Bytes of the spool's files.");
                fprintf(f, "events_spool_bytes %lld\n", snap->spool_bytes);
        }
        for (int i = 0; i < SVC_METRICS_COUNTER_CNT; i++) {
                uint64_t v = snap->counters[C_PLAIN + i];
                if (plain[i].help) {
                        snprintf(name, sizeof(name), "%.*s", (int)strcspn(plain[i].series, "{"),
                                 plain[i].series);
                        family(f, name, "counter", plain[i].help);
                }
                if (i == SVC_METRICS_CONSUMER_COMMIT_MS)
                        fprintf(f, "%s %.3f\n", plain[i].series, (double)v / 1000);
                else
                        fprintf(f, "%s %llu\n", plain[i].series, (unsigned long long)v);
        }
        if (snap->gauge_set & (1ULL << (G_PLAIN + SVC_METRICS_CONSUMER_LAG))) {
                family(f, "events_consumer_lag", "gauge",
                       "Records of the raw topic (COLLECT_RAW_TOPIC) the running consumers have "
                       "not transformed yet.");
                fprintf(f, "events_consumer_lag %lld\n",
                        (long long)snap->gauges[G_PLAIN + SVC_METRICS_CONSUMER_LAG]);
        }

        family(f, "events_process_start_time_seconds", "gauge",
               "Start of each live process that keeps its own counters (pooled handlers, "
               "consumer, forwarder).");
        for (size_t i = 0; i < snap->proc_cnt; i++)
                fprintf(f, "events_process_start_time_seconds{process=\"%s\",pid=\"%lld\"} %.3f\n",
                        snap->procs[i].kind, (long long)snap->procs[i].pid,
                        (double)snap->procs[i].started_ms / 1000);
        family(f, "events_processes_ended_total", "counter",
               "Long-running processes that ended (exit, crash, restart) and whose counts "
               "were kept.");
        fprintf(f, "events_processes_ended_total %llu\n",
                (unsigned long long)snap->counters[C_ENDED]);
        if (fclose(f) != 0) {
                free(text);
                return NULL;
        }
        return text;
}

/* The home page's view --------------------------------------------------------------- */

static json_t *outcomes_json(const svc_metrics_snap_t *snap, int only_ep) {
        uint64_t v[SVC_METRICS_OUTCOME_CNT] = {0};

        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                if (only_ep < 0 || ep == only_ep)
                        for (int o = 0; o < SVC_METRICS_OUTCOME_CNT; o++)
                                v[o] += events_of(snap, ep, o);
        return json_pack("{s:I, s:I, s:I, s:{s:I, s:I, s:I}}", "received",
                         (json_int_t)v[SVC_METRICS_RECEIVED], "acked",
                         (json_int_t)v[SVC_METRICS_ACKED], "spooled",
                         (json_int_t)v[SVC_METRICS_SPOOLED], "rejected", "invalid",
                         (json_int_t)v[SVC_METRICS_INVALID], "unavailable",
                         (json_int_t)v[SVC_METRICS_UNAVAILABLE], "too_large",
                         (json_int_t)v[SVC_METRICS_TOO_LARGE]);
}

json_t *svc_metrics_summary(const svc_metrics_snap_t *snap) {
        const uint64_t *plain = &snap->counters[C_PLAIN];
        json_t *buckets = json_array(), *spool = json_null(), *lag = json_null();
        uint64_t cum = 0, requests = 0, errors = 0, kafka_errors = 0;

        for (size_t i = 0; buckets && i < BUCKET_CNT; i++) {
                cum += snap->counters[C_ACK_BUCKET + i];
                /* +Inf as null: JSON has no infinity */
                json_array_append_new(buckets, json_pack("[o, I]",
                                                         i < BUCKET_CNT - 1
                                                             ? json_real((double)bucket_us[i] / 1e6)
                                                             : json_null(),
                                                         (json_int_t)cum));
        }
        for (int ep = 0; ep < SVC_METRICS_EP_CNT; ep++)
                for (size_t c = 0; c < CODE_CNT; c++) {
                        uint64_t v = snap->counters[C_HTTP + (size_t)ep * CODE_CNT + c];
                        requests += v;
                        if (c == CODE_CNT - 1 || codes[c] >= 500)
                                errors += v;
                }
        for (int i = SVC_METRICS_KAFKA_ERR_TIMED_OUT; i <= SVC_METRICS_KAFKA_ERR_OTHER; i++)
                kafka_errors += plain[i];
        if (snap->spool_records >= 0)
                spool = json_pack("{s:I, s:I, s:I}", "records", (json_int_t)snap->spool_records,
                                  "bytes", (json_int_t)snap->spool_bytes, "forwarded",
                                  (json_int_t)plain[SVC_METRICS_SPOOL_FORWARDED]);
        if (snap->gauge_set & (1ULL << (G_PLAIN + SVC_METRICS_CONSUMER_LAG)))
                lag = json_integer(snap->gauges[G_PLAIN + SVC_METRICS_CONSUMER_LAG]);
        return json_pack(
            "{s:I, s:o, s:{s:o, s:o}, s:{s:I, s:I}, s:{s:I, s:f, s:o}, s:I, s:o, s:{s:o, s:I, "
            "s:I}}",
            "time_ms", (json_int_t)epoch_ms(), "events", outcomes_json(snap, -1), "endpoints",
            "/collect", outcomes_json(snap, SVC_METRICS_EP_COLLECT), "/api/ingest",
            outcomes_json(snap, SVC_METRICS_EP_INGEST), "http", "requests", (json_int_t)requests,
            "errors_5xx", (json_int_t)errors, "kafka_ack", "count", (json_int_t)cum, "sum_seconds",
            (double)snap->counters[C_ACK_SUM] / 1e6, "buckets", buckets, "kafka_delivery_errors",
            (json_int_t)kafka_errors, "spool", spool, "consumer", "lag", lag, "produced",
            (json_int_t)plain[SVC_METRICS_CONSUMER_PRODUCED], "dead_lettered",
            (json_int_t)plain[SVC_METRICS_CONSUMER_DEAD_LETTERED]);
}
