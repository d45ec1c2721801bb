/* needs.c — NeedService: needs collected in Kyiv, validated in Warsaw,
 * matched, delivered; the need workflow (docs/api.md) and its guards. */
#include <stdio.h>
#include <string.h>

#include "domain.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/validate.h"

#define S(x) TALLINN__V1__NEED__STATE__STATE_##x
#define BIT(x) (1u << S(x))

static const char *state_name(int s)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&tallinn__v1__need__state__descriptor, s);
    return v != NULL ? v->name + strlen("STATE_") : "UNKNOWN";
}

/* Fields a client sets; everything else is output only. */
static const char *const mutable_fields[] = {
    "title", "description", "beneficiary", "region", "sector", "category", "domain",
    "priority", "estimated_cost", "needed_by", "sensitivity", NULL,
};

/* Checks a need's client-set fields; prefix is "need." for requests. */
static void check_need(rpc_call *call, const api *a, const Tallinn__V1__Need *n)
{
    api_check_text(call, "need.title", n->title, VALIDATE_TITLE_MAX, VALIDATE_TEXT_REQUIRED);
    api_check_text(call, "need.description", n->description, VALIDATE_DESCRIPTION_MAX,
                   VALIDATE_TEXT_REQUIRED | VALIDATE_TEXT_MULTILINE);
    api_check_text(call, "need.beneficiary", n->beneficiary, VALIDATE_BENEFICIARY_MAX,
                   VALIDATE_TEXT_REQUIRED);
    api_check_text(call, "need.region", n->region, VALIDATE_REGION_MAX, VALIDATE_TEXT_REQUIRED);
    api_check_enum(call, "need.sector", &tallinn__v1__sector__descriptor, n->sector, 1);
    api_check_enum(call, "need.category", &tallinn__v1__category__descriptor, n->category, 1);
    api_check_enum(call, "need.domain", &tallinn__v1__need__domain__descriptor, n->domain, 0);
    api_check_enum(call, "need.priority", &tallinn__v1__need__priority__descriptor, n->priority, 1);
    api_check_enum(call, "need.sensitivity", &tallinn__v1__need__sensitivity__descriptor,
                   n->sensitivity, 0);
    api_check_money(call, a, "need.estimated_cost", n->estimated_cost, VALIDATE_MONEY_POSITIVE, NULL);
    if (n->needed_by != NULL &&
        validate_date(n->needed_by->year, n->needed_by->month, n->needed_by->day) != VALIDATE_OK)
        api_violation(call, "need.needed_by", "%04d-%02d-%02d is not a calendar date",
                      (int)n->needed_by->year, (int)n->needed_by->month, (int)n->needed_by->day);
}

/* What an OBSERVER does not see of a need. */
static const char *const observer_hidden[] = {"description", "beneficiary", "region", NULL};

int needs_redacts(const api_caller *caller)
{
    return caller->role == API_ROLE_OBSERVER;
}

int needs_redact(const api_caller *caller, Tallinn__V1__Need *n)
{
    if (!needs_redacts(caller))
        return 0;
    for (const char *const *f = observer_hidden; *f != NULL; f++)
        api_set_string(&n->base, *f, (char *)protobuf_c_empty_string);
    return 1;
}

/* A need the caller named: visibility, existence, etag (visibility.c). */
static grpc_status_code load_named(store_tx *tx, rpc_call *call, const char *name,
                                   const char *etag, Tallinn__V1__Need **n)
{
    ProtobufCMessage *m;
    grpc_status_code code = visibility_load(tx, call, STORE_NEED, name, etag, &m);

    if (code == GRPC_STATUS_OK)
        *n = (Tallinn__V1__Need *)m;
    return code;
}

static grpc_status_code save(store_tx *tx, api_job *job, Tallinn__V1__Need *n, int insert)
{
    return api_save(tx, job, STORE_NEED, &n->base, insert);
}

/* ---- Create, Get, List, Update ---- */

typedef struct create_arg {
    Tallinn__V1__Need *need;
} create_arg;

static grpc_status_code create_job(store_tx *tx, api_job *job)
{
    return save(tx, job, ((create_arg *)job->arg)->need, 1);
}

