/* donors.c — DonorService: donor states, their companies and NGOs, observers,
 * and the pledges donors make. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/validate.h"

#define KIND(x) TALLINN__V1__DONOR__KIND__KIND_##x
#define MEMBER TALLINN__V1__DONOR__MEMBERSHIP__MEMBERSHIP_MEMBER
#define PS(x) TALLINN__V1__PLEDGE__STATE__STATE_##x

/* What UpdateDonor and UpdatePledge may change (donor.proto); kind and
 * parent are set on create only. */
static const char *const donor_mutable[] = {
    "display_name", "country_code", "membership", "capabilities", "contact_email", NULL,
};
static const char *const pledge_mutable[] = {"amount",        "fiscal_year", "source", "state",
                                             "exchange_rate", NULL};

/* The pledge life cycle (donor.proto): the states UpdatePledge may move a
 * pledge to from each state. Naming the current state again is no move. */
static const unsigned pledge_moves[] = {
    [PS(ANNOUNCED)] = (1u << PS(COMMITTED)) | (1u << PS(WITHDRAWN)),
    [PS(COMMITTED)] = 1u << PS(WITHDRAWN),
    [PS(WITHDRAWN)] = 0, /* final */
};



/* ---- Donors ---- */

/* At most VALIDATE_CAPABILITIES_MAX entries, each a Category value, none
 * twice. Over the limit the entries are not looked at (a request may carry
 * millions); duplicates are found in one pass, by value. */
static void check_capabilities(rpc_call *call, const Tallinn__V1__Donor *d)
{
    const ProtobufCEnumDescriptor *cat = &tallinn__v1__category__descriptor;
    size_t *first; /* per Category value (by its index): 1 + where first seen */

    if (d->n_capabilities > VALIDATE_CAPABILITIES_MAX) {
        api_violation(call, "donor.capabilities", "at most %d entries, not %zu",
                      VALIDATE_CAPABILITIES_MAX, d->n_capabilities);
        return;
    }
    if (d->n_capabilities == 0 || (first = rpc_call_alloc(call, cat->n_values * sizeof(*first))) == NULL)
        return;
    for (size_t i = 0; i < d->n_capabilities; i++) {
        const ProtobufCEnumValue *v;
        char f[48];
        snprintf(f, sizeof(f), "donor.capabilities[%zu]", i);
        if (!api_check_enum(call, f, cat, d->capabilities[i], 1))
            continue;
        v = protobuf_c_enum_descriptor_get_value(cat, d->capabilities[i]);
        if (first[v - cat->values] != 0)
            api_violation(call, f, "duplicate of donor.capabilities[%zu]", first[v - cat->values] - 1);
        else
            first[v - cat->values] = i + 1;
    }
}

static void check_donor(rpc_call *call, const Tallinn__V1__Donor *d)
{
    api_check_text(call, "donor.display_name", d->display_name, VALIDATE_DISPLAY_NAME_MAX,
                   VALIDATE_TEXT_REQUIRED);
    api_check_enum(call, "donor.kind", &tallinn__v1__donor__kind__descriptor, d->kind, 1);
    api_check_enum(call, "donor.membership", &tallinn__v1__donor__membership__descriptor,
                   d->membership, 1);
    /* An international organisation (EU, NATO) has no ISO country of its own. */
    if ((d->kind != KIND(INTERNATIONAL_ORGANIZATION) || d->country_code[0] != '\0') &&
        validate_country_code(d->country_code, strlen(d->country_code)) != VALIDATE_OK)
        api_violation(call, "donor.country_code",
                      "\"%.8s\" is not an ISO 3166-1 alpha-2 country code (e.g. EE, PL, US)",
                      d->country_code);
    check_capabilities(call, d);
    if (d->contact_email[0] != '\0' &&
        validate_email(d->contact_email, strlen(d->contact_email)) != VALIDATE_OK)
        api_violation(call, "donor.contact_email", "not an e-mail address");
    if (d->kind == KIND(COMPANY) || d->kind == KIND(NGO)) {
        if (d->parent[0] == '\0')
            api_violation(call, "donor.parent",
                          "required for a company or NGO: the donor state it comes with");
        else
            api_check_name(call, "donor.parent", "donors/{donor}", d->parent);
    } else if (d->parent[0] != '\0') {
        api_violation(call, "donor.parent", "only a company or NGO has a parent");
    }
}

