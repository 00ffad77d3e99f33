/* devstore.h - reading the dev-mode event store (DEV_STORE: one JSON line per record,
 * {"topic":...,"key":...,"value":{...}}, appended under flock by kafka.c). */
#ifndef SVC_DEVSTORE_H
#define SVC_DEVSTORE_H
#include <jansson.h>
#include <stddef.h>

#define SVC_DEVSTORE_MAX_LINE (16 * 1024 * 1024) /* longer lines are skipped, not read */

/**
 * @brief Reads one page of the store, oldest first, under a shared flock so no append
 *        is seen half-written. The file is streamed line by line: memory is bounded by
 *        the page, not by the file; every line is parsed, so time grows with it. Lines
 *        that are not a JSON object with a string "topic" (a torn append among them)
 *        are skipped: neither counted nor returned.
 * @param topic keep only records bound for this topic; NULL keeps all.
 * @param count set to the number of matching records in the whole store.
 * @param events set to a new array (the caller owns it) of at most `limit` records,
 *        starting with the offset-th matching one (0-based).
 * @returns 0 (a store that does not exist yet is empty), or -1 with errstr.
 */
int svc_devstore_read(const char *path, const char *topic, size_t offset, size_t limit,
                      size_t *count, json_t **events, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));
#endif
