/* Unit tests for src/meter: the interval arithmetic (minute boundaries,
 * overlapping requests, concurrency, freezing in the middle of a minute,
 * clocks that step back), billing rules per kind, the seed 001 examples and
 * the seed 002 formula computed by the billing code from constructed
 * intervals, bills by hour and day, time syntax, records and roll-ups, price
 * configuration, and a restart through a real store (crash and clean). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "meter/ledger.h"
#include "meter/meter.h"
#include "store/store.h"

#define S  UINT64_C(1000)
#define M  (60 * S)
#define H  (60 * M)
#define GB UINT64_C(1024)
/* 2024-07-01T00:00:00Z */
#define D0 UINT64_C(1719792000000)

#define assert_near(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps)))                                                             \
            fail_msg("%s = %.12g, expected %s = %.12g (within %g)", #a, a_, #b, b_,                \
                     (double)(eps));                                                               \
    } while (0)

/* ---- helpers ----------------------------------------------------------------- */

struct inst_spec {
    const char *id, *fn, *kind, *gpu_type;
    double cpu;
    uint64_t mem_mb, gpu_mb;
};

static void ev(struct meter_ledger *l, const struct inst_spec *s, enum rt_phase to, uint64_t at,
               uint64_t gpu_mb)
{
    struct rt_phase_event e = {
        .instance_id = s->id,
        .function = s->fn,
        .kind = s->kind,
        .from = to,
        .to = to,
        .at_ms = at,
        .cpu = s->cpu,
        .memory_mb = s->mem_mb,
        .gpu_memory_mb = gpu_mb,
        .gpu_type = s->gpu_type,
    };
    assert_int_equal(meter_ledger_phase(l, &e), 0);
}

/* Phase with the spec's GPU memory (0 while frozen, as the runtime reports). */
static void ph(struct meter_ledger *l, const struct inst_spec *s, enum rt_phase to, uint64_t at)
{
    ev(l, s, to, at, to == RT_PH_FROZEN || to == RT_PH_STOPPED ? 0 : s->gpu_mb);
}

struct recs {
    struct meter_record v[256];
    size_t n;
};

static int collect(void *ud, const struct meter_record *r)
{
    struct recs *c = ud;
    assert_true(c->n < ARRAY_LEN(c->v));
    c->v[c->n++] = *r;
    return 0;
}

static const struct meter_record *rec_at(const struct recs *c, const char *fn, uint64_t start)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].function, fn) == 0 && c->v[i].start_ms == start)
            return &c->v[i];
    return NULL;
}

static struct meter_usage sum_of(struct meter_ledger *l, const char *fn)
{
    static struct recs c;
    c.n = 0;
    assert_int_equal(meter_ledger_each(l, fn, 0, UINT64_MAX, collect, &c), 0);
    struct meter_usage u = {0};
    for (size_t i = 0; i < c.n; i++) {
        for (int k = 0; k < METER_CLASS_COUNT; k++) {
            u.ms[k] += c.v[i].u.ms[k];
            u.gpu_mb_ms[k] += c.v[i].u.gpu_mb_ms[k];
            u.cpu_mms[k] += c.v[i].u.cpu_mms[k];
            u.mem_mb_ms[k] += c.v[i].u.mem_mb_ms[k];
        }
        u.starting_ms += c.v[i].u.starting_ms;
        u.invocations += c.v[i].u.invocations;
        if (c.v[i].u.peak_gpu_mb > u.peak_gpu_mb)
            u.peak_gpu_mb = c.v[i].u.peak_gpu_mb;
        if (c.v[i].u.peak_instances > u.peak_instances)
            u.peak_instances = c.v[i].u.peak_instances;
    }
    return u;
}

/* Only GPU memory is priced, as in the seeds' examples. */
static struct meter_prices gpu_prices(double active, double idle, double card_hour)
{
    struct meter_prices p = {0};
    snprintf(p.currency, sizeof(p.currency), "CNY");
    p.gpu_active = active;
    p.gpu_idle = idle;
    p.card_hour = card_hour;
    return p;
}

static uint64_t card16(void *ud, const char *type)
{
    return strcmp(type, "T4") == 0 ? 16 * GB : 0;
}

static json_t *bill(struct meter_ledger *l, const struct meter_prices *p, const char *fn,
                    uint64_t since, uint64_t until, enum meter_by by)
{
    struct meter_query q = {.since_ms = (int64_t)since, .until_ms = (int64_t)until, .by = by};
    q.now_ms = (int64_t)until;
    snprintf(q.function, sizeof(q.function), "%s", fn ? fn : "");
    json_t *out = NULL;
    struct frost_err err = {0};
    if (meter_bill(l, p, &q, card16, NULL, &out, &err) < 0)
        fail_msg("meter_bill: %d %s %s", err.status, err.code, err.msg);
    return out;
}

static double f(const json_t *row, const char *k)
{
    const json_t *v = json_object_get(row, k);
    if (!json_is_number(v))
        fail_msg("field %s is not a number", k);
    return json_number_value(v);
}

/* ---- interval arithmetic ------------------------------------------------------- */

static void test_kinds_and_classes(void **state)
{
    (void)state;
    enum meter_kind k;
    assert_int_equal(meter_kind_parse("on-demand", &k), 0);
    assert_int_equal(k, METER_ON_DEMAND);
    assert_int_equal(meter_kind_parse("provisioned-idle", &k), 0);
    assert_int_equal(k, METER_PROVISIONED_IDLE);
    assert_int_equal(meter_kind_parse("provisioned", &k), 0);
    assert_int_equal(k, METER_PROVISIONED);
    assert_int_equal(meter_kind_parse("reserved", &k), -1);
    assert_int_equal(meter_kind_parse(NULL, &k), -1);
    assert_string_equal(meter_kind_name(METER_PROVISIONED_IDLE), "provisioned-idle");
}

