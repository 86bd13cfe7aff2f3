/* Typed member checkers shared by the spec module (see internal.h). */
#include "spec/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"

const char *spec__path(char *out, size_t n, const char *parent, const char *key)
{
    if (parent && parent[0])
        snprintf(out, n, "%s.%s", parent, key);
    else
        snprintf(out, n, "%s", key);
    return out;
}

const char *spec__path_idx(char *out, size_t n, const char *parent, size_t i)
{
    snprintf(out, n, "%s[%zu]", parent, i);
    return out;
}

int spec__invalid(struct frost_err *err, const char *path, const char *fmt, ...)
{
    char what[FROST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return frost_err_set(err, 400, "InvalidArgument", "%s: %s", path, what);
}

const char *spec__type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

json_t *spec__get(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

void spec__drop_nulls(json_t *obj)
{
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, v)
    {
        if (json_is_null(v))
            json_object_del(obj, key);
    }
}

int spec__object(const json_t *v, const char *path, bool required, struct frost_err *err)
{
    if (!v || json_is_null(v))
        return required ? spec__invalid(err, path, "is required") : 0;
    if (!json_is_object(v))
        return spec__invalid(err, path, "must be an object, got %s", spec__type_name(v));
    return 0;
}

/* A real that holds an integer value exactly, and fits json_int_t. The range
 * test comes first: converting an out-of-range double is undefined. */
static bool real_is_integral(double r, json_int_t *out)
{
    if (!(r >= -9.0e18 && r <= 9.0e18))
        return false;
    json_int_t i = (json_int_t)r;
    if ((double)i != r)
        return false;
    *out = i;
    return true;
}

/* The member `key` of obj, or NULL with *rc = -1 when it is required and
 * missing (err names it) or 0 when it may be absent. Sets *present. */
static json_t *member(json_t *obj, const char *key, const char *parent, bool required,
                      bool *present, int *rc, struct frost_err *err)
{
    json_t *v = spec__get(obj, key);
    if (present)
        *present = v != NULL;
    *rc = 0;
    if (!v && required) {
        char path[SPEC_PATH_MAX];
        *rc = spec__invalid(err, spec__path(path, sizeof(path), parent, key), "is required");
    }
    return v;
}

int spec__int(json_t *obj, const char *key, const char *parent, json_int_t min, json_int_t max,
              bool required, json_int_t *out, bool *present, struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    int rc;
    json_t *v = member(obj, key, parent, required, present, &rc, err);
    if (!v)
        return rc;
    json_int_t i;
    if (json_is_integer(v)) {
        i = json_integer_value(v);
    } else if (json_is_real(v)) {
        if (!real_is_integral(json_real_value(v), &i))
            return spec__invalid(err, spec__path(path, sizeof(path), parent, key),
                                 "must be an integer, got %g", json_real_value(v));
        if (json_object_set_new(obj, key, json_integer(i)) < 0)
            return frost_err_set(err, 500, "InternalError", "out of memory");
    } else {
        return spec__invalid(err, spec__path(path, sizeof(path), parent, key),
                             "must be an integer, got %s", spec__type_name(v));
    }
    if (i < min || i > max) {
        spec__path(path, sizeof(path), parent, key);
        if (max == SPEC_INT_MAX)
            return spec__invalid(
                err, path, "must be at least %" JSON_INTEGER_FORMAT ", got %" JSON_INTEGER_FORMAT,
                min, i);
        return spec__invalid(err, path,
                             "must be between %" JSON_INTEGER_FORMAT " and %" JSON_INTEGER_FORMAT
                             ", got %" JSON_INTEGER_FORMAT,
                             min, max, i);
    }
    if (out)
        *out = i;
    return 0;
}

int spec__number(json_t *obj, const char *key, const char *parent, bool required, double *out,
                 bool *present, struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    int rc;
    json_t *v = member(obj, key, parent, required, present, &rc, err);
    if (!v)
        return rc;
    if (!json_is_number(v))
        return spec__invalid(err, spec__path(path, sizeof(path), parent, key),
                             "must be a number, got %s", spec__type_name(v));
    if (out)
        *out = json_number_value(v);
    return 0;
}

int spec__bool(json_t *obj, const char *key, const char *parent, bool required, bool *out,
               bool *present, struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    int rc;
    json_t *v = member(obj, key, parent, required, present, &rc, err);
    if (!v)
        return rc;
    if (!json_is_boolean(v))
        return spec__invalid(err, spec__path(path, sizeof(path), parent, key),
                             "must be a boolean, got %s", spec__type_name(v));
    if (out)
        *out = json_is_true(v);
    return 0;
}

/* A JSON string value that is usable as a C string: no embedded NUL. */
static int check_string_value(const json_t *v, const char *path, size_t maxlen, bool nonempty,
                              struct frost_err *err)
{
    if (!json_is_string(v))
        return spec__invalid(err, path, "must be a string, got %s", spec__type_name(v));
    size_t len = json_string_length(v);
    if (strlen(json_string_value(v)) != len)
        return spec__invalid(err, path, "must not contain NUL characters");
    if (len > maxlen)
        return spec__invalid(err, path, "must be at most %zu bytes, got %zu", maxlen, len);
    if (nonempty && len == 0)
        return spec__invalid(err, path, "must not be empty");
    return 0;
}

int spec__string(json_t *obj, const char *key, const char *parent, bool required, size_t maxlen,
                 bool nonempty, const char **out, struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    int rc;
    json_t *v = member(obj, key, parent, required, NULL, &rc, err);
    if (!v) {
        if (rc == 0 && out)
            *out = NULL;
        return rc;
    }
    if (check_string_value(v, spec__path(path, sizeof(path), parent, key), maxlen, nonempty, err) <
        0)
        return -1;
    if (out)
        *out = json_string_value(v);
    return 0;
}

int spec__string_array(json_t *obj, const char *key, const char *parent, size_t max_items,
                       struct frost_err *err)
{
    char path[SPEC_PATH_MAX];
    json_t *v = spec__get(obj, key);
    if (!v)
        return 0;
    spec__path(path, sizeof(path), parent, key);
    if (!json_is_array(v))
        return spec__invalid(err, path, "must be an array of strings, got %s", spec__type_name(v));
    if (json_array_size(v) > max_items)
        return spec__invalid(err, path, "must have at most %zu items, got %zu", max_items,
                             json_array_size(v));
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char epath[SPEC_PATH_MAX];
        if (check_string_value(e, spec__path_idx(epath, sizeof(epath), path, i), SPEC_STRING_MAX,
                               false, err) < 0)
            return -1;
    }
    return 0;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool spec__name_ok(const char *s, size_t len, size_t maxlen)
{
    if (!s || len == 0 || len > maxlen)
        return false;
    if (!is_alpha(s[0]) && s[0] != '_')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '-')
            return false;
    }
    return true;
}

bool spec__abs_path_ok(const char *s)
{
    size_t len = strlen(s);
    if (len < 2 || len > 1024 || s[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    /* Walk the components between slashes. */
    const char *p = s;
    while (*p) {
        while (*p == '/')
            p++;
        const char *q = p;
        while (*q && *q != '/')
            q++;
        size_t n = (size_t)(q - p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p = q;
    }
    return true;
}

int spec__parse_time(const char *s, bool allow_local, int64_t *ms, bool *has_zone)
{
    size_t len = strlen(s);
    if (len == 0 || len > 40)
        return -1;
    if (s[len - 1] == 'Z') {
        if (has_zone)
            *has_zone = true;
        return clock_parse_iso8601(s, ms);
    }
    if (!allow_local)
        return -1;
    /* A local time: the same grammar without the zone. */
    char tmp[48];
    snprintf(tmp, sizeof(tmp), "%sZ", s);
    if (has_zone)
        *has_zone = false;
    return clock_parse_iso8601(tmp, ms);
}
