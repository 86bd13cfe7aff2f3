/* GPU inventory, placement accounting and idle-mode checkpoint/restore.
 *
 * Accounting lives here and is backend-independent; the only backend-specific
 * part today is the sim copy model (copy_work), which runs on the thread pool.
 * Everything the sim backend reports carries "simulated" (device names,
 * FROST_GPU_SIMULATED=1, UUIDs starting "GPU-sim-"). */
#include "gpu/gpu.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_BANDWIDTH (25ull * 1000 * 1000 * 1000) /* PCIe Gen4 x16, GPU-NOTES.md */
#define MAX_DEVICE_MB     (16ull * 1024 * 1024) /* 16 TB: keeps MB→bytes far from overflow */
#define MAX_MAP           32
#define MAX_SPEC          1024
#define ENV_N             5

struct type_entry {
    char fc[32];  /* "fc.gpu.tesla.1" */
    char dev[32]; /* "T4" */
    bool whole;   /* FC sells this type only as a whole card */
};

/* Documented in docs/gpu.md; type_map entries override or extend it. */
static const struct type_entry builtin_map[] = {
    {"fc.gpu.tesla.1", "T4", false}, {"fc.gpu.ampere.1", "A10", false},
    {"fc.gpu.ada.1", "L20", true},   {"fc.gpu.ada.2", "L4", false},
    {"fc.gpu.ada.3", "L20", false},  {"fc.gpu.hopper.1", "H100", false},
};

struct gpu {
    uv_loop_t *loop;
    bool sim;
    size_t n;
    struct gpu_device dev[GPU_MAX_DEVICES];
    uint64_t bandwidth;
    unsigned card_quota;
    size_t nmap;
    struct type_entry map[MAX_MAP];
    unsigned pending; /* queued checkpoint/restore work; gpu_free requires 0 */
};

struct gpu_placement {
    struct gpu *g;
    size_t dev;       /* index into g->dev */
    uint64_t mb;      /* size of the slice, kept while checkpointed */
    uint64_t held_mb; /* what it holds on the device now: mb, or 0 when checkpointed */
    bool checkpointed;
    /* One checkpoint/restore at a time; work is embedded because of that. */
    bool busy;
    bool restoring;
    bool released; /* released while busy: freed when the work reports back */
    pid_t pid;
    uint64_t copy_ns; /* modelled copy time of the last checkpoint/restore */
    gpu_done_fn done;
    void *ud;
    uv_work_t work;
    char env_buf[ENV_N][160];
    char *env[ENV_N + 1];
};

/* ---- spec parsing ---------------------------------------------------- */

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static const char *type_display_name(const char *type, char *buf, size_t len)
{
    if (strcmp(type, "T4") == 0)
        return "Tesla T4 (simulated)";
    if (strcmp(type, "A10") == 0)
        return "NVIDIA A10 (simulated)";
    if (strcmp(type, "generic") == 0)
        return "Generic GPU (simulated)";
    snprintf(buf, len, "%s (simulated)", type);
    return buf;
}

/* "24GB" / "512MB" (suffix case-insensitive) → MB. */
static int parse_size(const char *s, uint64_t *mb)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v == 0)
        return -1;
    uint64_t mult;
    if (strcasecmp(end, "GB") == 0)
        mult = 1024;
    else if (strcasecmp(end, "MB") == 0)
        mult = 1;
    else
        return -1;
    if (v > MAX_DEVICE_MB / mult)
        return -1;
    *mb = v * mult;
    return 0;
}

