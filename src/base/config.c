#include "base/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <yaml.h>

/* A config file is a few hundred bytes; the cap keeps a wrong --config (a log,
 * a disk image) from being slurped into memory and parsed. */
#define CONFIG_FILE_MAX (1024 * 1024)
/* Section nesting is one level today; the cap is what stops an alias cycle
 * (`a: &x {b: *x}`) from recursing forever. */
#define MAX_DEPTH    8
#define KEY_NAME_MAX 128

#define KiB     (UINT64_C(1) << 10)
#define MiB     (UINT64_C(1) << 20)
#define GiB     (UINT64_C(1) << 30)
#define SEC_MS  UINT64_C(1000)
#define MIN_MS  (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS  (24 * HOUR_MS)

enum ktype { T_STRING, T_DURATION, T_SIZE, T_BOOL, T_LEVEL, T_UINT, T_DECIMAL };

struct key {
    const char *name;
    enum ktype type;
    size_t off;
    size_t size;
    uint64_t min, max; /* numeric types only */
    const char *def;   /* default, as text in the key's own syntax */
};

/* The _Generic arm fails to compile when a field's C type does not match the
 * key type, so the offset-based stores below cannot write the wrong width. */
#define FIELD(f, ctype)                                                                            \
    offsetof(struct frost_config, f) + 0 * _Generic(((struct frost_config *)0)->f, ctype : 0),     \
        sizeof(((struct frost_config *)0)->f)

/* clang-format off */
#define STR(n, f, d)              {n, T_STRING, FIELD(f, char *), 0, 0, d}
#define LEVEL(n, f, d)            {n, T_LEVEL, FIELD(f, enum log_level), 0, LOG_OFF, d}
#define DURATION(n, f, mn, mx, d) {n, T_DURATION, FIELD(f, uint64_t), mn, mx, d}
#define SIZE(n, f, mn, mx, d)     {n, T_SIZE, FIELD(f, size_t), mn, mx, d}
#define UINT(n, f, mn, mx, d)     {n, T_UINT, FIELD(f, uint64_t), mn, mx, d}
#define BOOL(n, f, d)             {n, T_BOOL, FIELD(f, int), 0, 1, d}
#define DECIMAL(n, f, mx, d)      {n, T_DECIMAL, FIELD(f, double), 0, mx, d}
/* clang-format on */

/* Order is the order of config_dump and of docs/configuration.md; keys of one
 * section must be adjacent. Timeouts have a floor of 1ms because 0 would fail
 * every request, and a ceiling of a day to catch unit slips. */
static const struct key keys[] = {
    STR("listen", listen, "127.0.0.1:9800"),
    STR("data_dir", data_dir, "./frost-data"),
    STR("log_file", log_file, ""),
    LEVEL("log_level", log_level, "info"),
    STR("region", region, "local"),
    STR("account_id", account_id, "0000000000000000"),
    STR("trigger_domain", trigger_domain, ""),
    SIZE("http.max_header_bytes", http.max_header_bytes, KiB, MiB, "64KiB"),
    SIZE("http.max_body_bytes", http.max_body_bytes, 0, GiB, "32MiB"),
    DURATION("http.header_timeout", http.header_timeout_ms, 1, DAY_MS, "10s"),
    DURATION("http.body_timeout", http.body_timeout_ms, 1, DAY_MS, "60s"),
    DURATION("http.keepalive_timeout", http.keepalive_timeout_ms, 1, DAY_MS, "60s"),
    DURATION("http.shutdown_grace", http.shutdown_grace_ms, 0, DAY_MS, "30s"),
    UINT("http.max_connections", http.max_connections, 1, 1000000, "10000"),
    DURATION("http.upstream_connect_timeout", http.upstream_connect_timeout_ms, 1, DAY_MS, "5s"),
    DURATION("http.upstream_idle_timeout", http.upstream_idle_timeout_ms, 1, DAY_MS, "60s"),
    UINT("http.upstream_max_idle_per_endpoint", http.upstream_max_idle_per_endpoint, 0, 100000,
         "64"),
    STR("auth.keys", auth.keys, ""),
    STR("auth.metrics_token", auth.metrics_token, ""),
    STR("runtime.user", runtime.user, "frost-fn"),
    STR("runtime.port_range", runtime.port_range, "21000-21999"),
    DURATION("runtime.start_timeout", runtime.start_timeout_ms, 1, DAY_MS, "120s"),
    DURATION("runtime.stop_grace", runtime.stop_grace_ms, 0, HOUR_MS, "10s"),
    UINT("runtime.pids_max", runtime.pids_max, 0, 4194304, "1024"),
    SIZE("runtime.log_max_bytes", runtime.log_max_bytes, 4 * KiB, GiB, "10MiB"),
    UINT("runtime.log_keep", runtime.log_keep, 1, 100, "3"),
    BOOL("runtime.cgroup_favordynmods", runtime.cgroup_favordynmods, "true"),
    DURATION("sched.keepalive", sched.keepalive_ms, 1, DAY_MS, "300s"),
    UINT("sched.max_queue", sched.max_queue, 0, 1000000, "1000"),
    UINT("sched.max_instances", sched.max_instances, 1, 100000, "32"),
    UINT("sched.node_cpus", sched.node_cpus, 0, 100000, "0"),
    SIZE("sched.node_memory", sched.node_memory, 0, 1024 * GiB, "0"),
    DURATION("sched.freeze_delay", sched.freeze_delay_ms, 0, DAY_MS, "100ms"),
    DURATION("sched.scale_interval", sched.scale_interval_ms, 10, 60000, "1s"),
    DURATION("sched.scale_window", sched.scale_window_ms, 1000, DAY_MS, "60s"),
    DURATION("sched.scale_in_stabilization", sched.scale_in_stabilization_ms, 0, DAY_MS, "300s"),
    STR("gpu.devices", gpu.devices, "none"),
    UINT("gpu.card_quota", gpu.card_quota, 0, 100000, "30"),
    SIZE("gpu.sim_bandwidth", gpu.sim_bandwidth, 1, 1024 * GiB, "25GB"),
    STR("gpu.type_map", gpu.type_map, ""),
    STR("prices.currency", prices.currency, "USD"),
    DECIMAL("prices.gpu_memory_active", prices.gpu_memory_active, 1000000, "0.000042"),
    DECIMAL("prices.gpu_memory_idle", prices.gpu_memory_idle, 1000000, "0.00001"),
    STR("prices.gpu_types", prices.gpu_types, "L20=0.00003/0.000005,L4=0.00003/0.000005"),
    DECIMAL("prices.vcpu_active", prices.vcpu_active, 1000000, "0.00002"),
    DECIMAL("prices.vcpu_idle", prices.vcpu_idle, 1000000, "0"),
    DECIMAL("prices.memory", prices.memory, 1000000, "0.000003"),
    DECIMAL("prices.invocation", prices.invocation, 1000000, "0.00000015"),
    DECIMAL("dedicated.card_hour", dedicated.card_hour, 1000000, "2"),
    STR("dedicated.types", dedicated.types, ""),
};

