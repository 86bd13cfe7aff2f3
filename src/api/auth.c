#include "api/auth.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/buf.h"
#include "base/codec.h"

/* A canonical request is at most a few times the header block it comes from
 * (percent-encoding triples a byte); this bounds it well above any header
 * limit the server accepts. */
#define CANON_LIMIT      (4u << 20)
#define MAX_QUERY_PARAMS 1024
#define MAX_SIGNED       64
#define STS_LEN          (sizeof(API_AUTH_ALGORITHM) + CODEC_SHA256_HEX_LEN) /* with "\n" */
#define MIN_NONCE_SLOTS  1024

struct slice {
    const char *p;
    size_t n;
};

/* One remembered nonce: 64 bits of a salted SHA-256 of (key id, nonce) and
 * the instant after which a request carrying it would be refused as skewed
 * anyway. expires_ms == 0 marks an empty slot. A false match needs a 64-bit
 * collision among at most max_nonces live entries (~1e-13 at 1M). */
struct nonce_slot {
    uint64_t digest;
    int64_t expires_ms;
};

struct api_auth {
    struct api_auth_key *keys;
    size_t n_keys;
    int64_t max_skew_ms;
    size_t max_nonces;
    size_t max_slots; /* power of two >= 2 * (max_nonces + 1): load stays <= 1/2 */
    unsigned char salt[16];
    /* open addressing, linear probing; expired slots are reused by inserts and
     * dropped when the table is rebuilt */
    struct nonce_slot *slots;
    size_t n_slots;          /* 0 or a power of two */
    size_t used;             /* non-empty slots, live or expired */
    int64_t earliest_expiry; /* no live entry expires before this */
};

/* ---- small helpers ------------------------------------------------------ */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static struct slice trim(const char *p, size_t n)
{
    while (n > 0 && is_blank(p[0])) {
        p++;
        n--;
    }
    while (n > 0 && is_blank(p[n - 1]))
        n--;
    return (struct slice){p, n};
}

static bool slice_eq_ci(struct slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

static int slice_cmp(struct slice a, struct slice b)
{
    int c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
    if (c != 0)
        return c;
    return a.n < b.n ? -1 : a.n > b.n;
}

static int slice_qcmp(const void *x, const void *y)
{
    return slice_cmp(*(const struct slice *)x, *(const struct slice *)y);
}

/* Copies s into a NUL-terminated buffer of cap bytes for messages, replacing
 * anything not printable so a hostile header cannot forge log or JSON text. */
static const char *printable(struct slice s, char *out, size_t cap)
{
    size_t i = 0;
    for (; i < s.n && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)s.p[i];
        out[i] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
    }
    out[i] = '\0';
    return out;
}

/* The only header occurrence of name; -1 when it appears more than once. */
static int find_single(const struct http_header *h, size_t n, const char *name,
                       const struct http_header **out)
{
    *out = NULL;
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len == len && strncasecmp(h[i].name, name, len) == 0) {
            if (*out)
                return -1;
            *out = &h[i];
        }
    }
    return 0;
}

/* ---- canonical request -------------------------------------------------- */

static int put_encoded(struct buf *b, unsigned char c)
{
    static const char up[] = "0123456789ABCDEF";
    if (is_unreserved(c))
        return buf_append(b, &c, 1);
    char e[3] = {'%', up[c >> 4], up[c & 15]};
    return buf_append(b, e, 3);
}

/* Decodes %XX and "+" (a space, as form encoders and the Go SDK send it) and
 * re-encodes with the unreserved set, so any valid encoding of the same bytes
 * gives the same text. A "%" without two hex digits stands for itself. When
 * keep_slash, a literal "/" stays (a path separator) while "%2F" stays
 * encoded: the two mean different paths. */
