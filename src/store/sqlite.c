/* The embedded store backend: SQLite in WAL mode, one file, one writer thread.
 *
 * Two connections: `rdb` belongs to the loop thread (header checks,
 * migrations' companion reads, store_load) and is query_only; `wdb` is set up
 * on the loop thread during store_open and from then on belongs to the writer
 * thread alone, until store_close has joined it. Neither is shared between
 * threads at the same time, so both are opened SQLITE_OPEN_NOMUTEX.
 *
 * Queue hand-off: the loop appends to `queue` under `mu` and signals `cond`;
 * the writer takes the whole queue at once (group commit), applies it in one
 * transaction, moves it to `completed` under `mu` and wakes the loop through
 * `async`, whose callback runs the done callbacks in submission order. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "store/batch.h"
#include "store/store.h"

/* "FRST" in the database header: tells our files from any other SQLite file. */
#define APP_ID 0x46525354

/* Only an outside reader (sqlite3 ".backup", a checkpoint) can hold a lock we
 * wait on, since the .lock file keeps other Frost processes out. */
#define BUSY_TIMEOUT_MS 5000

/* A large transaction leaves the -wal file that big until the next
 * checkpoint truncates it to this. */
#define JOURNAL_SIZE_LIMIT (64 * 1024 * 1024)

/* The schema, one step per version: migrations[i] takes version i to i + 1.
 * Adding a version is appending one entry; never edit a released one. Each
 * step runs in the same transaction as the user_version bump. */
static const char *const migrations[] = {
    /* 1: every collection of JSON documents, in one table keyed by
     * (collection, key). json_valid keeps a bug from storing a document the
     * next start-up could not load. */
    "CREATE TABLE documents (collection TEXT NOT NULL, key TEXT NOT NULL, "
    "json TEXT NOT NULL CONSTRAINT json_is_valid CHECK (json_valid(json)), "
    "updated_ms INTEGER NOT NULL, PRIMARY KEY (collection, key)) WITHOUT ROWID",
};

int store_schema_latest(void)
{
    return (int)ARRAY_LEN(migrations);
}

/* The writer's statements, prepared once at open. */
enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_PUT,
    ST_DEL,
    ST_DEL_RANGE,
    ST_DEL_FROM,
    ST_COUNT,
};

static const char *const writer_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT batch",
    [ST_RELEASE] = "RELEASE batch",
    [ST_ROLLBACK_TO] = "ROLLBACK TO batch",
    /* Upsert, not INSERT OR REPLACE: REPLACE deletes first, which would fire
     * ON DELETE actions once later tables reference documents. */
    [ST_PUT] = "INSERT INTO documents (collection, key, json, updated_ms) VALUES (?1, ?2, ?3, ?4) "
               "ON CONFLICT (collection, key) DO UPDATE SET json = excluded.json, "
               "updated_ms = excluded.updated_ms",
    [ST_DEL] = "DELETE FROM documents WHERE collection = ?1 AND key = ?2",
    /* Prefix deletes as key ranges so they use the primary key. */
    [ST_DEL_RANGE] = "DELETE FROM documents WHERE collection = ?1 AND key >= ?2 AND key < ?3",
    [ST_DEL_FROM] = "DELETE FROM documents WHERE collection = ?1 AND key >= ?2",
};

struct store {
    char *path;
    char *lock_path;
    uv_loop_t *loop;
    int lock_fd;
    int version;
    sqlite3 *rdb;
    sqlite3 *wdb;
    sqlite3_stmt *st[ST_COUNT];

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* Under mu. */
    struct store_batch *queue, **queue_tail;
    size_t queue_len;
    struct store_batch *completed, **completed_tail;
    bool stop;
    bool hold;
    struct store_stats stats;

    /* Loop thread only. */
    bool closing;
    uint64_t inflight; /* submitted, callback not yet run */
    uv_async_t async;
};

