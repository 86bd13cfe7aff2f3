#include "http/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/pool.h"

#define CBUF_SIZE (64 * 1024)
#define CBUF_MAX  64
#define QFREE_MAX 256
#define BUCKETS   256
#define HEAD_MAX  (64 * 1024)

enum cstate { CC_CONNECTING, CC_BUSY, CC_IDLE };
enum wkind { W_NONE, W_HEAD, W_DATA, W_END };

struct pool {
    struct pool *next;
    struct http_endpoint ep;
    struct cconn *idle; /* most recently used first */
    size_t n_idle;
    size_t n_conns;
};

struct cconn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    uv_connect_t connect;
    uv_timer_t timer;
    uv_write_t wreq;
    struct http_client *cl;
    struct pool *pool;
    struct cconn *inext, *iprev; /* pool idle list */
    struct cconn *anext, *aprev; /* all connections of the client */
    struct http_parse parse;
    char *rb;
    size_t rlen, rpos;
    struct http_creq *q;
    enum cstate state;
    enum wkind wkind;
    uv_buf_t wbufs[4];
    char chunk_hdr[24];
    int handles_open;
    int fail_status;
    bool reading;
    bool write_pending;
    bool got_bytes;
    bool reused;
    bool closing;
    bool complete;
    bool in_process;
    bool informational;
};

struct http_creq {
    struct http_client *cl;
    struct pool *pool;
    struct cconn *cc;
    struct http_creq_cb cb;
    void *ud;
    struct buf head;
    const char *body;
    int64_t body_len;
    bool chunked;
    bool is_head;
    bool idempotent; /* may be sent again on a new connection (RFC 9110 §9.2.2) */
    bool head_written;
    bool end_requested;
    bool term_sent;
    bool headed;
    uint64_t deadline_ms; /* monotonic; 0 = none */
    const char *wdata;
    size_t wlen;
    void (*wcb)(struct http_creq *q, int status, void *ud);
    void *wud;
    int retries;
    struct http_creq *next_free;
};

struct http_client {
    uv_loop_t *loop;
    const struct frost_http_config *cfg;
    struct pool *buckets[BUCKETS];
    struct cconn *all;
    struct blockpool rbufs;
    struct http_creq *free_q;
    size_t n_free_q;
    struct http_client_stats stats;
    bool freeing;
};

static void conn_fail(struct cconn *cc, int status);
static void pump(struct cconn *cc);
static void process(struct cconn *cc);
static int attach(struct http_creq *q, struct frost_err *err);

/* ---------------------------------------------------------------- endpoints */

int http_endpoint_parse(const char *s, struct http_endpoint *ep, struct frost_err *err)
{
    memset(ep, 0, sizeof(*ep));
    if (strncmp(s, "unix:", 5) == 0) {
        const char *p = s + 5;
        if (p[0] != '/' || strlen(p) >= sizeof(ep->path))
            return frost_err_set(err, 400, "InvalidArgument",
                                 "endpoint %s: unix socket path must be absolute and short", s);
        ep->is_unix = true;
        snprintf(ep->path, sizeof(ep->path), "%s", p);
        snprintf(ep->key, sizeof(ep->key), "unix:%s", p);
        return 0;
    }
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return frost_err_set(err, 400, "InvalidArgument", "endpoint %s: expected host:port", s);
    size_t hlen = (size_t)(colon - s);
    const char *h = s;
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return frost_err_set(err, 400, "InvalidArgument", "endpoint %s: bad IPv6 form", s);
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof(ep->host))
        return frost_err_set(err, 400, "InvalidArgument", "endpoint %s: host too long", s);
    memcpy(ep->host, h, hlen);
    ep->host[hlen] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535 || end == colon + 1)
        return frost_err_set(err, 400, "InvalidArgument", "endpoint %s: bad port", s);
    ep->port = (int)port;
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    bool v6 = uv_ip4_addr(ep->host, ep->port, &a4) != 0;
    if (v6 && uv_ip6_addr(ep->host, ep->port, &a6) != 0)
        return frost_err_set(err, 400, "InvalidArgument", "endpoint %s: host must be an IP address",
                             s);
    snprintf(ep->key, sizeof(ep->key), v6 ? "[%s]:%d" : "%s:%d", ep->host, ep->port);
    return 0;
}

