/* rpc_server.c — the server half of the RPC runtime: registration, the thread
 * pool that drives the completion queue, dispatch of new calls to handlers,
 * and an orderly shutdown. Transport only: it knows nothing of the domain. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/support/time.h>

#include "rpc_internal.h"
#include "log/slog.h"

#define RPC_DEFAULT_MAX_MESSAGE (4u * 1024 * 1024)
#define RPC_DEFAULT_MAX_STREAMS 1024
#define RPC_DEFAULT_H2_STREAMS 256
#define RPC_DEFAULT_MAX_METADATA (16u * 1024)
#define RPC_DEFAULT_KEEPALIVE_MS 60000
#define RPC_DEFAULT_KEEPALIVE_TIMEOUT_MS 20000
#define RPC_DEFAULT_MIN_PING_MS 10000
#define RPC_DEFAULT_IDLE_MS (30 * 60 * 1000)
#define RPC_STREAM_STACK (256u * 1024)
#define RPC_WORKER_STACK (512u * 1024)
#define RPC_DEFAULT_MAX_WORKERS 128
#define RPC_WORKER_IDLE_S 30
#define RPC_DEFAULT_LOG_BYTES (1u << 20)
#define RPC_REQUESTS_PER_METHOD 2
#define RPC_REQUESTS_INLINE 16
#define RPC_REPAIR_TICK_MS 100 /* while slots are missing, queue threads wake this often */

int rpc_method_kind_lookup(const char *path, rpc_kind *kind)
{
    for (size_t i = 0; i < rpc_method_kinds_count; i++) {
        if (strcmp(rpc_method_kinds[i].path, path) == 0) {
            *kind = rpc_method_kinds[i].kind;
            return 0;
        }
    }
    return -1;
}

static grpc_arg int_arg(const char *key, int value)
{
    grpc_arg a;

    memset(&a, 0, sizeof(a));
    a.type = GRPC_ARG_INTEGER;
    a.key = (char *)key;
    a.value.integer = value;
    return a;
}

