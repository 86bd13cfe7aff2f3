/* Per-function configs: provision (with schedule expressions), async invoke
 * (with destinations) and reserved concurrency. */
#include "spec/spec.h"

#include <stdio.h>
#include <string.h>

#include "spec/internal.h"

#define PROVISION_TARGET_MAX 10000
#define RESERVED_CONC_MAX    10000

static bool one_of(const char *key, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

/* A fresh object holding deep copies of in's members except nulls and the
 * listed output-only ones. */
static json_t *copy_input(const json_t *in, const char *const *drop, size_t ndrop,
                          struct frost_err *err)
{
    json_t *o = json_object();
    if (!o)
        goto oom;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)in, key, v)
    {
        if (json_is_null(v) || one_of(key, drop, ndrop))
            continue;
        if (json_object_set_new(o, key, json_deep_copy(v)) < 0)
            goto oom;
    }
    return o;
oom:
    json_decref(o);
    frost_err_set(err, 500, "InternalError", "out of memory");
    return NULL;
}

static int set_new(json_t *o, const char *key, json_t *v, struct frost_err *err)
{
    if (json_object_set_new(o, key, v) < 0)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    return 0;
}

static int body_object(const json_t *in, struct frost_err *err)
{
    if (!json_is_object(in))
        return spec__invalid(err, "body", "must be a JSON object, got %s",
                             in ? spec__type_name(in) : "nothing");
    return 0;
}

/* ---- schedule expressions ------------------------------------------------ */

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct cron_field_spec {
    const char *what;
    int lo, hi;
    const char *const *names; /* names[i] is value names_base + i */
    int nnames, names_base;
    bool allow_q;
};

static const struct cron_field_spec cron_fields[6] = {
    {"seconds", 0, 59, NULL, 0, 0, false},       {"minutes", 0, 59, NULL, 0, 0, false},
    {"hours", 0, 23, NULL, 0, 0, false},         {"day-of-month", 1, 31, NULL, 0, 0, true},
    {"month", 1, 12, month_names, 12, 1, false}, {"day-of-week", 0, 7, day_names, 7, 0, true},
};

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* One value of a cron field: a number of at most 2 digits or a name. */
static int cron_value(const char *s, size_t len, const struct cron_field_spec *f, int *out)
{
    if (len == 0)
        return -1;
    if (s[0] >= '0' && s[0] <= '9') {
        if (len > 2)
            return -1;
        int v = 0;
        for (size_t i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            v = v * 10 + (s[i] - '0');
        }
        if (v < f->lo || v > f->hi)
            return -1;
        *out = v;
        return 0;
    }
    if (len != 3 || !f->names)
        return -1;
    for (int i = 0; i < f->nnames; i++)
        if (upper(s[0]) == f->names[i][0] && upper(s[1]) == f->names[i][1] &&
            upper(s[2]) == f->names[i][2]) {
            *out = f->names_base + i;
            return 0;
        }
    return -1;
}

/* Parses one cron field into a bit set; -1 when it is not valid. */
static int cron_field(const char *s, size_t len, const struct cron_field_spec *f, uint64_t *bits,
                      bool *restricted)
{
    *bits = 0;
    *restricted = !(len == 1 && (s[0] == '*' || (s[0] == '?' && f->allow_q)));
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        const char *item = s + i;
        size_t ilen = j - i;
        if (ilen == 0)
            return -1;
        /* item = base ["/" step] */
        size_t slash = 0;
        while (slash < ilen && item[slash] != '/')
            slash++;
        int step = 1;
        if (slash < ilen) {
            size_t sl = ilen - slash - 1;
            if (sl == 0 || sl > 2)
                return -1;
            step = 0;
            for (size_t k = slash + 1; k < ilen; k++) {
                if (item[k] < '0' || item[k] > '9')
                    return -1;
                step = step * 10 + (item[k] - '0');
            }
            if (step < 1 || step > f->hi)
                return -1;
        }
        int lo, hi;
        if (slash == 1 && (item[0] == '*' || (item[0] == '?' && f->allow_q))) {
            if (item[0] == '?' && slash < ilen)
                return -1;
            lo = f->lo;
            hi = f->hi;
        } else {
            size_t dash = 0;
            while (dash < slash && item[dash] != '-')
                dash++;
            if (cron_value(item, dash, f, &lo) < 0)
                return -1;
            if (dash < slash) {
                if (cron_value(item + dash + 1, slash - dash - 1, f, &hi) < 0 || hi < lo)
                    return -1;
            } else {
                hi = slash < ilen ? f->hi : lo; /* "a/step" runs to the end */
            }
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ull << v;
        i = j + 1;
    }
    return 0;
}

