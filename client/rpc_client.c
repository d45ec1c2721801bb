/* rpc_client.c — gRPC client calls over protobuf-c on the C core: unary and
 * server-streaming calls, and the retry of calls that are safe to repeat
 * (each attempt goes to the replica gRPC's round_robin policy picks). Every attempt has a private pluck completion queue; each batch it
 * starts is plucked exactly once, then the queue is shut down and drained. */
#include "tallinn/rpc_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "rpc_internal.h"

/* Room for a local status message, and for why a call was not retried. */
#define RPCC_MESSAGE_MAX 256
#define RPCC_WHY_MAX 96

/* Tags are per attempt (each has its own queue), so constants suffice. */
#define RPCC_TAG_UNARY ((void *)1)
#define RPCC_TAG_SEND ((void *)2)
#define RPCC_TAG_RECV ((void *)3)
#define RPCC_TAG_STATUS ((void *)4)


/* State shared by the unary and the streaming path. The request part
 * (metadata, body, deadline) lives for the whole call; the rest is per
 * attempt, released by rpcc_call_reset once every started batch has been
 * plucked. */
typedef struct rpcc_call {
    /* the request, for every attempt */
    grpc_metadata *send_md;
    size_t n_send_md;
    grpc_slice body;
    int has_body;
    gpr_timespec deadline;
    uint32_t md_flags;
    int repeatable;
    char *method;
    /* one attempt */
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_byte_buffer *send_buf;
    grpc_metadata_array recv_initial;
    grpc_metadata_array recv_trailing;
    grpc_status_code status;
    grpc_slice status_details;
    const char *error_string;
    grpc_byte_buffer *recv_buf;
} rpcc_call;

struct rpcc_stream {
    rpcc_call c;
    rpcc_channel *ch;
    const ProtobufCMessageDescriptor *resp_desc;
    int attempt;        /* 1 for the first */
    int send_pending;   /* TAG_SEND started, not yet plucked */
    int status_pending; /* TAG_STATUS started, not yet plucked */
    int got_initial;    /* RECV_INITIAL_METADATA done */
    int got_message;    /* a message arrived: no retry from here on */
    int done;           /* next() saw the end: 0 ok, -1 failed */
    int done_rc;
    int finished;       /* finish() ran */
    grpc_status_code code;
    char *message;
    char why[RPCC_WHY_MAX]; /* why a failed end was not retried */
    rpcc_metadata *initial;
    size_t n_initial;
};


/* ---- Calls ---- */

static ProtobufCMessage *rpcc_decode(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc)
{
    grpc_byte_buffer_reader reader;
    ProtobufCMessage *msg;
    grpc_slice s;

    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return NULL;
    s = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return msg;
}

