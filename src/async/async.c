/* The async task manager: an index of every task, per-function queues, the
 * hand-off to the scheduler, retries, expiry, stop, destinations, retention
 * and crash recovery.
 *
 * Where a task is, besides the index and its function's ordered list of all
 * tasks, is one of:
 *   W_READY    waiting in its function's FIFO for room in the scheduler
 *   W_SCHED    handed to the scheduler (t->job), waiting there for a slot
 *   W_RUNNING  on an instance (t->job)
 *   W_BACKOFF  Retrying, until next_run_ms (global list)
 *   W_DEST     finished, its destination not yet delivered (global list)
 *   W_NONE     none of these (finished, or Stopping while its job ends)
 * A job's done callback always comes; a task whose job is out is never
 * freed before it. Tasks that moved on while their job was out (stopped,
 * expired, shutdown) set job_ignored, and the outcome is dropped.
 *
 * Every change of a task is written through the store; readers (get, list,
 * counts) see only tasks whose submission is durable. */
#include "async/async.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async/task.h"
#include "async/webhook.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/reqid.h"
#include "spec/spec.h"

#define FN_BUCKETS         256
#define DEST_MAX_DEPTH     8 /* destination tasks of destination tasks … stop here */
#define EXPIRY_EVERY_MS    1000
#define RETENTION_EVERY_MS 60000
#define MAX_WAITING        100000 /* unfinished tasks per function */

enum where { W_NONE, W_READY, W_SCHED, W_RUNNING, W_BACKOFF, W_DEST };

struct afn;

struct waiter {
    struct waiter *next;
    async_submit_fn done;
    void *ud;
};

struct atask {
    struct task t;
    struct afn *f;
    struct atask *hnext;       /* index chain */
    struct atask *prev, *next; /* f's tasks by (created_ms, id) */
    struct atask *lprev, *lnext;
    enum where where;
    struct sched_job *job;
    bool job_started;
    bool job_ignored;
    bool durable;
    bool removed; /* out of the index: freed once refs == 0 and no job */
    int refs;     /* store writes and webhook posts in flight */
    struct waiter *waiters;
    int dest_attempts;
    int64_t dest_next_ms;
    bool dest_busy;
};

struct tlist {
    struct atask *head, *tail;
    size_t n;
};

struct afn {
    struct async *a;
    struct afn *hnext, *lnext;
    char name[TASK_FN_MAX + 1];
    struct atask *head, *tail; /* every task, by (created_ms, id) */
    struct tlist ready, sched, running;
    uint64_t counts[TASK_NSTATUS];
    size_t n_finished;
    size_t n_waiting; /* not finished (durable or not) */
    bool pumping;
};

struct async {
    uv_loop_t *loop;
    struct store *store;
    struct spec_registry *reg;
    struct async_runner runner;
    struct webhook *webhook;
    char region[64], account[64];
    uint64_t retry_base_ms, retry_max_ms, tick_ms, retention_ms, webhook_timeout_ms;
    size_t max_finished, window;
    int webhook_attempts;
    bool no_webhooks;
    int64_t (*now_fn)(void *ud);
    void *now_ud;

    struct atask **index;
    size_t index_cap, index_n;
    struct afn *fns[FN_BUCKETS];
    struct afn *fn_list;
    struct tlist backoff, dest;

    uv_timer_t timer;
    bool recovered;
    bool shutting;
    int64_t last_expiry_ms, last_retention_ms;
};

static void pump(struct async *a, struct afn *f);
static void deliver(struct async *a, struct atask *t);

static int64_t now_ms(struct async *a)
{
    return a->now_fn ? a->now_fn(a->now_ud) : clock_wall_ms();
}

/* ---------------------------------------------------------------- runner */

static int sched_runner_submit(void *ctx, const char *fn, const struct sched_job_opts *o,
                               sched_job_fn done, void *ud, struct sched_job **out,
                               struct frost_err *err)
{
    return sched_submit(ctx, fn, o, done, ud, out, err);
}

static void sched_runner_stop(void *ctx, struct sched_job *j)
{
    sched_job_stop(j);
}

/* ------------------------------------------------------------------ lists */

static void list_push(struct tlist *l, struct atask *t)
{
    t->lnext = NULL;
    t->lprev = l->tail;
    if (l->tail)
        l->tail->lnext = t;
    else
        l->head = t;
    l->tail = t;
    l->n++;
}

static void list_del(struct tlist *l, struct atask *t)
{
    if (t->lprev)
        t->lprev->lnext = t->lnext;
    else
        l->head = t->lnext;
    if (t->lnext)
        t->lnext->lprev = t->lprev;
    else
        l->tail = t->lprev;
    t->lprev = t->lnext = NULL;
    l->n--;
}

static struct tlist *list_of(struct async *a, struct atask *t)
{
    switch (t->where) {
    case W_READY:
        return &t->f->ready;
    case W_SCHED:
        return &t->f->sched;
    case W_RUNNING:
        return &t->f->running;
    case W_BACKOFF:
        return &a->backoff;
    case W_DEST:
        return &a->dest;
    default:
        return NULL;
    }
}

static void move_to(struct async *a, struct atask *t, enum where w)
{
    struct tlist *l = list_of(a, t);
    if (l)
        list_del(l, t);
    t->where = w;
    l = list_of(a, t);
    if (l)
        list_push(l, t);
}

/* ------------------------------------------------------------- functions */

