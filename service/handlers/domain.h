/* domain.h — the Tallinn Mechanism's services (one file per resource) and
 * what they share about need-to-know. Private to service/; the money they
 * add up is the ledger's (ledger/ledger.h). */
#ifndef TALLINN_DOMAIN_H
#define TALLINN_DOMAIN_H

#include "api.h"
#include "ledger/ledger.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/rate.pb-c.h"

int needs_register(rpc_server *srv, api *a);
int donors_register(rpc_server *srv, api *a);
int matches_register(rpc_server *srv, api *a);
int reports_register(rpc_server *srv, api *a);
int rates_register(rpc_server *srv, api *a);
int diagnostics_register(rpc_server *srv, api *a);
/* AuditService: proofs, checkpoints and records of the log. */
struct audit;
struct witnesses;
int audit_register(rpc_server *srv, api *a, struct audit *log, const struct witnesses *w);

/* Match states whose amount is committed (approved and later), and the one
 * whose amount is delivered: the ledger's. Bit (1 << state). */
#define DOMAIN_COMMITTED_STATES LEDGER_COMMITTED_STATES
#define DOMAIN_DELIVERED_STATES LEDGER_DELIVERED_STATES

/* Match states that give a donor sight of a need (a live match). */
#define DOMAIN_LIVE_MATCH_STATES                                              \
    ((1u << TALLINN__V1__MATCH__STATE__STATE_PROPOSED) | DOMAIN_COMMITTED_STATES)

/* ---- Need-to-know (visibility.c) ---- */
/* May this caller know that the stored resource m (of kind) exists? 0/1; a
 * storage error counts as no. DONOR: OPEN STANDARD needs and needs it has a
 * live match on, its own matches and pledges; OBSERVER: needs that are not
 * RESTRICTED (redacted); everyone sees every donor. */
int visibility_sees(store_tx *tx, const api_caller *caller, store_kind kind,
                    const ProtobufCMessage *m);
/* visibility_sees for a need. */
int needs_visible(store_tx *tx, const api_caller *caller, const Tallinn__V1__Need *n);
/* What need-to-know decides a need on — its name, state and sensitivity —
 * taken from the decoded need, or from the store's columns beside its
 * stored bytes (visibility_load_need_stored), so that a need answered as
 * stored is never decoded. The one decision, needs_visible's: */
typedef struct visibility_need {
    const char *name;
    int state, sensitivity;
} visibility_need;
visibility_need visibility_need_of(const Tallinn__V1__Need *n);
int visibility_need_sees(store_tx *tx, const api_caller *caller, const visibility_need *n);
/* The need schema's fields name, state and sensitivity (store_filter_schema),
 * in that order; -1 if the schema lacks one. */
int visibility_need_fields(const filter_field *out[3]);
/* visibility_load of a need for a caller that answers with its stored bytes
 * (nothing redacted for it): the bytes (on the call) and the need's
 * name, state and sensitivity from the store's columns; the same answers,
 * statuses and store queries as visibility_load, no etag. */
grpc_status_code visibility_load_need_stored(store_tx *tx, rpc_call *call, const char *name,
                                             visibility_need *need, store_bytes *bytes);
/* Does the caller see every resource of the kind? (Then it may choose ids.) */
int visibility_sees_all(const api_caller *caller, store_kind kind);
/* Loads a resource the caller named, in the one order that leaks nothing:
 * NOT_FOUND ("<name> not found") when it is missing or the caller may not
 * see it (the same message and store queries either way), then ABORTED when
 * etag is non-empty and differs. The handler checks state after this.
 * api_load is for the server's own loads (totals, guards), never for a
 * caller's. */
grpc_status_code visibility_load(store_tx *tx, rpc_call *call, store_kind kind, const char *name,
                                 const char *etag, ProtobufCMessage **out);
/* visibility_load, and the row's stored bytes (on the call) for a caller
 * that answers with it unchanged (store_get_bytes). */
grpc_status_code visibility_load_bytes(store_tx *tx, rpc_call *call, store_kind kind,
                                       const char *name, ProtobufCMessage **out,
                                       store_bytes *bytes);
/* Checks a client-chosen {resource}_id: its syntax (api_check_id), and that
 * the caller sees the whole collection; otherwise a violation telling it to
 * leave the id empty and retry with request_id, whether the id is taken or
 * not. */
int visibility_check_id(rpc_call *call, store_kind kind, const char *field, const char *id);
/* Clears the fields an OBSERVER may not see; 1 if it cleared any (the need
 * is no longer what is stored), else 0. */
int needs_redact(const api_caller *caller, Tallinn__V1__Need *n);
/* Would needs_redact clear anything of a need for this caller? */
int needs_redacts(const api_caller *caller);
/* Clears another donor's contact e-mail for a DONOR caller (donors.c). */
void donors_redact(const api_caller *caller, Tallinn__V1__Donor *d);

/* ---- Delivery evidence (delivery.c) ---- */
/* The evidence a delivery step's request gives, checked. */
typedef struct delivery_req {
    int given; /* the request is MarkDelivered, AcceptDelivery or RejectDelivery */
    int step;  /* tallinn.v1.DeliveryEvidence.Step */
    const char *note;
    Tallinn__V1__DeliveryDocument **docs; /* checked copies, media types in lower case */
    size_t n;
} delivery_req;

/* Checks the note and documents of req, adding violations (the caller
 * answers them with api_violations_status). 1 when req is no delivery step
 * or was read; 0 when the documents were too many to look at; -1 out of
 * memory. Nothing here depends on the match: call it before the write. */
int delivery_check(rpc_call *call, const ProtobufCMessage *req, delivery_req *out);

/* In the step's write job, after its state check: appends the step's
 * evidence to x (FAILED_PRECONDITION once x holds EVIDENCE_MAX_STEPS) and
 * gives the job its digest for the audit record. OK when ev gives none. */
grpc_status_code delivery_record(api_job *job, Tallinn__V1__Match *x, const delivery_req *ev);

/* ---- Exchange rates (rates.c) ---- */
/* How far back a kept rate serves: the latest of a currency dated up to
 * this many days before the value date (weekends and bank holidays have no
 * reference rate). */
#define RATES_MAX_AGE_DAYS 7

/* Checks a rate given with a call for an amount (field: e.g.
 * "pledge.exchange_rate"): unset for the accounting currency, else
 * currency_code equal to the amount's, rate, rate_date and source. Adds
 * violations; 1 when fine (or NULL). Pure: before any lookup. */
int rates_check_given(rpc_call *call, const api *a, const char *field,
                      const Tallinn__V1__ExchangeRate *given, const Tallinn__V1__Money *amount);

/* An amount's value in the accounting currency (on the call). */
typedef struct rates_value {
    Tallinn__V1__Money *accounting;
    Tallinn__V1__ExchangeRate *rate; /* NULL for the accounting currency */
    Tallinn__V1__Date *value_date;   /* today, UTC */
} rates_value;

/* Values a checked amount for today (UTC) inside a write job: at `given`
 * (checked by rates_check_given) or else the kept rate of the day
 * (RATES_MAX_AGE_DAYS); `fix` marks a kept rate used. FAILED_PRECONDITION
 * naming the currency and the day when there is none; INVALID_ARGUMENT on
 * `field` when the value is zero or above the limit of one amount. */
grpc_status_code rates_value_amount(store_tx *tx, api_job *job, const char *field,
                                    const Tallinn__V1__Money *amount,
                                    const Tallinn__V1__ExchangeRate *given, int fix,
                                    rates_value *out);

#endif
