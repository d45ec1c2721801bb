/* store_sqlite.c — the SQLite engine (store_engine.h): one database file in
 * the data directory, WAL with synchronous=FULL (a committed batch is on
 * disk), numbered migrations in PRAGMA user_version, statements prepared
 * once per connection, and the named queries in SQLite's SQL. One process
 * at a time (tallinnd holds the data-directory lock). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store_sql.h"
#include "store/store_sqlite_ckpt.h"
#include "tallinn/textfold.h"
#include "log/slog.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

/* Numbered migrations, applied in order at open; PRAGMA user_version holds the
 * number applied. Never edit a released one: add the next. */
static const char *const migrations[] = {
    /* 1: the four resources and remembered requests */
    "CREATE TABLE donors ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  display_name TEXT NOT NULL, kind INTEGER NOT NULL, country_code TEXT NOT NULL,"
    "  membership INTEGER NOT NULL, parent TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL, update_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE pledges ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  donor TEXT NOT NULL REFERENCES donors(name),"
    "  state INTEGER NOT NULL, fiscal_year INTEGER NOT NULL, amount INTEGER NOT NULL,"
    "  available INTEGER NOT NULL,"
    "  create_time INTEGER NOT NULL, update_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX pledges_donor ON pledges(donor);"
    "CREATE TABLE needs ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  title TEXT NOT NULL, state INTEGER NOT NULL, sector INTEGER NOT NULL,"
    "  category INTEGER NOT NULL, domain INTEGER NOT NULL, priority INTEGER NOT NULL,"
    "  sensitivity INTEGER NOT NULL, coverage INTEGER NOT NULL,"
    "  estimated_cost INTEGER NOT NULL, committed INTEGER NOT NULL, delivered INTEGER NOT NULL,"
    "  needed_by INTEGER NOT NULL, region TEXT NOT NULL, beneficiary TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL, update_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX needs_state ON needs(state, name);"
    "CREATE INDEX needs_create_time ON needs(create_time, name);"
    "CREATE TABLE matches ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  need TEXT NOT NULL REFERENCES needs(name),"
    "  donor TEXT NOT NULL REFERENCES donors(name),"
    "  pledge TEXT NOT NULL REFERENCES pledges(name),"
    "  state INTEGER NOT NULL, amount INTEGER NOT NULL, proposer TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL, update_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX matches_need ON matches(need);"
    "CREATE INDEX matches_pledge ON matches(pledge);"
    "CREATE INDEX matches_donor ON matches(donor);"
    "CREATE TABLE requests ("
    "  principal TEXT NOT NULL, method TEXT NOT NULL, request_id TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL, response BLOB NOT NULL, create_time INTEGER NOT NULL,"
    "  PRIMARY KEY (principal, method, request_id)) WITHOUT ROWID;"
    "CREATE INDEX requests_time ON requests(create_time);",
    /* 2: principals; tokens only as keyed hashes */
    "CREATE TABLE principals ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  display_name TEXT NOT NULL, role INTEGER NOT NULL, state INTEGER NOT NULL,"
    "  donor TEXT NOT NULL, cert_identity TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL, last_use_time INTEGER NOT NULL,"
    "  token_hash BLOB) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX principals_token ON principals(token_hash) WHERE token_hash IS NOT NULL;"
    "CREATE UNIQUE INDEX principals_cert ON principals(cert_identity) WHERE cert_identity != '';",
    /* 3: the audit log: leaves as written, hash tiles, signed checkpoints */
    "CREATE TABLE audit_leaves (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE audit_tiles (level INTEGER NOT NULL, idx INTEGER NOT NULL,"
    "  hashes BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;"
    "CREATE TABLE audit_checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL,"
    "  time INTEGER NOT NULL);",
    /* 4: indexes that serve the common queries without a sort or a table
     * walk: needs of a state in creation order (the default list order),
     * and sums of match amounts by pledge and need (covering). */
    "CREATE INDEX needs_state_created ON needs(state, create_time, name);"
    "DROP INDEX needs_state;"
    "CREATE INDEX matches_pledge_sum ON matches(pledge, state, amount);"
    "CREATE INDEX matches_need_sum ON matches(need, state, amount);"
    "DROP INDEX matches_pledge;"
    "DROP INDEX matches_need;",
    /* 5: keyset pages cost the same at any depth when an index has the
     * order's keys (the name last, in the last key's direction): the default
     * order of matches and pledges, alone and per donor (a DONOR's lists),
     * and needs by priority, newest first (docs/api.md's example). */
    "CREATE INDEX needs_priority_created ON needs(priority, create_time DESC, name DESC);"
    "CREATE INDEX matches_created ON matches(create_time, name);"
    "CREATE INDEX matches_donor_created ON matches(donor, create_time, name);"
    "DROP INDEX matches_donor;"
    "CREATE INDEX pledges_created ON pledges(create_time, name);"
    "CREATE INDEX pledges_donor_created ON pledges(donor, create_time, name);"
    "DROP INDEX pledges_donor;",
    /* 6: state other processes must agree on lives in the database: the
     * audit head sequences the log (every write batch locks it first,
     * docs/audit.md), the principals epoch moves with every change a cached
     * authentication depends on (docs/authz.md). */
    "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);"
    "INSERT INTO audit_head(id, size) SELECT 1, COALESCE(MAX(idx) + 1, 0) FROM audit_leaves;"
    "CREATE TABLE principals_epoch (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  epoch INTEGER NOT NULL);"
    "INSERT INTO principals_epoch(id, epoch) VALUES(1, 1);",
    /* 7: exchange rates kept by the back office (rate.proto), one per
     * currency and day; valuing an amount reads the latest of a currency
     * up to a day, which (currency, rate_date) serves. Pledges and matches
     * keep their columns: `amount` holds the accounting value (every row
     * written before was in the accounting currency, so it already does). */
    "CREATE TABLE exchange_rates ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  currency TEXT NOT NULL, rate_date INTEGER NOT NULL, used INTEGER NOT NULL,"
    "  create_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX exchange_rates_day ON exchange_rates(currency, rate_date);",
    /* 8: the change log (store.h, docs/store.md): each resource version a
     * change wrote, under its audit record's index; where it begins; and the
     * resources already stored, as the baseline (index -1) it starts from.
     * kind is store_kind's number (checked below). */
    "CREATE TABLE changes (idx INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL, name TEXT NOT NULL, deleted INTEGER NOT NULL,"
    "  donor TEXT NOT NULL, need TEXT NOT NULL, state INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE UNIQUE INDEX changes_version ON changes(kind, name, idx);"
    "CREATE INDEX changes_order ON changes(idx, seq);"
    "CREATE INDEX changes_match ON changes(need, donor, idx) WHERE kind = 3;"
    "CREATE TABLE change_log_start (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  idx INTEGER NOT NULL);"
    "INSERT INTO change_log_start(id, idx) SELECT 1, size FROM audit_head;"
    "INSERT INTO changes SELECT -1, 0, 0, name, 0, '', '', 0, data FROM donors;"
    "INSERT INTO changes SELECT -1, 0, 1, name, 0, donor, '', state, data FROM pledges;"
    "INSERT INTO changes SELECT -1, 0, 2, name, 0, '', '', state, data FROM needs;"
    "INSERT INTO changes SELECT -1, 0, 3, name, 0, donor, need, state, data FROM matches;"
    "INSERT INTO changes SELECT -1, 0, 5, name, 0, '', '', 0, data FROM exchange_rates;",
    /* 9: the audit log's witnesses (docs/audit.md "The log's side"): the
     * size each last cosigned, learnt by any replica, and the cosignature
     * lines per checkpoint; the primary key (size, witness) serves a
     * checkpoint's lines and the backward walk for the newest one that
     * reached a quorum. */
    "CREATE TABLE audit_witnesses (witness TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    "  update_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE audit_cosignatures (size INTEGER NOT NULL, witness TEXT NOT NULL,"
    "  line BLOB NOT NULL, time INTEGER NOT NULL, PRIMARY KEY (size, witness)) WITHOUT ROWID;",
    /* 10: search (the filter's ":"): the folded copy (textfold.h) of each
     * searchable text, written with every row (store_kinds.c); rows written
     * before get theirs here from the same C function (fold_sql below). */
    "ALTER TABLE donors ADD COLUMN display_name_fold TEXT NOT NULL DEFAULT '';"
    "UPDATE donors SET display_name_fold = tallinn_textfold(display_name);"
    "ALTER TABLE needs ADD COLUMN title_fold TEXT NOT NULL DEFAULT '';"
    "UPDATE needs SET title_fold = tallinn_textfold(title);",
    /* 11: for each count k of cosignature lines, the newest checkpoint that
     * has at least k (kept by cosignature_put), so that the newest quorum
     * is one lookup, not a walk of every checkpoint's lines when no quorum
     * was reached for a long time (witnesses down). Filled from the lines
     * kept before; k up to 64, twice WITNESSES_MAX. */
    "CREATE TABLE audit_quorums (k INTEGER PRIMARY KEY, size INTEGER NOT NULL);"
    "WITH RECURSIVE ks(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM ks WHERE k < 64),"
    "  c(size, n) AS (SELECT size, COUNT(*) FROM audit_cosignatures GROUP BY size)"
    "  INSERT INTO audit_quorums(k, size) SELECT ks.k, MAX(c.size) FROM ks JOIN c ON c.n >= ks.k"
    "  GROUP BY ks.k;",
    /* 12: per need and per pledge (owner: the resource's name; the two name
     * spaces never meet), per match state, the exact sum of the matches'
     * amounts as SUM(amount / 10^9) and SUM(amount % 10^9), kept by triggers
     * in the transaction of every match write: the guards' sums (ledger.c)
     * read at most eight rows instead of every match of a pledge. Filled
     * from the matches there are. */
    "CREATE TABLE match_totals (owner TEXT NOT NULL, state INTEGER NOT NULL,"
    "  units INTEGER NOT NULL, nanos INTEGER NOT NULL, PRIMARY KEY (owner, state)) WITHOUT ROWID;"
    "INSERT INTO match_totals SELECT owner, state, SUM(amount / 1000000000),"
    "  SUM(amount % 1000000000) FROM (SELECT need AS owner, state, amount FROM matches"
    "  UNION ALL SELECT pledge, state, amount FROM matches) GROUP BY owner, state;"
    "CREATE TRIGGER match_totals_insert AFTER INSERT ON matches BEGIN"
    "  INSERT INTO match_totals VALUES (NEW.need, NEW.state, NEW.amount / 1000000000,"
    "    NEW.amount % 1000000000) ON CONFLICT (owner, state) DO UPDATE SET"
    "    units = units + excluded.units, nanos = nanos + excluded.nanos;"
    "  INSERT INTO match_totals VALUES (NEW.pledge, NEW.state, NEW.amount / 1000000000,"
    "    NEW.amount % 1000000000) ON CONFLICT (owner, state) DO UPDATE SET"
    "    units = units + excluded.units, nanos = nanos + excluded.nanos;"
    "END;"
    "CREATE TRIGGER match_totals_delete AFTER DELETE ON matches BEGIN"
    "  UPDATE match_totals SET units = units - OLD.amount / 1000000000,"
    "    nanos = nanos - OLD.amount % 1000000000"
    "    WHERE owner IN (OLD.need, OLD.pledge) AND state = OLD.state;"
    "END;"
    "CREATE TRIGGER match_totals_update AFTER UPDATE OF need, pledge, state, amount ON matches"
    "  BEGIN"
    "  UPDATE match_totals SET units = units - OLD.amount / 1000000000,"
    "    nanos = nanos - OLD.amount % 1000000000"
    "    WHERE owner IN (OLD.need, OLD.pledge) AND state = OLD.state;"
    "  INSERT INTO match_totals VALUES (NEW.need, NEW.state, NEW.amount / 1000000000,"
    "    NEW.amount % 1000000000) ON CONFLICT (owner, state) DO UPDATE SET"
    "    units = units + excluded.units, nanos = nanos + excluded.nanos;"
    "  INSERT INTO match_totals VALUES (NEW.pledge, NEW.state, NEW.amount / 1000000000,"
    "    NEW.amount % 1000000000) ON CONFLICT (owner, state) DO UPDATE SET"
    "    units = units + excluded.units, nanos = nanos + excluded.nanos;"
    "END;",
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

static const store_sql_dialect dialect = {.param = "?", .text_collate = "", .contains = "instr"};

/* ---- Statements ---- */

enum {
    ST_GET0 = 0, /* + kind */
    ST_INSERT0 = ST_GET0 + STORE_KIND_COUNT,
    ST_UPDATE0 = ST_INSERT0 + STORE_KIND_COUNT,
    ST_DELETE0 = ST_UPDATE0 + STORE_KIND_COUNT,
    ST_MATCH_SUM = ST_DELETE0 + STORE_KIND_COUNT,
    ST_PLEDGE_COUNT,
    ST_DONOR_RECORD,
    ST_PRINCIPAL_SET_TOKEN,
    ST_PRINCIPAL_BY_TOKEN,
    ST_PRINCIPAL_BY_CERT,
    ST_EPOCH,
    ST_EPOCH_BUMP,
    ST_DONOR_HAS_MATCH,
    ST_AUDIT_HEAD,
    ST_AUDIT_HEAD_SET,
    ST_AUDIT_APPEND,
    ST_AUDIT_LEAF,
    ST_AUDIT_SIZE,
    ST_AUDIT_COUNT,
    ST_AUDIT_SCAN,
    ST_TILE_PUT,
    ST_TILE_GET,
    ST_CKPT_PUT,
    ST_CKPT_GET,
    ST_CKPT_LATEST,
    ST_WITNESS_SIZE,
    ST_WITNESS_RAISE,
    ST_COSIG_PUT,
    ST_COSIGS,
    ST_COSIGNED_SIZE,
    ST_QUORUM_PUT,
    ST_QUORUM_GET,
    ST_REQ_GET,
    ST_REQ_PUT,
    ST_REQ_EXPIRE,
    ST_CHANGE_PUT,
    ST_CHANGE_SCAN,
    ST_CHANGE_VERSIONS,
    ST_CHANGE_VERSIONS_DESC,
    ST_CHANGE_LIVE_MATCH,
    ST_CHANGE_START,
    /* transaction control, prepared once instead of parsed per use */
    ST_BEGIN,
    ST_BEGIN_IMMEDIATE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT_JOB,
    ST_RELEASE_JOB,
    ST_ROLLBACK_JOB,
    ST_SAVEPOINT_INNER,
    ST_RELEASE_INNER,
    ST_ROLLBACK_INNER,
    ST_COUNT
};

_Static_assert(STORE_DONOR == 0 && STORE_PLEDGE == 1 && STORE_NEED == 2 && STORE_MATCH == 3 &&
                   STORE_RATE == 5,
               "the change log's SQL spells these kind numbers");
_Static_assert(TALLINN__V1__NEED__STATE__STATE_OPEN == 6 &&
                   TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD == 1 &&
                   TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED == 2 &&
                   TALLINN__V1__PLEDGE__STATE__STATE_WITHDRAWN == 3 &&
                   TALLINN__V1__DONOR__MEMBERSHIP__MEMBERSHIP_MEMBER == 1,
               "the report SQL spells these enum numbers");

/* The kinds' row statements, rendered once from the kind tables. */
static char row_sql[4][STORE_KIND_COUNT][2048];
static pthread_once_t row_sql_once = PTHREAD_ONCE_INIT;
static int row_sql_ok;

static void row_sql_init(void)
{
    row_sql_ok = 1;
    for (int k = 0; k < STORE_KIND_COUNT; k++)
        if (store_sql_get(&dialect, (store_kind)k, row_sql[0][k], sizeof(row_sql[0][k])) != 0 ||
            store_sql_insert(&dialect, (store_kind)k, row_sql[1][k], sizeof(row_sql[1][k])) != 0 ||
            store_sql_update(&dialect, (store_kind)k, row_sql[2][k], sizeof(row_sql[2][k])) != 0 ||
            store_sql_delete(&dialect, (store_kind)k, row_sql[3][k], sizeof(row_sql[3][k])) != 0)
            row_sql_ok = 0;
}

static const char *fixed_sql(int id)
{
    if (id >= ST_GET0 && id < ST_GET0 + STORE_KIND_COUNT)
        return row_sql[0][id - ST_GET0];
    if (id >= ST_INSERT0 && id < ST_INSERT0 + STORE_KIND_COUNT)
        return row_sql[1][id - ST_INSERT0];
    if (id >= ST_UPDATE0 && id < ST_UPDATE0 + STORE_KIND_COUNT)
        return row_sql[2][id - ST_UPDATE0];
    if (id >= ST_DELETE0 && id < ST_DELETE0 + STORE_KIND_COUNT)
        return row_sql[3][id - ST_DELETE0];
    switch (id) {
    /* Sums add the units and the nanos parts of amounts apart (each part
     * of one amount is below 2^30, so neither sum leaves int64 before 9.2 *
     * 10^9 rows); store_sum puts them together exactly. */
    case ST_MATCH_SUM: /* of a need or a pledge (migration 12) */
        return "SELECT COALESCE(SUM(units), 0), COALESCE(SUM(nanos), 0)"
               " FROM match_totals WHERE owner=?1 AND ((1 << state) & ?2) != 0";
    case ST_PLEDGE_COUNT:
        return "SELECT COUNT(*) FROM pledges WHERE donor=?1 AND ((1 << state) & ?2) = 0";
    case ST_DONOR_RECORD:
        return "SELECT COUNT(*), COALESCE(SUM(n.sector = ?3), 0) FROM matches m"
               " JOIN needs n ON n.name = m.need WHERE m.donor=?1 AND ((1 << m.state) & ?2) != 0";
    case ST_PRINCIPAL_SET_TOKEN:
        return "UPDATE principals SET token_hash=?2 WHERE name=?1";
    case ST_PRINCIPAL_BY_TOKEN:
        return "SELECT data FROM principals WHERE token_hash=?1";
    case ST_PRINCIPAL_BY_CERT:
        return "SELECT data FROM principals WHERE cert_identity=?1 AND cert_identity != ''";
    case ST_EPOCH:
        return "SELECT epoch FROM principals_epoch WHERE id = 1";
    case ST_EPOCH_BUMP:
        return "UPDATE principals_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch";
    case ST_DONOR_HAS_MATCH:
        return "SELECT EXISTS(SELECT 1 FROM matches WHERE need=?1 AND donor=?2"
               " AND ((1 << state) & ?3) != 0)";
    case ST_AUDIT_HEAD:
        return "SELECT size FROM audit_head WHERE id = 1";
    case ST_AUDIT_HEAD_SET:
        return "UPDATE audit_head SET size = ?1 WHERE id = 1";
    case ST_AUDIT_APPEND:
        return "INSERT INTO audit_leaves(idx, data) VALUES(?1, ?2)";
    case ST_AUDIT_LEAF:
        return "SELECT data FROM audit_leaves WHERE idx=?1";
    case ST_AUDIT_SIZE:
        return "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves"; /* O(log n) on the rowid */
    case ST_AUDIT_COUNT:
        return "SELECT COUNT(*) FROM audit_leaves"; /* O(n): start-up only */
    case ST_AUDIT_SCAN:
        return "SELECT idx, data FROM audit_leaves WHERE idx >= ?1 AND idx < ?2 ORDER BY idx";
    case ST_TILE_PUT:
        return "INSERT OR REPLACE INTO audit_tiles(level, idx, hashes) VALUES(?1, ?2, ?3)";
    case ST_TILE_GET:
        return "SELECT hashes FROM audit_tiles WHERE level=?1 AND idx=?2";
    case ST_CKPT_PUT:
        return "INSERT INTO audit_checkpoints(size, note, time) VALUES(?1, ?2, ?3)";
    case ST_CKPT_GET:
        return "SELECT size, note FROM audit_checkpoints WHERE size=?1";
    case ST_CKPT_LATEST:
        return "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1";
    case ST_WITNESS_SIZE:
        return "SELECT size FROM audit_witnesses WHERE witness=?1";
    case ST_WITNESS_RAISE:
        return "INSERT INTO audit_witnesses(witness, size, update_time) VALUES(?1, ?2, ?3)"
               " ON CONFLICT(witness) DO UPDATE SET size = MAX(size, excluded.size),"
               " update_time = excluded.update_time";
    case ST_COSIG_PUT:
        return "INSERT OR IGNORE INTO audit_cosignatures(size, witness, line, time)"
               " VALUES(?1, ?2, ?3, ?4)";
    case ST_COSIGS:
        return "SELECT witness, line FROM audit_cosignatures WHERE size=?1 ORDER BY witness";
    case ST_COSIGNED_SIZE:
        return "SELECT size FROM audit_cosignatures WHERE size < ?1 GROUP BY size"
               " HAVING COUNT(*) >= ?2 ORDER BY size DESC LIMIT 1";
    case ST_QUORUM_PUT: /* after a new line for ?1: its count of lines reached */
        return "INSERT INTO audit_quorums(k, size) SELECT COUNT(*), ?1 FROM audit_cosignatures"
               " WHERE size = ?1 ON CONFLICT(k) DO UPDATE SET size = MAX(size, excluded.size)";
    case ST_QUORUM_GET:
        return "SELECT size FROM audit_quorums WHERE k = ?1";
    case ST_REQ_GET:
        return "SELECT request_hash, response FROM requests WHERE principal=?1 AND method=?2 AND request_id=?3";
    case ST_REQ_PUT:
        return "INSERT INTO requests(principal, method, request_id, request_hash, response, create_time)"
               " VALUES(?1,?2,?3,?4,?5,?6)";
    case ST_REQ_EXPIRE:
        return "DELETE FROM requests WHERE create_time < ?1";
#define CHANGE_COLUMNS "idx, seq, kind, name, deleted, donor, need, state, data"
    case ST_CHANGE_PUT:
        return "INSERT INTO changes(" CHANGE_COLUMNS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    case ST_CHANGE_SCAN:
        return "SELECT " CHANGE_COLUMNS " FROM changes WHERE idx >= ?1 AND idx < ?2"
               " ORDER BY idx, seq LIMIT ?3";
    case ST_CHANGE_VERSIONS:
        return "SELECT " CHANGE_COLUMNS " FROM changes WHERE kind = ?1 AND name = ?2"
               " AND idx >= ?3 AND idx < ?4 ORDER BY idx LIMIT ?5";
    case ST_CHANGE_VERSIONS_DESC:
        return "SELECT " CHANGE_COLUMNS " FROM changes WHERE kind = ?1 AND name = ?2"
               " AND idx >= ?3 AND idx < ?4 ORDER BY idx DESC LIMIT ?5";
    case ST_CHANGE_LIVE_MATCH:
        return "SELECT EXISTS (SELECT 1 FROM changes m WHERE m.kind = 3 AND m.need = ?1"
               " AND m.donor = ?2 AND m.idx <= ?4 AND ((1 << m.state) & ?3) != 0"
               " AND NOT EXISTS (SELECT 1 FROM changes l WHERE l.kind = 3 AND l.name = m.name"
               " AND l.idx > m.idx AND l.idx <= ?4))";
    case ST_CHANGE_START:
        return "SELECT idx FROM change_log_start WHERE id = 1";
#undef CHANGE_COLUMNS
    case ST_BEGIN:
        return "BEGIN";
    case ST_BEGIN_IMMEDIATE:
        return "BEGIN IMMEDIATE";
    case ST_COMMIT:
        return "COMMIT";
    case ST_ROLLBACK:
        return "ROLLBACK";
    case ST_SAVEPOINT_JOB:
        return "SAVEPOINT job";
    case ST_RELEASE_JOB:
        return "RELEASE job";
    case ST_ROLLBACK_JOB:
        return "ROLLBACK TO job";
    case ST_SAVEPOINT_INNER:
        return "SAVEPOINT inner";
    case ST_RELEASE_INNER:
        return "RELEASE inner";
    case ST_ROLLBACK_INNER:
        return "ROLLBACK TO inner";
    }
    return NULL;
}

/* ---- The database and its connections ---- */

#define LIST_CACHE 16 /* list statements kept prepared per connection */

/* The read-mark keeper. A WAL read transaction takes a shared lock on one
 * of the -shm file's read-mark slots (fcntl) at its first read and drops
 * it at its end (fcntl again) — unless another connection of this process
 * holds the same slot, in which case SQLite only counts it in memory
 * (os_unix.c, unixShmLock). The keeper is a read connection that holds a
 * read transaction, and with it the slot of the newest commit, while the
 * writer is idle: reads in the pool then share that slot, and begin and
 * end without a system call. It lets go before the writer's every
 * transaction (BEGIN IMMEDIATE) and takes the new slot after its COMMIT or
 * ROLLBACK, so the writer's checkpoints (run inside COMMIT) and the WAL's
 * restart at the next BEGIN see exactly the readers they see without it:
 * nothing pins an old read mark while the log is written. The keeper
 * reads nothing; it is only SQLite's own reader bookkeeping. */
typedef struct keeper {
    pthread_mutex_t mu;
    store_conn *c;    /* NULL until first taken, or after a failure */
    sqlite3_stmt *st; /* the one read that opens its transaction */
    int held;         /* a read transaction is open */
    int broken;       /* failed once: not tried again */
} keeper;

struct store_db {
    char *path;
    int busy_timeout_ms;
    int read_only;
    sqlite_ckpt *ckpt; /* the writers' WAL checkpoints (NULL read-only) */
    keeper keep;
};

struct store_conn {
    store_db *db;
    int write;
    sqlite3 *h;
    sqlite3_stmt *stmts[ST_COUNT];
    char *list_sql[LIST_CACHE];
    sqlite3_stmt *list_stmt[LIST_CACHE];
    unsigned list_next;
};

static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return STORE_OK;
    case SQLITE_CONSTRAINT:
        return STORE_EXISTS;
    case SQLITE_FULL:
        return STORE_FULL;
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return STORE_IO;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return STORE_CORRUPT;
    case SQLITE_NOMEM:
        return STORE_NOMEM;
    default:
        return STORE_ERROR;
    }
}

