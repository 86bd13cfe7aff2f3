/* HTTP/1.1 server on a libuv loop.
 *
 * One request per connection is processed at a time: after a request is
 * complete, parsing of pipelined bytes waits until its response has ended, so
 * responses always go out in request order and a client that pipelines cannot
 * make the server buffer unboundedly.
 *
 * Limits and their answers: header block over max_header_bytes → 431; body
 * over the route's cap → 413 (at once when Content-Length says so, also for
 * 100-continue); headers not complete within header_timeout → 408; malformed →
 * 400; errors close the connection after the answer (lingering close, so the
 * client can read it). Idle keep-alive connections close after
 * keepalive_timeout.
 *
 * Everything here runs on the loop thread that owns the server. */
#ifndef FROST_HTTP_SERVER_H
#define FROST_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/err.h"
#include "base/reqid.h"
#include "base/util.h"
#include "http/http.h"
#include "http/router.h"

struct http_server;
struct http_request;

/* Called for every finished request (for access logs and metrics). */
struct http_access {
    const char *method;
    const char *target;
    int status;
    uint64_t bytes_in;  /* body bytes received */
    uint64_t bytes_out; /* body bytes sent */
    uint64_t micros;
    const char *request_id;
    const char *peer;
};

struct http_server_opts {
    const struct frost_http_config *cfg;
    struct router *router; /* borrowed; must outlive the server */
    void (*on_access)(const struct http_access *a, void *ud);
    void *ud;
    /* "D": a request whose Host is NAME.D is routed as /fn/NAME/<path>
     * (HTTP triggers by host name). NULL or "" = off. Borrowed. */
    const char *trigger_domain;
};

/* Creates a server on loop. Call http_server_listen to start accepting. */
FROST_WUR int http_server_new(uv_loop_t *loop, const struct http_server_opts *opts,
                              struct http_server **out, struct frost_err *err);

/* Listens on "host:port" (port 0 = pick a free one) or "unix:/path". */
FROST_WUR int http_server_listen(struct http_server *s, const char *addr, struct frost_err *err);

/* The address actually bound, e.g. "127.0.0.1:41234" or "unix:/run/x.sock". */
const char *http_server_address(const struct http_server *s);

/* Stops accepting, closes idle connections, lets in-flight requests finish
 * (their responses carry Connection: close) up to grace_ms, then closes what
 * remains and calls done. The server may be freed from done onwards. */
void http_server_shutdown(struct http_server *s, uint64_t grace_ms,
                          void (*done)(struct http_server *s, void *ud), void *ud);

/* During a shutdown: stops waiting for in-flight requests and closes every
 * connection now (their handlers see on_abort); done follows. */
void http_server_close_all(struct http_server *s);

/* Frees a server after its shutdown completed (or one that never listened). */
void http_server_free(struct http_server *s);

/* Counters for tests and metrics. */
struct http_server_stats {
    uint64_t connections_open;
    uint64_t connections_total;
    uint64_t requests_total;
    uint64_t requests_in_flight;
};
void http_server_stats(const struct http_server *s, struct http_server_stats *out);

/* ---- request accessors (valid from handler call until the response ends or on_abort runs) */

const char *http_req_method(const struct http_request *r);
/* Target as sent (path and query), path only, and query without '?' ("" if none). */
const char *http_req_target(const struct http_request *r);
const char *http_req_path(const struct http_request *r);
const char *http_req_query(const struct http_request *r);
/* The path as the client sent it (differs from http_req_path only for
 * requests routed by the trigger domain). */
const char *http_req_raw_path(const struct http_request *r);
bool http_req_via_trigger_host(const struct http_request *r);
const char *http_req_header(const struct http_request *r, const char *name);
const struct http_header *http_req_headers(const struct http_request *r, size_t *n);
const char *http_req_param(const struct http_request *r, const char *name);
const char *http_req_id(const struct http_request *r);
const char *http_req_peer(const struct http_request *r);
/* Body length from Content-Length, or -1 when chunked (unknown). 0 when none. */
int64_t http_req_content_length(const struct http_request *r);
/* Buffered routes: the whole body (NUL-terminated for convenience). */
const struct buf *http_req_body(const struct http_request *r);
uv_loop_t *http_req_loop(const struct http_request *r);
/* True on stream_body routes: the body is read with http_req_read_body. */
bool http_req_body_streams(const struct http_request *r);
/* Decodes query parameter `name` into out; returns 1 found, 0 absent, -1 bad. */
int http_req_query_param(const struct http_request *r, const char *name, char *out, size_t outlen);

/* Handler-owned state and an abort hook: on_abort runs when the client goes
 * away (or the server shuts down) before the response ended. After on_abort
 * the request is gone; the handler must not touch it again. */
void http_req_on_abort(struct http_request *r, void (*on_abort)(struct http_request *r, void *ud),
                       void *ud);

/* ---- streaming request bodies (routes with stream_body) */

/* on_data returns 0 to go on or HTTP_BODY_PAUSE to keep `data` valid and
 * stop until http_req_resume_body. on_end runs once after the last byte;
 * errors (413, 408, broken chunking) are answered by the server and reported
 * through on_abort. Either callback may be NULL. */
#define HTTP_BODY_PAUSE 1
void http_req_read_body(struct http_request *r,
                        int (*on_data)(struct http_request *r, const char *data, size_t len,
                                       void *ud),
                        void (*on_end)(struct http_request *r, void *ud), void *ud);
void http_req_resume_body(struct http_request *r);

/* ---- responses */

/* Starts the response. content_length -1 = unknown (chunked for HTTP/1.1,
 * close-delimited for 1.0). Headers are copied. Date, Server, Content-Length
 * or Transfer-Encoding, Connection and x-fc-request-id are added by the
 * server; callers must not pass hop-by-hop headers. */
int http_resp_start(struct http_request *r, int status, const struct http_header *h, size_t n,
                    int64_t content_length);

/* Writes body bytes without copying them. Returns 1 when they were written
 * at once (cb will not run), 0 when pending (data must stay valid; cb runs
 * when it is written; write nothing else meanwhile), or -1 when the
 * connection is gone (on_abort follows). */
int http_resp_write(struct http_request *r, const char *data, size_t len,
                    void (*cb)(struct http_request *r, int status, void *ud), void *ud);

/* Ends the response; the request is finished and must not be used again. */
void http_resp_end(struct http_request *r);

/* One-shot response with a body (copied). */
void http_respond(struct http_request *r, int status, const char *content_type, const char *body,
                  size_t len);
void http_respond_h(struct http_request *r, int status, const struct http_header *h, size_t n,
                    const char *body, size_t len);
/* FC-style JSON error: {"Code":…,"Message":…,"RequestId":…}. */
void http_respond_error(struct http_request *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Closes the connection at once (after a response that cannot be completed). */
void http_req_abort_connection(struct http_request *r);

#endif
