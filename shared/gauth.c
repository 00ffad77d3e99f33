/* gauth.c - service-account JWT (RS256, OpenSSL EVP) and access-token cache. */
#include "gauth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpc.h"

#define GAUTH_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define GAUTH_LIFETIME 3600  /* seconds asked for in the JWT (Google's maximum) */
#define GAUTH_MARGIN 60      /* a token is renewed this many seconds before expiry */
#define GAUTH_TOKEN_MAX 4096 /* longest access token kept */
#define GAUTH_KEY_FILE_MAX (64 * 1024)

struct svc_gauth {
        pthread_mutex_t lock;
        EVP_PKEY *pkey;
        char *client_email;
        char *token_uri;
        char *cache_path; /* token cache file, or NULL */
        char token[GAUTH_TOKEN_MAX];
        time_t token_renew_at; /* wall-clock time after which the token is renewed */
        long fetch_cnt;
};

char *svc_gauth_base64url(const unsigned char *data, size_t len) {
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        char *out = malloc(len / 3 * 4 + 5), *o = out;
        size_t i;

        if (!out)
                return NULL;
        for (i = 0; i + 2 < len; i += 3) {
                unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
                *o++ = tbl[v >> 18 & 63];
                *o++ = tbl[v >> 12 & 63];
                *o++ = tbl[v >> 6 & 63];
                *o++ = tbl[v & 63];
        }
        if (len - i == 1) {
                unsigned v = (unsigned)data[i] << 16;
                *o++ = tbl[v >> 18 & 63];
                *o++ = tbl[v >> 12 & 63];
        } else if (len - i == 2) {
                unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;
                *o++ = tbl[v >> 18 & 63];
                *o++ = tbl[v >> 12 & 63];
                *o++ = tbl[v >> 6 & 63];
        }
        *o = '\0';
        return out;
}

/* Reads the key file, or returns a copy of the JSON text itself. */
static char *gauth_key_text(const char *key, char *errstr, size_t errstr_size) {
        const char *p = key;
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        while (isspace((unsigned char)*p))
                p++;
        if (*p == '{' || *p == '[') {
                if (!(buf = strdup(p)))
                        snprintf(errstr, errstr_size, "out of memory");
                return buf;
        }
        if (!(f = fopen(key, "re"))) {
                snprintf(errstr, errstr_size,
                         "GOOGLE_SERVICE_ACCOUNT_KEY is neither JSON nor a readable file (%s)",
                         strerror(errno));
                return NULL;
        }
        if (!(buf = malloc(GAUTH_KEY_FILE_MAX + 1))) {
                snprintf(errstr, errstr_size, "out of memory");
                fclose(f);
                return NULL;
        }
        len = fread(buf, 1, GAUTH_KEY_FILE_MAX + 1, f);
        fclose(f);
        if (len > GAUTH_KEY_FILE_MAX) {
                snprintf(errstr, errstr_size, "service account key file is too large");
                OPENSSL_cleanse(buf, GAUTH_KEY_FILE_MAX + 1);
                free(buf);
                return NULL;
        }
        buf[len] = '\0';
        return buf;
}

/* Builds the cache file name from the account, the token_uri and the public key, so a
 * new key (or another token endpoint) never reuses a token obtained with an old one. */
static char *gauth_cache_path(const svc_gauth_t *ga, const char *dir) {
        unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        char *path = NULL;
        int der_len;
        size_t plen;

        if (!ctx)
                return NULL;
        der_len = i2d_PUBKEY(ga->pkey, &der);
        if (der_len <= 0 || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
            !EVP_DigestUpdate(ctx, ga->client_email, strlen(ga->client_email) + 1) ||
            !EVP_DigestUpdate(ctx, ga->token_uri, strlen(ga->token_uri) + 1) ||
            !EVP_DigestUpdate(ctx, der, (size_t)der_len) || !EVP_DigestFinal_ex(ctx, md, &md_len))
                goto out;
        plen = strlen(dir) + sizeof("/gauth-0123456789abcdef01234567.token");
        if (!(path = malloc(plen)))
                goto out;
        snprintf(path, plen, "%s/gauth-%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x.token", dir,
                 md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10],
                 md[11]);
