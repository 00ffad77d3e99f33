/* dedupe.c - the window of requests one partition has seen: a reader that finds the parts
 * of a raw message a copy is judged by, and the store (consumer/README.md, "Copies").
 *
 * The store keeps its entries in a ring, in the order they were remembered, and finds them
 * through an open-addressing index (linear probing) on 64 bits of the request_id's
 * SHA-256: the bodies of one request_id sit on one probe run, so one walk answers both
 * "seen with this body" and "seen with another body". Expiry takes entries from the
 * ring's head; an entry forgotten out of order (rewind, a newer copy past the window) is
 * marked (offset -1) and skipped there. The ring is rebuilt, compacted, when it is full
 * or mostly empty. Single-threaded: the consumer's loop owns every store, and the digest
 * context below. */
#include "dedupe.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_VERSION 1
#define SCAN_MAX_DEPTH 64
#define RING_MIN 256 /* entries: the smallest ring kept */

/* ---- the reader: one walk over the raw message, nothing built ---- */

struct scan {
        const char *p, *end;
        int depth;
};

struct span {
        const char *p;
        size_t n;
};

static void scan_ws(struct scan *s) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
                s->p++;
}

/* A string at s->p: *in is its text between the quotes, *escaped whether it holds a
 * backslash. */
static int scan_string(struct scan *s, struct span *in, int *escaped) {
        const char *start = ++s->p;

        *escaped = 0;
        while (s->p < s->end && *s->p != '"') {
                if ((unsigned char)*s->p < 0x20)
                        return -1;
                if (*s->p == '\\') {
                        *escaped = 1;
                        if (++s->p == s->end)
                                return -1;
                }
                s->p++;
        }
        if (s->p == s->end)
                return -1;
        in->p = start;
        in->n = (size_t)(s->p - start);
        s->p++;
        return 0;
}

/* A number; *integer is set (and 1 returned) for an integer of at most 18 digits. */
static int scan_number(struct scan *s, long long *integer) {
        const char *digits;
        int neg = *s->p == '-', is_int = 1;
        long long v = 0;

        s->p += neg;
        digits = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
                if (s->p - digits < 18)
                        v = v * 10 + (*s->p - '0');
                else
                        is_int = 0;
                s->p++;
        }
        if (s->p == digits)
                return -1;
        if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')) {
                is_int = 0;
                while (s->p < s->end && *s->p && strchr("0123456789.eE+-", *s->p))
                        s->p++;
        }
        *integer = neg ? -v : v;
        return is_int;
}

static int scan_value(struct scan *s, size_t *elems);

/* An object or an array at s->p; *elems: its members or elements. */
static int scan_container(struct scan *s, size_t *elems) {
        char close = *s->p == '{' ? '}' : ']';
        struct span key;
        int escaped;

        *elems = 0;
        if (++s->depth > SCAN_MAX_DEPTH)
                return -1;
        s->p++;
        scan_ws(s);
        if (s->p < s->end && *s->p == close) {
                s->p++;
                s->depth--;
                return 0;
        }
        for (;;) {
                size_t ignored;
                if (close == '}') {
                        if (s->p == s->end || *s->p != '"' || scan_string(s, &key, &escaped) == -1)
                                return -1;
                        scan_ws(s);
                        if (s->p == s->end || *s->p++ != ':')
                                return -1;
                        scan_ws(s);
                }
                if (scan_value(s, &ignored) == -1)
                        return -1;
                ++*elems;
                scan_ws(s);
                if (s->p < s->end && *s->p == ',') {
                        s->p++;
                        scan_ws(s);
                        continue;
                }
                if (s->p < s->end && *s->p == close) {
                        s->p++;
                        s->depth--;
                        return 0;
                }
                return -1;
        }
}

static int scan_literal(struct scan *s, const char *word) {
        size_t n = strlen(word);

        if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n))
                return -1;
        s->p += n;
        return 0;
}

