/* clock.c - the time in milliseconds, and deadlines for condition variables. */
#include "clock.h"

long long svc_clock_ms(clockid_t clk) {
        struct timespec ts;
        clock_gettime(clk, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec svc_clock_after(clockid_t clk, long long ms) {
        struct timespec ts;
        clock_gettime(clk, &ts);
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}
