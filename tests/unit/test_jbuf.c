/* test_jbuf.c - the shared buffer, JSON string escaper and UTF-8 check, against jansson:
 * every string is escaped as json_dumps() writes it with the flags the service uses, and
 * every byte string is UTF-8 exactly when json_stringn() takes it. */
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jbuf.h"
#include "tap.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* xorshift64: the same strings on every run. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) {
        rnd_state ^= rnd_state << 13;
        rnd_state ^= rnd_state >> 7;
        rnd_state ^= rnd_state << 17;
        return rnd_state;
}

/* 1 when svc_jbuf_str() writes s[0..n) as jansson does, after a prefix in the buffer and
 * with a suffix after it; also 1 when jansson refuses s and so does svc_jbuf_utf8_valid(). */
static int same_as_jansson(const char *s, size_t n) {
        json_t *str = json_stringn(s, n);
        char *want = str ? json_dumps(str, DUMP_FLAGS) : NULL;
        svc_jbuf_t b = SVC_JBUF_INIT;
        int same;

        json_decref(str);
        if (!str)
                return !svc_jbuf_utf8_valid(s, n);
        SVC_JBUF_LIT(&b, "[");
        svc_jbuf_str(&b, s, n);
        SVC_JBUF_LIT(&b, "]");
        same = want && svc_jbuf_utf8_valid(s, n) && !b.err && b.len == strlen(want) + 2 &&
               b.ptr[0] == '[' && !memcmp(b.ptr + 1, want, strlen(want)) &&
               b.ptr[b.len - 1] == ']' && b.ptr[b.len] == '\0';
        if (!same)
                printf("#   jansson: %s\n#   jbuf:    %s\n", want ? want : "(null)",
                       b.ptr ? b.ptr : "(null)");
        free(want);
        svc_jbuf_free(&b);
        return same;
}

static void test_edge_strings(void) {
        static const struct {
                const char *name, *s;
                size_t n;
        } cases[] = {
            {"empty", "", 0},
            {"plain ASCII", "hello, world", 12},
            {"quote and backslash", "a\"b\\c", 5},
            {"slash stays", "a/b</script>", 12},
            {"short escapes", "\b\f\n\r\t", 5},
            {"embedded NUL", "a\0b\0", 4},
            {"DEL stays", "\x7f", 1},
            {"U+2028 and U+2029 stay", "\xe2\x80\xa8|\xe2\x80\xa9", 7},
            {"two- to four-byte UTF-8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 13},
            {"U+10FFFF", "\xf4\x8f\xbf\xbf", 4},
            {"U+FFFD", "\xef\xbf\xbd", 3},
            {"only escapes", "\"\"\\\\\x01\x1f", 6},
            {"overlong slash (invalid)", "\xc0\xaf", 2},
            {"overlong three bytes (invalid)", "\xe0\x80\xaf", 3},
            {"overlong four bytes (invalid)", "\xf0\x80\x80\xaf", 4},
            {"surrogate (invalid)", "\xed\xa0\x80", 3},
            {"above U+10FFFF (invalid)", "\xf4\x90\x80\x80", 4},
            {"F5 lead (invalid)", "\xf5\x80\x80\x80", 4},
            {"lone continuation (invalid)", "a\x80", 2},
            {"cut sequence (invalid)", "\xe2\x82", 2},
            {"cut four bytes (invalid)", "x\xf0\x9f\x98", 4},
            {"Latin-1 (invalid)", "caf\xe9", 4},
        };
        char one[1];
        int c;

        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
                ok(same_as_jansson(cases[i].s, cases[i].n), "%s", cases[i].name);
        for (c = 0; c < 256; c++) {
                one[0] = (char)c;
                if (!same_as_jansson(one, 1))
                        break;
        }
        is_int(c, 256, "every single byte (the first that differs)");
}

/* A random code point: often ASCII and controls, else any plane, surrogates left out. */
static unsigned rnd_code_point(void) {
        switch (rnd() % 4) {
        case 0: return (unsigned)(rnd() % 0x20);
        case 1: return (unsigned)(rnd() % 0x80);
        case 2: return (unsigned)(0x2000 + rnd() % 0x100);
        default: {
                unsigned cp = (unsigned)(rnd() % 0x110000);
                return cp >= 0xd800 && cp <= 0xdfff ? 0x2028 : cp;
        }
        }
}

static size_t put_utf8(char *o, unsigned cp) {
        if (cp < 0x80)
                return o[0] = (char)cp, 1;
        if (cp < 0x800)
                return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
        if (cp < 0x10000)
                return o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
                       o[2] = (char)(0x80 | (cp & 0x3f)), 3;
        return o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
               o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f)), 4;
}

