/* config.c - service settings: defaults < EVENTS_CONFIG file < environment. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define CONFIG_MAX_SETTINGS 256
#define CONFIG_MAX_LINE (64 * 1024) /* a one-line service-account key fits */

/* The last line that sets `name` wins, as in a shell. */
static const char *file_get(char *const *vars, const char *name) {
        size_t n = strlen(name);
        const char *found = NULL;
        for (; vars && *vars; vars++)
                if (!strncmp(*vars, name, n) && (*vars)[n] == '=')
                        found = *vars + n + 1;
        return found;
}

const char *svc_config_get(const svc_config_t *cfg, const char *name) {
        const char *v = getenv(name);
        return v ? v : file_get(cfg->file_vars, name);
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

/* Reads KEY=value lines; quotes around the value are removed. */
static int load_file(svc_config_t *cfg, const char *path, char *errstr, size_t errstr_size) {
        FILE *fp = fopen(path, "r");
        char *line = NULL;
        size_t line_size = 0, cnt = 0;
        long lineno = 0;
        ssize_t n;
        int ret = 0;

        if (!fp) {
                snprintf(errstr, errstr_size, "EVENTS_CONFIG %s: %s", path, strerror(errno));
                return -1;
        }
        if (!(cfg->file_vars = calloc(CONFIG_MAX_SETTINGS + 1, sizeof(char *)))) {
                snprintf(errstr, errstr_size, "EVENTS_CONFIG %s: out of memory", path);
                ret = -1;
        }
        /* Every setting is kept or the file is refused: a dropped one would leave its
         * default in force without a word. */
        while (ret == 0 && (n = getline(&line, &line_size, fp)) != -1) {
                char *s, *eq, *val, *setting;
                size_t vlen;

                lineno++;
                /* Never cut a line in two: its tail would read as a setting of its own. */
                if (n > CONFIG_MAX_LINE || memchr(line, '\0', (size_t)n)) {
                        snprintf(errstr, errstr_size,
                                 "EVENTS_CONFIG line %ld is longer than %d bytes or not text",
                                 lineno, CONFIG_MAX_LINE);
                        ret = -1;
                        break;
                }
                s = trim(line);
                if (!strncmp(s, "export ", 7))
                        s = trim(s + 7);
                if (!*s || *s == '#' || !(eq = strchr(s, '=')))
                        continue;
                *eq = '\0';
                val = trim(eq + 1);
                vlen = strlen(val);
                if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') && val[vlen - 1] == val[0]) {
                        val[vlen - 1] = '\0';
                        val++;
                }
                if (cnt == CONFIG_MAX_SETTINGS) {
                        snprintf(errstr, errstr_size,
                                 "EVENTS_CONFIG line %ld: more than %d settings, the most "
                                 "one file may hold",
                                 lineno, CONFIG_MAX_SETTINGS);
                        ret = -1;
                        break;
                }
                if (asprintf(&setting, "%s=%s", trim(s), val) < 0) {
                        snprintf(errstr, errstr_size, "EVENTS_CONFIG line %ld: out of memory",
                                 lineno);
                        ret = -1;
                        break;
                }
                cfg->file_vars[cnt++] = setting;
        }
        if (ret == 0 && !feof(fp)) {
                snprintf(errstr, errstr_size, "EVENTS_CONFIG %s: %s", path, strerror(errno));
                ret = -1;
        }
        free(line);
        fclose(fp);
        return ret;
}

static char *dup_setting(const svc_config_t *cfg, const char *name, const char *def) {
        const char *v = svc_config_get(cfg, name);
        if (!v || !*v)
                v = def;
        return v ? strdup(v) : NULL;
}

int svc_config_int(const svc_config_t *cfg, const char *name, long def, long min, long max,
                   long *out, char *errstr, size_t errstr_size) {
        const char *v = svc_config_get(cfg, name);
        char *end;
        long n;

        if (!v || !*v) {
                *out = def;
                return 0;
        }
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || *end || n < min || n > max) {
                snprintf(errstr, errstr_size, "%s must be an integer from %ld to %ld", name, min,
                         max);
                return -1;
        }
        *out = n;
        return 0;
}

