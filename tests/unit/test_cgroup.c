/* Unit tests for src/runtime/cgroup.c.
 *
 * Fixture trees (tests/unit/fixtures/cgroup/<kind>/) hold a mounts file, a
 * self_cgroup file and the few cgroupfs files detection reads. Tests copy a
 * tree into a scratch dir and use it as sysroot, so every write lands in a
 * plain file there. A plain dir is not cgroupfs: the kernel would populate a
 * new group with control files, so tests "simulate the kernel" by creating
 * those files before cg_create/cg_root_init (both reuse an existing dir).
 *
 * The live test drives the real host's cgroups (root and writable cgroupfs
 * only; otherwise it is skipped with the reason). */
#define _GNU_SOURCE /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/cgroup.h"

#define MiB (1024ull * 1024ull)

/* Room for a group path plus an instance name, so builds with gcc's
 * -Wformat-truncation stay quiet. */
#define SUB_MAX (PATH_MAX + 64)

static char fixtures[PATH_MAX];

/* ---- scratch trees ------------------------------------------------------ */

static char copy_src[SUB_MAX], copy_dst[PATH_MAX];

static int copy_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    char dst[PATH_MAX * 2];
    snprintf(dst, sizeof(dst), "%s%s", copy_dst, path + strlen(copy_src));
    if (type == FTW_D)
        return mkdir(dst, 0755) < 0 && errno != EEXIST ? -1 : 0;
    if (type != FTW_F)
        return 0;
    int in = open(path, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, st->st_mode);
    char b[4096];
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, b, sizeof(b))) > 0)
        if (write(out, b, (size_t)n) != n)
            break;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return in < 0 || out < 0 ? -1 : 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_tree(const char *path)
{
    (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Copies fixture `kind` into a fresh scratch dir; returns its path (static
 * storage per call site is not enough: callers keep it in a local array). */
static void mk_sysroot(const char *kind, char out[PATH_MAX])
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, PATH_MAX, "%s/frost-cgtest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(out));
    snprintf(copy_src, sizeof(copy_src), "%s/%s", fixtures, kind);
    snprintf(copy_dst, sizeof(copy_dst), "%s", out);
    assert_int_equal(nftw(copy_src, copy_one, 16, FTW_PHYS), 0);
}

static void mkdir_p(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            (void)mkdir(p, 0755);
            *s = '/';
        }
    (void)mkdir(p, 0755);
}

static void put(const char *dir, const char *file, const char *content)
{
    char p[PATH_MAX * 2];
    mkdir_p(dir);
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

/* The content of dir/file with one trailing newline removed ("" if absent). */
static const char *get(const char *dir, const char *file)
{
    static char out[4096];
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    out[0] = 0;
    FILE *f = fopen(p, "r");
    if (!f)
        return out;
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    fclose(f);
    out[n] = 0;
    if (n && out[n - 1] == '\n')
        out[n - 1] = 0;
    return out;
}

static bool exists(const char *dir, const char *file)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s%s%s", dir, file ? "/" : "", file ? file : "");
    return access(p, F_OK) == 0;
}

static const char *cat(const char *a, const char *b)
{
    static char out[4][PATH_MAX * 2];
    static int i;
    i = (i + 1) % 4;
    snprintf(out[i], sizeof(out[i]), "%s%s", a, b);
    return out[i];
}

