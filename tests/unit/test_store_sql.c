/* test_store_sql.c — the SQL both engines share (service/store/store_sql.c):
 * the text and binds it renders in SQLite's and PostgreSQL's dialects (known
 * answers; identifiers only from the kind tables; no user text), and, over
 * the real SQLite engine, that a filter selects exactly what filter_eval
 * selects, that the need-to-know scopes select what their rules say, and that
 * keyset pages follow filter_order_compare's order (text in byte order) and
 * add up to the whole list for every order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store_sql.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

#define NS 1000000000LL

static const store_sql_dialect PG = {.param = "$", .text_collate = " COLLATE \"C\"", .contains = "strpos"};

static filter *parse(store_kind kind, const char *text)
{
    filter *f = NULL;
    filter_error err;
    if (filter_parse(store_filter_schema(kind), text, strlen(text), &f, &err) != FILTER_OK)
        fail_msg("filter \"%s\": %s", text, err.message);
    return f;
}

static void order(store_kind kind, const char *text, filter_order *o)
{
    filter_error err;
    if (filter_order_parse(store_filter_schema(kind), text, strlen(text), o, &err) != FILTER_OK)
        fail_msg("order_by \"%s\": %s", text, err.message);
}

/* ---- Rendering: known answers ---- */

static void test_row_statements(void **state)
{
    char buf[2048];
    (void)state;

    assert_int_equal(store_sql_get(store_engine_sqlite.dialect, STORE_MATCH, buf, sizeof buf),
                     STORE_OK);
    assert_string_equal(buf, "SELECT data FROM matches WHERE name = ?1");
    assert_int_equal(store_sql_insert(store_engine_sqlite.dialect, STORE_MATCH, buf, sizeof buf),
                     STORE_OK);
    assert_string_equal(buf, "INSERT INTO matches(name, data, need, donor, pledge, state, amount,"
                             " proposer, create_time, update_time)"
                             " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    assert_int_equal(store_sql_update(&PG, STORE_PLEDGE, buf, sizeof buf), STORE_OK);
    assert_string_equal(buf, "UPDATE pledges SET data = $2, donor = $3, state = $4,"
                             " fiscal_year = $5, amount = $6, available = $7, create_time = $8,"
                             " update_time = $9 WHERE name = $1");
    assert_int_equal(store_sql_insert(&PG, STORE_NEED, buf, 40), STORE_ERROR);
    assert_string_equal(buf, "");
}

static void test_search_text(void **state)
{
    filter *f = parse(STORE_NEED, "title : \"ОДЕСА 50%_\\\\\" AND state = OPEN");
    filter *g = parse(STORE_DONOR, "display_name : \"Norway\"");
    store_list_query q = {.kind = STORE_NEED, .filter = f, .limit = 11};
    store_sql sql;
    (void)state;

    assert_int_equal(store_sql_list(store_engine_sqlite.dialect, &q, STORE_SQL_NO_SEEK, &sql),
                     STORE_OK);
    assert_string_equal(sql.text, "SELECT data FROM needs WHERE (instr(title_fold, ?1) > 0"
                                  " AND state = ?2) ORDER BY name ASC LIMIT ?3");
    /* the folded text as a bind: never LIKE, so % _ \\ stay plain */
    assert_true(sql.binds[0].type == STORE_VALUE_TEXT);
    assert_int_equal(sql.binds[0].len, strlen("одеса 50%_\\"));
    assert_memory_equal(sql.binds[0].p, "одеса 50%_\\", sql.binds[0].len);
    assert_null(strstr(sql.text, "LIKE"));
    assert_int_equal(store_sql_list(&PG, &q, STORE_SQL_NO_SEEK, &sql), STORE_OK);
    assert_string_equal(sql.text, "SELECT data FROM needs WHERE (strpos(title_fold, $1) > 0"
                                  " AND state = $2) ORDER BY name COLLATE \"C\" ASC LIMIT $3");
    q.kind = STORE_DONOR;
    q.filter = g;
    assert_int_equal(store_sql_list(&PG, &q, STORE_SQL_NO_SEEK, &sql), STORE_OK);
    assert_string_equal(sql.text, "SELECT data FROM donors WHERE (strpos(display_name_fold, $1)"
                                  " > 0) ORDER BY name COLLATE \"C\" ASC LIMIT $2");
    assert_memory_equal(sql.binds[0].p, "norway", 6);
    /* a search filter of another kind's schema is refused */
    q.kind = STORE_NEED;
    assert_int_equal(store_sql_list(&PG, &q, STORE_SQL_NO_SEEK, &sql), STORE_ERROR);
    filter_destroy(f);
    filter_destroy(g);
}

static void test_list_text(void **state)
{
    filter *f = parse(STORE_NEED, "state = OPEN AND (title > \"x' OR 1=1 --\" OR -priority = LOW)");
    filter_order o;
    filter_value after[3] = {
        {FILTER_ENUM, 2, NULL, 0},
        {FILTER_TIMESTAMP, 1740787200 * NS, NULL, 0},
        {FILTER_STRING, 0, "needs/abc", 9},
    };
    store_list_query q = {.kind = STORE_NEED, .filter = f, .order = &o,
                          .scope = {STORE_SCOPE_DONOR_NEEDS, "donors/d1", (1u << 1) | (1u << 2)},
                          .limit = 51};
    store_sql sql;
    (void)state;

    order(STORE_NEED, "priority, create_time desc", &o);
    assert_int_equal(store_sql_seek_arms(&o), 2);
    /* A first page. */
    assert_int_equal(store_sql_list(store_engine_sqlite.dialect, &q, STORE_SQL_NO_SEEK, &sql),
                     STORE_OK);
    assert_string_equal(sql.text,
        "SELECT data FROM needs WHERE (state = ?1 AND (title > ?2 OR NOT (priority = ?3)))"
        " AND ((state = 6 AND sensitivity = 1) OR EXISTS (SELECT 1 FROM matches m"
        " WHERE m.need = needs.name AND m.donor = ?4 AND m.state IN (?5, ?6)))"
        " ORDER BY priority ASC, create_time DESC, name DESC LIMIT ?7");
    assert_int_equal(sql.n_binds, 7);
    assert_true(sql.binds[0].type == STORE_VALUE_INT && sql.binds[0].i == 6);
    assert_true(sql.binds[1].type == STORE_VALUE_TEXT && sql.binds[1].len == 12);
    assert_memory_equal(sql.binds[1].p, "x' OR 1=1 --", 12);
    assert_true(sql.binds[2].i == 4);
    assert_true(sql.binds[3].type == STORE_VALUE_TEXT && sql.binds[3].len == 9);
    assert_true(sql.binds[4].i == 1 && sql.binds[5].i == 2);
    assert_true(sql.binds[6].i == 51);
    assert_null(strstr(sql.text, "OR 1=1")); /* no user text */
    /* The arms of a next page, nearest the cursor first: the rest of its
     * priority (one index range), then the later priorities. */
    q.after = after;
    q.n_after = 3;
    assert_int_equal(store_sql_list(&PG, &q, 0, &sql), STORE_OK);
    assert_string_equal(sql.text,
        "SELECT data FROM needs WHERE (state = $1 AND (title COLLATE \"C\" > $2 OR NOT"
        " (priority = $3))) AND ((state = 6 AND sensitivity = 1) OR EXISTS (SELECT 1 FROM"
        " matches m WHERE m.need = needs.name AND m.donor = $4 AND m.state IN ($5, $6)))"
        " AND priority = $7 AND (create_time, name COLLATE \"C\") < ($8, $9)"
        " ORDER BY priority ASC, create_time DESC, name COLLATE \"C\" DESC LIMIT $10");
    assert_int_equal(sql.n_binds, 10);
    assert_true(sql.binds[6].i == 2 && sql.binds[7].i == 1740787200 * NS);
    assert_true(sql.binds[8].type == STORE_VALUE_TEXT && sql.binds[8].len == 9);
    assert_int_equal(store_sql_list(store_engine_sqlite.dialect, &q, 1, &sql), STORE_OK);
    assert_non_null(strstr(sql.text, " AND priority > ?7 ORDER BY "));
    assert_int_equal(sql.n_binds, 8);
    assert_int_equal(store_sql_list(store_engine_sqlite.dialect, &q, 2, &sql), STORE_ERROR);
    /* Cursors that do not fit the order are refused. */
    q.n_after = 2;
    assert_int_equal(store_sql_list(store_engine_sqlite.dialect, &q, 0, &sql), STORE_ERROR);
    q.n_after = 3;
    after[0].type = FILTER_STRING;
    assert_int_equal(store_sql_list(store_engine_sqlite.dialect, &q, 0, &sql), STORE_ERROR);
    after[0].type = FILTER_ENUM;
    assert_int_equal(store_sql_list(store_engine_sqlite.dialect, &q, STORE_SQL_NO_SEEK, &sql),
                     STORE_ERROR); /* a cursor, but no arm */
    /* No filter, scope or order: by name. */
    memset(&q, 0, sizeof q);
    q.kind = STORE_DONOR;
    q.limit = 10;
    assert_int_equal(store_sql_list(&PG, &q, STORE_SQL_NO_SEEK, &sql), STORE_OK);
    assert_string_equal(sql.text,
                        "SELECT data FROM donors ORDER BY name COLLATE \"C\" ASC LIMIT $1");
    q.kind = STORE_MATCH;
    q.scope = (store_scope){STORE_SCOPE_OF_DONOR, "donors/d1", 0};
    assert_int_equal(store_sql_list(&PG, &q, STORE_SQL_NO_SEEK, &sql), STORE_OK);
    assert_string_equal(sql.text, "SELECT data FROM matches WHERE (donor = $1)"
                                  " ORDER BY name COLLATE \"C\" ASC LIMIT $2");
    q.kind = STORE_DONOR; /* donors have no donor scope */
    assert_int_equal(store_sql_list(&PG, &q, STORE_SQL_NO_SEEK, &sql), STORE_ERROR);
    filter_destroy(f);
}

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
}

