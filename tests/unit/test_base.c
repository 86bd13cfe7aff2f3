/* Unit tests for the small base helpers: ISO 8601 time, request ids,
 * log_quote and log_level_parse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/codec.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/reqid.h"

/* ---- clock -------------------------------------------------------------- */

static void test_iso8601_format(void **state)
{
    (void)state;
    char out[25];
    clock_format_iso8601(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    clock_format_iso8601(1795837524123, out, sizeof(out));
    assert_string_equal(out, "2026-11-28T03:45:24.123Z");
    clock_format_iso8601(951782400999, out, sizeof(out)); /* leap day 2000 */
    assert_string_equal(out, "2000-02-29T00:00:00.999Z");
    clock_format_iso8601(4102444799001, out, sizeof(out));
    assert_string_equal(out, "2099-12-31T23:59:59.001Z");

    /* The stated 25 bytes are enough: 24 characters and the NUL. */
    assert_int_equal(strlen(out), 24);

    /* A short buffer truncates instead of overflowing. */
    char small[11];
    clock_format_iso8601(0, small, sizeof(small));
    assert_string_equal(small, "1970-01-01");
}

static void test_iso8601_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.000Z", 0},
        {"2026-11-28T03:45:24.123Z", 1795837524123},
        {"2026-11-28T03:45:24Z", 1795837524000},
        {"2026-11-28T03:45:24.1Z", 1795837524100},
        {"2026-11-28T03:45:24.12Z", 1795837524120},
        {"2026-11-28T03:45:24.123456Z", 1795837524123}, /* sub-ms digits dropped */
        {"2000-02-29T00:00:00.999Z", 951782400999},
        {"2099-12-31T23:59:59.001Z", 4102444799001},
    };
    static const char *const bad[] = {
        "",
        "garbage",
        "2026-11-28",
        "2026-11-28T03:45:24",       /* no zone */
        "2026-11-28T03:45:24+00:00", /* only Z is accepted */
        "2026-11-28T03:45:24.Z",     /* dot without digits */
        "2026-11-28T03:45:24ZZ",
        "2026-11-28T03:45:24Z ",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-32T00:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T03:60:00Z",
        "2026-11-28T03:45:61Z",
        "2026-11-28 03:45:24Z",
        "2026-02-31T00:00:00Z", /* no such day: not rolled into March */
        "2025-02-29T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = -12345;
        if (clock_parse_iso8601(ok[i].s, &v) != 0)
            fail_msg("\"%s\" refused", ok[i].s);
        assert_int_equal(v, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = -12345;
        if (clock_parse_iso8601(bad[i], &v) != -1)
            fail_msg("\"%s\" accepted as %lld", bad[i], (long long)v);
        assert_int_equal(v, -12345);
    }
}

static void test_iso8601_round_trip(void **state)
{
    (void)state;
    int64_t samples[] = {0, 1, 999, 1000, 86399999, 1795837524123, 4102444799999};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char out[25];
        int64_t back = -1;
        clock_format_iso8601(samples[i], out, sizeof(out));
        assert_int_equal(clock_parse_iso8601(out, &back), 0);
        assert_int_equal(back, samples[i]);
    }
    /* And the current time, which is what servers format. */
    int64_t now = clock_wall_ms(), back = -1;
    char out[25];
    clock_format_iso8601(now, out, sizeof(out));
    assert_int_equal(clock_parse_iso8601(out, &back), 0);
    assert_int_equal(back, now);
}

static void test_clocks(void **state)
{
    (void)state;
    uint64_t a = clock_mono_ns(), b = clock_mono_ns();
    assert_true(b >= a);
    assert_true(clock_mono_ms() <= clock_mono_us() / 1000 + 1);
    int64_t wall = clock_wall_ms();
    int64_t t = (int64_t)time(NULL) * 1000;
    assert_true(wall >= t - 2000 && wall <= t + 2000);
}

/* ---- reqid -------------------------------------------------------------- */

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void test_reqid_shape(void **state)
{
    (void)state;
    char id[REQID_LEN + 8];
    memset(id, 'X', sizeof(id));
    time_t before = time(NULL);
    reqid_new(id);
    time_t after = time(NULL);
    assert_int_equal(strlen(id), REQID_LEN);
    assert_int_equal(id[REQID_LEN + 1], 'X'); /* nothing written past the NUL */
    assert_int_equal(id[0], '1');
    assert_int_equal(id[1], '-');
    assert_int_equal(id[10], '-');
    assert_int_equal(id[19], '-');
    assert_true(is_lower_hex(id + 2, 8));
    assert_true(is_lower_hex(id + 11, 8));
    assert_true(is_lower_hex(id + 20, 12));

    char secs[9];
    memcpy(secs, id + 2, 8);
    secs[8] = 0;
    unsigned long long t = strtoull(secs, NULL, 16);
    assert_true(t >= (unsigned long long)before && t <= (unsigned long long)after);
}

static void test_reqid_unique(void **state)
{
    (void)state;
    enum { N = 10000 };
    char(*ids)[REQID_LEN + 1] = calloc(N, REQID_LEN + 1);
    assert_non_null(ids);
    for (int i = 0; i < N; i++)
        reqid_new(ids[i]);
    for (int i = 1; i < N; i++) {
        /* The node part is fixed per process; the counter moves by one. */
        assert_memory_equal(ids[i] + 11, ids[0] + 11, 8);
        unsigned long long prev = strtoull(ids[i - 1] + 20, NULL, 16);
        unsigned long long cur = strtoull(ids[i] + 20, NULL, 16);
        assert_int_equal(cur, (prev + 1) & 0xffffffffffffull);
        assert_string_not_equal(ids[i], ids[i - 1]);
    }
    free(ids);
}

