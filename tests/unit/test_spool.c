/* test_spool.c - the spool: records round trip, torn tails and corrupt bytes are found,
 * the bound holds without a partial write, appends are all or nothing, usage, sealing,
 * locks, the Kafka-down mark, and which directories and files the spool trusts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "outage.h"
#include "spool.h"
#include "tap.h"

#define TOPIC "collect-topic1"
#define HDR 20 /* the record header: magic, crc, three lengths */

static char base[32];
static int dir_seq;

/* A fresh, empty directory for one case. */
static const char *new_dir(char *dir, size_t size) {
        snprintf(dir, size, "%s/%d", base, ++dir_seq);
        return dir;
}

static void rm_rf(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        unlinkat(dirfd(d), de->d_name, 0);
        if (d)
                closedir(d);
        rmdir(dir);
}

/* The only file of dir, by name (into name); 0 when there is not exactly one. */
static int only_file(const char *dir, char *name, size_t size) {
        char err[256];
        char **names = svc_spool_list(dir, err, sizeof(err));
        int one = names && names[0] && !names[1];
        if (one)
                snprintf(name, size, "%s", names[0]);
        svc_spool_list_free(names);
        return one;
}

static int count_files(const char *dir) {
        char err[256];
        char **names = svc_spool_list(dir, err, sizeof(err));
        int n = 0;
        for (char **p = names; p && *p; p++)
                n++;
        svc_spool_list_free(names);
        return n;
}

