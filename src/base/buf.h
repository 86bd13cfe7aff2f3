/* Growable byte buffer with a hard cap. Every buffer fed by the network or by a
 * function has a cap; reaching it is an error the caller maps to 413/431/…,
 * never an abort. The buffer owns its memory; buf_free releases it. */
#ifndef FROST_BASE_BUF_H
#define FROST_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "base/util.h"

struct buf {
    char *data;
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t limit; /* hard cap on len; 0 = SIZE_MAX */
};

#define BUF_INIT(lim)                                                                              \
    {                                                                                              \
        NULL, 0, 0, (lim)                                                                          \
    }

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);
/* Drops content, keeps the allocation for reuse. */
static inline void buf_reset(struct buf *b)
{
    b->len = 0;
}

/* Ensures room for `extra` more bytes (plus a NUL kept after the content).
 * Returns -1 with errno = EMSGSIZE if len + extra would pass the limit, or
 * ENOMEM. The buffer is unchanged on failure. */
FROST_WUR int buf_reserve(struct buf *b, size_t extra);
FROST_WUR int buf_append(struct buf *b, const void *data, size_t n);
FROST_WUR int buf_append_str(struct buf *b, const char *s);
FROST_WUR int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
FROST_WUR int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends everything readable from fd until EOF. -1 with errno set (EMSGSIZE
 * when the limit is reached first); what was read stays in the buffer. */
FROST_WUR int buf_read_fd(struct buf *b, int fd);

/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Hands the content to the caller (NUL-terminated, caller frees) and resets b. */
char *buf_steal(struct buf *b);

#endif
