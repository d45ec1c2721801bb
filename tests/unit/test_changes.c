/* test_changes.c — the change log over a real engine (SQLite; PostgreSQL as
 * unit.changes.pg, a fresh schema per test): every change a
 * job makes is kept under the index of the audit record the job appends (its
 * last bytes, in the order made), a refused savepoint leaves nothing, a change
 * without a record fails its batch; versions, a donor's live matches as of a
 * position, the baseline its migration writes over existing resources; the
 * rendering for each role (tombstones only for what was seen, a need a donor
 * gains and loses sight of through its own match, redaction); and waiting:
 * a commit of this process wakes a waiter, a commit through a second store
 * handle (another process) is seen only by polling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "handlers/changes.h"
#include "tallinn/store.h"
#include "test_db.h"

#define OPEN TALLINN__V1__NEED__STATE__STATE_OPEN
#define DRAFT TALLINN__V1__NEED__STATE__STATE_DRAFT
#define ON_HOLD TALLINN__V1__NEED__STATE__STATE_ON_HOLD
#define STANDARD TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD
#define RESTRICTED TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED
#define PROPOSED TALLINN__V1__MATCH__STATE__STATE_PROPOSED
#define DECLINED TALLINN__V1__MATCH__STATE__STATE_DECLINED

typedef struct fixture {
    char dir[64];
    char path[96];
    store *s;
} fixture;

/* The migration before the change log's, per engine (renumber with it). */
#define SQLITE_BEFORE_CHANGE_LOG "7"
#define PG_BEFORE_CHANGE_LOG "2"

