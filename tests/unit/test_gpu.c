/* Unit tests for src/gpu: spec parsing, type matching, best-fit placement,
 * card quota, env strings, and checkpoint/restore on the sim backend driven
 * by a real uv loop. No wall-clock thresholds: the modelled copy time is
 * checked through gpu_placement_copy_ns, and a huge bandwidth keeps runs fast. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "gpu/gpu.h"

#define FAST_BW UINT64_MAX

static struct gpu *mk(uv_loop_t *loop, const char *spec, unsigned quota, const char *map)
{
    struct gpu_opts o = {
        .loop = loop, .spec = spec, .sim_bandwidth = FAST_BW, .card_quota = quota, .type_map = map};
    struct gpu *g = NULL;
    struct frost_err err = {0};
    int rc = gpu_new(&o, &g, &err);
    if (rc != 0)
        print_error("gpu_new(%s): %s\n", spec, err.msg);
    assert_int_equal(rc, 0);
    return g;
}

static void expect_bad_spec(const char *spec, const char *needle)
{
    struct gpu_opts o = {.spec = spec};
    struct gpu *g = NULL;
    struct frost_err err = {0};
    assert_int_equal(gpu_new(&o, &g, &err), -1);
    assert_null(g);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "InvalidConfig");
    if (!strstr(err.msg, needle))
        print_error("message \"%s\" lacks \"%s\"\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
}

static struct gpu_placement *place(struct gpu *g, const char *type, uint64_t mb)
{
    struct gpu_placement *p = NULL;
    struct frost_err err = {0};
    int rc = gpu_place(g, type, mb, &p, &err);
    if (rc != 0)
        print_error("gpu_place(%s, %llu): %s\n", type ? type : "-", (unsigned long long)mb,
                    err.msg);
    assert_int_equal(rc, 0);
    return p;
}

static void expect_place_fails(struct gpu *g, const char *type, uint64_t mb, int status,
                               const char *code, const char *needle)
{
    struct gpu_placement *p = NULL;
    struct frost_err err = {0};
    assert_int_equal(gpu_place(g, type, mb, &p, &err), -1);
    assert_null(p);
    assert_int_equal(err.status, status);
    assert_string_equal(err.code, code);
    if (!strstr(err.msg, needle))
        print_error("message \"%s\" lacks \"%s\"\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
}

static void test_spec_none(void **state)
{
    (void)state;
    const char *specs[] = {"none", "", NULL};
    for (size_t i = 0; i < 3; i++) {
        struct gpu *g = mk(NULL, specs[i], 0, NULL);
        assert_string_equal(gpu_backend(g), "none");
        assert_int_equal(gpu_count(g), 0);
        assert_null(gpu_device(g, 0));
        expect_place_fails(g, "fc.gpu.tesla.1", 1024, 400, "InvalidArgument",
                           "no GPUs on this node");
        gpu_free(g);
    }
}

static void test_spec_generic(void **state)
{
    (void)state;
    struct gpu *g = mk(NULL, "sim:2x24GB", 0, NULL);
    assert_string_equal(gpu_backend(g), "sim");
    assert_int_equal(gpu_count(g), 2);
    for (size_t i = 0; i < 2; i++) {
        const struct gpu_device *d = gpu_device(g, i);
        assert_int_equal(d->index, i);
        assert_string_equal(d->type, "generic");
        assert_int_equal(d->memory_mb, 24576);
        assert_int_equal(d->reserved_mb, 0);
        assert_true(d->simulated);
        assert_non_null(strstr(d->name, "(simulated)"));
        assert_true(strncmp(d->uuid, "GPU-sim-", 8) == 0);
    }
    assert_string_not_equal(gpu_device(g, 0)->uuid, gpu_device(g, 1)->uuid);

    /* Deterministic: the same spec gives the same UUIDs. */
    struct gpu *g2 = mk(NULL, "sim:2x24GB", 0, NULL);
    assert_string_equal(gpu_device(g, 1)->uuid, gpu_device(g2, 1)->uuid);
    gpu_free(g2);
    gpu_free(g);
}

