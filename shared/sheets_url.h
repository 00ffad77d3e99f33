/* sheets_url.h - which URLs the Sheets reader may fetch: the allow-list of file_path
 * URLs and the origin rule for the redirects of the export. Pure functions over strings:
 * no I/O, no allocation, nothing kept. */
#ifndef SVC_SHEETS_URL_H
#define SVC_SHEETS_URL_H
#include <stddef.h>

#define SVC_SHEETS_ID_MAX 128   /* longest spreadsheet id accepted */
#define SVC_SHEETS_URL_MAX 2048 /* longer file_path URLs are refused */

typedef enum {
        SVC_SHEETS_URL_OK = 0,
        SVC_SHEETS_URL_EMPTY,
        SVC_SHEETS_URL_TOO_LONG,  /* over SVC_SHEETS_URL_MAX bytes */
        SVC_SHEETS_URL_BAD_CHARS, /* space, control, non-ASCII or backslash */
        SVC_SHEETS_URL_INVALID,   /* no scheme: not a URL at all */
        SVC_SHEETS_URL_NOT_HTTPS, /* another scheme */
        SVC_SHEETS_URL_NOT_DOCS,  /* authority other than exactly docs.google.com */
        SVC_SHEETS_URL_NOT_SHEET, /* path not /spreadsheets/d/... */
        SVC_SHEETS_URL_BAD_ID,    /* no id of [A-Za-z0-9_-], or a longer one */
        SVC_SHEETS_URL_BAD_GID,   /* gid not digits, or two different ones */
} svc_sheets_url_err_t;

/** @brief 1 when file_path is meant as a URL ("scheme://..."), 0 for a local path. */
int svc_sheets_url_is_url(const char *file_path);

/**
 * @brief Checks url against the allow-list: scheme https, authority exactly
 *        docs.google.com (any case; so no userinfo and no port), path (dot segments
 *        resolved) /spreadsheets/d/<id>[/...] with an id of [A-Za-z0-9_-], and any gid
 *        in the query or the fragment as gid=<digits> (at most 12), the same in both.
 * @returns SVC_SHEETS_URL_OK with id (NUL-terminated) and gid (-1 when absent); on
 *          failure id is "" and gid -1.
 */
svc_sheets_url_err_t svc_sheets_url_parse(const char *url, char id[SVC_SHEETS_ID_MAX + 1],
                                          long long *gid);

/** @brief A sentence for the client saying why file_path was refused (static text). */
const char *svc_sheets_url_strerror(svc_sheets_url_err_t err);

/* The origin of an absolute URL: spans into the URL, not NUL-terminated. */
struct svc_url_origin {
        const char *scheme; /* without "://" */
        size_t scheme_len;
        const char *host; /* an IPv6 literal keeps its brackets */
        size_t host_len;
        const char *port; /* NULL when the URL names none (an empty port is none) */
        size_t port_len;
        int has_userinfo; /* the authority has a '@' */
};

/**
 * @brief Splits "scheme://[userinfo@]host[:port][/?#...]". The host must be a name of
 *        [A-Za-z0-9.-] or a bracketed IPv6 literal; the port digits of at most 65535.
 * @returns 0, or -1 when url is not such a URL (o is then undefined).
 */
int svc_url_origin(const char *url, struct svc_url_origin *o);

/**
 * @brief Whether the export may follow a redirect to url: https on docs.google.com or
 *        a *.googleusercontent.com host (no port, no userinfo), or the same scheme, host
 *        and port as docs_base (the export's own origin: a local stub in tests).
 * @returns 1 when allowed.
 */
int svc_sheets_url_redirect_ok(const char *url, const char *docs_base);
#endif