static grpc_status_code create_need(rpc_call *call, const ProtobufCMessage *req,
                                    ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__CreateNeedRequest *in = (const void *)req;
    api *a = ctx;
    Tallinn__V1__Need *n;
    create_arg *arg;
    const char *id = in->need_id;
    char gen[16];
    grpc_status_code code;

    if (in->need == NULL) {
        api_violation(call, "need", "required");
        return api_violations_status(call, "request");
    }
    check_need(call, a, in->need);
    visibility_check_id(call, STORE_NEED, "need_id", in->need_id);
    api_check_request_id(call, in->request_id);
    if ((code = api_violations_status(call, "need")) != GRPC_STATUS_OK)
        return code;

    n = rpc_call_alloc(call, sizeof(*n));
    arg = rpc_call_alloc(call, sizeof(*arg));
    if (n == NULL || arg == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__need__init(n);
    for (const char *const *f = mutable_fields; *f != NULL; f++)
        api_copy_field(&n->base, &in->need->base, *f);
    if (id[0] == '\0') {
        api_new_id(gen);
        id = gen;
    }
    n->name = api_name(call, "needs", id);
    if (n->sensitivity == TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_UNSPECIFIED)
        n->sensitivity = TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD;
    n->state = S(DRAFT);
    n->coverage = TALLINN__V1__NEED__COVERAGE__COVERAGE_NONE;
    n->committed_amount = api_money(call, a, 0);
    n->delivered_amount = api_money(call, a, 0);
    arg->need = n;
    (void)resp; /* the committer answers (api_write_async) */
    return api_write_async(call, a, in->request_id, create_job, arg);
}

/* A RESTRICTED need handed out is a recorded read. Recording waits for the
 * audit log's commit: not on a queue thread. Inline, the call is deferred
 * (*deferred = 1) and the worker reads again, then records. */
static grpc_status_code record_reads(rpc_call *call, api *a, const char **names, size_t n,
                                     int *deferred)
{
    *deferred = 0;
    if (n == 0)
        return GRPC_STATUS_OK;
    if (rpc_call_is_inline(call)) {
        *deferred = 1;
        return rpc_call_defer(call);
    }
    return api_audit_reads(call, a, names, n);
}

static grpc_status_code get_need(rpc_call *call, const ProtobufCMessage *req,
                                 ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__GetNeedRequest *in = (const void *)req;
    const api_caller *caller = api_caller_of(call);
    api *a = ctx;
    ProtobufCMessage *m;
    Tallinn__V1__Need *empty;
    visibility_need need;
    store_bytes stored;
    store_tx *tx;
    grpc_status_code code;
    int rc;

    if (!api_check_name(call, "name", "needs/{need}", in->name))
        return api_violations_status(call, "request");
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    if (needs_redacts(caller)) {
        /* A need the caller may not know of answers exactly like a missing
         * one. Redacted: decoded, cleared, packed again. An OBSERVER never
         * sees a RESTRICTED need, so no read of one is recorded. */
        code = visibility_load(tx, call, STORE_NEED, in->name, NULL, &m);
        store_read_end(tx);
        if (code != GRPC_STATUS_OK)
            return code;
        needs_redact(caller, (Tallinn__V1__Need *)m);
        *resp = m;
        return GRPC_STATUS_OK;
    }
    /* Nothing redacted: decided on the need's stored columns, answered with
     * its stored bytes (its encoding), never decoded. */
    code = visibility_load_need_stored(tx, call, in->name, &need, &stored);
    store_read_end(tx);
    if (code != GRPC_STATUS_OK)
        return code;
    if (need.sensitivity == TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED) {
        const char *name = in->name;
        int deferred;
        if ((code = record_reads(call, a, &name, 1, &deferred)) != GRPC_STATUS_OK || deferred)
            return code;
    }
    if ((empty = rpc_call_alloc(call, sizeof(*empty))) == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__need__init(empty);
    /* *resp gives the answer's type; the stored bytes are the answer. */
    *resp = &empty->base;
    rpc_call_set_response_bytes(call, stored.data, stored.len);
    return GRPC_STATUS_OK;
}

static grpc_status_code list_needs(rpc_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp, void *ctx)
{
    static const char *const stored_fields[] = {"sensitivity", NULL};
    const Tallinn__V1__ListNeedsRequest *in = (const void *)req;
    const api_caller *caller = api_caller_of(call);
    Tallinn__V1__ListNeedsResponse *out;
    api_list_req lr = {
        .kind = STORE_NEED, .collection = "needs", .parent = "",
        .page_size = in->page_size, .page_token = in->page_token,
        .filter = in->filter, .order_by = in->order_by,
    };
    api_list_page page;
    const char **restricted;
    size_t k = 0;
    grpc_status_code code;

    if (caller->role == API_ROLE_DONOR) {
        lr.scope.kind = STORE_SCOPE_DONOR_NEEDS;
        lr.scope.donor = caller->donor != NULL ? caller->donor : ""; /* no donor: open ones */
        lr.scope.match_states = DOMAIN_LIVE_MATCH_STATES;
    } else if (caller->role == API_ROLE_OBSERVER) {
        lr.scope.kind = STORE_SCOPE_UNRESTRICTED;
        lr.hidden_fields = observer_hidden;
    }
    if (needs_redacts(caller)) {
        /* Decoded, redacted, packed again. Its scope leaves out RESTRICTED
         * needs, so no read of one is recorded. */
        code = api_list_response(call, ctx, &lr, &tallinn__v1__list_needs_response__descriptor,
                                 resp);
        if (code != GRPC_STATUS_OK)
            return code;
        out = (Tallinn__V1__ListNeedsResponse *)*resp;
        for (size_t i = 0; i < out->n_needs; i++) {
            if (out->needs[i]->sensitivity ==
                TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED)
                return rpc_call_error(call, GRPC_STATUS_INTERNAL,
                                      "a RESTRICTED need in an unrestricted list");
            needs_redact(caller, out->needs[i]);
        }
        return GRPC_STATUS_OK;
    }
    /* Nothing redacted: the page as stored, never decoded; each need's
     * sensitivity from its column says which reads are recorded. */
    if ((code = api_list_stored(call, ctx, &lr, stored_fields, &page)) != GRPC_STATUS_OK)
        return code;
    restricted = rpc_call_alloc(call, (page.n + 1) * sizeof(*restricted));
    if (restricted == NULL)
        return api_store_error(call, STORE_NOMEM);
    for (size_t i = 0; i < page.n; i++) {
        const filter_value *v = &page.values[i * page.stride];
        if (v[0].i == TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED)
            restricted[k++] = v[page.stride - 1].s; /* the row's name */
    }
    {
        int deferred;
        if ((code = record_reads(call, ctx, restricted, k, &deferred)) != GRPC_STATUS_OK ||
            deferred)
            return code;
    }
    return api_list_answer_stored(call, &tallinn__v1__list_needs_response__descriptor, &page,
                                  resp);
}

typedef struct update_arg {
    const Tallinn__V1__UpdateNeedRequest *in;
} update_arg;

static grpc_status_code update_job(store_tx *tx, api_job *job)
{
    const Tallinn__V1__UpdateNeedRequest *in = ((update_arg *)job->arg)->in;
    rpc_call *call = job->call;
    Tallinn__V1__Need *n;
    grpc_status_code code;

    if ((code = load_named(tx, call, in->need->name, in->need->etag, &n)) != GRPC_STATUS_OK)
        return code;
    if (n->state != S(DRAFT) && n->state != S(RETURNED))
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s is %s: needs can be edited only in DRAFT or RETURNED", n->name,
                              state_name(n->state));
    if ((code = api_apply_mask(call, &n->base, &in->need->base, in->update_mask, mutable_fields,
                               "need")) != GRPC_STATUS_OK)
        return code;
    if (n->sensitivity == TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_UNSPECIFIED)
        n->sensitivity = TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD;
    check_need(call, job->api, n);
    if ((code = api_violations_status(call, "need")) != GRPC_STATUS_OK)
        return code;
    return save(tx, job, n, 0);
}

static grpc_status_code update_need(rpc_call *call, const ProtobufCMessage *req,
                                    ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__UpdateNeedRequest *in = (const void *)req;
    update_arg arg = {in};
    grpc_status_code code;

    if (in->need == NULL) {
        api_violation(call, "need", "required");
        return api_violations_status(call, "request");
    }
    if (!api_check_name(call, "need.name", "needs/{need}", in->need->name))
        return api_violations_status(call, "request");
    if ((code = api_check_mask(call, &tallinn__v1__need__descriptor, in->update_mask,
                               mutable_fields, "need")) != GRPC_STATUS_OK)
        return code;
    return api_write(call, ctx, NULL, update_job, &arg, resp);
}

/* ---- The workflow: one table, one job ---- */


#define NON_TERMINAL (BIT(DRAFT) | BIT(SUBMITTED) | BIT(RETURNED) | BIT(OPEN) | BIT(ON_HOLD))
static const api_transition transitions[] = {
    {"SubmitNeed", BIT(DRAFT) | BIT(RETURNED), S(SUBMITTED), 0, "DRAFT or RETURNED",
     "needs submit"},
    {"ValidateNeed", BIT(SUBMITTED), S(OPEN), 0, "SUBMITTED", "needs validate"},
    {"ReturnNeed", BIT(SUBMITTED), S(RETURNED), 1, "SUBMITTED", "needs return"},
    {"RejectNeed", BIT(SUBMITTED), S(REJECTED), 1, "SUBMITTED", "needs reject"},
    {"RouteNeed", BIT(SUBMITTED), S(ROUTED_TO_IT_COALITION), 1, "SUBMITTED", "needs route"},
    {"HoldNeed", BIT(OPEN), S(ON_HOLD), 0, "OPEN", "needs hold"},
    {"ResumeNeed", BIT(ON_HOLD), S(OPEN), 0, "ON_HOLD", "needs resume"},
    {"CancelNeed", NON_TERMINAL, S(CANCELLED), 1,
     "DRAFT, SUBMITTED, RETURNED, OPEN or ON_HOLD", "needs cancel"},
    {"CloseNeed", BIT(OPEN), S(CLOSED), 1, "OPEN", "needs close"},
};

typedef api_transition_req transition_arg;

static grpc_status_code transition_job(store_tx *tx, api_job *job)
{
    transition_arg *arg = job->arg;
    const api_transition *t = arg->t;
    rpc_call *call = job->call;
    Tallinn__V1__Need *n;
    grpc_status_code code;

    if ((code = load_named(tx, call, arg->name, arg->etag, &n)) != GRPC_STATUS_OK)
        return code;
    if ((t->from & (1u << n->state)) == 0) {
        rpc_call_set_error_info(call, "INVALID_STATE", "tallinn.v1");
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s is %s; %s (tallinnctl: %s) needs it %s", n->name,
                              state_name(n->state), t->method, t->cli, t->from_text);
    }
    if (t->to == S(OPEN) && n->state == S(SUBMITTED)) {
        if (n->domain == TALLINN__V1__NEED__DOMAIN__DOMAIN_MILITARY)
            return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                                  "%s is a military-domain need: the Tallinn Mechanism covers the "
                                  "civilian domain only; route it to the IT Coalition (RouteNeed; "
                                  "tallinnctl: needs route)",
                                  n->name);
        if (n->domain != TALLINN__V1__NEED__DOMAIN__DOMAIN_CIVILIAN)
            return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                                  "%s has no domain: return it (ReturnNeed; tallinnctl: needs "
                                  "return) so the front office sets domain CIVILIAN, or route it "
                                  "(needs route) if it is military",
                                  n->name);
    }
    n->state = t->to;
    /* The reason, required or optional, becomes the state_reason; a
     * transition without one clears the previous state's. */
    n->state_reason = arg->reason != NULL ? (char *)arg->reason : (char *)protobuf_c_empty_string;
    return save(tx, job, n, 0);
}

