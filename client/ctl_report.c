/* ctl_report.c — `tallinnctl report coverage`: the coverage report as
 * tables (totals and percentages by sector, category, region and donor; the
 * money by fiscal year and by original currency; a DONOR's own pledges,
 * matches and deliveries), or as proto3 JSON; its parameters from flags. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "tallinn/v1/report.pb-c.h"

#define MONEY_W 22

static void money(const Tallinn__V1__Money *m, char *buf, size_t len)
{
    buf[0] = '\0';
    if (m != NULL)
        ctl_format_money(&m->base, buf, len);
}

static void row(const char *label, int lw, const Tallinn__V1__CoverageTotals *t,
                const Tallinn__V1__Money *pledged)
{
    char est[64], com[64], del[64], pl[64];

    money(t != NULL ? t->estimated : NULL, est, sizeof est);
    money(t != NULL ? t->committed : NULL, com, sizeof com);
    money(t != NULL ? t->delivered : NULL, del, sizeof del);
    money(pledged, pl, sizeof pl);
    printf("%-*s  %6lld  %*s  %*s  %7s%%  %*s  %7s%%%s%s\n", lw, label,
           t != NULL ? (long long)t->needs_count : 0LL, MONEY_W, est, MONEY_W, com,
           t != NULL && t->committed_percent[0] ? t->committed_percent : "-", MONEY_W, del,
           t != NULL && t->delivered_percent[0] ? t->delivered_percent : "-",
           pledged != NULL ? "  " : "", pl);
}

/* A YYYY-MM-DD flag into a Date; 0, or an exit status. */
static int date_flag(const ctl_ctx *ctx, const char *opt, Tallinn__V1__Date *d,
                     Tallinn__V1__Date **slot)
{
    const char *v = ctl_option_value(ctx, opt);
    int y, m, day, n = 0;

    if (v == NULL)
        return 0;
    if (sscanf(v, "%4d-%2d-%2d%n", &y, &m, &day, &n) != 3 || v[n] != '\0' || n != 10)
        return ctl_usage_error(ctx->cmd, "--%s: \"%s\" is not a date such as 2025-06-30", opt, v);
    tallinn__v1__date__init(d);
    d->year = y;
    d->month = m;
    d->day = day;
    *slot = d;
    return 0;
}

static int parse_flags(const ctl_ctx *ctx, Tallinn__V1__GetCoverageReportRequest *req,
                       Tallinn__V1__Date *start, Tallinn__V1__Date *end)
{
    const char *fy = ctl_option_value(ctx, "fiscal-year");
    const char *region = ctl_option_value(ctx, "region");
    int rc;

    if ((rc = date_flag(ctx, "start-date", start, &req->start_date)) != 0 ||
        (rc = date_flag(ctx, "end-date", end, &req->end_date)) != 0)
        return rc;
    if (fy != NULL) {
        char *e;
        long y;
        errno = 0;
        y = strtol(fy, &e, 10);
        if (fy[0] == '\0' || *e != '\0' || errno != 0 || y < 1 || y > 9999)
            return ctl_usage_error(ctx->cmd, "--fiscal-year: \"%s\" is not a year", fy);
        req->fiscal_year = (int32_t)y;
    }
    if (region != NULL)
        req->region = (char *)region;
    return 0;
}

static void money_lines(const Tallinn__V1__CoverageReport *r)
{
    char a[64], b[64], c[64], d[64], e[64], f[64];

    if (r->n_by_fiscal_year > 0)
        printf("\nBy fiscal year%*s  %*s  %*s  %8s  %*s  %8s\n", 0, "", MONEY_W, "PLEDGED",
               MONEY_W, "COMMITTED", "OF IT", MONEY_W, "DELIVERED", "OF IT");
    for (size_t i = 0; i < r->n_by_fiscal_year; i++) {
        const Tallinn__V1__FiscalYearCoverage *y = r->by_fiscal_year[i];
        money(y->pledged, a, sizeof a);
        money(y->committed, b, sizeof b);
        money(y->delivered, c, sizeof c);
        printf("%-14d  %*s  %*s  %7s%%  %*s  %7s%%\n", (int)y->fiscal_year, MONEY_W, a, MONEY_W,
               b, y->committed_percent[0] ? y->committed_percent : "-", MONEY_W, c,
               y->delivered_percent[0] ? y->delivered_percent : "-");
    }
    if (r->n_by_currency > 0)
        printf("\nBy currency (as pledged and matched = in %s at the recorded rates)\n",
               r->currency_code);
    for (size_t i = 0; i < r->n_by_currency; i++) {
        const Tallinn__V1__CurrencyCoverage *x = r->by_currency[i];
        money(x->pledged, a, sizeof a);
        money(x->pledged_accounting, b, sizeof b);
        money(x->committed, c, sizeof c);
        money(x->committed_accounting, d, sizeof d);
        money(x->delivered, e, sizeof e);
        money(x->delivered_accounting, f, sizeof f);
        printf("%s  pledged %s = %s; committed %s = %s; delivered %s = %s\n", x->currency_code,
               a, b, c, d, e, f);
    }
}

