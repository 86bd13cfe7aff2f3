/* Durable asynchronous invocations ("async tasks", FC 3.0).
 *
 * A submitted task is acknowledged only once it is on disk (the store's
 * group commit). It then waits in its function's queue, runs through the
 * scheduler like a client request (so GPUs are never over-committed and
 * capacity is shared), is retried with backoff on function errors, crashes and
 * timeouts (maxAsyncRetryAttempts), expires when it waits longer than
 * maxAsyncEventAgeInSeconds, can be stopped, and ends in exactly one terminal
 * status; its outcome then goes to the destination of the function's async
 * invoke config (another function, as a new task, or an http(s) webhook).
 *
 * All live state is in memory (loaded from the store at start-up); every
 * change of a task is written through the store. After a crash, Enqueued and
 * Retrying tasks run again, Running ones count the lost attempt and are
 * retried or fail, Stopping ones are Stopped, and destinations not yet
 * delivered are delivered (at least once).
 *
 * Loop thread only. */
#ifndef FROST_ASYNC_ASYNC_H
#define FROST_ASYNC_ASYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "base/util.h"
#include "sched/sched.h"
#include "spec/registry.h"
#include "store/store.h"

#define ASYNC_PAYLOAD_MAX (128u << 10) /* FC's limit for an async invocation's payload */

/* How tasks reach instances: the scheduler, or a stand-in in unit tests.
 * submit/stop follow sched_submit/sched_job_stop's contract. */
struct async_runner {
    int (*submit)(void *ctx, const char *fn, const struct sched_job_opts *o, sched_job_fn done,
                  void *ud, struct sched_job **out, struct frost_err *err);
    void (*stop)(void *ctx, struct sched_job *j);
    void *ctx;
};

struct async_opts {
    uv_loop_t *loop;
    struct store *store;               /* borrowed; tasks are loaded from it in async_new */
    struct spec_registry *reg;         /* borrowed; functions and their async invoke configs */
    struct sched *sched;               /* borrowed; used when runner is NULL */
    const struct async_runner *runner; /* NULL = the scheduler */
    const char *region;                /* for functionArn */
    const char *account_id;
    /* Tuning; 0 = the default in brackets. */
    uint64_t retry_base_ms;      /* backoff before retry n is base * 2^(n-1), capped [1000] */
    uint64_t retry_max_ms;       /* [300000] */
    uint64_t tick_ms;            /* how often waits are checked [200] */
    uint64_t retention_ms;       /* finished tasks are deleted this long after the end [3 days] */
    size_t max_finished;         /* per function; the oldest finished go first [100000] */
    size_t window;               /* tasks waiting inside the scheduler per function [64] */
    uint64_t webhook_timeout_ms; /* per POST [10000] */
    int webhook_attempts;        /* [4] */
    bool no_webhooks;            /* unit tests: webhook destinations fail at once */
    /* Wall clock in ms; NULL = the real one (tests move time). */
    int64_t (*now_ms)(void *ud);
    void *now_ud;
};

struct async;

/* Loads every task from the store (synchronously: before serving) and
 * recovers those a crash interrupted. Dispatching starts once the loop runs
 * (the registry must be loaded by then). */
FROST_WUR int async_new(const struct async_opts *o, struct async **out, struct frost_err *err);

/* Stops dispatching and puts running tasks back in the queue (durably,
 * without counting an attempt), so a restart picks them up. Call before
 * sched_shutdown; writes are flushed by store_close. */
void async_shutdown(struct async *a);

/* Frees everything. Its handles close, so the loop must run once more
 * afterwards (the server's final uv_walk + uv_run). NULL is fine. */
void async_free(struct async *a);

/* ---- submitting ---- */

struct async_submit {
    const char *fn;
    const char *task_id;    /* caller's id (idempotency key), or NULL/"" */
    const char *request_id; /* this invocation's request id; also the id when none is given */
    const char *payload;
    size_t payload_len;
};

struct async_ack {
    const char *task_id;
    const char *request_id; /* of the invocation that created the task */
    bool existing;          /* the id was already known: no new task */
};

/* status 0: durable; < 0: not stored (msg says why; the task does not exist). */
typedef void (*async_submit_fn)(void *ud, int status, const struct async_ack *ack, const char *msg);

