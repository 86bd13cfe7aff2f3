/* The live set of functions and their configurations, owned by the loop
 * thread. The store has the durable copy; this is what requests read. Names
 * are unique; iteration is in name order (for FC's paginated lists).
 *
 * JSON documents are jansson objects owned by their entry: setters take a
 * reference (steal) and release the previous one. Loop thread only. */
#ifndef FROST_SPEC_REGISTRY_H
#define FROST_SPEC_REGISTRY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "spec/spec.h"

struct spec_trigger {
    struct spec_trigger *next; /* sorted by name */
    char *name;
    json_t *doc;
    /* The parsed http trigger, so requests do not re-parse triggerConfig:
     * 0 = not looked at yet, 1 = http (in `http`), -1 = another type. Reset
     * whenever doc changes. */
    int http_state;
    struct spec_http_trigger http;
};

struct spec_fn {
    char *name;
    json_t *doc;          /* the function as GetFunction returns it */
    json_t *provision;    /* stored PutProvisionConfig input, or NULL */
    json_t *async_config; /* or NULL */
    json_t *concurrency;  /* or NULL */
    struct spec_trigger *triggers;
    uint64_t version; /* bumped by every change of this entry */
    int busy;         /* writes in flight for this entry (creation included) */
    struct spec_fn *hnext;
};

struct spec_registry;

struct spec_registry *spec_registry_new(void);
void spec_registry_free(struct spec_registry *r);

size_t spec_registry_count(const struct spec_registry *r);
struct spec_fn *spec_registry_get(const struct spec_registry *r, const char *name);

/* Adds a function with doc (stolen). NULL if the name exists or on OOM (doc
 * is released then). */
struct spec_fn *spec_registry_add(struct spec_registry *r, const char *name, json_t *doc);
/* Removes and frees the entry (and its configs and triggers). */
void spec_registry_remove(struct spec_registry *r, struct spec_fn *f);

/* Replaces *slot with v (stolen; NULL clears) and bumps the version. */
void spec_fn_set(struct spec_fn *f, json_t **slot, json_t *v);

struct spec_trigger *spec_fn_trigger(const struct spec_fn *f, const char *name);
/* Adds or replaces a trigger (doc stolen). -1 on OOM. */
FROST_WUR int spec_fn_trigger_put(struct spec_fn *f, const char *name, json_t *doc);
/* 0 removed, -1 absent. */
int spec_fn_trigger_del(struct spec_fn *f, const char *name);

/* Writes up to `limit` functions whose name starts with prefix (NULL = all)
 * and sorts after `after` (exclusive; NULL/"" = from the start) into out, in
 * name order. Returns the count; *more is set when further matches exist. */
size_t spec_registry_list(const struct spec_registry *r, const char *prefix, const char *after,
                          size_t limit, struct spec_fn **out, int *more);

#endif
