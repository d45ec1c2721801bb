/* test_rpc_client.c — the client runtime without a gRPC server: option
 * checks, address lists turned into targets, which calls may be retried,
 * local validation, fail-fast on a refused port, and deadlines that expire on
 * time (monotonic, relative) against a socket that never answers. Calls
 * against several servers: test_rpc_replicas.c; real servers: integration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "grpc/health/v1/health.pb-c.h"
#include "rpc_internal.h"
#include "tallinn/rpc_client.h"
#include "tallinn/v1/need.pb-c.h"

#define CHECK_METHOD "/grpc.health.v1.Health/Check"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A listening TCP socket on 127.0.0.1 that is never accepted from: TCP
 * connects, HTTP/2 never starts. Returns the fd; *port gets its port. */
static int silent_listener(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nothing listens on (bound, then closed). */
static int refused_port(void)
{
    int port, fd = silent_listener(&port);
    close(fd);
    return port;
}

static rpcc_channel *insecure_channel(int port)
{
    rpcc_channel_options o;
    rpcc_channel *ch = NULL;
    char target[64], err[RPCC_ERROR_MAX];

    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    memset(&o, 0, sizeof o);
    o.target = target;
    o.insecure = 1;
    assert_int_equal(rpcc_channel_create(&ch, &o, err, sizeof err), 0);
    assert_non_null(ch);
    assert_string_equal(rpcc_channel_target(ch), target);
    return ch;
}

static void test_channel_option_errors(void **state)
{
    rpcc_channel_options o;
    rpcc_channel *ch = (rpcc_channel *)1;
    char err[RPCC_ERROR_MAX], path[] = "/tmp/test_rpc_client_XXXXXX";
    int fd;

    (void)state;
    memset(&o, 0, sizeof o);
    err[0] = '\0';
    assert_int_equal(rpcc_channel_create(&ch, &o, err, sizeof err), -1);
    assert_null(ch);
    assert_non_null(strstr(err, "address"));

    o.target = "127.0.0.1:1";
    o.cert_file = "/nonexistent/cert.pem";
    assert_int_equal(rpcc_channel_create(&ch, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "together"));

    o.cert_file = NULL;
    o.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(rpcc_channel_create(&ch, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
    assert_non_null(strstr(err, "No such file"));

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a certificate\n", 18), 18);
    close(fd);
    o.ca_file = path;
    assert_int_equal(rpcc_channel_create(&ch, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a PEM file"));
    unlink(path);

    /* Plaintext ignores TLS files entirely. */
    o.insecure = 1;
    assert_int_equal(rpcc_channel_create(&ch, &o, err, sizeof err), 0);
    rpcc_channel_destroy(ch);
    rpcc_channel_destroy(NULL);
}

/* A target from addr, or fail with the parser's message. */
static void parse_ok(rpcc__target *t, const char *addr, int tls, const char *server_name)
{
    char err[RPCC_ERROR_MAX] = "";

    if (rpcc__target_parse(t, addr, tls, server_name, 0, err, sizeof err) != 0)
        fail_msg("%s: %s", addr, err);
}

/* The parser refuses addr with a message holding needle. */
static void parse_fails(const char *addr, int tls, const char *server_name, const char *needle)
{
    rpcc__target t;
    char err[RPCC_ERROR_MAX] = "";

    assert_int_equal(rpcc__target_parse(&t, addr, tls, server_name, 0, err, sizeof err), -1);
    assert_null(t.uri);
    if (strstr(err, needle) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", addr, err, needle);
}

static void test_target_lists(void **state)
{
    rpcc__target t;

    (void)state;
    /* One address, or a resolver URI: gRPC's own. */
    parse_ok(&t, "tallinn.example:50051", 0, NULL);
    assert_string_equal(t.uri, "tallinn.example:50051");
    assert_null(t.authority);
    assert_null(t.tls_name);
    assert_int_equal(t.n_addresses, 1);
    rpcc__target_free(&t);
    parse_ok(&t, "dns:///tallinn.example:50051", 1, "tallinn.example");
    assert_string_equal(t.uri, "dns:///tallinn.example:50051");
    assert_string_equal(t.tls_name, "tallinn.example");
    assert_int_equal(t.n_addresses, 0);
    rpcc__target_free(&t);
    parse_ok(&t, "ipv4:10.0.0.1:1,10.0.0.2:1", 0, NULL);
    assert_string_equal(t.uri, "ipv4:10.0.0.1:1,10.0.0.2:1");
    assert_int_equal(t.n_addresses, 2);
    rpcc__target_free(&t);

    /* A list: one ipv4: target, spaces and duplicates dropped. */
    parse_ok(&t, "127.0.0.1:5001, 127.0.0.2:5002 ,127.0.0.1:5001", 0, NULL);
    assert_string_equal(t.uri, "ipv4:127.0.0.1:5001,127.0.0.2:5002");
    assert_string_equal(t.authority, "127.0.0.1:5001");
    assert_int_equal(t.n_addresses, 2);
    rpcc__target_free(&t);
    parse_ok(&t, "[::1]:5001,[::1]:5002", 0, NULL);
    assert_string_equal(t.uri, "ipv6:[::1]:5001,[::1]:5002");
    rpcc__target_free(&t);
    /* A name is resolved here; localhost has an IPv4 address, as the other
     * entry has, so the list is IPv4 (::1 is left out). */
    parse_ok(&t, "localhost:5001,127.0.0.1:5002", 0, NULL);
    assert_string_equal(t.uri, "ipv4:127.0.0.1:5001,127.0.0.1:5002");
    rpcc__target_free(&t);

    /* TLS: one name for every certificate. */
    parse_ok(&t, "localhost:5001,localhost:5002", 1, NULL);
    assert_string_equal(t.tls_name, "localhost");
    assert_string_equal(t.authority, "localhost");
    rpcc__target_free(&t);
    parse_ok(&t, "127.0.0.1:5001,127.0.0.2:5002", 1, "tallinn.example");
    assert_string_equal(t.tls_name, "tallinn.example");
    rpcc__target_free(&t);
    parse_fails("127.0.0.1:5001,127.0.0.2:5002", 1, NULL, "--server-name");

    parse_fails("", 0, NULL, "no server address");
    parse_fails("127.0.0.1:1,,127.0.0.1:2", 0, NULL, "empty entry");
    parse_fails("127.0.0.1:1,127.0.0.1", 0, NULL, "\"127.0.0.1\" has no port");
    parse_fails("127.0.0.1:1,::1:5", 0, NULL, "[ADDRESS]:PORT");
    parse_fails("127.0.0.1:1,[::1:5", 0, NULL, "[ADDRESS]:PORT");
    parse_fails("127.0.0.1:1,127.0.0.1:0", 0, NULL, "1 to 65535");
    parse_fails("127.0.0.1:1,127.0.0.1:65536", 0, NULL, "1 to 65535");
    parse_fails("127.0.0.1:1,127.0.0.1:5x", 0, NULL, "1 to 65535");
    parse_fails("127.0.0.1:1,:5", 0, NULL, "has no host");
    parse_fails("[::1]:1,127.0.0.1:2", 0, NULL, "one family");
}

/* The form alone, for command lines: nothing is resolved. */
static void test_target_check(void **state)
{
    char err[RPCC_ERROR_MAX] = "";

    (void)state;
    assert_int_equal(rpcc_target_check("tallinn.example:50051", err, sizeof err), 0);
    assert_int_equal(rpcc_target_check("dns:///tallinn.example:50051", err, sizeof err), 0);
    assert_int_equal(rpcc_target_check("a.invalid:1,[::1]:2, b.invalid:3", err, sizeof err), 0);
    assert_int_equal(rpcc_target_check("a.invalid:1,b.invalid", err, sizeof err), -1);
    assert_non_null(strstr(err, "no port"));
    assert_int_equal(rpcc_target_check("", err, sizeof err), -1);
}

/* Channels shuffle a list, so that one-call clients spread over replicas. */
static void test_target_shuffle(void **state)
{
    int seen_first = 0, seen_second = 0;
    rpcc__target t;
    char err[RPCC_ERROR_MAX];

    (void)state;
    for (int i = 0; i < 64 && !(seen_first && seen_second); i++) {
        assert_int_equal(rpcc__target_parse(&t, "127.0.0.1:1,127.0.0.2:2", 0, NULL, 1, err,
                                            sizeof err),
                         0);
        if (strcmp(t.uri, "ipv4:127.0.0.1:1,127.0.0.2:2") == 0)
            seen_first = 1;
        else if (strcmp(t.uri, "ipv4:127.0.0.2:2,127.0.0.1:1") == 0)
            seen_second = 1;
        else
            fail_msg("unexpected %s", t.uri);
        rpcc__target_free(&t);
    }
    assert_true(seen_first && seen_second); /* fails with probability 2^-63 */
}

static void test_channel_list_errors(void **state)
{
    rpcc_channel_options o = {.target = "127.0.0.1:1,127.0.0.1", .insecure = 1};
    rpcc_channel *ch = NULL;
    char err[RPCC_ERROR_MAX] = "";

    (void)state;
    assert_int_equal(rpcc_channel_create(&ch, &o, err, sizeof err), -1);
    assert_null(ch);
    assert_non_null(strstr(err, "no port"));
    o.target = "127.0.0.1:1,127.0.0.2:2";
    o.max_attempts = RPCC_MAX_ATTEMPTS + 1;
    assert_int_equal(rpcc_channel_create(&ch, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "attempts"));
    o.max_attempts = 0;
    assert_int_equal(rpcc_channel_create(&ch, &o, err, sizeof err), 0);
    assert_int_equal(rpcc_channel_address_count(ch), 2);
    assert_string_equal(rpcc_channel_target(ch), "127.0.0.1:1,127.0.0.2:2");
    rpcc_channel_destroy(ch);
}

/* Reads by name, writes only with a request_id. */
static void test_repeatable(void **state)
{
    Tallinn__V1__CreateNeedRequest create = TALLINN__V1__CREATE_NEED_REQUEST__INIT;
    Tallinn__V1__UpdateNeedRequest update = TALLINN__V1__UPDATE_NEED_REQUEST__INIT;
    Tallinn__V1__GetNeedRequest get = TALLINN__V1__GET_NEED_REQUEST__INIT;

    (void)state;
    assert_true(rpcc_call_repeatable("/tallinn.v1.NeedService/GetNeed", &get.base));
    assert_true(rpcc_call_repeatable("/tallinn.v1.NeedService/ListNeeds", &get.base));
    assert_true(rpcc_call_repeatable("/tallinn.v1.AuditService/StreamAuditRecords", NULL));
    assert_true(rpcc_call_repeatable("/tallinn.v1.MatchService/SuggestMatches", NULL));
    assert_true(rpcc_call_repeatable("/grpc.health.v1.Health/Check", NULL));
    assert_false(rpcc_call_repeatable("/tallinn.v1.X/Getaway", NULL)); /* verb, then a capital */
    assert_false(rpcc_call_repeatable("/tallinn.v1.NeedService/CreateNeed", &create.base));
    create.request_id = "3b1f0c9e-6c55-4b0a-8f0e-2d6f5c1a9b7d";
    assert_true(rpcc_call_repeatable("/tallinn.v1.NeedService/CreateNeed", &create.base));
    assert_false(rpcc_call_repeatable("/tallinn.v1.NeedService/UpdateNeed", &update.base));
    assert_false(rpcc_call_repeatable("/tallinn.v1.DiagnosticsService/Noop", NULL));
    assert_false(rpcc_call_repeatable(NULL, NULL));
}

static void test_backoff(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++) {
        int64_t a = rpcc__backoff_ms(1), b = rpcc__backoff_ms(2), z = rpcc__backoff_ms(9);
        assert_true(a >= 80 && a <= 120);
        assert_true(b >= 160 && b <= 240);
        assert_true(z >= 800 && z <= 1200);
    }
}

static void test_unary_refused_fails_fast(void **state)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    rpcc_channel *ch = insecure_channel(refused_port());
    rpcc_call_options opts = {.deadline_ms = 10000};
    ProtobufCMessage *resp = (ProtobufCMessage *)1;
    rpcc_result r;
    double t0 = now_ms();
    grpc_status_code code;

    (void)state;
    code = rpcc_unary(ch, CHECK_METHOD, &req.base,
                      &grpc__health__v1__health_check_response__descriptor, &opts, &resp, &r);
    assert_int_equal(code, GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(r.code, GRPC_STATUS_UNAVAILABLE);
    assert_null(resp);
    assert_non_null(r.message);
    assert_true(strlen(r.message) > 0);
    assert_null(r.details);
    /* Nothing was reached, so nothing to name; and not retried, since no
     * address is up (a health check is a read). */
    assert_null(r.peer);
    assert_int_equal(r.attempts, 1);
    assert_true(rpcc_result_unreached(&r));
    /* Fail-fast: well before the 10 s deadline. */
    assert_true(now_ms() - t0 < 5000);
    rpcc_result_free(&r);
    assert_null(r.message);
    rpcc_result_free(&r); /* idempotent */

    /* result may be NULL. */
    code = rpcc_unary(ch, CHECK_METHOD, &req.base,
                      &grpc__health__v1__health_check_response__descriptor, &opts, &resp, NULL);
    assert_int_equal(code, GRPC_STATUS_UNAVAILABLE);
    rpcc_channel_destroy(ch);
}

/* Deadlines are relative to now: not already expired (the 1970 bug), not
 * ignored. Both a silent peer and wait-for-ready on a refused port must end in
 * DEADLINE_EXCEEDED close to the deadline. */
static void test_unary_deadline(void **state)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    rpcc_call_options opts = {.deadline_ms = 400};
    ProtobufCMessage *resp = NULL;
    rpcc_result r;
    int port, fd = silent_listener(&port);
    rpcc_channel *ch = insecure_channel(port);
    double t0 = now_ms(), dt;

    (void)state;
    assert_int_equal(rpcc_unary(ch, CHECK_METHOD, &req.base,
                                &grpc__health__v1__health_check_response__descriptor, &opts,
                                &resp, &r),
                     GRPC_STATUS_DEADLINE_EXCEEDED);
    dt = now_ms() - t0;
    assert_true(dt >= 350);
    assert_true(dt < 3000);
    assert_null(resp);
    rpcc_result_free(&r);
    rpcc_channel_destroy(ch);
    close(fd);

    ch = insecure_channel(refused_port());
    opts.wait_for_ready = 1;
    t0 = now_ms();
    assert_int_equal(rpcc_unary(ch, CHECK_METHOD, &req.base,
                                &grpc__health__v1__health_check_response__descriptor, &opts,
                                &resp, &r),
                     GRPC_STATUS_DEADLINE_EXCEEDED);
    dt = now_ms() - t0;
    assert_true(dt >= 350);
    assert_true(dt < 3000);
    rpcc_result_free(&r);
    rpcc_channel_destroy(ch);
}

static void test_metadata_validation(void **state)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    const char bin[] = {'\0', '\n', (char)0xff, 'x'};
    rpcc_metadata bad_key[] = {{"Bad Key", "v", 1}};
    rpcc_metadata bad_value[] = {{"x-request-id", "a\nb", 3}};
    rpcc_metadata good[] = {{"x-request-id", "abc", 3}, {"x-trace-bin", bin, sizeof bin}};
    rpcc_call_options opts = {.deadline_ms = 5000};
    rpcc_channel *ch = insecure_channel(refused_port());
    ProtobufCMessage *resp = NULL;
    rpcc_result r;

    (void)state;
    opts.metadata = bad_key;
    opts.n_metadata = 1;
    assert_int_equal(rpcc_unary(ch, CHECK_METHOD, &req.base,
                                &grpc__health__v1__health_check_response__descriptor, &opts,
                                &resp, &r),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(r.message, "Bad Key"));
    rpcc_result_free(&r);

    opts.metadata = bad_value;
    assert_int_equal(rpcc_unary(ch, CHECK_METHOD, &req.base,
                                &grpc__health__v1__health_check_response__descriptor, &opts,
                                &resp, &r),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(r.message, "x-request-id"));
    rpcc_result_free(&r);

    /* Valid, binary values included: the call gets as far as the network. */
    opts.metadata = good;
    opts.n_metadata = 2;
    assert_int_equal(rpcc_unary(ch, CHECK_METHOD, &req.base,
                                &grpc__health__v1__health_check_response__descriptor, &opts,
                                &resp, &r),
                     GRPC_STATUS_UNAVAILABLE);
    rpcc_result_free(&r);

    /* A malformed method path never reaches gRPC. */
    assert_int_equal(rpcc_unary(ch, "Check", &req.base,
                                &grpc__health__v1__health_check_response__descriptor, NULL, &resp,
                                &r),
                     GRPC_STATUS_INVALID_ARGUMENT);
    rpcc_result_free(&r);
    rpcc_channel_destroy(ch);
}

static void test_stream_refused(void **state)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    rpcc_call_options opts = {.deadline_ms = 5000};
    rpcc_channel *ch = insecure_channel(refused_port());
    rpcc_stream *s = NULL;
    ProtobufCMessage *msg = (ProtobufCMessage *)1;
    const rpcc_metadata *md;
    size_t n = 99;
    rpcc_result r;
    char err[RPCC_ERROR_MAX];

    (void)state;
    assert_int_equal(rpcc_stream_open(ch, "/grpc.health.v1.Health/Watch", &req.base,
                                      &grpc__health__v1__health_check_response__descriptor, &opts,
                                      &s, err, sizeof err),
                     0);
    assert_int_equal(rpcc_stream_next(s, &msg), -1);
    assert_null(msg);
    assert_int_equal(rpcc_stream_next(s, &msg), -1); /* stays ended */
    md = rpcc_stream_initial_metadata(s, &n);
    assert_int_equal(n, 0);
    assert_null(md);
    assert_int_equal(rpcc_stream_finish(s, &r), GRPC_STATUS_UNAVAILABLE);
    assert_true(strlen(r.message) > 0);
    rpcc_result_free(&r);
    /* Later calls: the same code and message. */
    assert_int_equal(rpcc_stream_finish(s, &r), GRPC_STATUS_UNAVAILABLE);
    assert_true(strlen(r.message) > 0);
    rpcc_result_free(&r);
    rpcc_stream_destroy(s);
    rpcc_channel_destroy(ch);
}

/* A stream to a silent peer: cancel ends it with CANCELLED at once, and a
 * stream destroyed while still running is cancelled and freed (ASan checks
 * the freeing; a hang here means a batch was never plucked). */
static void test_stream_cancel_and_destroy(void **state)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    rpcc_call_options opts = {.deadline_ms = 30000};
    int port, fd = silent_listener(&port);
    rpcc_channel *ch = insecure_channel(port);
    rpcc_stream *s = NULL;
    ProtobufCMessage *msg = NULL;
    char err[RPCC_ERROR_MAX];
    double t0;

    (void)state;
    assert_int_equal(rpcc_stream_open(ch, "/grpc.health.v1.Health/Watch", &req.base,
                                      &grpc__health__v1__health_check_response__descriptor, &opts,
                                      &s, err, sizeof err),
                     0);
    t0 = now_ms();
    rpcc_stream_cancel(s);
    assert_int_equal(rpcc_stream_next(s, &msg), -1);
    assert_int_equal(rpcc_stream_finish(s, NULL), GRPC_STATUS_CANCELLED);
    assert_true(now_ms() - t0 < 2000);
    rpcc_stream_destroy(s);

    assert_int_equal(rpcc_stream_open(ch, "/grpc.health.v1.Health/Watch", &req.base,
                                      &grpc__health__v1__health_check_response__descriptor, &opts,
                                      &s, err, sizeof err),
                     0);
    t0 = now_ms();
    rpcc_stream_destroy(s); /* never read, never finished */
    assert_true(now_ms() - t0 < 2000);
    rpcc_channel_destroy(ch);
    close(fd);
}

static void test_helpers(void **state)
{
    rpcc_metadata md[] = {{"a", "1", 1}, {"b-bin", "\0x", 2}, {"a", "2", 1}};
    size_t len = 0;
    rpcc_result r;

    (void)state;
    assert_string_equal(rpcc_metadata_find(md, 3, "a", &len), "1");
    assert_int_equal(len, 1);
    assert_memory_equal(rpcc_metadata_find(md, 3, "b-bin", &len), "\0x", 2);
    assert_int_equal(len, 2);
    assert_null(rpcc_metadata_find(md, 3, "c", NULL));
    assert_null(rpcc_metadata_find(NULL, 0, "a", NULL));

    assert_string_equal(rpcc_status_name(GRPC_STATUS_OK), "OK");
    assert_string_equal(rpcc_status_name(GRPC_STATUS_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(rpcc_status_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
    assert_string_equal(rpcc_status_name((grpc_status_code)17), "UNKNOWN_CODE");
    assert_string_equal(rpcc_status_name((grpc_status_code)-1), "UNKNOWN_CODE");

    memset(&r, 0, sizeof r);
    rpcc_result_free(&r);
    rpcc_result_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_option_errors),
        cmocka_unit_test(test_target_lists),
        cmocka_unit_test(test_target_check),
        cmocka_unit_test(test_target_shuffle),
        cmocka_unit_test(test_channel_list_errors),
        cmocka_unit_test(test_repeatable),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_unary_refused_fails_fast),
        cmocka_unit_test(test_unary_deadline),
        cmocka_unit_test(test_metadata_validation),
        cmocka_unit_test(test_stream_refused),
        cmocka_unit_test(test_stream_cancel_and_destroy),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
