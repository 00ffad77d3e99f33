/* log.c - stderr log lines and append-only JSON-lines files under flock. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void svc_log_iso_now(char *buf, size_t buf_size) {
        struct timespec ts;
        struct tm tm;
        char sec[24];

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, buf_size, "%s.%06ldZ", sec, ts.tv_nsec / 1000);
}

size_t svc_log_escape(char *out, size_t out_size, const char *in, size_t in_len) {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;

        if (!out_size)
                return 0;
        for (size_t i = 0; i < in_len; i++) {
                unsigned char c = (unsigned char)in[i];
                char esc[4];
                size_t esc_len = 0;

                if (c == '\n' || c == '\r' || c == '\t') {
                        esc[esc_len++] = '\\';
                        esc[esc_len++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                } else if (c < 0x20 || c == 0x7f) {
                        esc[esc_len++] = '\\';
                        esc[esc_len++] = 'x';
                        esc[esc_len++] = hex[c >> 4];
                        esc[esc_len++] = hex[c & 0xf];
                } else {
                        esc[esc_len++] = (char)c;
                }
                if (o + esc_len >= out_size) /* never half an escape */
                        break;
                memcpy(out + o, esc, esc_len);
                o += esc_len;
        }
        out[o] = '\0';
        return o;
}

void svc_log(svc_log_level_t level, const char *request_id, const char *endpoint, const char *fmt,
             ...) {
        char raw[2048], line[4096], now[40];
        va_list ap;
        int n;
        size_t len;

        svc_log_iso_now(now, sizeof(now));
        n = snprintf(raw, sizeof(raw), "%s %s [%s] %s: ", now, level_names[level],
                     request_id ? request_id : "-", endpoint ? endpoint : "-");
        if (n < 0 || (size_t)n >= sizeof(raw))
                n = 0;
        va_start(ap, fmt);
        vsnprintf(raw + n, sizeof(raw) - (size_t)n, fmt, ap);
        va_end(ap);
        /* One event, one line, and nothing a terminal would act on: every control byte
         * (a newline, ESC, ...) of a message, which may quote a client's bytes, is
         * escaped. */
        len = svc_log_escape(line, sizeof(line) - 1, raw, strlen(raw));
        line[len++] = '\n';
        if (write(STDERR_FILENO, line, len) < 0) {
                /* nowhere left to report it */
        }
}

int svc_log_mkdir_p(const char *path, mode_t mode) {
        char p[PATH_MAX];

        if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(p, mode) == -1 && errno != EEXIST)
                        return -1;
                if (!(*s = c))
                        return 0;
        }
}

/* mkdir -p for the directory part of path. */
static void make_parent_dirs(const char *path) {
        char dir[PATH_MAX], *slash;
        snprintf(dir, sizeof(dir), "%s", path);
        if ((slash = strrchr(dir, '/')) && slash != dir) {
                *slash = '\0';
                svc_log_mkdir_p(dir, 0750);
        }
}

int svc_log_append_line(const char *path, const char *line, size_t line_len, char *errstr,
                        size_t errstr_size) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        int ret = -1;

        if (fd == -1 && errno == ENOENT) {
                make_parent_dirs(path);
                fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        }
        if (fd == -1) {
                snprintf(errstr, errstr_size, "cannot open %s: %s", path, strerror(errno));
                return -1;
        }
        if (flock(fd, LOCK_EX) == -1) {
                snprintf(errstr, errstr_size, "cannot lock %s: %s", path, strerror(errno));
                goto out;
        }
        /* The lock makes the line whole even when write() is split. */
        for (size_t off = 0; off < line_len;) {
                ssize_t w = write(fd, line + off, line_len - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        snprintf(errstr, errstr_size, "cannot write %s: %s", path, strerror(errno));
                        goto out;
                }
                off += (size_t)w;
        }
        ret = 0;
out:
        close(fd); /* also releases the lock */
        return ret;
}

void svc_log_persist_error(const char *path, const char *endpoint, const char *request_id,
                           int status, const char *message, long row, const char *field) {
        char now[40], errstr[256];
        json_t *obj;
        char *text;

        svc_log_iso_now(now, sizeof(now));
        obj = json_pack("{s:s, s:s, s:s, s:i, s:s}", "at", now, "endpoint",
                        endpoint ? endpoint : "", "request_id", request_id ? request_id : "",
                        "status", status, "message", message ? message : "");
        if (!obj)
                return;
        if (row > 0)
                json_object_set_new(obj, "row", json_integer(row));
        if (field)
                json_object_set_new(obj, "field", json_string(field));
        text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(obj);
        if (!text)
                return;
        {
                size_t len = strlen(text);
                char *line = malloc(len + 2);
                if (line) {
                        memcpy(line, text, len);
                        line[len] = '\n';
                        if (svc_log_append_line(path, line, len + 1, errstr, sizeof(errstr)) == -1)
                                svc_log(SVC_LOG_ERROR, request_id, endpoint, "error log: %s",
                                        errstr);
                        free(line);
                }
        }
        free(text);
}