static int put_component(struct buf *b, const char *s, size_t n, bool keep_slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%' && i + 2 < n && codec_hex_value((unsigned char)s[i + 1]) >= 0 &&
            codec_hex_value((unsigned char)s[i + 2]) >= 0) {
            c = (unsigned char)(codec_hex_value((unsigned char)s[i + 1]) << 4 |
                                codec_hex_value((unsigned char)s[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        } else if (c == '/' && keep_slash) {
            if (buf_append(b, "/", 1) < 0)
                return -1;
            continue;
        }
        if (put_encoded(b, c) < 0)
            return -1;
    }
    return 0;
}

struct qpair {
    struct slice k, v;
    bool has_value;
};

static int qpair_cmp(const void *x, const void *y)
{
    const struct qpair *a = x, *b = y;
    int c = slice_cmp(a->k, b->k);
    return c != 0 ? c : slice_cmp(a->v, b->v);
}

static int canon_fail(struct frost_err *err)
{
    if (errno == EMSGSIZE)
        return frost_err_set(err, 400, "InvalidArgument",
                             "request too large to verify its signature");
    return frost_err_set(err, 500, "InternalError", "out of memory building canonical request");
}

/* Appends the canonical query string. bare_empty writes a parameter with an
 * empty value as "name" instead of "name=": the documented V3 form is "name=",
 * but the Node and Python SDKs sign "name", so the verifier tries both. */
static int put_query(struct buf *out, const char *q, size_t qn, bool bare_empty, bool *has_empty,
                     struct frost_err *err)
{
    *has_empty = false;
    if (qn == 0)
        return 0;
    struct qpair *pairs = calloc(MAX_QUERY_PARAMS, sizeof(*pairs));
    struct buf enc = BUF_INIT(CANON_LIMIT);
    size_t np = 0;
    int rc = -1;
    if (!pairs) {
        frost_err_set(err, 500, "InternalError", "out of memory");
        goto done;
    }
    /* encode every part into enc first and keep offsets: enc may move while
     * it grows, so pointers are taken only once it is complete */
    size_t i = 0;
    while (i <= qn) {
        size_t j = i;
        while (j < qn && q[j] != '&')
            j++;
        if (j > i) {
            if (np == MAX_QUERY_PARAMS) {
                frost_err_set(err, 400, "InvalidArgument", "more than %d query parameters",
                              MAX_QUERY_PARAMS);
                goto done;
            }
            const char *eq = memchr(q + i, '=', j - i);
            size_t klen = eq ? (size_t)(eq - (q + i)) : j - i;
            struct qpair *p = &pairs[np++];
            p->k.p = (const char *)(uintptr_t)enc.len;
            if (put_component(&enc, q + i, klen, false) < 0) {
                canon_fail(err);
                goto done;
            }
            p->k.n = enc.len - (size_t)(uintptr_t)p->k.p;
            p->v.p = (const char *)(uintptr_t)enc.len;
            if (eq && put_component(&enc, eq + 1, j - i - klen - 1, false) < 0) {
                canon_fail(err);
                goto done;
            }
            p->v.n = enc.len - (size_t)(uintptr_t)p->v.p;
            if (p->v.n == 0)
                *has_empty = true;
        }
        i = j + 1;
    }
    static const char empty[] = "";
    for (size_t k = 0; k < np; k++) {
        pairs[k].k.p = enc.data ? enc.data + (size_t)(uintptr_t)pairs[k].k.p : empty;
        pairs[k].v.p = enc.data ? enc.data + (size_t)(uintptr_t)pairs[k].v.p : empty;
    }
    qsort(pairs, np, sizeof(*pairs), qpair_cmp);
    for (size_t k = 0; k < np; k++) {
        if ((k > 0 && buf_append(out, "&", 1) < 0) ||
            buf_append(out, pairs[k].k.p, pairs[k].k.n) < 0 ||
            ((pairs[k].v.n > 0 || !bare_empty) && buf_append(out, "=", 1) < 0) ||
            buf_append(out, pairs[k].v.p, pairs[k].v.n) < 0) {
            canon_fail(err);
            goto done;
        }
    }
    rc = 0;
done:
    buf_free(&enc);
    free(pairs);
    return rc;
}

/* Appends "name:v1,v2\n" for every signed name (sorted, lower-case, unique).
 * A signed header that was not sent is an error: the client signed something
 * this request does not carry. */
static int put_headers(struct buf *out, const struct http_header *h, size_t nh,
                       const struct slice *names, size_t n_names, struct frost_err *err)
{
    struct slice vals[HTTP_MAX_HEADERS + API_AUTH_SIGN_MAX_HEADERS];
    for (size_t i = 0; i < n_names; i++) {
        size_t nv = 0;
        for (size_t k = 0; k < nh && nv < ARRAY_LEN(vals); k++) {
            if (h[k].name_len == names[i].n && strncasecmp(h[k].name, names[i].p, names[i].n) == 0)
                vals[nv++] = trim(h[k].value, h[k].value_len);
        }
        if (nv == 0) {
            char nm[64];
            return frost_err_set(err, 400, "IncompleteSignature",
                                 "header '%s' is listed in SignedHeaders but was not sent",
                                 printable(names[i], nm, sizeof(nm)));
        }
        if (nv > 1)
            qsort(vals, nv, sizeof(vals[0]), slice_qcmp);
        if (buf_append(out, names[i].p, names[i].n) < 0 || buf_append(out, ":", 1) < 0)
            return canon_fail(err);
        for (size_t k = 0; k < nv; k++) {
            if ((k > 0 && buf_append(out, ",", 1) < 0) || buf_append(out, vals[k].p, vals[k].n) < 0)
                return canon_fail(err);
        }
        if (buf_append(out, "\n", 1) < 0)
            return canon_fail(err);
    }
    return 0;
}

struct canon_in {
    const char *method;
    const char *path;
    const char *query;
    const struct http_header *headers;
    size_t n_headers;
    const struct slice *signed_names; /* sorted, lower-case, unique */
    size_t n_signed;
    const char *payload_hex;
};

static int build_canonical(struct buf *out, const struct canon_in *in, bool bare_empty,
                           bool *has_empty, struct frost_err *err)
{
    buf_reset(out);
    const char *path = in->path && in->path[0] ? in->path : "/";
    const char *query = in->query ? in->query : "";
    if (buf_append_str(out, in->method) < 0 || buf_append(out, "\n", 1) < 0 ||
        put_component(out, path, strlen(path), true) < 0 || buf_append(out, "\n", 1) < 0)
        return canon_fail(err);
    if (put_query(out, query, strlen(query), bare_empty, has_empty, err) < 0)
        return -1;
    if (buf_append(out, "\n", 1) < 0)
        return canon_fail(err);
    if (put_headers(out, in->headers, in->n_headers, in->signed_names, in->n_signed, err) < 0)
        return -1;
    if (buf_append(out, "\n", 1) < 0)
        return canon_fail(err);
    for (size_t i = 0; i < in->n_signed; i++) {
        if ((i > 0 && buf_append(out, ";", 1) < 0) ||
            buf_append(out, in->signed_names[i].p, in->signed_names[i].n) < 0)
            return canon_fail(err);
    }
    if (buf_append(out, "\n", 1) < 0 || buf_append_str(out, in->payload_hex) < 0)
        return canon_fail(err);
    return 0;
}

/* StringToSign and HMAC-SHA256(secret, StringToSign) of a canonical request. */
static int sign_canonical(const char *secret, const struct buf *creq, char sts[STS_LEN + 1],
                          unsigned char mac[CODEC_SHA256_LEN], struct frost_err *err)
{
    char h[CODEC_SHA256_HEX_LEN + 1];
    if (codec_sha256_hex(creq->data ? creq->data : "", creq->len, h) < 0)
        return frost_err_set(err, 500, "InternalError", "SHA-256 failed");
    snprintf(sts, STS_LEN + 1, "%s\n%s", API_AUTH_ALGORITHM, h);
    size_t mac_len = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
                   (const unsigned char *)sts, strlen(sts), mac, CODEC_SHA256_LEN, &mac_len) ||
        mac_len != CODEC_SHA256_LEN)
        return frost_err_set(err, 500, "InternalError", "HMAC-SHA256 failed");
    return 0;
}

