/* TZif (RFC 8536) and POSIX TZ string reader, local↔UTC conversion, civil
 * calendar. Written from RFC 8536 and POSIX.1-2017 §8.3 (TZ). */
#include "scale/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 8536 §3.2: UT offsets should lie in [-25:59:59, +25:59:59]; POSIX TZ
 * offsets in [-24:59:59, +24:59:59]. Anything outside is a broken file. */
#define UTOFF_MIN  (-93599)
#define UTOFF_MAX  93599
#define TYPES_MAX  256 /* a transition's type index is one byte */
#define FOOTER_MAX 256
#define DAY_S      86400
#define WINDOW_MAX 16              /* offset changes within to_utc's ±27 h window */
#define REACH_S    (27 * 3600)     /* > largest |offset|, so a window always covers L */
#define SPAN_S     (400LL * DAY_S) /* next_transition steps */
#define RULE_HOURS 167             /* RFC 8536 §3.3.1 */

struct ttype {
    int32_t off;
    bool isdst;
    char abbr[SCALE_TZ_ABBR_MAX];
};

enum rule_kind {
    RULE_J1 = 1, /* Jn: 1–365, February 29 never counted */
    RULE_J0,     /* n: 0–365, February 29 counted */
    RULE_M,      /* Mm.w.d: day d of week w (5 = last) of month m */
};

struct rule_date {
    enum rule_kind kind;
    int n, m, w, d;
    int32_t time; /* seconds after local midnight, -167 h … +167 h */
};

/* The footer (or a TZ string given alone): the zone's rule after its last
 * transition. */
struct rule {
    bool present;
    bool has_dst;
    struct ttype std, dst;
    struct rule_date start, end; /* into DST (in standard time), out of it (in DST) */
};

struct scale_tz {
    char name[SCALE_TZ_NAME_MAX + 1];
    size_t ntrans;
    int64_t *times; /* strictly ascending */
    uint8_t *idx;   /* < ntypes */
    size_t ntypes;  /* >= 1 when there is no rule */
    struct ttype *types;
    struct rule rule;
};

struct trans {
    int64_t t;
    int32_t before, after;
};

static const struct ttype utc_type = {0, false, "UTC"};

/* ---- calendar ------------------------------------------------------------ */

int64_t scale_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

bool scale_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int scale_month_days(int64_t y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return md[m - 1] + (m == 2 && scale_leap_year(y));
}

/* Days from 0000-01-01 (proleptic) to y-01-01: 365 a year plus one for each
 * leap year in [0, y). Multiples of k in [0, y) number ceil(y / k). */
static int64_t year_start(int64_t y)
{
    return 365 * y + scale_floor_div(y + 3, 4) - scale_floor_div(y + 99, 100) +
           scale_floor_div(y + 399, 400);
}

#define EPOCH_FROM_YEAR0 719528 /* year_start(1970) */

static const int month_start[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

int64_t scale_days_from_civil(int64_t y, int m, int d)
{
    if (m < 1 || m > 12)
        m = 1;
    return year_start(y) - EPOCH_FROM_YEAR0 + month_start[m - 1] + (m > 2 && scale_leap_year(y)) +
           d - 1;
}

void scale_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + EPOCH_FROM_YEAR0;
    int64_t yy = scale_floor_div(z * 400, 146097); /* 146097 days per 400 years */
    while (year_start(yy) > z)
        yy--;
    while (year_start(yy + 1) <= z)
        yy++;
    int doy = (int)(z - year_start(yy));
    int leap = scale_leap_year(yy);
    int mm = 12;
    while (mm > 1 && doy < month_start[mm - 1] + (mm > 2 ? leap : 0))
        mm--;
    *y = yy;
    *m = mm;
    *d = doy - month_start[mm - 1] - (mm > 2 ? leap : 0) + 1;
}

int scale_weekday(int64_t days)
{
    int64_t r = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(r < 0 ? r + 7 : r);
}

static int64_t clamp_t(int64_t t)
{
    if (t > SCALE_TZ_T_LIMIT)
        return SCALE_TZ_T_LIMIT;
    if (t < -SCALE_TZ_T_LIMIT)
        return -SCALE_TZ_T_LIMIT;
    return t;
}

static int64_t year_of(int64_t t)
{
    int64_t y;
    int m, d;
    scale_civil_from_days(scale_floor_div(t, DAY_S), &y, &m, &d);
    return y;
}

/* ---- POSIX TZ rule ------------------------------------------------------- */