/* A life across minute boundaries, each phase landing in its minutes. */
static void test_minute_split(void **state)
{
    (void)state;
    struct meter_ledger *l = meter_ledger_new();
    struct inst_spec a = {"i1", "f", "on-demand", NULL, 0.5, 512, 0};
    uint64_t t = D0 + 10 * H; /* 10:00:00 */
    ph(l, &a, RT_PH_STARTING, t + 30 * S);
    ph(l, &a, RT_PH_INITIALIZING, t + 35 * S);
    ph(l, &a, RT_PH_IDLE, t + 40 * S);
    ph(l, &a, RT_PH_ACTIVE, t + 50 * S);
    ph(l, &a, RT_PH_IDLE, t + M + 20 * S);
    ph(l, &a, RT_PH_ACTIVE, t + 2 * M + 59 * S + 500); /* 10:02:59.5 */
    ph(l, &a, RT_PH_IDLE, t + 5 * M + 250);            /* 10:05:00.25 */
    ph(l, &a, RT_PH_STOPPING, t + 5 * M + 10 * S);
    ph(l, &a, RT_PH_STOPPED, t + 5 * M + 11 * S);
    assert_int_equal(meter_ledger_live_instances(l), 0);

    struct recs c = {.n = 0};
    assert_int_equal(meter_ledger_each(l, "f", 0, UINT64_MAX, collect, &c), 0);
    const struct meter_record *m0 = rec_at(&c, "f", t), *m1 = rec_at(&c, "f", t + M),
                              *m2 = rec_at(&c, "f", t + 2 * M), *m3 = rec_at(&c, "f", t + 3 * M),
                              *m4 = rec_at(&c, "f", t + 4 * M), *m5 = rec_at(&c, "f", t + 5 * M);
    assert_non_null(m0);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_non_null(m3);
    assert_non_null(m4);
    assert_non_null(m5);
    assert_int_equal(m0->len_ms, M);
    assert_int_equal(m0->u.starting_ms, 5 * S);
    assert_int_equal(m0->u.ms[METER_ACTIVE], 5 * S + 10 * S); /* initializing + active */
    assert_int_equal(m0->u.ms[METER_IDLE], 10 * S);
    assert_int_equal(m1->u.ms[METER_ACTIVE], 20 * S);
    assert_int_equal(m1->u.ms[METER_IDLE], 40 * S);
    assert_int_equal(m2->u.ms[METER_IDLE], 59 * S + 500);
    assert_int_equal(m2->u.ms[METER_ACTIVE], 500);
    assert_int_equal(m3->u.ms[METER_ACTIVE], M);
    assert_int_equal(m4->u.ms[METER_ACTIVE], M);
    assert_int_equal(m5->u.ms[METER_ACTIVE], 250);
    assert_int_equal(m5->u.ms[METER_IDLE], 10 * S - 250 + 1 * S); /* idle, then stopping */
    /* Resources follow the time: 0.5 vCPU = 500 milli-vCPU, 512 MB. */
    assert_int_equal(m3->u.cpu_mms[METER_ACTIVE], 500 * M);
    assert_int_equal(m3->u.mem_mb_ms[METER_ACTIVE], 512 * M);
    assert_int_equal(m3->u.peak_instances, 1);
    struct meter_usage u = sum_of(l, "f");
    assert_int_equal(u.ms[METER_ACTIVE], 5 * S + 10 * S + 20 * S + 500 + 2 * M + 250);
    meter_ledger_free(l);
}

/* Requests that overlap on one instance are one active phase; two
 * instances active at once are two instances' time. */
static void test_overlaps_and_concurrency(void **state)
{
    (void)state;
    struct meter_ledger *l = meter_ledger_new();
    struct inst_spec a = {"a", "f", "on-demand", "T4", 1, 1024, 4 * GB};
    struct inst_spec b = {"b", "f", "on-demand", "T4", 1, 1024, 4 * GB};
    uint64_t t = D0;
    ph(l, &a, RT_PH_STARTING, t);
    ph(l, &a, RT_PH_IDLE, t);
    /* Concurrency 4: requests at 0 s, 2 s, 3 s end at 5 s, 8 s, 6 s; the
     * scheduler reports ACTIVE once and IDLE when the last one ends. A
     * repeated ACTIVE (same phase) must not count twice. */
    ph(l, &a, RT_PH_ACTIVE, t + 10 * S);
    ph(l, &a, RT_PH_ACTIVE, t + 12 * S);
    ph(l, &a, RT_PH_IDLE, t + 18 * S);
    ph(l, &b, RT_PH_STARTING, t + 14 * S);
    ph(l, &b, RT_PH_ACTIVE, t + 15 * S);
    ph(l, &b, RT_PH_IDLE, t + 25 * S);
    ph(l, &a, RT_PH_STOPPED, t + 30 * S);
    ph(l, &b, RT_PH_STOPPED, t + 30 * S);
    struct meter_usage u = sum_of(l, "f");
    assert_int_equal(u.ms[METER_ACTIVE], 8 * S + 10 * S);
    assert_int_equal(u.gpu_mb_ms[METER_ACTIVE], 18 * S * 4 * GB);
    assert_int_equal(u.peak_instances, 2);
    assert_int_equal(u.peak_gpu_mb, 8 * GB);
    assert_int_equal(u.starting_ms, 1 * S);
    meter_ledger_free(l);
}

/* Idle mode: freezing at 30.5 s in a minute, frozen over a boundary, thawed
 * for a request. Frozen instances hold no device memory (peaks), but their
 * slice is still billed at the idle price. */
static void test_freeze_in_the_middle_of_a_minute(void **state)
{
    (void)state;
    struct meter_ledger *l = meter_ledger_new();
    struct inst_spec p = {"p", "g", "provisioned-idle", "T4", 2, 8192, 16 * GB};
    uint64_t t = D0 + H;
    ph(l, &p, RT_PH_STARTING, t);
    ph(l, &p, RT_PH_IDLE, t + 10 * S);
    ph(l, &p, RT_PH_ACTIVE, t + 20 * S);
    ph(l, &p, RT_PH_IDLE, t + 30 * S);
    ph(l, &p, RT_PH_FREEZING, t + 30 * S + 500);
    ph(l, &p, RT_PH_FROZEN, t + 31 * S);
    ph(l, &p, RT_PH_THAWING, t + M + 45 * S);
    ph(l, &p, RT_PH_ACTIVE, t + M + 46 * S);
    ph(l, &p, RT_PH_IDLE, t + M + 50 * S);
    ph(l, &p, RT_PH_STOPPED, t + 2 * M);

    struct recs c = {.n = 0};
    assert_int_equal(meter_ledger_each(l, "g", 0, UINT64_MAX, collect, &c), 0);
    const struct meter_record *m0 = rec_at(&c, "g", t), *m1 = rec_at(&c, "g", t + M);
    assert_non_null(m0);
    assert_non_null(m1);
    assert_int_equal(m0->u.ms[METER_FROZEN], 29 * S);
    assert_int_equal(m1->u.ms[METER_FROZEN], 45 * S);
    assert_int_equal(m0->u.ms[METER_IDLE], 10 * S + 500 + 500);
    assert_int_equal(m1->u.ms[METER_IDLE], 1 * S + 10 * S); /* thawing, idle */
    assert_int_equal(m1->u.ms[METER_ACTIVE], 4 * S);
    assert_int_equal(m1->u.gpu_mb_ms[METER_FROZEN], 45 * S * 16 * GB);
    assert_int_equal(m0->u.peak_gpu_mb, 16 * GB);
    assert_int_equal(m1->u.peak_gpu_mb, 16 * GB); /* thawed again in this minute */

    /* A minute spent wholly frozen holds no device memory at its peak. */
    meter_ledger_free(l);
    l = meter_ledger_new();
    ph(l, &p, RT_PH_STARTING, t);
    ph(l, &p, RT_PH_FROZEN, t + 10 * S);
    ph(l, &p, RT_PH_IDLE, t + 3 * M + 5 * S);
    ph(l, &p, RT_PH_STOPPED, t + 3 * M + 10 * S);
    c.n = 0;
    assert_int_equal(meter_ledger_each(l, "g", 0, UINT64_MAX, collect, &c), 0);
    assert_non_null(rec_at(&c, "g", t + M));
    assert_int_equal(rec_at(&c, "g", t + M)->u.peak_gpu_mb, 0);
    assert_int_equal(rec_at(&c, "g", t + M)->u.ms[METER_FROZEN], M);
    assert_int_equal(rec_at(&c, "g", t + M)->u.peak_instances, 1);
    assert_int_equal(rec_at(&c, "g", t + 3 * M)->u.peak_gpu_mb, 16 * GB);
    meter_ledger_free(l);
}

