/* lastuse.h — principals' last-use times, written behind the calls: the
 * authentication step only queues a time and never waits for storage.
 * Design: docs/authz.md. Private to service/authz. */
#ifndef TALLINN_AUTHZ_LASTUSE_H
#define TALLINN_AUTHZ_LASTUSE_H

#include <stdint.h>

#include "tallinn/store.h"

typedef struct authz_lastuse authz_lastuse;

/* Starts the writer thread over the store. 0 or -1. */
int authz_lastuse_create(authz_lastuse **out, store *s);

/* Writes what is still queued (one attempt), stops the writer. Call while
 * the store is open. */
void authz_lastuse_destroy(authz_lastuse *l);

/* Queues "principal was used at unix_s": coalesced per principal, written
 * in the background in one store job. Never blocks on storage; when the
 * queue is full the time is dropped (it is best effort). */
void authz_lastuse_note(authz_lastuse *l, const char *principal, int64_t unix_s);

/* Counters for tests and diagnostics: times written, and dropped. */
void authz_lastuse_counts(authz_lastuse *l, long *written, long *dropped);

#endif