/* Lower-cases, sorts and de-duplicates names in place; they point into buf. */
static size_t normalise_names(struct slice *names, size_t n, char *lower_buf)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < names[i].n; k++)
            lower_buf[k] = (char)tolower((unsigned char)names[i].p[k]);
        names[i].p = lower_buf;
        lower_buf += names[i].n;
    }
    qsort(names, n, sizeof(names[0]), slice_qcmp);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && slice_cmp(names[w - 1], names[i]) == 0)
            continue;
        names[w++] = names[i];
    }
    return w;
}

/* ---- keys --------------------------------------------------------------- */

static bool id_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != ',' && c != ';' && c != '=';
}

static int check_key(const struct api_auth_key *k, size_t pos, struct frost_err *err)
{
    size_t idl = strnlen(k->id, sizeof(k->id));
    size_t sl = strnlen(k->secret, sizeof(k->secret));
    if (idl == 0 || idl == sizeof(k->id))
        return frost_err_set(err, 400, "InvalidArgument",
                             "access key %zu: the id must be 1 to %zu characters", pos + 1,
                             sizeof(k->id) - 1);
    for (size_t i = 0; i < idl; i++) {
        if (!id_char_ok((unsigned char)k->id[i]))
            return frost_err_set(err, 400, "InvalidArgument",
                                 "access key %zu: the id may not contain blanks, control "
                                 "characters, ',', ';' or '='",
                                 pos + 1);
    }
    if (sl == 0 || sl == sizeof(k->secret))
        return frost_err_set(err, 400, "InvalidArgument",
                             "access key %zu (%s): the secret must be 1 to %zu characters", pos + 1,
                             k->id, sizeof(k->secret) - 1);
    return 0;
}

int api_auth_keys_parse(const char *spec, struct api_auth_key **keys, size_t *n_keys,
                        struct frost_err *err)
{
    *keys = NULL;
    *n_keys = 0;
    size_t n = 0, len = strlen(spec);
    struct slice all = trim(spec, len);
    if (all.n == 0)
        return 0;
    for (size_t i = 0; i < all.n; i++)
        n += all.p[i] == ',';
    n++;
    _cleanup_free_ struct api_auth_key *k = calloc(n, sizeof(*k));
    if (!k)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    const char *p = all.p, *end = all.p + all.n;
    for (size_t i = 0; i < n; i++) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *e = c ? c : end;
        struct slice item = trim(p, (size_t)(e - p));
        const char *colon = memchr(item.p, ':', item.n);
        if (!colon)
            return frost_err_set(err, 400, "InvalidArgument", "access key %zu: expected ID:SECRET",
                                 i + 1);
        struct slice id = trim(item.p, (size_t)(colon - item.p));
        struct slice sec = trim(colon + 1, (size_t)(item.p + item.n - colon - 1));
        if (id.n >= sizeof(k[i].id) || sec.n >= sizeof(k[i].secret))
            return frost_err_set(err, 400, "InvalidArgument",
                                 "access key %zu: id or secret too long (at most %zu and %zu)",
                                 i + 1, sizeof(k[i].id) - 1, sizeof(k[i].secret) - 1);
        memcpy(k[i].id, id.p, id.n);
        memcpy(k[i].secret, sec.p, sec.n);
        if (check_key(&k[i], i, err) < 0) {
            OPENSSL_cleanse(k, n * sizeof(*k));
            return -1;
        }
        p = e + 1;
    }
    *keys = steal_ptr(&k);
    *n_keys = n;
    return 0;
}