/* The parent must exist and be a STATE donor. */
static grpc_status_code check_parent(store_tx *tx, rpc_call *call, const Tallinn__V1__Donor *d)
{
    ProtobufCMessage *m;
    int rc;

    if (d->parent[0] == '\0')
        return GRPC_STATUS_OK;
    rc = api_get(tx, call, STORE_DONOR, d->parent, &m);
    if (rc == STORE_NOT_FOUND) {
        api_violation(call, "donor.parent", "%s does not exist", d->parent);
        return api_violations_status(call, "donor");
    }
    if (rc != STORE_OK)
        return api_store_error(call, rc);
    if (((Tallinn__V1__Donor *)m)->kind != KIND(STATE)) {
        api_violation(call, "donor.parent", "%s is not a donor state", d->parent);
        return api_violations_status(call, "donor");
    }
    return GRPC_STATUS_OK;
}

static int by_value(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Capabilities are kept in ascending order (the contract says so), in a
 * copy on the call: the request's own array is not ours to reorder. */
static void sort_capabilities(rpc_call *call, Tallinn__V1__Donor *d)
{
    Tallinn__V1__Category *c;

    if (d->n_capabilities == 0)
        return;
    c = rpc_call_alloc(call, d->n_capabilities * sizeof(*c));
    if (c == NULL)
        return;
    memcpy(c, d->capabilities, d->n_capabilities * sizeof(*c));
    qsort(c, d->n_capabilities, sizeof(*c), by_value);
    d->capabilities = c;
}

static grpc_status_code create_donor_job(store_tx *tx, api_job *job)
{
    Tallinn__V1__Donor *d = job->arg;
    grpc_status_code code = check_parent(tx, job->call, d);

    return code != GRPC_STATUS_OK ? code : api_save(tx, job, STORE_DONOR, &d->base, 1);
}

static grpc_status_code create_donor(rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__CreateDonorRequest *in = (const void *)req;
    Tallinn__V1__Donor *d;
    const char *id = in->donor_id;
    char gen[16];
    grpc_status_code code;

    if (in->donor == NULL) {
        api_violation(call, "donor", "required");
        return api_violations_status(call, "request");
    }
    check_donor(call, in->donor);
    visibility_check_id(call, STORE_DONOR, "donor_id", in->donor_id);
    api_check_request_id(call, in->request_id);
    if ((code = api_violations_status(call, "donor")) != GRPC_STATUS_OK)
        return code;
    if ((d = rpc_call_alloc(call, sizeof(*d))) == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__donor__init(d);
    api_copy_field(&d->base, &in->donor->base, "kind");
    api_copy_field(&d->base, &in->donor->base, "parent");
    for (const char *const *f = donor_mutable; *f != NULL; f++)
        api_copy_field(&d->base, &in->donor->base, *f);
    if (id[0] == '\0') {
        api_new_id(gen);
        id = gen;
    }
    d->name = api_name(call, "donors", id);
    sort_capabilities(call, d);
    return api_write(call, ctx, in->request_id, create_donor_job, d, resp);
}

/* A DONOR principal sees another donor's record without its contact e-mail. */
void donors_redact(const api_caller *caller, Tallinn__V1__Donor *d)
{
    if (caller->role == API_ROLE_DONOR &&
        (caller->donor == NULL || strcmp(caller->donor, d->name) != 0))
        d->contact_email = (char *)protobuf_c_empty_string;
}

static grpc_status_code get_one(rpc_call *call, api *a, store_kind kind, const char *pattern,
                                const char *name, ProtobufCMessage **resp)
{
    store_tx *tx;
    grpc_status_code code;
    int rc;

    if (!api_check_name(call, "name", pattern, name))
        return api_violations_status(call, "request");
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    /* another donor's pledge is, for a donor, not there */
    code = visibility_load(tx, call, kind, name, NULL, resp);
    store_read_end(tx);
    if (code == GRPC_STATUS_OK && kind == STORE_DONOR)
        donors_redact(api_caller_of(call), (Tallinn__V1__Donor *)*resp);
    return code;
}

static grpc_status_code get_donor(rpc_call *call, const ProtobufCMessage *req,
                                  ProtobufCMessage **resp, void *ctx)
{
    return get_one(call, ctx, STORE_DONOR, "donors/{donor}",
                   ((const Tallinn__V1__GetDonorRequest *)req)->name, resp);
}

static grpc_status_code list_donors(rpc_call *call, const ProtobufCMessage *req,
                                    ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__ListDonorsRequest *in = (const void *)req;
    api_list_req lr = {
        .kind = STORE_DONOR, .collection = "donors", .parent = "",
        .page_size = in->page_size, .page_token = in->page_token,
        .filter = in->filter, .order_by = in->order_by,
    };
    grpc_status_code code =
        api_list_response(call, ctx, &lr, &tallinn__v1__list_donors_response__descriptor, resp);

    if (code == GRPC_STATUS_OK) {
        Tallinn__V1__ListDonorsResponse *out = (Tallinn__V1__ListDonorsResponse *)*resp;
        for (size_t i = 0; i < out->n_donors; i++)
            donors_redact(api_caller_of(call), out->donors[i]);
    }
    return code;
}

static grpc_status_code update_donor_job(store_tx *tx, api_job *job)
{
    const Tallinn__V1__UpdateDonorRequest *in = job->arg;
    rpc_call *call = job->call;
    ProtobufCMessage *m;
    Tallinn__V1__Donor *d;
    int was_member;
    grpc_status_code code;

    if ((code = visibility_load(tx, call, STORE_DONOR, in->donor->name, in->donor->etag, &m)) !=
        GRPC_STATUS_OK)
        return code;
    d = (Tallinn__V1__Donor *)m;
    was_member = d->membership == MEMBER;
    if ((code = api_apply_mask(call, m, &in->donor->base, in->update_mask, donor_mutable,
                               "donor")) != GRPC_STATUS_OK)
        return code;
    check_donor(call, d);
    if ((code = api_violations_status(call, "donor")) != GRPC_STATUS_OK)
        return code;
    sort_capabilities(call, d);
    if ((code = check_parent(tx, call, d)) != GRPC_STATUS_OK)
        return code;
    if (was_member && d->membership != MEMBER) {
        /* An observer never pledges: refuse while it still has live pledges. */
        int64_t live = 0;
        int rc = store_pledge_count(tx, d->name, 1u << PS(WITHDRAWN), &live);
        if (rc != STORE_OK)
            return api_store_error(call, rc);
        if (live > 0)
            return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                                  "%s has %lld pledge(s) not withdrawn; an observer never "
                                  "pledges: withdraw them first (state WITHDRAWN; tallinnctl: "
                                  "pledges update --state WITHDRAWN)", d->name, (long long)live);
    }
    return api_save(tx, job, STORE_DONOR, m, 0);
}

static grpc_status_code update_donor(rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__UpdateDonorRequest *in = (const void *)req;
    grpc_status_code code;

    if (in->donor == NULL) {
        api_violation(call, "donor", "required");
        return api_violations_status(call, "request");
    }
    if (!api_check_name(call, "donor.name", "donors/{donor}", in->donor->name))
        return api_violations_status(call, "request");
    if ((code = api_check_mask(call, &tallinn__v1__donor__descriptor, in->update_mask,
                               donor_mutable, "donor")) != GRPC_STATUS_OK)
        return code;
    return api_write(call, ctx, NULL, update_donor_job, (void *)in, resp);
}

/* ---- Pledges ---- */

static void check_pledge(rpc_call *call, const api *a, const Tallinn__V1__Pledge *p)
{
    api_check_money(call, a, "pledge.amount", p->amount,
                    VALIDATE_MONEY_POSITIVE | VALIDATE_MONEY_ANY_CURRENCY, NULL);
    if (p->fiscal_year < VALIDATE_FISCAL_YEAR_MIN || p->fiscal_year > VALIDATE_FISCAL_YEAR_MAX)
        api_violation(call, "pledge.fiscal_year", "must be a year from %d to %d",
                      VALIDATE_FISCAL_YEAR_MIN, VALIDATE_FISCAL_YEAR_MAX);
    api_check_text(call, "pledge.source", p->source, VALIDATE_SOURCE_MAX,
                   VALIDATE_TEXT_MULTILINE);
    api_check_enum(call, "pledge.state", &tallinn__v1__pledge__state__descriptor, p->state, 0);
}

typedef struct create_pledge_arg {
    const char *donor;
    Tallinn__V1__Pledge *pledge;
} create_pledge_arg;

static int mask_names(const Google__Protobuf__FieldMask *mask, const char *field)
{
    for (size_t i = 0; mask != NULL && i < mask->n_paths; i++)
        if (strcmp(mask->paths[i], field) == 0)
            return 1;
    return 0;
}

/* Values the pledge's amount in the accounting currency (docs/reporting.md):
 * at `given` or the kept rate of today, fixed when the pledge is COMMITTED
 * (and the kept rate then used). Sets accounting_amount, exchange_rate,
 * value_date, value_fixed and available. */
static grpc_status_code value_pledge(store_tx *tx, api_job *job, Tallinn__V1__Pledge *p,
                                     const Tallinn__V1__ExchangeRate *given)
{
    int fix = p->state == PS(COMMITTED) && !p->value_fixed;
    rates_value v;
    grpc_status_code code;

    if ((code = rates_value_amount(tx, job, "pledge.amount", p->amount, given, fix, &v)) !=
        GRPC_STATUS_OK)
        return code;
    p->accounting_amount = v.accounting;
    p->exchange_rate = v.rate;
    p->value_date = v.value_date;
    p->value_fixed = fix;
    return GRPC_STATUS_OK;
}

static grpc_status_code create_pledge_job(store_tx *tx, api_job *job)
{
    create_pledge_arg *arg = job->arg;
    Tallinn__V1__Pledge *p = arg->pledge;
    ProtobufCMessage *m;
    grpc_status_code code;

    if ((code = visibility_load(tx, job->call, STORE_DONOR, arg->donor, NULL, &m)) != GRPC_STATUS_OK)
        return code;
    if (((Tallinn__V1__Donor *)m)->membership != MEMBER)
        return rpc_call_error(job->call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s is an observer: observers never pledge", arg->donor);
    if ((code = value_pledge(tx, job, p, p->exchange_rate)) != GRPC_STATUS_OK)
        return code;
    p->allocated = api_money(job->call, job->api, 0);
    p->available = api_money(job->call, job->api, api_nanos(p->accounting_amount));
    return api_save(tx, job, STORE_PLEDGE, &p->base, 1);
}

static grpc_status_code create_pledge(rpc_call *call, const ProtobufCMessage *req,
                                      ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__CreatePledgeRequest *in = (const void *)req;
    api *a = ctx;
    Tallinn__V1__Pledge *p;
    create_pledge_arg arg;
    const char *id = in->pledge_id;
    char gen[16];
    grpc_status_code code;

    api_check_name(call, "parent", "donors/{donor}", in->parent);
    if (in->pledge == NULL)
        api_violation(call, "pledge", "required");
    else if (check_pledge(call, a, in->pledge), in->pledge->amount != NULL)
        rates_check_given(call, a, "pledge.exchange_rate", in->pledge->exchange_rate,
                          in->pledge->amount);
    visibility_check_id(call, STORE_PLEDGE, "pledge_id", in->pledge_id);
    api_check_request_id(call, in->request_id);
    if ((code = api_violations_status(call, "pledge")) != GRPC_STATUS_OK)
        return code;
    if (in->pledge->state == PS(WITHDRAWN))
        return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "a new pledge is ANNOUNCED or COMMITTED, not WITHDRAWN");
    if ((p = rpc_call_alloc(call, sizeof(*p))) == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__pledge__init(p);
    for (const char *const *f = pledge_mutable; *f != NULL; f++)
        api_copy_field(&p->base, &in->pledge->base, *f);
    if (p->state == PS(UNSPECIFIED))
        p->state = PS(ANNOUNCED);
    if (id[0] == '\0') {
        api_new_id(gen);
        id = gen;
    }
    {
        char prefix[VALIDATE_NAME_MAX + 16];
        snprintf(prefix, sizeof(prefix), "%s/pledges", in->parent);
        p->name = api_name(call, prefix, id);
    }
    arg.donor = in->parent;
    arg.pledge = p;
    return api_write(call, a, in->request_id, create_pledge_job, &arg, resp);
}

static grpc_status_code get_pledge(rpc_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp, void *ctx)
{
    return get_one(call, ctx, STORE_PLEDGE, "donors/{donor}/pledges/{pledge}",
                   ((const Tallinn__V1__GetPledgeRequest *)req)->name, resp);
}

static grpc_status_code list_pledges(rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__ListPledgesRequest *in = (const void *)req;
    const api_caller *caller = api_caller_of(call);
    int all = strcmp(in->parent, "donors/-") == 0;
    /* A donor sees its own pledges only: the scope is its donor, whatever
     * parent it asks for (another donor's collection is simply empty). */
    int own = caller->role == API_ROLE_DONOR;
    const char *mine = caller->donor != NULL ? caller->donor : "";
    /* No donor is named "": another donor's collection lists as empty,
     * after the same validation as any list. */
    int scoped = own || !all;
    api_list_req lr = {
        .kind = STORE_PLEDGE, .collection = "pledges", .parent = in->parent,
        .page_size = in->page_size, .page_token = in->page_token,
        .filter = in->filter, .order_by = in->order_by,
        .scope = {.kind = scoped ? STORE_SCOPE_OF_DONOR : STORE_SCOPE_ALL,
                  .donor = !own ? in->parent
                                : (all || strcmp(in->parent, mine) == 0) ? mine : ""},
    };

    if (!all && !api_check_name(call, "parent", "donors/{donor}", in->parent))
        return api_violations_status(call, "request");
    return api_list_response(call, ctx, &lr, &tallinn__v1__list_pledges_response__descriptor, resp);
}

static const char *pledge_state(int s)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&tallinn__v1__pledge__state__descriptor, s);
    return v != NULL ? v->name + strlen("STATE_") : "UNKNOWN";
}