static inline void cleanup_stmt(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}
#define _cleanup_stmt_ __attribute__((cleanup(cleanup_stmt)))

/* ---- error text ------------------------------------------------------------ */

#define RC(x)                                                                                      \
    {                                                                                              \
        x, #x                                                                                      \
    }
static const struct {
    int rc;
    const char *name;
} rc_names[] = {
    RC(SQLITE_ERROR),
    RC(SQLITE_INTERNAL),
    RC(SQLITE_PERM),
    RC(SQLITE_ABORT),
    RC(SQLITE_BUSY),
    RC(SQLITE_LOCKED),
    RC(SQLITE_NOMEM),
    RC(SQLITE_READONLY),
    RC(SQLITE_INTERRUPT),
    RC(SQLITE_IOERR),
    RC(SQLITE_CORRUPT),
    RC(SQLITE_NOTFOUND),
    RC(SQLITE_FULL),
    RC(SQLITE_CANTOPEN),
    RC(SQLITE_PROTOCOL),
    RC(SQLITE_SCHEMA),
    RC(SQLITE_TOOBIG),
    RC(SQLITE_CONSTRAINT),
    RC(SQLITE_MISMATCH),
    RC(SQLITE_MISUSE),
    RC(SQLITE_NOLFS),
    RC(SQLITE_AUTH),
    RC(SQLITE_RANGE),
    RC(SQLITE_NOTADB),
    RC(SQLITE_IOERR_READ),
    RC(SQLITE_IOERR_SHORT_READ),
    RC(SQLITE_IOERR_WRITE),
    RC(SQLITE_IOERR_FSYNC),
    RC(SQLITE_IOERR_DIR_FSYNC),
    RC(SQLITE_IOERR_TRUNCATE),
    RC(SQLITE_IOERR_FSTAT),
    RC(SQLITE_IOERR_UNLOCK),
    RC(SQLITE_IOERR_RDLOCK),
    RC(SQLITE_IOERR_DELETE),
    RC(SQLITE_IOERR_NOMEM),
    RC(SQLITE_IOERR_ACCESS),
    RC(SQLITE_IOERR_LOCK),
    RC(SQLITE_IOERR_CLOSE),
    RC(SQLITE_IOERR_SHMOPEN),
    RC(SQLITE_IOERR_SHMSIZE),
    RC(SQLITE_IOERR_SHMMAP),
    RC(SQLITE_IOERR_SEEK),
    RC(SQLITE_IOERR_MMAP),
    RC(SQLITE_IOERR_DATA),
    RC(SQLITE_BUSY_SNAPSHOT),
    RC(SQLITE_BUSY_RECOVERY),
    RC(SQLITE_CANTOPEN_ISDIR),
    RC(SQLITE_CANTOPEN_FULLPATH),
    RC(SQLITE_CORRUPT_INDEX),
    RC(SQLITE_READONLY_DBMOVED),
    RC(SQLITE_READONLY_DIRECTORY),
    RC(SQLITE_READONLY_RECOVERY),
    RC(SQLITE_READONLY_CANTLOCK),
    RC(SQLITE_CONSTRAINT_CHECK),
    RC(SQLITE_CONSTRAINT_FOREIGNKEY),
    RC(SQLITE_CONSTRAINT_NOTNULL),
    RC(SQLITE_CONSTRAINT_PRIMARYKEY),
    RC(SQLITE_CONSTRAINT_TRIGGER),
    RC(SQLITE_CONSTRAINT_UNIQUE),
};
#undef RC

static const char *rc_name(int rc)
{
    for (size_t i = 0; i < ARRAY_LEN(rc_names); i++)
        if (rc_names[i].rc == rc)
            return rc_names[i].name;
    for (size_t i = 0; i < ARRAY_LEN(rc_names); i++)
        if (rc_names[i].rc == (rc & 0xff))
            return rc_names[i].name; /* an extended code we do not list */
    return "SQLITE_?";
}