int api_auth_new(const struct api_auth_key *keys, size_t n_keys, const struct api_auth_opts *opts,
                 struct api_auth **out, struct frost_err *err)
{
    *out = NULL;
    for (size_t i = 0; i < n_keys; i++) {
        if (check_key(&keys[i], i, err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(keys[i].id, keys[j].id) == 0)
                return frost_err_set(err, 400, "InvalidArgument",
                                     "access key id '%s' is configured twice", keys[i].id);
        }
    }
    struct api_auth *a = calloc(1, sizeof(*a));
    if (!a)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    if (n_keys > 0) {
        a->keys = calloc(n_keys, sizeof(*a->keys));
        if (!a->keys) {
            free(a);
            return frost_err_set(err, 500, "InternalError", "out of memory");
        }
        memcpy(a->keys, keys, n_keys * sizeof(*keys));
    }
    a->n_keys = n_keys;
    a->max_skew_ms =
        opts && opts->max_skew_ms > 0 ? opts->max_skew_ms : API_AUTH_DEFAULT_MAX_SKEW_MS;
    a->max_nonces = opts && opts->max_nonces > 0 ? opts->max_nonces : API_AUTH_DEFAULT_MAX_NONCES;
    a->max_slots = MIN_NONCE_SLOTS;
    while (a->max_slots / 2 < a->max_nonces + 1)
        a->max_slots *= 2;
    a->earliest_expiry = INT64_MAX;
    if (RAND_bytes(a->salt, sizeof(a->salt)) != 1) {
        api_auth_free(a);
        return frost_err_set(err, 500, "InternalError", "no randomness for the nonce cache");
    }
    *out = a;
    return 0;
}

void api_auth_free(struct api_auth *a)
{
    if (!a)
        return;
    if (a->keys)
        OPENSSL_cleanse(a->keys, a->n_keys * sizeof(*a->keys));
    free(a->keys);
    free(a->slots);
    free(a);
}

size_t api_auth_nonce_count(const struct api_auth *a)
{
    return a->used;
}

/* ---- nonce cache -------------------------------------------------------- */

static bool slot_live(const struct nonce_slot *s, int64_t now_ms)
{
    return s->expires_ms != 0 && s->expires_ms >= now_ms;
}

/* Rebuilds the table with the live entries only, sized for them plus room to
 * grow (4x, at least MIN_NONCE_SLOTS, at most max_slots). Amortised O(1):
 * afterwards at least as many inserts as there are live entries fit before
 * the next rebuild. */
static int nonce_rebuild(struct api_auth *a, int64_t now_ms)
{
    size_t live = 0;
    for (size_t i = 0; i < a->n_slots; i++)
        live += slot_live(&a->slots[i], now_ms);
    size_t n = MIN_NONCE_SLOTS;
    while (n < a->max_slots && n / 4 < live + 1)
        n *= 2;
    struct nonce_slot *s = calloc(n, sizeof(*s));
    if (!s)
        return -1;
    int64_t earliest = INT64_MAX;
    for (size_t i = 0; i < a->n_slots; i++) {
        const struct nonce_slot *o = &a->slots[i];
        if (!slot_live(o, now_ms))
            continue;
        size_t k = (size_t)o->digest & (n - 1);
        while (s[k].expires_ms != 0)
            k = (k + 1) & (n - 1);
        s[k] = *o;
        if (o->expires_ms < earliest)
            earliest = o->expires_ms;
    }
    free(a->slots);
    a->slots = s;
    a->n_slots = n;
    a->used = live;
    a->earliest_expiry = earliest;
    return 0;
}

enum { NONCE_ADDED, NONCE_SEEN, NONCE_FULL, NONCE_NOMEM };

static int nonce_add(struct api_auth *a, uint64_t digest, int64_t expires_ms, int64_t now_ms)
{
    if (a->n_slots > 0) {
        size_t k = (size_t)digest & (a->n_slots - 1);
        for (; a->slots[k].expires_ms != 0; k = (k + 1) & (a->n_slots - 1)) {
            if (a->slots[k].digest == digest && slot_live(&a->slots[k], now_ms))
                return NONCE_SEEN;
        }
    }
    if (a->used >= a->max_nonces) {
        /* full unless something expired; when nothing can have, skip the O(n)
         * sweep so a client hammering a full cache costs O(1) per request */
        if (now_ms <= a->earliest_expiry)
            return NONCE_FULL;
        if (nonce_rebuild(a, now_ms) < 0)
            return NONCE_NOMEM;
        if (a->used >= a->max_nonces)
            return NONCE_FULL;
    }
    if (a->n_slots == 0 || (a->used + 1) * 2 > a->n_slots) {
        if (nonce_rebuild(a, now_ms) < 0)
            return NONCE_NOMEM;
    }
    size_t k = (size_t)digest & (a->n_slots - 1);
    while (slot_live(&a->slots[k], now_ms))
        k = (k + 1) & (a->n_slots - 1);
    if (a->slots[k].expires_ms == 0)
        a->used++;
    a->slots[k].digest = digest;
    a->slots[k].expires_ms = expires_ms;
    if (expires_ms < a->earliest_expiry)
        a->earliest_expiry = expires_ms;
    return NONCE_ADDED;
}

static int nonce_digest(const struct api_auth *a, const char *key_id, struct slice nonce,
                        uint64_t *out)
{
    unsigned char
        in[sizeof(a->salt) + sizeof(((struct api_auth_key *)0)->id) + 1 + API_AUTH_MAX_NONCE_LEN];
    size_t idl = strlen(key_id), n = 0;
    memcpy(in, a->salt, sizeof(a->salt));
    n += sizeof(a->salt);
    memcpy(in + n, key_id, idl + 1); /* the NUL separates id and nonce */
    n += idl + 1;
    memcpy(in + n, nonce.p, nonce.n);
    n += nonce.n;
    unsigned char md[CODEC_SHA256_LEN];
    if (codec_sha256(in, n, md) < 0)
        return -1;
    memcpy(out, md, sizeof(*out));
    return 0;
}

