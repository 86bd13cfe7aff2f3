/* Unit tests for src/store: schema creation, put/get/delete through load,
 * prefix deletes, batch atomicity inside a group, group commit, reopening,
 * refusing foreign/newer/locked files, close with writes queued, disk full.
 * Each test runs a real uv loop; waiting is uv_run until the store has no
 * write in flight (its handle then stops keeping the loop alive).
 *
 * The test forges foreign and newer files with SQLite directly: that is the
 * store's own test, the one place outside src/store that may know the file. */
#define _GNU_SOURCE /* unshare, CLONE_NEWNS */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char path[128];
    uv_loop_t loop;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/frost-store-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/frost.db", f->dir);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    assert_int_equal(rmdir(f->dir), 0);
    free(f);
    return 0;
}

static struct store *open_at(struct fx *f, const char *path)
{
    struct store_opts o = {.path = path, .loop = &f->loop};
    struct store *s = NULL;
    struct frost_err err = {0};
    if (store_open(&o, &s, &err) < 0)
        fail_msg("store_open: %s", err.msg);
    assert_non_null(s);
    return s;
}

static struct store *open_store(struct fx *f)
{
    return open_at(f, f->path);
}

/* Expects store_open to refuse path; returns the message in err. */
static void refuse_at(struct fx *f, const char *path, struct frost_err *err)
{
    struct store_opts o = {.path = path, .loop = &f->loop};
    struct store *s = NULL;
    assert_int_equal(store_open(&o, &s, err), -1);
    assert_null(s);
    assert_int_equal(err->status, 500);
    assert_string_equal(err->code, STORE_ERR_CODE);
}

/* store_close, then one more loop run to let the handle's close callback
 * free the store, as the header asks. */
static void close_store(struct fx *f, struct store *s)
{
    store_close(s);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* Runs the loop until no write is in flight. */
static void wait_writes(struct fx *f)
{
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* ---- completion records ---------------------------------------------------- */

struct done_rec {
    int calls;
    int failures;
    int last_id; /* callbacks must arrive in submission order */
    char msg[FROST_ERR_MSG_MAX];
};

struct done_arg {
    struct done_rec *rec;
    int id;
    int status;
    bool ran;
};

static void on_done(void *ud, int status, const char *msg)
{
    struct done_arg *a = ud;
    assert_false(a->ran);
    a->ran = true;
    a->status = status;
    assert_true(a->id > a->rec->last_id);
    a->rec->last_id = a->id;
    a->rec->calls++;
    if (status < 0) {
        assert_non_null(msg);
        a->rec->failures++;
        snprintf(a->rec->msg, sizeof(a->rec->msg), "%s", msg);
    } else {
        assert_int_equal(status, 0);
        assert_null(msg);
    }
}

static void submit(struct store *s, struct store_batch *b, struct done_rec *rec, struct done_arg *a,
                   int id)
{
    *a = (struct done_arg){.rec = rec, .id = id};
    assert_int_equal(store_submit(s, b, on_done, a), 0);
}

static struct store_batch *batch_put(const char *coll, const char *key, const char *json)
{
    struct store_batch *b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, coll, key, json), 0);
    return b;
}

/* Submits one batch, runs the loop, expects success. */
static void commit(struct fx *f, struct store *s, struct store_batch *b)
{
    struct done_rec rec = {.last_id = -1};
    struct done_arg a;
    submit(s, b, &rec, &a, 0);
    wait_writes(f);
    assert_true(a.ran);
    if (a.status != 0)
        fail_msg("write failed: %s", rec.msg);
}

static int collect(void *ud, const char *key, const char *json)
{
    return buf_printf(ud, "%s=%s;", key, json);
}

/* "key=json;" for every document of coll, in load order. */
static char *dump(struct store *s, const char *coll)
{
    struct buf b = BUF_INIT(0);
    struct frost_err err = {0};
    if (store_load(s, coll, collect, &b, &err) < 0)
        fail_msg("store_load: %s", err.msg);
    char *r = buf_steal(&b);
    assert_non_null(r);
    return r;
}

