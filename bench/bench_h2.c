/* bench_h2.c — tallinn-bench's default engine (--engine h2): gRPC unary calls
 * spoken directly over HTTP/2 with libnghttp2 (the framing of gRPC's
 * PROTOCOL-HTTP2: POST, application/grpc, a length-prefixed message, the
 * status in trailers), one non-blocking socket per connection thread. A call
 * costs the client a few µs instead of the gRPC client channel's tens, so
 * the server, not the client, is what a run measures; every answer still
 * reaches the same checks (bench_slot_done). */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#define BENCH_H2_READ_BUF (64 * 1024)
#define BENCH_H2_WINDOW (16 * 1024 * 1024)     /* per stream: a page never waits */
#define BENCH_H2_CONN_WINDOW (256 * 1024 * 1024)
#define BENCH_H2_POLL_MS 100
/* A call the server has not ended this long after its deadline is reset
 * here and counted as DEADLINE_EXCEEDED: a run always ends. */
#define BENCH_H2_DEADLINE_GRACE_MS 5000

struct bench_h2_conn {
    int fd;
    nghttp2_session *session;
    uint8_t *wbuf;            /* frames not yet written to the socket */
    size_t wlen, wcap;
    bench_slot **ready;       /* calls that ended during a receive: restart them after it */
    int n_ready;
    int dead;                 /* the connection failed: end every call */
    char dead_why[128];
    char timeout[24];         /* grpc-timeout, e.g. "30000m" */
    uint64_t next_deadline_check;
    uint8_t rbuf[BENCH_H2_READ_BUF];
};

typedef struct bench_h2_slot {
    int32_t stream_id;        /* 0: no call under way */
    size_t sent;              /* request bytes handed to nghttp2 */
    int http_status;
    int grpc_status;          /* -1 until the trailers say */
    char message[BENCH_ERROR_MAX];
    size_t message_len;
    uint8_t *body;            /* the response's DATA, kept across calls */
    size_t body_len, body_cap;
} bench_h2_slot;

static void bench_h2__dead(bench_h2_conn *h, const char *why, int err)
{
    if (!h->dead)
        snprintf(h->dead_why, sizeof(h->dead_why), "connection lost: %s%s%s", why,
                 err ? ": " : "", err ? strerror(err) : "");
    h->dead = 1;
}

static int bench_h2__hex(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* grpc-message is percent-encoded (PROTOCOL-HTTP2); decoded into the slot. */
static void bench_h2__message(bench_h2_slot *h, const uint8_t *v, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 1 < sizeof(h->message); i++) {
        int hi, lo;
        if (v[i] == '%' && i + 2 < n && (hi = bench_h2__hex(v[i + 1])) >= 0 &&
            (lo = bench_h2__hex(v[i + 2])) >= 0) {
            h->message[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            h->message[o++] = (char)v[i];
        }
    }
    h->message_len = o;
}

static int bench_h2__on_header(nghttp2_session *session, const nghttp2_frame *frame,
                               const uint8_t *name, size_t namelen, const uint8_t *value,
                               size_t valuelen, uint8_t flags, void *user_data)
{
    bench_slot *s;
    bench_h2_slot *h;

    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS ||
        (s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id)) == NULL)
        return 0;
    h = s->engine;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        h->http_status = 0;
        for (size_t i = 0; i < valuelen && value[i] >= '0' && value[i] <= '9'; i++)
            h->http_status = h->http_status * 10 + (value[i] - '0');
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        h->grpc_status = 0;
        for (size_t i = 0; i < valuelen && h->grpc_status < 1000; i++) {
            if (value[i] < '0' || value[i] > '9') {
                h->grpc_status = GRPC_STATUS_UNKNOWN;
                break;
            }
            h->grpc_status = h->grpc_status * 10 + (value[i] - '0');
        }
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        bench_h2__message(h, value, valuelen);
    }
    return 0;
}

static int bench_h2__on_data(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                             const uint8_t *data, size_t len, void *user_data)
{
    bench_slot *s = nghttp2_session_get_stream_user_data(session, stream_id);
    bench_h2_slot *h;

    (void)flags;
    (void)user_data;
    if (s == NULL)
        return 0;
    h = s->engine;
    if (h->body_len + len > h->body_cap) {
        size_t cap = h->body_cap ? h->body_cap : 4096;
        uint8_t *b;
        while (cap < h->body_len + len)
            cap *= 2;
        if ((b = realloc(h->body, cap)) == NULL)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        h->body = b;
        h->body_cap = cap;
    }
    memcpy(h->body + h->body_len, data, len);
    h->body_len += len;
    return 0;
}

