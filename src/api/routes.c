#include "api/routes.h"

#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "base/clock.h"
#include "base/codec.h"
#include "base/log.h"
#include "http/proxy.h"
#include "metrics/metrics.h"
#include "http/server.h"

#define MAX_UPSTREAMS 16

struct upstream {
    char name[64];
    struct http_endpoint ep;
};

struct test_inst;

struct api_routes {
    uv_loop_t *loop;
    struct router *router;
    struct http_client *client;
    const struct frost_config *cfg;
    struct upstream up[MAX_UPSTREAMS];
    size_t n_up;
    struct sleeper *sleepers; /* live /_test/sleep timers, closed on free */
    struct spec_registry *reg;
    struct rt *rt;
    struct test_inst *insts;
    struct metrics *metrics;       /* GET /metrics */
    struct api_auth *metrics_auth; /* NULL = unsigned scrapes accepted */
    char metrics_token[256];       /* auth.metrics_token: a bearer token instead */
};

static void healthz(struct http_request *req, void *ud)
{
    static const char body[] = "{\"status\":\"ok\"}";
    http_respond(req, 200, "application/json", body, sizeof(body) - 1);
}

/* ---- GET /metrics: the Prometheus exposition (docs/metrics.md); signed like
 * the API when access keys are configured */

static void metrics_get(struct http_request *req, void *ud)
{
    struct api_routes *a = ud;
    struct frost_err err = {0};
    const char *authz = http_req_header(req, "authorization");
    if (a->metrics_auth && a->metrics_token[0] && authz && strncmp(authz, "Bearer", 6) == 0 &&
        (authz[6] == ' ' || authz[6] == 0)) {
        /* Prometheus: a shared token instead of a signature. */
        const char *tok = authz + 6;
        while (*tok == ' ')
            tok++;
        if (!codec_equal_ct(tok, a->metrics_token)) {
            http_respond_error(req, 401, "InvalidAccessToken",
                               "the bearer token is not auth.metrics_token");
            return;
        }
    } else if (a->metrics_auth) {
        size_t nh;
        const struct http_header *h = http_req_headers(req, &nh);
        const struct buf *body = http_req_body(req);
        const char *key_id = NULL;
        if (api_auth_verify(a->metrics_auth, "GET", http_req_path(req), http_req_query(req), h, nh,
                            body->data ? body->data : "", body->len, clock_wall_ms(), &key_id,
                            &err) < 0) {
            http_respond_error(req, err.status ? err.status : 401, err.code, "%s", err.msg);
            return;
        }
    }
    struct buf out = BUF_INIT(METRICS_MAX_BYTES);
    if (metrics_render(a->metrics, &out, &err) < 0)
        http_respond_error(req, err.status, err.code, "%s", err.msg);
    else
        http_respond(req, 200, METRICS_CONTENT_TYPE, out.data ? out.data : "", out.len);
    buf_free(&out);
}

int api_routes_add_metrics(struct api_routes *a, struct metrics *m, struct api_auth *auth,
                           struct frost_err *err)
{
    a->metrics = m;
    a->metrics_auth = auth;
    snprintf(a->metrics_token, sizeof(a->metrics_token), "%s", a->cfg->auth.metrics_token);
    return router_add(a->router, "GET", "/metrics", metrics_get, a, NULL, err);
}

/* ---- /_test/echo: buffered body, answered whole */

static void test_echo(struct http_request *req, void *ud)
{
    const struct buf *b = http_req_body(req);
    const char *ct = http_req_header(req, "content-type");
    char n[32];
    snprintf(n, sizeof(n), "%zu", b->len);
    struct http_header h[2] = {
        {"Content-Type", 12, ct ? ct : "application/octet-stream",
         strlen(ct ? ct : "application/octet-stream")},
        {"x-received-bytes", 16, n, strlen(n)},
    };
    http_respond_h(req, 200, h, 2, b->data, b->len);
}

/* ---- /_test/stream-echo: streamed body, echoed chunk by chunk */

static void se_written(struct http_request *req, int status, void *ud)
{
    http_req_resume_body(req);
}

static int se_data(struct http_request *req, const char *d, size_t n, void *ud)
{
    int rc = http_resp_write(req, d, n, se_written, NULL);
    return rc == 0 ? HTTP_BODY_PAUSE : 0;
}

