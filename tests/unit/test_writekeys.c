/* test_writekeys.c - the write-key file: what parses, what is refused with which line
 * number and reason (never quoting the key), the lookup, and the watcher reading the file
 * again when it changes and keeping the old keys when the new file is bad. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "writekeys.h"

#define K1 "pk_live_0123456789abcdef"
#define K2 "Another-Key_0123456789"
#define K16 "abcdefghijklmnop"
#define K128                                                                                       \
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"                         \
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define S64 "s234567890123456789012345678901234567890123456789012345678901234"

static void test_parse(void) {
        static const struct {
                const char *text;
                int line;        /* 0: parses */
                size_t cnt;      /* keys when it parses */
                const char *err; /* a part of errstr when it does not */
        } cases[] = {
            {"", 0, 0, NULL},
            {"# only a comment\n\n   \n\t\n", 0, 0, NULL},
            {K1 " shop\n", 0, 1, NULL},
            {K1 " shop", 0, 1, NULL},
            {K1 " shop 5\r\n" K2 " app.ios 10 20 # the app\r\n", 0, 2, NULL},
            {"  " K1 "\tshop\t5\t5  ", 0, 1, NULL},
            {K16 " a\n" K128 " " S64 "\n", 0, 2, NULL},
            {K1 " shop#comment right after\n", 0, 1, NULL},
            /* malformed */
            {"abc shop\n", 1, 0, "line 1: the key must be 16 to 128"},
            {"\n\n" K1 "\n", 3, 0, "line 3: a key without a source"},
            {"abcdefghijklmno shop\n", 1, 0, "line 1: the key must be"}, /* 15 */
            {K128 "x shop\n", 1, 0, "line 1: the key must be"},          /* 129 */
            {"pk_live_0123456789abcde! shop\n", 1, 0, "line 1: the key must"},
            {"pk.live.0123456789abcdef shop\n", 1, 0, "line 1: the key must"}, /* no dots */
            {"pk_live_0123456789abcdé shop\n", 1, 0, "line 1: the key must"},
            {K1 " " S64 "5\n", 1, 0, "line 1: the source must be 1 to 64"},
            {K1 " sh/op\n", 1, 0, "line 1: the source must"},
            {K1 " shop 0\n", 1, 0, "line 1: events per second must be"},
            {K1 " shop -5\n", 1, 0, "line 1: events per second must be"},
            {K1 " shop 5.5\n", 1, 0, "line 1: events per second must be"},
            {K1 " shop 1000001\n", 1, 0, "line 1: events per second must be"},
            {K1 " shop 99999999999\n", 1, 0, "line 1: events per second must be"},
            {K1 " shop five\n", 1, 0, "line 1: events per second must be"},
            {K1 " shop 5 0\n", 1, 0, "line 1: the burst must be"},
            {K1 " shop 5 x\n", 1, 0, "line 1: the burst must be"},
            {K1 " shop 5 5 5\n", 1, 0, "line 1: more than 4 fields"},
            {"# keys\n" K1 " a\n" K2 " b\n" K1 " c\n", 4, 0,
             "line 4: the key is already on an earlier line"},
            {K1 " a\n" K2 " b\n" K1 " c\n" K2 " d\n", 3, 0, "line 3: the key is already"},
            {K1 " a\x01\n", 1, 0, "line 1: the source must"},
            {K1 " a\nxx\n", 2, 0, "line 2: the key must"},
            {K1 " shop 5 ;\n", 1, 0, "line 1: the burst must"},
            {K1 "\vshop\n", 1, 0, "line 1: the key must"}, /* \v is not a blank */
            {NULL, 0, 0, NULL},
        };
        char err[256];

        for (int i = 0; cases[i].text; i++) {
                int line = -1;
                svc_writekeys_t *wk;
                err[0] = '\0';
                wk = svc_writekeys_parse(cases[i].text, strlen(cases[i].text), &line, err,
                                         sizeof(err));
                if (!cases[i].line) {
                        ok(wk && svc_writekeys_cnt(wk) == cases[i].cnt,
                           "case %d parses: %zu keys (%s)", i, cases[i].cnt, err);
                } else {
                        ok(!wk && line == cases[i].line &&
                               !strncmp(err, cases[i].err, strlen(cases[i].err)),
                           "case %d refused at line %d: \"%s\"", i, line, err);
                        ok(!strstr(err, K1) && !strstr(err, K2) && !strstr(err, "pk_live"),
                           "case %d: the error does not quote the key", i);
                }
                svc_writekeys_destroy(wk);
        }
        {
                /* a NUL inside the text */
                static const char nul[] = K1 " sh\0p\n";
                int line = 0;
                ok(!svc_writekeys_parse(nul, sizeof(nul) - 1, &line, err, sizeof(err)) && line == 1,
                   "a NUL in a source: refused at line 1 (%s)", err);
        }
}