/* RDKAFKA_SECURITY_PROTOCOL=SASL_SSL becomes security.protocol=SASL_SSL. */
static char *rdkafka_prop(const char *var) {
        char *prop = strdup(var + strlen("RDKAFKA_")), *p;
        if (!prop)
                return NULL;
        for (p = prop; *p && *p != '='; p++)
                *p = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        return prop;
}

static int collect_rdkafka(svc_config_t *cfg) {
        char **sources[2] = {cfg->file_vars, environ};
        size_t cnt = 0, cap = 8;

        cfg->rdkafka = calloc(cap + 1, sizeof(char *));
        if (!cfg->rdkafka)
                return -1;
        for (int s = 0; s < 2; s++) {
                for (char **v = sources[s]; v && *v; v++) {
                        if (strncmp(*v, "RDKAFKA_", 8) || !strchr(*v, '='))
                                continue;
                        if (cnt == cap) {
                                char **n = realloc(cfg->rdkafka, (cap * 2 + 1) * sizeof(char *));
                                if (!n)
                                        return -1;
                                cfg->rdkafka = n;
                                cap *= 2;
                        }
                        /* Later entries (the environment) override earlier ones in librdkafka. */
                        if (!(cfg->rdkafka[cnt++] = rdkafka_prop(*v)))
                                return -1;
                        cfg->rdkafka[cnt] = NULL;
                }
        }
        return 0;
}

/* KAFKA_URL without its "kafka://" prefixes; NULL when unset. Returns 0, or -1 when it
 * is set but names no broker: an error, never a silent switch to dev mode. */
static int load_kafka_url(svc_config_t *cfg, char *errstr, size_t errstr_size) {
        const char *url = svc_config_get(cfg, "KAFKA_URL"), *force;
        char *s;

        if (url && !strncmp(url, "kafka://", 8))
                url += 8;
        cfg->kafka_url = url && *url ? strdup(url) : NULL;
        /* "kafka://h1:9092,kafka://h2:9092" is accepted too. */
        while (cfg->kafka_url && (s = strstr(cfg->kafka_url, "kafka://")))
                memmove(s, s + 8, strlen(s + 8) + 1);
        if (cfg->kafka_url && !cfg->kafka_url[strspn(cfg->kafka_url, ", ")]) {
                snprintf(errstr, errstr_size, "KAFKA_URL names no broker");
                return -1;
        }
        force = svc_config_get(cfg, "FORCE_DEV_MODE");
        cfg->dev_mode =
            !cfg->kafka_url || (force && (!strcasecmp(force, "true") || !strcmp(force, "1")));
        return 0;
}

/* The numbers, each within its bounds. Returns 0, or -1 with errstr. */
static int load_numbers(svc_config_t *cfg, char *errstr, size_t errstr_size) {
        long timeout, max_bytes, message_max;

        if (svc_config_int(cfg, "SPOOL_MAX_BYTES", 1073741824L, 1, LONG_MAX, &max_bytes, errstr,
                           errstr_size) == -1 ||
            svc_config_int(cfg, "KAFKA_TIMEOUT_MS", 5000, 1, 600000, &timeout, errstr,
                           errstr_size) == -1 ||
            /* by default Kafka's own default message.max.bytes */
            svc_config_int(cfg, "KAFKA_MESSAGE_MAX_BYTES", 1048588, 4096, INT_MAX, &message_max,
                           errstr, errstr_size) == -1)
                return -1;
        cfg->spool_max_bytes = max_bytes;
        cfg->kafka_timeout_ms = (int)timeout;
        cfg->kafka_batch_max = message_max;
        return 0;
}

