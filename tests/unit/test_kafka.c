/* test_kafka.c - svc_kafka_new's refusals say why: bad librdkafka properties, and a
 * dev store path that cannot be copied. No broker is contacted. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "kafka.h"
#include "tap.h"

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
