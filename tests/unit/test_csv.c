/* test_csv.c - the streaming CSV reader: tables of inputs, data cases in tests/data/csv,
 * every input fed whole against a guard page, byte by byte and split at every point. */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "csv.h"
#include "tap.h"

/* What the callback saw, rendered as text: one line per record,
 * `<line>: "field" "field"` with C escapes, and `ERROR(<why>)` before the fields. */
struct render {
        char *out;
        size_t len, size;
        int stop_after; /* return -1 after this many records (0: never) */
        int records;
};

static void put(struct render *r, const char *s, size_t n) {
        if (r->len + n + 1 > r->size) {
                r->size = (r->len + n + 1) * 2;
                r->out = realloc(r->out, r->size);
                if (!r->out)
                        abort();
        }
        memcpy(r->out + r->len, s, n);
        r->len += n;
        r->out[r->len] = '\0';
}

static void put_field(struct render *r, const char *p, size_t n) {
        char esc[8];
        put(r, " \"", 2);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c == '\n')
                        put(r, "\\n", 2);
                else if (c == '\r')
                        put(r, "\\r", 2);
                else if (c == '"' || c == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char)c;
                        put(r, esc, 2);
                } else if (c < 0x20 || c >= 0x7f) {
                        snprintf(esc, sizeof(esc), "\\x%02x", c);
                        put(r, esc, 4);
                } else
                        put(r, (const char *)&c, 1);
        }
        put(r, "\"", 1);
}

static int on_row(void *opaque, const struct svc_field *fields, size_t field_cnt, const char *error,
                  long line) {
        struct render *r = opaque;
        char head[256];
        int n = snprintf(head, sizeof(head), "%ld:", line);
        put(r, head, (size_t)n);
        if (error) {
                n = snprintf(head, sizeof(head), " ERROR(%s)", error);
                put(r, head, (size_t)n);
        }
        for (size_t i = 0; i < field_cnt; i++)
                put_field(r, fields[i].ptr, fields[i].len);
        put(r, "\n", 1);
        r->records++;
        if (r->stop_after && r->records >= r->stop_after)
                return -1;
        return 0;
}

/* The input, copied to the very end of a readable page followed by a PROT_NONE page. */
static char *guard_base;
static long page;