out:
        OPENSSL_free(der);
        EVP_MD_CTX_free(ctx);
        return path;
}

/* 1 when uri is http:// to a loopback host (127.0.0.0/8, localhost, [::1]): a test stub
 * on this machine, where the signed assertion never crosses a network. */
static int gauth_loopback_http(const char *uri) {
        const char *host = uri + 7, *end;
        size_t len;

        if (strncmp(uri, "http://", 7) != 0)
                return 0;
        len = strcspn(host, "/?#");
        if (memchr(host, '@', len)) /* user info: the host is what follows it */
                return 0;
        if (*host == '[') {
                end = strchr(host, ']');
                return end && (size_t)(end - host) == 4 && !strncmp(host, "[::1]", 5) &&
                       (end[1] == ':' || end[1] == '/' || !end[1]);
        }
        len = strcspn(host, ":/?#");
        if (host[len] && host[len] != ':' && host[len] != '/')
                return 0;
        if (len == 9 && !strncasecmp(host, "localhost", 9))
                return 1;
        if (len < 7 || len > 15 || strncmp(host, "127.", 4) != 0)
                return 0;
        for (size_t i = 4; i < len; i++) /* the rest of a dotted quad: digits and dots */
                if (!(host[i] == '.' || (host[i] >= '0' && host[i] <= '9')))
                        return 0;
        return 1;
}

/* The members of the key that matter. Returns 0, or -1 with errstr. */
static int gauth_key_fields(json_t *root, const char **email, const char **pem, const char **uri,
                            char *errstr, size_t errstr_size) {
        *email = json_string_value(json_object_get(root, "client_email"));
        *pem = json_string_value(json_object_get(root, "private_key"));
        *uri = json_string_value(json_object_get(root, "token_uri"));
        if (!*email || !**email) {
                snprintf(errstr, errstr_size, "service account key has no client_email");
                return -1;
        }
        if (!*pem || !**pem) {
                snprintf(errstr, errstr_size, "service account key has no private_key");
                return -1;
        }
        if (!*uri || !**uri)
                *uri = GAUTH_DEFAULT_TOKEN_URI;
        /* The assertion it is sent is a bearer credential for an hour: only over TLS. */
        if (strncmp(*uri, "https://", 8) != 0 && !gauth_loopback_http(*uri)) {
                snprintf(errstr, errstr_size,
                         "service account token_uri must be an https:// URL (http:// only to "
                         "a loopback address)");
                return -1;
        }
        return 0;
}

/* Reads the RSA private key of pem into ga->pkey. Returns 0, or -1 with errstr. */
static int gauth_load_pkey(svc_gauth_t *ga, const char *pem, char *errstr, size_t errstr_size) {
        BIO *bio = BIO_new_mem_buf(pem, -1);
        int ret = -1;

        if (!bio || !(ga->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)))
                snprintf(errstr, errstr_size,
                         "service account private_key is not a PEM private key");
        else if (EVP_PKEY_base_id(ga->pkey) != EVP_PKEY_RSA)
                snprintf(errstr, errstr_size, "service account private_key is not an RSA key");
        else
                ret = 0;
        BIO_free(bio);
        return ret;
}