/* Plain words for the codes whose SQLite text is vague (docs/store.md says
 * what to do about each). NULL: SQLite's own message (constraint names, SQL
 * errors) says more. */
static const char *rc_phrase(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return "disk full";
    case SQLITE_IOERR:
        return "I/O error";
    case SQLITE_READONLY:
        return "the database file or its directory is read-only";
    case SQLITE_PERM:
        return "permission denied";
    case SQLITE_CANTOPEN:
        return "cannot open the database file";
    case SQLITE_CORRUPT:
        return "the database file is corrupt";
    case SQLITE_NOTADB:
        return "the file is not an SQLite database";
    case SQLITE_BUSY:
        return "the database is locked by another connection";
    case SQLITE_NOMEM:
        return "out of memory";
    case SQLITE_NOLFS:
        return "the filesystem does not support large files";
    case SQLITE_PROTOCOL:
        return "file locking failed";
    default:
        return NULL;
    }
}

/* "<what went wrong> (<SQLITE_CODE>)". Call right after the failing call,
 * before anything else runs on db, which would replace its message. */
static void describe(char *out, size_t outlen, sqlite3 *db, int rc)
{
    const char *phrase = rc_phrase(rc);
    const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int prim = rc & 0xff;
    /* SQLite records errno for these two only; for others it may be stale. */
    bool has_errno = prim == SQLITE_IOERR || prim == SQLITE_CANTOPEN;
    int sys = db && has_errno ? sqlite3_system_errno(db) : 0;
    if (rc == SQLITE_CONSTRAINT_CHECK && strstr(detail, "json_is_valid"))
        phrase = "the document is not valid JSON";
    if (phrase && sys)
        snprintf(out, outlen, "%s: %s (%s)", phrase, strerror(sys), rc_name(rc));
    else
        snprintf(out, outlen, "%s (%s)", phrase ? phrase : detail, rc_name(rc));
}

static int db_error(struct store *s, sqlite3 *db, int rc, struct frost_err *err, const char *what)
{
    char d[FROST_ERR_MSG_MAX / 2];
    describe(d, sizeof(d), db, rc);
    return frost_err_set(err, 500, STORE_ERR_CODE, "store %s: %s while %s", s->path, d, what);
}

/* ---- opening --------------------------------------------------------------- */

static int take_lock(struct store *s, struct frost_err *err)
{
    int fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return frost_err_set(err, 500, STORE_ERR_CODE, "store %s: cannot open lock file %s: %s",
                             s->path, s->lock_path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char pid[32] = "";
        if (e == EWOULDBLOCK) {
            ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
            pid[n > 0 ? n : 0] = 0;
            pid[strcspn(pid, "\n")] = 0;
        }
        close(fd);
        if (e != EWOULDBLOCK)
            return frost_err_set(err, 500, STORE_ERR_CODE, "store %s: cannot lock %s: %s", s->path,
                                 s->lock_path, strerror(e));
        return frost_err_set(err, 500, STORE_ERR_CODE,
                             "store %s is in use by another Frost process (pid %s holds %s); stop "
                             "it, or use another data dir",
                             s->path, pid[0] ? pid : "unknown", s->lock_path);
    }
    /* The pid is only for that message: the flock is the lock. */
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        int e = errno;
        close(fd);
        return frost_err_set(err, 500, STORE_ERR_CODE, "store %s: cannot write %s: %s", s->path,
                             s->lock_path, strerror(e));
    }
    s->lock_fd = fd;
    return 0;
}

static int open_conn(struct store *s, sqlite3 **out, struct frost_err *err)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        db_error(s, db, rc, err, "opening");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    *out = db;
    return 0;
}

static int exec(struct store *s, sqlite3 *db, const char *sql, struct frost_err *err,
                const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_error(s, db, rc, err, what);
}

