/* Persistence. The rest of Frost sees records, never SQL: this interface is
 * what a PostgreSQL backend will implement for clusters.
 *
 * The embedded backend is SQLite in WAL mode. Reads of whole collections
 * happen once at start-up (store_load_*, synchronous, before the loop serves).
 * After that the loop keeps the live state in memory and only writes; writes
 * go to a dedicated writer thread that commits everything queued in one
 * transaction (group commit, synchronous=FULL) and reports back on the loop
 * once the transaction is durable. A caller acknowledges its client only in
 * that callback.
 *
 * Threads: store_open/load/close on the loop thread before/after serving;
 * store_submit and the batch functions on the loop thread; callbacks run on
 * the loop thread.
 *
 * Errors: every failure the store reports (store_open, store_load, a failed
 * write's msg) names the file, says what went wrong in words and carries the
 * SQLite code, e.g. "store /d/frost.db: disk full (SQLITE_FULL) while
 * committing 3 writes". API layers map them to status 500, STORE_ERR_CODE.
 *
 * Files: <path> plus SQLite's <path>-wal and <path>-shm next to it, and
 * <path>.lock, which the open store holds with flock(LOCK_EX) and which
 * records the holder's pid; it is never removed. */
#ifndef FROST_STORE_STORE_H
#define FROST_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "base/util.h"

struct store;
struct store_batch;

/* FC-style error code for every store failure (status 500). */
#define STORE_ERR_CODE "StoreError"

/* Newest schema version this binary knows (store_open migrates up to it). */
int store_schema_latest(void);

/* Collections of JSON documents keyed by text. Keys are chosen by callers:
 * functions by name, configs by function name, triggers "fn/trigger". */
#define STORE_FUNCTIONS    "functions"
#define STORE_PROVISION    "provision_configs"
#define STORE_ASYNC_CONFIG "async_invoke_configs"
#define STORE_CONCURRENCY  "concurrency_configs"
#define STORE_TRIGGERS     "triggers"

/* Async tasks (src/async), keyed "fn/taskId": the task, and its payload apart. */
#define STORE_TASKS         "async_tasks"
#define STORE_TASK_PAYLOADS "async_task_payloads"

struct store_opts {
    const char *path; /* the SQLite file; created with its schema if missing */
    uv_loop_t *loop;  /* where completion callbacks run */
};

/* Opens (creating and migrating as needed). Fails with a clear message if
 * the file is not a Frost store, is newer than this binary, or is locked by
 * another open store (in this or another process). The directory must exist.
 * A refused file is not modified (only <path>.lock appears next to it).
 * Blocks (disk I/O): call before serving. */
FROST_WUR int store_open(const struct store_opts *o, struct store **out, struct frost_err *err);

/* Finishes every queued write (their callbacks run, on the calling thread,
 * before this returns; a callback's store_submit gets -1), stops the writer
 * thread, closes the database and releases the lock. Blocks until the queue is
 * on disk: call at shutdown, on the loop thread, before any uv_walk that
 * closes the remaining handles.
 *
 * The store embeds a uv_async_t, which it uv_close()s here; its memory is
 * freed in the close callback, so the loop must run once more afterwards
 * (the usual uv_walk + uv_run before uv_loop_close does it; the walk skips
 * the already-closing handle) or the store leaks. s must not be used after
 * this call. NULL is fine. */
void store_close(struct store *s);

/* Schema version of the opened database. */
int store_schema_version(const struct store *s);

/* Calls each(ud, key, json) for every document of a collection, in key
 * order (bytewise). The strings are valid only during the call. each returns
 * 0 to go on, < 0 to stop: that value is returned, and err is filled with a
 * generic "stopped at key" message only if each left err->status at 0 (so
 * each may fill the same err through ud). Sees only committed writes.
 * Synchronous: start-up only. */
FROST_WUR int store_load(struct store *s, const char *collection,
                         int (*each)(void *ud, const char *key, const char *json), void *ud,
                         struct frost_err *err);

/* ---- writes: build a batch, submit it; all of it commits or none does.
 * Ops apply in the order they were added. The batch functions return -1 with
 * errno ENOMEM, EINVAL (a NULL string or an empty collection) or E2BIG (more
 * than STORE_BATCH_MAX_OPS ops); the batch is unchanged then and may still be
 * submitted or freed. A put whose json is not valid JSON fails its batch at
 * commit time (the database refuses it). */

#define STORE_BATCH_MAX_OPS 65536

/* NULL when out of memory. */
struct store_batch *store_batch_new(void);
/* Inserts or replaces. Copies collection, key and json. */
FROST_WUR int store_batch_put(struct store_batch *b, const char *collection, const char *key,
                              const char *json);
FROST_WUR int store_batch_del(struct store_batch *b, const char *collection, const char *key);
/* Deletes every document of the collection whose key starts with prefix. */
FROST_WUR int store_batch_del_prefix(struct store_batch *b, const char *collection,
                                     const char *prefix);
void store_batch_free(struct store_batch *b);

/* status 0 = durable (msg NULL); < 0 = failed and rolled back, msg says why
 * (valid only during the call). */
typedef void (*store_done_fn)(void *ud, int status, const char *msg);

/* Hands the batch to the writer thread (the store owns it from here, also on
 * error). done (may be NULL) runs on the loop thread after the commit is
 * durable; callbacks run in submission order. Batches queued together commit
 * in one transaction, each inside its own savepoint, so a failing batch rolls
 * back alone. While writes are in flight the store keeps the loop alive
 * (its async handle is referenced), otherwise it does not. Returns -1 only
 * when the store is closing or b is NULL (done does not run then). */
FROST_WUR int store_submit(struct store *s, struct store_batch *b, store_done_fn done, void *ud);

struct store_stats {
    uint64_t commits;  /* transactions */
    uint64_t batches;  /* batches committed (>= commits: group commit) */
    uint64_t failures; /* batches that failed and were rolled back */
    uint64_t queued;   /* batches waiting now */
};
/* Any thread. */
void store_stats(struct store *s, struct store_stats *out);

/* ---- testing: while held, the writer leaves submitted batches queued, so a
 * test can build one group deterministically. Releasing wakes the writer. */
void store_writer_hold(struct store *s, int hold);

#endif
