/* The registry behind GET /metrics: per-function stats found through a hash,
 * instance records kept from the runtime's phase observer, and the render. */
#include "metrics/metrics.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "cli/cli.h" /* FROST_VERSION */
#include "gpu/gpu.h"
#include "sched/sched.h"
#include "spec/registry.h"

#define MAX_ERROR_TYPES 8
#define MAX_COLLECTORS  16
/* A reading of an instance's cgroup younger than this is not repeated. */
#define STATS_MAX_AGE_NS (1000ull * 1000 * 1000)

enum kind { K_ON_DEMAND, K_PROVISIONED, K_PROVISIONED_IDLE, K_OTHER, K_COUNT };
static const char *const kind_names[K_COUNT] = {"on-demand", "provisioned", "provisioned-idle",
                                                "other"};

enum cs_phase { CS_SPAWN, CS_LISTEN, CS_INITIALIZE, CS_FIRST_BYTE, CS_TOTAL, CS_COUNT };
static const char *const cs_names[CS_COUNT] = {"spawn", "listen", "initialize", "first_byte",
                                               "total"};

/* Prometheus-friendly phase names (rt_phase_name has "ready/idle"…). */
static const char *const phase_label[RT_PH_COUNT] = {
    "starting", "initializing", "active",   "idle",    "freezing",
    "frozen",   "thawing",      "stopping", "stopped", "failed",
};

struct metrics_fn {
    struct metrics_fn *hnext;
    struct metrics_fn *next, *prev; /* render order: creation */
    struct metrics *m;
    int refs; /* metrics_fn_get holders + live instance records */
    uint32_t hash;
    char name[128];
    uint64_t invocations;
    struct {
        char type[64];
        uint64_t n;
    } errors[MAX_ERROR_TYPES + 1]; /* the last slot is "other" */
    size_t n_errors;
    struct metrics_hist latency, queue;
    uint64_t cold_starts[K_COUNT], start_failures[K_COUNT];
    struct metrics_hist cold[CS_COUNT];
    uint32_t instances[K_COUNT][RT_PH_COUNT];
    uint64_t shown; /* bit kind*RT_PH_COUNT+phase: that gauge has been non-zero once */
    uint64_t freezes, thaws;
    struct metrics_hist freeze, thaw;
    int target; /* pushed provision target, -1 = none */
};

struct inst {
    struct inst *hnext;
    struct inst *next, *prev; /* oldest cgroup reading first */
    const struct rt_instance *rt;
    struct metrics_fn *fn;
    char id[64];
    enum kind kind;
    enum rt_phase phase;
    uint64_t since_ns, created_ns;
    bool ready, first_byte;
    bool has_stats;
    uint64_t stats_ns;
    uint64_t cpu_us, mem_bytes, oom_kills;
};

struct collector {
    metrics_collect_fn fn;
    void *ud;
};

struct metrics {
    struct rt *rt;
    struct gpu *gpu;
    struct spec_registry *reg;
    struct sched *sched;
    /* functions */
    struct metrics_fn **fbuckets;
    size_t n_fbuckets, n_fns;
    struct metrics_fn *fhead, *ftail;
    /* instances */
    struct inst **ibuckets;
    size_t n_ibuckets, n_insts;
    struct inst *ihead, *itail;
    struct collector collectors[MAX_COLLECTORS];
    size_t n_collectors;
    double last_render_s;
    uint64_t renders;
    int64_t started_ms;
};

/* ------------------------------------------------------------------ hashes */

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static size_t ptr_hash(const void *p, size_t n_buckets)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)(x & (n_buckets - 1));
}

/* Doubles the bucket array when the chains get long; keeps the old one on OOM. */
static void fn_grow(struct metrics *m)
{
    if (m->n_fns < m->n_fbuckets * 2)
        return;
    size_t n = m->n_fbuckets * 2;
    struct metrics_fn **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        size_t i = f->hash & (n - 1);
        f->hnext = b[i];
        b[i] = f;
    }
    free(m->fbuckets);
    m->fbuckets = b;
    m->n_fbuckets = n;
}

