/* Incremental HTTP/1.x message parsing on top of http_parser, shared by the
 * server (requests) and the client (responses). Pure: no sockets, no loop, so
 * unit tests and the fuzzer drive it directly.
 *
 * It collects the start line and headers into one capped buffer, then hands
 * the caller one struct http_msg per message; body bytes are passed through
 * without copying. Feeding stops after every complete message and whenever a
 * callback asks to pause, so a caller can finish one message (or apply
 * backpressure) before the next byte is parsed. */
#ifndef FROST_HTTP_PARSE_H
#define FROST_HTTP_PARSE_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "http/http.h"

struct http_msg {
    /* requests */
    enum http_method method;
    const char *method_name;
    const char *target; /* NUL-terminated, as sent: path and query */
    size_t target_len;
    /* responses */
    int status;

    unsigned short major, minor;
    struct http_header headers[HTTP_MAX_HEADERS]; /* values NUL-terminated */
    size_t n_headers;
    bool keep_alive;
    bool chunked;
    bool has_length;
    uint64_t content_length;
    bool expect_continue; /* "Expect: 100-continue" on an HTTP/1.1 request */
    bool bad_expect;      /* an Expect header with any other value (→ 417) */
    bool upgrade;
};

/* Return values of callbacks. */
#define HTTP_PARSE_OK       0
#define HTTP_PARSE_PAUSE    1 /* on_body: stop after this chunk until http_parse_resume */
#define HTTP_PARSE_SKIPBODY 1 /* on_head, responses only: no body follows (HEAD request) */
#define HTTP_PARSE_ERROR    (-1)

struct http_parse_cb {
    /* Headers complete. msg stays valid until the next message begins. */
    int (*on_head)(void *ud, struct http_msg *msg);
    /* Body bytes (after chunked decoding); valid only during the call unless
     * the callback returns HTTP_PARSE_PAUSE, in which case they stay valid
     * until http_parse_resume (the caller keeps its input buffer). */
    int (*on_body)(void *ud, const char *data, size_t len);
    /* Message complete. Parsing pauses afterwards; resume to go on. */
    int (*on_complete)(void *ud);
};

struct http_parse {
    http_parser p;
    const struct http_parse_cb *cb;
    void *ud;
    struct buf head;
    size_t max_head;
    /* offsets into head while headers are being collected */
    size_t off[HTTP_MAX_HEADERS][4];
    size_t n;
    int last; /* 0 = none, 1 = field, 2 = value */
    size_t target_len;
    bool head_done;
    bool in_message;
    bool paused;
    int err_status;         /* 400, 431, … when parsing failed; sticky */
    const char *err_reason; /* static text for logs */
    struct http_msg msg;
};

void http_parse_init(struct http_parse *ps, enum http_parser_type type, size_t max_head,
                     const struct http_parse_cb *cb, void *ud);
void http_parse_free(struct http_parse *ps);

/* Feeds bytes; returns how many were consumed (the rest must be fed again
 * after http_parse_resume). On error, ps->err_status is set and nothing more
 * will be accepted. */
size_t http_parse_feed(struct http_parse *ps, const char *data, size_t len);

/* The peer closed its side: completes a close-delimited response body.
 * Returns 0 when no message was cut short, -1 otherwise. */
int http_parse_eof(struct http_parse *ps);

/* Lets a paused parser go on. Also needed after each complete message. */
void http_parse_resume(struct http_parse *ps);

/* For responses to HEAD, or after a 1xx: nothing to do for requests. */
static inline bool http_parse_in_message(const struct http_parse *ps)
{
    return ps->in_message;
}

#endif
