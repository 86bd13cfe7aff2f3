/* Unit tests for src/async: the task state machine and its documents, and
 * the manager against a real store (a temp SQLite file, a real uv loop) with
 * a stand-in scheduler the test drives by hand and a clock the test moves:
 * durable submit, idempotent ids, dispatch window, retries with backoff,
 * expiry, stop in every state, destinations to a function, listing and
 * paging, retention, graceful shutdown, and recovery after a crash (the
 * store reopened under a new manager). Nothing waits on the wall clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async/async.h"
#include "async/task.h"
#include "base/log.h"
#include "spec/registry.h"
#include "store/store.h"

/* ------------------------------------------------------------ the stand-in */

struct fjob {
    struct fjob *next;
    char fn[80];
    char *body;
    size_t len;
    char task_hdr[160];
    char request_id[80];
    sched_job_fn done;
    void *ud;
    void (*on_start)(struct sched_job *j, const char *instance_id, void *ud);
    bool started, stopped, finished;
};

struct fake {
    struct fjob *jobs;
    int submitted, stops;
    int fail_status; /* != 0: submit fails with this status */
};

static int fake_submit(void *ctx, const char *fn, const struct sched_job_opts *o, sched_job_fn done,
                       void *ud, struct sched_job **out, struct frost_err *err)
{
    struct fake *f = ctx;
    if (f->fail_status)
        return frost_err_set(err, f->fail_status,
                             f->fail_status == 404 ? "FunctionNotFound" : "ServiceUnavailable",
                             "fake says no");
    struct fjob *j = calloc(1, sizeof(*j));
    assert_non_null(j);
    snprintf(j->fn, sizeof(j->fn), "%s", fn);
    j->body = malloc(o->body_len + 1);
    memcpy(j->body, o->body, o->body_len);
    j->len = o->body_len;
    snprintf(j->request_id, sizeof(j->request_id), "%s", o->request_id);
    for (size_t i = 0; i < o->n_headers; i++)
        if (strcmp(o->headers[i].name, "x-fc-async-task-id") == 0)
            snprintf(j->task_hdr, sizeof(j->task_hdr), "%.*s", (int)o->headers[i].value_len,
                     o->headers[i].value);
    j->done = done;
    j->ud = ud;
    j->on_start = o->on_start;
    struct fjob **pp = &f->jobs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = j;
    f->submitted++;
    *out = (struct sched_job *)j;
    return 0;
}

static void fake_stop(void *ctx, struct sched_job *jj)
{
    struct fake *f = ctx;
    struct fjob *j = (struct fjob *)jj;
    assert_false(j->stopped);
    assert_false(j->finished);
    j->stopped = true;
    f->stops++;
}

/* Open jobs (not finished), in submission order. */
static struct fjob *fake_job(struct fake *f, int nth)
{
    for (struct fjob *j = f->jobs; j; j = j->next) {
        if (j->finished)
            continue;
        if (nth-- == 0)
            return j;
    }
    return NULL;
}

static int fake_open(struct fake *f)
{
    int n = 0;
    for (struct fjob *j = f->jobs; j; j = j->next)
        n += !j->finished;
    return n;
}

static void fake_start(struct fjob *j, const char *inst)
{
    assert_false(j->started);
    j->started = true;
    if (j->on_start)
        j->on_start((struct sched_job *)j, inst, j->ud);
}

static void fake_finish(struct fjob *j, int status, const char *body, const char *code)
{
    assert_false(j->finished);
    j->finished = true;
    struct sched_job_result r = {
        .status = status,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .body_total = body ? strlen(body) : 0,
        .error_code = code,
        .error_type = code ? "UnhandledInvocationError" : NULL,
        .message = code ? "fake failure" : NULL,
        .instance_id = j->started ? "inst-1" : "",
        .run_ms = j->started ? 7 : 0,
    };
    j->done((struct sched_job *)j, &r, j->ud);
}

/* The scheduler answers stopped jobs with "Stopped" on a later turn. */
static void fake_deliver_stops(struct fake *f)
{
    for (struct fjob *j = f->jobs; j; j = j->next)
        if (j->stopped && !j->finished)
            fake_finish(j, 0, NULL, "Stopped");
}

static void fake_free(struct fake *f)
{
    while (f->jobs) {
        struct fjob *j = f->jobs;
        f->jobs = j->next;
        free(j->body);
        free(j);
    }
}

/* ---------------------------------------------------------------- fixture */

static int64_t fake_now = 1800000000000;

static int64_t clock_fn(void *ud)
{
    return fake_now;
}

struct fx {
    char dir[64], path[128];
    uv_loop_t loop;
    struct store *store;
    struct spec_registry *reg;
    struct async *a;
    struct fake fake;
    struct async_runner runner;
    struct async_opts opts;
};

static void open_store(struct fx *x)
{
    struct store_opts so = {.path = x->path, .loop = &x->loop};
    struct frost_err err = {0};
    assert_int_equal(store_open(&so, &x->store, &err), 0);
}

static void open_async(struct fx *x)
{
    struct frost_err err = {0};
    int rc = async_new(&x->opts, &x->a, &err);
    if (rc < 0)
        fail_msg("async_new: %s", err.msg);
}

