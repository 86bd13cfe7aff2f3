/* Instance logs: what an instance writes to stdout and stderr, kept in
 * size-capped rotating files under the data dir (which functions cannot
 * read) and, for `x-fc-log-type: Tail`, the last bytes in memory.
 *
 * Files: <dir>/<name>.log, rotated to <name>.log.1 … .log.<keep> when the
 * current file would pass max_file_bytes. Writes happen on libuv's thread
 * pool, in order; the loop never waits on disk. When the disk falls behind by
 * more than max_pending bytes, further bytes are dropped (counted, and a line
 * "[frost: N bytes of log dropped]" is written once the queue drains) rather
 * than growing memory.
 *
 * Loop thread only (except rt_log_read, which is blocking and thread-safe). */
#ifndef FROST_RUNTIME_LOGS_H
#define FROST_RUNTIME_LOGS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"

#define RT_LOG_TAIL_BYTES 4096

struct rt_log;

struct rt_log_opts {
    uv_loop_t *loop;
    const char *dir;         /* created 0700 if missing */
    const char *name;        /* file stem, e.g. the instance id */
    uint64_t max_file_bytes; /* 0 = 10 MiB */
    unsigned keep_files;     /* rotated files kept; 0 = 3 */
    size_t max_pending;      /* 0 = 1 MiB */
};

FROST_WUR int rt_log_open(const struct rt_log_opts *o, struct rt_log **out, struct frost_err *err);

/* Appends (copies) data. Never blocks, never fails: see dropping above. */
void rt_log_write(struct rt_log *l, const char *data, size_t len);

/* Copies the last min(max, RT_LOG_TAIL_BYTES) bytes written (from memory,
 * including bytes not yet on disk) into out; returns the count. */
size_t rt_log_tail(const struct rt_log *l, char *out, size_t max);

struct rt_log_stats {
    uint64_t bytes_written; /* to disk */
    uint64_t bytes_dropped;
    uint64_t rotations;
};
void rt_log_stats(const struct rt_log *l, struct rt_log_stats *out);

/* Flushes what is queued, closes the file, frees l, then calls done (which
 * may be NULL) on the loop. */
void rt_log_close(struct rt_log *l, void (*done)(void *ud), void *ud);

/* Blocking: the last `lines` lines (0 = everything kept) of <dir>/<name>.log
 * and its rotations, oldest first, appended to out (capped by out's limit;
 * the oldest lines are cut first). */
FROST_WUR int rt_log_read(const char *dir, const char *name, size_t lines, struct buf *out,
                          struct frost_err *err);

#endif
