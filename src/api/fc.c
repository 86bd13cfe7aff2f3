#include "api/fc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"

struct fc_route {
    struct fc_route *next;
    struct api_fc *a;
    fc_handler fn;
};

/* ------------------------------------------------------------------ answers */

char *fc_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
}

void fc_json(struct http_request *req, int status, json_t *body)
{
    char *s = body ? fc_dump(body) : NULL;
    json_decref(body);
    if (!s) {
        http_respond_error(req, 500, "InternalError", "cannot encode the answer");
        return;
    }
    http_respond(req, status, "application/json", s, strlen(s));
    free(s);
}

void fc_error(struct http_request *req, const struct frost_err *err)
{
    http_respond_error(req, err->status ? err->status : 500,
                       err->code[0] ? err->code : "InternalError", "%s", err->msg);
}

void fc_no_content(struct http_request *req)
{
    http_respond(req, 204, NULL, NULL, 0);
}

/* ------------------------------------------------------------- request bits */

json_t *fc_body_object(struct http_request *req)
{
    const struct buf *b = http_req_body(req);
    if (b->len == 0) {
        http_respond_error(req, 400, "InvalidArgument", "the request body must be a JSON object");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        http_respond_error(req, 400, "InvalidArgument",
                           "request body is not valid JSON: %s (line %d)", je.text, je.line);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_respond_error(req, 400, "InvalidArgument", "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

int fc_qualifier_ok(struct http_request *req)
{
    char q[128];
    int r = http_req_query_param(req, "qualifier", q, sizeof(q));
    if (r < 0) {
        http_respond_error(req, 400, "InvalidArgument", "qualifier: malformed");
        return -1;
    }
    if (r == 1 && strcmp(q, "LATEST") != 0 && q[0]) {
        http_respond_error(req, 400, "InvalidArgument",
                           "qualifier %s: only LATEST is supported (Frost has no versions or "
                           "aliases yet)",
                           q);
        return -1;
    }
    return 0;
}

int fc_query_text(struct http_request *req, const char *name, char *out, size_t len)
{
    out[0] = 0;
    if (http_req_query_param(req, name, out, len) < 0) {
        out[0] = 0;
        http_respond_error(req, 400, "InvalidArgument",
                           "%s: malformed percent-encoding or longer than %zu bytes", name,
                           len - 1);
        return -1;
    }
    return 0;
}

int fc_paging(struct http_request *req, size_t dflt, size_t *limit, char *token, size_t token_len)
{
    char v[32];
    int r = http_req_query_param(req, "limit", v, sizeof(v));
    *limit = dflt;
    if (r < 0) {
        http_respond_error(req, 400, "InvalidArgument", "limit: must be an integer from 1 to 100");
        return -1;
    }
    if (r == 1) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || end == v || v[0] < '0' || v[0] > '9' || n < 1 || n > 100) {
            http_respond_error(req, 400, "InvalidArgument",
                               "limit: must be an integer from 1 to 100, got \"%s\"", v);
            return -1;
        }
        *limit = (size_t)n;
    }
    return fc_query_text(req, "nextToken", token, token_len);
}

struct spec_fn *fc_function(struct api_fc *a, struct http_request *req)
{
    const char *name = http_req_param(req, "fn");
    struct spec_fn *f = name ? spec_registry_get(a->reg, name) : NULL;
    if (!f || !f->doc) {
        http_respond_error(req, 404, "FunctionNotFound", "function %s does not exist",
                           name ? name : "");
        return NULL;
    }
    return f;
}

/* ---------------------------------------------------------------- formatting */

void fc_arn(struct api_fc *a, const char *fn, char *out, size_t len)
{
    snprintf(out, len, "acs:fc:%s:%s:functions/%s", a->cfg->region, a->cfg->account_id, fn);
}

void fc_now(char *out, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* -------------------------------------------------------------------- writes */

static void write_abort(struct http_request *req, void *ud)
{
    struct fc_write *w = ud;
    w->req = NULL;
}

struct fc_write *fc_write_new(struct api_fc *a, struct http_request *req)
{
    struct fc_write *w = calloc(1, sizeof(*w));
    if (!w) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return NULL;
    }
    w->a = a;
    w->req = req;
    w->done = fc_write_answer;
    w->answer_status = 200;
    http_req_on_abort(req, write_abort, w);
    return w;
}

void fc_write_answer(struct fc_write *w, int status, const char *msg)
{
    if (!w->req)
        return;
    if (status < 0) {
        http_respond_error(w->req, 500, "StoreError", "the change was not saved: %s", msg);
        return;
    }
    if (w->answer) {
        fc_json(w->req, w->answer_status, json_incref(w->answer));
    } else {
        fc_no_content(w->req);
    }
}

/* Readers see a change once it is durable, never before. */
static void apply(struct fc_write *w)
{
    struct spec_fn *f = w->fn;
    if (!f)
        return;
    if (w->slot) {
        spec_fn_set(f, w->slot, json_incref(w->value));
        if (w->slot == &f->provision && w->a->sched)
            sched_provision_changed(w->a->sched, f->name);
    } else if (w->trigger[0]) {
        if (!w->value)
            (void)spec_fn_trigger_del(f, w->trigger);
        else if (spec_fn_trigger_put(f, w->trigger, json_incref(w->value)) < 0)
            log_error("registry_oom", "trigger=%s", w->trigger);
    }
}

static void write_done(void *ud, int status, const char *msg)
{
    struct fc_write *w = ud;
    w->a->pending--;
    if (status < 0)
        log_error("store_write_failed", "key=%s error=\"%s\"", w->key, msg ? msg : "?");
    else if (w->done == fc_write_answer)
        apply(w);
    if (w->fn && w->done == fc_write_answer)
        w->fn->busy--;
    if (w->req)
        http_req_on_abort(w->req, NULL, NULL);
    w->done(w, status, msg ? msg : "");
    json_decref(w->answer);
    json_decref(w->value);
    free(w);
}

struct fc_write *fc_write_doc(struct api_fc *a, struct http_request *req, const char *collection,
                              const char *key, const json_t *doc, struct store_batch **out)
{
    char *text = doc ? fc_dump(doc) : NULL;
    struct store_batch *b = store_batch_new();
    int rc = !b || (doc && !text) ? -1
             : doc                ? store_batch_put(b, collection, key, text)
                                  : store_batch_del(b, collection, key);
    free(text);
    struct fc_write *w = rc == 0 ? fc_write_new(a, req) : NULL;
    if (!w) {
        store_batch_free(b);
        if (rc < 0)
            http_respond_error(req, 500, "InternalError", "out of memory");
        return NULL;
    }
    snprintf(w->key, sizeof(w->key), "%s/%s", collection, key);
    *out = b;
    return w;
}

void fc_write_submit(struct fc_write *w, struct store_batch *b)
{
    w->a->pending++;
    if (w->fn && w->done == fc_write_answer)
        w->fn->busy++; /* no delete while a change of it is in flight */
    if (store_submit(w->a->store, b, write_done, w) < 0)
        write_done(w, -1, "the store is closing");
}

/* ------------------------------------------------------------------ routing */

static void dispatch(struct http_request *req, void *ud)
{
    struct fc_route *rt = ud;
    struct api_fc *a = rt->a;
    if (a->auth) {
        struct frost_err err = {0};
        const char *target = http_req_target(req);
        const char *q = strchr(target, '?');
        char path[4096];
        size_t plen = q ? (size_t)(q - target) : strlen(target);
        if (plen >= sizeof(path)) {
            http_respond_error(req, 414, "InvalidArgument", "request path too long");
            return;
        }
        memcpy(path, target, plen);
        path[plen] = 0;
        size_t nh;
        const struct http_header *h = http_req_headers(req, &nh);
        const struct buf *body = http_req_body(req);
        const char *key_id = NULL;
        if (api_auth_verify(a->auth, http_req_method(req), path, q ? q + 1 : "", h, nh,
                            body->data ? body->data : "", body->len, clock_wall_ms(), &key_id,
                            &err) < 0) {
            fc_error(req, &err);
            return;
        }
    }
    rt->fn(a, req);
}

static int add_routes(struct api_fc *a, struct router *r, const struct fc_route_def *defs,
                      struct frost_err *err)
{
    for (const struct fc_route_def *d = defs; d->method; d++) {
        struct fc_route *rt = calloc(1, sizeof(*rt));
        if (!rt)
            return frost_err_set(err, 500, "InternalError", "out of memory");
        rt->a = a;
        rt->fn = d->fn;
        rt->next = a->routes;
        a->routes = rt;
        struct http_route_opts o = {.max_body = d->max_body ? d->max_body : 16u * 1024 * 1024};
        char pattern[256];
        snprintf(pattern, sizeof(pattern), FC_PREFIX "%s", d->pattern);
        if (router_add(r, d->method, pattern, dispatch, rt, &o, err) < 0)
            return -1;
    }
    return 0;
}

int api_fc_new(const struct api_fc_opts *o, struct router *r, struct api_fc **out,
               struct frost_err *err)
{
    struct api_fc *a = calloc(1, sizeof(*a));
    if (!a)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    a->loop = o->loop;
    a->cfg = o->cfg;
    a->store = o->store;
    a->reg = o->reg;
    a->auth = o->auth;
    a->rt = o->rt;
    a->sched = o->sched;
    a->meter = o->meter;
    a->async = o->async;
    snprintf(a->public_address, sizeof(a->public_address), "%s",
             o->public_address ? o->public_address : o->cfg->listen);
    snprintf(a->code_dir, sizeof(a->code_dir), "%s/code", o->cfg->data_dir);
    if (fc_load(a, err) < 0 || add_routes(a, r, fc_function_routes, err) < 0 ||
        add_routes(a, r, fc_config_routes, err) < 0 ||
        add_routes(a, r, fc_trigger_routes, err) < 0 ||
        add_routes(a, r, fc_instance_routes, err) < 0 ||
        (a->meter && add_routes(a, r, fc_bill_routes, err) < 0) ||
        add_routes(a, r, fc_task_routes, err) < 0 ||
        (a->sched && fc_invoke_routes(a, r, err) < 0)) {
        api_fc_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void api_fc_set_public_address(struct api_fc *a, const char *addr)
{
    snprintf(a->public_address, sizeof(a->public_address), "%s", addr);
}

void api_fc_free(struct api_fc *a)
{
    if (!a)
        return;
    while (a->routes) {
        struct fc_route *rt = a->routes;
        a->routes = rt->next;
        free(rt);
    }
    free(a);
}

/* ------------------------------------------------------------------- loading */

struct load_ctx {
    struct api_fc *a;
    const char *collection;
    size_t n;
};

static int load_one(void *ud, const char *key, const char *json)
{
    struct load_ctx *l = ud;
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    if (!j) {
        log_error("store_bad_document", "collection=%s key=%s error=\"%s\"", l->collection, key,
                  je.text);
        return 0; /* one unreadable document must not keep the server down */
    }
    struct spec_registry *reg = l->a->reg;
    if (strcmp(l->collection, STORE_FUNCTIONS) == 0) {
        if (!spec_registry_add(reg, key, j))
            log_error("store_duplicate_function", "key=%s", key);
        l->n++;
        return 0;
    }
    char fn[300];
    snprintf(fn, sizeof(fn), "%s", key);
    char *slash = strchr(fn, '/');
    if (slash)
        *slash = 0;
    struct spec_fn *f = spec_registry_get(reg, fn);
    if (!f) {
        log_warn("store_orphan_document", "collection=%s key=%s", l->collection, key);
        json_decref(j);
        return 0;
    }
    if (strcmp(l->collection, STORE_TRIGGERS) == 0) {
        if (!slash || spec_fn_trigger_put(f, slash + 1, j) < 0)
            log_error("store_bad_trigger", "key=%s", key);
    } else if (strcmp(l->collection, STORE_PROVISION) == 0) {
        spec_fn_set(f, &f->provision, j);
    } else if (strcmp(l->collection, STORE_ASYNC_CONFIG) == 0) {
        spec_fn_set(f, &f->async_config, j);
    } else {
        spec_fn_set(f, &f->concurrency, j);
    }
    l->n++;
    return 0;
}

int fc_load(struct api_fc *a, struct frost_err *err)
{
    static const char *const collections[] = {STORE_FUNCTIONS, STORE_PROVISION, STORE_ASYNC_CONFIG,
                                              STORE_CONCURRENCY, STORE_TRIGGERS};
    size_t counts[5] = {0};
    for (size_t i = 0; i < 5; i++) {
        struct load_ctx l = {a, collections[i], 0};
        if (store_load(a->store, collections[i], load_one, &l, err) < 0)
            return frost_err_prefix(err, "loading %s", collections[i]);
        counts[i] = l.n;
    }
    log_info("store_loaded",
             "functions=%zu provision_configs=%zu async_invoke_configs=%zu "
             "concurrency_configs=%zu triggers=%zu",
             counts[0], counts[1], counts[2], counts[3], counts[4]);
    return 0;
}
