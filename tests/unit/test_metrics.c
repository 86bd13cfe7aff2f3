/* Unit tests for src/metrics: the text writer (escaping, histograms, misuse),
 * the per-function registry and the phase observer, driven without a runtime.
 * The last test renders 1 000 functions and prints how long it took (a
 * measurement, not an assertion). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "metrics/metrics.h"
#include "spec/registry.h"

static bool contains_line(const struct buf *b, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = b->data; p && (p = strstr(p, line)); p++) {
        if ((p == b->data || p[-1] == '\n') && p[n] == '\n')
            return true;
    }
    return false;
}

#define assert_line(b, line)                                                                       \
    do {                                                                                           \
        if (!contains_line((b), (line)))                                                           \
            print_error("missing line <%s> in:\n%s\n", (line), (b)->data ? (b)->data : "");        \
        assert_true(contains_line((b), (line)));                                                   \
    } while (0)

static void test_counter_and_escaping(void **state)
{
    struct buf b = BUF_INIT(0);
    struct metrics_writer *w = metrics_writer_new(&b);
    assert_non_null(w);
    assert_int_equal(metrics_family(w, "t_total", METRICS_COUNTER, "a\\b\nc \"q\""), 0);
    struct metrics_label l[2] = {{"function", "a\"b\\c\nd"}, {"x", "plain"}};
    assert_int_equal(metrics_sample_u64(w, l, 2, 42), 0);
    assert_int_equal(metrics_sample(w, NULL, 0, 0.25), 0);
    assert_int_equal(metrics_family(w, "t_gauge", METRICS_GAUGE, ""), 0);
    assert_int_equal(metrics_sample(w, NULL, 0, -3), 0);
    assert_int_equal(metrics_sample(w, NULL, 0, 1.0 / 0.0), 0);
    assert_int_equal(metrics_sample(w, NULL, 0, 0.1), 0);
    assert_int_equal(metrics_writer_errors(w), 0);
    metrics_writer_free(w);
    /* HELP escapes backslash and newline only; label values also the quote. */
    assert_line(&b, "# HELP t_total a\\\\b\\nc \"q\"");
    assert_line(&b, "# TYPE t_total counter");
    assert_line(&b, "t_total{function=\"a\\\"b\\\\c\\nd\",x=\"plain\"} 42");
    assert_line(&b, "t_total 0.25");
    assert_line(&b, "t_gauge -3");
    assert_line(&b, "t_gauge +Inf");
    assert_line(&b, "t_gauge 0.1");
    assert_int_equal(b.data[b.len - 1], '\n');
    buf_free(&b);
}

static void test_invalid_utf8_replaced(void **state)
{
    struct buf b = BUF_INIT(0);
    struct metrics_writer *w = metrics_writer_new(&b);
    metrics_family(w, "u", METRICS_GAUGE, "h");
    /* valid 2-byte é, a stray continuation byte, an overlong "/", a truncated 3-byte */
    struct metrics_label l[1] = {{"v", "\xc3\xa9-\x80-\xc0\xaf-\xe2\x82"}};
    assert_int_equal(metrics_sample_u64(w, l, 1, 1), 0);
    metrics_writer_free(w);
    assert_line(
        &b, "u{v=\"\xc3\xa9-\xef\xbf\xbd-\xef\xbf\xbd\xef\xbf\xbd-\xef\xbf\xbd\xef\xbf\xbd\"} 1");
    buf_free(&b);
}

static void test_histogram_cumulative(void **state)
{
    static const double bounds[] = {0.1, 1, 10};
    struct metrics_hist h;
    metrics_hist_init(&h, bounds, 3);
    metrics_hist_observe(&h, 0.05);
    metrics_hist_observe(&h, 0.1); /* le is inclusive */
    metrics_hist_observe(&h, 0.5);
    metrics_hist_observe(&h, 100);
    metrics_hist_observe(&h, 0.0 / 0.0); /* NaN: ignored */
    assert_int_equal(h.count, 4);
    struct buf b = BUF_INIT(0);
    struct metrics_writer *w = metrics_writer_new(&b);
    assert_int_equal(metrics_family(w, "lat_seconds", METRICS_HISTOGRAM, "latency"), 0);
    struct metrics_label l[1] = {{"function", "f"}};
    assert_int_equal(metrics_sample_hist(w, l, 1, &h), 0);
    assert_int_equal(metrics_sample_hist(w, NULL, 0, &h), 0);
    assert_int_equal(metrics_writer_errors(w), 0);
    metrics_writer_free(w);
    assert_line(&b, "# TYPE lat_seconds histogram");
    assert_line(&b, "lat_seconds_bucket{function=\"f\",le=\"0.1\"} 2");
    assert_line(&b, "lat_seconds_bucket{function=\"f\",le=\"1\"} 3");
    assert_line(&b, "lat_seconds_bucket{function=\"f\",le=\"10\"} 3");
    assert_line(&b, "lat_seconds_bucket{function=\"f\",le=\"+Inf\"} 4");
    assert_line(&b, "lat_seconds_sum{function=\"f\"} 100.65");
    assert_line(&b, "lat_seconds_count{function=\"f\"} 4");
    assert_line(&b, "lat_seconds_bucket{le=\"+Inf\"} 4");
    assert_line(&b, "lat_seconds_count 4");
    /* The bucket lines come in le order, +Inf last, before _sum and _count. */
    const char *a = strstr(b.data, "le=\"0.1\"");
    const char *inf = strstr(b.data, "le=\"+Inf\"");
    const char *sum = strstr(b.data, "lat_seconds_sum{");
    assert_true(a && inf && sum && a < inf && inf < sum);
    buf_free(&b);
}

