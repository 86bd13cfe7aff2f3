/* Serverless Devs s.yaml (edition 3.0.0, fc3) → FC 3.0 API inputs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "base/buf.h"
#include "spec/syaml.h"

#include "base/config.h"

#define CODE "InvalidTemplate"

/* Nesting and expansion bounds: an alias may point at a node containing
 * itself, and aliases of aliases grow exponentially ("billion laughs"). */
#define MAX_DEPTH  64
#define MAX_VALUES 200000
#define MAX_KEYS   4096 /* in the mappings of the s.yaml structure (vars, props, …) */
/* Longest string a ${…} replacement may produce. */
#define MAX_STRING (1u << 20)

struct ctx {
    const char *path;
    yaml_document_t *doc;
    char *const *envp;
    json_t *vars; /* borrowed: the variables known so far */
    json_t *notes;
    size_t values;
    struct frost_err *err;
};

static unsigned line_of(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.line + 1;
}

__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, const yaml_node_t *n,
                                                      const char *fmt, ...)
{
    char msg[FROST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        return frost_err_set(c->err, 400, CODE, "%s:%u: %s", c->path, line_of(n), msg);
    return frost_err_set(c->err, 400, CODE, "%s: %s", c->path, msg);
}

static int oom(struct ctx *c)
{
    return frost_err_set(c->err, 500, "InternalError", "%s: out of memory", c->path);
}

__attribute__((format(printf, 3, 4))) static int note(struct ctx *c, const yaml_node_t *n,
                                                      const char *fmt, ...)
{
    char msg[FROST_ERR_MSG_MAX], line[FROST_ERR_MSG_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "%s:%u: %s", c->path, line_of(n), msg);
    if (json_array_append_new(c->notes, json_string(line)) < 0)
        return oom(c);
    return 0;
}

static const yaml_node_t *node(struct ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static const char *kind_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
    if (!is_plain(n))
        return false;
    const char *s = sval(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static bool has_nul(const yaml_node_t *n)
{
    return strlen(sval(n)) != n->data.scalar.length;
}

/* ---- plain scalar typing (YAML 1.2 core schema) --------------------------- */

static bool all_digits(const char *s, const char *set)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr(set, *s))
            return false;
    return true;
}

static bool is_float(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    size_t intd = strspn(s, "0123456789");
    s += intd;
    size_t frac = 0;
    if (*s == '.') {
        s++;
        frac = strspn(s, "0123456789");
        s += frac;
    } else if (intd == 0) {
        return false;
    }
    if (intd == 0 && frac == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        size_t e = strspn(s, "0123456789");
        if (e == 0)
            return false;
        s += e;
    }
    return *s == 0;
}

/* A new reference: the value a plain scalar stands for. Numbers that do not
 * fit a 64-bit integer, and .inf / .nan (not representable in JSON), stay
 * strings. */
static json_t *plain_value(const char *s)
{
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
    int base = 0;
    const char *digits = NULL;
    if (all_digits(d, "0123456789")) {
        base = 10;
        digits = s;
    } else if (s[0] == '0' && s[1] == 'x' && all_digits(s + 2, "0123456789abcdefABCDEF")) {
        base = 16;
        digits = s + 2;
    } else if (s[0] == '0' && s[1] == 'o' && all_digits(s + 2, "01234567")) {
        base = 8;
        digits = s + 2;
    }
    if (base) {
        errno = 0;
        char *end;
        long long v = strtoll(digits, &end, base);
        if (errno == 0 && *end == 0)
            return json_integer((json_int_t)v);
        return json_string(s);
    }
    if (is_float(s))
        return json_real(strtod(s, NULL));
    return json_string(s);
}

/* ---- ${…} references ------------------------------------------------------ */

static const char *env_get(char *const *envp, const char *name, size_t len)
{
    for (char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    }
    return NULL;
}

static bool env_name_ok(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!(ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (i > 0 && ch >= '0' && ch <= '9')))
            return false;
    }
    return true;
}

/* Resolves the text between "${" and "}" (len bytes). *owned tells whether
 * the returned value is a new reference (env) or borrowed (vars). */
