/* Triggers: CreateTriggerInput / UpdateTriggerInput and the parsed form of
 * an http trigger's triggerConfig for the router. */
#include "spec/spec.h"

#include <stdio.h>
#include <string.h>

#include "spec/internal.h"

/* triggerConfig is a JSON document in a string; bounded like any input. */
#define TRIGGER_CONFIG_MAX 65536

static const char *const trigger_types[] = {
    "http", "timer", "oss", "log", "tablestore", "cdn_events", "mns_topic", "eventbridge",
};

static const char *const output_only[] = {
    "triggerId", "createdTime", "lastModifiedTime", "status", "targetArn", "httpTrigger",
};

static bool listed(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static const struct {
    const char *name;
    unsigned bit;
} http_methods[] = {
    {"GET", SPEC_HTTP_GET},         {"POST", SPEC_HTTP_POST}, {"PUT", SPEC_HTTP_PUT},
    {"DELETE", SPEC_HTTP_DELETE},   {"HEAD", SPEC_HTTP_HEAD}, {"PATCH", SPEC_HTTP_PATCH},
    {"OPTIONS", SPEC_HTTP_OPTIONS},
};

unsigned spec_http_method_bit(const char *method, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(http_methods); i++)
        if (strlen(http_methods[i].name) == len && memcmp(http_methods[i].name, method, len) == 0)
            return http_methods[i].bit;
    return 0;
}

/* Checks an http triggerConfig object, fills its defaults (authType
 * "function", disableURLInternet false) and, when parsed is non-NULL,
 * returns the parsed form. */
static int http_config(json_t *cfg, const char *path, struct spec_http_trigger *parsed,
                       struct frost_err *err)
{
    char sub[SPEC_PATH_MAX];
    struct spec_http_trigger h = {.auth = SPEC_HTTP_AUTH_FUNCTION, .methods = 0};
    spec__drop_nulls(cfg);

    const char *auth;
    if (spec__string(cfg, "authType", path, false, 32, false, &auth, err) < 0)
        return -1;
    if (!auth) {
        if (json_object_set_new(cfg, "authType", json_string("function")) < 0)
            return frost_err_set(err, 500, "InternalError", "out of memory");
    } else if (strcmp(auth, "anonymous") == 0) {
        h.auth = SPEC_HTTP_AUTH_ANONYMOUS;
    } else if (strcmp(auth, "function") != 0) {
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "authType"),
                             "must be anonymous or function, got \"%.32s\"", auth);
    }

    json_t *methods = spec__get(cfg, "methods");
    spec__path(sub, sizeof(sub), path, "methods");
    if (!methods)
        return spec__invalid(err, sub, "is required");
    if (!json_is_array(methods) || json_array_size(methods) == 0)
        return spec__invalid(err, sub, "must be a non-empty array of HTTP methods, got %s",
                             json_is_array(methods) ? "[]" : spec__type_name(methods));
    if (json_array_size(methods) > SPEC_ARRAY_MAX)
        return spec__invalid(err, sub, "must have at most %d items, got %zu", SPEC_ARRAY_MAX,
                             json_array_size(methods));
    size_t i;
    json_t *m;
    json_array_foreach(methods, i, m)
    {
        char mpath[SPEC_PATH_MAX];
        spec__path_idx(mpath, sizeof(mpath), sub, i);
        if (!json_is_string(m))
            return spec__invalid(err, mpath, "must be a string, got %s", spec__type_name(m));
        unsigned bit = spec_http_method_bit(json_string_value(m), json_string_length(m));
        if (!bit)
            return spec__invalid(err, mpath,
                                 "must be one of GET, POST, PUT, DELETE, HEAD, PATCH, OPTIONS, got "
                                 "\"%.16s\"",
                                 json_string_value(m));
        h.methods |= bit;
    }

    bool present;
    if (spec__bool(cfg, "disableURLInternet", path, false, &h.disable_url_internet, &present, err) <
        0)
        return -1;
    if (!present && json_object_set_new(cfg, "disableURLInternet", json_false()) < 0)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    if (spec__string(cfg, "authConfig", path, false, TRIGGER_CONFIG_MAX, false, NULL, err) < 0 ||
        spec__object(spec__get(cfg, "corsConfig"), spec__path(sub, sizeof(sub), path, "corsConfig"),
                     false, err) < 0)
        return -1;
    if (parsed)
        *parsed = h;
    return 0;
}

