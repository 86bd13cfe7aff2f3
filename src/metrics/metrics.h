/* Metrics: per-function counters and histograms, instance gauges, GPU and
 * per-instance resource gauges, rendered on demand in the Prometheus text
 * exposition format 0.0.4 (GET /metrics; docs/metrics.md lists every family).
 *
 * Three ways in, all on the loop thread:
 *   push     the scheduler holds one struct metrics_fn per pool (found once
 *            through a hash, never per request) and reports each invocation,
 *            and the first response head of each new instance;
 *   observe  the runtime's phase observer (rt_on_phase) keeps instance counts
 *            by function, kind and phase, cold starts, freezes and thaws;
 *   pull     at scrape time: GPU devices (gpu.h), in-flight and queued
 *            requests (sched_function_status), provision targets (registry),
 *            per-instance CPU and memory (the instance's cgroup), and any
 *            module's collector (metrics_add_collector), which writes its own
 *            families through the writer below.
 *
 * A scrape costs O(functions + instances + GPUs): no per-request state is
 * kept, nothing is sorted, and reading cgroup files is bounded per scrape
 * (METRICS_INSTANCE_READS_PER_SCRAPE; the others are served from their last
 * reading).
 *
 * Loop thread only. */
#ifndef FROST_METRICS_METRICS_H
#define FROST_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"
#include "runtime/rt.h"

struct gpu;
struct sched;
struct spec_registry;

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Largest /metrics answer (a hard cap: 1 000 busy functions take ~6 MiB). */
#define METRICS_MAX_BYTES (256u << 20)

/* cgroup files read per scrape at most (three small files per instance);
 * instances beyond it keep their previous reading until a later scrape. */
#define METRICS_INSTANCE_READS_PER_SCRAPE 256

/* ------------------------------------------------------------ text writer */

enum metrics_type {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
};

struct metrics_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" */
    const char *value; /* any bytes: escaped, invalid UTF-8 replaced by U+FFFD */
};

/* Histogram bounds are static arrays of strictly increasing finite upper
 * bounds; +Inf is implicit. */
#define METRICS_HIST_MAX_BOUNDS 20

struct metrics_hist {
    const double *bounds;
    size_t n_bounds;
    uint64_t counts[METRICS_HIST_MAX_BOUNDS + 1]; /* per bucket, not cumulative; last = +Inf */
    uint64_t count;
    double sum;
};

/* Latency and queue wait: 0.5 ms .. 60 s. */
extern const double metrics_latency_bounds[];
extern const size_t metrics_latency_n;
/* Cold-start phases: 1 ms .. 300 s (model loading can take minutes). */
extern const double metrics_cold_start_bounds[];
extern const size_t metrics_cold_start_n;
/* Freeze and thaw: 1 ms .. 30 s. */
extern const double metrics_freeze_bounds[];
extern const size_t metrics_freeze_n;

/* n_bounds <= METRICS_HIST_MAX_BOUNDS (asserted). */
void metrics_hist_init(struct metrics_hist *h, const double *bounds, size_t n_bounds);
/* NaN is ignored; negative values count in the first bucket. */
void metrics_hist_observe(struct metrics_hist *h, double v);

/* Writes families into a buffer. Families are written one at a time:
 * metrics_family() starts one (HELP and TYPE lines) and the samples that
 * follow belong to it, as the format requires. Misuse (a sample before any
 * family, a second family of the same name, a bad metric or label name, a
 * histogram sample in a counter family) is not written and counted in
 * metrics_writer_errors(); running out of buffer is sticky. */
struct metrics_writer;

/* A writer appending to out (which the caller owns). NULL on OOM. */
struct metrics_writer *metrics_writer_new(struct buf *out);
void metrics_writer_free(struct metrics_writer *w);
/* 0, or how many writes were refused (misuse or the buffer's cap). */
size_t metrics_writer_errors(const struct metrics_writer *w);
/* The reason of the first refused write ("" when none). */
const char *metrics_writer_error(const struct metrics_writer *w);
/* The output buffer reached its limit: the exposition is incomplete. */
bool metrics_writer_full(const struct metrics_writer *w);

/* name: [a-zA-Z_:][a-zA-Z0-9_:]*; help: one line of text (escaped). */
int metrics_family(struct metrics_writer *w, const char *name, enum metrics_type type,
                   const char *help);
