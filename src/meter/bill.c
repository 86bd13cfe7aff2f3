/* Bills: the ledger's buckets in a range, summed per period × function ×
 * kind, priced, and set beside dedicated cards sized to the peak GPU memory
 * held at once. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "meter/ledger.h"

#define MAX_BILL_TYPES 64

enum scope { SC_ITEM, SC_FUNCTION, SC_PERIOD, SC_TOTAL };
static const char *const scope_names[] = {"item", "function", "period", "total"};

struct row {
    enum scope scope;
    uint64_t pstart; /* aligned period start (the key); shown clipped to the range */
    char function[METER_FUNCTION_MAX + 1];
    int kind; /* -1: all kinds */
    char gpu_type[METER_TYPE_MAX + 1];
    struct meter_usage u;
    struct meter_cost c;
    double cards, dedicated_hours, dedicated;
};

/* (a, b) → v, open addressing; v summed or maxed. */
struct agg_ent {
    uint64_t a;
    uint32_t b;
    bool used;
    uint64_t v;
};

struct agg {
    struct agg_ent *e;
    size_t n, cap;
};

static uint64_t agg_hash(uint64_t a, uint32_t b)
{
    uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)b + 0x632be59bd9b4e019ULL);
    return h ^ (h >> 29);
}

static int agg_put(struct agg *g, uint64_t a, uint32_t b, uint64_t v, bool max)
{
    if ((g->n + 1) * 2 > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        struct agg_ent *e = calloc(cap, sizeof(*e));
        if (!e)
            return -1;
        for (size_t i = 0; i < g->cap; i++) {
            if (!g->e[i].used)
                continue;
            size_t j = agg_hash(g->e[i].a, g->e[i].b) & (cap - 1);
            while (e[j].used)
                j = (j + 1) & (cap - 1);
            e[j] = g->e[i];
        }
        free(g->e);
        g->e = e;
        g->cap = cap;
    }
    size_t j = agg_hash(a, b) & (g->cap - 1);
    while (g->e[j].used && !(g->e[j].a == a && g->e[j].b == b))
        j = (j + 1) & (g->cap - 1);
    if (!g->e[j].used) {
        g->e[j] = (struct agg_ent){.a = a, .b = b, .used = true, .v = v};
        g->n++;
    } else if (max) {
        if (v > g->e[j].v)
            g->e[j].v = v;
    } else {
        g->e[j].v += v;
    }
    return 0;
}

static void agg_clear(struct agg *g)
{
    if (g->e)
        memset(g->e, 0, g->cap * sizeof(*g->e));
    g->n = 0;
}

struct rows {
    struct row *v;
    size_t n, cap;
};

static struct row *rows_add(struct rows *r)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct row *v = realloc(r->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        r->v = v;
        r->cap = cap;
    }
    struct row *x = &r->v[r->n++];
    memset(x, 0, sizeof(*x));
    return x;
}

struct ctx {
    const struct meter_prices *p;
    const struct meter_query *q;
    meter_card_mb_fn card_mb;
    void *card_ud;
    uint64_t period; /* 0 = the whole range */
    char types[MAX_BILL_TYPES][METER_TYPE_MAX + 1];
    uint64_t slice[MAX_BILL_TYPES];
    uint64_t card[MAX_BILL_TYPES];
    size_t n_types;
    struct rows items;
    struct agg fn_minutes, all_minutes; /* (minute, type) → MB held at once */
    struct rows fn_peak_list; /* (function, period, type in .kind) → peak MB in .u.peak_gpu_mb */
    char fn[METER_FUNCTION_MAX + 1]; /* the function whose minutes fn_minutes holds */
    struct frost_err *err;
};

static int type_index(struct ctx *x, const char *type, uint64_t slice)
{
    for (size_t i = 0; i < x->n_types; i++) {
        if (strcmp(x->types[i], type) == 0) {
            if (slice > x->slice[i])
                x->slice[i] = slice;
            return (int)i;
        }
    }
    if (x->n_types == MAX_BILL_TYPES)
        return -1;
    size_t i = x->n_types++;
    snprintf(x->types[i], sizeof(x->types[i]), "%s", type);
    x->slice[i] = slice;
    x->card[i] = x->card_mb ? x->card_mb(x->card_ud, type) : 0;
    return (int)i;
}

static uint64_t period_of(const struct ctx *x, uint64_t t)
{
    return x->period ? t - t % x->period : (uint64_t)x->q->since_ms;
}

