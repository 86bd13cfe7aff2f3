/* Provision targets: scheduled actions (base target) and target tracking with
 * scale-in stabilisation. The rules are in scale.h. */
#include "scale/scale.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"

#define NAME_MAX_LEN  128
#define EXPR_MAX      256
#define LIST_MAX      1000 /* spec allows 100; anything far beyond is not a config */
#define TARGET_MAX    10000
#define EPS           1e-9
#define CACHE_SPAN_MS (398LL * 86400 * 1000) /* < SCALE_CRON_SEARCH_DAYS */
#define NO_FIRE       INT64_MIN
#define OPT_MS_MAX    (366LL * 86400 * 1000) /* longer windows are cut to this */

enum metric { METRIC_CONCURRENCY, METRIC_CPU, METRIC_GPU_MEM, METRIC_COUNT };

static const char *const metric_names[METRIC_COUNT] = {
    "ProvisionedConcurrencyUtilization",
    "CPUUtilization",
    "GPUMemUtilization",
};

/* A growable circular buffer with a hard cap: push at the back, pop at
 * either end; when full at the cap, a push overwrites the oldest element. */
struct ring {
    void *a;
    size_t esz, cap, start, n, max;
};

struct action {
    char name[NAME_MAX_LEN + 1];
    char expr[EXPR_MAX + 1];
    int target;
    struct spec_schedule sch;
    const struct scale_tz *tz; /* NULL = UTC */
    int64_t at_ms;             /* kind AT: the UTC instant */
    int64_t start_ms, end_ms;  /* INT64_MIN / INT64_MAX when absent */
    /* prev_fire(t) == cache_prev for t in [cache_from, cache_until) */
    bool cached;
    int64_t cache_from, cache_until, cache_prev;
};

struct hist {
    int64_t t;
    int v;
};

struct policy {
    char name[NAME_MAX_LEN + 1];
    enum metric metric;
    double target;
    int minc, maxc;
    int64_t start_ms, end_ms;
    /* Desired values of the stabilisation window, a monotonic deque: values
     * strictly decrease from front to back, so the front is the maximum. */
    struct ring hist;
};

struct sample {
    int64_t t;
    int current;
    double v[METRIC_COUNT];
};

struct scale {
    uint64_t window_ms, stab_ms;
    int default_target;
    int last_target; /* -1 before the first decision */
    struct action *actions;
    size_t nactions;
    struct policy *policies;
    size_t npolicies;
    struct scale_tz **zones;
    size_t nzones;
    struct ring samples;
};

/* ---- ring -------------------------------------------------------------- */

static void *ring_at(const struct ring *r, size_t i)
{
    return (char *)r->a + ((r->start + i) % r->cap) * r->esz;
}

static void ring_clear(struct ring *r)
{
    r->start = r->n = 0;
}

static void ring_pop_front(struct ring *r)
{
    if (!r->n)
        return;
    r->start = (r->start + 1) % r->cap;
    r->n--;
}

static void ring_pop_back(struct ring *r)
{
    if (r->n)
        r->n--;
}

/* Appends e. Out of memory drops e (one sample or desired value less, never
 * an error on the hot path). */
static void ring_push(struct ring *r, const void *e)
{
    if (r->n == r->cap && r->cap < r->max) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        if (ncap > r->max)
            ncap = r->max;
        char *na = realloc(r->a, ncap * r->esz);
        if (!na)
            return;
        /* Unwrap: the part that wrapped to the front moves past the old end
         * (ncap >= 2 × cap or the cap, so it fits). */
        size_t wrapped = r->start + r->n > r->cap ? r->start + r->n - r->cap : 0;
        size_t room = ncap - r->cap;
        if (wrapped <= room) {
            memcpy(na + r->cap * r->esz, na, wrapped * r->esz);
        } else {
            /* Only when the cap is reached: rotate to start at 0. */
            char *tmp = malloc(r->n * r->esz);
            if (!tmp) {
                r->a = na;
                return;
            }
            for (size_t i = 0; i < r->n; i++)
                memcpy(tmp + i * r->esz, na + ((r->start + i) % r->cap) * r->esz, r->esz);
            memcpy(na, tmp, r->n * r->esz);
            free(tmp);
            r->start = 0;
        }
        r->a = na;
        r->cap = ncap;
    }
    if (r->cap == 0)
        return;
    if (r->n == r->cap)
        ring_pop_front(r); /* at the cap: the oldest goes */
    memcpy(ring_at(r, r->n), e, r->esz);
    r->n++;
}

