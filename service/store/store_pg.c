/* store_pg.c — the PostgreSQL engine (store_engine.h) through libpq: the URL
 * checked (no password in it), connections set up for durability and bounded
 * waits, transactions (readers REPEATABLE READ READ ONLY, the writer READ
 * COMMITTED), SQLSTATEs mapped to STORE_* codes, resources and lists. Every
 * value is a parameter of a prepared statement, sent in binary. The schema
 * and its migrations are in store_pg_schema.c, the named queries in
 * store_pg_queries.c. Design: docs/store.md ("The PostgreSQL engine"). */
#include <endian.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg.h"
#include "log/slog.h"
#include "store/store_sql.h"

/* The oldest server this engine is written for (row-value index scans,
 * ON CONFLICT, ICU-independent COLLATE "C"). */
#define PG_MIN_SERVER 130000

static const store_sql_dialect dialect = {.param = "$", .text_collate = "", .contains = "strpos"};

/* ---- The database and its connections ---- */

/* The kinds' row statements, rendered once from the kind tables; inserts
 * answer STORE_EXISTS with no row instead of an error, which would end
 * the whole transaction on PostgreSQL. */
static char row_sql[4][STORE_KIND_COUNT][2048];
static int row_sql_ok;

static void row_sql_init(void)
{
    row_sql_ok = 1;
    for (int k = 0; k < STORE_KIND_COUNT; k++) {
        char *ins = row_sql[1][k];
        if (store_sql_get(&dialect, (store_kind)k, row_sql[0][k], sizeof(row_sql[0][k])) != 0 ||
            store_sql_insert(&dialect, (store_kind)k, ins, sizeof(row_sql[1][k]) - 32) != 0 ||
            store_sql_update(&dialect, (store_kind)k, row_sql[2][k], sizeof(row_sql[2][k])) != 0 ||
            store_sql_delete(&dialect, (store_kind)k, row_sql[3][k], sizeof(row_sql[3][k])) != 0)
            row_sql_ok = 0;
        else
            strcat(ins, " ON CONFLICT DO NOTHING");
    }
}

/* Transaction control and the three savepoints (a job's, a nested one,
 * pg_exec_unique's), by statement id. */