/* What the kernel puts into a new v2 group (with cpu, memory, pids enabled). */
static void sim_v2(const char *dir)
{
    put(dir, "cgroup.procs", "");
    put(dir, "cgroup.controllers", "cpu memory pids\n");
    put(dir, "cgroup.subtree_control", "");
    put(dir, "cgroup.freeze", "0\n");
    put(dir, "cgroup.events", "populated 0\nfrozen 0\n");
    put(dir, "cgroup.kill", "");
    put(dir, "cpu.max", "max 100000\n");
    put(dir, "cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n");
    put(dir, "memory.max", "max\n");
    put(dir, "memory.swap.max", "max\n");
    put(dir, "memory.current", "0\n");
    put(dir, "memory.peak", "0\n");
    put(dir, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    put(dir, "pids.max", "max\n");
}

/* A bare v2 group (the hybrid host's unified tree has no controllers). */
static void sim_v2_core(const char *dir)
{
    put(dir, "cgroup.procs", "");
    put(dir, "cgroup.controllers", "");
    put(dir, "cgroup.subtree_control", "");
    put(dir, "cgroup.freeze", "0\n");
    put(dir, "cgroup.events", "populated 0\nfrozen 0\n");
    put(dir, "cgroup.kill", "");
    put(dir, "cpu.stat", "usage_usec 7\n");
}

/* One set of v1 files serves every hierarchy: extra files are never read. */
static void sim_v1(const char *dir)
{
    put(dir, "cgroup.procs", "");
    put(dir, "cpu.cfs_period_us", "100000\n");
    put(dir, "cpu.cfs_quota_us", "-1\n");
    put(dir, "cpuacct.usage", "0\n");
    put(dir, "memory.limit_in_bytes", "9223372036854771712\n");
    put(dir, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
    put(dir, "memory.usage_in_bytes", "0\n");
    put(dir, "memory.max_usage_in_bytes", "0\n");
    put(dir, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    put(dir, "pids.max", "max\n");
    put(dir, "freezer.state", "THAWED\n");
}

/* Removes the files of a simulated group so rmdir behaves as on cgroupfs. */
static void unsim(const char *dir)
{
    char p[PATH_MAX * 2];
    FILE *ls;
    snprintf(p, sizeof(p), "find '%s' -maxdepth 1 -type f -delete", dir);
    ls = popen(p, "r");
    assert_non_null(ls);
    pclose(ls);
}

static void detect(const char *sysroot, struct cg_root *r)
{
    struct frost_err err = {0};
    int rc = cg_detect(sysroot, "/mounts", "/self_cgroup", "frost-t", r, &err);
    if (rc != 0)
        fail_msg("cg_detect: %s", err.msg);
}

static void must(int rc, const struct frost_err *err, const char *what)
{
    if (rc != 0)
        fail_msg("%s: rc=%d %s", what, rc, err->msg);
}

static void collect(void *ud, const char *id)
{
    char *out = ud;
    strcat(out, id);
    strcat(out, ",");
}

/* A child that only waits to be signalled; its pid stands in for a process
 * of a fixture group, so signals never reach a stranger. */
static pid_t spawn_pauser(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

/* ---- detection ---------------------------------------------------------- */

static void test_detect_v2(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("v2", sr);
    struct cg_root r;
    detect(sr, &r);
    assert_int_equal(r.mode, CG_V2);
    assert_string_equal(r.v2, cat(sr, "/sys/fs/cgroup/frost-t"));
    assert_true(r.v2_cpu && r.v2_memory && r.v2_pids);
    /* In the root group freeze/kill support cannot be seen; assumed until init. */
    assert_true(r.v2_freeze && r.v2_kill);
    assert_string_equal(r.v1_cpu, "");
    assert_string_equal(r.v1_memory, "");
    assert_string_equal(r.v1_pids, "");
    assert_string_equal(r.v1_freezer, "");
    assert_string_equal(r.v1_cpuacct, "");
    assert_string_equal(r.warning, "");
    rm_tree(sr);
}

static void test_detect_v2_nested(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("v2-nested", sr);
    struct cg_root r;
    detect(sr, &r);
    assert_int_equal(r.mode, CG_V2);
    assert_string_equal(
        r.v2, cat(sr, "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/frost-t"));
    assert_true(r.v2_cpu && r.v2_memory && r.v2_pids);
    /* This group shows cgroup.freeze but no cgroup.kill (a 5.2–5.13 kernel). */
    assert_true(r.v2_freeze);
    assert_false(r.v2_kill);
    assert_string_equal(r.warning, "");
    rm_tree(sr);
}

static void test_detect_v1_combined(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("v1", sr);
    struct cg_root r;
    detect(sr, &r);
    assert_int_equal(r.mode, CG_V1);
    assert_string_equal(r.v2, "");
    assert_false(r.v2_cpu || r.v2_memory || r.v2_pids || r.v2_freeze || r.v2_kill);
    const char *cpu = cat(sr, "/sys/fs/cgroup/cpu,cpuacct/system.slice/frost.service/frost-t");
    assert_string_equal(r.v1_cpu, cpu);
    assert_string_equal(r.v1_cpuacct, cpu);
    assert_string_equal(r.v1_memory,
                        cat(sr, "/sys/fs/cgroup/memory/system.slice/frost.service/frost-t"));
    assert_string_equal(r.v1_pids,
                        cat(sr, "/sys/fs/cgroup/pids/system.slice/frost.service/frost-t"));
    assert_string_equal(r.v1_freezer, cat(sr, "/sys/fs/cgroup/freezer/frost-t"));
    assert_string_equal(r.warning, "");
    rm_tree(sr);
}

static void test_detect_hybrid(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("hybrid", sr);
    struct cg_root r;
    detect(sr, &r);
    assert_int_equal(r.mode, CG_HYBRID);
    assert_string_equal(r.v2, cat(sr, "/sys/fs/cgroup/unified/frost-t"));
    assert_false(r.v2_cpu || r.v2_memory || r.v2_pids);
    assert_true(r.v2_freeze);
    assert_string_equal(r.v1_cpu, cat(sr, "/sys/fs/cgroup/cpu/frost-t"));
    assert_string_equal(r.v1_cpuacct, cat(sr, "/sys/fs/cgroup/cpuacct/frost-t"));
    assert_string_equal(
        r.v1_memory,
        cat(sr, "/sys/fs/cgroup/memory/process_api/c47e299f9071116cd91a166cefca6257/frost-t"));
    assert_string_equal(r.v1_pids, cat(sr, "/sys/fs/cgroup/pids/frost-t"));
    /* Kept as the fallback until cg_root_init sees whether v2 can freeze. */
    assert_string_equal(r.v1_freezer, cat(sr, "/sys/fs/cgroup/freezer/frost-t"));
    assert_string_equal(r.warning, "");
    rm_tree(sr);
}

static void test_detect_none(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("none", sr);
    struct cg_root r;
    detect(sr, &r);
    assert_int_equal(r.mode, CG_NONE);
    assert_string_equal(r.v2, "");
    assert_string_equal(r.v1_memory, "");
    assert_non_null(strstr(r.warning, "no usable cgroup hierarchy"));

    /* An unreadable mounts file is a warning too, never an error. */
    struct frost_err err = {0};
    assert_int_equal(cg_detect(sr, "/nope", "/self_cgroup", "frost-t", &r, &err), 0);
    assert_int_equal(r.mode, CG_NONE);
    assert_non_null(strstr(r.warning, "cannot read /nope"));

    /* A name that is not one path component is a programming error. */
    assert_int_equal(cg_detect(sr, "/mounts", "/self_cgroup", "a/b", &r, &err), -1);
    assert_non_null(strstr(err.msg, "invalid parent group name"));
    assert_int_equal(cg_detect(sr, "/mounts", "/self_cgroup", "..", &r, &err), -1);
    rm_tree(sr);
}

static void test_detect_mount_root_fallback(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("v2", sr);
    /* A container that sees its host path but has its own group as the mount root. */
    put(sr, "self_cgroup", "0::/docker/0123abcd\n");
    struct cg_root r;
    detect(sr, &r);
    assert_int_equal(r.mode, CG_V2);
    assert_string_equal(r.v2, cat(sr, "/sys/fs/cgroup/frost-t"));
    rm_tree(sr);
}

static void test_detect_escaped_mountpoint(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("none", sr);
    put(sr, "mounts", "cgroup2 /cg\\040root cgroup2 rw 0 0\n");
    put(cat(sr, "/cg root"), "cgroup.controllers", "memory\n");
    struct cg_root r;
    detect(sr, &r);
    assert_int_equal(r.mode, CG_V2);
    assert_string_equal(r.v2, cat(sr, "/cg root/frost-t"));
    assert_false(r.v2_cpu);
    assert_true(r.v2_memory);
    assert_non_null(strstr(r.warning, "no cpu controller"));
    assert_non_null(strstr(r.warning, "no pids controller"));
    rm_tree(sr);
}

/* ---- lifecycles on fixture trees ---------------------------------------- */

static void test_v2_lifecycle(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("v2", sr);
    struct cg_root r;
    struct frost_err err = {0};
    detect(sr, &r);
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", r.v2);
    sim_v2(parent);
    put(parent, "cgroup.subtree_control", "cpu memory\n");
    must(cg_root_init(&r, &err), &err, "cg_root_init");
    /* The fixture root had memory and pids on already: only cpu was missing. */
    assert_string_equal(get(cat(sr, "/sys/fs/cgroup"), "cgroup.subtree_control"), "+cpu");
    assert_string_equal(get(parent, "cgroup.subtree_control"), "+pids");
    assert_true(r.v2_cpu && r.v2_memory && r.v2_pids && r.v2_freeze && r.v2_kill);
    assert_string_equal(r.warning, "");
    assert_int_equal(cg_root_init(&r, &err), 0); /* idempotent */

    const char *inst = cat(parent, "/inst-1");
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", inst);
    sim_v2(dir);
    struct cg g;
    struct cg_limits lim = {.cpu = 1.5, .memory_bytes = 64 * MiB, .pids_max = 100};
    must(cg_create(&r, "inst-1", &lim, &g, &err), &err, "cg_create");
    assert_string_equal(g.id, "inst-1");
    assert_ptr_equal(g.root, &r);
    assert_string_equal(get(dir, "cpu.max"), "150000 100000");
    assert_string_equal(get(dir, "memory.max"), "67108864");
    assert_string_equal(get(dir, "memory.swap.max"), "0");
    assert_string_equal(get(dir, "pids.max"), "100");

    struct cg_limits none = {0};
    must(cg_set_limits(&g, &none, &err), &err, "cg_set_limits");
    assert_string_equal(get(dir, "cpu.max"), "max 100000");
    assert_string_equal(get(dir, "memory.max"), "max");
    assert_string_equal(get(dir, "memory.swap.max"), "max");
    assert_string_equal(get(dir, "pids.max"), "max");
    struct cg_limits tiny = {.cpu = 0.001};
    must(cg_set_limits(&g, &tiny, &err), &err, "cg_set_limits tiny");
    assert_string_equal(get(dir, "cpu.max"), "1000 100000");
    struct cg_limits bad = {.cpu = -1};
    assert_int_equal(cg_set_limits(&g, &bad, &err), -1);
    assert_non_null(strstr(err.msg, "invalid cpu limit"));

    /* Without memory.swap.max (no swap accounting) only memory.max is written. */
    unlink(cat(dir, "/memory.swap.max"));
    must(cg_set_limits(&g, &lim, &err), &err, "cg_set_limits no swap file");
    assert_false(exists(dir, "memory.swap.max"));

    must(cg_join(&g, 1234, &err), &err, "cg_join");
    assert_string_equal(get(dir, "cgroup.procs"), "1234");

    char ev[PATH_MAX];
    cg_events_path(&g, ev, sizeof(ev));
    assert_string_equal(ev, cat(dir, "/cgroup.events"));
    must(cg_freeze(&g, true, &err), &err, "cg_freeze");
    assert_string_equal(get(dir, "cgroup.freeze"), "1");
    assert_int_equal(cg_frozen(&g), 2);
    put(dir, "cgroup.events", "populated 1\nfrozen 1\n");
    assert_int_equal(cg_frozen(&g), 1);
    must(cg_freeze(&g, false, &err), &err, "cg_thaw");
    assert_string_equal(get(dir, "cgroup.freeze"), "0");
    assert_int_equal(cg_frozen(&g), 2);
    put(dir, "cgroup.events", "populated 1\nfrozen 0\n");
    assert_int_equal(cg_frozen(&g), 0);

    put(dir, "memory.current", "1048576\n");
    put(dir, "memory.peak", "2097152\n");
    put(dir, "memory.events", "low 0\nhigh 0\nmax 9\noom 4\noom_kill 3\noom_group_kill 0\n");
    put(dir, "cpu.stat", "usage_usec 12345\nuser_usec 10000\nsystem_usec 2345\n");
    struct cg_stats st;
    must(cg_stats(&g, &st, &err), &err, "cg_stats");
    assert_int_equal(st.cpu_usage_us, 12345);
    assert_int_equal(st.memory_bytes, 1048576);
    assert_int_equal(st.memory_peak, 2097152);
    assert_int_equal(st.oom_kills, 3);
    /* An older kernel has no memory.peak: 0, not an error. */
    unlink(cat(dir, "/memory.peak"));
    must(cg_stats(&g, &st, &err), &err, "cg_stats without peak");
    assert_int_equal(st.memory_peak, 0);
    assert_int_equal(st.memory_bytes, 1048576);

    put(dir, "cgroup.procs", "10\n11\n");
    assert_int_equal(cg_count(&g), 2);
    assert_int_equal(cg_signal_all(&g, SIGKILL, &err), 1);
    assert_string_equal(get(dir, "cgroup.kill"), "1");

    /* Leftovers: instance dirs only, files in the parent are not instances. */
    const char *dir2 = cat(parent, "/inst-2");
    sim_v2(dir2);
    char ids[256] = "";
    assert_int_equal(cg_list(&r, collect, ids), 2);
    assert_string_equal(ids, "inst-1,inst-2,");

    assert_int_equal(cg_root_cleanup(&r, &err), -1);
    assert_non_null(strstr(err.msg, "instance groups remain"));

    unsim(dir);
    must(cg_destroy(&g, &err), &err, "cg_destroy");
    assert_false(exists(dir, NULL));
    must(cg_destroy(&g, &err), &err, "cg_destroy again");
    struct cg g2 = {.root = &r};
    snprintf(g2.id, sizeof(g2.id), "inst-2");
    unsim(cat(parent, "/inst-2"));
    must(cg_destroy(&g2, &err), &err, "cg_destroy inst-2");
    assert_int_equal(cg_list(&r, collect, ids), 0);

    unsim(parent);
    must(cg_root_cleanup(&r, &err), &err, "cg_root_cleanup");
    assert_false(exists(parent, NULL));
    must(cg_root_cleanup(&r, &err), &err, "cg_root_cleanup again");
    assert_int_equal(cg_list(&r, collect, ids), 0);
    rm_tree(sr);
}

static void test_v2_nested_enable_failure(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("v2-nested", sr);
    struct cg_root r;
    struct frost_err err = {0};
    detect(sr, &r);
    /* Break our own group's subtree_control (a dir in place of the file): the
     * group degrades to no v2 limits, with a warning naming it. */
    const char *own = cat(sr, "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope");
    char sub[PATH_MAX];
    snprintf(sub, sizeof(sub), "%s/cgroup.subtree_control", own);
    assert_int_equal(unlink(sub), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    sim_v2(r.v2);
    unlink(cat(r.v2, "/cgroup.kill")); /* a 5.2–5.13 kernel, as the fixture's own group */
    must(cg_root_init(&r, &err), &err, "cg_root_init");
    assert_false(r.v2_kill);
    assert_false(r.v2_cpu || r.v2_memory || r.v2_pids);
    assert_non_null(strstr(r.warning, own));
    assert_non_null(strstr(r.warning, "no cpu controller: no cpu limits"));
    assert_non_null(strstr(r.warning, "no memory controller: no memory limits"));
    assert_non_null(strstr(r.warning, "no pids controller: no pids limits"));
    assert_true(r.v2_freeze);
    assert_int_equal(r.mode, CG_V2);

    /* Limits are then skipped, not errors. */
    char dir[SUB_MAX];
    snprintf(dir, sizeof(dir), "%s/i", r.v2);
    sim_v2(dir);
    unlink(cat(dir, "/cgroup.kill"));
    struct cg g;
    struct cg_limits lim = {.cpu = 2, .memory_bytes = MiB, .pids_max = 5};
    must(cg_create(&r, "i", &lim, &g, &err), &err, "cg_create");
    assert_string_equal(get(dir, "cpu.max"), "max 100000");
    assert_string_equal(get(dir, "pids.max"), "max");
    /* No cgroup.kill here: SIGKILL goes process by process. */
    pid_t kid = spawn_pauser();
    char pids[64];
    snprintf(pids, sizeof(pids), "%d\n", (int)kid);
    put(dir, "cgroup.procs", pids);
    assert_int_equal(cg_signal_all(&g, SIGKILL, &err), 1);
    int ws;
    assert_int_equal(waitpid(kid, &ws, 0), kid);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    assert_false(exists(dir, "cgroup.kill"));
    rm_tree(sr);
}

static void test_v1_lifecycle(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("v1", sr);
    struct cg_root r;
    struct frost_err err = {0};
    detect(sr, &r);
    must(cg_root_init(&r, &err), &err, "cg_root_init");
    assert_int_equal(r.mode, CG_V1);
    assert_true(exists(r.v1_cpu, NULL));
    assert_true(exists(r.v1_memory, NULL));
    assert_true(exists(r.v1_pids, NULL));
    assert_true(exists(r.v1_freezer, NULL));
    assert_string_equal(r.warning, "");

    char cpu[SUB_MAX], mem[SUB_MAX], pids[SUB_MAX], frz[SUB_MAX];
    snprintf(cpu, sizeof(cpu), "%s/i1", r.v1_cpu);
    snprintf(mem, sizeof(mem), "%s/i1", r.v1_memory);
    snprintf(pids, sizeof(pids), "%s/i1", r.v1_pids);
    snprintf(frz, sizeof(frz), "%s/i1", r.v1_freezer);
    sim_v1(cpu);
    sim_v1(mem);
    sim_v1(pids);
    sim_v1(frz);
    struct cg g;
    struct cg_limits lim = {.cpu = 1.5, .memory_bytes = 32 * MiB, .pids_max = 50};
    must(cg_create(&r, "i1", &lim, &g, &err), &err, "cg_create");
    assert_string_equal(get(cpu, "cpu.cfs_period_us"), "100000");
    assert_string_equal(get(cpu, "cpu.cfs_quota_us"), "150000");
    assert_string_equal(get(mem, "memory.limit_in_bytes"), "33554432");
    assert_string_equal(get(mem, "memory.memsw.limit_in_bytes"), "33554432");
    assert_string_equal(get(pids, "pids.max"), "50");
    struct cg_limits none = {0};
    must(cg_set_limits(&g, &none, &err), &err, "cg_set_limits");
    assert_string_equal(get(cpu, "cpu.cfs_quota_us"), "-1");
    assert_string_equal(get(mem, "memory.limit_in_bytes"), "-1");
    assert_string_equal(get(mem, "memory.memsw.limit_in_bytes"), "-1");
    assert_string_equal(get(pids, "pids.max"), "max");

    must(cg_join(&g, 77, &err), &err, "cg_join");
    assert_string_equal(get(cpu, "cgroup.procs"), "77");
    assert_string_equal(get(mem, "cgroup.procs"), "77");
    assert_string_equal(get(pids, "cgroup.procs"), "77");
    assert_string_equal(get(frz, "cgroup.procs"), "77");

    char ev[PATH_MAX];
    cg_events_path(&g, ev, sizeof(ev));
    assert_string_equal(ev, "");
    must(cg_freeze(&g, true, &err), &err, "cg_freeze");
    assert_string_equal(get(frz, "freezer.state"), "FROZEN");
    assert_int_equal(cg_frozen(&g), 1);
    put(frz, "freezer.state", "FREEZING\n");
    assert_int_equal(cg_frozen(&g), 2);
    must(cg_freeze(&g, false, &err), &err, "cg_thaw");
    assert_string_equal(get(frz, "freezer.state"), "THAWED");
    assert_int_equal(cg_frozen(&g), 0);

    put(cpu, "cpuacct.usage", "5000000\n");
    put(mem, "memory.usage_in_bytes", "4096\n");
    put(mem, "memory.max_usage_in_bytes", "8192\n");
    put(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    struct cg_stats st;
    must(cg_stats(&g, &st, &err), &err, "cg_stats");
    assert_int_equal(st.cpu_usage_us, 5000);
    assert_int_equal(st.memory_bytes, 4096);
    assert_int_equal(st.memory_peak, 8192);
    assert_int_equal(st.oom_kills, 2);
    /* Before 4.13 oom_control had no oom_kill line. */
    put(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
    must(cg_stats(&g, &st, &err), &err, "cg_stats old kernel");
    assert_int_equal(st.oom_kills, 0);

    /* The same process in every hierarchy is signalled once; a frozen group
     * is thawed after signalling so the signal can act. */
    pid_t kid = spawn_pauser();
    char line[64];
    snprintf(line, sizeof(line), "%d\n", (int)kid);
    put(cpu, "cgroup.procs", line);
    put(mem, "cgroup.procs", line);
    put(pids, "cgroup.procs", line);
    put(frz, "cgroup.procs", line);
    put(frz, "freezer.state", "FROZEN\n");
    assert_int_equal(cg_count(&g), 1);
    assert_int_equal(cg_signal_all(&g, SIGTERM, &err), 1);
    assert_string_equal(get(frz, "freezer.state"), "THAWED");
    int ws;
    assert_int_equal(waitpid(kid, &ws, 0), kid);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGTERM);
    /* A pid that has gone meanwhile is not an error. */
    assert_int_equal(cg_signal_all(&g, SIGTERM, &err), 0);

    char ids[64] = "";
    assert_int_equal(cg_list(&r, collect, ids), 1);
    assert_string_equal(ids, "i1,");

    /* A group missing in one hierarchy: reading its processes is an error. */
    unsim(pids);
    assert_int_equal(rmdir(pids), 0);
    assert_int_equal(cg_count(&g), -1);
    assert_int_equal(cg_signal_all(&g, SIGTERM, &err), -1);
    assert_non_null(strstr(err.msg, "cannot read"));

    unsim(cpu);
    unsim(mem);
    unsim(frz);
    must(cg_destroy(&g, &err), &err, "cg_destroy");
    assert_false(exists(cpu, NULL) || exists(mem, NULL) || exists(frz, NULL));
    must(cg_root_cleanup(&r, &err), &err, "cg_root_cleanup");
    assert_false(exists(r.v1_cpu, NULL) || exists(r.v1_memory, NULL) || exists(r.v1_pids, NULL) ||
                 exists(r.v1_freezer, NULL));
    rm_tree(sr);
}

static void test_hybrid_lifecycle(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("hybrid", sr);
    struct cg_root r;
    struct frost_err err = {0};
    detect(sr, &r);
    char v1frz[PATH_MAX];
    snprintf(v1frz, sizeof(v1frz), "%s", r.v1_freezer);
    sim_v2_core(r.v2);
    must(cg_root_init(&r, &err), &err, "cg_root_init");
    assert_int_equal(r.mode, CG_HYBRID);
    assert_true(r.v2_freeze && r.v2_kill);
    /* v2 freezes: no v1 freezer group is made. */
    assert_string_equal(r.v1_freezer, "");
    assert_false(exists(v1frz, NULL));
    /* Nothing was enabled in the controller-less unified tree. */
    assert_string_equal(get(cat(sr, "/sys/fs/cgroup/unified"), "cgroup.subtree_control"), "");
    assert_string_equal(r.warning, "");

    char v2[SUB_MAX], cpu[SUB_MAX], acct[SUB_MAX], mem[SUB_MAX], pids[SUB_MAX];
    snprintf(v2, sizeof(v2), "%s/h", r.v2);
    snprintf(cpu, sizeof(cpu), "%s/h", r.v1_cpu);
    snprintf(acct, sizeof(acct), "%s/h", r.v1_cpuacct);
    snprintf(mem, sizeof(mem), "%s/h", r.v1_memory);
    snprintf(pids, sizeof(pids), "%s/h", r.v1_pids);
    sim_v2_core(v2);
    sim_v1(cpu);
    sim_v1(acct);
    sim_v1(mem);
    sim_v1(pids);
    struct cg g;
    struct cg_limits lim = {.cpu = 0.25, .memory_bytes = 128 * MiB, .pids_max = 1024};
    must(cg_create(&r, "h", &lim, &g, &err), &err, "cg_create");
    assert_string_equal(get(cpu, "cpu.cfs_quota_us"), "25000");
    assert_string_equal(get(mem, "memory.limit_in_bytes"), "134217728");
    assert_string_equal(get(pids, "pids.max"), "1024");
    assert_false(exists(v2, "cpu.max"));

    must(cg_freeze(&g, true, &err), &err, "cg_freeze");
    assert_string_equal(get(v2, "cgroup.freeze"), "1");
    put(v2, "cgroup.events", "populated 1\nfrozen 1\n");
    assert_int_equal(cg_frozen(&g), 1);
    char ev[PATH_MAX];
    cg_events_path(&g, ev, sizeof(ev));
    assert_string_equal(ev, cat(v2, "/cgroup.events"));

    put(acct, "cpuacct.usage", "1999\n");
    put(mem, "memory.usage_in_bytes", "100\n");
    struct cg_stats st;
    must(cg_stats(&g, &st, &err), &err, "cg_stats");
    assert_int_equal(st.cpu_usage_us, 1); /* ns → µs, from cpuacct, not v2 cpu.stat */
    assert_int_equal(st.memory_bytes, 100);

    /* Frozen and SIGKILL: cgroup.kill kills frozen tasks, no thaw needed. */
    assert_int_equal(cg_signal_all(&g, SIGKILL, &err), 1);
    assert_string_equal(get(v2, "cgroup.kill"), "1");
    assert_string_equal(get(v2, "cgroup.freeze"), "1");

    const char *dirs[] = {v2, cpu, acct, mem, pids};
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++)
        unsim(dirs[i]);
    must(cg_destroy(&g, &err), &err, "cg_destroy");
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++)
        assert_false(exists(dirs[i], NULL));
    unsim(r.v2);
    must(cg_root_cleanup(&r, &err), &err, "cg_root_cleanup");
    rm_tree(sr);

    /* A kernel before 5.2: the unified tree cannot freeze, the v1 freezer does. */
    mk_sysroot("hybrid", sr);
    detect(sr, &r);
    must(cg_root_init(&r, &err), &err, "cg_root_init old kernel");
    assert_false(r.v2_freeze || r.v2_kill);
    assert_string_equal(r.v1_freezer, cat(sr, "/sys/fs/cgroup/freezer/frost-t"));
    assert_true(exists(r.v1_freezer, NULL));
    assert_string_equal(r.warning, "");
    rm_tree(sr);
}

static void test_none_lifecycle(void **state)
{
    (void)state;
    char sr[PATH_MAX];
    mk_sysroot("none", sr);
    struct cg_root r;
    struct frost_err err = {0};
    detect(sr, &r);
    must(cg_root_init(&r, &err), &err, "cg_root_init");
    struct cg g;
    struct cg_limits lim = {.cpu = 1, .memory_bytes = MiB, .pids_max = 1};
    must(cg_create(&r, "n", &lim, &g, &err), &err, "cg_create");
    must(cg_join(&g, 0, &err), &err, "cg_join");
    assert_int_equal(cg_freeze(&g, true, &err), -1);
    assert_int_equal(err.status, 501);
    assert_int_equal(cg_frozen(&g), -1);
    char ev[16] = "x";
    cg_events_path(&g, ev, sizeof(ev));
    assert_string_equal(ev, "");
    assert_int_equal(cg_signal_all(&g, SIGKILL, &err), 0);
    assert_int_equal(cg_count(&g), 0);
    struct cg_stats st;
    must(cg_stats(&g, &st, &err), &err, "cg_stats");
    assert_int_equal(st.memory_bytes, 0);
    must(cg_destroy(&g, &err), &err, "cg_destroy");
    assert_int_equal(cg_list(&r, collect, NULL), 0);
    must(cg_root_cleanup(&r, &err), &err, "cg_root_cleanup");

    assert_int_equal(cg_create(&r, "../x", &lim, &g, &err), -1);
    assert_non_null(strstr(err.msg, "invalid instance id"));
    rm_tree(sr);
}

/* ---- live, on the host's real cgroups ----------------------------------- */

static struct {
    struct cg_root r;
    bool have_root, have_g;
    struct cg g;
    pid_t kids[2];
} live;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int wait_frozen(const struct cg *g, int want, double secs)
{
    double end = now_s() + secs;
    int st;
    while ((st = cg_frozen(g)) != want && now_s() < end)
        usleep(5000);
    return st;
}

static int wait_count(const struct cg *g, int want, double secs)
{
    double end = now_s() + secs;
    int n;
    while ((n = cg_count(g)) != want && now_s() < end)
        usleep(5000);
    return n;
}

/* Waits for pid with a deadline; returns the wait status or -1. */
static int wait_exit(pid_t pid, double secs)
{
    double end = now_s() + secs;
    int ws;
    while (now_s() < end) {
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid)
            return ws;
        if (w < 0)
            return -1;
        usleep(5000);
    }
    return -1;
}

static char proc_state(pid_t pid)
{
    char p[64], line[256];
    snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    char st = '?';
    if (!f)
        return st;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "State:", 6) == 0) {
            sscanf(line + 6, " %c", &st);
            break;
        }
    fclose(f);
    return st;
}

/* Forks a child that joins g itself, reports through a pipe, then either
 * pauses or allocates and touches `touch` bytes. */
static pid_t spawn_member(const struct cg *g, size_t touch)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct frost_err err = {0};
        char ok = cg_join(g, 0, &err) == 0 ? 'y' : 'n';
        if (write(fds[1], &ok, 1) != 1 || ok != 'y')
            _exit(3);
        close(fds[1]);
        if (touch) {
            char *p = mmap(NULL, touch, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
                _exit(4);
            for (size_t i = 0; i < touch; i += 4096)
                p[i] = 1;
            _exit(0); /* survived: the limit did not bite */
        }
        for (;;)
            pause();
    }
    close(fds[1]);
    char ok = 0;
    ssize_t n = read(fds[0], &ok, 1);
    close(fds[0]);
    assert_int_equal(n, 1);
    assert_int_equal(ok, 'y');
    return pid;
}