/* ---- config ------------------------------------------------------------- */

static const json_t *member(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

static int bad(struct frost_err *err, const char *path, const char *key, const char *what)
{
    return frost_err_set(err, 400, "InvalidArgument", "%s%s%s: %s", path, *path ? "." : "", key,
                         what);
}

static int get_string(const json_t *o, const char *path, const char *key, bool required,
                      const char **out, struct frost_err *err)
{
    const json_t *v = member(o, key);
    *out = NULL;
    if (!v)
        return required ? bad(err, path, key, "is required") : 0;
    *out = json_string_value(v);
    if (!*out)
        return bad(err, path, key, "must be a string");
    return 0;
}

static int get_int(const json_t *o, const char *path, const char *key, bool required, int def,
                   int *out, struct frost_err *err)
{
    const json_t *v = member(o, key);
    *out = def;
    if (!v)
        return required ? bad(err, path, key, "is required") : 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > TARGET_MAX)
        return bad(err, path, key, "must be an integer from 0 to 10000");
    *out = (int)json_integer_value(v);
    return 0;
}

static int zone(struct scale *s, const char *dir, const char *name, const struct scale_tz **out,
                struct frost_err *err)
{
    for (size_t i = 0; i < s->nzones; i++)
        if (strcmp(scale_tz_name(s->zones[i]), name) == 0) {
            *out = s->zones[i];
            return 0;
        }
    struct scale_tz *tz;
    if (scale_tz_load(dir, name, &tz, err) < 0)
        return -1;
    s->zones[s->nzones++] = tz; /* sized for every policy's zone */
    *out = tz;
    return 0;
}

/* An ISO 8601 time: with Z it is UTC; without, local time in tz (the spec
 * allows that only with a timeZone; without one it is read as UTC). */
static int parse_time(const char *str, const struct scale_tz *tz, int64_t *ms)
{
    size_t len = strlen(str);
    if (len == 0 || len > 40)
        return -1;
    if (str[len - 1] == 'Z')
        return clock_parse_iso8601(str, ms);
    char tmp[48];
    snprintf(tmp, sizeof(tmp), "%sZ", str);
    int64_t local;
    if (clock_parse_iso8601(tmp, &local) < 0)
        return -1;
    int64_t sec = scale_floor_div(local, 1000);
    *ms = scale_tz_to_utc(tz, sec) * 1000 + (local - sec * 1000);
    return 0;
}

/* name, timeZone, startTime, endTime: what every policy has. */
static int parse_common(struct scale *s, const json_t *p, const char *path, const char *dir,
                        char *name, const struct scale_tz **tz, int64_t *start, int64_t *end,
                        struct frost_err *err)
{
    const char *str;
    if (get_string(p, path, "name", true, &str, err) < 0)
        return -1;
    if (!str || !str[0] || strlen(str) > NAME_MAX_LEN)
        return bad(err, path, "name", "must be 1 to 128 bytes");
    snprintf(name, NAME_MAX_LEN + 1, "%s", str);
    *tz = NULL;
    if (get_string(p, path, "timeZone", false, &str, err) < 0)
        return -1;
    if (str && str[0] && zone(s, dir, str, tz, err) < 0)
        return frost_err_prefix(err, "%s.timeZone", path);
    static const char *const keys[2] = {"startTime", "endTime"};
    int64_t *outs[2] = {start, end};
    *start = INT64_MIN;
    *end = INT64_MAX;
    for (int i = 0; i < 2; i++) {
        if (get_string(p, path, keys[i], false, &str, err) < 0)
            return -1;
        if (str && parse_time(str, *tz, outs[i]) < 0)
            return bad(err, path, keys[i], "must be an ISO 8601 time like 2024-07-01T16:00:00Z");
    }
    return 0;
}