/* Waits for one started batch; returns its success flag. */
static int rpcc_pluck(grpc_completion_queue *cq, void *tag)
{
    grpc_event ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

/* Ends an attempt: every batch it started has been plucked, so its queue
 * drains at once. The request part stays for the next attempt. */
static void rpcc_call_reset(rpcc_call *c)
{
    if (c->call != NULL)
        grpc_call_unref(c->call);
    c->call = NULL;
    if (c->cq != NULL) {
        grpc_completion_queue_shutdown(c->cq);
        while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(c->cq);
    }
    c->cq = NULL;
    if (c->send_buf != NULL)
        grpc_byte_buffer_destroy(c->send_buf);
    c->send_buf = NULL;
    if (c->recv_buf != NULL)
        grpc_byte_buffer_destroy(c->recv_buf);
    c->recv_buf = NULL;
    grpc_metadata_array_destroy(&c->recv_initial);
    grpc_metadata_array_destroy(&c->recv_trailing);
    grpc_metadata_array_init(&c->recv_initial);
    grpc_metadata_array_init(&c->recv_trailing);
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_empty_slice();
    gpr_free((void *)c->error_string);
    c->error_string = NULL;
    c->status = GRPC_STATUS_OK;
}

static void rpcc_call_free(rpcc_call *c)
{
    rpcc_call_reset(c);
    grpc_metadata_array_destroy(&c->recv_initial);
    grpc_metadata_array_destroy(&c->recv_trailing);
    grpc_slice_unref(c->status_details);
    for (size_t i = 0; i < c->n_send_md; i++) {
        grpc_slice_unref(c->send_md[i].key);
        grpc_slice_unref(c->send_md[i].value);
    }
    free(c->send_md);
    if (c->has_body)
        grpc_slice_unref(c->body);
    free(c->method);
    memset(c, 0, sizeof *c);
}

/* Prepares what every attempt sends: metadata, the encoded request, the
 * deadline (one for all attempts) and whether a retry is allowed. On failure
 * returns a status code with the cause in msg, and c holds nothing. */
static grpc_status_code rpcc_call_prepare(rpcc_call *c, const char *method,
                                          const ProtobufCMessage *req,
                                          const rpcc_call_options *opts, char *msg,
                                          size_t msg_len)
{
    size_t size;

    memset(c, 0, sizeof *c);
    grpc_metadata_array_init(&c->recv_initial);
    grpc_metadata_array_init(&c->recv_trailing);
    c->status_details = grpc_empty_slice();
    c->deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC);

    if (method == NULL || method[0] != '/' || req == NULL) {
        rpcc__errf(msg, msg_len, "invalid call: method must be \"/package.Service/Method\"");
        goto invalid;
    }
    if (!protobuf_c_message_check(req)) {
        rpcc__errf(msg, msg_len, "request is not a valid %s", req->descriptor->name);
        goto internal;
    }
    if ((c->method = strdup(method)) == NULL) {
        rpcc__errf(msg, msg_len, "out of memory");
        goto exhausted;
    }
    if (opts != NULL && opts->n_metadata > 0) {
        c->send_md = calloc(opts->n_metadata, sizeof *c->send_md);
        if (c->send_md == NULL) {
            rpcc__errf(msg, msg_len, "out of memory");
            goto exhausted;
        }
        for (size_t i = 0; i < opts->n_metadata; i++) {
            const rpcc_metadata *m = &opts->metadata[i];
            grpc_slice key = grpc_slice_from_copied_string(m->key != NULL ? m->key : "");
            grpc_slice value = grpc_slice_from_copied_buffer(m->value != NULL ? m->value : "",
                                                             m->value != NULL ? m->len : 0);

            c->send_md[i].key = key;
            c->send_md[i].value = value;
            c->n_send_md = i + 1;
            if (!grpc_header_key_is_legal(key) ||
                (!grpc_is_binary_header(key) && !grpc_header_nonbin_value_is_legal(value))) {
                rpcc__errf(msg, msg_len, "invalid request metadata \"%s\" (keys: lower-case "
                           "[a-z0-9._-]; values: printable ASCII unless the key ends in -bin)",
                           m->key != NULL ? m->key : "");
                goto invalid;
            }
        }
    }
    if (opts != NULL && opts->deadline_ms > 0)
        c->deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                   gpr_time_from_millis(opts->deadline_ms, GPR_TIMESPAN));
    if (opts != NULL && opts->wait_for_ready)
        c->md_flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY |
                      GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
    switch (opts != NULL ? opts->retry : RPCC_RETRY_AUTO) {
    case RPCC_RETRY_NEVER:
        c->repeatable = 0;
        break;
    case RPCC_RETRY_SAFE:
        c->repeatable = 1;
        break;
    default:
        c->repeatable = rpcc_call_repeatable(method, req);
    }

    size = protobuf_c_message_get_packed_size(req);
    c->body = grpc_slice_malloc(size);
    c->has_body = 1;
    if (protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(c->body)) != size) {
        rpcc__errf(msg, msg_len, "request %s does not encode", req->descriptor->name);
        goto internal;
    }
    return GRPC_STATUS_OK;
invalid:
    rpcc_call_free(c);
    return GRPC_STATUS_INVALID_ARGUMENT;
internal:
    rpcc_call_free(c);
    return GRPC_STATUS_INTERNAL;
exhausted:
    rpcc_call_free(c);
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

/* Starts an attempt: a queue and a gRPC call on the channel. Returns 0 or -1
 * (the core refused to create the call). */
