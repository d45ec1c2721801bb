/* ctl_iati.c — `tallinnctl export iati [--donor donors/X]`: a donor's
 * approved matches as IATI 2.03 activities, built on the client from the
 * List methods with the caller's own credentials (the server keeps deciding
 * what the caller may see) and written with libxml2's xmlTextWriter. The
 * mapping (identifiers, organisations, sectors, transactions) is in
 * docs/reporting.md, "IATI". */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/xmlwriter.h>

#include "ctl.h"
#include "cli.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/report.pb-c.h"

#define IATI_VERSION "2.03"
#define IATI_REF_MAX 100
#define IATI_DATE_LEN 11 /* YYYY-MM-DD */
#define IATI_RFC3339_LEN 48

/* The only matches a donor reports: approved and later (a commitment), and
 * withdrawn ones, of which those withdrawn after approval stay (a
 * commitment made and cancelled: iati_commitments). */
#define IATI_MATCH_FILTER                                                                        \
    "(state = APPROVED OR state = IN_DELIVERY OR state = DELIVERED OR state = ACCEPTED OR " \
    "state = WITHDRAWN)"

/* Our sectors as OECD DAC 5-digit purpose codes (IATI sector vocabulary 1):
 * the code of the part of Ukraine's economy or state the help protects,
 * because the DAC classifies by the sector an activity serves, not by the
 * kind of help (the category). Codes and names from the IATI Sector code
 * list (tests/data/iati-2.03/codelists/Sector.xml); docs/reporting.md. */
typedef struct iati_sector {
    Tallinn__V1__Sector sector;
    const char *code, *name;
} iati_sector;

static const iati_sector iati_sectors[] = {
    {TALLINN__V1__SECTOR__SECTOR_ENERGY, "23630",
     "Electric power transmission and distribution (centralised grids)"},
    {TALLINN__V1__SECTOR__SECTOR_TELECOM, "22020", "Telecommunications"},
    {TALLINN__V1__SECTOR__SECTOR_FINANCE, "24010",
     "Financial policy and administrative management"},
    {TALLINN__V1__SECTOR__SECTOR_HEALTH, "12110", "Health policy and administrative management"},
    {TALLINN__V1__SECTOR__SECTOR_GOVERNMENT, "15110",
     "Public sector policy and administrative management"},
    {TALLINN__V1__SECTOR__SECTOR_WATER, "14010",
     "Water sector policy and administrative management"},
    {TALLINN__V1__SECTOR__SECTOR_TRANSPORT, "21010",
     "Transport policy and administrative management"},
    {TALLINN__V1__SECTOR__SECTOR_EDUCATION, "11110",
     "Education policy and administrative management"},
    {TALLINN__V1__SECTOR__SECTOR_MEDIA, "22030", "Radio/television/print media"},
};
/* OTHER, and a need the caller cannot read. */
static const iati_sector iati_sector_default = {TALLINN__V1__SECTOR__SECTOR_OTHER, "22040",
                                                "Information and communication technology (ICT)"};

static const iati_sector *iati_sector_for(int sector)
{
    for (size_t i = 0; i < sizeof iati_sectors / sizeof iati_sectors[0]; i++)
        if ((int)iati_sectors[i].sector == sector)
            return &iati_sectors[i];
    return &iati_sector_default;
}

/* IATI OrganisationType for a donor's kind. */
static const char *iati_org_type(const Tallinn__V1__Donor *d)
{
    switch (d != NULL ? d->kind : TALLINN__V1__DONOR__KIND__KIND_UNSPECIFIED) {
    case TALLINN__V1__DONOR__KIND__KIND_STATE: return "10";                      /* Government */
    case TALLINN__V1__DONOR__KIND__KIND_INTERNATIONAL_ORGANIZATION: return "40"; /* Multilateral */
    case TALLINN__V1__DONOR__KIND__KIND_COMPANY: return "71"; /* Private Sector in Provider Country */
    case TALLINN__V1__DONOR__KIND__KIND_NGO: return "22";     /* National NGO */
    default: return "90";                                     /* Other */
    }
}

/* IATI ActivityStatus for a match's state. */
static const char *iati_status(int state)
{
    return state == TALLINN__V1__MATCH__STATE__STATE_ACCEPTED    ? "4"  /* Closed */
           : state == TALLINN__V1__MATCH__STATE__STATE_WITHDRAWN ? "5"  /* Cancelled */
                                                                 : "2"; /* Implementation */
}