/* Every identifier in a rendered list is a column or the table of its kind,
 * a keyword, or the scope's alias; the placeholders are numbered 1..n. */
static void check_identifiers(const store_sql *sql, store_kind kind, const store_sql_dialect *d)
{
    static const char *const words[] = {"SELECT", "data", "FROM", "WHERE", "AND", "OR", "NOT",
                                        "ORDER", "BY", "ASC", "DESC", "LIMIT", "IN", "EXISTS",
                                        "COLLATE", "C", "m", "matches", "need", "donor", "state",
                                        "1", "2", "6"};
    const store_kind_info *k = &store_kinds[kind];
    size_t next = 1;

    for (const char *p = sql->text; *p != '\0';) {
        if (*p == d->param[0]) {
            size_t n = 0;
            p++;
            while (*p >= '0' && *p <= '9')
                n = n * 10 + (size_t)(*p++ - '0');
            if (n != next++)
                fail_msg("placeholder %zu out of order in %s", n, sql->text);
        } else if (is_word_char(*p)) {
            const char *s = p;
            char word[64];
            bool known = false;
            while (is_word_char(*p))
                p++;
            snprintf(word, sizeof word, "%.*s", (int)(p - s), s);
            known = strcmp(word, k->table) == 0;
            for (size_t i = 0; i < sizeof words / sizeof words[0] && !known; i++)
                known = strcmp(word, words[i]) == 0;
            for (size_t i = 0; i < k->n_columns && !known; i++)
                known = strcmp(word, k->columns[i].name) == 0;
            if (!known)
                fail_msg("unexpected identifier %s in %s", word, sql->text);
        } else {
            if (strchr("()<>=!, .\"", *p) == NULL)
                fail_msg("unexpected character %c in %s", *p, sql->text);
            p++;
        }
    }
    assert_int_equal(next - 1, sql->n_binds);
}

