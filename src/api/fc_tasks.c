/* Async invocations (InvokeFunction with x-fc-invocation-type: Async) and
 * the async task API: GetAsyncTask, ListAsyncTasks, StopAsyncTask, and the
 * per-function task counts (a Frost extension). The tasks themselves live in
 * src/async. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/fc_internal.h"
#include "async/async.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"

/* ------------------------------------------------------------------ submit */

struct asub {
    struct api_fc *a;
    struct http_request *req; /* NULL once the client went away */
    struct buf body;
    char fn[128];
    char task_id[160];
};

static void asub_free(struct asub *s)
{
    buf_free(&s->body);
    free(s);
}

static void answer_202(struct http_request *req, const struct async_ack *ack)
{
    struct http_header h[] = {
        {"x-fc-async-task-id", 18, ack->task_id, strlen(ack->task_id)},
    };
    http_respond_h(req, 202, h, ARRAY_LEN(h), NULL, 0);
}

static void on_acked(void *ud, int status, const struct async_ack *ack, const char *msg)
{
    struct asub *s = ud;
    if (s->req) {
        http_req_on_abort(s->req, NULL, NULL);
        if (status < 0)
            http_respond_error(s->req, 500, STORE_ERR_CODE, "the task was not stored: %s",
                               msg ? msg : "?");
        else
            answer_202(s->req, ack);
    }
    asub_free(s);
}

static void waiting_abort(struct http_request *req, void *ud)
{
    struct asub *s = ud;
    s->req = NULL; /* the task is stored anyway; on_acked frees s */
}

static void reading_abort(struct http_request *req, void *ud)
{
    asub_free(ud);
}

static void submit(struct asub *s)
{
    struct http_request *req = s->req;
    struct api_fc *a = s->a;
    if (a->auth) {
        struct frost_err err = {0};
        size_t nh;
        const struct http_header *h = http_req_headers(req, &nh);
        if (api_auth_verify(a->auth, http_req_method(req), http_req_raw_path(req),
                            http_req_query(req), h, nh, s->body.data ? s->body.data : "",
                            s->body.len, clock_wall_ms(), NULL, &err) < 0) {
            fc_error(req, &err);
            asub_free(s);
            return;
        }
    }
    struct async_submit sub = {
        .fn = s->fn,
        .task_id = s->task_id,
        .request_id = http_req_id(req),
        .payload = s->body.data ? s->body.data : "",
        .payload_len = s->body.len,
    };
    struct async_ack ack;
    struct frost_err err = {0};
    int rc = async_submit(a->async, &sub, on_acked, s, &ack, &err);
    if (rc < 0) {
        fc_error(req, &err);
        asub_free(s);
    } else if (rc == 1) {
        answer_202(req, &ack);
        asub_free(s);
    } else {
        http_req_on_abort(req, waiting_abort, s);
    }
}

static int on_data(struct http_request *req, const char *d, size_t n, void *ud)
{
    struct asub *s = ud;
    if (buf_append(&s->body, d, n) == 0)
        return 0;
    /* Over the async limit (chunked, or a lying Content-Length): answer now
     * and stop listening to this body. */
    http_req_read_body(req, NULL, NULL, NULL);
    http_req_on_abort(req, NULL, NULL);
    http_respond_error(req, 413, "PayloadTooLarge",
                       "an asynchronous invocation's payload is limited to %u bytes",
                       ASYNC_PAYLOAD_MAX);
    asub_free(s);
    return 0;
}

static void on_end(struct http_request *req, void *ud)
{
    struct asub *s = ud;
    http_req_on_abort(req, NULL, NULL);
    submit(s);
}

/* A header value as it may appear in a (JSON, UTF-8) message: printable
 * ASCII, at most 64 bytes, anything else as '?'. */
static void printable(const char *s, char *out, size_t len)
{
    size_t n = 0;
    for (; *s && n + 1 < len && n < 64; s++)
        out[n++] = (unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '?';
    out[n] = 0;
}

void fc_async_invoke(struct api_fc *a, struct http_request *req, struct spec_fn *f)
{
    if (!a->async) {
        http_respond_error(req, 501, "NotImplemented",
                           "asynchronous invocations are not available in this Frost");
        return;
    }
    const char *tid = http_req_header(req, "x-fc-async-task-id");
    if (tid && !async_task_id_valid(tid)) {
        char shown[80];
        printable(tid, shown, sizeof(shown));
        http_respond_error(req, 400, "InvalidArgument",
                           "x-fc-async-task-id: must be 1 to 128 characters of letters, digits, "
                           "'_' and '-', starting with a letter or '_', got \"%s\"",
                           shown);
        return;
    }
    int64_t cl = http_req_content_length(req);
    if (cl > (int64_t)ASYNC_PAYLOAD_MAX) {
        http_respond_error(req, 413, "PayloadTooLarge",
                           "an asynchronous invocation's payload is limited to %u bytes, got "
                           "%lld",
                           ASYNC_PAYLOAD_MAX, (long long)cl);
        return;
    }
    struct asub *s = calloc(1, sizeof(*s));
    if (!s) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    s->a = a;
    s->req = req;
    snprintf(s->fn, sizeof(s->fn), "%s", f->name);
    snprintf(s->task_id, sizeof(s->task_id), "%s", tid ? tid : "");
    buf_init(&s->body, ASYNC_PAYLOAD_MAX);
    http_req_on_abort(req, reading_abort, s);
    http_req_read_body(req, on_data, on_end, s);
}

/* -------------------------------------------------------------------- API */

static bool have_async(struct api_fc *a, struct http_request *req)
{
    if (a->async)
        return true;
    http_respond_error(req, 501, "NotImplemented", "async tasks are not available in this Frost");
    return false;
}

static void get_task(struct api_fc *a, struct http_request *req)
{
    if (fc_qualifier_ok(req) < 0 || !have_async(a, req))
        return;
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    struct frost_err err = {0};
    json_t *t = async_get(a->async, f->name, http_req_param(req, "id"), &err);
    if (!t) {
        fc_error(req, &err);
        return;
    }
    fc_json(req, 200, t);
}

/* An optional non-negative integer parameter (ms); 0 when absent. */
static int query_ms(struct http_request *req, const char *name, int64_t *out)
{
    char v[32];
    *out = 0;
    if (fc_query_text(req, name, v, sizeof(v)) < 0)
        return -1;
    if (!v[0])
        return 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || v[0] < '0' || v[0] > '9' || n < 0) {
        http_respond_error(req, 400, "InvalidArgument",
                           "%s: must be a time in milliseconds since the epoch, got \"%s\"", name,
                           v);
        return -1;
    }
    *out = n;
    return 0;
}