static double cards_for(const struct ctx *x, size_t t, uint64_t mb)
{
    uint64_t per = x->card[t] ? x->card[t] : x->slice[t];
    if (!mb || !per)
        return 0;
    return (double)((mb + per - 1) / per);
}

/* Hours of [ps, ps + period) ∩ [since, min(until, now)). */
static double hours_of(const struct ctx *x, uint64_t ps)
{
    int64_t a = (int64_t)ps, b = x->period ? (int64_t)(ps + x->period) : x->q->until_ms;
    int64_t lo = a > x->q->since_ms ? a : x->q->since_ms;
    int64_t hi = b < x->q->until_ms ? b : x->q->until_ms;
    if (hi > x->q->now_ms)
        hi = x->q->now_ms;
    return hi > lo ? (double)(hi - lo) / (double)METER_HOUR_MS : 0;
}

/* The function's (minute, type) sums become (period, type) peaks, appended
 * to the peak list. */
static int flush_function(struct ctx *x)
{
    struct agg peaks = {0};
    int rc = 0;
    for (size_t i = 0; i < x->fn_minutes.cap && rc == 0; i++) {
        const struct agg_ent *e = &x->fn_minutes.e[i];
        if (e->used)
            rc = agg_put(&peaks, period_of(x, e->a), e->b, e->v, true);
    }
    for (size_t i = 0; i < peaks.cap && rc == 0; i++) {
        const struct agg_ent *e = &peaks.e[i];
        if (!e->used)
            continue;
        struct row *r = rows_add(&x->fn_peak_list);
        if (!r) {
            rc = -1;
            break;
        }
        snprintf(r->function, sizeof(r->function), "%s", x->fn);
        r->pstart = e->a;
        r->kind = (int)e->b;
        r->u.peak_gpu_mb = e->v;
    }
    free(peaks.e);
    agg_clear(&x->fn_minutes);
    return rc;
}

static int on_record(void *ud, const struct meter_record *rec)
{
    struct ctx *x = ud;
    if (strcmp(rec->function, x->fn) != 0) {
        if (x->fn[0] && flush_function(x) < 0)
            return -1;
        snprintf(x->fn, sizeof(x->fn), "%s", rec->function);
    }
    uint64_t ps = period_of(x, rec->start_ms);
    struct row *it = x->items.n ? &x->items.v[x->items.n - 1] : NULL;
    if (!it || it->pstart != ps || it->kind != (int)rec->kind ||
        strcmp(it->function, rec->function) != 0 || strcmp(it->gpu_type, rec->gpu_type) != 0) {
        if (x->items.n >= METER_BILL_MAX_ROWS) {
            frost_err_set(x->err, 400, "InvalidArgument",
                          "the bill would have more than %d rows; narrow since/until, name a "
                          "function or use by=day",
                          METER_BILL_MAX_ROWS);
            return -2;
        }
        it = rows_add(&x->items);
        if (!it)
            return -1;
        it->scope = SC_ITEM;
        it->pstart = ps;
        snprintf(it->function, sizeof(it->function), "%s", rec->function);
        it->kind = (int)rec->kind;
        snprintf(it->gpu_type, sizeof(it->gpu_type), "%s", rec->gpu_type);
    }
    struct meter_usage *u = &it->u;
    for (int c = 0; c < METER_CLASS_COUNT; c++) {
        u->ms[c] += rec->u.ms[c];
        u->gpu_mb_ms[c] += rec->u.gpu_mb_ms[c];
        u->cpu_mms[c] += rec->u.cpu_mms[c];
        u->mem_mb_ms[c] += rec->u.mem_mb_ms[c];
    }
    u->starting_ms += rec->u.starting_ms;
    u->invocations += rec->u.invocations;
    if (rec->u.peak_gpu_mb > u->peak_gpu_mb)
        u->peak_gpu_mb = rec->u.peak_gpu_mb;
    if (rec->u.peak_instances > u->peak_instances)
        u->peak_instances = rec->u.peak_instances;
    if (rec->u.slice_gpu_mb > u->slice_gpu_mb)
        u->slice_gpu_mb = rec->u.slice_gpu_mb;
    if (rec->gpu_type[0] && rec->u.peak_gpu_mb) {
        int t = type_index(x, rec->gpu_type, rec->u.slice_gpu_mb);
        if (t < 0) {
            frost_err_set(x->err, 400, "InvalidArgument", "more than %d GPU types in one bill",
                          MAX_BILL_TYPES);
            return -2;
        }
        if (agg_put(&x->fn_minutes, rec->start_ms, (uint32_t)t, rec->u.peak_gpu_mb, false) < 0 ||
            agg_put(&x->all_minutes, rec->start_ms, (uint32_t)t, rec->u.peak_gpu_mb, false) < 0)
            return -1;
    }
    return 0;
}