/* Any value; *elems: entries of an array (0 for anything else). */
static int scan_value(struct scan *s, size_t *elems) {
        struct span str;
        long long num;
        int escaped;

        *elems = 0;
        if (s->p == s->end)
                return -1;
        switch (*s->p) {
        case '"': return scan_string(s, &str, &escaped);
        case '{': return scan_container(s, elems) == -1 ? -1 : (*elems = 0, 0);
        case '[': return scan_container(s, elems);
        case 't': return scan_literal(s, "true");
        case 'f': return scan_literal(s, "false");
        case 'n': return scan_literal(s, "null");
        default: return scan_number(s, &num) == -1 ? -1 : 0;
        }
}

static int key_is(const struct span *key, const char *name) {
        return key->n == strlen(name) && !memcmp(key->p, name, key->n);
}

/* The payload's events (the last "events" member, as jansson keeps the last of duplicate
 * names): its entries when it is an array of 1 to 1000, else 1 (one dead letter). */
static size_t payload_events(const char *p, size_t n) {
        struct scan s = {p, p + n, 0};
        struct span key;
        size_t events = 1, cnt;
        int escaped;

        if (s.p == s.end || *s.p != '{')
                return 1;
        s.p++;
        for (scan_ws(&s); s.p < s.end && *s.p == '"'; scan_ws(&s)) {
                if (scan_string(&s, &key, &escaped) == -1)
                        return 1;
                scan_ws(&s);
                if (s.p == s.end || *s.p++ != ':')
                        return 1;
                scan_ws(&s);
                if (scan_value(&s, &cnt) == -1)
                        return 1;
                if (key_is(&key, "events"))
                        events = cnt >= 1 && cnt <= 1000 ? cnt : 1;
                scan_ws(&s);
                if (s.p < s.end && *s.p == ',')
                        s.p++;
                scan_ws(&s);
        }
        return events;
}

/* SHA-256, fetched once: EVP_sha256() looks the provider up at every init. */
static EVP_MD *sha256_md;
static EVP_MD_CTX *sha256_ctx;

/* SHA-256 of a, b and c one after the other. */
static int sha256(const void *a, size_t a_len, const void *b, size_t b_len, const void *c,
                  size_t c_len, unsigned char *md) {
        unsigned int md_len;

        if (!sha256_md && !(sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)))
                return -1;
        if (!sha256_ctx && !(sha256_ctx = EVP_MD_CTX_new()))
                return -1;
        return EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) &&
                       EVP_DigestUpdate(sha256_ctx, a, a_len) &&
                       EVP_DigestUpdate(sha256_ctx, b, b_len) &&
                       EVP_DigestUpdate(sha256_ctx, c, c_len) &&
                       EVP_DigestFinal_ex(sha256_ctx, md, &md_len)
                   ? 0
                   : -1;
}

