/* The Prometheus text exposition format, version 0.0.4: HELP and TYPE lines,
 * samples grouped by family, label values escaped, histograms as cumulative
 * _bucket lines ending with le="+Inf", then _sum and _count. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

const double metrics_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
const size_t metrics_latency_n = ARRAY_LEN(metrics_latency_bounds);
const double metrics_cold_start_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1,     2.5,    5,     10,   30,    60,   120, 300};
const size_t metrics_cold_start_n = ARRAY_LEN(metrics_cold_start_bounds);
const double metrics_freeze_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,   30};
const size_t metrics_freeze_n = ARRAY_LEN(metrics_freeze_bounds);

void metrics_hist_init(struct metrics_hist *h, const double *bounds, size_t n_bounds)
{
    assert(n_bounds <= METRICS_HIST_MAX_BOUNDS);
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->n_bounds = n_bounds;
}

void metrics_hist_observe(struct metrics_hist *h, double v)
{
    if (isnan(v))
        return;
    /* Few bounds: a linear scan beats a binary search's branches. */
    size_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

/* ------------------------------------------------------------------ writer */

#define MAX_FAMILIES 256

struct metrics_writer {
    struct buf *out;
    size_t errors;
    char error[200];
    bool full;
    /* The current family. */
    char name[128];
    size_t name_len;
    enum metrics_type type;
    bool open;
    /* Names already written, to refuse a second family of the same name
     * (collectors of other modules write here too). */
    /* The le texts of the last histogram's bounds (most histograms share them). */
    const double *le_bounds;
    size_t le_n;
    char le[METRICS_HIST_MAX_BOUNDS + 1][32];
    uint8_t le_len[METRICS_HIST_MAX_BOUNDS + 1];
    uint32_t seen_hash[MAX_FAMILIES];
    char *seen[MAX_FAMILIES];
    size_t n_seen;
};

struct metrics_writer *metrics_writer_new(struct buf *out)
{
    struct metrics_writer *w = calloc(1, sizeof(*w));
    if (w)
        w->out = out;
    return w;
}

void metrics_writer_free(struct metrics_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_seen; i++)
        free(w->seen[i]);
    free(w);
}

size_t metrics_writer_errors(const struct metrics_writer *w)
{
    return w->errors;
}

const char *metrics_writer_error(const struct metrics_writer *w)
{
    return w->error;
}

bool metrics_writer_full(const struct metrics_writer *w)
{
    return w->full;
}

static int refuse(struct metrics_writer *w, const char *fmt, const char *what)
    __attribute__((format(printf, 2, 0)));

static int refuse(struct metrics_writer *w, const char *fmt, const char *what)
{
    if (!w->errors) {
        /* The format string is one of ours; what is the offending name. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(w->error, sizeof(w->error), fmt, what);
#pragma GCC diagnostic pop
    }
    w->errors++;
    return -1;
}

static int put(struct metrics_writer *w, const char *s, size_t n)
{
    struct buf *b = w->out;
    /* Most appends fit the allocation: skip buf_append's checks then. */
    if (!w->full && b->data && b->len + n < b->cap && (!b->limit || b->len + n <= b->limit)) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
    }
    if (w->full)
        return -1;
    if (buf_append(b, s, n) < 0) {
        w->full = true;
        refuse(w, "%s", "the output buffer is full");
        return -1;
    }
    return 0;
}

static bool name_ok(const char *s, bool metric)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return metric || strncmp(s, "__", 2) != 0;
}

