/* Unit tests for src/scale: provision targets from defaultTarget, scheduled
 * actions (cron and at() in time zones, DST, start/end bounds, ties) and
 * target tracking (scripted metric series on an injected clock: scale-out at
 * once, scale-in after the stabilisation window, clamps, policy windows,
 * several policies), plus a property test of the cron search against a
 * brute-force second-by-second scan. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "scale/scale.h"

static int64_t ms(const char *iso)
{
    int64_t v;
    if (clock_parse_iso8601(iso, &v) != 0)
        fail_msg("bad test time %s", iso);
    return v;
}

static struct scale *mk_opts(const char *json, const struct scale_opts *o)
{
    json_error_t jerr;
    json_t *in = json_loads(json, 0, &jerr);
    if (!in)
        fail_msg("bad test JSON: %s: %s", jerr.text, json);
    /* Everything the tests feed must be a config the API would store. */
    json_t *cfg = NULL;
    struct frost_err err = {0};
    if (spec_provision_config(in, &cfg, &err) != 0)
        fail_msg("spec_provision_config: %s", err.msg);
    struct scale *s = NULL;
    if (scale_new(cfg, o, &s, &err) != 0)
        fail_msg("scale_new: %s", err.msg);
    json_decref(in);
    json_decref(cfg);
    return s;
}

static struct scale *mk(const char *json)
{
    return mk_opts(json, NULL);
}

static int decide(struct scale *s, int64_t now, struct scale_decision *d)
{
    struct scale_decision tmp;
    if (!d)
        d = &tmp;
    scale_decide(s, now, d);
    return d->target;
}

static void expect_decision(struct scale *s, int64_t now, int target, const char *source,
                            const char *reason_part)
{
    struct scale_decision d;
    scale_decide(s, now, &d);
    char when[32];
    clock_format_iso8601(now, when, sizeof(when));
    if (d.target != target || (source && strcmp(d.source, source) != 0) ||
        (reason_part && !strstr(d.reason, reason_part)))
        fail_msg("at %s: target %d source \"%s\" reason \"%s\"; want %d \"%s\" \"…%s…\"", when,
                 d.target, d.source, d.reason, target, source ? source : "*",
                 reason_part ? reason_part : "");
}

static void observe(struct scale *s, int64_t now, int current, double conc, double cpu, double gpu)
{
    struct scale_sample m = {.current = current, .concurrency = conc, .cpu = cpu, .gpu_mem = gpu};
    scale_observe(s, now, &m);
}

/* ---- base target ------------------------------------------------------------ */

static void test_default_only(void **state)
{
    (void)state;
    struct scale *s = mk("{\"defaultTarget\": 3}");
    expect_decision(s, ms("2024-07-01T00:00:00Z"), 3, "defaultTarget", "defaultTarget 3");
    assert_int_equal(scale_next_change_ms(s, 0), INT64_MAX);
    scale_free(s);
    s = mk("{\"target\": 4}"); /* the deprecated name */
    assert_int_equal(decide(s, 0, NULL), 4);
    scale_free(s);
    s = mk("{}");
    assert_int_equal(decide(s, 0, NULL), 0);
    scale_free(s);
    scale_free(NULL);
}

static void test_scheduled_shanghai(void **state)
{
    (void)state;
    const char *cfg = "{\"defaultTarget\": 1, \"scheduledActions\": ["
                      "{\"name\": \"day\", \"target\": 10, \"timeZone\": \"Asia/Shanghai\","
                      " \"scheduleExpression\": \"cron(0 0 8 * * *)\","
                      " \"startTime\": \"2024-07-01T00:00:00\"},"
                      "{\"name\": \"night\", \"target\": 2, \"timeZone\": \"Asia/Shanghai\","
                      " \"scheduleExpression\": \"cron(0 0 20 * * *)\","
                      " \"startTime\": \"2024-07-01T00:00:00\"}]}";
    struct scale *s = mk(cfg);
    /* startTime is local (no Z): 2024-06-30T16:00Z; nothing fired before. */
    expect_decision(s, ms("2024-06-30T23:59:59Z"), 1, "defaultTarget",
                    "no scheduled action has fired");
    expect_decision(s, ms("2024-07-01T00:00:00Z"), 10, "scheduledAction:day",
                    "cron(0 0 8 * * *) in Asia/Shanghai fired at 2024-07-01T00:00:00.000Z");
    expect_decision(s, ms("2024-07-01T11:59:59.999Z"), 10, "scheduledAction:day", NULL);
    expect_decision(s, ms("2024-07-01T12:00:00Z"), 2, "scheduledAction:night", NULL);
    expect_decision(s, ms("2024-07-02T00:00:00Z"), 10, "scheduledAction:day", NULL);
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-01T00:00:00Z")),
                     ms("2024-07-01T12:00:00Z"));
    assert_int_equal(scale_next_change_ms(s, ms("2024-06-01T00:00:00Z")),
                     ms("2024-07-01T00:00:00Z"));
    /* Restart-safe: a fresh object at any time agrees; so does going back. */
    struct scale *s2 = mk(cfg);
    for (int64_t t = ms("2024-07-03T00:00:00Z"); t < ms("2024-07-06T00:00:00Z");
         t += 3600 * 1000 + 17) {
        int a = decide(s, t, NULL), b = decide(s2, t, NULL);
        assert_int_equal(a, b);
        struct tm tm;
        time_t secs = (time_t)(t / 1000 + 8 * 3600);
        gmtime_r(&secs, &tm);
        assert_int_equal(a, tm.tm_hour >= 8 && tm.tm_hour < 20 ? 10 : 2);
    }
    assert_int_equal(decide(s, ms("2024-06-30T00:00:00Z"), NULL), 1);
    scale_free(s2);
    scale_free(s);
}