static unsigned hash_str(unsigned h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct afn *afn_find(struct async *a, const char *name)
{
    for (struct afn *f = a->fns[hash_str(2166136261u, name) % FN_BUCKETS]; f; f = f->hnext)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static struct afn *afn_get(struct async *a, const char *name)
{
    struct afn *f = afn_find(a, name);
    if (f)
        return f;
    f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->a = a;
    snprintf(f->name, sizeof(f->name), "%s", name);
    unsigned h = hash_str(2166136261u, name) % FN_BUCKETS;
    f->hnext = a->fns[h];
    a->fns[h] = f;
    f->lnext = a->fn_list;
    a->fn_list = f;
    return f;
}

/* ------------------------------------------------------------------ index */

static unsigned task_hash(const char *fn, const char *id)
{
    return hash_str(hash_str(hash_str(2166136261u, fn), "/"), id);
}

static struct atask *index_find(struct async *a, const char *fn, const char *id)
{
    if (!a->index_cap)
        return NULL;
    for (struct atask *t = a->index[task_hash(fn, id) & (a->index_cap - 1)]; t; t = t->hnext)
        if (strcmp(t->t.id, id) == 0 && strcmp(t->t.fn, fn) == 0)
            return t;
    return NULL;
}

static int index_add(struct async *a, struct atask *t)
{
    if (a->index_n >= a->index_cap) {
        size_t cap = a->index_cap ? a->index_cap * 2 : 1024;
        struct atask **n = calloc(cap, sizeof(*n));
        if (!n)
            return -1;
        for (size_t i = 0; i < a->index_cap; i++) {
            for (struct atask *x = a->index[i], *next; x; x = next) {
                next = x->hnext;
                unsigned h = task_hash(x->t.fn, x->t.id) & (cap - 1);
                x->hnext = n[h];
                n[h] = x;
            }
        }
        free(a->index);
        a->index = n;
        a->index_cap = cap;
    }
    unsigned h = task_hash(t->t.fn, t->t.id) & (a->index_cap - 1);
    t->hnext = a->index[h];
    a->index[h] = t;
    a->index_n++;
    return 0;
}

static void index_del(struct async *a, struct atask *t)
{
    for (struct atask **pp = &a->index[task_hash(t->t.fn, t->t.id) & (a->index_cap - 1)]; *pp;
         pp = &(*pp)->hnext) {
        if (*pp == t) {
            *pp = t->hnext;
            a->index_n--;
            return;
        }
    }
}

/* (created_ms, id) order. */
static int key_cmp(int64_t ms_a, const char *id_a, int64_t ms_b, const char *id_b)
{
    if (ms_a != ms_b)
        return ms_a < ms_b ? -1 : 1;
    return strcmp(id_a, id_b);
}

/* Into f's ordered list; new tasks almost always go last. */
static void order_add(struct afn *f, struct atask *t)
{
    struct atask *after = f->tail;
    while (after && key_cmp(after->t.created_ms, after->t.id, t->t.created_ms, t->t.id) > 0)
        after = after->prev;
    t->prev = after;
    t->next = after ? after->next : f->head;
    if (t->next)
        t->next->prev = t;
    else
        f->tail = t;
    if (after)
        after->next = t;
    else
        f->head = t;
}

static void order_del(struct afn *f, struct atask *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        f->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        f->tail = t->prev;
    t->prev = t->next = NULL;
}

static void maybe_free(struct atask *t)
{
    if (!t->removed || t->refs > 0 || t->job)
        return;
    task_clear(&t->t);
    free(t);
}

/* Out of every structure; freed now or once its writes and job are done. */
static void task_remove(struct async *a, struct atask *t)
{
    struct afn *f = t->f;
    struct tlist *l = list_of(a, t);
    if (l)
        list_del(l, t);
    t->where = W_NONE;
    index_del(a, t);
    order_del(f, t);
    if (t->durable) {
        f->counts[t->t.status]--;
        if (task_status_terminal(t->t.status))
            f->n_finished--;
    }
    if (!task_status_terminal(t->t.status))
        f->n_waiting--;
    t->removed = true;
    maybe_free(t);
}

static struct atask *task_new(struct async *a, const char *fn, const char *id,
                              const char *request_id, int64_t now)
{
    struct afn *f = afn_get(a, fn);
    struct atask *t = f ? calloc(1, sizeof(*t)) : NULL;
    if (!t)
        return NULL;
    t->f = f;
    snprintf(t->t.fn, sizeof(t->t.fn), "%s", fn);
    snprintf(t->t.id, sizeof(t->t.id), "%s", id);
    snprintf(t->t.request_id, sizeof(t->t.request_id), "%s", request_id);
    t->t.created_ms = now;
    t->t.status = TASK_ENQUEUED;
    return t;
}

/* --------------------------------------------------------------- configs */

struct fn_cfg {
    int max_retries;
    int64_t max_age_ms;
    const char *on_success, *on_failure; /* borrowed from the registry; NULL = none */
};

static void fn_config(struct async *a, const char *fn, struct fn_cfg *c)
{
    *c = (struct fn_cfg){SPEC_DEFAULT_ASYNC_MAX_RETRIES,
                         (int64_t)SPEC_DEFAULT_ASYNC_MAX_AGE_S * 1000, NULL, NULL};
    struct spec_fn *f = spec_registry_get(a->reg, fn);
    json_t *cfg = f ? f->async_config : NULL;
    if (!cfg)
        return;
    json_t *v = json_object_get(cfg, "maxAsyncRetryAttempts");
    if (json_is_integer(v))
        c->max_retries = (int)json_integer_value(v);
    v = json_object_get(cfg, "maxAsyncEventAgeInSeconds");
    if (json_is_integer(v))
        c->max_age_ms = (int64_t)json_integer_value(v) * 1000;
    json_t *dc = json_object_get(cfg, "destinationConfig");
    c->on_success =
        json_string_value(json_object_get(json_object_get(dc, "onSuccess"), "destination"));
    c->on_failure =
        json_string_value(json_object_get(json_object_get(dc, "onFailure"), "destination"));
}

static bool fn_exists(struct async *a, const char *fn)
{
    struct spec_fn *f = spec_registry_get(a->reg, fn);
    return f && f->doc;
}

static void arn_of(struct async *a, const char *fn, char *out, size_t len)
{
    snprintf(out, len, "acs:fc:%s:%s:functions/%s", a->region, a->account, fn);
}

static uint64_t backoff_ms(uint64_t base, uint64_t max, int n)
{
    uint64_t d = base;
    for (int i = 1; i < n && d < max; i++)
        d *= 2;
    return d < max ? d : max;
}

/* ----------------------------------------------------------------- writes */

typedef void (*persist_fn)(struct async *a, struct atask *t, int status, const char *msg, void *ud);

struct pctx {
    struct async *a;
    struct atask *t;
    persist_fn cb;
    void *ud;
};

static void on_persisted(void *ud, int status, const char *msg)
{
    struct pctx *pc = ud;
    struct atask *t = pc->t;
    if (status < 0) {
        char tmp[600];
        log_error("async_task_write_failed", "function=%s task=%s error=%s", t->t.fn, t->t.id,
                  log_quote(msg ? msg : "?", tmp, sizeof(tmp)));
    }
    /* The write still holds t during cb, which may remove it. */
    if (pc->cb)
        pc->cb(pc->a, t, status, msg ? msg : "", pc->ud);
    t->refs--;
    maybe_free(t);
    free(pc);
}

/* Adds t's document (and its payload's) to b. */
static int batch_put(struct store_batch *b, struct atask *t, bool payload)
{
    char key[TASK_FN_MAX + TASK_ID_MAX + 2];
    if (task_key(t->t.fn, t->t.id, key, sizeof(key)) < 0)
        return -1;
    char *doc = task_doc(&t->t);
    int rc = doc ? store_batch_put(b, STORE_TASKS, key, doc) : -1;
    free(doc);
    if (rc == 0 && payload) {
        doc = task_payload_doc(&t->t);
        rc = doc ? store_batch_put(b, STORE_TASK_PAYLOADS, key, doc) : -1;
        free(doc);
    }
    return rc;
}

/* Submits b (owned from here) on behalf of t; cb (may be NULL) runs once
 * durable or failed. -1 (cb will not run) when the store refuses. */
static int persist_batch(struct async *a, struct atask *t, struct store_batch *b, persist_fn cb,
                         void *ud)
{
    struct pctx *pc = malloc(sizeof(*pc));
    if (!pc) {
        store_batch_free(b);
        return -1;
    }
    *pc = (struct pctx){a, t, cb, ud};
    t->refs++;
    if (store_submit(a->store, b, on_persisted, pc) < 0) {
        t->refs--;
        free(pc);
        return -1;
    }
    return 0;
}

static int persist_cb(struct async *a, struct atask *t, persist_fn cb, void *ud)
{
    struct store_batch *b = store_batch_new();
    if (!b || batch_put(b, t, false) < 0) {
        store_batch_free(b);
        log_error("async_task_write_failed", "function=%s task=%s error=\"out of memory\"", t->t.fn,
                  t->t.id);
        return -1;
    }
    if (persist_batch(a, t, b, cb, ud) < 0) {
        log_warn("async_task_write_refused", "function=%s task=%s status=%s", t->t.fn, t->t.id,
                 task_status_name(t->t.status));
        return -1;
    }
    return 0;
}

static void persist(struct async *a, struct atask *t)
{
    (void)persist_cb(a, t, NULL, NULL);
}

/* ------------------------------------------------------------ transitions */

/* The one place a durable task changes status: counts follow. */
static int set_status(struct async *a, struct atask *t, enum task_status to, const char *detail)
{
    enum task_status from = t->t.status;
    if (task_transition(&t->t, to, now_ms(a), detail) < 0) {
        log_error("async_task_bad_transition", "function=%s task=%s from=%s to=%s", t->t.fn,
                  t->t.id, task_status_name(from), task_status_name(to));
        return -1;
    }
    struct afn *f = t->f;
    if (t->durable) {
        f->counts[from]--;
        f->counts[to]++;
        if (task_status_terminal(to))
            f->n_finished++;
    }
    if (task_status_terminal(to))
        f->n_waiting--;
    log_info("async_task", "function=%s task=%s status=%s retried=%d", t->t.fn, t->t.id,
             task_status_name(to), t->t.retried);
    return 0;
}

/* Chooses the destination for a task that just finished (before its
 * terminal write, so the choice is in it). */
static void dest_choose(struct async *a, struct atask *t)
{
    struct fn_cfg c;
    fn_config(a, t->t.fn, &c);
    const char *d = t->t.status == TASK_SUCCEEDED                               ? c.on_success
                    : t->t.status == TASK_FAILED || t->t.status == TASK_EXPIRED ? c.on_failure
                                                                                : NULL;
    if (!d || !d[0])
        return;
    if (t->t.depth >= DEST_MAX_DEPTH) {
        task_note(&t->t, now_ms(a),
                  "destination skipped: this task is itself the 8th destination in a chain");
        return;
    }
    free(t->t.dest_target);
    t->t.dest_target = strdup(d);
    if (!t->t.dest_target)
        return;
    t->t.dest = TASK_DEST_PENDING;
    t->dest_attempts = 0;
    t->dest_next_ms = now_ms(a);
    move_to(a, t, W_DEST);
}

/* Terminal status, destination choice, one write, then delivery. */
static void finish(struct async *a, struct atask *t, enum task_status to, const char *detail)
{
    move_to(a, t, W_NONE);
    if (set_status(a, t, to, detail) < 0)
        return;
    dest_choose(a, t);
    persist(a, t);
    if (t->t.dest == TASK_DEST_PENDING)
        deliver(a, t);
}

static bool expired(struct async *a, struct atask *t, int64_t now, int64_t *age_ms)
{
    struct fn_cfg c;
    fn_config(a, t->t.fn, &c);
    *age_ms = now - t->t.created_ms;
    return *age_ms > c.max_age_ms;
}

static void expire(struct async *a, struct atask *t, int64_t age_ms)
{
    char d[160];
    snprintf(d, sizeof(d),
             "not started within maxAsyncEventAgeInSeconds (waited %" PRId64 " ms); discarded",
             age_ms);
    if (!t->t.error)
        task_set_error(&t->t, d);
    finish(a, t, TASK_EXPIRED, d);
}

/* --------------------------------------------------------------- dispatch */

static void on_job_start(struct sched_job *j, const char *instance_id, void *ud);
static void on_job_done(struct sched_job *j, const struct sched_job_result *r, void *ud);

static void pump(struct async *a, struct afn *f)
{
    if (a->shutting || !a->recovered || f->pumping)
        return;
    f->pumping = true;
    int64_t now = now_ms(a);
    while (f->sched.n < a->window && f->ready.head) {
        struct atask *t = f->ready.head;
        int64_t age;
        if (expired(a, t, now, &age)) {
            expire(a, t, age);
            continue;
        }
        if (!fn_exists(a, t->t.fn)) {
            task_set_error(&t->t, "the function no longer exists");
            finish(a, t, TASK_INVALID, "the function no longer exists");
            continue;
        }
        struct http_header h[2] = {
            {"x-fc-async-task-id", 18, t->t.id, strlen(t->t.id)},
            {"x-fc-invocation-type", 20, "Async", 5},
        };
        struct sched_job_opts o = {
            .request_id = t->t.request_id,
            .body = t->t.payload.data ? t->t.payload.data : "",
            .body_len = t->t.payload.len,
            .headers = h,
            .n_headers = 2,
            .on_start = on_job_start,
        };
        struct frost_err err = {0};
        struct sched_job *job = NULL;
        if (a->runner.submit(a->runner.ctx, t->t.fn, &o, on_job_done, t, &job, &err) < 0) {
            if (err.status == 404) {
                task_set_error(&t->t, err.msg);
                finish(a, t, TASK_INVALID, err.msg);
                continue;
            }
            /* Busy or out of memory: the tick tries again. */
            log_warn("async_dispatch_failed", "function=%s task=%s status=%d error=\"%s\"", t->t.fn,
                     t->t.id, err.status, err.msg);
            break;
        }
        t->job = job;
        t->job_started = false;
        t->job_ignored = false;
        move_to(a, t, W_SCHED);
    }
    f->pumping = false;
}

static void on_job_start(struct sched_job *j, const char *instance_id, void *ud)
{
    struct atask *t = ud;
    t->job_started = true;
    if (t->job_ignored)
        return;
    struct async *a = t->f->a;
    struct afn *f = t->f;
    move_to(a, t, W_RUNNING);
    bool retry = t->t.status == TASK_RETRYING;
    if (retry)
        t->t.retried++;
    snprintf(t->t.instance_id, sizeof(t->t.instance_id), "%s", instance_id ? instance_id : "");
    char d[256];
    snprintf(d, sizeof(d), "%s %d on instance %s", retry ? "retry" : "attempt",
             retry ? t->t.retried : 1, t->t.instance_id[0] ? t->t.instance_id : "-");
    if (set_status(a, t, TASK_RUNNING, d) == 0)
        persist(a, t);
    pump(a, f);
}

/* Printable excerpt of a function's answer for messages. */
static void excerpt(const char *data, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < outlen && i < 200; i++) {
        unsigned char c = (unsigned char)data[i];
        out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
    }
    if (len > 200 && n + 4 < outlen) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
}

static void retry_or_fail(struct async *a, struct atask *t, const char *what)
{
    struct fn_cfg c;
    fn_config(a, t->t.fn, &c);
    char d[TASK_DETAIL_MAX];
    int attempt = t->t.retried + 1;
    if (t->t.retried < c.max_retries) {
        uint64_t delay = backoff_ms(a->retry_base_ms, a->retry_max_ms, t->t.retried + 1);
        snprintf(d, sizeof(d), "attempt %d failed: %s; retry %d of %d in %" PRIu64 " ms", attempt,
                 what, t->t.retried + 1, c.max_retries, delay);
        t->t.next_run_ms = now_ms(a) + (int64_t)delay;
        move_to(a, t, W_NONE);
        if (set_status(a, t, TASK_RETRYING, d) < 0)
            return;
        move_to(a, t, W_BACKOFF);
        persist(a, t);
        return;
    }
    snprintf(d, sizeof(d), "attempt %d failed: %s; no retries left (maxAsyncRetryAttempts %d)",
             attempt, what, c.max_retries);
    finish(a, t, TASK_FAILED, d);
}

static void on_job_done(struct sched_job *j, const struct sched_job_result *r, void *ud)
{
    struct atask *t = ud;
    struct afn *f = t->f;
    struct async *a = f->a;
    t->job = NULL;
    if (t->job_ignored || t->removed) {
        maybe_free(t);
        pump(a, f);
        return;
    }
    t->t.duration_ms += r->run_ms;
    if (r->instance_id && r->instance_id[0])
        snprintf(t->t.instance_id, sizeof(t->t.instance_id), "%s", r->instance_id);
    if (t->t.status == TASK_STOPPING) {
        finish(a, t, TASK_STOPPED, "stopped: the request was aborted");
        pump(a, f);
        return;
    }
    bool no_answer = r->error_code && r->error_code[0];
    bool ok = !no_answer && !r->fn_error_type && r->status >= 200 && r->status < 400;
    t->t.fn_status = r->status;
    if (r->status && task_set_return(&t->t, r->body ? r->body : "", r->body_len, r->body_total) < 0)
        log_error("async_task_oom", "function=%s task=%s", t->t.fn, t->t.id);
    if (!t->job_started) {
        /* Never reached an instance (a start failure, say): that is an attempt too. */
        move_to(a, t, W_NONE);
        if (t->t.status == TASK_RETRYING)
            t->t.retried++;
    }
    char d[TASK_DETAIL_MAX];
    if (ok) {
        if (t->t.status != TASK_RUNNING)
            (void)set_status(a, t, TASK_RUNNING, "attempt on an instance");
        t->t.error_type[0] = 0;
        task_set_error(&t->t, NULL);
        snprintf(d, sizeof(d), "the function answered %d in %" PRIu64 " ms", r->status, r->run_ms);
        finish(a, t, TASK_SUCCEEDED, d);
        pump(a, f);
        return;
    }
    char ex[220];
    excerpt(r->body ? r->body : "", r->body_len, ex, sizeof(ex));
    if (no_answer)
        snprintf(d, sizeof(d), "%s: %s", r->error_code, r->message ? r->message : "");
    else if (r->fn_error_type)
        snprintf(d, sizeof(d), "%s (HTTP %d): %s", r->fn_error_type, r->status, ex);
    else
        snprintf(d, sizeof(d), "the function answered HTTP %d: %s", r->status, ex);
    const char *type = r->fn_error_type                  ? r->fn_error_type
                       : r->error_type && *r->error_type ? r->error_type
                                                         : "UnhandledInvocationError";
    snprintf(t->t.error_type, sizeof(t->t.error_type), "%s", type);
    task_set_error(&t->t, d);
    if (no_answer && strcmp(r->error_code, "FunctionNotFound") == 0) {
        finish(a, t, TASK_INVALID, d);
        pump(a, f);
        return;
    }
    retry_or_fail(a, t, d);
    pump(a, f);
}

/* ----------------------------------------------------------- destinations */

static json_t *dest_record(struct async *a, struct atask *t)
{
    char arn[256];
    arn_of(a, t->t.fn, arn, sizeof(arn));
    const char *cond = t->t.status == TASK_SUCCEEDED ? "Success"
                       : t->t.status == TASK_EXPIRED ? "EventAgeExceeded"
                                                     : "RetriesExhausted";
    bool b1, b2;
    json_t *req = task_bytes_json(t->t.payload.data, t->t.payload.len, &b1);
    json_t *resp = task_bytes_json(t->t.ret.data, t->t.ret.len, &b2);
    json_t *o = json_pack(
        "{s:I,s:{s:s,s:s,s:s,s:i,s:s,s:s},s:o,s:{s:i,s:s},s:o}", "timestamp",
        (json_int_t)t->t.end_ms, "requestContext", "requestId", t->t.request_id, "functionArn", arn,
        "condition", cond, "approximateInvokeCount", t->t.retried + 1, "taskId", t->t.id,
        "taskStatus", task_status_name(t->t.status), "requestPayload", req, "responseContext",
        "statusCode", t->t.fn_status, "functionError", t->t.error_type, "responsePayload", resp);
    if (o && b1)
        json_object_set_new(o, "requestPayloadEncoding", json_string("base64"));
    if (o && b2)
        json_object_set_new(o, "responsePayloadEncoding", json_string("base64"));
    if (o && t->t.error)
        json_object_set_new(json_object_get(o, "responseContext"), "errorMessage",
                            json_string(t->t.error));
    return o;
}

static void dest_done(struct async *a, struct atask *t, bool ok, const char *detail)
{
    t->t.dest = ok ? TASK_DEST_SUCCEEDED : TASK_DEST_FAILED;
    task_note(&t->t, now_ms(a), detail);
    move_to(a, t, W_NONE);
    persist(a, t);
}

static void dest_retry_later(struct async *a, struct atask *t)
{
    t->dest_attempts++;
    t->dest_next_ms = now_ms(a) + (int64_t)backoff_ms(1000, 60000, t->dest_attempts);
}

/* The new task's write (which also carried the source's "delivered"). */
static void on_dest_task_durable(struct async *a, struct atask *nt, int status, const char *msg,
                                 void *ud)
{
    struct atask *src = ud;
    src->dest_busy = false;
    src->refs--;
    if (status < 0) {
        task_remove(a, nt);
        if (!src->removed) {
            src->t.dest = TASK_DEST_PENDING;
            dest_retry_later(a, src);
            move_to(a, src, W_DEST);
        }
        maybe_free(src);
        return;
    }
    nt->durable = true;
    nt->f->counts[TASK_ENQUEUED]++;
    move_to(a, nt, W_READY);
    maybe_free(src);
    pump(a, nt->f);
}

static void deliver_function(struct async *a, struct atask *t, const struct spec_destination *d)
{
    char detail[300];
    if (!fn_exists(a, d->function)) {
        snprintf(detail, sizeof(detail), "destination function %s does not exist", d->function);
        dest_done(a, t, false, detail);
        return;
    }
    json_t *rec = dest_record(a, t);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    char rid[REQID_LEN + 1];
    reqid_new(rid);
    struct atask *nt = text ? task_new(a, d->function, rid, rid, now_ms(a)) : NULL;
    if (!nt || task_set_payload(&nt->t, text, strlen(text)) < 0 || index_add(a, nt) < 0) {
        free(text);
        if (nt) {
            task_clear(&nt->t);
            free(nt);
        }
        dest_retry_later(a, t);
        return;
    }
    free(text);
    nt->t.depth = t->t.depth + 1;
    order_add(nt->f, nt);
    nt->f->n_waiting++;
    snprintf(detail, sizeof(detail), "destination of task %s of function %s", t->t.id, t->t.fn);
    task_note(&nt->t, now_ms(a), detail);
    /* One batch: the new task and the source's "delivered" commit together,
     * so a crash can neither lose the delivery nor make it twice. */
    enum task_dest was = t->t.dest;
    t->t.dest = TASK_DEST_SUCCEEDED;
    snprintf(detail, sizeof(detail), "destination: delivered to function %s as task %s",
             d->function, nt->t.id);
    task_note(&t->t, now_ms(a), detail);
    struct store_batch *b = store_batch_new();
    if (!b || batch_put(b, nt, true) < 0 || batch_put(b, t, false) < 0) {
        store_batch_free(b);
        t->t.dest = was;
        task_remove(a, nt);
        dest_retry_later(a, t);
        return;
    }
    move_to(a, t, W_NONE);
    t->dest_busy = true;
    t->refs++;
    if (persist_batch(a, nt, b, on_dest_task_durable, t) < 0) {
        t->refs--;
        t->dest_busy = false;
        task_remove(a, nt);
    }
}

static void on_webhook(void *ud, long status, const char *error)
{
    struct atask *t = ud;
    struct async *a = t->f->a;
    t->refs--;
    t->dest_busy = false;
    if (t->removed) {
        maybe_free(t);
        return;
    }
    char d[600];
    if (status >= 200 && status < 300) {
        snprintf(d, sizeof(d), "destination: delivered to %s (HTTP %ld)", t->t.dest_target, status);
        dest_done(a, t, true, d);
        return;
    }
    if (status)
        snprintf(d, sizeof(d), "destination: %s answered HTTP %ld", t->t.dest_target, status);
    else
        snprintf(d, sizeof(d), "destination: %s: %s", t->t.dest_target, error);
    if (t->dest_attempts + 1 >= a->webhook_attempts) {
        char g[700];
        snprintf(g, sizeof(g), "%s; gave up after %d attempts", d, t->dest_attempts + 1);
        dest_done(a, t, false, g);
        return;
    }
    dest_retry_later(a, t);
    char r[700];
    snprintf(r, sizeof(r), "%s; attempt %d of %d, next in %" PRId64 " ms", d, t->dest_attempts,
             a->webhook_attempts, t->dest_next_ms - now_ms(a));
    task_note(&t->t, now_ms(a), r);
    persist(a, t);
}

static void deliver_webhook(struct async *a, struct atask *t)
{
    if (a->no_webhooks || !a->webhook) {
        dest_done(a, t, false, "destination: webhooks are turned off in this Frost");
        return;
    }
    json_t *rec = dest_record(a, t);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    char h1[200], h2[120], h3[120];
    snprintf(h1, sizeof(h1), "x-fc-async-task-id: %s", t->t.id);
    snprintf(h2, sizeof(h2), "x-fc-request-id: %s", t->t.request_id);
    snprintf(h3, sizeof(h3), "x-fc-function-name: %s", t->t.fn);
    const char *hs[] = {h1, h2, h3};
    if (!text || webhook_post(a->webhook, t->t.dest_target, text, strlen(text), hs, 3,
                              a->webhook_timeout_ms, on_webhook, t) < 0) {
        free(text);
        dest_retry_later(a, t);
        return;
    }
    free(text);
    t->dest_busy = true;
    t->refs++;
}

/* Delivers t's outcome to its destination (t is in W_DEST, dest Pending). */
static void deliver(struct async *a, struct atask *t)
{
    if (a->shutting || t->dest_busy)
        return;
    struct spec_destination d;
    struct frost_err err = {0};
    if (!t->t.dest_target ||
        spec_destination_parse(t->t.dest_target, "destination", &d, &err) < 0) {
        dest_done(a, t, false, err.msg[0] ? err.msg : "destination: none");
        return;
    }
    if (d.kind == SPEC_DEST_FUNCTION)
        deliver_function(a, t, &d);
    else
        deliver_webhook(a, t);
}

/* ------------------------------------------------------------- submitting */

static void ack_waiters(struct atask *t, int status, const char *msg)
{
    struct waiter *w = t->waiters;
    t->waiters = NULL;
    bool first = true;
    while (w) {
        struct waiter *next = w->next;
        struct async_ack ack = {t->t.id, t->t.request_id, !first};
        w->done(w->ud, status, status < 0 ? NULL : &ack, msg);
        free(w);
        first = false;
        w = next;
    }
}

static void on_submit_durable(struct async *a, struct atask *t, int status, const char *msg,
                              void *ud)
{
    if (status < 0) {
        ack_waiters(t, -1, msg);
        task_remove(a, t);
        return;
    }
    t->durable = true;
    t->f->counts[t->t.status]++;
    move_to(a, t, W_READY);
    ack_waiters(t, 0, NULL);
    pump(a, t->f);
}

int async_submit(struct async *a, const struct async_submit *s, async_submit_fn done, void *ud,
                 struct async_ack *ack, struct frost_err *err)
{
    if (a->shutting)
        return frost_err_set(err, 503, "ServiceUnavailable", "Frost is shutting down");
    const char *id = s->task_id && s->task_id[0] ? s->task_id : s->request_id;
    if (s->task_id && s->task_id[0] && !task_id_valid(s->task_id))
        return frost_err_set(err, 400, "InvalidArgument",
                             "x-fc-async-task-id: must be 1 to %d characters of letters, digits, "
                             "'_' and '-', starting with a letter or '_'",
                             TASK_ID_MAX);
    if (s->payload_len > ASYNC_PAYLOAD_MAX)
        return frost_err_set(err, 413, "PayloadTooLarge",
                             "an asynchronous invocation's payload is limited to %u bytes, got "
                             "%zu",
                             ASYNC_PAYLOAD_MAX, s->payload_len);
    struct atask *t = index_find(a, s->fn, id);
    if (t) {
        if (t->durable) {
            *ack = (struct async_ack){t->t.id, t->t.request_id, true};
            return 1;
        }
        struct waiter *w = calloc(1, sizeof(*w));
        if (!w)
            return frost_err_set(err, 500, "InternalError", "out of memory");
        w->done = done;
        w->ud = ud;
        struct waiter **pp = &t->waiters;
        while (*pp)
            pp = &(*pp)->next;
        *pp = w;
        return 0;
    }
    struct afn *f = afn_get(a, s->fn);
    if (f && f->n_waiting >= MAX_WAITING)
        return frost_err_set(err, 429, "ResourceThrottled",
                             "function %s already has %d unfinished async tasks; retry later",
                             s->fn, MAX_WAITING);
    int64_t now = now_ms(a);
    t = task_new(a, s->fn, id, s->request_id, now);
    struct waiter *w = t ? calloc(1, sizeof(*w)) : NULL;
    struct store_batch *b = w ? store_batch_new() : NULL;
    if (!b || task_set_payload(&t->t, s->payload ? s->payload : "", s->payload_len) < 0 ||
        task_note(&t->t, now, "accepted") < 0 || batch_put(b, t, true) < 0 || index_add(a, t) < 0) {
        store_batch_free(b);
        free(w);
        if (t) {
            task_clear(&t->t);
            free(t);
        }
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    w->done = done;
    w->ud = ud;
    t->waiters = w;
    order_add(t->f, t);
    t->f->n_waiting++;
    if (persist_batch(a, t, b, on_submit_durable, NULL) < 0) {
        t->waiters = NULL;
        free(w);
        task_remove(a, t);
        return frost_err_set(err, 503, "ServiceUnavailable", "the store is closing");
    }
    return 0;
}

/* ----------------------------------------------------------------- reading */

bool async_task_id_valid(const char *id)
{
    return task_id_valid(id);
}

int async_status_filter(const char *s)
{
    enum task_status st;
    if (strcmp(s, "Dequeued") == 0)
        return ASYNC_STATUS_DEQUEUED;
    return task_status_parse(s, &st) == 0 ? (int)st : -3;
}

static struct atask *find_durable(struct async *a, const char *fn, const char *id,
                                  struct frost_err *err)
{
    struct atask *t = index_find(a, fn, id);
    if (!t || !t->durable) {
        frost_err_set(err, 404, "AsyncTaskNotFound", "function %s has no async task %s", fn, id);
        return NULL;
    }
    return t;
}

static json_t *api_json(struct async *a, struct atask *t, bool payload)
{
    char arn[256];
    arn_of(a, t->t.fn, arn, sizeof(arn));
    return task_api_json(&t->t, arn, payload);
}

json_t *async_get(struct async *a, const char *fn, const char *id, struct frost_err *err)
{
    struct atask *t = find_durable(a, fn, id, err);
    if (!t)
        return NULL;
    json_t *j = api_json(a, t, true);
    if (!j)
        frost_err_set(err, 500, "InternalError", "out of memory");
    return j;
}

static bool matches(const struct atask *t, const struct async_list_opts *o, size_t plen)
{
    if (!t->durable)
        return false;
    if (o->status == ASYNC_STATUS_DEQUEUED) {
        if (t->t.status == TASK_ENQUEUED)
            return false;
    } else if (o->status >= 0 && (int)t->t.status != o->status) {
        return false;
    }
    if (plen && strncmp(t->t.id, o->prefix, plen) != 0)
        return false;
    if (o->begin_ms && t->t.created_ms < o->begin_ms)
        return false;
    if (o->end_ms && t->t.created_ms > o->end_ms)
        return false;
    return true;
}

/* Token "MS:ID": the last task of the previous page. */
static int parse_token(const char *tok, int64_t *ms, const char **id)
{
    char *end;
    if (tok[0] < '0' || tok[0] > '9')
        return -1;
    long long v = strtoll(tok, &end, 10);
    if (*end != ':' || !end[1] || strlen(end + 1) > TASK_ID_MAX || strchr(end + 1, '/'))
        return -1;
    *ms = v;
    *id = end + 1;
    return 0;
}

int async_list(struct async *a, const char *fn, const struct async_list_opts *o, json_t **out,
               struct frost_err *err)
{
    int64_t tok_ms = 0;
    const char *tok_id = NULL;
    if (o->token && o->token[0] && parse_token(o->token, &tok_ms, &tok_id) < 0)
        return frost_err_set(err, 400, "InvalidArgument",
                             "nextToken: not a token this API returned");
    json_t *arr = json_array();
    json_t *res = json_object();
    if (!arr || !res || json_object_set_new(res, "tasks", arr) < 0) {
        json_decref(res);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    struct afn *f = afn_find(a, fn);
    size_t plen = o->prefix ? strlen(o->prefix) : 0;
    struct atask *t = NULL;
    if (f) {
        if (tok_id) {
            struct atask *k = index_find(a, fn, tok_id);
            if (k && k->t.created_ms == tok_ms) {
                t = o->descending ? k->prev : k->next;
            } else if (!o->descending) {
                for (t = f->head; t && key_cmp(t->t.created_ms, t->t.id, tok_ms, tok_id) <= 0;
                     t = t->next)
                    ;
            } else {
                for (t = f->tail; t && key_cmp(t->t.created_ms, t->t.id, tok_ms, tok_id) >= 0;
                     t = t->prev)
                    ;
            }
        } else {
            t = o->descending ? f->tail : f->head;
        }
    }
    size_t n = 0;
    struct atask *last = NULL;
    bool more = false;
    for (; t; t = o->descending ? t->prev : t->next) {
        if (!matches(t, o, plen))
            continue;
        if (n == o->limit) {
            more = true;
            break;
        }
        json_t *j = api_json(a, t, o->with_payload);
        if (!j || json_array_append_new(arr, j) < 0) {
            json_decref(res);
            return frost_err_set(err, 500, "InternalError", "out of memory");
        }
        last = t;
        n++;
    }
    if (more && last) {
        char tok[TASK_ID_MAX + 32];
        snprintf(tok, sizeof(tok), "%" PRId64 ":%s", last->t.created_ms, last->t.id);
        json_object_set_new(res, "nextToken", json_string(tok));
    }
    *out = res;
    return 0;
}

/* ----------------------------------------------------------------- stopping */

struct stop_ctx {
    async_stop_fn done;
    void *ud;
};

static void on_stop_durable(struct async *a, struct atask *t, int status, const char *msg, void *ud)
{
    struct stop_ctx *sc = ud;
    json_t *j = status < 0 ? NULL : api_json(a, t, false);
    sc->done(sc->ud, status < 0 || !j ? -1 : 0, j, status < 0 ? msg : "out of memory");
    json_decref(j);
    free(sc);
}

int async_stop(struct async *a, const char *fn, const char *id, async_stop_fn done, void *ud,
               struct frost_err *err)
{
    struct atask *t = find_durable(a, fn, id, err);
    if (!t)
        return -1;
    if (a->shutting)
        return frost_err_set(err, 503, "ServiceUnavailable", "Frost is shutting down");
    if (task_status_terminal(t->t.status))
        return frost_err_set(err, 409, "AsyncTaskAlreadyFinished",
                             "async task %s of function %s already finished (%s)", id, fn,
                             task_status_name(t->t.status));
    struct stop_ctx *sc = malloc(sizeof(*sc));
    if (!sc)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    *sc = (struct stop_ctx){done, ud};
    switch (t->t.status) {
    case TASK_RUNNING: {
        char d[200];
        snprintf(d, sizeof(d), "stop requested: aborting the request on instance %s",
                 t->t.instance_id[0] ? t->t.instance_id : "-");
        move_to(a, t, W_NONE);
        if (set_status(a, t, TASK_STOPPING, d) < 0)
            break;
        if (t->job)
            a->runner.stop(a->runner.ctx, t->job);
        break;
    }
    case TASK_ENQUEUED:
    case TASK_RETRYING:
        if (t->job) {
            /* Waiting inside the scheduler: it leaves the queue, and its done
             * callback (with "Stopped") is ignored. */
            t->job_ignored = true;
            a->runner.stop(a->runner.ctx, t->job);
        }
        move_to(a, t, W_NONE);
        (void)set_status(a, t, TASK_STOPPED, "stopped before it ran (StopAsyncTask)");
        break;
    default: /* Stopping: answer its state again */
        break;
    }
    if (persist_cb(a, t, on_stop_durable, sc) < 0) {
        free(sc);
        return frost_err_set(err, 503, "ServiceUnavailable", "the store is closing");
    }
    return 0;
}

/* ------------------------------------------------------------ observability */

static void counts_of(struct async *a, struct afn *f, struct async_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (!f)
        return;
    for (int i = 0; i < TASK_NSTATUS; i++)
        out->by_status[i] = f->counts[i];
    int64_t oldest = 0;
    struct atask *lists[] = {f->sched.head, f->ready.head};
    for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
        for (struct atask *t = lists[i]; t; t = t->lnext) {
            if (t->t.status == TASK_ENQUEUED) {
                if (!oldest || t->t.created_ms < oldest)
                    oldest = t->t.created_ms;
                break;
            }
        }
    }
    int64_t now = now_ms(a);
    out->oldest_enqueued_age_ms = oldest && now > oldest ? (uint64_t)(now - oldest) : 0;
}

void async_counts(struct async *a, const char *fn, struct async_counts *out)
{
    counts_of(a, afn_find(a, fn), out);
}

void async_each_function(struct async *a,
                         void (*each)(void *ud, const char *fn, const struct async_counts *c),
                         void *ud)
{
    for (struct afn *f = a->fn_list; f; f = f->lnext) {
        if (!f->head)
            continue;
        struct async_counts c;
        counts_of(a, f, &c);
        each(ud, f->name, &c);
    }
}

json_t *async_stats_json(struct async *a, const char *fn)
{
    struct async_counts c;
    async_counts(a, fn, &c);
    json_t *counts = json_object();
    for (int i = 0; counts && i < TASK_NSTATUS; i++)
        json_object_set_new(counts, task_status_name((enum task_status)i),
                            json_integer((json_int_t)c.by_status[i]));
    return json_pack("{s:s,s:o,s:I}", "functionName", fn, "counts", counts, "oldestEnqueuedAgeMs",
                     (json_int_t)c.oldest_enqueued_age_ms);
}

/* ------------------------------------------------------------------ the tick */

static void expire_waiting(struct async *a, int64_t now)
{
    for (struct afn *f = a->fn_list; f; f = f->lnext) {
        if (!f->ready.head && !f->sched.head)
            continue;
        struct fn_cfg c;
        fn_config(a, f->name, &c);
        struct tlist *lists[] = {&f->ready, &f->sched};
        for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
            for (struct atask *t = lists[i]->head, *next; t; t = next) {
                next = t->lnext;
                int64_t age = now - t->t.created_ms;
                if (age <= c.max_age_ms)
                    continue;
                if (t->job) {
                    t->job_ignored = true;
                    a->runner.stop(a->runner.ctx, t->job);
                }
                expire(a, t, age);
            }
        }
    }
    for (struct atask *t = a->backoff.head, *next; t; t = next) {
        next = t->lnext;
        int64_t age;
        if (expired(a, t, now, &age))
            expire(a, t, age);
    }
}

static void retention(struct async *a, int64_t now)
{
    struct store_batch *b = NULL;
    size_t removed = 0;
    for (struct afn *f = a->fn_list; f; f = f->lnext) {
        for (struct atask *t = f->head, *next; t && f->n_finished; t = next) {
            next = t->next;
            if (!t->durable || !task_status_terminal(t->t.status) || t->where == W_DEST ||
                t->dest_busy || t->refs)
                continue;
            bool old = t->t.end_ms + (int64_t)a->retention_ms <= now;
            if (!old && f->n_finished <= a->max_finished)
                continue;
            char key[TASK_FN_MAX + TASK_ID_MAX + 2];
            if (task_key(t->t.fn, t->t.id, key, sizeof(key)) < 0)
                continue;
            if (!b && !(b = store_batch_new()))
                return;
            if (store_batch_del(b, STORE_TASKS, key) < 0 ||
                store_batch_del(b, STORE_TASK_PAYLOADS, key) < 0)
                break;
            task_remove(a, t);
            removed++;
            if (removed % 30000 == 0) {
                if (store_submit(a->store, b, NULL, NULL) < 0)
                    log_warn("async_delete_refused", "tasks=%zu", removed);
                b = NULL;
            }
        }
    }
    if (b && store_submit(a->store, b, NULL, NULL) < 0)
        log_warn("async_delete_refused", "tasks=%zu", removed);
    if (removed)
        log_info("async_tasks_deleted", "tasks=%zu retention_ms=%" PRIu64, removed,
                 a->retention_ms);
}

static void recover(struct async *a)
{
    a->recovered = true;
    size_t requeued = 0, interrupted = 0, redeliver = 0;
    int64_t now = now_ms(a);
    for (struct afn *f = a->fn_list; f; f = f->lnext) {
        for (struct atask *t = f->head, *next; t; t = next) {
            next = t->next;
            char d[300];
            switch (t->t.status) {
            case TASK_ENQUEUED:
                move_to(a, t, W_READY);
                requeued++;
                break;
            case TASK_RETRYING:
                move_to(a, t, W_BACKOFF);
                requeued++;
                break;
            case TASK_RUNNING:
                snprintf(d, sizeof(d), "interrupted: Frost stopped while it ran on instance %s",
                         t->t.instance_id[0] ? t->t.instance_id : "-");
                snprintf(t->t.error_type, sizeof(t->t.error_type), "UnhandledInvocationError");
                task_set_error(&t->t, d);
                retry_or_fail(a, t, d);
                interrupted++;
                break;
            case TASK_STOPPING:
                finish(a, t, TASK_STOPPED, "stopped (Frost restarted while it was stopping)");
                interrupted++;
                break;
            default:
                if (t->t.dest == TASK_DEST_PENDING) {
                    t->dest_next_ms = now;
                    move_to(a, t, W_DEST);
                    redeliver++;
                }
                break;
            }
        }
    }
    log_info("async_recovered", "tasks=%zu requeued=%zu interrupted=%zu redeliver=%zu", a->index_n,
             requeued, interrupted, redeliver);
}

static void on_tick(uv_timer_t *h)
{
    async_tick(container_of(h, struct async, timer));
}

void async_tick(struct async *a)
{
    if (a->shutting)
        return;
    if (!a->recovered)
        recover(a);
    int64_t now = now_ms(a);
    for (struct atask *t = a->backoff.head, *next; t; t = next) {
        next = t->lnext;
        if (t->t.next_run_ms <= now)
            move_to(a, t, W_READY);
    }
    if (now - a->last_expiry_ms >= EXPIRY_EVERY_MS || now < a->last_expiry_ms) {
        a->last_expiry_ms = now;
        expire_waiting(a, now);
    }
    for (struct atask *t = a->dest.head, *next; t; t = next) {
        next = t->lnext;
        if (!t->dest_busy && t->dest_next_ms <= now)
            deliver(a, t);
    }
    if (now - a->last_retention_ms >= RETENTION_EVERY_MS || now < a->last_retention_ms) {
        a->last_retention_ms = now;
        retention(a, now);
    }
    for (struct afn *f = a->fn_list; f; f = f->lnext)
        if (f->ready.head)
            pump(a, f);
}

/* ------------------------------------------------------------------ loading */

struct loader {
    struct async *a;
    struct atask **v;
    size_t n, cap;
    size_t bad;
    struct store_batch *orphans;
};

static int load_task(void *ud, const char *key, const char *json)
{
    struct loader *l = ud;
    struct atask *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    struct frost_err err = {0};
    if (task_from_doc(json, &t->t, &err) < 0) {
        char tmp[600];
        log_error("async_bad_task_document", "key=%s error=%s", key,
                  log_quote(err.msg, tmp, sizeof(tmp)));
        free(t);
        l->bad++;
        return 0; /* one unreadable document must not keep the server down */
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct atask **v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            task_clear(&t->t);
            free(t);
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = t;
    return 0;
}

static int load_cmp(const void *x, const void *y)
{
    const struct atask *p = *(struct atask *const *)x, *q = *(struct atask *const *)y;
    int c = strcmp(p->t.fn, q->t.fn);
    return c ? c : key_cmp(p->t.created_ms, p->t.id, q->t.created_ms, q->t.id);
}

static int load_payload(void *ud, const char *key, const char *json)
{
    struct loader *l = ud;
    char fn[TASK_FN_MAX + 1];
    const char *slash = strchr(key, '/');
    struct atask *t = NULL;
    if (slash && (size_t)(slash - key) < sizeof(fn)) {
        memcpy(fn, key, (size_t)(slash - key));
        fn[slash - key] = 0;
        t = index_find(l->a, fn, slash + 1);
    }
    if (!t) {
        if (!l->orphans)
            l->orphans = store_batch_new();
        if (l->orphans && store_batch_del(l->orphans, STORE_TASK_PAYLOADS, key) < 0)
            log_warn("async_orphan_payload", "key=%s", key);
        return 0;
    }
    struct frost_err err = {0};
    if (task_payload_from_doc(json, &t->t, &err) < 0)
        log_error("async_bad_payload_document", "key=%s error=\"%s\"", key, err.msg);
    return 0;
}

static int load(struct async *a, struct frost_err *err)
{
    struct loader l = {.a = a};
    if (store_load(a->store, STORE_TASKS, load_task, &l, err) < 0) {
        for (size_t i = 0; i < l.n; i++) {
            task_clear(&l.v[i]->t);
            free(l.v[i]);
        }
        free(l.v);
        return frost_err_prefix(err, "loading async tasks");
    }
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), load_cmp);
    int rc = 0;
    for (size_t i = 0; i < l.n; i++) {
        struct atask *t = l.v[i];
        struct afn *f = rc == 0 ? afn_get(a, t->t.fn) : NULL;
        if (!f || index_add(a, t) < 0) {
            rc = frost_err_set(err, 500, "InternalError", "out of memory loading async tasks");
            task_clear(&t->t);
            free(t);
            continue;
        }
        t->f = f;
        t->durable = true;
        t->prev = f->tail;
        if (f->tail)
            f->tail->next = t;
        else
            f->head = t;
        f->tail = t;
        f->counts[t->t.status]++;
        if (task_status_terminal(t->t.status))
            f->n_finished++;
        else
            f->n_waiting++;
    }
    free(l.v);
    if (rc < 0)
        return rc;
    if (store_load(a->store, STORE_TASK_PAYLOADS, load_payload, &l, err) < 0) {
        store_batch_free(l.orphans);
        return frost_err_prefix(err, "loading async task payloads");
    }
    if (l.orphans && store_submit(a->store, l.orphans, NULL, NULL) < 0)
        log_warn("async_orphans_kept", "detail=\"the store refused the delete\"");
    log_info("async_tasks_loaded", "tasks=%zu unreadable=%zu", a->index_n, l.bad);
    return 0;
}