/* ---- value parsing ------------------------------------------------------ */

enum perr {
    P_OK,
    P_EMPTY,
    P_SYNTAX,
    P_NO_UNIT,
    P_BAD_UNIT,
    P_NEGATIVE,
    P_OVERFLOW,
    P_INEXACT,
    P_PRECISION
};

struct unit {
    const char *name;
    uint64_t mult;
};

static const struct unit duration_units[] = {
    {"ms", 1}, {"s", SEC_MS}, {"m", MIN_MS}, {"h", HOUR_MS}};

/* K/M/G and KiB/MiB/GiB are binary because that is what people mean by "64K"
 * of buffer; KB/MB/GB are the SI units they spell. */
static const struct unit size_units[] = {
    {"B", 1},     {"K", KiB},      {"KiB", KiB}, {"KB", 1000}, {"M", MiB},
    {"MiB", MiB}, {"MB", 1000000}, {"G", GiB},   {"GiB", GiB}, {"GB", 1000000000},
};

/* "<digits>[.<digits>]<unit>" scaled exactly; a fraction that does not land
 * on a whole base unit is refused rather than rounded. */
static enum perr parse_scaled(const char *s, const struct unit *units, size_t nunits,
                              int unit_required, uint64_t max, uint64_t *out)
{
    if (!*s)
        return P_EMPTY;
    if (*s == '-')
        return P_NEGATIVE;
    const char *p = s;
    uint64_t whole = 0;
    int overflow = 0;
    if (!isdigit((unsigned char)*p))
        return P_SYNTAX;
    for (; isdigit((unsigned char)*p); p++) {
        if (__builtin_mul_overflow(whole, 10, &whole) ||
            __builtin_add_overflow(whole, (uint64_t)(*p - '0'), &whole))
            overflow = 1;
    }
    const char *frac = p, *frac_end = p;
    if (*p == '.') {
        frac = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        frac_end = p;
        if (frac == frac_end)
            return P_SYNTAX;
    }
    uint64_t mult = 1;
    if (!*p) {
        if (unit_required)
            return P_NO_UNIT;
    } else {
        size_t i;
        for (i = 0; i < nunits; i++)
            if (strcmp(p, units[i].name) == 0)
                break;
        if (i == nunits)
            return isalpha((unsigned char)*p) ? P_BAD_UNIT : P_SYNTAX;
        mult = units[i].mult;
    }
    if (overflow)
        return P_OVERFLOW;
    while (frac_end > frac && frac_end[-1] == '0')
        frac_end--;
    /* Nine significant digits are more than any real value needs, and the cap
     * keeps fnum * mult below 10^9 * 2^30, within 64 bits. */
    if (frac_end - frac > 9)
        return P_PRECISION;
    uint64_t fnum = 0, fden = 1;
    for (const char *f = frac; f < frac_end; f++) {
        fnum = fnum * 10 + (uint64_t)(*f - '0');
        fden *= 10;
    }
    if (fnum * mult % fden)
        return P_INEXACT;
    uint64_t v;
    if (__builtin_mul_overflow(whole, mult, &v) ||
        __builtin_add_overflow(v, fnum * mult / fden, &v))
        return P_OVERFLOW;
    if (v > max)
        return P_OVERFLOW;
    *out = v;
    return P_OK;
}

