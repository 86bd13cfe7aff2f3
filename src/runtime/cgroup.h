/* Control groups for instances, on cgroup v2, v1 or hybrid hosts.
 *
 * Layout: Frost owns one parent group per data dir ("frost-<tag>") in each
 * hierarchy it uses, and one child group per instance below it. Limits go
 * where the controller lives: on a hybrid host (v1 controllers plus a v2
 * tree without them) cpu, memory and pids are v1 and freezing uses the v2
 * core's cgroup.freeze; on pure v2 everything is v2; on pure v1 the freezer
 * controller freezes.
 *
 * Everything here is plain file I/O on cgroupfs: fast, but still blocking;
 * call it from the thread pool where a caller cannot afford a stall, or
 * accept the microseconds on the loop (reads of one small file). */
#ifndef FROST_RUNTIME_CGROUP_H
#define FROST_RUNTIME_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/util.h"

enum cg_mode { CG_NONE = 0, CG_V1, CG_V2, CG_HYBRID };

/* Where each function of a group lives: a hierarchy mount + our parent path. */
struct cg_root {
    enum cg_mode mode;
    char v2[PATH_MAX];     /* our parent dir in the v2 tree, "" if none */
    char v1_cpu[PATH_MAX]; /* our parent dir in the v1 cpu hierarchy, "" if none */
    char v1_memory[PATH_MAX];
    char v1_pids[PATH_MAX];
    /* The v1 freezer parent; cleared by cg_root_init when the v2 tree can
     * freeze (v2_freeze), so after init it is set only when v1 freezes. */
    char v1_freezer[PATH_MAX];
    /* Read for cpu usage only; equal to v1_cpu on combined cpu,cpuacct mounts. */
    char v1_cpuacct[PATH_MAX];
    bool v2_cpu, v2_memory, v2_pids; /* controllers usable in our v2 subtree */
    bool v2_freeze;                  /* cgroup.freeze exists (kernel >= 5.2) */
    bool v2_kill;                    /* cgroup.kill exists (kernel >= 5.14) */
    char warning[512];               /* what is missing (no limits, no freezer…), or "" */
};

struct cg {
    char id[64]; /* the instance id; the child group's name */
    const struct cg_root *root;
};

struct cg_limits {
    double cpu;            /* vCPUs (quota = cpu × period); 0 = no limit */
    uint64_t memory_bytes; /* 0 = no limit */
    uint64_t pids_max;     /* 0 = no limit */
};

struct cg_stats {
    uint64_t cpu_usage_us; /* cumulative */
    uint64_t memory_bytes; /* current */
    uint64_t memory_peak;  /* 0 if the kernel does not say */
    uint64_t oom_kills;    /* OOM kills inside the group so far */
};

/* Finds the hierarchies from a mounts file ("/proc/self/mounts", or a fixture
 * in tests) and this process's own cgroup file ("/proc/self/cgroup"), and
 * chooses our parent dirs below the process's current groups, named `name`
 * (e.g. "frost-3f2a…"). Creates nothing. A host without usable cgroups gives
 * CG_NONE with `warning` set, not an error. sysroot prefixes every path read,
 * mounts and self_cgroup included (tests point it at a fixture tree; NULL or
 * "" for the real system); mounts and self_cgroup NULL mean the /proc/self
 * files. A hierarchy whose mount does not show the process's own path (a
 * container given its own group as the mount root) uses the mount root. */
FROST_WUR int cg_detect(const char *sysroot, const char *mounts, const char *self_cgroup,
                        const char *name, struct cg_root *out, struct frost_err *err);

/* Creates the parent groups (and on v2 enables cpu/memory/pids in
 * subtree_control where possible). Idempotent. Failure to create is an
 * error naming the path (a caller may then degrade to CG_NONE). */
FROST_WUR int cg_root_init(struct cg_root *r, struct frost_err *err);

/* Creates the instance's groups (mkdir in each hierarchy; an existing group is
 * reused) and applies limits (lim may be NULL). r must outlive out. On
 * CG_NONE every cg_* call on the group succeeds and does nothing (counts are
 * 0), except cg_freeze (a 501 error) and cg_frozen (-1). */
FROST_WUR int cg_create(const struct cg_root *r, const char *id, const struct cg_limits *lim,
                        struct cg *out, struct frost_err *err);

/* (Re)applies limits to an existing group; a 0 field removes that limit.
 * Limits whose controller is missing are skipped (root->warning says so). */
FROST_WUR int cg_set_limits(const struct cg *g, const struct cg_limits *lim, struct frost_err *err);

/* Moves pid (0 = the calling process) into every group of g. Not
 * async-signal-safe (it formats paths): between fork and exec in a
 * multi-threaded process, join from the parent with the child's pid. */
FROST_WUR int cg_join(const struct cg *g, pid_t pid, struct frost_err *err);

/* Requests freezing (true) or thawing (false). The change is asynchronous in
 * the kernel; poll cg_frozen until it reports the wanted state. The path of
 * the file whose change signals completion (v2 cgroup.events) is in
 * cg_events_path, for an inotify watch; v1 has none (poll on a timer). */
FROST_WUR int cg_freeze(const struct cg *g, bool frozen, struct frost_err *err);
/* 1 frozen, 0 thawed, 2 in transition, -1 error. */
int cg_frozen(const struct cg *g);
/* The v2 cgroup.events path of g, or "" when freezing is v1. */
void cg_events_path(const struct cg *g, char *out, size_t len);

/* Sends sig to every process of the group (SIGKILL uses v2 cgroup.kill when
 * present, which also catches processes forked meanwhile). Returns how many
 * processes were signalled (or 1 for cgroup.kill), -1 on error. A frozen group
 * is thawed after signalling (except for cgroup.kill, which kills frozen
 * tasks): a frozen process cannot act on a signal, and a v1-frozen one cannot
 * even die. Without cgroup.kill, processes forked while the list is read can
 * escape; repeat until cg_count is 0. */
int cg_signal_all(const struct cg *g, int sig, struct frost_err *err);
/* Number of processes in the group (over all hierarchies; the max), -1 on error. */
int cg_count(const struct cg *g);

FROST_WUR int cg_stats(const struct cg *g, struct cg_stats *out, struct frost_err *err);

/* Removes the instance's groups; they must be empty (kill first). */
FROST_WUR int cg_destroy(const struct cg *g, struct frost_err *err);

/* Calls each(ud, id) for every instance group left under our parents (after
 * a crash of a previous Frost). Returns the count, -1 on error. */
int cg_list(const struct cg_root *r, void (*each)(void *ud, const char *id), void *ud);

/* Removes our (empty) parent groups, for tests and a clean shutdown. Parents
 * already gone are fine; one still holding instance groups is an error. The
 * controllers enabled in the process's own v2 group stay enabled: other
 * groups there may rely on them. */
FROST_WUR int cg_root_cleanup(const struct cg_root *r, struct frost_err *err);

#endif