static const char *tx_sql(int id)
{
    static const char *const text[] = {
        [PG_TX_BEGIN_READ - PG_TX_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        [PG_TX_BEGIN_WRITE - PG_TX_BEGIN_READ] = "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE",
        [PG_TX_COMMIT - PG_TX_BEGIN_READ] = "COMMIT",
        [PG_TX_ROLLBACK - PG_TX_BEGIN_READ] = "ROLLBACK",
        [PG_SP0 - PG_TX_BEGIN_READ] = "SAVEPOINT job",
        [PG_SP0 + 1 - PG_TX_BEGIN_READ] = "SAVEPOINT nested",
        [PG_SP0 + 2 - PG_TX_BEGIN_READ] = "SAVEPOINT pg_unique",
        [PG_REL0 - PG_TX_BEGIN_READ] = "RELEASE SAVEPOINT job",
        [PG_REL0 + 1 - PG_TX_BEGIN_READ] = "RELEASE SAVEPOINT nested",
        [PG_REL0 + 2 - PG_TX_BEGIN_READ] = "RELEASE SAVEPOINT pg_unique",
        [PG_RBTO0 - PG_TX_BEGIN_READ] = "ROLLBACK TO SAVEPOINT job",
        [PG_RBTO0 + 1 - PG_TX_BEGIN_READ] = "ROLLBACK TO SAVEPOINT nested",
        [PG_RBTO0 + 2 - PG_TX_BEGIN_READ] = "ROLLBACK TO SAVEPOINT pg_unique",
    };
    _Static_assert(sizeof(text) / sizeof(text[0]) == PG_COUNT - PG_TX_BEGIN_READ,
                   "a text for every transaction statement");

    return id >= PG_TX_BEGIN_READ && id < PG_COUNT ? text[id - PG_TX_BEGIN_READ] : NULL;
}

const char *pg_fixed_sql(int id)
{
    if (id >= PG_GET0 && id < PG_GET0 + STORE_KIND_COUNT)
        return row_sql[0][id - PG_GET0];
    if (id >= PG_INSERT0 && id < PG_INSERT0 + STORE_KIND_COUNT)
        return row_sql[1][id - PG_INSERT0];
    if (id >= PG_UPDATE0 && id < PG_UPDATE0 + STORE_KIND_COUNT)
        return row_sql[2][id - PG_UPDATE0];
    if (id >= PG_DELETE0 && id < PG_DELETE0 + STORE_KIND_COUNT)
        return row_sql[3][id - PG_DELETE0];
    if (id >= PG_CHANGE_PUT && id <= PG_CHANGE_START)
        return pg_change_sql(id);
    if (id >= PG_TX_BEGIN_READ && id < PG_COUNT)
        return tx_sql(id);
    return pg_query_sql(id);
}

/* ---- Errors ---- */

/* One line of server or libpq text for a log line or an error: newlines
 * and quotes folded, bounded. (libpq and the server never put a password
 * in a message; the URL is never passed to one.) */
void pg_one_line(char *out, size_t cap, const char *msg)
{
    size_t n = 0;

    for (const char *p = msg != NULL ? msg : ""; *p != '\0' && n + 1 < cap; p++) {
        char ch = *p;
        if (ch == '\n' || ch == '\r' || ch == '\t')
            ch = ' ';
        else if (ch == '"' || ch == '\\' || (unsigned char)ch < 0x20)
            ch = '\'';
        if (ch == ' ' && (n == 0 || out[n - 1] == ' '))
            continue;
        out[n++] = ch;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* SQLSTATE classes and codes to STORE_* (PostgreSQL's appendix A). */
static int map_sqlstate(const char *st)
{
    if (st == NULL || strlen(st) != 5)
        return STORE_ERROR;
    if (strcmp(st, "23505") == 0 || strcmp(st, "23P01") == 0) /* unique, exclusion */
        return STORE_EXISTS;
    if (strcmp(st, "53100") == 0) /* disk_full */
        return STORE_FULL;
    if (strcmp(st, "53200") == 0) /* out_of_memory */
        return STORE_NOMEM;
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || /* serialization, deadlock */
        strcmp(st, "55P03") == 0 ||                              /* lock_not_available */
        strcmp(st, "57014") == 0 ||                              /* query_canceled (timeouts) */
        strcmp(st, "53300") == 0)                                /* too_many_connections */
        return STORE_BUSY;
    if (strncmp(st, "08", 2) == 0 ||      /* connection exceptions */
        strncmp(st, "57P", 3) == 0 ||     /* admin/crash shutdown, cannot connect now */
        strncmp(st, "58", 2) == 0 ||      /* system errors: I/O */
        strcmp(st, "25006") == 0 ||       /* read_only_sql_transaction (a standby) */
        strcmp(st, "42501") == 0 ||       /* insufficient_privilege */
        strcmp(st, "28000") == 0 || strcmp(st, "28P01") == 0) /* authorization */
        return STORE_IO;
    if (strcmp(st, "XX001") == 0 || strcmp(st, "XX002") == 0) /* data/index corrupted */
        return STORE_CORRUPT;
    return STORE_ERROR;
}

/* The STORE_* code of a failed call on c (r: its result, may be NULL),
 * logged unless it is an answer. */
int pg_fail(store_conn *c, const PGresult *r)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[300];
    int rc;

    if (PQstatus(c->h) == CONNECTION_BAD)
        rc = STORE_IO; /* lost: the neutral store connects anew */
    else if (r == NULL)
        rc = STORE_NOMEM; /* libpq could not make a result */
    else
        rc = map_sqlstate(state);
    if (rc == STORE_EXISTS)
        return rc;
    pg_one_line(line, sizeof(line), msg != NULL ? msg : PQerrorMessage(c->h));
    SLOG(rc == STORE_ERROR ? SLOG_ERROR : SLOG_WARN, "pg_error",
         SLOG_S("sqlstate", state != NULL ? state : "-"), SLOG_S("db", c->db->where),
         SLOG_S("msg", line));
    return rc;
}

/* ---- Parameters and values ---- */

void pg_int(pg_params *p, int64_t v)
{
    p->ints[p->n] = htobe64((uint64_t)v);
    p->v[p->n] = (const char *)&p->ints[p->n];
    p->len[p->n] = 8;
    p->fmt[p->n] = 1;
    p->type[p->n] = PG_INT8OID;
    p->n++;
}

void pg_text(pg_params *p, const char *s, size_t len)
{
    p->v[p->n] = len > 0 ? s : "";
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->type[p->n] = PG_TEXTOID;
    p->n++;
}

void pg_str(pg_params *p, const char *s)
{
    pg_text(p, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

void pg_blob(pg_params *p, const void *b, size_t len)
{
    p->v[p->n] = len > 0 ? b : "";
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->type[p->n] = PG_BYTEAOID;
    p->n++;
}

void pg_null(pg_params *p, unsigned int type)
{
    p->v[p->n] = NULL;
    p->len[p->n] = 0;
    p->fmt[p->n] = 1;
    p->type[p->n] = type;
    p->n++;
}

static void pg_value(pg_params *p, const store_value *v)
{
    switch (v->type) {
    case STORE_VALUE_INT: pg_int(p, v->i); break;
    case STORE_VALUE_TEXT: pg_text(p, v->p, v->len); break;
    case STORE_VALUE_BLOB: pg_blob(p, v->p, v->len); break;
    case STORE_VALUE_NULL: pg_null(p, PG_TEXTOID); break;
    }
}

int64_t pg_get_int(const PGresult *r, int row, int col)
{
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    uint64_t x = 0;
    int len = PQgetlength(r, row, col);

    if (PQgetisnull(r, row, col))
        return 0;
    for (int i = 0; i < len && i < 8; i++)
        x = x << 8 | v[i];
    switch (len) { /* sign-extend int2 and int4; bool is 0 or 1 */
    case 2: return (int16_t)x;
    case 4: return (int32_t)x;
    default: return (int64_t)x;
    }
}

int pg_get_sum(const PGresult *r, int row, int col, store_sum *out)
{
    const char *v = PQgetvalue(r, row, col);
    int len = PQgetlength(r, row, col), i = 0, neg = 0;
    unsigned __int128 x = 0, limit = ((unsigned __int128)1 << 127) - 1;

    *out = 0;
    if (PQgetisnull(r, row, col))
        return STORE_OK; /* SUM over no rows */
    if (len > 0 && v[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len)
        return STORE_CORRUPT;
    for (; i < len; i++) {
        if (v[i] < '0' || v[i] > '9' || x > (limit - (unsigned)(v[i] - '0')) / 10)
            return STORE_CORRUPT; /* not an integer, or beyond 2^127: cannot be */
        x = x * 10 + (unsigned)(v[i] - '0');
    }
    *out = neg ? -(store_sum)x : (store_sum)x;
    return STORE_OK;
}

int pg_get_copy(const PGresult *r, int row, int col, uint8_t **out, size_t *len)
{
    *len = (size_t)PQgetlength(r, row, col);
    if ((*out = malloc(*len ? *len : 1)) == NULL)
        return STORE_NOMEM;
    if (*len > 0)
        memcpy(*out, PQgetvalue(r, row, col), *len);
    return STORE_OK;
}

/* ---- Connections ---- */

static void notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like */
}

static void conn_free(store_conn *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < LIST_CACHE; i++)
        free(c->list_sql[i]);
    PQfinish(c->h);
    free(c);
}

/* The session's settings: bounded lock waits; a transaction left idle by a
 * stalled writer ends (it would hold the audit head); durability checked. */
static int conn_setup(store_conn *c, int write, char *err, size_t errlen)
{
    static atomic_int warned; /* fsync off: said once per process */
    pg_params p = {0};
    char ms[32], idle[32];
    PGresult *r;
    int rc;

    snprintf(ms, sizeof(ms), "%d", c->db->busy_timeout_ms);
    snprintf(idle, sizeof(idle), "%d", write ? 60000 : 0);
    pg_str(&p, ms);
    pg_str(&p, idle);
    r = PQexecParams(c->h,
                     "SELECT set_config('lock_timeout', $1, false),"
                     " set_config('idle_in_transaction_session_timeout', $2, false),"
                     " current_setting('synchronous_commit'), current_setting('server_encoding'),"
                     " pg_is_in_recovery(), current_setting('transaction_read_only'),"
                     " current_setting('fsync')",
                     p.n, p.type, p.v, p.len, p.fmt, 0);
    if ((rc = pg_result(c, r, &r)) != STORE_OK) {
        snprintf(err, errlen, "cannot set up a session on %s: %s", c->db->where,
                 store_strerror(rc));
        return rc;
    }
    if (strcmp(PQgetvalue(r, 0, 3), "UTF8") != 0) {
        snprintf(err, errlen, "the database %s has encoding %s: tallinn needs UTF8 "
                 "(CREATE DATABASE ... ENCODING 'UTF8')", c->db->where, PQgetvalue(r, 0, 3));
        PQclear(r);
        return STORE_ERROR;
    }
    if (write && (strcmp(PQgetvalue(r, 0, 4), "t") == 0 || strcmp(PQgetvalue(r, 0, 5), "on") == 0)) {
        snprintf(err, errlen, "the database %s is read-only (%s): tallinnd writes to the primary",
                 c->db->where, strcmp(PQgetvalue(r, 0, 4), "t") == 0 ? "a standby in recovery"
                                                                    : "default_transaction_read_only");
        PQclear(r);
        return STORE_IO;
    }
    if (strcmp(PQgetvalue(r, 0, 6), "on") != 0 && atomic_exchange(&warned, 1) == 0) {
        SLOG(SLOG_WARN, "pg_fsync_off", SLOG_S("db", c->db->where),
             SLOG_S("msg", "the server runs with fsync off: a crash of its machine can lose "
                           "acknowledged writes"));
    }
    if (strcmp(PQgetvalue(r, 0, 2), "off") == 0) {
        /* A commit must be flushed before a caller hears of it; stronger
         * settings (remote_apply, …) are the operator's and stay. */
        PQclear(r);
        r = PQexec(c->h, "SET synchronous_commit = on");
        if ((rc = pg_result(c, r, &r)) != STORE_OK) {
            snprintf(err, errlen, "cannot turn synchronous_commit on for %s", c->db->where);
            return rc;
        }
        SLOG(SLOG_WARN, "pg_synchronous_commit", SLOG_S("db", c->db->where),
             SLOG_S("msg", "synchronous_commit was off for this role or database: set on for "
                           "tallinnd's sessions"));
    }
    PQclear(r);
    return STORE_OK;
}

/* Connects c->h and sets its session up. */
static int conn_handle(store_conn *c, char *err, size_t errlen)
{
    /* The URL is expanded as dbname; what follows overrides it. Keepalives
     * notice a vanished server or network within about a minute. */
    const char *const keys[] = {"dbname", "application_name", "connect_timeout", "client_encoding",
                                "keepalives", "keepalives_idle", "keepalives_interval",
                                "keepalives_count", NULL};
    const char *const vals[] = {c->db->url, c->write ? "tallinnd writer" : "tallinnd reader", "10",
                                "UTF8", "1", "30", "10", "3", NULL};
    char line[300];

    c->h = PQconnectdbParams(keys, vals, 1);
    if (c->h == NULL) {
        snprintf(err, errlen, "out of memory");
        return STORE_NOMEM;
    }
    if (PQstatus(c->h) != CONNECTION_OK) {
        pg_one_line(line, sizeof(line), PQerrorMessage(c->h));
        snprintf(err, errlen, "cannot connect to PostgreSQL at %s: %s", c->db->where, line);
        return STORE_IO;
    }
    PQsetNoticeProcessor(c->h, notice_ignore, NULL);
    if (PQserverVersion(c->h) < PG_MIN_SERVER) {
        snprintf(err, errlen, "PostgreSQL at %s is version %d; tallinnd needs %d or later",
                 c->db->where, PQserverVersion(c->h) / 10000, PG_MIN_SERVER / 10000);
        return STORE_ERROR;
    }
    return conn_setup(c, c->write, err, errlen);
}

static int conn_new(store_db *db, int write, store_conn **out, char *err, size_t errlen)
{
    store_conn *c = calloc(1, sizeof(*c));
    int rc;

    *out = NULL;
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return STORE_NOMEM;
    }
    c->db = db;
    c->write = write;
    if ((rc = conn_handle(c, err, errlen)) != STORE_OK) {
        conn_free(c);
        return rc;
    }
    *out = c;
    return STORE_OK;
}

/* c's server went away before its transaction did anything but BEGIN: a
 * new connection in its place, nothing prepared on it yet, and the BEGIN
 * queued again (run_wait sends the statement again). */
int pg_conn_reopen(store_conn *c)
{
    char err[300];
    short replay[8];
    int nreplay = c->nreplay, rc;

    memcpy(replay, c->replay, sizeof(replay));
    PQfinish(c->h);
    c->h = NULL;
    memset(c->prepared, 0, sizeof(c->prepared));
    for (int i = 0; i < LIST_CACHE; i++) {
        free(c->list_sql[i]);
        c->list_sql[i] = NULL;
    }
    c->npend = 0;
    c->sticky = STORE_OK;
    SLOG(SLOG_WARN, "store_reconnect", SLOG_S("engine", "postgresql"),
         SLOG_S("conn", c->write ? "writer" : "reader"));
    if ((rc = conn_handle(c, err, sizeof(err))) != STORE_OK) {
        SLOG(SLOG_ERROR, "store_connect", SLOG_S("engine", "postgresql"), SLOG_S("error", err));
        return STORE_IO;
    }
    c->nreplay = 0;
    c->replayable = 1;
    for (int i = 0; i < nreplay && rc == STORE_OK; i++)
        rc = pg_tx_stmt(c, replay[i]);
    return rc;
}

/* Checks the URL without echoing it (a mistyped one may hold a secret):
 * a libpq URI with no password in it. Fills where (host:port/dbname). */
static int url_check(const char *url, char *where, size_t wlen, char *err, size_t errlen)
{
    const char *host = NULL, *port = NULL, *dbname = NULL, *user = NULL, *hostaddr = NULL;
    PQconninfoOption *opts;
    char *perr = NULL;
    int has_password = 0;

    if ((opts = PQconninfoParse(url, &perr)) == NULL) {
        PQfreemem(perr);
        snprintf(err, errlen, "the database URL is not a valid libpq URI "
                              "(postgresql://user@host:port/dbname)");
        return STORE_ERROR;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "password") == 0)
            has_password = 1;
        else if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
    }
    snprintf(where, wlen, "%s:%s/%s", host != NULL ? host : hostaddr != NULL ? hostaddr
                                                                            : "localhost",
             port != NULL ? port : "5432", dbname != NULL ? dbname : user != NULL ? user : "-");
    PQconninfoFree(opts);
    if (has_password) {
        snprintf(err, errlen, "the database URL carries a password: it would show in ps and "
                              "logs; put it in a PGPASSFILE (or ~/.pgpass) instead");
        return STORE_ERROR;
    }
    if (getenv("PGPASSWORD") != NULL) {
        snprintf(err, errlen, "PGPASSWORD is set: put the password in a PGPASSFILE (or "
                              "~/.pgpass) instead");
        return STORE_ERROR;
    }
    return STORE_OK;
}