#define assert_dump(s, coll, expect)                                                               \
    do {                                                                                           \
        char *got_ = dump((s), (coll));                                                            \
        assert_string_equal(got_, (expect));                                                       \
        free(got_);                                                                                \
    } while (0)

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- raw SQLite, for checking and forging files ---------------------------- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK)
        fail_msg("%s: %s", sql, e ? e : "?");
}

static void raw_text(sqlite3 *db, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_open_creates_schema(void **state)
{
    struct fx *f = *state;
    struct store *s = open_store(f);
    assert_true(store_schema_latest() >= 1);
    assert_int_equal(store_schema_version(s), store_schema_latest());
    assert_dump(s, STORE_FUNCTIONS, "");

    char lock[160], wal[160], pid[32], want[32];
    snprintf(lock, sizeof(lock), "%s.lock", f->path);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_true(exists(f->path));
    assert_true(exists(wal));
    FILE *lf = fopen(lock, "r");
    assert_non_null(lf);
    assert_non_null(fgets(pid, sizeof(pid), lf));
    fclose(lf);
    snprintf(want, sizeof(want), "%d\n", (int)getpid());
    assert_string_equal(pid, want);

    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.commits, 0);
    assert_int_equal(st.batches, 0);
    assert_int_equal(st.queued, 0);
    close_store(f, s);

    sqlite3 *db = raw_open(f->path);
    char v[64];
    raw_text(db, "PRAGMA application_id", v, sizeof(v));
    assert_string_equal(v, "1179800404"); /* 0x46525354, "FRST" */
    raw_text(db, "PRAGMA journal_mode", v, sizeof(v));
    assert_string_equal(v, "wal");
    raw_text(db, "PRAGMA user_version", v, sizeof(v));
    snprintf(want, sizeof(want), "%d", store_schema_latest());
    assert_string_equal(v, want);
    raw_text(db, "SELECT count(*) FROM sqlite_master WHERE name = 'documents'", v, sizeof(v));
    assert_string_equal(v, "1");
    sqlite3_close(db);
}

static void test_put_load_delete(void **state)
{
    struct fx *f = *state;
    struct store *s = open_store(f);

    struct store_batch *b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "b", "{\"n\":2}"), 0);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "a", "{\"n\":1}"), 0);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "c", "{\"n\":3}"), 0);
    assert_int_equal(store_batch_put(b, STORE_TRIGGERS, "a/t", "[]"), 0);
    commit(f, s, b);
    assert_dump(s, STORE_FUNCTIONS, "a={\"n\":1};b={\"n\":2};c={\"n\":3};");
    assert_dump(s, STORE_TRIGGERS, "a/t=[];");
    assert_dump(s, STORE_PROVISION, "");

    /* Overwrite, delete, delete a missing key (not an error), and put after
     * delete within one batch: ops apply in order. */
    b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "a", "{\"n\":10}"), 0);
    assert_int_equal(store_batch_del(b, STORE_FUNCTIONS, "b"), 0);
    assert_int_equal(store_batch_del(b, STORE_FUNCTIONS, "nope"), 0);
    assert_int_equal(store_batch_del(b, STORE_FUNCTIONS, "c"), 0);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "c", "{\"n\":30}"), 0);
    commit(f, s, b);
    assert_dump(s, STORE_FUNCTIONS, "a={\"n\":10};c={\"n\":30};");
    assert_dump(s, STORE_TRIGGERS, "a/t=[];");

    /* The batch copied its strings. */
    char key[8] = "zz", json[16] = "\"v\"";
    b = batch_put(STORE_FUNCTIONS, key, json);
    memset(key, 'x', sizeof(key) - 1);
    memset(json, 'x', sizeof(json) - 1);
    commit(f, s, b);
    assert_dump(s, STORE_FUNCTIONS, "a={\"n\":10};c={\"n\":30};zz=\"v\";");

    /* An empty batch commits. */
    b = store_batch_new();
    assert_non_null(b);
    commit(f, s, b);
    close_store(f, s);
}

