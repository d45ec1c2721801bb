/* witness_http.c — the witness's HTTP(S) server on libmicrohttpd:
 * POST <prefix>/add-checkpoint (c2sp.org/tlog-witness) and
 * GET <prefix>/<origin hash>/checkpoint (its monitoring endpoint). One lock
 * makes "check the old size, store the new checkpoint, cosign" atomic, and
 * the state is durable before the answer leaves. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "audit_cmds.h"
#include "tallinn/textsafe.h"
#include "witness.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define PEM_MAX (1u << 20)

typedef struct server {
    witness_store *store;
    const char *prefix;
    size_t prefix_len;
    pthread_mutex_t lock; /* the whole check-store-cosign of add-checkpoint */
    int stop_after_store; /* test hook: SIGSTOP between storing and answering */
} server;

/* One request's body, gathered across upload calls. */
typedef struct request {
    char *body;
    size_t len;
    int too_large;
} request;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                             const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    char line[600];
    int n = snprintf(line, sizeof line, "%s\n", msg);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    return reply(conn, status, TEXT_PLAIN, line, (size_t)n);
}

static void peer_name(struct MHD_Connection *conn, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, size, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)size);
}

/* Request-derived text (an origin, a reason quoting one) for the log. */
static const char *safe(const char *s, char *buf, size_t size)
{
    textsafe_escape(s, strlen(s), 0, buf, size, NULL);
    return buf;
}

/* tlogwitness_decide's view of the store: origin -> keys and state. */
static int lookup(void *ctx, const char *origin, tlogwitness_log *out)
{
    witness_log *log = witness_store_find(ctx, origin);
    if (!log)
        return -ENOENT;
    out->keys = log->keys;
    out->key_count = log->key_count;
    out->size = log->size;
    memcpy(out->root, log->root, MERKLE_HASH_SIZE);
    return 0;
}

/* Called with the lock held. Stores the cosigned checkpoint, then signs the
 * answer; on any failure nothing was cosigned (500). */
static enum MHD_Result cosign(server *sv, struct MHD_Connection *conn,
                              const tlogwitness_decision *d, const char *body, size_t len,
                              const char *peer)
{
    witness_store *st = sv->store;
    witness_log *log = witness_store_find(st, d->cp.origin);
    char line[COSIG_LINE_MAX + 1], err[512], o[1200], r[1200];
    char *stored = NULL;
    size_t line_len = 0, stored_len = 0;
    tlogwitness_request *req = malloc(sizeof *req);
    uint64_t now = (uint64_t)time(NULL);
    if (!req || !log || now == 0) {
        free(req);
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
    }
    /* The checkpoint exactly as received (d->text points into it). */
    if (tlogwitness_request_parse(body, len, req, err, sizeof err) != 0 ||
        cosig_sign(st->signer, now, d->text, d->text_len, line, sizeof line, &line_len, err,
                   sizeof err) != 0 ||
        cosig_note_add(req->checkpoint, req->checkpoint_len, line, line_len, &stored,
                       &stored_len, err, sizeof err) != 0) {
        fprintf(stderr, AUDIT_PROG " witness: %s: \"%s\" size %" PRIu64 ": cannot cosign: %s\n",
                peer, safe(d->cp.origin, o, sizeof o), d->cp.size, err);
        free(req);
        free(stored);
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
    }
    free(req);
    /* Durable first: a cosignature leaves only for a state that survives. */
    if (witness_store_save(st, log, stored, stored_len, d->cp.size, d->cp.root, err,
                           sizeof err) != 0) {
        fprintf(stderr,
                AUDIT_PROG " witness: %s: \"%s\" size %" PRIu64
                ": NOT cosigned: the state could not be stored: %s\n",
                peer, safe(d->cp.origin, o, sizeof o), d->cp.size, err);
        free(stored);
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "the witness could not store its state");
    }
    free(stored);
    if (sv->stop_after_store)
        raise(SIGSTOP); /* test hook (TALLINN_TEST_HOOKS builds only) */
    fprintf(stderr, AUDIT_PROG " witness: %s: \"%s\" size %" PRIu64 ": 200 cosigned (%s)\n",
            peer, safe(d->cp.origin, o, sizeof o), d->cp.size, safe(d->reason, r, sizeof r));
    return reply(conn, MHD_HTTP_OK, TEXT_PLAIN, line, line_len);
}

