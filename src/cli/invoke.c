/* `frost invoke`: call a function and print what it answered. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/codec.h"
#include "cli/cli.h"
#include "cli/client.h"

extern char **environ;

#define EVENT_MAX (32u * 1024 * 1024) /* FC's synchronous payload limit */

static const char invoke_usage[] =
    "Usage: frost invoke FUNCTION [-e EVENT | -f FILE] [--qualifier Q] [--tail-log]\n"
    "       frost invoke FUNCTION --async [--task-id ID] [-e EVENT | -f FILE]\n"
    "\n"
    "Invokes a function (InvokeFunction) and prints its answer on stdout; the status,\n"
    "request id and instance id go to stderr. With --async the call returns once the\n"
    "task is stored (202) and stdout gets the task id: follow it with `frost task get`.\n"
    "  -e, --event TEXT   the event (request body)\n"
    "  -f, --event-file F read the event from a file (- = stdin)\n"
    "  --qualifier Q      only LATEST for now\n"
    "  --tail-log         also print the last 4 KB of the instance's log\n"
    "  --async            submit an async task (x-fc-invocation-type: Async; the event\n"
    "                     is limited to 128 KiB)\n"
    "  --task-id ID       with --async: the task's id, also its idempotency key (a second\n"
    "                     submit with the same id answers the existing task)\n"
    "  --invocation-type Sync|Async   the header itself\n"
    "\n"
    "Exit status: 0 when the function answered 2xx, 1 otherwise.\n"
    "\n" CLI_CLIENT_USAGE;

static int read_event(const char *path, struct buf *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "frost invoke: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(out, chunk, n) < 0) {
            fprintf(stderr, "frost invoke: %s is larger than the 32 MiB payload limit\n", path);
            rc = -1;
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    return rc;
}

/* The value of header `name` in raw header lines, into out. */
static bool header_value(const struct buf *h, const char *name, char *out, size_t len)
{
    size_t nl = strlen(name);
    const char *p = h->data, *end = h->data ? h->data + h->len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t ll = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t vl = ll - nl - 1;
            while (vl && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
            }
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            snprintf(out, len, "%.*s", (int)vl, v);
            return true;
        }
        p = eol ? eol + 1 : end;
    }
    return false;
}

