/* livefile.h - files whose lock says their writer lives, as the metrics files and the spool
 * files are: each is created under a temporary name (".tmp-..."), locked with flock(2)
 * when it has a writer, and only then put in place under its own name, so a reader never
 * sees one that is not whole or not locked; a reader that gets its lock knows the writer
 * is gone; and a temporary file older than its creator can take lost that creator (a
 * crash between create and rename) and is swept away. */
#ifndef SVC_LIVEFILE_H
#define SVC_LIVEFILE_H
#include <stddef.h>

#define SVC_LIVEFILE_TMP ".tmp-" /* a file not in place yet: readers skip it */

#define SVC_LIVEFILE_F_LOCK 0x1 /* locked by its writer, which lives as long as the lock */

/**
 * @brief Creates dirfd's file tmp (a name starting with SVC_LIVEFILE_TMP; never an
 *        existing one), mode 0600, holding head (head_len bytes; head may be NULL), and
 *        with SVC_LIVEFILE_F_LOCK locks it.
 * @returns its fd (read-write), or -1 with errno; then nothing is left behind.
 */
int svc_livefile_create(int dirfd, const char *tmp, const void *head, size_t head_len, int flags)
    __attribute__((warn_unused_result));

/**
 * @brief Renames from to to, never replacing a file there (renameat2 with
 *        RENAME_NOREPLACE, or a link where the file system has no such flag). A lock
 *        goes with the file.
 * @returns 0, or -1 with errno (EEXIST: to was there); from then stays as it was.
 */
int svc_livefile_rename(int dirfd, const char *from, const char *to);

/**
 * @brief Puts tmp in place as name: svc_livefile_rename(), and on failure tmp is removed.
 * @returns 0, or -1 with errno (EEXIST: name was there).
 */
int svc_livefile_place(int dirfd, const char *tmp, const char *name);

/**
 * @brief Whether the writer of an open file lives: it does while it holds the lock.
 * @returns 1 when it lives; 0 when it is gone, and the caller now holds the lock; -1 with
 *          errno when the lock cannot be asked for.
 */
int svc_livefile_writer_lives(int fd);

/**
 * @brief For a reader walking dirfd: is name a temporary file? One older than max_age_s
 *        lost its creator, and is removed.
 * @returns 1 when name is a temporary file (to be skipped), 0 when it is not.
 */
int svc_livefile_sweep(int dirfd, const char *name, int max_age_s);
#endif
