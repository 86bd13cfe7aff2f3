/* `frost task list|get|stop|stats`: a function's async tasks. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "cli/client.h"

#define FC "/2023-03-30"

extern char **environ;

static const char task_usage[] =
    "Usage: frost task list FUNCTION [--status S] [--prefix P] [--limit N] [--all] [--asc]\n"
    "       frost task get FUNCTION TASK_ID\n"
    "       frost task stop FUNCTION TASK_ID\n"
    "       frost task stats FUNCTION\n"
    "\n"
    "Async tasks (`frost invoke F --async` submits one): list them newest first, show one\n"
    "with its events, stop one (a queued task stops at once, a running one is aborted), or\n"
    "count a function's tasks by status.\n"
    "  --status S    only Enqueued, Dequeued (left the queue), Running, Succeeded, Failed,\n"
    "                Stopping, Stopped, Expired, Retrying or Invalid tasks\n"
    "  --prefix P    only task ids starting with P\n"
    "  --limit N     tasks per page, 1-100 (default 20); prints the next page's token\n"
    "  --token T     start at that token\n"
    "  --all         follow every page\n"
    "  --asc         oldest first\n"
    "  --payload     also show (JSON) each task's payload\n"
    "  --json        print the API's JSON instead of a table\n"
    "\n"
    "Exit status: 0 on success, 1 when the server answered an error, 2 on bad usage.\n"
    "\n" CLI_CLIENT_USAGE;

struct opts {
    struct cli_flags flags;
    const char *status, *prefix, *token;
    long limit;
    bool all, asc, json, payload;
};

/* Parses options; positional arguments are left at argv[optind..]. */
static int parse(const char *cmd, int argc, char **argv, struct opts *o)
{
    enum { O_STATUS = 256, O_PREFIX, O_LIMIT, O_TOKEN, O_ALL, O_ASC, O_JSON, O_PAYLOAD };
    static const struct option lo[] = {
        {"status", required_argument, NULL, O_STATUS},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"limit", required_argument, NULL, O_LIMIT},
        {"token", required_argument, NULL, O_TOKEN},
        {"all", no_argument, NULL, O_ALL},
        {"asc", no_argument, NULL, O_ASC},
        {"json", no_argument, NULL, O_JSON},
        {"payload", no_argument, NULL, O_PAYLOAD},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c;
    cli_opts_begin();
    while ((c = cli_next_opt(&o->flags, argc, argv, "h", lo)) != -1) {
        switch (c) {
        case O_STATUS:
            o->status = optarg;
            break;
        case O_PREFIX:
            o->prefix = optarg;
            break;
        case O_TOKEN:
            o->token = optarg;
            break;
        case O_LIMIT: {
            char *end;
            o->limit = strtol(optarg, &end, 10);
            if (*end || end == optarg || o->limit < 1 || o->limit > 100)
                return cli_usage_error(cmd, "--limit must be 1..100");
            break;
        }
        case O_ALL:
            o->all = true;
            break;
        case O_ASC:
            o->asc = true;
            break;
        case O_JSON:
            o->json = true;
            break;
        case O_PAYLOAD:
            o->payload = true;
            break;
        case 'h':
            fputs(task_usage, stdout);
            return 1;
        default:
            return cli_usage_error(cmd, "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    return 0;
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

static void print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s)
        printf("%s\n", s);
    free(s);
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && s[0] ? s : "-";
}

static void fmt_time(const json_t *o, const char *k, char *out, size_t len)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        snprintf(out, len, "-");
        return;
    }
    clock_format_iso8601((int64_t)json_integer_value(v), out, len);
}

static void fmt_ms(const json_t *o, const char *k, char *out, size_t len)
{
    int64_t ms = (int64_t)json_integer_value(json_object_get(o, k));
    if (ms < 10000)
        snprintf(out, len, "%" PRId64 " ms", ms);
    else
        snprintf(out, len, "%.1f s", (double)ms / 1000.0);
}

/* The error message shortened for a table cell. */
static void fmt_short(const char *s, char *out, size_t len)
{
    size_t n = strlen(s);
    if (n < len) {
        snprintf(out, len, "%s", s);
        return;
    }
    snprintf(out, len, "%.*s...", (int)(len - 4), s);
}

static int add_rows(struct cli_table *t, const json_t *tasks)
{
    size_t i;
    json_t *x;
    json_array_foreach(tasks, i, x)
    {
        char started[32], dur[32], retried[16], err[64];
        fmt_time(x, "startedTime", started, sizeof(started));
        fmt_ms(x, "durationMs", dur, sizeof(dur));
        snprintf(retried, sizeof(retried), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(x, "alreadyRetriedTimes")));
        fmt_short(str(x, "taskErrorMessage"), err, sizeof(err));
        if (cli_table_row(t, str(x, "taskId"), str(x, "status"), started, dur, retried,
                          str(x, "instanceId"), str(x, "destinationStatus"), err, NULL) < 0)
            return -1;
    }
    return 0;
}

