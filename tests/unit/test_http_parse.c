/* Unit tests for src/http/parse.c: the glue between http_parser and the
 * server/client: header collection, limits, pausing, pipelining, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

struct rec {
    int heads;
    int completes;
    char body[65536];
    size_t body_len;
    int pause_body; /* pause after each body chunk */
    int skip_body;
    char target[256];
    char hdrs[8][2][128];
    size_t n_hdrs;
    bool chunked, expect, bad_expect, keep_alive;
    int status;
};

static int r_head(void *ud, struct http_msg *m)
{
    struct rec *r = ud;
    r->heads++;
    snprintf(r->target, sizeof(r->target), "%s", m->target ? m->target : "");
    r->n_hdrs = m->n_headers < 8 ? m->n_headers : 8;
    for (size_t i = 0; i < r->n_hdrs; i++) {
        snprintf(r->hdrs[i][0], 128, "%.*s", (int)m->headers[i].name_len, m->headers[i].name);
        snprintf(r->hdrs[i][1], 128, "%.*s", (int)m->headers[i].value_len, m->headers[i].value);
        /* values are NUL-terminated in place */
        assert_int_equal(m->headers[i].value[m->headers[i].value_len], 0);
    }
    r->chunked = m->chunked;
    r->expect = m->expect_continue;
    r->bad_expect = m->bad_expect;
    r->keep_alive = m->keep_alive;
    r->status = m->status;
    return r->skip_body ? HTTP_PARSE_SKIPBODY : HTTP_PARSE_OK;
}

static int r_body(void *ud, const char *d, size_t n)
{
    struct rec *r = ud;
    assert_true(r->body_len + n <= sizeof(r->body));
    memcpy(r->body + r->body_len, d, n);
    r->body_len += n;
    return r->pause_body ? HTTP_PARSE_PAUSE : HTTP_PARSE_OK;
}

static int r_complete(void *ud)
{
    struct rec *r = ud;
    r->completes++;
    return 0;
}

static const struct http_parse_cb cb = {r_head, r_body, r_complete};

/* Feeds everything, resuming after each pause; returns bytes consumed. */
static size_t feed_all(struct http_parse *ps, const char *s, size_t len)
{
    size_t off = 0;
    while (off < len && !ps->err_status) {
        size_t n = http_parse_feed(ps, s + off, len - off);
        off += n;
        if (ps->paused)
            http_parse_resume(ps);
        else if (n == 0)
            break;
    }
    return off;
}

static void test_simple_get(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct http_parse ps;
    http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
    const char req[] = "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Two: a b \r\n\r\n";
    size_t n = http_parse_feed(&ps, req, sizeof(req) - 1);
    assert_int_equal(n, sizeof(req) - 1);
    assert_int_equal(ps.err_status, 0);
    assert_int_equal(r->heads, 1);
    assert_int_equal(r->completes, 1);
    assert_string_equal(r->target, "/a/b?x=1");
    assert_int_equal(r->n_hdrs, 3);
    assert_string_equal(r->hdrs[0][0], "Host");
    assert_string_equal(r->hdrs[0][1], "h");
    assert_string_equal(r->hdrs[1][0], "X-Empty");
    assert_string_equal(r->hdrs[1][1], "");
    assert_string_equal(r->hdrs[2][0], "X-Two");
    assert_string_equal(r->hdrs[2][1], "a b");
    assert_true(r->keep_alive);
    http_parse_free(&ps);
    free(r);
}

/* Headers split at every byte boundary must come out the same. */
static void test_byte_by_byte(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct http_parse ps;
    http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
    const char req[] = "POST /p HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                       "X-Long-Header-Name: some-value\r\n\r\nhello";
    for (size_t i = 0; i < sizeof(req) - 1; i++) {
        size_t n = http_parse_feed(&ps, req + i, 1);
        assert_int_equal(n, 1);
        if (ps.paused)
            http_parse_resume(&ps);
    }
    assert_int_equal(ps.err_status, 0);
    assert_int_equal(r->completes, 1);
    assert_string_equal(r->target, "/p");
    assert_string_equal(r->hdrs[0][0], "Content-Type");
    assert_string_equal(r->hdrs[0][1], "text/plain");
    assert_string_equal(r->hdrs[2][0], "X-Long-Header-Name");
    assert_string_equal(r->hdrs[2][1], "some-value");
    assert_int_equal(r->body_len, 5);
    assert_memory_equal(r->body, "hello", 5);
    http_parse_free(&ps);
    free(r);
}

static void test_chunked_body(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct http_parse ps;
    http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
    const char req[] = "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    size_t n = feed_all(&ps, req, sizeof(req) - 1);
    assert_int_equal(n, sizeof(req) - 1);
    assert_true(r->chunked);
    assert_int_equal(r->completes, 1);
    assert_int_equal(r->body_len, 11);
    assert_memory_equal(r->body, "hello world", 11);
    http_parse_free(&ps);
    free(r);
}

