/* Instances: spawn, readiness, hooks, health, freeze/thaw, stop, teardown. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/reqid.h"
#include "runtime/cgroup.h"
#include "runtime/exec.h"
#include "runtime/logs.h"
#include "runtime/rt.h"
#include "spec/spec.h"

#define MAX_ARGS     256
#define MAX_ENV      512
#define PROBE_MIN_MS 2
/* Most functions listen within this long of spawning: probe at the fastest
 * pace until then, so readiness is seen within PROBE_MIN_MS, then back off. */
#define PROBE_FAST_MS 300
#define PROBE_MAX_MS  200
#define DRAIN_MAX_MS  5000
#define HOOK_HEADERS  8

struct rt {
    uv_loop_t *loop;
    const struct frost_config *cfg;
    struct http_client *client;
    char exe[PATH_MAX];
    char helper[PATH_MAX]; /* frost-exec beside the binary, or "" (then frost __exec) */
    struct cg_root cg;
    bool favordynmods_tried;
    bool cg_ok;
    bool freeze_by_signal; /* no cgroup freezer: SIGSTOP/SIGCONT the session */
    char isolation[64];
    bool drop;
    uid_t uid;
    gid_t gid;
    unsigned port_first, port_last, port_next;
    struct rt_instance *all;
    size_t n;
    struct backoff *backoffs;
    char node[16];
    uint64_t seq;
    char port_dir[PATH_MAX]; /* host-wide port locks; "" = none */
    bool shutting_down;
    void (*shutdown_done)(void *ud);
    void *shutdown_ud;
    struct {
        rt_phase_fn fn;
        void *ud;
    } phase_obs[4];
    int n_phase_obs;
};

enum probe_kind { PROBE_NONE, PROBE_TCP, PROBE_HTTP };

/* Start failures per function: the next start waits 1 s, 2 s, 4 s … up to a
 * minute after consecutive failures, so a broken function does not make
 * Frost spawn it in a hot loop. */
struct backoff {
    struct backoff *next;
    char fn[128];
    unsigned failures;
    int64_t not_before_ms;
    char last_error[256];
};
#define BACKOFF_MAX_MS 60000

struct rt_instance {
    struct rt *rt;
    struct rt_instance *next, *prev;
    char id[64];
    char fn[128];
    char kind[24];
    enum rt_state state;
    enum rt_phase phase;
    uint64_t phase_since_ms;        /* wall clock */
    uint64_t phase_ms[RT_PH_COUNT]; /* completed time in each phase */
    uint64_t gpu_mb;                /* GPU memory held now */
    char gpu_type[32];
    bool frozen;
    char error[512];
    rt_event_fn cb;
    void *ud;

    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t timer;       /* start deadline, hook and stop deadlines */
    uv_timer_t probe_timer; /* probes, freeze polling, drain polling */
    int handles_open;
    bool proc_alive;
    int64_t exit_status;
    int term_signal;
    pid_t pid;

    struct cg cg;
    bool has_cg;
    struct rt_log *log;
    char log_dir[PATH_MAX];
    struct http_endpoint ep;
    int port;
    int port_lock; /* fd holding the port's lock file, or -1 */

    /* from the function document */
    enum probe_kind probe;
    char hc_url[512];
    uint64_t hc_delay_ms, hc_period_ms, hc_timeout_ms;
    int hc_failure_threshold, hc_success_threshold;
    bool has_init, has_prestop;
    uint64_t init_timeout_ms, prestop_timeout_ms;
    char init_handler[256];
    int memory_mb;
    double cpu;
    int timeout_s;

    /* probing */
    int successes, failures;
    unsigned probe_backoff_ms;
    uv_tcp_t probe_tcp;
    uv_connect_t probe_conn;
    bool probe_tcp_busy;
    struct http_creq *probe_req;
    int probe_status; /* HTTP status of the probe in flight, 0 before its head */
    struct http_creq *hook_req;
    int hook_status;

    /* timings (ms since epoch for users, µs durations for metrics) */
    int64_t created_ms, ready_ms, destroyed_ms;
    uint64_t t_spawn_ns, spawn_us, listen_us, init_us, first_byte_us;
    bool first_byte_known;
    uint64_t freeze_count, thaw_count, last_freeze_us, last_thaw_us;
    uint64_t wakes, last_wake_us, last_wake_copy_us; /* idle mode, from the scheduler */

    /* freeze/thaw in progress */
    bool want_frozen;
    uint64_t freeze_start_ns;
    void (*freeze_done)(struct rt_instance *, int, void *);
    void *freeze_ud;

    /* stop / teardown */
    bool stop_requested;
    bool tearing_down;
    bool term_sent, kill_sent;
    uint64_t drain_started_ms;
};