/* ---- verify ------------------------------------------------------------- */

struct authz {
    struct slice credential, signed_headers, signature;
};

static int parse_authorization(struct slice v, struct authz *az, struct frost_err *err)
{
    memset(az, 0, sizeof(*az));
    v = trim(v.p, v.n);
    const char *sp = memchr(v.p, ' ', v.n);
    struct slice alg = {v.p, sp ? (size_t)(sp - v.p) : v.n};
    if (!slice_eq_ci(alg, API_AUTH_ALGORITHM)) {
        char a[48];
        return frost_err_set(err, 400, "IncompleteSignature",
                             "unsupported signature algorithm '%s': Frost accepts only %s",
                             printable(alg, a, sizeof(a)), API_AUTH_ALGORITHM);
    }
    const char *p = v.p + alg.n, *end = v.p + v.n;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *e = c ? c : end;
        struct slice item = trim(p, (size_t)(e - p));
        p = e + 1;
        if (item.n == 0)
            continue;
        const char *eq = memchr(item.p, '=', item.n);
        if (!eq)
            return frost_err_set(err, 400, "IncompleteSignature",
                                 "Authorization: expected Name=Value items separated by ','");
        struct slice name = trim(item.p, (size_t)(eq - item.p));
        struct slice val = trim(eq + 1, (size_t)(item.p + item.n - eq - 1));
        struct slice *dst = slice_eq_ci(name, "Credential")      ? &az->credential
                            : slice_eq_ci(name, "SignedHeaders") ? &az->signed_headers
                            : slice_eq_ci(name, "Signature")     ? &az->signature
                                                                 : NULL;
        if (!dst)
            continue; /* unknown items are not signed over; ignoring them is harmless */
        if (dst->p)
            return frost_err_set(err, 400, "IncompleteSignature",
                                 "Authorization: an item appears twice");
        *dst = val;
        if (val.n == 0)
            dst->p = item.p; /* present but empty: caught below */
    }
    if (!az->credential.n || !az->signed_headers.n || !az->signature.n)
        return frost_err_set(err, 400, "IncompleteSignature",
                             "Authorization: Credential, SignedHeaders and Signature are all "
                             "required, e.g. '%s Credential=ID,SignedHeaders=host;x-acs-date;"
                             "x-acs-signature-nonce,Signature=HEX'",
                             API_AUTH_ALGORITHM);
    return 0;
}

/* Exactly "YYYY-MM-DDTHH:MM:SSZ", the form the SDKs send. */
static int parse_acs_date(struct slice s, int64_t *ms)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (s.n != sizeof(shape) - 1)
        return -1;
    for (size_t i = 0; i < s.n; i++) {
        bool digit = s.p[i] >= '0' && s.p[i] <= '9';
        if (shape[i] == 'd' ? !digit : s.p[i] != shape[i])
            return -1;
    }
    struct tm tm = {0};
    char tmp[sizeof(shape)];
    memcpy(tmp, s.p, s.n);
    tmp[s.n] = '\0';
    tm.tm_year = atoi(tmp) - 1900;
    tm.tm_mon = atoi(tmp + 5) - 1;
    tm.tm_mday = atoi(tmp + 8);
    tm.tm_hour = atoi(tmp + 11);
    tm.tm_min = atoi(tmp + 14);
    tm.tm_sec = atoi(tmp + 17);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    int mday = tm.tm_mday, mon = tm.tm_mon;
    time_t t = timegm(&tm);
    /* timegm moves 02-31 into March: a date that moved did not exist */
    if (t == (time_t)-1 || tm.tm_mday != mday || tm.tm_mon != mon)
        return -1;
    *ms = (int64_t)t * 1000;
    return 0;
}

/* Escapes newlines so the canonical text fits one JSON string readably. */
static void escape_nl(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
        }
    }
    out[o] = '\0';
}

/* "17m03s behind", "2h05m ahead", "6d00h behind": enough to see which clock
 * is off and by how much. */
static void format_skew(int64_t d_ms, char *out, size_t cap)
{
    int64_t s = (d_ms < 0 ? -d_ms : d_ms) / 1000;
    const char *dir = d_ms < 0 ? "behind" : "ahead of";
    if (s >= 86400)
        snprintf(out, cap, "%" PRId64 "d%02" PRId64 "h %s", s / 86400, s % 86400 / 3600, dir);
    else if (s >= 3600)
        snprintf(out, cap, "%" PRId64 "h%02" PRId64 "m %s", s / 3600, s % 3600 / 60, dir);
    else
        snprintf(out, cap, "%" PRId64 "m%02" PRId64 "s %s", s / 60, s % 60, dir);
}

int api_auth_verify(struct api_auth *a, const char *method, const char *raw_path,
                    const char *raw_query, const struct http_header *headers, size_t n_headers,
                    const void *body, size_t body_len, int64_t now_ms, const char **key_id,
                    struct frost_err *err)
{
    if (key_id)
        *key_id = NULL;
    if (n_headers > HTTP_MAX_HEADERS)
        return frost_err_set(err, 431, "InvalidArgument", "too many headers");

