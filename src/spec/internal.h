/* Helpers shared by the spec module's .c files. Not part of the module's
 * contract: nothing outside src/spec/ includes this header.
 *
 * Every checker takes the JSON path of the value it looks at ("cpu",
 * "nasConfig.mountPoints[2].mountDir") and, on failure, sets err to
 * 400 InvalidArgument with a message "<path>: <what is wrong>" and returns -1.
 * Objects passed as `json_t *obj` are Frost's own working copies: a checker may
 * normalise a value in place (an integral real 512.0 becomes the integer 512). */
#ifndef FROST_SPEC_INTERNAL_H
#define FROST_SPEC_INTERNAL_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/util.h"

/* Long enough for the deepest path we build; longer ones are truncated, which
 * only shortens an error message. */
#define SPEC_PATH_MAX 256

/* json_int_t is long long (jansson built with HAVE_LONG_LONG_INT). */
#define SPEC_INT_MIN LLONG_MIN
#define SPEC_INT_MAX LLONG_MAX

/* Caps on untrusted input that FC leaves unstated (documented in docs/functions.md). */
#define SPEC_ARRAY_MAX     128  /* command / args / entrypoint / layers / … */
#define SPEC_STRING_MAX    4096 /* a single short string field */
#define SPEC_POLICY_MAX    100  /* scheduledActions / targetTrackingPolicies */
#define SPEC_MOUNT_MAX     5    /* nasConfig / ossMountConfig mount points */
#define SPEC_NAME_MAX      128  /* trigger, policy and qualifier names */
#define SPEC_FUNC_NAME_MAX 64
#define SPEC_HTTP_URL_MAX  2048
#define SPEC_TIMEZONE_MAX  64

/* "<parent>.<key>" (or "<key>" when parent is empty) into out; returns out. */
const char *spec__path(char *out, size_t n, const char *parent, const char *key);
/* "<parent>[i]" into out; returns out. */
const char *spec__path_idx(char *out, size_t n, const char *parent, size_t i);

/* Sets 400 InvalidArgument "<path>: <fmt…>"; returns -1. */
int spec__invalid(struct frost_err *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* JSON type as users know it: "string", "integer", "number", "boolean",
 * "object", "array", "null". */
const char *spec__type_name(const json_t *v);

/* The member `key` of obj, or NULL when absent or JSON null. */
json_t *spec__get(const json_t *obj, const char *key);

/* Removes members whose value is JSON null (FC treats them as absent). */
void spec__drop_nulls(json_t *obj);

/* Ensures obj (if non-NULL) is an object; NULL is fine unless required. */
FROST_WUR int spec__object(const json_t *v, const char *path, bool required, struct frost_err *err);

/* Integer member in [min, max]. An integral real is accepted and stored back
 * as an integer. Absent: -1 with error if required, else 0 with *present
 * false. max == SPEC_INT_MAX means "no upper bound". present and out may
 * be NULL. */
FROST_WUR int spec__int(json_t *obj, const char *key, const char *parent, json_int_t min,
                        json_int_t max, bool required, json_int_t *out, bool *present,
                        struct frost_err *err);

/* Number member (integer or real); the value is returned as a double. */
FROST_WUR int spec__number(json_t *obj, const char *key, const char *parent, bool required,
                           double *out, bool *present, struct frost_err *err);

/* Boolean member. */
FROST_WUR int spec__bool(json_t *obj, const char *key, const char *parent, bool required, bool *out,
                         bool *present, struct frost_err *err);

/* String member of at most maxlen bytes, without NUL bytes; when nonempty is
 * set, "" counts as a bad value. *out (may be NULL) is borrowed from obj. */
FROST_WUR int spec__string(json_t *obj, const char *key, const char *parent, bool required,
                           size_t maxlen, bool nonempty, const char **out, struct frost_err *err);

/* Array member whose elements are all strings (each ≤ SPEC_STRING_MAX, no NUL),
 * with at most max_items elements. */
FROST_WUR int spec__string_array(json_t *obj, const char *key, const char *parent, size_t max_items,
                                 struct frost_err *err);

/* Checks a name made of [A-Za-z0-9_-] whose first character is a letter or
 * '_', 1..maxlen bytes (FC's rule for function and trigger names). */
bool spec__name_ok(const char *s, size_t len, size_t maxlen);

/* An absolute path: starts with '/', is not "/" itself, has no "." or ".."
 * component, no NUL or control byte, ≤ 1024 bytes. */
bool spec__abs_path_ok(const char *s);

/* Parses an ISO 8601 time "YYYY-MM-DDThh:mm:ss[.fff]Z". With allow_local set
 * the trailing Z may be missing (the time is then read as UTC; the caller
 * knows it is in some other time zone). Returns 0 and the wall ms, or -1. */
int spec__parse_time(const char *s, bool allow_local, int64_t *ms, bool *has_zone);

#endif