static long long file_size(const char *dir, const char *name) {
        char path[512];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Reads a whole file: "k=<key> v=<value>" per record, "D@<off>+<len>" per damaged run. */
static void dump(const char *dir, const char *name, char *out, size_t size) {
        svc_spool_file_t *f;
        struct svc_spool_rec rec;
        svc_spool_next_t n;
        size_t off, len;
        char err[256];

        int rc = svc_spool_file_open(dir, name, 0, &f, err, sizeof(err));

        out[0] = '\0';
        if (rc != 1) {
                snprintf(out, size, "%s%s", rc ? "open failed: " : "", rc ? err : "");
                return;
        }
        while ((n = svc_spool_file_next(f, &rec, &off, &len)) != SVC_SPOOL_END) {
                size_t used = strlen(out);
                if (n == SVC_SPOOL_RECORD)
                        snprintf(out + used, size - used, "%sk=%.*s v=%.*s", used ? " " : "",
                                 (int)rec.key_len, rec.key, (int)rec.val_len, rec.val);
                else
                        snprintf(out + used, size - used, "%sD@%zu+%zu", used ? " " : "", off, len);
        }
        svc_spool_file_close(f);
}

/* Writes n records "k<i>" / "value-<i>" one append each; returns the writer's result. */
static svc_spool_err_t append_n(svc_spool_t *sp, int from, int n) {
        char key[32], val[32], err[256];
        svc_spool_err_t e = SVC_SPOOL_OK;
        for (int i = from; i < from + n && e == SVC_SPOOL_OK; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                snprintf(val, sizeof(val), "value-%d", i);
                struct svc_spool_rec rec = {TOPIC, key, strlen(key), val, strlen(val)};
                e = svc_spool_append(sp, &rec, 1, err, sizeof(err));
        }
        return e;
}

static void test_round_trip(void) {
        char dir[128], name[128], err[256], got[1024];
        static const char bin[] = "a\0b SPL1 \xff\n"; /* a NUL, the magic, a newline */
        struct svc_spool_rec recs[] = {
            {TOPIC, "req-1", 5, "{\"events\":[1]}", 14},
            {"other-topic", "", 0, "no key", 6},
            {TOPIC, "req-3", 5, bin, sizeof(bin) - 1},
        };
        svc_spool_t *sp = svc_spool_open(new_dir(dir, sizeof(dir)), 1 << 20, err, sizeof(err));
        svc_spool_file_t *f;
        struct svc_spool_rec rec;
        size_t off, len;
        int i = 0, same = 1;

        ok(sp != NULL, "open creates the directory (%s)", sp ? "ok" : err);
        is_int(svc_spool_append(sp, recs, 3, err, sizeof(err)), SVC_SPOOL_OK, "append 3 records");
        ok(only_file(dir, name, sizeof(name)) && strstr(name, ".open"),
           "one open file while written: %s", name);
        svc_spool_close(sp);
        ok(only_file(dir, name, sizeof(name)) && strstr(name, ".3.spool"),
           "sealed at close, with its record count in its name: %s", name);
        ok(svc_spool_file_open(dir, name, SVC_SPOOL_F_TAKE, &f, err, sizeof(err)) == 1,
           "a sealed file can be taken");
        while (svc_spool_file_next(f, &rec, &off, &len) == SVC_SPOOL_RECORD && i < 3) {
                same &= !strcmp(rec.topic, recs[i].topic) && rec.key_len == recs[i].key_len &&
                        !memcmp(rec.key, recs[i].key, rec.key_len) &&
                        rec.val_len == recs[i].val_len &&
                        !memcmp(rec.val, recs[i].val, rec.val_len);
                i++;
        }
        ok(i == 3 && same, "the 3 records come back byte for byte (topic, key, value)");
        is_int(svc_spool_file_next(f, &rec, &off, &len), SVC_SPOOL_END, "then the end");
        ok(svc_spool_file_remove(f, err, sizeof(err)) == 0 && count_files(dir) == 0,
           "remove deletes the file");
        dump(dir, "nope.spool", got, sizeof(got));
        is_str(got, "", "a file that is gone opens as 0 (nothing to read)");
        rm_rf(dir);
}

/* Five records of 43 bytes each (20 + topic 14 + "k<i>" 2 + "value-<i>" 7), cut or
 * corrupted, read back. */
static void test_damage(void) {
        static const struct {
                long long cut;  /* bytes kept (-1: the whole file) */
                long long flip; /* offset of a byte to invert (-1: none) */
                const char *want;
                const char *label;
        } t[] = {
            {-1, -1, "k0 k1 k2 k3 k4", "intact"},
            {214, -1, "k0 k1 k2 k3 D@172+42", "torn: last byte of the last record missing"},
            {180, -1, "k0 k1 k2 k3 D@172+8", "torn: inside the last record's topic"},
            {192, -1, "k0 k1 k2 k3 D@172+20", "torn: the last record's header only"},
            {177, -1, "k0 k1 k2 k3 D@172+5", "torn: inside the last record's header"},
            {173, -1, "k0 k1 k2 k3 D@172+1", "torn: one byte of the last record"},
            {172, -1, "k0 k1 k2 k3", "cut between two records: nothing damaged"},
            {0, -1, "", "empty file"},
            {-1, 212, "k0 k1 k2 k3 D@172+43", "flipped byte in the last value"},
            {-1, 80, "k0 D@43+43 k2 k3 k4", "flipped byte in a middle value: the rest is kept"},
            {-1, 43, "k0 D@43+43 k2 k3 k4", "broken magic"},
            {-1, 47, "k0 D@43+43 k2 k3 k4", "broken checksum"},
            {-1, 55, "k0 D@43+43 k2 k3 k4", "broken key length"},
            {-1, 59, "k0 D@43+43 k2 k3 k4", "broken value length"},
            {-1, 0, "D@0+43 k1 k2 k3 k4", "first record broken"},
            {-1, 214, "k0 k1 k2 k3 D@172+43", "flipped last byte of the file"},
            {0, 0, NULL, NULL},
        };
        char dir[128], name[128], path[512], err[256], got[1024], want[1024];

        for (int i = 0; t[i].label; i++) {
                svc_spool_t *sp =
                    svc_spool_open(new_dir(dir, sizeof(dir)), 1 << 20, err, sizeof(err));
                append_n(sp, 0, 5);
                svc_spool_close(sp);
                only_file(dir, name, sizeof(name));
                snprintf(path, sizeof(path), "%s/%s", dir, name);
                if (t[i].cut >= 0 && truncate(path, t[i].cut) == -1)
                        perror("truncate");
                if (t[i].flip >= 0) {
                        int fd = open(path, O_RDWR);
                        unsigned char c = 0;
                        if (pread(fd, &c, 1, t[i].flip) != 1)
                                perror("pread");
                        c ^= 0x40;
                        if (pwrite(fd, &c, 1, t[i].flip) != 1)
                                perror("pwrite");
                        close(fd);
                }
                dump(dir, name, got, sizeof(got));
                /* "k0 k1" is short for "k=k0 v=value-0 k=k1 v=value-1" */
                char words[256], *save = NULL;
                want[0] = '\0';
                snprintf(words, sizeof(words), "%s", t[i].want);
                for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                        size_t used = strlen(want);
                        int k;
                        if (sscanf(w, "k%d", &k) == 1)
                                snprintf(want + used, sizeof(want) - used, "%sk=k%d v=value-%d",
                                         used ? " " : "", k, k);
                        else
                                snprintf(want + used, sizeof(want) - used, "%s%s", used ? " " : "",
                                         w);
                }
                is_str(got, want, "%s", t[i].label);
                rm_rf(dir);
        }
}

