/* The CLI's FC API client: settings, signing, libcurl, error messages. */
#include <getopt.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "api/auth.h"
#include "base/buf.h"
#include "base/clock.h"
#include "cli/client.h"

#define CONFIG_MAX_BYTES (64 * 1024)
#define LOCAL_ADDR_FILE  "frost-data/frost.addr"

struct cli_client {
    CURL *curl;
    char endpoint[1024];  /* as resolved, for messages */
    char base_url[1024];  /* scheme://authority, no trailing "/" */
    char host[512];       /* Host header (signed) */
    char unix_path[4096]; /* "" unless unix: */
    bool loopback;        /* unix socket or a loopback host */
    char from[64];        /* where the endpoint came from, for messages */
    bool has_key;
    struct api_auth_key key;
    char errbuf[CURL_ERROR_SIZE];
};

bool cli_flags_take(struct cli_flags *f, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_ENDPOINT:
        f->endpoint = arg;
        return true;
    case CLI_OPT_KEY_ID:
        f->key_id = arg;
        return true;
    case CLI_OPT_KEY_SECRET:
        f->key_secret = arg;
        return true;
    default:
        return false;
    }
}

void cli_print_error(const struct frost_err *err)
{
    fprintf(stderr, "frost: %s\n", err->msg[0] ? err->msg : "unknown error");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "frost %s: %s; see `frost %s --help`\n", cmd, msg, cmd);
    return CLI_EXIT_USAGE;
}

