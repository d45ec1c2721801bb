/* test_rpc_inline.c — RPC_METHOD_INLINE: an inline handler runs on the
 * completion-queue thread where its call arrived (no worker), a handler that
 * defers is run again on a worker while the queue thread goes on serving, a
 * defer outside a queue thread is an error, and only registered unary
 * methods take the flag. rpc_call_suspend/resume: a call answered later from
 * another thread, with no thread parked on it; a refusal's outcome hook runs
 * on a worker, never on the resuming thread. */
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

static pthread_t resumer_thread, outcome_thread;
static int outcome_runs;

typedef struct resume_arg {
    rpc_call *call;
    int refuse;
} resume_arg;

/* Another thread (a committer, say) ends a suspended call 200 ms later. */
static void *resumer(void *p)
{
    resume_arg *r = p;
    Grpc__Testing__SimpleResponse *out;

    usleep(200 * 1000);
    pthread_mutex_lock(&seen_mu);
    resumer_thread = pthread_self();
    pthread_mutex_unlock(&seen_mu);
    if (r->refuse) {
        rpc_call_resume(r->call, rpc_call_error(r->call, GRPC_STATUS_FAILED_PRECONDITION,
                                                "refused later"), NULL);
        return NULL;
    }
    out = rpc_call_alloc(r->call, sizeof(*out));
    grpc__testing__simple_response__init(out);
    out->username = "resumed";
    rpc_call_resume(r->call, GRPC_STATUS_OK, &out->base);
    return NULL;
}

/* response_size 2: suspended, answered 200 ms later from another thread;
 * 3: the same with a refusal; 4: resumed before the handler returns. */
static grpc_status_code suspend(rpc_call *call, int how)
{
    resume_arg *r = rpc_call_alloc(call, sizeof(*r));
    grpc_status_code code = rpc_call_suspend(call);
    Grpc__Testing__SimpleResponse *out;
    pthread_t th;

    if (code != GRPC_STATUS_OK)
        return code;
    if (how == 4) {
        out = rpc_call_alloc(call, sizeof(*out));
        grpc__testing__simple_response__init(out);
        out->username = "early";
        rpc_call_resume(call, GRPC_STATUS_OK, &out->base);
        return GRPC_STATUS_OK;
    }
    r->call = call;
    r->refuse = how == 3;
    pthread_create(&th, NULL, resumer, r);
    pthread_detach(th);
    return GRPC_STATUS_OK;
}

static grpc_status_code outcome(rpc_call *call, const rpc_method_info *info, grpc_status_code code,
                                void *ctx)
{
    (void)call;
    (void)info;
    (void)ctx;
    pthread_mutex_lock(&seen_mu);
    outcome_runs++;
    outcome_thread = pthread_self();
    pthread_mutex_unlock(&seen_mu);
    return code;
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
    if (in->response_size >= 2 && in->response_size <= 4)
        return suspend(call, in->response_size);
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
    inline_runs = worker_runs = outcome_runs = 0;
    assert_int_equal(rpc_server_create(&f.srv, &o), 0);
    assert_int_equal(rpc_server_add_service(f.srv, &grpc__testing__test_service__descriptor,
                                            handlers, 3, NULL),
                     0);
    assert_int_equal(rpc_server_set_method_flags(f.srv, UNARY, RPC_METHOD_INLINE), 0);
    rpc_server_set_outcome_hook(f.srv, outcome, NULL);
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

static grpc_status_code call_unary(rpcc_channel *ch, int defer, char *who, size_t who_len);

typedef struct deferred_arg {
    rpcc_channel *ch;
    int how;
    grpc_status_code code;
    char who[32];
} deferred_arg;

static void *call_deferred(void *p)
{
    deferred_arg *a = p;
    a->code = call_unary(a->ch, a->how, a->who, sizeof(a->who));
    return NULL;
}

/* A suspended call holds no thread: while it waits for its answer, the one
 * queue thread serves others; the answer comes from the resuming thread. A
 * refusal comes too, its outcome hook run on a worker (the hook may block:
 * tallinnd records refused writes there), not on the resumer; and a resume
 * that comes before the handler has returned is answered all the same. */
static void test_suspend_and_resume(void **state)
{
    fixture *f = *state;
    deferred_arg a = {.ch = f->ch, .how = 2}, b = {.ch = f->ch, .how = 3};
    pthread_t th, th2;
    char who[32];
    double t;

    assert_int_equal(pthread_create(&th, NULL, call_deferred, &a), 0);
    usleep(50 * 1000); /* suspended now */
    t = now_ms();
    assert_int_equal(call_unary(f->ch, 0, who, sizeof(who)), GRPC_STATUS_OK);
    assert_string_equal(who, "inline");
    assert_true(now_ms() - t < 150.0);
    pthread_join(th, NULL);
    assert_int_equal(a.code, GRPC_STATUS_OK);
    assert_string_equal(a.who, "resumed");
    assert_int_equal(worker_runs, 0); /* no worker ran a handler */
    assert_int_equal(outcome_runs, 2);

    assert_int_equal(pthread_create(&th2, NULL, call_deferred, &b), 0);
    pthread_join(th2, NULL);
    assert_int_equal(b.code, GRPC_STATUS_FAILED_PRECONDITION);
    assert_int_equal(outcome_runs, 3);
    assert_false(pthread_equal(outcome_thread, resumer_thread));
    assert_false(pthread_equal(outcome_thread, inline_thread));

    assert_int_equal(call_unary(f->ch, 4, who, sizeof(who)), GRPC_STATUS_OK);
    assert_string_equal(who, "early");
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

/* A deferred call runs again on a worker; meanwhile the single queue thread
 * serves other inline calls at once. */
static void test_defer_moves_to_a_worker(void **state)
{
    fixture *f = *state;
    deferred_arg a = {.ch = f->ch, .how = 1};
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
        cmocka_unit_test_setup_teardown(test_suspend_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misuse_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