/* A withdrawn match was a commitment only if it had been approved: its
 * approve_time says so (a match approved before approve_time was recorded
 * cannot tell, and is left out as if withdrawn while proposed). */
static int iati_withdrawn_commitment(const Tallinn__V1__Match *m)
{
    return m->state == TALLINN__V1__MATCH__STATE__STATE_WITHDRAWN && m->approve_time != NULL;
}

/* ---- What the export reads ---- */

typedef struct iati_list {
    ProtobufCMessage **items;
    size_t n, cap;
} iati_list;

/* A copy of m that outlives its page (protobuf-c has no clone: pack and
 * unpack). */
static int iati_keep(void *arg, const ProtobufCMessage *m)
{
    iati_list *l = arg;
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    ProtobufCMessage *copy;

    if (buf == NULL)
        return ctl_fail("out of memory");
    protobuf_c_message_pack(m, buf);
    copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    if (copy == NULL)
        return ctl_fail("out of memory");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ProtobufCMessage **items = realloc(l->items, cap * sizeof *items);
        if (items == NULL) {
            protobuf_c_message_free_unpacked(copy, NULL);
            return ctl_fail("out of memory");
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = copy;
    return 0;
}

/* Drops the withdrawn matches that never were a commitment. */
static void iati_commitments(iati_list *matches)
{
    size_t kept = 0;

    for (size_t i = 0; i < matches->n; i++) {
        const Tallinn__V1__Match *m = (const void *)matches->items[i];
        if (m->state == TALLINN__V1__MATCH__STATE__STATE_WITHDRAWN &&
            !iati_withdrawn_commitment(m))
            protobuf_c_message_free_unpacked(matches->items[i], NULL);
        else
            matches->items[kept++] = matches->items[i];
    }
    matches->n = kept;
}

static void iati_list_free(iati_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        protobuf_c_message_free_unpacked(l->items[i], NULL);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static const ProtobufCMessage *iati_find(const iati_list *l, const char *name)
{
    for (size_t i = 0; name != NULL && name[0] != '\0' && i < l->n; i++)
        if (strcmp(ctl_msg_get_string(l->items[i], "name"), name) == 0)
            return l->items[i];
    return NULL;
}

typedef struct iati_export {
    iati_list donors, needs, matches;
    const char *org_ref;  /* --org-ref, for the one donor exported */
    xmlTextWriterPtr w;
    int err;              /* a writer call failed */
} iati_export;

/* ---- Writing ---- */

#define W(call)                     \
    do {                            \
        if ((call) < 0)             \
            x->err = 1;             \
    } while (0)
#define X(s) BAD_CAST(s)

static void iati_start(iati_export *x, const char *el)
{
    W(xmlTextWriterStartElement(x->w, X(el)));
}

static void iati_end(iati_export *x)
{
    W(xmlTextWriterEndElement(x->w));
}

static void iati_attr(iati_export *x, const char *name, const char *value)
{
    W(xmlTextWriterWriteAttribute(x->w, X(name), X(value)));
}

/* <narrative>text</narrative> (escaped by the writer). */
static void iati_narrative(iati_export *x, const char *text)
{
    iati_start(x, "narrative");
    W(xmlTextWriterWriteString(x->w, X(text)));
    iati_end(x);
}

static void iati_date(const ProtobufCMessage *ts, char *buf)
{
    char full[IATI_RFC3339_LEN];

    ctl_format_rfc3339(ts, full, sizeof full);
    snprintf(buf, IATI_DATE_LEN, "%.10s", full);
}

/* The reporting-org ref of a donor: --org-ref for the one donor exported,
 * else TALLINN-<ID> (upper case), a stable placeholder until the donor
 * gives its registered IATI organisation identifier. */
static void iati_ref_for(const iati_export *x, const char *donor, char *buf, size_t len)
{
    const char *id = strrchr(donor, '/');
    size_t n;

    if (x->org_ref != NULL) {
        snprintf(buf, len, "%s", x->org_ref);
        return;
    }
    n = (size_t)snprintf(buf, len, "TALLINN-%s", id != NULL ? id + 1 : donor);
    for (size_t i = 0; i < n && i < len; i++)
        buf[i] = (char)toupper((unsigned char)buf[i]);
}

static void iati_org(iati_export *x, const char *el, const char *ref, const char *role,
                     const Tallinn__V1__Donor *d, const char *fallback_name)
{
    iati_start(x, el);
    if (ref != NULL)
        iati_attr(x, "ref", ref);
    if (role != NULL)
        iati_attr(x, "role", role);
    iati_attr(x, "type", iati_org_type(d));
    iati_narrative(x, d != NULL ? d->display_name : fallback_name);
    iati_end(x);
}

static void iati_transaction(iati_export *x, const char *type, const char *day,
                             const Tallinn__V1__Money *amount, const char *value_day,
                             const char *what, const char *ref, const Tallinn__V1__Donor *donor,
                             const char *donor_name, const Tallinn__V1__Donor *receiver,
                             const char *receiver_name)
{
    char value[CLI_MONEY_DECIMAL_MAX];

    cli_money_decimal(amount->currency_code, amount->units, amount->nanos, 0, 0, value,
                      sizeof value);
    iati_start(x, "transaction");
    iati_start(x, "transaction-type");
    iati_attr(x, "code", type);
    iati_end(x);
    iati_start(x, "transaction-date");
    iati_attr(x, "iso-date", day);
    iati_end(x);
    iati_start(x, "value");
    iati_attr(x, "currency", amount->currency_code);
    iati_attr(x, "value-date", value_day);
    W(xmlTextWriterWriteString(x->w, X(value)));
    iati_end(x);
    iati_start(x, "description");
    iati_narrative(x, what);
    iati_end(x);
    iati_org(x, "provider-org", ref, NULL, donor, donor_name);
    if (receiver_name != NULL)
        iati_org(x, "receiver-org", NULL, NULL, receiver, receiver_name);
    iati_end(x);
}

/* The days of a match's activity, YYYY-MM-DD ("" when it has none). */
typedef struct iati_days {
    char approved[IATI_DATE_LEN]; /* the commitment */
    char value[IATI_DATE_LEN];    /* the commitment's value date */
    char accepted[IATI_DATE_LEN]; /* the accepted delivery */
    char withdrawn[IATI_DATE_LEN]; /* the cancelled commitment */
} iati_days;

static void iati_days_of(const Tallinn__V1__Match *m, iati_days *d)
{
    memset(d, 0, sizeof *d);
    if (m->value_date != NULL)
        snprintf(d->value, sizeof d->value, "%04d-%02d-%02d", (int)m->value_date->year,
                 (int)m->value_date->month, (int)m->value_date->day);
    /* Matches approved before approve_time and accept_time were recorded:
     * the value date (the day of approval), else the day of the last change
     * (ACCEPTED is final, so that was the acceptance). */
    if (m->approve_time != NULL)
        iati_date(&m->approve_time->base, d->approved);
    else if (m->value_date != NULL)
        snprintf(d->approved, sizeof d->approved, "%s", d->value);
    else if (m->create_time != NULL)
        iati_date(&m->create_time->base, d->approved);
    if (m->value_date == NULL)
        snprintf(d->value, sizeof d->value, "%s", d->approved);
    if (m->accept_time != NULL)
        iati_date(&m->accept_time->base, d->accepted);
    else if (m->state == TALLINN__V1__MATCH__STATE__STATE_ACCEPTED && m->update_time != NULL)
        iati_date(&m->update_time->base, d->accepted);
    /* WITHDRAWN is final: its last change was the withdrawal. */
    if (iati_withdrawn_commitment(m) && m->update_time != NULL)
        iati_date(&m->update_time->base, d->withdrawn);
}

/* iati-identifier, reporting-org, title and description. A RESTRICTED
 * need's own words (and the match's, which say what goes to whom) never
 * leave: a fixed title and description stand in. */
static void iati_identity(iati_export *x, const Tallinn__V1__Match *m, const char *ref,
                          const Tallinn__V1__Donor *donor, const Tallinn__V1__Need *need,
                          int restricted, const iati_sector *sec)
{
    char ident[IATI_REF_MAX + 96], title[256];

    snprintf(ident, sizeof ident, "%s-TM-%s", ref, strrchr(m->name, '/') + 1);
    iati_start(x, "iati-identifier");
    W(xmlTextWriterWriteString(x->w, X(ident)));
    iati_end(x);
    iati_start(x, "reporting-org");
    iati_attr(x, "ref", ref);
    iati_attr(x, "type", iati_org_type(donor));
    iati_narrative(x, donor != NULL ? donor->display_name : m->donor);
    iati_end(x);
    if (restricted)
        snprintf(title, sizeof title, "Civilian cyber-defence assistance to Ukraine: %s",
                 sec->name);
    else
        snprintf(title, sizeof title, "%s", need->title);
    iati_start(x, "title");
    iati_narrative(x, title);
    iati_end(x);
    iati_start(x, "description");
    iati_attr(x, "type", "1"); /* General */
    iati_narrative(x, restricted ? "Assistance through the Tallinn Mechanism for a need "
                                   "whose details are restricted."
                                 : m->description);
    iati_end(x);
}

/* One approved match as one activity. */
static void iati_activity(iati_export *x, const Tallinn__V1__Match *m)
{
    const Tallinn__V1__Need *need = (const void *)iati_find(&x->needs, m->need);
    const Tallinn__V1__Donor *donor = (const void *)iati_find(&x->donors, m->donor);
    const Tallinn__V1__Donor *impl = (const void *)iati_find(&x->donors, m->implementer);
    /* A need the caller cannot read is treated as RESTRICTED: nothing of it. */
    int restricted = need == NULL ||
                     need->sensitivity != TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD;
    const iati_sector *sec = iati_sector_for(need != NULL ? (int)need->sector : -1);
    char ref[IATI_REF_MAX + 16], when[IATI_RFC3339_LEN], what[128];
    int has_impl = m->implementer != NULL && m->implementer[0] != '\0';
    iati_days d;

    iati_ref_for(x, m->donor, ref, sizeof ref);
    iati_days_of(m, &d);

    iati_start(x, "iati-activity");
    if (m->update_time != NULL) {
        ctl_format_rfc3339(&m->update_time->base, when, sizeof when);
        iati_attr(x, "last-updated-datetime", when);
    }
    iati_attr(x, "xml:lang", "en");
    iati_attr(x, "default-currency", m->amount->currency_code);
    iati_identity(x, m, ref, donor, need, restricted, sec);
    iati_org(x, "participating-org", ref, "1", donor, m->donor); /* Funding */
    if (has_impl)
        iati_org(x, "participating-org", NULL, "4", impl, m->implementer); /* Implementing */
    else
        iati_org(x, "participating-org", ref, "4", donor, m->donor);

    iati_start(x, "activity-status");
    iati_attr(x, "code", iati_status(m->state));
    iati_end(x);
    iati_start(x, "activity-date");
    iati_attr(x, "type", "2"); /* Actual start: the approval */
    iati_attr(x, "iso-date", d.approved);
    iati_end(x);
    if (d.accepted[0] != '\0' || d.withdrawn[0] != '\0') {
        iati_start(x, "activity-date");
        iati_attr(x, "type", "4"); /* Actual end: the accepted delivery, or the withdrawal */
        iati_attr(x, "iso-date", d.accepted[0] != '\0' ? d.accepted : d.withdrawn);
        iati_end(x);
    }
    iati_start(x, "recipient-country");
    iati_attr(x, "code", "UA");
    iati_attr(x, "percentage", "100");
    iati_end(x);
    iati_start(x, "sector");
    iati_attr(x, "vocabulary", "1");
    iati_attr(x, "code", sec->code);
    iati_attr(x, "percentage", "100");
    iati_narrative(x, sec->name);
    iati_end(x);

    /* Commitment (2) on approval, at the match's value date. */
    snprintf(what, sizeof what, "Approval of %s", m->name);
    iati_transaction(x, "2", d.approved, m->amount, d.value, what, ref, donor, m->donor,
                     has_impl ? impl : NULL, has_impl ? m->implementer : NULL);
    /* An accepted delivery: Disbursement (3) to an implementer that
     * delivered for the donor, or Expenditure (4) when the donor delivered
     * itself (goods and services it paid for). */
    if (d.accepted[0] != '\0') {
        snprintf(what, sizeof what, "Accepted delivery of %s", m->name);
        iati_transaction(x, has_impl ? "3" : "4", d.accepted, m->amount, d.accepted, what, ref,
                         donor, m->donor, has_impl ? impl : NULL,
                         has_impl ? m->implementer : NULL);
    }
    /* Withdrawn after approval: the commitment stays published (an activity
     * once published is not taken back) and is reversed by a negative
     * Commitment on the day of the withdrawal, IATI's way of correcting a
     * value. The reason is the staff's words and stays out. */
    if (d.withdrawn[0] != '\0') {
        Tallinn__V1__Money minus = *m->amount;
        minus.units = -minus.units;
        minus.nanos = -minus.nanos;
        snprintf(what, sizeof what, "Withdrawal of %s", m->name);
        iati_transaction(x, "2", d.withdrawn, &minus, d.withdrawn, what, ref, donor, m->donor,
                         has_impl ? impl : NULL, has_impl ? m->implementer : NULL);
    }
    iati_end(x);
}

/* ---- The command ---- */

/* The donor a DONOR principal acts for, from its coverage report's
 * statement (only a DONOR gets one); *mine NULL for other roles. Returns 0
 * or an exit status. */
static int iati_caller_donor(ctl_ctx *ctx, char **mine)
{
    Tallinn__V1__GetCoverageReportRequest req = TALLINN__V1__GET_COVERAGE_REPORT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rpcc_result result = {0};
    const Tallinn__V1__CoverageReport *r;
    int rc = 0;

    *mine = NULL;
    if (ctl_unary(ctx, "/tallinn.v1.ReportService/GetCoverageReport", &req.base,
                  &tallinn__v1__coverage_report__descriptor, &resp, &result) != GRPC_STATUS_OK) {
        rc = ctl_call_failed(ctx, "export iati", &result);
        goto out;
    }
    r = (const void *)resp;
    if (r->statement != NULL && r->statement->donor[0] != '\0' &&
        (*mine = strdup(r->statement->donor)) == NULL)
        rc = ctl_fail("out of memory");
out:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&result);
    return rc;
}

/* An id as the server takes it: [a-z]([a-z0-9-]{0,61}[a-z0-9])? */
static int iati_valid_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63 || !islower((unsigned char)s[0]) || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return 1;
}

