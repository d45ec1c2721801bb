/* rpc_call.c — one server call: its batches, its memory, its status, and the
 * functions a handler uses. A call is freed when its handler is done and its
 * last pending batch has come back (a count, as libuv counts handle closes). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>
#include <grpc/support/time.h>

#include "google/rpc/error_details.pb-c.h"
#include "log/slog.h"
#include "google/rpc/status.pb-c.h"
#include "rpc_internal.h"
#include "tallinn/rpc_wire.h"
#include "tallinn/validate.h"

#define RPC_ARENA_BLOCK 4096
#define RPC_MESSAGE_MAX 1024 /* status messages are short by design */
#define RPC_STATUS_DETAILS_KEY "grpc-status-details-bin"
/* BadRequest bounds: the trailer (base64 of google.rpc.Status, the message,
 * grpc-status) must fit the smallest default client limit on metadata
 * (grpc-java: 8 KiB), so the violations themselves stay within 3 KiB. */
#define RPC_VIOLATIONS_MAX 50
#define RPC_VIOLATIONS_BYTES 3072
#define RPC_VIOLATION_FIELD_MAX 128
#define RPC_VIOLATION_DESC_MAX 256

static void call_destroy(rpc_call *call);

static void *arena_alloc(void *data, size_t size)
{
    return rpc_call_alloc(data, size);
}

static void arena_free(void *data, void *p)
{
    (void)data; /* arena memory goes with the call */
    (void)p;
}

rpc_call *rpc__call_create(struct rpc_server *srv, const rpc_method_reg *method, rpc_request *req)
{
    rpc_call *call = calloc(1, sizeof(*call));

    if (call == NULL)
        return NULL;
    call->srv = srv;
    call->method = method;
    call->call = req->call;
    req->call = NULL;
    if (method != NULL) {
        call->path = (char *)method->info.path; /* lives as long as the server */
        call->deadline = req->deadline;
    } else {
        call->path = grpc_slice_to_c_string(req->details.method);
        call->path_owned = 1;
        call->deadline = req->details.deadline;
    }
    call->deadline = gpr_convert_clock_type(call->deadline, GPR_CLOCK_MONOTONIC);
    call->start = gpr_now(GPR_CLOCK_MONOTONIC);
    call->peer = grpc_call_get_peer(call->call); /* the core's copy: gpr_free'd at the end */
    if (call->peer == NULL)
        call->peer = gpr_strdup("unknown");
    call->req_md = req->md;
    grpc_metadata_array_init(&req->md);
    call->req_payload = req->payload;
    req->payload = NULL;

    pthread_mutex_init(&call->mu, NULL);
    pthread_cond_init(&call->cv, NULL); /* never waited on with a timeout */
    for (int i = 0; i < RPC_OP_COUNT; i++) {
        call->tags[i].tag.type = RPC_TAG_OP;
        call->tags[i].call = call;
        call->tags[i].slot = (rpc_op_slot)i;
    }
    call->code = GRPC_STATUS_OK;
    call->violations_tail = &call->violations;
    call->allocator.alloc = arena_alloc;
    call->allocator.free = arena_free;
    call->allocator.allocator_data = call;
    if (call->path == NULL || call->peer == NULL) {
        /* Out of memory: the caller cancels the grpc call and frees us. */
        call->handler_done = 1;
    }
    return call;
}

int rpc__call_start(rpc_call *call, rpc_op_slot slot, grpc_op *ops, size_t n)
{
    grpc_call_error err;

    pthread_mutex_lock(&call->mu);
    call->busy[slot] = 1;
    call->pending++;
    pthread_mutex_unlock(&call->mu);
    err = grpc_call_start_batch(call->call, ops, n, &call->tags[slot], NULL);
    if (err != GRPC_CALL_OK) {
        SLOG(SLOG_ERROR, "batch_failed", SLOG_S("method", call->path), SLOG_I("slot", (int)slot),
             SLOG_S("error", grpc_call_error_to_string(err)));
        pthread_mutex_lock(&call->mu);
        call->busy[slot] = 0;
        call->pending--;
        pthread_mutex_unlock(&call->mu);
        return -1;
    }
    return 0;
}