static void se_end(struct http_request *req, void *ud)
{
    http_resp_end(req);
}

static void se_abort(struct http_request *req, void *ud)
{
}

static void test_stream_echo(struct http_request *req, void *ud)
{
    struct http_header h[1] = {{"Content-Type", 12, "application/octet-stream", 24}};
    http_req_on_abort(req, se_abort, NULL);
    if (http_resp_start(req, 200, h, 1, http_req_content_length(req)) < 0)
        return;
    http_req_read_body(req, se_data, se_end, NULL);
}

/* ---- /_test/sleep?ms=N: answers after N ms (a request in flight on purpose) */

struct sleeper {
    uv_timer_t timer;
    struct http_request *req;
    struct api_routes *a;
    struct sleeper *next, *prev;
};

static void sleeper_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sleeper_unlink(struct sleeper *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->a->sleepers = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_close((uv_handle_t *)&s->timer, sleeper_closed);
}

static void sleep_done(uv_timer_t *t)
{
    struct sleeper *s = t->data;
    struct http_request *req = s->req;
    http_req_on_abort(req, NULL, NULL);
    sleeper_unlink(s);
    static const char body[] = "{\"slept\":true}";
    http_respond(req, 200, "application/json", body, sizeof(body) - 1);
}

static void sleep_abort(struct http_request *req, void *ud)
{
    sleeper_unlink(ud);
}

static void test_sleep(struct http_request *req, void *ud)
{
    struct api_routes *a = ud;
    char v[32];
    long ms = 0;
    if (http_req_query_param(req, "ms", v, sizeof(v)) != 1 || (ms = atol(v)) < 0 || ms > 600000) {
        http_respond_error(req, 400, "InvalidArgument", "ms must be 0..600000");
        return;
    }
    struct sleeper *s = calloc(1, sizeof(*s));
    if (!s) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    s->req = req;
    s->a = a;
    s->next = a->sleepers;
    if (a->sleepers)
        a->sleepers->prev = s;
    a->sleepers = s;
    uv_timer_init(a->loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, sleep_done, (uint64_t)ms, 0);
    http_req_on_abort(req, sleep_abort, s);
}

/* ---- /_test/proxy/{name}/{rest...} */

static void proxy_done(struct http_request *req, const struct http_proxy_result *res, void *ud)
{
    if (res->error && res->error != UV_ECANCELED)
        log_info("test_proxy_done", "error=%s upstream_status=%d bytes_up=%llu bytes_down=%llu",
                 uv_err_name(res->error), res->upstream_status, (unsigned long long)res->bytes_up,
                 (unsigned long long)res->bytes_down);
}

static void test_proxy(struct http_request *req, void *ud)
{
    struct api_routes *a = ud;
    const char *name = http_req_param(req, "name");
    const struct upstream *u = NULL;
    for (size_t i = 0; i < a->n_up; i++) {
        if (strcmp(a->up[i].name, name) == 0)
            u = &a->up[i];
    }
    if (!u) {
        http_respond_error(req, 404, "UpstreamNotFound", "no test upstream named %s", name);
        return;
    }
    /* The upstream sees the rest of the path (still percent-encoded, as the
     * client sent it) and the query unchanged. */
    const char *rest = http_req_path(req);
    for (int slashes = 0; *rest && slashes < 4; rest++)
        slashes += *rest == '/';
    const char *q = http_req_query(req);
    char target[4096];
    int n = snprintf(target, sizeof(target), "/%s%s%s", rest, q[0] ? "?" : "", q);
    if (n < 0 || (size_t)n >= sizeof(target)) {
        http_respond_error(req, 414, "URITooLong", "target too long");
        return;
    }
    struct http_header add[1] = {{"x-frost-proxied", 15, "1", 1}};
    struct http_header add_resp[1] = {{"x-frost-upstream", 16, u->name, strlen(u->name)}};
    struct http_proxy_opts o = {
        .ep = &u->ep,
        .target = target,
        .add_req = add,
        .n_add_req = 1,
        .add_resp = add_resp,
        .n_add_resp = 1,
        .response_timeout_ms = 30000,
    };
    struct frost_err err = {0};
    if (http_proxy(req, a->client, &o, proxy_done, a, &err) < 0)
        http_respond_error(req, err.status ? err.status : 500, err.code, "%s", err.msg);
}

