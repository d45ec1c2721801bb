/* test_tlogwitness.c — the tlog-witness add-checkpoint body (strict parse,
 * format), the 409 size body, and every status code of the witness's
 * decision, on the Tessera test log's signed checkpoints and real
 * consistency proofs from its tiles. */
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
#include "tallinn/tlogwitness.h"

#define H MERKLE_HASH_SIZE

static const char tessera_vkey[] =
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
static const char tessera_skey[] =
    "PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg";

static char *read_data(const char *rel, size_t *len)
{
    char path[1024];
    const char *d = getenv("TALLINN_TEST_DATA");
    if (!d || !*d)
        fail_msg("TALLINN_TEST_DATA is not set");
    snprintf(path, sizeof path, "%s/%s", d, rel);
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

static char *cp_file(unsigned n, size_t *len)
{
    char rel[64];
    snprintf(rel, sizeof rel, "tessera/log/checkpoint.%u", n);
    return read_data(rel, len);
}

static void root_of(unsigned n, uint8_t root[H])
{
    size_t len;
    char *note = cp_file(n, &len);
    note_verifier v;
    checkpoint cp;
    assert_int_equal(note_verifier_parse(tessera_vkey, &v, NULL, 0), 0);
    assert_int_equal(checkpoint_open(note, len, &v, 1, &cp, NULL, 0), 0);
    memcpy(root, cp.root, H);
    free(note);
}

/* The consistency proof m -> n from the Tessera log's tiles. */
static size_t proof_of(uint64_t m, uint64_t n, uint8_t *proof)
{
    char dir[1024];
    tiles_dir *d = NULL;
    tiles_reader *r = NULL;
    size_t count = 0;
    snprintf(dir, sizeof dir, "%s/tessera/log", getenv("TALLINN_TEST_DATA"));
    assert_int_equal(tiles_dir_open(dir, 0, &d, NULL, 0), 0);
    assert_int_equal(tiles_reader_create(d, n, &r), 0);
    assert_int_equal(
        merkle_prove_consistency(m, n, tiles_reader_node, r, proof, MERKLE_MAX_PROOF, &count), 0);
    tiles_reader_destroy(r);
    tiles_dir_destroy(d);
    return count;
}

/* ---- the request body ---------------------------------------------------- */

static void test_request_roundtrip(void **state)
{
    (void)state;
    size_t len, blen;
    char *note = cp_file(13, &len), *body = NULL;
    uint8_t proof[MERKLE_MAX_PROOF * H];
    size_t n = proof_of(5, 13, proof);
    assert_true(n > 0);
    assert_int_equal(tlogwitness_request_format(5, proof, n, note, len, &body, &blen), 0);
    assert_memory_equal(body, "old 5\n", 6);
    tlogwitness_request *r = malloc(sizeof *r);
    assert_non_null(r);
    char err[256];
    assert_int_equal(tlogwitness_request_parse(body, blen, r, err, sizeof err), 0);
    assert_int_equal(r->old_size, 5);
    assert_int_equal(r->proof_count, n);
    assert_memory_equal(r->proof, proof, n * H);
    assert_int_equal(r->checkpoint_len, len);
    assert_memory_equal(r->checkpoint, note, len);
    free(body);
    /* old 0, no proof: "old 0\n\n" then the checkpoint. */
    assert_int_equal(tlogwitness_request_format(0, NULL, 0, note, len, &body, &blen), 0);
    assert_memory_equal(body, "old 0\n\n", 7);
    assert_int_equal(tlogwitness_request_parse(body, blen, r, err, sizeof err), 0);
    assert_int_equal(r->proof_count, 0);
    free(body);
    assert_int_equal(tlogwitness_request_format(0, proof, 64, note, len, &body, &blen), -EINVAL);
    free(r);
    free(note);
}

static void test_request_strict(void **state)
{
    (void)state;
    static const char hash[] = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n";
    static const char *bad[] = {
        "",
        "old 5",                       /* no newline */
        "old 05\n\nx\n",               /* leading zero */
        "old -1\n\nx\n",
        "old  5\n\nx\n",
        "Old 5\n\nx\n",
        "old 5 \n\nx\n",
        "old 18446744073709551616\n\nx\n", /* 2^64 */
        "old 5\r\n\nx\n",
        "old 5\nx\n",                  /* no empty line */
        "old 5\n\n",                   /* no checkpoint */
        "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw\n\nx\n",    /* unpadded */
        "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpka==\n\nx\n",   /* 31 bytes */
        "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\r\n\nx\n", /* CR */
        "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n",         /* ends in proof */
    };
    tlogwitness_request *r = malloc(sizeof *r);
    assert_non_null(r);
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tlogwitness_request_parse(bad[i], strlen(bad[i]), r, err, sizeof err) != -EINVAL)
            fail_msg("accepted bad body %zu: %s", i, bad[i]);
    /* 63 proof lines parse, 64 do not. */
    char body[64 * 45 + 64];
    for (int lines = 63; lines <= 64; lines++) {
        size_t used = (size_t)snprintf(body, sizeof body, "old 1\n");
        for (int i = 0; i < lines; i++)
            used += (size_t)snprintf(body + used, sizeof body - used, "%s", hash);
        used += (size_t)snprintf(body + used, sizeof body - used, "\nx\n");
        int rc = tlogwitness_request_parse(body, used, r, err, sizeof err);
        assert_int_equal(rc, lines == 63 ? 0 : -EINVAL);
    }
    assert_int_equal(r->proof_count, 63);
    free(r);
}