static void db_close(store_db *db)
{
    if (db == NULL)
        return;
    free(db->url);
    free(db);
}

static int db_open(const store_options *o, store_db **out, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    store_db *db = calloc(1, sizeof(*db));
    store_conn *c = NULL;
    int rc;

    *out = NULL;
    pthread_once(&once, row_sql_init);
    if (db == NULL || !row_sql_ok || o->database_url == NULL ||
        (db->url = strdup(o->database_url)) == NULL) {
        snprintf(err, errlen, o->database_url == NULL ? "no database URL given" : "out of memory");
        db_close(db);
        return o->database_url == NULL ? STORE_ERROR : STORE_NOMEM;
    }
    db->busy_timeout_ms = o->busy_timeout_ms;
    db->read_only = o->read_only;
    if ((rc = url_check(db->url, db->where, sizeof(db->where), err, errlen)) != STORE_OK ||
        (rc = conn_new(db, !o->read_only, &c, err, errlen)) != STORE_OK) {
        db_close(db);
        return rc;
    }
    rc = pg_migrate(db, c, err, errlen);
    conn_free(c);
    if (rc != STORE_OK) {
        db_close(db);
        return rc;
    }
    SLOG(SLOG_INFO, "store_open", SLOG_S("engine", "postgresql"), SLOG_S("db", db->where),
         SLOG_I("schema_version", pg_schema_version()));
    *out = db;
    return STORE_OK;
}

