/* metricsloop.c - the CPU that counting costs a pooled /collect request: THREADS threads
 * each make, N times, the calls into shared/metrics.c that such a request makes (bench/run
 * row 6). Prints "ns_per_request=<CPU ns>".
 *
 *   metricsloop DIR [THREADS] [N]     (DIR: a METRICS_DIR of its own, or "off")
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

#define LOOP_MAX_THREADS 64

static long loops = 1000000;

static void *count(void *arg) {
        (void)arg;
        for (long i = 0; i < loops; i++) {
                svc_metrics_http_begin(SVC_METRICS_EP_COLLECT);
                svc_metrics_events(SVC_METRICS_EP_COLLECT, SVC_METRICS_RECEIVED, 1);
                svc_metrics_kafka_acked(1500 /* us */);
                svc_metrics_events(SVC_METRICS_EP_COLLECT, SVC_METRICS_ACKED, 1);
                svc_metrics_http_answered(SVC_METRICS_EP_COLLECT, 200, 3000 /* us */);
                svc_metrics_http_end(SVC_METRICS_EP_COLLECT);
        }
        return NULL;
}

int main(int argc, char **argv) {
        svc_config_t cfg = {0};
        pthread_t tids[LOOP_MAX_THREADS];
        struct timespec t0, t1;
        char errstr[512];
        int threads = argc > 2 ? atoi(argv[2]) : 1;

        if (argc < 2 || threads < 1 || threads > LOOP_MAX_THREADS) {
                fprintf(stderr, "usage: metricsloop DIR|off [THREADS (1-%d)] [N]\n",
                        LOOP_MAX_THREADS);
                return 2;
        }
        if (argc > 3)
                loops = atol(argv[3]);
        cfg.metrics_dir = strcmp(argv[1], "off") ? argv[1] : NULL;
        if (svc_metrics_open(&cfg, "metricsloop", 0, errstr, sizeof(errstr)) == -1) {
                fprintf(stderr, "metricsloop: %s\n", errstr);
                return 1;
        }
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        for (int i = 0; i < threads; i++)
                if (pthread_create(&tids[i], NULL, count, NULL) != 0)
                        return 1;
        for (int i = 0; i < threads; i++)
                pthread_join(tids[i], NULL);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
        svc_metrics_close();
        printf("ns_per_request=%.0f\n",
               ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
                   ((double)loops * threads));
        return 0;
}
