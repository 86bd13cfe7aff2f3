/* Path router: patterns made of literal segments, "{name}" parameters (one
 * segment) and a final "{name...}" that takes the rest of the path (possibly
 * empty). Methods are matched exactly; "*" matches any method.
 *
 * Matching percent-decodes each parameter. A path that matches some pattern
 * but not with this method yields 405 and the allowed methods. Routes are
 * tried in the order they were added. Not thread-safe; build before serving. */
#ifndef FROST_HTTP_ROUTER_H
#define FROST_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/util.h"

#define ROUTER_MAX_PARAMS 8
#define ROUTER_MAX_SEGS   32

struct http_request;
typedef void (*http_handler_fn)(struct http_request *req, void *ud);

struct http_route_opts {
    size_t max_body;  /* body cap for this route; 0 = server default */
    bool stream_body; /* handler runs at end of headers and reads the body itself */
};

struct router_param {
    const char *name;
    char *value; /* decoded, NUL-terminated; owned by the match */
};

struct router_match {
    const struct router_route *route;
    http_handler_fn handler;
    void *ud;
    struct http_route_opts opts;
    struct router_param params[ROUTER_MAX_PARAMS];
    size_t n_params;
    char storage[2048]; /* holds the decoded values */
};

struct router;

struct router *router_new(void);
void router_free(struct router *r);

/* Adds a route. Fails on a malformed pattern ("{" without "}", "{x...}" not
 * last, too many parameters). */
FROST_WUR int router_add(struct router *r, const char *method, const char *pattern,
                         http_handler_fn handler, void *ud, const struct http_route_opts *opts,
                         struct frost_err *err);

/* Matches path (no query string) for method. Returns 200 on a match (m
 * filled), 404 when no pattern matches, 405 when only other methods do (allow
 * then holds "GET, PUT" etc.), 400 for a path that cannot be decoded. */
int router_match(const struct router *r, const char *method, const char *path,
                 struct router_match *m, char *allow, size_t allow_len);

/* Decoded value of a parameter of the match, or NULL. */
const char *router_param(const struct router_match *m, const char *name);

#endif
