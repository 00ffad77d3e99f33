/* test_clientip.c - CLIENT_IP_MODE: the modes that parse, and what each keeps of IPv4,
 * IPv6, IPv4-mapped IPv6 and of what is not an address. */
#include <stdio.h>
#include <string.h>

#include "clientip.h"
#include "tap.h"

static void test_mode(void) {
        static const struct {
                const char *text;
                int ret;
                svc_clientip_mode_t mode;
        } cases[] = {
            {"full", 0, SVC_CLIENTIP_FULL},       {"truncate", 0, SVC_CLIENTIP_TRUNCATE},
            {"drop", 0, SVC_CLIENTIP_DROP},       {"", 0, SVC_CLIENTIP_FULL},
            {"Full", -1, SVC_CLIENTIP_DROP},      {"truncate ", -1, SVC_CLIENTIP_DROP},
            {"anonymize", -1, SVC_CLIENTIP_DROP}, {"0", -1, SVC_CLIENTIP_DROP},
            {NULL, 0, SVC_CLIENTIP_FULL},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                svc_clientip_mode_t mode = SVC_CLIENTIP_DROP;
                int ret = svc_clientip_mode_parse(cases[i].text, &mode);
                ok(ret == cases[i].ret && mode == cases[i].mode,
                   "mode \"%s\": %d, %d (want %d, %d)", cases[i].text ? cases[i].text : "NULL", ret,
                   (int)mode, cases[i].ret, (int)cases[i].mode);
        }
}

static void test_apply(void) {
        static const struct {
                svc_clientip_mode_t mode;
                const char *ip, *want; /* want NULL: null is written */
        } cases[] = {
            {SVC_CLIENTIP_TRUNCATE, "192.0.2.77", "192.0.2.0"},
            {SVC_CLIENTIP_TRUNCATE, "127.0.0.1", "127.0.0.0"},
            {SVC_CLIENTIP_TRUNCATE, "10.1.2.0", "10.1.2.0"},
            {SVC_CLIENTIP_TRUNCATE, "255.255.255.255", "255.255.255.0"},
            {SVC_CLIENTIP_TRUNCATE, "2001:db8:abcd:1234:5678:9abc:def0:1", "2001:db8:abcd::"},
            {SVC_CLIENTIP_TRUNCATE, "2001:0DB8:ABCD:ffff::1", "2001:db8:abcd::"},
            {SVC_CLIENTIP_TRUNCATE, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff::"},
            {SVC_CLIENTIP_TRUNCATE, "::1", "::"},
            {SVC_CLIENTIP_TRUNCATE, "fe80::1", "fe80::"},
            {SVC_CLIENTIP_TRUNCATE, "::ffff:192.0.2.77", "::ffff:192.0.2.0"},
            {SVC_CLIENTIP_TRUNCATE, "::FFFF:c000:024d", "::ffff:192.0.2.0"},
            /* not an address: nothing can be truncated, nothing is kept */
            {SVC_CLIENTIP_TRUNCATE, "", NULL},
            {SVC_CLIENTIP_TRUNCATE, NULL, NULL},
            {SVC_CLIENTIP_TRUNCATE, "localhost", NULL},
            {SVC_CLIENTIP_TRUNCATE, "192.0.2", NULL},
            {SVC_CLIENTIP_TRUNCATE, "192.0.2.256", NULL},
            {SVC_CLIENTIP_TRUNCATE, "192.0.2.1 ", NULL},
            {SVC_CLIENTIP_TRUNCATE, "fe80::1%eth0", NULL},
            {SVC_CLIENTIP_TRUNCATE, "2001:db8::/32", NULL},
            {SVC_CLIENTIP_TRUNCATE, "1:2:3:4:5:6:7:8:9", NULL},
            {SVC_CLIENTIP_TRUNCATE, "unix:/run/x.sock", NULL},
            {SVC_CLIENTIP_DROP, "192.0.2.77", NULL},
            {SVC_CLIENTIP_DROP, "2001:db8::1", NULL},
            {SVC_CLIENTIP_DROP, "", NULL},
            {SVC_CLIENTIP_FULL, "192.0.2.77", "192.0.2.77"},
            {SVC_CLIENTIP_FULL, "2001:db8::1", "2001:db8::1"},
            {SVC_CLIENTIP_FULL, "not an address", "not an address"},
        };
        char buf[SVC_CLIENTIP_BUF], small[8];

        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                memset(buf, 'x', sizeof(buf));
                is_str(svc_clientip_apply(cases[i].mode, cases[i].ip, buf, sizeof(buf)),
                       cases[i].want, "mode %d, \"%s\"", (int)cases[i].mode,
                       cases[i].ip ? cases[i].ip : "NULL");
        }
        ok(!svc_clientip_apply(SVC_CLIENTIP_TRUNCATE, "192.0.2.77", small, sizeof(small)),
           "a buffer too small: nothing kept");
}

int main(void) {
        test_mode();
        test_apply();
        return done_testing();
}