static uint32_t fnv(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Appends s escaped for a HELP line (help) or a label value: backslash and
 * newline always, the double quote in label values; bytes that are not UTF-8
 * become U+FFFD so that the exposition stays valid UTF-8. */
static int put_escaped(struct metrics_writer *w, const char *s, bool label)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;
    while (*p) {
        unsigned char c = *p;
        const char *rep = NULL;
        if (c == '\\')
            rep = "\\\\";
        else if (c == '\n')
            rep = "\\n";
        else if (c == '"' && label)
            rep = "\\\"";
        else if (c >= 0x80) {
            /* Length of a well-formed sequence (RFC 3629), 0 if malformed. */
            size_t n = c >= 0xc2 && c <= 0xdf   ? 2
                       : c >= 0xe0 && c <= 0xef ? 3
                       : c >= 0xf0 && c <= 0xf4 ? 4
                                                : 0;
            for (size_t k = 1; k < n; k++) {
                if ((p[k] & 0xc0) != 0x80) {
                    n = 0; /* also stops at the terminating NUL */
                    break;
                }
            }
            if (n == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f)))
                n = 0; /* overlong, or a surrogate */
            if (n == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f)))
                n = 0;
            if (n) {
                p += n;
                continue;
            }
            rep = "\xef\xbf\xbd";
        }
        if (!rep) {
            p++;
            continue;
        }
        if (put(w, (const char *)run, (size_t)(p - run)) < 0 || put(w, rep, strlen(rep)) < 0)
            return -1;
        p++;
        run = p;
    }
    return put(w, (const char *)run, (size_t)(p - run));
}

int metrics_family(struct metrics_writer *w, const char *name, enum metrics_type type,
                   const char *help)
{
    w->open = false;
    if (!name_ok(name, true) || strlen(name) >= sizeof(w->name) - 16)
        return refuse(w, "bad metric name \"%s\"", name ? name : "");
    uint32_t h = fnv(name);
    for (size_t i = 0; i < w->n_seen; i++) {
        if (w->seen_hash[i] == h && strcmp(w->seen[i], name) == 0)
            return refuse(w, "family %s written twice", name);
    }
    if (w->n_seen == MAX_FAMILIES)
        return refuse(w, "too many families (at %s)", name);
    char *copy = strdup(name);
    if (!copy)
        return refuse(w, "out of memory at family %s", name);
    w->seen_hash[w->n_seen] = h;
    w->seen[w->n_seen++] = copy;
    static const char *const types[] = {"counter", "gauge", "histogram"};
    if (put(w, "# HELP ", 7) < 0 || put(w, name, strlen(name)) < 0 || put(w, " ", 1) < 0 ||
        put_escaped(w, help ? help : "", false) < 0 || put(w, "\n# TYPE ", 8) < 0 ||
        put(w, name, strlen(name)) < 0 || put(w, " ", 1) < 0 ||
        put(w, types[type], strlen(types[type])) < 0 || put(w, "\n", 1) < 0)
        return -1;
    w->name_len = strlen(name);
    memcpy(w->name, name, w->name_len + 1);
    w->type = type;
    w->open = true;
    return 0;
}

/* "{a="x",b="y"" without the closing brace (extra labels may follow), or
 * nothing when there are no labels and no extra. */
static int put_labels(struct metrics_writer *w, const struct metrics_label *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (put(w, i ? "," : "{", 1) < 0 || put(w, l[i].name, strlen(l[i].name)) < 0 ||
            put(w, "=\"", 2) < 0 || put_escaped(w, l[i].value ? l[i].value : "", true) < 0 ||
            put(w, "\"", 1) < 0)
            return -1;
    }
    return 0;
}

static int check_labels(struct metrics_writer *w, const struct metrics_label *l, size_t n,
                        bool hist)
{
    for (size_t i = 0; i < n; i++) {
        if (!name_ok(l[i].name, false))
            return refuse(w, "bad label name \"%s\"", l[i].name ? l[i].name : "");
        if (hist && strcmp(l[i].name, "le") == 0)
            return refuse(w, "label le in histogram %s", w->name);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(l[i].name, l[j].name) == 0)
                return refuse(w, "label %s given twice", l[i].name);
        }
    }
    return 0;
}

static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* A value as Prometheus reads it: integers exactly, others with enough
 * digits to read back the same double. */
static size_t fmt_double(char *out, size_t len, double v)
{
    if (isnan(v))
        return (size_t)snprintf(out, len, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        if (v < 0) {
            out[0] = '-';
            return 1 + fmt_u64(out + 1, (uint64_t)-v);
        }
        return fmt_u64(out, (uint64_t)v);
    }
    int n = snprintf(out, len, "%.15g", v);
    if (strtod(out, NULL) != v)
        n = snprintf(out, len, "%.17g", v);
    return (size_t)n;
}

