/* matches.c — MatchService: a donor's offer against a need, its approval by
 * the coordination group, its delivery; the money guards; suggestions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/validate.h"

#define M(x) TALLINN__V1__MATCH__STATE__STATE_##x
#define MBIT(x) (1u << M(x))
#define NEED_OPEN TALLINN__V1__NEED__STATE__STATE_OPEN
#define MEMBER TALLINN__V1__DONOR__MEMBERSHIP__MEMBERSHIP_MEMBER
#define SUGGEST_DEFAULT 10 /* match.proto: 0 means 10 */
#define SUGGEST_MAX 100    /* match.proto: larger means 100 */
#define SUGGEST_DONORS_MAX 10000

/* An enum value's name without its prefix: STATE_OPEN -> OPEN. */
static const char *enum_short(const ProtobufCEnumDescriptor *d, int v, const char *prefix)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    size_t n = strlen(prefix);

    if (e == NULL)
        return "UNKNOWN";
    return strncmp(e->name, prefix, n) == 0 ? e->name + n : e->name;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    return enum_short(d, v, "STATE_");
}

static const char *match_state(int s)
{
    return enum_name(&tallinn__v1__match__state__descriptor, s);
}

static const char *money_text(rpc_call *call, const api *a, store_sum nanos)
{
    char *buf = rpc_call_alloc(call, LEDGER_FORMAT_MAX);

    if (buf == NULL)
        return "?";
    ledger_format(nanos, a->currency, buf, LEDGER_FORMAT_MAX);
    return buf;
}


static grpc_status_code save(store_tx *tx, api_job *job, Tallinn__V1__Match *x, int insert)
{
    return api_save(tx, job, STORE_MATCH, &x->base, insert);
}

/* The donor must be a member; the need must be OPEN. */
static grpc_status_code check_parties(store_tx *tx, rpc_call *call, const Tallinn__V1__Match *x,
                                      Tallinn__V1__Need **need)
{
    ProtobufCMessage *m;
    grpc_status_code code;

    if ((code = api_load(tx, call, STORE_NEED, x->need, &m)) != GRPC_STATUS_OK)
        return code;
    *need = (Tallinn__V1__Need *)m;
    if ((*need)->state != NEED_OPEN)
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s is %s; matches are made and approved only on OPEN needs",
                              x->need,
                              enum_name(&tallinn__v1__need__state__descriptor, (*need)->state));
    if ((code = api_load(tx, call, STORE_DONOR, x->donor, &m)) != GRPC_STATUS_OK)
        return code;
    if (((Tallinn__V1__Donor *)m)->membership != MEMBER)
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s is an observer: observers are never matched", x->donor);
    return GRPC_STATUS_OK;
}

/* ---- Create, Get, List ---- */

