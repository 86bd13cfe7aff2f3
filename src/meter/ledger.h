/* The pure half of metering (docs/billing.md): prices, the usage of one
 * minute, the ledger that turns instance phase transitions into per-minute
 * usage, and bills computed from it. No loop, no store, no clock: every time
 * is passed in (wall ms since the epoch), so all of it is unit-tested with
 * constructed intervals. src/meter/meter.h wires it to the runtime, the store
 * and a timer.
 *
 * Not thread-safe: one owner (the loop thread in `frost serve`). */
#ifndef FROST_METER_LEDGER_H
#define FROST_METER_LEDGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "runtime/rt.h"

#define METER_MINUTE_MS UINT64_C(60000)
#define METER_HOUR_MS   UINT64_C(3600000)
#define METER_DAY_MS    UINT64_C(86400000)

#define METER_FUNCTION_MAX 64 /* FC's longest function name */
#define METER_TYPE_MAX     31 /* longest GPU device type (gpu.h) */
#define METER_MAX_TYPES    32 /* entries of prices.gpu_types / dedicated.types */

/* ---- kinds and phase classes ---------------------------------------------- */

/* How an instance is billed (FC's rules):
 * - on-demand: its active time only;
 * - provisioned: its whole life at the active price;
 * - provisioned-idle (idle mode): active time at the active price, idle and
 *   frozen time at the idle price. */
enum meter_kind { METER_ON_DEMAND, METER_PROVISIONED, METER_PROVISIONED_IDLE, METER_KIND_COUNT };

/* "on-demand", "provisioned", "provisioned-idle" (rt_phase_event.kind). */
const char *meter_kind_name(enum meter_kind k);
/* -1 for anything else. */
FROST_WUR int meter_kind_parse(const char *s, enum meter_kind *out);

/* What an instance's time counts as:
 *   active:   INITIALIZING, ACTIVE (>= 1 request in flight; requests that
 *             overlap on one instance are one phase, so they count once)
 *   idle:     IDLE, FREEZING, THAWING, STOPPING
 *   frozen:   FROZEN
 * STARTING is kept apart (starting_ms) and never billed; FAILED and STOPPED
 * end the instance's time. */
enum meter_class { METER_ACTIVE, METER_IDLE, METER_FROZEN, METER_CLASS_COUNT };

/* ---- usage ------------------------------------------------------------------ */

/* What the instances of one series (function, kind, GPU type) used during one
 * bucket (a minute; an hour once rolled up). Integrals are exact integers:
 * GPU memory in MB·ms (an instance's slice, also while frozen, when the
 * device memory itself is given back), vCPU in milli-vCPU·ms, memory in
 * MB·ms. */
struct meter_usage {
    uint64_t ms[METER_CLASS_COUNT]; /* instance time per class */
    uint64_t starting_ms;
    uint64_t gpu_mb_ms[METER_CLASS_COUNT];
    uint64_t cpu_mms[METER_CLASS_COUNT];
    uint64_t mem_mb_ms[METER_CLASS_COUNT];
    uint64_t invocations;
    uint64_t peak_gpu_mb;    /* GPU memory held at once (frozen instances hold none) */
    uint64_t peak_instances; /* instances alive at once */
    uint64_t slice_gpu_mb;   /* the largest slice of one instance */
};

/* ---- prices ----------------------------------------------------------------- */

struct meter_gpu_price {
    char type[METER_TYPE_MAX + 1];
    double active, idle;
};

struct meter_card_price {
    char type[METER_TYPE_MAX + 1];
    double card_hour;
};

struct meter_prices {
    char currency[16];
    double gpu_active, gpu_idle; /* per GPU-memory-GB·s, any type without its own */
    struct meter_gpu_price gpu[METER_MAX_TYPES];
    size_t n_gpu;
    double vcpu_active, vcpu_idle; /* per vCPU·s */
    double memory;                 /* per GB·s */
    double invocation;             /* per request */
    double card_hour;              /* a dedicated card, any type without its own */
    struct meter_card_price cards[METER_MAX_TYPES];
    size_t n_cards;
};

/* From the prices.* and dedicated.* keys. Errors: 400 InvalidConfig naming
 * the key and the bad entry of prices.gpu_types or dedicated.types. */
FROST_WUR int meter_prices_from_config(const struct frost_config *c, struct meter_prices *out,
                                       struct frost_err *err);
double meter_price_gpu(const struct meter_prices *p, const char *gpu_type, bool active);
double meter_price_card_hour(const struct meter_prices *p, const char *gpu_type);

/* A usage priced by the rules of its kind. GB = 1024 MB. */
struct meter_cost {
    uint64_t billed_active_ms, billed_idle_ms; /* instance time at each price */
    double gpu_gbs_active, gpu_gbs_idle;       /* GPU-memory-GB·s at each price */
    double vcpu_s_active, vcpu_s_idle;
    double memory_gbs;
    double gpu, vcpu, memory, invocations, total; /* money */
};
void meter_cost(const struct meter_prices *p, enum meter_kind kind, const char *gpu_type,
                const struct meter_usage *u, struct meter_cost *out);

/* ---- the ledger ------------------------------------------------------------- */

/* One bucket of one series, as stored (see meter_record_key/json). */
struct meter_record {
    char function[METER_FUNCTION_MAX + 1];
    enum meter_kind kind;
    char gpu_type[METER_TYPE_MAX + 1]; /* "" = no GPU */
    uint64_t start_ms;                 /* aligned on len_ms */
    uint64_t len_ms;                   /* METER_MINUTE_MS, or METER_HOUR_MS once rolled up */
    struct meter_usage u;
};

struct meter_ledger;

/* NULL when out of memory. */
struct meter_ledger *meter_ledger_new(void);
void meter_ledger_free(struct meter_ledger *l);