int svc_config_load(svc_config_t *cfg, char *errstr, size_t errstr_size) {
        const char *path = getenv("EVENTS_CONFIG");
        const char *tok;
        char why[192];

        memset(cfg, 0, sizeof(*cfg));
        if (path && *path && load_file(cfg, path, errstr, errstr_size) == -1)
                goto fail;
        if (load_kafka_url(cfg, errstr, errstr_size) == -1)
                goto fail;
        cfg->google_key = dup_setting(cfg, "GOOGLE_SERVICE_ACCOUNT_KEY", NULL);
        cfg->data_dir = dup_setting(cfg, "INGEST_DATA_DIR", "./data");
        cfg->conversion_topic = dup_setting(cfg, "CONVERSION_TOPIC",
                                            "trk-jobcloud-conversion-destination-events-topic");
        cfg->click_topic =
            dup_setting(cfg, "CLICK_TOPIC", "trk-jobcloud-click-destination-events-topic");
        cfg->collect_raw_topic = dup_setting(cfg, "COLLECT_RAW_TOPIC", "collect-topic1");
        cfg->collect_out_topic = dup_setting(cfg, "COLLECT_OUT_TOPIC", "collect-topic2");
        cfg->collect_dlq_topic = dup_setting(cfg, "COLLECT_DLQ_TOPIC", "collect-dlq");
        cfg->dev_store = dup_setting(cfg, "DEV_STORE", "./var/dev-events.jsonl");
        cfg->error_log = dup_setting(cfg, "ERROR_LOG", "./var/errors.jsonl");
        cfg->sheets_api_base =
            dup_setting(cfg, "GOOGLE_SHEETS_API_BASE", "https://sheets.googleapis.com");
        cfg->docs_base = dup_setting(cfg, "GOOGLE_DOCS_BASE", "https://docs.google.com");
        cfg->ingest_api_token = dup_setting(cfg, "INGEST_API_TOKEN", NULL);
        if ((tok = svc_config_get(cfg, "INGEST_API_TOKEN")) && !*tok) {
                /* set but empty: never a silent way to switch the check off */
                snprintf(errstr, errstr_size,
                         "INGEST_API_TOKEN is set but empty (unset it to turn "
                         "the token check off)");
                goto fail;
        }
        cfg->ingest_allow = dup_setting(cfg, "INGEST_ALLOW", SVC_ADDRLIST_LOOPBACK);
        if (cfg->ingest_allow && svc_addrlist_parse(&cfg->ingest_allow_list, cfg->ingest_allow, why,
                                                    sizeof(why)) == -1) {
                snprintf(errstr, errstr_size, "INGEST_ALLOW: %s", why);
                goto fail;
        }
        cfg->cors_origins = dup_setting(cfg, "COLLECT_CORS_ORIGINS", "*");
        cfg->spool_dir = dup_setting(cfg, "SPOOL_DIR", "./var/spool");
        cfg->metrics_dir = dup_setting(cfg, "METRICS_DIR", "./var/metrics");
        if (load_numbers(cfg, errstr, errstr_size) == -1)
                goto fail;

        if (!cfg->data_dir || !cfg->conversion_topic || !cfg->click_topic ||
            !cfg->collect_raw_topic || !cfg->collect_out_topic || !cfg->collect_dlq_topic ||
            !cfg->dev_store || !cfg->error_log || !cfg->sheets_api_base || !cfg->docs_base ||
            !cfg->cors_origins || !cfg->spool_dir || !cfg->metrics_dir || !cfg->ingest_allow ||
            collect_rdkafka(cfg) == -1) {
                snprintf(errstr, errstr_size, "out of memory loading configuration");
                goto fail;
        }
        /* "off" turns a directory setting off (the Vercel adapter has no disk to keep). */
        if (!strcmp(cfg->spool_dir, "off"))
                free(cfg->spool_dir), cfg->spool_dir = NULL;
        if (!strcmp(cfg->metrics_dir, "off"))
                free(cfg->metrics_dir), cfg->metrics_dir = NULL;
        return 0;
fail:
        svc_config_close(cfg);
        return -1;
}

static void free_list(char **list) {
        for (char **p = list; p && *p; p++)
                free(*p);
        free(list);
}

void svc_config_close(svc_config_t *cfg) {
        free(cfg->kafka_url);
        free(cfg->google_key);
        free(cfg->data_dir);
        free(cfg->conversion_topic);
        free(cfg->click_topic);
        free(cfg->collect_raw_topic);
        free(cfg->collect_out_topic);
        free(cfg->collect_dlq_topic);
        free(cfg->dev_store);
        free(cfg->error_log);
        free(cfg->sheets_api_base);
        free(cfg->docs_base);
        free(cfg->ingest_api_token);
        free(cfg->ingest_allow);
        free(cfg->cors_origins);
        free(cfg->spool_dir);
        free(cfg->metrics_dir);
        free_list(cfg->rdkafka);
        free_list(cfg->file_vars);
        memset(cfg, 0, sizeof(*cfg));
}
