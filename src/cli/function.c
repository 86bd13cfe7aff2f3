/* `frost function list|get|remove` and `frost provision put|get|list|remove`:
 * thin commands over the FC API (docs/cli.md). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "spec/syaml.h"

extern char **environ;

#define FC "/2023-03-30"
/* Pages followed at most by a list (100 items each). */
#define MAX_PAGES 10000

static const char function_usage[] =
    "Usage: frost function <list|get|remove> [options]\n"
    "\n"
    "  frost function list [--prefix P] [--limit N] [--json]\n"
    "      functions in name order (all pages; --limit caps the count)\n"
    "  frost function get NAME\n"
    "      the function as JSON\n"
    "  frost function remove NAME [-y]\n"
    "      deletes the function with its triggers and its async-invoke, concurrency and\n"
    "      provision configs; asks first unless -y\n"
    "\n"
    "Common options:\n"
    "  --json                    machine-readable output\n"
    "  -h, --help                show this help\n"
    "\n" CLI_CLIENT_USAGE "\n"
    "Exit status: 0 ok, 1 the server answered an error or could not be reached,\n"
    "2 bad flags or settings.\n";

static const char provision_usage[] =
    "Usage: frost provision <put|get|list|remove> [FUNCTION] [options]\n"
    "\n"
    "Provisioned instances of a function (like `s provision`).\n"
    "\n"
    "  frost provision put FUNCTION [--target N] [--default-target N] [--ac[=BOOL]]\n"
    "                      [--ag[=BOOL]] [--target-tracking-policies FILE|JSON]\n"
    "                      [--scheduled-actions FILE|JSON] [--qualifier LATEST]\n"
    "      sets the provision config (the whole of it: what is not given is reset)\n"
    "  frost provision get FUNCTION [--qualifier LATEST]\n"
    "      the provision config as JSON\n"
    "  frost provision list [--function NAME] [--json]\n"
    "      every provision config\n"
    "  frost provision remove FUNCTION [--qualifier LATEST]\n"
    "      deletes the provision config and waits until its instances are gone\n"
    "\n"
    "FUNCTION may be left out when an s.yaml (-t FILE, else ./s.yaml) has one resource.\n"
    "\n"
    "Options of put:\n"
    "  --target N                       provisioned instances (FC's deprecated name)\n"
    "  --default-target N               the same, FC's current name (wins over --target)\n"
    "  --ac[=true|false]                alwaysAllocateCPU (false = idle mode)\n"
    "  --ag[=true|false]                alwaysAllocateGPU (false = idle mode)\n"
    "  --target-tracking-policies X     a JSON array, or a file holding one or an object\n"
    "                                   with targetTrackingPolicies (also\n"
    "                                   --targetTrackingPolicies)\n"
    "  --scheduled-actions X            idem for scheduledActions (also --scheduledActions)\n"
    "  --wait                           wait until current equals the target (a target of 0\n"
    "                                   always waits until every instance is released)\n"
    "  --no-wait                        return at once, also for a target of 0 and remove\n"
    "  --wait-timeout SECONDS           give up waiting after this long             [600]\n"
    "Other options:\n"
    "  --qualifier Q                    only LATEST in this Frost                [LATEST]\n"
    "  -t, --template FILE              s.yaml to take FUNCTION from\n"
    "  -a, --access NAME                accepted and ignored (an `s` credential alias)\n"
    "  --json                           machine-readable output\n"
    "  -y, --assume-yes                 accepted (never asks)\n"
    "  -h, --help                       show this help\n"
    "\n" CLI_CLIENT_USAGE "\n"
    "Exit status: 0 ok, 1 the server answered an error or could not be reached,\n"
    "2 bad flags, files or settings.\n";

/* ---- helpers --------------------------------------------------------------- */

static int print_json(const json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    if (!text) {
        fprintf(stderr, "frost: out of memory\n");
        return CLI_EXIT_API;
    }
    printf("%s\n", text);
    free(text);
    return CLI_EXIT_OK;
}

static int connect_client(const struct cli_flags *f, struct cli_client **c)
{
    struct frost_err err = {0};
    if (cli_client_new(f, environ, c, &err) < 0) {
        cli_print_error(&err);
        return -1;
    }
    return 0;
}

