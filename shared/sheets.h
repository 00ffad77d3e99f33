/* sheets.h - Google Sheets as a source of ingest rows: the Sheets API v4 with a service
 * account (sheets_api.c), or the public CSV export (sheets_export.c), behind one reader.
 * Which URLs may be read is sheets_url.h's business. */
#ifndef SVC_SHEETS_H
#define SVC_SHEETS_H
#include <stddef.h>

#include "config.h"
#include "rows.h"
#include "sheets_url.h"

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

#define SVC_SHEETS_MAX_FIELD 65536 /* a longer cell is a record error, as in CSV files */

/**
 * @brief Creates the per-process reader (no network work: auth is lazy). Reads
 *        GOOGLE_SERVICE_ACCOUNT_KEY, GOOGLE_SHEETS_API_BASE, GOOGLE_DOCS_BASE, and
 *        GOOGLE_TIMEOUT_MS (total per HTTP exchange, default 60000) and
 *        GOOGLE_MAX_RESPONSE_BYTES (default 64 MiB, per response) and GOOGLE_PAGE_ROWS
 *        (rows per Sheets API values request, default 5000) from cfg.
 *        token_cache_dir (may be NULL) is where access tokens are also kept in a 0600
 *        file, for processes that serve one request each (CGI).
 * @returns NULL with errstr when GOOGLE_SERVICE_ACCOUNT_KEY is set but unusable.
 */
svc_sheets_t *svc_sheets_new(const svc_config_t *cfg, const char *token_cache_dir, char *errstr,
                             size_t errstr_size);

/**
 * @brief Checks url against the allow-list, then streams the sheet's rows, header row
 *        first, to fn. errstr is safe to show to the user (no key, JWT or token);
 *        detail (may be NULL) says more for the log, such as a host or libcurl's words.
 *        With a key (Sheets API v4) the rows are read in pages of GOOGLE_PAGE_ROWS up to
 *        the grid's row count; rows shorter than the header are padded with empty
 *        fields and empty rows followed by data are delivered, so the rows are those of
 *        the CSV export (Google omits trailing empty cells and rows). Without a key the
 *        public CSV export is streamed; it follows at most 5 redirects, each allowed by
 *        svc_sheets_url_redirect_ok(). Either way a failure can come after some rows
 *        were delivered (a later page or chunk).
 */
svc_sheets_err_t svc_sheets_read(svc_sheets_t *sh, const char *url, svc_rows_fn *fn, void *opaque,
                                 char *errstr, size_t errstr_size, char *detail,
                                 size_t detail_size);

/** @brief Access tokens fetched from token_uri so far by this reader (0 without a key). */
long svc_sheets_token_fetches(svc_sheets_t *sh);

void svc_sheets_destroy(svc_sheets_t *sh); /* NULL is a no-op */
#endif
