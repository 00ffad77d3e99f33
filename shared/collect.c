/* collect.c - the /collect payload checks (docs/api.md), shared with the consumer. */
#include "collect.h"

#include <stdio.h>
#include <string.h>

#include "jbuf.h"

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

/* --- The fast path: one walk over the text, no tree (collect.h, svc_collect_scan()) ---
 * Every rule below is a subset of what json_loadb(JSON_REJECT_DUPLICATES) accepts: the
 * walk gives up (returns -1) on whatever it does not need to decide for the common body,
 * and the caller then parses the slow way. Giving up is always safe; accepting is not. */

#define SCAN_MAX_DEPTH 32 /* jansson allows 2048 */
#define SCAN_MAX_KEYS SVC_COLLECT_SCAN_MAX_KEYS

struct scan {
        const char *p, *end;
        int depth;
};

/* What the walk keeps of a value: struct svc_collect_val (collect.h). */
#define SCAN_STRING SVC_COLLECT_V_STRING
#define SCAN_INTEGER SVC_COLLECT_V_INTEGER
#define SCAN_OBJECT SVC_COLLECT_V_OBJECT
#define SCAN_NULL SVC_COLLECT_V_NULL
#define SCAN_OTHER SVC_COLLECT_V_OTHER

static void scan_ws(struct scan *s) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
                s->p++;
}

/* A string at s->p: plain bytes, the short escapes, valid UTF-8. \uXXXX is left to jansson
 * (surrogates, NUL). */
static int scan_string(struct scan *s, struct svc_collect_val *v) {
        int high = 0;

        v->kind = SCAN_STRING;
        v->raw = ++s->p;
        v->escaped = 0;
        v->len = 0;
        for (; s->p < s->end; s->p++, v->len++) {
                unsigned char c = (unsigned char)*s->p;
                if (c == '"') {
                        v->raw_len = (size_t)(s->p++ - v->raw);
                        return high && !svc_jbuf_utf8_valid(v->raw, v->raw_len) ? -1 : 0;
                }
                if (c < 0x20)
                        return -1;
                high |= c >= 0x80;
                if (c == '\\') {
                        if (++s->p == s->end || !strchr("\"\\/bfnrt", *s->p) || !*s->p)
                                return -1;
                        v->escaped = 1;
                }
        }
        return -1;
}

/* A number, by the JSON grammar. An integer of at most 18 digits cannot overflow, and a
 * real whose integer part has at most 18 digits and whose exponent at most 2 cannot overflow
 * a double: the only numbers jansson refuses are left to it. */
static int scan_number(struct scan *s, struct svc_collect_val *v) {
        const char *digits;
        int neg = *s->p == '-';

        s->p += neg;
        digits = s->p;
        v->kind = SCAN_INTEGER;
        v->integer = 0;
        if (s->p < s->end && *s->p == '0')
                s->p++;
        else
                for (; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++) {
                        if (s->p - digits == 18)
                                return -1;
                        v->integer = v->integer * 10 + (*s->p - '0');
                }
        if (s->p == digits)
                return -1;
        if (neg)
                v->integer = -v->integer;
        if (s->p < s->end && *s->p == '.') {
                const char *frac = ++s->p;
                while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
                        s->p++;
                if (s->p == frac)
                        return -1;
                v->kind = SCAN_OTHER;
        }
        if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
                const char *exp;
                s->p += s->p + 1 < s->end && (s->p[1] == '+' || s->p[1] == '-') ? 2 : 1;
                exp = s->p;
                while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
                        s->p++;
                if (s->p == exp || s->p - exp > 2)
                        return -1;
                v->kind = SCAN_OTHER;
        }
        return 0;
}

static int scan_value(struct scan *s, struct svc_collect_val *v);

/* Walks the value of one member of an object (s->p after the colon). */
typedef int (*scan_member_fn)(struct scan *s, const struct svc_collect_val *key, void *opaque);
/* Walks one element of an array. */
typedef int (*scan_elem_fn)(struct scan *s, void *opaque);

/* Enters the object or array at s->p: one level deeper. */
static int scan_open(struct scan *s) {
        if (++s->depth > SCAN_MAX_DEPTH)
                return -1;
        s->p++;
        scan_ws(s);
        return 0;
}

/* Leaves it at its closing bracket. */
static int scan_close(struct scan *s) {
        s->p++;
        s->depth--;
        return 0;
}

/* After a member or an element: 1 when another follows a comma, 0 after the closing
 * bracket, -1 for anything else (a trailing comma too). */
static int scan_next(struct scan *s, char close) {
        scan_ws(s);
        if (s->p < s->end && *s->p == ',') {
                s->p++;
                scan_ws(s);
                return s->p < s->end && *s->p != close ? 1 : -1;
        }
        return s->p < s->end && *s->p == close ? scan_close(s) : -1;
}

