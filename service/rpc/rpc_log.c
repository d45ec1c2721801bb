/* rpc_log.c — the per-call log line, off the call's path: the line is
 * formatted where the call ends by slog (logfmt or JSON; no stdio, no
 * strftime per line) and copied into a ring; one writer thread hands the ring
 * to the file descriptor in batches, a few hundred write()s a second instead
 * of one per call. A full ring never blocks a call: the line is dropped,
 * counted, and the count is written as its own line (event=call_log_dropped)
 * as soon as there is room, and reported by rpc_server_get_stats. Everything
 * queued is written before the server's shutdown returns. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/slog.h"
#include "rpc_internal.h"

#define RPC_LOG_MIN_BYTES 4096
#define RPC_LOG_BATCH_US 5000 /* after a wake-up, let lines gather this long */
#define RPC_LOG_LINE 512      /* most lines fit; longer ones are allocated */

struct rpc_log {
    int fd;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *ring;
    size_t cap;          /* a power of two */
    size_t head, tail;   /* bytes queued and taken, ever (positions mod cap) */
    int idle;            /* the writer waits for a line */
    int stop;
    long dropped;        /* lines that found the ring full */
    long reported;       /* ... of which a call_log_dropped line has told */
};

size_t rpc__log_format(char *buf, size_t cap, const rpc_call_log *e, const struct timespec *when)
{
    long long us = e->duration_ms > 0 ? (long long)(e->duration_ms * 1000.0 + 0.5) : 0;
    slog_field f[] = {
        SLOG_S("method", e->method),       SLOG_S("code", rpc_status_name(e->code)),
        SLOG_MS("duration_ms", us),        SLOG_S("peer", e->peer),
        SLOG_S("principal", e->principal),
    };

    /* The server's one line format (--log-format), no allocation for logfmt. */
    return slog_format_line(buf, cap, slog_get_format(), when, SLOG_INFO, "call", f,
                            sizeof(f) / sizeof(f[0]));
}

/* Writes all of buf, waiting if the descriptor is non-blocking and full.
 * Returns 0, or -1 when the descriptor fails (the bytes are lost). */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                poll(&p, 1, 100);
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static size_t count_lines(const char *p, size_t n)
{
    size_t lines = 0;

    for (const char *q = p; (q = memchr(q, '\n', n - (size_t)(q - p))) != NULL; q++)
        lines++;
    return lines;
}

static void *writer_main(void *arg)
{
    rpc_log *l = arg;

    pthread_mutex_lock(&l->mu);
    for (;;) {
        size_t off, len, chunk;
        long lost = 0;

        while (l->head == l->tail && l->dropped == l->reported && !l->stop) {
            l->idle = 1;
            pthread_cond_wait(&l->cv, &l->mu);
            l->idle = 0;
            if (!l->stop) {
                /* Let the lines of a busy moment gather into one write. */
                pthread_mutex_unlock(&l->mu);
                usleep(RPC_LOG_BATCH_US);
                pthread_mutex_lock(&l->mu);
            }
        }
        if (l->head == l->tail && l->dropped == l->reported)
            break; /* stopping, and everything is written */
        if (l->dropped > l->reported) {
            long n = l->dropped - l->reported, total = l->dropped;
            char line[300];
            struct timespec ts;
            size_t len;
            slog_field f[] = {
                SLOG_I("dropped", n),
                SLOG_I("total", total),
                SLOG_S("msg", "call log lines lost: the log's reader does not keep up"),
            };
            l->reported = total;
            pthread_mutex_unlock(&l->mu);
            clock_gettime(CLOCK_REALTIME, &ts);
            len = slog_format_line(line, sizeof(line), slog_get_format(), &ts, SLOG_WARN,
                                   "call_log_dropped", f, sizeof(f) / sizeof(f[0]));
            if (len > 0 && len <= sizeof(line))
                write_all(l->fd, line, len);
            pthread_mutex_lock(&l->mu);
            continue;
        }
        /* The queued bytes up to the ring's end; the producers only add
         * after head, so they can be read without the lock. */
        off = l->tail & (l->cap - 1);
        len = l->head - l->tail;
        if (len > l->cap - off)
            len = l->cap - off;
        pthread_mutex_unlock(&l->mu);
        /* Writes of at most PIPE_BUF bytes, ending at a line's end, are
         * atomic on a pipe: another thread's stderr line never lands inside
         * one of ours. (Only a line that wraps the ring's end goes out in
         * two writes.) */
        chunk = len;
        if (chunk > PIPE_BUF) {
            const char *nl = memrchr(l->ring + off, '\n', PIPE_BUF);
            chunk = nl != NULL ? (size_t)(nl - (l->ring + off)) + 1 : len;
        }
        if (write_all(l->fd, l->ring + off, chunk) != 0)
            lost = (long)count_lines(l->ring + off, chunk);
        pthread_mutex_lock(&l->mu);
        l->tail += chunk;
        l->dropped += lost; /* the descriptor failed: counted like a full ring */
        l->reported += lost; /* (and not reported to a descriptor that fails) */
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int rpc__log_create(rpc_log **out, int fd, size_t bytes)
{
    rpc_log *l = calloc(1, sizeof(*l));
    size_t cap = RPC_LOG_MIN_BYTES;

    *out = NULL;
    if (l == NULL)
        return -1;
    while (cap < bytes && cap < SIZE_MAX / 4)
        cap *= 2;
    l->fd = fd;
    l->cap = cap;
    l->ring = malloc(cap);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (l->ring == NULL || pthread_create(&l->thread, NULL, writer_main, l) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        free(l->ring);
        free(l);
        return -1;
    }
    *out = l;
    return 0;
}

void rpc__log_call(rpc_log *l, const rpc_call_log *e)
{
    char buf[RPC_LOG_LINE], *line = buf;
    struct timespec when;
    size_t len, off, first;

    clock_gettime(CLOCK_REALTIME, &when);
    len = rpc__log_format(buf, sizeof(buf), e, &when);
    if (len > sizeof(buf)) { /* a long unknown method's path */
        if ((line = malloc(len)) == NULL) {
            pthread_mutex_lock(&l->mu);
            l->dropped++;
            pthread_mutex_unlock(&l->mu);
            return;
        }
        len = rpc__log_format(line, len, e, &when);
    }
    pthread_mutex_lock(&l->mu);
    if (l->cap - (l->head - l->tail) < len) {
        l->dropped++; /* never wait: a call must not stall on its log line */
    } else {
        off = l->head & (l->cap - 1);
        first = len < l->cap - off ? len : l->cap - off;
        memcpy(l->ring + off, line, first);
        memcpy(l->ring, line + first, len - first);
        l->head += len;
    }
    if (l->idle)
        pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (line != buf)
        free(line);
}

long rpc__log_dropped(rpc_log *l)
{
    long n;

    pthread_mutex_lock(&l->mu);
    n = l->dropped;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void rpc__log_destroy(rpc_log *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->ring);
    free(l);
}