static int task_list(int argc, char **argv)
{
    struct opts o = {.limit = 20};
    int prc = parse("task list", argc, argv, &o);
    if (prc)
        return prc > 0 ? CLI_EXIT_OK : prc;
    if (optind + 1 != argc)
        return cli_usage_error("task list", "expected one FUNCTION");
    char efn[512], q[1024];
    if (cli_escape(argv[optind], efn, sizeof(efn)) < 0)
        return cli_usage_error("task list", "function name too long");
    struct cli_client *c = NULL;
    if (connect_client(&o.flags, &c) < 0)
        return CLI_EXIT_USAGE;
    char token[512] = "";
    if (o.token)
        snprintf(token, sizeof(token), "%s", o.token);
    json_t *all = json_array();
    char next[512] = "";
    int rc = CLI_EXIT_OK;
    for (;;) {
        char es[64] = "", ep[400] = "", et[1600] = "";
        if ((o.status && cli_escape(o.status, es, sizeof(es)) < 0) ||
            (o.prefix && cli_escape(o.prefix, ep, sizeof(ep)) < 0) ||
            cli_escape(token, et, sizeof(et)) < 0) {
            rc = cli_usage_error("task list", "an argument is too long");
            break;
        }
        snprintf(q, sizeof(q),
                 FC "/functions/%s/async-tasks?limit=%ld&sortOrderByTime=%s%s%s%s%s%s%s%s", efn,
                 o.limit, o.asc ? "asc" : "desc", o.status ? "&status=" : "", es,
                 o.prefix ? "&prefix=" : "", ep, token[0] ? "&nextToken=" : "", et,
                 o.payload ? "&includePayload=true" : "");
        struct frost_err err = {0};
        int status;
        json_t *ans = NULL;
        if (cli_request(c, "GET", q, NULL, &status, &ans, &err) < 0) {
            cli_print_error(&err);
            rc = CLI_EXIT_API;
            break;
        }
        json_array_extend(all, json_object_get(ans, "tasks"));
        const char *nt = json_string_value(json_object_get(ans, "nextToken"));
        snprintf(next, sizeof(next), "%s", nt ? nt : "");
        json_decref(ans);
        if (!o.all || !next[0])
            break;
        snprintf(token, sizeof(token), "%s", next);
    }
    cli_client_free(c);
    if (rc != CLI_EXIT_OK) {
        json_decref(all);
        return rc;
    }
    if (o.json) {
        json_t *out = json_pack("{s:O}", "tasks", all);
        if (out && next[0] && !o.all)
            json_object_set_new(out, "nextToken", json_string(next));
        print_json(out);
        json_decref(out);
        json_decref(all);
        return CLI_EXIT_OK;
    }
    if (json_array_size(all) == 0) {
        printf("no tasks\n");
        json_decref(all);
        return CLI_EXIT_OK;
    }
    struct cli_table *t = cli_table_new();
    if (!t ||
        cli_table_row(t, "TASK", "STATUS", "STARTED", "RUN TIME", "RETRIED", "INSTANCE",
                      "DESTINATION", "ERROR", NULL) < 0 ||
        add_rows(t, all) < 0) {
        cli_table_free(t);
        json_decref(all);
        fprintf(stderr, "frost: out of memory\n");
        return CLI_EXIT_API;
    }
    json_decref(all);
    cli_table_print(t, stdout);
    if (next[0] && !o.all)
        printf("more: frost task list %s --token '%s'%s\n", argv[optind], next,
               o.limit != 20 ? " (with the same --limit)" : "");
    return CLI_EXIT_OK;
}