/* A failed SQLite call on c: its STORE_* code, logged when it is a bug. */
static int fail(store_conn *c, int sqlite_rc)
{
    int rc = map_sqlite(sqlite_rc);

    if (rc == STORE_OK)
        rc = STORE_ERROR; /* SQLITE_MISUSE and the like reach here as 0 */
    if (rc == STORE_ERROR)
        SLOG(SLOG_ERROR, "sqlite_error", SLOG_I("code", sqlite_rc),
             SLOG_S("msg", sqlite3_errmsg(c->h)));
    return rc;
}

/* A prepared fixed statement, reset and cleared; NULL if it cannot be. */
static sqlite3_stmt *stmt(store_conn *c, int id)
{
    if (c->stmts[id] == NULL &&
        sqlite3_prepare_v3(c->h, fixed_sql(id), -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[id],
                           NULL) != SQLITE_OK) {
        SLOG(SLOG_ERROR, "sqlite_prepare", SLOG_S("msg", sqlite3_errmsg(c->h)));
        return NULL;
    }
    sqlite3_reset(c->stmts[id]);
    sqlite3_clear_bindings(c->stmts[id]);
    return c->stmts[id];
}

#define STMT(st, c, id)                                                        \
    do {                                                                       \
        if (((st) = stmt((c), (id))) == NULL)                                  \
            return fail((c), sqlite3_errcode((c)->h));                        \
    } while (0)