/* Parses a triggerConfig string into a new object (the caller decrefs). */
static int load_config(const char *s, size_t len, const char *path, json_t **out,
                       struct frost_err *err)
{
    if (len > TRIGGER_CONFIG_MAX)
        return spec__invalid(err, path, "must be at most %d bytes, got %zu", TRIGGER_CONFIG_MAX,
                             len);
    json_error_t jerr;
    json_t *cfg = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!cfg)
        return spec__invalid(err, path, "must be a JSON string holding an object: %s", jerr.text);
    if (!json_is_object(cfg)) {
        spec__invalid(err, path, "must be a JSON string holding an object, it holds %s",
                      spec__type_name(cfg));
        json_decref(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

/* Validates t in place: names, type, qualifier and the triggerConfig, which
 * ends up as a string (rewritten with defaults for http). */
static int normalize(json_t *t, struct frost_err *err)
{
    const char *name, *type, *qualifier;
    if (spec__string(t, "triggerName", "", true, SIZE_MAX, false, &name, err) < 0)
        return -1;
    if (!spec__name_ok(name, strlen(name), SPEC_NAME_MAX))
        return spec__invalid(err, "triggerName",
                             "must be 1 to 128 letters, digits, '_' or '-', not starting with a "
                             "digit or '-', got \"%.64s\"",
                             name);
    if (spec__string(t, "triggerType", "", true, 32, false, &type, err) < 0)
        return -1;
    if (!listed(type, trigger_types, ARRAY_LEN(trigger_types)))
        return spec__invalid(err, "triggerType",
                             "must be one of http, timer, oss, log, tablestore, cdn_events, "
                             "mns_topic, eventbridge, got \"%.32s\"",
                             type);
    if (spec__string(t, "qualifier", "", false, SPEC_NAME_MAX, false, &qualifier, err) < 0)
        return -1;
    if (!qualifier || !qualifier[0]) {
        if (json_object_set_new(t, "qualifier", json_string("LATEST")) < 0)
            return frost_err_set(err, 500, "InternalError", "out of memory");
    } else {
        for (const char *p = qualifier; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
                return spec__invalid(err, "qualifier",
                                     "must be LATEST, a version or an alias name, got \"%.64s\"",
                                     qualifier);
    }
    static const char *const strings[] = {"description", "invocationRole", "sourceArn"};
    for (size_t i = 0; i < ARRAY_LEN(strings); i++)
        if (spec__string(t, strings[i], "", false, SPEC_STRING_MAX, false, NULL, err) < 0)
            return -1;

    json_t *raw = spec__get(t, "triggerConfig");
    bool is_http = strcmp(type, "http") == 0;
    if (!raw || (json_is_string(raw) && json_string_length(raw) == 0)) {
        /* FC: tablestore triggers carry their source in sourceArn only. */
        if (strcmp(type, "tablestore") == 0)
            return 0;
        return spec__invalid(err, "triggerConfig", "is required for %s triggers", type);
    }
    json_t *cfg;
    if (json_is_string(raw)) {
        if (load_config(json_string_value(raw), json_string_length(raw), "triggerConfig", &cfg,
                        err) < 0)
            return -1;
    } else if (json_is_object(raw)) {
        /* Extension: the object itself, as s.yaml writes it. */
        cfg = json_deep_copy(raw);
        if (!cfg)
            return frost_err_set(err, 500, "InternalError", "out of memory");
    } else {
        return spec__invalid(err, "triggerConfig",
                             "must be a JSON string holding an object, got %s",
                             spec__type_name(raw));
    }
    int r = is_http ? http_config(cfg, "triggerConfig", NULL, err) : 0;
    if (r == 0 && (is_http || !json_is_string(raw))) {
        char *s = json_dumps(cfg, JSON_COMPACT);
        if (!s || json_object_set_new(t, "triggerConfig", json_string(s)) < 0)
            r = frost_err_set(err, 500, "InternalError", "out of memory");
        free(s);
    }
    json_decref(cfg);
    return r;
}

int spec_trigger_create(const json_t *in, json_t **out, struct frost_err *err)
{
    if (!json_is_object(in))
        return spec__invalid(err, "body", "must be a JSON object, got %s",
                             in ? spec__type_name(in) : "nothing");
    json_t *t = json_object();
    if (!t)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)in, key, v)
    {
        if (json_is_null(v) || listed(key, output_only, ARRAY_LEN(output_only)))
            continue;
        if (json_object_set_new(t, key, json_deep_copy(v)) < 0) {
            frost_err_set(err, 500, "InternalError", "out of memory");
            goto fail;
        }
    }
    if (normalize(t, err) < 0)
        goto fail;
    *out = t;
    return 0;
fail:
    json_decref(t);
    return -1;
}

int spec_trigger_update(const json_t *current, const json_t *patch, json_t **out,
                        struct frost_err *err)
{
    if (!json_is_object(current))
        return frost_err_set(err, 500, "InternalError", "stored trigger is not an object");
    if (!json_is_object(patch))
        return spec__invalid(err, "body", "must be a JSON object, got %s",
                             patch ? spec__type_name(patch) : "nothing");
    static const char *const fixed[] = {"triggerName", "triggerType"};
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
        json_t *pv = spec__get(patch, fixed[i]);
        if (pv && !json_equal(pv, json_object_get(current, fixed[i])))
            return spec__invalid(err, fixed[i], "cannot be changed");
    }
    json_t *t = json_deep_copy(current);
    if (!t)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    spec__drop_nulls(t);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v)
    {
        if (listed(key, fixed, ARRAY_LEN(fixed)) ||
            listed(key, output_only, ARRAY_LEN(output_only)))
            continue;
        if (json_is_null(v)) {
            json_object_del(t, key);
        } else if (json_object_set_new(t, key, json_deep_copy(v)) < 0) {
            frost_err_set(err, 500, "InternalError", "out of memory");
            goto fail;
        }
    }
    if (normalize(t, err) < 0)
        goto fail;
    *out = t;
    return 0;
fail:
    json_decref(t);
    return -1;
}

int spec_http_trigger_parse(const json_t *trigger, struct spec_http_trigger *out,
                            struct frost_err *err)
{
    const char *type = json_string_value(json_object_get(trigger, "triggerType"));
    if (!type || strcmp(type, "http") != 0)
        return spec__invalid(err, "triggerType", "must be http, got \"%.32s\"", type ? type : "");
    json_t *raw = json_object_get(trigger, "triggerConfig");
    json_t *cfg;
    if (json_is_string(raw)) {
        if (load_config(json_string_value(raw), json_string_length(raw), "triggerConfig", &cfg,
                        err) < 0)
            return -1;
    } else if (json_is_object(raw)) {
        cfg = json_deep_copy(raw);
        if (!cfg)
            return frost_err_set(err, 500, "InternalError", "out of memory");
    } else {
        return spec__invalid(err, "triggerConfig", "is required for http triggers");
    }
    struct spec_http_trigger h;
    int r = http_config(cfg, "triggerConfig", &h, err);
    json_decref(cfg);
    if (r == 0)
        *out = h;
    return r;
}