static enum MHD_Result add_checkpoint(server *sv, struct MHD_Connection *conn, request *rq)
{
    char peer[INET6_ADDRSTRLEN + 1], o[1200], r[1200];
    tlogwitness_decision *d = malloc(sizeof *d);
    enum MHD_Result rc;
    peer_name(conn, peer, sizeof peer);
    if (!d)
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    pthread_mutex_lock(&sv->lock);
    tlogwitness_decide(rq->body ? rq->body : "", rq->len, lookup, sv->store, d);
    if (d->status == TLOGWITNESS_OK) {
        rc = cosign(sv, conn, d, rq->body, rq->len, peer);
    } else if (d->status == TLOGWITNESS_CONFLICT) {
        char size[32];
        size_t n = 0;
        tlogwitness_size_format(d->witness_size, size, sizeof size, &n);
        fprintf(stderr, AUDIT_PROG " witness: %s: \"%s\" size %" PRIu64 ": 409 (%s)\n", peer,
                safe(d->cp.origin, o, sizeof o), d->cp.size, safe(d->reason, r, sizeof r));
        rc = reply(conn, MHD_HTTP_CONFLICT, TLOGWITNESS_SIZE_CONTENT_TYPE, size, n);
    } else {
        /* A validly signed checkpoint that conflicts with what was cosigned
         * is the log's misbehaviour on paper: keep it. */
        witness_log *log = d->signature_verified ? witness_store_find(sv->store, d->cp.origin)
                                                 : NULL;
        fprintf(stderr, AUDIT_PROG " witness: %s: %s%s%s%d: %s\n", peer,
                d->cp.origin[0] ? "\"" : "", safe(d->cp.origin, o, sizeof o),
                d->cp.origin[0] ? "\": " : "", d->status, safe(d->reason, r, sizeof r));
        if (log && d->status == TLOGWITNESS_UNPROCESSABLE)
            witness_store_evidence(sv->store, log, rq->body, rq->len, d->status);
        rc = reply_text(conn, (unsigned)d->status, d->reason);
    }
    pthread_mutex_unlock(&sv->lock);
    free(d);
    return rc;
}

/* GET <prefix>/<64 lowercase hex>/checkpoint */
static enum MHD_Result monitor(server *sv, struct MHD_Connection *conn, const char *path)
{
    static const char tail[] = "/checkpoint";
    size_t len = strlen(path);
    if (len != 1 + TLOGWITNESS_ORIGIN_HASH_HEX + sizeof tail - 1 || path[0] != '/' ||
        strcmp(path + 1 + TLOGWITNESS_ORIGIN_HASH_HEX, tail) != 0)
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found");
    char hash[TLOGWITNESS_ORIGIN_HASH_HEX + 1];
    memcpy(hash, path + 1, TLOGWITNESS_ORIGIN_HASH_HEX);
    hash[TLOGWITNESS_ORIGIN_HASH_HEX] = '\0';
    enum MHD_Result rc;
    pthread_mutex_lock(&sv->lock);
    witness_log *log = witness_store_find_hash(sv->store, hash);
    if (!log || !log->note)
        rc = reply_text(conn, MHD_HTTP_NOT_FOUND, "no checkpoint cosigned for this log");
    else
        rc = reply(conn, MHD_HTTP_OK, TEXT_PLAIN, log->note, log->note_len);
    pthread_mutex_unlock(&sv->lock);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    server *sv = cls;
    request *rq = *con_cls;
    (void)version;
    int outside = strncmp(url, sv->prefix, sv->prefix_len) != 0;
    const char *path = outside ? "" : url + sv->prefix_len;
    int is_add = strcmp(path, TLOGWITNESS_PATH_ADD) == 0;