static json_t *resolve(struct ctx *c, const yaml_node_t *n, const char *ref, size_t len,
                       bool *owned)
{
    while (len && (*ref == ' ' || *ref == '\t')) {
        ref++;
        len--;
    }
    while (len && (ref[len - 1] == ' ' || ref[len - 1] == '\t'))
        len--;
    *owned = false;
    if (len > 5 && strncmp(ref, "vars.", 5) == 0) {
        /* Dotted paths reach into mappings: ${vars.image.tag}. */
        json_t *v = c->vars;
        const char *p = ref + 5, *end = ref + len;
        while (p < end) {
            const char *dot = memchr(p, '.', (size_t)(end - p));
            size_t klen = (size_t)((dot ? dot : end) - p);
            char key[256];
            if (klen == 0 || klen >= sizeof(key)) {
                fail(c, n, "${%.*s}: malformed variable name", (int)len, ref);
                return NULL;
            }
            memcpy(key, p, klen);
            key[klen] = 0;
            json_t *next = json_is_object(v) ? json_object_get(v, key) : NULL;
            if (!next) {
                fail(c, n, "${%.*s}: no such variable in vars (vars are read top to bottom)",
                     (int)len, ref);
                return NULL;
            }
            v = next;
            p = dot ? dot + 1 : end;
        }
        return v;
    }
    const char *name = NULL;
    size_t nlen = 0;
    if (len > 4 && strncmp(ref, "env.", 4) == 0) {
        name = ref + 4;
        nlen = len - 4;
    } else if (len > 5 && strncmp(ref, "env(", 4) == 0 && ref[len - 1] == ')') {
        name = ref + 4;
        nlen = len - 5;
        while (nlen && *name == ' ') {
            name++;
            nlen--;
        }
        while (nlen && name[nlen - 1] == ' ')
            nlen--;
        if (nlen >= 2 && (name[0] == '\'' || name[0] == '"') && name[nlen - 1] == name[0]) {
            name++;
            nlen -= 2;
        }
    }
    if (name) {
        if (!env_name_ok(name, nlen)) {
            fail(c, n, "${%.*s}: malformed environment variable name", (int)len, ref);
            return NULL;
        }
        const char *v = env_get(c->envp, name, nlen);
        if (!v) {
            fail(c, n, "${%.*s}: environment variable %.*s is not set", (int)len, ref, (int)nlen,
                 name);
            return NULL;
        }
        json_t *s = json_string(v);
        if (!s) {
            fail(c, n, "${%.*s}: the value of %.*s is not valid UTF-8", (int)len, ref, (int)nlen,
                 name);
            return NULL;
        }
        *owned = true;
        return s;
    }
    fail(c, n,
         "${%.*s}: unsupported reference; Frost understands ${vars.NAME}, ${env(NAME)} and "
         "${env.NAME}",
         (int)len, ref);
    return NULL;
}

/* Copies of variables count against MAX_VALUES like aliases do. */
static size_t count_values(const json_t *v)
{
    size_t n = 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            n += count_values(e);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            n += count_values(json_array_get(v, i));
    }
    return n;
}

static int append_value(struct ctx *c, const yaml_node_t *n, struct buf *b, const json_t *v,
                        const char *ref, size_t rlen)
{
    int rc;
    if (json_is_string(v)) {
        rc = buf_append(b, json_string_value(v), json_string_length(v));
    } else if (json_is_object(v) || json_is_array(v)) {
        return fail(c, n, "${%.*s} is %s; it can only be used as a whole value, not inside text",
                    (int)rlen, ref, json_is_object(v) ? "a mapping" : "a list");
    } else {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (!text)
            return oom(c);
        rc = buf_append_str(b, text);
        free(text);
    }
    if (rc < 0)
        return errno == EMSGSIZE
                   ? fail(c, n, "text longer than %u bytes after ${…} replacement", MAX_STRING)
                   : oom(c);
    return 0;
}

/* A scalar's value with ${…} replaced; typed (plain and not force_string) or
 * a string. New reference, or NULL with c->err set. */
