#include "sched/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/log.h"
#include "http/proxy.h"
#include "runtime/logs.h"
#include "spec/spec.h"

#define POOL_BUCKETS 256

struct pool;

struct inst {
    struct inst *next, *prev;
    struct pool *pool;
    struct rt_instance *rt;
    json_t *doc; /* the revision it runs */
    int slots;
    int in_flight;
    enum { I_STARTING, I_READY, I_STOPPING } state;
    bool draining; /* old revision or deleted: takes nothing new, stops when empty */
    uint64_t last_used_ms;
    double cpu;
    uint64_t memory;
    /* per-request header values, formatted once per instance */
    char tmo[16], mem[16];
    const char *handler, *checksum; /* point into doc */
    struct gpu_placement *gpu;      /* its GPU slice, or NULL */
    uv_timer_t idle;                /* keep-alive: stop after this long without requests */
    bool idle_open;
};

struct call {
    struct call *next, *prev; /* the pool's queue */
    struct pool *pool;
    struct inst *inst;
    struct http_request *req; /* NULL once the client is gone */
    struct sched_call c;
    uint64_t enqueued_ms;
    uint64_t deadline_ms;
    bool queued;
    bool started;
    char target[4096];
    char body_copy_owned;
};

struct pool {
    struct pool *hnext;
    struct sched *s;
    char name[128];
    json_t *doc; /* current revision */
    struct inst *insts;
    int n_ready, n_starting, n_insts;
    int in_flight;
    struct call *qhead, *qtail;
    int queued;
    uv_timer_t qtimer; /* fires at the queue head's deadline */
    bool deleted;
};

struct sched {
    uv_loop_t *loop;
    const struct frost_config *cfg;
    struct spec_registry *reg;
    struct rt *rt;
    struct http_client *client;
    struct gpu *gpu;
    struct pool *buckets[POOL_BUCKETS];
    double cpu_capacity, cpu_used;
    uint64_t mem_capacity, mem_used;
    bool shutting_down;
};

static void try_dispatch(struct pool *p);
static void maybe_scale(struct pool *p);
static void inst_stop(struct inst *in);

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
    uv_timer_init(s->loop, &p->qtimer);
    p->qtimer.data = p;
    unsigned h = hash(name);
    p->hnext = s->buckets[h];
    s->buckets[h] = p;
    return p;
}

static void pool_closed(uv_handle_t *h)
{
    struct pool *p = h->data;
    json_decref(p->doc);
    free(p);
}

