/* tracking.c - header mapping, row checks, mapping table, event_id and event JSON. */
#include "tracking.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jbuf.h"

static const char *col_names[SVC_TRACKING_COL_CNT] = {
    "DATE", "REF_NUMBER", "IP", "USER_AGENT", "USER_FP", "URL", "SOURCE",
};

const char *svc_tracking_col_name(svc_tracking_col_t col) {
        return col < SVC_TRACKING_COL_CNT ? col_names[col] : "?";
}

int svc_tracking_map_header(const struct svc_field *fields, size_t field_cnt,
                            svc_tracking_header_t *hdr, char *errstr, size_t errstr_size) {
        int found[SVC_TRACKING_COL_CNT] = {0};
        char missing[160] = "";
        size_t n = 0;

        hdr->field_cnt = field_cnt;
        for (size_t i = 0; i < field_cnt; i++) {
                const char *p = fields[i].ptr;
                size_t len = fields[i].len;
                while (len && (*p == ' ' || *p == '\t')) {
                        p++;
                        len--;
                }
                while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                        len--;
                for (int c = 0; c < SVC_TRACKING_COL_CNT; c++) {
                        if (strlen(col_names[c]) != len || strncasecmp(p, col_names[c], len))
                                continue;
                        if (found[c]) {
                                snprintf(errstr, errstr_size, "the header names column %s twice",
                                         col_names[c]);
                                return -1;
                        }
                        found[c] = 1;
                        hdr->idx[c] = i;
                }
        }
        for (int c = 0; c < SVC_TRACKING_COL_CNT; c++) {
                if (found[c])
                        continue;
                n++;
                if (missing[0])
                        strncat(missing, ", ", sizeof(missing) - strlen(missing) - 1);
                strncat(missing, col_names[c], sizeof(missing) - strlen(missing) - 1);
        }
        if (n == 0)
                return 0;
        snprintf(errstr, errstr_size,
                 "the CSV header lacks the required column%s %s (required: DATE, "
                 "REF_NUMBER, IP, USER_AGENT, USER_FP, URL, SOURCE)",
                 n > 1 ? "s" : "", missing);
        return -1;
}

int svc_tracking_is_date(const char *s, size_t len) {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y, m, d, dim;

        if (len != 10 || s[4] != '-' || s[7] != '-')
                return 0;
        for (int i = 0; i < 10; i++)
                if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
                        return 0;
        y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        m = (s[5] - '0') * 10 + (s[6] - '0');
        d = (s[8] - '0') * 10 + (s[9] - '0');
        if (y < 1 || m < 1 || m > 12 || d < 1)
                return 0;
        dim = mdays[m - 1];
        if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
                dim = 29;
        return d <= dim;
}

