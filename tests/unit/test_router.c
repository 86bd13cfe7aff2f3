/* Unit tests for src/http/router.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http/router.h"

static int h_a, h_b;
static void ha(struct http_request *r, void *ud)
{
    h_a++;
}
static void hb(struct http_request *r, void *ud)
{
    h_b++;
}

static struct router *make(void)
{
    struct router *r = router_new();
    struct frost_err err;
    struct http_route_opts big = {.max_body = 123};
    assert_int_equal(router_add(r, "GET", "/2023-03-30/functions", ha, NULL, NULL, &err), 0);
    assert_int_equal(router_add(r, "POST", "/2023-03-30/functions", hb, NULL, &big, &err), 0);
    assert_int_equal(router_add(r, "GET", "/2023-03-30/functions/{fn}", ha, NULL, NULL, &err), 0);
    assert_int_equal(
        router_add(r, "POST", "/2023-03-30/functions/{fn}/invocations", hb, NULL, NULL, &err), 0);
    assert_int_equal(router_add(r, "*", "/fn/{fn}/{path...}", ha, NULL, NULL, &err), 0);
    assert_int_equal(router_add(r, "GET", "/slash/", hb, NULL, NULL, &err), 0);
    return r;
}

static void test_literal_and_methods(void **state)
{
    struct router *r = make();
    struct router_match *m = calloc(1, sizeof(*m));
    char allow[64];
    assert_int_equal(router_match(r, "GET", "/2023-03-30/functions", m, allow, sizeof(allow)), 200);
    assert_ptr_equal(m->handler, ha);
    assert_int_equal(router_match(r, "POST", "/2023-03-30/functions", m, allow, sizeof(allow)),
                     200);
    assert_ptr_equal(m->handler, hb);
    assert_int_equal(m->opts.max_body, 123);
    assert_int_equal(router_match(r, "DELETE", "/2023-03-30/functions", m, allow, sizeof(allow)),
                     405);
    assert_string_equal(allow, "GET, POST");
    assert_int_equal(router_match(r, "GET", "/2023-03-30/nothing", m, allow, sizeof(allow)), 404);
    assert_int_equal(router_match(r, "GET", "/", m, allow, sizeof(allow)), 404);
    assert_int_equal(router_match(r, "GET", "relative", m, allow, sizeof(allow)), 400);
    free(m);
    router_free(r);
}

static void test_params(void **state)
{
    struct router *r = make();
    struct router_match *m = calloc(1, sizeof(*m));
    assert_int_equal(router_match(r, "POST", "/2023-03-30/functions/my-fn/invocations", m, NULL, 0),
                     200);
    assert_string_equal(router_param(m, "fn"), "my-fn");
    assert_null(router_param(m, "nope"));
    /* percent-decoding */
    assert_int_equal(router_match(r, "GET", "/2023-03-30/functions/a%20b", m, NULL, 0), 200);
    assert_string_equal(router_param(m, "fn"), "a b");
    /* empty parameter segment does not match */
    assert_int_equal(router_match(r, "GET", "/2023-03-30/functions/", m, NULL, 0), 404);
    /* bad escapes and encoded NUL are refused */
    assert_int_equal(router_match(r, "GET", "/2023-03-30/functions/a%2", m, NULL, 0), 400);
    assert_int_equal(router_match(r, "GET", "/2023-03-30/functions/a%zz", m, NULL, 0), 400);
    assert_int_equal(router_match(r, "GET", "/2023-03-30/functions/a%00", m, NULL, 0), 400);
    free(m);
    router_free(r);
}

static void test_rest(void **state)
{
    struct router *r = make();
    struct router_match *m = calloc(1, sizeof(*m));
    assert_int_equal(router_match(r, "PATCH", "/fn/hello/a/b/c", m, NULL, 0), 200);
    assert_string_equal(router_param(m, "fn"), "hello");
    assert_string_equal(router_param(m, "path"), "a/b/c");
    assert_int_equal(router_match(r, "GET", "/fn/hello/", m, NULL, 0), 200);
    assert_string_equal(router_param(m, "path"), "");
    assert_int_equal(router_match(r, "GET", "/fn/hello", m, NULL, 0), 404);
    assert_int_equal(router_match(r, "GET", "/slash/", m, NULL, 0), 200);
    assert_int_equal(router_match(r, "GET", "/slash", m, NULL, 0), 404);
    free(m);
    router_free(r);
}

static void test_bad_patterns(void **state)
{
    struct router *r = router_new();
    struct frost_err err;
    assert_int_equal(router_add(r, "GET", "nope", ha, NULL, NULL, &err), -1);
    assert_int_equal(router_add(r, "GET", "/a/{x", ha, NULL, NULL, &err), -1);
    assert_int_equal(router_add(r, "GET", "/a/{x...}/b", ha, NULL, NULL, &err), -1);
    assert_int_equal(router_add(r, "GET", "/a/{}", ha, NULL, NULL, &err), -1);
    assert_int_equal(router_add(r, "GET", "/a/b}c", ha, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "malformed"));
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_methods),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_rest),
        cmocka_unit_test(test_bad_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