    const struct http_header *h_auth, *h_date, *h_nonce, *h_sha;
    if (find_single(headers, n_headers, "authorization", &h_auth) < 0)
        return frost_err_set(err, 400, "IncompleteSignature", "more than one Authorization header");
    if (!h_auth)
        return frost_err_set(err, 401, "MissingAuthorization",
                             "the request is not signed: send an Authorization header (%s), "
                             "e.g. by using an Alibaba Cloud SDK with an access key",
                             API_AUTH_ALGORITHM);
    struct authz az;
    if (parse_authorization((struct slice){h_auth->value, h_auth->value_len}, &az, err) < 0)
        return -1;

    const struct api_auth_key *key = NULL;
    for (size_t i = 0; i < a->n_keys && !key; i++) {
        if (strlen(a->keys[i].id) == az.credential.n &&
            memcmp(a->keys[i].id, az.credential.p, az.credential.n) == 0)
            key = &a->keys[i];
    }
    if (!key) {
        char id[64];
        return frost_err_set(err, 403, "InvalidAccessKeyId",
                             "access key id '%s' is not configured on this server",
                             printable(az.credential, id, sizeof(id)));
    }

    if (find_single(headers, n_headers, "x-acs-date", &h_date) < 0 ||
        find_single(headers, n_headers, "x-acs-signature-nonce", &h_nonce) < 0 ||
        find_single(headers, n_headers, "x-acs-content-sha256", &h_sha) < 0)
        return frost_err_set(err, 400, "InvalidArgument",
                             "x-acs-date, x-acs-signature-nonce and x-acs-content-sha256 may "
                             "each appear only once");
    if (!h_date)
        return frost_err_set(err, 400, "MissingRequiredHeader",
                             "the x-acs-date header is required in a signed request");
    struct slice date = trim(h_date->value, h_date->value_len);
    int64_t date_ms;
    if (parse_acs_date(date, &date_ms) < 0) {
        char d[48];
        return frost_err_set(err, 400, "InvalidArgument",
                             "x-acs-date '%s' is not a UTC time like 2026-11-22T03:45:24Z",
                             printable(date, d, sizeof(d)));
    }
    if (date_ms - now_ms > a->max_skew_ms || now_ms - date_ms > a->max_skew_ms) {
        char sk[48], now_s[32];
        format_skew(date_ms - now_ms, sk, sizeof(sk));
        time_t t = (time_t)(now_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now_s, sizeof(now_s), "%Y-%m-%dT%H:%M:%SZ", &tm);
        char d[24];
        return frost_err_set(err, 403, "RequestTimeTooSkewed",
                             "x-acs-date %s is %s the server time %s; at most %" PRId64
                             " minutes apart are allowed (check the client's clock)",
                             printable(date, d, sizeof(d)), sk, now_s, a->max_skew_ms / 60000);
    }
    if (!h_nonce)
        return frost_err_set(err, 400, "MissingRequiredHeader",
                             "the x-acs-signature-nonce header is required in a signed request");
    struct slice nonce = trim(h_nonce->value, h_nonce->value_len);
    bool nonce_ok = nonce.n > 0 && nonce.n <= API_AUTH_MAX_NONCE_LEN;
    for (size_t i = 0; nonce_ok && i < nonce.n; i++)
        nonce_ok = nonce.p[i] > 0x20 && nonce.p[i] < 0x7f;
    if (!nonce_ok)
        return frost_err_set(err, 400, "InvalidArgument",
                             "x-acs-signature-nonce must be 1 to %d visible ASCII characters",
                             API_AUTH_MAX_NONCE_LEN);

    char payload[CODEC_SHA256_HEX_LEN + 1];
    if (codec_sha256_hex(body ? body : "", body_len, payload) < 0)
        return frost_err_set(err, 500, "InternalError", "SHA-256 failed");
    if (h_sha) {
        struct slice claimed = trim(h_sha->value, h_sha->value_len);
        if (claimed.n != CODEC_SHA256_HEX_LEN ||
            strncasecmp(claimed.p, payload, CODEC_SHA256_HEX_LEN) != 0)
            return frost_err_set(err, 400, "ContentSHA256Mismatch",
                                 "x-acs-content-sha256 does not match the body received (%zu "
                                 "bytes, SHA-256 %s)",
                                 body_len, payload);
    }

    /* SignedHeaders: lower-cased, sorted and de-duplicated before use, so the
     * order the client listed them in does not matter */
    struct slice names[MAX_SIGNED];
    size_t n_names = 0;
    char lower[1024];
    if (az.signed_headers.n > sizeof(lower))
        return frost_err_set(err, 400, "IncompleteSignature", "SignedHeaders is too long");
    for (const char *p = az.signed_headers.p, *end = p + az.signed_headers.n; p < end;) {
        const char *sc = memchr(p, ';', (size_t)(end - p));
        const char *e = sc ? sc : end;
        struct slice nm = trim(p, (size_t)(e - p));
        p = e + 1;
        if (nm.n == 0)
            continue;
        if (n_names == MAX_SIGNED)
            return frost_err_set(err, 400, "IncompleteSignature",
                                 "SignedHeaders lists more than %d headers", MAX_SIGNED);
        names[n_names++] = nm;
    }
    n_names = normalise_names(names, n_names, lower);
    bool has_date = false, has_nonce = false;
    for (size_t i = 0; i < n_names; i++) {
        has_date |= slice_eq_ci(names[i], "x-acs-date");
        has_nonce |= slice_eq_ci(names[i], "x-acs-signature-nonce");
    }
    /* without these signed, a captured request could be replayed with a fresh
     * date or nonce */
    if (!has_date || !has_nonce)
        return frost_err_set(err, 400, "IncompleteSignature",
                             "SignedHeaders must include x-acs-date and x-acs-signature-nonce");