static int rpcc_call_start(rpcc_call *c, rpcc_channel *ch)
{
    grpc_slice path = grpc_slice_from_copied_string(c->method);

    c->send_buf = grpc_raw_byte_buffer_create(&c->body, 1); /* takes its own reference */
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    c->call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, path,
                                       NULL, c->deadline, NULL);
    grpc_slice_unref(path);
    return c->call != NULL ? 0 : -1;
}

/* The three send operations every call starts with. Returns the op count. */
static size_t rpcc_send_ops(rpcc_call *c, grpc_op *ops)
{
    memset(ops, 0, 3 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = c->md_flags;
    ops[0].data.send_initial_metadata.count = c->n_send_md;
    ops[0].data.send_initial_metadata.metadata = c->send_md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->send_buf;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    return 3;
}

static void rpcc_status_op(rpcc_call *c, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &c->recv_trailing;
    op->data.recv_status_on_client.status = &c->status;
    op->data.recv_status_on_client.status_details = &c->status_details;
    op->data.recv_status_on_client.error_string = &c->error_string;
}

/* The server a finished attempt talked to, as "127.0.0.1:50051" or
 * "[::1]:50051"; NULL when it reached none (gRPC then names the channel's
 * target) or on out of memory. Caller frees. */
static char *rpcc_call_peer(const rpcc_channel *ch, grpc_call *call)
{
    char *raw = grpc_call_get_peer(call), *out = NULL;
    const char *p = raw;
    size_t j = 0;

    if (raw == NULL || strcmp(raw, "unknown") == 0 ||
        (ch->grpc_target != NULL && strcmp(raw, ch->grpc_target) == 0))
        goto done;
    if (strncmp(p, "ipv4:", 5) == 0 || strncmp(p, "ipv6:", 5) == 0)
        p += 5;
    if ((out = malloc(strlen(p) + 1)) == NULL)
        goto done;
    /* gRPC writes an IPv6 peer as a URI: [ and ] percent-encoded. */
    for (size_t i = 0; p[i] != '\0'; i++) {
        if (strncmp(p + i, "%5B", 3) == 0 || strncmp(p + i, "%5D", 3) == 0) {
            out[j++] = p[i + 1] == '5' && p[i + 2] == 'B' ? '[' : ']';
            i += 2;
        } else {
            out[j++] = p[i];
        }
    }
    out[j] = '\0';
done:
    gpr_free(raw);
    return out;
}

/* After an attempt that ended in code: the pause before the next one, or -1
 * when this attempt is the outcome (why says so for an UNAVAILABLE). */
static int64_t rpcc_next_attempt(rpcc_channel *ch, const rpcc_call *c, int attempt,
                                 grpc_status_code code, char *why, size_t why_len)
{
    int64_t pause;

    why[0] = '\0';
    if (code != GRPC_STATUS_UNAVAILABLE)
        return -1;
    if (!c->repeatable) {
        snprintf(why, why_len, "not safe to repeat (a write without request_id)");
        return -1;
    }
    if (attempt >= ch->max_attempts) {
        snprintf(why, why_len, ch->max_attempts > 1 ? "gave up after %d attempts"
                                                    : "retries are off (%d attempt)",
                 ch->max_attempts);
        return -1;
    }
    /* round_robin reports TRANSIENT_FAILURE only when every address has
     * failed to connect; each is then in gRPC's reconnect backoff. */
    if (grpc_channel_check_connectivity_state(ch->channel, 0) == GRPC_CHANNEL_TRANSIENT_FAILURE) {
        snprintf(why, why_len, "no server is reachable");
        return -1;
    }
    pause = rpcc__backoff_ms(attempt);
    if (gpr_time_cmp(c->deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) != 0 &&
        gpr_time_to_millis(gpr_time_sub(c->deadline, gpr_now(GPR_CLOCK_MONOTONIC))) <= pause) {
        snprintf(why, why_len, "the deadline leaves no time for another attempt");
        return -1;
    }
    return pause;
}

static void rpcc_report(const rpcc_channel *ch, const rpcc_call *c, int attempt,
                        const rpcc_result *r, int64_t pause, const char *why)
{
    rpcc_attempt a;

    if (ch->on_attempt == NULL)
        return;
    memset(&a, 0, sizeof a);
    a.method = c->method;
    a.peer = r->peer;
    a.code = r->code;
    a.message = r->message != NULL ? r->message : "";
    a.attempt = attempt;
    a.retry_in_ms = pause;
    a.not_retried = why != NULL && why[0] != '\0' ? why : NULL;
    ch->on_attempt(ch->on_attempt_arg, &a);
}

static void rpcc_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One unary attempt; fills r (and *resp on OK). */
static grpc_status_code rpcc_unary_attempt(rpcc_channel *ch, rpcc_call *c,
                                           const ProtobufCMessageDescriptor *resp_desc,
                                           ProtobufCMessage **resp, rpcc_result *r)
{
    grpc_op ops[6];
    size_t n;
    grpc_call_error e;
    grpc_status_code code;

    if (rpcc_call_start(c, ch) != 0)
        return rpcc__result_local(r, GRPC_STATUS_INTERNAL, "cannot create a call to %s",
                                  c->method);
    n = rpcc_send_ops(c, ops);
    memset(&ops[n], 0, 2 * sizeof ops[0]);
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n++].data.recv_initial_metadata.recv_initial_metadata = &c->recv_initial;
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &c->recv_buf;
    rpcc_status_op(c, &ops[n++]);
    e = grpc_call_start_batch(c->call, ops, n, RPCC_TAG_UNARY, NULL);
    if (e != GRPC_CALL_OK)
        return rpcc__result_local(r, GRPC_STATUS_INTERNAL, "cannot start call %s: %s", c->method,
                                  grpc_call_error_to_string(e));
    /* The batch holds RECV_STATUS: it ends with the call, whatever happened. */
    (void)rpcc_pluck(c->cq, RPCC_TAG_UNARY);
    code = rpcc__result_fill(r, c->status, c->status_details, &c->recv_initial,
                             &c->recv_trailing);
    r->peer = rpcc_call_peer(ch, c->call);
    if (code == GRPC_STATUS_OK) {
        if (c->recv_buf == NULL)
            rpcc__result_local(r, GRPC_STATUS_INTERNAL, "server sent no response to %s",
                               c->method);
        else if ((*resp = rpcc_decode(c->recv_buf, resp_desc)) == NULL)
            rpcc__result_local(r, GRPC_STATUS_INTERNAL, "response to %s does not decode as %s",
                               c->method, resp_desc->name);
    }
    return r->code;
}

