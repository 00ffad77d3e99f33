/* csv.c - streaming RFC 4180 push parser with bounded memory. */
#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum {
        CSV_FIELD_START, /* before the first byte of a field */
        CSV_UNQUOTED,    /* inside a field that did not start with a quote */
        CSV_QUOTED,      /* inside quotes */
        CSV_QUOTE_SEEN,  /* a quote inside quotes: end of the field, or the first of "" */
} csv_state_t;

struct svc_csv {
        svc_rows_fn *fn;
        void *opaque;
        size_t max_field;
        size_t max_record;

        csv_state_t state;
        int stopped;  /* the callback returned -1 */
        int skip_lf;  /* the last record ended with CR: a following LF belongs to it */
        int bom_done; /* the start of input has been checked for a BOM */
        unsigned char bom[3];
        size_t bom_len; /* bytes of a possible BOM held back */

        char *buf;                /* the fields of the current record, back to back */
        size_t buf_len;           /* bytes used */
        size_t buf_size;          /* bytes allocated, at most max_record */
        size_t *ends;             /* end offset in buf of each completed field */
        size_t field_cnt;         /* completed fields of the current record */
        size_t ends_size;         /* entries allocated in ends */
        struct svc_field *fields; /* handed to the callback */
        size_t field_start;       /* offset in buf where the current field begins */
        int has_content;          /* the record has a byte besides its line break */
        char error[128];          /* first error of the current record, "" if none */

        long line;     /* physical line of the next byte, 1-based */
        long rec_line; /* line the current record started on */
        long rec_cnt;  /* records delivered */
};

svc_csv_t *svc_csv_new(size_t max_field, size_t max_record, svc_rows_fn *fn, void *opaque) {
        svc_csv_t *csv = calloc(1, sizeof(*csv));

        if (!csv)
                return NULL;
        csv->fn = fn;
        csv->opaque = opaque;
        csv->max_field = max_field ? max_field : 1;
        csv->max_record = max_record < csv->max_field ? csv->max_field : max_record;
        csv->line = 1;
        csv->rec_line = 1;
        return csv;
}

void svc_csv_destroy(svc_csv_t *csv) {
        if (!csv)
                return;
        free(csv->buf);
        free(csv->ends);
        free(csv->fields);
        free(csv);
}

long svc_csv_record_cnt(const svc_csv_t *csv) {
        return csv->rec_cnt;
}

