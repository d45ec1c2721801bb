/* rpc_retry.c — which calls the client runtime may send again after
 * UNAVAILABLE, and how long it waits in between. gRPC's own retryPolicy
 * (service config) is chosen per method name, but whether a write carries a
 * request_id is a property of each request; and it would hide which replica
 * failed. So the runtime decides here, per call, and sends each attempt as a
 * new gRPC call, which the round_robin policy gives to the next replica. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"
#include "tallinn/rpc_client.h"

#define RPCC_BACKOFF_FIRST_MS 100
#define RPCC_BACKOFF_MAX_MS 1000

/* Method names that only read, by the API's naming rule (AIP-131/132 and
 * our streamed and Suggest reads): the verb, then a capital. */
static int rpcc_read_verb(const char *name)
{
    static const char *const verbs[] = {"Get", "List", "Stream", "Suggest"};

    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        size_t n = strlen(verbs[i]);
        if (strncmp(name, verbs[i], n) == 0 && isupper((unsigned char)name[n]))
            return 1;
    }
    return 0;
}

int rpcc_call_repeatable(const char *method, const ProtobufCMessage *req)
{
    const char *slash;
    const ProtobufCFieldDescriptor *f;

    if (method == NULL || (slash = strrchr(method, '/')) == NULL)
        return 0;
    if (strncmp(method, "/grpc.health.v1.Health/", 23) == 0 || rpcc_read_verb(slash + 1))
        return 1;
    if (req == NULL)
        return 0;
    f = protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "request_id");
    if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED) {
        const char *rid = *(const char *const *)((const char *)req + f->offset);
        return rid != NULL && rid[0] != '\0';
    }
    return 0;
}

int64_t rpcc__backoff_ms(int n)
{
    int64_t ms = RPCC_BACKOFF_FIRST_MS;

    for (int i = 1; i < n && ms < RPCC_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > RPCC_BACKOFF_MAX_MS)
        ms = RPCC_BACKOFF_MAX_MS;
    /* ±20 %, so clients that failed together do not come back together */
    return ms * (80 + (int64_t)arc4random_uniform(41)) / 100;
}
