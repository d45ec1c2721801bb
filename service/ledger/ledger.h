/* ledger.h — the money the mechanism's resources add up to: a need's
 * committed and delivered amounts and coverage, a pledge's allocated and
 * available amounts, the approval guards, and the coverage report's totals.
 * Every sum is exact (128-bit nanos, store_sum); a result a Money cannot hold
 * is refused (LEDGER_ERR_RANGE), never wrapped. It knows the store and the
 * messages, not RPC: handlers call it and answer for it. Design: docs/api.md
 * (Money), docs/api-conventions.md (aggregate limits). */
#ifndef TALLINN_LEDGER_H
#define TALLINN_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/store.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/report.pb-c.h"

/* Result codes: 0, a STORE_* error, or this one. */
#define LEDGER_ERR_RANGE (-100) /* the result does not fit a Money (int64 units) */

/* Match states whose amount is committed (approved and later), and the one
 * whose amount is delivered. Bit (1 << state). */
#define LEDGER_COMMITTED_STATES                                               \
    ((1u << TALLINN__V1__MATCH__STATE__STATE_APPROVED) |                      \
     (1u << TALLINN__V1__MATCH__STATE__STATE_IN_DELIVERY) |                   \
     (1u << TALLINN__V1__MATCH__STATE__STATE_DELIVERED) |                     \
     (1u << TALLINN__V1__MATCH__STATE__STATE_ACCEPTED))
#define LEDGER_DELIVERED_STATES (1u << TALLINN__V1__MATCH__STATE__STATE_ACCEPTED)

/* The largest magnitude a Money holds: INT64_MAX units and 999,999,999 nanos. */
#define LEDGER_MONEY_MAX ((store_sum)INT64_MAX * 1000000000 + 999999999)
/* Room for ledger_format: "EUR -9223372036854775807.999999999" and more. */
#define LEDGER_FORMAT_MAX 64

/* ---- Amounts ---- */
/* A Money as exact nanos (units * 10^9 + nanos; 0 for NULL). */
store_sum ledger_nanos(const Tallinn__V1__Money *m);
/* A new Money of `currency` for nanos, allocated with alloc (its
 * currency_code points at currency). LEDGER_ERR_RANGE when its units do not
 * fit int64; STORE_NOMEM. */
int ledger_money(store_sum nanos, const char *currency, ProtobufCAllocator *alloc,
                 Tallinn__V1__Money **out);
/* "<currency> <amount>" as validate_money_format writes it, for any sum:
 * at least two decimals, no more than needed. Always NUL-terminated. */
void ledger_format(store_sum nanos, const char *currency, char *buf, size_t cap);

/* ---- Resources kept in step with their matches (inside a write job) ---- */
/* Sets a need's committed_amount and delivered_amount (the sums of its
 * matches), its coverage, and turns an OPEN or ON_HOLD need FULFILLED once
 * accepted deliveries reach its estimated cost. The caller saves it. */
int ledger_need_refresh(store_tx *tx, Tallinn__V1__Need *n, const char *currency,
                        ProtobufCAllocator *alloc);
/* Sets a pledge's allocated amount (its committed matches) and available
 * (amount - allocated; negative if the amount was set below it, which the
 * caller refuses); *allocated (if not NULL) gets the sum. */
int ledger_pledge_refresh(store_tx *tx, Tallinn__V1__Pledge *p, const char *currency,
                          ProtobufCAllocator *alloc, store_sum *allocated);

/* ApproveMatch's money guards, compared exactly: would approving `amount`
 * overspend the pledge, or fund the need beyond its estimated cost? The
 * figures are there for the caller's message. */
typedef struct ledger_approval {
    store_sum amount, available, committed, cost;
    int overspends; /* amount > available on the pledge */
    int overfunds;  /* committed + amount > cost */
} ledger_approval;
int ledger_approval_check(store_tx *tx, const Tallinn__V1__Need *need,
                          const Tallinn__V1__Pledge *pledge, const Tallinn__V1__Money *amount,
                          ledger_approval *out);

/* ---- The coverage report ---- */
/* Fills r's total, by_sector, by_category and by_donor from one read
 * snapshot, counting only what the view lets through (store_scope) among the
 * needs whose state is in need_mask. Everything is allocated with alloc.
 * LEDGER_ERR_RANGE if a total does not fit a Money. */
int ledger_coverage(store_tx *tx, const store_scope *view, uint32_t need_mask,
                    const char *currency, ProtobufCAllocator *alloc,
                    Tallinn__V1__CoverageReport *r);

#endif