/* -------------------------------------------------------------------- pools */

static unsigned hash_key(const char *k)
{
    unsigned h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h % BUCKETS;
}

static struct pool *pool_get(struct http_client *cl, const struct http_endpoint *ep)
{
    unsigned b = hash_key(ep->key);
    for (struct pool *p = cl->buckets[b]; p; p = p->next) {
        if (strcmp(p->ep.key, ep->key) == 0)
            return p;
    }
    struct pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->ep = *ep;
    p->next = cl->buckets[b];
    cl->buckets[b] = p;
    return p;
}

static void pool_maybe_free(struct http_client *cl, struct pool *p)
{
    if (p->n_conns || cl->freeing)
        return;
    unsigned b = hash_key(p->ep.key);
    for (struct pool **pp = &cl->buckets[b]; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            free(p);
            return;
        }
    }
}

static void idle_remove(struct cconn *cc)
{
    if (cc->state != CC_IDLE)
        return;
    if (cc->iprev)
        cc->iprev->inext = cc->inext;
    else
        cc->pool->idle = cc->inext;
    if (cc->inext)
        cc->inext->iprev = cc->iprev;
    cc->inext = cc->iprev = NULL;
    cc->pool->n_idle--;
    cc->cl->stats.idle--;
}

/* ------------------------------------------------------------------ requests */

static struct http_creq *q_get(struct http_client *cl)
{
    struct http_creq *q = cl->free_q;
    if (q) {
        cl->free_q = q->next_free;
        cl->n_free_q--;
        struct buf head = q->head;
        memset(q, 0, sizeof(*q));
        q->head = head;
        buf_reset(&q->head);
        return q;
    }
    q = calloc(1, sizeof(*q));
    if (q)
        buf_init(&q->head, HEAD_MAX);
    return q;
}

static void q_put(struct http_client *cl, struct http_creq *q)
{
    if (cl->n_free_q >= QFREE_MAX || cl->freeing) {
        buf_free(&q->head);
        free(q);
        return;
    }
    q->next_free = cl->free_q;
    cl->free_q = q;
    cl->n_free_q++;
}

/* Ends q (its connection is already detached) and reports to the caller. */
static void q_finish(struct http_creq *q, int status)
{
    struct http_client *cl = q->cl;
    struct http_creq_cb cb = q->cb;
    void *ud = q->ud;
    void (*wcb)(struct http_creq *, int, void *) = q->wcb;
    void *wud = q->wud;
    q->wcb = NULL;
    if (status < 0 && wcb)
        wcb(q, status, wud);
    if (cb.on_done)
        cb.on_done(q, status, ud);
    q_put(cl, q);
}

static int build_head(struct http_creq *q, const struct http_endpoint *ep,
                      const struct http_creq_opts *o)
{
    struct buf *b = &q->head;
    int rc = buf_printf(b, "%s %s HTTP/1.1\r\n", o->method, o->target);
    bool have_host = false;
    for (size_t i = 0; i < o->n_headers && rc == 0; i++) {
        const struct http_header *h = &o->headers[i];
        if (h->name_len == 4 && strncasecmp(h->name, "host", 4) == 0)
            have_host = true;
        if (http_header_is_hop_by_hop(h->name, h->name_len) ||
            (h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0))
            continue;
        rc |= buf_append(b, h->name, h->name_len);
        rc |= buf_append(b, ": ", 2);
        rc |= buf_append(b, h->value, h->value_len);
        rc |= buf_append(b, "\r\n", 2);
    }
    if (!have_host) {
        if (ep->is_unix)
            rc |= buf_append_str(b, "Host: localhost\r\n");
        else
            rc |= buf_printf(b, strchr(ep->host, ':') ? "Host: [%s]:%d\r\n" : "Host: %s:%d\r\n",
                             ep->host, ep->port);
    }
    if (o->body_len > 0)
        rc |= buf_printf(b, "Content-Length: %lld\r\n", (long long)o->body_len);
    else if (o->body_len < 0)
        rc |= buf_append_str(b, "Transfer-Encoding: chunked\r\n");
    else if (strcmp(o->method, "POST") == 0 || strcmp(o->method, "PUT") == 0 ||
             strcmp(o->method, "PATCH") == 0)
        rc |= buf_append_str(b, "Content-Length: 0\r\n");
    rc |= buf_append(b, "\r\n", 2);
    return rc ? -1 : 0;
}