static int parse_cron(const char *inner, size_t len, struct spec_cron *c)
{
    const char *p = inner, *end = inner + len;
    uint64_t bits[6];
    bool restricted[6];
    int n = 0;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        const char *q = p;
        while (q < end && *q != ' ')
            q++;
        if (n == 6)
            return -1;
        if (cron_field(p, (size_t)(q - p), &cron_fields[n], &bits[n], &restricted[n]) < 0)
            return -1 - (n + 1); /* which field, for the message */
        n++;
        p = q;
    }
    if (n != 6)
        return -1;
    memset(c, 0, sizeof(*c));
    c->sec = bits[0];
    c->min = bits[1];
    c->hour = (uint32_t)bits[2];
    c->dom = (uint32_t)bits[3];
    c->mon = (uint16_t)bits[4];
    uint64_t dow = bits[5];
    if (dow & (1ull << 7))
        dow = (dow & ~(1ull << 7)) | 1ull; /* 7 is Sunday too */
    c->dow = (uint8_t)dow;
    c->dom_restricted = restricted[3];
    c->dow_restricted = restricted[5];
    return 0;
}

int spec_schedule_parse(const char *expr, const char *path, struct spec_schedule *out,
                        struct frost_err *err)
{
    if (!expr)
        return spec__invalid(err, path, "is required");
    size_t len = strlen(expr);
    if (len > 256)
        return spec__invalid(err, path, "must be at most 256 bytes, got %zu", len);
    struct spec_schedule s;
    memset(&s, 0, sizeof(s));
    if (len > 6 && strncmp(expr, "cron(", 5) == 0 && expr[len - 1] == ')') {
        int r = parse_cron(expr + 5, len - 6, &s.cron);
        if (r < -1)
            return spec__invalid(err, path, "the %s field of \"%.128s\" is not valid",
                                 cron_fields[-r - 2].what, expr);
        if (r < 0)
            return spec__invalid(err, path,
                                 "cron() needs 6 fields (seconds minutes hours day-of-month month "
                                 "day-of-week), got \"%.128s\"",
                                 expr);
        s.kind = SPEC_SCHEDULE_CRON;
    } else if (len > 4 && strncmp(expr, "at(", 3) == 0 && expr[len - 1] == ')') {
        char inner[64];
        if (len - 4 >= sizeof(inner))
            return spec__invalid(err, path, "at() needs a time YYYY-MM-DDThh:mm:ss, got \"%.64s\"",
                                 expr);
        memcpy(inner, expr + 3, len - 4);
        inner[len - 4] = '\0';
        if (spec__parse_time(inner, true, &s.at_ms, NULL) < 0)
            return spec__invalid(err, path, "at() needs a time YYYY-MM-DDThh:mm:ss, got \"%.64s\"",
                                 expr);
        s.kind = SPEC_SCHEDULE_AT;
    } else {
        return spec__invalid(err, path,
                             "must be cron(s m h dom mon dow) or at(YYYY-MM-DDThh:mm:ss), got "
                             "\"%.128s\"",
                             expr);
    }
    *out = s;
    return 0;
}

/* ---- provision config ---------------------------------------------------- */

/* Policy names: 1–128 bytes of letters, digits, '_', '-' and '.'. */
static bool policy_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > SPEC_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* An IANA zone name ("Asia/Shanghai", "UTC", "Etc/GMT+8"). Only the shape is
 * checked: whether the zone exists depends on the host's tz database. */
static bool timezone_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > SPEC_TIMEZONE_MAX || s[0] == '/' || strstr(s, ".."))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '+' || c == '/'))
            return false;
    }
    return true;
}