grpc_status_code rpcc_unary(rpcc_channel *ch, const char *method, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *resp_desc,
                            const rpcc_call_options *opts, ProtobufCMessage **resp,
                            rpcc_result *result)
{
    rpcc_result scratch;
    rpcc_result *r = result != NULL ? result : &scratch;
    char msg[RPCC_MESSAGE_MAX], why[RPCC_WHY_MAX];
    grpc_status_code code;
    rpcc_call c;

    *resp = NULL;
    memset(r, 0, sizeof *r);
    code = rpcc_call_prepare(&c, method, req, opts, msg, sizeof msg);
    if (code != GRPC_STATUS_OK) {
        rpcc__result_local(r, code, "%s", msg);
        goto out;
    }
    for (int attempt = 1;; attempt++) {
        int64_t pause;

        code = rpcc_unary_attempt(ch, &c, resp_desc, resp, r);
        r->attempts = attempt;
        pause = rpcc_next_attempt(ch, &c, attempt, code, why, sizeof why);
        rpcc_report(ch, &c, attempt, r, pause, why);
        if (pause < 0)
            break;
        rpcc_call_reset(&c);
        rpcc_result_free(r);
        rpcc_sleep_ms(pause);
    }
    rpcc_call_free(&c);
out:
    code = r->code;
    if (r->message == NULL) /* strdup failed in a local result */
        code = r->code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    if (r == &scratch)
        rpcc_result_free(&scratch);
    return code;
}

/* ---- Server streaming ---- */

