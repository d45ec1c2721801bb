/* audit_mklog.c — test helper: writes a signed C2SP tlog-tiles log of COUNT
 * synthetic entries ("entry <i>", padded to varying lengths) with the
 * library, for tallinn-audit's integration tests. Scratch logs only: files
 * are not fsynced. Usage: audit_mklog DIR COUNT PRIVATE-KEY [FORK-AT]
 * With FORK-AT, entries from that index on are "entry <i> fork...": a second
 * history that shares the first FORK-AT entries (the witness tests' split
 * view). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tallinn/checkpoint.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"
#include "tallinn/tiles.h"

#define H MERKLE_HASH_SIZE

typedef struct mklog {
    tiles_dir *d;
    merkle_frontier *f;
    uint8_t *bundle;
    size_t bundle_len;
    uint8_t level[8][TILES_HASH_TILE_MAX];
    char err[512];
} mklog;

static int on_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    mklog *m = ctx;
    if (level % TILES_HEIGHT != 0)
        return 0;
    unsigned tl = level / TILES_HEIGHT;
    memcpy(m->level[tl] + (index % TILES_WIDTH) * H, hash, H);
    if (index % TILES_WIDTH != TILES_WIDTH - 1)
        return 0;
    tiles_tile t = {false, tl, index / TILES_WIDTH, TILES_WIDTH};
    return tiles_dir_write_tile(m->d, &t, m->level[tl], TILES_HASH_TILE_MAX, m->err,
                                sizeof m->err);
}

static int add(mklog *m, const char *entry, size_t len)
{
    uint8_t leaf[H];
    uint64_t index = merkle_frontier_size(m->f);
    merkle_hash_leaf(entry, len, leaf);
    int rc = tiles_bundle_append(m->bundle, TILES_BUNDLE_MAX, &m->bundle_len, entry, len);
    if (rc == 0)
        rc = merkle_frontier_append(m->f, leaf, on_node, m);
    if (rc == 0 && index % TILES_WIDTH == TILES_WIDTH - 1) {
        tiles_tile t = {true, 0, index / TILES_WIDTH, TILES_WIDTH};
        rc = tiles_dir_write_tile(m->d, &t, m->bundle, m->bundle_len, m->err, sizeof m->err);
        m->bundle_len = 0;
    }
    return rc;
}

static int publish(mklog *m, const note_signer *s, const char *origin)
{
    uint64_t size = merkle_frontier_size(m->f);
    int rc = 0;
    for (unsigned tl = 0; rc == 0 && tl < 8; tl++) {
        uint64_t n = tiles_count(tl, size);
        if (n == 0)
            break;
        unsigned w = tiles_width(tl, n - 1, size);
        if (w == TILES_WIDTH)
            continue;
        tiles_tile t = {false, tl, n - 1, w};
        rc = tiles_dir_write_tile(m->d, &t, m->level[tl], (size_t)w * H, m->err, sizeof m->err);
        if (rc == 0 && tl == 0) {
            tiles_tile e = {true, 0, n - 1, w};
            rc = tiles_dir_write_tile(m->d, &e, m->bundle, m->bundle_len, m->err,
                                      sizeof m->err);
        }
    }
    if (rc != 0)
        return rc;
    checkpoint cp = {.size = size};
    snprintf(cp.origin, sizeof cp.origin, "%s", origin);
    merkle_frontier_root(m->f, cp.root);
    char note[1024];
    size_t len;
    rc = checkpoint_sign(&cp, s, note, sizeof note, &len, m->err, sizeof m->err);
    if (rc == 0)
        rc = tiles_dir_write(m->d, "checkpoint", note, len, m->err, sizeof m->err);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: audit_mklog DIR COUNT PRIVATE-KEY [FORK-AT]\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    char *end;
    errno = 0;
    unsigned long long count = strtoull(argv[2], &end, 10);
    if (errno || *end) {
        fprintf(stderr, "audit_mklog: bad COUNT\n");
        return 2;
    }
    unsigned long long fork_at = count;
    if (argc == 5) {
        fork_at = strtoull(argv[4], &end, 10);
        if (errno || *end) {
            fprintf(stderr, "audit_mklog: bad FORK-AT\n");
            return 2;
        }
    }
    static mklog m;
    note_signer *s = NULL;
    int rc = note_signer_create(argv[3], &s, m.err, sizeof m.err);
    if (rc == 0)
        rc = tiles_dir_open(argv[1], TILES_DIR_CREATE | TILES_DIR_NO_SYNC, &m.d, m.err,
                            sizeof m.err);
    if (rc == 0)
        rc = merkle_frontier_create(&m.f);
    m.bundle = malloc(TILES_BUNDLE_MAX);
    if (rc == 0 && !m.bundle)
        rc = -ENOMEM;
    for (unsigned long long i = 0; rc == 0 && i < count; i++) {
        char entry[64];
        /* "entry <i>" then 0..15 dots, so entries vary in length. */
        int len = snprintf(entry, sizeof entry, "entry %llu%s%.*s", i,
                           i >= fork_at ? " fork" : "", (int)(i % 16), "................");
        rc = add(&m, entry, (size_t)len);
    }
    if (rc == 0)
        rc = publish(&m, s, note_signer_name(s));
    if (rc != 0)
        fprintf(stderr, "audit_mklog: %s (%s)\n", m.err[0] ? m.err : "failed", strerror(-rc));
    note_signer_destroy(s);
    merkle_frontier_destroy(m.f);
    tiles_dir_destroy(m.d);
    free(m.bundle);
    return rc == 0 ? 0 : 1;
}
