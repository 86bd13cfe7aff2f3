/* The live meter: runtime observer, flush timer, store. */
#include "meter/meter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"

struct meter {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct store *store;
    const struct gpu *gpu;
    struct meter_ledger *ledger;
    struct meter_prices prices;
    /* Keys of rolled-up minutes whose deletion has not been committed yet. */
    char **deletes;
    size_t n_deletes, cap_deletes;
    uint64_t rolled_hour; /* the hour of the last roll-up (it scans every record) */
    int inflight;         /* writes not yet reported back */
    bool closed;          /* meter_close ran: events are ignored */
    bool timer_closed;    /* its close callback ran: free once nothing is in flight */
    bool oom_logged;
};

/* One write: what to mark dirty again, and what to delete again, if it fails. */
struct flush {
    struct meter *m;
    struct store_batch *b;
    size_t ops;
    struct meter_record *recs;
    size_t n_recs, cap_recs;
    char **deletes;
    size_t n_deletes;
};

static void maybe_free(struct meter *m)
{
    if (!m->timer_closed || m->inflight)
        return;
    meter_ledger_free(m->ledger);
    for (size_t i = 0; i < m->n_deletes; i++)
        free(m->deletes[i]);
    free(m->deletes);
    free(m);
}

static void note_oom(struct meter *m, const char *what)
{
    if (m->oom_logged)
        return;
    m->oom_logged = true;
    log_error("meter_out_of_memory", "while=%s detail=\"usage of this moment is not counted\"",
              what);
}

void meter_on_phase(const struct rt_phase_event *e, void *ud)
{
    struct meter *m = ud;
    if (m->closed)
        return;
    if (meter_ledger_phase(m->ledger, e) < 0)
        note_oom(m, "phase");
}

void meter_note_invocation(struct meter *m, const char *function)
{
    if (!m || m->closed || !function)
        return;
    if (meter_ledger_invocation(m->ledger, function, (uint64_t)clock_wall_ms()) < 0)
        note_oom(m, "invocation");
}

const struct meter_prices *meter_prices(const struct meter *m)
{
    return &m->prices;
}

static uint64_t card_mb(void *ud, const char *gpu_type)
{
    const struct gpu *g = ud;
    if (!g)
        return 0;
    for (size_t i = 0; i < gpu_count(g); i++) {
        const struct gpu_device *d = gpu_device(g, i);
        if (strcmp(d->type, gpu_type) == 0)
            return d->memory_mb;
    }
    return 0;
}

int meter_bill_json(struct meter *m, const struct meter_query *q, json_t **out,
                    struct frost_err *err)
{
    struct meter_query qq = *q;
    qq.now_ms = clock_wall_ms();
    if (meter_ledger_advance(m->ledger, (uint64_t)qq.now_ms) < 0)
        note_oom(m, "bill");
    return meter_bill(m->ledger, &m->prices, &qq, card_mb, (void *)m->gpu, out, err);
}

/* ---- writes ----------------------------------------------------------------- */

static void flush_free(struct flush *f)
{
    store_batch_free(f->b);
    for (size_t i = 0; i < f->n_deletes; i++)
        free(f->deletes[i]);
    free(f->deletes);
    free(f->recs);
    free(f);
}

static int keep_delete(struct meter *m, char *key)
{
    if (m->n_deletes == m->cap_deletes) {
        size_t cap = m->cap_deletes ? m->cap_deletes * 2 : 64;
        char **v = realloc(m->deletes, cap * sizeof(*v));
        if (!v)
            return -1;
        m->deletes = v;
        m->cap_deletes = cap;
    }
    m->deletes[m->n_deletes++] = key;
    return 0;
}

static void flush_done(void *ud, int status, const char *msg)
{
    struct flush *f = ud;
    struct meter *m = f->m;
    m->inflight--;
    if (status < 0) {
        log_error("meter_write_failed", "records=%zu deletes=%zu error=\"%s\"", f->n_recs,
                  f->n_deletes, msg ? msg : "?");
        for (size_t i = 0; i < f->n_recs; i++)
            meter_ledger_redirty(m->ledger, &f->recs[i]);
        for (size_t i = 0; i < f->n_deletes; i++) {
            if (keep_delete(m, f->deletes[i]) == 0)
                f->deletes[i] = NULL;
        }
    }
    flush_free(f);
    maybe_free(m);
}

static void submit(struct meter *m, struct flush **fp)
{
    struct flush *f = *fp;
    *fp = NULL;
    if (!f)
        return;
    if (!f->ops) {
        flush_free(f);
        return;
    }
    struct store_batch *b = steal_ptr(&f->b);
    m->inflight++;
    if (store_submit(m->store, b, flush_done, f) < 0)
        flush_done(f, -1, "the store is closing");
}

struct flush_ctx {
    struct meter *m;
    struct flush *f;
    int rc;
};

/* The current batch, or a new one when it is full (batches are atomic each;
 * a roll-up split over two is at worst written again by the next flush). */
static struct flush *batch_for(struct flush_ctx *c)
{
    if (c->f && c->f->ops + 1 >= STORE_BATCH_MAX_OPS)
        submit(c->m, &c->f);
    if (!c->f) {
        struct flush *f = calloc(1, sizeof(*f));
        if (!f || !(f->b = store_batch_new())) {
            free(f);
            return NULL;
        }
        f->m = c->m;
        c->f = f;
    }
    return c->f;
}

