/* jbuf.c - the growable buffer, the JSON string escaper and the UTF-8 check. */
#include "jbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JBUF_MIN_SIZE 256

int svc_jbuf_reserve(svc_jbuf_t *b, size_t more) {
        size_t size;
        char *p;

        if (b->err)
                return -1;
        if (more < b->size - b->len) /* room for more and the NUL */
                return 0;
        if (more > SIZE_MAX / 2 - b->len - 1) {
                b->err = 1;
                return -1;
        }
        size = b->size ? b->size : JBUF_MIN_SIZE;
        while (size < b->len + more + 1)
                size *= 2;
        if (!(p = realloc(b->ptr, size))) {
                b->err = 1;
                return -1;
        }
        b->ptr = p;
        b->size = size;
        return 0;
}

void svc_jbuf_put(svc_jbuf_t *b, const void *s, size_t n) {
        if (svc_jbuf_reserve(b, n))
                return;
        if (n) /* s may be NULL when n is 0 */
                memcpy(b->ptr + b->len, s, n);
        b->len += n;
        b->ptr[b->len] = '\0';
}

/* What follows the backslash of an escaped byte; 0: the byte stands as it is. The same
 * choice as jansson's dump_string() (src/dump.c). */
static const char escapes[256] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't', [0x00] = 'u',
    [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',  [0x05] = 'u', [0x06] = 'u',
    [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u',  [0x10] = 'u', [0x11] = 'u',
    [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u',  [0x16] = 'u', [0x17] = 'u',
    [0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u',  [0x1c] = 'u', [0x1d] = 'u',
    [0x1e] = 'u', [0x1f] = 'u', ['"'] = '"',  ['\\'] = '\\',
};

/* 1 when one of the eight bytes of w is below 0x20, '"' or '\\' (what escapes[] names). */
static int word_needs_escape(uint64_t w) {
        const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
        uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');

        return ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & highs) != 0;
}

void svc_jbuf_str(svc_jbuf_t *b, const char *s, size_t n) {
        static const char hex[] = "0123456789ABCDEF";
        size_t i = 0, run = 0;
        uint64_t w;

        /* the common case, nothing to escape, needs no second reservation */
        if (svc_jbuf_reserve(b, n + 2))
                return;
        b->ptr[b->len++] = '"';
        for (; i < n; i++) {
                unsigned char c;
                char e, *o;

                while (n - i >= sizeof(w)) { /* eight bytes at a time while none is escaped */
                        memcpy(&w, s + i, sizeof(w));
                        if (word_needs_escape(w))
                                break;
                        i += sizeof(w);
                }
                if (i == n)
                        break;
                c = (unsigned char)s[i];
                if (!(e = escapes[c]))
                        continue;
                svc_jbuf_put(b, s + run, i - run);
                run = i + 1;
                if (svc_jbuf_reserve(b, 6))
                        return;
                o = b->ptr + b->len;
                *o++ = '\\';
                *o++ = e;
                if (e == 'u') {
                        *o++ = '0';
                        *o++ = '0';
                        *o++ = hex[c >> 4];
                        *o++ = hex[c & 15];
                }
                b->len = (size_t)(o - b->ptr);
        }
        svc_jbuf_put(b, s + run, n - run);
        svc_jbuf_put(b, "\"", 1);
}

void svc_jbuf_cstr(svc_jbuf_t *b, const char *s) {
        if (s)
                svc_jbuf_str(b, s, strlen(s));
        else
                SVC_JBUF_LIT(b, "null");
}

/* Written out, not through snprintf(): the consumer writes a few integers per record. */
void svc_jbuf_int(svc_jbuf_t *b, long long v) {
        char num[24], *p = num + sizeof(num);
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

        do
                *--p = (char)('0' + u % 10);
        while ((u /= 10));
        if (v < 0)
                *--p = '-';
        svc_jbuf_put(b, p, (size_t)(num + sizeof(num) - p));
}

void svc_jbuf_truncate(svc_jbuf_t *b, size_t len) {
        b->err = 0;
        if (len < b->len)
                b->len = len;
        if (b->ptr)
                b->ptr[b->len] = '\0';
}

char *svc_jbuf_take(svc_jbuf_t *b, size_t *len) {
        char *p = b->err ? NULL : b->ptr;

        if (p) {
                *len = b->len;
                b->ptr = NULL;
        }
        svc_jbuf_free(b);
        return p;
}

void svc_jbuf_free(svc_jbuf_t *b) {
        if (!b)
                return;
        free(b->ptr);
        b->ptr = NULL;
        b->len = b->size = 0;
        b->err = 0;
}

size_t svc_jbuf_utf8_seq(const char *str, size_t left) {
        const unsigned char *s = (const unsigned char *)str;
        size_t n, i;
        unsigned cp;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (left < n)
                return 0;
        for (i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return n;
}

int svc_jbuf_utf8_valid(const char *s, size_t n) {
        size_t i = 0, k;
        uint64_t w;

        while (i < n) {
                if (n - i >= sizeof(w)) { /* ASCII, the common case: eight bytes at a time */
                        memcpy(&w, s + i, sizeof(w));
                        if (!(w & 0x8080808080808080u)) {
                                i += sizeof(w);
                                continue;
                        }
                }
                if ((unsigned char)s[i] < 0x80) {
                        i++;
                        continue;
                }
                if (!(k = svc_jbuf_utf8_seq(s + i, n - i)))
                        return 0;
                i += k;
        }
        return 1;
}
