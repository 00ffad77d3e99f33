/* test_dedupe.c - the consumer's window of requests: reading raw messages, copies at the
 * edge of the window, another body under one request_id, rewind, and restore from a
 * changelog with tombstones, entries of an unfinished transaction and unreadable records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../consumer/dedupe.h"
#include "tap.h"

#define BODY1 "{\"events\":[{\"event_type\":\"a\",\"event_time\":1,\"user_id\":\"u\"}]}"
#define BODY2 "{\"events\":[{\"event_type\":\"b\",\"event_time\":1,\"user_id\":\"u\"}]}"

/* A raw message as /collect writes it. */
static struct svc_dedupe_msg msg(const char *rid, long long received_at, const char *body) {
        char raw[1024];
        struct svc_dedupe_msg m;
        int n =
            snprintf(raw, sizeof(raw),
                     "{\"request_id\":\"%s\",\"received_at\":%lld,\"client_ip\":\"10.0.0.%lld\","
                     "\"user_agent\":\"ua\",\"payload\":%s}",
                     rid, received_at, received_at % 200, body);
        memset(&m, 0, sizeof(m));
        if (svc_dedupe_read(raw, (size_t)n, &m) == -1)
                printf("# unreadable: %s\n", raw);
        return m;
}

/* The verdict for m as the message at offset. */
static int check(svc_dedupe_t *dd, struct svc_dedupe_msg m, int64_t offset) {
        struct svc_dedupe_entry e;
        return svc_dedupe_check(dd, &m, offset, &e);
}

static void test_read(void) {
        static const struct {
                const char *raw;
                int ret;
                size_t events;
                const char *label;
        } cases[] = {
            {"{\"request_id\":\"r\",\"received_at\":5,\"payload\":" BODY1 "}", 0, 1, "plain"},
            {" {\"payload\":{\"events\":[1,2,3]},\"received_at\":-5,\"request_id\":\"r\"} ", 0, 3,
             "any order, spaces, three events"},
            {"{\"request_id\":\"r\",\"received_at\":5,\"payload\":{}}", 0, 1,
             "no events: one letter"},
            {"{\"request_id\":\"r\",\"received_at\":5,\"payload\":\"x\"}", 0, 1,
             "payload not an object"},
            {"{\"request_id\":\"r\",\"received_at\":5}", -1, 0, "no payload"},
            {"{\"request_id\":\"r\",\"payload\":{}}", -1, 0, "no received_at"},
            {"{\"request_id\":\"r\",\"received_at\":5.5,\"payload\":{}}", -1, 0,
             "received_at not an integer"},
            {"{\"request_id\":7,\"received_at\":5,\"payload\":{}}", -1, 0, "request_id a number"},
            {"{\"received_at\":5,\"payload\":{}}", -1, 0, "no request_id"},
            {"{\"request\\u005fid\":\"r\",\"received_at\":5,\"payload\":{}}", -1, 0,
             "an escaped member name"},
            {"{\"request_id\":\"r\",\"received_at\":5,\"payload\":{}} x", -1, 0,
             "text after the object"},
            {"{\"request_id\":\"r\",\"received_at\":5,\"payload\":{\"a\":[}}", -1, 0,
             "a broken payload"},
            {"{\"request_id\":\"r\",\"received_at\":5,\"payload\":{},}", -1, 0, "trailing comma"},
            {"{\"request_id\":\"r\",\"received_at\":5,\"payload\":{\"a\":\"\x01\"}}", -1, 0,
             "a control character in a string"},
            {"[1]", -1, 0, "not an object"},
            {"", -1, 0, "empty"},
            {"{\"request_id\":\"r", -1, 0, "incomplete 1"},
            {"{\"request_id\":\"r\",\"received_at\":5,\"payload\":{\"events\":[1]", -1, 0,
             "incomplete 2"},
            {NULL, 0, 0, NULL},
        };
        for (int i = 0; cases[i].raw; i++) {
                struct svc_dedupe_msg m = {.events = 0};
                int ret = svc_dedupe_read(cases[i].raw, strlen(cases[i].raw), &m);
                is_int(ret, cases[i].ret, "read: %s", cases[i].label);
                if (ret == 0)
                        is_int(m.events, cases[i].events, "read: %s: events", cases[i].label);
        }

        struct svc_dedupe_msg a = msg("r1", 1, BODY1), b = msg("r1", 99, BODY1),
                              c = msg("r1", 1, BODY2), d = msg("r2", 1, BODY1);
        ok(!memcmp(a.digest, b.digest, sizeof(a.digest)) && a.rid == b.rid,
           "envelope fields other than request_id and payload do not count");
        ok(memcmp(a.digest, c.digest, sizeof(a.digest)) && a.rid == c.rid,
           "another body: another digest, the same request_id");
        ok(memcmp(a.digest, d.digest, sizeof(a.digest)) && a.rid != d.rid,
           "another request_id: another digest");
        struct svc_dedupe_msg e = msg("r\\u0031", 1, BODY1);
        ok(!memcmp(a.digest, e.digest, sizeof(a.digest)) && a.rid == e.rid,
           "request_id compared as text, not as its spelling");
        const char *dup = "{\"request_id\":\"r1\",\"received_at\":1,\"payload\":{\"x\":1},"
                          "\"payload\":" BODY1 "}";
        struct svc_dedupe_msg f;
        ok(svc_dedupe_read(dup, strlen(dup), &f) == 0 &&
               !memcmp(a.digest, f.digest, sizeof(a.digest)),
           "a repeated member: the last one counts, as in the transform");
}

