/* store_sqlite_backup.c — store_backup: an online copy of a SQLite database
 * with SQLite's backup API while a server may be writing it, fsynced before
 * it counts as a backup. (PostgreSQL is backed up with its own tools.) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tallinn/store.h"

#define BACKUP_BUSY_MS 5000

int store_backup(const char *src, const char *dst, char *err, size_t errlen)
{
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b = NULL;
    struct stat st;
    int rc = STORE_ERROR, step, fd;

    if (stat(dst, &st) == 0) {
        snprintf(err, errlen, "%s exists; back up to a new file", dst);
        return STORE_EXISTS;
    }
    if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", src, sqlite3_errmsg(from));
        goto done;
    }
    sqlite3_busy_timeout(from, BACKUP_BUSY_MS);
    if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot create %s: %s", dst, sqlite3_errmsg(to));
        goto done;
    }
    b = sqlite3_backup_init(to, "main", from, "main");
    if (b == NULL) {
        snprintf(err, errlen, "cannot start the backup: %s", sqlite3_errmsg(to));
        goto done;
    }
    /* 256 pages (1 MiB) a step; between steps the server's writer may go on. */
    do {
        step = sqlite3_backup_step(b, 256);
        if (step == SQLITE_BUSY || step == SQLITE_LOCKED)
            sqlite3_sleep(10);
    } while (step == SQLITE_OK || step == SQLITE_BUSY || step == SQLITE_LOCKED);
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "backup failed: %s", sqlite3_errstr(step));
        goto done;
    }
    sqlite3_backup_finish(b);
    b = NULL;
    if (sqlite3_close(to) != SQLITE_OK) {
        snprintf(err, errlen, "cannot finish %s", dst);
        to = NULL;
        goto done;
    }
    to = NULL;
    /* The copy is only a backup once it is on disk. */
    if ((fd = open(dst, O_RDONLY)) < 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot sync %s: %s", dst, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto done;
    }
    close(fd);
    rc = STORE_OK;
done:
    if (b != NULL)
        sqlite3_backup_finish(b);
    if (to != NULL)
        sqlite3_close(to);
    if (from != NULL)
        sqlite3_close(from);
    if (rc != STORE_OK)
        unlink(dst);
    return rc;
}
