/* Unit tests for src/spec/syaml: Serverless Devs s.yaml (edition 3.0.0, fc3)
 * read into FC API inputs — seed 002's file, typing, ${vars.…} and
 * ${env(…)} replacement, code paths, triggers, configs, notes, and errors
 * that carry "s.yaml:LINE:". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/spec.h"
#include "spec/syaml.h"

/* ---- helpers ------------------------------------------------------------ */

static struct spec_syaml *parse_env(const char *text, char *const *envp)
{
    struct spec_syaml *s = NULL;
    struct frost_err err = {0};
    if (spec_syaml_parse(text, strlen(text), "s.yaml", envp, &s, &err) < 0)
        fail_msg("unexpected error: %s", err.msg);
    assert_non_null(s);
    return s;
}

static struct spec_syaml *parse(const char *text)
{
    return parse_env(text, NULL);
}

/* Parsing fails with a message that starts with want_prefix and contains
 * want_part (shown in full when not). */
static void parse_fails_env(const char *text, char *const *envp, const char *want_prefix,
                            const char *want_part)
{
    struct spec_syaml *s = NULL;
    struct frost_err err = {0};
    int rc = spec_syaml_parse(text, strlen(text), "s.yaml", envp, &s, &err);
    if (rc == 0) {
        spec_syaml_free(s);
        fail_msg("expected an error starting with \"%s\"", want_prefix);
    }
    assert_null(s);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "InvalidTemplate");
    if (strncmp(err.msg, want_prefix, strlen(want_prefix)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err.msg, want_prefix);
    if (want_part && !strstr(err.msg, want_part))
        fail_msg("message \"%s\" does not contain \"%s\"", err.msg, want_part);
}

static void parse_fails(const char *text, const char *want_prefix, const char *want_part)
{
    parse_fails_env(text, NULL, want_prefix, want_part);
}

static const json_t *fn_get(const struct spec_syaml *s, size_t i, const char *key)
{
    assert_true(i < s->n_resources);
    return json_object_get(s->resources[i].function, key);
}

static void assert_json_int(const json_t *v, json_int_t want)
{
    if (!json_is_integer(v))
        fail_msg("expected the integer %lld, got a JSON type %d", (long long)want,
                 v ? (int)json_typeof(v) : -1);
    assert_int_equal(json_integer_value(v), want);
}

static void assert_json_str(const json_t *v, const char *want)
{
    if (!json_is_string(v))
        fail_msg("expected the string \"%s\", got a JSON type %d", want,
                 v ? (int)json_typeof(v) : -1);
    assert_string_equal(json_string_value(v), want);
}

#define HEAD "edition: 3.0.0\nresources:\n  r:\n    component: fc3\n    props:\n"

/* ---- seed 002 --------------------------------------------------------------- */

static const char seed002[] = "edition: 3.0.0\n"
                              "name: container-demo\n"
                              "access: default\n"
                              "vars:\n"
                              "  region: cn-shanghai\n"
                              "resources:\n"
                              "  gpu-best-practive:\n"
                              "    component: fc3\n"
                              "    props:\n"
                              "      region: ${vars.region}\n"
                              "      description: This is the demo function deployment\n"
                              "      handler: not-used\n"
                              "      timeout: 1200\n"
                              "      memorySize: 8192\n"
                              "      cpu: 2\n"
                              "      gpuMemorySize: 8192\n"
                              "      diskSize: 512\n"
                              "      instanceConcurrency: 1\n"
                              "      runtime: custom-container\n"
                              "      environmentVariables:\n"
                              "        FCGPU_RUNTIME_SHMSIZE: '8589934592'\n"
                              "      customContainerConfig:\n"
                              "        image: >-\n"
                              "          registry.cn-shanghai.aliyuncs.com/serverless_devs/"
                              "gpu-console-supervising:paddle-porn-detection\n"
                              "        port: 9000\n"
                              "      internetAccess: true\n"
                              "      logConfig:\n"
                              "        enableRequestMetrics: true\n"
                              "        enableInstanceMetrics: true\n"
                              "        logBeginRule: DefaultRegex\n"
                              "        project: z****\n"
                              "        logstore: log****\n"
                              "      functionName: gpu-porn-detection\n"
                              "      gpuConfig:\n"
                              "        gpuMemorySize: 8192\n"
                              "        gpuType: fc.gpu.tesla.1\n"
                              "      triggers:\n"
                              "        - triggerName: httpTrigger\n"
                              "          triggerType: http\n"
                              "          triggerConfig:\n"
                              "            authType: anonymous\n"
                              "            methods:\n"
                              "              - GET\n"
                              "              - POST\n";

