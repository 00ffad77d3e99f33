/* test_transform.c - raw collect messages into records and dead letters (consumer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../consumer/transform.h"
#include "collect.h"
#include "jbuf.h"
#include "kafka.h"
#include "tap.h"

/* Collects what svc_transform_raw() emits as lines "O|D <key> <value>\n". */
struct sink {
        char out[8192];
        size_t len;
        int fail_after; /* emit fails once this many records were taken; -1 never */
};

static int emit(void *opaque, const struct svc_transform_origin *from, int dlq, const char *key,
                size_t key_len, char *value, size_t value_len) {
        struct sink *s = opaque;
        (void)from;
        if (s->fail_after == 0) {
                free(value);
                return -1;
        }
        if (s->fail_after > 0)
                s->fail_after--;
        s->len +=
            snprintf(s->out + s->len, sizeof(s->out) - s->len, "%c %.*s %.*s\n", dlq ? 'D' : 'O',
                     key ? (int)key_len : 6, key ? key : "(null)", (int)value_len, value);
        free(value);
        return 0;
}

#define RAW_HEAD                                                                                   \
        "{\"request_id\":\"r1\",\"received_at\":7,\"client_ip\":\"::1\",\"user_agent\":\"ua\","
#define CTX ",\"ctx\":{\"browser\":\"Firefox\",\"device\":\"Desktop\",\"version\":\"126.0\"}"
#define TAIL                                                                                       \
        ",\"browser\":\"Firefox\",\"device\":\"Desktop\",\"browser_version\":\"126.0\","           \
        "\"client_ip\":\"::1\",\"user_agent\":\"ua\",\"request_id\":\"r1\",\"received_at\":7}"