static void test_scheduled_new_york_dst(void **state)
{
    (void)state;
    struct scale *s = mk("{\"defaultTarget\": 0, \"scheduledActions\": ["
                         "{\"name\": \"night\", \"target\": 5, \"timeZone\": \"America/New_York\","
                         " \"scheduleExpression\": \"cron(0 30 2 * * *)\"},"
                         "{\"name\": \"noon\", \"target\": 1, \"timeZone\": \"America/New_York\","
                         " \"scheduleExpression\": \"cron(0 0 12 * * *)\"}]}");
    /* Normal winter day: 02:30 EST = 07:30Z. */
    expect_decision(s, ms("2024-03-09T07:29:59Z"), 1, "scheduledAction:noon", NULL);
    expect_decision(s, ms("2024-03-09T07:30:00Z"), 5, "scheduledAction:night", NULL);
    expect_decision(s, ms("2024-03-09T17:00:00Z"), 1, "scheduledAction:noon", NULL);
    /* 2024-03-10 has no 02:30: it fires at the jump, 03:00 EDT = 07:00Z. */
    assert_int_equal(scale_next_change_ms(s, ms("2024-03-10T00:00:00Z")),
                     ms("2024-03-10T07:00:00Z"));
    expect_decision(s, ms("2024-03-10T06:59:59Z"), 1, "scheduledAction:noon", NULL);
    expect_decision(s, ms("2024-03-10T07:00:00Z"), 5, "scheduledAction:night",
                    "fired at 2024-03-10T07:00:00.000Z");
    /* Noon is now EDT: 16:00Z. */
    expect_decision(s, ms("2024-03-10T15:59:59Z"), 5, NULL, NULL);
    expect_decision(s, ms("2024-03-10T16:00:00Z"), 1, NULL, NULL);
    expect_decision(s, ms("2024-03-11T06:30:00Z"), 5, NULL, NULL); /* 02:30 EDT */
    scale_free(s);

    /* 2024-11-03: 01:30 happens twice; the action fires once, at the first. */
    s = mk("{\"scheduledActions\": ["
           "{\"name\": \"a\", \"target\": 7, \"timeZone\": \"America/New_York\","
           " \"scheduleExpression\": \"cron(0 30 1 * * *)\"},"
           "{\"name\": \"b\", \"target\": 3, \"timeZone\": \"America/New_York\","
           " \"scheduleExpression\": \"cron(0 0 6 * * *)\"}]}");
    int64_t first = ms("2024-11-03T05:30:00Z");
    assert_int_equal(scale_next_change_ms(s, first - 1), first);
    assert_int_equal(scale_next_change_ms(s, first), ms("2024-11-03T11:00:00Z")); /* 06:00 EST */
    expect_decision(s, first, 7, "scheduledAction:a", NULL);
    expect_decision(s, ms("2024-11-03T06:45:00Z"), 7, "scheduledAction:a",
                    "fired at 2024-11-03T05:30:00.000Z");
    expect_decision(s, ms("2024-11-03T11:00:00Z"), 3, NULL, NULL);
    scale_free(s);
}

static void test_at(void **state)
{
    (void)state;
    struct scale *s = mk("{\"defaultTarget\": 1, \"scheduledActions\": ["
                         "{\"name\": \"local\", \"target\": 4, \"timeZone\": \"Asia/Shanghai\","
                         " \"scheduleExpression\": \"at(2024-07-01T08:00:00)\"},"
                         "{\"name\": \"plain\", \"target\": 6,"
                         " \"scheduleExpression\": \"at(2024-07-01T08:00:00)\"},"
                         "{\"name\": \"zulu\", \"target\": 9, \"timeZone\": \"Asia/Shanghai\","
                         " \"scheduleExpression\": \"at(2024-07-02T08:00:00Z)\"}]}");
    assert_int_equal(scale_next_change_ms(s, 0), ms("2024-07-01T00:00:00Z"));
    expect_decision(s, ms("2024-06-30T23:59:59Z"), 1, "defaultTarget", NULL);
    expect_decision(s, ms("2024-07-01T00:00:00Z"), 4, "scheduledAction:local", NULL);
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-01T00:00:00Z")),
                     ms("2024-07-01T08:00:00Z"));
    expect_decision(s, ms("2024-07-01T08:00:00Z"), 6, "scheduledAction:plain", NULL);
    expect_decision(s, ms("2024-07-02T07:59:59Z"), 6, "scheduledAction:plain", NULL);
    expect_decision(s, ms("2024-07-02T08:00:00Z"), 9, "scheduledAction:zulu", NULL);
    /* Once fired, an at() stays in force. */
    expect_decision(s, ms("2025-07-02T08:00:00Z"), 9, "scheduledAction:zulu", NULL);
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-02T08:00:00Z")), INT64_MAX);
    scale_free(s);
}

