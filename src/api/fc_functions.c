/* CreateFunction, GetFunction, UpdateFunction, DeleteFunction, ListFunctions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/fc_internal.h"
#include "base/log.h"
#include "spec/code.h"

/* A create or update in progress: validated, possibly waiting for its code
 * package to be stored on the thread pool, then written. */
struct fn_op {
    uv_work_t work;
    struct api_fc *a;
    struct http_request *req; /* NULL once the client went away */
    struct spec_fn *fn;
    json_t *doc;   /* validated new document */
    char *zip_b64; /* owned copy of code.zipFile */
    size_t zip_len;
    bool create;
    struct spec_code_info code;
    struct frost_err err;
    int code_rc;
};

static void function_id(char *out, size_t len)
{
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        memset(r, 0, sizeof(r));
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}

static void op_free(struct fn_op *op)
{
    json_decref(op->doc);
    free(op->zip_b64);
    free(op);
}

static void op_abort(struct http_request *req, void *ud)
{
    struct fn_op *op = ud;
    op->req = NULL;
}

/* Takes code.zipFile out of the input; -1 (answered) if the code cannot be used. */
static int take_code(struct fn_op *op, const json_t *input)
{
    const json_t *code = json_object_get(input, "code");
    if (!code || json_is_null(code))
        return 0;
    const json_t *zip = json_object_get(code, "zipFile");
    if (!zip) {
        http_respond_error(op->req, 400, "InvalidArgument",
                           "code: Frost cannot fetch code from OSS; send it as code.zipFile "
                           "(base64 of a zip)");
        return -1;
    }
    op->zip_len = json_string_length(zip);
    op->zip_b64 = malloc(op->zip_len + 1);
    if (!op->zip_b64) {
        http_respond_error(op->req, 500, "InternalError", "out of memory");
        return -1;
    }
    memcpy(op->zip_b64, json_string_value(zip), op->zip_len + 1);
    return 0;
}

/* Takes doc and releases in; NULL (answered) on failure. */
static struct fn_op *op_new(struct api_fc *a, struct http_request *req, struct spec_fn *f,
                            json_t *doc, json_t *in)
{
    struct fn_op *op = calloc(1, sizeof(*op));
    if (!op) {
        json_decref(in);
        json_decref(doc);
        http_respond_error(req, 500, "InternalError", "out of memory");
        return NULL;
    }
    op->a = a;
    op->req = req;
    op->fn = f;
    op->doc = doc;
    int rc = take_code(op, in);
    json_decref(in);
    if (rc < 0) {
        op_free(op);
        return NULL;
    }
    return op;
}

/* Readers see a change once it is durable, not before. */
static void finish_write(struct fc_write *w, int status, const char *msg)
{
    struct spec_fn *f = w->fn;
    f->busy--;
    if (status < 0 && w->kind == 1) {
        spec_registry_remove(w->a->reg, f); /* a create that did not reach the disk */
    } else if (status == 0) {
        spec_fn_set(f, &f->doc, json_incref(w->answer));
        if (w->kind == 2 && w->a->sched)
            sched_function_changed(w->a->sched, f->name); /* roll the instances */
    }
    fc_write_answer(w, status, msg);
}

static void fail_op(struct fn_op *op, const char *msg)
{
    if (op->req)
        http_respond_error(op->req, 500, "InternalError", "%s", msg);
    op->fn->busy--;
    if (op->create)
        spec_registry_remove(op->a->reg, op->fn);
    op_free(op);
}

static void persist(struct fn_op *op)
{
    struct api_fc *a = op->a;
    struct spec_fn *f = op->fn;
    char *text = fc_dump(op->doc);
    struct store_batch *b = store_batch_new();
    if (!text || !b || store_batch_put(b, STORE_FUNCTIONS, f->name, text) < 0) {
        free(text);
        store_batch_free(b);
        fail_op(op, "out of memory");
        return;
    }
    free(text);
    /* The client may be gone (it left while the code was unpacked); the
     * change was accepted all the same, so it is written. */
    struct fc_write *w = op->req ? fc_write_new(a, op->req) : calloc(1, sizeof(*w));
    if (!w) {
        store_batch_free(b);
        fail_op(op, "out of memory");
        return;
    }
    w->a = a;
    w->fn = f;
    w->done = finish_write;
    w->kind = op->create ? 1 : 2;
    snprintf(w->key, sizeof(w->key), "%s", f->name);
    w->answer = json_incref(op->doc);
    op_free(op);
    fc_write_submit(w, b);
}

