/* test_ratelimit.c - the shared token buckets: a burst, then refusals with the seconds
 * until it fits, refill at the rate, all-or-nothing across buckets, a full table, and two
 * mappings of one file (two processes) drawing from one budget. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ratelimit.h"
#include "tap.h"

#define S 1000000LL /* a second, in microseconds */

static void test_bucket(void) {
        static const struct {
                int64_t at_us; /* from t0 */
                uint32_t cost;
                int want;       /* 1 taken, 0 refused */
                unsigned retry; /* Retry-After when refused */
        } steps[] = {
            /* 5 per second, burst 5 */
            {0, 1, 1, 0},      {0, 1, 1, 0},         {0, 1, 1, 0},
            {0, 1, 1, 0},      {0, 1, 1, 0},         {0, 1, 0, 1},
            {0, 5, 0, 1},      {S / 10, 1, 0, 1},    {S / 5, 1, 1, 0}, /* one back after 0.2 s */
            {S / 5, 1, 0, 1},  {S + S / 5, 5, 1, 0}, {S + S / 5, 3, 0, 1},
            {10 * S, 5, 1, 0}, {10 * S, 6, 0, 2}, /* 6 > burst: never fits; 2 s for 10 */
            {-1, 0, 0, 0},
        };
        char err[256];
        svc_ratelimit_t *rl = svc_ratelimit_open(NULL, err, sizeof(err));
        int64_t t0 = 1000 * S;

        if (!rl) {
                ok(0, "in-memory table: %s", err);
                return;
        }
        for (int i = 0; steps[i].at_us >= 0; i++) {
                struct svc_ratelimit_ask a = {42, 5, 5, steps[i].cost};
                unsigned retry = 0;
                size_t refused = 9;
                int got = svc_ratelimit_take(rl, &a, 1, t0 + steps[i].at_us, &retry, &refused);
                ok(got == steps[i].want && (got || (retry == steps[i].retry && refused == 0)),
                   "step %d at %lld us, cost %u: %d, Retry-After %u (want %d, %u)", i,
                   (long long)steps[i].at_us, steps[i].cost, got, retry, steps[i].want,
                   steps[i].retry);
        }
        {
                /* two buckets: the address has room, the key has not: neither is drawn */
                struct svc_ratelimit_ask both[2] = {{7, 1, 2, 1}, {8, 1, 1, 2}};
                unsigned retry = 0;
                size_t refused = 9;
                ok(svc_ratelimit_take(rl, both, 2, t0, &retry, &refused) == 0 && refused == 1 &&
                       retry == 1,
                   "second bucket refuses: refused=%zu, Retry-After %u", refused, retry);
                both[1].cost = 1;
                ok(svc_ratelimit_take(rl, both, 2, t0, &retry, &refused) == 1,
                   "the first bucket was not drawn: 2 more fit in it");
                ok(svc_ratelimit_take(rl, both, 1, t0, &retry, &refused) == 1 &&
                       svc_ratelimit_take(rl, both, 1, t0, &retry, &refused) == 0,
                   "then its burst of 2 is used up");
        }
        {
                /* 1 per second, 100 needed: Retry-After 100 s */
                struct svc_ratelimit_ask a = {99, 1, 100, 100};
                unsigned retry = 0;
                size_t refused;
                ok(svc_ratelimit_take(rl, &a, 1, t0, &retry, &refused) == 1 &&
                       svc_ratelimit_take(rl, &a, 1, t0 + S / 2, &retry, &refused) == 0 &&
                       retry == 100,
                   "a slow refill: Retry-After %u (want 100)", retry);
        }
        {
                /* far more identities than slots: every new one starts full, none is
                 * refused, and the table stays the same size */
                int refusals = 0;
                for (uint64_t id = 1000; id < 1000 + 3 * SVC_RATELIMIT_SLOTS; id++) {
                        struct svc_ratelimit_ask a = {id, 1, 1, 1};
                        unsigned retry;
                        size_t refused;
                        refusals += !svc_ratelimit_take(rl, &a, 1, t0, &retry, &refused);
                }
                is_int(refusals, 0, "3 x %d identities: each new one starts full",
                       SVC_RATELIMIT_SLOTS);
        }
        svc_ratelimit_close(rl);
        svc_ratelimit_close(NULL);
}

/* Two processes of the host map the same file: 10 tokens in all, whoever takes them. */
static void test_shared(void) {
        char dir[] = "/tmp/test_ratelimit.XXXXXX", path[512], err[256];
        int64_t now = svc_ratelimit_now_us();
        svc_ratelimit_t *rl;
        int taken = 0, status = 0;
        pid_t pid;

        if (!mkdtemp(dir)) {
                ok(0, "mkdtemp");
                return;
        }
        snprintf(path, sizeof(path), "%s/limits.buckets", dir);
        if (!(rl = svc_ratelimit_open(dir, err, sizeof(err)))) {
                ok(0, "open: %s", err);
                goto out;
        }
        if ((pid = fork()) == 0) {
                svc_ratelimit_t *child = svc_ratelimit_open(dir, err, sizeof(err));
                int n = 0;
                for (int i = 0; child && i < 20; i++) {
                        struct svc_ratelimit_ask a = {5, 1, 10, 1};
                        unsigned retry;
                        size_t refused;
                        n += svc_ratelimit_take(child, &a, 1, now, &retry, &refused);
                }
                _exit(n);
        }
        waitpid(pid, &status, 0);
        for (int i = 0; i < 20; i++) {
                struct svc_ratelimit_ask a = {5, 1, 10, 1};
                unsigned retry;
                size_t refused;
                taken += svc_ratelimit_take(rl, &a, 1, now, &retry, &refused);
        }
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 10 && taken == 0,
           "two processes, one burst of 10: the child took %d, the parent %d", WEXITSTATUS(status),
           taken);
        svc_ratelimit_close(rl);
        if ((rl = svc_ratelimit_open(dir, err, sizeof(err)))) {
                struct svc_ratelimit_ask a = {5, 1, 10, 1};
                unsigned retry = 0;
                size_t refused;
                ok(svc_ratelimit_take(rl, &a, 1, now, &retry, &refused) == 0 && retry == 1,
                   "opened again: the file kept the empty bucket");
                svc_ratelimit_close(rl);
        }
        {
                FILE *fp = fopen(path, "w"); /* another layout: replaced */
                fputs("not a table", fp);
                fclose(fp);
                rl = svc_ratelimit_open(dir, err, sizeof(err));
                ok(rl != NULL, "a file of another layout is replaced (%s)", rl ? "" : err);
                svc_ratelimit_close(rl);
        }
out:
        unlink(path);
        rmdir(dir);
}

int main(void) {
        test_bucket();
        test_shared();
        return done_testing();
}
