#include "spec/registry.h"

#include <stdlib.h>
#include <string.h>

#define MIN_BUCKETS 64

struct spec_registry {
    struct spec_fn **buckets;
    size_t n_buckets;
    /* sorted by name: lists are paginated in name order */
    struct spec_fn **sorted;
    size_t n, cap;
};

static size_t hash(const char *s, size_t n_buckets)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)(h % n_buckets);
}

struct spec_registry *spec_registry_new(void)
{
    struct spec_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->n_buckets = MIN_BUCKETS;
    r->buckets = calloc(r->n_buckets, sizeof(*r->buckets));
    if (!r->buckets) {
        free(r);
        return NULL;
    }
    return r;
}

static void trigger_free(struct spec_trigger *t)
{
    free(t->name);
    json_decref(t->doc);
    free(t);
}

static void fn_free(struct spec_fn *f)
{
    while (f->triggers) {
        struct spec_trigger *t = f->triggers;
        f->triggers = t->next;
        trigger_free(t);
    }
    json_decref(f->doc);
    json_decref(f->provision);
    json_decref(f->async_config);
    json_decref(f->concurrency);
    free(f->name);
    free(f);
}

void spec_registry_free(struct spec_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        fn_free(r->sorted[i]);
    free(r->sorted);
    free(r->buckets);
    free(r);
}

size_t spec_registry_count(const struct spec_registry *r)
{
    return r->n;
}

struct spec_fn *spec_registry_get(const struct spec_registry *r, const char *name)
{
    for (struct spec_fn *f = r->buckets[hash(name, r->n_buckets)]; f; f = f->hnext) {
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

/* First index whose name is >= name (or > name when strict). */
static size_t lower_bound(const struct spec_registry *r, const char *name, int strict)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->sorted[mid]->name, name);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int rehash(struct spec_registry *r)
{
    size_t nb = r->n_buckets * 2;
    struct spec_fn **b = calloc(nb, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        struct spec_fn *f = r->sorted[i];
        size_t h = hash(f->name, nb);
        f->hnext = b[h];
        b[h] = f;
    }
    free(r->buckets);
    r->buckets = b;
    r->n_buckets = nb;
    return 0;
}

struct spec_fn *spec_registry_add(struct spec_registry *r, const char *name, json_t *doc)
{
    if (spec_registry_get(r, name)) {
        json_decref(doc);
        return NULL;
    }
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        struct spec_fn **s = realloc(r->sorted, ncap * sizeof(*s));
        if (!s) {
            json_decref(doc);
            return NULL;
        }
        r->sorted = s;
        r->cap = ncap;
    }
    struct spec_fn *f = calloc(1, sizeof(*f));
    if (!f || !(f->name = strdup(name))) {
        free(f);
        json_decref(doc);
        return NULL;
    }
    f->doc = doc;
    f->version = 1;
    size_t at = lower_bound(r, name, 0);
    memmove(r->sorted + at + 1, r->sorted + at, (r->n - at) * sizeof(*r->sorted));
    r->sorted[at] = f;
    r->n++;
    size_t h = hash(name, r->n_buckets);
    f->hnext = r->buckets[h];
    r->buckets[h] = f;
    if (r->n > r->n_buckets * 2)
        (void)rehash(r); /* a failed rehash only makes chains longer */
    return f;
}

void spec_registry_remove(struct spec_registry *r, struct spec_fn *f)
{
    size_t h = hash(f->name, r->n_buckets);
    for (struct spec_fn **pp = &r->buckets[h]; *pp; pp = &(*pp)->hnext) {
        if (*pp == f) {
            *pp = f->hnext;
            break;
        }
    }
    size_t at = lower_bound(r, f->name, 0);
    if (at < r->n && r->sorted[at] == f) {
        memmove(r->sorted + at, r->sorted + at + 1, (r->n - at - 1) * sizeof(*r->sorted));
        r->n--;
    }
    fn_free(f);
}

void spec_fn_set(struct spec_fn *f, json_t **slot, json_t *v)
{
    json_decref(*slot);
    *slot = v;
    f->version++;
}

struct spec_trigger *spec_fn_trigger(const struct spec_fn *f, const char *name)
{
    for (struct spec_trigger *t = f->triggers; t; t = t->next) {
        if (strcmp(t->name, name) == 0)
            return t;
    }
    return NULL;
}

int spec_fn_trigger_put(struct spec_fn *f, const char *name, json_t *doc)
{
    struct spec_trigger *t = spec_fn_trigger(f, name);
    if (t) {
        json_decref(t->doc);
        t->doc = doc;
        t->http_state = 0;
        f->version++;
        return 0;
    }
    t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(name))) {
        free(t);
        json_decref(doc);
        return -1;
    }
    t->doc = doc;
    struct spec_trigger **pp = &f->triggers;
    while (*pp && strcmp((*pp)->name, name) < 0)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    f->version++;
    return 0;
}

int spec_fn_trigger_del(struct spec_fn *f, const char *name)
{
    for (struct spec_trigger **pp = &f->triggers; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            struct spec_trigger *t = *pp;
            *pp = t->next;
            trigger_free(t);
            f->version++;
            return 0;
        }
    }
    return -1;
}

size_t spec_registry_list(const struct spec_registry *r, const char *prefix, const char *after,
                          size_t limit, struct spec_fn **out, int *more)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    size_t i;
    if (after && after[0])
        i = lower_bound(r, after, 1);
    else
        i = plen ? lower_bound(r, prefix, 0) : 0;
    if (plen && after && after[0] && strcmp(after, prefix) < 0)
        i = lower_bound(r, prefix, 0);
    size_t n = 0;
    *more = 0;
    for (; i < r->n; i++) {
        if (plen && strncmp(r->sorted[i]->name, prefix, plen) != 0)
            break; /* sorted: no later name has the prefix either */
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = r->sorted[i];
    }
    return n;
}