static void test_bounds_and_ties(void **state)
{
    (void)state;
    /* Every 10 minutes, but only fire times inside [start, end] count. */
    struct scale *s = mk("{\"defaultTarget\": 1, \"scheduledActions\": ["
                         "{\"name\": \"burst\", \"target\": 8,"
                         " \"scheduleExpression\": \"cron(0 */10 * * * *)\","
                         " \"startTime\": \"2024-07-01T10:05:00Z\","
                         " \"endTime\": \"2024-07-01T11:00:00Z\"},"
                         "{\"name\": \"reset\", \"target\": 2,"
                         " \"scheduleExpression\": \"at(2024-07-01T12:00:00Z)\"}]}");
    expect_decision(s, ms("2024-07-01T10:09:59Z"), 1, "defaultTarget", NULL);
    expect_decision(s, ms("2024-07-01T10:10:00Z"), 8, "scheduledAction:burst", NULL);
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-01T10:00:00Z")),
                     ms("2024-07-01T10:10:00Z"));
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-01T10:50:00Z")),
                     ms("2024-07-01T11:00:00Z")); /* endTime is inclusive */
    /* After endTime it stops firing; what it set stays until something else. */
    expect_decision(s, ms("2024-07-01T11:30:00Z"), 8, "scheduledAction:burst",
                    "fired at 2024-07-01T11:00:00.000Z");
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-01T11:00:00Z")),
                     ms("2024-07-01T12:00:00Z"));
    expect_decision(s, ms("2024-07-01T12:00:00Z"), 2, "scheduledAction:reset", NULL);
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-01T12:00:00Z")), INT64_MAX);
    scale_free(s);

    /* Same fire time: the later one in the array wins. */
    s = mk("{\"scheduledActions\": ["
           "{\"name\": \"a\", \"target\": 3, \"scheduleExpression\": \"cron(0 0 * * * *)\"},"
           "{\"name\": \"b\", \"target\": 4, \"scheduleExpression\": \"cron(0 0 */2 * * *)\"}]}");
    expect_decision(s, ms("2024-07-01T02:00:00Z"), 4, "scheduledAction:b", NULL);
    expect_decision(s, ms("2024-07-01T03:00:00Z"), 3, "scheduledAction:a", NULL);
    scale_free(s);

    /* An action that never fires (31 February) leaves the default. */
    s = mk("{\"defaultTarget\": 2, \"scheduledActions\": ["
           "{\"name\": \"never\", \"target\": 3,"
           " \"scheduleExpression\": \"cron(0 0 0 31 2 ?)\"}]}");
    expect_decision(s, ms("2024-07-01T02:00:00Z"), 2, "defaultTarget", NULL);
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-01T02:00:00Z")), INT64_MAX);
    scale_free(s);
}

/* ---- target tracking ------------------------------------------------------- */

#define T0  1719849600000LL /* 2024-07-01T16:00:00Z */
#define SEC 1000LL

static const char *policy_cfg(char *buf, size_t n, int def, const char *metric, double target,
                              int minc, int maxc, const char *extra)
{
    snprintf(buf, n,
             "{\"defaultTarget\": %d, \"targetTrackingPolicies\": [{\"name\": \"p\","
             " \"metricType\": \"%s\", \"metricTarget\": %g, \"minCapacity\": %d,"
             " \"maxCapacity\": %d%s}]}",
             def, metric, target, minc, maxc, extra ? extra : "");
    return buf;
}

/* Seed 002: `s provision put --target 1` with a policy of minCapacity 2. */
static void test_seed_002(void **state)
{
    (void)state;
    struct scale *s = mk("{\"target\": 1, \"targetTrackingPolicies\": [{"
                         "\"name\": \"scaling-policy-demo\","
                         "\"startTime\": \"2024-07-01T16:00:00.000Z\","
                         "\"endTime\": \"2024-07-30T16:00:00.000Z\","
                         "\"metricType\": \"ProvisionedConcurrencyUtilization\","
                         "\"metricTarget\": 0.3, \"minCapacity\": 2, \"maxCapacity\": 30}]}");
    expect_decision(s, ms("2024-07-01T15:59:59Z"), 1, "defaultTarget",
                    "no target-tracking policy is active");
    expect_decision(s, ms("2024-07-01T16:00:00Z"), 2, "targetTrackingPolicy:scaling-policy-demo",
                    "no ProvisionedConcurrencyUtilization samples in the last 60 s: holding 2");
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-01T00:00:00Z")),
                     ms("2024-07-01T16:00:00Z"));
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-01T16:00:00Z")),
                     ms("2024-07-30T16:00:00Z"));
    /* Load: 2 instances at 0.9 → ceil(2 × 0.9 / 0.3) = 6, at once. */
    int64_t t = ms("2024-07-02T00:00:00Z");
    observe(s, t, 2, 0.9, 0, -1);
    expect_decision(s, t, 6, NULL,
                    "ProvisionedConcurrencyUtilization 0.90 over 60 s > 0.30: 2 -> 6");
    /* The window closes: back to the default at once. */
    expect_decision(s, ms("2024-07-30T16:00:00Z"), 1, "defaultTarget", NULL);
    assert_int_equal(scale_next_change_ms(s, ms("2024-07-30T16:00:00Z")), INT64_MAX);
    scale_free(s);
}

/* Window 1 s so each decision sees exactly the latest sample; the
 * stabilisation window is the default 300 s. */
