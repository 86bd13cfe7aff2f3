/*
 * loadgen: an open-loop HTTP/1.1 load generator (libuv + http_parser).
 *
 * Requests arrive as a Poisson process: inter-arrival times are exponential with mean 1/rate,
 * drawn from a seeded PRNG, so two runs with the same --seed send the same schedule (and the
 * same --mix header values) to whatever is measured. Each request is sent at its scheduled
 * time on an idle pooled keep-alive connection, or on a new connection (up to --max-conns);
 * only when that cap is reached does a request wait for a connection. Nothing waits for a
 * response before the next request is sent, so a slow server cannot slow the arrivals.
 *
 * Latency runs from the request's *scheduled* send time to the last byte of its response:
 * time spent waiting for a connection, or sent late because this process was busy, is
 * counted (no coordinated omission). The schedule is kept with a timerfd (absolute
 * CLOCK_MONOTONIC, the clock of uv_hrtime), not libuv's millisecond timers.
 *
 * Output: a JSON object on stdout (or --out FILE) and one human line on stderr. See
 * bench/README.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <http_parser.h>
#include <uv.h>

#define MAX_HEADERS   64
#define MAX_MIX       16
#define READ_BUF_SIZE (64 * 1024)
#define NS_PER_SEC    1000000000ULL

/* ---- log-linear histogram (microseconds) ----------------------------------------------- */

/* Values below HIST_SUB are exact; above, each power of two is split into HIST_HALF buckets,
 * so a bucket's width is at most 1/128 of its value (< 0.8 % error). */
#define HIST_SUB_BITS 8
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_HALF     (HIST_SUB / 2)
#define HIST_BUCKETS  (HIST_SUB + 56 * HIST_HALF)

struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n, min, max;
    double sum;
};

static size_t hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (size_t)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - (HIST_SUB_BITS - 1);
    uint64_t mant = v >> shift;
    return HIST_SUB + (size_t)(shift - 1) * HIST_HALF + (size_t)(mant - HIST_HALF);
}

static uint64_t hist_upper(size_t idx)
{
    if (idx < HIST_SUB)
        return idx;
    size_t k = idx - HIST_SUB;
    int shift = (int)(k / HIST_HALF) + 1;
    uint64_t mant = HIST_HALF + k % HIST_HALF;
    return ((mant + 1) << shift) - 1;
}