/* Pausing in the body stops feeding there; resuming continues exactly. */
static void test_pause_in_body(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    r->pause_body = 1;
    struct http_parse ps;
    http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
    const char req[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    size_t len = sizeof(req) - 1;
    size_t n = http_parse_feed(&ps, req, len);
    assert_true(ps.paused);
    assert_int_equal(r->body_len, 3);
    assert_true(n < len);
    size_t total = n;
    int rounds = 0;
    while (total < len && rounds++ < 20) {
        http_parse_resume(&ps);
        total += http_parse_feed(&ps, req + total, len - total);
    }
    assert_int_equal(total, len);
    assert_int_equal(r->body_len, 6);
    assert_memory_equal(r->body, "abcdef", 6);
    assert_int_equal(r->heads, 2);
    assert_string_equal(r->target, "/next");
    http_parse_free(&ps);
    free(r);
}

/* Each complete message pauses the parser: pipelined requests come one at a time. */
static void test_pipelined_one_at_a_time(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct http_parse ps;
    http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
    const char req[] = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n";
    size_t len = sizeof(req) - 1, off = 0;
    for (int i = 1; i <= 3; i++) {
        off += http_parse_feed(&ps, req + off, len - off);
        assert_int_equal(r->completes, i);
        char want[8];
        snprintf(want, sizeof(want), "/%d", i);
        assert_string_equal(r->target, want);
        assert_true(ps.paused);
        http_parse_resume(&ps);
    }
    assert_int_equal(off, len);
    http_parse_free(&ps);
    free(r);
}

static void test_header_too_large(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct http_parse ps;
    http_parse_init(&ps, HTTP_REQUEST, 1024, &cb, r);
    char req[4096];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', 2000);
    memcpy(req + n + 2000, "\r\n\r\n", 4);
    http_parse_feed(&ps, req, (size_t)n + 2004);
    assert_int_equal(ps.err_status, 431);
    assert_int_equal(r->heads, 0);
    /* sticky: nothing more is accepted */
    assert_int_equal(http_parse_feed(&ps, "GET / HTTP/1.1\r\n\r\n", 18), 0);
    http_parse_free(&ps);
    free(r);
}

static void test_too_many_headers(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct http_parse ps;
    http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
    char req[8192];
    size_t n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "h%d: v\r\n", i);
    n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
    http_parse_feed(&ps, req, n);
    assert_int_equal(ps.err_status, 431);
    http_parse_free(&ps);
    free(r);
}

static void test_malformed(void **state)
{
    static const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rec *r = calloc(1, sizeof(*r));
        struct http_parse ps;
        http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
        feed_all(&ps, bad[i], strlen(bad[i]));
        if (ps.err_status == 0)
            print_error("accepted malformed request %zu\n", i);
        assert_int_not_equal(ps.err_status, 0);
        assert_true(ps.err_status == 400 || ps.err_status == 505);
        http_parse_free(&ps);
        free(r);
    }
}

static void test_expect(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct http_parse ps;
    http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
    const char a[] = "POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx";
    feed_all(&ps, a, sizeof(a) - 1);
    assert_true(r->expect);
    assert_false(r->bad_expect);
    http_parse_free(&ps);

    memset(r, 0, sizeof(*r));
    http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
    const char b[] = "POST / HTTP/1.1\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx";
    feed_all(&ps, b, sizeof(b) - 1);
    assert_false(r->expect);
    assert_true(r->bad_expect);
    http_parse_free(&ps);

    /* HTTP/1.0 clients cannot expect 100 */
    memset(r, 0, sizeof(*r));
    http_parse_init(&ps, HTTP_REQUEST, 65536, &cb, r);
    const char c[] = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx";
    feed_all(&ps, c, sizeof(c) - 1);
    assert_false(r->expect);
    assert_false(r->keep_alive);
    http_parse_free(&ps);
    free(r);
}

static void test_response_close_delimited(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct http_parse ps;
    http_parse_init(&ps, HTTP_RESPONSE, 65536, &cb, r);
    const char resp[] = "HTTP/1.0 200 OK\r\nX: y\r\n\r\nsome body";
    size_t n = feed_all(&ps, resp, sizeof(resp) - 1);
    assert_int_equal(n, sizeof(resp) - 1);
    assert_int_equal(r->completes, 0);
    assert_int_equal(http_parse_eof(&ps), 0);
    assert_int_equal(r->completes, 1);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, 9);
    http_parse_free(&ps);
    free(r);
}

static void test_response_cut_short(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    struct http_parse ps;
    http_parse_init(&ps, HTTP_RESPONSE, 65536, &cb, r);
    const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    feed_all(&ps, resp, sizeof(resp) - 1);
    assert_int_equal(http_parse_eof(&ps), -1);
    assert_int_equal(r->completes, 0);
    http_parse_free(&ps);
    free(r);
}

static void test_response_to_head(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));
    r->skip_body = 1;
    struct http_parse ps;
    http_parse_init(&ps, HTTP_RESPONSE, 65536, &cb, r);
    const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    feed_all(&ps, resp, sizeof(resp) - 1);
    assert_int_equal(r->completes, 1);
    assert_int_equal(r->body_len, 0);
    http_parse_free(&ps);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_pause_in_body),
        cmocka_unit_test(test_pipelined_one_at_a_time),
        cmocka_unit_test(test_header_too_large),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_expect),
        cmocka_unit_test(test_response_close_delimited),
        cmocka_unit_test(test_response_cut_short),
        cmocka_unit_test(test_response_to_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
