/* `frost serve`: configuration, data dir, the loop, signals, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "api/auth.h"
#include "api/fc.h"
#include "api/routes.h"
#include "async/async.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "cli/cli.h"
#include "http/client.h"
#include "http/server.h"
#include "gpu/gpu.h"
#include "metrics/metrics.h"
#include "meter/meter.h"
#include "runtime/rt.h"
#include "sched/sched.h"
#include "spec/registry.h"
#include "store/store.h"

extern char **environ;

static const char serve_usage[] =
    "Usage: frost serve [options]\n"
    "\n"
    "Runs the Frost server in the foreground until SIGTERM or SIGINT; then it stops\n"
    "accepting, lets requests in flight finish (http.shutdown_grace) and exits 0.\n"
    "\n"
    "Options (each also settable in the config file and as FROST_* variables):\n"
    "  --config FILE        YAML configuration file (see docs/configuration.md)\n"
    "  --listen ADDR        host:port or unix:/path to serve on   [127.0.0.1:9800]\n"
    "                       (port 0 picks a free port; see <data-dir>/frost.addr)\n"
    "  --data-dir DIR       where Frost keeps its state           [./frost-data]\n"
    "  --log-level LEVEL    debug, info, warn, error, off         [info]\n"
    "  --log-file FILE      append logs to FILE instead of stderr\n"
    "  --trigger-domain D   serve HTTP triggers also at host FUNCTION.D\n"
    "  --gpus SPEC          GPUs of this node: none, sim:2x24GB, sim:1xT4-16GB,...\n"
    "  --set KEY=VALUE      set any configuration key, e.g. --set http.header_timeout=5s\n"
    "  --print-config       print the effective configuration as YAML and exit\n"
    "  --test-routes        also serve the /_test/* diagnostic routes (for tests)\n"
    "  --test-upstream NAME=ADDR\n"
    "                       with --test-routes: proxy /_test/proxy/NAME/... to ADDR\n"
    "  -h, --help           show this help\n"
    "\n"
    "Files in the data dir: frost.pid (pid, locked while running) and frost.addr\n"
    "(the address actually listened on), both removed on a clean exit.\n";

struct serve {
    struct frost_config cfg;
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_prepare_t flush;
    struct router *router;
    struct http_server *server;
    struct http_client *client;
    struct api_routes *routes;
    struct store *store;
    struct spec_registry *reg;
    struct api_auth *auth;
    struct api_fc *fc;
    struct rt *rt;
    struct sched *sched;
    struct gpu *gpu;
    struct meter *meter;
    struct metrics *metrics;
    struct async *async;
    char pid_path[PATH_MAX + 16];
    char addr_path[PATH_MAX + 16];
    int pid_fd;
    int exit_code;
    bool stopping;
};

static void on_access(const struct http_access *a, void *ud)
{
    char t1[512];
    log_info("http_request",
             "method=%s path=%s status=%d bytes_in=%llu bytes_out=%llu us=%llu "
             "request_id=%s peer=%s",
             a->method, log_quote(a->target, t1, sizeof(t1)), a->status,
             (unsigned long long)a->bytes_in, (unsigned long long)a->bytes_out,
             (unsigned long long)a->micros, a->request_id, a->peer[0] ? a->peer : "-");
}

static void on_flush(uv_prepare_t *p)
{
    log_flush();
}

static void on_instances_stopped(void *ud)
{
    struct serve *sv = ud;
    log_info("shutdown_complete", "address=%s", http_server_address(sv->server));
    uv_stop(&sv->loop);
}

/* Requests are done: now the instances go (their pre-stop hooks run). */
static void on_drained(struct http_server *s, void *ud)
{
    struct serve *sv = ud;
    async_shutdown(sv->async); /* running tasks go back to the queue, durably */
    sched_shutdown(sv->sched);
    rt_shutdown(sv->rt, on_instances_stopped, sv);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct serve *sv = h->data;
    if (sv->stopping) {
        log_warn("shutdown_forced", "signal=%d", signum);
        http_server_close_all(sv->server); /* on_drained follows once they are closed */
        return;
    }
    sv->stopping = true;
    log_info("shutdown_started", "signal=%s grace_ms=%llu", signum == SIGTERM ? "TERM" : "INT",
             (unsigned long long)sv->cfg.http.shutdown_grace_ms);
    http_server_shutdown(sv->server, sv->cfg.http.shutdown_grace_ms, on_drained, sv);
}

