/* test_rpc_replicas.c — the client runtime against three in-process servers
 * that can be told apart (each names itself in its answers): calls spread
 * round-robin over an address list; a replica that answers UNAVAILABLE or is
 * shut down is passed over by reads; a write without request_id is sent once,
 * one with request_id again; retries stop at the attempt limit and at the
 * deadline; streams are retried before their first message; dns:/// works. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tallinn/rpc.h"
#include "tallinn/rpc_client.h"
#include "tallinn/v1/audit.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

#define N_REPLICAS 3
#define M_GET "/tallinn.v1.NeedService/GetNeed"
#define M_CREATE "/tallinn.v1.NeedService/CreateNeed"
#define M_STREAM "/tallinn.v1.AuditService/StreamAuditRecords"
#define STREAM_RECORDS 3

typedef struct replica {
    rpc_server *srv;
    int index;
    int port;
    atomic_int fail;  /* 1: every call answers UNAVAILABLE (its database is gone) */
    atomic_int gets, creates, streams;
} replica;

/* What on_attempt saw, in order. */
#define LOG_MAX 256
typedef struct attempt_log {
    int n;
    char peer[LOG_MAX][64];
    grpc_status_code code[LOG_MAX];
    int64_t retry_in_ms[LOG_MAX];
    char not_retried[LOG_MAX][96];
} attempt_log;

typedef struct fixture {
    replica r[N_REPLICAS];
    rpcc_channel *ch;
    char list[256];
    attempt_log log;
} fixture;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the replicas ---- */