static void test_scale_out_then_in(void **state)
{
    (void)state;
    char buf[512];
    struct scale_opts o = {.window_ms = 1000};
    struct scale *s = mk_opts(
        policy_cfg(buf, sizeof(buf), 1, "ProvisionedConcurrencyUtilization", 0.5, 1, 20, NULL), &o);
    int64_t t = T0;
    /* Steady 2 instances at 0.5: stays 2. */
    for (int i = 0; i < 10; i++, t += SEC) {
        observe(s, t, 2, 0.5, 0, -1);
        assert_int_equal(decide(s, t, NULL), 2);
    }
    /* Burst: 2 at 2.0 (queueing) → 8 at once. */
    observe(s, t, 2, 2.0, 0, -1);
    expect_decision(s, t, 8, NULL,
                    "ProvisionedConcurrencyUtilization 2.00 over 1 s > 0.50: 2 -> 8");
    t += SEC;
    /* The new instances absorb it: 8 at 0.5 wants 8. */
    int64_t last_high = 0;
    for (int i = 0; i < 50; i++, t += SEC) {
        observe(s, t, 8, 0.5, 0, -1);
        assert_int_equal(decide(s, t, NULL), 8);
        last_high = t;
    }
    /* A 60 s dip to nothing: held at 8 (a brief dip releases nothing). */
    for (int i = 0; i < 60; i++, t += SEC) {
        observe(s, t, 8, 0.0, 0, -1);
        assert_int_equal(decide(s, t, NULL), 8);
    }
    struct scale_decision d;
    observe(s, t, 8, 0.0, 0, -1);
    scale_decide(s, t, &d);
    assert_int_equal(d.target, 8);
    assert_non_null(strstr(d.reason, "(wants 0, minCapacity 1)"));
    assert_non_null(strstr(d.reason, "scale-in waits: 8 is the highest wanted in the last 300 s"));
    t += SEC;
    /* Back to load, then a lasting drop to 8 × 0.125 = 1 busy → wants 2. */
    for (int i = 0; i < 5; i++, t += SEC) {
        observe(s, t, 8, 0.5, 0, -1);
        assert_int_equal(decide(s, t, NULL), 8);
        last_high = t;
    }
    for (; t < last_high + 300 * SEC; t += SEC) {
        observe(s, t, 8, 0.125, 0, -1);
        assert_int_equal(decide(s, t, NULL), 8);
    }
    /* Exactly 300 s after the last time 8 was wanted: down to 2. */
    observe(s, t, 8, 0.125, 0, -1);
    expect_decision(s, t, 2, "targetTrackingPolicy:p", ": 8 -> 2");
    t += SEC;
    /* Going back out is immediate again. */
    observe(s, t, 2, 1.5, 0, -1);
    assert_int_equal(decide(s, t, NULL), 6);
    scale_free(s);
}

/* The default 60 s window: a spike moves the mean as it enters and leaves. */
static void test_sliding_window_mean(void **state)
{
    (void)state;
    char buf[512];
    struct scale_opts o = {.scale_in_stabilization_ms = SCALE_STABILIZATION_NONE};
    struct scale *s =
        mk_opts(policy_cfg(buf, sizeof(buf), 0, "CPUUtilization", 0.5, 0, 100, NULL), &o);
    int64_t t = T0;
    /* 60 samples at 0.25 on 4 instances: load 1 → wants 2. */
    for (int i = 0; i < 60; i++, t += SEC)
        observe(s, t, 4, 0, 0.25, -1);
    assert_int_equal(decide(s, t - SEC, NULL), 2);
    /* 30 samples at 1.0: mean load (30 × 1 + 30 × 4) / 60 = 2.5 → 5. */
    for (int i = 0; i < 30; i++, t += SEC)
        observe(s, t, 4, 0, 1.0, -1);
    expect_decision(s, t - SEC, 5, NULL, "CPUUtilization 0.62 over 60 s > 0.50: 4 -> 5");
    /* Once the spike has left the window, 2 again (no stabilisation). */
    for (int i = 0; i < 60; i++, t += SEC)
        observe(s, t, 4, 0, 0.25, -1);
    assert_int_equal(decide(s, t - SEC, NULL), 2);
    /* Load is counted per sample, so instances added during the window do
     * not inflate it: 2 at 1.0 then 4 at 0.5 is 2 busy all along → 4. */
    for (int i = 0; i < 30; i++, t += SEC)
        observe(s, t, 2, 0, 1.0, -1);
    for (int i = 0; i < 30; i++, t += SEC)
        observe(s, t, 4, 0, 0.5, -1);
    assert_int_equal(decide(s, t - SEC, NULL), 4);
    /* Samples older than the window are not used: hold. */
    expect_decision(s, t + 120 * SEC, 4, NULL, "no CPUUtilization samples in the last 60 s");
    scale_free(s);
}

