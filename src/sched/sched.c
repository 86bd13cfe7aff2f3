#include "sched/sched.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/log.h"
#include "http/proxy.h"
#include "meter/meter.h"
#include "runtime/logs.h"
#include "scale/scale.h"
#include "spec/spec.h"

#define POOL_BUCKETS 256

struct pool;

enum ist {
    I_STARTING,
    I_READY,    /* takes requests */
    I_FREEZING, /* idle mode: checkpoint, then cgroup freeze */
    I_FROZEN,
    I_THAWING, /* cgroup thaw, then restore */
    I_STOPPING,
};

struct inst {
    struct inst *next, *prev;
    struct pool *pool;
    struct rt_instance *rt;
    json_t *doc; /* the revision it runs */
    int slots;
    int in_flight;
    enum ist state;
    bool draining;    /* old revision, scaled in or deleted: takes nothing new, stops when empty */
    bool provisioned; /* kept by the provision target, never released for idleness */
    bool idle_mode;   /* provisioned with alwaysAllocateGPU false: freezes when idle */
    bool want_thaw;   /* a request came while it was freezing */
    uint64_t last_used_ms;
    uint64_t thaw_start_ns;
    double cpu;
    uint64_t memory;
    /* per-request header values, formatted once per instance */
    char tmo[16], mem[16];
    const char *handler, *checksum; /* point into doc */
    struct gpu_placement *gpu;      /* its GPU slice, or NULL */
    uv_timer_t idle;                /* keep-alive (on-demand) or freeze delay (idle mode) */
    /* CPU utilisation for target tracking: the last cgroup reading */
    int64_t cpu_us_prev;
    uint64_t cpu_at_ms;
};

/* A call waiting for or running on an instance: a client's request, or a
 * job (sched_submit) whose answer goes to a callback. */
struct sched_job {
    struct sched_job *next, *prev; /* the pool's queue, or the deferred list */
    struct pool *pool;
    struct inst *inst;
    struct http_request *req; /* client calls: NULL once the client is gone */
    struct sched_call c;
    uint64_t enqueued_ms;
    uint64_t deadline_ms;
    uint64_t arrived_ns, started_ns; /* metrics: latency and queue wait */
    bool queued;
    bool started;
    bool body_owned;
    char *target; /* SCHED_TRIGGER: the copied target (owned) */

    /* jobs only */
    bool is_job;
    bool stopped; /* sched_job_stop was called */
    bool done_pending;
    sched_job_fn done;
    void *ud;
    void (*on_start)(struct sched_job *j, const char *instance_id, void *ud);
    struct http_creq *creq;
    struct http_header *hdrs; /* caller's headers, copied (one block with their bytes) */
    size_t n_hdrs;
    char rid[64];
    int status;
    char *resp;
    size_t resp_len;
    uint64_t resp_total;
    char fn_error_type[64];
    char code[48], etype[48], msg[768], iid[64];
    uint64_t started_ms, ended_ms;
};

struct pool {
    struct pool *hnext;
    struct sched *s;
    char name[128];
    json_t *doc; /* current revision */
    struct inst *insts;
    int n_ready, n_starting, n_thawing, n_insts;
    int in_flight;
    struct sched_job *qhead, *qtail; /* client requests, FIFO with deadlines */
    int queued;
    struct sched_job *jhead, *jtail; /* jobs, FIFO, served after client requests */
    int jqueued;
    uv_timer_t qtimer; /* fires at the queue head's deadline */
    bool deleted;

    /* provisioned instances */
    json_t *prov; /* the provision config in force (a reference), or NULL */
    struct scale *scale;
    bool prov_idle; /* alwaysAllocateGPU false */
    int prov_target;
    char prov_source[160];
    char prov_reason[256];
    char prov_error[512];
    uv_timer_t ptimer; /* evaluates the target every sched.scale_interval */
    struct metrics_fn *mf;
    int closing; /* handles closed so far; freed after both */
};

struct sched {
    uv_loop_t *loop;
    const struct frost_config *cfg;
    struct spec_registry *reg;
    struct rt *rt;
    struct http_client *client;
    struct gpu *gpu;
    struct metrics *metrics;
    struct meter *meter; /* counts invocations for bills; NULL until set */
    struct pool *buckets[POOL_BUCKETS];
    double cpu_capacity, cpu_used;
    uint64_t mem_capacity, mem_used;
    bool shutting_down;
    /* jobs whose done runs on the next loop turn */
    struct sched_job *dhead, *dtail;
    uv_timer_t defer;
};

static void try_dispatch(struct pool *p);
static void maybe_scale(struct pool *p);
static void inst_stop(struct inst *in);
static void inst_settle(struct inst *in);
static void reconcile(struct pool *p);
static void kick_all(struct sched *s);
static void begin_thaw(struct inst *in);

/* ------------------------------------------------------------------ pools */

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % POOL_BUCKETS;
}