static void fail(struct rt_instance *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_phase(struct rt_instance *in, enum rt_phase p, bool first);
static void teardown(struct rt_instance *in);
static void schedule_probe(struct rt_instance *in, uint64_t ms);
static void begin_term(struct rt_instance *in);
static void tcp_probe_closed(uv_handle_t *h);

/* ------------------------------------------------------------------ helpers */

const char *rt_state_name(enum rt_state s)
{
    switch (s) {
    case RT_STARTING:
        return "Starting";
    case RT_INITIALIZING:
        return "Initializing";
    case RT_READY:
        return "Running";
    case RT_STOPPING:
        return "Stopping";
    case RT_STOPPED:
        return "Stopped";
    case RT_FAILED:
        return "Failed";
    }
    return "?";
}

static int64_t get_int(const json_t *o, const char *k, int64_t dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static double get_num(const json_t *o, const char *k, double dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* A port nobody listens on now: the instance must be able to bind it. */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Ports are also reserved host-wide with a lock file each, held while the
 * instance lives: two Frosts on one host (or a restarted one whose old
 * instance is still dying) never hand out the same port, so a probe can only
 * reach the instance it is meant for. */
static int reserve_port(struct rt *rt, unsigned p)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%u", rt->port_dir, p);
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    (void)fchmod(fd, 0644); /* readable for Frosts of other users (umask) */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int pick_port(struct rt *rt, int *lock_fd)
{
    unsigned span = rt->port_last - rt->port_first + 1;
    for (unsigned k = 0; k < span; k++) {
        unsigned p = rt->port_first + (rt->port_next - rt->port_first + k) % span;
        bool used = false;
        for (struct rt_instance *in = rt->all; in && !used; in = in->next)
            used = in->port == (int)p;
        if (used)
            continue;
        int fd = rt->port_dir[0] ? reserve_port(rt, p) : -1;
        if (rt->port_dir[0] && fd < 0)
            continue;
        if (!port_free((int)p)) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        rt->port_next = p + 1 > rt->port_last ? rt->port_first : p + 1;
        *lock_fd = fd;
        return (int)p;
    }
    return -1;
}

static struct backoff *backoff_of(struct rt *rt, const char *fn, bool create)
{
    for (struct backoff *b = rt->backoffs; b; b = b->next) {
        if (strcmp(b->fn, fn) == 0)
            return b;
    }
    if (!create)
        return NULL;
    struct backoff *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    snprintf(b->fn, sizeof(b->fn), "%s", fn);
    b->next = rt->backoffs;
    rt->backoffs = b;
    return b;
}

static void start_failed(struct rt_instance *in)
{
    struct backoff *b = backoff_of(in->rt, in->fn, true);
    if (!b)
        return;
    b->failures++;
    uint64_t delay = 1000ull << (b->failures > 7 ? 6 : b->failures - 1);
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    b->not_before_ms = clock_wall_ms() + (int64_t)delay;
    snprintf(b->last_error, sizeof(b->last_error), "%s", in->error);
}

void rt_forget_failures(struct rt *rt, const char *fn)
{
    struct backoff *b = backoff_of(rt, fn, false);
    if (b) {
        b->failures = 0;
        b->not_before_ms = 0;
    }
}

static void start_succeeded(struct rt_instance *in)
{
    struct backoff *b = backoff_of(in->rt, in->fn, false);
    if (b) {
        b->failures = 0;
        b->not_before_ms = 0;
    }
}

static void emit(struct rt_instance *in, enum rt_event ev)
{
    if (in->cb)
        in->cb(in, ev, in->ud);
}

/* ------------------------------------------------------------- the command */

/* argv of the function: customRuntimeConfig.command + args, or
 * customContainerConfig.entrypoint + command (run on the host). */
static int build_argv(const json_t *fn, char **argv, size_t max, size_t *n, struct frost_err *err)
{
    const char *runtime = json_string_value(json_object_get(fn, "runtime"));
    bool container = runtime && strcmp(runtime, "custom-container") == 0;
    const json_t *cfg =
        json_object_get(fn, container ? "customContainerConfig" : "customRuntimeConfig");
    const char *first = container ? "entrypoint" : "command";
    const char *second = container ? "command" : "args";
    *n = 0;
    const char *parts[2] = {first, second};
    for (int p = 0; p < 2; p++) {
        const json_t *arr = json_object_get(cfg, parts[p]);
        size_t i;
        const json_t *v;
        json_array_foreach(arr, i, v)
        {
            if (!json_is_string(v) || *n + 1 >= max)
                return frost_err_set(err, 400, "InvalidArgument", "%s.%s: not a list of strings",
                                     container ? "customContainerConfig" : "customRuntimeConfig",
                                     parts[p]);
            argv[(*n)++] = (char *)json_string_value(v);
        }
    }
    argv[*n] = NULL;
    if (*n > 0)
        return 0;
    if (container) {
        const char *image = json_string_value(json_object_get(cfg, "image"));
        return frost_err_set(err, 400, "FunctionNotRunnable",
                             "image %s cannot run on this host without a command: set "
                             "customContainerConfig.entrypoint or .command (Frost does not pull "
                             "and run container images yet)",
                             image ? image : "?");
    }
    return frost_err_set(err, 400, "FunctionNotRunnable",
                         "customRuntimeConfig.command is empty: Frost needs the command that "
                         "starts the function's web server");
}

static void read_hooks(struct rt_instance *in, const json_t *fn)
{
    const json_t *lc = json_object_get(fn, "instanceLifecycleConfig");
    const json_t *init = json_object_get(lc, "initializer");
    const json_t *stop = json_object_get(lc, "preStop");
    const char *h = json_string_value(json_object_get(init, "handler"));
    in->has_init = (h && h[0]) || json_array_size(json_object_get(init, "command")) > 0;
    snprintf(in->init_handler, sizeof(in->init_handler), "%s", h ? h : "");
    in->init_timeout_ms = (uint64_t)get_int(init, "timeout", SPEC_DEFAULT_HOOK_TIMEOUT_S) * 1000;
    h = json_string_value(json_object_get(stop, "handler"));
    in->has_prestop = (h && h[0]) || json_array_size(json_object_get(stop, "command")) > 0;
    in->prestop_timeout_ms = (uint64_t)get_int(stop, "timeout", SPEC_DEFAULT_HOOK_TIMEOUT_S) * 1000;
}

static void read_health(struct rt_instance *in, const json_t *fn)
{
    const char *runtime = json_string_value(json_object_get(fn, "runtime"));
    bool container = runtime && strcmp(runtime, "custom-container") == 0;
    const json_t *cfg =
        json_object_get(fn, container ? "customContainerConfig" : "customRuntimeConfig");
    const json_t *hc = json_object_get(cfg, "healthCheckConfig");
    const char *url = json_string_value(json_object_get(hc, "httpGetUrl"));
    in->probe = url && url[0] ? PROBE_HTTP : PROBE_TCP;
    snprintf(in->hc_url, sizeof(in->hc_url), "%s", url ? url : "/");
    in->hc_delay_ms =
        (uint64_t)get_int(hc, "initialDelaySeconds", SPEC_HC_DEFAULT_INITIAL_DELAY) * 1000;
    in->hc_period_ms = (uint64_t)get_int(hc, "periodSeconds", SPEC_HC_DEFAULT_PERIOD_S) * 1000;
    in->hc_timeout_ms = (uint64_t)get_int(hc, "timeoutSeconds", SPEC_HC_DEFAULT_TIMEOUT_S) * 1000;
    in->hc_failure_threshold = (int)get_int(hc, "failureThreshold", SPEC_HC_DEFAULT_FAILURE_THRESH);
    in->hc_success_threshold = (int)get_int(hc, "successThreshold", SPEC_HC_DEFAULT_SUCCESS_THRESH);
}

struct envv {
    char *v[MAX_ENV];
    size_t n;
};

static int env_add(struct envv *e, const char *k, const char *v)
{
    if (e->n + 1 >= MAX_ENV)
        return -1;
    size_t len = strlen(k) + strlen(v) + 2;
    char *s = malloc(len);
    if (!s)
        return -1;
    snprintf(s, len, "%s=%s", k, v);
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
    return 0;
}

static void env_free(struct envv *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    e->n = 0;
}

/* The instance's environment: nothing of Frost's own (it may hold keys),
 * a sane PATH, the FC contract, then the function's variables. */
static int build_env(struct rt_instance *in, const json_t *fn, const char *code_dir,
                     char *const *extra, struct envv *e)
{
    const struct frost_config *cfg = in->rt->cfg;
    char port[16], mem[16];
    snprintf(port, sizeof(port), "%d", in->port);
    snprintf(mem, sizeof(mem), "%d", in->memory_mb);
    int rc = 0;
    /* Not Frost's own PATH: root's may name dirs the function user cannot enter. */
    rc |= env_add(e, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    rc |= env_add(e, "HOME", "/tmp");
    rc |= env_add(e, "LANG", "C.UTF-8");
    rc |= env_add(e, "FC_SERVER_PORT", port);
    rc |= env_add(e, "FC_CUSTOM_LISTEN_PORT", port);
    rc |= env_add(e, "FC_FUNCTION_NAME", in->fn);
    rc |= env_add(e, "FC_INSTANCE_ID", in->id);
    rc |= env_add(e, "FC_FUNCTION_MEMORY_SIZE", mem);
    rc |= env_add(e, "FC_REGION", cfg->region);
    rc |= env_add(e, "FC_ACCOUNT_ID", cfg->account_id);
    rc |= env_add(e, "FC_FUNCTION_VERSION", "LATEST");
    rc |= env_add(e, "FC_FUNC_CODE_PATH", code_dir ? code_dir : "");
    const char *handler = json_string_value(json_object_get(fn, "handler"));
    rc |= env_add(e, "FC_FUNCTION_HANDLER", handler ? handler : "");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(fn, "environmentVariables"), k, v)
    {
        if (json_is_string(v))
            rc |= env_add(e, k, json_string_value(v));
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        char *s = strdup(extra[i]);
        if (!s || e->n + 1 >= MAX_ENV) {
            free(s);
            rc = -1;
            break;
        }
        e->v[e->n++] = s;
        e->v[e->n] = NULL;
    }
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------ process I/O */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[16384]; /* loop thread only; consumed before the next read */
    *b = uv_buf_init(buf, sizeof(buf));
}

static void on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct rt_instance *in = s->data;
    if (n > 0 && in->log)
        rt_log_write(in->log, b->base, (size_t)n);
    if (n < 0)
        uv_read_stop(s);
}

/* Counts down the handles (and the log) the instance still owns; the last
 * one frees it. */
static void release(struct rt_instance *in)
{
    if (--in->handles_open > 0)
        return;
    struct rt *rt = in->rt;
    if (in->prev)
        in->prev->next = in->next;
    else
        rt->all = in->next;
    if (in->next)
        in->next->prev = in->prev;
    rt->n--;
    if (in->port_lock >= 0)
        close(in->port_lock);
    in->state = RT_STOPPED;
    set_phase(in, RT_PH_STOPPED, false);
    emit(in, RT_EV_STOPPED);
    free(in);
    if (rt->shutting_down && !rt->all && rt->shutdown_done) {
        void (*done)(void *) = rt->shutdown_done;
        rt->shutdown_done = NULL;
        done(rt->shutdown_ud);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    release(h->data);
}

static void log_closed(void *ud)
{
    release(ud);
}

/* The last step: everything is dead and the cgroup is empty. */
static void finish(struct rt_instance *in)
{
    in->destroyed_ms = clock_wall_ms();
    if (in->has_cg) {
        struct frost_err err = {0};
        if (cg_destroy(&in->cg, &err) < 0)
            log_warn("instance_cgroup_left", "instance=%s error=\"%s\"", in->id, err.msg);
    }
    log_info("instance_stopped", "function=%s instance=%s%s%s", in->fn, in->id,
             in->error[0] ? " error=" : "", in->error[0] ? "failed" : "");
    uv_close((uv_handle_t *)&in->timer, on_handle_closed);
    uv_close((uv_handle_t *)&in->probe_timer, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&in->out))
        uv_close((uv_handle_t *)&in->out, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&in->err))
        uv_close((uv_handle_t *)&in->err, on_handle_closed);
    uv_close((uv_handle_t *)&in->proc, on_handle_closed);
    if (in->log) {
        in->handles_open++;
        struct rt_log *l = in->log;
        in->log = NULL;
        rt_log_close(l, log_closed, in);
    }
}

static int group_count(struct rt_instance *in)
{
    if (in->has_cg)
        return cg_count(&in->cg);
    return in->proc_alive ? 1 : 0;
}

static void signal_all(struct rt_instance *in, int sig)
{
    if (in->has_cg) {
        struct frost_err err = {0};
        if (cg_signal_all(&in->cg, sig, &err) < 0)
            log_warn("instance_signal_failed", "instance=%s signal=%d error=\"%s\"", in->id, sig,
                     err.msg);
    } else if (in->pid > 0) {
        /* No cgroup: the session __exec started is the best handle we have. */
        if (sig == SIGTERM || sig == SIGKILL)
            kill(-in->pid, SIGCONT);
        kill(-in->pid, sig);
    }
    /* Just spawned, __exec may not have joined its cgroup or made its session
     * yet: the process itself always gets the signal. */
    if (in->proc_alive && in->pid > 0)
        kill(in->pid, sig);
}

static void drain_poll(uv_timer_t *t)
{
    struct rt_instance *in = t->data;
    int n = group_count(in);
    if (n <= 0 && !in->proc_alive) {
        finish(in);
        return;
    }
    if (clock_mono_ms() - in->drain_started_ms > DRAIN_MAX_MS) {
        log_error("instance_undead", "instance=%s processes=%d", in->id, n);
        if (!in->proc_alive) {
            finish(in);
            return;
        }
    }
    signal_all(in, SIGKILL);
    uv_timer_start(&in->probe_timer, drain_poll, 10, 0);
}

/* Stops timers and abandons the probe and hook requests in flight. */
static void cancel_io(struct rt_instance *in)
{
    uv_timer_stop(&in->timer);
    uv_timer_stop(&in->probe_timer);
    if (in->probe_req) {
        http_creq_abort(in->probe_req);
        in->probe_req = NULL;
    }
    if (in->hook_req) {
        http_creq_abort(in->hook_req);
        in->hook_req = NULL;
    }
}

/* Kill everything that is left and wait until the group is empty. */
static void teardown(struct rt_instance *in)
{
    if (in->tearing_down)
        return;
    in->tearing_down = true;
    cancel_io(in);
    if (in->probe_tcp_busy && !uv_is_closing((uv_handle_t *)&in->probe_tcp))
        uv_close((uv_handle_t *)&in->probe_tcp, tcp_probe_closed);
    if (in->freeze_done) {
        void (*done)(struct rt_instance *, int, void *) = in->freeze_done;
        in->freeze_done = NULL;
        done(in, -ECANCELED, in->freeze_ud);
    }
    in->kill_sent = true;
    signal_all(in, SIGKILL);
    in->drain_started_ms = clock_mono_ms();
    drain_poll(&in->probe_timer);
}

static const char *const phase_names[RT_PH_COUNT] = {
    "starting", "initializing", "ready/active", "ready/idle", "freezing",
    "frozen",   "thawing",      "stopping",     "stopped",    "failed",
};

const char *rt_phase_name(enum rt_phase p)
{
    return (unsigned)p < RT_PH_COUNT ? phase_names[p] : "unknown";
}

int rt_on_phase(struct rt *rt, rt_phase_fn fn, void *ud, struct frost_err *err)
{
    if (rt->n_phase_obs >= (int)ARRAY_LEN(rt->phase_obs))
        return frost_err_set(err, 500, "InternalError", "too many phase observers");
    rt->phase_obs[rt->n_phase_obs].fn = fn;
    rt->phase_obs[rt->n_phase_obs].ud = ud;
    rt->n_phase_obs++;
    return 0;
}

/* Moves the instance to phase p (first: true for its creation, when from ==
 * to) and tells the observers. */
static void set_phase(struct rt_instance *in, enum rt_phase p, bool first)
{
    uint64_t now = (uint64_t)clock_wall_ms();
    enum rt_phase from = first ? p : in->phase;
    if (!first) {
        if (p == in->phase)
            return;
        in->phase_ms[in->phase] += now > in->phase_since_ms ? now - in->phase_since_ms : 0;
    }
    if (!first) {
        /* Busy/idle flips come with every request: debug only. */
        if ((p == RT_PH_ACTIVE || p == RT_PH_IDLE) && (from == RT_PH_ACTIVE || from == RT_PH_IDLE))
            log_debug("instance_state", "function=%s instance=%s state=%s from=%s ms=%llu", in->fn,
                      in->id, phase_names[p], phase_names[from],
                      (unsigned long long)(now - in->phase_since_ms));
        else
            log_info("instance_state", "function=%s instance=%s state=%s from=%s ms=%llu", in->fn,
                     in->id, phase_names[p], phase_names[from],
                     (unsigned long long)(now > in->phase_since_ms ? now - in->phase_since_ms : 0));
    }
    in->phase = p;
    in->phase_since_ms = now;
    if (p == RT_PH_STOPPED || p == RT_PH_FAILED)
        in->gpu_mb = 0;
    struct rt *rt = in->rt;
    if (!rt->n_phase_obs)
        return;
    struct rt_phase_event e = {
        .inst = in,
        .instance_id = in->id,
        .function = in->fn,
        .kind = in->kind,
        .from = from,
        .to = p,
        .at_ms = now,
        .cpu = in->cpu,
        .memory_mb = (uint64_t)in->memory_mb,
        .gpu_memory_mb = in->gpu_mb,
        .gpu_type = in->gpu_type[0] ? in->gpu_type : NULL,
    };
    for (int i = 0; i < rt->n_phase_obs; i++)
        rt->phase_obs[i].fn(&e, rt->phase_obs[i].ud);
}

void rt_instance_set_phase(struct rt_instance *in, enum rt_phase p, uint64_t gpu_memory_mb)
{
    if (in->state != RT_READY)
        return;
    if (p != RT_PH_ACTIVE && p != RT_PH_IDLE && p != RT_PH_FREEZING && p != RT_PH_FROZEN &&
        p != RT_PH_THAWING)
        return;
    in->gpu_mb = gpu_memory_mb;
    set_phase(in, p, false);
}

enum rt_phase rt_instance_phase(const struct rt_instance *in)
{
    return in->phase;
}

uint64_t rt_instance_phase_ms(const struct rt_instance *in, enum rt_phase p)
{
    if ((unsigned)p >= RT_PH_COUNT)
        return 0;
    uint64_t ms = in->phase_ms[p];
    if (p == in->phase) {
        uint64_t now = (uint64_t)clock_wall_ms();
        ms += now > in->phase_since_ms ? now - in->phase_since_ms : 0;
    }
    return ms;
}

static void fail(struct rt_instance *in, const char *fmt, ...)
{
    if (in->state == RT_FAILED || in->state == RT_STOPPED || in->tearing_down)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->error, sizeof(in->error), fmt, ap);
    va_end(ap);
    bool was_stopping = in->state == RT_STOPPING;
    if (in->state == RT_STARTING || in->state == RT_INITIALIZING)
        start_failed(in);
    in->state = RT_FAILED;
    set_phase(in, RT_PH_FAILED, false);
    log_warn("instance_failed", "function=%s instance=%s reason=\"%s\"", in->fn, in->id, in->error);
    if (!was_stopping)
        emit(in, RT_EV_FAILED);
    teardown(in);
}

