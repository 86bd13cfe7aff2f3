/* A free list of fixed-size blocks (read buffers and the like), so a busy
 * connection does not malloc per read. Single-threaded: one pool per loop
 * owner. Keeps at most `max_free` blocks; the rest go back to malloc. */
#ifndef FROST_BASE_POOL_H
#define FROST_BASE_POOL_H

#include <stddef.h>

struct blockpool {
    size_t block_size;
    size_t max_free;
    size_t n_free;
    void *free; /* singly linked through the first word of each block */
};

void blockpool_init(struct blockpool *p, size_t block_size, size_t max_free);
/* NULL when out of memory. */
void *blockpool_get(struct blockpool *p);
/* Accepts NULL. */
void blockpool_put(struct blockpool *p, void *block);
void blockpool_drain(struct blockpool *p);

#endif
