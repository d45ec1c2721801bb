/* ledger.c — exact money sums across resources (ledger.h): amounts as
 * 128-bit nanos from the store's sums, Money only at the end, refused when
 * it cannot hold the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

#define NANOS 1000000000

#define NEED_STATE(x) TALLINN__V1__NEED__STATE__STATE_##x
#define COVERAGE(x) TALLINN__V1__NEED__COVERAGE__COVERAGE_##x

/* ---- Amounts ---- */

store_sum ledger_nanos(const Tallinn__V1__Money *m)
{
    return m == NULL ? 0 : (store_sum)m->units * NANOS + m->nanos;
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

    if (buf == NULL || cap == 0)
        return;
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
    while (nf > 2 && fracs[nf - 1] == '0')
        nf--;
    fracs[nf] = '\0';
    snprintf(buf, cap, "%s%s%s%s.%s", currency != NULL ? currency : "", currency != NULL ? " " : "",
             nanos < 0 ? "-" : "", digits, fracs);
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
        (rc = ledger_money(ledger_nanos(p->amount) - sum, currency, alloc, &av)) != 0)
        return rc;
    p->allocated = al;
    p->available = av;
    if (allocated != NULL)
        *allocated = sum;
    return 0;
}

int ledger_approval_check(store_tx *tx, const Tallinn__V1__Need *need,
                          const Tallinn__V1__Pledge *pledge, const Tallinn__V1__Money *amount,
                          ledger_approval *out)
{
    store_sum allocated;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = store_match_sum(tx, NULL, pledge->name, LEDGER_COMMITTED_STATES, &allocated)) != 0 ||
        (rc = store_match_sum(tx, need->name, NULL, LEDGER_COMMITTED_STATES, &out->committed)) != 0)
        return rc;
    out->amount = ledger_nanos(amount);
    out->available = ledger_nanos(pledge->amount) - allocated;
    out->cost = ledger_nanos(need->estimated_cost);
    out->overspends = out->amount > out->available;
    out->overfunds = out->committed + out->amount > out->cost;
    return 0;
}

/* ---- The coverage report ---- */

typedef struct keyed {
    int key;
    store_totals t;
} keyed;

typedef struct fold {
    keyed *sectors, *categories;
    size_t n_sectors, n_categories, cap;
    store_totals total;
    int failed;
} fold;

static void add(store_totals *to, const store_totals *t)
{
    to->count += t->count;
    to->estimated += t->estimated;
    to->committed += t->committed;
    to->delivered += t->delivered;
}

/* Adds t to the entry of key in a (at most cap entries: one per cell). */
static void add_keyed(keyed *a, size_t *n, int key, const store_totals *t)
{
    size_t i = 0;

    while (i < *n && a[i].key != key)
        i++;
    if (i == *n) {
        memset(&a[i], 0, sizeof(a[i]));
        a[i].key = key;
        (*n)++;
    }
    add(&a[i].t, t);
}

static void on_cell(int sector, int category, const store_totals *t, void *ctx)
{
    fold *f = ctx;

    if (f->failed)
        return;
    if (f->n_sectors == f->cap || f->n_categories == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 32;
        keyed *s = realloc(f->sectors, cap * sizeof(*s));
        keyed *c = s != NULL ? realloc(f->categories, cap * sizeof(*c)) : NULL;
        if (s != NULL)
            f->sectors = s;
        if (c == NULL) {
            f->failed = 1;
            return;
        }
        f->categories = c;
        f->cap = cap;
    }
    add_keyed(f->sectors, &f->n_sectors, sector, t);
    add_keyed(f->categories, &f->n_categories, category, t);
    add(&f->total, t);
}

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static int totals(const store_totals *t, const char *currency, ProtobufCAllocator *alloc,
                  Tallinn__V1__CoverageTotals **out)
{
    Tallinn__V1__CoverageTotals *o = alloc_zero(alloc, sizeof(*o));
    int rc;

    if ((*out = o) == NULL)
        return STORE_NOMEM;
    tallinn__v1__coverage_totals__init(o);
    o->needs_count = t->count;
    if ((rc = ledger_money(t->estimated, currency, alloc, &o->estimated)) != 0 ||
        (rc = ledger_money(t->committed, currency, alloc, &o->committed)) != 0)
        return rc;
    return ledger_money(t->delivered, currency, alloc, &o->delivered);
}

