/* metrics_int.h - what the files of the metrics module share, and nothing else may use:
 * the layout of a counters file (metrics.c writes this process's, metrics_store.c sums
 * them all), the snapshot, and the histogram bounds the two renderings show
 * (metrics_prom.c, metrics_home.c). */
#ifndef SVC_METRICS_INT_H
#define SVC_METRICS_INT_H
#include <stddef.h>
#include <stdint.h>

#include "http_status.h"
#include "metrics.h"

/* The layout below, as readers check it: change the digits whenever it changes (a file of
 * another layout is not read; the archive then starts from zero, a counter reset). */
#define METRICS_MAGIC "SVCMET05"

/* The statuses the handlers answer, in http_status.c's order, and code="other". */
#define CODE_CNT (SVC_HTTP_STATUS_CNT + 1)

/* Histogram bounds, in microseconds, for HTTP answers and Kafka acknowledgements alike:
 * from a fast acknowledgement (~1 ms) to KAFKA_TIMEOUT_MS (5 s by default) and beyond;
 * the last bucket is +Inf (metrics.c). */
#define BUCKET_CNT 15
extern const uint64_t svc_metrics_bucket_us[BUCKET_CNT - 1];
extern const char *const svc_metrics_bucket_le[BUCKET_CNT]; /* as Prometheus shows them */
extern const char *const svc_metrics_ep_path[SVC_METRICS_EP_CNT];

/* Counter slots: each family a flat array. */
enum {
        C_HTTP = 0,                                                   /* [ep][code] */
        C_HTTP_BUCKET = C_HTTP + SVC_METRICS_EP_CNT * CODE_CNT,       /* [ep][bucket] */
        C_HTTP_SUM = C_HTTP_BUCKET + SVC_METRICS_EP_CNT * BUCKET_CNT, /* [ep], us */
        C_EVENTS = C_HTTP_SUM + SVC_METRICS_EP_CNT,                   /* [ep][outcome] */
        C_ACK_BUCKET = C_EVENTS + SVC_METRICS_EP_CNT * SVC_METRICS_OUTCOME_CNT,
        C_ACK_SUM = C_ACK_BUCKET + BUCKET_CNT, /* us */
        C_TXN_BUCKET = C_ACK_SUM + 1,          /* the consumer's transactions */
        C_TXN_SUM = C_TXN_BUCKET + BUCKET_CNT, /* us */
        C_ENDED = C_TXN_SUM + 1,               /* processes folded (archive) */
        C_PLAIN = C_ENDED + 1,                 /* [svc_metrics_counter_t] */
        C_SLOTS = C_PLAIN + SVC_METRICS_COUNTER_CNT
};
enum {
        G_INFLIGHT = 0,                            /* [ep] */
        G_PLAIN = G_INFLIGHT + SVC_METRICS_EP_CNT, /* [svc_metrics_gauge_t] */
        G_SLOTS = G_PLAIN + SVC_METRICS_GAUGE_CNT
};

/* One file, as it is on disk and in memory. */
struct block {
        char magic[8];        /* METRICS_MAGIC */
        uint32_t size;        /* sizeof(struct block) */
        uint32_t per_request; /* cgi.metrics */
        int64_t pid;
        int64_t started_ms; /* epoch */
        char kind[32];
        uint64_t gauge_set; /* a bit per gauge slot the process has set */
        int64_t gauges[G_SLOTS];
        uint64_t counters[C_SLOTS];
};

/* A live process with a file of its own. */
struct proc {
        char kind[32];
        int64_t pid, started_ms;
};

struct svc_metrics_snap {
        uint64_t counters[C_SLOTS]; /* every process, ended ones included */
        int64_t gauges[G_SLOTS];    /* the live ones */
        uint64_t gauge_set;
        struct proc *procs; /* live processes with a file of their own */
        size_t proc_cnt;
        long long spool_records, spool_bytes; /* -1: no spool */
};

/** @brief 1 when b is of this build's layout. */
int svc_metrics_is_ours(const struct block *b);

/** @brief Maps a counters file; NULL when it cannot be. */
struct block *svc_metrics_map_block(int fd, int prot);

/** @brief Takes METRICS_DIR's lock: returns its fd (close to let go), or -1 with errstr. */
int svc_metrics_lock_dir(const char *dir, char *errstr, size_t errstr_size);

/**
 * @brief Under the directory's lock: folds every ended process's file into the archive,
 *        and when snap is not NULL sums everything into it.
 * @returns 0, or -1 with errstr (the directory cannot be read; a failure to store the
 *          archive only keeps the ended files for the next try, their counts in snap).
 */
int svc_metrics_fold_locked(const char *dir, svc_metrics_snap_t *snap, char *errstr,
                            size_t errstr_size);

/* The events of endpoint ep with outcome o, in a snapshot. */
static inline uint64_t svc_metrics_events_of(const svc_metrics_snap_t *snap, int ep,
                                             svc_metrics_outcome_t o) {
        return snap->counters[C_EVENTS + (size_t)ep * SVC_METRICS_OUTCOME_CNT + o];
}
#endif
