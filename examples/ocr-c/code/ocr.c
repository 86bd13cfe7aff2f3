/*
 * ocr: an FC custom-runtime function, in C, that reads the text in an image with Tesseract.
 *
 * A small single-threaded HTTP/1.1 server (POSIX sockets and poll) on FC_SERVER_PORT:
 *
 *   POST /initialize   loads the Tesseract model (language OCR_LANG, default "eng")
 *   POST /invoke       body = a PNG (or any image Leptonica reads); answers
 *                      {"text": "...", "confidence": N, "ms": T, "width": W, "height": H}
 *   POST <any path>    the same, for requests through the HTTP trigger
 *   GET  /pre-stop     200
 *   GET  <any path>    {"initialized": ..., "requests": N, ...}
 *
 * Requests are answered one at a time (the function's instanceConcurrency is 1): OCR runs on
 * the loop's only thread and other connections wait for it. Keep-alive, pipelining,
 * Content-Length and chunked bodies and Expect: 100-continue are supported, because Frost
 * (or curl) may use any of them; malformed requests get a 4xx and the connection is closed.
 *
 * Build with the example's Makefile (`make -C examples/ocr-c`) or code/build.sh.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <allheaders.h>
#include <tesseract/capi.h>

#define MAX_CONNS       64
#define MAX_HEAD        (64 * 1024)        /* request line + headers; larger: 431 */
#define MAX_BODY        (32 * 1024 * 1024) /* larger: 413 */
#define MAX_PIXELS      (64 * 1024 * 1024) /* a 100-byte PNG can claim 60000x60000: refuse */
#define READ_SIZE       (64 * 1024)
#define DEBIAN_TESSDATA "/usr/share/tesseract-ocr/5/tessdata" /* tesseract-ocr-eng */

/* ------------------------------------------------------------------ buffers */

struct buf {
    char *data;
    size_t len, cap;
};

