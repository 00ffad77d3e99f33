/* sheets_api.c - a sheet through the Google Sheets API v4: the bearer token (renewed
 * once on a 401), the sheet's title and size, and its values page after page, delivered
 * as the rows the CSV export would have. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "sheets_int.h"

#define SHEETS_TOKEN_MAX 4096

/* The outcome of a final answer of the API to one GET. The service account's client_email
 * goes to the log (detail) only: the caller of /api/ingest need not learn it. */
static svc_sheets_err_t api_status(struct sheets_read *rd, long status) {
        const char *email = svc_gauth_client_email(rd->sh->ga);

        if (status >= 200 && status < 300)
                return SVC_SHEETS_OK;
        if (status == 401) {
                snprintf(rd->detail, rd->detail_size,
                         "Sheets API refused the access token of %s twice", email);
                snprintf(rd->errstr, rd->errstr_size,
                         "the Google Sheets API refused the service account's access token twice");
                return SVC_SHEETS_AUTH;
        }
        if (status == 403) {
                snprintf(rd->detail, rd->detail_size,
                         "spreadsheet %s is not shared with the service account %s", rd->id, email);
                snprintf(rd->errstr, rd->errstr_size,
                         "the service account may not read spreadsheet %s: share the sheet "
                         "with the service account of the service (its client_email; Viewer is "
                         "enough)",
                         rd->id);
                return SVC_SHEETS_DENIED;
        }
        if (status == 404) {
                snprintf(rd->errstr, rd->errstr_size, "spreadsheet %s was not found", rd->id);
                return SVC_SHEETS_NOT_FOUND;
        }
        snprintf(rd->detail, rd->detail_size, "Sheets API answered HTTP %ld", status);
        snprintf(rd->errstr, rd->errstr_size, "the Google Sheets API answered HTTP %ld", status);
        return SVC_SHEETS_UPSTREAM;
}

/* GET with the bearer token; a 401 renews the token once and retries. On success *body
 * is the answer (the caller frees it). */
static svc_sheets_err_t api_get(struct sheets_read *rd, const char *url, char **body) {
        char tok[SHEETS_TOKEN_MAX], why[256];
        svc_httpc_req_t hreq = {.url = url,
                                .bearer = tok,
                                .timeout_ms = rd->sh->timeout_ms,
                                .max_bytes = rd->sh->max_bytes};
        svc_httpc_err_t herc = SVC_HTTPC_OK;
        svc_gauth_err_t gerr;
        svc_sheets_err_t ret;
        long status = 0;
        int attempt;

        *body = NULL;
        tok[0] = '\0';
        for (attempt = 0; attempt < 2; attempt++) {
                gerr = svc_gauth_token(rd->sh->ga, attempt ? tok : NULL, rd->sh->timeout_ms, tok,
                                       sizeof(tok), rd->errstr, rd->errstr_size);
                if (gerr != SVC_GAUTH_OK) {
                        snprintf(rd->detail, rd->detail_size, "service account %s: %s",
                                 svc_gauth_client_email(rd->sh->ga), rd->errstr);
                        ret = gerr == SVC_GAUTH_TIMEOUT   ? SVC_SHEETS_TIMEOUT
                              : gerr == SVC_GAUTH_REFUSED ? SVC_SHEETS_AUTH
                                                          : SVC_SHEETS_UPSTREAM;
                        goto out;
                }
                free(*body);
                *body = NULL;
                herc = svc_httpc_do(&hreq, &status, body, NULL, why, sizeof(why));
                if (herc != SVC_HTTPC_OK || status != 401)
                        break;
        }
        ret = herc != SVC_HTTPC_OK
                  ? svc_sheets_exchange_failed(rd, herc, "the Google Sheets API", why)
                  : api_status(rd, status);
out:
        memset(tok, 0, sizeof(tok));
        if (ret != SVC_SHEETS_OK) {
                free(*body);
                *body = NULL;
        }
        return ret;
}

/* Finds the sheet of rd->gid (the first sheet when gid < 0) among the spreadsheet's
 * sheets: its title (the caller frees it) and grid row count (0 when unknown). */