static void conn_free(store_conn *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    for (int i = 0; i < LIST_CACHE; i++) {
        sqlite3_finalize(c->list_stmt[i]);
        free(c->list_sql[i]);
    }
    if (c->h != NULL)
        sqlite3_close(c->h);
    free(c);
}

static int conn_new(store_db *db, int write, store_conn **out, char *err, size_t errlen)
{
    store_conn *c = calloc(1, sizeof(*c));
    char uri[4200];
    int rc;

    *out = NULL;
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return STORE_NOMEM;
    }
    c->db = db;
    c->write = write;
    if (db->read_only) {
        /* Read-only storage: SQLite cannot create the WAL index there, and
         * nothing can change the file, so it is opened as immutable. */
        snprintf(uri, sizeof(uri), "file:%s?immutable=1", db->path);
        rc = sqlite3_open_v2(uri, &c->h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
                                             SQLITE_OPEN_NOMUTEX, NULL);
    } else {
        rc = sqlite3_open_v2(db->path, &c->h,
                             (write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                    : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX,
                             NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", db->path,
                 c->h != NULL ? sqlite3_errmsg(c->h) : sqlite3_errstr(rc));
        conn_free(c);
        return map_sqlite(rc) == STORE_OK ? STORE_ERROR : map_sqlite(rc);
    }
    sqlite3_busy_timeout(c->h, db->busy_timeout_ms);
    sqlite3_extended_result_codes(c->h, 1);
    rc = sqlite3_exec(c->h,
                      db->read_only ? "PRAGMA query_only=ON;"
                      : write ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                " PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                              : "PRAGMA foreign_keys=ON;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure %s: %s", db->path, sqlite3_errmsg(c->h));
        conn_free(c);
        return map_sqlite(rc) == STORE_OK ? STORE_ERROR : map_sqlite(rc);
    }
    *out = c;
    return STORE_OK;
}