static void inst_grow(struct metrics *m)
{
    if (m->n_insts < m->n_ibuckets * 2)
        return;
    size_t n = m->n_ibuckets * 2;
    struct inst **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (struct inst *r = m->ihead; r; r = r->next) {
        size_t i = ptr_hash(r->rt, n);
        r->hnext = b[i];
        b[i] = r;
    }
    free(m->ibuckets);
    m->ibuckets = b;
    m->n_ibuckets = n;
}

/* ---------------------------------------------------------------- functions */

static struct metrics_fn *fn_find(struct metrics *m, const char *name, uint32_t h)
{
    for (struct metrics_fn *f = m->fbuckets[h & (m->n_fbuckets - 1)]; f; f = f->hnext) {
        if (f->hash == h && strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

struct metrics_fn *metrics_fn_get(struct metrics *m, const char *function)
{
    if (!m || !function)
        return NULL;
    uint32_t h = str_hash(function);
    struct metrics_fn *f = fn_find(m, function, h);
    if (f) {
        f->refs++;
        return f;
    }
    f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->m = m;
    f->refs = 1;
    f->hash = h;
    f->target = -1;
    snprintf(f->name, sizeof(f->name), "%s", function);
    metrics_hist_init(&f->latency, metrics_latency_bounds, metrics_latency_n);
    metrics_hist_init(&f->queue, metrics_latency_bounds, metrics_latency_n);
    for (int i = 0; i < CS_COUNT; i++)
        metrics_hist_init(&f->cold[i], metrics_cold_start_bounds, metrics_cold_start_n);
    metrics_hist_init(&f->freeze, metrics_freeze_bounds, metrics_freeze_n);
    metrics_hist_init(&f->thaw, metrics_freeze_bounds, metrics_freeze_n);
    size_t i = h & (m->n_fbuckets - 1);
    f->hnext = m->fbuckets[i];
    m->fbuckets[i] = f;
    f->prev = m->ftail;
    if (m->ftail)
        m->ftail->next = f;
    else
        m->fhead = f;
    m->ftail = f;
    m->n_fns++;
    fn_grow(m);
    return f;
}

static void fn_free(struct metrics_fn *f)
{
    struct metrics *m = f->m;
    for (struct metrics_fn **pp = &m->fbuckets[f->hash & (m->n_fbuckets - 1)]; *pp;
         pp = &(*pp)->hnext) {
        if (*pp == f) {
            *pp = f->hnext;
            break;
        }
    }
    if (f->prev)
        f->prev->next = f->next;
    else
        m->fhead = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        m->ftail = f->prev;
    m->n_fns--;
    free(f);
}

/* A function nothing holds (an on-demand pool that scaled to zero) keeps
 * its counters while it exists in the registry: render() drops it once it is
 * gone. Without a registry it goes at once. put never reads the registry, so
 * it may run after the registry was freed (pools close late at shutdown). */
void metrics_fn_put(struct metrics_fn *f)
{
    if (!f || --f->refs > 0)
        return;
    if (!f->m->reg)
        fn_free(f);
}

static void sweep_functions(struct metrics *m)
{
    for (struct metrics_fn *f = m->fhead, *next; f; f = next) {
        next = f->next;
        if (f->refs <= 0 && (!m->reg || !spec_registry_get(m->reg, f->name)))
            fn_free(f);
    }
}

void metrics_fn_invocation(struct metrics_fn *f, const char *error_type, double latency_s,
                           double queue_s)
{
    if (!f)
        return;
    f->invocations++;
    metrics_hist_observe(&f->latency, latency_s);
    metrics_hist_observe(&f->queue, queue_s);
    if (!error_type || !error_type[0])
        return;
    size_t i = 0;
    for (; i < f->n_errors; i++) {
        if (strncmp(f->errors[i].type, error_type, sizeof(f->errors[i].type) - 1) == 0 &&
            strlen(error_type) < sizeof(f->errors[i].type))
            break;
    }
    if (i == f->n_errors) {
        if (f->n_errors < MAX_ERROR_TYPES && strlen(error_type) < sizeof(f->errors[0].type)) {
            snprintf(f->errors[i].type, sizeof(f->errors[i].type), "%s", error_type);
            f->n_errors++;
        } else {
            i = MAX_ERROR_TYPES; /* "other" */
            snprintf(f->errors[i].type, sizeof(f->errors[i].type), "other");
        }
    }
    f->errors[i].n++;
}

void metrics_fn_provision_target(struct metrics_fn *f, int target)
{
    if (f)
        f->target = target < 0 ? -1 : target;
}

/* ---------------------------------------------------------------- instances */

static struct inst *inst_find(struct metrics *m, const struct rt_instance *rt)
{
    for (struct inst *r = m->ibuckets[ptr_hash(rt, m->n_ibuckets)]; r; r = r->hnext) {
        if (r->rt == rt)
            return r;
    }
    return NULL;
}

static void inst_list_remove(struct metrics *m, struct inst *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        m->ihead = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        m->itail = r->prev;
    r->next = r->prev = NULL;
}

static void inst_list_append(struct metrics *m, struct inst *r)
{
    r->prev = m->itail;
    r->next = NULL;
    if (m->itail)
        m->itail->next = r;
    else
        m->ihead = r;
    m->itail = r;
}

static void inst_free(struct metrics *m, struct inst *r)
{
    for (struct inst **pp = &m->ibuckets[ptr_hash(r->rt, m->n_ibuckets)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == r) {
            *pp = r->hnext;
            break;
        }
    }
    inst_list_remove(m, r);
    m->n_insts--;
    metrics_fn_put(r->fn);
    free(r);
}

static enum kind kind_of(const char *k)
{
    if (!k || strcmp(k, "on-demand") == 0)
        return K_ON_DEMAND;
    if (strcmp(k, "provisioned") == 0)
        return K_PROVISIONED;
    if (strcmp(k, "provisioned-idle") == 0)
        return K_PROVISIONED_IDLE;
    return K_OTHER;
}

static double json_us(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (double)json_integer_value(v) / 1e6 : -1;
}

/* The runtime's own measurement of the start (spawn, listen, initialize), as
 * ListInstances shows it. Once per cold start; rt_instance_json also reads
 * the instance's cgroup stats, which is the price of using a public call. */
static void cold_start_phases(struct metrics_fn *f, struct inst *r, uint64_t now_ns)
{
    double mine = (double)(now_ns - r->created_ns) / 1e9;
    if (!f->m->rt) {
        metrics_hist_observe(&f->cold[CS_TOTAL], mine);
        return;
    }
    json_t *j = rt_instance_json(r->rt);
    const json_t *cs = json_object_get(j, "coldStartPhases");
    double sp = json_us(cs, "spawnUs"), li = json_us(cs, "listenUs"),
           in = json_us(cs, "initializeUs");
    json_decref(j);
    /* listenUs counts from the spawn; the phases here do not overlap. */
    if (sp >= 0)
        metrics_hist_observe(&f->cold[CS_SPAWN], sp);
    if (li >= 0)
        metrics_hist_observe(&f->cold[CS_LISTEN], sp >= 0 && li >= sp ? li - sp : li);
    if (in > 0) /* 0: the function has no initializer */
        metrics_hist_observe(&f->cold[CS_INITIALIZE], in);
    metrics_hist_observe(&f->cold[CS_TOTAL], li >= 0 ? li + (in > 0 ? in : 0) : mine);
}

void metrics_observe_phase(const struct rt_phase_event *e, void *ud)
{
    struct metrics *m = ud;
    uint64_t now = clock_mono_ns();
    struct inst *r = inst_find(m, e->inst);
    if (!r) {
        if (e->to == RT_PH_STOPPED)
            return;
        r = calloc(1, sizeof(*r));
        struct metrics_fn *f = r ? metrics_fn_get(m, e->function) : NULL;
        if (!f) {
            free(r);
            log_warn("metrics_oom", "instance=%s", e->instance_id);
            return;
        }
        r->rt = e->inst;
        r->fn = f;
        r->kind = kind_of(e->kind);
        r->phase = e->to;
        r->since_ns = r->created_ns = now;
        snprintf(r->id, sizeof(r->id), "%s", e->instance_id);
        size_t i = ptr_hash(r->rt, m->n_ibuckets);
        r->hnext = m->ibuckets[i];
        m->ibuckets[i] = r;
        /* New instances are read first. */
        r->next = m->ihead;
        if (m->ihead)
            m->ihead->prev = r;
        else
            m->itail = r;
        m->ihead = r;
        m->n_insts++;
        inst_grow(m);
        f->instances[r->kind][r->phase]++;
        f->shown |= 1ull << (r->kind * RT_PH_COUNT + r->phase);
        if (e->from == e->to)
            return;
        /* An instance the observer missed the start of: counted from here. */
        r->ready = e->to != RT_PH_STARTING && e->to != RT_PH_INITIALIZING;
        return;
    }
    struct metrics_fn *f = r->fn;
    if (e->to == r->phase)
        return;
    f->instances[r->kind][r->phase]--;
    double stint = (double)(now - r->since_ns) / 1e9;
    enum rt_phase from = r->phase, to = e->to;
    if (from == RT_PH_FREEZING && to == RT_PH_FROZEN) {
        f->freezes++;
        metrics_hist_observe(&f->freeze, stint);
    } else if (from == RT_PH_THAWING && (to == RT_PH_ACTIVE || to == RT_PH_IDLE)) {
        f->thaws++;
        metrics_hist_observe(&f->thaw, stint);
    }
    if (!r->ready && (to == RT_PH_IDLE || to == RT_PH_ACTIVE)) {
        r->ready = true;
        f->cold_starts[r->kind]++;
        cold_start_phases(f, r, now);
    } else if (!r->ready && (to == RT_PH_FAILED || to == RT_PH_STOPPING || to == RT_PH_STOPPED)) {
        r->ready = true; /* counted once */
        f->start_failures[r->kind]++;
    }
    if (to == RT_PH_STOPPED) {
        inst_free(m, r);
        return;
    }
    r->phase = to;
    r->since_ns = now;
    f->instances[r->kind][to]++;
    f->shown |= 1ull << (r->kind * RT_PH_COUNT + to);
}

void metrics_fn_first_byte(struct metrics_fn *f, const struct rt_instance *inst, uint64_t head_us)
{
    if (!f || !inst)
        return;
    struct inst *r = inst_find(f->m, inst);
    if (!r || r->first_byte)
        return;
    r->first_byte = true;
    metrics_hist_observe(&f->cold[CS_FIRST_BYTE], (double)head_us / 1e6);
}

/* Reads up to the budget of the oldest readings (the list is kept oldest
 * first: a refreshed record moves to the tail). */
static void refresh_instance_stats(struct metrics *m, uint64_t now)
{
    if (!m->rt)
        return;
    size_t budget = METRICS_INSTANCE_READS_PER_SCRAPE, todo = m->n_insts;
    while (budget && todo-- && m->ihead) {
        struct inst *r = m->ihead;
        if (r->has_stats && now - r->stats_ns < STATS_MAX_AGE_NS)
            break; /* the rest are younger still */
        json_t *j = rt_instance_json(r->rt);
        const json_t *cpu = json_object_get(j, "cpuUsageUs");
        const json_t *mem = json_object_get(j, "memoryBytes");
        const json_t *oom = json_object_get(j, "oomKills");
        if (json_is_integer(cpu) && json_is_integer(mem)) {
            r->cpu_us = (uint64_t)json_integer_value(cpu);
            r->mem_bytes = (uint64_t)json_integer_value(mem);
            r->oom_kills = json_is_integer(oom) ? (uint64_t)json_integer_value(oom) : 0;
            r->has_stats = true;
        }
        json_decref(j);
        r->stats_ns = now;
        inst_list_remove(m, r);
        inst_list_append(m, r);
        budget--;
    }
}

/* ------------------------------------------------------------------ render */

static int provision_target(struct metrics *m, struct metrics_fn *f)
{
    if (f->target >= 0)
        return f->target;
    struct spec_fn *sf = m->reg ? spec_registry_get(m->reg, f->name) : NULL;
    if (!sf || !sf->provision)
        return -1;
    const json_t *t = json_object_get(sf->provision, "defaultTarget");
    if (!json_is_integer(t))
        t = json_object_get(sf->provision, "target");
    return json_is_integer(t) ? (int)json_integer_value(t) : -1;
}

/* A counter family per function and instance kind, read from the
 * uint64_t[K_COUNT] array at `field` of each function (on-demand always
 * shown, other kinds once they count). */
static void per_kind_counter(struct metrics_writer *w, const struct metrics *m, const char *name,
                             const char *help, size_t field)
{
    struct metrics_label l[2];
    metrics_family(w, name, METRICS_COUNTER, help);
    for (const struct metrics_fn *f = m->fhead; f; f = f->next) {
        const uint64_t *v = (const uint64_t *)((const char *)f + field);
        l[0] = (struct metrics_label){"function", f->name};
        for (int k = 0; k < K_COUNT; k++) {
            if (v[k] || k == K_ON_DEMAND) {
                l[1] = (struct metrics_label){"kind", kind_names[k]};
                metrics_sample_u64(w, l, 2, v[k]);
            }
        }
    }
}

static void render_functions(struct metrics *m, struct metrics_writer *w)
{
    struct metrics_label l[3];
    metrics_family(w, "frost_function_invocations_total", METRICS_COUNTER,
                   "Invocations answered (InvokeFunction, HTTP triggers, async jobs), errors "
                   "included.");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        l[0] = (struct metrics_label){"function", f->name};
        metrics_sample_u64(w, l, 1, f->invocations);
    }
    metrics_family(w, "frost_function_errors_total", METRICS_COUNTER,
                   "Invocations answered with an x-fc-error-type, by that type.");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        l[0] = (struct metrics_label){"function", f->name};
        for (size_t i = 0; i <= MAX_ERROR_TYPES; i++) {
            if (i < f->n_errors || (i == MAX_ERROR_TYPES && f->errors[i].n)) {
                l[1] = (struct metrics_label){"error_type", f->errors[i].type};
                metrics_sample_u64(w, l, 2, f->errors[i].n);
            }
        }
    }
    metrics_family(w, "frost_function_invocation_duration_seconds", METRICS_HISTOGRAM,
                   "Invocation latency, from arrival to the end of the answer.");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        l[0] = (struct metrics_label){"function", f->name};
        metrics_sample_hist(w, l, 1, &f->latency);
    }
    metrics_family(w, "frost_function_queue_wait_seconds", METRICS_HISTOGRAM,
                   "Time invocations waited for a free instance slot.");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        l[0] = (struct metrics_label){"function", f->name};
        metrics_sample_hist(w, l, 1, &f->queue);
    }
    if (m->sched) {
        /* One status per function, read once for both families. */
        uint64_t(*load)[2] = calloc(m->n_fns ? m->n_fns : 1, sizeof(*load));
        size_t i = 0;
        for (struct metrics_fn *f = m->fhead; load && f; f = f->next, i++) {
            json_t *st = sched_function_status(m->sched, f->name);
            load[i][0] = (uint64_t)json_integer_value(json_object_get(st, "inFlight"));
            /* client requests and jobs (async tasks) waiting for a slot */
            load[i][1] = (uint64_t)(json_integer_value(json_object_get(st, "queued")) +
                                    json_integer_value(json_object_get(st, "jobsQueued")));
            json_decref(st);
        }
        static const char *const names[2] = {"frost_function_requests_in_flight",
                                             "frost_function_requests_queued"};
        static const char *const helps[2] = {
            "Requests on an instance now.",
            "Requests and async jobs waiting for a free instance slot now."};
        for (int k = 0; load && k < 2; k++) {
            metrics_family(w, names[k], METRICS_GAUGE, helps[k]);
            i = 0;
            for (struct metrics_fn *f = m->fhead; f; f = f->next, i++) {
                l[0] = (struct metrics_label){"function", f->name};
                metrics_sample_u64(w, l, 1, load[i][k]);
            }
        }
        free(load);
    }
    metrics_family(w, "frost_function_instances", METRICS_GAUGE,
                   "Instances by kind and phase (active = a request in flight).");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        l[0] = (struct metrics_label){"function", f->name};
        for (int k = 0; k < K_COUNT; k++) {
            for (int p = 0; p < RT_PH_COUNT; p++) {
                if (!(f->shown & (1ull << (k * RT_PH_COUNT + p))))
                    continue;
                l[1] = (struct metrics_label){"kind", kind_names[k]};
                l[2] = (struct metrics_label){"state", phase_label[p]};
                metrics_sample_u64(w, l, 3, f->instances[k][p]);
            }
        }
    }
    per_kind_counter(w, m, "frost_function_cold_starts_total",
                     "Instances started that became ready.",
                     offsetof(struct metrics_fn, cold_starts));
    per_kind_counter(w, m, "frost_function_cold_start_failures_total",
                     "Instances that failed or stopped before becoming ready.",
                     offsetof(struct metrics_fn, start_failures));
    metrics_family(w, "frost_function_cold_start_seconds", METRICS_HISTOGRAM,
                   "Cold-start time by phase: spawn, listen (spawned to listening), initialize "
                   "(the /initialize hook), first_byte (first request to its response head), "
                   "total (spawn to ready).");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        l[0] = (struct metrics_label){"function", f->name};
        for (int p = 0; p < CS_COUNT; p++) {
            if (!f->cold[p].count)
                continue;
            l[1] = (struct metrics_label){"phase", cs_names[p]};
            metrics_sample_hist(w, l, 2, &f->cold[p]);
        }
    }
    metrics_family(w, "frost_function_provision_target", METRICS_GAUGE,
                   "Provisioned instances wanted (the scaler's target, else the configured "
                   "defaultTarget).");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        int t = provision_target(m, f);
        if (t < 0)
            continue;
        l[0] = (struct metrics_label){"function", f->name};
        metrics_sample_u64(w, l, 1, (uint64_t)t);
    }
    metrics_family(w, "frost_function_provision_current", METRICS_GAUGE,
                   "Provisioned instances that exist and are not stopping.");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        uint64_t cur = 0;
        for (int k = K_PROVISIONED; k <= K_PROVISIONED_IDLE; k++) {
            for (int p = 0; p < RT_PH_COUNT; p++) {
                if (p != RT_PH_STOPPING && p != RT_PH_STOPPED && p != RT_PH_FAILED)
                    cur += f->instances[k][p];
            }
        }
        if (!cur && provision_target(m, f) < 0)
            continue;
        l[0] = (struct metrics_label){"function", f->name};
        metrics_sample_u64(w, l, 1, cur);
    }
    metrics_family(w, "frost_function_freezes_total", METRICS_COUNTER,
                   "Idle-mode freezes completed (GPU state checkpointed, cgroup frozen).");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        l[0] = (struct metrics_label){"function", f->name};
        metrics_sample_u64(w, l, 1, f->freezes);
    }
    metrics_family(w, "frost_function_thaws_total", METRICS_COUNTER, "Idle-mode thaws completed.");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        l[0] = (struct metrics_label){"function", f->name};
        metrics_sample_u64(w, l, 1, f->thaws);
    }
    metrics_family(w, "frost_function_freeze_duration_seconds", METRICS_HISTOGRAM,
                   "Time from the start of a freeze to frozen.");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        if (!f->freeze.count)
            continue;
        l[0] = (struct metrics_label){"function", f->name};
        metrics_sample_hist(w, l, 1, &f->freeze);
    }
    metrics_family(w, "frost_function_thaw_duration_seconds", METRICS_HISTOGRAM,
                   "Time from the start of a thaw to ready again.");
    for (struct metrics_fn *f = m->fhead; f; f = f->next) {
        if (!f->thaw.count)
            continue;
        l[0] = (struct metrics_label){"function", f->name};
        metrics_sample_hist(w, l, 1, &f->thaw);
    }
}