int http_client_request(struct http_client *cl, const struct http_endpoint *ep,
                        const struct http_creq_opts *o, const struct http_creq_cb *cb, void *ud,
                        struct http_creq **out, struct frost_err *err)
{
    if (cl->freeing)
        return frost_err_set(err, 503, "ServiceUnavailable", "client is shutting down");
    struct pool *p = pool_get(cl, ep);
    struct http_creq *q = p ? q_get(cl) : NULL;
    if (!q)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    q->cl = cl;
    q->pool = p;
    q->cb = *cb;
    q->ud = ud;
    q->body = o->body;
    q->body_len = o->body_len;
    q->chunked = o->body_len < 0;
    q->is_head = strcmp(o->method, "HEAD") == 0;
    q->idempotent = q->is_head || strcmp(o->method, "GET") == 0 ||
                    strcmp(o->method, "OPTIONS") == 0 || strcmp(o->method, "PUT") == 0 ||
                    strcmp(o->method, "DELETE") == 0 || strcmp(o->method, "TRACE") == 0;
    q->end_requested = o->body_len == 0 || o->body != NULL;
    q->deadline_ms = o->response_timeout_ms ? clock_mono_ms() + o->response_timeout_ms : 0;
    if (build_head(q, ep, o) < 0) {
        q_put(cl, q);
        pool_maybe_free(cl, p);
        return frost_err_set(err, 400, "InvalidArgument", "request head too large");
    }
    if (attach(q, err) < 0) {
        q_put(cl, q);
        pool_maybe_free(cl, p);
        return -1;
    }
    *out = q;
    return 0;
}

/* ----------------------------------------------------------------- timers */

static void on_timer(uv_timer_t *t)
{
    struct cconn *cc = t->data;
    if (cc->state == CC_IDLE) {
        idle_remove(cc);
        cc->state = CC_BUSY; /* not idle any more: closing */
        conn_fail(cc, 0);
        return;
    }
    conn_fail(cc, UV_ETIMEDOUT);
}

static void arm_request_timer(struct cconn *cc)
{
    struct http_creq *q = cc->q;
    uint64_t ms = 0;
    if (q && q->deadline_ms && !q->headed) {
        uint64_t now = clock_mono_ms();
        ms = q->deadline_ms > now ? q->deadline_ms - now : 1;
    }
    if (cc->state == CC_CONNECTING) {
        uint64_t c = cc->cl->cfg->upstream_connect_timeout_ms;
        if (c && (ms == 0 || c < ms))
            ms = c;
    }
    if (ms)
        uv_timer_start(&cc->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&cc->timer);
}

/* ------------------------------------------------------------ connections */

/* The last step of http_client_free, once no connection is left. */
static void client_destroy(struct http_client *cl)
{
    blockpool_drain(&cl->rbufs);
    while (cl->free_q) {
        struct http_creq *fq = cl->free_q;
        cl->free_q = fq->next_free;
        buf_free(&fq->head);
        free(fq);
    }
    for (int i = 0; i < BUCKETS; i++) {
        while (cl->buckets[i]) {
            struct pool *pp = cl->buckets[i];
            cl->buckets[i] = pp->next;
            free(pp);
        }
    }
    free(cl);
}

