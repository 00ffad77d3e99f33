/* test_kafka.c - svc_kafka_conf_new's order (RDKAFKA_* wins), a reader's lag, what a
 * failure means, svc_kafka_new's refusals (bad librdkafka properties, a dev store path that
 * cannot be copied), and async sends beside a serving batch. No broker is contacted. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kafka.h"
#include "tap.h"
#include "vm_size.h"

/* One property of conf, or "" when it cannot be read. */
static const char *conf_get(rd_kafka_conf_t *conf, const char *name) {
        static char value[256];
        size_t size = sizeof(value);
        if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK)
                value[0] = '\0';
        return value;
}

/* Every client's configuration: KAFKA_URL, the size limit, the client's own properties,
 * then RDKAFKA_* over all of them. */
static void test_conf_new(void) {
        char *rdkafka[] = {"client.id=from-env", "bootstrap.servers=10.0.0.1:9092", NULL};
        const char *props[] = {"client.id", "own", "linger.ms", "7", NULL};
        svc_config_t cfg = {.kafka_url = "127.0.0.1:1", .rdkafka = rdkafka};
        char errstr[256];
        rd_kafka_conf_t *conf = svc_kafka_conf_new(&cfg, props, errstr, sizeof(errstr));

        ok(conf != NULL, "conf_new: a configuration");
        if (!conf)
                return;
        is_str(conf_get(conf, "message.max.bytes"), SVC_KAFKA_MESSAGE_MAX_STR,
               "conf_new: the one message-size limit");
        is_str(conf_get(conf, "linger.ms"), "7", "conf_new: the client's own property");
        is_str(conf_get(conf, "client.id"), "from-env", "conf_new: RDKAFKA_* wins over it");
        is_str(conf_get(conf, "bootstrap.servers"), "10.0.0.1:9092",
               "conf_new: RDKAFKA_* wins over KAFKA_URL");
        rd_kafka_conf_destroy(conf);

        cfg.rdkafka = NULL;
        conf = svc_kafka_conf_new(&cfg, NULL, errstr, sizeof(errstr));
        is_str(conf ? conf_get(conf, "bootstrap.servers") : "", "127.0.0.1:1",
               "conf_new: the brokers of KAFKA_URL");
        if (conf)
                rd_kafka_conf_destroy(conf);
}

/* A reader's lag: the one computation of the consumer's gauge and grouplag. */
static void test_lag(void) {
        static const struct {
                long long lo, hi, pos, want;
                const char *label;
        } cases[] = {
            {0, 10, 4, 6, "a position inside the partition"},
            {0, 10, 10, 0, "at the high watermark"},
            {0, 0, -1001, 0, "an empty partition, nothing committed"},
            {5, 10, -1001, 5, "nothing committed: counts from the low watermark"},
            {5, 10, 2, 5, "a position retention removed: counts from the low watermark"},
            {5, 10, 5, 5, "at the low watermark"},
            {5, 10, 12, 0, "past the high watermark (a stale one): never negative"},
            {0, 0, 0, 0, NULL},
        };
        for (int i = 0; cases[i].label; i++)
                is_int(svc_kafka_lag(cases[i].lo, cases[i].hi, cases[i].pos), cases[i].want,
                       "lag: %s", cases[i].label);
}

