/* test_sheets.c - the Google Sheets URL allow-list, the export's redirect rule, and that
 * refused URLs fetch nothing. */
#include <stdlib.h>
#include <string.h>

#include "sheets.h"
#include "tap.h"

static const struct {
        const char *url;
        const char *id; /* expected id, NULL: refused */
        long long gid;  /* expected gid, -1: none */
        const char *label;
} url_cases[] = {
    {"https://docs.google.com/spreadsheets/d/1AbC-_9z/edit", "1AbC-_9z", -1, "edit link"},
    {"https://docs.google.com/spreadsheets/d/1AbC-_9z", "1AbC-_9z", -1, "bare id"},
    {"https://docs.google.com/spreadsheets/d/1AbC-_9z/", "1AbC-_9z", -1, "trailing slash"},
    {"https://docs.google.com/spreadsheets/d/abc/edit#gid=123", "abc", 123, "gid in fragment"},
    {"https://docs.google.com/spreadsheets/d/abc/edit?gid=7", "abc", 7, "gid in query"},
    {"https://docs.google.com/spreadsheets/d/abc/edit?usp=sharing&gid=0#gid=0", "abc", 0,
     "gid in both, equal"},
    {"https://docs.google.com/spreadsheets/d/abc/export?format=csv&gid=42", "abc", 42,
     "export link"},
    {"https://DOCS.GOOGLE.COM/spreadsheets/d/abc/edit", "abc", -1, "host case"},
    {"HTTPS://docs.google.com/spreadsheets/d/abc", "abc", -1, "scheme case"},
    {"https://docs.google.com/spreadsheets/d/abc/edit?usp=sharing", "abc", -1, "query without gid"},
    /* hostile or wrong */
    {"https://example.org/spreadsheets/d/abc/edit", NULL, -1, "other host"},
    {"https://docs.google.com.example.org/spreadsheets/d/abc", NULL, -1, "look-alike suffix"},
    {"https://docs.google.com@example.org/spreadsheets/d/abc", NULL, -1, "userinfo trick"},
    {"https://user:pw@docs.google.com/spreadsheets/d/abc", NULL, -1, "userinfo"},
    {"https://user@docs.google.com/spreadsheets/d/abc", NULL, -1, "user only"},
    {"https://docs.google.com:443/spreadsheets/d/abc", NULL, -1, "explicit port 443"},
    {"https://docs.google.com:8443/spreadsheets/d/abc", NULL, -1, "port"},
    {"http://docs.google.com/spreadsheets/d/abc", NULL, -1, "http"},
    {"file:///etc/passwd", NULL, -1, "file"},
    {"file://docs.google.com/spreadsheets/d/abc", NULL, -1, "file with host"},
    {"ftp://docs.google.com/spreadsheets/d/abc", NULL, -1, "ftp"},
    {"gopher://docs.google.com/spreadsheets/d/abc", NULL, -1, "gopher"},
    {"https://docs.google.com/document/d/abc/edit", NULL, -1, "a document, not a sheet"},
    {"https://docs.google.com/spreadsheets/abc", NULL, -1, "no /d/"},
    {"https://docs.google.com/spreadsheets/d/", NULL, -1, "empty id"},
    {"https://docs.google.com/spreadsheets/d//edit", NULL, -1, "empty id segment"},
    {"https://docs.google.com/spreadsheets/d/ab%2Fcd/edit", NULL, -1, "encoded slash in id"},
    {"https://docs.google.com/spreadsheets/d/ab.cd/edit", NULL, -1, "dot in id"},
    {"https://docs.google.com/spreadsheets/d/..%2F..%2Fetc/edit", NULL, -1, "encoded dots"},
    {"https://docs.google.com/x/../spreadsheets/d/abc", "abc", -1,
     "dot segments are resolved first"},
    {"https://docs.google.com/spreadsheets/d/abc/../../../evil", NULL, -1,
     "dot segments leaving the sheet"},
    {"https://docs.google.com%2eexample.org/spreadsheets/d/abc", NULL, -1, "encoded dot in host"},
    {"https://docs%2egoogle%2ecom/spreadsheets/d/abc", NULL, -1, "encoded host"},
    {"https://docs.google.com./spreadsheets/d/abc", NULL, -1, "trailing dot host"},
    {"https://docs.google.com\\@example.org/spreadsheets/d/abc", NULL, -1, "backslash"},
    {"https://docs.google.com/spreadsheets/d/abc def", NULL, -1, "space"},
    {"https://docs.google.com/spreadsheets/d/abc\r\nHost: x", NULL, -1, "CRLF"},
    {"https://docs.g\xd0\xbe\xd0\xbegle.com/spreadsheets/d/abc", NULL, -1, "IDN homograph"},
    {"https://127.0.0.1/spreadsheets/d/abc", NULL, -1, "IP address"},
    {"https://[::1]/spreadsheets/d/abc", NULL, -1, "IPv6 address"},
    {"https://sheets.googleapis.com/v4/spreadsheets/abc", NULL, -1, "API host"},
    {"//docs.google.com/spreadsheets/d/abc", NULL, -1, "scheme-relative"},
    {"https:/docs.google.com/spreadsheets/d/abc", NULL, -1, "one slash"},
    {"https://docs.google.com/spreadsheets/d/abc/edit#gid=12x", NULL, -1, "gid not digits"},
    {"https://docs.google.com/spreadsheets/d/abc/edit?gid=", NULL, -1, "empty gid"},
    {"https://docs.google.com/spreadsheets/d/abc/edit?gid=1&gid=2", NULL, -1, "two gids"},
    {"https://docs.google.com/spreadsheets/d/abc/edit?gid=1#gid=2", NULL, -1,
     "query and fragment disagree"},
    {"https://docs.google.com/spreadsheets/d/abc/edit?gid=-1", NULL, -1, "negative gid"},
    {"https://docs.google.com/spreadsheets/d/abc/edit?gid=99999999999999999999", NULL, -1,
     "gid overflow"},
    {"", NULL, -1, "empty"},
    {"docs.google.com/spreadsheets/d/abc", NULL, -1, "no scheme"},
    {NULL, NULL, 0, NULL},
};

