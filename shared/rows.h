/* rows.h - the row callback every ingest source calls (CSV file, sheet export, Sheets API). */
#ifndef SVC_ROWS_H
#define SVC_ROWS_H
#include <stddef.h>

struct svc_field {
        const char *ptr; /* not NUL-terminated; valid only during the callback */
        size_t len;
};

/* Called once per record, the header record first. `error` is NULL, or why this record
 * cannot be used (e.g. "field 3 is longer than 65536 bytes"); the fields may then be
 * partial. `line` is the 1-based physical line the record starts on.
 * Return 0 to go on, -1 to stop the source (which then returns -1 too). */
typedef int(svc_rows_fn)(void *opaque, const struct svc_field *fields, size_t field_cnt,
                         const char *error, long line);
#endif