static void render_instances(struct metrics *m, struct metrics_writer *w, uint64_t now)
{
    if (!m->rt)
        return;
    refresh_instance_stats(m, now);
    struct metrics_label l[3];
    metrics_family(w, "frost_instance_cpu_seconds_total", METRICS_COUNTER,
                   "CPU time used by the instance's cgroup.");
    for (struct inst *r = m->ihead; r; r = r->next) {
        if (!r->has_stats)
            continue;
        l[0] = (struct metrics_label){"function", r->fn->name};
        l[1] = (struct metrics_label){"instance", r->id};
        l[2] = (struct metrics_label){"kind", kind_names[r->kind]};
        metrics_sample(w, l, 3, (double)r->cpu_us / 1e6);
    }
    metrics_family(w, "frost_instance_memory_bytes", METRICS_GAUGE,
                   "Memory charged to the instance's cgroup.");
    for (struct inst *r = m->ihead; r; r = r->next) {
        if (!r->has_stats)
            continue;
        l[0] = (struct metrics_label){"function", r->fn->name};
        l[1] = (struct metrics_label){"instance", r->id};
        l[2] = (struct metrics_label){"kind", kind_names[r->kind]};
        metrics_sample_u64(w, l, 3, r->mem_bytes);
    }
    metrics_family(w, "frost_instance_oom_kills_total", METRICS_COUNTER,
                   "Processes of the instance killed by the OOM killer.");
    for (struct inst *r = m->ihead; r; r = r->next) {
        if (!r->has_stats)
            continue;
        l[0] = (struct metrics_label){"function", r->fn->name};
        l[1] = (struct metrics_label){"instance", r->id};
        l[2] = (struct metrics_label){"kind", kind_names[r->kind]};
        metrics_sample_u64(w, l, 3, r->oom_kills);
    }
}