/* A wall clock that steps back never makes negative time. */
static void test_clock_steps_back(void **state)
{
    (void)state;
    struct meter_ledger *l = meter_ledger_new();
    struct inst_spec a = {"a", "f", "on-demand", NULL, 1, 128, 0};
    ph(l, &a, RT_PH_STARTING, D0 + 10 * S);
    ph(l, &a, RT_PH_ACTIVE, D0 + 20 * S);
    ph(l, &a, RT_PH_IDLE, D0 + 5 * S); /* clock stepped back 15 s */
    ph(l, &a, RT_PH_ACTIVE, D0 + 30 * S);
    ph(l, &a, RT_PH_IDLE, D0 + 32 * S);
    ph(l, &a, RT_PH_STOPPED, D0 + 40 * S);
    struct meter_usage u = sum_of(l, "f");
    assert_int_equal(u.ms[METER_ACTIVE], 2 * S);
    assert_int_equal(u.ms[METER_IDLE], 10 * S + 8 * S);
    /* Events for instances the meter never saw start them, except the end. */
    struct inst_spec x = {"x", "f", "on-demand", NULL, 1, 128, 0};
    ph(l, &x, RT_PH_STOPPED, D0 + M);
    assert_int_equal(meter_ledger_live_instances(l), 0);
    ph(l, &x, RT_PH_ACTIVE, D0 + M);
    ph(l, &x, RT_PH_STOPPED, D0 + M + 3 * S);
    assert_int_equal(sum_of(l, "f").ms[METER_ACTIVE], 5 * S);
    meter_ledger_free(l);
}

/* Open intervals: advance counts them so far and keeps them open;
 * close_all ends them (shutdown); nothing is counted twice. */
static void test_open_intervals_and_shutdown(void **state)
{
    (void)state;
    struct meter_ledger *l = meter_ledger_new();
    struct inst_spec a = {"a", "f", "provisioned", NULL, 1, 1024, 0};
    ph(l, &a, RT_PH_STARTING, D0);
    ph(l, &a, RT_PH_IDLE, D0 + 2 * S);
    assert_int_equal(meter_ledger_advance(l, D0 + 90 * S), 0);
    assert_int_equal(sum_of(l, "f").ms[METER_IDLE], 88 * S);
    assert_int_equal(meter_ledger_advance(l, D0 + 100 * S), 0);
    assert_int_equal(meter_ledger_advance(l, D0 + 100 * S), 0);
    assert_int_equal(sum_of(l, "f").ms[METER_IDLE], 98 * S);
    assert_int_equal(meter_ledger_close_all(l, D0 + 110 * S), 0);
    assert_int_equal(meter_ledger_live_instances(l), 0);
    assert_int_equal(sum_of(l, "f").ms[METER_IDLE], 108 * S);
    assert_int_equal(meter_ledger_advance(l, D0 + 200 * S), 0);
    assert_int_equal(sum_of(l, "f").ms[METER_IDLE], 108 * S);
    meter_ledger_free(l);
}

/* ---- billing rules and the seeds ------------------------------------------------ */

/* Seed 002: an instance lives through T0..T4, active in T1 and T3, idle in
 * T0, T2, T4 (frozen during part of T2). */
static struct meter_ledger *seed002(const char *kind, uint64_t T[5])
{
    struct meter_ledger *l = meter_ledger_new();
    struct inst_spec p = {"p", "rt", kind, "T4", 0, 0, 16 * GB};
    uint64_t t = D0 + 3 * H;
    ph(l, &p, RT_PH_IDLE, t);
    t += T[0];
    ph(l, &p, RT_PH_ACTIVE, t);
    t += T[1];
    ph(l, &p, RT_PH_IDLE, t);
    ph(l, &p, RT_PH_FREEZING, t + 100);
    ph(l, &p, RT_PH_FROZEN, t + 600);
    ph(l, &p, RT_PH_THAWING, t + T[2] - 700);
    t += T[2];
    ph(l, &p, RT_PH_ACTIVE, t);
    t += T[3];
    ph(l, &p, RT_PH_IDLE, t);
    t += T[4];
    ph(l, &p, RT_PH_STOPPED, t);
    return l;
}

static void test_seed002_formula(void **state)
{
    (void)state;
    uint64_t T[5] = {95 * S + 123, 42 * S + 7, 10 * M + 333, 3 * S + 1, 7 * M + 12 * S};
    double active = 0.00011, idle = 0.000026, gb = 16;
    struct meter_prices p = gpu_prices(active, idle, 14);
    double t_idle = (double)(T[0] + T[2] + T[4]) / 1000.0,
           t_active = (double)(T[1] + T[3]) / 1000.0;

    struct meter_ledger *l = seed002("provisioned-idle", T);
    json_t *b = bill(l, &p, NULL, D0, D0 + METER_DAY_MS, METER_BY_ALL);
    json_t *tot = json_object_get(b, "total");
    /* (T0 + T2 + T4) × idle price + (T1 + T3) × active price, per GB. */
    assert_near(f(tot, "cost"), t_idle * idle * gb + t_active * active * gb, 1e-9);
    assert_near(f(tot, "billedActiveSeconds"), t_active, 1e-9);
    assert_near(f(tot, "billedIdleSeconds"), t_idle, 1e-9);
    assert_near(f(tot, "activeSeconds"), t_active, 1e-9);
    assert_near(f(tot, "idleSeconds") + f(tot, "frozenSeconds"), t_idle, 1e-9);
    assert_true(f(tot, "frozenSeconds") > 0);
    json_decref(b);
    meter_ledger_free(l);

    /* The same life without idle mode: all of it at the active price. */
    l = seed002("provisioned", T);
    b = bill(l, &p, NULL, D0, D0 + METER_DAY_MS, METER_BY_ALL);
    assert_near(f(json_object_get(b, "total"), "cost"), (t_idle + t_active) * active * gb, 1e-9);
    json_decref(b);
    meter_ledger_free(l);

    /* On demand: the active time only. */
    l = seed002("on-demand", T);
    b = bill(l, &p, NULL, D0, D0 + METER_DAY_MS, METER_BY_ALL);
    assert_near(f(json_object_get(b, "total"), "cost"), t_active * active * gb, 1e-9);
    assert_near(f(json_object_get(b, "total"), "billedIdleSeconds"), 0, 0);
    json_decref(b);
    meter_ledger_free(l);
}

/* Seed 001: N calls of 1 s a day on a 4 GB slice of a T4 (16 GB), at
 * 0.0007 per GB·s, against a dedicated card at 14 an hour. The instance is
 * kept alive all day (on-demand: its idle time is free). */
static json_t *seed001(int calls, struct meter_ledger **lp)
{
    struct meter_ledger *l = meter_ledger_new();
    struct inst_spec a = {"a", "cv", "on-demand", "T4", 0, 0, 4 * GB};
    uint64_t gap = METER_DAY_MS / (uint64_t)calls;
    ph(l, &a, RT_PH_STARTING, D0);
    ph(l, &a, RT_PH_IDLE, D0);
    for (int k = 0; k < calls; k++) {
        ph(l, &a, RT_PH_ACTIVE, D0 + (uint64_t)k * gap);
        assert_int_equal(meter_ledger_invocation(l, "cv", D0 + (uint64_t)k * gap), 0);
        ph(l, &a, RT_PH_IDLE, D0 + (uint64_t)k * gap + S);
    }
    ph(l, &a, RT_PH_STOPPED, D0 + METER_DAY_MS);
    struct meter_prices p = gpu_prices(0.0007, 0.0002, 14);
    json_t *b = bill(l, &p, NULL, D0, D0 + METER_DAY_MS, METER_BY_ALL);
    *lp = l;
    return b;
}

