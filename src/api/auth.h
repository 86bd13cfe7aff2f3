/* Request signing with ACS3-HMAC-SHA256, the V3 signature of Alibaba Cloud
 * OpenAPI that the official Function Compute 3.0 SDKs send.
 *
 *   CanonicalRequest = Method "\n" CanonicalURI "\n" CanonicalQueryString "\n"
 *                      CanonicalHeaders "\n" SignedHeaders "\n" hex(sha256(body))
 *   StringToSign     = "ACS3-HMAC-SHA256\n" hex(sha256(CanonicalRequest))
 *   Signature        = hex(HMAC-SHA256(secret, StringToSign))
 *   Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b;c>,Signature=<hex>
 *
 * CanonicalURI is the path with every byte outside the RFC 3986 unreserved set
 * (A-Z a-z 0-9 - _ . ~) percent-encoded as %XX (upper case), "/" kept; the
 * CanonicalQueryString is the query's name=value pairs, each part decoded and
 * re-encoded the same way ("+" is a space), sorted by name then value, joined
 * with "&". CanonicalHeaders are the SignedHeaders, lower-case, sorted, one
 * "name:value\n" each with the value trimmed (repeated headers: values sorted
 * and joined with ","). docs/auth.md has the details and the error table.
 *
 * api_auth_verify checks a request against a keyring and remembers nonces to
 * refuse replays; api_auth_sign produces the headers a client must send. */
#ifndef FROST_API_AUTH_H
#define FROST_API_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/util.h"
#include "http/http.h"

#define API_AUTH_ALGORITHM   "ACS3-HMAC-SHA256"
#define API_AUTH_API_VERSION "2023-03-30" /* x-acs-version of FC 3.0 */

/* Defaults of struct api_auth_opts. The skew is Alibaba Cloud's: a request is
 * accepted while its x-acs-date is within 15 minutes of the server's clock. */
#define API_AUTH_DEFAULT_MAX_SKEW_MS (15 * 60 * 1000)
#define API_AUTH_DEFAULT_MAX_NONCES  1000000
/* Longest x-acs-signature-nonce accepted (the SDKs send 32 or 64 hex digits). */
#define API_AUTH_MAX_NONCE_LEN 128

/* An access key. Both strings are NUL-terminated within their arrays. The id
 * may not contain ",", whitespace or control characters (it travels inside
 * the Authorization header). */
struct api_auth_key {
    char id[128];
    char secret[256];
};

struct api_auth_opts {
    int64_t max_skew_ms; /* 0 = API_AUTH_DEFAULT_MAX_SKEW_MS */
    size_t max_nonces;   /* nonces remembered at once; 0 = API_AUTH_DEFAULT_MAX_NONCES */
};

/* A keyring plus the replay cache. Not thread-safe: one thread (the loop
 * thread) calls api_auth_verify, or the caller serialises calls. */
struct api_auth;

/* Parses "ID:SECRET[,ID:SECRET…]" (the auth.keys setting; blanks around items
 * are ignored, the secret is everything after the first ":"). *keys is a new
 * array the caller frees with free(); *n_keys may be 0 for an empty spec.
 * Errors (400 InvalidArgument) name the bad item by position, never echo a
 * secret. */
FROST_WUR int api_auth_keys_parse(const char *spec, struct api_auth_key **keys, size_t *n_keys,
                                  struct frost_err *err);

/* Creates a keyring holding copies of keys[0..n_keys) (n_keys may be 0: every
 * request then fails with InvalidAccessKeyId). opts may be NULL for defaults.
 * Fails on an empty or duplicate id, a bad id character or an empty secret. */
FROST_WUR int api_auth_new(const struct api_auth_key *keys, size_t n_keys,
                           const struct api_auth_opts *opts, struct api_auth **out,
                           struct frost_err *err);

/* Frees the keyring (secrets are wiped first). NULL is fine. */
void api_auth_free(struct api_auth *a);

