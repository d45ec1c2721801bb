/* rpc_listen.c — binding the server's address, and checking what was bound:
 * with loopback_only the name is resolved first (every address must be
 * loopback), and after the core has bound, every socket it bound is checked
 * again, since the core resolves on its own. A port already taken is named as
 * such. */
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "rpc_internal.h"
#include "log/slog.h"

#define LISTEN_HOST_MAX 256
#define LISTEN_DESC_MAX 512

int rpc_sockaddr_is_loopback(const struct sockaddr *sa, socklen_t len)
{
    if (sa->sa_family == AF_UNIX)
        return 1; /* not reachable from the network */
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

/* "127.0.0.1:50051", "[::1]:50051" or "unix:/path" for a socket address. */
static void format_sockaddr(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(out, outlen, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in->sin6_addr)) { /* the core binds IPv4 this way */
            inet_ntop(AF_INET, &in->sin6_addr.s6_addr[12], host, sizeof(host));
            snprintf(out, outlen, "%s:%u", host, ntohs(in->sin6_port));
            return;
        }
        inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof(host));
        snprintf(out, outlen, "[%s]:%u", host, ntohs(in->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        snprintf(out, outlen, "unix:%s", ((const struct sockaddr_un *)sa)->sun_path);
    } else {
        snprintf(out, outlen, "family-%d", sa->sa_family);
    }
}

/* Splits "host:port" / "[v6]:port" into host and port; 1 for a Unix socket
 * address (no host), 0 for a network one, -1 if malformed. */
static int split_addr(const char *addr, char *host, char *port)
{
    const char *end, *p;
    size_t len;

    if (strncmp(addr, "unix:", 5) == 0 || strncmp(addr, "unix-abstract:", 14) == 0)
        return 1;
    if (addr[0] == '[') {
        if ((end = strchr(addr, ']')) == NULL)
            return -1;
        addr++;
        p = end[1] == ':' ? end + 2 : NULL;
    } else {
        end = strrchr(addr, ':');
        p = end != NULL ? end + 1 : NULL;
        if (end == NULL)
            end = addr + strlen(addr);
    }
    len = (size_t)(end - addr);
    if (len >= LISTEN_HOST_MAX || (p != NULL && strlen(p) >= 32))
        return -1;
    memcpy(host, addr, len);
    host[len] = '\0';
    snprintf(port, 32, "%s", p != NULL && *p != '\0' ? p : "443"); /* the core's default */
    return 0;
}

int rpc_addr_is_loopback(const char *addr, char *err, size_t errlen)
{
    char host[LISTEN_HOST_MAX], port[32], desc[64];
    struct addrinfo hints, *res = NULL;
    int rc, kind = split_addr(addr, host, port);

    if (kind == 1)
        return 1;
    if (kind < 0 || host[0] == '\0') {
        snprintf(err, errlen, "%s names no host (it would listen on every address)", addr);
        return 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        snprintf(err, errlen, "%s does not resolve (%s)", host, gai_strerror(rc));
        return 0;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (!rpc_sockaddr_is_loopback(ai->ai_addr, ai->ai_addrlen)) {
            format_sockaddr(ai->ai_addr, desc, sizeof(desc));
            snprintf(err, errlen, "%s resolves to %s, which is not loopback", host, desc);
            freeaddrinfo(res);
            return 0;
        }
    }
    freeaddrinfo(res);
    return 1;
}

typedef struct fd_list {
    int *fds;
    size_t n, cap;
} fd_list;

/* The process's listening sockets (SO_ACCEPTCONN), from /proc/self/fd. */
static int listening_fds(fd_list *out)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    out->n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        int fd, on = 0;
        socklen_t len = sizeof(on);
        char *end;
        long v = strtol(e->d_name, &end, 10);

        if (*end != '\0' || end == e->d_name || v < 0 || v == dirfd(d))
            continue;
        fd = (int)v;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0 || !on)
            continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            int *fds = realloc(out->fds, cap * sizeof(*fds));
            if (fds == NULL) {
                closedir(d);
                return -1;
            }
            out->fds = fds;
            out->cap = cap;
        }
        out->fds[out->n++] = fd;
    }
    closedir(d);
    return 0;
}

