/* Small helpers shared by every module: scope-bound cleanup, ownership hand-off,
 * container_of. Header-only; no state. */
#ifndef FROST_BASE_UTIL_H
#define FROST_BASE_UTIL_H

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define FROST_WUR __attribute__((warn_unused_result))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* free(*pp) and leave no dangling pointer behind. */
static inline void free_and_null(void *pp)
{
    void **p = (void **)pp;
    free(*p);
    *p = NULL;
}

/* Take ownership of *pp: returns it and nulls the source so a cleanup handler
 * on the source does nothing. */
static inline void *steal_ptr_impl(void *pp)
{
    void **p = (void **)pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define steal_ptr(pp) steal_ptr_impl(pp)

static inline void cleanup_free(void *pp)
{
    free(*(void **)pp);
}

static inline void cleanup_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

#define _cleanup_free_  __attribute__((cleanup(cleanup_free)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_close)))

#define FROST_UNUSED(x) ((void)(x))

#endif
