/* Types shared by the HTTP server, client and proxy. */
#ifndef FROST_HTTP_HTTP_H
#define FROST_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A header as a pair of slices. Who owns the bytes is said where a
 * struct http_header is handed over; names compare case-insensitively. */
struct http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

#define HTTP_HDR(n, v)                                                                             \
    {                                                                                              \
        (n), sizeof(n) - 1, (v), strlen(v)                                                         \
    }

/* Most headers a request or response may carry; more is answered with 431. */
#define HTTP_MAX_HEADERS 128

const char *http_status_text(int status);

/* Case-insensitive lookup; NULL when absent. */
const struct http_header *http_header_find(const struct http_header *h, size_t n, const char *name);

/* True for headers that belong to one connection and must not be forwarded
 * (RFC 9110 §7.6.1): Connection, Keep-Alive, Proxy-*, TE, Trailer,
 * Transfer-Encoding, Upgrade. */
bool http_header_is_hop_by_hop(const char *name, size_t len);

/* True when `list` (a Connection header value) names `name` as a token. */
bool http_token_list_has(const char *list, size_t list_len, const char *name, size_t name_len);

/* Writes the RFC 9110 date of wall-clock second `t` ("Sun, 22 Nov 2026 03:45:24 GMT",
 * 29 chars + NUL), cached per second. Loop thread only. */
const char *http_date_now(void);

#endif