static grpc_status_code create_job(store_tx *tx, api_job *job)
{
    Tallinn__V1__Match *x = job->arg;
    rpc_call *call = job->call;
    Tallinn__V1__Need *need;
    ProtobufCMessage *m;
    grpc_status_code code;

    /* What the caller named, as it may see it: a need a donor may not know
     * of is, for it, not there. */
    if ((code = visibility_load(tx, call, STORE_NEED, x->need, NULL, &m)) != GRPC_STATUS_OK)
        return code;
    if ((code = check_parties(tx, call, x, &need)) != GRPC_STATUS_OK)
        return code;
    if ((code = visibility_load(tx, call, STORE_PLEDGE, x->pledge, NULL, &m)) != GRPC_STATUS_OK)
        return code;
    if (((Tallinn__V1__Pledge *)m)->state == TALLINN__V1__PLEDGE__STATE__STATE_WITHDRAWN)
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION, "%s is WITHDRAWN", x->pledge);
    {
        /* The money comes from the pledge: in its currency. */
        const Tallinn__V1__Money *pa = ((Tallinn__V1__Pledge *)m)->amount;
        const char *pc = pa != NULL && pa->currency_code != NULL ? pa->currency_code : "";
        if (strcmp(pc, x->amount->currency_code) != 0) {
            api_violation(call, "match.amount", "%s is in %s: a match from it is in %s too",
                          x->pledge, pc, pc);
            return api_violations_status(call, "match");
        }
    }
    if (x->implementer[0] != '\0') {
        Tallinn__V1__Donor *impl;
        if ((code = visibility_load(tx, call, STORE_DONOR, x->implementer, NULL, &m)) !=
            GRPC_STATUS_OK)
            return code;
        impl = (Tallinn__V1__Donor *)m;
        if ((impl->kind != TALLINN__V1__DONOR__KIND__KIND_COMPANY &&
             impl->kind != TALLINN__V1__DONOR__KIND__KIND_NGO) ||
            strcmp(impl->parent, x->donor) != 0) {
            api_violation(call, "match.implementer", "%s is not a company or NGO of %s",
                          x->implementer, x->donor);
            return api_violations_status(call, "match");
        }
    }
    {
        /* A provisional value until approval fixes it. */
        rates_value v;
        if ((code = rates_value_amount(tx, job, "match.amount", x->amount, x->exchange_rate, 0,
                                       &v)) != GRPC_STATUS_OK)
            return code;
        x->accounting_amount = v.accounting;
        x->exchange_rate = v.rate;
        x->value_date = v.value_date;
        x->value_fixed = 0;
    }
    return save(tx, job, x, 1);
}

