/* Functions: CreateFunctionInput / UpdateFunctionInput validation and the
 * stored function object. The rules and their sources are in
 * docs/functions.md; this file is their single implementation. */
#include "spec/spec.h"

#include <stdio.h>
#include <string.h>

#include "spec/internal.h"

/* Members only Frost sets; dropped from create/update input. */
static const char *const output_only[] = {
    "functionArn",
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
};

static bool is_output_only(const char *key)
{
    for (size_t i = 0; i < ARRAY_LEN(output_only); i++)
        if (strcmp(key, output_only[i]) == 0)
            return true;
    return false;
}

enum family {
    FAMILY_NONE,
    FAMILY_CUSTOM,    /* custom, custom.debian10/11/12: Frost runs the code package */
    FAMILY_CONTAINER, /* custom-container: Frost runs an image */
};

static const char *const runtimes[] = {
    "custom", "custom.debian10", "custom.debian11", "custom.debian12", "custom-container",
};

static enum family runtime_family(const char *rt)
{
    if (!rt)
        return FAMILY_NONE;
    if (strcmp(rt, "custom-container") == 0)
        return FAMILY_CONTAINER;
    for (size_t i = 0; i < ARRAY_LEN(runtimes) - 1; i++)
        if (strcmp(rt, runtimes[i]) == 0)
            return FAMILY_CUSTOM;
    return FAMILY_NONE;
}

static enum family family_of(const json_t *fn)
{
    return runtime_family(json_string_value(spec__get(fn, "runtime")));
}

/* ---- small shared pieces -------------------------------------------------- */

int spec_function_name_check(const char *name, struct frost_err *err)
{
    if (!name)
        return spec__invalid(err, "functionName", "is required");
    size_t len = strlen(name);
    if (len == 0 || len > SPEC_FUNC_NAME_MAX)
        return spec__invalid(err, "functionName", "must be 1 to %d characters, got %zu",
                             SPEC_FUNC_NAME_MAX, len);
    if (!spec__name_ok(name, len, SPEC_FUNC_NAME_MAX))
        return spec__invalid(err, "functionName",
                             "must start with a letter or '_' and contain only letters, digits, "
                             "'_' and '-', got \"%.64s\"",
                             name);
    return 0;
}

static bool is_base64(const char *s, size_t len)
{
    if (len == 0 || len % 4 != 0)
        return false;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0) /* data after padding */
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return pad <= 2;
}

int spec_code_check(const json_t *code, const char *path, struct frost_err *err)
{
    if (spec__object(code, path, true, err) < 0)
        return -1;
    /* spec__string only reads, so the caller's object stays untouched. */
    json_t *c = (json_t *)code;
    char sub[SPEC_PATH_MAX];
    const char *zip = NULL, *bucket = NULL, *object = NULL, *sum = NULL;
    if (spec__string(c, "zipFile", path, false, SIZE_MAX, false, &zip, err) < 0 ||
        spec__string(c, "ossBucketName", path, false, 63, false, &bucket, err) < 0 ||
        spec__string(c, "ossObjectName", path, false, 1024, false, &object, err) < 0 ||
        spec__string(c, "checksum", path, false, 64, false, &sum, err) < 0)
        return -1;
    bool has_zip = zip != NULL;
    bool has_bucket = bucket && bucket[0], has_object = object && object[0];
    if (has_zip && (has_bucket || has_object))
        return spec__invalid(err, path, "set zipFile or ossBucketName and ossObjectName, not both");
    if (!has_zip && !has_bucket && !has_object)
        return spec__invalid(err, path,
                             "set zipFile (base64 ZIP) or ossBucketName and ossObjectName");
    if (has_zip && !is_base64(zip, strlen(zip)))
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "zipFile"),
                             "must be a non-empty base64 string (standard alphabet, padded)");
    if (!has_zip && !has_bucket)
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "ossBucketName"),
                             "is required with ossObjectName");
    if (!has_zip && !has_object)
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "ossObjectName"),
                             "is required with ossBucketName");
    if (sum) {
        /* FC sends a decimal CRC-64; Frost's own codeChecksum is hex SHA-256. */
        bool ok = sum[0] != '\0';
        for (const char *p = sum; *p; p++)
            ok = ok &&
                 ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'));
        if (!ok)
            return spec__invalid(err, spec__path(sub, sizeof(sub), path, "checksum"),
                                 "must be a decimal CRC-64 or a hex SHA-256, got \"%.32s\"", sum);
    }
    return 0;
}

