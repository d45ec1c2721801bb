/* test_rpc.c — the server runtime in-process: a blocking handler stalls no
 * other call, errors carry google.rpc.Status details (bounded, valid UTF-8),
 * handlers see metadata and their deadline, unknown methods answer at once,
 * shutdown cancels a stream that never ends, stream budgets, lost request
 * slots are re-posted, loopback and port checks, and nothing leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>

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

/* EmptyCall blocks (a slow storage write, say) until the test opens the
 * gate, at most 10 s: the test decides the order of events, not the clock. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_inside;

static grpc_status_code slow_empty(rpc_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp, void *ctx)
{
    Grpc__Testing__Empty *out = rpc_call_alloc(call, sizeof(*out));
    struct timespec until;
    (void)req;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&gate_mu);
    gate_inside++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open && pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == 0)
        ;
    gate_inside--;
    pthread_mutex_unlock(&gate_mu);
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
    if (in->response_size > 0) {
        /* As many violations as asked: short ones, or long ones (fill_username),
         * and one that is not valid UTF-8 (expect_compressed). */
        char f[48], d[300];
        for (int i = 0; i < in->response_size; i++) {
            snprintf(f, sizeof(f), "capabilities[%d]", i);
            if (in->fill_username)
                memset(d, 'x', 280), d[280] = '\0';
            else
                snprintf(d, sizeof(d), "duplicate of capabilities[0]");
            rpc_call_add_field_violation(call, f, d);
        }
        if (in->expect_compressed != NULL)
            rpc_call_add_field_violation(call, "caf\xc3", "\xff\xfe ok \xe2\x82");
        return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%zu violations \xc3",
                              rpc_call_field_violation_count(call));
    }
    if (in->response_status != NULL && in->response_status->code != 0) {
        rpc_call_add_field_violation(call, "payload", "must not be empty");
        rpc_call_add_field_violation(call, "response_size", "too large");
        rpc_call_set_error_info(call, "TEST_REASON", "tallinn.test");
        return rpc_call_error(call, (grpc_status_code)in->response_status->code, "%s",
                              in->response_status->message);
    }
    grpc__testing__simple_response__init(out);
    /* The client asks 5 s; the core rounds the deadline up to whole
     * milliseconds when it encodes grpc-timeout and again when it converts
     * it, so a handler run at once (inline) may see up to 5,002 ms. */
    snprintf(buf, sizeof(buf), "%s %s", who != NULL ? who : "-",
             left == INT64_MAX ? "none" : (left > 0 && left <= 5000 + 2 ? "ok" : "bad"));
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

/* Names the caller from x-who; without it the call has no principal, as an
 * unauthenticated health check has none. */
static grpc_status_code who_interceptor(rpc_call *call, const rpc_method_info *info, void *ctx)
{
    const char *who = rpc_call_metadata(call, "x-who", NULL);
    (void)info;
    (void)ctx;
    if (who != NULL)
        rpc_call_set_principal(call, who, NULL);
    return GRPC_STATUS_OK;
}

static int start_fixture(void **state, const rpc_server_options *o, rpc_interceptor_fn icpt)
{
    static fixture f;
    static const rpc_method_handler handlers[] = {
        {"EmptyCall", slow_empty},
        {"UnaryCall", unary},
        {"StreamingOutputCall", endless},
    };
    rpcc_channel_options co = {.insecure = 1};
    char err[256];
    int port;

    memset(&f, 0, sizeof(f));
    assert_int_equal(rpc_server_create(&f.srv, o), 0);
    assert_int_equal(rpc_server_add_service(f.srv, &grpc__testing__test_service__descriptor,
                                            handlers, 3, NULL),
                     0);
    if (icpt != NULL)
        rpc_server_set_interceptor(f.srv, icpt, NULL);
    assert_int_equal(rpc_server_start(f.srv, &port), 0);
    snprintf(f.target, sizeof(f.target), "127.0.0.1:%d", port);
    co.target = f.target;
    assert_int_equal(rpcc_channel_create(&f.ch, &co, err, sizeof(err)), 0);
    *state = &f;
    return 0;
}

