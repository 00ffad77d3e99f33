/* fuzz_check.h - the check every fuzz harness uses: print where, then abort, so
 * libFuzzer and the replay runner both stop on a broken property. */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)
#endif