static void add_fn(struct fx *x, const char *name, const char *async_cfg)
{
    json_t *doc = json_pack("{s:s}", "functionName", name);
    struct spec_fn *f = spec_registry_add(x->reg, name, doc);
    assert_non_null(f);
    if (async_cfg) {
        json_error_t je;
        json_t *c = json_loads(async_cfg, 0, &je);
        assert_non_null(c);
        spec_fn_set(f, &f->async_config, c);
    }
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    const char *tmp = getenv("TMPDIR");
    snprintf(x->dir, sizeof(x->dir), "%s/frost-async-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->path, sizeof(x->path), "%s/frost.db", x->dir);
    assert_int_equal(uv_loop_init(&x->loop), 0);
    open_store(x);
    x->reg = spec_registry_new();
    x->runner = (struct async_runner){fake_submit, fake_stop, &x->fake};
    x->opts = (struct async_opts){
        .loop = &x->loop,
        .store = x->store,
        .reg = x->reg,
        .runner = &x->runner,
        .region = "cn-test",
        .account_id = "42",
        .retry_base_ms = 100,
        .retry_max_ms = 1000,
        .window = 2,
        .no_webhooks = true,
        .now_ms = clock_fn,
    };
    fake_now = 1800000000000;
    add_fn(x, "f", NULL);
    open_async(x);
    *state = x;
    return 0;
}

static void close_all(struct fx *x)
{
    store_close(x->store);
    x->store = NULL;
    async_free(x->a);
    x->a = NULL;
    uv_run(&x->loop, UV_RUN_DEFAULT);
}

static int teardown(void **state)
{
    struct fx *x = *state;
    if (x->a || x->store)
        close_all(x);
    assert_int_equal(uv_loop_close(&x->loop), 0);
    spec_registry_free(x->reg);
    fake_free(&x->fake);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", x->dir);
    assert_int_equal(system(cmd), 0);
    free(x);
    return 0;
}

/* Runs the loop until no store write is in flight (the store's handle then
 * stops keeping the loop alive). */
static void settle(struct fx *x)
{
    uv_run(&x->loop, UV_RUN_DEFAULT);
}

/* A crash: the process dies with everything durable that was acknowledged.
 * Writes in flight finish first (as SQLite's WAL would have them or not). */
static void crash_and_reopen(struct fx *x)
{
    settle(x);
    close_all(x);
    fake_free(&x->fake);
    memset(&x->fake, 0, sizeof(x->fake));
    open_store(x);
    x->opts.store = x->store;
    open_async(x);
}

struct acks {
    int n, failed, existing;
    char last_id[200];
};

static void on_ack(void *ud, int status, const struct async_ack *ack, const char *msg)
{
    struct acks *k = ud;
    k->n++;
    if (status < 0) {
        k->failed++;
        return;
    }
    k->existing += ack->existing;
    snprintf(k->last_id, sizeof(k->last_id), "%s", ack->task_id);
}

static void submit(struct fx *x, const char *fn, const char *id, const char *payload,
                   struct acks *k)
{
    struct async_submit s = {fn, id, "1-rid", payload, strlen(payload)};
    char rid[64];
    static int seq;
    snprintf(rid, sizeof(rid), "1-req-%d", ++seq);
    s.request_id = rid;
    struct async_ack ack;
    struct frost_err err = {0};
    int rc = async_submit(x->a, &s, on_ack, k, &ack, &err);
    if (rc < 0)
        fail_msg("async_submit: %s", err.msg);
    if (rc == 1) {
        k->n++;
        k->existing++;
        snprintf(k->last_id, sizeof(k->last_id), "%s", ack.task_id);
    }
}

static json_t *get(struct fx *x, const char *fn, const char *id)
{
    struct frost_err err = {0};
    json_t *j = async_get(x->a, fn, id, &err);
    if (!j)
        fail_msg("async_get %s/%s: %s", fn, id, err.msg);
    return j;
}

static const char *status_of(struct fx *x, const char *fn, const char *id)
{
    static char out[32];
    json_t *j = get(x, fn, id);
    snprintf(out, sizeof(out), "%s", json_string_value(json_object_get(j, "status")));
    json_decref(j);
    return out;
}

static int64_t int_of(struct fx *x, const char *fn, const char *id, const char *field)
{
    json_t *j = get(x, fn, id);
    int64_t v = json_integer_value(json_object_get(j, field));
    json_decref(j);
    return v;
}

/* ------------------------------------------------------------ task.c alone */

static void test_task_ids(void **state)
{
    assert_true(task_id_valid("a"));
    assert_true(task_id_valid("_x-1_Z"));
    assert_true(task_id_valid("task_0001"));
    assert_false(task_id_valid(""));
    assert_false(task_id_valid("1abc"));
    assert_false(task_id_valid("-abc"));
    assert_false(task_id_valid("a b"));
    assert_false(task_id_valid("a/b"));
    assert_false(task_id_valid("a.b"));
    char long_id[TASK_ID_MAX + 2];
    memset(long_id, 'a', sizeof(long_id));
    long_id[TASK_ID_MAX] = 0;
    assert_true(task_id_valid(long_id));
    long_id[TASK_ID_MAX] = 'a';
    long_id[TASK_ID_MAX + 1] = 0;
    assert_false(task_id_valid(long_id));
}

static void test_task_transitions(void **state)
{
    for (int s = 0; s < TASK_NSTATUS; s++) {
        enum task_status p;
        assert_int_equal(task_status_parse(task_status_name((enum task_status)s), &p), 0);
        assert_int_equal(p, s);
        if (task_status_terminal((enum task_status)s))
            for (int t = 0; t < TASK_NSTATUS; t++)
                assert_false(task_transition_ok((enum task_status)s, (enum task_status)t));
    }
    enum task_status p;
    assert_int_equal(task_status_parse("running", &p), -1);
    assert_true(task_transition_ok(TASK_ENQUEUED, TASK_RUNNING));
    assert_true(task_transition_ok(TASK_RUNNING, TASK_RETRYING));
    assert_true(task_transition_ok(TASK_RETRYING, TASK_RUNNING));
    assert_true(task_transition_ok(TASK_RUNNING, TASK_STOPPING));
    assert_true(task_transition_ok(TASK_STOPPING, TASK_STOPPED));
    assert_false(task_transition_ok(TASK_STOPPING, TASK_SUCCEEDED));
    assert_false(task_transition_ok(TASK_ENQUEUED, TASK_SUCCEEDED));
    assert_false(task_transition_ok(TASK_ENQUEUED, TASK_STOPPING));

    struct task t = {0};
    t.status = TASK_ENQUEUED;
    assert_int_equal(task_transition(&t, TASK_RUNNING, 10, "go"), 0);
    assert_int_equal(t.end_ms, 0);
    assert_int_equal(task_transition(&t, TASK_SUCCEEDED, 20, NULL), 0);
    assert_int_equal(t.end_ms, 20);
    assert_int_equal(task_transition(&t, TASK_FAILED, 30, "again"), -1);
    assert_int_equal(t.status, TASK_SUCCEEDED);
    assert_int_equal(t.n_events, 2);
    assert_int_equal(t.events[1].id, 2);
    assert_string_equal(t.events[1].detail, "");
    /* A long history keeps the first events and the newest. */
    for (int i = 0; i < 200; i++)
        assert_int_equal(task_note(&t, 40 + i, "note"), 0);
    assert_int_equal(t.n_events, TASK_EVENTS_MAX);
    assert_int_equal(t.events[0].id, 1);
    assert_int_equal(t.events[TASK_EVENTS_MAX - 1].ts_ms, 239);
    task_clear(&t);
}

static void test_task_docs(void **state)
{
    struct task t = {0};
    snprintf(t.fn, sizeof(t.fn), "fn");
    snprintf(t.id, sizeof(t.id), "job_1");
    snprintf(t.request_id, sizeof(t.request_id), "1-abc");
    t.created_ms = 1000;
    t.status = TASK_ENQUEUED;
    assert_int_equal(task_transition(&t, TASK_RUNNING, 1100, "on \"inst\"\n"), 0);
    assert_int_equal(task_transition(&t, TASK_FAILED, 1200, "boom"), 0);
    t.retried = 3;
    t.duration_ms = 99;
    t.fn_status = 500;
    t.dest = TASK_DEST_PENDING;
    t.dest_target = strdup("http://127.0.0.1:1/x");
    task_set_error(&t, "the function answered 500");
    const char bin[] = {'a', 0, (char)0xff, 'b'};
    assert_int_equal(task_set_return(&t, bin, sizeof(bin), 10), 0);
    assert_true(t.ret_truncated);
    assert_int_equal(task_set_payload(&t, bin, sizeof(bin)), 0);

    char *doc = task_doc(&t);
    char *pdoc = task_payload_doc(&t);
    assert_non_null(doc);
    assert_non_null(pdoc);
    struct task u = {0};
    struct frost_err err = {0};
    assert_int_equal(task_from_doc(doc, &u, &err), 0);
    assert_int_equal(task_payload_from_doc(pdoc, &u, &err), 0);
    assert_string_equal(u.fn, "fn");
    assert_string_equal(u.id, "job_1");
    assert_string_equal(u.request_id, "1-abc");
    assert_int_equal(u.status, TASK_FAILED);
    assert_int_equal(u.created_ms, 1000);
    assert_int_equal(u.end_ms, 1200);
    assert_int_equal(u.retried, 3);
    assert_int_equal(u.duration_ms, 99);
    assert_int_equal(u.fn_status, 500);
    assert_int_equal(u.dest, TASK_DEST_PENDING);
    assert_string_equal(u.dest_target, "http://127.0.0.1:1/x");
    assert_string_equal(u.error, "the function answered 500");
    assert_int_equal(u.ret.len, sizeof(bin));
    assert_memory_equal(u.ret.data, bin, sizeof(bin));
    assert_true(u.ret_truncated);
    assert_int_equal(u.payload.len, sizeof(bin));
    assert_memory_equal(u.payload.data, bin, sizeof(bin));
    assert_int_equal(u.n_events, 2);
    assert_string_equal(u.events[0].detail, "on \"inst\"\n");
    assert_int_equal(u.events[1].status, TASK_FAILED);
    assert_int_equal(u.next_event_id, 2);

    /* FC's shape: binary payloads as base64, marked. */
    json_t *j = task_api_json(&u, "acs:fc:r:a:functions/fn", true);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Failed");
    assert_string_equal(json_string_value(json_object_get(j, "taskPayload")), "YQD/Yg==");
    assert_string_equal(json_string_value(json_object_get(j, "taskPayloadEncoding")), "base64");
    assert_int_equal(json_integer_value(json_object_get(j, "alreadyRetriedTimes")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "endTime")), 1200);
    assert_string_equal(json_string_value(json_object_get(j, "destinationStatus")), "Pending");
    assert_int_equal(json_array_size(json_object_get(j, "events")), 2);
    json_decref(j);

    /* Bad documents are refused with the field named. */
    assert_int_equal(task_from_doc("{\"fn\":\"f\"}", &u, &err), -1);
    assert_non_null(strstr(err.msg, "id"));
    assert_int_equal(task_from_doc("{\"fn\":\"f\",\"id\":\"x\",\"status\":\"Nope\"}", &u, &err),
                     -1);
    assert_non_null(strstr(err.msg, "status"));
    assert_int_equal(task_from_doc("[", &u, &err), -1);
    free(doc);
    free(pdoc);
    task_clear(&t);
    task_clear(&u);
}

