/* `frost top`: a live view of a Frost server in the terminal — functions,
 * their instances by state, requests in flight and queued, rates, cold
 * starts, GPU memory per device and the cost so far today. It reads
 * GET /metrics (docs/metrics.md), ListFunctions and, when the server has it,
 * the bills API; it works over SSH with plain ANSI sequences. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "cli/client.h"

#define FC               "/2023-03-30"
#define MAX_LISTED       1000 /* functions fetched from ListFunctions per refresh */
#define MAX_GPUS         64
#define METRICS_MAX_BODY (256u << 20)

extern char **environ;

static const char top_usage[] =
    "Usage: frost top [--interval SECONDS] [--once] [--json]\n"
    "\n"
    "A live view of the server: functions with their instances by state, requests\n"
    "in flight and queued, invocation and error rates, average latency, cold\n"
    "starts, GPU memory per device, and the cost so far today (when the server\n"
    "has the bills API). Reads GET /metrics, ListFunctions and the bills API.\n"
    "\n"
    "  --interval S   refresh every S seconds (default 2; 0.2 to 3600)\n"
    "  --once         print one snapshot without terminal control codes and exit\n"
    "                 (rates need two snapshots and show as -)\n"
    "  --json         with --once: the snapshot as JSON\n"
    "\n"
    "Keys: q (or Ctrl-C) quits, space refreshes now. The terminal is restored on\n"
    "exit. Without a terminal on stdout the snapshots are printed one after the\n"
    "other.\n"
    "\n" CLI_CLIENT_USAGE;

/* Instance states as /metrics names them (frost_function_instances). */
enum {
    S_STARTING,
    S_INIT,
    S_ACTIVE,
    S_IDLE,
    S_FREEZING,
    S_FROZEN,
    S_THAWING,
    S_STOPPING,
    S_FAILED,
    S_COUNT
};
static const char *const state_names[S_COUNT] = {"starting", "initializing", "active",
                                                 "idle",     "freezing",     "frozen",
                                                 "thawing",  "stopping",     "failed"};

struct fnrow {
    char name[128];
    double invocations, errors, in_flight, queued, cold_starts, lat_sum, lat_count;
    double inst[S_COUNT];
    bool in_metrics;
    /* from the previous snapshot, for rates */
    double rate, err_rate, avg_ms;
    bool has_rate;
};

struct gpurow {
    char device[16], type[32], name[96];
    double total, reserved;
    bool simulated;
};

struct snap {
    struct fnrow *fns;
    size_t n, cap;
    int32_t *index; /* open addressing over fns, -1 = empty */
    size_t index_cap;
    struct gpurow gpus[MAX_GPUS];
    size_t n_gpus;
    bool metrics_ok, listed_ok;
    char metrics_error[300];
    int cost_state; /* 0 unknown/absent, 1 known, -1 error */
    double cost;
    char currency[16];
    char cost_note[200];
    uint64_t at_ns;
    int64_t at_wall_ms;
};

/* ------------------------------------------------------------- snapshot */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void snap_free(struct snap *s)
{
    free(s->fns);
    free(s->index);
    memset(s, 0, sizeof(*s));
}

static int reindex(struct snap *s, size_t cap)
{
    int32_t *ix = malloc(cap * sizeof(*ix));
    if (!ix)
        return -1;
    for (size_t i = 0; i < cap; i++)
        ix[i] = -1;
    for (size_t i = 0; i < s->n; i++) {
        size_t k = name_hash(s->fns[i].name) & (cap - 1);
        while (ix[k] >= 0)
            k = (k + 1) & (cap - 1);
        ix[k] = (int32_t)i;
    }
    free(s->index);
    s->index = ix;
    s->index_cap = cap;
    return 0;
}

static struct fnrow *row_find(const struct snap *s, const char *name)
{
    if (!s->index_cap)
        return NULL;
    size_t k = name_hash(name) & (s->index_cap - 1);
    while (s->index[k] >= 0) {
        struct fnrow *r = &s->fns[s->index[k]];
        if (strcmp(r->name, name) == 0)
            return r;
        k = (k + 1) & (s->index_cap - 1);
    }
    return NULL;
}