static void test_seed001_examples(void **state)
{
    (void)state;
    struct meter_ledger *l;
    json_t *b = seed001(3600, &l);
    json_t *tot = json_object_get(b, "total");
    assert_near(f(tot, "cost"), 10.08, 1e-9);
    assert_near(f(tot, "activeSeconds"), 3600, 1e-9);
    assert_near(f(tot, "gpuMemoryGBSecondsActive"), 3600 * 4, 1e-6);
    assert_near(f(tot, "invocations"), 3600, 0);
    assert_near(f(tot, "peakCards"), 1, 0);
    assert_near(f(tot, "dedicatedCost"), 336, 1e-9);
    assert_near(f(tot, "savingPercent"), 97.0, 1e-9);
    assert_true(f(tot, "savingPercent") >= 95); /* the seed says "95%" */
    /* The item row (function × kind) says the same. */
    json_t *item = json_array_get(json_object_get(b, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "kind")), "on-demand");
    assert_string_equal(json_string_value(json_object_get(item, "gpuType")), "T4");
    assert_near(f(item, "cost"), 10.08, 1e-9);
    assert_near(f(item, "dedicatedCost"), 336, 1e-9);
    json_decref(b);
    meter_ledger_free(l);

    b = seed001(50000, &l);
    tot = json_object_get(b, "total");
    assert_near(f(tot, "cost"), 140, 1e-9);
    assert_near(f(tot, "dedicatedCost"), 336, 1e-9);
    assert_near(f(tot, "savingPercent"), 58.33, 1e-9);
    assert_true(f(tot, "savingPercent") >= 55); /* the seed says "55%" */
    json_decref(b);
    meter_ledger_free(l);
}

/* All prices at once, on a provisioned-idle instance. */
static void test_cost_all_resources(void **state)
{
    (void)state;
    struct meter_prices p = {0};
    p.gpu_active = 0.000042;
    p.gpu_idle = 0.00001;
    p.n_gpu = 1;
    snprintf(p.gpu[0].type, sizeof(p.gpu[0].type), "L20");
    p.gpu[0].active = 0.00003;
    p.gpu[0].idle = 0.000005;
    p.vcpu_active = 0.00002;
    p.vcpu_idle = 0.000001;
    p.memory = 0.000003;
    p.invocation = 0.00000015;
    struct meter_usage u = {0};
    u.ms[METER_ACTIVE] = 100 * S;
    u.ms[METER_IDLE] = 50 * S;
    u.ms[METER_FROZEN] = 200 * S;
    for (int c = 0; c < METER_CLASS_COUNT; c++) {
        u.gpu_mb_ms[c] = u.ms[c] * 48 * GB;
        u.cpu_mms[c] = u.ms[c] * 4000;
        u.mem_mb_ms[c] = u.ms[c] * 2048;
    }
    u.invocations = 1000;
    struct meter_cost c;
    meter_cost(&p, METER_PROVISIONED_IDLE, "L20", &u, &c);
    assert_int_equal(c.billed_active_ms, 100 * S);
    assert_int_equal(c.billed_idle_ms, 250 * S);
    assert_near(c.gpu_gbs_active, 100 * 48, 1e-9);
    assert_near(c.gpu_gbs_idle, 250 * 48, 1e-9);
    assert_near(c.gpu, 100 * 48 * 0.00003 + 250 * 48 * 0.000005, 1e-12);
    assert_near(c.vcpu, 100 * 4 * 0.00002 + 250 * 4 * 0.000001, 1e-12);
    assert_near(c.memory, 350 * 2 * 0.000003, 1e-12);
    assert_near(c.invocations, 1000 * 0.00000015, 1e-15);
    assert_near(c.total, c.gpu + c.vcpu + c.memory + c.invocations, 1e-15);
    /* A type without its own price uses the default ones. */
    meter_cost(&p, METER_PROVISIONED, "T4", &u, &c);
    assert_near(c.gpu, 350 * 48 * 0.000042, 1e-12);
    assert_int_equal(c.billed_idle_ms, 0);
    meter_cost(&p, METER_ON_DEMAND, "T4", &u, &c);
    assert_near(c.memory, 100 * 2 * 0.000003, 1e-12);
    assert_int_equal(c.billed_active_ms, 100 * S);
}

/* ---- bills ----------------------------------------------------------------------- */

