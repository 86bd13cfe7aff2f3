/* The function model: validation and normalisation of everything Frost's FC 3.0
 * management API takes — functions, provision / async / concurrency configs and
 * triggers — plus parsed forms of the pieces other modules act on (HTTP trigger
 * settings, schedule expressions, async destinations).
 *
 * Field names, ranges and defaults follow FC 3.0 (npm @alicloud/fc20230330);
 * docs/functions.md lists them and the decisions taken where FC is silent.
 *
 * Conventions for every function here:
 * - Pure functions of their arguments: no I/O, no globals, callable from any
 *   thread. Inputs are never modified.
 * - Fallible ones return 0, or -1 with err set to status 400, code
 *   "InvalidArgument" and a message that starts with the JSON path of the
 *   offending field, e.g. "customContainerConfig.healthCheckConfig.periodSeconds:
 *   must be between 1 and 120, got 0". On failure *out is left untouched.
 * - A json_t * returned through `out` is a new reference owned by the caller
 *   (json_decref it). It never aliases the input: changing one never changes
 *   the other.
 * - Members present with the value null are treated as absent (on update:
 *   "reset to the default").
 * - Members Frost does not know are kept as they are, so clients that send
 *   newer FC fields get them back. */
#ifndef FROST_SPEC_SPEC_H
#define FROST_SPEC_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/util.h"

/* ---- defaults and limits the rest of Frost applies ---------------------- */

/* Function defaults filled in by spec_function_create/update when absent. */
#define SPEC_DEFAULT_TIMEOUT_S            3
#define SPEC_DEFAULT_INSTANCE_CONCURRENCY 1
#define SPEC_DEFAULT_MEMORY_MB            512
#define SPEC_DEFAULT_CPU                  0.5 /* with the default memory */
#define SPEC_DEFAULT_DISK_MB              512

/* Defaults that stay implicit (not written into the stored object): the
 * runtime applies them when the field is absent. */
#define SPEC_DEFAULT_PORT              9000
#define SPEC_DEFAULT_HOOK_TIMEOUT_S    3
#define SPEC_HC_DEFAULT_INITIAL_DELAY  0
#define SPEC_HC_DEFAULT_PERIOD_S       3
#define SPEC_HC_DEFAULT_TIMEOUT_S      1
#define SPEC_HC_DEFAULT_FAILURE_THRESH 3
#define SPEC_HC_DEFAULT_SUCCESS_THRESH 1

#define SPEC_INITIALIZER_TIMEOUT_MAX_S 300
#define SPEC_PRESTOP_TIMEOUT_MAX_S     90
#define SPEC_ENV_MAX_BYTES             4096 /* keys + values */

/* Async invoke config defaults. */
#define SPEC_DEFAULT_ASYNC_MAX_AGE_S   86400
#define SPEC_DEFAULT_ASYNC_MAX_RETRIES 3

/* ---- functions ----------------------------------------------------------- */

/* FC's function name rule: 1–64 bytes of letters, digits, '_' and '-', the
 * first a letter or '_'. The message names the field "functionName". */
FROST_WUR int spec_function_name_check(const char *name, struct frost_err *err);

/* Validates a CreateFunctionInput (a JSON object) and returns the function
 * object Frost stores:
 * - defaults filled: timeout, instanceConcurrency, memorySize, cpu, diskSize,
 *   internetAccess (see docs/functions.md for how cpu and memorySize derive
 *   from each other when only one is given);
 * - output-only members dropped (functionArn, functionId, createdTime,
 *   lastModifiedTime, codeChecksum, codeSize, state*, lastUpdateStatus*,
 *   lockInfo, invocationRestriction, customContainerConfig.resolvedImageUri):
 *   the API layer fills them;
 * - `code` validated (zipFile base64, or ossBucketName + ossObjectName, and an
 *   optional checksum: decimal CRC-64 or hex SHA-256) and left out: the API
 *   layer reads it from the input. Custom runtimes need `code`;
 *   custom-container rejects it.
 * The input is borrowed; *out is a new reference. */
FROST_WUR int spec_function_create(const json_t *input, json_t **out, struct frost_err *err);

/* Applies an UpdateFunctionInput `patch` to the stored function `current` (as
 * produced by spec_function_create/update, output-only members allowed):
 * members present in the patch replace the stored ones whole (nested objects
 * are not merged, as in FC); null removes a member (defaults are filled
 * again); functionName may be absent or equal to the current name; `code` is
 * validated and left out. When the patch moves the runtime between
 * custom-container and the custom runtimes without sending the other family's
 * config, the stale config (customContainerConfig / customRuntimeConfig) is
 * dropped. The result is validated as a whole. Output-only members of
 * `current` are carried over unchanged; the caller refreshes
 * lastModifiedTime. Whether a custom runtime has a code package is the
 * caller's business. *out is a new reference. */
FROST_WUR int spec_function_update(const json_t *current, const json_t *patch, json_t **out,
                                   struct frost_err *err);

/* Validates an InputCodeLocation (the `code` member); path prefixes messages
 * (e.g. "code"). For the API layer, which handles the code itself. */
FROST_WUR int spec_code_check(const json_t *code, const char *path, struct frost_err *err);

/* ---- configs ------------------------------------------------------------- */

/* PutProvisionConfigInput → stored provision config. `defaultTarget` and the
 * deprecated `target` are both stored: when only one is given the other gets
 * its value, when both are given defaultTarget wins, when neither is given
 * both are 0. alwaysAllocateCPU / alwaysAllocateGPU default to true
 * (false = idle mode). Output-only members (current, currentError,
 * functionArn) are dropped. */
