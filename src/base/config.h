/* The server configuration: defaults, then a YAML file (--config), then FROST_*
 * environment variables, then command-line flags; later sources win.
 *
 * Keys are dotted paths ("http.header_timeout"). In YAML they nest:
 *     listen: 127.0.0.1:9800
 *     http:
 *       header_timeout: 10s
 * The environment variable of a key is FROST_ + the key upper-cased with dots
 * as underscores (FROST_HTTP_HEADER_TIMEOUT). Value syntax per type:
 *   duration: a number with a unit: 250ms, 10s, 5m, 1h (a bare number is refused)
 *   size:     bytes, or with a suffix: 64KiB, 32MiB, 1GiB (also K/M/G and KB/MB/GB)
 *   bool:     true/false/yes/no/on/off/1/0
 *   level:    debug, info, warn, error, off
 *   decimal:  a non-negative number, at most 9 digits after the point: 0.000042
 * Unknown keys and bad values are errors naming the source ("frost.yaml:7",
 * "FROST_HTTP_HEADER_TIMEOUT", "--listen") and the key.
 *
 * Not thread-safe; load once at start-up, then treat as read-only. */
#ifndef FROST_BASE_CONFIG_H
#define FROST_BASE_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

#include <yaml.h>

struct frost_http_config {
    size_t max_header_bytes;       /* request line + headers; over it → 431 */
    size_t max_body_bytes;         /* default per-route body cap; over it → 413 */
    uint64_t header_timeout_ms;    /* whole header block must arrive within; else 408 */
    uint64_t body_timeout_ms;      /* longest gap between body bytes; else 408 */
    uint64_t keepalive_timeout_ms; /* idle keep-alive connection is closed after */
    uint64_t shutdown_grace_ms;    /* SIGTERM: in-flight requests get this long */
    uint64_t max_connections;      /* accepted beyond this are closed at once */
    uint64_t upstream_connect_timeout_ms;
    uint64_t upstream_idle_timeout_ms; /* pooled idle upstream connections closed after */
    uint64_t upstream_max_idle_per_endpoint;
};

struct frost_runtime_config {
    char user[64];             /* functions run as this user when Frost is root */
    char port_range[32];       /* "FIRST-LAST": ports handed to instances */
    uint64_t start_timeout_ms; /* spawn to ready (health check), initializer excluded */
    uint64_t stop_grace_ms;    /* SIGTERM to SIGKILL */
    uint64_t pids_max;         /* processes per instance */
    size_t log_max_bytes;      /* per log file, before rotation */
    uint64_t log_keep;         /* rotated files kept per instance */
    int cgroup_favordynmods;   /* remount cgroup2 with favordynmods (faster starts) */
};

struct frost_sched_config {
    uint64_t keepalive_ms;      /* an on-demand instance idle this long is stopped */
    uint64_t max_queue;         /* requests waiting per function; more get 429 */
    uint64_t max_instances;     /* per function */
    uint64_t node_cpus;         /* capacity for instances; 0 = the CPUs of this machine */
    size_t node_memory;         /* 0 = the memory of this machine */
    uint64_t freeze_delay_ms;   /* idle mode: a provisioned instance idle this long freezes */
    uint64_t scale_interval_ms; /* provision targets are evaluated this often */
    uint64_t scale_window_ms;   /* target tracking averages metrics over this window */
    uint64_t scale_in_stabilization_ms; /* scale in to the highest target desired this long */
};

struct frost_gpu_config {
    char devices[512];    /* "none", "sim:2x24GB", "sim:1xT4-16GB,1xA10-24GB" */
    uint64_t card_quota;  /* cards in use at once, node-wide (FC's default 30) */
    size_t sim_bandwidth; /* bytes/s the sim backend models for checkpoint/restore */
    char type_map[512];   /* "fc.gpu.tesla.1=T4,…"; empty = the built-in mapping */
};

