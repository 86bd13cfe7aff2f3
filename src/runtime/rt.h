/* Instances: running copies of a function. The runtime starts a function's
 * web server through `frost __exec` in its own cgroup, waits until it is
 * ready (TCP or HTTP health check, then POST /initialize), tells its owner,
 * watches it (health checks, exit, OOM), freezes and thaws it, and stops it
 * (GET /pre-stop, SIGTERM, SIGKILL of the whole cgroup) so that no process
 * of it survives.
 *
 * The scheduler asks for "an instance of F" and gets back an endpoint to
 * send requests to; it never sees pids or ports.
 *
 * Loop thread only. */
#ifndef FROST_RUNTIME_RT_H
#define FROST_RUNTIME_RT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "http/client.h"

struct rt;
struct rt_instance;

enum rt_state {
    RT_STARTING,     /* spawned, waiting for the health check */
    RT_INITIALIZING, /* POST /initialize in flight */
    RT_READY,
    RT_STOPPING,
    RT_STOPPED,
    RT_FAILED,
};

enum rt_event {
    RT_EV_READY,   /* can take requests */
    RT_EV_FAILED,  /* did not become ready, or died: rt_instance_error says why */
    RT_EV_STOPPED, /* gone (after rt_stop or after a failure): the instance is freed
                      when the callback returns */
};

typedef void (*rt_event_fn)(struct rt_instance *inst, enum rt_event ev, void *ud);

/* What an instance is doing, finer than rt_state: the runtime moves it
 * through starting/initializing/stopping/stopped/failed, the scheduler
 * refines READY into active (a request in flight), idle, and the idle-mode
 * states freezing, frozen and thawing. The time spent in each phase is kept
 * per instance, and every transition is reported to phase observers (the
 * meter bills from them). */
enum rt_phase {
    RT_PH_STARTING,
    RT_PH_INITIALIZING,
    RT_PH_ACTIVE,
    RT_PH_IDLE,
    RT_PH_FREEZING,
    RT_PH_FROZEN,
    RT_PH_THAWING,
    RT_PH_STOPPING,
    RT_PH_STOPPED,
    RT_PH_FAILED,
    RT_PH_COUNT
};

/* "starting", "initializing", "ready/active", "ready/idle", "freezing",
 * "frozen", "thawing", "stopping", "stopped", "failed". */
const char *rt_phase_name(enum rt_phase p);

struct rt_phase_event {
    const struct rt_instance *inst;
    const char *instance_id;
    const char *function;
    const char *kind; /* "on-demand", "provisioned" or "provisioned-idle" (idle mode) */
    enum rt_phase from, to;
    uint64_t at_ms; /* wall clock, ms since the epoch */
    /* Resources held from this transition on. */
    double cpu;             /* vCPUs */
    uint64_t memory_mb;     /* memory limit */
    uint64_t gpu_memory_mb; /* GPU memory on a device (0 while frozen: released) */
    const char *gpu_type;   /* device type ("T4", "generic"…), NULL without a GPU */
};

typedef void (*rt_phase_fn)(const struct rt_phase_event *e, void *ud);

/* Adds an observer called synchronously on the loop for every phase
 * transition of every instance, including the first (from == to ==
 * RT_PH_STARTING when an instance is created) and the last (to
 * RT_PH_STOPPED or RT_PH_FAILED… then RT_PH_STOPPED). At most 4. */
FROST_WUR int rt_on_phase(struct rt *rt, rt_phase_fn fn, void *ud, struct frost_err *err);

struct rt_opts {
    uv_loop_t *loop;
    const struct frost_config *cfg;
    struct http_client *client; /* for probes and hooks */
    const char *exe;            /* this binary, for __exec (NULL = /proc/self/exe) */
};

/* Detects cgroups (degrading with a warning when they are unusable), looks up
 * the function user, and stops what a previous Frost left running (found
 * through its cgroups). */
FROST_WUR int rt_new(const struct rt_opts *o, struct rt **out, struct frost_err *err);

/* Stops every instance (pre-stop hooks honoured), then calls done. */
void rt_shutdown(struct rt *rt, void (*done)(void *ud), void *ud);
void rt_free(struct rt *rt);

/* What the host can do, for logs and docs: "cgroup v2", "hybrid", "none"… */
const char *rt_isolation(const struct rt *rt);

