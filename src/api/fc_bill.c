/* GET /2023-03-30/bills: usage and cost per function and kind, beside the
 * cost of dedicated cards (a Frost extension; docs/billing.md). */
#include <stdio.h>
#include <string.h>

#include "api/fc_internal.h"
#include "base/clock.h"
#include "meter/meter.h"

#define TIME_HELP                                                                                  \
    "use RFC 3339 (2024-07-01T16:00:00Z), a date (2024-07-01), epoch milliseconds, now, "          \
    "today, yesterday or -DURATION (-2h, -7d)"

static int time_param(struct http_request *req, const char *name, int64_t now, bool *given,
                      int64_t *out)
{
    char v[64];
    if (fc_query_text(req, name, v, sizeof(v)) < 0)
        return -1;
    *given = v[0] != 0;
    if (*given && meter_parse_time(v, now, out) < 0) {
        http_respond_error(req, 400, "InvalidArgument", "%s: \"%s\" is not a time; " TIME_HELP,
                           name, v);
        return -1;
    }
    return 0;
}

static void get_bills(struct api_fc *a, struct http_request *req)
{
    struct meter_query q = {0};
    char by[16];
    struct frost_err err = {0};
    if (fc_query_text(req, "functionName", q.function, sizeof(q.function)) < 0 ||
        fc_query_text(req, "by", by, sizeof(by)) < 0)
        return;
    if (q.function[0] && spec_function_name_check(q.function, &err) < 0) {
        fc_error(req, &err);
        return;
    }
    if (meter_by_parse(by, &q.by) < 0) {
        http_respond_error(req, 400, "InvalidArgument", "by: \"%s\" is not hour or day", by);
        return;
    }
    int64_t now = clock_wall_ms();
    bool has_since, has_until;
    if (time_param(req, "since", now, &has_since, &q.since_ms) < 0 ||
        time_param(req, "until", now, &has_until, &q.until_ms) < 0)
        return;
    if (!has_until)
        q.until_ms = now;
    if (!has_since) /* the UTC day until falls in */
        q.since_ms =
            q.until_ms > 0 ? (q.until_ms - 1) / (int64_t)METER_DAY_MS * (int64_t)METER_DAY_MS : 0;
    if (q.since_ms >= q.until_ms) {
        char s[32], u[32];
        clock_format_iso8601(q.since_ms, s, sizeof(s));
        clock_format_iso8601(q.until_ms, u, sizeof(u));
        http_respond_error(req, 400, "InvalidArgument", "since (%s) must be before until (%s)", s,
                           u);
        return;
    }
    json_t *bill = NULL;
    if (meter_bill_json(a->meter, &q, &bill, &err) < 0) {
        fc_error(req, &err);
        return;
    }
    json_object_set_new(bill, "requestId", json_string(http_req_id(req)));
    fc_json(req, 200, bill);
}

const struct fc_route_def fc_bill_routes[] = {
    {"GET", "/bills", get_bills, 0},
    {NULL, NULL, NULL, 0},
};