/* An object at s->p, with member() for each value. A duplicate key is left to jansson
 * (which refuses it); keys are compared as written, so a key with an escape is too. */
static int scan_object(struct scan *s, scan_member_fn member, void *opaque) {
        struct {
                const char *p;
                size_t n;
        } keys[SCAN_MAX_KEYS];
        size_t n = 0;
        int more;

        if (scan_open(s) == -1)
                return -1;
        if (s->p < s->end && *s->p == '}')
                return scan_close(s);
        do {
                struct svc_collect_val key;
                if (s->p == s->end || *s->p != '"' || scan_string(s, &key) == -1 || key.escaped ||
                    n == SCAN_MAX_KEYS)
                        return -1;
                for (size_t i = 0; i < n; i++)
                        if (keys[i].n == key.raw_len && !memcmp(keys[i].p, key.raw, key.raw_len))
                                return -1;
                keys[n].p = key.raw;
                keys[n++].n = key.raw_len;
                scan_ws(s);
                if (s->p == s->end || *s->p++ != ':')
                        return -1;
                scan_ws(s);
                if (member(s, &key, opaque) == -1)
                        return -1;
        } while ((more = scan_next(s, '}')) == 1);
        return more;
}

/* An array at s->p, with elem() for each element; *count: how many. */
static int scan_array(struct scan *s, scan_elem_fn elem, void *opaque, size_t *count) {
        int more;

        *count = 0;
        if (scan_open(s) == -1)
                return -1;
        if (s->p < s->end && *s->p == ']')
                return scan_close(s);
        do {
                if (elem(s, opaque) == -1)
                        return -1;
                ++*count;
        } while ((more = scan_next(s, ']')) == 1);
        return more;
}

static int skip_member(struct scan *s, const struct svc_collect_val *key, void *opaque) {
        struct svc_collect_val v;
        (void)key, (void)opaque;
        return scan_value(s, &v);
}

static int skip_elem(struct scan *s, void *opaque) {
        struct svc_collect_val v;
        (void)opaque;
        return scan_value(s, &v);
}

static int scan_literal(struct scan *s, const char *word, int kind, struct svc_collect_val *v) {
        size_t n = strlen(word);
        if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n))
                return -1;
        s->p += n;
        v->kind = kind;
        return 0;
}

/* Any value; v->text is its whole text (a string's with the quotes). */
static int scan_value(struct scan *s, struct svc_collect_val *v) {
        size_t n;
        int ret;

        if (s->p == s->end)
                return -1;
        v->text = s->p;
        switch (*s->p) {
        case '"': ret = scan_string(s, v); break;
        case '{':
                v->kind = SCAN_OBJECT;
                ret = scan_object(s, skip_member, NULL);
                break;
        case '[':
                v->kind = SCAN_OTHER;
                ret = scan_array(s, skip_elem, NULL, &n);
                break;
        case 't': ret = scan_literal(s, "true", SCAN_OTHER, v); break;
        case 'f': ret = scan_literal(s, "false", SCAN_OTHER, v); break;
        case 'n': ret = scan_literal(s, "null", SCAN_NULL, v); break;
        default: ret = *s->p == '-' || (*s->p >= '0' && *s->p <= '9') ? scan_number(s, v) : -1;
        }
        v->text_len = (size_t)(s->p - v->text);
        return ret;
}

/* The three fields of an event that svc_collect_check_event() reads. */
struct scan_event {
        struct svc_collect_val type, time, user;
};

static int key_is(const struct svc_collect_val *key, const char *name) {
        return key->raw_len == strlen(name) && !memcmp(key->raw, name, key->raw_len);
}

static int event_member(struct scan *s, const struct svc_collect_val *key, void *opaque) {
        struct scan_event *ev = opaque;
        struct svc_collect_val ignored;

        return scan_value(s, key_is(key, "event_type")   ? &ev->type
                             : key_is(key, "event_time") ? &ev->time
                             : key_is(key, "user_id")    ? &ev->user
                                                         : &ignored);
}

/* An event that passes svc_collect_check_event(); any other is left to the slow path,
 * which names what is wrong with it. */
static int event_elem(struct scan *s, void *opaque) {
        struct scan_event ev = {{0}, {0}, {0}};

        (void)opaque;
        if (s->p == s->end || *s->p != '{' || scan_object(s, event_member, &ev) == -1)
                return -1;
        return ev.type.kind == SCAN_STRING && ev.type.len >= 1 &&
                       ev.type.len <= SVC_COLLECT_MAX_EVENT_TYPE && ev.time.kind == SCAN_INTEGER &&
                       ev.time.integer >= 1 && ev.time.integer <= SVC_COLLECT_MAX_EVENT_TIME &&
                       ev.user.kind == SCAN_STRING && ev.user.len >= 1
                   ? 0
                   : -1;
}