static int db_connect(store_db *db, int write, store_conn **out, char *err, size_t errlen)
{
    return conn_new(db, write, out, err, errlen);
}

/* ---- Transactions ----
 * BEGIN is deferred (it travels with the transaction's first statement);
 * a write COMMIT waits for its answer (callers are released only after
 * it); a read's COMMIT is sent without waiting: nothing depends on it, the
 * server ends the snapshot when it arrives, and its answer is read with the
 * connection's next statement. */

static int tx_begin(store_conn *c, int write)
{
    int rc;

    c->sticky = STORE_OK; /* the previous transaction's: ended */
    c->nreplay = 0;
    c->replayable = 1;
    rc = pg_tx_stmt(c, write ? PG_TX_BEGIN_WRITE : PG_TX_BEGIN_READ);
    c->replayable = rc == STORE_OK;
    c->write_tx = rc == STORE_OK && write;
    return rc;
}

static int tx_commit(store_conn *c)
{
    PGresult *r;
    int rc, was_write = c->write_tx;

    c->write_tx = 0;
    c->replayable = 0;
    if (!was_write) /* a read: send and go */
        return pg_send_nowait(c, PG_TX_COMMIT);
    if (c->sticky != STORE_OK) { /* a deferred statement failed: COMMIT is not sent */
        rc = c->sticky;
        pg_drain(c);
        return rc;
    }
    {
        pg_params p = {0};
        rc = pg_run(c, PG_TX_COMMIT, &p, &r);
    }
    /* The server may have committed before the connection went: neither
     * "stored" nor "not stored" is true, and callers must be told so. */
    if (rc != STORE_OK && PQstatus(c->h) == CONNECTION_BAD) {
        SLOG(SLOG_ERROR, "pg_commit_in_doubt", SLOG_S("db", c->db->where));
        return STORE_INDOUBT;
    }
    if (rc != STORE_OK)
        return rc; /* a deferred statement sent with it failed: COMMIT never ran */
    /* COMMIT of a failed transaction answers "ROLLBACK": nothing is stored. */
    rc = strcmp(PQcmdStatus(r), "COMMIT") == 0 ? STORE_OK : STORE_ERROR;
    PQclear(r);
    if (rc != STORE_OK)
        SLOG(SLOG_ERROR, "pg_commit_rolled_back", SLOG_S("db", c->db->where));
    return rc;
}