/* What the call came to: its status and its one message, as a gRPC client
 * would conclude from what arrived. */
static void bench_h2__finish(bench_slot *s, uint32_t error_code)
{
    bench_h2_slot *h = s->engine;
    grpc_status_code code;
    const char *msg = h->message;
    size_t msg_len = h->message_len, len = 0;
    const uint8_t *resp = NULL;
    char why[96];

    if (h->grpc_status >= 0 && error_code == NGHTTP2_NO_ERROR && h->http_status == 200) {
        code = (grpc_status_code)h->grpc_status;
    } else {
        code = GRPC_STATUS_INTERNAL;
        if (error_code != NGHTTP2_NO_ERROR)
            snprintf(why, sizeof(why), "stream reset (HTTP/2 error %u)", error_code);
        else if (h->http_status != 200)
            snprintf(why, sizeof(why), "HTTP status %d", h->http_status);
        else
            snprintf(why, sizeof(why), "no grpc-status in the response");
        msg = why;
        msg_len = strlen(why);
    }
    if (code == GRPC_STATUS_OK && h->body_len > 0) {
        /* One uncompressed length-prefixed message, nothing else. */
        len = (size_t)h->body[1] << 24 | (size_t)h->body[2] << 16 | (size_t)h->body[3] << 8 |
              h->body[4];
        if (h->body_len < BENCH_GRPC_PREFIX || h->body[0] != 0 ||
            h->body_len != BENCH_GRPC_PREFIX + len) {
            code = GRPC_STATUS_INTERNAL;
            msg = "malformed gRPC message in the response";
            msg_len = strlen(msg);
        } else {
            resp = h->body + BENCH_GRPC_PREFIX;
        }
    }
    h->stream_id = 0;
    bench_slot_done(s, code, msg, msg_len, resp, len, resp != NULL);
}

static int bench_h2__on_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                              void *user_data)
{
    bench_conn *c = user_data;
    bench_h2_conn *h2 = c->h2;
    bench_slot *s = nghttp2_session_get_stream_user_data(session, stream_id);

    if (s == NULL)
        return 0; /* reset by the deadline guard: already counted */
    bench_h2__finish(s, error_code);
    h2->ready[h2->n_ready++] = s;
    return 0;
}

static ssize_t bench_h2__read_req(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                  size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                                  void *user_data)
{
    bench_slot *s = source->ptr;
    bench_h2_slot *h = s->engine;
    size_t total = BENCH_GRPC_PREFIX + s->req_len, n = total - h->sent;

    (void)session;
    (void)stream_id;
    (void)user_data;
    if (n > length)
        n = length;
    memcpy(buf, s->req + h->sent, n);
    h->sent += n;
    if (h->sent == total)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define BENCH_H2_NV(n, v, vlen, fl)                                                               \
    ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), (fl)})
#define BENCH_H2_STATIC (NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE)

static int bench_h2__start(bench_slot *s)
{
    bench_conn *c = s->conn;
    bench_h2_conn *h2 = c->h2;
    bench_h2_slot *h = s->engine;
    const bench_config *cfg = bench_conn_config(c);
    const char *path = bench_op_method(s->op), *auth = cfg->auth[s->role];
    nghttp2_nv nv[9];
    nghttp2_data_provider dp;
    size_t n = 0;
    int32_t id;

    if (h2->dead)
        return 0;
    nv[n++] = BENCH_H2_NV(":method", "POST", 4, BENCH_H2_STATIC);
    nv[n++] = BENCH_H2_NV(":scheme", "http", 4, BENCH_H2_STATIC);
    nv[n++] = BENCH_H2_NV(":path", path, strlen(path), BENCH_H2_STATIC);
    nv[n++] = BENCH_H2_NV(":authority", cfg->addr, strlen(cfg->addr), BENCH_H2_STATIC);
    nv[n++] = BENCH_H2_NV("content-type", "application/grpc", 16, BENCH_H2_STATIC);
    nv[n++] = BENCH_H2_NV("te", "trailers", 8, BENCH_H2_STATIC);
    nv[n++] = BENCH_H2_NV("grpc-timeout", h2->timeout, strlen(h2->timeout), BENCH_H2_STATIC);
    nv[n++] = BENCH_H2_NV("user-agent", "tallinn-bench/h2", 16, BENCH_H2_STATIC);
    if (auth != NULL)
        nv[n++] = BENCH_H2_NV("authorization", auth, strlen(auth), BENCH_H2_STATIC);
    h->sent = 0;
    h->http_status = 0;
    h->grpc_status = -1;
    h->message_len = 0;
    h->body_len = 0;
    dp.source.ptr = s;
    dp.read_callback = bench_h2__read_req;
    id = nghttp2_submit_request(h2->session, NULL, nv, n, &dp, s);
    if (id < 0) {
        bench_conn_fail(c, "%s: cannot submit the request: %s", bench_op_name(s->op),
                        nghttp2_strerror(id));
        return 0;
    }
    h->stream_id = id;
    return 1;
}