static void test_random_strings(void) {
        char s[4 * 600];
        int bad = 0, invalid = 0;

        for (int i = 0; i < 20000 && !bad; i++) { /* valid UTF-8 */
                size_t n = 0, cps = (size_t)(rnd() % (i < 100 ? 600 : 40));
                for (size_t k = 0; k < cps; k++)
                        n += put_utf8(s + n, rnd_code_point());
                bad = !same_as_jansson(s, n);
        }
        ok(!bad, "20000 random UTF-8 strings escape as jansson escapes them");
        for (int i = 0; i < 50000 && !bad; i++) { /* any bytes, mostly high ones */
                size_t n = (size_t)(rnd() % 12);
                for (size_t k = 0; k < n; k++)
                        s[k] = (char)(rnd() % 3 ? 0x80 + rnd() % 0x80 : rnd() % 0x100);
                bad = !same_as_jansson(s, n);
                invalid += !svc_jbuf_utf8_valid(s, n);
        }
        ok(!bad, "50000 random byte strings: UTF-8 exactly when jansson takes them");
        ok(invalid > 1000 && invalid < 50000, "both kinds among them (%d invalid)", invalid);
}

/* Long ASCII runs, which are escaped and checked eight bytes at a time, with one byte
 * put at every place: each byte value, alone or after a quote further on. */
static void test_one_byte_everywhere(void) {
        char s[26];
        int bad = 0;

        for (int c = 0; c < 256 && !bad; c++) {
                for (size_t at = 0; at < sizeof(s) && !bad; at++) {
                        memset(s, 'a', sizeof(s));
                        s[at] = (char)c;
                        bad = !same_as_jansson(s, sizeof(s));
                        if (!bad && at + 9 < sizeof(s)) {
                                s[at + 9] = '"';
                                bad = !same_as_jansson(s, sizeof(s));
                        }
                }
        }
        ok(!bad, "every byte at every place of a 26-byte ASCII string");
}

static void test_utf8_seq(void) {
        is_int(svc_jbuf_utf8_seq("a", 1), 1, "ASCII: 1 byte");
        is_int(svc_jbuf_utf8_seq("\0", 1), 1, "NUL: 1 byte");
        is_int(svc_jbuf_utf8_seq("\xc3\xa9x", 3), 2, "two bytes");
        is_int(svc_jbuf_utf8_seq("\xe2\x80\xa8", 3), 3, "three bytes");
        is_int(svc_jbuf_utf8_seq("\xf0\x9f\x98\x80", 4), 4, "four bytes");
        is_int(svc_jbuf_utf8_seq("\xf0\x9f\x98\x80", 3), 0, "four bytes, three left");
        is_int(svc_jbuf_utf8_seq("\xed\xbf\xbf", 3), 0, "low surrogate");
        is_int(svc_jbuf_utf8_seq("\xc1\xbf", 2), 0, "overlong two bytes");
        is_int(svc_jbuf_utf8_seq("\xc3\xc3", 2), 0, "no continuation");
}

