/* tiles.c — C2SP tlog-tiles: paths, geometry, entry bundles, the tiles
 * directory on disk (atomic writes) and a hash store reading from it. */
#include "tlog_util.h"
#include "tallinn/tiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TILE_LEVELS 8 /* tile levels that exist below 2^64 leaves */

struct tiles_dir {
    int fd;
    char *path;
    unsigned flags;
    atomic_ulong tmp_counter; /* unique temporary names within this process */
};

struct tiles_reader_tile {
    bool valid;
    uint64_t index;
    unsigned width;
    uint8_t hashes[TILES_HASH_TILE_MAX];
};

struct tiles_reader {
    tiles_dir *d;
    uint64_t size;
    struct tiles_reader_tile cache[TILE_LEVELS];
    char err[256];
};


/* ---- paths and geometry ---------------------------------------------- */

static int format_index(uint64_t n, char *buf, size_t size)
{
    unsigned groups[7];
    int count = 0;
    do {
        groups[count++] = (unsigned)(n % 1000);
        n /= 1000;
    } while (n > 0);
    size_t used = 0;
    for (int i = count - 1; i >= 0; i--) {
        int w = snprintf(buf + used, size - used, i > 0 ? "x%03u/" : "%03u", groups[i]);
        if (w < 0 || (size_t)w >= size - used)
            return -ENOSPC;
        used += (size_t)w;
    }
    return 0;
}

int tiles_path(const tiles_tile *t, char *buf, size_t size)
{
    char level[24], index[40], suffix[16] = "";
    if (!t || !buf || size == 0 || t->width == 0 || t->width > TILES_WIDTH ||
        t->level > TILES_MAX_LEVEL)
        return -EINVAL;
    if (t->entries)
        snprintf(level, sizeof level, "entries");
    else
        snprintf(level, sizeof level, "%u", t->level);
    if (format_index(t->index, index, sizeof index) != 0)
        return -ENOSPC;
    if (t->width < TILES_WIDTH)
        snprintf(suffix, sizeof suffix, ".p/%u", t->width);
    int n = snprintf(buf, size, "tile/%s/%s%s", level, index, suffix);
    if (n < 0 || (size_t)n >= size)
        return -ENOSPC;
    return 0;
}

/* Decimal without leading zeros, at most max; advances *p. */
static int parse_small(const char **p, unsigned max, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        v = v * 10 + (unsigned)(s[n] - '0');
        if (v > max)
            return -EINVAL;
        n++;
    }
    if (n == 0 || (n > 1 && s[0] == '0'))
        return -EINVAL;
    *p = s + n;
    *out = v;
    return 0;
}