svc_gauth_t *svc_gauth_new(const char *key, const char *cache_dir, char *errstr,
                           size_t errstr_size) {
        svc_gauth_t *ga = NULL;
        char *text = NULL;
        json_t *root = NULL;
        json_error_t jerr;
        const char *email, *pem, *uri;
        int ok = 0;

        if (!(text = gauth_key_text(key, errstr, errstr_size)))
                goto out;
        /* jansson's error text may quote a token of the input ("near '...'"), which
         * could be key material: only the position is reported. */
        if (!(root = json_loads(text, 0, &jerr)) || !json_is_object(root)) {
                snprintf(errstr, errstr_size,
                         "service account key is not a JSON object (%s at line %d, column %d)",
                         root ? "not an object" : "invalid JSON", jerr.line, jerr.column);
                goto out;
        }
        if (gauth_key_fields(root, &email, &pem, &uri, errstr, errstr_size) != 0)
                goto out;
        if (!(ga = calloc(1, sizeof(*ga))) || pthread_mutex_init(&ga->lock, NULL) != 0) {
                free(ga);
                ga = NULL;
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        if (!(ga->client_email = strdup(email)) || !(ga->token_uri = strdup(uri))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        if (gauth_load_pkey(ga, pem, errstr, errstr_size) != 0)
                goto out;
        if (cache_dir && *cache_dir && !(ga->cache_path = gauth_cache_path(ga, cache_dir))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        ok = 1;
out:
        /* The PEM lives inside root's strings and text: wipe both. */
        if (root) {
                json_t *pk = json_object_get(root, "private_key");
                if (json_is_string(pk))
                        OPENSSL_cleanse((void *)json_string_value(pk), json_string_length(pk));
        }
        json_decref(root);
        if (text) {
                OPENSSL_cleanse(text, strlen(text));
                free(text);
        }
        if (!ok) {
                svc_gauth_destroy(ga);
                ga = NULL;
        }
        return ga;
}

const char *svc_gauth_client_email(const svc_gauth_t *ga) {
        return ga->client_email;
}

long svc_gauth_fetch_count(svc_gauth_t *ga) {
        long n;
        pthread_mutex_lock(&ga->lock);
        n = ga->fetch_cnt;
        pthread_mutex_unlock(&ga->lock);
        return n;
}

char *svc_gauth_jwt(svc_gauth_t *ga, time_t now, char *errstr, size_t errstr_size) {
        static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
        json_t *claims = NULL;
        char *claims_txt = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL, *jwt = NULL;
        char *input = NULL;
        unsigned char *sig = NULL;
        size_t sig_len = 0, input_len;
        EVP_MD_CTX *ctx = NULL;

        claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", ga->client_email, "scope",
                           SVC_GAUTH_SCOPE, "aud", ga->token_uri, "iat", (json_int_t)now, "exp",
                           (json_int_t)now + GAUTH_LIFETIME);
        if (!claims || !(claims_txt = json_dumps(claims, JSON_COMPACT)) ||
            !(h64 = svc_gauth_base64url((const unsigned char *)header, sizeof(header) - 1)) ||
            !(c64 = svc_gauth_base64url((const unsigned char *)claims_txt, strlen(claims_txt)))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        input_len = strlen(h64) + 1 + strlen(c64);
        if (!(input = malloc(input_len + 1))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        snprintf(input, input_len + 1, "%s.%s", h64, c64);
        if (!(ctx = EVP_MD_CTX_new()) ||
            EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ga->pkey) != 1 ||
            EVP_DigestSign(ctx, NULL, &sig_len, (const unsigned char *)input, input_len) != 1 ||
            !(sig = malloc(sig_len)) ||
            EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, input_len) != 1 ||
            !(s64 = svc_gauth_base64url(sig, sig_len))) {
                snprintf(errstr, errstr_size, "signing the service account JWT failed");
                goto out;
        }
        if (!(jwt = malloc(input_len + 1 + strlen(s64) + 1))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        sprintf(jwt, "%s.%s", input, s64);
out:
        EVP_MD_CTX_free(ctx);
        free(sig);
        free(s64);
        free(input);
        free(c64);
        free(h64);
        free(claims_txt);
        json_decref(claims);
        return jwt;
}

/* Loads a token from the cache file if it is ours, private and still good. */
static int gauth_cache_load(svc_gauth_t *ga, const char *stale, time_t now) {
        char buf[GAUTH_TOKEN_MAX + 32], *nl;
        struct stat st;
        long long renew_at;
        ssize_t n;
        int fd, ret = -1;

        if (!ga->cache_path)
                return -1;
        if ((fd = open(ga->cache_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
                return -1;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            (st.st_mode & 077))
                goto out;
        if ((n = read(fd, buf, sizeof(buf) - 1)) <= 0)
                goto out;
        buf[n] = '\0';
        if (sscanf(buf, "%lld", &renew_at) != 1 || !(nl = strchr(buf, '\n')))
                goto out;
        nl++;
        nl[strcspn(nl, "\n")] = '\0';
        if (!*nl || (time_t)renew_at <= now || strlen(nl) >= sizeof(ga->token) ||
            (stale && strcmp(nl, stale) == 0))
                goto out;
        memcpy(ga->token, nl, strlen(nl) + 1);
        ga->token_renew_at = (time_t)renew_at;
        ret = 0;
out:
        OPENSSL_cleanse(buf, sizeof(buf));
        close(fd);
        return ret;
}

/* Writes the token to a private temporary file and renames it over the cache file. */
static void gauth_cache_store(svc_gauth_t *ga) {
        char *tmp = NULL, *dir = NULL, *slash;
        size_t tlen;
        int fd = -1;

        if (!ga->cache_path || !(dir = strdup(ga->cache_path)))
                return;
        if ((slash = strrchr(dir, '/')))
                *slash = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                goto out;
        tlen = strlen(ga->cache_path) + sizeof(".XXXXXX");
        if (!(tmp = malloc(tlen)))
                goto out;
        snprintf(tmp, tlen, "%s.XXXXXX", ga->cache_path);
        if ((fd = mkstemp(tmp)) < 0) /* mode 0600 */
                goto out;
        if (fchmod(fd, 0600) != 0 ||
            dprintf(fd, "%lld\n%s\n", (long long)ga->token_renew_at, ga->token) < 0 ||
            close(fd) != 0) {
                fd = -1;
                unlink(tmp);
                goto out;
        }
        fd = -1;
        if (rename(tmp, ga->cache_path) != 0)
                unlink(tmp);
out:
        if (fd >= 0) {
                close(fd);
                unlink(tmp);
        }
        free(tmp);
        free(dir);
}

/* Copies a printable, shortened version of an untrusted string into out. */
static void gauth_sanitize(const char *in, char *out, size_t out_size) {
        size_t i = 0;
        for (; in && *in && i + 1 < out_size && i < 200; in++)
                out[i++] = isprint((unsigned char)*in) ? *in : '?';
        out[i] = '\0';
}

/* Takes the token endpoint's answer: the access token and when to renew it. */
static svc_gauth_err_t gauth_accept(svc_gauth_t *ga, long status, json_t *resp, time_t now,
                                    char *errstr, size_t errstr_size) {
        json_int_t expires_in;
        const char *tok;

        if (status < 200 || status >= 300) {
                char e[220], d[220];
                gauth_sanitize(json_string_value(json_object_get(resp, "error")), e, sizeof(e));
                gauth_sanitize(json_string_value(json_object_get(resp, "error_description")), d,
                               sizeof(d));
                /* no client_email: errstr may be shown to a caller (sheets_api.c logs it) */
                snprintf(errstr, errstr_size,
                         "Google refused the service account's token request (HTTP %ld%s%s%s%s)",
                         status, *e ? ": " : "", e, *d ? ": " : "", d);
                return status >= 400 && status < 500 ? SVC_GAUTH_REFUSED : SVC_GAUTH_UNAVAILABLE;
        }
        tok = json_string_value(json_object_get(resp, "access_token"));
        expires_in = json_integer_value(json_object_get(resp, "expires_in"));
        if (!tok || !*tok || strlen(tok) >= sizeof(ga->token) ||
            strcspn(tok, "\r\n ") != strlen(tok)) {
                snprintf(errstr, errstr_size,
                         "the token endpoint answered without a usable access_token");
                return SVC_GAUTH_UNAVAILABLE;
        }
        if (expires_in <= 0)
                expires_in = GAUTH_LIFETIME;
        memcpy(ga->token, tok, strlen(tok) + 1);
        /* Short-lived tokens (as test stubs issue) are renewed at half their life. */
        ga->token_renew_at =
            now + (expires_in > 2 * GAUTH_MARGIN ? expires_in - GAUTH_MARGIN : expires_in / 2);
        gauth_cache_store(ga);
        return SVC_GAUTH_OK;
}

/* Exchanges a new JWT for an access token; called with the lock held. */
static svc_gauth_err_t gauth_fetch(svc_gauth_t *ga, long timeout_ms, char *errstr,
                                   size_t errstr_size) {
        static const char grant[] =
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
        svc_httpc_req_t hreq;
        char *jwt = NULL, *form = NULL, *body = NULL, herr[256];
        size_t form_size = 0;
        json_t *resp = NULL;
        time_t now = time(NULL);
        long status = 0;
        svc_gauth_err_t ret = SVC_GAUTH_UNAVAILABLE;
        svc_httpc_err_t herc;

        if (!(jwt = svc_gauth_jwt(ga, now, errstr, errstr_size)))
                goto out;
        form_size = sizeof(grant) + strlen(jwt);
        if (!(form = malloc(form_size))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        /* base64url needs no form escaping. */
        snprintf(form, form_size, "%s%s", grant, jwt);
        memset(&hreq, 0, sizeof(hreq));
        hreq.url = ga->token_uri;
        hreq.form = form;
        hreq.timeout_ms = timeout_ms;
        hreq.max_bytes = 64 * 1024;
        herc = svc_httpc_do(&hreq, &status, &body, NULL, herr, sizeof(herr));
        ga->fetch_cnt++;
        if (herc != SVC_HTTPC_OK) {
                snprintf(errstr, errstr_size,
                         "could not obtain a Google access token: token endpoint %s",
                         herc == SVC_HTTPC_TIMEOUT ? "timed out" : "unreachable");
                ret = herc == SVC_HTTPC_TIMEOUT ? SVC_GAUTH_TIMEOUT : SVC_GAUTH_UNAVAILABLE;
                goto out;
        }
        resp = json_loads(body, 0, NULL);
        ret = gauth_accept(ga, status, resp, now, errstr, errstr_size);
out:
        if (resp) {
                json_t *at = json_object_get(resp, "access_token");
                if (json_is_string(at))
                        OPENSSL_cleanse((void *)json_string_value(at), json_string_length(at));
        }
        json_decref(resp);
        if (body) {
                OPENSSL_cleanse(body, strlen(body));
                free(body);
        }
        if (form) {
                OPENSSL_cleanse(form, form_size);
                free(form);
        }
        if (jwt) {
                OPENSSL_cleanse(jwt, strlen(jwt));
                free(jwt);
        }
        return ret;
}

svc_gauth_err_t svc_gauth_token(svc_gauth_t *ga, const char *stale, long timeout_ms, char *tok,
                                size_t tok_size, char *errstr, size_t errstr_size) {
        svc_gauth_err_t ret = SVC_GAUTH_OK;
        time_t now = time(NULL);

        pthread_mutex_lock(&ga->lock);
        if (!ga->token[0] || ga->token_renew_at <= now ||
            (stale && strcmp(stale, ga->token) == 0)) {
                ga->token[0] = '\0';
                if (gauth_cache_load(ga, stale, now) != 0)
                        ret = gauth_fetch(ga, timeout_ms, errstr, errstr_size);
        }
        if (ret == SVC_GAUTH_OK) {
                if (strlen(ga->token) >= tok_size) {
                        snprintf(errstr, errstr_size, "access token longer than expected");
                        ret = SVC_GAUTH_UNAVAILABLE;
                } else {
                        memcpy(tok, ga->token, strlen(ga->token) + 1);
                }
        }
        pthread_mutex_unlock(&ga->lock);
        return ret;
}

void svc_gauth_destroy(svc_gauth_t *ga) {
        if (!ga)
                return;
        EVP_PKEY_free(ga->pkey);
        OPENSSL_cleanse(ga->token, sizeof(ga->token));
        free(ga->client_email);
        free(ga->token_uri);
        free(ga->cache_path);
        pthread_mutex_destroy(&ga->lock);
        free(ga);
}
