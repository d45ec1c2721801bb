/* ctl_report.c — `tallinnctl report coverage`: the coverage report as
 * tables (totals and percentages by sector, category, region and donor; the
 * money by fiscal year and by original currency; a DONOR's own pledges,
 * matches and deliveries), as CSV (one row per line of the report, its
 * section in GROUP), or as proto3 JSON; its parameters from flags. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "tallinn/v1/report.pb-c.h"

#define MONEY_W 22
#define LABEL_MAX_W 40 /* longer names are cut with "…" in the text form */
#define CELL_MAX 160

/* Where the lines of the report go: printed as text, or rows of a CSV table. */
typedef struct report_out {
    const ctl_ctx *ctx;
    ctl_table *csv; /* NULL: text */
    int lw;         /* display width of the label column (text) */
} report_out;

static const ctl_column report_columns[] = {
    {"GROUP", NULL, 0},     {"NAME", NULL, 0},      {"NEEDS", NULL, 0},
    {"ESTIMATED", NULL, 0}, {"COMMITTED", NULL, 0}, {"COVERED", NULL, 0},
    {"DELIVERED", NULL, 0}, {"OF COST", NULL, 0},   {"PLEDGED", NULL, 0},
    {NULL, NULL, 0},
};
enum { C_GROUP, C_NAME, C_NEEDS, C_EST, C_COM, C_COM_PCT, C_DEL, C_DEL_PCT, C_PLEDGED, C_N };

static void money(const Tallinn__V1__Money *m, char *buf, size_t len)
{
    buf[0] = '\0';
    if (m != NULL)
        ctl_format_money(&m->base, buf, len);
}

/* One CSV row: cells[C_N], NULL for empty. */
static void csv_row(report_out *o, const char *const *cells)
{
    const char *c[C_N];

    for (int i = 0; i < C_N; i++)
        c[i] = cells[i] != NULL ? cells[i] : "";
    ctl_table_add_cells(o->csv, c);
}

/* The label padded to the label column by display width (a name with "Ü"
 * or "日本" lines up like an ASCII one), cut when longer. */
static void label_cell(const report_out *o, const char *label)
{
    char cut[CELL_MAX];

    snprintf(cut, sizeof cut, "%s", label);
    cli_cut(cut, sizeof cut, o->lw);
    printf("%s%*s", cut, o->lw - cli_width(cut), "");
}

static void row(report_out *o, const char *group, const char *label,
                const Tallinn__V1__CoverageTotals *t, const Tallinn__V1__Money *pledged)
{
    char est[64], com[64], del[64], pl[64], needs[24];
    const char *cp = t != NULL && t->committed_percent[0] ? t->committed_percent : NULL;
    const char *dp = t != NULL && t->delivered_percent[0] ? t->delivered_percent : NULL;

    money(t != NULL ? t->estimated : NULL, est, sizeof est);
    money(t != NULL ? t->committed : NULL, com, sizeof com);
    money(t != NULL ? t->delivered : NULL, del, sizeof del);
    money(pledged, pl, sizeof pl);
    snprintf(needs, sizeof needs, "%lld", t != NULL ? (long long)t->needs_count : 0LL);
    if (o->csv != NULL) {
        const char *c[C_N] = {group, label, needs, est, com, cp, del, dp, pl};
        csv_row(o, c);
        return;
    }
    label_cell(o, label);
    printf("  %6s  %*s  %*s  %7s%%  %*s  %7s%%%s%s\n", needs, MONEY_W, est, MONEY_W, com,
           cp != NULL ? cp : "-", MONEY_W, del, dp != NULL ? dp : "-",
           pledged != NULL ? "  " : "", pl);
}

