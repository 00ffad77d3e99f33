/* sheets_int.h - what the parts of the Sheets reader share (sheets.c, sheets_api.c,
 * sheets_export.c): the reader, one read in progress, and the words for a failed
 * exchange. Nothing outside those files includes it. */
#ifndef SVC_SHEETS_INT_H
#define SVC_SHEETS_INT_H
#include "gauth.h"
#include "httpc.h"
#include "sheets.h"

#define SHEETS_MAX_REDIRECTS 5

struct svc_sheets {
        svc_gauth_t *ga;  /* NULL: read the public CSV export */
        char *api_base;   /* GOOGLE_SHEETS_API_BASE, no trailing '/' */
        char *docs_base;  /* GOOGLE_DOCS_BASE, no trailing '/' */
        long timeout_ms;  /* total of one HTTP exchange */
        size_t max_bytes; /* bound of one response body */
        long page_rows;   /* rows per values request */
};

/* One call of svc_sheets_read(). */
struct sheets_read {
        svc_sheets_t *sh;
        const char *id; /* spreadsheet id, allow-listed */
        long long gid;  /* -1: the first sheet */
        svc_rows_fn *fn;
        void *opaque;
        char *errstr; /* for the client */
        size_t errstr_size;
        char *detail; /* for the log only; never NULL here */
        size_t detail_size;
};

/* Fills errstr with words for a failed exchange with Google (what: "the Google Sheets
 * API" or "the Google Sheets export") and detail with why_detail. */
svc_sheets_err_t svc_sheets_exchange_failed(struct sheets_read *rd, svc_httpc_err_t herc,
                                            const char *what, const char *why_detail);

/* Reads through the Sheets API v4 (rd->sh->ga is set). */
svc_sheets_err_t svc_sheets_api_read(struct sheets_read *rd);

/* Reads the public CSV export. */
svc_sheets_err_t svc_sheets_export_read(struct sheets_read *rd);
#endif