/* One request; prints the error. */
static int call(struct cli_client *c, const char *method, const char *path, const json_t *body,
                json_t **answer)
{
    struct frost_err err = {0};
    int status;
    if (cli_request(c, method, path, body, &status, answer, &err) < 0) {
        cli_print_error(&err);
        return -1;
    }
    return 0;
}

static int function_path(const char *name, const char *suffix, char *out, size_t len)
{
    char esc[512];
    if (cli_escape(name, esc, sizeof(esc)) < 0)
        return -1;
    int n = snprintf(out, len, FC "/functions/%s%s", esc, suffix);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void num_text(const json_t *v, const char *unit, char *out, size_t len)
{
    if (json_is_integer(v))
        snprintf(out, len, "%" JSON_INTEGER_FORMAT "%s", json_integer_value(v), unit);
    else if (json_is_real(v))
        snprintf(out, len, "%g%s", json_real_value(v), unit);
    else
        snprintf(out, len, "-");
}

/* Collects every item of a paged list into *items (new array). */
static int list_all(struct cli_client *c, const char *base, const char *field, size_t max,
                    json_t **items)
{
    *items = json_array();
    char token[1024] = "";
    for (int page = 0; *items && page < MAX_PAGES; page++) {
        size_t want = max - json_array_size(*items);
        if (want == 0)
            break;
        char path[4096], esc[3200];
        if (cli_escape(token, esc, sizeof(esc)) < 0)
            break;
        snprintf(path, sizeof(path), "%s%slimit=%zu%s%s", base, strchr(base, '?') ? "&" : "?",
                 want < 100 ? want : 100, token[0] ? "&nextToken=" : "", esc);
        json_t *ans = NULL;
        if (call(c, "GET", path, NULL, &ans) < 0) {
            json_decref(*items);
            *items = NULL;
            return -1;
        }
        json_array_extend(*items, json_object_get(ans, field));
        const char *next = json_string_value(json_object_get(ans, "nextToken"));
        snprintf(token, sizeof(token), "%s", next ? next : "");
        json_decref(ans);
        if (!token[0])
            break;
    }
    if (!*items) {
        fprintf(stderr, "frost: out of memory\n");
        return -1;
    }
    return 0;
}

static int parse_count(const char *cmd, const char *opt, const char *v, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 0 || n > max) {
        cli_usage_error(cmd, "%s: expected a whole number from 0 to %ld, got \"%s\"", opt, max, v);
        return -1;
    }
    *out = n;
    return 0;
}

/* ---- frost function ---------------------------------------------------------- */