bool cli_confirm(const char *question, bool *no_tty)
{
    *no_tty = !isatty(STDIN_FILENO);
    if (*no_tty)
        return false;
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    char line[32];
    if (!fgets(line, sizeof(line), stdin))
        return false;
    line[strcspn(line, "\r\n")] = 0;
    return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

static int read_small_file(const char *path, struct buf *out, struct frost_err *err);

int cli_json_arg(const char *arg, const char *what, json_t **out, struct frost_err *err)
{
    const char *p = arg;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    json_error_t je;
    if (*p == '[' || *p == '{') {
        *out = json_loads(p, JSON_REJECT_DUPLICATES, &je);
        if (!*out)
            return frost_err_set(err, 400, "InvalidArgument", "%s: not valid JSON: %s (column %d)",
                                 what, je.text, je.column);
        return 0;
    }
    struct buf text = BUF_INIT((1u << 20) + 4096);
    int rc = read_small_file(arg, &text, err);
    if (rc != 0) {
        buf_free(&text);
        if (rc > 0)
            return frost_err_set(err, 400, "InvalidArgument",
                                 "%s: %s: no such file (give a file or inline JSON)", what, arg);
        err->status = 400;
        snprintf(err->code, sizeof(err->code), "InvalidArgument");
        return frost_err_prefix(err, "%s", what);
    }
    *out = json_loadb(text.data ? text.data : "", text.len, JSON_REJECT_DUPLICATES, &je);
    buf_free(&text);
    if (!*out)
        return frost_err_set(err, 400, "InvalidArgument", "%s: %s:%d: not valid JSON: %s", what,
                             arg, je.line, je.text);
    return 0;
}

/* ---- settings ------------------------------------------------------------- */

struct settings {
    char endpoint[1024];
    const char *endpoint_from; /* for messages */
    char key_id[sizeof(((struct api_auth_key *)0)->id)];
    char key_secret[sizeof(((struct api_auth_key *)0)->secret)];
    bool has_id, has_secret;
};

static const char *env_get(char *const *envp, const char *name)
{
    size_t len = strlen(name);
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

static int copy_setting(char *dst, size_t cap, const char *v, const char *what, const char *from,
                        struct frost_err *err)
{
    size_t len = strlen(v);
    if (len >= cap)
        return frost_err_set(err, 400, "InvalidConfig", "%s (from %s): longer than %zu bytes", what,
                             from, cap - 1);
    memcpy(dst, v, len + 1);
    return 0;
}

/* Reads a whole file into out, whose limit is the size allowed plus 4096
 * (the room one read asks for). 1 when the file does not exist. */
static int read_small_file(const char *path, struct buf *out, struct frost_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1
                               : frost_err_set(err, 400, "InvalidConfig", "%s: cannot open: %s",
                                               path, strerror(errno));
    if (buf_read_fd(out, fd) == 0)
        return 0;
    if (errno == EMSGSIZE)
        return frost_err_set(err, 400, "InvalidConfig", "%s: larger than %zu bytes", path,
                             out->limit);
    return frost_err_set(err, 400, "InvalidConfig", "%s: cannot read: %s", path, strerror(errno));
}

/* ~/.frost/config: a YAML mapping of endpoint, access_key_id and
 * access_key_secret. Only keys not already set (by flags or environment)
 * are taken. A missing file is fine. */
static int load_config_file(struct settings *s, char *const *envp, struct frost_err *err)
{
    const char *home = env_get(envp, "HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return 0;
    char path[4096];
    snprintf(path, sizeof(path), "%s/.frost/config", home);
    struct buf text = BUF_INIT(CONFIG_MAX_BYTES + 4096);
    int rc = read_small_file(path, &text, err);
    if (rc != 0) {
        buf_free(&text);
        return rc < 0 ? -1 : 0;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) {
        buf_free(&text);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)(text.data ? text.data : ""), text.len);
    if (!yaml_parser_load(&p, &doc)) {
        frost_err_set(err, 400, "InvalidConfig", "%s:%zu: YAML syntax error: %s", path,
                      p.problem_mark.line + 1, p.problem ? p.problem : "malformed");
        yaml_parser_delete(&p);
        buf_free(&text);
        return -1;
    }
    rc = 0;
    /* A key pair comes whole from one place: the file never completes an id
     * given by a flag or the environment. */
    bool key_given = s->has_id || s->has_secret;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
             rc == 0 && pr < root->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
            yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
            unsigned line = k ? (unsigned)k->start_mark.line + 1 : 0;
            if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE) {
                rc = frost_err_set(err, 400, "InvalidConfig",
                                   "%s:%u: expected `key: value` lines (endpoint, "
                                   "access_key_id, access_key_secret)",
                                   path, line);
                break;
            }
            const char *key = (const char *)k->data.scalar.value;
            const char *val = (const char *)v->data.scalar.value;
            char from[4200];
            snprintf(from, sizeof(from), "%s:%u", path, line);
            if (strcmp(key, "endpoint") == 0) {
                if (!s->endpoint_from) {
                    rc = copy_setting(s->endpoint, sizeof(s->endpoint), val, "endpoint", from, err);
                    s->endpoint_from = "~/.frost/config";
                }
            } else if (strcmp(key, "access_key_id") == 0) {
                if (!key_given) {
                    rc =
                        copy_setting(s->key_id, sizeof(s->key_id), val, "access_key_id", from, err);
                    s->has_id = rc == 0 && *val;
                }
            } else if (strcmp(key, "access_key_secret") == 0) {
                if (!key_given) {
                    rc = copy_setting(s->key_secret, sizeof(s->key_secret), val,
                                      "access_key_secret", from, err);
                    s->has_secret = rc == 0 && *val;
                }
            } else {
                fprintf(stderr, "frost: %s: unknown key \"%s\" (ignored)\n", from, key);
            }
        }
    } else if (root && !(root->type == YAML_SCALAR_NODE && !root->data.scalar.length)) {
        rc = frost_err_set(err, 400, "InvalidConfig",
                           "%s: expected `key: value` lines (endpoint, access_key_id, "
                           "access_key_secret)",
                           path);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    buf_free(&text);
    return rc;
}

/* ./frost-data/frost.addr: where a `frost serve` started here with the
 * default data dir listens (it may have picked a free port). */
static void local_addr(struct settings *s)
{
    struct buf text = BUF_INIT(4096 + 4096);
    struct frost_err ignored = {0};
    if (read_small_file(LOCAL_ADDR_FILE, &text, &ignored) == 0 && text.len) {
        text.data[strcspn(text.data, "\r\n")] = 0;
        if (text.data[0] && strlen(text.data) < sizeof(s->endpoint)) {
            snprintf(s->endpoint, sizeof(s->endpoint), "%s", text.data);
            s->endpoint_from = "./" LOCAL_ADDR_FILE;
        }
    }
    buf_free(&text);
}

