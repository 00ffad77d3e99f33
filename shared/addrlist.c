/* addrlist.c - address and network lists, and membership (addrlist.h). IPv4 is compared as
 * IPv4-mapped IPv6, so that one comparison serves both families and "::ffff:127.0.0.1" is
 * 127.0.0.1. */
#include "addrlist.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_TEXT_MAX 64 /* longer than any address/prefix written by hand */

/* Parses one address into its 16 bytes. Returns the bits it is written with (32 for IPv4,
 * 128 for IPv6, mapped or not), or 0 when it is no address. */
static int parse_addr(const char *text, unsigned char addr[16]) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

        if (inet_pton(AF_INET, text, addr + 12) == 1) {
                memcpy(addr, mapped, sizeof(mapped));
                return 32;
        }
        return inet_pton(AF_INET6, text, addr) == 1 ? 128 : 0;
}

/* Clears the bits after the first prefix_len (nginx does the same with "10.1.2.3/8"). */
static void mask(unsigned char addr[16], int prefix_len) {
        for (int i = 0; i < 16; i++) {
                int keep = prefix_len - i * 8;
                if (keep <= 0)
                        addr[i] = 0;
                else if (keep < 8)
                        addr[i] &= (unsigned char)(0xff << (8 - keep));
        }
}

/* Parses one entry: "all", an address, or address/prefix length. Returns 0 or -1. */
static int parse_entry(const char *entry, struct svc_addrnet *net) {
        char text[ADDR_TEXT_MAX];
        char *slash, *end;
        int bits;
        long len;

        if (!strcmp(entry, "all")) {
                memset(net, 0, sizeof(*net));
                return 0;
        }
        if (snprintf(text, sizeof(text), "%s", entry) >= (int)sizeof(text))
                return -1;
        if ((slash = strchr(text, '/')))
                *slash = '\0';
        if (!(bits = parse_addr(text, net->addr)))
                return -1;
        net->prefix_len = 128;
        if (slash) {
                if (slash[1] < '0' || slash[1] > '9')
                        return -1;
                len = strtol(slash + 1, &end, 10);
                if (*end || len > bits)
                        return -1;
                net->prefix_len = (int)len + (128 - bits);
        }
        mask(net->addr, net->prefix_len);
        return 0;
}

int svc_addrlist_parse(svc_addrlist_t *al, const char *text, char *errstr, size_t errstr_size) {
        const char *p = text ? text : "";

        al->net_cnt = 0;
        while (*p) {
                char entry[ADDR_TEXT_MAX];
                size_t len = strcspn(p, " \t,");

                if (len == 0) {
                        p++;
                        continue;
                }
                if (al->net_cnt == SVC_ADDRLIST_MAX) {
                        snprintf(errstr, errstr_size, "more than %d addresses or networks",
                                 SVC_ADDRLIST_MAX);
                        goto fail;
                }
                if (len < sizeof(entry)) {
                        memcpy(entry, p, len);
                        entry[len] = '\0';
                }
                if (len >= sizeof(entry) || parse_entry(entry, &al->nets[al->net_cnt]) == -1) {
                        snprintf(errstr, errstr_size,
                                 "\"%.*s\" is not an address, a network (address/prefix length) "
                                 "or all",
                                 (int)(len < ADDR_TEXT_MAX ? len : ADDR_TEXT_MAX), p);
                        goto fail;
                }
                al->net_cnt++;
                p += len;
        }
        return 0;
fail:
        al->net_cnt = 0;
        return -1;
}

int svc_addrlist_has(const svc_addrlist_t *al, const char *addr) {
        unsigned char a[16];

        if (!addr || !parse_addr(addr, a))
                return 0;
        for (size_t i = 0; i < al->net_cnt; i++) {
                const struct svc_addrnet *net = &al->nets[i];
                int whole = net->prefix_len / 8, rest = net->prefix_len % 8;

                if (memcmp(a, net->addr, (size_t)whole))
                        continue;
                if (rest && ((a[whole] ^ net->addr[whole]) & (0xff << (8 - rest))))
                        continue;
                return 1;
        }
        return 0;
}
