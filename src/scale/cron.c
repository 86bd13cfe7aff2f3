/* Cron fire times in a time zone: searched in local wall-clock time, a day at
 * a time (skipping whole months that do not match), then hour, minute and
 * second through the fields' bit sets; converted to UTC with the monotonic
 * scale_tz_to_utc, so "latest fire <= t" is the latest match <= the latest
 * local time that maps to <= t. */
#include <string.h>

#include "scale/scale.h"

#define DAY_S 86400

/* The highest set bit of bits that is <= x, or -1. x < 64. */
static int hi_bit_le(uint64_t bits, int x)
{
    if (x < 0)
        return -1;
    if (x < 63)
        bits &= (2ull << x) - 1;
    return bits ? 63 - __builtin_clzll(bits) : -1;
}

/* The lowest set bit of bits that is >= x (and <= top), or -1. */
static int lo_bit_ge(uint64_t bits, int x, int top)
{
    if (x > top)
        return -1;
    bits &= ~((1ull << x) - 1);
    if (!bits)
        return -1;
    int b = __builtin_ctzll(bits);
    return b <= top ? b : -1;
}

static bool day_matches(const struct spec_cron *c, int64_t day, int *month_day, int *month)
{
    int64_t y;
    int m, d;
    scale_civil_from_days(day, &y, &m, &d);
    *month_day = d;
    *month = m;
    if (!(c->mon >> m & 1))
        return false;
    bool dom = c->dom >> d & 1, dow = c->dow >> scale_weekday(day) & 1;
    if (c->dom_restricted && c->dow_restricted)
        return dom || dow;
    return dom && dow;
}

bool scale_cron_matches(const struct spec_cron *c, int64_t local_s)
{
    int64_t day = scale_floor_div(local_s, DAY_S);
    int sod = (int)(local_s - day * DAY_S), d, m;
    return day_matches(c, day, &d, &m) && (c->hour >> (sod / 3600) & 1) &&
           (c->min >> (sod / 60 % 60) & 1) && (c->sec >> (sod % 60) & 1);
}

/* The latest matching second of a day <= lim (seconds into the day), or -1. */
static int prev_tod(const struct spec_cron *c, int lim)
{
    int h0 = lim / 3600, m0 = lim / 60 % 60, s0 = lim % 60;
    for (int h = hi_bit_le(c->hour, h0); h >= 0; h = hi_bit_le(c->hour, h - 1))
        for (int m = hi_bit_le(c->min, h == h0 ? m0 : 59); m >= 0; m = hi_bit_le(c->min, m - 1)) {
            int s = hi_bit_le(c->sec, (h == h0 && m == m0) ? s0 : 59);
            if (s >= 0)
                return h * 3600 + m * 60 + s;
        }
    return -1;
}

/* The earliest matching second of a day >= lim, or -1. */
static int next_tod(const struct spec_cron *c, int lim)
{
    int h0 = lim / 3600, m0 = lim / 60 % 60, s0 = lim % 60;
    for (int h = lo_bit_ge(c->hour, h0, 23); h >= 0; h = lo_bit_ge(c->hour, h + 1, 23))
        for (int m = lo_bit_ge(c->min, h == h0 ? m0 : 0, 59); m >= 0;
             m = lo_bit_ge(c->min, m + 1, 59)) {
            int s = lo_bit_ge(c->sec, (h == h0 && m == m0) ? s0 : 0, 59);
            if (s >= 0)
                return h * 3600 + m * 60 + s;
        }
    return -1;
}

static int64_t prev_local(const struct spec_cron *c, int64_t L)
{
    int64_t day = scale_floor_div(L, DAY_S), stop = day - SCALE_CRON_SEARCH_DAYS;
    int lim = (int)(L - day * DAY_S);
    while (day >= stop) {
        int d, m;
        if (day_matches(c, day, &d, &m)) {
            int tod = prev_tod(c, lim);
            if (tod >= 0)
                return day * DAY_S + tod;
        }
        /* A month that does not match is skipped whole: to its previous
         * month's last day. */
        day -= (c->mon >> m & 1) ? 1 : d;
        lim = DAY_S - 1;
    }
    return INT64_MIN;
}

static int64_t next_local(const struct spec_cron *c, int64_t L)
{
    int64_t day = scale_floor_div(L, DAY_S), stop = day + SCALE_CRON_SEARCH_DAYS;
    int lim = (int)(L - day * DAY_S);
    while (day <= stop) {
        int d, m;
        if (day_matches(c, day, &d, &m)) {
            int tod = next_tod(c, lim);
            if (tod >= 0)
                return day * DAY_S + tod;
        }
        if (c->mon >> m & 1) {
            day++;
        } else {
            int64_t y;
            int mm, dd;
            scale_civil_from_days(day, &y, &mm, &dd);
            day += scale_month_days(y, mm) - dd + 1; /* the next month's first day */
        }
        lim = 0;
    }
    return INT64_MAX;
}

int64_t scale_cron_prev(const struct spec_cron *c, const struct scale_tz *tz, int64_t t_s)
{
    int64_t L = prev_local(c, scale_tz_last_local(tz, t_s));
    if (L == INT64_MIN)
        return INT64_MIN;
    int64_t u = scale_tz_to_utc(tz, L);
    return u <= t_s ? u : INT64_MIN; /* only beyond SCALE_TZ_T_LIMIT */
}

int64_t scale_cron_next(const struct spec_cron *c, const struct scale_tz *tz, int64_t t_s)
{
    int64_t L = next_local(c, scale_tz_last_local(tz, t_s) + 1);
    if (L == INT64_MAX)
        return INT64_MAX;
    int64_t u = scale_tz_to_utc(tz, L);
    return u > t_s ? u : INT64_MAX;
}
