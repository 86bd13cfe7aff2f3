/* Building batches: owned copies of every string, so the caller's buffers
 * can go away as soon as the put/del call returns. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/batch.h"

struct store_batch *store_batch_new(void)
{
    return calloc(1, sizeof(struct store_batch));
}

void store_batch_free(struct store_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->ops[i].mem);
    free(b->ops);
    free(b->msg);
    free(b);
}

/* Writes into out (room for n + 1 bytes) the prefix with trailing 0xff bytes
 * dropped and the last byte left incremented: every key starting with the
 * prefix sorts below it, every other key above the prefix does not. NULL
 * when no such string exists. The increment cannot produce a NUL. */
static const char *upper_bound(char *out, const char *prefix, size_t n)
{
    memcpy(out, prefix, n);
    while (n > 0 && (unsigned char)out[n - 1] == 0xff)
        n--;
    if (n == 0)
        return NULL;
    out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    out[n] = 0;
    return out;
}

static int add_op(struct store_batch *b, enum store_op_kind kind, const char *collection,
                  const char *key, const char *json)
{
    if (!b || !collection || !collection[0] || !key || (kind == STORE_OP_PUT && !json)) {
        errno = EINVAL;
        return -1;
    }
    if (b->n == STORE_BATCH_MAX_OPS) {
        errno = E2BIG;
        return -1;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4;
        if (cap > STORE_BATCH_MAX_OPS)
            cap = STORE_BATCH_MAX_OPS;
        struct store_op *ops = realloc(b->ops, cap * sizeof(*ops));
        if (!ops)
            return -1; /* errno is ENOMEM */
        b->ops = ops;
        b->cap = cap;
    }
    size_t lc = strlen(collection) + 1, lk = strlen(key) + 1, lj = json ? strlen(json) + 1 : 0;
    size_t lu = kind == STORE_OP_DEL_PREFIX ? lk : 0;
    char *mem = malloc(lc + lk + lj + lu);
    if (!mem)
        return -1;
    struct store_op *op = &b->ops[b->n];
    *op = (struct store_op){.kind = kind, .key_len = lk - 1, .mem = mem};
    op->collection = memcpy(mem, collection, lc);
    op->key = memcpy(mem + lc, key, lk);
    op->json = json ? memcpy(mem + lc + lk, json, lj) : NULL;
    if (lu)
        op->upper = upper_bound(mem + lc + lk, key, lk - 1);
    b->n++;
    return 0;
}

int store_batch_put(struct store_batch *b, const char *collection, const char *key,
                    const char *json)
{
    return add_op(b, STORE_OP_PUT, collection, key, json);
}

int store_batch_del(struct store_batch *b, const char *collection, const char *key)
{
    return add_op(b, STORE_OP_DEL, collection, key, NULL);
}

int store_batch_del_prefix(struct store_batch *b, const char *collection, const char *prefix)
{
    return add_op(b, STORE_OP_DEL_PREFIX, collection, prefix, NULL);
}