static void on_closed(uv_handle_t *h)
{
    struct cconn *cc = h->data;
    if (--cc->handles_open > 0)
        return;
    struct http_client *cl = cc->cl;
    struct http_creq *q = cc->q;
    cc->q = NULL;
    if (cc->anext)
        cc->anext->aprev = cc->aprev;
    if (cc->aprev)
        cc->aprev->anext = cc->anext;
    else
        cl->all = cc->anext;
    cl->stats.open--;
    cc->pool->n_conns--;
    blockpool_put(&cl->rbufs, cc->rb);
    http_parse_free(&cc->parse);
    struct pool *p = cc->pool;
    int st = cc->fail_status;
    bool retry = q && q->idempotent && cc->reused && !cc->got_bytes && q->retries == 0 &&
                 !q->headed && (q->body_len == 0 || q->body) && !q->wdata &&
                 (st == UV_EOF || st == UV_ECONNRESET || st == UV_EPIPE);
    free(cc);
    if (q) {
        if (retry && !cl->freeing) {
            struct frost_err err;
            q->retries++;
            q->head_written = false;
            q->term_sent = false;
            cl->stats.retries++;
            if (attach(q, &err) == 0)
                goto done;
        }
        q_finish(q, st ? st : UV_ECONNRESET);
    }
done:
    pool_maybe_free(cl, p);
    if (cl->freeing && !cl->all)
        client_destroy(cl);
}

