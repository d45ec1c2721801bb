/* ctl_export.c — `tallinnctl export csv needs|matches|pledges|donors`: pages
 * through the List method with the caller's own credentials (so what the
 * caller may see is the server's decision, as for `list`) and writes RFC
 * 4180 CSV with one header row; money as an exact decimal amount column and
 * a currency column. Also the paging both exports share (ctl_list_all). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "cli.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

#define CTL_EXPORT_PAGE 500
#define CTL_EXPORT_CELL 512

/* ---- Paging ---- */

static void ctl_export_set_page_size(ProtobufCMessage *m, int32_t n)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "page_size");

    if (f != NULL && f->type == PROTOBUF_C_TYPE_INT32)
        *(int32_t *)((char *)m + f->offset) = n;
}

int ctl_list_all(ctl_ctx *ctx, const char *what, const char *method,
                 const ProtobufCMessageDescriptor *req_desc,
                 const ProtobufCMessageDescriptor *resp_desc, const char *list_field,
                 const char *parent, const char *filter, ctl_list_fn fn, void *arg)
{
    const ProtobufCFieldDescriptor *lf =
        protobuf_c_message_descriptor_get_field_by_name(resp_desc, list_field);
    char *token = NULL;
    int rc = 0;

    if (lf == NULL || lf->label != PROTOBUF_C_LABEL_REPEATED)
        return ctl_fail("%s: no repeated field %s", what, list_field);
    do {
        ProtobufCMessage *req = malloc(req_desc->sizeof_message), *resp = NULL;
        rpcc_result result = {0};
        const char *next;
        size_t n;
        ProtobufCMessage **items;

        if (req == NULL)
            return ctl_fail("out of memory");
        protobuf_c_message_init(req_desc, req);
        if (parent != NULL)
            ctl_msg_set_string(req, "parent", parent);
        if (filter != NULL)
            ctl_msg_set_string(req, "filter", filter);
        if (token != NULL)
            ctl_msg_set_string(req, "page_token", token);
        ctl_export_set_page_size(req, CTL_EXPORT_PAGE);
        if (ctl_unary(ctx, method, req, resp_desc, &resp, &result) != GRPC_STATUS_OK) {
            rc = ctl_call_failed(ctx, what, &result);
            protobuf_c_message_free_unpacked(req, NULL);
            rpcc_result_free(&result);
            break;
        }
        n = *(const size_t *)((const char *)resp + lf->quantifier_offset);
        items = *(ProtobufCMessage ***)((char *)resp + lf->offset);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = fn(arg, items[i]);
        next = ctl_msg_get_string(resp, "next_page_token");
        free(token);
        token = rc == 0 && next != NULL && next[0] != '\0' ? strdup(next) : NULL;
        protobuf_c_message_free_unpacked(resp, NULL);
        protobuf_c_message_free_unpacked(req, NULL);
        rpcc_result_free(&result);
    } while (rc == 0 && token != NULL);
    free(token);
    return rc;
}

/* ---- Columns ---- */

typedef enum ctl_col_kind {
    COL_PLAIN,    /* a value the server formats: names, enums, numbers, times */
    COL_TEXT,     /* free text someone typed: the formula guard applies */
    COL_AMOUNT,   /* a Money field: its exact decimal amount */
    COL_CURRENCY, /* a Money field: its currency code */
} ctl_col_kind;

typedef struct ctl_col {
    const char *header;
    const char *path;  /* field, or "field.subfield" */
    ctl_col_kind kind;
} ctl_col;

/* One Money field F is two columns: F (the amount) and F_currency. */
#define MONEY(f) {f, f, COL_AMOUNT}, {f "_currency", f, COL_CURRENCY}

static const ctl_col ctl_need_cols[] = {
    {"name", "name", COL_PLAIN},
    {"title", "title", COL_TEXT},
    {"description", "description", COL_TEXT},
    {"beneficiary", "beneficiary", COL_TEXT},
    {"region", "region", COL_TEXT},
    {"sector", "sector", COL_PLAIN},
    {"category", "category", COL_PLAIN},
    {"domain", "domain", COL_PLAIN},
    {"priority", "priority", COL_PLAIN},
    {"sensitivity", "sensitivity", COL_PLAIN},
    {"state", "state", COL_PLAIN},
    {"state_reason", "state_reason", COL_TEXT},
    MONEY("estimated_cost"),
    MONEY("committed_amount"),
    MONEY("delivered_amount"),
    {"coverage", "coverage", COL_PLAIN},
    {"needed_by", "needed_by", COL_PLAIN},
    {"create_time", "create_time", COL_PLAIN},
    {"update_time", "update_time", COL_PLAIN},
    {NULL, NULL, COL_PLAIN},
};