/* A pool goes when its function is gone and nothing of it is left. */
static void pool_maybe_free(struct pool *p)
{
    if (!p->deleted || p->insts || p->qhead)
        return;
    struct sched *s = p->s;
    for (struct pool **pp = &s->buckets[hash(p->name)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == p) {
            *pp = p->hnext;
            break;
        }
    }
    uv_close((uv_handle_t *)&p->qtimer, pool_closed);
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

/* --------------------------------------------------------------- answers */

static void answer_error(struct call *c, int status, const char *code, const char *error_type,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void answer_error(struct call *c, int status, const char *code, const char *error_type,
                         const char *fmt, ...)
{
    struct http_request *req = c->req;
    c->req = NULL;
    if (!req)
        return;
    http_req_on_abort(req, NULL, NULL);
    char msg[768], emsg[900], body[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
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

static void call_free(struct call *c)
{
    if (c->body_copy_owned)
        free((void *)c->c.body);
    free(c);
}

/* ------------------------------------------------------------------ queue */

static void dequeue(struct call *c)
{
    struct pool *p = c->pool;
    if (!c->queued)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->qhead = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        p->qtail = c->prev;
    c->next = c->prev = NULL;
    c->queued = false;
    p->queued--;
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
        struct call *c = p->qhead;
        dequeue(c);
        answer_error(c, 429, "ResourceExhausted", "PlatformError",
                     "function %s: no instance had a free slot within the function's timeout "
                     "(%d s); %d instance(s), %d starting",
                     p->name, timeout_s(p->doc), p->n_ready, p->n_starting);
        call_free(c);
    }
    arm_qtimer(p);
    pool_maybe_free(p);
}

static void call_abort(struct http_request *req, void *ud)
{
    struct call *c = ud;
    c->req = NULL;
    if (c->queued) {
        struct pool *p = c->pool;
        dequeue(c);
        call_free(c);
        arm_qtimer(p);
        pool_maybe_free(p);
    }
    /* A started call finishes through the proxy's done callback. */
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

static void inst_leave(struct inst *in);

static void inst_stop(struct inst *in)
{
    if (in->state == I_STOPPING)
        return;
    in->draining = true;
    inst_leave(in);
    rt_stop(in->rt);
}

static void on_idle(uv_timer_t *t)
{
    struct inst *in = t->data;
    if (in->in_flight == 0) {
        log_info("instance_idle_release", "function=%s instance=%s", in->pool->name,
                 rt_instance_id(in->rt));
        inst_stop(in);
    }
}

/* Leaves the counted states (starting or ready) for good. */
static void inst_leave(struct inst *in)
{
    struct pool *p = in->pool;
    if (in->state == I_READY)
        p->n_ready--;
    else if (in->state == I_STARTING)
        p->n_starting--;
    in->state = I_STOPPING;
    uv_timer_stop(&in->idle);
}

/* Called whenever an instance's work may have changed. */
static void inst_settle(struct inst *in)
{
    if (in->state == I_STOPPING)
        return;
    if (in->draining && in->in_flight == 0) {
        inst_stop(in);
        return;
    }
    if (in->state == I_READY && in->in_flight == 0)
        uv_timer_start(&in->idle, on_idle, keepalive_ms(in->pool), 0);
    else
        uv_timer_stop(&in->idle);
}

static void fail_queue(struct pool *p, int status, const char *code, const char *type,
                       const char *why)
{
    while (p->qhead) {
        struct call *c = p->qhead;
        dequeue(c);
        answer_error(c, status, code, type, "function %s: %s", p->name, why);
        call_free(c);
    }
    arm_qtimer(p);
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
        try_dispatch(p);
        inst_settle(in);
        break;
    case RT_EV_FAILED: {
        bool was_starting = in->state == I_STARTING;
        inst_leave(in);
        /* Requests waiting for a start that failed get its reason, unless
         * another instance can still serve them. */
        if (was_starting && p->n_ready == 0 && p->n_starting == 0 && p->qhead) {
            const char *err = rt_instance_error(r);
            bool init = strstr(err, "initializer") != NULL;
            fail_queue(p, 502, init ? "FunctionInitializationError" : "InstanceStartFailed",
                       init ? "UnhandledInitializationError" : "UnhandledInvocationError", err);
        } else {
            maybe_scale(p);
        }
        break;
    }
    case RT_EV_STOPPED: {
        struct sched *s = p->s;
        inst_leave(in);
        inst_unlink(in);
        in->rt = NULL;
        uv_close((uv_handle_t *)&in->idle, idle_closed);
        pool_maybe_free(p);
        /* The node has room again: any function waiting for it may start. */
        if (!s->shutting_down) {
            for (int i = 0; i < POOL_BUCKETS; i++) {
                for (struct pool *q = s->buckets[i]; q; q = q->hnext) {
                    if (q->qhead)
                        maybe_scale(q);
                }
            }
        }
        break;
    }
    }
}

static bool can_start(struct pool *p, char *why, size_t len)
{
    struct sched *s = p->s;
    double cpu = json_number_value(json_object_get(p->doc, "cpu"));
    uint64_t mem = (uint64_t)fn_int(p->doc, "memorySize", SPEC_DEFAULT_MEMORY_MB) << 20;
    int slots = fn_int(p->doc, "instanceConcurrency", SPEC_DEFAULT_INSTANCE_CONCURRENCY);
    int res = reserved(p);
    if (p->n_insts >= (int)s->cfg->sched.max_instances) {
        snprintf(why, len, "at sched.max_instances (%d)", p->n_insts);
        return false;
    }
    if (res >= 0 && p->n_insts * slots >= res) {
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

static int start_instance(struct pool *p)
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
    in->slots = fn_int(p->doc, "instanceConcurrency", SPEC_DEFAULT_INSTANCE_CONCURRENCY);
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
            if (err.status == 503) {
                /* GPUs are busy: the requests wait for one to free up. */
                log_debug("scale_blocked", "function=%s reason=\"%s\"", p->name, err.msg);
                return -1;
            }
            fail_queue(p, 400, "ResourceExhausted", "PlatformError", err.msg);
            return -1;
        }
    }
    struct rt_start_opts o = {
        .function_name = p->name,
        .fn = p->doc,
        .code_dir = code[0] ? code : NULL,
        .kind = "on-demand",
        .extra_env = in->gpu ? gpu_placement_env(in->gpu) : NULL,
    };
    uv_timer_init(s->loop, &in->idle);
    in->idle.data = in;
    if (rt_start(s->rt, &o, on_rt_event, in, &in->rt, &err) < 0) {
        gpu_release(s->gpu, in->gpu);
        in->gpu = NULL;
        uv_close((uv_handle_t *)&in->idle, idle_closed);
        if (p->n_ready == 0 && p->n_starting == 0) {
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

/* Starts instances while queued demand exceeds what starting ones will take. */
static void maybe_scale(struct pool *p)
{
    if (p->deleted || p->s->shutting_down || !p->doc)
        return;
    int slots = fn_int(p->doc, "instanceConcurrency", SPEC_DEFAULT_INSTANCE_CONCURRENCY);
    while (p->queued > p->n_starting * slots) {
        char why[200];
        if (!can_start(p, why, sizeof(why))) {
            log_debug("scale_blocked", "function=%s queued=%d reason=\"%s\"", p->name, p->queued,
                      why);
            return;
        }
        if (start_instance(p) < 0)
            return;
    }
}

/* ---------------------------------------------------------------- proxying */

static struct inst *pick(struct pool *p)
{
    struct inst *best = NULL;
    int res = reserved(p);
    if (res >= 0 && p->in_flight >= res)
        return NULL;
    for (struct inst *in = p->insts; in; in = in->next) {
        if (in->state != I_READY || in->draining || in->in_flight >= in->slots)
            continue;
        /* fewest in flight; on ties the most recently used keeps the others idle */
        if (!best || in->in_flight < best->in_flight ||
            (in->in_flight == best->in_flight && in->last_used_ms > best->last_used_ms))
            best = in;
    }
    return best;
}

static void proxy_done(struct http_request *req, const struct http_proxy_result *res, void *ud)
{
    struct call *c = ud;
    struct inst *in = c->inst;
    struct pool *p = c->pool;
    in->in_flight--;
    p->in_flight--;
    in->last_used_ms = clock_mono_ms();
    c->req = req;
    if (res->upstream_status && in->rt)
        rt_instance_note_first_byte(in->rt, res->head_us);
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
    call_free(c);
    try_dispatch(p);
    inst_settle(in);
}

static void start_call(struct inst *in, struct call *c)
{
    struct pool *p = in->pool;
    struct sched *s = p->s;
    c->inst = in;
    c->started = true;
    in->in_flight++;
    p->in_flight++;
    in->last_used_ms = clock_mono_ms();
    uv_timer_stop(&in->idle);

    const json_t *doc = in->doc;
    const char *tmo = in->tmo, *mem = in->mem, *handler = in->handler;
    char log_b64[8192]; /* filled only for x-fc-log-type: Tail */
    const char *rid = http_req_id(c->req);
    bool invoke = c->c.kind == SCHED_INVOKE;
    struct http_header add[12];
    size_t n = 0;
    add[n++] = (struct http_header){"x-fc-request-id", 15, rid, strlen(rid)};
    add[n++] = (struct http_header){"x-fc-function-name", 18, p->name, strlen(p->name)};
    add[n++] = (struct http_header){"x-fc-function-handler", 21, handler ? handler : "",
                                    handler ? strlen(handler) : 0};
    add[n++] = (struct http_header){"x-fc-function-memory", 20, mem, strlen(mem)};
    add[n++] = (struct http_header){"x-fc-function-timeout", 21, tmo, strlen(tmo)};
    add[n++] = (struct http_header){"x-fc-region", 11, s->cfg->region, strlen(s->cfg->region)};
    add[n++] =
        (struct http_header){"x-fc-account-id", 15, s->cfg->account_id, strlen(s->cfg->account_id)};
    add[n++] = (struct http_header){"x-fc-qualifier", 14, "LATEST", 6};
    add[n++] = (struct http_header){"x-fc-version-id", 15, "LATEST", 6};
    add[n++] = (struct http_header){"x-fc-control-path", 17, invoke ? "/invoke" : "/http-invoke",
                                    invoke ? 7 : 12};
    if (invoke)
        add[n++] = (struct http_header){"Content-Type", 12, "application/octet-stream", 24};
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
        .response_timeout_ms = (uint64_t)timeout_s(doc) * 1000,
        .caller_answers_errors = true,
        .body = c->c.body,
        .body_len = c->c.body_len,
        .drop_req_header = invoke ? "content-type" : NULL,
    };
    struct http_request *req = c->req;
    http_req_on_abort(req, NULL, NULL);
    struct frost_err err = {0};
    if (http_proxy(req, s->client, &o, proxy_done, c, &err) < 0) {
        in->in_flight--;
        p->in_flight--;
        http_respond_error(req, 500, "InternalError", "%s", err.msg);
        c->req = NULL;
        call_free(c);
        inst_settle(in);
    }
}

static void try_dispatch(struct pool *p)
{
    while (p->qhead) {
        struct inst *in = pick(p);
        if (!in)
            break;
        struct call *c = p->qhead;
        dequeue(c);
        start_call(in, c);
    }
    arm_qtimer(p);
}

/* ------------------------------------------------------------------ public */

void sched_dispatch(struct sched *s, const char *name, struct http_request *req,
                    const struct sched_call *cc)
{
    struct spec_fn *f = spec_registry_get(s->reg, name);
    if (!f || !f->doc) {
        http_respond_error(req, 404, "FunctionNotFound", "function %s does not exist", name);
        return;
    }
    if (s->shutting_down) {
        http_respond_error(req, 503, "ServiceUnavailable", "Frost is shutting down");
        return;
    }
    struct pool *p = pool_get(s, name);
    struct call *c = p ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    if (p->doc != f->doc) {
        if (p->doc)
            sched_function_changed(s, name);
        else
            p->doc = json_incref(f->doc);
    }
    p->deleted = false;
    c->pool = p;
    c->req = req;
    c->c = *cc;
    if (cc->target) {
        snprintf(c->target, sizeof(c->target), "%s", cc->target);
        c->c.target = c->target;
    }
    if (cc->body && cc->body_len) {
        char *copy = malloc(cc->body_len);
        if (!copy) {
            free(c);
            http_respond_error(req, 500, "InternalError", "out of memory");
            return;
        }
        memcpy(copy, cc->body, cc->body_len);
        c->c.body = copy;
        c->body_copy_owned = 1;
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
        call_free(c);
        return;
    }
    uint64_t now = clock_mono_ms();
    c->enqueued_ms = now;
    c->deadline_ms = now + (uint64_t)timeout_s(p->doc) * 1000;
    c->queued = true;
    c->prev = p->qtail;
    if (p->qtail)
        p->qtail->next = c;
    else
        p->qhead = c;
    p->qtail = c;
    p->queued++;
    http_req_on_abort(req, call_abort, c);
    if (p->qhead == c)
        arm_qtimer(p);
    maybe_scale(p);
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
        if (in->doc != p->doc) {
            in->draining = true;
            inst_settle(in);
        }
    }
    maybe_scale(p);
}

void sched_function_deleted(struct sched *s, const char *name)
{
    struct pool *p = pool_find(s, name);
    if (!p)
        return;
    p->deleted = true;
    while (p->qhead) {
        struct call *c = p->qhead;
        dequeue(c);
        answer_error(c, 404, "FunctionNotFound", "PlatformError",
                     "function %s was deleted while the request waited", name);
        call_free(c);
    }
    arm_qtimer(p);
    for (struct inst *in = p->insts; in; in = in->next) {
        in->draining = true;
        inst_settle(in);
    }
    pool_maybe_free(p);
}

json_t *sched_function_status(struct sched *s, const char *name)
{
    struct pool *p = pool_find(s, name);
    int busy = 0;
    for (struct inst *in = p ? p->insts : NULL; in; in = in->next)
        busy += in->in_flight > 0;
    return json_pack("{s:i,s:i,s:i,s:i,s:i}", "ready", p ? p->n_ready : 0, "starting",
                     p ? p->n_starting : 0, "busy", busy, "inFlight", p ? p->in_flight : 0,
                     "queued", p ? p->queued : 0);
}

void sched_shutdown(struct sched *s)
{
    s->shutting_down = true;
    for (int i = 0; i < POOL_BUCKETS; i++) {
        for (struct pool *p = s->buckets[i]; p; p = p->hnext) {
            while (p->qhead) {
                struct call *c = p->qhead;
                dequeue(c);
                answer_error(c, 503, "ServiceUnavailable", "PlatformError",
                             "Frost is shutting down");
                call_free(c);
            }
            uv_timer_stop(&p->qtimer);
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

/* After rt_shutdown: every instance is gone, so only empty pools remain. */
void sched_free(struct sched *s)
{
    if (!s)
        return;
    for (int i = 0; i < POOL_BUCKETS; i++) {
        while (s->buckets[i]) {
            struct pool *p = s->buckets[i];
            s->buckets[i] = p->hnext;
            p->deleted = true;
            while (p->qhead) {
                struct call *c = p->qhead;
                dequeue(c);
                call_free(c);
            }
            uv_close((uv_handle_t *)&p->qtimer, pool_closed);
        }
    }
    free(s);
}