static int put_value_line(struct metrics_writer *w, const char *num, size_t n)
{
    char tail[48];
    tail[0] = ' ';
    memcpy(tail + 1, num, n);
    tail[n + 1] = '\n';
    return put(w, tail, n + 2);
}

static int sample_head(struct metrics_writer *w, const struct metrics_label *labels, size_t n,
                       const char *suffix, bool hist)
{
    if (!w->open)
        return refuse(w, "%s", "a sample outside a family (or after a refused one)");
    if ((w->type == METRICS_HISTOGRAM) != hist)
        return refuse(w, "wrong sample kind for family %s", w->name);
    if (check_labels(w, labels, n, hist) < 0)
        return -1;
    if (put(w, w->name, w->name_len) < 0 || put(w, suffix, strlen(suffix)) < 0 ||
        put_labels(w, labels, n) < 0)
        return -1;
    return 0;
}

int metrics_sample(struct metrics_writer *w, const struct metrics_label *labels, size_t n_labels,
                   double value)
{
    if (sample_head(w, labels, n_labels, "", false) < 0)
        return -1;
    char num[40];
    size_t n = fmt_double(num, sizeof(num), value);
    if ((n_labels && put(w, "}", 1) < 0) || put_value_line(w, num, n) < 0)
        return -1;
    return 0;
}

int metrics_sample_u64(struct metrics_writer *w, const struct metrics_label *labels,
                       size_t n_labels, uint64_t value)
{
    if (sample_head(w, labels, n_labels, "", false) < 0)
        return -1;
    char num[24];
    size_t n = fmt_u64(num, value);
    if ((n_labels && put(w, "}", 1) < 0) || put_value_line(w, num, n) < 0)
        return -1;
    return 0;
}

int metrics_sample_hist(struct metrics_writer *w, const struct metrics_label *labels,
                        size_t n_labels, const struct metrics_hist *h)
{
    size_t head_at = w->out->len;
    if (sample_head(w, labels, n_labels, "_bucket", true) < 0)
        return -1;
    if (w->le_bounds != h->bounds || w->le_n != h->n_bounds) {
        for (size_t i = 0; i <= h->n_bounds; i++) {
            int n = i < h->n_bounds ? snprintf(w->le[i], sizeof(w->le[i]), "%g", h->bounds[i])
                                    : snprintf(w->le[i], sizeof(w->le[i]), "+Inf");
            w->le_len[i] = (uint8_t)n;
        }
        w->le_bounds = h->bounds;
        w->le_n = h->n_bounds;
    }
    /* The first bucket line is open; the others repeat its head, copied
     * from the output rather than escaped again. */
    size_t head_len = w->out->len - head_at; /* "name_bucket{labels" */
    uint64_t cum = 0;
    char num[48];
    for (size_t i = 0; i <= h->n_bounds; i++) {
        if (i) {
            if (w->full || buf_reserve(w->out, head_len) < 0) {
                w->full = true;
                return refuse(w, "%s", "the output buffer is full");
            }
            memcpy(w->out->data + w->out->len, w->out->data + head_at, head_len);
            w->out->len += head_len;
            w->out->data[w->out->len] = 0;
        }
        cum += h->counts[i];
        if (put(w, n_labels ? ",le=\"" : "{le=\"", 5) < 0 || put(w, w->le[i], w->le_len[i]) < 0 ||
            put(w, "\"}", 2) < 0)
            return -1;
        size_t n = fmt_u64(num, cum);
        if (put_value_line(w, num, n) < 0)
            return -1;
    }
    char v[40];
    size_t n = fmt_double(v, sizeof(v), h->sum);
    if (put(w, w->name, w->name_len) < 0 || put(w, "_sum", 4) < 0 ||
        put_labels(w, labels, n_labels) < 0 || (n_labels && put(w, "}", 1) < 0) ||
        put_value_line(w, v, n) < 0)
        return -1;
    n = fmt_u64(v, h->count);
    if (put(w, w->name, w->name_len) < 0 || put(w, "_count", 6) < 0 ||
        put_labels(w, labels, n_labels) < 0 || (n_labels && put(w, "}", 1) < 0) ||
        put_value_line(w, v, n) < 0)
        return -1;
    return 0;
}
