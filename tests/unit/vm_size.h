/* vm_size.h - the address space a test process uses now, for the tests that set
 * RLIMIT_AS just above it to make one allocation fail. */
#ifndef SVC_TEST_VM_SIZE_H
#define SVC_TEST_VM_SIZE_H
#include <stdio.h>

/* Bytes of address space the process uses now. */
static inline size_t vm_size(void) {
        FILE *fp = fopen("/proc/self/statm", "r");
        size_t pages = 0;
        if (fp) {
                if (fscanf(fp, "%zu", &pages) != 1)
                        pages = 0;
                fclose(fp);
        }
        return pages * 4096;
}
#endif
