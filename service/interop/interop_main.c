/* interop_main.c — tallinn-interop-server: grpc.testing.TestService on the
 * tallinn RPC runtime, behaving as the official gRPC interop servers do, so
 * that any gRPC interop client can check the runtime's conformance.
 * Not offered: TLS, and the CompressedRequest/CompressedResponse and auth-echo
 * features (the runtime exposes neither compression nor OAuth per call). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/testing/empty.pb-c.h"
#include "grpc/testing/messages.pb-c.h"
#include "grpc/testing/test.pb-c.h"
#include "tallinn/rpc.h"

/* Largest payload the server agrees to build (the official servers have no
 * limit, but nothing larger fits the default 4 MiB message limit anyway). */
#define INTEROP_MAX_PAYLOAD (16 * 1024 * 1024)
#define INTEROP_DEFAULT_GRACE_MS 5000
#define INTEROP_ECHO_INITIAL "x-grpc-test-echo-initial"
#define INTEROP_ECHO_TRAILING "x-grpc-test-echo-trailing-bin"

/* Echoes the two interop metadata keys: initial into initial metadata,
 * trailing into trailing metadata. */
static grpc_status_code interop_echo_metadata(rpc_call *call)
{
    const char *v;
    size_t len;

    if ((v = rpc_call_metadata(call, INTEROP_ECHO_INITIAL, &len)) != NULL &&
        rpc_call_add_initial_metadata(call, INTEROP_ECHO_INITIAL, v, len) != 0)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot echo %s", INTEROP_ECHO_INITIAL);
    if ((v = rpc_call_metadata(call, INTEROP_ECHO_TRAILING, &len)) != NULL &&
        rpc_call_add_trailing_metadata(call, INTEROP_ECHO_TRAILING, v, len) != 0)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot echo %s", INTEROP_ECHO_TRAILING);
    return GRPC_STATUS_OK;
}

static grpc_status_code interop_check_size(rpc_call *call, const char *field, int32_t size)
{
    if (size < 0 || size > INTEROP_MAX_PAYLOAD)
        return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "%s must be between 0 and %d, not %d", field, INTEROP_MAX_PAYLOAD,
                              (int)size);
    return GRPC_STATUS_OK;
}

/* Only COMPRESSABLE exists in messages.proto; anything else is refused, as
 * the interop descriptions ask. */
static grpc_status_code interop_check_type(rpc_call *call, Grpc__Testing__PayloadType type)
{
    if (type != GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE)
        return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "response_type %d is not supported", (int)type);
    return GRPC_STATUS_OK;
}

/* The status a request's response_status asks for (OK when none). */
static grpc_status_code interop_echo_status(rpc_call *call, const Grpc__Testing__EchoStatus *st)
{
    if (st == NULL || st->code == 0)
        return GRPC_STATUS_OK;
    return rpc_call_error(call, (grpc_status_code)st->code, "%s", st->message);
}

/* One mutex and condition variable for every sleeping handler: a cancelled
 * call's broadcast wakes all sleepers, and each re-checks its own call. They
 * are static because the runtime may still be broadcasting on a registered
 * condition variable just after the handler unregistered it. */
static pthread_mutex_t interop_sleep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t interop_sleep_cv;
static pthread_once_t interop_sleep_once = PTHREAD_ONCE_INIT;

static void interop_sleep_init(void)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&interop_sleep_cv, &attr);
    pthread_condattr_destroy(&attr);
}

/* Sleeps for us microseconds unless the call is cancelled first. Returns 0,
 * or -1 when the call was cancelled. */