static const struct {
        const char *name, *raw, *key, *want;
        int ret;
} cases[] = {
    {"one event, the documented example",
     RAW_HEAD "\"payload\":{\"events\":[{\"event_type\":\"product_view\",\"event_time\":"
              "1750867000000,\"user_id\":\"user_test\",\"product_id\":\"prod_demo\"}]" CTX "}}",
     "r1",
     "O user_test {\"event_id\":\"r1-0\",\"event_type\":\"product_view\",\"event_time\":"
     "1750867000000,\"event_timestamp\":\"2025-06-25T15:56:40.000Z\",\"user_id\":\"user_test\","
     "\"product_id\":\"prod_demo\",\"properties\":{}" TAIL "\n",
     0},
    {"other fields go to properties in input order; fields in any order",
     RAW_HEAD "\"payload\":{\"events\":[{\"z\":1,\"user_id\":\"u\",\"a\":[true],\"event_time\":"
              "1,\"event_type\":\"t\"}]" CTX "}}",
     "r1",
     "O u {\"event_id\":\"r1-0\",\"event_type\":\"t\",\"event_time\":1,\"event_timestamp\":"
     "\"1970-01-01T00:00:00.001Z\",\"user_id\":\"u\",\"product_id\":null,\"properties\":"
     "{\"z\":1,\"a\":[true]}" TAIL "\n",
     0},
    {"escapes as jansson does; reals and nested values",
     "{\"request_id\":\"q\\\"1\",\"payload\":{\"events\":[{\"event_type\":\"t\",\"event_time\":3,"
     "\"user_id\":\"u\\u00e9\",\"k\\\"ey\":\"a\\\"b\\\\c\\n\\t\\u0001\\u00e9/\",\"r\":0.1,"
     "\"o\":{\"x\":[1.5,false]}}]}}",
     "k",
     "O u\xc3\xa9 {\"event_id\":\"q\\\"1-0\",\"event_type\":\"t\",\"event_time\":3,"
     "\"event_timestamp\":\"1970-01-01T00:00:00.003Z\",\"user_id\":\"u\xc3\xa9\",\"product_id\":"
     "null,"
     "\"properties\":{\"k\\\"ey\":\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9/\",\"r\":0.10000000000000001,"
     "\"o\":{\"x\":[1.5,false]}},\"browser\":null,\"device\":null,\"browser_version\":null,"
     "\"client_ip\":null,\"user_agent\":null,\"request_id\":\"q\\\"1\",\"received_at\":null}\n",
     0},
    {"no ctx, no client fields: nulls",
     "{\"request_id\":\"r2\",\"payload\":{\"events\":[{\"event_type\":\"t\",\"event_time\":2,"
     "\"user_id\":\"u\"}]}}",
     "r2",
     "O u {\"event_id\":\"r2-0\",\"event_type\":\"t\",\"event_time\":2,\"event_timestamp\":"
     "\"1970-01-01T00:00:00.002Z\",\"user_id\":\"u\",\"product_id\":null,\"properties\":{},"
     "\"browser\":null,\"device\":null,\"browser_version\":null,\"client_ip\":null,"
     "\"user_agent\":null,\"request_id\":\"r2\",\"received_at\":null}\n",
     0},
    {"a write key's source: the last field of every record",
     "{\"request_id\":\"r4\",\"received_at\":7,\"client_ip\":null,\"source\":\"shop.web\","
     "\"payload\":{\"events\":[{\"event_type\":\"t\",\"event_time\":2,\"user_id\":\"u\"},"
     "{\"event_type\":\"t\",\"event_time\":3,\"user_id\":\"v\"}]}}",
     "r4",
     "O u {\"event_id\":\"r4-0\",\"event_type\":\"t\",\"event_time\":2,\"event_timestamp\":"
     "\"1970-01-01T00:00:00.002Z\",\"user_id\":\"u\",\"product_id\":null,\"properties\":{},"
     "\"browser\":null,\"device\":null,\"browser_version\":null,\"client_ip\":null,"
     "\"user_agent\":null,\"request_id\":\"r4\",\"received_at\":7,\"source\":\"shop.web\"}\n"
     "O v {\"event_id\":\"r4-1\",\"event_type\":\"t\",\"event_time\":3,\"event_timestamp\":"
     "\"1970-01-01T00:00:00.003Z\",\"user_id\":\"v\",\"product_id\":null,\"properties\":{},"
     "\"browser\":null,\"device\":null,\"browser_version\":null,\"client_ip\":null,"
     "\"user_agent\":null,\"request_id\":\"r4\",\"received_at\":7,\"source\":\"shop.web\"}\n",
     0},
    {"a source that is not a string is left out, as if absent",
     "{\"request_id\":\"r5\",\"source\":5,\"payload\":{\"events\":[{\"event_type\":\"t\","
     "\"event_time\":2,\"user_id\":\"u\"}]}}",
     "r5",
     "O u {\"event_id\":\"r5-0\",\"event_type\":\"t\",\"event_time\":2,\"event_timestamp\":"
     "\"1970-01-01T00:00:00.002Z\",\"user_id\":\"u\",\"product_id\":null,\"properties\":{},"
     "\"browser\":null,\"device\":null,\"browser_version\":null,\"client_ip\":null,"
     "\"user_agent\":null,\"request_id\":\"r5\",\"received_at\":null}\n",
     0},
    {"bad event among good ones",
     "{\"request_id\":\"r3\",\"payload\":{\"events\":[{\"event_type\":\"a\",\"event_time\":1,"
     "\"user_id\":\"u1\"},{\"event_type\":\"b\",\"event_time\":0,\"user_id\":\"u2\"},"
     "{\"event_type\":\"c\",\"event_time\":3,\"user_id\":\"u3\"}]}}",
     "r3", NULL, 0},
    {"not JSON", "nope", "k",
     "D k {\"error\":\"raw message is not valid JSON: invalid token near 'nope' (line 1, "
     "column 4)\",\"raw\":\"nope\"}\n",
     0},
    {"empty message", NULL, NULL, "D (null) {\"error\":\"raw message is empty\",\"raw\":\"\"}\n",
     0},
    {"invalid UTF-8 becomes U+FFFD", "a\xff", "k",
     "D k {\"error\":\"raw message is not valid JSON: unable to decode byte 0xff near 'a' "
     "(line 1, column 1)\",\"raw\":\"a\xef\xbf\xbd\"}\n",
     0},
    {"truncated JSON", "{\"request_id\":\"r", "k",
     "D k {\"error\":\"raw message is not valid JSON: premature end of input near '\\\"r' "
     "(line 1, column 16)\",\"raw\":\"{\\\"request_id\\\":\\\"r\"}\n",
     0},
    {"not an object", "[1]", "k",
     "D k {\"error\":\"raw message is not a JSON object\",\"raw\":[1]}\n", 0},
    {"no request_id", "{\"payload\":{\"events\":[]}}", "k",
     "D k {\"error\":\"raw message has no request_id (a non-empty string of at most 512 "
     "bytes)\",\"raw\":{\"payload\":{\"events\":[]}}}\n",
     0},
    {"no payload", "{\"request_id\":\"r\"}", "k",
     "D k {\"error\":\"raw message has no payload object\",\"raw\":{\"request_id\":\"r\"}}\n", 0},
    {"events not an array", "{\"request_id\":\"r\",\"payload\":{\"events\":{}}}", "k",
     "D k {\"error\":\"payload.events must be a non-empty array\",\"raw\":{\"request_id\":"
     "\"r\",\"payload\":{\"events\":{}}}}\n",
     0},
    {"ctx not an object", "{\"request_id\":\"r\",\"payload\":{\"events\":[{}],\"ctx\":\"x\"}}", "k",
     "D k {\"error\":\"payload.ctx must be an object\",\"raw\":{\"request_id\":\"r\","
     "\"payload\":{\"events\":[{}],\"ctx\":\"x\"}}}\n",
     0},
    {"event_time after year 9999",
     "{\"request_id\":\"r\",\"payload\":{\"events\":[{\"event_type\":\"t\",\"event_time\":"
     "253402300800000,\"user_id\":\"u\"}]}}",
     "k",
     "D k {\"error\":\"event_time is after the year 9999 (epoch milliseconds expected, at "
     "most 253402300799999)\",\"request_id\":\"r\",\"event_index\":0,\"event\":{"
     "\"event_type\":\"t\",\"event_time\":253402300800000,\"user_id\":\"u\"}}\n",
     0},
    {NULL, NULL, NULL, NULL, 0}};