static void describe_exit(struct rt_instance *in, char *out, size_t len)
{
    struct cg_stats st = {0};
    struct frost_err err;
    bool oom = in->has_cg && cg_stats(&in->cg, &st, &err) == 0 && st.oom_kills > 0;
    if (oom)
        snprintf(out, len, "killed by the OOM killer (memory limit %d MB)", in->memory_mb);
    else if (in->term_signal)
        snprintf(out, len, "killed by signal %d (%s)", in->term_signal, strsignal(in->term_signal));
    else if (in->exit_status == RT_EXEC_FAILED)
        snprintf(out, len, "could not be started (see its log: frost-exec)");
    else if (in->exit_status == RT_EXEC_NOTFOUND)
        snprintf(out, len, "command not found");
    else
        snprintf(out, len, "exited with code %lld", (long long)in->exit_status);
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
    struct rt_instance *in = p->data;
    in->proc_alive = false;
    in->exit_status = status;
    in->term_signal = sig;
    if (in->tearing_down)
        return; /* drain_poll notices */
    char why[256];
    describe_exit(in, why, sizeof(why));
    if (in->state == RT_STOPPING) {
        /* An OOM kill that raced with the stop is still the instance's
         * failure: say so, even though the stop goes on. */
        if (!in->error[0] && strncmp(why, "killed by the OOM", 17) == 0) {
            snprintf(in->error, sizeof(in->error), "the instance %s", why);
            log_warn("instance_failed", "function=%s instance=%s reason=\"%s\"", in->fn, in->id,
                     in->error);
        }
        teardown(in);
        return;
    }
    fail(in, "the instance %s", why);
}

