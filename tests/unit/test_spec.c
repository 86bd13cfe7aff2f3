/* Unit tests for src/spec: function create/update validation and defaults,
 * the provision / async / concurrency configs, schedule expressions,
 * destinations and triggers. Every rejected input checks that the message
 * names the offending field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

/* ---- helpers ------------------------------------------------------------ */

/* Parses JSON written with single quotes (easier to read in C strings). */
static json_t *jq(const char *text)
{
    char *s = strdup(text);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t jerr;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s: %s", jerr.text, s);
    free(s);
    return j;
}

/* The message starts with want (shown in full when it does not). */
static void assert_msg_prefix(const struct frost_err *err, const char *want)
{
    assert_int_equal(err->status, 400);
    assert_string_equal(err->code, "InvalidArgument");
    if (strncmp(err->msg, want, strlen(want)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err->msg, want);
}

static const char *const base_container =
    "{'functionName':'f','runtime':'custom-container','customContainerConfig':{'image':'img:1'}}";
static const char *const base_custom =
    "{'functionName':'f','runtime':'custom','code':{'zipFile':'UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=='}}";

/* base with the top-level members of extra set over it. */
static json_t *with(const char *base, const char *extra)
{
    json_t *b = jq(base);
    json_t *e = jq(extra);
    assert_int_equal(json_object_update(b, e), 0);
    json_decref(e);
    return b;
}

static json_t *create_ok_from(const char *base, const char *extra)
{
    json_t *in = with(base, extra);
    json_t *out = NULL;
    struct frost_err err = {0};
    if (spec_function_create(in, &out, &err) != 0)
        fail_msg("create failed: %s (extra %s)", err.msg, extra);
    json_decref(in);
    return out;
}

static void create_err_from(const char *base, const char *extra, const char *want)
{
    json_t *in = with(base, extra);
    json_t *out = NULL;
    struct frost_err err = {0};
    if (spec_function_create(in, &out, &err) == 0) {
        char *s = json_dumps(out, 0);
        fail_msg("create accepted %s (wanted error %s)", s, want);
    }
    assert_null(out);
    assert_msg_prefix(&err, want);
    json_decref(in);
}

#define OK(extra)        json_decref(create_ok_from(base_container, extra))
#define BAD(extra, want) create_err_from(base_container, extra, want)

static json_int_t int_at(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

static double num_at(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

/* ---- function name ------------------------------------------------------- */

static void test_function_name(void **state)
{
    (void)state;
    struct frost_err err = {0};
    char long64[65], long65[66];
    memset(long64, 'a', 64);
    long64[64] = 0;
    memset(long65, 'a', 65);
    long65[65] = 0;
    const char *good[] = {"a", "_x", "my-function-1", "A_b-9", long64};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(spec_function_name_check(good[i], &err), 0);
    const char *bad[] = {"", "1abc", "-a", "a b", "a.b", "é", long65};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(spec_function_name_check(bad[i], &err), -1);
        assert_msg_prefix(&err, "functionName: ");
    }
    assert_int_equal(spec_function_name_check(NULL, &err), -1);
    assert_string_equal(err.msg, "functionName: is required");
}

/* ---- real inputs ---------------------------------------------------------- */

/* The body of CreateFunction as the official Node SDK sent it
 * (fc-sdk-captures/requests.jsonl, line 3). */
static const char *const sdk_create_body =
    "{\"cpu\":2,\"customContainerConfig\":{\"image\":\"registry.example/ns/"
    "paddle-porn-detection:v1\",\"port\":9000},\"environmentVariables\":{\"FCGPU_RUNTIME_"
    "SHMSIZE\":\"8589934592\"},\"functionName\":\"gpu-porn-detection\",\"gpuConfig\":{"
    "\"gpuMemorySize\":8192,\"gpuType\":\"fc.gpu.tesla.1\"},\"instanceConcurrency\":1,"
    "\"memorySize\":8192,\"runtime\":\"custom-container\",\"timeout\":1200}";

static void test_sdk_capture(void **state)
{
    (void)state;
    json_t *in = json_loads(sdk_create_body, 0, NULL);
    assert_non_null(in);
    json_t *fn = NULL;
    struct frost_err err = {0};
    if (spec_function_create(in, &fn, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(int_at(fn, "timeout"), 1200);
    assert_int_equal(int_at(fn, "memorySize"), 8192);
    assert_int_equal(int_at(fn, "cpu"), 2);
    assert_int_equal(int_at(fn, "instanceConcurrency"), 1);
    assert_int_equal(int_at(fn, "diskSize"), 512); /* default */
    assert_true(json_is_true(json_object_get(fn, "internetAccess")));
    json_t *gpu = json_object_get(fn, "gpuConfig");
    assert_string_equal(json_string_value(json_object_get(gpu, "gpuType")), "fc.gpu.tesla.1");
    /* Everything the SDK sent is stored as sent. */
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v)
    {
        assert_true(json_equal(v, json_object_get(fn, key)));
    }
    assert_ptr_not_equal(json_object_get(fn, "gpuConfig"), json_object_get(in, "gpuConfig"));
    json_decref(in);
    json_decref(fn);
}

/* Seed 002's s.yaml function, as props minus the s-only `region` and
 * `triggers` (frost deploy hands those elsewhere). */
static const char *const seed002_function =
    "{'description':'This is the demo function deployment','handler':'not-used',"
    "'timeout':1200,'memorySize':8192,'cpu':2,'gpuMemorySize':8192,'diskSize':512,"
    "'instanceConcurrency':1,'runtime':'custom-container',"
    "'environmentVariables':{'FCGPU_RUNTIME_SHMSIZE':'8589934592'},"
    "'customContainerConfig':{'image':'registry.cn-shanghai.aliyuncs.com/serverless_devs/"
    "gpu-console-supervising:paddle-porn-detection','port':9000},"
    "'internetAccess':true,"
    "'logConfig':{'enableRequestMetrics':true,'enableInstanceMetrics':true,"
    "'logBeginRule':'DefaultRegex','project':'z****','logstore':'log****'},"
    "'functionName':'gpu-porn-detection',"
    "'gpuConfig':{'gpuMemorySize':8192,'gpuType':'fc.gpu.tesla.1'}}";

static void test_seed002(void **state)
{
    (void)state;
    json_t *in = jq(seed002_function);
    json_t *fn = NULL;
    struct frost_err err = {0};
    if (spec_function_create(in, &fn, &err) != 0)
        fail_msg("%s", err.msg);
    /* The legacy top-level gpuMemorySize is not ours: kept as it is. */
    assert_int_equal(int_at(fn, "gpuMemorySize"), 8192);
    assert_true(json_equal(json_object_get(fn, "logConfig"), json_object_get(in, "logConfig")));
    json_decref(fn);
    json_decref(in);

    /* Its trigger, with the object triggerConfig s.yaml writes. */
    json_t *tin = jq("{'triggerName':'httpTrigger','triggerType':'http',"
                     "'triggerConfig':{'authType':'anonymous','methods':['GET','POST']}}");
    json_t *t = NULL;
    if (spec_trigger_create(tin, &t, &err) != 0)
        fail_msg("%s", err.msg);
    assert_true(json_is_string(json_object_get(t, "triggerConfig")));
    struct spec_http_trigger h;
    assert_int_equal(spec_http_trigger_parse(t, &h, &err), 0);
    assert_int_equal(h.auth, SPEC_HTTP_AUTH_ANONYMOUS);
    assert_int_equal(h.methods, SPEC_HTTP_GET | SPEC_HTTP_POST);
    json_decref(t);
    json_decref(tin);

    /* Its provision.json with `s provision put --target 1`. */
    json_t *pin = jq("{'target':1,'targetTrackingPolicies':[{'name':'scaling-policy-demo',"
                     "'startTime':'2024-07-01T16:00:00.000Z','endTime':'2024-07-30T16:00:00.000Z',"
                     "'metricType':'ProvisionedConcurrencyUtilization','metricTarget':0.3,"
                     "'minCapacity':2,'maxCapacity':30}]}");
    json_t *p = NULL;
    if (spec_provision_config(pin, &p, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(int_at(p, "target"), 1);
    assert_int_equal(int_at(p, "defaultTarget"), 1);
    json_decref(p);
    json_decref(pin);
}

/* ---- create: shape, defaults, round trip ---------------------------------- */

static void test_body_and_required(void **state)
{
    (void)state;
    struct frost_err err = {0};
    json_t *out = NULL;
    json_t *arr = jq("[1]");
    assert_int_equal(spec_function_create(arr, &out, &err), -1);
    assert_string_equal(err.msg, "body: must be a JSON object, got array");
    assert_int_equal(spec_function_create(NULL, &out, &err), -1);
    assert_msg_prefix(&err, "body: ");
    json_decref(arr);

    create_err_from("{'runtime':'custom-container','customContainerConfig':{'image':'i'}}", "{}",
                    "functionName: is required");
    create_err_from(base_container, "{'functionName':5}", "functionName: must be a string");
    create_err_from(base_container, "{'functionName':'9lives'}", "functionName: must start");
    create_err_from("{'functionName':'f'}", "{}", "runtime: is required");
    BAD("{'runtime':'python3'}", "runtime: must be one of custom, custom.debian10");
    BAD("{'runtime':3}", "runtime: must be a string, got integer");
    BAD("{'runtime':null}", "runtime: is required");
}

static void test_defaults(void **state)
{
    (void)state;
    json_t *fn = create_ok_from(base_container, "{}");
    assert_int_equal(int_at(fn, "timeout"), SPEC_DEFAULT_TIMEOUT_S);
    assert_int_equal(int_at(fn, "instanceConcurrency"), 1);
    assert_int_equal(int_at(fn, "memorySize"), 512);
    assert_true(num_at(fn, "cpu") == 0.5);
    assert_int_equal(int_at(fn, "diskSize"), 512);
    assert_true(json_is_true(json_object_get(fn, "internetAccess")));
    /* Nested defaults stay implicit. */
    assert_null(json_object_get(json_object_get(fn, "customContainerConfig"), "port"));
    json_decref(fn);

    /* null means absent: the default applies. */
    fn = create_ok_from(base_container, "{'timeout':null,'description':null}");
    assert_int_equal(int_at(fn, "timeout"), 3);
    assert_null(json_object_get(fn, "description"));
    json_decref(fn);

    fn = create_ok_from(base_container, "{'internetAccess':false}");
    assert_true(json_is_false(json_object_get(fn, "internetAccess")));
    json_decref(fn);
}

static void test_output_only_and_unknown(void **state)
{
    (void)state;
    json_t *fn = create_ok_from(
        base_container,
        "{'functionArn':'acs:fc:x:1:functions/f','functionId':'id','createdTime':'t',"
        "'lastModifiedTime':'t','codeChecksum':'1','codeSize':3,'state':'Active',"
        "'stateReason':'r','stateReasonCode':'c','lastUpdateStatus':'Successful',"
        "'lastUpdateStatusReason':'r','lastUpdateStatusReasonCode':'c','lockInfo':{},"
        "'invocationRestriction':{},"
        "'customContainerConfig':{'image':'i','resolvedImageUri':'i@sha256:0','futureKnob':7},"
        "'x-frost-note':{'a':[1,2,{'b':null}]},'newFcField':'v','sessionAffinity':'MCP_SSE'}");
    const char *gone[] = {"functionArn",
                          "functionId",
                          "createdTime",
                          "lastModifiedTime",
                          "codeChecksum",
                          "codeSize",
                          "state",
                          "stateReason",
                          "stateReasonCode",
                          "lastUpdateStatus",
                          "lastUpdateStatusReason",
                          "lastUpdateStatusReasonCode",
                          "lockInfo",
                          "invocationRestriction",
                          "code"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        if (json_object_get(fn, gone[i]))
            fail_msg("%s was kept", gone[i]);
    json_t *cc = json_object_get(fn, "customContainerConfig");
    assert_null(json_object_get(cc, "resolvedImageUri"));
    assert_int_equal(int_at(cc, "futureKnob"), 7);
    json_t *want = jq("{'a':[1,2,{'b':null}]}");
    assert_true(json_equal(json_object_get(fn, "x-frost-note"), want));
    assert_string_equal(json_string_value(json_object_get(fn, "newFcField")), "v");
    assert_string_equal(json_string_value(json_object_get(fn, "sessionAffinity")), "MCP_SSE");

    /* The stored object survives a dump / load / create round trip unchanged. */
    char *s = json_dumps(fn, 0);
    json_t *again = json_loads(s, 0, NULL);
    json_t *fn2 = NULL;
    struct frost_err err = {0};
    assert_int_equal(spec_function_create(again, &fn2, &err), 0);
    assert_true(json_equal(fn, fn2));
    free(s);
    json_decref(again);
    json_decref(fn2);
    json_decref(want);
    json_decref(fn);
}

static void test_code(void **state)
{
    (void)state;
    /* The custom runtime base carries a zip: accepted, and not stored. */
    json_t *fn = create_ok_from(base_custom, "{}");
    assert_null(json_object_get(fn, "code"));
    json_decref(fn);
    fn = create_ok_from(base_custom, "{'code':{'ossBucketName':'b','ossObjectName':'o.zip',"
                                     "'checksum':'2825179536350'}}");
    json_decref(fn);

    create_err_from(base_custom, "{'code':null}", "code: is required with runtime custom");
    create_err_from(base_custom, "{'code':'UEsF'}", "code: must be an object, got string");
    create_err_from(base_custom, "{'code':{}}", "code: set zipFile (base64 ZIP) or");
    create_err_from(base_custom, "{'code':{'zipFile':'not base64!'}}",
                    "code.zipFile: must be a non-empty base64");
    create_err_from(base_custom, "{'code':{'zipFile':'QUJD='}}", "code.zipFile: ");
    create_err_from(base_custom, "{'code':{'zipFile':'QQ==QUJD'}}", "code.zipFile: ");
    create_err_from(base_custom, "{'code':{'zipFile':''}}", "code.zipFile: ");
    create_err_from(base_custom, "{'code':{'zipFile':12}}", "code.zipFile: must be a string");
    create_err_from(base_custom, "{'code':{'ossBucketName':'b'}}",
                    "code.ossObjectName: is required with ossBucketName");
    create_err_from(base_custom, "{'code':{'ossObjectName':'o'}}",
                    "code.ossBucketName: is required with ossObjectName");
    create_err_from(base_custom, "{'code':{'zipFile':'QUJD','ossBucketName':'b'}}",
                    "code: set zipFile or ossBucketName and ossObjectName, not both");
    create_err_from(base_custom, "{'code':{'zipFile':'QUJD','checksum':'12-ab'}}",
                    "code.checksum: must be a decimal CRC-64 or a hex SHA-256");
    json_decref(create_ok_from(base_custom, "{'code':{'zipFile':'QUJD','checksum':'12ab'}}"));
    BAD("{'code':{'zipFile':'QUJD'}}", "code: does not apply to runtime custom-container");

    struct frost_err err = {0};
    json_t *c = jq("{'zipFile':'QUJD'}");
    assert_int_equal(spec_code_check(c, "code", &err), 0);
    json_decref(c);
}

static void test_runtime_configs(void **state)
{
    (void)state;
    OK("{'customContainerConfig':{'image':'r.example/ns/img:v1','port':8080,"
       "'command':['python3','app.py'],'entrypoint':['/bin/sh','-c'],"
       "'acrInstanceId':'cri-1','accelerationType':'Default','registryConfig':{}}}");
    BAD("{'customContainerConfig':null}",
        "customContainerConfig: is required with runtime custom-container");
    BAD("{'customContainerConfig':'img'}", "customContainerConfig: must be an object, got string");
    BAD("{'customContainerConfig':{'port':9000}}", "customContainerConfig.image: is required");
    BAD("{'customContainerConfig':{'image':7}}",
        "customContainerConfig.image: must be a string, got integer");
    BAD("{'customContainerConfig':{'image':''}}", "customContainerConfig.image: must not be empty");
    BAD("{'customContainerConfig':{'image':'a b'}}", "customContainerConfig.image: ");
    BAD("{'customContainerConfig':{'image':'i','port':0}}",
        "customContainerConfig.port: must be between 1 and 65535, got 0");
    BAD("{'customContainerConfig':{'image':'i','port':65536}}",
        "customContainerConfig.port: must be between 1 and 65535, got 65536");
    BAD("{'customContainerConfig':{'image':'i','port':'9000'}}",
        "customContainerConfig.port: must be an integer, got string");
    BAD("{'customContainerConfig':{'image':'i','command':'python app.py'}}",
        "customContainerConfig.command: must be an array of strings, got string");
    BAD("{'customContainerConfig':{'image':'i','command':['python',3]}}",
        "customContainerConfig.command[1]: must be a string, got integer");
    BAD("{'customContainerConfig':{'image':'i','entrypoint':[true]}}",
        "customContainerConfig.entrypoint[0]: must be a string, got boolean");
    BAD("{'customContainerConfig':{'image':'i','registryConfig':[]}}",
        "customContainerConfig.registryConfig: must be an object, got array");
    BAD("{'customRuntimeConfig':{'port':9000}}",
        "customRuntimeConfig: only applies to the custom runtimes");

    json_decref(create_ok_from(base_custom, "{'runtime':'custom.debian12','customRuntimeConfig':"
                                            "{'command':['python3'],'args':['app.py'],"
                                            "'port':9000}}"));
    json_decref(create_ok_from(base_custom, "{'runtime':'custom.debian10'}"));
    json_decref(create_ok_from(base_custom, "{'runtime':'custom.debian11'}"));
    create_err_from(base_custom, "{'customContainerConfig':{'image':'i'}}",
                    "customContainerConfig: only applies to runtime custom-container");
    create_err_from(base_custom, "{'customRuntimeConfig':{'args':[1]}}",
                    "customRuntimeConfig.args[0]: must be a string, got integer");
    create_err_from(base_custom, "{'customRuntimeConfig':{'port':-1}}",
                    "customRuntimeConfig.port: must be between 1 and 65535, got -1");
    create_err_from(base_custom, "{'customRuntimeConfig':7}",
                    "customRuntimeConfig: must be an object, got integer");
}

static void test_health_check(void **state)
{
    (void)state;
    OK("{'customContainerConfig':{'image':'i','healthCheckConfig':{'httpGetUrl':'/ready',"
       "'initialDelaySeconds':0,'periodSeconds':1,'timeoutSeconds':1,'failureThreshold':1,"
       "'successThreshold':1}}}");
    OK("{'customContainerConfig':{'image':'i','healthCheckConfig':{'httpGetUrl':'/',"
       "'initialDelaySeconds':120,'periodSeconds':120,'timeoutSeconds':3,'failureThreshold':120,"
       "'successThreshold':120}}}");
    OK("{'customContainerConfig':{'image':'i','healthCheckConfig':{}}}");
    static const struct {
        const char *hc;
        const char *want;
    } bad[] = {
        {"{'periodSeconds':3}", "customContainerConfig.healthCheckConfig.httpGetUrl: is required"},
        {"{'httpGetUrl':'ready'}",
         "customContainerConfig.healthCheckConfig.httpGetUrl: must be a path starting with '/'"},
        {"{'httpGetUrl':'/r','initialDelaySeconds':-1}",
         "customContainerConfig.healthCheckConfig.initialDelaySeconds: must be between 0 and "
         "120, got -1"},
        {"{'httpGetUrl':'/r','initialDelaySeconds':121}",
         "customContainerConfig.healthCheckConfig.initialDelaySeconds: must be between 0 and "
         "120, got 121"},
        {"{'httpGetUrl':'/r','periodSeconds':0}",
         "customContainerConfig.healthCheckConfig.periodSeconds: must be between 1 and 120, got 0"},
        {"{'httpGetUrl':'/r','periodSeconds':'3'}",
         "customContainerConfig.healthCheckConfig.periodSeconds: must be an integer, got string"},
        {"{'httpGetUrl':'/r','timeoutSeconds':4}",
         "customContainerConfig.healthCheckConfig.timeoutSeconds: must be between 1 and 3, got 4"},
        {"{'httpGetUrl':'/r','failureThreshold':121}",
         "customContainerConfig.healthCheckConfig.failureThreshold: must be between 1 and 120"},
        {"{'httpGetUrl':'/r','successThreshold':0}",
         "customContainerConfig.healthCheckConfig.successThreshold: must be between 1 and 120"},
        {"{'httpGetUrl':'/r','successThreshold':1.5}",
         "customContainerConfig.healthCheckConfig.successThreshold: must be an integer, got 1.5"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char extra[512];
        snprintf(extra, sizeof(extra),
                 "{'customContainerConfig':{'image':'i','healthCheckConfig':%s}}", bad[i].hc);
        BAD(extra, bad[i].want);
    }
    create_err_from(
        base_custom,
        "{'customRuntimeConfig':{'healthCheckConfig':{'httpGetUrl':'/','timeoutSeconds':"
        "0}}}",
        "customRuntimeConfig.healthCheckConfig.timeoutSeconds: must be between 1 and 3");
}

static void test_gpu(void **state)
{
    (void)state;
    OK("{'gpuConfig':{'gpuType':'fc.gpu.tesla.1','gpuMemorySize':1024}}");
    OK("{'gpuConfig':{'gpuType':'fc.gpu.tesla.1','gpuMemorySize':16384}}");
    OK("{'gpuConfig':{'gpuType':'fc.gpu.ampere.1','gpuMemorySize':24576}}");
    OK("{'gpuConfig':{'gpuType':'fc.gpu.ada.1','gpuMemorySize':49152}}");
    OK("{'gpuConfig':{'gpuType':'fc.gpu.ada.2','gpuMemorySize':4096}}");
    OK("{'gpuConfig':{'gpuType':'fc.gpu.ada.3','gpuMemorySize':49152}}");
    OK("{'gpuConfig':{'gpuType':'fc.gpu.hopper.1','gpuMemorySize':98304}}");
    OK("{'gpuConfig':{}}");
    OK("{'gpuConfig':{'gpuType':'','gpuMemorySize':0}}");
    /* GPUs with a custom runtime: a Frost extension. */
    json_decref(create_ok_from(base_custom,
                               "{'gpuConfig':{'gpuType':'fc.gpu.tesla.1','gpuMemorySize':2048}}"));
    BAD("{'gpuConfig':{'gpuType':'fc.gpu.tesla.1','gpuMemorySize':1000}}",
        "gpuConfig.gpuMemorySize: must be a positive multiple of 1024 (MB), got 1000");
    BAD("{'gpuConfig':{'gpuType':'fc.gpu.tesla.1','gpuMemorySize':0}}",
        "gpuConfig.gpuMemorySize: must be a positive multiple of 1024 (MB), got 0");
    BAD("{'gpuConfig':{'gpuType':'fc.gpu.tesla.1','gpuMemorySize':-1024}}",
        "gpuConfig.gpuMemorySize: must be a positive multiple of 1024");
    BAD("{'gpuConfig':{'gpuType':'fc.gpu.tesla.1','gpuMemorySize':32768}}",
        "gpuConfig.gpuMemorySize: must be at most 16384 for fc.gpu.tesla.1, got 32768");
    BAD("{'gpuConfig':{'gpuType':'fc.gpu.ada.1','gpuMemorySize':24576}}",
        "gpuConfig.gpuMemorySize: must be 49152 (a whole card) for fc.gpu.ada.1, got 24576");
    BAD("{'gpuConfig':{'gpuType':'g1','gpuMemorySize':8192}}",
        "gpuConfig.gpuType: must be one of fc.gpu.tesla.1");
    BAD("{'gpuConfig':{'gpuMemorySize':8192}}",
        "gpuConfig.gpuType: is required with gpuMemorySize");
    BAD("{'gpuConfig':{'gpuType':'fc.gpu.tesla.1'}}",
        "gpuConfig.gpuMemorySize: is required with gpuType");
    BAD("{'gpuConfig':{'gpuType':'fc.gpu.tesla.1','gpuMemorySize':'8192'}}",
        "gpuConfig.gpuMemorySize: must be an integer, got string");
    BAD("{'gpuConfig':[]}", "gpuConfig: must be an object, got array");
}

static void test_cpu_memory(void **state)
{
    (void)state;
    BAD("{'cpu':17,'memorySize':32768}",
        "cpu: must be between 0.05 and 16 in steps of 0.05, got 17");
    BAD("{'cpu':0.07}", "cpu: must be between 0.05 and 16 in steps of 0.05, got 0.07");
    BAD("{'cpu':0}", "cpu: must be between 0.05 and 16 in steps of 0.05, got 0");
    BAD("{'cpu':'1'}", "cpu: must be a number, got string");
    BAD("{'memorySize':100}", "memorySize: must be between 128 and 32768 in steps of 64, got 100");
    BAD("{'memorySize':32832}", "memorySize: must be between 128 and 32768 in steps of 64");
    BAD("{'memorySize':200}", "memorySize: must be between 128 and 32768 in steps of 64, got 200");
    BAD("{'memorySize':512.5}", "memorySize: must be an integer, got 512.5");
    BAD("{'cpu':0.5,'memorySize':4096}",
        "cpu: the ratio of cpu to memorySize in GB must be between 1:1 and 1:4, got cpu 0.5 and "
        "memorySize 4096");
    BAD("{'cpu':2,'memorySize':1024}", "cpu: the ratio of cpu to memorySize in GB");

    static const struct {
        const char *extra;
        double cpu;
        json_int_t mem;
    } ok[] = {
        {"{'cpu':0.05,'memorySize':128}", 0.05, 128},
        {"{'cpu':16,'memorySize':32768}", 16, 32768},
        {"{'cpu':2,'memorySize':8192}", 2, 8192}, /* 1:4 */
        {"{'cpu':1,'memorySize':1024}", 1, 1024}, /* 1:1 */
        {"{'cpu':1.15,'memorySize':2048}", 1.15, 2048},
        {"{'memorySize':8192}", 8, 8192},    /* cpu derived at 1:1 */
        {"{'memorySize':128}", 0.1, 128},    /* 0.125 rounded down */
        {"{'memorySize':32768}", 16, 32768}, /* capped at 16 */
        {"{'memorySize':192}", 0.15, 192},
        {"{'cpu':0.35}", 0.35, 384}, /* memory derived, rounded up to 64 */
        {"{'cpu':0.05}", 0.05, 128},
        {"{'cpu':16}", 16, 16384},
        {"{'cpu':4.0}", 4, 4096},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        json_t *fn = create_ok_from(base_container, ok[i].extra);
        if (num_at(fn, "cpu") != ok[i].cpu || int_at(fn, "memorySize") != ok[i].mem)
            fail_msg("%s: got cpu %g memorySize %lld", ok[i].extra, num_at(fn, "cpu"),
                     (long long)int_at(fn, "memorySize"));
        json_decref(fn);
    }
    /* A whole derived cpu is stored as an integer. */
    json_t *fn = create_ok_from(base_container, "{'memorySize':8192}");
    assert_true(json_is_integer(json_object_get(fn, "cpu")));
    json_decref(fn);
}

static void test_scalar_ranges(void **state)
{
    (void)state;
    OK("{'diskSize':10240}");
    BAD("{'diskSize':1024}", "diskSize: must be 512 or 10240, got 1024");
    BAD("{'diskSize':'512'}", "diskSize: must be an integer, got string");
    OK("{'timeout':86400}");
    OK("{'timeout':1}");
    BAD("{'timeout':0}", "timeout: must be between 1 and 86400, got 0");
    BAD("{'timeout':86401}", "timeout: must be between 1 and 86400, got 86401");
    BAD("{'timeout':1.5}", "timeout: must be an integer, got 1.5");
    BAD("{'timeout':true}", "timeout: must be an integer, got boolean");
    BAD("{'timeout':1e300}", "timeout: must be an integer, got 1e+300");
    /* An integral real is accepted and stored as an integer. */
    json_t *fn = create_ok_from(base_container, "{'timeout':60.0}");
    assert_int_equal(int_at(fn, "timeout"), 60);
    json_decref(fn);
    OK("{'instanceConcurrency':200}");
    BAD("{'instanceConcurrency':0}", "instanceConcurrency: must be between 1 and 200, got 0");
    BAD("{'instanceConcurrency':201}", "instanceConcurrency: must be between 1 and 200, got 201");
    OK("{'idleTimeout':0}");
    OK("{'idleTimeout':600}");
    BAD("{'idleTimeout':-1}", "idleTimeout: must be at least 0, got -1");
    BAD("{'internetAccess':'yes'}", "internetAccess: must be a boolean, got string");
    BAD("{'description':5}", "description: must be a string, got integer");
    BAD("{'handler':[]}", "handler: must be a string, got array");
    BAD("{'role':{}}", "role: must be a string, got object");
}

static void test_env(void **state)
{
    (void)state;
    OK("{'environmentVariables':{'A':'1','_b9':'','FCGPU_RUNTIME_SHMSIZE':'8589934592'}}");
    OK("{'environmentVariables':{}}");
    BAD("{'environmentVariables':[]}", "environmentVariables: must be an object, got array");
    BAD("{'environmentVariables':{'1A':'x'}}",
        "environmentVariables: variable name \"1A\" must match [a-zA-Z_][a-zA-Z0-9_]*");
    BAD("{'environmentVariables':{'A-B':'x'}}", "environmentVariables: variable name \"A-B\"");
    BAD("{'environmentVariables':{'':'x'}}", "environmentVariables: variable name \"\"");
    BAD("{'environmentVariables':{'FC_REGION':'x'}}",
        "environmentVariables.FC_REGION: the FC_ prefix is reserved");
    BAD("{'environmentVariables':{'PORT':9000}}",
        "environmentVariables.PORT: must be a string, got integer");

    /* 4096 bytes of names and values are fine, one more is not. */
    char *big = malloc(8192);
    assert_non_null(big);
    char val[4100];
    memset(val, 'x', 4095);
    val[4095] = 0;
    snprintf(big, 8192, "{'environmentVariables':{'K':'%s'}}", val); /* 1 + 4095 */
    OK(big);
    val[4095] = 'x';
    val[4096] = 0;
    snprintf(big, 8192, "{'environmentVariables':{'K':'%s'}}", val);
    BAD(big, "environmentVariables: names and values must total at most 4096 bytes, got 4097");
    free(big);
}

static void test_lifecycle(void **state)
{
    (void)state;
    OK("{'instanceLifecycleConfig':{'initializer':{'handler':'true','timeout':300},"
       "'preStop':{'handler':'x','timeout':90}}}");
    OK("{'instanceLifecycleConfig':{'initializer':{'command':['/warm.sh'],'timeout':1}}}");
    /* FC's shape for "no hook". */
    OK("{'instanceLifecycleConfig':{'initializer':{'handler':'','timeout':3},"
       "'preStop':{'handler':'','timeout':3}}}");
    OK("{'instanceLifecycleConfig':{}}");
    BAD("{'instanceLifecycleConfig':{'initializer':{'handler':'h','command':['c']}}}",
        "instanceLifecycleConfig.initializer: set handler or command, not both");
    BAD("{'instanceLifecycleConfig':{'initializer':{'handler':'h','timeout':301}}}",
        "instanceLifecycleConfig.initializer.timeout: must be between 1 and 300, got 301");
    BAD("{'instanceLifecycleConfig':{'initializer':{'handler':'h','timeout':0}}}",
        "instanceLifecycleConfig.initializer.timeout: must be between 1 and 300, got 0");
    BAD("{'instanceLifecycleConfig':{'preStop':{'handler':'h','timeout':91}}}",
        "instanceLifecycleConfig.preStop.timeout: must be between 1 and 90, got 91");
    BAD("{'instanceLifecycleConfig':{'preStop':{'command':'stop'}}}",
        "instanceLifecycleConfig.preStop.command: must be an array of strings, got string");
    BAD("{'instanceLifecycleConfig':{'preStop':{'handler':1}}}",
        "instanceLifecycleConfig.preStop.handler: must be a string, got integer");
    BAD("{'instanceLifecycleConfig':{'initializer':'h'}}",
        "instanceLifecycleConfig.initializer: must be an object, got string");
    BAD("{'instanceLifecycleConfig':true}",
        "instanceLifecycleConfig: must be an object, got boolean");
}

static void test_mounts(void **state)
{
    (void)state;
    OK("{'nasConfig':{'userId':10003,'groupId':10003,'mountPoints':["
       "{'serverAddr':'abc.cn-hangzhou.nas.aliyuncs.com:/models','mountDir':'/mnt/models',"
       "'enableTLS':false},"
       "{'serverAddr':'abc.cn-hangzhou.nas.aliyuncs.com:/','mountDir':'/mnt/b'}]},"
       "'ossMountConfig':{'mountPoints':[{'bucketName':'models','bucketPath':'/llm',"
       "'endpoint':'http://oss-cn-shanghai.aliyuncs.com','mountDir':'/mnt/"
       "oss','readOnly':true}]}}");
    /* What the fc3 component sends to clear the settings. */
    OK("{'nasConfig':{'groupId':0,'userId':0,'mountPoints':[]},'ossMountConfig':{'mountPoints':[]},"
       "'vpcConfig':{'securityGroupId':'','vSwitchIds':[],'vpcId':''},'tracingConfig':{},"
       "'logConfig':{'enableInstanceMetrics':false,'enableRequestMetrics':false,"
       "'logBeginRule':'None','logstore':'','project':''},'environmentVariables':{},'layers':[],"
       "'instanceIsolationMode':'SHARE','sessionAffinity':'NONE'}");

    const char *six = "{'serverAddr':'h:/','mountDir':'/m1'},{'serverAddr':'h:/','mountDir':'/m2'},"
                      "{'serverAddr':'h:/','mountDir':'/m3'},{'serverAddr':'h:/','mountDir':'/m4'},"
                      "{'serverAddr':'h:/','mountDir':'/m5'},{'serverAddr':'h:/','mountDir':'/m6'}";
    char extra[1024];
    snprintf(extra, sizeof(extra), "{'nasConfig':{'mountPoints':[%s]}}", six);
    BAD(extra, "nasConfig.mountPoints: must have at most 5 items, got 6");
    BAD("{'nasConfig':{'mountPoints':[{'serverAddr':'h:/','mountDir':'mnt'}]}}",
        "nasConfig.mountPoints[0].mountDir: must be an absolute directory");
    BAD("{'nasConfig':{'mountPoints':[{'serverAddr':'h:/','mountDir':'/'}]}}",
        "nasConfig.mountPoints[0].mountDir: must be an absolute directory");
    BAD("{'nasConfig':{'mountPoints':[{'serverAddr':'h:/','mountDir':'/mnt/../etc'}]}}",
        "nasConfig.mountPoints[0].mountDir: must be an absolute directory");
    BAD("{'nasConfig':{'mountPoints':[{'serverAddr':'h:/','mountDir':'/a'},{'mountDir':'/b'}]}}",
        "nasConfig.mountPoints[1].serverAddr: is required");
    BAD("{'nasConfig':{'mountPoints':[{'serverAddr':'nas-host','mountDir':'/a'}]}}",
        "nasConfig.mountPoints[0].serverAddr: must look like host:/path");
    BAD("{'nasConfig':{'mountPoints':[{'serverAddr':'h:/','mountDir':'/a','enableTLS':'no'}]}}",
        "nasConfig.mountPoints[0].enableTLS: must be a boolean, got string");
    BAD("{'nasConfig':{'userId':'root'}}", "nasConfig.userId: must be an integer, got string");
    BAD("{'nasConfig':{'mountPoints':{}}}", "nasConfig.mountPoints: must be an array, got object");
    BAD("{'nasConfig':{'mountPoints':['h:/a']}}",
        "nasConfig.mountPoints[0]: must be an object, got string");

    snprintf(extra, sizeof(extra), "{'ossMountConfig':{'mountPoints':[%s]}}", six);
    BAD(extra, "ossMountConfig.mountPoints: must have at most 5 items, got 6");
    BAD("{'ossMountConfig':{'mountPoints':[{'mountDir':'/o'}]}}",
        "ossMountConfig.mountPoints[0].bucketName: is required");
    BAD("{'ossMountConfig':{'mountPoints':[{'bucketName':'b','mountDir':'/o','readOnly':'yes'}]}}",
        "ossMountConfig.mountPoints[0].readOnly: must be a boolean, got string");
    BAD("{'ossMountConfig':{'mountPoints':[{'bucketName':'b','mountDir':'/o','bucketPath':'x'}]}}",
        "ossMountConfig.mountPoints[0].bucketPath: must start with '/'");
    BAD("{'ossMountConfig':{'mountPoints':[{'bucketName':'b'}]}}",
        "ossMountConfig.mountPoints[0].mountDir: is required");
    BAD("{'nasConfig':{'mountPoints':[{'serverAddr':'h:/','mountDir':'/data'}]},"
        "'ossMountConfig':{'mountPoints':[{'bucketName':'b','mountDir':'/data'}]}}",
        "ossMountConfig.mountPoints[0].mountDir: \"/data\" is already a mount directory");
}

static void test_stored_only_shapes(void **state)
{
    (void)state;
    OK("{'vpcConfig':{'vpcId':'vpc-1','vSwitchIds':['vsw-1'],'securityGroupId':'sg-1'},"
       "'tracingConfig':{'type':'Jaeger','params':{'endpoint':'x'}},"
       "'customDNS':{'nameServers':['1.1.1.1'],'searches':['a'],'dnsOptions':[{'name':'ndots',"
       "'value':'2'}]},'layers':['acs:fc:cn-hangzhou:official:layers/Python310/versions/2'],"
       "'tags':[{'key':'team','value':'ml'}],'role':'acs:ram::1:role/r','juiceFsConfig':{}}");
    BAD("{'logConfig':'auto'}", "logConfig: must be an object, got string");
    BAD("{'logConfig':{'enableRequestMetrics':'true'}}",
        "logConfig.enableRequestMetrics: must be a boolean, got string");
    BAD("{'logConfig':{'project':1}}", "logConfig.project: must be a string, got integer");
    BAD("{'vpcConfig':{'vSwitchIds':'vsw-1'}}",
        "vpcConfig.vSwitchIds: must be an array of strings, got string");
    BAD("{'tracingConfig':{'params':'x'}}", "tracingConfig.params: must be an object, got string");
    BAD("{'layers':[1]}", "layers[0]: must be a string, got integer");
    BAD("{'tags':[{'value':'x'}]}", "tags[0].key: is required");
    BAD("{'tags':{}}", "tags: must be an array, got object");
    BAD("{'customDNS':{'dnsOptions':[1]}}", "customDNS.dnsOptions[0]: must be an object");
    BAD("{'polarFsConfig':1}", "polarFsConfig: must be an object, got integer");
}

/* ---- update --------------------------------------------------------------------- */

static json_t *stored_function(void)
{
    json_t *fn = create_ok_from(base_container,
                                "{'timeout':60,'cpu':2,'memorySize':4096,'description':'d',"
                                "'customContainerConfig':{'image':'i:1','port':8080,"
                                "'command':['python3','app.py']},"
                                "'gpuConfig':{'gpuType':'fc.gpu.tesla.1','gpuMemorySize':8192}}");
    /* What the API layer adds after create. */
    json_object_set_new(fn, "functionArn", json_string("acs:fc:local:1:functions/f"));
    json_object_set_new(fn, "createdTime", json_string("2026-01-01T00:00:00Z"));
    return fn;
}

static json_t *update_ok(const json_t *cur, const char *patch)
{
    json_t *p = jq(patch);
    json_t *out = NULL;
    struct frost_err err = {0};
    if (spec_function_update(cur, p, &out, &err) != 0)
        fail_msg("update %s failed: %s", patch, err.msg);
    json_decref(p);
    return out;
}

static void update_err(const json_t *cur, const char *patch, const char *want)
{
    json_t *p = jq(patch);
    json_t *out = NULL;
    struct frost_err err = {0};
    if (spec_function_update(cur, p, &out, &err) == 0)
        fail_msg("update %s accepted (wanted %s)", patch, want);
    assert_null(out);
    assert_msg_prefix(&err, want);
    json_decref(p);
}

static void test_update(void **state)
{
    (void)state;
    json_t *cur = stored_function();
    json_t *before = json_deep_copy(cur);

    /* Present fields replace; absent ones stay; output-only ones carry over. */
    json_t *fn = update_ok(cur, "{'timeout':120,'functionArn':'evil','state':'x'}");
    assert_int_equal(int_at(fn, "timeout"), 120);
    assert_string_equal(json_string_value(json_object_get(fn, "description")), "d");
    assert_string_equal(json_string_value(json_object_get(fn, "functionArn")),
                        "acs:fc:local:1:functions/f");
    assert_null(json_object_get(fn, "state"));
    json_decref(fn);

    /* Nested objects are replaced whole, not merged. */
    fn = update_ok(cur, "{'customContainerConfig':{'image':'i:2'}}");
    json_t *cc = json_object_get(fn, "customContainerConfig");
    assert_string_equal(json_string_value(json_object_get(cc, "image")), "i:2");
    assert_null(json_object_get(cc, "port"));
    assert_null(json_object_get(cc, "command"));
    json_decref(fn);

    /* null resets to the default (memory derived from the stored cpu). */
    fn = update_ok(cur, "{'memorySize':null,'timeout':null,'gpuConfig':null}");
    assert_int_equal(int_at(fn, "memorySize"), 2048);
    assert_int_equal(int_at(fn, "timeout"), 3);
    assert_null(json_object_get(fn, "gpuConfig"));
    json_decref(fn);

    /* functionName: absent or the same is fine; another is not. */
    json_decref(update_ok(cur, "{'functionName':'f'}"));
    json_decref(update_ok(cur, "{}"));
    update_err(cur, "{'functionName':'g'}", "functionName: cannot be changed");
    update_err(cur, "{'functionName':7}", "functionName: cannot be changed");

    /* The result is validated as a whole. */
    update_err(cur, "{'memorySize':32768}", "cpu: the ratio of cpu to memorySize in GB");
    update_err(cur, "{'timeout':0}", "timeout: must be between 1 and 86400, got 0");
    update_err(cur, "{'customContainerConfig':{'port':1}}",
               "customContainerConfig.image: is required");
    update_err(cur, "{'runtime':'nodejs18'}", "runtime: must be one of");
    update_err(cur, "{'code':{'zipFile':'QUJD'}}",
               "code: does not apply to runtime custom-container");
    update_err(cur, "{'code':{'zipFile':'@@@@'}}", "code.zipFile: must be a non-empty base64");

    /* Switching runtime family drops the old family's config… */
    fn = update_ok(cur, "{'runtime':'custom.debian12'}");
    assert_null(json_object_get(fn, "customContainerConfig"));
    json_t *back = update_ok(fn, "{'runtime':'custom-container','customContainerConfig':"
                                 "{'image':'i:3'},'customRuntimeConfig':null}");
    json_decref(back);
    /* …unless the patch set it, then the mismatch is an error. */
    update_err(cur, "{'runtime':'custom','customContainerConfig':{'image':'x'}}",
               "customContainerConfig: only applies to runtime custom-container");
    update_err(fn, "{'runtime':'custom-container'}",
               "customContainerConfig: is required with runtime custom-container");
    json_decref(update_ok(fn, "{'code':{'zipFile':'QUJD'}}"));
    json_decref(fn);

    /* Bad bodies. */
    json_t *arr = jq("[]");
    json_t *out = NULL;
    struct frost_err err = {0};
    assert_int_equal(spec_function_update(cur, arr, &out, &err), -1);
    assert_string_equal(err.msg, "body: must be a JSON object, got array");
    assert_int_equal(spec_function_update(arr, cur, &out, &err), -1);
    assert_int_equal(err.status, 500);
    json_decref(arr);

    /* The stored object was never touched. */
    assert_true(json_equal(cur, before));
    json_decref(before);
    json_decref(cur);
}

/* ---- provision config ------------------------------------------------------------ */

static json_t *prov_ok(const char *text)
{
    json_t *in = jq(text);
    json_t *out = NULL;
    struct frost_err err = {0};
    if (spec_provision_config(in, &out, &err) != 0)
        fail_msg("provision %s failed: %s", text, err.msg);
    json_decref(in);
    return out;
}

static void prov_err(const char *text, const char *want)
{
    json_t *in = jq(text);
    json_t *out = NULL;
    struct frost_err err = {0};
    if (spec_provision_config(in, &out, &err) == 0)
        fail_msg("provision %s accepted (wanted %s)", text, want);
    assert_msg_prefix(&err, want);
    json_decref(in);
}

static void test_provision(void **state)
{
    (void)state;
    json_t *p = prov_ok("{'target':3,'current':9,'currentError':'x','functionArn':'a'}");
    assert_int_equal(int_at(p, "target"), 3);
    assert_int_equal(int_at(p, "defaultTarget"), 3);
    assert_true(json_is_true(json_object_get(p, "alwaysAllocateCPU")));
    assert_true(json_is_true(json_object_get(p, "alwaysAllocateGPU")));
    assert_null(json_object_get(p, "current"));
    assert_null(json_object_get(p, "currentError"));
    assert_null(json_object_get(p, "functionArn"));
    json_decref(p);

    p = prov_ok("{'defaultTarget':5,'alwaysAllocateGPU':false,'alwaysAllocateCPU':false}");
    assert_int_equal(int_at(p, "target"), 5);
    assert_int_equal(int_at(p, "defaultTarget"), 5);
    assert_true(json_is_false(json_object_get(p, "alwaysAllocateGPU")));
    assert_true(json_is_false(json_object_get(p, "alwaysAllocateCPU")));
    json_decref(p);

    p = prov_ok("{'target':1,'defaultTarget':7}"); /* defaultTarget wins */
    assert_int_equal(int_at(p, "target"), 7);
    json_decref(p);
    p = prov_ok("{}");
    assert_int_equal(int_at(p, "target"), 0);
    assert_int_equal(int_at(p, "defaultTarget"), 0);
    json_decref(p);
    p = prov_ok("{'target':10000,'futureField':[1]}");
    assert_non_null(json_object_get(p, "futureField"));
    json_decref(p);

    prov_err("[]", "body: must be a JSON object");
    prov_err("{'target':10001}", "target: must be between 0 and 10000, got 10001");
    prov_err("{'defaultTarget':-1}", "defaultTarget: must be between 0 and 10000, got -1");
    prov_err("{'target':'1'}", "target: must be an integer, got string");
    prov_err("{'alwaysAllocateGPU':'false'}", "alwaysAllocateGPU: must be a boolean, got string");
}

static void test_scheduled_actions(void **state)
{
    (void)state;
    json_decref(prov_ok("{'target':1,'scheduledActions':["
                        "{'name':'night','scheduleExpression':'cron(0 0 22 * * *)','target':0,"
                        "'startTime':'2024-03-10T10:10:10Z','endTime':'2025-03-10T10:10:10Z'},"
                        "{'name':'morning','scheduleExpression':'cron(0 30 8 ? * MON-FRI)',"
                        "'target':5,'timeZone':'Asia/Shanghai',"
                        "'startTime':'2024-03-10T10:10:10','endTime':'2025-03-10T10:10:10'},"
                        "{'name':'launch.day','scheduleExpression':'at(2025-01-01T00:00:00)',"
                        "'target':50,'timeZone':''}]}"));
    prov_err("{'scheduledActions':{}}", "scheduledActions: must be an array, got object");
    prov_err("{'scheduledActions':[1]}", "scheduledActions[0]: must be an object, got integer");
    prov_err("{'scheduledActions':[{'scheduleExpression':'cron(0 0 4 * * *)','target':1}]}",
             "scheduledActions[0].name: is required");
    prov_err("{'scheduledActions':[{'name':'a b','scheduleExpression':'cron(0 0 4 * * *)',"
             "'target':1}]}",
             "scheduledActions[0].name: must be 1 to 128 letters");
    prov_err("{'scheduledActions':[{'name':'a','scheduleExpression':'cron(0 0 4 * * *)'}]}",
             "scheduledActions[0].target: is required");
    prov_err("{'scheduledActions':[{'name':'a','target':1}]}",
             "scheduledActions[0].scheduleExpression: is required");
    prov_err("{'scheduledActions':[{'name':'a','target':10001,'scheduleExpression':"
             "'cron(0 0 4 * * *)'}]}",
             "scheduledActions[0].target: must be between 0 and 10000");
    prov_err(
        "{'scheduledActions':[{'name':'a','target':1,'scheduleExpression':'cron(0 4 * * *)'}]}",
        "scheduledActions[0].scheduleExpression: cron() needs 6 fields");
    prov_err("{'scheduledActions':[{'name':'a','target':1,'scheduleExpression':"
             "'cron(0 0 25 * * *)'}]}",
             "scheduledActions[0].scheduleExpression: the hours field of");
    prov_err("{'scheduledActions':[{'name':'a','target':1,'scheduleExpression':'rate(5m)'}]}",
             "scheduledActions[0].scheduleExpression: must be cron(s m h dom mon dow) or at(");
    prov_err("{'scheduledActions':[{'name':'a','target':1,'scheduleExpression':"
             "'at(2025-13-01T00:00:00)'}]}",
             "scheduledActions[0].scheduleExpression: at() needs a time");
    prov_err("{'scheduledActions':[{'name':'a','target':1,'scheduleExpression':'cron(0 0 4 * * *)'"
             ",'startTime':'2024-03-10 10:10:10'}]}",
             "scheduledActions[0].startTime: must be an ISO 8601 UTC time");
    /* Without a timeZone the times must say Z. */
    prov_err("{'scheduledActions':[{'name':'a','target':1,'scheduleExpression':'cron(0 0 4 * * *)'"
             ",'startTime':'2024-03-10T10:10:10'}]}",
             "scheduledActions[0].startTime: must be an ISO 8601 UTC time");
    prov_err("{'scheduledActions':[{'name':'a','target':1,'scheduleExpression':'cron(0 0 4 * * *)'"
             ",'startTime':'2024-03-10T10:10:10Z','endTime':'2024-03-10T10:10:10Z'}]}",
             "scheduledActions[0].endTime: must be after startTime");
    prov_err("{'scheduledActions':[{'name':'a','target':1,'scheduleExpression':'cron(0 0 4 * * *)'"
             ",'timeZone':'Asia/Shang hai'}]}",
             "scheduledActions[0].timeZone: must be a time zone name");
    prov_err(
        "{'scheduledActions':[{'name':'a','target':1,'scheduleExpression':'cron(0 0 4 * * *)'},"
        "{'name':'a','target':2,'scheduleExpression':'cron(0 0 5 * * *)'}]}",
        "scheduledActions[1].name: \"a\" is used by scheduledActions[0] already");
}

static void test_target_tracking(void **state)
{
    (void)state;
    json_decref(prov_ok("{'targetTrackingPolicies':[{'name':'p1','metricType':'CPUUtilization',"
                        "'metricTarget':1,'minCapacity':0,'maxCapacity':0},"
                        "{'name':'p2','metricType':'GPUMemUtilization','metricTarget':0.01,"
                        "'minCapacity':1,'maxCapacity':10000,'timeZone':'UTC'}]}"));
    static const struct {
        const char *policy;
        const char *want;
    } bad[] = {
        {"{'name':'p','metricType':'QPS','metricTarget':0.5,'minCapacity':1,'maxCapacity':2}",
         "targetTrackingPolicies[0].metricType: must be one of ProvisionedConcurrencyUtilization"},
        {"{'name':'p','metricTarget':0.5,'minCapacity':1,'maxCapacity':2}",
         "targetTrackingPolicies[0].metricType: is required"},
        {"{'name':'p','metricType':'CPUUtilization','metricTarget':0,'minCapacity':1,"
         "'maxCapacity':2}",
         "targetTrackingPolicies[0].metricTarget: must be greater than 0 and at most 1, got 0"},
        {"{'name':'p','metricType':'CPUUtilization','metricTarget':1.5,'minCapacity':1,"
         "'maxCapacity':2}",
         "targetTrackingPolicies[0].metricTarget: must be greater than 0 and at most 1, got 1.5"},
        {"{'name':'p','metricType':'CPUUtilization','metricTarget':'0.5','minCapacity':1,"
         "'maxCapacity':2}",
         "targetTrackingPolicies[0].metricTarget: must be a number, got string"},
        {"{'name':'p','metricType':'CPUUtilization','metricTarget':0.5,'minCapacity':3,"
         "'maxCapacity':2}",
         "targetTrackingPolicies[0].minCapacity: must not exceed maxCapacity (2), got 3"},
        {"{'name':'p','metricType':'CPUUtilization','metricTarget':0.5,'maxCapacity':2}",
         "targetTrackingPolicies[0].minCapacity: is required"},
        {"{'name':'p','metricType':'CPUUtilization','metricTarget':0.5,'minCapacity':1}",
         "targetTrackingPolicies[0].maxCapacity: is required"},
        {"{'name':'p','metricType':'CPUUtilization','metricTarget':0.5,'minCapacity':1,"
         "'maxCapacity':10001}",
         "targetTrackingPolicies[0].maxCapacity: must be between 0 and 10000"},
        {"{'name':'p','metricType':'CPUUtilization','metricTarget':0.5,'minCapacity':1,"
         "'maxCapacity':2,'endTime':'2024-07-30'}",
         "targetTrackingPolicies[0].endTime: must be an ISO 8601 UTC time"},
        {"{'name':'p','metricType':'CPUUtilization','metricTarget':0.5,'minCapacity':1,"
         "'maxCapacity':2,'startTime':'2024-07-30T16:00:00Z','endTime':'2024-07-01T16:00:00Z'}",
         "targetTrackingPolicies[0].endTime: must be after startTime"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "{'targetTrackingPolicies':[%s]}", bad[i].policy);
        prov_err(text, bad[i].want);
    }
    prov_err("{'targetTrackingPolicies':[{'name':'p','metricType':'CPUUtilization','metricTarget':"
             "0.5,'minCapacity':1,'maxCapacity':2},{'name':'p','metricType':'CPUUtilization',"
             "'metricTarget':0.5,'minCapacity':1,'maxCapacity':2}]}",
             "targetTrackingPolicies[1].name: \"p\" is used by targetTrackingPolicies[0] already");
}

static void test_schedule_parse(void **state)
{
    (void)state;
    struct spec_schedule s;
    struct frost_err err = {0};
    assert_int_equal(spec_schedule_parse("cron(0 0 4 * * *)", "e", &s, &err), 0);
    assert_int_equal(s.kind, SPEC_SCHEDULE_CRON);
    assert_int_equal(s.cron.sec, 1);
    assert_int_equal(s.cron.min, 1);
    assert_int_equal(s.cron.hour, 1u << 4);
    assert_int_equal(s.cron.dom, 0xfffffffeu); /* 1..31 */
    assert_int_equal(s.cron.mon, 0x1ffe);      /* 1..12 */
    assert_int_equal(s.cron.dow, 0x7f);
    assert_false(s.cron.dom_restricted);
    assert_false(s.cron.dow_restricted);

    assert_int_equal(spec_schedule_parse("cron(*/15 0,30 9-17 ? jan,Jul MON-FRI)", "e", &s, &err),
                     0);
    assert_int_equal(s.cron.sec, (1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45));
    assert_int_equal(s.cron.min, (1ull << 0) | (1ull << 30));
    assert_int_equal(s.cron.hour, 0x3fe00); /* 9..17 */
    assert_int_equal(s.cron.mon, (1u << 1) | (1u << 7));
    assert_int_equal(s.cron.dow, 0x3e); /* Mon..Fri */
    assert_false(s.cron.dom_restricted);
    assert_true(s.cron.dow_restricted);

    assert_int_equal(spec_schedule_parse("cron(0  5/20 0 1 * 7)", "e", &s, &err), 0);
    assert_int_equal(s.cron.min, (1ull << 5) | (1ull << 25) | (1ull << 45));
    assert_int_equal(s.cron.dow, 1); /* 7 is Sunday */
    assert_true(s.cron.dom_restricted);

    assert_int_equal(spec_schedule_parse("at(2024-07-01T16:00:00)", "e", &s, &err), 0);
    assert_int_equal(s.kind, SPEC_SCHEDULE_AT);
    assert_int_equal(s.at_ms, 1719849600000LL);
    assert_int_equal(spec_schedule_parse("at(2024-07-01T16:00:00Z)", "e", &s, &err), 0);
    assert_int_equal(s.at_ms, 1719849600000LL);

    static const char *const bad[] = {
        "cron(0 0 4 * *)",     "cron(0 0 4 * * * *)",
        "cron(60 0 4 * * *)",  "cron(0 0 4 0 * *)",
        "cron(0 0 4 * 13 *)",  "cron(0 0 4 * * 8)",
        "cron(0 0 4 * FOO *)", "cron(? 0 4 * * *)",
        "cron(0 0 4 ?/2 * *)", "cron(0 0 4 * * MON-)",
        "cron(0 0 5-4 * * *)", "cron(0 0 */0 * * *)",
        "cron(0 0 4, * * *)",  "cron(0 0 4 L * *)",
        "cron(0 0 4 * * 1#2)", "cron()",
        "cron(0 0 004 * * *)", "at()",
        "at(tomorrow)",        "at(2024-02-30T00:00:00)",
        "0 0 4 * * *",         "",
        "cron(0 0 4 * * *",    "CRON(0 0 4 * * *)",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (spec_schedule_parse(bad[i], "scheduleExpression", &s, &err) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_msg_prefix(&err, "scheduleExpression: ");
    }
    assert_int_equal(spec_schedule_parse(NULL, "x", &s, &err), -1);
    assert_string_equal(err.msg, "x: is required");
}

/* ---- async config ---------------------------------------------------------------- */

static void async_err(const char *text, const char *want)
{
    json_t *in = jq(text);
    json_t *out = NULL;
    struct frost_err err = {0};
    if (spec_async_config(in, &out, &err) == 0)
        fail_msg("async %s accepted (wanted %s)", text, want);
    assert_msg_prefix(&err, want);
    json_decref(in);
}

static void test_async(void **state)
{
    (void)state;
    json_t *in = jq("{'createdTime':'x','functionArn':'y'}");
    json_t *c = NULL;
    struct frost_err err = {0};
    assert_int_equal(spec_async_config(in, &c, &err), 0);
    assert_int_equal(int_at(c, "maxAsyncEventAgeInSeconds"), 86400);
    assert_int_equal(int_at(c, "maxAsyncRetryAttempts"), 3);
    assert_true(json_is_false(json_object_get(c, "asyncTask")));
    assert_null(json_object_get(c, "createdTime"));
    assert_null(json_object_get(c, "functionArn"));
    json_decref(c);
    json_decref(in);

    in = jq("{'maxAsyncEventAgeInSeconds':604800,'maxAsyncRetryAttempts':0,'asyncTask':true,"
            "'destinationConfig':{'onSuccess':{'destination':'acs:fc:cn-shanghai:123:functions/"
            "done/prod'},'onFailure':{'destination':'https://hooks.example.com/fc?x=1'}}}");
    assert_int_equal(spec_async_config(in, &c, &err), 0);
    assert_int_equal(int_at(c, "maxAsyncRetryAttempts"), 0);
    assert_true(json_is_true(json_object_get(c, "asyncTask")));
    assert_true(json_equal(json_object_get(c, "destinationConfig"),
                           json_object_get(in, "destinationConfig")));
    json_decref(c);
    json_decref(in);

    async_err("{'maxAsyncEventAgeInSeconds':0}",
              "maxAsyncEventAgeInSeconds: must be between 1 and 604800, got 0");
    async_err("{'maxAsyncEventAgeInSeconds':604801}", "maxAsyncEventAgeInSeconds: must be between");
    async_err("{'maxAsyncRetryAttempts':9}",
              "maxAsyncRetryAttempts: must be between 0 and 8, got 9");
    async_err("{'maxAsyncRetryAttempts':-1}", "maxAsyncRetryAttempts: must be between 0 and 8");
    async_err("{'asyncTask':1}", "asyncTask: must be a boolean, got integer");
    async_err("{'destinationConfig':[]}", "destinationConfig: must be an object, got array");
    async_err("{'destinationConfig':{'onSuccess':{}}}",
              "destinationConfig.onSuccess.destination: is required");
    async_err("{'destinationConfig':{'onFailure':{'destination':''}}}",
              "destinationConfig.onFailure.destination: must not be empty");
    async_err("{'destinationConfig':{'onFailure':{'destination':'acs:mns:cn-shanghai:1:/queues/q/"
              "messages'}}}",
              "destinationConfig.onFailure.destination: only acs:fc function ARNs");
    async_err("{'destinationConfig':{'onFailure':'f'}}",
              "destinationConfig.onFailure: must be an object, got string");
}

static void test_destination_parse(void **state)
{
    (void)state;
    struct spec_destination d;
    struct frost_err err = {0};
    assert_int_equal(
        spec_destination_parse("acs:fc:cn-shanghai:123:functions/done/prod", "d", &d, &err), 0);
    assert_int_equal(d.kind, SPEC_DEST_FUNCTION);
    assert_string_equal(d.function, "done");
    assert_string_equal(d.qualifier, "prod");
    assert_string_equal(d.region, "cn-shanghai");
    assert_string_equal(d.account, "123");

    assert_int_equal(spec_destination_parse("acs:fc:local:frost:functions/f1", "d", &d, &err), 0);
    assert_string_equal(d.function, "f1");
    assert_string_equal(d.qualifier, "");

    assert_int_equal(spec_destination_parse("my_func", "d", &d, &err), 0);
    assert_int_equal(d.kind, SPEC_DEST_FUNCTION);
    assert_string_equal(d.function, "my_func");
    assert_string_equal(d.region, "");

    const char *url = "http://127.0.0.1:8080/cb";
    assert_int_equal(spec_destination_parse(url, "d", &d, &err), 0);
    assert_int_equal(d.kind, SPEC_DEST_URL);
    assert_ptr_equal(d.url, url);

    static const char *const bad[] = {
        "",
        "1func",
        "acs:fc:cn-shanghai:123:functions/",
        "acs:fc:cn-shanghai:123:services/s/functions/f",
        "acs:fc::123:functions/f",
        "acs:fc:cn-shanghai:123:functions/f/",
        "acs:fc:cn-shanghai:123:functions/f/a/b",
        "acs:fc:cn-shanghai",
        "acs:eventbridge:cn-shanghai:1:eventbus/default",
        "http://",
        "https:///path",
        "http://host/a b",
        "ftp://host/x",
        "func name",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (spec_destination_parse(bad[i], "dest", &d, &err) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_msg_prefix(&err, "dest: ");
    }
}

/* ---- concurrency ------------------------------------------------------------------- */

static void test_concurrency(void **state)
{
    (void)state;
    struct frost_err err = {0};
    json_t *in = jq("{'reservedConcurrency':10,'functionArn':'x'}");
    json_t *c = NULL;
    assert_int_equal(spec_concurrency_config(in, &c, &err), 0);
    assert_int_equal(int_at(c, "reservedConcurrency"), 10);
    assert_null(json_object_get(c, "functionArn"));
    json_decref(c);
    json_decref(in);

    static const struct {
        const char *in, *want;
    } bad[] = {
        {"{}", "reservedConcurrency: is required"},
        {"{'reservedConcurrency':-1}", "reservedConcurrency: must be between 0 and 10000, got -1"},
        {"{'reservedConcurrency':10001}", "reservedConcurrency: must be between 0 and 10000"},
        {"{'reservedConcurrency':'5'}", "reservedConcurrency: must be an integer, got string"},
        {"5", "body: must be a JSON object, got integer"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        in = jq(bad[i].in);
        c = NULL;
        assert_int_equal(spec_concurrency_config(in, &c, &err), -1);
        assert_null(c);
        assert_msg_prefix(&err, bad[i].want);
        json_decref(in);
    }
    in = jq("{'reservedConcurrency':0}");
    assert_int_equal(spec_concurrency_config(in, &c, &err), 0);
    json_decref(c);
    json_decref(in);
}

/* ---- triggers -------------------------------------------------------------------------- */

static json_t *trig_ok(const char *text)
{
    json_t *in = jq(text);
    json_t *out = NULL;
    struct frost_err err = {0};
    if (spec_trigger_create(in, &out, &err) != 0)
        fail_msg("trigger %s failed: %s", text, err.msg);
    json_decref(in);
    return out;
}

static void trig_err(const char *text, const char *want)
{
    json_t *in = jq(text);
    json_t *out = NULL;
    struct frost_err err = {0};
    if (spec_trigger_create(in, &out, &err) == 0)
        fail_msg("trigger %s accepted (wanted %s)", text, want);
    assert_msg_prefix(&err, want);
    json_decref(in);
}

static void test_trigger_http(void **state)
{
    (void)state;
    /* As the SDK sends it: triggerConfig is a string. */
    json_t *in = json_loads("{\"triggerName\":\"web\",\"triggerType\":\"http\",\"triggerConfig\":"
                            "\"{\\\"methods\\\":[\\\"GET\\\",\\\"POST\\\",\\\"OPTIONS\\\"]}\","
                            "\"triggerId\":\"x\",\"status\":\"OK\",\"httpTrigger\":{}}",
                            0, NULL);
    assert_non_null(in);
    json_t *t = NULL;
    struct frost_err err = {0};
    assert_int_equal(spec_trigger_create(in, &t, &err), 0);
    assert_string_equal(json_string_value(json_object_get(t, "triggerConfig")),
                        "{\"methods\":[\"GET\",\"POST\",\"OPTIONS\"],\"authType\":\"function\","
                        "\"disableURLInternet\":false}");
    assert_string_equal(json_string_value(json_object_get(t, "qualifier")), "LATEST");
    assert_null(json_object_get(t, "triggerId"));
    assert_null(json_object_get(t, "status"));
    assert_null(json_object_get(t, "httpTrigger"));
    struct spec_http_trigger h;
    assert_int_equal(spec_http_trigger_parse(t, &h, &err), 0);
    assert_int_equal(h.auth, SPEC_HTTP_AUTH_FUNCTION);
    assert_int_equal(h.methods, SPEC_HTTP_GET | SPEC_HTTP_POST | SPEC_HTTP_OPTIONS);
    assert_false(h.disable_url_internet);

    /* Normalising a stored trigger again changes nothing. */
    json_t *t2 = NULL;
    assert_int_equal(spec_trigger_create(t, &t2, &err), 0);
    assert_true(json_equal(t, t2));
    json_decref(t2);

    /* Update: new config replaces the old; name and type are fixed. */
    json_t *p = jq("{'triggerConfig':'{\\\"authType\\\":\\\"anonymous\\\",\\\"methods\\\":"
                   "[\\\"PUT\\\",\\\"DELETE\\\",\\\"HEAD\\\",\\\"PATCH\\\"],"
                   "\\\"disableURLInternet\\\":true}','description':'d','triggerName':'web',"
                   "'createdTime':'x'}");
    json_t *u = NULL;
    if (spec_trigger_update(t, p, &u, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(spec_http_trigger_parse(u, &h, &err), 0);
    assert_int_equal(h.auth, SPEC_HTTP_AUTH_ANONYMOUS);
    assert_int_equal(h.methods,
                     SPEC_HTTP_PUT | SPEC_HTTP_DELETE | SPEC_HTTP_HEAD | SPEC_HTTP_PATCH);
    assert_true(h.disable_url_internet);
    assert_string_equal(json_string_value(json_object_get(u, "description")), "d");
    assert_null(json_object_get(u, "createdTime"));
    json_decref(u);
    json_decref(p);

    static const struct {
        const char *patch, *want;
    } bad_updates[] = {
        {"{'triggerName':'other'}", "triggerName: cannot be changed"},
        {"{'triggerType':'timer'}", "triggerType: cannot be changed"},
        {"{'triggerConfig':'{}'}", "triggerConfig.methods: is required"},
        {"{'triggerConfig':null}", "triggerConfig: is required for http triggers"},
        {"{'qualifier':'a/b'}", "qualifier: must be LATEST, a version or an alias name"},
        {"[]", "body: must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad_updates) / sizeof(bad_updates[0]); i++) {
        p = jq(bad_updates[i].patch);
        u = NULL;
        assert_int_equal(spec_trigger_update(t, p, &u, &err), -1);
        assert_null(u);
        assert_msg_prefix(&err, bad_updates[i].want);
        json_decref(p);
    }
    json_decref(t);
    json_decref(in);

    static const struct {
        const char *cfg, *want;
    } bad[] = {
        {"{'authType':'none','methods':['GET']}",
         "triggerConfig.authType: must be anonymous or function, got \"none\""},
        {"{'methods':[]}", "triggerConfig.methods: must be a non-empty array of HTTP methods"},
        {"{'methods':'GET'}", "triggerConfig.methods: must be a non-empty array of HTTP methods, "
                              "got string"},
        {"{'methods':['get']}", "triggerConfig.methods[0]: must be one of GET, POST"},
        {"{'methods':['GET','CONNECT']}", "triggerConfig.methods[1]: must be one of GET"},
        {"{'methods':['GET',1]}", "triggerConfig.methods[1]: must be a string, got integer"},
        {"{'methods':['GET'],'disableURLInternet':'true'}",
         "triggerConfig.disableURLInternet: must be a boolean, got string"},
        {"{'methods':['GET'],'corsConfig':'*'}",
         "triggerConfig.corsConfig: must be an object, got string"},
        {"{'authType':1,'methods':['GET']}", "triggerConfig.authType: must be a string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "{'triggerName':'t','triggerType':'http','triggerConfig':%s}",
                 bad[i].cfg);
        trig_err(text, bad[i].want);
    }
}

static void test_trigger_common(void **state)
{
    (void)state;
    /* Stored-only types keep their config string verbatim. */
    json_t *t = trig_ok("{'triggerName':'tick','triggerType':'timer','qualifier':'prod',"
                        "'triggerConfig':'{ \\\"cronExpression\\\": \\\"@every 5m\\\", "
                        "\\\"enable\\\": true }','description':'every 5 minutes'}");
    assert_string_equal(json_string_value(json_object_get(t, "triggerConfig")),
                        "{ \"cronExpression\": \"@every 5m\", \"enable\": true }");
    assert_string_equal(json_string_value(json_object_get(t, "qualifier")), "prod");
    struct spec_http_trigger h;
    struct frost_err err = {0};
    assert_int_equal(spec_http_trigger_parse(t, &h, &err), -1);
    assert_msg_prefix(&err, "triggerType: must be http");
    json_decref(t);

    json_decref(trig_ok("{'triggerName':'ots','triggerType':'tablestore',"
                        "'sourceArn':'acs:ots:cn-hangzhou:1:instance/i/table/t'}"));
    json_decref(trig_ok("{'triggerName':'o','triggerType':'oss','triggerConfig':"
                        "{'events':['oss:ObjectCreated:*']}}"));
    json_decref(trig_ok("{'triggerName':'_m','triggerType':'mns_topic','triggerConfig':'{}'}"));
    json_decref(trig_ok("{'triggerName':'e','triggerType':'eventbridge','triggerConfig':'{}'}"));
    json_decref(trig_ok("{'triggerName':'l','triggerType':'log','triggerConfig':'{}'}"));
    json_decref(trig_ok("{'triggerName':'c','triggerType':'cdn_events','triggerConfig':'{}'}"));

    trig_err("7", "body: must be a JSON object, got integer");
    trig_err("{'triggerType':'http','triggerConfig':'{}'}", "triggerName: is required");
    trig_err("{'triggerName':'9t','triggerType':'http'}", "triggerName: must be 1 to 128");
    trig_err("{'triggerName':'-t','triggerType':'http'}", "triggerName: must be 1 to 128");
    trig_err("{'triggerName':'t'}", "triggerType: is required");
    trig_err("{'triggerName':'t','triggerType':'kafka','triggerConfig':'{}'}",
             "triggerType: must be one of http, timer");
    trig_err("{'triggerName':'t','triggerType':'timer'}",
             "triggerConfig: is required for timer triggers");
    trig_err("{'triggerName':'t','triggerType':'timer','triggerConfig':'not json'}",
             "triggerConfig: must be a JSON string holding an object");
    trig_err("{'triggerName':'t','triggerType':'timer','triggerConfig':'[1]'}",
             "triggerConfig: must be a JSON string holding an object, it holds array");
    trig_err("{'triggerName':'t','triggerType':'timer','triggerConfig':5}",
             "triggerConfig: must be a JSON string holding an object, got integer");
    trig_err("{'triggerName':'t','triggerType':'timer','triggerConfig':'{}','description':1}",
             "description: must be a string, got integer");
    trig_err("{'triggerName':'t','triggerType':'timer','triggerConfig':'{}','qualifier':'a b'}",
             "qualifier: must be LATEST");

    /* parse on a trigger whose stored config is broken. */
    json_t *broken = jq("{'triggerType':'http','triggerConfig':'{'}");
    assert_int_equal(spec_http_trigger_parse(broken, &h, &err), -1);
    assert_msg_prefix(&err, "triggerConfig: ");
    json_decref(broken);
    broken = jq("{'triggerType':'http'}");
    assert_int_equal(spec_http_trigger_parse(broken, &h, &err), -1);
    json_decref(broken);
}

static void test_http_method_bit(void **state)
{
    (void)state;
    assert_int_equal(spec_http_method_bit("GET", 3), SPEC_HTTP_GET);
    assert_int_equal(spec_http_method_bit("OPTIONS", 7), SPEC_HTTP_OPTIONS);
    assert_int_equal(spec_http_method_bit("DELETEX", 6), SPEC_HTTP_DELETE);
    assert_int_equal(spec_http_method_bit("GE", 2), 0);
    assert_int_equal(spec_http_method_bit("get", 3), 0);
    assert_int_equal(spec_http_method_bit("TRACE", 5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_function_name),
        cmocka_unit_test(test_sdk_capture),
        cmocka_unit_test(test_seed002),
        cmocka_unit_test(test_body_and_required),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_output_only_and_unknown),
        cmocka_unit_test(test_code),
        cmocka_unit_test(test_runtime_configs),
        cmocka_unit_test(test_health_check),
        cmocka_unit_test(test_gpu),
        cmocka_unit_test(test_cpu_memory),
        cmocka_unit_test(test_scalar_ranges),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_mounts),
        cmocka_unit_test(test_stored_only_shapes),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_provision),
        cmocka_unit_test(test_scheduled_actions),
        cmocka_unit_test(test_target_tracking),
        cmocka_unit_test(test_schedule_parse),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_destination_parse),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_trigger_http),
        cmocka_unit_test(test_trigger_common),
        cmocka_unit_test(test_http_method_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
