/* test_cosig.c — tlog-cosignature/v1: known answers computed by an
 * independent Python implementation (tests/data/cosig/vectors.txt, over the
 * Tessera test log's checkpoints) reproduced byte for byte and verified;
 * every altered cosignature refused; key strings strict; quorum counting;
 * merging cosignature lines into a note. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tallinn/checkpoint.h"
#include "tallinn/cosig.h"
#include "tallinn/note.h"

static const char tessera_vkey[] =
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";

#define MAX_VEC 64

typedef struct vector {
    int witness; /* 0 or 1 */
    unsigned n;  /* checkpoint.N */
    uint64_t ts;
    char line[COSIG_LINE_MAX + 1]; /* with its '\n' */
} vector;

typedef struct vectors {
    char vkey[2][COSIG_VERIFIER_KEY_MAX];
    char skey[2][COSIG_PRIVATE_KEY_MAX];
    size_t n_vec;
    vector vec[MAX_VEC];
    uint8_t *message[16];
    size_t message_len[16];
} vectors;

static vectors V;

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

static char *checkpoint_file(unsigned n, size_t *len)
{
    char rel[64];
    snprintf(rel, sizeof rel, "tessera/log/checkpoint.%u", n);
    return read_data(rel, len);
}

/* Text length of a signed note (up to and including the last text '\n'). */
static size_t text_len_of(const char *note, size_t len)
{
    note_parsed *p = malloc(sizeof *p);
    assert_non_null(p);
    assert_int_equal(note_parse(note, len, p, NULL, 0), 0);
    size_t t = p->text_len;
    free(p);
    return t;
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    size_t len;
    char *text = read_data("cosig/vectors.txt", &len);
    int witnesses = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        if (strncmp(line, "witness ", 8) == 0) {
            assert_true(witnesses < 2);
            assert_int_equal(sscanf(line + 8, "%299s %299s", V.vkey[witnesses],
                                    V.skey[witnesses]),
                             2);
            witnesses++;
        } else if (strncmp(line, "cosig ", 6) == 0) {
            vector *v = &V.vec[V.n_vec++];
            int w, off = 0;
            assert_int_equal(sscanf(line + 6, "%d %u %" SCNu64 " %n", &w, &v->n, &v->ts, &off),
                             3);
            v->witness = w - 1;
            snprintf(v->line, sizeof v->line, "%s\n", line + 6 + off);
        } else if (strncmp(line, "message ", 8) == 0) {
            unsigned n;
            uint64_t ts;
            int off = 0;
            assert_int_equal(sscanf(line + 8, "%u %" SCNu64 " %n", &n, &ts, &off), 2);
            assert_true(n < 16);
            const char *b64 = line + 8 + off;
            V.message[n] = malloc(strlen(b64));
            assert_non_null(V.message[n]);
            assert_int_equal(sodium_base642bin(V.message[n], strlen(b64), b64, strlen(b64),
                                               NULL, &V.message_len[n], NULL,
                                               sodium_base64_VARIANT_ORIGINAL),
                             0);
        } else {
            fail_msg("vectors.txt: unexpected line %s", line);
        }
    }
    free(text);
    assert_int_equal(witnesses, 2);
    assert_int_equal(V.n_vec, 32);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 16; i++)
        free(V.message[i]);
    return 0;
}

static cosig_verifier witness(int i)
{
    cosig_verifier v;
    char err[256];
    if (cosig_verifier_parse(V.vkey[i], &v, err, sizeof err) != 0)
        fail_msg("%s", err);
    return v;
}