/* ------------------------------------------------------------ port owner */

/* Inodes of the sockets listening on TCP port `port` (v4 and v6). */
static size_t listen_inodes(int port, unsigned long *out, size_t max)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    size_t n = 0;
    for (size_t f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "re");
        if (!fp)
            continue;
        char line[512];
        while (fgets(line, sizeof(line), fp) && n < max) {
            char local[128];
            unsigned st;
            unsigned long inode;
            /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
            if (sscanf(line, " %*s %127s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) != 3)
                continue;
            const char *colon = strrchr(local, ':');
            if (st == 0x0A && colon && (int)strtol(colon + 1, NULL, 16) == port)
                out[n++] = inode;
        }
        fclose(fp);
    }
    return n;
}

static bool pid_has_socket(pid_t pid, const unsigned long *inodes, size_t n)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *e;
    bool found = false;
    while (!found && (e = readdir(d))) {
        char link[PATH_MAX], target[64];
        snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
        ssize_t l = readlink(link, target, sizeof(target) - 1);
        if (l <= 0)
            continue;
        target[l] = 0;
        unsigned long ino;
        if (sscanf(target, "socket:[%lu]", &ino) == 1) {
            for (size_t i = 0; i < n && !found; i++)
                found = inodes[i] == ino;
        }
    }
    closedir(d);
    return found;
}

static void procs_files(const struct rt_instance *in, char files[][PATH_MAX], size_t *n);

/* True when the listener on the instance's port belongs to the instance:
 * a probe must never make it ready because some other program took the port
 * before the function could bind it. Read once per start, from /proc. */
static bool owns_listener(struct rt_instance *in)
{
    unsigned long inodes[16];
    size_t n = listen_inodes(in->port, inodes, ARRAY_LEN(inodes));
    if (n == 0)
        return true; /* /proc says nothing (another netns?): trust the probe */
    if (in->has_cg) {
        char files[8][PATH_MAX];
        size_t nf = 0;
        procs_files(in, files, &nf);
        for (size_t f = 0; f < nf; f++) {
            FILE *fp = fopen(files[f], "re");
            if (!fp)
                continue;
            int pid;
            bool found = false;
            while (!found && fscanf(fp, "%d", &pid) == 1)
                found = pid_has_socket(pid, inodes, n);
            fclose(fp);
            if (found)
                return true;
        }
        return false;
    }
    return pid_has_socket(in->pid, inodes, n);
}

/* ------------------------------------------------------------------ probes */

static void became_ready(struct rt_instance *in)
{
    in->state = RT_READY;
    set_phase(in, RT_PH_IDLE, false);
    in->ready_ms = clock_wall_ms();
    start_succeeded(in);
    uv_timer_stop(&in->timer);
    log_info("instance_ready",
             "function=%s instance=%s port=%d spawn_us=%llu listen_us=%llu "
             "init_us=%llu",
             in->fn, in->id, in->port, (unsigned long long)in->spawn_us,
             (unsigned long long)in->listen_us, (unsigned long long)in->init_us);
    emit(in, RT_EV_READY);
    if (in->state == RT_READY && in->probe == PROBE_HTTP)
        schedule_probe(in, in->hc_period_ms);
}

static void init_head(struct http_creq *q, const struct http_msg *m, void *ud)
{
    struct rt_instance *in = ud;
    in->hook_status = m->status;
}

static void init_done(struct http_creq *q, int status, void *ud)
{
    struct rt_instance *in = ud;
    in->hook_req = NULL;
    uv_timer_stop(&in->timer);
    if (in->state != RT_INITIALIZING)
        return;
    in->init_us = (clock_mono_ns() - in->t_spawn_ns) / 1000 - in->listen_us;
    if (status < 0) {
        fail(in, "initializer %s",
             status == UV_ETIMEDOUT ? "timed out"
                                    : "failed: the connection broke before an answer");
        return;
    }
    if (in->hook_status < 200 || in->hook_status > 299) {
        fail(in, "initializer returned %d", in->hook_status);
        return;
    }
    became_ready(in);
}

static void run_initializer(struct rt_instance *in)
{
    in->state = RT_INITIALIZING;
    set_phase(in, RT_PH_INITIALIZING, false);
    char rid[REQID_LEN + 1], tmo[24];
    reqid_new(rid);
    snprintf(tmo, sizeof(tmo), "%llu", (unsigned long long)(in->init_timeout_ms / 1000));
    struct http_header h[HOOK_HEADERS] = {
        {"x-fc-request-id", 15, rid, strlen(rid)},
        {"x-fc-function-name", 18, in->fn, strlen(in->fn)},
        {"x-fc-control-path", 17, "/initialize", 11},
        {"x-fc-function-initializer", 25, in->init_handler, strlen(in->init_handler)},
        {"x-fc-initialization-timeout", 27, tmo, strlen(tmo)},
        {"x-fc-instance-id", 16, in->id, strlen(in->id)},
        {"x-fc-region", 11, in->rt->cfg->region, strlen(in->rt->cfg->region)},
        {"x-fc-account-id", 15, in->rt->cfg->account_id, strlen(in->rt->cfg->account_id)},
    };
    struct http_creq_opts o = {
        .method = "POST",
        .target = "/initialize",
        .headers = h,
        .n_headers = HOOK_HEADERS,
        .body_len = 0,
        .response_timeout_ms = in->init_timeout_ms,
    };
    static const struct http_creq_cb cb = {.on_head = init_head, .on_done = init_done};
    struct frost_err err = {0};
    in->hook_status = 0;
    if (http_client_request(in->rt->client, &in->ep, &o, &cb, in, &in->hook_req, &err) < 0)
        fail(in, "initializer could not be called: %s", err.msg);
}

static void probe_result(struct rt_instance *in, bool ok, const char *why)
{
    if (in->tearing_down || in->state == RT_STOPPING)
        return;
    if (ok) {
        in->failures = 0;
        in->successes++;
    } else {
        in->successes = 0;
        in->failures++;
    }
    if (in->state == RT_STARTING) {
        if (ok && in->successes == 1 && !owns_listener(in)) {
            fail(in,
                 "port %d is held by a process outside the instance; the function could "
                 "not listen on it",
                 in->port);
            return;
        }
        if (in->successes >= (in->probe == PROBE_HTTP ? in->hc_success_threshold : 1)) {
            in->listen_us = (clock_mono_ns() - in->t_spawn_ns) / 1000;
            if (in->has_init)
                run_initializer(in);
            else
                became_ready(in);
            return;
        }
        /* Not up yet: probe again soon, backing off; the start deadline bounds it. */
        unsigned next = in->probe == PROBE_HTTP && in->successes > 0 ? (unsigned)in->hc_period_ms
                                                                     : in->probe_backoff_ms;
        if ((clock_mono_ns() - in->t_spawn_ns) / 1000000 > PROBE_FAST_MS)
            in->probe_backoff_ms =
                in->probe_backoff_ms * 2 > PROBE_MAX_MS ? PROBE_MAX_MS : in->probe_backoff_ms * 2;
        schedule_probe(in, next);
        return;
    }
    if (in->state == RT_READY) {
        if (!ok && in->failures >= in->hc_failure_threshold) {
            fail(in, "health check %s failed %d times in a row (%s)", in->hc_url, in->failures,
                 why);
            return;
        }
        schedule_probe(in, in->hc_period_ms);
    }
}

