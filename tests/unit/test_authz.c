/* test_authz.c — authz's parts that need no server: the throttle of failed
 * authentications (per address, for the whole server, bounded), the
 * last-use writer (queued, coalesced, written behind the calls, never
 * making a caller wait for storage), and the token cache, which a
 * revocation through another process (another store handle on the same
 * database) empties at once through the principals epoch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "authz/authz.h"
#include "authz/lastuse.h"
#include "authz/throttle.h"
#include "tallinn/store.h"
#include "tallinn/v1/principal.pb-c.h"

static void test_throttle_per_address(void **state)
{
    authz_throttle *t;
    authz_throttle_options o = {.addr_burst = 10, .addr_refill_per_s = 0.5,
                                .global_burst = 1000, .global_refill_per_s = 100};
    (void)state;
    assert_int_equal(authz_throttle_create(&t, &o), 0);
    for (int i = 0; i < 10; i++) /* the port does not matter: a new connection is no new budget */
        assert_int_equal(authz_throttle_fail(t, i % 2 ? "ipv4:10.0.0.1:4000" : "ipv4:10.0.0.1:4001",
                                             100.0),
                         0);
    assert_int_equal(authz_throttle_fail(t, "ipv4:10.0.0.1:4002", 100.0), 2); /* 1 / 0.5 */
    assert_int_equal(authz_throttle_fail(t, "ipv4:10.0.0.2:4000", 100.0), 0); /* its own budget */
    assert_int_equal(authz_throttle_fail(t, "ipv6:[2001:db8::1]:443", 100.0), 0);
    /* two seconds later the address may fail once more */
    assert_int_equal(authz_throttle_fail(t, "ipv4:10.0.0.1:4000", 102.0), 0);
    assert_true(authz_throttle_fail(t, "ipv4:10.0.0.1:4000", 102.0) >= 1);
    authz_throttle_destroy(t);
}

static void test_throttle_global(void **state)
{
    authz_throttle *t;
    authz_throttle_options o = {.addr_burst = 10, .addr_refill_per_s = 0.5,
                                .global_burst = 30, .global_refill_per_s = 10};
    char peer[64];
    int ok = 0;

    (void)state;
    assert_int_equal(authz_throttle_create(&t, &o), 0);
    /* 100 addresses failing once each: the server as a whole allows 30 */
    for (int i = 0; i < 100; i++) {
        snprintf(peer, sizeof(peer), "ipv4:10.1.%d.%d:5000", i / 250, i % 250);
        ok += authz_throttle_fail(t, peer, 50.0) == 0;
    }
    assert_int_equal(ok, 30);
    /* one second later, ten more */
    ok = 0;
    for (int i = 100; i < 150; i++) {
        snprintf(peer, sizeof(peer), "ipv4:10.1.%d.%d:5000", i / 250, i % 250);
        ok += authz_throttle_fail(t, peer, 51.0) == 0;
    }
    assert_int_equal(ok, 10);
    authz_throttle_destroy(t);
}

/* ---- last use ---- */

typedef struct fixture {
    char dir[64];
    char path[96];
    store *s;
} fixture;

static int put_principal(store_tx *tx, void *arg)
{
    Tallinn__V1__Principal p = TALLINN__V1__PRINCIPAL__INIT;
    p.name = arg;
    p.display_name = "reader";
    p.role = TALLINN__V1__PRINCIPAL__ROLE__ROLE_OBSERVER;
    p.state = TALLINN__V1__PRINCIPAL__STATE__STATE_ACTIVE;
    return store_insert(tx, STORE_PRINCIPAL, &p.base) == STORE_OK ? 0 : 1;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    store_options o = {0};
    char err[256];
    int rc;

    strcpy(f->dir, "/tmp/tallinn-authz-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    o.path = f->path;
    assert_int_equal(store_open(&f->s, &o, err, sizeof(err)), STORE_OK);
    assert_int_equal(store_write(f->s, put_principal, "principals/a", &rc), STORE_OK);
    assert_int_equal(rc, 0);
    assert_int_equal(store_write(f->s, put_principal, "principals/b", &rc), STORE_OK);
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

static int64_t last_use(store *s, const char *name)
{
    store_tx *tx;
    ProtobufCMessage *m;
    int64_t v;

    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_get(tx, STORE_PRINCIPAL, name, NULL, &m), STORE_OK);
    store_read_end(tx);
    v = ((Tallinn__V1__Principal *)m)->last_use_time != NULL
            ? ((Tallinn__V1__Principal *)m)->last_use_time->seconds
            : -1;
    protobuf_c_message_free_unpacked(m, NULL);
    return v;
}

/* A write job that holds the committer until released: storage that is
 * slow to sync, or a lock held elsewhere. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open;
    store *s;
} gate;

static int held_job(store_tx *tx, void *arg)
{
    gate *g = arg;
    (void)tx;
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

static void *hold_committer(void *arg)
{
    gate *g = arg;
    int rc;
    store_write(g->s, held_job, g, &rc);
    return NULL;
}

static void test_last_use_behind_the_calls(void **state)
{
    fixture *f = *state;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, f->s};
    authz_lastuse *l;
    pthread_t th;
    long written, dropped;

    assert_int_equal(authz_lastuse_create(&l, f->s), 0);
    assert_int_equal(pthread_create(&th, NULL, hold_committer, &g), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);

    /* The committer is held: noting still returns at once (a caller that
     * waited for storage would hang here until the gate opened). */
    authz_lastuse_note(l, "principals/a", 1000);
    usleep(50 * 1000); /* the writer takes it and waits on the committer */
    authz_lastuse_note(l, "principals/a", 2000);
    authz_lastuse_note(l, "principals/a", 1500); /* older: coalesced away */
    authz_lastuse_note(l, "principals/b", 3000);
    authz_lastuse_note(l, "principals/gone", 3000); /* no such principal: skipped */
    authz_lastuse_counts(l, &written, &dropped);
    assert_int_equal(written, 0);
    assert_int_equal(last_use(f->s, "principals/a"), -1);

    pthread_mutex_lock(&g.mu);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(th, NULL);
    authz_lastuse_destroy(l); /* writes what is still queued */
    assert_int_equal(last_use(f->s, "principals/a"), 2000);
    assert_int_equal(last_use(f->s, "principals/b"), 3000);
}

