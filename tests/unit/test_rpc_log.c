/* test_rpc_log.c — the call log (rpc_log.c): one well-formed logfmt line per
 * call, all written by the time shutdown returns; and when the log's reader
 * does not keep up, no call waits on it and no line is lost silently: every
 * line is either written or counted as dropped, and the count is logged. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>

#include "grpc/testing/test.pb-c.h"
#include "tallinn/rpc.h"
#include "tallinn/rpc_client.h"

static grpc_status_code unary(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                              void *ctx)
{
    Grpc__Testing__SimpleResponse *out = rpc_call_alloc(call, sizeof(*out));

    (void)req;
    (void)ctx;
    grpc__testing__simple_response__init(out);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* Reads the log pipe to its end into a buffer. */
typedef struct reader {
    int fd;
    char *buf;
    size_t len, cap;
} reader;

static void *read_all(void *p)
{
    reader *r = p;
    for (;;) {
        ssize_t n;
        if (r->cap - r->len < 4096) {
            r->cap = r->cap ? r->cap * 2 : 65536;
            r->buf = realloc(r->buf, r->cap + 1);
            if (r->buf == NULL)
                abort();
        }
        n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    r->buf[r->len] = '\0';
    return NULL;
}

/* Serves `calls` unary calls with the call log on a pipe (whose reader starts
 * only after the calls when `late`); returns the log text, *dropped the
 * server's count. */
static char *run(int calls, size_t ring, int late, long *dropped)
{
    static const rpc_method_handler handlers[] = {{"UnaryCall", unary}};
    rpc_server *srv = NULL;
    rpcc_channel *ch = NULL;
    rpcc_channel_options co = {.insecure = 1};
    rpc_server_options o = {.listen_addr = "127.0.0.1:0", .threads = 1};
    rpc_server_stats st;
    reader rd = {0};
    pthread_t th;
    char target[64], err[256];
    int fds[2], port;

    assert_int_equal(pipe(fds), 0);
    fcntl(fds[1], F_SETPIPE_SZ, 4096); /* the smallest: a slow reader fills it soon */
    rd.fd = fds[0];
    o.log_fd = fds[1];
    o.log_buffer_bytes = ring;
    assert_int_equal(rpc_server_create(&srv, &o), 0);
    assert_int_equal(rpc_server_add_service(srv, &grpc__testing__test_service__descriptor,
                                            handlers, 1, NULL),
                     0);
    assert_int_equal(rpc_server_start(srv, &port), 0);
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    co.target = target;
    assert_int_equal(rpcc_channel_create(&ch, &co, err, sizeof(err)), 0);
    if (!late)
        assert_int_equal(pthread_create(&th, NULL, read_all, &rd), 0);
    for (int i = 0; i < calls; i++) {
        Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
        rpcc_call_options cco = {.deadline_ms = 5000};
        ProtobufCMessage *resp = NULL;
        rpcc_result r;
        memset(&r, 0, sizeof(r));
        assert_int_equal(rpcc_unary(ch, "/grpc.testing.TestService/UnaryCall", &req.base,
                                    &grpc__testing__simple_response__descriptor, &cco, &resp, &r),
                         GRPC_STATUS_OK);
        protobuf_c_message_free_unpacked(resp, NULL);
        rpcc_result_free(&r);
    }
    if (late)
        assert_int_equal(pthread_create(&th, NULL, read_all, &rd), 0);
    rpcc_channel_destroy(ch);
    rpc_server_shutdown(srv, 1000); /* writes what is queued */
    rpc_server_get_stats(srv, &st);
    rpc_server_destroy(srv);
    close(fds[1]);
    pthread_join(th, NULL);
    close(fds[0]);
    *dropped = st.log_dropped;
    return rd.buf;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* ts=2026-12-03T11:33:30.047Z level=info event=call method=/grpc.testing.TestService/UnaryCall
 * code=OK duration_ms=0.123 peer=ipv4:127.0.0.1:4242 principal=- */
static void check_line(const char *line)
{
    int y, mo, d, h, mi, s, ms, n = 0;
    unsigned whole, frac;
    char rest[160];

    assert_int_equal(sscanf(line, "ts=%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %n", &y, &mo, &d, &h, &mi, &s,
                            &ms, &n),
                     7);
    assert_true(n > 0);
    line += n;
    assert_true(strncmp(line, "level=info event=call method=/grpc.testing.TestService/UnaryCall "
                              "code=OK duration_ms=", 85) == 0);
    line += 85;
    assert_int_equal(sscanf(line, "%u.%3u %159[^\n]", &whole, &frac, rest), 3);
    assert_non_null(strchr(line, '.'));
    assert_int_equal(strchr(line, ' ') - strchr(line, '.'), 4); /* three decimals */
    assert_true(strncmp(rest, "peer=ipv4:127.0.0.1:", 20) == 0);
    assert_non_null(strstr(rest, " principal=-"));
}

static void test_every_call_one_line(void **state)
{
    long dropped = -1;
    char *text = run(50, 0, 0, &dropped);
    int lines = 0;

    (void)state;
    assert_int_equal(dropped, 0);
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        check_line(line);
        lines++;
    }
    assert_int_equal(lines, 50);
    free(text);
}

/* A 4 KiB ring and a 4 KiB pipe nobody reads during 300 calls: the calls
 * are not held up, and written + dropped lines = calls, the drops logged. */
static void test_overflow_is_counted(void **state)
{
    long dropped = -1, reported = 0;
    char *text = run(300, 4096, 1, &dropped);
    int written = count(text, "event=call ");
    const char *p = text;

    (void)state;
    assert_true(dropped > 0);
    assert_int_equal(written + dropped, 300);
    assert_true(count(text, "event=call_log_dropped") >= 1);
    /* the last report carries the running total */
    while ((p = strstr(p, " total=")) != NULL)
        reported = strtol(p += 7, NULL, 10);
    assert_int_equal(reported, dropped);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_call_one_line),
        cmocka_unit_test(test_overflow_is_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
