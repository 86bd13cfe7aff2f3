/* Provisioned-instance targets: the pure decision logic behind a function's
 * provision config — defaultTarget, scheduledActions and
 * targetTrackingPolicies (docs/autoscaling.md is the user's view).
 *
 * One struct scale per function with a provision config. The scheduler feeds
 * it samples (scale_observe) and asks for the target (scale_decide), both
 * about once per sched.scale_interval, with the same clock: wall milliseconds
 * since the Unix epoch (scheduled actions are wall-clock events). Nothing here
 * does I/O, reads a clock, allocates on the hot path beyond bounded history
 * buffers, or touches globals; scale_new reads time zone files once.
 * A struct scale is not thread-safe: one thread (the loop) owns it.
 *
 * How the target is decided (pure function of config, time and samples):
 * 1. Base target = defaultTarget, or the `target` of the scheduled action
 *    whose most recent fire time <= now is the latest (ties: the later one in
 *    the array). An action fires at the times its scheduleExpression matches,
 *    in its timeZone (default UTC), counting only fire times inside
 *    [startTime, endTime] (both inclusive, either may be absent). Fire times
 *    are searched back at most SCALE_CRON_SEARCH_DAYS: an action that last
 *    fired longer ago than that no longer counts. Because the base is
 *    recomputed from the config and the clock, a restart lands on the same
 *    value; scheduled changes apply at once, up or down.
 * 2. A target-tracking policy is active while startTime <= now < endTime
 *    (either may be absent). While any is active, the policies decide the
 *    target and the base is ignored (seed 002: defaultTarget 1 with a policy
 *    of minCapacity 2 gives 2). Each active policy computes
 *      desired = ceil(load / metricTarget), clamped to [minCapacity, maxCapacity],
 *    where load = mean over the samples of the last window_ms of
 *    current × metric (= current × mean metric when current did not change;
 *    using each sample's own current keeps a scale-out that already happened
 *    from being counted again). With current == 0 in the latest sample,
 *    desired = max(minCapacity, 1) if the mean metric is > 0, else
 *    minCapacity. With no usable sample in the window the policy holds the
 *    target in force (clamped). GPUMemUtilization samples < 0 (unknown) and
 *    non-finite values are ignored. A tolerance of 1e-9 keeps exact hits
 *    (2 × 0.3 / 0.3) from rounding up.
 * 3. Scale-out is immediate; scale-in goes only down to the highest desired
 *    value the policy computed within the last scale_in_stabilization_ms
 *    (Kubernetes HPA's scale-down stabilisation), so a brief dip does not
 *    release instances. The highest stabilised value over the active policies
 *    wins (ties: the first in the array). A policy's history is dropped when
 *    its window closes; when the last active policy closes, the base target
 *    applies at once.
 * If the clock goes backwards, sample and desired histories are dropped. */
#ifndef FROST_SCALE_SCALE_H
#define FROST_SCALE_SCALE_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "base/util.h"
#include "scale/tz.h"
#include "spec/spec.h"

#define SCALE_DEFAULT_WINDOW_MS        60000
#define SCALE_DEFAULT_STABILIZATION_MS 300000
/* scale_in_stabilization_ms = SCALE_STABILIZATION_NONE: scale in at once
 * (0 already means "the default"). */
#define SCALE_STABILIZATION_NONE 1
/* Samples kept per function (the oldest go first beyond this), and desired
 * values kept per policy. At one sample a second both are far from full. */
#define SCALE_SAMPLES_MAX      4096
#define SCALE_HISTORY_MAX      4096
#define SCALE_CRON_SEARCH_DAYS 400

struct scale;

struct scale_opts {
    uint64_t window_ms; /* metrics are averaged over this sliding window; 0 = 60000 */
    /* scale in only to the highest target desired over this long; 0 = 300000 */
    uint64_t scale_in_stabilization_ms;
    const char *zoneinfo_dir; /* NULL = "/usr/share/zoneinfo" (tests may point elsewhere) */
    /* Both durations are cut to 366 days. */
};

/* Parses a stored provision config (already valid per spec_provision_config)
 * and loads the time zones it names (each distinct one once). o may be NULL
 * (all defaults). Errors: 400 InvalidArgument naming the field, e.g.
 * "scheduledActions[0].timeZone: unknown time zone \"Mars/Base\"", also for
 * shapes spec_provision_config would have refused; 500 when a zone file
 * cannot be read. Blocking (reads zone files): call it where a few small
 * reads are acceptable. */
FROST_WUR int scale_new(const json_t *provision_config, const struct scale_opts *o,
                        struct scale **out, struct frost_err *err);
/* NULL is fine. */
void scale_free(struct scale *s);

struct scale_sample {
    int current;        /* provisioned instances counted now (ready, incl. idle/frozen) */
    double concurrency; /* ProvisionedConcurrencyUtilization: in-flight / (current × slots), may
                           exceed 1 */
    double cpu;         /* CPUUtilization 0..1 (cgroup usage / quota) */
    double gpu_mem;     /* GPUMemUtilization 0..1; negative = unknown */
};

/* Records one sample taken at now_ms. Call it at a steady rate (the mean is a
 * plain mean of the samples in the window, not weighted by time). */
void scale_observe(struct scale *s, int64_t now_ms, const struct scale_sample *m);

struct scale_decision {
    int target;
    char source[160]; /* "defaultTarget", "scheduledAction:NAME", "targetTrackingPolicy:NAME" */
    char reason[256]; /* human text: e.g. "ProvisionedConcurrencyUtilization 0.62 over 60 s > 0.30:
                         2 -> 5" */
};

/* The target in force at now_ms (see the rules above). Updates the
 * stabilisation history, so call it once per evaluation tick rather than
 * speculatively. */
void scale_decide(struct scale *s, int64_t now_ms, struct scale_decision *out);

/* The earliest time after now_ms at which a scheduled action fires or a
 * tracking policy's window opens or closes (so a caller can arm a timer), or
 * INT64_MAX. Fires further than SCALE_CRON_SEARCH_DAYS ahead are not seen;
 * call it again after the timer. */
int64_t scale_next_change_ms(const struct scale *s, int64_t now_ms);

/* ---- cron evaluation (exposed for tests and for whoever else needs it) ----
 *
 * A cron expression is matched against local wall-clock time in tz (NULL =
 * UTC). Fire times are the UTC instants of matching local times, converted
 * with scale_tz_to_utc: a local time skipped by a DST jump fires at the jump,
 * a repeated one fires once, at its first occurrence. Day-of-month and
 * day-of-week: when both are restricted either may match (cron(8)). */

/* True when local seconds L match c. */
bool scale_cron_matches(const struct spec_cron *c, int64_t local_s);
/* The latest fire time <= t_s, or INT64_MIN when none within
 * SCALE_CRON_SEARCH_DAYS before it. Searches field by field (days, then
 * hours, minutes, seconds), not second by second. */
int64_t scale_cron_prev(const struct spec_cron *c, const struct scale_tz *tz, int64_t t_s);
/* The earliest fire time > t_s, or INT64_MAX when none within
 * SCALE_CRON_SEARCH_DAYS after it. */
int64_t scale_cron_next(const struct spec_cron *c, const struct scale_tz *tz, int64_t t_s);

#endif
