/* heap.h - what the C library's allocator holds for the process: bytes the program has
 * allocated, and bytes freed but kept by the allocator; and giving the kept pages back.
 * The long-running processes print both figures in their stats lines, so a growing
 * resident size can be told apart: a leak grows the first, memory kept after a burst the
 * second (docs/operations.md, "Soak"). */
#ifndef SVC_HEAP_H
#define SVC_HEAP_H

#include <stddef.h>

/* The allocator's figures, in bytes, over all its arenas. */
struct svc_heap {
        size_t used_bytes; /* allocated and not freed, large (mmap) blocks included */
        size_t free_bytes; /* freed, kept in the arenas for later allocations */
};

/** @brief Fills *heap from the allocator (glibc's mallinfo2()); zeros where it has none. */
void svc_heap_get(struct svc_heap *heap);

/**
 * @brief When the allocator keeps more than keep_bytes freed, gives the free pages of
 *        every arena back to the system (glibc's malloc_trim()).
 * @returns 1 when it trimmed, 0 when there was not that much to give back.
 */
int svc_heap_trim(size_t keep_bytes);

/**
 * @brief Makes every thread of the process allocate from one arena (glibc's
 *        M_ARENA_MAX = 1). Call it first thing in main(), before any thread starts.
 *
 * glibc gives each thread that allocates its own arena, and svc_heap_trim() cannot give
 * back the top of an arena other than the main one: in a process whose threads take
 * turns with bursts (the forwarder's replays), those tops stay resident after every
 * burst. With one arena the trim gives everything free back; the cost is a lock shared
 * by the threads, which matters only where many threads allocate at once.
 */
void svc_heap_one_arena(void);

#endif
