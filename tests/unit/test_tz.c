/* Unit tests for src/scale/tz: TZif and POSIX TZ string reading, offsets and
 * transitions of real zones (from the host's tz database), local→UTC with DST
 * gaps and overlaps, the civil calendar, and corrupt / truncated / mutated
 * TZif files (errors, never crashes). Fixtures are written into a fresh
 * temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "scale/tz.h"

#define ZONEINFO "/usr/share/zoneinfo"

static int64_t utc(const char *iso)
{
    int64_t ms;
    if (clock_parse_iso8601(iso, &ms) != 0)
        fail_msg("bad test time %s", iso);
    return ms / 1000;
}

static struct scale_tz *load(const char *name)
{
    struct scale_tz *tz = NULL;
    struct frost_err err = {0};
    int rc = scale_tz_load(NULL, name, &tz, &err);
    if (rc != 0)
        fail_msg("scale_tz_load(%s): %s (is tzdata installed?)", name, err.msg);
    assert_non_null(tz);
    assert_string_equal(scale_tz_name(tz), name);
    return tz;
}

static struct scale_tz *posix(const char *s)
{
    struct scale_tz *tz = NULL;
    struct frost_err err = {0};
    int rc = scale_tz_posix(s, &tz, &err);
    if (rc != 0)
        fail_msg("scale_tz_posix(%s): %s", s, err.msg);
    return tz;
}

static void expect_offset(const struct scale_tz *tz, const char *iso, int32_t off, const char *abbr)
{
    struct scale_tz_info info;
    scale_tz_lookup(tz, utc(iso), &info);
    if (info.offset != off || (abbr && strcmp(info.abbr, abbr) != 0))
        fail_msg("%s at %s: offset %d %s, want %d %s", scale_tz_name(tz), iso, info.offset,
                 info.abbr, off, abbr ? abbr : "");
    assert_int_equal(scale_tz_offset(tz, utc(iso)), off);
}

/* Local wall-clock "YYYY-MM-DDThh:mm:ss" as local seconds. */
static int64_t local(const char *iso)
{
    char tmp[40];
    snprintf(tmp, sizeof(tmp), "%sZ", iso);
    return utc(tmp);
}

static void expect_to_utc(const struct scale_tz *tz, const char *local_iso, const char *utc_iso)
{
    int64_t got = scale_tz_to_utc(tz, local(local_iso)), want = utc(utc_iso);
    if (got != want) {
        char g[32];
        clock_format_iso8601(got * 1000, g, sizeof(g));
        fail_msg("%s: local %s -> %s, want %s", scale_tz_name(tz), local_iso, g, utc_iso);
    }
}

/* ---- calendar ------------------------------------------------------------ */