static const struct {
        const char *path;
        int is_url;
} is_url_cases[] = {
    {"events.csv", 0},
    {"dir/events-2025.csv", 0},
    {"../x.csv", 0},
    {"/etc/passwd", 0},
    {"https://docs.google.com/spreadsheets/d/abc", 1},
    {"file:///etc/passwd", 1},
    {"HTTP://x", 1},
    {"a+b.c-d://x", 1},
    {"a+b.c-d:x", 0},
    {"export:2025.csv", 0},
    {"1http://x", 0},
    {"", 0},
    {NULL, 0},
};

static const struct {
        const char *url;
        const char *docs_base;
        int ok;
        const char *label;
} redirect_cases[] = {
    {"https://docs.google.com/spreadsheets/d/a/export", NULL, 1, "docs.google.com"},
    {"https://DOCS.google.com/x", NULL, 1, "docs.google.com, any case"},
    {"https://doc-0s-1c-sheets.googleusercontent.com/export/x", NULL, 1, "export host"},
    {"https://googleusercontent.com/x", NULL, 0, "the bare domain"},
    {"https://evil.example/x.googleusercontent.com", NULL, 0, "suffix in the path"},
    {"https://x.googleusercontent.com.evil.example/", NULL, 0, "suffix then more"},
    {"http://docs.google.com/x", NULL, 0, "http"},
    {"https://docs.google.com:443/x", NULL, 0, "a port, even 443"},
    {"https://u@docs.google.com/x", NULL, 0, "userinfo"},
    {"https://docs.google.com@evil.example/x", NULL, 0, "userinfo trick"},
    {"https://%2ex.googleusercontent.com/", NULL, 0, "encoded host"},
    {"https:///docs.google.com/", NULL, 0, "three slashes"},
    {"//docs.google.com/x", NULL, 0, "scheme-relative"},
    {"", NULL, 0, "empty"},
    {"http://127.0.0.1:8080/export", "http://127.0.0.1:8080", 1, "the stub's own origin"},
    {"http://127.0.0.1:8081/export", "http://127.0.0.1:8080", 0, "another port"},
    {"http://127.0.0.1/export", "http://127.0.0.1:8080", 0, "no port"},
    {"https://127.0.0.1:8080/export", "http://127.0.0.1:8080", 0, "another scheme"},
    {"http://[::1]:8080/x", "http://[::1]:8080/base/", 1, "IPv6 origin"},
    {"http://127.0.0.1:8080/x", "not a url", 0, "an unusable base"},
    {NULL, NULL, 0, NULL},
};

static int rows_seen;

static int count_rows(void *opaque, const struct svc_field *fields, size_t field_cnt,
                      const char *error, long line) {
        (void)opaque, (void)fields, (void)field_cnt, (void)error, (void)line;
        rows_seen++;
        return 0;
}

