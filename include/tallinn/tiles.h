/* tiles.h — C2SP tlog-tiles: tile and entry-bundle paths, tile geometry,
 * entry bundle encoding, a tiles directory on disk (atomic writes), and a
 * hash store over it for merkle.h's proof functions.
 * Design: docs/audit-formats.md.
 *
 * Errors: 0 or a negative errno value: -EINVAL bad argument or malformed
 * path, -EBADMSG malformed bundle or tile contents, -ENOSPC buffer too small,
 * -ENOENT file missing, -EFBIG file larger than allowed, -ENOMEM, or the
 * errno of a failed system call. `err` buffers (may be NULL) get a message
 * naming the file. */
#ifndef TALLINN_TILES_H
#define TALLINN_TILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tallinn/merkle.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TILES_HEIGHT 8
#define TILES_WIDTH 256 /* hashes in a full tile, entries in a full bundle */
#define TILES_MAX_LEVEL 63
#define TILES_HASH_TILE_MAX (TILES_WIDTH * MERKLE_HASH_SIZE) /* 8192 bytes */
#define TILES_ENTRY_MAX 65535 /* longest entry a bundle can hold */
#define TILES_BUNDLE_MAX ((size_t)TILES_WIDTH * (2 + TILES_ENTRY_MAX))
#define TILES_PATH_MAX 64 /* longest tile path, NUL included */

/* A tile: a hash tile of `level`, or an entry bundle when `entries` is set;
 * width TILES_WIDTH for a full tile, 1..255 for a partial one. */
typedef struct tiles_tile {
    bool entries;
    unsigned level;
    uint64_t index;
    unsigned width;
} tiles_tile;

/* "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]", N in 3-digit groups
 * ("x001/x234/067"). NUL-terminated; -ENOSPC if size is too small. */
int tiles_path(const tiles_tile *t, char *buf, size_t size);
/* The inverse, strict: no leading zeros in L or W, W in 1..255, well-formed
 * groups in N (no more than needed), level <= 63. */
int tiles_path_parse(const char *path, tiles_tile *out);

/* Width of tile `index` at `level` (entry bundles: level 0) in a tree of
 * `size` leaves: TILES_WIDTH, 1..255 for the rightmost partial tile, or 0 if
 * the tree has no such tile. */
unsigned tiles_width(unsigned level, uint64_t index, uint64_t size);
/* Number of tiles, full and partial, at `level` for a tree of `size`. */
uint64_t tiles_count(unsigned level, uint64_t size);

/* Appends one length-prefixed entry to a bundle being built in buf (capacity
 * cap, *len bytes used). -EINVAL if the entry is longer than 65535 bytes,
 * -ENOSPC if it does not fit. */
int tiles_bundle_append(uint8_t *buf, size_t cap, size_t *len, const void *entry,
                        size_t entry_len);

/* One entry of a bundle; points into the bundle. */
typedef struct tiles_entry {
    const uint8_t *data;
    size_t len;
    size_t offset; /* of the length prefix within the bundle */
} tiles_entry;

/* Reads the entry at *offset and advances *offset past it: 1 if an entry was
 * read, 0 at the end of the bundle, -EBADMSG if the bundle is truncated. */
int tiles_bundle_next(const uint8_t *bundle, size_t len, size_t *offset, tiles_entry *entry);

/* Splits a bundle into exactly `width` entries (entries has room for width);
 * -EBADMSG with a message if it is truncated, or has fewer or more entries or
 * trailing bytes. */
int tiles_bundle_split(const uint8_t *bundle, size_t len, unsigned width, tiles_entry *entries,
                       char *err, size_t err_size);

/* A tiles directory: the log's <prefix> on disk. */
typedef struct tiles_dir tiles_dir;

#define TILES_DIR_CREATE 1u  /* create the directory if it is missing */
#define TILES_DIR_NO_SYNC 2u /* skip fsync: only for scratch logs checked afterwards */

int tiles_dir_open(const char *path, unsigned flags, tiles_dir **out, char *err,
                   size_t err_size);
void tiles_dir_destroy(tiles_dir *d);
/* The path given to open; borrowed. */
const char *tiles_dir_path(const tiles_dir *d);

/* Reads the file at rel (relative, no "." or ".." parts) into buf (capacity
 * cap); *len gets its size. -ENOENT if missing, -EFBIG if over cap. */
int tiles_dir_read(tiles_dir *d, const char *rel, uint8_t *buf, size_t cap, size_t *len,
                   char *err, size_t err_size);
/* Writes the file at rel atomically: a temporary file in the same directory,
 * fsync, rename over rel, fsync of the directory. Creates parent directories. */
int tiles_dir_write(tiles_dir *d, const char *rel, const void *data, size_t len, char *err,
                    size_t err_size);

/* Reads a hash tile into out (room for width * 32 bytes); the file must be
 * exactly width * 32 bytes. */
int tiles_dir_read_hashes(tiles_dir *d, const tiles_tile *t, uint8_t *out, char *err,
                          size_t err_size);
/* Writes a tile or bundle at its path (atomic, as tiles_dir_write). */
int tiles_dir_write_tile(tiles_dir *d, const tiles_tile *t, const void *data, size_t len,
                         char *err, size_t err_size);

/* Widths of the partial files present for tile t ("<path of t>.p/<W>"), in
 * increasing order, in widths (room for 255); *count gets how many. 0 with
 * *count 0 if there are none; -EBADMSG if that directory holds a name that is
 * not a width. */
int tiles_dir_partials(tiles_dir *d, const tiles_tile *t, unsigned *widths, size_t *count,
                       char *err, size_t err_size);

/* A hash store over a tiles directory for a tree of a given size: hands out
 * complete subtree hashes, computed from the tile that holds them. Keeps the
 * last tile read at each level, so one reader is for one thread at a time. */
typedef struct tiles_reader tiles_reader;

/* d is borrowed and must outlive the reader. */
int tiles_reader_create(tiles_dir *d, uint64_t size, tiles_reader **out);
void tiles_reader_destroy(tiles_reader *r);
/* A merkle_node_fn: pass the reader as ctx. Nodes outside the tree: -EINVAL. */
int tiles_reader_node(void *reader, unsigned level, uint64_t index,
                      uint8_t out[MERKLE_HASH_SIZE]);
/* Message of the last failure; borrowed, valid until the next call. */
const char *tiles_reader_error(const tiles_reader *r);

#ifdef __cplusplus
}
#endif

#endif