static grpc_status_code create_match(rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__CreateMatchRequest *in = (const void *)req;
    const api_caller *caller = api_caller_of(call);
    api *a = ctx;
    Tallinn__V1__Match *x;
    const char *id = in->match_id;
    char gen[16];
    grpc_status_code code;

    if (in->match == NULL) {
        api_violation(call, "match", "required");
        return api_violations_status(call, "request");
    }
    api_check_name(call, "match.need", "needs/{need}", in->match->need);
    api_check_name(call, "match.donor", "donors/{donor}", in->match->donor);
    if (api_check_name(call, "match.pledge", "donors/{donor}/pledges/{pledge}", in->match->pledge)) {
        size_t dl = strlen(in->match->donor);
        if (strncmp(in->match->pledge, in->match->donor, dl) != 0 ||
            strncmp(in->match->pledge + dl, "/pledges/", 9) != 0)
            api_violation(call, "match.pledge", "%s is not a pledge of %s", in->match->pledge,
                          in->match->donor);
    }
    if (api_check_money(call, a, "match.amount", in->match->amount,
                        VALIDATE_MONEY_POSITIVE | VALIDATE_MONEY_ANY_CURRENCY, NULL))
        rates_check_given(call, a, "match.exchange_rate", in->match->exchange_rate,
                          in->match->amount);
    api_check_text(call, "match.description", in->match->description, VALIDATE_DESCRIPTION_MAX,
                   VALIDATE_TEXT_REQUIRED | VALIDATE_TEXT_MULTILINE);
    if (in->match->implementer[0] != '\0')
        api_check_name(call, "match.implementer", "donors/{donor}", in->match->implementer);
    visibility_check_id(call, STORE_MATCH, "match_id", in->match_id);
    api_check_request_id(call, in->request_id);
    if ((code = api_violations_status(call, "match")) != GRPC_STATUS_OK)
        return code;
    if (caller->role == API_ROLE_DONOR &&
        (caller->donor == NULL || strcmp(caller->donor, in->match->donor) != 0))
        return rpc_call_error(call, GRPC_STATUS_PERMISSION_DENIED,
                              "a donor proposes matches only for itself (%s)",
                              caller->donor != NULL ? caller->donor : "none");

    if ((x = rpc_call_alloc(call, sizeof(*x))) == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__match__init(x);
    x->need = in->match->need;
    x->donor = in->match->donor;
    x->pledge = in->match->pledge;
    x->amount = in->match->amount;
    x->exchange_rate = in->match->exchange_rate;
    x->description = in->match->description;
    x->implementer = in->match->implementer;
    x->proposer = (char *)caller->principal;
    x->state = M(PROPOSED);
    if (id[0] == '\0') {
        api_new_id(gen);
        id = gen;
    }
    x->name = api_name(call, "matches", id);
    return api_write(call, a, in->request_id, create_job, x, resp);
}

static grpc_status_code get_match(rpc_call *call, const ProtobufCMessage *req,
                                  ProtobufCMessage **resp, void *ctx)
{
    const char *name = ((const Tallinn__V1__GetMatchRequest *)req)->name;
    api *a = ctx;
    store_tx *tx;
    grpc_status_code code;
    int rc;

    if (!api_check_name(call, "name", "matches/{match}", name))
        return api_violations_status(call, "request");
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    /* another donor's match is, for this one, not there */
    code = visibility_load(tx, call, STORE_MATCH, name, NULL, resp);
    store_read_end(tx);
    return code;
}

static grpc_status_code list_matches(rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__ListMatchesRequest *in = (const void *)req;
    const api_caller *caller = api_caller_of(call);
    int own = caller->role == API_ROLE_DONOR;
    api_list_req lr = {
        .kind = STORE_MATCH, .collection = "matches", .parent = "",
        .page_size = in->page_size, .page_token = in->page_token,
        .filter = in->filter, .order_by = in->order_by,
        .scope = {.kind = own ? STORE_SCOPE_OF_DONOR : STORE_SCOPE_ALL,
                  .donor = caller->donor != NULL ? caller->donor : ""},
    };

    grpc_status_code code =
        api_list_response(call, ctx, &lr, &tallinn__v1__list_matches_response__descriptor, resp);

    /* Lists leave the delivery evidence out (up to 32 steps of 16 documents
     * each would make a page of 1,000 matches far too large): GetMatch
     * returns it. */
    if (code == GRPC_STATUS_OK) {
        Tallinn__V1__ListMatchesResponse *out = (Tallinn__V1__ListMatchesResponse *)*resp;
        for (size_t i = 0; i < out->n_matches; i++) {
            out->matches[i]->n_delivery_evidence = 0;
            out->matches[i]->delivery_evidence = NULL;
        }
    }
    return code;
}

/* ---- The workflow ---- */


static const api_transition transitions[] = {
    {"ApproveMatch", MBIT(PROPOSED), M(APPROVED), 0, "PROPOSED", "matches approve"},
    {"DeclineMatch", MBIT(PROPOSED), M(DECLINED), 1, "PROPOSED", "matches decline"},
    {"WithdrawMatch", MBIT(PROPOSED) | MBIT(APPROVED), M(WITHDRAWN), 1, "PROPOSED or APPROVED",
     "matches withdraw"},
    {"StartDelivery", MBIT(APPROVED), M(IN_DELIVERY), 0, "APPROVED", "matches start-delivery"},
    {"MarkDelivered", MBIT(IN_DELIVERY), M(DELIVERED), 0, "IN_DELIVERY", "matches delivered"},
    {"AcceptDelivery", MBIT(DELIVERED), M(ACCEPTED), 0, "DELIVERED", "matches accept"},
    {"RejectDelivery", MBIT(DELIVERED), M(IN_DELIVERY), 1, "DELIVERED", "matches reject-delivery"},
};

typedef struct transition_arg {
    api_transition_req r;
    int allow_overfunding;
    const Tallinn__V1__ExchangeRate *rate; /* ApproveMatch: a rate given with the call */
    delivery_req evidence; /* the delivery steps: note and documents */
} transition_arg;

/* ApproveMatch's money guards, inside the same transaction as the write:
 * concurrent approvals are serialised by the single writer, so a pledge can
 * never be overspent. */
static grpc_status_code approve_guards(store_tx *tx, api_job *job, Tallinn__V1__Match *x,
                                       const transition_arg *arg)
{
    rpc_call *call = job->call;
    const api *a = job->api;
    Tallinn__V1__Need *need;
    Tallinn__V1__Pledge *p;
    ProtobufCMessage *m;
    ledger_approval g;
    grpc_status_code code;
    int rc;

    if ((code = check_parties(tx, call, x, &need)) != GRPC_STATUS_OK)
        return code;
    if ((code = api_load(tx, call, STORE_PLEDGE, x->pledge, &m)) != GRPC_STATUS_OK)
        return code;
    p = (Tallinn__V1__Pledge *)m;
    if (p->state == TALLINN__V1__PLEDGE__STATE__STATE_WITHDRAWN)
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION, "%s is WITHDRAWN", p->name);
    /* The value is fixed now: at the rate given, or the kept rate of today. */
    if (!rates_check_given(call, a, "exchange_rate", arg->rate, x->amount))
        return api_violations_status(call, "request");
    {
        rates_value v;
        if ((code = rates_value_amount(tx, job, "exchange_rate", x->amount, arg->rate, 1, &v)) !=
            GRPC_STATUS_OK)
            return code;
        x->accounting_amount = v.accounting;
        x->exchange_rate = v.rate;
        x->value_date = v.value_date;
        x->value_fixed = 1;
        x->approve_time = api_now(call);
    }
    if ((rc = ledger_approval_check(tx, need, p, ledger_nanos(x->accounting_amount), &g)) != 0)
        return api_ledger_error(call, rc, GRPC_STATUS_FAILED_PRECONDITION, "the approval");
    if (g.overspends) {
        rpc_call_set_error_info(call, "PLEDGE_OVERSPENT", "tallinn.v1");
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "approving %s would overspend %s: %s available, the match is %s",
                              x->name, p->name, money_text(call, a, g.available),
                              money_text(call, a, g.amount));
    }
    if (g.overfunds) {
        if (!arg->allow_overfunding) {
            rpc_call_set_error_info(call, "NEED_OVERFUNDED", "tallinn.v1");
            return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                                  "approving %s would fund %s beyond its estimated cost (%s "
                                  "committed + %s > %s); to do so on purpose, set "
                                  "allow_overfunding and a reason (tallinnctl: "
                                  "--allow-overfunding --reason TEXT)",
                                  x->name, need->name, money_text(call, a, g.committed),
                                  money_text(call, a, g.amount), money_text(call, a, g.cost));
        }
        x->overfunding_allowed = 1;
        x->overfunding_reason = (char *)arg->r.reason;
    }
    x->approver = (char *)job->caller->principal;
    return GRPC_STATUS_OK;
}