/* GET or PUT .../async-tasks/ID[/stop]. */
static int one_task(const char *cmd, int argc, char **argv, bool stop)
{
    struct opts o = {0};
    int prc = parse(cmd, argc, argv, &o);
    if (prc)
        return prc > 0 ? CLI_EXIT_OK : prc;
    if (optind + 2 != argc)
        return cli_usage_error(cmd, "expected FUNCTION and TASK_ID");
    char efn[512], eid[512], path[1200];
    if (cli_escape(argv[optind], efn, sizeof(efn)) < 0 ||
        cli_escape(argv[optind + 1], eid, sizeof(eid)) < 0)
        return cli_usage_error(cmd, "name too long");
    snprintf(path, sizeof(path), FC "/functions/%s/async-tasks/%s%s", efn, eid,
             stop ? "/stop" : "");
    struct cli_client *c = NULL;
    if (connect_client(&o.flags, &c) < 0)
        return CLI_EXIT_USAGE;
    struct frost_err err = {0};
    int status;
    json_t *t = NULL;
    int rc = cli_request(c, stop ? "PUT" : "GET", path, NULL, &status, &t, &err);
    cli_client_free(c);
    if (rc < 0) {
        cli_print_error(&err);
        return CLI_EXIT_API;
    }
    if (o.json) {
        print_json(t);
        json_decref(t);
        return CLI_EXIT_OK;
    }
    if (stop) {
        printf("task %s: %s\n", argv[optind + 1], str(t, "status"));
        json_decref(t);
        return CLI_EXIT_OK;
    }
    char started[32], ended[32], dur[32];
    fmt_time(t, "startedTime", started, sizeof(started));
    fmt_time(t, "endTime", ended, sizeof(ended));
    fmt_ms(t, "durationMs", dur, sizeof(dur));
    printf("task:         %s\n", str(t, "taskId"));
    printf("function:     %s\n", argv[optind]);
    printf("status:       %s\n", str(t, "status"));
    printf("request:      %s\n", str(t, "requestId"));
    printf("started:      %s\n", started);
    printf("ended:        %s\n", ended);
    printf("run time:     %s\n", dur);
    printf("retried:      %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(t, "alreadyRetriedTimes")));
    printf("instance:     %s\n", str(t, "instanceId"));
    printf("destination:  %s\n", str(t, "destinationStatus"));
    if (json_object_get(t, "returnStatusCode"))
        printf("answer:       HTTP %" JSON_INTEGER_FORMAT "%s\n",
               json_integer_value(json_object_get(t, "returnStatusCode")),
               json_is_true(json_object_get(t, "returnPayloadTruncated")) ? " (truncated)" : "");
    if (strcmp(str(t, "taskErrorMessage"), "-") != 0)
        printf("error:        %s\n", str(t, "taskErrorMessage"));
    struct cli_table *tb = cli_table_new();
    int trc = tb ? cli_table_row(tb, "  #", "TIME", "STATUS", "DETAIL", NULL) : -1;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(t, "events"), i, e)
    {
        char id[16], ts[32];
        snprintf(id, sizeof(id), "  %" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(e, "eventId")));
        fmt_time(e, "timestamp", ts, sizeof(ts));
        if (trc == 0)
            trc = cli_table_row(tb, id, ts, str(e, "status"), str(e, "eventDetail"), NULL);
    }
    json_decref(t);
    if (trc < 0) {
        cli_table_free(tb);
        return CLI_EXIT_API;
    }
    printf("events:\n");
    cli_table_print(tb, stdout);
    return CLI_EXIT_OK;
}

static int task_stats(int argc, char **argv)
{
    struct opts o = {0};
    int prc = parse("task stats", argc, argv, &o);
    if (prc)
        return prc > 0 ? CLI_EXIT_OK : prc;
    if (optind + 1 != argc)
        return cli_usage_error("task stats", "expected one FUNCTION");
    char efn[512], path[700];
    if (cli_escape(argv[optind], efn, sizeof(efn)) < 0)
        return cli_usage_error("task stats", "function name too long");
    snprintf(path, sizeof(path), FC "/functions/%s/async-task-stats", efn);
    struct cli_client *c = NULL;
    if (connect_client(&o.flags, &c) < 0)
        return CLI_EXIT_USAGE;
    struct frost_err err = {0};
    int status;
    json_t *s = NULL;
    int rc = cli_request(c, "GET", path, NULL, &status, &s, &err);
    cli_client_free(c);
    if (rc < 0) {
        cli_print_error(&err);
        return CLI_EXIT_API;
    }
    if (o.json) {
        print_json(s);
        json_decref(s);
        return CLI_EXIT_OK;
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(s, "counts"), k, v)
        printf("%-10s %" JSON_INTEGER_FORMAT "\n", k, json_integer_value(v));
    printf("oldest enqueued: %" JSON_INTEGER_FORMAT " ms\n",
           json_integer_value(json_object_get(s, "oldestEnqueuedAgeMs")));
    json_decref(s);
    return CLI_EXIT_OK;
}

int cli_task(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(task_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "list") == 0)
        return task_list(argc - 1, argv + 1);
    if (strcmp(argv[1], "get") == 0)
        return one_task("task get", argc - 1, argv + 1, false);
    if (strcmp(argv[1], "stop") == 0)
        return one_task("task stop", argc - 1, argv + 1, true);
    if (strcmp(argv[1], "stats") == 0)
        return task_stats(argc - 1, argv + 1);
    return cli_usage_error("task", "unknown subcommand \"%s\"", argv[1]);
}
