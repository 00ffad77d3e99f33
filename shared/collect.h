/* collect.h - the /collect payload checks, shared by the handler and the consumer. */
#ifndef SVC_COLLECT_H
#define SVC_COLLECT_H
#include <jansson.h>
#include <stddef.h>

#define SVC_COLLECT_MAX_EVENTS 1000
#define SVC_COLLECT_MAX_EVENT_TYPE 128
/* Latest event_time accepted: 9999-12-31T23:59:59.999Z, the last instant the consumer's
 * event_timestamp (four-digit year) can express. */
#define SVC_COLLECT_MAX_EVENT_TIME 253402300799999LL
#define SVC_COLLECT_MAX_REQUEST_ID 512 /* bytes of a raw message's request_id */
#define SVC_COLLECT_SCAN_MAX_KEYS 64   /* members of an object the fast path walks */

/**
 * @brief Checks one event: an object with a non-empty string event_type (<= 128 bytes),
 *        an integer event_time in [1, SVC_COLLECT_MAX_EVENT_TIME] and a non-empty
 *        string user_id.
 * @returns 0, or -1 with the reason in errstr.
 */
int svc_collect_check_event(const json_t *event, char *errstr, size_t errstr_size);

/**
 * @brief Checks the envelope: an object whose `events` is a non-empty array of at most
 *        1000 events that all pass svc_collect_check_event(), and `ctx`, when present
 *        and not null, an object.
 * @returns 0; or -1 with errstr and, when individual events failed, *errors set to a new
 *          array of {"index": i, "message": ...} (the caller owns it).
 */
int svc_collect_check_payload(const json_t *payload, json_t **errors, char *errstr,
                              size_t errstr_size);

/**
 * @brief The fast path for a /collect body: one walk over the text, without building it.
 *        It answers for the common body only, and is never wrong when it does: a body it
 *        counts is one that json_loadb(JSON_REJECT_DUPLICATES) parses and
 *        svc_collect_check_payload() accepts, with that many events.
 * @returns the number of events (1 to SVC_COLLECT_MAX_EVENTS); 0 when the body must be
 *          parsed and checked (it may still be valid: with \uXXXX escapes, escaped keys,
 *          nesting over 32 levels, objects over 64 keys or very large numbers).
 */
size_t svc_collect_scan(const char *body, size_t len);

/* A value svc_collect_scan_raw() or svc_collect_scan_event() found; it points into the
 * walked text. */
enum {
        SVC_COLLECT_V_ABSENT = 0, /* the member is not there */
        SVC_COLLECT_V_STRING,
        SVC_COLLECT_V_INTEGER, /* of at most 18 digits */
        SVC_COLLECT_V_OBJECT,
        SVC_COLLECT_V_NULL,
        SVC_COLLECT_V_OTHER /* true, false, a real or an array */
};
struct svc_collect_val {
        int kind;          /* SVC_COLLECT_V_* */
        const char *raw;   /* a string's text between its quotes */
        size_t raw_len;    /* of raw */
        size_t len;        /* a string's bytes once unescaped */
        int escaped;       /* the string holds a short escape (\uXXXX never gets here) */
        long long integer; /* SVC_COLLECT_V_INTEGER's value */
        const char *text;  /* the value's whole text, a string's with its quotes */
        size_t text_len;
};

/* What the consumer reads of a raw message (/collect's envelope around the body). */
struct svc_collect_raw {
        struct svc_collect_val request_id, received_at, client_ip, user_agent, source;
        struct svc_collect_val browser, device, version; /* of payload.ctx */
        const char *events; /* the '[' of payload.events: svc_collect_scan_event() */
        const char *end;    /* the end of the message */
        size_t event_cnt;
};

/**
 * @brief The fast path for a raw message: the walk of svc_collect_scan() over the
 *        payload, inside the envelope. Never wrong when it answers: a message it counts is
 *        one that json_loadb() parses into an object whose request_id is a string of 1 to
 *        SVC_COLLECT_MAX_REQUEST_ID bytes, whose payload svc_collect_check_payload()
 *        accepts, and whose values are those in *msg (no member name appears twice).
 * @returns the number of events (*msg filled); 0 when the message must be parsed (it may
 *          still be valid, as for svc_collect_scan(); or an event may be invalid).
 */
size_t svc_collect_scan_raw(const char *raw, size_t len, struct svc_collect_raw *msg);

/* One member of an event; key is as written (the walk never accepts an escaped name). */
struct svc_collect_member {
        const char *key;
        size_t key_len;
        struct svc_collect_val val;
};

struct svc_collect_event {
        struct svc_collect_member members[SVC_COLLECT_SCAN_MAX_KEYS]; /* in input order */
        size_t member_cnt;
};

/**
 * @brief Reads the next event of a message svc_collect_scan_raw() counted: *pos starts at
 *        msg->events and moves past each event read.
 * @returns 0 with *ev filled; -1 when there is no event at *pos (past the last one).
 */
int svc_collect_scan_event(const char **pos, const char *end, struct svc_collect_event *ev);
#endif
