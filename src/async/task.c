#include "async/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"

static const char *const status_names[TASK_NSTATUS] = {
    [TASK_ENQUEUED] = "Enqueued", [TASK_RUNNING] = "Running",   [TASK_SUCCEEDED] = "Succeeded",
    [TASK_FAILED] = "Failed",     [TASK_STOPPING] = "Stopping", [TASK_STOPPED] = "Stopped",
    [TASK_EXPIRED] = "Expired",   [TASK_RETRYING] = "Retrying", [TASK_INVALID] = "Invalid",
};

const char *task_status_name(enum task_status s)
{
    return (unsigned)s < TASK_NSTATUS ? status_names[s] : "Unknown";
}

int task_status_parse(const char *s, enum task_status *out)
{
    for (int i = 0; i < TASK_NSTATUS; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum task_status)i;
            return 0;
        }
    }
    return -1;
}

bool task_status_terminal(enum task_status s)
{
    return s == TASK_SUCCEEDED || s == TASK_FAILED || s == TASK_STOPPED || s == TASK_EXPIRED ||
           s == TASK_INVALID;
}

bool task_transition_ok(enum task_status from, enum task_status to)
{
    switch (from) {
    case TASK_ENQUEUED:
    case TASK_RETRYING:
        /* Retrying/Failed without Running: the attempt failed before it
         * reached an instance (the instance did not start, say). */
        return to == TASK_RUNNING || to == TASK_STOPPED || to == TASK_EXPIRED ||
               to == TASK_INVALID || to == TASK_RETRYING || to == TASK_FAILED;
    case TASK_RUNNING:
        /* Running -> Enqueued: put back unstarted work (a graceful shutdown). */
        return to == TASK_SUCCEEDED || to == TASK_FAILED || to == TASK_RETRYING ||
               to == TASK_STOPPING || to == TASK_ENQUEUED || to == TASK_INVALID;
    case TASK_STOPPING:
        return to == TASK_STOPPED;
    default:
        return false;
    }
}

static const char *const dest_names[] = {"", "Pending", "Succeeded", "Failed"};

const char *task_dest_name(enum task_dest d)
{
    return (unsigned)d < ARRAY_LEN(dest_names) ? dest_names[d] : "";
}