static json_t *scalar_value(struct ctx *c, const yaml_node_t *n, bool force_string)
{
    if (has_nul(n)) {
        fail(c, n, "value contains a NUL byte");
        return NULL;
    }
    const char *text = sval(n);
    bool typed = is_plain(n) && !force_string;
    const char *p = strstr(text, "${");
    json_t *out;
    if (!p) {
        out = typed ? plain_value(text) : json_string(text);
        if (!out)
            oom(c);
        return out;
    }
    struct buf b = BUF_INIT(MAX_STRING);
    const char *from = text;
    for (; p; p = strstr(from, "${")) {
        const char *close = strchr(p + 2, '}');
        if (!close) {
            buf_free(&b);
            fail(c, n, "unterminated ${ in \"%.64s\"", text);
            return NULL;
        }
        const char *ref = p + 2;
        size_t rlen = (size_t)(close - ref);
        bool owned;
        json_t *v = resolve(c, n, ref, rlen, &owned);
        if (!v) {
            buf_free(&b);
            return NULL;
        }
        /* Exactly one reference and nothing else: the value keeps its type. */
        if (p == text && close[1] == 0 && !json_is_string(v) && typed) {
            c->values += count_values(v);
            if (c->values > MAX_VALUES) {
                buf_free(&b);
                fail(c, n, "more than %d values (variables expanding too much?)", MAX_VALUES);
                return NULL;
            }
            json_t *copy = owned ? v : json_deep_copy(v);
            buf_free(&b);
            if (!copy)
                oom(c);
            return copy;
        }
        int rc = buf_append(&b, from, (size_t)(p - from));
        if (rc < 0) {
            if (owned)
                json_decref(v);
            buf_free(&b);
            fail(c, n, "text longer than %u bytes after ${…} replacement", MAX_STRING);
            return NULL;
        }
        rc = append_value(c, n, &b, v, ref, rlen);
        if (owned)
            json_decref(v);
        if (rc < 0) {
            buf_free(&b);
            return NULL;
        }
        from = close + 1;
    }
    if (buf_append_str(&b, from) < 0) {
        buf_free(&b);
        fail(c, n, "text longer than %u bytes after ${…} replacement", MAX_STRING);
        return NULL;
    }
    const char *res = b.data ? b.data : "";
    out = typed ? plain_value(res) : json_string(res);
    buf_free(&b);
    if (!out)
        oom(c);
    return out;
}

/* ---- generic conversion ---------------------------------------------------- */

static json_t *convert(struct ctx *c, const yaml_node_t *n, int depth, bool force_string);

static int merge_into(struct ctx *c, json_t *obj, const yaml_node_t *vn, int depth)
{
    if (vn->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
             it++) {
            const yaml_node_t *m = node(c, *it);
            if (!m || merge_into(c, obj, m, depth + 1) < 0)
                return m ? -1 : fail(c, vn, "malformed document");
        }
        return 0;
    }
    if (vn->type != YAML_MAPPING_NODE)
        return fail(c, vn, "<<: merges a mapping or a list of mappings, got %s", kind_name(vn));
    json_t *m = convert(c, vn, depth + 1, false);
    if (!m)
        return -1;
    /* Keys written next to "<<" win over merged ones. */
    int rc = json_object_update_missing(obj, m);
    json_decref(m);
    return rc < 0 ? oom(c) : 0;
}

static json_t *convert_mapping(struct ctx *c, const yaml_node_t *n, int depth, bool force_string)
{
    json_t *obj = json_object();
    if (!obj) {
        oom(c);
        return NULL;
    }
    const yaml_node_t *merges[16];
    size_t n_merges = 0;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kn = node(c, pr->key), *vn = node(c, pr->value);
        if (!kn || !vn) {
            fail(c, n, "malformed document");
            goto fail;
        }
        if (kn->type != YAML_SCALAR_NODE) {
            fail(c, kn, "a key must be a name, not %s", kind_name(kn));
            goto fail;
        }
        if (has_nul(kn)) {
            fail(c, kn, "key contains a NUL byte");
            goto fail;
        }
        const char *key = sval(kn);
        if (is_plain(kn) && strcmp(key, "<<") == 0) {
            if (n_merges == ARRAY_LEN(merges)) {
                fail(c, kn, "too many << merges in one mapping");
                goto fail;
            }
            merges[n_merges++] = vn;
            continue;
        }
        if (json_object_get(obj, key)) {
            fail(c, kn, "key \"%.64s\" is set twice in this mapping", key);
            goto fail;
        }
        json_t *v = convert(c, vn, depth + 1, force_string);
        if (!v)
            goto fail;
        if (json_object_set_new(obj, key, v) < 0) {
            oom(c);
            goto fail;
        }
    }
    for (size_t i = 0; i < n_merges; i++)
        if (merge_into(c, obj, merges[i], depth) < 0)
            goto fail;
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