static void tcp_probe_closed(uv_handle_t *h)
{
    struct rt_instance *in = h->data;
    in->probe_tcp_busy = false;
    release(in);
}

static void on_probe_connect(uv_connect_t *c, int status)
{
    struct rt_instance *in = c->data;
    if (!uv_is_closing((uv_handle_t *)&in->probe_tcp))
        uv_close((uv_handle_t *)&in->probe_tcp, tcp_probe_closed);
    if (status == UV_ECANCELED || in->tearing_down)
        return;
    probe_result(in, status == 0, status == 0 ? "" : uv_strerror(status));
}

static void http_probe_head(struct http_creq *q, const struct http_msg *m, void *ud)
{
    struct rt_instance *in = ud;
    in->probe_status = m->status;
}

static void http_probe_done(struct http_creq *q, int status, void *ud)
{
    struct rt_instance *in = ud;
    in->probe_req = NULL;
    if (status < 0) {
        probe_result(in, false, status == UV_ETIMEDOUT ? "timed out" : uv_strerror(status));
        return;
    }
    /* Like Kubernetes' httpGet probes: 2xx and 3xx are healthy. */
    bool ok = in->probe_status >= 200 && in->probe_status < 400;
    char why[48];
    snprintf(why, sizeof(why), "status %d", in->probe_status);
    probe_result(in, ok, ok ? "" : why);
}

static void run_probe(uv_timer_t *t)
{
    struct rt_instance *in = t->data;
    if (in->tearing_down || in->state == RT_STOPPING || in->frozen)
        return;
    if (in->probe == PROBE_TCP) {
        if (in->probe_tcp_busy) {
            schedule_probe(in, PROBE_MIN_MS);
            return;
        }
        struct sockaddr_in a;
        uv_ip4_addr("127.0.0.1", in->port, &a);
        uv_tcp_init(in->rt->loop, &in->probe_tcp);
        in->probe_tcp.data = in;
        in->probe_conn.data = in;
        in->probe_tcp_busy = true;
        in->handles_open++; /* the probe socket: released in its close callback */
        int rc = uv_tcp_connect(&in->probe_conn, &in->probe_tcp, (struct sockaddr *)&a,
                                on_probe_connect);
        if (rc < 0) {
            uv_close((uv_handle_t *)&in->probe_tcp, tcp_probe_closed);
            probe_result(in, false, uv_strerror(rc));
        }
        return;
    }
    struct http_creq_opts o = {
        .method = "GET",
        .target = in->hc_url,
        .response_timeout_ms = in->hc_timeout_ms,
    };
    static const struct http_creq_cb cb = {.on_head = http_probe_head, .on_done = http_probe_done};
    struct frost_err err = {0};
    in->probe_status = 0;
    if (http_client_request(in->rt->client, &in->ep, &o, &cb, in, &in->probe_req, &err) < 0)
        probe_result(in, false, err.msg);
}

static void schedule_probe(struct rt_instance *in, uint64_t ms)
{
    uv_timer_start(&in->probe_timer, run_probe, ms, 0);
}

static void start_deadline(uv_timer_t *t)
{
    struct rt_instance *in = t->data;
    if (in->state == RT_STARTING)
        fail(in, "did not become ready within %llu s (%s check on port %d)",
             (unsigned long long)(in->rt->cfg->runtime.start_timeout_ms / 1000),
             in->probe == PROBE_HTTP ? "HTTP" : "TCP", in->port);
    else if (in->state == RT_INITIALIZING)
        fail(in, "initializer timed out");
}

/* ------------------------------------------------------------------- start */

static void procs_files(const struct rt_instance *in, char files[][PATH_MAX], size_t *n)
{
    const struct cg_root *r = in->cg.root;
    const char *dirs[] = {r->v2, r->v1_cpu, r->v1_memory, r->v1_pids, r->v1_freezer, r->v1_cpuacct};
    *n = 0;
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
        if (!dirs[i][0])
            continue;
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || strcmp(dirs[i], dirs[j]) == 0;
        if (dup)
            continue;
        snprintf(files[*n], PATH_MAX, "%s/%s/cgroup.procs", dirs[i], in->id);
        (*n)++;
    }
}

int rt_start(struct rt *rt, const struct rt_start_opts *o, rt_event_fn cb, void *ud,
             struct rt_instance **out, struct frost_err *err)
{
    if (rt->shutting_down)
        return frost_err_set(err, 503, "ServiceUnavailable", "Frost is shutting down");
    struct backoff *b = backoff_of(rt, o->function_name, false);
    int64_t now = clock_wall_ms();
    if (b && b->not_before_ms > now)
        return frost_err_set(err, 503, "FunctionStartBackoff",
                             "the last %u start(s) of %s failed (%s); the next try is allowed in "
                             "%lld ms",
                             b->failures, o->function_name, b->last_error,
                             (long long)(b->not_before_ms - now));
    char *fargv[MAX_ARGS];
    size_t fargc;
    if (build_argv(o->fn, fargv, MAX_ARGS, &fargc, err) < 0)
        return -1;
    struct rt_instance *in = calloc(1, sizeof(*in));
    if (!in)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    in->rt = rt;
    in->cb = cb;
    in->ud = ud;
    in->state = RT_STARTING;
    in->probe_backoff_ms = PROBE_MIN_MS;
    in->created_ms = clock_wall_ms();
    snprintf(in->fn, sizeof(in->fn), "%s", o->function_name);
    snprintf(in->kind, sizeof(in->kind), "%s", o->kind ? o->kind : "on-demand");
    in->gpu_mb = o->gpu_memory_mb;
    snprintf(in->gpu_type, sizeof(in->gpu_type), "%s", o->gpu_type ? o->gpu_type : "");
    /* Unique across restarts too (logs and cgroups are named after it):
     * milliseconds, a per-process sequence and random bits. */
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        rnd = (uint32_t)clock_mono_ns();
    snprintf(in->id, sizeof(in->id), "c-%s-%011llx-%04llx%04x", rt->node,
             (unsigned long long)in->created_ms & 0xfffffffffffull,
             (unsigned long long)(++rt->seq & 0xffff), (unsigned)(rnd & 0xffff));
    in->memory_mb = (int)get_int(o->fn, "memorySize", SPEC_DEFAULT_MEMORY_MB);
    in->cpu = get_num(o->fn, "cpu", SPEC_DEFAULT_CPU);
    in->timeout_s = (int)get_int(o->fn, "timeout", SPEC_DEFAULT_TIMEOUT_S);
    read_hooks(in, o->fn);
    read_health(in, o->fn);

    in->port_lock = -1;
    in->port = pick_port(rt, &in->port_lock);
    if (in->port < 0) {
        free(in);
        return frost_err_set(err, 503, "ResourceExhausted",
                             "no free port left in runtime.port_range %s",
                             rt->cfg->runtime.port_range);
    }
    char ep[64];
    snprintf(ep, sizeof(ep), "127.0.0.1:%d", in->port);
    if (http_endpoint_parse(ep, &in->ep, err) < 0)
        goto fail_port;

    if (rt->cg_ok) {
        struct cg_limits lim = {
            .cpu = in->cpu,
            .memory_bytes = (uint64_t)in->memory_mb << 20,
            .pids_max = rt->cfg->runtime.pids_max,
        };
        if (cg_create(&rt->cg, in->id, &lim, &in->cg, err) < 0) {
            frost_err_prefix(err, "instance cgroup");
            goto fail_port;
        }
        in->has_cg = true;
    }
    rt_log_dir(rt, in->fn, in->log_dir, sizeof(in->log_dir));
    struct rt_log_opts lo = {
        .loop = rt->loop,
        .dir = in->log_dir,
        .name = in->id,
        .max_file_bytes = rt->cfg->runtime.log_max_bytes,
        .keep_files = (unsigned)rt->cfg->runtime.log_keep,
    };
    if (rt_log_open(&lo, &in->log, err) < 0)
        goto fail_cg;

