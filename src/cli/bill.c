/* `frost bill`: what functions cost, beside dedicated cards (GET /bills). */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "meter/ledger.h"

#define FC "/2023-03-30"

extern char **environ;

static const char bill_usage[] =
    "Usage: frost bill [FUNCTION] [--since T] [--until T] [--by hour|day] [--json|--csv]\n"
    "\n"
    "Usage and cost per function and kind (on-demand, provisioned, provisioned-idle),\n"
    "beside the cost of dedicated GPU cards sized to the peak number of cards in use,\n"
    "with the saving in %. Prices come from the server's prices.* and dedicated.*\n"
    "settings (docs/billing.md).\n"
    "\n"
    "  --since T     start (default: the start of the UTC day of --until)\n"
    "  --until T     end (default: now)\n"
    "                T: 2024-07-01T16:00:00Z, 2024-07-01T16:00:00+08:00, 2024-07-01 (UTC),\n"
    "                epoch milliseconds, now, today, yesterday, or -90m, -2h, -7d (ago)\n"
    "  --by P        one row per hour or day (UTC) instead of one for the whole range\n"
    "  --json        the API's answer: items, functions, periods and total rows\n"
    "  --csv         every row as CSV (column scope: item, function, period, total)\n"
    "\n" CLI_CLIENT_USAGE;

static double num(const json_t *row, const char *k)
{
    return json_number_value(json_object_get(row, k));
}

static const char *str(const json_t *row, const char *k)
{
    const char *s = json_string_value(json_object_get(row, k));
    return s ? s : "";
}

static void fmt_secs(double s, char *out, size_t len)
{
    if (s < 60)
        snprintf(out, len, "%.1fs", s);
    else if (s < 3600)
        snprintf(out, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(out, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* Money: cents from 1 up; below that up to nine decimals (per-second
 * prices are tiny), no trailing zeros beyond two. */
static void fmt_money(double v, char *out, size_t len)
{
    snprintf(out, len, v >= 1 ? "%.2f" : "%.9f", v);
    char *dot = strchr(out, '.');
    if (!dot)
        return;
    char *end = out + strlen(out);
    while (end > dot + 3 && end[-1] == '0')
        *--end = 0;
}

/* One line; label replaces the function and kind (sum rows), period_label
 * the period. */
static int table_row(struct cli_table *t, const json_t *r, bool by, const char *label,
                     const char *period_label)
{
    char calls[24], act[24], idle[24], frozen[24], cost[40], cards[24], ded[40], saving[24];
    snprintf(calls, sizeof(calls), "%.0f", num(r, "invocations"));
    fmt_secs(num(r, "activeSeconds"), act, sizeof(act));
    fmt_secs(num(r, "idleSeconds"), idle, sizeof(idle));
    fmt_secs(num(r, "frozenSeconds"), frozen, sizeof(frozen));
    fmt_money(num(r, "cost"), cost, sizeof(cost));
    snprintf(cards, sizeof(cards), "%.0f", num(r, "peakCards"));
    double d = num(r, "dedicatedCost");
    if (d > 0)
        fmt_money(d, ded, sizeof(ded));
    else
        snprintf(ded, sizeof(ded), "-");
    const json_t *sp = json_object_get(r, "savingPercent");
    if (json_is_number(sp))
        snprintf(saving, sizeof(saving), "%.1f%%", json_number_value(sp));
    else
        snprintf(saving, sizeof(saving), "-");
    const char *gpu = str(r, "gpuType");
    char period[32] = "";
    snprintf(period, sizeof(period), "%.16s", period_label ? period_label : str(r, "periodStart"));
    const char *fn = label ? label : str(r, "functionName");
    const char *kind = label ? "" : str(r, "kind");
    if (by)
        return cli_table_row(t, period, fn, kind, gpu[0] ? gpu : "-", calls, act, idle, frozen,
                             cost, cards, ded, saving, NULL);
    return cli_table_row(t, fn, kind, gpu[0] ? gpu : "-", calls, act, idle, frozen, cost, cards,
                         ded, saving, NULL);
}

static int print_table(const json_t *bill, bool by)
{
    printf("Bill from %s to %s, in %s\n", str(bill, "since"), str(bill, "until"),
           str(bill, "currency"));
    const json_t *items = json_object_get(bill, "items");
    if (json_array_size(items) == 0) {
        printf("no usage in this range\n");
        return CLI_EXIT_OK;
    }
    struct cli_table *t = cli_table_new();
    int rc =
        !t   ? -1
        : by ? cli_table_row(t, "PERIOD (UTC)", "FUNCTION", "KIND", "GPU", "CALLS", "ACTIVE",
                             "IDLE", "FROZEN", "COST", "PEAK CARDS", "DEDICATED", "SAVING", NULL)
             : cli_table_row(t, "FUNCTION", "KIND", "GPU", "CALLS", "ACTIVE", "IDLE", "FROZEN",
                             "COST", "PEAK CARDS", "DEDICATED", "SAVING", NULL);
    size_t i;
    json_t *r;
    json_array_foreach(items, i, r)
    {
        if (rc == 0)
            rc = table_row(t, r, by, NULL, NULL);
    }
    if (by) {
        json_array_foreach(json_object_get(bill, "periods"), i, r)
        {
            if (rc == 0)
                rc = table_row(t, r, by, "(all)", NULL);
        }
    }
    if (rc == 0)
        rc = by ? table_row(t, json_object_get(bill, "total"), by, "", "TOTAL")
                : table_row(t, json_object_get(bill, "total"), by, "TOTAL", NULL);
    if (rc < 0) {
        cli_table_free(t);
        fprintf(stderr, "frost: out of memory\n");
        return CLI_EXIT_API;
    }
    cli_table_print(t, stdout);
    return CLI_EXIT_OK;
}

static void csv_cell(const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strpbrk(s, ",\"\n")) {
            putchar('"');
            for (; *s; s++) {
                if (*s == '"')
                    putchar('"');
                putchar(*s);
            }
            putchar('"');
        } else {
            fputs(s, stdout);
        }
    } else if (json_is_integer(v)) {
        printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        printf("%.15g", json_real_value(v));
    }
}

static void csv_rows(const json_t *rows, const json_t *header)
{
    size_t i, k;
    json_t *r, *key;
    json_array_foreach(rows, i, r)
    {
        json_array_foreach(header, k, key)
        {
            if (k)
                putchar(',');
            csv_cell(json_object_get(r, json_string_value(key)));
        }
        putchar('\n');
    }
}

static int print_csv(const json_t *bill)
{
    const json_t *total = json_object_get(bill, "total");
    json_t *header = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)total, k, v)
    {
        json_array_append_new(header, json_string(k));
    }
    size_t i;
    json_t *h;
    json_array_foreach(header, i, h)
    {
        printf("%s%s", i ? "," : "", json_string_value(h));
    }
    putchar('\n');
    static const char *const sections[] = {"items", "functions", "periods"};
    for (size_t s = 0; s < ARRAY_LEN(sections); s++)
        csv_rows(json_object_get(bill, sections[s]), header);
    json_t *one = json_pack("[O]", total);
    csv_rows(one, header);
    json_decref(one);
    json_decref(header);
    return CLI_EXIT_OK;
}

