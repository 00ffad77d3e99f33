/* test_tracking.c - header mapping, row checks, mapping table, event_id, event JSON. */
#include <jansson.h>
#include <stdlib.h>

#include "tap.h"
#include "tracking.h"

/* Splits s at commas into fields (no quoting: the CSV reader is tested elsewhere). */
static size_t split(const char *s, struct svc_field *f, size_t cap) {
        size_t n = 0;
        const char *p = s;
        for (;;) {
                const char *c = strchr(p, ',');
                if (n == cap)
                        break;
                f[n].ptr = p;
                f[n].len = c ? (size_t)(c - p) : strlen(p);
                n++;
                if (!c)
                        break;
                p = c + 1;
        }
        return n;
}

static void test_dates(void) {
        static const struct {
                const char *in;
                int want;
        } t[] = {
            {"2025-10-22", 1}, {"2024-02-29", 1},  {"2000-02-29", 1}, {"1900-02-29", 0},
            {"2025-02-29", 0}, {"2025-04-31", 0},  {"2025-12-31", 1}, {"2025-13-01", 0},
            {"2025-00-10", 0}, {"2025-01-00", 0},  {"0000-01-01", 0}, {"2025-1-01", 0},
            {"2025/10/22", 0}, {"2025-10-22 ", 0}, {"25-10-2022", 0}, {"", 0},
            {"2025-10-2x", 0}, {"+025-10-22", 0},  {NULL, 0},
        };
        for (int i = 0; t[i].in; i++)
                is_int(svc_tracking_is_date(t[i].in, strlen(t[i].in)), t[i].want, "date '%s'",
                       t[i].in);
}

static void test_header(void) {
        static const struct {
                const char *in;
                const char *err; /* NULL: maps */
                size_t date_idx, source_idx;
        } t[] = {
            {"DATE,REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE", NULL, 0, 6},
            {"source,url,user_fp,user_agent,ip,ref_number,date", NULL, 6, 0},
            {"Extra,Date, Ref_Number ,IP,User_Agent,USER_FP,URL,Source,more", NULL, 1, 7},
            {"DATE,REF_NUMBER,USER_AGENT,USER_FP,URL,SOURCE",
             "the CSV header lacks the required column IP (required: DATE, REF_NUMBER, IP, "
             "USER_AGENT, USER_FP, URL, SOURCE)",
             0, 0},
            {"DATE,REF_NUMBER,USER_AGENT,USER_FP,SOURCE",
             "the CSV header lacks the required columns IP, URL (required: DATE, REF_NUMBER, "
             "IP, USER_AGENT, USER_FP, URL, SOURCE)",
             0, 0},
            {"DATE,REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE,date",
             "the header names column DATE twice", 0, 0},
            {"DATE_X,REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE",
             "the CSV header lacks the required column DATE (required: DATE, REF_NUMBER, IP, "
             "USER_AGENT, USER_FP, URL, SOURCE)",
             0, 0},
            {NULL, NULL, 0, 0},
        };
        for (int i = 0; t[i].in; i++) {
                struct svc_field f[16];
                svc_tracking_header_t hdr;
                char err[256] = "";
                size_t n = split(t[i].in, f, 16);
                int rc = svc_tracking_map_header(f, n, &hdr, err, sizeof(err));
                if (!t[i].err) {
                        ok(rc == 0 && hdr.idx[SVC_TRACKING_DATE] == t[i].date_idx &&
                               hdr.idx[SVC_TRACKING_SOURCE] == t[i].source_idx,
                           "header maps: %s", t[i].in);
                        if (rc)
                                printf("#   error: %s\n", err);
                } else {
                        is_int(rc, -1, "header refused: %s", t[i].in);
                        is_str(err, t[i].err, "header error text: %s", t[i].in);
                }
        }
}

#define HDR "DATE,REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE"
#define ROW(src) "2025-10-22,US_EN_1,172.56.209.0,Mozilla/5.0,fp-1,https://example.com/x," src