/* An IATI organisation identifier: letters, digits and - . _ : only (no
 * spaces, no / & | ? that break identifiers). */
static int iati_valid_ref(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > IATI_REF_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("-._:", s[i]) == NULL)
            return 0;
    return 1;
}

static int iati_write(ctl_ctx *ctx, iati_export *x)
{
    xmlBufferPtr buf = xmlBufferCreate();
    char now[IATI_RFC3339_LEN];
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ctl_outfile out;
    int rc;

    if (buf == NULL || (x->w = xmlNewTextWriterMemory(buf, 0)) == NULL) {
        if (buf != NULL)
            xmlBufferFree(buf);
        return ctl_fail("out of memory");
    }
    ts.seconds = (int64_t)time(NULL);
    ctl_format_rfc3339(&ts.base, now, sizeof now);
    W(xmlTextWriterSetIndent(x->w, 1));
    W(xmlTextWriterSetIndentString(x->w, X("  ")));
    W(xmlTextWriterStartDocument(x->w, NULL, "UTF-8", NULL));
    iati_start(x, "iati-activities");
    iati_attr(x, "version", IATI_VERSION);
    iati_attr(x, "generated-datetime", now);
    for (size_t i = 0; i < x->matches.n; i++)
        iati_activity(x, (const void *)x->matches.items[i]);
    iati_end(x);
    W(xmlTextWriterEndDocument(x->w));
    xmlFreeTextWriter(x->w);
    x->w = NULL;
    if (x->err) {
        xmlBufferFree(buf);
        return ctl_fail("export iati: the XML writer failed");
    }
    if ((rc = ctl_outfile_open(&out, ctl_option_value(ctx, "out"))) != 0) {
        xmlBufferFree(buf);
        return rc;
    }
    if (fwrite(xmlBufferContent(buf), 1, (size_t)xmlBufferLength(buf), out.fp) !=
        (size_t)xmlBufferLength(buf)) {
        ctl_outfile_abort(&out);
        xmlBufferFree(buf);
        return ctl_fail("writing the export failed");
    }
    xmlBufferFree(buf);
    return ctl_outfile_commit(&out);
}

