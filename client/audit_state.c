/* audit_state.c — the last checkpoint tallinn-audit verified against a live
 * server, kept so the next run can prove the log only grew. The file is the
 * signed note, verbatim; it is replaced atomically (a torn state file would
 * raise false alarms, or hide real ones). No network. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_cmds.h"
#include "tallinn/checkpoint.h"

#define STATE_FILE_MAX (64u * 1024) /* a signed checkpoint is a few hundred bytes */

int audit_state_default_path(const char *origin, char *buf, size_t size, char *err,
                             size_t err_size)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char name[CHECKPOINT_ORIGIN_MAX + 1];
    size_t i;
    int n;
    for (i = 0; origin[i] && i < sizeof name - 1; i++) {
        char c = origin[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        name[i] = ok ? c : '_';
    }
    name[i] = '\0';
    if (i == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        name[0] = '_', name[1] = '\0';
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/tallinn-audit/%s.checkpoint", xdg, name);
    else if (home && home[0])
        n = snprintf(buf, size, "%s/.local/state/tallinn-audit/%s.checkpoint", home, name);
    else {
        snprintf(err, err_size,
                 "neither XDG_STATE_HOME nor HOME is set: give the state file with --state");
        return -EINVAL;
    }
    if (n < 0 || (size_t)n >= size) {
        snprintf(err, err_size, "the state file's path is too long: give one with --state");
        return -ENAMETOOLONG;
    }
    return 0;
}

int audit_state_load(const char *path, char **note, size_t *len, char *err, size_t err_size)
{
    return audit_read_file(path, STATE_FILE_MAX, note, len, err, err_size);
}

/* mkdir -p for the parents of path, new directories 0700. */
static int make_parents(const char *path, char *err, size_t err_size)
{
    char dir[4096];
    size_t n = strlen(path);
    if (n >= sizeof dir) {
        snprintf(err, err_size, "%s: path too long", path);
        return -ENAMETOOLONG;
    }
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            snprintf(err, err_size, "cannot create %s: %s", dir, strerror(e));
            return -e;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    return 0;
}

int audit_state_save(const char *path, const char *note, size_t len, char *err,
                     size_t err_size)
{
    char tmp[4096 + 16], dir[4096];
    int fd = -1, rc;
    size_t done = 0;
    if ((rc = make_parents(path, err, err_size)) != 0)
        return rc;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= sizeof tmp) {
        snprintf(err, err_size, "%s: path too long", path);
        return -ENAMETOOLONG;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_size, "cannot create a temporary file beside %s: %s", path,
                 strerror(-rc));
        return rc;
    }
    while (done < len) {
        ssize_t w = write(fd, note + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = -errno;
            snprintf(err, err_size, "%s: write: %s", tmp, strerror(-rc));
            goto fail;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = -errno;
        snprintf(err, err_size, "%s: fsync: %s", tmp, strerror(-rc));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        snprintf(err, err_size, "%s: close: %s", tmp, strerror(-rc));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        snprintf(err, err_size, "cannot rename %s to %s: %s", tmp, path, strerror(-rc));
        goto fail;
    }
    /* The rename is durable only once the directory is synced. */
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        rc = -errno;
        snprintf(err, err_size, "%s: fsync of the directory: %s", dir, strerror(-rc));
        if (dfd >= 0)
            close(dfd);
        return rc;
    }
    close(dfd);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}
