#include "http/server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/log.h"
#include "base/pool.h"
#include "http/parse.h"

#define RBUF_SIZE       (64 * 1024)
#define RBUF_POOL_MAX   64
#define LINGER_MS       2000
#define LINGER_MAX_READ (1024 * 1024)
#define ERRBODY_MAX     1024

enum timer_kind { T_NONE, T_IDLE, T_HEADERS, T_BODY, T_WRITE, T_LINGER };

struct rbuf {
    char data[RBUF_SIZE];
};

struct conn;

struct http_request {
    struct conn *c;
    struct http_msg *msg;
    struct router_match match;
    char id[REQID_LEN + 1];
    const char *path;
    const char *query;
    struct buf scratch; /* path and query copies */
    struct buf body;
    size_t max_body;
    uint64_t start_us;
    uint64_t bytes_in, bytes_out;
    int status;
    bool active; /* between head and finish */
    bool handler_called;
    bool body_complete;
    bool resp_started;
    bool resp_head_sent;
    bool resp_ended;
    bool resp_chunked;
    bool resp_close_delimited;
    bool is_head;
    bool trigger_host;   /* routed by the trigger domain */
    size_t raw_path_off; /* where the path as sent starts in scratch */
    int64_t resp_len;

    /* streaming body */
    int (*on_data)(struct http_request *r, const char *d, size_t n, void *ud);
    void (*on_end)(struct http_request *r, void *ud);
    void *body_ud;
    bool body_registered;
    bool body_paused;
    bool end_pending;
    const char *held;
    size_t held_len;

    void (*on_abort)(struct http_request *r, void *ud);
    void *abort_ud;

    void (*write_cb)(struct http_request *r, int status, void *ud);
    void *write_ud;
};

struct conn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    uv_timer_t timer;
    /* While reading is paused with a request in progress (its body held back
     * by backpressure), this watches a dup of the socket for the peer hanging
     * up, so a client that leaves is noticed without reading its bytes. */
    uv_poll_t hup;
    int hup_fd;
    bool hup_open, hup_on;
    struct http_server *srv;
    struct conn *prev, *next;
    struct http_parse parse;
    struct http_request req;
    struct rbuf *rb;
    size_t rlen, rpos;
    struct buf out;
    uv_write_t wreq;
    uv_write_t endreq;
    uv_write_t contreq;
    uv_shutdown_t sreq;
    uv_buf_t wbufs[4];
    char chunk_hdr[24];
    enum timer_kind tkind;
    int handles_open;
    int pending_error; /* status decided by a callback before it failed the parse */
    bool reading;
    bool in_process;
    bool want_resume;
    bool write_pending;
    bool end_write_pending;
    bool close_after;
    bool closing;
    bool peer_closed; /* EOF seen: nothing more will be read */
    bool cont_pending;
    bool lingering;
    size_t linger_read;
    uint64_t requests;
    char peer[64];
};

struct http_server {
    uv_loop_t *loop;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } l;
    bool listening;
    bool is_unix;
    const struct frost_http_config *cfg;
    struct router *router;
    void (*on_access)(const struct http_access *a, void *ud);
    void *ud;
    char address[300];
    const char *trigger_domain;
    struct conn *conns;
    struct blockpool pool;
    struct http_server_stats stats;
    bool draining;
    uv_timer_t drain_timer;
    bool drain_timer_on;
    bool done_called;
    void (*done)(struct http_server *s, void *ud);
    void *done_ud;
};

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);
static void conn_update_reading(struct conn *c);
static void finish_request(struct conn *c);
static void maybe_drained(struct http_server *s);
static void reject(struct conn *c, int status, const char *code, const char *msg);

/* ------------------------------------------------------------------ buffers */

static struct rbuf *rbuf_get(struct http_server *s)
{
    return blockpool_get(&s->pool);
}

static void rbuf_put(struct http_server *s, struct rbuf *b)
{
    blockpool_put(&s->pool, b);
}

/* ------------------------------------------------------------------- timers */

static void on_timer(uv_timer_t *t);

