/* test_tiles.c — tlog-tiles paths, geometry and entry bundles, the tiles
 * directory, and proofs served from tiles: the Tessera log and a 70,000-entry
 * log built here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tallinn/checkpoint.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"
#include "tallinn/tiles.h"

#define H MERKLE_HASH_SIZE

static const char tessera_vkey[] =
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
static const char *tessera_entries[15] = {"one",    "two",    "three",    "four",    "five",
                                          "six",    "seven",  "eit",      "nain",    "ten",
                                          "ileven", "twelf",  "threeten", "fourten", "fivten"};

static const char *data_dir(void)
{
    const char *d = getenv("TALLINN_TEST_DATA");
    if (!d || !*d)
        fail_msg("TALLINN_TEST_DATA is not set");
    return d;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[1024];
    snprintf(tmpl, sizeof tmpl, "%s/tallinn-tiles-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

/* ---- paths and geometry ------------------------------------------------ */

static void test_paths(void **state)
{
    (void)state;
    static const struct {
        tiles_tile t;
        const char *path;
    } cases[] = {
        {{false, 0, 0, 256}, "tile/0/000"},
        {{false, 0, 1, 256}, "tile/0/001"},
        {{false, 0, 999, 256}, "tile/0/999"},
        {{false, 0, 1000, 256}, "tile/0/x001/000"},
        {{false, 0, 1234067, 256}, "tile/0/x001/x234/067"},
        {{false, 1, 1234067, 17}, "tile/1/x001/x234/067.p/17"},
        {{false, 2, 0, 1}, "tile/2/000.p/1"},
        {{false, 63, 0, 255}, "tile/63/000.p/255"},
        {{true, 0, 0, 15}, "tile/entries/000.p/15"},
        {{true, 0, 1000000, 256}, "tile/entries/x001/x000/000"},
        {{true, 0, UINT64_MAX, 256}, "tile/entries/x018/x446/x744/x073/x709/x551/615"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[TILES_PATH_MAX];
        tiles_tile back;
        assert_int_equal(tiles_path(&cases[i].t, buf, sizeof buf), 0);
        assert_string_equal(buf, cases[i].path);
        assert_int_equal(tiles_path_parse(buf, &back), 0);
        assert_int_equal(back.entries, cases[i].t.entries);
        assert_int_equal(back.level, cases[i].t.level);
        assert_int_equal(back.index, cases[i].t.index);
        assert_int_equal(back.width, cases[i].t.width);
    }
    char small[8];
    tiles_tile t = {false, 0, 1234067, 256};
    assert_int_equal(tiles_path(&t, small, sizeof small), -ENOSPC);
    t.width = 0;
    assert_int_equal(tiles_path(&t, small, sizeof small), -EINVAL);
    t.width = 257;
    assert_int_equal(tiles_path(&t, small, sizeof small), -EINVAL);
    t.width = 1;
    t.level = 64;
    assert_int_equal(tiles_path(&t, small, sizeof small), -EINVAL);

    static const char *bad[] = {
        "",
        "tile",
        "tile/0",
        "tile/0/",
        "tile/0/00",
        "tile/0/0000",
        "tile/0/x000/001", /* not the shortest spelling */
        "tile/0/x001",
        "tile/0/x001/",
        "tile/0/001/",
        "tile/0/a01",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/015",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000.q/5",
        "tile/entries/000.p/1/",
        "tile/entry/000",
        "/tile/0/000",
        "tile/0/x019/x000/x000/x000/x000/x000/000", /* beyond 2^64 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tiles_path_parse(bad[i], &t) != -EINVAL)
            fail_msg("accepted tile path \"%s\"", bad[i]);
}

static void test_geometry(void **state)
{
    (void)state;
    /* The example of the tlog-tiles spec: a tree of 70,000 leaves. */
    uint64_t s = 70000;
    assert_int_equal(tiles_count(0, s), 274);
    assert_int_equal(tiles_width(0, 272, s), 256);
    assert_int_equal(tiles_width(0, 273, s), 112);
    assert_int_equal(tiles_width(0, 274, s), 0);
    assert_int_equal(tiles_count(1, s), 2);
    assert_int_equal(tiles_width(1, 0, s), 256);
    assert_int_equal(tiles_width(1, 1, s), 17);
    assert_int_equal(tiles_count(2, s), 1);
    assert_int_equal(tiles_width(2, 0, s), 1);
    assert_int_equal(tiles_count(3, s), 0);
    /* A tree of 256: one full level-0 tile and a level-1 partial of 1. */
    assert_int_equal(tiles_width(0, 0, 256), 256);
    assert_int_equal(tiles_width(0, 1, 256), 0);
    assert_int_equal(tiles_width(1, 0, 256), 1);
    assert_int_equal(tiles_count(0, 0), 0);
    assert_int_equal(tiles_width(0, 0, 0), 0);
    assert_int_equal(tiles_count(7, UINT64_MAX), 1);
    assert_int_equal(tiles_width(7, 0, UINT64_MAX), 255);
    assert_int_equal(tiles_count(8, UINT64_MAX), 0);
}

/* ---- entry bundles ----------------------------------------------------- */

static void test_bundles(void **state)
{
    (void)state;
    size_t cap = 3 * 2 + 1 + TILES_ENTRY_MAX + 1; /* three entries and one spare byte */
    uint8_t *buf = malloc(cap);
    uint8_t *big = malloc(TILES_ENTRY_MAX + 1);
    assert_non_null(buf);
    assert_non_null(big);
    memset(big, 0xab, TILES_ENTRY_MAX + 1);
    size_t len = 0;
    assert_int_equal(tiles_bundle_append(buf, cap, &len, "", 0), 0);
    assert_int_equal(tiles_bundle_append(buf, cap, &len, "x", 1), 0);
    assert_int_equal(tiles_bundle_append(buf, cap, &len, big, TILES_ENTRY_MAX), 0);
    assert_int_equal(len, cap - 1);
    assert_int_equal(tiles_bundle_append(buf, cap, &len, "", 0), -ENOSPC);
    assert_int_equal(tiles_bundle_append(buf, cap, &len, big, TILES_ENTRY_MAX + 1), -EINVAL);
    assert_int_equal(buf[0], 0);
    assert_int_equal(buf[1], 0);
    assert_int_equal(buf[3], 1);
    assert_int_equal(buf[4], 'x');
    assert_int_equal(buf[5], 0xff); /* big-endian 65535 */
    assert_int_equal(buf[6], 0xff);

    tiles_entry e[3];
    char err[256];
    assert_int_equal(tiles_bundle_split(buf, len, 3, e, err, sizeof err), 0);
    assert_int_equal(e[0].len, 0);
    assert_int_equal(e[1].len, 1);
    assert_memory_equal(e[1].data, "x", 1);
    assert_int_equal(e[2].len, TILES_ENTRY_MAX);
    assert_memory_equal(e[2].data, big, TILES_ENTRY_MAX);
    assert_int_equal(e[2].offset, 5);

    /* Every truncation is refused. */
    for (size_t cut = 0; cut < len; cut++) {
        err[0] = '\0';
        assert_int_equal(tiles_bundle_split(buf, cut, 3, e, err, sizeof err), -EBADMSG);
        assert_true(err[0] != '\0');
    }
    /* Fewer or more entries than the width, or trailing bytes. */
    assert_int_equal(tiles_bundle_split(buf, len, 2, e, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "after its 2 entries"));
    assert_int_equal(tiles_bundle_split(buf, 2, 1, e, err, sizeof err), 0); /* "" */
    assert_int_equal(tiles_bundle_split(buf, 5, 2, e, err, sizeof err), 0); /* "", "x" */
    assert_int_equal(tiles_bundle_split(buf, 3, 1, e, err, sizeof err), -EBADMSG);
    buf[len] = 0;
    assert_int_equal(tiles_bundle_split(buf, len + 1, 3, e, err, sizeof err), -EBADMSG);
    uint8_t two[] = {0, 1, 'a', 0, 1, 'b'};
    tiles_entry e4[4];
    assert_int_equal(tiles_bundle_split(two, sizeof two, 4, e4, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "holds 2 entries, expected 4"));
    assert_int_equal(tiles_bundle_split(two, sizeof two, 0, e4, err, sizeof err), -EINVAL);

    /* The iterator reads entry by entry, then reports the end. */
    size_t off = 0;
    tiles_entry one;
    assert_int_equal(tiles_bundle_next(two, sizeof two, &off, &one), 1);
    assert_int_equal(tiles_bundle_next(two, sizeof two, &off, &one), 1);
    assert_memory_equal(one.data, "b", 1);
    assert_int_equal(tiles_bundle_next(two, sizeof two, &off, &one), 0);
    off = 0;
    assert_int_equal(tiles_bundle_next(two, 4, &off, &one), 1);
    assert_int_equal(tiles_bundle_next(two, 4, &off, &one), -EBADMSG);
    free(buf);
    free(big);
}

/* ---- the Tessera log --------------------------------------------------- */

static void tessera_roots(uint8_t roots[16][H])
{
    note_verifier v;
    char err[256];
    assert_int_equal(note_verifier_parse(tessera_vkey, &v, err, sizeof err), 0);
    for (int n = 0; n <= 15; n++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tessera/log/checkpoint.%d", data_dir(), n);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        char msg[1024];
        size_t len = fread(msg, 1, sizeof msg, fp);
        fclose(fp);
        checkpoint cp;
        if (checkpoint_open(msg, len, &v, 1, &cp, err, sizeof err) != 0)
            fail_msg("%s: %s", path, err);
        assert_int_equal(cp.size, (uint64_t)n);
        memcpy(roots[n], cp.root, H);
    }
}

static void test_tessera_tiles(void **state)
{
    (void)state;
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tessera/log", data_dir());
    tiles_dir *d = NULL;
    if (tiles_dir_open(path, 0, &d, err, sizeof err) != 0)
        fail_msg("%s", err);
    uint8_t roots[16][H];
    tessera_roots(roots);

    /* The size-15 bundle holds the 15 entries; its leaf hashes are the
     * level-0 tile; each older partial is a prefix of both. */
    uint8_t *bundle = malloc(TILES_BUNDLE_MAX);
    assert_non_null(bundle);
    size_t len;
    assert_int_equal(tiles_dir_read(d, "tile/entries/000.p/15", bundle, TILES_BUNDLE_MAX, &len,
                                     err, sizeof err),
                     0);
    tiles_entry e[TILES_WIDTH];
    assert_int_equal(tiles_bundle_split(bundle, len, 15, e, err, sizeof err), 0);
    uint8_t hashes[15 * H], tile[15 * H];
    for (int i = 0; i < 15; i++) {
        assert_int_equal(e[i].len, strlen(tessera_entries[i]));
        assert_memory_equal(e[i].data, tessera_entries[i], e[i].len);
        merkle_hash_leaf(e[i].data, e[i].len, hashes + i * H);
    }
    tiles_tile t = {false, 0, 0, 15};
    assert_int_equal(tiles_dir_read_hashes(d, &t, tile, err, sizeof err), 0);
    assert_memory_equal(tile, hashes, sizeof tile);

    unsigned widths[255];
    size_t count;
    assert_int_equal(tiles_dir_partials(d, &t, widths, &count, err, sizeof err), 0);
    assert_int_equal(count, 15);
    tiles_tile te = {true, 0, 0, 15};
    assert_int_equal(tiles_dir_partials(d, &te, widths, &count, err, sizeof err), 0);
    assert_int_equal(count, 15);
    for (unsigned w = 1; w <= 15; w++) {
        assert_int_equal(widths[w - 1], w);
        uint8_t part[15 * H];
        tiles_tile pt = {false, 0, 0, w};
        assert_int_equal(tiles_dir_read_hashes(d, &pt, part, err, sizeof err), 0);
        assert_memory_equal(part, hashes, w * H);
        char rel[TILES_PATH_MAX];
        tiles_tile pe = {true, 0, 0, w};
        uint8_t pb[512];
        size_t pl;
        assert_int_equal(tiles_path(&pe, rel, sizeof rel), 0);
        assert_int_equal(tiles_dir_read(d, rel, pb, sizeof pb, &pl, err, sizeof err), 0);
        assert_int_equal(pl, e[w - 1].offset + 2 + e[w - 1].len);
        assert_memory_equal(pb, bundle, pl);
    }
    free(bundle);

    /* Proofs served from the tiles, at every size, verify against the
     * signed roots: every (size, index) and (size, older size). */
    unsigned proofs = 0;
    for (uint64_t n = 1; n <= 15; n++) {
        tiles_reader *r = NULL;
        uint8_t root[H], proof[MERKLE_MAX_PROOF * H];
        size_t pn;
        assert_int_equal(tiles_reader_create(d, n, &r), 0);
        assert_int_equal(merkle_root_from_store(n, tiles_reader_node, r, root), 0);
        assert_memory_equal(root, roots[n], H);
        for (uint64_t i = 0; i < n; i++) {
            if (merkle_prove_inclusion(i, n, tiles_reader_node, r, proof, MERKLE_MAX_PROOF,
                                       &pn) != 0)
                fail_msg("prove %llu in %llu: %s", (unsigned long long)i,
                         (unsigned long long)n, tiles_reader_error(r));
            assert_int_equal(merkle_verify_inclusion(i, n, hashes + i * H, proof, pn, roots[n],
                                                     err, sizeof err),
                             0);
            proofs++;
        }
        for (uint64_t m = 1; m <= n; m++) {
            assert_int_equal(merkle_prove_consistency(m, n, tiles_reader_node, r, proof,
                                                      MERKLE_MAX_PROOF, &pn),
                             0);
            assert_int_equal(
                merkle_verify_consistency(m, n, roots[m], roots[n], proof, pn, err, sizeof err),
                0);
            proofs++;
        }
        /* Nodes outside the tree are refused. */
        assert_int_equal(tiles_reader_node(r, 0, n, root), -EINVAL);
        tiles_reader_destroy(r);
    }
    assert_int_equal(proofs, 240);
    /* A reader beyond the log's tiles reports the missing file. */
    tiles_reader *r = NULL;
    uint8_t root[H];
    assert_int_equal(tiles_reader_create(d, 16, &r), 0);
    assert_int_equal(merkle_root_from_store(16, tiles_reader_node, r, root), -ENOENT);
    assert_non_null(strstr(tiles_reader_error(r), "tile/0/000.p/16"));
    tiles_reader_destroy(r);
    tiles_dir_destroy(d);
}

/* ---- the directory ----------------------------------------------------- */

static size_t count_files(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "find '%s' -type f | wc -l", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = 0;
    assert_int_equal(fscanf(p, "%zu", &n), 1);
    pclose(p);
    return n;
}

static void test_dir_io(void **state)
{
    (void)state;
    char *root = make_temp_dir();
    char path[1100], err[256];
    snprintf(path, sizeof path, "%s/log/prefix", root);
    tiles_dir *d = NULL;
    assert_int_equal(tiles_dir_open(path, 0, &d, err, sizeof err), -ENOENT);
    assert_int_equal(tiles_dir_open(path, TILES_DIR_CREATE, &d, err, sizeof err), 0);
    assert_string_equal(tiles_dir_path(d), path);

    uint8_t buf[64];
    size_t len;
    assert_int_equal(tiles_dir_write(d, "checkpoint", "hello\n", 6, err, sizeof err), 0);
    assert_int_equal(tiles_dir_read(d, "checkpoint", buf, sizeof buf, &len, err, sizeof err), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "hello\n", 6);
    /* Overwrite replaces. */
    assert_int_equal(tiles_dir_write(d, "checkpoint", "bye\n", 4, err, sizeof err), 0);
    assert_int_equal(tiles_dir_read(d, "checkpoint", buf, sizeof buf, &len, err, sizeof err), 0);
    assert_int_equal(len, 4);
    /* Parents are created; no temporary file stays behind. */
    uint8_t hashes[3 * H];
    memset(hashes, 7, sizeof hashes);
    tiles_tile t = {false, 1, 1234067, 3};
    assert_int_equal(tiles_dir_write_tile(d, &t, hashes, sizeof hashes, err, sizeof err), 0);
    assert_int_equal(count_files(root), 2);
    uint8_t back[3 * H];
    assert_int_equal(tiles_dir_read_hashes(d, &t, back, err, sizeof err), 0);
    assert_memory_equal(back, hashes, sizeof back);
    /* A tile of the wrong size, as written or as read. */
    assert_int_equal(tiles_dir_write_tile(d, &t, hashes, 2 * H, err, sizeof err), -EINVAL);
    tiles_tile wider = t;
    wider.width = 4;
    assert_int_equal(tiles_dir_write(d, "tile/1/x001/x234/067.p/4", hashes, sizeof hashes, err,
                                     sizeof err),
                     0);
    uint8_t four[4 * H];
    assert_int_equal(tiles_dir_read_hashes(d, &wider, four, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "96 bytes, expected 128"));
    tiles_tile narrower = t;
    narrower.width = 2;
    assert_int_equal(tiles_dir_write(d, "tile/1/x001/x234/067.p/2", hashes, sizeof hashes, err,
                                     sizeof err),
                     0);
    assert_int_equal(tiles_dir_read_hashes(d, &narrower, four, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "96 bytes, expected 64"));

    /* Partial widths present for the tile, in order; junk is reported. */
    unsigned widths[255];
    size_t count;
    assert_int_equal(tiles_dir_partials(d, &t, widths, &count, err, sizeof err), 0);
    assert_int_equal(count, 3);
    assert_int_equal(widths[0], 2);
    assert_int_equal(widths[1], 3);
    assert_int_equal(widths[2], 4);
    assert_int_equal(tiles_dir_write(d, "tile/1/x001/x234/067.p/07", "", 0, err, sizeof err), 0);
    assert_int_equal(tiles_dir_partials(d, &t, widths, &count, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "067.p/07"));
    tiles_tile none = {false, 0, 5, 256};
    assert_int_equal(tiles_dir_partials(d, &none, widths, &count, err, sizeof err), 0);
    assert_int_equal(count, 0);

    /* Missing files, size limits, names outside the directory. */
    assert_int_equal(tiles_dir_read(d, "tile/0/000", buf, sizeof buf, &len, err, sizeof err),
                     -ENOENT);
    assert_non_null(strstr(err, "tile/0/000: missing"));
    assert_int_equal(tiles_dir_read(d, "checkpoint", buf, 3, &len, err, sizeof err), -EFBIG);
    static const char *bad[] = {"", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/.", "a/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tiles_dir_read(d, bad[i], buf, sizeof buf, &len, err, sizeof err),
                         -EINVAL);
        assert_int_equal(tiles_dir_write(d, bad[i], "x", 1, err, sizeof err), -EINVAL);
    }
    /* A directory is not a file. */
    assert_int_equal(tiles_dir_read(d, "tile", buf, sizeof buf, &len, err, sizeof err), -EINVAL);
    tiles_dir_destroy(d);
    rm_tree(root);
    free(root);
}

/* ---- a 70,000-entry log built with the library ------------------------- */

typedef struct builder {
    tiles_dir *d;
    merkle_frontier *f;
    uint8_t *bundle;
    size_t bundle_len;
    uint8_t level[8][TILES_HASH_TILE_MAX]; /* hashes of each level's open tile */
} builder;

static int builder_emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    builder *b = ctx;
    if (level % TILES_HEIGHT != 0)
        return 0;
    unsigned tl = level / TILES_HEIGHT;
    memcpy(b->level[tl] + (index % TILES_WIDTH) * H, hash, H);
    if (index % TILES_WIDTH == TILES_WIDTH - 1) {
        tiles_tile t = {false, tl, index / TILES_WIDTH, TILES_WIDTH};
        return tiles_dir_write_tile(b->d, &t, b->level[tl], TILES_HASH_TILE_MAX, NULL, 0);
    }
    return 0;
}

