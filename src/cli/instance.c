/* `frost instance list` and `frost logs`: what runs, and what it printed. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "cli/client.h"

#define FC "/2023-03-30"

extern char **environ;

static const char instance_usage[] =
    "Usage: frost instance list FUNCTION [--json]\n"
    "\n"
    "Lists the instances of a function: id, kind, state, frozen, pid, port, cold start.\n"
    "\n" CLI_CLIENT_USAGE;

static const char logs_usage[] =
    "Usage: frost logs FUNCTION [--instance ID] [--tail N] [-f]\n"
    "\n"
    "Prints what the function's instances wrote to stdout and stderr.\n"
    "  --instance ID   only this instance (also one that has stopped)\n"
    "  --tail N        the last N lines of each instance (default 100)\n"
    "  -f, --follow    keep printing new lines until interrupted\n"
    "\n" CLI_CLIENT_USAGE;

static int connect_client(const struct cli_flags *f, struct cli_client **c)
{
    struct frost_err err = {0};
    if (cli_client_new(f, environ, c, &err) < 0) {
        cli_print_error(&err);
        return -1;
    }
    return 0;
}

static int instances_of(struct cli_client *c, const char *fn, json_t **out)
{
    char esc[512], path[700];
    if (cli_escape(fn, esc, sizeof(esc)) < 0)
        return -1;
    snprintf(path, sizeof(path), FC "/functions/%s/instances", esc);
    struct frost_err err = {0};
    int status;
    json_t *ans = NULL;
    if (cli_request(c, "GET", path, NULL, &status, &ans, &err) < 0) {
        cli_print_error(&err);
        return -1;
    }
    json_t *arr = json_incref(json_object_get(ans, "instances"));
    json_decref(ans);
    *out = arr ? arr : json_array();
    return 0;
}

static int instance_list(int argc, char **argv)
{
    enum { O_JSON = 256 };
    static const struct option opts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli_flags flags = {0};
    bool json = false;
    int o;
    cli_opts_begin();
    while ((o = cli_next_opt(&flags, argc, argv, "h", opts)) != -1) {
        if (o == O_JSON) {
            json = true;
        } else if (o == 'h') {
            fputs(instance_usage, stdout);
            return CLI_EXIT_OK;
        } else {
            return cli_usage_error("instance list", "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("instance list", "expected one FUNCTION");
    struct cli_client *c = NULL;
    if (connect_client(&flags, &c) < 0)
        return CLI_EXIT_USAGE;
    json_t *arr = NULL;
    int rc = instances_of(c, argv[optind], &arr);
    cli_client_free(c);
    if (rc < 0)
        return CLI_EXIT_API;
    if (json) {
        char *s = json_dumps(arr, JSON_INDENT(2));
        json_decref(arr);
        if (!s)
            return CLI_EXIT_API;
        printf("%s\n", s);
        free(s);
        return CLI_EXIT_OK;
    }
    if (json_array_size(arr) == 0) {
        printf("no instances\n");
        json_decref(arr);
        return CLI_EXIT_OK;
    }
    struct cli_table *t = cli_table_new();
    int trc = t ? cli_table_row(t, "INSTANCE", "KIND", "STATE", "FOR", "FROZEN", "PID", "PORT",
                                "COLD START", "ERROR", NULL)
                : -1;
    size_t i;
    json_t *in;
    json_array_foreach(arr, i, in)
    {
        if (trc < 0)
            break;
        char pid[24], port[24], cold[32];
        snprintf(pid, sizeof(pid), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(in, "pid")));
        snprintf(port, sizeof(port), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(in, "port")));
        json_t *cs = json_object_get(in, "coldStartMs");
        if (cs)
            snprintf(cold, sizeof(cold), "%" JSON_INTEGER_FORMAT " ms", json_integer_value(cs));
        else
            snprintf(cold, sizeof(cold), "-");
        const char *id = json_string_value(json_object_get(in, "instanceId"));
        const char *kind = json_string_value(json_object_get(in, "kind"));
        const char *state = json_string_value(json_object_get(in, "state"));
        const char *error = json_string_value(json_object_get(in, "error"));
        /* How long it has been in its state, from its own clock reading. */
        char dur[32] = "-";
        json_t *since = json_object_get(in, "phaseSinceMs");
        if (json_is_integer(since)) {
            int64_t ms = clock_wall_ms() - (int64_t)json_integer_value(since);
            if (ms < 0)
                ms = 0;
            if (ms < 10000)
                snprintf(dur, sizeof(dur), "%lld ms", (long long)ms);
            else if (ms < 600000)
                snprintf(dur, sizeof(dur), "%lld s", (long long)(ms / 1000));
            else
                snprintf(dur, sizeof(dur), "%lld min", (long long)(ms / 60000));
        }
        trc = cli_table_row(t, id ? id : "?", kind ? kind : "-", state ? state : "-", dur,
                            json_is_true(json_object_get(in, "frozen")) ? "yes" : "no", pid, port,
                            cold, error ? error : "", NULL);
    }
    json_decref(arr);
    if (trc < 0) {
        cli_table_free(t);
        fprintf(stderr, "frost: out of memory\n");
        return CLI_EXIT_API;
    }
    cli_table_print(t, stdout);
    return CLI_EXIT_OK;
}

