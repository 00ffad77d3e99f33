/* ratelimit.h - token buckets shared by every process of a host: /collect's budgets per
 * write key and per client address (docs/configuration.md, docs/operations.md). The
 * buckets live in one file under METRICS_DIR, mapped into memory by each process that
 * asks (pooled or one CGI request), as the metrics files are; a process-shared robust
 * mutex in the file guards them, so a process killed while holding it costs nothing.
 * The table is bounded (SVC_RATELIMIT_SLOTS buckets); an identity is only a 64-bit hash. */
#ifndef SVC_RATELIMIT_H
#define SVC_RATELIMIT_H
#include <stddef.h>
#include <stdint.h>

#define SVC_RATELIMIT_SLOTS 32768 /* buckets in the table: keys and addresses at once */
#define SVC_RATELIMIT_PROBES 8    /* buckets looked at for one identity */

typedef struct svc_ratelimit svc_ratelimit_t; /* opaque */

/* One bucket to draw from. */
struct svc_ratelimit_ask {
        uint64_t id;    /* who: a hash, never 0 */
        uint32_t rate;  /* tokens per second, >= 1 */
        uint32_t burst; /* tokens the bucket holds, >= 1 */
        uint32_t cost;  /* tokens this request takes */
};

/**
 * @brief Opens the host's table: dir/limits.buckets, created when missing (made whole
 *        under a temporary name, then put in place), or, when dir is NULL, a table of this
 *        process alone.
 * @returns the table, or NULL with errstr.
 */
svc_ratelimit_t *svc_ratelimit_open(const char *dir, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/**
 * @brief Takes every ask's cost from its bucket, all or none, at now_us (CLOCK_MONOTONIC
 *        microseconds, svc_ratelimit_now_us()). A bucket refills at its rate up to its
 *        burst; a new one starts full. When the table is full the bucket that would be
 *        full soonest is given to the new identity.
 * @returns 1 when taken; 0 when one does not fit, *retry_after_s then the whole seconds
 *          (at least 1) until all would fit, and *refused the index of the first ask that
 *          did not.
 */
int svc_ratelimit_take(svc_ratelimit_t *rl, const struct svc_ratelimit_ask *asks, size_t ask_cnt,
                       int64_t now_us, unsigned *retry_after_s, size_t *refused);

/** @brief CLOCK_MONOTONIC in microseconds: the same clock for every process of the host. */
int64_t svc_ratelimit_now_us(void);

/** @brief Unmaps the table (the file stays). NULL is a no-op. */
void svc_ratelimit_close(svc_ratelimit_t *rl);
#endif