static void render_gpus(struct metrics *m, struct metrics_writer *w)
{
    size_t n = m->gpu ? gpu_count(m->gpu) : 0;
    if (!n)
        return;
    struct metrics_label l[7];
    char idx[GPU_MAX_DEVICES][8];
    for (size_t i = 0; i < n && i < GPU_MAX_DEVICES; i++)
        snprintf(idx[i], sizeof(idx[i]), "%d", gpu_device(m->gpu, i)->index);
    if (n > GPU_MAX_DEVICES)
        n = GPU_MAX_DEVICES;
#define DEV_LABELS(d, i)                                                                           \
    l[0] = (struct metrics_label){"device", idx[i]};                                               \
    l[1] = (struct metrics_label){"uuid", (d)->uuid};                                              \
    l[2] = (struct metrics_label){"type", (d)->type};                                              \
    l[3] = (struct metrics_label){"simulated", (d)->simulated ? "true" : "false"}
    metrics_family(w, "frost_gpu_info", METRICS_GAUGE,
                   "One per GPU device: its name and backend (simulated=\"true\" on the sim "
                   "backend).");
    for (size_t i = 0; i < n; i++) {
        const struct gpu_device *d = gpu_device(m->gpu, i);
        DEV_LABELS(d, i);
        l[4] = (struct metrics_label){"name", d->name};
        l[5] = (struct metrics_label){"backend", gpu_backend(m->gpu)};
        metrics_sample_u64(w, l, 6, 1);
    }
    metrics_family(w, "frost_gpu_memory_total_bytes", METRICS_GAUGE, "GPU memory of the device.");
    for (size_t i = 0; i < n; i++) {
        const struct gpu_device *d = gpu_device(m->gpu, i);
        DEV_LABELS(d, i);
        metrics_sample_u64(w, l, 4, d->memory_mb << 20);
    }
    metrics_family(w, "frost_gpu_memory_reserved_bytes", METRICS_GAUGE,
                   "GPU memory held by instances' placements (frozen instances hold none).");
    for (size_t i = 0; i < n; i++) {
        const struct gpu_device *d = gpu_device(m->gpu, i);
        DEV_LABELS(d, i);
        metrics_sample_u64(w, l, 4, d->reserved_mb << 20);
    }
#undef DEV_LABELS
    struct gpu_usage u;
    gpu_usage(m->gpu, &u);
    metrics_family(w, "frost_gpu_cards_in_use", METRICS_GAUGE,
                   "Devices with any reservation (counted against the card quota).");
    metrics_sample_u64(w, NULL, 0, u.cards_in_use);
    if (u.card_quota) {
        metrics_family(w, "frost_gpu_card_quota", METRICS_GAUGE,
                       "Most cards in use at once (gpu.card_quota).");
        metrics_sample_u64(w, NULL, 0, u.card_quota);
    }
}