/* The JSON value of any node. force_string: scalars below are strings. */
static json_t *convert(struct ctx *c, const yaml_node_t *n, int depth, bool force_string)
{
    if (depth > MAX_DEPTH) {
        fail(c, n, "nested more than %d levels deep (an alias that contains itself?)", MAX_DEPTH);
        return NULL;
    }
    if (++c->values > MAX_VALUES) {
        fail(c, n, "more than %d values (aliases expanding too much?)", MAX_VALUES);
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar_value(c, n, force_string);
    case YAML_SEQUENCE_NODE: {
        json_t *arr = json_array();
        if (!arr) {
            oom(c);
            return NULL;
        }
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            const yaml_node_t *item = node(c, *it);
            if (!item) {
                fail(c, n, "malformed document");
                json_decref(arr);
                return NULL;
            }
            json_t *v = convert(c, item, depth + 1, force_string);
            if (!v) {
                json_decref(arr);
                return NULL;
            }
            if (json_array_append_new(arr, v) < 0) {
                oom(c);
                json_decref(arr);
                return NULL;
            }
        }
        return arr;
    }
    case YAML_MAPPING_NODE:
        return convert_mapping(c, n, depth, force_string);
    default:
        fail(c, n, "empty node");
        return NULL;
    }
}

/* A scalar that must end up a string (after ${…}); *out malloc'd. */
static int string_of(struct ctx *c, const yaml_node_t *n, const char *what, char **out)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail(c, n, "%s: expected a string, got %s", what, kind_name(n));
    json_t *v = scalar_value(c, n, true);
    if (!v)
        return -1;
    *out = strdup(json_string_value(v));
    json_decref(v);
    return *out ? 0 : oom(c);
}

/* ---- the s.yaml structure -------------------------------------------------- */

/* Walks a mapping's pairs; refuses non-scalar keys and duplicates. */
struct pair_iter {
    const yaml_node_pair_t *p, *end;
};

static int next_pair(struct ctx *c, const yaml_node_t *map, struct pair_iter *it,
                     const yaml_node_t **kn, const yaml_node_t **vn)
{
    if (!it->p) {
        /* Duplicates are looked for pairwise: bounded so it stays cheap. */
        if (map->data.mapping.pairs.top - map->data.mapping.pairs.start > MAX_KEYS)
            return fail(c, map, "more than %d keys in one mapping", MAX_KEYS);
        it->p = map->data.mapping.pairs.start;
        it->end = map->data.mapping.pairs.top;
    } else {
        it->p++;
    }
    if (it->p >= it->end)
        return 0;
    *kn = node(c, it->p->key);
    *vn = node(c, it->p->value);
    if (!*kn || !*vn)
        return fail(c, map, "malformed document");
    if ((*kn)->type != YAML_SCALAR_NODE || has_nul(*kn))
        return fail(c, *kn, "a key must be a name, not %s", kind_name(*kn));
    for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < it->p; q++) {
        const yaml_node_t *k2 = node(c, q->key);
        if (k2 && k2->type == YAML_SCALAR_NODE && strcmp(sval(k2), sval(*kn)) == 0)
            return fail(c, *kn, "key \"%.64s\" is set twice (first on line %u)", sval(*kn),
                        line_of(k2));
    }
    return 1;
}

/* The key node named key in map (the first; NULL when absent). */
static const yaml_node_t *key_node(struct ctx *c, const yaml_node_t *map, const char *key)
{
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = node(c, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(sval(k), key) == 0)
            return k;
    }
    return NULL;
}