static void test_del_prefix(void **state)
{
    struct fx *f = *state;
    struct store *s = open_store(f);

    struct store_batch *b = store_batch_new();
    assert_non_null(b);
    const char *keys[] = {"fm/x", "fn", "fn/", "fn/a", "fn/b/c", "fn0", "fo"};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++)
        assert_int_equal(store_batch_put(b, STORE_TRIGGERS, keys[i], "1"), 0);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "fn/a", "2"), 0);
    /* Keys of 0xff bytes have no upper bound: the delete is open-ended. */
    assert_int_equal(store_batch_put(b, STORE_CONCURRENCY, "\xfe", "3"), 0);
    assert_int_equal(store_batch_put(b, STORE_CONCURRENCY, "\xff", "3"), 0);
    assert_int_equal(store_batch_put(b, STORE_CONCURRENCY, "\xff\xff", "3"), 0);
    assert_int_equal(store_batch_put(b, STORE_CONCURRENCY, "\xff\xfe\x01", "3"), 0);
    commit(f, s, b);

    b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_del_prefix(b, STORE_TRIGGERS, "fn/"), 0);
    assert_int_equal(store_batch_del_prefix(b, STORE_CONCURRENCY, "\xff"), 0);
    commit(f, s, b);
    /* "fn0" sits just past the range ('0' follows '/'): it stays. */
    assert_dump(s, STORE_TRIGGERS, "fm/x=1;fn=1;fn0=1;fo=1;");
    assert_dump(s, STORE_FUNCTIONS, "fn/a=2;");
    assert_dump(s, STORE_CONCURRENCY, "\xfe=3;");

    /* The empty prefix empties one collection only. */
    b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_del_prefix(b, STORE_TRIGGERS, ""), 0);
    commit(f, s, b);
    assert_dump(s, STORE_TRIGGERS, "");
    assert_dump(s, STORE_FUNCTIONS, "fn/a=2;");
    close_store(f, s);
}

static void test_batch_atomicity(void **state)
{
    struct fx *f = *state;
    struct store *s = open_store(f);
    commit(f, s, batch_put(STORE_FUNCTIONS, "a", "{}"));

    /* Held: the three batches are queued together and go in one transaction. */
    store_writer_hold(s, 1);
    struct done_rec rec = {.last_id = -1};
    struct done_arg args[3];
    struct store_batch *b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "b", "{}"), 0);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "bb", "{}"), 0);
    submit(s, b, &rec, &args[0], 0);

    b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "x", "{}"), 0);
    assert_int_equal(store_batch_del(b, STORE_FUNCTIONS, "a"), 0);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "y", "{not json"), 0);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "z", "{}"), 0);
    submit(s, b, &rec, &args[1], 1);

    submit(s, batch_put(STORE_FUNCTIONS, "c", "[1]"), &rec, &args[2], 2);

    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.queued, 3);
    store_writer_hold(s, 0);
    wait_writes(f);

    assert_int_equal(rec.calls, 3);
    assert_int_equal(args[0].status, 0);
    assert_true(args[1].status < 0);
    assert_int_equal(args[2].status, 0);
    /* The message names the file, the document and the cause. */
    char want[256];
    snprintf(want, sizeof(want),
             "store %s: the document is not valid JSON (SQLITE_CONSTRAINT_CHECK) while writing "
             "functions/y",
             f->path);
    assert_string_equal(rec.msg, want);

    /* x and the delete of a rolled back with y; b, bb and c committed. */
    assert_dump(s, STORE_FUNCTIONS, "a={};b={};bb={};c=[1];");
    store_stats(s, &st);
    assert_int_equal(st.commits, 2);
    assert_int_equal(st.batches, 3);
    assert_int_equal(st.failures, 1);
    assert_int_equal(st.queued, 0);
    close_store(f, s);
}

static void test_group_commit(void **state)
{
    struct fx *f = *state;
    struct store *s = open_store(f);
    enum { N = 100 };
    struct done_rec rec = {.last_id = -1};
    struct done_arg args[N];
    char key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        submit(s, batch_put(STORE_FUNCTIONS, key, "{}"), &rec, &args[i], i);
    }
    wait_writes(f);
    assert_int_equal(rec.calls, N);
    assert_int_equal(rec.failures, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(args[i].status, 0);

    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.batches, N);
    assert_true(st.commits >= 1);
    assert_true(st.commits < st.batches);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.queued, 0);

    char *all = dump(s, STORE_FUNCTIONS);
    int n = 0;
    for (char *p = all; (p = strchr(p, ';')); p++)
        n++;
    assert_int_equal(n, N);
    assert_true(strncmp(all, "k000={};k001={};", 16) == 0);
    free(all);

    /* Held, 50 batches make exactly one transaction. */
    uint64_t commits = st.commits;
    store_writer_hold(s, 1);
    rec = (struct done_rec){.last_id = -1};
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "h%03d", i);
        submit(s, batch_put(STORE_FUNCTIONS, key, "{}"), &rec, &args[i], i);
    }
    store_writer_hold(s, 0);
    wait_writes(f);
    assert_int_equal(rec.calls, 50);
    store_stats(s, &st);
    assert_int_equal(st.commits, commits + 1);
    assert_int_equal(st.batches, N + 50);
    close_store(f, s);
}

