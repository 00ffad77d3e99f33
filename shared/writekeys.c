/* writekeys.c - the key file's parser and the lookup over a parsed set (writekeys.h).
 * Pure: reads only the caller's text. Threads: any; a set is read-only once parsed.
 * Memory: a set is one allocation of entries, sorted by key for bsearch. */
#include "writekeys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
        char key[SVC_WRITEKEY_MAX + 1];
        int line; /* where it is written */
        struct svc_writekey wk;
};

struct svc_writekeys {
        struct entry *entries;
        size_t cnt;
};

/* FNV-1a, 64 bits: the limits' table tells keys apart by it (never 0). */
static uint64_t key_hash(const char *key, size_t len) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char)key[i]) * 0x100000001b3ULL;
        return h ? h : 1;
}

static int all_of(const char *s, size_t len, const char *extra) {
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      (c && strchr(extra, c))))
                        return 0;
        }
        return 1;
}

/* A count of events: 1 to SVC_WRITEKEY_RATE_MAX, decimal digits only. */
static int parse_count(const char *s, size_t len, uint32_t *out) {
        uint32_t v = 0;

        if (!len || len > 7)
                return -1;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (uint32_t)(s[i] - '0');
        }
        if (v < 1 || v > SVC_WRITEKEY_RATE_MAX)
                return -1;
        *out = v;
        return 0;
}

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

static int is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r';
}

/* Parses one line (without its LF) into e. Returns NULL, or why it is bad. */
static const char *parse_line(const char *p, const char *end, struct entry *e, int *empty) {
        const char *field[5];
        size_t len[5], n = 0;

        memset(e, 0, sizeof(*e));
        if (memchr(p, '#', (size_t)(end - p)))
                end = memchr(p, '#', (size_t)(end - p));
        while (p < end) {
                while (p < end && is_blank(*p))
                        p++;
                if (p == end)
                        break;
                if (n == 4)
                        return "more than 4 fields (<key> <source> [<events per second> "
                               "[<burst>]])";
                field[n] = p;
                while (p < end && !is_blank(*p))
                        p++;
                len[n] = (size_t)(p - field[n]);
                n++;
        }
        *empty = n == 0;
        if (!n)
                return NULL;
        if (len[0] < SVC_WRITEKEY_MIN || len[0] > SVC_WRITEKEY_MAX ||
            !all_of(field[0], len[0], "_-"))
                return "the key must be 16 to 128 characters of A-Z a-z 0-9 _ -";
        if (n < 2)
                return "a key without a source (<key> <source> [<events per second> [<burst>]])";
        if (len[1] > SVC_WRITEKEY_SOURCE_MAX || !all_of(field[1], len[1], "._-"))
                return "the source must be 1 to 64 characters of A-Z a-z 0-9 . _ -";
        if (n >= 3 && parse_count(field[2], len[2], &e->wk.rate) == -1)
                return "events per second must be a whole number from 1 to 1000000";
        e->wk.burst = e->wk.rate;
        if (n == 4 && parse_count(field[3], len[3], &e->wk.burst) == -1)
                return "the burst must be a whole number from 1 to 1000000";
        memcpy(e->key, field[0], len[0]);
        memcpy(e->wk.source, field[1], len[1]);
        e->wk.id = key_hash(field[0], len[0]);
        return NULL;
}

svc_writekeys_t *svc_writekeys_parse(const char *text, size_t text_len, int *err_line, char *errstr,
                                     size_t errstr_size) {
        svc_writekeys_t *wk = calloc(1, sizeof(*wk));
        const char *p = text, *end = text + text_len, *why;
        size_t cap = 0;
        int line = 0;

        *err_line = 0;
        if (!wk)
                goto oom;
        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                struct entry e;
                int empty;

                if (!eol)
                        eol = end;
                line++;
                if ((why = parse_line(p, eol, &e, &empty))) {
                        snprintf(errstr, errstr_size, "line %d: %s", line, why);
                        goto bad;
                }
                p = eol + (eol < end);
                if (empty)
                        continue;
                e.line = line;
                if (wk->cnt == SVC_WRITEKEYS_MAX) {
                        snprintf(errstr, errstr_size, "line %d: more than %d keys", line,
                                 SVC_WRITEKEYS_MAX);
                        goto bad;
                }
                if (wk->cnt == cap) {
                        struct entry *grown;
                        cap = cap ? cap * 2 : 16;
                        if (!(grown = realloc(wk->entries, cap * sizeof(*grown))))
                                goto oom;
                        wk->entries = grown;
                }
                wk->entries[wk->cnt++] = e;
        }
        if (wk->cnt)
                qsort(wk->entries, wk->cnt, sizeof(*wk->entries), entry_cmp);
        /* Sorted, copies are neighbours: name the first line that repeats a key. */
        line = 0;
        for (size_t i = 1; i < wk->cnt; i++)
                if (!strcmp(wk->entries[i - 1].key, wk->entries[i].key)) {
                        int later = wk->entries[i - 1].line > wk->entries[i].line
                                        ? wk->entries[i - 1].line
                                        : wk->entries[i].line;
                        if (!line || later < line)
                                line = later;
                }
        if (line) {
                snprintf(errstr, errstr_size, "line %d: the key is already on an earlier line",
                         line);
                goto bad;
        }
        return wk;
oom:
        line = 0;
        snprintf(errstr, errstr_size, "out of memory");
bad:
        *err_line = line;
        svc_writekeys_destroy(wk);
        return NULL;
}

size_t svc_writekeys_cnt(const svc_writekeys_t *wk) {
        return wk->cnt;
}

const struct svc_writekey *svc_writekeys_find(const svc_writekeys_t *wk, const char *key,
                                              size_t key_len) {
        struct entry probe;
        const struct entry *e;

        if (key_len < SVC_WRITEKEY_MIN || key_len > SVC_WRITEKEY_MAX || !wk->cnt)
                return NULL;
        memcpy(probe.key, key, key_len);
        probe.key[key_len] = '\0';
        if (strlen(probe.key) != key_len)
                return NULL; /* a NUL inside */
        e = bsearch(&probe, wk->entries, wk->cnt, sizeof(*wk->entries), entry_cmp);
        return e ? &e->wk : NULL;
}

void svc_writekeys_destroy(svc_writekeys_t *wk) {
        if (!wk)
                return;
        free(wk->entries);
        free(wk);
}