static int resolve_code_path(struct ctx *c, const char *code, char **out)
{
    const char *slash = strrchr(c->path, '/');
    if (code[0] == '/' || !slash) {
        *out = strdup(code);
    } else {
        size_t dlen = (size_t)(slash - c->path);
        size_t len = dlen + 1 + strlen(code) + 1;
        *out = malloc(len);
        if (*out)
            snprintf(*out, len, "%.*s/%s", (int)dlen, c->path, code);
    }
    return *out ? 0 : oom(c);
}

static int read_trigger(struct ctx *c, const yaml_node_t *tn, const char *where, json_t *out)
{
    if (tn->type != YAML_MAPPING_NODE)
        return fail(c, tn,
                    "%s: expected a mapping (triggerName, triggerType, triggerConfig), got %s",
                    where, kind_name(tn));
    json_t *t = convert(c, tn, 3, false);
    if (!t)
        return -1;
    static const char *const required[] = {"triggerName", "triggerType"};
    for (size_t i = 0; i < ARRAY_LEN(required); i++) {
        if (!json_is_string(json_object_get(t, required[i]))) {
            json_decref(t);
            return fail(c, tn, "%s.%s: required, a string", where, required[i]);
        }
    }
    json_t *cfg = json_object_get(t, "triggerConfig");
    if (json_is_object(cfg) || json_is_array(cfg)) {
        /* The API wants the configuration as a JSON string. */
        char *text = json_dumps(cfg, JSON_COMPACT);
        if (!text || json_object_set_new(t, "triggerConfig", json_string(text)) < 0) {
            free(text);
            json_decref(t);
            return oom(c);
        }
        free(text);
    } else if (cfg && !json_is_string(cfg) && !json_is_null(cfg)) {
        json_decref(t);
        return fail(c, tn, "%s.triggerConfig: expected a mapping", where);
    }
    json_t *q = json_object_get(t, "qualifier");
    if (json_is_integer(q)) {
        char num[32];
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(q));
        json_object_set_new(t, "qualifier", json_string(num));
    }
    if (json_array_append_new(out, t) < 0)
        return oom(c);
    return 0;
}

static int read_config(struct ctx *c, const yaml_node_t *vn, const char *where, json_t **out)
{
    if (is_null(vn))
        return 0;
    if (vn->type != YAML_MAPPING_NODE)
        return fail(c, vn, "%s: expected a mapping, got %s", where, kind_name(vn));
    *out = convert(c, vn, 3, false);
    return *out ? 0 : -1;
}

/* One member of props; key and value nodes as read. */
static int read_prop(struct ctx *c, const yaml_node_t *kn, const yaml_node_t *vn,
                     struct spec_syaml_resource *r)
{
    char where[300];
    const char *key = sval(kn);
    snprintf(where, sizeof(where), "resources.%s.props.%s", r->name, key);
    if (strcmp(key, "region") == 0) {
        if (!is_null(vn) && string_of(c, vn, where, &r->region) < 0)
            return -1;
    } else if (strcmp(key, "code") == 0) {
        if (is_null(vn))
            return 0;
        if (vn->type == YAML_MAPPING_NODE) {
            r->code = convert(c, vn, 3, false);
            if (!r->code)
                return -1;
            return 0;
        }
        char *code = NULL;
        if (string_of(c, vn, where, &code) < 0)
            return -1;
        if (!*code) {
            free(code);
            return fail(c, vn, "%s: empty path", where);
        }
        int rc = resolve_code_path(c, code, &r->code_path);
        free(code);
        if (rc < 0)
            return -1;
    } else if (strcmp(key, "triggers") == 0) {
        if (is_null(vn))
            return 0;
        if (vn->type != YAML_SEQUENCE_NODE)
            return fail(c, vn, "%s: expected a list of triggers, got %s", where, kind_name(vn));
        size_t i = 0;
        for (yaml_node_item_t *t = vn->data.sequence.items.start; t < vn->data.sequence.items.top;
             t++, i++) {
            const yaml_node_t *tn = node(c, *t);
            char tw[320];
            snprintf(tw, sizeof(tw), "%s[%zu]", where, i);
            if (!tn)
                return fail(c, vn, "malformed document");
            if (read_trigger(c, tn, tw, r->triggers) < 0)
                return -1;
        }
    } else if (strcmp(key, "asyncInvokeConfig") == 0) {
        if (read_config(c, vn, where, &r->async_invoke_config) < 0)
            return -1;
    } else if (strcmp(key, "concurrencyConfig") == 0) {
        if (read_config(c, vn, where, &r->concurrency_config) < 0)
            return -1;
    } else if (strcmp(key, "provisionConfig") == 0) {
        if (read_config(c, vn, where, &r->provision_config) < 0)
            return -1;
        if (r->provision_config && json_object_get(r->provision_config, "mode")) {
            json_object_del(r->provision_config, "mode");
            const yaml_node_t *mk = key_node(c, vn, "mode");
            if (note(c, mk ? mk : vn,
                     "%s.mode: how `s deploy` waits for provisioned instances; Frost's "
                     "deploy does not wait and ignores it",
                     where) < 0)
                return -1;
        }
    } else {
        /* Environment variables are strings whatever they look like. */
        json_t *v = convert(c, vn, 3, strcmp(key, "environmentVariables") == 0);
        if (!v)
            return -1;
        if (json_object_set_new(r->function, key, v) < 0)
            return oom(c);
    }
    return 0;
}