/* ---------------------------------------------------------------- manager */

static void test_submit_durable_then_dispatch(void **state)
{
    struct fx *x = *state;
    async_tick(x->a);
    struct acks k = {0};
    submit(x, "f", "job_1", "payload-1", &k);
    assert_int_equal(k.n, 0); /* never inside the call */
    struct frost_err err = {0};
    assert_null(async_get(x->a, "f", "job_1", &err)); /* not durable: not visible */
    assert_int_equal(err.status, 404);
    settle(x);
    assert_int_equal(k.n, 1);
    assert_int_equal(k.failed, 0);
    assert_int_equal(k.existing, 0);
    assert_string_equal(k.last_id, "job_1");
    /* Durable, then handed to the scheduler at once. */
    assert_int_equal(x->fake.submitted, 1);
    struct fjob *j = fake_job(&x->fake, 0);
    assert_string_equal(j->fn, "f");
    assert_int_equal(j->len, 9);
    assert_memory_equal(j->body, "payload-1", 9);
    assert_string_equal(j->task_hdr, "job_1");
    assert_string_equal(status_of(x, "f", "job_1"), "Enqueued");
    fake_now += 5;
    fake_start(j, "inst-9");
    assert_string_equal(status_of(x, "f", "job_1"), "Running");
    fake_finish(j, 200, "result!", NULL);
    settle(x);
    json_t *t = get(x, "f", "job_1");
    assert_string_equal(json_string_value(json_object_get(t, "status")), "Succeeded");
    assert_string_equal(json_string_value(json_object_get(t, "returnPayload")), "result!");
    assert_string_equal(json_string_value(json_object_get(t, "taskPayload")), "payload-1");
    assert_string_equal(json_string_value(json_object_get(t, "instanceId")), "inst-1");
    assert_string_equal(json_string_value(json_object_get(t, "functionArn")),
                        "acs:fc:cn-test:42:functions/f");
    assert_int_equal(json_integer_value(json_object_get(t, "durationMs")), 7);
    json_t *ev = json_object_get(t, "events");
    assert_int_equal(json_array_size(ev), 3);
    const char *want[] = {"Enqueued", "Running", "Succeeded"};
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(ev, i), "status")),
                            want[i]);
    json_decref(t);
    struct async_counts c;
    async_counts(x->a, "f", &c);
    assert_int_equal(c.by_status[TASK_SUCCEEDED], 1);
    assert_int_equal(c.by_status[TASK_ENQUEUED], 0);

    /* It survives a restart as it was. */
    crash_and_reopen(x);
    async_tick(x->a);
    assert_string_equal(status_of(x, "f", "job_1"), "Succeeded");
    assert_int_equal(x->fake.submitted, 0);
}

