/* test_kafka.c - svc_kafka_conf_new's order (RDKAFKA_* wins), and svc_kafka_new's
 * refusals say why: bad librdkafka properties, and a dev store path that cannot be copied.
 * No broker is contacted. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "kafka.h"
#include "tap.h"

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

#ifndef __SANITIZE_ADDRESS__
/* Bytes of address space the process uses now. */
static size_t vm_size(void) {
        FILE *fp = fopen("/proc/self/statm", "r");
        size_t pages = 0;
        if (fp) {
                if (fscanf(fp, "%zu", &pages) != 1)
                        pages = 0;
                fclose(fp);
        }
        return pages * 4096;
}
#endif

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
        for (int i = 0; props[i].prop; i++) {
                char *rdkafka[] = {(char *)props[i].prop, NULL};
                svc_config_t cfg = {.kafka_url = "127.0.0.1:1",
                                    .kafka_timeout_ms = 1000,
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
                 * fails. Last in the test, since the limit stays. */
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
        }
#endif
        return done_testing();
}
