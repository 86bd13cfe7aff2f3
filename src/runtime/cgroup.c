#include "runtime/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"

/* The CFS period we always write; the quota scales with the vCPU count. */
#define CPU_PERIOD_US 100000
/* The kernel rejects quotas below 1 ms. */
#define CPU_QUOTA_MIN_US 1000
/* /proc/self/mounts of a busy container host can be large; cgroup.procs of a
 * group with many processes too. Beyond this something is wrong. */
#define READ_CAP ((size_t)4 << 20)
/* Caps on what one listing collects, so a runaway group cannot make us
 * allocate without bound. */
#define PIDS_CAP 65536
#define IDS_CAP  65536

/* v1 controllers we look for; the order indexes struct detect arrays. */
enum ctl { C_CPU, C_CPUACCT, C_MEMORY, C_PIDS, C_FREEZER, C_N };
static const char *const ctl_names[C_N] = {"cpu", "cpuacct", "memory", "pids", "freezer"};

/* ---- small file helpers (errno-reporting, no frost_err) ------------------ */

/* Joins a and b with exactly one '/', dropping b when it is "" or "/". */
static int pjoin(char *out, size_t len, const char *a, const char *b)
{
    size_t al = strlen(a);
    while (al > 0 && a[al - 1] == '/')
        al--;
    while (*b == '/')
        b++;
    int n;
    if (*b)
        n = snprintf(out, len, "%.*s/%s", (int)al, a, b);
    else
        n = al ? snprintf(out, len, "%.*s", (int)al, a) : snprintf(out, len, "/");
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* parent/id[/file] */
static int gpath(char *out, size_t len, const char *parent, const char *id, const char *file)
{
    int n = file ? snprintf(out, len, "%s/%s/%s", parent, id, file)
                 : snprintf(out, len, "%s/%s", parent, id);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Reads a whole file into b (NUL-terminated). -1 with errno on failure. */
static int read_all(const char *path, struct buf *b)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    buf_reset(b);
    b->limit = READ_CAP;
    for (;;) {
        if (buf_reserve(b, 4096) < 0)
            return -1;
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        b->len += (size_t)n;
    }
    if (buf_reserve(b, 0) < 0)
        return -1;
    b->data[b->len] = 0;
    return 0;
}

/* One write(2) per value: cgroupfs parses each write on its own, so a split
 * write would be two (wrong) values. O_TRUNC matters only for the plain
 * files of test fixtures. */
static int write_str(const char *path, const char *s)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(s);
    ssize_t n;
    do {
        n = write(fd, s, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if ((size_t)n != len) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || (*end && *end != '\n' && *end != ' ')) {
        errno = EINVAL;
        return -1;
    }
    *out = v;
    return 0;
}

static int read_u64(const char *path, uint64_t *out)
{
    struct buf b = BUF_INIT(0);
    int rc = read_all(path, &b) < 0 ? -1 : parse_u64(b.data, out);
    int saved = errno;
    buf_free(&b);
    errno = saved;
    return rc;
}

/* Finds "key value" in a flat-keyed file (cpu.stat, memory.events, …).
 * 0 found, 1 key absent, -1 with errno when the file cannot be read. */
static int read_keyed(const char *path, const char *key, uint64_t *out)
{
    struct buf b = BUF_INIT(0);
    if (read_all(path, &b) < 0) {
        int saved = errno;
        buf_free(&b);
        errno = saved;
        return -1;
    }
    int rc = 1;
    size_t kl = strlen(key);
    for (char *line = b.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
            rc = parse_u64(line + kl + 1, out) < 0 ? -1 : 0;
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    int saved = errno;
    buf_free(&b);
    errno = saved;
    return rc;
}

/* Whether a space-separated list (cgroup.controllers, subtree_control) holds word. */
static bool has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\n')
            p++;
        size_t n = strcspn(p, " \n");
        if (n == wl && strncmp(p, word, wl) == 0)
            return true;
        p += n;
    }
    return false;
}

/* Decodes the octal escapes (\040 for a space, …) of /proc/self/mounts in place. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

__attribute__((format(printf, 2, 3))) static void warn_add(struct cg_root *r, const char *fmt, ...)
{
    size_t n = strlen(r->warning);
    if (n && n + 2 < sizeof(r->warning)) {
        memcpy(r->warning + n, "; ", 3);
        n += 2;
    }
    if (n + 1 >= sizeof(r->warning))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warning + n, sizeof(r->warning) - n, fmt, ap);
    va_end(ap);
}

/* The distinct non-empty parent dirs of r (cpu and cpuacct share one on
 * combined mounts; the v1 freezer is listed only while it is in use). */
