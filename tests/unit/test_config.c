/* Unit tests for src/base/config.c: defaults, YAML loading, environment,
 * precedence, validation, dump round-trip and the value parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

/* ---- helpers ------------------------------------------------------------ */

/* Writes text to a fresh file under /tmp; path receives its name. */
static void write_tmp(char *path, size_t len, const char *text)
{
    snprintf(path, len, "/tmp/frost-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

/* Loads text through a temp file; the temp file is gone on return. The path in
 * messages is the temp name, so err->msg is rewritten to say "frost.yaml". */
static int load_text(struct frost_config *c, const char *text, struct frost_err *err)
{
    char path[64];
    write_tmp(path, sizeof(path), text);
    int r = config_load_file(c, path, err);
    assert_int_equal(unlink(path), 0);
    if (r < 0) {
        size_t pl = strlen(path);
        char *at = strstr(err->msg, path);
        if (at) {
            char rest[FROST_ERR_MSG_MAX];
            snprintf(rest, sizeof(rest), "%s", at + pl);
            snprintf(at, sizeof(err->msg) - (size_t)(at - err->msg), "frost.yaml%s", rest);
        }
    }
    return r;
}

/* Expects load_text to fail with InvalidConfig and exactly this message. */
static void expect_load_error(const char *text, const char *want)
{
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(load_text(&c, text, &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "InvalidConfig");
    assert_string_equal(err.msg, want);
}

static char *dump(const struct frost_config *c)
{
    struct buf b = BUF_INIT(0);
    assert_int_equal(config_dump(c, &b), 0);
    return buf_steal(&b);
}

/* Compares two configs through their dumps: field-by-field with a readable
 * diff on failure, and no dependence on struct padding. */
static void assert_config_equal(const struct frost_config *a, const struct frost_config *b)
{
    char *da = dump(a), *db = dump(b);
    assert_string_equal(da, db);
    free(da);
    free(db);
}

/* ---- defaults ----------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct frost_config c;
    memset(&c, 0x5a, sizeof(c));
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:9800");
    assert_string_equal(c.data_dir, "./frost-data");
    assert_string_equal(c.log_file, "");
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.http.max_header_bytes, 64 * 1024);
    assert_int_equal(c.http.max_body_bytes, 32 * 1024 * 1024);
    assert_int_equal(c.http.header_timeout_ms, 10000);
    assert_int_equal(c.http.body_timeout_ms, 60000);
    assert_int_equal(c.http.keepalive_timeout_ms, 60000);
    assert_int_equal(c.http.shutdown_grace_ms, 30000);
    assert_int_equal(c.http.max_connections, 10000);
    assert_int_equal(c.http.upstream_connect_timeout_ms, 5000);
    assert_int_equal(c.http.upstream_idle_timeout_ms, 60000);
    assert_int_equal(c.http.upstream_max_idle_per_endpoint, 64);
    assert_string_equal(c.region, "local");
    assert_string_equal(c.account_id, "0000000000000000");
    assert_string_equal(c.auth.keys, "");

    struct frost_err err = {0};
    assert_int_equal(config_validate(&c, &err), 0);
    assert_int_equal(err.status, 0);
}

/* ---- loading ------------------------------------------------------------ */

static void test_load_nested_and_dotted(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    int r = load_text(&c,
                      "# comment\n"
                      "listen: \"[::1]:8080\"\n"
                      "data_dir: /var/lib/frost\n"
                      "log_file: /var/log/frost.log\n"
                      "log_level: debug\n"
                      "http:\n"
                      "  header_timeout: 2.5s\n"
                      "  max_header_bytes: 16KiB\n"
                      "  max_connections: 50\n"
                      "http.body_timeout: 250ms\n"
                      "region: cn-hangzhou\n"
                      "auth:\n"
                      "  keys: \"id1:s1,id2:s2\"\n"
                      "http.max_body_bytes: 6MB\n",
                      &err);
    assert_int_equal(r, 0);
    assert_string_equal(c.listen, "[::1]:8080");
    assert_string_equal(c.data_dir, "/var/lib/frost");
    assert_string_equal(c.log_file, "/var/log/frost.log");
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_int_equal(c.http.header_timeout_ms, 2500);
    assert_int_equal(c.http.max_header_bytes, 16384);
    assert_int_equal(c.http.max_connections, 50);
    assert_int_equal(c.http.body_timeout_ms, 250);
    assert_string_equal(c.region, "cn-hangzhou");
    assert_string_equal(c.auth.keys, "id1:s1,id2:s2");
    assert_int_equal(c.http.max_body_bytes, 6000000);
    /* Untouched keys keep their defaults. */
    assert_int_equal(c.http.keepalive_timeout_ms, 60000);
    assert_int_equal(c.http.upstream_max_idle_per_endpoint, 64);
    assert_int_equal(config_validate(&c, &err), 0);
}

static void test_load_flow_style(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(
        load_text(&c, "{listen: 'unix:/run/frost.sock', http: {keepalive_timeout: 5m}}", &err), 0);
    assert_string_equal(c.listen, "unix:/run/frost.sock");
    assert_int_equal(c.http.keepalive_timeout_ms, 300000);
}

static void test_load_empty_and_comments(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "",
        "# nothing here\n\n",
        "---\n",
        "~\n",
        "http:\n",
        "http:\n  # header_timeout: 1s\n",
        "---\nlisten: 127.0.0.1:9800\n...\n",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct frost_config c, d;
        struct frost_err err = {0};
        config_defaults(&c);
        config_defaults(&d);
        int r = load_text(&c, texts[i], &err);
        if (r != 0)
            fail_msg("text %zu: %s", i, err.msg);
        assert_config_equal(&c, &d);
    }
}

static void test_load_null_clears_string(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(config_set(&c, "log_file", "/tmp/x.log", "--log-file", &err), 0);
    assert_int_equal(load_text(&c, "log_file: ~\n", &err), 0);
    assert_string_equal(c.log_file, "");

    assert_int_equal(config_set(&c, "log_file", "/tmp/x.log", "--log-file", &err), 0);
    assert_int_equal(load_text(&c, "log_file:\n", &err), 0);
    assert_string_equal(c.log_file, "");

    /* Quoted "null" is the text, not a null. */
    assert_int_equal(load_text(&c, "log_file: \"null\"\n", &err), 0);
    assert_string_equal(c.log_file, "null");

    /* Null data_dir loads but does not validate. */
    assert_int_equal(load_text(&c, "data_dir: null\n", &err), 0);
    assert_string_equal(c.data_dir, "");
    assert_int_equal(config_validate(&c, &err), -1);
    assert_string_equal(err.msg, "data_dir: must not be empty");
}

static void test_load_errors(void **state)
{
    (void)state;
    expect_load_error("listen: 127.0.0.1:1\n"
                      "http:\n"
                      "  header_timout: 10s\n",
                      "frost.yaml:3: unknown key \"http.header_timout\"; did you mean "
                      "\"http.header_timeout\"?");
    expect_load_error("\n\n\n\n\n\n"
                      "http.header_timout: 10s\n",
                      "frost.yaml:7: unknown key \"http.header_timout\"; did you mean "
                      "\"http.header_timeout\"?");
    expect_load_error("bogus: 1\n", "frost.yaml:1: unknown key \"bogus\"");
    expect_load_error("htp:\n  header_timeout: 1s\n",
                      "frost.yaml:1: unknown key \"htp\"; did you mean \"http\"?");
    expect_load_error("header_timeout: 1s\n",
                      "frost.yaml:1: unknown key \"header_timeout\"; did you mean "
                      "\"http.header_timeout\"?");
    expect_load_error("http:\n"
                      "  body_timeout: 1s\n"
                      "  header_timeout: 10\n",
                      "frost.yaml:3: http.header_timeout: \"10\" needs a unit (ms, s, m, h)");
    expect_load_error("http:\n  header_timeout: ten seconds\n",
                      "frost.yaml:2: http.header_timeout: \"ten seconds\" is not a duration (for "
                      "example 250ms, 10s, 5m, 1h)");
    expect_load_error("http:\n  header_timeout: 10sec\n",
                      "frost.yaml:2: http.header_timeout: \"10sec\" has an unknown unit (use ms, "
                      "s, m, h)");
    expect_load_error("http:\n  header_timeout: -1s\n",
                      "frost.yaml:2: http.header_timeout: \"-1s\" must not be negative");
    expect_load_error("http:\n  header_timeout: 0s\n",
                      "frost.yaml:2: http.header_timeout: \"0s\" is below the minimum of 1ms");
    expect_load_error("http:\n  header_timeout: 25h\n",
                      "frost.yaml:2: http.header_timeout: \"25h\" is above the maximum of 24h");
    expect_load_error("http:\n  max_header_bytes: 512\n",
                      "frost.yaml:2: http.max_header_bytes: \"512\" is below the minimum of 1KiB");
    expect_load_error("http:\n  max_header_bytes: 2MiB\n",
                      "frost.yaml:2: http.max_header_bytes: \"2MiB\" is above the maximum of 1MiB");
    expect_load_error("http:\n  max_connections: lots\n",
                      "frost.yaml:2: http.max_connections: \"lots\" is not a number (for example "
                      "0, 64, 10000)");
    expect_load_error("http:\n  max_connections: 0\n",
                      "frost.yaml:2: http.max_connections: \"0\" is below the minimum of 1");
    expect_load_error("http:\n  max_body_bytes: 99999999999999999999999\n",
                      "frost.yaml:2: http.max_body_bytes: \"99999999999999999999999\" is too "
                      "large");
    expect_load_error("log_level: verbose\n",
                      "frost.yaml:1: log_level: \"verbose\" is not a log level (debug, info, warn, "
                      "error, off)");
    expect_load_error("http:\n  header_timeout:\n",
                      "frost.yaml:2: http.header_timeout: needs a value");
    /* Wrong node kinds. */
    expect_load_error("listen:\n  - 127.0.0.1:1\n  - 127.0.0.1:2\n",
                      "frost.yaml:1: listen: expected a single value, got a list");
    expect_load_error("http:\n  header_timeout: {s: 10}\n",
                      "frost.yaml:2: http.header_timeout: expected a single value, got a mapping");
    expect_load_error("http: 10s\n",
                      "frost.yaml:1: http: expected a mapping of http.* keys, got a value");
    expect_load_error("http: [1, 2]\n",
                      "frost.yaml:1: http: expected a mapping of http.* keys, got a list");
    expect_load_error("- listen\n- data_dir\n",
                      "frost.yaml:1: expected a mapping of keys (key: value) at the top level, got "
                      "a list");
    expect_load_error("just a string\n",
                      "frost.yaml:1: expected a mapping of keys (key: value) at the top level, got "
                      "a value");
    expect_load_error("? [a, b]\n: 1\n", "frost.yaml:1: a key must be a name, not a list");
    /* Duplicates, including one nested and one dotted. */
    expect_load_error("http:\n  header_timeout: 1s\nhttp.header_timeout: 2s\n",
                      "frost.yaml:3: http.header_timeout: set twice (first on line 2)");
    expect_load_error("data_dir: \"a\\0b\"\n", "frost.yaml:1: data_dir: value contains a NUL byte");
    expect_load_error("---\nlisten: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n",
                      "frost.yaml:4: only one YAML document is allowed");
}

static void test_load_syntax_error(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(
        load_text(&c, "listen: 127.0.0.1:1\nhttp:\n  header_timeout: 1s\n bad\n", &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "InvalidConfig");
    assert_non_null(strstr(err.msg, "frost.yaml:4: YAML syntax error: "));

    memset(&err, 0, sizeof(err));
    assert_int_equal(load_text(&c, "listen: \"unterminated\n", &err), -1);
    assert_string_equal(err.code, "InvalidConfig");
    assert_non_null(strstr(err.msg, "frost.yaml:2: YAML syntax error: "));

    /* Undefined alias and a tab indent: both libyaml errors. */
    memset(&err, 0, sizeof(err));
    assert_int_equal(load_text(&c, "listen: *nope\n", &err), -1);
    assert_non_null(strstr(err.msg, "frost.yaml:1: YAML syntax error: "));
    memset(&err, 0, sizeof(err));
    assert_int_equal(load_text(&c, "http:\n\theader_timeout: 1s\n", &err), -1);
    assert_non_null(strstr(err.msg, "frost.yaml:2: YAML syntax error"));
    assert_non_null(strstr(err.msg, "YAML indents with spaces, not tabs"));

    /* Nothing changed along the way. */
    struct frost_config d;
    config_defaults(&d);
    assert_config_equal(&c, &d);
}

static void test_load_is_atomic(void **state)
{
    (void)state;
    struct frost_config c, d;
    struct frost_err err = {0};
    config_defaults(&c);
    config_defaults(&d);
    assert_int_equal(
        load_text(&c, "listen: 0.0.0.0:1\nhttp:\n  header_timeout: 1s\n  nope: 1\n", &err), -1);
    assert_config_equal(&c, &d);
}

static void test_load_missing_file(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, "/nonexistent/frost.yaml", &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "InvalidConfig");
    assert_string_equal(err.msg, "/nonexistent/frost.yaml: cannot open: No such file or directory");

    memset(&err, 0, sizeof(err));
    assert_int_equal(config_load_file(&c, "/tmp", &err), -1);
    assert_string_equal(err.msg, "/tmp: cannot read: Is a directory");
}

static void test_load_too_large(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/frost-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static char chunk[64 * 1024];
    memset(chunk, '#', sizeof(chunk));
    for (int i = 0; i < 17; i++)
        assert_int_equal(write(fd, chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
    assert_int_equal(close(fd), 0);
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, &err), -1);
    assert_int_equal(unlink(path), 0);
    assert_string_equal(err.code, "InvalidConfig");
    assert_non_null(strstr(err.msg, "file is larger than 1048576 bytes"));
}

static void test_string_too_long(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    char text[600];
    char longv[300];
    memset(longv, 'a', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = 0;
    snprintf(text, sizeof(text), "listen: %s\n", longv);
    assert_int_equal(load_text(&c, text, &err), -1);
    assert_string_equal(err.msg,
                        "frost.yaml:1: listen: value is 299 bytes, longer than the limit of 255");
    assert_string_equal(c.listen, "127.0.0.1:9800");

    /* Exactly at the limit is fine. */
    longv[255] = 0;
    assert_int_equal(config_set(&c, "listen", longv, "--listen", &err), 0);
    assert_int_equal(strlen(c.listen), 255);
}

static void test_alias_cycle(void **state)
{
    (void)state;
    /* libyaml resolves an alias to its anchor's node, so this is a mapping
     * containing itself; the loader must neither loop nor crash. */
    expect_load_error("http: &a\n  x: *a\n", "frost.yaml:2: unknown key \"http.x\"");
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(load_text(&c, "base: &t 7s\n", &err), -1);
    /* Aliases of scalars work as plain values. */
    assert_int_equal(load_text(&c, "http:\n  header_timeout: &t 7s\n  body_timeout: *t\n", &err),
                     0);
    assert_int_equal(c.http.body_timeout_ms, 7000);
}

static void test_example_file_loads(void **state)
{
    (void)state;
    /* __FILE__ is <root>/tests/unit/test_config.c (absolute under CMake,
     * relative when compiled by hand from the root). */
    char path[4096];
    const char *f = __FILE__;
    const char *cut = strstr(f, "tests/unit/test_config.c");
    assert_non_null(cut);
    snprintf(path, sizeof(path), "%.*sexamples/frost.yaml", (int)(cut - f), f);
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    int r = config_load_file(&c, path, &err);
    if (r != 0)
        fail_msg("%s", err.msg);
    r = config_validate(&c, &err);
    if (r != 0)
        fail_msg("%s", err.msg);
}

/* ---- config_set and precedence ------------------------------------------ */

static void test_set(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(config_set(&c, "http.shutdown_grace", "0s", "--shutdown-grace", &err), 0);
    assert_int_equal(c.http.shutdown_grace_ms, 0);
    assert_int_equal(config_set(&c, "log_level", "off", "--log-level", &err), 0);
    assert_int_equal(c.log_level, LOG_OFF);

    assert_int_equal(config_set(&c, "http.keepalive_timeout", "5", "--keepalive-timeout", &err),
                     -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "InvalidConfig");
    assert_string_equal(err.msg,
                        "--keepalive-timeout: http.keepalive_timeout: \"5\" needs a unit (ms, s, "
                        "m, h)");
    assert_int_equal(c.http.keepalive_timeout_ms, 60000);

    assert_int_equal(config_set(&c, "lsten", "x", "--set", &err), -1);
    assert_string_equal(err.msg, "--set: unknown key \"lsten\"; did you mean \"listen\"?");
    assert_int_equal(config_set(&c, "http", "x", NULL, &err), -1);
    assert_string_equal(err.msg, "unknown key \"http\"");

    /* A value that is the field itself (re-applying what is there). */
    assert_int_equal(config_set(&c, "data_dir", c.data_dir, "x", &err), 0);
    assert_string_equal(c.data_dir, "./frost-data");

    /* NULL value: clears strings, refused for the rest. */
    assert_int_equal(config_set(&c, "log_file", NULL, "--log-file", &err), 0);
    assert_string_equal(c.log_file, "");
    assert_int_equal(config_set(&c, "http.max_connections", NULL, "x", &err), -1);
    assert_string_equal(err.msg, "x: http.max_connections: needs a value");

    /* Control bytes in a bad value are escaped in the message. */
    assert_int_equal(config_set(&c, "log_level", "in\nfo\"", "x", &err), -1);
    assert_string_equal(err.msg,
                        "x: log_level: \"in\\x0afo\\\"\" is not a log level (debug, info, warn, "
                        "error, off)");
}

static void test_env(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    struct buf unknown = BUF_INIT(0);
    config_defaults(&c);
    char *envp[] = {
        "PATH=/usr/bin",
        "FROST_LISTEN=0.0.0.0:9900",
        "FROST_HTTP_HEADER_TIMEOUT=3s",
        "FROST_HTTP_UPSTREAM_MAX_IDLE_PER_ENDPOINT=8",
        "FROST_CONFIG=/etc/frost.yaml",
        "FROST_http_max_body_bytes=1KB",
        "FROST_NOEQUALS",
        "FROST_LOG_FILE=",
        "FROST_=x",
        "XFROST_LISTEN=bad",
        "FROST_HTTP=x",
        "FROST_LISTEN=0.0.0.0:9901", /* the later of two wins */
        NULL,
    };
    assert_int_equal(config_apply_env(&c, envp, &unknown, &err), 0);
    assert_string_equal(c.listen, "0.0.0.0:9901");
    assert_int_equal(c.http.header_timeout_ms, 3000);
    assert_int_equal(c.http.upstream_max_idle_per_endpoint, 8);
    assert_int_equal(c.http.max_body_bytes, 1000);
    assert_string_equal(c.log_file, "");
    assert_non_null(unknown.data);
    assert_string_equal(unknown.data, "FROST_CONFIG FROST_ FROST_HTTP");
    buf_free(&unknown);

    /* unknown may be NULL; NULL envp is a no-op. */
    assert_int_equal(config_apply_env(&c, envp, NULL, &err), 0);
    assert_int_equal(config_apply_env(&c, NULL, NULL, &err), 0);
}

static void test_env_errors(void **state)
{
    (void)state;
    struct frost_config c, d;
    struct frost_err err = {0};
    config_defaults(&c);
    config_defaults(&d);
    char *envp[] = {"FROST_LISTEN=0.0.0.0:1", "FROST_HTTP_HEADER_TIMEOUT=10", NULL};
    assert_int_equal(config_apply_env(&c, envp, NULL, &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "InvalidConfig");
    assert_string_equal(err.msg, "FROST_HTTP_HEADER_TIMEOUT: http.header_timeout: \"10\" needs a "
                                 "unit (ms, s, m, h)");
    /* All or nothing: FROST_LISTEN was not applied either. */
    assert_config_equal(&c, &d);

    /* The unknown list only feeds a warning: names that do not fit under the
     * caller's cap are left out, and the known keys still apply. */
    struct buf small = BUF_INIT(20);
    char *envp2[] = {"FROST_AAAA=1", "FROST_SOMETHING_ELSE=1", "FROST_LOG_LEVEL=warn", "FROST_B=2",
                     NULL};
    assert_int_equal(config_apply_env(&c, envp2, &small, &err), 0);
    assert_string_equal(small.data, "FROST_AAAA FROST_B");
    assert_int_equal(c.log_level, LOG_WARN);
    buf_free(&small);
}

static void test_precedence(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(load_text(&c,
                               "listen: 10.0.0.1:1000\n"
                               "log_level: warn\n"
                               "http:\n"
                               "  header_timeout: 20s\n"
                               "  body_timeout: 21s\n",
                               &err),
                     0);
    char *envp[] = {"FROST_HTTP_HEADER_TIMEOUT=30s", "FROST_LISTEN=10.0.0.2:2000", NULL};
    assert_int_equal(config_apply_env(&c, envp, NULL, &err), 0);
    assert_int_equal(config_set(&c, "listen", "10.0.0.3:3000", "--listen", &err), 0);

    assert_string_equal(c.listen, "10.0.0.3:3000");       /* flag over env over file */
    assert_int_equal(c.http.header_timeout_ms, 30000);    /* env over file */
    assert_int_equal(c.http.body_timeout_ms, 21000);      /* file over default */
    assert_int_equal(c.log_level, LOG_WARN);              /* file */
    assert_int_equal(c.http.keepalive_timeout_ms, 60000); /* default */
    assert_int_equal(config_validate(&c, &err), 0);
}

/* ---- validation --------------------------------------------------------- */

static void test_validate_listen(void **state)
{
    (void)state;
    static const char *const good[] = {
        "127.0.0.1:9800",       "0.0.0.0:0",          "localhost:65535", "[::1]:9800", "[::]:0",
        "unix:/run/frost.sock", "my-host.example:80", "[fe80::1]:1",
    };
    static const struct {
        const char *listen, *msg;
    } bad[] = {
        {"9800", "listen: \"9800\" is not host:port, [ipv6]:port or unix:/absolute/path"},
        {":9800", "listen: \":9800\" is not host:port, [ipv6]:port or unix:/absolute/path"},
        {"", "listen: \"\" is not host:port, [ipv6]:port or unix:/absolute/path"},
        {"host:", "listen: \"host:\": the port must be a number from 0 to 65535"},
        {"host:65536", "listen: \"host:65536\": the port must be a number from 0 to 65535"},
        {"host:-1", "listen: \"host:-1\": the port must be a number from 0 to 65535"},
        {"host:80x", "listen: \"host:80x\": the port must be a number from 0 to 65535"},
        {"host:000080", "listen: \"host:000080\": the port must be a number from 0 to 65535"},
        {"::1:9800", "listen: \"::1:9800\": put an IPv6 address in brackets, as in [::1]:9800"},
        {"[::1]9800", "listen: \"[::1]9800\" is not host:port, [ipv6]:port or unix:/absolute/path"},
        {"[nope]:1", "listen: \"[nope]:1\": not an IPv6 address inside the brackets"},
        {"ho st:1", "listen: \"ho st:1\" is not host:port, [ipv6]:port or unix:/absolute/path"},
        {"unix:run/frost.sock",
         "listen: \"unix:run/frost.sock\": a unix socket path must be absolute"},
        {"unix:", "listen: \"unix:\": a unix socket path must be absolute"},
    };
    struct frost_config c;
    struct frost_err err = {0};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        config_defaults(&c);
        assert_int_equal(config_set(&c, "listen", good[i], "t", &err), 0);
        if (config_validate(&c, &err) != 0)
            fail_msg("%s: %s", good[i], err.msg);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        config_defaults(&c);
        assert_int_equal(config_set(&c, "listen", bad[i].listen, "t", &err), 0);
        memset(&err, 0, sizeof(err));
        assert_int_equal(config_validate(&c, &err), -1);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.code, "InvalidConfig");
        assert_string_equal(err.msg, bad[i].msg);
    }

    /* sun_path holds 107 bytes plus the NUL. */
    char sock[200] = "unix:/";
    memset(sock + 6, 'a', 106);
    sock[112] = 0;
    config_defaults(&c);
    assert_int_equal(config_set(&c, "listen", sock, "t", &err), 0);
    assert_int_equal(config_validate(&c, &err), 0);
    strcat(sock, "a");
    assert_int_equal(config_set(&c, "listen", sock, "t", &err), 0);
    assert_int_equal(config_validate(&c, &err), -1);
    assert_string_equal(err.msg, "listen: unix socket path is 108 bytes; the system allows at most "
                                 "107");
}

static void test_validate_fields_set_by_code(void **state)
{
    (void)state;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    c.http.max_header_bytes = 100;
    assert_int_equal(config_validate(&c, &err), -1);
    assert_string_equal(err.msg, "http.max_header_bytes: 100 is below the minimum of 1KiB");

    config_defaults(&c);
    c.http.header_timeout_ms = 0;
    assert_int_equal(config_validate(&c, &err), -1);
    assert_string_equal(err.msg, "http.header_timeout: 0s is below the minimum of 1ms");

    config_defaults(&c);
    c.http.max_body_bytes = (size_t)1 << 40;
    assert_int_equal(config_validate(&c, &err), -1);
    assert_string_equal(err.msg, "http.max_body_bytes: 1024GiB is above the maximum of 1GiB");

    config_defaults(&c);
    assert_int_equal(config_set(&c, "runtime.port_range", "2000-1000", "t", &err), 0);
    assert_int_equal(config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "runtime.port_range"));

    config_defaults(&c);
    c.log_level = (enum log_level)7;
    assert_int_equal(config_validate(&c, &err), -1);
    assert_string_equal(err.msg, "log_level: invalid value 7");

    config_defaults(&c);
    memset(c.log_file, 'x', sizeof(c.log_file));
    assert_int_equal(config_validate(&c, &err), -1);
    assert_string_equal(err.msg, "log_file: value is not terminated");
}

/* ---- dump --------------------------------------------------------------- */

static void test_dump_format(void **state)
{
    (void)state;
    struct frost_config c;
    config_defaults(&c);
    char *s = dump(&c);
    assert_string_equal(s, "# Frost server configuration (effective values)\n"
                           "listen: \"127.0.0.1:9800\"\n"
                           "data_dir: \"./frost-data\"\n"
                           "log_file: \"\"\n"
                           "log_level: info\n"
                           "region: \"local\"\n"
                           "account_id: \"0000000000000000\"\n"
                           "trigger_domain: \"\"\n"
                           "http:\n"
                           "  max_header_bytes: 64KiB\n"
                           "  max_body_bytes: 32MiB\n"
                           "  header_timeout: 10s\n"
                           "  body_timeout: 1m\n"
                           "  keepalive_timeout: 1m\n"
                           "  shutdown_grace: 30s\n"
                           "  max_connections: 10000\n"
                           "  upstream_connect_timeout: 5s\n"
                           "  upstream_idle_timeout: 1m\n"
                           "  upstream_max_idle_per_endpoint: 64\n"
                           "auth:\n"
                           "  keys: \"\"\n"
                           "  metrics_token: \"\"\n"
                           "runtime:\n"
                           "  user: \"frost-fn\"\n"
                           "  port_range: \"21000-21999\"\n"
                           "  start_timeout: 2m\n"
                           "  stop_grace: 10s\n"
                           "  pids_max: 1024\n"
                           "  log_max_bytes: 10MiB\n"
                           "  log_keep: 3\n"
                           "  cgroup_favordynmods: true\n"
                           "sched:\n"
                           "  keepalive: 5m\n"
                           "  max_queue: 1000\n"
                           "  max_instances: 32\n"
                           "  node_cpus: 0\n"
                           "  node_memory: 0\n"
                           "  freeze_delay: 100ms\n"
                           "  scale_interval: 1s\n"
                           "  scale_window: 1m\n"
                           "  scale_in_stabilization: 5m\n"
                           "gpu:\n"
                           "  devices: \"none\"\n"
                           "  card_quota: 30\n"
                           "  sim_bandwidth: 25000000000\n"
                           "  type_map: \"\"\n"
                           "prices:\n"
                           "  currency: \"USD\"\n"
                           "  gpu_memory_active: 0.000042\n"
                           "  gpu_memory_idle: 0.00001\n"
                           "  gpu_types: \"L20=0.00003/0.000005,L4=0.00003/0.000005\"\n"
                           "  vcpu_active: 0.00002\n"
                           "  vcpu_idle: 0\n"
                           "  memory: 0.000003\n"
                           "  invocation: 0.00000015\n"
                           "dedicated:\n"
                           "  card_hour: 2\n"
                           "  types: \"\"\n");
    free(s);
}

static void test_dump_round_trip(void **state)
{
    (void)state;
    struct frost_config c, d;
    struct frost_err err = {0};
    config_defaults(&c);
    assert_int_equal(config_set(&c, "listen", "[::1]:0", "t", &err), 0);
    /* Quotes, backslash, tab, '#', ':', multi-byte UTF-8, and the characters
     * libyaml refuses or folds when raw: DEL, C1 controls, NEL, LS, BOM. */
    assert_int_equal(
        config_set(&c, "data_dir",
                   "/srv/fr\"o\\st \t#: d\xc3\xa9j\xc3\xa0 \xe2\x9c\x93 \xf0\x9f\x98\x80"
                   " \x01\x7f\xc2\x80\xc2\x85\xe2\x80\xa8\xef\xbb\xbf",
                   "t", &err),
        0);
    assert_int_equal(config_set(&c, "log_file", "null", "t", &err), 0);
    assert_int_equal(config_set(&c, "log_level", "error", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.max_header_bytes", "1500", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.max_body_bytes", "0", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.header_timeout", "1.5s", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.body_timeout", "250ms", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.keepalive_timeout", "90m", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.shutdown_grace", "0s", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.max_connections", "1", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.upstream_connect_timeout", "24h", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.upstream_idle_timeout", "61001ms", "t", &err), 0);
    assert_int_equal(config_set(&c, "http.upstream_max_idle_per_endpoint", "0", "t", &err), 0);
    assert_int_equal(config_set(&c, "region", "eu-central-1", "t", &err), 0);
    assert_int_equal(config_set(&c, "auth.keys", "k:s", "t", &err), 0);

    char *text = dump(&c);
    assert_non_null(strstr(text, "  header_timeout: 1500ms\n"));
    assert_non_null(strstr(text, "  keepalive_timeout: 90m\n"));
    assert_non_null(strstr(text, "  upstream_connect_timeout: 24h\n"));
    assert_non_null(strstr(text, "  max_header_bytes: 1500\n"));
    assert_non_null(strstr(text, "  max_body_bytes: 0\n"));
    assert_non_null(strstr(text, "  shutdown_grace: 0s\n"));
    assert_non_null(strstr(text, "listen: \"[::1]:0\"\n"));
    assert_non_null(strstr(text, "log_file: \"null\"\n"));

    config_defaults(&d);
    int r = load_text(&d, text, &err);
    if (r != 0)
        fail_msg("%s\n---\n%s", err.msg, text);
    assert_string_equal(d.data_dir, c.data_dir);
    assert_string_equal(d.log_file, "null");
    assert_int_equal(d.http.header_timeout_ms, 1500);
    assert_config_equal(&c, &d);
    free(text);

    /* Not UTF-8: cannot be YAML, so dump refuses instead of writing a file
     * that would not load. */
    assert_int_equal(config_set(&c, "data_dir", "/srv/\xff", "t", &err), 0);
    struct buf b = BUF_INIT(0);
    errno = 0;
    assert_int_equal(config_dump(&c, &b), -1);
    assert_int_equal(errno, EILSEQ);
    buf_free(&b);

    /* A buffer limit is honoured. */
    struct buf small = BUF_INIT(16);
    config_defaults(&c);
    assert_int_equal(config_dump(&c, &small), -1);
    assert_int_equal(errno, EMSGSIZE);
    buf_free(&small);
}

/* ---- value parsers ------------------------------------------------------ */

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t ms;
    } ok[] = {
        {"0ms", 0},      {"0s", 0},
        {"1ms", 1},      {"250ms", 250},
        {"10s", 10000},  {"1.5s", 1500},
        {"0.001s", 1},   {"1.500000000000000000000s", 1500},
        {"5m", 300000},  {"0.5m", 30000},
        {"1h", 3600000}, {"1.25h", 4500000},
        {"007s", 7000},  {"18446744073709551615ms", UINT64_MAX},
    };
    static const char *const bad[] = {
        "",
        "0",
        "10",
        "-1s",
        "-0s",
        "+1s",
        "1.s",
        ".5s",
        "1.5ms",
        "0.0001s",
        "1e3s",
        " 1s",
        "1s ",
        "1 s",
        "1S",
        "1sec",
        "1d",
        "s",
        "1.5.5s",
        "18446744073709551616ms",
        "5124095576030432h",
        "99999999999999999999999999s",
        "1.0000000001h",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 12345;
        if (config_parse_duration_ms(ok[i].s, &v) != 0)
            fail_msg("\"%s\" refused", ok[i].s);
        assert_int_equal(v, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 12345;
        if (config_parse_duration_ms(bad[i], &v) != -1)
            fail_msg("\"%s\" accepted as %llu", bad[i], (unsigned long long)v);
        assert_int_equal(v, 12345); /* untouched on failure */
    }
}

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t v;
    } ok[] = {
        {"0", 0},
        {"1", 1},
        {"65536", 65536},
        {"512B", 512},
        {"64K", 65536},
        {"64KiB", 65536},
        {"64KB", 64000},
        {"32M", 32u << 20},
        {"32MiB", 32u << 20},
        {"32MB", 32000000},
        {"1G", 1u << 30},
        {"1GiB", 1u << 30},
        {"1GB", 1000000000},
        {"1.5MiB", 1572864},
        {"0.5K", 512},
        {"18446744073709551615", SIZE_MAX},
        {"17179869183GiB", (size_t)17179869183 << 30},
    };
    static const char *const bad[] = {
        "",
        "-1",
        "-1K",
        "K",
        "1.5",
        "1.",
        "0.1K",
        "64kb",
        "64kib",
        "64 KiB",
        "1TiB",
        "1e6",
        "0x10",
        "64KiBs",
        "18446744073709551616",
        "17179869184GiB",
        "99999999999999999999G",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t v = 12345;
        if (config_parse_size(ok[i].s, &v) != 0)
            fail_msg("\"%s\" refused", ok[i].s);
        assert_int_equal(v, ok[i].v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t v = 12345;
        if (config_parse_size(bad[i], &v) != -1)
            fail_msg("\"%s\" accepted as %zu", bad[i], v);
        assert_int_equal(v, 12345);
    }
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", "On"};
    static const char *const no[] = {"false", "no", "off", "0", "False", "NO", "OFF"};
    static const char *const bad[] = {"", "2", "y", "n", "truee", "enable", " true"};
    int v;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        v = -1;
        assert_int_equal(config_parse_bool(yes[i], &v), 0);
        assert_int_equal(v, 1);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        v = -1;
        assert_int_equal(config_parse_bool(no[i], &v), 0);
        assert_int_equal(v, 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = -1;
        assert_int_equal(config_parse_bool(bad[i], &v), -1);
        assert_int_equal(v, -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_nested_and_dotted),
        cmocka_unit_test(test_load_flow_style),
        cmocka_unit_test(test_load_empty_and_comments),
        cmocka_unit_test(test_load_null_clears_string),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_syntax_error),
        cmocka_unit_test(test_load_is_atomic),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_too_large),
        cmocka_unit_test(test_string_too_long),
        cmocka_unit_test(test_alias_cycle),
        cmocka_unit_test(test_example_file_loads),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_validate_listen),
        cmocka_unit_test(test_validate_fields_set_by_code),
        cmocka_unit_test(test_dump_format),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_bool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
