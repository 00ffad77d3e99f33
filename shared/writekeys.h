/* writekeys.h - the write keys of /collect (COLLECT_WRITE_KEYS, docs/configuration.md):
 * a pure parser of the key file and a lookup over what it parsed, then a watcher that
 * keeps the file's current keys for a process and reads the file again when it changes.
 * A key names and limits a sender; it is public, yet never written anywhere: no function
 * here puts it in an error text, and what a lookup lends is its source, limits and a hash. */
#ifndef SVC_WRITEKEYS_H
#define SVC_WRITEKEYS_H
#include <stddef.h>
#include <stdint.h>

#define SVC_WRITEKEY_MIN 16 /* bytes of a key, of [A-Za-z0-9_-] */
#define SVC_WRITEKEY_MAX 128
#define SVC_WRITEKEY_SOURCE_MAX 64    /* bytes of a source, of [A-Za-z0-9._-] */
#define SVC_WRITEKEY_RATE_MAX 1000000 /* events per second, and burst */
#define SVC_WRITEKEYS_MAX 10000       /* keys in one file */

/* What a key stands for. */
struct svc_writekey {
        char source[SVC_WRITEKEY_SOURCE_MAX + 1];
        uint32_t rate;  /* events per second; 0: no limit */
        uint32_t burst; /* events the bucket holds (the rate when not written); 0: no limit */
        uint64_t id;    /* a hash of the key, for the limits' table (never the key) */
};

typedef struct svc_writekeys svc_writekeys_t; /* opaque: one parsed file */

/**
 * @brief Parses a key file's text (text_len bytes, any bytes): one key a line,
 *        `<key> <source> [<events per second> [<burst>]]`, fields apart by blanks, `#`
 *        to the end of the line a comment, blank lines ignored, CR LF allowed.
 * @returns the keys (the caller destroys them; a file of no key gives an empty set), or
 *          NULL with errstr "line N: why" (never quoting the key); *err_line is then the
 *          line number, 0 when out of memory.
 */
svc_writekeys_t *svc_writekeys_parse(const char *text, size_t text_len, int *err_line, char *errstr,
                                     size_t errstr_size) __attribute__((warn_unused_result));

/** @brief How many keys the set holds. */
size_t svc_writekeys_cnt(const svc_writekeys_t *wk);

/**
 * @brief Looks key (key_len bytes) up.
 * @returns the key's entry (lent: valid while wk lives), or NULL when unknown.
 */
const struct svc_writekey *svc_writekeys_find(const svc_writekeys_t *wk, const char *key,
                                              size_t key_len);

/** @brief NULL is a no-op. */
void svc_writekeys_destroy(svc_writekeys_t *wk);

/* --- The watcher: the file's keys for a process (writekeys_watch.c) --------------------
 * Threads: any thread looks up; the one that finds the check due reads the file again
 * while the others go on with the keys they have. */

typedef struct svc_writekeys_watch svc_writekeys_watch_t; /* opaque */

#define SVC_WRITEKEYS_CHECK_MS 1000 /* how often the file is looked at (stat) */

/**
 * @brief Reads and parses the file at path (copied).
 * @returns the watcher, or NULL with errstr "<path>: line N: why" (or why it cannot be read).
 */
svc_writekeys_watch_t *svc_writekeys_watch_new(const char *path, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Looks key up in the file's current keys; first, at most every
 *        SVC_WRITEKEYS_CHECK_MS, sees whether the file changed and reads it again. A
 *        file that cannot be read or parsed then keeps the old keys and logs an ERROR,
 *        once per version of the file.
 * @returns 1 with *out filled (a copy), 0 when the key is unknown.
 */
int svc_writekeys_watch_lookup(svc_writekeys_watch_t *w, const char *key, size_t key_len,
                               struct svc_writekey *out);

/** @brief NULL is a no-op. */
void svc_writekeys_watch_destroy(svc_writekeys_watch_t *w);
#endif
