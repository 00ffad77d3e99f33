/* devstore.c - paging through the dev store line by line under a shared flock. */
#include "devstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Reads lines of at most max bytes from fd; longer ones are reported as too long. */
struct line_reader {
        int fd;
        char *buf;
        size_t len, size, pos; /* bytes in buf, allocated, next unread */
        int eof;
};

enum { LINE_OK = 0, LINE_EOF = 1, LINE_TOO_LONG = 2, LINE_ERR = -1 };

static int reader_fill(struct line_reader *r) {
        ssize_t n;
        if (r->pos > 0) { /* keep the partial line at the front */
                memmove(r->buf, r->buf + r->pos, r->len - r->pos);
                r->len -= r->pos;
                r->pos = 0;
        }
        if (r->len == r->size) {
                size_t size = r->size * 2;
                char *p;
                if (size > SVC_DEVSTORE_MAX_LINE + 1)
                        size = SVC_DEVSTORE_MAX_LINE + 1;
                if (size <= r->size || !(p = realloc(r->buf, size)))
                        return -1;
                r->buf = p;
                r->size = size;
        }
        do
                n = read(r->fd, r->buf + r->len, r->size - r->len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -1;
        if (n == 0)
                r->eof = 1;
        r->len += (size_t)n;
        return 0;
}

/* Returns LINE_OK with the line in *line and *len (no '\n'), LINE_EOF,
 * LINE_TOO_LONG or LINE_ERR. */
static int reader_next(struct line_reader *r, char **line, size_t *len) {
        int too_long = 0;
        for (;;) {
                char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
                if (nl) {
                        *line = r->buf + r->pos;
                        *len = (size_t)(nl - *line);
                        r->pos = (size_t)(nl - r->buf) + 1;
                        return too_long ? LINE_TOO_LONG : LINE_OK;
                }
                if (r->eof) {
                        if (r->pos == r->len)
                                return too_long ? LINE_TOO_LONG : LINE_EOF;
                        /* a last line without its line break was torn (a writer died
                         * in the middle of an append): skip it */
                        r->pos = r->len;
                        return LINE_EOF;
                }
                if (r->len - r->pos >= SVC_DEVSTORE_MAX_LINE) { /* drop what we have */
                        too_long = 1;
                        r->pos = r->len;
                }
                if (reader_fill(r) == -1)
                        return LINE_ERR;
        }
}

/* The line as a record: a JSON object with a string "topic", or NULL. Every line is
 * parsed, also outside the page, so that the count and the pages skip the same lines
 * (a torn append can begin like a record and still not be one). */
static json_t *line_record(const char *line, size_t len, const char **topic, size_t *topic_len) {
        json_t *obj = json_loadb(line, len, 0, NULL), *t = json_object_get(obj, "topic");

        if (!json_is_object(obj) || !json_is_string(t)) {
                json_decref(obj);
                return NULL;
        }
        *topic = json_string_value(t);
        *topic_len = json_string_length(t);
        return obj;
}

int svc_devstore_read(const char *path, const char *topic, size_t offset, size_t limit,
                      size_t *count, json_t **events, char *errstr, size_t errstr_size) {
        struct line_reader r = {.fd = -1};
        json_t *page = json_array();
        size_t topic_len = topic ? strlen(topic) : 0, n = 0;
        int ret = -1, rc;
        char *line;
        size_t len;

        *count = 0;
        *events = NULL;
        if (!page) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        if ((r.fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
                if (errno == ENOENT) { /* nothing stored yet */
                        ret = 0;
                        goto out;
                }
                snprintf(errstr, errstr_size, "cannot open the dev store: %s", strerror(errno));
                goto out;
        }
        if (flock(r.fd, LOCK_SH) == -1) {
                snprintf(errstr, errstr_size, "cannot lock the dev store: %s", strerror(errno));
                goto out;
        }
        r.size = 64 * 1024;
        if (!(r.buf = malloc(r.size))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        while ((rc = reader_next(&r, &line, &len)) != LINE_EOF) {
                const char *t;
                size_t t_len;
                json_t *obj;

                if (rc == LINE_ERR) {
                        snprintf(errstr, errstr_size, "cannot read the dev store: %s",
                                 strerror(errno));
                        goto out;
                }
                if (rc == LINE_TOO_LONG || len == 0 || !(obj = line_record(line, len, &t, &t_len)))
                        continue;
                if (topic && (t_len != topic_len || memcmp(t, topic, t_len) != 0)) {
                        json_decref(obj);
                        continue;
                }
                if (n >= offset && n - offset < limit) {
                        if (json_array_append_new(page, obj) == -1) {
                                snprintf(errstr, errstr_size, "out of memory");
                                goto out;
                        }
                } else {
                        json_decref(obj);
                }
                n++;
        }
        ret = 0;
out:
        if (r.fd != -1)
                close(r.fd); /* releases the lock */
        free(r.buf);
        if (ret == 0) {
                *count = n;
                *events = page;
        } else
                json_decref(page);
        return ret;
}
