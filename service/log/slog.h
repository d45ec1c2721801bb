/* slog.h — tallinnd's log lines: every line the server writes goes through
 * here, with a timestamp (RFC 3339 UTC, milliseconds), a level and an event
 * name, as logfmt or JSON (--log-format), filtered by --log-level. Fields are
 * typed; values are escaped, so no caller-supplied text can forge a line.
 * Never pass a token, a key or a restricted field: nothing here can tell
 * them from other text. Design: docs/operations.md, "Logs". */
#ifndef TALLINN_SLOG_H
#define TALLINN_SLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* notice: the server's life cycle (listening, shutdown, stopped), the lines
 * an operator wants without the per-call lines (info). */
typedef enum slog_level { SLOG_DEBUG, SLOG_INFO, SLOG_NOTICE, SLOG_WARN, SLOG_ERROR } slog_level;
typedef enum slog_format { SLOG_LOGFMT, SLOG_JSON } slog_format;

typedef enum slog_kind {
    SLOG_STR,   /* s (NULL is written as "-") */
    SLOG_INT,   /* i */
    SLOG_MILLI  /* i microseconds, written as milliseconds with 3 decimals */
} slog_kind;

typedef struct slog_field {
    const char *key; /* the program's own: [a-z_]+ */
    slog_kind kind;
    const char *s;
    long long i;
} slog_field;

#define SLOG_S(k, v) ((slog_field){(k), SLOG_STR, (v), 0})
#define SLOG_I(k, v) ((slog_field){(k), SLOG_INT, NULL, (long long)(v)})
#define SLOG_MS(k, us) ((slog_field){(k), SLOG_MILLI, NULL, (long long)(us)})

/* Sets the format and the least level written (default: logfmt, info), and
 * the descriptor (default 2). Call before any thread logs. */
void slog_configure(slog_format format, slog_level min_level, int fd);
slog_format slog_get_format(void);
int slog_enabled(slog_level level);
/* "debug", "info", "notice", "warn", "error", "logfmt" | "json": 0, or -1 for anything else. */
int slog_parse_level(const char *s, slog_level *out);
int slog_parse_format(const char *s, slog_format *out);
const char *slog_level_name(slog_level level);

/* One line (with its '\n') for an event at `when` into buf: its length, or
 * the size needed when that is more than cap (call again with that much), or
 * 0 when it cannot be formatted. No allocation for logfmt; JSON goes through
 * jansson. */
size_t slog_format_line(char *buf, size_t cap, slog_format format, const struct timespec *when,
                        slog_level level, const char *event, const slog_field *fields,
                        size_t n);

/* Formats and writes one line now, in one write(2) (lines up to PIPE_BUF
 * never interleave with another thread's). Levels below the minimum are
 * skipped. */
void slog_write(slog_level level, const char *event, const slog_field *fields, size_t n);

/* A line whose "msg" field is printf-formatted, after the given fields. */
void slog_msg(slog_level level, const char *event, const slog_field *fields, size_t n,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define SLOG_FIELDS(...) ((const slog_field[]){__VA_ARGS__}), \
    (sizeof((const slog_field[]){__VA_ARGS__}) / sizeof(slog_field))
/* SLOG(SLOG_INFO, "listening", SLOG_S("addr", a), SLOG_I("port", p)); */
#define SLOG(level, event, ...) slog_write((level), (event), SLOG_FIELDS(__VA_ARGS__))

/* Routes the gRPC core's own log (gpr_log) through slog. */
void slog_capture_grpc(void);

#endif
