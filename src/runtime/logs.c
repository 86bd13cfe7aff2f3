/* Instance logs (see logs.h).
 *
 * One loop-side state machine per log: a FIFO of copied chunks and at most
 * one request in flight (op), which is what keeps bytes in order. Writes go
 * out as uv_fs_write; opening (mkdir -p, open, fstat) and rotating (close,
 * unlink, renames, open) are multi-step metadata sequences, so each runs as
 * one uv_queue_work job on the same thread pool rather than a chain of
 * uv_fs requests. The embedded timer retries a failed open and, when closed,
 * defers the final free and the done callback to the loop. */
#include "runtime/logs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define DEFAULT_MAX_FILE    ((uint64_t)10 << 20)
#define DEFAULT_KEEP        3u
#define DEFAULT_MAX_PENDING ((size_t)1 << 20)
/* Small writes are merged into the tail chunk up to this size, so a burst of
 * short lines costs one thread-pool round trip, not one per line. */
#define CHUNK_MAX ((size_t)64 << 10)
#define CHUNK_MIN ((size_t)4 << 10)
/* One uv_fs_write never asks for more than this (uv_buf_t lengths are
 * unsigned int); the rest of the chunk goes in the next request. */
#define WRITE_MAX ((size_t)1 << 30)
/* While the file cannot be opened, queued bytes wait (up to max_pending) and
 * the open is retried this often. */
#define REOPEN_DELAY_MS 1000
/* rt_log_read looks at rotations .log.1 … .log.READ_MAX_ROTATIONS; the config
 * caps keep far below this. */
#define READ_MAX_ROTATIONS 1024
#define READ_BLOCK         ((size_t)64 << 10)
/* Room for ".log" plus "." and a rotation number. */
#define SUFFIX_ROOM 16

struct chunk {
    struct chunk *next;
    size_t len; /* bytes held */
    size_t off; /* bytes already written */
    size_t cap;
    uint64_t marker_n; /* nonzero: a drop marker reporting that many bytes */
    char data[];
};

enum op { OP_NONE, OP_OPEN, OP_WRITE, OP_ROTATE, OP_CLOSE };

struct rt_log {
    uv_loop_t *loop;
    char *dir;
    char *path; /* <dir>/<name>.log */
    uint64_t max_file;
    unsigned keep;
    size_t max_pending;
    size_t chunk_max;
    size_t chunk_min;

    /* The loop touches fd only while op == OP_NONE: an open or a rotation
     * running on the pool owns it until its after-work callback. */
    uv_file fd;
    uint64_t file_size;

    struct chunk *head, *tail;
    struct chunk **tail_link; /* the pointer that points at tail, for realloc */
    size_t pending;           /* queued and not yet written, in-flight bytes included */
    uint64_t gap;             /* bytes lost since the last drop marker was queued */
    char last_byte;           /* last byte queued, so a marker starts on its own line */

    enum op op; /* at most one request in flight keeps the bytes in order */
    uv_fs_t fs;
    uv_work_t work;
    /* Inputs and results of OP_OPEN / OP_ROTATE: written by the pool thread,
     * read by the after-work callback (libuv orders the two). */
    int w_fd;
    uint64_t w_size;
    int w_err; /* first failure, as a negative errno (libuv style) */
    const char *w_step;
    bool w_rotated;

    bool warned; /* a warning went out for the current failure streak */

    char ring[RT_LOG_TAIL_BYTES];
    uint64_t ring_total;

    struct rt_log_stats stats;

    bool closing;
    void (*done)(void *ud);
    void *done_ud;
    /* Retries a failed open; closing it is also how the final free and the
     * done callback are deferred to the loop. */
    uv_timer_t timer;
};

static void kick(struct rt_log *l);

/* ---- names and paths --------------------------------------------------- */

static int check_names(const char *dir, const char *name, struct frost_err *err)
{
    if (!dir || !*dir)
        return frost_err_set(err, 500, "InternalError", "instance log: empty directory");
    if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return frost_err_set(err, 500, "InternalError", "instance log: invalid name '%s'",
                             name ? name : "");
    if (strlen(dir) + 1 + strlen(name) + SUFFIX_ROOM >= PATH_MAX)
        return frost_err_set(err, 500, "InternalError", "instance log: path too long: %s/%s", dir,
                             name);
    return 0;
}

/* <path>.<k>. check_names left room for the suffix; should it not fit
 * anyway, the empty path makes the operation fail with ENOENT. */