static void test_clamps_and_zero(void **state)
{
    (void)state;
    char buf[512];
    struct scale_opts o = {.window_ms = 1000,
                           .scale_in_stabilization_ms = SCALE_STABILIZATION_NONE};
    struct scale *s = mk_opts(
        policy_cfg(buf, sizeof(buf), 0, "ProvisionedConcurrencyUtilization", 0.3, 2, 30, NULL), &o);
    int64_t t = T0;
    observe(s, t, 10, 5.0, 0, -1); /* wants 167 */
    expect_decision(s, t, 30, NULL, "(wants 167, maxCapacity 30)");
    t += SEC;
    observe(s, t, 10, 0.0, 0, -1);
    expect_decision(s, t, 2, NULL, "(wants 0, minCapacity 2)");
    t += SEC;
    /* Exactly on target does not round up: 3 × 0.3 / 0.3 = 3. */
    observe(s, t, 3, 0.3, 0, -1);
    expect_decision(s, t, 3, NULL, "0.30 over 1 s = 0.30: 3 -> 3");
    t += SEC;
    observe(s, t, 3, 1e300, 0, -1);
    assert_int_equal(decide(s, t, NULL), 30);
    scale_free(s);

    /* current == 0: any load asks for one instance (or minCapacity). */
    s = mk_opts(
        policy_cfg(buf, sizeof(buf), 0, "ProvisionedConcurrencyUtilization", 0.3, 0, 5, NULL), &o);
    t = T0;
    observe(s, t, 0, 0.0, 0, -1);
    assert_int_equal(decide(s, t, NULL), 0);
    t += SEC;
    observe(s, t, 0, 0.7, 0, -1);
    assert_int_equal(decide(s, t, NULL), 1);
    scale_free(s);
    s = mk_opts(
        policy_cfg(buf, sizeof(buf), 0, "ProvisionedConcurrencyUtilization", 0.3, 3, 5, NULL), &o);
    observe(s, T0, 0, 0.7, 0, -1);
    assert_int_equal(decide(s, T0, NULL), 3);
    scale_free(s);
    s = mk_opts(
        policy_cfg(buf, sizeof(buf), 0, "ProvisionedConcurrencyUtilization", 0.3, 0, 0, NULL), &o);
    observe(s, T0, 0, 0.7, 0, -1);
    assert_int_equal(decide(s, T0, NULL), 0);
    scale_free(s);
}

static void test_policy_window_and_hold(void **state)
{
    (void)state;
    char buf[512];
    struct scale_opts o = {.window_ms = 1000};
    const char *win = ", \"startTime\": \"2024-07-01T16:00:10Z\", \"endTime\": "
                      "\"2024-07-01T16:01:00Z\"";
    struct scale *s =
        mk_opts(policy_cfg(buf, sizeof(buf), 3, "CPUUtilization", 0.5, 1, 10, win), &o);
    int64_t t = T0;
    for (; t < T0 + 10 * SEC; t += SEC) {
        observe(s, t, 3, 0, 0.9, -1);
        expect_decision(s, t, 3, "defaultTarget", NULL);
    }
    assert_int_equal(scale_next_change_ms(s, T0), T0 + 10 * SEC);
    /* Opens: 3 × 0.9 / 0.5 → 6. */
    observe(s, t, 3, 0, 0.9, -1);
    expect_decision(s, t, 6, "targetTrackingPolicy:p", NULL);
    t += SEC;
    /* No samples for a while: holds the target in force. */
    expect_decision(s, t + 5 * SEC, 6, "targetTrackingPolicy:p", "holding 6");
    assert_int_equal(scale_next_change_ms(s, t), T0 + 60 * SEC);
    /* Closes at endTime (exclusive): the base again, at once. */
    observe(s, T0 + 59 * SEC, 6, 0, 0.9, -1);
    assert_int_equal(decide(s, T0 + 59 * SEC, NULL), 10); /* wants 11, maxCapacity 10 */
    expect_decision(s, T0 + 60 * SEC, 3, "defaultTarget", NULL);
    assert_int_equal(scale_next_change_ms(s, T0 + 60 * SEC), INT64_MAX);
    scale_free(s);

    /* Tracking outranks scheduled actions while active. */
    s = mk_opts(
        "{\"defaultTarget\": 1, \"scheduledActions\": [{\"name\": \"big\", \"target\": 9,"
        " \"scheduleExpression\": \"at(2024-07-01T00:00:00Z)\"}],"
        " \"targetTrackingPolicies\": [{\"name\": \"p\", \"metricType\": \"CPUUtilization\","
        " \"metricTarget\": 0.5, \"minCapacity\": 1, \"maxCapacity\": 4,"
        " \"startTime\": \"2024-07-01T16:00:00Z\"}]}",
        &o);
    expect_decision(s, T0 - SEC, 9, "scheduledAction:big", NULL);
    expect_decision(s, T0, 4, "targetTrackingPolicy:p", "holding 4"); /* 9 clamped */
    scale_free(s);
}

static void test_two_policies(void **state)
{
    (void)state;
    struct scale_opts o = {.window_ms = 1000,
                           .scale_in_stabilization_ms = SCALE_STABILIZATION_NONE};
    struct scale *s =
        mk_opts("{\"targetTrackingPolicies\": ["
                "{\"name\": \"conc\", \"metricType\": \"ProvisionedConcurrencyUtilization\","
                " \"metricTarget\": 0.5, \"minCapacity\": 1, \"maxCapacity\": 50},"
                "{\"name\": \"gpu\", \"metricType\": \"GPUMemUtilization\","
                " \"metricTarget\": 0.8, \"minCapacity\": 2, \"maxCapacity\": 50}]}",
                &o);
    int64_t t = T0;
    observe(s, t, 4, 1.0, 0.1, 0.2); /* conc wants 8, gpu wants max(1, 2) = 2 */
    expect_decision(s, t, 8, "targetTrackingPolicy:conc", NULL);
    t += SEC;
    observe(s, t, 4, 0.1, 0.1, 1.0); /* conc 1, gpu 5 */
    expect_decision(s, t, 5, "targetTrackingPolicy:gpu", "GPUMemUtilization 1.00");
    t += SEC;
    /* GPU memory unknown: the gpu policy holds (5 in force), conc wants 1. */
    observe(s, t, 4, 0.1, 0.1, -1);
    expect_decision(s, t, 5, "targetTrackingPolicy:gpu", "no GPUMemUtilization samples");
    t += SEC;
    /* Ties go to the first policy. */
    observe(s, t, 4, 0.5, 0.1, 0.8);
    expect_decision(s, t, 4, "targetTrackingPolicy:conc", NULL);
    scale_free(s);

    /* Unknown and non-finite samples in a longer window are skipped. */
    o.window_ms = 10000;
    s = mk_opts("{\"targetTrackingPolicies\": [{\"name\": \"gpu\", \"metricType\": "
                "\"GPUMemUtilization\", \"metricTarget\": 0.5, \"minCapacity\": 0,"
                " \"maxCapacity\": 50}]}",
                &o);
    t = T0;
    observe(s, t, 2, 0, 0, 1.0);
    observe(s, t + 1 * SEC, 2, 0, 0, -1);
    observe(s, t + 2 * SEC, 2, 0, 0, 0.5);
    observe(s, t + 3 * SEC, 2, 0, 0, NAN);
    /* mean 0.75, load 1.5 → 3 */
    expect_decision(s, t + 3 * SEC, 3, NULL, "GPUMemUtilization 0.75 over 10 s");
    scale_free(s);
}