FROST_WUR int spec_provision_config(const json_t *in, json_t **out, struct frost_err *err);

/* PutAsyncInvokeConfigInput → stored async config, defaults filled
 * (maxAsyncEventAgeInSeconds 86400, maxAsyncRetryAttempts 3, asyncTask false).
 * Destinations must parse with spec_destination_parse. Output-only members
 * (createdTime, lastModifiedTime, functionArn) are dropped. */
FROST_WUR int spec_async_config(const json_t *in, json_t **out, struct frost_err *err);

/* PutConcurrencyInput → stored concurrency config: reservedConcurrency is a
 * required integer 0–10000 (0 stops the function from running). */
FROST_WUR int spec_concurrency_config(const json_t *in, json_t **out, struct frost_err *err);

/* ---- schedule expressions (provision scheduledActions) -------------------- */

enum spec_schedule_kind {
    SPEC_SCHEDULE_CRON = 1, /* cron(s m h dom mon dow) */
    SPEC_SCHEDULE_AT = 2,   /* at(YYYY-MM-DDThh:mm:ss) */
};

/* A cron expression as bit sets: bit i set = value i matches. */
struct spec_cron {
    uint64_t sec;        /* 0–59 */
    uint64_t min;        /* 0–59 */
    uint32_t hour;       /* 0–23 */
    uint32_t dom;        /* 1–31 */
    uint16_t mon;        /* 1–12 */
    uint8_t dow;         /* 0–6, Sunday = 0 (7 is read as Sunday) */
    bool dom_restricted; /* the field was not '*' or '?' */
    bool dow_restricted; /* idem; when both are restricted either may match */
};

struct spec_schedule {
    enum spec_schedule_kind kind;
    struct spec_cron cron;
    /* kind AT: the time as written, read as UTC. When the action has a
     * timeZone the caller shifts it into that zone. */
    int64_t at_ms;
};

/* Parses a schedule expression: "cron(" six space-separated fields ")" with
 * '*', '?', lists, ranges, steps and JAN–DEC / SUN–SAT names, or
 * "at(YYYY-MM-DDThh:mm:ss[Z])". path prefixes error messages. */
FROST_WUR int spec_schedule_parse(const char *expr, const char *path, struct spec_schedule *out,
                                  struct frost_err *err);

/* ---- async destinations ---------------------------------------------------- */

enum spec_destination_kind {
    SPEC_DEST_FUNCTION = 1, /* acs:fc:{region}:{account}:functions/{name}[/{qualifier}] or a name */
    SPEC_DEST_URL = 2,      /* http:// or https:// (Frost extension: a webhook POST) */
};

struct spec_destination {
    enum spec_destination_kind kind;
    char function[65];   /* kind FUNCTION */
    char qualifier[129]; /* kind FUNCTION; "" when none was given */
    char region[64];     /* kind FUNCTION, ARN form only; "" otherwise */
    char account[65];    /* idem */
    const char *url;     /* kind URL: borrowed from the parsed string */
};

/* Parses a destination string; path prefixes error messages. */
FROST_WUR int spec_destination_parse(const char *s, const char *path, struct spec_destination *out,
                                     struct frost_err *err);

/* ---- triggers -------------------------------------------------------------- */

/* CreateTriggerInput → stored trigger. triggerName: FC's rule (1–128 bytes of
 * [A-Za-z0-9_-], not starting with a digit or '-'). triggerType: http, timer,
 * oss, log, tablestore, cdn_events, mns_topic, eventbridge; only http has an
 * effect in Frost, the others are stored and returned. triggerConfig is a
 * JSON string holding an object (an object is accepted too and stored as its
 * string); for http it is checked and rewritten with defaults filled
 * (authType "function", disableURLInternet false). qualifier defaults to
 * "LATEST". Output-only members (triggerId, createdTime, lastModifiedTime,
 * status, targetArn, httpTrigger) are dropped. */
FROST_WUR int spec_trigger_create(const json_t *in, json_t **out, struct frost_err *err);

/* UpdateTriggerInput applied to a stored trigger: description,
 * invocationRole, qualifier and triggerConfig replace the stored values;
 * triggerName and triggerType may be absent or unchanged. Output-only members
 * of `current` are carried over. *out is a new reference. */
FROST_WUR int spec_trigger_update(const json_t *current, const json_t *patch, json_t **out,
                                  struct frost_err *err);

enum spec_http_auth {
    SPEC_HTTP_AUTH_ANONYMOUS = 1,
    SPEC_HTTP_AUTH_FUNCTION = 2, /* requests must be signed */
};

/* HTTP methods an http trigger accepts, as bits. */
enum {
    SPEC_HTTP_GET = 1u << 0,
    SPEC_HTTP_POST = 1u << 1,
    SPEC_HTTP_PUT = 1u << 2,
    SPEC_HTTP_DELETE = 1u << 3,
    SPEC_HTTP_HEAD = 1u << 4,
    SPEC_HTTP_PATCH = 1u << 5,
    SPEC_HTTP_OPTIONS = 1u << 6,
};

struct spec_http_trigger {
    enum spec_http_auth auth;
    unsigned methods; /* SPEC_HTTP_* bits, never 0 */
    bool disable_url_internet;
};

/* Parses a stored trigger of type http (its triggerConfig string). Fails on
 * other trigger types. */
FROST_WUR int spec_http_trigger_parse(const json_t *trigger, struct spec_http_trigger *out,
                                      struct frost_err *err);

/* The SPEC_HTTP_* bit of a method name (exact, upper case; len bytes), or 0. */
unsigned spec_http_method_bit(const char *method, size_t len);

#endif
