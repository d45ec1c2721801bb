/* echo_server.c — tallinn-bench-echo: the baseline of `make bench`. A bare
 * gRPC C-core server with tallinnd's call shape and none of its work: one
 * registered unary method (DiagnosticsService.Noop unless --method says
 * otherwise), one completion queue per thread, requests kept posted, and each
 * call answered with its own request bytes in a single batch. What tallinnd
 * reaches against it, with the same client in the same run, is the share of
 * the C core's own limit it keeps (docs/BENCHMARKS.md). Loopback only. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#define ECHO_MAX_THREADS 64
#define ECHO_MAX_SLOTS 1024
#define ECHO_MAX_MESSAGE (4 * 1024 * 1024) /* as tallinnd's default */

static const char echo__usage[] =
    "usage: tallinn-bench-echo [--listen 127.0.0.1:0] [--threads N] [--slots K]\n"
    "                          [--method /pkg.Service/Method]\n"
    "\n"
    "A bare gRPC C-core unary echo server (plaintext, loopback only): N threads,\n"
    "each with its own completion queue and K requests posted on it (default\n"
    "N = CPUs, K = 64). Every call gets its request message back with status OK.\n"
    "Prints `event=listening port=P` on stderr once serving; SIGTERM or SIGINT\n"
    "stops it (exit 0).\n";

/* One posted request; reused for the next call once its batch is back. */
typedef struct echo_slot {
    int answering;          /* 0: waiting for a call; 1: the answer batch is out */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    int cancelled;
    grpc_slice details;
    struct echo_worker *w;
} echo_slot;

typedef struct echo_worker {
    grpc_server *server;
    void *method;
    grpc_completion_queue *cq;
    pthread_t thread;
    int n_slots;
    echo_slot *slots;
} echo_worker;

static int echo__post(echo_slot *s)
{
    s->answering = 0;
    s->call = NULL;
    s->payload = NULL;
    grpc_metadata_array_init(&s->md);
    return grpc_server_request_registered_call(s->w->server, s->w->method, &s->call, &s->deadline,
                                               &s->md, &s->payload, s->w->cq, s->w->cq, s) ==
                   GRPC_CALL_OK
               ? 0
               : -1;
}

/* A call arrived: answer it in one batch — initial metadata, the request
 * bytes back, status OK — and take the close in the same batch. */
static int echo__answer(echo_slot *s)
{
    grpc_op ops[4];

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->payload;
    ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[2].data.send_status_from_server.status = GRPC_STATUS_OK;
    s->details = grpc_empty_slice();
    ops[2].data.send_status_from_server.status_details = &s->details;
    ops[3].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[3].data.recv_close_on_server.cancelled = &s->cancelled;
    s->answering = 1;
    /* A call without a message (payload NULL) gets none back. */
    return grpc_call_start_batch(s->call, s->payload != NULL ? ops : ops + 1,
                                 s->payload != NULL ? 4 : 3, s, NULL) == GRPC_CALL_OK
               ? 0
               : -1;
}

static void echo__release(echo_slot *s)
{
    grpc_metadata_array_destroy(&s->md);
    if (s->payload != NULL)
        grpc_byte_buffer_destroy(s->payload);
    s->payload = NULL;
    if (s->call != NULL)
        grpc_call_unref(s->call);
    s->call = NULL;
    grpc_metadata_array_init(&s->md); /* released twice (at exit) is harmless */
}

static void *echo__main(void *arg)
{
    echo_worker *w = arg;

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                                   NULL);
        echo_slot *s;

        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE || ev.tag == NULL)
            continue; /* NULL: the shutdown notification */
        s = ev.tag;
        if (!s->answering && ev.success && echo__answer(s) == 0)
            continue;
        /* the answer is out (or the call could not be answered): next call */
        if (!s->answering && s->call != NULL)
            grpc_call_cancel(s->call, NULL);
        echo__release(s);
        if (ev.success || s->answering)
            echo__post(s); /* fails once the server shuts down: the slot rests */
    }
    return NULL;
}