static int interop_sleep(rpc_call *call, int32_t us)
{
    struct timespec until;
    int cancelled;

    if (us <= 0)
        return rpc_call_cancelled(call) ? -1 : 0;
    pthread_once(&interop_sleep_once, interop_sleep_init);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += us / 1000000;
    until.tv_nsec += (long)(us % 1000000) * 1000;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    rpc_call_notify_cancel(call, &interop_sleep_mu, &interop_sleep_cv);
    pthread_mutex_lock(&interop_sleep_mu);
    while (!(cancelled = rpc_call_cancelled(call)))
        if (pthread_cond_timedwait(&interop_sleep_cv, &interop_sleep_mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&interop_sleep_mu);
    rpc_call_notify_cancel(call, NULL, NULL);
    return cancelled ? -1 : 0;
}

/* A failed rpc_call_recv/rpc_call_send: the client went away, or (recv) its
 * message did not decode, and the runtime has set the status message. */
static grpc_status_code interop_stream_failed(rpc_call *call)
{
    if (rpc_call_cancelled(call))
        return rpc_call_error(call, GRPC_STATUS_CANCELLED, "the client cancelled the call");
    return GRPC_STATUS_INVALID_ARGUMENT;
}

/* ---- Unary ---- */

static grpc_status_code interop_empty_call(rpc_call *call, const ProtobufCMessage *req,
                                           ProtobufCMessage **resp, void *ctx)
{
    Grpc__Testing__Empty *out = rpc_call_alloc(call, sizeof *out);

    (void)req;
    (void)ctx;
    if (out == NULL)
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    grpc__testing__empty__init(out);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* A SimpleResponse with a payload of size zero bytes (none when size is 0,
 * as the C++ server does). */
static grpc_status_code interop_simple_response(rpc_call *call, int32_t size,
                                                Grpc__Testing__SimpleResponse **out)
{
    Grpc__Testing__SimpleResponse *r = rpc_call_alloc(call, sizeof *r);

    if (r == NULL)
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    grpc__testing__simple_response__init(r);
    if (size > 0) {
        Grpc__Testing__Payload *p = rpc_call_alloc(call, sizeof *p);
        uint8_t *body = rpc_call_alloc(call, (size_t)size); /* zeroed */

        if (p == NULL || body == NULL)
            return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        grpc__testing__payload__init(p);
        p->type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
        p->body.data = body;
        p->body.len = (size_t)size;
        r->payload = p;
    }
    *out = r;
    return GRPC_STATUS_OK;
}

static grpc_status_code interop_unary_call(rpc_call *call, const ProtobufCMessage *req_msg,
                                           ProtobufCMessage **resp, void *ctx)
{
    const Grpc__Testing__SimpleRequest *req = (const Grpc__Testing__SimpleRequest *)req_msg;
    Grpc__Testing__SimpleResponse *out = NULL;
    grpc_status_code code;

    (void)ctx;
    if ((code = interop_echo_metadata(call)) != GRPC_STATUS_OK)
        return code;
    if ((code = interop_check_type(call, req->response_type)) != GRPC_STATUS_OK ||
        (code = interop_check_size(call, "response_size", req->response_size)) != GRPC_STATUS_OK)
        return code;
    if ((code = interop_echo_status(call, req->response_status)) != GRPC_STATUS_OK)
        return code;
    if ((code = interop_simple_response(call, req->response_size, &out)) != GRPC_STATUS_OK)
        return code;
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* As the C++ server: a fresh timestamp as the body and a cache-control
 * header, so that a caching proxy can be told apart from the server. */
static grpc_status_code interop_cacheable_unary_call(rpc_call *call, const ProtobufCMessage *req,
                                                     ProtobufCMessage **resp, void *ctx)
{
    Grpc__Testing__SimpleResponse *out = NULL;
    struct timespec now;
    char stamp[32];
    char *body;
    grpc_status_code code;

    (void)req;
    (void)ctx;
    if ((code = interop_simple_response(call, 0, &out)) != GRPC_STATUS_OK)
        return code;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(stamp, sizeof stamp, "%ld", now.tv_nsec);
    out->payload = rpc_call_alloc(call, sizeof *out->payload);
    body = rpc_call_strdup(call, stamp);
    if (out->payload == NULL || body == NULL)
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    grpc__testing__payload__init(out->payload);
    out->payload->body.data = (uint8_t *)body;
    out->payload->body.len = strlen(body);
    if (rpc_call_add_initial_metadata(call, "cache-control", "max-age=60, public", 18) != 0)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot set cache-control");
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* ---- Streaming ---- */

/* Sends one StreamingOutputCallResponse per response parameter, each after its
 * interval, with a payload of the requested size taken from zeros (at least
 * as large as every size). Returns OK, or the status to end the call with. */
static grpc_status_code interop_send_params(rpc_call *call,
                                            const Grpc__Testing__StreamingOutputCallRequest *req,
                                            const uint8_t *zeros)
{
    for (size_t i = 0; i < req->n_response_parameters; i++) {
        const Grpc__Testing__ResponseParameters *rp = req->response_parameters[i];
        Grpc__Testing__StreamingOutputCallResponse out =
            GRPC__TESTING__STREAMING_OUTPUT_CALL_RESPONSE__INIT;
        Grpc__Testing__Payload payload = GRPC__TESTING__PAYLOAD__INIT;

        if (interop_sleep(call, rp->interval_us) != 0)
            return rpc_call_error(call, GRPC_STATUS_CANCELLED, "the client cancelled the call");
        payload.type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
        payload.body.data = (uint8_t *)zeros;
        payload.body.len = (size_t)rp->size;
        out.payload = &payload;
        if (rpc_call_send(call, &out.base) != 0)
            return interop_stream_failed(call);
    }
    return GRPC_STATUS_OK;
}

/* Checks every size and interval in req; *max gets the largest size. */
static grpc_status_code interop_check_params(rpc_call *call,
                                             const Grpc__Testing__StreamingOutputCallRequest *req,
                                             size_t *max)
{
    grpc_status_code code = interop_check_type(call, req->response_type);

    if (code != GRPC_STATUS_OK)
        return code;
    for (size_t i = 0; i < req->n_response_parameters; i++) {
        const Grpc__Testing__ResponseParameters *rp = req->response_parameters[i];

        code = interop_check_size(call, "response_parameters.size", rp->size);
        if (code != GRPC_STATUS_OK)
            return code;
        if (rp->interval_us < 0)
            return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                                  "response_parameters.interval_us must not be negative");
        if ((size_t)rp->size > *max)
            *max = (size_t)rp->size;
    }
    return GRPC_STATUS_OK;
}

/* A zeroed buffer of at least size bytes, grown as needed (freed by caller). */
static grpc_status_code interop_zeros(rpc_call *call, uint8_t **buf, size_t *cap, size_t size)
{
    uint8_t *p;

    if (size <= *cap && *buf != NULL)
        return GRPC_STATUS_OK;
    p = calloc(size > 0 ? size : 1, 1);
    if (p == NULL)
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    free(*buf);
    *buf = p;
    *cap = size;
    return GRPC_STATUS_OK;
}

static grpc_status_code interop_streaming_output_call(rpc_call *call,
                                                      const ProtobufCMessage *req_msg,
                                                      ProtobufCMessage **resp, void *ctx)
{
    const Grpc__Testing__StreamingOutputCallRequest *req =
        (const Grpc__Testing__StreamingOutputCallRequest *)req_msg;
    uint8_t *zeros = NULL;
    size_t cap = 0, max = 0;
    grpc_status_code code;

    (void)resp;
    (void)ctx;
    if ((code = interop_echo_metadata(call)) != GRPC_STATUS_OK ||
        (code = interop_check_params(call, req, &max)) != GRPC_STATUS_OK ||
        (code = interop_zeros(call, &zeros, &cap, max)) != GRPC_STATUS_OK)
        goto done;
    if ((code = interop_send_params(call, req, zeros)) != GRPC_STATUS_OK)
        goto done;
    code = interop_echo_status(call, req->response_status);
done:
    free(zeros);
    return code;
}

static grpc_status_code interop_streaming_input_call(rpc_call *call, const ProtobufCMessage *req,
                                                     ProtobufCMessage **resp, void *ctx)
{
    Grpc__Testing__StreamingInputCallResponse *out;
    ProtobufCMessage *msg;
    uint64_t total = 0;
    int rc;

    (void)req;
    (void)ctx;
    while ((rc = rpc_call_recv(call, &msg)) == 1) {
        const Grpc__Testing__StreamingInputCallRequest *in =
            (const Grpc__Testing__StreamingInputCallRequest *)msg;

        if (in->payload != NULL)
            total += in->payload->body.len;
        rpc_call_release(call, msg);
    }
    if (rc < 0)
        return interop_stream_failed(call);
    if (total > INT32_MAX)
        return rpc_call_error(call, GRPC_STATUS_OUT_OF_RANGE,
                              "aggregated payload size exceeds an int32");
    out = rpc_call_alloc(call, sizeof *out);
    if (out == NULL)
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    grpc__testing__streaming_input_call_response__init(out);
    out->aggregated_payload_size = (int32_t)total;
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* Ping-pong: the responses a request asks for are sent before the next
 * request is read. A request carrying response_status ends the call with that
 * status at once (Echo Status; as the C++ server, even when it is OK). */
static grpc_status_code interop_full_duplex_call(rpc_call *call, const ProtobufCMessage *req,
                                                 ProtobufCMessage **resp, void *ctx)
{
    ProtobufCMessage *msg;
    uint8_t *zeros = NULL;
    size_t cap = 0;
    grpc_status_code code;
    int rc;

    (void)req;
    (void)resp;
    (void)ctx;
    if ((code = interop_echo_metadata(call)) != GRPC_STATUS_OK)
        return code;
    while ((rc = rpc_call_recv(call, &msg)) == 1) {
        const Grpc__Testing__StreamingOutputCallRequest *in =
            (const Grpc__Testing__StreamingOutputCallRequest *)msg;
        size_t max = 0;

        if (in->response_status != NULL) {
            code = interop_echo_status(call, in->response_status);
            goto done;
        }
        if ((code = interop_check_params(call, in, &max)) != GRPC_STATUS_OK ||
            (code = interop_zeros(call, &zeros, &cap, max)) != GRPC_STATUS_OK ||
            (code = interop_send_params(call, in, zeros)) != GRPC_STATUS_OK)
            goto done;
        rpc_call_release(call, msg);
    }
    code = rc < 0 ? interop_stream_failed(call) : GRPC_STATUS_OK;
done:
    free(zeros);
    return code;
}

/* Half duplex: every request is read first, then all responses are sent. */
static grpc_status_code interop_half_duplex_call(rpc_call *call, const ProtobufCMessage *req,
                                                 ProtobufCMessage **resp, void *ctx)
{
    const Grpc__Testing__StreamingOutputCallRequest **all = NULL, **grown;
    ProtobufCMessage *msg;
    size_t n = 0, cap = 0, max = 0, zcap = 0;
    uint8_t *zeros = NULL;
    grpc_status_code code;
    int rc;

    (void)req;
    (void)resp;
    (void)ctx;
    if ((code = interop_echo_metadata(call)) != GRPC_STATUS_OK)
        return code;
    while ((rc = rpc_call_recv(call, &msg)) == 1) {
        const Grpc__Testing__StreamingOutputCallRequest *in =
            (const Grpc__Testing__StreamingOutputCallRequest *)msg;

        if ((code = interop_check_params(call, in, &max)) != GRPC_STATUS_OK)
            goto done;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            grown = realloc(all, cap * sizeof *all);
            if (grown == NULL) {
                code = rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                goto done;
            }
            all = grown;
        }
        all[n++] = in; /* owned by the call until it ends */
    }
    if (rc < 0) {
        code = interop_stream_failed(call);
        goto done;
    }
    if ((code = interop_zeros(call, &zeros, &zcap, max)) != GRPC_STATUS_OK)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if ((code = interop_echo_status(call, all[i]->response_status)) != GRPC_STATUS_OK ||
            (code = interop_send_params(call, all[i], zeros)) != GRPC_STATUS_OK)
            goto done;
    }
    code = GRPC_STATUS_OK;
done:
    free(all);
    free(zeros);
    return code;
}

/* UnimplementedCall has no handler on purpose: the runtime answers
 * UNIMPLEMENTED, which is what the unimplemented_method case checks. */
static const rpc_method_handler interop_handlers[] = {
    {"EmptyCall", interop_empty_call},
    {"UnaryCall", interop_unary_call},
    {"CacheableUnaryCall", interop_cacheable_unary_call},
    {"StreamingOutputCall", interop_streaming_output_call},
    {"StreamingInputCall", interop_streaming_input_call},
    {"FullDuplexCall", interop_full_duplex_call},
    {"HalfDuplexCall", interop_half_duplex_call},
};

/* ---- main ---- */

static void interop_usage(FILE *f)
{
    fprintf(f,
            "usage: tallinn-interop-server [--port=N] [--host=ADDR] [--grace_ms=N] [--quiet]\n"
            "Serves grpc.testing.TestService (the gRPC interop tests) in plaintext.\n"
            "  --port=N      port to listen on; 0 picks a free one (default 0)\n"
            "  --host=ADDR   address to bind (default 127.0.0.1)\n"
            "  --grace_ms=N  time in-flight calls get at SIGTERM/SIGINT (default %d)\n"
            "  --use_tls=false  accepted for compatibility with interop launchers\n"
            "  --quiet       no per-call log lines\n"
            "Prints \"listening on HOST:PORT\" once serving; exits 0 after SIGTERM/SIGINT.\n",
            INTEROP_DEFAULT_GRACE_MS);
}

static int interop_parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},
        {"grace_ms", required_argument, NULL, 'g'},
        {"use_tls", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *host = "127.0.0.1";
    long port = 0, grace_ms = INTEROP_DEFAULT_GRACE_MS;
    rpc_server_options opts;
    rpc_server *srv = NULL;
    char addr[300];
    sigset_t sigs;
    int bound = 0, quiet = 0, bracket, sig, c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (interop_parse_int(optarg, 0, 65535, &port) != 0) {
                fprintf(stderr, "tallinn-interop-server: --port must be 0..65535\n");
                return 2;
            }
            break;
        case 'H':
            host = optarg;
            break;
        case 'g':
            if (interop_parse_int(optarg, 0, INT_MAX, &grace_ms) != 0) {
                fprintf(stderr, "tallinn-interop-server: --grace_ms must be a number of ms\n");
                return 2;
            }
            break;
        case 't':
            if (strcmp(optarg, "false") != 0) {
                fprintf(stderr, "tallinn-interop-server: only --use_tls=false is supported\n");
                return 2;
            }
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            interop_usage(stdout);
            return 0;
        default:
            interop_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        interop_usage(stderr);
        return 2;
    }
    memset(&opts, 0, sizeof opts);
    opts.quiet = quiet;
    bracket = strchr(host, ':') != NULL; /* an IPv6 address */
    snprintf(addr, sizeof addr, bracket ? "[%s]:%ld" : "%s:%ld", host, port);
    opts.listen_addr = addr;

    /* Block the signals before any thread starts, so that only sigwait below
     * receives them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (rpc_server_create(&srv, &opts) != 0)
        return 1;
    if (rpc_server_add_service(srv, &grpc__testing__test_service__descriptor, interop_handlers,
                               sizeof interop_handlers / sizeof interop_handlers[0], NULL) != 0 ||
        rpc_server_start(srv, &bound) != 0) {
        rpc_server_destroy(srv);
        return 1;
    }
    printf(bracket ? "listening on [%s]:%d\n" : "listening on %s:%d\n", host, bound);
    fflush(stdout);

    while (sigwait(&sigs, &sig) != 0)
        ;
    fprintf(stderr, "tallinn-interop-server: %s, shutting down (grace %ld ms)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", grace_ms);
    rpc_server_shutdown(srv, (int)grace_ms);
    rpc_server_destroy(srv);
    return 0;
}
