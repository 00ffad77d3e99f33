/* test_gauth.c - service-account JWT: base64url, structure, claims, RS256 signature
 * verified with the public key, unusable keys refused, no secret in any errstr. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gauth.h"
#include "tap.h"

static const struct {
        const char *in;
        size_t len;
        const char *want;
} b64_cases[] = {
    {"", 0, ""},
    {"f", 1, "Zg"},
    {"fo", 2, "Zm8"},
    {"foo", 3, "Zm9v"},
    {"foob", 4, "Zm9vYg"},
    {"fooba", 5, "Zm9vYmE"},
    {"foobar", 6, "Zm9vYmFy"},
    {"\xfb\xff", 2, "-_8"},
    {"\xfb\xff\xfe", 3, "-__-"},
    {"\x00\x00\x00", 3, "AAAA"},
    {NULL, 0, NULL},
};

/* Decodes base64url without padding; returns a malloc'ed buffer or NULL. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len) {
        char *tmp = malloc(n + 4);
        unsigned char *out = malloc(n + 4);
        size_t i, m = n;
        int dec;

        for (i = 0; i < n; i++)
                tmp[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
        while (m % 4)
                tmp[m++] = '=';
        tmp[m] = '\0';
        dec = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)m);
        free(tmp);
        if (dec < 0) {
                free(out);
                return NULL;
        }
        *out_len = (size_t)dec - (m - n); /* DecodeBlock counts the padding as zeros */
        return out;
}

static char *pem_of(EVP_PKEY *pkey, int private) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data, *out;
        long n;

        if (private)
                PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
        else
                PEM_write_bio_PUBKEY(bio, pkey);
        n = BIO_get_mem_data(bio, &data);
        out = strndup(data, (size_t)n);
        BIO_free(bio);
        return out;
}

static char *key_json(const char *email, const char *pem, const char *token_uri) {
        json_t *o = json_object();
        char *s;
        json_object_set_new(o, "type", json_string("service_account"));
        if (email)
                json_object_set_new(o, "client_email", json_string(email));
        if (pem)
                json_object_set_new(o, "private_key", json_string(pem));
        if (token_uri)
                json_object_set_new(o, "token_uri", json_string(token_uri));
        s = json_dumps(o, JSON_INDENT(2));
        json_decref(o);
        return s;
}

/* A secret must not leak: not the PEM body, not a JWT. */
static int has_secret(const char *s, const char *pem) {
        char frag[33];
        const char *body = strstr(pem, "-----\n");
        if (strstr(s, "BEGIN") || strstr(s, "eyJ"))
                return 1;
        if (body) {
                snprintf(frag, sizeof(frag), "%.32s", body + 40);
                if (strstr(s, frag))
                        return 1;
        }
        return 0;
}

