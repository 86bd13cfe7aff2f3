/* Kinds, prices, the cost of a usage, and the time syntax of bills. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meter/ledger.h"

static const char *const kind_names[METER_KIND_COUNT] = {"on-demand", "provisioned",
                                                         "provisioned-idle"};

const char *meter_kind_name(enum meter_kind k)
{
    return (unsigned)k < METER_KIND_COUNT ? kind_names[k] : "on-demand";
}

int meter_kind_parse(const char *s, enum meter_kind *out)
{
    for (int k = 0; k < METER_KIND_COUNT; k++) {
        if (s && strcmp(s, kind_names[k]) == 0) {
            *out = (enum meter_kind)k;
            return 0;
        }
    }
    return -1;
}

/* ---- prices ----------------------------------------------------------------- */

/* The config's decimal syntax: digits, an optional fraction of at most 9
 * digits, nothing else. */
static int parse_decimal(const char *s, size_t len, double *out)
{
    char buf[40];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    size_t i = 0, whole = 0, frac = 0;
    while (isdigit((unsigned char)buf[i])) {
        i++;
        whole++;
    }
    if (buf[i] == '.') {
        i++;
        while (isdigit((unsigned char)buf[i])) {
            i++;
            frac++;
        }
        if (!frac)
            return -1;
    }
    if (!whole || buf[i] || frac > 9 || whole > 9)
        return -1;
    *out = strtod(buf, NULL);
    return 0;
}

static int type_ok(const char *s, size_t len)
{
    if (len == 0 || len > METER_TYPE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* "TYPE=V[/V2],…" with two values when pair is set. */
static int parse_type_list(const char *key, const char *text, bool pair, struct meter_prices *p,
                           struct frost_err *err)
{
    const char *s = text;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len && isspace((unsigned char)*s)) {
            s++;
            len--;
        }
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
        const char *eq = memchr(s, '=', len);
        const char *slash = eq ? memchr(eq, '/', len - (size_t)(eq - s)) : NULL;
        double a = 0, b = 0;
        int ok = eq && type_ok(s, (size_t)(eq - s));
        if (ok && pair)
            ok = slash && parse_decimal(eq + 1, (size_t)(slash - eq - 1), &a) == 0 &&
                 parse_decimal(slash + 1, len - (size_t)(slash + 1 - s), &b) == 0;
        else if (ok)
            ok = !slash && parse_decimal(eq + 1, len - (size_t)(eq + 1 - s), &a) == 0;
        if (!ok)
            return frost_err_set(err, 400, "InvalidConfig",
                                 "%s: entry \"%.*s\" is not %s (letters, digits and _ for TYPE; "
                                 "plain decimals such as 0.00003)",
                                 key, (int)(len > 80 ? 80 : len), s,
                                 pair ? "TYPE=ACTIVE/IDLE" : "TYPE=PRICE");
        size_t *n = pair ? &p->n_gpu : &p->n_cards;
        if (*n == METER_MAX_TYPES)
            return frost_err_set(err, 400, "InvalidConfig", "%s: more than %d entries", key,
                                 METER_MAX_TYPES);
        char type[METER_TYPE_MAX + 1];
        snprintf(type, sizeof(type), "%.*s", (int)(eq - s), s);
        for (size_t i = 0; i < *n; i++) {
            if (strcmp(pair ? p->gpu[i].type : p->cards[i].type, type) == 0)
                return frost_err_set(err, 400, "InvalidConfig", "%s: type %s is listed twice", key,
                                     type);
        }
        if (pair) {
            snprintf(p->gpu[*n].type, sizeof(p->gpu[*n].type), "%s", type);
            p->gpu[*n].active = a;
            p->gpu[*n].idle = b;
        } else {
            snprintf(p->cards[*n].type, sizeof(p->cards[*n].type), "%s", type);
            p->cards[*n].card_hour = a;
        }
        (*n)++;
        if (!end)
            break;
        s = end + 1;
    }
    return 0;
}

int meter_prices_from_config(const struct frost_config *c, struct meter_prices *out,
                             struct frost_err *err)
{
    struct meter_prices p = {0};
    snprintf(p.currency, sizeof(p.currency), "%s", c->prices.currency);
    p.gpu_active = c->prices.gpu_memory_active;
    p.gpu_idle = c->prices.gpu_memory_idle;
    p.vcpu_active = c->prices.vcpu_active;
    p.vcpu_idle = c->prices.vcpu_idle;
    p.memory = c->prices.memory;
    p.invocation = c->prices.invocation;
    p.card_hour = c->dedicated.card_hour;
    if (parse_type_list("prices.gpu_types", c->prices.gpu_types, true, &p, err) < 0 ||
        parse_type_list("dedicated.types", c->dedicated.types, false, &p, err) < 0)
        return -1;
    *out = p;
    return 0;
}

double meter_price_gpu(const struct meter_prices *p, const char *gpu_type, bool active)
{
    for (size_t i = 0; gpu_type && i < p->n_gpu; i++)
        if (strcmp(p->gpu[i].type, gpu_type) == 0)
            return active ? p->gpu[i].active : p->gpu[i].idle;
    return active ? p->gpu_active : p->gpu_idle;
}

double meter_price_card_hour(const struct meter_prices *p, const char *gpu_type)
{
    for (size_t i = 0; gpu_type && i < p->n_cards; i++)
        if (strcmp(p->cards[i].type, gpu_type) == 0)
            return p->cards[i].card_hour;
    return p->card_hour;
}