static void test_buffer(void) {
        svc_jbuf_t b = SVC_JBUF_INIT;
        char *p, *want;
        size_t len = 0;
        json_t *v;

        for (int i = 0; i < 1000; i++)
                SVC_JBUF_LIT(&b, "0123456789");
        ok(!b.err && b.len == 10000 && b.size > b.len && b.ptr[b.len] == '\0', "grows");
        svc_jbuf_reset(&b);
        ok(b.len == 0 && b.ptr && b.ptr[0] == '\0' && b.size >= 10000, "reset keeps memory");
        svc_jbuf_cstr(&b, NULL);
        svc_jbuf_put(&b, NULL, 0);
        is_str(b.ptr, "null", "cstr NULL is null");
        ok(svc_jbuf_reserve(&b, SIZE_MAX - 8) == -1 && b.err, "an impossible size sets err");
        SVC_JBUF_LIT(&b, "x");
        svc_jbuf_str(&b, "y", 1);
        svc_jbuf_int(&b, 1);
        is_str(b.ptr, "null", "err is sticky and keeps what was written");
        svc_jbuf_truncate(&b, 2);
        ok(!b.err, "truncate clears err");
        SVC_JBUF_LIT(&b, "!");
        is_str(b.ptr, "nu!", "truncate cuts");
        svc_jbuf_truncate(&b, 99);
        is_int(b.len, 3, "truncate never lengthens");
        svc_jbuf_reserve(&b, SIZE_MAX / 2);
        ok(!svc_jbuf_take(&b, &len) && !b.ptr && !b.err && !b.size, "take after err: NULL, freed");
        ok(!svc_jbuf_take(&b, &len), "take of nothing: NULL");
        svc_jbuf_put(&b, "a\0b", 3);
        p = svc_jbuf_take(&b, &len);
        ok(p && len == 3 && !memcmp(p, "a\0b", 4) && !b.ptr && !b.len, "take hands over");
        free(p);
        {
                static const long long ints[] = {0, 1, -1, 42, LLONG_MAX, LLONG_MIN};
                for (size_t i = 0; i < sizeof(ints) / sizeof(*ints); i++) {
                        v = json_integer(ints[i]);
                        want = json_dumps(v, DUMP_FLAGS);
                        svc_jbuf_reset(&b);
                        svc_jbuf_int(&b, ints[i]);
                        is_str(b.ptr, want, "integer %lld as jansson writes it", ints[i]);
                        free(want);
                        json_decref(v);
                }
        }
        svc_jbuf_free(&b);
        svc_jbuf_free(&b);
        svc_jbuf_free(NULL);
        ok(!b.ptr && !b.len && !b.size, "free leaves it empty");
}

/* svc_jbuf_int() against printf's %lld: the edges, then random values of every size. */
static void test_int(void) {
        static const long long edges[] = {0,  1,   -1,      9,         10,        -10,
                                          99, 100, 1000000, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
        unsigned long long x = 2463534242ULL;
        char want[32];
        int bad = 0;

        for (size_t i = 0; i < sizeof(edges) / sizeof(*edges); i++) {
                svc_jbuf_t b = SVC_JBUF_INIT;
                svc_jbuf_int(&b, edges[i]);
                snprintf(want, sizeof(want), "%lld", edges[i]);
                is_str(b.ptr, want, "svc_jbuf_int(%s)", want);
                svc_jbuf_free(&b);
        }
        for (int i = 0; i < 200000; i++) {
                svc_jbuf_t b = SVC_JBUF_INIT;
                long long v;
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                v = (long long)(x >> (x % 64)); /* every number of digits */
                if (x & 1)
                        v = -v;
                svc_jbuf_int(&b, v);
                snprintf(want, sizeof(want), "%lld", v);
                if ((!b.ptr || strcmp(b.ptr, want)) && bad++ < 5)
                        printf("# svc_jbuf_int(%s): %s\n", want, b.ptr ? b.ptr : "(null)");
                svc_jbuf_free(&b);
        }
        is_int(bad, 0, "svc_jbuf_int of 200,000 random values: as %%lld writes them");
}

int main(void) {
        test_edge_strings();
        test_random_strings();
        test_one_byte_everywhere();
        test_utf8_seq();
        test_buffer();
        test_int();
        return done_testing();
}
