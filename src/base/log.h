/* Leveled key=value logging, one line per event:
 *   ts=2026-11-22T03:45:24.123Z level=info event=http_request method=GET status=200 …
 * The level test happens in the macro, so a disabled level costs one compare
 * and never formats its arguments.
 *
 * Lines are buffered and written by log_flush(), which the server calls once
 * per loop iteration (so a busy loop makes one write() for many requests);
 * warnings and errors are written at once. Thread-safe: the thread pool may log. */
#ifndef FROST_BASE_LOG_H
#define FROST_BASE_LOG_H

enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
    LOG_OFF = 4,
};

extern enum log_level log_threshold;

/* Parses "debug", "info", "warn", "error", "off". -1 on anything else. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);

/* Sends lines to `path` (appended, created 0600) or to stderr when path is
 * NULL. Returns -1 with errno set if the file cannot be opened. */
int log_open(const char *path);
void log_close(void);
void log_flush(void);

/* Formats one line. `fields` is a printf format producing "k=v k=v"; values
 * that may hold spaces or quotes should be passed through log_quote. */
void log_write(enum log_level lvl, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

/* Makes s safe as a value: returned as-is when it has no space, quote, '=' or
 * control byte, otherwise double-quoted with escapes, into tmp (truncated). */
const char *log_quote(const char *s, char *tmp, unsigned tmplen);

#define LOG_AT(lvl, event, ...)                                                                    \
    do {                                                                                           \
        if ((lvl) >= log_threshold)                                                                \
            log_write((lvl), (event), __VA_ARGS__);                                                \
    } while (0)

#define log_debug(event, ...) LOG_AT(LOG_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...)  LOG_AT(LOG_INFO, event, __VA_ARGS__)
#define log_warn(event, ...)  LOG_AT(LOG_WARN, event, __VA_ARGS__)
#define log_error(event, ...) LOG_AT(LOG_ERROR, event, __VA_ARGS__)

#endif