int rpc_server_create(rpc_server **out, const rpc_server_options *opts)
{
    rpc_server *srv;
    pthread_condattr_t attr;
    grpc_arg args[11];
    grpc_channel_args chargs;
    size_t n = 0;

    *out = NULL;
    if (opts == NULL || opts->listen_addr == NULL) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                 "a listen address is required");
        return -1;
    }
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return -1;
    srv->opts = *opts;
    metrics_hist_init(&srv->unknown_stats.latency_us, metrics_latency_us_bounds,
                      metrics_latency_us_count);
    srv->creds = opts->creds;
    srv->opts.creds = NULL;
    if (srv->opts.threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        srv->opts.threads = cpus > 0 ? (int)cpus : 1;
    }
    if (srv->opts.max_message_bytes == 0)
        srv->opts.max_message_bytes = RPC_DEFAULT_MAX_MESSAGE;
    if (srv->opts.max_workers <= 0)
        srv->opts.max_workers = RPC_DEFAULT_MAX_WORKERS;
    if (srv->opts.max_workers < srv->opts.threads)
        srv->opts.max_workers = srv->opts.threads;
    if (srv->opts.max_streams <= 0)
        srv->opts.max_streams = RPC_DEFAULT_MAX_STREAMS;
    /* Unauthenticated streams and each principal's are budgets within the
     * total, so no one caller (and no crowd of anonymous ones) can take
     * every stream: authenticated work always has room. */
    if (srv->opts.max_anon_streams <= 0)
        srv->opts.max_anon_streams = srv->opts.max_streams / 8;
    if (srv->opts.max_principal_streams <= 0)
        srv->opts.max_principal_streams = srv->opts.max_streams / 16;
    if (srv->opts.max_anon_streams < 1)
        srv->opts.max_anon_streams = 1;
    if (srv->opts.max_principal_streams < 1)
        srv->opts.max_principal_streams = 1;
    if (srv->opts.max_anon_streams > srv->opts.max_streams)
        srv->opts.max_anon_streams = srv->opts.max_streams;
    if (srv->opts.max_principal_streams > srv->opts.max_streams)
        srv->opts.max_principal_streams = srv->opts.max_streams;
    if (srv->opts.max_concurrent_streams <= 0)
        srv->opts.max_concurrent_streams = RPC_DEFAULT_H2_STREAMS;
    if (srv->opts.max_metadata_bytes == 0)
        srv->opts.max_metadata_bytes = RPC_DEFAULT_MAX_METADATA;
    if (srv->opts.keepalive_time_ms <= 0)
        srv->opts.keepalive_time_ms = RPC_DEFAULT_KEEPALIVE_MS;
    if (srv->opts.keepalive_timeout_ms <= 0)
        srv->opts.keepalive_timeout_ms = RPC_DEFAULT_KEEPALIVE_TIMEOUT_MS;
    if (srv->opts.min_client_ping_ms <= 0)
        srv->opts.min_client_ping_ms = RPC_DEFAULT_MIN_PING_MS;
    if (srv->opts.max_connection_idle_ms <= 0)
        srv->opts.max_connection_idle_ms = RPC_DEFAULT_IDLE_MS;
    if (srv->opts.log_fd <= 0)
        srv->opts.log_fd = STDERR_FILENO;
    if (srv->opts.log_buffer_bytes == 0)
        srv->opts.log_buffer_bytes = RPC_DEFAULT_LOG_BYTES;
    if (srv->opts.max_message_bytes > INT32_MAX)
        srv->opts.max_message_bytes = INT32_MAX;
    /* Per method and queue; a completed request is re-posted at once. More
     * (16) kept calls from waiting in the core, but cost more CPU on both
     * sides (docs/BENCHMARKS.md). */
    srv->requests_per_method = RPC_REQUESTS_PER_METHOD;
    srv->listen_addr = strdup(opts->listen_addr);
    srv->shutdown_tag.type = RPC_TAG_SHUTDOWN;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->cv, &attr);
    pthread_cond_init(&srv->work_cv, &attr);
    pthread_condattr_destroy(&attr);
    srv->work_tail = &srv->work_head;
    atomic_init(&srv->draining, 0);
    atomic_init(&srv->requests_missing, 0);
    atomic_init(&srv->fail_posts, 0);

    if (!srv->opts.quiet && srv->opts.log_fn == NULL &&
        rpc__log_create(&srv->log, srv->opts.log_fd, srv->opts.log_buffer_bytes) != 0) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                 "cannot start the call log's writer");
        free(srv->listen_addr);
        pthread_mutex_destroy(&srv->mu);
        pthread_cond_destroy(&srv->cv);
        pthread_cond_destroy(&srv->work_cv);
        free(srv);
        return -1;
    }
    grpc_init();
    args[n++] = int_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int)srv->opts.max_message_bytes);
    args[n++] = int_arg(GRPC_ARG_MAX_CONCURRENT_STREAMS, srv->opts.max_concurrent_streams);
    args[n++] = int_arg(GRPC_ARG_MAX_METADATA_SIZE, (int)srv->opts.max_metadata_bytes);
    args[n++] = int_arg(GRPC_ARG_KEEPALIVE_TIME_MS, srv->opts.keepalive_time_ms);
    args[n++] = int_arg(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, srv->opts.keepalive_timeout_ms);
    args[n++] = int_arg(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args[n++] = int_arg(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                        srv->opts.min_client_ping_ms);
    args[n++] = int_arg(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
    args[n++] = int_arg(GRPC_ARG_MAX_CONNECTION_IDLE_MS, srv->opts.max_connection_idle_ms);
    /* The core sets SO_REUSEPORT by default: a second server on our port
     * would start and silently take half the calls. A port is ours alone. */
    args[n++] = int_arg(GRPC_ARG_ALLOW_REUSEPORT, 0);
    chargs.num_args = n;
    chargs.args = args;
    srv->server = grpc_server_create(&chargs, NULL);
    srv->queues = calloc((size_t)srv->opts.threads, sizeof(*srv->queues));
    if (srv->listen_addr == NULL || srv->server == NULL || srv->queues == NULL) {
        rpc_server_destroy(srv);
        return -1;
    }
    for (int i = 0; i < srv->opts.threads; i++) {
        rpc_queue *q = &srv->queues[i];
        q->srv = srv;
        q->index = i;
        if ((q->cq = grpc_completion_queue_create_for_next(NULL)) == NULL) {
            rpc_server_destroy(srv);
            return -1;
        }
        srv->n_queues++;
        grpc_server_register_completion_queue(srv->server, q->cq, NULL);
    }
    *out = srv;
    return 0;
}

static int has_service(const rpc_server *srv, const char *name, size_t len)
{
    for (size_t i = 0; i < srv->n_services; i++)
        if (strlen(srv->service_names[i]) == len && memcmp(srv->service_names[i], name, len) == 0)
            return 1;
    return 0;
}

int rpc_server_add_service(rpc_server *srv, const ProtobufCServiceDescriptor *desc,
                           const rpc_method_handler *handlers, size_t n_handlers, void *ctx)
{
    char **names;

    if (srv->started) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                 "add services before starting the server");
        return -1;
    }
    if (has_service(srv, desc->name, strlen(desc->name))) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                 "service %s registered twice", desc->name);
        return -1;
    }
    names = realloc(srv->service_names, (srv->n_services + 1) * sizeof(*names));
    if (names == NULL)
        return -1;
    srv->service_names = names;
    if ((names[srv->n_services] = strdup(desc->name)) == NULL)
        return -1;
    srv->n_services++;

    for (size_t i = 0; i < n_handlers; i++) {
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(desc, handlers[i].name);
        rpc_method_reg *reg, **methods;
        size_t plen;

        if (md == NULL) {
            slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                     "%s has no method named %s", desc->name, handlers[i].name);
            return -1;
        }
        if (handlers[i].fn == NULL)
            continue;
        reg = calloc(1, sizeof(*reg));
        methods = realloc(srv->methods, (srv->n_methods + 1) * sizeof(*methods));
        if (reg == NULL || methods == NULL) {
            free(reg);
            if (methods != NULL)
                srv->methods = methods;
            return -1;
        }
        srv->methods = methods;
        plen = strlen(desc->name) + strlen(md->name) + 3;
        reg->info.path = malloc(plen);
        if (reg->info.path == NULL) {
            free(reg);
            return -1;
        }
        snprintf((char *)reg->info.path, plen, "/%s/%s", desc->name, md->name);
        if (rpc_method_kind_lookup(reg->info.path, &reg->info.kind) != 0) {
            slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                     "%s is missing from the generated call-kind table (is its .proto listed in "
                     "proto/CMakeLists.txt?)",
                     reg->info.path);
            free((char *)reg->info.path);
            free(reg);
            return -1;
        }
        reg->info.service = desc;
        reg->info.method = md;
        metrics_hist_init(&reg->stats.latency_us, metrics_latency_us_bounds,
                          metrics_latency_us_count);
        reg->fn = handlers[i].fn;
        reg->ctx = ctx;
        reg->grpc_handle = grpc_server_register_method(
            srv->server, reg->info.path, NULL,
            (reg->info.kind == RPC_UNARY || reg->info.kind == RPC_SERVER_STREAMING)
                ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER
                : GRPC_SRM_PAYLOAD_NONE,
            0);
        srv->methods[srv->n_methods++] = reg;
        if (reg->grpc_handle == NULL) {
            slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                     "cannot register %s", reg->info.path);
            return -1;
        }
    }
    return 0;
}