static void test_seed002(void **state)
{
    struct spec_syaml *s = parse(seed002);
    assert_string_equal(s->name, "container-demo");
    assert_string_equal(s->access, "default");
    assert_json_str(json_object_get(s->vars, "region"), "cn-shanghai");
    assert_int_equal(s->n_resources, 1);
    const struct spec_syaml_resource *r = &s->resources[0];
    assert_string_equal(r->name, "gpu-best-practive");
    assert_int_equal(r->line, 7);
    assert_string_equal(r->region, "cn-shanghai");
    assert_null(r->code_path);
    assert_null(r->code);
    assert_null(r->async_invoke_config);
    assert_null(r->concurrency_config);
    assert_null(r->provision_config);
    assert_int_equal(json_array_size(s->notes), 0);

    assert_json_str(fn_get(s, 0, "functionName"), "gpu-porn-detection");
    assert_json_int(fn_get(s, 0, "timeout"), 1200);
    assert_json_int(fn_get(s, 0, "memorySize"), 8192);
    assert_json_int(fn_get(s, 0, "cpu"), 2);
    assert_json_int(fn_get(s, 0, "diskSize"), 512);
    assert_json_int(fn_get(s, 0, "instanceConcurrency"), 1);
    assert_json_int(fn_get(s, 0, "gpuMemorySize"), 8192); /* unknown to FC 3.0: kept */
    assert_true(json_is_true(fn_get(s, 0, "internetAccess")));
    assert_json_str(fn_get(s, 0, "runtime"), "custom-container");
    assert_null(fn_get(s, 0, "region"));
    assert_null(fn_get(s, 0, "triggers"));
    assert_json_str(json_object_get(fn_get(s, 0, "environmentVariables"), "FCGPU_RUNTIME_SHMSIZE"),
                    "8589934592");
    const json_t *cc = fn_get(s, 0, "customContainerConfig");
    assert_json_str(json_object_get(cc, "image"),
                    "registry.cn-shanghai.aliyuncs.com/serverless_devs/"
                    "gpu-console-supervising:paddle-porn-detection");
    assert_json_int(json_object_get(cc, "port"), 9000);
    const json_t *gpu = fn_get(s, 0, "gpuConfig");
    assert_json_int(json_object_get(gpu, "gpuMemorySize"), 8192);
    assert_json_str(json_object_get(gpu, "gpuType"), "fc.gpu.tesla.1");
    assert_true(json_is_true(json_object_get(fn_get(s, 0, "logConfig"), "enableRequestMetrics")));

    assert_int_equal(json_array_size(r->triggers), 1);
    const json_t *t = json_array_get(r->triggers, 0);
    assert_json_str(json_object_get(t, "triggerName"), "httpTrigger");
    assert_json_str(json_object_get(t, "triggerType"), "http");
    const json_t *cfg = json_object_get(t, "triggerConfig");
    assert_true(json_is_string(cfg));
    json_t *parsed = json_loads(json_string_value(cfg), 0, NULL);
    json_t *want =
        json_loads("{\"authType\":\"anonymous\",\"methods\":[\"GET\",\"POST\"]}", 0, NULL);
    assert_true(json_equal(parsed, want));
    json_decref(parsed);
    json_decref(want);

    /* What comes out is what the API accepts. */
    struct frost_err err = {0};
    json_t *doc = NULL;
    if (spec_function_create(r->function, &doc, &err) < 0)
        fail_msg("spec_function_create: %s", err.msg);
    json_decref(doc);
    if (spec_trigger_create(t, &doc, &err) < 0)
        fail_msg("spec_trigger_create: %s", err.msg);
    json_decref(doc);
    spec_syaml_free(s);
}

