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

const char *rt_instance_id(const struct rt_instance *inst);
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