size_t rpc_server_service_count(const rpc_server *srv)
{
    return srv->n_services;
}

const char *rpc_server_service_name(const rpc_server *srv, size_t i)
{
    return i < srv->n_services ? srv->service_names[i] : NULL;
}

int rpc_server_set_method_flags(rpc_server *srv, const char *path, unsigned flags)
{
    for (size_t i = 0; i < srv->n_methods; i++) {
        rpc_method_reg *m = srv->methods[i];
        if (strcmp(m->info.path, path) != 0)
            continue;
        if (srv->started || ((flags & RPC_METHOD_INLINE) && m->info.kind != RPC_UNARY)) {
            slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
                     "%s: flags must be set before the start, and only unary methods run inline",
                     path);
            return -1;
        }
        m->flags = flags;
        return 0;
    }
    slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")), "%s is not registered",
             path);
    return -1;
}

void rpc_server_set_interceptor(rpc_server *srv, rpc_interceptor_fn fn, void *ctx)
{
    srv->interceptor = fn;
    srv->interceptor_ctx = ctx;
}

void rpc_server_set_outcome_hook(rpc_server *srv, rpc_outcome_fn fn, void *ctx)
{
    srv->outcome = fn;
    srv->outcome_ctx = ctx;
}

static int start_close(rpc_call *call)
{
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &call->client_cancelled;
    call->close_started = 1;
    return rpc__call_start(call, RPC_OP_CLOSE, &op, 1);
}

