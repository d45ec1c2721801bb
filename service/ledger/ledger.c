/* ledger.c — exact money sums across resources (ledger.h): amounts as
 * 128-bit nanos from the store's sums, Money only at the end, refused when
 * it cannot hold the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "tallinn/currency.h"

#define NANOS 1000000000

#define NEED_STATE(x) TALLINN__V1__NEED__STATE__STATE_##x
#define COVERAGE(x) TALLINN__V1__NEED__COVERAGE__COVERAGE_##x

/* ---- Amounts ---- */

store_sum ledger_nanos(const Tallinn__V1__Money *m)
{
    return m == NULL ? 0 : (store_sum)m->units * NANOS + m->nanos;
}

store_sum ledger_value(const Tallinn__V1__Money *accounting_amount,
                       const Tallinn__V1__Money *amount)
{
    return ledger_nanos(accounting_amount != NULL ? accounting_amount : amount);
}

static void *alloc_zero(ProtobufCAllocator *alloc, size_t n)
{
    void *p = alloc->alloc(alloc->allocator_data, n);

    if (p != NULL)
        memset(p, 0, n);
    return p;
}

int ledger_money(store_sum nanos, const char *currency, ProtobufCAllocator *alloc,
                 Tallinn__V1__Money **out)
{
    /* C division truncates toward zero: both parts share the sign. */
    store_sum units = nanos / NANOS;
    Tallinn__V1__Money *m;

    *out = NULL;
    if (units > INT64_MAX || units < -INT64_MAX) /* symmetric: LEDGER_MONEY_MAX */
        return LEDGER_ERR_RANGE;
    if ((m = alloc_zero(alloc, sizeof(*m))) == NULL)
        return STORE_NOMEM;
    tallinn__v1__money__init(m);
    m->currency_code = (char *)currency;
    m->units = (int64_t)units;
    m->nanos = (int32_t)(nanos % NANOS);
    *out = m;
    return 0;
}

void ledger_format(store_sum nanos, const char *currency, char *buf, size_t cap)
{
    /* No printf conversion takes 128 bits: the digits by hand. */
    unsigned __int128 mag = nanos < 0 ? -(unsigned __int128)nanos : (unsigned __int128)nanos;
    unsigned __int128 whole = mag / NANOS;
    unsigned frac = (unsigned)(mag % NANOS);
    char digits[48], fracs[10];
    size_t nd = 0;
    int nf = 9;
    /* the currency's minor unit of decimals (JPY none, KWD three), 2 for
     * none or a code the table lacks; more only when the sum has them */
    int minor = currency != NULL ? currency_minor_units(currency, strlen(currency)) : -1;

    if (buf == NULL || cap == 0)
        return;
    if (minor < 0)
        minor = 2;
    do {
        digits[nd++] = (char)('0' + (int)(whole % 10));
        whole /= 10;
    } while (whole > 0 && nd < sizeof(digits) - 1);
    for (size_t i = 0; i < nd / 2; i++) {
        char t = digits[i];
        digits[i] = digits[nd - 1 - i];
        digits[nd - 1 - i] = t;
    }
    digits[nd] = '\0';
    snprintf(fracs, sizeof(fracs), "%09u", frac);
    while (nf > minor && fracs[nf - 1] == '0')
        nf--;
    fracs[nf] = '\0';
    snprintf(buf, cap, "%s%s%s%s%s%s", currency != NULL ? currency : "",
             currency != NULL ? " " : "", nanos < 0 ? "-" : "", digits, nf > 0 ? "." : "", fracs);
}

/* ---- Resources ---- */

int ledger_need_refresh(store_tx *tx, Tallinn__V1__Need *n, const char *currency,
                        ProtobufCAllocator *alloc)
{
    store_sum committed, delivered, cost = ledger_nanos(n->estimated_cost);
    Tallinn__V1__Money *c, *d;
    int rc;

    if ((rc = store_match_sum(tx, n->name, NULL, LEDGER_COMMITTED_STATES, &committed)) != 0 ||
        (rc = store_match_sum(tx, n->name, NULL, LEDGER_DELIVERED_STATES, &delivered)) != 0 ||
        (rc = ledger_money(committed, currency, alloc, &c)) != 0 ||
        (rc = ledger_money(delivered, currency, alloc, &d)) != 0)
        return rc;
    n->committed_amount = c;
    n->delivered_amount = d;
    n->coverage = committed <= 0 ? COVERAGE(NONE) : committed < cost ? COVERAGE(PARTIAL)
                                                                     : COVERAGE(FULL);
    if (delivered >= cost && (n->state == NEED_STATE(OPEN) || n->state == NEED_STATE(ON_HOLD))) {
        n->state = NEED_STATE(FULFILLED);
        n->state_reason = (char *)"accepted deliveries reached the estimated cost";
    }
    return 0;
}

int ledger_pledge_refresh(store_tx *tx, Tallinn__V1__Pledge *p, const char *currency,
                          ProtobufCAllocator *alloc, store_sum *allocated)
{
    store_sum sum;
    Tallinn__V1__Money *al, *av;
    int rc;

    if ((rc = store_match_sum(tx, NULL, p->name, LEDGER_COMMITTED_STATES, &sum)) != 0 ||
        (rc = ledger_money(sum, currency, alloc, &al)) != 0 ||
        (rc = ledger_money(ledger_value(p->accounting_amount, p->amount) - sum, currency, alloc,
                           &av)) != 0)
        return rc;
    p->allocated = al;
    p->available = av;
    if (allocated != NULL)
        *allocated = sum;
    return 0;
}

int ledger_approval_check(store_tx *tx, const Tallinn__V1__Need *need,
                          const Tallinn__V1__Pledge *pledge, store_sum amount,
                          ledger_approval *out)
{
    store_sum allocated;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = store_match_sum(tx, NULL, pledge->name, LEDGER_COMMITTED_STATES, &allocated)) != 0 ||
        (rc = store_match_sum(tx, need->name, NULL, LEDGER_COMMITTED_STATES, &out->committed)) != 0)
        return rc;
    out->amount = amount;
    out->available = ledger_value(pledge->accounting_amount, pledge->amount) - allocated;
    out->cost = ledger_nanos(need->estimated_cost);
    out->overspends = out->amount > out->available;
    out->overfunds = out->committed + out->amount > out->cost;
    return 0;
}