/* What a failure means, for the producer's metrics and the consumer's dead letters. */
static void test_fail_kinds(void) {
        static const struct {
                rd_kafka_resp_err_t err;
                svc_kafka_fail_t kind;
                int down, permanent;
        } cases[] = {
            {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, SVC_KAFKA_FAIL_TIMED_OUT, 1, 0},
            {RD_KAFKA_RESP_ERR__TRANSPORT, SVC_KAFKA_FAIL_BROKER_DOWN, 1, 0},
            {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, SVC_KAFKA_FAIL_BROKER_DOWN, 1, 0},
            {RD_KAFKA_RESP_ERR__PURGE_QUEUE, SVC_KAFKA_FAIL_PURGED, 0, 0},
            {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, SVC_KAFKA_FAIL_TOO_LARGE, 0, 1},
            {RD_KAFKA_RESP_ERR_INVALID_RECORD, SVC_KAFKA_FAIL_INVALID, 0, 1},
            {RD_KAFKA_RESP_ERR__INVALID_ARG, SVC_KAFKA_FAIL_INVALID, 0, 1},
            {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, SVC_KAFKA_FAIL_UNKNOWN_TOPIC, 0, 0},
            {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, SVC_KAFKA_FAIL_NOT_AUTHORIZED, 0, 0},
            {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, SVC_KAFKA_FAIL_OTHER, 0, 0},
            {RD_KAFKA_RESP_ERR_NO_ERROR, SVC_KAFKA_FAIL_OTHER, 0, 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *name = rd_kafka_err2name(cases[i].err);
                is_int(svc_kafka_fail_kind(cases[i].err), cases[i].kind, "%s: its kind", name);
                is_int(svc_kafka_fail_means_down(cases[i].err), cases[i].down,
                       "%s: brokers down or not", name);
                is_int(svc_kafka_fail_is_permanent(cases[i].err), cases[i].permanent,
                       "%s: permanent or not", name);
        }
}

/* A listening socket that never accepts: a broker that takes connections and never
 * answers. Returns its port, or 0. */
static int black_hole(int *fd) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);

        if ((*fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
                return 0;
        if (bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(*fd, 16) ||
            getsockname(*fd, (struct sockaddr *)&sa, &len)) {
                close(*fd);
                return 0;
        }
        return ntohs(sa.sin_port);
}

#define ASYNC_CNT 4000
#define BATCH_CNT 1100 /* past the point where a batch serves delivery reports itself */

/* The async messages' outcomes. The first done() call, on the delivery thread, holds it
 * until `go`, so that the other messages' deadlines and delivery reports pile up. */
static struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int first_seen, go;
        atomic_int calls[ASYNC_CNT];
        atomic_int total;
        atomic_int by_deadline; /* settled at their deadline rather than by their report */
} async = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {0}, 0, 0};

/* The delivery thread is held once, right after it lets go of a lock, while the batch's
 * thread serves the delivery reports; the test's own lock does not count. This is the
 * moment expire_pending() has taken a message off the pending list and is about to
 * settle it: held there, its report is certain to be served meanwhile. The library's
 * calls to pthread_mutex_unlock() land here, since it is linked into this program. */
static struct {
        pthread_t thread; /* the delivery thread: where the first done() ran */
        atomic_int armed; /* hold it at its next unlock */
        atomic_int held;  /* it is held now (or was) */
} hold;

static void async_done(void *opaque, int err, const char *why) {
        int i = (int)(intptr_t)opaque;
        (void)err;
        atomic_fetch_add(&async.calls[i], 1);
        if (why && strstr(why, "no acknowledgement"))
                atomic_fetch_add(&async.by_deadline, 1);
        if (atomic_fetch_add(&async.total, 1) == 0) {
                hold.thread = pthread_self();
                pthread_mutex_lock(&async.lock);
                async.first_seen = 1;
                pthread_cond_broadcast(&async.cond);
                while (!async.go)
                        pthread_cond_wait(&async.cond, &async.lock);
                pthread_mutex_unlock(&async.lock);
        }
}

/* Waits until pred() holds, at most ms; returns what pred() last said. */
static int wait_for(int (*pred)(void), int ms) {
        struct timespec nap = {0, 10 * 1000000L};
        for (long long end = svc_clock_ms(CLOCK_MONOTONIC) + ms;
             !pred() && svc_clock_ms(CLOCK_MONOTONIC) < end;)
                nanosleep(&nap, NULL);
        return pred();
}

int pthread_mutex_unlock(pthread_mutex_t *m);
static int all_settled(void);

int pthread_mutex_unlock(pthread_mutex_t *m) {
        static int (*next_unlock)(pthread_mutex_t *); /* libc's, or ASan's in front of it */
        int ret;

        if (!next_unlock)
                *(void **)&next_unlock = dlsym(RTLD_NEXT, "pthread_mutex_unlock");
        ret = next_unlock(m);

        if (m != &async.lock && atomic_load(&hold.armed) &&
            pthread_equal(pthread_self(), hold.thread) && atomic_exchange(&hold.armed, 0)) {
                atomic_store(&hold.held, 1);
                wait_for(all_settled, 10000);
        }
        return ret;
}

static int held(void) {
        return atomic_load(&hold.held);
}

static int first_seen(void) {
        int seen;
        pthread_mutex_lock(&async.lock);
        seen = async.first_seen;
        pthread_mutex_unlock(&async.lock);
        return seen;
}

static int all_settled(void) {
        return atomic_load(&async.total) >= ASYNC_CNT;
}

/* Async sends beside a batch that serves delivery reports: the delivery thread settles
 * async messages at their deadline while the batch's thread takes their reports, which
 * free them. Each message is settled once and freed after the last look at it (under
 * ASan, a use after free aborts the test). */
