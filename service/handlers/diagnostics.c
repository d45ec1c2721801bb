/* diagnostics.c — DiagnosticsService: Noop (authenticated, no storage: it
 * measures what the transport and authentication cost, the benchmark's
 * ceiling for the read figures), GetServerInfo, and GetCaller (who the
 * credentials stand for: `tallinnctl whoami`). */
#include "audit/audit.h"
#include "domain.h"
#include "tallinn/v1/diagnostics.pb-c.h"
#include "tallinn/v1/principal.pb-c.h"

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

/* The caller as authz attached it; the display name is read from the store
 * (it may have changed since the credentials were cached: the stored one is
 * the truth). */
static grpc_status_code get_caller(rpc_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp, void *ctx)
{
    api *a = ctx;
    const api_caller *who = api_caller_of(call);
    Tallinn__V1__Caller *out = rpc_call_alloc(call, sizeof(*out));
    ProtobufCMessage *m = NULL;
    store_tx *tx;
    int rc;

    (void)req;
    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    if (who->principal == NULL || who->role == API_ROLE_NONE)
        return rpc_call_error(call, GRPC_STATUS_UNAUTHENTICATED, "no caller");
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    rc = store_get(tx, STORE_PRINCIPAL, who->principal, rpc_call_allocator(call), &m);
    store_read_end(tx);
    if (rc != STORE_OK)
        return api_store_error(call, rc);
    tallinn__v1__caller__init(out);
    out->principal = (char *)who->principal;
    out->display_name = ((Tallinn__V1__Principal *)m)->display_name;
    out->role = ((Tallinn__V1__Principal *)m)->role;
    out->donor = who->donor != NULL ? (char *)who->donor : (char *)"";
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

int diagnostics_register(rpc_server *srv, api *a)
{
    static const rpc_method_handler handlers[] = {
        {"Noop", noop},
        {"GetServerInfo", get_server_info},
        {"GetCaller", get_caller},
    };
    if (rpc_server_add_service(srv, &tallinn__v1__diagnostics_service__descriptor, handlers,
                               sizeof(handlers) / sizeof(handlers[0]), a) != 0)
        return -1;
    /* Nothing here blocks but authentication's reads (api_inline_read). */
    return api_inline_read(srv, a, "/tallinn.v1.DiagnosticsService/Noop");
}