static void test_bill_periods_and_dedicated_peaks(void **state)
{
    (void)state;
    struct meter_ledger *l = meter_ledger_new();
    /* Two functions, 8 GB slices of T4s: together 16 GB (one card) in the
     * first hour, 24 GB (two cards) in the second, when b runs twice. */
    struct inst_spec a = {"a", "fa", "on-demand", "T4", 0, 0, 8 * GB};
    struct inst_spec b1 = {"b1", "fb", "on-demand", "T4", 0, 0, 8 * GB};
    struct inst_spec b2 = {"b2", "fb", "on-demand", "T4", 0, 0, 8 * GB};
    ph(l, &a, RT_PH_ACTIVE, D0 + 10 * M);
    ph(l, &b1, RT_PH_ACTIVE, D0 + 10 * M);
    ph(l, &b1, RT_PH_STOPPED, D0 + 20 * M);
    ph(l, &b1, RT_PH_ACTIVE, D0 + H + 10 * M);
    ph(l, &b2, RT_PH_ACTIVE, D0 + H + 10 * M);
    ph(l, &b1, RT_PH_STOPPED, D0 + H + 20 * M);
    ph(l, &b2, RT_PH_STOPPED, D0 + H + 20 * M);
    ph(l, &a, RT_PH_STOPPED, D0 + 2 * H);
    struct meter_prices p = gpu_prices(0.0001, 0, 10);

    json_t *bl = bill(l, &p, NULL, D0, D0 + 4 * H, METER_BY_HOUR);
    json_t *items = json_object_get(bl, "items"), *fns = json_object_get(bl, "functions"),
           *periods = json_object_get(bl, "periods"), *tot = json_object_get(bl, "total");
    assert_string_equal(json_string_value(json_object_get(bl, "by")), "hour");
    assert_int_equal(json_array_size(items), 4); /* fa and fb in hours 0 and 1 */
    assert_int_equal(json_array_size(fns), 4);
    assert_int_equal(json_array_size(periods), 2);
    json_t *p0 = json_array_get(periods, 0), *p1 = json_array_get(periods, 1);
    assert_string_equal(json_string_value(json_object_get(p0, "periodStart")),
                        "2024-07-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(p1, "periodEnd")),
                        "2024-07-01T02:00:00.000Z");
    assert_near(f(p0, "peakCards"), 1, 0);
    assert_near(f(p1, "peakCards"), 2, 0);
    assert_near(f(p0, "dedicatedCost"), 10, 1e-9);
    assert_near(f(p1, "dedicatedCost"), 20, 1e-9);
    assert_near(f(p0, "activeSeconds"), (50 + 10) * 60, 1e-9);
    assert_near(f(p1, "activeSeconds"), (60 + 20) * 60, 1e-9);
    /* fb in hour 1: its two instances need one card (16 GB). */
    json_t *fb1 = json_array_get(fns, 3);
    assert_string_equal(json_string_value(json_object_get(fb1, "functionName")), "fb");
    assert_near(f(fb1, "peakCards"), 1, 0);
    assert_near(f(fb1, "peakGpuMemoryGB"), 16, 0);
    /* Whole range: the peak is 2 cards for 4 hours. */
    assert_near(f(tot, "peakCards"), 2, 0);
    assert_near(f(tot, "dedicatedHours"), 4, 1e-9);
    assert_near(f(tot, "dedicatedCost"), 80, 1e-9);
    assert_near(f(tot, "cost"), (140 * 60) * 8 * 0.0001, 1e-9);
    json_decref(bl);

    /* By day: one period; a function filter; dedicated hours stop at now. */
    bl = bill(l, &p, "fb", D0, D0 + METER_DAY_MS, METER_BY_DAY);
    assert_int_equal(json_array_size(json_object_get(bl, "items")), 1);
    assert_string_equal(json_string_value(json_object_get(bl, "functionName")), "fb");
    tot = json_object_get(bl, "total");
    assert_near(f(tot, "activeSeconds"), 30 * 60, 1e-9);
    assert_near(f(tot, "peakCards"), 1, 0);
    json_decref(bl);
    struct meter_query q = {.since_ms = (int64_t)D0,
                            .until_ms = (int64_t)(D0 + METER_DAY_MS),
                            .now_ms = (int64_t)(D0 + 3 * H)};
    struct frost_err err = {0};
    assert_int_equal(meter_bill(l, &p, &q, card16, NULL, &bl, &err), 0);
    assert_near(f(json_object_get(bl, "total"), "dedicatedHours"), 3, 1e-9);
    json_decref(bl);

    /* Since in the middle of the usage: buckets starting before are out. */
    bl = bill(l, &p, NULL, D0 + 15 * M, D0 + 4 * H, METER_BY_ALL);
    assert_near(f(json_object_get(bl, "total"), "activeSeconds"), (45 + 5 + 60 + 20) * 60, 1e-9);
    json_decref(bl);
    /* A range without usage is a bill of zeros. */
    bl = bill(l, &p, NULL, D0 + 10 * H, D0 + 11 * H, METER_BY_ALL);
    assert_int_equal(json_array_size(json_object_get(bl, "items")), 0);
    assert_near(f(json_object_get(bl, "total"), "cost"), 0, 0);
    assert_true(json_is_null(json_object_get(json_object_get(bl, "total"), "savingPercent")));
    json_decref(bl);

    /* since >= until is refused. */
    q.until_ms = q.since_ms;
    assert_int_equal(meter_bill(l, &p, &q, card16, NULL, &bl, &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "InvalidArgument");
    meter_ledger_free(l);
}

static void test_bill_row_cap(void **state)
{
    (void)state;
    struct meter_ledger *l = meter_ledger_new();
    struct meter_record r = {.function = "f", .kind = METER_ON_DEMAND, .len_ms = H};
    for (uint64_t h = 0; h <= METER_BILL_MAX_ROWS; h++) {
        r.start_ms = D0 + h * H;
        r.u.ms[METER_ACTIVE] = S;
        assert_int_equal(meter_ledger_put(l, &r), 0);
    }
    struct meter_prices p = gpu_prices(1, 1, 1);
    struct meter_query q = {.since_ms = (int64_t)D0,
                            .until_ms = (int64_t)(D0 + (METER_BILL_MAX_ROWS + 1) * H),
                            .by = METER_BY_HOUR,
                            .now_ms = (int64_t)D0};
    json_t *out = NULL;
    struct frost_err err = {0};
    assert_int_equal(meter_bill(l, &p, &q, card16, NULL, &out, &err), -1);
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.msg, "rows"));
    q.by = METER_BY_DAY;
    assert_int_equal(meter_bill(l, &p, &q, card16, NULL, &out, &err), 0);
    assert_near(f(json_object_get(out, "total"), "activeSeconds"), METER_BILL_MAX_ROWS + 1, 1e-9);
    json_decref(out);
    meter_ledger_free(l);
}

/* ---- records, restarts, roll-ups ---------------------------------------------------- */

static int put_all(struct meter_ledger *to, const struct recs *c)
{
    for (size_t i = 0; i < c->n; i++) {
        char key[256];
        assert_int_equal(meter_record_key(&c->v[i], key, sizeof(key)), 0);
        char *json = meter_record_json(&c->v[i]);
        assert_non_null(json);
        struct meter_record r;
        struct frost_err err = {0};
        if (meter_record_parse(key, json, &r, &err) < 0)
            fail_msg("%s: %s", key, err.msg);
        free(json);
        assert_string_equal(r.function, c->v[i].function);
        assert_string_equal(r.gpu_type, c->v[i].gpu_type);
        assert_int_equal(r.kind, c->v[i].kind);
        assert_int_equal(r.start_ms, c->v[i].start_ms);
        assert_int_equal(r.len_ms, c->v[i].len_ms);
        assert_memory_equal(&r.u, &c->v[i].u, sizeof(r.u));
        assert_int_equal(meter_ledger_put(to, &r), 0);
    }
    return 0;
}

/* A restart: what was taken (written) loads into a new ledger; instances
 * of the old process are gone, new ones add to the same minute. */
static void test_restart_bills_nothing_twice(void **state)
{
    (void)state;
    struct meter_ledger *l = meter_ledger_new();
    struct inst_spec a = {"a", "f", "on-demand", NULL, 1, 1024, 0};
    ph(l, &a, RT_PH_ACTIVE, D0 + 10 * S);
    ph(l, &a, RT_PH_IDLE, D0 + 20 * S);
    assert_int_equal(meter_ledger_close_all(l, D0 + 30 * S), 0); /* shutdown */
    struct recs c = {.n = 0};
    assert_int_equal(meter_ledger_take_dirty(l, collect, &c), 0);
    assert_true(c.n >= 1);
    struct recs again = {.n = 0};
    assert_int_equal(meter_ledger_take_dirty(l, collect, &again), 0);
    assert_int_equal(again.n, 0); /* taken once */

    struct meter_ledger *l2 = meter_ledger_new();
    put_all(l2, &c);
    put_all(l2, &c); /* loading twice replaces, it does not add */
    assert_int_equal(sum_of(l2, "f").ms[METER_ACTIVE], 10 * S);
    struct recs none = {.n = 0};
    assert_int_equal(meter_ledger_take_dirty(l2, collect, &none), 0);
    assert_int_equal(none.n, 0); /* loaded records are not written again */
    struct inst_spec b = {"b", "f", "on-demand", NULL, 1, 1024, 0};
    ph(l2, &b, RT_PH_ACTIVE, D0 + 40 * S);
    ph(l2, &b, RT_PH_STOPPED, D0 + 45 * S);
    assert_int_equal(sum_of(l2, "f").ms[METER_ACTIVE], 15 * S);
    struct recs c2 = {.n = 0};
    assert_int_equal(meter_ledger_take_dirty(l2, collect, &c2), 0);
    assert_non_null(rec_at(&c2, "f", D0));
    assert_int_equal(rec_at(&c2, "f", D0)->u.ms[METER_ACTIVE], 15 * S);

    /* A failed write: redirty makes the next take include it again. */
    meter_ledger_redirty(l2, rec_at(&c2, "f", D0));
    struct recs c3 = {.n = 0};
    assert_int_equal(meter_ledger_take_dirty(l2, collect, &c3), 0);
    assert_int_equal(c3.n, 1);
    meter_ledger_free(l);
    meter_ledger_free(l2);
}