static void test_reopen(void **state)
{
    struct fx *f = *state;
    struct store *s = open_store(f);
    struct store_batch *b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "f1", "{\"functionName\":\"f1\"}"), 0);
    assert_int_equal(store_batch_put(b, STORE_PROVISION, "f1", "{\"target\":2}"), 0);
    commit(f, s, b);
    close_store(f, s);

    /* A clean close checkpoints the WAL into the main file and removes it. */
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_false(exists(wal));

    s = open_store(f);
    assert_int_equal(store_schema_version(s), store_schema_latest());
    assert_dump(s, STORE_FUNCTIONS, "f1={\"functionName\":\"f1\"};");
    assert_dump(s, STORE_PROVISION, "f1={\"target\":2};");
    close_store(f, s);
}

static void test_refuse_foreign(void **state)
{
    struct fx *f = *state;
    struct frost_err err = {0};
    char path[160];

    /* Not SQLite at all; and left as it was. */
    snprintf(path, sizeof(path), "%s/text.db", f->dir);
    const char text[] = "these are my notes, not a database; please keep them intact.\n";
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 100; i++)
        fputs(text, fp);
    fclose(fp);
    refuse_at(f, path, &err);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "not a Frost store"));
    assert_non_null(strstr(err.msg, "not an SQLite database"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 100 * (sizeof(text) - 1));

    /* Another application's SQLite file. */
    snprintf(path, sizeof(path), "%s/other.db", f->dir);
    sqlite3 *db = raw_open(path);
    raw_exec(db, "PRAGMA application_id = 305419896; CREATE TABLE t (x)"); /* 0x12345678 */
    sqlite3_close(db);
    refuse_at(f, path, &err);
    assert_non_null(strstr(err.msg, "not a Frost store"));
    assert_non_null(strstr(err.msg, "application_id 0x12345678"));

    /* A plain SQLite file with tables but no application_id. */
    snprintf(path, sizeof(path), "%s/plain.db", f->dir);
    db = raw_open(path);
    raw_exec(db, "CREATE TABLE documents (x)");
    sqlite3_close(db);
    refuse_at(f, path, &err);
    assert_non_null(strstr(err.msg, "application_id 0x00000000"));
    db = raw_open(path);
    char v[32];
    raw_text(db, "PRAGMA journal_mode", v, sizeof(v));
    assert_string_equal(v, "delete"); /* untouched: not switched to WAL */
    sqlite3_close(db);
}

static void test_refuse_newer(void **state)
{
    struct fx *f = *state;
    close_store(f, open_store(f));
    sqlite3 *db = raw_open(f->path);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_latest() + 1);
    raw_exec(db, sql);
    sqlite3_close(db);

    struct frost_err err = {0};
    refuse_at(f, f->path, &err);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "created by a newer Frost"));
    char want[64];
    snprintf(want, sizeof(want), "schema version %d", store_schema_latest() + 1);
    assert_non_null(strstr(err.msg, want));
}