/* ---- typing ------------------------------------------------------------------- */

static void test_typing(void **state)
{
    struct spec_syaml *s = parse(HEAD "      functionName: f\n"
                                      "      i: 1024\n"
                                      "      neg: -3\n"
                                      "      hex: 0x1F\n"
                                      "      oct: 0o17\n"
                                      "      f: 0.35\n"
                                      "      e: 1e3\n"
                                      "      t: true\n"
                                      "      T: True\n"
                                      "      n: null\n"
                                      "      tilde: ~\n"
                                      "      empty:\n"
                                      "      q1: '1024'\n"
                                      "      q2: \"true\"\n"
                                      "      yes: yes\n"
                                      "      big: 99999999999999999999999\n"
                                      "      inf: .inf\n"
                                      "      ver: 3.0.0\n"
                                      "      block: |\n"
                                      "        42\n"
                                      "      list: [1, a, false]\n"
                                      "      environmentVariables:\n"
                                      "        A: 1\n"
                                      "        B: true\n"
                                      "        C: 1.50\n"
                                      "        D: x\n");
    assert_json_int(fn_get(s, 0, "i"), 1024);
    assert_json_int(fn_get(s, 0, "neg"), -3);
    assert_json_int(fn_get(s, 0, "hex"), 31);
    assert_json_int(fn_get(s, 0, "oct"), 15);
    assert_true(json_is_real(fn_get(s, 0, "f")));
    assert_true(json_real_value(fn_get(s, 0, "f")) == 0.35);
    assert_true(json_is_real(fn_get(s, 0, "e")));
    assert_true(json_is_true(fn_get(s, 0, "t")));
    assert_true(json_is_true(fn_get(s, 0, "T")));
    assert_true(json_is_null(fn_get(s, 0, "n")));
    assert_true(json_is_null(fn_get(s, 0, "tilde")));
    assert_true(json_is_null(fn_get(s, 0, "empty")));
    assert_json_str(fn_get(s, 0, "q1"), "1024");
    assert_json_str(fn_get(s, 0, "q2"), "true");
    assert_json_str(fn_get(s, 0, "yes"), "yes"); /* YAML 1.2: not a bool */
    assert_json_str(fn_get(s, 0, "big"), "99999999999999999999999");
    assert_json_str(fn_get(s, 0, "inf"), ".inf");
    assert_json_str(fn_get(s, 0, "ver"), "3.0.0");
    assert_json_str(fn_get(s, 0, "block"), "42\n");
    const json_t *list = fn_get(s, 0, "list");
    assert_json_int(json_array_get(list, 0), 1);
    assert_json_str(json_array_get(list, 1), "a");
    assert_true(json_is_false(json_array_get(list, 2)));
    /* Environment variables stay text, exactly as written. */
    const json_t *env = fn_get(s, 0, "environmentVariables");
    assert_json_str(json_object_get(env, "A"), "1");
    assert_json_str(json_object_get(env, "B"), "true");
    assert_json_str(json_object_get(env, "C"), "1.50");
    assert_json_str(json_object_get(env, "D"), "x");
    spec_syaml_free(s);
}

/* ---- ${vars.…} ----------------------------------------------------------------- */

