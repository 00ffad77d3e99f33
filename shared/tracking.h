/* tracking.h - tracking rows of /api/ingest: the header by name, row checks, the
 * SOURCE x a mapping to CLICK/CONVERSION events, the deterministic event_id and the
 * event record (docs/api.md, "POST /api/ingest"). */
#ifndef SVC_TRACKING_H
#define SVC_TRACKING_H
#include <stddef.h>

#include "jbuf.h"
#include "rows.h"

/* The required columns, in their documented order (the order event_id hashes them in). */
typedef enum {
        SVC_TRACKING_DATE,
        SVC_TRACKING_REF_NUMBER,
        SVC_TRACKING_IP,
        SVC_TRACKING_USER_AGENT,
        SVC_TRACKING_USER_FP,
        SVC_TRACKING_URL,
        SVC_TRACKING_SOURCE,
        SVC_TRACKING_COL_CNT
} svc_tracking_col_t;

/* Where each required column is in the file. */
typedef struct svc_tracking_header {
        size_t idx[SVC_TRACKING_COL_CNT]; /* field index of each column */
        size_t field_cnt;                 /* fields in the header record */
} svc_tracking_header_t;

/* A valid row: the values (pointing into the record) and what they map to. */
typedef struct svc_tracking_row {
        struct svc_field v[SVC_TRACKING_COL_CNT];
        int is_click;                /* LINK_TRACKING: CLICK_TOPIC; else CONVERSION_TOPIC */
        int a;                       /* query_param_a used for the mapping, 0 for CLICK */
        const char *event_type;      /* "CLICK" or "CONVERSION" */
        const char *conversion_type; /* "APPLY", "APPLY_START", "VIEW", or NULL for CLICK */
} svc_tracking_row_t;

typedef enum {
        SVC_TRACKING_VALID = 0,
        SVC_TRACKING_SKIPPED, /* a valid DATE other than the date filter */
        SVC_TRACKING_INVALID, /* *field and errstr say why */
} svc_tracking_check_t;

/** @brief Name of a column ("DATE", ...). */
const char *svc_tracking_col_name(svc_tracking_col_t col);

/**
 * @brief Finds the required columns in a header record: by name, in any order,
 *        case-insensitive, surrounding spaces ignored; other columns are ignored.
 * @returns 0, or -1 with errstr naming every missing column (or a duplicated one).
 */
int svc_tracking_map_header(const struct svc_field *fields, size_t field_cnt,
                            svc_tracking_header_t *hdr, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Checks a data record. DATE first: invalid is an error, a valid date other than
 *        date_filter (may be NULL) is SKIPPED whatever else is wrong. Then REF_NUMBER
 *        and USER_FP non-empty, IP v4/v6, URL http(s)://host, SOURCE COOKIE or
 *        LINK_TRACKING, every value UTF-8, and a (1..3, or 0 when the request had none)
 *        required for COOKIE rows.
 * @returns VALID with *row filled, SKIPPED, or INVALID with *field (a column name or
 *          "query_param_a") and the reason in errstr.
 */
svc_tracking_check_t svc_tracking_check_row(const svc_tracking_header_t *hdr,
                                            const struct svc_field *fields, size_t field_cnt, int a,
                                            const char *date_filter, svc_tracking_row_t *row,
                                            const char **field, char *errstr, size_t errstr_size);

/** @brief 1 when s (len bytes) is a real calendar date written YYYY-MM-DD. */
int svc_tracking_is_date(const char *s, size_t len);

/**
 * @brief The event_id: hex SHA-256 (OpenSSL EVP) over the seven values in column order,
 *        each length-prefixed, and for COOKIE rows `a`. hex must hold 65 bytes.
 * @returns 0, or -1 when the digest failed.
 */
int svc_tracking_event_id(const svc_tracking_row_t *row, char hex[65]);

/**
 * @brief Renders the event record JSON into buf (replacing its content):
 *        {"event_id","event_type","conversion_type","date","ref_number","ip",
 *        "user_agent","user_fp","url","source","reason","ingested_at","request_id"}.
 *        reason and request_id may be NULL (then null). Strings are escaped by
 *        svc_jbuf_str(); the values are valid UTF-8 (svc_tracking_check_row()).
 * @returns 0, or -1 when out of memory or the digest failed.
 */
int svc_tracking_event_json(const svc_tracking_row_t *row, const char *reason,
                            const char *ingested_at, const char *request_id, svc_jbuf_t *buf)
    __attribute__((warn_unused_result));
#endif