static void put_be64(unsigned char *p, uint64_t v) {
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

/* Digests request_id (its decoded text, so that two spellings of one id are one) and the
 * payload's bytes. */
static int digest_msg(const struct span *rid, int escaped, const struct span *payload,
                      struct svc_dedupe_msg *msg) {
        unsigned char md[32], len[8];
        json_t *str = NULL;
        const char *id = rid->p;
        size_t id_len = rid->n;
        int ret = -1;

        if (escaped) {
                if (!(str = json_loadb(rid->p - 1, rid->n + 2, JSON_DECODE_ANY, NULL)) ||
                    !json_is_string(str))
                        goto out;
                id = json_string_value(str);
                id_len = json_string_length(str);
        }
        put_be64(len, id_len); /* the length first: no id + payload pair is another's */
        if (sha256(len, sizeof(len), id, id_len, payload->p, payload->n, md) == -1)
                goto out;
        memcpy(msg->digest, md, SVC_DEDUPE_DIGEST_LEN);
        if (sha256(id, id_len, "", 0, "", 0, md) == -1)
                goto out;
        msg->rid = get_be64(md);
        ret = 0;
out:
        json_decref(str);
        return ret;
}

int svc_dedupe_read(const char *raw, size_t raw_len, struct svc_dedupe_msg *msg) {
        struct scan s = {raw, raw, 1};
        struct span key, rid = {NULL, 0}, payload = {NULL, 0}, str;
        int rid_escaped = 0, escaped, have_time = 0;
        size_t cnt;

        if (!raw)
                return -1;
        s.end = raw + raw_len;
        scan_ws(&s);
        if (s.p == s.end || *s.p++ != '{')
                return -1;
        scan_ws(&s);
        while (s.p < s.end && *s.p == '"') {
                if (scan_string(&s, &key, &escaped) == -1 || escaped)
                        return -1; /* a name jansson would decode: leave it to the transform */
                scan_ws(&s);
                if (s.p == s.end || *s.p++ != ':')
                        return -1;
                scan_ws(&s);
                const char *value = s.p;
                if (key_is(&key, "request_id")) {
                        if (s.p == s.end || *s.p != '"' || scan_string(&s, &str, &escaped) == -1)
                                return -1;
                        rid = str, rid_escaped = escaped;
                } else if (key_is(&key, "received_at")) {
                        if (s.p == s.end || scan_number(&s, &msg->received_at) != 1)
                                return -1;
                        have_time = 1;
                } else {
                        if (scan_value(&s, &cnt) == -1)
                                return -1;
                        if (key_is(&key, "payload"))
                                payload.p = value, payload.n = (size_t)(s.p - value);
                }
                scan_ws(&s);
                if (s.p < s.end && *s.p == ',') {
                        s.p++;
                        scan_ws(&s);
                        if (s.p == s.end || *s.p != '"')
                                return -1;
                } else if (s.p < s.end && *s.p == '}') {
                        break;
                } else {
                        return -1;
                }
        }
        if (s.p == s.end || *s.p++ != '}')
                return -1;
        scan_ws(&s);
        if (s.p != s.end || !rid.p || !payload.p || !have_time)
                return -1;
        msg->events = payload_events(payload.p, payload.n);
        return digest_msg(&rid, rid_escaped, &payload, msg);
}

/* ---- the store ---- */

struct svc_dedupe {
        long long window_ms;
        struct svc_dedupe_entry *ring; /* entries by the order they were remembered */
        size_t ring_size;              /* a power of two */
        uint64_t head, tail;           /* sequence numbers: slot = seq & (ring_size - 1) */
        size_t live;                   /* entries not forgotten */
        uint32_t *index;               /* slot + 1 of each live entry, 0: free */
        size_t index_size;             /* 2 x ring_size */
        long long newest;              /* the latest received_at of the live entries */
};

static size_t home(const svc_dedupe_t *dd, uint64_t rid) {
        return (size_t)(rid & (dd->index_size - 1));
}

static void index_add(svc_dedupe_t *dd, size_t slot) {
        size_t i = home(dd, dd->ring[slot].rid);

        while (dd->index[i])
                i = (i + 1) & (dd->index_size - 1);
        dd->index[i] = (uint32_t)slot + 1;
}

/* Takes slot out of the index (backward-shift deletion: no tombstones in the index). */
static void index_del(svc_dedupe_t *dd, size_t slot) {
        size_t mask = dd->index_size - 1, i = home(dd, dd->ring[slot].rid), j;

        while (dd->index[i] != slot + 1)
                i = (i + 1) & mask;
        for (j = i;;) {
                j = (j + 1) & mask;
                if (!dd->index[j])
                        break;
                size_t k = home(dd, dd->ring[dd->index[j] - 1].rid);
                /* The entry at j stays when its home lies cyclically in (i, j]. */
                if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                        continue;
                dd->index[i] = dd->index[j];
                i = j;
        }
        dd->index[i] = 0;
}

/* Forgets the entry in slot. */
static void forget(svc_dedupe_t *dd, size_t slot) {
        index_del(dd, slot);
        dd->ring[slot].offset = -1;
        dd->live--;
}

/* A ring of size entries holding the live ones, in order, and its index. */
static int rebuild(svc_dedupe_t *dd, size_t size) {
        struct svc_dedupe_entry *ring = malloc(size * sizeof(*ring));
        uint32_t *index = calloc(2 * size, sizeof(*index));
        size_t n = 0;

        if (!ring || !index) {
                free(ring);
                free(index);
                return -1;
        }
        for (uint64_t seq = dd->head; seq < dd->tail; seq++) {
                const struct svc_dedupe_entry *e = &dd->ring[seq & (dd->ring_size - 1)];
                if (e->offset >= 0)
                        ring[n++] = *e;
        }
        free(dd->ring);
        free(dd->index);
        dd->ring = ring, dd->ring_size = size;
        dd->index = index, dd->index_size = 2 * size;
        dd->head = 0, dd->tail = n;
        for (size_t slot = 0; slot < n; slot++)
                index_add(dd, slot);
        return 0;
}

svc_dedupe_t *svc_dedupe_new(long long window_ms) {
        svc_dedupe_t *dd = calloc(1, sizeof(*dd));

        if (!dd)
                return NULL;
        dd->window_ms = window_ms;
        if (rebuild(dd, RING_MIN) == -1) {
                free(dd);
                return NULL;
        }
        return dd;
}

void svc_dedupe_destroy(svc_dedupe_t *dd) {
        if (!dd)
                return;
        free(dd->ring);
        free(dd->index);
        free(dd);
}

/* Room for one more entry: a full ring is rebuilt, twice as large unless it is half
 * forgotten entries. Slots change: call it before looking anything up. */
static int make_room(svc_dedupe_t *dd) {
        if (dd->tail - dd->head < dd->ring_size)
                return 0;
        return rebuild(dd, dd->live * 2 >= dd->ring_size ? dd->ring_size * 2 : dd->ring_size);
}

/* Appends e, a new live entry, after make_room(). */
static void append(svc_dedupe_t *dd, const struct svc_dedupe_entry *e) {
        size_t slot = dd->tail++ & (dd->ring_size - 1);
        dd->ring[slot] = *e;
        index_add(dd, slot);
        if (!dd->live++ || e->received_at > dd->newest)
                dd->newest = e->received_at;
}

/* The slot of the live entry with this digest, or -1. */
static long find(const svc_dedupe_t *dd, uint64_t rid, const unsigned char *digest) {
        for (size_t i = home(dd, rid); dd->index[i]; i = (i + 1) & (dd->index_size - 1)) {
                size_t slot = dd->index[i] - 1;
                if (dd->ring[slot].rid == rid &&
                    !memcmp(dd->ring[slot].digest, digest, SVC_DEDUPE_DIGEST_LEN))
                        return (long)slot;
        }
        return -1;
}

static long long distance(long long a, long long b) {
        return a > b ? a - b : b - a;
}

int svc_dedupe_check(svc_dedupe_t *dd, const struct svc_dedupe_msg *msg, int64_t offset,
                     struct svc_dedupe_entry *entry) {
        int other_body = 0;
        long stale = -1; /* the same request, remembered too long before: replaced */

        if (make_room(dd) == -1)
                return -1; /* nothing changed */
        for (size_t i = home(dd, msg->rid); dd->index[i]; i = (i + 1) & (dd->index_size - 1)) {
                const struct svc_dedupe_entry *e = &dd->ring[dd->index[i] - 1];
                if (e->rid != msg->rid)
                        continue;
                int same = !memcmp(e->digest, msg->digest, SVC_DEDUPE_DIGEST_LEN);
                if (distance(e->received_at, msg->received_at) > dd->window_ms) {
                        if (same)
                                stale = (long)(dd->index[i] - 1);
                        continue;
                }
                if (same)
                        return SVC_DEDUPE_COPY;
                other_body = 1;
        }
        memcpy(entry->digest, msg->digest, SVC_DEDUPE_DIGEST_LEN);
        entry->rid = msg->rid;
        entry->received_at = msg->received_at;
        entry->offset = offset;
        if (stale >= 0) /* one entry per digest: its tombstone would forget the new one */
                forget(dd, (size_t)stale);
        append(dd, entry);
        return other_body ? SVC_DEDUPE_NEW_BODY : SVC_DEDUPE_NEW;
}

/* The latest received_at of the live entries, after some were forgotten. */
static void recompute_newest(svc_dedupe_t *dd) {
        int first = 1;

        for (uint64_t seq = dd->head; seq < dd->tail; seq++) {
                const struct svc_dedupe_entry *e = &dd->ring[seq & (dd->ring_size - 1)];
                if (e->offset >= 0 && (first || e->received_at > dd->newest))
                        dd->newest = e->received_at, first = 0;
        }
}

size_t svc_dedupe_expire(svc_dedupe_t *dd, svc_dedupe_forgot_t *forgot, void *opaque) {
        size_t n = 0;

        while (dd->head < dd->tail) {
                size_t slot = dd->head & (dd->ring_size - 1);
                const struct svc_dedupe_entry *e = &dd->ring[slot];
                if (e->offset >= 0) {
                        if (dd->newest - e->received_at <= dd->window_ms)
                                break;
                        if (forgot)
                                forgot(opaque, e);
                        forget(dd, slot);
                        n++;
                }
                dd->head++;
        }
        /* Memory follows the window down too (at least a quarter of the ring in use). */
        if (dd->ring_size > RING_MIN && dd->live * 8 < dd->ring_size) {
                size_t size = RING_MIN;
                while (size < dd->live * 2)
                        size *= 2;
                (void)rebuild(dd, size); /* out of memory: the larger ring stays */
        }
        return n;
}

void svc_dedupe_rewind(svc_dedupe_t *dd, int64_t offset) {
        if (offset < 0)
                offset = 0;
        for (uint64_t seq = dd->head; seq < dd->tail; seq++) {
                size_t slot = seq & (dd->ring_size - 1);
                if (dd->ring[slot].offset >= offset)
                        forget(dd, slot);
        }
        while (dd->tail > dd->head && dd->ring[(dd->tail - 1) & (dd->ring_size - 1)].offset < 0)
                dd->tail--;
        recompute_newest(dd);
}

void svc_dedupe_encode(const struct svc_dedupe_entry *entry, unsigned char *key,
                       unsigned char *value) {
        put_be64(key, entry->rid);
        memcpy(key + 8, entry->digest, SVC_DEDUPE_DIGEST_LEN);
        if (!value)
                return;
        value[0] = VALUE_VERSION;
        put_be64(value + 1, (uint64_t)entry->received_at);
        put_be64(value + 9, (uint64_t)entry->offset);
}

int svc_dedupe_restore(svc_dedupe_t *dd, const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t committed) {
        const unsigned char *k = key, *v = value;
        struct svc_dedupe_entry e;
        long slot;

        if (!key || key_len != SVC_DEDUPE_KEY_LEN)
                return SVC_DEDUPE_UNREADABLE;
        e.rid = get_be64(k);
        memcpy(e.digest, k + 8, SVC_DEDUPE_DIGEST_LEN);
        if (value) {
                if (value_len != SVC_DEDUPE_VALUE_LEN || v[0] != VALUE_VERSION)
                        return SVC_DEDUPE_UNREADABLE;
                e.received_at = (long long)get_be64(v + 1);
                e.offset = (int64_t)get_be64(v + 9);
                if (e.offset < 0)
                        return SVC_DEDUPE_UNREADABLE;
                /* Only below the committed offset is the transaction that wrote it known
                 * to have committed: a broker may show aborted or open ones too. */
                if (committed < 0 || e.offset >= committed)
                        return SVC_DEDUPE_UNTRUSTED;
        }
        if (make_room(dd) == -1)
                return -1;
        /* newest stays the latest of every entry restored: a tombstone forgets an old one */
        if ((slot = find(dd, e.rid, e.digest)) >= 0)
                forget(dd, (size_t)slot);
        if (!value)
                return SVC_DEDUPE_TOMBSTONE;
        append(dd, &e);
        return SVC_DEDUPE_RESTORED;
}

void svc_dedupe_tag(const unsigned char *digest, char *tag, size_t tag_size) {
        static const char hex[] = "0123456789abcdef";
        size_t i;

        for (i = 0; i < SVC_DEDUPE_DIGEST_LEN && 2 * i + 2 < tag_size; i++) {
                tag[2 * i] = hex[digest[i] >> 4];
                tag[2 * i + 1] = hex[digest[i] & 15];
        }
        if (tag_size)
                tag[2 * i < tag_size ? 2 * i : tag_size - 1] = '\0';
}

void svc_dedupe_stats(const svc_dedupe_t *dd, size_t *cnt, size_t *bytes) {
        *cnt = dd->live;
        *bytes =
            sizeof(*dd) + dd->ring_size * sizeof(*dd->ring) + dd->index_size * sizeof(*dd->index);
}
