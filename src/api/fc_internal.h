/* Shared by the fc_*.c files of the FC API; not a public contract. */
#ifndef FROST_API_FC_INTERNAL_H
#define FROST_API_FC_INTERNAL_H

#include <jansson.h>
#include <limits.h>

#include "api/fc.h"
#include "http/server.h"
#include "spec/spec.h"

#define FC_PREFIX "/2023-03-30"

struct api_fc {
    uv_loop_t *loop;
    const struct frost_config *cfg;
    struct store *store;
    struct spec_registry *reg;
    struct api_auth *auth;
    struct rt *rt;
    struct sched *sched;
    struct meter *meter;
    struct async *async; /* NULL = async invocations answer 501 */
    char public_address[300];
    char code_dir[PATH_MAX];
    struct fc_route *routes; /* route contexts, freed with the api */
    int pending;             /* writes and code jobs in flight */
};

typedef void (*fc_handler)(struct api_fc *a, struct http_request *req);

/* ---- answers */
void fc_json(struct http_request *req, int status, json_t *body); /* steals body */
void fc_error(struct http_request *req, const struct frost_err *err);
void fc_no_content(struct http_request *req);

/* ---- request helpers; each answers the error itself and returns -1 */
json_t *fc_body_object(struct http_request *req); /* new reference */
int fc_qualifier_ok(struct http_request *req);
/* An optional text parameter ("" when absent); 400 when malformed or too long. */
int fc_query_text(struct http_request *req, const char *name, char *out, size_t len);
/* limit (1..100, default dflt) and nextToken */
int fc_paging(struct http_request *req, size_t dflt, size_t *limit, char *token, size_t token_len);
/* The named function, or NULL after answering 404 FunctionNotFound. */
struct spec_fn *fc_function(struct api_fc *a, struct http_request *req);

/* ---- writes: submit a batch; done(ctx, status, msg) runs once durable */
struct fc_write {
    struct api_fc *a;
    struct http_request *req; /* NULL when the client went away */
    void (*done)(struct fc_write *w, int status, const char *msg);
    struct spec_fn *fn; /* pinned (busy) while the write is in flight, when set */
    json_t *answer;     /* body to send on success (owned) */
    int answer_status;
    /* What the registry gets once the write is durable: a config document
     * (slot of fn; value NULL clears it) or a trigger (value NULL deletes it). */
    json_t **slot;
    char trigger[160];
    json_t *value; /* owned */
    char key[300];
    int kind;
};
struct fc_write *fc_write_new(struct api_fc *a, struct http_request *req);
/* Submits b for w; on durable completion w->done runs, then w is freed. */
void fc_write_submit(struct fc_write *w, struct store_batch *b);
/* A write of one document (doc NULL = its deletion): the batch in *b and a
 * write with key set, for the caller to fill and submit. NULL (answered) on
 * failure. */
struct fc_write *fc_write_doc(struct api_fc *a, struct http_request *req, const char *collection,
                              const char *key, const json_t *doc, struct store_batch **b);
/* Default done: answers w->answer (or no content) or the store error. */
void fc_write_answer(struct fc_write *w, int status, const char *msg);

/* ---- formatting */
void fc_arn(struct api_fc *a, const char *fn, char *out, size_t len);
void fc_now(char *out, size_t len); /* "2026-11-22T04:07:46Z" */
char *fc_dump(const json_t *j);     /* compact JSON, malloc'd */

/* ---- route tables of each file */
struct fc_route_def {
    const char *method;
    const char *pattern;
    fc_handler fn;
    size_t max_body; /* 0 = default */
};
extern const struct fc_route_def fc_function_routes[];
extern const struct fc_route_def fc_config_routes[];
extern const struct fc_route_def fc_trigger_routes[];
extern const struct fc_route_def fc_instance_routes[];
extern const struct fc_route_def fc_bill_routes[];
extern const struct fc_route_def fc_task_routes[]; /* fc_tasks.c */

/* InvokeFunction with x-fc-invocation-type: Async (fc_tasks.c). */
void fc_async_invoke(struct api_fc *a, struct http_request *req, struct spec_fn *f);

int fc_invoke_routes(struct api_fc *a, struct router *r, struct frost_err *err);

/* ---- loading */
int fc_load(struct api_fc *a, struct frost_err *err);

#endif