static void hist_record(struct hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    if (h->n == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->n++;
    h->sum += (double)v;
}

/* The highest value equivalent to the p-th percentile's bucket, capped at the exact max. */
static uint64_t hist_pct(const struct hist *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->n);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t v = hist_upper(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

/* ---- PRNG: xoshiro256** seeded by splitmix64 ------------------------------------------- */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- intrusive doubly-linked lists ----------------------------------------------------- */

struct link {
    struct link *prev, *next;
};

static void list_init(struct link *head)
{
    head->prev = head->next = head;
}

static int list_empty(const struct link *head)
{
    return head->next == head;
}

static void list_push(struct link *head, struct link *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void list_remove(struct link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- configuration and state ----------------------------------------------------------- */

enum err_kind { E_CONNECT, E_WRITE, E_READ, E_EOF, E_PARSE, E_TIMEOUT, E_STATUS, E_KINDS };
static const char *const err_names[E_KINDS] = {"connect", "write",   "read",  "eof",
                                               "parse",   "timeout", "status"};

struct mix_entry {
    double weight;
    char *value;
    char *line; /* "name: value\r\n" */
    struct hist hist;
    uint64_t sent, ok;
};

static struct {
    const char *url;
    const char *method;
    char *body;
    size_t body_len;
    const char *headers[MAX_HEADERS];
    int nheaders;
    double rate, duration, warmup, timeout;
    uint64_t seed;
    int max_conns;
    int keepalive;
    const char *out;
    char *mix_name;
    struct mix_entry mix[MAX_MIX];
    int nmix;
    double mix_total;
} cfg = {
    .method = "GET", .duration = 10, .timeout = 10, .seed = 1, .max_conns = 4096, .keepalive = 1};

struct req {
    uint64_t sched_ns;
    int mix; /* index into cfg.mix, or -1 */
};

enum conn_state { C_CONNECTING, C_IDLE, C_BUSY, C_CLOSING };

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    http_parser parser;
    struct link all;  /* every open connection */
    struct link idle; /* idle connections, most recently used first */
    enum conn_state state;
    struct req req;
    uint64_t done_ns;
    int done, keep;
};

/* Requests waiting for a connection, oldest first: a growable ring. */
static struct {
    struct req *v;
    size_t cap, head, len;
} pending;

static struct {
    uv_loop_t *loop;
    struct sockaddr_storage addr;
    uv_buf_t head, tail; /* the request around the mix line */
    struct rng arrivals, mixer;
    uint64_t start_ns, measure_ns, end_ns, next_ns;
    int tfd;
    uv_poll_t tpoll;
    uv_timer_t sweep;
    int arrivals_done, finishing;
    struct link all, idle;
    int nconns, peak_conns;
    uint64_t opened, outstanding;
    /* measured requests only (scheduled at or after the warmup) */
    uint64_t sent, ok, errors[E_KINDS], status[600];
    struct hist lat, lag;
    uint64_t last_done_ns;
} g;

static char read_buf[READ_BUF_SIZE];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        die("out of memory");
    return p;
}

static int measured(const struct req *r)
{
    return r->sched_ns >= g.measure_ns;
}

/* ---- request lifecycle ----------------------------------------------------------------- */

static void dispatch(struct req r);
static void drain_pending(void);

static void on_close(uv_handle_t *h)
{
    free(container_of((uv_tcp_t *)h, struct conn, tcp));
}

static void conn_close(struct conn *c)
{
    if (c->state == C_CLOSING)
        return;
    if (c->state == C_IDLE)
        list_remove(&c->idle);
    c->state = C_CLOSING;
    list_remove(&c->all);
    g.nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* A request ended: count it once. */
static void resolve(const struct req *r, int err, int status, uint64_t done_ns)
{
    g.outstanding--;
    if (!measured(r))
        return;
    if (status > 0 && status < 600)
        g.status[status]++;
    struct mix_entry *m = r->mix >= 0 ? &cfg.mix[r->mix] : NULL;
    if (err >= 0) {
        g.errors[err]++;
        return;
    }
    uint64_t us = (done_ns - r->sched_ns) / 1000;
    g.ok++;
    hist_record(&g.lat, us);
    if (m) {
        m->ok++;
        hist_record(&m->hist, us);
    }
    if (done_ns > g.last_done_ns)
        g.last_done_ns = done_ns;
}

static void conn_fail(struct conn *c, int kind)
{
    if (c->state == C_BUSY || c->state == C_CONNECTING)
        resolve(&c->req, kind, 0, 0);
    conn_close(c);
    drain_pending();
}

static void on_write(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    free(w);
    if (status < 0 && status != UV_ECANCELED && c->state == C_BUSY)
        conn_fail(c, E_WRITE);
}

static void conn_send(struct conn *c, struct req r)
{
    uint64_t now = uv_hrtime();
    c->state = C_BUSY;
    c->req = r;
    c->done = 0;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    if (measured(&r))
        hist_record(&g.lag, now > r.sched_ns ? (now - r.sched_ns) / 1000 : 0);

    uv_buf_t bufs[3];
    int n = 0;
    bufs[n++] = g.head;
    if (r.mix >= 0)
        bufs[n++] = uv_buf_init(cfg.mix[r.mix].line, (unsigned)strlen(cfg.mix[r.mix].line));
    bufs[n++] = g.tail;
    uv_write_t *w = xmalloc(sizeof(*w));
    w->data = c;
    int rc = uv_write(w, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write);
    if (rc < 0) {
        free(w);
        conn_fail(c, E_WRITE);
    }
}

/* The connection is free: give it the oldest waiting request, or park it. */
static void conn_release(struct conn *c)
{
    if (pending.len > 0) {
        struct req r = pending.v[pending.head];
        pending.head = (pending.head + 1) % pending.cap;
        pending.len--;
        conn_send(c, r);
        return;
    }
    c->state = C_IDLE;
    list_push(&g.idle, &c->idle);
}

static void complete(struct conn *c)
{
    struct req r = c->req;
    int status = c->parser.status_code;
    int err = (status >= 200 && status < 400) ? -1 : E_STATUS;
    resolve(&r, err, status, c->done_ns);
    if (c->keep && cfg.keepalive) {
        conn_release(c);
    } else {
        conn_close(c);
        drain_pending();
    }
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->done_ns = uv_hrtime();
    c->done = 1;
    c->keep = http_should_keep_alive(p);
    http_parser_pause(p, 1);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    (void)p;
    /* A response to HEAD has no body whatever its headers say. */
    return strcmp(cfg.method, "HEAD") == 0 ? 1 : 0;
}

static const http_parser_settings parser_settings = {
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = container_of((uv_tcp_t *)s, struct conn, tcp);
    if (c->state == C_CLOSING || nread == 0)
        return;
    if (nread > 0 && c->state != C_BUSY) {
        conn_close(c); /* bytes nobody asked for */
        return;
    }
    if (nread == UV_EOF && c->state == C_BUSY) {
        http_parser_execute(&c->parser, &parser_settings, NULL, 0); /* close-delimited body */
        if (c->done) {
            c->keep = 0;
            complete(c);
        } else {
            conn_fail(c, E_EOF);
        }
        return;
    }
    if (nread < 0) {
        if (c->state == C_BUSY)
            conn_fail(c, E_READ);
        else
            conn_close(c);
        return;
    }
    http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)nread);
    if (c->done) {
        complete(c);
        return;
    }
    if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK)
        conn_fail(c, E_PARSE);
}

