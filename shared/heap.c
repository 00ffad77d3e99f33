/* heap.c - the allocator's figures for the stats lines, and giving its free pages back
 * (heap.h). Thread-safe: mallinfo2() and malloc_trim() lock each arena in turn. */
#include "heap.h"

#include <malloc.h>
#include <string.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define HAVE_MALLINFO2 1
#endif

void svc_heap_get(struct svc_heap *heap) {
        memset(heap, 0, sizeof(*heap));
#ifdef HAVE_MALLINFO2
        struct mallinfo2 mi = mallinfo2();
        heap->used_bytes = mi.uordblks + mi.hblkhd;
        heap->free_bytes = mi.fordblks;
#endif
}

int svc_heap_trim(size_t keep_bytes) {
        struct svc_heap heap;

        svc_heap_get(&heap);
        if (heap.free_bytes <= keep_bytes)
                return 0;
        malloc_trim(0);
        return 1;
}

void svc_heap_one_arena(void) {
#ifdef M_ARENA_MAX
        mallopt(M_ARENA_MAX, 1);
#endif
}
