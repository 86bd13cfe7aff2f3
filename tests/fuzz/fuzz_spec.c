/* libFuzzer target: the spec module's validators on arbitrary JSON, and its
 * string parsers (schedule expressions, destinations, HTTP methods) on the raw
 * bytes. Besides "no crash, no leak", it checks that whatever is accepted is a
 * fixed point: validating a stored object again gives the same object. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

/* a and b must be equal JSON; abort with both shown otherwise. */
static void same(const char *what, const json_t *a, const json_t *b)
{
    if (json_equal(a, b))
        return;
    char *sa = json_dumps(a, JSON_COMPACT), *sb = json_dumps(b, JSON_COMPACT);
    fprintf(stderr, "%s is not a fixed point:\n  first:  %s\n  second: %s\n", what, sa, sb);
    abort();
}

typedef int (*config_fn)(const json_t *, json_t **, struct frost_err *);

static void check_config(const char *what, config_fn fn, const json_t *in)
{
    struct frost_err err = {0};
    json_t *out = NULL;
    if (fn(in, &out, &err) != 0) {
        if (err.status != 400 || strcmp(err.code, "InvalidArgument") != 0)
            abort();
        return;
    }
    json_t *again = NULL;
    if (fn(out, &again, &err) != 0) {
        fprintf(stderr, "%s: stored form rejected: %s\n", what, err.msg);
        abort();
    }
    same(what, out, again);
    json_decref(again);
    json_decref(out);
}

static void check_function(const json_t *in)
{
    struct frost_err err = {0};
    json_t *fn = NULL;
    if (spec_function_create(in, &fn, &err) == 0) {
        json_t *again = NULL;
        /* The stored object has no code: give it what create needs back. */
        json_t *with_code = json_copy(fn);
        json_t *code = json_object_get(in, "code");
        if (code)
            json_object_set(with_code, "code", code);
        if (spec_function_create(with_code, &again, &err) != 0) {
            fprintf(stderr, "stored function rejected: %s\n", err.msg);
            abort();
        }
        same("function create", fn, again);
        json_decref(again);
        json_decref(with_code);

        /* Sending the same input as an update changes nothing. */
        json_t *upd = NULL;
        if (spec_function_update(fn, in, &upd, &err) != 0) {
            fprintf(stderr, "update with the create input rejected: %s\n", err.msg);
            abort();
        }
        same("function update", fn, upd);
        json_decref(upd);
        json_decref(fn);
    }

    /* The input as a patch of a valid stored function. */
    static const char base[] =
        "{\"functionName\":\"f\",\"runtime\":\"custom-container\",\"cpu\":1,\"memorySize\":2048,"
        "\"customContainerConfig\":{\"image\":\"i\",\"port\":9000}}";
    json_t *b = json_loads(base, 0, NULL);
    json_t *cur = NULL;
    if (!b || spec_function_create(b, &cur, &err) != 0)
        abort();
    json_t *upd = NULL;
    if (spec_function_update(cur, in, &upd, &err) == 0) {
        json_t *empty = json_object(), *again = NULL;
        if (spec_function_update(upd, empty, &again, &err) != 0) {
            fprintf(stderr, "updated function rejected: %s\n", err.msg);
            abort();
        }
        same("function update (empty patch)", upd, again);
        json_decref(again);
        json_decref(empty);
        json_decref(upd);
    }
    json_decref(cur);
    json_decref(b);
}

static void check_trigger(const json_t *in)
{
    check_config("trigger", spec_trigger_create, in);
    struct frost_err err = {0};
    json_t *t = NULL;
    if (spec_trigger_create(in, &t, &err) != 0)
        return;
    struct spec_http_trigger h;
    const char *type = json_string_value(json_object_get(t, "triggerType"));
    if (strcmp(type, "http") == 0) {
        if (spec_http_trigger_parse(t, &h, &err) != 0 || h.methods == 0) {
            fprintf(stderr, "stored http trigger does not parse: %s\n", err.msg);
            abort();
        }
    }
    json_t *u = NULL;
    if (spec_trigger_update(t, in, &u, &err) != 0) {
        fprintf(stderr, "trigger update with the create input rejected: %s\n", err.msg);
        abort();
    }
    same("trigger update", t, u);
    json_decref(u);
    json_decref(t);
}

static void check_strings(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return;
    memcpy(s, d, n);
    s[n] = '\0';
    struct frost_err err = {0};
    struct spec_schedule sch;
    if (spec_schedule_parse(s, "e", &sch, &err) == 0 && sch.kind == SPEC_SCHEDULE_CRON &&
        (sch.cron.sec == 0 || sch.cron.hour == 0 || sch.cron.dom == 0 || sch.cron.mon == 0 ||
         sch.cron.dow == 0))
        abort(); /* an accepted cron field always matches something */
    struct spec_destination dst;
    if (spec_destination_parse(s, "d", &dst, &err) == 0 && dst.kind == SPEC_DEST_URL &&
        dst.url != s)
        abort();
    (void)spec_function_name_check(s, &err);
    (void)spec_http_method_bit(s, n);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    check_strings(d, n);
    json_error_t jerr;
    json_t *in = json_loadb((const char *)d, n, JSON_DECODE_ANY, &jerr);
    if (!in)
        return 0;
    check_function(in);
    check_config("provision config", spec_provision_config, in);
    check_config("async config", spec_async_config, in);
    check_config("concurrency config", spec_concurrency_config, in);
    check_trigger(in);
    json_decref(in);
    return 0;
}
