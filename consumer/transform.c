/* transform.c - one raw collect message into output records and dead-letter records.
 *
 * The output is a function of the raw message's bytes alone (no clock, no host): the
 * fields of a record are written in a fixed order and the objects copied from the input
 * keep the input's order, so a message transformed again after a crash yields records
 * byte-identical to the first ones, with the same event_id. */
#include "transform.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collect.h"

int svc_transform_iso_ms(long long ms, char *buf, size_t buf_size) {
        time_t sec;
        struct tm tm;
        char day[24];

        if (ms < 0 || ms > SVC_TRANSFORM_MAX_EVENT_TIME)
                return -1;
        sec = (time_t)(ms / 1000);
        if (!gmtime_r(&sec, &tm) ||
            !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
                return -1;
        snprintf(buf, buf_size, "%s.%03dZ", day, (int)(ms % 1000));
        return 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t left) {
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

/* A JSON string of bytes that were not JSON: invalid UTF-8 becomes U+FFFD, so the
 * dead-letter record stays valid JSON whatever arrived. */
static json_t *raw_string(const char *raw, size_t raw_len) {
        const unsigned char *s = (const unsigned char *)raw;
        char *buf;
        size_t i = 0, o = 0, n;
        json_t *str;

        if (!raw)
                return json_string("");
        if (!(buf = malloc(raw_len * 3 + 1)))
                return NULL;
        while (i < raw_len) {
                if ((n = utf8_seq_len(s + i, raw_len - i))) {
                        memcpy(buf + o, s + i, n);
                        o += n, i += n;
                } else {
                        memcpy(buf + o, "\xef\xbf\xbd", 3);
                        o += 3, i++;
                }
        }
        str = json_stringn(buf, o);
        free(buf);
        return str;
}

/* Emits one dead-letter record {"error","event_index"?,"raw"}; raw is borrowed. */
static int emit_dlq(const char *error, long long event_index, json_t *raw, const char *key,
                    size_t key_len, svc_transform_emit_t *emit, void *opaque,
                    struct svc_transform_counts *cnt) {
        json_t *rec = json_object();
        char *val;

        if (!rec)
                return -1;
        json_object_set_new(rec, "error", json_string(error));
        if (event_index >= 0)
                json_object_set_new(rec, "event_index", json_integer(event_index));
        json_object_set(rec, "raw", raw);
        val = json_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(rec);
        if (!val)
                return -1;
        cnt->dlq_cnt++;
        return emit(opaque, 1, key, key_len, val, strlen(val));
}

/* A field of obj, or JSON null when absent (a borrowed reference either way). */
static json_t *get_or_null(const json_t *obj, const char *name) {
        json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;
        return v ? v : json_null();
}

/* Fields of an event that are promoted to the record; the others go to properties. */
static int is_promoted(const char *name) {
        return !strcmp(name, "event_type") || !strcmp(name, "event_time") ||
               !strcmp(name, "user_id") || !strcmp(name, "product_id");
}

/* Builds the output record of a valid event (spec section 4), in the spec's field order. */
static json_t *build_record(const json_t *msg, const json_t *ctx, const json_t *event,
                            const char *request_id, size_t index, const char *timestamp) {
        json_t *rec = json_object(), *props = json_object(), *v;
        char event_id[600];
        const char *name;

        if (!rec || !props) {
                json_decref(rec);
                json_decref(props);
                return NULL;
        }
        snprintf(event_id, sizeof(event_id), "%s-%zu", request_id, index);
        json_object_foreach((json_t *)event, name, v) {
                if (!is_promoted(name))
                        json_object_set(props, name, v);
        }
        json_object_set_new(rec, "event_id", json_string(event_id));
        json_object_set(rec, "event_type", json_object_get(event, "event_type"));
        json_object_set(rec, "event_time", json_object_get(event, "event_time"));
        json_object_set_new(rec, "event_timestamp", json_string(timestamp));
        json_object_set(rec, "user_id", json_object_get(event, "user_id"));
        json_object_set(rec, "product_id", get_or_null(event, "product_id"));
        json_object_set_new(rec, "properties", props);
        json_object_set(rec, "browser", get_or_null(ctx, "browser"));
        json_object_set(rec, "device", get_or_null(ctx, "device"));
        json_object_set(rec, "browser_version", get_or_null(ctx, "version"));
        json_object_set(rec, "client_ip", get_or_null(msg, "client_ip"));
        json_object_set(rec, "user_agent", get_or_null(msg, "user_agent"));
        json_object_set(rec, "request_id", json_object_get(msg, "request_id"));
        json_object_set(rec, "received_at", get_or_null(msg, "received_at"));
        return rec;
}

/* Checks the parts of a raw message every event needs; NULL when usable, else why not. */
static const char *check_message(const json_t *msg, char *why, size_t why_size) {
        const json_t *payload, *events, *ctx, *rid;

        if (!json_is_object(msg))
                return "raw message is not a JSON object";
        rid = json_object_get(msg, "request_id");
        if (!json_is_string(rid) || json_string_length(rid) == 0 ||
            json_string_length(rid) > 512)
                return "raw message has no request_id (a non-empty string of at most 512 "
                       "bytes)";
        payload = json_object_get(msg, "payload");
        if (!json_is_object(payload))
                return "raw message has no payload object";
        events = json_object_get(payload, "events");
        if (!json_is_array(events) || json_array_size(events) == 0)
                return "payload.events must be a non-empty array";
        if (json_array_size(events) > SVC_COLLECT_MAX_EVENTS) {
                snprintf(why, why_size, "payload.events has %zu entries, at most %d are allowed",
                         json_array_size(events), SVC_COLLECT_MAX_EVENTS);
                return why;
        }
        ctx = json_object_get(payload, "ctx");
        if (ctx && !json_is_object(ctx) && !json_is_null(ctx))
                return "payload.ctx must be an object";
        return NULL;
}

int svc_transform_raw(const char *raw, size_t raw_len, const char *key, size_t key_len,
                      svc_transform_emit_t *emit, void *opaque,
                      struct svc_transform_counts *cnt) {
        json_t *msg = NULL, *str = NULL, *events, *ctx, *event;
        json_error_t jerr;
        const char *why, *request_id;
        char whybuf[256], ts[32];
        size_t i;
        int ret = -1;

        if (raw && raw_len)
                msg = json_loadb(raw, raw_len, JSON_DECODE_ANY, &jerr);
        if (!msg) {
                if (!raw || !raw_len)
                        snprintf(whybuf, sizeof(whybuf), "raw message is empty");
                else
                        snprintf(whybuf, sizeof(whybuf),
                                 "raw message is not valid JSON: %s (line %d, column %d)",
                                 jerr.text, jerr.line, jerr.column);
                if (!(str = raw_string(raw, raw_len)))
                        goto out;
                ret = emit_dlq(whybuf, -1, str, key, key_len, emit, opaque, cnt);
                goto out;
        }
        if ((why = check_message(msg, whybuf, sizeof(whybuf)))) {
                ret = emit_dlq(why, -1, msg, key, key_len, emit, opaque, cnt);
                goto out;
        }

        request_id = json_string_value(json_object_get(msg, "request_id"));
        events = json_object_get(json_object_get(msg, "payload"), "events");
        ctx = json_object_get(json_object_get(msg, "payload"), "ctx");
        json_array_foreach(events, i, event) {
                json_t *rec;
                const char *user;
                char *val;

                if (svc_collect_check_event(event, whybuf, sizeof(whybuf)) == -1 ||
                    (svc_transform_iso_ms(json_integer_value(json_object_get(event, "event_time")),
                                          ts, sizeof(ts)) == -1 &&
                     snprintf(whybuf, sizeof(whybuf),
                              "event_time is after the year 9999 (epoch milliseconds "
                              "expected)") > 0)) {
                        if (emit_dlq(whybuf, (long long)i, msg, key, key_len, emit, opaque,
                                     cnt) == -1)
                                goto out;
                        continue;
                }
                if (!(rec = build_record(msg, ctx, event, request_id, i, ts)))
                        goto out;
                val = json_dumps(rec, JSON_COMPACT);
                json_decref(rec);
                if (!val)
                        goto out;
                user = json_string_value(json_object_get(event, "user_id"));
                cnt->produced_cnt++;
                if (emit(opaque, 0, user, json_string_length(json_object_get(event, "user_id")),
                         val, strlen(val)) == -1)
                        goto out;
        }
        ret = 0;
out:
        json_decref(str);
        json_decref(msg);
        return ret;
}
