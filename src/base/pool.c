#include "base/pool.h"

#include <stdlib.h>

void blockpool_init(struct blockpool *p, size_t block_size, size_t max_free)
{
    p->block_size = block_size < sizeof(void *) ? sizeof(void *) : block_size;
    p->max_free = max_free;
    p->n_free = 0;
    p->free = NULL;
}

void *blockpool_get(struct blockpool *p)
{
    void *b = p->free;
    if (b) {
        p->free = *(void **)b;
        p->n_free--;
        return b;
    }
    return malloc(p->block_size);
}

void blockpool_put(struct blockpool *p, void *block)
{
    if (!block)
        return;
    if (p->n_free >= p->max_free) {
        free(block);
        return;
    }
    *(void **)block = p->free;
    p->free = block;
    p->n_free++;
}

void blockpool_drain(struct blockpool *p)
{
    while (p->free) {
        void *b = p->free;
        p->free = *(void **)b;
        free(b);
    }
    p->n_free = 0;
}