    /* frost __exec [--cgroup F]... [--uid --gid] [--cwd DIR] -- argv */
    char procs[8][PATH_MAX];
    size_t n_procs = 0;
    if (in->has_cg)
        procs_files(in, procs, &n_procs);
    char uid[16], gid[16];
    char *args[MAX_ARGS + 32];
    size_t na = 0;
    if (rt->helper[0]) {
        args[na++] = rt->helper;
    } else {
        args[na++] = rt->exe;
        args[na++] = "__exec";
    }
    for (size_t i = 0; i < n_procs; i++) {
        args[na++] = "--cgroup";
        args[na++] = procs[i];
    }
    if (rt->drop) {
        snprintf(uid, sizeof(uid), "%u", (unsigned)rt->uid);
        snprintf(gid, sizeof(gid), "%u", (unsigned)rt->gid);
        args[na++] = "--uid";
        args[na++] = uid;
        args[na++] = "--gid";
        args[na++] = gid;
    }
    if (o->code_dir && o->code_dir[0]) {
        args[na++] = "--cwd";
        args[na++] = (char *)o->code_dir;
    }
    args[na++] = "--";
    for (size_t i = 0; i < fargc; i++)
        args[na++] = fargv[i];
    args[na] = NULL;

    struct envv env = {.n = 0};
    if (build_env(in, o->fn, o->code_dir, o->extra_env, &env) < 0) {
        env_free(&env);
        frost_err_set(err, 400, "InvalidArgument", "environment too large");
        goto fail_log;
    }

    uv_pipe_init(rt->loop, &in->out, 0);
    uv_pipe_init(rt->loop, &in->err, 0);
    uv_timer_init(rt->loop, &in->timer);
    uv_timer_init(rt->loop, &in->probe_timer);
    in->out.data = in->err.data = in->timer.data = in->probe_timer.data = in->proc.data = in;
    in->handles_open = 5;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&in->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&in->err},
    };
    uv_process_options_t po = {
        .exit_cb = on_proc_exit,
        .file = rt->helper[0] ? rt->helper : rt->exe,
        .args = args,
        .env = env.v,
        .stdio_count = 3,
        .stdio = stdio,
    };
    in->t_spawn_ns = clock_mono_ns();
    int rc = uv_spawn(rt->loop, &in->proc, &po);
    env_free(&env);
    /* Linked in before anything can call back, so teardown can unlink it. */
    in->next = rt->all;
    if (rt->all)
        rt->all->prev = in;
    rt->all = in;
    rt->n++;
    if (rc < 0) {
        /* uv_spawn failed: the process handle still has to be closed. */
        in->tearing_down = true;
        snprintf(in->error, sizeof(in->error), "spawn failed: %s", uv_strerror(rc));
        in->cb = NULL; /* nothing was started, as far as the caller knows */
        finish(in);
        return frost_err_set(err, 500, "InternalError", "cannot start %s: %s", rt->exe,
                             uv_strerror(rc));
    }
    in->pid = in->proc.pid;
    in->proc_alive = true;
    in->spawn_us = (clock_mono_ns() - in->t_spawn_ns) / 1000;
    uv_read_start((uv_stream_t *)&in->out, on_alloc, on_output);
    uv_read_start((uv_stream_t *)&in->err, on_alloc, on_output);
    uv_timer_start(&in->timer, start_deadline, rt->cfg->runtime.start_timeout_ms, 0);
    schedule_probe(in, in->probe == PROBE_HTTP ? in->hc_delay_ms : 0);
    log_info("instance_starting", "function=%s instance=%s pid=%d port=%d kind=%s", in->fn, in->id,
             (int)in->pid, in->port, in->kind);
    set_phase(in, RT_PH_STARTING, true);
    *out = in;
    return 0;

fail_log:
    rt_log_close(in->log, NULL, NULL);
fail_cg:
    if (in->has_cg) {
        struct frost_err e2;
        (void)cg_destroy(&in->cg, &e2);
    }
fail_port:
    if (in->port_lock >= 0)
        close(in->port_lock);
    free(in);
    return -1;
}

/* -------------------------------------------------------------------- stop */

/* Thaws without waiting for the kernel to report it (stopping anyway). */
static void unfreeze_now(struct rt_instance *in)
{
    if (in->has_cg && !in->rt->freeze_by_signal) {
        struct frost_err err;
        (void)cg_freeze(&in->cg, false, &err);
    } else if (in->pid > 0) {
        kill(-in->pid, SIGCONT);
    }
    in->frozen = false;
}

static void stop_deadline(uv_timer_t *t)
{
    struct rt_instance *in = t->data;
    if (!in->term_sent) {
        /* pre-stop did not finish in time: go on regardless */
        if (in->hook_req) {
            http_creq_abort(in->hook_req);
            in->hook_req = NULL;
        }
        begin_term(in);
        return;
    }
    log_warn("instance_kill", "instance=%s detail=\"did not exit within the stop grace\"", in->id);
    teardown(in);
}

static void begin_term(struct rt_instance *in)
{
    if (in->term_sent || in->tearing_down)
        return;
    in->term_sent = true;
    if (in->frozen)
        unfreeze_now(in); /* frozen tasks cannot handle SIGTERM */
    if (!in->proc_alive && group_count(in) <= 0) {
        teardown(in);
        return;
    }
    signal_all(in, SIGTERM);
    uv_timer_start(&in->timer, stop_deadline, in->rt->cfg->runtime.stop_grace_ms, 0);
}

static void prestop_done(struct http_creq *q, int status, void *ud)
{
    struct rt_instance *in = ud;
    in->hook_req = NULL;
    uv_timer_stop(&in->timer);
    if (status < 0)
        log_warn("instance_prestop_failed", "instance=%s error=%s", in->id,
                 status == UV_ETIMEDOUT ? "timeout" : uv_err_name(status));
    begin_term(in);
}

void rt_stop(struct rt_instance *in)
{
    if (in->stop_requested || in->tearing_down || in->state == RT_FAILED || in->state == RT_STOPPED)
        return;
    in->stop_requested = true;
    bool was_ready = in->state == RT_READY;
    in->state = RT_STOPPING;
    set_phase(in, RT_PH_STOPPING, false);
    cancel_io(in);
    if (was_ready && in->has_prestop && in->proc_alive) {
        if (in->frozen)
            unfreeze_now(in); /* the pre-stop hook needs a running process */
        char rid[REQID_LEN + 1];
        reqid_new(rid);
        struct http_header h[3] = {
            {"x-fc-request-id", 15, rid, strlen(rid)},
            {"x-fc-function-name", 18, in->fn, strlen(in->fn)},
            {"x-fc-control-path", 17, "/pre-stop", 9},
        };
        struct http_creq_opts o = {
            .method = "GET",
            .target = "/pre-stop",
            .headers = h,
            .n_headers = 3,
            .response_timeout_ms = in->prestop_timeout_ms,
        };
        static const struct http_creq_cb cb = {.on_done = prestop_done};
        struct frost_err err = {0};
        if (http_client_request(in->rt->client, &in->ep, &o, &cb, in, &in->hook_req, &err) == 0) {
            /* bounded by the hook's own timeout, plus a margin for the connect */
            uv_timer_start(&in->timer, stop_deadline, in->prestop_timeout_ms + 1000, 0);
            return;
        }
    }
    begin_term(in);
}

/* ------------------------------------------------------------ freeze/thaw */