struct rt_start_opts {
    const char *function_name;
    const json_t *fn;       /* the function document (read during the call only) */
    const char *code_dir;   /* unpacked code, or NULL */
    const char *kind;       /* "on-demand" or "provisioned" (shown in ListInstances) */
    char *const *extra_env; /* "K=V" strings added last (GPU assignment); NULL-terminated or NULL */
    uint64_t gpu_memory_mb; /* GPU memory it holds (for phase events), 0 = none */
    const char *gpu_type;   /* its device type, or NULL */
};

/* Starts an instance. cb gets RT_EV_READY or RT_EV_FAILED, later
 * RT_EV_FAILED if it dies, and always RT_EV_STOPPED last. Errors returned
 * here (bad command, no free port…) mean nothing was started and cb will not
 * run. */
FROST_WUR int rt_start(struct rt *rt, const struct rt_start_opts *o, rt_event_fn cb, void *ud,
                       struct rt_instance **out, struct frost_err *err);

/* Asks the instance to stop (idempotent). RT_EV_STOPPED follows. */
void rt_stop(struct rt_instance *inst);

/* Freezes (cgroup freezer; SIGSTOP without cgroups) or thaws; done runs with
 * status 0 once the kernel reports the new state, or < 0. */
void rt_freeze(struct rt_instance *inst, void (*done)(struct rt_instance *, int status, void *),
               void *ud);
void rt_thaw(struct rt_instance *inst, void (*done)(struct rt_instance *, int status, void *),
             void *ud);

/* The scheduler's refinement of RT_READY: RT_PH_ACTIVE, RT_PH_IDLE,
 * RT_PH_FREEZING, RT_PH_FROZEN or RT_PH_THAWING. Ignored unless the instance
 * is READY. gpu_memory_mb: GPU memory held from now on (frozen instances
 * release theirs). */
void rt_instance_set_phase(struct rt_instance *inst, enum rt_phase p, uint64_t gpu_memory_mb);
enum rt_phase rt_instance_phase(const struct rt_instance *inst);
/* Milliseconds spent in phase p so far (the current phase up to now). */
uint64_t rt_instance_phase_ms(const struct rt_instance *inst, enum rt_phase p);

const char *rt_instance_id(const struct rt_instance *inst);
pid_t rt_instance_pid(const struct rt_instance *inst); /* its main process, 0 before spawn */
/* Cumulative CPU time of its cgroup in µs; -1 when unknown (no cgroup). Reads cgroupfs. */
int64_t rt_instance_cpu_usage_us(const struct rt_instance *inst);
const char *rt_instance_function(const struct rt_instance *inst);
enum rt_state rt_instance_state(const struct rt_instance *inst);
const char *rt_state_name(enum rt_state s);
bool rt_instance_frozen(const struct rt_instance *inst);
const struct http_endpoint *rt_instance_endpoint(const struct rt_instance *inst);
/* Why it failed ("exited with code 3", "killed by the OOM killer (memory limit
 * 128 MB)", "initializer returned 500: …"), or "". */
const char *rt_instance_error(const struct rt_instance *inst);
/* The last bytes of the instance's output (for x-fc-log-type: Tail). */
size_t rt_instance_log_tail(const struct rt_instance *inst, char *out, size_t max);
/* The last cold-start phase, known to the scheduler: from the first
 * request's dispatch to its first response byte. Kept once. */
void rt_instance_note_first_byte(struct rt_instance *inst, uint64_t us);

/* Idle mode: a wake-up (thaw + GPU restore) took total_us, of which copy_us
 * was the (modelled) GPU memory copy. Shown in ListInstances. */
void rt_instance_note_wake(struct rt_instance *inst, uint64_t total_us, uint64_t copy_us);

/* ListInstances entry: FC's fields plus Frost's. New reference. */
json_t *rt_instance_json(const struct rt_instance *inst);

/* Clears the start backoff of a function (its code or configuration changed). */
void rt_forget_failures(struct rt *rt, const char *function_name);

/* Calls each(inst, ud) for the instances of a function (all when NULL). */
void rt_each(struct rt *rt, const char *function_name,
             void (*each)(struct rt_instance *inst, void *ud), void *ud);

/* Where the logs of a function's instances are: <data-dir>/logs/<function>. */
void rt_log_dir(const struct rt *rt, const char *function_name, char *out, size_t len);

#endif
