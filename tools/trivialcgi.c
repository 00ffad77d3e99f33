/* trivialcgi.c - the floor of per-request serving: a trivial libfcgi executable.
 *
 * Run per request (fcgiwrap, or directly with a CGI environment) it reads the body and
 * answers 200 with a tiny JSON body: no settings, no Kafka, nothing of ours. The per-request
 * benchmark (bench/per-request.sh) compares the handlers with it. It is linked with libfcgi
 * only (vercel-compat/vercel.mk), so it pays the least dynamic linking a libfcgi program
 * can. It takes the same CGI/FastCGI decision as the handlers (FCGX_IsCGI). */
#include <fcgiapp.h>
#include <stdio.h>

static const char reply[] = "Status: 200 OK\r\n"
                            "Content-Type: application/json; charset=utf-8\r\n"
                            "Content-Length: 21\r\n"
                            "\r\n"
                            "{\"status\":\"success\"}\n";

int main(void) {
        char buf[16384];

        if (!FCGX_IsCGI()) {
                fprintf(stderr, "trivialcgi: run it as CGI (fcgiwrap or a CGI environment)\n");
                return 1;
        }
        /* Drain the body, as a real handler would. */
        while (fread(buf, 1, sizeof(buf), stdin) > 0)
                ;
        fwrite(reply, 1, sizeof(reply) - 1, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
}