static void test_rows(void) {
        static const struct {
                const char *row;
                int a;
                const char *date;
                svc_tracking_check_t want;
                const char *field; /* on INVALID; event_type/conversion_type on VALID */
                const char *detail;
        } t[] = {
            {ROW("COOKIE"), 3, NULL, SVC_TRACKING_VALID, "CONVERSION", "APPLY"},
            {ROW("COOKIE"), 2, NULL, SVC_TRACKING_VALID, "CONVERSION", "APPLY_START"},
            {ROW("COOKIE"), 1, NULL, SVC_TRACKING_VALID, "CONVERSION", "VIEW"},
            {ROW("LINK_TRACKING"), 2, NULL, SVC_TRACKING_VALID, "CLICK", NULL},
            {ROW("LINK_TRACKING"), 0, NULL, SVC_TRACKING_VALID, "CLICK", NULL},
            {ROW("COOKIE"), 0, NULL, SVC_TRACKING_INVALID, "query_param_a",
             "a COOKIE row needs query_param_a (1, 2 or 3) in the request"},
            {ROW("cookie"), 3, NULL, SVC_TRACKING_INVALID, "SOURCE",
             "SOURCE must be COOKIE or LINK_TRACKING"},
            {ROW(""), 3, NULL, SVC_TRACKING_INVALID, "SOURCE", NULL},
            {ROW("COOKIE"), 3, "2025-10-22", SVC_TRACKING_VALID, "CONVERSION", "APPLY"},
            {ROW("COOKIE"), 3, "2025-10-23", SVC_TRACKING_SKIPPED, NULL, NULL},
            {"2025-10-21,,bad-ip,ua,,nope,X", 3, "2025-10-23", SVC_TRACKING_SKIPPED, NULL, NULL},
            {"2025-02-30,US,1.2.3.4,ua,fp,http://h,COOKIE", 3, "2025-10-23", SVC_TRACKING_INVALID,
             "DATE", "DATE must be a calendar date as YYYY-MM-DD"},
            {"2025-10-22,,1.2.3.4,ua,fp,http://h,COOKIE", 3, NULL, SVC_TRACKING_INVALID,
             "REF_NUMBER", "REF_NUMBER must not be empty"},
            {"2025-10-22,R,1.2.3,ua,fp,http://h,COOKIE", 3, NULL, SVC_TRACKING_INVALID, "IP",
             "IP must be an IPv4 or IPv6 address"},
            {"2025-10-22,R,256.1.1.1,ua,fp,http://h,COOKIE", 3, NULL, SVC_TRACKING_INVALID, "IP",
             NULL},
            {"2025-10-22,R, 1.2.3.4,ua,fp,http://h,COOKIE", 3, NULL, SVC_TRACKING_INVALID, "IP",
             NULL},
            {"2025-10-22,R,2001:db8::1,ua,fp,http://h,COOKIE", 3, NULL, SVC_TRACKING_VALID,
             "CONVERSION", "APPLY"},
            {"2025-10-22,R,::ffff:10.0.0.1,ua,fp,http://h,COOKIE", 3, NULL, SVC_TRACKING_VALID,
             "CONVERSION", "APPLY"},
            {"2025-10-22,R,1.2.3.4,ua,,http://h,COOKIE", 3, NULL, SVC_TRACKING_INVALID, "USER_FP",
             "USER_FP must not be empty"},
            {"2025-10-22,R,1.2.3.4,ua,fp,ftp://h,COOKIE", 3, NULL, SVC_TRACKING_INVALID, "URL",
             "URL must be an http:// or https:// URL with a host and no spaces"},
            {"2025-10-22,R,1.2.3.4,ua,fp,https://,COOKIE", 3, NULL, SVC_TRACKING_INVALID, "URL",
             NULL},
            {"2025-10-22,R,1.2.3.4,ua,fp,https://a b,COOKIE", 3, NULL, SVC_TRACKING_INVALID, "URL",
             NULL},
            {"2025-10-22,R,1.2.3.4,ua,fp,HTTPS://h/p?q=1,COOKIE", 3, NULL, SVC_TRACKING_VALID,
             "CONVERSION", "APPLY"},
            {"2025-10-22,R,1.2.3.4,ua,fp,example.com,COOKIE", 3, NULL, SVC_TRACKING_INVALID, "URL",
             NULL},
            {"2025-10-22,R,1.2.3.4,ua\xff,fp,http://h,COOKIE", 3, NULL, SVC_TRACKING_INVALID,
             "USER_AGENT", "USER_AGENT is not valid UTF-8 text (or holds a NUL byte)"},
            {"2025-10-22,R,1.2.3.4,ua\xc0\xaf,fp,http://h,COOKIE", 3, NULL, SVC_TRACKING_INVALID,
             "USER_AGENT", NULL},
            {"2025-10-22,R,1.2.3.4,caf\xc3\xa9,fp,http://h,COOKIE", 3, NULL, SVC_TRACKING_VALID,
             "CONVERSION", "APPLY"},
            {"2025-10-22,R,1.2.3.4", 3, NULL, SVC_TRACKING_INVALID, "USER_AGENT",
             "the row has 3 fields but the header has 7, so USER_AGENT is missing"},
            {NULL, 0, NULL, 0, NULL, NULL},
        };
        struct svc_field hf[8], f[16];
        svc_tracking_header_t hdr;
        char err[256];

        ok(svc_tracking_map_header(hf, split(HDR, hf, 8), &hdr, err, sizeof(err)) == 0,
           "documented header maps");
        for (int i = 0; t[i].row; i++) {
                svc_tracking_row_t row;
                const char *field = NULL;
                size_t n = split(t[i].row, f, 16);
                svc_tracking_check_t rc;
                err[0] = '\0';
                rc = svc_tracking_check_row(&hdr, f, n, t[i].a, t[i].date, &row, &field, err,
                                            sizeof(err));
                is_int(rc, t[i].want, "row %d: %s a=%d result", i, t[i].row, t[i].a);
                if (rc == SVC_TRACKING_VALID && t[i].want == SVC_TRACKING_VALID) {
                        is_str(row.event_type, t[i].field, "row %d event_type", i);
                        is_str(row.conversion_type, t[i].detail, "row %d conversion_type", i);
                } else if (t[i].want == SVC_TRACKING_INVALID) {
                        is_str(field, t[i].field, "row %d field", i);
                        if (t[i].detail)
                                is_str(err, t[i].detail, "row %d message", i);
                }
        }
}

