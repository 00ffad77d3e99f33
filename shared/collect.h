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
#endif