static void test_identifiers(void **state)
{
    static const char *const filters[] = {
        "title = \"DROP TABLE needs\" OR region = \"; --\"",
        "NOT (state = OPEN AND (priority = HIGH OR sector = ENERGY)) AND needed_by > \"2025-01-01\"",
        "create_time > \"2025-01-01T00:00:00Z\" AND estimated_cost != 0 AND name = \"needs/x\"",
        "beneficiary = \"$1\" AND title = \"?1\"",
    };
    const store_sql_dialect *dialects[] = {store_engine_sqlite.dialect, &PG};
    store_sql sql;
    filter_order o;
    filter_value after[FILTER_ORDER_MAX_KEYS + 1];
    (void)state;

    order(STORE_NEED, "region desc, title, committed_amount desc", &o);
    for (size_t i = 0; i <= o.count; i++)
        after[i] = (filter_value){i == 0 || i == 1 || i == o.count ? FILTER_STRING : FILTER_MONEY,
                                  7, "x", 1};
    for (size_t d = 0; d < 2; d++)
        for (size_t k = 0; k < sizeof filters / sizeof filters[0]; k++) {
            filter *f = parse(STORE_NEED, filters[k]);
            store_list_query q = {.kind = STORE_NEED, .filter = f, .order = &o,
                                  .scope = {STORE_SCOPE_DONOR_NEEDS, "donors/d", 0x7e},
                                  .limit = 5};
            assert_int_equal(store_sql_list(dialects[d], &q, STORE_SQL_NO_SEEK, &sql), STORE_OK);
            check_identifiers(&sql, STORE_NEED, dialects[d]);
            q.after = after;
            q.n_after = o.count + 1;
            for (size_t arm = 0; arm < store_sql_seek_arms(&o); arm++) {
                assert_int_equal(store_sql_list(dialects[d], &q, arm, &sql), STORE_OK);
                check_identifiers(&sql, STORE_NEED, dialects[d]);
            }
            filter_destroy(f);
        }
}

