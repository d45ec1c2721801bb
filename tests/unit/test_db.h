/* test_db.h — for the store's unit tests: the PostgreSQL database of
 * `tests/pg/pgcluster.py run` (their `.pg` forms) or none (SQLite), and SQL
 * run on a test's database from outside the store. Static functions: each
 * test includes it once, after cmocka.h. */
#ifndef TALLINN_TEST_DB_H
#define TALLINN_TEST_DB_H

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>
#include <sqlite3.h>

/* TALLINN_TEST_DATABASE_URL, or NULL on SQLite. */
static inline const char *test_pg_url(void)
{
    const char *url = getenv("TALLINN_TEST_DATABASE_URL");
    return url != NULL && url[0] != '\0' ? url : NULL;
}

/* Runs sql on the PostgreSQL database as the store's role; the first row's
 * first column into out (or "") when out is not NULL. */
static inline void test_pg_sql(const char *sql, char *out, size_t cap)
{
    PGconn *c = PQconnectdb(test_pg_url());
    PGresult *r;

    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    if (out != NULL)
        snprintf(out, cap, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
}

/* Runs sql on the SQLite database file at path. */
static inline void test_sqlite_sql(const char *path, const char *sql)
{
    sqlite3 *db;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        fail_msg("open %s: %s", path, sqlite3_errmsg(db));
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* sqlite_sql on the file at path on SQLite, pg_sql on the test's
 * PostgreSQL database on PostgreSQL. */
static inline void test_db_sql(const char *path, const char *sqlite_sql, const char *pg_sql)
{
    if (test_pg_url() != NULL)
        test_pg_sql(pg_sql, NULL, 0);
    else
        test_sqlite_sql(path, sqlite_sql);
}

#endif