void rpc__call_op_done(rpc_call *call, rpc_op_slot slot, int ok)
{
    pthread_mutex_t *nmu = NULL;
    pthread_cond_t *ncv = NULL;
    int free_now;

    pthread_mutex_lock(&call->mu);
    call->busy[slot] = 0;
    call->ok[slot] = ok;
    if (slot == RPC_OP_STATUS && call->close_in_status)
        call->closed = 1;
    if (slot == RPC_OP_CLOSE) {
        call->closed = 1;
        nmu = call->notify_mu;
        ncv = call->notify_cv;
    }
    pthread_cond_broadcast(&call->cv);
    if (nmu != NULL && ncv != NULL) {
        /* Wake a handler waiting on its own condition. This batch's pending
         * count keeps the call alive meanwhile, and `notifying` keeps the
         * handler from unregistering (and freeing) the condition under us. */
        call->notifying = 1;
        pthread_mutex_unlock(&call->mu);
        pthread_mutex_lock(nmu);
        pthread_cond_broadcast(ncv);
        pthread_mutex_unlock(nmu);
        pthread_mutex_lock(&call->mu);
        call->notifying = 0;
        pthread_cond_broadcast(&call->cv);
    }
    call->pending--;
    free_now = call->pending == 0 && call->handler_done;
    pthread_mutex_unlock(&call->mu);
    if (free_now)
        call_destroy(call);
}

void rpc__call_handler_done(rpc_call *call)
{
    int free_now;

    pthread_mutex_lock(&call->mu);
    call->handler_done = 1;
    free_now = call->pending == 0;
    pthread_mutex_unlock(&call->mu);
    if (free_now)
        call_destroy(call);
}

static void md_list_free(rpc_md_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        grpc_slice_unref(l->items[i].key);
        grpc_slice_unref(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

static int md_list_add(rpc_md_list *l, const char *key, const void *value, size_t len)
{
    grpc_slice k = grpc_slice_from_copied_string(key);

    if (!grpc_header_key_is_legal(k) ||
        (!grpc_is_binary_header(k) &&
         !grpc_header_nonbin_value_is_legal(grpc_slice_from_static_buffer(value, len)))) {
        grpc_slice_unref(k);
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        grpc_metadata *items = realloc(l->items, cap * sizeof(*items));
        if (items == NULL) {
            grpc_slice_unref(k);
            return -1;
        }
        l->items = items;
        l->cap = cap;
    }
    memset(&l->items[l->n], 0, sizeof(l->items[l->n]));
    l->items[l->n].key = k;
    l->items[l->n].value = grpc_slice_from_copied_buffer(value, len);
    l->n++;
    return 0;
}

/* The code to log: a call the client abandoned ended for the client with
 * CANCELLED or DEADLINE_EXCEEDED, whatever the handler returned. */
static grpc_status_code log_code(const rpc_call *call)
{
    if (call->closed && call->client_cancelled) {
        if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), call->deadline) >= 0)
            return GRPC_STATUS_DEADLINE_EXCEEDED;
        return GRPC_STATUS_CANCELLED;
    }
    return call->code;
}

