/* bench_grpc.c — tallinn-bench's gRPC C-core engine (--engine grpc): each
 * connection thread has its own channel (own TCP connection) and completion
 * queue, and a slot's whole unary call is one batch of six ops. The core's
 * client channel costs ~45,000 instructions a call (docs/BENCHMARKS.md), so
 * this engine is the cross-check, not the default. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

struct bench_grpc_conn {
    grpc_channel *channel;
    grpc_completion_queue *cq;
    void *handles[BENCH_OP_COUNT];
    grpc_slice auth_key;
    grpc_slice auth_val[BENCH_ROLE_COUNT];
};

typedef struct bench_grpc_slot {
    grpc_call *call;
    grpc_metadata md;
    grpc_metadata_array recv_initial;
    grpc_metadata_array recv_trailing;
    grpc_byte_buffer *send_buf;
    grpc_byte_buffer *recv_buf;
    grpc_status_code status;
    grpc_slice details;
} bench_grpc_slot;

static int bench_grpc__init(bench_conn *c, char *err, size_t err_len)
{
    const bench_config *cfg = bench_conn_config(c);
    bench_grpc_conn *g = calloc(1, sizeof(*g));
    bench_grpc_slot *gs = calloc((size_t)c->n_slots, sizeof(*gs));
    grpc_channel_credentials *creds;
    grpc_arg args[3];
    grpc_channel_args chargs = {3, args};

    if (g == NULL || gs == NULL) {
        free(g);
        free(gs);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    c->grpc = g;
    for (int i = 0; i < c->n_slots; i++)
        c->slots[i].engine = &gs[i];
    g->auth_key = grpc_slice_from_static_string("authorization");
    for (int r = 0; r < BENCH_ROLE_COUNT; r++)
        g->auth_val[r] = grpc_slice_from_copied_string(cfg->auth[r] != NULL ? cfg->auth[r] : "");
    /* Each connection thread gets its own TCP connection: without a local
     * subchannel pool, channels to one target share a single subchannel. */
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[0].value.integer = 1;
    /* No retry buffering: we measure the server, not the retry filter. */
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_ENABLE_RETRIES;
    args[1].value.integer = 0;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[2].value.integer = 64 * 1024 * 1024;
    creds = grpc_insecure_credentials_create();
    g->channel = creds != NULL ? grpc_channel_create(cfg->addr, creds, &chargs) : NULL;
    if (creds != NULL)
        grpc_channel_credentials_release(creds);
    g->cq = grpc_completion_queue_create_for_next(NULL);
    if (g->channel == NULL || g->cq == NULL) {
        snprintf(err, err_len, "cannot create channel %d to %s", c->index + 1, cfg->addr);
        return -1;
    }
    for (int i = 0; i < BENCH_OP_COUNT; i++)
        g->handles[i] = grpc_channel_register_call(g->channel, bench_op_method(i), NULL, NULL);
    return 0;
}

static int bench_grpc__start(bench_slot *s)
{
    bench_conn *c = s->conn;
    bench_grpc_conn *g = c->grpc;
    bench_grpc_slot *gs = s->engine;
    const bench_config *cfg = bench_conn_config(c);
    grpc_slice payload;
    grpc_op ops[6];
    gpr_timespec deadline;

    payload = grpc_slice_from_copied_buffer((const char *)s->req + BENCH_GRPC_PREFIX, s->req_len);
    gs->send_buf = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);
    deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_time_from_millis(cfg->deadline_ms, GPR_TIMESPAN));
    gs->call = grpc_channel_create_registered_call(g->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                   g->cq, g->handles[s->op], deadline, NULL);
    if (gs->call == NULL) {
        grpc_byte_buffer_destroy(gs->send_buf);
        gs->send_buf = NULL;
        bench_conn_fail(c, "%s: cannot create a call%s", bench_op_name(s->op), "");
        return 0;
    }
    gs->md.key = g->auth_key;
    gs->md.value = g->auth_val[s->role];
    gs->recv_buf = NULL;
    gs->status = GRPC_STATUS_UNKNOWN;
    gs->details = grpc_empty_slice();
    grpc_metadata_array_init(&gs->recv_initial);
    grpc_metadata_array_init(&gs->recv_trailing);

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = cfg->auth[s->role] != NULL ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = &gs->md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = gs->send_buf;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &gs->recv_initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &gs->recv_buf;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &gs->recv_trailing;
    ops[5].data.recv_status_on_client.status = &gs->status;
    ops[5].data.recv_status_on_client.status_details = &gs->details;
    if (grpc_call_start_batch(gs->call, ops, 6, s, NULL) != GRPC_CALL_OK) {
        grpc_call_unref(gs->call);
        gs->call = NULL;
        grpc_byte_buffer_destroy(gs->send_buf);
        gs->send_buf = NULL;
        grpc_metadata_array_destroy(&gs->recv_initial);
        grpc_metadata_array_destroy(&gs->recv_trailing);
        bench_conn_fail(c, "%s: grpc_call_start_batch failed%s", bench_op_name(s->op), "");
        return 0;
    }
    return 1;
}

