/* test_collect.c - the /collect payload checks, one case per line. */
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "tap.h"

static const struct {
        const char *json;
        int ok;
        const char *errstr_has; /* substring of the reason, or NULL */
        const char *label;
} cases[] = {
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":1,\"user_id\":\"u\"}]}", 1, NULL,
     "minimal"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":1,\"user_id\":\"u\",\"x\":[1]}],"
     "\"ctx\":{\"browser\":\"F\"}}",
     1, NULL, "extra fields and ctx"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":1,\"user_id\":\"u\"}],\"ctx\":null}", 1,
     NULL, "null ctx"},
    {"[]", 0, "JSON object", "array body"},
    {"{}", 0, "non-empty array", "no events"},
    {"{\"events\":[]}", 0, "non-empty array", "empty events"},
    {"{\"events\":\"a\"}", 0, "non-empty array", "events a string"},
    {"{\"events\":[1]}", 0, "1 of 1", "event not an object"},
    {"{\"events\":[{\"event_time\":1,\"user_id\":\"u\"}]}", 0, "1 of 1", "no event_type"},
    {"{\"events\":[{\"event_type\":\"\",\"event_time\":1,\"user_id\":\"u\"}]}", 0, NULL,
     "empty event_type"},
    {"{\"events\":[{\"event_type\":7,\"event_time\":1,\"user_id\":\"u\"}]}", 0, NULL,
     "event_type a number"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":0,\"user_id\":\"u\"}]}", 0, NULL,
     "event_time 0"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":-1,\"user_id\":\"u\"}]}", 0, NULL,
     "negative event_time"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":253402300799999,\"user_id\":\"u\"}]}", 1,
     NULL, "event_time the last millisecond of 9999"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":253402300800000,\"user_id\":\"u\"}]}", 0,
     "1 of 1", "event_time in the year 10000"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":1.0,\"user_id\":\"u\"}]}", 0, NULL,
     "real event_time"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":\"1\",\"user_id\":\"u\"}]}", 0, NULL,
     "string event_time"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":1,\"user_id\":\"\"}]}", 0, NULL,
     "empty user_id"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":1,\"user_id\":5}]}", 0, NULL,
     "numeric user_id"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":1,\"user_id\":\"u\"}],\"ctx\":[]}", 0,
     "ctx", "ctx an array"},
    {NULL, 0, NULL, NULL},
};

#define EV "{\"event_type\":\"a\",\"event_time\":1,\"user_id\":\"u\"}"

/* The fast path: the events it counts, or 0 where the body is left to the slow path. */
static const struct {
        const char *json;
        size_t events;
        const char *label;
} scans[] = {
    {"{\"events\":[" EV "]}", 1, "minimal"},
    {" \r\n\t{ \"events\" : [ " EV " , " EV " ] , \"ctx\" : { \"a\" : [ 1 , -2.5e-3 , true , "
     "false , null , { } , [ ] ] } } \n",
     2, "whitespace everywhere, ctx with every kind of value"},
    {"{\"ctx\":null,\"events\":[{\"user_id\":\"\\\"q\\\"\",\"event_time\":253402300799999,"
     "\"event_type\":\"\\n\\/\\\\\",\"p\":{\"n\":{\"m\":0}}}]}",
     1, "short escapes, the last millisecond of 9999, nested properties"},
    {"{\"events\":[{\"event_type\":\"caf\xc3\xa9\",\"event_time\":1,\"user_id\":"
     "\"\xf0\x9f\x98\x80\"}]}",
     1, "UTF-8 in strings"},
    {"{\"events\":[" EV "],\"x\":123456789012345678}", 1, "an 18-digit integer"},
    {"{\"events\":[" EV "],\"x\":1234567890123456789}", 0, "a 19-digit integer"},
    {"{\"events\":[" EV "],\"x\":1e999}", 0, "a real that overflows a double"},
    {"{\"events\":[" EV "],\"x\":\"\\u0041\"}", 0, "a \\u escape"},
    {"{\"events\":[" EV "],\"events\":[" EV "]}", 0, "a duplicate key"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":1,\"user_id\":\"u\",\"user_id\":\"v\"}]}",
     0, "a duplicate key in an event"},
    {"{\"even\\u0074s\":[" EV "]}", 0, "an escaped key"},
    {"{\"events\":[" EV
     "],\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
     0, "nesting over 32 levels"},
    {"{\"events\":[" EV "],\"x\":\"\xc3\"}", 0, "invalid UTF-8"},
    {"{\"events\":[" EV "],\"x\":\"\xed\xa0\x80\"}", 0, "a UTF-8 surrogate"},
    {"{\"events\":[" EV ",]}", 0, "a trailing comma in an array"},
    {"{\"events\":[" EV "],}", 0, "a trailing comma in an object"},
    {"{\"events\":[" EV "]} x", 0, "text after the object"},
    {"{\"events\":[" EV "]", 0, "truncated"},
    {"{\"events\":[" EV "],\"x\":01}", 0, "a leading zero"},
    {"{\"events\":[" EV "],\"x\":1.}", 0, "a bare decimal point"},
    {"{\"events\":[" EV "],\"x\":\"a\tb\"}", 0, "a control character in a string"},
    {"{\"events\":[" EV "],\"x\":tru}", 0, "a broken literal"},
    {"{\"events\":[" EV "],\"ctx\":[]}", 0, "ctx an array"},
    {"{\"events\":[]}", 0, "no events"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":1.0,\"user_id\":\"u\"}]}", 0,
     "a real event_time"},
    {"{\"events\":[{\"event_type\":\"a\",\"event_time\":253402300800000,\"user_id\":\"u\"}]}", 0,
     "event_time in the year 10000"},
    {"{\"events\":[{\"event_type\":\"\",\"event_time\":1,\"user_id\":\"u\"}]}", 0,
     "an empty event_type"},
    {"[" EV "]", 0, "an array body"},
    {NULL, 0, NULL},
};