/* Hands nghttp2's pending frames to the socket, as far as it takes them. */
static void bench_h2__flush(bench_h2_conn *h2)
{
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h2->session, &data);
        if (n < 0) {
            bench_h2__dead(h2, nghttp2_strerror((int)n), 0);
            return;
        }
        if (n == 0)
            break;
        if (h2->wlen + (size_t)n > h2->wcap) {
            size_t cap = h2->wcap ? h2->wcap : 16384;
            uint8_t *b;
            while (cap < h2->wlen + (size_t)n)
                cap *= 2;
            if ((b = realloc(h2->wbuf, cap)) == NULL) {
                bench_h2__dead(h2, "out of memory", 0);
                return;
            }
            h2->wbuf = b;
            h2->wcap = cap;
        }
        memcpy(h2->wbuf + h2->wlen, data, (size_t)n);
        h2->wlen += (size_t)n;
    }
    while (h2->wlen > 0) {
        ssize_t w = send(h2->fd, h2->wbuf, h2->wlen, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                bench_h2__dead(h2, "send", errno);
            return;
        }
        memmove(h2->wbuf, h2->wbuf + w, h2->wlen - (size_t)w);
        h2->wlen -= (size_t)w;
    }
}

/* Reads what the socket has and feeds it to nghttp2; the calls that ended
 * meanwhile wait in h2->ready for the main loop to restart their slots. */
static void bench_h2__receive(bench_conn *c)
{
    bench_h2_conn *h2 = c->h2;

    for (;;) {
        ssize_t n = recv(h2->fd, h2->rbuf, sizeof(h2->rbuf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                bench_h2__dead(h2, "recv", errno);
            break;
        }
        if (n == 0) {
            bench_h2__dead(h2, "the server closed the connection", 0);
            break;
        }
        if (nghttp2_session_mem_recv(h2->session, h2->rbuf, (size_t)n) < 0) {
            bench_h2__dead(h2, "HTTP/2 protocol error", 0);
            break;
        }
        if ((size_t)n < sizeof(h2->rbuf))
            break; /* drained, most likely: poll says when there is more */
    }
}

/* A call past its deadline and the grace is reset and counted as
 * DEADLINE_EXCEEDED, so that no run waits on a server that never answers. */
static void bench_h2__deadlines(bench_conn *c, uint64_t now)
{
    bench_h2_conn *h2 = c->h2;
    uint64_t limit = (uint64_t)(bench_conn_config(c)->deadline_ms + BENCH_H2_DEADLINE_GRACE_MS) *
                     1000000u;

    if (now < h2->next_deadline_check)
        return;
    h2->next_deadline_check = now + (uint64_t)BENCH_H2_POLL_MS * 1000000u;
    for (int i = 0; i < c->n_slots; i++) {
        bench_slot *s = &c->slots[i];
        bench_h2_slot *h = s->engine;
        static const char msg[] = "no answer by the deadline (reset by the client)";
        if (h->stream_id == 0 || now - s->t_start < limit)
            continue;
        nghttp2_session_set_stream_user_data(h2->session, h->stream_id, NULL);
        nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, h->stream_id, NGHTTP2_CANCEL);
        h->stream_id = 0;
        bench_slot_done(s, GRPC_STATUS_DEADLINE_EXCEEDED, msg, sizeof(msg) - 1, NULL, 0, 0);
        h2->ready[h2->n_ready++] = s;
    }
}

