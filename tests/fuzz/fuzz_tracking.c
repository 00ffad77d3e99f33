/* fuzz_tracking.c - fuzzes header mapping, row checks and the event JSON over records
 * the CSV parser reads from the input. A valid row must have a real calendar date
 * (checked against timegm), UTF-8 values (checked against jansson), and its event
 * JSON must parse back to exactly the row's values with a stable 64-hex event_id. */
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "csv.h"
#include "fuzz_check.h"
#include "tracking.h"

static const char *json_names[SVC_TRACKING_COL_CNT] = {
    "date", "ref_number", "ip", "user_agent", "user_fp", "url", "source",
};

struct state {
        int a;
        const char *date_filter;
        int have_header;
        int header_ok;
        svc_tracking_header_t hdr;
        svc_jbuf_t buf;
};

/* YYYY-MM-DD that survives a round trip through timegm/gmtime_r. */
static int is_real_date(const char *s, size_t len) {
        struct tm tm = {0}, back;
        time_t t;
        int y, m, d;

        if (len != 10 || s[4] != '-' || s[7] != '-')
                return 0;
        for (int i = 0; i < 10; i++)
                if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
                        return 0;
        /* fields are not NUL-terminated: read exactly the digits */
        y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        m = (s[5] - '0') * 10 + (s[6] - '0');
        d = (s[8] - '0') * 10 + (s[9] - '0');
        if (y < 1)
                return 0;
        tm.tm_year = y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d;
        tm.tm_hour = 12;
        t = timegm(&tm);
        if (!gmtime_r(&t, &back))
                return 0;
        return back.tm_year == y - 1900 && back.tm_mon == m - 1 && back.tm_mday == d;
}

static int name_matches(const struct svc_field *f, const char *name) {
        size_t b = 0, e = f->len;
        while (b < e && (f->ptr[b] == ' ' || f->ptr[b] == '\t'))
                b++;
        while (e > b && (f->ptr[e - 1] == ' ' || f->ptr[e - 1] == '\t'))
                e--;
        return e - b == strlen(name) && strncasecmp(f->ptr + b, name, e - b) == 0;
}

static void check_header(struct state *st, const struct svc_field *fields, size_t n) {
        char errstr[512] = "";
        int rc = svc_tracking_map_header(fields, n, &st->hdr, errstr, sizeof(errstr));
        int want = 0;

        for (int c = 0; c < SVC_TRACKING_COL_CNT; c++) {
                size_t hits = 0;
                for (size_t i = 0; i < n; i++)
                        hits += name_matches(&fields[i], svc_tracking_col_name(c));
                if (hits != 1)
                        want = -1;
        }
        FUZZ_CHECK(rc == want);
        FUZZ_CHECK(rc == 0 || (errstr[0] && strlen(errstr) < sizeof(errstr) - 1));
        if (rc == 0) {
                FUZZ_CHECK(st->hdr.field_cnt == n);
                for (int c = 0; c < SVC_TRACKING_COL_CNT; c++)
                        FUZZ_CHECK(st->hdr.idx[c] < n &&
                                   name_matches(&fields[st->hdr.idx[c]], svc_tracking_col_name(c)));
        }
        st->header_ok = rc == 0;
}

static void check_json(const svc_tracking_row_t *row, const svc_jbuf_t *buf, const char *id) {
        json_error_t jerr;
        json_t *o = json_loadb(buf->ptr, buf->len, JSON_REJECT_DUPLICATES, &jerr);
        const json_t *v;

        FUZZ_CHECK(o && json_is_object(o));
        FUZZ_CHECK(strlen(buf->ptr) == buf->len);
        FUZZ_CHECK(json_object_size(o) == 13);
        v = json_object_get(o, "event_id");
        FUZZ_CHECK(json_is_string(v) && strcmp(json_string_value(v), id) == 0);
        for (int c = 0; c < SVC_TRACKING_COL_CNT; c++) {
                v = json_object_get(o, json_names[c]);
                FUZZ_CHECK(json_is_string(v) && json_string_length(v) == row->v[c].len &&
                           memcmp(json_string_value(v), row->v[c].ptr, row->v[c].len) == 0);
        }
        v = json_object_get(o, "conversion_type");
        FUZZ_CHECK(row->is_click ? json_is_null(v) : json_is_string(v));
        FUZZ_CHECK(json_is_string(json_object_get(o, "reason")));
        FUZZ_CHECK(json_is_null(json_object_get(o, "request_id")));
        json_decref(o);
}