/* Each case of the fast path, and the slow path's verdict on the same text. */
static void test_scan(void) {
        char errstr[256], *big, *p;
        size_t i;

        for (i = 0; scans[i].json; i++) {
                json_t *payload, *errors = NULL;
                size_t n = svc_collect_scan(scans[i].json, strlen(scans[i].json));

                is_int(n, scans[i].events, "scan: %s", scans[i].label);
                payload = json_loads(scans[i].json, JSON_REJECT_DUPLICATES, NULL);
                if (n)
                        ok(payload &&
                               !svc_collect_check_payload(payload, &errors, errstr, sizeof(errstr)),
                           "scan: %s: the slow path accepts it too", scans[i].label);
                json_decref(errors);
                json_decref(payload);
        }
        for (i = 0; cases[i].json; i++)
                ok(svc_collect_scan(cases[i].json, strlen(cases[i].json)) == (size_t)cases[i].ok,
                   "scan agrees: %s", cases[i].label);
        /* 1000 events are counted; 1001 are left to the slow path, which refuses them. */
        big = malloc(16 + 1001 * (sizeof(EV) + 1));
        p = big + sprintf(big, "{\"events\":[");
        for (i = 0; i < 1001; i++)
                p += sprintf(p, "%s%s", i ? "," : "", EV);
        strcpy(p, "]}");
        is_int(svc_collect_scan(big, strlen(big)), 0, "scan: 1001 events left to the slow path");
        p -= sizeof(EV);
        strcpy(p, "]}");
        is_int(svc_collect_scan(big, strlen(big)), 1000, "scan: 1000 events counted");
        free(big);
}

/* An allocator that fails on demand, for jansson's allocations. */
static int alloc_fails;
static void *failing_malloc(size_t n) {
        return alloc_fails ? NULL : malloc(n);
}

/* Out of memory while listing the bad events still refuses the batch. */
static void test_no_memory(void) {
        json_t *errors = NULL,
               *payload =
                   json_loads("{\"events\":[{\"event_type\":\"a\",\"event_time\":1}]}", 0, NULL);
        char errstr[256] = "";

        alloc_fails = 1;
        ok(svc_collect_check_payload(payload, &errors, errstr, sizeof(errstr)) == -1,
           "no memory for the errors list: still refused (%s)", errstr);
        alloc_fails = 0;
        ok(!errors, "and no list");
        json_decref(payload);
}

int main(void) {
        char errstr[256], big[2048];

        json_set_alloc_funcs(failing_malloc, free);
        test_no_memory();
        test_scan();
        json_t *errors, *payload, *events, *ev;

        for (int i = 0; cases[i].json; i++) {
                json_error_t jerr;
                payload = json_loads(cases[i].json, 0, &jerr);
                errstr[0] = '\0';
                int rc = svc_collect_check_payload(payload, &errors, errstr, sizeof(errstr));
                ok((rc == 0) == cases[i].ok, "%s: %s", cases[i].label,
                   cases[i].ok ? "accepted" : "refused");
                if (cases[i].errstr_has && !strstr(errstr, cases[i].errstr_has))
                        ok(0, "%s: reason '%s' has '%s'", cases[i].label, errstr,
                           cases[i].errstr_has);
                json_decref(errors);
                json_decref(payload);
        }

        /* 128 bytes of event_type pass, 129 do not. */
        memset(big, 'x', 129);
        big[129] = '\0';
        ev = json_pack("{s:s, s:i, s:s}", "event_type", big, "event_time", 1, "user_id", "u");
        ok(svc_collect_check_event(ev, errstr, sizeof(errstr)) == -1,
           "129-byte event_type refused");
        json_object_set_new(ev, "event_type", json_stringn(big, 128));
        ok(svc_collect_check_event(ev, errstr, sizeof(errstr)) == 0,
           "128-byte event_type accepted");

        /* 1000 events pass, 1001 do not; per-event errors carry the index. */
        events = json_array();
        for (int i = 0; i < 1000; i++)
                json_array_append(events, ev);
        payload = json_pack("{s:O}", "events", events);
        ok(svc_collect_check_payload(payload, &errors, errstr, sizeof(errstr)) == 0,
           "1000 events accepted");
        json_array_append(json_object_get(payload, "events"), ev);
        ok(svc_collect_check_payload(payload, &errors, errstr, sizeof(errstr)) == -1 && !errors,
           "1001 events refused as a whole");
        json_decref(payload);
        json_array_clear(events);
        json_array_append(events, ev);
        json_array_append_new(events, json_pack("{s:s}", "event_type", "a"));
        json_array_append(events, ev);
        payload = json_pack("{s:O}", "events", events);
        ok(svc_collect_check_payload(payload, &errors, errstr, sizeof(errstr)) == -1,
           "one bad event refuses the batch");
        is_int(json_array_size(errors), 1, "one error listed");
        is_int(json_integer_value(json_object_get(json_array_get(errors, 0), "index")), 1,
               "it names index 1");
        json_decref(errors);
        json_decref(payload);
        json_decref(events);
        json_decref(ev);
        return done_testing();
}