int api_routes_new(uv_loop_t *loop, struct router *r, struct http_client *cl,
                   const struct frost_config *cfg, struct api_routes **out, struct frost_err *err)
{
    struct api_routes *a = calloc(1, sizeof(*a));
    if (!a)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    a->loop = loop;
    a->router = r;
    a->client = cl;
    a->cfg = cfg;
    if (router_add(r, "GET", "/healthz", healthz, a, NULL, err) < 0 ||
        router_add(r, "HEAD", "/healthz", healthz, a, NULL, err) < 0) {
        free(a);
        return -1;
    }
    *out = a;
    return 0;
}

int api_routes_add_test(struct api_routes *a, const char *ups, size_t len, struct frost_err *err)
{
    size_t off = 0;
    while (off < len) {
        const char *s = ups + off;
        off += strlen(s) + 1;
        const char *eq = strchr(s, '=');
        if (a->n_up == MAX_UPSTREAMS)
            return frost_err_set(err, 400, "InvalidArgument", "at most %d test upstreams",
                                 MAX_UPSTREAMS);
        struct upstream *u = &a->up[a->n_up];
        size_t nlen = (size_t)(eq - s);
        if (nlen == 0 || nlen >= sizeof(u->name))
            return frost_err_set(err, 400, "InvalidArgument", "bad upstream name in %s", s);
        memcpy(u->name, s, nlen);
        u->name[nlen] = 0;
        if (http_endpoint_parse(eq + 1, &u->ep, err) < 0)
            return frost_err_prefix(err, "--test-upstream %s", s);
        a->n_up++;
    }
    struct http_route_opts echo = {.max_body = 1024 * 1024};
    struct http_route_opts stream = {.max_body = 64ull * 1024 * 1024, .stream_body = true};
    struct http_route_opts proxy = {.max_body = 256ull * 1024 * 1024, .stream_body = true};
    if (router_add(a->router, "POST", "/_test/echo", test_echo, a, &echo, err) < 0 ||
        router_add(a->router, "PUT", "/_test/echo", test_echo, a, &echo, err) < 0 ||
        router_add(a->router, "POST", "/_test/stream-echo", test_stream_echo, a, &stream, err) <
            0 ||
        router_add(a->router, "GET", "/_test/sleep", test_sleep, a, NULL, err) < 0 ||
        router_add(a->router, "*", "/_test/proxy/{name}/{rest...}", test_proxy, a, &proxy, err) < 0)
        return -1;
    return 0;
}

/* ---- /_test/…/instances: drive the runtime directly */

struct test_inst {
    struct test_inst *next;
    struct api_routes *a;
    struct rt_instance *inst;
    struct http_request *start_req; /* waiting for ready/failed */
    struct http_request *stop_req;  /* waiting for stopped */
    struct http_request *freeze_req;
};

static void ti_abort(struct http_request *req, void *ud)
{
    struct test_inst *t = ud;
    if (t->start_req == req)
        t->start_req = NULL;
    if (t->stop_req == req)
        t->stop_req = NULL;
    if (t->freeze_req == req)
        t->freeze_req = NULL;
}

static void ti_answer(struct http_request **slot, int status, json_t *j)
{
    struct http_request *req = *slot;
    *slot = NULL;
    if (!req) {
        json_decref(j);
        return;
    }
    http_req_on_abort(req, NULL, NULL);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    http_respond(req, status, "application/json", s ? s : "{}", s ? strlen(s) : 2);
    free(s);
}

static void ti_event(struct rt_instance *inst, enum rt_event ev, void *ud)
{
    struct test_inst *t = ud;
    if (ev == RT_EV_READY) {
        ti_answer(&t->start_req, 200, rt_instance_json(inst));
    } else if (ev == RT_EV_FAILED) {
        ti_answer(&t->start_req, 500, rt_instance_json(inst));
    } else if (ev == RT_EV_STOPPED) {
        json_t *j = rt_instance_json(inst);
        json_object_set_new(j, "state", json_string("stopped"));
        json_object_set_new(j, "status", json_string("Stopped"));
        ti_answer(&t->start_req, 500, json_incref(j));
        ti_answer(&t->freeze_req, 409, json_incref(j));
        ti_answer(&t->stop_req, 200, j);
        struct test_inst **pp = &t->a->insts;
        while (*pp && *pp != t)
            pp = &(*pp)->next;
        if (*pp)
            *pp = t->next;
        free(t);
    }
}