    if (!rq) {
        /* First call: headers only. A declared length over the limit is
         * refused before any of it is read (the connection then closes);
         * everything else is answered on the last call, which keeps the
         * connection alive for the next request. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > TLOGWITNESS_BODY_MAX)
            return reply_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!rq->too_large && *upload_size <= TLOGWITNESS_BODY_MAX - rq->len) {
            if (!rq->body && !(rq->body = malloc(TLOGWITNESS_BODY_MAX + 1)))
                return MHD_NO;
            memcpy(rq->body + rq->len, upload_data, *upload_size);
            rq->len += *upload_size;
        } else {
            rq->too_large = 1; /* read and dropped; refused at the end */
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_large)
        return reply_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    if (outside)
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found");
    if (!is_add) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
            return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return monitor(sv, conn, path);
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "add-checkpoint takes POST");
    return add_checkpoint(sv, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* Binds host:port ([v6]:port) and checks the loopback rule. Returns the
 * listening socket, or -1 after printing why. */
static int bind_listen(const char *addr, int tls, char *shown, size_t shown_size)
{
    char host[256];
    const char *port, *end;
    if (addr[0] == '[') {
        end = strchr(addr, ']');
        if (!end || end[1] != ':') {
            fprintf(stderr, AUDIT_PROG " witness serve: --listen %s: expected [v6]:port\n", addr);
            return -1;
        }
        port = end + 2;
        addr++;
    } else {
        end = strrchr(addr, ':');
        if (!end) {
            fprintf(stderr, AUDIT_PROG " witness serve: --listen %s: expected host:port\n", addr);
            return -1;
        }
        port = end + 1;
    }
    size_t hl = (size_t)(end - addr);
    if (hl == 0 || hl >= sizeof host || !*port) {
        fprintf(stderr, AUDIT_PROG " witness serve: --listen: bad address\n");
        return -1;
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0) {
        fprintf(stderr, AUDIT_PROG " witness serve: --listen %s: %s\n", host, gai_strerror(g));
        return -1;
    }
    int loopback = 0;
    if (ai->ai_family == AF_INET)
        loopback = (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
    else if (ai->ai_family == AF_INET6)
        loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    if (!tls && !loopback) {
        fprintf(stderr,
                AUDIT_PROG " witness serve: plain HTTP is allowed only on a loopback address "
                           "(127.0.0.1, ::1); give --tls-cert and --tls-key to serve %s\n",
                host);
        freeaddrinfo(ai);
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, AUDIT_PROG " witness serve: --listen %s:%s: %s\n", host, port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[INET6_ADDRSTRLEN];
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
        snprintf(shown, shown_size, "[%s]:%u", ip, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
        snprintf(shown, shown_size, "%s:%u", ip, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
    freeaddrinfo(ai);
    return fd;
}

static char *read_pem(const char *what, const char *path)
{
    char *text = NULL, err[512];
    size_t len = 0;
    if (audit_read_file(path, PEM_MAX, &text, &len, err, sizeof err) != 0) {
        fprintf(stderr, AUDIT_PROG " witness serve: %s: %s\n", what, err);
        return NULL;
    }
    return text;
}

int witness_serve(witness_store *s, const witness_server_opts *o)
{
    server sv = {.store = s, .prefix = o->prefix ? o->prefix : ""};
    char *cert = NULL, *key = NULL, shown[INET6_ADDRSTRLEN + 16];
    struct MHD_Daemon *d = NULL;
    int status = AUDIT_EXIT_FAILED, fd = -1, tls = o->tls_cert && o->tls_key;
    sigset_t stop;

    sv.prefix_len = strlen(sv.prefix);
    if (sv.prefix_len > 0 && (sv.prefix[0] != '/' || sv.prefix[sv.prefix_len - 1] == '/')) {
        fprintf(stderr, AUDIT_PROG " witness serve: --prefix must start with '/' and not end "
                                   "with one\n");
        return AUDIT_EXIT_USAGE;
    }
#ifdef TALLINN_TEST_HOOKS
    const char *hook = getenv("TALLINN_WITNESS_TEST_STOP_AFTER_STORE");
    sv.stop_after_store = hook && strcmp(hook, "1") == 0;
#endif
    if (tls && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        fprintf(stderr, AUDIT_PROG " witness serve: this libmicrohttpd has no TLS support\n");
        return AUDIT_EXIT_FAILED;
    }
    if (tls && (!(cert = read_pem("--tls-cert", o->tls_cert)) ||
                !(key = read_pem("--tls-key", o->tls_key))))
        goto done;
    fd = bind_listen(o->listen, tls, shown, sizeof shown);
    if (fd < 0) {
        status = AUDIT_EXIT_USAGE;
        goto done;
    }
    pthread_mutex_init(&sv.lock, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up must not kill the witness */
    /* The server's threads inherit this mask: only sigwait sees the signals. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (tls)
        flags |= MHD_USE_TLS;
    if (tls)
        d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &sv, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_THREAD_POOL_SIZE, 4u, MHD_OPTION_CONNECTION_LIMIT, 256u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_NOTIFY_COMPLETED,
                             on_completed, NULL, MHD_OPTION_HTTPS_MEM_CERT, cert,
                             MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &sv, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_THREAD_POOL_SIZE, 4u, MHD_OPTION_CONNECTION_LIMIT, 256u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_NOTIFY_COMPLETED,
                             on_completed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, AUDIT_PROG " witness serve: the HTTP server did not start%s\n",
                tls ? " (check the certificate and key)" : "");
        goto done_locked;
    }
    fd = -1; /* the daemon's now */
    char vkey[COSIG_VERIFIER_KEY_MAX];
    cosig_verifier_format(&s->self, vkey, sizeof vkey);
    fprintf(stderr, AUDIT_PROG " witness: %s\n", vkey);
    for (size_t i = 0; i < s->log_count; i++)
        fprintf(stderr, AUDIT_PROG " witness: log \"%s\" (%zu key%s): last cosigned size %" PRIu64
                        "%s\n",
                s->logs[i].origin, s->logs[i].key_count, s->logs[i].key_count == 1 ? "" : "s",
                s->logs[i].size, s->logs[i].note ? "" : " (never)");
    fprintf(stderr, AUDIT_PROG " witness: listening on %s (%s), add-checkpoint at %s%s\n", shown,
            tls ? "https" : "http, loopback", sv.prefix, TLOGWITNESS_PATH_ADD);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, AUDIT_PROG " witness: signal %d, stopping\n", sig);
    MHD_stop_daemon(d);
    status = AUDIT_EXIT_OK;
done_locked:
    pthread_mutex_destroy(&sv.lock);
done:
    if (fd >= 0)
        close(fd);
    if (key) {
        sodium_memzero(key, strlen(key));
        free(key);
    }
    free(cert);
    return status;
}
