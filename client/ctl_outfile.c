/* ctl_outfile.c — where an export goes: stdout, or a file replaced
 * atomically (a temporary file beside it, flushed to disk, then renamed over
 * it), so a reader never sees half an export and a failed one leaves the old
 * file as it was. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

int ctl_outfile_open(ctl_outfile *o, const char *path)
{
    int fd;

    memset(o, 0, sizeof *o);
    if (path == NULL || strcmp(path, "-") == 0) {
        o->fp = stdout;
        return 0;
    }
    if (asprintf(&o->tmp, "%s.tmp.XXXXXX", path) < 0) {
        o->tmp = NULL;
        return ctl_fail("out of memory");
    }
    /* mkstemp creates it 0600: an export holds what only its caller may see. */
    if ((fd = mkstemp(o->tmp)) < 0 || (o->fp = fdopen(fd, "w")) == NULL) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(o->tmp);
        }
        free(o->tmp);
        o->tmp = NULL;
        return ctl_fail("--out %s: cannot create a file beside it: %s", path, strerror(e));
    }
    o->path = path;
    return 0;
}

/* fsync of the directory holding path, so the rename survives a crash. */
static int ctl_outfile_sync_dir(const char *path)
{
    char *copy = strdup(path);
    int fd, rc = -1;

    if (copy == NULL)
        return -1;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    free(copy);
    return rc;
}

int ctl_outfile_commit(ctl_outfile *o)
{
    int e;

    if (o->tmp == NULL) {
        if (fflush(o->fp) != 0 || ferror(o->fp))
            return ctl_fail("writing the export to stdout: %s", strerror(errno));
        return 0;
    }
    if (fflush(o->fp) != 0 || ferror(o->fp) || fsync(fileno(o->fp)) != 0)
        goto fail;
    if (fclose(o->fp) != 0) {
        o->fp = NULL;
        goto fail;
    }
    o->fp = NULL;
    if (rename(o->tmp, o->path) != 0)
        goto fail;
    free(o->tmp);
    o->tmp = NULL;
    if (ctl_outfile_sync_dir(o->path) != 0)
        return ctl_fail("--out %s: written, but its directory could not be synced: %s",
                        o->path, strerror(errno));
    return 0;
fail:
    e = errno;
    ctl_outfile_abort(o);
    return ctl_fail("--out %s: %s; the file was left as it was", o->path, strerror(e));
}

void ctl_outfile_abort(ctl_outfile *o)
{
    if (o->tmp == NULL)
        return;
    if (o->fp != NULL)
        fclose(o->fp);
    o->fp = NULL;
    unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
}