static void test_refuse_second_open(void **state)
{
    struct fx *f = *state;
    struct store *s = open_store(f);
    commit(f, s, batch_put(STORE_FUNCTIONS, "a", "{}"));

    /* In this process. */
    struct frost_err err = {0};
    refuse_at(f, f->path, &err);
    assert_non_null(strstr(err.msg, "in use by another Frost process"));
    char pid[32];
    snprintf(pid, sizeof(pid), "pid %d ", (int)getpid());
    assert_non_null(strstr(err.msg, pid));

    /* In another process. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct store_opts o = {.path = f->path, .loop = &loop};
        struct store *s2 = NULL;
        struct frost_err e2 = {0};
        int rc = store_open(&o, &s2, &e2);
        _exit(rc == -1 && strstr(e2.msg, "in use by another Frost process") ? 0 : 1);
    }
    int ws = 0;
    assert_int_equal(waitpid(child, &ws, 0), child);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);

    /* The refusals touched nothing; after close the path opens again. */
    assert_dump(s, STORE_FUNCTIONS, "a={};");
    close_store(f, s);
    s = open_store(f);
    assert_dump(s, STORE_FUNCTIONS, "a={};");
    close_store(f, s);
}

struct late {
    struct store *s;
    int calls;
    int status_sum;
    int resubmit_failed;
};

static void on_done_resubmit(void *ud, int status, const char *msg)
{
    (void)msg;
    struct late *l = ud;
    l->calls++;
    l->status_sum += status;
    /* The store is closing: a new write is refused and its batch freed. */
    if (store_submit(l->s, batch_put(STORE_FUNCTIONS, "late", "{}"), on_done_resubmit, l) == -1)
        l->resubmit_failed++;
}

static void test_close_completes_queued(void **state)
{
    struct fx *f = *state;
    struct store *s = open_store(f);
    struct late l = {.s = s};
    store_writer_hold(s, 1); /* still queued when store_close starts */
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "q%02d", i);
        assert_int_equal(
            store_submit(s, batch_put(STORE_FUNCTIONS, key, "{}"), on_done_resubmit, &l), 0);
    }
    /* Without running the loop: store_close itself runs the callbacks. */
    store_close(s);
    assert_int_equal(l.calls, 50);
    assert_int_equal(l.status_sum, 0);
    assert_int_equal(l.resubmit_failed, 50);
    uv_run(&f->loop, UV_RUN_DEFAULT);

    s = open_store(f);
    char *all = dump(s, STORE_FUNCTIONS);
    assert_true(strncmp(all, "q00={};q01={};", 14) == 0);
    assert_non_null(strstr(all, "q49={};"));
    assert_null(strstr(all, "late"));
    free(all);
    close_store(f, s);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct frost_err err = {0};
    char path[160];
    snprintf(path, sizeof(path), "%s/missing/frost.db", f->dir);
    refuse_at(f, path, &err);
    assert_non_null(strstr(err.msg, "cannot open lock file"));
    assert_non_null(strstr(err.msg, "No such file or directory"));

    struct store *s = NULL;
    struct store_opts o = {.path = NULL, .loop = &f->loop};
    assert_int_equal(store_open(&o, &s, &err), -1);
    o = (struct store_opts){.path = f->path, .loop = NULL};
    assert_int_equal(store_open(&o, &s, &err), -1);
    assert_null(s);
    assert_false(exists(f->path));
}

static int stop_at_b(void *ud, const char *key, const char *json)
{
    (void)json;
    int *seen = ud;
    (*seen)++;
    return strcmp(key, "b") == 0 ? -7 : 0;
}

static int stop_with_err(void *ud, const char *key, const char *json)
{
    (void)json;
    return frost_err_set(ud, 400, "InvalidFunction", "function %s: bad document", key);
}

static void test_load_stops(void **state)
{
    struct fx *f = *state;
    struct store *s = open_store(f);
    struct store_batch *b = store_batch_new();
    assert_non_null(b);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "a", "1"), 0);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "b", "2"), 0);
    assert_int_equal(store_batch_put(b, STORE_FUNCTIONS, "c", "3"), 0);
    commit(f, s, b);

    struct frost_err err = {0};
    int seen = 0;
    assert_int_equal(store_load(s, STORE_FUNCTIONS, stop_at_b, &seen, &err), -7);
    assert_int_equal(seen, 2);
    assert_int_equal(err.status, 500);
    assert_non_null(strstr(err.msg, "stopped at key b"));

    /* each's own error is kept. */
    frost_err_clear(&err);
    assert_int_equal(store_load(s, STORE_FUNCTIONS, stop_with_err, &err, &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.msg, "function a: bad document");
    close_store(f, s);
}

