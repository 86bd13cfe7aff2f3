#include "http/router.h"

#include "base/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seg {
    char *text; /* literal text, or parameter name */
    size_t len; /* strlen(text) */
    bool param;
    bool rest; /* "{name...}": takes the remaining path */
};

struct router_route {
    char method[16];
    struct seg segs[ROUTER_MAX_SEGS];
    size_t n_segs;
    bool has_rest; /* ends in {name...}: matches paths of n_segs - 1 segments or more */
    http_handler_fn handler;
    void *ud;
    struct http_route_opts opts;
    struct router_route *next;
};

struct router {
    struct router_route *head, *tail;
};

struct router *router_new(void)
{
    return calloc(1, sizeof(struct router));
}

void router_free(struct router *r)
{
    if (!r)
        return;
    struct router_route *rt = r->head;
    while (rt) {
        struct router_route *next = rt->next;
        for (size_t i = 0; i < rt->n_segs; i++)
            free(rt->segs[i].text);
        free(rt);
        rt = next;
    }
    free(r);
}

int router_add(struct router *r, const char *method, const char *pattern, http_handler_fn handler,
               void *ud, const struct http_route_opts *opts, struct frost_err *err)
{
    if (pattern[0] != '/')
        return frost_err_set(err, 500, "InternalError", "route %s: must start with '/'", pattern);
    struct router_route *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    snprintf(rt->method, sizeof(rt->method), "%s", method);
    rt->handler = handler;
    rt->ud = ud;
    if (opts)
        rt->opts = *opts;
    size_t n_params = 0;
    const char *p = pattern + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (rt->n_segs == ROUTER_MAX_SEGS)
            goto bad;
        struct seg *s = &rt->segs[rt->n_segs];
        if (len >= 2 && p[0] == '{') {
            if (p[len - 1] != '}')
                goto bad;
            s->param = true;
            size_t nlen = len - 2;
            if (nlen > 3 && strncmp(p + 1 + nlen - 3, "...", 3) == 0) {
                s->rest = true;
                nlen -= 3;
                if (end && end[1] != 0)
                    goto bad; /* rest parameter must be last */
            }
            if (nlen == 0 || ++n_params > ROUTER_MAX_PARAMS)
                goto bad;
            s->text = strndup(p + 1, nlen);
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len))
                goto bad;
            s->text = strndup(p, len);
        }
        if (!s->text)
            goto bad;
        s->len = strlen(s->text);
        rt->has_rest = rt->has_rest || s->rest;
        rt->n_segs++;
        if (!end)
            break;
        p = end + 1;
        if (*p == 0) { /* trailing slash: an empty literal segment */
            if (rt->n_segs == ROUTER_MAX_SEGS)
                goto bad;
            rt->segs[rt->n_segs].text = strdup("");
            if (!rt->segs[rt->n_segs].text)
                goto bad;
            rt->n_segs++;
        }
    }
    if (r->tail)
        r->tail->next = rt;
    else
        r->head = rt;
    r->tail = rt;
    return 0;
bad:
    for (size_t i = 0; i < ROUTER_MAX_SEGS; i++)
        free(rt->segs[i].text);
    free(rt);
    return frost_err_set(err, 500, "InternalError", "route %s %s: malformed pattern", method,
                         pattern);
}

/* 1 = match, 0 = no match, -1 = undecodable */
/* Whether the route's literal segments match, without decoding parameters:
 * most candidates fail here (e.g. /functions/{fn}/triggers for an
 * invocation), and decoding {fn} for each of them was the router's cost. */
static bool literals_match(const struct router_route *rt, const char *path)
{
    const char *p = path + 1;
    for (size_t i = 0; i < rt->n_segs; i++) {
        const struct seg *s = &rt->segs[i];
        if (p == NULL)
            return false;
        if (s->rest)
            return true;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!s->param && (s->len != len || memcmp(s->text, p, len) != 0))
            return false;
        p = end ? end + 1 : NULL;
    }
    return p == NULL;
}

static int match_route(const struct router_route *rt, const char *path, struct router_match *m)
{
    const char *p = path + 1;
    size_t used_total = 0;
    m->n_params = 0;
    if (!literals_match(rt, path))
        return 0;
    for (size_t i = 0; i < rt->n_segs; i++) {
        const struct seg *s = &rt->segs[i];
        if (p == NULL)
            return 0;
        const char *end = s->rest ? NULL : strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (s->param) {
            if (len == 0 && !s->rest)
                return 0;
            size_t used;
            if (codec_percent_decode(p, len, false, m->storage + used_total,
                                     sizeof(m->storage) - used_total, &used) < 0)
                return -1;
            used++; /* and its NUL */
            m->params[m->n_params].name = s->text;
            m->params[m->n_params].value = m->storage + used_total;
            m->n_params++;
            used_total += used;
        } else if (s->len != len || memcmp(s->text, p, len) != 0) {
            return 0;
        }
        p = end ? end + 1 : NULL;
    }
    return p == NULL ? 1 : 0;
}

int router_match(const struct router *r, const char *method, const char *path,
                 struct router_match *m, char *allow, size_t allow_len)
{
    if (path[0] != '/')
        return 400;
    bool path_matched = false;
    size_t allow_used = 0;
    if (allow_len)
        allow[0] = 0;
    /* Segment count first: it rules out most routes without looking at text. */
    size_t segs = 1;
    for (const char *p = path + 1; *p; p++)
        segs += *p == '/';
    for (const struct router_route *rt = r->head; rt; rt = rt->next) {
        if (rt->has_rest ? segs + 1 < rt->n_segs : segs != rt->n_segs)
            continue;
        int k = match_route(rt, path, m);
        if (k < 0)
            return 400;
        if (k == 0)
            continue;
        if (strcmp(rt->method, "*") == 0 || strcmp(rt->method, method) == 0) {
            m->route = rt;
            m->handler = rt->handler;
            m->ud = rt->ud;
            m->opts = rt->opts;
            return 200;
        }
        path_matched = true;
        if (allow_len && !strstr(allow, rt->method)) {
            int n = snprintf(allow + allow_used, allow_len - allow_used, "%s%s",
                             allow_used ? ", " : "", rt->method);
            if (n > 0 && (size_t)n < allow_len - allow_used)
                allow_used += (size_t)n;
        }
    }
    m->n_params = 0;
    return path_matched ? 405 : 404;
}

const char *router_param(const struct router_match *m, const char *name)
{
    for (size_t i = 0; i < m->n_params; i++) {
        if (strcmp(m->params[i].name, name) == 0)
            return m->params[i].value;
    }
    return NULL;
}