/* The members every policy has: name, startTime, endTime, timeZone. */
static int check_policy_common(json_t *p, const char *path, struct frost_err *err)
{
    char sub[SPEC_PATH_MAX];
    const char *name, *tz, *start, *end;
    if (spec__string(p, "name", path, true, SPEC_NAME_MAX, true, &name, err) < 0)
        return -1;
    if (!policy_name_ok(name))
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "name"),
                             "must be 1 to 128 letters, digits, '_', '-' or '.', got \"%.64s\"",
                             name);
    if (spec__string(p, "timeZone", path, false, SPEC_TIMEZONE_MAX, false, &tz, err) < 0)
        return -1;
    if (tz && !tz[0]) {
        json_object_del(p, "timeZone"); /* "" = none, as FC documents */
        tz = NULL;
    }
    if (tz && !timezone_ok(tz))
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "timeZone"),
                             "must be a time zone name like Asia/Shanghai, got \"%.64s\"", tz);
    if (spec__string(p, "startTime", path, false, 64, false, &start, err) < 0 ||
        spec__string(p, "endTime", path, false, 64, false, &end, err) < 0)
        return -1;
    int64_t sms = 0, ems = 0;
    bool szone = false, ezone = false;
    const char *form = tz ? "an ISO 8601 time like 2024-07-01T16:00:00Z (the Z may be left out "
                            "with a timeZone)"
                          : "an ISO 8601 UTC time like 2024-07-01T16:00:00Z";
    if (start && spec__parse_time(start, tz != NULL, &sms, &szone) < 0)
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "startTime"),
                             "must be %s, got \"%.64s\"", form, start);
    if (end && spec__parse_time(end, tz != NULL, &ems, &ezone) < 0)
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "endTime"),
                             "must be %s, got \"%.64s\"", form, end);
    if (start && end && szone == ezone && ems <= sms)
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "endTime"),
                             "must be after startTime");
    return 0;
}

/* A policy array member: ≤ SPEC_POLICY_MAX objects with unique names. */
static int check_policy_list(json_t *cfg, const char *key,
                             int (*check_one)(json_t *, const char *, struct frost_err *),
                             struct frost_err *err)
{
    json_t *list = spec__get(cfg, key);
    if (!list)
        return 0;
    if (!json_is_array(list))
        return spec__invalid(err, key, "must be an array, got %s", spec__type_name(list));
    if (json_array_size(list) > SPEC_POLICY_MAX)
        return spec__invalid(err, key, "must have at most %d items, got %zu", SPEC_POLICY_MAX,
                             json_array_size(list));
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        char path[SPEC_PATH_MAX];
        spec__path_idx(path, sizeof(path), key, i);
        if (spec__object(p, path, true, err) < 0)
            return -1;
        spec__drop_nulls(p);
        if (check_policy_common(p, path, err) < 0 || check_one(p, path, err) < 0)
            return -1;
        const char *name = json_string_value(json_object_get(p, "name"));
        for (size_t k = 0; k < i; k++)
            if (strcmp(name, json_string_value(json_object_get(json_array_get(list, k), "name"))) ==
                0) {
                char sub[SPEC_PATH_MAX];
                return spec__invalid(err, spec__path(sub, sizeof(sub), path, "name"),
                                     "\"%.64s\" is used by %s[%zu] already", name, key, k);
            }
    }
    return 0;
}

static int check_scheduled_action(json_t *a, const char *path, struct frost_err *err)
{
    char sub[SPEC_PATH_MAX];
    const char *expr;
    struct spec_schedule s;
    if (spec__int(a, "target", path, 0, PROVISION_TARGET_MAX, true, NULL, NULL, err) < 0 ||
        spec__string(a, "scheduleExpression", path, true, 256, true, &expr, err) < 0 ||
        spec_schedule_parse(expr, spec__path(sub, sizeof(sub), path, "scheduleExpression"), &s,
                            err) < 0)
        return -1;
    return 0;
}

static const char *const metric_types[] = {
    "ProvisionedConcurrencyUtilization",
    "CPUUtilization",
    "GPUMemUtilization",
};

static int check_tracking_policy(json_t *p, const char *path, struct frost_err *err)
{
    char sub[SPEC_PATH_MAX];
    const char *type;
    double target;
    json_int_t minc, maxc;
    if (spec__string(p, "metricType", path, true, 64, true, &type, err) < 0)
        return -1;
    if (!one_of(type, metric_types, ARRAY_LEN(metric_types)))
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "metricType"),
                             "must be one of ProvisionedConcurrencyUtilization, CPUUtilization, "
                             "GPUMemUtilization, got \"%.64s\"",
                             type);
    if (spec__number(p, "metricTarget", path, true, &target, NULL, err) < 0)
        return -1;
    if (!(target > 0 && target <= 1))
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "metricTarget"),
                             "must be greater than 0 and at most 1, got %g", target);
    if (spec__int(p, "minCapacity", path, 0, PROVISION_TARGET_MAX, true, &minc, NULL, err) < 0 ||
        spec__int(p, "maxCapacity", path, 0, PROVISION_TARGET_MAX, true, &maxc, NULL, err) < 0)
        return -1;
    if (minc > maxc)
        return spec__invalid(err, spec__path(sub, sizeof(sub), path, "minCapacity"),
                             "must not exceed maxCapacity (%" JSON_INTEGER_FORMAT
                             "), got %" JSON_INTEGER_FORMAT,
                             maxc, minc);
    return 0;
}