/* Applies one phase transition (rt_phase_event's contract: the first one of
 * an instance has from == to, the last goes to STOPPED). The time since the
 * instance's previous transition is added, split at minute boundaries, to
 * the buckets of its series, with the resources it held since then. Times
 * never run backwards for an instance: an event older than the previous one
 * counts as happening at the same time. Events for unknown instances start
 * them (the meter may start after them); STOPPED/FAILED for unknown ones
 * are ignored. -1 (errno ENOMEM) when out of memory: that time is lost. */
FROST_WUR int meter_ledger_phase(struct meter_ledger *l, const struct rt_phase_event *e);

/* Counts one request of a function at at_ms, under the series of its
 * instance that last became active (on-demand without GPU when none has). */
FROST_WUR int meter_ledger_invocation(struct meter_ledger *l, const char *function, uint64_t at_ms);

/* Adds the open time of every live instance up to now_ms (they stay open):
 * before a flush or a bill. */
FROST_WUR int meter_ledger_advance(struct meter_ledger *l, uint64_t now_ms);

/* Ends every live instance at now_ms (shutdown: instances do not outlive the
 * server, so nothing is left open to be billed twice after a restart). */
FROST_WUR int meter_ledger_close_all(struct meter_ledger *l, uint64_t now_ms);

size_t meter_ledger_live_instances(const struct meter_ledger *l);

/* Loads a stored bucket (start-up), replacing one with the same series,
 * start and length. Not dirty. -1 ENOMEM, EINVAL (bad length or alignment). */
FROST_WUR int meter_ledger_put(struct meter_ledger *l, const struct meter_record *r);

/* Calls each for every bucket changed since it was last taken, marking it
 * clean. Stops at the first each() < 0 (the rest stay dirty) and returns it. */
FROST_WUR int meter_ledger_take_dirty(struct meter_ledger *l,
                                      int (*each)(void *ud, const struct meter_record *r),
                                      void *ud);
/* Marks the bucket of r dirty again (its write failed). */
void meter_ledger_redirty(struct meter_ledger *l, const struct meter_record *r);

/* Folds the minute buckets of whole hours that end at or before `before_ms`
 * into hour buckets, so the ledger grows by 24 buckets a day per series, not
 * 1440. For each hour: gone(ud, r) for every minute bucket removed, then the
 * hour bucket is dirty. Stops at the first callback < 0 and returns it. */
FROST_WUR int meter_ledger_rollup(struct meter_ledger *l, uint64_t before_ms,
                                  int (*gone)(void *ud, const struct meter_record *r), void *ud);

/* Calls each for every bucket that starts in [since_ms, until_ms), of one
 * function (NULL = all), series by series (sorted by function, kind, GPU
 * type), in time order within a series. */
FROST_WUR int meter_ledger_each(struct meter_ledger *l, const char *function, uint64_t since_ms,
                                uint64_t until_ms,
                                int (*each)(void *ud, const struct meter_record *r), void *ud);

/* Store form: key "FUNCTION/KIND/GPU_TYPE/START_S" for a minute bucket and
 * "FUNCTION/KIND/GPU_TYPE/START_S/3600" for an hour (GPU_TYPE "-" = none;
 * START_S = epoch seconds); the value is a JSON object of the usage.
 * meter_record_json returns a malloc'd string or NULL (ENOMEM). */
FROST_WUR int meter_record_key(const struct meter_record *r, char *out, size_t len);
char *meter_record_json(const struct meter_record *r);
/* -1 with err (400 InvalidArgument) naming what is wrong. */
FROST_WUR int meter_record_parse(const char *key, const char *json, struct meter_record *out,
                                 struct frost_err *err);

/* ---- bills ------------------------------------------------------------------ */

enum meter_by { METER_BY_ALL, METER_BY_HOUR, METER_BY_DAY };

struct meter_query {
    char function[METER_FUNCTION_MAX + 1]; /* "" = every function */
    int64_t since_ms, until_ms;            /* since < until */
    enum meter_by by;                      /* periods, aligned on UTC hours/days */
    int64_t now_ms;                        /* dedicated cards are counted up to now */
};

#define METER_BILL_MAX_ROWS 100000

/* Size in MB of one card of a device type, 0 when unknown (an instance's
 * slice then counts as a card). */
typedef uint64_t (*meter_card_mb_fn)(void *ud, const char *gpu_type);

/* The bill of q as JSON (docs/billing.md): {currency, since, until, by,
 * items[] (period × function × kind), functions[] (period × function),
 * periods[] (period), total}. Every row has the same fields, so they plot
 * and turn into CSV as they are. Dedicated cards are sized, per GPU type, to
 * the peak GPU memory held at once in a minute. Errors: 400 InvalidArgument
 * (more than METER_BILL_MAX_ROWS rows), 500 out of memory. */
FROST_WUR int meter_bill(struct meter_ledger *l, const struct meter_prices *p,
                         const struct meter_query *q, meter_card_mb_fn card_mb, void *card_ud,
                         json_t **out, struct frost_err *err);

/* Times users give for since/until: RFC 3339 ("2024-07-01T16:00:00Z",
 * "2024-07-01T16:00:00.5+08:00", seconds optional), a UTC date
 * ("2024-07-01"), epoch milliseconds ("1719849600000"), "now", "today" and
 * "yesterday" (UTC midnights), or a duration ago ("-90m", "-2h", "-7d").
 * -1 on anything else. */
FROST_WUR int meter_parse_time(const char *s, int64_t now_ms, int64_t *out_ms);

/* "hour", "day" (and "" or "all": one period). -1 otherwise. */
FROST_WUR int meter_by_parse(const char *s, enum meter_by *out);
const char *meter_by_name(enum meter_by b);

#endif
