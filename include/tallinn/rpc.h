/* rpc.h — a generic gRPC server runtime over protobuf-c on the gRPC C core.
 *
 * A service is registered from its ProtobufCServiceDescriptor and a table of
 * handlers; the runtime decodes requests and encodes responses from the
 * descriptors, and takes each method's call kind from a table generated at
 * build time from the descriptor set (rpc_method_kinds). Design: docs/rpc.md. */
#ifndef TALLINN_RPC_H
#define TALLINN_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/socket.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <protobuf-c/protobuf-c.h>

#include "tallinn/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rpc_kind {
    RPC_UNARY = 0,
    RPC_SERVER_STREAMING,
    RPC_CLIENT_STREAMING,
    RPC_BIDI_STREAMING
} rpc_kind;

/* Generated at build time (proto/gen_methods.c) from the descriptor set. */
typedef struct rpc_method_kind_entry {
    const char *path; /* "/package.Service/Method" */
    rpc_kind kind;
} rpc_method_kind_entry;
extern const rpc_method_kind_entry rpc_method_kinds[];
extern const size_t rpc_method_kinds_count;

/* Looks up a method's kind by full path. Returns 0, or -1 if unknown. */
int rpc_method_kind_lookup(const char *path, rpc_kind *kind);

/* The descriptor set of what tallinnd serves (the tallinn.v1 contract,
 * health, reflection; protoc --include_imports), embedded at build time by
 * cmake/embed.cmake: what server reflection serves (tallinn/reflection.h). */
extern const uint8_t rpc_descriptor_set[];
extern const size_t rpc_descriptor_set_len;

typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call;

/* A handler runs on a runtime thread and may block (storage, signing).
 *
 * - RPC_UNARY:            req is the decoded request; set *resp, return OK.
 * - RPC_SERVER_STREAMING: req is the decoded request; call rpc_call_send()
 *                         per response; resp is unused.
 * - RPC_CLIENT_STREAMING: req is NULL; read with rpc_call_recv(); set *resp.
 * - RPC_BIDI_STREAMING:   req is NULL; rpc_call_recv() / rpc_call_send().
 *
 * Return GRPC_STATUS_OK, or an error code (usually via rpc_call_error(), which
 * also sets the message). The request is owned by the runtime. A response must
 * stay valid until the call ends: build it with rpc_call_alloc() memory or hand
 * an unpacked message to rpc_call_own(). */
typedef grpc_status_code (*rpc_handler_fn)(rpc_call *call, const ProtobufCMessage *req,
                                           ProtobufCMessage **resp, void *ctx);

typedef struct rpc_method_handler {
    const char *name; /* method name as in the .proto, e.g. "GetNeed" */
    rpc_handler_fn fn;
} rpc_method_handler;

/* Static information about a registered method. */
typedef struct rpc_method_info {
    const char *path; /* "/package.Service/Method" */
    const ProtobufCServiceDescriptor *service;
    const ProtobufCMethodDescriptor *method;
    rpc_kind kind;
} rpc_method_info;

/* Runs before every handler (authentication, authorization). Return OK to let
 * the call through, or an error code after rpc_call_error(). For a method
 * marked RPC_METHOD_INLINE it runs on a completion-queue thread: it must not
 * block on anything but the store's read pool. */
typedef grpc_status_code (*rpc_interceptor_fn)(rpc_call *call, const rpc_method_info *info,
                                               void *ctx);

/* Runs after the interceptor and the handler of every call, before its
 * status is sent, with the code they produced (whichever of the two answered);
 * returns the code to send: the same, or another after rpc_call_error().
 * For what must follow an outcome whatever handler produced it. It runs
 * inline for RPC_METHOD_INLINE methods, so it must not block for them. */
typedef grpc_status_code (*rpc_outcome_fn)(rpc_call *call, const rpc_method_info *info,
                                           grpc_status_code code, void *ctx);

/* Receives one finished call's log fields; the default writes a logfmt line to
 * stderr. Never given message bodies or metadata values. */
typedef struct rpc_call_log {
    const char *method;
    grpc_status_code code;
    double duration_ms;
    const char *peer;
    const char *principal; /* NULL when none was set */
} rpc_call_log;