static int echo__loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]:", 6) == 0 ||
           strncmp(addr, "localhost:", 10) == 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'}, {"threads", required_argument, NULL, 't'},
        {"slots", required_argument, NULL, 's'},  {"method", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *listen = "127.0.0.1:0", *method = "/tallinn.v1.DiagnosticsService/Noop";
    long threads = sysconf(_SC_NPROCESSORS_ONLN), slots = 64;
    echo_worker workers[ECHO_MAX_THREADS];
    grpc_arg args[2];
    grpc_channel_args chargs = {2, args};
    grpc_server_credentials *creds;
    grpc_server *server;
    grpc_completion_queue *shutdown_cq;
    void *handle;
    sigset_t sigs;
    int c, port, sig;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 't': threads = strtol(optarg, NULL, 10); break;
        case 's': slots = strtol(optarg, NULL, 10); break;
        case 'm': method = optarg; break;
        case 'h': fputs(echo__usage, stdout); return 0;
        default: fputs(echo__usage, stderr); return 2;
        }
    }
    if (optind < argc || threads < 1 || threads > ECHO_MAX_THREADS || slots < 1 ||
        slots > ECHO_MAX_SLOTS || method[0] != '/') {
        fputs(echo__usage, stderr);
        return 2;
    }
    if (!echo__loopback(listen)) {
        fprintf(stderr, "tallinn-bench-echo: %s is not a loopback address (127.x, [::1], "
                        "localhost)\n", listen);
        return 2;
    }
    /* Signals are taken by sigwait below, never by the core's threads. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    grpc_init();
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    args[0].value.integer = 0;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[1].value.integer = ECHO_MAX_MESSAGE;
    server = grpc_server_create(&chargs, NULL);
    handle = grpc_server_register_method(server, method, NULL,
                                         GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    memset(workers, 0, sizeof(workers));
    for (long i = 0; i < threads; i++) {
        workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(server, workers[i].cq, NULL);
    }
    shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    creds = grpc_insecure_server_credentials_create();
    port = grpc_server_add_http2_port(server, listen, creds);
    grpc_server_credentials_release(creds);
    if (handle == NULL || port == 0) {
        fprintf(stderr, "tallinn-bench-echo: cannot listen on %s\n", listen);
        return 1;
    }
    grpc_server_start(server);
    for (long i = 0; i < threads; i++) {
        echo_worker *w = &workers[i];
        w->server = server;
        w->method = handle;
        w->n_slots = (int)slots;
        w->slots = calloc((size_t)slots, sizeof(*w->slots));
        if (w->slots == NULL) {
            fprintf(stderr, "tallinn-bench-echo: out of memory\n");
            return 1;
        }
        for (long k = 0; k < slots; k++) {
            w->slots[k].w = w;
            if (echo__post(&w->slots[k]) != 0) {
                fprintf(stderr, "tallinn-bench-echo: cannot post a request\n");
                return 1;
            }
        }
        if (pthread_create(&w->thread, NULL, echo__main, w) != 0) {
            fprintf(stderr, "tallinn-bench-echo: cannot start a thread\n");
            return 1;
        }
    }
    fprintf(stderr, "level=info event=listening addr=%s port=%d threads=%ld slots=%ld method=%s\n",
            listen, port, threads, slots, method);

    sigwait(&sigs, &sig);
    grpc_server_shutdown_and_notify(server, shutdown_cq, NULL);
    grpc_server_cancel_all_calls(server);
    grpc_completion_queue_pluck(shutdown_cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    for (long i = 0; i < threads; i++)
        grpc_completion_queue_shutdown(workers[i].cq);
    for (long i = 0; i < threads; i++)
        pthread_join(workers[i].thread, NULL);
    grpc_server_destroy(server);
    for (long i = 0; i < threads; i++) {
        grpc_completion_queue_destroy(workers[i].cq);
        for (int k = 0; k < workers[i].n_slots; k++)
            echo__release(&workers[i].slots[k]);
        free(workers[i].slots);
    }
    grpc_completion_queue_shutdown(shutdown_cq);
    grpc_completion_queue_destroy(shutdown_cq);
    grpc_shutdown();
    return 0;
}