static void test_cases(void) {
        for (int i = 0; cases[i].name; i++) {
                struct sink s = {.len = 0, .fail_after = -1};
                struct svc_transform_counts cnt = {0, 0};
                int ret = svc_transform_raw(cases[i].raw, cases[i].raw ? strlen(cases[i].raw) : 0,
                                            cases[i].key, cases[i].key ? strlen(cases[i].key) : 0,
                                            emit, &s, &cnt);
                is_int(ret, cases[i].ret, "%s: return value", cases[i].name);
                if (cases[i].want)
                        is_str(s.out, cases[i].want, "%s: records", cases[i].name);
        }
}

static void test_bad_event_among_good(void) {
        const char *raw = NULL;
        struct sink s = {.len = 0, .fail_after = -1};
        struct svc_transform_counts cnt = {0, 0};
        char again[sizeof(s.out)];

        for (int i = 0; cases[i].name; i++)
                if (!strcmp(cases[i].name, "bad event among good ones"))
                        raw = cases[i].raw;
        ok(raw != NULL, "mixed: the case is in the table");
        if (!raw)
                return;

        is_int(svc_transform_raw(raw, strlen(raw), "r3", 2, emit, &s, &cnt), 0, "mixed: returns 0");
        is_int(cnt.produced_cnt, 2, "mixed: two records");
        is_int(cnt.dlq_cnt, 1, "mixed: one dead letter");
        ok(!strncmp(s.out, "O u1 {\"event_id\":\"r3-0\"", 23), "mixed: first event produced");
        ok(strstr(s.out, "\nD r3 {\"error\":\"event_time must be a positive integer (epoch "
                         "milliseconds)\",\"request_id\":\"r3\",\"event_index\":1,\"event\":"
                         "{\"event_type\":\"b\",\"event_time\":0,\"user_id\":\"u2\"}}\n") != NULL,
           "mixed: second event dead-lettered with its index, itself, not the message");
        ok(strstr(s.out, "\nO u3 {\"event_id\":\"r3-2\"") != NULL, "mixed: third event produced");

        memcpy(again, s.out, s.len + 1);
        s.len = 0;
        is_int(svc_transform_raw(raw, strlen(raw), "r3", 2, emit, &s, &cnt), 0, "again: returns 0");
        is_str(s.out, again, "the same message gives byte-identical records");

        /* Another body under the same request_id: only the event_ids change. */
        char tagged[8192], want[8192];
        size_t i = 0, o = 0;
        s.len = 0;
        is_int(svc_transform_raw_tagged(raw, strlen(raw), "r3", 2,
                                        "0123456789abcdef0123456789abcdef", emit, &s, &cnt),
               0, "tagged: returns 0");
        memcpy(tagged, s.out, s.len + 1);
        while (again[i] && o + 40 < sizeof(want)) { /* the plain output, ids tagged */
                if (!strncmp(again + i, "\"event_id\":\"r3-", 15)) {
                        o +=
                            (size_t)snprintf(want + o, sizeof(want) - o,
                                             "\"event_id\":\"r3:0123456789abcdef0123456789abcdef-");
                        i += 15;
                } else {
                        want[o++] = again[i++];
                }
        }
        want[o] = '\0';
        is_str(tagged, want, "tagged: <request_id>:<tag>-<index>, every other byte the same");
        s.len = 0;
        is_int(svc_transform_raw_tagged(raw, strlen(raw), "r3", 2, NULL, emit, &s, &cnt), 0,
               "no tag: returns 0");
        is_str(s.out, again, "no tag: byte-identical to svc_transform_raw");

        s.len = 0;
        s.out[0] = '\0';
        s.fail_after = 1;
        is_int(svc_transform_raw(raw, strlen(raw), "r3", 2, emit, &s, &cnt), -1,
               "a failing emit stops the transform with -1");
}