/* Starts an attempt of the stream: sends the request and half-closes, and
 * asks for the status. Returns 0, or -1 with the cause in err. */
static int rpcc_stream_start(rpcc_stream *s, char *err, size_t err_len)
{
    grpc_op ops[3];
    size_t n;
    grpc_call_error e;

    if (rpcc_call_start(&s->c, s->ch) != 0) {
        rpcc__errf(err, err_len, "cannot create a call to %s", s->c.method);
        return -1;
    }
    n = rpcc_send_ops(&s->c, ops);
    e = grpc_call_start_batch(s->c.call, ops, n, RPCC_TAG_SEND, NULL);
    if (e != GRPC_CALL_OK)
        goto fail;
    s->send_pending = 1;
    rpcc_status_op(&s->c, &ops[0]);
    e = grpc_call_start_batch(s->c.call, ops, 1, RPCC_TAG_STATUS, NULL);
    if (e != GRPC_CALL_OK)
        goto fail;
    s->status_pending = 1;
    return 0;
fail:
    rpcc__errf(err, err_len, "cannot start call %s: %s", s->c.method,
              grpc_call_error_to_string(e));
    grpc_call_cancel(s->c.call, NULL);
    if (s->send_pending)
        (void)rpcc_pluck(s->c.cq, RPCC_TAG_SEND);
    s->send_pending = 0;
    return -1;
}

