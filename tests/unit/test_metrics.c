/* test_metrics.c - the counter files: every process's counts are summed, an ended or
 * killed process's counts are kept and folded exactly once (also when a folder died
 * between storing the archive and removing the file), per-request processes share one
 * file, files of another layout are not read, and the text and JSON views say the sums. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "tap.h"

static char dir[64];
static svc_config_t cfg;

/* Files of the directory whose names start with prefix; the last one's name into name. */
static int count_files(const char *prefix, char *name, size_t name_size) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;
        while (d && (de = readdir(d)))
                if (!strncmp(de->d_name, prefix, strlen(prefix))) {
                        n++;
                        if (name)
                                snprintf(name, name_size, "%s", de->d_name);
                }
        if (d)
                closedir(d);
        return n;
}

/* The rendered text of a fresh snapshot. */
static char *render(void) {
        char err[256];
        size_t len;
        svc_metrics_snap_t *snap = svc_metrics_snap_new(&cfg, err, sizeof(err));
        char *text = snap ? svc_metrics_render(snap, &len) : NULL;
        if (!snap)
                printf("# snapshot: %s\n", err);
        svc_metrics_snap_destroy(snap);
        return text;
}

/* The value of one series in a fresh snapshot (-1 when absent). */
static long long value(const char *series) {
        char *text = render(), *p;
        long long v = -1;
        size_t n = strlen(series);
        for (p = text; p && (p = strstr(p, series)); p += n)
                if ((p == text || p[-1] == '\n') && p[n] == ' ') {
                        v = atoll(p + n + 1);
                        break;
                }
        free(text);
        return v;
}

/* A child process that counts `n` /collect requests answered 200, with n events each
 * received and acknowledged; then exits, or, with `wait`, tells the parent through fd and
 * waits to be killed. */
static pid_t child(int flags, int n, int wait_fd) {
        pid_t pid = fork();
        char err[256];
        if (pid != 0)
                return pid;
        if (svc_metrics_open(&cfg, "/collect", flags, err, sizeof(err)) == -1) {
                printf("# child: %s\n", err);
                _exit(1);
        }
        for (int i = 0; i < n; i++) {
                svc_metrics_http_begin(SVC_METRICS_EP_COLLECT);
                svc_metrics_events(SVC_METRICS_EP_COLLECT, SVC_METRICS_RECEIVED, 2);
                svc_metrics_events(SVC_METRICS_EP_COLLECT, SVC_METRICS_ACKED, 2);
                svc_metrics_kafka_acked(1500);
                svc_metrics_http_answered(SVC_METRICS_EP_COLLECT, 200, 3000);
        }
        if (wait_fd != -1) {
                if (write(wait_fd, "x", 1) != 1)
                        _exit(1);
                pause();
        }
        svc_metrics_close();
        _exit(0);
}