static void test_calendar(void **state)
{
    (void)state;
    assert_int_equal(scale_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(scale_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(scale_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(scale_weekday(scale_days_from_civil(2024, 3, 10)), 0); /* Sunday */
    assert_int_equal(scale_weekday(scale_days_from_civil(1970, 1, 1)), 4);
    assert_int_equal(scale_weekday(scale_days_from_civil(1969, 12, 28)), 0);
    assert_true(scale_leap_year(2000));
    assert_false(scale_leap_year(1900));
    assert_true(scale_leap_year(2024));
    assert_int_equal(scale_month_days(2024, 2), 29);
    assert_int_equal(scale_month_days(2023, 2), 28);
    assert_int_equal(scale_floor_div(-1, 1000), -1);
    assert_int_equal(scale_floor_div(-1000, 1000), -1);
    assert_int_equal(scale_floor_div(999, 1000), 0);
    /* Round trip and agreement with the C library over ±1000 years. */
    for (int64_t day = -400000; day <= 400000; day += 37) {
        int64_t y;
        int m, d;
        scale_civil_from_days(day, &y, &m, &d);
        assert_int_equal(scale_days_from_civil(y, m, d), day);
        time_t t = (time_t)(day * 86400);
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        assert_int_equal(y, tm.tm_year + 1900);
        assert_int_equal(m, tm.tm_mon + 1);
        assert_int_equal(d, tm.tm_mday);
        assert_int_equal(scale_weekday(day), tm.tm_wday);
    }
}

/* ---- real zones ------------------------------------------------------------ */

static void test_utc(void **state)
{
    (void)state;
    struct scale_tz *tz = load("UTC");
    expect_offset(tz, "2024-07-01T00:00:00Z", 0, "UTC");
    expect_offset(NULL, "2024-07-01T00:00:00Z", 0, "UTC");
    assert_string_equal(scale_tz_name(NULL), "UTC");
    for (int64_t t = -5000000000LL; t < 5000000000LL; t += 123456789) {
        assert_int_equal(scale_tz_to_utc(tz, t), t);
        assert_int_equal(scale_tz_to_utc(NULL, t), t);
        assert_int_equal(scale_tz_last_local(tz, t), t);
    }
    assert_int_equal(scale_tz_next_transition(tz, 0, NULL, NULL), INT64_MAX);
    assert_int_equal(scale_tz_next_transition(NULL, 0, NULL, NULL), INT64_MAX);
    scale_tz_free(tz);
}

static void test_shanghai(void **state)
{
    (void)state;
    struct scale_tz *tz = load("Asia/Shanghai");
    expect_offset(tz, "2024-01-15T12:00:00Z", 8 * 3600, "CST");
    expect_offset(tz, "2024-07-15T12:00:00Z", 8 * 3600, "CST");
    expect_offset(tz, "2099-07-15T12:00:00Z", 8 * 3600, "CST"); /* footer "CST-8" */
    expect_offset(tz, "1988-07-15T12:00:00Z", 9 * 3600, "CDT"); /* China had DST 1986–1991 */
    expect_to_utc(tz, "2024-07-01T08:00:00", "2024-07-01T00:00:00Z");
    expect_to_utc(tz, "2024-01-01T00:00:00", "2023-12-31T16:00:00Z");
    assert_int_equal(scale_tz_next_transition(tz, utc("2000-01-01T00:00:00Z"), NULL, NULL),
                     INT64_MAX);
    scale_tz_free(tz);
}

static void test_new_york(void **state)
{
    (void)state;
    struct scale_tz *tz = load("America/New_York");
    /* 2024-03-10: 02:00 EST → 03:00 EDT at 07:00Z. */
    expect_offset(tz, "2024-03-10T06:59:59Z", -5 * 3600, "EST");
    expect_offset(tz, "2024-03-10T07:00:00Z", -4 * 3600, "EDT");
    /* 2024-11-03: 02:00 EDT → 01:00 EST at 06:00Z. */
    expect_offset(tz, "2024-11-03T05:59:59Z", -4 * 3600, "EDT");
    expect_offset(tz, "2024-11-03T06:00:00Z", -5 * 3600, "EST");
    /* Past the table: the footer's rule. */
    expect_offset(tz, "2100-07-04T12:00:00Z", -4 * 3600, "EDT");
    expect_offset(tz, "2100-01-04T12:00:00Z", -5 * 3600, "EST");
    expect_offset(tz, "1800-01-01T00:00:00Z", -17762, "LMT"); /* before the first transition */

    int32_t b, a;
    assert_int_equal(scale_tz_next_transition(tz, utc("2024-01-01T00:00:00Z"), &b, &a),
                     utc("2024-03-10T07:00:00Z"));
    assert_int_equal(b, -18000);
    assert_int_equal(a, -14400);
    assert_int_equal(scale_tz_next_transition(tz, utc("2024-03-10T07:00:00Z"), &b, &a),
                     utc("2024-11-03T06:00:00Z"));
    assert_int_equal(b, -14400);
    assert_int_equal(a, -18000);
    assert_int_equal(scale_tz_next_transition(tz, utc("2150-01-01T00:00:00Z"), NULL, NULL),
                     utc("2150-03-08T07:00:00Z"));

    /* Ordinary times. */
    expect_to_utc(tz, "2024-07-04T12:00:00", "2024-07-04T16:00:00Z");
    expect_to_utc(tz, "2024-01-04T12:00:00", "2024-01-04T17:00:00Z");
    /* Gap: 02:00–02:59 do not exist on 2024-03-10; they map to the jump. */
    expect_to_utc(tz, "2024-03-10T01:59:59", "2024-03-10T06:59:59Z");
    expect_to_utc(tz, "2024-03-10T02:00:00", "2024-03-10T07:00:00Z");
    expect_to_utc(tz, "2024-03-10T02:30:00", "2024-03-10T07:00:00Z");
    expect_to_utc(tz, "2024-03-10T02:59:59", "2024-03-10T07:00:00Z");
    expect_to_utc(tz, "2024-03-10T03:00:00", "2024-03-10T07:00:00Z");
    expect_to_utc(tz, "2024-03-10T03:00:01", "2024-03-10T07:00:01Z");
    /* Overlap: 01:00–01:59 happen twice on 2024-11-03; the first counts. */
    expect_to_utc(tz, "2024-11-03T00:59:59", "2024-11-03T04:59:59Z");
    expect_to_utc(tz, "2024-11-03T01:30:00", "2024-11-03T05:30:00Z");
    expect_to_utc(tz, "2024-11-03T01:59:59", "2024-11-03T05:59:59Z");
    expect_to_utc(tz, "2024-11-03T02:00:00", "2024-11-03T07:00:00Z");
    /* The latest local time that has happened by t. */
    assert_int_equal(scale_tz_last_local(tz, utc("2024-11-03T05:30:00Z")),
                     local("2024-11-03T01:30:00"));
    assert_int_equal(scale_tz_last_local(tz, utc("2024-11-03T06:00:00Z")),
                     local("2024-11-03T01:59:59"));
    assert_int_equal(scale_tz_last_local(tz, utc("2024-11-03T06:59:59Z")),
                     local("2024-11-03T01:59:59"));
    assert_int_equal(scale_tz_last_local(tz, utc("2024-11-03T07:00:00Z")),
                     local("2024-11-03T02:00:00"));
    assert_int_equal(scale_tz_last_local(tz, utc("2024-03-10T07:00:00Z")),
                     local("2024-03-10T03:00:00"));
    scale_tz_free(tz);
}

static void test_etc_gmt(void **state)
{
    (void)state;
    struct scale_tz *tz = load("Etc/GMT+8"); /* POSIX sign: 8 hours west */
    expect_offset(tz, "2024-07-01T00:00:00Z", -8 * 3600, "-08");
    expect_to_utc(tz, "2024-07-01T00:00:00", "2024-07-01T08:00:00Z");
    scale_tz_free(tz);
    tz = load("Etc/GMT-14");
    expect_offset(tz, "2024-07-01T00:00:00Z", 14 * 3600, "+14");
    scale_tz_free(tz);
}

/* Properties over a DST zone and a southern one: to_utc(local(u)) == u
 * except in a repeated hour's second occurrence; to_utc never decreases;
 * last_local is the largest L with to_utc(L) <= t. */
static void test_monotonic_property(void **state)
{
    (void)state;
    const char *zones[] = {"America/New_York", "Australia/Sydney", "Europe/London", "Asia/Tehran",
                           "Australia/Lord_Howe"};
    srand(12345);
    for (size_t z = 0; z < ARRAY_LEN(zones); z++) {
        struct scale_tz *tz = load(zones[z]);
        int64_t base = utc("2023-01-01T00:00:00Z");
        int64_t prev_u = INT64_MIN;
        for (int64_t L = base; L < base + 3 * 366 * 86400LL; L += 1800 + rand() % 600) {
            int64_t u = scale_tz_to_utc(tz, L);
            assert_true(u >= prev_u);
            prev_u = u;
            int64_t back = u + scale_tz_offset(tz, u);
            if (back == L) {
                /* L exists; u is its first occurrence */
                assert_true(scale_tz_to_utc(tz, back) == u);
            } else {
                assert_true(back > L); /* in a gap: u is the jump; its local is past L */
                assert_int_equal(scale_tz_offset(tz, u - 1) < scale_tz_offset(tz, u), 1);
            }
            int64_t t = L - 12 * 3600 + rand() % (24 * 3600);
            int64_t lb = scale_tz_last_local(tz, t);
            assert_true(scale_tz_to_utc(tz, lb) <= t);
            assert_true(scale_tz_to_utc(tz, lb + 1) > t);
        }
        scale_tz_free(tz);
    }
}

/* ---- POSIX TZ strings ---------------------------------------------------- */

static void test_posix(void **state)
{
    (void)state;
    struct scale_tz *tz = posix("CST-8");
    expect_offset(tz, "2024-07-01T00:00:00Z", 8 * 3600, "CST");
    scale_tz_free(tz);

    tz = posix("<+0330>-3:30");
    expect_offset(tz, "2024-07-01T00:00:00Z", 3 * 3600 + 1800, "+0330");
    scale_tz_free(tz);

    tz = posix("EST5EDT,M3.2.0,M11.1.0");
    expect_offset(tz, "2024-03-10T06:59:59Z", -18000, "EST");
    expect_offset(tz, "2024-03-10T07:00:00Z", -14400, "EDT");
    expect_offset(tz, "2024-11-03T05:59:59Z", -14400, "EDT");
    expect_offset(tz, "2024-11-03T06:00:00Z", -18000, "EST");
    expect_to_utc(tz, "2024-03-10T02:30:00", "2024-03-10T07:00:00Z");
    expect_to_utc(tz, "2024-11-03T01:30:00", "2024-11-03T05:30:00Z");
    scale_tz_free(tz);

    /* Default rule for a DST name without one: the US rule. */
    tz = posix("EST5EDT");
    expect_offset(tz, "2024-03-10T07:00:00Z", -14400, "EDT");
    scale_tz_free(tz);

    /* Southern hemisphere: DST across the new year. */
    tz = posix("AEST-10AEDT,M10.1.0,M4.1.0/3");
    expect_offset(tz, "2024-01-15T00:00:00Z", 11 * 3600, "AEDT");
    expect_offset(tz, "2024-07-15T00:00:00Z", 10 * 3600, "AEST");
    expect_offset(tz, "2024-04-06T15:59:59Z", 11 * 3600, "AEDT"); /* 03:00 AEDT 2024-04-07 */
    expect_offset(tz, "2024-04-06T16:00:00Z", 10 * 3600, "AEST");
    expect_offset(tz, "2024-10-05T15:59:59Z", 10 * 3600, "AEST"); /* 02:00 AEST 2024-10-06 */
    expect_offset(tz, "2024-10-05T16:00:00Z", 11 * 3600, "AEDT");
    scale_tz_free(tz);

    /* DST all year (RFC 8536 §3.3.1's example). */
    tz = posix("EST5EDT,0/0,J365/25");
    for (int64_t t = utc("2023-12-31T00:00:00Z"); t < utc("2025-01-02T00:00:00Z"); t += 3571)
        assert_int_equal(scale_tz_offset(tz, t), -14400);
    assert_int_equal(scale_tz_next_transition(tz, utc("2024-01-01T00:00:00Z"), NULL, NULL),
                     INT64_MAX);
    scale_tz_free(tz);

    /* Negative and large rule times (RFC 8536 version 3): America/Nuuk 2023. */
    tz = posix("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    expect_offset(tz, "2024-03-31T00:59:59Z", -7200, "-02"); /* -01:00 local on Mar 31 */
    expect_offset(tz, "2024-03-31T01:00:00Z", -3600, "-01");
    expect_offset(tz, "2024-10-27T00:59:59Z", -3600, "-01");
    expect_offset(tz, "2024-10-27T01:00:00Z", -7200, "-02");
    scale_tz_free(tz);

    /* Jn never counts February 29; n does. */
    tz = posix("AAA0BBB,J60/0,J300/0");
    expect_offset(tz, "2024-02-29T12:00:00Z", 0, "AAA");
    expect_offset(tz, "2024-03-01T00:00:00Z", 3600, "BBB");
    expect_offset(tz, "2023-03-01T00:00:00Z", 3600, "BBB");
    scale_tz_free(tz);
    tz = posix("AAA0BBB,59/0,300/0");
    expect_offset(tz, "2024-02-29T00:00:00Z", 3600, "BBB"); /* day 59 of a leap year */
    expect_offset(tz, "2023-03-01T00:00:00Z", 3600, "BBB");
    expect_offset(tz, "2023-02-28T23:59:59Z", 0, "AAA");
    scale_tz_free(tz);

    const char *bad[] = {"",
                         "C",
                         "CS-8",
                         "CST",
                         "CST-25",
                         "CST-8,",
                         "CST-8x",
                         "<AB>1",
                         "<+0330-3:30",
                         "EST5EDT,M3.2",
                         "EST5EDT,M3.2.0",
                         "EST5EDT,M3.2.0,",
                         "EST5EDT,M13.1.0,M11.1.0",
                         "EST5EDT,M3.6.0,M11.1.0",
                         "EST5EDT,M3.2.7,M11.1.0",
                         "EST5EDT,J0,J365",
                         "EST5EDT,366,J365",
                         "EST5EDT,M3.2.0/168,M11.1.0",
                         "EST5EDT,M3.2.0/1:60,M11.1.0",
                         "EST5EDT,M3.2.0,M11.1.0,",
                         "EST5EDT4:00:00:00",
                         "EST0005"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct scale_tz *t = NULL;
        struct frost_err err = {0};
        if (scale_tz_posix(bad[i], &t, &err) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(err.status, 400);
        assert_null(t);
    }
}

/* ---- TZif files ------------------------------------------------------------ */

struct blob {
    uint8_t d[4096];
    size_t n;
};

static void put(struct blob *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    assert_true(b->n + n <= sizeof(b->d));
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put32(struct blob *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

static void put64(struct blob *b, int64_t v)
{
    put32(b, (uint32_t)((uint64_t)v >> 32));
    put32(b, (uint32_t)v);
}

struct ttinfo {
    int32_t off;
    uint8_t isdst, idx;
};

/* A TZif file of the given version: one data block (v1) or an empty-ish v1
 * block plus the 64-bit block and footer (v2+), as zic -b slim writes. */
static void tzif(struct blob *b, char version, const int64_t *times, const uint8_t *idx,
                 uint32_t ntimes, const struct ttinfo *types, uint32_t ntypes, const char *chars,
                 uint32_t nchars, uint32_t nleap, const char *footer)
{
    b->n = 0;
    for (int pass = version == 0 ? 1 : 0; pass < 2; pass++) {
        bool v1 = pass == 0; /* the legacy block of a v2+ file: left minimal */
        put(b, "TZif", 4);
        uint8_t v = (uint8_t)version;
        put(b, &v, 1);
        uint8_t zero[15] = {0};
        put(b, zero, 15);
        put32(b, 0);               /* isutcnt */
        put32(b, 0);               /* isstdcnt */
        put32(b, v1 ? 0 : nleap);  /* leapcnt */
        put32(b, v1 ? 0 : ntimes); /* timecnt */
        put32(b, v1 ? 1 : ntypes); /* typecnt */
        put32(b, v1 ? 1 : nchars); /* charcnt */
        if (v1) {
            put(b, "\0\0\0\0\0\0\0", 7); /* one type, one char */
            continue;
        }
        for (uint32_t i = 0; i < ntimes; i++) {
            if (version == 0)
                put32(b, (uint32_t)times[i]);
            else
                put64(b, times[i]);
        }
        put(b, idx, ntimes);
        for (uint32_t i = 0; i < ntypes; i++) {
            put32(b, (uint32_t)types[i].off);
            put(b, &types[i].isdst, 1);
            put(b, &types[i].idx, 1);
        }
        put(b, chars, nchars);
        for (uint32_t i = 0; i < nleap; i++) {
            if (version == 0)
                put32(b, 0);
            else
                put64(b, 0);
            put32(b, 1);
        }
    }
    if (version != 0) {
        put(b, "\n", 1);
        put(b, footer, strlen(footer));
        put(b, "\n", 1);
    }
}

static int parse_blob(const struct blob *b, struct scale_tz **tz, struct frost_err *err)
{
    *tz = NULL;
    return scale_tz_parse("fixture", b->d, b->n, tz, err);
}

static void expect_bad_blob(const struct blob *b, const char *needle)
{
    struct scale_tz *tz;
    struct frost_err err = {0};
    assert_int_equal(parse_blob(b, &tz, &err), -1);
    assert_null(tz);
    assert_int_equal(err.status, 400);
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_tzif_synthetic(void **state)
{
    (void)state;
    const struct ttinfo types[2] = {{3600, 0, 0}, {7200, 1, 4}};
    const char chars[] = "AAA\0BBB"; /* 8 bytes with the final NUL */
    const int64_t times[3] = {0, 1000000, 2000000};
    const uint8_t idx[3] = {1, 0, 1};
    struct blob b;
    struct scale_tz *tz;
    struct frost_err err = {0};

    /* Version 1 (32-bit, no footer). */
    tzif(&b, 0, times, idx, 3, types, 2, chars, 8, 0, "");
    assert_int_equal(parse_blob(&b, &tz, &err), 0);
    assert_int_equal(scale_tz_offset(tz, -1), 3600); /* type 0 before the first */
    assert_int_equal(scale_tz_offset(tz, 0), 7200);
    assert_int_equal(scale_tz_offset(tz, 1500000), 3600);
    assert_int_equal(scale_tz_offset(tz, 5000000000LL), 7200); /* last type for ever */
    struct scale_tz_info info;
    scale_tz_lookup(tz, 1500000, &info);
    assert_string_equal(info.abbr, "AAA");
    assert_false(info.isdst);
    assert_int_equal(scale_tz_next_transition(tz, -5, NULL, NULL), 0);
    assert_int_equal(scale_tz_next_transition(tz, 0, NULL, NULL), 1000000);
    assert_int_equal(scale_tz_next_transition(tz, 2000000, NULL, NULL), INT64_MAX);
    scale_tz_free(tz);

    /* Version 2 with a footer rule after the last transition. */
    tzif(&b, '2', times, idx, 3, types, 2, chars, 8, 0, "EST5EDT,M3.2.0,M11.1.0");
    assert_int_equal(parse_blob(&b, &tz, &err), 0);
    assert_int_equal(scale_tz_offset(tz, 1500000), 3600);
    assert_int_equal(scale_tz_offset(tz, utc("2024-07-01T00:00:00Z")), -14400);
    assert_int_equal(scale_tz_next_transition(tz, 2000000, NULL, NULL),
                     utc("1970-03-08T07:00:00Z"));
    scale_tz_free(tz);

    /* No transitions at all: the footer for all time (zic -b slim). */
    tzif(&b, '4', NULL, NULL, 0, types, 1, "AAA", 4, 0, "EST5EDT,M3.2.0,M11.1.0");
    assert_int_equal(parse_blob(&b, &tz, &err), 0);
    assert_int_equal(scale_tz_offset(tz, utc("2024-03-10T07:00:00Z")), -14400);
    assert_int_equal(scale_tz_offset(tz, utc("2024-03-10T06:59:59Z")), -18000);
    scale_tz_free(tz);

    /* Empty footer: the last type holds. */
    tzif(&b, '3', times, idx, 3, types, 2, chars, 8, 0, "");
    assert_int_equal(parse_blob(&b, &tz, &err), 0);
    assert_int_equal(scale_tz_offset(tz, 5000000000LL), 7200);
    scale_tz_free(tz);

    /* Broken ones. */
    const uint8_t bad_idx[3] = {1, 2, 1};
    tzif(&b, '2', times, bad_idx, 3, types, 2, chars, 8, 0, "");
    expect_bad_blob(&b, "type index");
    const int64_t unsorted[3] = {0, 2000000, 1000000};
    tzif(&b, '2', unsorted, idx, 3, types, 2, chars, 8, 0, "");
    expect_bad_blob(&b, "ascending");
    const struct ttinfo bad_desig[2] = {{3600, 0, 0}, {7200, 1, 8}};
    tzif(&b, '2', times, idx, 3, bad_desig, 2, chars, 8, 0, "");
    expect_bad_blob(&b, "local time type");
    const struct ttinfo bad_dst[2] = {{3600, 0, 0}, {7200, 2, 4}};
    tzif(&b, '2', times, idx, 3, bad_dst, 2, chars, 8, 0, "");
    expect_bad_blob(&b, "local time type");
    const struct ttinfo bad_off[2] = {{3600, 0, 0}, {INT32_MIN, 0, 4}};
    tzif(&b, '2', times, idx, 3, bad_off, 2, chars, 8, 0, "");
    expect_bad_blob(&b, "offset");
    tzif(&b, '2', times, idx, 3, types, 0, chars, 8, 0, "");
    expect_bad_blob(&b, "types");
    tzif(&b, '2', times, idx, 3, types, 2, chars, 0, 0, "");
    expect_bad_blob(&b, "designations");
    tzif(&b, '2', times, idx, 3, types, 2, chars, 8, 1, "");
    expect_bad_blob(&b, "leap-second");
    tzif(&b, '2', times, idx, 3, types, 2, chars, 8, 0, "EST5EDT,M3.2.0");
    expect_bad_blob(&b, "TZ string");
    tzif(&b, '2', times, idx, 3, types, 2, chars, 8, 0, "");
    b.n--; /* footer's last newline */
    expect_bad_blob(&b, "footer");
    tzif(&b, '2', times, idx, 3, types, 2, chars, 8, 0, "");
    b.n -= 2; /* no footer at all */
    expect_bad_blob(&b, "footer");
    tzif(&b, '2', times, idx, 3, types, 2, chars, 8, 0, "");
    b.d[2] = 'X';
    expect_bad_blob(&b, "magic");
    tzif(&b, '2', times, idx, 3, types, 2, chars, 8, 0, "");
    b.d[4] = '1';
    expect_bad_blob(&b, "version");
    tzif(&b, '2', times, idx, 3, types, 2, chars, 8, 0, "");
    b.d[35] = 0xff; /* timecnt of the v1 block: far past the end */
    expect_bad_blob(&b, "truncated");
    assert_int_equal(scale_tz_parse("x", NULL, 0, &tz, &err), -1);
    assert_int_equal(scale_tz_parse("x", "", 0, &tz, &err), -1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (is tzdata installed?)", path);
    uint8_t *buf = malloc(SCALE_TZ_FILE_MAX);
    assert_non_null(buf);
    *len = fread(buf, 1, SCALE_TZ_FILE_MAX, f);
    fclose(f);
    return buf;
}

/* Every proper prefix of a real file is an error; random byte mutations give
 * an error or a zone that answers every question without crashing (ASan and
 * UBSan check the "without crashing" in the -asan build). */
static void test_tzif_truncated_and_mutated(void **state)
{
    (void)state;
    const char *files[] = {ZONEINFO "/America/New_York", ZONEINFO "/Asia/Shanghai",
                           ZONEINFO "/Australia/Lord_Howe"};
    srand(777);
    for (size_t f = 0; f < ARRAY_LEN(files); f++) {
        size_t len;
        uint8_t *buf = slurp(files[f], &len);
        struct scale_tz *tz = NULL;
        struct frost_err err = {0};
        assert_int_equal(scale_tz_parse("whole", buf, len, &tz, &err), 0);
        scale_tz_free(tz);
        for (size_t n = 0; n < len; n++) {
            tz = NULL;
            if (scale_tz_parse("prefix", buf, n, &tz, &err) != -1)
                fail_msg("%s cut to %zu of %zu bytes was accepted", files[f], n, len);
            assert_null(tz);
        }
        uint8_t *mut = malloc(len);
        assert_non_null(mut);
        int ok = 0;
        for (int round = 0; round < 3000; round++) {
            memcpy(mut, buf, len);
            int flips = 1 + rand() % 4;
            for (int k = 0; k < flips; k++) {
                size_t at = (size_t)rand() % len;
                mut[at] =
                    rand() % 3 == 0 ? (uint8_t)(mut[at] ^ (1u << (rand() % 8))) : (uint8_t)rand();
            }
            tz = NULL;
            if (scale_tz_parse("mutant", mut, len, &tz, &err) != 0)
                continue;
            ok++;
            for (int64_t t = -3000000000LL; t < 6000000000LL; t += 700000000) {
                struct scale_tz_info info;
                scale_tz_lookup(tz, t, &info);
                (void)scale_tz_to_utc(tz, t);
                (void)scale_tz_last_local(tz, t);
                (void)scale_tz_next_transition(tz, t, NULL, NULL);
            }
            (void)scale_tz_to_utc(tz, INT64_MAX);
            (void)scale_tz_last_local(tz, INT64_MIN);
            (void)scale_tz_next_transition(tz, INT64_MAX, NULL, NULL);
            scale_tz_free(tz);
        }
        assert_true(ok > 0); /* mutations of the abbreviations and times still parse */
        free(mut);
        free(buf);
    }
}

/* ---- loading from a directory -------------------------------------------- */

static char dir[64];

static void write_file(const char *name, const void *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/frost-tz-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void expect_load_error(const char *d, const char *name, int status, const char *needle)
{
    struct scale_tz *tz = NULL;
    struct frost_err err = {0};
    assert_int_equal(scale_tz_load(d, name, &tz, &err), -1);
    assert_null(tz);
    assert_int_equal(err.status, status);
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_load(void **state)
{
    (void)state;
    size_t len;
    uint8_t *ny = slurp(ZONEINFO "/America/New_York", &len);
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/Test", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_file("Test/Good", ny, len);
    write_file("Test/Truncated", ny, len / 2);
    write_file("Test/Empty", "", 0);
    const char *text = "# tzdata zone.tab-like text, long enough for a header\n";
    write_file("Test/Text", text, strlen(text));
    uint8_t *big = calloc(1, SCALE_TZ_FILE_MAX + 10);
    assert_non_null(big);
    memcpy(big, ny, len);
    write_file("Test/Huge", big, SCALE_TZ_FILE_MAX + 10);
    free(big);

    struct scale_tz *tz = NULL;
    struct frost_err err = {0};
    assert_int_equal(scale_tz_load(dir, "Test/Good", &tz, &err), 0);
    assert_int_equal(scale_tz_offset(tz, utc("2024-03-10T07:00:00Z")), -14400);
    scale_tz_free(tz);

    expect_load_error(dir, "Test/Truncated", 400, "not a valid TZif file (truncated");
    expect_load_error(dir, "Test/Empty", 400, "not a valid TZif file");
    expect_load_error(dir, "Test/Text", 400, "bad magic");
    expect_load_error(dir, "Test/Huge", 400, "larger than");
    expect_load_error(dir, "Test", 400, "unknown time zone \"Test\""); /* a directory */
    expect_load_error(dir, "Test/Good/x", 400, "unknown time zone");   /* ENOTDIR */
    expect_load_error(dir, "Mars/Base", 400, "unknown time zone \"Mars/Base\"");
    expect_load_error(NULL, "Mars/Base", 400, "unknown time zone \"Mars/Base\"");
    expect_load_error(dir, "../etc/passwd", 400, "unknown time zone");
    expect_load_error(dir, "/etc/passwd", 400, "unknown time zone");
    expect_load_error(dir, "", 400, "unknown time zone");
    expect_load_error(dir, NULL, 400, "unknown time zone");
    expect_load_error(dir, "Asia/Shanghai x", 400, "unknown time zone");

    /* UTC without a file. */
    assert_int_equal(scale_tz_load(dir, "UTC", &tz, &err), 0);
    assert_string_equal(scale_tz_name(tz), "UTC");
    assert_int_equal(scale_tz_offset(tz, 0), 0);
    scale_tz_free(tz);
    assert_int_equal(scale_tz_load(dir, "Etc/UTC", &tz, &err), 0);
    scale_tz_free(tz);
    scale_tz_free(NULL);
    free(ny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_shanghai),
        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_etc_gmt),
        cmocka_unit_test(test_monotonic_property),
        cmocka_unit_test(test_posix),
        cmocka_unit_test(test_tzif_synthetic),
        cmocka_unit_test(test_tzif_truncated_and_mutated),
        cmocka_unit_test_setup_teardown(test_load, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