static int tx_open(store_conn *c)
{
    PGTransactionStatusType s = PQtransactionStatus(c->h);

    return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

static int tx_rollback(store_conn *c)
{
    int rc;

    c->write_tx = 0;
    c->replayable = 0;
    pg_drain(c);
    c->sticky = STORE_OK;
    if (!tx_open(c))
        return STORE_OK;
    rc = pg_tx_stmt(c, PG_TX_ROLLBACK);
    return rc == STORE_OK ? pg_drain(c) : rc;
}

static int tx_savepoint(store_conn *c, int depth)
{
    return pg_tx_stmt(c, PG_SP0 + (depth == 0 ? 0 : 1));
}

static int tx_release(store_conn *c, int depth)
{
    return pg_tx_stmt(c, PG_REL0 + (depth == 0 ? 0 : 1));
}

static int tx_rollback_to(store_conn *c, int depth)
{
    return pg_tx_stmt(c, PG_RBTO0 + (depth == 0 ? 0 : 1));
}

/* ---- Resources ---- */

static int one_blob(store_conn *c, int id, const pg_params *p, store_blob_fn fn, void *ctx)
{
    PGresult *r;
    int rc = pg_run(c, id, p, &r);

    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return STORE_NOT_FOUND;
    }
    fn((const uint8_t *)PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), ctx);
    PQclear(r);
    return STORE_OK;
}

