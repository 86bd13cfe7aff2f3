/* Time zones for the provision scheduler: our own reader of the tz database's
 * TZif files (RFC 8536, versions 1–4) and of the POSIX TZ strings in their
 * footers ("CST-8", "EST5EDT,M3.2.0,M11.1.0", "<+0330>-3:30"), plus the
 * civil-calendar arithmetic cron evaluation needs.
 *
 * Why not localtime_r / setenv("TZ"): TZ is process-global state, and one
 * process evaluates many zones at once. Everything here is a pure function of
 * its arguments except scale_tz_load, which reads one file.
 *
 * Conventions:
 * - Times are seconds since the Unix epoch (UTC, no leap seconds). "Local
 *   seconds" are wall-clock readings written as if they were UTC: local
 *   2024-03-10T02:30:00 is days_from_civil(2024,3,10)*86400 + 9000.
 * - Offsets are seconds east of UTC (Asia/Shanghai: +28800), i.e.
 *   local = utc + offset — the opposite sign of POSIX TZ strings.
 * - A NULL `const struct scale_tz *` means UTC everywhere.
 * - Inputs beyond ±SCALE_TZ_T_LIMIT seconds (about 34 800 years) are clamped
 *   to it, so no arithmetic can overflow whatever the caller passes.
 * - A zone object is immutable once made: any thread may read it at once.
 *
 * Local time that does not exist or exists twice (DST), following RFC 5545's
 * rule for the second case and cron(8)'s habit for the first:
 * - a local time skipped by a forward jump (New York, 2024-03-10 02:30) maps to
 *   the instant of the jump (03:00 EDT = 07:00Z);
 * - a local time that occurs twice (New York, 2024-11-03 01:30) maps to its
 *   first occurrence (01:30 EDT = 05:30Z).
 * So local→UTC is monotonic (never decreasing), which is what lets cron
 * expressions be searched field by field in local time. */
#ifndef FROST_SCALE_TZ_H
#define FROST_SCALE_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/util.h"

#define SCALE_TZ_DIR_DEFAULT "/usr/share/zoneinfo"
#define SCALE_TZ_NAME_MAX    64
#define SCALE_TZ_FILE_MAX    (256 * 1024) /* real zone files are < 4 KiB */
#define SCALE_TZ_ABBR_MAX    16           /* with the NUL; longer ones are cut */
#define SCALE_TZ_T_LIMIT     ((int64_t)1 << 40)

struct scale_tz;

/* Loads zone `name` ("Asia/Shanghai", "Etc/GMT+8", "UTC") from
 * dir/name (dir NULL = SCALE_TZ_DIR_DEFAULT). The name must look like an IANA
 * zone name: 1–64 bytes of letters, digits, '_', '-', '+' and '/', not
 * starting with '/' (so it cannot leave dir). "UTC" and "Etc/UTC" work
 * without the file.
 * Errors: 400 InvalidArgument `unknown time zone "NAME"` when there is no
 * such regular file; 400 InvalidArgument `time zone "NAME": PATH is not a
 * valid TZif file (...)` when the file is not a usable TZif file (including
 * leap-second "right/" zones, which Frost does not support); 500 when the
 * file cannot be read. Blocking: one small open/read; not for a loop thread
 * in a hurry. */
FROST_WUR int scale_tz_load(const char *dir, const char *name, struct scale_tz **out,
                            struct frost_err *err);

/* Parses TZif bytes (the whole file). Every count, index, offset and string
 * is bounds-checked: any input gives either a zone or an error (400
 * InvalidArgument "... (reason)"), never a crash. `name` (may be NULL) is
 * what scale_tz_name reports. Versions 2+ use the 64-bit data block and the
 * footer's TZ string for times after the last transition; version 1 uses the
 * 32-bit block. */
FROST_WUR int scale_tz_parse(const char *name, const void *data, size_t len, struct scale_tz **out,
                             struct frost_err *err);

/* A zone described by a POSIX TZ string alone, with RFC 8536's extensions
 * (angle-bracket names, rule hours from -167 to 167). A DST name without a
 * rule gets the US rule M3.2.0,M11.1.0. */
FROST_WUR int scale_tz_posix(const char *tzstring, struct scale_tz **out, struct frost_err *err);

/* NULL is fine. */
void scale_tz_free(struct scale_tz *tz);

/* The name given when the zone was made ("UTC" for NULL). */
const char *scale_tz_name(const struct scale_tz *tz);

struct scale_tz_info {
    int32_t offset; /* seconds east of UTC */
    bool isdst;
    char abbr[SCALE_TZ_ABBR_MAX]; /* "CST", "EDT", "+0330"; may be "" */
};

/* Local time type in force at utc_s. */
void scale_tz_lookup(const struct scale_tz *tz, int64_t utc_s, struct scale_tz_info *out);

/* Offset in force at utc_s (seconds east of UTC). */
int32_t scale_tz_offset(const struct scale_tz *tz, int64_t utc_s);

/* Local seconds → UTC seconds, with the gap / overlap rule above. */
int64_t scale_tz_to_utc(const struct scale_tz *tz, int64_t local_s);

/* The latest local time L with scale_tz_to_utc(L) <= utc_s. Usually
 * utc_s + offset; during the second occurrence of a repeated hour it is the
 * last second of that hour (its first occurrence has already passed). */
int64_t scale_tz_last_local(const struct scale_tz *tz, int64_t utc_s);

/* The first instant after utc_s at which the offset changes, or INT64_MAX.
 * before/after (may be NULL) get the offsets on either side. */
int64_t scale_tz_next_transition(const struct scale_tz *tz, int64_t utc_s, int32_t *before,
                                 int32_t *after);

/* ---- proleptic Gregorian calendar ---------------------------------------- */

/* Days since 1970-01-01 of y-m-d (m 1–12, d 1–31; not normalised). */
int64_t scale_days_from_civil(int64_t y, int m, int d);
/* The date of a day number. */
void scale_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 0 = Sunday … 6 = Saturday. */
int scale_weekday(int64_t days);
bool scale_leap_year(int64_t y);
int scale_month_days(int64_t y, int m);
/* Floor division and modulo (b > 0). */
int64_t scale_floor_div(int64_t a, int64_t b);

#endif
