#include "base/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 2, 0))) static void vset(struct frost_err *err, const char *fmt,
                                                       va_list ap)
{
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int frost_err_set(struct frost_err *err, int status, const char *code, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code ? code : "InternalError");
    va_list ap;
    va_start(ap, fmt);
    vset(err, fmt, ap);
    va_end(ap);
    return -1;
}

int frost_err_errno(struct frost_err *err, int errnum, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->status = 500;
    snprintf(err->code, sizeof(err->code), "InternalError");
    va_list ap;
    va_start(ap, fmt);
    vset(err, fmt, ap);
    va_end(ap);
    size_t n = strlen(err->msg);
    if (n < sizeof(err->msg) - 1)
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
    return -1;
}

int frost_err_prefix(struct frost_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[FROST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char old[FROST_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    if (err->status == 0)
        err->status = 500;
    return -1;
}

void frost_err_clear(struct frost_err *err)
{
    if (!err)
        return;
    err->status = 0;
    err->code[0] = 0;
    err->msg[0] = 0;
}
