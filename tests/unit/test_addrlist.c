/* test_addrlist.c - address lists (INGEST_ALLOW): what parses, what is refused and why,
 * and which client addresses each list holds, IPv4, IPv6 and IPv4-mapped alike. */
#include <stdio.h>
#include <string.h>

#include "addrlist.h"
#include "tap.h"

static void test_parse(void) {
        static const struct {
                const char *text;
                int ret;         /* svc_addrlist_parse */
                size_t net_cnt;  /* entries when it parses */
                const char *err; /* a part of errstr when it does not */
        } cases[] = {
            {"127.0.0.1 ::1", 0, 2, NULL},
            {"127.0.0.1,::1", 0, 2, NULL},
            {" 10.0.0.0/8 ,, 192.0.2.0/24\t2001:db8::/32 ", 0, 3, NULL},
            {"all", 0, 1, NULL},
            {"", 0, 0, NULL},
            {"0.0.0.0/0 ::/0", 0, 2, NULL},
            {"10.1.2.3/8", 0, 1, NULL}, /* host bits set: masked, as nginx does */
            {"localhost", -1, 0, "\"localhost\" is not an address"},
            {"127.0.0.1 example.com", -1, 0, "\"example.com\" is not an address"},
            {"10.0.0.0/33", -1, 0, "\"10.0.0.0/33\""},
            {"::/129", -1, 0, "\"::/129\""},
            {"10.0.0.0/", -1, 0, "\"10.0.0.0/\""},
            {"10.0.0.0/-1", -1, 0, "\"10.0.0.0/-1\""},
            {"10.0.0.0/8x", -1, 0, "\"10.0.0.0/8x\""},
            {"10.0.0/8", -1, 0, "\"10.0.0/8\""},
            {"1.2.3.4.5", -1, 0, "\"1.2.3.4.5\""},
            {"ALL", -1, 0, "\"ALL\""},
            {"127.0.0.1;", -1, 0, "\"127.0.0.1;\""},
            {NULL, 0, 0, NULL},
        };
        char err[256];
        svc_addrlist_t al;

        for (int i = 0; cases[i].text; i++) {
                int ret;
                err[0] = '\0';
                ret = svc_addrlist_parse(&al, cases[i].text, err, sizeof(err));
                if (cases[i].ret == 0)
                        ok(ret == 0 && al.net_cnt == cases[i].net_cnt, "\"%s\": %zu entries (%s)",
                           cases[i].text, cases[i].net_cnt, err);
                else
                        ok(ret == -1 && al.net_cnt == 0 && strstr(err, cases[i].err),
                           "\"%s\": refused, \"%s\"", cases[i].text, err);
        }
        {
                char many[66 * 4 + 1] = "";
                for (int i = 0; i < 65; i++)
                        strcat(many, "::1 ");
                ok(svc_addrlist_parse(&al, many, err, sizeof(err)) == -1 &&
                       strstr(err, "more than 64"),
                   "65 entries: refused, \"%s\"", err);
        }
        ok(svc_addrlist_parse(&al, NULL, err, sizeof(err)) == 0 && al.net_cnt == 0,
           "NULL: an empty list");
}

static void test_has(void) {
        static const struct {
                const char *list, *addr;
                int want;
        } cases[] = {
            {"127.0.0.1 ::1", "127.0.0.1", 1},
            {"127.0.0.1 ::1", "::1", 1},
            {"127.0.0.1 ::1", "::ffff:127.0.0.1", 1}, /* IPv4-mapped */
            {"127.0.0.1 ::1", "127.0.0.2", 0},
            {"127.0.0.1 ::1", "192.0.2.10", 0},
            {"127.0.0.1 ::1", "::2", 0},
            {"127.0.0.1 ::1", "0:0:0:0:0:0:0:1", 1},
            {"127.0.0.1 ::1", "", 0},
            {"127.0.0.1 ::1", "localhost", 0},
            {"127.0.0.1 ::1", "127.0.0.1 ", 0},
            {"127.0.0.1 ::1", NULL, 0},
            {"10.0.0.0/8", "10.255.255.255", 1},
            {"10.0.0.0/8", "11.0.0.0", 0},
            {"10.0.0.0/8", "127.0.0.1", 0},
            {"10.1.2.3/8", "10.9.9.9", 1},
            {"192.0.2.0/25", "192.0.2.127", 1},
            {"192.0.2.0/25", "192.0.2.128", 0},
            {"192.0.2.0/31", "192.0.2.1", 1},
            {"192.0.2.0/31", "192.0.2.2", 0},
            {"192.0.2.10/32", "192.0.2.10", 1},
            {"192.0.2.10/32", "192.0.2.11", 0},
            {"0.0.0.0/0", "203.0.113.7", 1},
            {"0.0.0.0/0", "::ffff:203.0.113.7", 1},
            {"0.0.0.0/0", "2001:db8::1", 0}, /* IPv4 networks hold IPv4 addresses only */
            {"::/0", "2001:db8::1", 1},
            {"2001:db8::/32", "2001:db8:ffff::1", 1},
            {"2001:db8::/32", "2001:db9::1", 0},
            {"2001:db8::/33", "2001:db8:8000::1", 0},
            {"2001:db8::/33", "2001:db8:7fff::1", 1},
            {"::ffff:10.0.0.0/104", "10.2.3.4", 1},
            {"all", "203.0.113.7", 1},
            {"all", "2001:db8::1", 1},
            {"all", "not an address", 0},
            {"", "127.0.0.1", 0},
            {NULL, NULL, 0},
        };
        char err[256];
        svc_addrlist_t al;

        for (int i = 0; cases[i].list; i++) {
                if (svc_addrlist_parse(&al, cases[i].list, err, sizeof(err)) == -1) {
                        ok(0, "\"%s\" parses: %s", cases[i].list, err);
                        continue;
                }
                is_int(svc_addrlist_has(&al, cases[i].addr), cases[i].want, "\"%s\" %s %s",
                       cases[i].list, cases[i].want ? "holds" : "does not hold",
                       cases[i].addr ? cases[i].addr : "NULL");
        }
}

int main(void) {
        test_parse();
        test_has();
        return done_testing();
}