/* FAILED_PRECONDITION, naming the current state, for a change of state the
 * life cycle does not have. */
static grpc_status_code check_pledge_move(rpc_call *call, const Tallinn__V1__Pledge *p, int was)
{
    const size_t n = sizeof(pledge_moves) / sizeof(pledge_moves[0]);
    int to = (int)p->state;
    char can[64] = "";
    size_t used = 0;

    if (to == was || (was >= 0 && (size_t)was < n && to >= 0 && to < 32 &&
                      (pledge_moves[was] & (1u << to)) != 0))
        return GRPC_STATUS_OK;
    rpc_call_set_error_info(call, "INVALID_STATE", "tallinn.v1");
    if (was == PS(WITHDRAWN))
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s is WITHDRAWN, which is final: a withdrawn pledge cannot come "
                              "back; create a new one", p->name);
    for (int s = 0; s < 32 && was >= 0 && (size_t)was < n; s++)
        if (pledge_moves[was] & (1u << s)) {
            int k = snprintf(can + used, sizeof(can) - used, "%s%s", used ? " or " : "",
                             pledge_state(s));
            used += k > 0 && (size_t)k < sizeof(can) - used ? (size_t)k : 0;
        }
    return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                          "%s is %s; an update can make it %s, not %s", p->name,
                          pledge_state(was), can[0] ? can : "nothing else", pledge_state(to));
}

