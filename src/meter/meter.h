/* Metering (docs/billing.md): every instance phase transition the runtime
 * reports goes into the ledger (meter/ledger.h), which keeps per-minute usage
 * per function, kind and GPU type. Changed minutes are written to the store
 * (collection METER_STORE_USAGE) once a minute and at shutdown, replacing the
 * previous value of the same minute, so a restart bills nothing twice and
 * loses at most what accrued since the last write. Minutes older than a week
 * are folded into hours. Bills are computed from the ledger on request.
 *
 * Loop thread only. */
#ifndef FROST_METER_METER_H
#define FROST_METER_METER_H

#include <jansson.h>
#include <uv.h>

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "gpu/gpu.h"
#include "meter/ledger.h"
#include "runtime/rt.h"
#include "store/store.h"

/* Store collection of usage records; keys and values: meter_record_key/json. */
#define METER_STORE_USAGE "usage"

#define METER_FLUSH_MS     (60 * 1000)
#define METER_ROLLUP_AFTER (7 * METER_DAY_MS)

struct meter;

struct meter_opts {
    uv_loop_t *loop;
    const struct frost_config *cfg; /* prices.* and dedicated.* (read during meter_new) */
    struct store *store;            /* borrowed; NULL = nothing is kept (tests) */
    struct rt *rt;                  /* borrowed; its phase transitions are metered */
    const struct gpu *gpu;          /* borrowed, may be NULL; card sizes for bills */
    uint64_t flush_ms;              /* 0 = METER_FLUSH_MS */
};

/* Reads the prices (400 InvalidConfig when prices.gpu_types or
 * dedicated.types is malformed), loads the stored usage (synchronous: call
 * before serving; unreadable records are logged and skipped), registers with
 * the runtime and starts the flush timer. */
FROST_WUR int meter_new(const struct meter_opts *o, struct meter **out, struct frost_err *err);

/* The runtime observer meter_new registers (for tests that feed events). */
void meter_on_phase(const struct rt_phase_event *e, void *ud);

/* Counts one request of a function (the scheduler calls it when a request
 * is dispatched to an instance). */
void meter_note_invocation(struct meter *m, const char *function);

/* The bill of q (q->now_ms is ignored: the meter's clock is used), counting
 * the open intervals of live instances up to now. See meter_bill. */
FROST_WUR int meter_bill_json(struct meter *m, const struct meter_query *q, json_t **out,
                              struct frost_err *err);

const struct meter_prices *meter_prices(const struct meter *m);

/* Writes what changed now (normally the timer does). */
void meter_flush(struct meter *m);

/* Shutdown, after the runtime stopped its instances and before the store
 * closes: ends the intervals still open, writes what changed and stops. The
 * meter ignores events from here on and is freed once the loop has closed
 * its timer and its last write has reported back. NULL is fine. */
void meter_close(struct meter *m);

#endif