static enum perr parse_duration(const char *s, uint64_t *ms)
{
    return parse_scaled(s, duration_units, ARRAY_LEN(duration_units), 1, UINT64_MAX, ms);
}

static enum perr parse_size(const char *s, uint64_t *v)
{
    return parse_scaled(s, size_units, ARRAY_LEN(size_units), 0, SIZE_MAX, v);
}

static enum perr parse_uint(const char *s, uint64_t *v)
{
    if (!*s)
        return P_EMPTY;
    if (*s == '-')
        return P_NEGATIVE;
    uint64_t n = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return P_SYNTAX;
        if (__builtin_mul_overflow(n, 10, &n) ||
            __builtin_add_overflow(n, (uint64_t)(*p - '0'), &n))
            return P_OVERFLOW;
    }
    *v = n;
    return P_OK;
}

/* "<digits>[.<digits>]": prices and factors. Plain decimals only (no
 * exponent), so what a user reads in the file is what is billed. */
static enum perr parse_decimal(const char *s, uint64_t max, double *v)
{
    if (!*s)
        return P_EMPTY;
    if (*s == '-')
        return P_NEGATIVE;
    const char *p = s;
    size_t whole = 0, frac = 0;
    for (; isdigit((unsigned char)*p); p++)
        whole++;
    if (!whole)
        return P_SYNTAX;
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++)
            frac++;
        if (!frac)
            return P_SYNTAX;
    }
    if (*p)
        return P_SYNTAX;
    if (frac > 9)
        return P_PRECISION;
    double d = strtod(s, NULL);
    if (whole > 19 || d > (double)max)
        return P_OVERFLOW;
    *v = d;
    return P_OK;
}

/* %.9f without trailing zeros: decimals have at most 9 digits after the
 * point, so this reads back as the same value. */
static void fmt_decimal(double v, char *out, size_t len)
{
    snprintf(out, len, "%.9f", v);
    char *dot = strchr(out, '.');
    if (!dot)
        return;
    char *end = out + strlen(out);
    while (end > dot + 1 && end[-1] == '0')
        *--end = 0;
    if (end == dot + 1)
        *dot = 0;
}

int config_parse_duration_ms(const char *s, uint64_t *out_ms)
{
    return parse_duration(s, out_ms) == P_OK ? 0 : -1;
}

int config_parse_size(const char *s, size_t *out)
{
    uint64_t v;
    if (parse_size(s, &v) != P_OK)
        return -1;
    *out = (size_t)v;
    return 0;
}

int config_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* ---- formatting --------------------------------------------------------- */

static void fmt_duration(uint64_t ms, char *out, size_t len)
{
    if (ms == 0)
        snprintf(out, len, "0s");
    else if (ms % HOUR_MS == 0)
        snprintf(out, len, "%" PRIu64 "h", ms / HOUR_MS);
    else if (ms % MIN_MS == 0)
        snprintf(out, len, "%" PRIu64 "m", ms / MIN_MS);
    else if (ms % SEC_MS == 0)
        snprintf(out, len, "%" PRIu64 "s", ms / SEC_MS);
    else
        snprintf(out, len, "%" PRIu64 "ms", ms);
}

static void fmt_size(uint64_t v, char *out, size_t len)
{
    if (v != 0 && v % GiB == 0)
        snprintf(out, len, "%" PRIu64 "GiB", v / GiB);
    else if (v != 0 && v % MiB == 0)
        snprintf(out, len, "%" PRIu64 "MiB", v / MiB);
    else if (v != 0 && v % KiB == 0)
        snprintf(out, len, "%" PRIu64 "KiB", v / KiB);
    else
        snprintf(out, len, "%" PRIu64, v);
}

static void fmt_number(const struct key *k, uint64_t v, char *out, size_t len)
{
    if (k->type == T_DURATION)
        fmt_duration(v, out, len);
    else if (k->type == T_SIZE)
        fmt_size(v, out, len);
    else
        snprintf(out, len, "%" PRIu64, v);
}

/* Quotes user text for an error message: escaped, and shortened so one bad
 * value cannot crowd the rest of the message out of struct frost_err. */
static const char *quote(const char *s, char *out, size_t len)
{
    size_t o = 0;
    out[o++] = '"';
    for (; *s && o + 8 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < ' ' || c == 0x7f) {
            o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (*s) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = 0;
    return out;
}

/* ---- key table access --------------------------------------------------- */

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* True when name is the section part of some key ("http" for "http.x"). */
static int is_section(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < ARRAY_LEN(keys); i++)
        if (strncmp(keys[i].name, name, n) == 0 && keys[i].name[n] == '.')
            return 1;
    return 0;
}

static void *field(struct frost_config *c, const struct key *k)
{
    return (char *)c + k->off;
}

static const void *cfield(const struct frost_config *c, const struct key *k)
{
    return (const char *)c + k->off;
}