static int resolve_settings(const struct cli_flags *f, char *const *envp, struct settings *s,
                            struct frost_err *err)
{
    const char *v;
    if (f->endpoint) {
        if (copy_setting(s->endpoint, sizeof(s->endpoint), f->endpoint, "endpoint", "--endpoint",
                         err) < 0)
            return -1;
        s->endpoint_from = "--endpoint";
    } else if ((v = env_get(envp, "FROST_ENDPOINT")) && *v) {
        if (copy_setting(s->endpoint, sizeof(s->endpoint), v, "endpoint", "FROST_ENDPOINT", err) <
            0)
            return -1;
        s->endpoint_from = "FROST_ENDPOINT";
    }
    const char *id = f->key_id, *secret = f->key_secret;
    const char *id_from = "--access-key-id", *secret_from = "--access-key-secret";
    if (!id && !secret) {
        id = env_get(envp, "FROST_ACCESS_KEY_ID");
        secret = env_get(envp, "FROST_ACCESS_KEY_SECRET");
        id_from = "FROST_ACCESS_KEY_ID";
        secret_from = "FROST_ACCESS_KEY_SECRET";
    }
    if (id && *id) {
        if (copy_setting(s->key_id, sizeof(s->key_id), id, "access key id", id_from, err) < 0)
            return -1;
        s->has_id = true;
    }
    if (secret && *secret) {
        if (copy_setting(s->key_secret, sizeof(s->key_secret), secret, "access key secret",
                         secret_from, err) < 0)
            return -1;
        s->has_secret = true;
    }
    if (load_config_file(s, envp, err) < 0)
        return -1;
    if (!s->endpoint_from)
        local_addr(s);
    if (!s->endpoint_from) {
        snprintf(s->endpoint, sizeof(s->endpoint), "%s", CLI_DEFAULT_ENDPOINT);
        s->endpoint_from = "the default";
    }
    if (s->has_id != s->has_secret)
        return frost_err_set(err, 400, "InvalidConfig",
                             "an access key needs both an id and a secret; got only the %s "
                             "(--access-key-id/--access-key-secret, FROST_ACCESS_KEY_ID/"
                             "FROST_ACCESS_KEY_SECRET or ~/.frost/config)",
                             s->has_id ? "id" : "secret");
    return 0;
}

/* Splits the endpoint into the URL prefix, the Host header and a socket path. */
static int parse_endpoint(struct cli_client *c, const char *ep, const char *from,
                          struct frost_err *err)
{
    snprintf(c->endpoint, sizeof(c->endpoint), "%s", ep);
    if (strncmp(ep, "unix:", 5) == 0) {
        const char *path = ep + 5;
        if (path[0] != '/' || strlen(path) >= sizeof(c->unix_path))
            return frost_err_set(err, 400, "InvalidConfig",
                                 "endpoint \"%s\" (from %s): expected unix:/absolute/path", ep,
                                 from);
        snprintf(c->unix_path, sizeof(c->unix_path), "%s", path);
        snprintf(c->base_url, sizeof(c->base_url), "http://localhost");
        snprintf(c->host, sizeof(c->host), "localhost");
        c->loopback = true;
        return 0;
    }
    const char *auth = ep;
    const char *scheme = "http";
    if (strncmp(ep, "http://", 7) == 0) {
        auth = ep + 7;
    } else if (strncmp(ep, "https://", 8) == 0) {
        auth = ep + 8;
        scheme = "https";
    } else if (strstr(ep, "://")) {
        return frost_err_set(err, 400, "InvalidConfig",
                             "endpoint \"%s\" (from %s): expected http://host:port, "
                             "https://host:port, host:port or unix:/path",
                             ep, from);
    }
    size_t alen = strcspn(auth, "/?#");
    /* Anything after the authority other than "/" would be silently dropped. */
    if (auth[alen] && strcmp(auth + alen, "/") != 0)
        return frost_err_set(err, 400, "InvalidConfig",
                             "endpoint \"%s\" (from %s): give only scheme://host:port, without "
                             "a path",
                             ep, from);
    if (alen == 0 || alen >= sizeof(c->host) || memchr(auth, '@', alen))
        return frost_err_set(err, 400, "InvalidConfig",
                             "endpoint \"%s\" (from %s): expected http://host:port", ep, from);
    for (size_t i = 0; i < alen; i++)
        if (isspace((unsigned char)auth[i]) || iscntrl((unsigned char)auth[i]))
            return frost_err_set(err, 400, "InvalidConfig",
                                 "endpoint \"%s\" (from %s): contains blanks", ep, from);
    snprintf(c->host, sizeof(c->host), "%.*s", (int)alen, auth);
    snprintf(c->base_url, sizeof(c->base_url), "%s://%s", scheme, c->host);
    snprintf(c->endpoint, sizeof(c->endpoint), "%s", c->base_url);
    c->loopback = strncmp(c->host, "127.", 4) == 0 || strncmp(c->host, "localhost", 9) == 0 ||
                  strncmp(c->host, "[::1]", 5) == 0;
    return 0;
}

