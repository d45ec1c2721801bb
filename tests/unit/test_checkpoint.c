/* test_checkpoint.c — tlog-checkpoint text: the Tessera checkpoints as known
 * answers (signature, size, root recomputed from the entries), strictness. */
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

static const char tessera_vkey[] =
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
static const char tessera_skey[] =
    "PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg";
/* The entries of the Tessera test log, in order (its own spelling). */
static const char *tessera_entries[15] = {"one",    "two",    "three",    "four",    "five",
                                          "six",    "seven",  "eit",      "nain",    "ten",
                                          "ileven", "twelf",  "threeten", "fourten", "fivten"};

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

static void test_tessera_checkpoints(void **state)
{
    (void)state;
    note_verifier v;
    note_signer *s = NULL;
    char err[256];
    assert_int_equal(note_verifier_parse(tessera_vkey, &v, err, sizeof err), 0);
    assert_int_equal(note_signer_create(tessera_skey, &s, err, sizeof err), 0);
    uint8_t leaves[15 * MERKLE_HASH_SIZE];
    for (int i = 0; i < 15; i++)
        merkle_hash_leaf(tessera_entries[i], strlen(tessera_entries[i]),
                         leaves + i * MERKLE_HASH_SIZE);

    for (int n = 0; n <= 15; n++) {
        char rel[64];
        size_t len;
        snprintf(rel, sizeof rel, "tessera/log/checkpoint.%d", n);
        char *msg = read_data(rel, &len);
        checkpoint cp;
        if (checkpoint_open(msg, len, &v, 1, &cp, err, sizeof err) != 0)
            fail_msg("%s: %s", rel, err);
        assert_string_equal(cp.origin, "example.com/log/testdata");
        assert_int_equal(cp.size, (uint64_t)n);
        assert_null(cp.extensions);
        assert_int_equal(cp.extensions_len, 0);
        /* The signed root is the root of the first n entries. */
        uint8_t root[MERKLE_HASH_SIZE];
        assert_int_equal(merkle_root(leaves, (uint64_t)n, root), 0);
        assert_memory_equal(cp.root, root, MERKLE_HASH_SIZE);

        /* Format gives back the text; signing it gives back the file. */
        char text[CHECKPOINT_TEXT_MAX + 1], out[1024];
        size_t text_len, out_len;
        assert_int_equal(checkpoint_format(&cp, text, sizeof text, &text_len), 0);
        assert_memory_equal(text, msg, text_len);
        assert_int_equal(msg[text_len], '\n'); /* then the blank line */
        assert_int_equal(checkpoint_sign(&cp, s, out, sizeof out, &out_len, err, sizeof err), 0);
        assert_int_equal(out_len, len);
        assert_memory_equal(out, msg, len);
        free(msg);
    }
    /* checkpoint.0 is the empty tree. */
    size_t len;
    char *msg = read_data("tessera/log/checkpoint.0", &len);
    checkpoint cp;
    uint8_t empty[MERKLE_HASH_SIZE];
    assert_int_equal(checkpoint_open(msg, len, &v, 1, &cp, err, sizeof err), 0);
    merkle_hash_empty(empty);
    assert_memory_equal(cp.root, empty, MERKLE_HASH_SIZE);
    free(msg);
    note_signer_destroy(s);
}

#define ROOT "rKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs="