/* Keeps a need's or a pledge's totals in step with its matches (the
 * ledger's sums), saved in the match's job. */
static grpc_status_code refresh(store_tx *tx, api_job *job, store_kind kind, const char *name)
{
    rpc_call *call = job->call;
    ProtobufCAllocator *alloc = rpc_call_allocator(call);
    const char *cur = job->api->currency;
    ProtobufCMessage *m;
    grpc_status_code code;
    int rc;

    if ((code = api_load(tx, call, kind, name, &m)) != GRPC_STATUS_OK)
        return code;
    rc = kind == STORE_NEED ? ledger_need_refresh(tx, (Tallinn__V1__Need *)m, cur, alloc)
                            : ledger_pledge_refresh(tx, (Tallinn__V1__Pledge *)m, cur, alloc, NULL);
    if (rc != 0)
        return api_ledger_error(call, rc, GRPC_STATUS_FAILED_PRECONDITION,
                                kind == STORE_NEED ? "the need's committed amount"
                                                   : "the pledge's allocation");
    return api_save(tx, job, kind, m, 0);
}

static grpc_status_code transition_job(store_tx *tx, api_job *job)
{
    transition_arg *arg = job->arg;
    const api_transition *t = arg->r.t;
    const api_caller *caller = job->caller;
    rpc_call *call = job->call;
    Tallinn__V1__Match *x;
    ProtobufCMessage *m, *resp;
    int was;
    grpc_status_code code;

    /* Visibility, existence, etag; then state. */
    if ((code = visibility_load(tx, call, STORE_MATCH, arg->r.name, arg->r.etag, &m)) !=
        GRPC_STATUS_OK)
        return code;
    x = (Tallinn__V1__Match *)m;
    if ((t->from & (1u << x->state)) == 0) {
        rpc_call_set_error_info(call, "INVALID_STATE", "tallinn.v1");
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s is %s; %s (tallinnctl: %s) needs it %s", x->name,
                              match_state(x->state), t->method, t->cli, t->from_text);
    }
    /* Separation of duties: nobody decides on a match they proposed. */
    if ((t->to == M(APPROVED) || t->to == M(DECLINED)) && strcmp(caller->principal, x->proposer) == 0)
        return rpc_call_error(call, GRPC_STATUS_PERMISSION_DENIED,
                              "%s was proposed by you: another coordinator must decide on it "
                              "(separation of duties)", x->name);
    if (t->to == M(APPROVED) && (code = approve_guards(tx, job, x, arg)) != GRPC_STATUS_OK)
        return code;
    if (t->to == M(DECLINED))
        x->approver = (char *)caller->principal; /* who decided, either way */
    if (t->to == M(ACCEPTED))
        x->accept_time = api_now(call);
    if ((code = delivery_record(job, x, &arg->evidence)) != GRPC_STATUS_OK)
        return code;
    was = x->state;
    x->state = t->to;
    x->state_reason = arg->r.reason != NULL ? (char *)arg->r.reason : (char *)protobuf_c_empty_string;
    if ((code = save(tx, job, x, 0)) != GRPC_STATUS_OK)
        return code;
    resp = job->resp;
    /* Totals follow the money: approval and withdrawal move the pledge and the
     * need's committed amount, acceptance the delivered amount. */
    if (t->to == M(APPROVED) || (t->to == M(WITHDRAWN) && was == M(APPROVED))) {
        if ((code = refresh(tx, job, STORE_PLEDGE, x->pledge)) != GRPC_STATUS_OK ||
            (code = refresh(tx, job, STORE_NEED, x->need)) != GRPC_STATUS_OK)
            return code;
    } else if (t->to == M(ACCEPTED)) {
        if ((code = refresh(tx, job, STORE_NEED, x->need)) != GRPC_STATUS_OK)
            return code;
    }
    job->resp = resp; /* the caller's response stays the match */
    return GRPC_STATUS_OK;
}

