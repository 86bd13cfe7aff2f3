/* libFuzzer target: the HTTP message parser glue (requests and responses) and
 * the router, fed in chunks of varying size, pausing and resuming as the
 * server does. The first input byte picks the mode and chunking. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"
#include "http/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct st {
    int pause_every;
    int n_body;
    struct router *router;
    struct router_match *m;
};

static int on_head(void *ud, struct http_msg *m)
{
    struct st *s = ud;
    volatile size_t sum = 0;
    for (size_t i = 0; i < m->n_headers; i++)
        sum += m->headers[i].name_len + m->headers[i].value_len + (size_t)m->headers[i].value[0];
    if (m->target && m->target[0] == '/') {
        char path[512];
        size_t n = strcspn(m->target, "?");
        if (n < sizeof(path)) {
            memcpy(path, m->target, n);
            path[n] = 0;
            char allow[64];
            router_match(s->router, m->method_name ? m->method_name : "GET", path, s->m, allow,
                         sizeof(allow));
        }
    }
    return 0;
}

static int on_body(void *ud, const char *d, size_t n)
{
    struct st *s = ud;
    volatile char c = n ? d[n - 1] : 0;
    (void)c;
    return (s->pause_every && (++s->n_body % s->pause_every) == 0) ? HTTP_PARSE_PAUSE : 0;
}

static int on_complete(void *ud)
{
    return 0;
}

static const struct http_parse_cb cb = {on_head, on_body, on_complete};

static void noop(struct http_request *r, void *ud)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static struct router *router;
    static struct router_match *m;
    if (!router) {
        struct frost_err err;
        router = router_new();
        m = calloc(1, sizeof(*m));
        if (router_add(router, "GET", "/2023-03-30/functions/{fn}", noop, NULL, NULL, &err) < 0 ||
            router_add(router, "*", "/fn/{fn}/{path...}", noop, NULL, NULL, &err) < 0)
            abort();
    }
    uint8_t mode = data[0];
    data++;
    size--;
    struct st s = {.pause_every = mode & 3, .router = router, .m = m};
    struct http_parse ps;
    http_parse_init(&ps, (mode & 0x80) ? HTTP_RESPONSE : HTTP_REQUEST, 4096, &cb, &s);
    size_t chunk = ((mode >> 2) & 0x1f) + 1;
    size_t off = 0;
    int guard = 0;
    while (off < size && !ps.err_status && guard++ < 100000) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t used = http_parse_feed(&ps, (const char *)data + off, n);
        off += used;
        if (ps.paused)
            http_parse_resume(&ps);
        else if (used == 0)
            break;
    }
    if (!ps.err_status)
        (void)http_parse_eof(&ps);
    http_parse_free(&ps);
    return 0;
}