static void csv_set_error(svc_csv_t *csv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keeps the first error of a record: later ones are consequences of it. */
static void csv_set_error(svc_csv_t *csv, const char *fmt, ...) {
        va_list ap;

        if (csv->error[0])
                return;
        va_start(ap, fmt);
        vsnprintf(csv->error, sizeof(csv->error), fmt, ap);
        va_end(ap);
}

static void csv_append(svc_csv_t *csv, char c) {
        size_t field_len;

        if (csv->error[0]) /* the rest of a bad record is skipped, not stored */
                return;
        field_len = csv->buf_len - csv->field_start;
        if (field_len + 1 > csv->max_field) {
                csv_set_error(csv, "field %zu is longer than %zu bytes", csv->field_cnt + 1,
                              csv->max_field);
                return;
        }
        if (csv->buf_len + 1 > csv->max_record) {
                csv_set_error(csv, "record is longer than %zu bytes", csv->max_record);
                return;
        }
        if (csv->buf_len == csv->buf_size) {
                size_t size = csv->buf_size ? csv->buf_size * 2 : 256;
                char *p;
                if (size > csv->max_record)
                        size = csv->max_record;
                if (!(p = realloc(csv->buf, size))) {
                        csv_set_error(csv, "out of memory reading field %zu", csv->field_cnt + 1);
                        return;
                }
                csv->buf = p;
                csv->buf_size = size;
        }
        csv->buf[csv->buf_len++] = c;
}

/* Appends a run of ordinary bytes: the same result as csv_append() byte by byte. */
static void csv_append_run(svc_csv_t *csv, const char *p, size_t n) {
        while (n > 0 && !csv->error[0]) {
                size_t room = csv->max_field - (csv->buf_len - csv->field_start), k = n;
                if (room > csv->max_record - csv->buf_len)
                        room = csv->max_record - csv->buf_len;
                if (k > room)
                        k = room;
                if (k == 0 || csv->buf_len + k > csv->buf_size) {
                        csv_append(csv, *p++); /* sets the error, or grows buf */
                        n--;
                        continue;
                }
                memcpy(csv->buf + csv->buf_len, p, k);
                csv->buf_len += k;
                p += k;
                n -= k;
        }
}

static void csv_end_field(svc_csv_t *csv) {
        if (csv->field_cnt == csv->ends_size) {
                size_t size = csv->ends_size ? csv->ends_size * 2 : 16;
                size_t *p;
                if (csv->field_cnt >= SVC_CSV_MAX_FIELDS) {
                        csv_set_error(csv, "record has more than %zu fields",
                                      (size_t)SVC_CSV_MAX_FIELDS);
                        return;
                }
                if (size > SVC_CSV_MAX_FIELDS)
                        size = SVC_CSV_MAX_FIELDS;
                if (!(p = realloc(csv->ends, size * sizeof(*p)))) {
                        csv_set_error(csv, "out of memory after field %zu", csv->field_cnt);
                        return;
                }
                csv->ends = p;
                csv->ends_size = size;
        }
        csv->ends[csv->field_cnt++] = csv->buf_len;
        csv->field_start = csv->buf_len;
}

/* Hands the record to the callback and starts the next one. Returns -1 to stop. */
static int csv_end_record(svc_csv_t *csv) {
        size_t i, start = 0;
        int ret = 0;

        csv_end_field(csv);
        if (csv->has_content || csv->error[0]) {
                if (!csv->fields && csv->ends_size &&
                    !(csv->fields = calloc(SVC_CSV_MAX_FIELDS, sizeof(*csv->fields))))
                        csv_set_error(csv, "out of memory");
                for (i = 0; csv->fields && i < csv->field_cnt; i++) {
                        csv->fields[i].ptr = csv->buf ? csv->buf + start : "";
                        csv->fields[i].len = csv->ends[i] - start;
                        start = csv->ends[i];
                }
                csv->rec_cnt++;
                ret = csv->fn(csv->opaque, csv->fields ? csv->fields : NULL,
                              csv->fields ? csv->field_cnt : 0, csv->error[0] ? csv->error : NULL,
                              csv->rec_line);
        }
        csv->buf_len = 0;
        csv->field_cnt = 0;
        csv->field_start = 0;
        csv->has_content = 0;
        csv->error[0] = '\0';
        csv->state = CSV_FIELD_START;
        csv->rec_line = csv->line;
        if (ret < 0)
                csv->stopped = 1;
        return ret < 0 ? -1 : 0;
}

static svc_csv_err_t csv_stopped(char *errstr, size_t errstr_size) {
        snprintf(errstr, errstr_size, "stopped by the row handler");
        return SVC_CSV_STOPPED;
}

/* Bytes that end a run of ordinary field content, per state. */
static const unsigned char unquoted_special[256] = {[','] = 1, ['\n'] = 1, ['\r'] = 1, ['"'] = 1};
static const unsigned char quoted_special[256] = {['"'] = 1, ['\n'] = 1};

/* A line break that ends a record (CR, LF, or the CR of a CRLF). Returns what
 * csv_end_record() returns. */
static int csv_line_break(svc_csv_t *csv, char c) {
        csv->line++;
        csv->skip_lf = c == '\r';
        return csv_end_record(csv);
}

static svc_csv_err_t csv_parse(svc_csv_t *csv, const char *data, size_t len, char *errstr,
                               size_t errstr_size) {
        for (size_t i = 0; i < len; i++) {
                char c = data[i];

                if (csv->skip_lf) {
                        csv->skip_lf = 0;
                        if (c == '\n')
                                continue;
                }
                /* Runs of ordinary bytes are copied at once. */
                if (csv->state == CSV_UNQUOTED || csv->state == CSV_QUOTED) {
                        const unsigned char *special =
                            csv->state == CSV_QUOTED ? quoted_special : unquoted_special;
                        size_t n = 0;
                        while (i + n < len && !special[(unsigned char)data[i + n]])
                                n++;
                        if (n > 0) {
                                csv_append_run(csv, data + i, n);
                                i += n - 1;
                                continue;
                        }
                }
                switch (csv->state) {
                case CSV_FIELD_START:
                        if (c == '"') {
                                csv->has_content = 1;
                                csv->state = CSV_QUOTED;
                                break;
                        }
                        csv->state = CSV_UNQUOTED;
                        /* fall through */
                case CSV_UNQUOTED:
                        if (c == ',') {
                                csv->has_content = 1;
                                csv_end_field(csv);
                                csv->state = CSV_FIELD_START;
                        } else if (c == '\n' || c == '\r') {
                                if (csv_line_break(csv, c) < 0)
                                        return csv_stopped(errstr, errstr_size);
                        } else {
                                if (c == '"')
                                        csv_set_error(csv,
                                                      "field %zu has a quote but does not "
                                                      "start with one",
                                                      csv->field_cnt + 1);
                                csv->has_content = 1;
                                csv_append(csv, c);
                        }
                        break;
                case CSV_QUOTED:
                        if (c == '"') {
                                csv->state = CSV_QUOTE_SEEN;
                                break;
                        }
                        if (c == '\n')
                                csv->line++;
                        csv_append(csv, c);
                        break;
                case CSV_QUOTE_SEEN:
                        if (c == '"') {
                                csv_append(csv, '"');
                                csv->state = CSV_QUOTED;
                        } else if (c == ',') {
                                csv_end_field(csv);
                                csv->state = CSV_FIELD_START;
                        } else if (c == '\n' || c == '\r') {
                                if (csv_line_break(csv, c) < 0)
                                        return csv_stopped(errstr, errstr_size);
                        } else {
                                csv_set_error(csv,
                                              "field %zu has text after its closing "
                                              "quote",
                                              csv->field_cnt + 1);
                                csv_append(csv, c);
                                csv->state = CSV_UNQUOTED;
                        }
                        break;
                }
        }
        return SVC_CSV_OK;
}

svc_csv_err_t svc_csv_feed(svc_csv_t *csv, const char *data, size_t len, char *errstr,
                           size_t errstr_size) {
        static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

        if (csv->stopped)
                return csv_stopped(errstr, errstr_size);
        /* The BOM may arrive split over several chunks: hold its bytes back until
         * it is complete or proven absent. */
        while (!csv->bom_done && len > 0) {
                if ((unsigned char)*data != bom[csv->bom_len]) {
                        svc_csv_err_t err;
                        csv->bom_done = 1;
                        err = csv_parse(csv, (const char *)csv->bom, csv->bom_len, errstr,
                                        errstr_size);
                        if (err != SVC_CSV_OK)
                                return err;
                        break;
                }
                csv->bom[csv->bom_len++] = (unsigned char)*data;
                data++;
                len--;
                if (csv->bom_len == sizeof(bom))
                        csv->bom_done = 1;
        }
        return csv_parse(csv, data, len, errstr, errstr_size);
}

svc_csv_err_t svc_csv_finish(svc_csv_t *csv, char *errstr, size_t errstr_size) {
        if (csv->stopped)
                return csv_stopped(errstr, errstr_size);
        if (!csv->bom_done) { /* input shorter than a BOM: its bytes are data */
                csv->bom_done = 1;
                if (csv_parse(csv, (const char *)csv->bom, csv->bom_len, errstr, errstr_size) !=
                    SVC_CSV_OK)
                        return SVC_CSV_STOPPED;
        }
        if (csv->state == CSV_QUOTED)
                csv_set_error(csv, "field %zu has an opening quote that is never closed",
                              csv->field_cnt + 1);
        if (csv->has_content || csv->error[0]) {
                if (csv_end_record(csv) < 0)
                        return csv_stopped(errstr, errstr_size);
        }
        return SVC_CSV_OK;
}

svc_csv_err_t svc_csv_read_fd(int fd, size_t max_field, size_t max_record, svc_rows_fn *fn,
                              void *opaque, char *errstr, size_t errstr_size) {
        enum { CHUNK = 64 * 1024 };
        svc_csv_t *csv = NULL;
        char *chunk = NULL;
        svc_csv_err_t ret = SVC_CSV_IO;
        ssize_t n;

        if (!(csv = svc_csv_new(max_field, max_record, fn, opaque)) || !(chunk = malloc(CHUNK))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        for (;;) {
                n = read(fd, chunk, CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        snprintf(errstr, errstr_size, "reading the file failed: %s",
                                 strerror(errno));
                        goto out;
                }
                if (n == 0)
                        break;
                if ((ret = svc_csv_feed(csv, chunk, (size_t)n, errstr, errstr_size)) != SVC_CSV_OK)
                        goto out;
                ret = SVC_CSV_IO;
        }
        ret = svc_csv_finish(csv, errstr, errstr_size);
out:
        free(chunk);
        svc_csv_destroy(csv);
        return ret;
}