int cli_invoke(int argc, char **argv)
{
    enum { O_QUAL = 256, O_TAIL, O_TYPE, O_ASYNC, O_TASK_ID };
    static const struct option opts[] = {
        {"event", required_argument, NULL, 'e'},
        {"event-file", required_argument, NULL, 'f'},
        {"qualifier", required_argument, NULL, O_QUAL},
        {"tail-log", no_argument, NULL, O_TAIL},
        {"invocation-type", required_argument, NULL, O_TYPE},
        {"async", no_argument, NULL, O_ASYNC},
        {"task-id", required_argument, NULL, O_TASK_ID},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli_flags flags = {0};
    const char *event = NULL, *file = NULL, *qualifier = NULL, *type = NULL, *task_id = NULL;
    bool tail = false;
    int o;
    cli_opts_begin();
    while ((o = cli_next_opt(&flags, argc, argv, "he:f:", opts)) != -1) {
        switch (o) {
        case 'e':
            event = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case O_QUAL:
            qualifier = optarg;
            break;
        case O_TAIL:
            tail = true;
            break;
        case O_TYPE:
            type = optarg;
            break;
        case O_ASYNC:
            type = "Async";
            break;
        case O_TASK_ID:
            task_id = optarg;
            break;
        case 'h':
            fputs(invoke_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("invoke", "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("invoke", "expected one FUNCTION");
    if (event && file)
        return cli_usage_error("invoke", "give -e or -f, not both");
    bool async = type && strcasecmp(type, "Async") == 0;
    if (task_id && !async)
        return cli_usage_error("invoke", "--task-id needs --async");
    struct buf body = BUF_INIT(EVENT_MAX);
    if (file && read_event(file, &body) < 0) {
        buf_free(&body);
        return CLI_EXIT_USAGE;
    }
    if (event && buf_append(&body, event, strlen(event)) < 0) {
        buf_free(&body);
        return cli_usage_error("invoke", "the event is larger than 32 MiB");
    }
    char esc[512], path[1024];
    if (cli_escape(argv[optind], esc, sizeof(esc)) < 0) {
        buf_free(&body);
        return cli_usage_error("invoke", "function name too long");
    }
    char qesc[256] = "";
    if (qualifier && cli_escape(qualifier, qesc, sizeof(qesc)) < 0) {
        buf_free(&body);
        return cli_usage_error("invoke", "qualifier too long");
    }
    snprintf(path, sizeof(path), "/2023-03-30/functions/%s/invocations%s%s", esc,
             qualifier ? "?qualifier=" : "", qesc);
    struct cli_client *c = NULL;
    struct frost_err err = {0};
    if (cli_client_new(&flags, environ, &c, &err) < 0) {
        cli_print_error(&err);
        buf_free(&body);
        return CLI_EXIT_USAGE;
    }
    struct http_header h[3];
    size_t nh = 0;
    if (tail)
        h[nh++] = (struct http_header){"x-fc-log-type", 13, "Tail", 4};
    if (type)
        h[nh++] = (struct http_header){"x-fc-invocation-type", 20, type, strlen(type)};
    if (task_id)
        h[nh++] = (struct http_header){"x-fc-async-task-id", 18, task_id, strlen(task_id)};
    struct cli_exchange x = {
        .method = "POST",
        .path_and_query = path,
        .body = body.data ? body.data : "",
        .body_len = body.len,
        .headers = h,
        .n_headers = nh,
    };
    struct cli_reply r = {.body = BUF_INIT(64u << 20), .headers = BUF_INIT(1u << 20)};
    int rc = cli_exchange(c, &x, &r, &err);
    cli_client_free(c);
    buf_free(&body);
    if (rc < 0) {
        cli_print_error(&err);
        buf_free(&r.body);
        buf_free(&r.headers);
        return CLI_EXIT_API;
    }
    char tid[256] = "";
    if (async && r.status == 202 &&
        header_value(&r.headers, "x-fc-async-task-id", tid, sizeof(tid))) {
        printf("%s\n", tid);
        fflush(stdout);
        fprintf(stderr, "status 202  request %s  task %s  (frost task get %s %s)\n",
                r.request_id[0] ? r.request_id : "-", tid, argv[optind], tid);
        buf_free(&r.body);
        buf_free(&r.headers);
        return CLI_EXIT_OK;
    }
    if (r.body.len)
        fwrite(r.body.data, 1, r.body.len, stdout);
    if (r.body.len && r.body.data[r.body.len - 1] != '\n')
        putchar('\n');
    fflush(stdout);
    char inst[128] = "-", etype[128] = "";
    header_value(&r.headers, "x-fc-instance-id", inst, sizeof(inst));
    bool fc_error = header_value(&r.headers, "x-fc-error-type", etype, sizeof(etype));
    fprintf(stderr, "status %d  request %s  instance %s%s%s\n", r.status,
            r.request_id[0] ? r.request_id : "-", inst, fc_error ? "  error " : "", etype);
    char b64[8192];
    if (tail && header_value(&r.headers, "x-fc-log-result", b64, sizeof(b64))) {
        char logs[6144];
        size_t n = 0;
        if (codec_base64_decode(b64, strlen(b64), logs, sizeof(logs), &n) == 0) {
            fprintf(stderr, "---- log (last 4 KB) ----\n");
            fwrite(logs, 1, n, stderr);
        }
    }
    rc = r.status >= 200 && r.status < 300 ? CLI_EXIT_OK : CLI_EXIT_API;
    buf_free(&r.body);
    buf_free(&r.headers);
    return rc;
}