static void call_destroy(rpc_call *call)
{
    struct rpc_server *srv = call->srv;

    gpr_timespec d = gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), call->start);
    grpc_status_code code = log_code(call);
    /* The metrics: three relaxed atomic adds, no lock. The registration
     * is const to calls; its counters are the one part they change. */
    rpc_method_stats *ms =
        call->method != NULL ? (rpc_method_stats *)&call->method->stats : &srv->unknown_stats;
    if ((unsigned)code < RPC_STATUS_CODES)
        atomic_fetch_add_explicit(&ms->calls[code], 1, memory_order_relaxed);
    metrics_hist_observe(&ms->latency_us, d.tv_sec < 0 ? 0
                                                       : (uint64_t)d.tv_sec * 1000000u +
                                                             (uint64_t)d.tv_nsec / 1000u);

    if (!srv->opts.quiet) {
        rpc_call_log entry = {
            .method = call->path != NULL ? call->path : "?",
            .code = code,
            .duration_ms = (double)d.tv_sec * 1e3 + (double)d.tv_nsec / 1e6,
            .peer = call->peer != NULL ? call->peer : "unknown",
            .principal = call->principal,
        };
        if (srv->log != NULL)
            rpc__log_call(srv->log, &entry);
        else if (srv->opts.log_fn != NULL)
            srv->opts.log_fn(&entry, srv->opts.log_ctx);
    }

    grpc_metadata_array_destroy(&call->req_md);
    if (call->req_payload != NULL)
        grpc_byte_buffer_destroy(call->req_payload);
    if (call->send_buf != NULL)
        grpc_byte_buffer_destroy(call->send_buf);
    if (call->recv_buf != NULL)
        grpc_byte_buffer_destroy(call->recv_buf);
    if (call->have_status_details)
        grpc_slice_unref(call->status_details);
    if (call->have_req_bytes)
        grpc_slice_unref(call->req_bytes);
    md_list_free(&call->init_md);
    md_list_free(&call->trail_md);
    if (call->call != NULL)
        grpc_call_unref(call->call);
    if (call->request != NULL)
        protobuf_c_message_free_unpacked(call->request, NULL);
    while (call->owned != NULL) {
        rpc_owned_msg *o = call->owned;
        call->owned = o->next;
        protobuf_c_message_free_unpacked(o->msg, NULL);
        free(o);
    }
    while (call->arena != NULL) {
        rpc_arena_block *b = call->arena;
        call->arena = b->next;
        if (call->wipe)
            explicit_bzero(b->data, b->size * sizeof(max_align_t));
        free(b);
    }
    if (call->wipe)
        explicit_bzero(call->arena0, sizeof(call->arena0));
    while (call->violations != NULL) {
        rpc_violation *v = call->violations;
        call->violations = v->next;
        free(v->field);
        free(v->description);
        free(v);
    }
    free(call->info_reason);
    free(call->info_domain);
    free(call->message);
    if (call->path_owned)
        free(call->path);
    gpr_free(call->peer);
    pthread_mutex_destroy(&call->mu);
    pthread_cond_destroy(&call->cv);
    rpc__server_call_freed(srv, call);
    free(call);
}

/* Packs a message into a byte buffer in one allocation. */
static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(len);
    grpc_byte_buffer *bb;

    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* A response the handler had encoded already (rpc_call_set_response_bytes). */
static grpc_byte_buffer *bytes_message(const uint8_t *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);

    grpc_slice_unref(s);
    return bb;
}

/* One BadRequest violation per bad string (the runtime bounds how many are
 * listed; all are counted). */
static void on_bad_text(void *ctx, const char *path, int problem, size_t offset)
{
    rpc_call *call = ctx;
    char d[128];

    snprintf(d, sizeof(d), problem == RPC_WIRE_BAD_NUL
                               ? "contains a NUL byte at byte %zu; text may not contain NUL"
                               : "is not valid UTF-8 (at byte %zu); strings must be UTF-8",
             offset);
    rpc_call_add_field_violation(call, path[0] ? path : "(request)", d);
}

/* Every string of the request, at any depth, must be UTF-8 without NUL
 * (rpc_wire.h): checked on the bytes, before protobuf-c's C strings hide
 * what follows a NUL. Returns 0, or -1 with the error set. */
static int check_text(rpc_call *call, const ProtobufCMessageDescriptor *desc, grpc_slice s)
{
    int bad = rpc_wire_check_text(desc, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s),
                                  on_bad_text, call);

    if (bad == 0)
        return 0;
    if (bad < 0)
        rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request is not a valid %s message; check the client's .proto version",
                       desc->name);
    else
        rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request has %d string field%s that %s NUL or invalid UTF-8 (see "
                       "BadRequest details); text must be UTF-8 without NUL",
                       bad, bad == 1 ? "" : "s", bad == 1 ? "holds" : "hold");
    return -1;
}

int rpc__call_decode(rpc_call *call, grpc_byte_buffer *buf, const ProtobufCMessageDescriptor *desc,
                     ProtobufCMessage **out, int keep)
{
    grpc_byte_buffer_reader reader;
    grpc_slice s;

    *out = NULL;
    if (!grpc_byte_buffer_reader_init(&reader, buf)) {
        rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "request could not be decompressed");
        return -1;
    }
    s = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    *out = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    if (*out != NULL && check_text(call, desc, s) != 0) {
        protobuf_c_message_free_unpacked(*out, NULL);
        *out = NULL;
        grpc_slice_unref(s);
        return -1;
    }
    if (keep && *out != NULL) {
        call->req_bytes = s;
        call->have_req_bytes = 1;
    } else {
        grpc_slice_unref(s);
    }
    if (*out == NULL) {
        rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request is not a valid %s message; check the client's .proto version",
                       desc->name);
        return -1;
    }
    return 0;
}

/* Builds google.rpc.Status (code, message, BadRequest, ErrorInfo) for the
 * grpc-status-details-bin trailer. Returns 0 or -1. */