/* A section title in text (CSV has the GROUP column instead). */
static void section(const report_out *o, size_t n, const char *title)
{
    if (o->csv == NULL && n > 0)
        printf("\n%s\n", title);
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

static void money_lines(report_out *o, const Tallinn__V1__CoverageReport *r)
{
    char a[64], b[64], c[64], d[64], e[64], f[64], fy[16], in_acc[32];

    if (o->csv == NULL && r->n_by_fiscal_year > 0)
        printf("\nBy fiscal year%*s  %*s  %*s  %8s  %*s  %8s\n", 0, "", MONEY_W, "PLEDGED",
               MONEY_W, "COMMITTED", "OF IT", MONEY_W, "DELIVERED", "OF IT");
    for (size_t i = 0; i < r->n_by_fiscal_year; i++) {
        const Tallinn__V1__FiscalYearCoverage *y = r->by_fiscal_year[i];
        const char *cp = y->committed_percent[0] ? y->committed_percent : NULL;
        const char *dp = y->delivered_percent[0] ? y->delivered_percent : NULL;
        money(y->pledged, a, sizeof a);
        money(y->committed, b, sizeof b);
        money(y->delivered, c, sizeof c);
        snprintf(fy, sizeof fy, "%d", (int)y->fiscal_year);
        if (o->csv != NULL) {
            /* COVERED and OF COST: the share of the year's pledges */
            const char *cells[C_N] = {"fiscal_year", fy, NULL, NULL, b, cp, c, dp, a};
            csv_row(o, cells);
            continue;
        }
        printf("%-14s  %*s  %*s  %7s%%  %*s  %7s%%\n", fy, MONEY_W, a, MONEY_W, b,
               cp != NULL ? cp : "-", MONEY_W, c, dp != NULL ? dp : "-");
    }
    if (o->csv == NULL && r->n_by_currency > 0)
        printf("\nBy currency (as pledged and matched = in %s at the recorded rates)\n",
               r->currency_code);
    snprintf(in_acc, sizeof in_acc, "currency in %s", r->currency_code);
    for (size_t i = 0; i < r->n_by_currency; i++) {
        const Tallinn__V1__CurrencyCoverage *x = r->by_currency[i];
        money(x->pledged, a, sizeof a);
        money(x->pledged_accounting, b, sizeof b);
        money(x->committed, c, sizeof c);
        money(x->committed_accounting, d, sizeof d);
        money(x->delivered, e, sizeof e);
        money(x->delivered_accounting, f, sizeof f);
        if (o->csv != NULL) {
            const char *orig[C_N] = {"currency", x->currency_code, NULL, NULL, c, NULL, e,
                                     NULL, a};
            const char *acc[C_N] = {in_acc, x->currency_code, NULL, NULL, d, NULL, f, NULL, b};
            csv_row(o, orig);
            csv_row(o, acc);
            continue;
        }
        printf("%s  pledged %s = %s; committed %s = %s; delivered %s = %s\n", x->currency_code,
               a, b, c, d, e, f);
    }
}

static void statement(report_out *o, const Tallinn__V1__DonorStatement *s)
{
    char a[64], b[64], buf[64];

    if (o->csv == NULL)
        printf("\nYour pledges (%s)\n", s->donor);
    for (size_t i = 0; i < s->n_pledges; i++) {
        const Tallinn__V1__Pledge *p = s->pledges[i];
        money(p->amount, a, sizeof a);
        money(p->accounting_amount, b, sizeof b);
        ctl_enum_short(&tallinn__v1__pledge__state__descriptor, p->state, buf, sizeof buf);
        if (o->csv != NULL) {
            const char *cells[C_N] = {"your pledge", p->name, NULL, NULL, NULL, NULL, NULL,
                                      NULL, a};
            csv_row(o, cells);
            continue;
        }
        printf("  %s  FY%d  %s  %s = %s", p->name, (int)p->fiscal_year, buf, a, b);
        if (p->exchange_rate != NULL && p->exchange_rate->rate_date != NULL)
            printf(" (rate %s of %04d-%02d-%02d%s)", p->exchange_rate->rate,
                   (int)p->exchange_rate->rate_date->year, (int)p->exchange_rate->rate_date->month,
                   (int)p->exchange_rate->rate_date->day, p->value_fixed ? ", fixed" : "");
        printf("\n");
    }
    if (o->csv == NULL)
        printf("\nYour matches\n");
    for (size_t i = 0; i < s->n_matches; i++) {
        const Tallinn__V1__Match *m = s->matches[i];
        money(m->amount, a, sizeof a);
        money(m->accounting_amount, b, sizeof b);
        ctl_enum_short(&tallinn__v1__match__state__descriptor, m->state, buf, sizeof buf);
        if (o->csv != NULL) {
            const char *cells[C_N] = {"your match", m->name, NULL, NULL, a, NULL, NULL, NULL,
                                      NULL};
            csv_row(o, cells);
            continue;
        }
        printf("  %s  %s  %s  %s = %s\n", m->name, m->need, buf, a, b);
    }
    if (o->csv == NULL)
        printf("\nYour deliveries: %zu (DELIVERED or ACCEPTED)\n", s->n_deliveries);
}

/* The width of the label column: the widest name, by display width. */
static int label_width(const Tallinn__V1__CoverageReport *r)
{
    int lw = 26;

    for (size_t i = 0; i < r->n_by_donor; i++)
        if (cli_width(r->by_donor[i]->donor_display_name) > lw)
            lw = cli_width(r->by_donor[i]->donor_display_name);
    for (size_t i = 0; i < r->n_by_region; i++)
        if (cli_width(r->by_region[i]->region) > lw)
            lw = cli_width(r->by_region[i]->region);
    return lw > LABEL_MAX_W ? LABEL_MAX_W : lw;
}

static void print_report(report_out *o, const Tallinn__V1__CoverageReport *r)
{
    char when[64] = "", buf[64];

    if (o->csv == NULL) {
        if (r->report_time != NULL)
            ctl_format_time(&r->report_time->base, when, sizeof when);
        printf("Coverage of validated needs at %s (amounts in %s)\n\n", when, r->currency_code);
        if (!o->ctx->no_headers)
            printf("%s%*s  %6s  %*s  %*s  %8s  %*s  %8s%s\n", o->ctx->color ? "\033[1m" : "", o->lw,
                   "", "NEEDS", MONEY_W, "ESTIMATED", MONEY_W, "COMMITTED", "COVERED", MONEY_W,
                   "DELIVERED", "OF COST", ctl_color_reset(o->ctx));
    }
    row(o, "total", "TOTAL", r->total, NULL);
    section(o, r->n_by_sector, "By sector");
    for (size_t i = 0; i < r->n_by_sector; i++)
        row(o, "sector", ctl_enum_short(&tallinn__v1__sector__descriptor,
                                        r->by_sector[i]->sector, buf, sizeof buf),
            r->by_sector[i]->totals, NULL);
    section(o, r->n_by_category, "By category");
    for (size_t i = 0; i < r->n_by_category; i++)
        row(o, "category", ctl_enum_short(&tallinn__v1__category__descriptor,
                                          r->by_category[i]->category, buf, sizeof buf),
            r->by_category[i]->totals, NULL);
    section(o, r->n_by_region, "By region");
    for (size_t i = 0; i < r->n_by_region; i++)
        row(o, "region", r->by_region[i]->region, r->by_region[i]->totals, NULL);
    section(o, r->n_by_donor, "By donor (PLEDGED last)");
    for (size_t i = 0; i < r->n_by_donor; i++)
        row(o, "donor", r->by_donor[i]->donor_display_name, r->by_donor[i]->totals,
            r->by_donor[i]->pledged);
    money_lines(o, r);
    if (r->statement != NULL)
        statement(o, r->statement);
}

int ctl_run_report(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__GetCoverageReportRequest req = TALLINN__V1__GET_COVERAGE_REPORT_REQUEST__INIT;
    Tallinn__V1__Date start, end;
    ProtobufCMessage *resp = NULL;
    rpcc_result result = {0};
    report_out o = {.ctx = ctx};
    int rc;

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
    if (ctx->format == CTL_FORMAT_CSV && (o.csv = ctl_table_create(ctx, report_columns)) == NULL) {
        rc = ctl_fail("out of memory");
        goto cleanup;
    }
    o.lw = label_width((const void *)resp);
    print_report(&o, (const void *)resp);
    if (o.csv != NULL)
        ctl_table_flush(o.csv);
cleanup:
    ctl_table_destroy(o.csv);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&result);
    return rc;
}
