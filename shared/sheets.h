/* sheets.h - Google Sheets as a source of ingest rows: URL allow-list, service-account
 * auth (JWT RS256 exchanged at token_uri) and Sheets API v4, or the public CSV export. */
#ifndef SVC_SHEETS_H
#define SVC_SHEETS_H
#include <stddef.h>

#include "config.h"
#include "rows.h"

typedef struct svc_sheets svc_sheets_t; /* opaque; caches the access token; thread-safe */

typedef enum {
        SVC_SHEETS_OK = 0,
        SVC_SHEETS_BAD_URL,   /* not an allowed Google Sheets URL: 400, nothing fetched */
        SVC_SHEETS_DENIED,    /* sheet not shared with the service account (Google 403) */
        SVC_SHEETS_NOT_FOUND, /* no such spreadsheet or gid */
        SVC_SHEETS_AUTH,      /* bad key, or token refused at token_uri */
        SVC_SHEETS_TIMEOUT,   /* connect or total time-out */
        SVC_SHEETS_TOO_LARGE, /* response over the size bound */
        SVC_SHEETS_UPSTREAM,  /* any other failure talking to Google, malformed answer */
        SVC_SHEETS_STOPPED,   /* the row callback returned -1 */
} svc_sheets_err_t;

#define SVC_SHEETS_ID_MAX 128      /* longest spreadsheet id accepted */
#define SVC_SHEETS_MAX_FIELD 65536 /* a longer cell is a record error, as in CSV files */

/** @brief 1 when file_path is meant as a URL ("scheme://..."), 0 for a local path. */
int svc_sheets_is_url(const char *file_path);

/**
 * @brief Checks url against the allow-list (libcurl's URL parser): scheme https, host
 *        exactly docs.google.com, no userinfo, no port, path /spreadsheets/d/<id>[/...],
 *        id of [A-Za-z0-9_-], optional gid=<digits> in the query and/or the fragment.
 * @returns 0 with id (NUL-terminated) and gid (-1 when absent), or -1 with errstr.
 */
int svc_sheets_parse_url(const char *url, char id[SVC_SHEETS_ID_MAX + 1], long long *gid,
                         char *errstr, size_t errstr_size);

/**
 * @brief Creates the per-process reader (no network work: auth is lazy). Reads
 *        GOOGLE_SERVICE_ACCOUNT_KEY, GOOGLE_SHEETS_API_BASE, GOOGLE_DOCS_BASE, and
 *        GOOGLE_TIMEOUT_MS (total per HTTP exchange, default 60000) and
 *        GOOGLE_MAX_RESPONSE_BYTES (default 64 MiB, per response) and GOOGLE_PAGE_ROWS
 *        (rows per Sheets API values request, default 5000) from cfg. In CGI mode the
 *        access token is also cached in a 0600 file in the directory of ERROR_LOG.
 * @returns NULL with errstr when GOOGLE_SERVICE_ACCOUNT_KEY is set but unusable.
 */
svc_sheets_t *svc_sheets_new(const svc_config_t *cfg, char *errstr, size_t errstr_size);

/**
 * @brief Checks url against the allow-list, then streams the sheet's rows, header row
 *        first, to fn. errstr is safe to show to the user (no key, JWT or token).
 *        With a key (Sheets API v4) the rows are read in pages of GOOGLE_PAGE_ROWS up to
 *        the grid's row count; rows shorter than the header are padded with empty
 *        fields and empty rows followed by data are delivered, so the rows are those of
 *        the CSV export (Google omits trailing empty cells and rows). Without a key the
 *        public CSV export is streamed; it follows at most 5 redirects, each to https
 *        docs.google.com or *.googleusercontent.com (no port), or to the origin of
 *        GOOGLE_DOCS_BASE (so a local stub can redirect to itself). Either way a
 *        failure can come after some rows were delivered (a later page or chunk).
 */
svc_sheets_err_t svc_sheets_read(svc_sheets_t *sh, const char *url, svc_rows_fn *fn, void *opaque,
                                 char *errstr, size_t errstr_size);

/** @brief Access tokens fetched from token_uri so far by this reader (0 without a key). */
long svc_sheets_token_fetches(svc_sheets_t *sh);

void svc_sheets_destroy(svc_sheets_t *sh); /* NULL is a no-op */
#endif
