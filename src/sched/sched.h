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
#include "runtime/rt.h"
#include "spec/registry.h"

struct sched;

struct sched_opts {
    uv_loop_t *loop;
    const struct frost_config *cfg;
    struct spec_registry *reg;
    struct rt *rt;
    struct http_client *client;
    struct gpu *gpu; /* GPU capacity; NULL = none */
};

FROST_WUR int sched_new(const struct sched_opts *o, struct sched **out, struct frost_err *err);
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

/* The function's document changed: idle instances of the old revision stop
 * now, busy ones after their requests. */
void sched_function_changed(struct sched *s, const char *name);
/* The function is gone: its queued requests get FunctionNotFound and its
 * instances stop (after their requests). */
void sched_function_deleted(struct sched *s, const char *name);

/* {"ready": n, "starting": n, "busy": n, "inFlight": n, "queued": n} for a
 * function (new reference; zeros when it has no pool). */
json_t *sched_function_status(struct sched *s, const char *name);

/* Stops accepting work: queued requests are answered 503. */
void sched_shutdown(struct sched *s);

#endif
