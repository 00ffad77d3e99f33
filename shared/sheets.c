/* sheets.c - Google Sheets rows: allow-listed URLs, Sheets API v4 or the public export. */
#include "sheets.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csv.h"
#include "gauth.h"
#include "http.h"
#include "httpc.h"
#include "log.h"

#define SHEETS_URL_MAX 2048 /* longer user URLs are refused */
#define SHEETS_MAX_RECORD (1024 * 1024)
#define SHEETS_MAX_REDIRECTS 5
#define SHEETS_ENDPOINT "/api/ingest"

struct svc_sheets {
        svc_gauth_t *ga;   /* NULL: read the public CSV export */
        char *api_base;    /* GOOGLE_SHEETS_API_BASE, no trailing '/' */
        char *docs_base;   /* GOOGLE_DOCS_BASE, no trailing '/' */
        char *docs_scheme; /* origin of docs_base: redirects there are allowed */
        char *docs_host;
        char *docs_port;  /* NULL when docs_base has none */
        long timeout_ms;  /* total of one HTTP exchange */
        size_t max_bytes; /* bound of one response body */
        long page_rows;   /* rows per values request */
};

int svc_sheets_is_url(const char *file_path) {
        const char *p = file_path;

        if (!p || !isalpha((unsigned char)*p))
                return 0;
        while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
                p++;
        /* "scheme://": a relative file name such as "export:2025.csv" stays a path */
        return !strncmp(p, "://", 3);
}

static int sheets_is_id_char(int c) {
        return isalnum(c) || c == '-' || c == '_';
}

/* Finds gid=<digits> among the '&'-separated parameters of s. Returns 0 when absent
 * (*gid untouched), 1 when found, -1 when malformed or given twice differently. */
static int sheets_find_gid(const char *s, long long *gid) {
        int found = 0;

        while (s && *s) {
                size_t n = strcspn(s, "&");
                if (n > 4 && strncmp(s, "gid=", 4) == 0) {
                        long long v = 0;
                        size_t i;
                        if (n - 4 > 12)
                                return -1;
                        for (i = 4; i < n; i++) {
                                if (!isdigit((unsigned char)s[i]))
                                        return -1;
                                v = v * 10 + (s[i] - '0');
                        }
                        if (found && v != *gid)
                                return -1;
                        *gid = v;
                        found = 1;
                } else if (n == 3 && strncmp(s, "gid", 3) == 0) {
                        return -1;
                } else if (n == 4 && strncmp(s, "gid=", 4) == 0) {
                        return -1;
                }
                s += n;
                if (*s == '&')
                        s++;
        }
        return found;
}