static const char *guarded(const char *in, size_t len) {
        if (!guard_base) {
                page = sysconf(_SC_PAGESIZE);
                guard_base =
                    mmap(NULL, (size_t)page * 3, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (guard_base == MAP_FAILED ||
                    mprotect(guard_base + page, (size_t)page, PROT_READ | PROT_WRITE))
                        abort();
        }
        if (len > (size_t)page)
                return NULL;
        memcpy(guard_base + 2 * page - len, in, len);
        return guard_base + 2 * page - len;
}

enum { WHOLE, BYTES, SPLIT };

/* Parses `in` fed in one of three ways (SPLIT at `at`); returns the rendering (owned). */
static char *parse(const char *in, size_t len, size_t max_field, size_t max_record, int how,
                   size_t at) {
        struct render r = {0};
        char err[128];
        svc_csv_t *csv = svc_csv_new(max_field, max_record, on_row, &r);
        int rc = 0;

        put(&r, "", 0);
        if (how == WHOLE) {
                const char *g = guarded(in, len);
                rc |= svc_csv_feed(csv, g ? g : in, len, err, sizeof(err));
        } else if (how == BYTES) {
                for (size_t i = 0; i < len; i++) {
                        /* each byte alone at the end of a page */
                        rc |= svc_csv_feed(csv, guarded(in + i, 1), 1, err, sizeof(err));
                }
        } else {
                rc |= svc_csv_feed(csv, in, at, err, sizeof(err));
                rc |= svc_csv_feed(csv, in + at, len - at, err, sizeof(err));
        }
        rc |= svc_csv_finish(csv, err, sizeof(err));
        svc_csv_destroy(csv);
        if (rc)
                put(&r, "STOPPED\n", 8);
        return r.out;
}

/* Checks one input every way it can be fed; reports one TAP line. */
static void check_case(const char *label, const char *in, size_t len, size_t max_field,
                       size_t max_record, const char *want) {
        char *got = parse(in, len, max_field, max_record, WHOLE, 0);
        int pass = strcmp(got, want) == 0;
        const char *how = "whole";

        if (pass) {
                free(got);
                got = parse(in, len, max_field, max_record, BYTES, 0);
                pass = strcmp(got, want) == 0;
                how = "byte by byte";
        }
        for (size_t at = 0; pass && at <= len; at++) {
                free(got);
                got = parse(in, len, max_field, max_record, SPLIT, at);
                pass = strcmp(got, want) == 0;
                how = "split";
        }
        ok(pass, "%s", label);
        if (!pass)
                printf("#   fed %s\n#   got:\n%s#   want:\n%s", how, got, want);
        free(got);
}

struct csv_case {
        const char *label;
        const char *in;
        const char *want;
        size_t max_field, max_record; /* 0: 64 and 256 */
};

static const struct csv_case cases[] = {
    {"empty input", "", "", 0, 0},
    {"one field, no line break", "a", "1: \"a\"\n", 0, 0},
    {"LF records", "a,b\nc,d\n", "1: \"a\" \"b\"\n2: \"c\" \"d\"\n", 0, 0},
    {"CRLF records", "a,b\r\nc,d\r\n", "1: \"a\" \"b\"\n2: \"c\" \"d\"\n", 0, 0},
    {"CR records", "a,b\rc,d\r", "1: \"a\" \"b\"\n2: \"c\" \"d\"\n", 0, 0},
    {"last record without line break", "a,b\nc,d", "1: \"a\" \"b\"\n2: \"c\" \"d\"\n", 0, 0},
    {"empty fields", ",,\n", "1: \"\" \"\" \"\"\n", 0, 0},
    {"trailing comma", "a,\n", "1: \"a\" \"\"\n", 0, 0},
    {"blank lines skipped", "a\n\n\r\nb\n", "1: \"a\"\n4: \"b\"\n", 0, 0},
    {"quoted empty field is a record", "\"\"\n", "1: \"\"\n", 0, 0},
    {"quoted comma", "\"a,b\",c\n", "1: \"a,b\" \"c\"\n", 0, 0},
    {"quoted LF keeps line numbers", "\"a\nb\",c\nd\n", "1: \"a\\nb\" \"c\"\n3: \"d\"\n", 0, 0},
    {"quoted CRLF", "\"a\r\nb\"\r\nc\r\n", "1: \"a\\r\\nb\"\n3: \"c\"\n", 0, 0},
    {"doubled quotes", "\"say \"\"hi\"\"\",x\n", "1: \"say \\\"hi\\\"\" \"x\"\n", 0, 0},
    {"only a doubled quote", "\"\"\"\"\n", "1: \"\\\"\"\n", 0, 0},
    {"spaces kept", " a , b \n", "1: \" a \" \" b \"\n", 0, 0},
    {"BOM skipped",
     "\xEF\xBB\xBF"
     "a,b\n",
     "1: \"a\" \"b\"\n", 0, 0},
    {"BOM then quote", "\xEF\xBB\xBF\"a\"\n", "1: \"a\"\n", 0, 0},
    {"BOM only", "\xEF\xBB\xBF", "", 0, 0},
    {"half a BOM is data", "\xEF\xBB", "1: \"\\xef\\xbb\"\n", 0, 0},
    {"BOM-like bytes later are data", "a\n\xEF\xBB\xBF\n", "1: \"a\"\n2: \"\\xef\\xbb\\xbf\"\n", 0,
     0},
    {"UTF-8 kept", "caf\xC3\xA9\n", "1: \"caf\\xc3\\xa9\"\n", 0, 0},
    {"NUL byte kept", "a\0b\n", "1: \"a\\x00b\"\n", 0, 0},
    {"quote inside unquoted field", "ab\"c,d\ne\n",
     "1: ERROR(field 1 has a quote but does not start with one) \"ab\" \"\"\n2: \"e\"\n", 0, 0},
    {"text after closing quote", "\"ab\"c,d\ne\n",
     "1: ERROR(field 1 has text after its closing quote) \"ab\" \"\"\n2: \"e\"\n", 0, 0},
    {"open quote at end of input", "a,\"bc\n",
     "1: ERROR(field 2 has an opening quote that is never closed) \"a\" \"bc\\n\"\n", 0, 0},
    {"open quote swallows later lines", "\"a\nb,c\n",
     "1: ERROR(field 1 has an opening quote that is never closed) \"a\\nb,c\\n\"\n", 0, 0},
    {"field at the limit", "abcd,e\n", "1: \"abcd\" \"e\"\n", 4, 16},
    {"field over the limit", "abcde,f\ng\n",
     "1: ERROR(field 1 is longer than 4 bytes) \"abcd\" \"\"\n2: \"g\"\n", 4, 16},
    {"quoted field over the limit skips to record end", "x,\"abcde\nfg\",h\ni\n",
     "1: ERROR(field 2 is longer than 4 bytes) \"x\" \"abcd\" \"\"\n3: \"i\"\n", 4, 16},
    {"record over the limit", "abcd,abcd,abcd\nz\n",
     "1: ERROR(record is longer than 10 bytes) \"abcd\" \"abcd\" \"ab\"\n2: \"z\"\n", 4, 10},
    {NULL, NULL, NULL, 0, 0},
};

/* A record with more fields than SVC_CSV_MAX_FIELDS. */
static void test_many_fields(void) {
        size_t n = SVC_CSV_MAX_FIELDS + 5, len = n * 2 + 2;
        char *in = malloc(len + 1);
        char *got;
        for (size_t i = 0; i < n; i++)
                memcpy(in + 2 * i, "x,", 2);
        memcpy(in + 2 * n - 1, "\ny\n", 4);
        got = parse(in, strlen(in), 64, 1 << 20, SPLIT, 7);
        ok(strstr(got, "1: ERROR(record has more than 1024 fields)") == got,
           "too many fields is a record error");
        ok(strstr(got, "\n2: \"y\"\n") != NULL, "the next record is read");
        free(got);
        free(in);
}

/* A 10 MB field streamed in 64 KiB chunks is a record error; the parser goes on. */
static void test_huge_field(void) {
        struct render r = {0};
        char err[128], *chunk = malloc(65536);
        svc_csv_t *csv = svc_csv_new(65536, 1 << 20, on_row, &r);
        int rc = 0;

        put(&r, "", 0);
        memset(chunk, 'x', 65536);
        rc |= svc_csv_feed(csv, "h1,h2\nok,", 9, err, sizeof(err));
        for (int i = 0; i < 160; i++)
                rc |= svc_csv_feed(csv, chunk, 65536, err, sizeof(err));
        rc |= svc_csv_feed(csv, "\nlast,row\n", 10, err, sizeof(err));
        rc |= svc_csv_finish(csv, err, sizeof(err));
        is_int(rc, 0, "10 MB field: no stop");
        ok(strstr(r.out, "2: ERROR(field 2 is longer than 65536 bytes) \"ok\" \"xxx") != NULL,
           "10 MB field: record error naming the field");
        ok(strstr(r.out, "\n3: \"last\" \"row\"\n") != NULL, "10 MB field: next record read");
        is_int(svc_csv_record_cnt(csv), 3, "record count");
        svc_csv_destroy(csv);
        free(chunk);
        free(r.out);
}

static void test_stop(void) {
        struct render r = {.stop_after = 1};
        char err[128] = "";
        svc_csv_t *csv = svc_csv_new(64, 256, on_row, &r);
        int rc;

        put(&r, "", 0);
        rc = svc_csv_feed(csv, "a\nb\nc\n", 6, err, sizeof(err));
        is_int(rc, SVC_CSV_STOPPED, "callback -1 stops the feed");
        is_str(err, "stopped by the row handler", "stop reason");
        is_int(svc_csv_feed(csv, "d\n", 2, err, sizeof(err)), SVC_CSV_STOPPED,
               "a stopped parser stays stopped");
        is_int(svc_csv_finish(csv, err, sizeof(err)), SVC_CSV_STOPPED, "finish after stop");
        is_str(r.out, "1: \"a\"\n", "only the first record delivered");
        svc_csv_destroy(csv);
        free(r.out);
}

static void test_read_fd(void) {
        struct render r = {0};
        char err[128], path[] = "/tmp/test_csv.XXXXXX";
        int fd = mkstemp(path);
        const char *in = "\xEF\xBB\xBF"
                         "DATE,URL\r\n2025-10-22,\"https://x/?a=1,2\"\r\n";

        put(&r, "", 0);
        ok(fd >= 0 && write(fd, in, strlen(in)) == (ssize_t)strlen(in) &&
               lseek(fd, 0, SEEK_SET) == 0,
           "temp file written");
        is_int(svc_csv_read_fd(fd, 64, 256, on_row, &r, err, sizeof(err)), SVC_CSV_OK,
               "read_fd returns OK");
        is_str(r.out, "1: \"DATE\" \"URL\"\n2: \"2025-10-22\" \"https://x/?a=1,2\"\n",
               "read_fd records");
        is_int(svc_csv_read_fd(-1, 64, 256, on_row, &r, err, sizeof(err)), SVC_CSV_IO,
               "read_fd on a bad fd is an IO error");
        close(fd);
        unlink(path);
        free(r.out);
}

static char *slurp(const char *path, size_t *len) {
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t size = 0;
        *len = 0;
        if (!f)
                return NULL;
        for (;;) {
                char *nbuf = realloc(buf, size + 4096 + 1);
                if (!nbuf) {
                        free(buf);
                        fclose(f);
                        return NULL;
                }
                buf = nbuf;
                size_t n = fread(buf + size, 1, 4096, f);
                size += n;
                if (n < 4096)
                        break;
        }
        fclose(f);
        buf[size] = '\0';
        *len = size;
        return buf;
}

/* tests/data/csv/<case>/{input,expected}, found next to the build directory. */
static void test_data_dir(const char *argv0) {
        char exe[PATH_MAX], dir[PATH_MAX + 32], path[PATH_MAX * 2];
        struct dirent **ents;
        int n;

        if (getenv("SVC_TEST_DATA"))
                snprintf(dir, sizeof(dir), "%s/csv", getenv("SVC_TEST_DATA"));
        else if (realpath(argv0, exe)) /* <repo>/build/tests/test_csv */
                snprintf(dir, sizeof(dir), "%s/tests/data/csv", dirname(dirname(dirname(exe))));
        else
                snprintf(dir, sizeof(dir), "tests/data/csv");
        n = scandir(dir, &ents, NULL, alphasort);
        ok(n > 2, "data cases found in tests/data/csv");
        for (int i = 0; i < n; i++) {
                char *in, *want;
                size_t in_len, want_len;
                if (ents[i]->d_name[0] != '.') {
                        snprintf(path, sizeof(path), "%s/%s/input", dir, ents[i]->d_name);
                        in = slurp(path, &in_len);
                        snprintf(path, sizeof(path), "%s/%s/expected", dir, ents[i]->d_name);
                        want = slurp(path, &want_len);
                        ok(in && want, "data case %s readable", ents[i]->d_name);
                        if (in && want)
                                check_case(ents[i]->d_name, in, in_len, 16, 64, want);
                        free(in);
                        free(want);
                }
                free(ents[i]);
        }
        if (n >= 0)
                free(ents);
}

int main(int argc, char **argv) {
        (void)argc;
        for (const struct csv_case *c = cases; c->label; c++)
                check_case(
                    c->label, c->in, strcmp(c->label, "NUL byte kept") == 0 ? 4 : strlen(c->in),
                    c->max_field ? c->max_field : 64, c->max_record ? c->max_record : 256, c->want);
        test_many_fields();
        test_huge_field();
        test_stop();
        test_read_fd();
        test_data_dir(argv[0]);
        return done_testing();
}