int main(void) {
        char id[SVC_SHEETS_ID_MAX + 1], errstr[512], detail[256];
        svc_sheets_url_err_t err;
        long long gid;
        svc_config_t cfg;
        svc_sheets_t *sh;
        int i, rc;

        for (i = 0; url_cases[i].label; i++) {
                err = svc_sheets_url_parse(url_cases[i].url, id, &gid);
                if (url_cases[i].id) {
                        ok(err == SVC_SHEETS_URL_OK && strcmp(id, url_cases[i].id) == 0 &&
                               gid == url_cases[i].gid,
                           "accepted: %s", url_cases[i].label);
                        if (err != SVC_SHEETS_URL_OK || gid != url_cases[i].gid)
                                printf("#   err %d id '%s' gid %lld: %s\n", err, id, gid,
                                       svc_sheets_url_strerror(err));
                } else {
                        ok(err != SVC_SHEETS_URL_OK && id[0] == '\0' && gid == -1 &&
                               strstr(svc_sheets_url_strerror(err), "not an accepted"),
                           "refused: %s (%s)", url_cases[i].label, svc_sheets_url_strerror(err));
                }
        }
        for (i = 0; is_url_cases[i].path; i++)
                is_int(svc_sheets_url_is_url(is_url_cases[i].path), is_url_cases[i].is_url,
                       "is_url(\"%s\")", is_url_cases[i].path);
        for (i = 0; redirect_cases[i].label; i++)
                is_int(
                    svc_sheets_url_redirect_ok(redirect_cases[i].url, redirect_cases[i].docs_base),
                    redirect_cases[i].ok, "redirect: %s", redirect_cases[i].label);

        /* Refused URLs never reach the network: bases point at a closed port, and the
         * answer is BAD_URL, not a connection failure. */
        setenv("GOOGLE_SHEETS_API_BASE", "http://127.0.0.1:9", 1);
        setenv("GOOGLE_DOCS_BASE", "http://127.0.0.1:9", 1);
        setenv("GOOGLE_TIMEOUT_MS", "2000", 1);
        unsetenv("GOOGLE_SERVICE_ACCOUNT_KEY");
        unsetenv("EVENTS_CONFIG");
        rc = svc_config_load(&cfg, errstr, sizeof(errstr));
        ok(rc == 0, "config loads (%s)", rc ? errstr : "ok");
        sh = svc_sheets_new(&cfg, NULL, errstr, sizeof(errstr));
        ok(sh != NULL, "reader without key");
        for (i = 0; sh && url_cases[i].label; i++) {
                if (url_cases[i].id)
                        continue;
                rows_seen = 0;
                is_int(svc_sheets_read(sh, url_cases[i].url, count_rows, NULL, errstr,
                                       sizeof(errstr), NULL, 0),
                       SVC_SHEETS_BAD_URL, "read refuses: %s", url_cases[i].label);
        }
        if (sh) {
                is_int(svc_sheets_read(sh, "https://docs.google.com/spreadsheets/d/abc/edit",
                                       count_rows, NULL, errstr, sizeof(errstr), detail,
                                       sizeof(detail)),
                       SVC_SHEETS_UPSTREAM, "a good URL is fetched (closed port: upstream)");
                ok(strstr(errstr, "127.0.0.1") == NULL, "errstr names no internal host (%s)",
                   errstr);
                ok(strstr(detail, "the Google Sheets export failed") != NULL,
                   "the detail for the log says what failed (%s)", detail);
                is_int(rows_seen, 0, "no rows from a failed fetch");
        }
        svc_sheets_destroy(sh);

        setenv("GOOGLE_SERVICE_ACCOUNT_KEY", "{\"client_email\":\"x@y\"}", 1);
        svc_config_close(&cfg);
        rc = svc_config_load(&cfg, errstr, sizeof(errstr));
        sh = svc_sheets_new(&cfg, NULL, errstr, sizeof(errstr));
        ok(rc == 0 && sh == NULL && strstr(errstr, "private_key"),
           "a key without private_key is refused at start (%s)", errstr);
        svc_sheets_destroy(sh);
        setenv("GOOGLE_SERVICE_ACCOUNT_KEY", "/nonexistent/key.json", 1);
        svc_config_close(&cfg);
        rc = svc_config_load(&cfg, errstr, sizeof(errstr));
        sh = svc_sheets_new(&cfg, NULL, errstr, sizeof(errstr));
        ok(rc == 0 && sh == NULL, "an unreadable key path is refused (%s)", errstr);
        svc_sheets_destroy(sh);
        svc_config_close(&cfg);
        return done_testing();
}