static int schema_version(sqlite3 *h, int *version)
{
    sqlite3_stmt *st;
    int rc;

    *version = 0;
    if ((rc = sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL)) != SQLITE_OK)
        return rc;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* tallinn_textfold(text): textfold.h's fold as an SQL function, for the
 * migration that fills the folded columns of rows written before them;
 * registered only on the connection that migrates. */
static void fold_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const unsigned char *s = sqlite3_value_text(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    char *out;
    size_t len;
    int rc;

    (void)argc;
    rc = textfold(s != NULL ? (const char *)s : "", s != NULL ? (size_t)n : 0, &out, &len);
    if (rc == TEXTFOLD_ERR_NOMEM) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (rc != TEXTFOLD_OK || len > (size_t)INT32_MAX) {
        free(rc == TEXTFOLD_OK ? out : NULL);
        sqlite3_result_error(ctx, "tallinn_textfold failed", -1);
        return;
    }
    sqlite3_result_text(ctx, out, (int)len, free);
}

static int migrate(store_db *db, sqlite3 *h, char *err, size_t errlen)
{
    int version = 0, rc;

    if ((rc = schema_version(h, &version)) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read the schema version of %s: %s", db->path,
                 sqlite3_errmsg(h));
        return map_sqlite(rc) == STORE_OK ? STORE_ERROR : map_sqlite(rc);
    }
    if (version > (int)N_MIGRATIONS) {
        snprintf(err, errlen, "%s has schema version %d, newer than this tallinnd (%zu)",
                 db->path, version, N_MIGRATIONS);
        return STORE_ERROR;
    }
    if (db->read_only) {
        /* Read-only storage cannot be migrated: it must already be current. */
        if (version == (int)N_MIGRATIONS)
            return STORE_OK;
        snprintf(err, errlen, "%s is read-only and its schema (version %d) is not this tallinnd's "
                 "(%zu): it cannot be migrated there", db->path, version, N_MIGRATIONS);
        return STORE_IO;
    }
    if ((rc = sqlite3_create_function(h, "tallinn_textfold", 1,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                      NULL, fold_sql, NULL, NULL)) != SQLITE_OK) {
        snprintf(err, errlen, "cannot migrate %s: %s", db->path, sqlite3_errmsg(h));
        return map_sqlite(rc) == STORE_OK ? STORE_ERROR : map_sqlite(rc);
    }
    for (size_t i = (size_t)version; i < N_MIGRATIONS; i++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%zu", i + 1);
        if ((rc = sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) {
            snprintf(err, errlen, "cannot migrate %s: %s", db->path, sqlite3_errmsg(h));
            return map_sqlite(rc) == STORE_OK ? STORE_ERROR : map_sqlite(rc);
        }
        if (sqlite3_exec(h, migrations[i], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(h, pragma, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "migration %zu failed: %s", i + 1, sqlite3_errmsg(h));
            sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
            return STORE_ERROR;
        }
        SLOG(SLOG_INFO, "migrated", SLOG_I("schema_version", i + 1));
    }
    return STORE_OK;
}

static void keeper_close(keeper *k);

static void db_close(store_db *db)
{
    if (db == NULL)
        return;
    keeper_close(&db->keep);
    pthread_mutex_destroy(&db->keep.mu);
    sqlite_ckpt_destroy(db->ckpt); /* its connection is the last: it removes the WAL */
    free(db->path);
    free(db);
}

static int db_open(const store_options *o, store_db **out, char *err, size_t errlen)
{
    store_db *db = calloc(1, sizeof(*db));
    store_conn *c = NULL;
    int rc;

    *out = NULL;
    pthread_once(&row_sql_once, row_sql_init);
    if (db != NULL)
        pthread_mutex_init(&db->keep.mu, NULL);
    if (db == NULL || !row_sql_ok || o->path == NULL || (db->path = strdup(o->path)) == NULL) {
        snprintf(err, errlen, o->path == NULL ? "no database file given" : "out of memory");
        db_close(db);
        return o->path == NULL ? STORE_ERROR : STORE_NOMEM;
    }
    db->busy_timeout_ms = o->busy_timeout_ms;
    db->read_only = o->read_only;
    if (!o->read_only && sqlite_ckpt_create(db->path, db->busy_timeout_ms, &db->ckpt) != 0) {
        snprintf(err, errlen, "out of memory");
        db_close(db);
        return STORE_NOMEM;
    }
    /* The first connection creates the file and the schema. */
    if ((rc = conn_new(db, !o->read_only, &c, err, errlen)) == STORE_OK)
        rc = migrate(db, c->h, err, errlen);
    conn_free(c);
    if (rc != STORE_OK) {
        db_close(db);
        return rc;
    }
    *out = db;
    return STORE_OK;
}

static int db_connect(store_db *db, int write, store_conn **out, char *err, size_t errlen)
{
    int rc = conn_new(db, write, out, err, errlen);

    /* A writer's commits no longer wait for a checkpoint of the WAL. */
    if (rc == STORE_OK && write && db->ckpt != NULL)
        sqlite_ckpt_attach(db->ckpt, (*out)->h);
    return rc;
}

/* ---- Transactions ---- */

/* Runs a statement that returns no row (reset after). */
static int step_done(store_conn *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    rc = rc == SQLITE_DONE ? STORE_OK : fail(c, rc);
    sqlite3_reset(st);
    return rc;
}

static int exec_id(store_conn *c, int id)
{
    sqlite3_stmt *st;

    STMT(st, c, id);
    return step_done(c, st);
}

/* ---- The read-mark keeper (see struct keeper) ---- */

static void keeper_close(keeper *k)
{
    sqlite3_finalize(k->st);
    k->st = NULL;
    conn_free(k->c); /* closing ends its transaction: no lock outlives it */
    k->c = NULL;
    k->held = 0;
}

/* Lets go of the slot: before the writer's transaction. */
static void keeper_release(store_db *db)
{
    keeper *k = &db->keep;

    pthread_mutex_lock(&k->mu);
    if (k->held) {
        k->held = 0;
        if (sqlite3_exec(k->c->h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            k->broken = 1;
            keeper_close(k);
        }
    }
    pthread_mutex_unlock(&k->mu);
}

/* Takes the newest commit's slot: after the writer's transaction. A
 * failure only costs the reads their system calls again. */
static void keeper_take(store_db *db)
{
    keeper *k = &db->keep;
    char err[256];
    int rc;

    if (db->read_only)
        return;
    pthread_mutex_lock(&k->mu);
    if (k->held || k->broken)
        goto out;
    if (k->c == NULL) {
        if (conn_new(db, 0, &k->c, err, sizeof(err)) != STORE_OK ||
            sqlite3_prepare_v2(k->c->h, "SELECT 1 FROM sqlite_schema LIMIT 1", -1, &k->st,
                               NULL) != SQLITE_OK) {
            SLOG(SLOG_WARN, "store_keeper", SLOG_S("msg", "read-mark keeper not started"));
            k->broken = 1;
            keeper_close(k);
            goto out;
        }
        /* It runs on the committer, after a COMMIT: never wait for a lock. */
        sqlite3_busy_timeout(k->c->h, 0);
    }
    if (sqlite3_exec(k->c->h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(k->st); /* the first read opens the read transaction */
    sqlite3_reset(k->st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto fail;
    k->held = 1;
    goto out;
fail:
    /* Busy (a recovery, another process's exclusive lock): try after the
     * next commit; anything else: closed, and not tried again. */
    if (sqlite3_get_autocommit(k->c->h) == 0 &&
        sqlite3_exec(k->c->h, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
        k->broken = 1;
        keeper_close(k);
    }
out:
    pthread_mutex_unlock(&k->mu);
}

/* The keeper closes before the writer: the last connection to close
 * checkpoints the WAL into the database file and removes it, which only a
 * connection that may write can do — as before the keeper existed, a
 * stopped server leaves the database in its one file. */
static void db_disconnect(store_conn *c)
{
    if (c != NULL && c->write) {
        keeper *k = &c->db->keep;
        pthread_mutex_lock(&k->mu);
        keeper_close(k);
        pthread_mutex_unlock(&k->mu);
    }
    conn_free(c);
}

static int tx_begin(store_conn *c, int write)
{
    if (write)
        keeper_release(c->db);
    return exec_id(c, write ? ST_BEGIN_IMMEDIATE : ST_BEGIN);
}

static int tx_commit(store_conn *c)
{
    int rc = exec_id(c, ST_COMMIT);

    if (c->write)
        keeper_take(c->db);
    return rc;
}

static int tx_rollback(store_conn *c)
{
    int rc = sqlite3_get_autocommit(c->h) ? STORE_OK : exec_id(c, ST_ROLLBACK);

    if (c->write)
        keeper_take(c->db);
    return rc;
}

static int tx_open(store_conn *c)
{
    return !sqlite3_get_autocommit(c->h);
}

static int tx_savepoint(store_conn *c, int depth)
{
    return exec_id(c, depth == 0 ? ST_SAVEPOINT_JOB : ST_SAVEPOINT_INNER);
}

static int tx_release(store_conn *c, int depth)
{
    return exec_id(c, depth == 0 ? ST_RELEASE_JOB : ST_RELEASE_INNER);
}

static int tx_rollback_to(store_conn *c, int depth)
{
    return exec_id(c, depth == 0 ? ST_ROLLBACK_JOB : ST_ROLLBACK_INNER);
}

/* ---- Values ---- */

static void bind_value(sqlite3_stmt *st, int at, const store_value *v)
{
    switch (v->type) {
    case STORE_VALUE_INT:
        sqlite3_bind_int64(st, at, v->i);
        break;
    case STORE_VALUE_TEXT:
        sqlite3_bind_text(st, at, v->len > 0 ? v->p : "", (int)v->len, SQLITE_STATIC);
        break;
    case STORE_VALUE_BLOB:
        sqlite3_bind_blob(st, at, v->len > 0 ? v->p : "", (int)v->len, SQLITE_STATIC);
        break;
    case STORE_VALUE_NULL:
        sqlite3_bind_null(st, at);
        break;
    }
}

static void bind_text(sqlite3_stmt *st, int at, const char *s)
{
    sqlite3_bind_text(st, at, s != NULL ? s : "", -1, SQLITE_STATIC);
}

/* Steps a bound statement that returns one row and reads its first n
 * integer columns. The statement is reset. */
static int step_ints(store_conn *c, sqlite3_stmt *st, int n, int64_t *out)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        for (int i = 0; i < n; i++)
            out[i] = sqlite3_column_int64(st, i);
        rc = STORE_OK;
    } else {
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : fail(c, rc);
    }
    sqlite3_reset(st);
    return rc;
}

/* Steps a statement that returns at most one row and gives its first
 * column's blob to fn. */
static int step_blob(store_conn *c, sqlite3_stmt *st, store_blob_fn fn, void *ctx)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        fn(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), ctx);
        rc = STORE_OK;
    } else {
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : fail(c, rc);
    }
    sqlite3_reset(st);
    return rc;
}

/* Copies a blob column into a new buffer. */
static int blob_copy(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
    *len = (size_t)sqlite3_column_bytes(st, col);
    *out = malloc(*len ? *len : 1);
    if (*out == NULL)
        return STORE_NOMEM;
    if (*len > 0)
        memcpy(*out, sqlite3_column_blob(st, col), *len);
    return STORE_OK;
}

static store_sum wide(int64_t units, int64_t nanos)
{
    return (store_sum)units * 1000000000 + nanos;
}

/* ---- Resources ---- */

static int res_get(store_conn *c, store_kind kind, const char *name, store_blob_fn fn, void *ctx)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_GET0 + kind);
    bind_text(st, 1, name);
    return step_blob(c, st, fn, ctx);
}