static void test_full(void) {
        char dir[128], name[128], err[256], secret[64];
        struct svc_spool_rec rec = {TOPIC, "the-key", 7, NULL, 0};
        svc_spool_t *sp;
        long long before, records, bytes;
        int accepted = 0;
        svc_spool_err_t e = SVC_SPOOL_OK;

        /* 10 records of 20 + 14 + 7 + 59 = 100 bytes fit in 1000 bytes, the 11th does not. */
        sp = svc_spool_open(new_dir(dir, sizeof(dir)), 1000, err, sizeof(err));
        while (accepted < 20) {
                snprintf(secret, sizeof(secret), "%-50.50s%09d", "secret-value", accepted);
                rec.val = secret;
                rec.val_len = strlen(secret);
                if ((e = svc_spool_append(sp, &rec, 1, err, sizeof(err))) != SVC_SPOOL_OK)
                        break;
                accepted++;
        }
        is_int(accepted, 10, "records of 100 bytes: 10 fit in SPOOL_MAX_BYTES=1000");
        is_int(e, SVC_SPOOL_FULL, "the 11th is SVC_SPOOL_FULL");
        ok(strstr(err, "full") && !strstr(err, "secret") && !strstr(err, "the-key"),
           "errstr says full, without the record: %s", err);
        only_file(dir, name, sizeof(name));
        before = file_size(dir, name);
        is_int(before, 1000, "nothing of the refused record was written");
        struct svc_spool_rec two[] = {rec, rec};
        two[1].val_len = 0;
        is_int(svc_spool_append(sp, two, 2, err, sizeof(err)), SVC_SPOOL_FULL,
               "a batch that does not fit as a whole is refused as a whole");
        is_int(file_size(dir, name), before, "and leaves the file as it was");
        svc_spool_close(sp);
        svc_spool_usage(dir, &records, &bytes);
        ok(records == 10 && bytes == 1000, "usage: 10 records, 1000 bytes (got %lld, %lld)",
           records, bytes);
        /* Another writer counts what is already in the directory. */
        sp = svc_spool_open(dir, 1060, err, sizeof(err));
        rec.val_len = 10;
        is_int(svc_spool_append(sp, &rec, 1, err, sizeof(err)), SVC_SPOOL_OK,
               "a new writer: 51 bytes fit under 1060 beside the 1000 there");
        is_int(svc_spool_append(sp, &rec, 1, err, sizeof(err)), SVC_SPOOL_FULL,
               "another 51 do not: the directory's usage counts, not the writer's own");
        svc_spool_close(sp);
        rm_rf(dir);
}