static int live_teardown(void **state)
{
    (void)state;
    struct frost_err err = {0};
    for (size_t i = 0; i < ARRAY_LEN(live.kids); i++)
        if (live.kids[i] > 0) {
            kill(live.kids[i], SIGKILL);
            /* A v1-frozen child dies only once thawed. */
            if (live.have_g && cg_freeze(&live.g, false, &err) < 0)
                print_error("live teardown: %s\n", err.msg);
            (void)wait_exit(live.kids[i], 5);
            live.kids[i] = 0;
        }
    if (live.have_g) {
        (void)cg_signal_all(&live.g, SIGKILL, &err);
        (void)wait_count(&live.g, 0, 5);
        if (cg_destroy(&live.g, &err) < 0)
            print_error("live teardown: %s\n", err.msg);
        live.have_g = false;
    }
    if (live.have_root && cg_root_cleanup(&live.r, &err) < 0)
        print_error("live teardown: %s\n", err.msg);
    live.have_root = false;
    return 0;
}

static void test_live(void **state)
{
    (void)state;
    struct frost_err err = {0};
    if (geteuid() != 0) {
        print_message("[  SKIP    ] live cgroup test: not running as root\n");
        skip();
    }
    char name[64];
    snprintf(name, sizeof(name), "frost-test-%d", (int)getpid());
    must(cg_detect(NULL, NULL, NULL, name, &live.r, &err), &err, "cg_detect");
    static const char *modes[] = {"none", "v1", "v2", "hybrid"};
    print_message("live: mode=%s warning=\"%s\"\n", modes[live.r.mode], live.r.warning);
    if (live.r.mode == CG_NONE) {
        print_message("[  SKIP    ] live cgroup test: %s\n", live.r.warning);
        skip();
    }
    if (cg_root_init(&live.r, &err) < 0) {
        print_message("[  SKIP    ] live cgroup test: cgroupfs not writable: %s\n", err.msg);
        skip();
    }
    live.have_root = true;
    print_message("live: v2=%s cpu=%s memory=%s pids=%s freezer=%s v2_freeze=%d v2_kill=%d\n",
                  live.r.v2, live.r.v1_cpu, live.r.v1_memory, live.r.v1_pids, live.r.v1_freezer,
                  live.r.v2_freeze, live.r.v2_kill);

    struct cg_limits lim = {.cpu = 0.5, .pids_max = 64};
    must(cg_create(&live.r, "live-1", &lim, &live.g, &err), &err, "cg_create");
    live.have_g = true;
    live.kids[0] = spawn_member(&live.g, 0);
    assert_int_equal(cg_count(&live.g), 1);

    if (live.r.v2_freeze || live.r.v1_freezer[0]) {
        must(cg_freeze(&live.g, true, &err), &err, "cg_freeze");
        assert_int_equal(wait_frozen(&live.g, 1, 5), 1);
        char st = proc_state(live.kids[0]);
        print_message("live: frozen child state %c\n", st);
        if (live.r.v2_freeze) {
            /* The v2 freezer parks tasks in a sleeping state: the events file is the truth. */
            char ev[PATH_MAX];
            cg_events_path(&live.g, ev, sizeof(ev));
            assert_string_not_equal(ev, "");
            char *slash = strrchr(ev, '/');
            *slash = 0;
            assert_non_null(strstr(get(ev, "cgroup.events"), "frozen 1"));
        } else {
            assert_true(st == 'D' || st == 'T');
        }
        must(cg_freeze(&live.g, false, &err), &err, "cg_thaw");
        assert_int_equal(wait_frozen(&live.g, 0, 5), 0);
    } else {
        print_message("live: no freezer on this host, freeze part skipped\n");
    }

    if (live.r.v2_memory || live.r.v1_memory[0]) {
        struct cg_limits mlim = {.cpu = 0.5, .memory_bytes = 32 * MiB, .pids_max = 64};
        must(cg_set_limits(&live.g, &mlim, &err), &err, "cg_set_limits");
        live.kids[1] = spawn_member(&live.g, 128 * MiB);
        int ws = wait_exit(live.kids[1], 30);
        live.kids[1] = 0;
        assert_true(ws != -1);
        if (!(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL))
            fail_msg("allocating child was not OOM-killed: status 0x%x", ws);
        struct cg_stats st;
        must(cg_stats(&live.g, &st, &err), &err, "cg_stats");
        print_message("live: oom_kills=%llu memory=%llu peak=%llu cpu_us=%llu\n",
                      (unsigned long long)st.oom_kills, (unsigned long long)st.memory_bytes,
                      (unsigned long long)st.memory_peak, (unsigned long long)st.cpu_usage_us);
        assert_true(st.oom_kills >= 1);
        assert_true(st.memory_peak == 0 || st.memory_peak <= 32 * MiB);
    } else {
        print_message("live: no memory controller, OOM part skipped\n");
    }

    /* Kill a frozen group: cgroup.kill or signal-then-thaw must both work. */
    if (live.r.v2_freeze || live.r.v1_freezer[0]) {
        must(cg_freeze(&live.g, true, &err), &err, "cg_freeze again");
        assert_int_equal(wait_frozen(&live.g, 1, 5), 1);
    }
    assert_true(cg_signal_all(&live.g, SIGKILL, &err) >= 1);
    int ws = wait_exit(live.kids[0], 10);
    live.kids[0] = 0;
    assert_true(ws != -1 && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    assert_int_equal(wait_count(&live.g, 0, 5), 0);

    char ids[256] = "";
    assert_int_equal(cg_list(&live.r, collect, ids), 1);
    assert_string_equal(ids, "live-1,");
    must(cg_destroy(&live.g, &err), &err, "cg_destroy");
    live.have_g = false;
    assert_int_equal(cg_list(&live.r, collect, NULL), 0);
    must(cg_root_cleanup(&live.r, &err), &err, "cg_root_cleanup");
    live.have_root = false;
    const char *ps[] = {live.r.v2,        live.r.v1_cpu,  live.r.v1_cpuacct,
                        live.r.v1_memory, live.r.v1_pids, live.r.v1_freezer};
    for (size_t i = 0; i < ARRAY_LEN(ps); i++)
        if (ps[i][0])
            assert_false(exists(ps[i], NULL));
}

/* The same on the v1 freezer, where a host has one besides the v2 tree (this
 * is how a pure v1 host freezes): SIGKILL to a v1-frozen task must be
 * followed by a thaw, or the task never dies. */
static void test_live_v1_freezer(void **state)
{
    (void)state;
    struct frost_err err = {0};
    if (geteuid() != 0) {
        print_message("[  SKIP    ] live v1 freezer test: not running as root\n");
        skip();
    }
    char name[64];
    snprintf(name, sizeof(name), "frost-test-%d", (int)getpid());
    must(cg_detect(NULL, NULL, NULL, name, &live.r, &err), &err, "cg_detect");
    char v1frz[PATH_MAX];
    snprintf(v1frz, sizeof(v1frz), "%s", live.r.v1_freezer);
    if (!v1frz[0]) {
        print_message("[  SKIP    ] live v1 freezer test: no writable v1 freezer hierarchy\n");
        skip();
    }
    if (cg_root_init(&live.r, &err) < 0) {
        print_message("[  SKIP    ] live v1 freezer test: %s\n", err.msg);
        skip();
    }
    live.have_root = true;
    /* Force the v1 freezer even where the v2 tree could freeze. */
    live.r.v2_freeze = live.r.v2_kill = false;
    memcpy(live.r.v1_freezer, v1frz, sizeof(v1frz));
    if (mkdir(v1frz, 0755) < 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", v1frz, strerror(errno));

    must(cg_create(&live.r, "live-v1", NULL, &live.g, &err), &err, "cg_create");
    live.have_g = true;
    live.kids[0] = spawn_member(&live.g, 0);
    must(cg_freeze(&live.g, true, &err), &err, "cg_freeze");
    assert_int_equal(wait_frozen(&live.g, 1, 5), 1);
    char st = proc_state(live.kids[0]);
    print_message("live v1: frozen child state %c\n", st);
    assert_true(st == 'D' || st == 'T');
    char ev[16] = "x";
    cg_events_path(&live.g, ev, sizeof(ev));
    assert_string_equal(ev, "");

    assert_int_equal(cg_signal_all(&live.g, SIGKILL, &err), 1);
    assert_int_equal(cg_frozen(&live.g), 0);
    int ws = wait_exit(live.kids[0], 10);
    live.kids[0] = 0;
    assert_true(ws != -1 && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    assert_int_equal(wait_count(&live.g, 0, 5), 0);
    must(cg_destroy(&live.g, &err), &err, "cg_destroy");
    live.have_g = false;
    must(cg_root_cleanup(&live.r, &err), &err, "cg_root_cleanup");
    live.have_root = false;
    assert_false(exists(v1frz, NULL));
}

int main(void)
{
    const char *env = getenv("FROST_CGROUP_FIXTURES");
    if (env && *env) {
        snprintf(fixtures, sizeof(fixtures), "%s", env);
    } else {
        /* Next to this source file: CMake compiles with an absolute path, a
         * manual build from the repo root with a relative one. */
        char here[PATH_MAX];
        snprintf(here, sizeof(here), "%s", __FILE__);
        snprintf(fixtures, sizeof(fixtures), "%s/fixtures/cgroup", dirname(here));
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_v2),
        cmocka_unit_test(test_detect_v2_nested),
        cmocka_unit_test(test_detect_v1_combined),
        cmocka_unit_test(test_detect_hybrid),
        cmocka_unit_test(test_detect_none),
        cmocka_unit_test(test_detect_mount_root_fallback),
        cmocka_unit_test(test_detect_escaped_mountpoint),
        cmocka_unit_test(test_v2_lifecycle),
        cmocka_unit_test(test_v2_nested_enable_failure),
        cmocka_unit_test(test_v1_lifecycle),
        cmocka_unit_test(test_hybrid_lifecycle),
        cmocka_unit_test(test_none_lifecycle),
        cmocka_unit_test_teardown(test_live, live_teardown),
        cmocka_unit_test_teardown(test_live_v1_freezer, live_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