static grpc_status_code run_transition(rpc_call *call, const ProtobufCMessage *req,
                                       ProtobufCMessage **resp, void *ctx)
{
    transition_arg arg = {0};
    grpc_status_code code;
    int rc;

    if (req->descriptor == &tallinn__v1__approve_match_request__descriptor) {
        arg.allow_overfunding = ((const Tallinn__V1__ApproveMatchRequest *)req)->allow_overfunding;
        arg.rate = ((const Tallinn__V1__ApproveMatchRequest *)req)->exchange_rate;
    }
    /* overfunding on purpose must say why */
    /* The evidence of a delivery step first: its violations join those
     * api_transition_request counts and answers. */
    if ((rc = delivery_check(call, req, &arg.evidence)) < 0)
        return api_store_error(call, STORE_NOMEM);
    code = api_transition_request(call, req, transitions,
                                  sizeof(transitions) / sizeof(transitions[0]), "matches/{match}",
                                  arg.allow_overfunding, &arg.r);
    if (code != GRPC_STATUS_OK)
        return code;
    return api_write(call, ctx, arg.r.request_id, transition_job, &arg, resp);
}

/* ---- SuggestMatches ---- */

typedef struct donor_rows {
    Tallinn__V1__Donor **rows;
    size_t n, cap;
} donor_rows;

static int collect_donor(ProtobufCMessage *m, void *ctx)
{
    donor_rows *r = ctx;
    if (r->n < r->cap)
        r->rows[r->n++] = (Tallinn__V1__Donor *)m;
    return r->n == r->cap;
}

typedef struct best_pledge {
    Tallinn__V1__Pledge *p;
} best_pledge;

