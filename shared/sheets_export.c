/* sheets_export.c - a sheet through its public CSV export: redirects only to Google's
 * export hosts, a web page instead of CSV recognised as "not shared", and the CSV
 * streamed to the row callback as it arrives. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "sheets_int.h"

#define SHEETS_MAX_RECORD (1024 * 1024)

/* One export being read. */
struct sheets_export {
        struct sheets_read *rd;
        svc_csv_t *csv;
        int sniffed;       /* the first bytes were checked */
        int html;          /* Google answered a web page, not CSV */
        char refused[128]; /* the host of a refused redirect, for the log */
        char errstr[256];
};

static int export_redirect_ok(void *opaque, const char *url) {
        struct sheets_export *ex = opaque;
        struct svc_url_origin to;

        if (svc_sheets_url_redirect_ok(url, ex->rd->sh->docs_base))
                return 1;
        if (svc_url_origin(url, &to) == 0)
                snprintf(ex->refused, sizeof(ex->refused), "%.*s", (int)to.host_len, to.host);
        else
                snprintf(ex->refused, sizeof(ex->refused), "(unparsable)");
        return 0;
}

/* 1 when the answer starts (after a BOM and white space) with '<': a web page, which is
 * what Google answers for a sheet that is not shared. */
static int export_is_html(const char *data, size_t len, int *sniffed) {
        const char *p = data, *end = data + len;

        if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
            (unsigned char)p[2] == 0xBF)
                p += 3;
        while (p < end && isspace((unsigned char)*p))
                p++;
        *sniffed = p < end;
        return p < end && *p == '<';
}

static int export_data(void *opaque, const char *data, size_t len) {
        struct sheets_export *ex = opaque;

        if (!ex->sniffed && (ex->html = export_is_html(data, len, &ex->sniffed)))
                return -1;
        return svc_csv_feed(ex->csv, data, len, ex->errstr, sizeof(ex->errstr)) == SVC_CSV_OK ? 0
                                                                                              : -1;
}

/* The outcome of the export's final answer, once its body was streamed. */
static svc_sheets_err_t export_status(struct sheets_export *ex, long status) {
        struct sheets_read *rd = ex->rd;

        if (status == 401 || status == 403) {
                snprintf(rd->errstr, rd->errstr_size,
                         "spreadsheet %s is not public: share it with \"Anyone with the "
                         "link\" or configure GOOGLE_SERVICE_ACCOUNT_KEY",
                         rd->id);
                return SVC_SHEETS_DENIED;
        }
        if (status == 404) {
                snprintf(rd->errstr, rd->errstr_size, "spreadsheet %s (or its gid) was not found",
                         rd->id);
                return SVC_SHEETS_NOT_FOUND;
        }
        if (status < 200 || status >= 300) {
                snprintf(rd->detail, rd->detail_size, "sheet export answered HTTP %ld", status);
                snprintf(rd->errstr, rd->errstr_size, "the Google Sheets export answered HTTP %ld",
                         status);
                return SVC_SHEETS_UPSTREAM;
        }
        if (svc_csv_finish(ex->csv, ex->errstr, sizeof(ex->errstr)) != SVC_CSV_OK) {
                snprintf(rd->errstr, rd->errstr_size, "stopped by the row reader");
                return SVC_SHEETS_STOPPED;
        }
        return SVC_SHEETS_OK;
}

/* The outcome of an exchange that did not end with a final answer. */
static svc_sheets_err_t export_failed(struct sheets_export *ex, svc_httpc_err_t herc,
                                      const char *why) {
        struct sheets_read *rd = ex->rd;
        svc_sheets_err_t ret;

        if (herc == SVC_HTTPC_STOPPED && ex->html) {
                snprintf(rd->errstr, rd->errstr_size,
                         "Google answered a web page instead of CSV for spreadsheet %s: share "
                         "it with \"Anyone with the link\" or configure "
                         "GOOGLE_SERVICE_ACCOUNT_KEY",
                         rd->id);
                return SVC_SHEETS_DENIED;
        }
        if (herc == SVC_HTTPC_STOPPED) {
                snprintf(rd->errstr, rd->errstr_size, "stopped by the row reader");
                return SVC_SHEETS_STOPPED;
        }
        ret = svc_sheets_exchange_failed(rd, herc, "the Google Sheets export", why);
        if (ex->refused[0]) {
                size_t n = strlen(rd->detail);
                snprintf(rd->detail + n, rd->detail_size - n, " (host %s)", ex->refused);
        }
        return ret;
}

svc_sheets_err_t svc_sheets_export_read(struct sheets_read *rd) {
        struct sheets_export ex = {.rd = rd};
        svc_httpc_req_t hreq = {.timeout_ms = rd->sh->timeout_ms,
                                .max_bytes = rd->sh->max_bytes,
                                .max_redirects = SHEETS_MAX_REDIRECTS,
                                .redirect_ok = export_redirect_ok,
                                .redirect_opaque = &ex,
                                .on_data = export_data,
                                .data_opaque = &ex};
        svc_httpc_err_t herc;
        char *url = NULL, *body = NULL, why[256];
        size_t url_size = strlen(rd->sh->docs_base) + strlen(rd->id) + 96;
        long status = 0;
        svc_sheets_err_t ret = SVC_SHEETS_UPSTREAM;

        if (!(url = malloc(url_size)) ||
            !(ex.csv = svc_csv_new(SVC_SHEETS_MAX_FIELD, SHEETS_MAX_RECORD, rd->fn, rd->opaque))) {
                snprintf(rd->errstr, rd->errstr_size, "out of memory");
                goto out;
        }
        if (rd->gid >= 0)
                snprintf(url, url_size, "%s/spreadsheets/d/%s/export?format=csv&gid=%lld",
                         rd->sh->docs_base, rd->id, rd->gid);
        else
                snprintf(url, url_size, "%s/spreadsheets/d/%s/export?format=csv", rd->sh->docs_base,
                         rd->id);
        hreq.url = url;
        herc = svc_httpc_do(&hreq, &status, &body, NULL, why, sizeof(why));
        ret = herc == SVC_HTTPC_OK ? export_status(&ex, status) : export_failed(&ex, herc, why);
out:
        svc_csv_destroy(ex.csv);
        free(body);
        free(url);
        return ret;
}