static void builder_add(builder *b, const void *entry, size_t len)
{
    uint8_t leaf[H];
    uint64_t index = merkle_frontier_size(b->f);
    merkle_hash_leaf(entry, len, leaf);
    assert_int_equal(tiles_bundle_append(b->bundle, TILES_BUNDLE_MAX, &b->bundle_len, entry, len),
                     0);
    assert_int_equal(merkle_frontier_append(b->f, leaf, builder_emit, b), 0);
    if (index % TILES_WIDTH == TILES_WIDTH - 1) {
        tiles_tile t = {true, 0, index / TILES_WIDTH, TILES_WIDTH};
        assert_int_equal(tiles_dir_write_tile(b->d, &t, b->bundle, b->bundle_len, NULL, 0), 0);
        b->bundle_len = 0;
    }
}

/* Writes the partial tiles of the current size. */
static void builder_publish(builder *b)
{
    uint64_t size = merkle_frontier_size(b->f);
    for (unsigned tl = 0; tl < 8; tl++) {
        uint64_t n = tiles_count(tl, size);
        if (n == 0)
            break;
        unsigned w = tiles_width(tl, n - 1, size);
        if (w == TILES_WIDTH)
            continue;
        tiles_tile t = {false, tl, n - 1, w};
        assert_int_equal(tiles_dir_write_tile(b->d, &t, b->level[tl], (size_t)w * H, NULL, 0), 0);
        if (tl == 0) {
            tiles_tile e = {true, 0, n - 1, w};
            assert_int_equal(tiles_dir_write_tile(b->d, &e, b->bundle, b->bundle_len, NULL, 0),
                             0);
        }
    }
}