/* The members of a props mapping, then those of the mappings it merges
 * ("<<: *base"): a key already read (written in the mapping itself, or in an
 * earlier merge) wins, as in YAML's merge keys. seen holds the keys read. */
static int read_props_map(struct ctx *c, const yaml_node_t *map, struct spec_syaml_resource *r,
                          json_t *seen, int depth)
{
    if (depth > MAX_DEPTH)
        return fail(c, map, "<< merges nested more than %d levels deep", MAX_DEPTH);
    const yaml_node_t *merges[16];
    size_t n_merges = 0;
    struct pair_iter it = {0};
    const yaml_node_t *kn, *vn;
    int more;
    while ((more = next_pair(c, map, &it, &kn, &vn)) > 0) {
        const char *key = sval(kn);
        if (is_plain(kn) && strcmp(key, "<<") == 0) {
            if (vn->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *i = vn->data.sequence.items.start;
                     i < vn->data.sequence.items.top && n_merges < ARRAY_LEN(merges); i++)
                    merges[n_merges++] = node(c, *i);
            } else if (n_merges < ARRAY_LEN(merges)) {
                merges[n_merges++] = vn;
            }
            continue;
        }
        if (json_object_get(seen, key))
            continue;
        if (json_object_set_new(seen, key, json_true()) < 0)
            return oom(c);
        if (read_prop(c, kn, vn, r) < 0)
            return -1;
    }
    if (more < 0)
        return -1;
    for (size_t i = 0; i < n_merges; i++) {
        if (!merges[i] || merges[i]->type != YAML_MAPPING_NODE)
            return fail(c, merges[i] ? merges[i] : map,
                        "<<: merges a mapping or a list of mappings");
        if (read_props_map(c, merges[i], r, seen, depth + 1) < 0)
            return -1;
    }
    return 0;
}

static int read_props(struct ctx *c, const yaml_node_t *props, struct spec_syaml_resource *r)
{
    r->function = json_object();
    r->triggers = json_array();
    json_t *seen = json_object();
    if (!r->function || !r->triggers || !seen) {
        json_decref(seen);
        return oom(c);
    }
    int rc = read_props_map(c, props, r, seen, 0);
    json_decref(seen);
    if (rc < 0)
        return -1;
    if (!json_is_string(json_object_get(r->function, "functionName")))
        return fail(c, props, "resources.%s.props.functionName: required, a string", r->name);
    return 0;
}

