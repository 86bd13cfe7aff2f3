/* InvokeFunction and HTTP triggers: checks at the door, then the scheduler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/fc_internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "sched/sched.h"

/* FC's limit for a synchronous invocation payload. */
#define SYNC_PAYLOAD_MAX (32u * 1024 * 1024)

/* A request whose whole body must be read before it can go on: a signed one
 * (the signature covers the body's hash). */
struct gather {
    struct api_fc *a;
    struct http_request *req;
    struct buf body;
    char fn[128];
    struct sched_call call;
    char target[4096];
    bool check_signature;
};

static void gather_free(struct gather *g)
{
    buf_free(&g->body);
    free(g);
}

static int verify(struct api_fc *a, struct http_request *req, const char *body, size_t len)
{
    if (!a->auth)
        return 0;
    struct frost_err err = {0};
    size_t nh;
    const struct http_header *h = http_req_headers(req, &nh);
    if (api_auth_verify(a->auth, http_req_method(req), http_req_raw_path(req), http_req_query(req),
                        h, nh, body ? body : "", len, clock_wall_ms(), NULL, &err) < 0) {
        fc_error(req, &err);
        return -1;
    }
    return 0;
}

static int g_data(struct http_request *req, const char *d, size_t n, void *ud)
{
    struct gather *g = ud;
    if (buf_append(&g->body, d, n) < 0) {
        /* the route's cap is the payload limit, so only memory can fail here */
        http_req_abort_connection(req);
    }
    return 0;
}

static void g_abort(struct http_request *req, void *ud)
{
    gather_free(ud);
}

static void g_end(struct http_request *req, void *ud)
{
    struct gather *g = ud;
    http_req_on_abort(req, NULL, NULL);
    if (g->check_signature && verify(g->a, req, g->body.data, g->body.len) < 0) {
        gather_free(g);
        return;
    }
    g->call.body = g->body.data ? g->body.data : "";
    g->call.body_len = g->body.len;
    if (g->call.target)
        g->call.target = g->target;
    sched_dispatch(g->a->sched, g->fn, req, &g->call); /* copies the body */
    gather_free(g);
}

/* Reads the body first when it must be checked, else streams it through. */
static void go(struct api_fc *a, struct http_request *req, const char *fn, struct sched_call *c,
               bool check_signature)
{
    if (!check_signature) {
        sched_dispatch(a->sched, fn, req, c);
        return;
    }
    struct gather *g = calloc(1, sizeof(*g));
    if (!g) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    g->a = a;
    g->req = req;
    g->check_signature = true;
    g->call = *c;
    snprintf(g->fn, sizeof(g->fn), "%s", fn);
    if (c->target)
        snprintf(g->target, sizeof(g->target), "%s", c->target);
    buf_init(&g->body, SYNC_PAYLOAD_MAX);
    http_req_on_abort(req, g_abort, g);
    http_req_read_body(req, g_data, g_end, g);
}

static void invoke(struct http_request *req, void *ud)
{
    struct api_fc *a = ud;
    if (fc_qualifier_ok(req) < 0)
        return;
    const char *fn = http_req_param(req, "fn");
    struct spec_fn *f = spec_registry_get(a->reg, fn);
    if (!f || !f->doc) {
        http_respond_error(req, 404, "FunctionNotFound", "function %s does not exist", fn);
        return;
    }
    const char *type = http_req_header(req, "x-fc-invocation-type");
    if (type && strcasecmp(type, "Sync") != 0) {
        if (strcasecmp(type, "Async") == 0)
            fc_async_invoke(a, req, f);
        else
            http_respond_error(req, 400, "InvalidArgument",
                               "x-fc-invocation-type: must be Sync or Async, got %s", type);
        return;
    }
    const char *log_type = http_req_header(req, "x-fc-log-type");
    if (log_type && strcasecmp(log_type, "None") != 0 && strcasecmp(log_type, "Tail") != 0) {
        http_respond_error(req, 400, "InvalidArgument",
                           "x-fc-log-type: must be None or Tail, got %s", log_type);
        return;
    }
    struct sched_call c = {
        .kind = SCHED_INVOKE,
        .log_tail = log_type && strcasecmp(log_type, "Tail") == 0,
    };
    go(a, req, f->name, &c, a->auth != NULL);
}

/* /fn/{fn}/{path...}: the function's http trigger. */
static void trigger(struct http_request *req, void *ud)
{
    struct api_fc *a = ud;
    const char *fn = http_req_param(req, "fn");
    struct spec_fn *f = spec_registry_get(a->reg, fn);
    if (!f || !f->doc) {
        http_respond_error(req, 404, "FunctionNotFound", "function %s does not exist", fn);
        return;
    }
    struct spec_trigger *t;
    for (t = f->triggers; t; t = t->next) {
        if (t->http_state == 0) {
            const char *type = json_string_value(json_object_get(t->doc, "triggerType"));
            struct frost_err err;
            t->http_state = type && strcmp(type, "http") == 0 &&
                                    spec_http_trigger_parse(t->doc, &t->http, &err) == 0
                                ? 1
                                : -1;
        }
        if (t->http_state == 1)
            break;
    }
    if (!t) {
        http_respond_error(req, 404, "TriggerNotFound", "function %s has no http trigger", fn);
        return;
    }
    const struct spec_http_trigger ht = t->http;
    const char *method = http_req_method(req);
    unsigned bit = spec_http_method_bit(method, strlen(method));
    if (!(ht.methods & bit)) {
        http_respond_error(req, 405, "MethodNotAllowed",
                           "the http trigger %s of function %s does not accept %s", t->name, fn,
                           method);
        return;
    }
    /* The instance sees the path after /fn/NAME (or the whole path when the
     * request came by the trigger domain), and the query, unchanged. */
    const char *path = http_req_raw_path(req);
    if (!http_req_via_trigger_host(req)) {
        path += 4; /* "/fn/" */
        path += strcspn(path, "/");
    }
    const char *q = http_req_query(req);
    char target[4096];
    int n =
        snprintf(target, sizeof(target), "%s%s%s%s", path[0] ? "" : "/", path, q[0] ? "?" : "", q);
    if (n < 0 || (size_t)n >= sizeof(target)) {
        http_respond_error(req, 414, "InvalidArgument", "request target too long");
        return;
    }
    if (ht.auth == SPEC_HTTP_AUTH_FUNCTION && !a->auth) {
        /* No keys: nothing to check against; the server only listens locally. */
    }
    struct sched_call c = {.kind = SCHED_TRIGGER, .target = target};
    go(a, req, f->name, &c, ht.auth == SPEC_HTTP_AUTH_FUNCTION && a->auth);
}

int fc_invoke_routes(struct api_fc *a, struct router *r, struct frost_err *err)
{
    struct http_route_opts sync = {.max_body = SYNC_PAYLOAD_MAX, .stream_body = true};
    if (router_add(r, "POST", FC_PREFIX "/functions/{fn}/invocations", invoke, a, &sync, err) < 0 ||
        router_add(r, "*", "/fn/{fn}/{path...}", trigger, a, &sync, err) < 0 ||
        router_add(r, "*", "/fn/{fn}", trigger, a, &sync, err) < 0)
        return -1;
    return 0;
}