static size_t parents(const struct cg_root *r, const char *out[6])
{
    const char *all[6] = {r->v2, r->v1_cpu, r->v1_cpuacct, r->v1_memory, r->v1_pids, r->v1_freezer};
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(all); i++) {
        if (!all[i][0])
            continue;
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup = dup || strcmp(out[j], all[i]) == 0;
        if (!dup)
            out[n++] = all[i];
    }
    return n;
}

static void set_mode(struct cg_root *r)
{
    bool v1 =
        r->v1_cpu[0] || r->v1_memory[0] || r->v1_pids[0] || r->v1_freezer[0] || r->v1_cpuacct[0];
    bool v2 = r->v2[0] != 0;
    r->mode = v1 && v2 ? CG_HYBRID : v2 ? CG_V2 : v1 ? CG_V1 : CG_NONE;
}

/* Adds a clause unless the warning already says it: cg_root_init calls
 * set_missing again after detection, and flags only ever turn off there, so
 * the missing-feature clauses only grow. */
static void warn_once(struct cg_root *r, const char *msg)
{
    if (!strstr(r->warning, msg))
        warn_add(r, "%s", msg);
}

/* Says which limits and features the final layout lacks. */
static void set_missing(struct cg_root *r)
{
    if (r->mode == CG_NONE) {
        warn_once(r, "no usable cgroup hierarchy: instances run without cpu, memory or pids "
                     "limits and cannot be frozen");
        return;
    }
    if (!r->v2_cpu && !r->v1_cpu[0])
        warn_once(r, "no cpu controller: no cpu limits");
    if (!r->v2_memory && !r->v1_memory[0])
        warn_once(r, "no memory controller: no memory limits");
    if (!r->v2_pids && !r->v1_pids[0])
        warn_once(r, "no pids controller: no pids limits");
    if (!r->v2_freeze && !r->v1_freezer[0])
        warn_once(r, "no freezer: instances cannot be frozen");
}

/* ---- detection ---------------------------------------------------------- */

struct detect {
    char v2_mnt[PATH_MAX];
    char v2_self[PATH_MAX];
    bool v2_has_self;
    char mnt[C_N][PATH_MAX];
    char self[C_N][PATH_MAX];
    bool has_self[C_N];
    char own[PATH_MAX]; /* scratch: a resolved own group */
};

static void parse_mounts(char *text, struct detect *d)
{
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        char *save = NULL;
        char *dev = strtok_r(line, " \t", &save);
        char *mp = dev ? strtok_r(NULL, " \t", &save) : NULL;
        char *type = mp ? strtok_r(NULL, " \t", &save) : NULL;
        char *opts = type ? strtok_r(NULL, " \t", &save) : NULL;
        line = nl ? nl + 1 : NULL;
        if (!opts)
            continue;
        unescape_octal(mp);
        if (strlen(mp) >= PATH_MAX)
            continue;
        /* The first mount of a hierarchy wins; later ones are usually bind
         * mounts of it into containers. */
        if (strcmp(type, "cgroup2") == 0) {
            if (!d->v2_mnt[0])
                memcpy(d->v2_mnt, mp, strlen(mp) + 1);
            continue;
        }
        if (strcmp(type, "cgroup") != 0)
            continue;
        char *osave = NULL;
        for (char *o = strtok_r(opts, ",", &osave); o; o = strtok_r(NULL, ",", &osave))
            for (int c = 0; c < C_N; c++)
                if (strcmp(o, ctl_names[c]) == 0 && !d->mnt[c][0])
                    memcpy(d->mnt[c], mp, strlen(mp) + 1);
    }
}

static void parse_self(char *text, struct detect *d)
{
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        char *rest = line;
        line = nl ? nl + 1 : NULL;
        if (!c2)
            continue;
        *c1 = 0;
        *c2 = 0;
        const char *path = c2 + 1;
        if (strlen(path) >= PATH_MAX)
            continue;
        if (strcmp(rest, "0") == 0 && c1[1] == 0) {
            memcpy(d->v2_self, path, strlen(path) + 1);
            d->v2_has_self = true;
            continue;
        }
        char *save = NULL;
        for (char *o = strtok_r(c1 + 1, ",", &save); o; o = strtok_r(NULL, ",", &save))
            for (int c = 0; c < C_N; c++)
                if (strcmp(o, ctl_names[c]) == 0) {
                    memcpy(d->self[c], path, strlen(path) + 1);
                    d->has_self[c] = true;
                }
    }
}

