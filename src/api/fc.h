/* The FC 3.0 management API under /2023-03-30/: functions, provision,
 * async-invoke and concurrency configs, triggers. Requests are checked
 * (signature when keys are configured), validated by spec/, applied to the
 * in-memory registry and written through the store; the answer goes out only
 * once the write is durable.
 *
 * Loop thread only. */
#ifndef FROST_API_FC_H
#define FROST_API_FC_H

#include <uv.h>

#include "api/auth.h"
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "http/router.h"
#include "runtime/rt.h"
#include "sched/sched.h"
#include "spec/registry.h"
#include "store/store.h"

struct api_fc;
struct meter;
struct async;

struct api_fc_opts {
    uv_loop_t *loop;
    const struct frost_config *cfg;
    struct store *store;        /* borrowed */
    struct spec_registry *reg;  /* borrowed */
    struct api_auth *auth;      /* borrowed; NULL = unsigned requests accepted */
    struct rt *rt;              /* borrowed; instances (ListInstances, logs) */
    struct sched *sched;        /* borrowed; invocations and triggers */
    struct meter *meter;        /* borrowed; GET /bills (NULL = no bills) */
    struct async *async;        /* borrowed; async invocations and tasks (NULL = 501) */
    const char *public_address; /* host:port clients use, for trigger URLs */
};

/* Loads every function, config and trigger from the store into the registry
 * (synchronously: call before serving) and adds the routes to r. */
FROST_WUR int api_fc_new(const struct api_fc_opts *o, struct router *r, struct api_fc **out,
                         struct frost_err *err);
void api_fc_free(struct api_fc *a);

/* Changes the address shown in trigger URLs (known only after listening). */
void api_fc_set_public_address(struct api_fc *a, const char *addr);

#endif
