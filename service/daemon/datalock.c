/* datalock.c — refuses a second tallinnd on a data directory in use. Each
 * process numbers the audit log and signs checkpoints from its own memory,
 * so two on one SQLite database would fork the log; the lock makes that
 * impossible instead of failing writes later. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datalock.h"
#include "log/slog.h"

/* What the holder wrote into the file: its pid, as a fallback for when the
 * kernel cannot tell us (l_pid is 0 across pid namespaces). */
static long recorded_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    long pid;

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    pid = strtol(buf, NULL, 10);
    return pid > 0 ? pid : 0;
}

int datalock_acquire(const char *dir, int read_only, int *out)
{
    char path[4096], line[32];
    struct flock fl;
    int fd, len;

    *out = -1;
    snprintf(path, sizeof(path), "%s/%s", dir, DATALOCK_FILE);
    /* Only this file ever opens the lock file: a POSIX lock is dropped when
     * its process closes any descriptor of the file. */
    fd = open(path, read_only ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 && read_only && errno == ENOENT) {
        /* Read-only storage that never held a server: nothing can write
         * here, and nothing can take the lock either. */
        SLOG(SLOG_WARN, "no_lock_file", SLOG_S("path", path),
             SLOG_S("msg", "read-only data directory without a lock file: not locked"));
        return 0;
    }
    if (fd < 0) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "tallinnd")),
                 "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    memset(&fl, 0, sizeof(fl));
    /* On read-only storage a shared lock: it still conflicts with a writer
     * that reaches the same directory through another mount. */
    fl.l_type = read_only ? F_RDLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int err = errno;
        long pid = 0;

        if (err == EAGAIN || err == EACCES) {
            memset(&fl, 0, sizeof(fl));
            fl.l_type = read_only ? F_RDLCK : F_WRLCK;
            fl.l_whence = SEEK_SET;
            if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0)
                pid = fl.l_pid;
            else
                pid = recorded_pid(fd);
            if (pid > 0)
                slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "tallinnd")),
                         "the data directory %s is in use by process %ld (it holds %s): stop it "
                         "first, or give another --data-dir",
                         dir, pid, path);
            else
                slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "tallinnd")),
                         "the data directory %s is in use by another process (it holds %s): stop "
                         "it first, or give another --data-dir",
                         dir, path);
        } else {
            slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "tallinnd")),
                     "cannot lock %s: %s", path, strerror(err));
        }
        close(fd);
        return -1;
    }
    len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    if (!read_only && (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len))
        SLOG(SLOG_WARN, "lock_file_write_failed", SLOG_S("path", path));
    *out = fd;
    return 0;
}

void datalock_release(int fd)
{
    if (fd >= 0)
        close(fd); /* the lock goes with it; the file stays (removing it would race) */
}