static void test_batch_api(void **state)
{
    struct fx *f = *state;
    struct store_batch *b = store_batch_new();
    assert_non_null(b);
    errno = 0;
    assert_int_equal(store_batch_put(b, NULL, "k", "{}"), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(store_batch_put(b, "", "k", "{}"), -1);
    assert_int_equal(store_batch_put(b, "c", NULL, "{}"), -1);
    assert_int_equal(store_batch_put(b, "c", "k", NULL), -1);
    assert_int_equal(store_batch_del(b, "c", NULL), -1);
    assert_int_equal(store_batch_del_prefix(NULL, "c", "p"), -1);
    for (int i = 0; i < STORE_BATCH_MAX_OPS; i++)
        assert_int_equal(store_batch_del(b, "c", "k"), 0);
    errno = 0;
    assert_int_equal(store_batch_del(b, "c", "k"), -1);
    assert_int_equal(errno, E2BIG);

    /* A full batch still commits. */
    struct store *s = open_store(f);
    commit(f, s, b);
    store_batch_free(NULL);
    store_close(NULL);
    assert_int_equal(store_submit(s, NULL, on_done, NULL), -1);
    close_store(f, s);
}

static int child_load(void *ud, const char *key, const char *json)
{
    (void)json;
    return buf_printf(ud, "%s;", key);
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The child side of test_disk_full_message; exit codes say what went wrong
 * (77: no private tmpfs here, skip). */
static int disk_full_child(const char *dir, const char *path, int out)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWNS) < 0) {
        /* Unprivileged: a user namespace mapping us to ourselves grants the
         * mount, and keeps the tmpfs ours. */
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
            return 77;
        char map[64];
        snprintf(map, sizeof(map), "%u %u 1", (unsigned)uid, (unsigned)uid);
        if (write_file("/proc/self/uid_map", map) < 0 ||
            write_file("/proc/self/setgroups", "deny") < 0)
            return 77;
        snprintf(map, sizeof(map), "%u %u 1", (unsigned)gid, (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) < 0)
            return 77;
    }
    /* Private first, so the tmpfs never shows in the parent's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", dir, "tmpfs", 0, "size=256k") < 0)
        return 77;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_opts o = {.path = path, .loop = &loop};
    struct store *s = NULL;
    struct frost_err err = {0};
    if (store_open(&o, &s, &err) < 0)
        return 2;
    char *big = malloc(300 * 1024);
    if (!big)
        return 3;
    memset(big, 'a', 300 * 1024 - 1);
    big[0] = big[300 * 1024 - 2] = '"';
    big[300 * 1024 - 1] = 0;
    struct store_batch *b1 = store_batch_new(), *b2 = store_batch_new();
    if (!b1 || !b2 || store_batch_put(b1, STORE_FUNCTIONS, "big", big) < 0 ||
        store_batch_put(b2, STORE_FUNCTIONS, "small", "{}") < 0)
        return 4;
    free(big);
    struct done_rec rec = {.last_id = -1};
    struct done_arg a1 = {.rec = &rec, .id = 0}, a2 = {.rec = &rec, .id = 1};
    store_writer_hold(s, 1);
    if (store_submit(s, b1, on_done, &a1) < 0 || store_submit(s, b2, on_done, &a2) < 0)
        return 5;
    store_writer_hold(s, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (rec.failures != 2 || write(out, rec.msg, strlen(rec.msg)) < 0)
        return 6;

    /* The failed frames are overwritten: a small write fits again. */
    struct store_batch *b3 = store_batch_new();
    struct done_arg a3 = {.rec = &rec, .id = 2};
    if (!b3 || store_batch_put(b3, STORE_FUNCTIONS, "c", "{}") < 0 ||
        store_submit(s, b3, on_done, &a3) < 0)
        return 7;
    uv_run(&loop, UV_RUN_DEFAULT);
    if (a3.status != 0)
        return 8;
    struct buf keys = BUF_INIT(0);
    if (store_load(s, STORE_FUNCTIONS, child_load, &keys, &err) < 0 || !keys.data ||
        strcmp(keys.data, "c;") != 0)
        return 9;
    buf_free(&keys);
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    return 0;
}

/* A real ENOSPC, on a 256 KiB tmpfs in a private mount namespace (skipped
 * where unprivileged namespaces are not allowed). Both batches of the group
 * fail at the commit's WAL write; the store then goes on working. */
