/* test_outage.c - what a process knows of Kafka's outages: the host's mark counts while
 * it is fresh, a process clears only the mark it set, and a message refused while a
 * broker answers marks nothing. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "outage.h"
#include "tap.h"

/* Sets the mark's modification time age_ms back; returns 0, or -1 when there is none. */
static int age_mark(const char *dir, long long age_ms) {
        char path[512];
        struct timespec now, times[2];

        snprintf(path, sizeof(path), "%s/kafka-down", dir);
        clock_gettime(CLOCK_REALTIME, &now);
        now.tv_sec -= age_ms / 1000;
        times[0] = times[1] = now;
        return utimensat(AT_FDCWD, path, times, 0);
}

int main(void) {
        char dir[] = "/tmp/test_outage.XXXXXX", errstr[256];
        svc_config_t cfg = {.dev_mode = 1, .dev_store = "/dev/null", .kafka_timeout_ms = 1000};
        svc_kafka_t *kp;
        svc_outage_t *ou;

        if (!mkdtemp(dir) || !(kp = svc_kafka_new(&cfg, 0, errstr, sizeof(errstr))))
                return 1;
        ou = svc_outage_new(kp, dir, 0);
        ok(ou != NULL, "a handle");
        if (!ou)
                return done_testing();
        is_int(svc_outage_known(ou), 0, "no mark: not known down");
        svc_outage_mark_down(dir);
        is_int(svc_outage_known(ou), 1, "a fresh mark: known down");
        ok(age_mark(dir, SVC_OUTAGE_MARK_MAX_AGE_MS + 2000) == 0, "the mark aged");
        is_int(svc_outage_known(ou), 0, "a stale mark: no longer counts");
        svc_outage_mark_down(dir);
        svc_outage_acked(ou);
        is_int(svc_outage_known(ou), 1, "an acknowledgement here leaves another's mark");
        svc_outage_mark_up(dir);
        svc_outage_failed(ou);
        is_int(svc_outage_known(ou), 0, "a failure while the producer sees a broker marks nothing");
        svc_outage_destroy(ou);
        svc_kafka_destroy(kp, 0);
        rmdir(dir);
        return done_testing();
}
