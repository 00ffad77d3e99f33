/* addrlist.h - lists of addresses and networks, written like nginx's allow lines
 * ("127.0.0.1 ::1 10.20.0.0/16", or "all"), and whether a client address is in one. Pure
 * functions over the caller's struct: nothing is allocated, nothing is read but the
 * strings. INGEST_ALLOW is read with them (docs/configuration.md). */
#ifndef SVC_ADDRLIST_H
#define SVC_ADDRLIST_H
#include <stddef.h>

#define SVC_ADDRLIST_MAX 64                   /* entries of one list */
#define SVC_ADDRLIST_LOOPBACK "127.0.0.1 ::1" /* INGEST_ALLOW's default, METRICS_ALLOW's too */

/* One address or network; IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct svc_addrnet {
        unsigned char addr[16]; /* host bits cleared */
        int prefix_len;         /* bits that must match, 0 to 128 */
};

/* A list, meant for the stack or a struct: svc_addrlist_parse fills it. */
typedef struct svc_addrlist {
        struct svc_addrnet nets[SVC_ADDRLIST_MAX];
        size_t net_cnt;
} svc_addrlist_t;

/**
 * @brief Parses a list: addresses, networks (address/prefix length) and "all" (every
 *        address), separated by blanks or commas. An empty list holds no address.
 * @returns 0, or -1 with errstr naming the entry that is not one; *al is then empty.
 */
int svc_addrlist_parse(svc_addrlist_t *al, const char *text, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Whether addr (a textual IPv4 or IPv6 address, e.g. REMOTE_ADDR) is in the list.
 *        An IPv4-mapped IPv6 address counts as its IPv4 address.
 * @returns 1 or 0; 0 for anything that is not an address (NULL, "", a name).
 */
int svc_addrlist_has(const svc_addrlist_t *al, const char *addr);
#endif