static int read_resource(struct ctx *c, const yaml_node_t *kn, const yaml_node_t *vn,
                         struct spec_syaml_resource *r)
{
    r->line = line_of(kn);
    r->name = strdup(sval(kn));
    if (!r->name)
        return oom(c);
    if (vn->type != YAML_MAPPING_NODE)
        return fail(c, vn, "resources.%s: expected a mapping with component and props, got %s",
                    r->name, kind_name(vn));
    const yaml_node_t *component = NULL, *props = NULL, *k, *v;
    struct pair_iter it = {0};
    int more;
    while ((more = next_pair(c, vn, &it, &k, &v)) > 0) {
        if (strcmp(sval(k), "component") == 0)
            component = v;
        else if (strcmp(sval(k), "props") == 0)
            props = v;
        else if (note(c, k, "resources.%s.%s: not used by Frost (ignored)", r->name, sval(k)) < 0)
            return -1;
    }
    if (more < 0)
        return -1;
    if (!component)
        return fail(c, kn, "resources.%s.component: required (fc3)", r->name);
    if (component->type != YAML_SCALAR_NODE)
        return fail(c, component, "resources.%s.component: expected fc3, got %s", r->name,
                    kind_name(component));
    const char *comp = sval(component);
    if (strcmp(comp, "fc3") != 0 && strncmp(comp, "fc3@", 4) != 0)
        return fail(c, component,
                    "resources.%s.component: \"%.64s\" is not supported; Frost deploys fc3 "
                    "resources only (Function Compute 3.0)",
                    r->name, comp);
    if (!props || props->type != YAML_MAPPING_NODE)
        return fail(c, props ? props : kn,
                    "resources.%s.props: required, a mapping of function "
                    "fields",
                    r->name);
    return read_props(c, props, r);
}

static int read_vars(struct ctx *c, const yaml_node_t *vn, json_t *vars)
{
    if (is_null(vn))
        return 0;
    if (vn->type != YAML_MAPPING_NODE)
        return fail(c, vn, "vars: expected a mapping, got %s", kind_name(vn));
    struct pair_iter it = {0};
    const yaml_node_t *k, *v;
    int more;
    /* Filled in file order, so a variable may use the ones above it. */
    while ((more = next_pair(c, vn, &it, &k, &v)) > 0) {
        json_t *val = convert(c, v, 1, false);
        if (!val)
            return -1;
        if (json_object_set_new(vars, sval(k), val) < 0)
            return oom(c);
    }
    return more;
}

static int read_edition(struct ctx *c, const yaml_node_t *root, const yaml_node_t *vn)
{
    if (!vn)
        return fail(c, root,
                    "edition: required; Frost reads Serverless Devs 3.x files (edition: 3.0.0)");
    if (vn->type != YAML_SCALAR_NODE)
        return fail(c, vn, "edition: expected 3.0.0, got %s", kind_name(vn));
    const char *e = sval(vn);
    if (strcmp(e, "3") != 0 && strncmp(e, "3.", 2) != 0)
        return fail(c, vn,
                    "edition: \"%.32s\" is not supported; Frost reads Serverless Devs 3.x files "
                    "(edition: 3.0.0, component: fc3)",
                    e);
    return 0;
}

static int read_root(struct ctx *c, const yaml_node_t *root, struct spec_syaml *s)
{
    const yaml_node_t *edition = NULL, *vars = NULL, *resources = NULL, *k, *v;
    struct pair_iter it = {0};
    int more;
    while ((more = next_pair(c, root, &it, &k, &v)) > 0) {
        const char *key = sval(k);
        if (strcmp(key, "edition") == 0) {
            edition = v;
        } else if (strcmp(key, "vars") == 0) {
            vars = v;
        } else if (strcmp(key, "resources") == 0) {
            resources = v;
        } else if (strcmp(key, "name") == 0 || strcmp(key, "access") == 0) {
            if (is_null(v))
                continue;
            if (string_of(c, v, key, strcmp(key, "name") == 0 ? &s->name : &s->access) < 0)
                return -1;
        } else if (note(c, k, "%.64s: not used by Frost (ignored)", key) < 0) {
            return -1;
        }
    }
    if (more < 0)
        return -1;
    if (read_edition(c, root, edition) < 0)
        return -1;
    if (vars && read_vars(c, vars, s->vars) < 0)
        return -1;
    if (!resources || is_null(resources))
        return fail(c, resources ? resources : root,
                    "resources: required, at least one fc3 "
                    "resource");
    if (resources->type != YAML_MAPPING_NODE)
        return fail(c, resources, "resources: expected a mapping of resources, got %s",
                    kind_name(resources));
    size_t n = (size_t)(resources->data.mapping.pairs.top - resources->data.mapping.pairs.start);
    if (n == 0)
        return fail(c, resources, "resources: required, at least one fc3 resource");
    s->resources = calloc(n, sizeof(*s->resources));
    if (!s->resources)
        return oom(c);
    it = (struct pair_iter){0};
    while ((more = next_pair(c, resources, &it, &k, &v)) > 0) {
        if (read_resource(c, k, v, &s->resources[s->n_resources++]) < 0)
            return -1;
    }
    return more;
}