typedef struct rpc_server_options {
    const char *listen_addr;        /* e.g. "127.0.0.1:50051"; port 0 picks one */
    grpc_server_credentials *creds; /* NULL = insecure; the runtime releases it */
    int threads;                    /* completion-queue threads; 0 = number of CPUs */
    int max_workers;                /* unary handler threads at most; 0 = 128 */
    size_t max_message_bytes;       /* receive limit; 0 = 4 MiB */
    int max_streams;                /* concurrent streaming calls, all callers; 0 = 1024 */
    int max_anon_streams;           /* ... of calls with no principal (health Watch,
                                       reflection);
                                       0 = max_streams / 8 */
    int max_principal_streams;      /* ... of any one principal; 0 = max_streams / 16 */
    int loopback_only;              /* refuse to start unless every bound address is
                                       loopback (plaintext) */
    int max_concurrent_streams;     /* HTTP/2 streams per connection; 0 = 256 */
    size_t max_metadata_bytes;      /* 0 = 16 KiB */
    int keepalive_time_ms;          /* server pings idle connections; 0 = 60 s */
    int keepalive_timeout_ms;       /* 0 = 20 s */
    int min_client_ping_ms;         /* 0 = 10 s (client pings more often are strikes) */
    int max_connection_idle_ms;     /* 0 = 30 min */
    /* NULL = one logfmt line per call to log_fd, queued where the call ends
     * and written by a log thread; else called where each call ends. */
    void (*log_fn)(const rpc_call_log *entry, void *ctx);
    void *log_ctx;
    int log_fd;                     /* the default log's descriptor; 0 = stderr */
    size_t log_buffer_bytes;        /* its ring; 0 = 1 MiB (≈ 7,000 lines) */
    int quiet;                      /* 1 = no per-call log lines */
} rpc_server_options;

/* Creates a server (not yet listening). Returns 0 or -1 with a message on
 * stderr. On success the server owns opts->creds. */
int rpc_server_create(rpc_server **out, const rpc_server_options *opts);

/* Registers a service. Handlers are matched by method name; a method without
 * a handler answers UNIMPLEMENTED. A name the descriptor does not have is an
 * error (-1). ctx is passed to every handler. Call before rpc_server_start. */
int rpc_server_add_service(rpc_server *srv, const ProtobufCServiceDescriptor *desc,
                           const rpc_method_handler *handlers, size_t n_handlers, void *ctx);

