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
#include "kafka.h"

int svc_transform_iso_ms(long long ms, char *buf, size_t buf_size) {
        time_t sec;
        struct tm tm;
        char day[24];

        if (ms < 0 || ms > SVC_COLLECT_MAX_EVENT_TIME)
                return -1;
        sec = (time_t)(ms / 1000);
        if (!gmtime_r(&sec, &tm) || !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
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

char *svc_transform_refused_letter(const struct svc_transform_origin *from, const char *reason,
                                   size_t size, size_t *len) {
        json_t *rec = json_pack(
            "{s:s, s:o, s:I, s:I}", "error", reason, "request_id",
            from->request_id ? json_stringn(from->request_id, from->request_id_len) : json_null(),
            "event_index", (json_int_t)from->event_index, "size", (json_int_t)size);
        char *val = rec ? json_dumps(rec, JSON_COMPACT) : NULL;

        json_decref(rec);
        if (val)
                *len = strlen(val);
        return val;
}

/* Hands one record to emit, or the refused letter in its place when key and value would
 * not fit one Kafka message. value is handed over. */
static int emit_checked(const struct svc_transform_origin *from, int dlq, const char *key,
                        size_t key_len, char *value, size_t value_len, svc_transform_emit_t *emit,
                        void *opaque, struct svc_transform_counts *cnt) {
        char why[160];

        if (key_len + value_len > SVC_KAFKA_MESSAGE_MAX) {
                snprintf(why, sizeof(why),
                         "%s of %zu bytes is larger than a Kafka message (%d bytes): content "
                         "cut",
                         dlq ? "dead letter" : "record", key_len + value_len,
                         SVC_KAFKA_MESSAGE_MAX);
                free(value);
                if (!(value =
                          svc_transform_refused_letter(from, why, key_len + value_len, &value_len)))
                        return -1;
                dlq = 1;
        }
        if (dlq)
                cnt->dlq_cnt++;
        else
                cnt->produced_cnt++;
        return emit(opaque, from, dlq, key, key_len, value, value_len);
}

/* Emits one dead letter: {"error","raw"} for the message as a whole (from->event_index
 * -1), {"error","request_id","event_index","event"} for one event. what is borrowed. */
static int emit_dlq(const struct svc_transform_origin *from, const char *error, json_t *what,
                    const char *key, size_t key_len, svc_transform_emit_t *emit, void *opaque,
                    struct svc_transform_counts *cnt) {
        json_t *rec = json_object();
        char *val;

        if (!rec)
                return -1;
        json_object_set_new(rec, "error", json_string(error));
        if (from->event_index < 0) {
                json_object_set(rec, "raw", what);
        } else {
                json_object_set_new(rec, "request_id",
                                    json_stringn(from->request_id, from->request_id_len));
                json_object_set_new(rec, "event_index", json_integer(from->event_index));
                json_object_set(rec, "event", what);
        }
        val = json_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(rec);
        if (!val)
                return -1;
        return emit_checked(from, 1, key, key_len, val, strlen(val), emit, opaque, cnt);
}

/* A growing output buffer; err is set once an allocation failed. */
struct obuf {
        char *p;
        size_t len;  /* bytes used, excluding the terminating NUL */
        size_t size; /* bytes allocated */
        int err;
};

static void ob_put(struct obuf *b, const char *s, size_t n) {
        if (b->err)
                return;
        if (b->len + n + 1 > b->size) {
                size_t size = b->size ? b->size : 512;
                char *p;
                while (size < b->len + n + 1)
                        size *= 2;
                if (!(p = realloc(b->p, size))) {
                        b->err = 1;
                        return;
                }
                b->p = p, b->size = size;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

#define OB_LIT(b, lit) ob_put(b, lit, sizeof(lit) - 1)

/* A JSON string, escaped exactly as jansson's json_dumps() does (UTF-8 kept as is). */
static void ob_str(struct obuf *b, const char *s, size_t n) {
        size_t i, run = 0;

        OB_LIT(b, "\"");
        for (i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                char esc[8];
                const char *e;

                if (ch >= 0x20 && ch != '"' && ch != '\\')
                        continue;
                ob_put(b, s + run, i - run);
                run = i + 1;
                switch (ch) {
                case '"': e = "\\\""; break;
                case '\\': e = "\\\\"; break;
                case '\b': e = "\\b"; break;
                case '\f': e = "\\f"; break;
                case '\n': e = "\\n"; break;
                case '\r': e = "\\r"; break;
                case '\t': e = "\\t"; break;
                default: snprintf(esc, sizeof(esc), "\\u%04X", ch); e = esc;
                }
                ob_put(b, e, strlen(e));
        }
        ob_put(b, s + run, n - run);
        OB_LIT(b, "\"");
}

/* Any JSON value (NULL: null); strings and integers directly, the rest by jansson. */
static void ob_value(struct obuf *b, const json_t *v) {
        char num[32];
        char *dump;

        switch (v ? json_typeof(v) : JSON_NULL) {
        case JSON_STRING: ob_str(b, json_string_value(v), json_string_length(v)); return;
        case JSON_INTEGER:
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                ob_put(b, num, strlen(num));
                return;
        case JSON_TRUE: OB_LIT(b, "true"); return;
        case JSON_FALSE: OB_LIT(b, "false"); return;
        case JSON_NULL: OB_LIT(b, "null"); return;
        default:
                if (!(dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY))) {
                        b->err = 1;
                        return;
                }
                ob_put(b, dump, strlen(dump));
                free(dump);
        }
}

/* A field of obj, or NULL (null) when obj is not an object or lacks it. */
static const json_t *field(const json_t *obj, const char *name) {
        return json_is_object(obj) ? json_object_get(obj, name) : NULL;
}

/* Fields of an event that are promoted to the record; the others go to properties. */
static int is_promoted(const char *name, size_t len) {
        static const char *const names[] = {"event_type", "event_time", "user_id", "product_id"};
        for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
                if (len == strlen(names[i]) && !memcmp(name, names[i], len))
                        return 1;
        return 0;
}

/* Writes the output record of a valid event (docs/api.md, "What lands in Kafka"), in its
 * documented field order and without building a JSON tree: the hot path of the consumer.
 * Returns the record (from malloc, *len bytes), or NULL when out of memory. */
static char *build_record(const json_t *msg, const json_t *ctx, const json_t *event, size_t index,
                          const char *timestamp, size_t *len) {
        const json_t *rid = json_object_get(msg, "request_id");
        struct obuf b = {NULL, 0, 0, 0};
        char event_id[600];
        int n, first = 1;

        n = snprintf(event_id, sizeof(event_id), "%.*s-%zu", (int)json_string_length(rid),
                     json_string_value(rid), index);
        OB_LIT(&b, "{\"event_id\":");
        ob_str(&b, event_id, (size_t)n < sizeof(event_id) ? (size_t)n : sizeof(event_id) - 1);
        OB_LIT(&b, ",\"event_type\":");
        ob_value(&b, json_object_get(event, "event_type"));
        OB_LIT(&b, ",\"event_time\":");
        ob_value(&b, json_object_get(event, "event_time"));
        OB_LIT(&b, ",\"event_timestamp\":\"");
        ob_put(&b, timestamp, strlen(timestamp));
        OB_LIT(&b, "\",\"user_id\":");
        ob_value(&b, json_object_get(event, "user_id"));
        OB_LIT(&b, ",\"product_id\":");
        ob_value(&b, json_object_get(event, "product_id"));
        OB_LIT(&b, ",\"properties\":{");
        for (void *it = json_object_iter((json_t *)event); it;
             it = json_object_iter_next((json_t *)event, it)) {
                const char *key = json_object_iter_key(it);
                size_t key_len = json_object_iter_key_len(it);
                if (is_promoted(key, key_len))
                        continue;
                if (!first)
                        OB_LIT(&b, ",");
                first = 0;
                ob_str(&b, key, key_len);
                OB_LIT(&b, ":");
                ob_value(&b, json_object_iter_value(it));
        }
        OB_LIT(&b, "},\"browser\":");
        ob_value(&b, field(ctx, "browser"));
        OB_LIT(&b, ",\"device\":");
        ob_value(&b, field(ctx, "device"));
        OB_LIT(&b, ",\"browser_version\":");
        ob_value(&b, field(ctx, "version"));
        OB_LIT(&b, ",\"client_ip\":");
        ob_value(&b, field(msg, "client_ip"));
        OB_LIT(&b, ",\"user_agent\":");
        ob_value(&b, field(msg, "user_agent"));
        OB_LIT(&b, ",\"request_id\":");
        ob_value(&b, rid);
        OB_LIT(&b, ",\"received_at\":");
        ob_value(&b, field(msg, "received_at"));
        OB_LIT(&b, "}");
        if (b.err) {
                free(b.p);
                return NULL;
        }
        *len = b.len;
        return b.p;
}

/* Checks the parts of a raw message every event needs; NULL when usable, else why not. */
static const char *check_message(const json_t *msg, char *why, size_t why_size) {
        const json_t *payload, *events, *ctx, *rid;

        if (!json_is_object(msg))
                return "raw message is not a JSON object";
        rid = json_object_get(msg, "request_id");
        if (!json_is_string(rid) || json_string_length(rid) == 0 || json_string_length(rid) > 512)
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
                      svc_transform_emit_t *emit, void *opaque, struct svc_transform_counts *cnt) {
        struct svc_transform_origin from = {NULL, 0, -1};
        json_t *msg = NULL, *str = NULL, *events, *ctx, *event, *rid;
        json_error_t jerr;
        const char *why;
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
                ret = emit_dlq(&from, whybuf, str, key, key_len, emit, opaque, cnt);
                goto out;
        }
        if ((rid = json_object_get(msg, "request_id")) && json_is_string(rid))
                from.request_id = json_string_value(rid),
                from.request_id_len = json_string_length(rid);
        if ((why = check_message(msg, whybuf, sizeof(whybuf)))) {
                ret = emit_dlq(&from, why, msg, key, key_len, emit, opaque, cnt);
                goto out;
        }

        events = json_object_get(json_object_get(msg, "payload"), "events");
        ctx = json_object_get(json_object_get(msg, "payload"), "ctx");
        json_array_foreach(events, i, event) {
                const json_t *user;
                size_t val_len;
                char *val;

                from.event_index = (long long)i;
                /* The same checks as /collect's; iso_ms cannot fail after them. */
                if (svc_collect_check_event(event, whybuf, sizeof(whybuf)) == -1 ||
                    svc_transform_iso_ms(json_integer_value(json_object_get(event, "event_time")),
                                         ts, sizeof(ts)) == -1) {
                        if (emit_dlq(&from, whybuf, event, key, key_len, emit, opaque, cnt) == -1)
                                goto out;
                        continue;
                }
                if (!(val = build_record(msg, ctx, event, i, ts, &val_len)))
                        goto out;
                user = json_object_get(event, "user_id");
                if (emit_checked(&from, 0, json_string_value(user), json_string_length(user), val,
                                 val_len, emit, opaque, cnt) == -1)
                        goto out;
        }
        ret = 0;
out:
        json_decref(str);
        json_decref(msg);
        return ret;
}