/* Resolves the process's own group in a hierarchy into d->own and returns
 * whether it is usable (exists and is writable). The mount root stands in
 * when the self path is not visible below the mount: a container that got
 * its own group bind-mounted as the hierarchy root, without a cgroup
 * namespace, still sees its host path in /proc/self/cgroup. */
static bool resolve_own(struct cg_root *r, struct detect *d, const char *sysroot, const char *mnt,
                        const char *self, const char *what)
{
    char m[PATH_MAX];
    if (pjoin(m, sizeof(m), sysroot, mnt) < 0)
        return false;
    if (pjoin(d->own, sizeof(d->own), m, self) < 0 || !is_dir(d->own))
        memcpy(d->own, m, strlen(m) + 1);
    if (!is_dir(d->own))
        return false;
    if (access(d->own, W_OK) < 0) {
        warn_add(r, "%s hierarchy %s not writable (%s)", what, d->own, strerror(errno));
        return false;
    }
    return true;
}

/* A name becomes one path component. */
static bool valid_component(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n < max && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           !strchr(s, '\n');
}

int cg_detect(const char *sysroot, const char *mounts, const char *self_cgroup, const char *name,
              struct cg_root *out, struct frost_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!name || !valid_component(name, 128))
        return frost_err_set(err, 500, "InternalError", "cgroup: invalid parent group name '%s'",
                             name ? name : "(null)");
    if (!sysroot)
        sysroot = "";
    if (!mounts)
        mounts = "/proc/self/mounts";
    if (!self_cgroup)
        self_cgroup = "/proc/self/cgroup";

    _cleanup_free_ struct detect *d = calloc(1, sizeof(*d));
    if (!d)
        return frost_err_errno(err, ENOMEM, "cgroup: detecting hierarchies");

    char path[PATH_MAX];
    struct buf b = BUF_INIT(0);
    if (pjoin(path, sizeof(path), sysroot, mounts) < 0 || read_all(path, &b) < 0) {
        warn_add(out, "cannot read %s (%s)", mounts, strerror(errno));
        buf_free(&b);
        set_mode(out);
        set_missing(out);
        return 0;
    }
    parse_mounts(b.data, d);
    if (pjoin(path, sizeof(path), sysroot, self_cgroup) < 0 || read_all(path, &b) < 0) {
        warn_add(out, "cannot read %s (%s)", self_cgroup, strerror(errno));
        buf_free(&b);
        set_mode(out);
        set_missing(out);
        return 0;
    }
    parse_self(b.data, d);

    /* v2 first: a controller is bound to one hierarchy only, so one listed in
     * the v2 group's cgroup.controllers is absent from v1, and vice versa. */
    if (d->v2_mnt[0] &&
        resolve_own(out, d, sysroot, d->v2_mnt, d->v2_has_self ? d->v2_self : "/", "cgroup2")) {
        if (pjoin(out->v2, sizeof(out->v2), d->own, name) < 0)
            out->v2[0] = 0;
        char p[PATH_MAX];
        if (out->v2[0] && pjoin(p, sizeof(p), d->own, "cgroup.controllers") == 0 &&
            read_all(p, &b) == 0) {
            out->v2_cpu = has_word(b.data, "cpu");
            out->v2_memory = has_word(b.data, "memory");
            out->v2_pids = has_word(b.data, "pids");
        }
        /* The root group has neither file whatever the kernel, so at the root
         * assume they exist; cg_root_init checks in our own parent. */
        char m[PATH_MAX];
        bool at_root = pjoin(m, sizeof(m), sysroot, d->v2_mnt) == 0 && strcmp(m, d->own) == 0;
        out->v2_freeze =
            out->v2[0] &&
            (at_root || (pjoin(p, sizeof(p), d->own, "cgroup.freeze") == 0 && exists(p)));
        out->v2_kill = out->v2[0] &&
                       (at_root || (pjoin(p, sizeof(p), d->own, "cgroup.kill") == 0 && exists(p)));
    }
    buf_free(&b);

    bool v2_has[C_N] = {
        [C_CPU] = out->v2_cpu, [C_MEMORY] = out->v2_memory, [C_PIDS] = out->v2_pids};
    char *dst[C_N] = {out->v1_cpu, out->v1_cpuacct, out->v1_memory, out->v1_pids, out->v1_freezer};
    for (int c = 0; c < C_N; c++) {
        if (!d->mnt[c][0] || v2_has[c])
            continue;
        /* cpuacct only feeds cpu usage, which v2's cpu.stat gives when cpu is v2. */
        if (c == C_CPUACCT && out->v2_cpu)
            continue;
        if (!resolve_own(out, d, sysroot, d->mnt[c], d->has_self[c] ? d->self[c] : "/",
                         ctl_names[c]))
            continue;
        if (pjoin(dst[c], PATH_MAX, d->own, name) < 0)
            dst[c][0] = 0;
    }
    set_mode(out);
    set_missing(out);
    return 0;
}

