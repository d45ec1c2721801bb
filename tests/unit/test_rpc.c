/* test_rpc.c — the server runtime in-process: a blocking handler stalls no
 * other call, errors carry google.rpc.Status details, handlers see metadata
 * and their deadline, unknown methods answer at once, shutdown cancels a
 * stream that never ends, and nothing leaks (ASan/LSan). */
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

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* EmptyCall blocks for a second (a slow storage write, say). */
static grpc_status_code slow_empty(rpc_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp, void *ctx)
{
    Grpc__Testing__Empty *out = rpc_call_alloc(call, sizeof(*out));
    (void)req;
    (void)ctx;
    usleep(1000 * 1000);
    grpc__testing__empty__init(out);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* UnaryCall: fails with details when asked, else echoes what it saw. */
static grpc_status_code unary(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                              void *ctx)
{
    const Grpc__Testing__SimpleRequest *in = (const void *)req;
    Grpc__Testing__SimpleResponse *out = rpc_call_alloc(call, sizeof(*out));
    const char *who = rpc_call_metadata(call, "x-who", NULL);
    int64_t left = rpc_call_remaining_ms(call);
    char buf[128];

    (void)ctx;
    if (in->response_status != NULL && in->response_status->code != 0) {
        rpc_call_add_field_violation(call, "payload", "must not be empty");
        rpc_call_add_field_violation(call, "response_size", "too large");
        rpc_call_set_error_info(call, "TEST_REASON", "tallinn.test");
        return rpc_call_error(call, (grpc_status_code)in->response_status->code, "%s",
                              in->response_status->message);
    }
    grpc__testing__simple_response__init(out);
    snprintf(buf, sizeof(buf), "%s %s", who != NULL ? who : "-",
             left == INT64_MAX ? "none" : (left > 0 && left <= 5000 ? "ok" : "bad"));
    out->username = rpc_call_strdup(call, buf);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* StreamingOutputCall: never ends by itself; stops when cancelled. */
static grpc_status_code endless(rpc_call *call, const ProtobufCMessage *req,
                                ProtobufCMessage **resp, void *ctx)
{
    Grpc__Testing__StreamingOutputCallResponse out =
        GRPC__TESTING__STREAMING_OUTPUT_CALL_RESPONSE__INIT;
    (void)req;
    (void)resp;
    (void)ctx;
    while (!rpc_call_cancelled(call)) {
        if (rpc_call_send(call, &out.base) != 0)
            return GRPC_STATUS_CANCELLED;
        usleep(20 * 1000);
    }
    return GRPC_STATUS_CANCELLED;
}

typedef struct fixture {
    rpc_server *srv;
    rpcc_channel *ch;
    char target[64];
} fixture;

static int setup(void **state)
{
    static fixture f;
    static const rpc_method_handler handlers[] = {
        {"EmptyCall", slow_empty},
        {"UnaryCall", unary},
        {"StreamingOutputCall", endless},
    };
    rpc_server_options o = {.listen_addr = "127.0.0.1:0", .threads = 1, .quiet = 1};
    rpcc_channel_options co = {.insecure = 1};
    char err[256];
    int port;

    memset(&f, 0, sizeof(f));
    assert_int_equal(rpc_server_create(&f.srv, &o), 0);
    assert_int_equal(rpc_server_add_service(f.srv, &grpc__testing__test_service__descriptor,
                                            handlers, 3, NULL),
                     0);
    assert_int_equal(rpc_server_start(f.srv, &port), 0);
    snprintf(f.target, sizeof(f.target), "127.0.0.1:%d", port);
    co.target = f.target;
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

typedef struct slow_arg {
    rpcc_channel *ch;
    grpc_status_code code;
} slow_arg;

static void *call_slow(void *p)
{
    slow_arg *a = p;
    Grpc__Testing__Empty req = GRPC__TESTING__EMPTY__INIT;
    rpcc_call_options co = {.deadline_ms = 10000};
    ProtobufCMessage *resp = NULL;
    rpcc_result r;

    memset(&r, 0, sizeof(r));
    a->code = rpcc_unary(a->ch, "/grpc.testing.TestService/EmptyCall", &req.base,
                         &grpc__testing__empty__descriptor, &co, &resp, &r);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&r);
    return NULL;
}

static grpc_status_code call_unary(fixture *f, const Grpc__Testing__SimpleRequest *req,
                                   const rpcc_metadata *md, size_t n_md, int64_t deadline_ms,
                                   Grpc__Testing__SimpleResponse **resp, rpcc_result *r)
{
    rpcc_call_options co = {.deadline_ms = deadline_ms, .metadata = md, .n_metadata = n_md};
    memset(r, 0, sizeof(*r));
    return rpcc_unary(f->ch, "/grpc.testing.TestService/UnaryCall", &req->base,
                      &grpc__testing__simple_response__descriptor, &co, (ProtobufCMessage **)resp,
                      r);
}

/* With one queue thread and four handlers asleep, a fifth call still answers
 * at once: handlers never run on the queue threads. */
static void test_blocking_handlers_stall_nothing(void **state)
{
    fixture *f = *state;
    pthread_t th[4];
    slow_arg args[4];
    Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    Grpc__Testing__SimpleResponse *resp = NULL;
    rpcc_result r;
    double t;

    for (int i = 0; i < 4; i++) {
        args[i].ch = f->ch;
        assert_int_equal(pthread_create(&th[i], NULL, call_slow, &args[i]), 0);
    }
    usleep(200 * 1000); /* all four are now inside the sleeping handler */
    t = now_ms();
    assert_int_equal(call_unary(f, &req, NULL, 0, 5000, &resp, &r), GRPC_STATUS_OK);
    assert_true(now_ms() - t < 300.0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    rpcc_result_free(&r);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].code, GRPC_STATUS_OK);
    }
}