/* First column of the first row of sql (a PRAGMA or a count), as int or text. */
static int query_one(sqlite3 *db, const char *sql, int *ival, char *tval, size_t tlen)
{
    sqlite3_stmt *st _cleanup_stmt_ = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
    if (ival)
        *ival = sqlite3_column_int(st, 0);
    if (tval) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(tval, tlen, "%s", t ? (const char *)t : "");
    }
    return SQLITE_OK;
}

/* Reads the header without writing anything, so a refused file stays as it
 * was. Sets s->version (0 for a new, empty file). */
static int check_header(struct store *s, struct frost_err *err)
{
    sqlite3 *db = s->wdb;
    int app = 0, ver = 0, objects = 0;
    int rc = query_one(db, "PRAGMA application_id", &app, NULL, 0);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return frost_err_set(err, 500, STORE_ERR_CODE,
                             "store %s: not a Frost store (the file is not an SQLite database); "
                             "refusing to open it: check the data dir, or move the file away",
                             s->path);
    if (rc == SQLITE_OK)
        rc = query_one(db, "PRAGMA user_version", &ver, NULL, 0);
    if (rc == SQLITE_OK)
        rc = query_one(db, "SELECT count(*) FROM sqlite_master", &objects, NULL, 0);
    if (rc != SQLITE_OK)
        return db_error(s, db, rc, err, "reading the file header");

    if (app == 0 && ver == 0 && objects == 0) {
        s->version = 0;
        return 0;
    }
    if ((uint32_t)app != APP_ID)
        return frost_err_set(err, 500, STORE_ERR_CODE,
                             "store %s: not a Frost store (SQLite application_id 0x%08x, Frost "
                             "uses 0x%08x); refusing to open it: check the data dir, or move the "
                             "file away",
                             s->path, (unsigned)app, (unsigned)APP_ID);
    if (ver > store_schema_latest())
        return frost_err_set(err, 500, STORE_ERR_CODE,
                             "store %s: created by a newer Frost (schema version %d; this frost "
                             "knows up to %d); run that newer frost, or restore a backup made by "
                             "this version",
                             s->path, ver, store_schema_latest());
    s->version = ver;
    return 0;
}

static int configure(struct store *s, sqlite3 *db, bool writer, struct frost_err *err)
{
    if (writer) {
        char mode[16];
        int rc = query_one(db, "PRAGMA journal_mode=WAL", NULL, mode, sizeof(mode));
        if (rc != SQLITE_OK)
            return db_error(s, db, rc, err, "switching to WAL mode");
        if (strcmp(mode, "wal") != 0)
            return frost_err_set(err, 500, STORE_ERR_CODE,
                                 "store %s: the filesystem does not support SQLite's WAL mode "
                                 "(journal mode stays \"%s\"); put the data dir on a local disk",
                                 s->path, mode);
    }
    char sql[160];
    snprintf(sql, sizeof(sql),
             "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=%d;%s",
             JOURNAL_SIZE_LIMIT, writer ? "" : " PRAGMA query_only=ON;");
    return exec(s, db, sql, err, "configuring the connection");
}