static int add_param(struct buf *q, bool *first, const char *name, const char *value)
{
    char esc[512];
    if (!value || !*value)
        return 0;
    if (cli_escape(value, esc, sizeof(esc)) < 0)
        return -1;
    int rc = buf_printf(q, "%s%s=%s", *first ? "?" : "&", name, esc);
    *first = false;
    return rc;
}

int cli_bill(int argc, char **argv)
{
    enum { O_SINCE = 256, O_UNTIL, O_BY, O_JSON, O_CSV };
    static const struct option opts[] = {
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"by", required_argument, NULL, O_BY},
        {"json", no_argument, NULL, O_JSON},
        {"csv", no_argument, NULL, O_CSV},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli_flags flags = {0};
    const char *since = NULL, *until = NULL, *by = NULL;
    bool json = false, csv = false;
    int o;
    cli_opts_begin();
    while ((o = cli_next_opt(&flags, argc, argv, "h", opts)) != -1) {
        switch (o) {
        case O_SINCE:
            since = optarg;
            break;
        case O_UNTIL:
            until = optarg;
            break;
        case O_BY:
            by = optarg;
            break;
        case O_JSON:
            json = true;
            break;
        case O_CSV:
            csv = true;
            break;
        case 'h':
            fputs(bill_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("bill", "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind + 1 < argc)
        return cli_usage_error("bill", "expected at most one FUNCTION");
    const char *fn = optind < argc ? argv[optind] : NULL;
    if (json && csv)
        return cli_usage_error("bill", "--json and --csv exclude each other");
    enum meter_by b;
    if (by && (meter_by_parse(by, &b) < 0 || !*by))
        return cli_usage_error("bill", "--by %s: expected hour or day", by);
    int64_t t, now = clock_wall_ms();
    if (since && meter_parse_time(since, now, &t) < 0)
        return cli_usage_error("bill", "--since %s is not a time", since);
    if (until && meter_parse_time(until, now, &t) < 0)
        return cli_usage_error("bill", "--until %s is not a time", until);

    struct buf path = BUF_INIT(4096);
    bool first = true;
    if (buf_append_str(&path, FC "/bills") < 0 ||
        add_param(&path, &first, "functionName", fn) < 0 ||
        add_param(&path, &first, "since", since) < 0 ||
        add_param(&path, &first, "until", until) < 0 || add_param(&path, &first, "by", by) < 0) {
        buf_free(&path);
        return cli_usage_error("bill", "arguments too long");
    }
    struct cli_client *c = NULL;
    struct frost_err err = {0};
    if (cli_client_new(&flags, environ, &c, &err) < 0) {
        buf_free(&path);
        cli_print_error(&err);
        return CLI_EXIT_USAGE;
    }
    int status;
    json_t *bill = NULL;
    int rc = cli_request(c, "GET", path.data, NULL, &status, &bill, &err);
    cli_client_free(c);
    buf_free(&path);
    if (rc < 0) {
        cli_print_error(&err);
        return CLI_EXIT_API;
    }
    json_object_del(bill, "requestId");
    if (json) {
        char *s = json_dumps(bill, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        json_decref(bill);
        if (!s)
            return CLI_EXIT_API;
        printf("%s\n", s);
        free(s);
        return CLI_EXIT_OK;
    }
    rc = csv ? print_csv(bill) : print_table(bill, by != NULL);
    json_decref(bill);
    return rc;
}