static void test_vars(void **state)
{
    struct spec_syaml *s = parse("edition: 3.0.0\n"
                                 "vars:\n"
                                 "  mem: 1024\n"
                                 "  name: demo\n"
                                 "  full: ${vars.name}-fn\n"
                                 "  image:\n"
                                 "    repo: reg.example.com/x\n"
                                 "    tag: v1\n"
                                 "  gpu: {gpuType: fc.gpu.ada.1, gpuMemorySize: 49152}\n"
                                 "  quoted: '2048'\n"
                                 "resources:\n"
                                 "  r:\n"
                                 "    component: fc3\n"
                                 "    props:\n"
                                 "      functionName: ${vars.full}\n"
                                 "      memorySize: ${vars.mem}\n"
                                 "      description: 'mem ${vars.mem} MB, ${ vars.name }'\n"
                                 "      image: ${vars.image.repo}:${vars.image.tag}\n"
                                 "      gpuConfig: ${vars.gpu}\n"
                                 "      diskSize: ${vars.quoted}\n"
                                 "      label: \"${vars.mem}\"\n");
    assert_json_str(fn_get(s, 0, "functionName"), "demo-fn");
    assert_json_int(fn_get(s, 0, "memorySize"), 1024);
    assert_json_str(fn_get(s, 0, "description"), "mem 1024 MB, demo");
    assert_json_str(fn_get(s, 0, "image"), "reg.example.com/x:v1");
    assert_json_str(json_object_get(fn_get(s, 0, "gpuConfig"), "gpuType"), "fc.gpu.ada.1");
    assert_json_int(json_object_get(fn_get(s, 0, "gpuConfig"), "gpuMemorySize"), 49152);
    /* A plain scalar is typed again after replacement; a quoted one stays text. */
    assert_json_int(fn_get(s, 0, "diskSize"), 2048);
    assert_json_str(fn_get(s, 0, "label"), "1024");
    /* The variable itself is not changed by the copies made of it. */
    json_object_set_new((json_t *)fn_get(s, 0, "gpuConfig"), "gpuType", json_string("x"));
    assert_json_str(json_object_get(json_object_get(s->vars, "gpu"), "gpuType"), "fc.gpu.ada.1");
    spec_syaml_free(s);

    parse_fails(HEAD "      functionName: ${vars.nope}\n",
                "s.yaml:6: ${vars.nope}: no such variable", NULL);
    parse_fails("edition: 3.0.0\nvars:\n  a: ${vars.b}\n  b: 1\n"
                "resources: {}\n",
                "s.yaml:3: ${vars.b}: no such variable", NULL);
    parse_fails("edition: 3.0.0\nvars:\n  m: {a: 1}\nresources:\n  r:\n    component: fc3\n"
                "    props:\n      functionName: f\n      d: x${vars.m}\n",
                "s.yaml:9: ${vars.m} is a mapping", NULL);
    parse_fails(HEAD "      functionName: ${this.name}\n", "s.yaml:6: ${this.name}: unsupported",
                "${env(NAME)}");
    parse_fails(HEAD "      functionName: abc${vars.x\n", "s.yaml:6: unterminated ${", NULL);
}

/* ---- ${env(…)} ------------------------------------------------------------------ */

static void test_env(void **state)
{
    char *envp[] = {"FN=hello", "T=30", "EMPTY=", "IMG=reg/x:1", NULL};
    struct spec_syaml *s = parse_env(HEAD "      functionName: ${env(FN)}-${env.FN}\n"
                                          "      timeout: ${env(T)}\n"
                                          "      quoted: '${env(\"T\")}'\n"
                                          "      image: ${env('IMG')}\n"
                                          "      e: \"[${env.EMPTY}]\"\n",
                                     envp);
    assert_json_str(fn_get(s, 0, "functionName"), "hello-hello");
    assert_json_int(fn_get(s, 0, "timeout"), 30);
    assert_json_str(fn_get(s, 0, "quoted"), "30");
    assert_json_str(fn_get(s, 0, "image"), "reg/x:1");
    assert_json_str(fn_get(s, 0, "e"), "[]");
    spec_syaml_free(s);

    /* vars may read the environment. */
    s = parse_env("edition: 3.0.0\nvars:\n  region: ${env(FN)}\nresources:\n  r:\n"
                  "    component: fc3\n    props:\n      functionName: f\n"
                  "      region: ${vars.region}\n",
                  envp);
    assert_string_equal(s->resources[0].region, "hello");
    spec_syaml_free(s);

    parse_fails_env(HEAD "      functionName: f\n      x: ${env(MISSING)}\n", envp,
                    "s.yaml:7: ${env(MISSING)}: environment variable MISSING is not set", NULL);
    parse_fails_env(HEAD "      functionName: ${env.A-B}\n", envp,
                    "s.yaml:6: ${env.A-B}: malformed environment variable name", NULL);
    /* No environment at all: nothing is set. */
    parse_fails(HEAD "      functionName: ${env.HOME}\n", "s.yaml:6: ${env.HOME}: environment",
                "not set");
}

/* ---- code, triggers, configs, notes ------------------------------------------- */