static void bench_h2__main(bench_conn *c)
{
    bench_h2_conn *h2 = c->h2;

    while (c->active > 0 && !h2->dead) {
        struct pollfd p = {.fd = h2->fd, .events = POLLIN};
        int rc;

        bench_h2__flush(h2);
        if (h2->wlen > 0)
            p.events |= POLLOUT;
        rc = poll(&p, 1, BENCH_H2_POLL_MS);
        if (rc < 0 && errno != EINTR) {
            bench_h2__dead(h2, "poll", errno);
            break;
        }
        if (rc > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
            bench_h2__receive(c);
        bench_h2__deadlines(c, bench_now_ns());
        if (h2->n_ready > 0) {
            for (int i = 0; i < h2->n_ready; i++)
                if (!bench_slot_next(h2->ready[i]))
                    c->active--;
            h2->n_ready = 0;
        }
    }
    if (h2->dead) {
        /* Every call still under way ends with the connection. */
        for (int i = 0; i < c->n_slots; i++) {
            bench_slot *s = &c->slots[i];
            bench_h2_slot *h = s->engine;
            if (h->stream_id == 0)
                continue;
            h->stream_id = 0;
            bench_slot_done(s, GRPC_STATUS_UNAVAILABLE, h2->dead_why, strlen(h2->dead_why), NULL,
                            0, 0);
        }
        bench_conn_fail(c, "%s%s", h2->dead_why, "");
        c->active = 0;
    }
}

/* A TCP connection to cfg->addr ("host:port", "[v6]:port", an optional
 * ipv4:/ipv6:/dns: prefix); main has checked that it is loopback. */
static int bench_h2__connect(const char *addr, char *err, size_t err_len)
{
    char host[256];
    const char *port, *a = addr;
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, one = 1, rc;
    size_t n;

    if (strncmp(a, "ipv4:", 5) == 0 || strncmp(a, "ipv6:", 5) == 0 || strncmp(a, "dns:", 4) == 0)
        a = strchr(a, ':') + 1;
    if (a[0] == '[') {
        const char *end = strchr(a, ']');
        if (end == NULL || end[1] != ':' || (n = (size_t)(end - a - 1)) >= sizeof(host))
            goto bad;
        memcpy(host, a + 1, n);
        port = end + 2;
    } else {
        const char *colon = strrchr(a, ':');
        if (colon == NULL || (n = (size_t)(colon - a)) >= sizeof(host))
            goto bad;
        memcpy(host, a, n);
        port = colon + 1;
    }
    host[n] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        snprintf(err, err_len, "%s: %s", addr, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, err_len, "cannot connect to %s: %s", addr, strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
bad:
    snprintf(err, err_len, "%s: expected host:port", addr);
    return -1;
}

static int bench_h2__init(bench_conn *c, char *err, size_t err_len)
{
    const bench_config *cfg = bench_conn_config(c);
    bench_h2_conn *h2 = calloc(1, sizeof(*h2));
    bench_h2_slot *hs = calloc((size_t)c->n_slots, sizeof(*hs));
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, BENCH_H2_WINDOW},
    };
    int rc;

    if (h2 == NULL || hs == NULL ||
        (h2->ready = calloc((size_t)c->n_slots, sizeof(*h2->ready))) == NULL) {
        if (h2 != NULL)
            free(h2->ready);
        free(h2);
        free(hs);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    h2->fd = -1;
    c->h2 = h2;
    for (int i = 0; i < c->n_slots; i++)
        c->slots[i].engine = &hs[i];
    /* grpc-timeout: at most 8 digits; milliseconds fit up to 600,000. */
    snprintf(h2->timeout, sizeof(h2->timeout), "%lldm", (long long)cfg->deadline_ms);
    if ((h2->fd = bench_h2__connect(cfg->addr, err, err_len)) < 0)
        return -1;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    nghttp2_session_callbacks_set_on_header_callback(cb, bench_h2__on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, bench_h2__on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, bench_h2__on_close);
    rc = nghttp2_session_client_new(&h2->session, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0 ||
        nghttp2_submit_settings(h2->session, NGHTTP2_FLAG_NONE, settings,
                                sizeof(settings) / sizeof(settings[0])) != 0 ||
        nghttp2_session_set_local_window_size(h2->session, NGHTTP2_FLAG_NONE, 0,
                                              BENCH_H2_CONN_WINDOW) != 0) {
        snprintf(err, err_len, "cannot set up an HTTP/2 session");
        return -1;
    }
    return 0;
}

static void bench_h2__destroy(bench_conn *c)
{
    bench_h2_conn *h2 = c->h2;

    if (h2 == NULL)
        return;
    if (h2->session != NULL) {
        nghttp2_session_terminate_session(h2->session, NGHTTP2_NO_ERROR);
        if (!h2->dead)
            bench_h2__flush(h2); /* GOAWAY, as far as the socket takes it */
        nghttp2_session_del(h2->session);
    }
    if (h2->fd >= 0)
        close(h2->fd);
    if (c->n_slots > 0 && c->slots[0].engine != NULL) {
        bench_h2_slot *hs = c->slots[0].engine;
        for (int i = 0; i < c->n_slots; i++)
            free(hs[i].body);
        free(hs);
    }
    free(h2->ready);
    free(h2->wbuf);
    free(h2);
    c->h2 = NULL;
}

const bench_engine bench_engine_h2 = {
    .name = "h2",
    .conn_init = bench_h2__init,
    .start = bench_h2__start,
    .conn_main = bench_h2__main,
    .conn_destroy = bench_h2__destroy,
};