static const ctl_col ctl_match_cols[] = {
    {"name", "name", COL_PLAIN},
    {"need", "need", COL_PLAIN},
    {"donor", "donor", COL_PLAIN},
    {"pledge", "pledge", COL_PLAIN},
    {"implementer", "implementer", COL_PLAIN},
    {"state", "state", COL_PLAIN},
    {"state_reason", "state_reason", COL_TEXT},
    {"description", "description", COL_TEXT},
    MONEY("amount"),
    MONEY("accounting_amount"),
    {"exchange_rate", "exchange_rate.rate", COL_PLAIN},
    {"exchange_rate_date", "exchange_rate.rate_date", COL_PLAIN},
    {"exchange_rate_source", "exchange_rate.source", COL_TEXT},
    {"exchange_rate_name", "exchange_rate.name", COL_PLAIN},
    {"value_date", "value_date", COL_PLAIN},
    {"value_fixed", "value_fixed", COL_PLAIN},
    {"proposer", "proposer", COL_PLAIN},
    {"approver", "approver", COL_PLAIN},
    {"overfunding_allowed", "overfunding_allowed", COL_PLAIN},
    {"overfunding_reason", "overfunding_reason", COL_TEXT},
    {"approve_time", "approve_time", COL_PLAIN},
    {"accept_time", "accept_time", COL_PLAIN},
    {"create_time", "create_time", COL_PLAIN},
    {"update_time", "update_time", COL_PLAIN},
    {NULL, NULL, COL_PLAIN},
};

static const ctl_col ctl_pledge_cols[] = {
    {"name", "name", COL_PLAIN},
    {"fiscal_year", "fiscal_year", COL_PLAIN},
    {"state", "state", COL_PLAIN},
    {"source", "source", COL_TEXT},
    MONEY("amount"),
    MONEY("accounting_amount"),
    MONEY("allocated"),
    MONEY("available"),
    {"exchange_rate", "exchange_rate.rate", COL_PLAIN},
    {"exchange_rate_date", "exchange_rate.rate_date", COL_PLAIN},
    {"exchange_rate_source", "exchange_rate.source", COL_TEXT},
    {"exchange_rate_name", "exchange_rate.name", COL_PLAIN},
    {"value_date", "value_date", COL_PLAIN},
    {"value_fixed", "value_fixed", COL_PLAIN},
    {"create_time", "create_time", COL_PLAIN},
    {"update_time", "update_time", COL_PLAIN},
    {NULL, NULL, COL_PLAIN},
};

static const ctl_col ctl_donor_cols[] = {
    {"name", "name", COL_PLAIN},
    {"display_name", "display_name", COL_TEXT},
    {"kind", "kind", COL_PLAIN},
    {"country_code", "country_code", COL_PLAIN},
    {"parent", "parent", COL_PLAIN},
    {"membership", "membership", COL_PLAIN},
    {"capabilities", "capabilities", COL_PLAIN},
    {"contact_email", "contact_email", COL_TEXT},
    {"create_time", "create_time", COL_PLAIN},
    {"update_time", "update_time", COL_PLAIN},
    {NULL, NULL, COL_PLAIN},
};

typedef struct ctl_export_kind {
    const char *kind;   /* the KIND argument */
    const char *method;
    const ProtobufCMessageDescriptor *req, *resp;
    const char *list_field;
    const char *parent; /* pledges of every donor the caller may see */
    const ctl_col *cols;
} ctl_export_kind;

static const ctl_export_kind ctl_export_kinds[] = {
    {"needs", "/tallinn.v1.NeedService/ListNeeds", &tallinn__v1__list_needs_request__descriptor,
     &tallinn__v1__list_needs_response__descriptor, "needs", NULL, ctl_need_cols},
    {"matches", "/tallinn.v1.MatchService/ListMatches",
     &tallinn__v1__list_matches_request__descriptor,
     &tallinn__v1__list_matches_response__descriptor, "matches", NULL, ctl_match_cols},
    {"pledges", "/tallinn.v1.DonorService/ListPledges",
     &tallinn__v1__list_pledges_request__descriptor,
     &tallinn__v1__list_pledges_response__descriptor, "pledges", "donors/-", ctl_pledge_cols},
    {"donors", "/tallinn.v1.DonorService/ListDonors", &tallinn__v1__list_donors_request__descriptor,
     &tallinn__v1__list_donors_response__descriptor, "donors", NULL, ctl_donor_cols},
};

/* ---- Cells ---- */

/* The field at path ("exchange_rate.rate") and the message holding it;
 * NULL when an enclosing message is unset. */
static const ProtobufCFieldDescriptor *ctl_export_resolve(const ProtobufCMessage **m,
                                                          const char *path)
{
    const char *dot = strchr(path, '.');
    const ProtobufCFieldDescriptor *f;
    char head[64];

    if (dot == NULL)
        return protobuf_c_message_descriptor_get_field_by_name((*m)->descriptor, path);
    snprintf(head, sizeof head, "%.*s", (int)(dot - path), path);
    if ((*m = ctl_msg_get_message(*m, head)) == NULL)
        return NULL;
    f = ctl_export_resolve(m, dot + 1);
    return f;
}