static void test_clock_backwards(void **state)
{
    (void)state;
    char buf[512];
    struct scale_opts o = {.window_ms = 10000};
    struct scale *s = mk_opts(
        policy_cfg(buf, sizeof(buf), 1, "ProvisionedConcurrencyUtilization", 0.5, 1, 10, NULL), &o);
    observe(s, T0, 2, 2.0, 0, -1);
    assert_int_equal(decide(s, T0, NULL), 8);
    /* The wall clock steps back an hour: old samples and history go. */
    observe(s, T0 - 3600 * SEC, 2, 0.5, 0, -1);
    assert_int_equal(decide(s, T0 - 3600 * SEC, NULL), 2);
    scale_free(s);
}

/* Many samples per window: the buffer is capped, nothing breaks. */
static void test_sample_cap(void **state)
{
    (void)state;
    char buf[512];
    struct scale_opts o = {.window_ms = 3600 * 1000};
    struct scale *s = mk_opts(
        policy_cfg(buf, sizeof(buf), 1, "ProvisionedConcurrencyUtilization", 0.5, 1, 100, NULL),
        &o);
    int64_t t = T0;
    for (int i = 0; i < 3 * SCALE_SAMPLES_MAX; i++, t += 10)
        observe(s, t, 4, i < SCALE_SAMPLES_MAX ? 5.0 : 0.5, 0, -1);
    struct scale_decision d;
    scale_decide(s, t, &d);
    /* Only the newest SCALE_SAMPLES_MAX (all at 0.5 on 4 → 4) remain, but the
     * highest desired is held by stabilisation (4 here: first decision). */
    assert_int_equal(d.target, 4);
    for (int i = 0; i < 3 * SCALE_HISTORY_MAX; i++, t += 1)
        scale_decide(s, t, &d);
    scale_free(s);
}

/* ---- config errors ----------------------------------------------------------- */

static void expect_new_error(const char *json, const char *needle)
{
    json_error_t jerr;
    json_t *cfg = json_loads(json, 0, &jerr);
    if (!cfg)
        fail_msg("bad test JSON: %s", jerr.text);
    struct scale *s = NULL;
    struct frost_err err = {0};
    assert_int_equal(scale_new(cfg, NULL, &s, &err), -1);
    assert_null(s);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "InvalidArgument");
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
    json_decref(cfg);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_new_error(
        "{\"scheduledActions\": [{\"name\": \"a\", \"target\": 1,"
        " \"timeZone\": \"Mars/Base\", \"scheduleExpression\": \"cron(0 0 * * * *)\"}]}",
        "scheduledActions[0].timeZone: unknown time zone \"Mars/Base\"");
    expect_new_error("{\"targetTrackingPolicies\": [{\"name\": \"a\", \"metricType\": "
                     "\"CPUUtilization\", \"metricTarget\": 0.5, \"minCapacity\": 0, "
                     "\"maxCapacity\": 1}, {\"name\": \"b\", \"timeZone\": \"Nowhere\", "
                     "\"metricType\": \"CPUUtilization\", \"metricTarget\": 0.5, "
                     "\"minCapacity\": 0, \"maxCapacity\": 1}]}",
                     "targetTrackingPolicies[1].timeZone: unknown time zone \"Nowhere\"");
    expect_new_error("{\"scheduledActions\": [{\"name\": \"a\", \"target\": 1,"
                     " \"scheduleExpression\": \"every day\"}]}",
                     "scheduledActions[0].scheduleExpression");
    expect_new_error("{\"scheduledActions\": [{\"name\": \"a\", \"target\": 1,"
                     " \"scheduleExpression\": \"cron(0 0 * * * *)\", \"startTime\": \"soon\"}]}",
                     "scheduledActions[0].startTime");
    expect_new_error("{\"scheduledActions\": [{\"name\": \"a\","
                     " \"scheduleExpression\": \"cron(0 0 * * * *)\"}]}",
                     "scheduledActions[0].target: is required");
    expect_new_error("{\"targetTrackingPolicies\": [{\"name\": \"a\", \"metricType\": \"RPS\","
                     " \"metricTarget\": 0.5, \"minCapacity\": 0, \"maxCapacity\": 1}]}",
                     "targetTrackingPolicies[0].metricType");
    expect_new_error("{\"targetTrackingPolicies\": [{\"name\": \"a\", \"metricType\": "
                     "\"CPUUtilization\", \"metricTarget\": 0, \"minCapacity\": 0, "
                     "\"maxCapacity\": 1}]}",
                     "targetTrackingPolicies[0].metricTarget");
    expect_new_error("{\"targetTrackingPolicies\": [{\"name\": \"a\", \"metricType\": "
                     "\"CPUUtilization\", \"metricTarget\": 0.5, \"minCapacity\": 3, "
                     "\"maxCapacity\": 1}]}",
                     "targetTrackingPolicies[0].minCapacity");
    expect_new_error("{\"scheduledActions\": {}}", "scheduledActions: must be an array");
    expect_new_error("{\"scheduledActions\": [3]}", "scheduledActions[0]: must be an object");
    expect_new_error("{\"defaultTarget\": -1}", "defaultTarget");
    expect_new_error("[]", "must be an object");
}