int cli_client_new(const struct cli_flags *f, char *const *envp, struct cli_client **out,
                   struct frost_err *err)
{
    struct settings s = {0};
    if (resolve_settings(f, envp, &s, err) < 0)
        return -1;
    struct cli_client *c = calloc(1, sizeof(*c));
    if (!c)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    if (parse_endpoint(c, s.endpoint, s.endpoint_from, err) < 0) {
        free(c);
        return -1;
    }
    snprintf(c->from, sizeof(c->from), "%s", s.endpoint_from);
    if (s.has_id) {
        c->has_key = true;
        snprintf(c->key.id, sizeof(c->key.id), "%s", s.key_id);
        snprintf(c->key.secret, sizeof(c->key.secret), "%s", s.key_secret);
    }
    explicit_bzero(s.key_secret, sizeof(s.key_secret));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->curl = curl_easy_init())) {
        cli_client_free(c);
        return frost_err_set(err, 500, "InternalError", "cannot initialise libcurl");
    }
    *out = c;
    return 0;
}

void cli_client_free(struct cli_client *c)
{
    if (!c)
        return;
    if (c->curl) {
        curl_easy_cleanup(c->curl);
        curl_global_cleanup();
    }
    explicit_bzero(&c->key, sizeof(c->key));
    free(c);
}

const char *cli_client_endpoint(const struct cli_client *c)
{
    return c->unix_path[0] ? c->endpoint : c->base_url;
}

int cli_escape(const char *s, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (o + need >= len)
            return -1;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= len)
        return -1;
    out[o] = 0;
    return 0;
}

/* ---- requests ------------------------------------------------------------- */

struct answer {
    struct buf body;
    bool too_big;
    char request_id[128];
    struct buf *headers; /* every response header line, when wanted */
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    if (buf_append(&a->body, data, size * n) < 0) {
        a->too_big = errno == EMSGSIZE;
        return 0;
    }
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = size * n;
    if (a->headers && buf_append(a->headers, data, len) < 0)
        return 0;
    static const char name[] = "x-fc-request-id:";
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t vlen = len - (sizeof(name) - 1);
        while (vlen && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        snprintf(a->request_id, sizeof(a->request_id), "%.*s", (int)vlen, v);
    }
    return len;
}

static void lower_first(char *s)
{
    if (s[0] && isupper((unsigned char)s[0]) && !isupper((unsigned char)s[1]))
        s[0] = (char)tolower((unsigned char)s[0]);
}