/* What values a pledge again in an update (docs/reporting.md): committing
 * it fixes the value at the rate given with the call or the kept rate of the
 * day; before that, a rate given with the call replaces the provisional one;
 * a new amount is valued at the rate the pledge has (fixed or not). */
static grpc_status_code revalue_pledge(store_tx *tx, api_job *job,
                                       const Google__Protobuf__FieldMask *mask,
                                       Tallinn__V1__Pledge *p, int was, int fixed,
                                       Tallinn__V1__ExchangeRate *rate)
{
    int commits = !fixed && was != PS(COMMITTED) && p->state == PS(COMMITTED);
    int new_rate = mask_names(mask, "exchange_rate");
    Tallinn__V1__Date *day = p->value_date;
    grpc_status_code code;

    if (!commits && !new_rate && !mask_names(mask, "amount"))
        return GRPC_STATUS_OK;
    code = value_pledge(tx, job, p, new_rate ? p->exchange_rate : commits ? NULL : rate);
    if (code == GRPC_STATUS_OK && !commits && !new_rate) {
        p->exchange_rate = rate; /* the same rate, its record (and name) kept */
        p->value_date = day;
        p->value_fixed = fixed;
    }
    return code;
}

static grpc_status_code update_pledge_job(store_tx *tx, api_job *job)
{
    const Tallinn__V1__UpdatePledgeRequest *in = job->arg;
    rpc_call *call = job->call;
    ProtobufCMessage *m;
    Tallinn__V1__Pledge *p;
    store_sum allocated;
    Tallinn__V1__ExchangeRate *rate;
    const char *was_cur;
    int was, fixed;
    grpc_status_code code;
    int rc;

    if ((code = visibility_load(tx, call, STORE_PLEDGE, in->pledge->name, in->pledge->etag, &m)) !=
        GRPC_STATUS_OK)
        return code;
    p = (Tallinn__V1__Pledge *)m;
    was = p->state;
    was_cur = p->amount != NULL ? p->amount->currency_code : "";
    fixed = p->value_fixed;
    rate = p->exchange_rate;
    if ((code = api_apply_mask(call, m, &in->pledge->base, in->update_mask, pledge_mutable,
                               "pledge")) != GRPC_STATUS_OK)
        return code;
    check_pledge(call, job->api, p);
    if (p->amount != NULL && strcmp(p->amount->currency_code, was_cur) != 0)
        api_violation(call, "pledge.amount", "the pledge is in %s: its currency is fixed on create",
                      was_cur);
    else if (mask_names(in->update_mask, "exchange_rate"))
        rates_check_given(call, job->api, "pledge.exchange_rate", p->exchange_rate, p->amount);
    if ((code = api_violations_status(call, "pledge")) != GRPC_STATUS_OK)
        return code;
    if ((code = check_pledge_move(call, p, was)) != GRPC_STATUS_OK)
        return code;
    if (fixed && mask_names(in->update_mask, "exchange_rate"))
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s was committed: its exchange rate was fixed then", p->name);
    if ((code = revalue_pledge(tx, job, in->update_mask, p, was, fixed, rate)) != GRPC_STATUS_OK)
        return code;
    if ((rc = ledger_pledge_refresh(tx, p, job->api->currency, rpc_call_allocator(call),
                                    &allocated)) != 0)
        return api_ledger_error(call, rc, GRPC_STATUS_FAILED_PRECONDITION, "the pledge's allocation");
    if (p->state == PS(WITHDRAWN) && was != PS(WITHDRAWN) && allocated > 0)
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s has approved matches: withdraw them before the pledge "
                              "(WithdrawMatch; tallinnctl: matches withdraw)", p->name);
    if (ledger_value(p->accounting_amount, p->amount) < allocated) {
        char buf[LEDGER_FORMAT_MAX], val[LEDGER_FORMAT_MAX];
        ledger_format(allocated, job->api->currency, buf, sizeof(buf));
        ledger_format(ledger_value(p->accounting_amount, p->amount), job->api->currency, val,
                      sizeof(val));
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s already has %s allocated to approved matches; its value (%s) "
                              "cannot go below that", p->name, buf, val);
    }
    return api_save(tx, job, STORE_PLEDGE, m, 0);
}