static int pick_pledge(ProtobufCMessage *m, void *ctx)
{
    best_pledge *b = ctx;
    Tallinn__V1__Pledge *p = (Tallinn__V1__Pledge *)m;

    if (p->state != TALLINN__V1__PLEDGE__STATE__STATE_WITHDRAWN &&
        (b->p == NULL || api_nanos(p->available) > api_nanos(b->p->available)))
        b->p = p;
    return 0;
}

static int by_score(const void *x, const void *y)
{
    const Tallinn__V1__MatchSuggestion *a = *(Tallinn__V1__MatchSuggestion *const *)x;
    const Tallinn__V1__MatchSuggestion *b = *(Tallinn__V1__MatchSuggestion *const *)y;
    int64_t av = api_nanos(a->available), bv = api_nanos(b->available);

    if (a->score != b->score)
        return b->score - a->score;
    if (av != bv)
        return av < bv ? 1 : -1;
    return strcmp(a->donor, b->donor);
}

static char *fmt(rpc_call *call, const char *f, const char *a, const char *b)
{
    char buf[512];
    snprintf(buf, sizeof(buf), f, a, b);
    return rpc_call_strdup(call, buf);
}

/* Scores one donor for a need. Honest and simple (docs/api.md): capability
 * 40, sector experience 15, budget up to 30, delivery record up to 15. */
static Tallinn__V1__MatchSuggestion *score_donor(rpc_call *call, const api *a, store_tx *tx,
                                                 const Tallinn__V1__Need *need, store_sum remaining,
                                                 const Tallinn__V1__Donor *d)
{
    Tallinn__V1__MatchSuggestion *s;
    best_pledge best = {0};
    store_list_query q = {.kind = STORE_PLEDGE,
                          .scope = {.kind = STORE_SCOPE_OF_DONOR, .donor = d->name},
                          .limit = 1000, .alloc = rpc_call_allocator(call)};
    int64_t avail, accepted, in_sector;
    int has_cap = 0, score = 0;
    char **reasons;
    size_t nr = 0;

    if (store_list(tx, &q, pick_pledge, &best) != STORE_OK || best.p == NULL)
        return NULL;
    avail = api_nanos(best.p->available);
    if (avail <= 0)
        return NULL;
    if (store_donor_record(tx, d->name, need->sector, DOMAIN_COMMITTED_STATES, &accepted,
                           &in_sector) != STORE_OK)
        return NULL;
    s = rpc_call_alloc(call, sizeof(*s));
    reasons = rpc_call_alloc(call, 4 * sizeof(*reasons));
    if (s == NULL || reasons == NULL)
        return NULL;
    tallinn__v1__match_suggestion__init(s);
    for (size_t i = 0; i < d->n_capabilities; i++)
        has_cap |= (int)d->capabilities[i] == (int)need->category;
    if (has_cap) {
        score += 40;
        reasons[nr++] = fmt(call, "offers %s, the category this need asks for%s",
                            enum_short(&tallinn__v1__category__descriptor, need->category,
                                       "CATEGORY_"), "");
    }
    if (in_sector > 0) {
        score += 15;
        reasons[nr++] = fmt(call, "has funded needs in the %s sector before%s",
                            enum_short(&tallinn__v1__sector__descriptor, need->sector, "SECTOR_"),
                            "");
    }
    if (remaining <= 0 || avail >= remaining) {
        score += 30;
        reasons[nr++] = fmt(call, "%s available in %s covers the remaining cost",
                            money_text(call, a, avail), best.p->name);
    } else {
        score += (int)((store_sum)30 * avail / remaining); /* 0..29: exact, no float */
        reasons[nr++] = fmt(call, "%s available in %s covers part of the remaining cost",
                            money_text(call, a, avail), best.p->name);
    }
    if (accepted > 0) {
        char n[32];
        score += accepted >= 3 ? 15 : (int)accepted * 5;
        snprintf(n, sizeof(n), "%lld", (long long)accepted);
        reasons[nr++] = fmt(call, "%s match(es) approved or delivered so far%s", n, "");
    }
    s->donor = d->name;
    s->donor_display_name = d->display_name;
    s->pledge = best.p->name;
    s->available = best.p->available;
    s->score = score;
    s->reasons = reasons;
    s->n_reasons = nr;
    return s;
}