static int write_file_atomic(const char *path, const char *content, struct frost_err *err)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return frost_err_errno(err, errno, "cannot write %s", tmp);
    size_t len = strlen(content);
    ssize_t w = write(fd, content, len);
    int saved = errno;
    close(fd);
    if (w != (ssize_t)len) {
        unlink(tmp);
        return frost_err_errno(err, w < 0 ? saved : EIO, "cannot write %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        saved = errno;
        unlink(tmp);
        return frost_err_errno(err, saved, "cannot rename %s", tmp);
    }
    return 0;
}

/* Creates the data dir and takes its pid lock, so two servers never share one. */
static int prepare_data_dir(struct serve *sv, struct frost_err *err)
{
    const char *d = sv->cfg.data_dir;
    /* Functions run as another user and must reach their code (code/<sha>/),
     * but nothing else: the dirs are traversable, not listable, and every
     * file Frost creates is private (umask). */
    umask(077);
    if (mkdir(d, 0711) < 0 && errno != EEXIST)
        return frost_err_errno(err, errno, "cannot create data dir %s", d);
    char code[PATH_MAX + 8];
    snprintf(code, sizeof(code), "%s/code", d);
    if ((mkdir(code, 0711) < 0 && errno != EEXIST) || chmod(d, 0711) < 0 || chmod(code, 0711) < 0)
        return frost_err_errno(err, errno, "cannot prepare data dir %s", d);
    snprintf(sv->pid_path, sizeof(sv->pid_path), "%s/frost.pid", d);
    snprintf(sv->addr_path, sizeof(sv->addr_path), "%s/frost.addr", d);
    int fd = open(sv->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return frost_err_errno(err, errno, "cannot open %s", sv->pid_path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char other[32] = "?";
        ssize_t n = read(fd, other, sizeof(other) - 1);
        other[n > 0 ? n : 0] = 0;
        other[strcspn(other, "\n")] = 0;
        close(fd);
        return frost_err_set(err, 409, "DataDirInUse",
                             "data dir %s is in use by another frost serve (pid %s); stop it or "
                             "use --data-dir",
                             d, other);
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        int saved = errno;
        close(fd);
        return frost_err_errno(err, saved, "cannot write %s", sv->pid_path);
    }
    sv->pid_fd = fd;
    return 0;
}

static int load_config(struct serve *sv, int argc, char **argv, bool *print_only, bool *test_routes,
                       struct buf *upstreams, struct frost_err *err)
{
    enum {
        O_CONFIG = 256,
        O_LISTEN,
        O_DATA,
        O_LEVEL,
        O_LOGFILE,
        O_SET,
        O_PRINT,
        O_TEST,
        O_UP,
        O_DOMAIN,
        O_GPUS
    };
    static const struct option opts[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"listen", required_argument, NULL, O_LISTEN},
        {"data-dir", required_argument, NULL, O_DATA},
        {"log-level", required_argument, NULL, O_LEVEL},
        {"log-file", required_argument, NULL, O_LOGFILE},
        {"set", required_argument, NULL, O_SET},
        {"print-config", no_argument, NULL, O_PRINT},
        {"test-routes", no_argument, NULL, O_TEST},
        {"test-upstream", required_argument, NULL, O_UP},
        {"trigger-domain", required_argument, NULL, O_DOMAIN},
        {"gpus", required_argument, NULL, O_GPUS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    config_defaults(&sv->cfg);
    /* First pass: only --config, so the file applies before env and flags. */
    const char *config_path = NULL;
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == O_CONFIG)
            config_path = optarg;
    }
    if (config_path && config_load_file(&sv->cfg, config_path, err) < 0)
        return -1;
    struct buf unknown = BUF_INIT(4096);
    if (config_apply_env(&sv->cfg, environ, &unknown, err) < 0) {
        buf_free(&unknown);
        return -1;
    }
    if (unknown.len)
        log_warn("config_env_ignored", "variables=%s", unknown.data);
    buf_free(&unknown);
    optind = 1;
    opterr = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (o) {
        case O_CONFIG:
            break;
        case O_LISTEN:
            rc = config_set(&sv->cfg, "listen", optarg, "--listen", err);
            break;
        case O_DATA:
            rc = config_set(&sv->cfg, "data_dir", optarg, "--data-dir", err);
            break;
        case O_LEVEL:
            rc = config_set(&sv->cfg, "log_level", optarg, "--log-level", err);
            break;
        case O_LOGFILE:
            rc = config_set(&sv->cfg, "log_file", optarg, "--log-file", err);
            break;
        case O_DOMAIN:
            rc = config_set(&sv->cfg, "trigger_domain", optarg, "--trigger-domain", err);
            break;
        case O_GPUS:
            rc = config_set(&sv->cfg, "gpu.devices", optarg, "--gpus", err);
            break;
        case O_SET: {
            char key[128];
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(key))
                return frost_err_set(err, 400, "InvalidConfig", "--set %s: expected KEY=VALUE",
                                     optarg);
            memcpy(key, optarg, (size_t)(eq - optarg));
            key[eq - optarg] = 0;
            rc = config_set(&sv->cfg, key, eq + 1, "--set", err);
            break;
        }
        case O_PRINT:
            *print_only = true;
            break;
        case O_TEST:
            *test_routes = true;
            break;
        case O_UP:
            if (!strchr(optarg, '='))
                return frost_err_set(err, 400, "InvalidConfig",
                                     "--test-upstream %s: expected NAME=ADDR", optarg);
            if (buf_append(upstreams, optarg, strlen(optarg) + 1) < 0)
                return frost_err_set(err, 400, "InvalidConfig", "too many --test-upstream");
            break;
        case 'h':
            fputs(serve_usage, stdout);
            exit(0);
        default:
            return frost_err_set(err, 400, "InvalidArgument",
                                 "unknown or incomplete option; see `frost serve --help`");
        }
        if (rc < 0)
            return -1;
    }
    if (optind < argc)
        return frost_err_set(err, 400, "InvalidArgument",
                             "unexpected argument \"%s\"; see `frost serve --help`", argv[optind]);
    return config_validate(&sv->cfg, err);
}

