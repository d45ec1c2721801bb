/* datalock.h — one tallinnd per data directory: a lock file in it, held for
 * the life of the process. Design: docs/store.md ("One server per data
 * directory"). Private to service/daemon. */
#ifndef TALLINN_DATALOCK_H
#define TALLINN_DATALOCK_H

#define DATALOCK_FILE "tallinnd.lock"

/* Takes DIR/tallinnd.lock (an fcntl write lock; the kernel releases it when
 * the process exits or crashes) and writes this process's id into it; on
 * read-only storage a shared lock, or none if the file is absent. *fd gets
 * the lock's descriptor (-1: none), to keep open while serving. Returns 0,
 * or -1 after a message on stderr naming the process that holds it. */
int datalock_acquire(const char *dir, int read_only, int *fd);

/* Releases the lock (closes the descriptor); -1 is ignored. */
void datalock_release(int fd);

#endif