static int migrate(struct store *s, struct frost_err *err)
{
    int from = s->version, to = store_schema_latest();
    if (from == to)
        return 0;
    if (exec(s, s->wdb, "BEGIN IMMEDIATE", err, "starting the schema migration") < 0)
        return -1;
    for (int v = from; v < to; v++) {
        char what[64];
        snprintf(what, sizeof(what), "migrating the schema to version %d", v + 1);
        if (exec(s, s->wdb, migrations[v], err, what) < 0)
            goto fail;
    }
    char sql[96];
    snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d", (int)APP_ID, to);
    if (exec(s, s->wdb, sql, err, "recording the schema version") < 0 ||
        exec(s, s->wdb, "COMMIT", err, "committing the schema migration") < 0)
        goto fail;
    s->version = to;
    char tmp[256];
    log_info("store_migrated", "path=%s from_version=%d to_version=%d",
             log_quote(s->path, tmp, sizeof(tmp)), from, to);
    return 0;
fail:
    if (!sqlite3_get_autocommit(s->wdb))
        sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int prepare_writer(struct store *s, struct frost_err *err)
{
    for (int i = 0; i < ST_COUNT; i++) {
        int rc = sqlite3_prepare_v3(s->wdb, writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                    NULL);
        if (rc != SQLITE_OK)
            return db_error(s, s->wdb, rc, err, "preparing the writer's statements");
    }
    return 0;
}

/* ---- the writer thread ----------------------------------------------------- */

/* Steps a statement to completion and resets it. On failure fills desc first,
 * since the reset would replace SQLite's message. */
static int run(struct store *s, sqlite3_stmt *st, char *desc, size_t desclen)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = SQLITE_OK;
    else if (desc)
        describe(desc, desclen, s->wdb, rc);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static void set_failed(struct store_batch *b, const char *msg)
{
    b->state = STORE_BATCH_FAILED;
    free(b->msg);
    b->msg = strdup(msg);
}

/* Applies every op of b; on failure writes the message for b's callback. */
static int apply_batch(struct store *s, struct store_batch *b, int64_t now, char *msg,
                       size_t msglen)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct store_op *op = &b->ops[i];
        sqlite3_stmt *st;
        const char *verb;
        int rc;
        switch (op->kind) {
        case STORE_OP_PUT:
            st = s->st[ST_PUT];
            verb = "writing";
            rc = sqlite3_bind_text(st, 3, op->json, -1, SQLITE_STATIC);
            if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 4, now);
            break;
        case STORE_OP_DEL:
            st = s->st[ST_DEL];
            verb = "deleting";
            rc = SQLITE_OK;
            break;
        default: /* STORE_OP_DEL_PREFIX */
            st = s->st[op->upper ? ST_DEL_RANGE : ST_DEL_FROM];
            verb = "deleting the prefix";
            rc = op->upper ? sqlite3_bind_text(st, 3, op->upper, -1, SQLITE_STATIC) : SQLITE_OK;
            break;
        }
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text(st, 1, op->collection, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text(st, 2, op->key, (int)op->key_len, SQLITE_STATIC);
        char desc[FROST_ERR_MSG_MAX / 2];
        if (rc != SQLITE_OK) {
            describe(desc, sizeof(desc), s->wdb, rc);
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
        } else {
            rc = run(s, st, desc, sizeof(desc));
        }
        if (rc != SQLITE_OK) {
            snprintf(msg, msglen, "store %s: %s while %s %s/%s", s->path, desc, verb,
                     op->collection, op->key);
            return rc;
        }
    }
    return SQLITE_OK;
}

static void fail_all(struct store_batch *group, enum store_batch_state which, const char *msg,
                     uint64_t *failed)
{
    for (struct store_batch *b = group; b; b = b->next) {
        if (b->state == which) {
            set_failed(b, msg);
            (*failed)++;
        }
    }
}

static size_t count_state(struct store_batch *group, enum store_batch_state which)
{
    size_t n = 0;
    for (struct store_batch *b = group; b; b = b->next)
        n += b->state == which;
    return n;
}

/* One transaction for the whole group, a savepoint per batch: a batch that
 * fails rolls back alone and the rest commit together, with one fsync. */
