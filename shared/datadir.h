/* datadir.h - opens a file named by a path relative to a directory, never one outside
 * it: how /api/ingest confines local CSV paths to INGEST_DATA_DIR. */
#ifndef SVC_DATADIR_H
#define SVC_DATADIR_H
#include <stddef.h>

typedef enum {
        SVC_DATADIR_OK = 0,
        SVC_DATADIR_ABSOLUTE,    /* relpath is an absolute path */
        SVC_DATADIR_DOTDOT,      /* relpath has a ".." component */
        SVC_DATADIR_OUTSIDE,     /* a symbolic link leads out of the directory (or, absolute
                                  * or climbing out, to nothing) */
        SVC_DATADIR_NOT_FOUND,   /* no such file (or a component is not a directory) */
        SVC_DATADIR_DENIED,      /* permission denied */
        SVC_DATADIR_TOO_LONG,    /* a name or the path is too long */
        SVC_DATADIR_IS_DIR,      /* a directory, the directory itself included */
        SVC_DATADIR_NOT_REGULAR, /* a FIFO, socket or device */
        SVC_DATADIR_UNOPENABLE,  /* any other failure to open the file */
        SVC_DATADIR_UNAVAILABLE, /* the directory itself, or /proc/self/fd, cannot be used */
} svc_datadir_err_t;

/**
 * @brief Opens relpath, relative to the directory dir, for reading. Only a regular
 *        file whose real path lies inside the real path of dir is opened: symbolic
 *        links are followed, relative or absolute, as long as they end inside dir;
 *        absolute paths, ".." components and links that lead out are refused. The file
 *        checked is the file opened (no window for a link swapped in between).
 * @returns a blocking O_RDONLY | O_CLOEXEC descriptor, or -1 with *err set and a reason
 *          in errstr. The reason may name server paths: log it, never show it.
 */
int svc_datadir_open(const char *dir, const char *relpath, svc_datadir_err_t *err, char *errstr,
                     size_t errstr_size) __attribute__((warn_unused_result));
#endif