static void test_iso_ms(void) {
        static const struct {
                long long ms;
                int ret;
                const char *want;
        } t[] = {{0, 0, "1970-01-01T00:00:00.000Z"},
                 {1750867000000LL, 0, "2025-06-25T15:56:40.000Z"},
                 {1750867000042LL, 0, "2025-06-25T15:56:40.042Z"},
                 {SVC_COLLECT_MAX_EVENT_TIME, 0, "9999-12-31T23:59:59.999Z"},
                 {SVC_COLLECT_MAX_EVENT_TIME + 1, -1, NULL},
                 {-1, -1, NULL}};
        for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++) {
                char buf[32] = "";
                is_int(svc_transform_iso_ms(t[i].ms, buf, sizeof(buf)), t[i].ret,
                       "iso_ms(%lld) return", t[i].ms);
                if (t[i].want)
                        is_str(buf, t[i].want, "iso_ms(%lld)", t[i].ms);
        }
}

/* The C library's formatting, as svc_transform_iso_ms() once did it. */
static void iso_ms_libc(long long ms, char *buf, size_t buf_size) {
        time_t sec = (time_t)(ms / 1000);
        struct tm tm;
        char day[24] = "";

        if (gmtime_r(&sec, &tm))
                strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, buf_size, "%s.%03dZ", day, (int)(ms % 1000));
}

/* The written-out date against gmtime_r() + strftime(): the edges of days, months, leap
 * years and the range, then a million times at random. */
static void test_iso_ms_libc(void) {
        static const long long edges[] = {0,
                                          1,
                                          999,
                                          86399999,
                                          86400000,
                                          951782399999LL,  /* 2000-02-28 */
                                          951868800000LL,  /* 2000-03-01 */
                                          4107542399999LL, /* 2100-02-28 */
                                          4107628800000LL, /* 2100-03-01 */
                                          1709251199999LL, /* 2024-02-29 */
                                          SVC_COLLECT_MAX_EVENT_TIME};
        char got[32], want[32], cut[8];
        size_t bad = 0;
        unsigned long long x = 88172645463325252ULL;

        for (size_t i = 0; i < sizeof(edges) / sizeof(*edges); i++) {
                svc_transform_iso_ms(edges[i], got, sizeof(got));
                iso_ms_libc(edges[i], want, sizeof(want));
                is_str(got, want, "iso_ms(%lld) as strftime writes it", edges[i]);
        }
        for (int i = 0; i < 1000000; i++) {
                long long ms;
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                ms = (long long)(x % (unsigned long long)(SVC_COLLECT_MAX_EVENT_TIME + 1));
                if (i % 2) /* half of them in the years records are about */
                        ms = 1500000000000LL + ms % 2000000000000LL;
                if (svc_transform_iso_ms(ms, got, sizeof(got)) != 0) {
                        bad++;
                        continue;
                }
                iso_ms_libc(ms, want, sizeof(want));
                if (strcmp(got, want) && bad++ < 5)
                        printf("# iso_ms(%lld): %s, strftime: %s\n", ms, got, want);
        }
        is_int((int)bad, 0, "iso_ms of a million random times: as strftime writes them");
        svc_transform_iso_ms(1750867000042LL, cut, sizeof(cut));
        is_str(cut, "2025-06", "iso_ms into a small buffer: cut as snprintf cuts");
}

/* Counts and weighs what is emitted, keeping the largest record. */
struct scale {
        size_t records, letters, letter_bytes, largest;
        char *last_letter;
};