static void test_error_details(void **state)
{
    fixture *f = *state;
    Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    Grpc__Testing__EchoStatus st = GRPC__TESTING__ECHO_STATUS__INIT;
    Grpc__Testing__SimpleResponse *resp = NULL;
    rpcc_result r;

    st.code = GRPC_STATUS_FAILED_PRECONDITION;
    st.message = "needs/x is OPEN";
    req.response_status = &st;
    assert_int_equal(call_unary(f, &req, NULL, 0, 5000, &resp, &r), GRPC_STATUS_FAILED_PRECONDITION);
    assert_null(resp);
    assert_string_equal(r.message, "needs/x is OPEN");
    assert_non_null(r.details);
    assert_int_equal(r.details->code, GRPC_STATUS_FAILED_PRECONDITION);
    assert_string_equal(r.details->message, "needs/x is OPEN");
    assert_non_null(r.bad_request);
    assert_int_equal(r.bad_request->n_field_violations, 2);
    assert_string_equal(r.bad_request->field_violations[0]->field, "payload");
    assert_string_equal(r.bad_request->field_violations[1]->description, "too large");
    assert_non_null(r.error_info);
    assert_string_equal(r.error_info->reason, "TEST_REASON");
    assert_string_equal(r.error_info->domain, "tallinn.test");
    rpcc_result_free(&r);
}

static void test_metadata_and_deadline(void **state)
{
    fixture *f = *state;
    Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    Grpc__Testing__SimpleResponse *resp = NULL;
    rpcc_metadata md = {"x-who", "kyiv-1", 6};
    rpcc_result r;

    assert_int_equal(call_unary(f, &req, &md, 1, 5000, &resp, &r), GRPC_STATUS_OK);
    assert_string_equal(resp->username, "kyiv-1 ok");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    rpcc_result_free(&r);
    assert_int_equal(call_unary(f, &req, NULL, 0, 0, &resp, &r), GRPC_STATUS_OK);
    assert_string_equal(resp->username, "- none");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    rpcc_result_free(&r);
}

static void test_unknown_method_at_once(void **state)
{
    fixture *f = *state;
    Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    rpcc_call_options co = {.deadline_ms = 5000};
    ProtobufCMessage *resp = NULL;
    rpcc_result r;
    double t = now_ms();

    memset(&r, 0, sizeof(r));
    assert_int_equal(rpcc_unary(f->ch, "/grpc.testing.TestService/CacheableUnaryCall", &req.base,
                                &grpc__testing__simple_response__descriptor, &co, &resp, &r),
                     GRPC_STATUS_UNIMPLEMENTED);
    assert_true(now_ms() - t < 100.0);
    assert_non_null(strstr(r.message, "not implemented"));
    rpcc_result_free(&r);
}

static void *shutdown_soon(void *p)
{
    usleep(300 * 1000);
    rpc_server_shutdown(p, 200);
    return NULL;
}

/* A stream that never ends is cancelled when the grace period runs out. */
static void test_shutdown_cancels_endless_stream(void **state)
{
    fixture *f = *state;
    Grpc__Testing__StreamingOutputCallRequest req = GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
    rpcc_call_options co = {.deadline_ms = 20000};
    rpcc_stream *s = NULL;
    ProtobufCMessage *m;
    rpcc_result r;
    pthread_t th;
    int got = 0, rc;
    char err[256];
    double t = now_ms();

    memset(&r, 0, sizeof(r));
    assert_int_equal(rpcc_stream_open(f->ch, "/grpc.testing.TestService/StreamingOutputCall",
                                      &req.base,
                                      &grpc__testing__streaming_output_call_response__descriptor,
                                      &co, &s, err, sizeof(err)),
                     0);
    assert_int_equal(pthread_create(&th, NULL, shutdown_soon, f->srv), 0);
    while ((rc = rpcc_stream_next(s, &m)) == 1) {
        protobuf_c_message_free_unpacked(m, NULL);
        got++;
    }
    assert_true(got > 3);
    rc = rpcc_stream_finish(s, &r);
    assert_true(rc == GRPC_STATUS_CANCELLED || rc == GRPC_STATUS_UNAVAILABLE);
    rpcc_stream_destroy(s);
    rpcc_result_free(&r);
    pthread_join(th, NULL);
    assert_true(now_ms() - t < 3000.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blocking_handlers_stall_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_details, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_and_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_method_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_cancels_endless_stream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