    unsigned char claimed_sig[CODEC_SHA256_LEN];
    size_t claimed_len = 0;
    if (codec_hex_decode(az.signature.p, az.signature.n, claimed_sig, sizeof(claimed_sig),
                         &claimed_len) < 0 ||
        claimed_len != sizeof(claimed_sig))
        return frost_err_set(err, 400, "IncompleteSignature",
                             "Signature must be 64 hex digits (HMAC-SHA256)");

    struct canon_in in = {
        .method = method,
        .path = raw_path,
        .query = raw_query,
        .headers = headers,
        .n_headers = n_headers,
        .signed_names = names,
        .n_signed = n_names,
        .payload_hex = payload,
    };
    /* the documented form first; the SDKs' bare "name" for empty query values
     * only when there are such values */
    struct buf creq = BUF_INIT(CANON_LIMIT), alt = BUF_INIT(CANON_LIMIT);
    char sts[STS_LEN + 1], alt_sts[STS_LEN + 1];
    unsigned char mac[CODEC_SHA256_LEN];
    bool has_empty = false, match = false;
    int rc = -1;
    if (build_canonical(&creq, &in, false, &has_empty, err) < 0 ||
        sign_canonical(key->secret, &creq, sts, mac, err) < 0)
        goto out;
    match = CRYPTO_memcmp(mac, claimed_sig, sizeof(mac)) == 0;
    if (!match && has_empty) {
        if (build_canonical(&alt, &in, true, &has_empty, err) < 0 ||
            sign_canonical(key->secret, &alt, alt_sts, mac, err) < 0)
            goto out;
        match = CRYPTO_memcmp(mac, claimed_sig, sizeof(mac)) == 0;
    }
    if (!match) {
        char sts_e[2 * STS_LEN], creq_e[FROST_ERR_MSG_MAX];
        escape_nl(sts, strlen(sts), sts_e, sizeof(sts_e));
        escape_nl(creq.data, creq.len, creq_e, sizeof(creq_e));
        frost_err_set(err, 403, "SignatureNotMatch",
                      "the request signature does not match. Server StringToSign: \"%s\" "
                      "CanonicalRequest: \"%s\"",
                      sts_e, creq_e);
        goto out;
    }
    rc = 0;
out:
    buf_free(&creq);
    buf_free(&alt);
    if (rc < 0)
        return -1;

    uint64_t digest;
    if (nonce_digest(a, key->id, nonce, &digest) < 0)
        return frost_err_set(err, 500, "InternalError", "SHA-256 failed");
    int64_t expires = date_ms + a->max_skew_ms;
    switch (nonce_add(a, digest, expires != 0 ? expires : 1, now_ms)) {
    case NONCE_SEEN:
        return frost_err_set(err, 403, "SignatureNonceUsed",
                             "x-acs-signature-nonce was already used; every request needs a "
                             "fresh nonce");
    case NONCE_FULL:
        return frost_err_set(err, 429, "TooManyRequests",
                             "too many signed requests in %" PRId64
                             " minutes (%zu nonces remembered); retry later",
                             a->max_skew_ms / 60000, a->max_nonces);
    case NONCE_NOMEM:
        return frost_err_set(err, 500, "InternalError", "out of memory in the nonce cache");
    default:
        break;
    }
    if (key_id)
        *key_id = key->id;
    return 0;
}

/* ---- sign --------------------------------------------------------------- */

/* Bump allocator over api_auth_signature.storage. */
struct store {
    char *p;
    size_t cap, len;
};

static const char *store_put(struct store *s, const char *str, size_t n)
{
    if (n + 1 > s->cap - s->len)
        return NULL;
    char *d = s->p + s->len;
    memcpy(d, str, n);
    d[n] = '\0';
    s->len += n + 1;
    return d;
}

static bool is_signed_name(const char *n, size_t len)
{
    return (len == 4 && strncasecmp(n, "host", 4) == 0) ||
           (len == 12 && strncasecmp(n, "content-type", 12) == 0) ||
           (len >= 6 && strncasecmp(n, "x-acs-", 6) == 0);
}

static int add_out(struct api_auth_signature *out, struct store *st, const char *name,
                   const char *value, size_t value_len)
{
    const char *n = store_put(st, name, strlen(name));
    const char *v = n ? store_put(st, value, value_len) : NULL;
    if (!v || out->n_headers == API_AUTH_SIGN_MAX_HEADERS)
        return -1;
    out->headers[out->n_headers++] = (struct http_header){n, strlen(n), v, value_len};
    return 0;
}