static void test_record_keys_and_errors(void **state)
{
    (void)state;
    struct meter_record r = {.function = "my-fn_1",
                             .kind = METER_PROVISIONED_IDLE,
                             .gpu_type = "L20",
                             .start_ms = D0 + 5 * M,
                             .len_ms = M};
    char key[256];
    assert_int_equal(meter_record_key(&r, key, sizeof(key)), 0);
    assert_string_equal(key, "my-fn_1/provisioned-idle/L20/1719792300");
    r.gpu_type[0] = 0;
    r.start_ms = D0 + H;
    r.len_ms = H;
    assert_int_equal(meter_record_key(&r, key, sizeof(key)), 0);
    assert_string_equal(key, "my-fn_1/provisioned-idle/-/1719795600/3600");
    struct meter_record out;
    struct frost_err err = {0};
    static const char *const bad_keys[] = {
        "f/on-demand/-",
        "f/spot/-/1719792300",
        "f/on-demand/-/17197923x0",
        "f/on-demand/-/1719792301",
        "f/on-demand/-/1719792300/60",
        "f/on-demand/-/1719792060/3600",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad_keys); i++) {
        if (meter_record_parse(bad_keys[i], "{\"seconds\":60}", &out, &err) == 0)
            fail_msg("key %s was accepted", bad_keys[i]);
    }
    assert_int_equal(meter_record_parse("f/on-demand/-/1719792300", "[]", &out, &err), -1);
    assert_int_equal(meter_record_parse("f/on-demand/-/1719792300",
                                        "{\"seconds\":60,\"activeMs\":-1}", &out, &err),
                     -1);
    assert_int_equal(
        meter_record_parse("f/on-demand/-/1719792300", "{\"seconds\":3600}", &out, &err), -1);
    assert_int_equal(meter_record_parse("f/on-demand/-/1719792300",
                                        "{\"seconds\":60,\"activeMs\":5}", &out, &err),
                     0);
    assert_int_equal(out.u.ms[METER_ACTIVE], 5);
    r.start_ms = D0 + 30 * S; /* not aligned */
    r.len_ms = M;
    struct meter_ledger *l = meter_ledger_new();
    assert_int_equal(meter_ledger_put(l, &r), -1);
    meter_ledger_free(l);
}

static int gone_collect(void *ud, const struct meter_record *r)
{
    return collect(ud, r);
}

