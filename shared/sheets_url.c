/* sheets_url.c - the Google Sheets URL allow-list and the export's redirect rule, on the
 * text of the URL alone. */
#include "sheets_url.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define DOCS_HOST "docs.google.com"
#define EXPORT_HOST_SUFFIX ".googleusercontent.com"
#define SHEET_PREFIX "/spreadsheets/d/"
#define GID_DIGITS_MAX 12

int svc_sheets_url_is_url(const char *file_path) {
        const char *p = file_path;

        if (!p || !isalpha((unsigned char)*p))
                return 0;
        while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
                p++;
        /* "scheme://": a relative file name such as "export:2025.csv" stays a path */
        return !strncmp(p, "://", 3);
}

/* Length of the RFC 3986 scheme at the start of s when a ':' follows it, else 0. */
static size_t url_scheme_len(const char *s) {
        size_t n = 0;

        if (!isalpha((unsigned char)s[0]))
                return 0;
        while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '-' || s[n] == '.')
                n++;
        return s[n] == ':' ? n : 0;
}

/* Removes the dot segments of path[0..len) as RFC 3986 section 5.2.4 does, into out
 * (at least len + 1 bytes). A path that climbs above the root stays at the root. */
static void url_remove_dots(const char *path, size_t len, char *out) {
        const char *in = path, *end = path + len;
        size_t o = 0;

        while (in < end) {
                size_t left = (size_t)(end - in);
                if (left >= 3 && !strncmp(in, "../", 3)) {
                        in += 3;
                } else if (left >= 2 && !strncmp(in, "./", 2)) {
                        in += 2;
                } else if (left >= 3 && !strncmp(in, "/./", 3)) {
                        in += 2;
                } else if (left == 2 && !strncmp(in, "/.", 2)) {
                        out[o++] = '/';
                        in += 2;
                } else if ((left >= 4 && !strncmp(in, "/../", 4)) ||
                           (left == 3 && !strncmp(in, "/..", 3))) {
                        while (o > 0 && out[--o] != '/')
                                ;
                        if (left == 3) {
                                out[o++] = '/';
                                in += 3;
                        } else {
                                in += 3;
                        }
                } else if ((left == 1 && in[0] == '.') || (left == 2 && !strncmp(in, "..", 2))) {
                        in = end;
                } else {
                        do
                                out[o++] = *in++;
                        while (in < end && *in != '/');
                }
        }
        out[o] = '\0';
}

/* Finds gid=<digits> among the '&'-separated parameters of s[0..len). Returns 0 when
 * absent (*gid untouched), 1 when found, -1 when malformed or given twice differently. */
static int url_find_gid(const char *s, size_t len, long long *gid) {
        const char *end = s + len;
        int found = 0;

        while (s < end) {
                const char *amp = memchr(s, '&', (size_t)(end - s));
                size_t n = amp ? (size_t)(amp - s) : (size_t)(end - s);
                if (n >= 3 && !strncmp(s, "gid", 3) && (n == 3 || s[3] == '=')) {
                        long long v = 0;
                        size_t i;
                        if (n <= 4 || n - 4 > GID_DIGITS_MAX)
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
                }
                s += n + (amp != NULL);
        }
        return found;
}

/* The checks that need no parsing: length and characters. */
static svc_sheets_url_err_t url_check_text(const char *url) {
        const char *p;

        if (!url || !*url)
                return SVC_SHEETS_URL_EMPTY;
        if (strlen(url) > SVC_SHEETS_URL_MAX)
                return SVC_SHEETS_URL_TOO_LONG;
        /* A user URL never needs them, and HTTP clients strip or encode them quietly. */
        for (p = url; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (c <= 0x20 || c >= 0x7f || c == '\\')
                        return SVC_SHEETS_URL_BAD_CHARS;
        }
        return SVC_SHEETS_URL_OK;
}

