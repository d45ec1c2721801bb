/* slog.c — one formatter for every log line of tallinnd. logfmt is written by
 * hand (it has no specification and no C library in Debian: key=value pairs,
 * a value quoted when it holds a space, '=' or '"'), without allocation, as
 * the per-call line is formatted where each call ends; JSON goes through
 * jansson. Untrusted text is first made safe by textsafe (invalid UTF-8 and
 * control characters escaped), so a value never breaks a line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/support/log.h>
#include <jansson.h>

#include "log/slog.h"
#include "tallinn/textsafe.h"

#define SLOG_LINE 1024
#define SLOG_MSG_MAX 900

static slog_format cur_format = SLOG_LOGFMT;
static slog_level cur_min = SLOG_INFO;
static int cur_fd = 2;

static const char *const level_names[] = {"debug", "info", "notice", "warn", "error"};

void slog_configure(slog_format format, slog_level min_level, int fd)
{
    cur_format = format;
    cur_min = min_level;
    cur_fd = fd;
}

slog_format slog_get_format(void)
{
    return cur_format;
}

int slog_enabled(slog_level level)
{
    return level >= cur_min;
}

const char *slog_level_name(slog_level level)
{
    return (unsigned)level <= SLOG_ERROR ? level_names[level] : "error";
}

int slog_parse_level(const char *s, slog_level *out)
{
    for (int i = 0; i <= SLOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (slog_level)i;
            return 0;
        }
    }
    return -1;
}

int slog_parse_format(const char *s, slog_format *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = SLOG_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = SLOG_JSON;
    else
        return -1;
    return 0;
}

/* ---- Pieces ---- */

typedef struct out {
    char *p, *end;
    size_t need; /* bytes the line needs, counted even past end */
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->p != NULL && (size_t)(o->end - o->p) >= n) {
        memcpy(o->p, s, n);
        o->p += n;
    } else {
        o->p = NULL; /* does not fit: only count from here */
    }
    o->need += n;
}

static void put_str(out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_uint(out *o, unsigned long long v, int width)
{
    char d[24];
    char *q = d + sizeof(d);

    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
        width--;
    } while (v > 0 || width > 0);
    put(o, q, (size_t)(d + sizeof(d) - q));
}

/* "2026-12-03T11:30:41.123Z": the second's text is cached per thread, as it
 * changes once a second and gmtime/strftime are most of a line's cost. */
static void put_time(out *o, const struct timespec *ts)
{
    static __thread time_t sec = -1;
    static __thread char text[24];
    static __thread size_t len;

    if (ts->tv_sec != sec) {
        struct tm tm;
        gmtime_r(&ts->tv_sec, &tm);
        len = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
        sec = ts->tv_sec;
    }
    put(o, text, len);
    put(o, ".", 1);
    put_uint(o, (unsigned long long)(ts->tv_nsec / 1000000), 3);
    put(o, "Z", 1);
}

static void put_millis(out *o, long long us)
{
    unsigned long long u = us > 0 ? (unsigned long long)us : 0;

    put_uint(o, u / 1000, 1);
    put(o, ".", 1);
    put_uint(o, u % 1000, 3);
}

/* A logfmt value: bare when it is safe text without space, '=' or '"'; else
 * quoted, with '"' and '\' escaped. Printable ASCII (nearly every value: a
 * method, a peer, a name) is checked in one pass; anything else goes through
 * textsafe first. */
static void put_quoted(out *o, const char *s, size_t len)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            put(o, "\\", 1);
        put(o, &s[i], 1);
    }
    put(o, "\"", 1);
}

/* The rare value with control characters or bytes above ASCII. */
static __attribute__((noinline)) void put_unusual(out *o, const char *s, size_t len)
{
    char safe[SLOG_LINE];

    if (textsafe_is_clean(s, len)) {
        put_quoted(o, s, len); /* UTF-8 text: quoted, in case */
        return;
    }
    /* A value longer than the buffer is cut at a whole character. */
    textsafe_escape(s, len, TEXTSAFE_BACKSLASH, safe, sizeof(safe), &len);
    put_quoted(o, safe, len);
}

/* Byte classes for logfmt values: 0 bare, 1 needs quotes, 2 needs textsafe
 * (controls, DEL, anything above ASCII). GNU range designators (gcc, clang). */
static const unsigned char value_class[256] = {
    [0x00 ... 0x1f] = 2, [' '] = 1, ['"'] = 1, ['='] = 1, ['\\'] = 1, [0x7f ... 0xff] = 2,
};

static void put_logfmt_value(out *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned cls = 0;
    size_t len;

    /* One table lookup per byte, no branch but the loop's. */
    for (; *p != '\0'; p++)
        cls |= value_class[*p];
    len = (size_t)(p - (const unsigned char *)s);
    if (cls & 2)
        put_unusual(o, s, len);
    else if (cls != 0 || len == 0)
        put_quoted(o, s, len);
    else
        put(o, s, len);
}