static struct fnrow *row_get(struct snap *s, const char *name)
{
    struct fnrow *r = row_find(s, name);
    if (r)
        return r;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct fnrow *f = realloc(s->fns, cap * sizeof(*f));
        if (!f)
            return NULL;
        s->fns = f;
        s->cap = cap;
    }
    if ((s->n + 1) * 2 > s->index_cap && reindex(s, s->index_cap ? s->index_cap * 2 : 128) < 0)
        return NULL;
    r = &s->fns[s->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    size_t k = name_hash(r->name) & (s->index_cap - 1);
    while (s->index[k] >= 0)
        k = (k + 1) & (s->index_cap - 1);
    s->index[k] = (int32_t)(s->n - 1);
    return r;
}

/* ------------------------------------------------------ /metrics (subset) */

struct labels {
    char function[128], kind[32], state[32], device[16], type[32], name[96], simulated[8];
};

/* Parses {k="v",…} at *p into the labels top cares about; *p ends after '}'.
 * -1 on a malformed set. */
static int parse_labels(const char **pp, const char *end, struct labels *l)
{
    const char *p = *pp + 1;
    while (p < end && *p != '}') {
        const char *k = p;
        while (p < end && *p != '=')
            p++;
        size_t klen = (size_t)(p - k);
        if (p + 1 >= end || p[1] != '"')
            return -1;
        p += 2;
        char val[256];
        size_t n = 0;
        while (p < end && *p != '"') {
            char c = *p++;
            if (c == '\\' && p < end) {
                c = *p++;
                if (c == 'n')
                    c = '\n';
            }
            if (n + 1 < sizeof(val))
                val[n++] = c;
        }
        if (p >= end)
            return -1;
        val[n] = 0;
        p++; /* the closing quote */
        struct {
            const char *k;
            char *dst;
            size_t len;
        } want[] = {
            {"function", l->function, sizeof(l->function)},
            {"kind", l->kind, sizeof(l->kind)},
            {"state", l->state, sizeof(l->state)},
            {"device", l->device, sizeof(l->device)},
            {"type", l->type, sizeof(l->type)},
            {"name", l->name, sizeof(l->name)},
            {"simulated", l->simulated, sizeof(l->simulated)},
        };
        for (size_t i = 0; i < ARRAY_LEN(want); i++) {
            if (strlen(want[i].k) == klen && memcmp(want[i].k, k, klen) == 0)
                snprintf(want[i].dst, want[i].len, "%s", val);
        }
        if (p < end && *p == ',')
            p++;
    }
    if (p >= end)
        return -1;
    *pp = p + 1;
    return 0;
}

static struct gpurow *gpu_row(struct snap *s, const char *device)
{
    for (size_t i = 0; i < s->n_gpus; i++) {
        if (strcmp(s->gpus[i].device, device) == 0)
            return &s->gpus[i];
    }
    if (s->n_gpus == MAX_GPUS)
        return NULL;
    struct gpurow *g = &s->gpus[s->n_gpus++];
    memset(g, 0, sizeof(*g));
    snprintf(g->device, sizeof(g->device), "%s", device);
    return g;
}

