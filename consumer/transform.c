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

#include "collect.h"
#include "jbuf.h"
#include "kafka.h"

/* Puts the n decimal digits of v at p, zero-padded. */
static char *put_digits(char *p, unsigned v, int n) {
        for (int i = n - 1; i >= 0; i--, v /= 10)
                p[i] = (char)('0' + v % 10);
        return p + n;
}

/* Written out rather than through gmtime_r() and strftime(): once per record, they were
 * the stdio share of the consumer's profile. The unit test holds both to the same text. */
int svc_transform_iso_ms(long long ms, char *buf, size_t buf_size) {
        char out[25], *o = out;
        long long days, z, era, y;
        unsigned secs, doe, yoe, doy, mp, d, m;

        if (ms < 0 || ms > SVC_COLLECT_MAX_EVENT_TIME)
                return -1;
        days = ms / 86400000;
        secs = (unsigned)(ms % 86400000 / 1000);
        /* the civil date of a day count (proleptic Gregorian, days from 1970-01-01) */
        z = days + 719468;
        era = z / 146097;
        doe = (unsigned)(z - era * 146097);
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        d = doy - (153 * mp + 2) / 5 + 1;
        m = mp < 10 ? mp + 3 : mp - 9;
        y = (long long)yoe + era * 400 + (m <= 2);
        o = put_digits(o, (unsigned)y, 4); /* 1970 to 9999 */
        *o++ = '-';
        o = put_digits(o, m, 2);
        *o++ = '-';
        o = put_digits(o, d, 2);
        *o++ = 'T';
        o = put_digits(o, secs / 3600, 2);
        *o++ = ':';
        o = put_digits(o, secs / 60 % 60, 2);
        *o++ = ':';
        o = put_digits(o, secs % 60, 2);
        *o++ = '.';
        o = put_digits(o, (unsigned)(ms % 1000), 3);
        *o++ = 'Z';
        if (buf_size) { /* cut as snprintf() would */
                size_t n = (size_t)(o - out) < buf_size ? (size_t)(o - out) : buf_size - 1;
                memcpy(buf, out, n);
                buf[n] = '\0';
        }
        return 0;
}

/* A JSON string of bytes that were not JSON: invalid UTF-8 becomes U+FFFD, so the
 * dead-letter record stays valid JSON whatever arrived. */