int spec_provision_config(const json_t *in, json_t **out, struct frost_err *err)
{
    static const char *const drop[] = {"current", "currentError", "functionArn"};
    if (body_object(in, err) < 0)
        return -1;
    json_t *cfg = copy_input(in, drop, ARRAY_LEN(drop), err);
    if (!cfg)
        return -1;
    json_int_t target = 0, def = 0;
    bool has_target, has_def;
    if (spec__int(cfg, "target", "", 0, PROVISION_TARGET_MAX, false, &target, &has_target, err) <
            0 ||
        spec__int(cfg, "defaultTarget", "", 0, PROVISION_TARGET_MAX, false, &def, &has_def, err) <
            0)
        goto fail;
    json_int_t value = has_def ? def : target;
    if (set_new(cfg, "target", json_integer(value), err) < 0 ||
        set_new(cfg, "defaultTarget", json_integer(value), err) < 0)
        goto fail;
    static const char *const allocs[] = {"alwaysAllocateCPU", "alwaysAllocateGPU"};
    for (size_t i = 0; i < ARRAY_LEN(allocs); i++) {
        bool present;
        if (spec__bool(cfg, allocs[i], "", false, NULL, &present, err) < 0)
            goto fail;
        if (!present && set_new(cfg, allocs[i], json_true(), err) < 0)
            goto fail;
    }
    if (check_policy_list(cfg, "scheduledActions", check_scheduled_action, err) < 0 ||
        check_policy_list(cfg, "targetTrackingPolicies", check_tracking_policy, err) < 0)
        goto fail;
    *out = cfg;
    return 0;
fail:
    json_decref(cfg);
    return -1;
}

/* ---- async config ------------------------------------------------------------ */

static bool qualifier_ok(const char *s, size_t len)
{
    if (len == 0 || len > SPEC_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool arn_part_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int parse_url(const char *s, const char *path, struct spec_destination *d,
                     struct frost_err *err)
{
    size_t len = strlen(s);
    size_t scheme = strncmp(s, "https://", 8) == 0 ? 8 : 7;
    if (len > SPEC_HTTP_URL_MAX)
        return spec__invalid(err, path, "must be at most %d bytes, got %zu", SPEC_HTTP_URL_MAX,
                             len);
    if (len == scheme || s[scheme] == '/' || s[scheme] == ':' || s[scheme] == '?')
        return spec__invalid(err, path, "URL has no host, got \"%.64s\"", s);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f)
            return spec__invalid(err, path,
                                 "URL must not contain spaces, control or non-ASCII bytes");
    }
    d->kind = SPEC_DEST_URL;
    d->url = s;
    return 0;
}

int spec_destination_parse(const char *s, const char *path, struct spec_destination *out,
                           struct frost_err *err)
{
    struct spec_destination d;
    memset(&d, 0, sizeof(d));
    if (!s || !s[0])
        return spec__invalid(err, path, "must not be empty");
    if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) {
        if (parse_url(s, path, &d, err) < 0)
            return -1;
        *out = d;
        return 0;
    }
    if (strncmp(s, "acs:", 4) != 0) {
        if (!spec__name_ok(s, strlen(s), SPEC_FUNC_NAME_MAX))
            return spec__invalid(err, path,
                                 "must be a function name, an acs:fc:{region}:{account}:functions/"
                                 "{name} ARN or an http(s) URL, got \"%.64s\"",
                                 s);
        d.kind = SPEC_DEST_FUNCTION;
        snprintf(d.function, sizeof(d.function), "%s", s);
        *out = d;
        return 0;
    }
    /* acs:fc:{region}:{account}:functions/{name}[/{qualifier}] */
    const char *svc = s + 4;
    if (strncmp(svc, "fc:", 3) != 0)
        return spec__invalid(err, path,
                             "only acs:fc function ARNs, function names and http(s) URLs are "
                             "supported as destinations, got \"%.64s\"",
                             s);
    const char *region = svc + 3;
    const char *c1 = strchr(region, ':');
    const char *account = c1 ? c1 + 1 : NULL;
    const char *c2 = account ? strchr(account, ':') : NULL;
    const char *res = c2 ? c2 + 1 : NULL;
    if (!res || !arn_part_ok(region, (size_t)(c1 - region), sizeof(d.region) - 1) ||
        !arn_part_ok(account, (size_t)(c2 - account), sizeof(d.account) - 1) ||
        strncmp(res, "functions/", 10) != 0)
        return spec__invalid(err, path,
                             "must look like acs:fc:{region}:{account}:functions/{name}[/"
                             "{qualifier}], got \"%.64s\"",
                             s);
    const char *name = res + 10;
    const char *slash = strchr(name, '/');
    size_t nlen = slash ? (size_t)(slash - name) : strlen(name);
    if (!spec__name_ok(name, nlen, SPEC_FUNC_NAME_MAX))
        return spec__invalid(err, path, "the function name in \"%.64s\" is not valid", s);
    if (slash && !qualifier_ok(slash + 1, strlen(slash + 1)))
        return spec__invalid(err, path, "the qualifier in \"%.64s\" is not valid", s);
    d.kind = SPEC_DEST_FUNCTION;
    snprintf(d.region, sizeof(d.region), "%.*s", (int)(c1 - region), region);
    snprintf(d.account, sizeof(d.account), "%.*s", (int)(c2 - account), account);
    snprintf(d.function, sizeof(d.function), "%.*s", (int)nlen, name);
    if (slash)
        snprintf(d.qualifier, sizeof(d.qualifier), "%s", slash + 1);
    *out = d;
    return 0;
}