/* --------------------------------------------------------------- lifecycle */

int async_new(const struct async_opts *o, struct async **out, struct frost_err *err)
{
    struct async *a = calloc(1, sizeof(*a));
    if (!a)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    a->loop = o->loop;
    a->store = o->store;
    a->reg = o->reg;
    if (o->runner)
        a->runner = *o->runner;
    else
        a->runner = (struct async_runner){sched_runner_submit, sched_runner_stop, o->sched};
    snprintf(a->region, sizeof(a->region), "%s", o->region ? o->region : "");
    snprintf(a->account, sizeof(a->account), "%s", o->account_id ? o->account_id : "");
    a->retry_base_ms = o->retry_base_ms ? o->retry_base_ms : 1000;
    a->retry_max_ms = o->retry_max_ms ? o->retry_max_ms : 300000;
    a->tick_ms = o->tick_ms ? o->tick_ms : 200;
    a->retention_ms = o->retention_ms ? o->retention_ms : 3ull * 24 * 3600 * 1000;
    a->max_finished = o->max_finished ? o->max_finished : 100000;
    a->window = o->window ? o->window : 64;
    a->webhook_timeout_ms = o->webhook_timeout_ms ? o->webhook_timeout_ms : 10000;
    a->webhook_attempts = o->webhook_attempts ? o->webhook_attempts : 4;
    a->no_webhooks = o->no_webhooks;
    a->now_fn = o->now_ms;
    a->now_ud = o->now_ud;
    if (load(a, err) < 0 || (!a->no_webhooks && webhook_new(a->loop, &a->webhook, err) < 0)) {
        a->shutting = true;
        async_free(a);
        return -1;
    }
    a->last_retention_ms = now_ms(a);
    uv_timer_init(a->loop, &a->timer);
    uv_timer_start(&a->timer, on_tick, 0, a->tick_ms);
    uv_unref((uv_handle_t *)&a->timer);
    *out = a;
    return 0;
}