int metrics_render(struct metrics *m, struct buf *out, struct frost_err *err)
{
    uint64_t t0 = clock_mono_ns();
    struct metrics_writer *w = metrics_writer_new(out);
    if (!w)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    struct metrics_label l[1] = {{"version", FROST_VERSION}};
    metrics_family(w, "frost_build_info", METRICS_GAUGE, "Frost's version.");
    metrics_sample_u64(w, l, 1, 1);
    metrics_family(w, "frost_start_time_seconds", METRICS_GAUGE,
                   "When this frost serve started, in seconds since the epoch.");
    metrics_sample(w, NULL, 0, (double)m->started_ms / 1e3);
    metrics_family(w, "frost_metrics_render_seconds", METRICS_GAUGE,
                   "How long the previous /metrics render took.");
    metrics_sample(w, NULL, 0, m->last_render_s);
    sweep_functions(m);
    metrics_family(w, "frost_functions_tracked", METRICS_GAUGE,
                   "Functions with series in this exposition.");
    metrics_sample_u64(w, NULL, 0, m->n_fns);
    metrics_family(w, "frost_instances_tracked", METRICS_GAUGE,
                   "Instances that exist (any phase but stopped).");
    metrics_sample_u64(w, NULL, 0, m->n_insts);
    render_functions(m, w);
    render_instances(m, w, t0);
    render_gpus(m, w);
    for (size_t i = 0; i < m->n_collectors; i++)
        m->collectors[i].fn(w, m->collectors[i].ud);
    size_t errors = metrics_writer_errors(w);
    bool full = metrics_writer_full(w);
    char why[200];
    snprintf(why, sizeof(why), "%s", metrics_writer_error(w));
    metrics_writer_free(w);
    m->last_render_s = (double)(clock_mono_ns() - t0) / 1e9;
    m->renders++;
    if (errors) {
        if (full)
            return frost_err_set(err, 500, "InternalError",
                                 "the metrics exposition is larger than %zu bytes", out->limit);
        /* A collector's mistake must not hide every other metric. */
        log_warn("metrics_writer_refused", "count=%zu first=\"%s\"", errors, why);
    }
    return 0;
}

