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

/** @brief 1 when file_path is meant as a URL (has a scheme), 0 for a local path. */
int svc_sheets_is_url(const char *file_path);

/**
 * @brief Creates the per-process reader (no network work: auth is lazy).
 * @returns NULL with errstr when GOOGLE_SERVICE_ACCOUNT_KEY is set but unusable.
 */
svc_sheets_t *svc_sheets_new(const svc_config_t *cfg, char *errstr, size_t errstr_size);

/**
 * @brief Checks url against the allow-list, then streams the sheet's rows, header row
 *        first, to fn. errstr is safe to show to the user (no key, JWT or token).
 */
svc_sheets_err_t svc_sheets_read(svc_sheets_t *sh, const char *url, svc_rows_fn *fn,
                                 void *opaque, char *errstr, size_t errstr_size);

void svc_sheets_destroy(svc_sheets_t *sh); /* NULL is a no-op */
#endif