/* ---- parent groups ------------------------------------------------------ */

static int mkdir_ok(const char *path, struct frost_err *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return frost_err_errno(err, errno, "cgroup %s: cannot create", path);
    return 0;
}

/* Enables cpu, memory and pids for the children of `group` where the group
 * has them, one write per controller so one refusal does not hide the
 * others. Clears the flags that could not be enabled and says why, once per
 * group (the warning has room for a few clauses only). */
static void enable_v2(struct cg_root *r, const char *group, bool is_own)
{
    char ctl_path[PATH_MAX], sub_path[PATH_MAX];
    if (pjoin(ctl_path, sizeof(ctl_path), group, "cgroup.controllers") < 0 ||
        pjoin(sub_path, sizeof(sub_path), group, "cgroup.subtree_control") < 0) {
        r->v2_cpu = r->v2_memory = r->v2_pids = false;
        return;
    }
    struct buf avail = BUF_INIT(0), on = BUF_INIT(0);
    if (read_all(ctl_path, &avail) < 0 || read_all(sub_path, &on) < 0) {
        warn_add(r, "cgroup %s: cannot read controllers (%s)", group, strerror(errno));
        r->v2_cpu = r->v2_memory = r->v2_pids = false;
        goto out;
    }
    struct {
        const char *name;
        bool *flag;
    } want[] = {{"cpu", &r->v2_cpu}, {"memory", &r->v2_memory}, {"pids", &r->v2_pids}};
    char failed[32] = "";
    int first_errno = 0;
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        if (!*want[i].flag || has_word(on.data, want[i].name))
            continue;
        if (!has_word(avail.data, want[i].name)) {
            *want[i].flag = false;
            continue;
        }
        char cmd[16];
        snprintf(cmd, sizeof(cmd), "+%s", want[i].name);
        if (write_str(sub_path, cmd) == 0)
            continue;
        if (!first_errno)
            first_errno = errno;
        *want[i].flag = false;
        size_t n = strlen(failed);
        snprintf(failed + n, sizeof(failed) - n, "%s%s", n ? " " : "", want[i].name);
    }
    if (first_errno == EBUSY && is_own)
        warn_add(r,
                 "cgroup %s holds processes, so it cannot enable %s for child groups (v2 "
                 "no-internal-processes rule)",
                 group, failed);
    else if (first_errno)
        warn_add(r, "cgroup %s: cannot enable %s (%s)", sub_path, failed, strerror(first_errno));
out:
    buf_free(&avail);
    buf_free(&on);
}

int cg_root_init(struct cg_root *r, struct frost_err *err)
{
    if (r->mode == CG_NONE)
        return 0;
    if (r->v2[0]) {
        char own[PATH_MAX];
        memcpy(own, r->v2, sizeof(own));
        char *slash = strrchr(own, '/');
        if (slash && slash != own)
            *slash = 0;
        if (r->v2_cpu || r->v2_memory || r->v2_pids)
            enable_v2(r, own, true);
        if (mkdir_ok(r->v2, err) < 0)
            return -1;
        if (r->v2_cpu || r->v2_memory || r->v2_pids)
            enable_v2(r, r->v2, false);
        char p[PATH_MAX];
        r->v2_freeze = pjoin(p, sizeof(p), r->v2, "cgroup.freeze") == 0 && exists(p);
        r->v2_kill = pjoin(p, sizeof(p), r->v2, "cgroup.kill") == 0 && exists(p);
        if (r->v2_freeze)
            r->v1_freezer[0] = 0;
    }
    const char *ps[6];
    size_t n = parents(r, ps);
    for (size_t i = 0; i < n; i++)
        if (ps[i] != r->v2 && mkdir_ok(ps[i], err) < 0)
            return -1;
    /* Enabling may have failed and the freezer choice is now final. */
    set_mode(r);
    set_missing(r);
    return 0;
}