static int fd_listed(const fd_list *l, int fd)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->fds[i] == fd)
            return 1;
    return 0;
}

/* After binding: describes the sockets that appeared (into srv->bound) and,
 * with loopback_only, refuses any that is not loopback. */
static int check_bound(rpc_server *srv, const fd_list *before, int have_before)
{
    fd_list after = {0};
    char desc[LISTEN_DESC_MAX] = "", one[128];
    size_t used = 0;
    int found = 0, rc = 0;

    if (!have_before || listening_fds(&after) != 0) {
        if (srv->opts.loopback_only) {
            slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                     "refusing plaintext on %s: cannot list the bound sockets (is /proc mounted?)",
                     srv->listen_addr);
            rc = -1;
        }
        goto done;
    }
    for (size_t i = 0; i < after.n; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (fd_listed(before, after.fds[i]) ||
            getsockname(after.fds[i], (struct sockaddr *)&ss, &len) != 0)
            continue;
        found++;
        format_sockaddr((struct sockaddr *)&ss, one, sizeof(one));
        if (used + strlen(one) + 2 < sizeof(desc))
            used += (size_t)snprintf(desc + used, sizeof(desc) - used, "%s%s", used ? "," : "", one);
        if (srv->opts.loopback_only && !rpc_sockaddr_is_loopback((struct sockaddr *)&ss, len)) {
            slog_msg(
                SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                "refusing plaintext on %s: it was bound on %s, which is not a loopback address",
                srv->listen_addr, one);
            rc = -1;
        }
    }
    if (found == 0 && srv->opts.loopback_only) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                 "refusing plaintext on %s: cannot find the bound sockets", srv->listen_addr);
        rc = -1;
    }
done:
    free(srv->bound);
    srv->bound = strdup(desc[0] != '\0' ? desc : srv->listen_addr);
    free(after.fds);
    return rc;
}

/* The core failed to bind: say why when we can tell (the port is taken). */
static void explain_bind_failure(const char *addr)
{
    char host[LISTEN_HOST_MAX], port[32], desc[64];
    struct addrinfo hints, *res = NULL;

    if (split_addr(addr, host, port) == 0) {
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        if (getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res) != 0)
            res = NULL;
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            int one = 1, err = 0, s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (s < 0)
                continue;
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(s, ai->ai_addr, ai->ai_addrlen) != 0)
                err = errno;
            close(s);
            if (err == EADDRINUSE) {
                format_sockaddr(ai->ai_addr, desc, sizeof(desc));
                slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                         "cannot listen on %s: the port is taken (%s is in use by another process)",
                         addr, desc);
                freeaddrinfo(res);
                return;
            }
        }
        if (res != NULL)
            freeaddrinfo(res);
    }
    slog_msg(
        SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
        "cannot listen on %s (cannot resolve or bind it: is the address local and the port free?)",
        addr);
}

int rpc__listen(rpc_server *srv, grpc_server_credentials *creds)
{
    fd_list before = {0};
    char err[256];
    int have_before, port;

    if (srv->opts.loopback_only && !rpc_addr_is_loopback(srv->listen_addr, err, sizeof(err))) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                 "refusing plaintext on %s: %s", srv->listen_addr, err);
        grpc_server_credentials_release(creds);
        return 0;
    }
    have_before = listening_fds(&before) == 0;
    port = grpc_server_add_http2_port(srv->server, srv->listen_addr, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
        explain_bind_failure(srv->listen_addr);
    } else if (check_bound(srv, &before, have_before) != 0) {
        port = 0;
    }
    free(before.fds);
    return port;
}