static svc_sheets_err_t api_find_sheet(struct sheets_read *rd, json_t *sheets, char **title,
                                       long *row_cnt) {
        json_t *s;
        size_t i;

        json_array_foreach(sheets, i, s) {
                json_t *props = json_object_get(s, "properties");
                json_t *sid = json_object_get(props, "sheetId");
                const char *t = json_string_value(json_object_get(props, "title"));
                if (!t || (!json_is_integer(sid) && rd->gid >= 0)) {
                        snprintf(rd->errstr, rd->errstr_size,
                                 "the Google Sheets API answered with malformed sheet "
                                 "properties");
                        return SVC_SHEETS_UPSTREAM;
                }
                if (rd->gid < 0 || json_integer_value(sid) == rd->gid) {
                        *row_cnt = (long)json_integer_value(
                            json_object_get(json_object_get(props, "gridProperties"), "rowCount"));
                        if (!(*title = strdup(t))) {
                                snprintf(rd->errstr, rd->errstr_size, "out of memory");
                                return SVC_SHEETS_UPSTREAM;
                        }
                        return SVC_SHEETS_OK;
                }
        }
        if (rd->gid >= 0)
                snprintf(rd->errstr, rd->errstr_size, "spreadsheet %s has no sheet with gid %lld",
                         rd->id, rd->gid);
        else
                snprintf(rd->errstr, rd->errstr_size, "spreadsheet %s has no sheets", rd->id);
        return SVC_SHEETS_NOT_FOUND;
}

/* Resolves rd->gid to the sheet's title and row count. */
static svc_sheets_err_t api_title(struct sheets_read *rd, char **title, long *row_cnt) {
        char *url = NULL, *body = NULL;
        json_t *root = NULL, *sheets;
        size_t url_size;
        svc_sheets_err_t ret;

        *title = NULL;
        url_size = strlen(rd->sh->api_base) + strlen(rd->id) + 64;
        if (!(url = malloc(url_size))) {
                snprintf(rd->errstr, rd->errstr_size, "out of memory");
                return SVC_SHEETS_UPSTREAM;
        }
        snprintf(url, url_size, "%s/v4/spreadsheets/%s?fields=sheets.properties", rd->sh->api_base,
                 rd->id);
        if ((ret = api_get(rd, url, &body)))
                goto out;
        root = json_loads(body, 0, NULL);
        sheets = json_object_get(root, "sheets");
        if (!json_is_array(sheets)) {
                snprintf(rd->errstr, rd->errstr_size,
                         "the Google Sheets API answered with malformed sheet properties");
                ret = SVC_SHEETS_UPSTREAM;
                goto out;
        }
        ret = api_find_sheet(rd, sheets, title, row_cnt);
out:
        json_decref(root);
        free(body);
        free(url);
        return ret;
}