/* Accepts a task. Returns 0 when done will run (on the loop, after this
 * returns) once the task is durable or failed to be; 1 when a durable task
 * with this id already exists (*ack filled, valid until the loop next runs;
 * done will not run); -1 with err (400 bad id, 413 payload over
 * ASYNC_PAYLOAD_MAX, 503 shutting down, 500 out of memory). A second submit
 * of an id whose first one is not yet durable waits for it. */
FROST_WUR int async_submit(struct async *a, const struct async_submit *s, async_submit_fn done,
                           void *ud, struct async_ack *ack, struct frost_err *err);

/* FC's rule for x-fc-async-task-id: a letter or '_', then letters, digits,
 * '_' and '-', at most 128 in all. */
bool async_task_id_valid(const char *id);

/* ---- reading ---- */

/* FC's AsyncTask object (new reference), or NULL with err 404
 * AsyncTaskNotFound. */
json_t *async_get(struct async *a, const char *fn, const char *id, struct frost_err *err);

/* "Dequeued" is accepted as a filter: every task that has left the queue. */
#define ASYNC_STATUS_DEQUEUED (-2)
#define ASYNC_STATUS_ANY      (-1)

/* A status word of the API ("Running", "Dequeued", …) as a list filter, or
 * -3 when it is not one. */
int async_status_filter(const char *s);

struct async_list_opts {
    int status;         /* enum task_status, ASYNC_STATUS_ANY or ASYNC_STATUS_DEQUEUED */
    const char *prefix; /* of the task id; NULL/"" = all */
    int64_t begin_ms;   /* startedTime >= begin (0 = no bound) */
    int64_t end_ms;     /* startedTime <= end (0 = no bound) */
    bool descending;    /* newest first */
    size_t limit;       /* 1..100 */
    const char *token;  /* nextToken of the previous page, or NULL/"" */
    bool with_payload;
};

/* {"tasks": [...], "nextToken": "..."} (new reference), ordered by
 * (startedTime, taskId). -1 with err: 400 for a malformed token. */
FROST_WUR int async_list(struct async *a, const char *fn, const struct async_list_opts *o,
                         json_t **out, struct frost_err *err);

/* ---- stopping ---- */

/* status 0: the new state is durable; task is the AsyncTask object
 * (borrowed during the call). < 0: the write failed (msg). */
typedef void (*async_stop_fn)(void *ud, int status, json_t *task, const char *msg);

/* Stops a task: a waiting one becomes Stopped at once; a running one becomes
 * Stopping, its request is aborted (the scheduler recycles an instance that
 * cannot abandon work), then Stopped. done runs once the change is durable.
 * -1 with err: 404 AsyncTaskNotFound, 409 AsyncTaskAlreadyFinished (a
 * terminal task), 503 shutting down. A task already Stopping answers at once
 * through done as well. */
FROST_WUR int async_stop(struct async *a, const char *fn, const char *id, async_stop_fn done,
                         void *ud, struct frost_err *err);

/* One round of the periodic work now: recovery after loading (the first
 * time), due retries, expiry, destinations, retention, dispatch. The timer
 * does this every tick_ms; unit tests call it to step deterministically. */
void async_tick(struct async *a);

/* ---- observability ---- */

struct async_counts {
    uint64_t by_status[9];           /* indexed by enum task_status (TASK_NSTATUS entries) */
    uint64_t oldest_enqueued_age_ms; /* 0 when nothing waits */
};

/* Counts of one function's tasks (zeros when it has none). */
void async_counts(struct async *a, const char *fn, struct async_counts *out);

/* Calls each(ud, fn, counts) for every function that has tasks. */
void async_each_function(struct async *a,
                         void (*each)(void *ud, const char *fn, const struct async_counts *c),
                         void *ud);

/* {"functionName", "counts": {"Enqueued": n, ...}, "oldestEnqueuedAgeMs": n}
 * (new reference). */
json_t *async_stats_json(struct async *a, const char *fn);

/* A metrics collector (metrics_add_collector with ud = the async object):
 * frost_async_tasks{function,status} and
 * frost_async_oldest_queued_age_seconds{function}. */
struct metrics_writer;
void async_metrics_collect(struct metrics_writer *w, void *ud);

#endif