static void test_find(void) {
        static const char text[] =
            "# site and app\n" K1 " shop 5\n" K2 " app.ios 10 20\n" K16 " open\n";
        const struct svc_writekey *k;
        char err[256];
        int line;
        svc_writekeys_t *wk = svc_writekeys_parse(text, strlen(text), &line, err, sizeof(err));

        if (!wk) {
                ok(0, "the table parses: %s", err);
                return;
        }
        k = svc_writekeys_find(wk, K1, strlen(K1));
        ok(k && !strcmp(k->source, "shop") && k->rate == 5 && k->burst == 5 && k->id,
           "K1: shop, 5/s, burst 5 (the rate)");
        k = svc_writekeys_find(wk, K2, strlen(K2));
        ok(k && !strcmp(k->source, "app.ios") && k->rate == 10 && k->burst == 20,
           "K2: app.ios, 10/s, burst 20");
        k = svc_writekeys_find(wk, K16, strlen(K16));
        ok(k && !strcmp(k->source, "open") && k->rate == 0 && k->burst == 0, "K16: no limit");
        ok(svc_writekeys_find(wk, K1, strlen(K1))->id != svc_writekeys_find(wk, K2, strlen(K2))->id,
           "two keys, two ids");
        ok(!svc_writekeys_find(wk, K1, strlen(K1) - 1), "a prefix of a key: unknown");
        ok(!svc_writekeys_find(wk, K1 "0", strlen(K1) + 1), "a key and more: unknown");
        ok(!svc_writekeys_find(wk, "PK_LIVE_0123456789ABCDEF", strlen(K1)),
           "keys are case-sensitive");
        ok(!svc_writekeys_find(wk, "", 0), "an empty key: unknown");
        ok(!svc_writekeys_find(wk, K128 K128, 256), "a key too long: unknown");
        ok(!svc_writekeys_find(wk, K1 "\0x", strlen(K1) + 2), "a key with a NUL: unknown");
        svc_writekeys_destroy(wk);
        svc_writekeys_destroy(NULL);
}

static void write_file(const char *path, const char *text) {
        char tmp[512];
        FILE *fp;
        snprintf(tmp, sizeof(tmp), "%s.new", path);
        fp = fopen(tmp, "w");
        fputs(text, fp);
        fclose(fp);
        rename(tmp, path);
}

/* Looks k up until it is known (want 1) or unknown (want 0), at most 3 s. */
static int lookup_within(svc_writekeys_watch_t *w, const char *k, int want) {
        struct svc_writekey out;
        for (int i = 0; i < 300; i++) {
                if (svc_writekeys_watch_lookup(w, k, strlen(k), &out) == want)
                        return 1;
                usleep(10000);
        }
        return 0;
}

static void test_watch(void) {
        char dir[] = "/tmp/test_writekeys.XXXXXX", path[512], err[512];
        struct svc_writekey out;
        svc_writekeys_watch_t *w;

        if (!mkdtemp(dir)) {
                ok(0, "mkdtemp");
                return;
        }
        snprintf(path, sizeof(path), "%s/keys", dir);
        ok(!svc_writekeys_watch_new(path, err, sizeof(err)) && strstr(err, path),
           "no file: refused, naming it (%s)", err);
        write_file(path, K1 " shop\nbad line\n");
        ok(!svc_writekeys_watch_new(path, err, sizeof(err)) && strstr(err, "line 2:"),
           "a bad file: refused with its line (%s)", err);
        write_file(path, K1 " shop 5\n");
        if (!(w = svc_writekeys_watch_new(path, err, sizeof(err)))) {
                ok(0, "a good file: %s", err);
                goto out;
        }
        ok(svc_writekeys_watch_lookup(w, K1, strlen(K1), &out) == 1 && !strcmp(out.source, "shop"),
           "K1 known");
        ok(svc_writekeys_watch_lookup(w, K2, strlen(K2), &out) == 0, "K2 not yet");
        write_file(path, K1 " shop 5\n" K2 " app\n");
        ok(lookup_within(w, K2, 1), "K2 added: known within 3 s");
        ok(svc_writekeys_watch_lookup(w, K1, strlen(K1), &out) == 1, "K1 still known");
        write_file(path, K1 " shop 5\n" K2 " app\n" K16 "\n");
        sleep(2); /* two checks: the bad file was seen */
        ok(svc_writekeys_watch_lookup(w, K2, strlen(K2), &out) == 1 &&
               svc_writekeys_watch_lookup(w, K1, strlen(K1), &out) == 1 &&
               svc_writekeys_watch_lookup(w, K16, strlen(K16), &out) == 0,
           "a bad file later: the old keys stay");
        unlink(path);
        sleep(2);
        ok(svc_writekeys_watch_lookup(w, K1, strlen(K1), &out) == 1,
           "the file gone: the old keys stay");
        write_file(path, K2 " app2\n");
        ok(lookup_within(w, K1, 0), "K1 removed: unknown within 3 s");
        ok(svc_writekeys_watch_lookup(w, K2, strlen(K2), &out) == 1 && !strcmp(out.source, "app2"),
           "K2's new source");
        svc_writekeys_watch_destroy(w);
out:
        unlink(path);
        rmdir(dir);
}

int main(void) {
        test_parse();
        test_find();
        test_watch();
        return done_testing();
}