void async_shutdown(struct async *a)
{
    if (!a || a->shutting)
        return;
    a->shutting = true;
    uv_timer_stop(&a->timer);
    size_t put_back = 0;
    for (struct afn *f = a->fn_list; f; f = f->lnext) {
        for (struct atask *t = f->running.head, *next; t; t = next) {
            next = t->lnext;
            t->job_ignored = true;
            if (t->job)
                a->runner.stop(a->runner.ctx, t->job);
            move_to(a, t, W_NONE);
            const char *d = "Frost is shutting down: the attempt was stopped and runs again after "
                            "the restart (not counted)";
            if (t->t.retried > 0) {
                t->t.retried--;
                t->t.next_run_ms = now_ms(a);
                (void)set_status(a, t, TASK_RETRYING, d);
            } else {
                (void)set_status(a, t, TASK_ENQUEUED, d);
            }
            persist(a, t);
            put_back++;
        }
        for (struct atask *t = f->sched.head, *next; t; t = next) {
            next = t->lnext;
            t->job_ignored = true;
            if (t->job)
                a->runner.stop(a->runner.ctx, t->job);
            move_to(a, t, W_NONE);
        }
    }
    log_info("async_shutdown", "tasks=%zu put_back=%zu", a->index_n, put_back);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(container_of((uv_timer_t *)h, struct async, timer));
}

void async_free(struct async *a)
{
    if (!a)
        return;
    webhook_free(a->webhook);
    a->webhook = NULL;
    for (struct afn *f = a->fn_list, *fnext; f; f = fnext) {
        fnext = f->lnext;
        for (struct atask *t = f->head, *next; t; t = next) {
            next = t->next;
            for (struct waiter *w = t->waiters, *wn; w; w = wn) {
                wn = w->next;
                free(w);
            }
            task_clear(&t->t);
            free(t);
        }
        free(f);
    }
    free(a->index);
    a->index = NULL;
    a->fn_list = NULL;
    if (uv_is_active((uv_handle_t *)&a->timer) || a->timer.loop) {
        uv_close((uv_handle_t *)&a->timer, on_timer_closed);
        return;
    }
    free(a);
}
