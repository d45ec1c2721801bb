/* report.c — the coverage report (ledger.h): the needs, pledges and matches
 * of one read snapshot, listed through the store's scoped lists and added
 * up here, exactly (128-bit nanos), so that every figure and every
 * parameter (date range, fiscal year, region) is counted one way, on every
 * storage engine. Need-to-know is the list scope (the needs the caller may
 * see) and own_donor (a DONOR's own lines). docs/reporting.md. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger/ledger.h"

#define PLEDGE_WITHDRAWN TALLINN__V1__PLEDGE__STATE__STATE_WITHDRAWN
#define MEMBER TALLINN__V1__DONOR__MEMBERSHIP__MEMBERSHIP_MEMBER
#define MS(x) (1u << TALLINN__V1__MATCH__STATE__STATE_##x)
#define DELIVERY_STATES (MS(DELIVERED) | MS(ACCEPTED))

/* qsort, but nothing to do for no rows (qsort's base must not be NULL). */
static void sort(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(v, n, size, cmp);
}

/* ---- Rows ---- */

typedef struct rows {
    ProtobufCMessage **v;
    size_t n, cap;
    int nomem;
} rows;

static int collect(ProtobufCMessage *m, void *ctx)
{
    rows *r = ctx;

    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        ProtobufCMessage **v = realloc(r->v, cap * sizeof(*v));
        if (v == NULL) {
            r->nomem = 1;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = m;
    return 0;
}

/* Every row of a kind in the scope, in name order, unpacked with alloc. */
static int list_all(store_tx *tx, store_kind kind, store_scope scope, ProtobufCAllocator *alloc,
                    rows *out)
{
    store_list_query q = {.kind = kind, .scope = scope, .limit = INT_MAX, .alloc = alloc};
    int rc = store_list(tx, &q, collect, out);

    return rc == 0 && out->nomem ? STORE_NOMEM : rc;
}

/* yyyymmdd of a timestamp's UTC day; 0 for none. */
static int32_t day_of(const Google__Protobuf__Timestamp *t)
{
    struct tm tm;
    time_t s;

    if (t == NULL)
        return 0;
    s = (time_t)t->seconds;
    if (gmtime_r(&s, &tm) == NULL)
        return 0;
    return (int32_t)((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
}

/* The donor of a pledge name "donors/x/pledges/y": length of "donors/x". */
static size_t donor_len(const char *pledge)
{
    const char *s = strstr(pledge, "/pledges/");
    return s != NULL ? (size_t)(s - pledge) : 0;
}

static int is_donor(const char *donor, const char *name, size_t len)
{
    return donor != NULL && strlen(donor) == len && strncmp(donor, name, len) == 0;
}

/* ---- The query's view of each row ---- */

typedef struct rneed {
    const Tallinn__V1__Need *n;
    int passes;  /* in the date range and region */
    int counted; /* passes and its state counts */
    store_sum committed, delivered;
} rneed;

typedef struct world {
    const ledger_report_query *q;
    rneed *needs; /* in name order */
    size_t n_needs;
    rows pledges, matches, donors; /* name order */
} world;

static int by_need_name(const void *key, const void *elem)
{
    return strcmp(key, ((const rneed *)elem)->n->name);
}

static rneed *find_need(const world *w, const char *name)
{
    return bsearch(name, w->needs, w->n_needs, sizeof(*w->needs), by_need_name);
}

static int by_msg_name(const void *key, const void *elem)
{
    const ProtobufCMessage *m = *(ProtobufCMessage *const *)elem;
    /* pledges and donors: name is the first field of both */
    const char *name = m->descriptor == &tallinn__v1__pledge__descriptor
                           ? ((const Tallinn__V1__Pledge *)m)->name
                           : ((const Tallinn__V1__Donor *)m)->name;
    return strcmp(key, name);
}

static const Tallinn__V1__Pledge *find_pledge(const world *w, const char *name)
{
    ProtobufCMessage **m = bsearch(name, w->pledges.v, w->pledges.n, sizeof(*w->pledges.v),
                                   by_msg_name);
    return m != NULL ? (const Tallinn__V1__Pledge *)*m : NULL;
}

static int in_range(const ledger_report_query *q, int32_t day)
{
    return (q->start_day == 0 || day >= q->start_day) && (q->end_day == 0 || day <= q->end_day);
}

static int year_ok(const ledger_report_query *q, const Tallinn__V1__Pledge *p)
{
    return q->fiscal_year == 0 || (p != NULL && p->fiscal_year == q->fiscal_year);
}

/* A pledge counts toward pledged: not withdrawn, created in the range, of
 * the year. */
static int pledge_counts(const ledger_report_query *q, const Tallinn__V1__Pledge *p)
{
    return p->state != PLEDGE_WITHDRAWN && in_range(q, day_of(p->create_time)) && year_ok(q, p);
}

/* A match's amount counts: committed (or later) on a counted need, from a
 * pledge of the year. */
static int match_counts(const world *w, const Tallinn__V1__Match *x, rneed **need)
{
    *need = find_need(w, x->need);
    return (LEDGER_COMMITTED_STATES & (1u << x->state)) != 0 && *need != NULL &&
           (*need)->counted && year_ok(w->q, find_pledge(w, x->pledge));
}

/* Is the pledge (or match) the own donor's, or is every donor's counted? */
static int own(const ledger_report_query *q, const char *donor, size_t len)
{
    return q->own_donor == NULL || is_donor(q->own_donor, donor, len);
}

/* ---- Money out ---- */

static void *alloc_zero(ProtobufCAllocator *alloc, size_t n)
{
    void *p = alloc->alloc(alloc->allocator_data, n);

    if (p != NULL)
        memset(p, 0, n);
    return p;
}

static char *percent(ProtobufCAllocator *alloc, store_sum num, store_sum den)
{
    char *s = alloc->alloc(alloc->allocator_data, LEDGER_PERCENT_MAX);

    if (s != NULL)
        ledger_percent(num, den, s, LEDGER_PERCENT_MAX);
    return s;
}

typedef struct sums {
    int64_t count;
    store_sum estimated, committed, delivered;
} sums;

static int totals(const sums *t, const char *cur, ProtobufCAllocator *alloc,
                  Tallinn__V1__CoverageTotals **out)
{
    Tallinn__V1__CoverageTotals *o = alloc_zero(alloc, sizeof(*o));
    int rc;

    if ((*out = o) == NULL)
        return STORE_NOMEM;
    tallinn__v1__coverage_totals__init(o);
    o->needs_count = t->count;
    if ((rc = ledger_money(t->estimated, cur, alloc, &o->estimated)) != 0 ||
        (rc = ledger_money(t->committed, cur, alloc, &o->committed)) != 0 ||
        (rc = ledger_money(t->delivered, cur, alloc, &o->delivered)) != 0)
        return rc;
    o->committed_percent = percent(alloc, t->committed, t->estimated);
    o->delivered_percent = percent(alloc, t->delivered, t->estimated);
    return o->committed_percent != NULL && o->delivered_percent != NULL ? 0 : STORE_NOMEM;
}

static void add_need(sums *s, const rneed *n)
{
    s->count++;
    s->estimated += ledger_nanos(n->n->estimated_cost);
    s->committed += n->committed;
    s->delivered += n->delivered;
}

/* ---- Keyed lines: sectors, categories, fiscal years, currencies ---- */

typedef struct line {
    int key;         /* sector, category or fiscal year */
    const char *cur; /* currency */
    sums s;
    store_sum pledged, pledged_acc, committed_orig, delivered_orig;
} line;

typedef struct lines {
    line *v;
    size_t n, cap;
    int nomem;
} lines;

static line *line_for(lines *l, int key, const char *cur)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].key == key && (cur == NULL || strcmp(l->v[i].cur, cur) == 0))
            return &l->v[i];
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        line *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            l->nomem = 1;
            return NULL;
        }
        l->v = v;
        l->cap = cap;
    }
    memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
    l->v[l->n].key = key;
    l->v[l->n].cur = cur != NULL ? cur : "";
    return &l->v[l->n++];
}