static void test_idempotent_ids(void **state)
{
    struct fx *x = *state;
    async_tick(x->a);
    struct acks k1 = {0}, k2 = {0}, k3 = {0}, k4 = {0};
    submit(x, "f", "same", "first", &k1);
    submit(x, "f", "same", "second", &k2); /* before the first is durable */
    settle(x);
    assert_int_equal(k1.n, 1);
    assert_int_equal(k1.existing, 0);
    assert_int_equal(k2.n, 1);
    assert_int_equal(k2.existing, 1);
    submit(x, "f", "same", "third", &k3); /* after: answered at once */
    assert_int_equal(k3.n, 1);
    assert_int_equal(k3.existing, 1);
    assert_int_equal(x->fake.submitted, 1);
    assert_memory_equal(fake_job(&x->fake, 0)->body, "first", 5);
    /* The same id on another function is another task. */
    add_fn(x, "g", NULL);
    submit(x, "g", "same", "other", &k4);
    settle(x);
    assert_int_equal(k4.existing, 0);
    assert_int_equal(x->fake.submitted, 2);
    /* Generated ids are the request id. */
    struct acks k5 = {0};
    submit(x, "f", NULL, "x", &k5);
    settle(x);
    assert_int_equal(strncmp(k5.last_id, "1-req-", 6), 0);

    /* Bad ids and oversized payloads are refused before anything happens. */
    struct async_ack ack;
    struct frost_err err = {0};
    struct async_submit bad = {"f", "9lives", "1-r", "x", 1};
    assert_int_equal(async_submit(x->a, &bad, on_ack, &k5, &ack, &err), -1);
    assert_int_equal(err.status, 400);
    static char big[ASYNC_PAYLOAD_MAX + 1];
    struct async_submit huge = {"f", "big", "1-r", big, sizeof(big)};
    assert_int_equal(async_submit(x->a, &huge, on_ack, &k5, &ack, &err), -1);
    assert_int_equal(err.status, 413);
    struct async_submit fits = {"f", "fits", "1-r", big, ASYNC_PAYLOAD_MAX};
    assert_int_equal(async_submit(x->a, &fits, on_ack, &k5, &ack, &err), 0);
    settle(x);
}

static void test_window_and_capacity(void **state)
{
    struct fx *x = *state;
    async_tick(x->a);
    struct acks k = {0};
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        fake_now++;
        submit(x, "f", id, id, &k);
    }
    settle(x);
    assert_int_equal(k.n, 5);
    /* window 2: two wait inside the scheduler, three in our queue */
    assert_int_equal(fake_open(&x->fake), 2);
    struct async_counts c;
    async_counts(x->a, "f", &c);
    assert_int_equal(c.by_status[TASK_ENQUEUED], 5);
    assert_true(c.oldest_enqueued_age_ms >= 4);
    /* Starting one makes room for the next, in order. */
    fake_start(fake_job(&x->fake, 0), "i1");
    assert_int_equal(fake_open(&x->fake), 3);
    assert_memory_equal(fake_job(&x->fake, 2)->body, "t2", 2);
    for (int round = 0; round < 10 && fake_open(&x->fake); round++) {
        struct fjob *j = fake_job(&x->fake, 0);
        if (!j->started)
            fake_start(j, "i1");
        fake_finish(j, 200, "ok", NULL);
    }
    settle(x);
    async_counts(x->a, "f", &c);
    assert_int_equal(c.by_status[TASK_SUCCEEDED], 5);
    assert_int_equal(c.oldest_enqueued_age_ms, 0);
    /* A scheduler that refuses (busy) keeps tasks queued for the next tick. */
    x->fake.fail_status = 503;
    submit(x, "f", "later", "x", &k);
    settle(x);
    assert_string_equal(status_of(x, "f", "later"), "Enqueued");
    x->fake.fail_status = 0;
    async_tick(x->a);
    assert_int_equal(fake_open(&x->fake), 1);
    /* A function that is gone makes its task Invalid. */
    x->fake.fail_status = 404;
    fake_finish(fake_job(&x->fake, 0), 200, "", NULL);
    submit(x, "f", "gone", "x", &k);
    settle(x);
    assert_string_equal(status_of(x, "f", "gone"), "Invalid");
    x->fake.fail_status = 0;
}

