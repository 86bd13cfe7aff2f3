#include "http/proxy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/log.h"

#define MAX_RESP_ADD 16

struct proxy {
    struct http_request *req;
    struct http_creq *q;
    http_proxy_done_fn done;
    void *ud;
    struct http_proxy_result res;
    struct http_header add_resp[MAX_RESP_ADD];
    size_t n_add_resp;
    bool answer_errors;
    uint64_t start_us;
};

/* The Connection header of a message, which names more hop-by-hop headers. */
static const struct http_header *connection_of(const struct http_header *h, size_t n)
{
    return http_header_find(h, n, "connection");
}

static bool drop_header(const struct http_header *conn, const struct http_header *h)
{
    return http_header_is_hop_by_hop(h->name, h->name_len) ||
           (h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0) ||
           (h->name_len == 6 && strncasecmp(h->name, "expect", 6) == 0) ||
           (conn && http_token_list_has(conn->value, conn->value_len, h->name, h->name_len));
}

static void finish(struct proxy *p)
{
    struct http_request *req = p->req;
    if (req)
        http_req_on_abort(req, NULL, NULL);
    p->done(req, &p->res, p->ud);
    free(p);
}

/* ---- upstream → client */

static void on_down_written(struct http_request *req, int status, void *ud)
{
    struct proxy *p = ud;
    if (p->q)
        http_creq_resume(p->q);
}

static void up_head(struct http_creq *q, const struct http_msg *m, void *ud)
{
    struct proxy *p = ud;
    p->res.upstream_status = m->status;
    p->res.head_us = clock_mono_us() - p->start_us;
    if (!p->req)
        return;
    struct http_header h[HTTP_MAX_HEADERS + MAX_RESP_ADD];
    size_t n = 0;
    const struct http_header *conn = connection_of(m->headers, m->n_headers);
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct http_header *x = &m->headers[i];
        if (x->name_len == 15 && strncasecmp(x->name, "x-fc-error-type", 15) == 0)
            snprintf(p->res.fn_error_type, sizeof(p->res.fn_error_type), "%.*s", (int)x->value_len,
                     x->value);
        if (drop_header(conn, x) || (x->name_len == 4 && strncasecmp(x->name, "date", 4) == 0) ||
            (x->name_len == 6 && strncasecmp(x->name, "server", 6) == 0) ||
            (x->name_len == 15 && strncasecmp(x->name, "x-fc-request-id", 15) == 0))
            continue;
        h[n++] = *x;
    }
    for (size_t i = 0; i < p->n_add_resp; i++)
        h[n++] = p->add_resp[i];
    int64_t len = m->has_length ? (int64_t)m->content_length : -1;
    if (m->status == 204 || m->status == 304 || (m->status >= 100 && m->status < 200))
        len = 0;
    if (http_resp_start(p->req, m->status, h, n, len) == 0)
        p->res.response_started = true;
}

static int up_body(struct http_creq *q, const char *d, size_t n, void *ud)
{
    struct proxy *p = ud;
    if (!p->req || !p->res.response_started)
        return 0;
    p->res.bytes_down += n;
    int rc = http_resp_write(p->req, d, n, on_down_written, p);
    if (rc == 1)
        return 0;
    return HTTP_BODY_PAUSE; /* pending: resumes from on_down_written; gone: on_abort ends it */
}

static void up_done(struct http_creq *q, int status, void *ud)
{
    struct proxy *p = ud;
    p->q = NULL;
    p->res.error = status;
    struct http_request *req = p->req;
    if (!req) {
        finish(p);
        return;
    }
    if (status == 0) {
        http_resp_end(req);
        p->req = NULL; /* the response ended: req belongs to the server again */
        finish(p);
        return;
    }
    if (p->res.response_started) {
        /* Cut mid-response: the client must see the break, not a short body. */
        http_req_on_abort(req, NULL, NULL);
        p->req = NULL;
        log_warn("proxy_upstream_broken", "request_id=%s error=%s", http_req_id(req),
                 uv_err_name(status));
        http_req_abort_connection(req);
        finish(p);
        return;
    }
    if (p->answer_errors) {
        if (status == UV_ETIMEDOUT)
            http_respond_error(req, 504, "UpstreamTimeout", "the upstream did not answer in time");
        else
            http_respond_error(req, 502, "UpstreamUnavailable", "the upstream failed: %s",
                               uv_strerror(status));
        p->req = NULL;
    }
    finish(p);
}