static int res_put(store_conn *c, store_kind kind, const store_value *cols, const uint8_t *data,
                   size_t len, int insert)
{
    sqlite3_stmt *st;
    int rc;

    STMT(st, c, (insert ? ST_INSERT0 : ST_UPDATE0) + kind);
    bind_value(st, 1, &cols[0]);
    sqlite3_bind_blob(st, 2, len > 0 ? (const void *)data : "", (int)len, SQLITE_STATIC);
    for (size_t i = 1; i < store_kinds[kind].n_columns; i++)
        bind_value(st, (int)i + 2, &cols[i]);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = fail(c, rc);
        sqlite3_reset(st);
        return rc;
    }
    rc = sqlite3_changes(c->h);
    sqlite3_reset(st);
    return !insert && rc == 0 ? STORE_NOT_FOUND : STORE_OK;
}

static int res_del(store_conn *c, store_kind kind, const char *name)
{
    sqlite3_stmt *st;
    int rc;

    STMT(st, c, ST_DELETE0 + kind);
    bind_text(st, 1, name);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
        rc = fail(c, rc);
        sqlite3_reset(st);
        return rc;
    }
    rc = sqlite3_changes(c->h) == 1 ? STORE_OK : STORE_NOT_FOUND;
    sqlite3_reset(st);
    return rc;
}