static void test_keys(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        cosig_verifier v = witness(i), from_signer;
        char buf[COSIG_VERIFIER_KEY_MAX], err[256];
        assert_int_equal(cosig_verifier_format(&v, buf, sizeof buf), 0);
        assert_string_equal(buf, V.vkey[i]);
        uint32_t id = 0;
        assert_int_equal(cosig_key_id(v.name, v.public_key, &id), 0);
        assert_int_equal(id, v.key_id);
        cosig_signer *s = NULL;
        assert_int_equal(cosig_signer_create(V.skey[i], &s, err, sizeof err), 0);
        assert_string_equal(cosig_signer_name(s), v.name);
        cosig_signer_verifier(s, &from_signer);
        assert_memory_equal(&from_signer, &v, sizeof v);
        cosig_signer_destroy(s);
    }
    /* The cosignature key ID differs from the note key ID of the same key:
     * the 0x04 byte is what tells the two apart. */
    cosig_verifier w = witness(0);
    uint32_t note_id = 0;
    assert_int_equal(note_key_id(w.name, w.public_key, &note_id), 0);
    assert_int_not_equal(note_id, w.key_id);

    /* A fresh pair: both strings parse and agree. */
    char skey[COSIG_PRIVATE_KEY_MAX], vkey[COSIG_VERIFIER_KEY_MAX], err[256];
    assert_int_equal(cosig_keygen("donor.example/witness", skey, sizeof skey, vkey, sizeof vkey),
                     0);
    cosig_signer *s = NULL;
    cosig_verifier a, b;
    assert_int_equal(cosig_signer_create(skey, &s, err, sizeof err), 0);
    assert_int_equal(cosig_verifier_parse(vkey, &a, err, sizeof err), 0);
    cosig_signer_verifier(s, &b);
    assert_memory_equal(&a, &b, sizeof a);
    cosig_signer_destroy(s);
    sodium_memzero(skey, sizeof skey);
    assert_int_equal(cosig_keygen("bad name", skey, sizeof skey, vkey, sizeof vkey), -EINVAL);
}

static void test_key_rejections(void **state)
{
    (void)state;
    cosig_verifier v;
    cosig_signer *s = NULL;
    char err[256];
    /* A log's key (type 0x01) is not a witness key. */
    assert_int_equal(cosig_verifier_parse(tessera_vkey, &v, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "0x01"));
    assert_int_equal(
        cosig_signer_create("PRIVATE+KEY+example.com/log/testdata+33d7b496+"
                            "AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg",
                            &s, err, sizeof err),
        -EINVAL);
    assert_null(s);
    /* Each is a valid key with one thing wrong. */
    char bad[8][COSIG_VERIFIER_KEY_MAX + 16];
    const char *good = V.vkey[0];
    size_t name_len = strchr(good, '+') - good;
    snprintf(bad[0], sizeof bad[0], "%s", good);
    bad[0][name_len + 1] ^= 1; /* key ID */
    snprintf(bad[1], sizeof bad[1], "%s", good);
    bad[1][strlen(bad[1]) - 2] ^= 1; /* key bytes */
    snprintf(bad[2], sizeof bad[2], "%s", good);
    bad[2][strlen(bad[2]) - 1] = '\0'; /* truncated base64 */
    snprintf(bad[3], sizeof bad[3], "x y%s", good + name_len); /* space in name */
    snprintf(bad[4], sizeof bad[4], "%s", good + name_len); /* empty name */
    snprintf(bad[5], sizeof bad[5], "%.*s+F2DA4942%s", (int)name_len, good,
             good + name_len + 9); /* upper-case hex */
    snprintf(bad[6], sizeof bad[6], "%.*s", (int)name_len, good);
    snprintf(bad[7], sizeof bad[7], "%s=", good);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(cosig_verifier_parse(bad[i], &v, err, sizeof err), -EINVAL);
    /* Private key: wrong ID, and no prefix. */
    char sk[COSIG_PRIVATE_KEY_MAX];
    snprintf(sk, sizeof sk, "%s", V.skey[0]);
    sk[12 + name_len + 1] ^= 1;
    assert_int_equal(cosig_signer_create(sk, &s, err, sizeof err), -EINVAL);
    assert_int_equal(cosig_signer_create(V.skey[0] + 12, &s, err, sizeof err), -EINVAL);
    assert_null(s);
}

