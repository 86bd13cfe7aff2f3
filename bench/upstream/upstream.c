/*
 * upstream: a tiny HTTP/1.1 test instance for the benchmarks (libuv + http_parser).
 *
 * Listens on --port, else FC_SERVER_PORT, else FC_CUSTOM_LISTEN_PORT, else 9000 (so it also
 * runs as a Frost/FC custom-runtime function). Each request is served after sleeping for its
 * `x-sleep-ms` header's value (else --sleep-ms), then answered 200 with the request body
 * echoed back (or "ok\n" when there is none).
 *
 * At most --concurrency requests (default 1) are in service at once; the others wait in one
 * FIFO queue across all connections, in arrival order, like a single-threaded instance that
 * accepts every connection. So a concurrency-1 instance behaves naturally: a peer that sends
 * it a second request while one is in service makes that request wait here.
 *
 * The FC control paths answer at once, outside the queue: POST /initialize, GET /pre-stop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <uv.h>

#define MAX_BODY  (1024 * 1024)
#define MAX_INBUF (1024 * 1024)

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct conn {
    uv_tcp_t tcp;
    http_parser parser;
    struct conn *qnext; /* the service queue */
    /* bytes read and not yet parsed */
    char *in;
    size_t in_len, in_cap, in_off;
    /* the request being parsed or served */
    char field[32];
    size_t field_len;
    int field_is_sleep, last_was_value;
    char sleep_val[32];
    size_t sleep_len;
    char *body;
    size_t body_len;
    int control, keep;
    /* lifecycle */
    int queued, in_service, closing, handle_closed, reading;
};

struct slot {
    uv_timer_t timer;
    struct conn *conn;
};

static struct {
    const char *host;
    int port;
    long sleep_ms;
    int concurrency;
    int quiet;
} cfg = {.host = "127.0.0.1", .port = -1, .concurrency = 1};

static uv_loop_t *loop;
static uv_tcp_t server;
static struct slot *slots;
static int busy;
static struct conn *q_head, *q_tail;
static unsigned long long served;

static void conn_parse(struct conn *c);

static void conn_maybe_free(struct conn *c)
{
    if (c->handle_closed && !c->in_service) {
        free(c->in);
        free(c->body);
        free(c);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = container_of((uv_tcp_t *)h, struct conn, tcp);
    c->handle_closed = 1;
    conn_maybe_free(c);
}

static void queue_remove(struct conn *c)
{
    struct conn **pp = &q_head, *prev = NULL;
    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp)
        return;
    *pp = c->qnext;
    if (q_tail == c)
        q_tail = prev;
    c->qnext = NULL;
    c->queued = 0;
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->queued)
        queue_remove(c);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

struct wreq {
    uv_write_t req;
    struct conn *conn;
    int close_after;
    char head[160];
    char data[];
};

static void on_written(uv_write_t *w, int status)
{
    struct wreq *wr = container_of(w, struct wreq, req);
    struct conn *c = wr->conn;
    int close_after = wr->close_after;
    free(wr);
    if (c->closing)
        return;
    if (status < 0 || close_after) {
        conn_close(c);
        return;
    }
    http_parser_pause(&c->parser, 0);
    conn_parse(c); /* a pipelined request may be waiting */
}

static void respond(struct conn *c)
{
    const char *body = c->body_len ? c->body : "ok\n";
    size_t len = c->body_len ? c->body_len : 3;
    struct wreq *wr = malloc(sizeof(*wr) + len);
    if (!wr) {
        conn_close(c);
        return;
    }
    wr->conn = c;
    wr->close_after = !c->keep;
    memcpy(wr->data, body, len);
    int hl =
        snprintf(wr->head, sizeof(wr->head),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                 len, c->keep ? "" : "Connection: close\r\n");
    uv_buf_t bufs[2] = {uv_buf_init(wr->head, (unsigned)hl), uv_buf_init(wr->data, (unsigned)len)};
    served++;
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, bufs, 2, on_written) < 0) {
        free(wr);
        conn_close(c);
    }
}

static void start_next(void);

static void on_service_done(uv_timer_t *t)
{
    struct slot *s = container_of(t, struct slot, timer);
    struct conn *c = s->conn;
    s->conn = NULL;
    busy--;
    c->in_service = 0;
    if (c->closing)
        conn_maybe_free(c);
    else
        respond(c);
    start_next();
}

static long sleep_of(struct conn *c)
{
    if (c->sleep_len == 0)
        return cfg.sleep_ms;
    c->sleep_val[c->sleep_len] = '\0';
    char *end;
    long v = strtol(c->sleep_val, &end, 10);
    return (end == c->sleep_val || v < 0) ? cfg.sleep_ms : v;
}

static void start_next(void)
{
    while (busy < cfg.concurrency && q_head) {
        struct conn *c = q_head;
        q_head = c->qnext;
        if (!q_head)
            q_tail = NULL;
        c->qnext = NULL;
        c->queued = 0;
        struct slot *s = NULL;
        for (int i = 0; i < cfg.concurrency; i++)
            if (!slots[i].conn) {
                s = &slots[i];
                break;
            }
        s->conn = c;
        c->in_service = 1;
        busy++;
        uv_update_time(loop); /* the sleep counts from now, not from this iteration's start */
        uv_timer_start(&s->timer, on_service_done, (uint64_t)sleep_of(c), 0);
    }
}