/* A list statement from the connection's small cache (the same filter and
 * order give the same text), else newly prepared in place of the oldest. */
static sqlite3_stmt *list_stmt(store_conn *c, const char *sql)
{
    unsigned slot;
    char *copy;

    for (unsigned i = 0; i < LIST_CACHE; i++) {
        if (c->list_sql[i] != NULL && strcmp(c->list_sql[i], sql) == 0) {
            sqlite3_reset(c->list_stmt[i]);
            sqlite3_clear_bindings(c->list_stmt[i]);
            return c->list_stmt[i];
        }
    }
    if ((copy = strdup(sql)) == NULL)
        return NULL;
    slot = c->list_next++ % LIST_CACHE;
    sqlite3_finalize(c->list_stmt[slot]);
    free(c->list_sql[slot]);
    c->list_sql[slot] = NULL;
    if (sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->list_stmt[slot], NULL) !=
        SQLITE_OK) {
        c->list_stmt[slot] = NULL;
        free(copy);
        return NULL;
    }
    c->list_sql[slot] = copy;
    return c->list_stmt[slot];
}

/* A row's result columns after data, typed as the statement says. */
static void row_cols(sqlite3_stmt *st, const store_sql *q, store_value *cols)
{
    for (size_t j = 0; j < q->n_cols; j++) {
        int at = (int)j + 1;
        if (q->cols[j] == STORE_VALUE_TEXT) {
            const unsigned char *t = sqlite3_column_text(st, at);
            cols[j] = (store_value){STORE_VALUE_TEXT, 0, t != NULL ? (const void *)t : "",
                                    (size_t)sqlite3_column_bytes(st, at)};
        } else {
            cols[j] = (store_value){STORE_VALUE_INT, sqlite3_column_int64(st, at), NULL, 0};
        }
    }
}

static int res_list(store_conn *c, const store_sql *q, store_row_data_fn fn, void *ctx,
                    int64_t *work)
{
    sqlite3_stmt *st = list_stmt(c, q->text);
    store_value cols[STORE_MAX_FIELDS];
    int rc;

    if (st == NULL) {
        SLOG(SLOG_ERROR, "list_prepare", SLOG_S("msg", sqlite3_errmsg(c->h)));
        return fail(c, sqlite3_errcode(c->h));
    }
    for (size_t i = 0; i < q->n_binds; i++)
        bind_value(st, (int)i + 1, &q->binds[i]);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1); /* count this run only */
    if (q->n_cols > STORE_MAX_FIELDS)
        return STORE_ERROR;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        row_cols(st, q, cols);
        if (fn(data, len, cols, q->n_cols, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    rc = rc == SQLITE_DONE ? STORE_OK : fail(c, rc);
    if (work != NULL)
        *work += sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    sqlite3_reset(st);
    return rc;
}

/* ---- Named queries ---- */

static int match_sum(store_conn *c, const char *need, const char *pledge, uint32_t state_mask,
                     store_sum *nanos)
{
    sqlite3_stmt *st;
    int64_t v[2] = {0, 0};
    int rc;

    *nanos = 0;
    STMT(st, c, ST_MATCH_SUM);
    bind_text(st, 1, need != NULL ? need : pledge);
    sqlite3_bind_int64(st, 2, state_mask);
    if ((rc = step_ints(c, st, 2, v)) == STORE_OK)
        *nanos = wide(v[0], v[1]);
    return rc;
}

static int pledge_count(store_conn *c, const char *donor, uint32_t except_mask, int64_t *count)
{
    sqlite3_stmt *st;

    *count = 0;
    STMT(st, c, ST_PLEDGE_COUNT);
    bind_text(st, 1, donor);
    sqlite3_bind_int64(st, 2, except_mask);
    return step_ints(c, st, 1, count);
}

static int donor_record(store_conn *c, const char *donor, int sector, uint32_t state_mask,
                        int64_t *all, int64_t *in_sector)
{
    sqlite3_stmt *st;
    int64_t v[2] = {0, 0};
    int rc;

    *all = *in_sector = 0;
    STMT(st, c, ST_DONOR_RECORD);
    bind_text(st, 1, donor);
    sqlite3_bind_int64(st, 2, state_mask);
    sqlite3_bind_int(st, 3, sector);
    if ((rc = step_ints(c, st, 2, v)) == STORE_OK) {
        *all = v[0];
        *in_sector = v[1];
    }
    return rc;
}

static int donor_has_match(store_conn *c, const char *need, const char *donor, uint32_t state_mask,
                           int *yes)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    int rc;

    *yes = 0;
    STMT(st, c, ST_DONOR_HAS_MATCH);
    bind_text(st, 1, need);
    bind_text(st, 2, donor);
    sqlite3_bind_int64(st, 3, state_mask);
    rc = step_ints(c, st, 1, &v);
    *yes = v != 0;
    return rc;
}