static void code_work(uv_work_t *work)
{
    struct fn_op *op = container_of(work, struct fn_op, work);
    struct spec_code_limits lim = {SPEC_CODE_DEFAULT_MAX_ZIP_BYTES,
                                   SPEC_CODE_DEFAULT_MAX_UNPACKED_BYTES,
                                   SPEC_CODE_DEFAULT_MAX_ENTRIES};
    op->code_rc =
        spec_code_store(op->a->code_dir, op->zip_b64, op->zip_len, &lim, &op->code, &op->err);
}

static void set_code_fields(json_t *doc, const struct spec_code_info *ci)
{
    json_object_set_new(doc, "codeChecksum", json_string(ci->checksum));
    json_object_set_new(doc, "codeSize", json_integer((json_int_t)ci->zip_size));
}

static void code_done(uv_work_t *work, int status)
{
    struct fn_op *op = container_of(work, struct fn_op, work);
    struct api_fc *a = op->a;
    a->pending--;
    if (op->req)
        http_req_on_abort(op->req, NULL, NULL);
    if (status < 0 || op->code_rc < 0) {
        if (op->req)
            fc_error(op->req, &op->err);
        op->req = NULL;
        fail_op(op, "");
        return;
    }
    log_info("code_stored", "function=%s checksum=%s zip_bytes=%llu unpacked_bytes=%llu",
             op->fn->name, op->code.checksum, (unsigned long long)op->code.zip_size,
             (unsigned long long)op->code.unpacked_size);
    set_code_fields(op->doc, &op->code);
    persist(op);
}

static void start(struct fn_op *op)
{
    op->fn->busy++;
    if (!op->zip_b64) {
        persist(op);
        return;
    }
    op->a->pending++;
    http_req_on_abort(op->req, op_abort, op);
    if (uv_queue_work(op->a->loop, &op->work, code_work, code_done) < 0) {
        op->a->pending--;
        http_req_on_abort(op->req, NULL, NULL);
        fail_op(op, "cannot queue the code package");
    }
}