/* A need named after the replica: "needs/r1". */
static grpc_status_code answer(rpc_call *call, const replica *r, ProtobufCMessage **resp)
{
    Tallinn__V1__Need *out;
    char name[32];

    if (atomic_load(&r->fail))
        return rpc_call_error(call, GRPC_STATUS_UNAVAILABLE, "replica %d: database unavailable",
                              r->index);
    out = rpc_call_alloc(call, sizeof *out);
    tallinn__v1__need__init(out);
    snprintf(name, sizeof name, "needs/r%d", r->index);
    out->name = rpc_call_strdup(call, name);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

static grpc_status_code get_need(rpc_call *call, const ProtobufCMessage *req,
                                 ProtobufCMessage **resp, void *ctx)
{
    replica *r = ctx;

    (void)req;
    atomic_fetch_add(&r->gets, 1);
    return answer(call, r, resp);
}

static grpc_status_code create_need(rpc_call *call, const ProtobufCMessage *req,
                                    ProtobufCMessage **resp, void *ctx)
{
    replica *r = ctx;

    (void)req;
    atomic_fetch_add(&r->creates, 1);
    return answer(call, r, resp);
}

static grpc_status_code stream_records(rpc_call *call, const ProtobufCMessage *req,
                                       ProtobufCMessage **resp, void *ctx)
{
    replica *r = ctx;
    Tallinn__V1__StreamAuditRecordsResponse out = TALLINN__V1__STREAM_AUDIT_RECORDS_RESPONSE__INIT;

    (void)req;
    (void)resp;
    atomic_fetch_add(&r->streams, 1);
    if (atomic_load(&r->fail))
        return rpc_call_error(call, GRPC_STATUS_UNAVAILABLE, "replica %d: database unavailable",
                              r->index);
    for (int i = 0; i < STREAM_RECORDS; i++) {
        out.index = i;
        if (rpc_call_send(call, &out.base) != 0)
            return GRPC_STATUS_CANCELLED;
    }
    return GRPC_STATUS_OK;
}

static void replica_start(replica *r, int index)
{
    static const rpc_method_handler need_handlers[] = {{"GetNeed", get_need},
                                                       {"CreateNeed", create_need}};
    static const rpc_method_handler audit_handlers[] = {{"StreamAuditRecords", stream_records}};
    rpc_server_options o = {.listen_addr = "127.0.0.1:0", .threads = 1, .quiet = 1};

    memset(r, 0, sizeof *r);
    r->index = index;
    assert_int_equal(rpc_server_create(&r->srv, &o), 0);
    assert_int_equal(rpc_server_add_service(r->srv, &tallinn__v1__need_service__descriptor,
                                            need_handlers, 2, r),
                     0);
    assert_int_equal(rpc_server_add_service(r->srv, &tallinn__v1__audit_service__descriptor,
                                            audit_handlers, 1, r),
                     0);
    assert_int_equal(rpc_server_start(r->srv, &r->port), 0);
}

static void replica_kill(replica *r)
{
    rpc_server_shutdown(r->srv, 0);
    rpc_server_destroy(r->srv);
    r->srv = NULL;
}

/* ---- the client ---- */

static void on_attempt(void *arg, const rpcc_attempt *a)
{
    attempt_log *l = arg;

    if (l->n == LOG_MAX)
        return;
    snprintf(l->peer[l->n], sizeof l->peer[0], "%s", a->peer != NULL ? a->peer : "-");
    l->code[l->n] = a->code;
    l->retry_in_ms[l->n] = a->retry_in_ms;
    snprintf(l->not_retried[l->n], sizeof l->not_retried[0], "%s",
             a->not_retried != NULL ? a->not_retried : "");
    l->n++;
}

static rpcc_channel *channel(fixture *f, const char *target, int max_attempts)
{
    rpcc_channel_options o = {.target = target, .insecure = 1, .max_attempts = max_attempts,
                              .on_attempt = on_attempt, .on_attempt_arg = &f->log};
    rpcc_channel *ch = NULL;
    char err[RPCC_ERROR_MAX];

    if (rpcc_channel_create(&ch, &o, err, sizeof err) != 0)
        fail_msg("channel to %s: %s", target, err);
    return ch;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    size_t len = 0;

    assert_non_null(f);
    for (int i = 0; i < N_REPLICAS; i++) {
        replica_start(&f->r[i], i);
        len += (size_t)snprintf(f->list + len, sizeof f->list - len, "%s127.0.0.1:%d",
                                i > 0 ? "," : "", f->r[i].port);
    }
    f->ch = channel(f, f->list, 0);
    assert_int_equal(rpcc_channel_address_count(f->ch), N_REPLICAS);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    rpcc_channel_destroy(f->ch);
    for (int i = 0; i < N_REPLICAS; i++)
        if (f->r[i].srv != NULL)
            replica_kill(&f->r[i]);
    free(f);
    return 0;
}

/* The replica that answered, from the need's name ("needs/r1" -> 1); -1 on
 * failure. Checks that the result's peer is that replica's address. */
static int get(fixture *f, rpcc_channel *ch, int64_t deadline_ms, rpcc_result *r)
{
    Tallinn__V1__GetNeedRequest req = TALLINN__V1__GET_NEED_REQUEST__INIT;
    rpcc_call_options o = {.deadline_ms = deadline_ms};
    ProtobufCMessage *resp = NULL;
    int who = -1;
    char peer[64];

    req.name = "needs/x";
    if (rpcc_unary(ch, M_GET, &req.base, &tallinn__v1__need__descriptor, &o, &resp, r) ==
        GRPC_STATUS_OK) {
        who = ((Tallinn__V1__Need *)resp)->name[7] - '0';
        assert_true(who >= 0 && who < N_REPLICAS);
        snprintf(peer, sizeof peer, "127.0.0.1:%d", f->r[who].port);
        assert_non_null(r->peer);
        assert_string_equal(r->peer, peer);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return who;
}

static grpc_status_code create(rpcc_channel *ch, const char *request_id, rpcc_result *r)
{
    Tallinn__V1__CreateNeedRequest req = TALLINN__V1__CREATE_NEED_REQUEST__INIT;
    rpcc_call_options o = {.deadline_ms = 5000};
    ProtobufCMessage *resp = NULL;
    grpc_status_code code;

    if (request_id != NULL)
        req.request_id = (char *)request_id;
    code = rpcc_unary(ch, M_CREATE, &req.base, &tallinn__v1__need__descriptor, &o, &resp, r);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return code;
}

static int total_creates(fixture *f)
{
    int n = 0;
    for (int i = 0; i < N_REPLICAS; i++)
        n += atomic_load(&f->r[i].creates);
    return n;
}

/* Calls until every replica has answered once: round_robin rotates over
 * connected addresses only, and connections come up one by one. */
static void warm_up(fixture *f)
{
    int seen[N_REPLICAS] = {0}, all = 0;

    for (int i = 0; i < 200 && !all; i++) {
        rpcc_result r = {0};
        int who = get(f, f->ch, 5000, &r);
        assert_true(who >= 0);
        rpcc_result_free(&r);
        seen[who] = 1;
        all = seen[0] && seen[1] && seen[2];
        if (!all && i > 10) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    assert_true(all);
    for (int i = 0; i < N_REPLICAS; i++) {
        atomic_store(&f->r[i].gets, 0);
        atomic_store(&f->r[i].creates, 0);
    }
    f->log.n = 0;
}

/* ---- the tests ---- */

static void test_round_robin_spread(void **state)
{
    fixture *f = *state;
    int count[N_REPLICAS] = {0}, prev = -1;

    warm_up(f);
    for (int i = 0; i < 30; i++) {
        rpcc_result r = {0};
        int who = get(f, f->ch, 5000, &r);
        assert_true(who >= 0);
        assert_int_equal(r.attempts, 1);
        /* round-robin: never the same replica twice in a row */
        assert_int_not_equal(who, prev);
        prev = who;
        count[who]++;
        rpcc_result_free(&r);
    }
    for (int i = 0; i < N_REPLICAS; i++) {
        assert_int_equal(count[i], 10);
        assert_int_equal(atomic_load(&f->r[i].gets), 10);
    }
    assert_int_equal(f->log.n, 30);
}

/* A replica that answers UNAVAILABLE: every read still succeeds, through
 * another replica, after one retry for each call that met it. */
static void test_read_retried_past_failing_replica(void **state)
{
    fixture *f = *state;
    int retries = 0;
    char failing[64];

    warm_up(f);
    atomic_store(&f->r[1].fail, 1);
    snprintf(failing, sizeof failing, "127.0.0.1:%d", f->r[1].port);
    for (int i = 0; i < 30; i++) {
        rpcc_result r = {0};
        int who = get(f, f->ch, 5000, &r);
        assert_int_equal(r.code, GRPC_STATUS_OK);
        assert_int_not_equal(who, 1);
        assert_true(r.attempts == 1 || r.attempts == 2);
        retries += r.attempts - 1;
        rpcc_result_free(&r);
    }
    assert_true(atomic_load(&f->r[1].gets) >= 5); /* it kept its turns */
    assert_int_equal(retries, atomic_load(&f->r[1].gets));
    /* The verbose report names the failing replica and the retry. */
    for (int i = 0, seen = 0; i < f->log.n || !seen; i++) {
        assert_true(i < f->log.n);
        if (f->log.code[i] == GRPC_STATUS_UNAVAILABLE) {
            assert_string_equal(f->log.peer[i], failing);
            assert_true(f->log.retry_in_ms[i] >= 80 && f->log.retry_in_ms[i] <= 120);
            seen = 1;
        }
    }
}

static void test_write_retried_only_with_request_id(void **state)
{
    fixture *f = *state;
    rpcc_result r = {0};
    int failed = 0;

    warm_up(f);
    for (int i = 0; i < N_REPLICAS; i++)
        atomic_store(&f->r[i].fail, 1);

    /* Without request_id: sent once, whatever happens. */
    assert_int_equal(create(f->ch, "", &r), GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(total_creates(f), 1);
    assert_non_null(r.peer); /* the error can say which replica failed */
    assert_non_null(strstr(r.message, "database unavailable"));
    assert_int_equal(f->log.n, 1);
    assert_int_equal(f->log.retry_in_ms[0], -1);
    assert_non_null(strstr(f->log.not_retried[0], "request_id"));
    rpcc_result_free(&r);

    /* With request_id: the server makes a repeat harmless, so up to the
     * channel's 3 attempts, each on the next replica. */
    assert_int_equal(create(f->ch, "4bd5f8a4-2c0e-4f5e-9d7e-0d9c1c8a6b11", &r),
                     GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(r.attempts, RPCC_DEFAULT_ATTEMPTS);
    assert_int_equal(total_creates(f), 1 + RPCC_DEFAULT_ATTEMPTS);
    assert_non_null(strstr(f->log.not_retried[f->log.n - 1], "gave up after 3 attempts"));
    assert_string_not_equal(f->log.peer[1], f->log.peer[2]);
    assert_string_not_equal(f->log.peer[2], f->log.peer[3]);
    rpcc_result_free(&r);

    /* One replica down: with request_id every write succeeds; without, the
     * writes that met it fail, and only those. */
    for (int i = 0; i < N_REPLICAS; i++) {
        atomic_store(&f->r[i].fail, i == 1);
        atomic_store(&f->r[i].creates, 0);
    }
    for (int i = 0; i < 6; i++) {
        assert_int_equal(create(f->ch, "0f6a1f53-8a0e-4c38-a2b1-5f1e2d3c4b5a", &r),
                         GRPC_STATUS_OK);
        rpcc_result_free(&r);
    }
    assert_true(atomic_load(&f->r[1].creates) >= 1);
    atomic_store(&f->r[1].creates, 0);
    for (int i = 0; i < 6; i++) {
        grpc_status_code code = create(f->ch, NULL, &r);
        if (code != GRPC_STATUS_OK) {
            assert_int_equal(code, GRPC_STATUS_UNAVAILABLE);
            assert_int_equal(r.attempts, 1);
            failed++;
        }
        rpcc_result_free(&r);
    }
    assert_true(failed >= 1);
    assert_int_equal(failed, atomic_load(&f->r[1].creates));
}

/* The deadline covers every attempt: retries stop when it leaves no time.
 * (Ten attempts with their pauses would take over 6 s.) */
static void test_retries_stop_at_deadline(void **state)
{
    fixture *f = *state;
    rpcc_channel *ch = channel(f, f->list, RPCC_MAX_ATTEMPTS);
    rpcc_result r = {0};
    double t0;

    warm_up(f);
    for (int i = 0; i < N_REPLICAS; i++)
        atomic_store(&f->r[i].fail, 1);
    t0 = now_ms();
    assert_int_equal(get(f, ch, 300, &r), -1);
    assert_true(now_ms() - t0 < 1000);
    assert_true(r.attempts >= 2 && r.attempts <= 3);
    if (r.code == GRPC_STATUS_UNAVAILABLE) /* else the last attempt ran into the deadline */
        assert_non_null(strstr(f->log.not_retried[f->log.n - 1], "deadline"));
    else
        assert_int_equal(r.code, GRPC_STATUS_DEADLINE_EXCEEDED);
    rpcc_result_free(&r);
    rpcc_channel_destroy(ch);
}

/* A replica that goes away is passed over; when all are gone, reads fail
 * fast rather than waiting out their deadline. */
static void test_killed_replica_skipped(void **state)
{
    fixture *f = *state;
    double t0;

    warm_up(f);
    replica_kill(&f->r[2]);
    for (int i = 0; i < 20; i++) {
        rpcc_result r = {0};
        int who = get(f, f->ch, 5000, &r);
        assert_int_equal(r.code, GRPC_STATUS_OK);
        assert_true(who == 0 || who == 1);
        rpcc_result_free(&r);
    }
    replica_kill(&f->r[0]);
    replica_kill(&f->r[1]);
    t0 = now_ms();
    {
        rpcc_result r = {0};
        assert_int_equal(get(f, f->ch, 10000, &r), -1);
        assert_int_equal(r.code, GRPC_STATUS_UNAVAILABLE);
        rpcc_result_free(&r);
    }
    assert_true(now_ms() - t0 < 3000);
}

/* A stream that fails before its first message is opened again elsewhere. */
static void test_stream_retried_before_first_message(void **state)
{
    fixture *f = *state;
    Tallinn__V1__StreamAuditRecordsRequest req = TALLINN__V1__STREAM_AUDIT_RECORDS_REQUEST__INIT;
    rpcc_call_options o = {.deadline_ms = 5000};
    int retried = 0;

    warm_up(f);
    atomic_store(&f->r[1].fail, 1);
    for (int i = 0; i < 6; i++) {
        rpcc_stream *s = NULL;
        rpcc_result r = {0};
        ProtobufCMessage *m;
        char err[RPCC_ERROR_MAX];
        int got = 0;

        assert_int_equal(rpcc_stream_open(f->ch, M_STREAM, &req.base,
                                          &tallinn__v1__stream_audit_records_response__descriptor,
                                          &o, &s, err, sizeof err),
                         0);
        while (rpcc_stream_next(s, &m) == 1) {
            assert_int_equal(((Tallinn__V1__StreamAuditRecordsResponse *)m)->index, got);
            protobuf_c_message_free_unpacked(m, NULL);
            got++;
        }
        assert_int_equal(rpcc_stream_finish(s, &r), GRPC_STATUS_OK);
        assert_int_equal(got, STREAM_RECORDS);
        retried += r.attempts - 1;
        rpcc_result_free(&r);
        rpcc_stream_destroy(s);
    }
    assert_true(retried >= 1);
    assert_int_equal(retried, atomic_load(&f->r[1].streams));
}

static void test_dns_target(void **state)
{
    fixture *f = *state;
    char target[64];
    rpcc_channel *ch;
    rpcc_result r = {0};

    /* localhost resolves to ::1 too, where nothing listens: round_robin
     * passes over it. */
    snprintf(target, sizeof target, "dns:///localhost:%d", f->r[0].port);
    ch = channel(f, target, 0);
    assert_int_equal(rpcc_channel_address_count(ch), 0);
    assert_int_equal(get(f, ch, 5000, &r), 0);
    rpcc_result_free(&r);
    rpcc_channel_destroy(ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_robin_spread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_retried_past_failing_replica, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_retried_only_with_request_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_stop_at_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_replica_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_retried_before_first_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dns_target, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