static int64_t rule_day(const struct rule_date *r, int64_t y)
{
    int64_t jan1 = scale_days_from_civil(y, 1, 1);
    switch (r->kind) {
    case RULE_J1:
        return jan1 + r->n - 1 + (r->n >= 60 && scale_leap_year(y));
    case RULE_J0:
        return jan1 + r->n;
    case RULE_M:
    default: {
        int64_t first = scale_days_from_civil(y, r->m, 1);
        int day = (r->d - scale_weekday(first) + 7) % 7 + (r->w - 1) * 7;
        int mdays = scale_month_days(y, r->m);
        while (day >= mdays)
            day -= 7;
        return first + day;
    }
    }
}

static int64_t rule_start(const struct rule *r, int64_t y)
{
    return rule_day(&r->start, y) * DAY_S + r->start.time - r->std.off;
}

static int64_t rule_end(const struct rule *r, int64_t y)
{
    return rule_day(&r->end, y) * DAY_S + r->end.time - r->dst.off;
}

/* The type in force at t: that of the latest rule event <= t. Events of the
 * same instant (a rule with DST all year, like "EST5EDT,0/0,J365/25") resolve
 * to DST. Years y-2 … y+1 cover rule times up to ±167 h. */
static const struct ttype *rule_type(const struct rule *r, int64_t t)
{
    if (!r->has_dst)
        return &r->std;
    int64_t y = year_of(t);
    int64_t best = INT64_MIN;
    bool dst = false;
    for (int64_t yy = y - 2; yy <= y + 1; yy++) {
        int64_t e = rule_end(r, yy), s = rule_start(r, yy);
        if (e <= t && e > best) {
            best = e;
            dst = false;
        }
        if (s <= t && s >= best) {
            best = s;
            dst = true;
        }
    }
    return dst ? &r->dst : &r->std;
}

/* ---- lookups -------------------------------------------------------------- */