static int emit_scale(void *opaque, const struct svc_transform_origin *from, int dlq,
                      const char *key, size_t key_len, char *value, size_t value_len) {
        struct scale *s = opaque;
        (void)from, (void)key;
        if (key_len + value_len > s->largest)
                s->largest = key_len + value_len;
        if (dlq) {
                s->letters++;
                s->letter_bytes += value_len;
                free(s->last_letter);
                s->last_letter = value;
                return 0;
        }
        s->records++;
        free(value);
        return 0;
}

/* A raw message of n events; bad ones lack user_id; each has a pad of pad bytes. */
static char *raw_of(size_t n, size_t pad, int bad_from, size_t *len) {
        size_t size = 128 + n * (pad + 96), o = 0;
        char *raw = malloc(size);

        o += (size_t)snprintf(raw + o, size - o,
                              "{\"request_id\":\"big\",\"payload\":{\"events\":[");
        for (size_t i = 0; i < n; i++) {
                o += (size_t)snprintf(raw + o, size - o,
                                      "%s{\"event_type\":\"t\",\"event_time\":1,%s"
                                      "\"pad\":\"",
                                      i ? "," : "", (int)i >= bad_from ? "" : "\"user_id\":\"u\",");
                memset(raw + o, 'x', pad);
                o += pad;
                o += (size_t)snprintf(raw + o, size - o, "\"}");
        }
        o += (size_t)snprintf(raw + o, size - o, "]}}");
        *len = o;
        return raw;
}

/* Letters cost the message's size plus a small constant per bad event, never the whole
 * message per bad event; nothing larger than one Kafka message comes out. */
static void test_sizes(void) {
        struct svc_transform_counts cnt = {0, 0};
        struct scale s = {0};
        size_t len;
        char *raw = raw_of(301, 2000, 1, &len); /* one good event, 300 bad */

        is_int(svc_transform_raw(raw, len, "big", 3, emit_scale, &s, &cnt), 0,
               "300 bad events: returns 0");
        is_int(s.records, 1, "300 bad events: the good one is produced");
        is_int(s.letters, 300, "300 bad events: 300 letters");
        ok(s.letter_bytes <= len + 300 * 700, "letters weigh %zu bytes, bound %zu", s.letter_bytes,
           len + 300 * 700);
        free(raw);
        free(s.last_letter);

        /* One event near the limit: its record (envelope added) no longer fits. */
        memset(&s, 0, sizeof(s));
        raw = raw_of(1, SVC_KAFKA_MESSAGE_MAX - 120, 1, &len);
        is_int(svc_transform_raw(raw, len, "big", 3, emit_scale, &s, &cnt), 0,
               "too large: returns 0");
        is_int(s.records, 0, "too large: no record");
        is_int(s.letters, 1, "too large: one letter");
        ok(s.largest <= SVC_KAFKA_MESSAGE_MAX, "nothing over the limit (largest %zu)", s.largest);
        ok(s.last_letter && strstr(s.last_letter, "\"request_id\":\"big\",\"event_index\":0,"
                                                  "\"size\":"),
           "the letter names the request, the index and the size: %s",
           s.last_letter ? s.last_letter : "(none)");
        ok(s.last_letter && strlen(s.last_letter) < 400, "and is small");
        free(s.last_letter);
        free(raw);

        /* A bad event near the limit: its letter does not fit either. */
        memset(&s, 0, sizeof(s));
        raw = raw_of(1, SVC_KAFKA_MESSAGE_MAX - 120, 0, &len);
        is_int(svc_transform_raw(raw, len, "big", 3, emit_scale, &s, &cnt), 0,
               "too large bad event: returns 0");
        is_int(s.letters, 1, "too large bad event: one letter");
        ok(s.largest <= SVC_KAFKA_MESSAGE_MAX && s.last_letter &&
               strstr(s.last_letter, "dead letter of "),
           "too large bad event: a small letter saying so: %s",
           s.last_letter ? s.last_letter : "(none)");
        free(s.last_letter);
        free(raw);
}

/* --- The fast path against the jansson path (svc_transform_raw_reference) --- */