static void test_parse_strict(void **state)
{
    (void)state;
    checkpoint cp;
    char err[256];
    const char *good = "example.com/log\n15\n" ROOT "\n";
    assert_int_equal(checkpoint_parse(good, strlen(good), &cp, err, sizeof err), 0);
    assert_int_equal(cp.size, 15);

    const char *max = "o\n18446744073709551615\n" ROOT "\n";
    assert_int_equal(checkpoint_parse(max, strlen(max), &cp, err, sizeof err), 0);
    assert_int_equal(cp.size, UINT64_MAX);

    const char *ext = "o\n0\n" ROOT "\nfirst ext\nsecond ext\n";
    assert_int_equal(checkpoint_parse(ext, strlen(ext), &cp, err, sizeof err), 0);
    assert_int_equal(cp.extensions_len, strlen("first ext\nsecond ext\n"));
    assert_memory_equal(cp.extensions, "first ext\nsecond ext\n", cp.extensions_len);
    char buf[512];
    size_t len;
    assert_int_equal(checkpoint_format(&cp, buf, sizeof buf, &len), 0);
    assert_int_equal(len, strlen(ext));
    assert_memory_equal(buf, ext, len);
    assert_int_equal(checkpoint_format(&cp, buf, 20, &len), -ENOSPC);

    static const char *bad[] = {
        "",
        "example.com/log\n",
        "example.com/log\n15\n",
        "example.com/log\n15\n" ROOT,                       /* no final newline */
        "\n15\n" ROOT "\n",                                 /* empty origin */
        "example.com/log\n015\n" ROOT "\n",                 /* leading zero */
        "example.com/log\n00\n" ROOT "\n",
        "example.com/log\n+15\n" ROOT "\n",
        "example.com/log\n-1\n" ROOT "\n",
        "example.com/log\n 15\n" ROOT "\n",
        "example.com/log\n15 \n" ROOT "\n",
        "example.com/log\n\n" ROOT "\n",
        "example.com/log\n18446744073709551616\n" ROOT "\n", /* 2^64 */
        "example.com/log\n99999999999999999999\n" ROOT "\n",
        "example.com/log\n0x1\n" ROOT "\n",
        "example.com/log\n15\nrKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs\n",   /* unpadded */
        "example.com/log\n15\nrKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383ct=\n",  /* pad bits */
        "example.com/log\n15\nrKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383c==\n",  /* 31 bytes */
        "example.com/log\n15\nrKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383csAA==\n", /* 33 */
        "example.com/log\n15\nrKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja_1nk427v383cs=\n",  /* url b64 */
        "example.com/log\n15\n" ROOT "\n\n",                 /* empty extension line */
        "example.com/log\n15\n" ROOT "\next\n\nmore\n",
        "example.com/log\n15\n" ROOT "\next",                /* unterminated extension */
        "example.com/log\r\n15\n" ROOT "\n",                 /* CR */
        "example.com/\x01log\n15\n" ROOT "\n",               /* control character */
        "example.com/\xfflog\n15\n" ROOT "\n",               /* invalid UTF-8 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (checkpoint_parse(bad[i], strlen(bad[i]), &cp, err, sizeof err) != -EINVAL)
            fail_msg("accepted bad checkpoint %zu: %s", i, bad[i]);
        assert_true(err[0] != '\0');
    }
    /* A NUL inside is not text either. */
    const char nul[] = "example.com/log\n1\0\n" ROOT "\n";
    assert_int_equal(checkpoint_parse(nul, sizeof nul - 1, &cp, err, sizeof err), -EINVAL);

    /* Origins longer than CHECKPOINT_ORIGIN_MAX are refused, not cut. */
    char longer[CHECKPOINT_ORIGIN_MAX + 80];
    memset(longer, 'o', CHECKPOINT_ORIGIN_MAX + 1);
    snprintf(longer + CHECKPOINT_ORIGIN_MAX + 1, 70, "\n1\n%s\n", ROOT);
    assert_int_equal(checkpoint_parse(longer, strlen(longer), &cp, err, sizeof err), -EINVAL);

    /* Format refuses what parse would refuse. */
    checkpoint f = {.size = 1};
    assert_int_equal(checkpoint_format(&f, buf, sizeof buf, &len), -EINVAL); /* no origin */
    snprintf(f.origin, sizeof f.origin, "two\nlines");
    assert_int_equal(checkpoint_format(&f, buf, sizeof buf, &len), -EINVAL);
    snprintf(f.origin, sizeof f.origin, "ok");
    f.extensions = "no newline";
    f.extensions_len = strlen(f.extensions);
    assert_int_equal(checkpoint_format(&f, buf, sizeof buf, &len), -EINVAL);
    f.extensions = "\n";
    f.extensions_len = 1;
    assert_int_equal(checkpoint_format(&f, buf, sizeof buf, &len), -EINVAL);
}

static void test_open_rejects(void **state)
{
    (void)state;
    note_verifier v;
    char err[256];
    size_t len;
    assert_int_equal(note_verifier_parse(tessera_vkey, &v, err, sizeof err), 0);
    char *msg = read_data("tessera/log/checkpoint", &len);
    checkpoint cp;
    /* A signed note whose text is not a checkpoint is refused after the
     * signature has been checked. */
    note_signer *s = NULL;
    assert_int_equal(note_signer_create(tessera_skey, &s, err, sizeof err), 0);
    char out[1024];
    size_t out_len;
    const char *text = "example.com/log/testdata\n015\n" ROOT "\n";
    assert_int_equal(note_sign(s, text, strlen(text), out, sizeof out, &out_len, err, sizeof err),
                     0);
    assert_int_equal(checkpoint_open(out, out_len, &v, 1, &cp, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "line 2"));
    /* Every single flipped bit of the published checkpoint is rejected. */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            msg[i] ^= (char)(1 << bit);
            int rc = checkpoint_open(msg, len, &v, 1, &cp, err, sizeof err);
            if (rc == 0)
                fail_msg("accepted with bit %d of byte %zu flipped", bit, i);
            msg[i] ^= (char)(1 << bit);
        }
    }
    assert_int_equal(checkpoint_open(msg, len, &v, 1, &cp, err, sizeof err), 0);
    note_signer_destroy(s);
    free(msg);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tessera_checkpoints),
        cmocka_unit_test(test_parse_strict),
        cmocka_unit_test(test_open_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