/* ---- cron search vs brute force ------------------------------------------ */

/* Matching written independently of src/scale: the C library's calendar. */
static bool brute_matches(const struct spec_cron *c, int64_t local_s)
{
    time_t t = (time_t)local_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (!(c->sec >> tm.tm_sec & 1) || !(c->min >> tm.tm_min & 1) || !(c->hour >> tm.tm_hour & 1) ||
        !(c->mon >> (tm.tm_mon + 1) & 1))
        return false;
    bool dom = c->dom >> tm.tm_mday & 1, dow = c->dow >> tm.tm_wday & 1;
    return (c->dom_restricted && c->dow_restricted) ? (dom || dow) : (dom && dow);
}

/* Is UTC second u a fire time? Its local reading matches and this is the
 * reading's first occurrence, or u is a forward jump and some skipped local
 * second matches. */
static bool brute_fires(const struct spec_cron *c, const struct scale_tz *tz, int64_t u)
{
    int32_t off = scale_tz_offset(tz, u), before = scale_tz_offset(tz, u - 1);
    int64_t L = u + off;
    if (brute_matches(c, L)) {
        /* first occurrence: no earlier instant within a day had this reading */
        bool earlier = false;
        for (int64_t v = u - 1; v > u - 2 * 3600 && !earlier; v--)
            earlier = v + scale_tz_offset(tz, v) == L;
        if (!earlier)
            return true;
    }
    if (off > before)
        for (int64_t g = u + before; g < u + off; g++)
            if (brute_matches(c, g))
                return true;
    return false;
}

static void random_field(char *out, size_t n, int lo, int hi, bool allow_q, int density)
{
    int r = rand() % 10;
    int a = lo + rand() % (hi - lo + 1), b = lo + rand() % (hi - lo + 1);
    if (a > b) {
        int x = a;
        a = b;
        b = x;
    }
    if (r < density)
        snprintf(out, n, "%s", allow_q && rand() % 2 ? "?" : "*");
    else if (r < density + 2)
        snprintf(out, n, "*/%d", 1 + rand() % (hi < 10 ? hi : 10));
    else if (r < density + 3)
        snprintf(out, n, "%d-%d", a, b);
    else if (r < density + 4)
        snprintf(out, n, "%d,%d", a, b);
    else if (r < density + 5)
        snprintf(out, n, "%d-%d/%d", a, b, 1 + rand() % 3);
    else
        snprintf(out, n, "%d", a);
}

static void test_cron_property(void **state)
{
    (void)state;
    struct frost_err err = {0};
    struct scale_tz *zones[3] = {NULL};
    assert_int_equal(scale_tz_load(NULL, "Asia/Shanghai", &zones[1], &err), 0);
    assert_int_equal(scale_tz_load(NULL, "America/New_York", &zones[2], &err), 0);
    /* Start times: ordinary, and around New York's 2024 DST switches. */
    const int64_t anchors[] = {1719849600, 1710050400, 1730613600, 1704067200};
    const int64_t span = 2 * 86400; /* brute force looks back / ahead this far */
    srand(4242);
    int checked = 0, found = 0;
    /* The last 120 rounds aim at New York's skipped and repeated hours:
     * 01:xx / 02:xx local, shortly before and after the switches. */
    const char *dst_hours[] = {"1", "2", "1-2", "2-3", "0-2", "*/2"};
    for (int i = 0; i < 360; i++) {
        bool dst_round = i >= 240;
        char f[6][32], expr[256];
        random_field(f[0], sizeof(f[0]), 0, 59, false, dst_round ? 3 : 6);
        random_field(f[1], sizeof(f[1]), 0, 59, false, dst_round ? 3 : 5);
        random_field(f[2], sizeof(f[2]), 0, 23, false, 5);
        random_field(f[3], sizeof(f[3]), 1, 31, true, 7);
        random_field(f[4], sizeof(f[4]), 1, 12, false, 8);
        random_field(f[5], sizeof(f[5]), 0, 6, true, 7);
        if (dst_round) {
            snprintf(f[2], sizeof(f[2]), "%s", dst_hours[rand() % ARRAY_LEN(dst_hours)]);
            snprintf(f[3], sizeof(f[3]), "*");
            snprintf(f[4], sizeof(f[4]), "*");
            snprintf(f[5], sizeof(f[5]), "*");
        }
        snprintf(expr, sizeof(expr), "cron(%s %s %s %s %s %s)", f[0], f[1], f[2], f[3], f[4], f[5]);
        struct spec_schedule sch;
        if (spec_schedule_parse(expr, "e", &sch, &err) != 0)
            fail_msg("%s: %s", expr, err.msg);
        const struct scale_tz *tz = dst_round ? zones[2] : zones[i % 3];
        int64_t t = dst_round ? anchors[1 + rand() % 2] + rand() % (4 * 3600) - 3600
                              : anchors[rand() % 4] + rand() % (3 * 3600) - 3600;

        int64_t want = INT64_MIN;
        for (int64_t u = t; u > t - span; u--)
            if (brute_fires(&sch.cron, tz, u)) {
                want = u;
                break;
            }
        int64_t got = scale_cron_prev(&sch.cron, tz, t);
        if (want != INT64_MIN ? got != want : got > t - span)
            fail_msg("prev %s in %s at %lld: got %lld want %lld", expr, scale_tz_name(tz),
                     (long long)t, (long long)got, (long long)want);

        want = INT64_MAX;
        for (int64_t u = t + 1; u <= t + span; u++)
            if (brute_fires(&sch.cron, tz, u)) {
                want = u;
                break;
            }
        got = scale_cron_next(&sch.cron, tz, t);
        if (want != INT64_MAX ? got != want : got <= t + span)
            fail_msg("next %s in %s at %lld: got %lld want %lld", expr, scale_tz_name(tz),
                     (long long)t, (long long)got, (long long)want);
        if (got != INT64_MAX)
            assert_true(scale_cron_matches(&sch.cron, got + scale_tz_offset(tz, got)) ||
                        scale_tz_offset(tz, got - 1) < scale_tz_offset(tz, got));
        checked++;
        found += want != INT64_MAX;
    }
    assert_int_equal(checked, 360);
    assert_true(found > 150); /* the generator is dense enough to be a real test */
    scale_tz_free(zones[1]);
    scale_tz_free(zones[2]);
}

