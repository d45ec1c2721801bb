/* fuzz_tiles.c — C2SP tlog-tiles readers (lib/tiles.c), as tallinn-audit
 * uses them on a directory it is asked to verify. The input is used as:
 *   - a tile path: whatever tiles_path_parse accepts, tiles_path writes back
 *     byte for byte (one path per tile), with a width that tiles_width can
 *     give for some tree;
 *   - an entry bundle: tiles_bundle_next walks it within bounds; the entries
 *     it yields, appended again, rebuild the same bytes; tiles_bundle_split
 *     accepts exactly that count;
 *   - tile geometry: tiles_width and tiles_count on sizes from the input
 *     never overflow and agree with each other. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tallinn/tiles.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_tiles: check failed: %s\n", what);
        abort();
    }
}

static void as_path(const uint8_t *data, size_t size)
{
    char *path = malloc(size + 1), out[TILES_PATH_MAX];
    tiles_tile t;
    int rc;

    check(path != NULL, "malloc");
    memcpy(path, data, size);
    path[size] = '\0';
    rc = tiles_path_parse(path, &t);
    check(rc == 0 || rc == -EINVAL, "tiles_path_parse result");
    if (rc == 0) {
        check(t.level <= TILES_MAX_LEVEL && t.width >= 1 && t.width <= TILES_WIDTH, "tile fields");
        check(!t.entries || t.level == 0, "entry bundles are at level 0");
        check(tiles_path(&t, out, sizeof out) == 0, "tiles_path of a parsed tile");
        if (strcmp(out, path) != 0)
            fprintf(stderr, "\"%s\" parses, formats as \"%s\"\n", path, out);
        check(strcmp(out, path) == 0, "tiles_path(parse(p)) == p");
    }
    free(path);
}

static void as_bundle(const uint8_t *data, size_t size)
{
    uint8_t *bundle = malloc(size ? size : 1), *again = malloc(size ? size : 1);
    tiles_entry *entries = malloc(sizeof(tiles_entry) * (TILES_WIDTH + 1));
    size_t off = 0, n = 0, len = 0, last = 0;
    int rc;

    check(bundle != NULL && again != NULL && entries != NULL, "malloc");
    memcpy(bundle, data, size);
    for (;;) {
        tiles_entry e;
        rc = tiles_bundle_next(bundle, size, &off, &e);
        check(rc == 1 || rc == 0 || rc == -EBADMSG, "tiles_bundle_next result");
        if (rc != 1)
            break;
        check(e.offset == last && e.data == bundle + e.offset + 2 &&
                  e.data + e.len <= bundle + size && off == e.offset + 2 + e.len,
              "entry within the bundle");
        check(tiles_bundle_append(again, size, &len, e.data, e.len) == 0, "re-append");
        last = off;
        n++;
    }
    check(rc == 0 ? off == size && len == size && memcmp(again, bundle, size) == 0 : 1,
          "entries rebuild the bundle");

    /* split: exactly n entries when the walk ended cleanly. */
    for (unsigned w = 1; w <= TILES_WIDTH; w = w < 4 ? w + 1 : w * 2) {
        char err[256];
        int rs = tiles_bundle_split(bundle, size, w, entries, err, sizeof err);
        check(rs == 0 || rs == -EBADMSG || rs == -EINVAL, "tiles_bundle_split result");
        check((rs == 0) == (rc == 0 && n == w), "split accepts exactly the entry count");
    }
    if (rc == 0 && n >= 1 && n <= TILES_WIDTH) {
        char err[256];
        check(tiles_bundle_split(bundle, size, (unsigned)n, entries, err, sizeof err) == 0,
              "split with the right width");
        for (size_t i = 0; i < n; i++)
            check(entries[i].data >= bundle && entries[i].data + entries[i].len <= bundle + size,
                  "split entry within the bundle");
    }
    free(entries);
    free(again);
    free(bundle);
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void as_geometry(const uint8_t *data, size_t size)
{
    unsigned level;
    uint64_t index, tree;

    if (size < 17)
        return;
    level = data[0] % (TILES_MAX_LEVEL + 2); /* one past the last level too */
    index = get_u64(data + 1);
    tree = get_u64(data + 9);
    unsigned w = tiles_width(level, index, tree);
    uint64_t count = tiles_count(level, tree);
    check(w <= TILES_WIDTH, "width range");
    check((w > 0) == (index < count), "a tile has a width iff it is below the count");
    if (count > 0 && level <= TILES_MAX_LEVEL)
        check(tiles_width(level, count - 1, tree) > 0, "the last tile has a width");
    if (w > 0 && w < TILES_WIDTH)
        check(index == count - 1, "only the last tile is partial");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_path(data, size);
    as_bundle(data, size);
    as_geometry(data, size);
    return 0;
}
