/* A small client of Frost's FC 3.0 API for the CLI commands (deploy,
 * function, provision): settings resolution, signed JSON requests over
 * libcurl, FC-style errors turned into messages a user can act on.
 *
 * Settings, first found wins (docs/cli.md):
 *   endpoint:   --endpoint, FROST_ENDPOINT, `endpoint` in ~/.frost/config,
 *               ./frost-data/frost.addr (a local `frost serve` with the
 *               default data dir), http://127.0.0.1:9800
 *   access key: --access-key-id/--access-key-secret, FROST_ACCESS_KEY_ID/
 *               FROST_ACCESS_KEY_SECRET, access_key_id/access_key_secret in
 *               ~/.frost/config; none = unsigned requests
 * An endpoint is http[s]://host[:port], host:port, or unix:/path/to.sock.
 *
 * One client is used by one thread at a time; requests are synchronous. */
#ifndef FROST_CLI_CLIENT_H
#define FROST_CLI_CLIENT_H

#include <getopt.h>
#include <stdio.h>
#include <jansson.h>
#include <stdbool.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/http.h"
#include "base/util.h"

#define CLI_DEFAULT_ENDPOINT "http://127.0.0.1:9800"
/* Largest response body accepted (a function list page is far smaller). */
#define CLI_MAX_RESPONSE (64u << 20)

/* Exit statuses of every client command. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_API = 1,   /* the server answered an error, or could not be reached */
    CLI_EXIT_USAGE = 2, /* bad flags, settings or input files: nothing was sent */
};

/* The connection flags every client command takes; getopt values. */
enum {
    CLI_OPT_ENDPOINT = 0x1000,
    CLI_OPT_KEY_ID,
    CLI_OPT_KEY_SECRET,
};

#define CLI_CLIENT_LONGOPTS                                                                        \
    {"endpoint", required_argument, NULL, CLI_OPT_ENDPOINT},                                       \
        {"access-key-id", required_argument, NULL, CLI_OPT_KEY_ID},                                \
    {                                                                                              \
        "access-key-secret", required_argument, NULL, CLI_OPT_KEY_SECRET                           \
    }

#define CLI_CLIENT_USAGE                                                                           \
    "Connection (see docs/cli.md for the settings order):\n"                                       \
    "  --endpoint URL            http://host:port or unix:/path  [FROST_ENDPOINT]\n"               \
    "  --access-key-id ID        sign requests with this key     [FROST_ACCESS_KEY_ID]\n"          \
    "  --access-key-secret S     its secret                      [FROST_ACCESS_KEY_SECRET]\n"

/* The flags as given (borrowed argv strings); NULL = not given. */
struct cli_flags {
    const char *endpoint;
    const char *key_id;
    const char *key_secret;
};

/* Stores opt/arg when opt is one of CLI_OPT_*; returns false otherwise. */
bool cli_flags_take(struct cli_flags *f, int opt, const char *arg);

struct cli_client;

/* Resolves the settings (flags, then envp — environ's format, NULL = empty —
 * then ~/.frost/config, then defaults) and prepares a client. Errors (400
 * InvalidConfig: a bad endpoint, a key id without a secret, an unreadable
 * config file) are usage errors. */
FROST_WUR int cli_client_new(const struct cli_flags *f, char *const *envp, struct cli_client **out,
                             struct frost_err *err);
void cli_client_free(struct cli_client *c);

/* The endpoint in use, for messages. */
const char *cli_client_endpoint(const struct cli_client *c);

/* Sends one request and waits for the answer. path_and_query starts with
 * "/" and is sent as it is (callers escape names with cli_escape). body may
 * be NULL. *status gets the HTTP status (0 when no answer came). *response
 * gets the parsed JSON body of a 2xx answer (NULL when empty), a new
 * reference. Returns 0 for 2xx; otherwise -1 with err->status the HTTP status
 * (503 when the server could not be reached), err->code the FC error code and
 * err->msg "Code: Message (request ID)". */
FROST_WUR int cli_request(struct cli_client *c, const char *method, const char *path_and_query,
                          const json_t *body, int *status, json_t **response,
                          struct frost_err *err);

/* Like cli_request, but hands the 2xx body over as it came (for text
 * answers such as logs); out is replaced. */
FROST_WUR int cli_request_raw(struct cli_client *c, const char *method, const char *path_and_query,
                              const json_t *body, int *status, struct buf *out,
                              struct frost_err *err);

/* A request with any body and extra headers, signed like the others. */
struct cli_exchange {
    const char *method;
    const char *path_and_query;
    const char *body; /* may be NULL */
    size_t body_len;
    const char *content_type; /* NULL = application/octet-stream */
    const struct http_header *headers;
    size_t n_headers;
};

/* The answer, whatever its status: body, raw header lines, request id. The
 * caller initialises body and headers (BUF_INIT with a cap) and frees them. */
struct cli_reply {
    int status;
    struct buf body;
    struct buf headers;
    char request_id[128];
};

/* Sends x and fills reply for any HTTP status; -1 (err set) only when no
 * answer came. */
FROST_WUR int cli_exchange(struct cli_client *c, const struct cli_exchange *x,
                           struct cli_reply *reply, struct frost_err *err);

/* Percent-encodes s (everything outside A-Z a-z 0-9 - _ . ~) into out;
 * -1 when it does not fit. */
FROST_WUR int cli_escape(const char *s, char *out, size_t len);

/* Option parsing shared by the client commands: cli_opts_begin() starts a
 * parse (getopt reset, its messages off: commands report their own), then
 * cli_next_opt() returns each option of the command's own — the connection
 * options (CLI_CLIENT_LONGOPTS) are taken into f on the way — or -1 at the
 * end. Unknown options come back as '?' for the command to report. */
void cli_opts_begin(void);
int cli_next_opt(struct cli_flags *f, int argc, char **argv, const char *shortopts,
                 const struct option *longopts);

/* Prints "frost: MESSAGE" to stderr. */
void cli_print_error(const struct frost_err *err);

/* Prints "frost CMD: MESSAGE; see `frost CMD --help`" to stderr and returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads a JSON document given on the command line: inline text when it
 * starts with '[' or '{', else the path of a file (at most 1 MiB). *out is a
 * new reference. Errors are 400 InvalidArgument naming `what`. */
FROST_WUR int cli_json_arg(const char *arg, const char *what, json_t **out, struct frost_err *err);

/* Asks "QUESTION [y/N] " on the terminal; true for y/yes. Refuses (false,
 * *no_tty set) when stdin is not a terminal. */
bool cli_confirm(const char *question, bool *no_tty);

/* Column output for the human tables: cli_table_row(t, "a", "b", NULL) adds
 * a row; cli_table_print writes it with aligned columns and frees it. */
struct cli_table;
struct cli_table *cli_table_new(void);
FROST_WUR int cli_table_row(struct cli_table *t, ...) __attribute__((sentinel));
void cli_table_print(struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

#endif