static void freeze_poll(uv_timer_t *t)
{
    struct rt_instance *in = t->data;
    int want = in->want_frozen ? 1 : 0;
    int st;
    if (in->has_cg && !in->rt->freeze_by_signal) {
        st = cg_frozen(&in->cg);
    } else {
        char path[64], buf[256];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)in->pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (fd >= 0)
            close(fd);
        buf[n > 0 ? n : 0] = 0;
        char *rp = strrchr(buf, ')');
        st = rp && rp[1] == ' ' ? (rp[2] == 'T' || rp[2] == 't') : -1;
    }
    if (st == want || st < 0) {
        uint64_t us = (clock_mono_ns() - in->freeze_start_ns) / 1000;
        if (st == want) {
            in->frozen = in->want_frozen;
            if (in->frozen) {
                in->freeze_count++;
                in->last_freeze_us = us;
            } else {
                in->thaw_count++;
                in->last_thaw_us = us;
            }
            log_debug("instance_freeze", "instance=%s frozen=%d us=%llu", in->id, in->frozen,
                      (unsigned long long)us);
        }
        void (*done)(struct rt_instance *, int, void *) = in->freeze_done;
        in->freeze_done = NULL;
        if (!in->frozen && in->state == RT_READY && in->probe == PROBE_HTTP)
            schedule_probe(in, in->hc_period_ms);
        if (done)
            done(in, st == want ? 0 : -EIO, in->freeze_ud);
        return;
    }
    /* The kernel moves tasks to the frozen state within microseconds to a few
     * ms; a 1 ms timer keeps the loop free meanwhile. */
    uv_timer_start(&in->probe_timer, freeze_poll, 1, 0);
}

static void set_frozen(struct rt_instance *in, bool frozen,
                       void (*done)(struct rt_instance *, int, void *), void *ud)
{
    if (in->state != RT_READY || in->tearing_down || in->freeze_done) {
        if (done)
            done(in, -EBUSY, ud);
        return;
    }
    if (in->frozen == frozen) {
        if (done)
            done(in, 0, ud);
        return;
    }
    in->want_frozen = frozen;
    in->freeze_done = done;
    in->freeze_ud = ud;
    in->freeze_start_ns = clock_mono_ns();
    uv_timer_stop(&in->probe_timer); /* no health checks against a frozen process */
    if (in->probe_req) {
        http_creq_abort(in->probe_req);
        in->probe_req = NULL;
    }
    if (in->has_cg && !in->rt->freeze_by_signal) {
        struct frost_err err = {0};
        if (cg_freeze(&in->cg, frozen, &err) < 0) {
            in->freeze_done = NULL;
            log_warn("instance_freeze_failed", "instance=%s error=\"%s\"", in->id, err.msg);
            if (done)
                done(in, -EIO, ud);
            return;
        }
    } else {
        kill(-in->pid, frozen ? SIGSTOP : SIGCONT);
    }
    freeze_poll(&in->probe_timer);
}

void rt_freeze(struct rt_instance *in, void (*done)(struct rt_instance *, int, void *), void *ud)
{
    set_frozen(in, true, done, ud);
}

void rt_thaw(struct rt_instance *in, void (*done)(struct rt_instance *, int, void *), void *ud)
{
    set_frozen(in, false, done, ud);
}

/* --------------------------------------------------------------- accessors */

const char *rt_instance_id(const struct rt_instance *in)
{
    return in->id;
}
const char *rt_instance_function(const struct rt_instance *in)
{
    return in->fn;
}
enum rt_state rt_instance_state(const struct rt_instance *in)
{
    return in->state;
}
pid_t rt_instance_pid(const struct rt_instance *in)
{
    return in->pid;
}

int64_t rt_instance_cpu_usage_us(const struct rt_instance *in)
{
    struct cg_stats st;
    struct frost_err err;
    if (!in->has_cg || cg_stats(&in->cg, &st, &err) < 0)
        return -1;
    return (int64_t)st.cpu_usage_us;
}

bool rt_instance_frozen(const struct rt_instance *in)
{
    return in->frozen;
}
const struct http_endpoint *rt_instance_endpoint(const struct rt_instance *in)
{
    return &in->ep;
}
const char *rt_instance_error(const struct rt_instance *in)
{
    return in->error;
}
size_t rt_instance_log_tail(const struct rt_instance *in, char *out, size_t max)
{
    return in->log ? rt_log_tail(in->log, out, max) : 0;
}

void rt_instance_note_wake(struct rt_instance *in, uint64_t total_us, uint64_t copy_us)
{
    in->wakes++;
    in->last_wake_us = total_us;
    in->last_wake_copy_us = copy_us;
}

void rt_instance_note_first_byte(struct rt_instance *in, uint64_t us)
{
    if (in->first_byte_known)
        return;
    in->first_byte_known = true;
    in->first_byte_us = us;
}

json_t *rt_instance_json(const struct rt_instance *in)
{
    json_t *j = json_object();
    json_object_set_new(j, "instanceId", json_string(in->id));
    json_object_set_new(j, "status", json_string(rt_state_name(in->state)));
    json_object_set_new(j, "qualifier", json_string("LATEST"));
    json_object_set_new(j, "versionId", json_string("LATEST"));
    json_object_set_new(j, "createdTimeMs", json_integer(in->created_ms));
    if (in->destroyed_ms)
        json_object_set_new(j, "destroyedTimeMs", json_integer(in->destroyed_ms));
    json_object_set_new(j, "kind", json_string(in->kind));
    json_object_set_new(j, "state", json_string(rt_phase_name(in->phase)));
    json_t *pt = json_object();
    for (int p = 0; p < RT_PH_COUNT; p++) {
        uint64_t ms = rt_instance_phase_ms(in, (enum rt_phase)p);
        if (ms || p == (int)in->phase)
            json_object_set_new(pt, phase_names[p], json_integer((json_int_t)ms));
    }
    json_object_set_new(j, "phaseMs", pt);
    json_object_set_new(j, "phaseSinceMs", json_integer((json_int_t)in->phase_since_ms));
    if (in->gpu_type[0]) {
        json_object_set_new(j, "gpuType", json_string(in->gpu_type));
        json_object_set_new(j, "gpuMemoryMb", json_integer((json_int_t)in->gpu_mb));
    }
    json_object_set_new(j, "frozen", json_boolean(in->frozen));
    json_object_set_new(j, "pid", json_integer(in->pid));
    json_object_set_new(j, "port", json_integer(in->port));
    if (in->ready_ms)
        json_object_set_new(j, "coldStartMs", json_integer(in->ready_ms - in->created_ms));
    json_t *cs = json_object();
    json_object_set_new(cs, "spawnUs", json_integer((json_int_t)in->spawn_us));
    json_object_set_new(cs, "listenUs", json_integer((json_int_t)in->listen_us));
    json_object_set_new(cs, "initializeUs", json_integer((json_int_t)in->init_us));
    if (in->first_byte_known)
        json_object_set_new(cs, "firstByteUs", json_integer((json_int_t)in->first_byte_us));
    json_object_set_new(j, "coldStartPhases", cs);
    json_t *fz = json_object();
    json_object_set_new(fz, "freezes", json_integer((json_int_t)in->freeze_count));
    json_object_set_new(fz, "thaws", json_integer((json_int_t)in->thaw_count));
    json_object_set_new(fz, "lastFreezeUs", json_integer((json_int_t)in->last_freeze_us));
    json_object_set_new(fz, "lastThawUs", json_integer((json_int_t)in->last_thaw_us));
    if (in->wakes) {
        json_object_set_new(fz, "wakes", json_integer((json_int_t)in->wakes));
        json_object_set_new(fz, "lastWakeUs", json_integer((json_int_t)in->last_wake_us));
        json_object_set_new(fz, "lastWakeGpuCopyUs",
                            json_integer((json_int_t)in->last_wake_copy_us));
    }
    json_object_set_new(j, "freezer", fz);
    if (in->has_cg) {
        struct cg_stats st;
        struct frost_err err;
        if (cg_stats(&in->cg, &st, &err) == 0) {
            json_object_set_new(j, "cpuUsageUs", json_integer((json_int_t)st.cpu_usage_us));
            json_object_set_new(j, "memoryBytes", json_integer((json_int_t)st.memory_bytes));
            json_object_set_new(j, "oomKills", json_integer((json_int_t)st.oom_kills));
        }
    }
    if (in->error[0])
        json_object_set_new(j, "error", json_string(in->error));
    return j;
}

void rt_each(struct rt *rt, const char *fn, void (*each)(struct rt_instance *, void *), void *ud)
{
    struct rt_instance *in = rt->all;
    while (in) {
        struct rt_instance *next = in->next;
        if (!fn || strcmp(in->fn, fn) == 0)
            each(in, ud);
        in = next;
    }
}

