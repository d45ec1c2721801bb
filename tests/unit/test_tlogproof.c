/* test_tlogproof.c — c2sp.org/tlog-proof@v1 files: fixtures made by an
 * independent implementation (tests/data/tlogproof/gen.py) are generated
 * byte for byte from the Tessera tiles and verify; strict parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tallinn/checkpoint.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"
#include "tallinn/tiles.h"
#include "tallinn/tlogproof.h"

#define H MERKLE_HASH_SIZE

static const char tessera_vkey[] =
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";

static char *read_data(const char *rel, size_t *len)
{
    const char *dir = getenv("TALLINN_TEST_DATA");
    if (!dir || !*dir)
        fail_msg("TALLINN_TEST_DATA is not set");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("%s: %s", path, strerror(errno));
    char *buf = malloc(65536);
    assert_non_null(buf);
    *len = fread(buf, 1, 65535, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

static note_verifier verifier(void)
{
    note_verifier v;
    char err[256];
    assert_int_equal(note_verifier_parse(tessera_vkey, &v, err, sizeof err), 0);
    return v;
}

/* A proof made with the library from the Tessera tiles and checkpoint.N. */
static char *make_proof(uint64_t index, uint64_t size, const char *extra, size_t *out_len)
{
    char err[256], path[1024], rel[64];
    snprintf(path, sizeof path, "%s/tessera/log", getenv("TALLINN_TEST_DATA"));
    tiles_dir *d = NULL;
    tiles_reader *r = NULL;
    assert_int_equal(tiles_dir_open(path, 0, &d, err, sizeof err), 0);
    assert_int_equal(tiles_reader_create(d, size, &r), 0);
    tlogproof p;
    memset(&p, 0, sizeof p);
    p.index = index;
    assert_int_equal(merkle_prove_inclusion(index, size, tiles_reader_node, r, p.hashes,
                                            TLOGPROOF_MAX_HASHES, &p.hash_count),
                     0);
    snprintf(rel, sizeof rel, "tessera/log/checkpoint.%llu", (unsigned long long)size);
    p.checkpoint = read_data(rel, &p.checkpoint_len);
    if (extra) {
        p.extra = (uint8_t *)extra;
        p.extra_len = strlen(extra);
    }
    char *out = NULL;
    assert_int_equal(tlogproof_format(&p, &out, out_len), 0);
    free(p.checkpoint);
    tiles_reader_destroy(r);
    tiles_dir_destroy(d);
    return out;
}

