/* fuzz_sheets_url.c - fuzzes the Google Sheets URL allow-list and the export's redirect
 * rule (shared/sheets_url.c). Besides not crashing, every accepted URL must pass an
 * independent reading of the rule, done on the raw text: https://, authority exactly
 * docs.google.com (so no userinfo and no port), a path starting /spreadsheets/d/<id>,
 * and any gid present as gid=<digits>; every redirect allowed without a stub origin
 * must be https to docs.google.com or a *.googleusercontent.com host, as typed. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_check.h"
#include "sheets_url.h"

static int independently_allowed(const char *url, const char *id, long long gid) {
        static const char host[] = "docs.google.com";
        static const char prefix[] = "/spreadsheets/d/";
        const char *auth, *path;
        size_t auth_len, id_len = strlen(id);

        if (strncasecmp(url, "https://", 8) != 0)
                return 0;
        auth = url + 8;
        auth_len = strcspn(auth, "/?#");
        if (auth_len != sizeof(host) - 1 || strncasecmp(auth, host, auth_len) != 0)
                return 0;
        path = auth + auth_len;
        if (*path != '/')
                return 0;
        for (const char *p = url; *p; p++)
                if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '\\')
                        return 0;
        if (id_len == 0 || id_len > SVC_SHEETS_ID_MAX)
                return 0;
        for (size_t i = 0; i < id_len; i++)
                if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
                        return 0;
        /* the id must be in the path as typed, unless the path has dot segments: they are
         * resolved first (the request stays on docs.google.com, the id is still checked) */
        {
                size_t path_len = strcspn(path, "?#");
                int found = 0;
                for (const char *p = path; p + 1 + id_len <= path + path_len; p++)
                        if (*p == '/' && !strncmp(p + 1, id, id_len) &&
                            strchr("/?#", p[1 + id_len]))
                                found = 1;
                if (!memmem(path, path_len, "/.", 2) &&
                    (!found || !memmem(path, path_len, prefix, sizeof(prefix) - 1)))
                        return 0;
        }
        if (gid != -1) {
                int found = 0;
                if (gid < 0 || gid > 999999999999LL)
                        return 0;
                for (const char *p = strstr(url, "gid="); p; p = strstr(p + 1, "gid=")) {
                        char *end;
                        if (isdigit((unsigned char)p[4]) && strtoll(p + 4, &end, 10) == gid)
                                found = 1;
                }
                if (!found)
                        return 0;
        }
        return 1;
}

static int independently_redirectable(const char *url) {
        static const char suffix[] = ".googleusercontent.com";
        size_t auth_len;
        const char *auth;

        if (strncasecmp(url, "https://", 8) != 0)
                return 0;
        auth = url + 8;
        auth_len = strcspn(auth, "/?#");
        if (memchr(auth, '@', auth_len) || memchr(auth, '%', auth_len))
                return 0;
        if (auth_len && auth[auth_len - 1] == ':') /* an empty port is no port */
                auth_len--;
        if (memchr(auth, ':', auth_len))
                return 0;
        if (auth_len == strlen("docs.google.com") &&
            !strncasecmp(auth, "docs.google.com", auth_len))
                return 1;
        return auth_len > sizeof(suffix) - 1 &&
               !strncasecmp(auth + auth_len - (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *url = malloc(size + 1);
        char id[SVC_SHEETS_ID_MAX + 1];
        long long gid = 12345;
        svc_sheets_url_err_t err;

        FUZZ_CHECK(url);
        memcpy(url, data, size);
        url[size] = '\0';
        memset(id, 'x', sizeof(id));
        err = svc_sheets_url_parse(url, id, &gid);
        FUZZ_CHECK(err >= SVC_SHEETS_URL_OK && err <= SVC_SHEETS_URL_BAD_GID);
        FUZZ_CHECK(memchr(id, '\0', sizeof(id)));
        FUZZ_CHECK(strstr(svc_sheets_url_strerror(err), "file_path"));
        if (err == SVC_SHEETS_URL_OK) {
                FUZZ_CHECK(independently_allowed(url, id, gid));
                FUZZ_CHECK(svc_sheets_url_is_url(url));
        } else {
                FUZZ_CHECK(id[0] == '\0' && gid == -1);
        }
        if (svc_sheets_url_redirect_ok(url, NULL))
                FUZZ_CHECK(independently_redirectable(url));
        free(url);
        return 0;
}
