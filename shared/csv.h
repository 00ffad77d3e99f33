/* csv.h - streaming RFC 4180 reader: a push parser fed with chunks of any size (file
 * reads, libcurl write callbacks) that calls a svc_rows_fn once per record. */
#ifndef SVC_CSV_H
#define SVC_CSV_H
#include <stddef.h>

#include "rows.h"

typedef struct svc_csv svc_csv_t; /* opaque; one input at a time, one thread */

#define SVC_CSV_MAX_FIELDS 1024 /* a record with more fields is a record error */

typedef enum {
        SVC_CSV_OK = 0,
        SVC_CSV_STOPPED = -1, /* the row callback returned -1 */
        SVC_CSV_IO = -2,      /* reading the input failed (svc_csv_read_fd only) */
} svc_csv_err_t;

/**
 * @brief Creates a parser. Quoted fields, "" escapes, commas and line breaks inside
 *        quotes, CRLF, LF or CR line ends and a UTF-8 BOM at the very start are
 *        understood. Memory never exceeds about max_record bytes plus the field table:
 *        a field over max_field bytes or a record over max_record bytes is reported
 *        as that record's `error` and the rest of the record is skipped. Malformed
 *        quoting (a quote inside an unquoted field, text after a closing quote, an
 *        open quote at the end of input) is a record error too; parsing goes on.
 *        Empty lines between records are skipped.
 * @returns the parser, or NULL when out of memory.
 */
svc_csv_t *svc_csv_new(size_t max_field, size_t max_record, svc_rows_fn *fn, void *opaque);

/**
 * @brief Parses the next len bytes of input; complete records go to the callback.
 * @returns SVC_CSV_OK, or SVC_CSV_STOPPED (with errstr) once the callback returned -1;
 *          a stopped parser ignores further input.
 */
svc_csv_err_t svc_csv_feed(svc_csv_t *csv, const char *data, size_t len, char *errstr,
                           size_t errstr_size) __attribute__((warn_unused_result));

/**
 * @brief Ends the input: delivers the last record (one without a final line break,
 *        or one whose quote is still open, which then carries an error).
 * @returns like svc_csv_feed().
 */
svc_csv_err_t svc_csv_finish(svc_csv_t *csv, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/** @brief Number of records delivered so far (the header included). */
long svc_csv_record_cnt(const svc_csv_t *csv);

void svc_csv_destroy(svc_csv_t *csv); /* NULL is a no-op */

/**
 * @brief Streams the whole of fd through a new parser (reads of 64 KiB), then finishes.
 * @returns SVC_CSV_OK, SVC_CSV_STOPPED, or SVC_CSV_IO with errstr (read failure or
 *          out of memory). fd is not closed.
 */
svc_csv_err_t svc_csv_read_fd(int fd, size_t max_field, size_t max_record, svc_rows_fn *fn,
                              void *opaque, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));
#endif