/* Unsigned API access is only safe where nobody else can connect. */
static bool listen_is_local(const char *listen)
{
    if (strncmp(listen, "unix:", 5) == 0)
        return true;
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
           strncmp(listen, "localhost:", 10) == 0;
}

static int setup_auth(struct serve *sv, struct frost_err *err)
{
    struct api_auth_key *keys = NULL;
    size_t n = 0;
    if (api_auth_keys_parse(sv->cfg.auth.keys, &keys, &n, err) < 0)
        return frost_err_prefix(err, "auth.keys");
    if (n == 0) {
        free(keys);
        if (!listen_is_local(sv->cfg.listen))
            return frost_err_set(err, 400, "InvalidConfig",
                                 "listening on %s without access keys would let anyone manage "
                                 "functions; set auth.keys (see docs/auth.md) or listen on "
                                 "127.0.0.1",
                                 sv->cfg.listen);
        log_warn("auth_disabled", "detail=\"no auth.keys: unsigned API requests are accepted "
                                  "(loopback only)\"");
        return 0;
    }
    int rc = api_auth_new(keys, n, NULL, &sv->auth, err);
    OPENSSL_cleanse(keys, n * sizeof(*keys)); /* the keyring holds its own copies */
    free(keys);
    if (rc < 0)
        return frost_err_prefix(err, "auth.keys");
    log_info("auth_enabled", "keys=%zu", n);
    return 0;
}

static int open_sched(struct serve *sv, struct frost_err *err)
{
    /* The registry exists before the store is loaded; the scheduler only
     * looks functions up by name when requests come. */
    sv->reg = spec_registry_new();
    if (!sv->reg)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    struct gpu_opts go = {
        .loop = &sv->loop,
        .spec = sv->cfg.gpu.devices,
        .sim_bandwidth = sv->cfg.gpu.sim_bandwidth,
        .card_quota = (unsigned)sv->cfg.gpu.card_quota,
        .type_map = sv->cfg.gpu.type_map,
    };
    if (gpu_new(&go, &sv->gpu, err) < 0)
        return frost_err_prefix(err, "gpu.devices");
    if (gpu_count(sv->gpu))
        log_info("gpus", "backend=%s devices=%zu detail=\"%s\"", gpu_backend(sv->gpu),
                 gpu_count(sv->gpu), gpu_device(sv->gpu, 0)->name);
    struct metrics_opts mo = {.rt = sv->rt, .gpu = sv->gpu, .reg = sv->reg};
    if (metrics_new(&mo, &sv->metrics, err) < 0)
        return -1;
    struct sched_opts so = {.loop = &sv->loop,
                            .cfg = &sv->cfg,
                            .reg = sv->reg,
                            .rt = sv->rt,
                            .client = sv->client,
                            .gpu = sv->gpu,
                            .metrics = sv->metrics};
    return sched_new(&so, &sv->sched, err);
}