/* Write errors in the middle of an append (a file size limit: EFBIG after a short
 * write) leave the file as it was before the append. */
static void test_all_or_nothing(void) {
        char dir[128], name[128], err[256], got[4096];
        static char big[3000];
        struct svc_spool_rec rec = {TOPIC, "big", 3, big, sizeof(big)};
        struct rlimit old, lim;
        svc_spool_t *sp;
        long long before;
        svc_spool_err_t e;

        memset(big, 'x', sizeof(big));
        signal(SIGXFSZ, SIG_IGN);
        getrlimit(RLIMIT_FSIZE, &old);
        sp = svc_spool_open(new_dir(dir, sizeof(dir)), 1 << 20, err, sizeof(err));
        append_n(sp, 0, 2);
        only_file(dir, name, sizeof(name));
        before = file_size(dir, name);
        lim = old;
        lim.rlim_cur = 1000; /* the 3000-byte record gets written in part, then EFBIG */
        setrlimit(RLIMIT_FSIZE, &lim);
        e = svc_spool_append(sp, &rec, 1, err, sizeof(err));
        struct svc_spool_rec two[] = {{TOPIC, "k2", 2, "value-2", 7}, rec};
        svc_spool_err_t e2 = svc_spool_append(sp, two, 2, err, sizeof(err));
        setrlimit(RLIMIT_FSIZE, &old);
        is_int(e, SVC_SPOOL_IO, "a failed write is SVC_SPOOL_IO (%s)", err);
        is_int(e2, SVC_SPOOL_IO, "so is a batch whose second record fails");
        is_int(file_size(dir, name), before, "the file is cut back to its size before");
        is_int(append_n(sp, 3, 1), SVC_SPOOL_OK, "the writer goes on afterwards");
        svc_spool_close(sp);
        only_file(dir, name, sizeof(name));
        dump(dir, name, got, sizeof(got));
        is_str(got, "k=k0 v=value-0 k=k1 v=value-1 k=k3 v=value-3",
               "the reader sees the records before and after, nothing of the failed ones");
        ok(strstr(name, ".3.spool") != NULL, "the sealed name counts 3 records: %s", name);
        rm_rf(dir);

        /* A failure in a new file leaves no file at all. */
        sp = svc_spool_open(new_dir(dir, sizeof(dir)), 1 << 20, err, sizeof(err));
        setrlimit(RLIMIT_FSIZE, &lim);
        e = svc_spool_append(sp, &rec, 1, err, sizeof(err));
        setrlimit(RLIMIT_FSIZE, &old);
        is_int(e, SVC_SPOOL_IO, "the first append of a writer fails");
        is_int(count_files(dir), 0, "and leaves no file behind");
        svc_spool_close(sp);
        rm_rf(dir);
}

