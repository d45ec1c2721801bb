/* reflection.c — the ServerReflectionInfo stream (v1, and v1alpha, its
 * wire-identical older name): list_services from the server's registry;
 * file_by_filename, file_containing_symbol and file_containing_extension
 * answered with the file and those of its transitive imports not yet sent on
 * this stream (as grpc-go does); all_extension_numbers_of_type. A lookup
 * that fails is an ErrorResponse on the stream, which stays open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/reflection/v1/reflection.pb-c.h"
#include "log/slog.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "rpc/reflection_index.h"
#include "tallinn/reflection.h"

/* The oneof cases of v1's request and response, shorter. */
#define REQ_CASE(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##x
#define RESP_CASE(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##x

#define V1ALPHA_RESPONSE grpc__reflection__v1alpha__server_reflection_response__descriptor

/* Names echoed in error messages are cut to this many bytes. */
#define REFLECTION_ECHO_MAX 128

struct reflection {
    reflection_index *ix;
    rpc_server *srv;
};

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_req;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_resp;

/* What one stream keeps between its requests, and the scratch space of one
 * answer (every array has room for every file or service). */
typedef struct refl_stream {
    const reflection *r;
    unsigned char *sent;       /* per file: already sent on this stream */
    size_t *files;             /* one answer's files */
    ProtobufCBinaryData *blobs;
    const char **services;     /* registered names, sorted */
    size_t n_services;
    Grpc__Reflection__V1__ServiceResponse *svc;
    Grpc__Reflection__V1__ServiceResponse **svcp;
    /* One answer's sub-messages. */
    Grpc__Reflection__V1__FileDescriptorResponse fdr;
    Grpc__Reflection__V1__ExtensionNumberResponse enr;
    Grpc__Reflection__V1__ListServiceResponse lsr;
    Grpc__Reflection__V1__ErrorResponse err;
    char shown[REFLECTION_ECHO_MAX + 4];
    char message[REFLECTION_ECHO_MAX + 200];
} refl_stream;

int reflection_create(reflection **out, const uint8_t *set, size_t len)
{
    reflection *r = calloc(1, sizeof(*r));
    char err[512];

    *out = NULL;
    if (r == NULL) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "reflection")), "out of memory");
        return -1;
    }
    if (reflection_index_create(&r->ix, set, len, err, sizeof(err)) != 0) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "reflection")),
                 "bad descriptor set: %s", err);
        free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void reflection_destroy(reflection *r)
{
    if (r == NULL)
        return;
    reflection_index_destroy(r->ix);
    free(r);
}

/* A caller's name, fit for a message: cut, and anything but printable
 * ASCII shown as '?' (the message is a proto3 string: valid UTF-8 only). */
static void echo(char *dst, size_t n, const char *s)
{
    size_t i = 0;

    for (; s[i] != '\0' && i < REFLECTION_ECHO_MAX && i + 4 < n; i++)
        dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i] != '\0' && i + 4 <= n)
        memcpy(dst + i, "...", 3), i += 3;
    dst[i] = '\0';
}

/* An ErrorResponse carrying st->message. */
static void error_answer(refl_stream *st, refl_resp *resp, grpc_status_code code)
{
    grpc__reflection__v1__error_response__init(&st->err);
    st->err.error_code = (int32_t)code;
    st->err.error_message = st->message;
    resp->message_response_case = RESP_CASE(ERROR_RESPONSE);
    resp->error_response = &st->err;
}

/* NOT_FOUND: "unknown <what> "<name>"". */
static void not_found(refl_stream *st, refl_resp *resp, const char *what, const char *name)
{
    echo(st->shown, sizeof(st->shown), name != NULL ? name : "");
    snprintf(st->message, sizeof(st->message), "unknown %s \"%s\"", what, st->shown);
    error_answer(st, resp, GRPC_STATUS_NOT_FOUND);
}

static void files_answer(refl_stream *st, refl_resp *resp, size_t file)
{
    size_t n = reflection_index_closure(st->r->ix, file, st->sent, st->files);

    for (size_t i = 0; i < n; i++)
        st->blobs[i].data =
            (uint8_t *)reflection_index_file_data(st->r->ix, st->files[i], &st->blobs[i].len);
    grpc__reflection__v1__file_descriptor_response__init(&st->fdr);
    st->fdr.n_file_descriptor_proto = n;
    st->fdr.file_descriptor_proto = st->blobs;
    resp->message_response_case = RESP_CASE(FILE_DESCRIPTOR_RESPONSE);
    resp->file_descriptor_response = &st->fdr;
}

