/* reports.c — ReportService: coverage totals by sector, category and donor,
 * all read in one snapshot so that they agree with each other. */
#include <string.h>

#include "domain.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/report.pb-c.h"

#define NS(x) (1u << TALLINN__V1__NEED__STATE__STATE_##x)
/* Needs that passed validation count toward coverage. */
#define REPORTED_NEEDS (NS(OPEN) | NS(ON_HOLD) | NS(FULFILLED) | NS(CLOSED))

typedef struct report_ctx {
    rpc_call *call;
    const api *a;
    Tallinn__V1__CoverageReport *r;
    store_totals total;
    int failed;
} report_ctx;

static Tallinn__V1__CoverageTotals *totals(report_ctx *c, const store_totals *t)
{
    Tallinn__V1__CoverageTotals *o = rpc_call_alloc(c->call, sizeof(*o));

    if (o == NULL) {
        c->failed = 1;
        return NULL;
    }
    tallinn__v1__coverage_totals__init(o);
    o->needs_count = t->count;
    o->estimated = api_money(c->call, c->a, t->estimated);
    o->committed = api_money(c->call, c->a, t->committed);
    o->delivered = api_money(c->call, c->a, t->delivered);
    return o;
}

/* Grows an arena array by one (arrays are short: one entry per enum value or
 * donor). */
static void **append(report_ctx *c, void **arr, size_t n)
{
    void **grown = rpc_call_alloc(c->call, (n + 1) * sizeof(*grown));

    if (grown == NULL) {
        c->failed = 1;
        return arr;
    }
    if (n > 0)
        memcpy(grown, arr, n * sizeof(*grown));
    return grown;
}

static void on_sector(int key, const store_totals *t, void *ctx)
{
    report_ctx *c = ctx;
    Tallinn__V1__SectorCoverage *s = rpc_call_alloc(c->call, sizeof(*s));
    Tallinn__V1__CoverageReport *r = c->r;

    if (s == NULL) {
        c->failed = 1;
        return;
    }
    tallinn__v1__sector_coverage__init(s);
    s->sector = key;
    s->totals = totals(c, t);
    r->by_sector = (Tallinn__V1__SectorCoverage **)append(c, (void **)r->by_sector, r->n_by_sector);
    if (!c->failed)
        r->by_sector[r->n_by_sector++] = s;
    c->total.count += t->count;
    c->total.estimated += t->estimated;
    c->total.committed += t->committed;
    c->total.delivered += t->delivered;
}

static void on_category(int key, const store_totals *t, void *ctx)
{
    report_ctx *c = ctx;
    Tallinn__V1__CategoryCoverage *s = rpc_call_alloc(c->call, sizeof(*s));
    Tallinn__V1__CoverageReport *r = c->r;

    if (s == NULL) {
        c->failed = 1;
        return;
    }
    tallinn__v1__category_coverage__init(s);
    s->category = key;
    s->totals = totals(c, t);
    r->by_category = (Tallinn__V1__CategoryCoverage **)append(c, (void **)r->by_category,
                                                              r->n_by_category);
    if (!c->failed)
        r->by_category[r->n_by_category++] = s;
}

static void on_donor(const char *donor, const char *display_name, const store_totals *t,
                     int64_t pledged, void *ctx)
{
    report_ctx *c = ctx;
    Tallinn__V1__DonorCoverage *d = rpc_call_alloc(c->call, sizeof(*d));
    Tallinn__V1__CoverageReport *r = c->r;

    if (d == NULL) {
        c->failed = 1;
        return;
    }
    tallinn__v1__donor_coverage__init(d);
    d->donor = rpc_call_strdup(c->call, donor);
    d->donor_display_name = rpc_call_strdup(c->call, display_name);
    d->totals = totals(c, t);
    d->pledged = api_money(c->call, c->a, pledged);
    r->by_donor = (Tallinn__V1__DonorCoverage **)append(c, (void **)r->by_donor, r->n_by_donor);
    if (!c->failed)
        r->by_donor[r->n_by_donor++] = d;
}

static grpc_status_code get_coverage_report(rpc_call *call, const ProtobufCMessage *req,
                                            ProtobufCMessage **resp, void *ctx)
{
    api *a = ctx;
    report_ctx c = {.call = call, .a = a};
    store_tx *tx;
    int rc;

    (void)req;
    if ((c.r = rpc_call_alloc(call, sizeof(*c.r))) == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__coverage_report__init(c.r);
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    rc = store_need_totals(tx, STORE_BY_SECTOR, REPORTED_NEEDS, on_sector, &c);
    if (rc == STORE_OK)
        rc = store_need_totals(tx, STORE_BY_CATEGORY, REPORTED_NEEDS, on_category, &c);
    if (rc == STORE_OK)
        rc = store_donor_totals(tx, DOMAIN_COMMITTED_STATES, DOMAIN_DELIVERED_STATES, on_donor, &c);
    store_read_end(tx);
    if (rc != STORE_OK)
        return api_store_error(call, rc);
    if (c.failed)
        return api_store_error(call, STORE_NOMEM);
    c.r->report_time = api_now(call);
    c.r->currency_code = (char *)a->currency;
    c.r->total = totals(&c, &c.total);
    *resp = &c.r->base;
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