/* Every known answer: the message, the line, byte for byte; and it verifies. */
static void test_known_answers(void **state)
{
    (void)state;
    cosig_signer *s[2] = {NULL, NULL};
    cosig_verifier w[2] = {witness(0), witness(1)};
    char err[256];
    for (int i = 0; i < 2; i++)
        assert_int_equal(cosig_signer_create(V.skey[i], &s[i], err, sizeof err), 0);
    for (size_t k = 0; k < V.n_vec; k++) {
        const vector *v = &V.vec[k];
        size_t len, text_len, msg_len, line_len;
        char *note = checkpoint_file(v->n, &len);
        text_len = text_len_of(note, len);

        char *msg = NULL;
        assert_int_equal(cosig_message(v->ts, note, text_len, &msg, &msg_len), 0);
        assert_int_equal(msg_len, V.message_len[v->n]);
        assert_memory_equal(msg, V.message[v->n], msg_len);
        free(msg);

        char line[COSIG_LINE_MAX + 1];
        assert_int_equal(
            cosig_sign(s[v->witness], v->ts, note, text_len, line, sizeof line, &line_len, err,
                       sizeof err),
            0);
        assert_string_equal(line, v->line);
        assert_int_equal(line_len, strlen(v->line));

        /* The checkpoint with the Python line appended verifies. */
        char *cosigned = NULL;
        size_t cl = 0;
        assert_int_equal(cosig_note_add(note, len, v->line, strlen(v->line), &cosigned, &cl, err,
                                        sizeof err),
                         0);
        note_parsed *p = malloc(sizeof *p);
        assert_non_null(p);
        assert_int_equal(note_parse(cosigned, cl, p, err, sizeof err), 0);
        assert_int_equal(p->sig_count, 2);
        uint64_t ts = 0, stamps[2];
        assert_int_equal(cosig_verify_sig(&w[v->witness], p, 1, &ts, err, sizeof err), 0);
        assert_int_equal(ts, v->ts);
        assert_int_equal(cosig_verify_sig(&w[1 - v->witness], p, 1, &ts, err, sizeof err),
                         -ENOENT);
        assert_int_equal(cosig_verify_sig(&w[v->witness], p, 0, &ts, err, sizeof err), -ENOENT);
        size_t valid = 9;
        assert_int_equal(cosig_verify(p, w, 2, &valid, stamps, err, sizeof err), 0);
        assert_int_equal(valid, 1);
        assert_int_equal(stamps[v->witness], v->ts);
        assert_int_equal(stamps[1 - v->witness], 0);
        /* The log's signature still verifies: cosignatures are unknown keys
         * to it. */
        note_verifier lk;
        checkpoint cp;
        assert_int_equal(note_verifier_parse(tessera_vkey, &lk, err, sizeof err), 0);
        assert_int_equal(checkpoint_open(cosigned, cl, &lk, 1, &cp, err, sizeof err), 0);
        assert_int_equal(cp.size, v->n);
        free(p);
        free(cosigned);
        free(note);
    }
    cosig_signer_destroy(s[0]);
    cosig_signer_destroy(s[1]);
}

/* Cosigned checkpoint.N by both witnesses (the Python lines). */
static char *both(unsigned n, size_t *len)
{
    size_t l;
    char *note = checkpoint_file(n, &l), *out = NULL, lines[2 * (COSIG_LINE_MAX + 1)] = "";
    for (size_t k = 0; k < V.n_vec; k++)
        if (V.vec[k].n == n)
            strcat(lines, V.vec[k].line);
    assert_int_equal(cosig_note_add(note, l, lines, strlen(lines), &out, len, NULL, 0), 0);
    free(note);
    return out;
}

static void test_quorum(void **state)
{
    (void)state;
    cosig_verifier w[3] = {witness(0), witness(1)};
    char err[512], skey[COSIG_PRIVATE_KEY_MAX], vkey[COSIG_VERIFIER_KEY_MAX];
    assert_int_equal(cosig_keygen("witness.tallinn.test/w3", skey, sizeof skey, vkey,
                                  sizeof vkey),
                     0);
    assert_int_equal(cosig_verifier_parse(vkey, &w[2], err, sizeof err), 0);
    size_t len, valid = 0;
    char *note = both(7, &len);
    assert_int_equal(cosig_check_quorum(note, len, w, 2, 2, &valid, err, sizeof err), 0);
    assert_int_equal(valid, 2);
    assert_int_equal(cosig_check_quorum(note, len, w, 3, 2, &valid, err, sizeof err), 0);
    assert_int_equal(cosig_check_quorum(note, len, w, 3, 3, &valid, err, sizeof err), -ENOKEY);
    assert_int_equal(valid, 2);
    assert_non_null(strstr(err, "2 of the 3 witnesses"));
    assert_non_null(strstr(err, "witness.tallinn.test/w3+"));
    assert_null(strstr(err, "witness.tallinn.test/w1+"));
    /* Bad arguments: quorum 0, above the witnesses, no witnesses. */
    assert_int_equal(cosig_check_quorum(note, len, w, 2, 0, &valid, err, sizeof err), -EINVAL);
    assert_int_equal(cosig_check_quorum(note, len, w, 2, 3, &valid, err, sizeof err), -EINVAL);
    assert_int_equal(cosig_check_quorum(note, len, w, 0, 1, &valid, err, sizeof err), -EINVAL);
    /* The plain Tessera checkpoint has none. */
    size_t l;
    char *plain = checkpoint_file(7, &l);
    assert_int_equal(cosig_check_quorum(plain, l, w, 2, 1, &valid, err, sizeof err), -ENOKEY);
    assert_int_equal(valid, 0);
    free(plain);
    free(note);
}