int main(void) {
        char errstr[512], path[4096], tok[128];
        EVP_PKEY *pkey = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256"), *pub = NULL;
        char *pem = pem_of(pkey, 1), *pub_pem = pem_of(pkey, 0), *ec_pem = pem_of(ec, 1);
        char *json = key_json("svc@proj.iam.gserviceaccount.com", pem, "http://127.0.0.1:9/token");
        char *jwt, *dot1, *dot2;
        unsigned char *hdr, *claims, *sig;
        size_t hdr_len, claims_len, sig_len;
        svc_gauth_t *ga;
        time_t now = 1761140095;
        json_t *c;
        BIO *bio;
        EVP_MD_CTX *ctx;
        int i, fd, verified;

        for (i = 0; b64_cases[i].want; i++) {
                char *got =
                    svc_gauth_base64url((const unsigned char *)b64_cases[i].in, b64_cases[i].len);
                is_str(got, b64_cases[i].want, "base64url of %zu bytes", b64_cases[i].len);
                free(got);
        }

        ga = svc_gauth_new(json, NULL, errstr, sizeof(errstr));
        ok(ga != NULL, "key from JSON text (%s)", ga ? "ok" : errstr);
        if (!ga)
                return done_testing();
        is_str(svc_gauth_client_email(ga), "svc@proj.iam.gserviceaccount.com", "client_email");

        jwt = svc_gauth_jwt(ga, now, errstr, sizeof(errstr));
        ok(jwt && (dot1 = strchr(jwt, '.')) && (dot2 = strchr(dot1 + 1, '.')) &&
               !strchr(dot2 + 1, '.'),
           "JWT has three parts");
        ok(jwt && strcspn(jwt, "=+/ \n") == strlen(jwt), "JWT is base64url without padding");
        dot1 = strchr(jwt, '.');
        dot2 = strchr(dot1 + 1, '.');
        hdr = b64url_decode(jwt, (size_t)(dot1 - jwt), &hdr_len);
        claims = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &claims_len);
        sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len);
        ok(hdr && hdr_len == strlen("{\"alg\":\"RS256\",\"typ\":\"JWT\"}") &&
               memcmp(hdr, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", hdr_len) == 0,
           "header is {\"alg\":\"RS256\",\"typ\":\"JWT\"}");
        c = claims ? json_loadb((const char *)claims, claims_len, 0, NULL) : NULL;
        is_str(json_string_value(json_object_get(c, "iss")), "svc@proj.iam.gserviceaccount.com",
               "iss is client_email");
        is_str(json_string_value(json_object_get(c, "scope")),
               "https://www.googleapis.com/auth/spreadsheets.readonly", "scope is read-only");
        is_str(json_string_value(json_object_get(c, "aud")), "http://127.0.0.1:9/token",
               "aud is token_uri");
        is_int(json_integer_value(json_object_get(c, "iat")), now, "iat is now");
        is_int(json_integer_value(json_object_get(c, "exp")), now + 3600, "exp is iat + 1 h");
        json_decref(c);
        is_int(sig_len, 256, "RS256 signature of a 2048-bit key");

        bio = BIO_new_mem_buf(pub_pem, -1);
        pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
        ctx = EVP_MD_CTX_new();
        verified =
            pub && sig && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
            EVP_DigestVerify(ctx, sig, sig_len, (unsigned char *)jwt, (size_t)(dot2 - jwt)) == 1;
        ok(verified, "signature verifies with the public key (RSA PKCS#1 v1.5, SHA-256)");
        EVP_MD_CTX_free(ctx);
        /* The same signature over other claims must not verify. */
        jwt[dot1 - jwt + 3] ^= 1;
        ctx = EVP_MD_CTX_new();
        verified =
            pub && sig && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
            EVP_DigestVerify(ctx, sig, sig_len, (unsigned char *)jwt, (size_t)(dot2 - jwt)) == 1;
        ok(!verified, "a tampered JWT does not verify");
        EVP_MD_CTX_free(ctx);
        free(hdr);
        free(claims);
        free(sig);
        free(jwt);

        /* No token endpoint listening: the error is clear and holds no secret. */
        errstr[0] = '\0';
        ok(svc_gauth_token(ga, NULL, 2000, tok, sizeof(tok), errstr, sizeof(errstr)) ==
               SVC_GAUTH_UNAVAILABLE,
           "unreachable token_uri is an error");
        ok(errstr[0] && !has_secret(errstr, pem), "no secret in its errstr (%s)", errstr);
        is_int(svc_gauth_fetch_count(ga), 1, "one exchange attempted");
        svc_gauth_destroy(ga);

        /* The key as a path to the file. */
        snprintf(path, sizeof(path), "%s/test_gauth_XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        fd = mkstemp(path);
        ok(fd >= 0 && write(fd, json, strlen(json)) == (ssize_t)strlen(json), "key file");
        close(fd);
        ga = svc_gauth_new(path, NULL, errstr, sizeof(errstr));
        ok(ga != NULL, "key from a file path");
        svc_gauth_destroy(ga);
        unlink(path);

        {
                char *garbled = strdup(pem), *no_email = key_json(NULL, pem, NULL);
                char *no_pk = key_json("a@b", NULL, NULL);
                char *bad_pem, *ec_json = key_json("a@b", ec_pem, NULL);
                char *bad_uri = key_json("a@b", pem, "file:///etc/passwd");
                char *clear_uri = key_json("a@b", pem, "http://oauth2.googleapis.com/token");
                char *near_uri = key_json("a@b", pem, "http://127.0.0.1.example.com/token");
                char *userinfo_uri = key_json("a@b", pem, "http://127.0.0.1:80@evil.example/t");
                garbled[60] ^= 0x20;
                garbled[61] = '!';
                bad_pem = key_json("a@b", garbled, NULL);
                const struct {
                        const char *key, *want, *label;
                } bad[] = {
                    {"{not json", "not a JSON object", "not JSON"},
                    {"[1,2]", "not a JSON object", "JSON array"},
                    {no_email, "client_email", "no client_email"},
                    {no_pk, "private_key", "no private_key"},
                    {bad_pem, "not a PEM private key", "garbled PEM"},
                    {ec_json, "not an RSA key", "EC key"},
                    {bad_uri, "token_uri", "token_uri not http(s)"},
                    {clear_uri, "https://", "token_uri in clear text to another host"},
                    {near_uri, "https://", "token_uri to a host that only starts like loopback"},
                    {userinfo_uri, "https://", "token_uri with loopback as user name"},
                    {"/nonexistent/key.json", "neither JSON nor a readable file", "no file"},
                    {NULL, NULL, NULL},
                };
                for (i = 0; bad[i].key; i++) {
                        errstr[0] = '\0';
                        ga = svc_gauth_new(bad[i].key, NULL, errstr, sizeof(errstr));
                        ok(!ga && strstr(errstr, bad[i].want) && !has_secret(errstr, pem) &&
                               !has_secret(errstr, garbled),
                           "refused: %s (%s)", bad[i].label, errstr);
                        svc_gauth_destroy(ga);
                }
                free(garbled);
                free(no_email);
                free(no_pk);
                free(bad_pem);
                free(ec_json);
                free(bad_uri);
                free(clear_uri);
                free(near_uri);
                free(userinfo_uri);
        }
        /* http:// to a loopback address (a test stub) is taken. */
        {
                const char *const loop[] = {"http://127.0.0.1:9/token",
                                            "http://localhost/token",
                                            "http://[::1]:8080/token",
                                            "http://127.1.2.3/t",
                                            "https://oauth2.googleapis.com/token",
                                            NULL};
                for (i = 0; loop[i]; i++) {
                        char *j = key_json("a@b", pem, loop[i]);
                        ga = svc_gauth_new(j, NULL, errstr, sizeof(errstr));
                        ok(ga != NULL, "token_uri %s is taken", loop[i]);
                        svc_gauth_destroy(ga);
                        free(j);
                }
        }
        /* The default token_uri is Google's. */
        {
                char *j = key_json("a@b", pem, NULL);
                char *t;
                ga = svc_gauth_new(j, NULL, errstr, sizeof(errstr));
                t = ga ? svc_gauth_jwt(ga, now, errstr, sizeof(errstr)) : NULL;
                ok(t != NULL, "JWT with the default token_uri");
                if (t) {
                        char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
                        size_t cl;
                        unsigned char *cj = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &cl);
                        json_t *cc = json_loadb((const char *)cj, cl, 0, NULL);
                        is_str(json_string_value(json_object_get(cc, "aud")),
                               "https://oauth2.googleapis.com/token", "default aud");
                        json_decref(cc);
                        free(cj);
                }
                free(t);
                svc_gauth_destroy(ga);
                free(j);
        }
        EVP_PKEY_free(pub);
        EVP_PKEY_free(pkey);
        EVP_PKEY_free(ec);
        free(pem);
        free(pub_pem);
        free(ec_pem);
        free(json);
        return done_testing();
}
