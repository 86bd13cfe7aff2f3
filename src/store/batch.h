/* Internal to src/store: how a batch looks to a backend. Nothing outside
 * src/store includes this; the rest of Frost sees struct store_batch as
 * opaque. */
#ifndef FROST_STORE_BATCH_H
#define FROST_STORE_BATCH_H

#include <stddef.h>

#include "store/store.h"

enum store_op_kind {
    STORE_OP_PUT,
    STORE_OP_DEL,
    STORE_OP_DEL_PREFIX,
};

struct store_op {
    enum store_op_kind kind;
    /* All of these point into mem, one allocation per op. */
    const char *collection;
    const char *key;  /* the prefix for STORE_OP_DEL_PREFIX */
    const char *json; /* STORE_OP_PUT only, else NULL */
    /* STORE_OP_DEL_PREFIX: the smallest string above every key with the
     * prefix (bytewise), so the delete is a key range; NULL when there is
     * none (the prefix is empty or all 0xff bytes). */
    const char *upper;
    size_t key_len;
    char *mem;
};

/* Outcome of a batch while the writer decides it. */
enum store_batch_state {
    STORE_BATCH_PENDING,   /* not yet applied in the current transaction */
    STORE_BATCH_APPLIED,   /* applied and released; durable once COMMIT returns */
    STORE_BATCH_COMMITTED, /* durable */
    STORE_BATCH_FAILED,    /* rolled back; msg says why */
};

struct store_batch {
    struct store_op *ops;
    size_t n, cap;

    /* Set by store_submit; from then the store owns the batch. */
    struct store_batch *next;
    store_done_fn done;
    void *ud;
    enum store_batch_state state;
    char *msg; /* on failure; NULL if even that allocation failed */
};

#endif