int spec_syaml_parse(const char *text, size_t len, const char *path, char *const *envp,
                     struct spec_syaml **out, struct frost_err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    bool doc_ok = false;
    int rc = -1;
    struct spec_syaml *s = calloc(1, sizeof(*s));
    if (!s)
        return frost_err_set(err, 500, "InternalError", "%s: out of memory", path);
    s->vars = json_object();
    s->notes = json_array();
    if (!s->vars || !s->notes || !yaml_parser_initialize(&parser)) {
        spec_syaml_free(s);
        return frost_err_set(err, 500, "InternalError", "%s: out of memory", path);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        config_yaml_syntax_error(&parser, path, text, len, CODE, err);
        goto out;
    }
    doc_ok = true;
    struct ctx c = {
        .path = path, .doc = &doc, .envp = envp, .vars = s->vars, .notes = s->notes, .err = err};
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || is_null(root)) {
        frost_err_set(err, 400, CODE,
                      "%s: the file is empty; expected edition: 3.0.0 and resources", path);
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        fail(&c, root, "expected a mapping (edition, vars, resources) at the top level, got %s",
             kind_name(root));
        goto out;
    }
    if (read_root(&c, root, s) < 0)
        goto out;
    /* A second document would be silently ignored otherwise. */
    yaml_document_delete(&doc);
    doc_ok = false;
    if (!yaml_parser_load(&parser, &doc)) {
        config_yaml_syntax_error(&parser, path, text, len, CODE, err);
        goto out;
    }
    doc_ok = true;
    root = yaml_document_get_root_node(&doc);
    if (root) {
        fail(&c, root, "only one YAML document is allowed");
        goto out;
    }
    *out = steal_ptr(&s);
    rc = 0;
out:
    if (doc_ok)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    spec_syaml_free(s);
    return rc;
}

int spec_syaml_load(const char *path, char *const *envp, struct spec_syaml **out,
                    struct frost_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return frost_err_set(err, 400, CODE, "%s: cannot open: %s", path, strerror(errno));
    /* The limit leaves room for the read that passes SPEC_SYAML_MAX_BYTES. */
    struct buf text = BUF_INIT(SPEC_SYAML_MAX_BYTES + 8192);
    for (;;) {
        if (buf_reserve(&text, 4096) < 0) {
            buf_free(&text);
            return frost_err_set(err, 500, "InternalError", "%s: out of memory", path);
        }
        ssize_t r = read(fd, text.data + text.len, 4096);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            buf_free(&text);
            return frost_err_set(err, 400, CODE, "%s: cannot read: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        text.len += (size_t)r;
        if (text.len > SPEC_SYAML_MAX_BYTES) {
            buf_free(&text);
            return frost_err_set(err, 400, CODE, "%s: larger than %u bytes; is it an s.yaml?", path,
                                 SPEC_SYAML_MAX_BYTES);
        }
    }
    int rc = spec_syaml_parse(text.data ? text.data : "", text.len, path, envp, out, err);
    buf_free(&text);
    return rc;
}

void spec_syaml_free(struct spec_syaml *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_resources; i++) {
        struct spec_syaml_resource *r = &s->resources[i];
        free(r->name);
        free(r->region);
        free(r->code_path);
        json_decref(r->function);
        json_decref(r->code);
        json_decref(r->triggers);
        json_decref(r->async_invoke_config);
        json_decref(r->concurrency_config);
        json_decref(r->provision_config);
    }
    free(s->resources);
    free(s->name);
    free(s->access);
    json_decref(s->vars);
    json_decref(s->notes);
    free(s);
}