static void dispatch(rpc_server *srv, rpc_call *call);

/* Checks the response, runs the outcome hook and sends the final status:
 * the end of every call that reached its handler (or the interceptor). */
static void complete(rpc_call *call, grpc_status_code code, ProtobufCMessage *resp)
{
    const rpc_method_reg *m = call->method;
    rpc_server *srv = call->srv;
    int wants_resp = m->info.kind == RPC_UNARY || m->info.kind == RPC_CLIENT_STREAMING;

    if (code == GRPC_STATUS_OK && wants_resp && resp == NULL)
        code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "the handler produced no response");
    if (code == GRPC_STATUS_OK && resp != NULL &&
        resp->descriptor != m->info.method->output) {
        code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "the handler produced a %s, not a %s",
                              resp->descriptor->name, m->info.method->output->name);
    }
    if (srv->outcome != NULL)
        code = srv->outcome(call, &m->info, code, srv->outcome_ctx);
    rpc__call_finish(call, code, wants_resp ? resp : NULL);
    rpc__call_handler_done(call);
}

/* Completes a call where the current thread may not block: at once, or —
 * when the outcome hook will see a refusal, and may block to record it
 * (tallinnd's audit of refused writes) — on a worker. */
static void complete_nonblocking(rpc_call *call, grpc_status_code code, ProtobufCMessage *resp)
{
    call->inline_run = 0;
    if (code != GRPC_STATUS_OK && call->srv->outcome != NULL) {
        call->resume_code = code;
        call->resume_resp = resp;
        call->resuming = 1;
        dispatch(call->srv, call);
        return;
    }
    complete(call, code, resp);
}

/* Runs the interceptor, the handler and the outcome hook, then sends the
 * final status. */
static void run_handler(rpc_call *call)
{
    const rpc_method_reg *m = call->method;
    rpc_server *srv = call->srv;
    ProtobufCMessage *resp = NULL;
    grpc_status_code code = GRPC_STATUS_OK;

    if (call->resuming) { /* only the end of a call handed here to complete */
        call->resuming = 0;
        complete(call, call->resume_code, call->resume_resp);
        return;
    }
    if (srv->interceptor != NULL && !call->intercepted)
        code = srv->interceptor(call, &m->info, srv->interceptor_ctx);
    call->intercepted = 1;
    /* A stream's budget is known only once its caller is. */
    if (code == GRPC_STATUS_OK && m->info.kind != RPC_UNARY)
        code = rpc__stream_admit(call);
    if (code == GRPC_STATUS_OK)
        code = m->fn(call, call->request, &resp, m->ctx);
    rpc__stream_release(call);
    if (call->deferred) {
        /* An inline handler must block after all: a worker runs it again,
         * with the close batch out so that it can see cancellation. */
        call->deferred = 0;
        call->inline_run = 0;
        if (start_close(call) != 0) {
            grpc_call_cancel(call->call, NULL);
            rpc__call_handler_done(call);
            return;
        }
        dispatch(srv, call);
        return;
    }
    if (call->suspended) {
        /* Handed on: rpc_call_resume completes the call, or has come first
         * and left its outcome for us. Nothing else touches it here. */
        int resumed;
        pthread_mutex_lock(&call->mu);
        call->handler_returned = 1;
        resumed = call->resumed;
        pthread_mutex_unlock(&call->mu);
        if (!resumed)
            return;
        code = call->resume_code;
        resp = call->resume_resp;
    }
    if (call->inline_run) {
        complete_nonblocking(call, code, resp);
        return;
    }
    complete(call, code, resp);
}