static struct pool *pool_find(struct sched *s, const char *name)
{
    for (struct pool *p = s->buckets[hash(name)]; p; p = p->hnext) {
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

static void on_qtimer(uv_timer_t *t);

static struct pool *pool_get(struct sched *s, const char *name)
{
    struct pool *p = pool_find(s, name);
    if (p)
        return p;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->s = s;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->mf = metrics_fn_get(s->metrics, name);
    uv_timer_init(s->loop, &p->qtimer);
    p->qtimer.data = p;
    uv_timer_init(s->loop, &p->ptimer);
    p->ptimer.data = p;
    unsigned h = hash(name);
    p->hnext = s->buckets[h];
    s->buckets[h] = p;
    return p;
}

static void pool_closed(uv_handle_t *h)
{
    struct pool *p = h->data;
    if (++p->closing < 2)
        return;
    json_decref(p->doc);
    json_decref(p->prov);
    scale_free(p->scale);
    metrics_fn_put(p->mf);
    free(p);
}

static void pool_close(struct pool *p)
{
    uv_close((uv_handle_t *)&p->qtimer, pool_closed);
    uv_close((uv_handle_t *)&p->ptimer, pool_closed);
}

/* A pool goes when its function is gone and nothing of it is left. */
static void pool_maybe_free(struct pool *p)
{
    if (!p->deleted || p->insts || p->qhead || p->jhead)
        return;
    struct sched *s = p->s;
    for (struct pool **pp = &s->buckets[hash(p->name)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == p) {
            *pp = p->hnext;
            break;
        }
    }
    pool_close(p);
}

static int fn_int(const json_t *doc, const char *k, int dflt)
{
    const json_t *v = json_object_get(doc, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static int timeout_s(const json_t *doc)
{
    return fn_int(doc, "timeout", SPEC_DEFAULT_TIMEOUT_S);
}

static int slots_of(const json_t *doc)
{
    return fn_int(doc, "instanceConcurrency", SPEC_DEFAULT_INSTANCE_CONCURRENCY);
}

/* reservedConcurrency caps requests in flight; -1 = no cap. */
static int reserved(struct pool *p)
{
    struct spec_fn *f = spec_registry_get(p->s->reg, p->name);
    if (!f || !f->concurrency)
        return -1;
    const json_t *v = json_object_get(f->concurrency, "reservedConcurrency");
    return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

static uint64_t keepalive_ms(struct pool *p)
{
    int idle = fn_int(p->doc, "idleTimeout", 0);
    return idle > 0 ? (uint64_t)idle * 1000 : p->s->cfg->sched.keepalive_ms;
}

/* ------------------------------------------------------------------ jobs */

/* One answered call for /metrics. */
static void count_call(struct sched_job *c, const char *error_type)
{
    uint64_t now = clock_mono_ns();
    uint64_t start = c->started_ns ? c->started_ns : now;
    metrics_fn_invocation(c->pool->mf, error_type, (double)(now - c->arrived_ns) / 1e9,
                          (double)(start - c->arrived_ns) / 1e9);
}

static void job_free(struct sched_job *c)
{
    if (c->body_owned)
        free((void *)c->c.body);
    free(c->hdrs);
    free(c->resp);
    free(c->target);
    free(c);
}

static void on_defer(uv_timer_t *t)
{
    struct sched *s = t->data;
    while (s->dhead) {
        struct sched_job *j = s->dhead;
        s->dhead = j->next;
        if (!s->dhead)
            s->dtail = NULL;
        uint64_t now = clock_mono_ms();
        uint64_t start = j->started_ms ? j->started_ms : now;
        struct sched_job_result r = {
            .status = j->code[0] ? 0 : j->status,
            .body = j->resp ? j->resp : "",
            .body_len = j->resp_len,
            .body_total = j->resp_total,
            .fn_error_type = j->fn_error_type[0] ? j->fn_error_type : NULL,
            .error_code = j->code[0] ? j->code : NULL,
            .error_type = j->code[0] ? j->etype : NULL,
            .message = j->msg,
            .instance_id = j->iid,
            .queued_ms = start - j->enqueued_ms,
            .run_ms = j->started_ms ? (j->ended_ms ? j->ended_ms : now) - j->started_ms : 0,
        };
        j->done(j, &r, j->ud);
        job_free(j);
    }
}

/* The job is over: its done runs on the next loop turn (never inside the
 * call that ended it). code NULL = the function answered. */
static void job_end(struct sched_job *j, const char *code, const char *etype, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void job_end(struct sched_job *j, const char *code, const char *etype, const char *fmt, ...)
{
    struct sched *s = j->pool->s;
    if (j->done_pending)
        return;
    j->done_pending = true;
    j->ended_ms = clock_mono_ms();
    if (j->stopped) {
        code = "Stopped";
        etype = "PlatformError";
        fmt = "stopped";
    } else if (code && s->shutting_down) {
        /* Not the task's fault: its owner keeps it for the next start. */
        code = "ServiceUnavailable";
        etype = "PlatformError";
        fmt = "Frost is shutting down";
    }
    count_call(j, code ? etype : (j->fn_error_type[0] ? j->fn_error_type : NULL));
    if (code) {
        snprintf(j->code, sizeof(j->code), "%s", code);
        snprintf(j->etype, sizeof(j->etype), "%s", etype);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->msg, sizeof(j->msg), fmt, ap);
        va_end(ap);
    }
    j->next = NULL;
    j->prev = s->dtail;
    if (s->dtail)
        s->dtail->next = j;
    else
        s->dhead = j;
    s->dtail = j;
    uv_timer_start(&s->defer, on_defer, 0, 0);
}

/* --------------------------------------------------------------- answers */

static void answer_error(struct sched_job *c, int status, const char *code, const char *error_type,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Ends a call that got no answer from a function: a client gets the FC
 * error, a job its result. */
static void answer_error(struct sched_job *c, int status, const char *code, const char *error_type,
                         const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->is_job) {
        job_end(c, code, error_type, "%s", msg);
        return;
    }
    struct http_request *req = c->req;
    c->req = NULL;
    if (!req)
        return;
    count_call(c, error_type);
    http_req_on_abort(req, NULL, NULL);
    char emsg[900], body[1200];
    size_t o = 0;
    for (const char *m = msg; *m && o + 8 < sizeof(emsg); m++) {
        unsigned char ch = (unsigned char)*m;
        if (ch == '"' || ch == '\\') {
            emsg[o++] = '\\';
            emsg[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(emsg + o, sizeof(emsg) - o, "\\u%04x", ch);
        } else {
            emsg[o++] = (char)ch;
        }
    }
    emsg[o] = 0;
    int n =
        snprintf(body, sizeof(body), "{\"Code\":\"%s\",\"Message\":\"%s\",\"RequestId\":\"%s\"}",
                 code, emsg, http_req_id(req));
    struct http_header h[2] = {
        {"Content-Type", 12, "application/json", 16},
        {"x-fc-error-type", 15, error_type, strlen(error_type)},
    };
    http_respond_h(req, status, h, 2, body, n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0);
}

/* A call that ended without its callback owning it any more. */
static void call_release(struct sched_job *c)
{
    if (c->is_job) {
        if (!c->done_pending) /* cannot happen: every job ends through job_end */
            job_end(c, "InternalError", "PlatformError", "the scheduler lost this job");
        return; /* freed after its done */
    }
    job_free(c);
}

/* ------------------------------------------------------------------ queue */

static void dequeue(struct sched_job *c)
{
    struct pool *p = c->pool;
    if (!c->queued)
        return;
    struct sched_job **head = c->is_job ? &p->jhead : &p->qhead;
    struct sched_job **tail = c->is_job ? &p->jtail : &p->qtail;
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        *tail = c->prev;
    c->next = c->prev = NULL;
    c->queued = false;
    if (c->is_job)
        p->jqueued--;
    else
        p->queued--;
}

static void enqueue(struct sched_job *c)
{
    struct pool *p = c->pool;
    struct sched_job **head = c->is_job ? &p->jhead : &p->qhead;
    struct sched_job **tail = c->is_job ? &p->jtail : &p->qtail;
    c->queued = true;
    c->next = NULL;
    c->prev = *tail;
    if (*tail)
        (*tail)->next = c;
    else
        *head = c;
    *tail = c;
    if (c->is_job)
        p->jqueued++;
    else
        p->queued++;
}

static void arm_qtimer(struct pool *p)
{
    if (!p->qhead) {
        uv_timer_stop(&p->qtimer);
        return;
    }
    uint64_t now = clock_mono_ms();
    uint64_t d = p->qhead->deadline_ms;
    uv_timer_start(&p->qtimer, on_qtimer, d > now ? d - now : 0, 0);
}

static void on_qtimer(uv_timer_t *t)
{
    struct pool *p = t->data;
    uint64_t now = clock_mono_ms();
    /* FIFO with one timeout per function: the head expires first. */
    while (p->qhead && p->qhead->deadline_ms <= now) {
        struct sched_job *c = p->qhead;
        dequeue(c);
        answer_error(c, 429, "ResourceExhausted", "PlatformError",
                     "function %s: no instance had a free slot within the function's timeout "
                     "(%d s); %d instance(s), %d starting",
                     p->name, timeout_s(p->doc), p->n_ready, p->n_starting);
        call_release(c);
    }
    arm_qtimer(p);
    pool_maybe_free(p);
}

static void call_abort(struct http_request *req, void *ud)
{
    struct sched_job *c = ud;
    c->req = NULL;
    if (c->queued) {
        struct pool *p = c->pool;
        dequeue(c);
        call_release(c);
        arm_qtimer(p);
        pool_maybe_free(p);
    }
    /* A started call finishes through the proxy's done callback. */
}

static void fail_queue(struct pool *p, int status, const char *code, const char *type,
                       const char *why)
{
    while (p->qhead || p->jhead) {
        struct sched_job *c = p->qhead ? p->qhead : p->jhead;
        dequeue(c);
        answer_error(c, status, code, type, "function %s: %s", p->name, why);
        call_release(c);
    }
    arm_qtimer(p);
}

/* -------------------------------------------------------------- instances */

static void idle_closed(uv_handle_t *h)
{
    struct inst *in = h->data;
    json_decref(in->doc);
    free(in);
}

/* gpuConfig.gpuMemorySize (MB) and gpuType of a function, 0 when it has no GPU. */
static uint64_t gpu_need(const json_t *doc, const char **type)
{
    const json_t *g = json_object_get(doc, "gpuConfig");
    *type = json_string_value(json_object_get(g, "gpuType"));
    const json_t *m = json_object_get(g, "gpuMemorySize");
    return json_is_integer(m) && json_integer_value(m) > 0 ? (uint64_t)json_integer_value(m) : 0;
}

static uint64_t gpu_held_mb(const struct inst *in)
{
    if (!in->gpu || gpu_placement_checkpointed(in->gpu))
        return 0;
    return gpu_placement_mb(in->gpu);
}

/* Tells the runtime what the instance is doing (phases are billed). */
static void inst_phase(struct inst *in)
{
    if (!in->rt)
        return;
    enum rt_phase ph;
    switch (in->state) {
    case I_READY:
        ph = in->in_flight > 0 ? RT_PH_ACTIVE : RT_PH_IDLE;
        break;
    case I_FREEZING:
        ph = RT_PH_FREEZING;
        break;
    case I_FROZEN:
        ph = RT_PH_FROZEN;
        break;
    case I_THAWING:
        ph = RT_PH_THAWING;
        break;
    default:
        return;
    }
    rt_instance_set_phase(in->rt, ph, gpu_held_mb(in));
}

static void inst_unlink(struct inst *in)
{
    struct pool *p = in->pool;
    if (in->prev)
        in->prev->next = in->next;
    else
        p->insts = in->next;
    if (in->next)
        in->next->prev = in->prev;
    p->n_insts--;
    p->s->cpu_used -= in->cpu;
    p->s->mem_used -= in->memory;
    gpu_release(p->s->gpu, in->gpu);
    in->gpu = NULL;
}

/* Leaves the counted states for good. */
static void inst_leave(struct inst *in)
{
    struct pool *p = in->pool;
    if (in->state == I_READY)
        p->n_ready--;
    else if (in->state == I_STARTING)
        p->n_starting--;
    else if (in->state == I_THAWING)
        p->n_thawing--;
    in->state = I_STOPPING;
    uv_timer_stop(&in->idle);
}

static void inst_stop(struct inst *in)
{
    if (in->state == I_STOPPING)
        return;
    in->draining = true;
    inst_leave(in);
    rt_stop(in->rt);
}

/* Demand the pool's ready and arriving capacity does not cover. */
static bool pool_has_demand(struct pool *p)
{
    return p->qhead || p->jhead;
}

/* ---- idle mode: freeze (checkpoint, then cgroup freeze) and thaw (cgroup
 * thaw, then restore), in the order GPU-NOTES.md requires. */

static void on_frozen(struct rt_instance *r, int status, void *ud)
{
    struct inst *in = ud;
    if (in->state != I_FREEZING)
        return;
    if (status < 0) {
        log_warn("instance_freeze_failed", "function=%s instance=%s error=%d", in->pool->name,
                 rt_instance_id(r), status);
        inst_stop(in); /* the target brings a fresh one */
        return;
    }
    in->state = I_FROZEN;
    inst_phase(in);
    log_debug("instance_frozen", "function=%s instance=%s", in->pool->name, rt_instance_id(r));
    if (in->want_thaw || in->draining) {
        in->want_thaw = false;
        if (in->draining)
            inst_stop(in);
        else
            begin_thaw(in);
        return;
    }
    /* Its GPU memory is free now: someone may be waiting for it. */
    if (in->gpu)
        kick_all(in->pool->s);
}

static void on_checkpointed(struct gpu_placement *g, int status, const struct frost_err *err,
                            void *ud)
{
    struct inst *in = ud;
    if (in->state != I_FREEZING)
        return;
    if (status < 0) {
        log_warn("instance_checkpoint_failed", "function=%s instance=%s error=\"%s\"",
                 in->pool->name, rt_instance_id(in->rt), err ? err->msg : "?");
        inst_stop(in);
        return;
    }
    inst_phase(in); /* GPU memory released */
    rt_freeze(in->rt, on_frozen, in);
}

static void begin_freeze(struct inst *in)
{
    struct pool *p = in->pool;
    p->n_ready--;
    in->state = I_FREEZING;
    uv_timer_stop(&in->idle);
    inst_phase(in);
    gpu_checkpoint(p->s->gpu, in->gpu, rt_instance_pid(in->rt), on_checkpointed, in);
}

static void thaw_finished(struct inst *in)
{
    struct pool *p = in->pool;
    p->n_thawing--;
    in->state = I_READY;
    p->n_ready++;
    in->last_used_ms = clock_mono_ms();
    uint64_t total_us = (clock_mono_ns() - in->thaw_start_ns) / 1000;
    uint64_t copy_us = in->gpu ? gpu_placement_copy_ns(in->gpu) / 1000 : 0;
    rt_instance_note_wake(in->rt, total_us, copy_us);
    inst_phase(in);
    log_debug("instance_thawed", "function=%s instance=%s us=%llu gpu_copy_us=%llu", p->name,
              rt_instance_id(in->rt), (unsigned long long)total_us, (unsigned long long)copy_us);
    try_dispatch(p);
    inst_settle(in);
}

static void on_refrozen(struct rt_instance *r, int status, void *ud)
{
    struct inst *in = ud;
    if (in->state != I_THAWING)
        return;
    if (status < 0) {
        inst_stop(in);
        return;
    }
    in->pool->n_thawing--;
    in->state = I_FROZEN;
    inst_phase(in);
}

static void on_restored(struct gpu_placement *g, int status, const struct frost_err *err, void *ud)
{
    struct inst *in = ud;
    if (in->state != I_THAWING)
        return;
    if (status < 0) {
        if (err && err->status == 503) {
            /* The device filled up since the check: freeze again and wait. */
            log_info("instance_thaw_waits", "function=%s instance=%s reason=\"%s\"", in->pool->name,
                     rt_instance_id(in->rt), err->msg);
            rt_freeze(in->rt, on_refrozen, in);
            return;
        }
        log_warn("instance_restore_failed", "function=%s instance=%s error=\"%s\"", in->pool->name,
                 rt_instance_id(in->rt), err ? err->msg : "?");
        inst_stop(in);
        maybe_scale(in->pool);
        return;
    }
    thaw_finished(in);
}

static void on_thawed(struct rt_instance *r, int status, void *ud)
{
    struct inst *in = ud;
    if (in->state != I_THAWING)
        return;
    if (status < 0) {
        log_warn("instance_thaw_failed", "function=%s instance=%s error=%d", in->pool->name,
                 rt_instance_id(r), status);
        inst_stop(in);
        maybe_scale(in->pool);
        return;
    }
    gpu_restore(in->pool->s->gpu, in->gpu, rt_instance_pid(r), on_restored, in);
}

static void begin_thaw(struct inst *in)
{
    struct pool *p = in->pool;
    in->state = I_THAWING;
    p->n_thawing++;
    in->thaw_start_ns = clock_mono_ns();
    inst_phase(in);
    rt_thaw(in->rt, on_thawed, in);
}

/* Wakes a frozen instance for queued demand: the current revision first,
 * then the one used least recently, so wake-ups rotate over the frozen
 * instances (each is billed the same while frozen, and a broken one shows
 * up at once rather than when it is the last one left). One still freezing
 * thaws once frozen. Returns whether capacity is on its way. */
static bool thaw_one(struct pool *p)
{
    struct inst *best = NULL, *freezing = NULL;
    for (struct inst *in = p->insts; in; in = in->next) {
        if (in->draining)
            continue;
        if (in->state == I_FREEZING && !in->want_thaw)
            freezing = in;
        if (in->state != I_FROZEN || !gpu_restore_fits(p->s->gpu, in->gpu))
            continue;
        if (!best || (in->doc == p->doc && best->doc != p->doc) ||
            ((in->doc == p->doc) == (best->doc == p->doc) && in->last_used_ms < best->last_used_ms))
            best = in;
    }
    if (best) {
        begin_thaw(best);
        return true;
    }
    if (freezing) {
        freezing->want_thaw = true;
        return true;
    }
    return false;
}

static void on_idle(uv_timer_t *t)
{
    struct inst *in = t->data;
    if (in->in_flight || in->state != I_READY)
        return;
    if (in->idle_mode) {
        if (!pool_has_demand(in->pool))
            begin_freeze(in);
        return;
    }
    if (in->provisioned)
        return;
    log_info("instance_idle_release", "function=%s instance=%s", in->pool->name,
             rt_instance_id(in->rt));
    inst_stop(in);
}

/* Called whenever an instance's work may have changed. */
static void inst_settle(struct inst *in)
{
    if (in->state == I_STOPPING)
        return;
    if (in->draining && in->in_flight == 0) {
        if (in->state == I_READY || in->state == I_FROZEN || in->state == I_STARTING)
            inst_stop(in);
        return; /* freezing / thawing: stopped when that finishes */
    }
    if (in->state != I_READY || in->in_flight > 0) {
        uv_timer_stop(&in->idle);
        return;
    }
    if (in->idle_mode)
        uv_timer_start(&in->idle, on_idle, in->pool->s->cfg->sched.freeze_delay_ms, 0);
    else if (!in->provisioned)
        uv_timer_start(&in->idle, on_idle, keepalive_ms(in->pool), 0);
    else
        uv_timer_stop(&in->idle);
}

static void on_rt_event(struct rt_instance *r, enum rt_event ev, void *ud)
{
    struct inst *in = ud;
    struct pool *p = in->pool;
    switch (ev) {
    case RT_EV_READY:
        if (in->state != I_STARTING)
            break;
        if (in->draining) { /* the function changed while it started */
            inst_stop(in);
            break;
        }
        p->n_starting--;
        in->state = I_READY;
        p->n_ready++;
        in->last_used_ms = clock_mono_ms();
        inst_phase(in);
        if (in->provisioned)
            reconcile(p); /* a replaced revision may drain now */
        try_dispatch(p);
        inst_settle(in);
        break;
    case RT_EV_FAILED: {
        bool was_starting = in->state == I_STARTING;
        inst_leave(in);
        if (in->provisioned && p->prov_target > 0)
            snprintf(p->prov_error, sizeof(p->prov_error), "instance %s failed: %s",
                     rt_instance_id(r), rt_instance_error(r));
        /* Requests waiting for a start that failed get its reason, unless
         * another instance can still serve them. */
        if (was_starting && p->n_ready == 0 && p->n_starting == 0 && p->n_thawing == 0 &&
            pool_has_demand(p)) {
            const char *err = rt_instance_error(r);
            bool init = strstr(err, "initializer") != NULL;
            fail_queue(p, 502, init ? "FunctionInitializationError" : "InstanceStartFailed",
                       init ? "UnhandledInitializationError" : "UnhandledInvocationError", err);
        } else {
            maybe_scale(p);
        }
        if (in->provisioned)
            reconcile(p); /* a replacement */
        break;
    }
    case RT_EV_STOPPED: {
        struct sched *s = p->s;
        inst_leave(in);
        inst_unlink(in);
        in->rt = NULL;
        bool prov = in->provisioned;
        uv_close((uv_handle_t *)&in->idle, idle_closed);
        if (prov)
            reconcile(p);
        pool_maybe_free(p);
        /* The node has room again: any function waiting for it may start. */
        kick_all(s);
        break;
    }
    }
}

static bool can_start(struct pool *p, bool provisioned, char *why, size_t len)
{
    struct sched *s = p->s;
    double cpu = json_number_value(json_object_get(p->doc, "cpu"));
    uint64_t mem = (uint64_t)fn_int(p->doc, "memorySize", SPEC_DEFAULT_MEMORY_MB) << 20;
    int slots = slots_of(p->doc);
    int res = reserved(p);
    if (p->n_insts >= (int)s->cfg->sched.max_instances) {
        snprintf(why, len, "at sched.max_instances (%d)", p->n_insts);
        return false;
    }
    if (!provisioned && res >= 0 && p->n_insts * slots >= res) {
        snprintf(why, len, "at its reserved concurrency (%d)", res);
        return false;
    }
    if (s->cpu_used + cpu > s->cpu_capacity + 1e-9 || s->mem_used + mem > s->mem_capacity) {
        snprintf(why, len, "the node has no room (cpu %.2f/%.2f, memory %llu/%llu MB)", s->cpu_used,
                 s->cpu_capacity, (unsigned long long)(s->mem_used >> 20),
                 (unsigned long long)(s->mem_capacity >> 20));
        return false;
    }
    return true;
}

/* Starts an instance; -1 when it cannot (why says so when it is worth
 * telling a user; on-demand failures also answer the queue when nothing else
 * can serve it). */
static int start_instance(struct pool *p, bool provisioned, char *why, size_t why_len)
{
    struct sched *s = p->s;
    struct spec_fn *f = spec_registry_get(s->reg, p->name);
    if (!f || !f->doc)
        return -1;
    struct inst *in = calloc(1, sizeof(*in));
    if (!in)
        return -1;
    in->pool = p;
    in->doc = json_incref(p->doc);
    in->provisioned = provisioned;
    in->idle_mode = provisioned && p->prov_idle;
    in->slots = slots_of(p->doc);
    in->cpu = json_number_value(json_object_get(p->doc, "cpu"));
    in->memory = (uint64_t)fn_int(p->doc, "memorySize", SPEC_DEFAULT_MEMORY_MB) << 20;
    snprintf(in->tmo, sizeof(in->tmo), "%d", timeout_s(in->doc));
    snprintf(in->mem, sizeof(in->mem), "%d", fn_int(in->doc, "memorySize", SPEC_DEFAULT_MEMORY_MB));
    in->handler = json_string_value(json_object_get(in->doc, "handler"));
    in->checksum = json_string_value(json_object_get(in->doc, "codeChecksum"));
    char code[PATH_MAX] = "";
    const char *sum = json_string_value(json_object_get(p->doc, "codeChecksum"));
    if (sum)
        snprintf(code, sizeof(code), "%s/code/%s", s->cfg->data_dir, sum);
    struct frost_err err = {0};
    const char *gtype;
    uint64_t gmb = gpu_need(p->doc, &gtype);
    if (gmb) {
        /* A GPU slice first: without one the instance must not start. */
        if (!s->gpu || gpu_place(s->gpu, gtype, gmb, &in->gpu, &err) < 0) {
            if (!s->gpu)
                frost_err_set(&err, 400, "InvalidArgument",
                              "function %s needs a GPU and this node has none (start frost "
                              "serve with --gpus)",
                              p->name);
            json_decref(in->doc);
            free(in);
            snprintf(why, why_len, "%s", err.msg);
            if (err.status == 503) {
                /* GPUs are busy: the requests wait for one to free up. */
                log_debug("scale_blocked", "function=%s reason=\"%s\"", p->name, err.msg);
                return -1;
            }
            if (!provisioned)
                fail_queue(p, 400, "ResourceExhausted", "PlatformError", err.msg);
            return -1;
        }
    }
    const struct gpu_device *dev = in->gpu ? gpu_placement_device(in->gpu) : NULL;
    struct rt_start_opts o = {
        .function_name = p->name,
        .fn = p->doc,
        .code_dir = code[0] ? code : NULL,
        .kind = in->idle_mode ? "provisioned-idle"
                : provisioned ? "provisioned"
                              : "on-demand",
        .extra_env = in->gpu ? gpu_placement_env(in->gpu) : NULL,
        .gpu_memory_mb = in->gpu ? gpu_placement_mb(in->gpu) : 0,
        .gpu_type = dev ? dev->type : NULL,
    };
    uv_timer_init(s->loop, &in->idle);
    in->idle.data = in;
    if (rt_start(s->rt, &o, on_rt_event, in, &in->rt, &err) < 0) {
        gpu_release(s->gpu, in->gpu);
        in->gpu = NULL;
        uv_close((uv_handle_t *)&in->idle, idle_closed);
        snprintf(why, why_len, "%s", err.msg);
        if (!provisioned && p->n_ready == 0 && p->n_starting == 0 && p->n_thawing == 0) {
            bool backoff = strcmp(err.code, "FunctionStartBackoff") == 0;
            fail_queue(p, backoff ? 503 : 502,
                       backoff ? "FunctionStartBackoff" : "InstanceStartFailed",
                       "UnhandledInvocationError", err.msg);
        }
        return -1;
    }
    in->next = p->insts;
    if (p->insts)
        p->insts->prev = in;
    p->insts = in;
    p->n_insts++;
    p->n_starting++;
    in->state = I_STARTING;
    s->cpu_used += in->cpu;
    s->mem_used += in->memory;
    return 0;
}

/* Brings capacity for queued demand: frozen instances thaw first (they are
 * paid for and warm), then on-demand instances start. */
static void maybe_scale(struct pool *p)
{
    if (p->deleted || p->s->shutting_down || !p->doc)
        return;
    int slots = slots_of(p->doc);
    int demand = p->queued + p->jqueued;
    int arriving = (p->n_starting + p->n_thawing) * slots;
    for (struct inst *in = p->insts; in; in = in->next)
        arriving += in->state == I_FREEZING && in->want_thaw ? slots : 0;
    while (demand > arriving) {
        if (thaw_one(p)) {
            arriving += slots;
            continue;
        }
        char why[512];
        if (!can_start(p, false, why, sizeof(why))) {
            log_debug("scale_blocked", "function=%s queued=%d reason=\"%s\"", p->name, demand, why);
            return;
        }
        if (start_instance(p, false, why, sizeof(why)) < 0)
            return;
        arriving += slots;
    }
}

/* ------------------------------------------------------ provision targets */

/* Provisioned instances of the pool's current revision and idle mode count
 * toward the target; the others are being replaced. */
static bool inst_current(const struct pool *p, const struct inst *in)
{
    return in->doc == p->doc && in->idle_mode == p->prov_idle;
}

static bool inst_counts(const struct inst *in)
{
    return in->provisioned && !in->draining && in->state != I_STOPPING;
}

/* Which provisioned instance to let go first: frozen, then idle, then
 * starting, then the least busy. */
static int release_rank(const struct inst *in)
{
    switch (in->state) {
    case I_FROZEN:
        return 0;
    case I_READY:
        return in->in_flight == 0 ? 1 : 3 + in->in_flight;
    case I_STARTING:
        return 2;
    default:
        return 1000;
    }
}

static void drain(struct inst *in)
{
    in->draining = true;
    inst_settle(in);
}

static struct inst *first_to_release(struct pool *p, bool current)
{
    struct inst *best = NULL;
    for (struct inst *in = p->insts; in; in = in->next) {
        if (!inst_counts(in) || inst_current(p, in) != current)
            continue;
        if (!best || release_rank(in) < release_rank(best))
            best = in;
    }
    return best;
}

/* Converges the pool's provisioned instances on its target. */
static void reconcile(struct pool *p)
{
    struct sched *s = p->s;
    if (!p->doc || p->deleted || s->shutting_down)
        return;
    int want = p->prov ? p->prov_target : 0;
    int fresh = 0, fresh_ready = 0, old = 0;
    for (struct inst *in = p->insts; in; in = in->next) {
        if (!inst_counts(in))
            continue;
        if (inst_current(p, in)) {
            fresh++;
            fresh_ready += in->state != I_STARTING;
        } else {
            old++;
        }
    }
    while (fresh < want) {
        char why[512];
        if (!can_start(p, true, why, sizeof(why)) ||
            start_instance(p, true, why, sizeof(why)) < 0) {
            snprintf(p->prov_error, sizeof(p->prov_error), "%d of %d provisioned instances: %s",
                     fresh, want, why);
            break;
        }
        fresh++;
    }
    for (; fresh > want; fresh--) {
        struct inst *in = first_to_release(p, true);
        if (!in)
            break;
        fresh_ready -= in->state != I_STARTING;
        drain(in);
    }
    /* Old revision: kept only while the new one is not ready, so the
     * function never drops below its target during a roll. */
    int keep = want - fresh_ready;
    for (; old > (keep > 0 ? keep : 0); old--) {
        struct inst *in = first_to_release(p, false);
        if (!in)
            break;
        drain(in);
    }
    if (fresh_ready >= want)
        p->prov_error[0] = 0;
}

static void sample(struct pool *p, struct scale_sample *m)
{
    int current = 0, slots_total = 0, inflight = 0;
    double cpu_used = 0, cpu_cap = 0;
    uint64_t gpu_mb = 0, gpu_used = 0;
    bool gpu_known = true;
    uint64_t now = clock_mono_ms();
    for (struct inst *in = p->insts; in; in = in->next) {
        if (!inst_counts(in) || in->state == I_STARTING)
            continue;
        current++;
        slots_total += in->slots;
        inflight += in->in_flight;
        if (in->gpu) {
            uint64_t used;
            gpu_mb += gpu_placement_mb(in->gpu);
            if (gpu_placement_used_mb(p->s->gpu, in->gpu, &used) == 0)
                gpu_used += used;
            else
                gpu_known = false;
        }
        if (in->state != I_READY || in->cpu <= 0)
            continue;
        int64_t us = rt_instance_cpu_usage_us(in->rt);
        if (us >= 0 && in->cpu_at_ms && now > in->cpu_at_ms && us >= in->cpu_us_prev) {
            cpu_used += (double)(us - in->cpu_us_prev) / 1000.0 / (double)(now - in->cpu_at_ms);
            cpu_cap += in->cpu;
        }
        in->cpu_us_prev = us;
        in->cpu_at_ms = now;
    }
    /* Requests waiting count as demand: utilisation above 1 asks for more
     * instances in proportion. */
    inflight += p->queued + p->jqueued;
    m->current = current;
    m->concurrency = slots_total ? (double)inflight / slots_total : (inflight ? 1.0 : 0.0);
    m->cpu = cpu_cap > 0 ? cpu_used / cpu_cap : 0;
    m->gpu_mem = gpu_mb && gpu_known ? (double)gpu_used / (double)gpu_mb : -1;
}

static void evaluate(struct pool *p)
{
    if (!p->prov) {
        p->prov_target = 0;
        return;
    }
    if (!p->scale) {
        p->prov_target = fn_int(p->prov, "defaultTarget", fn_int(p->prov, "target", 0));
        snprintf(p->prov_source, sizeof(p->prov_source), "defaultTarget");
        return;
    }
    int64_t now = clock_wall_ms();
    struct scale_sample m;
    sample(p, &m);
    scale_observe(p->scale, now, &m);
    struct scale_decision d;
    scale_decide(p->scale, now, &d);
    if (d.target != p->prov_target)
        log_info("provision_target", "function=%s target=%d previous=%d source=%s reason=\"%s\"",
                 p->name, d.target, p->prov_target, d.source, d.reason);
    p->prov_target = d.target;
    metrics_fn_provision_target(p->mf, d.target);
    snprintf(p->prov_source, sizeof(p->prov_source), "%s", d.source);
    snprintf(p->prov_reason, sizeof(p->prov_reason), "%s", d.reason);
}

static void on_ptimer(uv_timer_t *t)
{
    struct pool *p = t->data;
    evaluate(p);
    reconcile(p);
}

/* Capacity came free (an instance stopped or froze): functions waiting for
 * it may go on. */
static void kick_all(struct sched *s)
{
    if (s->shutting_down)
        return;
    for (int i = 0; i < POOL_BUCKETS; i++) {
        for (struct pool *q = s->buckets[i]; q; q = q->hnext) {
            if (pool_has_demand(q))
                maybe_scale(q);
            if (q->prov && q->prov_error[0])
                reconcile(q);
        }
    }
}

/* ---------------------------------------------------------------- proxying */

/* Current revision before old, provisioned before on-demand, then fewest in
 * flight, then the most recently used (so the others stay idle). */
static struct inst *pick(struct pool *p)
{
    struct inst *best = NULL;
    int best_prio = -1;
    int res = reserved(p);
    if (res >= 0 && p->in_flight >= res)
        return NULL;
    for (struct inst *in = p->insts; in; in = in->next) {
        if (in->state != I_READY || in->draining || in->in_flight >= in->slots)
            continue;
        int prio = (in->doc == p->doc ? 2 : 0) + (in->provisioned ? 1 : 0);
        if (!best || prio > best_prio ||
            (prio == best_prio &&
             (in->in_flight < best->in_flight ||
              (in->in_flight == best->in_flight && in->last_used_ms > best->last_used_ms)))) {
            best = in;
            best_prio = prio;
        }
    }
    return best;
}

static void call_finished(struct inst *in)
{
    struct pool *p = in->pool;
    in->in_flight--;
    p->in_flight--;
    in->last_used_ms = clock_mono_ms();
    if (in->in_flight == 0)
        inst_phase(in);
}

static void proxy_done(struct http_request *req, const struct http_proxy_result *res, void *ud)
{
    struct sched_job *c = ud;
    struct inst *in = c->inst;
    struct pool *p = c->pool;
    call_finished(in);
    c->req = req;
    if (res->upstream_status && in->rt) {
        rt_instance_note_first_byte(in->rt, res->head_us);
        metrics_fn_first_byte(p->mf, in->rt, res->head_us);
    }
    if (res->response_started)
        count_call(c, res->fn_error_type[0] ? res->fn_error_type : NULL);
    if (res->error && res->error != UV_ETIMEDOUT && !res->client_gone) {
        /* The instance broke a connection: it is dead or dying, and must not
         * get the next request before the runtime notices. */
        in->draining = true;
        inst_stop(in);
    }
    if (req && !res->response_started) {
        const char *ierr = in->rt ? rt_instance_error(in->rt) : "";
        if (res->error == UV_ETIMEDOUT) {
            answer_error(c, 504, "FunctionTimeout", "UnhandledInvocationError",
                         "function %s did not answer within its timeout of %d s", p->name,
                         timeout_s(in->doc));
            /* It may still be busy: with one slot it cannot take more work. */
            if (in->slots == 1)
                inst_stop(in);
        } else {
            answer_error(c, 502, "FunctionCrashed", "UnhandledInvocationError",
                         "instance %s of function %s failed before answering: %s",
                         in->rt ? rt_instance_id(in->rt) : "?", p->name,
                         ierr[0] ? ierr : uv_strerror(res->error));
        }
    }
    job_free(c);
    try_dispatch(p);
    inst_settle(in);
    if (in->state == I_STOPPING)
        reconcile(p);
}

/* The x-fc-* request headers every call carries; returns how many were set. */
static size_t fc_headers(struct inst *in, const char *rid, bool invoke, struct http_header *add)
{
    struct pool *p = in->pool;
    struct sched *s = p->s;
    const char *handler = in->handler;
    size_t n = 0;
    add[n++] = (struct http_header){"x-fc-request-id", 15, rid, strlen(rid)};
    add[n++] = (struct http_header){"x-fc-function-name", 18, p->name, strlen(p->name)};
    add[n++] = (struct http_header){"x-fc-function-handler", 21, handler ? handler : "",
                                    handler ? strlen(handler) : 0};
    add[n++] = (struct http_header){"x-fc-function-memory", 20, in->mem, strlen(in->mem)};
    add[n++] = (struct http_header){"x-fc-function-timeout", 21, in->tmo, strlen(in->tmo)};
    add[n++] = (struct http_header){"x-fc-region", 11, s->cfg->region, strlen(s->cfg->region)};
    add[n++] =
        (struct http_header){"x-fc-account-id", 15, s->cfg->account_id, strlen(s->cfg->account_id)};
    add[n++] = (struct http_header){"x-fc-qualifier", 14, "LATEST", 6};
    add[n++] = (struct http_header){"x-fc-version-id", 15, "LATEST", 6};
    add[n++] = (struct http_header){"x-fc-control-path", 17, invoke ? "/invoke" : "/http-invoke",
                                    invoke ? 7 : 12};
    if (invoke)
        add[n++] = (struct http_header){"Content-Type", 12, "application/octet-stream", 24};
    return n;
}

static void start_client_call(struct inst *in, struct sched_job *c)
{
    struct pool *p = in->pool;
    struct sched *s = p->s;
    char log_b64[8192]; /* filled only for x-fc-log-type: Tail */
    const char *rid = http_req_id(c->req);
    bool invoke = c->c.kind == SCHED_INVOKE;
    struct http_header add[12];
    size_t n = fc_headers(in, rid, invoke, add);
    const char *iid = rt_instance_id(in->rt);
    const char *sum = in->checksum;
    struct http_header resp[4];
    size_t nr = 0;
    resp[nr++] = (struct http_header){"x-fc-instance-id", 16, iid, strlen(iid)};
    resp[nr++] =
        (struct http_header){"x-fc-code-checksum", 18, sum ? sum : "", sum ? strlen(sum) : 0};
    resp[nr++] = (struct http_header){"x-fc-invocation-service-version", 31, "LATEST", 6};
    if (c->c.log_tail) {
        /* The log as it stands when the call starts plus what the instance
         * printed before answering is what FC users expect; Frost reads it
         * here, so lines printed during this call arrive on the next one. */
        char tail[RT_LOG_TAIL_BYTES];
        size_t tl = rt_instance_log_tail(in->rt, tail, sizeof(tail));
        codec_base64_encode(tail, tl, log_b64);
        resp[nr++] = (struct http_header){"x-fc-log-result", 15, log_b64, strlen(log_b64)};
    }
    struct http_proxy_opts o = {
        .ep = rt_instance_endpoint(in->rt),
        .method = invoke ? "POST" : NULL,
        .target = invoke ? "/invoke" : c->c.target,
        .add_req = add,
        .n_add_req = n,
        .add_resp = resp,
        .n_add_resp = nr,
        .response_timeout_ms = (uint64_t)timeout_s(in->doc) * 1000,
        .caller_answers_errors = true,
        .body = c->c.body,
        .body_len = c->c.body_len,
        .drop_req_header = invoke ? "content-type" : NULL,
    };
    struct http_request *req = c->req;
    http_req_on_abort(req, NULL, NULL);
    struct frost_err err = {0};
    if (http_proxy(req, s->client, &o, proxy_done, c, &err) < 0) {
        call_finished(in);
        count_call(c, "PlatformError");
        http_respond_error(req, 500, "InternalError", "%s", err.msg);
        c->req = NULL;
        job_free(c);
        inst_settle(in);
    }
}

static void job_head(struct http_creq *q, const struct http_msg *m, void *ud)
{
    struct sched_job *j = ud;
    j->status = m->status;
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct http_header *h = &m->headers[i];
        if (h->name_len == 15 && strncasecmp(h->name, "x-fc-error-type", 15) == 0) {
            size_t l = h->value_len < sizeof(j->fn_error_type) - 1 ? h->value_len
                                                                   : sizeof(j->fn_error_type) - 1;
            memcpy(j->fn_error_type, h->value, l);
            j->fn_error_type[l] = 0;
        }
    }
    if (j->inst && j->inst->rt) {
        uint64_t us = (clock_mono_ns() - j->started_ns) / 1000;
        rt_instance_note_first_byte(j->inst->rt, us);
        metrics_fn_first_byte(j->pool->mf, j->inst->rt, us);
    }
}

static int job_body(struct http_creq *q, const char *data, size_t len, void *ud)
{
    struct sched_job *j = ud;
    j->resp_total += len;
    size_t room = SCHED_JOB_BODY_MAX - j->resp_len;
    size_t take = len < room ? len : room;
    if (!take)
        return 0;
    if (!j->resp) {
        j->resp = malloc(SCHED_JOB_BODY_MAX);
        if (!j->resp)
            return 0; /* counted, not kept */
    }
    memcpy(j->resp + j->resp_len, data, take);
    j->resp_len += take;
    return 0;
}

/* The job's request ended (status < 0: no whole answer). */
static void job_over(struct sched_job *j, int status)
{
    struct inst *in = j->inst;
    struct pool *p = j->pool;
    j->creq = NULL;
    call_finished(in);
    if (status < 0 && !j->stopped) {
        const char *ierr = in->rt ? rt_instance_error(in->rt) : "";
        if (status == UV_ETIMEDOUT) {
            job_end(j, "FunctionTimeout", "UnhandledInvocationError",
                    "function %s did not answer within its timeout of %d s", p->name,
                    timeout_s(in->doc));
            if (in->slots == 1)
                inst_stop(in);
        } else {
            in->draining = true;
            inst_stop(in);
            job_end(j, "FunctionCrashed", "UnhandledInvocationError",
                    "instance %s of function %s failed before answering: %s", j->iid, p->name,
                    ierr[0] ? ierr : uv_strerror(status));
        }
    } else {
        job_end(j, NULL, NULL, "%s", "");
    }
    try_dispatch(p);
    inst_settle(in);
    if (in->state == I_STOPPING)
        reconcile(p);
}

static void job_done(struct http_creq *q, int status, void *ud)
{
    job_over(ud, status);
}

static void start_job(struct inst *in, struct sched_job *j)
{
    struct pool *p = in->pool;
    struct sched *s = p->s;
    struct http_header add[12 + 32];
    size_t n = fc_headers(in, j->rid, true, add);
    for (size_t i = 0; i < j->n_hdrs && n < ARRAY_LEN(add); i++)
        add[n++] = j->hdrs[i];
    snprintf(j->iid, sizeof(j->iid), "%s", rt_instance_id(in->rt));
    j->started_ms = clock_mono_ms();
    struct http_creq_opts o = {
        .method = "POST",
        .target = "/invoke",
        .headers = add,
        .n_headers = n,
        .body_len = (int64_t)j->c.body_len,
        .body = j->c.body,
        .response_timeout_ms = (uint64_t)timeout_s(in->doc) * 1000,
    };
    static const struct http_creq_cb cb = {job_head, job_body, job_done};
    struct frost_err err = {0};
    if (http_client_request(s->client, rt_instance_endpoint(in->rt), &o, &cb, j, &j->creq, &err) <
        0) {
        call_finished(in);
        job_end(j, "InternalError", "PlatformError", "%s", err.msg);
        inst_settle(in);
        return;
    }
    if (j->on_start)
        j->on_start(j, j->iid, j->ud);
}

static void start_call(struct inst *in, struct sched_job *c)
{
    struct pool *p = in->pool;
    c->inst = in;
    c->started = true;
    c->started_ns = clock_mono_ns();
    in->in_flight++;
    p->in_flight++;
    in->last_used_ms = clock_mono_ms();
    uv_timer_stop(&in->idle);
    if (in->in_flight == 1)
        inst_phase(in);
    /* After the phase change: the meter bills it with the instance's kind. */
    if (p->s->meter)
        meter_note_invocation(p->s->meter, p->name);
    if (c->is_job)
        start_job(in, c);
    else
        start_client_call(in, c);
}

static void try_dispatch(struct pool *p)
{
    while (p->qhead || p->jhead) {
        struct inst *in = pick(p);
        if (!in)
            break;
        struct sched_job *c = p->qhead ? p->qhead : p->jhead;
        dequeue(c);
        start_call(in, c);
    }
    arm_qtimer(p);
}

/* ------------------------------------------------------------------ public */

/* The pool of an existing function, following its current document. */
static struct pool *pool_for(struct sched *s, const char *name, struct frost_err *err)
{
    struct spec_fn *f = spec_registry_get(s->reg, name);
    if (!f || !f->doc) {
        frost_err_set(err, 404, "FunctionNotFound", "function %s does not exist", name);
        return NULL;
    }
    if (s->shutting_down) {
        frost_err_set(err, 503, "ServiceUnavailable", "Frost is shutting down");
        return NULL;
    }
    struct pool *p = pool_get(s, name);
    if (!p) {
        frost_err_set(err, 500, "InternalError", "out of memory");
        return NULL;
    }
    if (p->doc != f->doc) {
        if (p->doc)
            sched_function_changed(s, name);
        else
            p->doc = json_incref(f->doc);
    }
    p->deleted = false;
    return p;
}

void sched_dispatch(struct sched *s, const char *name, struct http_request *req,
                    const struct sched_call *cc)
{
    struct frost_err err = {0};
    struct pool *p = pool_for(s, name, &err);
    if (!p) {
        http_respond_error(req, err.status, err.code, "%s", err.msg);
        return;
    }
    struct sched_job *c = calloc(1, sizeof(*c));
    if (!c) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    c->pool = p;
    c->req = req;
    c->c = *cc;
    c->arrived_ns = clock_mono_ns();
    /* Copied only when needed: a zeroed 4 KB buffer per request showed up in
     * profiles of the invoke path. */
    if (cc->target && !(c->c.target = c->target = strdup(cc->target))) {
        job_free(c);
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    if (cc->body && cc->body_len) {
        char *copy = malloc(cc->body_len);
        if (!copy) {
            job_free(c);
            http_respond_error(req, 500, "InternalError", "out of memory");
            return;
        }
        memcpy(copy, cc->body, cc->body_len);
        c->c.body = copy;
        c->body_owned = true;
    }
    struct inst *in = pick(p);
    if (in && !p->qhead) {
        start_call(in, c);
        return;
    }
    if (p->queued >= (int)s->cfg->sched.max_queue) {
        answer_error(c, 429, "TooManyRequests", "PlatformError",
                     "function %s has %d requests waiting (sched.max_queue); retry later", name,
                     p->queued);
        job_free(c);
        return;
    }
    uint64_t now = clock_mono_ms();
    c->enqueued_ms = now;
    c->deadline_ms = now + (uint64_t)timeout_s(p->doc) * 1000;
    enqueue(c);
    http_req_on_abort(req, call_abort, c);
    if (p->qhead == c)
        arm_qtimer(p);
    maybe_scale(p);
}

int sched_submit(struct sched *s, const char *name, const struct sched_job_opts *o,
                 sched_job_fn done, void *ud, struct sched_job **out, struct frost_err *err)
{
    struct pool *p = pool_for(s, name, err);
    if (!p)
        return -1;
    struct sched_job *j = calloc(1, sizeof(*j));
    size_t hbytes = 0;
    for (size_t i = 0; i < o->n_headers; i++)
        hbytes += o->headers[i].name_len + o->headers[i].value_len;
    if (j && o->n_headers)
        j->hdrs = malloc(o->n_headers * sizeof(*j->hdrs) + hbytes);
    if (j && o->body_len) {
        j->c.body = malloc(o->body_len);
        j->body_owned = true;
    }
    if (!j || (o->n_headers && !j->hdrs) || (o->body_len && !j->c.body)) {
        if (j)
            job_free(j);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    if (o->body_len)
        memcpy((char *)j->c.body, o->body, o->body_len);
    j->c.body_len = o->body_len;
    j->c.kind = SCHED_INVOKE;
    char *mem = (char *)(j->hdrs + o->n_headers);
    for (size_t i = 0; i < o->n_headers; i++) {
        const struct http_header *h = &o->headers[i];
        memcpy(mem, h->name, h->name_len);
        j->hdrs[i].name = mem;
        j->hdrs[i].name_len = h->name_len;
        mem += h->name_len;
        memcpy(mem, h->value, h->value_len);
        j->hdrs[i].value = mem;
        j->hdrs[i].value_len = h->value_len;
        mem += h->value_len;
    }
    j->n_hdrs = o->n_headers;
    snprintf(j->rid, sizeof(j->rid), "%s", o->request_id ? o->request_id : "");
    j->is_job = true;
    j->pool = p;
    j->done = done;
    j->ud = ud;
    j->on_start = o->on_start;
    j->enqueued_ms = clock_mono_ms();
    j->arrived_ns = clock_mono_ns();
    *out = j;
    struct inst *in = !p->qhead && !p->jhead ? pick(p) : NULL;
    if (in) {
        start_call(in, j);
        return 0;
    }
    enqueue(j);
    maybe_scale(p);
    return 0;
}

void sched_job_stop(struct sched_job *j)
{
    if (j->stopped || j->done_pending)
        return;
    j->stopped = true;
    struct pool *p = j->pool;
    if (j->queued) {
        dequeue(j);
        job_end(j, "Stopped", "PlatformError", "stopped");
        pool_maybe_free(p);
        return;
    }
    if (j->creq) {
        struct inst *in = j->inst;
        http_creq_abort(j->creq);
        j->creq = NULL;
        /* One slot: the process cannot abandon the work, so it goes. */
        if (in->slots == 1)
            inst_stop(in);
        job_over(j, UV_ECANCELED);
    }
}

void sched_function_changed(struct sched *s, const char *name)
{
    struct pool *p = pool_find(s, name);
    struct spec_fn *f = spec_registry_get(s->reg, name);
    if (!p || !f || p->doc == f->doc)
        return;
    json_decref(p->doc);
    p->doc = json_incref(f->doc);
    rt_forget_failures(s->rt, name); /* a fixed function gets a fresh start */
    for (struct inst *in = p->insts; in; in = in->next) {
        /* Provisioned instances are replaced by reconcile, never below target. */
        if (in->doc != p->doc && !in->provisioned)
            drain(in);
    }
    reconcile(p);
    maybe_scale(p);
}

void sched_function_deleted(struct sched *s, const char *name)
{
    struct pool *p = pool_find(s, name);
    if (!p)
        return;
    p->deleted = true;
    json_decref(p->prov);
    p->prov = NULL;
    uv_timer_stop(&p->ptimer);
    while (p->qhead || p->jhead) {
        struct sched_job *c = p->qhead ? p->qhead : p->jhead;
        dequeue(c);
        answer_error(c, 404, "FunctionNotFound", "PlatformError",
                     "function %s was deleted while the request waited", name);
        call_release(c);
    }
    arm_qtimer(p);
    for (struct inst *in = p->insts; in; in = in->next)
        drain(in);
    pool_maybe_free(p);
}

void sched_provision_changed(struct sched *s, const char *name)
{
    struct spec_fn *f = spec_registry_get(s->reg, name);
    struct pool *p = pool_find(s, name);
    if (!f || !f->doc || s->shutting_down)
        return;
    if (!p && !f->provision)
        return;
    struct frost_err err = {0};
    if (!p && !(p = pool_for(s, name, &err)))
        return;
    if (p->doc != f->doc)
        sched_function_changed(s, name);
    json_decref(p->prov);
    p->prov = f->provision ? json_incref(f->provision) : NULL;
    scale_free(p->scale);
    p->scale = NULL;
    p->prov_error[0] = p->prov_reason[0] = 0;
    if (p->prov) {
        /* Either "not always allocated" flag means: may be frozen while idle. */
        p->prov_idle = json_is_false(json_object_get(p->prov, "alwaysAllocateGPU")) ||
                       json_is_false(json_object_get(p->prov, "alwaysAllocateCPU"));
        const json_t *sa = json_object_get(p->prov, "scheduledActions");
        const json_t *tt = json_object_get(p->prov, "targetTrackingPolicies");
        if (json_array_size(sa) || json_array_size(tt)) {
            struct scale_opts so = {
                .window_ms = s->cfg->sched.scale_window_ms,
                .scale_in_stabilization_ms = s->cfg->sched.scale_in_stabilization_ms
                                                 ? s->cfg->sched.scale_in_stabilization_ms
                                                 : SCALE_STABILIZATION_NONE,
            };
            if (scale_new(p->prov, &so, &p->scale, &err) < 0) {
                snprintf(p->prov_error, sizeof(p->prov_error), "%s", err.msg);
                p->scale = NULL;
            }
        }
        uv_timer_start(&p->ptimer, on_ptimer, s->cfg->sched.scale_interval_ms,
                       s->cfg->sched.scale_interval_ms);
    } else {
        p->prov_idle = false;
        uv_timer_stop(&p->ptimer);
    }
    evaluate(p);
    log_info("provision_config", "function=%s target=%d idle_mode=%d source=%s", name,
             p->prov_target, p->prov_idle, p->prov_source);
    reconcile(p);
    pool_maybe_free(p);
}

void sched_provision_status(struct sched *s, const char *name, struct sched_provision_status *out)
{
    memset(out, 0, sizeof(*out));
    struct pool *p = pool_find(s, name);
    struct spec_fn *f = spec_registry_get(s->reg, name);
    if (!p) {
        const json_t *pv = f ? f->provision : NULL;
        out->target = fn_int(pv, "defaultTarget", fn_int(pv, "target", 0));
        snprintf(out->source, sizeof(out->source), "defaultTarget");
        return;
    }
    out->target = p->prov_target;
    for (struct inst *in = p->insts; in; in = in->next) {
        if (!in->provisioned || in->state == I_STOPPING || in->draining)
            continue;
        if (in->state == I_STARTING) {
            out->starting++;
            continue;
        }
        out->current++;
        out->frozen += in->state == I_FROZEN;
    }
    snprintf(out->source, sizeof(out->source), "%s", p->prov_source);
    snprintf(out->reason, sizeof(out->reason), "%s", p->prov_reason);
    if (out->current < out->target)
        snprintf(out->error, sizeof(out->error), "%s", p->prov_error);
}

json_t *sched_function_status(struct sched *s, const char *name)
{
    struct pool *p = pool_find(s, name);
    int busy = 0, frozen = 0, prov = 0;
    for (struct inst *in = p ? p->insts : NULL; in; in = in->next) {
        busy += in->in_flight > 0;
        frozen += in->state == I_FROZEN;
        prov += in->provisioned && in->state != I_STOPPING;
    }
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "ready", p ? p->n_ready : 0,
                     "starting", p ? p->n_starting : 0, "busy", busy, "inFlight",
                     p ? p->in_flight : 0, "queued", p ? p->queued : 0, "jobsQueued",
                     p ? p->jqueued : 0, "frozen", frozen, "thawing", p ? p->n_thawing : 0,
                     "provisioned", prov);
}

void sched_shutdown(struct sched *s)
{
    s->shutting_down = true;
    for (int i = 0; i < POOL_BUCKETS; i++) {
        for (struct pool *p = s->buckets[i]; p; p = p->hnext) {
            while (p->qhead || p->jhead) {
                struct sched_job *c = p->qhead ? p->qhead : p->jhead;
                dequeue(c);
                answer_error(c, 503, "ServiceUnavailable", "PlatformError",
                             "Frost is shutting down");
                call_release(c);
            }
            uv_timer_stop(&p->qtimer);
            uv_timer_stop(&p->ptimer);
        }
    }
}

static uint64_t mem_total(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

int sched_new(const struct sched_opts *o, struct sched **out, struct frost_err *err)
{
    struct sched *s = calloc(1, sizeof(*s));
    if (!s)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    s->loop = o->loop;
    s->cfg = o->cfg;
    s->reg = o->reg;
    s->rt = o->rt;
    s->client = o->client;
    s->gpu = o->gpu;
    s->metrics = o->metrics;
    uv_timer_init(s->loop, &s->defer);
    s->defer.data = s;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->cpu_capacity =
        o->cfg->sched.node_cpus ? (double)o->cfg->sched.node_cpus : (double)(cpus > 0 ? cpus : 1);
    s->mem_capacity = o->cfg->sched.node_memory ? o->cfg->sched.node_memory : mem_total();
    log_info("sched_ready", "cpus=%.0f memory_mb=%llu keepalive_ms=%llu", s->cpu_capacity,
             (unsigned long long)(s->mem_capacity >> 20),
             (unsigned long long)o->cfg->sched.keepalive_ms);
    *out = s;
    return 0;
}

static void sched_closed(uv_handle_t *h)
{
    free(h->data);
}

/* After rt_shutdown: every instance is gone, so only empty pools remain.
 * Jobs still queued are dropped without their done (their owners are gone
 * too); the memory goes once the loop runs the close callbacks. */
void sched_set_meter(struct sched *s, struct meter *m)
{
    s->meter = m;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    for (int i = 0; i < POOL_BUCKETS; i++) {
        while (s->buckets[i]) {
            struct pool *p = s->buckets[i];
            s->buckets[i] = p->hnext;
            p->deleted = true;
            while (p->qhead || p->jhead) {
                struct sched_job *c = p->qhead ? p->qhead : p->jhead;
                dequeue(c);
                job_free(c);
            }
            pool_close(p);
        }
    }
    while (s->dhead) {
        struct sched_job *j = s->dhead;
        s->dhead = j->next;
        job_free(j);
    }
    uv_close((uv_handle_t *)&s->defer, sched_closed);
}