static int by_key(const void *a, const void *b)
{
    const line *x = a, *y = b;
    int c = (x->key > y->key) - (x->key < y->key);
    return c != 0 ? c : strcmp(x->cur, y->cur);
}

/* ---- The report's parts ---- */

/* Each need's committed and delivered sums from the matches that count. */
static void need_sums(world *w)
{
    for (size_t i = 0; i < w->matches.n; i++) {
        const Tallinn__V1__Match *x = (const void *)w->matches.v[i];
        store_sum v = ledger_value(x->accounting_amount, x->amount);
        rneed *n;
        if (!match_counts(w, x, &n))
            continue;
        n->committed += v;
        if (LEDGER_DELIVERED_STATES & (1u << x->state))
            n->delivered += v;
    }
}

static int by_region(const void *a, const void *b)
{
    const rneed *x = *(const rneed *const *)a, *y = *(const rneed *const *)b;
    int c = strcmp(x->n->region, y->n->region);
    return c != 0 ? c : strcmp(x->n->name, y->n->name);
}

/* total, by_sector, by_category, by_region over the counted needs. */
static int need_lines(world *w, const char *cur, ProtobufCAllocator *alloc,
                      Tallinn__V1__CoverageReport *r)
{
    lines sec = {0}, cat = {0};
    sums all = {0};
    rneed **counted = calloc(w->n_needs + 1, sizeof(*counted));
    size_t nc = 0, nreg = 0;
    int rc = counted == NULL ? STORE_NOMEM : 0;

    for (size_t i = 0; rc == 0 && i < w->n_needs; i++) {
        line *s, *c;
        if (!w->needs[i].counted)
            continue;
        counted[nc++] = &w->needs[i];
        add_need(&all, &w->needs[i]);
        if ((s = line_for(&sec, w->needs[i].n->sector, NULL)) == NULL ||
            (c = line_for(&cat, w->needs[i].n->category, NULL)) == NULL) {
            rc = STORE_NOMEM;
            break;
        }
        add_need(&s->s, &w->needs[i]);
        add_need(&c->s, &w->needs[i]);
    }
    if (rc == 0)
        rc = totals(&all, cur, alloc, &r->total);
    sort(sec.v, sec.n, sizeof(*sec.v), by_key);
    sort(cat.v, cat.n, sizeof(*cat.v), by_key);
    if (rc == 0 && ((r->by_sector = alloc_zero(alloc, (sec.n + 1) * sizeof(*r->by_sector))) == NULL ||
                    (r->by_category = alloc_zero(alloc, (cat.n + 1) * sizeof(*r->by_category))) == NULL))
        rc = STORE_NOMEM;
    for (size_t i = 0; rc == 0 && i < sec.n; i++) {
        Tallinn__V1__SectorCoverage *e = alloc_zero(alloc, sizeof(*e));
        if (e == NULL) {
            rc = STORE_NOMEM;
            break;
        }
        tallinn__v1__sector_coverage__init(e);
        e->sector = sec.v[i].key;
        rc = totals(&sec.v[i].s, cur, alloc, &e->totals);
        r->by_sector[r->n_by_sector++] = e;
    }
    for (size_t i = 0; rc == 0 && i < cat.n; i++) {
        Tallinn__V1__CategoryCoverage *e = alloc_zero(alloc, sizeof(*e));
        if (e == NULL) {
            rc = STORE_NOMEM;
            break;
        }
        tallinn__v1__category_coverage__init(e);
        e->category = cat.v[i].key;
        rc = totals(&cat.v[i].s, cur, alloc, &e->totals);
        r->by_category[r->n_by_category++] = e;
    }
    if (rc == 0 && w->q->with_regions && nc > 0) {
        sort(counted, nc, sizeof(*counted), by_region);
        if ((r->by_region = alloc_zero(alloc, nc * sizeof(*r->by_region))) == NULL)
            rc = STORE_NOMEM;
        for (size_t i = 0; rc == 0 && i < nc; i = nreg) {
            Tallinn__V1__RegionCoverage *e = alloc_zero(alloc, sizeof(*e));
            sums s = {0};
            for (nreg = i; nreg < nc && strcmp(counted[nreg]->n->region, counted[i]->n->region) == 0;
                 nreg++)
                add_need(&s, counted[nreg]);
            if (e == NULL) {
                rc = STORE_NOMEM;
                break;
            }
            tallinn__v1__region_coverage__init(e);
            e->region = counted[i]->n->region;
            rc = totals(&s, cur, alloc, &e->totals);
            r->by_region[r->n_by_region++] = e;
        }
    }
    if (rc == 0 && (sec.nomem || cat.nomem))
        rc = STORE_NOMEM;
    free(sec.v);
    free(cat.v);
    free(counted);
    return rc;
}