static void test_code_paths(void **state)
{
    const char *text = HEAD "      functionName: f\n      code: ./code\n";
    struct spec_syaml *s = NULL;
    struct frost_err err = {0};
    assert_int_equal(spec_syaml_parse(text, strlen(text), "/srv/app/s.yaml", NULL, &s, &err), 0);
    assert_string_equal(s->resources[0].code_path, "/srv/app/./code");
    assert_null(fn_get(s, 0, "code"));
    spec_syaml_free(s);

    s = parse(HEAD "      functionName: f\n      code: ./code\n");
    assert_string_equal(s->resources[0].code_path, "./code");
    spec_syaml_free(s);

    assert_int_equal(spec_syaml_parse(text, strlen(text), "rel/dir/s.yaml", NULL, &s, &err), 0);
    assert_string_equal(s->resources[0].code_path, "rel/dir/./code");
    spec_syaml_free(s);

    const char *abs = HEAD "      functionName: f\n      code: /opt/code.zip\n";
    assert_int_equal(spec_syaml_parse(abs, strlen(abs), "/srv/app/s.yaml", NULL, &s, &err), 0);
    assert_string_equal(s->resources[0].code_path, "/opt/code.zip");
    spec_syaml_free(s);

    s = parse(HEAD "      functionName: f\n      code:\n        ossBucketName: b\n"
                   "        ossObjectName: o.zip\n");
    assert_null(s->resources[0].code_path);
    assert_json_str(json_object_get(s->resources[0].code, "ossBucketName"), "b");
    spec_syaml_free(s);

    parse_fails(HEAD "      functionName: f\n      code: [a]\n",
                "s.yaml:7: resources.r.props.code: expected a string", NULL);
    parse_fails(HEAD "      functionName: f\n      code: ''\n",
                "s.yaml:7: resources.r.props.code: empty path", NULL);
}