static void test_writer_refuses_misuse(void **state)
{
    struct buf b = BUF_INIT(0);
    struct metrics_writer *w = metrics_writer_new(&b);
    struct metrics_label ok[1] = {{"a", "1"}};
    assert_int_equal(metrics_sample_u64(w, ok, 1, 1), -1); /* no family yet */
    assert_int_equal(metrics_family(w, "9bad", METRICS_GAUGE, ""), -1);
    assert_int_equal(metrics_family(w, "good", METRICS_GAUGE, ""), 0);
    struct metrics_label bad[1] = {{"__reserved", "1"}};
    assert_int_equal(metrics_sample_u64(w, bad, 1, 1), -1);
    struct metrics_label dup[2] = {{"a", "1"}, {"a", "2"}};
    assert_int_equal(metrics_sample_u64(w, dup, 2, 1), -1);
    struct metrics_hist h;
    metrics_hist_init(&h, metrics_latency_bounds, metrics_latency_n);
    assert_int_equal(metrics_sample_hist(w, ok, 1, &h), -1);              /* a gauge family */
    assert_int_equal(metrics_family(w, "good", METRICS_COUNTER, ""), -1); /* twice */
    assert_int_equal(metrics_sample_u64(w, ok, 1, 1), -1); /* after a refused family */
    assert_int_equal(metrics_family(w, "hist", METRICS_HISTOGRAM, ""), 0);
    struct metrics_label le[1] = {{"le", "1"}};
    assert_int_equal(metrics_sample_hist(w, le, 1, &h), -1);
    assert_int_equal(metrics_writer_errors(w), 8);
    assert_non_null(strstr(metrics_writer_error(w), "outside a family"));
    metrics_writer_free(w);
    assert_null(strstr(b.data, "9bad"));
    assert_null(strstr(b.data, "__reserved"));
    assert_null(strstr(b.data, "le=\"1\""));
    buf_free(&b);
}

static void test_buffer_cap(void **state)
{
    struct buf b = BUF_INIT(64);
    struct metrics_writer *w = metrics_writer_new(&b);
    metrics_family(w, "a_rather_long_family_name_total", METRICS_COUNTER, "some help text");
    for (int i = 0; i < 10; i++)
        metrics_sample_u64(w, NULL, 0, (uint64_t)i);
    assert_true(metrics_writer_errors(w) > 0);
    assert_non_null(strstr(metrics_writer_error(w), "full"));
    assert_true(b.len <= 64);
    metrics_writer_free(w);
    buf_free(&b);
}

/* ---- registry */

static const struct rt_instance *fake(uintptr_t n)
{
    return (const struct rt_instance *)(n * 64);
}

static void phase(struct metrics *m, uintptr_t inst, const char *fn, const char *kind,
                  enum rt_phase from, enum rt_phase to)
{
    char id[32];
    snprintf(id, sizeof(id), "i-%lu", (unsigned long)inst);
    struct rt_phase_event e = {
        .inst = fake(inst),
        .instance_id = id,
        .function = fn,
        .kind = kind,
        .from = from,
        .to = to,
    };
    metrics_observe_phase(&e, m);
}

static struct metrics *new_metrics(void)
{
    struct metrics_opts o = {0};
    struct metrics *m = NULL;
    struct frost_err err = {0};
    assert_int_equal(metrics_new(&o, &m, &err), 0);
    return m;
}