void rpc_call_resume(rpc_call *call, grpc_status_code code, ProtobufCMessage *resp)
{
    int returned;

    pthread_mutex_lock(&call->mu);
    call->resume_code = code;
    call->resume_resp = resp;
    call->resumed = 1;
    returned = call->handler_returned;
    pthread_mutex_unlock(&call->mu);
    if (returned)
        complete_nonblocking(call, code, resp);
    /* else run_handler completes it when the handler returns */
}

/* A handler worker: takes unary calls off the queue. Workers beyond the
 * queue threads' number leave after a while idle. */
static void *worker_main(void *arg)
{
    rpc_server *srv = arg;
    struct timespec until;

    pthread_mutex_lock(&srv->mu);
    for (;;) {
        rpc_call *call;
        while (srv->work_head == NULL && !srv->workers_stop) {
            int rc;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += RPC_WORKER_IDLE_S;
            srv->idle_workers++;
            rc = pthread_cond_timedwait(&srv->work_cv, &srv->mu, &until);
            srv->idle_workers--;
            if (rc == ETIMEDOUT && srv->work_head == NULL && srv->workers > srv->opts.threads)
                goto leave;
        }
        if (srv->work_head == NULL)
            break; /* stopping, and nothing left */
        call = srv->work_head;
        srv->work_head = call->work_next;
        if (srv->work_head == NULL)
            srv->work_tail = &srv->work_head;
        pthread_mutex_unlock(&srv->mu);
        run_handler(call);
        pthread_mutex_lock(&srv->mu);
    }
leave:
    srv->workers--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* Queues a unary call for a worker; starts one if none is idle. */
static void dispatch(rpc_server *srv, rpc_call *call)
{
    pthread_attr_t attr;
    pthread_t th;

    pthread_mutex_lock(&srv->mu);
    call->work_next = NULL;
    *srv->work_tail = call;
    srv->work_tail = &call->work_next;
    if (srv->idle_workers > 0) {
        pthread_cond_signal(&srv->work_cv);
    } else if (srv->workers < srv->opts.max_workers) {
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, RPC_WORKER_STACK);
        if (pthread_create(&th, &attr, worker_main, srv) == 0)
            srv->workers++;
        pthread_attr_destroy(&attr);
    }
    /* else: every worker is busy and the pool is at its limit; the call
     * waits its turn (and its deadline still runs). */
    pthread_mutex_unlock(&srv->mu);
}