static int principal_set_token(store_conn *c, const char *name, const uint8_t hash[32])
{
    sqlite3_stmt *st;
    int rc;

    STMT(st, c, ST_PRINCIPAL_SET_TOKEN);
    bind_text(st, 1, name);
    if (hash != NULL)
        sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = fail(c, rc);
        sqlite3_reset(st);
        return rc;
    }
    rc = sqlite3_changes(c->h) == 1 ? STORE_OK : STORE_NOT_FOUND;
    sqlite3_reset(st);
    return rc;
}

static int principal_by_token(store_conn *c, const uint8_t hash[32], store_blob_fn fn, void *ctx)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_PRINCIPAL_BY_TOKEN);
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    return step_blob(c, st, fn, ctx);
}

static int principal_by_cert(store_conn *c, const char *identity, store_blob_fn fn, void *ctx)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_PRINCIPAL_BY_CERT);
    bind_text(st, 1, identity);
    return step_blob(c, st, fn, ctx);
}

static int epoch_get(store_conn *c, uint64_t *epoch)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    int rc;

    STMT(st, c, ST_EPOCH);
    rc = step_ints(c, st, 1, &v);
    *epoch = (uint64_t)v;
    return rc == STORE_NOT_FOUND ? STORE_CORRUPT : rc; /* migration 6 made the row */
}

static int epoch_bump(store_conn *c, uint64_t *epoch)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    int rc;

    STMT(st, c, ST_EPOCH_BUMP);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st) == SQLITE_DONE ? STORE_OK : fail(c, sqlite3_errcode(c->h));
    } else {
        rc = rc == SQLITE_DONE ? STORE_CORRUPT : fail(c, rc);
    }
    sqlite3_reset(st);
    *epoch = (uint64_t)v;
    return rc;
}

/* ---- The audit log ---- */

static int audit_head(store_conn *c, int64_t *size)
{
    sqlite3_stmt *st;
    int rc;

    *size = 0;
    STMT(st, c, ST_AUDIT_HEAD);
    rc = step_ints(c, st, 1, size);
    return rc == STORE_NOT_FOUND ? STORE_CORRUPT : rc; /* migration 6 made the row */
}

static int audit_head_set(store_conn *c, int64_t size)
{
    sqlite3_stmt *st;
    int rc;

    STMT(st, c, ST_AUDIT_HEAD_SET);
    sqlite3_bind_int64(st, 1, size);
    if ((rc = step_done(c, st)) != STORE_OK)
        return rc;
    return sqlite3_changes(c->h) == 1 ? STORE_OK : STORE_CORRUPT;
}

static int audit_append(store_conn *c, int64_t index, const uint8_t *data, size_t len)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_AUDIT_APPEND);
    sqlite3_bind_int64(st, 1, index);
    sqlite3_bind_blob(st, 2, len ? (const void *)data : "", (int)len, SQLITE_STATIC);
    return step_done(c, st);
}

static int audit_leaf(store_conn *c, int64_t index, uint8_t **data, size_t *len)
{
    sqlite3_stmt *st;
    int rc;

    *data = NULL;
    *len = 0;
    STMT(st, c, ST_AUDIT_LEAF);
    sqlite3_bind_int64(st, 1, index);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = blob_copy(st, 0, data, len);
    else
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : fail(c, rc);
    sqlite3_reset(st);
    return rc;
}

static int audit_size(store_conn *c, int64_t *size, int64_t *count)
{
    sqlite3_stmt *st;
    int rc;

    *size = 0;
    STMT(st, c, ST_AUDIT_SIZE);
    if ((rc = step_ints(c, st, 1, size)) != STORE_OK || count == NULL)
        return rc;
    STMT(st, c, ST_AUDIT_COUNT);
    return step_ints(c, st, 1, count);
}

static int audit_scan(store_conn *c, int64_t start, int64_t end, store_leaf_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    STMT(st, c, ST_AUDIT_SCAN);
    sqlite3_bind_int64(st, 1, start);
    sqlite3_bind_int64(st, 2, end);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn(sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
               (size_t)sqlite3_column_bytes(st, 1), ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    rc = rc == SQLITE_DONE ? STORE_OK : fail(c, rc);
    sqlite3_reset(st);
    return rc;
}

static int tile_put(store_conn *c, int level, int64_t index, const uint8_t *hashes, size_t n)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_TILE_PUT);
    sqlite3_bind_int(st, 1, level);
    sqlite3_bind_int64(st, 2, index);
    sqlite3_bind_blob(st, 3, hashes, (int)(n * 32), SQLITE_STATIC);
    return step_done(c, st);
}

static int tile_get(store_conn *c, int level, int64_t index, uint8_t hashes[256 * 32], size_t *n)
{
    sqlite3_stmt *st;
    int rc, bytes;

    *n = 0;
    STMT(st, c, ST_TILE_GET);
    sqlite3_bind_int(st, 1, level);
    sqlite3_bind_int64(st, 2, index);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bytes = sqlite3_column_bytes(st, 0);
        if (bytes <= 0 || bytes > 256 * 32 || bytes % 32 != 0) {
            rc = STORE_CORRUPT;
        } else {
            memcpy(hashes, sqlite3_column_blob(st, 0), (size_t)bytes);
            *n = (size_t)bytes / 32;
            rc = STORE_OK;
        }
    } else {
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : fail(c, rc);
    }
    sqlite3_reset(st);
    return rc;
}

static int checkpoint_put(store_conn *c, int64_t size, const uint8_t *note, size_t len,
                          int64_t unix_time)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_CKPT_PUT);
    sqlite3_bind_int64(st, 1, size);
    sqlite3_bind_blob(st, 2, note, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, unix_time);
    return step_done(c, st);
}

static int checkpoint_get(store_conn *c, int64_t size, uint8_t **note, size_t *len,
                          int64_t *size_out)
{
    sqlite3_stmt *st;
    int rc;

    *note = NULL;
    *len = 0;
    STMT(st, c, size < 0 ? ST_CKPT_LATEST : ST_CKPT_GET);
    if (size >= 0)
        sqlite3_bind_int64(st, 1, size);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (size_out != NULL)
            *size_out = sqlite3_column_int64(st, 0);
        rc = blob_copy(st, 1, note, len);
    } else {
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : fail(c, rc);
    }
    sqlite3_reset(st);
    return rc;
}

/* ---- Witnesses of the audit log ---- */

static int witness_size(store_conn *c, const char *witness, int64_t *size)
{
    sqlite3_stmt *st;

    *size = 0;
    STMT(st, c, ST_WITNESS_SIZE);
    bind_text(st, 1, witness);
    return step_ints(c, st, 1, size);
}

static int witness_size_raise(store_conn *c, const char *witness, int64_t size, int64_t unix_time)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_WITNESS_RAISE);
    bind_text(st, 1, witness);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, unix_time);
    return step_done(c, st);
}

static int cosignature_put(store_conn *c, int64_t size, const char *witness, const uint8_t *line,
                           size_t len, int64_t unix_time)
{
    sqlite3_stmt *st;
    int rc;

    STMT(st, c, ST_COSIG_PUT);
    sqlite3_bind_int64(st, 1, size);
    bind_text(st, 2, witness);
    sqlite3_bind_blob(st, 3, line, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, unix_time);
    if ((rc = step_done(c, st)) != STORE_OK)
        return rc;
    if (sqlite3_changes(c->h) != 1)
        return STORE_EXISTS;
    STMT(st, c, ST_QUORUM_PUT);
    sqlite3_bind_int64(st, 1, size);
    return step_done(c, st);
}

