/* fuzz_collect.c - fuzzes the /collect payload checks over jansson-parsed input and
 * compares the verdict with an independent reading of the rules (docs/api.md, "POST /collect");
 * and the fast path, svc_collect_scan(): a body it counts must be one that jansson parses and
 * the checks accept, with as many events; and its walk of a raw message,
 * svc_collect_scan_raw(): a message it counts is an object jansson parses, with a
 * request_id of 1 to 512 bytes and a payload the checks accept. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "collect.h"
#include "fuzz_check.h"

static int event_is_valid(const json_t *e) {
        const json_t *type = json_object_get(e, "event_type");
        const json_t *time = json_object_get(e, "event_time");
        const json_t *user = json_object_get(e, "user_id");

        return json_is_object(e) && json_is_string(type) && json_string_length(type) >= 1 &&
               json_string_length(type) <= SVC_COLLECT_MAX_EVENT_TYPE && json_is_integer(time) &&
               json_integer_value(time) > 0 &&
               json_integer_value(time) <= SVC_COLLECT_MAX_EVENT_TIME && json_is_string(user) &&
               json_string_length(user) >= 1;
}

static void scan_agrees(const char *body, size_t len) {
        char errstr[256];
        size_t n = svc_collect_scan(body, len);
        json_t *payload, *errors = NULL;

        if (!n)
                return;
        payload = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(payload != NULL);
        FUZZ_CHECK(svc_collect_check_payload(payload, &errors, errstr, sizeof(errstr)) == 0);
        FUZZ_CHECK(json_array_size(json_object_get(payload, "events")) == n);
        json_decref(payload);
}

static void scan_raw_agrees(const char *raw, size_t len) {
        struct svc_collect_raw msg;
        char errstr[256];
        size_t n = svc_collect_scan_raw(raw, len, &msg);
        json_t *root, *rid, *errors = NULL;

        if (!n)
                return;
        root = json_loadb(raw, len, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(root != NULL);
        rid = json_object_get(root, "request_id");
        FUZZ_CHECK(json_is_string(rid) && json_string_length(rid) >= 1 &&
                   json_string_length(rid) <= SVC_COLLECT_MAX_REQUEST_ID &&
                   json_string_length(rid) == msg.request_id.len);
        FUZZ_CHECK(svc_collect_check_payload(json_object_get(root, "payload"), &errors, errstr,
                                             sizeof(errstr)) == 0);
        FUZZ_CHECK(json_array_size(json_object_get(json_object_get(root, "payload"), "events")) ==
                   n);
        json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const size_t flags[4] = {0, JSON_REJECT_DUPLICATES, JSON_DECODE_ANY,
                                        JSON_DECODE_ANY | JSON_ALLOW_NUL};
        char errstr[256] = "";
        json_t *payload, *errors = NULL, *events, *ctx, *e;
        size_t i, bad = 0, n_events;
        int rc, want;

        if (size < 1)
                return 0;
        scan_agrees((const char *)data + 1, size - 1);
        scan_raw_agrees((const char *)data + 1, size - 1);
        payload = json_loadb((const char *)data + 1, size - 1, flags[data[0] & 3], NULL);
        if (!payload)
                return 0;
        rc = svc_collect_check_payload(payload, &errors, errstr, sizeof(errstr));

        events = json_object_get(payload, "events");
        ctx = json_object_get(payload, "ctx");
        n_events = json_array_size(events);
        json_array_foreach(events, i, e) {
                char why[160] = "";
                int ev_rc = svc_collect_check_event(e, why, sizeof(why));
                FUZZ_CHECK((ev_rc == 0) == event_is_valid(e));
                FUZZ_CHECK(ev_rc == 0 || why[0]);
                if (ev_rc)
                        bad++;
        }
        want = json_is_object(payload) && json_is_array(events) && n_events >= 1 &&
               n_events <= SVC_COLLECT_MAX_EVENTS &&
               (!ctx || json_is_object(ctx) || json_is_null(ctx)) && bad == 0;
        FUZZ_CHECK((rc == 0) == want);
        FUZZ_CHECK(rc == 0 || errstr[0]);
        if (rc == 0) {
                FUZZ_CHECK(errors == NULL);
        } else if (errors) {
                /* errors only when the envelope is fine and some events failed */
                size_t prev = 0;
                json_t *err;
                FUZZ_CHECK(json_is_array(errors) && json_array_size(errors) == bad && bad > 0);
                json_array_foreach(errors, i, err) {
                        json_t *idx = json_object_get(err, "index");
                        FUZZ_CHECK(json_is_integer(idx) &&
                                   json_is_string(json_object_get(err, "message")));
                        FUZZ_CHECK(json_integer_value(idx) >= 0 &&
                                   (size_t)json_integer_value(idx) < n_events);
                        FUZZ_CHECK(i == 0 || (size_t)json_integer_value(idx) > prev);
                        prev = (size_t)json_integer_value(idx);
                        FUZZ_CHECK(!event_is_valid(json_array_get(events, prev)));
                }
        } else {
                FUZZ_CHECK(bad == 0 || !json_is_array(events) ||
                           n_events > SVC_COLLECT_MAX_EVENTS ||
                           (ctx && !json_is_object(ctx) && !json_is_null(ctx)) ||
                           !json_is_object(payload));
        }
        json_decref(errors);
        json_decref(payload);
        return 0;
}
