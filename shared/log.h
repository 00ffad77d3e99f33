/* log.h - one stderr line per event, and the persisted error log (ERROR_LOG). */
#ifndef SVC_LOG_H
#define SVC_LOG_H
#include <stddef.h>
#include <sys/types.h>

typedef enum { SVC_LOG_DEBUG, SVC_LOG_INFO, SVC_LOG_WARN, SVC_LOG_ERROR } svc_log_level_t;

/**
 * @brief Writes "<ISO time> <LEVEL> [<request id>] <endpoint>: <message>" to stderr
 *        as one write(2), so lines of concurrent threads and processes do not mix.
 *        request_id and endpoint may be NULL. Control bytes are escaped (svc_log_escape),
 *        so a line is always one line and carries no terminal sequence.
 */

/**
 * @brief Copies in_len bytes of in to out, escaping every byte below 0x20 and 0x7f as
 *        text: \n, \r, \t, the others \xHH (lower-case hex); every other byte is copied
 *        as it is. Stops before an escape or a byte that would not fit, and always
 *        NUL-terminates (out_size > 0).
 * @returns the bytes written to out, NUL excluded.
 */
size_t svc_log_escape(char *out, size_t out_size, const char *in, size_t in_len);
void svc_log(svc_log_level_t level, const char *request_id, const char *endpoint, const char *fmt,
             ...) __attribute__((format(printf, 4, 5)));

/**
 * @brief mkdir -p: creates the directory path and its missing parents with mode.
 * @returns 0 (also when it exists), or -1 with errno.
 */
int svc_log_mkdir_p(const char *path, mode_t mode);

/** @brief Formats the current UTC time as 2025-10-22T13:34:55.123456Z (buf >= 32). */
void svc_log_iso_now(char *buf, size_t buf_size);

/**
 * @brief Appends one line of JSON text to path under an exclusive flock(2), creating
 *        the file (0640) and its directory when missing. Safe across threads and processes.
 * @returns 0, or -1 with errstr.
 */
int svc_log_append_line(const char *path, const char *line, size_t line_len, char *errstr,
                        size_t errstr_size) __attribute__((warn_unused_result));

/**
 * @brief Persists a rejected request or row to ERROR_LOG (docs/api.md, "Errors"):
 *        {"at","endpoint","request_id","status","message"[,"row","field"]}.
 *        row <= 0 and field NULL leave those out. A failure is logged to stderr only.
 */
void svc_log_persist_error(const char *path, const char *endpoint, const char *request_id,
                           int status, const char *message, long row, const char *field);
#endif
