/* jbuf.h - the one growable byte buffer, JSON string escaper and UTF-8 check of the
 * service: every record written by hand (tracking events, consumer records, dev store
 * lines, /collect's raw message) goes through it, so that all of them escape strings
 * exactly as jansson's json_dumps() does.
 *
 * Ownership: the caller owns the svc_jbuf_t and the memory behind ptr; svc_jbuf_free()
 * releases it, svc_jbuf_take() hands it over. A buffer starts zeroed (SVC_JBUF_INIT).
 *
 * Errors: the first allocation that fails sets err and leaves ptr and len as they were;
 * every later append does nothing until svc_jbuf_truncate() (or svc_jbuf_reset()) clears
 * it. So a writer appends piece after piece and checks err once at the end. After any
 * append that succeeded, ptr[len] is '\0'. */
#ifndef SVC_JBUF_H
#define SVC_JBUF_H
#include <stddef.h>

typedef struct svc_jbuf {
        char *ptr;   /* NULL until the first append */
        size_t len;  /* bytes written, excluding the terminating NUL */
        size_t size; /* bytes allocated */
        int err;     /* sticky: an allocation failed (see above) */
} svc_jbuf_t;

#define SVC_JBUF_INIT                                                                              \
        { NULL, 0, 0, 0 }

/**
 * @brief Makes room for more bytes and the terminating NUL (the size doubles).
 * @returns 0, or -1 with err set (also when err was already set).
 */
int svc_jbuf_reserve(svc_jbuf_t *b, size_t more);

/* Appends n bytes (any bytes, NULs too). */
void svc_jbuf_put(svc_jbuf_t *b, const void *s, size_t n);

/* Appends a string literal. */
#define SVC_JBUF_LIT(b, lit) svc_jbuf_put(b, lit, sizeof(lit) - 1)

/**
 * @brief Appends s[0..n) as a quoted JSON string, escaped byte for byte as jansson's
 *        json_dumps() escapes a string with the flags this service uses (neither
 *        JSON_ENSURE_ASCII nor JSON_ESCAPE_SLASH): `"` and `\` with a backslash,
 *        \b \f \n \r \t, the other bytes below 0x20 (NUL too) as \u00XX in upper-case
 *        hex, every other byte as it is (DEL, U+2028 and all of UTF-8 included).
 *        s must be valid UTF-8 for the result to be JSON: check it with
 *        svc_jbuf_utf8_valid() where it may not be.
 */
void svc_jbuf_str(svc_jbuf_t *b, const char *s, size_t n);

/* Appends a JSON string of the NUL-terminated s, or null when s is NULL. */
void svc_jbuf_cstr(svc_jbuf_t *b, const char *s);

/* Appends a signed integer in decimal, as jansson writes a JSON integer. */
void svc_jbuf_int(svc_jbuf_t *b, long long v);

/* Cuts the content to len bytes (at most the current length) and clears err. */
void svc_jbuf_truncate(svc_jbuf_t *b, size_t len);

/* Empties the buffer for reuse: keeps its memory, clears err. */
#define svc_jbuf_reset(b) svc_jbuf_truncate(b, 0)

/**
 * @brief Hands the content over (free() it) and leaves the buffer empty.
 * @returns the NUL-terminated content with its length in *len, or NULL when err was set
 *          (the memory is freed then) or nothing was ever appended.
 */
char *svc_jbuf_take(svc_jbuf_t *b, size_t *len);

/* Frees the memory and leaves the buffer empty; b may be NULL. */
void svc_jbuf_free(svc_jbuf_t *b);

/**
 * @brief Length of the valid UTF-8 sequence at s (1 to 4 bytes, of the left bytes
 *        there are; left > 0), or 0 when it is not one. Strict, as jansson: no
 *        overlong forms, no surrogates, nothing above U+10FFFF.
 */
size_t svc_jbuf_utf8_seq(const char *s, size_t left);

/* 1 when s[0..n) is valid UTF-8 (as svc_jbuf_utf8_seq(); NUL bytes are), else 0. */
int svc_jbuf_utf8_valid(const char *s, size_t n);
#endif