static int transport_error(struct cli_client *c, CURLcode rc, const struct answer *a,
                           struct frost_err *err)
{
    const char *ep = cli_client_endpoint(c);
    if (rc == CURLE_COULDNT_CONNECT) {
        long os_errno = 0;
        char why[CURL_ERROR_SIZE];
        if (curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno)
            snprintf(why, sizeof(why), "%s", strerror((int)os_errno));
        else
            snprintf(why, sizeof(why), "%s", c->errbuf[0] ? c->errbuf : "cannot connect");
        lower_first(why);
        /* A stale frost.addr or config file is worth naming. */
        bool named = strcmp(c->from, "the default") != 0 && strcmp(c->from, "--endpoint") != 0 &&
                     strcmp(c->from, "FROST_ENDPOINT") != 0;
        return frost_err_set(err, 503, "CannotConnect",
                             "cannot reach frost at %s%s%s%s: %s — is `frost serve` running? set "
                             "--endpoint or FROST_ENDPOINT",
                             ep, named ? " (from " : "", named ? c->from : "", named ? ")" : "",
                             why);
    }
    if (rc == CURLE_COULDNT_RESOLVE_HOST)
        return frost_err_set(err, 503, "CannotConnect",
                             "cannot reach frost at %s: unknown host — check --endpoint or "
                             "FROST_ENDPOINT",
                             ep);
    if (rc == CURLE_WRITE_ERROR && a->too_big)
        return frost_err_set(err, 502, "ResponseTooLarge",
                             "the answer from %s is larger than %u bytes", ep, CLI_MAX_RESPONSE);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return frost_err_set(err, 504, "Timeout", "frost at %s did not answer in time: %s", ep,
                             c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    return frost_err_set(err, 503, "RequestFailed", "request to frost at %s failed: %s", ep,
                         c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
}

/* An error answer as "Code: Message (request ID)". */
static int answer_error(int status, const struct answer *a, struct frost_err *err)
{
    json_t *j = a->body.len ? json_loadb(a->body.data, a->body.len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(j, "Code"));
    const char *msg = json_string_value(json_object_get(j, "Message"));
    const char *rid = json_string_value(json_object_get(j, "RequestId"));
    if (!rid || !*rid)
        rid = a->request_id[0] ? a->request_id : NULL;
    char ridtext[160] = "";
    if (rid)
        snprintf(ridtext, sizeof(ridtext), " (request %s)", rid);
    if (code) {
        const char *hint = "";
        if (strcmp(code, "SignatureNotMatch") == 0)
            hint = " — check the access key secret";
        else if (strcmp(code, "InvalidAccessKeyId") == 0)
            hint = " — check the access key id";
        else if (strcmp(code, "MissingAuthorization") == 0)
            hint = " — this server wants signed requests: set --access-key-id and "
                   "--access-key-secret, FROST_ACCESS_KEY_ID/FROST_ACCESS_KEY_SECRET or "
                   "~/.frost/config";
        /* Leave room for the request id and the hint in the fixed message. */
        frost_err_set(err, status, code, "%s: %.300s%s%s%s", code, msg ? msg : "",
                      strlen(msg ? msg : "") > 300 ? "…" : "", ridtext, hint);
    } else {
        char shown[201];
        size_t n = a->body.len < 200 ? a->body.len : 200;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)a->body.data[i];
            shown[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
        }
        shown[n] = 0;
        frost_err_set(err, status, "HttpError", "HTTP %d%s%s%s", status, n ? ": " : "", shown,
                      ridtext);
    }
    json_decref(j);
    return -1;
}

static int add_header(struct curl_slist **list, const char *name, size_t nlen, const char *value,
                      size_t vlen)
{
    char line[4600];
    if (nlen + vlen + 3 > sizeof(line))
        return -1;
    snprintf(line, sizeof(line), "%.*s: %.*s", (int)nlen, name, (int)vlen, value);
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l)
        return -1;
    *list = l;
    return 0;
}

