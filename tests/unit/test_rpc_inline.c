/* test_rpc_inline.c — RPC_METHOD_INLINE: an inline handler runs on the
 * completion-queue thread where its call arrived (no worker), a handler that
 * defers is run again on a worker while the queue thread goes on serving, a
 * defer outside a queue thread is an error, and only registered unary
 * methods take the flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>

#include "grpc/testing/test.pb-c.h"
#include "tallinn/rpc.h"
#include "tallinn/rpc_client.h"

#define UNARY "/grpc.testing.TestService/UnaryCall"

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t inline_thread;   /* where the last inline run happened */
static int inline_runs, worker_runs;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* UnaryCall (inline): answers "inline" at once; with response_size 1 it
 * defers, and on the worker sleeps 400 ms (a wait on a commit, say) before
 * answering "worker". */
static grpc_status_code unary(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                              void *ctx)
{
    const Grpc__Testing__SimpleRequest *in = (const void *)req;
    Grpc__Testing__SimpleResponse *out = rpc_call_alloc(call, sizeof(*out));
    int is_inline = rpc_call_is_inline(call);

    (void)ctx;
    pthread_mutex_lock(&seen_mu);
    if (is_inline) {
        inline_runs++;
        inline_thread = pthread_self();
    } else {
        worker_runs++;
    }
    pthread_mutex_unlock(&seen_mu);
    if (in->response_size == 1 && is_inline)
        return rpc_call_defer(call);
    if (in->response_size == 1)
        usleep(400 * 1000);
    grpc__testing__simple_response__init(out);
    out->username = is_inline ? "inline" : "worker";
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* EmptyCall (not inline): deferring here is a mistake the runtime answers. */
static grpc_status_code empty(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                              void *ctx)
{
    (void)req;
    (void)resp;
    (void)ctx;
    return rpc_call_defer(call);
}

typedef struct fixture {
    rpc_server *srv;
    rpcc_channel *ch;
} fixture;

static int setup(void **state)
{
    static fixture f;
    static const rpc_method_handler handlers[] = {
        {"UnaryCall", unary},
        {"EmptyCall", empty},
        {"StreamingOutputCall", empty},
    };
    rpc_server_options o = {.listen_addr = "127.0.0.1:0", .threads = 1, .quiet = 1};
    rpcc_channel_options co = {.insecure = 1};
    char target[64], err[256];
    int port;

    memset(&f, 0, sizeof(f));
    inline_runs = worker_runs = 0;
    assert_int_equal(rpc_server_create(&f.srv, &o), 0);
    assert_int_equal(rpc_server_add_service(f.srv, &grpc__testing__test_service__descriptor,
                                            handlers, 3, NULL),
                     0);
    assert_int_equal(rpc_server_set_method_flags(f.srv, UNARY, RPC_METHOD_INLINE), 0);
    assert_int_equal(rpc_server_start(f.srv, &port), 0);
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    co.target = target;
    assert_int_equal(rpcc_channel_create(&f.ch, &co, err, sizeof(err)), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rpcc_channel_destroy(f->ch);
    rpc_server_shutdown(f->srv, 1000);
    rpc_server_destroy(f->srv);
    return 0;
}

static grpc_status_code call_unary(rpcc_channel *ch, int defer, char *who, size_t who_len)
{
    Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    rpcc_call_options co = {.deadline_ms = 5000};
    Grpc__Testing__SimpleResponse *resp = NULL;
    rpcc_result r;
    grpc_status_code code;

    req.response_size = defer;
    memset(&r, 0, sizeof(r));
    code = rpcc_unary(ch, UNARY, &req.base, &grpc__testing__simple_response__descriptor, &co,
                      (ProtobufCMessage **)&resp, &r);
    snprintf(who, who_len, "%s", resp != NULL && resp->username != NULL ? resp->username : "");
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    rpcc_result_free(&r);
    return code;
}

/* An inline handler runs on the one queue thread, every time. */
static void test_inline_runs_on_the_queue_thread(void **state)
{
    fixture *f = *state;
    char who[32];
    pthread_t first;

    assert_int_equal(call_unary(f->ch, 0, who, sizeof(who)), GRPC_STATUS_OK);
    assert_string_equal(who, "inline");
    first = inline_thread;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(call_unary(f->ch, 0, who, sizeof(who)), GRPC_STATUS_OK);
        assert_string_equal(who, "inline");
        assert_true(pthread_equal(inline_thread, first));
    }
    assert_int_equal(inline_runs, 21);
    assert_int_equal(worker_runs, 0);
}

typedef struct deferred_arg {
    rpcc_channel *ch;
    grpc_status_code code;
    char who[32];
} deferred_arg;

static void *call_deferred(void *p)
{
    deferred_arg *a = p;
    a->code = call_unary(a->ch, 1, a->who, sizeof(a->who));
    return NULL;
}

/* A deferred call runs again on a worker; meanwhile the single queue thread
 * serves other inline calls at once. */
static void test_defer_moves_to_a_worker(void **state)
{
    fixture *f = *state;
    deferred_arg a = {.ch = f->ch};
    pthread_t th;
    char who[32];
    double t;

    assert_int_equal(pthread_create(&th, NULL, call_deferred, &a), 0);
    usleep(100 * 1000); /* the deferred call now sleeps on a worker */
    t = now_ms();
    assert_int_equal(call_unary(f->ch, 0, who, sizeof(who)), GRPC_STATUS_OK);
    assert_string_equal(who, "inline");
    assert_true(now_ms() - t < 250.0);
    pthread_join(th, NULL);
    assert_int_equal(a.code, GRPC_STATUS_OK);
    assert_string_equal(a.who, "worker");
    assert_int_equal(worker_runs, 1);
    assert_int_equal(inline_runs, 2); /* the deferred call's first run, and the other call */
}

/* Deferring is for inline handlers only; flags only for registered unary
 * methods, before the start. */
static void test_misuse_is_refused(void **state)
{
    fixture *f = *state;
    Grpc__Testing__Empty req = GRPC__TESTING__EMPTY__INIT;
    rpcc_call_options co = {.deadline_ms = 5000};
    ProtobufCMessage *resp = NULL;
    rpcc_result r;
    rpc_server *other = NULL;
    rpc_server_options o = {.listen_addr = "127.0.0.1:0", .threads = 1, .quiet = 1};
    static const rpc_method_handler handlers[] = {{"StreamingOutputCall", empty}};

    memset(&r, 0, sizeof(r));
    assert_int_equal(rpcc_unary(f->ch, "/grpc.testing.TestService/EmptyCall", &req.base,
                                &grpc__testing__empty__descriptor, &co, &resp, &r),
                     GRPC_STATUS_INTERNAL);
    assert_non_null(strstr(r.message, "not inline"));
    rpcc_result_free(&r);

    assert_int_equal(rpc_server_set_method_flags(f->srv, UNARY, 0), -1); /* started */
    assert_int_equal(rpc_server_create(&other, &o), 0);
    assert_int_equal(rpc_server_add_service(other, &grpc__testing__test_service__descriptor,
                                            handlers, 1, NULL),
                     0);
    assert_int_equal(rpc_server_set_method_flags(
                         other, "/grpc.testing.TestService/StreamingOutputCall", RPC_METHOD_INLINE),
                     -1);
    assert_int_equal(rpc_server_set_method_flags(other, UNARY, RPC_METHOD_INLINE), -1);
    rpc_server_destroy(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inline_runs_on_the_queue_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_moves_to_a_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misuse_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