/* ---- request parsing ------------------------------------------------------------------- */

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;
    c->field_len = 0;
    c->field_is_sleep = 0;
    c->last_was_value = 0;
    c->sleep_len = 0;
    c->body_len = 0;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (c->last_was_value) {
        c->field_len = 0;
        c->last_was_value = 0;
    }
    size_t room = sizeof(c->field) - 1 - c->field_len;
    size_t n = len < room ? len : room;
    memcpy(c->field + c->field_len, at, n);
    c->field_len += n;
    c->field[c->field_len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (!c->last_was_value) {
        c->last_was_value = 1;
        c->field_is_sleep = strcasecmp(c->field, "x-sleep-ms") == 0;
        if (c->field_is_sleep)
            c->sleep_len = 0;
    }
    if (c->field_is_sleep) {
        size_t room = sizeof(c->sleep_val) - 1 - c->sleep_len;
        size_t n = len < room ? len : room;
        memcpy(c->sleep_val + c->sleep_len, at, n);
        c->sleep_len += n;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (!c->body && !(c->body = malloc(MAX_BODY)))
        return 1;
    size_t room = MAX_BODY - c->body_len;
    size_t n = len < room ? len : room;
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->keep = http_should_keep_alive(p);
    http_parser_pause(p, 1);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    c->control = (p->method == HTTP_POST && len == 11 && memcmp(at, "/initialize", 11) == 0) ||
                 (p->method == HTTP_GET && len == 9 && memcmp(at, "/pre-stop", 9) == 0);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Parses what is buffered; at a complete request, stops reading until it is answered. */
static void conn_parse(struct conn *c)
{
    if (c->in_off < c->in_len) {
        size_t n =
            http_parser_execute(&c->parser, &settings, c->in + c->in_off, c->in_len - c->in_off);
        c->in_off += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            if (c->reading) {
                uv_read_stop((uv_stream_t *)&c->tcp);
                c->reading = 0;
            }
            if (c->control) {
                c->body_len = 0;
                respond(c);
            } else {
                c->queued = 1;
                if (q_tail)
                    q_tail->qnext = c;
                else
                    q_head = c;
                q_tail = c;
                start_next();
            }
            return;
        }
        if (e != HPE_OK) {
            conn_close(c);
            return;
        }
    }
    c->in_off = c->in_len = 0;
    if (!c->reading) {
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        c->reading = 1;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = container_of((uv_tcp_t *)h, struct conn, tcp);
    (void)suggested;
    if (c->in_cap - c->in_len < 16384) {
        size_t ncap = c->in_cap ? c->in_cap * 2 : 65536;
        char *n = ncap <= MAX_INBUF ? realloc(c->in, ncap) : NULL;
        if (!n) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->in = n;
        c->in_cap = ncap;
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = container_of((uv_tcp_t *)s, struct conn, tcp);
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->in_len += (size_t)nread;
    conn_parse(c);
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(loop, &c->tcp);
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    c->reading = 1;
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    if (!cfg.quiet)
        fprintf(stderr, "upstream: signal %d, served %llu requests\n", signum, served);
    exit(0);
}

static void usage(FILE *f)
{
    fputs("usage: upstream [--port N] [--host ADDR] [--sleep-ms N] [--concurrency N] [--quiet]\n"
          "  port: --port, else $FC_SERVER_PORT, else $FC_CUSTOM_LISTEN_PORT, else 9000\n"
          "  each request sleeps for its x-sleep-ms header (else --sleep-ms, 0), then gets 200\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},
        {"sleep-ms", required_argument, 0, 's'},
        {"concurrency", required_argument, 0, 'c'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "p:H:s:c:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            cfg.port = atoi(optarg);
            break;
        case 'H':
            cfg.host = optarg;
            break;
        case 's':
            cfg.sleep_ms = atol(optarg);
            break;
        case 'c':
            cfg.concurrency = atoi(optarg);
            break;
        case 'q':
            cfg.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    const char *env;
    if (cfg.port < 0 && (env = getenv("FC_SERVER_PORT")) && *env)
        cfg.port = atoi(env);
    if (cfg.port < 0 && (env = getenv("FC_CUSTOM_LISTEN_PORT")) && *env)
        cfg.port = atoi(env);
    if (cfg.port < 0)
        cfg.port = 9000;
    if (cfg.port <= 0 || cfg.port > 65535 || cfg.concurrency < 1 || cfg.sleep_ms < 0) {
        usage(stderr);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    slots = calloc((size_t)cfg.concurrency, sizeof(*slots));
    if (!slots)
        return 1;
    for (int i = 0; i < cfg.concurrency; i++)
        uv_timer_init(loop, &slots[i].timer);

    struct sockaddr_storage addr;
    if (uv_ip4_addr(cfg.host, cfg.port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(cfg.host, cfg.port, (struct sockaddr_in6 *)&addr) != 0) {
        fprintf(stderr, "upstream: bad --host %s\n", cfg.host);
        return 2;
    }
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 1024, on_connection);
    if (rc != 0) {
        fprintf(stderr, "upstream: listen %s:%d: %s\n", cfg.host, cfg.port, uv_strerror(rc));
        return 1;
    }
    uv_signal_t sigterm, sigint;
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    if (!cfg.quiet)
        fprintf(stderr, "upstream: listening on %s:%d, concurrency %d, default sleep %ld ms\n",
                cfg.host, cfg.port, cfg.concurrency, cfg.sleep_ms);
    return uv_run(loop, UV_RUN_DEFAULT);
}
