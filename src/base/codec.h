/* Byte encodings and digests shared by the API and the code store: hex,
 * base64 (RFC 4648, standard alphabet, strict) and SHA-256.
 *
 * Every function is pure (no state, no allocation) and so callable from any
 * thread. Decoders are strict on purpose: input from the network that does not
 * have exactly one valid encoding is refused instead of being guessed at. */
#ifndef FROST_BASE_CODEC_H
#define FROST_BASE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

#define CODEC_SHA256_LEN     32
#define CODEC_SHA256_HEX_LEN 64 /* without the NUL */

/* Writes 2*n lowercase hex digits and a NUL: out needs 2*n + 1 bytes. */
void codec_hex_encode(const void *data, size_t n, char *out);

/* Value of one hex digit (either case), or -1. */
int codec_hex_value(unsigned char c);

/* Percent-decodes src[0..len) into out (NUL-terminated; needs room for it).
 * '+' becomes a space when plus_is_space (query strings). Fails (-1) on a
 * truncated or non-hex escape, an encoded NUL, or when out is too small.
 * *out_len (may be NULL) gets the decoded length without the NUL. */
FROST_WUR int codec_percent_decode(const char *src, size_t len, bool plus_is_space, char *out,
                                   size_t room, size_t *out_len);

/* Decodes exactly len hex digits (either case) into out. Fails (-1) on an odd
 * length, a non-hex character, or when len/2 > out_cap; out is then
 * unspecified. On success *out_len = len/2. */
FROST_WUR int codec_hex_decode(const char *s, size_t len, void *out, size_t out_cap,
                               size_t *out_len);

/* Length of the base64 text for n bytes, without the NUL; SIZE_MAX when it
 * would not fit a size_t. */
size_t codec_base64_encoded_len(size_t n);

/* Writes the padded base64 of data and a NUL: out needs
 * codec_base64_encoded_len(n) + 1 bytes. */
void codec_base64_encode(const void *data, size_t n, char *out);

/* Checks the shape of base64 text without decoding it and gives the exact
 * decoded length: len must be a multiple of 4 and "=" may only appear as the
 * last one or two characters. Characters are checked by the decoder. Use it to
 * apply a size limit before allocating. -1 on a bad shape. */
FROST_WUR int codec_base64_decoded_len(const char *s, size_t len, size_t *out_len);

/* Decodes padded base64 (standard alphabet "A-Za-z0-9+/"). Strict: refuses
 * whitespace, the URL-safe alphabet, missing or misplaced padding, and
 * non-zero bits in the last character before the padding (so each byte
 * string has exactly one accepted encoding). Needs out_cap >= the length from
 * codec_base64_decoded_len. -1 on any violation; out is then unspecified. */
FROST_WUR int codec_base64_decode(const char *s, size_t len, void *out, size_t out_cap,
                                  size_t *out_len);

/* SHA-256 of data. -1 only if libcrypto fails (out of memory). */
FROST_WUR int codec_sha256(const void *data, size_t n, unsigned char out[CODEC_SHA256_LEN]);

/* Lowercase hex SHA-256 of data, NUL-terminated (65 bytes). -1 as above. */
FROST_WUR int codec_sha256_hex(const void *data, size_t n, char out[CODEC_SHA256_HEX_LEN + 1]);

/* Whether two NUL-terminated secrets are equal, in time that depends on
 * their lengths only (not on where they first differ). */
bool codec_equal_ct(const char *a, const char *b);

#endif