static int setup(void **state)
{
    rpc_server_options o = {.listen_addr = "127.0.0.1:0", .threads = 1, .quiet = 1};
    return start_fixture(state, &o, NULL);
}

/* Small stream budgets: 8 in all, 2 without a principal, 3 per principal. */
static int setup_budgets(void **state)
{
    rpc_server_options o = {.listen_addr = "127.0.0.1:0", .threads = 1, .quiet = 1,
                            .max_streams = 8, .max_anon_streams = 2,
                            .max_principal_streams = 3, .loopback_only = 1};
    return start_fixture(state, &o, who_interceptor);
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

/* With one queue thread and four handlers blocked, a fifth call is still
 * answered while they stay blocked: handlers never run on the queue threads. */
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
    /* Wait (bounded) until all four are inside the blocked handler. */
    pthread_mutex_lock(&gate_mu);
    gate_open = 0;
    for (t = now_ms(); gate_inside < 4 && now_ms() - t < 10000.0;) {
        pthread_mutex_unlock(&gate_mu);
        usleep(5 * 1000);
        pthread_mutex_lock(&gate_mu);
    }
    assert_int_equal(gate_inside, 4);
    pthread_mutex_unlock(&gate_mu);
    assert_int_equal(call_unary(f, &req, NULL, 0, 5000, &resp, &r), GRPC_STATUS_OK);
    pthread_mutex_lock(&gate_mu);
    assert_int_equal(gate_inside, 4); /* answered while all four still block */
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
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

/* 2,000 violations still make an error any client accepts: the first 50 are
 * listed, a last entry says how many were left out, and the packed details
 * stay small; long ones are cut by bytes instead. */
static void test_many_violations_are_capped(void **state)
{
    fixture *f = *state;
    Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    Grpc__Testing__SimpleResponse *resp = NULL;
    Google__Rpc__BadRequest *br;
    rpcc_result r;
    size_t n;

    req.response_size = 2000;
    assert_int_equal(call_unary(f, &req, NULL, 0, 5000, &resp, &r), GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(r.message, "2000 violations ?");
    assert_non_null(br = r.bad_request);
    n = br->n_field_violations;
    assert_int_equal(n, 51);
    assert_string_equal(br->field_violations[0]->field, "capabilities[0]");
    assert_string_equal(br->field_violations[49]->field, "capabilities[49]");
    assert_string_equal(br->field_violations[50]->field, "");
    assert_string_equal(br->field_violations[50]->description, "1950 more violations not listed (50 listed)");
    assert_true(google__rpc__status__get_packed_size(r.details) <= 4096);
    rpcc_result_free(&r);

    req.fill_username = 1; /* 280-byte descriptions: the byte budget binds first */
    req.response_size = 100;
    assert_int_equal(call_unary(f, &req, NULL, 0, 5000, &resp, &r), GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(br = r.bad_request);
    n = br->n_field_violations;
    assert_true(n > 2 && n < 20);
    assert_int_equal(strlen(br->field_violations[0]->description), 256);
    assert_non_null(strstr(br->field_violations[n - 1]->description, "more violations not listed"));
    assert_true(google__rpc__status__get_packed_size(r.details) <= 4096);
    rpcc_result_free(&r);
}

/* Text that is not valid UTF-8 never reaches a proto string field. */
static void test_violation_text_is_utf8(void **state)
{
    fixture *f = *state;
    Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    Grpc__Testing__SimpleResponse *resp = NULL;
    Grpc__Testing__BoolValue yes = GRPC__TESTING__BOOL_VALUE__INIT;
    rpcc_result r;

    req.response_size = 1;
    req.expect_compressed = &yes;
    assert_int_equal(call_unary(f, &req, NULL, 0, 5000, &resp, &r), GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(r.bad_request);
    assert_int_equal(r.bad_request->n_field_violations, 2);
    assert_string_equal(r.bad_request->field_violations[1]->field, "caf?");
    assert_string_equal(r.bad_request->field_violations[1]->description, "?? ok ??");
    assert_string_equal(r.details->message, "2 violations ?");
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
    /* Answered, not left to run into the client's deadline (5 s). */
    assert_true(now_ms() - t < 2500.0);
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

/* Opens an endless stream as who (NULL: no principal); returns it once its
 * first message came, or NULL with *code set when it was refused. */
static rpcc_stream *open_endless(fixture *f, const char *who, grpc_status_code *code,
                                 char *why, size_t whylen)
{
    Grpc__Testing__StreamingOutputCallRequest req = GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
    rpcc_metadata md = {"x-who", who, who != NULL ? strlen(who) : 0};
    rpcc_call_options co = {.deadline_ms = 20000, .metadata = &md, .n_metadata = who != NULL};
    rpcc_stream *s = NULL;
    ProtobufCMessage *m;
    rpcc_result r;
    char err[256];

    assert_int_equal(rpcc_stream_open(f->ch, "/grpc.testing.TestService/StreamingOutputCall",
                                      &req.base,
                                      &grpc__testing__streaming_output_call_response__descriptor,
                                      &co, &s, err, sizeof(err)),
                     0);
    if (rpcc_stream_next(s, &m) == 1) {
        protobuf_c_message_free_unpacked(m, NULL);
        *code = GRPC_STATUS_OK;
        return s;
    }
    memset(&r, 0, sizeof(r));
    *code = rpcc_stream_finish(s, &r);
    snprintf(why, whylen, "%s", r.message);
    rpcc_result_free(&r);
    rpcc_stream_destroy(s);
    return NULL;
}

/* Unauthenticated streams cannot take the streams authenticated callers
 * need, and one principal cannot take another's. */
static void test_stream_budgets(void **state)
{
    fixture *f = *state;
    rpcc_stream *open[8];
    size_t n = 0;
    grpc_status_code code;
    rpc_server_stats st;
    char why[256];

    for (int i = 0; i < 2; i++) { /* the unauthenticated budget */
        assert_non_null(open[n++] = open_endless(f, NULL, &code, why, sizeof(why)));
    }
    for (int i = 0; i < 5; i++) { /* a crowd of anonymous callers gets no more */
        assert_null(open_endless(f, NULL, &code, why, sizeof(why)));
        assert_int_equal(code, GRPC_STATUS_RESOURCE_EXHAUSTED);
        assert_non_null(strstr(why, "unauthenticated streams (limit 2)"));
    }
    for (int i = 0; i < 3; i++)
        assert_non_null(open[n++] = open_endless(f, "principals/a", &code, why, sizeof(why)));
    assert_null(open_endless(f, "principals/a", &code, why, sizeof(why)));
    assert_int_equal(code, GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(why, "principals/a (limit 3)"));
    /* another principal still has room */
    assert_non_null(open[n++] = open_endless(f, "principals/b", &code, why, sizeof(why)));
    rpc_server_get_stats(f->srv, &st);
    assert_int_equal(st.anon_streams, 2);
    assert_int_equal(st.streams, 6);

    /* a closed stream gives its place back */
    rpcc_stream_destroy(open[0]);
    open[0] = NULL;
    for (int tries = 0; tries < 200; tries++) {
        rpc_server_get_stats(f->srv, &st);
        if (st.anon_streams == 1)
            break;
        usleep(10 * 1000);
    }
    assert_int_equal(st.anon_streams, 1);
    assert_non_null(open[0] = open_endless(f, NULL, &code, why, sizeof(why)));
    for (size_t i = 0; i < n; i++)
        rpcc_stream_destroy(open[i]);
}

/* A request slot the core refuses to take again is re-posted later, not
 * lost: with every re-post failing for a while, the method would otherwise
 * run out of slots and hang. */
static void test_failed_reposts_are_repaired(void **state)
{
    fixture *f = *state;
    Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    Grpc__Testing__SimpleResponse *resp = NULL;
    rpc_server_stats st;
    rpcc_result r;

    rpc_server_fail_posts(f->srv, 6); /* more than the slots posted per method (2) */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(call_unary(f, &req, NULL, 0, 10000, &resp, &r), GRPC_STATUS_OK);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        rpcc_result_free(&r);
    }
    rpc_server_get_stats(f->srv, &st);
    assert_int_equal(st.post_failures, 6);
    for (int tries = 0; tries < 300 && st.requests_missing > 0; tries++) {
        usleep(10 * 1000);
        rpc_server_get_stats(f->srv, &st);
    }
    assert_int_equal(st.requests_missing, 0);
}

/* What counts as loopback, and that the bound sockets are reported. */
static void test_loopback_addresses(void **state)
{
    fixture *f = *state;
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    char err[256];

    in4.sin_addr.s_addr = htonl(0x7f000001);
    assert_true(rpc_sockaddr_is_loopback((struct sockaddr *)&in4, sizeof(in4)));
    in4.sin_addr.s_addr = htonl(0x7f0a0b0c); /* all of 127/8 */
    assert_true(rpc_sockaddr_is_loopback((struct sockaddr *)&in4, sizeof(in4)));
    in4.sin_addr.s_addr = htonl(0xc0000201); /* 192.0.2.1 */
    assert_false(rpc_sockaddr_is_loopback((struct sockaddr *)&in4, sizeof(in4)));
    in4.sin_addr.s_addr = htonl(0); /* 0.0.0.0: every address */
    assert_false(rpc_sockaddr_is_loopback((struct sockaddr *)&in4, sizeof(in4)));
    in6.sin6_addr = in6addr_loopback;
    assert_true(rpc_sockaddr_is_loopback((struct sockaddr *)&in6, sizeof(in6)));
    in6.sin6_addr = in6addr_any;
    assert_false(rpc_sockaddr_is_loopback((struct sockaddr *)&in6, sizeof(in6)));
    assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr), 1);
    assert_true(rpc_sockaddr_is_loopback((struct sockaddr *)&in6, sizeof(in6)));
    assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", &in6.sin6_addr), 1);
    assert_false(rpc_sockaddr_is_loopback((struct sockaddr *)&in6, sizeof(in6)));

    assert_true(rpc_addr_is_loopback("127.0.0.1:1", err, sizeof(err)));
    assert_true(rpc_addr_is_loopback("[::1]:1", err, sizeof(err)));
    assert_true(rpc_addr_is_loopback("localhost:1", err, sizeof(err)));
    /* a name is resolved, not read: a 127. prefix proves nothing */
    assert_false(rpc_addr_is_loopback("127.anything.invalid:1", err, sizeof(err)));
    assert_non_null(strstr(err, "does not resolve"));
    assert_false(rpc_addr_is_loopback("0.0.0.0:1", err, sizeof(err)));
    assert_false(rpc_addr_is_loopback("[::]:1", err, sizeof(err)));
    assert_false(rpc_addr_is_loopback(":1", err, sizeof(err)));
    assert_false(rpc_addr_is_loopback("192.0.2.1:1", err, sizeof(err)));
    assert_non_null(strstr(err, "not loopback"));

    /* this fixture runs with loopback_only: what it bound was listed */
    assert_non_null(strstr(rpc_server_bound_addresses(f->srv), "127.0.0.1:"));
}

/* A second server on a port in use fails to start (no SO_REUSEPORT). */
static void test_port_taken(void **state)
{
    fixture *f = *state;
    rpc_server *second = NULL;
    rpc_server_options o = {.listen_addr = f->target, .threads = 1, .quiet = 1};

    assert_int_equal(rpc_server_create(&second, &o), 0);
    assert_int_equal(rpc_server_start(second, NULL), -1);
    rpc_server_destroy(second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blocking_handlers_stall_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_details, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_violations_are_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_violation_text_is_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_and_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_method_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_cancels_endless_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_budgets, setup_budgets, teardown),
        cmocka_unit_test_setup_teardown(test_failed_reposts_are_repaired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loopback_addresses, setup_budgets, teardown),
        cmocka_unit_test_setup_teardown(test_port_taken, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