static bool valid_type_name(const char *s, size_t len)
{
    if (len == 0 || len >= sizeof(((struct gpu_device *)0)->type))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

/* One "<count>x[<TYPE>-]<size>" group, appended to g->dev. */
static int parse_group(struct gpu *g, const char *spec, const char *grp, uint64_t spec_hash,
                       struct frost_err *err)
{
#define BAD(...)                                                                                   \
    frost_err_set(err, 400, "InvalidConfig", "gpu spec \"%s\": device group \"%s\": " __VA_ARGS__)
    char *end;
    if (!isdigit((unsigned char)*grp))
        return BAD("expected <count>x[<TYPE>-]<size>(GB|MB), e.g. 2x24GB or 1xT4-16GB", spec, grp);
    errno = 0;
    unsigned long cnt = strtoul(grp, &end, 10);
    if (errno || *end != 'x' || cnt == 0)
        return BAD("expected <count>x[<TYPE>-]<size>(GB|MB), e.g. 2x24GB or 1xT4-16GB", spec, grp);
    if (cnt > GPU_MAX_DEVICES - g->n)
        return BAD("more than %d devices in total", spec, grp, GPU_MAX_DEVICES);
    const char *rest = end + 1;
    const char *dash = strrchr(rest, '-');
    char type[32] = "generic";
    const char *size = rest;
    if (dash) {
        size_t tl = (size_t)(dash - rest);
        if (!valid_type_name(rest, tl))
            return BAD("device type must be 1-31 letters, digits or '_'", spec, grp);
        memcpy(type, rest, tl);
        type[tl] = '\0';
        size = dash + 1;
    }
    uint64_t mb;
    if (parse_size(size, &mb) < 0)
        return BAD("size \"%s\" must be a positive number followed by GB or MB (at most %llu MB)",
                   spec, grp, size, (unsigned long long)MAX_DEVICE_MB);
#undef BAD
    char nbuf[64];
    const char *name = type_display_name(type, nbuf, sizeof(nbuf));
    for (unsigned long i = 0; i < cnt; i++) {
        struct gpu_device *d = &g->dev[g->n];
        d->index = (int)g->n;
        uint64_t h2 = fnv1a(spec, spec_hash ^ (0x9e3779b97f4a7c15ull * (g->n + 1)));
        /* NVIDIA layout (8-4-4-4-12 hex) after a readable prefix, stable across restarts
         * for the same spec so instances and logs can refer to a device by UUID. */
        snprintf(d->uuid, sizeof(d->uuid),
                 "GPU-sim-%zu-%08" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
                 g->n, (uint32_t)(spec_hash >> 32), (uint32_t)(spec_hash >> 16) & 0xffff,
                 (uint32_t)spec_hash & 0xffff, (uint32_t)(h2 >> 48),
                 (uint64_t)(h2 & 0xffffffffffffull));
        snprintf(d->name, sizeof(d->name), "%s", name);
        snprintf(d->type, sizeof(d->type), "%s", type);
        d->memory_mb = mb;
        d->reserved_mb = 0;
        d->simulated = true;
        g->n++;
    }
    return 0;
}

static int parse_spec(struct gpu *g, const char *spec, struct frost_err *err)
{
    if (!spec || !*spec || strcmp(spec, "none") == 0)
        return 0;
    if (strlen(spec) >= MAX_SPEC)
        return frost_err_set(err, 400, "InvalidConfig", "gpu spec longer than %d bytes",
                             MAX_SPEC - 1);
    if (strncmp(spec, "sim:", 4) != 0)
        return frost_err_set(err, 400, "InvalidConfig",
                             "gpu spec \"%s\": expected \"none\" or \"sim:<count>x[<TYPE>-]"
                             "<size>,...\" (e.g. sim:2x24GB); the nvidia backend is not built yet",
                             spec);
    g->sim = true;
    uint64_t h = fnv1a(spec, 14695981039346656037ull);
    char buf[MAX_SPEC];
    snprintf(buf, sizeof(buf), "%s", spec + 4);
    if (!buf[0])
        return frost_err_set(err, 400, "InvalidConfig", "gpu spec \"%s\": no devices listed", spec);
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (parse_group(g, spec, p, h, err) < 0)
            return -1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* "fc.gpu.tesla.1=T4,..." on top of the built-in map. */
static int parse_type_map(struct gpu *g, const char *s, struct frost_err *err)
{
    memcpy(g->map, builtin_map, sizeof(builtin_map));
    g->nmap = ARRAY_LEN(builtin_map);
    if (!s || !*s)
        return 0;
    if (strlen(s) >= MAX_SPEC)
        return frost_err_set(err, 400, "InvalidConfig", "gpu type map longer than %d bytes",
                             MAX_SPEC - 1);
    char buf[MAX_SPEC];
    snprintf(buf, sizeof(buf), "%s", s);
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        char *eq = strchr(p, '=');
        size_t fl = eq ? (size_t)(eq - p) : 0;
        if (!eq || fl == 0 || fl >= sizeof(g->map[0].fc) ||
            !valid_type_name(eq + 1, strlen(eq + 1)))
            return frost_err_set(err, 400, "InvalidConfig",
                                 "gpu type map entry \"%s\": expected <fc gpuType>=<device type>, "
                                 "e.g. fc.gpu.tesla.1=T4",
                                 p);
        *eq = '\0';
        size_t i;
        for (i = 0; i < g->nmap; i++)
            if (strcmp(g->map[i].fc, p) == 0)
                break;
        if (i == g->nmap) {
            if (g->nmap == MAX_MAP)
                return frost_err_set(err, 400, "InvalidConfig", "gpu type map: more than %d types",
                                     MAX_MAP);
            g->nmap++;
            snprintf(g->map[i].fc, sizeof(g->map[i].fc), "%s", p);
            g->map[i].whole = false;
        }
        snprintf(g->map[i].dev, sizeof(g->map[i].dev), "%s", eq + 1);
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int gpu_new(const struct gpu_opts *o, struct gpu **out, struct frost_err *err)
{
    _cleanup_free_ struct gpu *g = calloc(1, sizeof(*g));
    if (!g)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    g->loop = o->loop;
    g->bandwidth = o->sim_bandwidth ? o->sim_bandwidth : DEFAULT_BANDWIDTH;
    g->card_quota = o->card_quota;
    if (parse_spec(g, o->spec, err) < 0 || parse_type_map(g, o->type_map, err) < 0)
        return -1;
    *out = steal_ptr(&g);
    return 0;
}

void gpu_free(struct gpu *g)
{
    if (!g)
        return;
    /* Queued work points at g; the caller must run the loop until every done
     * callback has fired before freeing (see gpu.h / docs/gpu.md). */
    assert(g->pending == 0);
    free(g);
}

bool gpu_busy(const struct gpu *g)
{
    return g && g->pending > 0;
}

const char *gpu_backend(const struct gpu *g)
{
    return g->sim ? "sim" : "none";
}

size_t gpu_count(const struct gpu *g)
{
    return g->n;
}

const struct gpu_device *gpu_device(const struct gpu *g, size_t i)
{
    return i < g->n ? &g->dev[i] : NULL;
}

/* ---- placement ------------------------------------------------------- */

static unsigned cards_in_use(const struct gpu *g)
{
    unsigned n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += g->dev[i].reserved_mb > 0;
    return n;
}

static bool quota_full(const struct gpu *g)
{
    return g->card_quota && cards_in_use(g) >= g->card_quota;
}

/* NULL = any device type (no gpuType on the function); "generic" devices take
 * every type, except when exact (a restore must land on the same chip). */
static bool type_matches(const struct gpu_device *d, const char *want, bool exact)
{
    if (exact)
        return strcmp(d->type, want) == 0;
    return !want || strcmp(d->type, "generic") == 0 || strcmp(d->type, want) == 0;
}

/* Best fit among devices of want with mb free, excluding skip (SIZE_MAX = none).
 * Returns SIZE_MAX when nothing fits; *quota_hit says an empty device was
 * skipped only because of the card quota. */
static size_t best_fit(const struct gpu *g, const char *want, bool exact, uint64_t mb, bool whole,
                       size_t skip, bool *quota_hit)
{
    size_t best = SIZE_MAX;
    uint64_t best_free = UINT64_MAX;
    bool qfull = quota_full(g);
    *quota_hit = false;
    for (size_t i = 0; i < g->n; i++) {
        const struct gpu_device *d = &g->dev[i];
        uint64_t avail = d->memory_mb - d->reserved_mb;
        if (i == skip || !type_matches(d, want, exact) || avail < mb)
            continue;
        if (whole && d->reserved_mb > 0)
            continue;
        if (d->reserved_mb == 0 && qfull) {
            *quota_hit = true;
            continue;
        }
        if (avail < best_free) {
            best = i;
            best_free = avail;
        }
    }
    return best;
}

static void fill_env(struct gpu_placement *p)
{
    const struct gpu_device *d = &p->g->dev[p->dev];
    size_t n = 0;
    snprintf(p->env_buf[n++], sizeof(p->env_buf[0]), "CUDA_VISIBLE_DEVICES=%s", d->uuid);
    snprintf(p->env_buf[n++], sizeof(p->env_buf[0]), "NVIDIA_VISIBLE_DEVICES=%s", d->uuid);
    snprintf(p->env_buf[n++], sizeof(p->env_buf[0]), "FROST_GPU_MEMORY_MB=%" PRIu64, p->mb);
    snprintf(p->env_buf[n++], sizeof(p->env_buf[0]), "FROST_GPU_DEVICE_NAME=%s", d->name);
    if (d->simulated)
        snprintf(p->env_buf[n++], sizeof(p->env_buf[0]), "FROST_GPU_SIMULATED=1");
    for (size_t i = 0; i < n; i++)
        p->env[i] = p->env_buf[i];
    p->env[n] = NULL;
}

static const struct type_entry *lookup_type(const struct gpu *g, const char *fc)
{
    for (size_t i = 0; i < g->nmap; i++)
        if (strcmp(g->map[i].fc, fc) == 0)
            return &g->map[i];
    return NULL;
}

/* Fills an actionable 503 for "nothing of type want has mb free". */
static int exhausted(const struct gpu *g, const char *want, bool exact, uint64_t mb, bool whole,
                     bool quota_hit, struct frost_err *err)
{
    size_t ndev = 0;
    uint64_t largest = 0;
    for (size_t i = 0; i < g->n; i++) {
        const struct gpu_device *d = &g->dev[i];
        if (!type_matches(d, want, exact))
            continue;
        ndev++;
        uint64_t avail = whole && d->reserved_mb ? 0 : d->memory_mb - d->reserved_mb;
        if (avail > largest)
            largest = avail;
    }
    const char *label = want ? want : "";
    if (quota_hit)
        return frost_err_set(err, 503, "ResourceExhausted",
                             "GPU card quota reached (%u of %u cards in use): no %s%sGPU in use "
                             "has %" PRIu64 " MB free; release an instance or raise the quota",
                             cards_in_use(g), g->card_quota, label, want ? " " : "", mb);
    return frost_err_set(err, 503, "ResourceExhausted",
                         "no %s%sGPU with %" PRIu64
                         " MB free%s: %zu device%s, largest free %" PRIu64
                         " MB; retry later, release an instance or request less memory",
                         label, want ? " " : "", mb, whole ? " (whole card)" : "", ndev,
                         ndev == 1 ? "" : "s", largest);
}

int gpu_place(struct gpu *g, const char *fc_gpu_type, uint64_t memory_mb,
              struct gpu_placement **out, struct frost_err *err)
{
    if (g->n == 0)
        return frost_err_set(err, 400, "InvalidArgument",
                             "no GPUs on this node (gpu backend \"none\"); remove gpuConfig from "
                             "the function or start frost with GPUs");
    if (memory_mb == 0)
        return frost_err_set(err, 400, "InvalidArgument", "GPU memory size must be > 0 MB");
    const char *want = NULL;
    bool whole = false;
    if (fc_gpu_type && *fc_gpu_type) {
        const struct type_entry *t = lookup_type(g, fc_gpu_type);
        want = t ? t->dev : fc_gpu_type;
        whole = t && t->whole;
    }
    size_t ndev = 0;
    for (size_t i = 0; i < g->n; i++)
        ndev += type_matches(&g->dev[i], want, false);
    if (ndev == 0)
        return frost_err_set(err, 400, "InvalidArgument",
                             "gpuType \"%s\" (device type %s): no such GPU on this node",
                             fc_gpu_type, want);
    bool quota_hit;
    size_t i = best_fit(g, want, false, memory_mb, whole, SIZE_MAX, &quota_hit);
    if (i == SIZE_MAX)
        return exhausted(g, want, false, memory_mb, whole, quota_hit, err);
    struct gpu_placement *p = calloc(1, sizeof(*p));
    if (!p)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    p->g = g;
    p->dev = i;
    /* A whole-card type owns the card: account all of it, so nothing else lands there. */
    p->mb = whole ? g->dev[i].memory_mb : memory_mb;
    p->held_mb = p->mb;
    g->dev[i].reserved_mb += p->mb;
    fill_env(p);
    *out = p;
    return 0;
}

static void placement_drop(struct gpu_placement *p)
{
    p->g->dev[p->dev].reserved_mb -= p->held_mb;
    free(p);
}

void gpu_release(struct gpu *g, struct gpu_placement *p)
{
    if (!p)
        return;
    /* The thread pool still holds p->work: finish the release when it reports back. */
    if (p->busy) {
        p->released = true;
        return;
    }
    placement_drop(p);
}

const struct gpu_device *gpu_placement_device(const struct gpu_placement *p)
{
    return &p->g->dev[p->dev];
}

uint64_t gpu_placement_mb(const struct gpu_placement *p)
{
    return p->mb;
}

char *const *gpu_placement_env(const struct gpu_placement *p)
{
    return p->env;
}

bool gpu_placement_checkpointed(const struct gpu_placement *p)
{
    return p->checkpointed;
}

uint64_t gpu_placement_copy_ns(const struct gpu_placement *p)
{
    return p->copy_ns;
}

void gpu_usage(const struct gpu *g, struct gpu_usage *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < g->n; i++) {
        out->memory_mb += g->dev[i].memory_mb;
        out->reserved_mb += g->dev[i].reserved_mb;
    }
    out->cards_in_use = cards_in_use(g);
    out->card_quota = g->card_quota;
}

/* ---- checkpoint / restore -------------------------------------------- */

/* Thread pool. The sim backend's stand-in for cuCheckpointProcess*: the time a
 * host↔device copy of the slice takes over the modelled link. */
static void copy_work(uv_work_t *w)
{
    struct gpu_placement *p = container_of(w, struct gpu_placement, work);
    struct timespec ts = {(time_t)(p->copy_ns / 1000000000ull), (long)(p->copy_ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void copy_done(uv_work_t *w, int status)
{
    struct gpu_placement *p = container_of(w, struct gpu_placement, work);
    struct gpu *g = p->g;
    g->pending--;
    p->busy = false;
    if (p->restoring) {
        /* Memory was reserved before the copy started (see gpu_restore). */
        p->checkpointed = false;
    } else {
        g->dev[p->dev].reserved_mb -= p->held_mb;
        p->held_mb = 0;
        p->checkpointed = true;
    }
    if (p->released) {
        placement_drop(p);
        return;
    }
    FROST_UNUSED(status); /* uv_cancel is never called on this work */
    p->done(p, 0, NULL, p->ud);
}

static uint64_t model_ns(const struct gpu *g, uint64_t mb)
{
    return (uint64_t)((double)mb * 1048576.0 * 1e9 / (double)g->bandwidth);
}

/* Refusals are reported synchronously through done, before the call returns. */
static bool refuse(struct gpu_placement *p, bool want_checkpointed, const char *what,
                   gpu_done_fn done, void *ud)
{
    struct frost_err err = {0};
    if (p->busy)
        frost_err_set(&err, 409, "Conflict",
                      "GPU %s refused: a checkpoint or restore of this instance is in progress",
                      what);
    else if (p->checkpointed != want_checkpointed)
        frost_err_set(&err, 409, "Conflict", "GPU %s refused: instance GPU state is %s", what,
                      p->checkpointed ? "already checkpointed" : "not checkpointed");
    else
        return false;
    done(p, -1, &err, ud);
    return true;
}

static void start(struct gpu *g, struct gpu_placement *p, pid_t pid, bool restoring,
                  gpu_done_fn done, void *ud)
{
    p->busy = true;
    p->restoring = restoring;
    p->pid = pid;
    p->done = done;
    p->ud = ud;
    p->copy_ns = model_ns(g, p->mb);
    int rc = uv_queue_work(g->loop, &p->work, copy_work, copy_done);
    /* uv_queue_work fails only for a NULL work_cb; treat it as a bug, not a runtime error. */
    assert(rc == 0);
    FROST_UNUSED(rc);
    g->pending++;
}

void gpu_checkpoint(struct gpu *g, struct gpu_placement *p, pid_t pid, gpu_done_fn done, void *ud)
{
    if (!p) {
        done(NULL, 0, NULL, ud);
        return;
    }
    if (refuse(p, false, "checkpoint", done, ud))
        return;
    start(g, p, pid, false, done, ud);
}

int gpu_placement_used_mb(const struct gpu *g, const struct gpu_placement *p, uint64_t *out)
{
    (void)g;
    (void)p;
    *out = 0;
    return -1; /* sim and none: unknown */
}

bool gpu_restore_fits(const struct gpu *g, const struct gpu_placement *p)
{
    if (!p || !gpu_placement_checkpointed(p))
        return true;
    const struct gpu_device *cur = &g->dev[p->dev];
    if (cur->memory_mb - cur->reserved_mb >= p->mb && !(cur->reserved_mb == 0 && quota_full(g)))
        return true;
    bool quota_hit;
    return best_fit(g, cur->type, true, p->mb, false, p->dev, &quota_hit) != SIZE_MAX;
}

void gpu_restore(struct gpu *g, struct gpu_placement *p, pid_t pid, gpu_done_fn done, void *ud)
{
    if (!p) {
        done(NULL, 0, NULL, ud);
        return;
    }
    if (refuse(p, true, "restore", done, ud))
        return;
    /* Reserve before copying: a restore that runs out of device memory can
     * leave the process stuck CHECKPOINTED (GPU-NOTES.md), and nothing else
     * may take the memory while the copy runs. */
    struct gpu_device *cur = &g->dev[p->dev];
    size_t target = p->dev;
    if (cur->memory_mb - cur->reserved_mb < p->mb || (cur->reserved_mb == 0 && quota_full(g))) {
        bool quota_hit;
        /* Same chip only: the driver restores onto another GPU of the same chip. */
        target = best_fit(g, cur->type, true, p->mb, false, p->dev, &quota_hit);
        if (target == SIZE_MAX) {
            struct frost_err err = {0};
            exhausted(g, cur->type, true, p->mb, false, quota_hit, &err);
            frost_err_prefix(&err, "GPU restore");
            done(p, -1, &err, ud);
            return;
        }
    }
    p->dev = target;
    p->held_mb = p->mb;
    g->dev[target].reserved_mb += p->mb;
    fill_env(p);
    start(g, p, pid, true, done, ud);
}