static grpc_status_code run_transition(rpc_call *call, const ProtobufCMessage *req,
                                       ProtobufCMessage **resp, void *ctx)
{
    transition_arg arg;
    grpc_status_code code = api_transition_request(
        call, req, transitions, sizeof(transitions) / sizeof(transitions[0]), "needs/{need}", 0,
        &arg);

    if (code != GRPC_STATUS_OK)
        return code;
    return api_write(call, ctx, arg.request_id, transition_job, &arg, resp);
}

int needs_register(rpc_server *srv, api *a)
{
    static const rpc_method_handler handlers[] = {
        {"CreateNeed", create_need},     {"GetNeed", get_need},
        {"ListNeeds", list_needs},       {"UpdateNeed", update_need},
        {"SubmitNeed", run_transition},  {"ValidateNeed", run_transition},
        {"ReturnNeed", run_transition},  {"RejectNeed", run_transition},
        {"RouteNeed", run_transition},   {"HoldNeed", run_transition},
        {"ResumeNeed", run_transition},  {"CancelNeed", run_transition},
        {"CloseNeed", run_transition},
    };
    if (rpc_server_add_service(srv, &tallinn__v1__need_service__descriptor, handlers,
                               sizeof(handlers) / sizeof(handlers[0]), a) != 0)
        return -1;
    /* GetNeed and ListNeeds only read (api_inline_read); they defer to a
     * worker for a RESTRICTED need, whose read is audited. CreateNeed never blocks: it
     * checks, queues its write and leaves the call to the committer
     * (api_write_async); a refusal is recorded from a worker (rpc.md). */
    if (api_inline_read(srv, a, "/tallinn.v1.NeedService/GetNeed") != 0 ||
        api_inline_read(srv, a, "/tallinn.v1.NeedService/ListNeeds") != 0)
        return -1;
    return api_inline_read(srv, a, "/tallinn.v1.NeedService/CreateNeed");
}
