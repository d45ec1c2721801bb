/* ledger.h — the money the mechanism's resources add up to: an amount's
 * value in the accounting currency at an exchange rate, a need's committed
 * and delivered amounts and coverage, a pledge's allocated and available
 * amounts, the approval guards, and the coverage report.
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
/* The accounting value of a pledge's or a match's amount: its
 * accounting_amount, or (a row from before currencies, always in the
 * accounting currency) its amount. */
store_sum ledger_value(const Tallinn__V1__Money *accounting_amount,
                       const Tallinn__V1__Money *amount);

/* ---- Exchange (convert.c) ---- */
/* The accounting value of amount_nanos of a currency at rate_nanos (units of
 * that currency per unit of the accounting currency, * 10^9, > 0): amount /
 * rate, rounded half to even to `minor` decimals (the accounting currency's
 * minor units, 0..4), in nanos. Exact: 128-bit integers, no floating point.
 * LEDGER_ERR_RANGE when the value's magnitude passes 10^18 nanos (10^9
 * units, the limit of one amount); -1 for a rate <= 0 or minor outside
 * 0..9. Known answers: tests/unit/test_ledger.c. */
int ledger_convert(int64_t amount_nanos, int64_t rate_nanos, int minor, int64_t *value_nanos);
/* num / den * 100 with two decimals, rounded half to even ("62.50",
 * "100.00", "0.01"); "" when den <= 0. num >= 0. buf holds at least
 * LEDGER_PERCENT_MAX. */
#define LEDGER_PERCENT_MAX 48
void ledger_percent(store_sum num, store_sum den, char *buf, size_t cap);
/* A new Money of `currency` for nanos, allocated with alloc (its
 * currency_code points at currency). LEDGER_ERR_RANGE when its units do not
 * fit int64; STORE_NOMEM. */
int ledger_money(store_sum nanos, const char *currency, ProtobufCAllocator *alloc,
                 Tallinn__V1__Money **out);
/* "<currency> <amount>" as validate_money_format writes it, for any sum:
 * the currency's minor unit of decimals (2 without a currency), more only
 * when needed. Always NUL-terminated. */
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

/* ApproveMatch's money guards, compared exactly in the accounting
 * currency: would approving a match worth `amount` (its accounting value,
 * nanos) overspend the pledge, or fund the need beyond its estimated cost?
 * The figures are there for the caller's message. */
typedef struct ledger_approval {
    store_sum amount, available, committed, cost;
    int overspends; /* amount > available on the pledge */
    int overfunds;  /* committed + amount > cost */
} ledger_approval;
int ledger_approval_check(store_tx *tx, const Tallinn__V1__Need *need,
                          const Tallinn__V1__Pledge *pledge, store_sum amount,
                          ledger_approval *out);

/* ---- The coverage report (report.c) ---- */
/* What a report counts (docs/reporting.md). */
typedef struct ledger_report_query {
    store_scope view;        /* the needs the caller may see (lists' scope) */
    uint32_t need_mask;      /* need states that count (1 << state) */
    int32_t start_day;       /* yyyymmdd of the first day counted, 0: open */
    int32_t end_day;         /* yyyymmdd of the last day counted, 0: open */
    int32_t fiscal_year;     /* only pledges of this year and their matches; 0: all */
    const char *region;      /* only needs of this region; NULL or "": all */
    /* A DONOR's report: by_donor, by_fiscal_year and by_currency hold only
     * this donor's own, and the statement is filled. NULL: everyone's. */
    const char *own_donor;
    int with_regions;        /* fill by_region (not for OBSERVERs) */
} ledger_report_query;

/* Fills r (every field but report_time and currency_code) from one read
 * snapshot: the needs the view lets through and the query counts, the
 * matches on them, the pledges. Everything is allocated with alloc, which
 * must be an arena (rows stay alive with the report). LEDGER_ERR_RANGE if a
 * total does not fit a Money. */
int ledger_report(store_tx *tx, const ledger_report_query *q, const char *currency,
                  ProtobufCAllocator *alloc, Tallinn__V1__CoverageReport *r);

#endif