int rpcc_stream_open(rpcc_channel *ch, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, const rpcc_call_options *opts,
                     rpcc_stream **out, char *err, size_t err_len)
{
    rpcc_stream *s;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        rpcc__errf(err, err_len, "out of memory");
        return -1;
    }
    if (rpcc_call_prepare(&s->c, method, req, opts, err, err_len) != GRPC_STATUS_OK) {
        free(s);
        return -1;
    }
    s->ch = ch;
    s->resp_desc = resp_desc;
    s->attempt = 1;
    if (rpcc_stream_start(s, err, err_len) != 0) {
        rpcc_call_free(&s->c);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* The attempt is over: collect the status to tell a clean end (0) from a
 * failure (-1). The status has arrived or is about to: the server closed. */
static int rpcc_stream_end(rpcc_stream *s)
{
    if (s->status_pending) {
        (void)rpcc_pluck(s->c.cq, RPCC_TAG_STATUS);
        s->status_pending = 0;
    }
    if (s->send_pending) {
        (void)rpcc_pluck(s->c.cq, RPCC_TAG_SEND);
        s->send_pending = 0;
    }
    s->done = 1;
    s->done_rc = s->c.status == GRPC_STATUS_OK ? 0 : -1;
    return s->done_rc;
}

/* After a failed end before any message: starts the next attempt when the
 * call may be repeated. Returns 1 if it did, 0 if the failure stands. */
static int rpcc_stream_retry(rpcc_stream *s)
{
    rpcc_result r;
    int64_t pause;
    char err[RPCC_MESSAGE_MAX];

    if (s->got_message) {
        if (s->c.status == GRPC_STATUS_UNAVAILABLE)
            snprintf(s->why, sizeof s->why, "the stream had delivered messages");
        return 0;
    }
    pause = rpcc_next_attempt(s->ch, &s->c, s->attempt, s->c.status, s->why, sizeof s->why);
    if (pause < 0)
        return 0;
    if (s->ch->on_attempt != NULL) {
        rpcc__result_fill(&r, s->c.status, s->c.status_details, &s->c.recv_initial,
                          &s->c.recv_trailing);
        r.peer = rpcc_call_peer(s->ch, s->c.call);
        rpcc_report(s->ch, &s->c, s->attempt, &r, pause, NULL);
        rpcc_result_free(&r);
    }
    rpcc_call_reset(&s->c);
    rpcc__md_free(s->initial, s->n_initial);
    s->initial = NULL;
    s->n_initial = 0;
    s->got_initial = 0;
    s->done = 0;
    rpcc_sleep_ms(pause);
    s->attempt++;
    if (rpcc_stream_start(s, err, sizeof err) != 0) {
        /* leave a failed end behind, as if the server had said so */
        s->c.status = GRPC_STATUS_INTERNAL;
        grpc_slice_unref(s->c.status_details);
        s->c.status_details = grpc_slice_from_copied_string(err);
        s->done = 1;
        s->done_rc = -1;
        return 0;
    }
    return 1;
}

int rpcc_stream_next(rpcc_stream *s, ProtobufCMessage **msg)
{
    grpc_op ops[2];
    size_t n;
    int ok;

    *msg = NULL;
    for (;;) {
        if (s->done || s->finished)
            return s->done ? s->done_rc : -1;
        n = 0;
        memset(ops, 0, sizeof ops);
        if (!s->got_initial) {
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->c.recv_initial;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &s->c.recv_buf;
        if (grpc_call_start_batch(s->c.call, ops, n, RPCC_TAG_RECV, NULL) != GRPC_CALL_OK) {
            grpc_call_cancel_with_status(s->c.call, GRPC_STATUS_INTERNAL,
                                         "client could not read from the stream", NULL);
            return rpcc_stream_end(s);
        }
        ok = rpcc_pluck(s->c.cq, RPCC_TAG_RECV);
        if (!s->got_initial) {
            s->got_initial = 1;
            if (rpcc__md_copy(&s->c.recv_initial, &s->initial, &s->n_initial) != 0)
                grpc_call_cancel_with_status(s->c.call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                             "client out of memory", NULL);
        }
        if (ok && s->c.recv_buf != NULL)
            break;
        if (rpcc_stream_end(s) == 0 || !rpcc_stream_retry(s))
            return s->done_rc;
    }
    s->got_message = 1;
    *msg = rpcc_decode(s->c.recv_buf, s->resp_desc);
    grpc_byte_buffer_destroy(s->c.recv_buf);
    s->c.recv_buf = NULL;
    if (*msg == NULL) {
        char why[RPCC_MESSAGE_MAX];

        snprintf(why, sizeof why, "response does not decode as %s", s->resp_desc->name);
        grpc_call_cancel_with_status(s->c.call, GRPC_STATUS_INTERNAL, why, NULL);
        return rpcc_stream_end(s);
    }
    return 1;
}

const rpcc_metadata *rpcc_stream_initial_metadata(const rpcc_stream *s, size_t *n)
{
    *n = s->n_initial;
    return s->initial;
}

void rpcc_stream_cancel(rpcc_stream *s)
{
    grpc_call_cancel(s->c.call, NULL);
}

grpc_status_code rpcc_stream_finish(rpcc_stream *s, rpcc_result *result)
{
    if (!s->finished) {
        rpcc_result r;

        if (!s->done)
            grpc_call_cancel(s->c.call, NULL);
        if (s->send_pending) {
            (void)rpcc_pluck(s->c.cq, RPCC_TAG_SEND);
            s->send_pending = 0;
        }
        if (s->status_pending) {
            (void)rpcc_pluck(s->c.cq, RPCC_TAG_STATUS);
            s->status_pending = 0;
        }
        s->finished = 1;
        s->done = 1;
        s->code = rpcc__result_fill(&r, s->c.status, s->c.status_details, &s->c.recv_initial,
                                    &s->c.recv_trailing);
        if (s->c.call != NULL)
            r.peer = rpcc_call_peer(s->ch, s->c.call);
        r.attempts = s->attempt;
        rpcc_report(s->ch, &s->c, s->attempt, &r, -1, s->why);
        s->message = r.message != NULL ? strdup(r.message) : NULL;
        if (result != NULL)
            *result = r;
        else
            rpcc_result_free(&r);
        return s->code;
    }
    if (result != NULL) {
        memset(result, 0, sizeof *result);
        result->code = s->code;
        result->message = strdup(s->message != NULL ? s->message : "");
        result->attempts = s->attempt;
    }
    return s->code;
}

void rpcc_stream_destroy(rpcc_stream *s)
{
    if (s == NULL)
        return;
    if (!s->finished)
        (void)rpcc_stream_finish(s, NULL);
    rpcc_call_free(&s->c);
    rpcc__md_free(s->initial, s->n_initial);
    free(s->message);
    free(s);
}