/* -------------------------------------------------------------- lifecycle */

static void on_phase(const struct rt_phase_event *e, void *ud)
{
    metrics_observe_phase(e, ud);
}

int metrics_new(const struct metrics_opts *o, struct metrics **out, struct frost_err *err)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    m->rt = o->rt;
    m->gpu = o->gpu;
    m->reg = o->reg;
    m->started_ms = clock_wall_ms();
    m->n_fbuckets = 256;
    m->n_ibuckets = 256;
    m->fbuckets = calloc(m->n_fbuckets, sizeof(*m->fbuckets));
    m->ibuckets = calloc(m->n_ibuckets, sizeof(*m->ibuckets));
    if (!m->fbuckets || !m->ibuckets) {
        metrics_free(m);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    if (m->rt && rt_on_phase(m->rt, on_phase, m, err) < 0) {
        metrics_free(m);
        return frost_err_prefix(err, "metrics");
    }
    *out = m;
    return 0;
}

void metrics_set_sched(struct metrics *m, struct sched *s)
{
    m->sched = s;
}

int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *ud, struct frost_err *err)
{
    if (m->n_collectors == MAX_COLLECTORS)
        return frost_err_set(err, 500, "InternalError", "at most %d metrics collectors",
                             MAX_COLLECTORS);
    m->collectors[m->n_collectors++] = (struct collector){fn, ud};
    return 0;
}

void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn, void *ud)
{
    for (size_t i = 0; i < m->n_collectors; i++) {
        if (m->collectors[i].fn == fn && m->collectors[i].ud == ud) {
            memmove(&m->collectors[i], &m->collectors[i + 1],
                    (m->n_collectors - i - 1) * sizeof(m->collectors[0]));
            m->n_collectors--;
            return;
        }
    }
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    /* Records of instances whose STOPPED never came (the runtime was freed
     * first) and functions still held are released here. */
    while (m->ihead)
        inst_free(m, m->ihead);
    while (m->fhead)
        fn_free(m->fhead);
    free(m->fbuckets);
    free(m->ibuckets);
    free(m);
}
