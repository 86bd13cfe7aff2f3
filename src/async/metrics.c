/* The async module's /metrics families (names reserved in docs/metrics.md). */
#include <stdio.h>

#include "async/async.h"
#include "async/task.h"
#include "metrics/metrics.h"

struct emit {
    struct metrics_writer *w;
    int pass; /* 0: tasks by status, 1: oldest enqueued age */
};

static void each(void *ud, const char *fn, const struct async_counts *c)
{
    struct emit *e = ud;
    if (e->pass == 1) {
        struct metrics_label l[1] = {{"function", fn}};
        metrics_sample(e->w, l, 1, (double)c->oldest_enqueued_age_ms / 1000.0);
        return;
    }
    for (int s = 0; s < TASK_NSTATUS; s++) {
        struct metrics_label l[2] = {{"function", fn},
                                     {"status", task_status_name((enum task_status)s)}};
        metrics_sample_u64(e->w, l, 2, c->by_status[s]);
    }
}

void async_metrics_collect(struct metrics_writer *w, void *ud)
{
    struct async *a = ud;
    struct emit e = {w, 0};
    metrics_family(w, "frost_async_tasks", METRICS_GAUGE, "Async tasks by function and status.");
    async_each_function(a, each, &e);
    e.pass = 1;
    metrics_family(w, "frost_async_oldest_queued_age_seconds", METRICS_GAUGE,
                   "Age of the oldest Enqueued async task of a function (0 when none).");
    async_each_function(a, each, &e);
}
