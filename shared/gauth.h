/* gauth.h - Google service-account OAuth2: a JWT signed RS256 with OpenSSL, exchanged at
 * the key's token_uri for an access token that is cached until shortly before it expires. */
#ifndef SVC_GAUTH_H
#define SVC_GAUTH_H
#include <stddef.h>
#include <time.h>

#define SVC_GAUTH_SCOPE "https://www.googleapis.com/auth/spreadsheets.readonly"

typedef struct svc_gauth svc_gauth_t; /* opaque; thread-safe */

typedef enum {
        SVC_GAUTH_OK = 0,
        SVC_GAUTH_REFUSED,     /* token_uri refused the JWT (4xx): wrong key, unknown account */
        SVC_GAUTH_TIMEOUT,     /* token_uri did not answer in time */
        SVC_GAUTH_UNAVAILABLE, /* network failure, 5xx or a malformed answer */
} svc_gauth_err_t;

/**
 * @brief Loads a service-account key: `key` is the JSON text itself (first non-blank
 *        character '{') or the path of a file holding it. Needs client_email and an RSA
 *        private_key; token_uri defaults to https://oauth2.googleapis.com/token.
 *        cache_dir, when not NULL, is where tokens are also cached in a file (mode 0600,
 *        one per key), so that one-request-per-process (CGI) mode reuses them; the
 *        directory is created 0700 when missing. No network work is done here.
 * @returns NULL with errstr (never containing key material) when the key is unusable.
 */
svc_gauth_t *svc_gauth_new(const char *key, const char *cache_dir, char *errstr,
                           size_t errstr_size);

/** @brief The key's client_email (borrowed; lives as long as ga). */
const char *svc_gauth_client_email(const svc_gauth_t *ga);

/**
 * @brief Copies a valid access token into tok: the cached one (memory, then the cache
 *        file) unless it expires within the next minute or is `stale` (the token a
 *        server just answered 401 to; may be NULL), else a new one from token_uri.
 *        timeout_ms bounds the exchange (0: 30 s). Threads wait for one exchange.
 * @returns SVC_GAUTH_OK, or an error with a reason in errstr that is safe to show.
 */
svc_gauth_err_t svc_gauth_token(svc_gauth_t *ga, const char *stale, long timeout_ms, char *tok,
                                size_t tok_size, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Builds the signed assertion for time `now`: header {"alg":"RS256","typ":"JWT"},
 *        claims iss, scope, aud (= token_uri), iat = now, exp = now + 3600.
 * @returns a malloc'ed JWT (the caller frees it), or NULL with errstr.
 */
char *svc_gauth_jwt(svc_gauth_t *ga, time_t now, char *errstr, size_t errstr_size);

/** @brief base64url without padding of len bytes. @returns malloc'ed text or NULL. */
char *svc_gauth_base64url(const unsigned char *data, size_t len);

/** @brief Counts the tokens fetched from token_uri by this object (for tests and logs). */
long svc_gauth_fetch_count(svc_gauth_t *ga);

void svc_gauth_destroy(svc_gauth_t *ga); /* NULL is a no-op; wipes key material */
#endif