/* Everything one transform emitted, byte for byte: "O|D key-length key value-length value". */
static int emit_log(void *opaque, const struct svc_transform_origin *from, int dlq, const char *key,
                    size_t key_len, char *value, size_t value_len) {
        svc_jbuf_t *b = opaque;
        char head[80];
        int n = snprintf(head, sizeof(head), "%c %lld %zu ", dlq ? 'D' : 'O', from->event_index,
                         key ? key_len : (size_t)-1);

        svc_jbuf_put(b, head, (size_t)n);
        if (key)
                svc_jbuf_put(b, key, key_len);
        if (from->request_id)
                svc_jbuf_put(b, from->request_id, from->request_id_len);
        n = snprintf(head, sizeof(head), " %zu ", value_len);
        svc_jbuf_put(b, head, (size_t)n);
        svc_jbuf_put(b, value, value_len);
        svc_jbuf_put(b, "\n", 1);
        free(value);
        return 0;
}

/* Transforms raw both ways; 1 when both emitted the same bytes and returned the same. */
static int same_both_ways(const char *raw, size_t len, const char *key, const char *tag,
                          svc_jbuf_t *fast, svc_jbuf_t *ref) {
        struct svc_transform_counts fc = {0, 0}, rc = {0, 0};
        size_t key_len = key ? strlen(key) : 0;
        int f, r;

        svc_jbuf_reset(fast);
        svc_jbuf_reset(ref);
        svc_jbuf_put(fast, "", 0);
        svc_jbuf_put(ref, "", 0);
        f = svc_transform_raw_tagged(raw, len, key, key_len, tag, emit_log, fast, &fc);
        r = svc_transform_raw_reference(raw, len, key, key_len, tag, emit_log, ref, &rc);
        return f == r && fc.produced_cnt == rc.produced_cnt && fc.dlq_cnt == rc.dlq_cnt &&
               !fast->err && !ref->err && fast->len == ref->len &&
               !memcmp(fast->ptr, ref->ptr, fast->len);
}

static void test_paths_on_cases(void) {
        svc_jbuf_t fast = SVC_JBUF_INIT, ref = SVC_JBUF_INIT;
        size_t len;
        char *raw;

        for (int i = 0; cases[i].name; i++)
                for (int t = 0; t < 2; t++) {
                        const char *tag = t ? "0123456789abcdef0123456789abcdef" : NULL;
                        ok(same_both_ways(cases[i].raw, cases[i].raw ? strlen(cases[i].raw) : 0,
                                          cases[i].key, tag, &fast, &ref),
                           "both paths: %s%s", cases[i].name, t ? ", tagged" : "");
                }
        static const struct {
                size_t n, pad;
                int bad_from;
        } sizes[] = {{301, 2000, 1},
                     {1, SVC_KAFKA_MESSAGE_MAX - 120, 1},
                     {1, SVC_KAFKA_MESSAGE_MAX - 120, 0},
                     {1000, 10, 1000},
                     {100, 30, 100}};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
                raw = raw_of(sizes[i].n, sizes[i].pad, sizes[i].bad_from, &len);
                ok(same_both_ways(raw, len, "big", NULL, &fast, &ref),
                   "both paths: %zu events of %zu bytes, bad from %d", sizes[i].n, sizes[i].pad,
                   sizes[i].bad_from);
                free(raw);
        }
        svc_jbuf_free(&fast);
        svc_jbuf_free(&ref);
}

/* A seeded generator of raw messages: mostly the common shape, with every kind of value,
 * escape, order and spacing, then some of them damaged. */
static unsigned long long rng_state;

static unsigned rnd(unsigned n) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (unsigned)(rng_state % n);
}

static void gen_ws(svc_jbuf_t *b) {
        static const char *const ws[] = {" ", "\n", "\t", "\r\n  "};
        const char *w = ws[rnd(4)];

        if (!rnd(8))
                svc_jbuf_put(b, w, strlen(w));
}

static void gen_string(svc_jbuf_t *b) {
        static const char *const parts[] = {"u",
                                            "user-42",
                                            "Firefox",
                                            "\\\"",
                                            "\\\\",
                                            "\\/",
                                            "\\n",
                                            "\\t",
                                            "\\b\\f\\r",
                                            "\\u00e9",
                                            "\xc3\xa9",
                                            "\xe2\x80\xa8",
                                            "\xf0\x9f\x98\x80",
                                            "\x7f",
                                            " ",
                                            "/",
                                            "\\u0000",
                                            "\\ud800",
                                            "x"};
        int n = rnd(50) ? 1 + (int)rnd(3) : 0; /* sometimes empty */

        svc_jbuf_put(b, "\"", 1);
        if (!rnd(400)) /* raw bytes the JSON grammar or UTF-8 refuses */
                svc_jbuf_put(b, rnd(2) ? "\xff" : "\x01", 1);
        for (int i = 0; i < n; i++) {
                const char *p = parts[rnd(rnd(40) ? 3 : sizeof(parts) / sizeof(*parts))];
                svc_jbuf_put(b, p, strlen(p));
        }
        svc_jbuf_put(b, "\"", 1);
}