/* One cell as text: FORMATTED_VALUE answers strings, other JSON types are tolerated. */
static const char *api_cell(json_t *v, char *num, size_t num_size, size_t *len) {
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
struct api_rows {
        struct sheets_read *rd;
        size_t width;       /* fields of the header row; 0 until it came */
        long pending_empty; /* empty rows seen; delivered only if data follows */
        struct svc_field *fields;
        char (*nums)[32]; /* text of non-string cells */
        size_t cap;       /* entries of fields and nums */
};

/* Makes room for cnt fields. Returns 0, or -1 when out of memory. */
static int api_reserve(struct api_rows *st, size_t cnt) {
        struct svc_field *f;
        char(*nums)[32];

        if (cnt <= st->cap)
                return 0;
        if (!(f = realloc(st->fields, cnt * sizeof(*f))))
                return -1;
        st->fields = f;
        if (!(nums = realloc(st->nums, cnt * sizeof(*nums))))
                return -1;
        st->nums = nums;
        st->cap = cnt;
        return 0;
}

/* Delivers one row (NULL: an empty one), padded to the header's width.
 * Returns 0, -1 when the callback stopped, -2 when out of memory. */
static int api_emit(struct api_rows *st, json_t *row, long line) {
        size_t n = row ? json_array_size(row) : 0, cnt, j;
        const char *error = NULL;
        char why[96];

        cnt = n > st->width ? n : st->width;
        if (api_reserve(st, cnt) != 0)
                return -2;
        for (j = 0; j < cnt; j++) {
                json_t *v = j < n ? json_array_get(row, j) : NULL;
                if (v) {
                        st->fields[j].ptr =
                            api_cell(v, st->nums[j], sizeof(st->nums[j]), &st->fields[j].len);
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
        return st->rd->fn(st->rd->opaque, cnt ? st->fields : NULL, cnt, error, line) == 0 ? 0 : -1;
}

/* Delivers the rows of one page, which starts at row `first`. Google leaves out
 * trailing empty cells of a row and trailing empty rows of the range: empty rows are
 * held back until a row with data follows, as in the export. */
static svc_sheets_err_t api_deliver(struct api_rows *st, json_t *values, long first) {
        struct sheets_read *rd = st->rd;
        json_t *row;
        size_t r;
        long k;
        int rc;

        json_array_foreach(values, r, row) {
                long line = first + (long)r;
                if (!json_is_array(row)) {
                        snprintf(rd->errstr, rd->errstr_size,
                                 "the Google Sheets API answered with malformed values (row %ld)",
                                 line);
                        return SVC_SHEETS_UPSTREAM;
                }
                if (json_array_size(row) == 0) {
                        if (st->width) /* empty rows before the header are dropped */
                                st->pending_empty++;
                        continue;
                }
                rc = 0;
                for (k = st->pending_empty; k > 0 && rc == 0; k--)
                        rc = api_emit(st, NULL, line - k);
                st->pending_empty = 0;
                if (rc == 0) {
                        if (!st->width)
                                st->width = json_array_size(row);
                        rc = api_emit(st, row, line);
                }
                if (rc == -2) {
                        snprintf(rd->errstr, rd->errstr_size, "out of memory");
                        return SVC_SHEETS_UPSTREAM;
                }
                if (rc == -1) {
                        snprintf(rd->errstr, rd->errstr_size, "stopped by the row reader");
                        return SVC_SHEETS_STOPPED;
                }
        }
        return SVC_SHEETS_OK;
}

/* The values URL of rows first..last (1-based, inclusive; last 0: the whole sheet) of
 * the sheet whose A1-quoted title is qtitle. Returns it malloc'ed, or NULL. */
static char *api_values_url(struct sheets_read *rd, const char *qtitle, long first, long last) {
        size_t range_size = strlen(qtitle) + 48, url_size;
        char *range = malloc(range_size), *erange = NULL, *url = NULL;

        if (!range)
                return NULL;
        if (last > 0)
                snprintf(range, range_size, "%s!%ld:%ld", qtitle, first, last);
        else
                snprintf(range, range_size, "%s", qtitle);
        if ((erange = svc_httpc_escape(range)) &&
            (url = malloc(url_size =
                              strlen(rd->sh->api_base) + strlen(rd->id) + strlen(erange) + 64)))
                snprintf(url, url_size, "%s/v4/spreadsheets/%s/values/%s?majorDimension=ROWS",
                         rd->sh->api_base, rd->id, erange);
        free(erange);
        free(range);
        return url;
}

/* Reads rows first..last (last 0: the whole sheet) and delivers them. */
static svc_sheets_err_t api_read_page(struct api_rows *st, const char *qtitle, long first,
                                      long last) {
        struct sheets_read *rd = st->rd;
        char *url = NULL, *body = NULL;
        json_t *root = NULL, *values;
        svc_sheets_err_t ret;

        if (!(url = api_values_url(rd, qtitle, first, last))) {
                snprintf(rd->errstr, rd->errstr_size, "out of memory");
                return SVC_SHEETS_UPSTREAM;
        }
        if ((ret = api_get(rd, url, &body)))
                goto out;
        root = json_loads(body, 0, NULL);
        values = json_object_get(root, "values");
        if (!json_is_object(root) || (values && !json_is_array(values)) ||
            (last > 0 && json_array_size(values) > (size_t)(last - first + 1))) {
                snprintf(rd->errstr, rd->errstr_size,
                         "the Google Sheets API answered with malformed values");
                ret = SVC_SHEETS_UPSTREAM;
                goto out;
        }
        if ((ret = api_deliver(st, values, first)) == SVC_SHEETS_OK && last > 0 && st->width)
                st->pending_empty += (last - first + 1) - (long)json_array_size(values);
out:
        json_decref(root);
        free(body);
        free(url);
        return ret;
}

/* The title in A1 notation: quoted, '' for a quote. Returns it malloc'ed, or NULL. */
static char *api_quote_title(const char *title) {
        char *qtitle = malloc(2 * strlen(title) + 3), *q = qtitle;
        const char *p;

        if (!qtitle)
                return NULL;
        *q++ = '\'';
        for (p = title; *p; p++) {
                if (*p == '\'')
                        *q++ = '\'';
                *q++ = *p;
        }
        *q++ = '\'';
        *q = '\0';
        return qtitle;
}

svc_sheets_err_t svc_sheets_api_read(struct sheets_read *rd) {
        struct api_rows st = {.rd = rd};
        char *title = NULL, *qtitle = NULL;
        long row_cnt = 0, first, page = rd->sh->page_rows;
        svc_sheets_err_t ret;

        if ((ret = api_title(rd, &title, &row_cnt)))
                goto out;
        if (!(qtitle = api_quote_title(title))) {
                snprintf(rd->errstr, rd->errstr_size, "out of memory");
                ret = SVC_SHEETS_UPSTREAM;
                goto out;
        }
        if (row_cnt <= 0) /* grid size unknown: the whole sheet at once */
                ret = api_read_page(&st, qtitle, 1, 0);
        /* Pages of rows keep memory bounded; ranges past the grid are errors at Google. */
        for (first = 1; row_cnt > 0 && first <= row_cnt && ret == SVC_SHEETS_OK; first += page)
                ret = api_read_page(&st, qtitle, first,
                                    first + page - 1 < row_cnt ? first + page - 1 : row_cnt);
out:
        free(st.fields);
        free(st.nums);
        free(qtitle);
        free(title);
        return ret;
}