void rt_log_dir(const struct rt *rt, const char *fn, char *out, size_t len)
{
    snprintf(out, len, "%s/logs/%s", rt->cfg->data_dir, fn);
}

const char *rt_isolation(const struct rt *rt)
{
    return rt->isolation;
}

/* ---------------------------------------------------------------- runtime */

static void sweep_one(void *ud, const char *id)
{
    struct rt *rt = ud;
    struct cg g = {.root = &rt->cg};
    snprintf(g.id, sizeof(g.id), "%s", id);
    struct frost_err err = {0};
    (void)cg_freeze(&g, false, &err);
    int killed = cg_signal_all(&g, SIGKILL, &err);
    /* Startup, before serving: a short blocking wait for the kernel to reap. */
    for (int i = 0; i < 500 && cg_count(&g) > 0; i++)
        usleep(2000);
    if (cg_destroy(&g, &err) < 0)
        log_error("instance_orphan_left", "instance=%s error=\"%s\"", id, err.msg);
    else
        log_warn("instance_orphan_stopped", "instance=%s signalled=%d", id, killed);
}

/* Moving a process into a cgroup waits for an RCU grace period (10–25 ms
 * measured on v1 memory) unless the kernel is told to favour dynamic cgroup
 * changes; every instance start moves one process, so that is the cold-start
 * floor. The cgroup2 mount option favordynmods (Linux 6.0+) removes it, at a
 * small cost to fork and exit. Startup only: it runs mount(8) and waits. */
static void favor_dynmods(void)
{
    FILE *f = fopen("/proc/self/mounts", "re");
    if (!f)
        return;
    char line[1024], mnt[512] = "";
    bool already = false;
    while (fgets(line, sizeof(line), f)) {
        char dev[128], dir[512], type[64], opts[512];
        if (sscanf(line, "%127s %511s %63s %511s", dev, dir, type, opts) == 4 &&
            strcmp(type, "cgroup2") == 0) {
            snprintf(mnt, sizeof(mnt), "%s", dir);
            already = strstr(opts, "favordynmods") != NULL;
            break;
        }
    }
    fclose(f);
    if (!mnt[0] || already)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execlp("mount", "mount", "-o", "remount,favordynmods", mnt, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        log_info("cgroup_favordynmods",
                 "mount=%s detail=\"instance starts no longer wait for "
                 "an RCU grace period\"",
                 mnt);
    else
        log_warn("cgroup_favordynmods_failed",
                 "mount=%s detail=\"kernel older than 6.0? "
                 "cold starts pay a cgroup migration delay\"",
                 mnt);
}

int rt_new(const struct rt_opts *o, struct rt **out, struct frost_err *err)
{
    struct rt *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    rt->loop = o->loop;
    rt->cfg = o->cfg;
    rt->client = o->client;
    if (o->exe) {
        snprintf(rt->exe, sizeof(rt->exe), "%s", o->exe);
    } else {
        ssize_t n = readlink("/proc/self/exe", rt->exe, sizeof(rt->exe) - 1);
        if (n <= 0) {
            free(rt);
            return frost_err_errno(err, errno, "cannot find the frost binary (/proc/self/exe)");
        }
        rt->exe[n] = 0;
    }
    /* The small static helper, when installed beside this binary. */
    char *slash = strrchr(rt->exe, '/');
    if (slash) {
        snprintf(rt->helper, sizeof(rt->helper), "%.*s/frost-exec", (int)(slash - rt->exe),
                 rt->exe);
        if (access(rt->helper, X_OK) != 0)
            rt->helper[0] = 0;
    }
    if (config_port_range(o->cfg->runtime.port_range, &rt->port_first, &rt->port_last) < 0) {
        free(rt);
        return frost_err_set(err, 400, "InvalidConfig", "runtime.port_range: bad range");
    }
    rt->port_next = rt->port_first;
    /* /run when Frost may write there (root), else the temp dir. */
    const char *base = access("/run", W_OK) == 0 ? "/run" : "/tmp";
    snprintf(rt->port_dir, sizeof(rt->port_dir), "%s/frost-ports", base);
    if (mkdir(rt->port_dir, 01777) < 0 && errno != EEXIST) {
        log_warn("port_locks_unavailable", "dir=%s error=\"%s\"", rt->port_dir, strerror(errno));
        rt->port_dir[0] = 0;
    } else {
        (void)chmod(rt->port_dir, 01777); /* Frosts of other users share it */
    }
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    unsigned h = 2166136261u;
    for (const char *p = host; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    snprintf(rt->node, sizeof(rt->node), "%06x", h & 0xffffff);

    /* Our cgroups are named after the data dir, so two Frosts on one host
     * (tests do that) never sweep each other's instances. */
    char real[PATH_MAX];
    const char *dd = realpath(o->cfg->data_dir, real) ? real : o->cfg->data_dir;
    unsigned dh = 2166136261u;
    for (const char *p = dd; *p; p++)
        dh = (dh ^ (unsigned char)*p) * 16777619u;
    char name[64];
    snprintf(name, sizeof(name), "frost-%08x", dh);
    struct frost_err cerr = {0};
    if (cg_detect(NULL, "/proc/self/mounts", "/proc/self/cgroup", name, &rt->cg, &cerr) == 0 &&
        rt->cg.mode != CG_NONE && cg_root_init(&rt->cg, &cerr) == 0) {
        rt->cg_ok = true;
    }
    rt->freeze_by_signal = !rt->cg_ok || (!rt->cg.v2_freeze && !rt->cg.v1_freezer[0]);
    static const char *const modes[] = {"none", "cgroup v1", "cgroup v2", "hybrid cgroups"};
    snprintf(rt->isolation, sizeof(rt->isolation), "%s", rt->cg_ok ? modes[rt->cg.mode] : "none");
    if (!rt->cg_ok)
        log_warn("cgroups_unavailable",
                 "detail=\"instances run without limits; freezing uses SIGSTOP: %s\"",
                 cerr.msg[0] ? cerr.msg : rt->cg.warning);
    else if (rt->cg.warning[0])
        log_warn("cgroups_partial", "detail=\"%s\"", rt->cg.warning);

    if (geteuid() == 0) {
        struct passwd *pw = getpwnam(o->cfg->runtime.user);
        if (!pw) {
            log_warn("runtime_user_missing",
                     "user=%s detail=\"functions run as nobody; create "
                     "the user with scripts/install-deps.sh\"",
                     o->cfg->runtime.user);
            pw = getpwnam("nobody");
        }
        if (!pw) {
            free(rt);
            return frost_err_set(err, 500, "InvalidConfig",
                                 "runtime.user %s does not exist (nor does nobody)",
                                 o->cfg->runtime.user);
        }
        rt->drop = true;
        rt->uid = pw->pw_uid;
        rt->gid = pw->pw_gid;
    }
    if (rt->cg_ok && o->cfg->runtime.cgroup_favordynmods && geteuid() == 0)
        favor_dynmods();
    if (rt->cg_ok) {
        int n = cg_list(&rt->cg, sweep_one, rt);
        if (n > 0)
            log_warn("instances_recovered",
                     "count=%d detail=\"stopped instances of a previous "
                     "run\"",
                     n);
    }
    log_info("runtime_ready", "isolation=\"%s\" user=%s ports=%s", rt->isolation,
             rt->drop ? o->cfg->runtime.user : "(frost's own)", o->cfg->runtime.port_range);
    *out = rt;
    return 0;
}

void rt_shutdown(struct rt *rt, void (*done)(void *ud), void *ud)
{
    rt->shutting_down = true;
    rt->shutdown_done = done;
    rt->shutdown_ud = ud;
    if (!rt->all) {
        rt->shutdown_done = NULL;
        if (done)
            done(ud);
        return;
    }
    struct rt_instance *in = rt->all;
    while (in) {
        struct rt_instance *next = in->next;
        rt_stop(in);
        in = next;
    }
}

void rt_free(struct rt *rt)
{
    if (!rt)
        return;
    if (rt->cg_ok) {
        struct frost_err err;
        (void)cg_root_cleanup(&rt->cg, &err);
    }
    while (rt->backoffs) {
        struct backoff *b = rt->backoffs;
        rt->backoffs = b->next;
        free(b);
    }
    free(rt);
}
