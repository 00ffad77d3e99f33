/* spooltool.c - look into a spool directory, check it, or write records into it with the
 * same writer /collect uses (docs/spool.md).
 *
 *   spooltool ls DIR       one line per file (oldest first): name, records, bytes, and
 *                          the damaged byte runs it holds; then the totals
 *   spooltool verify DIR   reads every record and checks its CRC; names each damaged run
 *                          (file, offset, length); exit status 1 when there is one
 *   spooltool cat DIR      "key<TAB>value" per record, oldest first
 *   spooltool rejected DIR like ls, for DIR/rejected: the records Kafka refused for good,
 *                          which the forwarder set aside (`cat DIR/rejected` shows them)
 *   spooltool requeue DIR  moves the files of DIR/rejected back into DIR: the forwarder
 *                          produces them again (once the cause is fixed); a file the
 *                          forwarder is writing stays
 *   spooltool write [-b BATCH] [-m MAX_BYTES] DIR TOPIC
 *                          appends one record per "key<TAB>value" line of stdin, BATCH
 *                          records per append (default 1); exit status 1 on failure,
 *                          after printing how many records were written
 *
 * A file being written is read as it is at that moment: its last record may show as
 * damaged until its writer has finished it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

#define USAGE                                                                                      \
        "usage: spooltool ls|verify|cat|rejected|requeue DIR\n"                                    \
        "       spooltool write [-b BATCH] [-m MAX_BYTES] DIR TOPIC < key<TAB>value lines\n"

enum { CMD_LS, CMD_VERIFY, CMD_CAT };

/* Reads every file of dir; returns 0, 1 when damage was found, 2 on an error. */
static int walk(const char *dir, int cmd) {
        char errstr[512];
        char **names = svc_spool_list(dir, errstr, sizeof(errstr));
        long long files = 0, records = 0, bytes = 0, damaged = 0;
        int ret = 0;

        if (!names) {
                fprintf(stderr, "spooltool: %s\n", errstr);
                return 2;
        }
        for (char **name = names; *name; name++) {
                svc_spool_file_t *f;
                struct svc_spool_rec rec;
                svc_spool_next_t n;
                size_t off, len, file_bytes = 0;
                long long file_records = 0, file_damaged = 0;
                int rc = svc_spool_file_open(dir, *name, 0, &f, errstr, sizeof(errstr));

                if (rc == 0)
                        continue; /* forwarded meanwhile */
                if (rc == -1) {
                        fprintf(stderr, "spooltool: %s\n", errstr);
                        ret = 2;
                        continue;
                }
                while ((n = svc_spool_file_next(f, &rec, &off, &len)) != SVC_SPOOL_END) {
                        file_bytes += len;
                        if (n == SVC_SPOOL_DAMAGED) {
                                file_damaged++;
                                if (cmd == CMD_VERIFY)
                                        printf("%s: %zu damaged bytes at offset %zu\n", *name, len,
                                               off);
                        } else {
                                file_records++;
                                if (cmd == CMD_CAT)
                                        printf("%.*s\t%.*s\n", (int)rec.key_len, rec.key,
                                               (int)rec.val_len, rec.val);
                        }
                }
                svc_spool_file_close(f);
                if (cmd == CMD_LS)
                        printf("%s\t%lld records\t%zu bytes%s\n", *name, file_records, file_bytes,
                               file_damaged ? "\tDAMAGED" : "");
                files++;
                records += file_records;
                bytes += (long long)file_bytes;
                damaged += file_damaged;
        }
        svc_spool_list_free(names);
        if (cmd != CMD_CAT)
                printf("%lld files, %lld records, %lld bytes, %lld damaged runs\n", files, records,
                       bytes, damaged);
        return ret ? ret : damaged ? 1 : 0;
}

/* fsyncs a directory: a rename in it is durable. */
static void sync_dir(const char *dir) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd != -1) {
                fsync(fd);
                close(fd);
        }
}

/* Moves the files of DIR/rejected back into DIR, each locked as the forwarder locks it
 * (one being written stays). Returns 0, or 2 when one could not be moved. */