static void test_usage_and_sealing(void) {
        char dir[128], name[128], err[256];
        svc_spool_t *sp;
        long long records = -1, bytes = -1;
        char **names;
        static char mb[1 << 20];
        struct svc_spool_rec rec = {TOPIC, "k", 1, mb, sizeof(mb)};
        struct svc_spool_rec batch[100];
        int files = 0, small = 1;

        sp = svc_spool_open(new_dir(dir, sizeof(dir)), 1LL << 30, err, sizeof(err));
        ok(svc_spool_usage(dir, &records, &bytes) == 0 && records == 0 && bytes == 0,
           "usage of an empty spool: 0, 0");
        for (int i = 0; i < 100; i++)
                batch[i] = (struct svc_spool_rec){TOPIC, "key", 3, "v", 1};
        is_int(svc_spool_append(sp, batch, 100, err, sizeof(err)), SVC_SPOOL_OK,
               "100 records in one append");
        append_n(sp, 0, 2);
        svc_spool_usage(dir, &records, &bytes);
        ok(records == 102 && bytes == 100 * (HDR + 14 + 3 + 1) + 2 * (HDR + 14 + 2 + 7),
           "usage counts the open file's records: %lld records, %lld bytes", records, bytes);
        ok(only_file(dir, name, sizeof(name)) && strstr(name, ".open"),
           "a young file stays open between appends");
        svc_spool_seal(sp);
        ok(only_file(dir, name, sizeof(name)) && strstr(name, ".102.spool"),
           "seal names the file by its record count: %s", name);
        ok(svc_spool_usage(dir, &records, &bytes) == 0 && records == 102,
           "usage reads the count of a sealed file from its name");
        append_n(sp, 2, 1);
        /* The file's age is the property under test: a second must pass. */
        usleep(1100 * 1000);
        append_n(sp, 3, 1);
        is_int(count_files(dir), 3, "an append after a second starts a new file");
        /* 17 records of 1 MiB: a file is sealed before it passes 16 MiB (and more often
         * when the disk is so slow that a second passes). */
        memset(mb, 'y', sizeof(mb));
        svc_spool_close(sp);
        sp = svc_spool_open(new_dir(dir, sizeof(dir)), 1LL << 30, err, sizeof(err));
        for (int i = 0; i < 17; i++)
                if (svc_spool_append(sp, &rec, 1, err, sizeof(err)) != SVC_SPOOL_OK)
                        break;
        svc_spool_close(sp);
        names = svc_spool_list(dir, err, sizeof(err));
        for (char **p = names; p && *p; p++, files++)
                small &= file_size(dir, *p) <= 16 << 20;
        svc_spool_list_free(names);
        ok(files >= 2 && small, "17 MiB of records: %d files, none above 16 MiB", files);
        ok(svc_spool_usage(dir, &records, &bytes) == 0 && records == 17,
           "and together they hold the 17 records");
        rm_rf(dir);
}

/* Who may take a file: not while its writer lives, yes once it is dead or sealed. */
static void test_take(void) {
        char dir[128], name[128], err[256], path[256];
        svc_spool_t *sp;
        svc_spool_file_t *f, *f2;
        char **names;
        pid_t pid;
        int st;

        sp = svc_spool_open(new_dir(dir, sizeof(dir)), 1 << 20, err, sizeof(err));
        append_n(sp, 0, 1);
        only_file(dir, name, sizeof(name));
        is_int(svc_spool_file_open(dir, name, SVC_SPOOL_F_TAKE, &f, err, sizeof(err)), 0,
               "an open file with a live writer is busy");
        is_int(svc_spool_file_open(dir, name, 0, &f, err, sizeof(err)), 1,
               "but can be read as it is (spooltool)");
        svc_spool_file_close(f);
        svc_spool_close(sp);
        is_int(svc_spool_file_open(dir, name, SVC_SPOOL_F_TAKE, &f, err, sizeof(err)), 0,
               "once sealed, the open name is gone");
        rm_rf(dir);

        new_dir(dir, sizeof(dir));
        if ((pid = fork()) == 0) { /* a writer that dies without sealing */
                sp = svc_spool_open(dir, 1 << 20, err, sizeof(err));
                _exit(sp && append_n(sp, 0, 3) == SVC_SPOOL_OK ? 0 : 1);
        }
        waitpid(pid, &st, 0);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && only_file(dir, name, sizeof(name)) &&
               strstr(name, ".open"),
           "a dead writer leaves its file open: %s", name);
        is_int(svc_spool_file_open(dir, name, SVC_SPOOL_F_TAKE, &f, err, sizeof(err)), 1,
               "its lock is free: the forwarder may take it");
        is_int(svc_spool_file_open(dir, name, SVC_SPOOL_F_TAKE, &f2, err, sizeof(err)), 0,
               "but not a second forwarder while the first holds it");
        svc_spool_file_close(f);

        /* Order and what a listing skips. */
        snprintf(path, sizeof(path), "%s/.tmp-half-created", dir);
        close(open(path, O_CREAT | O_WRONLY, 0600));
        svc_outage_mark_down(dir);
        sp = svc_spool_open(dir, 1 << 20, err, sizeof(err));
        append_n(sp, 5, 1);
        svc_spool_close(sp);
        names = svc_spool_list(dir, err, sizeof(err));
        ok(names && names[0] && names[1] && !names[2] && strstr(names[0], ".open") &&
               strstr(names[1], ".1.spool") && strcmp(names[0], names[1]) < 0,
           "a listing has the spool files only, the older first");
        svc_spool_list_free(names);
        rm_rf(dir);
}

