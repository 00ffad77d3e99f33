/* sheets.c - the Google Sheets reader: its settings, the choice between the Sheets API
 * and the export, and the words for a failed exchange with Google. */
#include "sheets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheets_int.h"

/* A base URL setting without its trailing slashes. */
static char *sheets_base(const svc_config_t *cfg, const char *name, const char *value,
                         const char *def) {
        const char *v = value ? value : svc_config_get(cfg, name);
        char *b = strdup(v && *v ? v : def);
        size_t n;

        if (b)
                for (n = strlen(b); n > 0 && b[n - 1] == '/'; n--)
                        b[n - 1] = '\0';
        return b;
}

/* The bounds of one exchange with Google. Returns 0, or -1 with errstr. */
static int sheets_settings(svc_sheets_t *sh, const svc_config_t *cfg, char *errstr,
                           size_t errstr_size) {
        long timeout_ms = 0, max_bytes = 0, page_rows = 0;

        if (svc_config_int(cfg, "GOOGLE_TIMEOUT_MS", 60000, 100, 3600000, &timeout_ms, errstr,
                           errstr_size) != 0 ||
            svc_config_int(cfg, "GOOGLE_MAX_RESPONSE_BYTES", 64L * 1024 * 1024, 1024,
                           1024L * 1024 * 1024, &max_bytes, errstr, errstr_size) != 0 ||
            svc_config_int(cfg, "GOOGLE_PAGE_ROWS", 5000, 1, 1000000, &page_rows, errstr,
                           errstr_size) != 0)
                return -1;
        sh->timeout_ms = timeout_ms;
        sh->max_bytes = (size_t)max_bytes;
        sh->page_rows = page_rows;
        return 0;
}

svc_sheets_t *svc_sheets_new(const svc_config_t *cfg, const char *token_cache_dir, char *errstr,
                             size_t errstr_size) {
        svc_sheets_t *sh = calloc(1, sizeof(*sh));
        struct svc_url_origin origin;

        if (!sh) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (sheets_settings(sh, cfg, errstr, errstr_size) != 0)
                goto fail;
        sh->api_base = sheets_base(cfg, "GOOGLE_SHEETS_API_BASE", cfg->sheets_api_base,
                                   "https://sheets.googleapis.com");
        sh->docs_base =
            sheets_base(cfg, "GOOGLE_DOCS_BASE", cfg->docs_base, "https://docs.google.com");
        if (!sh->api_base || !sh->docs_base) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (svc_url_origin(sh->docs_base, &origin) != 0) {
                snprintf(errstr, errstr_size, "GOOGLE_DOCS_BASE is not a valid URL");
                goto fail;
        }
        if (cfg->google_key && *cfg->google_key &&
            !(sh->ga = svc_gauth_new(cfg->google_key, token_cache_dir, errstr, errstr_size)))
                goto fail;
        return sh;
fail:
        svc_sheets_destroy(sh);
        return NULL;
}

void svc_sheets_destroy(svc_sheets_t *sh) {
        if (!sh)
                return;
        svc_gauth_destroy(sh->ga);
        free(sh->api_base);
        free(sh->docs_base);
        free(sh);
}

long svc_sheets_token_fetches(svc_sheets_t *sh) {
        return sh->ga ? svc_gauth_fetch_count(sh->ga) : 0;
}

svc_sheets_err_t svc_sheets_exchange_failed(struct sheets_read *rd, svc_httpc_err_t herc,
                                            const char *what, const char *why_detail) {
        snprintf(rd->detail, rd->detail_size, "%s failed: %s", what, why_detail);
        switch (herc) {
        case SVC_HTTPC_TIMEOUT:
                snprintf(rd->errstr, rd->errstr_size, "%s did not answer within %ld ms", what,
                         rd->sh->timeout_ms);
                return SVC_SHEETS_TIMEOUT;
        case SVC_HTTPC_TOO_LARGE:
                snprintf(rd->errstr, rd->errstr_size,
                         "the sheet is larger than the %zu bytes this service reads (%s)",
                         rd->sh->max_bytes, what);
                return SVC_SHEETS_TOO_LARGE;
        case SVC_HTTPC_REDIRECT_LIMIT:
                snprintf(rd->errstr, rd->errstr_size, "%s redirected more than %d times", what,
                         SHEETS_MAX_REDIRECTS);
                return SVC_SHEETS_DENIED;
        case SVC_HTTPC_REDIRECT_REFUSED:
                snprintf(rd->errstr, rd->errstr_size,
                         "%s redirected elsewhere than Google's export hosts "
                         "(is the sheet shared with \"Anyone with the link\"?)",
                         what);
                return SVC_SHEETS_DENIED;
        case SVC_HTTPC_STOPPED:
                snprintf(rd->errstr, rd->errstr_size, "stopped by the row reader");
                return SVC_SHEETS_STOPPED;
        default:
                snprintf(rd->errstr, rd->errstr_size, "%s could not be reached", what);
                return SVC_SHEETS_UPSTREAM;
        }
}

svc_sheets_err_t svc_sheets_read(svc_sheets_t *sh, const char *url, svc_rows_fn *fn, void *opaque,
                                 char *errstr, size_t errstr_size, char *detail,
                                 size_t detail_size) {
        char id[SVC_SHEETS_ID_MAX + 1], no_detail[1];
        struct sheets_read rd = {.sh = sh,
                                 .id = id,
                                 .fn = fn,
                                 .opaque = opaque,
                                 .errstr = errstr,
                                 .errstr_size = errstr_size,
                                 .detail = detail ? detail : no_detail,
                                 .detail_size = detail ? detail_size : sizeof(no_detail)};
        svc_sheets_url_err_t uerr = svc_sheets_url_parse(url, id, &rd.gid);

        rd.detail[0] = '\0';
        if (uerr != SVC_SHEETS_URL_OK) {
                snprintf(errstr, errstr_size, "%s", svc_sheets_url_strerror(uerr));
                return SVC_SHEETS_BAD_URL;
        }
        return sh->ga ? svc_sheets_api_read(&rd) : svc_sheets_export_read(&rd);
}
