/* domain.h — the Tallinn Mechanism's services (one file per resource) and
 * the derived totals they keep in step. Private to service/. */
#ifndef TALLINN_DOMAIN_H
#define TALLINN_DOMAIN_H

#include "api.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

int needs_register(rpc_server *srv, api *a);
int donors_register(rpc_server *srv, api *a);
int matches_register(rpc_server *srv, api *a);
int reports_register(rpc_server *srv, api *a);
int diagnostics_register(rpc_server *srv, api *a);
/* AuditService: proofs, checkpoints and records of the log. */
struct audit;
int audit_register(rpc_server *srv, api *a, struct audit *log);

/* Match states whose amount is committed (approved and later), and the one
 * whose amount is delivered. Bit (1 << state). */
#define DOMAIN_COMMITTED_STATES                                               \
    ((1u << TALLINN__V1__MATCH__STATE__STATE_APPROVED) |                      \
     (1u << TALLINN__V1__MATCH__STATE__STATE_IN_DELIVERY) |                   \
     (1u << TALLINN__V1__MATCH__STATE__STATE_DELIVERED) |                     \
     (1u << TALLINN__V1__MATCH__STATE__STATE_ACCEPTED))
#define DOMAIN_DELIVERED_STATES (1u << TALLINN__V1__MATCH__STATE__STATE_ACCEPTED)

/* Match states that give a donor sight of a need (a live match). */
#define DOMAIN_LIVE_MATCH_STATES                                              \
    ((1u << TALLINN__V1__MATCH__STATE__STATE_PROPOSED) | DOMAIN_COMMITTED_STATES)

/* Need-to-know: may this caller see this need at all? (0/1; a storage
 * error counts as no). OBSERVERs see non-RESTRICTED needs, redacted. */
int needs_visible(store_tx *tx, const api_caller *caller, const Tallinn__V1__Need *n);
/* Clears the fields an OBSERVER may not see. */
void needs_redact(const api_caller *caller, Tallinn__V1__Need *n);

/* Recomputes a need's committed and delivered amounts and coverage from its
 * matches (and turns an OPEN or ON_HOLD need FULFILLED once accepted
 * deliveries reach its estimated cost); and a pledge's allocated and
 * available amounts. Inside a write job; return a gRPC status. */
grpc_status_code needs_recompute(store_tx *tx, api_job *job, const char *need);
grpc_status_code pledges_recompute(store_tx *tx, api_job *job, const char *pledge);

#endif