static void take_sample(struct snap *s, const char *name, size_t nlen, const struct labels *l,
                        double v)
{
#define IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
    if (nlen > 15 && memcmp(name, "frost_function_", 15) == 0) {
        if (!l->function[0])
            return;
        struct fnrow *r = row_get(s, l->function);
        if (!r)
            return;
        r->in_metrics = true;
        if (IS("frost_function_invocations_total")) {
            r->invocations = v;
        } else if (IS("frost_function_errors_total")) {
            r->errors += v;
        } else if (IS("frost_function_requests_in_flight")) {
            r->in_flight = v;
        } else if (IS("frost_function_requests_queued")) {
            r->queued = v;
        } else if (IS("frost_function_cold_starts_total")) {
            r->cold_starts += v;
        } else if (IS("frost_function_invocation_duration_seconds_sum")) {
            r->lat_sum = v;
        } else if (IS("frost_function_invocation_duration_seconds_count")) {
            r->lat_count = v;
        } else if (IS("frost_function_instances")) {
            for (int i = 0; i < S_COUNT; i++) {
                if (strcmp(l->state, state_names[i]) == 0)
                    r->inst[i] += v;
            }
        }
    } else if (nlen > 10 && memcmp(name, "frost_gpu_", 10) == 0 && l->device[0]) {
        struct gpurow *g = gpu_row(s, l->device);
        if (!g)
            return;
        if (l->type[0])
            snprintf(g->type, sizeof(g->type), "%s", l->type);
        g->simulated = strcmp(l->simulated, "true") == 0;
        if (IS("frost_gpu_info"))
            snprintf(g->name, sizeof(g->name), "%s", l->name);
        else if (IS("frost_gpu_memory_total_bytes"))
            g->total = v;
        else if (IS("frost_gpu_memory_reserved_bytes"))
            g->reserved = v;
    }
#undef IS
}

/* Reads the families top shows; lines it does not know are skipped. */
static int parse_metrics(struct snap *s, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if (*p != '#' && eol > p) {
            const char *n = p;
            while (p < eol && *p != '{' && *p != ' ')
                p++;
            size_t nlen = (size_t)(p - n);
            struct labels l;
            memset(&l, 0, sizeof(l));
            if (p < eol && *p == '{' && parse_labels(&p, eol, &l) < 0)
                return -1;
            if (p < eol && *p == ' ') {
                char num[64];
                size_t vlen = (size_t)(eol - p - 1);
                const char *sp = memchr(p + 1, ' ', vlen);
                if (sp)
                    vlen = (size_t)(sp - p - 1);
                if (vlen < sizeof(num)) {
                    memcpy(num, p + 1, vlen);
                    num[vlen] = 0;
                    take_sample(s, n, nlen, &l, strtod(num, NULL));
                }
            }
        }
        p = eol + 1;
    }
    return 0;
}

/* --------------------------------------------------------------- fetching */

static void fetch_metrics(struct cli_client *c, struct snap *s)
{
    struct cli_exchange x = {.method = "GET", .path_and_query = "/metrics"};
    struct cli_reply r = {.body = BUF_INIT(METRICS_MAX_BODY), .headers = BUF_INIT(64 * 1024)};
    struct frost_err err = {0};
    if (cli_exchange(c, &x, &r, &err) < 0) {
        snprintf(s->metrics_error, sizeof(s->metrics_error), "%s", err.msg);
    } else if (r.status != 200) {
        snprintf(s->metrics_error, sizeof(s->metrics_error), "GET /metrics answered %d%s%.200s",
                 r.status, r.body.len ? ": " : "", r.body.data ? r.body.data : "");
    } else if (parse_metrics(s, r.body.data ? r.body.data : "", r.body.len) < 0) {
        snprintf(s->metrics_error, sizeof(s->metrics_error), "GET /metrics: malformed answer");
    } else {
        s->metrics_ok = true;
    }
    buf_free(&r.body);
    buf_free(&r.headers);
}

static void fetch_functions(struct cli_client *c, struct snap *s)
{
    char token[512] = "", path[1024];
    size_t got = 0;
    do {
        char esc[1100] = "";
        if (token[0] && cli_escape(token, esc, sizeof(esc)) < 0)
            return;
        snprintf(path, sizeof(path), FC "/functions?limit=100%s%s", esc[0] ? "&nextToken=" : "",
                 esc);
        int status;
        json_t *ans = NULL;
        struct frost_err err = {0};
        if (cli_request(c, "GET", path, NULL, &status, &ans, &err) < 0)
            return;
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(ans, "functions"), i, f)
        {
            const char *name = json_string_value(json_object_get(f, "functionName"));
            if (name && got < MAX_LISTED) {
                row_get(s, name);
                got++;
            }
        }
        const char *next = json_string_value(json_object_get(ans, "nextToken"));
        snprintf(token, sizeof(token), "%s", next && got < MAX_LISTED ? next : "");
        json_decref(ans);
    } while (token[0]);
    s->listed_ok = true;
}