static void test_spec_typed(void **state)
{
    (void)state;
    struct gpu *g = mk(NULL, "sim:1xT4-16GB,1xA10-24GB,2xH100-512MB", 0, NULL);
    assert_int_equal(gpu_count(g), 4);
    assert_string_equal(gpu_device(g, 0)->type, "T4");
    assert_string_equal(gpu_device(g, 0)->name, "Tesla T4 (simulated)");
    assert_int_equal(gpu_device(g, 0)->memory_mb, 16384);
    assert_string_equal(gpu_device(g, 1)->type, "A10");
    assert_string_equal(gpu_device(g, 1)->name, "NVIDIA A10 (simulated)");
    assert_int_equal(gpu_device(g, 1)->memory_mb, 24576);
    assert_string_equal(gpu_device(g, 3)->type, "H100");
    assert_string_equal(gpu_device(g, 3)->name, "H100 (simulated)");
    assert_int_equal(gpu_device(g, 3)->memory_mb, 512);
    gpu_free(g);

    g = mk(NULL, "sim:64x1GB", 0, NULL);
    assert_int_equal(gpu_count(g), GPU_MAX_DEVICES);
    gpu_free(g);
}

static void test_spec_invalid(void **state)
{
    (void)state;
    expect_bad_spec("nvidia", "expected \"none\"");
    expect_bad_spec("sim:", "no devices");
    expect_bad_spec("sim:2x", "2x");
    expect_bad_spec("sim:x24GB", "x24GB");
    expect_bad_spec("sim:0x24GB", "0x24GB");
    expect_bad_spec("sim:2*24GB", "2*24GB");
    expect_bad_spec("sim:2x24", "size \"24\"");
    expect_bad_spec("sim:2x24TB", "size \"24TB\"");
    expect_bad_spec("sim:2x0GB", "size \"0GB\"");
    expect_bad_spec("sim:1xT4-16GB,", "device group \"\"");
    expect_bad_spec("sim:1x-16GB", "device type");
    expect_bad_spec("sim:1xT 4-16GB", "device type");
    expect_bad_spec("sim:65x1GB", "more than 64 devices");
    expect_bad_spec("sim:40x1GB,25x1GB", "more than 64 devices");
    expect_bad_spec("sim:99999999999999999999x1GB", "99999999999999999999x1GB");
    expect_bad_spec("sim:1x99999999999GB", "size");

    struct gpu_opts o = {.spec = "sim:1x1GB", .type_map = "fc.gpu.tesla.1"};
    struct gpu *g = NULL;
    struct frost_err err = {0};
    assert_int_equal(gpu_new(&o, &g, &err), -1);
    assert_string_equal(err.code, "InvalidConfig");
    assert_non_null(strstr(err.msg, "fc.gpu.tesla.1"));
}

