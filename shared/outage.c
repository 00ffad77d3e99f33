/* outage.c - Kafka being unreachable, as this host knows it (outage.h): the producer's own
 * view and the host-wide mark, and when to look at, set and clear the mark.
 *
 * Threads: any; svc_outage_failed and svc_outage_acked run on the producer's delivery
 * thread, svc_outage_known on the threads that accept requests; the state is atomics.
 * Memory: the handle owns its copy of the directory's path; kp is borrowed. */
#include "outage.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "spool.h"

#define OUTAGE_CHECK_MS 200 /* pooled: how often the mark file is looked at */

struct svc_outage {
        svc_kafka_t *kp;
        char *dir; /* where the mark is */
        int pooled;
        atomic_llong checked_ms; /* pooled: when the mark was last looked at */
        atomic_int marked;       /* what it said */
        atomic_int we_marked;    /* this process marked Kafka down: clear it on success */
};

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
                return svc_spool_is_down(ou->dir, SVC_OUTAGE_MARK_MAX_AGE_MS);
        now = svc_clock_ms(CLOCK_MONOTONIC);
        if (now - atomic_load(&ou->checked_ms) >= OUTAGE_CHECK_MS) {
                atomic_store(&ou->checked_ms, now);
                atomic_store(&ou->marked, svc_spool_is_down(ou->dir, SVC_OUTAGE_MARK_MAX_AGE_MS));
        }
        return atomic_load(&ou->marked);
}

void svc_outage_failed(svc_outage_t *ou) {
        if (!svc_kafka_brokers_down(ou->kp))
                return; /* one message refused or late: Kafka itself may be up */
        svc_spool_mark_down(ou->dir);
        atomic_store(&ou->we_marked, 1);
        atomic_store(&ou->marked, 1); /* this process knows it at once */
}

void svc_outage_acked(svc_outage_t *ou) {
        atomic_store(&ou->marked, 0); /* Kafka answers: no need to wait for the mark */
        if (atomic_exchange(&ou->we_marked, 0))
                svc_spool_mark_up(ou->dir);
}

void svc_outage_destroy(svc_outage_t *ou) {
        if (!ou)
                return;
        free(ou->dir);
        free(ou);
}