int api_auth_sign(const struct api_auth_key *key, const char *method, const char *path,
                  const char *query, const struct http_header *headers, size_t n_headers,
                  const void *body, size_t body_len, int64_t now_ms, struct api_auth_signature *out,
                  struct frost_err *err)
{
    memset(out, 0, sizeof(*out));
    if (check_key(key, 0, err) < 0)
        return -1;
    if (n_headers > HTTP_MAX_HEADERS)
        return frost_err_set(err, 400, "InvalidArgument", "more than %d headers to sign",
                             HTTP_MAX_HEADERS);
    const struct http_header *h;
    if (find_single(headers, n_headers, "authorization", &h) < 0 || h)
        return frost_err_set(err, 400, "InvalidArgument",
                             "the request already carries an Authorization header");
    const struct http_header *h_ver, *h_date, *h_nonce, *h_sha;
    if (find_single(headers, n_headers, "x-acs-version", &h_ver) < 0 ||
        find_single(headers, n_headers, "x-acs-date", &h_date) < 0 ||
        find_single(headers, n_headers, "x-acs-signature-nonce", &h_nonce) < 0 ||
        find_single(headers, n_headers, "x-acs-content-sha256", &h_sha) < 0)
        return frost_err_set(err, 400, "InvalidArgument", "an x-acs-* header is repeated");

    char payload[CODEC_SHA256_HEX_LEN + 1];
    if (codec_sha256_hex(body ? body : "", body_len, payload) < 0)
        return frost_err_set(err, 500, "InternalError", "SHA-256 failed");
    if (h_sha) {
        struct slice v = trim(h_sha->value, h_sha->value_len);
        if (v.n != CODEC_SHA256_HEX_LEN || strncasecmp(v.p, payload, v.n) != 0)
            return frost_err_set(err, 400, "InvalidArgument",
                                 "x-acs-content-sha256 given does not match the body");
    }

    struct store st = {out->storage, sizeof(out->storage), 0};
    int rc = 0;
    if (!h_ver)
        rc |=
            add_out(out, &st, "x-acs-version", API_AUTH_API_VERSION, strlen(API_AUTH_API_VERSION));
    if (!h_date) {
        char d[32];
        time_t t = (time_t)(now_ms / 1000);
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            return frost_err_set(err, 400, "InvalidArgument", "clock value out of range");
        rc |= add_out(out, &st, "x-acs-date", d, strlen(d));
    }
    if (!h_nonce) {
        unsigned char r[32];
        char hex[2 * sizeof(r) + 1];
        if (RAND_bytes(r, sizeof(r)) != 1)
            return frost_err_set(err, 500, "InternalError", "no randomness for the nonce");
        codec_hex_encode(r, sizeof(r), hex);
        rc |= add_out(out, &st, "x-acs-signature-nonce", hex, strlen(hex));
    }
    if (!h_sha)
        rc |= add_out(out, &st, "x-acs-content-sha256", payload, CODEC_SHA256_HEX_LEN);
    if (rc != 0)
        return frost_err_set(err, 400, "InvalidArgument", "signature headers do not fit");

    /* the full set the request will carry, minus Authorization */
    struct http_header all[HTTP_MAX_HEADERS + API_AUTH_SIGN_MAX_HEADERS];
    size_t n_all = 0;
    for (size_t i = 0; i < n_headers; i++)
        all[n_all++] = headers[i];
    for (size_t i = 0; i < out->n_headers; i++)
        all[n_all++] = out->headers[i];

    struct slice names[MAX_SIGNED];
    size_t n_names = 0, names_len = 0;
    for (size_t i = 0; i < n_all; i++) {
        if (!is_signed_name(all[i].name, all[i].name_len))
            continue;
        if (n_names == MAX_SIGNED)
            return frost_err_set(err, 400, "InvalidArgument", "more than %d headers to sign",
                                 MAX_SIGNED);
        names[n_names++] = (struct slice){all[i].name, all[i].name_len};
        names_len += all[i].name_len;
    }
    char lower[MAX_SIGNED * 64];
    if (names_len > sizeof(lower))
        return frost_err_set(err, 400, "InvalidArgument", "header names too long to sign");
    n_names = normalise_names(names, n_names, lower);

    struct canon_in in = {
        .method = method,
        .path = path,
        .query = query,
        .headers = all,
        .n_headers = n_all,
        .signed_names = names,
        .n_signed = n_names,
        .payload_hex = payload,
    };
    struct buf creq = BUF_INIT(CANON_LIMIT);
    char sts[STS_LEN + 1];
    unsigned char mac[CODEC_SHA256_LEN];
    bool has_empty;
    if (build_canonical(&creq, &in, false, &has_empty, err) < 0 ||
        sign_canonical(key->secret, &creq, sts, mac, err) < 0) {
        buf_free(&creq);
        return -1;
    }
    buf_free(&creq);

    char sig[2 * CODEC_SHA256_LEN + 1];
    codec_hex_encode(mac, sizeof(mac), sig);
    struct buf az = BUF_INIT(sizeof(out->storage));
    if (buf_printf(&az, "%s Credential=%s,SignedHeaders=", API_AUTH_ALGORITHM, key->id) < 0)
        goto too_big;
    for (size_t i = 0; i < n_names; i++) {
        if ((i > 0 && buf_append(&az, ";", 1) < 0) || buf_append(&az, names[i].p, names[i].n) < 0)
            goto too_big;
    }
    if (buf_printf(&az, ",Signature=%s", sig) < 0 ||
        add_out(out, &st, "Authorization", az.data, az.len) < 0)
        goto too_big;
    buf_free(&az);
    return 0;
too_big:
    buf_free(&az);
    return frost_err_set(err, 400, "InvalidArgument", "Authorization header does not fit");
}
