/* One async task: its record, its state machine and its two JSON forms (the
 * document the store keeps and FC's AsyncTask shape the API answers).
 *
 * Internal to src/async (and its unit tests): the rest of Frost goes through
 * async/async.h. Everything here is pure (no I/O, no globals) and so callable
 * from any thread, but a task itself belongs to one thread at a time.
 *
 * The state machine (docs/async.md draws it):
 *
 *   Enqueued ──► Running ──► Succeeded
 *      │  ▲        │ │ └───► Retrying ──► Running …  (attempts left)
 *      │  │        │ └─────► Failed                  (no attempts left)
 *      │  └ (restart)        Stopping ──► Stopped
 *      └──► Stopped | Expired | Invalid       (also from Retrying)
 *
 * Succeeded, Failed, Stopped, Expired and Invalid are terminal: a task
 * reaches exactly one of them, once. */
#ifndef FROST_ASYNC_TASK_H
#define FROST_ASYNC_TASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/util.h"

#define TASK_ID_MAX     128 /* FC: a letter or '_', then [A-Za-z0-9_-], at most 128 */
#define TASK_FN_MAX     64
#define TASK_EVENTS_MAX 64           /* events kept per task; later ones replace the last */
#define TASK_DETAIL_MAX 1024         /* bytes of an event's detail or an error message */
#define TASK_RETURN_MAX (128u << 10) /* bytes of the function's answer kept as returnPayload */

enum task_status {
    TASK_ENQUEUED,
    TASK_RUNNING,
    TASK_SUCCEEDED,
    TASK_FAILED,
    TASK_STOPPING,
    TASK_STOPPED,
    TASK_EXPIRED,
    TASK_RETRYING,
    TASK_INVALID,
    TASK_NSTATUS,
};

/* FC's word for a status ("Enqueued", …). */
const char *task_status_name(enum task_status s);
/* Parses FC's word (exact case). -1 if unknown. */
int task_status_parse(const char *s, enum task_status *out);
bool task_status_terminal(enum task_status s);

/* Whether a task may move from `from` to `to` (the diagram above). */
bool task_transition_ok(enum task_status from, enum task_status to);

/* Delivery of the task's outcome to its destination (destinationStatus). */
enum task_dest {
    TASK_DEST_NONE,      /* no destination applies: "" */
    TASK_DEST_PENDING,   /* "Pending": not delivered yet */
    TASK_DEST_SUCCEEDED, /* "Succeeded" */
    TASK_DEST_FAILED,    /* "Failed": gave up (reason in the events) */
};
const char *task_dest_name(enum task_dest d);

struct task_event {
    unsigned id;
    enum task_status status;
    int64_t ts_ms;
    char *detail;
};

/* Bytes that may not be text: kept as given, shown as UTF-8 text when they
 * are, as base64 otherwise. */
struct task_bytes {
    char *data; /* NUL-terminated for convenience; may hold NULs */
    size_t len;
};

struct task {
    char fn[TASK_FN_MAX + 1];
    char id[TASK_ID_MAX + 1];
    char request_id[64];
    enum task_status status;
    int64_t created_ms;   /* accepted (FC's startedTime) */
    int64_t end_ms;       /* reached a terminal status; 0 before */
    int64_t next_run_ms;  /* Retrying: not before this (backoff) */
    uint64_t duration_ms; /* time on instances, summed over attempts */
    int retried;          /* alreadyRetriedTimes */
    int depth;            /* 0, or 1 + the depth of the task whose destination made it */
    char instance_id[128];
    int fn_status;             /* HTTP status of the function's last answer; 0 = none */
    char error_type[48];       /* x-fc-error-type of the last failure, "" */
    char *error;               /* taskErrorMessage; NULL = none */
    struct task_bytes ret;     /* returnPayload (at most TASK_RETURN_MAX bytes) */
    bool ret_truncated;        /* the function sent more than was kept */
    enum task_dest dest;       /* destinationStatus */
    char *dest_target;         /* the destination chosen at the end; NULL = none */
    struct task_bytes payload; /* the event; kept in its own document */
    struct task_event *events;
    size_t n_events, cap_events;
    unsigned next_event_id;
};

/* FC's rule for x-fc-async-task-id. */
bool task_id_valid(const char *id);

/* Frees what the task owns (not the struct itself) and zeroes it. */
void task_clear(struct task *t);

/* Moves t to `to` at now_ms and records an event with detail (may be NULL;
 * truncated to TASK_DETAIL_MAX). Entering a terminal status sets end_ms.
 * Returns -1 (nothing changed) when the move is not allowed or memory runs
 * out for the event, else 0. */
FROST_WUR int task_transition(struct task *t, enum task_status to, int64_t now_ms,
                              const char *detail);
/* Records an event without a status change (destination outcomes); -1
 * only when out of memory, and then the event is simply missing. */
int task_note(struct task *t, int64_t now_ms, const char *detail);

/* Replaces the error message (NULL clears); truncated to TASK_DETAIL_MAX. */
void task_set_error(struct task *t, const char *msg);
/* Copies up to TASK_RETURN_MAX bytes of the answer; total = bytes sent. */
FROST_WUR int task_set_return(struct task *t, const char *data, size_t len, uint64_t total);
FROST_WUR int task_set_payload(struct task *t, const char *data, size_t len);

/* ---- the store's documents. The key is "fn/id". */

/* "fn/id" into out; -1 if it does not fit. */
int task_key(const char *fn, const char *id, char *out, size_t len);

/* The task document (everything but the payload), compact JSON, malloc'd;
 * NULL when out of memory. */
char *task_doc(const struct task *t);
/* The payload document. */
char *task_payload_doc(const struct task *t);
/* Reads a task document into t (cleared first). 400 errors name the field. */
FROST_WUR int task_from_doc(const char *json, struct task *t, struct frost_err *err);
/* Reads a payload document into t->payload. */
FROST_WUR int task_payload_from_doc(const char *json, struct task *t, struct frost_err *err);

/* ---- FC's AsyncTask object (new reference; NULL when out of memory).
 * arn: the function's ARN. with_payload adds taskPayload. */
json_t *task_api_json(const struct task *t, const char *arn, bool with_payload);

/* Bytes as a JSON string: the text when it is UTF-8 without NULs, else its
 * base64 (and *is_b64 set). New reference or NULL. */
json_t *task_bytes_json(const char *data, size_t len, bool *is_b64);

#endif