bool task_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > TASK_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (i == 0 ? !letter : !(letter || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static void bytes_free(struct task_bytes *b)
{
    free_and_null(&b->data);
    b->len = 0;
}

static int bytes_set(struct task_bytes *b, const char *data, size_t len)
{
    char *p = malloc(len + 1);
    if (!p)
        return -1;
    if (len)
        memcpy(p, data, len);
    p[len] = 0;
    free(b->data);
    b->data = p;
    b->len = len;
    return 0;
}

void task_clear(struct task *t)
{
    for (size_t i = 0; i < t->n_events; i++)
        free(t->events[i].detail);
    free(t->events);
    free(t->error);
    free(t->dest_target);
    bytes_free(&t->ret);
    bytes_free(&t->payload);
    memset(t, 0, sizeof(*t));
}

/* A copy of at most TASK_DETAIL_MAX bytes, cut on a UTF-8 boundary. */
static char *detail_dup(const char *s)
{
    size_t n = strlen(s);
    if (n > TASK_DETAIL_MAX) {
        n = TASK_DETAIL_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    return strndup(s, n);
}

static int add_event(struct task *t, enum task_status st, int64_t now_ms, const char *detail)
{
    char *d = detail_dup(detail ? detail : "");
    if (!d)
        return -1;
    if (t->n_events == TASK_EVENTS_MAX) {
        /* Keep the first ones (how it began) and the newest. */
        free(t->events[t->n_events - 1].detail);
        t->n_events--;
    } else if (t->n_events == t->cap_events) {
        size_t cap = t->cap_events ? t->cap_events * 2 : 4;
        struct task_event *e = realloc(t->events, cap * sizeof(*e));
        if (!e) {
            free(d);
            return -1;
        }
        t->events = e;
        t->cap_events = cap;
    }
    t->events[t->n_events++] =
        (struct task_event){.id = ++t->next_event_id, .status = st, .ts_ms = now_ms, .detail = d};
    return 0;
}

int task_transition(struct task *t, enum task_status to, int64_t now_ms, const char *detail)
{
    if (!task_transition_ok(t->status, to))
        return -1;
    if (add_event(t, to, now_ms, detail) < 0)
        return -1;
    t->status = to;
    if (task_status_terminal(to))
        t->end_ms = now_ms;
    return 0;
}

int task_note(struct task *t, int64_t now_ms, const char *detail)
{
    return add_event(t, t->status, now_ms, detail);
}

void task_set_error(struct task *t, const char *msg)
{
    free_and_null(&t->error);
    if (msg)
        t->error = detail_dup(msg);
}

int task_set_return(struct task *t, const char *data, size_t len, uint64_t total)
{
    size_t keep = len > TASK_RETURN_MAX ? TASK_RETURN_MAX : len;
    if (bytes_set(&t->ret, data, keep) < 0)
        return -1;
    t->ret_truncated = total > keep;
    return 0;
}

int task_set_payload(struct task *t, const char *data, size_t len)
{
    return bytes_set(&t->payload, data, len);
}

int task_key(const char *fn, const char *id, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", fn, id);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ---- JSON ------------------------------------------------------------------ */

json_t *task_bytes_json(const char *data, size_t len, bool *is_b64)
{
    *is_b64 = false;
    if (!data)
        return json_string("");
    if (!memchr(data, 0, len)) {
        json_t *s = json_stringn(data, len); /* NULL when not UTF-8 */
        if (s)
            return s;
    }
    size_t n = codec_base64_encoded_len(len);
    char *b = n == SIZE_MAX ? NULL : malloc(n + 1);
    if (!b)
        return NULL;
    codec_base64_encode(data, len, b);
    json_t *s = json_stringn(b, n);
    free(b);
    *is_b64 = true;
    return s;
}

/* Adds `name` (and name+"Encoding": "base64" when needed). -1 on OOM. */
static int set_bytes(json_t *o, const char *name, const struct task_bytes *b)
{
    bool b64;
    json_t *s = task_bytes_json(b->data, b->len, &b64);
    if (!s || json_object_set_new(o, name, s) < 0)
        return -1;
    if (b64) {
        char enc[64];
        snprintf(enc, sizeof(enc), "%sEncoding", name);
        if (json_object_set_new(o, enc, json_string("base64")) < 0)
            return -1;
    }
    return 0;
}

static int get_bytes(const json_t *o, const char *name, struct task_bytes *b, struct frost_err *err)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return frost_err_set(err, 400, "InvalidArgument", "%s: must be a string", name);
    char enc[64];
    snprintf(enc, sizeof(enc), "%sEncoding", name);
    const char *e = json_string_value(json_object_get(o, enc));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!e)
        return bytes_set(b, s, n) < 0 ? frost_err_set(err, 500, "InternalError", "out of memory")
                                      : 0;
    size_t dl;
    if (strcmp(e, "base64") != 0 || codec_base64_decoded_len(s, n, &dl) < 0)
        return frost_err_set(err, 400, "InvalidArgument", "%s: bad encoding", name);
    char *d = malloc(dl + 1);
    if (!d)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    size_t got;
    if (codec_base64_decode(s, n, d, dl, &got) < 0) {
        free(d);
        return frost_err_set(err, 400, "InvalidArgument", "%s: bad base64", name);
    }
    d[got] = 0;
    free(b->data);
    b->data = d;
    b->len = got;
    return 0;
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *task_doc(const struct task *t)
{
    json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:i,s:i,s:s,s:i,s:s,s:s}", "v", 1,
                          "fn", t->fn, "id", t->id, "requestId", t->request_id, "status",
                          task_status_name(t->status), "created", (json_int_t)t->created_ms, "end",
                          (json_int_t)t->end_ms, "nextRun", (json_int_t)t->next_run_ms,
                          "durationMs", (json_int_t)t->duration_ms, "retried", t->retried, "depth",
                          t->depth, "instanceId", t->instance_id, "fnStatus", t->fn_status,
                          "errorType", t->error_type, "dest", task_dest_name(t->dest));
    if (!o)
        return NULL;
    if ((t->error && json_object_set_new(o, "error", json_string(t->error)) < 0) ||
        (t->dest_target && json_object_set_new(o, "destTarget", json_string(t->dest_target)) < 0) ||
        (t->ret.data && set_bytes(o, "ret", &t->ret) < 0) ||
        (t->ret_truncated && json_object_set_new(o, "retTruncated", json_true()) < 0)) {
        json_decref(o);
        return NULL;
    }
    json_t *ev = json_array();
    if (!ev || json_object_set_new(o, "events", ev) < 0) {
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < t->n_events; i++) {
        const struct task_event *e = &t->events[i];
        if (json_array_append_new(ev, json_pack("{s:i,s:s,s:I,s:s}", "id", (int)e->id, "s",
                                                task_status_name(e->status), "t",
                                                (json_int_t)e->ts_ms, "d", e->detail)) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return dump(o);
}

char *task_payload_doc(const struct task *t)
{
    json_t *o = json_object();
    if (!o || set_bytes(o, "p", &t->payload) < 0) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}

static int get_str(const json_t *o, const char *name, bool required, char *out, size_t len,
                   struct frost_err *err)
{
    json_t *v = json_object_get(o, name);
    if (!v) {
        if (required)
            return frost_err_set(err, 400, "InvalidArgument", "%s: missing", name);
        out[0] = 0;
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= len)
        return frost_err_set(err, 400, "InvalidArgument",
                             "%s: must be a string of at most %zu "
                             "bytes",
                             name, len - 1);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_int(const json_t *o, const char *name, int64_t *out, struct frost_err *err)
{
    json_t *v = json_object_get(o, name);
    if (!v) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v))
        return frost_err_set(err, 400, "InvalidArgument", "%s: must be an integer", name);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int get_dup(const json_t *o, const char *name, char **out, struct frost_err *err)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return frost_err_set(err, 400, "InvalidArgument", "%s: must be a string", name);
    *out = strdup(json_string_value(v));
    return *out ? 0 : frost_err_set(err, 500, "InternalError", "out of memory");
}

static int parse_doc(const json_t *o, struct task *t, struct frost_err *err)
{
    char status[32], dest[32];
    int64_t created, end, next, dur, retried, depth, fst;
    if (!json_is_object(o))
        return frost_err_set(err, 400, "InvalidArgument", "a task document must be an object");
    if (get_str(o, "fn", true, t->fn, sizeof(t->fn), err) < 0 ||
        get_str(o, "id", true, t->id, sizeof(t->id), err) < 0 ||
        get_str(o, "requestId", false, t->request_id, sizeof(t->request_id), err) < 0 ||
        get_str(o, "status", true, status, sizeof(status), err) < 0 ||
        get_str(o, "instanceId", false, t->instance_id, sizeof(t->instance_id), err) < 0 ||
        get_str(o, "errorType", false, t->error_type, sizeof(t->error_type), err) < 0 ||
        get_str(o, "dest", false, dest, sizeof(dest), err) < 0 ||
        get_int(o, "created", &created, err) < 0 || get_int(o, "end", &end, err) < 0 ||
        get_int(o, "nextRun", &next, err) < 0 || get_int(o, "durationMs", &dur, err) < 0 ||
        get_int(o, "retried", &retried, err) < 0 || get_int(o, "depth", &depth, err) < 0 ||
        get_int(o, "fnStatus", &fst, err) < 0 || get_dup(o, "error", &t->error, err) < 0 ||
        get_dup(o, "destTarget", &t->dest_target, err) < 0 || get_bytes(o, "ret", &t->ret, err) < 0)
        return -1;
    if (task_status_parse(status, &t->status) < 0)
        return frost_err_set(err, 400, "InvalidArgument", "status: unknown \"%s\"", status);
    t->dest = TASK_DEST_NONE;
    for (size_t i = 1; i < ARRAY_LEN(dest_names); i++)
        if (strcmp(dest, dest_names[i]) == 0)
            t->dest = (enum task_dest)i;
    if (retried < 0 || retried > 1000 || depth < 0 || depth > 1000 || dur < 0)
        return frost_err_set(err, 400, "InvalidArgument", "counters out of range");
    t->created_ms = created;
    t->end_ms = end;
    t->next_run_ms = next;
    t->duration_ms = (uint64_t)dur;
    t->retried = (int)retried;
    t->depth = (int)depth;
    t->fn_status = (int)fst;
    t->ret_truncated = json_is_true(json_object_get(o, "retTruncated"));
    json_t *ev = json_object_get(o, "events");
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
    {
        enum task_status es;
        const char *s = json_string_value(json_object_get(e, "s"));
        const char *d = json_string_value(json_object_get(e, "d"));
        if (!s || task_status_parse(s, &es) < 0)
            return frost_err_set(err, 400, "InvalidArgument", "events[%zu]: bad status", i);
        if (add_event(t, es, (int64_t)json_integer_value(json_object_get(e, "t")), d) < 0)
            return frost_err_set(err, 500, "InternalError", "out of memory");
        unsigned id = (unsigned)json_integer_value(json_object_get(e, "id"));
        t->events[t->n_events - 1].id = id;
        if (id > t->next_event_id)
            t->next_event_id = id;
    }
    return 0;
}

int task_from_doc(const char *json, struct task *t, struct frost_err *err)
{
    task_clear(t);
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    if (!o)
        return frost_err_set(err, 400, "InvalidArgument", "not JSON: %s", je.text);
    int rc = parse_doc(o, t, err);
    json_decref(o);
    if (rc < 0)
        task_clear(t);
    return rc;
}

int task_payload_from_doc(const char *json, struct task *t, struct frost_err *err)
{
    json_error_t je;
    json_t *o = json_loads(json, JSON_ALLOW_NUL, &je);
    if (!o)
        return frost_err_set(err, 400, "InvalidArgument", "not JSON: %s", je.text);
    int rc = json_is_object(o) ? get_bytes(o, "p", &t->payload, err)
                               : frost_err_set(err, 400, "InvalidArgument", "not an object");
    json_decref(o);
    return rc;
}

json_t *task_api_json(const struct task *t, const char *arn, bool with_payload)
{
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:i,s:s,s:s}", "taskId", t->id, "requestId",
        t->request_id, "functionArn", arn, "qualifier", "LATEST", "instanceId", t->instance_id,
        "status", task_status_name(t->status), "startedTime", (json_int_t)t->created_ms,
        "durationMs", (json_int_t)t->duration_ms, "alreadyRetriedTimes", t->retried,
        "destinationStatus", task_dest_name(t->dest), "taskErrorMessage", t->error ? t->error : "");
    if (!o)
        return NULL;
    int rc = 0;
    if (t->end_ms)
        rc |= json_object_set_new(o, "endTime", json_integer(t->end_ms));
    if (t->ret.data) {
        struct task_bytes b = t->ret;
        rc |= set_bytes(o, "returnPayload", &b);
        if (t->ret_truncated)
            rc |= json_object_set_new(o, "returnPayloadTruncated", json_true());
    }
    if (t->fn_status)
        rc |= json_object_set_new(o, "returnStatusCode", json_integer(t->fn_status));
    if (with_payload)
        rc |= set_bytes(o, "taskPayload", &t->payload);
    json_t *ev = json_array();
    rc |= json_object_set_new(o, "events", ev);
    for (size_t i = 0; ev && i < t->n_events; i++) {
        const struct task_event *e = &t->events[i];
        rc |=
            json_array_append_new(ev, json_pack("{s:i,s:s,s:I,s:s}", "eventId", (int)e->id,
                                                "status", task_status_name(e->status), "timestamp",
                                                (json_int_t)e->ts_ms, "eventDetail", e->detail));
    }
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}
