/* test_config.c - settings: defaults, EVENTS_CONFIG file, environment wins, RDKAFKA_*. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static const char *clear_vars[] = {"KAFKA_URL",
                                   "FORCE_DEV_MODE",
                                   "EVENTS_CONFIG",
                                   "KAFKA_TIMEOUT_MS",
                                   "CLICK_TOPIC",
                                   "DEV_STORE",
                                   "RDKAFKA_SASL_USERNAME",
                                   "INGEST_API_TOKEN",
                                   "INGEST_ALLOW",
                                   "KAFKA_MESSAGE_MAX_BYTES",
                                   NULL};

static void clear_env(void) {
        for (const char **v = clear_vars; *v; v++)
                unsetenv(*v);
}

static int has_prop(const svc_config_t *cfg, const char *want) {
        for (char **p = cfg->rdkafka; p && *p; p++)
                if (!strcmp(*p, want))
                        return 1;
        return 0;
}

int main(void) {
        svc_config_t cfg;
        char errstr[256], path[] = "/tmp/svc-test-config-XXXXXX";
        int fd;
        FILE *fp;

        clear_env();
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == 0, "defaults load");
        ok(cfg.dev_mode == 1, "no KAFKA_URL means dev mode");
        is_str(cfg.collect_raw_topic, "collect-topic1", "raw topic default");
        is_str(cfg.conversion_topic, "trk-jobcloud-conversion-destination-events-topic",
               "conversion topic default");
        is_str(cfg.data_dir, "./data", "data dir default");
        is_str(cfg.cors_origins, "*", "CORS default");
        is_int(cfg.kafka_timeout_ms, 5000, "timeout default");
        ok(cfg.kafka_batch_max == 1048588, "message limit default: Kafka's (%ld)",
           cfg.kafka_batch_max);
        ok(cfg.ingest_api_token == NULL, "no token by default");
        svc_config_close(&cfg);

        setenv("KAFKA_URL", "kafka://h1:9092,kafka://h2:9093", 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == 0, "kafka:// URL loads");
        is_str(cfg.kafka_url, "h1:9092,h2:9093", "kafka:// prefixes stripped");
        ok(cfg.dev_mode == 0, "KAFKA_URL set means Kafka mode");
        svc_config_close(&cfg);

        setenv("FORCE_DEV_MODE", "true", 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == 0 && cfg.dev_mode == 1,
           "FORCE_DEV_MODE=true wins over KAFKA_URL");
        svc_config_close(&cfg);
        clear_env();

        static const struct {
                const char *value;
                int ok;
        } timeouts[] = {{"1500", 1}, {"0", 0}, {"-5", 0}, {"12ms", 0}, {"", 1}, {NULL, 0}};
        for (int i = 0; timeouts[i].value; i++) {
                setenv("KAFKA_TIMEOUT_MS", timeouts[i].value, 1);
                int rc = svc_config_load(&cfg, errstr, sizeof(errstr));
                ok((rc == 0) == timeouts[i].ok, "KAFKA_TIMEOUT_MS='%s' %s", timeouts[i].value,
                   timeouts[i].ok ? "accepted" : "refused");
                if (rc == 0)
                        svc_config_close(&cfg);
                else
                        ok(strstr(errstr, "KAFKA_TIMEOUT_MS") != NULL, "the error names it");
        }
        clear_env();

        static const struct {
                const char *value;
                long want; /* 0: refused */
        } limits[] = {
            {"100000", 100000}, {"4096", 4096}, {"4095", 0},   {"2147483647", 2147483647L},
            {"2147483648", 0},  {"1e6", 0},     {"", 1048588}, {NULL, 0}};
        for (int i = 0; limits[i].value; i++) {
                setenv("KAFKA_MESSAGE_MAX_BYTES", limits[i].value, 1);
                int rc = svc_config_load(&cfg, errstr, sizeof(errstr));
                ok(limits[i].want ? rc == 0 && cfg.kafka_batch_max == limits[i].want
                                  : rc == -1 && strstr(errstr, "KAFKA_MESSAGE_MAX_BYTES"),
                   "KAFKA_MESSAGE_MAX_BYTES='%s' %s", limits[i].value,
                   limits[i].want ? "accepted" : "refused, named");
                if (rc == 0)
                        svc_config_close(&cfg);
        }
        clear_env();

        fd = mkstemp(path);
        fp = fdopen(fd, "w");
        fprintf(fp, "# comment\n\nKAFKA_URL=file-broker:9092\nexport CLICK_TOPIC=\"clicks\"\n"
                    "DEV_STORE = '/srv/store.jsonl'\nRDKAFKA_SASL_USERNAME=alice\n"
                    "not a setting\nKAFKA_TIMEOUT_MS=777\n");
        fclose(fp);
        setenv("EVENTS_CONFIG", path, 1);
        setenv("KAFKA_TIMEOUT_MS", "888", 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == 0, "EVENTS_CONFIG file loads");
        is_str(cfg.kafka_url, "file-broker:9092", "file sets KAFKA_URL");
        is_str(cfg.click_topic, "clicks", "export prefix and double quotes");
        is_str(cfg.dev_store, "/srv/store.jsonl", "spaces and single quotes");
        is_int(cfg.kafka_timeout_ms, 888, "the environment wins over the file");
        ok(has_prop(&cfg, "sasl.username=alice"), "RDKAFKA_ from the file becomes sasl.username");
        is_str(svc_config_get(&cfg, "KAFKA_TIMEOUT_MS"), "888", "svc_config_get: env first");
        ok(svc_config_get(&cfg, "NOT_SET_ANYWHERE") == NULL, "svc_config_get: unset is NULL");
        svc_config_close(&cfg);

        setenv("RDKAFKA_SASL_USERNAME", "bob", 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == 0 &&
               has_prop(&cfg, "sasl.username=bob"),
           "RDKAFKA_ from the environment is there too (applied after the file's)");
        svc_config_close(&cfg);
        unlink(path);

        /* A line too long to read whole is refused, not cut into two settings. */
        strcpy(path, "/tmp/svc-test-config-XXXXXX");
        fd = mkstemp(path);
        fp = fdopen(fd, "w");
        fputc('#', fp);
        for (int i = 0; i < 70000; i++)
                fputc('x', fp);
        fprintf(fp, "KAFKA_URL=attacker:9092\n");
        fclose(fp);
        setenv("EVENTS_CONFIG", path, 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == -1, "a 70,000-byte line is refused");
        ok(strstr(errstr, "line 1") != NULL, "and the error names the line");
        fp = fopen(path, "w");
        fprintf(fp, "CLICK_TOPIC=first\nCLICK_TOPIC=second\n");
        fclose(fp);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == 0, "a file setting a key twice loads");
        is_str(cfg.click_topic, "second", "the last line wins");
        svc_config_close(&cfg);

        /* At most 256 settings; one more is refused, never dropped. */
        static const struct {
                int settings;
                int ok;
        } counts[] = {{256, 1}, {257, 0}, {1000, 0}, {0, 0}};
        for (int i = 0; counts[i].settings; i++) {
                fp = fopen(path, "w");
                for (int n = 1; n <= counts[i].settings; n++)
                        fprintf(fp, "# setting %d\n\nSETTING_%d=%d\n", n, n, n);
                fclose(fp);
                int rc = svc_config_load(&cfg, errstr, sizeof(errstr));
                ok((rc == 0) == counts[i].ok, "a file of %d settings %s", counts[i].settings,
                   counts[i].ok ? "loads" : "is refused");
                if (rc == 0) {
                        is_str(svc_config_get(&cfg, "SETTING_256"), "256",
                               "the 256th setting is there");
                        svc_config_close(&cfg);
                } else {
                        ok(strstr(errstr, "EVENTS_CONFIG") && strstr(errstr, "256"),
                           "the error names EVENTS_CONFIG and the limit (%s)", errstr);
                }
        }
        unlink(path);
        unsetenv("EVENTS_CONFIG");
        setenv("INGEST_API_TOKEN", "", 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == -1 &&
               strstr(errstr, "INGEST_API_TOKEN"),
           "an empty INGEST_API_TOKEN is refused, not taken as no token");
        unsetenv("INGEST_API_TOKEN");
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == 0 &&
               !strcmp(cfg.ingest_allow, "127.0.0.1 ::1") &&
               svc_addrlist_has(&cfg.ingest_allow_list, "127.0.0.1") &&
               svc_addrlist_has(&cfg.ingest_allow_list, "::1") &&
               !svc_addrlist_has(&cfg.ingest_allow_list, "192.0.2.10"),
           "INGEST_ALLOW unset: loopback only");
        svc_config_close(&cfg);
        setenv("INGEST_ALLOW", "192.0.2.0/24", 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == 0 &&
               svc_addrlist_has(&cfg.ingest_allow_list, "192.0.2.10") &&
               !svc_addrlist_has(&cfg.ingest_allow_list, "127.0.0.1"),
           "INGEST_ALLOW=192.0.2.0/24: that network, not loopback");
        svc_config_close(&cfg);
        setenv("INGEST_ALLOW", "127.0.0.1 localhost", 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == -1 &&
               strstr(errstr, "INGEST_ALLOW: \"localhost\" is not an address"),
           "a malformed INGEST_ALLOW is refused, naming the entry (%s)", errstr);
        unsetenv("INGEST_ALLOW");
        setenv("KAFKA_URL", "kafka://kafka://", 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == -1,
           "KAFKA_URL naming no broker is refused");
        unsetenv("KAFKA_URL");

        setenv("EVENTS_CONFIG", "/nonexistent/events.conf", 1);
        ok(svc_config_load(&cfg, errstr, sizeof(errstr)) == -1, "a missing EVENTS_CONFIG fails");
        ok(strstr(errstr, "EVENTS_CONFIG") != NULL, "and says which setting");
        clear_env();
        return done_testing();
}
