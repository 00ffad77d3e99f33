/* emptyfcgi.c - the empty FastCGI handler of `make bench`: the ceiling a pooled handler
 * is measured against.
 *
 * It reads the request body and answers 200 with a tiny JSON body, without Kafka, with
 * HANDLER_THREADS threads (default 16) accepting on the socket spawn-fcgi gives it, like
 * the service's handlers. Plain libfcgi on purpose (not shared/http.c): a ceiling holds
 * nothing of ours. SIGTERM/SIGINT end it (the listening socket is shut down so blocked
 * accepts return). Started as CGI it answers its one request: the floor of the
 * per-request path. */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#define EMPTY_MAX_THREADS 256

static const char reply[] = "Status: 200 OK\r\n"
                            "Content-Type: application/json; charset=utf-8\r\n"
                            "Content-Length: 21\r\n"
                            "\r\n"
                            "{\"status\":\"success\"}\n";

static atomic_int stopping; /* set by main() on SIGTERM/SIGINT, read by every worker */

static void *worker(void *arg) {
        FCGX_Request req;
        char buf[16384];
        (void)arg;

        if (FCGX_InitRequest(&req, 0, 0) != 0)
                return NULL;
        while (!atomic_load(&stopping) && FCGX_Accept_r(&req) >= 0) {
                /* Drain the body, as a real handler would. */
                while (FCGX_GetStr(buf, (int)sizeof(buf), req.in) > 0)
                        ;
                FCGX_PutStr(reply, (int)sizeof(reply) - 1, req.out);
                FCGX_Finish_r(&req);
        }
        FCGX_Free(&req, 1);
        return NULL;
}

int main(void) {
        pthread_t tids[EMPTY_MAX_THREADS];
        const char *env = getenv("HANDLER_THREADS");
        int threads = env ? atoi(env) : 16, started = 0, sig;
        sigset_t stop_sigs;

        if (threads < 1 || threads > EMPTY_MAX_THREADS) {
                fprintf(stderr, "emptyfcgi: HANDLER_THREADS must be 1..%d\n", EMPTY_MAX_THREADS);
                return 1;
        }
        if (FCGX_IsCGI()) { /* one request as CGI: the floor of the per-request path */
                char buf[16384];
                while (fread(buf, 1, sizeof(buf), stdin) > 0)
                        ;
                fwrite(reply, 1, sizeof(reply) - 1, stdout);
                return 0;
        }
        if (FCGX_Init() != 0)
                return 1;
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&stop_sigs);
        sigaddset(&stop_sigs, SIGTERM);
        sigaddset(&stop_sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
        for (; started < threads; started++)
                if (pthread_create(&tids[started], NULL, worker, NULL) != 0)
                        break;
        if (started == 0)
                return 1;
        sigwait(&stop_sigs, &sig);
        atomic_store(&stopping, 1);
        shutdown(0, SHUT_RDWR);
        for (int i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        return 0;
}
