/* metrics_http.c — the /metrics endpoint on libmicrohttpd: its own socket
 * (bound here, so the loopback rule is checked on what is actually bound),
 * one polling thread, GET and HEAD of /metrics only. Plain HTTP: TLS and
 * authentication for a remote scraper are a reverse proxy's job
 * (docs/operations.md). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log/slog.h"
#include "metrics/metrics_http.h"

#define METRICS_CONN_LIMIT 16u
#define METRICS_CONN_TIMEOUT_S 10u
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
    struct MHD_Daemon *d;
    metrics_sources src;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text,
                             const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    static int started;
    metrics_http *m = cls;
    struct MHD_Response *r;
    enum MHD_Result rc;
    char *page;
    size_t len;

    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) { /* the headers: answer once any body is read */
        *con_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size != 0) { /* a body nobody asked for: discarded */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n", "GET, HEAD");
    if (strcmp(url, "/metrics") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n", NULL);
    if ((page = metrics_collect(&m->src, &len)) == NULL)
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the metrics could not be rendered\n",
                     NULL);
    r = MHD_create_response_from_buffer(len, page, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(page);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
    rc = MHD_queue_response(c, MHD_HTTP_OK, r); /* HEAD: MHD sends the headers only */
    MHD_destroy_response(r);
    return rc;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    SLOG(SLOG_WARN, "metrics_http", SLOG_S("msg", msg));
}

/* "host:port" or "[v6]:port" into host and port; 0 or -1. */
static int split_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon;
    size_t hl;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        hl = (size_t)(close - addr - 1);
        addr++;
        colon = close + 1;
    } else {
        if ((colon = strrchr(addr, ':')) == NULL || strchr(addr, ':') != colon)
            return -1;
        hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= hcap || strlen(colon + 1) == 0 || strlen(colon + 1) >= pcap)
        return -1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    for (const char *p = port; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return 0;
}

/* The listening socket for addr, or -1 after logging why. */
static int bind_listen(const char *addr, int allow_remote, int *port)
{
    char host[256], portstr[8];
    struct addrinfo hints = {0}, *ai = NULL, *p;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = -1, one = 1, rc;

    if (split_addr(addr, host, sizeof(host), portstr, sizeof(portstr)) != 0) {
        SLOG(SLOG_ERROR, "metrics_listen_failed", SLOG_S("addr", addr),
             SLOG_S("msg", "--metrics-listen wants HOST:PORT or [IPv6]:PORT, e.g. "
                           "127.0.0.1:9464"));
        return -1;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0) {
        SLOG(SLOG_ERROR, "metrics_listen_failed", SLOG_S("addr", addr),
             SLOG_S("msg", gai_strerror(rc)));
        return -1;
    }
    /* Every address the name resolves to, not only the one bound: a name
     * that could mean a public interface is refused outright. */
    for (p = ai; p != NULL && !allow_remote; p = p->ai_next) {
        if (!rpc_sockaddr_is_loopback(p->ai_addr, p->ai_addrlen)) {
            SLOG(SLOG_ERROR, "metrics_listen_refused", SLOG_S("addr", addr),
                 SLOG_S("msg", "the metrics endpoint is plain HTTP without authentication: "
                               "it listens on loopback only (127.0.0.1, ::1, localhost) "
                               "unless --metrics-allow-remote is given; put TLS and "
                               "authentication in front of it with a reverse proxy"));
            freeaddrinfo(ai);
            return -1;
        }
    }
    for (p = ai; p != NULL; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 && listen(fd, 16) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        SLOG(SLOG_ERROR, "metrics_listen_failed", SLOG_S("addr", addr),
             SLOG_S("msg", strerror(errno)));
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        (!allow_remote && !rpc_sockaddr_is_loopback((struct sockaddr *)&ss, sl))) {
        SLOG(SLOG_ERROR, "metrics_listen_refused", SLOG_S("addr", addr),
             SLOG_S("msg", "the bound socket is not on a loopback address"));
        close(fd);
        return -1;
    }
    if (allow_remote && !rpc_sockaddr_is_loopback((struct sockaddr *)&ss, sl))
        SLOG(SLOG_WARN, "metrics_remote", SLOG_S("addr", addr),
             SLOG_S("msg", "metrics are served off loopback in plain HTTP without "
                           "authentication: keep the port behind a TLS reverse proxy or a "
                           "firewall"));
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int metrics_http_start(metrics_http **out, const char *addr, int allow_remote,
                       const metrics_sources *src, int *port)
{
    metrics_http *m = calloc(1, sizeof(*m));
    int fd;

    *out = NULL;
    if (m == NULL)
        return -1;
    m->src = *src;
    if ((fd = bind_listen(addr, allow_remote, port)) < 0) {
        free(m);
        return -1;
    }
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            on_request, m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_CONNECTION_LIMIT, METRICS_CONN_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, METRICS_CONN_TIMEOUT_S,
                            MHD_OPTION_END);
    if (m->d == NULL) {
        SLOG(SLOG_ERROR, "metrics_listen_failed", SLOG_S("addr", addr),
             SLOG_S("msg", "the HTTP server (libmicrohttpd) did not start"));
        close(fd);
        free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void metrics_http_stop(metrics_http *m)
{
    if (m == NULL)
        return;
    MHD_stop_daemon(m->d); /* it closes the listening socket it was given */
    free(m);
}
