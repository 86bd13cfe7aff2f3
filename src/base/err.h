/* Control-plane errors: a status (HTTP-like, so API layers can map it directly),
 * an FC-style code and a message a user can act on. Functions that can fail
 * return a negative int and fill a caller-provided struct frost_err.
 *
 * The struct is fixed-size on purpose: filling it never allocates, so it is
 * safe on any path, including out-of-memory ones. */
#ifndef FROST_BASE_ERR_H
#define FROST_BASE_ERR_H

#include <stdarg.h>

#define FROST_ERR_MSG_MAX  512
#define FROST_ERR_CODE_MAX 64

struct frost_err {
    int status;                    /* HTTP status the error maps to; 0 = no error */
    char code[FROST_ERR_CODE_MAX]; /* FC-style code, e.g. "InvalidArgument" */
    char msg[FROST_ERR_MSG_MAX];
};

/* Sets status, code and a formatted message; returns -1 so callers can write
 * `return frost_err_set(err, ...)`. err may be NULL (the error is dropped). */
int frost_err_set(struct frost_err *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like frost_err_set with errno's text appended as ": <strerror>". */
int frost_err_errno(struct frost_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes context to an existing message ("loading config: <old>") as the
 * error rises. Returns -1. */
int frost_err_prefix(struct frost_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void frost_err_clear(struct frost_err *err);

#endif