/* Per-method flags (rpc_server_set_method_flags). */
#define RPC_METHOD_INLINE 1u /* unary only: the interceptor, the handler and the
                                outcome hook run on the completion-queue thread
                                where the call arrived, with no hand-off to a
                                worker. For handlers that never block (answers
                                from memory, reads from the store's read pool);
                                never for one that waits on the committer, a
                                lock held across I/O, or sleeps. A handler that
                                finds it must block after all defers the call
                                (rpc_call_defer). */

/* Sets flags on a registered method ("/package.Service/Method"), before
 * rpc_server_start. Returns 0, or -1 (with a message on stderr) when the
 * method is not registered or the flags do not fit its kind. */
int rpc_server_set_method_flags(rpc_server *srv, const char *path, unsigned flags);

void rpc_server_set_interceptor(rpc_server *srv, rpc_interceptor_fn fn, void *ctx);
void rpc_server_set_outcome_hook(rpc_server *srv, rpc_outcome_fn fn, void *ctx);

/* The services registered so far, in registration order, by full name
 * ("tallinn.v1.NeedService"): what health and reflection report. Names are
 * owned by the server; the list no longer changes once it has started. */
size_t rpc_server_service_count(const rpc_server *srv);
const char *rpc_server_service_name(const rpc_server *srv, size_t i);

/* Binds, starts the threads and begins serving. *port (may be NULL) receives
 * the bound port. The port is never shared (no SO_REUSEPORT): a port another
 * process holds fails the start, and so does, with loopback_only, a name
 * that resolves to, or a socket bound on, any address that is not loopback.
 * Returns 0, or -1 with the reason on stderr. */
int rpc_server_start(rpc_server *srv, int *port);

/* The addresses the server's listening sockets are bound to, as
 * "127.0.0.1:50051,[::1]:50051" (valid once started). */
const char *rpc_server_bound_addresses(const rpc_server *srv);

/* 1 when every address the listen address ("host:port", "[v6]:port",
 * "unix:path") resolves to is loopback; else 0 with the reason in err. */
int rpc_addr_is_loopback(const char *addr, char *err, size_t errlen);

/* 1 when sa is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)
 * or a Unix socket. */
int rpc_sockaddr_is_loopback(const struct sockaddr *sa, socklen_t len);

/* Counters, for tests and diagnostics. */
typedef struct rpc_server_stats {
    int streams;            /* streaming handlers running */
    int anon_streams;       /* ... of calls with no principal */
    long post_failures;     /* request slots the core refused to take */
    int requests_missing;   /* slots not posted now (the queue threads retry) */
    long log_dropped;       /* call log lines lost to a full ring (or a failing
                               descriptor); each loss is also logged */
} rpc_server_stats;
void rpc_server_get_stats(rpc_server *srv, rpc_server_stats *out);

/* Per-method counts, kept where each call ends (a few relaxed atomic adds,
 * no lock): calls by the status the client saw, and their latency in
 * microseconds from arrival to the end of the call. */
#define RPC_STATUS_CODES 17 /* OK .. UNAUTHENTICATED */
typedef struct rpc_method_stats {
    _Atomic uint64_t calls[RPC_STATUS_CODES];
    metrics_hist latency_us;
} rpc_method_stats;

/* Method i's counts and path (for i < rpc_server_method_count); i equal to
 * the count gives the calls to unregistered methods, with path "" (their
 * paths are the callers' and never kept). NULL past that. */
size_t rpc_server_method_count(const rpc_server *srv);
const rpc_method_stats *rpc_server_method_stats(const rpc_server *srv, size_t i,
                                                const char **path);
/* The gRPC connections (HTTP/2 transports) the server holds open now, from the
 * core's channelz registry: -1 when channelz cannot tell. For scrapes only (it
 * parses JSON), never on a call's path. */
long rpc_server_connections(const rpc_server *srv);

/* Testing: the next n request posts fail as if the core refused them. */
void rpc_server_fail_posts(rpc_server *srv, int n);

/* Stops accepting calls, lets in-flight calls finish for up to grace_ms, then
 * cancels the rest and waits for every call and thread to end. Idempotent. */
void rpc_server_shutdown(rpc_server *srv, int grace_ms);

/* Frees the server; shuts it down first (grace 0) if still running. */
void rpc_server_destroy(rpc_server *srv);

/* ---- Inside a handler ---- */

/* Sets the call's status message (printf-style, kept short and actionable) and
 * returns code, so a handler can `return rpc_call_error(...)`. */
grpc_status_code rpc_call_error(rpc_call *call, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Structured error details, sent as google.rpc.Status in
 * grpc-status-details-bin: BadRequest field violations and an ErrorInfo. */
int rpc_call_add_field_violation(rpc_call *call, const char *field, const char *description);
size_t rpc_call_field_violation_count(const rpc_call *call);
int rpc_call_set_error_info(rpc_call *call, const char *reason, const char *domain);

/* First value of a request metadata key (lower case), or NULL. *len gets the
 * value's length (values need not be NUL-free; the pointer is NUL-terminated). */
const char *rpc_call_metadata(rpc_call *call, const char *key, size_t *len);

/* Response metadata; key and value are copied. Initial metadata must be added
 * before the first response is sent. Returns 0 or -1. */
int rpc_call_add_initial_metadata(rpc_call *call, const char *key, const void *value, size_t len);
int rpc_call_add_trailing_metadata(rpc_call *call, const char *key, const void *value, size_t len);

const char *rpc_call_path(const rpc_call *call);  /* "/package.Service/Method" */
/* The registered method being served (never NULL inside a handler). */
const rpc_method_info *rpc_call_method(const rpc_call *call);
const char *rpc_call_peer(const rpc_call *call);  /* e.g. "ipv4:127.0.0.1:4242" */

/* The call's auth context (TLS peer identity); release with
 * grpc_auth_context_release. NULL on a plaintext call. */
grpc_auth_context *rpc_call_auth_context(rpc_call *call);

/* Milliseconds left before the client's deadline; INT64_MAX when it set none;
 * 0 once passed. */
int64_t rpc_call_remaining_ms(const rpc_call *call);

/* 1 once the client cancelled, the deadline passed or the server cancelled
 * the call at shutdown. */
int rpc_call_cancelled(rpc_call *call);

/* 1 once the server began shutting down: long-lived streams (watches, feeds)
 * should send what they must and end, instead of holding the grace period. */
int rpc_call_draining(const rpc_call *call);

/* Registers a condition variable to broadcast (under mu) when the call is
 * cancelled, so a handler waiting on its own condition wakes at once. Pass
 * NULLs to unregister before the condition variable goes away (not while
 * holding mu: unregistering waits for a broadcast under way). */
void rpc_call_notify_cancel(rpc_call *call, pthread_mutex_t *mu, pthread_cond_t *cond);

/* Streaming. rpc_call_send blocks until the message is written (one write in
 * flight at a time); returns 0, or -1 when the call is gone (cancelled, peer
 * closed). rpc_call_recv blocks for the next message: 1 with *msg (owned by
 * the call, valid until it ends or rpc_call_release is called on it), 0 at
 * end of stream, -1 if the call is gone or the message does not decode (the
 * call's status is then set). */
int rpc_call_send(rpc_call *call, const ProtobufCMessage *msg);
int rpc_call_recv(rpc_call *call, ProtobufCMessage **msg);
void rpc_call_release(rpc_call *call, ProtobufCMessage *msg);

/* 1 when the handler runs on a completion-queue thread (RPC_METHOD_INLINE):
 * it must not block. */
int rpc_call_is_inline(const rpc_call *call);

/* From an inline handler that finds it must block (e.g. a read that must be
 * recorded in the audit log): returns a code for the handler to return at
 * once; the runtime then runs the handler again, from the start, on a worker
 * where it may block (rpc_call_is_inline is 0 there). Defer before changing
 * anything the call carries (response, status, metadata); the interceptor is
 * not run again. */
grpc_status_code rpc_call_defer(rpc_call *call);

/* From a unary handler whose answer will come from another thread (tallinnd:
 * a write completed by the store's committer once its batch is durable), so
 * that no thread is parked on it. Call it before handing the call on; then
 * hand it on, touch the call no more, and return the code it returned at
 * once (not OK: it was refused, nothing to hand on). Exactly one
 * rpc_call_resume must follow, from any thread, even before the handler has
 * returned. */
grpc_status_code rpc_call_suspend(rpc_call *call);

/* Ends a suspended call with code and, when OK, resp (the call's memory, as
 * a handler's *resp). Runs the outcome hook and sends the status on the
 * calling thread, which must therefore not be one the outcome hook may not
 * block: a refusal (code not OK) is completed on a worker instead, as is an
 * inline call's. Does not block. */
void rpc_call_resume(rpc_call *call, grpc_status_code code, ProtobufCMessage *resp);

/* The response's encoding as the handler already holds it (tallinnd: a row
 * stored as the message's protobuf encoding, answered unchanged): sent as it
 * is instead of packing the *resp the handler returns, which must be a
 * message of the response's type (checked; its contents are not sent, and
 * may be empty). data must be that type's encoding and live as long
 * as the call (its memory). Only for an OK answer; an error sends none. */
void rpc_call_set_response_bytes(rpc_call *call, const uint8_t *data, size_t len);

/* Per-call memory, freed when the call ends. Both abort-free: NULL on OOM. */
void *rpc_call_alloc(rpc_call *call, size_t size);
char *rpc_call_strdup(rpc_call *call, const char *s);
/* An allocator drawing on the call's memory (free is a no-op): messages
 * unpacked with it need no freeing and may mix in rpc_call_alloc() memory. */
ProtobufCAllocator *rpc_call_allocator(rpc_call *call);

/* The decoded request (unary and server-streaming calls), else NULL. */
const ProtobufCMessage *rpc_call_request(const rpc_call *call);

/* The request message's bytes exactly as received (unary and
 * server-streaming calls); NULL with *len 0 for streaming requests. */
const uint8_t *rpc_call_request_data(const rpc_call *call, size_t *len);

/* The call's memory holds a secret (a token shown once): wipe it, not just
 * free it, when the call ends. */
void rpc_call_wipe_on_end(rpc_call *call);

/* Hands an unpacked message to the call, freed when the call ends. Returns 0,
 * or -1 when out of memory: msg is then freed at once and must not be used. */
int rpc_call_own(rpc_call *call, ProtobufCMessage *msg);

/* Caller identity for the log line and the handlers ("who is calling"). The
 * runtime copies the name. user is opaque data for the auth layer. */
void rpc_call_set_principal(rpc_call *call, const char *name, void *user);
const char *rpc_call_principal(const rpc_call *call);
void *rpc_call_principal_data(const rpc_call *call);

/* The server the call belongs to (for handlers that need server-wide state). */
rpc_server *rpc_call_server(const rpc_call *call);

/* gRPC status code names ("OK", "NOT_FOUND", ...). */
const char *rpc_status_name(grpc_status_code code);

#ifdef __cplusplus
}
#endif

#endif