/* The call's batch is back: hand status and message to the workload, then
 * release what the call held. */
static void bench_grpc__complete(bench_slot *s, int ok)
{
    bench_grpc_slot *gs = s->engine;
    grpc_status_code code = ok ? gs->status : GRPC_STATUS_INTERNAL;
    grpc_slice all = grpc_empty_slice();
    int have = 0;

    if (code == GRPC_STATUS_OK && gs->recv_buf != NULL) {
        grpc_byte_buffer_reader r;
        if (grpc_byte_buffer_reader_init(&r, gs->recv_buf)) {
            all = grpc_byte_buffer_reader_readall(&r);
            grpc_byte_buffer_reader_destroy(&r);
            have = 1;
        } else {
            code = GRPC_STATUS_INTERNAL; /* a response that does not decompress */
        }
    }
    bench_slot_done(s, code, (const char *)GRPC_SLICE_START_PTR(gs->details),
                    GRPC_SLICE_LENGTH(gs->details), GRPC_SLICE_START_PTR(all),
                    GRPC_SLICE_LENGTH(all), have);
    grpc_slice_unref(all);
    grpc_metadata_array_destroy(&gs->recv_initial);
    grpc_metadata_array_destroy(&gs->recv_trailing);
    grpc_byte_buffer_destroy(gs->send_buf);
    gs->send_buf = NULL;
    if (gs->recv_buf != NULL)
        grpc_byte_buffer_destroy(gs->recv_buf);
    gs->recv_buf = NULL;
    grpc_slice_unref(gs->details);
    grpc_call_unref(gs->call);
    gs->call = NULL;
}

static void bench_grpc__main(bench_conn *c)
{
    while (c->active > 0) {
        /* Every call has a deadline, so this wait always ends. */
        grpc_event ev = grpc_completion_queue_next(c->grpc->cq,
                                                   gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        bench_slot *s;
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        s = ev.tag;
        bench_grpc__complete(s, ev.success);
        if (!bench_slot_next(s))
            c->active--;
    }
}

static void bench_grpc__destroy(bench_conn *c)
{
    bench_grpc_conn *g = c->grpc;

    if (g == NULL)
        return;
    if (g->channel != NULL)
        grpc_channel_destroy(g->channel);
    if (g->cq != NULL) {
        grpc_completion_queue_shutdown(g->cq);
        while (grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(g->cq);
    }
    grpc_slice_unref(g->auth_key);
    for (int r = 0; r < BENCH_ROLE_COUNT; r++)
        grpc_slice_unref(g->auth_val[r]);
    if (c->n_slots > 0)
        free(c->slots[0].engine);
    free(g);
    c->grpc = NULL;
}

const bench_engine bench_engine_grpc = {
    .name = "grpc",
    .conn_init = bench_grpc__init,
    .start = bench_grpc__start,
    .conn_main = bench_grpc__main,
    .conn_destroy = bench_grpc__destroy,
};
