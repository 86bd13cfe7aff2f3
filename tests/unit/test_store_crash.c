/* Crash durability of src/store: a child process writes as fast as it can and
 * reports every acknowledged batch (done callback, status 0) on a pipe; the
 * parent SIGKILLs it mid-stream, reopens the store and checks that every
 * acknowledged batch is there, and that no batch is there in part. Three
 * rounds on the same file, so recovery of a killed store is exercised too.
 *
 * SIGKILL tests the process dying, not the machine: the kernel still holds
 * what was written. Power-loss durability rests on synchronous=FULL (an fsync
 * per commit), which this cannot observe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "store/store.h"

#define IN_FLIGHT     8 /* batches the child keeps submitted at once */
#define DOCS_PER      3 /* documents per batch, to catch a torn batch */
#define ROUNDS        3
#define MAX_BATCHES   (1 << 20)
#define ACKS_PER_KILL 150 /* kill after this many, plus a bit more per round */

struct child {
    struct store *s;
    int out;
    uint32_t next;
};

static void child_submit(struct child *c);

struct ack {
    struct child *c;
    uint32_t id;
};

static void child_done(void *ud, int status, const char *msg)
{
    (void)msg;
    struct ack *a = ud;
    struct child *c = a->c;
    uint32_t id = status == 0 ? a->id : UINT32_MAX; /* UINT32_MAX: a write failed */
    free(a);
    if (write(c->out, &id, sizeof(id)) != sizeof(id))
        _exit(0); /* the parent is gone */
    child_submit(c);
}

static void child_submit(struct child *c)
{
    struct store_batch *b = store_batch_new();
    struct ack *a = malloc(sizeof(*a));
    if (!b || !a)
        _exit(3);
    a->c = c;
    a->id = c->next++;
    for (int d = 0; d < DOCS_PER; d++) {
        char key[32], json[64];
        snprintf(key, sizeof(key), "b%07u/%d", a->id, d);
        snprintf(json, sizeof(json), "{\"batch\":%u,\"doc\":%d}", a->id, d);
        if (store_batch_put(b, STORE_FUNCTIONS, key, json) < 0)
            _exit(4);
    }
    if (store_submit(c->s, b, child_done, a) < 0)
        _exit(5);
}

static void run_child(const char *path, int out, uint32_t first)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_opts o = {.path = path, .loop = &loop};
    struct child c = {.out = out, .next = first};
    struct frost_err err = {0};
    if (store_open(&o, &c.s, &err) < 0) {
        fprintf(stderr, "child: %s\n", err.msg);
        _exit(2);
    }
    for (int i = 0; i < IN_FLIGHT; i++)
        child_submit(&c);
    uv_run(&loop, UV_RUN_DEFAULT); /* runs until killed */
    _exit(6);
}

/* Reads whole ids until n of them arrived, or EOF. Returns how many. */
static size_t read_acks(int fd, uint32_t *ids, size_t n)
{
    size_t got = 0, partial = 0;
    char *p = (char *)ids;
    while (got < n) {
        ssize_t r = read(fd, p + got * sizeof(uint32_t) + partial, sizeof(uint32_t) - partial);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        partial += (size_t)r;
        if (partial == sizeof(uint32_t)) {
            partial = 0;
            got++;
        }
    }
    return got;
}

struct seen {
    uint8_t *docs; /* per batch id: bit d set when doc d is stored */
    uint32_t max_id;
    uint64_t count;
};

static int on_doc(void *ud, const char *key, const char *json)
{
    struct seen *sn = ud;
    unsigned id, d;
    assert_int_equal(sscanf(key, "b%7u/%u", &id, &d), 2);
    assert_true(id < MAX_BATCHES);
    assert_true(d < DOCS_PER);
    char want[64];
    snprintf(want, sizeof(want), "{\"batch\":%u,\"doc\":%u}", id, d);
    assert_string_equal(json, want);
    sn->docs[id] |= (uint8_t)(1u << d);
    if (id + 1 > sn->max_id)
        sn->max_id = id + 1;
    sn->count++;
    return 0;
}

static void test_acknowledged_writes_survive_sigkill(void **state)
{
    (void)state;
    char dir[64], path[128];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/frost-crash-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/frost.db", dir);

    uint32_t *acked = calloc(MAX_BATCHES, sizeof(uint32_t));
    struct seen sn = {.docs = calloc(MAX_BATCHES, 1)};
    assert_non_null(acked);
    assert_non_null(sn.docs);
    size_t nacked = 0;
    uint32_t first = 0;

    for (int round = 0; round < ROUNDS; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            run_child(path, p[1], first);
        }
        close(p[1]);
        size_t want = ACKS_PER_KILL + (size_t)round * 37;
        size_t got = read_acks(p[0], acked + nacked, want);
        assert_int_equal(got, want); /* EOF early: the child failed */
        assert_int_equal(kill(pid, SIGKILL), 0);
        int ws = 0;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        assert_true(WIFSIGNALED(ws));
        assert_int_equal(WTERMSIG(ws), SIGKILL);
        /* Acknowledgements written before the kill count too. */
        got += read_acks(p[0], acked + nacked + got, MAX_BATCHES - nacked - got);
        close(p[0]);
        for (size_t i = nacked; i < nacked + got; i++)
            assert_int_not_equal(acked[i], UINT32_MAX);
        nacked += got;

        /* Every acknowledged batch is there in full; no batch is there in part. */
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        struct store_opts o = {.path = path, .loop = &loop};
        struct store *s = NULL;
        struct frost_err err = {0};
        if (store_open(&o, &s, &err) < 0)
            fail_msg("reopen after SIGKILL: %s", err.msg);
        memset(sn.docs, 0, MAX_BATCHES);
        sn.max_id = 0;
        sn.count = 0;
        assert_int_equal(store_load(s, STORE_FUNCTIONS, on_doc, &sn, &err), 0);
        for (size_t i = 0; i < nacked; i++)
            assert_int_equal(sn.docs[acked[i]], (1u << DOCS_PER) - 1);
        uint64_t batches = 0;
        for (uint32_t id = 0; id < sn.max_id; id++) {
            assert_true(sn.docs[id] == 0 || sn.docs[id] == (1u << DOCS_PER) - 1);
            batches += sn.docs[id] != 0;
        }
        print_message("round %d: %zu acknowledged in all, %llu batches stored\n", round, nacked,
                      (unsigned long long)batches);
        assert_true(batches >= nacked);
        store_close(s);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
        first = sn.max_id; /* the next child writes new ids */
    }
    free(acked);
    free(sn.docs);

    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[sizeof(dir) + sizeof(e->d_name) + 1];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(p);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    log_threshold = LOG_OFF;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acknowledged_writes_survive_sigkill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