/* Any change to a cosignature line or to the checkpoint it signs is caught:
 * -EBADMSG when the line still names the witness, else it is ignored (and
 * the quorum then fails). */
static void test_alterations(void **state)
{
    (void)state;
    cosig_verifier w[2] = {witness(0), witness(1)};
    size_t len, valid;
    char err[512];
    char *note = both(9, &len);
    size_t text_len = text_len_of(note, len);
    /* The log's own line is not the witnesses' concern: skip it. */
    const char *log_line_end = strchr(note + text_len + 1, '\n');
    size_t first_cosig = (size_t)(log_line_end + 1 - note);
    /* Every byte of the text, and every character of the cosignature lines. */
    for (size_t i = 0; i < len; i++) {
        if (i >= text_len && i < first_cosig)
            continue;
        if (note[i] == '\n' || (i > text_len && note[i] == ' '))
            continue;
        if (i > text_len && (unsigned char)note[i] >= 0x80)
            continue; /* the em dashes: then not a note at all */
        char *copy = malloc(len + 1);
        assert_non_null(copy);
        memcpy(copy, note, len + 1);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        int rc = cosig_check_quorum(copy, len, w, 2, 2, &valid, err, sizeof err);
        assert_true(rc == -EBADMSG || rc == -ENOKEY || rc == -EINVAL);
        free(copy);
    }
    /* A valid line moved onto another checkpoint. */
    size_t l8;
    char *cp8 = checkpoint_file(8, &l8), *moved = NULL, *line = NULL;
    for (size_t k = 0; k < V.n_vec; k++)
        if (V.vec[k].n == 9 && V.vec[k].witness == 0)
            line = V.vec[k].line;
    assert_non_null(line);
    size_t ml;
    assert_int_equal(cosig_note_add(cp8, l8, line, strlen(line), &moved, &ml, err, sizeof err),
                     0);
    assert_int_equal(cosig_check_quorum(moved, ml, w, 2, 1, &valid, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "witness.tallinn.test/w1"));
    free(moved);
    free(cp8);
    free(note);
}

/* A line with a timestamp above 2^63 - 1 is refused even when it is a valid
 * Ed25519 signature over the message. */