static void test_retries_with_backoff(void **state)
{
    struct fx *x = *state;
    x->opts.window = 2;
    add_fn(x, "r", "{\"maxAsyncRetryAttempts\": 2}");
    async_tick(x->a);
    struct acks k = {0};
    submit(x, "r", "flaky", "p", &k);
    settle(x);
    int64_t t0 = fake_now;
    for (int attempt = 0; attempt < 3; attempt++) {
        struct fjob *j = fake_job(&x->fake, 0);
        assert_non_null(j);
        fake_start(j, "i");
        assert_string_equal(status_of(x, "r", "flaky"), "Running");
        assert_int_equal(int_of(x, "r", "flaky", "alreadyRetriedTimes"), attempt);
        fake_finish(j, 500, "oops", NULL);
        settle(x);
        if (attempt == 2)
            break;
        assert_string_equal(status_of(x, "r", "flaky"), "Retrying");
        /* Backoff: 100 ms, then 200 ms. Not a moment earlier. */
        int64_t wait = attempt == 0 ? 100 : 200;
        fake_now += wait - 1;
        async_tick(x->a);
        assert_int_equal(fake_open(&x->fake), 0);
        fake_now += 1;
        async_tick(x->a);
        assert_int_equal(fake_open(&x->fake), 1);
    }
    json_t *t = get(x, "r", "flaky");
    assert_string_equal(json_string_value(json_object_get(t, "status")), "Failed");
    assert_int_equal(json_integer_value(json_object_get(t, "alreadyRetriedTimes")), 2);
    assert_non_null(strstr(json_string_value(json_object_get(t, "taskErrorMessage")), "500"));
    assert_int_equal(json_integer_value(json_object_get(t, "returnStatusCode")), 500);
    assert_int_equal(json_integer_value(json_object_get(t, "endTime")), fake_now);
    size_t i, retrying = 0;
    json_t *e;
    json_array_foreach(json_object_get(t, "events"), i, e) retrying +=
        strcmp(json_string_value(json_object_get(e, "status")), "Retrying") == 0;
    assert_int_equal(retrying, 2);
    json_decref(t);
    assert_true(fake_now - t0 == 300);
    assert_int_equal(x->fake.submitted, 3);

    /* A crash then a success; a start failure counts as an attempt. */
    submit(x, "r", "crashy", "p", &k);
    settle(x);
    struct fjob *j = fake_job(&x->fake, 0);
    fake_finish(j, 0, NULL, "InstanceStartFailed"); /* never started */
    settle(x);
    assert_string_equal(status_of(x, "r", "crashy"), "Retrying");
    fake_now += 100;
    async_tick(x->a);
    j = fake_job(&x->fake, 0);
    fake_start(j, "i");
    fake_finish(j, 0, NULL, "FunctionCrashed");
    settle(x);
    fake_now += 200;
    async_tick(x->a);
    j = fake_job(&x->fake, 0);
    fake_start(j, "i");
    fake_finish(j, 200, "fine", NULL);
    settle(x);
    assert_string_equal(status_of(x, "r", "crashy"), "Succeeded");
    assert_int_equal(int_of(x, "r", "crashy", "alreadyRetriedTimes"), 2);

    /* No retries at all with maxAsyncRetryAttempts 0. */
    add_fn(x, "once", "{\"maxAsyncRetryAttempts\": 0}");
    submit(x, "once", "t", "p", &k);
    settle(x);
    j = fake_job(&x->fake, 0);
    fake_start(j, "i");
    fake_finish(j, 0, NULL, "FunctionTimeout");
    settle(x);
    assert_string_equal(status_of(x, "once", "t"), "Failed");
}

static void test_expiry(void **state)
{
    struct fx *x = *state;
    add_fn(x, "e", "{\"maxAsyncEventAgeInSeconds\": 1}");
    async_tick(x->a);
    struct acks k = {0};
    submit(x, "e", "a", "p", &k); /* these two wait inside the scheduler */
    submit(x, "e", "b", "p", &k);
    submit(x, "e", "c", "p", &k); /* this one in our queue */
    submit(x, "e", "d", "p", &k); /* and this one */
    settle(x);
    assert_int_equal(fake_open(&x->fake), 2);
    fake_start(fake_job(&x->fake, 0), "i"); /* a runs: never expires; c takes its place */
    assert_int_equal(fake_open(&x->fake), 3);
    fake_now += 1000;
    async_tick(x->a);
    assert_string_equal(status_of(x, "e", "b"), "Enqueued"); /* exactly 1 s: not yet */
    fake_now += 1001;
    async_tick(x->a);
    settle(x);
    assert_string_equal(status_of(x, "e", "a"), "Running");
    assert_string_equal(status_of(x, "e", "b"), "Expired");
    assert_string_equal(status_of(x, "e", "c"), "Expired");
    assert_string_equal(status_of(x, "e", "d"), "Expired");
    assert_int_equal(x->fake.stops, 2); /* b and c left the scheduler's queue */
    assert_int_equal(x->fake.submitted, 3);
    fake_deliver_stops(&x->fake); /* their "Stopped" is ignored */
    assert_string_equal(status_of(x, "e", "b"), "Expired");
    fake_finish(fake_job(&x->fake, 0), 200, "late but fine", NULL);
    settle(x);
    assert_string_equal(status_of(x, "e", "a"), "Succeeded");
}