/* by_fiscal_year and by_currency: the pledges and the matches that count,
 * the own donor's only for a DONOR. */
static int money_lines(world *w, const char *cur, ProtobufCAllocator *alloc,
                       Tallinn__V1__CoverageReport *r)
{
    lines fy = {0}, cc = {0};
    int rc = 0;

    for (size_t i = 0; i < w->pledges.n; i++) {
        const Tallinn__V1__Pledge *p = (const void *)w->pledges.v[i];
        store_sum v = ledger_value(p->accounting_amount, p->amount);
        line *a, *b;
        if (!pledge_counts(w->q, p) || !own(w->q, p->name, donor_len(p->name)) || p->amount == NULL)
            continue;
        if ((a = line_for(&fy, p->fiscal_year, NULL)) == NULL ||
            (b = line_for(&cc, 0, p->amount->currency_code)) == NULL)
            break;
        a->pledged += v;
        b->pledged += ledger_nanos(p->amount);
        b->pledged_acc += v;
    }
    for (size_t i = 0; i < w->matches.n; i++) {
        const Tallinn__V1__Match *x = (const void *)w->matches.v[i];
        const Tallinn__V1__Pledge *p;
        store_sum v = ledger_value(x->accounting_amount, x->amount);
        int delivered = (LEDGER_DELIVERED_STATES & (1u << x->state)) != 0;
        line *a, *b;
        rneed *n;
        if (!match_counts(w, x, &n) || !own(w->q, x->donor, strlen(x->donor)) || x->amount == NULL)
            continue;
        p = find_pledge(w, x->pledge);
        if ((a = line_for(&fy, p != NULL ? p->fiscal_year : 0, NULL)) == NULL ||
            (b = line_for(&cc, 0, x->amount->currency_code)) == NULL)
            break;
        a->s.committed += v;
        b->s.committed += v;
        b->committed_orig += ledger_nanos(x->amount);
        if (delivered) {
            a->s.delivered += v;
            b->s.delivered += v;
            b->delivered_orig += ledger_nanos(x->amount);
        }
    }
    if (fy.nomem || cc.nomem)
        rc = STORE_NOMEM;
    sort(fy.v, fy.n, sizeof(*fy.v), by_key);
    sort(cc.v, cc.n, sizeof(*cc.v), by_key);
    if (rc == 0 && ((r->by_fiscal_year = alloc_zero(alloc, (fy.n + 1) * sizeof(void *))) == NULL ||
                    (r->by_currency = alloc_zero(alloc, (cc.n + 1) * sizeof(void *))) == NULL))
        rc = STORE_NOMEM;
    for (size_t i = 0; rc == 0 && i < fy.n; i++) {
        Tallinn__V1__FiscalYearCoverage *e = alloc_zero(alloc, sizeof(*e));
        const line *l = &fy.v[i];
        if (e == NULL) {
            rc = STORE_NOMEM;
            break;
        }
        tallinn__v1__fiscal_year_coverage__init(e);
        e->fiscal_year = l->key;
        if ((rc = ledger_money(l->pledged, cur, alloc, &e->pledged)) != 0 ||
            (rc = ledger_money(l->s.committed, cur, alloc, &e->committed)) != 0 ||
            (rc = ledger_money(l->s.delivered, cur, alloc, &e->delivered)) != 0)
            break;
        e->committed_percent = percent(alloc, l->s.committed, l->pledged);
        e->delivered_percent = percent(alloc, l->s.delivered, l->pledged);
        if (e->committed_percent == NULL || e->delivered_percent == NULL)
            rc = STORE_NOMEM;
        r->by_fiscal_year[r->n_by_fiscal_year++] = e;
    }
    for (size_t i = 0; rc == 0 && i < cc.n; i++) {
        Tallinn__V1__CurrencyCoverage *e = alloc_zero(alloc, sizeof(*e));
        const line *l = &cc.v[i];
        if (e == NULL) {
            rc = STORE_NOMEM;
            break;
        }
        tallinn__v1__currency_coverage__init(e);
        e->currency_code = (char *)l->cur;
        if ((rc = ledger_money(l->pledged, l->cur, alloc, &e->pledged)) != 0 ||
            (rc = ledger_money(l->pledged_acc, cur, alloc, &e->pledged_accounting)) != 0 ||
            (rc = ledger_money(l->committed_orig, l->cur, alloc, &e->committed)) != 0 ||
            (rc = ledger_money(l->s.committed, cur, alloc, &e->committed_accounting)) != 0 ||
            (rc = ledger_money(l->delivered_orig, l->cur, alloc, &e->delivered)) != 0 ||
            (rc = ledger_money(l->s.delivered, cur, alloc, &e->delivered_accounting)) != 0)
            break;
        r->by_currency[r->n_by_currency++] = e;
    }
    free(fy.v);
    free(cc.v);
    return rc;
}