/* Out of memory is not worth recovering from in a function: the platform restarts it. */
static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fprintf(stderr, "ocr: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    buf_reserve(b, 256); /* what every caller here prints: one pass */
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if ((size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

static void buf_consume(struct buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    *b = (struct buf){0};
}

/* A JSON string literal. Tesseract's output is UTF-8, which JSON carries as it is. */
static void json_str(struct buf *b, const char *s)
{
    buf_append(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            buf_append(b, esc, 2);
        } else if (ch == '\n') {
            buf_append(b, "\\n", 2);
        } else if (ch == '\t') {
            buf_append(b, "\\t", 2);
        } else if (ch < 0x20) {
            buf_printf(b, "\\u%04x", ch);
        } else {
            buf_append(b, s, 1);
        }
    }
    buf_append(b, "\"", 1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ OCR */

static TessBaseAPI *tess;     /* NULL until the model is loaded */
static const char *tess_lang; /* OCR_LANG */
static const char *tess_path; /* the tessdata directory given to Tesseract, or NULL */
static unsigned long requests;

/* TESSDATA_PREFIX wins (Tesseract's own convention); else Debian's tesseract-ocr-eng
 * location; else NULL, which lets Tesseract use its compiled-in default. */
static const char *tessdata_dir(void)
{
    const char *env = getenv("TESSDATA_PREFIX");
    struct stat st;
    if (env != NULL && *env != '\0')
        return env;
    if (stat(DEBIAN_TESSDATA, &st) == 0 && S_ISDIR(st.st_mode))
        return DEBIAN_TESSDATA;
    return NULL;
}

/* Loads the model once; false (with a reason in err) when Tesseract cannot. */
static bool ocr_init(char *err, size_t errlen)
{
    if (tess != NULL)
        return true;
    double t0 = now_ms();
    tess = TessBaseAPICreate();
    if (TessBaseAPIInit3(tess, tess_path, tess_lang) != 0) {
        TessBaseAPIDelete(tess);
        tess = NULL;
        snprintf(err, errlen, "could not load Tesseract language \"%s\" from %s", tess_lang,
                 tess_path ? tess_path : "Tesseract's default tessdata directory");
        fprintf(stderr, "ocr: %s\n", err);
        return false;
    }
    /* Tesseract prints chatter ("Estimating resolution as ...") for every image without a
     * DPI; keep the instance log for what matters. Set after Init so that Init's own
     * errors (a missing traineddata file) still reach the log. */
    TessBaseAPISetVariable(tess, "debug_file", "/dev/null");
    fprintf(stderr, "ocr: loaded \"%s\" from %s in %.0f ms\n", tess_lang,
            tess_path ? tess_path : "(default)", now_ms() - t0);
    return true;
}

/* ------------------------------------------------------------------ HTTP */

struct conn {
    int fd;         /* -1: free slot */
    struct buf in;  /* received, not yet answered */
    struct buf out; /* to send, from out_off */
    size_t out_off;
    bool continue_sent; /* "100 Continue" sent for the request at the front of `in` */
    bool closing;       /* close once `out` is sent; read nothing more */
};

struct request {
    const char *method, *target;
    size_t method_len, target_len;
    bool keep_alive, expect_continue, chunked, head_done;
    size_t content_length, head_len, total_len; /* total_len: head + body as received */
    const char *body;
    size_t body_len;
    struct buf decoded; /* a chunked body, reassembled */
};

enum parse { PARSE_MORE, PARSE_DONE, PARSE_ERROR };

struct parse_error {
    int status;
    const char *why;
};

static enum parse fail(struct parse_error *e, int status, const char *why)
{
    e->status = status;
    e->why = why;
    return PARSE_ERROR;
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

static bool equals(const char *s, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* Whether a comma-separated header value (Connection) holds a token. */
static bool has_token(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tl && strncasecmp(v + start, token, tl) == 0)
            return true;
    }
    return false;
}

/* Walks a chunked body at p (len bytes): PARSE_MORE until the last chunk and trailers are
 * in, then *used is its length on the wire. With out, the data is also copied there; the
 * caller walks once without it to learn that the body is complete, so a body arriving in
 * many reads is not copied again on each one. */
static enum parse walk_chunked(const char *p, size_t len, struct buf *out, size_t *used,
                               struct parse_error *e)
{
    size_t i = 0, total = 0;
    for (;;) {
        const char *eol = memmem(p + i, len - i, "\r\n", 2);
        if (eol == NULL)
            return len - i > 1024 ? fail(e, 400, "chunk size line too long") : PARSE_MORE;
        size_t size = 0;
        const char *q = p + i;
        if (q == eol || !isxdigit((unsigned char)*q))
            return fail(e, 400, "bad chunk size");
        for (; q < eol && isxdigit((unsigned char)*q); q++) {
            size = size * 16 +
                   (size_t)(isdigit((unsigned char)*q) ? *q - '0' : (tolower(*q) - 'a' + 10));
            if (size > MAX_BODY)
                return fail(e, 413, "body too large");
        }
        if (q < eol && *q != ';' && *q != ' ' && *q != '\t')
            return fail(e, 400, "bad chunk size");
        i = (size_t)(eol - p) + 2;
        if (size == 0)
            break;
        if ((total += size) > MAX_BODY)
            return fail(e, 413, "body too large");
        if (len - i < size + 2)
            return PARSE_MORE;
        if (p[i + size] != '\r' || p[i + size + 1] != '\n')
            return fail(e, 400, "chunk not followed by CRLF");
        if (out != NULL)
            buf_append(out, p + i, size);
        i += size + 2;
    }
    for (;;) { /* trailers, up to an empty line; read and dropped */
        const char *eol = memmem(p + i, len - i, "\r\n", 2);
        if (eol == NULL)
            return len - i > MAX_HEAD ? fail(e, 431, "trailers too large") : PARSE_MORE;
        size_t n = (size_t)(eol - (p + i));
        i += n + 2;
        if (n == 0)
            break;
    }
    *used = i;
    return PARSE_DONE;
}

/* Parses the request at the front of p. PARSE_MORE may come with r->head_done (the head is
 * in, the body is not yet), which is when a "100 Continue" is due. */
static enum parse parse_request(const char *p, size_t len, struct request *r, struct parse_error *e)
{
    const char *end = memmem(p, len, "\r\n\r\n", 4);
    if (end == NULL)
        return len > MAX_HEAD ? fail(e, 431, "request head too large") : PARSE_MORE;
    r->head_len = (size_t)(end - p) + 4;
    if (r->head_len > MAX_HEAD)
        return fail(e, 431, "request head too large");

    /* Request line: METHOD SP TARGET SP HTTP/1.x */
    const char *eol = memmem(p, r->head_len, "\r\n", 2);
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == p || sp2 == sp1 + 1 || eol - sp2 - 1 != 8 ||
        strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        return fail(e, 400, "bad request line");
    r->method = p;
    r->method_len = (size_t)(sp1 - p);
    r->target = sp1 + 1;
    r->target_len = (size_t)(sp2 - sp1 - 1);
    r->keep_alive = sp2[8] == '1'; /* HTTP/1.1 keeps the connection unless told not to */

    bool have_length = false;
    for (const char *line = eol + 2; line < end + 2;) {
        const char *le = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (colon == NULL || colon == line || memchr(line, ' ', (size_t)(colon - line)) ||
            memchr(line, '\t', (size_t)(colon - line)))
            return fail(e, 400, "bad header line");
        const char *name = line, *v = colon + 1, *ve = le;
        size_t nlen = (size_t)(colon - line);
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vlen = (size_t)(ve - v);
        if (name_is(name, nlen, "content-length")) {
            size_t n = 0;
            if (vlen == 0)
                return fail(e, 400, "bad Content-Length");
            for (const char *q = v; q < ve; q++) {
                if (!isdigit((unsigned char)*q))
                    return fail(e, 400, "bad Content-Length");
                n = n * 10 + (size_t)(*q - '0');
                if (n > MAX_BODY)
                    return fail(e, 413, "body too large");
            }
            if (have_length && n != r->content_length)
                return fail(e, 400, "conflicting Content-Length headers");
            have_length = true;
            r->content_length = n;
        } else if (name_is(name, nlen, "transfer-encoding")) {
            if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
                return fail(e, 501, "unsupported Transfer-Encoding");
            r->chunked = true;
        } else if (name_is(name, nlen, "connection")) {
            if (has_token(v, vlen, "close"))
                r->keep_alive = false;
            else if (has_token(v, vlen, "keep-alive"))
                r->keep_alive = true;
        } else if (name_is(name, nlen, "expect")) {
            if (vlen == 12 && strncasecmp(v, "100-continue", 12) == 0)
                r->expect_continue = true;
        }
        line = le + 2;
    }
    /* Both framings at once is how requests get smuggled past proxies: refuse. */
    if (have_length && r->chunked)
        return fail(e, 400, "both Content-Length and Transfer-Encoding");
    r->head_done = true;

    if (r->chunked) {
        size_t used;
        enum parse st = walk_chunked(p + r->head_len, len - r->head_len, NULL, &used, e);
        if (st != PARSE_DONE)
            return st;
        walk_chunked(p + r->head_len, len - r->head_len, &r->decoded, &used, e);
        r->body = r->decoded.data;
        r->body_len = r->decoded.len;
        r->total_len = r->head_len + used;
        return PARSE_DONE;
    }
    if (len - r->head_len < r->content_length)
        return PARSE_MORE;
    r->body = p + r->head_len;
    r->body_len = r->content_length;
    r->total_len = r->head_len + r->content_length;
    return PARSE_DONE;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    default:
        return "Unknown";
    }
}

static const char *error_code(int status)
{
    switch (status) {
    case 413:
        return "BodyTooLarge";
    case 431:
        return "HeadersTooLarge";
    case 501:
        return "NotImplemented";
    default:
        return "BadRequest";
    }
}

/* Queues a JSON answer. For HEAD, the head only (with the length GET would have). */
static void respond(struct conn *c, bool keep_alive, bool head_only, int status,
                    const struct buf *json)
{
    buf_printf(&c->out,
               "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
               status, reason(status), json->len + 1, keep_alive ? "" : "Connection: close\r\n");
    if (!head_only) {
        buf_append(&c->out, json->data, json->len);
        buf_append(&c->out, "\n", 1);
    }
    if (!keep_alive)
        c->closing = true;
}

static void respond_error(struct conn *c, bool keep_alive, int status, const char *code,
                          const char *message)
{
    struct buf j = {0};
    buf_printf(&j, "{\"error\": ");
    json_str(&j, code);
    buf_printf(&j, ", \"message\": ");
    json_str(&j, message);
    buf_printf(&j, "}");
    respond(c, keep_alive, false, status, &j);
    buf_free(&j);
}

/* ------------------------------------------------------------------ handlers */

static void handle_initialize(struct conn *c, const struct request *r)
{
    char err[512];
    double t0 = now_ms();
    bool was_loaded = tess != NULL;
    if (!ocr_init(err, sizeof err)) {
        /* A non-2xx fails the instance start, which is right: it cannot do its job. */
        respond_error(c, r->keep_alive, 500, "ModelLoadFailed", err);
        return;
    }
    struct buf j = {0};
    buf_printf(&j, "{\"initialized\": true, \"alreadyLoaded\": %s, \"lang\": ",
               was_loaded ? "true" : "false");
    json_str(&j, tess_lang);
    buf_printf(&j, ", \"tessdata\": ");
    json_str(&j, tess_path ? tess_path : "");
    buf_printf(&j, ", \"ms\": %.1f}", now_ms() - t0);
    respond(c, r->keep_alive, false, 200, &j);
    buf_free(&j);
}

static void handle_ocr(struct conn *c, const struct request *r)
{
    char err[512];
    const l_uint8 *data = (const l_uint8 *)r->body;
    l_int32 format, w = 0, h = 0, bps, spp, iscmap;

    requests++;
    if (r->body_len == 0) {
        respond_error(c, r->keep_alive, 400, "EmptyBody", "POST an image (PNG) as the body");
        return;
    }
    /* The header alone first: refuse what is not an image, or too big to decode, before
     * Leptonica allocates anything. (Its format sniffing reads 12 bytes, whatever the size.) */
    if (r->body_len < 12 ||
        pixReadHeaderMem(data, r->body_len, &format, &w, &h, &bps, &spp, &iscmap) != 0) {
        respond_error(c, r->keep_alive, 400, "NotAnImage",
                      "the body is not a PNG (or another image format Leptonica reads)");
        return;
    }
    if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > MAX_PIXELS) {
        snprintf(err, sizeof err, "image is %dx%d; at most %d pixels are read", w, h, MAX_PIXELS);
        respond_error(c, r->keep_alive, 400, "ImageTooLarge", err);
        return;
    }
    if (!ocr_init(err, sizeof err)) { /* /invoke before /initialize: load lazily */
        respond_error(c, r->keep_alive, 500, "ModelLoadFailed", err);
        return;
    }

    double t0 = now_ms();
    PIX *pix = pixReadMem(data, r->body_len);
    if (pix == NULL) {
        respond_error(c, r->keep_alive, 400, "NotAnImage", "the image could not be decoded");
        return;
    }
    TessBaseAPISetImage2(tess, pix);
    char *text = TessBaseAPIRecognize(tess, NULL) == 0 ? TessBaseAPIGetUTF8Text(tess) : NULL;
    int conf = text ? TessBaseAPIMeanTextConf(tess) : 0;
    double ms = now_ms() - t0;
    TessBaseAPIClear(tess); /* drops the results and Tesseract's reference to pix */
    pixDestroy(&pix);
    if (text == NULL) {
        respond_error(c, r->keep_alive, 500, "RecognitionFailed", "Tesseract failed on the image");
        return;
    }

    size_t n = strlen(text); /* Tesseract ends every line with '\n'; the last is noise */
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        text[--n] = '\0';
    struct buf j = {0};
    buf_printf(&j, "{\"text\": ");
    json_str(&j, text);
    buf_printf(&j, ", \"confidence\": %d, \"ms\": %.1f, \"width\": %d, \"height\": %d}", conf, ms,
               w, h);
    respond(c, r->keep_alive, false, 200, &j);
    buf_free(&j);
    TessDeleteText(text);
}

static void handle_status(struct conn *c, const struct request *r, bool head_only)
{
    const char *fn = getenv("FC_FUNCTION_NAME"), *inst = getenv("FC_INSTANCE_ID");
    struct buf j = {0};
    buf_printf(&j, "{\"function\": ");
    json_str(&j, fn ? fn : "");
    buf_printf(&j, ", \"instance\": ");
    json_str(&j, inst ? inst : "");
    buf_printf(&j, ", \"initialized\": %s, \"lang\": ", tess ? "true" : "false");
    json_str(&j, tess_lang);
    buf_printf(&j, ", \"requests\": %lu, \"usage\": \"POST a PNG to /invoke\"}", requests);
    respond(c, r->keep_alive, head_only, 200, &j);
    buf_free(&j);
}

static void handle(struct conn *c, const struct request *r)
{
    size_t plen = r->target_len;
    const char *q = memchr(r->target, '?', r->target_len);
    if (q != NULL)
        plen = (size_t)(q - r->target);
    bool get = equals(r->method, r->method_len, "GET");
    bool post = equals(r->method, r->method_len, "POST");
    bool head = equals(r->method, r->method_len, "HEAD");
    bool path_init = equals(r->target, plen, "/initialize");
    bool path_prestop = equals(r->target, plen, "/pre-stop");

    if (post && path_init) {
        handle_initialize(c, r);
    } else if (get && path_prestop) {
        struct buf j = {0};
        buf_printf(&j, "{\"ok\": true, \"requests\": %lu}", requests);
        respond(c, r->keep_alive, false, 200, &j);
        buf_free(&j);
    } else if (post) {
        handle_ocr(c, r);
    } else if (get || head) {
        handle_status(c, r, head);
    } else {
        respond_error(c, r->keep_alive, 405, "MethodNotAllowed", "use POST (or GET for status)");
    }
}

/* ------------------------------------------------------------------ connections */

static struct conn conns[MAX_CONNS];
static volatile sig_atomic_t stopping;

static void conn_close(struct conn *c)
{
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    *c = (struct conn){.fd = -1};
}

/* Answers the complete requests at the front of c->in, in order, stopping while an answer
 * is still unsent (so a client that pipelines but does not read is not buffered for). */
static void conn_process(struct conn *c)
{
    while (!c->closing && c->out.len == 0 && c->in.len > 0) {
        struct request r = {0};
        struct parse_error e = {0};
        enum parse st = parse_request(c->in.data, c->in.len, &r, &e);
        if (st == PARSE_ERROR) {
            /* The framing is lost: answer, then close without reading further. */
            respond_error(c, false, e.status, error_code(e.status), e.why);
            c->in.len = 0;
        } else if (st == PARSE_MORE) {
            if (r.head_done && r.expect_continue && !c->continue_sent) {
                buf_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                c->continue_sent = true;
            }
            buf_free(&r.decoded);
            return;
        } else {
            handle(c, &r);
            buf_free(&r.decoded);
            buf_consume(&c->in, r.total_len);
            c->continue_sent = false;
        }
    }
}

/* Sends what is queued; closes the connection on errors or when done with it. */
static void conn_flush(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* poll says when there is room */
        if (n < 0) {
            conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    c->out.len = c->out_off = 0;
    if (c->closing) {
        conn_close(c);
        return;
    }
    /* A "100 Continue" was all there was to send; pipelined requests may be waiting. */
    conn_process(c);
    if (c->out.len > 0)
        conn_flush(c);
}

/* One read per wakeup, then parse: a request is refused (413) as soon as its head is in,
 * rather than after reading everything the client sends. */
static void conn_read(struct conn *c)
{
    buf_reserve(&c->in, READ_SIZE);
    ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        /* The peer is gone (or half-closed): answer what it fully sent, then close. */
        conn_process(c);
        c->closing = true;
        conn_flush(c);
        return;
    }
    c->in.len += (size_t)n;
    conn_process(c);
    conn_flush(c);
}

static void accept_all(int lfd)
{
    for (;;) {
        struct conn *c = NULL;
        for (int i = 0; i < MAX_CONNS && c == NULL; i++)
            if (conns[i].fd < 0)
                c = &conns[i];
        if (c == NULL)
            return; /* full: the rest wait in the backlog until a connection closes */
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "ocr: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        *c = (struct conn){.fd = fd};
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0) {
        fprintf(stderr, "ocr: cannot listen on port %d: %s\n", port, strerror(errno));
        exit(1);
    }
    return fd;
}

int main(void)
{
    const char *port_s = getenv("FC_SERVER_PORT");
    if (port_s == NULL || *port_s == '\0')
        port_s = getenv("FC_CUSTOM_LISTEN_PORT");
    long port = 9000; /* FC's default, for running it by hand */
    if (port_s != NULL && *port_s != '\0') {
        char *end;
        port = strtol(port_s, &end, 10);
        if (*end != '\0' || port < 1 || port > 65535) {
            fprintf(stderr, "ocr: FC_SERVER_PORT=%s is not a port\n", port_s);
            return 2;
        }
    }
    tess_lang = getenv("OCR_LANG") && *getenv("OCR_LANG") ? getenv("OCR_LANG") : "eng";
    tess_path = tessdata_dir();
    /* Bad input is the client's problem, reported in the answer: Leptonica need not also
     * print "Error in pixReadMem..." for it. */
    setMsgSeverity(L_SEVERITY_NONE);

    /* SIGTERM (Frost's stop) is blocked except inside ppoll, so it cannot slip in between
     * checking `stopping` and going to sleep. */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;
    int lfd = listen_on((int)port);
    fprintf(stderr, "ocr: listening on %ld (language %s, tessdata %s)\n", port, tess_lang,
            tess_path ? tess_path : "(default)");

    struct pollfd pfds[1 + MAX_CONNS];
    int slot[1 + MAX_CONNS];
    while (!stopping) {
        int n = 0, used = 0;
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &conns[i];
            if (c->fd < 0)
                continue;
            used++;
            slot[n] = i;
            pfds[n++] = (struct pollfd){
                .fd = c->fd, .events = (short)(c->out.len > c->out_off ? POLLOUT : POLLIN)};
        }
        slot[n] = -1;
        pfds[n++] = (struct pollfd){.fd = lfd, .events = used < MAX_CONNS ? POLLIN : 0};
        if (ppoll(pfds, (nfds_t)n, NULL, &waitmask) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "ocr: poll: %s\n", strerror(errno));
            return 1;
        }
        for (int k = 0; k < n; k++) {
            if (pfds[k].revents == 0)
                continue;
            if (slot[k] < 0) {
                accept_all(lfd);
                continue;
            }
            struct conn *c = &conns[slot[k]];
            if (pfds[k].revents & POLLOUT)
                conn_flush(c);
            else
                conn_read(c); /* also reads the EOF or error behind POLLHUP/POLLERR */
        }
    }

    fprintf(stderr, "ocr: stopping after %lu requests\n", requests);
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
    close(lfd);
    if (tess != NULL) {
        TessBaseAPIEnd(tess);
        TessBaseAPIDelete(tess);
    }
    return 0;
}