static void test_triggers_and_configs(void **state)
{
    struct spec_syaml *s = parse(HEAD "      functionName: f\n"
                                      "      customDomain: {domainName: auto}\n"
                                      "      triggers:\n"
                                      "        - triggerName: t1\n"
                                      "          triggerType: timer\n"
                                      "          qualifier: 1\n"
                                      "          description: every minute\n"
                                      "          triggerConfig:\n"
                                      "            cronExpression: '@every 1m'\n"
                                      "            enable: true\n"
                                      "        - triggerName: t2\n"
                                      "          triggerType: http\n"
                                      "          triggerConfig: '{\"authType\":\"function\"}'\n"
                                      "      asyncInvokeConfig:\n"
                                      "        maxAsyncRetryAttempts: 1\n"
                                      "        destinationConfig:\n"
                                      "          onFailure: {destination: 'acs:fc:::functions/x'}\n"
                                      "      concurrencyConfig:\n"
                                      "        reservedConcurrency: 10\n"
                                      "      provisionConfig:\n"
                                      "        defaultTarget: 2\n"
                                      "        alwaysAllocateGPU: false\n"
                                      "        mode: sync\n"
                                      "        targetTrackingPolicies:\n"
                                      "          - name: p\n"
                                      "            metricType: ProvisionedConcurrencyUtilization\n"
                                      "            metricTarget: 0.3\n"
                                      "            minCapacity: 2\n"
                                      "            maxCapacity: 30\n");
    const struct spec_syaml_resource *r = &s->resources[0];
    /* Unknown props are kept. */
    assert_json_str(json_object_get(fn_get(s, 0, "customDomain"), "domainName"), "auto");
    static const char *const moved[] = {"triggers", "asyncInvokeConfig", "concurrencyConfig",
                                        "provisionConfig"};
    for (size_t i = 0; i < ARRAY_LEN(moved); i++)
        assert_null(fn_get(s, 0, moved[i]));
    assert_int_equal(json_array_size(r->triggers), 2);
    const json_t *t1 = json_array_get(r->triggers, 0);
    assert_json_str(json_object_get(t1, "qualifier"), "1");
    assert_json_str(json_object_get(t1, "description"), "every minute");
    assert_json_str(json_object_get(t1, "triggerConfig"),
                    "{\"cronExpression\":\"@every 1m\",\"enable\":true}");
    assert_json_str(json_object_get(json_array_get(r->triggers, 1), "triggerConfig"),
                    "{\"authType\":\"function\"}");
    assert_json_int(json_object_get(r->async_invoke_config, "maxAsyncRetryAttempts"), 1);
    assert_json_int(json_object_get(r->concurrency_config, "reservedConcurrency"), 10);
    assert_json_int(json_object_get(r->provision_config, "defaultTarget"), 2);
    assert_true(json_is_false(json_object_get(r->provision_config, "alwaysAllocateGPU")));
    assert_null(json_object_get(r->provision_config, "mode"));
    assert_int_equal(
        json_array_size(json_object_get(r->provision_config, "targetTrackingPolicies")), 1);
    /* mode is CLI-only: dropped, with a note pointing at it. */
    assert_int_equal(json_array_size(s->notes), 1);
    const char *note = json_string_value(json_array_get(s->notes, 0));
    if (strncmp(note, "s.yaml:28: resources.r.props.provisionConfig.mode: ", 51) != 0)
        fail_msg("note: %s", note);

    /* The configs are what the API takes. */
    struct frost_err err = {0};
    json_t *out = NULL;
    if (spec_provision_config(r->provision_config, &out, &err) < 0)
        fail_msg("provision: %s", err.msg);
    json_decref(out);
    if (spec_concurrency_config(r->concurrency_config, &out, &err) < 0)
        fail_msg("concurrency: %s", err.msg);
    json_decref(out);
    spec_syaml_free(s);

    parse_fails(HEAD "      functionName: f\n      triggers:\n        - triggerType: http\n",
                "s.yaml:8: resources.r.props.triggers[0].triggerName: required", NULL);
    parse_fails(HEAD "      functionName: f\n      triggers:\n        - x\n",
                "s.yaml:8: resources.r.props.triggers[0]: expected a mapping", NULL);
    parse_fails(HEAD "      functionName: f\n      triggers: {a: 1}\n",
                "s.yaml:7: resources.r.props.triggers: expected a list", NULL);
    parse_fails(HEAD "      functionName: f\n      provisionConfig: 3\n",
                "s.yaml:7: resources.r.props.provisionConfig: expected a mapping", NULL);
}

static void test_notes_and_merge(void **state)
{
    struct spec_syaml *s = parse("edition: 3.0.0\n"
                                 "template:\n"
                                 "  base: &base\n"
                                 "    runtime: custom.debian10\n"
                                 "    timeout: 60\n"
                                 "resources:\n"
                                 "  r:\n"
                                 "    component: fc3@0.1.2\n"
                                 "    actions:\n"
                                 "      pre-deploy: []\n"
                                 "    props:\n"
                                 "      <<: *base\n"
                                 "      timeout: 30\n"
                                 "      x: {<<: {a: 1, b: 2}, b: 3}\n"
                                 "      functionName: f\n"
                                 "  r2:\n"
                                 "    component: fc3\n"
                                 "    props: {functionName: g, runtime: custom}\n");
    assert_int_equal(s->n_resources, 2);
    assert_json_str(fn_get(s, 0, "runtime"), "custom.debian10");
    assert_json_int(fn_get(s, 0, "timeout"), 30); /* written next to << wins */
    assert_null(fn_get(s, 0, "<<"));
    assert_json_int(json_object_get(fn_get(s, 0, "x"), "a"), 1);
    assert_json_int(json_object_get(fn_get(s, 0, "x"), "b"), 3);
    assert_json_str(fn_get(s, 1, "functionName"), "g");
    assert_int_equal(json_array_size(s->notes), 2);
    assert_string_equal(json_string_value(json_array_get(s->notes, 0)),
                        "s.yaml:2: template: not used by Frost (ignored)");
    assert_string_equal(json_string_value(json_array_get(s->notes, 1)),
                        "s.yaml:9: resources.r.actions: not used by Frost (ignored)");
    spec_syaml_free(s);
}

/* ---- errors ------------------------------------------------------------------- */