static void statement(const Tallinn__V1__DonorStatement *s)
{
    char a[64], b[64], buf[64];

    printf("\nYour pledges (%s)\n", s->donor);
    for (size_t i = 0; i < s->n_pledges; i++) {
        const Tallinn__V1__Pledge *p = s->pledges[i];
        money(p->amount, a, sizeof a);
        money(p->accounting_amount, b, sizeof b);
        printf("  %s  FY%d  %s  %s = %s", p->name, (int)p->fiscal_year,
               ctl_enum_short(&tallinn__v1__pledge__state__descriptor, p->state, buf, sizeof buf),
               a, b);
        if (p->exchange_rate != NULL && p->exchange_rate->rate_date != NULL)
            printf(" (rate %s of %04d-%02d-%02d%s)", p->exchange_rate->rate,
                   (int)p->exchange_rate->rate_date->year, (int)p->exchange_rate->rate_date->month,
                   (int)p->exchange_rate->rate_date->day, p->value_fixed ? ", fixed" : "");
        printf("\n");
    }
    printf("\nYour matches\n");
    for (size_t i = 0; i < s->n_matches; i++) {
        const Tallinn__V1__Match *m = s->matches[i];
        money(m->amount, a, sizeof a);
        money(m->accounting_amount, b, sizeof b);
        printf("  %s  %s  %s  %s = %s\n", m->name, m->need,
               ctl_enum_short(&tallinn__v1__match__state__descriptor, m->state, buf, sizeof buf),
               a, b);
    }
    printf("\nYour deliveries: %zu (DELIVERED or ACCEPTED)\n", s->n_deliveries);
}

int ctl_run_report(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__GetCoverageReportRequest req = TALLINN__V1__GET_COVERAGE_REPORT_REQUEST__INIT;
    Tallinn__V1__Date start, end;
    ProtobufCMessage *resp = NULL;
    rpcc_result result = {0};
    char when[64] = "", buf[64];
    const Tallinn__V1__CoverageReport *r;
    int rc, lw = 26;

    (void)argc;
    (void)argv;
    if ((rc = parse_flags(ctx, &req, &start, &end)) != 0)
        return rc;
    if (ctl_unary(ctx, "/tallinn.v1.ReportService/GetCoverageReport", &req.base,
                  &tallinn__v1__coverage_report__descriptor, &resp, &result) != GRPC_STATUS_OK) {
        rc = ctl_call_failed(ctx, "report coverage", &result);
        goto cleanup;
    }
    if (ctx->format == CTL_FORMAT_JSON) {
        rc = ctl_print_message(ctx, resp, 1);
        goto cleanup;
    }
    r = (const void *)resp;
    for (size_t i = 0; i < r->n_by_donor; i++)
        if ((int)strlen(r->by_donor[i]->donor_display_name) > lw)
            lw = (int)strlen(r->by_donor[i]->donor_display_name);
    for (size_t i = 0; i < r->n_by_region; i++)
        if ((int)strlen(r->by_region[i]->region) > lw)
            lw = (int)strlen(r->by_region[i]->region);
    if (lw > 40)
        lw = 40;
    if (r->report_time != NULL)
        ctl_format_time(&r->report_time->base, when, sizeof when);
    printf("Coverage of validated needs at %s (amounts in %s)\n\n", when, r->currency_code);
    printf("%s%-*s  %6s  %*s  %*s  %8s  %*s  %8s%s\n", ctx->color ? "\033[1m" : "", lw, "",
           "NEEDS", MONEY_W, "ESTIMATED", MONEY_W, "COMMITTED", "COVERED", MONEY_W, "DELIVERED",
           "OF COST", ctl_color_reset(ctx));
    row("TOTAL", lw, r->total, NULL);
    if (r->n_by_sector > 0)
        printf("\nBy sector\n");
    for (size_t i = 0; i < r->n_by_sector; i++)
        row(ctl_enum_short(&tallinn__v1__sector__descriptor, r->by_sector[i]->sector, buf,
                           sizeof buf), lw, r->by_sector[i]->totals, NULL);
    if (r->n_by_category > 0)
        printf("\nBy category\n");
    for (size_t i = 0; i < r->n_by_category; i++)
        row(ctl_enum_short(&tallinn__v1__category__descriptor, r->by_category[i]->category, buf,
                           sizeof buf), lw, r->by_category[i]->totals, NULL);
    if (r->n_by_region > 0)
        printf("\nBy region\n");
    for (size_t i = 0; i < r->n_by_region; i++)
        row(r->by_region[i]->region, lw, r->by_region[i]->totals, NULL);
    if (r->n_by_donor > 0)
        printf("\nBy donor (PLEDGED last)\n");
    for (size_t i = 0; i < r->n_by_donor; i++)
        row(r->by_donor[i]->donor_display_name, lw, r->by_donor[i]->totals,
            r->by_donor[i]->pledged);
    money_lines(r);
    if (r->statement != NULL)
        statement(r->statement);
cleanup:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&result);
    return rc;
}