static void test_mark(void) {
        char dir[128], path[256], err[256];
        struct timespec old[2];
        svc_spool_t *sp = svc_spool_open(new_dir(dir, sizeof(dir)), 1 << 20, err, sizeof(err));

        is_int(svc_outage_is_marked(dir, 5000), 0, "no mark: Kafka is not known to be down");
        svc_outage_mark_down(dir);
        is_int(svc_outage_is_marked(dir, 5000), 1, "marked down");
        snprintf(path, sizeof(path), "%s/kafka-down", dir);
        clock_gettime(CLOCK_REALTIME, &old[0]);
        old[0].tv_sec -= 10;
        old[1] = old[0];
        utimensat(AT_FDCWD, path, old, 0);
        is_int(svc_outage_is_marked(dir, 5000), 0, "a mark 10 s old no longer counts at 5 s");
        is_int(svc_outage_is_marked(dir, 20000), 1, "it does at 20 s");
        svc_outage_mark_down(dir);
        is_int(svc_outage_is_marked(dir, 5000), 1, "marking again refreshes it");
        long long records = -1, bytes = -1;
        ok(svc_spool_usage(dir, &records, &bytes) == 0 && records == 0 && bytes == 0,
           "the mark is not a spool file");
        svc_outage_mark_up(dir);
        is_int(svc_outage_is_marked(dir, 5000), 0, "mark_up clears it");
        svc_spool_close(sp);
        rm_rf(dir);
}

static void test_open_errors(void) {
        char dir[128], err[512], file[64], tmp[160];
        struct timespec old[2];
        svc_spool_t *sp;

        snprintf(file, sizeof(file), "%s/a-file", base);
        close(open(file, O_CREAT | O_WRONLY, 0600));
        snprintf(dir, sizeof(dir), "%s/spool", file);
        sp = svc_spool_open(dir, 1 << 20, err, sizeof(err));
        ok(!sp && strstr(err, dir), "a directory that cannot be made: a clear error (%s)", err);
        ok(svc_spool_writable(dir, err, sizeof(err)) == -1, "and it is not writable");
        unlink(file);
        sp = svc_spool_open(new_dir(dir, sizeof(dir)), 1 << 20, err, sizeof(err));
        ok(sp && svc_spool_writable(dir, err, sizeof(err)) == 0, "a fresh directory is");
        svc_spool_close(sp);
        snprintf(tmp, sizeof(tmp), "%s/.tmp-old", dir);
        close(open(tmp, O_CREAT | O_WRONLY, 0600));
        clock_gettime(CLOCK_REALTIME, &old[0]);
        old[0].tv_sec -= 120;
        old[1] = old[0];
        utimensat(AT_FDCWD, tmp, old, 0);
        snprintf(tmp, sizeof(tmp), "%s/.tmp-new", dir);
        close(open(tmp, O_CREAT | O_WRONLY, 0600));
        svc_spool_sweep(dir);
        ok(access(tmp, F_OK) == 0, "sweep keeps a young temporary file");
        snprintf(tmp, sizeof(tmp), "%s/.tmp-old", dir);
        ok(access(tmp, F_OK) == -1, "and removes one left two minutes ago");
        rm_rf(dir);
}