static int open_state(struct serve *sv, struct frost_err *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/frost.db", sv->cfg.data_dir);
    struct store_opts so = {.path = path, .loop = &sv->loop};
    if (store_open(&so, &sv->store, err) < 0)
        return -1;
    struct meter_opts me = {
        .loop = &sv->loop, .cfg = &sv->cfg, .store = sv->store, .rt = sv->rt, .gpu = sv->gpu};
    if (meter_new(&me, &sv->meter, err) < 0)
        return -1;
    sched_set_meter(sv->sched, sv->meter);
    struct async_opts ao = {.loop = &sv->loop,
                            .store = sv->store,
                            .reg = sv->reg,
                            .sched = sv->sched,
                            .region = sv->cfg.region,
                            .account_id = sv->cfg.account_id};
    if (async_new(&ao, &sv->async, err) < 0 ||
        metrics_add_collector(sv->metrics, async_metrics_collect, sv->async, err) < 0)
        return -1;
    struct api_fc_opts fo = {
        .loop = &sv->loop,
        .cfg = &sv->cfg,
        .store = sv->store,
        .reg = sv->reg,
        .auth = sv->auth,
        .rt = sv->rt,
        .sched = sv->sched,
        .meter = sv->meter,
        .async = sv->async,
    };
    return api_fc_new(&fo, sv->router, &sv->fc, err);
}

