/* reports.c — ReportService: coverage totals by sector, category and donor,
 * read in one snapshot so that they agree with each other, exact (the
 * ledger's sums), and counting only what the caller may see. */
#include <string.h>

#include "domain.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/report.pb-c.h"

#define NS(x) (1u << TALLINN__V1__NEED__STATE__STATE_##x)
/* Needs that passed validation count toward coverage. */
#define REPORTED_NEEDS (NS(OPEN) | NS(ON_HOLD) | NS(FULFILLED) | NS(CLOSED))

/* Need-to-know (docs/authz.md): an OBSERVER's totals leave RESTRICTED needs
 * out, a DONOR's count the needs it may know of (as ListNeeds shows them to
 * it) and have its own line only; every total can then be added up from
 * what the caller may read. Staff and AUDITORs see everything. */
static store_scope view_of(const api_caller *caller)
{
    store_scope v = {.kind = STORE_SCOPE_ALL};

    if (caller->role == API_ROLE_OBSERVER) {
        v.kind = STORE_SCOPE_UNRESTRICTED;
    } else if (caller->role == API_ROLE_DONOR) {
        v.kind = STORE_SCOPE_DONOR_NEEDS;
        v.donor = caller->donor != NULL ? caller->donor : ""; /* no donor: nothing */
        v.match_states = DOMAIN_LIVE_MATCH_STATES;
    }
    return v;
}

static grpc_status_code get_coverage_report(rpc_call *call, const ProtobufCMessage *req,
                                            ProtobufCMessage **resp, void *ctx)
{
    api *a = ctx;
    store_scope view = view_of(api_caller_of(call));
    Tallinn__V1__CoverageReport *r;
    store_tx *tx;
    int rc;

    (void)req;
    if ((r = rpc_call_alloc(call, sizeof(*r))) == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__coverage_report__init(r);
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    rc = ledger_coverage(tx, &view, REPORTED_NEEDS, a->currency, rpc_call_allocator(call), r);
    store_read_end(tx);
    if (rc != 0)
        return api_ledger_error(call, rc, GRPC_STATUS_OUT_OF_RANGE, "a total of the report");
    r->report_time = api_now(call);
    r->currency_code = (char *)a->currency;
    *resp = &r->base;
    return GRPC_STATUS_OK;
}

int reports_register(rpc_server *srv, api *a)
{
    static const rpc_method_handler handlers[] = {
        {"GetCoverageReport", get_coverage_report},
    };
    return rpc_server_add_service(srv, &tallinn__v1__report_service__descriptor, handlers,
                                  sizeof(handlers) / sizeof(handlers[0]), a);
}