static int add_delete(struct flush_ctx *c, char *key)
{
    struct flush *f = batch_for(c);
    if (!f) {
        free(key);
        return -1;
    }
    char **v = realloc(f->deletes, (f->n_deletes + 1) * sizeof(*v));
    if (!v || store_batch_del(f->b, METER_STORE_USAGE, key) < 0) {
        if (v)
            f->deletes = v;
        free(key);
        return -1;
    }
    f->deletes = v;
    f->deletes[f->n_deletes++] = key;
    f->ops++;
    return 0;
}

static int on_gone(void *ud, const struct meter_record *r)
{
    struct flush_ctx *c = ud;
    char key[256];
    if (meter_record_key(r, key, sizeof(key)) < 0)
        return 0;
    char *k = strdup(key);
    return k ? add_delete(c, k) : -1;
}

static int on_dirty(void *ud, const struct meter_record *r)
{
    struct flush_ctx *c = ud;
    char key[256];
    if (meter_record_key(r, key, sizeof(key)) < 0)
        return 0; /* cannot happen: names are bounded */
    struct flush *f = batch_for(c);
    _cleanup_free_ char *json = meter_record_json(r);
    if (!f || !json)
        return -1;
    if (f->n_recs == f->cap_recs) {
        size_t cap = f->cap_recs ? f->cap_recs * 2 : 16;
        struct meter_record *v = realloc(f->recs, cap * sizeof(*v));
        if (!v)
            return -1;
        f->recs = v;
        f->cap_recs = cap;
    }
    if (store_batch_put(f->b, METER_STORE_USAGE, key, json) < 0)
        return -1;
    f->recs[f->n_recs++] = *r;
    f->ops++;
    return 0;
}

static void flush_at(struct meter *m, uint64_t now)
{
    if (meter_ledger_advance(m->ledger, now) < 0)
        note_oom(m, "flush");
    if (!m->store)
        return;
    struct flush_ctx c = {.m = m};
    /* Deletions that failed before go first. */
    while (m->n_deletes) {
        char *k = m->deletes[--m->n_deletes];
        if (add_delete(&c, k) < 0)
            break;
    }
    uint64_t cutoff = now > METER_ROLLUP_AFTER ? now - METER_ROLLUP_AFTER : 0;
    int rc = 0;
    if (now / METER_HOUR_MS != m->rolled_hour) {
        m->rolled_hour = now / METER_HOUR_MS;
        rc = meter_ledger_rollup(m->ledger, cutoff, on_gone, &c);
    }
    if (rc < 0 || meter_ledger_take_dirty(m->ledger, on_dirty, &c) < 0)
        note_oom(m, "flush"); /* what was not taken stays dirty for the next flush */
    submit(m, &c.f);
}

void meter_flush(struct meter *m)
{
    if (m && !m->closed)
        flush_at(m, (uint64_t)clock_wall_ms());
}

static void on_timer(uv_timer_t *t)
{
    meter_flush(container_of(t, struct meter, timer));
}

static void on_timer_closed(uv_handle_t *h)
{
    struct meter *m = container_of((uv_timer_t *)h, struct meter, timer);
    m->timer_closed = true;
    maybe_free(m);
}

void meter_close(struct meter *m)
{
    if (!m || m->closed)
        return;
    uint64_t now = (uint64_t)clock_wall_ms();
    if (meter_ledger_close_all(m->ledger, now) < 0)
        note_oom(m, "close");
    flush_at(m, now);
    m->closed = true;
    log_info("meter_closed", "writes_in_flight=%d", m->inflight);
    uv_close((uv_handle_t *)&m->timer, on_timer_closed);
}

/* ---- start-up --------------------------------------------------------------- */

struct load_ctx {
    struct meter *m;
    size_t n, bad;
    struct frost_err *err;
};

static int load_one(void *ud, const char *key, const char *json)
{
    struct load_ctx *l = ud;
    struct meter_record r;
    struct frost_err err = {0};
    if (meter_record_parse(key, json, &r, &err) < 0) {
        /* One unreadable record must not keep the server down. */
        if (l->bad++ < 10)
            log_error("meter_bad_record", "key=%s error=\"%s\"", key, err.msg);
        return 0;
    }
    if (meter_ledger_put(l->m->ledger, &r) < 0)
        return frost_err_set(l->err, 500, "InternalError", "out of memory loading usage");
    l->n++;
    return 0;
}

int meter_new(const struct meter_opts *o, struct meter **out, struct frost_err *err)
{
    struct meter *m = calloc(1, sizeof(*m));
    if (!m)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    m->loop = o->loop;
    m->store = o->store;
    m->gpu = o->gpu;
    if (meter_prices_from_config(o->cfg, &m->prices, err) < 0) {
        free(m);
        return -1;
    }
    m->ledger = meter_ledger_new();
    if (!m->ledger) {
        free(m);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    struct load_ctx l = {.m = m, .err = err};
    if ((m->store && store_load(m->store, METER_STORE_USAGE, load_one, &l, err) < 0) ||
        (o->rt && rt_on_phase(o->rt, meter_on_phase, m, err) < 0)) {
        meter_ledger_free(m->ledger);
        free(m);
        return frost_err_prefix(err, "meter");
    }
    uv_timer_init(o->loop, &m->timer);
    uint64_t every = o->flush_ms ? o->flush_ms : METER_FLUSH_MS;
    uv_timer_start(&m->timer, on_timer, every, every);
    uv_unref((uv_handle_t *)&m->timer);
    log_info("meter_ready", "records=%zu unreadable=%zu currency=%s flush_ms=%llu", l.n, l.bad,
             m->prices.currency, (unsigned long long)every);
    *out = m;
    return 0;
}
