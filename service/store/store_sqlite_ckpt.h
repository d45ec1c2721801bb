/* store_sqlite_ckpt.h — the SQLite writer's WAL checkpoints on a thread of
 * their own (store_sqlite_ckpt.c); private to the SQLite engine. */
#ifndef TALLINN_STORE_SQLITE_CKPT_H
#define TALLINN_STORE_SQLITE_CKPT_H

#include <stdint.h>

#include <sqlite3.h>

typedef struct sqlite_ckpt sqlite_ckpt;

typedef struct sqlite_ckpt_stats {
    uint64_t background; /* checkpoints the thread completed */
    uint64_t forced;     /* run by the writer after a COMMIT: the WAL had grown too long */
} sqlite_ckpt_stats;

/* A checkpointer for the database at path; its thread starts with the first
 * checkpoint it is asked for. 0, or -1 (out of memory). */
int sqlite_ckpt_create(const char *path, int busy_timeout_ms, sqlite_ckpt **out);
/* Makes k checkpoint the WAL that writer's commits grow, in place of
 * SQLite's automatic checkpoint on the writer. */
void sqlite_ckpt_attach(sqlite_ckpt *k, sqlite3 *writer);
void sqlite_ckpt_get_stats(sqlite_ckpt *k, sqlite_ckpt_stats *out);
/* Stops the thread and closes its connection; after every writer closed. */
void sqlite_ckpt_destroy(sqlite_ckpt *k);

#endif