struct stopped {
    int n, status;
    char task_status[32];
};

static void on_stop(void *ud, int status, json_t *task, const char *msg)
{
    struct stopped *s = ud;
    s->n++;
    s->status = status;
    snprintf(s->task_status, sizeof(s->task_status), "%s",
             task ? json_string_value(json_object_get(task, "status")) : "");
}

static void test_stop(void **state)
{
    struct fx *x = *state;
    async_tick(x->a);
    struct acks k = {0};
    submit(x, "f", "run", "p", &k);
    submit(x, "f", "sched", "p", &k);
    submit(x, "f", "queued", "p", &k);
    settle(x);
    struct fjob *run = fake_job(&x->fake, 0);
    assert_int_equal(fake_open(&x->fake), 2); /* window 2: "queued" waits with us */
    /* In our queue: Stopped at once. */
    struct stopped s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0};
    struct frost_err err = {0};
    assert_int_equal(async_stop(x->a, "f", "queued", on_stop, &s1, &err), 0);
    assert_int_equal(s1.n, 0);
    settle(x);
    assert_int_equal(s1.n, 1);
    assert_int_equal(s1.status, 0);
    assert_string_equal(s1.task_status, "Stopped");
    assert_int_equal(x->fake.stops, 0);
    fake_start(run, "i"); /* room in the window, but "queued" is no more */
    assert_int_equal(fake_open(&x->fake), 2);
    /* Waiting inside the scheduler: it leaves that queue, Stopped at once. */
    assert_int_equal(async_stop(x->a, "f", "sched", on_stop, &s2, &err), 0);
    settle(x);
    assert_string_equal(s2.task_status, "Stopped");
    assert_int_equal(x->fake.stops, 1);
    /* Running: Stopping until the scheduler has aborted it. */
    assert_int_equal(async_stop(x->a, "f", "run", on_stop, &s3, &err), 0);
    settle(x);
    assert_string_equal(s3.task_status, "Stopping");
    assert_int_equal(x->fake.stops, 2);
    assert_int_equal(async_stop(x->a, "f", "run", on_stop, &s4, &err), 0); /* again: fine */
    settle(x);
    assert_string_equal(s4.task_status, "Stopping");
    assert_int_equal(x->fake.stops, 2);
    fake_deliver_stops(&x->fake);
    settle(x);
    assert_string_equal(status_of(x, "f", "run"), "Stopped");
    assert_string_equal(status_of(x, "f", "sched"), "Stopped");
    /* Finished or unknown tasks cannot be stopped. */
    struct stopped s5 = {0};
    assert_int_equal(async_stop(x->a, "f", "run", on_stop, &s5, &err), -1);
    assert_int_equal(err.status, 409);
    assert_string_equal(err.code, "AsyncTaskAlreadyFinished");
    assert_int_equal(async_stop(x->a, "f", "nope", on_stop, &s5, &err), -1);
    assert_int_equal(err.status, 404);
    assert_string_equal(err.code, "AsyncTaskNotFound");
    assert_int_equal(s5.n, 0);
    /* Nothing more was dispatched for the stopped ones. */
    assert_int_equal(x->fake.submitted, 2);
    /* Stopped is terminal after a restart too. */
    crash_and_reopen(x);
    async_tick(x->a);
    assert_int_equal(x->fake.submitted, 0);
    assert_string_equal(status_of(x, "f", "queued"), "Stopped");
}

static void test_recovery_after_crash(void **state)
{
    struct fx *x = *state;
    add_fn(x, "r1", "{\"maxAsyncRetryAttempts\": 1}");
    add_fn(x, "r0", "{\"maxAsyncRetryAttempts\": 0}");
    async_tick(x->a);
    struct acks k = {0};
    submit(x, "r1", "running", "p-running", &k);
    submit(x, "r0", "running0", "p", &k);
    submit(x, "f", "queued", "p-queued", &k);
    submit(x, "f", "queued2", "p-queued2", &k);
    submit(x, "f", "stopping", "p", &k);
    settle(x);
    fake_start(fake_job(&x->fake, 0), "inst-a");
    fake_start(fake_job(&x->fake, 1), "inst-b");
    /* stopping is the 5th submitted: window 2 on f, so make it run */
    fake_start(fake_job(&x->fake, 2), "inst-c"); /* queued */
    struct stopped s = {0};
    struct frost_err err = {0};
    assert_int_equal(async_stop(x->a, "f", "queued", on_stop, &s, &err), 0);
    settle(x);
    assert_string_equal(status_of(x, "f", "queued"), "Stopping");

    crash_and_reopen(x);
    assert_int_equal(x->fake.submitted, 0); /* nothing runs before the first tick */
    async_tick(x->a);
    settle(x);
    /* Running with an attempt left: retried (the lost attempt counts). */
    json_t *t = get(x, "r1", "running");
    assert_string_equal(json_string_value(json_object_get(t, "status")), "Retrying");
    assert_non_null(
        strstr(json_string_value(json_object_get(t, "taskErrorMessage")), "interrupted"));
    assert_string_equal(json_string_value(json_object_get(t, "taskPayload")), "p-running");
    json_decref(t);
    /* Running with none left: Failed. */
    assert_string_equal(status_of(x, "r0", "running0"), "Failed");
    /* Stopping: Stopped. */
    assert_string_equal(status_of(x, "f", "queued"), "Stopped");
    /* Enqueued ones run again, oldest first. */
    struct fjob *j = fake_job(&x->fake, 0);
    assert_non_null(j);
    assert_memory_equal(j->body, "p-queued2", 9);
    fake_now += 100;
    async_tick(x->a);
    bool seen = false;
    for (int i = 0; fake_job(&x->fake, i); i++)
        seen |= strcmp(fake_job(&x->fake, i)->fn, "r1") == 0;
    assert_true(seen);
    for (int i = 0; fake_job(&x->fake, 0) && i < 10; i++) {
        j = fake_job(&x->fake, 0);
        fake_start(j, "i");
        fake_finish(j, 200, "ok", NULL);
    }
    settle(x);
    assert_string_equal(status_of(x, "r1", "running"), "Succeeded");
    assert_int_equal(int_of(x, "r1", "running", "alreadyRetriedTimes"), 1);
    assert_string_equal(status_of(x, "f", "stopping"), "Succeeded");
}