static void set_timer(struct conn *c, enum timer_kind k, uint64_t ms)
{
    c->tkind = k;
    if (k == T_NONE || ms == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = container_of(t, struct conn, timer);
    switch (c->tkind) {
    case T_IDLE:
    case T_LINGER:
    case T_WRITE:
        conn_close(c);
        break;
    case T_HEADERS:
        log_debug("http_timeout", "peer=%s phase=headers", c->peer);
        if (c->req.active) {
            conn_close(c);
            break;
        }
        reject(c, 408, "RequestTimeout", "the request headers did not arrive in time");
        break;
    case T_BODY:
        log_debug("http_timeout", "peer=%s phase=body", c->peer);
        if (c->req.resp_started)
            conn_close(c);
        else
            reject(c, 408, "RequestTimeout", "the request body did not arrive in time");
        break;
    case T_NONE:
        break;
    }
}

/* ----------------------------------------------------------------- requests */

static void req_reset(struct http_request *r)
{
    struct conn *c = r->c;
    struct buf scratch = r->scratch, body = r->body;
    buf_reset(&scratch);
    buf_reset(&body);
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->scratch = scratch;
    r->body = body;
}

static void req_begin(struct conn *c, struct http_msg *m)
{
    struct http_request *r = &c->req;
    req_reset(r);
    r->msg = m;
    r->active = true;
    r->start_us = clock_mono_us();
    r->is_head = m->method == HTTP_HEAD;
    reqid_new(r->id);
    c->srv->stats.requests_total++;
    c->srv->stats.requests_in_flight++;
    c->requests++;
}

static int split_target(struct http_request *r)
{
    const char *t = r->msg->target;
    size_t len = r->msg->target_len;
    /* absolute-form: http://host/path?q */
    if (len > 7 && (strncmp(t, "http://", 7) == 0 || strncmp(t, "https://", 8) == 0)) {
        const char *p = strchr(t + (t[4] == 's' ? 8 : 7), '/');
        if (!p) {
            t = "/";
            len = 1;
        } else {
            len -= (size_t)(p - t);
            t = p;
        }
    }
    if (len == 0 || t[0] != '/')
        return -1;
    buf_reset(&r->scratch);
    const char *q = memchr(t, '?', len);
    size_t plen = q ? (size_t)(q - t) : len;
    /* Host "NAME.<trigger domain>": the function's HTTP trigger, routed as
     * /fn/NAME/… (the instance still sees the path as sent). */
    const char *dom = r->c->srv->trigger_domain;
    const char *host = dom && dom[0] ? http_req_header(r, "host") : NULL;
    if (host) {
        size_t hl = strcspn(host, ":"), dl = strlen(dom);
        if (hl > dl + 1 && host[hl - dl - 1] == '.' && strncasecmp(host + hl - dl, dom, dl) == 0 &&
            !memchr(host, '/', hl - dl - 1)) {
            r->trigger_host = true;
            if (buf_append(&r->scratch, "/fn/", 4) < 0 ||
                buf_append(&r->scratch, host, hl - dl - 1) < 0)
                return -1;
        }
    }
    r->raw_path_off = r->scratch.len;
    if (buf_append(&r->scratch, t, plen) < 0 || buf_append(&r->scratch, "", 1) < 0)
        return -1;
    size_t qoff = r->scratch.len;
    if (q && buf_append(&r->scratch, q + 1, len - plen - 1) < 0)
        return -1;
    if (buf_append(&r->scratch, "", 1) < 0)
        return -1;
    r->path = r->scratch.data;
    r->query = r->scratch.data + qoff;
    return 0;
}

/* ---------------------------------------------------------------- writing */

static void write_head(struct conn *c, struct buf *o, int status, const struct http_header *h,
                       size_t n, int64_t content_length, bool close)
{
    struct http_request *r = &c->req;
    const struct http_msg *m = r->msg;
    bool v10 = m && m->major == 1 && m->minor == 0;
    int rc = 0;
    rc |= buf_printf(o, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    for (size_t i = 0; i < n; i++) {
        rc |= buf_append(o, h[i].name, h[i].name_len);
        rc |= buf_append(o, ": ", 2);
        rc |= buf_append(o, h[i].value, h[i].value_len);
        rc |= buf_append(o, "\r\n", 2);
    }
    /* Hot path: plain appends, no printf. */
    rc |= buf_append(o, "Date: ", 6);
    rc |= buf_append_str(o, http_date_now());
    rc |= buf_append_str(o, "\r\nServer: frost\r\nx-fc-request-id: ");
    rc |= buf_append_str(o, r->id);
    rc |= buf_append(o, "\r\n", 2);
    if (content_length >= 0) {
        char num[24];
        size_t k = sizeof(num);
        uint64_t v = (uint64_t)content_length;
        do {
            num[--k] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        rc |= buf_append(o, "Content-Length: ", 16);
        rc |= buf_append(o, num + k, sizeof(num) - k);
        rc |= buf_append(o, "\r\n", 2);
    } else if (!v10 && status != 204 && status != 304) {
        rc |= buf_append_str(o, "Transfer-Encoding: chunked\r\n");
        r->resp_chunked = true;
    } else {
        r->resp_close_delimited = true;
        close = true;
    }
    if (close)
        rc |= buf_append_str(o, "Connection: close\r\n");
    else if (v10)
        rc |= buf_append_str(o, "Connection: keep-alive\r\n");
    rc |= buf_append(o, "\r\n", 2);
    if (rc)
        c->close_after = true; /* out of memory: best effort, then close */
    if (close)
        c->close_after = true;
}

static bool want_close(struct conn *c)
{
    const struct http_msg *m = c->req.msg;
    return c->close_after || c->srv->draining || !m || !m->keep_alive || m->upgrade;
}

static void after_write(struct conn *c);

static void on_write(uv_write_t *w, int status)
{
    struct conn *c = container_of(w, struct conn, wreq);
    c->write_pending = false;
    struct http_request *r = &c->req;
    void (*cb)(struct http_request *, int, void *) = r->write_cb;
    void *ud = r->write_ud;
    r->write_cb = NULL;
    if (status < 0) {
        if (!c->closing)
            conn_close(c);
        return;
    }
    buf_reset(&c->out);
    if (c->tkind == T_WRITE)
        set_timer(c, T_NONE, 0);
    if (cb && !c->closing)
        cb(r, 0, ud);
    if (!c->closing)
        after_write(c);
}

/* Writes bufs now if the socket takes them, else queues the rest.
 * Returns 1 written, 0 pending, -1 failed. */
static int send_bufs(struct conn *c, uv_buf_t *bufs, unsigned n)
{
    if (c->closing)
        return -1;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (c->write_pending) {
        log_error("http_write_overlap", "peer=%s", c->peer);
        conn_close(c);
        return -1;
    }
    int w =
        c->end_write_pending || c->cont_pending ? UV_EAGAIN : uv_try_write(&c->h.stream, bufs, n);
    if (w == (int)total)
        return 1;
    if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
        conn_close(c);
        return -1;
    }
    size_t skip = w > 0 ? (size_t)w : 0;
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        if (skip >= bufs[i].len) {
            skip -= bufs[i].len;
            continue;
        }
        c->wbufs[k].base = bufs[i].base + skip;
        c->wbufs[k].len = bufs[i].len - skip;
        skip = 0;
        k++;
    }
    if (uv_write(&c->wreq, &c->h.stream, c->wbufs, k, on_write) < 0) {
        conn_close(c);
        return -1;
    }
    c->write_pending = true;
    set_timer(c, T_WRITE, c->srv->cfg->body_timeout_ms);
    return 0;
}

int http_resp_start(struct http_request *r, int status, const struct http_header *h, size_t n,
                    int64_t content_length)
{
    struct conn *c = r->c;
    if (r->resp_started || c->closing)
        return -1;
    r->resp_started = true;
    r->status = status;
    r->resp_len = content_length;
    if (r->is_head && content_length < 0)
        content_length = 0;
    /* A body still arriving when the answer starts cannot be reused safely. */
    if (!r->body_complete)
        c->close_after = true;
    buf_reset(&c->out);
    write_head(c, &c->out, status, h, n, content_length, want_close(c));
    return 0;
}

int http_resp_write(struct http_request *r, const char *data, size_t len,
                    void (*cb)(struct http_request *r, int status, void *ud), void *ud)
{
    struct conn *c = r->c;
    if (c->closing || !r->resp_started || r->resp_ended)
        return -1;
    if (len == 0 || r->is_head)
        return 1;
    r->bytes_out += len;
    uv_buf_t bufs[4];
    unsigned n = 0;
    if (!r->resp_head_sent && c->out.len) {
        bufs[n++] = uv_buf_init(c->out.data, (unsigned)c->out.len);
    }
    r->resp_head_sent = true;
    if (r->resp_chunked) {
        int k = snprintf(c->chunk_hdr, sizeof(c->chunk_hdr), "%zx\r\n", len);
        bufs[n++] = uv_buf_init(c->chunk_hdr, (unsigned)k);
    }
    bufs[n++] = uv_buf_init((char *)data, (unsigned)len);
    if (r->resp_chunked)
        bufs[n++] = uv_buf_init((char *)"\r\n", 2);
    r->write_cb = cb;
    r->write_ud = ud;
    int rc = send_bufs(c, bufs, n);
    if (rc == 1) {
        r->write_cb = NULL;
        buf_reset(&c->out);
    }
    return rc;
}

static void on_end_write(uv_write_t *w, int status)
{
    struct conn *c = container_of(w, struct conn, endreq);
    c->end_write_pending = false;
    if (status < 0) {
        if (!c->closing)
            conn_close(c);
        return;
    }
    if (c->tkind == T_WRITE)
        set_timer(c, T_NONE, 0);
    if (!c->closing)
        after_write(c);
}

static const char chunk_end[] = "0\r\n\r\n";

void http_resp_end(struct http_request *r)
{
    struct conn *c = r->c;
    if (c->closing || r->resp_ended)
        return;
    if (!r->resp_started)
        http_resp_start(r, 200, NULL, 0, 0);
    r->resp_ended = true;
    if (r->resp_len >= 0 && (int64_t)r->bytes_out != r->resp_len && !r->is_head) {
        /* Promised length not delivered: the client must not wait for more. */
        c->close_after = true;
    }
    bool terminator = r->resp_chunked && !r->is_head;
    if (!r->resp_head_sent) {
        /* Nothing written yet: the head is still in out; send it with the end. */
        r->resp_head_sent = true;
        if (terminator && buf_append(&c->out, chunk_end, 5) < 0) {
            conn_close(c);
            return;
        }
        uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
        int rc = send_bufs(c, &b, 1);
        if (rc < 0)
            return;
        if (rc == 1)
            buf_reset(&c->out);
    } else if (terminator) {
        uv_buf_t b = uv_buf_init((char *)chunk_end, 5);
        if (c->write_pending) {
            c->wbufs[3] = b;
            if (uv_write(&c->endreq, &c->h.stream, &c->wbufs[3], 1, on_end_write) < 0) {
                conn_close(c);
                return;
            }
            c->end_write_pending = true;
        } else if (send_bufs(c, &b, 1) < 0) {
            return;
        }
    }
    after_write(c);
}

/* Runs after each completed write and at response end: once the response has
 * ended and nothing is queued, the request is finished. */
static void after_write(struct conn *c)
{
    struct http_request *r = &c->req;
    if (c->write_pending || c->end_write_pending)
        return;
    if (c->lingering)
        return;
    if (r->active && r->resp_ended)
        finish_request(c);
}

static void log_access(struct conn *c, int status)
{
    struct http_request *r = &c->req;
    struct http_server *s = c->srv;
    if (!s->on_access)
        return;
    struct http_access a = {
        .method = r->msg ? r->msg->method_name : "-",
        .target = r->path ? r->path : (r->msg ? r->msg->target : "-"),
        .status = status,
        .bytes_in = r->bytes_in,
        .bytes_out = r->bytes_out,
        .micros = clock_mono_us() - r->start_us,
        .request_id = r->id,
        .peer = c->peer,
    };
    s->on_access(&a, s->ud);
}

static void finish_request(struct conn *c)
{
    struct http_request *r = &c->req;
    if (!r->active)
        return;
    r->active = false;
    c->srv->stats.requests_in_flight--;
    log_access(c, r->status);
    bool close = want_close(c) || r->resp_close_delimited || !r->body_complete;
    if (close) {
        if (!c->peer_closed &&
            (c->pending_error || (!r->body_complete && c->h.stream.type == UV_TCP))) {
            /* The client may still be sending: let it read the answer first. */
            c->lingering = true;
            c->linger_read = 0;
            set_timer(c, T_LINGER, LINGER_MS);
            uv_shutdown(&c->sreq, &c->h.stream, NULL);
            conn_update_reading(c);
        } else {
            conn_close(c);
        }
        return;
    }
    set_timer(c, T_IDLE, c->srv->cfg->keepalive_timeout_ms);
    if (c->in_process) {
        c->want_resume = true;
        return;
    }
    http_parse_resume(&c->parse);
    conn_process(c);
}

void http_respond_h(struct http_request *r, int status, const struct http_header *h, size_t n,
                    const char *body, size_t len)
{
    struct conn *c = r->c;
    if (c->closing || r->resp_started)
        return;
    if (http_resp_start(r, status, h, n, (int64_t)len) < 0)
        return;
    if (!r->is_head && len) {
        if (buf_append(&c->out, body, len) < 0) {
            conn_close(c);
            return;
        }
        r->bytes_out += len;
    }
    r->resp_head_sent = true;
    r->resp_ended = true;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int rc = send_bufs(c, &b, 1);
    if (rc < 0)
        return;
    if (rc == 1)
        buf_reset(&c->out);
    after_write(c);
}

void http_respond(struct http_request *r, int status, const char *content_type, const char *body,
                  size_t len)
{
    struct http_header h[1];
    size_t n = 0;
    if (content_type) {
        h[0] = (struct http_header){"Content-Type", 12, content_type, strlen(content_type)};
        n = 1;
    }
    http_respond_h(r, status, h, n, body, len);
}

static size_t json_escape(char *out, size_t room, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < room; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, room - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = 0;
    return o;
}

void http_respond_error(struct http_request *r, int status, const char *code, const char *fmt, ...)
{
    char msg[ERRBODY_MAX / 2], emsg[ERRBODY_MAX / 2 + 64], ecode[128], body[ERRBODY_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_escape(emsg, sizeof(emsg), msg);
    json_escape(ecode, sizeof(ecode), code);
    int n =
        snprintf(body, sizeof(body), "{\"Code\":\"%s\",\"Message\":\"%s\",\"RequestId\":\"%s\"}",
                 ecode, emsg, r->id);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(body))
        n = (int)sizeof(body) - 1;
    http_respond(r, status, "application/json", body, (size_t)n);
}

void http_req_abort_connection(struct http_request *r)
{
    conn_close(r->c);
}

/* Answers an error the server itself decided (parse errors, limits, timeouts)
 * and closes the connection after it. */
static void reject(struct conn *c, int status, const char *code, const char *msg)
{
    struct http_request *r = &c->req;
    if (c->closing)
        return;
    if (r->resp_started) {
        conn_close(c);
        return;
    }
    if (!r->active) {
        /* No message head yet: make a request to hang the answer on. */
        req_reset(r);
        r->active = true;
        r->start_us = clock_mono_us();
        reqid_new(r->id);
        c->srv->stats.requests_total++;
        c->srv->stats.requests_in_flight++;
    }
    if (r->handler_called && r->on_abort) {
        void (*ab)(struct http_request *, void *) = r->on_abort;
        r->on_abort = NULL;
        r->on_data = NULL;
        r->on_end = NULL;
        ab(r, r->abort_ud);
    }
    c->pending_error = status;
    c->close_after = true;
    log_debug("http_reject", "peer=%s status=%d reason=%s", c->peer, status, msg);
    http_respond_error(r, status, code, "%s", msg);
}

/* -------------------------------------------------------------- parsing glue */

static void on_cont_write(uv_write_t *w, int status)
{
    struct conn *c = container_of(w, struct conn, contreq);
    c->cont_pending = false;
    if (status < 0 && !c->closing)
        conn_close(c);
}

/* "100 Continue" goes out on its own write request so it never collides with
 * the response; if the socket is busy it is simply queued. */
static int send_continue(struct conn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (c->closing || c->cont_pending)
        return c->closing ? -1 : 0;
    uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
    if (!c->write_pending && !c->end_write_pending) {
        int w = uv_try_write(&c->h.stream, &b, 1);
        if (w == (int)b.len)
            return 0;
        if (w > 0) {
            b.base += w;
            b.len -= (size_t)w;
        }
    }
    if (uv_write(&c->contreq, &c->h.stream, &b, 1, on_cont_write) < 0)
        return -1;
    c->cont_pending = true;
    return 0;
}

static void call_handler(struct conn *c)
{
    struct http_request *r = &c->req;
    r->handler_called = true;
    r->match.handler(r, r->match.ud);
}

static int on_head(void *ud, struct http_msg *m)
{
    struct conn *c = ud;
    struct http_server *s = c->srv;
    req_begin(c, m);
    struct http_request *r = &c->req;
    set_timer(c, T_BODY, s->cfg->body_timeout_ms);

    if (split_target(r) < 0) {
        reject(c, 400, "InvalidArgument", "request target must be an absolute path");
        return HTTP_PARSE_OK;
    }
    if (m->bad_expect) {
        reject(c, 417, "ExpectationFailed", "only \"Expect: 100-continue\" is supported");
        return HTTP_PARSE_OK;
    }
    char allow[128];
    int st = router_match(s->router, m->method_name, r->path, &r->match, allow, sizeof(allow));
    if (st != 200) {
        bool has_body = m->chunked || (m->has_length && m->content_length > 0);
        if (has_body)
            c->close_after = true;
        if (st == 405) {
            struct http_header h[2] = {
                {"Allow", 5, allow, strlen(allow)},
                {"Content-Type", 12, "application/json", 16},
            };
            char body[512];
            int n = snprintf(body, sizeof(body),
                             "{\"Code\":\"MethodNotAllowed\",\"Message\":\"method %s is not "
                             "allowed here; allowed: %s\",\"RequestId\":\"%s\"}",
                             m->method_name, allow, r->id);
            r->body_complete = !has_body;
            http_respond_h(r, 405, h, 2, body, (size_t)n);
        } else if (st == 404) {
            r->body_complete = !has_body;
            http_respond_error(r, 404, "NotFound", "no route for %s %s", m->method_name, r->path);
        } else {
            reject(c, 400, "InvalidArgument", "request path cannot be decoded");
        }
        return HTTP_PARSE_OK;
    }
    r->max_body = r->match.opts.max_body ? r->match.opts.max_body : s->cfg->max_body_bytes;
    if (m->has_length && m->content_length > r->max_body) {
        char msg[160];
        snprintf(msg, sizeof(msg), "request body of %llu bytes exceeds the limit of %zu bytes",
                 (unsigned long long)m->content_length, r->max_body);
        reject(c, 413, "PayloadTooLarge", msg);
        return HTTP_PARSE_OK;
    }
    r->body.limit = r->max_body; /* the allocation is kept from request to request */
    if (m->expect_continue && !r->match.opts.stream_body && send_continue(c) < 0)
        return HTTP_PARSE_ERROR;
    if (r->match.opts.stream_body)
        call_handler(c);
    return HTTP_PARSE_OK;
}

static int deliver(struct http_request *r, const char *d, size_t n)
{
    if (!r->on_data)
        return 0;
    return r->on_data(r, d, n, r->body_ud);
}

static int on_body(void *ud, const char *d, size_t n)
{
    struct conn *c = ud;
    struct http_request *r = &c->req;
    if (c->pending_error || !r->active || r->resp_ended) {
        r->bytes_in += n;
        return 0; /* answered already; discard */
    }
    if (r->bytes_in + n > r->max_body) {
        char msg[160];
        snprintf(msg, sizeof(msg), "request body exceeds the limit of %zu bytes", r->max_body);
        reject(c, 413, "PayloadTooLarge", msg);
        return 0;
    }
    r->bytes_in += n;
    if (!r->match.opts.stream_body) {
        if (buf_append(&r->body, d, n) < 0) {
            reject(c, 413, "PayloadTooLarge", "request body too large");
        }
        return 0;
    }
    if (!r->body_registered || r->body_paused) {
        r->held = d;
        r->held_len = n;
        return HTTP_PARSE_PAUSE;
    }
    if (deliver(r, d, n) == HTTP_BODY_PAUSE) {
        r->body_paused = true;
        return HTTP_PARSE_PAUSE;
    }
    return 0;
}

static int on_complete(void *ud)
{
    struct conn *c = ud;
    struct http_request *r = &c->req;
    r->body_complete = true;
    if (c->pending_error || !r->active)
        return 0;
    set_timer(c, T_NONE, 0);
    if (!r->match.opts.stream_body) {
        if (!r->resp_started)
            call_handler(c);
        return 0;
    }
    if (r->body_registered && !r->body_paused && !r->held) {
        if (r->on_end)
            r->on_end(r, r->body_ud);
    } else {
        r->end_pending = true;
    }
    return 0;
}

static const struct http_parse_cb parse_cb = {
    .on_head = on_head,
    .on_body = on_body,
    .on_complete = on_complete,
};

static void conn_process(struct conn *c)
{
    if (c->in_process || c->closing)
        return;
    c->in_process = true;
    while (c->rb && c->rpos < c->rlen && !c->closing) {
        if (c->parse.paused) {
            if (!c->want_resume)
                break;
            c->want_resume = false;
            http_parse_resume(&c->parse);
        }
        if (!c->req.active && c->tkind != T_HEADERS)
            set_timer(c, T_HEADERS, c->srv->cfg->header_timeout_ms);
        size_t n = http_parse_feed(&c->parse, c->rb->data + c->rpos, c->rlen - c->rpos);
        c->rpos += n;
        if (c->parse.err_status && !c->closing && !c->pending_error) {
            int st = c->parse.err_status;
            reject(c, st, st == 431 ? "RequestHeaderFieldsTooLarge" : "BadRequest",
                   c->parse.err_reason ? c->parse.err_reason : "malformed request");
            break;
        }
        if (c->pending_error)
            break;
        if (c->parse.paused && c->want_resume) {
            c->want_resume = false;
            http_parse_resume(&c->parse);
        }
    }
    if (c->want_resume && c->parse.paused && !c->closing) {
        c->want_resume = false;
        http_parse_resume(&c->parse);
    }
    c->in_process = false;
    if (c->closing)
        return;
    /* A paused body chunk still points into rb (a handler's write holds it). */
    bool referenced = c->req.active && (c->req.body_paused || c->req.held);
    if (c->rb && c->rpos >= c->rlen && !referenced) {
        rbuf_put(c->srv, c->rb);
        c->rb = NULL;
    }
    if (c->srv->draining && !c->req.active && !c->rb && !c->lingering) {
        conn_close(c);
        return;
    }
    conn_update_reading(c);
}

void http_req_read_body(struct http_request *r,
                        int (*on_data)(struct http_request *r, const char *data, size_t len,
                                       void *ud),
                        void (*on_end)(struct http_request *r, void *ud), void *ud)
{
    struct conn *c = r->c;
    r->on_data = on_data;
    r->on_end = on_end;
    r->body_ud = ud;
    r->body_registered = true;
    if (r->msg && r->msg->expect_continue && !r->resp_head_sent && !r->body_complete &&
        send_continue(c) < 0) {
        conn_close(c);
        return;
    }
    http_req_resume_body(r);
}

void http_req_resume_body(struct http_request *r)
{
    struct conn *c = r->c;
    if (c->closing || !r->body_registered)
        return;
    r->body_paused = false;
    if (r->held) {
        const char *d = r->held;
        size_t n = r->held_len;
        r->held = NULL;
        r->held_len = 0;
        if (deliver(r, d, n) == HTTP_BODY_PAUSE) {
            r->body_paused = true;
            return;
        }
        if (c->closing)
            return;
    }
    if (r->end_pending) {
        r->end_pending = false;
        if (r->on_end)
            r->on_end(r, r->body_ud);
        return;
    }
    if (c->parse.paused && c->parse.in_message) {
        http_parse_resume(&c->parse);
        if (!c->in_process)
            conn_process(c);
    } else if (!c->in_process) {
        conn_process(c); /* releases a fully parsed buffer and reads on */
    }
}

/* ---------------------------------------------------------- connection I/O */

static void read_control(struct conn *c);

/* Reads whenever no unparsed bytes are held: also while a handler runs, so a
 * client that goes away is noticed (EOF aborts the request, as nginx does). */
static void conn_update_reading(struct conn *c)
{
    bool want = !c->closing && (c->lingering || (!c->rb && !c->pending_error));
    if (want == c->reading)
        return;
    c->reading = want;
    read_control(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct conn *c = container_of((uv_stream_t *)h, struct conn, h.stream);
    if (!c->rb)
        c->rb = rbuf_get(c->srv);
    if (!c->rb) {
        *b = uv_buf_init(NULL, 0);
        return;
    }
    *b = uv_buf_init(c->rb->data, RBUF_SIZE);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = container_of(st, struct conn, h.stream);
    if (c->lingering) {
        if (nread < 0 || (c->linger_read += (size_t)(nread > 0 ? nread : 0)) > LINGER_MAX_READ) {
            conn_close(c);
            return;
        }
        if (c->rb) {
            rbuf_put(c->srv, c->rb);
            c->rb = NULL;
        }
        return;
    }
    if (nread == 0) {
        if (c->rb && c->rpos >= c->rlen) {
            rbuf_put(c->srv, c->rb);
            c->rb = NULL;
        }
        return;
    }
    if (nread < 0) {
        if (c->rb && c->rpos >= c->rlen) {
            rbuf_put(c->srv, c->rb);
            c->rb = NULL;
        }
        if (nread == UV_EOF && !c->req.active && c->parse.in_message && !c->parse.paused) {
            c->peer_closed = true;
            reject(c, 400, "BadRequest", "connection closed in the middle of a request");
            return;
        }
        conn_close(c);
        return;
    }
    c->rlen = (size_t)nread;
    c->rpos = 0;
    if (c->tkind == T_BODY)
        set_timer(c, T_BODY, c->srv->cfg->body_timeout_ms);
    conn_process(c);
}

static void on_hup_closed(uv_handle_t *h);
static void on_handle_closed(uv_handle_t *h);

static void on_hangup(uv_poll_t *p, int status, int events)
{
    struct conn *c = container_of(p, struct conn, hup);
    if (status < 0 || (events & UV_DISCONNECT)) {
        log_debug("http_client_gone", "peer=%s detail=\"hung up while its request was paused\"",
                  c->peer);
        conn_close(c);
    }
}

static void watch_hangup(struct conn *c, bool on)
{
    if (on == c->hup_on || c->closing || c->h.stream.type != UV_TCP)
        return;
    if (on && !c->hup_open) {
        uv_os_fd_t fd;
        if (uv_fileno(&c->h.handle, &fd) < 0 || (c->hup_fd = dup(fd)) < 0)
            return;
        if (uv_poll_init(c->srv->loop, &c->hup, c->hup_fd) < 0) {
            close(c->hup_fd);
            return;
        }
        c->hup.data = c;
        c->hup_open = true;
        c->handles_open++;
    }
    if (!c->hup_open)
        return;
    c->hup_on = on;
    if (on)
        uv_poll_start(&c->hup, UV_DISCONNECT, on_hangup);
    else
        uv_poll_stop(&c->hup);
}

static void read_control(struct conn *c)
{
    if (c->reading)
        uv_read_start(&c->h.stream, on_alloc, on_read);
    else
        uv_read_stop(&c->h.stream);
    watch_hangup(c, !c->reading && c->req.active && !c->lingering);
}

static void on_hup_closed(uv_handle_t *h)
{
    struct conn *c = container_of((uv_poll_t *)h, struct conn, hup);
    close(c->hup_fd);
    on_handle_closed((uv_handle_t *)&c->timer); /* counts down like the others */
}

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    struct http_server *s = c->srv;
    rbuf_put(s, c->rb);
    http_parse_free(&c->parse);
    buf_free(&c->out);
    buf_free(&c->req.scratch);
    buf_free(&c->req.body);
    free(c);
    s->stats.connections_open--;
    maybe_drained(s);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct http_request *r = &c->req;
    if (r->active) {
        r->active = false;
        c->srv->stats.requests_in_flight--;
        if (!r->resp_ended || c->write_pending || c->end_write_pending)
            log_access(c, r->resp_started ? r->status : 499);
        void (*ab)(struct http_request *, void *) = r->on_abort;
        r->on_abort = NULL;
        r->write_cb = NULL;
        if (r->handler_called && !r->resp_ended && ab)
            ab(r, r->abort_ud);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    if (c->hup_open) {
        c->hup_open = false;
        c->hup_on = false;
        uv_close((uv_handle_t *)&c->hup, on_hup_closed);
    }
    uv_close(&c->h.handle, on_handle_closed);
}

/* ------------------------------------------------------------------ accept */

static void on_connection(uv_stream_t *l, int status)
{
    struct http_server *s = container_of(l, struct http_server, l.stream);
    if (status < 0) {
        log_warn("http_accept_failed", "error=%s", uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        log_error("http_accept_failed", "error=\"out of memory\"");
        return;
    }
    c->srv = s;
    c->req.c = c;
    if (s->is_unix)
        uv_pipe_init(s->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(s->loop, &c->h.tcp);
    c->h.handle.data = c;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    s->stats.connections_open++;
    s->stats.connections_total++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    buf_init(&c->out, 0);
    buf_init(&c->req.scratch, 0);
    buf_init(&c->req.body, 0);
    http_parse_init(&c->parse, HTTP_REQUEST, s->cfg->max_header_bytes, &parse_cb, c);
    if (uv_accept(l, &c->h.stream) < 0) {
        conn_close(c);
        return;
    }
    if (s->stats.connections_open > s->cfg->max_connections) {
        log_warn("http_connection_limit", "open=%llu",
                 (unsigned long long)s->stats.connections_open);
        conn_close(c);
        return;
    }
    if (!s->is_unix) {
        uv_tcp_nodelay(&c->h.tcp, 1);
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
            char ip[48] = "?";
            int port = 0;
            if (ss.ss_family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                uv_ip4_name(a, ip, sizeof(ip));
                port = ntohs(a->sin_port);
            } else if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                uv_ip6_name(a, ip, sizeof(ip));
                port = ntohs(a->sin6_port);
            }
            snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
        }
    } else {
        snprintf(c->peer, sizeof(c->peer), "unix");
    }
    set_timer(c, T_HEADERS, s->cfg->header_timeout_ms);
    c->reading = false;
    conn_update_reading(c);
}

/* ------------------------------------------------------------------ server */

int http_server_new(uv_loop_t *loop, const struct http_server_opts *opts, struct http_server **out,
                    struct frost_err *err)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    s->loop = loop;
    s->cfg = opts->cfg;
    s->router = opts->router;
    s->on_access = opts->on_access;
    s->ud = opts->ud;
    s->trigger_domain = opts->trigger_domain;
    blockpool_init(&s->pool, sizeof(struct rbuf), RBUF_POOL_MAX);
    *out = s;
    return 0;
}

int http_server_listen(struct http_server *s, const char *addr, struct frost_err *err)
{
    int rc;
    if (strncmp(addr, "unix:", 5) == 0) {
        s->is_unix = true;
        uv_pipe_init(s->loop, &s->l.pipe, 0);
        unlink(addr + 5);
        rc = uv_pipe_bind(&s->l.pipe, addr + 5);
        if (rc < 0)
            goto fail;
        snprintf(s->address, sizeof(s->address), "%s", addr);
    } else {
        char host[256];
        int port;
        const char *colon = strrchr(addr, ':');
        if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host))
            return frost_err_set(err, 400, "InvalidConfig",
                                 "listen address %s: expected host:port or unix:/path", addr);
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = 0;
        port = atoi(colon + 1);
        char *h = host;
        if (h[0] == '[' && h[strlen(h) - 1] == ']') {
            h[strlen(h) - 1] = 0;
            h++;
        }
        struct sockaddr_storage ss;
        if (uv_ip4_addr(h, port, (struct sockaddr_in *)&ss) != 0 &&
            uv_ip6_addr(h, port, (struct sockaddr_in6 *)&ss) != 0)
            return frost_err_set(err, 400, "InvalidConfig",
                                 "listen address %s: %s is not an IP address", addr, h);
        uv_tcp_init(s->loop, &s->l.tcp);
        rc = uv_tcp_bind(&s->l.tcp, (struct sockaddr *)&ss, 0);
        if (rc < 0)
            goto fail;
        struct sockaddr_storage bound;
        int blen = sizeof(bound);
        uv_tcp_getsockname(&s->l.tcp, (struct sockaddr *)&bound, &blen);
        char ip[64];
        if (bound.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof(ip));
            snprintf(s->address, sizeof(s->address), "[%s]:%d", ip,
                     ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
        } else {
            uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof(ip));
            snprintf(s->address, sizeof(s->address), "%s:%d", ip,
                     ntohs(((struct sockaddr_in *)&bound)->sin_port));
        }
    }
    s->l.handle.data = s;
    rc = uv_listen(&s->l.stream, 1024, on_connection);
    if (rc < 0)
        goto fail;
    s->listening = true;
    return 0;
