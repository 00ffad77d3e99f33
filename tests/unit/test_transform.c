/* test_transform.c - raw collect messages into records and dead letters (consumer). */
#include <stdlib.h>
#include <string.h>

#include "../../consumer/transform.h"
#include "tap.h"

/* Collects what svc_transform_raw() emits as lines "O|D <key> <value>\n". */
struct sink {
        char out[8192];
        size_t len;
        int fail_after; /* emit fails once this many records were taken; -1 never */
};

static int emit(void *opaque, int dlq, const char *key, size_t key_len, char *value,
                size_t value_len) {
        struct sink *s = opaque;
        if (s->fail_after == 0) {
                free(value);
                return -1;
        }
        if (s->fail_after > 0)
                s->fail_after--;
        s->len += snprintf(s->out + s->len, sizeof(s->out) - s->len, "%c %.*s %.*s\n",
                           dlq ? 'D' : 'O', key ? (int)key_len : 6, key ? key : "(null)",
                           (int)value_len, value);
        free(value);
        return 0;
}

#define RAW_HEAD "{\"request_id\":\"r1\",\"received_at\":7,\"client_ip\":\"::1\",\"user_agent\":\"ua\","
#define CTX ",\"ctx\":{\"browser\":\"Firefox\",\"device\":\"Desktop\",\"version\":\"126.0\"}"
#define TAIL ",\"browser\":\"Firefox\",\"device\":\"Desktop\",\"browser_version\":\"126.0\"," \
             "\"client_ip\":\"::1\",\"user_agent\":\"ua\",\"request_id\":\"r1\",\"received_at\":7}"

static const struct {
        const char *name, *raw, *key, *want;
        int ret;
} cases[] = {
    {"one event, the spec's example",
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
     "\"event_timestamp\":\"1970-01-01T00:00:00.003Z\",\"user_id\":\"u\xc3\xa9\",\"product_id\":null,"
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
    {"bad event among good ones",
     "{\"request_id\":\"r3\",\"payload\":{\"events\":[{\"event_type\":\"a\",\"event_time\":1,"
     "\"user_id\":\"u1\"},{\"event_type\":\"b\",\"event_time\":0,\"user_id\":\"u2\"},"
     "{\"event_type\":\"c\",\"event_time\":3,\"user_id\":\"u3\"}]}}",
     "r3", NULL, 0},
    {"not JSON", "nope", "k",
     "D k {\"error\":\"raw message is not valid JSON: invalid token near 'nope' (line 1, "
     "column 4)\",\"raw\":\"nope\"}\n",
     0},
    {"empty message", NULL, NULL,
     "D (null) {\"error\":\"raw message is empty\",\"raw\":\"\"}\n", 0},
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
     "D k {\"error\":\"raw message has no payload object\",\"raw\":{\"request_id\":\"r\"}}\n",
     0},
    {"events not an array", "{\"request_id\":\"r\",\"payload\":{\"events\":{}}}", "k",
     "D k {\"error\":\"payload.events must be a non-empty array\",\"raw\":{\"request_id\":"
     "\"r\",\"payload\":{\"events\":{}}}}\n",
     0},
    {"ctx not an object",
     "{\"request_id\":\"r\",\"payload\":{\"events\":[{}],\"ctx\":\"x\"}}", "k",
     "D k {\"error\":\"payload.ctx must be an object\",\"raw\":{\"request_id\":\"r\","
     "\"payload\":{\"events\":[{}],\"ctx\":\"x\"}}}\n",
     0},
    {"event_time after year 9999",
     "{\"request_id\":\"r\",\"payload\":{\"events\":[{\"event_type\":\"t\",\"event_time\":"
     "253402300800000,\"user_id\":\"u\"}]}}",
     "k",
     "D k {\"error\":\"event_time is after the year 9999 (epoch milliseconds expected)\","
     "\"event_index\":0,\"raw\":{\"request_id\":\"r\",\"payload\":{\"events\":[{\"event_type\":"
     "\"t\",\"event_time\":253402300800000,\"user_id\":\"u\"}]}}}\n",
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

        is_int(svc_transform_raw(raw, strlen(raw), "r3", 2, emit, &s, &cnt), 0, "mixed: returns 0");
        is_int(cnt.produced_cnt, 2, "mixed: two records");
        is_int(cnt.dlq_cnt, 1, "mixed: one dead letter");
        ok(!strncmp(s.out, "O u1 {\"event_id\":\"r3-0\"", 23), "mixed: first event produced");
        ok(strstr(s.out, "\nD r3 {\"error\":\"event_time must be a positive integer (epoch "
                         "milliseconds)\",\"event_index\":1,\"raw\":{\"request_id\":\"r3\"") != NULL,
           "mixed: second event dead-lettered with its index");
        ok(strstr(s.out, "\nO u3 {\"event_id\":\"r3-2\"") != NULL, "mixed: third event produced");

        memcpy(again, s.out, s.len + 1);
        s.len = 0;
        is_int(svc_transform_raw(raw, strlen(raw), "r3", 2, emit, &s, &cnt), 0, "again: returns 0");
        is_str(s.out, again, "the same message gives byte-identical records");

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
                 {SVC_TRANSFORM_MAX_EVENT_TIME, 0, "9999-12-31T23:59:59.999Z"},
                 {SVC_TRANSFORM_MAX_EVENT_TIME + 1, -1, NULL},
                 {-1, -1, NULL}};
        for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++) {
                char buf[32] = "";
                is_int(svc_transform_iso_ms(t[i].ms, buf, sizeof(buf)), t[i].ret,
                       "iso_ms(%lld) return", t[i].ms);
                if (t[i].want)
                        is_str(buf, t[i].want, "iso_ms(%lld)", t[i].ms);
        }
}

int main(void) {
        test_cases();
        test_bad_event_among_good();
        test_iso_ms();
        return done_testing();
}