static void test_window_edge(void) {
        svc_dedupe_t *dd = svc_dedupe_new(1000);
        struct svc_dedupe_msg a0 = msg("a", 0, BODY1);

        is_int(check(dd, a0, 0), SVC_DEDUPE_NEW, "edge: first is new");
        is_int(check(dd, msg("a", 1000, BODY1), 1), SVC_DEDUPE_COPY,
               "edge: a copy window_ms later is a copy");
        is_int(check(dd, msg("a", -1000, BODY1), 2), SVC_DEDUPE_COPY,
               "edge: a copy window_ms earlier is a copy");
        is_int(check(dd, msg("a", 1001, BODY1), 3), SVC_DEDUPE_NEW,
               "edge: window_ms + 1 later is not a copy (remembered anew)");
        is_int(check(dd, msg("a", 2001, BODY1), 4), SVC_DEDUPE_COPY,
               "edge: ... and copies are measured from the new one");
        is_int(check(dd, msg("a", 0, BODY1), 5), SVC_DEDUPE_NEW,
               "edge: the old one was replaced, not kept beside it");
        svc_dedupe_destroy(dd);

        /* Expiry: forgotten once the newest is more than window_ms later. */
        dd = svc_dedupe_new(1000);
        is_int(check(dd, msg("x", 0, BODY1), 0), SVC_DEDUPE_NEW, "expire: x at 0");
        is_int(check(dd, msg("y", 1000, BODY1), 1), SVC_DEDUPE_NEW, "expire: y at 1000");
        is_int(svc_dedupe_expire(dd, NULL, NULL), 0, "expire: x at exactly window_ms: kept");
        is_int(check(dd, msg("z", 1001, BODY1), 2), SVC_DEDUPE_NEW, "expire: z at 1001");
        struct svc_dedupe_msg x = msg("x", 0, BODY1);
        is_int(svc_dedupe_expire(dd, NULL, NULL), 1, "expire: x at window_ms + 1: forgotten");
        size_t cnt, bytes;
        svc_dedupe_stats(dd, &cnt, &bytes);
        is_int(cnt, 2, "expire: two remembered");
        is_int(check(dd, x, 3), SVC_DEDUPE_NEW, "expire: x again is new");
        svc_dedupe_destroy(dd);
}

/* Collects the keys svc_dedupe_expire() reports. */
struct forgotten {
        unsigned char keys[8][SVC_DEDUPE_KEY_LEN];
        int cnt;
};

static void on_forgot(void *opaque, const struct svc_dedupe_entry *e) {
        struct forgotten *f = opaque;
        if (f->cnt < 8)
                svc_dedupe_encode(e, f->keys[f->cnt++], NULL);
}

static void test_expire_reports(void) {
        svc_dedupe_t *dd = svc_dedupe_new(10);
        struct forgotten f = {.cnt = 0};
        struct svc_dedupe_entry e1, e2;
        unsigned char key[SVC_DEDUPE_KEY_LEN];
        struct svc_dedupe_msg m1 = msg("p", 0, BODY1), m2 = msg("q", 5, BODY1);

        is_int(svc_dedupe_check(dd, &m1, 0, &e1), SVC_DEDUPE_NEW, "report: p at 0");
        is_int(svc_dedupe_check(dd, &m2, 1, &e2), SVC_DEDUPE_NEW, "report: q at 5");
        is_int(check(dd, msg("r", 16, BODY1), 2), SVC_DEDUPE_NEW, "report: r at 16");
        is_int(svc_dedupe_expire(dd, on_forgot, &f), 2, "report: p and q forgotten");
        svc_dedupe_encode(&e1, key, NULL);
        ok(f.cnt == 2 && !memcmp(f.keys[0], key, sizeof(key)), "report: p first, by its key");
        svc_dedupe_encode(&e2, key, NULL);
        ok(f.cnt == 2 && !memcmp(f.keys[1], key, sizeof(key)), "report: then q");
        svc_dedupe_destroy(dd);
}