static void test_fixtures(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint64_t index, size;
        const char *extra;
        size_t hashes;
    } fx[] = {
        {"tessera-7", 7, 15, NULL, 4},
        {"tessera-14", 14, 15, NULL, 3},
        {"tessera-0-size1", 0, 1, NULL, 0},
        {"tessera-3-size5-extra", 3, 5, "tallinn extra data", 3},
    };
    note_verifier v = verifier();
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        char rel[128], err[256];
        size_t len, entry_len, made_len;
        snprintf(rel, sizeof rel, "tlogproof/%s.tlog-proof", fx[i].name);
        char *file = read_data(rel, &len);
        snprintf(rel, sizeof rel, "tlogproof/%s.entry", fx[i].name);
        char *entry = read_data(rel, &entry_len);

        char *made = make_proof(fx[i].index, fx[i].size, fx[i].extra, &made_len);
        assert_int_equal(made_len, len);
        assert_memory_equal(made, file, len);
        free(made);

        tlogproof *p = NULL;
        if (tlogproof_parse(file, len, &p, err, sizeof err) != 0)
            fail_msg("%s: %s", fx[i].name, err);
        assert_int_equal(p->index, fx[i].index);
        assert_int_equal(p->hash_count, fx[i].hashes);
        if (fx[i].extra) {
            assert_int_equal(p->extra_len, strlen(fx[i].extra));
            assert_memory_equal(p->extra, fx[i].extra, p->extra_len);
        } else {
            assert_null(p->extra);
        }
        uint8_t leaf[H];
        merkle_hash_leaf(entry, entry_len, leaf);
        checkpoint cp;
        if (tlogproof_verify(p, &v, 1, leaf, &cp, err, sizeof err) != 0)
            fail_msg("%s: %s", fx[i].name, err);
        assert_int_equal(cp.size, fx[i].size);
        assert_int_equal(tlogproof_verify(p, &v, 1, NULL, NULL, err, sizeof err), 0);

        /* Formatting the parsed proof gives the file back. */
        char *again = NULL;
        size_t again_len;
        assert_int_equal(tlogproof_format(p, &again, &again_len), 0);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, file, len);
        free(again);

        /* Wrong entry, wrong key, every corrupted hash. */
        leaf[0] ^= 1;
        assert_int_equal(tlogproof_verify(p, &v, 1, leaf, NULL, err, sizeof err), -EBADMSG);
        leaf[0] ^= 1;
        note_verifier other = v;
        other.key_id ^= 1;
        assert_int_equal(tlogproof_verify(p, &other, 1, leaf, NULL, err, sizeof err), -ENOKEY);
        assert_non_null(strstr(err, "signature not verified by key"));
        for (size_t h = 0; h < p->hash_count; h++) {
            p->hashes[h * H + 9] ^= 0x40;
            assert_int_equal(tlogproof_verify(p, &v, 1, leaf, NULL, err, sizeof err), -EBADMSG);
            p->hashes[h * H + 9] ^= 0x40;
        }
        /* Without the entry, the proof's length is still checked. */
        if (p->hash_count > 0) {
            p->hash_count--;
            assert_int_equal(tlogproof_verify(p, &v, 1, NULL, NULL, err, sizeof err), -EBADMSG);
            p->hash_count++;
        }
        p->index = fx[i].size;
        assert_int_equal(tlogproof_verify(p, &v, 1, leaf, NULL, err, sizeof err), -EBADMSG);
        assert_non_null(strstr(err, "not below"));
        tlogproof_destroy(p);
        free(entry);
        free(file);
    }
}

/* Every entry of the size-15 tree round-trips through the file format. */
static void test_all_entries(void **state)
{
    (void)state;
    note_verifier v = verifier();
    size_t blen;
    char *bundle = read_data("tessera/log/tile/entries/000.p/15", &blen);
    tiles_entry e[15];
    char err[256];
    assert_int_equal(tiles_bundle_split((const uint8_t *)bundle, blen, 15, e, err, sizeof err),
                     0);
    for (uint64_t i = 0; i < 15; i++) {
        size_t len;
        char *text = make_proof(i, 15, NULL, &len);
        tlogproof *p = NULL;
        assert_int_equal(tlogproof_parse(text, len, &p, err, sizeof err), 0);
        uint8_t leaf[H];
        merkle_hash_leaf(e[i].data, e[i].len, leaf);
        assert_int_equal(tlogproof_verify(p, &v, 1, leaf, NULL, err, sizeof err), 0);
        /* Another entry's leaf does not verify at this index. */
        merkle_hash_leaf(e[(i + 1) % 15].data, e[(i + 1) % 15].len, leaf);
        assert_int_equal(tlogproof_verify(p, &v, 1, leaf, NULL, err, sizeof err), -EBADMSG);
        tlogproof_destroy(p);
        free(text);
    }
    free(bundle);
}

