/* store_pg_schema.c — the PostgreSQL engine's schema: its numbered
 * migrations and applying them at open (store_pg.c connects). Text columns
 * are COLLATE "C" so that text orders as bytes, as on SQLite. */
#include <stdio.h>
#include <stdlib.h>

#include "store/store_pg.h"
#include "tallinn/textfold.h"
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
    /* 3: the change log (SQLite's migration 8; store_engine.h, docs/store.md):
     * each resource version a change wrote, under its audit record's index;
     * where it begins; and the resources already stored as the baseline
     * (index -1). The audit head is locked first, as every write batch does:
     * a replica still running the previous binary cannot commit between the
     * start read here and the baseline copied, so the two agree. kind is
     * store_kind's number (store_pg_changes.c checks it). */
    "SELECT size FROM audit_head WHERE id = 1 FOR UPDATE;"
    "CREATE TABLE changes (idx bigint NOT NULL, seq bigint NOT NULL,"
    "  kind bigint NOT NULL, name text COLLATE \"C\" NOT NULL, deleted bigint NOT NULL,"
    "  donor text COLLATE \"C\" NOT NULL, need text COLLATE \"C\" NOT NULL,"
    "  state bigint NOT NULL, data bytea NOT NULL);"
    "CREATE UNIQUE INDEX changes_version ON changes(kind, name, idx);"
    "CREATE INDEX changes_order ON changes(idx, seq);"
    "CREATE INDEX changes_match ON changes(need, donor, idx) WHERE kind = 3;"
    "CREATE TABLE change_log_start (id integer PRIMARY KEY CHECK (id = 1),"
    "  idx bigint NOT NULL);"
    "INSERT INTO change_log_start(id, idx) SELECT 1, size FROM audit_head;"
    "INSERT INTO changes SELECT -1, 0, 0, name, 0, '', '', 0, data FROM donors;"
    "INSERT INTO changes SELECT -1, 0, 1, name, 0, donor, '', state, data FROM pledges;"
    "INSERT INTO changes SELECT -1, 0, 2, name, 0, '', '', state, data FROM needs;"
    "INSERT INTO changes SELECT -1, 0, 3, name, 0, donor, need, state, data FROM matches;"
    "INSERT INTO changes SELECT -1, 0, 5, name, 0, '', '', 0, data FROM exchange_rates;",
    /* 4: the audit log's witnesses (SQLite's migration 9) */
    "CREATE TABLE audit_witnesses (witness text COLLATE \"C\" PRIMARY KEY,"
    "  size bigint NOT NULL, update_time bigint NOT NULL);"
    "CREATE TABLE audit_cosignatures (size bigint NOT NULL, witness text COLLATE \"C\" NOT NULL,"
    "  line bytea NOT NULL, time bigint NOT NULL, PRIMARY KEY (size, witness));",
    /* 5: search (SQLite's migration 10): the folded copy (textfold.h) of each
     * searchable text; rows written before get theirs from fill_folds. */
    ("ALTER TABLE donors ADD COLUMN display_name_fold text COLLATE \"C\" NOT NULL DEFAULT '';"
     "ALTER TABLE needs ADD COLUMN title_fold text COLLATE \"C\" NOT NULL DEFAULT '';"),
    /* 6: the newest checkpoint per count of cosignature lines (SQLite's
     * migration 11) */
    "CREATE TABLE audit_quorums (k bigint PRIMARY KEY, size bigint NOT NULL);"
    "WITH RECURSIVE ks(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM ks WHERE k < 64),"
    "  c(size, n) AS (SELECT size, COUNT(*) FROM audit_cosignatures GROUP BY size)"
    "  INSERT INTO audit_quorums(k, size) SELECT ks.k, MAX(c.size) FROM ks JOIN c ON c.n >= ks.k"
    "  GROUP BY ks.k;",
    /* 7: per need and per pledge, per match state, the exact sum of the
     * matches' amounts, kept by a trigger (SQLite's migration 12) */
    "CREATE TABLE match_totals (owner text COLLATE \"C\" NOT NULL, state bigint NOT NULL,"
    "  total numeric NOT NULL, PRIMARY KEY (owner, state));"
    "INSERT INTO match_totals SELECT owner, state, SUM(amount) FROM (SELECT need AS owner,"
    "  state, amount FROM matches UNION ALL SELECT pledge, state, amount FROM matches) m"
    "  GROUP BY owner, state;"
    "CREATE FUNCTION match_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  IF TG_OP <> 'INSERT' THEN"
    "    UPDATE match_totals SET total = total - OLD.amount"
    "      WHERE owner IN (OLD.need, OLD.pledge) AND state = OLD.state;"
    "  END IF;"
    "  IF TG_OP <> 'DELETE' THEN"
    "    INSERT INTO match_totals VALUES (NEW.need, NEW.state, NEW.amount), (NEW.pledge,"
    "      NEW.state, NEW.amount) ON CONFLICT (owner, state) DO UPDATE"
    "      SET total = match_totals.total + EXCLUDED.total;"
    "  END IF;"
    "  RETURN NULL;"
    "END $$;"
    "CREATE TRIGGER match_totals AFTER INSERT OR DELETE OR UPDATE OF need, pledge, state, amount"
    "  ON matches FOR EACH ROW EXECUTE FUNCTION match_totals_apply();",
};
#define FOLD_MIGRATION 5 /* the migration after which fill_folds runs */
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* Serialises migrations of replicas that start together ("tallinn" in
 * ASCII): pg_advisory_xact_lock's key. */
#define MIGRATION_LOCK "8388065650370926"

int pg_schema_version(void)
{
    return (int)N_MIGRATIONS;
}

/* The folded columns of rows written before migration 3, computed by the
 * same C function as every write's (PostgreSQL's lower() depends on the
 * database's locale and is no case fold). In the migration's transaction;
 * identifiers from store_fold_columns, values bound. */
static int fill_folds(store_conn *c)
{
    for (size_t i = 0; i < store_n_fold_columns; i++) {
        const store_fold_column *f = &store_fold_columns[i];
        char select[160], update[160];
        PGresult *rows, *r;
        int rc;

        snprintf(select, sizeof(select), "SELECT name, %s FROM %s", f->column, f->table);
        snprintf(update, sizeof(update), "UPDATE %s SET %s = $1 WHERE name = $2", f->table,
                 f->fold);
        if ((rc = pg_result(c, PQexec(c->h, select), &rows)) != STORE_OK)
            return rc;
        for (int row = 0; row < PQntuples(rows); row++) {
            const char *v[2];
            char *folded;
            size_t len;
            if ((rc = textfold(PQgetvalue(rows, row, 1), (size_t)PQgetlength(rows, row, 1),
                               &folded, &len)) != TEXTFOLD_OK) {
                PQclear(rows);
                return rc == TEXTFOLD_ERR_NOMEM ? STORE_NOMEM : STORE_ERROR;
            }
            v[0] = folded;
            v[1] = PQgetvalue(rows, row, 0);
            r = PQexecParams(c->h, update, 2, NULL, v, NULL, NULL, 0);
            free(folded);
            if ((rc = pg_result(c, r, &r)) != STORE_OK) {
                PQclear(rows);
                return rc;
            }
            PQclear(r);
        }
        PQclear(rows);
    }
    return STORE_OK;
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
            (version + 1 == FOLD_MIGRATION && (rc = fill_folds(c)) != STORE_OK) ||
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

