/* metrics_store.c - the sums of every process's counters (svc_metrics_snap_new): the
 * live processes' files, the per-request file, and the archive into which the file of
 * each ended process is folded, exactly once.
 *
 * An ended process's file (its lock free: livefile.h) is added into a new archive, which
 * replaces the old one by rename, and then removed; its name stays in the archive until
 * the next fold, so a folder killed between the rename and the removal leaves a file that
 * the next one removes without adding it twice.
 *
 * Threads: the caller's, under METRICS_DIR's lock (one folder at a time on the host).
 * Memory: the snapshot is the caller's (svc_metrics_snap_destroy); files are mapped and
 * unmapped within one fold. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "livefile.h"
#include "log.h"
#include "metrics_int.h"
#include "spool.h"

#define METRICS_TMP_MAX_AGE_S 60 /* a .tmp- file older than this lost its creator */

int svc_metrics_lock_dir(const char *dir, char *errstr, size_t errstr_size) {
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
        if (fread(&ar->b, sizeof(ar->b), 1, f) != 1 || !svc_metrics_is_ours(&ar->b)) {
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

int svc_metrics_fold_locked(const char *dir, svc_metrics_snap_t *snap, char *errstr,
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

                if (svc_livefile_sweep(dirfd(d), de->d_name, METRICS_TMP_MAX_AGE_S))
                        continue;
                if ((!is_proc && !is_cgi) ||
                    (fd = openat(dirfd(d), de->d_name, O_RDWR | O_CLOEXEC)) == -1)
                        continue;
                if (fstat(fd, &st) == 0 && st.st_size == sizeof(struct block))
                        b = svc_metrics_map_block(fd, PROT_READ);
                if (is_cgi) {
                        if (b && svc_metrics_is_ours(b) && snap)
                                add_block(snap, b, 0);
                } else if (svc_livefile_writer_lives(fd) != 0) { /* alive, or unknown */
                        if (b && svc_metrics_is_ours(b) && snap) {
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
                } else if (!b || !svc_metrics_is_ours(b)) {
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
        if ((lockfd = svc_metrics_lock_dir(cfg->metrics_dir, errstr, errstr_size)) == -1 ||
            svc_metrics_fold_locked(cfg->metrics_dir, snap, errstr, errstr_size) == -1)
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
