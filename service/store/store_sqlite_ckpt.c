/* store_sqlite_ckpt.c — the SQLite writer's WAL checkpoints, run by a
 * thread of their own instead of inside the committer's COMMIT, so that a
 * batch's callers do not wait for a checkpoint's copy and fsync. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log/slog.h"
#include "store/store_sqlite_ckpt.h"

/* SQLite's own automatic checkpoint starts at 1,000 WAL pages; so does the
 * thread's. A passive checkpoint that runs beside a writer can never leave
 * the WAL fully copied at the writer's next BEGIN (new frames keep coming),
 * and only then does SQLite start the WAL over from its beginning: past
 * CKPT_FORCE_PAGES the writer checkpoints itself, after its COMMIT, as SQLite
 * would by default. The thread has copied all but the last frames by then,
 * so that checkpoint is short, and the WAL stays bounded. */
#define CKPT_PAGES 1000
#define CKPT_FORCE_PAGES 4000

struct sqlite_ckpt {
    char *path;
    int busy_timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started, wanted, running, stopping;
    int asked_at; /* the WAL's size in pages when the thread was last asked */
    sqlite3 *h; /* the thread's connection, opened by the thread */
    sqlite_ckpt_stats stats;
};

static void ckpt_run(sqlite_ckpt *k)
{
    int log = 0, copied = 0, rc;

    if (k->h == NULL) {
        if (sqlite3_open_v2(k->path, &k->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
                SQLITE_OK ||
            /* the same durability as the writer's: the WAL is synced before
             * its pages are copied, the database file after */
            sqlite3_exec(k->h, "PRAGMA synchronous=FULL;", NULL, NULL, NULL) != SQLITE_OK) {
            SLOG(SLOG_ERROR, "sqlite_checkpointer_open",
                 SLOG_S("msg", k->h != NULL ? sqlite3_errmsg(k->h) : "out of memory"));
            sqlite3_close(k->h);
            k->h = NULL;
            return;
        }
        sqlite3_busy_timeout(k->h, k->busy_timeout_ms);
    }
    rc = sqlite3_wal_checkpoint_v2(k->h, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    pthread_mutex_lock(&k->mu);
    if (rc == SQLITE_OK)
        k->stats.background++;
    pthread_mutex_unlock(&k->mu);
    /* BUSY: another checkpoint (the writer's) was running; the next signal
     * tries again. */
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        SLOG(SLOG_WARN, "sqlite_checkpoint", SLOG_S("msg", sqlite3_errmsg(k->h)));
}

static void *ckpt_main(void *arg)
{
    sqlite_ckpt *k = arg;

    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->wanted && !k->stopping)
            pthread_cond_wait(&k->cv, &k->mu);
        if (k->stopping)
            break;
        k->wanted = 0;
        k->running = 1;
        pthread_mutex_unlock(&k->mu);
        ckpt_run(k);
        pthread_mutex_lock(&k->mu);
        k->running = 0;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* sqlite3_wal_hook: on the writer's thread after each COMMIT, with the
 * WAL's size in pages. */
static int wal_hook(void *arg, sqlite3 *h, const char *db, int pages)
{
    sqlite_ckpt *k = arg;
    int force = 0;

    if (pages < CKPT_PAGES)
        return SQLITE_OK;
    pthread_mutex_lock(&k->mu);
    if (pages < k->asked_at)
        k->asked_at = 0; /* the WAL started over */
    if (pages >= CKPT_FORCE_PAGES) {
        force = 1;
        k->stats.forced++;
    } else if (!k->running && !k->stopping && pages >= k->asked_at + CKPT_PAGES) {
        /* every CKPT_PAGES new pages, not after every COMMIT: each pass
         * costs two fsyncs however little it copies */
        k->asked_at = pages;
        if (!k->started) {
            k->started = pthread_create(&k->thread, NULL, ckpt_main, k) == 0;
            if (!k->started)
                force = 1; /* no thread: as SQLite would */
        }
        k->wanted = 1;
        pthread_cond_signal(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
    if (force)
        sqlite3_wal_checkpoint_v2(h, db, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

int sqlite_ckpt_create(const char *path, int busy_timeout_ms, sqlite_ckpt **out)
{
    sqlite_ckpt *k = calloc(1, sizeof(*k));

    *out = NULL;
    if (k == NULL || (k->path = strdup(path)) == NULL) {
        free(k);
        return -1;
    }
    k->busy_timeout_ms = busy_timeout_ms;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    *out = k;
    return 0;
}

void sqlite_ckpt_attach(sqlite_ckpt *k, sqlite3 *writer)
{
    sqlite3_wal_autocheckpoint(writer, 0); /* replaces SQLite's own hook */
    sqlite3_wal_hook(writer, wal_hook, k);
}

void sqlite_ckpt_get_stats(sqlite_ckpt *k, sqlite_ckpt_stats *out)
{
    pthread_mutex_lock(&k->mu);
    *out = k->stats;
    pthread_mutex_unlock(&k->mu);
}

void sqlite_ckpt_destroy(sqlite_ckpt *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&k->mu);
    k->stopping = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    if (k->started)
        pthread_join(k->thread, NULL);
    /* The last connection to close checkpoints the WAL and removes it. */
    sqlite3_close(k->h);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k->path);
    free(k);
}
