/* Workload-aware dispatch and on-demand scaling.
 *
 * Each function has a pool: its instances, each with `instanceConcurrency`
 * slots, and one FIFO queue of requests waiting for a slot. A request goes to
 * a ready instance with a free slot — fewest requests in flight first, the
 * most recently used on ties (so the others stay idle and can be released) —
 * or waits in the queue; a slot freeing up serves the head of the queue at
 * once. There are no per-instance queues, so a slow request never holds up
 * one that a free instance could serve.
 *
 * Demand the pool cannot absorb (queued requests beyond the slots of the
 * instances already starting) starts instances, within the function's
 * reserved concurrency and the node's capacity. An instance idle for the
 * keep-alive is stopped: on-demand pools scale to zero.
 *
 * When a function's code or configuration changes, new requests go to
 * instances of the new revision and the old ones stop once their requests
 * are done.
 *
 * Loop thread only. */
#ifndef FROST_SCHED_SCHED_H
#define FROST_SCHED_SCHED_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "http/client.h"
#include "http/server.h"
#include "gpu/gpu.h"
#include "metrics/metrics.h"
#include "runtime/rt.h"
#include "spec/registry.h"

struct sched;

struct sched_opts {
    uv_loop_t *loop;
    const struct frost_config *cfg;
    struct spec_registry *reg;
    struct rt *rt;
    struct http_client *client;
    struct gpu *gpu;         /* GPU capacity; NULL = none */
    struct metrics *metrics; /* invocation counters; NULL = none */
};

FROST_WUR int sched_new(const struct sched_opts *o, struct sched **out, struct frost_err *err);
struct meter;
/* Invocations are counted for bills by m from now on (the meter opens with
 * the store, after the scheduler); NULL stops it. */
void sched_set_meter(struct sched *s, struct meter *m);
void sched_free(struct sched *s);

/* What reaches the instance. */
enum sched_kind {
    SCHED_INVOKE,  /* InvokeFunction: POST /invoke with the FC headers */
    SCHED_TRIGGER, /* HTTP trigger: the client's method, path and query */
};

struct sched_call {
    enum sched_kind kind;
    const char *target; /* SCHED_TRIGGER: "/path?query" the instance sees */
    bool log_tail;      /* x-fc-log-type: Tail: x-fc-log-result on the answer */
    const char *body;   /* a body already read (and checked) by the caller, or NULL */
    size_t body_len;
};

/* Serves req with function `name` (which must exist in the registry). The
 * answer, including every error, is sent by the scheduler. */
void sched_dispatch(struct sched *s, const char *name, struct http_request *req,
                    const struct sched_call *c);

/* ---- calls without a client connection (async tasks, destinations) ----
 *
 * A job is an InvokeFunction call the scheduler runs on behalf of another
 * module: it is queued, placed and dispatched like a client's request
 * (instances start for it, GPUs are never over-committed), but it waits in
 * the function's job queue, behind the client requests waiting at the same
 * time, with no deadline of its own (the owner stops it when it wants).
 * The instance sees POST /invoke with the usual x-fc-* headers. */
struct sched_job;

#define SCHED_JOB_BODY_MAX (1u << 20) /* more of the answer is counted, not kept */

struct sched_job_opts {
    const char *request_id; /* x-fc-request-id the instance sees (copied) */
    const char *body;       /* the event (copied) */
    size_t body_len;
    const struct http_header *headers; /* extra request headers (copied), e.g. x-fc-async-task-id */
    size_t n_headers;
    /* Runs when the job leaves the queue for an instance (may be NULL). */
    void (*on_start)(struct sched_job *j, const char *instance_id, void *ud);
};

struct sched_job_result {
    /* The function's answer: its HTTP status, 0 when there was none. */
    int status;
    const char *body; /* valid during the call; at most SCHED_JOB_BODY_MAX bytes */
    size_t body_len;
    uint64_t body_total; /* bytes the function sent */
    /* Set when the function answered with an x-fc-error-type header (a
     * handled function error), else NULL. */
    const char *fn_error_type;
    /* Set when there was no answer: FC-style code ("FunctionTimeout",
     * "FunctionCrashed", "InstanceStartFailed", "FunctionInitializationError",
     * "ResourceExhausted", "FunctionNotFound", "ServiceUnavailable",
     * "Stopped"), the x-fc-error-type it maps to and a message. NULL/"" otherwise. */
    const char *error_code;
    const char *error_type;
    const char *message;
    const char *instance_id; /* "" when it never reached an instance */
    uint64_t queued_ms;      /* waiting for a slot */
    uint64_t run_ms;         /* on the instance */
};

typedef void (*sched_job_fn)(struct sched_job *j, const struct sched_job_result *r, void *ud);

/* Queues a job for function `name`. done runs exactly once, on the loop and
 * never before this returns; the job is freed after it. Fails (done will not
 * run) with 404 FunctionNotFound, 503 when shutting down, 500 out of memory. */
FROST_WUR int sched_submit(struct sched *s, const char *name, const struct sched_job_opts *o,
                           sched_job_fn done, void *ud, struct sched_job **out,
                           struct frost_err *err);

/* Stops a job: a queued one leaves the queue; a running one has its request
 * aborted, and an instance with a single slot (which cannot abandon work) is
 * recycled so the work really stops. done follows with error_code "Stopped"
 * (on the loop, never inside this call). Calling it again, or after done, is
 * not allowed. */
void sched_job_stop(struct sched_job *j);

/* The function's document changed: idle instances of the old revision stop
 * now, busy ones after their requests. */
void sched_function_changed(struct sched *s, const char *name);
/* The function is gone: its queued requests get FunctionNotFound and its
 * instances stop (after their requests). */
void sched_function_deleted(struct sched *s, const char *name);

/* {"ready": n, "starting": n, "busy": n, "inFlight": n, "queued": n,
 * "jobsQueued": n, "frozen": n, "thawing": n, "provisioned": n} for a
 * function (new reference; zeros when it has no pool). */
json_t *sched_function_status(struct sched *s, const char *name);

/* ---- provisioned instances ----
 *
 * A function with a provision config keeps `target` provisioned instances
 * (defaultTarget, changed by scheduled actions and target-tracking policies,
 * evaluated every sched.scale_interval by src/scale). They never stop for
 * being idle; with idle mode (alwaysAllocateGPU: false) an instance with no
 * request for sched.freeze_delay is checkpointed (its GPU memory goes back to
 * the pool) and frozen, and a request thaws it. Requests prefer provisioned
 * instances, then on-demand ones. A code or configuration change replaces
 * provisioned instances without going below the target: new ones start, old
 * ones drain once the new ones are ready. */

/* The provision config of the function changed or was removed (the
 * registry already holds the new one). */
void sched_provision_changed(struct sched *s, const char *name);

struct sched_provision_status {
    int target;       /* in force now */
    int current;      /* provisioned instances ready (active, idle or frozen) */
    int starting;     /* provisioned instances starting */
    int frozen;       /* of current: frozen */
    char source[160]; /* what set the target: "defaultTarget", "scheduledAction:NAME", … */
    char reason[256]; /* the autoscaler's last decision, or "" */
    char error[512];  /* why current is below target, or "" */
};
void sched_provision_status(struct sched *s, const char *name, struct sched_provision_status *out);

/* Stops accepting work: queued requests are answered 503. */
void sched_shutdown(struct sched *s);

#endif