/* Number of nonces currently held (expired ones not yet swept included). */
size_t api_auth_nonce_count(const struct api_auth *a);

/* Verifies one request. raw_path is the request path exactly as received
 * (percent-encoded, no query); raw_query is what followed "?" (NULL or "" for
 * none). headers are all request headers as received; body the complete body
 * (after chunked decoding). now_ms is wall-clock milliseconds since the epoch.
 * On success returns 0, sets *key_id (if key_id is not NULL) to the id of the
 * key that signed (valid until api_auth_free) and records the nonce.
 *
 * Errors (err->status, err->code); docs/auth.md lists them in check order:
 *   401 MissingAuthorization     no Authorization header
 *   400 IncompleteSignature      Authorization malformed or repeated, another
 *                                algorithm, Signature not 64 hex digits,
 *                                x-acs-date or x-acs-signature-nonce not among
 *                                SignedHeaders, or a signed header not sent
 *   400 MissingRequiredHeader    no x-acs-date or no x-acs-signature-nonce
 *   400 InvalidArgument          x-acs-date not "YYYY-MM-DDTHH:MM:SSZ", bad
 *                                nonce, an x-acs-* header repeated, request
 *                                too large to canonicalise
 *   400 ContentSHA256Mismatch    x-acs-content-sha256 is not the body's hash
 *   403 InvalidAccessKeyId       Credential names no configured key
 *   403 RequestTimeTooSkewed     x-acs-date more than max_skew_ms from now_ms
 *   403 SignatureNotMatch        wrong signature; the message carries the
 *                                server's StringToSign and CanonicalRequest
 *   403 SignatureNonceUsed       the nonce was already accepted in the window
 *   429 TooManyRequests          the nonce cache is full (max_nonces live
 *                                nonces): refused rather than forgetting one
 *   500 InternalError            libcrypto or memory failure
 * Cheap checks come first: the signature is computed only for a known key and
 * a fresh date, and a nonce is stored only after the signature matched, so
 * unsigned traffic cannot fill the cache. A nonce is remembered until its
 * x-acs-date + max_skew_ms, after which the request is refused as skewed. */
FROST_WUR int api_auth_verify(struct api_auth *a, const char *method, const char *raw_path,
                              const char *raw_query, const struct http_header *headers,
                              size_t n_headers, const void *body, size_t body_len, int64_t now_ms,
                              const char **key_id, struct frost_err *err);

/* What api_auth_sign produces: the headers to add to the request, in order.
 * Names and values are NUL-terminated strings inside storage (so a libcurl
 * client can format "Name: value" lines); the struct is self-contained and
 * may be copied only with care (the pointers point into it). */
#define API_AUTH_SIGN_MAX_HEADERS 5
struct api_auth_signature {
    struct http_header headers[API_AUTH_SIGN_MAX_HEADERS];
    size_t n_headers;
    char storage[4096];
};

/* Signs a request for key. path and query are exactly as they will be sent
 * (path percent-encoded, query without "?", NULL or "" for none); headers are
 * the headers the caller will send (at most HTTP_MAX_HEADERS). Those named
 * host, content-type or x-acs-* are signed, like the SDKs do; pass Host to
 * bind the signature to the server. Missing x-acs-version (set to
 * API_AUTH_API_VERSION), x-acs-date (from now_ms), x-acs-signature-nonce (64
 * random hex digits) and x-acs-content-sha256 (of body) are generated and
 * returned in out together with Authorization; ones the caller passes are
 * used as given (an x-acs-content-sha256 that does not match body is an
 * error). Fails with 400 InvalidArgument when the caller already passes
 * Authorization or the header set does not fit, 500 on libcrypto failure.
 * Thread-safe (no shared state). */
FROST_WUR int api_auth_sign(const struct api_auth_key *key, const char *method, const char *path,
                            const char *query, const struct http_header *headers, size_t n_headers,
                            const void *body, size_t body_len, int64_t now_ms,
                            struct api_auth_signature *out, struct frost_err *err);

#endif
