/* HTTP(S) POSTs to webhook destinations, off the loop.
 *
 * A dedicated thread runs a libcurl multi handle: name resolution, TLS and
 * slow peers never block the loop. Posts are queued from the loop; each
 * outcome comes back on the loop through a uv_async_t.
 *
 * Loop thread only (the worker thread is internal). */
#ifndef FROST_ASYNC_WEBHOOK_H
#define FROST_ASYNC_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "base/util.h"

struct webhook;

FROST_WUR int webhook_new(uv_loop_t *loop, struct webhook **out, struct frost_err *err);

/* Stops the worker (posts in flight are abandoned: their callbacks never
 * run) and closes the async handle; the memory goes in its close callback, so
 * the loop must run once more. NULL is fine. */
void webhook_free(struct webhook *w);

/* status: the HTTP status of the answer, or 0 when none came (error then
 * says why, e.g. "Couldn't connect to server"). */
typedef void (*webhook_fn)(void *ud, long status, const char *error);

/* POSTs body (copied) to url with Content-Type: application/json and the
 * extra header lines ("Name: value", copied; n may be 0). done runs once, on
 * the loop, never inside this call. -1 (done will not run) when out of memory
 * or shutting down. */
FROST_WUR int webhook_post(struct webhook *w, const char *url, const char *body, size_t len,
                           const char *const *headers, size_t n_headers, uint64_t timeout_ms,
                           webhook_fn done, void *ud);

#endif