static int add_status_details(rpc_call *call, grpc_status_code code, const char *message)
{
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    Google__Rpc__BadRequest br = GOOGLE__RPC__BAD_REQUEST__INIT;
    Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
    Google__Protobuf__Any any[2] = {GOOGLE__PROTOBUF__ANY__INIT, GOOGLE__PROTOBUF__ANY__INIT};
    Google__Protobuf__Any *anyp[2];
    Google__Rpc__BadRequest__FieldViolation *fv = NULL, **fvp = NULL;
    uint8_t *packed[2] = {NULL, NULL};
    uint8_t *out = NULL;
    size_t i = 0, len;
    int rc = -1;

    st.code = (int32_t)code;
    st.message = (char *)message;
    if (call->n_violations > 0) {
        rpc_violation *v = call->violations;
        size_t listed = call->n_listed, k;
        char more[96];
        fv = calloc(listed + 1, sizeof(*fv));
        fvp = calloc(listed + 1, sizeof(*fvp));
        if (fv == NULL || fvp == NULL)
            goto done;
        for (k = 0; v != NULL; v = v->next, k++) {
            google__rpc__bad_request__field_violation__init(&fv[k]);
            fv[k].field = v->field;
            fv[k].description = v->description;
            fvp[k] = &fv[k];
        }
        if (call->n_violations > listed) {
            /* Say what was left out, so the caller knows the list is partial. */
            snprintf(more, sizeof(more), "%zu more violation%s not listed (%zu listed)",
                     call->n_violations - listed, call->n_violations - listed == 1 ? "" : "s",
                     listed);
            google__rpc__bad_request__field_violation__init(&fv[k]);
            fv[k].field = "";
            fv[k].description = more;
            fvp[k] = &fv[k];
            k++;
        }
        br.n_field_violations = k;
        br.field_violations = fvp;
        len = google__rpc__bad_request__get_packed_size(&br);
        if ((packed[i] = malloc(len ? len : 1)) == NULL)
            goto done;
        google__rpc__bad_request__pack(&br, packed[i]);
        any[i].type_url = "type.googleapis.com/google.rpc.BadRequest";
        any[i].value.data = packed[i];
        any[i].value.len = len;
        anyp[i] = &any[i];
        i++;
    }
    if (call->info_reason != NULL) {
        info.reason = call->info_reason;
        info.domain = call->info_domain != NULL ? call->info_domain : "";
        len = google__rpc__error_info__get_packed_size(&info);
        if ((packed[i] = malloc(len ? len : 1)) == NULL)
            goto done;
        google__rpc__error_info__pack(&info, packed[i]);
        any[i].type_url = "type.googleapis.com/google.rpc.ErrorInfo";
        any[i].value.data = packed[i];
        any[i].value.len = len;
        anyp[i] = &any[i];
        i++;
    }
    st.n_details = i;
    st.details = i > 0 ? anyp : NULL;
    len = google__rpc__status__get_packed_size(&st);
    if ((out = malloc(len ? len : 1)) == NULL)
        goto done;
    google__rpc__status__pack(&st, out);
    rc = md_list_add(&call->trail_md, RPC_STATUS_DETAILS_KEY, out, len);
done:
    free(out);
    free(packed[0]);
    free(packed[1]);
    free(fv);
    free(fvp);
    return rc;
}