static int function_list(int argc, char **argv)
{
    enum { O_JSON = 256, O_PREFIX, O_LIMIT };
    static const struct option opts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"limit", required_argument, NULL, O_LIMIT},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli_flags flags = {0};
    const char *prefix = NULL;
    long limit = -1;
    bool json = false;
    int o;
    cli_opts_begin();
    while ((o = cli_next_opt(&flags, argc, argv, "h", opts)) != -1) {
        switch (o) {
        case O_JSON:
            json = true;
            break;
        case O_PREFIX:
            prefix = optarg;
            break;
        case O_LIMIT:
            if (parse_count("function list", "--limit", optarg, 1000000, &limit) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h':
            fputs(function_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("function list", "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("function list", "unexpected argument \"%s\"", argv[optind]);
    char base[1024] = FC "/functions";
    if (prefix) {
        char esc[600];
        if (cli_escape(prefix, esc, sizeof(esc)) < 0)
            return cli_usage_error("function list", "--prefix too long");
        snprintf(base, sizeof(base), FC "/functions?prefix=%s", esc);
    }
    struct cli_client *c = NULL;
    if (connect_client(&flags, &c) < 0)
        return CLI_EXIT_USAGE;
    json_t *fns = NULL;
    int rc = list_all(c, base, "functions", limit < 0 ? SIZE_MAX : (size_t)limit, &fns);
    cli_client_free(c);
    if (rc < 0)
        return CLI_EXIT_API;
    if (json) {
        json_t *out = json_pack("{s:o}", "functions", fns);
        rc = out ? print_json(out) : CLI_EXIT_API;
        json_decref(out);
        return rc;
    }
    if (json_array_size(fns) == 0) {
        printf("no functions\n");
        json_decref(fns);
        return CLI_EXIT_OK;
    }
    struct cli_table *t = cli_table_new();
    rc = t ? cli_table_row(t, "NAME", "RUNTIME", "CPU", "MEMORY", "GPU", "TIMEOUT", "CONCURRENCY",
                           "LAST MODIFIED", NULL)
           : -1;
    size_t i;
    json_t *f;
    json_array_foreach(fns, i, f)
    {
        if (rc < 0)
            break;
        char cpu[32], mem[32], timeout[32], conc[32], gpu[96] = "-";
        num_text(json_object_get(f, "cpu"), "", cpu, sizeof(cpu));
        num_text(json_object_get(f, "memorySize"), " MB", mem, sizeof(mem));
        num_text(json_object_get(f, "timeout"), " s", timeout, sizeof(timeout));
        num_text(json_object_get(f, "instanceConcurrency"), "", conc, sizeof(conc));
        json_t *g = json_object_get(f, "gpuConfig");
        const char *gtype = json_string_value(json_object_get(g, "gpuType"));
        if (gtype && *gtype)
            snprintf(gpu, sizeof(gpu), "%s %" JSON_INTEGER_FORMAT " MB", gtype,
                     json_integer_value(json_object_get(g, "gpuMemorySize")));
        const char *name = json_string_value(json_object_get(f, "functionName"));
        const char *rt = json_string_value(json_object_get(f, "runtime"));
        const char *mod = json_string_value(json_object_get(f, "lastModifiedTime"));
        rc = cli_table_row(t, name ? name : "?", rt ? rt : "-", cpu, mem, gpu, timeout, conc,
                           mod ? mod : "-", NULL);
    }
    json_decref(fns);
    if (rc < 0) {
        cli_table_free(t);
        fprintf(stderr, "frost: out of memory\n");
        return CLI_EXIT_API;
    }
    cli_table_print(t, stdout);
    return CLI_EXIT_OK;
}

/* get and remove: one NAME, -y, --json. */
static int function_one(int argc, char **argv, bool remove)
{
    const char *cmd = remove ? "function remove" : "function get";
    enum { O_JSON = 256 };
    static const struct option opts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"assume-yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli_flags flags = {0};
    bool yes = false, json = false;
    int o;
    cli_opts_begin();
    while ((o = cli_next_opt(&flags, argc, argv, "yh", opts)) != -1) {
        switch (o) {
        case O_JSON:
            json = true;
            break;
        case 'y':
            yes = true;
            break;
        case 'h':
            fputs(function_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error(cmd, "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind == argc)
        return cli_usage_error(cmd, "expected a function NAME");
    if (optind + 1 != argc)
        return cli_usage_error(cmd, "expected one function NAME, got %d arguments", argc - optind);
    const char *name = argv[optind];
    char path[1024];
    if (function_path(name, "", path, sizeof(path)) < 0)
        return cli_usage_error(cmd, "function name too long");
    if (remove && !yes) {
        char q[512];
        bool no_tty;
        snprintf(q, sizeof(q), "Remove function %s with its triggers and configs?", name);
        if (!cli_confirm(q, &no_tty)) {
            if (no_tty)
                return cli_usage_error(cmd, "not removing %s without confirmation: pass -y", name);
            fprintf(stderr, "frost: cancelled; nothing was removed\n");
            return CLI_EXIT_API;
        }
    }
    struct cli_client *c = NULL;
    if (connect_client(&flags, &c) < 0)
        return CLI_EXIT_USAGE;
    json_t *ans = NULL;
    int rc = call(c, remove ? "DELETE" : "GET", path, NULL, &ans);
    json_t *insts = NULL;
    char ipath[1100];
    if (rc == 0 && !remove && function_path(name, "/instances", ipath, sizeof(ipath)) == 0 &&
        call(c, "GET", ipath, NULL, &insts) < 0)
        insts = NULL;
    cli_client_free(c);
    if (rc < 0)
        return CLI_EXIT_API;
    if (!remove) {
        rc = print_json(ans);
        /* What runs, beside what is configured: counts by state on stderr,
         * so stdout stays the function's JSON. */
        json_t *arr = json_object_get(insts, "instances");
        if (json_is_array(arr)) {
            size_t i, n_run = 0, n_start = 0, n_frozen = 0;
            json_t *in;
            json_array_foreach(arr, i, in)
            {
                const char *st = json_string_value(json_object_get(in, "status"));
                if (st && strcmp(st, "Running") == 0)
                    n_run++;
                else if (st && (strcmp(st, "Starting") == 0 || strcmp(st, "Initializing") == 0))
                    n_start++;
                if (json_is_true(json_object_get(in, "frozen")))
                    n_frozen++;
            }
            fprintf(stderr, "instances: %zu running (%zu frozen), %zu starting\n", n_run, n_frozen,
                    n_start);
        }
        json_decref(insts);
    } else if (json) {
        json_t *out = json_pack("{s:s, s:s}", "functionName", name, "result", "removed");
        rc = out ? print_json(out) : CLI_EXIT_API;
        json_decref(out);
    } else {
        printf("removed function %s (with its triggers and configs)\n", name);
        rc = CLI_EXIT_OK;
    }
    json_decref(ans);
    return rc;
}

int cli_function(int argc, char **argv)
{
    if (argc < 2) {
        fputs(function_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help") || !strcmp(verb, "help")) {
        fputs(function_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(verb, "list") || !strcmp(verb, "ls"))
        return function_list(argc - 1, argv + 1);
    if (!strcmp(verb, "get"))
        return function_one(argc - 1, argv + 1, false);
    if (!strcmp(verb, "remove") || !strcmp(verb, "rm") || !strcmp(verb, "delete"))
        return function_one(argc - 1, argv + 1, true);
    return cli_usage_error("function", "unknown subcommand \"%s\" (list, get, remove)", verb);
}

/* ---- frost provision ----------------------------------------------------------- */

struct prov_args {
    struct cli_flags flags;
    const char *function;
    const char *qualifier;
    const char *template;
    const char *function_filter; /* list --function */
    json_t *body;                /* put */
    bool json;
    int wait; /* -1 = default (target 0 and remove wait), 0 = no, 1 = yes */
    long wait_timeout_s;
};

/* FUNCTION left out: the only resource of the s.yaml. */
static int function_from_template(const char *cmd, struct prov_args *a, char *out, size_t len)
{
    const char *path = a->template;
    if (!path)
        path = access("s.yaml", F_OK) == 0 ? "s.yaml" : access("s.yml", F_OK) == 0 ? "s.yml" : NULL;
    if (!path) {
        cli_usage_error(cmd, "expected a FUNCTION (or an s.yaml here, or -t FILE)");
        return -1;
    }
    struct spec_syaml *sy = NULL;
    struct frost_err err = {0};
    if (spec_syaml_load(path, environ, &sy, &err) < 0) {
        cli_print_error(&err);
        return -1;
    }
    int rc = -1;
    if (sy->n_resources != 1) {
        cli_usage_error(cmd, "%s has %zu resources; name the FUNCTION", path, sy->n_resources);
    } else {
        snprintf(out, len, "%s",
                 json_string_value(json_object_get(sy->resources[0].function, "functionName")));
        rc = 0;
    }
    spec_syaml_free(sy);
    return rc;
}

static bool is_bool_word(const char *v)
{
    static const char *const words[] = {"true", "false", "1", "0", "yes", "no"};
    for (size_t i = 0; i < ARRAY_LEN(words); i++)
        if (strcmp(v, words[i]) == 0)
            return true;
    return false;
}

static int parse_bool(const char *cmd, const char *opt, const char *v, bool *out)
{
    if (!v || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) {
        *out = false;
        return 0;
    }
    cli_usage_error(cmd, "%s: expected true or false, got \"%s\"", opt, v);
    return -1;
}

/* --target-tracking-policies / --scheduled-actions: an array, or an object
 * holding it under its field name (like seed 002's provision.json). */
static int policy_arg(const char *cmd, const char *field, const char *v, json_t *body)
{
    struct frost_err err = {0};
    json_t *j = NULL;
    if (cli_json_arg(v, field, &j, &err) < 0) {
        cli_usage_error(cmd, "%s", err.msg);
        return -1;
    }
    json_t *arr = json_is_object(j) ? json_object_get(j, field) : j;
    if (!json_is_array(arr)) {
        json_decref(j);
        cli_usage_error(cmd, "%s: expected a JSON array, or an object with \"%s\": [...]", field,
                        field);
        return -1;
    }
    int rc = json_object_set(body, field, arr);
    json_decref(j);
    return rc;
}

static int provision_args(const char *cmd, int argc, char **argv, bool put, struct prov_args *a)
{
    enum {
        O_JSON = 256,
        O_QUALIFIER,
        O_TARGET,
        O_DEFAULT_TARGET,
        O_AC,
        O_AG,
        O_TTP,
        O_SA,
        O_FUNCTION,
        O_WAIT,
        O_NO_WAIT,
        O_WAIT_TIMEOUT,
    };
    static const struct option opts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"qualifier", required_argument, NULL, O_QUALIFIER},
        {"target", required_argument, NULL, O_TARGET},
        {"default-target", required_argument, NULL, O_DEFAULT_TARGET},
        {"defaultTarget", required_argument, NULL, O_DEFAULT_TARGET},
        {"ac", optional_argument, NULL, O_AC},
        {"always-allocate-cpu", optional_argument, NULL, O_AC},
        {"ag", optional_argument, NULL, O_AG},
        {"always-allocate-gpu", optional_argument, NULL, O_AG},
        {"target-tracking-policies", required_argument, NULL, O_TTP},
        {"targetTrackingPolicies", required_argument, NULL, O_TTP},
        {"scheduled-actions", required_argument, NULL, O_SA},
        {"scheduledActions", required_argument, NULL, O_SA},
        {"function", required_argument, NULL, O_FUNCTION},
        {"wait", no_argument, NULL, O_WAIT},
        {"no-wait", no_argument, NULL, O_NO_WAIT},
        {"wait-timeout", required_argument, NULL, O_WAIT_TIMEOUT},
        {"template", required_argument, NULL, 't'},
        {"access", required_argument, NULL, 'a'},
        {"assume-yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int o;
    cli_opts_begin();
    while ((o = cli_next_opt(&a->flags, argc, argv, "t:a:yh", opts)) != -1) {
        bool is_put_opt = o == O_TARGET || o == O_DEFAULT_TARGET || o == O_AC || o == O_AG ||
                          o == O_TTP || o == O_SA;
        if (is_put_opt && !put)
            return cli_usage_error(cmd, "that option belongs to `frost provision put`");
        long n;
        bool b;
        switch (o) {
        case O_JSON:
            a->json = true;
            break;
        case O_QUALIFIER:
            a->qualifier = optarg;
            break;
        case O_TARGET:
        case O_DEFAULT_TARGET:
            if (parse_count(cmd, o == O_TARGET ? "--target" : "--default-target", optarg, 10000,
                            &n) < 0)
                return CLI_EXIT_USAGE;
            json_object_set_new(a->body, o == O_TARGET ? "target" : "defaultTarget",
                                json_integer(n));
            break;
        case O_AC:
        case O_AG:
            /* "--ag false" as well as "--ag=false": take a following boolean word. */
            if (!optarg && optind < argc && is_bool_word(argv[optind]))
                optarg = argv[optind++];
            if (parse_bool(cmd, o == O_AC ? "--ac" : "--ag", optarg, &b) < 0)
                return CLI_EXIT_USAGE;
            json_object_set_new(a->body, o == O_AC ? "alwaysAllocateCPU" : "alwaysAllocateGPU",
                                json_boolean(b));
            break;
        case O_TTP:
        case O_SA:
            if (policy_arg(cmd, o == O_TTP ? "targetTrackingPolicies" : "scheduledActions", optarg,
                           a->body) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_FUNCTION:
            a->function_filter = optarg;
            break;
        case O_WAIT:
        case O_NO_WAIT:
            a->wait = o == O_WAIT;
            break;
        case O_WAIT_TIMEOUT:
            if (parse_count(cmd, "--wait-timeout", optarg, 86400, &a->wait_timeout_s) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 't':
            a->template = optarg;
            break;
        case 'a':
        case 'y':
            break;
        case 'h':
            fputs(provision_usage, stdout);
            return -1;
        default:
            return cli_usage_error(cmd, "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        a->function = argv[optind++];
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    return 0;
}

static void provision_table(const json_t *configs)
{
    struct cli_table *t = cli_table_new();
    int rc = t ? cli_table_row(t, "FUNCTION", "TARGET", "CURRENT", "ALWAYS CPU", "ALWAYS GPU",
                               "POLICIES", "SCHEDULES", "ERROR", NULL)
               : -1;
    size_t i;
    json_t *p;
    json_array_foreach(configs, i, p)
    {
        if (rc < 0)
            break;
        const char *arn = json_string_value(json_object_get(p, "functionArn"));
        const char *fn = arn && strstr(arn, "functions/") ? strstr(arn, "functions/") + 10 : arn;
        char target[32], current[32], pol[32], sch[32];
        num_text(json_object_get(p, "target"), "", target, sizeof(target));
        num_text(json_object_get(p, "current"), "", current, sizeof(current));
        snprintf(pol, sizeof(pol), "%zu",
                 json_array_size(json_object_get(p, "targetTrackingPolicies")));
        snprintf(sch, sizeof(sch), "%zu", json_array_size(json_object_get(p, "scheduledActions")));
        json_t *ac = json_object_get(p, "alwaysAllocateCPU");
        json_t *ag = json_object_get(p, "alwaysAllocateGPU");
        const char *e = json_string_value(json_object_get(p, "currentError"));
        rc = cli_table_row(
            t, fn ? fn : "?", target, current, ac ? (json_is_true(ac) ? "true" : "false") : "-",
            ag ? (json_is_true(ag) ? "true" : "false") : "-", pol, sch, e && *e ? e : "-", NULL);
    }
    if (rc < 0) {
        cli_table_free(t);
        fprintf(stderr, "frost: out of memory\n");
        return;
    }
    cli_table_print(t, stdout);
}

/* Provisioned instances of fn still running (not stopped), from ListInstances. */
static int count_provisioned(struct cli_client *c, const char *fn, int *out)
{
    char path[1024];
    json_t *ans = NULL;
    if (function_path(fn, "/instances", path, sizeof(path)) < 0 || call(c, "GET", path, NULL, &ans))
        return -1;
    int n = 0;
    size_t i;
    json_t *in;
    json_array_foreach(json_object_get(ans, "instances"), i, in)
    {
        const char *kind = json_string_value(json_object_get(in, "kind"));
        const char *st = json_string_value(json_object_get(in, "status"));
        if (kind && strncmp(kind, "provisioned", 11) == 0 && st && strcmp(st, "Stopped") != 0 &&
            strcmp(st, "Failed") != 0)
            n++;
    }
    json_decref(ans);
    *out = n;
    return 0;
}

/* Waits until the provisioned instances of fn match its target (removed: none
 * left), printing progress on stderr. */
static int provision_wait(struct cli_client *c, const char *fn, const char *cfg_path, bool removed,
                          long timeout_s)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_s * 1000;
    char last[256] = "";
    for (;;) {
        int target = 0, current = 0, running = 0;
        const char *err = "";
        json_t *cfg = NULL;
        if (!removed) {
            if (call(c, "GET", cfg_path, NULL, &cfg) != 0)
                return CLI_EXIT_API;
            target = (int)json_integer_value(json_object_get(cfg, "target"));
            current = (int)json_integer_value(json_object_get(cfg, "current"));
            err = json_string_value(json_object_get(cfg, "currentError"));
        }
        if (count_provisioned(c, fn, &running) < 0) {
            json_decref(cfg);
            return CLI_EXIT_API;
        }
        bool done = target == 0 ? running == 0 : current == target && running == target;
        char line[256];
        snprintf(line, sizeof(line), "%s: target %d, current %d, instances running %d%s%s", fn,
                 target, removed ? running : current, running, err && *err ? ": " : "",
                 err ? err : "");
        json_decref(cfg);
        if (strcmp(line, last) != 0) {
            fprintf(stderr, "%s\n", line);
            snprintf(last, sizeof(last), "%s", line);
        }
        if (done)
            return CLI_EXIT_OK;
        if (clock_mono_ms() >= deadline) {
            fprintf(stderr, "frost: gave up waiting after %ld s (--wait-timeout)\n", timeout_s);
            return CLI_EXIT_API;
        }
        usleep(200 * 1000);
    }
}

int cli_provision(int argc, char **argv)
{
    if (argc < 2) {
        fputs(provision_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help") || !strcmp(verb, "help")) {
        fputs(provision_usage, stdout);
        return CLI_EXIT_OK;
    }
    enum { PUT, GET, LIST, REMOVE } v;
    if (!strcmp(verb, "put"))
        v = PUT;
    else if (!strcmp(verb, "get"))
        v = GET;
    else if (!strcmp(verb, "list") || !strcmp(verb, "ls"))
        v = LIST;
    else if (!strcmp(verb, "remove") || !strcmp(verb, "rm") || !strcmp(verb, "delete"))
        v = REMOVE;
    else
        return cli_usage_error("provision", "unknown subcommand \"%s\" (put, get, list, remove)",
                               verb);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "provision %s", verb);
    struct prov_args a = {.body = json_object(), .wait = -1, .wait_timeout_s = 600};
    if (!a.body) {
        fprintf(stderr, "frost: out of memory\n");
        return CLI_EXIT_API;
    }
    int rc = provision_args(cmd, argc - 1, argv + 1, v == PUT, &a);
    if (rc != 0) {
        json_decref(a.body);
        return rc < 0 ? CLI_EXIT_OK : rc; /* -1: --help was shown */
    }
    char fn[256] = "", path[1024];
    if (v == LIST) {
        if (a.function)
            a.function_filter = a.function;
    } else if (a.function) {
        snprintf(fn, sizeof(fn), "%s", a.function);
    } else if (function_from_template(cmd, &a, fn, sizeof(fn)) < 0) {
        json_decref(a.body);
        return CLI_EXIT_USAGE;
    }
    if (v == LIST) {
        char esc[600] = "";
        if (a.function_filter && cli_escape(a.function_filter, esc, sizeof(esc)) < 0) {
            json_decref(a.body);
            return cli_usage_error(cmd, "--function too long");
        }
        snprintf(path, sizeof(path), FC "/provision-configs%s%s", esc[0] ? "?functionName=" : "",
                 esc);
    } else {
        char suffix[400] = "/provision-config", esc[300];
        if (a.qualifier) {
            if (cli_escape(a.qualifier, esc, sizeof(esc)) < 0) {
                json_decref(a.body);
                return cli_usage_error(cmd, "--qualifier too long");
            }
            snprintf(suffix, sizeof(suffix), "/provision-config?qualifier=%s", esc);
        }
        if (function_path(fn, suffix, path, sizeof(path)) < 0) {
            json_decref(a.body);
            return cli_usage_error(cmd, "function name too long");
        }
    }
    struct cli_client *c = NULL;
    if (connect_client(&a.flags, &c) < 0) {
        json_decref(a.body);
        return CLI_EXIT_USAGE;
    }
    json_t *ans = NULL;
    rc = CLI_EXIT_API;
    switch (v) {
    case PUT:
        if (call(c, "PUT", path, a.body, &ans) == 0) {
            bool zero = json_integer_value(json_object_get(ans, "target")) == 0 &&
                        json_array_size(json_object_get(ans, "targetTrackingPolicies")) == 0 &&
                        json_array_size(json_object_get(ans, "scheduledActions")) == 0;
            rc = CLI_EXIT_OK;
            if (a.wait == 1 || (a.wait == -1 && zero))
                rc = provision_wait(c, fn, path, false, a.wait_timeout_s);
            if (rc == CLI_EXIT_OK) {
                json_t *now = NULL;
                if (call(c, "GET", path, NULL, &now) == 0) {
                    json_decref(ans);
                    ans = now;
                }
            }
            if (a.json) {
                int prc = print_json(ans);
                rc = rc ? rc : prc;
            } else {
                json_t *one = json_pack("[O]", ans);
                provision_table(one);
                json_decref(one);
            }
        }
        break;
    case GET:
        if (call(c, "GET", path, NULL, &ans) == 0)
            rc = print_json(ans);
        break;
    case LIST:
        if (list_all(c, path, "provisionConfigs", SIZE_MAX, &ans) == 0) {
            if (a.json) {
                json_t *out = json_pack("{s:O}", "provisionConfigs", ans);
                rc = out ? print_json(out) : CLI_EXIT_API;
                json_decref(out);
            } else if (json_array_size(ans) == 0) {
                printf("no provision configs\n");
                rc = CLI_EXIT_OK;
            } else {
                provision_table(ans);
                rc = CLI_EXIT_OK;
            }
        }
        break;
    case REMOVE:
        if (call(c, "DELETE", path, NULL, &ans) == 0) {
            if (a.wait != 0 && provision_wait(c, fn, path, true, a.wait_timeout_s) != 0)
                break;
            if (a.json) {
                json_t *out = json_pack("{s:s, s:s}", "functionName", fn, "result", "removed");
                rc = out ? print_json(out) : CLI_EXIT_API;
                json_decref(out);
            } else {
                printf("removed the provision config of %s\n", fn);
                rc = CLI_EXIT_OK;
            }
        }
        break;
    }
    json_decref(ans);
    json_decref(a.body);
    cli_client_free(c);
    return rc;
}