static uint64_t get_number(const struct frost_config *c, const struct key *k)
{
    const void *p = cfield(c, k);
    switch (k->type) {
    case T_SIZE:
        return *(const size_t *)p;
    case T_DURATION:
    case T_UINT:
        return *(const uint64_t *)p;
    case T_BOOL:
        return (uint64_t) * (const int *)p;
    case T_LEVEL:
        return (uint64_t) * (const enum log_level *)p;
    case T_STRING:
    case T_DECIMAL:
        break;
    }
    return 0;
}

/* Levenshtein distance counting a swap of neighbours as one edit (the
 * commonest typo); names too long to tabulate are simply "far". */
static unsigned edit_distance(const char *a, const char *b)
{
    enum { N = KEY_NAME_MAX };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= N || lb >= N)
        return UINT_MAX;
    static unsigned d[N][N];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

static size_t count_dots(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '.';
    return n;
}

/* Nearest key or section within two edits; failing that, a key whose last
 * component is the name (a top-level "header_timeout" → "http.header_timeout"). */
static const char *suggest(const char *name, char *out, size_t len)
{
    unsigned best = 3;
    out[0] = 0;
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        const char *kn = keys[i].name;
        unsigned dist = edit_distance(name, kn);
        if (dist < best && dist > 0) {
            best = dist;
            snprintf(out, len, "%s", kn);
        }
        /* A section is only offered at its own depth: "http.x" is not a typo
         * of "http". */
        for (const char *dot = strchr(kn, '.'); dot; dot = strchr(dot + 1, '.')) {
            char sect[KEY_NAME_MAX];
            snprintf(sect, sizeof(sect), "%.*s", (int)(dot - kn), kn);
            dist = edit_distance(name, sect);
            if (dist < best && dist > 0 && count_dots(sect) == count_dots(name)) {
                best = dist;
                snprintf(out, len, "%s", sect);
            }
        }
    }
    if (out[0])
        return out;
    const char *leaf = strrchr(name, '.');
    leaf = leaf ? leaf + 1 : name;
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        const char *kl = strrchr(keys[i].name, '.');
        if (kl && strcmp(kl + 1, leaf) == 0 && strcmp(keys[i].name, name) != 0) {
            snprintf(out, len, "%s", keys[i].name);
            return out;
        }
    }
    return NULL;
}

/* ---- setting values ----------------------------------------------------- */

/* "<origin>: <key>: <problem>", status 400 InvalidConfig. */
__attribute__((format(printf, 4, 5))) static int bad(struct frost_err *err, const char *origin,
                                                     const char *key, const char *fmt, ...)
{
    char problem[FROST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof(problem), fmt, ap);
    va_end(ap);
    if (origin)
        return frost_err_set(err, 400, "InvalidConfig", "%s: %s: %s", origin, key, problem);
    return frost_err_set(err, 400, "InvalidConfig", "%s: %s", key, problem);
}

static int unknown_key(struct frost_err *err, const char *origin, const char *name)
{
    char q[96], hint[KEY_NAME_MAX];
    const char *s = suggest(name, hint, sizeof(hint));
    return frost_err_set(err, 400, "InvalidConfig", "%s%sunknown key %s%s%s%s",
                         origin ? origin : "", origin ? ": " : "", quote(name, q, sizeof(q)),
                         s ? "; did you mean \"" : "", s ? s : "", s ? "\"?" : "");
}

static int number_error(struct frost_err *err, const char *origin, const struct key *k,
                        const char *text, enum perr pe)
{
    char q[96];
    quote(text, q, sizeof(q));
    const char *what = k->type == T_DURATION  ? "a duration"
                       : k->type == T_SIZE    ? "a size"
                       : k->type == T_DECIMAL ? "a decimal number"
                                              : "a number";
    const char *example = k->type == T_DURATION  ? "250ms, 10s, 5m, 1h"
                          : k->type == T_SIZE    ? "65536, 64KiB, 32MiB"
                          : k->type == T_DECIMAL ? "0, 14, 0.000042"
                                                 : "0, 64, 10000";
    switch (pe) {
    case P_OK:
        break;
    case P_EMPTY:
        return bad(err, origin, k->name, "needs a value, such as %s", example);
    case P_NO_UNIT:
        return bad(err, origin, k->name, "%s needs a unit (ms, s, m, h)", q);
    case P_BAD_UNIT:
        return bad(err, origin, k->name, "%s has an unknown unit (use %s)", q,
                   k->type == T_DURATION ? "ms, s, m, h" : "KiB, MiB, GiB, K, M, G, KB, MB, GB");
    case P_NEGATIVE:
        return bad(err, origin, k->name, "%s must not be negative", q);
    case P_OVERFLOW:
        return bad(err, origin, k->name, "%s is too large", q);
    case P_INEXACT:
        return bad(err, origin, k->name, "%s is not a whole number of %s", q,
                   k->type == T_DURATION ? "milliseconds" : "bytes");
    case P_PRECISION:
        return bad(err, origin, k->name, "%s has more than 9 digits after the decimal point", q);
    case P_SYNTAX:
        break;
    }
    return bad(err, origin, k->name, "%s is not %s (for example %s)", q, what, example);
}