static void test_disk_full_message(void **state)
{
    struct fx *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(p[0]);
        _exit(disk_full_child(f->dir, f->path, p[1]));
    }
    close(p[1]);
    char msg[FROST_ERR_MSG_MAX + 1] = "";
    size_t len = 0;
    ssize_t r;
    while ((r = read(p[0], msg + len, sizeof(msg) - 1 - len)) > 0)
        len += (size_t)r;
    msg[len] = 0;
    close(p[0]);
    int ws = 0;
    assert_int_equal(waitpid(child, &ws, 0), child);
    assert_true(WIFEXITED(ws));
    if (WEXITSTATUS(ws) == 77)
        skip();
    if (WEXITSTATUS(ws) != 0 && !msg[0])
        fail_msg("the disk-full child failed at step %d", WEXITSTATUS(ws));
    print_message("disk full message: %s\n", msg);
    char want[256];
    snprintf(want, sizeof(want), "store %s: disk full (SQLITE_FULL) while committing 2 writes",
             f->path);
    assert_string_equal(msg, want);
    assert_int_equal(WEXITSTATUS(ws), 0);
}

/* A write() error other than ENOSPC: RLIMIT_FSIZE makes writes past 1 MiB
 * fail with EFBIG, in a child so the limit stays there. The child sends the
 * callback's message back. */
static void test_write_error_message(void **state)
{
    struct fx *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(p[0]);
        signal(SIGXFSZ, SIG_IGN);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct store_opts o = {.path = f->path, .loop = &loop};
        struct store *s = NULL;
        struct frost_err err = {0};
        if (store_open(&o, &s, &err) < 0)
            _exit(2);
        struct rlimit rl = {.rlim_cur = 1 << 20, .rlim_max = 1 << 20};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            _exit(3);
        size_t n = 4 << 20;
        char *big = malloc(n + 3);
        if (!big)
            _exit(4);
        memset(big, 'a', n + 2);
        big[0] = big[n + 1] = '"';
        big[n + 2] = 0;
        struct store_batch *b = store_batch_new();
        if (!b || store_batch_put(b, STORE_FUNCTIONS, "big", big) < 0)
            _exit(5);
        free(big);
        struct done_rec rec = {.last_id = -1};
        struct done_arg a = {.rec = &rec, .id = 0};
        if (store_submit(s, b, on_done, &a) < 0)
            _exit(6);
        uv_run(&loop, UV_RUN_DEFAULT);
        const char *m = a.status < 0 ? rec.msg : "succeeded";
        if (write(p[1], m, strlen(m)) < 0)
            _exit(7);
        _exit(0);
    }
    close(p[1]);
    char msg[FROST_ERR_MSG_MAX + 1] = "";
    size_t len = 0;
    ssize_t r;
    while ((r = read(p[0], msg + len, sizeof(msg) - 1 - len)) > 0)
        len += (size_t)r;
    msg[len] = 0;
    close(p[0]);
    int ws = 0;
    assert_int_equal(waitpid(child, &ws, 0), child);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    print_message("write error message: %s\n", msg);
    char want[256];
    snprintf(want, sizeof(want), "store %s: I/O error: File too large (SQLITE_IOERR_WRITE) while ",
             f->path);
    assert_true(strncmp(msg, want, strlen(want)) == 0);

    /* Nothing of it landed, and the store still works. */
    struct store *s = open_store(f);
    assert_dump(s, STORE_FUNCTIONS, "");
    commit(f, s, batch_put(STORE_FUNCTIONS, "small", "{}"));
    assert_dump(s, STORE_FUNCTIONS, "small={};");
    close_store(f, s);
}

int main(void)
{
    log_threshold = LOG_OFF;
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_creates_schema), T(test_put_load_delete),        T(test_del_prefix),
        T(test_batch_atomicity),     T(test_group_commit),           T(test_reopen),
        T(test_refuse_foreign),      T(test_refuse_newer),           T(test_refuse_second_open),
        T(test_open_errors),         T(test_close_completes_queued), T(test_load_stops),
        T(test_batch_api),           T(test_disk_full_message),      T(test_write_error_message),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