static void conn_fail(struct cconn *cc, int status)
{
    if (cc->closing)
        return;
    cc->closing = true;
    cc->fail_status = status;
    idle_remove(cc);
    uv_timer_stop(&cc->timer);
    uv_close((uv_handle_t *)&cc->timer, on_closed);
    uv_close(&cc->h.handle, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct cconn *cc = h->data;
    if (!cc->rb)
        cc->rb = blockpool_get(&cc->cl->rbufs);
    *b = uv_buf_init(cc->rb, cc->rb ? CBUF_SIZE : 0);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct cconn *cc = st->data;
    if (nread == 0)
        goto release;
    if (nread < 0) {
        if (cc->state == CC_IDLE || !cc->q) {
            idle_remove(cc);
            conn_fail(cc, 0);
            return;
        }
        if (nread == UV_EOF && cc->got_bytes && http_parse_eof(&cc->parse) == 0 &&
            !cc->parse.in_message && cc->complete) {
            process(cc); /* close-delimited body just ended */
            return;
        }
        conn_fail(cc, nread == UV_EOF ? UV_EOF : (int)nread);
        return;
    }
    if (cc->state == CC_IDLE || !cc->q) {
        /* Bytes nobody asked for: the upstream is confused; drop it. */
        idle_remove(cc);
        conn_fail(cc, 0);
        return;
    }
    cc->got_bytes = true;
    cc->rlen = (size_t)nread;
    cc->rpos = 0;
    process(cc);
    return;
release:
    if (cc->rb && cc->rpos >= cc->rlen) {
        blockpool_put(&cc->cl->rbufs, cc->rb);
        cc->rb = NULL;
    }
}

static void set_reading(struct cconn *cc, bool on)
{
    if (cc->closing || cc->reading == on)
        return;
    cc->reading = on;
    if (on)
        uv_read_start(&cc->h.stream, on_alloc, on_read);
    else
        uv_read_stop(&cc->h.stream);
}

/* The response ended: hand the connection back to its pool (or close it)
 * before telling the caller, who may start the next request at once. */
static void complete(struct cconn *cc)
{
    struct http_creq *q = cc->q;
    struct http_client *cl = cc->cl;
    bool reuse = cc->parse.msg.keep_alive && q->end_requested && (!q->chunked || q->term_sent) &&
                 !cc->write_pending && !q->wdata && cc->rpos >= cc->rlen && !cl->freeing &&
                 cc->pool->n_idle < cl->cfg->upstream_max_idle_per_endpoint;
    cc->q = NULL;
    q->cc = NULL;
    cc->complete = false;
    if (reuse) {
        http_parse_resume(&cc->parse);
        cc->state = CC_IDLE;
        cc->reused = false;
        cc->got_bytes = false;
        cc->inext = cc->pool->idle;
        cc->iprev = NULL;
        if (cc->inext)
            cc->inext->iprev = cc;
        cc->pool->idle = cc;
        cc->pool->n_idle++;
        cl->stats.idle++;
        if (cl->cfg->upstream_idle_timeout_ms)
            uv_timer_start(&cc->timer, on_timer, cl->cfg->upstream_idle_timeout_ms, 0);
        if (cc->rb) {
            blockpool_put(&cl->rbufs, cc->rb);
            cc->rb = NULL;
        }
        set_reading(cc, true);
    } else {
        conn_fail(cc, 0);
    }
    q_finish(q, 0);
}

static void process(struct cconn *cc)
{
    if (cc->in_process)
        return;
    cc->in_process = true;
    while (!cc->closing && cc->q) {
        if (cc->complete) {
            cc->in_process = false;
            complete(cc);
            return;
        }
        if (!cc->rb || cc->rpos >= cc->rlen || cc->parse.paused)
            break;
        size_t n = http_parse_feed(&cc->parse, cc->rb + cc->rpos, cc->rlen - cc->rpos);
        cc->rpos += n;
        if (cc->parse.err_status) {
            cc->in_process = false;
            conn_fail(cc, cc->parse.err_status == 431 ? UV_E2BIG : UV_EPROTO);
            return;
        }
        if (cc->informational && cc->parse.paused) {
            cc->informational = false;
            cc->complete = false;
            http_parse_resume(&cc->parse);
        }
    }
    cc->in_process = false;
    if (cc->closing)
        return;
    /* Paused: the last body chunk still points into rb. */
    if (cc->rb && cc->rpos >= cc->rlen && !cc->parse.paused) {
        blockpool_put(&cc->cl->rbufs, cc->rb);
        cc->rb = NULL;
    }
    set_reading(cc, !cc->rb);
}

static void on_head(void *ud, struct http_msg *m, int *skip);

static int p_on_head(void *ud, struct http_msg *m)
{
    int skip = 0;
    on_head(ud, m, &skip);
    return skip ? HTTP_PARSE_SKIPBODY : HTTP_PARSE_OK;
}

static void on_head(void *ud, struct http_msg *m, int *skip)
{
    struct cconn *cc = ud;
    struct http_creq *q = cc->q;
    if (m->status >= 100 && m->status < 200) {
        cc->informational = true;
        return;
    }
    if (!q)
        return;
    q->headed = true;
    uv_timer_stop(&cc->timer);
    if (q->is_head)
        *skip = 1;
    if (q->cb.on_head)
        q->cb.on_head(q, m, q->ud);
}

static int p_on_body(void *ud, const char *d, size_t n)
{
    struct cconn *cc = ud;
    struct http_creq *q = cc->q;
    if (!q || !q->cb.on_body)
        return 0;
    return q->cb.on_body(q, d, n, q->ud) == 1 ? HTTP_PARSE_PAUSE : 0;
}

static int p_on_complete(void *ud)
{
    struct cconn *cc = ud;
    if (cc->informational)
        return 0;
    cc->complete = true;
    return 0;
}

static const struct http_parse_cb parse_cb = {
    .on_head = p_on_head,
    .on_body = p_on_body,
    .on_complete = p_on_complete,
};

static void on_write(uv_write_t *w, int status)
{
    struct cconn *cc = container_of(w, struct cconn, wreq);
    cc->write_pending = false;
    enum wkind k = cc->wkind;
    cc->wkind = W_NONE;
    if (status < 0) {
        conn_fail(cc, status == UV_ECANCELED ? UV_ECANCELED : status);
        return;
    }
    struct http_creq *q = cc->q;
    if (k == W_DATA && q && q->wcb) {
        void (*cb)(struct http_creq *, int, void *) = q->wcb;
        void *wud = q->wud;
        q->wcb = NULL;
        cb(q, 0, wud);
    }
    if (!cc->closing && cc->q)
        pump(cc);
}

/* 1 written, 0 pending, -1 failed (connection closing). */
static int send_bufs(struct cconn *cc, uv_buf_t *bufs, unsigned n, enum wkind kind)
{
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    int w = uv_try_write(&cc->h.stream, bufs, n);
    if (w == (int)total)
        return 1;
    if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
        conn_fail(cc, w);
        return -1;
    }
    size_t skip = w > 0 ? (size_t)w : 0;
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        if (skip >= bufs[i].len) {
            skip -= bufs[i].len;
            continue;
        }
        cc->wbufs[k] = uv_buf_init(bufs[i].base + skip, (unsigned)(bufs[i].len - skip));
        skip = 0;
        k++;
    }
    int rc = uv_write(&cc->wreq, &cc->h.stream, cc->wbufs, k, on_write);
    if (rc < 0) {
        conn_fail(cc, rc);
        return -1;
    }
    cc->write_pending = true;
    cc->wkind = kind;
    return 0;
}