static store *open_store(const char *path, int change_log, int shared)
{
    store_options o = {.path = path, .change_log = change_log, .shared = shared,
                       .database_url = test_pg_url()};
    char err[256];
    store *s = NULL;

    if (store_open(&s, &o, err, sizeof(err)) != STORE_OK)
        fail_msg("store_open: %s", err);
    return s;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    strcpy(f->dir, "/tmp/tallinn-changes-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    if (test_pg_url() != NULL) /* each test on an empty database, as on SQLite */
        test_pg_sql("DROP OWNED BY CURRENT_USER", NULL, 0);
    f->s = open_store(f->path, 1, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    store_close(f->s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- Resources and jobs ---- */

static Tallinn__V1__Money eur = {PROTOBUF_C_MESSAGE_INIT(&tallinn__v1__money__descriptor), "EUR",
                                 100, 0};

static Tallinn__V1__Need need(const char *name, int state, int sensitivity, const char *title)
{
    Tallinn__V1__Need n = TALLINN__V1__NEED__INIT;

    n.name = (char *)name;
    n.title = (char *)title;
    n.description = "two HA pairs";
    n.beneficiary = "a port";
    n.region = "Odesa";
    n.state = state;
    n.sensitivity = sensitivity;
    n.sector = TALLINN__V1__SECTOR__SECTOR_ENERGY;
    n.estimated_cost = &eur;
    return n;
}

static Tallinn__V1__Match match(const char *name, const char *need_name, const char *donor,
                                int state)
{
    Tallinn__V1__Match m = TALLINN__V1__MATCH__INIT;
    static char pledge[2][64];
    static int turn;
    char *p = pledge[turn++ % 2];

    snprintf(p, 64, "%s/pledges/p", donor);
    m.name = (char *)name;
    m.need = (char *)need_name;
    m.donor = (char *)donor;
    m.pledge = p;
    m.state = state;
    m.amount = &eur;
    return m;
}

/* One write job: the puts, then (unless record is 0) one audit record at
 * the head, as audit.c's jobs append them. */
typedef struct put {
    store_kind kind;
    const ProtobufCMessage *m;
    int insert; /* 1 insert, 0 update, -1 delete (the message's name) */
} put;

typedef struct job {
    const put *puts;
    size_t n;
    int record;
    int refuse_first; /* the first put in a nested savepoint that is undone */
    int64_t index;    /* out: the record's index */
} job;

static int do_put(store_tx *tx, const put *u)
{
    if (u->insert < 0) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(u->m->descriptor, "name");
        return store_delete(tx, u->kind, *(char *const *)((const char *)u->m + f->offset));
    }
    return u->insert ? store_insert(tx, u->kind, u->m) : store_update(tx, u->kind, u->m);
}

static int run_job(store_tx *tx, void *p)
{
    job *j = p;
    int64_t head;
    int rc;

    for (size_t i = 0; i < j->n; i++) {
        if (i == 0 && j->refuse_first) {
            assert_int_equal(store_savepoint(tx), STORE_OK);
            assert_int_equal(do_put(tx, &j->puts[i]), STORE_OK);
            assert_int_equal(store_savepoint_end(tx, 0), STORE_OK);
            continue;
        }
        if ((rc = do_put(tx, &j->puts[i])) != STORE_OK)
            return 100 - rc;
    }
    if (!j->record)
        return 0;
    if ((rc = store_audit_head(tx, &head)) != STORE_OK ||
        (rc = store_audit_append(tx, head, (const uint8_t *)"r", 1)) != STORE_OK ||
        (rc = store_audit_head_set(tx, head + 1)) != STORE_OK)
        return 100 - rc;
    j->index = head;
    return 0;
}

static int64_t commit(store *s, const put *puts, size_t n)
{
    job j = {puts, n, 1, 0, -1};
    int job_rc;

    assert_int_equal(store_write(s, run_job, &j, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    return j.index;
}

static void base_data(store *s)
{
    Tallinn__V1__Donor a = TALLINN__V1__DONOR__INIT, b = TALLINN__V1__DONOR__INIT;
    Tallinn__V1__Pledge pa = TALLINN__V1__PLEDGE__INIT, pb = TALLINN__V1__PLEDGE__INIT;
    put puts[4];

    a.name = "donors/alpha";
    a.display_name = "Alpha";
    a.contact_email = "cyber@alpha.example";
    b.name = "donors/beta";
    b.display_name = "Beta";
    b.contact_email = "cyber@beta.example";
    pa.name = "donors/alpha/pledges/p";
    pa.amount = &eur;
    pb.name = "donors/beta/pledges/p";
    pb.amount = &eur;
    puts[0] = (put){STORE_DONOR, &a.base, 1};
    puts[1] = (put){STORE_DONOR, &b.base, 1};
    puts[2] = (put){STORE_PLEDGE, &pa.base, 1};
    puts[3] = (put){STORE_PLEDGE, &pb.base, 1};
    commit(s, puts, 4);
}

/* ---- Reading back ---- */

typedef struct seen {
    store_change rows[32];
    char names[32][64], donors[32][64], needs[32][64];
    char data[32][512];
    size_t n;
} seen;

static int keep(const store_change *ch, void *p)
{
    seen *s = p;

    assert_true(s->n < 32);
    s->rows[s->n] = *ch;
    snprintf(s->names[s->n], 64, "%s", ch->name);
    snprintf(s->donors[s->n], 64, "%s", ch->donor);
    snprintf(s->needs[s->n], 64, "%s", ch->need);
    assert_true(ch->len <= sizeof(s->data[0]));
    if (ch->len > 0)
        memcpy(s->data[s->n], ch->data, ch->len);
    s->rows[s->n].name = s->names[s->n];
    s->rows[s->n].donor = s->donors[s->n];
    s->rows[s->n].need = s->needs[s->n];
    s->rows[s->n].data = (const uint8_t *)s->data[s->n];
    s->n++;
    return 0;
}

static void scan(store *s, int64_t from, int64_t to, seen *out)
{
    store_tx *tx;

    memset(out, 0, sizeof(*out));
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_change_scan(tx, from, to, 32, keep, out), STORE_OK);
    store_read_end(tx);
}

static char *title_of(const store_change *ch)
{
    static char buf[128];
    Tallinn__V1__Need *n = tallinn__v1__need__unpack(NULL, ch->len, ch->data);

    assert_non_null(n);
    snprintf(buf, sizeof(buf), "%s", n->title);
    tallinn__v1__need__free_unpacked(n, NULL);
    return buf;
}

/* ---- The log ---- */

static void test_changes_keyed_by_their_record(void **state)
{
    fixture *f = *state;
    Tallinn__V1__Need n1 = need("needs/n1", DRAFT, STANDARD, "first title");
    Tallinn__V1__Need n1b = need("needs/n1", OPEN, STANDARD, "second title");
    Tallinn__V1__Match m = match("matches/m", "needs/n1", "donors/alpha", PROPOSED);
    put puts[] = {{STORE_NEED, &n1.base, 1}, {STORE_MATCH, &m.base, 1}, {STORE_NEED, &n1b.base, 0}};
    seen s;
    int64_t idx;

    base_data(f->s); /* index 0: two donors, two pledges */
    idx = commit(f->s, puts, 3);
    assert_true(idx == 1);
    scan(f->s, 0, 100, &s);
    assert_int_equal(s.n, 6);
    for (size_t i = 0; i < 4; i++) {
        assert_true(s.rows[i].index == 0);
        assert_int_equal(s.rows[i].seq, (int)i);
    }
    assert_string_equal(s.rows[2].name, "donors/alpha/pledges/p");
    assert_string_equal(s.rows[2].donor, "donors/alpha");
    /* One row per resource per record, in the order first changed, with the
     * bytes of its last change. */
    assert_true(s.rows[4].index == 1 && s.rows[4].seq == 0 && s.rows[4].kind == STORE_NEED);
    assert_string_equal(title_of(&s.rows[4]), "second title");
    assert_int_equal(s.rows[4].state, OPEN);
    assert_true(s.rows[5].index == 1 && s.rows[5].seq == 1 && s.rows[5].kind == STORE_MATCH);
    assert_string_equal(s.rows[5].need, "needs/n1");
    assert_string_equal(s.rows[5].donor, "donors/alpha");
    assert_int_equal(s.rows[5].state, PROPOSED);
    /* Bounds: from and to cut by index; the limit counts rows. */
    scan(f->s, 1, 2, &s);
    assert_int_equal(s.n, 2);
    scan(f->s, 2, 100, &s);
    assert_int_equal(s.n, 0);
}

static void test_refused_savepoint_leaves_nothing(void **state)
{
    fixture *f = *state;
    Tallinn__V1__Need a = need("needs/a", DRAFT, STANDARD, "refused");
    Tallinn__V1__Need b = need("needs/b", DRAFT, STANDARD, "kept");
    put puts[] = {{STORE_NEED, &a.base, 1}, {STORE_NEED, &b.base, 1}};
    job j = {puts, 2, 1, 1, -1};
    int job_rc;
    seen s;

    assert_int_equal(store_write(f->s, run_job, &j, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    scan(f->s, 0, 100, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.rows[0].name, "needs/b");
    assert_int_equal(s.rows[0].seq, 0);
}

static void test_change_without_record_fails(void **state)
{
    fixture *f = *state;
    Tallinn__V1__Need a = need("needs/a", DRAFT, STANDARD, "no record");
    put puts[] = {{STORE_NEED, &a.base, 1}};
    job j = {puts, 1, 0, 0, -1};
    ProtobufCMessage *m = NULL;
    store_tx *tx;
    int job_rc;
    seen s;

    assert_int_equal(store_write(f->s, run_job, &j, &job_rc), STORE_ERROR);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_get(tx, STORE_NEED, "needs/a", NULL, &m), STORE_NOT_FOUND);
    store_read_end(tx);
    scan(f->s, 0, 100, &s);
    assert_int_equal(s.n, 0);
    /* Without change_log, the store asks for no record (tests of the store
     * alone, tallinnd init). */
    store_close(f->s);
    f->s = open_store(f->path, 0, 0);
    assert_int_equal(store_write(f->s, run_job, &j, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
}

/* A deletion (DeleteExchangeRate) is a row too: deleted, without bytes,
 * under its record, after the versions before it; a rate is kept with its
 * own kind number. */
static void test_deletion_kept(void **state)
{
    fixture *f = *state;
    Tallinn__V1__Date day = TALLINN__V1__DATE__INIT;
    Tallinn__V1__ExchangeRate r = TALLINN__V1__EXCHANGE_RATE__INIT;
    put create[] = {{STORE_RATE, &r.base, 1}}, drop[] = {{STORE_RATE, &r.base, -1}};
    int64_t made, gone;
    seen s;

    day.year = 2025;
    day.month = 3;
    day.day = 14;
    r.name = "exchangeRates/usd-2025-03-14";
    r.currency_code = "USD";
    r.rate = "1.0850";
    r.rate_date = &day;
    made = commit(f->s, create, 1);
    gone = commit(f->s, drop, 1);
    scan(f->s, 0, 100, &s);
    assert_int_equal(s.n, 2);
    assert_true(s.rows[0].index == made && s.rows[0].kind == STORE_RATE && !s.rows[0].deleted);
    assert_string_equal(s.rows[0].name, "exchangeRates/usd-2025-03-14");
    assert_true(s.rows[1].index == gone && s.rows[1].kind == STORE_RATE && s.rows[1].deleted);
    assert_string_equal(s.rows[1].name, "exchangeRates/usd-2025-03-14");
    assert_int_equal((int)s.rows[1].len, 0);
}

static void test_versions_and_live_matches(void **state)
{
    fixture *f = *state;
    Tallinn__V1__Need n = need("needs/r", OPEN, RESTRICTED, "restricted");
    Tallinn__V1__Match mp = match("matches/m", "needs/r", "donors/alpha", PROPOSED);
    Tallinn__V1__Match md = match("matches/m", "needs/r", "donors/alpha", DECLINED);
    put p1[] = {{STORE_NEED, &n.base, 1}}, p2[] = {{STORE_MATCH, &mp.base, 1}},
        p3[] = {{STORE_MATCH, &md.base, 0}};
    int64_t i1, i2, i3;
    change_version v;
    store_tx *tx;
    int yes;

    base_data(f->s);
    i1 = commit(f->s, p1, 1);
    i2 = commit(f->s, p2, 1);
    i3 = commit(f->s, p3, 1);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    /* alpha's match is live at i2 only */
    assert_int_equal(store_change_live_match(tx, "needs/r", "donors/alpha",
                                             DOMAIN_LIVE_MATCH_STATES, i1, &yes), STORE_OK);
    assert_int_equal(yes, 0);
    assert_int_equal(store_change_live_match(tx, "needs/r", "donors/alpha",
                                             DOMAIN_LIVE_MATCH_STATES, i2, &yes), STORE_OK);
    assert_int_equal(yes, 1);
    assert_int_equal(store_change_live_match(tx, "needs/r", "donors/alpha",
                                             DOMAIN_LIVE_MATCH_STATES, i3, &yes), STORE_OK);
    assert_int_equal(yes, 0);
    assert_int_equal(store_change_live_match(tx, "needs/r", "donors/beta",
                                             DOMAIN_LIVE_MATCH_STATES, i2, &yes), STORE_OK);
    assert_int_equal(yes, 0);
    /* The version before a position */
    assert_int_equal(changes_version_before(tx, STORE_MATCH, "matches/m", i3, &v), STORE_OK);
    assert_true(v.index == i2);
    assert_int_equal(((Tallinn__V1__Match *)v.msg)->state, PROPOSED);
    changes_version_free(&v);
    assert_int_equal(changes_version_before(tx, STORE_MATCH, "matches/m", i2, &v), STORE_NOT_FOUND);
    changes_version_free(&v);
    store_read_end(tx);
}

static void test_migration_keeps_a_baseline(void **state)
{
    fixture *f = *state;
    Tallinn__V1__Need n = need("needs/old", OPEN, RESTRICTED, "from before");
    Tallinn__V1__Match m = match("matches/old", "needs/old", "donors/alpha", PROPOSED);
    Tallinn__V1__ExchangeRate rate = TALLINN__V1__EXCHANGE_RATE__INIT;
    put puts[] = {{STORE_NEED, &n.base, 1}, {STORE_MATCH, &m.base, 1}, {STORE_RATE, &rate.base, 1}};
    int64_t start = -1;
    change_version v;
    store_tx *tx;
    sqlite3 *db;
    seen s;
    int yes;

    rate.name = "exchangeRates/usd-2025-03-14";
    rate.currency_code = "USD";
    rate.rate = "1.0850";
    base_data(f->s);
    commit(f->s, puts, 3); /* head 2 */
    store_close(f->s);
    f->s = NULL;
    /* As the migration before it left it: no change log (nor what later
     * migrations made), resources and records there. */
    if (test_pg_url() != NULL) {
        test_pg_sql("DROP TABLE changes; DROP TABLE change_log_start;"
                    " DROP TABLE audit_witnesses; DROP TABLE audit_cosignatures;"
                    " DROP TABLE audit_quorums; DROP TRIGGER match_totals ON matches;"
                    " DROP FUNCTION match_totals_apply(); DROP TABLE match_totals;"
                    " ALTER TABLE donors DROP COLUMN display_name_fold;"
                    " ALTER TABLE needs DROP COLUMN title_fold;"
                    " UPDATE schema_version SET version = " PG_BEFORE_CHANGE_LOG, NULL, 0);
    } else {
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "DROP TABLE changes; DROP TABLE change_log_start;"
                                          " DROP TABLE audit_witnesses;"
                                          " DROP TABLE audit_cosignatures;"
                                          " DROP TABLE audit_quorums;"
                                          " DROP TABLE match_totals;"
                                          " DROP TRIGGER match_totals_insert;"
                                          " DROP TRIGGER match_totals_delete;"
                                          " DROP TRIGGER match_totals_update;"
                                          " ALTER TABLE donors DROP COLUMN display_name_fold;"
                                          " ALTER TABLE needs DROP COLUMN title_fold;"
                                          " PRAGMA user_version = " SQLITE_BEFORE_CHANGE_LOG ";",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    f->s = open_store(f->path, 1, 0);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_change_start(tx, &start), STORE_OK);
    assert_true(start == 2);
    /* The baseline is each resource as it was, at index -1: never scanned
     * as a change, but the version before any later one. */
    assert_int_equal(changes_version_before(tx, STORE_NEED, "needs/old", 100, &v), STORE_OK);
    assert_true(v.index == -1);
    assert_string_equal(((Tallinn__V1__Need *)v.msg)->title, "from before");
    changes_version_free(&v);
    assert_int_equal(changes_version_before(tx, STORE_RATE, rate.name, 100, &v), STORE_OK);
    assert_true(v.index == -1);
    assert_string_equal(((Tallinn__V1__ExchangeRate *)v.msg)->rate, "1.0850");
    changes_version_free(&v);
    assert_int_equal(store_change_live_match(tx, "needs/old", "donors/alpha",
                                             DOMAIN_LIVE_MATCH_STATES, 5, &yes), STORE_OK);
    assert_int_equal(yes, 1);
    store_read_end(tx);
    scan(f->s, -1, 100, &s);
    assert_int_equal(s.n, 0);
}

/* ---- Rendering for a caller ---- */

typedef struct rendered {
    char what[16][96];
    size_t n;
} rendered;

/* Renders position at for caller as "name" or "name removed" lines. */
static void render(store *s, const api_caller *c, int64_t at, rendered *out)
{
    changes_filter filter = {0, NULL};
    change_version *v = calloc(32, sizeof(*v));
    changes_out *o = NULL;
    size_t n_o = 0, cap = 0;
    store_tx *tx;
    seen rows;

    scan(s, at, at + 1, &rows);
    for (size_t i = 0; i < rows.n; i++)
        assert_int_equal(changes_version_copy(&rows.rows[i], &v[i]), STORE_OK);
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(changes_render(tx, c, &filter, v, rows.n, &o, &n_o, &cap), STORE_OK);
    store_read_end(tx);
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n_o && i < 16; i++) {
        snprintf(out->what[i], sizeof(out->what[i]), "%s%s", o[i].name,
                 o[i].tombstone ? " removed" : "");
        if (o[i].kind == STORE_NEED && o[i].msg != NULL &&
            ((Tallinn__V1__Need *)o[i].msg)->description[0] == '\0')
            strcat(out->what[i], " redacted");
        if (o[i].kind == STORE_DONOR && o[i].msg != NULL &&
            ((Tallinn__V1__Donor *)o[i].msg)->contact_email[0] == '\0')
            strcat(out->what[i], " redacted");
    }
    out->n = n_o;
    changes_out_free(o, n_o);
    free(o);
    for (size_t i = 0; i < rows.n; i++)
        changes_version_free(&v[i]);
    free(v);
}

static int has(const rendered *r, const char *what)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->what[i], what) == 0)
            return 1;
    return 0;
}

static void test_render_per_role(void **state)
{
    fixture *f = *state;
    const api_caller alpha = {"principals/a", API_ROLE_DONOR, "donors/alpha"};
    const api_caller beta = {"principals/b", API_ROLE_DONOR, "donors/beta"};
    const api_caller observer = {"principals/o", API_ROLE_OBSERVER, NULL};
    const api_caller staff = {"principals/s", API_ROLE_BACK_OFFICE, NULL};
    const api_caller admin = {"principals/x", API_ROLE_ADMIN, NULL};
    Tallinn__V1__Need open = need("needs/o", OPEN, STANDARD, "open");
    Tallinn__V1__Need held = need("needs/o", ON_HOLD, STANDARD, "open");
    Tallinn__V1__Need draft = need("needs/d", DRAFT, STANDARD, "draft");
    Tallinn__V1__Need secret = need("needs/r", OPEN, RESTRICTED, "restricted");
    Tallinn__V1__Match mp = match("matches/m", "needs/r", "donors/alpha", PROPOSED);
    Tallinn__V1__Match md = match("matches/m", "needs/r", "donors/alpha", DECLINED);
    put p1[] = {{STORE_NEED, &open.base, 1}, {STORE_NEED, &draft.base, 1},
                {STORE_NEED, &secret.base, 1}};
    put p2[] = {{STORE_NEED, &held.base, 0}}, p3[] = {{STORE_MATCH, &mp.base, 1}},
        p4[] = {{STORE_MATCH, &md.base, 0}};
    int64_t i0, i1, i2, i3;
    rendered r;

    base_data(f->s);
    render(f->s, &alpha, 0, &r); /* donors for all, another's e-mail hidden */
    assert_true(has(&r, "donors/alpha") && has(&r, "donors/beta redacted") &&
                has(&r, "donors/alpha/pledges/p") && !has(&r, "donors/beta/pledges/p"));
    render(f->s, &observer, 0, &r); /* no pledges, e-mails as on reads */
    assert_true(r.n == 2 && has(&r, "donors/alpha") && has(&r, "donors/beta"));
    render(f->s, &admin, 0, &r);
    assert_int_equal(r.n, 0);

    i0 = commit(f->s, p1, 3);
    render(f->s, &alpha, i0, &r); /* the open need only: never a draft, never restricted */
    assert_true(r.n == 1 && has(&r, "needs/o"));
    render(f->s, &observer, i0, &r);
    assert_true(r.n == 2 && has(&r, "needs/o redacted") && has(&r, "needs/d redacted"));
    render(f->s, &staff, i0, &r);
    assert_int_equal(r.n, 3);

    i1 = commit(f->s, p2, 1); /* on hold: a donor that saw it gets a tombstone */
    render(f->s, &alpha, i1, &r);
    assert_true(r.n == 1 && has(&r, "needs/o removed"));
    render(f->s, &observer, i1, &r);
    assert_true(r.n == 1 && has(&r, "needs/o redacted"));

    i2 = commit(f->s, p3, 1); /* alpha's match: alpha now sees the RESTRICTED need */
    render(f->s, &alpha, i2, &r);
    assert_true(r.n == 2 && has(&r, "matches/m") && has(&r, "needs/r"));
    render(f->s, &beta, i2, &r); /* another donor's match: nothing at all */
    assert_int_equal(r.n, 0);
    render(f->s, &observer, i2, &r);
    assert_int_equal(r.n, 0);

    i3 = commit(f->s, p4, 1); /* declined: alpha no longer sees the need */
    render(f->s, &alpha, i3, &r);
    assert_true(r.n == 2 && has(&r, "matches/m") && has(&r, "needs/r removed"));
    render(f->s, &beta, i3, &r);
    assert_int_equal(r.n, 0);
    /* Rendering depends on the position, not on when it is read: the
     * earlier positions render as before. */
    render(f->s, &alpha, i2, &r);
    assert_true(r.n == 2 && has(&r, "needs/r"));
}

/* ---- Waiting ---- */

typedef struct writer_arg {
    store *s;
    const char *name;
    int delay_ms;
} writer_arg;

static void *late_writer(void *p)
{
    writer_arg *w = p;
    Tallinn__V1__Need n = need(w->name, DRAFT, STANDARD, "late");
    put puts[] = {{STORE_NEED, &n.base, 1}};

    usleep((useconds_t)w->delay_ms * 1000);
    commit(w->s, puts, 1);
    return NULL;
}

static int64_t head_of(store *s)
{
    store_tx *tx;
    int64_t head;

    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_audit_head(tx, &head), STORE_OK);
    store_read_end(tx);
    return head;
}

static void test_wait_local_and_polled(void **state)
{
    fixture *f = *state;
    store *other = open_store(f->path, 1, 1); /* a second handle: "another process" */
    changes_waiter *polling, *deaf;
    writer_arg wa = {f->s, "needs/local", 200};
    pthread_t t;
    int64_t pos, head = -1;
    seen s;

    assert_int_equal(changes_waiter_create(&polling, f->s, 50), STORE_OK);
    assert_int_equal(changes_waiter_create(&deaf, f->s, 0), STORE_OK); /* no polling */
    /* A commit of this process wakes even a waiter that does not poll. */
    pos = head_of(f->s);
    pthread_create(&t, NULL, late_writer, &wa);
    assert_int_equal(changes_wait(deaf, pos, 10000, NULL, &head), CHANGES_WAIT_MOVED);
    pthread_join(t, NULL);
    assert_true(head == pos + 1);

    /* A commit through the other handle: only polling sees it. */
    pos = head_of(f->s);
    wa = (writer_arg){other, "needs/remote", 200};
    pthread_create(&t, NULL, late_writer, &wa);
    assert_int_equal(changes_wait(deaf, pos, 1500, NULL, &head), CHANGES_WAIT_TIMEOUT);
    pthread_join(t, NULL);
    wa = (writer_arg){other, "needs/remote2", 200};
    pos = head_of(f->s);
    pthread_create(&t, NULL, late_writer, &wa);
    assert_int_equal(changes_wait(polling, pos, 10000, NULL, &head), CHANGES_WAIT_MOVED);
    pthread_join(t, NULL);
    assert_true(head == pos + 1);
    scan(f->s, pos, head, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.rows[0].name, "needs/remote2");

    /* Shutdown ends every wait at once. */
    changes_waiter_shutdown(polling);
    assert_int_equal(changes_wait(polling, head, 10000, NULL, &head), CHANGES_WAIT_STOPPED);
    store_close(other);
    store_close(f->s);
    f->s = NULL;
    changes_waiter_destroy(polling); /* after the store it observed */
    changes_waiter_destroy(deaf);
    f->s = open_store(f->path, 1, 0);
}

/* A commit of another process before the poller's first read, after the
 * waiter read the head: that first read must wake the waiter too. */
static void test_first_poll_wakes(void **state)
{
    fixture *f = *state;
    store *other = open_store(f->path, 1, 1);
    writer_arg wa = {other, "needs/early", 100};
    changes_waiter *slow;
    int64_t pos, head = -1;
    pthread_t t;

    assert_int_equal(changes_waiter_create(&slow, f->s, 400), STORE_OK);
    pos = head_of(f->s);
    pthread_create(&t, NULL, late_writer, &wa);
    assert_int_equal(changes_wait(slow, pos, 5000, NULL, &head), CHANGES_WAIT_MOVED);
    pthread_join(t, NULL);
    assert_true(head == pos + 1);
    changes_waiter_shutdown(slow);
    store_close(other);
    store_close(f->s);
    f->s = NULL;
    changes_waiter_destroy(slow); /* after the store it observed */
    f->s = open_store(f->path, 1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_changes_keyed_by_their_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_savepoint_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_without_record_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deletion_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_and_live_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_keeps_a_baseline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_per_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_local_and_polled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_poll_wakes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