static void test_shutdown_puts_running_back(void **state)
{
    struct fx *x = *state;
    async_tick(x->a);
    struct acks k = {0};
    submit(x, "f", "a", "p", &k);
    submit(x, "f", "b", "p", &k);
    settle(x);
    fake_start(fake_job(&x->fake, 0), "i");
    async_shutdown(x->a);
    assert_int_equal(x->fake.stops, 2);
    fake_deliver_stops(&x->fake);
    settle(x);
    struct async_ack ack;
    struct frost_err err = {0};
    struct async_submit s = {"f", "c", "1-r", "x", 1};
    assert_int_equal(async_submit(x->a, &s, on_ack, &k, &ack, &err), -1);
    assert_int_equal(err.status, 503);
    crash_and_reopen(x);
    async_tick(x->a);
    assert_string_equal(status_of(x, "f", "a"), "Enqueued");
    assert_int_equal(int_of(x, "f", "a", "alreadyRetriedTimes"), 0);
    assert_int_equal(x->fake.submitted, 2);
}

static void test_list_and_paging(void **state)
{
    struct fx *x = *state;
    async_tick(x->a);
    x->fake.fail_status = 503; /* keep them all Enqueued */
    struct acks k = {0};
    char id[16];
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "%s%02d", i % 2 ? "odd" : "even", i);
        fake_now += 10;
        submit(x, "f", id, "p", &k);
    }
    settle(x);
    x->fake.fail_status = 0;
    int64_t base = fake_now - 250;
    /* Pages of 10, oldest first, then newest first. */
    for (int desc = 0; desc < 2; desc++) {
        struct async_list_opts o = {.status = ASYNC_STATUS_ANY, .limit = 10, .descending = desc};
        char token[256] = "";
        int total = 0, pages = 0;
        int64_t last = desc ? INT64_MAX : 0;
        for (;;) {
            o.token = token;
            json_t *out = NULL;
            struct frost_err err = {0};
            assert_int_equal(async_list(x->a, "f", &o, &out, &err), 0);
            json_t *arr = json_object_get(out, "tasks");
            size_t i;
            json_t *t;
            json_array_foreach(arr, i, t)
            {
                int64_t st = json_integer_value(json_object_get(t, "startedTime"));
                assert_true(desc ? st < last : st > last);
                last = st;
                assert_null(json_object_get(t, "taskPayload"));
                total++;
            }
            pages++;
            const char *nt = json_string_value(json_object_get(out, "nextToken"));
            if (!nt) {
                json_decref(out);
                break;
            }
            assert_int_equal(json_array_size(arr), 10);
            snprintf(token, sizeof(token), "%s", nt);
            json_decref(out);
        }
        assert_int_equal(total, 25);
        assert_int_equal(pages, 3);
    }
    /* Filters. */
    struct async_list_opts o = {.status = ASYNC_STATUS_ANY, .limit = 100, .prefix = "odd"};
    json_t *out = NULL;
    struct frost_err err = {0};
    assert_int_equal(async_list(x->a, "f", &o, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "tasks")), 12);
    json_decref(out);
    o = (struct async_list_opts){.status = ASYNC_STATUS_ANY,
                                 .limit = 100,
                                 .begin_ms = base + 50,
                                 .end_ms = base + 100,
                                 .with_payload = true};
    assert_int_equal(async_list(x->a, "f", &o, &out, &err), 0);
    json_t *arr = json_object_get(out, "tasks");
    assert_int_equal(json_array_size(arr), 6);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "taskPayload")),
                        "p");
    json_decref(out);
    o = (struct async_list_opts){.status = TASK_RUNNING, .limit = 100};
    assert_int_equal(async_list(x->a, "f", &o, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "tasks")), 0);
    json_decref(out);
    o.status = ASYNC_STATUS_DEQUEUED;
    assert_int_equal(async_list(x->a, "f", &o, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "tasks")), 0);
    json_decref(out);
    o.status = TASK_ENQUEUED;
    assert_int_equal(async_list(x->a, "f", &o, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "tasks")), 25);
    json_decref(out);
    /* A function without tasks lists nothing; a forged token is refused. */
    assert_int_equal(async_list(x->a, "none", &o, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "tasks")), 0);
    json_decref(out);
    o.token = "garbage";
    assert_int_equal(async_list(x->a, "f", &o, &out, &err), -1);
    assert_int_equal(err.status, 400);
    /* A token whose task is gone still continues after its place. */
    o = (struct async_list_opts){.status = ASYNC_STATUS_ANY, .limit = 5};
    char tok[64];
    snprintf(tok, sizeof(tok), "%lld:even04x", (long long)(base + 50));
    o.token = tok;
    assert_int_equal(async_list(x->a, "f", &o, &out, &err), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "tasks"), 0), "taskId")),
                        "odd05");
    json_decref(out);
    assert_int_equal(async_status_filter("Dequeued"), ASYNC_STATUS_DEQUEUED);
    assert_int_equal(async_status_filter("Expired"), TASK_EXPIRED);
    assert_int_equal(async_status_filter("expired"), -3);
}

