/* HTTP/1.1 client with keep-alive connection pools per upstream endpoint.
 *
 * One request runs on a connection at a time; finished connections whose
 * response allowed keep-alive go back to their endpoint's idle list (most
 * recently used first) and are closed after upstream_idle_timeout, or at once
 * when the upstream closes them. A request that fails on a reused connection
 * before any response byte arrived is retried once on a new connection when
 * its body is replayable (none, or given whole in opts.body).
 *
 * Request and response bodies stream without copies: writes reference the
 * caller's bytes until their callback; response bytes reference the
 * connection's read buffer, and on_body can pause to keep them valid.
 *
 * Loop thread only. */
#ifndef FROST_HTTP_CLIENT_H
#define FROST_HTTP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "http/http.h"
#include "http/parse.h"

struct http_client;
struct http_creq;

struct http_endpoint {
    bool is_unix;
    char host[256]; /* IP literal, without brackets */
    int port;
    char path[108]; /* unix socket path */
    char key[300];  /* canonical text form: "127.0.0.1:9000", "unix:/x.sock" */
};

/* Parses "host:port", "[v6]:port" or "unix:/path". Hosts must be IP literals:
 * name resolution would block the loop and instances are addresses anyway. */
FROST_WUR int http_endpoint_parse(const char *s, struct http_endpoint *ep, struct frost_err *err);

FROST_WUR int http_client_new(uv_loop_t *loop, const struct frost_http_config *cfg,
                              struct http_client **out, struct frost_err *err);
/* Aborts running requests (no callbacks) and closes all connections; the
 * memory goes once the loop has run their close callbacks. NULL is fine. */
void http_client_free(struct http_client *cl);

struct http_creq_cb {
    /* The response head arrived. msg is valid during the call. */
    void (*on_head)(struct http_creq *q, const struct http_msg *msg, void *ud);
    /* Response body bytes; return HTTP_BODY_PAUSE (1) to keep them valid and
     * stop reading until http_creq_resume. */
    int (*on_body)(struct http_creq *q, const char *data, size_t len, void *ud);
    /* The exchange ended: 0 = whole response received, else a negative libuv
     * error (UV_ECONNREFUSED, UV_ETIMEDOUT, UV_ECONNRESET, UV_EOF = upstream
     * closed early, UV_EPROTO = malformed response, UV_E2BIG = header block too
     * large). Runs exactly once unless the request was aborted; q is gone after. */
    void (*on_done)(struct http_creq *q, int status, void *ud);
};

struct http_creq_opts {
    const char *method;
    const char *target;                /* path and query */
    const struct http_header *headers; /* copied; Host is added unless given */
    size_t n_headers;
    /* 0 = no body; > 0 = Content-Length; -1 = chunked (unknown length). */
    int64_t body_len;
    /* The whole body, if known now (body_len bytes); else stream it with
     * http_creq_write + http_creq_end. Must stay valid until on_done. */
    const char *body;
    uint64_t response_timeout_ms; /* from request start to response head; 0 = none */
};

FROST_WUR int http_client_request(struct http_client *cl, const struct http_endpoint *ep,
                                  const struct http_creq_opts *o, const struct http_creq_cb *cb,
                                  void *ud, struct http_creq **out, struct frost_err *err);

/* Streams request body bytes. Returns 1 when written at once, 0 when pending
 * (bytes must stay valid; cb runs once written, status 0, or < 0 if the
 * request failed, in which case on_done follows), -1 when the request is
 * already over. One write at a time. */
int http_creq_write(struct http_creq *q, const char *data, size_t len,
                    void (*cb)(struct http_creq *q, int status, void *ud), void *ud);
/* Ends a streamed body. */
void http_creq_end(struct http_creq *q);
/* Continues after on_body returned HTTP_BODY_PAUSE. */
void http_creq_resume(struct http_creq *q);
/* Cancels the request: no callback runs after this; its connection is closed. */
void http_creq_abort(struct http_creq *q);

struct http_client_stats {
    uint64_t connects; /* new connections opened */
    uint64_t reuses;   /* requests that ran on a pooled connection */
    uint64_t retries;  /* stale pooled connections retried */
    uint64_t idle;     /* connections idle in pools now */
    uint64_t open;     /* connections open now */
};
void http_client_stats(const struct http_client *cl, struct http_client_stats *out);

#endif
