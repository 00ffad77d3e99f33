/* clientip.c - what /collect keeps of a client's address (clientip.h). Threads: any.
 * Memory: nothing allocated. */
#include "clientip.h"

#include <arpa/inet.h>
#include <string.h>

int svc_clientip_mode_parse(const char *text, svc_clientip_mode_t *mode) {
        if (!text || !*text || !strcmp(text, "full"))
                *mode = SVC_CLIENTIP_FULL;
        else if (!strcmp(text, "truncate"))
                *mode = SVC_CLIENTIP_TRUNCATE;
        else if (!strcmp(text, "drop"))
                *mode = SVC_CLIENTIP_DROP;
        else
                return -1;
        return 0;
}

const char *svc_clientip_apply(svc_clientip_mode_t mode, const char *ip, char *buf,
                               size_t buf_size) {
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        unsigned char a[16];

        if (mode == SVC_CLIENTIP_FULL)
                return ip;
        if (mode != SVC_CLIENTIP_TRUNCATE || !ip || buf_size < SVC_CLIENTIP_BUF)
                return NULL;
        if (inet_pton(AF_INET, ip, a) == 1) {
                a[3] = 0;
                return inet_ntop(AF_INET, a, buf, (socklen_t)buf_size);
        }
        if (inet_pton(AF_INET6, ip, a) != 1)
                return NULL;
        if (!memcmp(a, v4mapped, sizeof(v4mapped)))
                a[15] = 0; /* the IPv4 address it carries, truncated as one */
        else
                memset(a + 6, 0, 10); /* the first 48 bits stay */
        return inet_ntop(AF_INET6, a, buf, (socklen_t)buf_size);
}