static unsigned frame(struct cconn *cc, struct http_creq *q, const char *d, size_t n,
                      uv_buf_t *bufs)
{
    unsigned k = 0;
    if (q->chunked) {
        int len = snprintf(cc->chunk_hdr, sizeof(cc->chunk_hdr), "%zx\r\n", n);
        bufs[k++] = uv_buf_init(cc->chunk_hdr, (unsigned)len);
    }
    bufs[k++] = uv_buf_init((char *)d, (unsigned)n);
    if (q->chunked)
        bufs[k++] = uv_buf_init((char *)"\r\n", 2);
    return k;
}

static void pump(struct cconn *cc)
{
    struct http_creq *q = cc->q;
    while (q && !cc->closing && !cc->write_pending && cc->state == CC_BUSY) {
        if (!q->head_written) {
            uv_buf_t b[2];
            unsigned n = 0;
            b[n++] = uv_buf_init(q->head.data, (unsigned)q->head.len);
            if (q->body && q->body_len > 0)
                b[n++] = uv_buf_init((char *)q->body, (unsigned)q->body_len);
            q->head_written = true;
            if (send_bufs(cc, b, n, W_HEAD) != 1)
                return;
            continue;
        }
        if (q->wdata) {
            uv_buf_t b[3];
            unsigned n = frame(cc, q, q->wdata, q->wlen, b);
            q->wdata = NULL;
            int rc = send_bufs(cc, b, n, W_DATA);
            if (rc != 1)
                return;
            void (*cb)(struct http_creq *, int, void *) = q->wcb;
            void *wud = q->wud;
            q->wcb = NULL;
            if (cb)
                cb(q, 0, wud);
            q = cc->q;
            continue;
        }
        if (q->end_requested && q->chunked && !q->term_sent) {
            static const char term[] = "0\r\n\r\n";
            uv_buf_t b = uv_buf_init((char *)term, 5);
            q->term_sent = true;
            if (send_bufs(cc, &b, 1, W_END) != 1)
                return;
            continue;
        }
        return;
    }
}

static void on_connect(uv_connect_t *c, int status)
{
    struct cconn *cc = c->data;
    if (cc->closing)
        return;
    if (status < 0) {
        conn_fail(cc, status);
        return;
    }
    if (!cc->pool->ep.is_unix)
        uv_tcp_nodelay(&cc->h.tcp, 1);
    cc->state = CC_BUSY;
    arm_request_timer(cc);
    set_reading(cc, true);
    pump(cc);
}