static size_t format_logfmt(char *buf, size_t cap, const struct timespec *when, slog_level level,
                            const char *event, const slog_field *f, size_t n)
{
    out o = {buf, buf + cap, 0};

    put_str(&o, "ts=");
    put_time(&o, when);
    put_str(&o, " level=");
    put_str(&o, slog_level_name(level));
    put_str(&o, " event=");
    put_logfmt_value(&o, event);
    for (size_t i = 0; i < n; i++) {
        put(&o, " ", 1);
        put_str(&o, f[i].key);
        put(&o, "=", 1);
        switch (f[i].kind) {
        case SLOG_STR:
            put_logfmt_value(&o, f[i].s != NULL ? f[i].s : "-");
            break;
        case SLOG_INT:
            if (f[i].i < 0) {
                put(&o, "-", 1);
                put_uint(&o, 0ull - (unsigned long long)f[i].i, 1);
            } else {
                put_uint(&o, (unsigned long long)f[i].i, 1);
            }
            break;
        case SLOG_MILLI:
            put_millis(&o, f[i].i);
            break;
        }
    }
    put(&o, "\n", 1);
    return o.need;
}

static json_t *json_text(const char *s)
{
    size_t len = strlen(s);
    char safe[SLOG_LINE];

    if (!textsafe_is_clean(s, len)) {
        textsafe_escape(s, len, TEXTSAFE_BACKSLASH, safe, sizeof(safe), &len);
        s = safe;
    }
    return json_stringn(s, len);
}

static size_t format_json(char *buf, size_t cap, const struct timespec *when, slog_level level,
                          const char *event, const slog_field *f, size_t n)
{
    char ts[32];
    out o = {ts, ts + sizeof(ts), 0};
    json_t *obj = json_object();
    size_t len = 0;
    int bad = obj == NULL;

    put_time(&o, when);
    ts[o.need < sizeof(ts) ? o.need : sizeof(ts) - 1] = '\0';
    bad = bad || json_object_set_new(obj, "ts", json_string(ts)) != 0 ||
          json_object_set_new(obj, "level", json_string(slog_level_name(level))) != 0 ||
          json_object_set_new(obj, "event", json_text(event)) != 0;
    for (size_t i = 0; i < n && !bad; i++) {
        json_t *v = NULL;
        switch (f[i].kind) {
        case SLOG_STR:
            v = json_text(f[i].s != NULL ? f[i].s : "-");
            break;
        case SLOG_INT:
            v = json_integer(f[i].i);
            break;
        case SLOG_MILLI:
            v = json_real((double)f[i].i / 1000.0);
            break;
        }
        bad = json_object_set_new(obj, f[i].key, v) != 0;
    }
    if (!bad) {
        /* 15 significant digits: 1.234 ms prints as 1.234. */
        len = json_dumpb(obj, buf, cap > 0 ? cap - 1 : 0, JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (len > 0 && len + 1 <= cap)
            buf[len] = '\n';
        len = len > 0 ? len + 1 : 0;
    }
    json_decref(obj);
    return len;
}

size_t slog_format_line(char *buf, size_t cap, slog_format format, const struct timespec *when,
                        slog_level level, const char *event, const slog_field *fields,
                        size_t n)
{
    if (format == SLOG_JSON)
        return format_json(buf, cap, when, level, event, fields, n);
    return format_logfmt(buf, cap, when, level, event, fields, n);
}

static void write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(cur_fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere left to say it */
        p += w;
        len -= (size_t)w;
    }
}

void slog_write(slog_level level, const char *event, const slog_field *fields, size_t n)
{
    char buf[SLOG_LINE], *line = buf;
    struct timespec now;
    size_t len;

    if (!slog_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    len = slog_format_line(buf, sizeof(buf), cur_format, &now, level, event, fields, n);
    if (len > sizeof(buf)) {
        if ((line = malloc(len)) == NULL)
            return;
        len = slog_format_line(line, len, cur_format, &now, level, event, fields, n);
    }
    if (len > 0)
        write_all(line, len);
    if (line != buf)
        free(line);
}

void slog_msg(slog_level level, const char *event, const slog_field *fields, size_t n,
              const char *fmt, ...)
{
    slog_field all[16];
    char msg[SLOG_MSG_MAX];
    va_list ap;

    if (!slog_enabled(level))
        return;
    if (n > 15)
        n = 15;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n > 0)
        memcpy(all, fields, n * sizeof(*fields));
    all[n] = SLOG_S("msg", msg);
    slog_write(level, event, all, n + 1);
}

static void grpc_log(gpr_log_func_args *args)
{
    slog_level level = args->severity == GPR_LOG_SEVERITY_ERROR  ? SLOG_ERROR
                       : args->severity == GPR_LOG_SEVERITY_INFO ? SLOG_INFO
                                                                 : SLOG_DEBUG;

    SLOG(level, "grpc", SLOG_S("file", args->file), SLOG_I("line", args->line),
         SLOG_S("msg", args->message));
}

void slog_capture_grpc(void)
{
    gpr_set_log_function(grpc_log);
}