static void run_group(struct store *s, struct store_batch *group, uint64_t *commits,
                      uint64_t *committed, uint64_t *failed)
{
    char msg[FROST_ERR_MSG_MAX], desc[FROST_ERR_MSG_MAX / 2];
    int64_t now = clock_wall_ms();
    for (struct store_batch *b = group; b; b = b->next)
        b->state = STORE_BATCH_PENDING;
    for (;;) {
        int rc = run(s, s->st[ST_BEGIN], desc, sizeof(desc));
        if (rc != SQLITE_OK) {
            size_t n = count_state(group, STORE_BATCH_PENDING);
            snprintf(msg, sizeof(msg), "store %s: %s while starting a transaction for %zu write%s",
                     s->path, desc, n, n == 1 ? "" : "s");
            fail_all(group, STORE_BATCH_PENDING, msg, failed);
            return;
        }
        bool restart = false;
        for (struct store_batch *b = group; b && !restart; b = b->next) {
            if (b->state != STORE_BATCH_PENDING)
                continue;
            rc = run(s, s->st[ST_SAVEPOINT], desc, sizeof(desc));
            if (rc == SQLITE_OK)
                rc = apply_batch(s, b, now, msg, sizeof(msg));
            else
                snprintf(msg, sizeof(msg), "store %s: %s while starting a savepoint", s->path,
                         desc);
            if (rc == SQLITE_OK) {
                rc = run(s, s->st[ST_RELEASE], desc, sizeof(desc));
                if (rc != SQLITE_OK)
                    snprintf(msg, sizeof(msg), "store %s: %s while releasing a savepoint", s->path,
                             desc);
            }
            if (rc == SQLITE_OK) {
                b->state = STORE_BATCH_APPLIED;
                continue;
            }
            set_failed(b, msg);
            (*failed)++;
            if (!sqlite3_get_autocommit(s->wdb) &&
                run(s, s->st[ST_ROLLBACK_TO], NULL, 0) == SQLITE_OK &&
                run(s, s->st[ST_RELEASE], NULL, 0) == SQLITE_OK)
                continue;
            /* SQLite rolled the whole transaction back (it may on FULL, IOERR,
             * NOMEM), taking the batches applied so far with it: apply those
             * again in a fresh transaction. Each pass fails at least one
             * batch, so this ends. */
            if (!sqlite3_get_autocommit(s->wdb))
                run(s, s->st[ST_ROLLBACK], NULL, 0);
            for (struct store_batch *p = group; p; p = p->next)
                if (p->state == STORE_BATCH_APPLIED)
                    p->state = STORE_BATCH_PENDING;
            restart = true;
        }
        if (restart)
            continue;
        size_t n = count_state(group, STORE_BATCH_APPLIED);
        if (n == 0) {
            run(s, s->st[ST_ROLLBACK], NULL, 0);
            return;
        }
        rc = run(s, s->st[ST_COMMIT], desc, sizeof(desc));
        if (rc != SQLITE_OK) {
            if (!sqlite3_get_autocommit(s->wdb))
                run(s, s->st[ST_ROLLBACK], NULL, 0);
            snprintf(msg, sizeof(msg), "store %s: %s while committing %zu write%s", s->path, desc,
                     n, n == 1 ? "" : "s");
            fail_all(group, STORE_BATCH_APPLIED, msg, failed);
            return;
        }
        for (struct store_batch *b = group; b; b = b->next)
            if (b->state == STORE_BATCH_APPLIED)
                b->state = STORE_BATCH_COMMITTED;
        (*commits)++;
        *committed += n;
        return;
    }
}

/* One line per distinct message: a failed commit fails every batch of the
 * group with the same text. */
static void log_failures(struct store_batch *group)
{
    char tmp[FROST_ERR_MSG_MAX + 16];
    const char *last = NULL;
    unsigned n = 0;
    for (struct store_batch *b = group; b; b = b->next) {
        if (b->state != STORE_BATCH_FAILED)
            continue;
        const char *m = b->msg ? b->msg : "out of memory";
        if (last && strcmp(m, last) == 0) {
            n++;
            continue;
        }
        if (last)
            log_warn("store_batches_failed", "batches=%u error=%s", n,
                     log_quote(last, tmp, sizeof(tmp)));
        last = m;
        n = 1;
    }
    if (last)
        log_warn("store_batches_failed", "batches=%u error=%s", n,
                 log_quote(last, tmp, sizeof(tmp)));
}