/* ---- nested configs --------------------------------------------------------- */

/* The nested object member `key` of obj, checked to be an object (NULL when
 * absent). Null members inside it are dropped. */
static int nested(json_t *obj, const char *key, const char *parent, char *path, size_t pathlen,
                  json_t **out, struct frost_err *err)
{
    spec__path(path, pathlen, parent, key);
    json_t *v = spec__get(obj, key);
    if (spec__object(v, path, false, err) < 0)
        return -1;
    if (v)
        spec__drop_nulls(v);
    *out = v;
    return 0;
}

static int check_health(json_t *parent_obj, const char *parent, struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    json_t *hc;
    if (nested(parent_obj, "healthCheckConfig", parent, path, sizeof(path), &hc, err) < 0)
        return -1;
    if (!hc)
        return 0;
    const char *url;
    if (spec__string(hc, "httpGetUrl", path, json_object_size(hc) > 0, 2048, true, &url, err) < 0)
        return -1;
    if (url && url[0] != '/') {
        char sub[SPEC_PATH_MAX];
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "httpGetUrl"),
                             "must be a path starting with '/', got \"%.64s\"", url);
    }
    if (spec__int(hc, "initialDelaySeconds", path, 0, 120, false, NULL, NULL, err) < 0 ||
        spec__int(hc, "periodSeconds", path, 1, 120, false, NULL, NULL, err) < 0 ||
        spec__int(hc, "timeoutSeconds", path, 1, 3, false, NULL, NULL, err) < 0 ||
        spec__int(hc, "failureThreshold", path, 1, 120, false, NULL, NULL, err) < 0 ||
        spec__int(hc, "successThreshold", path, 1, 120, false, NULL, NULL, err) < 0)
        return -1;
    return 0;
}

static int check_image_ref(const char *image, const char *path, struct frost_err *err)
{
    for (const char *p = image; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f)
            return spec__invalid(err, path,
                                 "must be an image reference without spaces, got "
                                 "\"%.64s\"",
                                 image);
    }
    return 0;
}

static int check_runtime_configs(json_t *fn, enum family fam, struct frost_err *err)
{
    char path[SPEC_PATH_MAX], sub[SPEC_PATH_MAX];
    json_t *cc, *rc;
    if (nested(fn, "customContainerConfig", "", path, sizeof(path), &cc, err) < 0)
        return -1;
    if (nested(fn, "customRuntimeConfig", "", sub, sizeof(sub), &rc, err) < 0)
        return -1;
    const char *rt = json_string_value(spec__get(fn, "runtime"));

    if (fam == FAMILY_CONTAINER) {
        if (rc)
            return spec__invalid(err, "customRuntimeConfig",
                                 "only applies to the custom runtimes, runtime is %s", rt);
        if (!cc)
            return spec__invalid(err, "customContainerConfig",
                                 "is required with runtime custom-container");
        const char *image;
        if (spec__string(cc, "image", path, true, 1024, true, &image, err) < 0)
            return -1;
        if (check_image_ref(image, spec__path(sub, sizeof(sub), path, "image"), err) < 0)
            return -1;
        if (spec__int(cc, "port", path, 1, 65535, false, NULL, NULL, err) < 0 ||
            spec__string_array(cc, "command", path, SPEC_ARRAY_MAX, err) < 0 ||
            spec__string_array(cc, "entrypoint", path, SPEC_ARRAY_MAX, err) < 0 ||
            spec__string(cc, "acrInstanceId", path, false, SPEC_STRING_MAX, false, NULL, err) < 0 ||
            spec__string(cc, "accelerationType", path, false, SPEC_STRING_MAX, false, NULL, err) <
                0 ||
            spec__object(spec__get(cc, "registryConfig"),
                         spec__path(sub, sizeof(sub), path, "registryConfig"), false, err) < 0 ||
            spec__object(spec__get(cc, "accelerationInfo"),
                         spec__path(sub, sizeof(sub), path, "accelerationInfo"), false, err) < 0)
            return -1;
        return check_health(cc, path, err);
    }

    /* FAMILY_CUSTOM */
    if (cc)
        return spec__invalid(err, "customContainerConfig",
                             "only applies to runtime custom-container, runtime is %s", rt);
    if (!rc)
        return 0;
    spec__path(path, sizeof(path), "", "customRuntimeConfig");
    if (spec__int(rc, "port", path, 1, 65535, false, NULL, NULL, err) < 0 ||
        spec__string_array(rc, "command", path, SPEC_ARRAY_MAX, err) < 0 ||
        spec__string_array(rc, "args", path, SPEC_ARRAY_MAX, err) < 0)
        return -1;
    return check_health(rc, path, err);
}