static void test_async_beside_batch(void) {
        char url[64], errstr[256];
        /* Deadlines at 1 s; librdkafka's own time-out at 1.5 s, found by its scan at 2 s. */
        char *rdkafka[] = {"message.timeout.ms=1500", "socket.connection.setup.timeout.ms=60000",
                           NULL};
        svc_config_t cfg = {.kafka_url = url,
                            .kafka_timeout_ms = 1000,
                            .kafka_batch_max = 1048588,
                            .collect_raw_topic = "raw",
                            .rdkafka = rdkafka};
        struct timespec pile_up = {1, 500 * 1000000L};
        svc_kafka_batch_t *kb = NULL;
        svc_kafka_t *kp;
        int fd, port = black_hole(&fd), queued = 0, once = 0;
        size_t acked = 0;

        ok(port != 0, "async beside a batch: a broker that never answers");
        if (!port)
                return;
        snprintf(url, sizeof(url), "127.0.0.1:%d", port);
        if (!(kp = svc_kafka_new(&cfg, 0, errstr, sizeof(errstr)))) {
                ok(0, "async beside a batch: a producer (%s)", errstr);
                close(fd);
                return;
        }
        for (int i = 0; i < ASYNC_CNT; i++)
                queued += svc_kafka_produce_async(kp, "t", "k", 1, "v", 1, async_done,
                                                  (void *)(intptr_t)i, errstr, sizeof(errstr)) == 0;
        is_int(queued, ASYNC_CNT, "async beside a batch: every async message queued");
        ok(wait_for(first_seen, 10000), "async beside a batch: the first deadline passed");
        /* librdkafka fails them all at its timeout scan after 1.5 s: their reports wait,
         * since the delivery thread is held. */
        nanosleep(&pile_up, NULL);
        kb = svc_kafka_batch_new(kp);
        atomic_store(&hold.armed, 1);
        pthread_mutex_lock(&async.lock);
        async.go = 1;
        pthread_cond_broadcast(&async.cond);
        pthread_mutex_unlock(&async.lock);
        ok(wait_for(held, 10000), "async beside a batch: the delivery thread took the next one");
        for (int i = 0; kb && i < BATCH_CNT; i++)
                if (svc_kafka_batch_produce(kb, "t", "k", 1, "v", 1, errstr, sizeof(errstr)))
                        break;
        ok(kb && svc_kafka_batch_wait(kb, 10000, &acked, errstr, sizeof(errstr)) == -1 && !acked,
           "async beside a batch: the batch fails as a whole (%s)", errstr);
        svc_kafka_batch_destroy(kb);
        ok(wait_for(all_settled, 10000), "async beside a batch: every async message settled");
        for (int i = 0; i < ASYNC_CNT; i++)
                once += atomic_load(&async.calls[i]) == 1;
        is_int(once, ASYNC_CNT, "async beside a batch: each settled exactly once");

        svc_kafka_destroy(kp, 0);
        close(fd);
}

/* What one message of svc_kafka_produce_async became: done()'s err, or -1 not yet. */
static atomic_int size_outcome[2];

static void size_done(void *opaque, int err, const char *why) {
        (void)why;
        atomic_store(&size_outcome[(intptr_t)opaque], err);
}

/* The largest message for a cluster's record batch limit, and the producer's own bound: a
 * message one byte over it is refused at once, through done(), never queued. */
static void test_message_max(void) {
        static const struct {
                long cluster, want;
                const char *label;
        } cases[] = {
            {1048588, SVC_KAFKA_MESSAGE_MAX, "Kafka's default: the service's own limit"},
            {1000097, SVC_KAFKA_MESSAGE_MAX, "just room for the service's limit and framing"},
            {1000096, SVC_KAFKA_MESSAGE_MAX - 1, "one byte less"},
            {100000, 99903, "a small cluster: its limit less a batch of one's framing"},
            {4096, 3999, "the smallest setting"},
            {0, 0, NULL},
        };
        char url[64], errstr[256] = "", *val = calloc(1, 100000);
        /* a broker that never answers: the message that fits stays queued until the end */
        svc_config_t cfg = {.kafka_url = url,
                            .kafka_timeout_ms = 60000,
                            .kafka_batch_max = 10000,
                            .collect_raw_topic = "raw"};
        svc_kafka_t *kp = NULL;
        int fd, port = black_hole(&fd);

        for (int i = 0; cases[i].label; i++) {
                svc_config_t c = {.kafka_batch_max = cases[i].cluster};
                is_int(svc_kafka_message_max(&c), cases[i].want, "message max: %s", cases[i].label);
        }
        snprintf(url, sizeof(url), "127.0.0.1:%d", port);
        if (!port || !val || !(kp = svc_kafka_new(&cfg, 0, errstr, sizeof(errstr)))) {
                ok(0, "message max: a producer for a cluster of 10000 bytes (%s)", errstr);
                if (port)
                        close(fd);
                free(val);
                return;
        }
        for (int i = 0; i < 2; i++)
                atomic_store(&size_outcome[i], -1);
        /* key "k" + 9902 bytes: 9903, the largest message that fits */
        ok(svc_kafka_produce_async(kp, "raw", "k", 1, val, 9902, size_done, (void *)0, errstr,
                                   sizeof(errstr)) == 0 &&
               atomic_load(&size_outcome[0]) == -1,
           "message max: the largest message is queued, not refused");
        ok(svc_kafka_produce_async(kp, "raw", "k", 1, val, 9903, size_done, (void *)1, errstr,
                                   sizeof(errstr)) == 0,
           "message max: one byte more is taken by the call");
        is_int(atomic_load(&size_outcome[1]), RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
               "message max: and refused at once as too large, through done()");
        is_int(svc_kafka_fail_kind(atomic_load(&size_outcome[1])), SVC_KAFKA_FAIL_TOO_LARGE,
               "message max: a failure of the kind too large");
        svc_kafka_destroy(kp, 0);
        close(fd);
        ok(atomic_load(&size_outcome[0]) != -1 && atomic_load(&size_outcome[0]) != 0 &&
               atomic_load(&size_outcome[0]) != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
           "message max: the queued one failed at exit, not as too large: %s",
           rd_kafka_err2name(atomic_load(&size_outcome[0])));
        free(val);
}