/* ---- log ---------------------------------------------------------------- */

static void test_log_quote_plain(void **state)
{
    (void)state;
    char tmp[64];
    const char *s = "GET";
    /* Plain values are returned as-is, not copied. */
    assert_ptr_equal(log_quote(s, tmp, sizeof(tmp)), s);
    const char *path = "/2023-03-30/functions/f-1?x";
    assert_ptr_equal(log_quote(path, tmp, sizeof(tmp)), path);
    const char *utf8 = "d\xc3\xa9j\xc3\xa0";
    assert_ptr_equal(log_quote(utf8, tmp, sizeof(tmp)), utf8);
    assert_string_equal(log_quote(NULL, tmp, sizeof(tmp)), "-");
}

static void test_log_quote_escapes(void **state)
{
    (void)state;
    char tmp[64];
    assert_string_equal(log_quote("", tmp, sizeof(tmp)), "\"\"");
    assert_string_equal(log_quote("a b", tmp, sizeof(tmp)), "\"a b\"");
    assert_string_equal(log_quote("k=v", tmp, sizeof(tmp)), "\"k=v\"");
    assert_string_equal(log_quote("say \"hi\"", tmp, sizeof(tmp)), "\"say \\\"hi\\\"\"");
    assert_string_equal(log_quote("back\\slash", tmp, sizeof(tmp)), "\"back\\\\slash\"");
    assert_string_equal(log_quote("line\nbreak\t\x7f", tmp, sizeof(tmp)),
                        "\"line\\x0abreak\\x09\\x7f\"");
}

static void test_log_quote_truncates(void **state)
{
    (void)state;
    char big[500];
    memset(big, 'a', sizeof(big) - 1);
    big[0] = ' ';
    big[sizeof(big) - 1] = 0;
    /* Every size from "too small to quote" up: the result must fit, be
     * terminated and still be quoted. ASan catches any write past tmplen. */
    for (unsigned len = 1; len <= 80; len++) {
        char *tmp = malloc(len);
        assert_non_null(tmp);
        const char *q = log_quote(big, tmp, len);
        if (len < 4) {
            assert_string_equal(q, "\"\"");
        } else {
            assert_ptr_equal(q, tmp);
            size_t n = strlen(q);
            assert_true(n < len);
            assert_true(n >= 2);
            assert_int_equal(q[0], '"');
            assert_int_equal(q[n - 1], '"');
        }
        free(tmp);
    }
    /* The same with control bytes, whose escapes take four bytes each. */
    char ctl[200];
    memset(ctl, '\x01', sizeof(ctl) - 1);
    ctl[sizeof(ctl) - 1] = 0;
    for (unsigned len = 4; len <= 40; len++) {
        char *tmp = malloc(len);
        assert_non_null(tmp);
        const char *q = log_quote(ctl, tmp, len);
        size_t n = strlen(q);
        assert_true(n < len);
        assert_int_equal(q[n - 1], '"');
        free(tmp);
    }
}

static void test_log_level_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        enum log_level lvl;
    } ok[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN},
        {"error", LOG_ERROR}, {"off", LOG_OFF},   {"warning", LOG_WARN},
    };
    static const char *const bad[] = {"", "INFO", "Info", "trace", "fatal", "info ", "5"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        enum log_level lvl = (enum log_level)99;
        assert_int_equal(log_level_parse(ok[i].s, &lvl), 0);
        assert_int_equal(lvl, ok[i].lvl);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum log_level lvl = (enum log_level)99;
        if (log_level_parse(bad[i], &lvl) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(lvl, 99);
    }
    /* Names round-trip through parse. */
    for (int l = LOG_DEBUG; l <= LOG_OFF; l++) {
        enum log_level back;
        assert_int_equal(log_level_parse(log_level_name((enum log_level)l), &back), 0);
        assert_int_equal(back, l);
    }
    assert_string_equal(log_level_name((enum log_level)42), "?");
}

static void test_equal_ct(void **state)
{
    (void)state;
    assert_true(codec_equal_ct("", ""));
    assert_true(codec_equal_ct("token-1", "token-1"));
    assert_false(codec_equal_ct("token-1", "token-2"));
    assert_false(codec_equal_ct("token-1", "token-"));
    assert_false(codec_equal_ct("token", "token-1"));
    assert_false(codec_equal_ct("", "x"));
    assert_false(codec_equal_ct("x", ""));
    assert_false(codec_equal_ct("abab", "ab")); /* a repeat of the shorter one */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_ct),
        cmocka_unit_test(test_iso8601_format),
        cmocka_unit_test(test_iso8601_parse),
        cmocka_unit_test(test_iso8601_round_trip),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_reqid_shape),
        cmocka_unit_test(test_reqid_unique),
        cmocka_unit_test(test_log_quote_plain),
        cmocka_unit_test(test_log_quote_escapes),
        cmocka_unit_test(test_log_quote_truncates),
        cmocka_unit_test(test_log_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
