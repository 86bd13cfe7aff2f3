/* Unit tests for src/base/buf.c: growth, the hard limit, printf, consume, steal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

static void test_init_and_free(void **state)
{
    (void)state;
    struct buf a = BUF_INIT(100);
    assert_null(a.data);
    assert_int_equal(a.len, 0);
    assert_int_equal(a.cap, 0);
    assert_int_equal(a.limit, 100);

    struct buf b;
    memset(&b, 0x5a, sizeof(b));
    buf_init(&b, 7);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.limit, 7);

    /* Freeing an untouched buffer, and freeing twice, are fine. */
    buf_free(&b);
    buf_free(&b);
    assert_null(b.data);
}

static void test_append_and_growth(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(0);
    assert_int_equal(buf_append_str(&b, "hello"), 0);
    assert_int_equal(b.len, 5);
    assert_true(b.cap >= 6);
    assert_string_equal(b.data, "hello");

    /* Grow well past the first allocation, checking content and the NUL. */
    char expect[10000];
    memcpy(expect, "hello", 5);
    for (size_t i = 5; i < sizeof(expect) - 1; i++) {
        char ch = (char)('a' + i % 26);
        expect[i] = ch;
        assert_int_equal(buf_append(&b, &ch, 1), 0);
        assert_int_equal(b.len, i + 1);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], 0);
    }
    expect[sizeof(expect) - 1] = 0;
    assert_string_equal(b.data, expect);

    /* Zero-length appends change nothing. */
    size_t len = b.len;
    assert_int_equal(buf_append(&b, NULL, 0), 0);
    assert_int_equal(buf_append_str(&b, ""), 0);
    assert_int_equal(b.len, len);
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_binary_content(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(0);
    const char bin[] = {'a', 0, 'b', 0, 'c'};
    assert_int_equal(buf_append(&b, bin, sizeof(bin)), 0);
    assert_int_equal(b.len, sizeof(bin));
    assert_memory_equal(b.data, bin, sizeof(bin));
    assert_int_equal(b.data[b.len], 0);
    buf_free(&b);
}