/* ---- client → upstream */

static void on_up_written(struct http_creq *q, int status, void *ud)
{
    struct proxy *p = ud;
    if (status == 0 && p->req)
        http_req_resume_body(p->req);
}

static int down_data(struct http_request *req, const char *d, size_t n, void *ud)
{
    struct proxy *p = ud;
    if (!p->q)
        return 0; /* upstream already answered: drop the rest */
    p->res.bytes_up += n;
    int rc = http_creq_write(p->q, d, n, on_up_written, p);
    return rc == 0 ? HTTP_BODY_PAUSE : 0;
}

static void down_end(struct http_request *req, void *ud)
{
    struct proxy *p = ud;
    if (p->q)
        http_creq_end(p->q);
}

static void down_abort(struct http_request *req, void *ud)
{
    struct proxy *p = ud;
    p->req = NULL;
    p->res.client_gone = true;
    if (p->q) {
        http_creq_abort(p->q);
        p->q = NULL;
    }
    finish(p);
}

int http_proxy(struct http_request *req, struct http_client *cl, const struct http_proxy_opts *o,
               http_proxy_done_fn done, void *ud, struct frost_err *err)
{
    if (o->n_add_resp > MAX_RESP_ADD)
        return frost_err_set(err, 500, "InternalError", "too many response headers to add");
    struct proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    p->req = req;
    p->done = done;
    p->ud = ud;
    p->answer_errors = !o->caller_answers_errors;
    p->start_us = clock_mono_us();
    memcpy(p->add_resp, o->add_resp, o->n_add_resp * sizeof(*o->add_resp));
    p->n_add_resp = o->n_add_resp;

    size_t nin;
    const struct http_header *in = http_req_headers(req, &nin);
    struct http_header h[HTTP_MAX_HEADERS * 2];
    size_t n = 0;
    size_t drop_len = o->drop_req_header ? strlen(o->drop_req_header) : 0;
    const struct http_header *conn = connection_of(in, nin);
    for (size_t i = 0; i < nin; i++) {
        if (drop_len && in[i].name_len == drop_len &&
            strncasecmp(in[i].name, o->drop_req_header, drop_len) == 0)
            continue;
        if (!drop_header(conn, &in[i]))
            h[n++] = in[i];
    }
    for (size_t i = 0; i < o->n_add_req && n < ARRAY_LEN(h); i++)
        h[n++] = o->add_req[i];

    const struct buf *body = http_req_body(req);
    int64_t clen = http_req_content_length(req);
    /* A buffered route already holds the body; a streaming one reads it below. */
    bool given = o->body != NULL;
    bool buffered = given || !http_req_body_streams(req);
    struct http_creq_opts co = {
        .method = o->method ? o->method : http_req_method(req),
        .target = o->target ? o->target : http_req_target(req),
        .headers = h,
        .n_headers = n,
        .body_len = given      ? (int64_t)o->body_len
                    : buffered ? (int64_t)body->len
                               : clen,
        .body = given                   ? (o->body_len ? o->body : NULL)
                : buffered && body->len ? body->data
                                        : NULL,
        .response_timeout_ms = o->response_timeout_ms,
    };
    static const struct http_creq_cb cb = {
        .on_head = up_head,
        .on_body = up_body,
        .on_done = up_done,
    };
    if (http_client_request(cl, o->ep, &co, &cb, p, &p->q, err) < 0) {
        free(p);
        return -1;
    }
    http_req_on_abort(req, down_abort, p);
    if (!buffered)
        http_req_read_body(req, down_data, down_end, p);
    return 0;
}