/* ---- Donor lines ---- */

typedef struct donor_acc {
    const Tallinn__V1__Donor *d;
    sums s;
    store_sum pledged;
} donor_acc;

typedef struct pair {
    size_t donor, need; /* indexes into the donor and need arrays */
} pair;

static int by_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->donor != y->donor)
        return x->donor < y->donor ? -1 : 1;
    return (x->need > y->need) - (x->need < y->need);
}

static int by_display(const void *a, const void *b)
{
    const donor_acc *x = a, *y = b;
    int c = strcmp(x->d->display_name, y->d->display_name);
    return c != 0 ? c : strcmp(x->d->name, y->d->name);
}

/* The donors array is in name order: a donor's index by name. */
static long donor_index(const world *w, const char *name, size_t len)
{
    size_t lo = 0, hi = w->donors.n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *n = ((const Tallinn__V1__Donor *)w->donors.v[mid])->name;
        int c = strncmp(name, n, len);
        if (c == 0)
            c = n[len] == '\0' ? 0 : -1;
        if (c == 0)
            return (long)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

static int donor_lines(world *w, const char *cur, ProtobufCAllocator *alloc,
                       Tallinn__V1__CoverageReport *r)
{
    donor_acc *acc = calloc(w->donors.n + 1, sizeof(*acc));
    pair *pairs = calloc(w->matches.n + 1, sizeof(*pairs));
    size_t np = 0, nl = 0;
    int rc = acc == NULL || pairs == NULL ? STORE_NOMEM : 0;

    for (size_t i = 0; rc == 0 && i < w->donors.n; i++)
        acc[i].d = (const void *)w->donors.v[i];
    for (size_t i = 0; rc == 0 && i < w->pledges.n; i++) {
        const Tallinn__V1__Pledge *p = (const void *)w->pledges.v[i];
        long d = donor_index(w, p->name, donor_len(p->name));
        if (d >= 0 && pledge_counts(w->q, p))
            acc[d].pledged += ledger_value(p->accounting_amount, p->amount);
    }
    for (size_t i = 0; rc == 0 && i < w->matches.n; i++) {
        const Tallinn__V1__Match *x = (const void *)w->matches.v[i];
        store_sum v = ledger_value(x->accounting_amount, x->amount);
        long d = donor_index(w, x->donor, strlen(x->donor));
        rneed *n;
        if (d < 0 || !match_counts(w, x, &n))
            continue;
        acc[d].s.committed += v;
        if (LEDGER_DELIVERED_STATES & (1u << x->state))
            acc[d].s.delivered += v;
        pairs[np].donor = (size_t)d;
        pairs[np++].need = (size_t)(n - w->needs);
    }
    if (rc == 0) {
        sort(pairs, np, sizeof(*pairs), by_pair);
        for (size_t i = 0; i < np; i++)
            if (i == 0 || by_pair(&pairs[i - 1], &pairs[i]) != 0) {
                acc[pairs[i].donor].s.count++;
                acc[pairs[i].donor].s.estimated +=
                    ledger_nanos(w->needs[pairs[i].need].n->estimated_cost);
            }
        sort(acc, w->donors.n, sizeof(*acc), by_display);
        if ((r->by_donor = alloc_zero(alloc, (w->donors.n + 1) * sizeof(*r->by_donor))) == NULL)
            rc = STORE_NOMEM;
    }
    for (size_t i = 0; rc == 0 && i < w->donors.n; i++) {
        Tallinn__V1__DonorCoverage *e;
        if (acc[i].d->membership != MEMBER ||
            (w->q->own_donor != NULL && strcmp(w->q->own_donor, acc[i].d->name) != 0))
            continue;
        if ((e = alloc_zero(alloc, sizeof(*e))) == NULL) {
            rc = STORE_NOMEM;
            break;
        }
        tallinn__v1__donor_coverage__init(e);
        e->donor = acc[i].d->name;
        e->donor_display_name = acc[i].d->display_name;
        if ((rc = totals(&acc[i].s, cur, alloc, &e->totals)) != 0 ||
            (rc = ledger_money(acc[i].pledged, cur, alloc, &e->pledged)) != 0)
            break;
        r->by_donor[nl++] = e;
    }
    r->n_by_donor = nl;
    free(acc);
    free(pairs);
    return rc;
}

/* ---- A DONOR's statement ---- */

static int statement(world *w, ProtobufCAllocator *alloc, Tallinn__V1__CoverageReport *r)
{
    const ledger_report_query *q = w->q;
    Tallinn__V1__DonorStatement *s = alloc_zero(alloc, sizeof(*s));
    int need_filter = q->start_day != 0 || q->end_day != 0 || (q->region != NULL && q->region[0]);

    if (s == NULL)
        return STORE_NOMEM;
    tallinn__v1__donor_statement__init(s);
    if ((s->pledges = alloc_zero(alloc, (w->pledges.n + 1) * sizeof(*s->pledges))) == NULL ||
        (s->matches = alloc_zero(alloc, (w->matches.n + 1) * sizeof(*s->matches))) == NULL ||
        (s->deliveries = alloc_zero(alloc, (w->matches.n + 1) * sizeof(*s->deliveries))) == NULL)
        return STORE_NOMEM;
    s->donor = (char *)q->own_donor;
    for (size_t i = 0; i < w->pledges.n; i++) {
        Tallinn__V1__Pledge *p = (void *)w->pledges.v[i];
        if (is_donor(q->own_donor, p->name, donor_len(p->name)) && year_ok(q, p) &&
            in_range(q, day_of(p->create_time)))
            s->pledges[s->n_pledges++] = p;
    }
    for (size_t i = 0; i < w->matches.n; i++) {
        Tallinn__V1__Match *x = (void *)w->matches.v[i];
        rneed *n = find_need(w, x->need);
        if (strcmp(x->donor, q->own_donor) != 0 || !year_ok(q, find_pledge(w, x->pledge)) ||
            (need_filter && (n == NULL || !n->passes)))
            continue;
        s->matches[s->n_matches++] = x;
        if (DELIVERY_STATES & (1u << x->state))
            s->deliveries[s->n_deliveries++] = x;
    }
    r->statement = s;
    return 0;
}

static int by_create(const void *a, const void *b)
{
    /* pledges and matches of a statement in creation order, then name */
    const ProtobufCMessage *x = *(ProtobufCMessage *const *)a, *y = *(ProtobufCMessage *const *)b;
    const Google__Protobuf__Timestamp *tx, *ty;
    const char *nx, *ny;

    if (x->descriptor == &tallinn__v1__pledge__descriptor) {
        tx = ((const Tallinn__V1__Pledge *)x)->create_time;
        ty = ((const Tallinn__V1__Pledge *)y)->create_time;
        nx = ((const Tallinn__V1__Pledge *)x)->name;
        ny = ((const Tallinn__V1__Pledge *)y)->name;
    } else {
        tx = ((const Tallinn__V1__Match *)x)->create_time;
        ty = ((const Tallinn__V1__Match *)y)->create_time;
        nx = ((const Tallinn__V1__Match *)x)->name;
        ny = ((const Tallinn__V1__Match *)y)->name;
    }
    if (tx != NULL && ty != NULL && (tx->seconds != ty->seconds || tx->nanos != ty->nanos))
        return tx->seconds != ty->seconds ? (tx->seconds < ty->seconds ? -1 : 1)
                                          : (tx->nanos < ty->nanos ? -1 : 1);
    return strcmp(nx, ny);
}

/* ---- The report ---- */

int ledger_report(store_tx *tx, const ledger_report_query *q, const char *currency,
                  ProtobufCAllocator *alloc, Tallinn__V1__CoverageReport *r)
{
    world w = {.q = q};
    rows needs = {0};
    store_scope all = {.kind = STORE_SCOPE_ALL};
    int rc;

    if ((rc = list_all(tx, STORE_NEED, q->view, alloc, &needs)) != 0 ||
        (rc = list_all(tx, STORE_PLEDGE, all, alloc, &w.pledges)) != 0 ||
        (rc = list_all(tx, STORE_MATCH, all, alloc, &w.matches)) != 0 ||
        (rc = list_all(tx, STORE_DONOR, all, alloc, &w.donors)) != 0)
        goto done;
    if ((w.needs = calloc(needs.n + 1, sizeof(*w.needs))) == NULL) {
        rc = STORE_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < needs.n; i++) {
        rneed *n = &w.needs[w.n_needs++];
        n->n = (const void *)needs.v[i];
        n->passes = in_range(q, day_of(n->n->create_time)) &&
                    (q->region == NULL || q->region[0] == '\0' ||
                     strcmp(q->region, n->n->region) == 0);
        n->counted = n->passes && (q->need_mask & (1u << n->n->state)) != 0;
    }
    need_sums(&w);
    if ((rc = need_lines(&w, currency, alloc, r)) != 0 ||
        (rc = money_lines(&w, currency, alloc, r)) != 0 ||
        (rc = donor_lines(&w, currency, alloc, r)) != 0)
        goto done;
    if (q->own_donor != NULL) {
        if ((rc = statement(&w, alloc, r)) != 0)
            goto done;
        sort(r->statement->pledges, r->statement->n_pledges, sizeof(void *), by_create);
        sort(r->statement->matches, r->statement->n_matches, sizeof(void *), by_create);
        sort(r->statement->deliveries, r->statement->n_deliveries, sizeof(void *), by_create);
    }
done:
    free(needs.v);
    free(w.needs);
    free(w.pledges.v);
    free(w.matches.v);
    free(w.donors.v);
    return rc;
}