/* Index of the last transition <= t; precondition: times[0] <= t. */
static size_t last_at_or_before(const struct scale_tz *tz, int64_t t)
{
    size_t lo = 0, hi = tz->ntrans; /* times[lo] <= t < times[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the first transition > t, or ntrans. */
static size_t first_after(const struct scale_tz *tz, int64_t t)
{
    size_t lo = 0, hi = tz->ntrans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const struct ttype *type_at(const struct scale_tz *tz, int64_t t)
{
    if (!tz)
        return &utc_type;
    if (tz->ntrans == 0)
        return tz->rule.present ? rule_type(&tz->rule, t) : &tz->types[0];
    if (t < tz->times[0])
        return &tz->types[0]; /* RFC 8536 §3.2: type 0 before the first transition */
    if (t >= tz->times[tz->ntrans - 1] && tz->rule.present)
        return rule_type(&tz->rule, t);
    return &tz->types[tz->idx[last_at_or_before(tz, t)]];
}

void scale_tz_lookup(const struct scale_tz *tz, int64_t utc_s, struct scale_tz_info *out)
{
    const struct ttype *tt = type_at(tz, clamp_t(utc_s));
    out->offset = tt->off;
    out->isdst = tt->isdst;
    memcpy(out->abbr, tt->abbr, sizeof(out->abbr));
}

int32_t scale_tz_offset(const struct scale_tz *tz, int64_t utc_s)
{
    return type_at(tz, clamp_t(utc_s))->off;
}

const char *scale_tz_name(const struct scale_tz *tz)
{
    return tz ? tz->name : "UTC";
}

static bool emit(const struct scale_tz *tz, int64_t c, struct trans *out, size_t max, size_t *n)
{
    if (*n >= max)
        return false;
    int32_t b = type_at(tz, c - 1)->off, a = type_at(tz, c)->off;
    if (a != b)
        out[(*n)++] = (struct trans){c, b, a};
    return true;
}

/* Offset changes at instants in (lo, hi], ascending, at most max of them.
 * Precondition: lo and hi within ±SCALE_TZ_T_LIMIT and hi - lo <= SPAN_S. */
static size_t window(const struct scale_tz *tz, int64_t lo, int64_t hi, struct trans *out,
                     size_t max)
{
    size_t n = 0;
    if (!tz || hi <= lo)
        return 0;
    for (size_t i = first_after(tz, lo); i < tz->ntrans && tz->times[i] <= hi; i++)
        if (!emit(tz, tz->times[i], out, max, &n))
            return n;
    if (!tz->rule.present || !tz->rule.has_dst)
        return n;
    int64_t from = lo;
    if (tz->ntrans > 0 && tz->times[tz->ntrans - 1] > from)
        from = tz->times[tz->ntrans - 1];
    if (from >= hi)
        return n;
    int64_t ev[16];
    size_t nev = 0;
    for (int64_t y = year_of(from) - 1; y <= year_of(hi) + 1 && nev + 2 <= ARRAY_LEN(ev); y++) {
        ev[nev++] = rule_start(&tz->rule, y);
        ev[nev++] = rule_end(&tz->rule, y);
    }
    for (size_t i = 1; i < nev; i++) /* insertion sort: a handful */
        for (size_t j = i; j > 0 && ev[j - 1] > ev[j]; j--) {
            int64_t x = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = x;
        }
    for (size_t i = 0; i < nev; i++) {
        if (ev[i] <= from || ev[i] > hi || (i > 0 && ev[i] == ev[i - 1]))
            continue;
        if (!emit(tz, ev[i], out, max, &n))
            break;
    }
    return n;
}

int64_t scale_tz_to_utc(const struct scale_tz *tz, int64_t local_s)
{
    int64_t L = clamp_t(local_s);
    if (!tz)
        return L;
    int64_t lo = L - REACH_S, hi = L + REACH_S;
    struct trans tr[WINDOW_MAX];
    size_t n = window(tz, lo, hi, tr, WINDOW_MAX);
    /* Segments of constant offset, in time order: the first that contains
     * L - offset holds the earliest occurrence. */
    int64_t seg_start = lo;
    int32_t off = type_at(tz, lo)->off;
    for (size_t k = 0; k <= n; k++) {
        int64_t seg_end = k < n ? tr[k].t : hi + 1;
        int64_t u = L - off;
        if (u >= seg_start && u < seg_end)
            return u;
        if (k < n) {
            seg_start = tr[k].t;
            off = tr[k].after;
        }
    }
    /* No occurrence: L lies in a gap, which maps to the jump's instant. */
    for (size_t k = 0; k < n; k++)
        if (tr[k].after > tr[k].before && L >= tr[k].t + tr[k].before && L < tr[k].t + tr[k].after)
            return tr[k].t;
    return L - type_at(tz, L)->off; /* only for files with absurdly dense transitions */
}

int64_t scale_tz_last_local(const struct scale_tz *tz, int64_t utc_s)
{
    int64_t t = clamp_t(utc_s);
    int64_t l = t + scale_tz_offset(tz, t);
    if (!tz || scale_tz_to_utc(tz, l) >= t)
        return l;
    /* t is in the second occurrence of a repeated hour; the answer lies
     * between l and the hour's end. to_utc is monotonic: bisect. */
    int64_t lo = l, hi = t + 2 * REACH_S;
    if (scale_tz_to_utc(tz, hi) <= t)
        return hi;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (scale_tz_to_utc(tz, mid) <= t)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int64_t scale_tz_next_transition(const struct scale_tz *tz, int64_t utc_s, int32_t *before,
                                 int32_t *after)
{
    if (!tz)
        return INT64_MAX;
    int64_t lo = clamp_t(utc_s);
    int64_t last = tz->ntrans ? tz->times[tz->ntrans - 1] : INT64_MIN;
    int64_t rule_from = last > lo ? last : lo;
    bool periodic = tz->rule.present && tz->rule.has_dst;
    while (lo < SCALE_TZ_T_LIMIT) {
        int64_t hi = lo + SPAN_S > SCALE_TZ_T_LIMIT ? SCALE_TZ_T_LIMIT : lo + SPAN_S;
        struct trans tr;
        if (window(tz, lo, hi, &tr, 1) == 1) {
            if (before)
                *before = tr.before;
            if (after)
                *after = tr.after;
            return tr.t;
        }
        if (hi >= last && (!periodic || hi - rule_from > 3 * SPAN_S))
            break; /* past the table, and the rule never changes the offset */
        if (hi < last) {
            /* Jump over long stretches of the table without transitions. */
            size_t j = first_after(tz, hi);
            lo = (j < tz->ntrans && tz->times[j] - 1 > hi) ? tz->times[j] - 1 : hi;
        } else {
            lo = hi;
        }
    }
    return INT64_MAX;
}

/* ---- POSIX TZ string ------------------------------------------------------ */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* std / dst designation: 3+ letters, or <3+ of [A-Za-z0-9+-]>. */
static bool p_name(const char **sp, char *abbr)
{
    const char *s = *sp;
    size_t len = 0;
    if (*s == '<') {
        s++;
        while (is_alpha(s[len]) || is_digit(s[len]) || s[len] == '+' || s[len] == '-')
            len++;
        if (s[len] != '>' || len < 3)
            return false;
        *sp = s + len + 1;
    } else {
        while (is_alpha(s[len]))
            len++;
        if (len < 3)
            return false;
        *sp = s + len;
    }
    size_t keep = len < SCALE_TZ_ABBR_MAX - 1 ? len : SCALE_TZ_ABBR_MAX - 1;
    memcpy(abbr, s, keep);
    abbr[keep] = '\0';
    return true;
}

static bool p_uint(const char **sp, int maxdigits, int *out)
{
    const char *s = *sp;
    int v = 0, n = 0;
    while (is_digit(*s) && n < maxdigits) {
        v = v * 10 + (*s - '0');
        s++;
        n++;
    }
    if (n == 0 || is_digit(*s))
        return false;
    *sp = s;
    *out = v;
    return true;
}

/* [+-]hh[:mm[:ss]] with hh <= maxh; seconds, signed as written. */
static bool p_hms(const char **sp, int maxh, int32_t *out)
{
    const char *s = *sp;
    int sign = 1, h, m = 0, sec = 0;
    if (*s == '+' || *s == '-') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    if (!p_uint(&s, 3, &h) || h > maxh)
        return false;
    if (*s == ':') {
        s++;
        if (!p_uint(&s, 2, &m) || m > 59)
            return false;
        if (*s == ':') {
            s++;
            if (!p_uint(&s, 2, &sec) || sec > 59)
                return false;
        }
    }
    *sp = s;
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
}

static bool p_date(const char **sp, struct rule_date *r)
{
    const char *s = *sp;
    memset(r, 0, sizeof(*r));
    if (*s == 'J') {
        s++;
        r->kind = RULE_J1;
        if (!p_uint(&s, 3, &r->n) || r->n < 1 || r->n > 365)
            return false;
    } else if (*s == 'M') {
        s++;
        r->kind = RULE_M;
        if (!p_uint(&s, 2, &r->m) || r->m < 1 || r->m > 12 || *s != '.')
            return false;
        s++;
        if (!p_uint(&s, 1, &r->w) || r->w < 1 || r->w > 5 || *s != '.')
            return false;
        s++;
        if (!p_uint(&s, 1, &r->d) || r->d > 6)
            return false;
    } else {
        r->kind = RULE_J0;
        if (!p_uint(&s, 3, &r->n) || r->n > 365)
            return false;
    }
    r->time = 2 * 3600;
    if (*s == '/') {
        s++;
        if (!p_hms(&s, RULE_HOURS, &r->time))
            return false;
    }
    *sp = s;
    return true;
}

static int parse_rule(const char *str, struct rule *out, const char **why)
{
    struct rule r;
    memset(&r, 0, sizeof(r));
    const char *s = str;
    int32_t v;
    *why = "bad TZ string";
    if (!p_name(&s, r.std.abbr) || !p_hms(&s, 24, &v))
        return -1;
    r.std.off = -v;
    if (*s) {
        r.has_dst = true;
        r.dst.isdst = true;
        if (!p_name(&s, r.dst.abbr))
            return -1;
        if (*s == '+' || *s == '-' || is_digit(*s)) {
            if (!p_hms(&s, 24, &v))
                return -1;
            r.dst.off = -v;
        } else {
            r.dst.off = r.std.off + 3600;
        }
        if (*s == ',') {
            s++;
            if (!p_date(&s, &r.start) || *s != ',')
                return -1;
            s++;
            if (!p_date(&s, &r.end))
                return -1;
        } else {
            /* POSIX leaves the default rule to the implementation; tzcode
             * and Frost use the US one. */
            r.start = (struct rule_date){.kind = RULE_M, .m = 3, .w = 2, .d = 0, .time = 7200};
            r.end = (struct rule_date){.kind = RULE_M, .m = 11, .w = 1, .d = 0, .time = 7200};
        }
    }
    if (*s) {
        *why = "trailing characters after the TZ string";
        return -1;
    }
    r.present = true;
    *out = r;
    return 0;
}

int scale_tz_posix(const char *tzstring, struct scale_tz **out, struct frost_err *err)
{
    const char *why;
    struct rule r;
    if (!tzstring || strlen(tzstring) > FOOTER_MAX || parse_rule(tzstring, &r, &why) < 0)
        return frost_err_set(err, 400, "InvalidArgument", "\"%.64s\" is not a POSIX TZ string",
                             tzstring ? tzstring : "");
    struct scale_tz *tz = calloc(1, sizeof(*tz));
    if (!tz)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    snprintf(tz->name, sizeof(tz->name), "%.*s", SCALE_TZ_NAME_MAX, tzstring);
    tz->rule = r;
    *out = tz;
    return 0;
}

/* ---- TZif ------------------------------------------------------------------ */

struct hdr {
    uint8_t version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int read_hdr(const uint8_t *d, size_t len, size_t pos, struct hdr *h, const char **why)
{
    if (pos > len || len - pos < 44) {
        *why = "truncated header";
        return -1;
    }
    d += pos;
    if (memcmp(d, "TZif", 4) != 0) {
        *why = "bad magic";
        return -1;
    }
    h->version = d[4];
    if (h->version != 0 && h->version < '2') {
        *why = "unknown version";
        return -1;
    }
    h->isutcnt = be32(d + 20);
    h->isstdcnt = be32(d + 24);
    h->leapcnt = be32(d + 28);
    h->timecnt = be32(d + 32);
    h->typecnt = be32(d + 36);
    h->charcnt = be32(d + 40);
    return 0;
}

/* Bytes of the data block after a header; counts are < 2^32 so this cannot
 * overflow 64 bits. */
static uint64_t block_len(const struct hdr *h, unsigned tsize)
{
    return (uint64_t)h->timecnt * tsize + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int parse_block(const uint8_t *d, const struct hdr *h, unsigned tsize, struct scale_tz *tz,
                       const char **why)
{
    if (h->typecnt == 0 || h->typecnt > TYPES_MAX) {
        *why = "bad number of local time types";
        return -1;
    }
    if (h->charcnt == 0) {
        *why = "no time zone designations";
        return -1;
    }
    if ((h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)) {
        *why = "bad UT/standard indicator count";
        return -1;
    }
    if (h->leapcnt != 0) {
        *why = "leap-second (\"right/\") zones are not supported";
        return -1;
    }
    tz->ntrans = h->timecnt;
    tz->ntypes = h->typecnt;
    tz->times = calloc(h->timecnt ? h->timecnt : 1, sizeof(*tz->times));
    tz->idx = calloc(h->timecnt ? h->timecnt : 1, 1);
    tz->types = calloc(h->typecnt, sizeof(*tz->types));
    if (!tz->times || !tz->idx || !tz->types) {
        *why = "out of memory";
        return -1;
    }
    const uint8_t *p = d;
    for (uint32_t i = 0; i < h->timecnt; i++, p += tsize) {
        tz->times[i] = tsize == 8 ? be64(p) : (int64_t)(int32_t)be32(p);
        if (i > 0 && tz->times[i] <= tz->times[i - 1]) {
            *why = "transition times not ascending";
            return -1;
        }
    }
    for (uint32_t i = 0; i < h->timecnt; i++, p++) {
        if (*p >= h->typecnt) {
            *why = "transition type index out of range";
            return -1;
        }
        tz->idx[i] = *p;
    }
    const uint8_t *tt = p;
    const uint8_t *chars = tt + (size_t)h->typecnt * 6;
    for (uint32_t i = 0; i < h->typecnt; i++, tt += 6) {
        int32_t off = (int32_t)be32(tt);
        if (off < UTOFF_MIN || off > UTOFF_MAX) {
            *why = "UT offset out of range";
            return -1;
        }
        if (tt[4] > 1 || tt[5] >= h->charcnt) {
            *why = "bad local time type";
            return -1;
        }
        tz->types[i].off = off;
        tz->types[i].isdst = tt[4];
        size_t k = 0;
        for (uint32_t c = tt[5]; c < h->charcnt && chars[c] && k < SCALE_TZ_ABBR_MAX - 1; c++)
            tz->types[i].abbr[k++] = (char)chars[c];
        tz->types[i].abbr[k] = '\0';
    }
    const uint8_t *ind = chars + h->charcnt; /* no leap records (refused above) */
    for (uint32_t i = 0; i < h->isstdcnt + h->isutcnt; i++)
        if (ind[i] > 1) {
            *why = "bad UT/standard indicator";
            return -1;
        }
    return 0;
}

static int parse_tzif(const uint8_t *d, size_t len, struct scale_tz *tz, const char **why)
{
    struct hdr h;
    if (read_hdr(d, len, 0, &h, why) < 0)
        return -1;
    uint64_t b1 = block_len(&h, 4);
    if (b1 > len - 44) {
        *why = "truncated data";
        return -1;
    }
    if (h.version == 0)
        return parse_block(d + 44, &h, 4, tz, why);
    size_t pos = 44 + (size_t)b1;
    if (read_hdr(d, len, pos, &h, why) < 0)
        return -1;
    pos += 44;
    uint64_t b2 = block_len(&h, 8);
    if (b2 > len - pos) {
        *why = "truncated data";
        return -1;
    }
    if (parse_block(d + pos, &h, 8, tz, why) < 0)
        return -1;
    pos += (size_t)b2;
    if (pos >= len || d[pos] != '\n') {
        *why = "missing footer";
        return -1;
    }
    pos++;
    size_t e = pos;
    while (e < len && e - pos < FOOTER_MAX && d[e] != '\n' && d[e] != '\0')
        e++;
    if (e >= len || d[e] != '\n') {
        *why = "bad footer";
        return -1;
    }
    if (e == pos)
        return 0; /* no rule: the last transition's type holds for ever */
    char str[FOOTER_MAX + 1];
    memcpy(str, d + pos, e - pos);
    str[e - pos] = '\0';
    return parse_rule(str, &tz->rule, why);
}

void scale_tz_free(struct scale_tz *tz)
{
    if (!tz)
        return;
    free(tz->times);
    free(tz->idx);
    free(tz->types);
    free(tz);
}

int scale_tz_parse(const char *name, const void *data, size_t len, struct scale_tz **out,
                   struct frost_err *err)
{
    struct scale_tz *tz = calloc(1, sizeof(*tz));
    if (!tz)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    snprintf(tz->name, sizeof(tz->name), "%s", name ? name : "");
    const char *why = "";
    if (!data || parse_tzif(data, len, tz, &why) < 0) {
        scale_tz_free(tz);
        return frost_err_set(err, 400, "InvalidArgument", "not a valid TZif file (%s)", why);
    }
    *out = tz;
    return 0;
}

static bool zone_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > SCALE_TZ_NAME_MAX || s[0] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!(is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == '+' || c == '/'))
            return false;
    }
    return true;
}

static void cleanup_freep(uint8_t **p)
{
    free(*p);
}

int scale_tz_load(const char *dir, const char *name, struct scale_tz **out, struct frost_err *err)
{
    if (!name || !zone_name_ok(name))
        return frost_err_set(err, 400, "InvalidArgument", "unknown time zone \"%.64s\"",
                             name ? name : "");
    if (!dir)
        dir = SCALE_TZ_DIR_DEFAULT;
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return frost_err_set(err, 500, "InternalError", "time zone directory path too long");
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    bool missing = false;
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != ENAMETOOLONG)
            return frost_err_errno(err, errno, "time zone \"%s\": opening %s", name, path);
        missing = true;
    } else if (fstat(fd, &st) < 0) {
        return frost_err_errno(err, errno, "time zone \"%s\": %s", name, path);
    } else if (!S_ISREG(st.st_mode)) {
        missing = true;
    }
    if (missing) {
        if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
            struct scale_tz *tz = NULL;
            if (scale_tz_posix("UTC0", &tz, err) < 0 || !tz)
                return -1;
            snprintf(tz->name, sizeof(tz->name), "%s", name);
            *out = tz;
            return 0;
        }
        return frost_err_set(err, 400, "InvalidArgument", "unknown time zone \"%s\"", name);
    }
    if (st.st_size > SCALE_TZ_FILE_MAX)
        return frost_err_set(err, 400, "InvalidArgument",
                             "time zone \"%s\": %s is not a valid TZif file (larger than %d bytes)",
                             name, path, SCALE_TZ_FILE_MAX);
    __attribute__((cleanup(cleanup_freep))) uint8_t *buf = malloc(SCALE_TZ_FILE_MAX + 1);
    if (!buf)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, SCALE_TZ_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return frost_err_errno(err, errno, "time zone \"%s\": reading %s", name, path);
        if (r == 0 || (len += (size_t)r) > SCALE_TZ_FILE_MAX)
            break;
    }
    if (len > SCALE_TZ_FILE_MAX)
        return frost_err_set(err, 400, "InvalidArgument",
                             "time zone \"%s\": %s is not a valid TZif file (larger than %d bytes)",
                             name, path, SCALE_TZ_FILE_MAX);
    struct frost_err perr = {0};
    if (scale_tz_parse(name, buf, len, out, &perr) < 0)
        return frost_err_set(err, perr.status, perr.code, "time zone \"%s\": %s is %s", name, path,
                             perr.msg);
    return 0;
}