/* The path after "https://docs.google.com", up to the query or fragment: the id. */
static svc_sheets_url_err_t url_sheet_id(const char *path, size_t path_len,
                                         char id[SVC_SHEETS_ID_MAX + 1]) {
        char clean[SVC_SHEETS_URL_MAX + 1];
        const char *p;
        size_t n;

        url_remove_dots(path, path_len, clean);
        if (strncmp(clean, SHEET_PREFIX, sizeof(SHEET_PREFIX) - 1) != 0)
                return SVC_SHEETS_URL_NOT_SHEET;
        p = clean + sizeof(SHEET_PREFIX) - 1;
        for (n = 0; isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_'; n++)
                ;
        if (n == 0 || n > SVC_SHEETS_ID_MAX || (p[n] != '\0' && p[n] != '/'))
                return SVC_SHEETS_URL_BAD_ID;
        memcpy(id, p, n);
        id[n] = '\0';
        return SVC_SHEETS_URL_OK;
}

svc_sheets_url_err_t svc_sheets_url_parse(const char *url, char id[SVC_SHEETS_ID_MAX + 1],
                                          long long *gid) {
        const char *path, *query, *fragment;
        size_t scheme_len, auth_len, path_len, query_len;
        long long qgid = -1, fgid = -1;
        svc_sheets_url_err_t err;
        int rq, rf;

        *gid = -1;
        id[0] = '\0';
        if ((err = url_check_text(url)) != SVC_SHEETS_URL_OK)
                return err;
        if (!(scheme_len = url_scheme_len(url)))
                return SVC_SHEETS_URL_INVALID;
        if (scheme_len != 5 || strncasecmp(url, "https", 5) != 0)
                return SVC_SHEETS_URL_NOT_HTTPS;
        /* The authority as typed must be the host and nothing else: no userinfo, no port
         * (not even an empty one), no encoding, and exactly two slashes before it. */
        auth_len = strncmp(url + 5, "://", 3) == 0 ? strcspn(url + 8, "/?#") : 0;
        if (auth_len != sizeof(DOCS_HOST) - 1 || strncasecmp(url + 8, DOCS_HOST, auth_len) != 0 ||
            url[8 + auth_len] != '/')
                return SVC_SHEETS_URL_NOT_DOCS;
        path = url + 8 + auth_len;
        fragment = strchr(path, '#');
        path_len = fragment ? (size_t)(fragment - path) : strlen(path);
        query = memchr(path, '?', path_len);
        query_len = query ? path_len - (size_t)(query - path) - 1 : 0;
        if (query)
                path_len = (size_t)(query - path);
        if ((err = url_sheet_id(path, path_len, id)) != SVC_SHEETS_URL_OK)
                return err;
        rq = query ? url_find_gid(query + 1, query_len, &qgid) : 0;
        rf = fragment ? url_find_gid(fragment + 1, strlen(fragment + 1), &fgid) : 0;
        if (rq < 0 || rf < 0 || (rq > 0 && rf > 0 && qgid != fgid)) {
                id[0] = '\0';
                return SVC_SHEETS_URL_BAD_GID;
        }
        *gid = rq > 0 ? qgid : rf > 0 ? fgid : -1;
        return SVC_SHEETS_URL_OK;
}

const char *svc_sheets_url_strerror(svc_sheets_url_err_t err) {
        static const char *const why[] = {
            [SVC_SHEETS_URL_OK] = "file_path is an accepted Google Sheets URL",
            [SVC_SHEETS_URL_EMPTY] = "file_path is not an accepted Google Sheets URL: it is empty",
            [SVC_SHEETS_URL_TOO_LONG] =
                "file_path is not an accepted Google Sheets URL: it is too long",
            [SVC_SHEETS_URL_BAD_CHARS] = "file_path is not an accepted Google Sheets URL: it "
                                         "contains spaces, control or non-ASCII characters",
            [SVC_SHEETS_URL_INVALID] =
                "file_path is not an accepted Google Sheets URL: it is not a valid URL",
            [SVC_SHEETS_URL_NOT_HTTPS] =
                "file_path is not an accepted Google Sheets URL: it must start with https://",
            [SVC_SHEETS_URL_NOT_DOCS] = "file_path is not an accepted Google Sheets URL: it "
                                        "must start with https://docs.google.com/",
            [SVC_SHEETS_URL_NOT_SHEET] =
                "file_path is not an accepted Google Sheets URL: it must have the form "
                "https://docs.google.com/spreadsheets/d/<id>/...",
            [SVC_SHEETS_URL_BAD_ID] = "file_path is not an accepted Google Sheets URL: it has "
                                      "no valid spreadsheet id after /spreadsheets/d/",
            [SVC_SHEETS_URL_BAD_GID] = "file_path is not an accepted Google Sheets URL: it has "
                                       "a gid that is not a number (or two different ones)",
        };

        return (size_t)err < sizeof(why) / sizeof(why[0]) ? why[err]
                                                          : "file_path is not an accepted URL";
}

/* 1 when s[0..len) is a host name of letters, digits, dots and hyphens, or a bracketed
 * IPv6 literal. */
static int url_is_host(const char *s, size_t len) {
        size_t i;

        if (len == 0)
                return 0;
        if (s[0] == '[') {
                if (len < 3 || s[len - 1] != ']')
                        return 0;
                for (i = 1; i < len - 1; i++)
                        if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
                                return 0;
                return 1;
        }
        for (i = 0; i < len; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
                        return 0;
        return 1;
}

int svc_url_origin(const char *url, struct svc_url_origin *o) {
        const char *auth, *at, *host, *colon = NULL;
        size_t auth_len, i, port_val = 0;

        memset(o, 0, sizeof(*o));
        if (!url || !(o->scheme_len = url_scheme_len(url)) ||
            strncmp(url + o->scheme_len, "://", 3) != 0)
                return -1;
        o->scheme = url;
        auth = url + o->scheme_len + 3;
        auth_len = strcspn(auth, "/?#");
        at = memchr(auth, '@', auth_len);
        o->has_userinfo = at != NULL;
        host = at ? at + 1 : auth;
        /* the port's colon is the last one, outside an IPv6 literal's brackets */
        for (i = (size_t)(host - auth); i < auth_len; i++)
                if (auth[i] == ':')
                        colon = auth + i;
                else if (auth[i] == ']')
                        colon = NULL;
        o->host = host;
        o->host_len = (size_t)((colon ? colon : auth + auth_len) - host);
        if (!url_is_host(o->host, o->host_len))
                return -1;
        if (colon && colon + 1 < auth + auth_len) {
                o->port = colon + 1;
                o->port_len = (size_t)(auth + auth_len - o->port);
                for (i = 0; i < o->port_len; i++) {
                        if (!isdigit((unsigned char)o->port[i]) || i >= 5)
                                return -1;
                        port_val = port_val * 10 + (size_t)(o->port[i] - '0');
                }
                if (port_val > 65535)
                        return -1;
        }
        return 0;
}

static int url_span_is(const char *s, size_t len, const char *want) {
        return len == strlen(want) && strncasecmp(s, want, len) == 0;
}

int svc_sheets_url_redirect_ok(const char *url, const char *docs_base) {
        static const size_t suffix_len = sizeof(EXPORT_HOST_SUFFIX) - 1;
        struct svc_url_origin to, docs;

        if (svc_url_origin(url, &to) == -1 || to.has_userinfo)
                return 0;
        if (url_span_is(to.scheme, to.scheme_len, "https") && !to.port &&
            (url_span_is(to.host, to.host_len, DOCS_HOST) ||
             (to.host_len > suffix_len && strncasecmp(to.host + to.host_len - suffix_len,
                                                      EXPORT_HOST_SUFFIX, suffix_len) == 0)))
                return 1;
        /* The export's own origin: docs.google.com itself unless a test stub is set. */
        if (!docs_base || svc_url_origin(docs_base, &docs) == -1)
                return 0;
        return to.scheme_len == docs.scheme_len &&
               !strncasecmp(to.scheme, docs.scheme, to.scheme_len) &&
               to.host_len == docs.host_len && !strncasecmp(to.host, docs.host, to.host_len) &&
               to.port_len == docs.port_len &&
               (!to.port || !strncmp(to.port, docs.port, to.port_len));
}