int cg_root_cleanup(const struct cg_root *r, struct frost_err *err)
{
    const char *ps[6];
    size_t n = parents(r, ps);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rmdir(ps[i]) == 0 || errno == ENOENT)
            continue;
        if (rc == 0) {
            if (errno == EBUSY || errno == ENOTEMPTY)
                rc = frost_err_set(err, 500, "InternalError",
                                   "cgroup %s: cannot remove: instance groups remain", ps[i]);
            else
                rc = frost_err_errno(err, errno, "cgroup %s: cannot remove", ps[i]);
        }
    }
    return rc;
}

/* ---- instance groups ---------------------------------------------------- */

int cg_set_limits(const struct cg *g, const struct cg_limits *lim, struct frost_err *err)
{
    const struct cg_root *r = g->root;
    char p[PATH_MAX], v[64];
    if (!lim)
        return 0;
    if (!(lim->cpu >= 0 && isfinite(lim->cpu) && lim->cpu < 1e6))
        return frost_err_set(err, 500, "InternalError", "cgroup %s: invalid cpu limit %g", g->id,
                             lim->cpu);
    uint64_t quota = 0;
    if (lim->cpu > 0) {
        quota = (uint64_t)(lim->cpu * CPU_PERIOD_US + 0.5);
        if (quota < CPU_QUOTA_MIN_US)
            quota = CPU_QUOTA_MIN_US;
    }

#define WRITE(parent, file, value)                                                                 \
    do {                                                                                           \
        if (gpath(p, sizeof(p), (parent), g->id, (file)) < 0 || write_str(p, (value)) < 0)         \
            return frost_err_errno(err, errno, "cgroup %s: cannot write %s to %s", g->id, (value), \
                                   p);                                                             \
    } while (0)

    if (r->v2_cpu) {
        if (quota)
            snprintf(v, sizeof(v), "%" PRIu64 " %d", quota, CPU_PERIOD_US);
        else
            snprintf(v, sizeof(v), "max %d", CPU_PERIOD_US);
        WRITE(r->v2, "cpu.max", v);
    } else if (r->v1_cpu[0]) {
        /* Period first: the quota is only meaningful against the period we chose. */
        snprintf(v, sizeof(v), "%d", CPU_PERIOD_US);
        WRITE(r->v1_cpu, "cpu.cfs_period_us", v);
        if (quota)
            snprintf(v, sizeof(v), "%" PRIu64, quota);
        else
            snprintf(v, sizeof(v), "-1");
        WRITE(r->v1_cpu, "cpu.cfs_quota_us", v);
    }

    if (r->v2_memory) {
        if (lim->memory_bytes)
            snprintf(v, sizeof(v), "%" PRIu64, lim->memory_bytes);
        else
            snprintf(v, sizeof(v), "max");
        WRITE(r->v2, "memory.max", v);
        /* Without swap off the process would page out instead of hitting the limit. */
        if (gpath(p, sizeof(p), r->v2, g->id, "memory.swap.max") == 0 && exists(p))
            WRITE(r->v2, "memory.swap.max", lim->memory_bytes ? "0" : "max");
    } else if (r->v1_memory[0]) {
        if (lim->memory_bytes)
            snprintf(v, sizeof(v), "%" PRIu64, lim->memory_bytes);
        else
            snprintf(v, sizeof(v), "-1");
        char sw[PATH_MAX];
        bool memsw =
            gpath(sw, sizeof(sw), r->v1_memory, g->id, "memory.memsw.limit_in_bytes") == 0 &&
            exists(sw);
        /* The kernel keeps memsw >= limit at every step: lowering goes limit
         * first, raising memsw first; EINVAL tells us which case we are in. */
        if (gpath(p, sizeof(p), r->v1_memory, g->id, "memory.limit_in_bytes") < 0)
            return frost_err_errno(err, errno, "cgroup %s: memory limit path", g->id);
        if (write_str(p, v) < 0) {
            if (errno != EINVAL || !memsw)
                return frost_err_errno(err, errno, "cgroup %s: cannot write %s to %s", g->id, v, p);
            WRITE(r->v1_memory, "memory.memsw.limit_in_bytes", v);
            WRITE(r->v1_memory, "memory.limit_in_bytes", v);
        } else if (memsw) {
            WRITE(r->v1_memory, "memory.memsw.limit_in_bytes", v);
        }
    }

    const char *pids_parent = r->v2_pids ? r->v2 : r->v1_pids[0] ? r->v1_pids : NULL;
    if (pids_parent) {
        if (lim->pids_max)
            snprintf(v, sizeof(v), "%" PRIu64, lim->pids_max);
        else
            snprintf(v, sizeof(v), "max");
        WRITE(pids_parent, "pids.max", v);
    }
#undef WRITE
    return 0;
}