/* NOT_FOUND, with the server's words, for a donor that does not exist. */
static int iati_check_donor(ctl_ctx *ctx, const char *donor)
{
    Tallinn__V1__GetDonorRequest req = TALLINN__V1__GET_DONOR_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rpcc_result result = {0};
    int rc = 0;

    req.name = (char *)donor;
    if (ctl_unary(ctx, "/tallinn.v1.DonorService/GetDonor", &req.base,
                  &tallinn__v1__donor__descriptor, &resp, &result) != GRPC_STATUS_OK) {
        char what[128];
        snprintf(what, sizeof what, "export iati: %s", donor);
        rc = ctl_call_failed(ctx, what, &result);
    }
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&result);
    return rc;
}

/* The approved-and-later matches (of donor, when given), every donor (names
 * and kinds of reporting and implementing organisations) and every need
 * (titles, sectors, sensitivity) the caller may list. */
static int iati_load(ctl_ctx *ctx, iati_export *x, const char *donor)
{
    char *filter;
    int rc;

    if (asprintf(&filter, "%s%s%s%s", IATI_MATCH_FILTER, donor != NULL ? " AND donor = \"" : "",
                 donor != NULL ? donor : "", donor != NULL ? "\"" : "") < 0)
        return ctl_fail("out of memory");
    if ((rc = ctl_list_all(ctx, "export iati: list matches", "/tallinn.v1.MatchService/ListMatches",
                           &tallinn__v1__list_matches_request__descriptor,
                           &tallinn__v1__list_matches_response__descriptor, "matches", NULL,
                           filter, iati_keep, &x->matches)) != 0 ||
        (rc = ctl_list_all(ctx, "export iati: list donors", "/tallinn.v1.DonorService/ListDonors",
                           &tallinn__v1__list_donors_request__descriptor,
                           &tallinn__v1__list_donors_response__descriptor, "donors", NULL, NULL,
                           iati_keep, &x->donors)) != 0)
        goto out;
    rc = ctl_list_all(ctx, "export iati: list needs", "/tallinn.v1.NeedService/ListNeeds",
                      &tallinn__v1__list_needs_request__descriptor,
                      &tallinn__v1__list_needs_response__descriptor, "needs", NULL, NULL,
                      iati_keep, &x->needs);
out:
    free(filter);
    return rc;
}