static int wait_exit(pid_t pid) {
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define REQS "events_http_requests_total{endpoint=\"/collect\",code=\"200\"}"
#define RECEIVED "events_received_total{endpoint=\"/collect\"}"

static void test_exit_and_fold(void) {
        is_int(wait_exit(child(0, 5, -1)), 0, "a process counts 5 requests and exits");
        is_int(count_files("proc-", NULL, 0), 1, "its file stays until someone reads");
        is_int(value(REQS), 5, "the reader counts its 5 requests");
        is_int(value(RECEIVED), 10, "and its 10 events received");
        is_int(count_files("proc-", NULL, 0), 0, "its file was folded into the archive");
        is_int(value(REQS), 5, "read again: still 5, not twice");
        is_int(value("events_processes_ended_total"), 1, "one process ended");
}

static void test_kill9(void) {
        int fds[2];
        char c;
        pid_t pid;

        if (pipe(fds) == -1)
                return;
        pid = child(0, 3, fds[1]);
        ok(read(fds[0], &c, 1) == 1, "a second process counts 3 requests and lives on");
        is_int(value(REQS), 8, "live and ended together: 8");
        is_int(value("events_http_requests_in_flight{endpoint=\"/collect\"}"), 3,
               "its requests in flight (never ended) are a gauge of the live process");
        kill(pid, SIGKILL);
        wait_exit(pid);
        is_int(value(REQS), 8, "kill -9: the counts stay (8)");
        is_int(value("events_http_requests_in_flight{endpoint=\"/collect\"}"), 0,
               "its gauges go with it");
        is_int(value(REQS), 8, "and are not added twice");
        close(fds[0]);
        close(fds[1]);
}

/* A folder that died after storing the archive and before removing the file leaves the
 * file behind: the next folder must remove it without adding it again. */
static void test_fold_interrupted(void) {
        char name[256], path[512], copy[512], cmd[1200];

        is_int(wait_exit(child(0, 4, -1)), 0, "a third process counts 4 and exits");
        if (count_files("proc-", name, sizeof(name)) != 1)
                return;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        snprintf(copy, sizeof(copy), "%s/../saved", dir);
        snprintf(cmd, sizeof(cmd), "cp %s %s", path, copy);
        ok(system(cmd) == 0, "its file is copied aside");
        is_int(value(REQS), 12, "folded: 12");
        ok(rename(copy, path) == 0, "the file is back, as if its removal never happened");
        is_int(value(REQS), 12, "still 12: the archive knows it was folded");
        is_int(count_files("proc-", NULL, 0), 0, "and the file is removed");
}

static void test_per_request(void) {
        is_int(wait_exit(child(SVC_METRICS_F_PER_REQUEST, 1, -1)), 0, "a CGI process counts 1");
        is_int(wait_exit(child(SVC_METRICS_F_PER_REQUEST, 2, -1)), 0, "another counts 2");
        is_int(count_files("cgi.metrics", NULL, 0), 1, "they share one file");
        is_int(count_files("proc-", NULL, 0), 0, "and have none of their own");
        is_int(value(REQS), 15, "their counts are added: 15");
        is_int(value(REQS), 15, "and stay (the shared file is never folded)");
}

static void test_foreign_layout(void) {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/proc-old-1-1.metrics", dir);
        f = fopen(path, "w");
        fputs("SVCMET00 an older layout", f);
        fclose(f);
        is_int(value(REQS), 15, "a file of another layout is not counted");
        is_int(count_files("proc-old", NULL, 0), 0, "and, its process gone, it is removed");
        snprintf(path, sizeof(path), "%s/archive.metrics", dir);
        f = fopen(path, "w");
        fputs("torn", f);
        fclose(f);
        is_int(value(REQS), 3, "a torn archive starts from zero (the shared file's 3 stay)");
}

static void test_render(void) {
        char *text;
        const char *want[] = {
            "# TYPE events_http_requests_total counter\n",
            "# TYPE events_http_request_duration_seconds histogram\n",
            "events_http_request_duration_seconds_bucket{endpoint=\"/collect\",le=\"0.0025\"} 0\n",
            "events_http_request_duration_seconds_bucket{endpoint=\"/collect\",le=\"0.005\"} 3\n",
            "events_http_request_duration_seconds_bucket{endpoint=\"/collect\",le=\"+Inf\"} 3\n",
            "events_http_request_duration_seconds_sum{endpoint=\"/collect\"} 0.009000\n",
            "events_http_request_duration_seconds_count{endpoint=\"/collect\"} 3\n",
            "events_kafka_produce_duration_seconds_bucket{le=\"0.001\"} 0\n",
            "events_kafka_produce_duration_seconds_bucket{le=\"0.0025\"} 3\n",
            "events_kafka_produce_duration_seconds_count 3\n",
            "events_received_total{endpoint=\"/api/ingest\"} 0\n",
            "events_rejected_total{endpoint=\"/collect\",reason=\"too_large\"} 0\n",
            "events_kafka_delivery_errors_total{error=\"timed_out\"} 0\n",
            "events_consumer_records_total{outcome=\"produced\"} 0\n",
            NULL,
        };

        text = render();
        for (const char **w = want; *w; w++) {
                ok(text && strstr(text, *w), "the text has: %.*s", (int)strlen(*w) - 1, *w);
        }
        ok(text && !strstr(text, "events_consumer_lag"), "no consumer lag without a consumer");
        ok(text && !strstr(text, "events_spool_records"), "no spool gauges without a spool");
        free(text);
}

static void test_summary(void) {
        char err[256];
        svc_metrics_snap_t *snap = svc_metrics_snap_new(&cfg, err, sizeof(err));
        json_t *sum = snap ? svc_metrics_summary(snap) : NULL;
        json_t *ev = json_object_get(sum, "events");

        is_int(json_integer_value(json_object_get(ev, "received")), 6, "summary: received");
        is_int(json_integer_value(json_object_get(ev, "acked")), 6, "summary: acked");
        is_int(json_integer_value(json_object_get(json_object_get(sum, "kafka_ack"), "count")), 3,
               "summary: acknowledgements");
        ok(json_is_null(json_object_get(sum, "spool")), "summary: no spool");
        json_decref(sum);
        svc_metrics_snap_destroy(snap);
}

static void test_off(void) {
        svc_config_t off = {0};
        char err[256];

        ok(svc_metrics_snap_new(&off, err, sizeof(err)) == NULL, "METRICS_DIR=off: no snapshot");
        is_int(svc_metrics_open(&off, "consumer", 0, err, sizeof(err)), 0, "off: open is a no-op");
        svc_metrics_add(SVC_METRICS_CONSUMER_PRODUCED, 3);
        is_int(svc_metrics_get(SVC_METRICS_CONSUMER_PRODUCED), 0, "off: nothing is counted");
        svc_metrics_close();
        is_int(svc_metrics_open(&off, "consumer", SVC_METRICS_F_IN_MEMORY, err, sizeof(err)), 0,
               "off, in memory");
        svc_metrics_add(SVC_METRICS_CONSUMER_PRODUCED, 3);
        is_int(svc_metrics_get(SVC_METRICS_CONSUMER_PRODUCED), 3,
               "in memory: a stats line reads its counts");
        svc_metrics_close();
}

int main(void) {
        char base[32] = "/tmp/test_metrics.XXXXXX", cmd[128];

        if (!mkdtemp(base))
                return 1;
        snprintf(dir, sizeof(dir), "%s/m", base);
        cfg.metrics_dir = dir;
        test_exit_and_fold();
        test_kill9();
        test_fold_interrupted();
        test_per_request();
        test_foreign_layout();
        test_render();
        test_summary();
        test_off();
        snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
        if (system(cmd) != 0)
                return 1;
        return done_testing();
}