static void *stream_main(void *arg)
{
    rpc_call *call = arg;
    rpc_server *srv = call->srv;

    run_handler(call); /* may free the call */
    pthread_mutex_lock(&srv->mu);
    srv->streams--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* Ends a call that never reaches its handler. */
static void reject(rpc_call *call, grpc_status_code code)
{
    rpc__call_finish(call, code, NULL);
    rpc__call_handler_done(call);
}

static void on_request(rpc_server *srv, rpc_request *req, int ok)
{
    rpc_method_reg *m = req->method;
    rpc_call *call;
    pthread_t th;
    pthread_attr_t attr;
    int spawn_ok;

    if (!ok || atomic_load(&srv->draining)) {
        if (ok && req->call != NULL)
            grpc_call_cancel_with_status(req->call, GRPC_STATUS_UNAVAILABLE,
                                         "server is shutting down", NULL);
        rpc__request_free(req);
        return;
    }
    rpc__request_repost(srv, m, req->cq);
    call = rpc__call_create(srv, m, req);
    if (call == NULL) {
        grpc_call_cancel_with_status(req->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory",
                                     NULL);
        rpc__request_free(req);
        return;
    }
    rpc__request_free(req);
    pthread_mutex_lock(&srv->mu);
    srv->calls++;
    pthread_mutex_unlock(&srv->mu);
    if (call->handler_done) { /* rpc__call_create ran out of memory */
        grpc_call_cancel(call->call, NULL);
        call->handler_done = 0;
        rpc__call_handler_done(call);
        return;
    }
    /* An inline call takes its close with the status (one batch fewer);
     * any other may block and must see cancellation meanwhile. */
    if (!(m->flags & RPC_METHOD_INLINE) && start_close(call) != 0) {
        grpc_call_cancel(call->call, NULL);
        rpc__call_handler_done(call);
        return;
    }
    if (m->info.kind == RPC_UNARY || m->info.kind == RPC_SERVER_STREAMING) {
        if (call->req_payload == NULL) {
            rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "the request carried no message");
            reject(call, GRPC_STATUS_INVALID_ARGUMENT);
            return;
        }
        if (rpc__call_decode(call, call->req_payload, m->info.method->input, &call->request, 1) != 0) {
            reject(call, GRPC_STATUS_INVALID_ARGUMENT);
            return;
        }
        grpc_byte_buffer_destroy(call->req_payload);
        call->req_payload = NULL;
    }
    if (m->flags & RPC_METHOD_INLINE) {
        call->inline_run = 1;
        run_handler(call);
        return;
    }
    if (m->info.kind == RPC_UNARY) {
        dispatch(srv, call);
        return;
    }

    /* Streaming handlers may live long (watches, feeds): each gets its own
     * thread, so they never hold the pool; their number is bounded. */
    pthread_mutex_lock(&srv->mu);
    spawn_ok = srv->streams < srv->opts.max_streams;
    if (spawn_ok)
        srv->streams++;
    pthread_mutex_unlock(&srv->mu);
    if (!spawn_ok) {
        rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "too many concurrent streams on the server (limit %d); retry later",
                       srv->opts.max_streams);
        reject(call, GRPC_STATUS_RESOURCE_EXHAUSTED);
        return;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, RPC_STREAM_STACK);
    spawn_ok = pthread_create(&th, &attr, stream_main, call) == 0;
    pthread_attr_destroy(&attr);
    if (!spawn_ok) {
        pthread_mutex_lock(&srv->mu);
        srv->streams--;
        pthread_cond_broadcast(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
        rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start a stream; retry later");
        reject(call, GRPC_STATUS_RESOURCE_EXHAUSTED);
    }
}