int ctl_run_export_iati(ctl_ctx *ctx, int argc, char **argv)
{
    const char *donor_arg = ctl_option_value(ctx, "donor");
    iati_export x;
    char *donor = NULL, *mine = NULL;
    int rc;

    (void)argc;
    (void)argv;
    memset(&x, 0, sizeof x);
    x.org_ref = ctl_option_value(ctx, "org-ref");
    if (donor_arg != NULL) {
        if ((donor = ctl_resource_name(ctx, "donors", donor_arg)) == NULL)
            return CTL_EXIT_USAGE;
        if (!iati_valid_id(donor + strlen("donors/"))) {
            rc = ctl_usage_error(ctx->cmd, "--donor: \"%s\" is not a donor name", donor_arg);
            goto out;
        }
    }
    if (x.org_ref != NULL && !iati_valid_ref(x.org_ref)) {
        rc = ctl_usage_error(ctx->cmd, "--org-ref: \"%s\" is not an IATI organisation "
                                       "identifier (letters, digits, - . _ :)", x.org_ref);
        goto out;
    }
    if ((rc = iati_caller_donor(ctx, &mine)) != 0)
        goto out;
    if (mine != NULL && donor != NULL && strcmp(mine, donor) != 0) {
        fprintf(stderr, "%s: export iati: you act for %s; a DONOR exports only its own "
                        "activities, not those of %s\n", CTL_PROG, mine, donor);
        rc = CTL_EXIT_DENIED;
        goto out;
    }
    if (donor == NULL && mine != NULL) {
        donor = mine;
        mine = NULL;
    }
    if (x.org_ref != NULL && donor == NULL) {
        rc = ctl_usage_error(ctx->cmd, "--org-ref names one donor's identifier: give --donor");
        goto out;
    }
    if ((donor != NULL && (rc = iati_check_donor(ctx, donor)) != 0) ||
        (rc = iati_load(ctx, &x, donor)) != 0)
        goto out;
    iati_commitments(&x.matches);
    if (x.matches.n == 0) {
        /* An IATI file holds at least one activity: an empty one is invalid. */
        rc = ctl_fail("export iati: nothing to export: %s%s has no approved match you may see",
                      donor != NULL ? "" : "the mechanism", donor != NULL ? donor : "");
        goto out;
    }
    if (x.org_ref == NULL)
        fprintf(stderr, "%s: export iati: reporting-org refs are TALLINN-<DONOR>; give "
                        "--org-ref with the donor's registered IATI organisation identifier "
                        "before publishing\n", CTL_PROG);
    rc = iati_write(ctx, &x);
out:
    iati_list_free(&x.matches);
    iati_list_free(&x.donors);
    iati_list_free(&x.needs);
    free(donor);
    free(mine);
    return rc;
}