struct scan_payload {
        size_t events; /* 0 until an events array was walked */
        int ctx_bad;
        struct svc_collect_raw *msg; /* svc_collect_scan_raw(): what it keeps; else NULL */
};

/* A member of payload.ctx that the consumer's records carry. */
static int ctx_member(struct scan *s, const struct svc_collect_val *key, void *opaque) {
        struct svc_collect_raw *msg = opaque;
        struct svc_collect_val ignored;

        return scan_value(s, key_is(key, "browser")   ? &msg->browser
                             : key_is(key, "device")  ? &msg->device
                             : key_is(key, "version") ? &msg->version
                                                      : &ignored);
}

static int payload_member(struct scan *s, const struct svc_collect_val *key, void *opaque) {
        struct scan_payload *pl = opaque;
        struct svc_collect_val v;

        if (key_is(key, "events")) {
                if (pl->msg)
                        pl->msg->events = s->p;
                return s->p < s->end && *s->p == '[' ? scan_array(s, event_elem, NULL, &pl->events)
                                                     : -1;
        }
        if (pl->msg && key_is(key, "ctx") && s->p < s->end && *s->p == '{') {
                v.kind = SCAN_OBJECT;
                if (scan_object(s, ctx_member, pl->msg) == -1)
                        return -1;
        } else if (scan_value(s, &v) == -1) {
                return -1;
        }
        if (key_is(key, "ctx"))
                pl->ctx_bad = v.kind != SCAN_OBJECT && v.kind != SCAN_NULL;
        return 0;
}

size_t svc_collect_scan(const char *body, size_t len) {
        struct scan s = {body, body + len, 0};
        struct scan_payload pl = {0, 0, NULL};

        scan_ws(&s);
        if (s.p == s.end || *s.p != '{' || scan_object(&s, payload_member, &pl) == -1)
                return 0;
        scan_ws(&s);
        return s.p == s.end && !pl.ctx_bad && pl.events <= SVC_COLLECT_MAX_EVENTS ? pl.events : 0;
}

/* --- The same walk over a raw message, /collect's envelope around the body --- */

struct scan_raw {
        struct scan_payload pl;
        int payload; /* a payload object was walked */
};

static int raw_member(struct scan *s, const struct svc_collect_val *key, void *opaque) {
        struct scan_raw *r = opaque;
        struct svc_collect_raw *msg = r->pl.msg;
        struct svc_collect_val ignored;

        if (key_is(key, "payload")) {
                if (s->p == s->end || *s->p != '{')
                        return -1;
                r->payload = 1;
                return scan_object(s, payload_member, &r->pl);
        }
        return scan_value(s, key_is(key, "request_id")    ? &msg->request_id
                             : key_is(key, "received_at") ? &msg->received_at
                             : key_is(key, "client_ip")   ? &msg->client_ip
                             : key_is(key, "user_agent")  ? &msg->user_agent
                             : key_is(key, "source")      ? &msg->source
                                                          : &ignored);
}

size_t svc_collect_scan_raw(const char *raw, size_t len, struct svc_collect_raw *msg) {
        struct scan s = {raw, raw + len, 0};
        struct scan_raw r = {{0, 0, NULL}, 0};

        memset(msg, 0, sizeof(*msg));
        r.pl.msg = msg;
        msg->end = raw + len;
        scan_ws(&s);
        if (s.p == s.end || *s.p != '{' || scan_object(&s, raw_member, &r) == -1)
                return 0;
        scan_ws(&s);
        if (s.p != s.end || !r.payload || r.pl.ctx_bad || r.pl.events == 0 ||
            r.pl.events > SVC_COLLECT_MAX_EVENTS || msg->request_id.kind != SCAN_STRING ||
            msg->request_id.len == 0 || msg->request_id.len > SVC_COLLECT_MAX_REQUEST_ID)
                return 0;
        return msg->event_cnt = r.pl.events;
}

static int event_capture(struct scan *s, const struct svc_collect_val *key, void *opaque) {
        struct svc_collect_event *ev = opaque;
        struct svc_collect_member *m = &ev->members[ev->member_cnt];

        if (ev->member_cnt == SVC_COLLECT_SCAN_MAX_KEYS) /* scan_object() stops before */
                return -1;
        m->key = key->raw;
        m->key_len = key->raw_len;
        if (scan_value(s, &m->val) == -1)
                return -1;
        ev->member_cnt++;
        return 0;
}

int svc_collect_scan_event(const char **pos, const char *end, struct svc_collect_event *ev) {
        struct scan s = {*pos, end, 3 /* in the message, its payload and events */};

        ev->member_cnt = 0;
        if (s.p == s.end || (*s.p != '[' && *s.p != ','))
                return -1;
        s.p++;
        scan_ws(&s);
        if (s.p == s.end || *s.p != '{' || scan_object(&s, event_capture, ev) == -1)
                return -1;
        scan_ws(&s);
        *pos = s.p;
        return 0;
}