/* The cost so far today from the bills API (a documented extension; older
 * servers answer 404 and the view says so). The total is a number or an
 * object with a cost. */
static void fetch_cost(struct cli_client *c, struct snap *s)
{
    int status;
    json_t *ans = NULL;
    struct frost_err err = {0};
    if (cli_request(c, "GET", FC "/bills?since=today", NULL, &status, &ans, &err) < 0) {
        s->cost_state = status == 404 || status == 405 ? 0 : -1;
        snprintf(s->cost_note, sizeof(s->cost_note), "%s",
                 status == 404 || status == 405 ? "n/a (no bills API)" : "n/a (bills API error)");
        return;
    }
    const json_t *t = json_object_get(ans, "total");
    if (json_is_object(t)) {
        const json_t *v = json_object_get(t, "cost");
        if (!json_is_number(v))
            v = json_object_get(t, "amount");
        t = v;
    }
    const char *cur = json_string_value(json_object_get(ans, "currency"));
    if (json_is_number(t)) {
        s->cost_state = 1;
        s->cost = json_number_value(t);
        snprintf(s->currency, sizeof(s->currency), "%s", cur ? cur : "");
    } else {
        snprintf(s->cost_note, sizeof(s->cost_note), "n/a (unexpected bill format)");
    }
    json_decref(ans);
}

static void take_snapshot(struct cli_client *c, struct snap *s)
{
    memset(s, 0, sizeof(*s));
    s->at_ns = clock_mono_ns();
    s->at_wall_ms = clock_wall_ms();
    fetch_functions(c, s);
    fetch_metrics(c, s);
    fetch_cost(c, s);
}

static void derive_rates(struct snap *s, const struct snap *prev)
{
    double dt = prev && prev->at_ns ? (double)(s->at_ns - prev->at_ns) / 1e9 : 0;
    for (size_t i = 0; i < s->n; i++) {
        struct fnrow *r = &s->fns[i];
        const struct fnrow *p = prev ? row_find(prev, r->name) : NULL;
        r->avg_ms = r->lat_count > 0 ? r->lat_sum / r->lat_count * 1e3 : -1;
        if (dt <= 0)
            continue;
        double pi = p ? p->invocations : 0, pe = p ? p->errors : 0;
        if (r->invocations < pi) /* the server restarted */
            pi = pe = 0;
        r->has_rate = true;
        r->rate = (r->invocations - pi) / dt;
        r->err_rate = (r->errors - pe) / dt;
        double dc = r->lat_count - (p ? p->lat_count : 0);
        if (dc > 0)
            r->avg_ms = (r->lat_sum - (p ? p->lat_sum : 0)) / dc * 1e3;
    }
}

static int by_activity(const void *a, const void *b)
{
    const struct fnrow *x = a, *y = b;
    double kx[4] = {x->in_flight, x->queued, x->rate, x->invocations};
    double ky[4] = {y->in_flight, y->queued, y->rate, y->invocations};
    for (int i = 0; i < 4; i++) {
        if (kx[i] != ky[i])
            return kx[i] < ky[i] ? 1 : -1;
    }
    return strcmp(x->name, y->name);
}

/* -------------------------------------------------------------- rendering */