static int res_get(store_conn *c, store_kind kind, const char *name, store_blob_fn fn, void *ctx)
{
    pg_params p = {0};

    pg_str(&p, name);
    return one_blob(c, PG_GET0 + (int)kind, &p, fn, ctx);
}

static int res_put(store_conn *c, store_kind kind, const store_value *cols, const uint8_t *data,
                   size_t len, int insert)
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_value(&p, &cols[0]);
    pg_blob(&p, data, len);
    for (size_t i = 1; i < store_kinds[kind].n_columns; i++)
        pg_value(&p, &cols[i]);
    if (!insert && kind == STORE_PRINCIPAL) /* a certificate identity taken: an answer */
        rc = pg_exec_unique(c, PG_UPDATE0 + (int)kind, &p, &rows);
    else
        rc = pg_exec(c, (insert ? PG_INSERT0 : PG_UPDATE0) + (int)kind, &p, &rows);
    if (rc != STORE_OK)
        return rc;
    if (rows == 0)
        return insert ? STORE_EXISTS : STORE_NOT_FOUND;
    return STORE_OK;
}

static int res_del(store_conn *c, store_kind kind, const char *name)
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_str(&p, name);
    if ((rc = pg_exec(c, PG_DELETE0 + (int)kind, &p, &rows)) != STORE_OK)
        return rc;
    return rows == 1 ? STORE_OK : STORE_NOT_FOUND;
}