static int check_destination(json_t *dc, const char *key, const char *parent, struct frost_err *err)
{
    char path[SPEC_PATH_MAX], sub[SPEC_PATH_MAX];
    spec__path(path, sizeof(path), parent, key);
    json_t *d = spec__get(dc, key);
    if (spec__object(d, path, false, err) < 0)
        return -1;
    if (!d)
        return 0;
    spec__drop_nulls(d);
    const char *dest;
    struct spec_destination parsed;
    if (spec__string(d, "destination", path, true, SPEC_HTTP_URL_MAX, true, &dest, err) < 0 ||
        spec_destination_parse(dest, spec__path(sub, sizeof(sub), path, "destination"), &parsed,
                               err) < 0)
        return -1;
    return 0;
}

int spec_async_config(const json_t *in, json_t **out, struct frost_err *err)
{
    static const char *const drop[] = {"createdTime", "lastModifiedTime", "functionArn"};
    if (body_object(in, err) < 0)
        return -1;
    json_t *cfg = copy_input(in, drop, ARRAY_LEN(drop), err);
    if (!cfg)
        return -1;
    bool has_age, has_retries, has_task;
    if (spec__int(cfg, "maxAsyncEventAgeInSeconds", "", 1, 604800, false, NULL, &has_age, err) <
            0 ||
        spec__int(cfg, "maxAsyncRetryAttempts", "", 0, 8, false, NULL, &has_retries, err) < 0 ||
        spec__bool(cfg, "asyncTask", "", false, NULL, &has_task, err) < 0)
        goto fail;
    if ((!has_age && set_new(cfg, "maxAsyncEventAgeInSeconds",
                             json_integer(SPEC_DEFAULT_ASYNC_MAX_AGE_S), err) < 0) ||
        (!has_retries && set_new(cfg, "maxAsyncRetryAttempts",
                                 json_integer(SPEC_DEFAULT_ASYNC_MAX_RETRIES), err) < 0) ||
        (!has_task && set_new(cfg, "asyncTask", json_false(), err) < 0))
        goto fail;
    json_t *dc = spec__get(cfg, "destinationConfig");
    if (spec__object(dc, "destinationConfig", false, err) < 0)
        goto fail;
    if (dc) {
        spec__drop_nulls(dc);
        if (check_destination(dc, "onSuccess", "destinationConfig", err) < 0 ||
            check_destination(dc, "onFailure", "destinationConfig", err) < 0)
            goto fail;
    }
    *out = cfg;
    return 0;
fail:
    json_decref(cfg);
    return -1;
}

/* ---- concurrency config ------------------------------------------------------ */

int spec_concurrency_config(const json_t *in, json_t **out, struct frost_err *err)
{
    static const char *const drop[] = {"functionArn"};
    if (body_object(in, err) < 0)
        return -1;
    json_t *cfg = copy_input(in, drop, ARRAY_LEN(drop), err);
    if (!cfg)
        return -1;
    if (spec__int(cfg, "reservedConcurrency", "", 0, RESERVED_CONC_MAX, true, NULL, NULL, err) <
        0) {
        json_decref(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}