/* value NULL means an explicit null: it clears a string and is refused
 * elsewhere. Nothing is stored unless the whole value is good. */
FROST_WUR static int set_value(struct frost_config *c, const struct key *k, const char *value,
                               const char *origin, struct frost_err *err)
{
    char q[96];
    void *p = field(c, k);
    if (!value && k->type != T_STRING)
        return bad(err, origin, k->name, "needs a value");

    switch (k->type) {
    case T_STRING: {
        size_t n = value ? strlen(value) : 0;
        if (n >= k->size)
            return bad(err, origin, k->name, "value is %zu bytes, longer than the limit of %zu", n,
                       k->size - 1);
        memmove(p, value ? value : "", n + 1); /* value may be this very field */
        return 0;
    }
    case T_LEVEL: {
        enum log_level lvl;
        if (log_level_parse(value, &lvl) < 0)
            return bad(err, origin, k->name,
                       "%s is not a log level (debug, info, warn, error, off)",
                       quote(value, q, sizeof(q)));
        *(enum log_level *)p = lvl;
        return 0;
    }
    case T_BOOL: {
        int b;
        if (config_parse_bool(value, &b) < 0)
            return bad(err, origin, k->name,
                       "%s is not a boolean (true/false, yes/no, on/off, 1/0)",
                       quote(value, q, sizeof(q)));
        *(int *)p = b;
        return 0;
    }
    case T_DURATION:
    case T_SIZE:
    case T_UINT: {
        uint64_t v;
        enum perr pe = k->type == T_DURATION ? parse_duration(value, &v)
                       : k->type == T_SIZE   ? parse_size(value, &v)
                                             : parse_uint(value, &v);
        if (pe != P_OK)
            return number_error(err, origin, k, value, pe);
        char lim[32];
        if (v < k->min) {
            fmt_number(k, k->min, lim, sizeof(lim));
            return bad(err, origin, k->name, "%s is below the minimum of %s",
                       quote(value, q, sizeof(q)), lim);
        }
        if (v > k->max) {
            fmt_number(k, k->max, lim, sizeof(lim));
            return bad(err, origin, k->name, "%s is above the maximum of %s",
                       quote(value, q, sizeof(q)), lim);
        }
        if (k->type == T_SIZE)
            *(size_t *)p = (size_t)v;
        else
            *(uint64_t *)p = v;
        return 0;
    }
    case T_DECIMAL: {
        double d;
        enum perr pe = parse_decimal(value, k->max, &d);
        if (pe != P_OK)
            return number_error(err, origin, k, value, pe);
        *(double *)p = d;
        return 0;
    }
    }
    return bad(err, origin, k->name, "internal error: unhandled type");
}

void config_defaults(struct frost_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        struct frost_err err = {0};
        /* A default that fails its own key's rules is a bug in the table. */
        if (set_value(c, &keys[i], keys[i].def, "default", &err) < 0) {
            fprintf(stderr, "frost: %s\n", err.msg);
            abort();
        }
    }
}

int config_set(struct frost_config *c, const char *key, const char *value, const char *origin,
               struct frost_err *err)
{
    const struct key *k = find_key(key);
    if (!k)
        return unknown_key(err, origin, key);
    return set_value(c, k, value, origin, err);
}

/* ---- YAML file ---------------------------------------------------------- */

struct load {
    const char *path;
    yaml_document_t *doc;
    struct frost_config *c;
    unsigned set_line[ARRAY_LEN(keys)]; /* line a key was set on, for duplicates */
    struct frost_err *err;
};

static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static unsigned line_of(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.line + 1;
}

static const char *kind_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a value";
}

/* Embedded NULs ("a\0b" in a double-quoted scalar) would silently cut the
 * value short when handled as a C string. */
static int has_nul(const yaml_node_t *n)
{
    return strlen((const char *)n->data.scalar.value) != n->data.scalar.length;
}

static int walk(struct load *l, const yaml_node_t *map, const char *prefix, int depth);

