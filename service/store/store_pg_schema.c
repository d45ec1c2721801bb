/* store_pg_schema.c — the PostgreSQL engine's schema: its numbered
 * migrations and applying them at open (store_pg.c connects). Text columns
 * are COLLATE "C" so that text orders as bytes, as on SQLite. */
#include <stdio.h>
#include <stdlib.h>

#include "store/store_pg.h"
#include "log/slog.h"

/* Numbered migrations, applied in order at open, each in its own
 * transaction under an advisory lock (replicas may start together);
 * schema_version holds the number applied. Never edit a released one: add
 * the next. Text columns are COLLATE "C" — byte order, as on SQLite — so
 * lists order and page alike on both engines and the indexes serve the
 * row-value seeks; integers are bigint (int64 everywhere). */
static const char *const migrations[] = {
    /* 1: the schema of SQLite's migrations 1-6 */
    "CREATE TABLE donors ("
    "  name text COLLATE \"C\" PRIMARY KEY, data bytea NOT NULL,"
    "  display_name text COLLATE \"C\" NOT NULL, kind bigint NOT NULL,"
    "  country_code text COLLATE \"C\" NOT NULL, membership bigint NOT NULL,"
    "  parent text COLLATE \"C\" NOT NULL,"
    "  create_time bigint NOT NULL, update_time bigint NOT NULL);"
    "CREATE TABLE pledges ("
    "  name text COLLATE \"C\" PRIMARY KEY, data bytea NOT NULL,"
    "  donor text COLLATE \"C\" NOT NULL REFERENCES donors(name),"
    "  state bigint NOT NULL, fiscal_year bigint NOT NULL, amount bigint NOT NULL,"
    "  available bigint NOT NULL,"
    "  create_time bigint NOT NULL, update_time bigint NOT NULL);"
    "CREATE INDEX pledges_created ON pledges(create_time, name);"
    "CREATE INDEX pledges_donor_created ON pledges(donor, create_time, name);"
    "CREATE TABLE needs ("
    "  name text COLLATE \"C\" PRIMARY KEY, data bytea NOT NULL,"
    "  title text COLLATE \"C\" NOT NULL, state bigint NOT NULL, sector bigint NOT NULL,"
    "  category bigint NOT NULL, domain bigint NOT NULL, priority bigint NOT NULL,"
    "  sensitivity bigint NOT NULL, coverage bigint NOT NULL,"
    "  estimated_cost bigint NOT NULL, committed bigint NOT NULL, delivered bigint NOT NULL,"
    "  needed_by bigint NOT NULL, region text COLLATE \"C\" NOT NULL,"
    "  beneficiary text COLLATE \"C\" NOT NULL,"
    "  create_time bigint NOT NULL, update_time bigint NOT NULL);"
    "CREATE INDEX needs_create_time ON needs(create_time, name);"
    "CREATE INDEX needs_state_created ON needs(state, create_time, name);"
    "CREATE INDEX needs_priority_created ON needs(priority, create_time DESC, name DESC);"
    "CREATE TABLE matches ("
    "  name text COLLATE \"C\" PRIMARY KEY, data bytea NOT NULL,"
    "  need text COLLATE \"C\" NOT NULL REFERENCES needs(name),"
    "  donor text COLLATE \"C\" NOT NULL REFERENCES donors(name),"
    "  pledge text COLLATE \"C\" NOT NULL REFERENCES pledges(name),"
    "  state bigint NOT NULL, amount bigint NOT NULL, proposer text COLLATE \"C\" NOT NULL,"
    "  create_time bigint NOT NULL, update_time bigint NOT NULL);"
    "CREATE INDEX matches_need_sum ON matches(need, state, amount);"
    "CREATE INDEX matches_pledge_sum ON matches(pledge, state, amount);"
    "CREATE INDEX matches_created ON matches(create_time, name);"
    "CREATE INDEX matches_donor_created ON matches(donor, create_time, name);"
    "CREATE TABLE requests ("
    "  principal text COLLATE \"C\" NOT NULL, method text COLLATE \"C\" NOT NULL,"
    "  request_id text COLLATE \"C\" NOT NULL,"
    "  request_hash bytea NOT NULL, response bytea NOT NULL, create_time bigint NOT NULL,"
    "  PRIMARY KEY (principal, method, request_id));"
    "CREATE INDEX requests_time ON requests(create_time);"
    "CREATE TABLE principals ("
    "  name text COLLATE \"C\" PRIMARY KEY, data bytea NOT NULL,"
    "  display_name text COLLATE \"C\" NOT NULL, role bigint NOT NULL, state bigint NOT NULL,"
    "  donor text COLLATE \"C\" NOT NULL, cert_identity text COLLATE \"C\" NOT NULL,"
    "  create_time bigint NOT NULL, last_use_time bigint NOT NULL, token_hash bytea);"
    "CREATE UNIQUE INDEX principals_token ON principals(token_hash) WHERE token_hash IS NOT NULL;"
    "CREATE UNIQUE INDEX principals_cert ON principals(cert_identity) WHERE cert_identity <> '';"
    "CREATE TABLE audit_leaves (idx bigint PRIMARY KEY, data bytea NOT NULL);"
    "CREATE TABLE audit_tiles (level bigint NOT NULL, idx bigint NOT NULL,"
    "  hashes bytea NOT NULL, PRIMARY KEY (level, idx));"
    "CREATE TABLE audit_checkpoints (size bigint PRIMARY KEY, note bytea NOT NULL,"
    "  time bigint NOT NULL);"
    "CREATE TABLE audit_head (id integer PRIMARY KEY CHECK (id = 1), size bigint NOT NULL);"
    "INSERT INTO audit_head(id, size) VALUES(1, 0);"
    "CREATE TABLE principals_epoch (id integer PRIMARY KEY CHECK (id = 1),"
    "  epoch bigint NOT NULL);"
    "INSERT INTO principals_epoch(id, epoch) VALUES(1, 1);",
    /* 2: exchange rates (SQLite's migration 7) */
    "CREATE TABLE exchange_rates ("
    "  name text COLLATE \"C\" PRIMARY KEY, data bytea NOT NULL,"
    "  currency text COLLATE \"C\" NOT NULL, rate_date bigint NOT NULL, used bigint NOT NULL,"
    "  create_time bigint NOT NULL);"
    "CREATE UNIQUE INDEX exchange_rates_day ON exchange_rates(currency, rate_date);",
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* Serialises migrations of replicas that start together ("tallinn" in
 * ASCII): pg_advisory_xact_lock's key. */
#define MIGRATION_LOCK "8388065650370926"

int pg_schema_version(void)
{
    return (int)N_MIGRATIONS;
}

int pg_migrate(store_db *db, store_conn *c, char *err, size_t errlen)
{
    for (;;) {
        PGresult *r;
        int64_t version;
        int rc;

        /* One migration per transaction; replicas starting together wait
         * for each other here and then see what the first one did. */
        if ((rc = pg_simple(c, "BEGIN")) != STORE_OK ||
            (rc = pg_simple(c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")")) != STORE_OK ||
            (rc = pg_simple(c, "CREATE TABLE IF NOT EXISTS schema_version ("
                            " id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);"
                            "INSERT INTO schema_version(id, version) VALUES(1, 0)"
                            " ON CONFLICT DO NOTHING")) != STORE_OK)
            goto failed;
        r = PQexec(c->h, "SELECT version FROM schema_version WHERE id = 1");
        if ((rc = pg_result(c, r, &r)) != STORE_OK)
            goto failed;
        version = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        PQclear(r);
        if (version < 0 || version > (int64_t)N_MIGRATIONS) {
            pg_simple(c, "ROLLBACK");
            snprintf(err, errlen, "the database %s has schema version %lld, newer than this "
                     "tallinnd (%zu)", db->where, (long long)version, N_MIGRATIONS);
            return STORE_ERROR;
        }
        if (version == (int64_t)N_MIGRATIONS)
            return pg_simple(c, "COMMIT") == STORE_OK ? STORE_OK : STORE_IO;
        if ((rc = pg_simple(c, migrations[version])) != STORE_OK ||
            (rc = pg_simple(c, "UPDATE schema_version SET version = version + 1 WHERE id = 1")) !=
                STORE_OK ||
            (rc = pg_simple(c, "COMMIT")) != STORE_OK) {
            char line[200];
            pg_one_line(line, sizeof(line), PQerrorMessage(c->h));
            pg_simple(c, "ROLLBACK");
            snprintf(err, errlen, "migration %lld of %s failed: %s", (long long)version + 1,
                     db->where, line);
            return rc;
        }
        SLOG(SLOG_INFO, "migrated", SLOG_S("engine", "postgresql"), SLOG_S("db", db->where),
             SLOG_I("schema_version", (long long)version + 1));
        continue;
    failed: {
        char line[200];
        pg_one_line(line, sizeof(line), PQerrorMessage(c->h));
        if (PQstatus(c->h) == CONNECTION_OK)
            pg_simple(c, "ROLLBACK");
        snprintf(err, errlen, "cannot read the schema of %s: %s", db->where, line);
        return rc;
    }
    }
}