/* A call to a method nobody registered: UNIMPLEMENTED at once. */
static void on_catchall(rpc_server *srv, rpc_request *req, int ok)
{
    rpc_call *call;
    const char *path, *slash;

    if (!ok || atomic_load(&srv->draining)) {
        if (ok && req->call != NULL)
            grpc_call_cancel_with_status(req->call, GRPC_STATUS_UNAVAILABLE,
                                         "server is shutting down", NULL);
        rpc__request_free(req);
        return;
    }
    rpc__request_repost(srv, NULL, req->cq);
    call = rpc__call_create(srv, NULL, req);
    if (call == NULL || call->handler_done) {
        grpc_call_cancel_with_status(call != NULL ? call->call : req->call,
                                     GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        rpc__request_free(req);
        if (call != NULL) {
            pthread_mutex_lock(&srv->mu);
            srv->calls++;
            pthread_mutex_unlock(&srv->mu);
            call->handler_done = 0;
            rpc__call_handler_done(call);
        }
        return;
    }
    rpc__request_free(req);
    pthread_mutex_lock(&srv->mu);
    srv->calls++;
    pthread_mutex_unlock(&srv->mu);
    if (start_close(call) != 0) {
        grpc_call_cancel(call->call, NULL);
        rpc__call_handler_done(call);
        return;
    }
    path = call->path;
    slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    if (slash != NULL && has_service(srv, path + 1, (size_t)(slash - path - 1)))
        rpc_call_error(call, GRPC_STATUS_UNIMPLEMENTED, "method %s is not implemented", path);
    else if (slash != NULL)
        rpc_call_error(call, GRPC_STATUS_UNIMPLEMENTED, "unknown service %.*s",
                       (int)(slash - path - 1), path + 1);
    else
        rpc_call_error(call, GRPC_STATUS_UNIMPLEMENTED, "malformed method path");
    reject(call, GRPC_STATUS_UNIMPLEMENTED);
}

void rpc__server_call_freed(struct rpc_server *srv, const rpc_call *call)
{
    (void)call;
    pthread_mutex_lock(&srv->mu);
    srv->calls--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

static void *cq_main(void *arg)
{
    rpc_queue *q = arg;
    rpc_server *srv = q->srv;

    for (;;) {
        /* While slots are missing, wake up to re-post them even if no call
         * arrives (the calls that would have used them wait in the core). */
        gpr_timespec until =
            atomic_load(&srv->requests_missing) > 0
                ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                               gpr_time_from_millis(RPC_REPAIR_TICK_MS, GPR_TIMESPAN))
                : gpr_inf_future(GPR_CLOCK_MONOTONIC);
        grpc_event ev = grpc_completion_queue_next(q->cq, until, NULL);
        rpc_tag *tag;

        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (atomic_load(&srv->requests_missing) > 0)
            rpc__request_repair(srv, q->index);
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        tag = ev.tag;
        switch (tag->type) {
        case RPC_TAG_REQUEST:
            on_request(srv, (rpc_request *)tag, ev.success);
            break;
        case RPC_TAG_CATCHALL:
            on_catchall(srv, (rpc_request *)tag, ev.success);
            break;
        case RPC_TAG_OP: {
            rpc_op_tag *op = (rpc_op_tag *)tag;
            rpc__call_op_done(op->call, op->slot, ev.success);
            break;
        }
        case RPC_TAG_SHUTDOWN:
            pthread_mutex_lock(&srv->mu);
            srv->shutdown_notified = 1;
            pthread_cond_broadcast(&srv->cv);
            pthread_mutex_unlock(&srv->mu);
            break;
        }
    }
    return NULL;
}

int rpc_server_start(rpc_server *srv, int *port)
{
    grpc_server_credentials *creds = srv->creds;
    int bound;

    srv->creds = NULL;
    if (creds == NULL)
        creds = grpc_insecure_server_credentials_create();
    if ((bound = rpc__listen(srv, creds)) == 0)
        return -1;
    grpc_server_start(srv->server);
    pthread_mutex_lock(&srv->mu); /* a scrape may read it (rpc_server_connections) */
    srv->started = 1;
    pthread_mutex_unlock(&srv->mu);
    for (int i = 0; i < srv->n_queues; i++) {
        if (pthread_create(&srv->queues[i].thread, NULL, cq_main, &srv->queues[i]) != 0)
            goto fail;
        srv->queues[i].started = 1;
    }
    for (int q = 0; q < srv->n_queues; q++)
        for (size_t i = 0; i < srv->n_methods; i++)
            for (int k = 0; k < (srv->methods[i]->flags & RPC_METHOD_INLINE ? RPC_REQUESTS_INLINE
                                                                            : srv->requests_per_method);
                 k++)
                if (rpc__request_post(srv, srv->methods[i], q) != 0)
                    goto fail;
    /* At least two catch-all requests, spread over the queues. */
    for (int k = 0; k < (srv->n_queues < 2 ? 2 : srv->n_queues); k++)
        if (rpc__request_post(srv, NULL, k % srv->n_queues) != 0)
            goto fail;
    if (port != NULL)
        *port = bound;
    return 0;
fail:
    slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "rpc")),
             "cannot start the server's threads");
    rpc_server_shutdown(srv, 0);
    return -1;
}

static void wait_until(rpc_server *srv, int *flag, const struct timespec *deadline)
{
    while (!*flag) {
        if (deadline == NULL)
            pthread_cond_wait(&srv->cv, &srv->mu);
        else if (pthread_cond_timedwait(&srv->cv, &srv->mu, deadline) == ETIMEDOUT)
            break;
    }
}