static int walk_pair(struct load *l, const yaml_node_t *kn, const yaml_node_t *vn,
                     const char *prefix, int depth)
{
    char origin[PATH_MAX + 32], full[KEY_NAME_MAX], q[96];
    snprintf(origin, sizeof(origin), "%s:%u", l->path, line_of(kn));
    if (kn->type != YAML_SCALAR_NODE)
        return frost_err_set(l->err, 400, "InvalidConfig", "%s: a key must be a name, not %s",
                             origin, kind_name(kn));
    const char *name = (const char *)kn->data.scalar.value;
    if (has_nul(kn))
        return frost_err_set(l->err, 400, "InvalidConfig", "%s: key %s contains a NUL byte", origin,
                             quote(name, q, sizeof(q)));
    int n = prefix ? snprintf(full, sizeof(full), "%s.%s", prefix, name)
                   : snprintf(full, sizeof(full), "%s", name);
    if (n < 0 || (size_t)n >= sizeof(full))
        return unknown_key(l->err, origin, full);

    const struct key *k = find_key(full);
    if (k) {
        if (vn->type != YAML_SCALAR_NODE)
            return bad(l->err, origin, full, "expected a single value, got %s", kind_name(vn));
        snprintf(origin, sizeof(origin), "%s:%u", l->path, line_of(vn));
        if (has_nul(vn))
            return bad(l->err, origin, full, "value contains a NUL byte");
        size_t idx = (size_t)(k - keys);
        if (l->set_line[idx])
            return bad(l->err, origin, full, "set twice (first on line %u)", l->set_line[idx]);
        l->set_line[idx] = line_of(kn);
        return set_value(l->c, k, is_null(vn) ? NULL : (const char *)vn->data.scalar.value, origin,
                         l->err);
    }
    if (!is_section(full))
        return unknown_key(l->err, origin, full);
    if (vn->type == YAML_MAPPING_NODE)
        return walk(l, vn, full, depth + 1);
    /* "http:" with everything under it commented out is an empty section. */
    if (is_null(vn))
        return 0;
    return bad(l->err, origin, full, "expected a mapping of %s.* keys, got %s", full,
               kind_name(vn));
}

static int walk(struct load *l, const yaml_node_t *map, const char *prefix, int depth)
{
    if (depth > MAX_DEPTH)
        return frost_err_set(l->err, 400, "InvalidConfig", "%s:%u: mappings nested too deeply",
                             l->path, line_of(map));
    for (const yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        const yaml_node_t *kn = yaml_document_get_node(l->doc, pair->key);
        const yaml_node_t *vn = yaml_document_get_node(l->doc, pair->value);
        if (!kn || !vn)
            return frost_err_set(l->err, 400, "InvalidConfig", "%s: malformed document", l->path);
        if (walk_pair(l, kn, vn, prefix, depth) < 0)
            return -1;
    }
    return 0;
}

int config_yaml_syntax_error(const yaml_parser_t *p, const char *path, const char *text, size_t len,
                             const char *code, struct frost_err *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return frost_err_set(err, 500, "InternalError", "%s: out of memory parsing YAML", path);
    char ctx[128] = "";
    if (p->context)
        snprintf(ctx, sizeof(ctx), " (%s on line %zu)", p->context, p->context_mark.line + 1);
    /* libyaml's words for a tab indent do not mention tabs. */
    size_t at = p->problem_mark.index;
    const char *tab = at < len && text[at] == '\t' ? "; YAML indents with spaces, not tabs" : "";
    return frost_err_set(err, 400, code, "%s:%zu: YAML syntax error: %s%s%s", path,
                         p->problem_mark.line + 1, p->problem ? p->problem : "malformed", ctx, tab);
}

static int read_file(const char *path, struct buf *out, struct frost_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return frost_err_set(err, 400, "InvalidConfig", "%s: cannot open: %s", path,
                             strerror(errno));
    if (buf_read_fd(out, fd) == 0)
        return 0;
    if (errno == EMSGSIZE)
        return frost_err_set(err, 400, "InvalidConfig",
                             "%s: file is larger than %d bytes; is this a config file?", path,
                             CONFIG_FILE_MAX);
    return frost_err_set(err, 400, "InvalidConfig", "%s: cannot read: %s", path, strerror(errno));
}

int config_load_file(struct frost_config *c, const char *path, struct frost_err *err)
{
    /* +4096: buf_reserve asks for a whole read's room even for the last bytes. */
    struct buf text = BUF_INIT(CONFIG_FILE_MAX + 4096);
    yaml_parser_t parser;
    yaml_document_t doc;
    int parser_ok = 0, doc_ok = 0, r = -1;
    /* Work on a copy so a file that fails halfway leaves c as it was. */
    struct frost_config tmp = *c;

    if (read_file(path, &text, err) < 0)
        goto out;
    if (!yaml_parser_initialize(&parser)) {
        frost_err_set(err, 500, "InternalError", "%s: out of memory parsing YAML", path);
        goto out;
    }
    parser_ok = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text.data ? text.data : ""),
                                 text.len);
    if (!yaml_parser_load(&parser, &doc)) {
        config_yaml_syntax_error(&parser, path, text.data, text.len, "InvalidConfig", err);
        goto out;
    }
    doc_ok = 1;

    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type != YAML_MAPPING_NODE && !is_null(root)) {
        frost_err_set(err, 400, "InvalidConfig",
                      "%s:%u: expected a mapping of keys (key: value) at the top level, got %s",
                      path, line_of(root), kind_name(root));
        goto out;
    }
    if (root && root->type == YAML_MAPPING_NODE) {
        struct load l = {.path = path, .doc = &doc, .c = &tmp, .err = err};
        if (walk(&l, root, NULL, 0) < 0)
            goto out;
    }
    /* A second document would be silently ignored otherwise. */
    yaml_document_delete(&doc);
    doc_ok = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        config_yaml_syntax_error(&parser, path, text.data, text.len, "InvalidConfig", err);
        goto out;
    }
    doc_ok = 1;
    root = yaml_document_get_root_node(&doc);
    if (root) {
        frost_err_set(err, 400, "InvalidConfig", "%s:%u: only one YAML document is allowed", path,
                      line_of(root));
        goto out;
    }
    *c = tmp;
    r = 0;