static void list_tasks(struct api_fc *a, struct http_request *req)
{
    if (fc_qualifier_ok(req) < 0 || !have_async(a, req))
        return;
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    struct async_list_opts o = {.status = ASYNC_STATUS_ANY, .descending = true};
    char token[256], status[32], prefix[160], order[16], payload[16];
    if (fc_paging(req, 20, &o.limit, token, sizeof(token)) < 0 ||
        fc_query_text(req, "status", status, sizeof(status)) < 0 ||
        fc_query_text(req, "prefix", prefix, sizeof(prefix)) < 0 ||
        fc_query_text(req, "sortOrderByTime", order, sizeof(order)) < 0 ||
        fc_query_text(req, "includePayload", payload, sizeof(payload)) < 0 ||
        query_ms(req, "startedTimeBegin", &o.begin_ms) < 0 ||
        query_ms(req, "startedTimeEnd", &o.end_ms) < 0)
        return;
    if (status[0]) {
        o.status = async_status_filter(status);
        if (o.status == -3) {
            http_respond_error(req, 400, "InvalidArgument",
                               "status: must be one of Enqueued, Dequeued, Running, Succeeded, "
                               "Failed, Stopping, Stopped, Expired, Retrying, Invalid; got \"%s\"",
                               status);
            return;
        }
    }
    if (strlen(prefix) > 128) {
        http_respond_error(req, 400, "InvalidArgument", "prefix: at most 128 characters");
        return;
    }
    if (order[0] && strcasecmp(order, "asc") != 0 && strcasecmp(order, "desc") != 0) {
        http_respond_error(req, 400, "InvalidArgument",
                           "sortOrderByTime: must be asc or desc, got \"%s\"", order);
        return;
    }
    if (order[0])
        o.descending = strcasecmp(order, "desc") == 0;
    if (payload[0] && strcmp(payload, "true") != 0 && strcmp(payload, "false") != 0) {
        http_respond_error(req, 400, "InvalidArgument",
                           "includePayload: must be true or false, got \"%s\"", payload);
        return;
    }
    o.with_payload = strcmp(payload, "true") == 0;
    if (o.begin_ms && o.end_ms && o.begin_ms > o.end_ms) {
        http_respond_error(req, 400, "InvalidArgument",
                           "startedTimeBegin must not be after startedTimeEnd");
        return;
    }
    o.prefix = prefix;
    o.token = token;
    json_t *out = NULL;
    struct frost_err err = {0};
    if (async_list(a->async, f->name, &o, &out, &err) < 0) {
        fc_error(req, &err);
        return;
    }
    fc_json(req, 200, out);
}

struct stop_req {
    struct http_request *req; /* NULL once the client went away */
};

static void stop_abort(struct http_request *req, void *ud)
{
    struct stop_req *sr = ud;
    sr->req = NULL;
}

static void on_stopped(void *ud, int status, json_t *task, const char *msg)
{
    struct stop_req *sr = ud;
    if (sr->req) {
        http_req_on_abort(sr->req, NULL, NULL);
        if (status < 0)
            http_respond_error(sr->req, 500, STORE_ERR_CODE, "the stop was not saved: %s", msg);
        else
            fc_json(sr->req, 200, json_incref(task));
    }
    free(sr);
}

static void stop_task(struct api_fc *a, struct http_request *req)
{
    if (fc_qualifier_ok(req) < 0 || !have_async(a, req))
        return;
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    struct stop_req *sr = calloc(1, sizeof(*sr));
    if (!sr) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    sr->req = req;
    struct frost_err err = {0};
    if (async_stop(a->async, f->name, http_req_param(req, "id"), on_stopped, sr, &err) < 0) {
        free(sr);
        fc_error(req, &err);
        return;
    }
    http_req_on_abort(req, stop_abort, sr);
}

static void task_stats(struct api_fc *a, struct http_request *req)
{
    if (!have_async(a, req))
        return;
    struct spec_fn *f = fc_function(a, req);
    if (!f)
        return;
    json_t *j = async_stats_json(a->async, f->name);
    if (!j) {
        http_respond_error(req, 500, "InternalError", "out of memory");
        return;
    }
    fc_json(req, 200, j);
}

const struct fc_route_def fc_task_routes[] = {
    {"GET", "/functions/{fn}/async-tasks", list_tasks, 0},
    {"GET", "/functions/{fn}/async-tasks/{id}", get_task, 0},
    {"PUT", "/functions/{fn}/async-tasks/{id}/stop", stop_task, 0},
    {"GET", "/functions/{fn}/async-task-stats", task_stats, 0},
    {NULL, NULL, NULL, 0},
};
