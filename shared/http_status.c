/* http_status.c - the table of the HTTP statuses the service answers (http_status.h).
 * Pure: no thread, no allocation. */
#include "http_status.h"

static const struct {
        int code;
        const char *reason;
} statuses[SVC_HTTP_STATUS_CNT] = {
    {200, "OK"},
    {202, "Accepted"},
    {204, "No Content"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {411, "Length Required"},
    {413, "Payload Too Large"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Entity"},
    {429, "Too Many Requests"},
    {500, "Internal Server Error"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

size_t svc_http_status_index(int status) {
        size_t i = 0;
        while (i < SVC_HTTP_STATUS_CNT && statuses[i].code != status)
                i++;
        return i;
}

const char *svc_http_status_reason(int status) {
        size_t i = svc_http_status_index(status);
        return i < SVC_HTTP_STATUS_CNT ? statuses[i].reason : "Status";
}

int svc_http_status_code(size_t i) {
        return statuses[i].code;
}