static void test_rollup_keeps_totals(void **state)
{
    (void)state;
    struct meter_ledger *l = meter_ledger_new();
    struct inst_spec a = {"a", "f", "on-demand", "T4", 1, 1024, 4 * GB};
    ph(l, &a, RT_PH_ACTIVE, D0 + 30 * M + 30 * S);
    ph(l, &a, RT_PH_IDLE, D0 + 2 * H + 5 * M);
    ph(l, &a, RT_PH_STOPPED, D0 + 2 * H + 10 * M);
    assert_int_equal(meter_ledger_invocation(l, "f", D0 + 40 * M), 0);
    struct meter_prices p = gpu_prices(0.001, 0, 1);
    json_t *before = bill(l, &p, NULL, D0, D0 + 3 * H, METER_BY_HOUR);
    struct recs flushed = {.n = 0};
    assert_int_equal(meter_ledger_take_dirty(l, collect, &flushed), 0);

    struct recs gone = {.n = 0};
    assert_int_equal(meter_ledger_rollup(l, D0 + 2 * H, gone_collect, &gone), 0);
    /* Hours 0 and 1 are folded; hour 2 is not over before the cut. */
    assert_int_equal(gone.n, 30 + 60);
    struct recs dirty = {.n = 0};
    assert_int_equal(meter_ledger_take_dirty(l, collect, &dirty), 0);
    assert_int_equal(dirty.n, 2);
    assert_int_equal(dirty.v[0].len_ms, H);
    assert_int_equal(dirty.v[1].len_ms, H);
    json_t *after = bill(l, &p, NULL, D0, D0 + 3 * H, METER_BY_HOUR);
    json_t *tb = json_object_get(before, "total"), *ta = json_object_get(after, "total");
    assert_near(f(ta, "activeSeconds"), f(tb, "activeSeconds"), 1e-9);
    assert_near(f(ta, "cost"), f(tb, "cost"), 1e-12);
    assert_near(f(ta, "invocations"), 1, 0);
    assert_near(f(ta, "peakCards"), 1, 0);
    json_decref(before);
    json_decref(after);
    /* Late time for a folded hour goes into the hour. */
    struct inst_spec b = {"b", "f", "on-demand", "T4", 1, 1024, 4 * GB};
    ph(l, &b, RT_PH_ACTIVE, D0 + 10 * M);
    ph(l, &b, RT_PH_STOPPED, D0 + 11 * M);
    struct recs c = {.n = 0};
    assert_int_equal(meter_ledger_each(l, "f", D0, D0 + H, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.v[0].u.ms[METER_ACTIVE], 29 * M + 30 * S + M);
    meter_ledger_free(l);
}

/* ---- time syntax, prices in the config ---------------------------------------------- */

static void test_parse_time(void **state)
{
    (void)state;
    int64_t now = (int64_t)(D0 + 10 * H + 30 * M), t;
    assert_int_equal(meter_parse_time("2024-07-01T16:00:00Z", now, &t), 0);
    assert_int_equal(t, (int64_t)(D0 + 16 * H));
    assert_int_equal(meter_parse_time("2024-07-01T16:00:00.250+08:00", now, &t), 0);
    assert_int_equal(t, (int64_t)(D0 + 8 * H + 250));
    assert_int_equal(meter_parse_time("2024-07-01T16:00-01:30", now, &t), 0);
    assert_int_equal(t, (int64_t)(D0 + 17 * H + 30 * M));
    assert_int_equal(meter_parse_time("2024-07-01", now, &t), 0);
    assert_int_equal(t, (int64_t)D0);
    assert_int_equal(meter_parse_time("2024-02-29", now, &t), 0);
    assert_int_equal(meter_parse_time("1719792000000", now, &t), 0);
    assert_int_equal(t, (int64_t)D0);
    assert_int_equal(meter_parse_time("now", now, &t), 0);
    assert_int_equal(t, now);
    assert_int_equal(meter_parse_time("today", now, &t), 0);
    assert_int_equal(t, (int64_t)D0);
    assert_int_equal(meter_parse_time("yesterday", now, &t), 0);
    assert_int_equal(t, (int64_t)(D0 - METER_DAY_MS));
    assert_int_equal(meter_parse_time("-90m", now, &t), 0);
    assert_int_equal(t, now - 90 * 60000);
    assert_int_equal(meter_parse_time("-7d", now, &t), 0);
    assert_int_equal(t, now - 7 * (int64_t)METER_DAY_MS);
    static const char *const bad[] = {"",
                                      "soon",
                                      "2024-13-01",
                                      "2023-02-29",
                                      "2024-07-01T25:00:00Z",
                                      "2024-07-01T16:00:00",
                                      "2024-07-01T16:00:00Zx",
                                      "-2w",
                                      "-h",
                                      "--2h",
                                      "2024-7-1",
                                      "1e12",
                                      "12345678901234567890",
                                      "2024-07-01T16:00:00.Z",
                                      "1969-12-31"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (meter_parse_time(bad[i], now, &t) == 0)
            fail_msg("\"%s\" was accepted as %lld", bad[i], (long long)t);
    }
    enum meter_by by;
    assert_int_equal(meter_by_parse("hour", &by), 0);
    assert_int_equal(by, METER_BY_HOUR);
    assert_int_equal(meter_by_parse("day", &by), 0);
    assert_int_equal(by, METER_BY_DAY);
    assert_int_equal(meter_by_parse("", &by), 0);
    assert_int_equal(by, METER_BY_ALL);
    assert_int_equal(meter_by_parse("week", &by), -1);
}

static void test_price_config(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    struct meter_prices p;
    assert_int_equal(meter_prices_from_config(&c, &p, &err), 0);
    /* FC's CU factors at USD 0.00002 per CU. */
    assert_string_equal(p.currency, "USD");
    assert_near(p.gpu_active, 2.1 * 0.00002, 1e-15);
    assert_near(p.gpu_idle, 0.5 * 0.00002, 1e-15);
    assert_near(meter_price_gpu(&p, "L20", true), 1.5 * 0.00002, 1e-15);
    assert_near(meter_price_gpu(&p, "L20", false), 0.25 * 0.00002, 1e-15);
    assert_near(meter_price_gpu(&p, "T4", true), 2.1 * 0.00002, 1e-15);
    assert_near(p.vcpu_active, 0.00002, 1e-15);
    assert_near(p.vcpu_idle, 0, 0);
    assert_near(p.memory, 0.15 * 0.00002, 1e-15);
    assert_near(p.invocation, 75.0 / 10000 * 0.00002, 1e-18);
    assert_near(meter_price_card_hour(&p, "T4"), 2, 0);

    /* Seed 001's prices, set the ways users set them. */
    assert_int_equal(config_set(&c, "prices.currency", "CNY", "t", &err), 0);
    assert_int_equal(config_set(&c, "prices.gpu_memory_active", "0.0007", "t", &err), 0);
    assert_int_equal(config_set(&c, "dedicated.types", "T4=14, A10=20.5", "t", &err), 0);
    assert_int_equal(config_set(&c, "prices.gpu_types", "", "t", &err), 0);
    assert_int_equal(meter_prices_from_config(&c, &p, &err), 0);
    assert_near(meter_price_gpu(&p, "L20", true), 0.0007, 1e-15);
    assert_near(meter_price_card_hour(&p, "A10"), 20.5, 1e-12);
    assert_near(meter_price_card_hour(&p, "T4"), 14, 0);
    assert_near(meter_price_card_hour(&p, "H100"), 2, 0);
    struct buf out = BUF_INIT(0);
    assert_int_equal(config_dump(&c, &out), 0);
    assert_non_null(strstr(out.data, "  gpu_memory_active: 0.0007\n"));
    assert_non_null(strstr(out.data, "  invocation: 0.00000015\n"));
    assert_non_null(strstr(out.data, "  card_hour: 2\n"));
    buf_free(&out);

    /* Decimal values: plain, non-negative, at most 9 decimals. */
    static const char *const bad_values[] = {"-1", "1e-5", "0.0000000001", "abc",
                                             "",   "1.",   ".5",           "2000000"};
    for (size_t i = 0; i < ARRAY_LEN(bad_values); i++) {
        if (config_set(&c, "prices.memory", bad_values[i], "t", &err) == 0)
            fail_msg("prices.memory accepted \"%s\"", bad_values[i]);
        assert_non_null(strstr(err.msg, "prices.memory"));
    }
    assert_int_equal(config_set(&c, "prices.memory", "0.000000001", "t", &err), 0);
    c.prices.memory = -1;
    assert_int_equal(config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "prices.memory"));
    c.prices.memory = 0;

    static const char *const bad_lists[] = {"L20=0.1",      "L20=0.1/",    "=0.1/0.2",
                                            "L 20=0.1/0.2", "L20:0.1/0.2", "L20=0.1/0.2,L20=1/1",
                                            "L20=-1/0",     "a,b"};
    for (size_t i = 0; i < ARRAY_LEN(bad_lists); i++) {
        assert_int_equal(config_set(&c, "prices.gpu_types", bad_lists[i], "t", &err), 0);
        if (meter_prices_from_config(&c, &p, &err) == 0)
            fail_msg("prices.gpu_types accepted \"%s\"", bad_lists[i]);
        assert_int_equal(err.status, 400);
        assert_non_null(strstr(err.msg, "prices.gpu_types"));
    }
    assert_int_equal(config_set(&c, "prices.gpu_types", "", "t", &err), 0);
    assert_int_equal(config_set(&c, "dedicated.types", "T4=14/1", "t", &err), 0);
    assert_int_equal(meter_prices_from_config(&c, &p, &err), -1);
    assert_non_null(strstr(err.msg, "dedicated.types"));
}

/* ---- the live meter through a real store ------------------------------------------------ */

struct fx {
    char dir[64], path[256];
    uv_loop_t loop;
    struct frost_config cfg;
};

static struct store *open_store(struct fx *x)
{
    struct store_opts so = {.path = x->path, .loop = &x->loop};
    struct store *s = NULL;
    struct frost_err err = {0};
    if (store_open(&so, &s, &err) < 0)
        fail_msg("store_open: %s", err.msg);
    return s;
}

static struct meter *open_meter(struct fx *x, struct store *s)
{
    struct meter_opts mo = {.loop = &x->loop, .cfg = &x->cfg, .store = s};
    struct meter *m = NULL;
    struct frost_err err = {0};
    if (meter_new(&mo, &m, &err) < 0)
        fail_msg("meter_new: %s", err.msg);
    return m;
}

static double active_seconds(struct meter *m, uint64_t since, uint64_t until)
{
    struct meter_query q = {.since_ms = (int64_t)since, .until_ms = (int64_t)until};
    json_t *b = NULL;
    struct frost_err err = {0};
    if (meter_bill_json(m, &q, &b, &err) < 0)
        fail_msg("bill: %s", err.msg);
    double v = f(json_object_get(b, "total"), "activeSeconds");
    json_decref(b);
    return v;
}

static void feed(struct meter *m, const char *id, enum rt_phase to, uint64_t at)
{
    struct rt_phase_event e = {.instance_id = id,
                               .function = "f",
                               .kind = "on-demand",
                               .from = to,
                               .to = to,
                               .at_ms = at,
                               .cpu = 1,
                               .memory_mb = 128};
    meter_on_phase(&e, m);
}