/* Which spool directories are trusted (svc_spool_open, svc_spool_writable): only the
 * service user's own, that no one else may write to, named by itself. */
static void test_trust_dir(void) {
        static const struct {
                const char *label;
                mode_t mode;     /* chmod after mkdir */
                int foreign;     /* chowned to nobody (uid 65534): as root only */
                int link;        /* SPOOL_DIR names a symbolic link to the directory */
                const char *err; /* NULL: trusted; else a part of the error */
        } cases[] = {
            {"0700, ours", 0700, 0, 0, NULL},
            {"0755, ours", 0755, 0, 0, NULL},
            {"group-writable 0770", 0770, 0, 0, "is writable by others (mode 0770): refused"},
            {"world-writable 0702", 0702, 0, 0, "is writable by others (mode 0702): refused"},
            {"sticky and world-writable 1777, like /tmp", 01777, 0, 0, "(mode 1777)"},
            {"another user's, 0700", 0700, 1, 0, "belongs to uid 65534, not to this user"},
            {"a symbolic link to a good one", 0700, 0, 1, "is a symbolic link: refused"},
            {NULL, 0, 0, 0, NULL},
        };
        char dir[128], spool_dir[160], err[512];

        for (int i = 0; cases[i].label; i++) {
                svc_spool_t *sp;
                int writable;

                new_dir(dir, sizeof(dir));
                if (mkdir(dir, 0700) == -1 || chmod(dir, cases[i].mode) == -1) {
                        ok(0, "%s: cannot make the directory: %s", cases[i].label, strerror(errno));
                        continue;
                }
                if (cases[i].foreign && geteuid() != 0) {
                        ok(1, "# SKIP %s: chown needs root", cases[i].label);
                        rmdir(dir);
                        continue;
                }
                if (cases[i].foreign && chown(dir, 65534, 65534) == -1)
                        ok(0, "%s: chown: %s", cases[i].label, strerror(errno));
                snprintf(spool_dir, sizeof(spool_dir), "%s%s", dir, cases[i].link ? "-link" : "");
                if (cases[i].link && symlink(dir, spool_dir) == -1)
                        ok(0, "%s: symlink: %s", cases[i].label, strerror(errno));
                err[0] = '\0';
                sp = svc_spool_open(spool_dir, 1 << 20, err, sizeof(err));
                if (cases[i].err)
                        ok(!sp && strstr(err, cases[i].err) && strstr(err, spool_dir),
                           "%s: refused at open, \"%s\"", cases[i].label, err);
                else
                        ok(sp, "%s: trusted (%s)", cases[i].label, err);
                svc_spool_close(sp);
                writable = svc_spool_writable(spool_dir, err, sizeof(err)) == 0;
                ok(writable == !cases[i].err, "%s: svc_spool_writable says the same",
                   cases[i].label);
                if (cases[i].link)
                        unlink(spool_dir);
                rm_rf(dir);
        }
}

/* Which spool files the forwarder takes (SVC_SPOOL_F_TAKE): only regular files of the
 * service user that no one else may write to; any other is set aside, unread. */
