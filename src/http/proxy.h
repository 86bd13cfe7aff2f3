/* Proxies a server request to an upstream endpoint through the client pool,
 * streaming bodies both ways with backpressure: each direction has at most
 * one read buffer in flight, and reading from one side stops until the other
 * side has taken the bytes. A slow client therefore slows the upstream down
 * instead of growing Frost's memory.
 *
 * Hop-by-hop headers (and those named in Connection) are dropped both ways;
 * the caller adds its own headers to the request and the response.
 *
 * Loop thread only. */
#ifndef FROST_HTTP_PROXY_H
#define FROST_HTTP_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "http/client.h"
#include "http/server.h"

struct http_proxy_opts {
    const struct http_endpoint *ep;
    const char *method;                /* NULL = the request's method */
    const char *target;                /* NULL = the request's target (path and query) */
    const struct http_header *add_req; /* added to the upstream request (copied) */
    size_t n_add_req;
    const struct http_header *add_resp; /* added to the response (copied at start) */
    size_t n_add_resp;
    uint64_t response_timeout_ms; /* until the upstream's response head; 0 = none */
    /* A body the caller already holds (read and checked by it); sent instead
     * of the request's own. Must stay valid until done. */
    const char *body;
    size_t body_len;
    /* A request header not to forward (case-insensitive), e.g. one the caller
     * replaces through add_req; NULL = none. */
    const char *drop_req_header;
    /* When set, a failure before the response started is left to the done
     * callback to answer; otherwise the proxy answers 502/504 itself. */
    bool caller_answers_errors;
};

struct http_proxy_result {
    int error;           /* 0, or a negative libuv code (UV_ETIMEDOUT, UV_ECONNREFUSED, …) */
    int upstream_status; /* 0 when no response head arrived */
    bool response_started;
    bool client_gone; /* the client went away; req is NULL in the callback */
    uint64_t bytes_up, bytes_down;
    uint64_t head_us;       /* from start to the upstream's response head */
    char fn_error_type[64]; /* the upstream answer's x-fc-error-type, "" when none */
};

/* req: NULL when the client went away. Otherwise the response has ended,
 * unless caller_answers_errors is set and !res->response_started: then the
 * callback must answer req. */
typedef void (*http_proxy_done_fn)(struct http_request *req, const struct http_proxy_result *res,
                                   void *ud);

/* Starts proxying. On a stream_body route the body is read from the client
 * as it arrives; on a buffered route the buffered body is sent. On error
 * (returned < 0) nothing was started and the caller still owns req. */
FROST_WUR int http_proxy(struct http_request *req, struct http_client *cl,
                         const struct http_proxy_opts *o, http_proxy_done_fn done, void *ud,
                         struct frost_err *err);

#endif