void meter_cost(const struct meter_prices *p, enum meter_kind kind, const char *gpu_type,
                const struct meter_usage *u, struct meter_cost *out)
{
    /* Which classes go at which price, per kind. */
    bool at_active[METER_CLASS_COUNT] = {true, kind == METER_PROVISIONED,
                                         kind == METER_PROVISIONED};
    bool at_idle[METER_CLASS_COUNT] = {false, kind == METER_PROVISIONED_IDLE,
                                       kind == METER_PROVISIONED_IDLE};
    uint64_t ms_a = 0, ms_i = 0, gpu_a = 0, gpu_i = 0, cpu_a = 0, cpu_i = 0, mem = 0;
    for (int c = 0; c < METER_CLASS_COUNT; c++) {
        if (at_active[c]) {
            ms_a += u->ms[c];
            gpu_a += u->gpu_mb_ms[c];
            cpu_a += u->cpu_mms[c];
            mem += u->mem_mb_ms[c];
        } else if (at_idle[c]) {
            ms_i += u->ms[c];
            gpu_i += u->gpu_mb_ms[c];
            cpu_i += u->cpu_mms[c];
            mem += u->mem_mb_ms[c];
        }
    }
    memset(out, 0, sizeof(*out));
    out->billed_active_ms = ms_a;
    out->billed_idle_ms = ms_i;
    /* MB·ms → GB·s: / 1024 / 1000; milli-vCPU·ms → vCPU·s: / 1e6. */
    out->gpu_gbs_active = (double)gpu_a / 1024000.0;
    out->gpu_gbs_idle = (double)gpu_i / 1024000.0;
    out->vcpu_s_active = (double)cpu_a / 1e6;
    out->vcpu_s_idle = (double)cpu_i / 1e6;
    out->memory_gbs = (double)mem / 1024000.0;
    out->gpu = out->gpu_gbs_active * meter_price_gpu(p, gpu_type, true) +
               out->gpu_gbs_idle * meter_price_gpu(p, gpu_type, false);
    out->vcpu = out->vcpu_s_active * p->vcpu_active + out->vcpu_s_idle * p->vcpu_idle;
    out->memory = out->memory_gbs * p->memory;
    out->invocations = (double)u->invocations * p->invocation;
    out->total = out->gpu + out->vcpu + out->memory + out->invocations;
}

/* ---- times ------------------------------------------------------------------ */

static int digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i]))
            return -1;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

static int64_t days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic
     * Gregorian date, without timegm's dependence on TZ. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

static int parse_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    if (digits(&s, 4, &y) < 0 || *s++ != '-' || digits(&s, 2, &mo) < 0 || *s++ != '-' ||
        digits(&s, 2, &d) < 0)
        return -1;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    int64_t offset_min = 0;
    if (*s) {
        if (*s != 'T' && *s != 't' && *s != ' ')
            return -1;
        s++;
        if (digits(&s, 2, &h) < 0 || *s++ != ':' || digits(&s, 2, &mi) < 0)
            return -1;
        if (*s == ':') {
            s++;
            if (digits(&s, 2, &sec) < 0)
                return -1;
            if (*s == '.') {
                s++;
                int n = 0, scale = 100;
                for (; isdigit((unsigned char)*s); s++, n++) {
                    ms += (*s - '0') * scale;
                    scale /= 10;
                }
                if (n == 0 || n > 9)
                    return -1;
            }
        }
        if (h > 23 || mi > 59 || sec > 59)
            return -1;
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1, oh, om;
            if (digits(&s, 2, &oh) < 0 || *s++ != ':' || digits(&s, 2, &om) < 0 || oh > 23 ||
                om > 59)
                return -1;
            offset_min = sign * (oh * 60 + om);
        } else {
            return -1; /* a time without a zone is ambiguous */
        }
        if (*s)
            return -1;
    }
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    *out = t * 1000 + ms;
    return 0;
}

int meter_parse_time(const char *s, int64_t now_ms, int64_t *out_ms)
{
    if (!s || !*s)
        return -1;
    int64_t today = now_ms - now_ms % (int64_t)METER_DAY_MS;
    if (strcmp(s, "now") == 0) {
        *out_ms = now_ms;
        return 0;
    }
    if (strcmp(s, "today") == 0) {
        *out_ms = today;
        return 0;
    }
    if (strcmp(s, "yesterday") == 0) {
        *out_ms = today - (int64_t)METER_DAY_MS;
        return 0;
    }
    if (s[0] == '-') {
        static const struct {
            char unit;
            int64_t ms;
        } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
        const char *p = s + 1;
        int64_t n = 0;
        if (!isdigit((unsigned char)*p))
            return -1;
        for (; isdigit((unsigned char)*p); p++) {
            n = n * 10 + (*p - '0');
            if (n > 100000000)
                return -1;
        }
        for (size_t i = 0; i < ARRAY_LEN(units); i++) {
            if (p[0] == units[i].unit && !p[1]) {
                *out_ms = now_ms - n * units[i].ms;
                return 0;
            }
        }
        return -1;
    }
    size_t len = strlen(s);
    if (strspn(s, "0123456789") == len) {
        if (len > 15) /* past the year 33658 */
            return -1;
        *out_ms = strtoll(s, NULL, 10);
        return 0;
    }
    return parse_rfc3339(s, out_ms);
}

int meter_by_parse(const char *s, enum meter_by *out)
{
    if (!*s || strcmp(s, "all") == 0)
        *out = METER_BY_ALL;
    else if (strcmp(s, "hour") == 0)
        *out = METER_BY_HOUR;
    else if (strcmp(s, "day") == 0)
        *out = METER_BY_DAY;
    else
        return -1;
    return 0;
}

const char *meter_by_name(enum meter_by b)
{
    return b == METER_BY_HOUR ? "hour" : b == METER_BY_DAY ? "day" : "all";
}