static json_t *raw_string(const char *raw, size_t raw_len) {
        char *buf;
        size_t i = 0, o = 0, n;
        json_t *str;

        if (!raw)
                return json_string("");
        if (!(buf = malloc(raw_len * 3 + 1)))
                return NULL;
        while (i < raw_len) {
                if ((n = svc_jbuf_utf8_seq(raw + i, raw_len - i))) {
                        memcpy(buf + o, raw + i, n);
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

/* json_dump_callback_t: jansson writes a value straight into the buffer. */
static int ob_dump(const char *s, size_t n, void *opaque) {
        svc_jbuf_t *b = opaque;

        svc_jbuf_put(b, s, n);
        return b->err ? -1 : 0;
}

/* Any JSON value (NULL: null); strings and integers directly, the rest by jansson. */
static void ob_value(svc_jbuf_t *b, const json_t *v) {
        switch (v ? json_typeof(v) : JSON_NULL) {
        case JSON_STRING: svc_jbuf_str(b, json_string_value(v), json_string_length(v)); return;
        case JSON_INTEGER: svc_jbuf_int(b, json_integer_value(v)); return;
        case JSON_TRUE: SVC_JBUF_LIT(b, "true"); return;
        case JSON_FALSE: SVC_JBUF_LIT(b, "false"); return;
        case JSON_NULL: SVC_JBUF_LIT(b, "null"); return;
        default:
                if (json_dump_callback(v, ob_dump, b, JSON_COMPACT | JSON_ENCODE_ANY) == -1)
                        b->err = 1;
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

/* Writes v in decimal at p (no NUL). Returns the number of digits. */
static size_t put_size(char *p, size_t v) {
        char num[20];
        size_t n = 0;

        do
                num[sizeof(num) - ++n] = (char)('0' + v % 10);
        while ((v /= 10));
        memcpy(p, num + sizeof(num) - n, n);
        return n;
}

/* Writes the event_id of event index of request rid, `rid[:tag]-index` (':' is not in the
 * ids /collect gives: no plain event_id looks like a tagged one), into out (600 bytes),
 * cut as snprintf() would for an id that does not fit (the raw message's checks keep
 * request_id to 512 bytes). Returns its length. Both transform paths write it here. */
static size_t make_event_id(char out[600], const char *rid, size_t rid_len, const char *tag,
                            size_t index) {
        size_t n = 0, tag_len = tag ? strlen(tag) : 0;

        if (rid_len + tag_len + 1 + 1 + 20 >= 600) {
                int w = tag ? snprintf(out, 600, "%.*s:%s-%zu", (int)rid_len, rid, tag, index)
                            : snprintf(out, 600, "%.*s-%zu", (int)rid_len, rid, index);
                return (size_t)w < 600 ? (size_t)w : 599;
        }
        memcpy(out, rid, rid_len);
        n = rid_len;
        if (tag) {
                out[n++] = ':';
                memcpy(out + n, tag, tag_len);
                n += tag_len;
        }
        out[n++] = '-';
        return n + put_size(out + n, index);
}

/* Writes the output record of a valid event (docs/api.md, "What lands in Kafka"), in its
 * documented field order and without building a JSON tree: the hot path of the consumer.
 * Returns the record (from malloc, *len bytes), or NULL when out of memory. */
static char *build_record(const json_t *msg, const json_t *ctx, const json_t *event, size_t index,
                          const char *timestamp, const char *tag, size_t *len) {
        const json_t *rid = json_object_get(msg, "request_id");
        svc_jbuf_t b = SVC_JBUF_INIT;
        char event_id[600];
        size_t n =
            make_event_id(event_id, json_string_value(rid), json_string_length(rid), tag, index);
        int first = 1;

        SVC_JBUF_LIT(&b, "{\"event_id\":");
        svc_jbuf_str(&b, event_id, n);
        SVC_JBUF_LIT(&b, ",\"event_type\":");
        ob_value(&b, json_object_get(event, "event_type"));
        SVC_JBUF_LIT(&b, ",\"event_time\":");
        ob_value(&b, json_object_get(event, "event_time"));
        SVC_JBUF_LIT(&b, ",\"event_timestamp\":\"");
        svc_jbuf_put(&b, timestamp, strlen(timestamp));
        SVC_JBUF_LIT(&b, "\",\"user_id\":");
        ob_value(&b, json_object_get(event, "user_id"));
        SVC_JBUF_LIT(&b, ",\"product_id\":");
        ob_value(&b, json_object_get(event, "product_id"));
        SVC_JBUF_LIT(&b, ",\"properties\":{");
        for (void *it = json_object_iter((json_t *)event); it;
             it = json_object_iter_next((json_t *)event, it)) {
                const char *key = json_object_iter_key(it);
                size_t key_len = json_object_iter_key_len(it);
                if (is_promoted(key, key_len))
                        continue;
                if (!first)
                        SVC_JBUF_LIT(&b, ",");
                first = 0;
                svc_jbuf_str(&b, key, key_len);
                SVC_JBUF_LIT(&b, ":");
                ob_value(&b, json_object_iter_value(it));
        }
        SVC_JBUF_LIT(&b, "},\"browser\":");
        ob_value(&b, field(ctx, "browser"));
        SVC_JBUF_LIT(&b, ",\"device\":");
        ob_value(&b, field(ctx, "device"));
        SVC_JBUF_LIT(&b, ",\"browser_version\":");
        ob_value(&b, field(ctx, "version"));
        SVC_JBUF_LIT(&b, ",\"client_ip\":");
        ob_value(&b, field(msg, "client_ip"));
        SVC_JBUF_LIT(&b, ",\"user_agent\":");
        ob_value(&b, field(msg, "user_agent"));
        SVC_JBUF_LIT(&b, ",\"request_id\":");
        ob_value(&b, rid);
        SVC_JBUF_LIT(&b, ",\"received_at\":");
        ob_value(&b, field(msg, "received_at"));
        /* the write key's source, when /collect had keys: absent otherwise */
        if (json_is_string(json_object_get(msg, "source"))) {
                SVC_JBUF_LIT(&b, ",\"source\":");
                ob_value(&b, json_object_get(msg, "source"));
        }
        SVC_JBUF_LIT(&b, "}");
        return svc_jbuf_take(&b, len);
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

int svc_transform_raw_reference(const char *raw, size_t raw_len, const char *key, size_t key_len,
                                const char *tag, svc_transform_emit_t *emit, void *opaque,
                                struct svc_transform_counts *cnt) {
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
                if (!(val = build_record(msg, ctx, event, i, ts, tag, &val_len)))
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

/* --- The fast path: the common message in one walk, without a tree ---
 * svc_collect_scan_raw() answers only for a message the jansson path above would read
 * without a dead letter, and gives the values that path would find. Each is written the
 * way the jansson path writes it: strings through the same escaper (svc_jbuf_str) once
 * unescaped, integers by value; reals, arrays and objects are rare in records and are
 * handed to jansson itself. tests/unit/test_transform.c compares both paths. */

/* Appends s[0..n), a string's text between its quotes, with its short escapes resolved
 * (svc_collect_scan_raw() never lets \uXXXX through). */
static void put_unescaped(svc_jbuf_t *b, const char *s, size_t n) {
        size_t run = 0, i;

        for (i = 0; i < n; i++) {
                char c;
                if (s[i] != '\\')
                        continue;
                svc_jbuf_put(b, s + run, i - run);
                switch ((c = s[++i])) {
                case 'b': c = '\b'; break;
                case 'f': c = '\f'; break;
                case 'n': c = '\n'; break;
                case 'r': c = '\r'; break;
                case 't': c = '\t'; break;
                default: break; /* " \\ / stand for themselves */
                }
                svc_jbuf_put(b, &c, 1);
                run = i + 1;
        }
        svc_jbuf_put(b, s + run, n - run);
}

/* The string value v unescaped into tmp (emptied first), or v's own text when it has no
 * escape. */
static const char *string_of(const struct svc_collect_val *v, svc_jbuf_t *tmp, size_t *len) {
        if (!v->escaped) {
                *len = v->raw_len;
                return v->raw;
        }
        svc_jbuf_reset(tmp);
        put_unescaped(tmp, v->raw, v->raw_len);
        *len = tmp->len;
        return tmp->err ? NULL : tmp->ptr;
}

/* Any value the walk found, as ob_value() writes the same value of jansson's tree. */
static void put_val(svc_jbuf_t *b, svc_jbuf_t *tmp, const struct svc_collect_val *v) {
        const char *s;
        size_t len;
        json_t *j;

        switch (v->kind) {
        case SVC_COLLECT_V_ABSENT:
        case SVC_COLLECT_V_NULL: SVC_JBUF_LIT(b, "null"); return;
        case SVC_COLLECT_V_INTEGER: svc_jbuf_int(b, v->integer); return;
        case SVC_COLLECT_V_STRING:
                if ((s = string_of(v, tmp, &len)))
                        svc_jbuf_str(b, s, len);
                else
                        b->err = 1;
                return;
        default:
                if (*v->text == 't' || *v->text == 'f') { /* true, false: as written */
                        svc_jbuf_put(b, v->text, v->text_len);
                        return;
                }
                /* a real, an array or an object: jansson parses and writes it */
                if (!(j = json_loadb(v->text, v->text_len, JSON_DECODE_ANY, NULL))) {
                        b->err = 1;
                        return;
                }
                ob_value(b, j);
                json_decref(j);
        }
}

static int member_is(const struct svc_collect_member *m, const char *name, size_t name_len) {
        return m->key_len == name_len && !memcmp(m->key, name, name_len);
}
#define MEMBER_IS(m, lit) member_is(m, lit, sizeof(lit) - 1)

/* The record of one event, field for field as build_record() writes it. */
static char *fast_record(const struct svc_collect_raw *msg, const struct svc_collect_event *ev,
                         const char *rid, size_t rid_len, size_t index, const char *tag,
                         svc_jbuf_t *tmp, size_t *len) {
        static const struct svc_collect_val absent = {0};
        const struct svc_collect_val *type = &absent, *time = &absent, *user = &absent,
                                     *product = &absent;
        svc_jbuf_t b = SVC_JBUF_INIT;
        char event_id[600], ts[32];
        size_t n;
        int first = 1;

        for (size_t i = 0; i < ev->member_cnt; i++) {
                const struct svc_collect_member *m = &ev->members[i];
                if (MEMBER_IS(m, "event_type"))
                        type = &m->val;
                else if (MEMBER_IS(m, "event_time"))
                        time = &m->val;
                else if (MEMBER_IS(m, "user_id"))
                        user = &m->val;
                else if (MEMBER_IS(m, "product_id"))
                        product = &m->val;
        }
        if (svc_transform_iso_ms(time->integer, ts, sizeof(ts)) == -1)
                return NULL; /* the walk checked it: cannot happen */
        n = make_event_id(event_id, rid, rid_len, tag, index);
        /* the envelope's fields and the event's text: one allocation, usually */
        if (svc_jbuf_reserve(&b, 320 + (size_t)(msg->end - msg->events) / msg->event_cnt +
                                     msg->client_ip.text_len + msg->user_agent.text_len +
                                     2 * rid_len) == -1)
                return NULL;
        SVC_JBUF_LIT(&b, "{\"event_id\":");
        svc_jbuf_str(&b, event_id, n);
        SVC_JBUF_LIT(&b, ",\"event_type\":");
        put_val(&b, tmp, type);
        SVC_JBUF_LIT(&b, ",\"event_time\":");
        put_val(&b, tmp, time);
        SVC_JBUF_LIT(&b, ",\"event_timestamp\":\"");
        svc_jbuf_put(&b, ts, strlen(ts));
        SVC_JBUF_LIT(&b, "\",\"user_id\":");
        put_val(&b, tmp, user);
        SVC_JBUF_LIT(&b, ",\"product_id\":");
        put_val(&b, tmp, product);
        SVC_JBUF_LIT(&b, ",\"properties\":{");
        for (size_t i = 0; i < ev->member_cnt; i++) {
                const struct svc_collect_member *m = &ev->members[i];
                if (is_promoted(m->key, m->key_len))
                        continue;
                if (!first)
                        SVC_JBUF_LIT(&b, ",");
                first = 0;
                svc_jbuf_str(&b, m->key, m->key_len);
                SVC_JBUF_LIT(&b, ":");
                put_val(&b, tmp, &m->val);
        }
        SVC_JBUF_LIT(&b, "},\"browser\":");
        put_val(&b, tmp, &msg->browser);
        SVC_JBUF_LIT(&b, ",\"device\":");
        put_val(&b, tmp, &msg->device);
        SVC_JBUF_LIT(&b, ",\"browser_version\":");
        put_val(&b, tmp, &msg->version);
        SVC_JBUF_LIT(&b, ",\"client_ip\":");
        put_val(&b, tmp, &msg->client_ip);
        SVC_JBUF_LIT(&b, ",\"user_agent\":");
        put_val(&b, tmp, &msg->user_agent);
        SVC_JBUF_LIT(&b, ",\"request_id\":");
        svc_jbuf_str(&b, rid, rid_len);
        SVC_JBUF_LIT(&b, ",\"received_at\":");
        put_val(&b, tmp, &msg->received_at);
        if (msg->source.kind == SVC_COLLECT_V_STRING) {
                SVC_JBUF_LIT(&b, ",\"source\":");
                put_val(&b, tmp, &msg->source);
        }
        SVC_JBUF_LIT(&b, "}");
        return svc_jbuf_take(&b, len);
}

/* The message through the fast path. Returns 1 when it took it (every record emitted),
 * 0 when it is not the common shape (nothing emitted: the jansson path takes it), -1 when
 * emit failed or memory ran out. */
static int transform_fast(const char *raw, size_t raw_len, const char *tag,
                          svc_transform_emit_t *emit, void *opaque,
                          struct svc_transform_counts *cnt) {
        struct svc_transform_origin from = {NULL, 0, -1};
        struct svc_collect_raw msg;
        struct svc_collect_event ev;
        svc_jbuf_t rid = SVC_JBUF_INIT, user = SVC_JBUF_INIT, tmp = SVC_JBUF_INIT;
        const char *pos, *user_id;
        size_t user_len;
        int ret = -1;

        if (!raw || !svc_collect_scan_raw(raw, raw_len, &msg))
                return 0;
        if (!(from.request_id = string_of(&msg.request_id, &rid, &from.request_id_len)))
                goto out;
        pos = msg.events;
        for (size_t i = 0; i < msg.event_cnt; i++) {
                const struct svc_collect_val *uv = NULL;
                size_t val_len;
                char *val;

                if (svc_collect_scan_event(&pos, msg.end, &ev) == -1)
                        goto out; /* the walk counted it: cannot happen */
                from.event_index = (long long)i;
                if (!(val = fast_record(&msg, &ev, from.request_id, from.request_id_len, i, tag,
                                        &tmp, &val_len)))
                        goto out;
                for (size_t m = 0; m < ev.member_cnt && !uv; m++)
                        if (MEMBER_IS(&ev.members[m], "user_id"))
                                uv = &ev.members[m].val;
                if (!uv || !(user_id = string_of(uv, &user, &user_len))) {
                        free(val);
                        goto out;
                }
                if (emit_checked(&from, 0, user_id, user_len, val, val_len, emit, opaque, cnt) ==
                    -1)
                        goto out;
        }
        ret = 1;
out:
        svc_jbuf_free(&rid);
        svc_jbuf_free(&user);
        svc_jbuf_free(&tmp);
        return ret;
}

int svc_transform_raw_tagged(const char *raw, size_t raw_len, const char *key, size_t key_len,
                             const char *tag, svc_transform_emit_t *emit, void *opaque,
                             struct svc_transform_counts *cnt) {
        int ret = transform_fast(raw, raw_len, tag, emit, opaque, cnt);

        if (ret)
                return ret == 1 ? 0 : -1;
        return svc_transform_raw_reference(raw, raw_len, key, key_len, tag, emit, opaque, cnt);
}

int svc_transform_raw(const char *raw, size_t raw_len, const char *key, size_t key_len,
                      svc_transform_emit_t *emit, void *opaque, struct svc_transform_counts *cnt) {
        return svc_transform_raw_tagged(raw, raw_len, key, key_len, NULL, emit, opaque, cnt);
}
