/* http_status.h - the HTTP statuses the service answers, in one table: the reason phrase
 * of each status line (http.c) and the order of the per-status counters (code="...") of
 * /metrics (metrics.c). */
#ifndef SVC_HTTP_STATUS_H
#define SVC_HTTP_STATUS_H
#include <stddef.h>

/* The statuses of the table. Adding one changes the counters' file layout: bump
 * METRICS_MAGIC in metrics.c with it. */
#define SVC_HTTP_STATUS_CNT 17

/** @brief status's reason phrase ("Status" for one the table does not hold). */
const char *svc_http_status_reason(int status);

/** @brief status's place in the table, or SVC_HTTP_STATUS_CNT when it holds none. */
size_t svc_http_status_index(int status);

/** @brief The status at place i of the table (i < SVC_HTTP_STATUS_CNT). */
int svc_http_status_code(size_t i);
#endif