static void *writer_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* close overrides hold: every queued batch gets written. */
        while (!s->stop && (!s->queue || s->hold))
            pthread_cond_wait(&s->cond, &s->mu);
        if (!s->queue)
            break;
        struct store_batch *group = s->queue, **tail = s->queue_tail;
        s->queue = NULL;
        s->queue_tail = &s->queue;
        s->queue_len = 0;
        pthread_mutex_unlock(&s->mu);

        uint64_t commits = 0, committed = 0, failed = 0;
        run_group(s, group, &commits, &committed, &failed);
        if (failed)
            log_failures(group);

        pthread_mutex_lock(&s->mu);
        *s->completed_tail = group;
        s->completed_tail = tail;
        s->stats.commits += commits;
        s->stats.batches += committed;
        s->stats.failures += failed;
        uv_async_send(&s->async);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the loop side --------------------------------------------------------- */

static void run_completed(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    struct store_batch *b = s->completed;
    s->completed = NULL;
    s->completed_tail = &s->completed;
    pthread_mutex_unlock(&s->mu);
    while (b) {
        struct store_batch *next = b->next;
        if (--s->inflight == 0)
            uv_unref((uv_handle_t *)&s->async); /* idle: do not keep the loop alive */
        if (b->done) {
            bool ok = b->state == STORE_BATCH_COMMITTED;
            b->done(b->ud, ok ? 0 : -1,
                    ok       ? NULL
                    : b->msg ? b->msg
                             : "store: write failed (out of memory)");
        }
        store_batch_free(b);
        b = next;
    }
}

static void on_async(uv_async_t *h)
{
    run_completed(container_of(h, struct store, async));
}

/* Everything but the async handle, which is closed separately. */
static void release(struct store *s)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    memset(s->st, 0, sizeof(s->st));
    char tmp[256];
    /* The last connection to close checkpoints the WAL into the main file. */
    if (sqlite3_close(s->rdb) != SQLITE_OK || sqlite3_close(s->wdb) != SQLITE_OK)
        log_warn("store_close_failed", "path=%s", log_quote(s->path, tmp, sizeof(tmp)));
    s->rdb = s->wdb = NULL;
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    s->lock_fd = -1;
}

static void destroy(struct store *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s->lock_path);
    free(s->path);
    free(s);
}

static void on_async_closed(uv_handle_t *h)
{
    destroy(container_of((uv_async_t *)h, struct store, async));
}

int store_open(const struct store_opts *o, struct store **out, struct frost_err *err)
{
    if (!o || !o->path || !o->path[0] || !o->loop || !out)
        return frost_err_set(err, 500, STORE_ERR_CODE, "store: no path or loop given");
    if (!sqlite3_threadsafe())
        return frost_err_set(err, 500, STORE_ERR_CODE,
                             "store %s: this SQLite library was built without thread support, "
                             "which Frost needs",
                             o->path);
    struct store *s = calloc(1, sizeof(*s));
    if (!s)
        return frost_err_set(err, 500, STORE_ERR_CODE, "store %s: out of memory", o->path);
    s->lock_fd = -1;
    s->loop = o->loop;
    s->queue_tail = &s->queue;
    s->completed_tail = &s->completed;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return frost_err_set(err, 500, STORE_ERR_CODE, "store %s: cannot create a mutex", o->path);
    }
    if (pthread_cond_init(&s->cond, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return frost_err_set(err, 500, STORE_ERR_CODE, "store %s: cannot create a condition",
                             o->path);
    }
    size_t plen = strlen(o->path);
    s->path = strdup(o->path);
    s->lock_path = malloc(plen + sizeof(".lock"));
    if (!s->path || !s->lock_path) {
        frost_err_set(err, 500, STORE_ERR_CODE, "store %s: out of memory", o->path);
        goto fail;
    }
    memcpy(s->lock_path, o->path, plen);
    memcpy(s->lock_path + plen, ".lock", sizeof(".lock"));

    /* Lock first: a second process must not even read a header we may be
     * migrating. */
    if (take_lock(s, err) < 0 || open_conn(s, &s->wdb, err) < 0 || check_header(s, err) < 0 ||
        configure(s, s->wdb, true, err) < 0 || migrate(s, err) < 0 ||
        open_conn(s, &s->rdb, err) < 0 || configure(s, s->rdb, false, err) < 0 ||
        prepare_writer(s, err) < 0)
        goto fail;

    /* The thread starts before the async handle exists: it cannot send before
     * the first store_submit, which only a successful open allows. */
    int e = pthread_create(&s->thread, NULL, writer_main, s);
    if (e != 0) {
        frost_err_set(err, 500, STORE_ERR_CODE, "store %s: cannot start the writer thread: %s",
                      s->path, strerror(e));
        goto fail;
    }
    e = uv_async_init(o->loop, &s->async, on_async);
    if (e != 0) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        frost_err_set(err, 500, STORE_ERR_CODE, "store %s: cannot create the loop handle: %s",
                      s->path, uv_strerror(e));
        goto fail;
    }
    uv_unref((uv_handle_t *)&s->async);
    char tmp[256];
    log_info("store_opened", "path=%s schema_version=%d", log_quote(s->path, tmp, sizeof(tmp)),
             s->version);
    *out = s;
    return 0;
