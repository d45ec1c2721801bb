/* reports.c — ReportService: coverage totals by sector, category, region,
 * donor, fiscal year and currency, and a DONOR's own statement, read in one
 * snapshot so that they agree with each other, exact (the ledger's sums),
 * counting only what the caller may see, narrowed by the request's date
 * range, fiscal year and region (docs/reporting.md). */
#include <string.h>

#include "domain.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/report.pb-c.h"
#include "tallinn/validate.h"

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

/* yyyymmdd of a request Date, or 0 when unset; a violation when it is not
 * a real day. */
static int32_t request_day(rpc_call *call, const char *field, const Tallinn__V1__Date *d)
{
    if (d == NULL)
        return 0;
    if (validate_date(d->year, d->month, d->day) != VALIDATE_OK) {
        api_violation(call, field, "not a calendar date (year 1-9999, month 1-12, a day of it)");
        return 0;
    }
    return d->year * 10000 + d->month * 100 + d->day;
}

/* The report's parameters, checked before anything is read: a DONOR and an
 * OBSERVER may not narrow by what they may not see (docs/reporting.md). */
static grpc_status_code check_request(rpc_call *call, const api_caller *caller,
                                      const Tallinn__V1__GetCoverageReportRequest *in,
                                      ledger_report_query *q)
{
    q->start_day = request_day(call, "start_date", in->start_date);
    q->end_day = request_day(call, "end_date", in->end_date);
    if (q->start_day != 0 && q->end_day != 0 && q->start_day > q->end_day)
        api_violation(call, "end_date", "must not be before start_date");
    if (in->fiscal_year != 0 &&
        (in->fiscal_year < VALIDATE_FISCAL_YEAR_MIN || in->fiscal_year > VALIDATE_FISCAL_YEAR_MAX))
        api_violation(call, "fiscal_year", "must be 0 (every year) or a year from %d to %d",
                      VALIDATE_FISCAL_YEAR_MIN, VALIDATE_FISCAL_YEAR_MAX);
    else if (in->fiscal_year != 0 &&
             (caller->role == API_ROLE_DONOR || caller->role == API_ROLE_OBSERVER))
        api_violation(call, "fiscal_year", "not available to your role: the fiscal years of "
                      "other donors' pledges are not yours to see; by_fiscal_year shows yours");
    if (in->region[0] != '\0') {
        if (caller->role == API_ROLE_OBSERVER)
            api_violation(call, "region", "not available to your role: regions are redacted");
        else
            api_check_text(call, "region", in->region, VALIDATE_REGION_MAX, 0);
    }
    q->fiscal_year = in->fiscal_year;
    q->region = in->region;
    return api_violations_status(call, "request");
}

static grpc_status_code get_coverage_report(rpc_call *call, const ProtobufCMessage *req,
                                            ProtobufCMessage **resp, void *ctx)
{
    api *a = ctx;
    const api_caller *caller = api_caller_of(call);
    ledger_report_query q = {.view = view_of(caller), .need_mask = REPORTED_NEEDS,
                             .with_regions = caller->role != API_ROLE_OBSERVER};
    Tallinn__V1__CoverageReport *r;
    store_tx *tx;
    grpc_status_code code;
    int rc;

    if ((code = check_request(call, caller, (const void *)req, &q)) != GRPC_STATUS_OK)
        return code;
    if (caller->role == API_ROLE_DONOR)
        q.own_donor = caller->donor != NULL ? caller->donor : ""; /* no donor: nothing */
    if ((r = rpc_call_alloc(call, sizeof(*r))) == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__coverage_report__init(r);
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    rc = ledger_report(tx, &q, a->currency, rpc_call_allocator(call), r);
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