static void test_destination_function(void **state)
{
    struct fx *x = *state;
    add_fn(x, "sink", NULL);
    add_fn(x, "src",
           "{\"maxAsyncRetryAttempts\": 0, \"destinationConfig\": {\"onSuccess\": "
           "{\"destination\": \"acs:fc:cn-test:42:functions/sink\"}, \"onFailure\": "
           "{\"destination\": \"sink\"}}}");
    add_fn(x, "hook",
           "{\"destinationConfig\": {\"onSuccess\": {\"destination\": "
           "\"http://127.0.0.1:9/x\"}}}");
    async_tick(x->a);
    struct acks k = {0};
    submit(x, "src", "ok", "in-ok", &k);
    submit(x, "src", "bad", "in-bad", &k);
    settle(x);
    struct fjob *j = fake_job(&x->fake, 0);
    fake_start(j, "i");
    fake_finish(j, 200, "out-ok", NULL);
    j = fake_job(&x->fake, 0);
    fake_start(j, "i");
    fake_finish(j, 502, "out-bad", NULL);
    settle(x);
    assert_string_equal(status_of(x, "src", "ok"), "Succeeded");
    assert_string_equal(status_of(x, "src", "bad"), "Failed");
    json_t *t = get(x, "src", "ok");
    assert_string_equal(json_string_value(json_object_get(t, "destinationStatus")), "Succeeded");
    json_decref(t);
    /* Two records arrived at sink as new tasks, with FC's context. */
    int records = 0;
    for (int i = 0; fake_job(&x->fake, i); i++) {
        struct fjob *d = fake_job(&x->fake, i);
        if (strcmp(d->fn, "sink") != 0)
            continue;
        records++;
        json_error_t je;
        json_t *rec = json_loadb(d->body, d->len, 0, &je);
        assert_non_null(rec);
        json_t *ctx = json_object_get(rec, "requestContext");
        const char *cond = json_string_value(json_object_get(ctx, "condition"));
        const char *req = json_string_value(json_object_get(rec, "requestPayload"));
        const char *resp = json_string_value(json_object_get(rec, "responsePayload"));
        assert_string_equal(json_string_value(json_object_get(ctx, "functionArn")),
                            "acs:fc:cn-test:42:functions/src");
        if (strcmp(cond, "Success") == 0) {
            assert_string_equal(req, "in-ok");
            assert_string_equal(resp, "out-ok");
        } else {
            assert_string_equal(cond, "RetriesExhausted");
            assert_string_equal(req, "in-bad");
            assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(rec, "responseContext"), "statusCode")),
                             502);
        }
        json_decref(rec);
    }
    assert_int_equal(records, 2);
    struct async_counts c;
    async_counts(x->a, "sink", &c);
    assert_int_equal(c.by_status[TASK_ENQUEUED], 2);
    /* Webhooks are off here: the outcome says so. */
    submit(x, "hook", "w", "p", &k);
    settle(x);
    j = fake_job(&x->fake, 0);
    while (j && strcmp(j->fn, "hook") != 0)
        j = j->next;
    assert_non_null(j);
    fake_start(j, "i");
    fake_finish(j, 200, "", NULL);
    settle(x);
    t = get(x, "hook", "w");
    assert_string_equal(json_string_value(json_object_get(t, "destinationStatus")), "Failed");
    json_decref(t);
    /* A restart does not deliver twice. */
    crash_and_reopen(x);
    async_tick(x->a);
    settle(x);
    async_counts(x->a, "sink", &c);
    assert_int_equal(c.by_status[TASK_ENQUEUED], 2);
}

static void test_retention(void **state)
{
    struct fx *x = *state;
    close_all(x);
    x->opts.retention_ms = 1000;
    x->opts.max_finished = 3;
    open_store(x);
    x->opts.store = x->store;
    open_async(x);
    async_tick(x->a);
    struct acks k = {0};
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        fake_now++;
        submit(x, "f", id, "p", &k);
        settle(x);
        struct fjob *j = fake_job(&x->fake, 0);
        fake_start(j, "i");
        fake_finish(j, 200, "ok", NULL);
    }
    settle(x);
    fake_now += 60000; /* the retention pass runs once a minute */
    async_tick(x->a);
    settle(x);
    struct frost_err err = {0};
    json_t *t = async_get(x->a, "f", "t0", &err);
    assert_null(t);
    /* All are older than the retention by now. */
    struct async_counts c;
    async_counts(x->a, "f", &c);
    assert_int_equal(c.by_status[TASK_SUCCEEDED], 0);
    crash_and_reopen(x);
    async_counts(x->a, "f", &c);
    assert_int_equal(c.by_status[TASK_SUCCEEDED], 0);
}

static void test_stats_json(void **state)
{
    struct fx *x = *state;
    async_tick(x->a);
    struct acks k = {0};
    submit(x, "f", "a", "p", &k);
    settle(x);
    json_t *j = async_stats_json(x->a, "f");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "Enqueued")),
                     1);
    assert_string_equal(json_string_value(json_object_get(j, "functionName")), "f");
    json_decref(j);
}

int main(void)
{
    log_threshold = LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_ids),
        cmocka_unit_test(test_task_transitions),
        cmocka_unit_test(test_task_docs),
        cmocka_unit_test_setup_teardown(test_submit_durable_then_dispatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_and_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_with_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_puts_running_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destination_function, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_json, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
