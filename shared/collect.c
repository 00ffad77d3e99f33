/* collect.c - the /collect payload checks (docs/api.md), shared with the consumer. */
#include "collect.h"

#include <stdio.h>
#include <string.h>

int svc_collect_check_event(const json_t *event, char *errstr, size_t errstr_size) {
        const json_t *type, *time, *user;

        if (!json_is_object(event)) {
                snprintf(errstr, errstr_size, "event is not an object");
                return -1;
        }
        type = json_object_get(event, "event_type");
        time = json_object_get(event, "event_time");
        user = json_object_get(event, "user_id");
        if (!json_is_string(type) || json_string_length(type) == 0) {
                snprintf(errstr, errstr_size, "event_type must be a non-empty string");
                return -1;
        }
        if (json_string_length(type) > SVC_COLLECT_MAX_EVENT_TYPE) {
                snprintf(errstr, errstr_size, "event_type is longer than %d bytes",
                         SVC_COLLECT_MAX_EVENT_TYPE);
                return -1;
        }
        if (!json_is_integer(time) || json_integer_value(time) <= 0) {
                snprintf(errstr, errstr_size,
                         "event_time must be a positive integer (epoch milliseconds)");
                return -1;
        }
        if (json_integer_value(time) > SVC_COLLECT_MAX_EVENT_TIME) {
                snprintf(errstr, errstr_size,
                         "event_time is after the year 9999 (epoch milliseconds expected, at "
                         "most %lld)",
                         SVC_COLLECT_MAX_EVENT_TIME);
                return -1;
        }
        if (!json_is_string(user) || json_string_length(user) == 0) {
                snprintf(errstr, errstr_size, "user_id must be a non-empty string");
                return -1;
        }
        return 0;
}

int svc_collect_check_payload(const json_t *payload, json_t **errors, char *errstr,
                              size_t errstr_size) {
        const json_t *events, *ctx, *event;
        json_t *errs = NULL;
        size_t i, bad_cnt = 0;

        *errors = NULL;
        if (!json_is_object(payload)) {
                snprintf(errstr, errstr_size, "the body must be a JSON object");
                return -1;
        }
        events = json_object_get(payload, "events");
        if (!json_is_array(events) || json_array_size(events) == 0) {
                snprintf(errstr, errstr_size, "events must be a non-empty array");
                return -1;
        }
        if (json_array_size(events) > SVC_COLLECT_MAX_EVENTS) {
                snprintf(errstr, errstr_size, "events has %zu entries, at most %d are allowed",
                         json_array_size(events), SVC_COLLECT_MAX_EVENTS);
                return -1;
        }
        ctx = json_object_get(payload, "ctx");
        if (ctx && !json_is_object(ctx) && !json_is_null(ctx)) {
                snprintf(errstr, errstr_size, "ctx must be an object");
                return -1;
        }
        json_array_foreach(events, i, event) {
                char why[160];
                if (svc_collect_check_event(event, why, sizeof(why)) == 0)
                        continue;
                bad_cnt++;
                /* Out of memory only costs the details: the payload stays refused. */
                if (!errs)
                        errs = json_array();
                if (errs)
                        json_array_append_new(
                            errs, json_pack("{s:i, s:s}", "index", (json_int_t)i, "message", why));
        }
        if (!bad_cnt)
                return 0;
        snprintf(errstr, errstr_size, "%zu of %zu events are invalid", bad_cnt,
                 json_array_size(events));
        *errors = errs;
        return -1;
}