static void test_other_body(void) {
        svc_dedupe_t *dd = svc_dedupe_new(86400000);
        char tag[SVC_DEDUPE_TAG_LEN + 1];
        struct svc_dedupe_msg b = msg("r", 20, BODY2);

        is_int(check(dd, msg("r", 10, BODY1), 0), SVC_DEDUPE_NEW, "body: first body is new");
        is_int(check(dd, b, 1), SVC_DEDUPE_NEW_BODY,
               "body: the same id with another body is new, with a tag");
        is_int(check(dd, msg("r", 30, BODY2), 2), SVC_DEDUPE_COPY,
               "body: a copy of the second body is a copy");
        is_int(check(dd, msg("r", 40, BODY1), 3), SVC_DEDUPE_COPY,
               "body: a copy of the first body is a copy");
        is_int(check(dd, msg("s", 40, BODY1), 4), SVC_DEDUPE_NEW,
               "body: the first body under another id is new");
        svc_dedupe_tag(b.digest, tag, sizeof(tag));
        ok(strlen(tag) == SVC_DEDUPE_TAG_LEN && strspn(tag, "0123456789abcdef") == strlen(tag),
           "body: the tag is 32 lower-case hex digits (%s)", tag);
        svc_dedupe_destroy(dd);
}

static void test_rewind(void) {
        svc_dedupe_t *dd = svc_dedupe_new(1000);
        size_t cnt, bytes;

        for (int i = 0; i < 5; i++) {
                char rid[8];
                snprintf(rid, sizeof(rid), "w%d", i);
                (void)check(dd, msg(rid, i, BODY1), 10 + i);
        }
        svc_dedupe_rewind(dd, 12);
        svc_dedupe_stats(dd, &cnt, &bytes);
        is_int(cnt, 2, "rewind: the messages at offsets 12-14 are forgotten");
        is_int(check(dd, msg("w1", 1, BODY1), 11), SVC_DEDUPE_COPY, "rewind: offset 11 kept");
        is_int(check(dd, msg("w2", 2, BODY1), 12), SVC_DEDUPE_NEW,
               "rewind: offset 12 is new again");
        svc_dedupe_destroy(dd);
}

/* A changelog record of m as the message at offset (value NULL: its tombstone). */
static void record(const struct svc_dedupe_msg *m, int64_t offset, unsigned char *key,
                   unsigned char *value) {
        struct svc_dedupe_entry e;
        memcpy(e.digest, m->digest, sizeof(e.digest));
        e.rid = m->rid, e.received_at = m->received_at, e.offset = offset;
        svc_dedupe_encode(&e, key, value);
}