static void fmt_num(char *out, size_t len, double v)
{
    if (v >= 1e6)
        snprintf(out, len, "%.1fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(out, len, "%.1fk", v / 1e3);
    else
        snprintf(out, len, "%.0f", v);
}

static void fmt_rate(char *out, size_t len, bool has, double v)
{
    if (!has)
        snprintf(out, len, "-");
    else if (v >= 100)
        snprintf(out, len, "%.0f", v);
    else
        snprintf(out, len, "%.1f", v);
}

/* One line: cut to width columns (ASCII cells), then "\e[K" when live so
 * the rest of the previous frame's line goes. */
static int line(struct buf *o, bool live, int width, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int line(struct buf *o, bool live, int width, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if (width > 0 && n > width)
        tmp[width] = 0;
    return buf_printf(o, "%s%s\n", tmp, live ? "\x1b[K" : "");
}

static void render(struct buf *o, struct snap *s, const char *endpoint, double interval, bool live,
                   int rows, int cols)
{
    char when[32];
    time_t t = (time_t)(s->at_wall_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    if (live)
        (void)buf_append_str(o, "\x1b[H");
    int used = 0;
#define LINE(...) (used++, (void)line(o, live, cols, __VA_ARGS__))
    if (live)
        LINE("frost top - %s - %s - every %gs - q quits", endpoint, when, interval);
    else
        LINE("frost top - %s - %s", endpoint, when);
    double inst[S_COUNT] = {0}, infl = 0, queued = 0;
    for (size_t i = 0; i < s->n; i++) {
        for (int k = 0; k < S_COUNT; k++)
            inst[k] += s->fns[i].inst[k];
        infl += s->fns[i].in_flight;
        queued += s->fns[i].queued;
    }
    double total = 0;
    for (int k = 0; k < S_COUNT; k++)
        total += inst[k];
    char cost[256];
    if (s->cost_state == 1)
        snprintf(cost, sizeof(cost), "%.4f %s", s->cost, s->currency);
    else
        snprintf(cost, sizeof(cost), "%s", s->cost_note[0] ? s->cost_note : "n/a");
    LINE("functions %zu   instances %.0f (active %.0f, idle %.0f, frozen %.0f, starting %.0f)   "
         "in flight %.0f   queued %.0f   cost today %s",
         s->n, total, inst[S_ACTIVE], inst[S_IDLE], inst[S_FROZEN] + inst[S_FREEZING],
         inst[S_STARTING] + inst[S_INIT], infl, queued, cost);
    if (!s->metrics_ok)
        LINE("metrics unavailable: %s", s->metrics_error);
    if (s->n_gpus) {
        LINE("%s", "");
        LINE("%-6s %-8s %-28s %21s %6s", "GPU", "TYPE", "NAME", "RESERVED/TOTAL MiB", "USED%");
        for (size_t i = 0; i < s->n_gpus; i++) {
            const struct gpurow *g = &s->gpus[i];
            char mem[48];
            snprintf(mem, sizeof(mem), "%.0f/%.0f", g->reserved / 1048576.0, g->total / 1048576.0);
            LINE("%-6s %-8s %-28.28s %21s %5.0f%%%s", g->device, g->type, g->name, mem,
                 g->total > 0 ? 100.0 * g->reserved / g->total : 0.0,
                 g->simulated ? "  simulated" : "");
        }
    }
    LINE("%s", "");
    LINE("%-24s %5s %6s %5s %6s %5s %6s %6s %7s %6s %7s %6s %8s", "FUNCTION", "INST", "ACTIVE",
         "IDLE", "FROZEN", "START", "INFLT", "QUEUED", "REQ/S", "ERR/S", "AVG MS", "COLD",
         "INVOKED");
    if (s->n > 1)
        qsort(s->fns, s->n, sizeof(s->fns[0]), by_activity);
    (void)reindex(s, s->index_cap ? s->index_cap : 128); /* rows moved */
    /* Live frames stay one line short of the window: a newline on the last
     * row would scroll the title away. */
    int room = rows > 0 ? rows - 1 - used : (int)s->n;
    if (room < (int)s->n)
        room = room > 1 ? room - 1 : 0; /* and the "more" line */
    size_t shown = 0;
    for (size_t i = 0; i < s->n && (int)shown < room; i++, shown++) {
        const struct fnrow *r = &s->fns[i];
        double n = 0;
        for (int k = 0; k < S_COUNT; k++)
            n += r->inst[k];
        char rate[16], err[16], avg[16], inv[16];
        fmt_rate(rate, sizeof(rate), r->has_rate, r->rate);
        fmt_rate(err, sizeof(err), r->has_rate, r->err_rate);
        if (r->avg_ms >= 0)
            snprintf(avg, sizeof(avg), "%.1f", r->avg_ms);
        else
            snprintf(avg, sizeof(avg), "-");
        fmt_num(inv, sizeof(inv), r->invocations);
        LINE("%-24.24s %5.0f %6.0f %5.0f %6.0f %5.0f %6.0f %6.0f %7s %6s %7s %6.0f %8s", r->name, n,
             r->inst[S_ACTIVE], r->inst[S_IDLE], r->inst[S_FROZEN] + r->inst[S_FREEZING],
             r->inst[S_STARTING] + r->inst[S_INIT], r->in_flight, r->queued, rate, err, avg,
             r->cold_starts, inv);
    }
    if (shown < s->n)
        LINE("... %zu more", s->n - shown);
    if (!s->n)
        LINE("%s", s->listed_ok ? "no functions" : "functions unavailable");
#undef LINE
    if (live)
        (void)buf_append_str(o, "\x1b[J");
}

static json_t *snap_json(const struct snap *s, const char *endpoint)
{
    char when[32];
    clock_format_iso8601(s->at_wall_ms, when, sizeof(when));
    json_t *fns = json_array();
    for (size_t i = 0; i < s->n; i++) {
        const struct fnrow *r = &s->fns[i];
        json_t *st = json_object();
        for (int k = 0; k < S_COUNT; k++)
            json_object_set_new(st, state_names[k], json_integer((json_int_t)r->inst[k]));
        json_array_append_new(
            fns, json_pack("{s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:f}", "name", r->name, "instances", st,
                           "inFlight", (json_int_t)r->in_flight, "queued", (json_int_t)r->queued,
                           "invocations", (json_int_t)r->invocations, "errors",
                           (json_int_t)r->errors, "coldStarts", (json_int_t)r->cold_starts,
                           "avgLatencyMs", r->avg_ms >= 0 ? r->avg_ms : 0.0));
    }
    json_t *gpus = json_array();
    for (size_t i = 0; i < s->n_gpus; i++) {
        const struct gpurow *g = &s->gpus[i];
        json_array_append_new(gpus, json_pack("{s:s,s:s,s:s,s:I,s:I,s:b}", "device", g->device,
                                              "type", g->type, "name", g->name, "totalBytes",
                                              (json_int_t)g->total, "reservedBytes",
                                              (json_int_t)g->reserved, "simulated", g->simulated));
    }
    json_t *cost = s->cost_state == 1
                       ? json_pack("{s:f,s:s}", "total", s->cost, "currency", s->currency)
                       : json_null();
    return json_pack("{s:s,s:s,s:o,s:o,s:o,s:s*}", "endpoint", endpoint, "time", when, "functions",
                     fns, "gpus", gpus, "costToday", cost, "metricsError",
                     s->metrics_ok ? NULL : s->metrics_error);
}

/* --------------------------------------------------------------- terminal */

static volatile sig_atomic_t stop_signal, resized;

static void on_stop(int sig)
{
    stop_signal = sig;
}

static void on_winch(int sig)
{
    resized = 1;
}

struct term {
    bool raw;
    struct termios saved;
};

static void term_enter(struct term *t)
{
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: poll wakes up */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        struct termios r = t->saved;
        r.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* ISIG stays: Ctrl-C is SIGINT */
        r.c_cc[VMIN] = 0;
        r.c_cc[VTIME] = 0;
        t->raw = tcsetattr(STDIN_FILENO, TCSANOW, &r) == 0;
    }
    /* The alternate screen keeps the user's scrollback; the cursor hides. */
    fputs("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J", stdout);
    fflush(stdout);
}

static void term_leave(struct term *t)
{
    fputs("\x1b[?25h\x1b[?1049l", stdout);
    fflush(stdout);
    if (t->raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
}

static void term_size(int *rows, int *cols)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    } else {
        *rows = 0;
        *cols = 0;
    }
}

/* Waits up to ms for a key: 1 = quit, 0 = time to refresh. */
static int wait_key(int ms, bool keys)
{
    uint64_t deadline = clock_mono_ns() + (uint64_t)ms * 1000000;
    for (;;) {
        if (stop_signal)
            return 1;
        if (resized) {
            resized = 0;
            return 0;
        }
        uint64_t now = clock_mono_ns();
        if (now >= deadline)
            return 0;
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        int rc = poll(&p, keys ? 1 : 0, (int)((deadline - now + 999999) / 1000000));
        if (rc < 0 && errno != EINTR)
            return 1;
        if (rc > 0) {
            if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
                keys = false; /* stdin closed: keep refreshing on the timer */
            char c[16];
            ssize_t n = keys && (p.revents & POLLIN) ? read(STDIN_FILENO, c, sizeof(c)) : 0;
            if (n == 0 && (p.revents & POLLIN))
                keys = false;
            for (ssize_t i = 0; i < n; i++) {
                if (c[i] == 'q' || c[i] == 'Q' || c[i] == 3)
                    return 1;
                if (c[i] == ' ')
                    return 0;
            }
        }
    }
}

/* ----------------------------------------------------------------- command */

int cli_top(int argc, char **argv)
{
    enum { O_INTERVAL = 256, O_ONCE, O_JSON };
    static const struct option opts[] = {
        {"interval", required_argument, NULL, O_INTERVAL},
        {"once", no_argument, NULL, O_ONCE},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli_flags flags = {0};
    double interval = 2;
    bool once = false, json = false;
    int o;
    cli_opts_begin();
    while ((o = cli_next_opt(&flags, argc, argv, "h", opts)) != -1) {
        switch (o) {
        case O_INTERVAL: {
            char *end;
            interval = strtod(optarg, &end);
            if (*end || end == optarg || !(interval >= 0.2 && interval <= 3600))
                return cli_usage_error("top", "--interval must be 0.2 to 3600 seconds");
            break;
        }
        case O_ONCE:
            once = true;
            break;
        case O_JSON:
            json = true;
            break;
        case 'h':
            fputs(top_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("top", "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("top", "unexpected argument \"%s\"", argv[optind]);
    if (json && !once)
        return cli_usage_error("top", "--json needs --once");
    struct cli_client *c = NULL;
    struct frost_err err = {0};
    if (cli_client_new(&flags, environ, &c, &err) < 0) {
        cli_print_error(&err);
        return CLI_EXIT_USAGE;
    }
    const char *endpoint = cli_client_endpoint(c);
    struct snap prev = {0}, cur = {0};
    int rc = CLI_EXIT_OK;
    if (once) {
        take_snapshot(c, &cur);
        derive_rates(&cur, NULL);
        if (!cur.metrics_ok && !cur.listed_ok) {
            fprintf(stderr, "frost: %s\n", cur.metrics_error);
            rc = CLI_EXIT_API;
        } else if (json) {
            if (cur.n > 1)
                qsort(cur.fns, cur.n, sizeof(cur.fns[0]), by_activity);
            json_t *j = snap_json(&cur, endpoint);
            char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
            json_decref(j);
            if (text)
                printf("%s\n", text);
            else
                rc = CLI_EXIT_API;
            free(text);
        } else {
            struct buf out = BUF_INIT(0);
            render(&out, &cur, endpoint, interval, false, 0, 0);
            fwrite(out.data ? out.data : "", 1, out.len, stdout);
            buf_free(&out);
            if (!cur.metrics_ok)
                rc = CLI_EXIT_API;
        }
        snap_free(&cur);
        cli_client_free(c);
        return rc;
    }
    bool live = isatty(STDOUT_FILENO);
    struct term t = {0};
    if (live) {
        term_enter(&t);
    } else {
        struct sigaction sa = {.sa_handler = on_stop};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    bool keys = live && isatty(STDIN_FILENO);
    while (!stop_signal) {
        take_snapshot(c, &cur);
        derive_rates(&cur, &prev);
        int rows = 0, cols = 0;
        if (live)
            term_size(&rows, &cols);
        struct buf out = BUF_INIT(0);
        render(&out, &cur, endpoint, interval, live, rows, cols);
        if (!live)
            (void)buf_append_str(&out, "\n");
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
        fflush(stdout);
        buf_free(&out);
        snap_free(&prev);
        prev = cur;
        memset(&cur, 0, sizeof(cur));
        if (wait_key((int)(interval * 1000), keys))
            break;
    }
    if (live)
        term_leave(&t);
    snap_free(&prev);
    cli_client_free(c);
    return rc;
}