void rpc__call_finish(rpc_call *call, grpc_status_code code, const ProtobufCMessage *resp)
{
    grpc_op ops[4];
    size_t n = 0;
    const char *msg;

    if (call->status_sent)
        return;
    call->status_sent = 1;
    if (code != GRPC_STATUS_OK && call->message == NULL)
        rpc_call_error(call, code, "%s", rpc_status_name(code));
    call->code = code;
    msg = code == GRPC_STATUS_OK ? "" : call->message;
    if (code != GRPC_STATUS_OK && add_status_details(call, code, msg) != 0)
        SLOG(SLOG_WARN, "status_details_dropped", SLOG_S("method", call->path));

    memset(ops, 0, sizeof(ops));
    if (!call->initial_md_sent) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = call->init_md.n;
        ops[n].data.send_initial_metadata.metadata = call->init_md.items;
        call->initial_md_sent = 1;
        n++;
    }
    if (resp != NULL && code == GRPC_STATUS_OK) {
        if (call->send_buf != NULL)
            grpc_byte_buffer_destroy(call->send_buf);
        call->send_buf = call->resp_data != NULL ? bytes_message(call->resp_data, call->resp_len)
                                                  : pack_message(resp);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = call->send_buf;
        n++;
    }
    call->status_details = msg[0] != '\0' ? grpc_slice_from_copied_string(msg) : grpc_empty_slice();
    call->have_status_details = 1;
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n].data.send_status_from_server.status_details = &call->status_details;
    ops[n].data.send_status_from_server.trailing_metadata_count = call->trail_md.n;
    ops[n].data.send_status_from_server.trailing_metadata = call->trail_md.items;
    n++;
    if (!call->close_started) {
        /* An inline call (or one refused before its handler): the close
         * comes back with the status, in the same batch. */
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n].data.recv_close_on_server.cancelled = &call->client_cancelled;
        call->close_started = 1;
        call->close_in_status = 1;
        n++;
    }
    if (rpc__call_start(call, RPC_OP_STATUS, ops, n) != 0)
        grpc_call_cancel(call->call, NULL); /* so RECV_CLOSE completes and the call ends */
}

/* ---- The handler's API ---- */

/* A copy of s cut to at most max bytes (at a character boundary), with any
 * invalid UTF-8 byte replaced by '?': status messages and violations are
 * proto3 strings, which standard clients refuse to decode unless valid.
 * Handlers may quote caller text, and a printf precision may cut a
 * character in two. */
