#include "http/parse.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static struct http_parse *from(http_parser *p)
{
    return (struct http_parse *)p->data;
}

static int fail(struct http_parse *ps, int status, const char *reason)
{
    if (!ps->err_status) {
        ps->err_status = status;
        ps->err_reason = reason;
    }
    return -1;
}

static int grow(struct http_parse *ps, const char *at, size_t len)
{
    if (buf_append(&ps->head, at, len) < 0)
        return fail(ps, errno == EMSGSIZE ? 431 : 500,
                    errno == EMSGSIZE ? "header block too large" : "out of memory");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_parse *ps = from(p);
    buf_reset(&ps->head);
    ps->n = 0;
    ps->last = 0;
    ps->target_len = 0;
    ps->head_done = false;
    ps->in_message = true;
    memset(&ps->msg, 0, sizeof(ps->msg));
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_parse *ps = from(p);
    ps->target_len += len;
    return grow(ps, at, len);
}

static int end_target(struct http_parse *ps)
{
    /* The target is the first thing in the buffer; terminate it once. */
    if (ps->last == 0) {
        if (grow(ps, "", 1) < 0)
            return -1;
        ps->last = 2; /* as if a value just ended */
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_parse *ps = from(p);
    if (end_target(ps) < 0)
        return -1;
    if (ps->last == 2) {
        if (ps->n > 0 && grow(ps, "", 1) < 0) /* terminate the previous value */
            return -1;
        if (ps->n == HTTP_MAX_HEADERS)
            return fail(ps, 431, "too many headers");
        ps->off[ps->n][0] = ps->head.len;
        ps->off[ps->n][1] = 0;
        ps->off[ps->n][2] = 0;
        ps->off[ps->n][3] = 0;
        ps->n++;
    }
    ps->last = 1;
    ps->off[ps->n - 1][1] += len;
    return grow(ps, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_parse *ps = from(p);
    if (ps->last == 1) {
        if (grow(ps, "", 1) < 0) /* terminate the name */
            return -1;
        ps->off[ps->n - 1][2] = ps->head.len;
    }
    ps->last = 2;
    ps->off[ps->n - 1][3] += len;
    return grow(ps, at, len);
}

static bool value_is(const struct http_header *h, const char *v)
{
    return h->value_len == strlen(v) && strncasecmp(h->value, v, h->value_len) == 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_parse *ps = from(p);
    if (end_target(ps) < 0)
        return -1;
    if (ps->last == 1 && grow(ps, "", 1) < 0) /* name with no value at all */
        return -1;
    if (ps->n > 0 && ps->last == 1)
        ps->off[ps->n - 1][2] = ps->head.len;
    if (grow(ps, "", 1) < 0)
        return -1;

    struct http_msg *m = &ps->msg;
    const char *base = ps->head.data;
    m->target = base;
    m->target_len = ps->target_len;
    m->n_headers = ps->n;
    for (size_t i = 0; i < ps->n; i++) {
        m->headers[i].name = base + ps->off[i][0];
        m->headers[i].name_len = ps->off[i][1];
        size_t vlen = ps->off[i][3];
        char *v = ps->head.data + ps->off[i][2];
        /* http_parser keeps trailing whitespace; field values exclude it (RFC 9110 §5.5) */
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            v[--vlen] = 0;
        m->headers[i].value = v;
        m->headers[i].value_len = vlen;
    }
    m->major = p->http_major;
    m->minor = p->http_minor;
    m->method = (enum http_method)p->method;
    m->method_name = http_method_str((enum http_method)p->method);
    m->status = (int)p->status_code;
    m->keep_alive = http_should_keep_alive(p) != 0;
    m->chunked = (p->flags & F_CHUNKED) != 0;
    m->has_length = (p->flags & F_CONTENTLENGTH) != 0;
    m->content_length = m->has_length ? p->content_length : 0;
    m->upgrade = p->upgrade != 0;
    if (p->type == HTTP_REQUEST) {
        const struct http_header *e = http_header_find(m->headers, m->n_headers, "expect");
        if (e) {
            if (value_is(e, "100-continue") && (m->major > 1 || m->minor >= 1))
                m->expect_continue = true;
            else if (!value_is(e, "100-continue"))
                m->bad_expect = true;
        }
    }
    if (m->major != 1)
        return fail(ps, 505, "unsupported HTTP version");
    ps->head_done = true;
    int r = ps->cb->on_head ? ps->cb->on_head(ps->ud, m) : 0;
    if (r < 0)
        return fail(ps, 400, "rejected by handler");
    return r == HTTP_PARSE_SKIPBODY ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_parse *ps = from(p);
    int r = ps->cb->on_body ? ps->cb->on_body(ps->ud, at, len) : 0;
    if (r < 0)
        return fail(ps, 400, "body rejected by handler");
    if (r == HTTP_PARSE_PAUSE) {
        ps->paused = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_parse *ps = from(p);
    ps->in_message = false;
    int r = ps->cb->on_complete ? ps->cb->on_complete(ps->ud) : 0;
    if (r < 0)
        return fail(ps, 400, "rejected by handler");
    ps->paused = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_parse_init(struct http_parse *ps, enum http_parser_type type, size_t max_head,
                     const struct http_parse_cb *cb, void *ud)
{
    memset(ps, 0, sizeof(*ps));
    http_parser_init(&ps->p, type);
    ps->p.data = ps;
    ps->cb = cb;
    ps->ud = ud;
    ps->max_head = max_head;
    buf_init(&ps->head, max_head);
}

void http_parse_free(struct http_parse *ps)
{
    buf_free(&ps->head);
}

static void map_errno(struct http_parse *ps)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&ps->p);
    if (ps->err_status)
        return;
    switch (e) {
    case HPE_HEADER_OVERFLOW:
        fail(ps, 431, "header block too large");
        break;
    case HPE_INVALID_VERSION:
        fail(ps, 505, "unsupported HTTP version");
        break;
    case HPE_INVALID_METHOD:
        fail(ps, 400, "invalid method");
        break;
    default:
        fail(ps, 400, http_errno_description(e));
        break;
    }
}

size_t http_parse_feed(struct http_parse *ps, const char *data, size_t len)
{
    if (ps->err_status || ps->paused || len == 0)
        return 0;
    size_t n = http_parser_execute(&ps->p, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&ps->p);
    if (e == HPE_PAUSED)
        return n;
    if (e != HPE_OK) {
        map_errno(ps);
        return n;
    }
    if (n != len && !ps->p.upgrade)
        fail(ps, 400, "malformed message");
    return n;
}

int http_parse_eof(struct http_parse *ps)
{
    if (ps->err_status)
        return -1;
    if (!ps->in_message)
        return 0;
    if (ps->paused)
        return -1;
    http_parser_execute(&ps->p, &settings, NULL, 0);
    if (HTTP_PARSER_ERRNO(&ps->p) != HPE_OK && HTTP_PARSER_ERRNO(&ps->p) != HPE_PAUSED) {
        map_errno(ps);
        return -1;
    }
    return ps->in_message ? -1 : 0;
}

void http_parse_resume(struct http_parse *ps)
{
    if (!ps->paused)
        return;
    ps->paused = false;
    http_parser_pause(&ps->p, 0);
}