/* The largest filter the parser accepts still renders. */
static void test_largest_filter_fits(void **state)
{
    char text[FILTER_MAX_LEN + 1];
    size_t n = 0;
    filter *f;
    filter_order o;
    filter_value after[FILTER_ORDER_MAX_KEYS + 1];
    store_sql sql;
    store_list_query q;
    (void)state;

    for (int i = 0; i < FILTER_MAX_COMPARISONS; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%sbeneficiary != \"\"",
                              i ? " OR " : "");
    assert_true(n <= FILTER_MAX_LEN);
    f = parse(STORE_NEED, text);
    order(STORE_NEED, "beneficiary, region desc, title, estimated_cost desc, committed_amount,"
                      " delivered_amount desc, update_time, create_time desc", &o);
    for (size_t i = 0; i <= o.count; i++)
        after[i] = (filter_value){o.keys[i < o.count ? i : 0].field->type, 1, "x", 1};
    after[o.count] = (filter_value){FILTER_STRING, 0, "x", 1};
    q = (store_list_query){.kind = STORE_NEED, .filter = f, .order = &o, .after = after,
                           .n_after = o.count + 1,
                           .scope = {STORE_SCOPE_DONOR_NEEDS, "d", 0xffffffffu}, .limit = 1000};
    /* eight keys of alternating directions: eight runs (the name joins the last) */
    assert_int_equal(store_sql_seek_arms(&o), FILTER_ORDER_MAX_KEYS);
    for (size_t arm = 0; arm < store_sql_seek_arms(&o); arm++)
        assert_int_equal(store_sql_list(&PG, &q, arm, &sql), STORE_OK);
    filter_destroy(f);
}

/* ---- Over the real engine ---- */

#define NGEN 240

typedef struct world {
    char dir[64];
    store *s;
    Tallinn__V1__Need *needs[NGEN];
    /* live matches of donors/d1 on these needs */
    int d1_live[NGEN];
} world;

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static const char *const TITLES[] = {"EDR licences", "SOC training", "Grid \"SCADA\" audit",
                                     "Київ backbone", "Hospital EDR", "bank DDoS", "",
                                     "edr licences", "EDR licences 2", "Äpfel", "Zebra",
                                     "ОДЕСА порт", "Одеса SOC", "50%_off \\ x", "STRASSE",
                                     "Straße"};
#define NTITLES (sizeof(TITLES) / sizeof(TITLES[0]))
static const char *const REGIONS[] = {"Kharkiv Oblast", "Kyiv City", "Lviv Oblast",
                                      "Одеська область", "National", "kyiv city"};

static int put_world(store_tx *tx, void *arg)
{
    world *w = arg;
    Tallinn__V1__Donor d = TALLINN__V1__DONOR__INIT;
    Tallinn__V1__Pledge p = TALLINN__V1__PLEDGE__INIT;
    uint32_t s = 20250301;
    ProtobufCMessage *old = NULL;
    int rc, again;

    /* On PostgreSQL (unit.store_sql.pg) one database serves every case:
     * the world, the same each time (a fixed seed), is stored once. */
    again = store_get(tx, STORE_DONOR, "donors/d1", NULL, &old) == STORE_OK;
    if (old != NULL)
        protobuf_c_message_free_unpacked(old, NULL);
#define store_insert(tx, k, m) (again ? STORE_OK : store_insert((tx), (k), (m)))
    d.name = "donors/d1";
    d.display_name = "Donor one";
    if ((rc = store_insert(tx, STORE_DONOR, &d.base)) != STORE_OK)
        return 100 - rc;
    d.name = "donors/d2";
    if ((rc = store_insert(tx, STORE_DONOR, &d.base)) != STORE_OK)
        return 100 - rc;
    p.name = "donors/d1/pledges/p1";
    if ((rc = store_insert(tx, STORE_PLEDGE, &p.base)) != STORE_OK)
        return 100 - rc;
    p.name = "donors/d2/pledges/p2";
    if ((rc = store_insert(tx, STORE_PLEDGE, &p.base)) != STORE_OK)
        return 100 - rc;
    for (int i = 0; i < NGEN; i++) {
        Tallinn__V1__Need *n = w->needs[i];
        char name[32];
        if ((rc = store_insert(tx, STORE_NEED, &n->base)) != STORE_OK)
            return 100 - rc;
        /* matches: some of d1 (live or not), some of d2 */
        if (i % 5 == 0 || i % 7 == 0) {
            Tallinn__V1__Match m = TALLINN__V1__MATCH__INIT;
            int d1 = i % 5 == 0;
            snprintf(name, sizeof name, "matches/m%03d", i);
            m.name = name;
            m.need = n->name;
            m.donor = d1 ? "donors/d1" : "donors/d2";
            m.pledge = d1 ? "donors/d1/pledges/p1" : "donors/d2/pledges/p2";
            m.state = 1 + (int)(lcg(&s) % 8); /* PROPOSED .. */
            if ((rc = store_insert(tx, STORE_MATCH, &m.base)) != STORE_OK)
                return 100 - rc;
            if (d1 && ((1u << m.state) & ((1u << 1) | (1u << 2) | (1u << 3))))
                w->d1_live[i] = 1;
        }
    }
    return 0;
#undef store_insert
}