int cg_create(const struct cg_root *r, const char *id, const struct cg_limits *lim, struct cg *out,
              struct frost_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!id || !valid_component(id, sizeof(out->id)))
        return frost_err_set(err, 500, "InternalError", "cgroup: invalid instance id '%s'",
                             id ? id : "(null)");
    memcpy(out->id, id, strlen(id) + 1);
    out->root = r;
    const char *ps[6];
    size_t n = parents(r, ps);
    char p[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        if (gpath(p, sizeof(p), ps[i], id, NULL) < 0) {
            frost_err_errno(err, errno, "cgroup %s: path below %s", id, ps[i]);
            goto fail;
        }
        if (mkdir_ok(p, err) < 0)
            goto fail;
    }
    if (cg_set_limits(out, lim, err) < 0)
        goto fail;
    return 0;
fail:
    /* Best effort: an empty group we just made should not outlive the error. */
    for (size_t i = 0; i < n; i++)
        if (gpath(p, sizeof(p), ps[i], id, NULL) == 0)
            (void)rmdir(p);
    return -1;
}

int cg_join(const struct cg *g, pid_t pid, struct frost_err *err)
{
    const char *ps[6];
    size_t n = parents(g->root, ps);
    char p[PATH_MAX], v[24];
    snprintf(v, sizeof(v), "%ld", (long)pid);
    for (size_t i = 0; i < n; i++)
        if (gpath(p, sizeof(p), ps[i], g->id, "cgroup.procs") < 0 || write_str(p, v) < 0)
            return frost_err_errno(err, errno, "cgroup %s: cannot move pid %ld into %s", g->id,
                                   (long)pid, p);
    return 0;
}

int cg_freeze(const struct cg *g, bool frozen, struct frost_err *err)
{
    const struct cg_root *r = g->root;
    char p[PATH_MAX];
    const char *v;
    if (r->v2_freeze) {
        v = frozen ? "1" : "0";
        if (gpath(p, sizeof(p), r->v2, g->id, "cgroup.freeze") < 0)
            return frost_err_errno(err, errno, "cgroup %s: freeze path", g->id);
    } else if (r->v1_freezer[0]) {
        v = frozen ? "FROZEN" : "THAWED";
        if (gpath(p, sizeof(p), r->v1_freezer, g->id, "freezer.state") < 0)
            return frost_err_errno(err, errno, "cgroup %s: freeze path", g->id);
    } else {
        return frost_err_set(err, 501, "NotImplemented",
                             "cgroup %s: this host has no cgroup freezer", g->id);
    }
    if (write_str(p, v) < 0)
        return frost_err_errno(err, errno, "cgroup %s: cannot write %s to %s", g->id, v, p);
    return 0;
}

int cg_frozen(const struct cg *g)
{
    const struct cg_root *r = g->root;
    char p[PATH_MAX];
    if (r->v2_freeze) {
        uint64_t want, is;
        if (gpath(p, sizeof(p), r->v2, g->id, "cgroup.freeze") < 0 || read_u64(p, &want) < 0)
            return -1;
        if (gpath(p, sizeof(p), r->v2, g->id, "cgroup.events") < 0 ||
            read_keyed(p, "frozen", &is) != 0)
            return -1;
        if ((want != 0) != (is != 0))
            return 2;
        return is ? 1 : 0;
    }
    if (!r->v1_freezer[0])
        return -1;
    char state[32] = "";
    struct buf b = BUF_INIT(0);
    if (gpath(p, sizeof(p), r->v1_freezer, g->id, "freezer.state") == 0 && read_all(p, &b) == 0)
        snprintf(state, sizeof(state), "%s", b.data);
    buf_free(&b);
    if (strncmp(state, "FROZEN", 6) == 0)
        return 1;
    if (strncmp(state, "THAWED", 6) == 0)
        return 0;
    if (strncmp(state, "FREEZING", 8) == 0)
        return 2;
    return -1;
}