static void test_built_log(void **state)
{
    (void)state;
    enum { N = 70000 };
    static const uint64_t published[] = {1, 255, 256, 257, 1000, 65535, 65536, 65537, N};
    char *root = make_temp_dir();
    char err[256];
    builder *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->bundle = malloc(TILES_BUNDLE_MAX);
    assert_non_null(b->bundle);
    assert_int_equal(tiles_dir_open(root, TILES_DIR_NO_SYNC, &b->d, err, sizeof err), 0);
    assert_int_equal(merkle_frontier_create(&b->f), 0);
    uint8_t *leaves = malloc((size_t)N * H);
    assert_non_null(leaves);
    uint8_t roots[sizeof published / sizeof published[0]][H];
    size_t next = 0;
    for (uint64_t i = 0; i < N; i++) {
        char entry[64];
        int len = snprintf(entry, sizeof entry, "entry %llu", (unsigned long long)i);
        merkle_hash_leaf(entry, (size_t)len, leaves + i * H);
        builder_add(b, entry, (size_t)len);
        if (i + 1 == published[next]) {
            builder_publish(b);
            merkle_frontier_root(b->f, roots[next]);
            next++;
        }
    }
    assert_int_equal(next, sizeof published / sizeof published[0]);

    /* The files the spec lists for this size exist. */
    char rel[TILES_PATH_MAX];
    uint8_t buf[TILES_HASH_TILE_MAX];
    size_t len;
    static const char *expected[] = {"tile/0/272", "tile/0/273.p/112", "tile/1/000",
                                     "tile/1/001.p/17", "tile/2/000.p/1", "tile/entries/272",
                                     "tile/entries/273.p/112"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (tiles_dir_read(b->d, expected[i], buf, sizeof buf, &len, err, sizeof err) != 0)
            fail_msg("%s", err);
    tiles_tile none = {false, 3, 0, 1};
    assert_int_equal(tiles_path(&none, rel, sizeof rel), 0);
    assert_int_equal(tiles_dir_read(b->d, rel, buf, sizeof buf, &len, err, sizeof err), -ENOENT);

    /* Roots, inclusion and consistency proofs from the tiles at each
     * published size match the builder's roots and the leaves. */
    for (size_t k = 0; k < sizeof published / sizeof published[0]; k++) {
        uint64_t size = published[k];
        tiles_reader *r = NULL;
        uint8_t got[H], proof[MERKLE_MAX_PROOF * H];
        size_t n;
        assert_int_equal(tiles_reader_create(b->d, size, &r), 0);
        if (merkle_root_from_store(size, tiles_reader_node, r, got) != 0)
            fail_msg("root at %llu: %s", (unsigned long long)size, tiles_reader_error(r));
        assert_memory_equal(got, roots[k], H);
        assert_int_equal(merkle_root(leaves, size, got), 0);
        assert_memory_equal(got, roots[k], H);
        const uint64_t idx[] = {0, 1, 255, 256, size / 3, size - 2, size - 1};
        for (size_t j = 0; j < sizeof idx / sizeof idx[0]; j++) {
            if (idx[j] >= size)
                continue;
            assert_int_equal(merkle_prove_inclusion(idx[j], size, tiles_reader_node, r, proof,
                                                    MERKLE_MAX_PROOF, &n),
                             0);
            assert_int_equal(merkle_verify_inclusion(idx[j], size, leaves + idx[j] * H, proof, n,
                                                     roots[k], err, sizeof err),
                             0);
        }
        for (size_t j = 0; j <= k; j++) {
            assert_int_equal(merkle_prove_consistency(published[j], size, tiles_reader_node, r,
                                                      proof, MERKLE_MAX_PROOF, &n),
                             0);
            assert_int_equal(merkle_verify_consistency(published[j], size, roots[j], roots[k],
                                                       proof, n, err, sizeof err),
                             0);
        }
        tiles_reader_destroy(r);
    }

    /* Once a partial tile is gone, the reader falls back on the full one. */
    char gone[1100];
    snprintf(gone, sizeof gone, "%s/tile/0/000.p/255", root);
    assert_int_equal(unlink(gone), 0);
    tiles_reader *r = NULL;
    uint8_t got[H];
    assert_int_equal(tiles_reader_create(b->d, 255, &r), 0);
    assert_int_equal(merkle_root_from_store(255, tiles_reader_node, r, got), 0);
    assert_memory_equal(got, roots[1], H);
    tiles_reader_destroy(r);

    merkle_frontier_destroy(b->f);
    tiles_dir_destroy(b->d);
    free(b->bundle);
    free(b);
    free(leaves);
    rm_tree(root);
    free(root);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),         cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_bundles),       cmocka_unit_test(test_tessera_tiles),
        cmocka_unit_test(test_dir_io),        cmocka_unit_test(test_built_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
