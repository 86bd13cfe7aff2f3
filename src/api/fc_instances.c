/* ListInstances and instance logs (a Frost extension). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/fc_internal.h"
#include "runtime/logs.h"
#include "runtime/rt.h"

struct collect {
    json_t *arr;
};

static void add_one(struct rt_instance *in, void *ud)
{
    struct collect *c = ud;
    json_array_append_new(c->arr, rt_instance_json(in));
}

static void list_instances(struct api_fc *a, struct http_request *req)
{
    if (fc_qualifier_ok(req) < 0)
        return;
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    struct collect c = {json_array()};
    if (a->rt)
        rt_each(a->rt, f->name, add_one, &c);
    json_t *out = json_object();
    json_object_set_new(out, "instances", c.arr);
    json_object_set_new(out, "requestId", json_string(http_req_id(req)));
    fc_json(req, 200, out);
}

/* Reading log files is blocking: it runs on the thread pool. */
struct log_read {
    uv_work_t work;
    struct http_request *req; /* NULL once the client went away */
    char dir[PATH_MAX];
    char name[128];
    size_t lines;
    struct buf out;
    struct frost_err err;
    int rc;
};

static void log_abort(struct http_request *req, void *ud)
{
    struct log_read *lr = ud;
    lr->req = NULL;
}

static void log_work(uv_work_t *w)
{
    struct log_read *lr = container_of(w, struct log_read, work);
    lr->rc = rt_log_read(lr->dir, lr->name, lr->lines, &lr->out, &lr->err);
}

static void log_after(uv_work_t *w, int status)
{
    struct log_read *lr = container_of(w, struct log_read, work);
    if (lr->req) {
        http_req_on_abort(lr->req, NULL, NULL);
        if (status < 0 || lr->rc < 0)
            fc_error(lr->req, &lr->err);
        else
            http_respond(lr->req, 200, "text/plain; charset=utf-8",
                         lr->out.data ? lr->out.data : "", lr->out.len);
    }
    buf_free(&lr->out);
    free(lr);
}

static void instance_logs(struct api_fc *a, struct http_request *req)
{
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    const char *id = http_req_param(req, "id");
    if (!id || !id[0] || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0 ||
        strlen(id) >= 128) {
        http_respond_error(req, 400, "InvalidArgument", "instance id is not valid");
        return;
    }
    char v[32];
    long tail = 100;
    int r = http_req_query_param(req, "tail", v, sizeof(v));
    if (r < 0 || (r == 1 && ((tail = atol(v)) < 0 || tail > 100000))) {
        http_respond_error(req, 400, "InvalidArgument", "tail: must be 0..100000 lines");
        return;
    }
    struct log_read *lr = calloc(1, sizeof(*lr));
    if (!lr) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    lr->req = req;
    lr->lines = (size_t)tail;
    buf_init(&lr->out, 8u * 1024 * 1024);
    rt_log_dir(a->rt, f->name, lr->dir, sizeof(lr->dir));
    snprintf(lr->name, sizeof(lr->name), "%s", id);
    http_req_on_abort(req, log_abort, lr);
    if (uv_queue_work(a->loop, &lr->work, log_work, log_after) < 0) {
        http_req_on_abort(req, NULL, NULL);
        free(lr);
        http_respond_error(req, 500, "InternalError", "cannot queue the log read");
    }
}

const struct fc_route_def fc_instance_routes[] = {
    {"GET", "/functions/{fn}/instances", list_instances, 0},
    {"GET", "/functions/{fn}/instances/{id}/logs", instance_logs, 0},
    {NULL, NULL, NULL, 0},
};
