/* fuzz_config.c - fuzzes reading the EVENTS_CONFIG file (KEY=value lines, '#'
 * comments, "export ", quotes) with an empty environment. The KEY=value list must
 * match an independent line reader, and every setting must come out well-formed.
 * -DFUZZ_CONFIG_STRICT also checks lines over 4 KiB and an empty KAFKA_URL after
 * "kafka://" is stripped, two known issues. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_check.h"

#define MAX_LINES 256 /* config.c refuses a file of more settings */
#define LINE_BUF 4096 /* and lines of at most this many bytes, newline included */

static char config_path[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)argc;
        (void)argv;
        const char *dir = getenv("TMPDIR");
        snprintf(config_path, sizeof(config_path), "%s/fuzz-config-%ld.env",
                 dir && *dir ? dir : "/tmp", (long)getpid());
        clearenv();
        setenv("EVENTS_CONFIG", config_path, 1);
        return 0;
}

static char *trim(char *s) {
        char *e;
        while (isspace((unsigned char)*s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

/* The KEY=value entries an independent reader finds, up to MAX_LINES. Returns the count,
 * or -1 when a physical line is too long for config.c's line buffer (then its reading
 * is not compared). */
static int expected_vars(const char *data, size_t size, char **out) {
        size_t pos = 0;
        int cnt = 0;

        while (pos < size && cnt < MAX_LINES) {
                const char *nl = memchr(data + pos, '\n', size - pos);
                size_t len = nl ? (size_t)(nl - data - pos) : size - pos;
                char *line, *s, *eq, *val;
                size_t vlen;
#ifndef FUZZ_CONFIG_STRICT /* see the report: longer lines are split by fgets */
                if (len + 1 >= LINE_BUF)
                        return -1;
#endif
                line = strndup(data + pos, len); /* stops at a NUL, as fgets' user does */
                FUZZ_CHECK(line);
                pos += len + 1;
                s = trim(line);
                if (!strncmp(s, "export ", 7))
                        s = trim(s + 7);
                if (!*s || *s == '#' || !(eq = strchr(s, '='))) {
                        free(line);
                        continue;
                }
                *eq = '\0';
                val = trim(eq + 1);
                vlen = strlen(val);
                if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') && val[vlen - 1] == val[0]) {
                        val[vlen - 1] = '\0';
                        val++;
                }
                FUZZ_CHECK(asprintf(&out[cnt], "%s=%s", trim(s), val) >= 0);
                cnt++;
                free(line);
        }
        return cnt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        svc_config_t cfg;
        char errstr[256] = "";
        char *want[MAX_LINES + 1] = {0};
        FILE *fp;
        int rc, n;
        long v;

        if (!config_path[0])
                return 0;
        FUZZ_CHECK((fp = fopen(config_path, "wb")));
        FUZZ_CHECK(fwrite(data, 1, size, fp) == size && fclose(fp) == 0);
        rc = svc_config_load(&cfg, errstr, sizeof(errstr));
        n = expected_vars((const char *)data, size, want);
        if (rc == 0) {
                int i = 0;
                FUZZ_CHECK(cfg.data_dir && cfg.conversion_topic && cfg.click_topic &&
                           cfg.collect_raw_topic && cfg.dev_store && cfg.error_log &&
                           cfg.sheets_api_base && cfg.docs_base && cfg.cors_origins);
                FUZZ_CHECK(cfg.kafka_timeout_ms >= 1 && cfg.kafka_timeout_ms <= 600000);
#ifdef FUZZ_CONFIG_STRICT /* see the report: "kafka://kafka://" leaves an empty broker list */
                FUZZ_CHECK(!cfg.kafka_url || cfg.kafka_url[0]);
#endif
                FUZZ_CHECK(cfg.dev_mode || cfg.kafka_url);
                for (char **p = cfg.file_vars; p && *p; p++, i++) {
                        FUZZ_CHECK(strchr(*p, '=') && !strchr(*p, '\n'));
                        if (n >= 0)
                                FUZZ_CHECK(i < n && strcmp(*p, want[i]) == 0);
                }
                if (n >= 0)
                        FUZZ_CHECK(i == n);
                for (char **p = cfg.rdkafka; p && *p; p++)
                        FUZZ_CHECK(strchr(*p, '=') != NULL);
                (void)svc_config_int(&cfg, "GOOGLE_PAGE_ROWS", 5000, 1, 100000, &v, errstr,
                                     sizeof(errstr));
                (void)svc_config_get(&cfg, "");
                svc_config_close(&cfg);
        } else {
                FUZZ_CHECK(errstr[0]);
                FUZZ_CHECK(cfg.file_vars == NULL && cfg.kafka_url == NULL);
        }
        for (int i = 0; i < MAX_LINES; i++)
                free(want[i]);
        unlink(config_path);
        return 0;
}
