/* rpc_result.c — the outcome of a client call: status, message, received
 * metadata and the google.rpc.Status details decoded from
 * grpc-status-details-bin; shared by unary calls and streams. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/slice.h>

#include "rpc_internal.h"
#include "tallinn/rpc_client.h"

/* Room for a local status message. */
#define RPCC_MESSAGE_MAX 256

static const char *const rpcc_status_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *rpcc_status_name(grpc_status_code code)
{
    if ((int)code < 0 || (size_t)code >= sizeof rpcc_status_names / sizeof rpcc_status_names[0])
        return "UNKNOWN_CODE";
    return rpcc_status_names[code];
}

const char *rpcc_metadata_find(const rpcc_metadata *md, size_t n, const char *key, size_t *len)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(md[i].key, key) == 0) {
            if (len != NULL)
                *len = md[i].len;
            return md[i].value;
        }
    }
    return NULL;
}

void rpcc__md_free(rpcc_metadata *md, size_t n)
{
    /* Each entry is one block: key, NUL, value, NUL. */
    for (size_t i = 0; i < n; i++)
        free((void *)md[i].key);
    free(md);
}

/* Copies a received metadata array. Returns 0 or -1 (out of memory). */
int rpcc__md_copy(const grpc_metadata_array *a, rpcc_metadata **out, size_t *n_out)
{
    rpcc_metadata *md;

    *out = NULL;
    *n_out = 0;
    if (a->count == 0)
        return 0;
    md = calloc(a->count, sizeof *md);
    if (md == NULL)
        return -1;
    for (size_t i = 0; i < a->count; i++) {
        size_t kl = GRPC_SLICE_LENGTH(a->metadata[i].key);
        size_t vl = GRPC_SLICE_LENGTH(a->metadata[i].value);
        char *block = malloc(kl + vl + 2);

        if (block == NULL) {
            rpcc__md_free(md, i);
            return -1;
        }
        memcpy(block, GRPC_SLICE_START_PTR(a->metadata[i].key), kl);
        block[kl] = '\0';
        memcpy(block + kl + 1, GRPC_SLICE_START_PTR(a->metadata[i].value), vl);
        block[kl + 1 + vl] = '\0';
        md[i].key = block;
        md[i].value = block + kl + 1;
        md[i].len = vl;
    }
    *out = md;
    *n_out = a->count;
    return 0;
}

void rpcc_result_free(rpcc_result *r)
{
    if (r == NULL)
        return;
    free(r->message);
    free(r->peer);
    if (r->bad_request != NULL)
        protobuf_c_message_free_unpacked(&r->bad_request->base, NULL);
    if (r->error_info != NULL)
        protobuf_c_message_free_unpacked(&r->error_info->base, NULL);
    if (r->details != NULL)
        protobuf_c_message_free_unpacked(&r->details->base, NULL);
    rpcc__md_free(r->initial_metadata, r->n_initial_metadata);
    rpcc__md_free(r->trailing_metadata, r->n_trailing_metadata);
    memset(r, 0, sizeof *r);
}

int rpcc_result_unreached(const rpcc_result *r)
{
    static const char *const texts[] = {
        "connections to all backends failing", /* round_robin */
        "failed to connect to all addresses",  /* pick_first */
        "DNS resolution failed",
    };

    if (r == NULL || r->code != GRPC_STATUS_UNAVAILABLE || r->message == NULL)
        return 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (strstr(r->message, texts[i]) != NULL)
            return 1;
    return 0;
}

grpc_status_code rpcc__result_local(rpcc_result *r, grpc_status_code code,
                                          const char *fmt, ...)
{
    char buf[RPCC_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->code = code;
    free(r->message);
    r->message = strdup(buf);
    return code;
}

static const char *rpcc_type_name(const char *type_url)
{
    const char *slash = strrchr(type_url, '/');
    return slash != NULL ? slash + 1 : type_url;
}

/* Decodes grpc-status-details-bin, if present and well-formed. A malformed
 * value is ignored: the status code and message still stand. */
static void rpcc_decode_details(rpcc_result *r)
{
    size_t len;
    const char *v = rpcc_metadata_find(r->trailing_metadata, r->n_trailing_metadata,
                                       RPCC_STATUS_DETAILS_KEY, &len);

    if (v == NULL)
        return;
    r->details = google__rpc__status__unpack(NULL, len, (const uint8_t *)v);
    if (r->details == NULL)
        return;
    for (size_t i = 0; i < r->details->n_details; i++) {
        const Google__Protobuf__Any *any = r->details->details[i];
        const char *name = rpcc_type_name(any->type_url);
        const ProtobufCBinaryData *val = &any->value;

        if (r->bad_request == NULL && strcmp(name, "google.rpc.BadRequest") == 0)
            r->bad_request = google__rpc__bad_request__unpack(NULL, val->len, val->data);
        else if (r->error_info == NULL && strcmp(name, "google.rpc.ErrorInfo") == 0)
            r->error_info = google__rpc__error_info__unpack(NULL, val->len, val->data);
    }
}

grpc_status_code rpcc__result_fill(rpcc_result *r, grpc_status_code status, grpc_slice details,
                                   const grpc_metadata_array *initial,
                                   const grpc_metadata_array *trailing)
{
    size_t n = GRPC_SLICE_LENGTH(details);

    memset(r, 0, sizeof *r);
    r->code = status;
    r->message = malloc(n + 1);
    if (r->message == NULL)
        goto oom;
    memcpy(r->message, GRPC_SLICE_START_PTR(details), n);
    r->message[n] = '\0';
    if (rpcc__md_copy(initial, &r->initial_metadata, &r->n_initial_metadata) != 0 ||
        rpcc__md_copy(trailing, &r->trailing_metadata, &r->n_trailing_metadata) != 0)
        goto oom;
    rpcc_decode_details(r);
    return r->code;
oom:
    rpcc_result_free(r);
    return rpcc__result_local(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory reading the result");
}