void rpc_server_shutdown(rpc_server *srv, int grace_ms)
{
    struct timespec deadline;

    pthread_mutex_lock(&srv->mu);
    if (!srv->started || srv->stopped || atomic_load(&srv->draining)) {
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    atomic_store(&srv->draining, 1);
    pthread_mutex_unlock(&srv->mu);

    /* No new calls from here on; in-flight calls go on for the grace period. */
    grpc_server_shutdown_and_notify(srv->server, srv->queues[0].cq, &srv->shutdown_tag);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += grace_ms / 1000;
    deadline.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->mu);
    wait_until(srv, &srv->shutdown_notified, &deadline);
    if (!srv->shutdown_notified) {
        pthread_mutex_unlock(&srv->mu);
        grpc_server_cancel_all_calls(srv->server);
        pthread_mutex_lock(&srv->mu);
        wait_until(srv, &srv->shutdown_notified, NULL);
    }
    /* Handlers may still hold calls: nothing may start a batch once the queue
     * shuts down, so wait for every call and stream thread to end first. */
    while (srv->calls > 0 || srv->streams > 0)
        pthread_cond_wait(&srv->cv, &srv->mu);
    srv->workers_stop = 1;
    pthread_cond_broadcast(&srv->work_cv);
    while (srv->workers > 0)
        pthread_cond_wait(&srv->cv, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    /* Every call is freed: write the last lines before shutdown returns. */
    if (srv->log != NULL) {
        long dropped = rpc__log_dropped(srv->log);
        rpc__log_destroy(srv->log);
        pthread_mutex_lock(&srv->mu);
        srv->log_dropped = dropped;
        srv->log = NULL;
        pthread_mutex_unlock(&srv->mu);
    }

    for (int i = 0; i < srv->n_queues; i++)
        grpc_completion_queue_shutdown(srv->queues[i].cq);
    for (int i = 0; i < srv->n_queues; i++) {
        if (srv->queues[i].started)
            pthread_join(srv->queues[i].thread, NULL);
        srv->queues[i].started = 0;
    }
    pthread_mutex_lock(&srv->mu);
    srv->stopped = 1;
    pthread_mutex_unlock(&srv->mu);
}

void rpc_server_destroy(rpc_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->started && !srv->stopped)
        rpc_server_shutdown(srv, 0);
    if (srv->server != NULL)
        grpc_server_destroy(srv->server);
    for (int i = 0; i < srv->n_queues; i++) {
        grpc_completion_queue *cq = srv->queues[i].cq;
        if (!srv->stopped) {
            /* Never started: the queue still needs shutting down and draining. */
            grpc_completion_queue_shutdown(cq);
            while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
                   GRPC_QUEUE_SHUTDOWN)
                ;
        }
        grpc_completion_queue_destroy(cq);
    }
    free(srv->queues);
    if (srv->creds != NULL)
        grpc_server_credentials_release(srv->creds);
    for (size_t i = 0; i < srv->n_methods; i++) {
        free((char *)srv->methods[i]->info.path);
        free(srv->methods[i]);
    }
    free(srv->methods);
    for (size_t i = 0; i < srv->n_services; i++)
        free(srv->service_names[i]);
    free(srv->service_names);
    free(srv->listen_addr);
    free(srv->bound);
    rpc__log_destroy(srv->log);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    pthread_cond_destroy(&srv->work_cv);
    free(srv);
    grpc_shutdown();
}

const char *rpc_server_bound_addresses(const rpc_server *srv)
{
    return srv->bound != NULL ? srv->bound : "";
}

void rpc_server_get_stats(rpc_server *srv, rpc_server_stats *out)
{
    pthread_mutex_lock(&srv->mu);
    out->streams = srv->streams;
    out->anon_streams = srv->anon_streams;
    out->post_failures = srv->post_failures;
    out->requests_missing = atomic_load(&srv->requests_missing);
    out->log_dropped = srv->log != NULL ? rpc__log_dropped(srv->log) : srv->log_dropped;
    pthread_mutex_unlock(&srv->mu);
}

int rpc_call_draining(const rpc_call *call)
{
    return atomic_load(&call->srv->draining);
}

const char *rpc_status_name(grpc_status_code code)
{
    static const char *const names[] = {
        "OK",          "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND",    "ALREADY_EXISTS",    "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",   "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",       "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if ((int)code >= 0 && (size_t)code < sizeof(names) / sizeof(names[0]))
        return names[code];
    return "CODE_OUT_OF_RANGE";
}