static void test_parse_strict(void **state)
{
    (void)state;
    size_t len;
    char *file = read_data("tlogproof/tessera-7.tlog-proof", &len);
    const char *cp = strstr(file, "\n\nexample.com") + 2;
    const char *h1 = "2Q0P5jSR+TdkwdXWyx+GbBWX0KZbNZkWzCjyTPSozsw=";
    char buf[4096], err[256];
    tlogproof *p = NULL;
    struct {
        const char *what, *head;
    } cases[] = {
        {"no header", "index 7\n%s\n\n"},
        {"old header", "c2sp.org/tlog-proof@v0\nindex 7\n%s\n\n"},
        {"header with space", "c2sp.org/tlog-proof@v1 \nindex 7\n%s\n\n"},
        {"leading zero", "c2sp.org/tlog-proof@v1\nindex 07\n%s\n\n"},
        {"negative", "c2sp.org/tlog-proof@v1\nindex -7\n%s\n\n"},
        {"no index", "c2sp.org/tlog-proof@v1\n%s\n\n"},
        {"index tab", "c2sp.org/tlog-proof@v1\nindex\t7\n%s\n\n"},
        {"index overflow", "c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n%s\n\n"},
        {"empty extra", "c2sp.org/tlog-proof@v1\nextra \nindex 7\n%s\n\n"},
        {"bad extra", "c2sp.org/tlog-proof@v1\nextra !!!!\nindex 7\n%s\n\n"},
        {"extra after index", "c2sp.org/tlog-proof@v1\nindex 7\nextra AAAA\n%s\n\n"},
        {"two extras", "c2sp.org/tlog-proof@v1\nextra AAAA\nextra AAAA\nindex 7\n%s\n\n"},
        {"short hash", "c2sp.org/tlog-proof@v1\nindex 7\n%.40s\n\n"},
        {"hash with space", "c2sp.org/tlog-proof@v1\nindex 7\n %s\n\n"},
        {"no blank line", "c2sp.org/tlog-proof@v1\nindex 7\n%s\n"},
        {"CRLF", "c2sp.org/tlog-proof@v1\r\nindex 7\r\n%s\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = snprintf(buf, sizeof buf, cases[i].head, h1);
        assert_true(n > 0);
        strcat(buf, cp);
        err[0] = '\0';
        p = NULL;
        if (tlogproof_parse(buf, strlen(buf), &p, err, sizeof err) != -EINVAL)
            fail_msg("accepted: %s", cases[i].what);
        assert_null(p);
        assert_true(err[0] != '\0');
    }
    /* The same head with a good hash parses (the cases differ in one way). */
    snprintf(buf, sizeof buf, "c2sp.org/tlog-proof@v1\nextra AAAA\nindex 7\n%s\n\n%s", h1, cp);
    assert_int_equal(tlogproof_parse(buf, strlen(buf), &p, err, sizeof err), 0);
    assert_int_equal(p->extra_len, 3);
    tlogproof_destroy(p);

    /* Pad bits in a hash, a missing or broken checkpoint, too many hashes. */
    snprintf(buf, sizeof buf, "c2sp.org/tlog-proof@v1\nindex 7\n%.42st=\n\n%s", h1, cp);
    assert_int_equal(tlogproof_parse(buf, strlen(buf), &p, err, sizeof err), -EINVAL);
    snprintf(buf, sizeof buf, "c2sp.org/tlog-proof@v1\nindex 7\n%s\n\n", h1);
    assert_int_equal(tlogproof_parse(buf, strlen(buf), &p, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "missing checkpoint"));
    snprintf(buf, sizeof buf, "c2sp.org/tlog-proof@v1\nindex 7\n%s\n\nnot a checkpoint\n", h1);
    assert_int_equal(tlogproof_parse(buf, strlen(buf), &p, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "checkpoint"));
    size_t used = (size_t)snprintf(buf, sizeof buf, "c2sp.org/tlog-proof@v1\nindex 7\n");
    for (int i = 0; i < TLOGPROOF_MAX_HASHES + 1; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s\n", h1);
    snprintf(buf + used, sizeof buf - used, "\n%s", cp);
    assert_int_equal(tlogproof_parse(buf, strlen(buf), &p, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "more than 64"));
    /* Truncating the file anywhere is refused. */
    for (size_t cut = 0; cut < len; cut++) {
        p = NULL;
        assert_int_equal(tlogproof_parse(file, cut, &p, err, sizeof err), -EINVAL);
        assert_null(p);
    }
    free(file);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_all_entries),
        cmocka_unit_test(test_parse_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