static void extension_numbers_answer(refl_stream *st, refl_resp *resp, const char *type)
{
    reflection_symbol_kind kind;
    const int32_t *numbers;

    if (reflection_index_find_symbol(st->r->ix, type, &kind) < 0 ||
        kind != REFLECTION_SYM_MESSAGE) {
        not_found(st, resp, "message type", type);
        return;
    }
    grpc__reflection__v1__extension_number_response__init(&st->enr);
    st->enr.base_type_name = (char *)type;
    st->enr.n_extension_number = reflection_index_extension_numbers(st->r->ix, type, &numbers);
    st->enr.extension_number = (int32_t *)numbers;
    resp->message_response_case = RESP_CASE(ALL_EXTENSION_NUMBERS_RESPONSE);
    resp->all_extension_numbers_response = &st->enr;
}

/* Fills resp (pointing into st and req) for one request. */
static void answer(refl_stream *st, const refl_req *req, refl_resp *resp)
{
    const reflection_index *ix = st->r->ix;
    long file;

    resp->valid_host = req->host;
    resp->original_request = (refl_req *)req;
    switch (req->message_request_case) {
    case REQ_CASE(LIST_SERVICES):
        grpc__reflection__v1__list_service_response__init(&st->lsr);
        st->lsr.n_service = st->n_services;
        st->lsr.service = st->svcp;
        resp->message_response_case = RESP_CASE(LIST_SERVICES_RESPONSE);
        resp->list_services_response = &st->lsr;
        return;
    case REQ_CASE(FILE_BY_FILENAME):
        if ((file = reflection_index_find_file(ix, req->file_by_filename)) < 0)
            not_found(st, resp, "file", req->file_by_filename);
        else
            files_answer(st, resp, (size_t)file);
        return;
    case REQ_CASE(FILE_CONTAINING_SYMBOL):
        if ((file = reflection_index_find_symbol(ix, req->file_containing_symbol, NULL)) < 0)
            not_found(st, resp, "symbol", req->file_containing_symbol);
        else
            files_answer(st, resp, (size_t)file);
        return;
    case REQ_CASE(FILE_CONTAINING_EXTENSION): {
        const Grpc__Reflection__V1__ExtensionRequest *e = req->file_containing_extension;
        const char *type = e != NULL && e->containing_type != NULL ? e->containing_type : "";

        file = e != NULL ? reflection_index_find_extension(ix, type, e->extension_number) : -1;
        if (file < 0) {
            echo(st->shown, sizeof(st->shown), type);
            snprintf(st->message, sizeof(st->message), "unknown extension %d of \"%s\"",
                     e != NULL ? e->extension_number : 0, st->shown);
            error_answer(st, resp, GRPC_STATUS_NOT_FOUND);
        } else
            files_answer(st, resp, (size_t)file);
        return;
    }
    case REQ_CASE(ALL_EXTENSION_NUMBERS_OF_TYPE):
        extension_numbers_answer(st, resp, req->all_extension_numbers_of_type);
        return;
    default:
        /* Unset, or a kind newer than this server: say so and keep the
         * stream, as grpc's C++ server does. */
        snprintf(st->message, sizeof(st->message),
                 "the request names no known kind: send list_services, file_by_filename, "
                 "file_containing_symbol, file_containing_extension or "
                 "all_extension_numbers_of_type");
        error_answer(st, resp, GRPC_STATUS_UNIMPLEMENTED);
        return;
    }
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int stream_init(refl_stream *st, const reflection *r)
{
    size_t nf = reflection_index_file_count(r->ix);

    memset(st, 0, sizeof(*st));
    st->r = r;
    st->n_services = rpc_server_service_count(r->srv);
    st->sent = calloc(nf ? nf : 1, 1);
    st->files = calloc(nf ? nf : 1, sizeof(*st->files));
    st->blobs = calloc(nf ? nf : 1, sizeof(*st->blobs));
    st->services = calloc(st->n_services ? st->n_services : 1, sizeof(*st->services));
    st->svc = calloc(st->n_services ? st->n_services : 1, sizeof(*st->svc));
    st->svcp = calloc(st->n_services ? st->n_services : 1, sizeof(*st->svcp));
    if (st->sent == NULL || st->files == NULL || st->blobs == NULL || st->services == NULL ||
        st->svc == NULL || st->svcp == NULL)
        return -1;
    /* Sorted by name, as grpc-go lists them. */
    for (size_t i = 0; i < st->n_services; i++)
        st->services[i] = rpc_server_service_name(r->srv, i);
    qsort(st->services, st->n_services, sizeof(*st->services), cmp_name);
    for (size_t i = 0; i < st->n_services; i++) {
        grpc__reflection__v1__service_response__init(&st->svc[i]);
        st->svc[i].name = (char *)st->services[i];
        st->svcp[i] = &st->svc[i];
    }
    return 0;
}

static void stream_free(refl_stream *st)
{
    free(st->sent);
    free(st->files);
    free(st->blobs);
    free(st->services);
    free(st->svc);
    free(st->svcp);
}

/* Re-reads a message as another, wire-identical type (v1alpha <-> v1).
 * NULL when out of memory; free with protobuf_c_message_free_unpacked. */
static ProtobufCMessage *convert(const ProtobufCMessage *in, const ProtobufCMessageDescriptor *to)
{
    size_t n = protobuf_c_message_get_packed_size(in);
    uint8_t *buf = malloc(n ? n : 1);
    ProtobufCMessage *out;

    if (buf == NULL)
        return NULL;
    protobuf_c_message_pack(in, buf);
    out = protobuf_c_message_unpack(to, NULL, n, buf);
    free(buf);
    return out;
}

/* One request and its answer. Returns OK to go on reading, else the code
 * that ends the stream. */
static grpc_status_code serve_one(rpc_call *call, refl_stream *st, const ProtobufCMessage *in,
                                  int alpha)
{
    refl_resp resp = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    ProtobufCMessage *req1 = NULL, *out = NULL;
    grpc_status_code code = GRPC_STATUS_OK;

    if (alpha) {
        req1 = convert(in, &grpc__reflection__v1__server_reflection_request__descriptor);
        if (req1 == NULL)
            return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    answer(st, (const refl_req *)(alpha ? req1 : in), &resp);
    if (alpha && (out = convert(&resp.base, &V1ALPHA_RESPONSE)) == NULL)
        code = rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    else if (rpc_call_send(call, alpha ? out : &resp.base) != 0)
        code = GRPC_STATUS_CANCELLED;
    if (req1 != NULL)
        protobuf_c_message_free_unpacked(req1, NULL);
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return code;
}

static grpc_status_code serve(rpc_call *call, const reflection *r, int alpha)
{
    refl_stream st;
    grpc_status_code code = GRPC_STATUS_OK;

    if (stream_init(&st, r) != 0) {
        stream_free(&st);
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (;;) {
        ProtobufCMessage *in;
        int rc = rpc_call_recv(call, &in);

        if (rc == 0)
            break; /* the client is done */
        if (rc < 0) {
            /* Gone, or a message that does not decode (its status is set). */
            code = rpc_call_cancelled(call) ? GRPC_STATUS_CANCELLED : GRPC_STATUS_INVALID_ARGUMENT;
            break;
        }
        code = serve_one(call, &st, in, alpha);
        rpc_call_release(call, in); /* a long stream must not pile up requests */
        if (code != GRPC_STATUS_OK)
            break;
    }
    stream_free(&st);
    return code;
}

static grpc_status_code info_v1(rpc_call *call, const ProtobufCMessage *req,
                                ProtobufCMessage **resp, void *ctx)
{
    (void)req;
    (void)resp;
    return serve(call, ctx, 0);
}

static grpc_status_code info_v1alpha(rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, void *ctx)
{
    (void)req;
    (void)resp;
    return serve(call, ctx, 1);
}

int reflection_register(reflection *r, rpc_server *srv)
{
    static const rpc_method_handler v1[] = {{"ServerReflectionInfo", info_v1}};
    static const rpc_method_handler v1alpha[] = {{"ServerReflectionInfo", info_v1alpha}};
    reflection_symbol_kind kind;
    int rc = 0;

    r->srv = srv;
    if (rpc_server_add_service(srv, &grpc__reflection__v1__server_reflection__descriptor, v1, 1,
                               r) != 0 ||
        rpc_server_add_service(srv, &grpc__reflection__v1alpha__server_reflection__descriptor,
                               v1alpha, 1, r) != 0)
        return -1;
    for (size_t i = 0; i < rpc_server_service_count(srv); i++) {
        const char *name = rpc_server_service_name(srv, i);
        if (reflection_index_find_symbol(r->ix, name, &kind) < 0 ||
            kind != REFLECTION_SYM_SERVICE) {
            slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "reflection")),
                     "service %s is served but missing from the descriptor set (is its .proto "
                     "listed in proto/CMakeLists.txt?)",
                     name);
            rc = -1;
        }
    }
    return rc;
}