typedef struct donor_lines {
    const char *currency;
    ProtobufCAllocator *alloc;
    Tallinn__V1__DonorCoverage **lines;
    size_t n, cap;
    int rc;
} donor_lines;

static char *copy(ProtobufCAllocator *alloc, const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = alloc->alloc(alloc->allocator_data, n);

    if (c != NULL)
        memcpy(c, s, n);
    return c;
}

static void on_donor(const char *donor, const char *display_name, const store_totals *t,
                     store_sum pledged, void *ctx)
{
    donor_lines *l = ctx;
    Tallinn__V1__DonorCoverage *d;

    if (l->rc != 0)
        return;
    if (l->n == l->cap) { /* arena memory: the old array is simply left behind */
        size_t cap = l->cap ? 2 * l->cap : 16;
        Tallinn__V1__DonorCoverage **grown = alloc_zero(l->alloc, cap * sizeof(*grown));
        if (grown == NULL) {
            l->rc = STORE_NOMEM;
            return;
        }
        if (l->n > 0)
            memcpy(grown, l->lines, l->n * sizeof(*grown));
        l->lines = grown;
        l->cap = cap;
    }
    if ((d = alloc_zero(l->alloc, sizeof(*d))) == NULL) {
        l->rc = STORE_NOMEM;
        return;
    }
    tallinn__v1__donor_coverage__init(d);
    d->donor = copy(l->alloc, donor);
    d->donor_display_name = copy(l->alloc, display_name);
    if (d->donor == NULL || d->donor_display_name == NULL) {
        l->rc = STORE_NOMEM;
        return;
    }
    if ((l->rc = totals(t, l->currency, l->alloc, &d->totals)) != 0 ||
        (l->rc = ledger_money(pledged, l->currency, l->alloc, &d->pledged)) != 0)
        return;
    l->lines[l->n++] = d;
}

int ledger_coverage(store_tx *tx, const store_scope *view, uint32_t need_mask,
                    const char *currency, ProtobufCAllocator *alloc,
                    Tallinn__V1__CoverageReport *r)
{
    fold f = {0};
    donor_lines l = {.currency = currency, .alloc = alloc};
    int rc;

    rc = store_need_totals(tx, view, need_mask, LEDGER_COMMITTED_STATES, LEDGER_DELIVERED_STATES,
                           on_cell, &f);
    if (rc == 0 && f.failed)
        rc = STORE_NOMEM;
    if (rc == 0)
        rc = totals(&f.total, currency, alloc, &r->total);
    if (rc == 0 && f.n_sectors > 0) {
        qsort(f.sectors, f.n_sectors, sizeof(*f.sectors), by_key);
        qsort(f.categories, f.n_categories, sizeof(*f.categories), by_key);
        r->by_sector = alloc_zero(alloc, f.n_sectors * sizeof(*r->by_sector));
        r->by_category = alloc_zero(alloc, f.n_categories * sizeof(*r->by_category));
        if (r->by_sector == NULL || r->by_category == NULL)
            rc = STORE_NOMEM;
    }
    for (size_t i = 0; rc == 0 && i < f.n_sectors; i++) {
        Tallinn__V1__SectorCoverage *s = alloc_zero(alloc, sizeof(*s));
        if (s == NULL) {
            rc = STORE_NOMEM;
            break;
        }
        tallinn__v1__sector_coverage__init(s);
        s->sector = f.sectors[i].key;
        rc = totals(&f.sectors[i].t, currency, alloc, &s->totals);
        r->by_sector[r->n_by_sector++] = s;
    }
    for (size_t i = 0; rc == 0 && i < f.n_categories; i++) {
        Tallinn__V1__CategoryCoverage *c = alloc_zero(alloc, sizeof(*c));
        if (c == NULL) {
            rc = STORE_NOMEM;
            break;
        }
        tallinn__v1__category_coverage__init(c);
        c->category = f.categories[i].key;
        rc = totals(&f.categories[i].t, currency, alloc, &c->totals);
        r->by_category[r->n_by_category++] = c;
    }
    free(f.sectors);
    free(f.categories);
    if (rc != 0)
        return rc;
    rc = store_donor_totals(tx, view, need_mask, LEDGER_COMMITTED_STATES,
                            LEDGER_DELIVERED_STATES, on_donor, &l);
    if (rc == 0)
        rc = l.rc;
    r->by_donor = l.lines;
    r->n_by_donor = l.n;
    return rc;
}