static void test_errors(void **state)
{
    parse_fails("", "s.yaml: the file is empty", NULL);
    parse_fails("resources: {}\n", "s.yaml:1: edition: required", "3.0.0");
    parse_fails("edition: 1.0.0\nresources: {}\n", "s.yaml:1: edition: \"1.0.0\" is not supported",
                "3.0.0");
    parse_fails("edition: 2.0.0\n", "s.yaml:1: edition: \"2.0.0\" is not supported", NULL);
    parse_fails("edition: 3.0.0\n", "s.yaml:1: resources: required", NULL);
    parse_fails("edition: 3.0.0\nresources: {}\n", "s.yaml:2: resources: required", NULL);
    parse_fails("edition: 3.0.0\nresources:\n  web:\n    component: fc\n    props: {}\n",
                "s.yaml:4: resources.web.component: \"fc\" is not supported", "fc3");
    parse_fails("edition: 3.0.0\nresources:\n  web:\n    component: devsapp/fc3\n",
                "s.yaml:4: resources.web.component:", "not supported");
    parse_fails("edition: 3.0.0\nresources:\n  web:\n    props: {functionName: f}\n",
                "s.yaml:3: resources.web.component: required", NULL);
    parse_fails("edition: 3.0.0\nresources:\n  web:\n    component: fc3\n",
                "s.yaml:3: resources.web.props: required", NULL);
    parse_fails(HEAD "      runtime: custom\n",
                "s.yaml:6: resources.r.props.functionName: required", NULL);
    parse_fails(HEAD "      functionName: [a]\n",
                "s.yaml:6: resources.r.props.functionName: required", NULL);
    parse_fails("- a\n- b\n", "s.yaml:1: expected a mapping", NULL);
    parse_fails("edition: 3.0.0\nedition: 3.0.0\n", "s.yaml:2: key \"edition\" is set twice",
                "line 1");
    parse_fails(HEAD "      functionName: f\n      timeout: 1\n      timeout: 2\n",
                "s.yaml:8: key \"timeout\" is set twice", NULL);
    parse_fails(HEAD "      functionName: f\n      x: {a: 1, a: 2}\n",
                "s.yaml:7: key \"a\" is set twice", NULL);
    parse_fails("edition: 3.0.0\nresources:\n\t r: 1\n", "s.yaml:3: YAML syntax error", "tabs");
    parse_fails("edition: 3.0.0\nresources: [\n", "s.yaml:", "YAML syntax error");
    parse_fails("edition: 3.0.0\n---\nedition: 3.0.0\n", "s.yaml:", NULL);
    parse_fails(HEAD "      functionName: \"a\\0b\"\n", "s.yaml:6: value contains a NUL byte",
                NULL);
}

/* Aliases cannot make the reader loop or explode. */
static void test_alias_bounds(void **state)
{
    parse_fails(HEAD "      functionName: f\n      x: &a [*a]\n", "s.yaml:", "nested more than");
    char text[4096];
    int n = snprintf(text, sizeof(text),
                     "edition: 3.0.0\n"
                     "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i,
                      i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    snprintf(text + n, sizeof(text) - (size_t)n,
             "resources:\n  r:\n    component: fc3\n    props:\n      functionName: f\n"
             "      x: *l8\n");
    parse_fails(text, "s.yaml:", "more than");
}

static void test_load_file(void **state)
{
    char dir[] = "/tmp/test_syaml.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/s.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(seed002, f);
    fclose(f);
    struct spec_syaml *s = NULL;
    struct frost_err err = {0};
    assert_int_equal(spec_syaml_load(path, NULL, &s, &err), 0);
    assert_json_str(fn_get(s, 0, "functionName"), "gpu-porn-detection");
    spec_syaml_free(s);
    unlink(path);
    s = NULL;
    assert_int_equal(spec_syaml_load(path, NULL, &s, &err), -1);
    assert_null(s);
    assert_string_equal(err.code, "InvalidTemplate");
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_non_null(strstr(err.msg, path));
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed002),
        cmocka_unit_test(test_typing),
        cmocka_unit_test(test_vars),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_code_paths),
        cmocka_unit_test(test_triggers_and_configs),
        cmocka_unit_test(test_notes_and_merge),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alias_bounds),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