static int parse_action(struct scale *s, const json_t *p, const char *path, const char *dir,
                        struct action *a, struct frost_err *err)
{
    if (parse_common(s, p, path, dir, a->name, &a->tz, &a->start_ms, &a->end_ms, err) < 0 ||
        get_int(p, path, "target", true, 0, &a->target, err) < 0)
        return -1;
    const char *expr;
    char sub[160];
    snprintf(sub, sizeof(sub), "%s.scheduleExpression", path);
    if (get_string(p, path, "scheduleExpression", true, &expr, err) < 0 || !expr ||
        spec_schedule_parse(expr, sub, &a->sch, err) < 0)
        return -1;
    snprintf(a->expr, sizeof(a->expr), "%s", expr);
    if (a->sch.kind == SPEC_SCHEDULE_AT) {
        size_t len = strlen(expr);
        bool utc = len >= 2 && expr[len - 2] == 'Z'; /* at(…Z): UTC whatever the zone */
        int64_t sec = scale_floor_div(a->sch.at_ms, 1000);
        a->at_ms =
            utc ? a->sch.at_ms : scale_tz_to_utc(a->tz, sec) * 1000 + (a->sch.at_ms - sec * 1000);
    }
    return 0;
}

static int parse_policy(struct scale *s, const json_t *p, const char *path, const char *dir,
                        struct policy *pol, struct frost_err *err)
{
    const struct scale_tz *tz;
    const char *type;
    if (parse_common(s, p, path, dir, pol->name, &tz, &pol->start_ms, &pol->end_ms, err) < 0 ||
        get_string(p, path, "metricType", true, &type, err) < 0 || !type)
        return -1;
    pol->metric = METRIC_COUNT;
    for (int i = 0; i < METRIC_COUNT; i++)
        if (strcmp(type, metric_names[i]) == 0)
            pol->metric = (enum metric)i;
    if (pol->metric == METRIC_COUNT)
        return bad(err, path, "metricType",
                   "must be one of ProvisionedConcurrencyUtilization, CPUUtilization, "
                   "GPUMemUtilization");
    const json_t *v = member(p, "metricTarget");
    if (!v)
        return bad(err, path, "metricTarget", "is required");
    pol->target = json_number_value(v);
    if (!json_is_number(v) || !(pol->target > 0) || !isfinite(pol->target))
        return bad(err, path, "metricTarget", "must be a number greater than 0");
    if (get_int(p, path, "minCapacity", true, 0, &pol->minc, err) < 0 ||
        get_int(p, path, "maxCapacity", true, 0, &pol->maxc, err) < 0)
        return -1;
    if (pol->minc > pol->maxc)
        return bad(err, path, "minCapacity", "must not exceed maxCapacity");
    pol->hist = (struct ring){.esz = sizeof(struct hist), .max = SCALE_HISTORY_MAX};
    return 0;
}

static int parse_list(struct scale *s, const json_t *cfg, const char *key, const char *dir,
                      struct frost_err *err)
{
    const json_t *list = member(cfg, key);
    if (!list)
        return 0;
    if (!json_is_array(list))
        return frost_err_set(err, 400, "InvalidArgument", "%s: must be an array", key);
    size_t n = json_array_size(list);
    if (n > LIST_MAX)
        return frost_err_set(err, 400, "InvalidArgument", "%s: must have at most %d items", key,
                             LIST_MAX);
    if (n == 0)
        return 0;
    bool actions = strcmp(key, "scheduledActions") == 0;
    if (actions) {
        s->actions = calloc(n, sizeof(*s->actions));
        if (!s->actions)
            return frost_err_set(err, 500, "InternalError", "out of memory");
    } else {
        s->policies = calloc(n, sizeof(*s->policies));
        if (!s->policies)
            return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(list, i);
        char path[64];
        snprintf(path, sizeof(path), "%s[%zu]", key, i);
        if (!json_is_object(p))
            return frost_err_set(err, 400, "InvalidArgument", "%s: must be an object", path);
        if (actions) {
            if (parse_action(s, p, path, dir, &s->actions[i], err) < 0)
                return -1;
            s->nactions++;
        } else {
            if (parse_policy(s, p, path, dir, &s->policies[i], err) < 0)
                return -1;
            s->npolicies++;
        }
    }
    return 0;
}