static void on_connect(uv_connect_t *cr, int status)
{
    struct conn *c = container_of(cr, struct conn, connect_req);
    if (c->state == C_CLOSING)
        return;
    if (status < 0) {
        conn_fail(c, E_CONNECT);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    conn_send(c, c->req);
}

static void conn_open(struct req r)
{
    struct conn *c = xmalloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    uv_tcp_init(g.loop, &c->tcp);
    c->state = C_CONNECTING;
    c->req = r;
    list_init(&c->idle);
    list_push(&g.all, &c->all);
    g.nconns++;
    g.opened++;
    if (g.nconns > g.peak_conns)
        g.peak_conns = g.nconns;
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&g.addr, on_connect);
    if (rc < 0)
        conn_fail(c, E_CONNECT);
}

static void pending_push(struct req r)
{
    if (pending.len == pending.cap) {
        size_t ncap = pending.cap ? pending.cap * 2 : 1024;
        struct req *v = xmalloc(ncap * sizeof(*v));
        for (size_t i = 0; i < pending.len; i++)
            v[i] = pending.v[(pending.head + i) % pending.cap];
        free(pending.v);
        pending.v = v;
        pending.cap = ncap;
        pending.head = 0;
    }
    pending.v[(pending.head + pending.len) % pending.cap] = r;
    pending.len++;
}

static void dispatch(struct req r)
{
    if (!list_empty(&g.idle)) {
        struct conn *c = container_of(g.idle.next, struct conn, idle);
        list_remove(&c->idle);
        conn_send(c, r);
    } else if (g.nconns < cfg.max_conns) {
        conn_open(r);
    } else {
        pending_push(r);
    }
}

/* After a connection closed: waiting requests may now get a new one. */
static void drain_pending(void)
{
    while (pending.len > 0 && g.nconns < cfg.max_conns) {
        struct req r = pending.v[pending.head];
        pending.head = (pending.head + 1) % pending.cap;
        pending.len--;
        dispatch(r);
    }
}

/* ---- the arrival process --------------------------------------------------------------- */

static uint64_t next_gap_ns(void)
{
    double u = rng_unit(&g.arrivals);
    return (uint64_t)(-log1p(-u) / cfg.rate * 1e9);
}

static int pick_mix(void)
{
    if (cfg.nmix == 0)
        return -1;
    double x = rng_unit(&g.mixer) * cfg.mix_total;
    for (int i = 0; i < cfg.nmix; i++) {
        x -= cfg.mix[i].weight;
        if (x < 0)
            return i;
    }
    return cfg.nmix - 1;
}