out:
    if (doc_ok)
        yaml_document_delete(&doc);
    if (parser_ok)
        yaml_parser_delete(&parser);
    buf_free(&text);
    return r;
}

/* ---- environment -------------------------------------------------------- */

#define ENV_PREFIX "FROST_"

/* FROST_HTTP_HEADER_TIMEOUT names http.header_timeout: case-folded, with '_'
 * standing for both '.' and '_' of the key. */
static const struct key *env_key(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        const char *kn = keys[i].name;
        size_t j = 0;
        for (; j < len && kn[j]; j++) {
            char e = (char)tolower((unsigned char)name[j]);
            if (!(e == kn[j] || (e == '_' && kn[j] == '.')))
                break;
        }
        if (j == len && !kn[j])
            return &keys[i];
    }
    return NULL;
}

/* The list only feeds a warning, so a name that does not fit under the
 * caller's cap is left out rather than failing start-up; only running out of
 * memory is an error. */
static int note_unknown(struct buf *unknown, const char *name, size_t len)
{
    size_t need = len + (unknown->len ? 1 : 0);
    if (unknown->limit && (need > unknown->limit || unknown->len > unknown->limit - need))
        return 0;
    if (unknown->len && buf_append_str(unknown, " ") < 0)
        return -1;
    return buf_append(unknown, name, len);
}

/* Variables of the frost CLI (docs/cli.md): not server settings, and no reason
 * to warn when a shell exports them for both. */
static bool is_client_var(const char *name, size_t len)
{
    static const char *const client[] = {"FROST_ENDPOINT", "FROST_ACCESS_KEY_ID",
                                         "FROST_ACCESS_KEY_SECRET"};
    for (size_t i = 0; i < ARRAY_LEN(client); i++) {
        if (strlen(client[i]) == len && strncmp(client[i], name, len) == 0)
            return true;
    }
    return false;
}

int config_apply_env(struct frost_config *c, char *const *envp, struct buf *unknown,
                     struct frost_err *err)
{
    if (!envp)
        return 0;
    struct frost_config tmp = *c;
    const size_t plen = strlen(ENV_PREFIX);
    for (char *const *e = envp; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, ENV_PREFIX, plen) != 0)
            continue;
        const char *name = *e + plen;
        size_t nlen = (size_t)(eq - name);
        const struct key *k = env_key(name, nlen);
        char var[KEY_NAME_MAX + 16];
        snprintf(var, sizeof(var), "%.*s", (int)(eq - *e), *e);
        if (!k) {
            if (is_client_var(*e, (size_t)(eq - *e)))
                continue;
            if (unknown && note_unknown(unknown, *e, (size_t)(eq - *e)) < 0)
                return frost_err_errno(err, errno, "recording unknown variable %s", var);
            continue;
        }
        if (set_value(&tmp, k, eq + 1, var, err) < 0)
            return -1;
    }
    *c = tmp;
    return 0;
}

/* ---- validation --------------------------------------------------------- */

static int parse_port(const char *s)
{
    if (!*s || strlen(s) > 5)
        return -1;
    int port = 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        port = port * 10 + (*s - '0');
    }
    return port <= 65535 ? port : -1;
}

static int check_listen(const char *s, struct frost_err *err)
{
    char q[96];
    if (strncmp(s, "unix:", 5) == 0) {
        const char *path = s + 5;
        size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
        if (path[0] != '/')
            return bad(err, NULL, "listen", "%s: a unix socket path must be absolute",
                       quote(s, q, sizeof(q)));
        if (strlen(path) > max)
            return bad(err, NULL, "listen",
                       "unix socket path is %zu bytes; the system allows at most %zu", strlen(path),
                       max);
        return 0;
    }
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        char host[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            goto malformed;
        snprintf(host, sizeof(host), "%.*s", (int)(close - s - 1), s + 1);
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return bad(err, NULL, "listen", "%s: not an IPv6 address inside the brackets",
                       quote(s, q, sizeof(q)));
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || colon == s)
            goto malformed;
        for (const char *h = s; h < colon; h++) {
            if (*h == ':')
                return bad(err, NULL, "listen",
                           "%s: put an IPv6 address in brackets, as in [::1]:9800",
                           quote(s, q, sizeof(q)));
            if (!isalnum((unsigned char)*h) && *h != '.' && *h != '-')
                goto malformed;
        }
        port = colon + 1;
    }
    if (parse_port(port) < 0)
        return bad(err, NULL, "listen", "%s: the port must be a number from 0 to 65535",
                   quote(s, q, sizeof(q)));
    return 0;
malformed:
    return bad(err, NULL, "listen", "%s is not host:port, [ipv6]:port or unix:/absolute/path",
               quote(s, q, sizeof(q)));
}