static void gen_value(svc_jbuf_t *b, int depth);

static void gen_number(svc_jbuf_t *b) {
        static const char *const nums[] = {"0",
                                           "-0",
                                           "7",
                                           "-12",
                                           "1750867000000",
                                           "999999999999999999",
                                           "1.5",
                                           "0.1",
                                           "-2.50",
                                           "1e3",
                                           "1E+2",
                                           "2.5e-3",
                                           "0.0",
                                           "1e99", /* those above are what the fast path takes */
                                           "1e400",
                                           "01",
                                           "1.",
                                           "-",
                                           "9223372036854775807",
                                           "12345678901234567890",
                                           "1e123"};
        const char *p = nums[rnd(rnd(10) ? 14 : sizeof(nums) / sizeof(*nums))];
        svc_jbuf_put(b, p, strlen(p));
}

static void gen_object(svc_jbuf_t *b, int depth, int members) {
        svc_jbuf_put(b, "{", 1);
        for (int i = 0; i < members; i++) {
                char key[16];
                gen_ws(b);
                if (i)
                        svc_jbuf_put(b, ",", 1);
                /* distinct names, but now and then one twice, or an escaped one */
                snprintf(key, sizeof(key), "\"%c%s\":", "kpqa"[rnd(10) ? i : (int)rnd(4)],
                         rnd(10) ? "" : "\\n");
                svc_jbuf_put(b, key, strlen(key));
                gen_ws(b);
                gen_value(b, depth + 1);
        }
        svc_jbuf_put(b, "}", 1);
}

static void gen_value(svc_jbuf_t *b, int depth) {
        switch (rnd(depth > 3 ? 6 : 8)) {
        case 0:
        case 1: gen_string(b); break;
        case 2:
        case 3: gen_number(b); break;
        case 4: SVC_JBUF_LIT(b, "true"); break;
        case 5:
                if (rnd(2))
                        SVC_JBUF_LIT(b, "false");
                else
                        SVC_JBUF_LIT(b, "null");
                break;
        case 6: gen_object(b, depth, (int)rnd(4)); break;
        default:
                svc_jbuf_put(b, "[", 1);
                for (int i = 0, n = (int)rnd(4); i < n; i++) {
                        if (i)
                                svc_jbuf_put(b, ",", 1);
                        gen_ws(b);
                        gen_value(b, depth + 1);
                }
                svc_jbuf_put(b, "]", 1);
        }
}

/* One member "name":value, the value right for a valid message most of the time. */
static void gen_member(svc_jbuf_t *b, const char *name, int *first) {
        if (!*first)
                svc_jbuf_put(b, ",", 1);
        *first = 0;
        gen_ws(b);
        svc_jbuf_put(b, "\"", 1);
        svc_jbuf_put(b, name, strlen(name));
        svc_jbuf_put(b, "\":", 2);
        gen_ws(b);
        if (!rnd(40) || !strcmp(name, "price") || !strcmp(name, "page") || !strcmp(name, "os")) {
                gen_value(b, 2);
        } else if (!strcmp(name, "event_time") || !strcmp(name, "received_at")) {
                char num[32];
                snprintf(num, sizeof(num), "%llu", 1750867000000ULL + rnd(1000000));
                svc_jbuf_put(b, num, strlen(num));
        } else {
                gen_string(b);
        }
}

/* Members named in names, in a shuffled order, some left out. */
static void gen_members(svc_jbuf_t *b, const char *const *names, size_t cnt, int *first) {
        size_t order[16];

        for (size_t i = 0; i < cnt; i++)
                order[i] = i;
        for (size_t i = cnt - 1; i > 0 && rnd(3); i--) {
                size_t j = rnd((unsigned)i + 1), t = order[i];
                order[i] = order[j], order[j] = t;
        }
        for (size_t i = 0; i < cnt; i++)
                if (rnd(60))
                        gen_member(b, names[order[i]], first);
}

