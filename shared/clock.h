/* clock.h - the time in milliseconds, and deadlines for pthread_cond_timedwait(). */
#ifndef SVC_CLOCK_H
#define SVC_CLOCK_H

#include <time.h>

/** @brief clk's time in milliseconds: CLOCK_MONOTONIC for ages and timeouts. */
long long svc_clock_ms(clockid_t clk);

/**
 * @brief The time ms milliseconds from now on clk, as pthread_cond_timedwait() takes it
 *        (clk is the condition variable's clock: CLOCK_REALTIME unless set otherwise).
 */
struct timespec svc_clock_after(clockid_t clk, long long ms);

#endif