static int on_row(void *opaque, const struct svc_field *fields, size_t n, const char *error,
                  long line) {
        struct state *st = opaque;
        svc_tracking_row_t row;
        const char *field = NULL;
        char errstr[512] = "", id[65], id2[65];
        svc_tracking_check_t rc;

        (void)line;
        if (!st->have_header) {
                st->have_header = 1;
                check_header(st, fields, n);
                return 0;
        }
        if (error || !st->header_ok)
                return 0;
        memset(&row, 0xa5, sizeof(row));
        rc = svc_tracking_check_row(&st->hdr, fields, n, st->a, st->date_filter, &row, &field,
                                    errstr, sizeof(errstr));
        FUZZ_CHECK(rc == SVC_TRACKING_VALID || rc == SVC_TRACKING_SKIPPED ||
                   rc == SVC_TRACKING_INVALID);
        if (rc == SVC_TRACKING_INVALID) {
                FUZZ_CHECK(field && errstr[0]);
                return 0;
        }
        {
                const struct svc_field *d = &fields[st->hdr.idx[SVC_TRACKING_DATE]];
                if (!is_real_date(d->ptr, d->len))
                        fprintf(stderr, "DATE %.*s\n", (int)d->len, d->ptr);
                FUZZ_CHECK(is_real_date(d->ptr, d->len));
                FUZZ_CHECK(svc_tracking_is_date(d->ptr, d->len));
                if (rc == SVC_TRACKING_SKIPPED) {
                        FUZZ_CHECK(st->date_filter && (d->len != strlen(st->date_filter) ||
                                                       memcmp(d->ptr, st->date_filter, d->len)));
                        return 0;
                }
        }
        FUZZ_CHECK(field == NULL);
        for (int c = 0; c < SVC_TRACKING_COL_CNT; c++) {
                json_t *s;
                FUZZ_CHECK(row.v[c].ptr == fields[st->hdr.idx[c]].ptr &&
                           row.v[c].len == fields[st->hdr.idx[c]].len);
                s = json_stringn(row.v[c].ptr, row.v[c].len); /* NULL unless UTF-8 */
                FUZZ_CHECK(s != NULL);
                json_decref(s);
                FUZZ_CHECK(!memchr(row.v[c].ptr, '\0', row.v[c].len));
        }
        FUZZ_CHECK(row.v[SVC_TRACKING_REF_NUMBER].len > 0 && row.v[SVC_TRACKING_USER_FP].len > 0);
        FUZZ_CHECK(row.is_click ? row.a == 0 && !row.conversion_type
                                : row.a >= 1 && row.a <= 3 && row.conversion_type);
        FUZZ_CHECK(svc_tracking_event_id(&row, id) == 0 && strlen(id) == 64 &&
                   strspn(id, "0123456789abcdef") == 64);
        FUZZ_CHECK(svc_tracking_event_id(&row, id2) == 0 && strcmp(id, id2) == 0);
        FUZZ_CHECK(svc_tracking_event_json(&row, "fuzz \"reason\"\n", "2024-01-01T00:00:00Z", NULL,
                                           &st->buf) == 0);
        check_json(&row, &st->buf, id);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char std_header[] = "DATE,REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE\n";
        struct state st = {0};
        char errstr[256];
        svc_csv_t *csv;

        if (size < 2)
                return 0;
        st.a = data[0] % 5;
        st.date_filter = (data[1] & 3) == 1   ? "2024-01-15"
                         : (data[1] & 3) == 2 ? "2024-02-29"
                                              : NULL;
        csv = svc_csv_new(4096, 65536, on_row, &st);
        FUZZ_CHECK(csv);
        if (data[1] & 0x80)
                FUZZ_CHECK(svc_csv_feed(csv, std_header, sizeof(std_header) - 1, errstr,
                                        sizeof(errstr)) == SVC_CSV_OK);
        FUZZ_CHECK(svc_csv_feed(csv, (const char *)data + 2, size - 2, errstr, sizeof(errstr)) ==
                   SVC_CSV_OK);
        FUZZ_CHECK(svc_csv_finish(csv, errstr, sizeof(errstr)) == SVC_CSV_OK);
        svc_csv_destroy(csv);
        svc_jbuf_free(&st.buf);
        return 0;
}