int config_validate(const struct frost_config *c, struct frost_err *err)
{
    /* Fields may have been set by code rather than through config_set, so the
     * per-key rules are checked again here. */
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        const struct key *k = &keys[i];
        if (k->type == T_STRING) {
            if (!memchr(cfield(c, k), 0, k->size))
                return bad(err, NULL, k->name, "value is not terminated");
            continue;
        }
        if (k->type == T_DECIMAL) {
            double d = *(const double *)cfield(c, k);
            if (!(d >= 0 && d <= (double)k->max))
                return bad(err, NULL, k->name, "%g is not a decimal from 0 to %" PRIu64, d, k->max);
            continue;
        }
        uint64_t v = get_number(c, k);
        char have[32], lim[32];
        if (k->type == T_LEVEL || k->type == T_BOOL) {
            if (v > k->max)
                return bad(err, NULL, k->name, "invalid value %" PRIu64, v);
            continue;
        }
        fmt_number(k, v, have, sizeof(have));
        if (v < k->min) {
            fmt_number(k, k->min, lim, sizeof(lim));
            return bad(err, NULL, k->name, "%s is below the minimum of %s", have, lim);
        }
        if (v > k->max) {
            fmt_number(k, k->max, lim, sizeof(lim));
            return bad(err, NULL, k->name, "%s is above the maximum of %s", have, lim);
        }
    }
    if (!c->data_dir[0])
        return bad(err, NULL, "data_dir", "must not be empty");
    unsigned first, last;
    if (config_port_range(c->runtime.port_range, &first, &last) < 0)
        return bad(err, NULL, "runtime.port_range",
                   "\"%s\" is not FIRST-LAST with 1024 <= FIRST <= LAST <= 65535",
                   c->runtime.port_range);
    return check_listen(c->listen, err);
}

int config_port_range(const char *s, unsigned *first, unsigned *last)
{
    char tail;
    if (sscanf(s, "%u-%u%c", first, last, &tail) != 2)
        return -1;
    return *first >= 1024 && *first <= *last && *last <= 65535 ? 0 : -1;
}

/* ---- dump --------------------------------------------------------------- */

/* Length of the UTF-8 sequence at s and its code point in *cp; 0 when the
 * bytes are not UTF-8 (libyaml also refuses overlongs and surrogates). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    size_t n;
    uint32_t v;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        v = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        v = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        v = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10ffff ||
        (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Characters libyaml will not take raw inside a double-quoted scalar: C0 and
 * C1 controls, DEL and BOM are refused, and NEL/LS/PS are line breaks that
 * would be folded into a space. */
static int needs_escape(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0xfeff || cp == 0xfffe || cp == 0xffff;
}

/* Double-quoted always: values like "[::1]:9800" or "" mean something else
 * plain. Bytes that are not UTF-8 cannot be written as YAML at all. */
static int dump_string(struct buf *out, const char *s)
{
    if (buf_append_str(out, "\"") < 0)
        return -1;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        size_t n = utf8_decode(p, &cp);
        int r;
        if (!n) {
            errno = EILSEQ;
            return -1;
        }
        if (cp == '"' || cp == '\\')
            r = buf_printf(out, "\\%c", (char)cp);
        else if (needs_escape(cp))
            r = buf_printf(out, cp <= 0xff ? "\\x%02" PRIx32 : "\\u%04" PRIx32, cp);
        else
            r = buf_append(out, p, n);
        if (r < 0)
            return -1;
        p += n;
    }
    return buf_append_str(out, "\"");
}

int config_dump(const struct frost_config *c, struct buf *out)
{
    const char *prev = "";
    size_t prev_sect = 0;
    if (buf_append_str(out, "# Frost server configuration (effective values)\n") < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        const struct key *k = &keys[i];
        const char *dot = strrchr(k->name, '.');
        size_t sect = dot ? (size_t)(dot - k->name) : 0;
        /* Keys of a section are adjacent in the table, so a header is due
         * whenever the section differs from the previous key's. */
        if (sect && (sect != prev_sect || strncmp(prev, k->name, sect) != 0)) {
            if (buf_printf(out, "%.*s:\n", (int)sect, k->name) < 0)
                return -1;
        }
        prev = k->name;
        prev_sect = sect;
        if (buf_printf(out, "%s%s: ", sect ? "  " : "", k->name + (sect ? sect + 1 : 0)) < 0)
            return -1;
        int r;
        char num[32];
        switch (k->type) {
        case T_STRING:
            r = dump_string(out, (const char *)cfield(c, k));
            break;
        case T_LEVEL:
            r = buf_append_str(out, log_level_name(*(const enum log_level *)cfield(c, k)));
            break;
        case T_BOOL:
            r = buf_append_str(out, *(const int *)cfield(c, k) ? "true" : "false");
            break;
        case T_DECIMAL:
            fmt_decimal(*(const double *)cfield(c, k), num, sizeof(num));
            r = buf_append_str(out, num);
            break;
        default:
            fmt_number(k, get_number(c, k), num, sizeof(num));
            r = buf_append_str(out, num);
            break;
        }
        if (r < 0 || buf_append_str(out, "\n") < 0)
            return -1;
    }
    return 0;
}
