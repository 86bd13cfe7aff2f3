/* CreateTrigger, GetTrigger, UpdateTrigger, DeleteTrigger, ListTriggers.
 * Stored under the key "function/trigger". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/fc_internal.h"

static json_t *present(struct api_fc *a, struct spec_fn *f, const json_t *stored)
{
    json_t *out = json_deep_copy(stored);
    if (!out)
        return NULL;
    const char *type = json_string_value(json_object_get(out, "triggerType"));
    if (type && strcmp(type, "http") == 0) {
        char url[512];
        snprintf(url, sizeof(url), "http://%s/fn/%s", a->public_address, f->name);
        json_t *h = json_object();
        json_object_set_new(h, "urlInternet", json_string(url));
        json_object_set_new(h, "urlIntranet", json_string(url));
        json_object_set_new(out, "httpTrigger", h);
    }
    return out;
}

static struct spec_trigger *find(struct api_fc *a, struct http_request *req, struct spec_fn **fp)
{
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return NULL;
    const char *name = http_req_param(req, "trigger");
    struct spec_trigger *t = spec_fn_trigger(f, name);
    if (!t) {
        http_respond_error(req, 404, "TriggerNotFound", "function %s has no trigger %s", f->name,
                           name);
        return NULL;
    }
    *fp = f;
    return t;
}

static void save(struct api_fc *a, struct http_request *req, struct spec_fn *f, const char *name,
                 json_t *doc, int status)
{
    char key[300];
    snprintf(key, sizeof(key), "%s/%s", f->name, name);
    struct store_batch *b;
    struct fc_write *w = fc_write_doc(a, req, STORE_TRIGGERS, key, doc, &b);
    if (!w) {
        json_decref(doc);
        return;
    }
    w->answer = present(a, f, doc);
    w->answer_status = status;
    w->fn = f;
    snprintf(w->trigger, sizeof(w->trigger), "%s", name);
    w->value = doc;
    fc_write_submit(w, b);
}

static void create_trigger(struct api_fc *a, struct http_request *req)
{
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    json_t *in = fc_body_object(req);
    if (!in)
        return;
    struct frost_err err = {0};
    json_t *doc = NULL;
    int rc = spec_trigger_create(in, &doc, &err);
    json_decref(in);
    if (rc < 0) {
        fc_error(req, &err);
        return;
    }
    const char *name = json_string_value(json_object_get(doc, "triggerName"));
    if (!name) {
        json_decref(doc);
        http_respond_error(req, 400, "InvalidArgument", "triggerName: required");
        return;
    }
    if (f->busy) {
        http_respond_error(req, 409, "ConcurrentUpdateError",
                           "function %s has a change in progress; retry when it is done", f->name);
        json_decref(doc);
        return;
    }
    if (spec_fn_trigger(f, name)) {
        http_respond_error(req, 409, "TriggerAlreadyExists", "function %s already has a trigger %s",
                           f->name, name);
        json_decref(doc);
        return;
    }
    char now[32], arn[512], id[40];
    unsigned char r[8];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        memset(r, 0, sizeof(r));
    snprintf(id, sizeof(id), "%02x%02x%02x%02x-%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
             r[5], r[6], r[7]);
    fc_now(now, sizeof(now));
    fc_arn(a, f->name, arn, sizeof(arn));
    json_object_set_new(doc, "triggerId", json_string(id));
    json_object_set_new(doc, "createdTime", json_string(now));
    json_object_set_new(doc, "lastModifiedTime", json_string(now));
    json_object_set_new(doc, "targetArn", json_string(arn));
    json_object_set_new(doc, "status", json_string("Success"));
    char name_copy[160];
    snprintf(name_copy, sizeof(name_copy), "%s", name);
    save(a, req, f, name_copy, doc, 200);
}

static void get_trigger(struct api_fc *a, struct http_request *req)
{
    struct spec_fn *f;
    struct spec_trigger *t = find(a, req, &f);
    if (t)
        fc_json(req, 200, present(a, f, t->doc));
}

static void update_trigger(struct api_fc *a, struct http_request *req)
{
    struct spec_fn *f;
    struct spec_trigger *t = find(a, req, &f);
    if (!t)
        return;
    json_t *in = fc_body_object(req);
    if (!in)
        return;
    struct frost_err err = {0};
    json_t *doc = NULL;
    int rc = spec_trigger_update(t->doc, in, &doc, &err);
    json_decref(in);
    if (rc < 0) {
        fc_error(req, &err);
        return;
    }
    char now[32];
    fc_now(now, sizeof(now));
    json_object_set_new(doc, "lastModifiedTime", json_string(now));
    save(a, req, f, t->name, doc, 200);
}

static void delete_trigger(struct api_fc *a, struct http_request *req)
{
    struct spec_fn *f;
    struct spec_trigger *t = find(a, req, &f);
    if (!t)
        return;
    char key[300];
    snprintf(key, sizeof(key), "%s/%s", f->name, t->name);
    struct store_batch *b;
    struct fc_write *w = fc_write_doc(a, req, STORE_TRIGGERS, key, NULL, &b);
    if (!w)
        return;
    w->fn = f;
    snprintf(w->trigger, sizeof(w->trigger), "%s", t->name);
    fc_write_submit(w, b);
}

static void list_triggers(struct api_fc *a, struct http_request *req)
{
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    size_t limit;
    char token[256], prefix[256];
    if (fc_paging(req, 20, &limit, token, sizeof(token)) < 0 ||
        fc_query_text(req, "prefix", prefix, sizeof(prefix)) < 0)
        return;
    size_t plen = strlen(prefix);
    json_t *arr = json_array();
    size_t got = 0;
    const char *last = NULL;
    int more = 0;
    for (struct spec_trigger *t = f->triggers; t; t = t->next) {
        if (token[0] && strcmp(t->name, token) <= 0)
            continue;
        if (plen && strncmp(t->name, prefix, plen) != 0)
            continue;
        if (got == limit) {
            more = 1;
            break;
        }
        json_array_append_new(arr, present(a, f, t->doc));
        last = t->name;
        got++;
    }
    json_t *out = json_object();
    json_object_set_new(out, "triggers", arr);
    if (more && last)
        json_object_set_new(out, "nextToken", json_string(last));
    fc_json(req, 200, out);
}

const struct fc_route_def fc_trigger_routes[] = {
    {"POST", "/functions/{fn}/triggers", create_trigger, 0},
    {"GET", "/functions/{fn}/triggers", list_triggers, 0},
    {"GET", "/functions/{fn}/triggers/{trigger}", get_trigger, 0},
    {"PUT", "/functions/{fn}/triggers/{trigger}", update_trigger, 0},
    {"DELETE", "/functions/{fn}/triggers/{trigger}", delete_trigger, 0},
    {NULL, NULL, NULL, 0},
};