void scale_free(struct scale *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->npolicies; i++)
        free(s->policies[i].hist.a);
    free(s->policies);
    free(s->actions);
    for (size_t i = 0; i < s->nzones; i++)
        scale_tz_free(s->zones[i]);
    free(s->zones);
    free(s->samples.a);
    free(s);
}

int scale_new(const json_t *cfg, const struct scale_opts *o, struct scale **out,
              struct frost_err *err)
{
    if (!json_is_object(cfg))
        return frost_err_set(err, 400, "InvalidArgument", "provision config must be an object");
    struct scale *s = calloc(1, sizeof(*s));
    if (!s)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    s->window_ms = o && o->window_ms ? o->window_ms : SCALE_DEFAULT_WINDOW_MS;
    s->stab_ms = o && o->scale_in_stabilization_ms ? o->scale_in_stabilization_ms
                                                   : SCALE_DEFAULT_STABILIZATION_MS;
    if (s->window_ms > OPT_MS_MAX)
        s->window_ms = OPT_MS_MAX;
    if (s->stab_ms > OPT_MS_MAX)
        s->stab_ms = OPT_MS_MAX;
    s->last_target = -1;
    s->samples = (struct ring){.esz = sizeof(struct sample), .max = SCALE_SAMPLES_MAX};
    const char *dir = o ? o->zoneinfo_dir : NULL;
    size_t nz = json_array_size(member(cfg, "scheduledActions")) +
                json_array_size(member(cfg, "targetTrackingPolicies"));
    s->zones = calloc(nz ? nz : 1, sizeof(*s->zones));
    if (!s->zones) {
        scale_free(s);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    int t;
    if (get_int(cfg, "", "target", false, 0, &t, err) < 0 ||
        get_int(cfg, "", "defaultTarget", false, t, &s->default_target, err) < 0 ||
        parse_list(s, cfg, "scheduledActions", dir, err) < 0 ||
        parse_list(s, cfg, "targetTrackingPolicies", dir, err) < 0) {
        scale_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* ---- scheduled actions --------------------------------------------------- */

static int64_t ceil_div_1000(int64_t ms)
{
    return -scale_floor_div(-ms, 1000);
}

/* The latest fire time <= now inside [start, end], or NO_FIRE. */
static int64_t fire_prev(const struct action *a, int64_t now)
{
    if (a->sch.kind == SPEC_SCHEDULE_AT)
        return (a->at_ms <= now && a->at_ms >= a->start_ms && a->at_ms <= a->end_ms) ? a->at_ms
                                                                                     : NO_FIRE;
    int64_t t = now < a->end_ms ? now : a->end_ms;
    if (t < a->start_ms)
        return NO_FIRE;
    int64_t f = scale_cron_prev(&a->sch.cron, a->tz, scale_floor_div(t, 1000));
    if (f == INT64_MIN || f * 1000 < a->start_ms)
        return NO_FIRE;
    return f * 1000;
}

/* The earliest fire time > now inside [start, end], or INT64_MAX. */
static int64_t fire_next(const struct action *a, int64_t now)
{
    if (a->sch.kind == SPEC_SCHEDULE_AT)
        return (a->at_ms > now && a->at_ms >= a->start_ms && a->at_ms <= a->end_ms) ? a->at_ms
                                                                                    : INT64_MAX;
    if (now >= a->end_ms)
        return INT64_MAX;
    int64_t t = scale_floor_div(now, 1000);
    if (a->start_ms != INT64_MIN && ceil_div_1000(a->start_ms) - 1 > t)
        t = ceil_div_1000(a->start_ms) - 1;
    int64_t f = scale_cron_next(&a->sch.cron, a->tz, t);
    if (f == INT64_MAX || f * 1000 > a->end_ms)
        return INT64_MAX;
    return f * 1000;
}

static int64_t clamp_ms(int64_t t)
{
    const int64_t lim = SCALE_TZ_T_LIMIT * 1000;
    return t > lim ? lim : t < -lim ? -lim : t;
}

/* fire_prev, remembered until the next fire time (or until the bounded
 * search could see a different answer). */
static int64_t action_prev(struct action *a, int64_t now)
{
    if (a->cached && now >= a->cache_from && now < a->cache_until)
        return a->cache_prev;
    int64_t p = fire_prev(a, now), n = fire_next(a, now);
    int64_t until = now + CACHE_SPAN_MS;
    if (p != NO_FIRE && p + CACHE_SPAN_MS < until)
        until = p + CACHE_SPAN_MS;
    if (n < until)
        until = n;
    a->cached = true;
    a->cache_from = now;
    a->cache_until = until;
    a->cache_prev = p;
    return p;
}

/* ---- target tracking ------------------------------------------------------ */

void scale_observe(struct scale *s, int64_t now_ms, const struct scale_sample *m)
{
    now_ms = clamp_ms(now_ms);
    struct ring *r = &s->samples;
    if (r->n && ((struct sample *)ring_at(r, r->n - 1))->t > now_ms)
        ring_clear(r); /* the clock went back: what we hold is not comparable */
    while (r->n && ((struct sample *)ring_at(r, 0))->t <= now_ms - (int64_t)s->window_ms)
        ring_pop_front(r);
    struct sample x = {.t = now_ms, .current = m->current > 0 ? m->current : 0};
    x.v[METRIC_CONCURRENCY] = m->concurrency;
    x.v[METRIC_CPU] = m->cpu;
    x.v[METRIC_GPU_MEM] = m->gpu_mem;
    ring_push(r, &x);
}

struct eval {
    int desired; /* clamped */
    int raw;     /* before clamping */
    int current; /* latest sample's */
    int nsamples;
    double mean; /* of the metric */
};

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void evaluate(const struct scale *s, const struct policy *p, int64_t now, int hold,
                     struct eval *e)
{
    memset(e, 0, sizeof(*e));
    const struct ring *r = &s->samples;
    double sum = 0, load = 0;
    bool newest = true;
    for (size_t i = r->n; i-- > 0;) {
        const struct sample *x = ring_at(r, i);
        if (x->t > now)
            continue;
        if (x->t <= now - (int64_t)s->window_ms)
            break;
        double v = x->v[p->metric];
        if (!isfinite(v) || v < 0)
            continue; /* unknown (GPU memory on a backend that cannot tell) */
        if (newest)
            e->current = x->current;
        newest = false;
        e->nsamples++;
        sum += v;
        load += x->current * v;
    }
    if (e->nsamples == 0) {
        e->raw = hold;
    } else {
        e->mean = sum / e->nsamples;
        if (e->current == 0) {
            e->raw = e->mean > EPS ? (p->minc > 1 ? p->minc : 1) : p->minc;
        } else {
            double want = load / e->nsamples / p->target;
            e->raw = want >= TARGET_MAX + 1 ? TARGET_MAX + 1 : (int)ceil(want - EPS);
            if (e->raw < 0)
                e->raw = 0;
        }
    }
    e->desired = clampi(e->raw, p->minc, p->maxc);
}

/* Records desired at now; returns the highest desired within the
 * stabilisation window (always >= desired). */
static int stabilise(const struct scale *s, struct policy *p, int64_t now, int desired)
{
    struct ring *r = &p->hist;
    if (r->n && ((struct hist *)ring_at(r, r->n - 1))->t > now)
        ring_clear(r);
    while (r->n && ((struct hist *)ring_at(r, r->n - 1))->v <= desired)
        ring_pop_back(r);
    struct hist h = {now, desired};
    ring_push(r, &h);
    while (r->n > 1 && ((struct hist *)ring_at(r, 0))->t <= now - (int64_t)s->stab_ms)
        ring_pop_front(r);
    return r->n ? ((struct hist *)ring_at(r, 0))->v : desired;
}

static void format_seconds(char *out, size_t n, uint64_t ms)
{
    if (ms % 1000 == 0)
        snprintf(out, n, "%llu s", (unsigned long long)(ms / 1000));
    else
        snprintf(out, n, "%.3f s", (double)ms / 1000);
}

static void tracking_reason(const struct scale *s, const struct policy *p, const struct eval *e,
                            int target, char *out, size_t n)
{
    char win[32], stab[32];
    format_seconds(win, sizeof(win), s->window_ms);
    format_seconds(stab, sizeof(stab), s->stab_ms);
    const char *metric = metric_names[p->metric];
    int len;
    if (e->nsamples == 0) {
        len = snprintf(out, n, "no %s samples in the last %s: holding %d", metric, win, target);
    } else {
        const char *op = e->mean > p->target + EPS ? ">" : e->mean < p->target - EPS ? "<" : "=";
        len = snprintf(out, n, "%s %.2f over %s %s %.2f: %d -> %d", metric, e->mean, win, op,
                       p->target, e->current, target);
        if (len >= 0 && (size_t)len < n && e->raw != e->desired)
            len += snprintf(out + len, n - (size_t)len, " (wants %d, %s %d)", e->raw,
                            e->raw < e->desired ? "minCapacity" : "maxCapacity", e->desired);
    }
    if (len >= 0 && (size_t)len < n && target > e->desired)
        snprintf(out + len, n - (size_t)len,
                 "; scale-in waits: %d is the highest wanted in the last %s", target, stab);
}

void scale_decide(struct scale *s, int64_t now_ms, struct scale_decision *out)
{
    int64_t now = clamp_ms(now_ms);
    memset(out, 0, sizeof(*out));

    size_t best = SIZE_MAX;
    int64_t best_fire = NO_FIRE;
    for (size_t i = 0; i < s->nactions; i++) {
        int64_t f = action_prev(&s->actions[i], now);
        if (f != NO_FIRE && (best == SIZE_MAX || f >= best_fire)) {
            best = i;
            best_fire = f;
        }
    }
    int base = best != SIZE_MAX ? s->actions[best].target : s->default_target;
    int hold = s->last_target >= 0 ? s->last_target : base;

    size_t win = SIZE_MAX;
    int win_target = -1;
    struct eval win_eval = {0};
    for (size_t i = 0; i < s->npolicies; i++) {
        struct policy *p = &s->policies[i];
        if (now < p->start_ms || now >= p->end_ms) {
            ring_clear(&p->hist);
            continue;
        }
        struct eval e;
        evaluate(s, p, now, hold, &e);
        int t = stabilise(s, p, now, e.desired);
        if (t > win_target) {
            win = i;
            win_target = t;
            win_eval = e;
        }
    }

    if (win != SIZE_MAX) {
        const struct policy *p = &s->policies[win];
        out->target = win_target;
        snprintf(out->source, sizeof(out->source), "targetTrackingPolicy:%s", p->name);
        tracking_reason(s, p, &win_eval, win_target, out->reason, sizeof(out->reason));
    } else if (best != SIZE_MAX) {
        const struct action *a = &s->actions[best];
        char when[32];
        clock_format_iso8601(best_fire, when, sizeof(when));
        out->target = base;
        snprintf(out->source, sizeof(out->source), "scheduledAction:%s", a->name);
        snprintf(out->reason, sizeof(out->reason), "%.120s%s%.64s fired at %s: target %d", a->expr,
                 a->tz ? " in " : "", a->tz ? scale_tz_name(a->tz) : "", when, base);
    } else {
        out->target = base;
        snprintf(out->source, sizeof(out->source), "defaultTarget");
        snprintf(out->reason, sizeof(out->reason), "defaultTarget %d%s%s", base,
                 s->nactions ? "; no scheduled action has fired" : "",
                 s->npolicies ? "; no target-tracking policy is active" : "");
    }
    s->last_target = out->target;
}

int64_t scale_next_change_ms(const struct scale *s, int64_t now_ms)
{
    int64_t now = clamp_ms(now_ms), next = INT64_MAX;
    for (size_t i = 0; i < s->nactions; i++) {
        int64_t f = fire_next(&s->actions[i], now);
        if (f < next)
            next = f;
    }
    for (size_t i = 0; i < s->npolicies; i++) {
        const struct policy *p = &s->policies[i];
        if (p->start_ms > now && p->start_ms < next)
            next = p->start_ms;
        if (p->end_ms > now && p->end_ms < next)
            next = p->end_ms;
    }
    return next;
}