static void add_row(struct row *to, const struct row *r)
{
    struct meter_usage *u = &to->u;
    for (int c = 0; c < METER_CLASS_COUNT; c++) {
        u->ms[c] += r->u.ms[c];
        u->gpu_mb_ms[c] += r->u.gpu_mb_ms[c];
        u->cpu_mms[c] += r->u.cpu_mms[c];
        u->mem_mb_ms[c] += r->u.mem_mb_ms[c];
    }
    u->starting_ms += r->u.starting_ms;
    u->invocations += r->u.invocations;
    /* Instances of different series can be alive at the same time: the sum
     * of their peaks bounds the peak of the whole. */
    u->peak_instances += r->u.peak_instances;
    u->peak_gpu_mb += r->u.peak_gpu_mb;
    to->c.billed_active_ms += r->c.billed_active_ms;
    to->c.billed_idle_ms += r->c.billed_idle_ms;
    to->c.gpu_gbs_active += r->c.gpu_gbs_active;
    to->c.gpu_gbs_idle += r->c.gpu_gbs_idle;
    to->c.vcpu_s_active += r->c.vcpu_s_active;
    to->c.vcpu_s_idle += r->c.vcpu_s_idle;
    to->c.memory_gbs += r->c.memory_gbs;
    to->c.gpu += r->c.gpu;
    to->c.vcpu += r->c.vcpu;
    to->c.memory += r->c.memory;
    to->c.invocations += r->c.invocations;
    to->c.total += r->c.total;
}

static int cmp_fn_period(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int r = strcmp(x->function, y->function);
    if (r)
        return r;
    return x->pstart < y->pstart ? -1 : x->pstart > y->pstart;
}

static int cmp_period(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    return x->pstart < y->pstart ? -1 : x->pstart > y->pstart;
}

/* Rows of `in` (sorted by cmp) merged into one row per equal key. */
static int merge(const struct rows *in, enum scope scope, bool by_function, struct rows *out)
{
    for (size_t i = 0; i < in->n; i++) {
        const struct row *r = &in->v[i];
        struct row *last = out->n ? &out->v[out->n - 1] : NULL;
        if (!last || last->pstart != r->pstart ||
            (by_function && strcmp(last->function, r->function) != 0)) {
            last = rows_add(out);
            if (!last)
                return -1;
            last->scope = scope;
            last->pstart = r->pstart;
            last->kind = -1;
            if (by_function)
                snprintf(last->function, sizeof(last->function), "%s", r->function);
        }
        add_row(last, r);
    }
    return 0;
}

static void add_dedicated(const struct ctx *x, struct row *r, size_t t, uint64_t peak_mb,
                          double hours)
{
    double cards = cards_for(x, t, peak_mb);
    r->cards += cards;
    r->dedicated_hours = hours;
    r->dedicated += cards * hours * meter_price_card_hour(x->p, x->types[t]);
}

static double round_to(double v, double unit)
{
    return round(v / unit) * unit;
}