static void test_inst_start(struct http_request *req, void *ud)
{
    struct api_routes *a = ud;
    const char *name = http_req_param(req, "fn");
    struct spec_fn *f = spec_registry_get(a->reg, name);
    if (!f || !f->doc) {
        http_respond_error(req, 404, "FunctionNotFound", "function %s does not exist", name);
        return;
    }
    char code[PATH_MAX] = "";
    const char *sum = json_string_value(json_object_get(f->doc, "codeChecksum"));
    if (sum)
        snprintf(code, sizeof(code), "%s/code/%s", a->cfg->data_dir, sum);
    struct test_inst *t = calloc(1, sizeof(*t));
    if (!t) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    t->a = a;
    t->start_req = req;
    struct rt_start_opts o = {
        .function_name = f->name,
        .fn = f->doc,
        .code_dir = code[0] ? code : NULL,
        .kind = "on-demand",
    };
    struct frost_err err = {0};
    if (rt_start(a->rt, &o, ti_event, t, &t->inst, &err) < 0) {
        free(t);
        http_respond_error(req, err.status ? err.status : 500, err.code, "%s", err.msg);
        return;
    }
    t->next = a->insts;
    a->insts = t;
    http_req_on_abort(req, ti_abort, t);
}

static struct test_inst *ti_find(struct api_routes *a, struct http_request *req)
{
    const char *id = http_req_param(req, "id");
    for (struct test_inst *t = a->insts; t; t = t->next) {
        if (strcmp(rt_instance_id(t->inst), id) == 0)
            return t;
    }
    http_respond_error(req, 404, "InstanceNotFound", "no instance %s", id);
    return NULL;
}

static void test_inst_stop(struct http_request *req, void *ud)
{
    struct test_inst *t = ti_find(ud, req);
    if (!t)
        return;
    if (t->stop_req) {
        http_respond_error(req, 409, "Conflict", "a stop of this instance is already waited for");
        return;
    }
    t->stop_req = req;
    http_req_on_abort(req, ti_abort, t);
    rt_stop(t->inst);
}

static void ti_frozen(struct rt_instance *inst, int status, void *ud)
{
    struct test_inst *t = ud;
    json_t *j = rt_instance_json(inst);
    json_object_set_new(j, "result", json_integer(status));
    ti_answer(&t->freeze_req, status == 0 ? 200 : 409, j);
}

static void test_inst_freeze(struct http_request *req, void *ud)
{
    struct test_inst *t = ti_find(ud, req);
    if (!t)
        return;
    if (t->freeze_req) {
        http_respond_error(req, 409, "Conflict", "a freeze or thaw is in progress");
        return;
    }
    const char *what = http_req_param(req, "op");
    bool freeze = strcmp(what, "freeze") == 0;
    if (!freeze && strcmp(what, "thaw") != 0) {
        http_respond_error(req, 404, "NotFound", "use freeze or thaw");
        return;
    }
    t->freeze_req = req;
    http_req_on_abort(req, ti_abort, t);
    if (freeze)
        rt_freeze(t->inst, ti_frozen, t);
    else
        rt_thaw(t->inst, ti_frozen, t);
}

int api_routes_add_instance_test(struct api_routes *a, struct spec_registry *reg, struct rt *rt,
                                 struct frost_err *err)
{
    a->reg = reg;
    a->rt = rt;
    if (router_add(a->router, "POST", "/_test/functions/{fn}/instances", test_inst_start, a, NULL,
                   err) < 0 ||
        router_add(a->router, "DELETE", "/_test/instances/{id}", test_inst_stop, a, NULL, err) <
            0 ||
        router_add(a->router, "POST", "/_test/instances/{id}/{op}", test_inst_freeze, a, NULL,
                   err) < 0)
        return -1;
    return 0;
}

void api_routes_free(struct api_routes *a)
{
    if (!a)
        return;
    while (a->sleepers)
        sleeper_unlink(a->sleepers);
    /* Instances are gone by now (the runtime stopped them); what is left are
     * records whose STOPPED event will not come. */
    while (a->insts) {
        struct test_inst *t = a->insts;
        a->insts = t->next;
        free(t);
    }
    free(a);
}