static void test_trust_file(void) {
        static const struct {
                const char *label;
                char kind;       /* 'f' a spool file, 'l' a link to one, 'p' a FIFO, 'd' a dir */
                mode_t mode;     /* of the file */
                int foreign;     /* chowned to nobody: as root only */
                const char *err; /* NULL: taken; else a part of the error */
        } cases[] = {
            {"a file of ours, 0600", 'f', 0600, 0, NULL},
            {"a file of ours, 0644", 'f', 0644, 0, NULL},
            {"group-writable 0620", 'f', 0620, 0, "is writable by others (mode 0620)"},
            {"world-writable 0602", 'f', 0602, 0, "is writable by others (mode 0602)"},
            {"another user's, 0600", 'f', 0600, 1, "belongs to uid 65534, not to this user"},
            {"a symbolic link to a spool file", 'l', 0600, 0, "is a symbolic link"},
            {"a FIFO (must not hang)", 'p', 0600, 0, "is not a regular file"},
            {"a directory", 'd', 0700, 0, "is not a regular file"},
            {NULL, 0, 0, 0, NULL},
        };
        static const char name[] = "0000000000000001-0000000001-000001.1.spool";
        char dir[128], stage[128], staged[256], path[256], aside[256], err[512];
        svc_spool_file_t *f;

        for (int i = 0; cases[i].label; i++) {
                svc_spool_t *sp =
                    svc_spool_open(new_dir(stage, sizeof(stage)), 1 << 20, err, sizeof(err));
                int rc;

                if (cases[i].foreign && geteuid() != 0) {
                        ok(1, "# SKIP %s: chown needs root", cases[i].label);
                        svc_spool_close(sp);
                        rm_rf(stage);
                        continue;
                }
                append_n(sp, 0, 1);
                svc_spool_close(sp);
                only_file(stage, staged, sizeof(staged));
                svc_spool_close(
                    svc_spool_open(new_dir(dir, sizeof(dir)), 1 << 20, err, sizeof(err)));
                snprintf(path, sizeof(path), "%s/%s", dir, name);
                snprintf(aside, sizeof(aside), "%s/.refused-%s", dir, name);
                if (cases[i].kind == 'f' || cases[i].kind == 'l') {
                        char from[512], target[256];
                        snprintf(from, sizeof(from), "%s/%s", stage, staged);
                        snprintf(target, sizeof(target), "%s/target", stage);
                        if (rename(from, cases[i].kind == 'f' ? path : target) == -1 ||
                            (cases[i].kind == 'l' && symlink(target, path) == -1))
                                ok(0, "%s: cannot make it: %s", cases[i].label, strerror(errno));
                } else if (cases[i].kind == 'p') {
                        mkfifo(path, 0600);
                } else {
                        mkdir(path, 0700);
                }
                if (cases[i].kind != 'l')
                        chmod(path, cases[i].mode);
                if (cases[i].foreign && chown(path, 65534, 65534) == -1)
                        ok(0, "chown: %s", strerror(errno));
                err[0] = '\0';
                rc = svc_spool_file_open(dir, name, SVC_SPOOL_F_TAKE, &f, err, sizeof(err));
                if (!cases[i].err) {
                        is_int(rc, 1, "%s: taken", cases[i].label);
                        if (rc == 1)
                                svc_spool_file_close(f);
                } else {
                        ok(rc == -2 && strstr(err, cases[i].err) && strstr(err, name),
                           "%s: refused, \"%s\"", cases[i].label, err);
                        ok(access(aside, F_OK) == 0 &&
                               faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) == -1,
                           "%s: set aside as .refused-<name>", cases[i].label);
                        is_int(count_files(dir), 0, "%s: no longer listed", cases[i].label);
                        if (cases[i].kind == 'f') {
                                is_int(svc_spool_file_open(dir, aside + strlen(dir) + 1, 0, &f, err,
                                                           sizeof(err)),
                                       1, "%s: spooltool may still read it", cases[i].label);
                                svc_spool_file_close(f);
                        }
                }
                unlink(aside);
                rmdir(aside);
                unlink(path);
                rmdir(path);
                rm_rf(dir);
                rm_rf(stage);
        }
}

int main(void) {
        snprintf(base, sizeof(base), "%s/test_spool.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(base)) {
                perror(base);
                return 1;
        }
        test_round_trip();
        test_damage();
        test_full();
        test_all_or_nothing();
        test_usage_and_sealing();
        test_take();
        test_mark();
        test_open_errors();
        test_trust_dir();
        test_trust_file();
        rmdir(base);
        return done_testing();
}
