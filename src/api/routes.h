/* The routes `frost serve` answers. This set: GET /healthz, and the
 * /_test/ diagnostic routes that the end-to-end tests use to exercise the
 * HTTP layer (enabled only with --test-routes). The FC 3.0 API joins here. */
#ifndef FROST_API_ROUTES_H
#define FROST_API_ROUTES_H

#include <stddef.h>
#include <uv.h>

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "http/client.h"
#include "http/router.h"
#include "runtime/rt.h"
#include "spec/registry.h"

struct api_routes;

FROST_WUR int api_routes_new(uv_loop_t *loop, struct router *r, struct http_client *cl,
                             const struct frost_config *cfg, struct api_routes **out,
                             struct frost_err *err);

/* Adds /_test/echo, /_test/stream-echo, /_test/sleep and /_test/proxy/{name}/…;
 * upstreams is a sequence of NUL-terminated "name=addr" strings. */
FROST_WUR int api_routes_add_test(struct api_routes *a, const char *upstreams, size_t len,
                                  struct frost_err *err);

/* Adds the instance diagnostics (tests drive the runtime with them until the
 * scheduler does): POST /_test/functions/{fn}/instances starts one and
 * answers once it is ready or failed; DELETE /_test/instances/{id} stops one
 * and answers once it is gone; POST /_test/instances/{id}/freeze and /thaw. */
FROST_WUR int api_routes_add_instance_test(struct api_routes *a, struct spec_registry *reg,
                                           struct rt *rt, struct frost_err *err);

/* GET /metrics: m's exposition (docs/metrics.md). With auth (not NULL) a
 * scrape must be signed like an API request. m and auth are borrowed. */
struct metrics;
struct api_auth;
FROST_WUR int api_routes_add_metrics(struct api_routes *a, struct metrics *m, struct api_auth *auth,
                                     struct frost_err *err);

void api_routes_free(struct api_routes *a);

#endif