static void test_limit(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(10);
    assert_int_equal(buf_append_str(&b, "12345678"), 0);
    char *before = b.data;
    size_t cap = b.cap;

    errno = 0;
    assert_int_equal(buf_append_str(&b, "abc"), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(b.len, 8);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.data, "12345678");

    errno = 0;
    assert_int_equal(buf_printf(&b, "%d", 123), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_string_equal(b.data, "12345678");

    errno = 0;
    assert_int_equal(buf_reserve(&b, 3), -1);
    assert_int_equal(errno, EMSGSIZE);

    /* Filling exactly to the limit is allowed; one byte more is not. */
    assert_int_equal(buf_append_str(&b, "9A"), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "123456789A");
    assert_int_equal(buf_reserve(&b, 0), 0);
    errno = 0;
    assert_int_equal(buf_append(&b, "x", 1), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "123456789A");

    /* Consuming makes room again. */
    buf_consume(&b, 5);
    assert_int_equal(buf_append_str(&b, "BCDEF"), 0);
    assert_string_equal(b.data, "6789ABCDEF");
    buf_free(&b);
}

static void test_limit_does_not_overallocate(void **state)
{
    (void)state;
    /* Doubling would pass the limit; the allocation stops at limit + NUL. */
    struct buf b = BUF_INIT(100);
    char data[100];
    memset(data, 'x', sizeof(data));
    assert_int_equal(buf_append(&b, data, 70), 0);
    assert_int_equal(buf_append(&b, data, 30), 0);
    assert_int_equal(b.len, 100);
    assert_true(b.cap <= 101);
    buf_free(&b);
}

static void test_reserve_overflow(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(0);
    assert_int_equal(buf_append_str(&b, "abc"), 0);
    errno = 0;
    assert_int_equal(buf_reserve(&b, SIZE_MAX), -1);
    assert_int_equal(errno, EMSGSIZE);
    errno = 0;
    assert_int_equal(buf_reserve(&b, SIZE_MAX - 2), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_string_equal(b.data, "abc");
    assert_int_equal(b.len, 3);
    buf_free(&b);
}

static void test_reserve_zero_on_empty(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(0);
    assert_int_equal(buf_reserve(&b, 0), 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_true(b.cap >= 1);
    buf_free(&b);

    /* Even a buffer whose limit is 1 has room for its NUL. */
    struct buf one = BUF_INIT(1);
    assert_int_equal(buf_reserve(&one, 0), 0);
    assert_int_equal(buf_reserve(&one, 1), 0);
    assert_int_equal(buf_append(&one, "z", 1), 0);
    assert_string_equal(one.data, "z");
    buf_free(&one);
}

static void test_reserve_gives_room(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(0);
    assert_int_equal(buf_append_str(&b, "ab"), 0);
    assert_int_equal(buf_reserve(&b, 1000), 0);
    assert_true(b.cap >= b.len + 1000 + 1);
    /* Writing into reserved room is what reserve is for. */
    memset(b.data + b.len, 'c', 1000);
    b.len += 1000;
    b.data[b.len] = 0;
    assert_int_equal(strlen(b.data), 1002);
    buf_free(&b);
}

static void test_printf(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(0);
    assert_int_equal(buf_printf(&b, "%s=%d", "a", 1), 0);
    assert_int_equal(buf_printf(&b, " %s", ""), 0);
    assert_int_equal(buf_printf(&b, "%c", 'z'), 0);
    assert_string_equal(b.data, "a=1 z");
    assert_int_equal(b.len, 5);

    /* Longer than the 256-byte stack buffer: the second formatting pass. */
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(buf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 5 + 1 + 999 + 1);
    assert_memory_equal(b.data, "a=1 z[", 6);
    assert_memory_equal(b.data + 6, big, 999);
    assert_string_equal(b.data + 1005, "]");

    /* Exactly 255 and 256 bytes: the boundary of the stack buffer. */
    buf_reset(&b);
    big[255] = 0;
    assert_int_equal(buf_printf(&b, "%s", big), 0);
    assert_int_equal(b.len, 255);
    assert_string_equal(b.data, big);
    buf_reset(&b);
    big[255] = 'q';
    big[256] = 0;
    assert_int_equal(buf_printf(&b, "%s", big), 0);
    assert_int_equal(b.len, 256);
    assert_string_equal(b.data, big);
    buf_free(&b);
}

static void test_printf_long_over_limit(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(300);
    assert_int_equal(buf_append_str(&b, "head"), 0);
    char big[400];
    memset(big, 'w', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    errno = 0;
    assert_int_equal(buf_printf(&b, "%s", big), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "head");
    big[296] = 0; /* 4 + 296 = the limit exactly */
    assert_int_equal(buf_printf(&b, "%s", big), 0);
    assert_int_equal(b.len, 300);
    buf_free(&b);
}

static int vprintf_helper(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int vprintf_helper(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

static void test_vprintf(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(0);
    char big[600];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(vprintf_helper(&b, "%s|%d", big, 42), 0);
    assert_int_equal(b.len, 599 + 3);
    assert_string_equal(b.data + 599, "|42");
    buf_free(&b);
}

static void test_consume(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(0);
    assert_int_equal(buf_append_str(&b, "abcdef"), 0);
    buf_consume(&b, 0);
    assert_string_equal(b.data, "abcdef");
    buf_consume(&b, 2);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "cdef");
    buf_consume(&b, 4);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    /* The allocation survives for reuse. */
    assert_non_null(b.data);
    assert_int_equal(buf_append_str(&b, "xyz"), 0);
    assert_string_equal(b.data, "xyz");
    buf_free(&b);

    /* Consuming from a never-allocated buffer is harmless. */
    struct buf e = BUF_INIT(0);
    buf_consume(&e, 0);
    assert_null(e.data);
    assert_int_equal(e.len, 0);
}

static void test_reset(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(0);
    assert_int_equal(buf_append_str(&b, "abc"), 0);
    char *p = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, p);
    assert_int_equal(b.cap, cap);
    assert_int_equal(buf_append_str(&b, "d"), 0);
    assert_string_equal(b.data, "d");
    buf_free(&b);
}

static void test_steal(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(50);
    assert_int_equal(buf_append_str(&b, "owned"), 0);
    char *s = buf_steal(&b);
    assert_non_null(s);
    assert_string_equal(s, "owned");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.limit, 50);
    free(s);

    /* The buffer is usable again after a steal. */
    assert_int_equal(buf_append_str(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    buf_free(&b);
}

static void test_steal_empty(void **state)
{
    (void)state;
    /* The header promises a NUL-terminated string, even for nothing. */
    struct buf b = BUF_INIT(0);
    char *s = buf_steal(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);

    /* Reserved but never written. */
    struct buf r = BUF_INIT(0);
    assert_int_equal(buf_reserve(&r, 16), 0);
    s = buf_steal(&r);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);

    /* Emptied by consume. */
    struct buf c = BUF_INIT(0);
    assert_int_equal(buf_append_str(&c, "gone"), 0);
    buf_consume(&c, 4);
    s = buf_steal(&c);
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_free),
        cmocka_unit_test(test_append_and_growth),
        cmocka_unit_test(test_binary_content),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_limit_does_not_overallocate),
        cmocka_unit_test(test_reserve_overflow),
        cmocka_unit_test(test_reserve_zero_on_empty),
        cmocka_unit_test(test_reserve_gives_room),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_printf_long_over_limit),
        cmocka_unit_test(test_vprintf),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_steal_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
