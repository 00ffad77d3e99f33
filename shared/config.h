/* config.h - service settings from the environment and an optional EVENTS_CONFIG file. */
#ifndef SVC_CONFIG_H
#define SVC_CONFIG_H
#include <stddef.h>

#include "addrlist.h"

/* Every setting of docs/configuration.md; strings are owned by the struct. */
typedef struct svc_config {
        char *kafka_url;  /* bootstrap servers, "kafka://" stripped; NULL if unset */
        int dev_mode;     /* FORCE_DEV_MODE=true or no KAFKA_URL */
        char *google_key; /* GOOGLE_SERVICE_ACCOUNT_KEY: JSON or a path; may be NULL */
        char *data_dir;   /* INGEST_DATA_DIR */
        char *conversion_topic;
        char *click_topic;
        char *collect_raw_topic;
        char *collect_out_topic;
        char *collect_dlq_topic;
        int kafka_timeout_ms;      /* KAFKA_TIMEOUT_MS */
        long kafka_batch_max;      /* KAFKA_MESSAGE_MAX_BYTES: the cluster's batch limit */
        char *dev_store;           /* DEV_STORE */
        char *error_log;           /* ERROR_LOG */
        char *sheets_api_base;     /* GOOGLE_SHEETS_API_BASE */
        char *docs_base;           /* GOOGLE_DOCS_BASE */
        char *ingest_api_token;    /* INGEST_API_TOKEN; NULL if unset */
        char *cors_origins;        /* COLLECT_CORS_ORIGINS */
        char *spool_dir;           /* SPOOL_DIR; NULL when "off" */
        long long spool_max_bytes; /* SPOOL_MAX_BYTES */
        char *metrics_dir;         /* METRICS_DIR; NULL when "off" */

        /* INGEST_ALLOW: who may use the ingest endpoints without INGEST_API_TOKEN */
        char *ingest_allow;               /* as written */
        svc_addrlist_t ingest_allow_list; /* parsed */
        char **rdkafka;   /* "key=value" librdkafka properties from RDKAFKA_*, NULL-terminated */
        char **file_vars; /* "KEY=value" lines of EVENTS_CONFIG, NULL-terminated */
} svc_config_t;

/**
 * @brief Loads the settings: defaults, then the EVENTS_CONFIG file (KEY=value lines,
 *        '#' comments), then the environment, which wins.
 * @returns 0 on success, -1 with a reason in errstr (unreadable file, more than 256
 *          settings in it, out of memory, bad number).
 *          On failure cfg is left empty and needs no svc_config_close().
 */
int svc_config_load(svc_config_t *cfg, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Looks up one setting by its variable name, environment first, then the
 *        EVENTS_CONFIG file. For settings a module reads on its own (e.g. consumer tuning).
 * @returns a borrowed string valid until svc_config_close(), or NULL if unset.
 */
const char *svc_config_get(const svc_config_t *cfg, const char *name);

/** @brief Frees what svc_config_load() allocated. */
void svc_config_close(svc_config_t *cfg);

/**
 * @brief Parses a decimal integer setting of `name` within [min, max].
 * @returns def when unset, -1 with errstr when malformed or out of range.
 */
int svc_config_int(const svc_config_t *cfg, const char *name, long def, long min, long max,
                   long *out, char *errstr, size_t errstr_size);
#endif
