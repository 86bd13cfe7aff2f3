/* Provision, async-invoke and concurrency configs: put, get, delete, list.
 * They are validated, stored durably and returned in FC's shapes; the
 * scheduler acts on them once they are durable (fc.c apply). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/fc_internal.h"
#include "scale/scale.h"
#include "sched/sched.h"

enum ckind { C_PROVISION, C_ASYNC, C_CONCURRENCY };

struct ckind_def {
    const char *collection;
    const char *list_field; /* member holding the array in List answers */
    const char *not_found;  /* FC-style code when a function has none */
    const char *what;       /* for messages */
    int (*validate)(const json_t *in, json_t **out, struct frost_err *err);
};

static const struct ckind_def kinds[] = {
    [C_PROVISION] = {STORE_PROVISION, "provisionConfigs", "ProvisionConfigNotFound",
                     "provision config", spec_provision_config},
    [C_ASYNC] = {STORE_ASYNC_CONFIG, "configs", "AsyncConfigNotFound", "async invoke config",
                 spec_async_config},
    [C_CONCURRENCY] = {STORE_CONCURRENCY, "configs", "ConcurrencyConfigNotFound",
                       "concurrency config", spec_concurrency_config},
};

static json_t **slot_of(struct spec_fn *f, enum ckind k)
{
    switch (k) {
    case C_PROVISION:
        return &f->provision;
    case C_ASYNC:
        return &f->async_config;
    default:
        return &f->concurrency;
    }
}

/* The stored config as Get/Put/List answer it: plus functionArn and, for
 * provision configs, the target in force and the current state. */
static json_t *present(struct api_fc *a, struct spec_fn *f, enum ckind k, const json_t *stored)
{
    json_t *out = json_deep_copy(stored);
    if (!out)
        return NULL;
    char arn[512];
    fc_arn(a, f->name, arn, sizeof(arn));
    json_object_set_new(out, "functionArn", json_string(arn));
    if (k == C_PROVISION) {
        /* target: what is kept ready now (defaultTarget, or what a scheduled
         * action or tracking policy set); current: provisioned instances
         * ready, frozen ones included. */
        struct sched_provision_status st;
        sched_provision_status(a->sched, f->name, &st);
        if (f->provision != stored) {
            /* An answer to a put, before the scheduler has it. */
            json_t *t = json_object_get(out, "defaultTarget");
            st.target = t ? (int)json_integer_value(t) : 0;
            snprintf(st.source, sizeof(st.source), "defaultTarget");
            st.error[0] = st.reason[0] = 0;
        }
        json_object_set_new(out, "target", json_integer(st.target));
        json_object_set_new(out, "current", json_integer(st.current));
        json_object_set_new(out, "currentError", json_string(st.error));
        json_object_set_new(out, "targetSource", json_string(st.source));
        json_object_set_new(out, "starting", json_integer(st.starting));
        json_object_set_new(out, "frozen", json_integer(st.frozen));
        if (st.reason[0])
            json_object_set_new(out, "scalingReason", json_string(st.reason));
    }
    return out;
}

static void put_config(struct api_fc *a, struct http_request *req, enum ckind k)
{
    if (fc_qualifier_ok(req) < 0)
        return;
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    json_t *in = fc_body_object(req);
    if (!in)
        return;
    struct frost_err err = {0};
    json_t *cfg = NULL;
    int rc = kinds[k].validate(in, &cfg, &err);
    json_decref(in);
    if (rc == 0 && k == C_PROVISION) {
        /* Time zones exist on this host? Refused now, not at their hour. */
        struct scale *sc = NULL;
        rc = scale_new(cfg, &(struct scale_opts){0}, &sc, &err);
        scale_free(sc);
        if (rc < 0)
            json_decref(cfg);
    }
    if (rc < 0) {
        fc_error(req, &err);
        return;
    }
    if (k == C_ASYNC) {
        char now[32];
        fc_now(now, sizeof(now));
        json_t *old = f->async_config;
        json_t *created = old ? json_object_get(old, "createdTime") : NULL;
        json_object_set_new(cfg, "createdTime", created ? json_incref(created) : json_string(now));
        json_object_set_new(cfg, "lastModifiedTime", json_string(now));
    }
    struct store_batch *b;
    struct fc_write *w = fc_write_doc(a, req, kinds[k].collection, f->name, cfg, &b);
    if (!w) {
        json_decref(cfg);
        return;
    }
    w->fn = f;
    w->slot = slot_of(f, k);
    w->value = cfg;
    w->answer = present(a, f, k, cfg);
    fc_write_submit(w, b);
}