static void create_function(struct api_fc *a, struct http_request *req)
{
    json_t *in = fc_body_object(req);
    if (!in)
        return;
    struct frost_err err = {0};
    const char *name_in = json_string_value(json_object_get(in, "functionName"));
    char name[128];
    snprintf(name, sizeof(name), "%s", name_in ? name_in : "");
    if (!name_in) {
        json_decref(in);
        http_respond_error(req, 400, "InvalidArgument", "functionName: required, a string");
        return;
    }
    if (spec_function_name_check(name, &err) < 0) {
        json_decref(in);
        fc_error(req, &err);
        return;
    }
    if (spec_registry_get(a->reg, name)) {
        http_respond_error(req, 409, "FunctionAlreadyExists", "function %s already exists", name);
        json_decref(in);
        return;
    }
    json_t *doc = NULL;
    if (spec_function_create(in, &doc, &err) < 0) {
        json_decref(in);
        fc_error(req, &err);
        return;
    }
    struct fn_op *op = op_new(a, req, NULL, doc, in);
    if (!op)
        return;
    op->create = true;
    char arn[512], id[40], now[32];
    fc_arn(a, name, arn, sizeof(arn));
    function_id(id, sizeof(id));
    fc_now(now, sizeof(now));
    json_object_set_new(doc, "functionName", json_string(name));
    json_object_set_new(doc, "functionArn", json_string(arn));
    json_object_set_new(doc, "functionId", json_string(id));
    json_object_set_new(doc, "createdTime", json_string(now));
    json_object_set_new(doc, "lastModifiedTime", json_string(now));
    json_object_set_new(doc, "state", json_string("Active"));
    json_object_set_new(doc, "lastUpdateStatus", json_string("Successful"));
    if (!json_object_get(doc, "codeSize"))
        json_object_set_new(doc, "codeSize", json_integer(0));
    /* Reserve the name now: a second create of it while this one is being
     * written gets 409. The entry is invisible to reads until durable. */
    op->fn = spec_registry_add(a->reg, name, NULL);
    if (!op->fn) {
        op_free(op);
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    start(op);
}

static void get_function(struct api_fc *a, struct http_request *req)
{
    if (fc_qualifier_ok(req) < 0)
        return;
    struct spec_fn *f = fc_function(a, req);
    if (f)
        fc_json(req, 200, json_incref(f->doc));
}

static void update_function(struct api_fc *a, struct http_request *req)
{
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    if (f->busy) {
        http_respond_error(req, 409, "ConcurrentUpdateError",
                           "function %s has a change in progress; retry when it is done", f->name);
        return;
    }
    json_t *in = fc_body_object(req);
    if (!in)
        return;
    struct frost_err err = {0};
    json_t *doc = NULL;
    if (spec_function_update(f->doc, in, &doc, &err) < 0) {
        json_decref(in);
        fc_error(req, &err);
        return;
    }
    /* Switching runtimes: a custom runtime needs a package, a container has none. */
    const char *runtime = json_string_value(json_object_get(doc, "runtime"));
    bool container = runtime && strcmp(runtime, "custom-container") == 0;
    const json_t *code = json_object_get(in, "code");
    bool sends_code = code && !json_is_null(code);
    if (container) {
        json_object_del(doc, "codeChecksum");
        json_object_set_new(doc, "codeSize", json_integer(0));
    } else if (!sends_code && !json_object_get(doc, "codeChecksum")) {
        http_respond_error(req, 400, "InvalidArgument",
                           "code: is required with runtime %s (send code.zipFile)",
                           runtime ? runtime : "?");
        json_decref(in);
        json_decref(doc);
        return;
    }
    struct fn_op *op = op_new(a, req, f, doc, in);
    if (!op)
        return;
    char now[32];
    fc_now(now, sizeof(now));
    json_object_set_new(doc, "lastModifiedTime", json_string(now));
    start(op);
}

/* Once durable, the function goes with its configs and triggers. */
static void finish_delete(struct fc_write *w, int status, const char *msg)
{
    w->fn->busy--;
    if (status == 0) {
        if (w->a->sched)
            sched_function_deleted(w->a->sched, w->fn->name);
        spec_registry_remove(w->a->reg, w->fn);
    }
    fc_write_answer(w, status, msg);
}

static void delete_function(struct api_fc *a, struct http_request *req)
{
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    if (f->busy) {
        http_respond_error(req, 409, "ConcurrentUpdateError",
                           "function %s has a change in progress; retry when it is done", f->name);
        return;
    }
    struct store_batch *b = store_batch_new();
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "%s/", f->name);
    if (!b || store_batch_del(b, STORE_FUNCTIONS, f->name) < 0 ||
        store_batch_del(b, STORE_PROVISION, f->name) < 0 ||
        store_batch_del(b, STORE_ASYNC_CONFIG, f->name) < 0 ||
        store_batch_del(b, STORE_CONCURRENCY, f->name) < 0 ||
        store_batch_del_prefix(b, STORE_TRIGGERS, prefix) < 0) {
        store_batch_free(b);
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    struct fc_write *w = fc_write_new(a, req);
    if (!w) {
        store_batch_free(b);
        return;
    }
    snprintf(w->key, sizeof(w->key), "%s", f->name);
    w->fn = f;
    w->done = finish_delete;
    f->busy++;
    fc_write_submit(w, b);
}

static void list_functions(struct api_fc *a, struct http_request *req)
{
    size_t limit;
    char token[256], prefix[256];
    if (fc_paging(req, 20, &limit, token, sizeof(token)) < 0 ||
        fc_query_text(req, "prefix", prefix, sizeof(prefix)) < 0)
        return;
    struct spec_fn *items[101];
    int more = 0;
    /* Entries still being created have no document yet: skip them. */
    json_t *arr = json_array();
    const char *after = token;
    char last[256] = "";
    size_t got = 0;
    while (got < limit) {
        size_t n = spec_registry_list(a->reg, prefix, after, limit - got, items, &more);
        for (size_t i = 0; i < n; i++) {
            if (items[i]->doc) {
                json_array_append(arr, items[i]->doc);
                got++;
            }
            snprintf(last, sizeof(last), "%s", items[i]->name);
        }
        if (!more || n == 0)
            break;
        after = last;
    }
    json_t *out = json_object();
    json_object_set_new(out, "functions", arr);
    if (more)
        json_object_set_new(out, "nextToken", json_string(last));
    fc_json(req, 200, out);
}

const struct fc_route_def fc_function_routes[] = {
    {"POST", "/functions", create_function, 160u * 1024 * 1024},
    {"GET", "/functions", list_functions, 0},
    {"GET", "/functions/{fn}", get_function, 0},
    {"PUT", "/functions/{fn}", update_function, 160u * 1024 * 1024},
    {"DELETE", "/functions/{fn}", delete_function, 0},
    {NULL, NULL, NULL, 0},
};