static int is_ip(const char *s, size_t len) {
        char buf[INET6_ADDRSTRLEN + 1];
        unsigned char addr[sizeof(struct in6_addr)];

        if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
                return 0;
        memcpy(buf, s, len);
        buf[len] = '\0';
        return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* http:// or https:// (any case), a non-empty host, no spaces or control characters. */
static int is_http_url(const char *s, size_t len) {
        size_t skip;

        if (len >= 7 && strncasecmp(s, "http://", 7) == 0)
                skip = 7;
        else if (len >= 8 && strncasecmp(s, "https://", 8) == 0)
                skip = 8;
        else
                return 0;
        if (skip == len || s[skip] == '/' || s[skip] == '?' || s[skip] == '#')
                return 0;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
                        return 0;
        return 1;
}

static int field_is(const struct svc_field *f, const char *s) {
        return f->len == strlen(s) && memcmp(f->ptr, s, f->len) == 0;
}

/* Copies the row's seven values, in column order, from the record's fields. */
static int pick_columns(const svc_tracking_header_t *hdr, const struct svc_field *fields,
                        size_t field_cnt, svc_tracking_row_t *row, const char **field, char *errstr,
                        size_t errstr_size) {
        for (int c = 0; c < SVC_TRACKING_COL_CNT; c++) {
                if (hdr->idx[c] >= field_cnt) {
                        *field = col_names[c];
                        snprintf(errstr, errstr_size,
                                 "the row has %zu fields but the header has %zu, so %s is "
                                 "missing",
                                 field_cnt, hdr->field_cnt, col_names[c]);
                        return -1;
                }
                row->v[c] = fields[hdr->idx[c]];
        }
        return 0;
}

/* Checks every value but DATE and SOURCE. */
static int check_values(const struct svc_field *v, const char **field, char *errstr,
                        size_t errstr_size) {
        for (int c = 0; c < SVC_TRACKING_COL_CNT; c++) {
                if (!svc_jbuf_utf8_valid(v[c].ptr, v[c].len) || memchr(v[c].ptr, '\0', v[c].len)) {
                        *field = col_names[c];
                        snprintf(errstr, errstr_size,
                                 "%s is not valid UTF-8 text (or holds a NUL byte)", col_names[c]);
                        return -1;
                }
        }
        *field = col_names[SVC_TRACKING_REF_NUMBER];
        if (v[SVC_TRACKING_REF_NUMBER].len == 0) {
                snprintf(errstr, errstr_size, "REF_NUMBER must not be empty");
                return -1;
        }
        *field = col_names[SVC_TRACKING_IP];
        if (!is_ip(v[SVC_TRACKING_IP].ptr, v[SVC_TRACKING_IP].len)) {
                snprintf(errstr, errstr_size, "IP must be an IPv4 or IPv6 address");
                return -1;
        }
        *field = col_names[SVC_TRACKING_USER_FP];
        if (v[SVC_TRACKING_USER_FP].len == 0) {
                snprintf(errstr, errstr_size, "USER_FP must not be empty");
                return -1;
        }
        *field = col_names[SVC_TRACKING_URL];
        if (!is_http_url(v[SVC_TRACKING_URL].ptr, v[SVC_TRACKING_URL].len)) {
                snprintf(errstr, errstr_size,
                         "URL must be an http:// or https:// URL with a host and no spaces");
                return -1;
        }
        return 0;
}

/* Maps SOURCE (and a, for COOKIE rows) to the event type. */
static int map_source(svc_tracking_row_t *row, int a, const char **field, char *errstr,
                      size_t errstr_size) {
        static const char *conversion_types[] = {NULL, "VIEW", "APPLY_START", "APPLY"};
        const struct svc_field *source = &row->v[SVC_TRACKING_SOURCE];

        *field = col_names[SVC_TRACKING_SOURCE];
        if (field_is(source, "LINK_TRACKING")) {
                row->is_click = 1;
                row->a = 0;
                row->event_type = "CLICK";
                row->conversion_type = NULL;
                return 0;
        }
        if (!field_is(source, "COOKIE")) {
                snprintf(errstr, errstr_size, "SOURCE must be COOKIE or LINK_TRACKING");
                return -1;
        }
        if (a < 1 || a > 3) {
                *field = "query_param_a";
                snprintf(errstr, errstr_size,
                         "a COOKIE row needs query_param_a (1, 2 or 3) in the request");
                return -1;
        }
        row->is_click = 0;
        row->a = a;
        row->event_type = "CONVERSION";
        row->conversion_type = conversion_types[a];
        return 0;
}

svc_tracking_check_t svc_tracking_check_row(const svc_tracking_header_t *hdr,
                                            const struct svc_field *fields, size_t field_cnt, int a,
                                            const char *date_filter, svc_tracking_row_t *row,
                                            const char **field, char *errstr, size_t errstr_size) {
        const struct svc_field *date = &row->v[SVC_TRACKING_DATE];

        if (pick_columns(hdr, fields, field_cnt, row, field, errstr, errstr_size) == -1)
                return SVC_TRACKING_INVALID;
        *field = col_names[SVC_TRACKING_DATE];
        if (!svc_tracking_is_date(date->ptr, date->len)) {
                snprintf(errstr, errstr_size, "DATE must be a calendar date as YYYY-MM-DD");
                return SVC_TRACKING_INVALID;
        }
        /* A row of another day is skipped whatever else is wrong with it. */
        if (date_filter && !field_is(date, date_filter))
                return SVC_TRACKING_SKIPPED;
        if (check_values(row->v, field, errstr, errstr_size) == -1 ||
            map_source(row, a, field, errstr, errstr_size) == -1)
                return SVC_TRACKING_INVALID;
        *field = NULL;
        return SVC_TRACKING_VALID;
}

/* SHA-256 fetched once, and one digest context per thread: EVP_sha256() is looked up in
 * the provider store (a lock and a search) at every EVP_DigestInit_ex, and a context is
 * allocated and set up for every digest; both cost more than hashing the row. */
static EVP_MD *sha256_md;
static pthread_key_t sha256_key; /* the thread's EVP_MD_CTX */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_ctx_free(void *ctx) {
        EVP_MD_CTX_free(ctx);
}

static void sha256_init(void) {
        if (pthread_key_create(&sha256_key, sha256_ctx_free) == 0)
                sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The thread's context, or NULL when out of memory. */
static EVP_MD_CTX *sha256_ctx(void) {
        EVP_MD_CTX *ctx;

        if (pthread_once(&sha256_once, sha256_init) || !sha256_md)
                return NULL;
        if ((ctx = pthread_getspecific(sha256_key)))
                return ctx;
        if ((ctx = EVP_MD_CTX_new()) && pthread_setspecific(sha256_key, ctx)) {
                EVP_MD_CTX_free(ctx);
                ctx = NULL;
        }
        return ctx;
}

/* Appends len as 8 bytes, big-endian, then the len bytes at p. Returns the new end. */
static unsigned char *digest_part(unsigned char *out, const void *p, size_t len) {
        uint64_t n = len;
        for (int i = 7; i >= 0; i--, n >>= 8)
                out[i] = (unsigned char)(n & 0xff);
        if (len)
                memcpy(out + 8, p, len);
        return out + 8 + len;
}

/* The parts are laid end to end and hashed in one call (the same bytes as one update per
 * part, at a fraction of the calls). */
int svc_tracking_event_id(const svc_tracking_row_t *row, char hex[65]) {
        static const char digits[] = "0123456789abcdef";
        /* The version tag lets a later scheme never collide with this one. */
        static const char tag[] = "svc-tracking-event-v1";
        unsigned char dig[EVP_MAX_MD_SIZE], local[2048], *in = local, *end;
        unsigned int dig_len = 0;
        char a = (char)('0' + row->a);
        EVP_MD_CTX *md;
        size_t need = 8 + sizeof(tag) - 1 + (row->is_click ? 0 : 8 + 1);
        int ok;

        for (int c = 0; c < SVC_TRACKING_COL_CNT; c++)
                need += 8 + row->v[c].len;
        if (need > sizeof(local) && !(in = malloc(need)))
                return -1;
        end = digest_part(in, tag, sizeof(tag) - 1);
        for (int c = 0; c < SVC_TRACKING_COL_CNT; c++)
                end = digest_part(end, row->v[c].ptr, row->v[c].len);
        if (!row->is_click)
                end = digest_part(end, &a, 1);
        ok = (md = sha256_ctx()) && EVP_DigestInit_ex(md, sha256_md, NULL) == 1 &&
             EVP_DigestUpdate(md, in, (size_t)(end - in)) == 1 &&
             EVP_DigestFinal_ex(md, dig, &dig_len) == 1 && dig_len == 32;
        if (in != local)
                free(in);
        if (!ok)
                return -1;
        for (unsigned i = 0; i < 32; i++) {
                hex[2 * i] = digits[dig[i] >> 4];
                hex[2 * i + 1] = digits[dig[i] & 15];
        }
        hex[64] = '\0';
        return 0;
}

/* A member's name as the event JSON writes it, with the comma before it and the colon
 * after: one copy per member, its length known when compiled. */
struct member_name {
        const char *text;
        size_t len;
};
#define MEMBER_NAME(name)                                                                          \
        { ",\"" name "\":", sizeof(name) + 3 }

static void buf_member(svc_jbuf_t *buf, const struct member_name *name, const char *s, size_t len) {
        svc_jbuf_put(buf, name->text, name->len);
        if (s)
                svc_jbuf_str(buf, s, len);
        else
                SVC_JBUF_LIT(buf, "null");
}

static void buf_cmember(svc_jbuf_t *buf, const struct member_name *name, const char *s) {
        buf_member(buf, name, s, s ? strlen(s) : 0);
}

int svc_tracking_event_json(const svc_tracking_row_t *row, const char *reason,
                            const char *ingested_at, const char *request_id, svc_jbuf_t *buf) {
        static const struct member_name cols[SVC_TRACKING_COL_CNT] = {
            MEMBER_NAME("date"),       MEMBER_NAME("ref_number"), MEMBER_NAME("ip"),
            MEMBER_NAME("user_agent"), MEMBER_NAME("user_fp"),    MEMBER_NAME("url"),
            MEMBER_NAME("source"),
        };
        static const struct member_name event_type = MEMBER_NAME("event_type"),
                                        conversion_type = MEMBER_NAME("conversion_type"),
                                        reason_name = MEMBER_NAME("reason"),
                                        ingested_at_name = MEMBER_NAME("ingested_at"),
                                        request_id_name = MEMBER_NAME("request_id");
        char id[65];

        if (svc_tracking_event_id(row, id))
                return -1;
        svc_jbuf_reset(buf);
        SVC_JBUF_LIT(buf, "{\"event_id\":");
        svc_jbuf_str(buf, id, 64);
        buf_cmember(buf, &event_type, row->event_type);
        buf_cmember(buf, &conversion_type, row->conversion_type);
        for (int c = 0; c < SVC_TRACKING_COL_CNT; c++)
                buf_member(buf, &cols[c], row->v[c].ptr, row->v[c].len);
        buf_cmember(buf, &reason_name, reason);
        buf_cmember(buf, &ingested_at_name, ingested_at);
        buf_cmember(buf, &request_id_name, request_id);
        SVC_JBUF_LIT(buf, "}");
        return buf->err ? -1 : 0;
}