int cli_request(struct cli_client *c, const char *method, const char *path_and_query,
                const json_t *body, int *status, json_t **response, struct frost_err *err)
{
    if (response)
        *response = NULL;
    struct buf raw = BUF_INIT(CLI_MAX_RESPONSE);
    if (cli_request_raw(c, method, path_and_query, body, status, &raw, err) < 0) {
        buf_free(&raw);
        return -1;
    }
    if (raw.len && response) {
        json_error_t je;
        *response = json_loadb(raw.data, raw.len, 0, &je);
        if (!*response) {
            buf_free(&raw);
            return frost_err_set(err, 502, "BadResponse",
                                 "the answer from %s to %s %s is not JSON: %s",
                                 cli_client_endpoint(c), method, path_and_query, je.text);
        }
    }
    buf_free(&raw);
    return 0;
}

int cli_request_raw(struct cli_client *c, const char *method, const char *path_and_query,
                    const json_t *body, int *status, struct buf *out, struct frost_err *err)
{
    *status = 0;
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    struct cli_exchange x = {
        .method = method,
        .path_and_query = path_and_query,
        .body = text,
        .body_len = text ? strlen(text) : 0,
        .content_type = "application/json",
    };
    struct cli_reply r = {.body = BUF_INIT(CLI_MAX_RESPONSE)};
    int rc = cli_exchange(c, &x, &r, err);
    *status = r.status;
    if (rc == 0 && (r.status < 200 || r.status > 299)) {
        struct answer a = {.body = r.body};
        snprintf(a.request_id, sizeof(a.request_id), "%s", r.request_id);
        answer_error(r.status, &a, err);
        rc = -1;
    }
    if (rc == 0) {
        buf_free(out);
        *out = r.body;
        r.body = (struct buf)BUF_INIT(0);
    }
    buf_free(&r.body);
    buf_free(&r.headers);
    return rc;
}

int cli_exchange(struct cli_client *c, const struct cli_exchange *x, struct cli_reply *reply,
                 struct frost_err *err)
{
    const char *method = x->method, *path_and_query = x->path_and_query;
    const char *text = x->body;
    size_t text_len = x->body_len;
    const char *ctype = x->content_type ? x->content_type : "application/octet-stream";
    reply->status = 0;
    reply->request_id[0] = 0;

    size_t url_len = strlen(c->base_url) + strlen(path_and_query) + 1;
    _cleanup_free_ char *url = malloc(url_len);
    if (!url)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    snprintf(url, url_len, "%s%s", c->base_url, path_and_query);

