/* store_sql.h — the SQL both engines share, rendered in their dialect
 * (store_engine.h): the statements of a kind's rows from its column table,
 * and list queries from a typed store_list_query — the parsed filter, the
 * need-to-know scope, the order and the keyset seek. Every identifier comes
 * from the kind tables in code; every value is a bind. Private to
 * service/store/. */
#ifndef TALLINN_STORE_SQL_H
#define TALLINN_STORE_SQL_H

#include <stddef.h>

#include "store/store_engine.h"

/* A kind's row statements. Binds: 1 = name (cols[0]), 2 = data, then
 * cols[1..] as 3, 4, …; get binds the name only and reads data.
 *   get:    SELECT data FROM t WHERE name = ?1
 *   insert: INSERT INTO t(name, data, c1, …) VALUES(?1, ?2, ?3, …)
 *   update: UPDATE t SET data = ?2, c1 = ?3, … WHERE name = ?1
 *   delete: DELETE FROM t WHERE name = ?1
 * STORE_OK, or STORE_ERROR when cap is too small. */
int store_sql_get(const store_sql_dialect *d, store_kind kind, char *buf, size_t cap);
int store_sql_insert(const store_sql_dialect *d, store_kind kind, char *buf, size_t cap);
int store_sql_update(const store_sql_dialect *d, store_kind kind, char *buf, size_t cap);
int store_sql_delete(const store_sql_dialect *d, store_kind kind, char *buf, size_t cap);

/* Keyset paging reads the rows after a cursor as a few disjoint "arms" in
 * order, each an index range when an index has the order's keys, so a page
 * costs the same at any depth. The keys (the name last) are cut into runs of
 * one direction; arm i is equality on the keys of the runs before one run
 * and a row-value comparison on that run (`a > ? OR (a = ? AND id > ?)` is no
 * index range: the planner walks from the start). For `priority,
 * create_time desc`:
 *   arm 0: priority = ? AND (create_time, name) < (?, ?)
 *   arm 1: priority > ?
 * The number of arms for an order (NULL: by name), 1..FILTER_SEEK_MAX_ARMS. */
size_t store_sql_seek_arms(const filter_order *o);

#define STORE_SQL_NO_SEEK ((size_t)-1)

/* Renders one statement of a list:
 *   SELECT data[, q->fields' columns] FROM t WHERE (filter) AND (scope) AND (seek arm `arm`)
 *   ORDER BY keys…, name LIMIT ?
 * with arm = STORE_SQL_NO_SEEK for a first page (q->after NULL). Every arm
 * of a list has the same limit (the page's), so each arm's text, and its
 * prepared statement, is reused page after page. STORE_OK; STORE_ERROR when
 * the query does not fit its kind (a field of another schema, a scope the
 * kind has no meaning for, n_after wrong, limit <= 0) or the text would not
 * fit STORE_SQL_TEXT_MAX. */
int store_sql_list(const store_sql_dialect *d, const store_list_query *q, size_t arm,
                   store_sql *out);

/* One row by name, with the columns of some fields of the kind's schema
 * (store_get_fields), run as a list:
 *   SELECT data, c1, … FROM t WHERE name = ?1
 * out->cols gets the columns' types. STORE_ERROR for a field of another
 * schema or more than STORE_MAX_FIELDS. */
int store_sql_get_fields(const store_sql_dialect *d, store_kind kind, const char *name,
                         const filter_field *const *fields, size_t n, store_sql *out);

#endif