/* event_id of a row given as a header and a record. */
static void id_of(const char *header, const char *record, int a, char id[65]) {
        struct svc_field hf[16], f[16];
        svc_tracking_header_t hdr;
        svc_tracking_row_t row;
        const char *field;
        char err[256];

        strcpy(id, "(invalid)");
        if (svc_tracking_map_header(hf, split(header, hf, 16), &hdr, err, sizeof(err)) ||
            svc_tracking_check_row(&hdr, f, split(record, f, 16), a, NULL, &row, &field, err,
                                   sizeof(err)) != SVC_TRACKING_VALID ||
            svc_tracking_event_id(&row, id))
                strcpy(id, "(invalid)");
}

static void test_event_id(void) {
        char a[65], b[65], c[65];

        id_of(HDR, ROW("COOKIE"), 3, a);
        is_int(strlen(a), 64, "event_id is 64 hex digits");
        id_of(HDR, ROW("COOKIE"), 3, b);
        is_str(a, b, "same row, same id");
        id_of("source,url,user_fp,user_agent,ip,ref_number,date,extra",
              "COOKIE,https://example.com/x,fp-1,Mozilla/5.0,172.56.209.0,US_EN_1,2025-10-22,zz", 3,
              b);
        is_str(a, b, "column order, case and extra columns do not change the id");
        id_of(HDR, ROW("COOKIE"), 2, c);
        ok(strcmp(a, c) != 0, "a changes a COOKIE row's id");
        id_of(HDR, ROW("LINK_TRACKING"), 1, b);
        id_of(HDR, ROW("LINK_TRACKING"), 0, c);
        is_str(b, c, "a does not change a LINK_TRACKING row's id");
        /* Moving a byte from one value to the next must change the id. */
        id_of(HDR, "2025-10-22,AB,1.2.3.4,C,fp,http://h,COOKIE", 3, b);
        id_of(HDR, "2025-10-22,A,1.2.3.4,BC,fp,http://h,COOKIE", 3, c);
        ok(strcmp(b, c) != 0, "values are length-prefixed");
        /* Known answer (also computed with printf and sha256sum), so a change of the
         * scheme is noticed. */
        id_of(HDR,
              "2025-10-22,US_EN_97_043800_2250981,172.56.209.0,Mozilla/5.0,"
              "817d5da2,https://example.com,COOKIE",
              3, b);
        is_str(b, "09147fca549ead60f608d452a1f86694c5c1f27734b2e046d746ef055c096baa",
               "known event_id");
}

static void test_json(void) {
        struct svc_field hf[8], f[16];
        svc_tracking_header_t hdr;
        svc_tracking_row_t row;
        svc_jbuf_t buf = SVC_JBUF_INIT;
        const char *field;
        char err[256], id[65];
        json_t *obj;
        json_error_t jerr;

        ok(svc_tracking_map_header(hf, split(HDR, hf, 8), &hdr, err, sizeof(err)) == 0, "header");
        ok(svc_tracking_check_row(&hdr, f,
                                  split("2025-10-22,R,1.2.3.4,Moz \"q\" \\ \x01 caf\xc3\xa9,fp,"
                                        "http://h,LINK_TRACKING",
                                        f, 16),
                                  0, NULL, &row, &field, err, sizeof(err)) == SVC_TRACKING_VALID,
           "row valid");
        ok(svc_tracking_event_json(&row, "back \"fill\"", "2025-10-22T13:34:55.123456Z", NULL,
                                   &buf) == 0,
           "json rendered");
        obj = json_loadb(buf.ptr, buf.len, 0, &jerr);
        ok(obj != NULL, "json parses: %s", buf.ptr);
        svc_tracking_event_id(&row, id);
        is_str(json_string_value(json_object_get(obj, "event_id")), id, "json event_id");
        is_str(json_string_value(json_object_get(obj, "event_type")), "CLICK", "event_type");
        ok(json_is_null(json_object_get(obj, "conversion_type")), "conversion_type null");
        is_str(json_string_value(json_object_get(obj, "user_agent")),
               "Moz \"q\" \\ \x01 caf\xc3\xa9", "user_agent round trip");
        is_str(json_string_value(json_object_get(obj, "reason")), "back \"fill\"", "reason");
        is_str(json_string_value(json_object_get(obj, "source")), "LINK_TRACKING", "source");
        is_str(json_string_value(json_object_get(obj, "ingested_at")),
               "2025-10-22T13:34:55.123456Z", "ingested_at");
        ok(json_is_null(json_object_get(obj, "request_id")), "request_id null");
        is_int(json_object_size(obj), 13, "13 members");
        json_decref(obj);
        svc_jbuf_free(&buf);
        svc_jbuf_free(NULL);
}

int main(void) {
        test_dates();
        test_header();
        test_rows();
        test_event_id();
        test_json();
        return done_testing();
}