    struct http_header hdrs[] = {
        {"host", 4, c->host, strlen(c->host)},
        {"content-type", 12, ctype, strlen(ctype)},
        {"x-acs-version", 13, API_AUTH_API_VERSION, strlen(API_AUTH_API_VERSION)},
    };
    struct curl_slist *list = NULL;
    int rc = 0;
    for (size_t i = 0; i < ARRAY_LEN(hdrs) && rc == 0; i++)
        rc = add_header(&list, hdrs[i].name, hdrs[i].name_len, hdrs[i].value, hdrs[i].value_len);
    /* curl would send "Expect: 100-continue" for large bodies and wait. */
    if (rc == 0)
        rc = add_header(&list, "Expect", 6, "", 0);
    if (rc == 0)
        rc = add_header(&list, "Accept", 6, "application/json", 16);
    for (size_t i = 0; i < x->n_headers && rc == 0; i++)
        rc = add_header(&list, x->headers[i].name, x->headers[i].name_len, x->headers[i].value,
                        x->headers[i].value_len);
    if (rc < 0) {
        curl_slist_free_all(list);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    if (c->has_key) {
        char path[4096];
        const char *q = strchr(path_and_query, '?');
        size_t plen = q ? (size_t)(q - path_and_query) : strlen(path_and_query);
        if (plen >= sizeof(path)) {
            curl_slist_free_all(list);
            return frost_err_set(err, 400, "InvalidArgument", "request path too long");
        }
        memcpy(path, path_and_query, plen);
        path[plen] = 0;
        struct api_auth_signature *sig = malloc(sizeof(*sig));
        if (!sig) {
            curl_slist_free_all(list);
            return frost_err_set(err, 500, "InternalError", "out of memory");
        }
        if (api_auth_sign(&c->key, method, path, q ? q + 1 : "", hdrs, ARRAY_LEN(hdrs),
                          text ? text : "", text_len, clock_wall_ms(), sig, err) < 0) {
            free(sig);
            curl_slist_free_all(list);
            return frost_err_prefix(err, "signing the request");
        }
        for (size_t i = 0; i < sig->n_headers && rc == 0; i++)
            rc = add_header(&list, sig->headers[i].name, sig->headers[i].name_len,
                            sig->headers[i].value, sig->headers[i].value_len);
        explicit_bzero(sig, sizeof(*sig));
        free(sig);
        if (rc < 0) {
            curl_slist_free_all(list);
            return frost_err_set(err, 500, "InternalError", "out of memory");
        }
    }

    struct answer a = {.body = reply->body, .headers = &reply->headers};
    buf_reset(&a.body);
    CURL *h = c->curl;
    /* Reset keeps the connection cache: the next request reuses the socket. */
    curl_easy_reset(h);
    c->errbuf[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (text) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)text_len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    /* A stalled server fails the command; a slow code upload does not. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 300L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* A proxy from the environment must not see requests for this machine. */
    if (c->loopback)
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (c->unix_path[0])
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
    CURLcode cr = curl_easy_perform(h);
    curl_slist_free_all(list);
    reply->body = a.body; /* handed back, whatever happened */
    snprintf(reply->request_id, sizeof(reply->request_id), "%s", a.request_id);
    if (cr != CURLE_OK) {
        transport_error(c, cr, &a, err);
        return -1;
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    reply->status = (int)code;
    return 0;
}

/* ---- tables --------------------------------------------------------------- */

struct cli_table {
    json_t *rows; /* array of arrays of strings */
};

struct cli_table *cli_table_new(void)
{
    struct cli_table *t = calloc(1, sizeof(*t));
    if (t && !(t->rows = json_array()))
        free_and_null(&t);
    return t;
}

int cli_table_row(struct cli_table *t, ...)
{
    json_t *row = json_array();
    if (!row)
        return -1;
    va_list ap;
    va_start(ap, t);
    const char *cell;
    while ((cell = va_arg(ap, const char *)) != NULL) {
        if (json_array_append_new(row, json_string(cell)) < 0) {
            va_end(ap);
            json_decref(row);
            return -1;
        }
    }
    va_end(ap);
    return json_array_append_new(t->rows, row);
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

void cli_table_print(struct cli_table *t, FILE *f)
{
    size_t widths[16] = {0};
    size_t i;
    json_t *row;
    json_array_foreach(t->rows, i, row)
    {
        for (size_t k = 0; k < json_array_size(row) && k < ARRAY_LEN(widths); k++) {
            size_t w = width(json_string_value(json_array_get(row, k)));
            if (w > widths[k])
                widths[k] = w;
        }
    }
    json_array_foreach(t->rows, i, row)
    {
        /* Padded cells, then the line without trailing blanks (empty last cells). */
        struct buf line = BUF_INIT(0);
        size_t n = json_array_size(row);
        int rc = 0;
        for (size_t k = 0; k < n && rc == 0; k++) {
            const char *cell = json_string_value(json_array_get(row, k));
            rc = buf_append_str(&line, cell);
            if (k + 1 < n && k < ARRAY_LEN(widths))
                for (size_t pad = width(cell); pad < widths[k] + 2 && rc == 0; pad++)
                    rc = buf_append(&line, " ", 1);
        }
        while (line.len && line.data[line.len - 1] == ' ')
            line.len--;
        fprintf(f, "%.*s\n", (int)line.len, line.data ? line.data : "");
        buf_free(&line);
    }
    cli_table_free(t);
}

void cli_table_free(struct cli_table *t)
{
    if (!t)
        return;
    json_decref(t->rows);
    free(t);
}

void cli_opts_begin(void)
{
    optind = 0;
    opterr = 0;
}

int cli_next_opt(struct cli_flags *f, int argc, char **argv, const char *shortopts,
                 const struct option *longopts)
{
    int o;
    while ((o = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (!cli_flags_take(f, o, optarg))
            return o;
    }
    return -1;
}