/* One sample of the current counter or gauge family. */
int metrics_sample(struct metrics_writer *w, const struct metrics_label *labels, size_t n_labels,
                   double value);
/* The same with an exact integer. */
int metrics_sample_u64(struct metrics_writer *w, const struct metrics_label *labels,
                       size_t n_labels, uint64_t value);
/* One histogram of the current histogram family: cumulative _bucket lines
 * (le last), +Inf, _sum and _count. labels must not contain "le". */
int metrics_sample_hist(struct metrics_writer *w, const struct metrics_label *labels,
                        size_t n_labels, const struct metrics_hist *h);

/* -------------------------------------------------------------- registry */

struct metrics;

struct metrics_opts {
    struct rt *rt;             /* NULL = no instance metrics; else a phase observer is added */
    struct gpu *gpu;           /* NULL = no GPU metrics */
    struct spec_registry *reg; /* NULL = no configured provision targets */
};

/* Creates the registry. Errors: 500 (out of memory, the runtime's observer
 * slots are full). */
FROST_WUR int metrics_new(const struct metrics_opts *o, struct metrics **out,
                          struct frost_err *err);
/* Last, after the runtime and the scheduler are freed and the loop has run
 * their close callbacks (which may still put functions back). Records still
 * held are released. NULL is fine. */
void metrics_free(struct metrics *m);

/* The scheduler, once it exists (it is created after the registry): in-flight
 * and queued requests are read from it at scrape time. NULL detaches. */
void metrics_set_sched(struct metrics *m, struct sched *s);

/* Renders every family into out (appended; out's limit applies, and
 * METRICS_MAX_BYTES is the recommended one). -1 with err (500) when out ran
 * full or out of memory. */
FROST_WUR int metrics_render(struct metrics *m, struct buf *out, struct frost_err *err);

/* A module's families, written at every scrape after Frost's own (see
 * docs/metrics.md for the names reserved for async tasks). collect must only
 * write (no I/O that blocks). At most 16. */
typedef void (*metrics_collect_fn)(struct metrics_writer *w, void *ud);
FROST_WUR int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *ud,
                                    struct frost_err *err);
/* Removes a collector (a module freed before the registry must). */
void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn, void *ud);

/* ---------------------------------------------------- per function (push) */

struct metrics_fn;

/* The stats of a function, created on first use; each get takes a reference
 * that metrics_fn_put gives back. Hold one per pool (not per request). The
 * series stay while the function exists in the registry (an on-demand pool
 * that scaled to zero keeps its counters); once it is deleted and nothing
 * holds it (no pool, no instance left), they leave /metrics. NULL on OOM;
 * every metrics_fn_* call accepts NULL and does nothing. m NULL gives NULL. */
struct metrics_fn *metrics_fn_get(struct metrics *m, const char *function);
void metrics_fn_put(struct metrics_fn *f);

/* One finished invocation (InvokeFunction, HTTP trigger or a job): error_type
 * is the answer's x-fc-error-type (Frost's own or the function's), NULL or
 * "" on success; latency_s from arrival to the end of the answer, queue_s the
 * part spent waiting for a slot (0 when it got one at once). A function can
 * name its own error types: at most 8 distinct values are kept per function,
 * later ones count as "other". */
void metrics_fn_invocation(struct metrics_fn *f, const char *error_type, double latency_s,
                           double queue_s);

/* An instance's response head arrived, head_us after its request was sent
 * (http_proxy_result.head_us). Only the instance's first is kept: the
 * cold-start phase "first_byte". Cheap (one hash lookup); call on every
 * answered request, or only on the first one of each instance. */
void metrics_fn_first_byte(struct metrics_fn *f, const struct rt_instance *inst, uint64_t head_us);

/* The provision target the scaler currently wants (scheduled actions and
 * target tracking included); -1 = none (the configured defaultTarget is
 * shown then). */
void metrics_fn_provision_target(struct metrics_fn *f, int target);

/* ------------------------------------------------------- for tests/bench */

/* What the runtime's phase observer gets (for tests and benchmarks that run
 * without a runtime). */
void metrics_observe_phase(const struct rt_phase_event *e, void *m);

#endif