/* Known answers far apart: the search is bounded but skips months whole. */
static void test_cron_far(void **state)
{
    (void)state;
    struct frost_err err = {0};
    struct spec_schedule sch;
    assert_int_equal(spec_schedule_parse("cron(0 0 0 29 2 ?)", "e", &sch, &err), 0);
    assert_int_equal(scale_cron_prev(&sch.cron, NULL, ms("2024-12-31T00:00:00Z") / 1000),
                     ms("2024-02-29T00:00:00Z") / 1000);
    assert_int_equal(scale_cron_next(&sch.cron, NULL, ms("2023-03-01T00:00:00Z") / 1000),
                     ms("2024-02-29T00:00:00Z") / 1000);
    /* More than SCALE_CRON_SEARCH_DAYS away: not seen. */
    assert_int_equal(scale_cron_prev(&sch.cron, NULL, ms("2026-01-01T00:00:00Z") / 1000),
                     INT64_MIN);
    assert_int_equal(scale_cron_next(&sch.cron, NULL, ms("2025-01-01T00:00:00Z") / 1000),
                     INT64_MAX);
    /* Day-of-month OR day-of-week when both are restricted. */
    assert_int_equal(spec_schedule_parse("cron(0 0 12 13 * FRI)", "e", &sch, &err), 0);
    assert_int_equal(scale_cron_next(&sch.cron, NULL, ms("2024-09-01T00:00:00Z") / 1000),
                     ms("2024-09-06T12:00:00Z") / 1000); /* a Friday before the 13th */
    assert_int_equal(scale_cron_prev(&sch.cron, NULL, ms("2024-09-13T11:59:59Z") / 1000),
                     ms("2024-09-06T12:00:00Z") / 1000);
    assert_int_equal(scale_cron_next(&sch.cron, NULL, ms("2024-09-12T00:00:00Z") / 1000),
                     ms("2024-09-13T12:00:00Z") / 1000);
    /* Last second of the year, both ways. */
    assert_int_equal(spec_schedule_parse("cron(59 59 23 31 12 *)", "e", &sch, &err), 0);
    assert_int_equal(scale_cron_next(&sch.cron, NULL, ms("2024-01-01T00:00:00Z") / 1000),
                     ms("2024-12-31T23:59:59Z") / 1000);
    assert_int_equal(scale_cron_prev(&sch.cron, NULL, ms("2024-12-31T23:59:58Z") / 1000),
                     ms("2023-12-31T23:59:59Z") / 1000);
    assert_true(scale_cron_matches(&sch.cron, ms("2024-12-31T23:59:59Z") / 1000));
    assert_false(scale_cron_matches(&sch.cron, ms("2024-12-31T23:59:58Z") / 1000));
    /* Extreme inputs do not overflow. */
    (void)scale_cron_prev(&sch.cron, NULL, INT64_MIN);
    (void)scale_cron_next(&sch.cron, NULL, INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_only),
        cmocka_unit_test(test_scheduled_shanghai),
        cmocka_unit_test(test_scheduled_new_york_dst),
        cmocka_unit_test(test_at),
        cmocka_unit_test(test_bounds_and_ties),
        cmocka_unit_test(test_seed_002),
        cmocka_unit_test(test_scale_out_then_in),
        cmocka_unit_test(test_sliding_window_mean),
        cmocka_unit_test(test_clamps_and_zero),
        cmocka_unit_test(test_policy_window_and_hold),
        cmocka_unit_test(test_two_policies),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_sample_cap),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_cron_property),
        cmocka_unit_test(test_cron_far),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