static void ctl_export_date(const ProtobufCMessage *d, char *buf, size_t len)
{
    const Tallinn__V1__Date *x = (const void *)d;

    snprintf(buf, len, "%04d-%02d-%02d", (int)x->year, (int)x->month, (int)x->day);
}

/* Writes the cell of column c for message m. */
static void ctl_export_cell(cli_csv *w, const ProtobufCMessage *m, const ctl_col *c)
{
    const ProtobufCFieldDescriptor *f = ctl_export_resolve(&m, c->path);
    const char *p;
    char buf[CTL_EXPORT_CELL];

    if (f == NULL) {
        cli_csv_cell(w, "", 0);
        return;
    }
    p = (const char *)m + f->offset;
    buf[0] = '\0';
    if (f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_ENUM) {
        /* capabilities: short enum names, space-separated (one cell) */
        size_t n = *(const size_t *)((const char *)m + f->quantifier_offset), used = 0;
        const int *v = *(int *const *)p;
        for (size_t i = 0; i < n && used < sizeof buf; i++) {
            char one[64];
            ctl_enum_short(f->descriptor, v[i], one, sizeof one);
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? " " : "", one);
        }
        cli_csv_cell(w, buf, 0);
        return;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        cli_csv_cell(w, *(const char *const *)p, c->kind == COL_TEXT);
        return;
    case PROTOBUF_C_TYPE_ENUM:
        ctl_enum_short(f->descriptor, *(const int *)p, buf, sizeof buf);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(buf, sizeof buf, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_INT32:
        snprintf(buf, sizeof buf, "%d", (int)*(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        const char *type = ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name;
        if (sub == NULL)
            break;
        if (c->kind == COL_AMOUNT)
        {
            const Tallinn__V1__Money *m = (const Tallinn__V1__Money *)sub;
            cli_money_decimal(m->currency_code, m->units, m->nanos, 0, 0, buf, sizeof buf);
        }
        else if (c->kind == COL_CURRENCY)
            snprintf(buf, sizeof buf, "%s", ctl_msg_get_string(sub, "currency_code"));
        else if (strcmp(type, "Timestamp") == 0)
            ctl_format_rfc3339(sub, buf, sizeof buf);
        else if (strcmp(type, "Date") == 0)
            ctl_export_date(sub, buf, sizeof buf);
        break;
    }
    default:
        break;
    }
    cli_csv_cell(w, buf, 0);
}

typedef struct ctl_export_run {
    cli_csv csv;
    const ctl_col *cols;
} ctl_export_run;

static int ctl_export_row(void *arg, const ProtobufCMessage *m)
{
    ctl_export_run *r = arg;

    for (const ctl_col *c = r->cols; c->header != NULL; c++)
        ctl_export_cell(&r->csv, m, c);
    if (cli_csv_end_row(&r->csv) != 0)
        return ctl_fail("writing the export failed");
    return 0;
}

int ctl_run_export_csv(ctl_ctx *ctx, int argc, char **argv)
{
    const ctl_export_kind *k = NULL;
    const char *filter = ctl_option_value(ctx, "filter");
    ctl_export_run run;
    ctl_outfile out;
    char what[64];
    int rc;

    (void)argc;
    for (size_t i = 0; i < sizeof ctl_export_kinds / sizeof ctl_export_kinds[0]; i++)
        if (strcmp(argv[0], ctl_export_kinds[i].kind) == 0)
            k = &ctl_export_kinds[i];
    if (k == NULL)
        return ctl_usage_error(ctx->cmd, "unknown kind \"%s\": export csv takes needs, matches, "
                                         "pledges or donors", argv[0]);
    if ((rc = ctl_outfile_open(&out, ctl_option_value(ctx, "out"))) != 0)
        return rc;
    cli_csv_init(&run.csv, out.fp, ctl_option_value(ctx, "no-formula-guard") == NULL);
    run.cols = k->cols;
    for (const ctl_col *c = k->cols; c->header != NULL; c++)
        cli_csv_cell(&run.csv, c->header, 0);
    if (cli_csv_end_row(&run.csv) != 0) {
        ctl_outfile_abort(&out);
        return ctl_fail("writing the export failed");
    }
    snprintf(what, sizeof what, "export csv %s", k->kind);
    rc = ctl_list_all(ctx, what, k->method, k->req, k->resp, k->list_field, k->parent, filter,
                      ctl_export_row, &run);
    if (rc != 0) {
        ctl_outfile_abort(&out);
        return rc;
    }
    return ctl_outfile_commit(&out);
}