static grpc_status_code update_pledge(rpc_call *call, const ProtobufCMessage *req,
                                      ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__UpdatePledgeRequest *in = (const void *)req;
    grpc_status_code code;

    if (in->pledge == NULL) {
        api_violation(call, "pledge", "required");
        return api_violations_status(call, "request");
    }
    if (!api_check_name(call, "pledge.name", "donors/{donor}/pledges/{pledge}", in->pledge->name))
        return api_violations_status(call, "request");
    if ((code = api_check_mask(call, &tallinn__v1__pledge__descriptor, in->update_mask,
                               pledge_mutable, "pledge")) != GRPC_STATUS_OK)
        return code;
    for (size_t i = 0; i < in->update_mask->n_paths; i++)
        if (strcmp(in->update_mask->paths[i], "state") == 0 &&
            in->pledge->state == PS(UNSPECIFIED))
            api_violation(call, "pledge.state",
                          "required when update_mask names state: ANNOUNCED, COMMITTED or "
                          "WITHDRAWN");
    if ((code = api_violations_status(call, "pledge")) != GRPC_STATUS_OK)
        return code;
    return api_write(call, ctx, NULL, update_pledge_job, (void *)in, resp);
}

int donors_register(rpc_server *srv, api *a)
{
    static const rpc_method_handler handlers[] = {
        {"CreateDonor", create_donor},   {"GetDonor", get_donor},
        {"ListDonors", list_donors},     {"UpdateDonor", update_donor},
        {"CreatePledge", create_pledge}, {"GetPledge", get_pledge},
        {"ListPledges", list_pledges},   {"UpdatePledge", update_pledge},
    };
    return rpc_server_add_service(srv, &tallinn__v1__donor_service__descriptor, handlers,
                                  sizeof(handlers) / sizeof(handlers[0]), a);
}
