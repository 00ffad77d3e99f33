/* fuzz_config.c - fuzzes reading the EVENTS_CONFIG file (KEY=value lines, '#'
 * comments, "export ", quotes) with an empty environment. An independent reading of the
 * format decides what the file holds: the settings config.c keeps must be exactly those,
 * in order, and a file the format refuses (a line over 64 KiB, a NUL byte, more than 256
 * settings) must not load. Every setting must also come out well-formed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_check.h"

#define MAX_SETTINGS 256     /* a file with more settings is refused */
#define MAX_LINE (64 * 1024) /* and so is a line longer than this, newline included */
#define WHITE " \t\n\v\f\r"  /* what counts as blank around keys and values */

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

/* A span of the input: the oracle works on offsets and never writes to the data. */
struct span {
        const char *p;
        size_t len;
};

static int is_white(char c) {
        return c != '\0' && strchr(WHITE, c) != NULL;
}

static struct span strip(struct span s) {
        while (s.len && is_white(s.p[0]))
                s.p++, s.len--;
        while (s.len && is_white(s.p[s.len - 1]))
                s.len--;
        return s;
}

/* The setting one line makes, or 0 when it makes none (blank, comment, no '='). */
static int line_setting(struct span line, char **out) {
        struct span key, val;
        const char *eq;

        line = strip(line);
        if (line.len >= 7 && !memcmp(line.p, "export ", 7))
                line = strip((struct span){line.p + 7, line.len - 7});
        if (!line.len || line.p[0] == '#' || !(eq = memchr(line.p, '=', line.len)))
                return 0;
        key = strip((struct span){line.p, (size_t)(eq - line.p)});
        val = strip((struct span){eq + 1, line.len - (size_t)(eq + 1 - line.p)});
        if (val.len >= 2 && (val.p[0] == '"' || val.p[0] == '\'') && val.p[val.len - 1] == val.p[0])
                val = (struct span){val.p + 1, val.len - 2};
        FUZZ_CHECK(asprintf(out, "%.*s=%.*s", (int)key.len, key.p, (int)val.len, val.p) >= 0);
        return 1;
}

/* What the file holds by the format: the settings in out (up to MAX_SETTINGS), and the
 * count, or -1 when the file must be refused. */
static int expected_vars(const char *data, size_t size, char **out) {
        size_t pos = 0;
        int cnt = 0;

        while (pos < size) {
                const char *nl = memchr(data + pos, '\n', size - pos);
                size_t len = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
                char *setting;

                if (len > MAX_LINE || memchr(data + pos, '\0', len))
                        return -1;
                if (line_setting((struct span){data + pos, len}, &setting)) {
                        if (cnt == MAX_SETTINGS) {
                                free(setting);
                                return -1;
                        }
                        out[cnt++] = setting;
                }
                pos += len;
        }
        return cnt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        svc_config_t cfg;
        char errstr[256] = "";
        char *want[MAX_SETTINGS + 1] = {0};
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
                FUZZ_CHECK(n >= 0); /* a file the format refuses does not load */
                FUZZ_CHECK(!cfg.kafka_url || cfg.kafka_url[strspn(cfg.kafka_url, ", ")]);
                FUZZ_CHECK(cfg.dev_mode || cfg.kafka_url);
                for (char **p = cfg.file_vars; p && *p; p++, i++) {
                        FUZZ_CHECK(strchr(*p, '=') && !strchr(*p, '\n'));
                        FUZZ_CHECK(i < n && strcmp(*p, want[i]) == 0);
                }
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
        for (int i = 0; i < MAX_SETTINGS; i++)
                free(want[i]);
        unlink(config_path);
        return 0;
}