static void test_type_matching(void **state)
{
    (void)state;
    struct gpu *g = mk(NULL, "sim:1xT4-16GB,1xA10-24GB,1xL20-48GB", 0, NULL);
    struct gpu_placement *t4 = place(g, "fc.gpu.tesla.1", 4096);
    assert_string_equal(gpu_placement_device(t4)->type, "T4");
    struct gpu_placement *a10 = place(g, "fc.gpu.ampere.1", 4096);
    assert_string_equal(gpu_placement_device(a10)->type, "A10");
    expect_place_fails(g, "fc.gpu.hopper.1", 1024, 400, "InvalidArgument", "H100");
    expect_place_fails(g, "fc.gpu.ada.2", 1024, 400, "InvalidArgument", "L4");

    /* Whole-card type: takes all of a free card. */
    struct gpu_placement *ada = place(g, "fc.gpu.ada.1", 1024);
    assert_string_equal(gpu_placement_device(ada)->type, "L20");
    assert_int_equal(gpu_placement_mb(ada), 49152);
    assert_int_equal(gpu_placement_device(ada)->reserved_mb, 49152);
    expect_place_fails(g, "fc.gpu.ada.3", 1024, 503, "ResourceExhausted", "no L20 GPU");
    gpu_release(g, ada);

    /* ada.3 is a slice type on the same card; a whole-card request then finds no free card. */
    struct gpu_placement *ada3 = place(g, "fc.gpu.ada.3", 1024);
    expect_place_fails(g, "fc.gpu.ada.1", 1024, 503, "ResourceExhausted", "whole card");
    gpu_release(g, ada3);

    /* No gpuType: any device. */
    struct gpu_placement *any = place(g, NULL, 1024);
    gpu_release(g, any);
    gpu_release(g, t4);
    gpu_release(g, a10);
    gpu_free(g);

    /* Generic devices accept every type; the type map can be overridden. */
    g = mk(NULL, "sim:1x24GB,1xL4-24GB", 0, "fc.gpu.tesla.1=L4,fc.custom.1=X1");
    struct gpu_placement *p = place(g, "fc.gpu.hopper.1", 1024);
    assert_string_equal(gpu_placement_device(p)->type, "generic");
    struct gpu_placement *q = place(g, "fc.gpu.tesla.1", 2048);
    /* Best fit: the generic device holding 1 GB has less free memory than the empty L4. */
    assert_int_equal(gpu_placement_device(q)->index, 0);
    struct gpu_placement *r = place(g, "fc.custom.1", 1024);
    assert_string_equal(gpu_placement_device(r)->type, "generic");
    gpu_release(g, p);
    gpu_release(g, q);
    gpu_release(g, r);
    gpu_free(g);
}

static void test_best_fit(void **state)
{
    (void)state;
    struct gpu *g = mk(NULL, "sim:2x24GB", 0, NULL);
    struct gpu_placement *a = place(g, "fc.gpu.ampere.1", 16384);
    struct gpu_placement *b = place(g, "fc.gpu.ampere.1", 16384);
    assert_int_not_equal(gpu_placement_device(a)->index, gpu_placement_device(b)->index);
    struct gpu_placement *c = place(g, "fc.gpu.ampere.1", 8192);
    assert_int_equal(gpu_placement_device(c)->reserved_mb, 24576);
    /* Never over-commits: 8 GB is left in total but no device has 1 MB more than that free. */
    expect_place_fails(g, "fc.gpu.ampere.1", 8193, 503, "ResourceExhausted",
                       "largest free 8192 MB");
    struct gpu_placement *d = place(g, "fc.gpu.ampere.1", 8192);
    expect_place_fails(g, "fc.gpu.ampere.1", 1, 503, "ResourceExhausted", "2 devices");
    expect_place_fails(g, "fc.gpu.ampere.1", 0, 400, "InvalidArgument", "> 0");

    struct gpu_usage u;
    gpu_usage(g, &u);
    assert_int_equal(u.memory_mb, 49152);
    assert_int_equal(u.reserved_mb, 49152);
    assert_int_equal(u.cards_in_use, 2);

    gpu_release(g, c);
    gpu_release(g, NULL);
    gpu_usage(g, &u);
    assert_int_equal(u.reserved_mb, 40960);
    gpu_release(g, a);
    gpu_release(g, b);
    gpu_release(g, d);
    gpu_usage(g, &u);
    assert_int_equal(u.reserved_mb, 0);
    assert_int_equal(u.cards_in_use, 0);
    gpu_free(g);
}