static void get_config(struct api_fc *a, struct http_request *req, enum ckind k)
{
    if (fc_qualifier_ok(req) < 0)
        return;
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    if (!*slot_of(f, k)) {
        http_respond_error(req, 404, kinds[k].not_found, "function %s has no %s", f->name,
                           kinds[k].what);
        return;
    }
    fc_json(req, 200, present(a, f, k, *slot_of(f, k)));
}

static void delete_config(struct api_fc *a, struct http_request *req, enum ckind k)
{
    if (fc_qualifier_ok(req) < 0)
        return;
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    if (!*slot_of(f, k)) {
        http_respond_error(req, 404, kinds[k].not_found, "function %s has no %s", f->name,
                           kinds[k].what);
        return;
    }
    struct store_batch *b;
    struct fc_write *w = fc_write_doc(a, req, kinds[k].collection, f->name, NULL, &b);
    if (!w)
        return;
    w->fn = f;
    w->slot = slot_of(f, k);
    fc_write_submit(w, b);
}

static void list_configs(struct api_fc *a, struct http_request *req, enum ckind k)
{
    size_t limit;
    char token[256], name[256];
    if (fc_paging(req, 20, &limit, token, sizeof(token)) < 0 ||
        fc_query_text(req, "functionName", name, sizeof(name)) < 0)
        return;
    int has_name = name[0] != 0;
    json_t *arr = json_array();
    char last[256] = "";
    int more = 0;
    if (has_name) {
        struct spec_fn *f = spec_registry_get(a->reg, name);
        if (f && f->doc && *slot_of(f, k) && strcmp(name, token) > 0)
            json_array_append_new(arr, present(a, f, k, *slot_of(f, k)));
    } else {
        /* Walk functions in name order, keeping those that have this config. */
        struct spec_fn *items[64];
        const char *after = token;
        size_t got = 0;
        int walk_more = 1;
        while (walk_more && got <= limit) {
            size_t n = spec_registry_list(a->reg, NULL, after, 64, items, &walk_more);
            for (size_t i = 0; i < n; i++) {
                struct spec_fn *f = items[i];
                if (!f->doc || !*slot_of(f, k))
                    continue;
                if (got == limit) {
                    more = 1;
                    walk_more = 0;
                    break;
                }
                json_array_append_new(arr, present(a, f, k, *slot_of(f, k)));
                snprintf(last, sizeof(last), "%s", f->name);
                got++;
            }
            if (n == 0)
                break;
            after = items[n - 1]->name;
        }
    }
    json_t *out = json_object();
    json_object_set_new(out, kinds[k].list_field, arr);
    if (more)
        json_object_set_new(out, "nextToken", json_string(last));
    fc_json(req, 200, out);
}

#define CONFIG_HANDLERS(tag, kind)                                                                 \
    static void put_##tag(struct api_fc *a, struct http_request *req)                              \
    {                                                                                              \
        put_config(a, req, kind);                                                                  \
    }                                                                                              \
    static void get_##tag(struct api_fc *a, struct http_request *req)                              \
    {                                                                                              \
        get_config(a, req, kind);                                                                  \
    }                                                                                              \
    static void delete_##tag(struct api_fc *a, struct http_request *req)                           \
    {                                                                                              \
        delete_config(a, req, kind);                                                               \
    }                                                                                              \
    static void list_##tag(struct api_fc *a, struct http_request *req)                             \
    {                                                                                              \
        list_configs(a, req, kind);                                                                \
    }

CONFIG_HANDLERS(provision, C_PROVISION)
CONFIG_HANDLERS(async, C_ASYNC)
CONFIG_HANDLERS(concurrency, C_CONCURRENCY)

const struct fc_route_def fc_config_routes[] = {
    {"PUT", "/functions/{fn}/provision-config", put_provision, 0},
    {"GET", "/functions/{fn}/provision-config", get_provision, 0},
    {"DELETE", "/functions/{fn}/provision-config", delete_provision, 0},
    {"GET", "/provision-configs", list_provision, 0},
    {"PUT", "/functions/{fn}/async-invoke-config", put_async, 0},
    {"GET", "/functions/{fn}/async-invoke-config", get_async, 0},
    {"DELETE", "/functions/{fn}/async-invoke-config", delete_async, 0},
    {"GET", "/async-invoke-configs", list_async, 0},
    {"PUT", "/functions/{fn}/concurrency", put_concurrency, 0},
    {"GET", "/functions/{fn}/concurrency", get_concurrency, 0},
    {"DELETE", "/functions/{fn}/concurrency", delete_concurrency, 0},
    {"GET", "/concurrency-configs", list_concurrency, 0},
    {NULL, NULL, NULL, 0},
};