int svc_sheets_parse_url(const char *url, char id[SVC_SHEETS_ID_MAX + 1], long long *gid,
                         char *errstr, size_t errstr_size) {
        static const char prefix[] = "/spreadsheets/d/";
        CURLU *u = NULL;
        char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL;
        char *options = NULL, *path = NULL, *query = NULL, *fragment = NULL;
        const char *p, *why = NULL;
        long long qgid = -1, fgid = -1;
        size_t n, i;
        int rq, rf, ret = -1;

        *gid = -1;
        id[0] = '\0';
        if (!url || !*url) {
                why = "is empty";
                goto out;
        }
        if (strlen(url) > SHEETS_URL_MAX) {
                why = "is too long";
                goto out;
        }
        /* curl would quietly strip or encode these; a user URL never needs them. */
        for (p = url; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (c <= 0x20 || c >= 0x7f || c == '\\') {
                        why = "contains spaces, control or non-ASCII characters";
                        goto out;
                }
        }
        if (!(u = curl_url())) {
                why = "could not be parsed (out of memory)";
                goto out;
        }
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
                why = "is not a valid URL";
                goto out;
        }
        if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            strcmp(scheme, "https") != 0) {
                why = "must start with https://";
                goto out;
        }
        /* The authority as typed must be the host and nothing else: curl would decode
         * %2e, accept a single slash or a third one (https:///docs.google.com/...) and
         * an empty port (docs.google.com:/...), so its reading alone is not enough. */
        n = strncasecmp(url, "https://", 8) == 0 ? strcspn(url + 8, "/?#") : 0;
        if (n != strlen("docs.google.com") || strncasecmp(url + 8, "docs.google.com", n) != 0 ||
            url[8 + n] != '/') {
                why = "must start with https://docs.google.com/";
                goto out;
        }
        if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER ||
            curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) != CURLUE_NO_PASSWORD ||
            curl_url_get(u, CURLUPART_OPTIONS, &options, 0) != CURLUE_NO_OPTIONS) {
                why = "must not contain a user name or password";
                goto out;
        }
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_NO_PORT) {
                why = "must not name a port";
                goto out;
        }
        if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            strcasecmp(host, "docs.google.com") != 0) {
                why = "must be on docs.google.com";
                goto out;
        }
        if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
            strncmp(path, prefix, sizeof(prefix) - 1) != 0) {
                why = "must have the form https://docs.google.com/spreadsheets/d/<id>/...";
                goto out;
        }
        p = path + sizeof(prefix) - 1;
        for (n = 0; sheets_is_id_char((unsigned char)p[n]); n++)
                ;
        if (n == 0 || n > SVC_SHEETS_ID_MAX || (p[n] != '\0' && p[n] != '/')) {
                why = "has no valid spreadsheet id after /spreadsheets/d/";
                goto out;
        }
        for (i = 0; i < n; i++)
                id[i] = p[i];
        id[n] = '\0';
        if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
                query = NULL;
        if (curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) != CURLUE_OK)
                fragment = NULL;
        rq = sheets_find_gid(query, &qgid);
        rf = sheets_find_gid(fragment, &fgid);
        if (rq < 0 || rf < 0 || (rq > 0 && rf > 0 && qgid != fgid)) {
                why = "has a gid that is not a number (or two different ones)";
                goto out;
        }
        *gid = rq > 0 ? qgid : rf > 0 ? fgid : -1;
        ret = 0;
out:
        if (why) {
                snprintf(errstr, errstr_size,
                         "file_path is not an accepted Google Sheets URL: it %s", why);
                id[0] = '\0';
        }
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(user);
        curl_free(pass);
        curl_free(options);
        curl_free(path);
        curl_free(query);
        curl_free(fragment);
        curl_url_cleanup(u);
        return ret;
}

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

/* Where the token cache file of CGI mode lives: the directory of ERROR_LOG. */
static char *sheets_cache_dir(const svc_config_t *cfg) {
        const char *log = cfg->error_log ? cfg->error_log : "./var/errors.jsonl";
        const char *slash = strrchr(log, '/');
        return slash ? strndup(log, (size_t)(slash - log) + (slash == log)) : strdup(".");
}