static void test_quota(void **state)
{
    (void)state;
    struct gpu *g = mk(NULL, "sim:3x16GB", 1, NULL);
    struct gpu_placement *a = place(g, NULL, 8192);
    /* The card in use still takes slices... */
    struct gpu_placement *b = place(g, NULL, 8192);
    assert_int_equal(gpu_placement_device(a)->index, gpu_placement_device(b)->index);
    /* ...but an empty card would be a second one. */
    expect_place_fails(g, NULL, 1024, 503, "ResourceExhausted", "quota reached (1 of 1");
    struct gpu_usage u;
    gpu_usage(g, &u);
    assert_int_equal(u.cards_in_use, 1);
    assert_int_equal(u.card_quota, 1);
    gpu_release(g, a);
    gpu_release(g, b);
    struct gpu_placement *c = place(g, NULL, 16384);
    gpu_release(g, c);
    gpu_free(g);
}

static void test_env(void **state)
{
    (void)state;
    struct gpu *g = mk(NULL, "sim:1xT4-16GB", 0, NULL);
    struct gpu_placement *p = place(g, "fc.gpu.tesla.1", 4096);
    const char *uuid = gpu_placement_device(p)->uuid;
    char want[5][160];
    snprintf(want[0], sizeof(want[0]), "CUDA_VISIBLE_DEVICES=%s", uuid);
    snprintf(want[1], sizeof(want[1]), "NVIDIA_VISIBLE_DEVICES=%s", uuid);
    snprintf(want[2], sizeof(want[2]), "FROST_GPU_MEMORY_MB=4096");
    snprintf(want[3], sizeof(want[3]), "FROST_GPU_DEVICE_NAME=Tesla T4 (simulated)");
    snprintf(want[4], sizeof(want[4]), "FROST_GPU_SIMULATED=1");
    char *const *env = gpu_placement_env(p);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(env[i], want[i]);
    assert_null(env[5]);
    gpu_release(g, p);
    gpu_free(g);
}

/* ---- checkpoint / restore ------------------------------------------- */

struct rec {
    int calls;
    int status;
    struct frost_err err;
    struct gpu_placement *p;
};

static void on_done(struct gpu_placement *p, int status, const struct frost_err *err, void *ud)
{
    struct rec *r = ud;
    r->calls++;
    r->status = status;
    r->p = p;
    if (err)
        r->err = *err;
}

static void run(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
}

static void checkpoint_ok(uv_loop_t *loop, struct gpu *g, struct gpu_placement *p)
{
    struct rec r = {0};
    gpu_checkpoint(g, p, 1234, on_done, &r);
    assert_int_equal(r.calls, 0); /* asynchronous */
    assert_true(gpu_busy(g));
    run(loop);
    assert_false(gpu_busy(g));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
    assert_ptr_equal(r.p, p);
    assert_true(gpu_placement_checkpointed(p));
}

