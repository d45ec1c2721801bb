/* diagnostics.c — DiagnosticsService.Noop: authenticated, no storage. It
 * measures what the transport and authentication cost (the benchmark's
 * ceiling for the read figures). */
#include "audit/audit.h"
#include "domain.h"
#include "tallinn/v1/diagnostics.pb-c.h"

static grpc_status_code noop(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                             void *ctx)
{
    Tallinn__V1__NoopResponse *out = rpc_call_alloc(call, sizeof(*out));

    (void)req;
    (void)ctx;
    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__noop_response__init(out);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

static grpc_status_code get_server_info(rpc_call *call, const ProtobufCMessage *req,
                                        ProtobufCMessage **resp, void *ctx)
{
    api *a = ctx;
    Tallinn__V1__ServerInfo *out = rpc_call_alloc(call, sizeof(*out));

    (void)req;
    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__server_info__init(out);
    out->version = TALLINN_VERSION;
    out->accounting_currency = (char *)a->currency;
    out->audit_origin = a->audit != NULL ? (char *)audit_origin(a->audit) : (char *)"";
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

int diagnostics_register(rpc_server *srv, api *a)
{
    static const rpc_method_handler handlers[] = {
        {"Noop", noop},
        {"GetServerInfo", get_server_info},
    };
    if (rpc_server_add_service(srv, &tallinn__v1__diagnostics_service__descriptor, handlers,
                               sizeof(handlers) / sizeof(handlers[0]), a) != 0)
        return -1;
    /* Nothing here blocks but authentication's reads (api_inline_read). */
    return api_inline_read(srv, a, "/tallinn.v1.DiagnosticsService/Noop");
}