/* Prices for bills (docs/billing.md): decimals in `currency` per unit. The
 * defaults are FC's CU factors at the first CU tier (USD 0.00002 per CU). */
struct frost_prices_config {
    char currency[16];
    double gpu_memory_active; /* per GPU-memory-GB·s, active */
    double gpu_memory_idle;   /* per GPU-memory-GB·s, idle or frozen (idle mode) */
    char gpu_types[512];      /* "L20=ACTIVE/IDLE,…": per device type, over the two above */
    double vcpu_active;       /* per vCPU·s */
    double vcpu_idle;
    double memory;     /* per memory-GB·s */
    double invocation; /* per request */
};

/* The dedicated GPU servers a bill is compared with. */
struct frost_dedicated_config {
    double card_hour; /* price of one card for an hour */
    char types[512];  /* "T4=14,A10=20": per device type, over card_hour */
};

struct frost_auth_config {
    /* "ID:SECRET[,ID:SECRET…]": access keys that may sign API requests
     * (ACS3-HMAC-SHA256). Empty = unsigned requests, allowed on loopback only. */
    char keys[4096];
    /* A bearer token that may read /metrics without signing (Prometheus cannot
     * sign ACS3 requests). Empty = /metrics needs a signature when keys are set. */
    char metrics_token[256];
};

struct frost_config {
    char listen[256]; /* "host:port" (port 0 = any free port) or "unix:/path" */
    char data_dir[PATH_MAX];
    char log_file[PATH_MAX]; /* empty = stderr */
    enum log_level log_level;
    char region[64];     /* shown in ARNs and FC_REGION, e.g. "cn-hangzhou" */
    char account_id[64]; /* shown in ARNs and FC_ACCOUNT_ID */
    struct frost_http_config http;
    struct frost_auth_config auth;
    struct frost_runtime_config runtime;
    struct frost_sched_config sched;
    struct frost_gpu_config gpu;
    struct frost_prices_config prices;
    struct frost_dedicated_config dedicated;
    char trigger_domain[256]; /* "D": HTTP triggers also answer at {function}.D */
};

void config_defaults(struct frost_config *c);

/* Reads a YAML mapping from path. Fails on syntax errors, unknown keys, bad
 * values and non-mapping documents, with "path:line: …" in the message. */
FROST_WUR int config_load_file(struct frost_config *c, const char *path, struct frost_err *err);

/* Applies FROST_* variables from envp (NULL-terminated "K=V"). Variables that
 * name no key are not errors (other tools share the prefix); their names are
 * appended to `unknown` (space separated) when unknown is not NULL, so the
 * caller can warn. Bad values of known keys are errors. */
FROST_WUR int config_apply_env(struct frost_config *c, char *const *envp, struct buf *unknown,
                               struct frost_err *err);

/* Sets one key from text. origin names the source for error messages. */
FROST_WUR int config_set(struct frost_config *c, const char *key, const char *value,
                         const char *origin, struct frost_err *err);

/* Checks cross-field rules after all sources are applied. */
FROST_WUR int config_validate(const struct frost_config *c, struct frost_err *err);

/* Appends the effective configuration as YAML (loadable by config_load_file). */
FROST_WUR int config_dump(const struct frost_config *c, struct buf *out);

/* Parses runtime.port_range ("21000-21999"). -1 on bad input. */
FROST_WUR int config_port_range(const char *s, unsigned *first, unsigned *last);

/* An FC-style error for a libyaml parse failure of `text` (from path):
 * "path:LINE: YAML syntax error: …", noting tab indents. Returns -1. */
int config_yaml_syntax_error(const yaml_parser_t *p, const char *path, const char *text, size_t len,
                             const char *code, struct frost_err *err);

/* Value parsers, exposed for reuse and tests. Return -1 on bad input. */
FROST_WUR int config_parse_duration_ms(const char *s, uint64_t *out_ms);
FROST_WUR int config_parse_size(const char *s, size_t *out);
FROST_WUR int config_parse_bool(const char *s, int *out);

#endif