static void test_last_use_counts(void **state)
{
    fixture *f = *state;
    authz_lastuse *l;
    long written = 0, dropped = 0;

    assert_int_equal(authz_lastuse_create(&l, f->s), 0);
    authz_lastuse_note(l, "principals/a", 10);
    for (int i = 0; i < 200 && written < 1; i++) {
        usleep(10 * 1000);
        authz_lastuse_counts(l, &written, &dropped);
    }
    assert_int_equal(written, 1);
    assert_int_equal(dropped, 0);
    assert_int_equal(last_use(f->s, "principals/a"), 10);
    authz_lastuse_note(l, "principals/a", 5); /* never moves back */
    authz_lastuse_destroy(l);
    assert_int_equal(last_use(f->s, "principals/a"), 10);
}

/* ---- The token cache and the principals epoch ---- */

static int update_only(store_tx *tx, void *arg)
{
    return store_update(tx, STORE_PRINCIPAL, arg) == STORE_OK ? 0 : 1;
}

static const uint8_t TOKEN_KEY[AUTHZ_KEYBYTES] = {7, 7, 7};

typedef struct tok_arg {
    const char *name, *token; /* token NULL: clear it */
    int state;
    int insert;
} tok_arg;

static int put_token(store_tx *tx, void *arg)
{
    tok_arg *a = arg;
    Tallinn__V1__Principal p = TALLINN__V1__PRINCIPAL__INIT;
    uint8_t hash[AUTHZ_HASHBYTES];
    int rc;

    p.name = (char *)a->name;
    p.display_name = "Warsaw back office";
    p.role = TALLINN__V1__PRINCIPAL__ROLE__ROLE_BACK_OFFICE;
    p.state = a->state;
    rc = a->insert ? store_insert(tx, STORE_PRINCIPAL, &p.base)
                   : store_update(tx, STORE_PRINCIPAL, &p.base);
    if (rc == STORE_OK && a->token != NULL) {
        authz_hash_token(TOKEN_KEY, a->token, hash);
        rc = store_principal_set_token(tx, a->name, hash);
    } else if (rc == STORE_OK && !a->insert) {
        rc = store_principal_set_token(tx, a->name, NULL);
    }
    return rc == STORE_OK ? 0 : 1;
}

static void write_token(store *s, tok_arg a)
{
    int rc;
    assert_int_equal(store_write(s, put_token, &a, &rc), STORE_OK);
    assert_int_equal(rc, 0);
}

/* Changes the database as no tallinnd would: without moving the epoch. */
static void raw_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void expect_who(authz *z, const char *token, const char *name)
{
    authz_who who;
    assert_int_equal(authz_token_lookup(z, token, &who), 0);
    assert_string_equal(who.name, name);
    assert_int_equal(who.role, TALLINN__V1__PRINCIPAL__ROLE__ROLE_BACK_OFFICE);
}

static void expect_refused(authz *z, const char *token)
{
    authz_who who;
    assert_int_equal(authz_token_lookup(z, token, &who), AUTHZ_NO_PRINCIPAL);
}

/* This process's authz reads a store opened shared (as on PostgreSQL);
 * "another process" is a second store handle writing the same database. */