fail:
    uv_close(&s->l.handle, NULL);
    return frost_err_set(err, 500, "ListenFailed", "cannot listen on %s: %s", addr,
                         uv_strerror(rc));
}

const char *http_server_address(const struct http_server *s)
{
    return s->address;
}

static void on_drain_timer_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    s->drain_timer_on = false;
    maybe_drained(s);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    s->listening = false;
    maybe_drained(s);
}

static void maybe_drained(struct http_server *s)
{
    if (!s->draining || s->done_called)
        return;
    if (s->conns || s->stats.connections_open || s->listening)
        return;
    if (s->drain_timer_on) {
        if (!uv_is_closing((uv_handle_t *)&s->drain_timer))
            uv_close((uv_handle_t *)&s->drain_timer, on_drain_timer_closed);
        return;
    }
    s->done_called = true;
    if (s->done)
        s->done(s, s->done_ud);
}

void http_server_close_all(struct http_server *s)
{
    while (s->conns)
        conn_close(s->conns);
}

static void on_drain_deadline(uv_timer_t *t)
{
    struct http_server *s = t->data;
    log_warn("http_shutdown_deadline", "open_connections=%llu",
             (unsigned long long)s->stats.connections_open);
    http_server_close_all(s);
}

void http_server_shutdown(struct http_server *s, uint64_t grace_ms,
                          void (*done)(struct http_server *s, void *ud), void *ud)
{
    if (s->draining)
        return;
    s->draining = true;
    s->done = done;
    s->done_ud = ud;
    if (s->listening && !uv_is_closing(&s->l.handle))
        uv_close(&s->l.handle, on_listener_closed);
    else
        s->listening = false;
    struct conn *c = s->conns;
    while (c) {
        struct conn *next = c->next;
        if (!c->req.active && !c->lingering && !c->rb)
            conn_close(c);
        else
            c->close_after = true;
        c = next;
    }
    uv_timer_init(s->loop, &s->drain_timer);
    s->drain_timer.data = s;
    s->drain_timer_on = true;
    uv_timer_start(&s->drain_timer, on_drain_deadline, grace_ms ? grace_ms : 1, 0);
    maybe_drained(s);
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    blockpool_drain(&s->pool);
    free(s);
}