svc_sheets_t *svc_sheets_new(const svc_config_t *cfg, char *errstr, size_t errstr_size) {
        svc_sheets_t *sh = calloc(1, sizeof(*sh));
        char *cache_dir = NULL;
        long timeout_ms = 0, max_bytes = 0, page_rows = 0;
        CURLU *u = NULL;
        int ok = 0;

        if (!sh) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (svc_config_int(cfg, "GOOGLE_TIMEOUT_MS", 60000, 100, 3600000, &timeout_ms, errstr,
                           errstr_size) != 0 ||
            svc_config_int(cfg, "GOOGLE_MAX_RESPONSE_BYTES", 64L * 1024 * 1024, 1024,
                           1024L * 1024 * 1024, &max_bytes, errstr, errstr_size) != 0 ||
            svc_config_int(cfg, "GOOGLE_PAGE_ROWS", 5000, 1, 1000000, &page_rows, errstr,
                           errstr_size) != 0)
                goto out;
        sh->timeout_ms = timeout_ms;
        sh->max_bytes = (size_t)max_bytes;
        sh->page_rows = page_rows;
        sh->api_base = sheets_base(cfg, "GOOGLE_SHEETS_API_BASE", cfg->sheets_api_base,
                                   "https://sheets.googleapis.com");
        sh->docs_base =
            sheets_base(cfg, "GOOGLE_DOCS_BASE", cfg->docs_base, "https://docs.google.com");
        if (!sh->api_base || !sh->docs_base) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        if (!(u = curl_url()) || curl_url_set(u, CURLUPART_URL, sh->docs_base, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &sh->docs_scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &sh->docs_host, 0) != CURLUE_OK) {
                snprintf(errstr, errstr_size, "GOOGLE_DOCS_BASE is not a valid URL");
                goto out;
        }
        if (curl_url_get(u, CURLUPART_PORT, &sh->docs_port, 0) != CURLUE_OK)
                sh->docs_port = NULL;
        if (cfg->google_key && *cfg->google_key) {
                if (svc_http_is_cgi() && !(cache_dir = sheets_cache_dir(cfg))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto out;
                }
                if (!(sh->ga = svc_gauth_new(cfg->google_key, cache_dir, errstr, errstr_size)))
                        goto out;
        }
        ok = 1;
out:
        curl_url_cleanup(u);
        free(cache_dir);
        if (!ok) {
                svc_sheets_destroy(sh);
                sh = NULL;
        }
        return sh;
}

void svc_sheets_destroy(svc_sheets_t *sh) {
        if (!sh)
                return;
        svc_gauth_destroy(sh->ga);
        free(sh->api_base);
        free(sh->docs_base);
        curl_free(sh->docs_scheme);
        curl_free(sh->docs_host);
        curl_free(sh->docs_port);
        free(sh);
}

long svc_sheets_token_fetches(svc_sheets_t *sh) {
        return sh->ga ? svc_gauth_fetch_count(sh->ga) : 0;
}

static svc_sheets_err_t sheets_from_httpc(svc_httpc_err_t herc) {
        switch (herc) {
        case SVC_HTTPC_OK: return SVC_SHEETS_OK;
        case SVC_HTTPC_TIMEOUT: return SVC_SHEETS_TIMEOUT;
        case SVC_HTTPC_TOO_LARGE: return SVC_SHEETS_TOO_LARGE;
        case SVC_HTTPC_STOPPED: return SVC_SHEETS_STOPPED;
        default: return SVC_SHEETS_UPSTREAM;
        }
}

/* Words for a failed exchange; the detail (hosts, curl text) goes to the log only. */
static svc_sheets_err_t sheets_http_failed(svc_sheets_t *sh, svc_httpc_err_t herc, const char *what,
                                           const char *detail, char *errstr, size_t errstr_size) {
        svc_log(SVC_LOG_WARN, NULL, SHEETS_ENDPOINT, "%s failed: %s", what, detail);
        switch (herc) {
        case SVC_HTTPC_TIMEOUT:
                snprintf(errstr, errstr_size, "%s did not answer within %ld ms", what,
                         sh->timeout_ms);
                break;
        case SVC_HTTPC_TOO_LARGE:
                snprintf(errstr, errstr_size,
                         "the sheet is larger than the %zu bytes this service reads (%s)",
                         sh->max_bytes, what);
                break;
        case SVC_HTTPC_REDIRECT_LIMIT:
                snprintf(errstr, errstr_size, "%s redirected more than %d times", what,
                         SHEETS_MAX_REDIRECTS);
                break;
        case SVC_HTTPC_REDIRECT_REFUSED:
                snprintf(errstr, errstr_size,
                         "%s redirected elsewhere than Google's export hosts "
                         "(is the sheet shared with \"Anyone with the link\"?)",
                         what);
                break;
        default: snprintf(errstr, errstr_size, "%s could not be reached", what); break;
        }
        return herc == SVC_HTTPC_REDIRECT_LIMIT || herc == SVC_HTTPC_REDIRECT_REFUSED
                   ? SVC_SHEETS_DENIED
                   : sheets_from_httpc(herc);
}