static int setup_world(void **state)
{
    world *w = calloc(1, sizeof(*w));
    store_options o = {0};
    char path[96], err[256];
    uint32_t s = 160;
    int job_rc;

    strcpy(w->dir, "/tmp/tallinn-store-sql-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(path, sizeof path, "%s/t.db", w->dir);
    o.path = path;
    o.database_url = getenv("TALLINN_TEST_DATABASE_URL"); /* unit.store_sql.pg */
    if (store_open(&w->s, &o, err, sizeof err) != STORE_OK)
        fail_msg("store_open: %s", err);
    for (int i = 0; i < NGEN; i++) {
        Tallinn__V1__Need *n = calloc(1, sizeof(*n));
        Tallinn__V1__Money *cost = calloc(1, sizeof(*cost)), *committed = calloc(1, sizeof(*cost));
        Google__Protobuf__Timestamp *ct = calloc(1, sizeof(*ct)), *ut = calloc(1, sizeof(*ut));
        Tallinn__V1__Date *by = calloc(1, sizeof(*by));
        char *name = malloc(32);
        tallinn__v1__need__init(n);
        tallinn__v1__money__init(cost);
        tallinn__v1__money__init(committed);
        google__protobuf__timestamp__init(ct);
        google__protobuf__timestamp__init(ut);
        tallinn__v1__date__init(by);
        snprintf(name, 32, "needs/n%03d", (i * 37) % NGEN); /* names not in insertion order */
        n->name = name;
        n->title = (char *)TITLES[lcg(&s) % NTITLES];
        n->region = (char *)REGIONS[lcg(&s) % 6];
        n->beneficiary = (char *)"";
        n->sector = (int)(lcg(&s) % 5);
        n->state = (int)(lcg(&s) % 3 == 0 ? 6 : lcg(&s) % 10);
        n->priority = (int)(lcg(&s) % 5);
        n->sensitivity = (int)(lcg(&s) % 3);
        cost->currency_code = committed->currency_code = (char *)"EUR";
        cost->units = (int64_t)(lcg(&s) % 2000) * 500;
        cost->nanos = (int32_t)(lcg(&s) % 3) * 250000000;
        committed->units = (int64_t)(lcg(&s) % 4) * 1000;
        n->estimated_cost = cost;
        n->committed_amount = committed;
        ct->seconds = 1740787200 + (int64_t)(lcg(&s) % 100) * 3600 - 50 * 3600;
        ct->nanos = (int32_t)(lcg(&s) % 2);
        ut->seconds = 1740787200;
        n->create_time = ct;
        n->update_time = ut;
        by->year = 2025;
        by->month = (int32_t)(lcg(&s) % 12 + 1);
        by->day = (int32_t)(lcg(&s) % 28 + 1);
        n->needed_by = by;
        w->needs[i] = n;
    }
    assert_int_equal(store_write(w->s, put_world, w, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    *state = w;
    return 0;
}

static int teardown_world(void **state)
{
    world *w = *state;
    char cmd[128];

    store_close(w->s);
    for (int i = 0; i < NGEN; i++) {
        Tallinn__V1__Need *n = w->needs[i];
        free(n->name);
        free(n->estimated_cost);
        free(n->committed_amount);
        free(n->create_time);
        free(n->update_time);
        free(n->needed_by);
        free(n);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    assert_int_equal(system(cmd), 0);
    free(w);
    return 0;
}

/* A need's value of a schema field: what the store keeps in its column. */
static int need_get(void *ctx, const filter_field *ff, filter_value *out)
{
    const Tallinn__V1__Need *n = ctx;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(n->base.descriptor, ff->name);
    const char *p;

    memset(out, 0, sizeof(*out));
    out->type = ff->type;
    if (f == NULL)
        return -1;
    p = (const char *)n + f->offset;
    switch (ff->type) {
    case FILTER_STRING:
        out->s = *(const char *const *)p;
        out->s = out->s != NULL ? out->s : "";
        out->len = strlen(out->s);
        return 0;
    case FILTER_ENUM:
        out->i = *(const int32_t *)p;
        return 0;
    case FILTER_MONEY: {
        const Tallinn__V1__Money *m = *(const Tallinn__V1__Money *const *)p;
        out->i = m != NULL ? store_money_key(m->units, m->nanos) : 0;
        return 0;
    }
    case FILTER_TIMESTAMP: {
        const Google__Protobuf__Timestamp *t = *(const Google__Protobuf__Timestamp *const *)p;
        out->i = t != NULL ? t->seconds * NS + t->nanos : 0;
        return 0;
    }
    case FILTER_DATE: {
        const Tallinn__V1__Date *d = *(const Tallinn__V1__Date *const *)p;
        out->i = d != NULL ? (int64_t)d->year * 10000 + d->month * 100 + d->day : 0;
        return 0;
    }
    default:
        return -1;
    }
}

typedef struct names {
    char (*v)[16];
    size_t n, cap;
} names;

static int collect(ProtobufCMessage *m, void *ctx)
{
    names *r = ctx;
    assert_true(r->n < r->cap);
    snprintf(r->v[r->n++], 16, "%s", ((Tallinn__V1__Need *)m)->name);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

static size_t list_names(store *s, const store_list_query *q, names *out)
{
    store_tx *tx;
    out->n = 0;
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, q, collect, out), STORE_OK);
    store_read_end(tx);
    return out->n;
}

/* Does the scope let need i through, by its rules (store.h)? */
static bool scope_lets(const world *w, int i, const store_scope *sc)
{
    const Tallinn__V1__Need *n = w->needs[i];
    switch (sc->kind) {
    case STORE_SCOPE_UNRESTRICTED:
        return n->sensitivity != 2;
    case STORE_SCOPE_DONOR_NEEDS:
        return (n->state == 6 && n->sensitivity == 1) ||
               (strcmp(sc->donor, "donors/d1") == 0 && w->d1_live[i]);
    default:
        return true;
    }
}

static const store_kind_info *sort_kind;
static const filter_order *sort_order;

/* filter_order_compare, then the name in the last key's direction. */
static int cmp_needs(const void *pa, const void *pb)
{
    const Tallinn__V1__Need *a = *(Tallinn__V1__Need *const *)pa, *b = *(Tallinn__V1__Need *const *)pb;
    int c = 0;
    assert_int_equal(filter_order_compare(sort_order, need_get, (void *)a, (void *)b, &c),
                     FILTER_OK);
    if (c != 0)
        return c;
    c = strcmp(a->name, b->name);
    return sort_order->count > 0 && sort_order->keys[sort_order->count - 1].desc ? -c : c;
}

/* The rows filter_eval and the scope let through, in filter_order_compare's
 * order. */
static size_t expected(const world *w, const filter *f, const store_scope *sc,
                       const filter_order *o, Tallinn__V1__Need **out)
{
    size_t n = 0;
    for (int i = 0; i < NGEN; i++) {
        bool m = false;
        assert_int_equal(filter_eval(f, need_get, w->needs[i], &m), FILTER_OK);
        if (m && scope_lets(w, i, sc))
            out[n++] = w->needs[i];
    }
    sort_kind = &store_kinds[STORE_NEED];
    sort_order = o;
    qsort(out, n, sizeof(out[0]), cmp_needs);
    return n;
}

static const char *const GEN_FILTERS[] = {
    "",
    "sector = ENERGY",
    "sector != ENERGY AND state != DRAFT",
    "state = OPEN AND priority = CRITICAL OR priority = HIGH",
    "(state = OPEN AND priority = CRITICAL) OR priority = HIGH",
    "-sector = TELECOM AND -state = DRAFT",
    "estimated_cost > 100000",
    "estimated_cost >= 50000.5 AND estimated_cost <= 250000.25",
    "committed_amount = 0 OR committed_amount >= 3000",
    "create_time >= \"2025-03-01T00:00:00Z\"",
    "create_time > \"2025-03-01T02:00:00+02:00\" AND create_time < \"2025-03-02T00:00:00Z\"",
    "needed_by < \"2025-07-01\"",
    "title = \"Grid \\\"SCADA\\\" audit\"",
    "title > \"EDR licences\"",
    "title < \"a\"",
    "title >= \"Z\" AND title < \"Ä\"",
    "title <= \"Київ backbone\" AND title != \"\"",
    "region = \"Одеська область\" OR region = \"kyiv city\" AND sector = FINANCE",
    "region > \"Kyiv City\"",
    "name > \"needs/n100\" AND name <= \"needs/n2\"",
    "NOT (NOT (priority = LOW))",
    /* ":" (the folded columns, textfold.h): caseless, Cyrillic, no wildcards */
    "title : \"edr\"",
    "title : \"ОДЕСА\"",
    "title : \"одеса\" AND sector != ENERGY",
    "title : \"strasse\"",
    "title : \"%\"",
    "title : \"_o\"",
    "title : \"%_off \\\\ x\"",
    "title : \"E%\"",
    "NOT title : \"licences\" AND title != \"\"",
    "(priority = LOW OR priority = MEDIUM) AND (sector = ENERGY OR sector = HEALTH) AND "
    "NOT (sensitivity = RESTRICTED OR needed_by > \"2025-10-01\")",
};

/* Every filter selects on the engine exactly what filter_eval selects. */
static void test_filters_agree(void **state)
{
    world *w = *state;
    char (*buf)[16] = calloc(NGEN, 16);
    Tallinn__V1__Need *want[NGEN];
    names got = {buf, 0, NGEN};
    size_t nonempty = 0;

    for (size_t k = 0; k < sizeof GEN_FILTERS / sizeof GEN_FILTERS[0]; k++) {
        filter *f = parse(STORE_NEED, GEN_FILTERS[k]);
        filter_order by_name = {.schema = store_filter_schema(STORE_NEED)};
        store_scope all = {STORE_SCOPE_ALL, NULL, 0};
        store_list_query q = {.kind = STORE_NEED, .filter = f, .limit = 1000};
        size_t n = expected(w, f, &all, &by_name, want);

        if (list_names(w->s, &q, &got) != n)
            fail_msg("%s: the engine gives %zu rows, filter_eval %zu", GEN_FILTERS[k], got.n, n);
        for (size_t i = 0; i < n; i++)
            if (strcmp(got.v[i], want[i]->name) != 0)
                fail_msg("%s: row %zu is %s, wanted %s", GEN_FILTERS[k], i, got.v[i],
                         want[i]->name);
        nonempty += n > 0 && n < NGEN;
        if (n == 0 || n == NGEN)
            print_message("selects %s: %s\n", n ? "all" : "nothing", GEN_FILTERS[k]);
        filter_destroy(f);
    }
    /* The data discriminates: all but the empty filter and `title : "E%"`
     * (no title holds "e%": a wildcard would match many) select a proper
     * subset. */
    assert_true(nonempty >= sizeof GEN_FILTERS / sizeof GEN_FILTERS[0] - 2);
    free(buf);
}

/* Random filters from the grammar over the needs' fields: 3,000, the same
 * rows on the engine as in filter_eval. */
static void gen_put(char *t, size_t *n, size_t cap, const char *s)
{
    size_t l = strlen(s);
    if (*n + l < cap - 1) {
        memcpy(t + *n, s, l + 1);
        *n += l;
    }
}

static void gen_expr(char *t, size_t *n, size_t cap, uint32_t *s, int depth)
{
    static const char *const cmps[] = {
        "title < \"EDR\"", "title >= \"a\"", "title = \"Äpfel\"", "title != \"\"",
        "region > \"Kyiv\"", "region = \"kyiv city\"", "region <= \"Одеська область\"",
        "sector = ENERGY", "sector != FINANCE", "state = OPEN", "state != DRAFT",
        "priority = HIGH", "sensitivity = RESTRICTED", "sensitivity != STANDARD",
        "estimated_cost > 100000", "estimated_cost <= 45000.5", "estimated_cost = 0.5",
        "committed_amount > 1000", "create_time < \"2025-03-01T00:00:00Z\"",
        "create_time >= \"2025-03-02T00:00:00.000000001Z\"", "needed_by > \"2025-06-15\"",
        "name < \"needs/n120\"", "name >= \"needs/n2\"",
    };
    uint32_t r = lcg(s) % 10;
    if (depth > 3 || r < 4) {
        gen_put(t, n, cap, cmps[lcg(s) % (sizeof cmps / sizeof cmps[0])]);
    } else if (r < 7) {
        size_t k = 2 + lcg(s) % 2;
        const char *op = lcg(s) % 2 ? " AND " : " OR ";
        for (size_t i = 0; i < k; i++) {
            if (i > 0)
                gen_put(t, n, cap, op);
            gen_expr(t, n, cap, s, depth + 1);
        }
    } else {
        gen_put(t, n, cap, lcg(s) % 2 ? "NOT (" : "(");
        gen_expr(t, n, cap, s, depth + 1);
        gen_put(t, n, cap, ")");
    }
}

static void test_random_filters_agree(void **state)
{
    world *w = *state;
    char (*buf)[16] = calloc(NGEN, 16);
    Tallinn__V1__Need *want[NGEN];
    names got = {buf, 0, NGEN};
    uint32_t seed = 11;
    size_t selective = 0;

    for (int iter = 0; iter < 3000; iter++) {
        char text[FILTER_MAX_LEN];
        size_t n = 0, nw;
        filter *f;
        filter_order by_name = {.schema = store_filter_schema(STORE_NEED)};
        store_scope all = {STORE_SCOPE_ALL, NULL, 0};
        store_list_query q = {.kind = STORE_NEED, .limit = 1000};

        text[0] = '\0';
        gen_expr(text, &n, sizeof text, &seed, 0);
        f = parse(STORE_NEED, text);
        q.filter = f;
        nw = expected(w, f, &all, &by_name, want);
        if (list_names(w->s, &q, &got) != nw)
            fail_msg("%s: the engine gives %zu rows, filter_eval %zu", text, got.n, nw);
        for (size_t i = 0; i < nw; i++)
            if (strcmp(got.v[i], want[i]->name) != 0)
                fail_msg("%s: row %zu differs", text, i);
        selective += nw > 0 && nw < NGEN;
        filter_destroy(f);
    }
    print_message("random filters: 3000 agree, %zu select a proper subset\n", selective);
    assert_true(selective > 1000);
    free(buf);
}

/* Each order, under filters and scopes: the engine's order is
 * filter_order_compare's (text in byte order), and pages of 7, each after
 * the last row of the one before, add up to it exactly. */
static void test_pages_follow_the_order(void **state)
{
    static const char *const orders[] = {
        "", "priority", "priority, create_time desc", "title desc, estimated_cost",
        "sensitivity, sector desc, needed_by", "region asc, title asc, needed_by desc",
        "state, priority, sector, title, region desc, committed_amount, create_time desc",
        "name desc", "title",
    };
    static const char *const filters[] = {"", "state != DRAFT",
                                          "title > \"EDR\" OR sensitivity = RESTRICTED"};
    const store_scope scopes[] = {
        {STORE_SCOPE_ALL, NULL, 0},
        {STORE_SCOPE_UNRESTRICTED, NULL, 0},
        {STORE_SCOPE_DONOR_NEEDS, "donors/d1", (1u << 1) | (1u << 2) | (1u << 3)},
        {STORE_SCOPE_DONOR_NEEDS, "donors/none", (1u << 1) | (1u << 2) | (1u << 3)},
    };
    world *w = *state;
    char (*buf)[16] = calloc(NGEN, 16), (*pbuf)[16] = calloc(8, 16);
    Tallinn__V1__Need *want[NGEN];
    names full = {buf, 0, NGEN}, page = {pbuf, 0, 8};
    size_t checked = 0;

    for (size_t oi = 0; oi < sizeof orders / sizeof orders[0]; oi++)
        for (size_t fi = 0; fi < sizeof filters / sizeof filters[0]; fi++)
            for (size_t si = 0; si < sizeof scopes / sizeof scopes[0]; si++) {
                filter *f = parse(STORE_NEED, filters[fi]);
                filter_order o;
                filter_value after[FILTER_ORDER_MAX_KEYS + 1];
                store_list_query q = {.kind = STORE_NEED, .filter = f, .order = &o,
                                      .scope = scopes[si], .limit = 1000};
                size_t n, paged = 0;

                order(STORE_NEED, orders[oi], &o);
                n = expected(w, f, &scopes[si], &o, want);
                if (list_names(w->s, &q, &full) != n)
                    fail_msg("\"%s\" / \"%s\" / scope %zu: engine %zu rows, in memory %zu",
                             orders[oi], filters[fi], si, full.n, n);
                for (size_t i = 0; i < n; i++)
                    if (strcmp(full.v[i], want[i]->name) != 0)
                        fail_msg("order \"%s\": row %zu is %s on the engine, %s in memory",
                                 orders[oi], i, full.v[i], want[i]->name);
                q.limit = 7;
                for (;;) {
                    if (paged > 0) {
                        const Tallinn__V1__Need *last = want[paged - 1];
                        for (size_t k = 0; k < o.count; k++)
                            assert_int_equal(need_get((void *)last, o.keys[k].field, &after[k]), 0);
                        after[o.count] = (filter_value){FILTER_STRING, 0, last->name,
                                                        strlen(last->name)};
                        q.after = after;
                        q.n_after = o.count + 1;
                    }
                    if (list_names(w->s, &q, &page) == 0)
                        break;
                    for (size_t i = 0; i < page.n; i++)
                        if (paged + i >= n || strcmp(page.v[i], want[paged + i]->name) != 0)
                            fail_msg("order \"%s\": page row %zu is %s", orders[oi], paged + i,
                                     page.v[i]);
                    paged += page.n;
                }
                assert_int_equal(paged, n);
                checked += n > 0;
                filter_destroy(f);
            }
    assert_true(checked > 80);
    free(buf);
    free(pbuf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_statements),
        cmocka_unit_test(test_list_text),
        cmocka_unit_test(test_search_text),
        cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_largest_filter_fits),
        cmocka_unit_test_setup_teardown(test_filters_agree, setup_world, teardown_world),
        cmocka_unit_test_setup_teardown(test_random_filters_agree, setup_world, teardown_world),
        cmocka_unit_test_setup_teardown(test_pages_follow_the_order, setup_world, teardown_world),
    };
    return cmocka_run_group_tests_name("store_sql", tests, NULL, NULL);
}