static void test_timestamp_limits(void **state)
{
    (void)state;
    char err[256], line[COSIG_LINE_MAX + 1];
    cosig_signer *s = NULL;
    size_t len, ll;
    assert_int_equal(cosig_signer_create(V.skey[0], &s, err, sizeof err), 0);
    char *note = checkpoint_file(3, &len);
    size_t text_len = text_len_of(note, len);
    assert_int_equal(cosig_sign(s, 0, note, text_len, line, sizeof line, &ll, err, sizeof err),
                     -EINVAL);
    assert_int_equal(cosig_sign(s, COSIG_TIMESTAMP_MAX + 1, note, text_len, line, sizeof line,
                                &ll, err, sizeof err),
                     -EINVAL);
    assert_int_equal(cosig_sign(s, 5, "not\na checkpoint\n", 17, line, sizeof line, &ll, err,
                                sizeof err),
                     -EINVAL);
    assert_int_equal(cosig_sign(s, 5, note, text_len, line, 50, &ll, err, sizeof err), -ENOSPC);

    /* Build the over-limit line by hand with the witness's seed. */
    uint64_t ts = COSIG_TIMESTAMP_MAX + 1;
    char *msg = NULL;
    size_t msg_len;
    assert_int_equal(cosig_message(ts, note, text_len, &msg, &msg_len), 0);
    uint8_t seed[32], pk[32], sk[64], sig[COSIG_SIG_SIZE];
    const char *b64 = strrchr(V.skey[0], '+') + 1;
    uint8_t raw[33];
    size_t raw_len;
    assert_int_equal(sodium_base642bin(raw, sizeof raw, b64, strlen(b64), NULL, &raw_len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    memcpy(seed, raw + 1, 32);
    crypto_sign_seed_keypair(pk, sk, seed);
    cosig_verifier w = witness(0);
    sig[0] = (uint8_t)(w.key_id >> 24), sig[1] = (uint8_t)(w.key_id >> 16);
    sig[2] = (uint8_t)(w.key_id >> 8), sig[3] = (uint8_t)w.key_id;
    for (int i = 0; i < 8; i++)
        sig[4 + i] = (uint8_t)(ts >> (56 - 8 * i));
    crypto_sign_detached(sig + 12, NULL, (const unsigned char *)msg, msg_len, sk);
    char enc[sodium_base64_ENCODED_LEN(COSIG_SIG_SIZE, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(enc, sizeof enc, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    snprintf(line, sizeof line, "\xe2\x80\x94 %s %s\n", w.name, enc);
    char *out = NULL;
    size_t ol, valid;
    assert_int_equal(cosig_note_add(note, len, line, strlen(line), &out, &ol, err, sizeof err),
                     0);
    assert_int_equal(cosig_check_quorum(out, ol, &w, 1, 1, &valid, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "2^63-1"));
    free(out);
    free(msg);
    free(note);
    cosig_signer_destroy(s);
}

static void test_note_add(void **state)
{
    (void)state;
    char err[256], *out = NULL, *out2 = NULL;
    size_t len, ol, ol2;
    char *note = checkpoint_file(4, &len);
    const char *l1 = NULL, *l2 = NULL, *l1_other = NULL;
    for (size_t k = 0; k < V.n_vec; k++) {
        if (V.vec[k].n == 4)
            *(V.vec[k].witness == 0 ? &l1 : &l2) = V.vec[k].line;
        if (V.vec[k].n == 5 && V.vec[k].witness == 0)
            l1_other = V.vec[k].line;
    }
    /* Appending w1 then w2 gives note + l1 + l2; adding l1 again changes
     * nothing; a new w1 line replaces the old one in place. */
    assert_int_equal(cosig_note_add(note, len, l1, strlen(l1), &out, &ol, err, sizeof err), 0);
    assert_int_equal(cosig_note_add(out, ol, l2, strlen(l2), &out2, &ol2, err, sizeof err), 0);
    char want[4096];
    snprintf(want, sizeof want, "%s%s%s", note, l1, l2);
    assert_string_equal(out2, want);
    free(out);
    assert_int_equal(cosig_note_add(out2, ol2, l1, strlen(l1), &out, &ol, err, sizeof err), 0);
    assert_string_equal(out, want);
    free(out);
    assert_int_equal(
        cosig_note_add(out2, ol2, l1_other, strlen(l1_other), &out, &ol, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s%s%s", note, l1_other, l2);
    assert_string_equal(out, want);
    free(out);
    /* Twice the same key in the new lines: the last is kept. */
    char two[2 * (COSIG_LINE_MAX + 1)];
    snprintf(two, sizeof two, "%s%s", l1_other, l1);
    assert_int_equal(cosig_note_add(note, len, two, strlen(two), &out, &ol, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s%s", note, l1);
    assert_string_equal(out, want);
    free(out);
    /* Not signature lines, or not a note. */
    assert_int_equal(cosig_note_add(note, len, "hello\n", 6, &out, &ol, err, sizeof err),
                     -EINVAL);
    assert_int_equal(cosig_note_add(note, len, l1, strlen(l1) - 1, &out, &ol, err, sizeof err),
                     -EINVAL);
    assert_int_equal(cosig_note_add("x\n", 2, l1, strlen(l1), &out, &ol, err, sizeof err),
                     -EINVAL);
    assert_null(out);
    free(out2);
    free(note);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_key_rejections),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_quorum),
        cmocka_unit_test(test_alterations),
        cmocka_unit_test(test_timestamp_limits),
        cmocka_unit_test(test_note_add),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