static json_t *row_json(const struct ctx *x, const struct row *r)
{
    int64_t ps = (int64_t)r->pstart, pe = x->period ? ps + (int64_t)x->period : x->q->until_ms;
    if (ps < x->q->since_ms)
        ps = x->q->since_ms;
    if (pe > x->q->until_ms)
        pe = x->q->until_ms;
    char a[32], b[32];
    clock_format_iso8601(ps, a, sizeof(a));
    clock_format_iso8601(pe, b, sizeof(b));
    const struct meter_usage *u = &r->u;
    const struct meter_cost *c = &r->c;
    json_t *o = json_object();
    if (!o)
        return NULL;
    int rc = 0;
#define S(k, v) rc |= json_object_set_new(o, k, json_string(v))
#define R(k, v) rc |= json_object_set_new(o, k, json_real(v))
#define I(k, v) rc |= json_object_set_new(o, k, json_integer((json_int_t)(v)))
    S("scope", scope_names[r->scope]);
    S("periodStart", a);
    S("periodEnd", b);
    S("functionName", r->function);
    S("kind", r->kind < 0 ? "" : meter_kind_name((enum meter_kind)r->kind));
    S("gpuType", r->gpu_type);
    I("invocations", u->invocations);
    R("activeSeconds", (double)u->ms[METER_ACTIVE] / 1000.0);
    R("idleSeconds", (double)u->ms[METER_IDLE] / 1000.0);
    R("frozenSeconds", (double)u->ms[METER_FROZEN] / 1000.0);
    R("startingSeconds", (double)u->starting_ms / 1000.0);
    R("billedActiveSeconds", (double)c->billed_active_ms / 1000.0);
    R("billedIdleSeconds", (double)c->billed_idle_ms / 1000.0);
    R("gpuMemoryGBSecondsActive", round_to(c->gpu_gbs_active, 1e-6));
    R("gpuMemoryGBSecondsIdle", round_to(c->gpu_gbs_idle, 1e-6));
    R("vcpuSecondsActive", round_to(c->vcpu_s_active, 1e-6));
    R("vcpuSecondsIdle", round_to(c->vcpu_s_idle, 1e-6));
    R("memoryGBSeconds", round_to(c->memory_gbs, 1e-6));
    R("costGpu", round_to(c->gpu, 1e-9));
    R("costVcpu", round_to(c->vcpu, 1e-9));
    R("costMemory", round_to(c->memory, 1e-9));
    R("costInvocations", round_to(c->invocations, 1e-9));
    R("cost", round_to(c->total, 1e-9));
    R("peakGpuMemoryGB", round_to((double)u->peak_gpu_mb / 1024.0, 1e-3));
    I("peakInstances", u->peak_instances);
    I("peakCards", (json_int_t)r->cards);
    R("dedicatedHours", round_to(r->dedicated_hours, 1e-6));
    R("dedicatedCost", round_to(r->dedicated, 1e-9));
    if (r->dedicated > 0)
        R("savingPercent", round_to((r->dedicated - c->total) / r->dedicated * 100.0, 0.01));
    else
        rc |= json_object_set_new(o, "savingPercent", json_null());
#undef S
#undef R
#undef I
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *rows_json(const struct ctx *x, const struct rows *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->n; i++) {
        if (json_array_append_new(a, row_json(x, &r->v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static int find_row(const struct rows *r, const char *function, uint64_t ps)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = function ? strcmp(r->v[mid].function, function) : 0;
        if (c == 0)
            c = r->v[mid].pstart < ps ? -1 : r->v[mid].pstart > ps;
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int meter_bill(struct meter_ledger *l, const struct meter_prices *p, const struct meter_query *q,
               meter_card_mb_fn card_mb, void *card_ud, json_t **out, struct frost_err *err)
{
    if (q->since_ms < 0 || q->until_ms <= q->since_ms)
        return frost_err_set(err, 400, "InvalidArgument", "since must be before until");
    struct ctx x = {.p = p, .q = q, .card_mb = card_mb, .card_ud = card_ud, .err = err};
    x.period = q->by == METER_BY_HOUR ? METER_HOUR_MS : q->by == METER_BY_DAY ? METER_DAY_MS : 0;
    struct rows fns = {0}, periods = {0}, sorted = {0};
    struct agg totals = {0};
    struct row total = {.scope = SC_TOTAL, .kind = -1, .pstart = (uint64_t)q->since_ms};
    json_t *o = NULL;
    int rc = meter_ledger_each(l, q->function[0] ? q->function : NULL, (uint64_t)q->since_ms,
                               (uint64_t)q->until_ms, on_record, &x);
    if (rc == 0 && x.fn[0])
        rc = flush_function(&x);
    if (rc < 0)
        goto fail;

    for (size_t i = 0; i < x.items.n; i++) {
        struct row *r = &x.items.v[i];
        meter_cost(p, (enum meter_kind)r->kind, r->gpu_type, &r->u, &r->c);
        if (r->gpu_type[0] && r->u.peak_gpu_mb) {
            int t = type_index(&x, r->gpu_type, r->u.slice_gpu_mb);
            if (t >= 0)
                add_dedicated(&x, r, (size_t)t, r->u.peak_gpu_mb, hours_of(&x, r->pstart));
        }
    }
    /* Per function: items sorted by (function, period), merged. */
    sorted.v = x.items.n ? malloc(x.items.n * sizeof(*sorted.v)) : NULL;
    if (x.items.n && !sorted.v) {
        rc = -1;
        goto fail;
    }
    sorted.n = sorted.cap = x.items.n;
    if (x.items.n)
        memcpy(sorted.v, x.items.v, x.items.n * sizeof(*sorted.v));
    if (sorted.n)
        qsort(sorted.v, sorted.n, sizeof(*sorted.v), cmp_fn_period);
    if (merge(&sorted, SC_FUNCTION, true, &fns) < 0) {
        rc = -1;
        goto fail;
    }
    for (size_t i = 0; i < fns.n; i++)
        fns.v[i].u.peak_gpu_mb = 0;
    for (size_t i = 0; i < x.fn_peak_list.n; i++) {
        const struct row *pk = &x.fn_peak_list.v[i];
        int k = find_row(&fns, pk->function, pk->pstart);
        if (k < 0)
            continue;
        fns.v[k].u.peak_gpu_mb += pk->u.peak_gpu_mb;
        add_dedicated(&x, &fns.v[k], (size_t)pk->kind, pk->u.peak_gpu_mb, hours_of(&x, pk->pstart));
    }
    /* Per period: items sorted by period, merged; peaks from every
     * function's minutes summed. */
    if (sorted.n) {
        memcpy(sorted.v, x.items.v, x.items.n * sizeof(*sorted.v));
        qsort(sorted.v, sorted.n, sizeof(*sorted.v), cmp_period);
    }
    if (merge(&sorted, SC_PERIOD, false, &periods) < 0) {
        rc = -1;
        goto fail;
    }
    uint64_t whole[MAX_BILL_TYPES] = {0};
    for (size_t i = 0; i < x.all_minutes.cap && rc == 0; i++) {
        const struct agg_ent *e = &x.all_minutes.e[i];
        if (!e->used)
            continue;
        rc = agg_put(&totals, period_of(&x, e->a), e->b, e->v, true);
        if (e->v > whole[e->b])
            whole[e->b] = e->v;
    }
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < periods.n; i++)
        periods.v[i].u.peak_gpu_mb = 0;
    for (size_t i = 0; i < totals.cap; i++) {
        const struct agg_ent *e = &totals.e[i];
        int k = e->used ? find_row(&periods, NULL, e->a) : -1;
        if (k < 0)
            continue;
        periods.v[k].u.peak_gpu_mb += e->v;
        add_dedicated(&x, &periods.v[k], e->b, e->v, hours_of(&x, e->a));
    }
    for (size_t i = 0; i < x.items.n; i++)
        add_row(&total, &x.items.v[i]);
    {
        struct ctx whole_range = x;
        whole_range.period = 0;
        double h = hours_of(&whole_range, (uint64_t)q->since_ms);
        for (size_t t = 0; t < x.n_types; t++)
            if (whole[t])
                add_dedicated(&whole_range, &total, t, whole[t], h);
        total.dedicated_hours = h;
        /* The total's peaks are the peaks of the whole, not sums of parts. */
        total.u.peak_gpu_mb = 0;
        for (size_t t = 0; t < x.n_types; t++)
            total.u.peak_gpu_mb += whole[t];
    }

    char since[32], until[32];
    clock_format_iso8601(q->since_ms, since, sizeof(since));
    clock_format_iso8601(q->until_ms, until, sizeof(until));
    struct ctx whole_ctx = x;
    whole_ctx.period = 0;
    o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o?, s:o?, s:o?, s:o?}", "currency", p->currency,
                  "since", since, "until", until, "by", meter_by_name(q->by), "functionName",
                  q->function[0] ? q->function : NULL, "items", rows_json(&x, &x.items),
                  "functions", rows_json(&x, &fns), "periods", rows_json(&x, &periods), "total",
                  row_json(&whole_ctx, &total));
    if (!o || !json_is_array(json_object_get(o, "items")) ||
        !json_is_array(json_object_get(o, "functions")) ||
        !json_is_array(json_object_get(o, "periods")) ||
        !json_is_object(json_object_get(o, "total"))) {
        json_decref(o);
        o = NULL;
        rc = -1;
        goto fail;
    }
fail:
    if (rc == -1 && !(err && err->status))
        frost_err_set(err, 500, "InternalError", "out of memory computing the bill");
    free(x.items.v);
    free(x.fn_peak_list.v);
    free(x.fn_minutes.e);
    free(x.all_minutes.e);
    free(totals.e);
    free(fns.v);
    free(periods.v);
    free(sorted.v);
    if (rc < 0)
        return -1;
    *out = o;
    return 0;
}
