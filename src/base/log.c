#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

enum log_level log_threshold = LOG_INFO;

#define LOG_BUF_SIZE (64 * 1024)
#define LOG_LINE_MAX 4096

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = 2;
static char log_buf[LOG_BUF_SIZE];
static size_t log_len;

/* Cached formatted second: most lines share it, and strftime is not free. */
static time_t cached_sec = -1;
static char cached_prefix[24];

static const char *names[] = {"debug", "info", "warn", "error", "off"};

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(enum log_level lvl)
{
    return (unsigned)lvl <= LOG_OFF ? names[lvl] : "?";
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a logging failure */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void flush_locked(void)
{
    if (log_len) {
        write_all(log_fd, log_buf, log_len);
        log_len = 0;
    }
}

void log_flush(void)
{
    pthread_mutex_lock(&log_mu);
    flush_locked();
    pthread_mutex_unlock(&log_mu);
}

int log_open(const char *path)
{
    int fd = 2;
    if (path) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
    }
    pthread_mutex_lock(&log_mu);
    flush_locked();
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    pthread_mutex_unlock(&log_mu);
    return 0;
}

void log_close(void)
{
    pthread_mutex_lock(&log_mu);
    flush_locked();
    if (log_fd > 2)
        close(log_fd);
    log_fd = 2;
    pthread_mutex_unlock(&log_mu);
}

const char *log_quote(const char *s, char *tmp, unsigned tmplen)
{
    if (!s)
        return "-";
    int plain = *s != 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
            plain = 0;
            break;
        }
    }
    if (plain)
        return s;
    unsigned o = 0;
    if (tmplen < 4)
        return "\"\"";
    tmp[o++] = '"';
    for (const char *p = s; *p && o + 6 < tmplen; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            tmp[o++] = '\\';
            tmp[o++] = (char)c;
        } else if (c < ' ' || c == 0x7f) {
            o += (unsigned)snprintf(tmp + o, tmplen - o, "\\x%02x", c);
        } else {
            tmp[o++] = (char)c;
        }
    }
    tmp[o++] = '"';
    tmp[o] = 0;
    return tmp;
}

void log_write(enum log_level lvl, const char *event, const char *fields, ...)
{
    char line[LOG_LINE_MAX];
    int64_t now = clock_wall_ms();
    time_t sec = (time_t)(now / 1000);

    pthread_mutex_lock(&log_mu);
    if (sec != cached_sec) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(cached_prefix, sizeof(cached_prefix), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = sec;
    }
    int n = snprintf(line, sizeof(line), "ts=%s.%03dZ level=%s event=%s ", cached_prefix,
                     (int)(now % 1000), log_level_name(lvl), event);
    pthread_mutex_unlock(&log_mu);

    if (n < 0 || (size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 2;
    va_list ap;
    va_start(ap, fields);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fields, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    while (len > 0 && line[len - 1] == ' ')
        len--;
    line[len++] = '\n';

    pthread_mutex_lock(&log_mu);
    if (log_len + len > sizeof(log_buf))
        flush_locked();
    memcpy(log_buf + log_len, line, len);
    log_len += len;
    if (lvl >= LOG_WARN)
        flush_locked();
    pthread_mutex_unlock(&log_mu);
}