static void gen_message(svc_jbuf_t *b) {
        static const char *const env[] = {"request_id", "received_at", "client_ip", "user_agent",
                                          "source"};
        static const char *const ev[] = {"event_type", "event_time", "user_id",
                                         "product_id", "price",      "page"};
        static const char *const ctx[] = {"browser", "device", "version", "os"};
        int first = 1, events = rnd(2000) ? 1 + (int)rnd(rnd(4) ? 3 : 12) : (int)rnd(2) * 1001;

        svc_jbuf_put(b, "{", 1);
        gen_members(b, env, rnd(3) ? 4 : 5, &first);
        if (!rnd(30))
                gen_member(b, "request_id", &first); /* a duplicate */
        if (rnd(25)) {
                svc_jbuf_put(b, first ? "\"payload\":{" : ",\"payload\":{", first ? 11 : 12);
                first = 0;
                if (rnd(25)) {
                        SVC_JBUF_LIT(b, "\"events\":[");
                        for (int i = 0; i < events; i++) {
                                int efirst = 1;
                                if (i)
                                        svc_jbuf_put(b, ",", 1);
                                gen_ws(b);
                                if (!rnd(40)) {
                                        gen_value(b, 3);
                                        continue;
                                }
                                svc_jbuf_put(b, "{", 1);
                                gen_members(b, ev, 4 + rnd(3), &efirst);
                                if (!rnd(8)) {
                                        svc_jbuf_put(b, efirst ? "\"nested\":" : ",\"nested\":",
                                                     efirst ? 9 : 10);
                                        gen_value(b, 2);
                                }
                                svc_jbuf_put(b, "}", 1);
                        }
                        svc_jbuf_put(b, "]", 1);
                }
                if (rnd(4)) {
                        int cfirst = 1;
                        svc_jbuf_put(b, ",\"ctx\":", 7);
                        if (rnd(10)) {
                                svc_jbuf_put(b, "{", 1);
                                gen_members(b, ctx, 3 + rnd(2), &cfirst);
                                svc_jbuf_put(b, "}", 1);
                        } else {
                                gen_value(b, 2);
                        }
                }
                svc_jbuf_put(b, "}", 1);
        }
        svc_jbuf_put(b, "}", 1);
        gen_ws(b);
        /* damage: cut it, change a byte, or add one */
        switch (rnd(20)) {
        case 0: svc_jbuf_truncate(b, rnd((unsigned)b->len + 1)); break;
        case 1: b->ptr[rnd((unsigned)b->len)] = (char)rnd(256); break;
        case 2: SVC_JBUF_LIT(b, "x"); break;
        default: break;
        }
}

static void test_paths_on_random(void) {
        svc_jbuf_t raw = SVC_JBUF_INIT, fast = SVC_JBUF_INIT, ref = SVC_JBUF_INIT;
        struct svc_collect_raw msg;
        size_t differ = 0, taken = 0, produced = 0, lettered = 0;
        const int n = 100000;

        rng_state = 0x9e3779b97f4a7c15ULL; /* seeded: every run sees the same messages */
        for (int i = 0; i < n; i++) {
                const char *tag = rnd(10) ? NULL : "00112233445566778899aabbccddeeff";
                svc_jbuf_reset(&raw);
                gen_message(&raw);
                if (!same_both_ways(raw.ptr, raw.len, rnd(10) ? "k" : NULL, tag, &fast, &ref)) {
                        if (differ++ < 3)
                                printf(
                                    "# differ (message %d): %.*s\n#   fast: %.*s\n#   ref:  %.*s\n",
                                    i, (int)raw.len, raw.ptr, (int)fast.len, fast.ptr, (int)ref.len,
                                    ref.ptr);
                        continue;
                }
                taken += svc_collect_scan_raw(raw.ptr, raw.len, &msg) > 0;
                produced += strstr(ref.ptr, "O ") == ref.ptr;
                lettered += strstr(ref.ptr, "D ") != NULL;
        }
        is_int(differ, 0, "%d random messages: the fast path's output is the jansson path's", n);
        printf("# %zu taken by the fast path, %zu with records first, %zu with dead letters\n",
               taken, produced, lettered);
        ok(taken > (size_t)n / 5, "the fast path took a fair share (%zu)", taken);
        ok(lettered > (size_t)n / 5, "many messages are refused in part or whole (%zu)", lettered);
        svc_jbuf_free(&raw);
        svc_jbuf_free(&fast);
        svc_jbuf_free(&ref);
}

int main(void) {
        test_cases();
        test_paths_on_cases();
        test_paths_on_random();
        test_sizes();
        test_bad_event_among_good();
        test_iso_ms();
        test_iso_ms_libc();
        return done_testing();
}
