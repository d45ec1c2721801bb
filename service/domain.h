/* domain.h — the Tallinn Mechanism's services (one file per resource) and
 * the derived totals they keep in step. Private to service/. */
#ifndef TALLINN_DOMAIN_H
#define TALLINN_DOMAIN_H

#include "api.h"
#include "tallinn/v1/match.pb-c.h"

int needs_register(rpc_server *srv, api *a);
int donors_register(rpc_server *srv, api *a);
int matches_register(rpc_server *srv, api *a);
int reports_register(rpc_server *srv, api *a);

/* Match states whose amount is committed (approved and later), and the one
 * whose amount is delivered. Bit (1 << state). */
#define DOMAIN_COMMITTED_STATES                                               \
    ((1u << TALLINN__V1__MATCH__STATE__STATE_APPROVED) |                      \
     (1u << TALLINN__V1__MATCH__STATE__STATE_IN_DELIVERY) |                   \
     (1u << TALLINN__V1__MATCH__STATE__STATE_DELIVERED) |                     \
     (1u << TALLINN__V1__MATCH__STATE__STATE_ACCEPTED))
#define DOMAIN_DELIVERED_STATES (1u << TALLINN__V1__MATCH__STATE__STATE_ACCEPTED)

/* Recomputes a need's committed and delivered amounts and coverage from its
 * matches (and turns an OPEN or ON_HOLD need FULFILLED once accepted
 * deliveries reach its estimated cost); and a pledge's allocated and
 * available amounts. Inside a write job; return a gRPC status. */
grpc_status_code needs_recompute(store_tx *tx, api_job *job, const char *need);
grpc_status_code pledges_recompute(store_tx *tx, api_job *job, const char *pledge);

#endif