static bool env_key_ok(const char *k, size_t len)
{
    if (len == 0 || len > 256)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = k[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static int check_env(json_t *fn, struct frost_err *err)
{
    const char *path = "environmentVariables";
    json_t *env = spec__get(fn, path);
    if (spec__object(env, path, false, err) < 0)
        return -1;
    if (!env)
        return 0;
    size_t total = 0;
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(env, key, klen, v)
    {
        char sub[SPEC_PATH_MAX];
        if (!env_key_ok(key, klen))
            return spec__invalid(err, path,
                                 "variable name \"%.64s\" must match [a-zA-Z_][a-zA-Z0-9_]* "
                                 "(at most 256 bytes)",
                                 key);
        spec__path(sub, sizeof(sub), path, key);
        if (strncmp(key, "FC_", 3) == 0)
            return spec__invalid(err, sub, "the FC_ prefix is reserved for variables Frost sets");
        if (!json_is_string(v))
            return spec__invalid(err, sub, "must be a string, got %s", spec__type_name(v));
        size_t vlen = json_string_length(v);
        if (strlen(json_string_value(v)) != vlen)
            return spec__invalid(err, sub, "must not contain NUL characters");
        total += klen + vlen;
    }
    if (total > SPEC_ENV_MAX_BYTES)
        return spec__invalid(err, path, "names and values must total at most %d bytes, got %zu",
                             SPEC_ENV_MAX_BYTES, total);
    return 0;
}

static const struct {
    const char *type;
    json_int_t max_mb;
    bool whole_card; /* FC sells this type only as a whole card */
} gpu_types[] = {
    {"fc.gpu.tesla.1", 16384, false}, {"fc.gpu.ampere.1", 24576, false},
    {"fc.gpu.ada.1", 49152, true},    {"fc.gpu.ada.2", 24576, false},
    {"fc.gpu.ada.3", 49152, false},   {"fc.gpu.hopper.1", 98304, false},
};

static int check_gpu(json_t *fn, struct frost_err *err)
{
    char path[SPEC_PATH_MAX], sub[SPEC_PATH_MAX];
    json_t *gpu;
    if (nested(fn, "gpuConfig", "", path, sizeof(path), &gpu, err) < 0)
        return -1;
    if (!gpu)
        return 0;
    const char *type;
    json_int_t mem = 0;
    bool has_mem;
    if (spec__string(gpu, "gpuType", path, false, 64, false, &type, err) < 0 ||
        spec__int(gpu, "gpuMemorySize", path, SPEC_INT_MIN, SPEC_INT_MAX, false, &mem, &has_mem,
                  err) < 0)
        return -1;
    /* {} and {gpuType: "", gpuMemorySize: 0} are how clients say "no GPU". */
    if ((!type || !type[0]) && mem == 0)
        return 0;
    spec__path(sub, sizeof(sub), path, "gpuType");
    if (!type || !type[0])
        return spec__invalid(err, sub, "is required with gpuMemorySize");
    size_t i;
    for (i = 0; i < ARRAY_LEN(gpu_types); i++)
        if (strcmp(type, gpu_types[i].type) == 0)
            break;
    if (i == ARRAY_LEN(gpu_types))
        return spec__invalid(err, sub,
                             "must be one of fc.gpu.tesla.1, fc.gpu.ampere.1, fc.gpu.ada.1, "
                             "fc.gpu.ada.2, fc.gpu.ada.3, fc.gpu.hopper.1, got \"%.64s\"",
                             type);
    spec__path(sub, sizeof(sub), path, "gpuMemorySize");
    if (!has_mem)
        return spec__invalid(err, sub, "is required with gpuType");
    if (mem <= 0 || mem % 1024 != 0)
        return spec__invalid(
            err, sub, "must be a positive multiple of 1024 (MB), got %" JSON_INTEGER_FORMAT, mem);
    if (gpu_types[i].whole_card && mem != gpu_types[i].max_mb)
        return spec__invalid(err, sub,
                             "must be %" JSON_INTEGER_FORMAT
                             " (a whole card) for %s, got %" JSON_INTEGER_FORMAT,
                             gpu_types[i].max_mb, type, mem);
    if (mem > gpu_types[i].max_mb)
        return spec__invalid(
            err, sub, "must be at most %" JSON_INTEGER_FORMAT " for %s, got %" JSON_INTEGER_FORMAT,
            gpu_types[i].max_mb, type, mem);
    return 0;
}

static int check_hook(json_t *lc, const char *key, const char *parent, json_int_t max_timeout,
                      struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    json_t *hook;
    if (nested(lc, key, parent, path, sizeof(path), &hook, err) < 0)
        return -1;
    if (!hook)
        return 0;
    const char *handler;
    if (spec__string(hook, "handler", path, false, SPEC_STRING_MAX, false, &handler, err) < 0 ||
        spec__string_array(hook, "command", path, SPEC_ARRAY_MAX, err) < 0 ||
        spec__int(hook, "timeout", path, 1, max_timeout, false, NULL, NULL, err) < 0)
        return -1;
    bool has_handler = handler && handler[0];
    bool has_command = json_array_size(spec__get(hook, "command")) > 0;
    if (has_handler && has_command)
        return spec__invalid(err, path, "set handler or command, not both");
    return 0;
}

static int check_lifecycle(json_t *fn, struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    json_t *lc;
    if (nested(fn, "instanceLifecycleConfig", "", path, sizeof(path), &lc, err) < 0)
        return -1;
    if (!lc)
        return 0;
    if (check_hook(lc, "initializer", path, SPEC_INITIALIZER_TIMEOUT_MAX_S, err) < 0 ||
        check_hook(lc, "preStop", path, SPEC_PRESTOP_TIMEOUT_MAX_S, err) < 0)
        return -1;
    return 0;
}

/* Mount directories seen so far across nasConfig and ossMountConfig. */
struct mounts {
    const char *dirs[2 * SPEC_MOUNT_MAX];
    size_t n;
};

static int check_mount_dir(json_t *mp, const char *mpath, struct mounts *seen,
                           struct frost_err *err)
{
    char sub[SPEC_PATH_MAX];
    const char *dir;
    if (spec__string(mp, "mountDir", mpath, true, 1024, true, &dir, err) < 0)
        return -1;
    spec__path(sub, sizeof(sub), mpath, "mountDir");
    if (!spec__abs_path_ok(dir))
        return spec__invalid(err, sub,
                             "must be an absolute directory (not \"/\", no \".\" or \"..\"), "
                             "got \"%.64s\"",
                             dir);
    for (size_t i = 0; i < seen->n; i++)
        if (strcmp(seen->dirs[i], dir) == 0)
            return spec__invalid(err, sub, "\"%.64s\" is already a mount directory", dir);
    if (seen->n < ARRAY_LEN(seen->dirs))
        seen->dirs[seen->n++] = dir;
    return 0;
}

/* The mountPoints array of a mount config: an array of ≤ 5 objects. */
static int mount_points(json_t *cfg, const char *path, json_t **out, struct frost_err *err)
{
    char sub[SPEC_PATH_MAX];
    json_t *mps = spec__get(cfg, "mountPoints");
    *out = NULL;
    if (!mps)
        return 0;
    spec__path(sub, sizeof(sub), path, "mountPoints");
    if (!json_is_array(mps))
        return spec__invalid(err, sub, "must be an array, got %s", spec__type_name(mps));
    if (json_array_size(mps) > SPEC_MOUNT_MAX)
        return spec__invalid(err, sub, "must have at most %d items, got %zu", SPEC_MOUNT_MAX,
                             json_array_size(mps));
    *out = mps;
    return 0;
}

static int check_nas(json_t *fn, struct mounts *seen, struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    json_t *nas, *mps;
    if (nested(fn, "nasConfig", "", path, sizeof(path), &nas, err) < 0)
        return -1;
    if (!nas)
        return 0;
    if (spec__int(nas, "userId", path, -1, 4294967294LL, false, NULL, NULL, err) < 0 ||
        spec__int(nas, "groupId", path, -1, 4294967294LL, false, NULL, NULL, err) < 0 ||
        mount_points(nas, path, &mps, err) < 0)
        return -1;
    size_t i;
    json_t *mp;
    json_array_foreach(mps, i, mp)
    {
        char mpath[SPEC_PATH_MAX], arr[SPEC_PATH_MAX];
        spec__path_idx(mpath, sizeof(mpath), spec__path(arr, sizeof(arr), path, "mountPoints"), i);
        if (spec__object(mp, mpath, true, err) < 0)
            return -1;
        spec__drop_nulls(mp);
        const char *addr;
        if (spec__string(mp, "serverAddr", mpath, true, 1024, true, &addr, err) < 0 ||
            spec__bool(mp, "enableTLS", mpath, false, NULL, NULL, err) < 0 ||
            check_mount_dir(mp, mpath, seen, err) < 0)
            return -1;
        if (!strstr(addr, ":/")) {
            char sub[SPEC_PATH_MAX];
            return spec__invalid(err, spec__path(sub, sizeof(sub), mpath, "serverAddr"),
                                 "must look like host:/path, got \"%.64s\"", addr);
        }
    }
    return 0;
}

static int check_oss(json_t *fn, struct mounts *seen, struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    json_t *oss, *mps;
    if (nested(fn, "ossMountConfig", "", path, sizeof(path), &oss, err) < 0)
        return -1;
    if (!oss)
        return 0;
    if (mount_points(oss, path, &mps, err) < 0)
        return -1;
    size_t i;
    json_t *mp;
    json_array_foreach(mps, i, mp)
    {
        char mpath[SPEC_PATH_MAX], arr[SPEC_PATH_MAX];
        spec__path_idx(mpath, sizeof(mpath), spec__path(arr, sizeof(arr), path, "mountPoints"), i);
        if (spec__object(mp, mpath, true, err) < 0)
            return -1;
        spec__drop_nulls(mp);
        const char *bpath;
        if (spec__string(mp, "bucketName", mpath, true, 63, true, NULL, err) < 0 ||
            spec__string(mp, "bucketPath", mpath, false, 1024, false, &bpath, err) < 0 ||
            spec__string(mp, "endpoint", mpath, false, 1024, false, NULL, err) < 0 ||
            spec__bool(mp, "readOnly", mpath, false, NULL, NULL, err) < 0 ||
            check_mount_dir(mp, mpath, seen, err) < 0)
            return -1;
        if (bpath && bpath[0] && bpath[0] != '/') {
            char sub[SPEC_PATH_MAX];
            return spec__invalid(err, spec__path(sub, sizeof(sub), mpath, "bucketPath"),
                                 "must start with '/', got \"%.64s\"", bpath);
        }
    }
    return 0;
}

/* Objects Frost stores and returns but does not act on yet: only their shape
 * is checked, so a wrong type fails early instead of confusing a later reader. */
static int check_stored_only(json_t *fn, struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    json_t *o;

    if (nested(fn, "logConfig", "", path, sizeof(path), &o, err) < 0)
        return -1;
    if (o && (spec__string(o, "project", path, false, SPEC_STRING_MAX, false, NULL, err) < 0 ||
              spec__string(o, "logstore", path, false, SPEC_STRING_MAX, false, NULL, err) < 0 ||
              spec__string(o, "logBeginRule", path, false, SPEC_STRING_MAX, false, NULL, err) < 0 ||
              spec__bool(o, "enableRequestMetrics", path, false, NULL, NULL, err) < 0 ||
              spec__bool(o, "enableInstanceMetrics", path, false, NULL, NULL, err) < 0 ||
              spec__bool(o, "enableLlmMetrics", path, false, NULL, NULL, err) < 0))
        return -1;

    if (nested(fn, "vpcConfig", "", path, sizeof(path), &o, err) < 0)
        return -1;
    if (o &&
        (spec__string(o, "vpcId", path, false, SPEC_STRING_MAX, false, NULL, err) < 0 ||
         spec__string(o, "securityGroupId", path, false, SPEC_STRING_MAX, false, NULL, err) < 0 ||
         spec__string_array(o, "vSwitchIds", path, SPEC_ARRAY_MAX, err) < 0))
        return -1;

    if (nested(fn, "tracingConfig", "", path, sizeof(path), &o, err) < 0)
        return -1;
    if (o) {
        char sub[SPEC_PATH_MAX];
        if (spec__string(o, "type", path, false, SPEC_STRING_MAX, false, NULL, err) < 0 ||
            spec__object(spec__get(o, "params"), spec__path(sub, sizeof(sub), path, "params"),
                         false, err) < 0)
            return -1;
    }

    if (nested(fn, "customDNS", "", path, sizeof(path), &o, err) < 0)
        return -1;
    if (o) {
        if (spec__string_array(o, "nameServers", path, SPEC_ARRAY_MAX, err) < 0 ||
            spec__string_array(o, "searches", path, SPEC_ARRAY_MAX, err) < 0)
            return -1;
        char sub[SPEC_PATH_MAX];
        json_t *opts = spec__get(o, "dnsOptions");
        spec__path(sub, sizeof(sub), path, "dnsOptions");
        if (opts && !json_is_array(opts))
            return spec__invalid(err, sub, "must be an array, got %s", spec__type_name(opts));
        size_t i;
        json_t *e;
        json_array_foreach(opts, i, e)
        {
            char epath[SPEC_PATH_MAX];
            spec__path_idx(epath, sizeof(epath), sub, i);
            if (spec__object(e, epath, true, err) < 0 ||
                spec__string(e, "name", epath, false, SPEC_STRING_MAX, false, NULL, err) < 0 ||
                spec__string(e, "value", epath, false, SPEC_STRING_MAX, false, NULL, err) < 0)
                return -1;
        }
    }

    if (nested(fn, "juiceFsConfig", "", path, sizeof(path), &o, err) < 0 ||
        nested(fn, "polarFsConfig", "", path, sizeof(path), &o, err) < 0)
        return -1;

    if (spec__string_array(fn, "layers", "", SPEC_ARRAY_MAX, err) < 0)
        return -1;

    json_t *tags = spec__get(fn, "tags");
    if (tags) {
        if (!json_is_array(tags))
            return spec__invalid(err, "tags", "must be an array, got %s", spec__type_name(tags));
        if (json_array_size(tags) > SPEC_ARRAY_MAX)
            return spec__invalid(err, "tags", "must have at most %d items, got %zu", SPEC_ARRAY_MAX,
                                 json_array_size(tags));
        size_t i;
        json_t *e;
        json_array_foreach(tags, i, e)
        {
            char epath[SPEC_PATH_MAX];
            spec__path_idx(epath, sizeof(epath), "tags", i);
            if (spec__object(e, epath, true, err) < 0 ||
                spec__string(e, "key", epath, true, SPEC_STRING_MAX, true, NULL, err) < 0 ||
                spec__string(e, "value", epath, false, SPEC_STRING_MAX, false, NULL, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- cpu and memory ------------------------------------------------------ */

/* cpu in hundredths of a vCPU when it is a multiple of 0.05 in [0.05, 16]. */
static bool cpu_hundredths(double cpu, json_int_t *out)
{
    if (!(cpu >= 0.049 && cpu <= 16.001))
        return false;
    double h = cpu * 100.0;
    json_int_t n = (json_int_t)(h + 0.5);
    double d = h - (double)n;
    if (d > 1e-6 || d < -1e-6 || n % 5 != 0 || n < 5 || n > 1600)
        return false;
    *out = n;
    return true;
}

static json_t *cpu_json(json_int_t hundredths)
{
    if (hundredths % 100 == 0)
        return json_integer(hundredths / 100);
    return json_real((double)hundredths / 100.0);
}

static int check_resources(json_t *fn, struct frost_err *err)
{
    json_int_t mem = 0;
    bool has_mem, has_cpu;
    double cpu = 0;
    json_int_t cpu_h = 0;
    if (spec__int(fn, "memorySize", "", SPEC_INT_MIN, SPEC_INT_MAX, false, &mem, &has_mem, err) < 0)
        return -1;
    if (has_mem && (mem < 128 || mem > 32768 || mem % 64 != 0))
        return spec__invalid(
            err, "memorySize",
            "must be between 128 and 32768 in steps of 64, got %" JSON_INTEGER_FORMAT, mem);
    if (spec__number(fn, "cpu", "", false, &cpu, &has_cpu, err) < 0)
        return -1;
    if (has_cpu && !cpu_hundredths(cpu, &cpu_h))
        return spec__invalid(err, "cpu", "must be between 0.05 and 16 in steps of 0.05, got %g",
                             cpu);

    /* Defaults: a missing side is derived from the other so that the pair
     * respects FC's 1:1–1:4 ratio (docs/functions.md). */
    if (!has_mem && !has_cpu) {
        mem = SPEC_DEFAULT_MEMORY_MB;
        cpu_h = (json_int_t)(SPEC_DEFAULT_CPU * 100 + 0.5);
    } else if (!has_mem) {
        /* cpu GB rounded up to 64 MB: the 1:1 end of the ratio. */
        mem = (cpu_h * 1024 + 6399) / 6400 * 64;
        if (mem < 128)
            mem = 128;
    } else if (!has_cpu) {
        /* memory GB rounded down to 0.05 vCPU, within [0.05, 16]. */
        cpu_h = mem * 100 / 1024 / 5 * 5;
        if (cpu_h < 5)
            cpu_h = 5;
        if (cpu_h > 1600)
            cpu_h = 1600;
    }
    if (!has_mem && json_object_set_new(fn, "memorySize", json_integer(mem)) < 0)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    if (!has_cpu && json_object_set_new(fn, "cpu", cpu_json(cpu_h)) < 0)
        return frost_err_set(err, 500, "InternalError", "out of memory");

    /* 1:1 ≤ cpu:GB ≤ 1:4, i.e. cpu ≤ mem/1024 ≤ 4·cpu, in exact integers:
     * 100·mem and 1024·cpu_h are both hundredths·MB. */
    if (cpu_h * 1024 > mem * 100 || mem * 100 > 4 * cpu_h * 1024)
        return spec__invalid(err, "cpu",
                             "the ratio of cpu to memorySize in GB must be between 1:1 and 1:4, "
                             "got cpu %g and memorySize %" JSON_INTEGER_FORMAT,
                             (double)cpu_h / 100.0, mem);
    return 0;
}

/* ---- the whole function --------------------------------------------------- */

static int set_default_int(json_t *fn, const char *key, json_int_t v, struct frost_err *err)
{
    if (spec__get(fn, key))
        return 0;
    if (json_object_set_new(fn, key, json_integer(v)) < 0)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    return 0;
}

/* Validates fn in place and fills the defaults. fn has no top-level nulls. */
static int normalize(json_t *fn, struct frost_err *err)
{
    const char *name, *rt;
    if (spec__string(fn, "functionName", "", true, SIZE_MAX, false, &name, err) < 0 ||
        spec_function_name_check(name, err) < 0)
        return -1;
    if (spec__string(fn, "runtime", "", true, 64, false, &rt, err) < 0)
        return -1;
    enum family fam = runtime_family(rt);
    if (fam == FAMILY_NONE)
        return spec__invalid(err, "runtime",
                             "must be one of custom, custom.debian10, custom.debian11, "
                             "custom.debian12, custom-container, got \"%.64s\"",
                             rt);

    static const char *const strings[] = {
        "description",
        "handler",
        "role",
        "resourceGroupId",
        "instanceIsolationMode",
        "sessionAffinity",
        "sessionAffinityConfig",
        "disableInjectCredentials",
    };
    for (size_t i = 0; i < ARRAY_LEN(strings); i++)
        if (spec__string(fn, strings[i], "", false, SPEC_STRING_MAX, false, NULL, err) < 0)
            return -1;
    static const char *const bools[] = {"internetAccess", "disableOndemand", "enableLongLiving"};
    for (size_t i = 0; i < ARRAY_LEN(bools); i++)
        if (spec__bool(fn, bools[i], "", false, NULL, NULL, err) < 0)
            return -1;

    json_int_t disk;
    bool has_disk;
    if (spec__int(fn, "timeout", "", 1, 86400, false, NULL, NULL, err) < 0 ||
        spec__int(fn, "instanceConcurrency", "", 1, 200, false, NULL, NULL, err) < 0 ||
        spec__int(fn, "idleTimeout", "", 0, SPEC_INT_MAX, false, NULL, NULL, err) < 0 ||
        spec__int(fn, "diskSize", "", SPEC_INT_MIN, SPEC_INT_MAX, false, &disk, &has_disk, err) < 0)
        return -1;
    if (has_disk && disk != 512 && disk != 10240)
        return spec__invalid(err, "diskSize", "must be 512 or 10240, got %" JSON_INTEGER_FORMAT,
                             disk);
    if (check_resources(fn, err) < 0)
        return -1;
    if (set_default_int(fn, "timeout", SPEC_DEFAULT_TIMEOUT_S, err) < 0 ||
        set_default_int(fn, "instanceConcurrency", SPEC_DEFAULT_INSTANCE_CONCURRENCY, err) < 0 ||
        set_default_int(fn, "diskSize", SPEC_DEFAULT_DISK_MB, err) < 0)
        return -1;
    if (!spec__get(fn, "internetAccess") && json_object_set_new(fn, "internetAccess", json_true()))
        return frost_err_set(err, 500, "InternalError", "out of memory");

    struct mounts seen = {.n = 0};
    if (check_env(fn, err) < 0 || check_runtime_configs(fn, fam, err) < 0 ||
        check_gpu(fn, err) < 0 || check_lifecycle(fn, err) < 0 || check_nas(fn, &seen, err) < 0 ||
        check_oss(fn, &seen, err) < 0 || check_stored_only(fn, err) < 0)
        return -1;
    return 0;
}

/* Deep-copies member v of an input into fn, leaving out what the input may not
 * set. customContainerConfig.resolvedImageUri is output-only too. */
static int copy_member(json_t *fn, const char *key, json_t *v, struct frost_err *err)
{
    json_t *c = json_deep_copy(v);
    if (!c)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    if (strcmp(key, "customContainerConfig") == 0 && json_is_object(c))
        json_object_del(c, "resolvedImageUri");
    if (json_object_set_new(fn, key, c) < 0)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    return 0;
}

int spec_function_create(const json_t *input, json_t **out, struct frost_err *err)
{
    if (!json_is_object(input))
        return spec__invalid(err, "body", "must be a JSON object, got %s",
                             input ? spec__type_name(input) : "nothing");
    json_t *code = spec__get(input, "code");
    if (code && spec_code_check(code, "code", err) < 0)
        return -1;

    json_t *fn = json_object();
    if (!fn)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)input, key, v)
    {
        if (json_is_null(v) || strcmp(key, "code") == 0 || is_output_only(key))
            continue;
        if (copy_member(fn, key, v, err) < 0)
            goto fail;
    }
    if (normalize(fn, err) < 0)
        goto fail;
    enum family fam = family_of(fn);
    if (fam == FAMILY_CUSTOM && !code) {
        spec__invalid(err, "code", "is required with runtime %s",
                      json_string_value(json_object_get(fn, "runtime")));
        goto fail;
    }
    if (fam == FAMILY_CONTAINER && code) {
        spec__invalid(
            err, "code",
            "does not apply to runtime custom-container (set customContainerConfig.image)");
        goto fail;
    }
    *out = fn;
    return 0;
fail:
    json_decref(fn);
    return -1;
}

int spec_function_update(const json_t *current, const json_t *patch, json_t **out,
                         struct frost_err *err)
{
    if (!json_is_object(current))
        return frost_err_set(err, 500, "InternalError", "stored function is not an object");
    if (!json_is_object(patch))
        return spec__invalid(err, "body", "must be a JSON object, got %s",
                             patch ? spec__type_name(patch) : "nothing");

    json_t *pname = spec__get(patch, "functionName");
    if (pname) {
        json_t *cname = json_object_get(current, "functionName");
        if (!json_is_string(pname) || !json_equal(pname, cname))
            return spec__invalid(err, "functionName", "cannot be changed");
    }
    json_t *code = spec__get(patch, "code");
    if (code && spec_code_check(code, "code", err) < 0)
        return -1;

    json_t *fn = json_deep_copy(current);
    if (!fn)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    spec__drop_nulls(fn);
    enum family old_fam = family_of(fn);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v)
    {
        if (strcmp(key, "code") == 0 || strcmp(key, "functionName") == 0 || is_output_only(key))
            continue;
        if (json_is_null(v))
            json_object_del(fn, key);
        else if (copy_member(fn, key, v, err) < 0)
            goto fail;
    }

    /* A runtime switch leaves the old family's config behind: drop it unless
     * the patch set it explicitly (then validation says what is wrong). */
    enum family new_fam = family_of(fn);
    if (old_fam != new_fam && new_fam == FAMILY_CONTAINER &&
        !json_object_get(patch, "customRuntimeConfig"))
        json_object_del(fn, "customRuntimeConfig");
    if (old_fam != new_fam && new_fam == FAMILY_CUSTOM &&
        !json_object_get(patch, "customContainerConfig"))
        json_object_del(fn, "customContainerConfig");

    if (normalize(fn, err) < 0)
        goto fail;
    if (new_fam == FAMILY_CONTAINER && code) {
        spec__invalid(
            err, "code",
            "does not apply to runtime custom-container (set customContainerConfig.image)");
        goto fail;
    }
    *out = fn;
    return 0;
fail:
    json_decref(fn);
    return -1;
}
