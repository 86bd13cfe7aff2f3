/* The ledger: live instances, series (function, kind, GPU type) and their
 * buckets; phase transitions in, per-minute usage out. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/ledger.h"

/* ---- a small string-keyed hash table (chained, power-of-two size) ------------ */

struct hnode {
    struct hnode *next;
    uint64_t h;
    char *key;
};

struct htab {
    struct hnode **slots;
    size_t n, cap;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct hnode *htab_get(const struct htab *t, const char *key)
{
    if (!t->cap)
        return NULL;
    uint64_t h = hash_str(key);
    for (struct hnode *n = t->slots[h & (t->cap - 1)]; n; n = n->next)
        if (n->h == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

/* n->key must be set (owned by n). */
static int htab_add(struct htab *t, struct hnode *n)
{
    if (t->n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct hnode **slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return -1;
        for (size_t i = 0; i < t->cap; i++) {
            for (struct hnode *x = t->slots[i], *next; x; x = next) {
                next = x->next;
                x->next = slots[x->h & (cap - 1)];
                slots[x->h & (cap - 1)] = x;
            }
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    n->h = hash_str(n->key);
    n->next = t->slots[n->h & (t->cap - 1)];
    t->slots[n->h & (t->cap - 1)] = n;
    t->n++;
    return 0;
}

static void htab_del(struct htab *t, struct hnode *n)
{
    for (struct hnode **p = &t->slots[n->h & (t->cap - 1)]; *p; p = &(*p)->next) {
        if (*p == n) {
            *p = n->next;
            t->n--;
            return;
        }
    }
}

/* Calls fn on every node; fn may free it (the next pointer is read first). */
static void htab_each(struct htab *t, void (*fn)(struct hnode *n, void *ud), void *ud)
{
    for (size_t i = 0; i < t->cap; i++) {
        for (struct hnode *n = t->slots[i], *next; n; n = next) {
            next = n->next;
            fn(n, ud);
        }
    }
}

/* ---- series, buckets, instances -------------------------------------------- */

struct bucket {
    uint64_t start_ms, len_ms;
    bool dirty;
    struct meter_usage u;
};

struct series {
    struct hnode hn; /* key: function \x1f kind \x1f gpu type */
    char function[METER_FUNCTION_MAX + 1];
    enum meter_kind kind;
    char gpu_type[METER_TYPE_MAX + 1];
    struct bucket *b; /* sorted by start, never overlapping */
    size_t n, cap;
    size_t dirty_from; /* no dirty bucket below this index; n = none */
    struct series *next_dirty;
    bool listed; /* on the ledger's dirty list */
    /* What the live instances of the series hold now, and since when the
     * minutes' peaks have been stamped with it. */
    uint64_t held_gpu_mb, held_instances, held_since_ms;
};

struct inst {
    struct hnode hn; /* key: instance id */
    struct series *s;
    enum rt_phase phase;
    uint64_t since_ms; /* time up to here is counted */
    uint64_t cpu_milli, memory_mb;
    uint64_t gpu_mb;   /* GPU memory held now (0 while frozen) */
    uint64_t slice_mb; /* its slice: billed also while frozen */
};

struct fnent {
    struct hnode hn;     /* key: function */
    struct series *last; /* the series of its instance that last became active */
};

struct meter_ledger {
    struct htab series, insts, fns;
    struct series *dirty;
};

struct meter_ledger *meter_ledger_new(void)
{
    return calloc(1, sizeof(struct meter_ledger));
}

static void free_series(struct hnode *n, void *ud)
{
    struct series *s = container_of(n, struct series, hn);
    free(s->hn.key);
    free(s->b);
    free(s);
}

static void free_node(struct hnode *n, void *ud)
{
    free(n->key);
    free(n); /* inst and fnent start with their hnode */
}

void meter_ledger_free(struct meter_ledger *l)
{
    if (!l)
        return;
    htab_each(&l->series, free_series, NULL);
    htab_each(&l->insts, free_node, NULL);
    htab_each(&l->fns, free_node, NULL);
    free(l->series.slots);
    free(l->insts.slots);
    free(l->fns.slots);
    free(l);
}

size_t meter_ledger_live_instances(const struct meter_ledger *l)
{
    return l->insts.n;
}

static int series_key(const char *function, enum meter_kind kind, const char *gpu_type, char *out,
                      size_t len)
{
    int n = snprintf(out, len, "%s\x1f%s\x1f%s", function, meter_kind_name(kind),
                     gpu_type ? gpu_type : "");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static struct series *series_get(struct meter_ledger *l, const char *function, enum meter_kind kind,
                                 const char *gpu_type)
{
    char key[METER_FUNCTION_MAX + METER_TYPE_MAX + 32];
    if (strlen(function) > METER_FUNCTION_MAX || (gpu_type && strlen(gpu_type) > METER_TYPE_MAX) ||
        series_key(function, kind, gpu_type, key, sizeof(key)) < 0) {
        errno = EINVAL;
        return NULL;
    }
    struct hnode *hn = htab_get(&l->series, key);
    if (hn)
        return container_of(hn, struct series, hn);
    struct series *s = calloc(1, sizeof(*s));
    if (!s || !(s->hn.key = strdup(key)) || htab_add(&l->series, &s->hn) < 0) {
        if (s)
            free(s->hn.key);
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    snprintf(s->function, sizeof(s->function), "%s", function);
    s->kind = kind;
    snprintf(s->gpu_type, sizeof(s->gpu_type), "%s", gpu_type ? gpu_type : "");
    return s;
}

static void mark_dirty(struct meter_ledger *l, struct series *s, size_t i)
{
    s->b[i].dirty = true;
    if (!s->listed) {
        s->listed = true;
        s->dirty_from = i;
        s->next_dirty = l->dirty;
        l->dirty = s;
    } else if (i < s->dirty_from) {
        s->dirty_from = i;
    }
}

/* Index of the last bucket starting at or before t, or -1. */
static ptrdiff_t bucket_floor(const struct series *s, uint64_t t)
{
    if (s->n && s->b[s->n - 1].start_ms <= t)
        return (ptrdiff_t)s->n - 1; /* the usual case: now */
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->b[mid].start_ms <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

static ptrdiff_t bucket_insert(struct series *s, size_t at, uint64_t start, uint64_t len)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct bucket *b = realloc(s->b, cap * sizeof(*b));
        if (!b)
            return -1;
        s->b = b;
        s->cap = cap;
    }
    memmove(&s->b[at + 1], &s->b[at], (s->n - at) * sizeof(*s->b));
    memset(&s->b[at], 0, sizeof(*s->b));
    s->b[at].start_ms = start;
    s->b[at].len_ms = len;
    s->n++;
    if (s->listed && at <= s->dirty_from && s->dirty_from < s->n - 1)
        s->dirty_from++;
    return (ptrdiff_t)at;
}

/* The bucket holding time t (a new minute bucket when none does). */
static struct bucket *bucket_at(struct meter_ledger *l, struct series *s, uint64_t t)
{
    ptrdiff_t i = bucket_floor(s, t);
    if (i < 0 || t >= s->b[i].start_ms + s->b[i].len_ms) {
        uint64_t start = t - t % METER_MINUTE_MS;
        i = bucket_insert(s, (size_t)(i + 1), start, METER_MINUTE_MS);
        if (i < 0)
            return NULL;
    }
    mark_dirty(l, s, (size_t)i);
    return &s->b[i];
}

/* Stamps the buckets of [held_since_ms, t) with what the series holds (a
 * change at t applies from t on; with held_since_ms == t, the bucket of t
 * gets the value held from now), then moves held_since_ms to t. */
static int stamp(struct meter_ledger *l, struct series *s, uint64_t t)
{
    if (t < s->held_since_ms)
        t = s->held_since_ms;
    if (s->held_instances) {
        uint64_t m = s->held_since_ms;
        do {
            struct bucket *b = bucket_at(l, s, m);
            if (!b)
                return -1;
            if (s->held_gpu_mb > b->u.peak_gpu_mb)
                b->u.peak_gpu_mb = s->held_gpu_mb;
            if (s->held_instances > b->u.peak_instances)
                b->u.peak_instances = s->held_instances;
            m = b->start_ms + b->len_ms;
        } while (m < t);
    }
    s->held_since_ms = t;
    return 0;
}

static int phase_class(enum rt_phase p)
{
    switch (p) {
    case RT_PH_INITIALIZING:
    case RT_PH_ACTIVE:
        return METER_ACTIVE;
    case RT_PH_IDLE:
    case RT_PH_FREEZING:
    case RT_PH_THAWING:
    case RT_PH_STOPPING:
        return METER_IDLE;
    case RT_PH_FROZEN:
        return METER_FROZEN;
    case RT_PH_STARTING:
        return METER_CLASS_COUNT; /* kept apart, never billed */
    default:
        return -1;
    }
}

/* Counts the instance's time up to t in its current phase. */
static int accrue(struct meter_ledger *l, struct inst *in, uint64_t t)
{
    int c = phase_class(in->phase);
    uint64_t a = in->since_ms;
    while (c >= 0 && a < t) {
        struct bucket *b = bucket_at(l, in->s, a);
        if (!b)
            return -1;
        uint64_t end = b->start_ms + b->len_ms;
        uint64_t d = (end < t ? end : t) - a;
        if (c == METER_CLASS_COUNT) {
            b->u.starting_ms += d;
        } else {
            b->u.ms[c] += d;
            b->u.gpu_mb_ms[c] += d * in->slice_mb;
            b->u.cpu_mms[c] += d * in->cpu_milli;
            b->u.mem_mb_ms[c] += d * in->memory_mb;
        }
        if (in->slice_mb > b->u.slice_gpu_mb)
            b->u.slice_gpu_mb = in->slice_mb;
        a += d;
    }
    if (t > in->since_ms)
        in->since_ms = t;
    return 0;
}

static struct inst *inst_get(struct meter_ledger *l, const char *id)
{
    struct hnode *hn = htab_get(&l->insts, id);
    return hn ? container_of(hn, struct inst, hn) : NULL;
}

static void inst_remove(struct meter_ledger *l, struct inst *in)
{
    struct series *s = in->s;
    s->held_gpu_mb -= in->gpu_mb < s->held_gpu_mb ? in->gpu_mb : s->held_gpu_mb;
    if (s->held_instances)
        s->held_instances--;
    htab_del(&l->insts, &in->hn);
    free(in->hn.key);
    free(in);
}

static void take_resources(struct inst *in, const struct rt_phase_event *e)
{
    in->cpu_milli = e->cpu > 0 ? (uint64_t)(e->cpu * 1000.0 + 0.5) : 0;
    in->memory_mb = e->memory_mb;
    in->gpu_mb = e->gpu_memory_mb;
    if (e->gpu_memory_mb > in->slice_mb)
        in->slice_mb = e->gpu_memory_mb;
}

static int note_active(struct meter_ledger *l, struct series *s)
{
    struct hnode *hn = htab_get(&l->fns, s->function);
    if (!hn) {
        struct fnent *f = calloc(1, sizeof(*f));
        if (!f || !(f->hn.key = strdup(s->function)) || htab_add(&l->fns, &f->hn) < 0) {
            if (f)
                free(f->hn.key);
            free(f);
            return -1;
        }
        hn = &f->hn;
    }
    container_of(hn, struct fnent, hn)->last = s;
    return 0;
}

int meter_ledger_phase(struct meter_ledger *l, const struct rt_phase_event *e)
{
    if (!e->instance_id || !e->function) {
        errno = EINVAL;
        return -1;
    }
    struct inst *in = inst_get(l, e->instance_id);
    if (!in) {
        if (e->to == RT_PH_STOPPED || e->to == RT_PH_FAILED)
            return 0;
        enum meter_kind kind;
        if (meter_kind_parse(e->kind, &kind) < 0)
            kind = METER_ON_DEMAND;
        struct series *s = series_get(l, e->function, kind, e->gpu_type);
        if (!s)
            return -1;
        in = calloc(1, sizeof(*in));
        if (!in || !(in->hn.key = strdup(e->instance_id)) || htab_add(&l->insts, &in->hn) < 0) {
            if (in)
                free(in->hn.key);
            free(in);
            errno = ENOMEM;
            return -1;
        }
        in->s = s;
        in->phase = e->to;
        in->since_ms = e->at_ms;
        take_resources(in, e);
        if (stamp(l, s, e->at_ms) < 0)
            return -1;
        s->held_instances++;
        s->held_gpu_mb += in->gpu_mb;
        if (stamp(l, s, e->at_ms) < 0)
            return -1;
        return e->to == RT_PH_ACTIVE ? note_active(l, s) : 0;
    }
    struct series *s = in->s;
    uint64_t at = e->at_ms > in->since_ms ? e->at_ms : in->since_ms;
    if (accrue(l, in, at) < 0 || stamp(l, s, at) < 0)
        return -1;
    if (e->to == RT_PH_STOPPED) {
        inst_remove(l, in);
        return 0;
    }
    s->held_gpu_mb -= in->gpu_mb < s->held_gpu_mb ? in->gpu_mb : s->held_gpu_mb;
    in->phase = e->to;
    take_resources(in, e);
    s->held_gpu_mb += in->gpu_mb;
    if (stamp(l, s, at) < 0)
        return -1;
    return e->to == RT_PH_ACTIVE ? note_active(l, s) : 0;
}

int meter_ledger_invocation(struct meter_ledger *l, const char *function, uint64_t at_ms)
{
    struct hnode *hn = htab_get(&l->fns, function);
    struct series *s = hn ? container_of(hn, struct fnent, hn)->last
                          : series_get(l, function, METER_ON_DEMAND, "");
    if (!s)
        return -1;
    struct bucket *b = bucket_at(l, s, at_ms);
    if (!b)
        return -1;
    b->u.invocations++;
    return 0;
}

struct walk {
    struct meter_ledger *l;
    uint64_t now;
    int rc;
    bool close;
};

static void advance_inst(struct hnode *n, void *ud)
{
    struct walk *w = ud;
    struct inst *in = container_of(n, struct inst, hn);
    if (accrue(w->l, in, w->now) < 0 || stamp(w->l, in->s, w->now) < 0)
        w->rc = -1;
    if (w->close)
        inst_remove(w->l, in);
}

static void advance_series(struct hnode *n, void *ud)
{
    struct walk *w = ud;
    if (stamp(w->l, container_of(n, struct series, hn), w->now) < 0)
        w->rc = -1;
}

int meter_ledger_advance(struct meter_ledger *l, uint64_t now_ms)
{
    struct walk w = {l, now_ms, 0, false};
    htab_each(&l->insts, advance_inst, &w);
    htab_each(&l->series, advance_series, &w);
    return w.rc;
}

int meter_ledger_close_all(struct meter_ledger *l, uint64_t now_ms)
{
    struct walk w = {l, now_ms, 0, true};
    htab_each(&l->insts, advance_inst, &w);
    return w.rc;
}

/* ---- records ---------------------------------------------------------------- */

static void to_record(const struct series *s, const struct bucket *b, struct meter_record *r)
{
    snprintf(r->function, sizeof(r->function), "%s", s->function);
    r->kind = s->kind;
    snprintf(r->gpu_type, sizeof(r->gpu_type), "%s", s->gpu_type);
    r->start_ms = b->start_ms;
    r->len_ms = b->len_ms;
    r->u = b->u;
}

int meter_ledger_put(struct meter_ledger *l, const struct meter_record *r)
{
    if ((r->len_ms != METER_MINUTE_MS && r->len_ms != METER_HOUR_MS) || r->start_ms % r->len_ms) {
        errno = EINVAL;
        return -1;
    }
    struct series *s = series_get(l, r->function, r->kind, r->gpu_type);
    if (!s)
        return -1;
    ptrdiff_t i = bucket_floor(s, r->start_ms);
    if (i < 0 || s->b[i].start_ms != r->start_ms || s->b[i].len_ms != r->len_ms) {
        i = bucket_insert(s, (size_t)(i + 1), r->start_ms, r->len_ms);
        if (i < 0) {
            errno = ENOMEM;
            return -1;
        }
    }
    s->b[i].u = r->u;
    return 0;
}

int meter_ledger_take_dirty(struct meter_ledger *l,
                            int (*each)(void *ud, const struct meter_record *r), void *ud)
{
    while (l->dirty) {
        struct series *s = l->dirty;
        for (size_t i = s->dirty_from; i < s->n; i++) {
            if (!s->b[i].dirty)
                continue;
            struct meter_record r;
            to_record(s, &s->b[i], &r);
            int rc = each(ud, &r);
            if (rc < 0) {
                s->dirty_from = i;
                return rc;
            }
            s->b[i].dirty = false;
        }
        l->dirty = s->next_dirty;
        s->next_dirty = NULL;
        s->listed = false;
        s->dirty_from = 0;
    }
    return 0;
}

void meter_ledger_redirty(struct meter_ledger *l, const struct meter_record *r)
{
    char key[METER_FUNCTION_MAX + METER_TYPE_MAX + 32];
    if (series_key(r->function, r->kind, r->gpu_type, key, sizeof(key)) < 0)
        return;
    struct hnode *hn = htab_get(&l->series, key);
    if (!hn)
        return;
    struct series *s = container_of(hn, struct series, hn);
    ptrdiff_t i = bucket_floor(s, r->start_ms);
    if (i >= 0 && s->b[i].start_ms == r->start_ms)
        mark_dirty(l, s, (size_t)i);
}

static void add_usage(struct meter_usage *to, const struct meter_usage *u)
{
    for (int c = 0; c < METER_CLASS_COUNT; c++) {
        to->ms[c] += u->ms[c];
        to->gpu_mb_ms[c] += u->gpu_mb_ms[c];
        to->cpu_mms[c] += u->cpu_mms[c];
        to->mem_mb_ms[c] += u->mem_mb_ms[c];
    }
    to->starting_ms += u->starting_ms;
    to->invocations += u->invocations;
    if (u->peak_gpu_mb > to->peak_gpu_mb)
        to->peak_gpu_mb = u->peak_gpu_mb;
    if (u->peak_instances > to->peak_instances)
        to->peak_instances = u->peak_instances;
    if (u->slice_gpu_mb > to->slice_gpu_mb)
        to->slice_gpu_mb = u->slice_gpu_mb;
}

struct rollup {
    struct meter_ledger *l;
    uint64_t before;
    int (*gone)(void *ud, const struct meter_record *r);
    void *ud;
    int rc;
};

static int rollup_series(struct rollup *ru, struct series *s)
{
    size_t i = 0;
    while (i < s->n) {
        struct bucket *b = &s->b[i];
        uint64_t hour = b->start_ms - b->start_ms % METER_HOUR_MS;
        if (b->len_ms != METER_MINUTE_MS || hour + METER_HOUR_MS > ru->before) {
            i++;
            continue;
        }
        /* Minutes [i, j) belong to this hour. */
        size_t j = i;
        struct meter_usage sum = {0};
        while (j < s->n && s->b[j].len_ms == METER_MINUTE_MS &&
               s->b[j].start_ms < hour + METER_HOUR_MS) {
            struct meter_record r;
            to_record(s, &s->b[j], &r);
            int rc = ru->gone(ru->ud, &r);
            if (rc < 0)
                return rc;
            add_usage(&sum, &s->b[j].u);
            j++;
        }
        s->b[i].start_ms = hour;
        s->b[i].len_ms = METER_HOUR_MS;
        s->b[i].u = sum;
        memmove(&s->b[i + 1], &s->b[j], (s->n - j) * sizeof(*s->b));
        s->n -= j - i - 1;
        if (s->listed && s->dirty_from > i)
            s->dirty_from = i;
        mark_dirty(ru->l, s, i);
        i++;
    }
    return 0;
}

static void rollup_one(struct hnode *n, void *ud)
{
    struct rollup *ru = ud;
    if (ru->rc >= 0)
        ru->rc = rollup_series(ru, container_of(n, struct series, hn));
}

int meter_ledger_rollup(struct meter_ledger *l, uint64_t before_ms,
                        int (*gone)(void *ud, const struct meter_record *r), void *ud)
{
    struct rollup ru = {l, before_ms, gone, ud, 0};
    htab_each(&l->series, rollup_one, &ru);
    return ru.rc;
}

struct collect {
    struct series **v;
    size_t n, cap;
    const char *function;
    bool oom;
};

static void collect_one(struct hnode *n, void *ud)
{
    struct collect *c = ud;
    struct series *s = container_of(n, struct series, hn);
    if (c->oom || (c->function && strcmp(c->function, s->function) != 0))
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        struct series **v = realloc(c->v, cap * sizeof(*v));
        if (!v) {
            c->oom = true;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = s;
}

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = *(struct series *const *)a, *y = *(struct series *const *)b;
    int r = strcmp(x->function, y->function);
    if (r)
        return r;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->gpu_type, y->gpu_type);
}

int meter_ledger_each(struct meter_ledger *l, const char *function, uint64_t since_ms,
                      uint64_t until_ms, int (*each)(void *ud, const struct meter_record *r),
                      void *ud)
{
    struct collect c = {.function = function};
    htab_each(&l->series, collect_one, &c);
    if (c.oom) {
        free(c.v);
        errno = ENOMEM;
        return -1;
    }
    if (c.n)
        qsort(c.v, c.n, sizeof(*c.v), cmp_series);
    int rc = 0;
    for (size_t k = 0; k < c.n && rc >= 0; k++) {
        struct series *s = c.v[k];
        ptrdiff_t i = since_ms ? bucket_floor(s, since_ms - 1) + 1 : 0;
        for (size_t j = (size_t)i; j < s->n && s->b[j].start_ms < until_ms && rc >= 0; j++) {
            if (s->b[j].start_ms < since_ms)
                continue;
            struct meter_record r;
            to_record(s, &s->b[j], &r);
            rc = each(ud, &r);
        }
    }
    free(c.v);
    return rc;
}

/* ---- store form ------------------------------------------------------------- */

int meter_record_key(const struct meter_record *r, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s/%s/%" PRIu64 "%s", r->function, meter_kind_name(r->kind),
                     r->gpu_type[0] ? r->gpu_type : "-", r->start_ms / 1000,
                     r->len_ms == METER_HOUR_MS ? "/3600" : "");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static const char *const class_names[METER_CLASS_COUNT] = {"active", "idle", "frozen"};

char *meter_record_json(const struct meter_record *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int rc = 0;
#define PUT(k, v) rc |= json_object_set_new(o, k, json_integer((json_int_t)(v)))
    PUT("v", 1);
    PUT("seconds", r->len_ms / 1000);
    for (int c = 0; c < METER_CLASS_COUNT; c++) {
        char k[40];
        snprintf(k, sizeof(k), "%sMs", class_names[c]);
        PUT(k, r->u.ms[c]);
        snprintf(k, sizeof(k), "%sGpuMbMs", class_names[c]);
        PUT(k, r->u.gpu_mb_ms[c]);
        snprintf(k, sizeof(k), "%sMilliCpuMs", class_names[c]);
        PUT(k, r->u.cpu_mms[c]);
        snprintf(k, sizeof(k), "%sMemMbMs", class_names[c]);
        PUT(k, r->u.mem_mb_ms[c]);
    }
    PUT("startingMs", r->u.starting_ms);
    PUT("invocations", r->u.invocations);
    PUT("peakGpuMb", r->u.peak_gpu_mb);
    PUT("peakInstances", r->u.peak_instances);
    PUT("sliceGpuMb", r->u.slice_gpu_mb);
#undef PUT
    char *s = rc ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

static int get_u64(json_t *o, const char *k, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!v) {
        *out = 0; /* fields added later read as 0 */
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int meter_record_parse(const char *key, const char *json, struct meter_record *out,
                       struct frost_err *err)
{
    struct meter_record r = {0};
    char kbuf[256], *parts[6] = {0};
    size_t n = 0;
    if (snprintf(kbuf, sizeof(kbuf), "%s", key) >= (int)sizeof(kbuf))
        return frost_err_set(err, 400, "InvalidArgument", "usage key too long");
    for (char *p = kbuf, *save = NULL; n < ARRAY_LEN(parts); p = NULL) {
        char *t = strtok_r(p, "/", &save);
        if (!t)
            break;
        parts[n++] = t;
    }
    char *end = NULL;
    uint64_t start_s = n >= 4 ? strtoull(parts[3], &end, 10) : 0;
    if ((n != 4 && !(n == 5 && strcmp(parts[4], "3600") == 0)) || !end || *end ||
        strlen(parts[0]) > METER_FUNCTION_MAX || meter_kind_parse(parts[1], &r.kind) < 0 ||
        strlen(parts[2]) > METER_TYPE_MAX)
        return frost_err_set(err, 400, "InvalidArgument", "usage key %s is malformed", key);
    snprintf(r.function, sizeof(r.function), "%s", parts[0]);
    snprintf(r.gpu_type, sizeof(r.gpu_type), "%s", strcmp(parts[2], "-") ? parts[2] : "");
    r.start_ms = start_s * 1000;
    r.len_ms = n == 5 ? METER_HOUR_MS : METER_MINUTE_MS;
    if (r.start_ms % r.len_ms)
        return frost_err_set(err, 400, "InvalidArgument", "usage key %s: start not aligned", key);

    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return frost_err_set(err, 400, "InvalidArgument", "usage %s: not a JSON object", key);
    }
    int bad = 0;
    uint64_t secs = 0;
    bad |= get_u64(o, "seconds", &secs);
    for (int c = 0; c < METER_CLASS_COUNT; c++) {
        char k[40];
        snprintf(k, sizeof(k), "%sMs", class_names[c]);
        bad |= get_u64(o, k, &r.u.ms[c]);
        snprintf(k, sizeof(k), "%sGpuMbMs", class_names[c]);
        bad |= get_u64(o, k, &r.u.gpu_mb_ms[c]);
        snprintf(k, sizeof(k), "%sMilliCpuMs", class_names[c]);
        bad |= get_u64(o, k, &r.u.cpu_mms[c]);
        snprintf(k, sizeof(k), "%sMemMbMs", class_names[c]);
        bad |= get_u64(o, k, &r.u.mem_mb_ms[c]);
    }
    bad |= get_u64(o, "startingMs", &r.u.starting_ms);
    bad |= get_u64(o, "invocations", &r.u.invocations);
    bad |= get_u64(o, "peakGpuMb", &r.u.peak_gpu_mb);
    bad |= get_u64(o, "peakInstances", &r.u.peak_instances);
    bad |= get_u64(o, "sliceGpuMb", &r.u.slice_gpu_mb);
    json_decref(o);
    if (bad || secs * 1000 != r.len_ms)
        return frost_err_set(err, 400, "InvalidArgument", "usage %s: a field is not a count", key);
    *out = r;
    return 0;
}