/* GET with the bearer token; a 401 renews the token once and retries. */
static svc_sheets_err_t sheets_api_get(svc_sheets_t *sh, const char *url, const char *id,
                                       long *status, char **body, char *errstr,
                                       size_t errstr_size) {
        char tok[4096], detail[256];
        svc_httpc_req_t hreq;
        svc_httpc_err_t herc;
        svc_gauth_err_t gerr;
        int attempt;

        *body = NULL;
        tok[0] = '\0';
        for (attempt = 0; attempt < 2; attempt++) {
                gerr = svc_gauth_token(sh->ga, attempt ? tok : NULL, sh->timeout_ms, tok,
                                       sizeof(tok), errstr, errstr_size);
                if (gerr != SVC_GAUTH_OK)
                        return gerr == SVC_GAUTH_TIMEOUT   ? SVC_SHEETS_TIMEOUT
                               : gerr == SVC_GAUTH_REFUSED ? SVC_SHEETS_AUTH
                                                           : SVC_SHEETS_UPSTREAM;
                memset(&hreq, 0, sizeof(hreq));
                hreq.url = url;
                hreq.bearer = tok;
                hreq.timeout_ms = sh->timeout_ms;
                hreq.max_bytes = sh->max_bytes;
                free(*body);
                *body = NULL;
                herc = svc_httpc_do(&hreq, status, body, NULL, detail, sizeof(detail));
                if (herc != SVC_HTTPC_OK) {
                        memset(tok, 0, sizeof(tok));
                        return sheets_http_failed(sh, herc, "the Google Sheets API", detail, errstr,
                                                  errstr_size);
                }
                if (*status != 401)
                        break;
        }
        memset(tok, 0, sizeof(tok));
        if (*status >= 200 && *status < 300)
                return SVC_SHEETS_OK;
        if (*status == 401) {
                snprintf(errstr, errstr_size,
                         "the Google Sheets API refused the access token of %s twice",
                         svc_gauth_client_email(sh->ga));
                return SVC_SHEETS_AUTH;
        }
        if (*status == 403) {
                snprintf(errstr, errstr_size,
                         "the service account may not read spreadsheet %s: share the sheet "
                         "with %s (Viewer is enough)",
                         id, svc_gauth_client_email(sh->ga));
                return SVC_SHEETS_DENIED;
        }
        if (*status == 404) {
                snprintf(errstr, errstr_size, "spreadsheet %s was not found", id);
                return SVC_SHEETS_NOT_FOUND;
        }
        svc_log(SVC_LOG_WARN, NULL, SHEETS_ENDPOINT, "Sheets API answered HTTP %ld", *status);
        snprintf(errstr, errstr_size, "the Google Sheets API answered HTTP %ld", *status);
        return SVC_SHEETS_UPSTREAM;
}