static void rotation_path(char *out, const char *path, unsigned k)
{
    int n = snprintf(out, PATH_MAX, "%s.%u", path, k);
    if (n < 0 || n >= PATH_MAX)
        out[0] = 0;
}

/* ---- pool side: runs on libuv's thread pool ----------------------------- */

static void note(struct rt_log *l, int errnum, const char *step)
{
    if (!l->w_err) {
        l->w_err = -errnum;
        l->w_step = step;
    }
}

/* mkdir -p with 0700 for every directory it creates: the log tree sits in the
 * data dir, which functions must not read. Existing directories are kept as
 * they are. */
static int mkdir_p(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -1;
    char p[PATH_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof(p)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(p, dir, n + 1);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void open_current(struct rt_log *l, int extra_flags)
{
    int fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | extra_flags, 0600);
    if (fd < 0) {
        note(l, errno, "open");
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        note(l, errno, "fstat");
        close(fd);
        return;
    }
    l->w_fd = fd;
    /* An instance restarted under the same name appends to its old file. */
    l->w_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

static void open_work(uv_work_t *w)
{
    struct rt_log *l = container_of(w, struct rt_log, work);
    if (mkdir_p(l->dir) < 0) {
        note(l, errno, "mkdir");
        return;
    }
    open_current(l, 0);
}

static void rotate_work(uv_work_t *w)
{
    struct rt_log *l = container_of(w, struct rt_log, work);
    char a[PATH_MAX], b[PATH_MAX];

    if (close(l->w_fd) < 0 && errno != EINTR)
        note(l, errno, "close");
    l->w_fd = -1;

    /* rename() would replace the oldest anyway; unlinking it first also
     * clears a stray one left behind by a crash mid-rotation. */
    rotation_path(b, l->path, l->keep);
    if (unlink(b) < 0 && errno != ENOENT)
        note(l, errno, "unlink");
    for (unsigned k = l->keep - 1; k >= 1; k--) {
        rotation_path(a, l->path, k);
        rotation_path(b, l->path, k + 1);
        if (rename(a, b) < 0 && errno != ENOENT)
            note(l, errno, "rename");
    }
    rotation_path(b, l->path, 1);
    if (rename(l->path, b) == 0 || errno == ENOENT)
        l->w_rotated = true;
    else
        note(l, errno, "rename");
    /* If the current file could not be moved aside, start it over: the size
     * cap protects the disk, and the warning says what was lost. */
    open_current(l, l->w_rotated ? 0 : O_TRUNC);
}

/* ---- loop side ---------------------------------------------------------- */

static void warn_once(struct rt_log *l, const char *event, const char *step, int uverr)
{
    if (l->warned)
        return;
    l->warned = true;
    char qp[PATH_MAX + 8], qe[128];
    log_warn(event, "path=%s step=%s error=%s dropped_bytes=%" PRIu64,
             log_quote(l->path, qp, sizeof(qp)), step,
             log_quote(uv_strerror(uverr), qe, sizeof(qe)), l->stats.bytes_dropped);
}

static void ring_put(struct rt_log *l, const char *data, size_t len)
{
    if (len > RT_LOG_TAIL_BYTES) {
        l->ring_total += len - RT_LOG_TAIL_BYTES;
        data += len - RT_LOG_TAIL_BYTES;
        len = RT_LOG_TAIL_BYTES;
    }
    size_t pos = (size_t)(l->ring_total % RT_LOG_TAIL_BYTES);
    size_t first = RT_LOG_TAIL_BYTES - pos < len ? RT_LOG_TAIL_BYTES - pos : len;
    memcpy(l->ring + pos, data, first);
    memcpy(l->ring, data + first, len - first);
    l->ring_total += len;
}

static void lose(struct rt_log *l, uint64_t n)
{
    l->stats.bytes_dropped += n;
    l->gap += n;
}

/* Queues a copy of data. Markers get a chunk of their own, so a failed
 * marker write can be told apart from lost function output. */
static int enqueue(struct rt_log *l, const char *data, size_t n, uint64_t marker_n)
{
    struct chunk *t = l->tail;
    bool in_flight = t && t == l->head && l->op == OP_WRITE;
    if (!marker_n && t && !t->marker_n && !in_flight && t->len <= l->chunk_max &&
        n <= l->chunk_max - t->len) {
        if (n > t->cap - t->len) {
            size_t ncap = t->cap * 2;
            if (ncap < t->len + n)
                ncap = t->len + n;
            if (ncap > l->chunk_max)
                ncap = l->chunk_max;
            struct chunk *nt = realloc(t, sizeof(*nt) + ncap);
            if (!nt)
                return -1;
            nt->cap = ncap;
            *l->tail_link = nt;
            l->tail = t = nt;
        }
        memcpy(t->data + t->len, data, n);
        t->len += n;
    } else {
        size_t cap = marker_n || n >= l->chunk_min ? n : l->chunk_min;
        if (cap > SIZE_MAX - sizeof(struct chunk))
            return -1;
        struct chunk *c = malloc(sizeof(*c) + cap);
        if (!c)
            return -1;
        c->next = NULL;
        c->len = n;
        c->off = 0;
        c->cap = cap;
        c->marker_n = marker_n;
        memcpy(c->data, data, n);
        if (t) {
            t->next = c;
            l->tail_link = &t->next;
        } else {
            l->head = c;
            l->tail_link = &l->head;
        }
        l->tail = c;
    }
    l->pending += n;
    l->last_byte = data[n - 1];
    return 0;
}

/* Removes the head chunk; when its bytes did not all reach the disk they
 * count as lost (a marker's own bytes do not: its report is restored). */
static void pop_head(struct rt_log *l)
{
    struct chunk *c = l->head;
    size_t left = c->len - c->off;
    if (left) {
        l->pending -= left;
        if (c->marker_n)
            l->gap += c->marker_n;
        else
            lose(l, left);
    }
    if (l->tail_link == &c->next)
        l->tail_link = &l->head;
    l->head = c->next;
    if (!l->head) {
        l->tail = NULL;
        l->tail_link = &l->head;
    }
    free(c);
}

static void drop_queue(struct rt_log *l)
{
    while (l->head)
        pop_head(l);
}

/* Reports a gap once the queue has drained to half of max_pending, so the
 * marker sits where the bytes went missing and dropping has hysteresis.
 * Called on rt_log_write and after successful writes only: calling it after
 * a failed write could spin on a full disk, re-queuing a marker that fails. */
static void maybe_mark(struct rt_log *l)
{
    if (!l->gap || l->pending > l->max_pending / 2)
        return;
    char m[96];
    int n = snprintf(m, sizeof(m), "%s[frost: %" PRIu64 " bytes of log dropped]\n",
                     l->last_byte == '\n' ? "" : "\n", l->gap);
    if (n <= 0 || (size_t)n >= sizeof(m) || enqueue(l, m, (size_t)n, l->gap) < 0)
        return;
    l->gap = 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct rt_log *l = container_of((uv_timer_t *)h, struct rt_log, timer);
    void (*done)(void *) = l->done;
    void *ud = l->done_ud;
    free_and_null(&l->dir);
    free_and_null(&l->path);
    free(l);
    if (done)
        done(ud);
}

static void finish(struct rt_log *l)
{
    uv_close((uv_handle_t *)&l->timer, on_timer_closed);
}

static void on_fs_closed(uv_fs_t *req)
{
    struct rt_log *l = container_of(req, struct rt_log, fs);
    int r = (int)req->result;
    uv_fs_req_cleanup(req);
    l->op = OP_NONE;
    l->fd = -1;
    if (r < 0)
        warn_once(l, "instance_log_write_failed", "close", r);
    finish(l);
}

static void on_retry(uv_timer_t *t)
{
    kick(container_of(t, struct rt_log, timer));
}

static void on_work_done(uv_work_t *w, int status)
{
    struct rt_log *l = container_of(w, struct rt_log, work);
    bool rotating = l->op == OP_ROTATE;
    l->op = OP_NONE;
    if (status < 0) {
        /* Never ran (cancelled): nothing was closed or opened. */
        l->w_err = status;
        l->w_step = "queue";
    } else {
        l->fd = l->w_fd;
        l->file_size = l->w_size;
        if (rotating && l->w_rotated)
            l->stats.rotations++;
    }
    if (l->w_err)
        warn_once(l, rotating ? "instance_log_rotate_failed" : "instance_log_open_failed",
                  l->w_step, l->w_err);
    if (l->fd < 0 && !l->closing)
        uv_timer_start(&l->timer, on_retry, REOPEN_DELAY_MS, 0);
    kick(l);
}

/* Returns -1 when the request could not be queued (only on misuse of
 * libuv); the caller then makes progress some other way. */
static int start_work(struct rt_log *l, enum op op)
{
    l->w_err = 0;
    l->w_step = NULL;
    l->w_rotated = false;
    l->w_fd = op == OP_ROTATE ? l->fd : -1;
    l->w_size = 0;
    l->op = op;
    int r =
        uv_queue_work(l->loop, &l->work, op == OP_ROTATE ? rotate_work : open_work, on_work_done);
    if (r < 0) {
        l->op = OP_NONE;
        warn_once(l, op == OP_ROTATE ? "instance_log_rotate_failed" : "instance_log_open_failed",
                  "queue", r);
        if (op == OP_OPEN && !l->closing)
            uv_timer_start(&l->timer, on_retry, REOPEN_DELAY_MS, 0);
        return -1;
    }
    return 0;
}

static void on_write(uv_fs_t *req)
{
    struct rt_log *l = container_of(req, struct rt_log, fs);
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    l->op = OP_NONE;
    struct chunk *c = l->head;
    if (r <= 0) {
        warn_once(l, "instance_log_write_failed", "write", r < 0 ? (int)r : UV_EIO);
        pop_head(l);
        kick(l);
        return;
    }
    c->off += (size_t)r;
    l->pending -= (size_t)r;
    l->file_size += (uint64_t)r;
    l->stats.bytes_written += (uint64_t)r;
    l->warned = false;
    if (c->off == c->len)
        pop_head(l);
    maybe_mark(l);
    kick(l);
}

/* Starts the next request if none is in flight. */
static void kick(struct rt_log *l)
{
    while (l->op == OP_NONE) {
        if (l->fd < 0) {
            if (l->closing) {
                drop_queue(l);
                finish(l);
            } else if (l->head && !uv_is_active((uv_handle_t *)&l->timer)) {
                (void)start_work(l, OP_OPEN);
            }
            return;
        }
        if (!l->head) {
            if (l->closing) {
                l->op = OP_CLOSE;
                if (uv_fs_close(l->loop, &l->fs, l->fd, on_fs_closed) < 0) {
                    uv_fs_req_cleanup(&l->fs);
                    l->op = OP_NONE;
                    l->fd = -1;
                    finish(l);
                }
            }
            return;
        }
        struct chunk *c = l->head;
        size_t n = c->len - c->off;
        if (l->file_size > 0 && l->file_size + n > l->max_file) {
            if (start_work(l, OP_ROTATE) == 0)
                return;
            pop_head(l);
            continue;
        }
        /* Only an empty file gets here with more than fits: split the chunk
         * so no file passes max_file. */
        if (n > l->max_file)
            n = (size_t)l->max_file;
        if (n > WRITE_MAX)
            n = WRITE_MAX;
        uv_buf_t b = uv_buf_init(c->data + c->off, (unsigned)n);
        l->op = OP_WRITE;
        int r = uv_fs_write(l->loop, &l->fs, l->fd, &b, 1, -1, on_write);
        if (r == 0)
            return;
        uv_fs_req_cleanup(&l->fs);
        l->op = OP_NONE;
        warn_once(l, "instance_log_write_failed", "write", r);
        pop_head(l);
    }
}

/* ---- public API --------------------------------------------------------- */

int rt_log_open(const struct rt_log_opts *o, struct rt_log **out, struct frost_err *err)
{
    *out = NULL;
    if (!o || !o->loop)
        return frost_err_set(err, 500, "InternalError", "instance log: no loop");
    if (check_names(o->dir, o->name, err) < 0)
        return -1;
    struct rt_log *l = calloc(1, sizeof(*l));
    if (!l)
        return frost_err_errno(err, ENOMEM, "instance log %s", o->name);
    l->loop = o->loop;
    l->dir = strdup(o->dir);
    size_t plen = strlen(o->dir) + strlen(o->name) + 6;
    l->path = malloc(plen);
    if (!l->dir || !l->path) {
        free_and_null(&l->dir);
        free_and_null(&l->path);
        free(l);
        return frost_err_errno(err, ENOMEM, "instance log %s", o->name);
    }
    snprintf(l->path, plen, "%s/%s.log", o->dir, o->name);
    l->max_file = o->max_file_bytes ? o->max_file_bytes : DEFAULT_MAX_FILE;
    l->keep = o->keep_files ? o->keep_files : DEFAULT_KEEP;
    l->max_pending = o->max_pending ? o->max_pending : DEFAULT_MAX_PENDING;
    l->chunk_max = l->max_file < CHUNK_MAX ? (size_t)l->max_file : CHUNK_MAX;
    l->chunk_min = l->chunk_max < CHUNK_MIN ? l->chunk_max : CHUNK_MIN;
    l->fd = -1;
    l->tail_link = &l->head;
    l->last_byte = '\n';
    uv_timer_init(l->loop, &l->timer);
    /* Open at once, so the file exists (and rt_log_read finds it) even
     * before the instance prints anything. */
    (void)start_work(l, OP_OPEN);
    *out = l;
    return 0;
}

void rt_log_write(struct rt_log *l, const char *data, size_t len)
{
    if (len == 0 || l->closing)
        return;
    ring_put(l, data, len);
    maybe_mark(l);
    size_t take = 0;
    /* While a gap is unreported everything is dropped, so the marker lands
     * exactly where the bytes went missing. */
    if (!l->gap) {
        size_t room = l->pending < l->max_pending ? l->max_pending - l->pending : 0;
        take = len < room ? len : room;
        if (take && enqueue(l, data, take, 0) < 0)
            take = 0;
    }
    if (take < len)
        lose(l, len - take);
    kick(l);
}

size_t rt_log_tail(const struct rt_log *l, char *out, size_t max)
{
    size_t have = l->ring_total < RT_LOG_TAIL_BYTES ? (size_t)l->ring_total : RT_LOG_TAIL_BYTES;
    size_t n = max < have ? max : have;
    if (n == 0)
        return 0;
    size_t start = (size_t)((l->ring_total - n) % RT_LOG_TAIL_BYTES);
    size_t first = RT_LOG_TAIL_BYTES - start < n ? RT_LOG_TAIL_BYTES - start : n;
    memcpy(out, l->ring + start, first);
    memcpy(out + first, l->ring, n - first);
    return n;
}

void rt_log_stats(const struct rt_log *l, struct rt_log_stats *out)
{
    *out = l->stats;
}

void rt_log_close(struct rt_log *l, void (*done)(void *ud), void *ud)
{
    if (l->closing)
        return;
    l->closing = true;
    l->done = done;
    l->done_ud = ud;
    uv_timer_stop(&l->timer);
    kick(l);
}

/* ---- rt_log_read (blocking, any thread) -------------------------------- */

struct rfile {
    int fd;
    uint64_t size;
    uint64_t base; /* offset of its first byte in the concatenation */
};

struct rset {
    struct rfile *f;
    size_t n;
};

static void rset_free(struct rset *s)
{
    for (size_t i = 0; i < s->n; i++)
        close(s->f[i].fd);
    free_and_null(&s->f);
    s->n = 0;
}

/* Opens path if it is a regular file; 0 with nothing added when it is
 * missing (it may have been rotated away meanwhile) or is not a file. */
static int rset_add(struct rset *s, const char *path)
{
    /* O_NONBLOCK: never hang on a FIFO someone put in place of a log. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    struct rfile *f = &s->f[s->n++];
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    f->base = s->n > 1 ? f[-1].base + f[-1].size : 0;
    return 0;
}

/* Reads up to len bytes at offset off of the concatenation; returns the count
 * (less than len when a file shrank meanwhile), -1 with errno on error. */
static ssize_t rset_pread(const struct rset *s, uint64_t off, char *dst, size_t len)
{
    size_t got = 0;
    for (size_t i = 0; i < s->n && got < len; i++) {
        const struct rfile *f = &s->f[i];
        if (off + got >= f->base + f->size)
            continue;
        uint64_t at = off + got - f->base;
        size_t want = len - got;
        if (want > f->size - at)
            want = (size_t)(f->size - at);
        size_t done = 0;
        while (done < want) {
            ssize_t r = pread(f->fd, dst + got + done, want - done, (off_t)(at + done));
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return -1;
            if (r == 0)
                break;
            done += (size_t)r;
        }
        if (done < want)
            return (ssize_t)(got + done);
        got += done;
    }
    return (ssize_t)got;
}

/* Where the output starts in the concatenation of `total` bytes: after the
 * newline that begins the last `lines` lines (a last line without its '\n'
 * counts), no earlier than total - budget, and on a line boundary when the
 * budget cuts (the oldest lines go first). */
static int find_start(const struct rset *s, uint64_t total, size_t lines, uint64_t budget,
                      uint64_t *from)
{
    uint64_t lo = total > budget ? total - budget : 0;
    *from = lo;
    if (lines == 0 && lo == 0)
        return 0;
    uint64_t want = lines ? lines : UINT64_MAX, count = 0, best = 0;
    bool found = false;
    uint64_t stop = lo ? lo - 1 : 0; /* a '\n' just before the window starts a line in it */
    uint64_t end = total - 1;        /* a final '\n' ends the last line, it starts none */
    _cleanup_free_ char *blk = malloc(READ_BLOCK);
    if (!blk)
        return -1;
    while (end > stop && count < want) {
        uint64_t start = end - stop > READ_BLOCK ? end - READ_BLOCK : stop;
        size_t n = (size_t)(end - start);
        ssize_t r = rset_pread(s, start, blk, n);
        if (r < 0)
            return -1;
        if ((size_t)r < n)
            memset(blk + r, 0, n - (size_t)r);
        for (size_t i = n; i-- > 0;) {
            if (blk[i] != '\n')
                continue;
            best = start + i + 1;
            found = true;
            if (++count == want)
                break;
        }
        end = start;
    }
    if (count == want)
        *from = best;
    else if (lo == 0)
        *from = 0;
    else if (found)
        *from = best;
    return 0;
}

int rt_log_read(const char *dir, const char *name, size_t lines, struct buf *out,
                struct frost_err *err)
{
    if (check_names(dir, name, err) < 0)
        return -1;
    char path[PATH_MAX], rpath[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s.log", dir, name);

    /* Rotations are found by listing, not by probing 1..keep: the reader
     * does not know keep, and a rotation in progress leaves gaps. */
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return frost_err_set(err, 404, "LogNotFound", "no logs for %s", name);
        return frost_err_errno(err, errno, "instance log: listing %s", dir);
    }
    _cleanup_free_ bool *present = calloc(READ_MAX_ROTATIONS + 1, sizeof(bool));
    if (!present) {
        closedir(d);
        return frost_err_errno(err, ENOMEM, "instance log %s", name);
    }
    size_t nl = strlen(name), nfiles = 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (strncmp(s, name, nl) != 0 || strncmp(s + nl, ".log.", 5) != 0)
            continue;
        s += nl + 5;
        unsigned long k = 0;
        const char *p = s;
        for (; *p >= '0' && *p <= '9' && k <= READ_MAX_ROTATIONS; p++)
            k = k * 10 + (unsigned long)(*p - '0');
        if (p == s || *p || k == 0 || k > READ_MAX_ROTATIONS || present[k])
            continue;
        present[k] = true;
        nfiles++;
    }
    closedir(d);

    struct rset s = {calloc(nfiles, sizeof(struct rfile)), 0};
    if (!s.f)
        return frost_err_errno(err, ENOMEM, "instance log %s", name);
    int rc = 0;
    for (unsigned k = READ_MAX_ROTATIONS; k >= 1 && rc == 0; k--) {
        if (!present[k])
            continue;
        rotation_path(rpath, path, k);
        if (rset_add(&s, rpath) < 0)
            rc = frost_err_errno(err, errno, "instance log: opening %s", rpath);
    }
    if (rc == 0 && rset_add(&s, path) < 0)
        rc = frost_err_errno(err, errno, "instance log: opening %s", path);
    if (rc == 0 && s.n == 0)
        rc = frost_err_set(err, 404, "LogNotFound", "no logs for %s", name);
    if (rc < 0) {
        rset_free(&s);
        return -1;
    }

    uint64_t total = s.f[s.n - 1].base + s.f[s.n - 1].size;
    size_t budget = SIZE_MAX;
    if (out->limit)
        budget = out->len < out->limit ? out->limit - out->len : 0;
    if (total == 0 || budget == 0) {
        rset_free(&s);
        return 0;
    }
    uint64_t from;
    if (find_start(&s, total, lines, budget, &from) < 0) {
        rc = frost_err_errno(err, errno, "instance log: reading %s", path);
        rset_free(&s);
        return rc;
    }
    size_t n = (size_t)(total - from);
    if (buf_reserve(out, n) < 0) {
        rc = frost_err_errno(err, errno, "instance log: reading %s", path);
        rset_free(&s);
        return rc;
    }
    ssize_t r = rset_pread(&s, from, out->data + out->len, n);
    if (r < 0) {
        rc = frost_err_errno(err, errno, "instance log: reading %s", path);
        rset_free(&s);
        return rc;
    }
    out->len += (size_t)r;
    out->data[out->len] = 0;
    rset_free(&s);
    return 0;
}