int main(void) {
        static const struct {
                const char *prop, *want; /* want: a part of errstr */
        } props[] = {
            {"no.such.property=1", "no.such.property"},
            {"batch.num.messages=many", "batch.num.messages"},
            {NULL, NULL},
        };
        char errstr[256];
        svc_kafka_t *kp;

        test_conf_new();
        test_lag();
        test_fail_kinds();
        for (int i = 0; props[i].prop; i++) {
                char *rdkafka[] = {(char *)props[i].prop, NULL};
                svc_config_t cfg = {.kafka_url = "127.0.0.1:1",
                                    .kafka_timeout_ms = 1000,
                                    .kafka_batch_max = 1048588,
                                    .collect_raw_topic = "raw",
                                    .rdkafka = rdkafka};
                snprintf(errstr, sizeof(errstr), "untouched");
                kp = svc_kafka_new(&cfg, 0, errstr, sizeof(errstr));
                ok(kp == NULL, "%s: refused", props[i].prop);
                ok(strstr(errstr, props[i].want) != NULL, "%s: errstr names it (%s)", props[i].prop,
                   errstr);
                svc_kafka_destroy(kp, 0);
        }

        {
                svc_config_t cfg = {
                    .dev_mode = 1, .dev_store = "/tmp/store.jsonl", .kafka_timeout_ms = 1000};
                kp = svc_kafka_new(&cfg, 0, errstr, sizeof(errstr));
                ok(kp && svc_kafka_is_dev(kp), "dev mode: a dev store writer");
                svc_kafka_destroy(kp, 0);
        }

#ifdef __SANITIZE_ADDRESS__
        ok(1, "dev mode out of memory: errstr says so # SKIP RLIMIT_AS and ASan's shadow "
              "memory do not mix");
#else
        {
                /* A DEV_STORE path larger than the address space left: only its copy
                 * fails. Before anything has grown the heap: its free top would hold the
                 * copy. The limit is lifted after. */
                size_t n = (size_t)16 << 20;
                char *path =
                    mmap(NULL, n + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                struct rlimit rl = {0, RLIM_INFINITY};
                svc_config_t cfg = {.dev_mode = 1, .kafka_timeout_ms = 1000};

                ok(path != MAP_FAILED, "a long path mapped");
                memset(path, 'x', n);
                path[n] = '\0';
                cfg.dev_store = path;
                rl.rlim_cur = vm_size() + n / 2;
                ok(setrlimit(RLIMIT_AS, &rl) == 0, "address space limited");
                snprintf(errstr, sizeof(errstr), "untouched");
                kp = svc_kafka_new(&cfg, 0, errstr, sizeof(errstr));
                ok(kp == NULL, "dev mode out of memory: refused");
                is_str(errstr, "out of memory", "dev mode out of memory: errstr says so");
                svc_kafka_destroy(kp, 0);
                rl.rlim_cur = RLIM_INFINITY;
                ok(setrlimit(RLIMIT_AS, &rl) == 0, "address space no longer limited");
                munmap(path, n + 1);
        }
#endif
        /* after the out-of-memory case, which needs a heap nothing has grown yet */
        test_message_max();
        test_async_beside_batch();
        return done_testing();
}
