/* clientip.h - what /collect keeps of a client's address (CLIENT_IP_MODE,
 * docs/configuration.md): all of it, a truncated address, or nothing. Pure functions:
 * nothing is allocated, the caller's buffer holds the result. */
#ifndef SVC_CLIENTIP_H
#define SVC_CLIENTIP_H
#include <stddef.h>

typedef enum {
        SVC_CLIENTIP_FULL,     /* the address as the server saw it */
        SVC_CLIENTIP_TRUNCATE, /* IPv4: last octet zeroed; IPv6: all but the first 48 bits */
        SVC_CLIENTIP_DROP,     /* none: null is written */
} svc_clientip_mode_t;

/* Room for any address svc_clientip_apply() writes (INET6_ADDRSTRLEN). */
#define SVC_CLIENTIP_BUF 46

/**
 * @brief Parses a CLIENT_IP_MODE value: "full", "truncate" or "drop"; NULL or "" is full.
 * @returns 0, or -1 for anything else (*mode untouched).
 */
int svc_clientip_mode_parse(const char *text, svc_clientip_mode_t *mode)
    __attribute__((warn_unused_result));

/**
 * @brief What is kept of ip under mode. truncate writes the address in its canonical
 *        text into buf (buf_size >= SVC_CLIENTIP_BUF); an IPv4-mapped IPv6 address
 *        (::ffff:a.b.c.d) is truncated as the IPv4 address it carries.
 * @returns ip itself (full), buf (truncate), or NULL when nothing may be kept: drop, and
 *          truncate of anything that is not an address (NULL, "", a name, a socket path).
 */
const char *svc_clientip_apply(svc_clientip_mode_t mode, const char *ip, char *buf,
                               size_t buf_size);
#endif