static void arm_timer(uint64_t abs_ns)
{
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(abs_ns / NS_PER_SEC);
    its.it_value.tv_nsec = (long)(abs_ns % NS_PER_SEC);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    if (timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        die("timerfd_settime: %s", strerror(errno));
}

static void maybe_finish(void);

static void on_tick(uv_poll_t *p, int status, int events)
{
    (void)p;
    (void)status;
    (void)events;
    uint64_t expirations;
    if (read(g.tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        die("timerfd read: %s", strerror(errno));
    uint64_t now = uv_hrtime();
    while (g.next_ns <= now && g.next_ns < g.end_ns) {
        struct req r = {g.next_ns, pick_mix()};
        g.outstanding++;
        if (measured(&r)) {
            g.sent++;
            if (r.mix >= 0)
                cfg.mix[r.mix].sent++;
        }
        dispatch(r);
        g.next_ns += next_gap_ns();
    }
    if (g.next_ns < g.end_ns) {
        arm_timer(g.next_ns);
    } else {
        g.arrivals_done = 1;
        uv_poll_stop(&g.tpoll);
        maybe_finish();
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void maybe_finish(void)
{
    if (!g.arrivals_done || g.outstanding > 0 || g.finishing)
        return;
    g.finishing = 1;
    while (!list_empty(&g.all))
        conn_close(container_of(g.all.next, struct conn, all));
    uv_timer_stop(&g.sweep);
    uv_close((uv_handle_t *)&g.sweep, on_handle_closed);
    uv_close((uv_handle_t *)&g.tpoll, on_handle_closed);
}

/* Every 5 ms: fail requests older than --timeout, waiting or in flight. */
static void on_sweep(uv_timer_t *t)
{
    (void)t;
    uint64_t now = uv_hrtime();
    uint64_t limit = (uint64_t)(cfg.timeout * 1e9);
    while (pending.len > 0 && now - pending.v[pending.head].sched_ns > limit) {
        resolve(&pending.v[pending.head], E_TIMEOUT, 0, 0);
        pending.head = (pending.head + 1) % pending.cap;
        pending.len--;
    }
    struct link *l = g.all.next;
    while (l != &g.all) {
        struct conn *c = container_of(l, struct conn, all);
        l = l->next;
        if ((c->state == C_BUSY || c->state == C_CONNECTING) && now > c->req.sched_ns &&
            now - c->req.sched_ns > limit)
            conn_fail(c, E_TIMEOUT);
    }
    maybe_finish();
}

/* ---- setup ----------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                die("out of memory");
            buf = nb;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* NAME:W1:V1,W2:V2,...: the header NAME gets value Vi with probability Wi / sum(W). */
static void parse_mix(const char *spec)
{
    if (cfg.mix_name)
        die("--mix given twice");
    char *copy = strdup(spec);
    char *colon = strchr(copy, ':');
    if (!colon || colon == copy)
        die("--mix %s: expected NAME:WEIGHT:VALUE[,WEIGHT:VALUE]...", spec);
    *colon = '\0';
    cfg.mix_name = copy;
    char *save = NULL;
    for (char *tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (cfg.nmix == MAX_MIX)
            die("--mix: at most %d values", MAX_MIX);
        char *sep = strchr(tok, ':');
        char *end;
        if (!sep)
            die("--mix %s: entry '%s' is not WEIGHT:VALUE", spec, tok);
        *sep = '\0';
        double w = strtod(tok, &end);
        if (*end || !(w > 0))
            die("--mix %s: weight '%s' must be a positive number", spec, tok);
        struct mix_entry *m = &cfg.mix[cfg.nmix++];
        m->weight = w;
        m->value = sep + 1;
        size_t n = strlen(cfg.mix_name) + strlen(m->value) + 5;
        m->line = xmalloc(n);
        snprintf(m->line, n, "%s: %s\r\n", cfg.mix_name, m->value);
        cfg.mix_total += w;
    }
    if (cfg.nmix == 0)
        die("--mix %s: no values", spec);
}

static int has_header(const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < cfg.nheaders; i++)
        if (strncasecmp(cfg.headers[i], name, n) == 0 && cfg.headers[i][n] == ':')
            return 1;
    return 0;
}

/* Resolves the URL and builds the fixed parts of the request. */
static void setup_request(void)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(cfg.url, strlen(cfg.url), 0, &u) != 0 ||
        !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)))
        die("--url %s: expected http://HOST[:PORT]/PATH", cfg.url);
    if (u.field_data[UF_SCHEMA].len != 4 ||
        strncasecmp(cfg.url + u.field_data[UF_SCHEMA].off, "http", 4) != 0)
        die("--url %s: only http:// is supported", cfg.url);
    char host[256], port[16];
    int hl = u.field_data[UF_HOST].len;
    if (hl >= (int)sizeof(host))
        die("--url: host too long");
    memcpy(host, cfg.url + u.field_data[UF_HOST].off, (size_t)hl);
    host[hl] = '\0';
    snprintf(port, sizeof(port), "%u", (u.field_set & (1 << UF_PORT)) ? u.port : 80);
    const char *path = "/";
    if (u.field_set & (1 << UF_PATH))
        path = cfg.url + u.field_data[UF_PATH].off; /* the path and query, to the end */

    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        die("%s: %s", host, gai_strerror(rc));
    memcpy(&g.addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);

    size_t cap = 1024 + strlen(path);
    for (int i = 0; i < cfg.nheaders; i++)
        cap += strlen(cfg.headers[i]) + 2;
    char *head = xmalloc(cap);
    size_t n = (size_t)snprintf(head, cap, "%s %s HTTP/1.1\r\n", cfg.method, path);
    if (!has_header("host")) {
        int ipv6 = strchr(host, ':') != NULL;
        n += (size_t)snprintf(head + n, cap - n, "Host: %s%s%s%s%s\r\n", ipv6 ? "[" : "", host,
                              ipv6 ? "]" : "", (u.field_set & (1 << UF_PORT)) ? ":" : "",
                              (u.field_set & (1 << UF_PORT)) ? port : "");
    }
    for (int i = 0; i < cfg.nheaders; i++)
        n += (size_t)snprintf(head + n, cap - n, "%s\r\n", cfg.headers[i]);
    int want_len = cfg.body || strcmp(cfg.method, "POST") == 0 || strcmp(cfg.method, "PUT") == 0 ||
                   strcmp(cfg.method, "PATCH") == 0;
    if (want_len && !has_header("content-length"))
        n += (size_t)snprintf(head + n, cap - n, "Content-Length: %zu\r\n", cfg.body_len);
    if (!cfg.keepalive && !has_header("connection"))
        n += (size_t)snprintf(head + n, cap - n, "Connection: close\r\n");
    g.head = uv_buf_init(head, (unsigned)n);

    char *tail = xmalloc(cfg.body_len + 2);
    memcpy(tail, "\r\n", 2);
    if (cfg.body_len)
        memcpy(tail + 2, cfg.body, cfg.body_len);
    g.tail = uv_buf_init(tail, (unsigned)(cfg.body_len + 2));
}