static void test_revoked_elsewhere_refused_at_once(void **state)
{
    fixture *f = *state;
    store_options o = {.path = f->path, .shared = 1};
    store *mine, *other;
    authz *z;
    char err[256];

    assert_int_equal(store_open(&mine, &o, err, sizeof(err)), STORE_OK);
    o.shared = 0;
    assert_int_equal(store_open(&other, &o, err, sizeof(err)), STORE_OK);
    assert_int_equal(authz_create(&z, mine, TOKEN_KEY, NULL), 0);

    write_token(other, (tok_arg){"principals/w1", "tln_first", 1, 1});
    write_token(other, (tok_arg){"principals/w2", "tln_second", 1, 1});
    expect_who(z, "tln_first", "principals/w1");
    expect_who(z, "tln_second", "principals/w2");
    expect_refused(z, "tln_unknown");

    /* The cache serves known tokens: a change made without moving the
     * epoch (no tallinnd does that) goes unseen. */
    raw_sql(f->path, "UPDATE principals SET token_hash = NULL WHERE name = 'principals/w2'");
    expect_who(z, "tln_second", "principals/w2");

    /* Revoked through the other process: refused here from the moment that
     * call returned, and the stale entry of w2 went with the epoch too. */
    write_token(other, (tok_arg){"principals/w1", NULL, 1, 0});
    expect_refused(z, "tln_first");
    expect_refused(z, "tln_second");

    /* Disabled through the other process (its token kept): refused at once. */
    write_token(other, (tok_arg){"principals/w3", "tln_third", 1, 1});
    expect_who(z, "tln_third", "principals/w3");
    {
        Tallinn__V1__Principal p = TALLINN__V1__PRINCIPAL__INIT;
        p.name = "principals/w3";
        p.display_name = "Warsaw back office";
        p.role = TALLINN__V1__PRINCIPAL__ROLE__ROLE_BACK_OFFICE;
        p.state = TALLINN__V1__PRINCIPAL__STATE__STATE_DISABLED;
        assert_int_equal(store_write(other, update_only, &p, &(int){0}), STORE_OK);
    }
    expect_refused(z, "tln_third");

    /* A rotation through this process is seen at once too (memory or not). */
    write_token(mine, (tok_arg){"principals/w4", "tln_fourth", 1, 1});
    expect_who(z, "tln_fourth", "principals/w4");
    write_token(mine, (tok_arg){"principals/w4", "tln_fifth", 1, 0});
    expect_refused(z, "tln_fourth");
    expect_who(z, "tln_fifth", "principals/w4");

    authz_destroy(z);
    store_close(other);
    store_close(mine);
}

/* The rule lookup (an index by path) answers as the table it is built from:
 * every row of the matrix, which authz_write_matrix prints from the table
 * itself, for every role; a path that is not a rule, or nearly one, is
 * refused to all; the public services are open to all. */
static void test_rule_lookup_matches_table(void **state)
{
    char *buf = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int rows = 0;

    (void)state;
    assert_non_null(out);
    authz_write_matrix(out);
    fclose(out);
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char name[160], path[200], *cell, *end, *dot;
        int role = API_ROLE_FRONT_OFFICE;

        if (strncmp(line, "| ", 2) != 0 || strstr(line, ".* |") != NULL ||
            strncmp(line, "| method", 8) == 0)
            continue;
        end = strchr(line + 2, ' ');
        assert_non_null(end);
        snprintf(name, sizeof(name), "%.*s", (int)(end - line - 2), line + 2);
        dot = strrchr(name, '.');
        assert_non_null(dot);
        *dot = '\0';
        snprintf(path, sizeof(path), "/tallinn.v1.%s/%s", name, dot + 1);
        cell = end + 3; /* past " | " */
        for (; role <= API_ROLE_ADMIN; role++) {
            int yes = strncmp(cell, "yes", 3) == 0;
            assert_int_equal(authz_allowed(path, (api_role)role), yes);
            cell = strstr(cell, " | ");
            assert_non_null(cell);
            cell += 3;
        }
        /* Nearly the path: one byte more, one less, another case. */
        path[strlen(path) - 1] ^= 0x20;
        for (role = API_ROLE_FRONT_OFFICE; role <= API_ROLE_ADMIN; role++)
            assert_false(authz_allowed(path, (api_role)role));
        rows++;
    }
    free(buf);
    assert_true(rows >= 50);
    for (int role = API_ROLE_FRONT_OFFICE; role <= API_ROLE_ADMIN; role++) {
        assert_false(authz_allowed("/tallinn.v1.NeedService/GetNeedX", (api_role)role));
        assert_false(authz_allowed("/tallinn.v1.NeedService/GetNee", (api_role)role));
        assert_false(authz_allowed("", (api_role)role));
        assert_true(authz_allowed("/grpc.health.v1.Health/Check", (api_role)role));
    }
    assert_false(authz_allowed("/tallinn.v1.DiagnosticsService/Noop", API_ROLE_NONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttle_per_address),
        cmocka_unit_test(test_throttle_global),
        cmocka_unit_test(test_rule_lookup_matches_table),
        cmocka_unit_test_setup_teardown(test_last_use_behind_the_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_use_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_elsewhere_refused_at_once, setup, teardown),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