/* Provisioned instances of the stored provision configs start with the server. */
static void start_provisioned(struct serve *sv)
{
    struct spec_fn *items[64];
    const char *after = "";
    int more = 1;
    while (more) {
        size_t n = spec_registry_list(sv->reg, NULL, after, ARRAY_LEN(items), items, &more);
        for (size_t i = 0; i < n; i++) {
            if (items[i]->doc && items[i]->provision)
                sched_provision_changed(sv->sched, items[i]->name);
        }
        if (n == 0)
            break;
        after = items[n - 1]->name;
    }
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int cli_serve(int argc, char **argv)
{
    struct serve *sv = calloc(1, sizeof(*sv));
    if (!sv) {
        fprintf(stderr, "frost serve: out of memory\n");
        return 1;
    }
    sv->pid_fd = -1;
    struct frost_err err = {0};
    bool print_only = false, test_routes = false;
    struct buf upstreams = BUF_INIT(64 * 1024);
    int rc = 1;
    signal(SIGPIPE, SIG_IGN);

    if (load_config(sv, argc, argv, &print_only, &test_routes, &upstreams, &err) < 0) {
        fprintf(stderr, "frost serve: %s\n", err.msg);
        rc = 2;
        goto out_nolog;
    }
    if (print_only) {
        struct buf out = BUF_INIT(0);
        if (config_dump(&sv->cfg, &out) == 0)
            fputs(out.data ? out.data : "", stdout);
        buf_free(&out);
        rc = 0;
        goto out_nolog;
    }
    log_threshold = sv->cfg.log_level;
    if (sv->cfg.log_file[0] && log_open(sv->cfg.log_file) < 0) {
        fprintf(stderr, "frost serve: cannot open log file %s: %s\n", sv->cfg.log_file,
                strerror(errno));
        goto out_nolog;
    }
    if (prepare_data_dir(sv, &err) < 0) {
        log_error("startup_failed", "error=\"%s\"", err.msg);
        fprintf(stderr, "frost serve: %s\n", err.msg);
        goto out;
    }
    uv_loop_init(&sv->loop);
    sv->router = router_new();
    struct rt_opts ro = {.loop = &sv->loop, .cfg = &sv->cfg};
    if (!sv->router || setup_auth(sv, &err) < 0 ||
        http_client_new(&sv->loop, &sv->cfg.http, &sv->client, &err) < 0 ||
        (ro.client = sv->client, rt_new(&ro, &sv->rt, &err)) < 0 || open_sched(sv, &err) < 0 ||
        open_state(sv, &err) < 0 ||
        api_routes_new(&sv->loop, sv->router, sv->client, &sv->cfg, &sv->routes, &err) < 0 ||
        api_routes_add_metrics(sv->routes, sv->metrics, sv->auth, &err) < 0 ||
        (test_routes && api_routes_add_test(sv->routes, upstreams.data, upstreams.len, &err) < 0) ||
        (test_routes && api_routes_add_instance_test(sv->routes, sv->reg, sv->rt, &err) < 0)) {
        fprintf(stderr, "frost serve: %s\n", err.msg[0] ? err.msg : "out of memory");
        goto out_loop;
    }
    metrics_set_sched(sv->metrics, sv->sched);
    struct http_server_opts so = {.cfg = &sv->cfg.http,
                                  .router = sv->router,
                                  .on_access = on_access,
                                  .ud = sv,
                                  .trigger_domain = sv->cfg.trigger_domain};
    if (http_server_new(&sv->loop, &so, &sv->server, &err) < 0 ||
        http_server_listen(sv->server, sv->cfg.listen, &err) < 0) {
        log_error("startup_failed", "error=\"%s\"", err.msg);
        fprintf(stderr, "frost serve: %s\n", err.msg);
        goto out_loop;
    }
    api_fc_set_public_address(sv->fc, http_server_address(sv->server));
    start_provisioned(sv);
    char addr[320];
    snprintf(addr, sizeof(addr), "%s\n", http_server_address(sv->server));
    if (write_file_atomic(sv->addr_path, addr, &err) < 0) {
        fprintf(stderr, "frost serve: %s\n", err.msg);
        goto out_loop;
    }
    uv_signal_init(&sv->loop, &sv->sigterm);
    uv_signal_init(&sv->loop, &sv->sigint);
    sv->sigterm.data = sv->sigint.data = sv;
    uv_signal_start(&sv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&sv->sigint, on_signal, SIGINT);
    uv_prepare_init(&sv->loop, &sv->flush);
    uv_prepare_start(&sv->flush, on_flush);
    log_info("serving", "address=%s data_dir=%s pid=%d version=%s", http_server_address(sv->server),
             sv->cfg.data_dir, (int)getpid(), FROST_VERSION);
    log_flush();

    uv_run(&sv->loop, UV_RUN_DEFAULT);
    /* A checkpoint or restore of an instance that stopped meanwhile may still
     * be copying on the thread pool: it reports back before the GPUs go. */
    while (gpu_busy(sv->gpu))
        uv_run(&sv->loop, UV_RUN_ONCE);
    rc = sv->stopping ? 0 : 1;
    unlink(sv->addr_path);
    unlink(sv->pid_path);

out_loop:
    api_routes_free(sv->routes);
    http_client_free(sv->client);
    /* Writes still queued finish (and their callbacks run) before the store goes. */
    uv_run(&sv->loop, UV_RUN_NOWAIT);
    if (sv->sched)
        sched_set_meter(sv->sched, NULL);
    meter_close(sv->meter); /* ends open intervals; its last write goes before the store */
    store_close(sv->store);
    api_fc_free(sv->fc);
    sched_free(sv->sched);
    if (sv->metrics && sv->async)
        metrics_remove_collector(sv->metrics, async_metrics_collect, sv->async);
    async_free(sv->async); /* after the scheduler: no job callback can follow */
    rt_free(sv->rt);
    gpu_free(sv->gpu);
    spec_registry_free(sv->reg);
    api_auth_free(sv->auth);
    uv_walk(&sv->loop, close_walk, NULL);
    uv_run(&sv->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&sv->loop) != 0)
        log_warn("loop_close_busy", "detail=\"handles still open at exit\"");
    metrics_free(sv->metrics);
    http_server_free(sv->server);
    router_free(sv->router);
out:
    if (sv->pid_fd >= 0)
        close(sv->pid_fd);
    log_info("exit", "code=%d", rc);
    log_close();
out_nolog:
    buf_free(&upstreams);
    free(sv);
    return rc;
}