static char *text_dup(const char *s, size_t max)
{
    size_t len = strnlen(s, max), off;
    char *out;

    while (len == max && len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--; /* do not end inside a character */
    if ((out = malloc(len + 1)) == NULL)
        return NULL;
    memcpy(out, s, len);
    out[len] = '\0';
    for (size_t at = 0; validate_utf8(out + at, len - at, &off) != VALIDATE_OK; at += off + 1)
        out[at + off] = '?';
    return out;
}

grpc_status_code rpc_call_error(rpc_call *call, grpc_status_code code, const char *fmt, ...)
{
    char buf[RPC_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(call->message);
    call->message = text_dup(buf, sizeof(buf) - 1);
    return code;
}

int rpc_call_add_field_violation(rpc_call *call, const char *field, const char *description)
{
    rpc_violation *v;
    size_t cost;

    /* Every violation is counted; only the first few are kept and sent
     * (RPC_VIOLATIONS_MAX, RPC_VIOLATIONS_BYTES), so an error stays
     * deliverable and its memory bounded however many the request had. */
    call->n_violations++;
    if (call->n_listed >= RPC_VIOLATIONS_MAX || call->listed_bytes >= RPC_VIOLATIONS_BYTES)
        return 0;
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return -1;
    v->field = text_dup(field, RPC_VIOLATION_FIELD_MAX);
    v->description = text_dup(description, RPC_VIOLATION_DESC_MAX);
    if (v->field == NULL || v->description == NULL) {
        free(v->field);
        free(v->description);
        free(v);
        return -1;
    }
    cost = strlen(v->field) + strlen(v->description) + 8; /* + tags and lengths */
    if (call->listed_bytes + cost > RPC_VIOLATIONS_BYTES) {
        call->listed_bytes = RPC_VIOLATIONS_BYTES; /* full: list no more */
        free(v->field);
        free(v->description);
        free(v);
        return 0;
    }
    call->listed_bytes += cost;
    *call->violations_tail = v;
    call->violations_tail = &v->next;
    call->n_listed++;
    return 0;
}

size_t rpc_call_field_violation_count(const rpc_call *call)
{
    return call->n_violations;
}

int rpc_call_set_error_info(rpc_call *call, const char *reason, const char *domain)
{
    char *r = strdup(reason), *d = strdup(domain != NULL ? domain : "");

    if (r == NULL || d == NULL) {
        free(r);
        free(d);
        return -1;
    }
    free(call->info_reason);
    free(call->info_domain);
    call->info_reason = r;
    call->info_domain = d;
    return 0;
}

const char *rpc_call_metadata(rpc_call *call, const char *key, size_t *len)
{
    size_t klen = strlen(key);

    for (size_t i = 0; i < call->req_md.count; i++) {
        const grpc_metadata *m = &call->req_md.metadata[i];
        if (GRPC_SLICE_LENGTH(m->key) == klen &&
            memcmp(GRPC_SLICE_START_PTR(m->key), key, klen) == 0) {
            size_t vlen = GRPC_SLICE_LENGTH(m->value);
            char *v = rpc_call_alloc(call, vlen + 1);
            if (v == NULL)
                return NULL;
            memcpy(v, GRPC_SLICE_START_PTR(m->value), vlen);
            v[vlen] = '\0';
            if (len != NULL)
                *len = vlen;
            return v;
        }
    }
    return NULL;
}

int rpc_call_add_initial_metadata(rpc_call *call, const char *key, const void *value, size_t len)
{
    if (call->initial_md_sent)
        return -1;
    return md_list_add(&call->init_md, key, value, len);
}

int rpc_call_add_trailing_metadata(rpc_call *call, const char *key, const void *value, size_t len)
{
    if (call->status_sent || strcmp(key, RPC_STATUS_DETAILS_KEY) == 0)
        return -1;
    return md_list_add(&call->trail_md, key, value, len);
}

const char *rpc_call_path(const rpc_call *call)
{
    return call->path;
}

const rpc_method_info *rpc_call_method(const rpc_call *call)
{
    return call->method != NULL ? &call->method->info : NULL;
}

const char *rpc_call_peer(const rpc_call *call)
{
    return call->peer;
}

grpc_auth_context *rpc_call_auth_context(rpc_call *call)
{
    return grpc_call_auth_context(call->call);
}

int64_t rpc_call_remaining_ms(const rpc_call *call)
{
    gpr_timespec now, left;

    if (gpr_time_cmp(call->deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0)
        return INT64_MAX;
    now = gpr_now(GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(now, call->deadline) >= 0)
        return 0;
    left = gpr_time_sub(call->deadline, now);
    return left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

int rpc_call_cancelled(rpc_call *call)
{
    int c;

    pthread_mutex_lock(&call->mu);
    c = call->closed && call->client_cancelled;
    pthread_mutex_unlock(&call->mu);
    return c || rpc_call_remaining_ms(call) == 0;
}

void rpc_call_notify_cancel(rpc_call *call, pthread_mutex_t *mu, pthread_cond_t *cond)
{
    pthread_mutex_lock(&call->mu);
    call->notify_mu = mu;
    call->notify_cv = cond;
    while (mu == NULL && call->notifying) /* a broadcast to the old one is under way */
        pthread_cond_wait(&call->cv, &call->mu);
    pthread_mutex_unlock(&call->mu);
}

int rpc_call_send(rpc_call *call, const ProtobufCMessage *msg)
{
    grpc_op ops[2];
    size_t n = 0;
    int ok;

    if (call->status_sent || call->method == NULL)
        return -1;
    pthread_mutex_lock(&call->mu);
    ok = !call->closed;
    pthread_mutex_unlock(&call->mu);
    if (!ok)
        return -1;
    memset(ops, 0, sizeof(ops));
    if (!call->initial_md_sent) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = call->init_md.n;
        ops[n].data.send_initial_metadata.metadata = call->init_md.items;
        call->initial_md_sent = 1;
        n++;
    }
    call->send_buf = pack_message(msg);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = call->send_buf;
    n++;
    if (rpc__call_start(call, RPC_OP_SEND, ops, n) != 0) {
        ok = 0;
    } else {
        pthread_mutex_lock(&call->mu);
        while (call->busy[RPC_OP_SEND])
            pthread_cond_wait(&call->cv, &call->mu);
        ok = call->ok[RPC_OP_SEND];
        pthread_mutex_unlock(&call->mu);
    }
    grpc_byte_buffer_destroy(call->send_buf);
    call->send_buf = NULL;
    return ok ? 0 : -1;
}

int rpc_call_recv(rpc_call *call, ProtobufCMessage **msg)
{
    grpc_op op;
    rpc_owned_msg *o;
    int ok;

    *msg = NULL;
    if (call->method == NULL || (call->method->info.kind != RPC_CLIENT_STREAMING &&
                                 call->method->info.kind != RPC_BIDI_STREAMING))
        return -1;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &call->recv_buf;
    if (rpc__call_start(call, RPC_OP_RECV, &op, 1) != 0)
        return -1;
    pthread_mutex_lock(&call->mu);
    while (call->busy[RPC_OP_RECV])
        pthread_cond_wait(&call->cv, &call->mu);
    ok = call->ok[RPC_OP_RECV];
    pthread_mutex_unlock(&call->mu);
    if (!ok)
        return -1;
    if (call->recv_buf == NULL)
        return 0; /* the client half-closed */
    o = malloc(sizeof(*o));
    if (o == NULL) {
        rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return -1;
    }
    ok = rpc__call_decode(call, call->recv_buf, call->method->info.method->input, &o->msg, 0) == 0;
    grpc_byte_buffer_destroy(call->recv_buf);
    call->recv_buf = NULL;
    if (!ok) {
        free(o);
        return -1;
    }
    o->next = call->owned;
    call->owned = o;
    *msg = o->msg;
    return 1;
}

void rpc_call_release(rpc_call *call, ProtobufCMessage *msg)
{
    for (rpc_owned_msg **p = &call->owned; *p != NULL; p = &(*p)->next) {
        if ((*p)->msg == msg) {
            rpc_owned_msg *o = *p;
            *p = o->next;
            protobuf_c_message_free_unpacked(o->msg, NULL);
            free(o);
            return;
        }
    }
}

void *rpc_call_alloc(rpc_call *call, size_t size)
{
    rpc_arena_block *b = call->arena;
    size_t need = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t);
    void *p;

    if (size > SIZE_MAX / 2)
        return NULL;
    if (b == NULL && RPC_ARENA0_UNITS - call->arena0_used >= need) {
        /* Most calls need no more than the call's own first block. */
        p = &call->arena0[call->arena0_used];
        call->arena0_used += need;
        return p; /* zeroed with the call, never reused */
    }
    if (b == NULL || b->size - b->used < need) {
        size_t units = RPC_ARENA_BLOCK / sizeof(max_align_t);
        if (need > units)
            units = need;
        b = malloc(sizeof(*b) + units * sizeof(max_align_t));
        if (b == NULL)
            return NULL;
        b->size = units;
        b->used = 0;
        b->next = call->arena;
        call->arena = b;
    }
    p = &b->data[b->used];
    b->used += need;
    memset(p, 0, size);
    return p;
}

char *rpc_call_strdup(rpc_call *call, const char *s)
{
    size_t len = strlen(s);
    char *p = rpc_call_alloc(call, len + 1);

    if (p != NULL)
        memcpy(p, s, len + 1);
    return p;
}

void rpc_call_wipe_on_end(rpc_call *call)
{
    call->wipe = 1;
}

ProtobufCAllocator *rpc_call_allocator(rpc_call *call)
{
    return &call->allocator;
}

const ProtobufCMessage *rpc_call_request(const rpc_call *call)
{
    return call->request;
}

const uint8_t *rpc_call_request_data(const rpc_call *call, size_t *len)
{
    if (!call->have_req_bytes) {
        *len = 0;
        return NULL;
    }
    *len = GRPC_SLICE_LENGTH(call->req_bytes);
    return GRPC_SLICE_START_PTR(call->req_bytes);
}

int rpc_call_own(rpc_call *call, ProtobufCMessage *msg)
{
    rpc_owned_msg *o = malloc(sizeof(*o));

    if (o == NULL) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return -1;
    }
    o->msg = msg;
    o->next = call->owned;
    call->owned = o;
    return 0;
}

void rpc_call_set_principal(rpc_call *call, const char *name, void *user)
{
    call->principal = name != NULL ? rpc_call_strdup(call, name) : NULL;
    call->principal_data = user;
}

const char *rpc_call_principal(const rpc_call *call)
{
    return call->principal;
}

void *rpc_call_principal_data(const rpc_call *call)
{
    return call->principal_data;
}

int rpc_call_is_inline(const rpc_call *call)
{
    return call->inline_run;
}

grpc_status_code rpc_call_defer(rpc_call *call)
{
    if (!call->inline_run)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL,
                              "a handler deferred a call that was not inline");
    call->deferred = 1;
    return GRPC_STATUS_OK;
}

void rpc_call_set_response_bytes(rpc_call *call, const uint8_t *data, size_t len)
{
    call->resp_data = data;
    call->resp_len = len;
}

grpc_status_code rpc_call_suspend(rpc_call *call)
{
    if (call->method == NULL || call->method->info.kind != RPC_UNARY)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL,
                              "a handler suspended a call that is not unary");
    if (call->suspended || call->deferred)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL,
                              "a handler suspended a call twice, or after deferring it");
    call->suspended = 1;
    return GRPC_STATUS_OK;
}

rpc_server *rpc_call_server(const rpc_call *call)
{
    return call->srv;
}