static int requeue(const char *dir) {
        char rej[4096], from[4608], to[4608], errstr[512];
        char **names;
        int ret = 0, moved = 0;

        snprintf(rej, sizeof(rej), "%s/rejected", dir);
        if (!(names = svc_spool_list(rej, errstr, sizeof(errstr)))) {
                fprintf(stderr, "spooltool: %s\n", errstr);
                return 2;
        }
        for (char **name = names; *name; name++) {
                svc_spool_file_t *f;
                int rc =
                    svc_spool_file_open(rej, *name, SVC_SPOOL_F_TAKE, &f, errstr, sizeof(errstr));
                if (rc != 1) {
                        if (rc < 0) {
                                fprintf(stderr, "spooltool: %s\n", errstr);
                                ret = 2;
                        }
                        continue; /* being written by the forwarder, or gone */
                }
                snprintf(from, sizeof(from), "%s/%s", rej, *name);
                snprintf(to, sizeof(to), "%s/%s", dir, *name);
                if (rename(from, to) == -1) {
                        perror("spooltool: rename");
                        ret = 2;
                } else {
                        printf("requeued %s\n", *name);
                        moved++;
                }
                svc_spool_file_close(f);
        }
        svc_spool_list_free(names);
        if (moved) {
                sync_dir(dir);
                sync_dir(rej);
        }
        printf("%d files requeued\n", moved);
        return ret;
}

static int write_records(int argc, char **argv) {
        long batch = 1, written = 0;
        long long max_bytes = 1LL << 30;
        char errstr[512];
        svc_spool_t *sp = NULL;
        struct svc_spool_rec *recs = NULL;
        char **lines = NULL;
        size_t *sizes = NULL;
        long cnt = 0;
        ssize_t len;
        int opt, ret = 1;

        while ((opt = getopt(argc, argv, "b:m:")) != -1) {
                if (opt == 'b' && (batch = atol(optarg)) > 0)
                        continue;
                if (opt == 'm' && (max_bytes = atoll(optarg)) > 0)
                        continue;
                fputs(USAGE, stderr);
                return 2;
        }
        if (argc - optind != 2) {
                fputs(USAGE, stderr);
                return 2;
        }
        if (!(recs = calloc((size_t)batch, sizeof(*recs))) ||
            !(lines = calloc((size_t)batch, sizeof(*lines))) ||
            !(sizes = calloc((size_t)batch, sizeof(*sizes)))) {
                fprintf(stderr, "spooltool: out of memory\n");
                goto out;
        }
        if (!(sp = svc_spool_open(argv[optind], max_bytes, errstr, sizeof(errstr)))) {
                fprintf(stderr, "spooltool: %s\n", errstr);
                goto out;
        }
        for (;;) {
                int eof = (len = getline(&lines[cnt], &sizes[cnt], stdin)) == -1;
                if (!eof) {
                        char *line = lines[cnt], *tab;
                        if (len > 0 && line[len - 1] == '\n')
                                line[--len] = '\0';
                        tab = memchr(line, '\t', (size_t)len);
                        recs[cnt] = (struct svc_spool_rec){
                            argv[optind + 1], line, tab ? (size_t)(tab - line) : 0,
                            tab ? tab + 1 : line,
                            tab ? (size_t)(line + len - tab - 1) : (size_t)len};
                        cnt++;
                }
                if (cnt == batch || (eof && cnt)) {
                        svc_spool_err_t err =
                            svc_spool_append(sp, recs, (size_t)cnt, errstr, sizeof(errstr));
                        if (err != SVC_SPOOL_OK) {
                                fprintf(stderr, "spooltool: %s%s\n",
                                        err == SVC_SPOOL_FULL ? "full: " : "", errstr);
                                goto out;
                        }
                        written += cnt;
                        cnt = 0;
                }
                if (eof)
                        break;
        }
        ret = 0;
out:
        svc_spool_close(sp);
        printf("wrote %ld records\n", written);
        for (long i = 0; lines && i < batch; i++)
                free(lines[i]);
        free(lines);
        free(sizes);
        free(recs);
        return ret;
}

int main(int argc, char **argv) {
        if (argc >= 2 && !strcmp(argv[1], "write"))
                return write_records(argc - 1, argv + 1);
        if (argc != 3) {
                fputs(USAGE, stderr);
                return 2;
        }
        if (!strcmp(argv[1], "ls"))
                return walk(argv[2], CMD_LS);
        if (!strcmp(argv[1], "verify"))
                return walk(argv[2], CMD_VERIFY);
        if (!strcmp(argv[1], "cat"))
                return walk(argv[2], CMD_CAT);
        if (!strcmp(argv[1], "rejected")) {
                char rej[4096];
                snprintf(rej, sizeof(rej), "%s/rejected", argv[2]);
                return walk(rej, CMD_LS);
        }
        if (!strcmp(argv[1], "requeue"))
                return requeue(argv[2]);
        fputs(USAGE, stderr);
        return 2;
}