static void test_restore(void) {
        svc_dedupe_t *dd = svc_dedupe_new(1000);
        unsigned char k[SVC_DEDUPE_KEY_LEN], v[SVC_DEDUPE_VALUE_LEN];
        struct svc_dedupe_msg m1 = msg("m1", 100, BODY1), m2 = msg("m2", 101, BODY1),
                              m3 = msg("m3", 102, BODY1), m4 = msg("m4", 103, BODY1),
                              m5 = msg("m5", 104, BODY1);
        const int64_t committed = 4; /* messages 0-3 committed */

        record(&m1, 0, k, v);
        is_int(svc_dedupe_restore(dd, k, sizeof(k), v, sizeof(v), committed), SVC_DEDUPE_RESTORED,
               "restore: m1 (offset 0)");
        record(&m2, 1, k, v);
        is_int(svc_dedupe_restore(dd, k, sizeof(k), v, sizeof(v), committed), SVC_DEDUPE_RESTORED,
               "restore: m2 (offset 1)");
        record(&m1, 0, k, NULL);
        is_int(svc_dedupe_restore(dd, k, sizeof(k), NULL, 0, committed), SVC_DEDUPE_TOMBSTONE,
               "restore: m1's tombstone");
        record(&m3, 4, k, v);
        is_int(svc_dedupe_restore(dd, k, sizeof(k), v, sizeof(v), committed), SVC_DEDUPE_UNTRUSTED,
               "restore: m3 of offset 4, an unfinished transaction: not trusted");
        record(&m5, 2, k, v);
        is_int(svc_dedupe_restore(dd, k, sizeof(k), v, sizeof(v), -1), SVC_DEDUPE_UNTRUSTED,
               "restore: nothing trusted when nothing was committed");
        is_int(svc_dedupe_restore(dd, k, sizeof(k) - 1, v, sizeof(v), committed),
               SVC_DEDUPE_UNREADABLE, "restore: a short key is unreadable");
        is_int(svc_dedupe_restore(dd, NULL, 0, v, sizeof(v), committed), SVC_DEDUPE_UNREADABLE,
               "restore: no key is unreadable");
        is_int(svc_dedupe_restore(dd, k, sizeof(k), v, sizeof(v) + 1, committed),
               SVC_DEDUPE_UNREADABLE, "restore: a long value is unreadable");
        v[0] = 9;
        is_int(svc_dedupe_restore(dd, k, sizeof(k), v, sizeof(v), committed), SVC_DEDUPE_UNREADABLE,
               "restore: another version is unreadable");
        is_int(svc_dedupe_restore(dd, "text", 4, "{\"json\":1}", 10, committed),
               SVC_DEDUPE_UNREADABLE, "restore: text is unreadable");
        record(&m4, 3, k, v);
        is_int(svc_dedupe_restore(dd, k, sizeof(k), v, sizeof(v), committed), SVC_DEDUPE_RESTORED,
               "restore: m4 (offset 3), after the unreadable ones");
        record(&m2, 2, k, NULL);
        record(&m5, 2, k, v);
        v[9] = 0xff; /* offset negative */
        is_int(svc_dedupe_restore(dd, k, sizeof(k), v, sizeof(v), committed), SVC_DEDUPE_UNREADABLE,
               "restore: a negative offset is unreadable");

        size_t cnt, bytes;
        svc_dedupe_stats(dd, &cnt, &bytes);
        is_int(cnt, 2, "restore: m2 and m4 remembered");
        svc_dedupe_expire(dd, NULL, NULL);
        is_int(check(dd, m1, 4), SVC_DEDUPE_NEW, "restore: m1 (tombstone) is new");
        is_int(check(dd, m2, 5), SVC_DEDUPE_COPY, "restore: m2 is a copy");
        is_int(check(dd, m3, 6), SVC_DEDUPE_NEW,
               "restore: m3 (unfinished transaction) is new: its events are not lost");
        is_int(check(dd, m4, 7), SVC_DEDUPE_COPY, "restore: m4 is a copy");
        is_int(check(dd, m5, 8), SVC_DEDUPE_NEW, "restore: m5 (unreadable) is new");

        /* A later write of the same request replaces the earlier one. */
        svc_dedupe_t *dd2 = svc_dedupe_new(1000);
        struct svc_dedupe_msg late = msg("m1", 5000, BODY1);
        record(&m1, 0, k, v);
        is_int(svc_dedupe_restore(dd2, k, sizeof(k), v, sizeof(v), committed), SVC_DEDUPE_RESTORED,
               "restore: m1 at 100");
        record(&late, 1, k, v);
        is_int(svc_dedupe_restore(dd2, k, sizeof(k), v, sizeof(v), committed), SVC_DEDUPE_RESTORED,
               "restore: m1 again at 5000");
        svc_dedupe_stats(dd2, &cnt, &bytes);
        is_int(cnt, 1, "restore: one entry per request");
        is_int(check(dd2, msg("m1", 4500, BODY1), 2), SVC_DEDUPE_COPY,
               "restore: its received_at is the later one's");
        svc_dedupe_destroy(dd2);
        svc_dedupe_destroy(dd);
}

/* Many requests: growth, lookups after rebuilds, shrinking once they expire. */
static void test_many(void) {
        enum { N = 100000 };
        svc_dedupe_t *dd = svc_dedupe_new(N);
        size_t cnt, bytes, bad = 0;
        char rid[32];

        for (int i = 0; i < N; i++) {
                snprintf(rid, sizeof(rid), "many-%d", i);
                bad += check(dd, msg(rid, i, BODY1), i) != SVC_DEDUPE_NEW;
        }
        is_int(bad, 0, "many: %d requests are new", N);
        for (int i = 0; i < N; i += 7) {
                snprintf(rid, sizeof(rid), "many-%d", i);
                bad += check(dd, msg(rid, N, BODY1), N + i) != SVC_DEDUPE_COPY;
        }
        is_int(bad, 0, "many: every seventh sent again is a copy");
        svc_dedupe_stats(dd, &cnt, &bytes);
        is_int(cnt, N, "many: all remembered");
        printf("# %zu requests in %zu bytes: %.1f bytes per request\n", cnt, bytes,
               (double)bytes / (double)cnt);
        ok(bytes / cnt <= 200, "many: at most 200 bytes per request");
        is_int(check(dd, msg("late", 3 * N, BODY1), 2 * N), SVC_DEDUPE_NEW, "many: a late one");
        is_int(svc_dedupe_expire(dd, NULL, NULL), N, "many: every earlier one expires");
        svc_dedupe_stats(dd, &cnt, &bytes);
        ok(cnt == 1 && bytes < 20000, "many: memory follows (%zu bytes)", bytes);
        svc_dedupe_destroy(dd);
}

int main(void) {
        test_read();
        test_window_edge();
        test_expire_reports();
        test_other_body();
        test_rewind();
        test_restore();
        test_many();
        return done_testing();
}