void http_server_stats(const struct http_server *s, struct http_server_stats *out)
{
    *out = s->stats;
}

/* ---------------------------------------------------------------- accessors */

const char *http_req_method(const struct http_request *r)
{
    return r->msg ? r->msg->method_name : "";
}
const char *http_req_target(const struct http_request *r)
{
    return r->msg ? r->msg->target : "";
}
const char *http_req_path(const struct http_request *r)
{
    return r->path ? r->path : "";
}
const char *http_req_raw_path(const struct http_request *r)
{
    return r->path ? r->path + r->raw_path_off : "";
}
bool http_req_via_trigger_host(const struct http_request *r)
{
    return r->trigger_host;
}
const char *http_req_query(const struct http_request *r)
{
    return r->query ? r->query : "";
}
const char *http_req_header(const struct http_request *r, const char *name)
{
    if (!r->msg)
        return NULL;
    const struct http_header *h = http_header_find(r->msg->headers, r->msg->n_headers, name);
    return h ? h->value : NULL;
}
const struct http_header *http_req_headers(const struct http_request *r, size_t *n)
{
    *n = r->msg ? r->msg->n_headers : 0;
    return r->msg ? r->msg->headers : NULL;
}
const char *http_req_param(const struct http_request *r, const char *name)
{
    return router_param(&r->match, name);
}
const char *http_req_id(const struct http_request *r)
{
    return r->id;
}
const char *http_req_peer(const struct http_request *r)
{
    return r->c->peer;
}
int64_t http_req_content_length(const struct http_request *r)
{
    if (!r->msg)
        return 0;
    if (r->msg->chunked)
        return -1;
    return r->msg->has_length ? (int64_t)r->msg->content_length : 0;
}
const struct buf *http_req_body(const struct http_request *r)
{
    return &r->body;
}
bool http_req_body_streams(const struct http_request *r)
{
    return r->match.opts.stream_body;
}
uv_loop_t *http_req_loop(const struct http_request *r)
{
    return r->c->srv->loop;
}
void http_req_on_abort(struct http_request *r, void (*on_abort)(struct http_request *r, void *ud),
                       void *ud)
{
    r->on_abort = on_abort;
    r->abort_ud = ud;
}

int http_req_query_param(const struct http_request *r, const char *name, char *out, size_t outlen)
{
    const char *q = http_req_query(r);
    size_t nlen = strlen(name);
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        if (klen == nlen && memcmp(q, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : q + len;
            size_t vlen = eq ? len - klen - 1 : 0;
            if (codec_percent_decode(v, vlen, true, out, outlen, NULL) < 0)
                return -1;
            return 1;
        }
        q += len;
        if (*q == '&')
            q++;
    }
    return 0;
}