static int attach(struct http_creq *q, struct frost_err *err)
{
    struct http_client *cl = q->cl;
    struct pool *p = q->pool;
    struct cconn *cc = p->idle;
    if (cc) {
        idle_remove(cc);
        uv_timer_stop(&cc->timer);
        cc->state = CC_BUSY;
        cc->reused = true;
        cc->q = q;
        q->cc = cc;
        cl->stats.reuses++;
        arm_request_timer(cc);
        pump(cc);
        return 0;
    }
    cc = calloc(1, sizeof(*cc));
    if (!cc)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    cc->cl = cl;
    cc->pool = p;
    cc->state = CC_CONNECTING;
    cc->q = q;
    q->cc = cc;
    http_parse_init(&cc->parse, HTTP_RESPONSE, HEAD_MAX, &parse_cb, cc);
    int rc;
    if (p->ep.is_unix) {
        uv_pipe_init(cl->loop, &cc->h.pipe, 0);
    } else {
        uv_tcp_init(cl->loop, &cc->h.tcp);
    }
    cc->h.handle.data = cc;
    uv_timer_init(cl->loop, &cc->timer);
    cc->timer.data = cc;
    cc->connect.data = cc;
    cc->handles_open = 2;
    cc->anext = cl->all;
    if (cl->all)
        cl->all->aprev = cc;
    cl->all = cc;
    cl->stats.open++;
    cl->stats.connects++;
    p->n_conns++;
    if (p->ep.is_unix) {
        uv_pipe_connect(&cc->connect, &cc->h.pipe, p->ep.path, on_connect);
        rc = 0;
    } else {
        struct sockaddr_storage ss;
        if (uv_ip4_addr(p->ep.host, p->ep.port, (struct sockaddr_in *)&ss) != 0)
            uv_ip6_addr(p->ep.host, p->ep.port, (struct sockaddr_in6 *)&ss);
        rc = uv_tcp_connect(&cc->connect, &cc->h.tcp, (struct sockaddr *)&ss, on_connect);
    }
    if (rc < 0) {
        /* Reported asynchronously from the close callback, like any failure. */
        conn_fail(cc, rc);
        return 0;
    }
    arm_request_timer(cc);
    return 0;
}

/* ------------------------------------------------------------ caller ops */

int http_creq_write(struct http_creq *q, const char *data, size_t len,
                    void (*cb)(struct http_creq *q, int status, void *ud), void *ud)
{
    struct cconn *cc = q->cc;
    if (!cc || cc->closing || q->end_requested || q->wdata)
        return -1;
    if (len == 0)
        return 1;
    if (cc->state == CC_BUSY && q->head_written && !cc->write_pending) {
        uv_buf_t b[3];
        unsigned n = frame(cc, q, data, len, b);
        q->wcb = cb;
        q->wud = ud;
        int rc = send_bufs(cc, b, n, W_DATA);
        if (rc == 1)
            q->wcb = NULL;
        return rc < 0 ? 0 : rc; /* on failure, cb/on_done report it from close */
    }
    q->wdata = data;
    q->wlen = len;
    q->wcb = cb;
    q->wud = ud;
    return 0;
}

void http_creq_end(struct http_creq *q)
{
    if (q->end_requested)
        return;
    q->end_requested = true;
    if (q->cc)
        pump(q->cc);
}

void http_creq_resume(struct http_creq *q)
{
    struct cconn *cc = q->cc;
    if (!cc || cc->closing)
        return;
    http_parse_resume(&cc->parse);
    process(cc);
}

void http_creq_abort(struct http_creq *q)
{
    struct cconn *cc = q->cc;
    struct http_client *cl = q->cl;
    if (cc) {
        cc->q = NULL;
        q->cc = NULL;
        conn_fail(cc, UV_ECANCELED);
    }
    q_put(cl, q);
}

/* ---------------------------------------------------------------- client */

int http_client_new(uv_loop_t *loop, const struct frost_http_config *cfg, struct http_client **out,
                    struct frost_err *err)
{
    struct http_client *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    cl->loop = loop;
    cl->cfg = cfg;
    blockpool_init(&cl->rbufs, CBUF_SIZE, CBUF_MAX);
    *out = cl;
    return 0;
}

void http_client_free(struct http_client *cl)
{
    if (!cl)
        return;
    cl->freeing = true;
    if (!cl->all) {
        client_destroy(cl);
        return;
    }
    for (struct cconn *cc = cl->all; cc; cc = cc->anext) {
        if (cc->q) {
            struct http_creq *q = cc->q;
            cc->q = NULL;
            q->cc = NULL;
            buf_free(&q->head);
            free(q);
        }
        conn_fail(cc, UV_ECANCELED);
    }
}

void http_client_stats(const struct http_client *cl, struct http_client_stats *out)
{
    *out = cl->stats;
}