/* Resolves gid to the sheet's title (the first sheet when gid < 0). */
static svc_sheets_err_t sheets_title(svc_sheets_t *sh, const char *id, long long gid, char **title,
                                     long *row_cnt, char *errstr, size_t errstr_size) {
        char *url = NULL, *body = NULL;
        json_t *root = NULL, *sheets, *s;
        json_error_t jerr;
        size_t url_size, i;
        long status;
        svc_sheets_err_t ret;

        *title = NULL;
        url_size = strlen(sh->api_base) + strlen(id) + 64;
        if (!(url = malloc(url_size))) {
                snprintf(errstr, errstr_size, "out of memory");
                return SVC_SHEETS_UPSTREAM;
        }
        snprintf(url, url_size, "%s/v4/spreadsheets/%s?fields=sheets.properties", sh->api_base, id);
        if ((ret = sheets_api_get(sh, url, id, &status, &body, errstr, errstr_size)))
                goto out;
        ret = SVC_SHEETS_UPSTREAM;
        root = json_loads(body, 0, &jerr);
        sheets = json_object_get(root, "sheets");
        if (!json_is_array(sheets)) {
                snprintf(errstr, errstr_size,
                         "the Google Sheets API answered with malformed sheet properties");
                goto out;
        }
        json_array_foreach(sheets, i, s) {
                json_t *props = json_object_get(s, "properties");
                json_t *sid = json_object_get(props, "sheetId");
                const char *t = json_string_value(json_object_get(props, "title"));
                if (!t || (!json_is_integer(sid) && gid >= 0)) {
                        snprintf(errstr, errstr_size,
                                 "the Google Sheets API answered with malformed sheet "
                                 "properties");
                        goto out;
                }
                if (gid < 0 || json_integer_value(sid) == gid) {
                        *row_cnt = (long)json_integer_value(
                            json_object_get(json_object_get(props, "gridProperties"), "rowCount"));
                        if (!(*title = strdup(t))) {
                                snprintf(errstr, errstr_size, "out of memory");
                                goto out;
                        }
                        ret = SVC_SHEETS_OK;
                        goto out;
                }
        }
        if (gid >= 0)
                snprintf(errstr, errstr_size, "spreadsheet %s has no sheet with gid %lld", id, gid);
        else
                snprintf(errstr, errstr_size, "spreadsheet %s has no sheets", id);
        ret = SVC_SHEETS_NOT_FOUND;
out:
        json_decref(root);
        free(body);
        free(url);
        return ret;
}