/* Row i's result columns after data, typed as the statement says (results
 * are binary: int8 in network order, text as its bytes). */
static void row_cols(const PGresult *r, int i, const store_sql *q, store_value *cols)
{
    for (size_t j = 0; j < q->n_cols; j++) {
        int at = (int)j + 1;
        if (q->cols[j] == STORE_VALUE_TEXT)
            cols[j] = (store_value){STORE_VALUE_TEXT, 0, PQgetvalue(r, i, at),
                                    (size_t)PQgetlength(r, i, at)};
        else
            cols[j] = (store_value){STORE_VALUE_INT, pg_get_int(r, i, at), NULL, 0};
    }
}

static int res_list(store_conn *c, const store_sql *q, store_row_data_fn fn, void *ctx,
                    int64_t *work)
{
    store_value cols[STORE_MAX_FIELDS];
    pg_params p = {0};
    PGresult *r;
    int rc = STORE_OK;

    (void)work; /* PostgreSQL does not count steps: 0 is added */
    if (q->n_binds > PG_MAX_PARAMS || q->n_cols > STORE_MAX_FIELDS)
        return STORE_ERROR;
    for (size_t i = 0; i < q->n_binds; i++)
        pg_value(&p, &q->binds[i]);
    if ((rc = pg_run_list(c, q, &p, &r)) != STORE_OK)
        return rc;
    if (PQntuples(r) > 0 && PQnfields(r) != (int)q->n_cols + 1) {
        PQclear(r);
        return STORE_ERROR;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        row_cols(r, i, q, cols);
        if (fn((const uint8_t *)PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0), cols, q->n_cols,
               ctx) != 0)
            break;
    }
    PQclear(r);
    return STORE_OK;
}

/* ---- The table (the named queries: store_pg_queries.c) ---- */

int pg_in_write_tx(const store_conn *c)
{
    return c->write_tx;
}

int pg_blob_one(store_conn *c, int id, const pg_params *p, store_blob_fn fn, void *ctx)
{
    return one_blob(c, id, p, fn, ctx);
}

const store_engine store_engine_pg = {
    .name = "postgresql",
    .dialect = &dialect,
    .flags = 0,
    .open = db_open,
    .close = db_close,
    .connect = db_connect,
    .disconnect = conn_free,
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
    .match_sum = pg_match_sum,
    .pledge_count = pg_pledge_count,
    .donor_record = pg_donor_record,
    .donor_has_match = pg_donor_has_match,
    .principal_set_token = pg_principal_set_token,
    .principal_by_token = pg_principal_by_token,
    .principal_by_cert = pg_principal_by_cert,
    .principals_epoch = pg_epoch_get,
    .principals_epoch_bump = pg_epoch_bump,
    .audit_head = pg_audit_head,
    .audit_head_set = pg_audit_head_set,
    .audit_append = pg_audit_append,
    .audit_leaf = pg_audit_leaf,
    .audit_size = pg_audit_size,
    .audit_scan = pg_audit_scan,
    .tile_put = pg_tile_put,
    .tile_get = pg_tile_get,
    .checkpoint_put = pg_checkpoint_put,
    .checkpoint_get = pg_checkpoint_get,
    .change_put = pg_change_put,
    .change_scan = pg_change_scan,
    .change_versions = pg_change_versions,
    .change_live_match = pg_change_live_match,
    .change_start = pg_change_start,
    .witness_size = pg_witness_size,
    .witness_size_raise = pg_witness_size_raise,
    .cosignature_put = pg_cosignature_put,
    .cosignatures = pg_cosignatures,
    .cosigned_size = pg_cosigned_size,
    .request_get = pg_request_get,
    .request_put = pg_request_put,
    .request_expire = pg_request_expire,
};