static void test_size_body(void **state)
{
    (void)state;
    char buf[32];
    size_t len;
    uint64_t v;
    assert_int_equal(tlogwitness_size_format(20852014, buf, sizeof buf, &len), 0);
    assert_string_equal(buf, "20852014\n");
    assert_int_equal(tlogwitness_size_parse(buf, len, &v), 0);
    assert_int_equal(v, 20852014);
    assert_int_equal(tlogwitness_size_parse("0\n", 2, &v), 0);
    assert_int_equal(v, 0);
    static const char *bad[] = {"", "\n", "5", "05\n", "5\n\n", " 5\n", "5 \n", "-5\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tlogwitness_size_parse(bad[i], strlen(bad[i]), &v), -EINVAL);
    char h[TLOGWITNESS_ORIGIN_HASH_HEX + 1];
    tlogwitness_origin_hash("", h); /* SHA-256("") */
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- the decision ------------------------------------------------------------ */

typedef struct fake_witness {
    note_verifier key;
    uint64_t size;
    uint8_t root[H];
    int fail; /* the lookup itself fails */
} fake_witness;

static int lookup(void *ctx, const char *origin, tlogwitness_log *log)
{
    fake_witness *w = ctx;
    if (w->fail)
        return -EIO;
    if (strcmp(origin, "example.com/log/testdata") != 0)
        return -ENOENT;
    log->keys = &w->key;
    log->key_count = 1;
    log->size = w->size;
    memcpy(log->root, w->root, H);
    return 0;
}

static fake_witness witness_at(unsigned n)
{
    fake_witness w = {0};
    assert_int_equal(note_verifier_parse(tessera_vkey, &w.key, NULL, 0), 0);
    w.size = n;
    if (n > 0)
        root_of(n, w.root);
    else
        merkle_hash_empty(w.root);
    return w;
}

/* Submits checkpoint.n (or `note`) with old size and proof m -> n. */
static tlogwitness_decision submit(fake_witness *w, uint64_t old, const char *note, size_t len,
                                   const uint8_t *proof, size_t count)
{
    tlogwitness_decision d;
    char *body = NULL;
    size_t blen;
    assert_int_equal(tlogwitness_request_format(old, proof, count, note, len, &body, &blen), 0);
    int rc = tlogwitness_decide(body, blen, lookup, w, &d);
    if (w->fail)
        assert_int_equal(rc, -EIO);
    else
        assert_int_equal(rc, 0);
    d.text = NULL; /* points into body */
    d.cp.extensions = NULL;
    free(body);
    return d;
}

static tlogwitness_decision submit_n(fake_witness *w, uint64_t old, unsigned n, int with_proof)
{
    size_t len, count = 0;
    uint8_t proof[MERKLE_MAX_PROOF * H];
    char *note = cp_file(n, &len);
    if (with_proof && old > 0)
        count = proof_of(old, n, proof);
    tlogwitness_decision d = submit(w, old, note, len, proof, count);
    free(note);
    return d;
}

static void test_decide_accepts(void **state)
{
    (void)state;
    /* First contact: old 0, no proof. */
    fake_witness w = witness_at(0);
    tlogwitness_decision d = submit_n(&w, 0, 6, 1);
    assert_int_equal(d.status, TLOGWITNESS_OK);
    assert_int_equal(d.cp.size, 6);
    assert_true(d.signature_verified);
    /* Every growth from m to n with its proof; equal sizes and roots too. */
    for (unsigned m = 1; m <= 15; m++)
        for (unsigned n = m; n <= 15; n++) {
            w = witness_at(m);
            d = submit_n(&w, m, n, 1);
            if (d.status != TLOGWITNESS_OK)
                fail_msg("%u -> %u: %d %s", m, n, d.status, d.reason);
        }
    /* The empty checkpoint, from a fresh witness. */
    w = witness_at(0);
    d = submit_n(&w, 0, 0, 0);
    assert_int_equal(d.status, TLOGWITNESS_OK);
}

static void test_decide_refuses(void **state)
{
    (void)state;
    tlogwitness_decision d;
    /* 409: the witness has 7; old sizes 0, 5 and 9 all get "7". */
    fake_witness w = witness_at(7);
    uint64_t olds[] = {0, 5, 9};
    for (size_t i = 0; i < 3; i++) {
        d = submit_n(&w, olds[i], 12, 1);
        assert_int_equal(d.status, TLOGWITNESS_CONFLICT);
        assert_int_equal(d.witness_size, 7);
    }
    /* 400: old size above the checkpoint's (even when it is the witness's). */
    d = submit_n(&w, 7, 5, 0);
    assert_int_equal(d.status, TLOGWITNESS_BAD_REQUEST);
    /* 422: a proof with one bit flipped, or one hash short. */
    size_t len, count;
    uint8_t proof[MERKLE_MAX_PROOF * H];
    char *note = cp_file(12, &len);
    count = proof_of(7, 12, proof);
    for (size_t i = 0; i < count * H; i += 7) {
        proof[i] ^= 0x10;
        d = submit(&w, 7, note, len, proof, count);
        assert_int_equal(d.status, TLOGWITNESS_UNPROCESSABLE);
        proof[i] ^= 0x10;
    }
    d = submit(&w, 7, note, len, proof, count - 1);
    assert_int_equal(d.status, TLOGWITNESS_UNPROCESSABLE);
    d = submit(&w, 7, note, len, proof, count);
    assert_int_equal(d.status, TLOGWITNESS_OK);
    free(note);
    /* 422: the right proof, but the witness cosigned another root at 7 (a
     * fork: the split view a witness exists to catch). */
    w.root[0] ^= 1;
    d = submit_n(&w, 7, 12, 1);
    assert_int_equal(d.status, TLOGWITNESS_UNPROCESSABLE);
    /* 422: same size, other root; and same size with a proof line. */
    d = submit_n(&w, 7, 7, 0);
    assert_int_equal(d.status, TLOGWITNESS_UNPROCESSABLE);
    w.root[0] ^= 1;
    note = cp_file(7, &len);
    d = submit(&w, 7, note, len, w.root, 1);
    assert_int_equal(d.status, TLOGWITNESS_UNPROCESSABLE);
    free(note);
    /* 422: old size 0 with a proof line. */
    w = witness_at(0);
    note = cp_file(3, &len);
    d = submit(&w, 0, note, len, w.root, 1);
    assert_int_equal(d.status, TLOGWITNESS_UNPROCESSABLE);
    free(note);
}

static void test_decide_signatures(void **state)
{
    (void)state;
    fake_witness w = witness_at(0);
    tlogwitness_decision d;
    size_t len;
    char *note = cp_file(4, &len);
    /* 403: the signature flipped (the line still names the trusted key). */
    char *sig = strstr(note, "\n\n") + 2;
    char *b64 = strchr(sig, ' ') + 1;
    b64 = strchr(b64, ' ') + 1;
    b64[10] = b64[10] == 'A' ? 'B' : 'A';
    d = submit(&w, 0, note, len, NULL, 0);
    assert_int_equal(d.status, TLOGWITNESS_FORBIDDEN);
    assert_false(d.signature_verified);
    free(note);
    /* 403: signed only by another key of the same name. */
    char skey[NOTE_PRIVATE_KEY_MAX], vkey[NOTE_VERIFIER_KEY_MAX], signed_note[1024];
    note_signer *s = NULL;
    checkpoint cp = {.origin = "example.com/log/testdata", .size = 4};
    root_of(4, cp.root);
    assert_int_equal(note_keygen("example.com/log/testdata", skey, sizeof skey, vkey, sizeof vkey),
                     0);
    assert_int_equal(note_signer_create(skey, &s, NULL, 0), 0);
    assert_int_equal(checkpoint_sign(&cp, s, signed_note, sizeof signed_note, &len, NULL, 0), 0);
    note_signer_destroy(s);
    d = submit(&w, 0, signed_note, len, NULL, 0);
    assert_int_equal(d.status, TLOGWITNESS_FORBIDDEN);
    /* 404: a log the witness does not know. */
    cp = (checkpoint){.origin = "other.example/log", .size = 4};
    assert_int_equal(note_keygen("other.example/log", skey, sizeof skey, vkey, sizeof vkey), 0);
    assert_int_equal(note_signer_create(skey, &s, NULL, 0), 0);
    assert_int_equal(checkpoint_sign(&cp, s, signed_note, sizeof signed_note, &len, NULL, 0), 0);
    note_signer_destroy(s);
    d = submit(&w, 0, signed_note, len, NULL, 0);
    assert_int_equal(d.status, TLOGWITNESS_NOT_FOUND);
    /* 422: size 0 with a root that is not the empty tree's, signed by the
     * log's real key (only the log can make this one). */
    assert_int_equal(note_signer_create(tessera_skey, &s, NULL, 0), 0);
    cp = (checkpoint){.origin = "example.com/log/testdata", .size = 0};
    root_of(4, cp.root);
    assert_int_equal(checkpoint_sign(&cp, s, signed_note, sizeof signed_note, &len, NULL, 0), 0);
    note_signer_destroy(s);
    d = submit(&w, 0, signed_note, len, NULL, 0);
    assert_int_equal(d.status, TLOGWITNESS_UNPROCESSABLE);
    assert_true(d.signature_verified);
    /* 400: a body whose checkpoint is not a checkpoint. */
    d = submit(&w, 0, "hello\n\n\xe2\x80\x94 x AAAAAAAA\n", 23, NULL, 0);
    assert_int_equal(d.status, TLOGWITNESS_BAD_REQUEST);
    tlogwitness_decision d2;
    assert_int_equal(tlogwitness_decide("old 1\n", 6, lookup, &w, &d2), 0);
    assert_int_equal(d2.status, TLOGWITNESS_BAD_REQUEST);
    /* 500: the witness cannot read its state. */
    w.fail = 1;
    d = submit_n(&w, 0, 4, 0);
    assert_int_equal(d.status, TLOGWITNESS_INTERNAL);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_roundtrip), cmocka_unit_test(test_request_strict),
        cmocka_unit_test(test_size_body),         cmocka_unit_test(test_decide_accepts),
        cmocka_unit_test(test_decide_refuses),    cmocka_unit_test(test_decide_signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