static void close_all(struct fx *x, struct meter *m, struct store *s)
{
    meter_close(m);
    store_close(s);
    uv_run(&x->loop, UV_RUN_DEFAULT);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return; /* no -wal file: nothing to copy */
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* What a kill -9 would leave: the files as they are once the last write is
 * durable (the loop has run it to completion). */
static void snapshot(struct fx *x, const char *dir)
{
    char to[256], from[256];
    assert_int_equal(mkdir(dir, 0700), 0);
    static const char *const sfx[] = {"", "-wal"};
    for (size_t i = 0; i < ARRAY_LEN(sfx); i++) {
        snprintf(from, sizeof(from), "%s%s", x->path, sfx[i]);
        snprintf(to, sizeof(to), "%s/frost.db%s", dir, sfx[i]);
        copy_file(from, to);
    }
}

static void test_meter_restart_through_the_store(void **state)
{
    (void)state;
    struct fx x;
    const char *tmp = getenv("TMPDIR");
    snprintf(x.dir, sizeof(x.dir), "%s/frost-meter-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(x.dir));
    snprintf(x.path, sizeof(x.path), "%s/frost.db", x.dir);
    assert_int_equal(uv_loop_init(&x.loop), 0);
    config_defaults(&x.cfg);
    uint64_t now = (uint64_t)clock_wall_ms();
    uint64_t t0 = now - now % H - 2 * H; /* two hours ago, in the past */
    char crash[128];
    snprintf(crash, sizeof(crash), "%s/crash", x.dir);

    /* Process 1: 10 s active, written by a flush (and then killed: the
     * snapshot), 5 s more, then a clean stop. */
    struct store *s = open_store(&x);
    struct meter *m = open_meter(&x, s);
    feed(m, "a", RT_PH_ACTIVE, t0);
    feed(m, "a", RT_PH_STOPPED, t0 + 10 * S);
    meter_flush(m);
    uv_run(&x.loop, UV_RUN_DEFAULT); /* until the write is durable */
    snapshot(&x, crash);
    feed(m, "b", RT_PH_ACTIVE, t0 + M);
    feed(m, "b", RT_PH_STOPPED, t0 + M + 5 * S);
    assert_near(active_seconds(m, t0, t0 + H), 15, 1e-9);
    /* An instance still running at shutdown: ended by meter_close. */
    feed(m, "d", RT_PH_ACTIVE, now - 3 * S);
    close_all(&x, m, s);

    s = open_store(&x);
    m = open_meter(&x, s);
    assert_near(active_seconds(m, t0, t0 + H), 15, 1e-9);
    double d = active_seconds(m, now - now % M - M, now + M);
    assert_true(d >= 3 && d < 60);
    close_all(&x, m, s);
    /* Restarting again changes nothing: records replace, never add. */
    s = open_store(&x);
    m = open_meter(&x, s);
    assert_near(active_seconds(m, t0, t0 + H), 15, 1e-9);
    assert_near(active_seconds(m, now - now % M - M, now + M), d, 1e-9);
    close_all(&x, m, s);

    /* After the crash: what the flush wrote (10 s), the rest of that process
     * is lost; new time lands in the same minute as the stored time. */
    snprintf(x.path, sizeof(x.path), "%s/frost.db", crash);
    s = open_store(&x);
    m = open_meter(&x, s);
    assert_near(active_seconds(m, t0, t0 + H), 10, 1e-9);
    feed(m, "c", RT_PH_ACTIVE, t0 + 20 * S);
    feed(m, "c", RT_PH_STOPPED, t0 + 30 * S);
    assert_near(active_seconds(m, t0, t0 + H), 20, 1e-9);
    close_all(&x, m, s);
    s = open_store(&x);
    m = open_meter(&x, s);
    assert_near(active_seconds(m, t0, t0 + H), 20, 1e-9);
    close_all(&x, m, s);
    assert_int_equal(uv_loop_close(&x.loop), 0);

    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", x.dir);
    assert_int_equal(system(cmd), 0);
}

struct keys {
    size_t minutes, hours;
};

static int count_key(void *ud, const char *key, const char *json)
{
    struct keys *k = ud;
    size_t n = strlen(key);
    if (n > 5 && strcmp(key + n - 5, "/3600") == 0)
        k->hours++;
    else
        k->minutes++;
    return 0;
}

/* Minutes older than a week are folded into hours in the store too: the
 * minutes' keys go, the hour's comes, in one write; totals do not change. */
static void test_meter_rollup_through_the_store(void **state)
{
    (void)state;
    struct fx x;
    const char *tmp = getenv("TMPDIR");
    snprintf(x.dir, sizeof(x.dir), "%s/frost-meter-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(x.dir));
    snprintf(x.path, sizeof(x.path), "%s/frost.db", x.dir);
    assert_int_equal(uv_loop_init(&x.loop), 0);
    config_defaults(&x.cfg);
    uint64_t now = (uint64_t)clock_wall_ms();
    uint64_t old = now - now % H - 8 * METER_DAY_MS; /* an hour start, 8 days ago */
    uint64_t recent = now - now % H - H;

    struct store *s = open_store(&x);
    struct meter *m = open_meter(&x, s);
    meter_flush(m); /* this hour's roll-up: nothing old yet */
    feed(m, "a", RT_PH_ACTIVE, old + 10 * M);
    feed(m, "a", RT_PH_STOPPED, old + 30 * M); /* 20 minutes, 8 days ago */
    feed(m, "b", RT_PH_ACTIVE, recent);
    feed(m, "b", RT_PH_STOPPED, recent + 2 * M);
    meter_flush(m);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    struct keys k = {0, 0};
    struct frost_err err = {0};
    assert_int_equal(store_load(s, METER_STORE_USAGE, count_key, &k, &err), 0);
    assert_int_equal(k.minutes, 22);
    assert_int_equal(k.hours, 0);
    close_all(&x, m, s);

    /* The next process folds the loaded minutes on its first flush. */
    s = open_store(&x);
    m = open_meter(&x, s);
    meter_flush(m);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    k = (struct keys){0, 0};
    assert_int_equal(store_load(s, METER_STORE_USAGE, count_key, &k, &err), 0);
    assert_int_equal(k.hours, 1);
    assert_int_equal(k.minutes, 2); /* the recent ones stay minutes */
    assert_near(active_seconds(m, old, old + H), 20 * 60, 1e-9);
    close_all(&x, m, s);

    s = open_store(&x);
    m = open_meter(&x, s);
    assert_near(active_seconds(m, old, old + H), 20 * 60, 1e-9);
    assert_near(active_seconds(m, recent, recent + H), 2 * 60, 1e-9);
    close_all(&x, m, s);
    assert_int_equal(uv_loop_close(&x.loop), 0);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", x.dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    log_threshold = LOG_OFF;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_and_classes),
        cmocka_unit_test(test_minute_split),
        cmocka_unit_test(test_overlaps_and_concurrency),
        cmocka_unit_test(test_freeze_in_the_middle_of_a_minute),
        cmocka_unit_test(test_clock_steps_back),
        cmocka_unit_test(test_open_intervals_and_shutdown),
        cmocka_unit_test(test_seed002_formula),
        cmocka_unit_test(test_seed001_examples),
        cmocka_unit_test(test_cost_all_resources),
        cmocka_unit_test(test_bill_periods_and_dedicated_peaks),
        cmocka_unit_test(test_bill_row_cap),
        cmocka_unit_test(test_restart_bills_nothing_twice),
        cmocka_unit_test(test_record_keys_and_errors),
        cmocka_unit_test(test_rollup_keeps_totals),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_price_config),
        cmocka_unit_test(test_meter_restart_through_the_store),
        cmocka_unit_test(test_meter_rollup_through_the_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