void cg_events_path(const struct cg *g, char *out, size_t len)
{
    if (!len)
        return;
    out[0] = 0;
    if (g->root->v2_freeze && gpath(out, len, g->root->v2, g->id, "cgroup.events") < 0)
        out[0] = 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Reads the pids of every hierarchy's group into a sorted, deduplicated
 * array (caller frees). Returns the count, -1 with err. */
static long collect_pids(const struct cg *g, long **out, struct frost_err *err)
{
    const char *ps[6];
    size_t n = parents(g->root, ps);
    long *pids = NULL;
    size_t np = 0, cap = 0;
    struct buf b = BUF_INIT(0);
    char p[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        if (gpath(p, sizeof(p), ps[i], g->id, "cgroup.procs") < 0 || read_all(p, &b) < 0) {
            frost_err_errno(err, errno, "cgroup %s: cannot read %s", g->id, p);
            goto fail;
        }
        for (char *s = b.data, *end; *s; s = end) {
            long pid = strtol(s, &end, 10);
            if (end == s)
                break;
            if (pid <= 0)
                continue;
            if (np == cap) {
                if (cap >= PIDS_CAP) {
                    frost_err_set(err, 500, "InternalError", "cgroup %s: more than %d processes",
                                  g->id, PIDS_CAP);
                    goto fail;
                }
                size_t ncap = cap ? cap * 2 : 64;
                long *np_arr = realloc(pids, ncap * sizeof(*pids));
                if (!np_arr) {
                    frost_err_errno(err, ENOMEM, "cgroup %s: listing processes", g->id);
                    goto fail;
                }
                pids = np_arr;
                cap = ncap;
            }
            pids[np++] = pid;
        }
    }
    buf_free(&b);
    if (np)
        qsort(pids, np, sizeof(*pids), cmp_long);
    size_t u = 0;
    for (size_t i = 0; i < np; i++)
        if (u == 0 || pids[u - 1] != pids[i])
            pids[u++] = pids[i];
    *out = pids;
    return (long)u;
fail:
    buf_free(&b);
    free(pids);
    return -1;
}

int cg_signal_all(const struct cg *g, int sig, struct frost_err *err)
{
    const struct cg_root *r = g->root;
    if (r->mode == CG_NONE)
        return 0;
    char p[PATH_MAX];
    if (sig == SIGKILL && r->v2_kill && gpath(p, sizeof(p), r->v2, g->id, "cgroup.kill") == 0 &&
        exists(p)) {
        if (write_str(p, "1") < 0)
            return frost_err_errno(err, errno, "cgroup %s: cannot write 1 to %s", g->id, p);
        return 1;
    }
    _cleanup_free_ long *pids = NULL;
    long n = collect_pids(g, &pids, err);
    if (n < 0)
        return -1;
    int sent = 0;
    for (long i = 0; i < n; i++) {
        if (kill((pid_t)pids[i], sig) == 0)
            sent++;
        else if (errno != ESRCH)
            return frost_err_errno(err, errno, "cgroup %s: cannot signal pid %ld", g->id, pids[i]);
    }
    /* Signal before thawing: the signal is pending when the tasks wake, so a
     * SIGKILLed task dies without running another instruction of its own. */
    if ((r->v2_freeze || r->v1_freezer[0]) && cg_frozen(g) != 0 && cg_freeze(g, false, err) < 0)
        return -1;
    return sent;
}

int cg_count(const struct cg *g)
{
    const char *ps[6];
    size_t n = parents(g->root, ps);
    struct buf b = BUF_INIT(0);
    char p[PATH_MAX];
    int max = 0;
    for (size_t i = 0; i < n; i++) {
        if (gpath(p, sizeof(p), ps[i], g->id, "cgroup.procs") < 0 || read_all(p, &b) < 0) {
            buf_free(&b);
            return -1;
        }
        int lines = 0;
        for (char *s = b.data; *s; s++)
            lines += *s == '\n';
        if (b.len && b.data[b.len - 1] != '\n')
            lines++;
        if (lines > max)
            max = lines;
    }
    buf_free(&b);
    return max;
}

int cg_stats(const struct cg *g, struct cg_stats *out, struct frost_err *err)
{
    const struct cg_root *r = g->root;
    memset(out, 0, sizeof(*out));
    char p[PATH_MAX];
    uint64_t v;

#define READ_REQUIRED(parent, file, dst)                                                           \
    do {                                                                                           \
        if (gpath(p, sizeof(p), (parent), g->id, (file)) < 0 || read_u64(p, &(dst)) < 0)           \
            return frost_err_errno(err, errno, "cgroup %s: cannot read %s", g->id, p);             \
    } while (0)
/* A missing file or key means the kernel does not report it: leave 0. */
#define READ_KEY_OPTIONAL(parent, file, key, dst)                                                  \
    do {                                                                                           \
        if (gpath(p, sizeof(p), (parent), g->id, (file)) == 0) {                                   \
            int rc_ = read_keyed(p, (key), &(dst));                                                \
            if (rc_ < 0 && errno != ENOENT)                                                        \
                return frost_err_errno(err, errno, "cgroup %s: cannot read %s", g->id, p);         \
        }                                                                                          \
    } while (0)

    if (r->v1_cpuacct[0]) {
        READ_REQUIRED(r->v1_cpuacct, "cpuacct.usage", v);
        out->cpu_usage_us = v / 1000;
    } else if (r->v2[0]) {
        /* The v2 core reports usage_usec even without the cpu controller. */
        READ_KEY_OPTIONAL(r->v2, "cpu.stat", "usage_usec", out->cpu_usage_us);
    }

    if (r->v2_memory) {
        READ_REQUIRED(r->v2, "memory.current", out->memory_bytes);
        if (gpath(p, sizeof(p), r->v2, g->id, "memory.peak") == 0 && exists(p))
            READ_REQUIRED(r->v2, "memory.peak", out->memory_peak);
        READ_KEY_OPTIONAL(r->v2, "memory.events", "oom_kill", out->oom_kills);
    } else if (r->v1_memory[0]) {
        READ_REQUIRED(r->v1_memory, "memory.usage_in_bytes", out->memory_bytes);
        if (gpath(p, sizeof(p), r->v1_memory, g->id, "memory.max_usage_in_bytes") == 0 && exists(p))
            READ_REQUIRED(r->v1_memory, "memory.max_usage_in_bytes", out->memory_peak);
        /* oom_kill appeared in memory.oom_control with Linux 4.13. */
        READ_KEY_OPTIONAL(r->v1_memory, "memory.oom_control", "oom_kill", out->oom_kills);
    }
#undef READ_REQUIRED
#undef READ_KEY_OPTIONAL
    return 0;
}

int cg_destroy(const struct cg *g, struct frost_err *err)
{
    const char *ps[6];
    size_t n = parents(g->root, ps);
    char p[PATH_MAX];
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (gpath(p, sizeof(p), ps[i], g->id, NULL) < 0) {
            if (rc == 0)
                rc = frost_err_errno(err, errno, "cgroup %s: path below %s", g->id, ps[i]);
            continue;
        }
        if (rmdir(p) == 0 || errno == ENOENT)
            continue;
        int e = errno;
        if (rc != 0)
            continue;
        if (e == EBUSY) {
            /* Count in this hierarchy only: that is the group that refused. */
            char procs[PATH_MAX];
            struct buf b = BUF_INIT(0);
            int left = 0;
            if (pjoin(procs, sizeof(procs), p, "cgroup.procs") == 0 && read_all(procs, &b) == 0)
                for (char *s = b.data; *s; s++)
                    left += *s == '\n';
            buf_free(&b);
            rc = frost_err_set(err, 500, "InternalError",
                               "cgroup %s: cannot remove: %d processes remain", p, left);
        } else {
            rc = frost_err_errno(err, e, "cgroup %s: cannot remove", p);
        }
    }
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cg_list(const struct cg_root *r, void (*each)(void *ud, const char *id), void *ud)
{
    const char *ps[6];
    size_t n = parents(r, ps);
    char **ids = NULL;
    size_t nid = 0, cap = 0;
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        DIR *dir = opendir(ps[i]);
        if (!dir) {
            if (errno == ENOENT)
                continue;
            goto out;
        }
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (de->d_name[0] == '.')
                continue;
            bool isdir = de->d_type == DT_DIR;
            if (de->d_type == DT_UNKNOWN) {
                char p[PATH_MAX];
                isdir = pjoin(p, sizeof(p), ps[i], de->d_name) == 0 && is_dir(p);
            }
            if (!isdir || strlen(de->d_name) >= sizeof(((struct cg *)0)->id))
                continue;
            if (nid == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                char **nids = ncap <= IDS_CAP ? realloc(ids, ncap * sizeof(*ids)) : NULL;
                if (!nids) {
                    closedir(dir);
                    goto out;
                }
                ids = nids;
                cap = ncap;
            }
            if (!(ids[nid] = strdup(de->d_name))) {
                closedir(dir);
                goto out;
            }
            nid++;
        }
        closedir(dir);
    }
    if (nid)
        qsort(ids, nid, sizeof(*ids), cmp_str);
    rc = 0;
    for (size_t i = 0; i < nid; i++) {
        if (i && strcmp(ids[i - 1], ids[i]) == 0)
            continue;
        if (each)
            each(ud, ids[i]);
        rc++;
    }
out:
    for (size_t i = 0; i < nid; i++)
        free(ids[i]);
    free(ids);
    return rc;
}