static grpc_status_code suggest_matches(rpc_call *call, const ProtobufCMessage *req,
                                        ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__SuggestMatchesRequest *in = (const void *)req;
    api *a = ctx;
    Tallinn__V1__SuggestMatchesResponse *out;
    Tallinn__V1__MatchSuggestion **all;
    Tallinn__V1__Need *need;
    ProtobufCMessage *m;
    donor_rows donors = {0};
    store_list_query q = {.kind = STORE_DONOR, .limit = SUGGEST_DONORS_MAX,
                          .alloc = rpc_call_allocator(call)};
    int32_t max = in->max_suggestions;
    store_sum remaining;
    size_t n = 0;
    store_tx *tx;
    grpc_status_code code = GRPC_STATUS_OK;
    int rc;

    api_check_name(call, "need", "needs/{need}", in->need);
    if (max < 0)
        api_violation(call, "max_suggestions", "must not be negative (0 means %d, at most %d)",
                      SUGGEST_DEFAULT, SUGGEST_MAX);
    if (rpc_call_field_violation_count(call) > 0)
        return api_violations_status(call, "request");
    if (max == 0)
        max = SUGGEST_DEFAULT;
    if (max > SUGGEST_MAX)
        max = SUGGEST_MAX;
    out = rpc_call_alloc(call, sizeof(*out));
    donors.cap = SUGGEST_DONORS_MAX;
    donors.rows = rpc_call_alloc(call, donors.cap * sizeof(*donors.rows));
    if (out == NULL || donors.rows == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__suggest_matches_response__init(out);
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    if ((code = visibility_load(tx, call, STORE_NEED, in->need, NULL, &m)) != GRPC_STATUS_OK)
        goto done;
    need = (Tallinn__V1__Need *)m;
    if (need->state != NEED_OPEN) {
        code = rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s is %s; suggestions are for OPEN needs", need->name,
                              enum_name(&tallinn__v1__need__state__descriptor, need->state));
        goto done;
    }
    remaining = ledger_nanos(need->estimated_cost) - ledger_nanos(need->committed_amount);
    if ((rc = store_list(tx, &q, collect_donor, &donors)) != STORE_OK) {
        code = api_store_error(call, rc);
        goto done;
    }
    all = rpc_call_alloc(call, (donors.n + 1) * sizeof(*all));
    if (all == NULL) {
        code = api_store_error(call, STORE_NOMEM);
        goto done;
    }
    for (size_t i = 0; i < donors.n; i++) {
        Tallinn__V1__MatchSuggestion *s;
        if (donors.rows[i]->membership != MEMBER)
            continue;
        if ((s = score_donor(call, a, tx, need, remaining, donors.rows[i])) != NULL)
            all[n++] = s;
    }
    qsort(all, n, sizeof(*all), by_score);
    out->suggestions = all;
    out->n_suggestions = n < (size_t)max ? n : (size_t)max;
    *resp = &out->base;
done:
    store_read_end(tx);
    return code;
}

int matches_register(rpc_server *srv, api *a)
{
    static const rpc_method_handler handlers[] = {
        {"CreateMatch", create_match},       {"GetMatch", get_match},
        {"ListMatches", list_matches},       {"ApproveMatch", run_transition},
        {"DeclineMatch", run_transition},    {"WithdrawMatch", run_transition},
        {"StartDelivery", run_transition},   {"MarkDelivered", run_transition},
        {"AcceptDelivery", run_transition},  {"RejectDelivery", run_transition},
        {"SuggestMatches", suggest_matches},
    };
    return rpc_server_add_service(srv, &tallinn__v1__match_service__descriptor, handlers,
                                  sizeof(handlers) / sizeof(handlers[0]), a);
}