static int parse_group(const char *s, unsigned *out)
{
    for (int i = 0; i < 3; i++)
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
    *out = (unsigned)((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
    return 0;
}

int tiles_path_parse(const char *path, tiles_tile *out)
{
    tiles_tile t = {0};
    unsigned g;
    if (!path || !out || strncmp(path, "tile/", 5) != 0)
        return -EINVAL;
    const char *p = path + 5;
    if (strncmp(p, "entries/", 8) == 0) {
        t.entries = true;
        p += 8;
    } else {
        if (parse_small(&p, TILES_MAX_LEVEL, &t.level) != 0 || *p != '/')
            return -EINVAL;
        p++;
    }
    uint64_t n = 0;
    for (;;) {
        bool more = *p == 'x';
        if (more)
            p++;
        if (parse_group(p, &g) != 0)
            return -EINVAL;
        if (n > (UINT64_MAX - g) / 1000)
            return -EINVAL;
        n = n * 1000 + g;
        p += 3;
        if (!more)
            break;
        if (*p != '/')
            return -EINVAL;
        p++;
    }
    t.index = n;
    t.width = TILES_WIDTH;
    if (*p != '\0') {
        if (strncmp(p, ".p/", 3) != 0)
            return -EINVAL;
        p += 3;
        if (parse_small(&p, TILES_WIDTH - 1, &t.width) != 0 || t.width == 0 || *p != '\0')
            return -EINVAL;
    }
    /* Only the canonical spelling (no extra "x000/" groups) is accepted. */
    char again[TILES_PATH_MAX];
    if (tiles_path(&t, again, sizeof again) != 0 || strcmp(again, path) != 0)
        return -EINVAL;
    *out = t;
    return 0;
}

/* Complete hashes at tile level `level`: nodes of Merkle level 8 * level. */
static uint64_t level_nodes(unsigned level, uint64_t size)
{
    if (level >= TILE_LEVELS)
        return 0;
    return size >> (TILES_HEIGHT * level);
}

unsigned tiles_width(unsigned level, uint64_t index, uint64_t size)
{
    uint64_t nodes = level_nodes(level, size);
    uint64_t full = nodes / TILES_WIDTH;
    if (index < full)
        return TILES_WIDTH;
    if (index == full)
        return (unsigned)(nodes % TILES_WIDTH);
    return 0;
}

uint64_t tiles_count(unsigned level, uint64_t size)
{
    uint64_t nodes = level_nodes(level, size);
    return nodes / TILES_WIDTH + (nodes % TILES_WIDTH != 0);
}

/* ---- entry bundles --------------------------------------------------- */

int tiles_bundle_append(uint8_t *buf, size_t cap, size_t *len, const void *entry,
                        size_t entry_len)
{
    if (!buf || !len || *len > cap || (entry_len > 0 && !entry))
        return -EINVAL;
    if (entry_len > TILES_ENTRY_MAX)
        return -EINVAL;
    if (cap - *len < 2 + entry_len)
        return -ENOSPC;
    buf[*len] = (uint8_t)(entry_len >> 8);
    buf[*len + 1] = (uint8_t)entry_len;
    if (entry_len > 0)
        memcpy(buf + *len + 2, entry, entry_len);
    *len += 2 + entry_len;
    return 0;
}

int tiles_bundle_next(const uint8_t *bundle, size_t len, size_t *offset, tiles_entry *entry)
{
    if (!offset || !entry || (len > 0 && !bundle) || *offset > len)
        return -EINVAL;
    size_t off = *offset;
    if (off == len)
        return 0;
    if (len - off < 2)
        return -EBADMSG;
    size_t n = (size_t)bundle[off] << 8 | bundle[off + 1];
    if (len - off - 2 < n)
        return -EBADMSG;
    entry->data = bundle + off + 2;
    entry->len = n;
    entry->offset = off;
    *offset = off + 2 + n;
    return 1;
}

int tiles_bundle_split(const uint8_t *bundle, size_t len, unsigned width, tiles_entry *entries,
                       char *err, size_t err_size)
{
    if (!entries || width == 0 || width > TILES_WIDTH || (len > 0 && !bundle))
        return tlog__set_err(err, err_size, -EINVAL, "bad argument");
    size_t off = 0;
    for (unsigned i = 0; i < width; i++) {
        int rc = tiles_bundle_next(bundle, len, &off, &entries[i]);
        if (rc == 0)
            return tlog__set_err(err, err_size, -EBADMSG,
                           "bundle holds %u entries, expected %u (%zu bytes)", i, width, len);
        if (rc < 0) {
            size_t left = len - off;
            if (left < 2)
                return tlog__set_err(err, err_size, -EBADMSG,
                               "bundle truncated: entry %u's length prefix at offset %zu has "
                               "%zu of 2 bytes",
                               i, off, left);
            return tlog__set_err(err, err_size, -EBADMSG,
                           "bundle truncated: entry %u at offset %zu needs %zu bytes, %zu left",
                           i, off, ((size_t)bundle[off] << 8 | bundle[off + 1]), left - 2);
        }
    }
    if (off != len)
        return tlog__set_err(err, err_size, -EBADMSG,
                       "bundle has %zu bytes after its %u entries (at offset %zu)", len - off,
                       width, off);
    return 0;
}

/* ---- the directory --------------------------------------------------- */

static int check_rel(const char *rel)
{
    if (!rel || rel[0] == '\0' || rel[0] == '/' || strlen(rel) >= 4096)
        return -EINVAL;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return -EINVAL;
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

static int mkdir_p(const char *path)
{
    char *copy = strdup(path);
    int rc = 0;
    if (!copy)
        return -ENOMEM;
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    free(copy);
    return rc;
}

int tiles_dir_open(const char *path, unsigned flags, tiles_dir **out, char *err,
                   size_t err_size)
{
    tiles_dir *d = NULL;
    int rc;
    if (!path || !out || path[0] == '\0')
        return tlog__set_err(err, err_size, -EINVAL, "missing directory path");
    *out = NULL;
    if (flags & TILES_DIR_CREATE) {
        rc = mkdir_p(path);
        if (rc != 0)
            return tlog__set_err(err, err_size, rc, "%s: cannot create: %s", path, strerror(-rc));
    }
    d = calloc(1, sizeof *d);
    if (!d)
        return tlog__set_err(err, err_size, -ENOMEM, "out of memory");
    d->fd = -1;
    d->flags = flags;
    atomic_init(&d->tmp_counter, 0);
    d->path = strdup(path);
    if (!d->path) {
        rc = tlog__set_err(err, err_size, -ENOMEM, "out of memory");
        goto fail;
    }
    d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0) {
        rc = -errno;
        tlog__set_err(err, err_size, rc, "%s: cannot open directory: %s", path, strerror(-rc));
        goto fail;
    }
    *out = d;
    return 0;
fail:
    tiles_dir_destroy(d);
    return rc;
}

void tiles_dir_destroy(tiles_dir *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    free(d);
}

const char *tiles_dir_path(const tiles_dir *d)
{
    return d ? d->path : NULL;
}

/* Reads rel into buf; *file_size gets the size on disk even when too big. */
static int read_file(tiles_dir *d, const char *rel, uint8_t *buf, size_t cap, size_t *len,
                     uint64_t *file_size, char *err, size_t err_size)
{
    struct stat st;
    int rc = 0;
    size_t got = 0;
    if (!d || check_rel(rel) != 0 || !len || (cap > 0 && !buf))
        return tlog__set_err(err, err_size, -EINVAL, "bad file name or argument");
    int fd = openat(d->fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        if (rc == -ENOENT)
            return tlog__set_err(err, err_size, rc, "%s/%s: missing", d->path, rel);
        return tlog__set_err(err, err_size, rc, "%s/%s: cannot open: %s", d->path, rel,
                       strerror(-rc));
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        tlog__set_err(err, err_size, rc, "%s/%s: cannot stat: %s", d->path, rel, strerror(-rc));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = tlog__set_err(err, err_size, -EINVAL, "%s/%s: not a regular file", d->path, rel);
        goto cleanup;
    }
    if (file_size)
        *file_size = (uint64_t)st.st_size;
    if ((uint64_t)st.st_size > cap) {
        rc = tlog__set_err(err, err_size, -EFBIG, "%s/%s: %llu bytes, more than the %zu allowed",
                     d->path, rel, (unsigned long long)st.st_size, cap);
        goto cleanup;
    }
    for (;;) {
        uint8_t extra;
        ssize_t n = got < cap ? read(fd, buf + got, cap - got) : read(fd, &extra, 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            tlog__set_err(err, err_size, rc, "%s/%s: read error: %s", d->path, rel, strerror(-rc));
            goto cleanup;
        }
        if (n == 0)
            break;
        if (got == cap) { /* grew while being read */
            rc = tlog__set_err(err, err_size, -EFBIG, "%s/%s: more than the %zu bytes allowed",
                         d->path, rel, cap);
            goto cleanup;
        }
        got += (size_t)n;
    }
    *len = got;
    if (file_size)
        *file_size = got;
cleanup:
    close(fd);
    return rc;
}

int tiles_dir_read(tiles_dir *d, const char *rel, uint8_t *buf, size_t cap, size_t *len,
                   char *err, size_t err_size)
{
    return read_file(d, rel, buf, cap, len, NULL, err, err_size);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sync_dir_at(tiles_dir *d, const char *rel_dir)
{
    if (d->flags & TILES_DIR_NO_SYNC)
        return 0;
    int fd = rel_dir ? openat(d->fd, rel_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                     : dup(d->fd);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* Creates the directories of rel's parent path, syncing each new one's
 * parent so the new entry is durable. */
static int make_parents(tiles_dir *d, char *dir)
{
    for (char *p = dir;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int rc = 0;
        if (mkdirat(d->fd, dir, 0755) == 0) {
            char *slash = strrchr(dir, '/');
            if (slash) {
                *slash = '\0';
                rc = sync_dir_at(d, dir);
                *slash = '/';
            } else {
                rc = sync_dir_at(d, NULL);
            }
        } else if (errno != EEXIST) {
            rc = -errno;
        }
        *p = c;
        if (rc != 0)
            return rc;
        if (c == '\0')
            return 0;
    }
}

int tiles_dir_write(tiles_dir *d, const char *rel, const void *data, size_t len, char *err,
                    size_t err_size)
{
    char *dir = NULL;
    char tmp[128];
    int dfd = -1, fd = -1, rc = 0;
    bool tmp_made = false;
    if (!d || check_rel(rel) != 0 || (len > 0 && !data))
        return tlog__set_err(err, err_size, -EINVAL, "bad file name or argument");
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    if (slash) {
        dir = strndup(rel, (size_t)(slash - rel));
        if (!dir)
            return tlog__set_err(err, err_size, -ENOMEM, "out of memory");
        rc = make_parents(d, dir);
        if (rc != 0) {
            tlog__set_err(err, err_size, rc, "%s/%s: cannot create directory: %s", d->path, dir,
                    strerror(-rc));
            goto cleanup;
        }
        dfd = openat(d->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        dfd = dup(d->fd);
    }
    if (dfd < 0) {
        rc = -errno;
        tlog__set_err(err, err_size, rc, "%s/%s: cannot open directory: %s", d->path, rel,
                strerror(-rc));
        goto cleanup;
    }
    snprintf(tmp, sizeof tmp, ".%.64s.tmp.%ld.%lu", base, (long)getpid(),
             (unsigned long)atomic_fetch_add(&d->tmp_counter, 1));
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        tlog__set_err(err, err_size, rc, "%s/%s: cannot create temporary file: %s", d->path, rel,
                strerror(-rc));
        goto cleanup;
    }
    tmp_made = true;
    rc = write_all(fd, data, len);
    if (rc == 0 && !(d->flags & TILES_DIR_NO_SYNC) && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    fd = -1;
    if (rc != 0) {
        tlog__set_err(err, err_size, rc, "%s/%s: write failed: %s", d->path, rel, strerror(-rc));
        goto cleanup;
    }
    if (renameat(dfd, tmp, dfd, base) != 0) {
        rc = -errno;
        tlog__set_err(err, err_size, rc, "%s/%s: rename failed: %s", d->path, rel, strerror(-rc));
        goto cleanup;
    }
    tmp_made = false;
    if (!(d->flags & TILES_DIR_NO_SYNC) && fsync(dfd) != 0) {
        rc = -errno;
        tlog__set_err(err, err_size, rc, "%s/%s: directory sync failed: %s", d->path, rel,
                strerror(-rc));
    }
cleanup:
    if (fd >= 0)
        close(fd);
    if (tmp_made)
        unlinkat(dfd, tmp, 0);
    if (dfd >= 0)
        close(dfd);
    free(dir);
    return rc;
}

int tiles_dir_read_hashes(tiles_dir *d, const tiles_tile *t, uint8_t *out, char *err,
                          size_t err_size)
{
    char rel[TILES_PATH_MAX];
    size_t len = 0;
    uint64_t on_disk = 0;
    if (!d || !t || !out || t->entries || tiles_path(t, rel, sizeof rel) != 0)
        return tlog__set_err(err, err_size, -EINVAL, "bad tile");
    size_t want = (size_t)t->width * MERKLE_HASH_SIZE;
    int rc = read_file(d, rel, out, want, &len, &on_disk, err, err_size);
    if (rc == -EFBIG || (rc == 0 && len != want))
        return tlog__set_err(err, err_size, -EBADMSG,
                       "%s/%s: %llu bytes, expected %zu (%u hashes of level %u)", d->path, rel,
                       (unsigned long long)(rc == 0 ? len : on_disk), want, t->width, t->level);
    return rc;
}

int tiles_dir_write_tile(tiles_dir *d, const tiles_tile *t, const void *data, size_t len,
                         char *err, size_t err_size)
{
    char rel[TILES_PATH_MAX];
    if (!d || !t || tiles_path(t, rel, sizeof rel) != 0)
        return tlog__set_err(err, err_size, -EINVAL, "bad tile");
    if (!t->entries && len != (size_t)t->width * MERKLE_HASH_SIZE)
        return tlog__set_err(err, err_size, -EINVAL, "%s: %zu bytes for %u hashes", rel, len,
                       t->width);
    return tiles_dir_write(d, rel, data, len, err, err_size);
}

int tiles_dir_partials(tiles_dir *d, const tiles_tile *t, unsigned *widths, size_t *count,
                       char *err, size_t err_size)
{
    char rel[TILES_PATH_MAX + 2];
    tiles_tile full;
    int rc = 0;
    if (!d || !t || !widths || !count)
        return tlog__set_err(err, err_size, -EINVAL, "bad argument");
    *count = 0;
    full = *t;
    full.width = TILES_WIDTH;
    if (tiles_path(&full, rel, TILES_PATH_MAX) != 0)
        return tlog__set_err(err, err_size, -EINVAL, "bad tile");
    strcat(rel, ".p");
    int fd = openat(d->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        rc = -errno;
        return tlog__set_err(err, err_size, rc, "%s/%s: cannot open: %s", d->path, rel,
                       strerror(-rc));
    }
    DIR *dir = fdopendir(fd);
    if (!dir) {
        rc = -errno;
        close(fd);
        return tlog__set_err(err, err_size, rc, "%s/%s: cannot read: %s", d->path, rel,
                       strerror(-rc));
    }
    bool seen[TILES_WIDTH] = {false};
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.') /* ".", "..", and our own temporary files */
            continue;
        unsigned w;
        const char *p = name;
        if (parse_small(&p, TILES_WIDTH - 1, &w) != 0 || w == 0 || *p != '\0') {
            rc = tlog__set_err(err, err_size, -EBADMSG,
                         "%s/%s/%s: not a partial tile width (1..255)", d->path, rel, name);
            goto cleanup;
        }
        seen[w] = true;
    }
    for (unsigned w = 1; w < TILES_WIDTH; w++)
        if (seen[w])
            widths[(*count)++] = w;
cleanup:
    closedir(dir);
    return rc;
}

/* ---- the hash store -------------------------------------------------- */

int tiles_reader_create(tiles_dir *d, uint64_t size, tiles_reader **out)
{
    if (!d || !out)
        return -EINVAL;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return -ENOMEM;
    (*out)->d = d;
    (*out)->size = size;
    return 0;
}

void tiles_reader_destroy(tiles_reader *r)
{
    free(r);
}

const char *tiles_reader_error(const tiles_reader *r)
{
    return r ? r->err : "";
}

static int reader_load(tiles_reader *r, unsigned level, uint64_t index, unsigned width)
{
    struct tiles_reader_tile *c = &r->cache[level];
    if (c->valid && c->index == index && c->width >= width)
        return 0;
    c->valid = false;
    tiles_tile t = {.entries = false, .level = level, .index = index, .width = width};
    int rc = tiles_dir_read_hashes(r->d, &t, c->hashes, r->err, sizeof r->err);
    if (rc == -ENOENT && width < TILES_WIDTH) {
        /* A log may drop a partial tile once the full one exists. */
        char partial[TILES_PATH_MAX];
        tiles_path(&t, partial, sizeof partial);
        t.width = TILES_WIDTH;
        rc = tiles_dir_read_hashes(r->d, &t, c->hashes, r->err, sizeof r->err);
        width = TILES_WIDTH;
        if (rc == -ENOENT)
            tlog__set_err(r->err, sizeof r->err, rc, "%s/%s: missing, and so is the full tile",
                    r->d->path, partial);
    }
    if (rc != 0)
        return rc;
    c->valid = true;
    c->index = index;
    c->width = width;
    return 0;
}

int tiles_reader_node(void *reader, unsigned level, uint64_t index,
                      uint8_t out[MERKLE_HASH_SIZE])
{
    tiles_reader *r = reader;
    if (!r || !out || level > MERKLE_MAX_LEVEL)
        return -EINVAL;
    r->err[0] = '\0';
    if (index >= (r->size >> level))
        return tlog__set_err(r->err, sizeof r->err, -EINVAL,
                       "node %llu at level %u is not complete in a tree of size %llu",
                       (unsigned long long)index, level, (unsigned long long)r->size);
    unsigned tl = level / TILES_HEIGHT, sub = level % TILES_HEIGHT;
    uint64_t first = index << sub; /* position among the tile level's hashes */
    uint64_t tile = first / TILES_WIDTH;
    unsigned pos = (unsigned)(first % TILES_WIDTH), n = 1u << sub;
    unsigned width = tiles_width(tl, tile, r->size);
    if (pos + n > width)
        return tlog__set_err(r->err, sizeof r->err, -EINVAL, "tile geometry error");
    int rc = reader_load(r, tl, tile, width);
    if (rc != 0)
        return rc;
    return merkle_root(r->cache[tl].hashes + (size_t)pos * MERKLE_HASH_SIZE, n, out);
}