static void test_checkpoint_frees_memory(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct gpu *g = mk(&loop, "sim:1x24GB", 0, NULL);
    struct gpu_placement *a = place(g, NULL, 16384);
    expect_place_fails(g, NULL, 16384, 503, "ResourceExhausted", "largest free 8192 MB");
    checkpoint_ok(&loop, g, a);
    assert_int_equal(gpu_device(g, 0)->reserved_mb, 0);
    assert_int_equal(gpu_placement_mb(a), 16384); /* size kept for the restore */
    struct gpu_usage u;
    gpu_usage(g, &u);
    assert_int_equal(u.cards_in_use, 0);

    struct gpu_placement *b = place(g, NULL, 16384);
    gpu_release(g, b);

    struct rec r = {0};
    gpu_restore(g, a, 1234, on_done, &r);
    run(&loop);
    assert_int_equal(r.status, 0);
    assert_false(gpu_placement_checkpointed(a));
    assert_int_equal(gpu_device(g, 0)->reserved_mb, 16384);

    /* Releasing a checkpointed placement gives back nothing twice. */
    checkpoint_ok(&loop, g, a);
    gpu_release(g, a);
    assert_int_equal(gpu_device(g, 0)->reserved_mb, 0);
    gpu_free(g);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_restore_moves(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct gpu *g = mk(&loop, "sim:2xT4-16GB,1xA10-24GB", 0, NULL);
    struct gpu_placement *a = place(g, "fc.gpu.tesla.1", 12288);
    int first = gpu_placement_device(a)->index;
    checkpoint_ok(&loop, g, a);
    /* Someone fills the first card while a is frozen. */
    struct gpu_placement *b = place(g, "fc.gpu.tesla.1", 16384);
    assert_int_equal(gpu_placement_device(b)->index, first);

    struct rec r = {0};
    gpu_restore(g, a, 1234, on_done, &r);
    run(&loop);
    assert_int_equal(r.status, 0);
    assert_false(gpu_placement_checkpointed(a));
    const struct gpu_device *d = gpu_placement_device(a);
    assert_int_not_equal(d->index, first);
    assert_string_equal(d->type, "T4");
    assert_int_equal(d->reserved_mb, 12288);
    char want[160];
    snprintf(want, sizeof(want), "CUDA_VISIBLE_DEVICES=%s", d->uuid);
    assert_string_equal(gpu_placement_env(a)[0], want);
    snprintf(want, sizeof(want), "NVIDIA_VISIBLE_DEVICES=%s", d->uuid);
    assert_string_equal(gpu_placement_env(a)[1], want);

    gpu_release(g, a);
    gpu_release(g, b);
    gpu_free(g);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_restore_fails_when_full(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    /* The A10 has room but is another chip: a T4 restore must not land there. */
    struct gpu *g = mk(&loop, "sim:1xT4-16GB,1xA10-24GB", 0, NULL);
    struct gpu_placement *a = place(g, "fc.gpu.tesla.1", 8192);
    checkpoint_ok(&loop, g, a);
    struct gpu_placement *b = place(g, "fc.gpu.tesla.1", 12288);

    struct rec r = {0};
    gpu_restore(g, a, 1234, on_done, &r);
    run(&loop);
    assert_int_equal(r.calls, 1);
    assert_true(r.status < 0);
    assert_int_equal(r.err.status, 503);
    assert_string_equal(r.err.code, "ResourceExhausted");
    assert_non_null(strstr(r.err.msg, "no T4 GPU with 8192 MB free"));
    assert_true(gpu_placement_checkpointed(a));
    assert_int_equal(gpu_device(g, 0)->reserved_mb, 12288);
    assert_int_equal(gpu_device(g, 1)->reserved_mb, 0);

    /* Room again: the retry succeeds. */
    gpu_release(g, b);
    r = (struct rec){0};
    gpu_restore(g, a, 1234, on_done, &r);
    run(&loop);
    assert_int_equal(r.status, 0);
    gpu_release(g, a);
    gpu_free(g);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_restore_quota(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct gpu *g = mk(&loop, "sim:2x16GB", 1, NULL);
    struct gpu_placement *a = place(g, NULL, 4096);
    checkpoint_ok(&loop, g, a);
    struct gpu_placement *b = place(g, NULL, 16384); /* the single card the quota allows */
    struct rec r = {0};
    gpu_restore(g, a, 1, on_done, &r);
    assert_int_equal(r.err.status, 503);
    assert_non_null(strstr(r.err.msg, "quota"));
    assert_true(gpu_placement_checkpointed(a));
    gpu_release(g, a);
    gpu_release(g, b);
    gpu_free(g);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_concurrent_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct gpu *g = mk(&loop, "sim:1x24GB", 0, NULL);
    struct gpu_placement *a = place(g, NULL, 1024);
    struct rec r1 = {0}, r2 = {0}, r3 = {0};
    gpu_checkpoint(g, a, 1, on_done, &r1);
    gpu_checkpoint(g, a, 1, on_done, &r2);
    /* Refused at once, through done, before the loop runs. */
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r2.status, -1);
    assert_int_equal(r2.err.status, 409);
    assert_non_null(strstr(r2.err.msg, "in progress"));
    gpu_restore(g, a, 1, on_done, &r3);
    assert_int_equal(r3.err.status, 409);
    assert_int_equal(r1.calls, 0);
    run(&loop);
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r1.status, 0);

    /* State mismatches are refused too. */
    struct rec r4 = {0};
    gpu_checkpoint(g, a, 1, on_done, &r4);
    assert_int_equal(r4.err.status, 409);
    assert_non_null(strstr(r4.err.msg, "already checkpointed"));
    gpu_release(g, a);
    gpu_free(g);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Idle mode's question before a thaw: would the restore find memory now? */
static void test_restore_fits(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct gpu *g = mk(&loop, "sim:1xT4-24GB,1xA10-24GB", 0, NULL);
    struct gpu_placement *a = place(g, "fc.gpu.tesla.1", 16384);
    assert_true(gpu_restore_fits(g, a)); /* not checkpointed: nothing to restore */
    assert_true(gpu_restore_fits(g, NULL));
    checkpoint_ok(&loop, g, a);
    assert_true(gpu_restore_fits(g, a));
    struct gpu_placement *b = place(g, "fc.gpu.tesla.1", 16384);
    /* The T4 is taken and the A10 is another chip: no room for a's state. */
    assert_false(gpu_restore_fits(g, a));
    uint64_t used;
    assert_int_equal(gpu_placement_used_mb(g, b, &used), -1); /* sim cannot tell */
    gpu_release(g, b);
    assert_true(gpu_restore_fits(g, a));
    gpu_release(g, a);
    gpu_free(g);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_release_while_busy(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct gpu *g = mk(&loop, "sim:1x24GB", 0, NULL);
    struct gpu_placement *a = place(g, NULL, 1024);
    struct rec r = {0};
    gpu_checkpoint(g, a, 1, on_done, &r);
    gpu_release(g, a);
    run(&loop);
    assert_int_equal(r.calls, 0); /* the caller gave the placement up: no callback */
    assert_int_equal(gpu_device(g, 0)->reserved_mb, 0);

    a = place(g, NULL, 2048);
    checkpoint_ok(&loop, g, a);
    gpu_restore(g, a, 1, on_done, &r);
    assert_int_equal(gpu_device(g, 0)->reserved_mb, 2048); /* reserved before the copy */
    gpu_release(g, a);
    run(&loop);
    assert_int_equal(gpu_device(g, 0)->reserved_mb, 0);
    gpu_free(g);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_modelled_duration(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct gpu_opts o = {.loop = &loop, .spec = "sim:1x1GB", .sim_bandwidth = 1ull << 40};
    struct gpu *g = NULL;
    struct frost_err err = {0};
    assert_int_equal(gpu_new(&o, &g, &err), 0);
    struct gpu_placement *a = place(g, NULL, 1);
    assert_int_equal(gpu_placement_copy_ns(a), 0);
    checkpoint_ok(&loop, g, a);
    /* 1 MiB over 1 TiB/s = 1e9 / 2^20 ns. */
    assert_int_equal(gpu_placement_copy_ns(a), 953);
    gpu_release(g, a);
    gpu_free(g);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_null_placement(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct gpu *g = mk(&loop, "none", 0, NULL);
    struct rec r = {0};
    gpu_checkpoint(g, NULL, 1, on_done, &r);
    gpu_restore(g, NULL, 1, on_done, &r);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.status, 0);
    gpu_free(g);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_none),
        cmocka_unit_test(test_spec_generic),
        cmocka_unit_test(test_spec_typed),
        cmocka_unit_test(test_spec_invalid),
        cmocka_unit_test(test_type_matching),
        cmocka_unit_test(test_best_fit),
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_checkpoint_frees_memory),
        cmocka_unit_test(test_restore_moves),
        cmocka_unit_test(test_restore_fails_when_full),
        cmocka_unit_test(test_restore_quota),
        cmocka_unit_test(test_concurrent_refused),
        cmocka_unit_test(test_restore_fits),
        cmocka_unit_test(test_release_while_busy),
        cmocka_unit_test(test_modelled_duration),
        cmocka_unit_test(test_null_placement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