fail:
    release(s);
    destroy(s);
    return -1;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    s->closing = true;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    run_completed(s);
    char tmp[256];
    log_info("store_closed", "path=%s commits=%llu batches=%llu failures=%llu",
             log_quote(s->path, tmp, sizeof(tmp)), (unsigned long long)s->stats.commits,
             (unsigned long long)s->stats.batches, (unsigned long long)s->stats.failures);
    release(s);
    uv_close((uv_handle_t *)&s->async, on_async_closed);
}

int store_schema_version(const struct store *s)
{
    return s->version;
}

int store_load(struct store *s, const char *collection,
               int (*each)(void *ud, const char *key, const char *json), void *ud,
               struct frost_err *err)
{
    char what[128];
    snprintf(what, sizeof(what), "loading %s", collection);
    sqlite3_stmt *st _cleanup_stmt_ = NULL;
    int rc = sqlite3_prepare_v2(
        s->rdb, "SELECT key, json FROM documents WHERE collection = ?1 ORDER BY key", -1, &st,
        NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK)
        return db_error(s, s->rdb, rc, err, what);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *json = (const char *)sqlite3_column_text(st, 1);
        if (!key || !json)
            return db_error(s, s->rdb, SQLITE_NOMEM, err, what);
        int r = each(ud, key, json);
        if (r < 0) {
            if (err && err->status == 0)
                frost_err_set(err, 500, STORE_ERR_CODE, "store %s: loading %s stopped at key %s",
                              s->path, collection, key);
            return r;
        }
    }
    if (rc != SQLITE_DONE)
        return db_error(s, s->rdb, rc, err, what);
    return 0;
}

int store_submit(struct store *s, struct store_batch *b, store_done_fn done, void *ud)
{
    if (!b)
        return -1;
    if (!s || s->closing) {
        store_batch_free(b);
        return -1;
    }
    b->next = NULL;
    b->done = done;
    b->ud = ud;
    b->state = STORE_BATCH_PENDING;
    if (s->inflight++ == 0)
        uv_ref((uv_handle_t *)&s->async); /* a write in flight keeps the loop running */
    pthread_mutex_lock(&s->mu);
    *s->queue_tail = b;
    s->queue_tail = &b->next;
    s->queue_len++;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void store_stats(struct store *s, struct store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->queued = s->queue_len;
    pthread_mutex_unlock(&s->mu);
}

void store_writer_hold(struct store *s, int hold)
{
    pthread_mutex_lock(&s->mu);
    s->hold = hold != 0;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}