static int cosignatures(store_conn *c, int64_t size, store_cosignature_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    STMT(st, c, ST_COSIGS);
    sqlite3_bind_int64(st, 1, size);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *w = (const char *)sqlite3_column_text(st, 0);
        if (fn(w != NULL ? w : "", sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
               ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    rc = rc == SQLITE_DONE ? STORE_OK : fail(c, rc);
    sqlite3_reset(st);
    return rc;
}

static int cosigned_size(store_conn *c, int64_t before, int64_t count, int64_t *size)
{
    sqlite3_stmt *st;

    int rc;

    *size = 0;
    /* The newest checkpoint with `count` lines: none means none has. Only
     * a walk past it (its lines did not verify) reads the lines. */
    STMT(st, c, ST_QUORUM_GET);
    sqlite3_bind_int64(st, 1, count);
    if ((rc = step_ints(c, st, 1, size)) != STORE_OK || *size < before)
        return rc;
    STMT(st, c, ST_COSIGNED_SIZE);
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int64(st, 2, count);
    return step_ints(c, st, 1, size);
}

/* ---- Remembered requests ---- */

static int request_get(store_conn *c, const char *principal, const char *method,
                       const char *request_id, uint8_t hash[32], uint8_t **response,
                       size_t *response_len)
{
    sqlite3_stmt *st;
    int rc;

    *response = NULL;
    *response_len = 0;
    STMT(st, c, ST_REQ_GET);
    bind_text(st, 1, principal);
    bind_text(st, 2, method);
    bind_text(st, 3, request_id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : fail(c, rc);
    } else if (sqlite3_column_bytes(st, 0) != 32) {
        rc = STORE_CORRUPT;
    } else {
        memcpy(hash, sqlite3_column_blob(st, 0), 32);
        rc = blob_copy(st, 1, response, response_len);
    }
    sqlite3_reset(st);
    return rc;
}

static int request_put(store_conn *c, const char *principal, const char *method,
                       const char *request_id, const uint8_t hash[32], const uint8_t *response,
                       size_t response_len, int64_t unix_time)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_REQ_PUT);
    bind_text(st, 1, principal);
    bind_text(st, 2, method);
    bind_text(st, 3, request_id);
    sqlite3_bind_blob(st, 4, hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, response_len ? (const void *)response : "", (int)response_len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, unix_time);
    return step_done(c, st);
}

static int request_expire(store_conn *c, int64_t before_unix_time)
{
    sqlite3_stmt *st;
    int rc;

    STMT(st, c, ST_REQ_EXPIRE);
    sqlite3_bind_int64(st, 1, before_unix_time);
    if ((rc = step_done(c, st)) != STORE_OK)
        return rc;
    return sqlite3_changes(c->h);
}

/* ---- The change log ---- */

static int change_put(store_conn *c, const store_change *ch)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_CHANGE_PUT);
    sqlite3_bind_int64(st, 1, ch->index);
    sqlite3_bind_int(st, 2, ch->seq);
    sqlite3_bind_int(st, 3, (int)ch->kind);
    bind_text(st, 4, ch->name);
    sqlite3_bind_int(st, 5, ch->deleted);
    bind_text(st, 6, ch->donor);
    bind_text(st, 7, ch->need);
    sqlite3_bind_int(st, 8, ch->state);
    sqlite3_bind_blob(st, 9, ch->len > 0 ? (const void *)ch->data : "", (int)ch->len,
                      SQLITE_STATIC);
    return step_done(c, st);
}

/* Steps a statement selecting the change columns and hands each row to fn. */
static int change_rows(store_conn *c, sqlite3_stmt *st, store_change_fn fn, void *ctx)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_change ch = {
            .index = sqlite3_column_int64(st, 0),
            .seq = sqlite3_column_int(st, 1),
            .kind = (store_kind)sqlite3_column_int(st, 2),
            .name = (const char *)sqlite3_column_text(st, 3),
            .deleted = sqlite3_column_int(st, 4),
            .donor = (const char *)sqlite3_column_text(st, 5),
            .need = (const char *)sqlite3_column_text(st, 6),
            .state = sqlite3_column_int(st, 7),
            .data = sqlite3_column_blob(st, 8),
            .len = (size_t)sqlite3_column_bytes(st, 8),
        };
        if ((unsigned)ch.kind >= STORE_KIND_COUNT || ch.name == NULL || ch.donor == NULL ||
            ch.need == NULL) {
            rc = SQLITE_CORRUPT;
            break;
        }
        if (fn(&ch, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    rc = rc == SQLITE_DONE ? STORE_OK : rc == SQLITE_CORRUPT ? STORE_CORRUPT : fail(c, rc);
    sqlite3_reset(st);
    return rc;
}

static int change_scan(store_conn *c, int64_t from, int64_t to, int limit, store_change_fn fn,
                       void *ctx)
{
    sqlite3_stmt *st;

    STMT(st, c, ST_CHANGE_SCAN);
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    sqlite3_bind_int(st, 3, limit);
    return change_rows(c, st, fn, ctx);
}

static int change_versions(store_conn *c, store_kind kind, const char *name, int64_t from,
                           int64_t to, int descending, int limit, store_change_fn fn, void *ctx)
{
    sqlite3_stmt *st;

    STMT(st, c, descending ? ST_CHANGE_VERSIONS_DESC : ST_CHANGE_VERSIONS);
    sqlite3_bind_int(st, 1, (int)kind);
    bind_text(st, 2, name);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    sqlite3_bind_int(st, 5, limit);
    return change_rows(c, st, fn, ctx);
}

static int change_live_match(store_conn *c, const char *need, const char *donor,
                             uint32_t state_mask, int64_t at, int *yes)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    int rc;

    *yes = 0;
    STMT(st, c, ST_CHANGE_LIVE_MATCH);
    bind_text(st, 1, need);
    bind_text(st, 2, donor);
    sqlite3_bind_int64(st, 3, state_mask);
    sqlite3_bind_int64(st, 4, at);
    rc = step_ints(c, st, 1, &v);
    *yes = v != 0;
    return rc;
}

static int change_start(store_conn *c, int64_t *start)
{
    sqlite3_stmt *st;

    *start = 0;
    STMT(st, c, ST_CHANGE_START);
    return step_ints(c, st, 1, start);
}

/* ---- The table ---- */

const store_engine store_engine_sqlite = {
    .name = "sqlite",
    .dialect = &dialect,
    .flags = STORE_ENGINE_ONE_PROCESS,
    .open = db_open,
    .close = db_close,
    .connect = db_connect,
    .disconnect = db_disconnect,
    .begin = tx_begin,
    .commit = tx_commit,
    .rollback = tx_rollback,
    .in_transaction = tx_open,
    .savepoint = tx_savepoint,
    .release = tx_release,
    .rollback_to = tx_rollback_to,
    .get = res_get,
    .put = res_put,
    .list = res_list,
    .del = res_del,
    .match_sum = match_sum,
    .pledge_count = pledge_count,
    .donor_record = donor_record,
    .donor_has_match = donor_has_match,
    .principal_set_token = principal_set_token,
    .principal_by_token = principal_by_token,
    .principal_by_cert = principal_by_cert,
    .principals_epoch = epoch_get,
    .principals_epoch_bump = epoch_bump,
    .audit_head = audit_head,
    .audit_head_set = audit_head_set,
    .audit_append = audit_append,
    .audit_leaf = audit_leaf,
    .audit_size = audit_size,
    .audit_scan = audit_scan,
    .tile_put = tile_put,
    .tile_get = tile_get,
    .checkpoint_put = checkpoint_put,
    .checkpoint_get = checkpoint_get,
    .change_put = change_put,
    .change_scan = change_scan,
    .change_versions = change_versions,
    .change_live_match = change_live_match,
    .change_start = change_start,
    .witness_size = witness_size,
    .witness_size_raise = witness_size_raise,
    .cosignature_put = cosignature_put,
    .cosignatures = cosignatures,
    .cosigned_size = cosigned_size,
    .request_get = request_get,
    .request_put = request_put,
    .request_expire = request_expire,
};