/* One cell as text: FORMATTED_VALUE answers strings, other JSON types are tolerated. */
static const char *sheets_cell(json_t *v, char *num, size_t num_size, size_t *len) {
        if (json_is_string(v)) {
                *len = json_string_length(v);
                return json_string_value(v);
        }
        if (json_is_integer(v))
                snprintf(num, num_size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
                snprintf(num, num_size, "%.17g", json_real_value(v));
        else if (json_is_true(v))
                snprintf(num, num_size, "TRUE");
        else if (json_is_false(v))
                snprintf(num, num_size, "FALSE");
        else
                num[0] = '\0';
        *len = strlen(num);
        return num;
}

/* State of one read through the values API, page after page. */
struct sheets_rows {
        svc_rows_fn *fn;
        void *opaque;
        size_t width;       /* fields of the header row; 0 until it came */
        long pending_empty; /* empty rows seen; delivered only if data follows */
        struct svc_field *fields;
        char (*nums)[32]; /* text of non-string cells */
        size_t cap;       /* entries of fields and nums */
};

/* Delivers one row (NULL: an empty one), padded to the header's width.
 * Returns 0, -1 when the callback stopped, -2 when out of memory. */
static int sheets_emit(struct sheets_rows *st, json_t *row, long line) {
        size_t n = row ? json_array_size(row) : 0, cnt, j;
        const char *error = NULL;
        char why[96];

        cnt = n > st->width ? n : st->width;
        if (cnt > st->cap) {
                struct svc_field *f = realloc(st->fields, cnt * sizeof(*f));
                char(*nums)[32];
                if (!f)
                        return -2;
                st->fields = f;
                if (!(nums = realloc(st->nums, cnt * sizeof(*nums))))
                        return -2;
                st->nums = nums;
                st->cap = cnt;
        }
        for (j = 0; j < cnt; j++) {
                json_t *v = j < n ? json_array_get(row, j) : NULL;
                if (v) {
                        st->fields[j].ptr =
                            sheets_cell(v, st->nums[j], sizeof(st->nums[j]), &st->fields[j].len);
                } else {
                        st->fields[j].ptr = "";
                        st->fields[j].len = 0;
                }
                if (!error && st->fields[j].len > SVC_SHEETS_MAX_FIELD) {
                        snprintf(why, sizeof(why), "field %zu is longer than %d bytes", j + 1,
                                 SVC_SHEETS_MAX_FIELD);
                        error = why;
                }
        }
        if (!error && cnt > SVC_CSV_MAX_FIELDS) {
                snprintf(why, sizeof(why), "more than %d fields", SVC_CSV_MAX_FIELDS);
                error = why;
        }
        return st->fn(st->opaque, cnt ? st->fields : NULL, cnt, error, line) == 0 ? 0 : -1;
}

/* Reads rows first..last (1-based, inclusive; last 0: the whole sheet) and delivers
 * them. Google leaves out trailing empty cells of a row and trailing empty rows of the
 * range: empty rows are held back until a row with data follows, as in the export. */
static svc_sheets_err_t sheets_read_page(svc_sheets_t *sh, const char *id, const char *qtitle,
                                         long first, long last, struct sheets_rows *st,
                                         char *errstr, size_t errstr_size) {
        char *range = NULL, *erange = NULL, *url = NULL, *body = NULL;
        json_t *root = NULL, *values, *row;
        json_error_t jerr;
        size_t range_size, url_size, r;
        long status, k;
        svc_sheets_err_t ret;
        int rc;

        range_size = strlen(qtitle) + 48;
        if (!(range = malloc(range_size))) {
                snprintf(errstr, errstr_size, "out of memory");
                return SVC_SHEETS_UPSTREAM;
        }
        if (last > 0)
                snprintf(range, range_size, "%s!%ld:%ld", qtitle, first, last);
        else
                snprintf(range, range_size, "%s", qtitle);
        ret = SVC_SHEETS_UPSTREAM;
        if (!(erange = svc_httpc_escape(range)) ||
            !(url = malloc(url_size = strlen(sh->api_base) + strlen(id) + strlen(erange) + 64))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        snprintf(url, url_size, "%s/v4/spreadsheets/%s/values/%s?majorDimension=ROWS", sh->api_base,
                 id, erange);
        if ((ret = sheets_api_get(sh, url, id, &status, &body, errstr, errstr_size)))
                goto out;
        ret = SVC_SHEETS_UPSTREAM;
        root = json_loads(body, 0, &jerr);
        free(body);
        body = NULL;
        values = json_object_get(root, "values");
        if (!json_is_object(root) || (values && !json_is_array(values)) ||
            (last > 0 && json_array_size(values) > (size_t)(last - first + 1))) {
                snprintf(errstr, errstr_size,
                         "the Google Sheets API answered with malformed values");
                goto out;
        }
        json_array_foreach(values, r, row) {
                long line = first + (long)r;
                if (!json_is_array(row)) {
                        snprintf(errstr, errstr_size,
                                 "the Google Sheets API answered with malformed values (row %ld)",
                                 line);
                        goto out;
                }
                if (json_array_size(row) == 0) {
                        if (st->width) /* empty rows before the header are dropped */
                                st->pending_empty++;
                        continue;
                }
                rc = 0;
                for (k = st->pending_empty; k > 0 && rc == 0; k--)
                        rc = sheets_emit(st, NULL, line - k);
                st->pending_empty = 0;
                if (rc == 0) {
                        if (!st->width)
                                st->width = json_array_size(row);
                        rc = sheets_emit(st, row, line);
                }
                if (rc == -2) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto out;
                }
                if (rc == -1) {
                        snprintf(errstr, errstr_size, "stopped by the row reader");
                        ret = SVC_SHEETS_STOPPED;
                        goto out;
                }
        }
        if (last > 0 && st->width)
                st->pending_empty += (last - first + 1) - (long)json_array_size(values);
        ret = SVC_SHEETS_OK;
out:
        json_decref(root);
        free(body);
        free(url);
        free(erange);
        free(range);
        return ret;
}

static svc_sheets_err_t sheets_read_api(svc_sheets_t *sh, const char *id, long long gid,
                                        svc_rows_fn *fn, void *opaque, char *errstr,
                                        size_t errstr_size) {
        struct sheets_rows st = {.fn = fn, .opaque = opaque};
        char *title = NULL, *qtitle = NULL, *q;
        const char *p;
        long row_cnt = 0, first;
        svc_sheets_err_t ret;

        if ((ret = sheets_title(sh, id, gid, &title, &row_cnt, errstr, errstr_size)))
                goto out;
        /* A1 notation: the title quoted, '' for a quote. */
        if (!(qtitle = malloc(2 * strlen(title) + 3))) {
                snprintf(errstr, errstr_size, "out of memory");
                ret = SVC_SHEETS_UPSTREAM;
                goto out;
        }
        q = qtitle;
        *q++ = '\'';
        for (p = title; *p; p++) {
                if (*p == '\'')
                        *q++ = '\'';
                *q++ = *p;
        }
        *q++ = '\'';
        *q = '\0';
        if (row_cnt <= 0) /* grid size unknown: the whole sheet at once */
                ret = sheets_read_page(sh, id, qtitle, 1, 0, &st, errstr, errstr_size);
        /* Pages of rows keep memory bounded; ranges past the grid are errors at Google. */
        for (first = 1; row_cnt > 0 && first <= row_cnt && ret == SVC_SHEETS_OK;
             first += sh->page_rows)
                ret = sheets_read_page(
                    sh, id, qtitle, first,
                    first + sh->page_rows - 1 < row_cnt ? first + sh->page_rows - 1 : row_cnt, &st,
                    errstr, errstr_size);
out:
        free(st.fields);
        free(st.nums);
        free(qtitle);
        free(title);
        return ret;
}

/* Redirects of the export may go to Google's export hosts, or stay on the origin of
 * GOOGLE_DOCS_BASE (which is docs.google.com itself unless a test stub is configured). */
static int sheets_redirect_ok(void *opaque, const char *url) {
        svc_sheets_t *sh = opaque;
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
        int ok = 0;
        size_t hl;

        if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER)
                goto out;
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
                port = NULL;
        hl = strlen(host);
        if (strcmp(scheme, "https") == 0 && !port &&
            (strcasecmp(host, "docs.google.com") == 0 ||
             (hl > sizeof(".googleusercontent.com") - 1 &&
              strcasecmp(host + hl - (sizeof(".googleusercontent.com") - 1),
                         ".googleusercontent.com") == 0)))
                ok = 1;
        else if (strcmp(scheme, sh->docs_scheme) == 0 && strcasecmp(host, sh->docs_host) == 0 &&
                 ((!port && !sh->docs_port) ||
                  (port && sh->docs_port && strcmp(port, sh->docs_port) == 0)))
                ok = 1;
out:
        if (!ok)
                svc_log(SVC_LOG_WARN, NULL, SHEETS_ENDPOINT,
                        "refused a redirect of the sheet export to host %s",
                        host ? host : "(unparsable)");
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(user);
        curl_url_cleanup(u);
        return ok;
}