static void render(struct metrics *m, struct buf *b)
{
    struct frost_err err = {0};
    buf_reset(b);
    int rc = metrics_render(m, b, &err);
    if (rc)
        print_error("render: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void test_function_counters(void **state)
{
    struct metrics *m = new_metrics();
    struct metrics_fn *f = metrics_fn_get(m, "echo");
    assert_ptr_equal(metrics_fn_get(m, "echo"), f); /* same stats, second reference */
    metrics_fn_put(f);
    for (int i = 0; i < 5; i++)
        metrics_fn_invocation(f, NULL, 0.002, 0);
    metrics_fn_invocation(f, "UnhandledInvocationError", 1.5, 0.25);
    metrics_fn_invocation(f, "UnhandledInvocationError", 0.004, 0);
    metrics_fn_invocation(f, "HandledInvocationError", 0.004, 0);
    /* A function naming many error types cannot grow the series without bound. */
    for (int i = 0; i < 20; i++) {
        char t[32];
        snprintf(t, sizeof(t), "Custom%d", i);
        metrics_fn_invocation(f, t, 0.001, 0);
    }
    metrics_fn_invocation(NULL, NULL, 1, 1); /* NULL is fine */
    struct buf b = BUF_INIT(METRICS_MAX_BYTES);
    render(m, &b);
    assert_line(&b, "frost_function_invocations_total{function=\"echo\"} 28");
    assert_line(&b, "frost_function_errors_total{function=\"echo\",error_type="
                    "\"UnhandledInvocationError\"} 2");
    assert_line(&b, "frost_function_errors_total{function=\"echo\",error_type="
                    "\"HandledInvocationError\"} 1");
    assert_line(&b, "frost_function_errors_total{function=\"echo\",error_type=\"Custom5\"} 1");
    assert_line(&b, "frost_function_errors_total{function=\"echo\",error_type=\"other\"} 14");
    assert_null(strstr(b.data, "Custom6"));
    assert_line(&b, "frost_function_invocation_duration_seconds_bucket{function=\"echo\","
                    "le=\"0.0025\"} 25");
    assert_line(&b, "frost_function_invocation_duration_seconds_count{function=\"echo\"} 28");
    assert_line(&b, "frost_function_queue_wait_seconds_bucket{function=\"echo\",le=\"0.25\"} 28");
    assert_line(&b, "frost_function_queue_wait_seconds_bucket{function=\"echo\",le=\"0.1\"} 27");
    /* The last holder gone and no instance left: the function leaves /metrics. */
    /* An exposition past the buffer's limit is an error, not a cut answer. */
    struct buf small = BUF_INIT(4096);
    struct frost_err err = {0};
    assert_int_equal(metrics_render(m, &small, &err), -1);
    assert_int_equal(err.status, 500);
    assert_non_null(strstr(err.msg, "larger than 4096 bytes"));
    buf_free(&small);
    metrics_fn_put(f);
    render(m, &b);
    assert_null(strstr(b.data, "function=\"echo\""));
    assert_line(&b, "frost_functions_tracked 0");
    buf_free(&b);
    metrics_free(m);
}

static void test_instances_from_phases(void **state)
{
    struct metrics *m = new_metrics();
    struct metrics_fn *f = metrics_fn_get(m, "gpu-fn");
    phase(m, 1, "gpu-fn", "on-demand", RT_PH_STARTING, RT_PH_STARTING);
    phase(m, 1, "gpu-fn", "on-demand", RT_PH_STARTING, RT_PH_INITIALIZING);
    phase(m, 1, "gpu-fn", "on-demand", RT_PH_INITIALIZING, RT_PH_IDLE);
    phase(m, 1, "gpu-fn", "on-demand", RT_PH_IDLE, RT_PH_ACTIVE);
    metrics_fn_first_byte(f, fake(1), 12000);
    metrics_fn_first_byte(f, fake(1), 999000000); /* only the first counts */
    phase(m, 2, "gpu-fn", "provisioned-idle", RT_PH_STARTING, RT_PH_STARTING);
    phase(m, 2, "gpu-fn", "provisioned-idle", RT_PH_STARTING, RT_PH_IDLE);
    phase(m, 2, "gpu-fn", "provisioned-idle", RT_PH_IDLE, RT_PH_FREEZING);
    phase(m, 2, "gpu-fn", "provisioned-idle", RT_PH_FREEZING, RT_PH_FROZEN);
    phase(m, 2, "gpu-fn", "provisioned-idle", RT_PH_FROZEN, RT_PH_THAWING);
    phase(m, 2, "gpu-fn", "provisioned-idle", RT_PH_THAWING, RT_PH_ACTIVE);
    /* A start that fails. */
    phase(m, 3, "gpu-fn", "on-demand", RT_PH_STARTING, RT_PH_STARTING);
    phase(m, 3, "gpu-fn", "on-demand", RT_PH_STARTING, RT_PH_FAILED);
    phase(m, 3, "gpu-fn", "on-demand", RT_PH_FAILED, RT_PH_STOPPED);
    metrics_fn_provision_target(f, 2);
    struct buf b = BUF_INIT(METRICS_MAX_BYTES);
    render(m, &b);
    assert_line(&b, "frost_function_instances{function=\"gpu-fn\",kind=\"on-demand\","
                    "state=\"active\"} 1");
    assert_line(&b, "frost_function_instances{function=\"gpu-fn\",kind=\"on-demand\","
                    "state=\"starting\"} 0");
    assert_line(&b, "frost_function_instances{function=\"gpu-fn\",kind=\"provisioned-idle\","
                    "state=\"active\"} 1");
    assert_line(&b, "frost_function_instances{function=\"gpu-fn\",kind=\"provisioned-idle\","
                    "state=\"frozen\"} 0");
    assert_line(&b, "frost_function_cold_starts_total{function=\"gpu-fn\",kind=\"on-demand\"} 1");
    assert_line(&b, "frost_function_cold_starts_total{function=\"gpu-fn\","
                    "kind=\"provisioned-idle\"} 1");
    assert_line(&b, "frost_function_cold_start_failures_total{function=\"gpu-fn\","
                    "kind=\"on-demand\"} 1");
    assert_line(&b, "frost_function_cold_start_seconds_count{function=\"gpu-fn\","
                    "phase=\"first_byte\"} 1");
    assert_line(&b, "frost_function_cold_start_seconds_sum{function=\"gpu-fn\","
                    "phase=\"first_byte\"} 0.012");
    assert_line(&b, "frost_function_cold_start_seconds_count{function=\"gpu-fn\","
                    "phase=\"total\"} 2");
    assert_line(&b, "frost_function_freezes_total{function=\"gpu-fn\"} 1");
    assert_line(&b, "frost_function_thaws_total{function=\"gpu-fn\"} 1");
    assert_line(&b, "frost_function_freeze_duration_seconds_count{function=\"gpu-fn\"} 1");
    assert_line(&b, "frost_function_thaw_duration_seconds_count{function=\"gpu-fn\"} 1");
    assert_line(&b, "frost_function_provision_target{function=\"gpu-fn\"} 2");
    assert_line(&b, "frost_function_provision_current{function=\"gpu-fn\"} 1");
    assert_line(&b, "frost_instances_tracked 2");
    /* Instances hold their function: its series stay until they are gone. */
    metrics_fn_put(f);
    render(m, &b);
    assert_line(&b, "frost_function_freezes_total{function=\"gpu-fn\"} 1");
    phase(m, 1, "gpu-fn", "on-demand", RT_PH_ACTIVE, RT_PH_STOPPING);
    phase(m, 1, "gpu-fn", "on-demand", RT_PH_STOPPING, RT_PH_STOPPED);
    phase(m, 2, "gpu-fn", "provisioned-idle", RT_PH_ACTIVE, RT_PH_STOPPING);
    render(m, &b);
    assert_line(&b, "frost_function_instances{function=\"gpu-fn\",kind=\"provisioned-idle\","
                    "state=\"stopping\"} 1");
    assert_line(&b, "frost_function_instances{function=\"gpu-fn\",kind=\"on-demand\","
                    "state=\"active\"} 0");
    phase(m, 2, "gpu-fn", "provisioned-idle", RT_PH_STOPPING, RT_PH_STOPPED);
    render(m, &b);
    assert_null(strstr(b.data, "gpu-fn"));
    assert_line(&b, "frost_instances_tracked 0");
    buf_free(&b);
    metrics_free(m);
}

/* A registered function keeps its counters when its last instance stops and
 * nothing holds it (scale to zero); deleted, it leaves /metrics. */
static void test_registered_function_keeps_counters(void **state)
{
    struct spec_registry *reg = spec_registry_new();
    assert_non_null(spec_registry_add(reg, "kept", json_object()));
    struct metrics_opts o = {.reg = reg};
    struct metrics *m = NULL;
    struct frost_err err = {0};
    assert_int_equal(metrics_new(&o, &m, &err), 0);
    phase(m, 7, "kept", "on-demand", RT_PH_STARTING, RT_PH_STARTING);
    phase(m, 7, "kept", "on-demand", RT_PH_STARTING, RT_PH_IDLE);
    phase(m, 7, "kept", "on-demand", RT_PH_IDLE, RT_PH_STOPPING);
    phase(m, 7, "kept", "on-demand", RT_PH_STOPPING, RT_PH_STOPPED);
    phase(m, 8, "kept", "on-demand", RT_PH_STARTING, RT_PH_STARTING);
    phase(m, 8, "kept", "on-demand", RT_PH_STARTING, RT_PH_IDLE);
    phase(m, 8, "kept", "on-demand", RT_PH_IDLE, RT_PH_STOPPING);
    phase(m, 8, "kept", "on-demand", RT_PH_STOPPING, RT_PH_STOPPED);
    struct buf b = BUF_INIT(METRICS_MAX_BYTES);
    render(m, &b);
    assert_line(&b, "frost_function_cold_starts_total{function=\"kept\",kind=\"on-demand\"} 2");
    spec_registry_remove(reg, spec_registry_get(reg, "kept"));
    render(m, &b);
    assert_null(strstr(b.data, "kept"));
    buf_free(&b);
    metrics_free(m);
    spec_registry_free(reg);
}

static void collect(struct metrics_writer *w, void *ud)
{
    int *calls = ud;
    (*calls)++;
    struct metrics_label l[2] = {{"function", "f"}, {"status", "Enqueued"}};
    metrics_family(w, "frost_async_tasks", METRICS_GAUGE, "Async tasks by status.");
    metrics_sample_u64(w, l, 2, 3);
    /* A collector that reuses a built-in name is refused, not rendered twice. */
    metrics_family(w, "frost_function_invocations_total", METRICS_COUNTER, "dup");
    metrics_sample_u64(w, l, 1, 99);
}

static void test_collectors(void **state)
{
    struct metrics *m = new_metrics();
    int calls = 0;
    struct frost_err err = {0};
    assert_int_equal(metrics_add_collector(m, collect, &calls, &err), 0);
    struct buf b = BUF_INIT(METRICS_MAX_BYTES);
    render(m, &b);
    assert_int_equal(calls, 1);
    assert_line(&b, "frost_async_tasks{function=\"f\",status=\"Enqueued\"} 3");
    assert_null(strstr(b.data, " 99\n"));
    assert_null(strstr(b.data, "# HELP frost_function_invocations_total dup"));
    metrics_remove_collector(m, collect, &calls);
    render(m, &b);
    assert_int_equal(calls, 1);
    assert_null(strstr(b.data, "frost_async_tasks"));
    buf_free(&b);
    metrics_free(m);
}

/* 1 000 functions, each with invocations, errors, two instances and a cold
 * start: the render time is printed for the record. */
static void test_render_1000_functions(void **state)
{
    struct metrics *m = new_metrics();
    struct metrics_fn *fns[1000];
    char name[32];
    for (uintptr_t i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "function-%04lu", (unsigned long)i);
        fns[i] = metrics_fn_get(m, name);
        assert_non_null(fns[i]);
        for (int k = 0; k < 20; k++)
            metrics_fn_invocation(fns[i], k % 7 ? NULL : "UnhandledInvocationError",
                                  0.001 * (double)(k + 1), 0.0001 * k);
        for (uintptr_t j = 0; j < 2; j++) {
            uintptr_t id = 1 + i * 2 + j;
            phase(m, id, name, "on-demand", RT_PH_STARTING, RT_PH_STARTING);
            phase(m, id, name, "on-demand", RT_PH_STARTING, RT_PH_IDLE);
            phase(m, id, name, "on-demand", RT_PH_IDLE, RT_PH_ACTIVE);
        }
    }
    struct buf b = BUF_INIT(METRICS_MAX_BYTES);
    render(m, &b); /* warm the allocations */
    uint64_t t0 = clock_mono_ns();
    render(m, &b);
    uint64_t ns = clock_mono_ns() - t0;
    size_t lines = 0;
    for (size_t i = 0; i < b.len; i++)
        lines += b.data[i] == '\n';
    printf("metrics render: 1000 functions, 2000 instances: %.2f ms, %zu bytes, %zu lines\n",
           (double)ns / 1e6, b.len, lines);
    assert_line(&b, "frost_function_invocations_total{function=\"function-0999\"} 20");
    assert_line(&b, "frost_instances_tracked 2000");
    buf_free(&b);
    for (int i = 0; i < 1000; i++)
        metrics_fn_put(fns[i]);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_escaping),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_writer_refuses_misuse),
        cmocka_unit_test(test_buffer_cap),
        cmocka_unit_test(test_function_counters),
        cmocka_unit_test(test_instances_from_phases),
        cmocka_unit_test(test_registered_function_keeps_counters),
        cmocka_unit_test(test_collectors),
        cmocka_unit_test(test_render_1000_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
