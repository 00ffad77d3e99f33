/* outage.c - Kafka being unreachable, as this host knows it (outage.h): the producer's own
 * view and the host-wide mark (a file whose modification time says when Kafka was last
 * seen down), and when to look at, set and clear the mark.
 *
 * Threads: any; svc_outage_failed and svc_outage_acked run on the producer's delivery
 * thread, svc_outage_known on the threads that accept requests; the state is atomics.
 * Memory: the handle owns its copy of the directory's path; kp is borrowed. */
#include "outage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define OUTAGE_MARK "kafka-down" /* the mark's name in SPOOL_DIR */
#define OUTAGE_CHECK_MS 200      /* pooled: how often the mark file is looked at */

struct svc_outage {
        svc_kafka_t *kp;
        char *dir; /* where the mark is */
        int pooled;
        atomic_llong checked_ms; /* pooled: when the mark was last looked at */
        atomic_int marked;       /* what it said */
        atomic_int we_marked;    /* this process marked Kafka down: clear it on success */
};

static void mark_path(char *path, size_t path_size, const char *dir) {
        snprintf(path, path_size, "%s/" OUTAGE_MARK, dir);
}

void svc_outage_mark_down(const char *dir) {
        char path[PATH_MAX];
        int fd;

        mark_path(path, sizeof(path), dir);
        if (utimensat(AT_FDCWD, path, NULL, 0) == 0 || errno != ENOENT)
                return;
        if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) != -1)
                close(fd);
}

void svc_outage_mark_up(const char *dir) {
        char path[PATH_MAX];

        mark_path(path, sizeof(path), dir);
        unlink(path);
}

int svc_outage_is_marked(const char *dir, int max_age_ms) {
        char path[PATH_MAX];
        struct stat st;
        long long age;

        mark_path(path, sizeof(path), dir);
        if (stat(path, &st) == -1)
                return 0;
        age = svc_clock_ms(CLOCK_REALTIME) -
              ((long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
        return age <= max_age_ms; /* a mark from "the future" (clock step) counts too */
}

svc_outage_t *svc_outage_new(svc_kafka_t *kp, const char *spool_dir, int pooled) {
        svc_outage_t *ou = calloc(1, sizeof(*ou));

        if (!ou || !(ou->dir = strdup(spool_dir))) {
                free(ou);
                return NULL;
        }
        ou->kp = kp;
        ou->pooled = pooled;
        return ou;
}

int svc_outage_known(svc_outage_t *ou) {
        long long now;

        if (!ou->pooled)
                return svc_outage_is_marked(ou->dir, SVC_OUTAGE_MARK_MAX_AGE_MS);
        now = svc_clock_ms(CLOCK_MONOTONIC);
        if (now - atomic_load(&ou->checked_ms) >= OUTAGE_CHECK_MS) {
                atomic_store(&ou->checked_ms, now);
                atomic_store(&ou->marked,
                             svc_outage_is_marked(ou->dir, SVC_OUTAGE_MARK_MAX_AGE_MS));
        }
        return atomic_load(&ou->marked);
}

void svc_outage_failed(svc_outage_t *ou) {
        if (!svc_kafka_brokers_down(ou->kp))
                return; /* one message refused or late: Kafka itself may be up */
        svc_outage_mark_down(ou->dir);
        atomic_store(&ou->we_marked, 1);
        atomic_store(&ou->marked, 1); /* this process knows it at once */
}

void svc_outage_acked(svc_outage_t *ou) {
        atomic_store(&ou->marked, 0); /* Kafka answers: no need to wait for the mark */
        if (atomic_exchange(&ou->we_marked, 0))
                svc_outage_mark_up(ou->dir);
}

void svc_outage_destroy(svc_outage_t *ou) {
        if (!ou)
                return;
        free(ou->dir);
        free(ou);
}