struct sheets_export {
        svc_csv_t *csv;
        int sniffed; /* the first bytes were checked */
        int html;    /* Google answered a web page, not CSV */
        char errstr[256];
};

static int sheets_export_data(void *opaque, const char *data, size_t len) {
        struct sheets_export *ex = opaque;

        if (!ex->sniffed) {
                const char *p = data, *end = data + len;
                if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
                    (unsigned char)p[2] == 0xBF)
                        p += 3;
                while (p < end && isspace((unsigned char)*p))
                        p++;
                if (p < end && *p == '<') {
                        ex->html = 1;
                        return -1;
                }
                ex->sniffed = p < end;
        }
        return svc_csv_feed(ex->csv, data, len, ex->errstr, sizeof(ex->errstr)) == SVC_CSV_OK ? 0
                                                                                              : -1;
}

static svc_sheets_err_t sheets_read_export(svc_sheets_t *sh, const char *id, long long gid,
                                           svc_rows_fn *fn, void *opaque, char *errstr,
                                           size_t errstr_size) {
        struct sheets_export ex;
        svc_httpc_req_t hreq;
        svc_httpc_err_t herc;
        char *url = NULL, *body = NULL, detail[256];
        size_t url_size;
        long status = 0;
        svc_sheets_err_t ret = SVC_SHEETS_UPSTREAM;

        memset(&ex, 0, sizeof(ex));
        url_size = strlen(sh->docs_base) + strlen(id) + 96;
        if (!(url = malloc(url_size)) ||
            !(ex.csv = svc_csv_new(SVC_SHEETS_MAX_FIELD, SHEETS_MAX_RECORD, fn, opaque))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        if (gid >= 0)
                snprintf(url, url_size, "%s/spreadsheets/d/%s/export?format=csv&gid=%lld",
                         sh->docs_base, id, gid);
        else
                snprintf(url, url_size, "%s/spreadsheets/d/%s/export?format=csv", sh->docs_base,
                         id);
        memset(&hreq, 0, sizeof(hreq));
        hreq.url = url;
        hreq.timeout_ms = sh->timeout_ms;
        hreq.max_bytes = sh->max_bytes;
        hreq.max_redirects = SHEETS_MAX_REDIRECTS;
        hreq.redirect_ok = sheets_redirect_ok;
        hreq.redirect_opaque = sh;
        hreq.on_data = sheets_export_data;
        hreq.data_opaque = &ex;
        herc = svc_httpc_do(&hreq, &status, &body, NULL, detail, sizeof(detail));
        if (herc == SVC_HTTPC_STOPPED && ex.html) {
                snprintf(errstr, errstr_size,
                         "Google answered a web page instead of CSV for spreadsheet %s: share "
                         "it with \"Anyone with the link\" or configure "
                         "GOOGLE_SERVICE_ACCOUNT_KEY",
                         id);
                ret = SVC_SHEETS_DENIED;
                goto out;
        }
        if (herc == SVC_HTTPC_STOPPED) {
                snprintf(errstr, errstr_size, "stopped by the row reader");
                ret = SVC_SHEETS_STOPPED;
                goto out;
        }
        if (herc != SVC_HTTPC_OK) {
                ret = sheets_http_failed(sh, herc, "the Google Sheets export", detail, errstr,
                                         errstr_size);
                goto out;
        }
        if (status == 401 || status == 403) {
                snprintf(errstr, errstr_size,
                         "spreadsheet %s is not public: share it with \"Anyone with the "
                         "link\" or configure GOOGLE_SERVICE_ACCOUNT_KEY",
                         id);
                ret = SVC_SHEETS_DENIED;
                goto out;
        }
        if (status == 404) {
                snprintf(errstr, errstr_size, "spreadsheet %s (or its gid) was not found", id);
                ret = SVC_SHEETS_NOT_FOUND;
                goto out;
        }
        if (status < 200 || status >= 300) {
                svc_log(SVC_LOG_WARN, NULL, SHEETS_ENDPOINT, "sheet export answered HTTP %ld",
                        status);
                snprintf(errstr, errstr_size, "the Google Sheets export answered HTTP %ld", status);
                goto out;
        }
        if (svc_csv_finish(ex.csv, ex.errstr, sizeof(ex.errstr)) != SVC_CSV_OK) {
                snprintf(errstr, errstr_size, "stopped by the row reader");
                ret = SVC_SHEETS_STOPPED;
                goto out;
        }
        ret = SVC_SHEETS_OK;
out:
        svc_csv_destroy(ex.csv);
        free(body);
        free(url);
        return ret;
}

svc_sheets_err_t svc_sheets_read(svc_sheets_t *sh, const char *url, svc_rows_fn *fn, void *opaque,
                                 char *errstr, size_t errstr_size) {
        char id[SVC_SHEETS_ID_MAX + 1];
        long long gid;

        if (svc_sheets_parse_url(url, id, &gid, errstr, errstr_size) != 0)
                return SVC_SHEETS_BAD_URL;
        if (sh->ga)
                return sheets_read_api(sh, id, gid, fn, opaque, errstr, errstr_size);
        return sheets_read_export(sh, id, gid, fn, opaque, errstr, errstr_size);
}