int cli_instance(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(instance_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "list") == 0)
        return instance_list(argc - 1, argv + 1);
    return cli_usage_error("instance", "unknown subcommand \"%s\"", argv[1]);
}

/* ---- logs */

struct stream {
    char id[128];
    struct buf seen; /* the last answer, to print only what is new when following */
};

/* Prints the part of cur that follows what prev already showed: the longest
 * end of prev that cur starts with is skipped. */
static void print_new(const struct buf *prev, const struct buf *cur, const char *prefix)
{
    size_t skip = 0;
    size_t max = prev->len < cur->len ? prev->len : cur->len;
    for (size_t k = max; k > 0; k--) {
        if (memcmp(prev->data + prev->len - k, cur->data, k) == 0) {
            skip = k;
            break;
        }
    }
    const char *p = cur->data + skip, *end = cur->data + cur->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (prefix)
            printf("%s ", prefix);
        fwrite(p, 1, n, stdout);
        if (!nl)
            putchar('\n');
        p += n;
    }
    fflush(stdout);
}

static int fetch(struct cli_client *c, const char *fn, const char *id, long tail, struct buf *out)
{
    char efn[512], eid[300], path[1024];
    if (cli_escape(fn, efn, sizeof(efn)) < 0 || cli_escape(id, eid, sizeof(eid)) < 0)
        return -1;
    snprintf(path, sizeof(path), FC "/functions/%s/instances/%s/logs?tail=%ld", efn, eid, tail);
    struct frost_err err = {0};
    int status;
    if (cli_request_raw(c, "GET", path, NULL, &status, out, &err) < 0) {
        cli_print_error(&err);
        return -1;
    }
    return 0;
}

int cli_logs(int argc, char **argv)
{
    enum { O_INSTANCE = 256, O_TAIL };
    static const struct option opts[] = {
        {"instance", required_argument, NULL, O_INSTANCE},
        {"tail", required_argument, NULL, O_TAIL},
        {"follow", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli_flags flags = {0};
    const char *only = NULL;
    long tail = 100;
    bool follow = false;
    int o;
    cli_opts_begin();
    while ((o = cli_next_opt(&flags, argc, argv, "hf", opts)) != -1) {
        switch (o) {
        case O_INSTANCE:
            only = optarg;
            break;
        case O_TAIL: {
            char *end;
            tail = strtol(optarg, &end, 10);
            if (*end || end == optarg || tail < 0 || tail > 100000)
                return cli_usage_error("logs", "--tail must be 0..100000");
            break;
        }
        case 'f':
            follow = true;
            break;
        case 'h':
            fputs(logs_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("logs", "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("logs", "expected one FUNCTION");
    const char *fn = argv[optind];
    struct cli_client *c = NULL;
    if (connect_client(&flags, &c) < 0)
        return CLI_EXIT_USAGE;
    int rc = CLI_EXIT_OK;
    struct stream streams[64];
    size_t n = 0;
    if (only) {
        snprintf(streams[0].id, sizeof(streams[0].id), "%s", only);
        n = 1;
    } else {
        json_t *arr = NULL;
        if (instances_of(c, fn, &arr) < 0) {
            cli_client_free(c);
            return CLI_EXIT_API;
        }
        size_t i;
        json_t *in;
        json_array_foreach(arr, i, in)
        {
            const char *id = json_string_value(json_object_get(in, "instanceId"));
            if (id && n < ARRAY_LEN(streams))
                snprintf(streams[n++].id, sizeof(streams[0].id), "%s", id);
        }
        json_decref(arr);
        if (n == 0 && !follow)
            fprintf(stderr,
                    "frost: %s has no running instances; name a stopped one with "
                    "--instance ID\n",
                    fn);
    }
    for (size_t i = 0; i < n; i++)
        buf_init(&streams[i].seen, 16u << 20);
    for (bool first = true;; first = false) {
        for (size_t i = 0; i < n; i++) {
            struct buf cur = BUF_INIT(16u << 20);
            if (fetch(c, fn, streams[i].id, first ? tail : 1000, &cur) < 0) {
                buf_free(&cur);
                rc = CLI_EXIT_API;
                follow = false;
                break;
            }
            print_new(&streams[i].seen, &cur, n > 1 ? streams[i].id : NULL);
            buf_free(&streams[i].seen);
            streams[i].seen = cur;
        }
        if (!follow)
            break;
        sleep(1); /* a CLI polling its server; the server itself never waits */
    }
    for (size_t i = 0; i < n; i++)
        buf_free(&streams[i].seen);
    cli_client_free(c);
    return rc;
}
