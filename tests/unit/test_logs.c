/* Unit tests for src/runtime/logs.c.
 *
 * Every test drives a real uv loop and a scratch directory. "Flushing" means
 * running the loop until nothing is in flight (UV_RUN_DEFAULT returns once no
 * request is pending: an open log with an empty queue keeps nothing active),
 * so no test sleeps. Failures are provoked with a log symlinked to /dev/full
 * (every write fails with ENOSPC) and a directory under a regular file (the
 * open fails); warnings go to a scratch file so tests can count them. */
#define _GNU_SOURCE /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "runtime/logs.h"

struct fx {
    uv_loop_t loop;
    char tmp[PATH_MAX];
    char dir[PATH_MAX]; /* <tmp>/logs/fn: the log dir, created by rt_log_open */
};

/* ---- helpers ------------------------------------------------------------- */

/* snprintf into a PATH_MAX buffer that must not truncate. */
static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PATH_MAX, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && n < PATH_MAX);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    pathf(f->tmp, "/tmp/frost-test-logs-XXXXXX");
    assert_non_null(mkdtemp(f->tmp));
    pathf(f->dir, "%s/logs/fn", f->tmp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    /* EBUSY here means a test left a log open (its timer handle). */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    log_close();
    nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void flush(struct fx *f)
{
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static struct rt_log *open_log(struct fx *f, const char *name, uint64_t max_file, unsigned keep,
                               size_t max_pending)
{
    struct rt_log_opts o = {
        .loop = &f->loop,
        .dir = f->dir,
        .name = name,
        .max_file_bytes = max_file,
        .keep_files = keep,
        .max_pending = max_pending,
    };
    struct rt_log *l = NULL;
    struct frost_err err = {0};
    int rc = rt_log_open(&o, &l, &err);
    if (rc < 0)
        fail_msg("rt_log_open: %s", err.msg);
    assert_non_null(l);
    return l;
}

static void count_done(void *ud)
{
    (*(int *)ud)++;
}

static void close_log(struct fx *f, struct rt_log *l)
{
    int done = 0;
    rt_log_close(l, count_done, &done);
    flush(f);
    assert_int_equal(done, 1);
}

static void fpath(char *out, const struct fx *f, const char *name, int k)
{
    if (k > 0)
        pathf(out, "%s/%s.log.%d", f->dir, name, k);
    else
        pathf(out, "%s/%s.log", f->dir, name);
}

/* Appends the file's content to b; false if it does not exist. */
static bool slurp(const char *path, struct buf *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        assert_int_equal(errno, ENOENT);
        return false;
    }
    char tmp[8192];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        assert_int_equal(buf_append(b, tmp, (size_t)n), 0);
    assert_true(n == 0);
    close(fd);
    return true;
}

static void append(struct buf *b, const char *s, size_t n)
{
    assert_int_equal(buf_append(b, s, n), 0);
}

/* Writes s to the log and records it in the expected stream. */
static void put(struct rt_log *l, struct buf *want, const char *s, size_t n)
{
    rt_log_write(l, s, n);
    append(want, s, n);
}

static void putf(struct rt_log *l, struct buf *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void putf(struct rt_log *l, struct buf *want, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(line));
    put(l, want, line, (size_t)n);
}

static void assert_bytes_equal(const char *got, size_t got_len, const char *want, size_t want_len)
{
    assert_int_equal(got_len, want_len);
    if (want_len)
        assert_memory_equal(got, want, want_len);
}

static void assert_suffix(const struct buf *whole, const struct buf *part)
{
    assert_true(part->len <= whole->len);
    if (part->len)
        assert_memory_equal(whole->data + whole->len - part->len, part->data, part->len);
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Occurrences of needle in the file at path. */
static int count_in_file(const char *path, const char *needle)
{
    struct buf b = BUF_INIT(0);
    int n = 0;
    if (slurp(path, &b) && b.data)
        for (const char *p = b.data; (p = strstr(p, needle)); p++)
            n++;
    buf_free(&b);
    return n;
}

/* Deterministic pseudo-random lengths, so failures reproduce. */
static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* ---- tests --------------------------------------------------------------- */

static void test_ordered_writes(void **state)
{
    struct fx *f = *state;
    struct rt_log *l = open_log(f, "inst-1", 0, 0, 0);
    struct buf want = BUF_INIT(0);
    unsigned seed = 1;
    char pad[200];
    memset(pad, 'x', sizeof(pad));
    for (int i = 0; i < 3000; i++) {
        putf(l, &want, "chunk %d %.*s\n", i, (int)(next_rand(&seed) % sizeof(pad)), pad);
        /* Let some writes complete mid-stream, so chunks are both merged
         * into the queue tail and appended behind one in flight. */
        if (i % 97 == 0)
            uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    flush(f);

    struct rt_log_stats st;
    rt_log_stats(l, &st);
    assert_int_equal(st.bytes_written, want.len);
    assert_int_equal(st.bytes_dropped, 0);
    assert_int_equal(st.rotations, 0);

    char p[PATH_MAX];
    fpath(p, f, "inst-1", 0);
    struct buf got = BUF_INIT(0);
    assert_true(slurp(p, &got));
    assert_bytes_equal(got.data, got.len, want.data, want.len);

    /* Logs live in the data dir, which functions must not read. */
    assert_int_equal(file_mode(p), 0600);
    assert_int_equal(file_mode(f->dir), 0700);
    char parent[PATH_MAX];
    pathf(parent, "%s/logs", f->tmp);
    assert_int_equal(file_mode(parent), 0700);

    close_log(f, l);
    buf_free(&got);
    buf_free(&want);
}

static void test_file_created_before_any_write(void **state)
{
    struct fx *f = *state;
    struct rt_log *l = open_log(f, "quiet", 0, 0, 0);
    flush(f);
    char p[PATH_MAX];
    fpath(p, f, "quiet", 0);
    assert_true(exists(p));
    assert_int_equal(file_size(p), 0);
    close_log(f, l);
}

static void test_rotation(void **state)
{
    struct fx *f = *state;
    const uint64_t max = 1024;
    struct rt_log *l = open_log(f, "rot", max, 2, 0);
    struct buf want = BUF_INIT(0);
    unsigned seed = 7;
    char pad[100];
    memset(pad, 'r', sizeof(pad));
    for (int i = 0; i < 400; i++) {
        putf(l, &want, "%05d %.*s\n", i, (int)(next_rand(&seed) % 80), pad);
        if (i == 200) {
            /* One write larger than a file: split across files. */
            char big[3000];
            memset(big, 'B', sizeof(big));
            big[sizeof(big) - 1] = '\n';
            put(l, &want, big, sizeof(big));
        }
        if (i % 13 == 0)
            uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    flush(f);

    struct rt_log_stats st;
    rt_log_stats(l, &st);
    assert_int_equal(st.bytes_written, want.len);
    assert_int_equal(st.bytes_dropped, 0);
    assert_true(st.rotations >= 10);

    /* .log, .log.1, .log.2 and nothing else. */
    char p[PATH_MAX];
    struct buf kept = BUF_INIT(0);
    for (int k = 2; k >= 0; k--) {
        fpath(p, f, "rot", k);
        assert_true(exists(p));
        assert_true((uint64_t)file_size(p) <= max);
        assert_true(file_size(p) > 0);
        assert_int_equal(file_mode(p), 0600);
        assert_true(slurp(p, &kept));
    }
    fpath(p, f, "rot", 3);
    assert_false(exists(p));
    int entries = 0;
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            entries++;
    closedir(d);
    assert_int_equal(entries, 3);

    /* What was kept is the newest part of what was written, in order. */
    assert_suffix(&want, &kept);
    struct buf cur = BUF_INIT(0);
    fpath(p, f, "rot", 0);
    assert_true(slurp(p, &cur));
    assert_suffix(&want, &cur);

    /* rt_log_read returns the same stream. */
    struct buf rd = BUF_INIT(0);
    struct frost_err err = {0};
    assert_int_equal(rt_log_read(f->dir, "rot", 0, &rd, &err), 0);
    assert_bytes_equal(rd.data, rd.len, kept.data, kept.len);

    close_log(f, l);
    buf_free(&rd);
    buf_free(&cur);
    buf_free(&kept);
    buf_free(&want);
}

static void test_reopen_appends(void **state)
{
    struct fx *f = *state;
    char p[PATH_MAX], p1[PATH_MAX];
    fpath(p, f, "again", 0);
    fpath(p1, f, "again", 1);

    struct rt_log *l = open_log(f, "again", 1024, 2, 0);
    struct buf first = BUF_INIT(0);
    for (int i = 0; i < 90; i++)
        putf(l, &first, "%09d\n", i); /* 900 bytes */
    close_log(f, l);

    /* Same name again: appended, and the size taken from the file counts
     * toward rotation. */
    l = open_log(f, "again", 1024, 2, 0);
    struct buf second = BUF_INIT(0);
    putf(l, &second, "second run\n");
    flush(f);
    struct buf got = BUF_INIT(0);
    assert_true(slurp(p, &got));
    struct buf both = BUF_INIT(0);
    append(&both, first.data, first.len);
    append(&both, second.data, second.len);
    assert_bytes_equal(got.data, got.len, both.data, both.len);
    assert_false(exists(p1));

    /* One write of 200 bytes: 911 + 200 > 1024. */
    struct buf third = BUF_INIT(0);
    for (int i = 0; i < 20; i++) {
        char line[16];
        snprintf(line, sizeof(line), "%09d\n", i);
        append(&third, line, 10);
    }
    rt_log_write(l, third.data, third.len);
    flush(f);
    struct rt_log_stats st;
    rt_log_stats(l, &st);
    assert_int_equal(st.rotations, 1);
    buf_reset(&got);
    assert_true(slurp(p1, &got));
    assert_bytes_equal(got.data, got.len, both.data, both.len);
    buf_reset(&got);
    assert_true(slurp(p, &got));
    assert_bytes_equal(got.data, got.len, third.data, third.len);

    close_log(f, l);
    buf_free(&got);
    buf_free(&both);
    buf_free(&first);
    buf_free(&second);
    buf_free(&third);
}

static void test_tail(void **state)
{
    struct fx *f = *state;
    struct rt_log *l = open_log(f, "tail", 0, 0, 0);
    char out[RT_LOG_TAIL_BYTES + 100];

    assert_int_equal(rt_log_tail(l, out, sizeof(out)), 0);

    struct buf want = BUF_INIT(0);
    put(l, &want, "abc", 3);
    assert_int_equal(rt_log_tail(l, out, sizeof(out)), 3);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(rt_log_tail(l, out, 2), 2);
    assert_memory_equal(out, "bc", 2);

    /* Before anything reaches the disk: the ring is fed at write time. */
    unsigned seed = 3;
    char piece[5000];
    for (size_t i = 0; i < sizeof(piece); i++)
        piece[i] = (char)('a' + i % 26);
    for (int i = 0; i < 40; i++)
        put(l, &want, piece + i, next_rand(&seed) % 300);
    put(l, &want, piece, sizeof(piece)); /* larger than the ring */
    for (int i = 0; i < 10; i++)
        put(l, &want, piece + i, next_rand(&seed) % 700);
    assert_true(want.len > RT_LOG_TAIL_BYTES);
    size_t n = rt_log_tail(l, out, sizeof(out));
    assert_int_equal(n, RT_LOG_TAIL_BYTES);
    assert_memory_equal(out, want.data + want.len - n, n);
    n = rt_log_tail(l, out, 100);
    assert_int_equal(n, 100);
    assert_memory_equal(out, want.data + want.len - 100, 100);

    flush(f);
    n = rt_log_tail(l, out, sizeof(out));
    assert_int_equal(n, RT_LOG_TAIL_BYTES);
    assert_memory_equal(out, want.data + want.len - n, n);
    close_log(f, l);
    buf_free(&want);
}

static void test_drop_and_marker(void **state)
{
    struct fx *f = *state;
    struct rt_log *l = open_log(f, "drop", 0, 0, 1024);
    struct buf want = BUF_INIT(0);
    char line[100];
    /* The loop does not run: the open is still in flight, so nothing can
     * drain and everything past max_pending is dropped. */
    for (int i = 0; i < 100; i++) {
        memset(line, 'a' + i % 26, sizeof(line));
        line[sizeof(line) - 1] = '\n';
        put(l, &want, line, sizeof(line));
    }
    struct rt_log_stats st;
    rt_log_stats(l, &st);
    assert_int_equal(st.bytes_written, 0);
    assert_int_equal(st.bytes_dropped, 10000 - 1024);

    /* The tail shows what the function printed, dropped bytes included. */
    char out[RT_LOG_TAIL_BYTES];
    assert_int_equal(rt_log_tail(l, out, sizeof(out)), RT_LOG_TAIL_BYTES);
    assert_memory_equal(out, want.data + want.len - RT_LOG_TAIL_BYTES, RT_LOG_TAIL_BYTES);

    flush(f);
    /* 1024 is mid-line, so the marker starts a line of its own. */
    struct buf expect = BUF_INIT(0);
    append(&expect, want.data, 1024);
    const char *marker = "\n[frost: 8976 bytes of log dropped]\n";
    append(&expect, marker, strlen(marker));
    char p[PATH_MAX];
    fpath(p, f, "drop", 0);
    struct buf got = BUF_INIT(0);
    assert_true(slurp(p, &got));
    assert_bytes_equal(got.data, got.len, expect.data, expect.len);

    /* Drained: writes are accepted again, after the marker. */
    rt_log_write(l, "after\n", 6);
    append(&expect, "after\n", 6);
    flush(f);
    buf_reset(&got);
    assert_true(slurp(p, &got));
    assert_bytes_equal(got.data, got.len, expect.data, expect.len);
    rt_log_stats(l, &st);
    assert_int_equal(st.bytes_dropped, 8976);
    assert_int_equal(st.bytes_written, expect.len);

    close_log(f, l);
    buf_free(&got);
    buf_free(&expect);
    buf_free(&want);
}

static void test_drop_keeps_dropping_until_half_drained(void **state)
{
    struct fx *f = *state;
    struct rt_log *l = open_log(f, "hyst", 0, 0, 1000);
    flush(f); /* open done: the next write goes out at once */
    char line[400];
    memset(line, 'h', sizeof(line));
    line[sizeof(line) - 1] = '\n';
    struct buf expect = BUF_INIT(0);
    rt_log_write(l, line, sizeof(line)); /* in flight */
    rt_log_write(l, line, sizeof(line)); /* queued: 800 pending */
    append(&expect, line, sizeof(line));
    append(&expect, line, sizeof(line));
    rt_log_write(l, "0123456789abcdefghijklmnopqrstuvwxyz\n", 37); /* 837: fits */
    append(&expect, "0123456789abcdefghijklmnopqrstuvwxyz\n", 37);
    rt_log_write(l, line, sizeof(line)); /* 163 fit, 237 dropped */
    append(&expect, line, 163);
    /* Would fit in what is left, but a gap is pending: dropped too, so the
     * marker stays where the bytes went missing. */
    rt_log_write(l, "x\n", 2);
    struct rt_log_stats st;
    rt_log_stats(l, &st);
    assert_int_equal(st.bytes_dropped, 239);
    flush(f);
    const char *marker = "\n[frost: 239 bytes of log dropped]\n";
    append(&expect, marker, strlen(marker));
    char p[PATH_MAX];
    fpath(p, f, "hyst", 0);
    struct buf got = BUF_INIT(0);
    assert_true(slurp(p, &got));
    assert_bytes_equal(got.data, got.len, expect.data, expect.len);
    close_log(f, l);
    buf_free(&got);
    buf_free(&expect);
}

static void test_close_flushes_pending(void **state)
{
    struct fx *f = *state;
    struct rt_log *l = open_log(f, "closing", 4096, 2, 0);
    struct buf want = BUF_INIT(0);
    for (int i = 0; i < 500; i++)
        putf(l, &want, "pending line %d\n", i);
    int done = 0;
    rt_log_close(l, count_done, &done);
    assert_int_equal(done, 0); /* never from inside rt_log_close */
    flush(f);
    assert_int_equal(done, 1);

    struct buf kept = BUF_INIT(0);
    char p[PATH_MAX];
    for (int k = 2; k >= 0; k--) {
        fpath(p, f, "closing", k);
        assert_true(slurp(p, &kept));
    }
    assert_suffix(&want, &kept);
    fpath(p, f, "closing", 0);
    struct buf cur = BUF_INIT(0);
    assert_true(slurp(p, &cur));
    assert_true(cur.len > 0);
    assert_suffix(&want, &cur);

    /* An idle log also reports through the loop; done may be NULL. */
    l = open_log(f, "idle", 0, 0, 0);
    flush(f);
    done = 0;
    rt_log_close(l, count_done, &done);
    assert_int_equal(done, 0);
    flush(f);
    assert_int_equal(done, 1);

    l = open_log(f, "nocb", 0, 0, 0);
    rt_log_write(l, "x\n", 2);
    rt_log_close(l, NULL, NULL);
    flush(f);
    fpath(p, f, "nocb", 0);
    assert_int_equal(file_size(p), 2);

    buf_free(&cur);
    buf_free(&kept);
    buf_free(&want);
}

static void read_lines(struct fx *f, const char *name, size_t lines, size_t limit,
                       const char *prefix, const char *expect)
{
    struct buf out = BUF_INIT(limit);
    if (prefix)
        append(&out, prefix, strlen(prefix));
    struct frost_err err = {0};
    assert_int_equal(rt_log_read(f->dir, name, lines, &out, &err), 0);
    assert_int_equal(err.status, 0);
    assert_bytes_equal(out.data ? out.data : "", out.len, expect, strlen(expect));
    buf_free(&out);
}

/* The last n lines of s (a final line without '\n' counts). */
static size_t last_lines_off(const struct buf *s, size_t n)
{
    size_t count = 0;
    for (size_t i = s->len - 1; i-- > 0;)
        if (s->data[i] == '\n' && ++count == n)
            return i + 1;
    return 0;
}

static void test_read(void **state)
{
    struct fx *f = *state;
    struct rt_log *l = open_log(f, "rd", 1024, 3, 0);
    struct buf want = BUF_INIT(0);
    for (int i = 0; i < 500; i++)
        putf(l, &want, "line %04d\n", i);
    close_log(f, l);

    struct buf kept = BUF_INIT(0);
    char p[PATH_MAX];
    for (int k = 3; k >= 0; k--) {
        fpath(p, f, "rd", k);
        assert_true(slurp(p, &kept));
    }
    assert_suffix(&want, &kept);
    assert_true(kept.len >= 3000);

    read_lines(f, "rd", 5, 0, NULL, "line 0495\nline 0496\nline 0497\nline 0498\nline 0499\n");
    read_lines(f, "rd", 1, 0, NULL, "line 0499\n");
    /* The out limit cuts the oldest lines. */
    read_lines(f, "rd", 0, 35, NULL, "line 0497\nline 0498\nline 0499\n");
    read_lines(f, "rd", 0, 36, "X", "Xline 0497\nline 0498\nline 0499\n");
    read_lines(f, "rd", 5, 25, NULL, "line 0498\nline 0499\n");
    /* A last line longer than the room left: its newest bytes. */
    read_lines(f, "rd", 0, 4, NULL, "499\n");
    /* No room at all: nothing appended, not an error. */
    read_lines(f, "rd", 3, 2, "ab", "ab");

    /* Across rotated files. */
    struct buf out = BUF_INIT(0);
    struct frost_err err = {0};
    assert_int_equal(rt_log_read(f->dir, "rd", 200, &out, &err), 0);
    size_t off = last_lines_off(&kept, 200);
    assert_bytes_equal(out.data, out.len, kept.data + off, kept.len - off);
    buf_reset(&out);
    assert_int_equal(rt_log_read(f->dir, "rd", 100000, &out, &err), 0);
    assert_bytes_equal(out.data, out.len, kept.data, kept.len);
    buf_reset(&out);
    assert_int_equal(rt_log_read(f->dir, "rd", 0, &out, &err), 0);
    assert_bytes_equal(out.data, out.len, kept.data, kept.len);

    /* A last line without its newline counts as a line. */
    l = open_log(f, "rd", 1024, 3, 0);
    rt_log_write(l, "partial", 7);
    close_log(f, l);
    read_lines(f, "rd", 1, 0, NULL, "partial");
    read_lines(f, "rd", 2, 0, NULL, "line 0499\npartial");

    /* Unknown names and directories. */
    buf_reset(&out);
    assert_int_equal(rt_log_read(f->dir, "nope", 10, &out, &err), -1);
    assert_int_equal(err.status, 404);
    assert_int_equal(out.len, 0);
    frost_err_clear(&err);
    char missing[PATH_MAX];
    pathf(missing, "%s/none", f->tmp);
    assert_int_equal(rt_log_read(missing, "rd", 10, &out, &err), -1);
    assert_int_equal(err.status, 404);
    frost_err_clear(&err);
    assert_int_equal(rt_log_read(f->dir, "../rd", 10, &out, &err), -1);
    assert_int_equal(err.status, 500);

    buf_free(&out);
    buf_free(&kept);
    buf_free(&want);
}

static void test_empty_log_read(void **state)
{
    struct fx *f = *state;
    struct rt_log *l = open_log(f, "empty", 0, 0, 0);
    close_log(f, l);
    read_lines(f, "empty", 10, 0, NULL, "");
}

static void test_write_errors_counted(void **state)
{
    struct fx *f = *state;
    char warn_path[PATH_MAX], p[PATH_MAX];
    pathf(warn_path, "%s/frost.log", f->tmp);
    assert_int_equal(log_open(warn_path), 0);

    /* Every write to /dev/full fails with ENOSPC. */
    char parent[PATH_MAX];
    pathf(parent, "%s/logs", f->tmp);
    assert_int_equal(mkdir(parent, 0700), 0);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    fpath(p, f, "full", 0);
    assert_int_equal(symlink("/dev/full", p), 0);

    struct rt_log *l = open_log(f, "full", 0, 0, 0);
    uint64_t total = 0;
    for (int i = 0; i < 50; i++) {
        rt_log_write(l, "a line of output\n", 17);
        total += 17;
        if (i % 10 == 0)
            uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    /* Returns only if failed writes do not re-queue markers forever. */
    flush(f);
    struct rt_log_stats st;
    rt_log_stats(l, &st);
    assert_int_equal(st.bytes_written, 0);
    assert_int_equal(st.bytes_dropped, total);
    rt_log_write(l, "more\n", 5);
    flush(f);
    rt_log_stats(l, &st);
    assert_int_equal(st.bytes_dropped, total + 5);
    close_log(f, l);
    log_flush();
    /* Once per failure streak, not once per write. */
    assert_int_equal(count_in_file(warn_path, "event=instance_log_write_failed"), 1);
}

static bool warned_open(const char *warn_path)
{
    return count_in_file(warn_path, "event=instance_log_open_failed") > 0;
}

static void test_open_failure(void **state)
{
    struct fx *f = *state;
    char warn_path[PATH_MAX];
    pathf(warn_path, "%s/frost.log", f->tmp);
    assert_int_equal(log_open(warn_path), 0);

    /* <tmp>/logs is a regular file: the log dir cannot be created. */
    char parent[PATH_MAX];
    pathf(parent, "%s/logs", f->tmp);
    int fd = open(parent, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);

    struct rt_log *l = open_log(f, "broken", 0, 0, 0);
    for (int i = 0; i < 1000 && !warned_open(warn_path); i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(warned_open(warn_path));

    /* Queued while the retry timer waits; lost (and counted) on close. */
    rt_log_write(l, "hello\n", 6);
    rt_log_write(l, "world\n", 6);
    char out[16];
    assert_int_equal(rt_log_tail(l, out, sizeof(out)), 12);
    assert_memory_equal(out, "hello\nworld\n", 12);
    int done = 0;
    rt_log_close(l, count_done, &done);
    flush(f);
    assert_int_equal(done, 1);
    assert_int_equal(count_in_file(warn_path, "event=instance_log_open_failed"), 1);
}

static void test_close_while_failing_open_in_flight(void **state)
{
    struct fx *f = *state;
    char parent[PATH_MAX];
    pathf(parent, "%s/logs", f->tmp);
    int fd = open(parent, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    char warn_path[PATH_MAX];
    pathf(warn_path, "%s/frost.log", f->tmp);
    assert_int_equal(log_open(warn_path), 0);

    /* Close while the first open is still in flight: it fails, the queue is
     * dropped and done still comes. */
    struct rt_log *l = open_log(f, "broken", 0, 0, 0);
    rt_log_write(l, "lost\n", 5);
    int done = 0;
    rt_log_close(l, count_done, &done);
    flush(f);
    assert_int_equal(done, 1);
}

static void test_invalid_opts(void **state)
{
    struct fx *f = *state;
    struct rt_log *l = (struct rt_log *)1;
    struct frost_err err = {0};
    struct rt_log_opts o = {.loop = &f->loop, .dir = f->dir, .name = "a/b"};
    assert_int_equal(rt_log_open(&o, &l, &err), -1);
    assert_null(l);
    assert_int_equal(err.status, 500);
    o.name = "..";
    assert_int_equal(rt_log_open(&o, &l, &err), -1);
    o.name = "";
    assert_int_equal(rt_log_open(&o, &l, &err), -1);
    o.name = "ok";
    o.dir = "";
    assert_int_equal(rt_log_open(&o, &l, &err), -1);
}

int main(void)
{
    umask(022);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ordered_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_created_before_any_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_and_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_keeps_dropping_until_half_drained, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_flushes_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_log_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_errors_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_while_failing_open_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_opts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