/* ---- report ---------------------------------------------------------------------------- */

static void fmt_us(char *buf, size_t n, uint64_t us)
{
    if (us < 1000)
        snprintf(buf, n, "%lluus", (unsigned long long)us);
    else if (us < 1000000)
        snprintf(buf, n, "%.2fms", (double)us / 1e3);
    else
        snprintf(buf, n, "%.2fs", (double)us / 1e6);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_hist(FILE *f, const struct hist *h)
{
    fprintf(f,
            "{\"count\":%llu,\"min\":%llu,\"mean\":%.1f,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,"
            "\"p999\":%llu,\"max\":%llu}",
            (unsigned long long)h->n, (unsigned long long)h->min, h->n ? h->sum / (double)h->n : 0,
            (unsigned long long)hist_pct(h, 50), (unsigned long long)hist_pct(h, 90),
            (unsigned long long)hist_pct(h, 99), (unsigned long long)hist_pct(h, 99.9),
            (unsigned long long)h->max);
}

static void report(void)
{
    uint64_t nerr = 0;
    for (int i = 0; i < E_KINDS; i++)
        nerr += g.errors[i];
    double achieved = (double)g.ok / cfg.duration;
    FILE *f = stdout;
    if (cfg.out && !(f = fopen(cfg.out, "w")))
        die("%s: %s", cfg.out, strerror(errno));
    fprintf(f, "{\"url\":");
    json_str(f, cfg.url);
    fprintf(f, ",\"method\":");
    json_str(f, cfg.method);
    fprintf(f,
            ",\"rate\":%.3f,\"duration_s\":%.3f,\"warmup_s\":%.3f,\"seed\":%llu,"
            "\"timeout_s\":%.3f,\"max_conns\":%d,\"keepalive\":%s,\"sent\":%llu,\"ok\":%llu,"
            "\"achieved_rate\":%.3f,\"errors\":{\"total\":%llu",
            cfg.rate, cfg.duration, cfg.warmup, (unsigned long long)cfg.seed, cfg.timeout,
            cfg.max_conns, cfg.keepalive ? "true" : "false", (unsigned long long)g.sent,
            (unsigned long long)g.ok, achieved, (unsigned long long)nerr);
    for (int i = 0; i < E_KINDS; i++)
        fprintf(f, ",\"%s\":%llu", err_names[i], (unsigned long long)g.errors[i]);
    fprintf(f, "},\"status\":{");
    int first = 1;
    for (int s = 0; s < 600; s++)
        if (g.status[s]) {
            fprintf(f, "%s\"%d\":%llu", first ? "" : ",", s, (unsigned long long)g.status[s]);
            first = 0;
        }
    fprintf(f, "},\"latency_us\":");
    json_hist(f, &g.lat);
    fprintf(f, ",\"send_lag_us\":");
    json_hist(f, &g.lag);
    fprintf(f, ",\"connections\":{\"opened\":%llu,\"peak\":%d}", (unsigned long long)g.opened,
            g.peak_conns);
    if (cfg.nmix) {
        fprintf(f, ",\"mix\":{\"header\":");
        json_str(f, cfg.mix_name);
        fprintf(f, ",\"values\":[");
        for (int i = 0; i < cfg.nmix; i++) {
            struct mix_entry *m = &cfg.mix[i];
            fprintf(f, "%s{\"value\":", i ? "," : "");
            json_str(f, m->value);
            fprintf(f, ",\"weight\":%g,\"sent\":%llu,\"ok\":%llu,\"latency_us\":", m->weight,
                    (unsigned long long)m->sent, (unsigned long long)m->ok);
            json_hist(f, &m->hist);
            fputc('}', f);
        }
        fprintf(f, "]}");
    }
    fprintf(f, "}\n");
    if (f != stdout)
        fclose(f);
    else
        fflush(f);

    char errs[512] = "";
    size_t n = 0;
    for (int i = 0; i < E_KINDS; i++)
        if (g.errors[i])
            n += (size_t)snprintf(errs + n, sizeof(errs) - n, "%s%s %llu", n ? ", " : " (",
                                  err_names[i], (unsigned long long)g.errors[i]);
    if (n)
        snprintf(errs + n, sizeof(errs) - n, ")");
    char p50[32], p90[32], p99[32], p999[32], max[32];
    fmt_us(p50, sizeof(p50), hist_pct(&g.lat, 50));
    fmt_us(p90, sizeof(p90), hist_pct(&g.lat, 90));
    fmt_us(p99, sizeof(p99), hist_pct(&g.lat, 99));
    fmt_us(p999, sizeof(p999), hist_pct(&g.lat, 99.9));
    fmt_us(max, sizeof(max), g.lat.max);
    fprintf(stderr,
            "loadgen: %llu sent at %.1f/s for %.1fs, %llu ok (%.1f/s), %llu errors%s; "
            "p50 %s p90 %s p99 %s p99.9 %s max %s; %d conns peak\n",
            (unsigned long long)g.sent, cfg.rate, cfg.duration, (unsigned long long)g.ok, achieved,
            (unsigned long long)nerr, errs, p50, p90, p99, p999, max, g.peak_conns);
}

static void usage(FILE *f)
{
    fputs("usage: loadgen --url http://HOST:PORT/PATH --rate R [options]\n"
          "  --method M           request method (GET)\n"
          "  --body TEXT          request body; --body-file FILE reads it from a file\n"
          "  --header 'N: V'      add a header (repeatable)\n"
          "  --mix N:W:V[,W:V]..  add header N, value V chosen per request with weight W\n"
          "  --rate R             requests per second, Poisson arrivals (required)\n"
          "  --duration S         measured seconds (10)\n"
          "  --warmup S           seconds of load before measuring (0)\n"
          "  --seed N             PRNG seed for arrivals and --mix (1)\n"
          "  --timeout S          a request not answered S seconds after its scheduled time\n"
          "                       fails as 'timeout' (10)\n"
          "  --max-conns N        most connections open at once (4096)\n"
          "  --no-keepalive       a new connection per request (Connection: close)\n"
          "  --out FILE           write the JSON report to FILE instead of stdout\n",
          f);
}

static double parse_num(const char *opt, const char *s, double lo)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s || !(v >= lo) || !isfinite(v))
        die("%s %s: expected a number >= %g", opt, s, lo);
    return v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, 0, 'u'},     {"method", required_argument, 0, 'm'},
        {"body", required_argument, 0, 'b'},    {"body-file", required_argument, 0, 'B'},
        {"header", required_argument, 0, 'H'},  {"mix", required_argument, 0, 'x'},
        {"rate", required_argument, 0, 'r'},    {"duration", required_argument, 0, 'd'},
        {"warmup", required_argument, 0, 'w'},  {"seed", required_argument, 0, 's'},
        {"timeout", required_argument, 0, 't'}, {"max-conns", required_argument, 0, 'c'},
        {"no-keepalive", no_argument, 0, 'k'},  {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "u:m:b:B:H:x:r:d:w:s:t:c:ko:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            cfg.url = optarg;
            break;
        case 'm':
            cfg.method = optarg;
            break;
        case 'b':
            cfg.body = optarg;
            cfg.body_len = strlen(optarg);
            break;
        case 'B':
            cfg.body = read_file(optarg, &cfg.body_len);
            break;
        case 'H':
            if (cfg.nheaders == MAX_HEADERS)
                die("at most %d --header options", MAX_HEADERS);
            if (!strchr(optarg, ':'))
                die("--header %s: expected 'Name: value'", optarg);
            cfg.headers[cfg.nheaders++] = optarg;
            break;
        case 'x':
            parse_mix(optarg);
            break;
        case 'r':
            cfg.rate = parse_num("--rate", optarg, 0.001);
            break;
        case 'd':
            cfg.duration = parse_num("--duration", optarg, 0.001);
            break;
        case 'w':
            cfg.warmup = parse_num("--warmup", optarg, 0);
            break;
        case 's':
            cfg.seed = strtoull(optarg, NULL, 0);
            break;
        case 't':
            cfg.timeout = parse_num("--timeout", optarg, 0.001);
            break;
        case 'c':
            cfg.max_conns = (int)parse_num("--max-conns", optarg, 1);
            break;
        case 'k':
            cfg.keepalive = 0;
            break;
        case 'o':
            cfg.out = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !cfg.url || cfg.rate <= 0) {
        usage(stderr);
        return 2;
    }

    /* Room for --max-conns sockets. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)cfg.max_conns + 64)
        fprintf(stderr, "loadgen: warning: open-file limit %llu < --max-conns %d\n",
                (unsigned long long)rl.rlim_cur, cfg.max_conns);

    setup_request();
    rng_seed(&g.arrivals, cfg.seed);
    rng_seed(&g.mixer, cfg.seed ^ 0x6d69786d69786d69ULL);
    list_init(&g.all);
    list_init(&g.idle);

    g.loop = uv_default_loop();
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (g.tfd < 0)
        die("timerfd_create: %s", strerror(errno));
    uv_poll_init(g.loop, &g.tpoll, g.tfd);
    uv_timer_init(g.loop, &g.sweep);

    g.start_ns = uv_hrtime() + 5000000; /* first arrival 5 ms from now, plus its gap */
    g.measure_ns = g.start_ns + (uint64_t)(cfg.warmup * 1e9);
    g.end_ns = g.measure_ns + (uint64_t)(cfg.duration * 1e9);
    g.next_ns = g.start_ns + next_gap_ns();
    arm_timer(g.next_ns);
    uv_poll_start(&g.tpoll, UV_READABLE, on_tick);
    uv_timer_start(&g.sweep, on_sweep, 5, 5);

    uv_run(g.loop, UV_RUN_DEFAULT);
    close(g.tfd);
    report();
    return 0;
}
