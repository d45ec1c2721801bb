/* fuzz_tlogproof.c — c2sp.org/tlog-proof@v1 files (lib/tlogproof.c) as
 * `tallinn-audit check-proof` reads them: tlogproof_parse on any bytes; what
 * parses formats back to the same bytes and parses again to the same proof;
 * tlogproof_verify with the Tessera test key, without a leaf and with the
 * leaf hash of the Tessera entry at that index (the seeds carry real signed
 * checkpoints, so mutated indexes and hashes reach the Merkle check). A proof
 * only verifies if it is the true proof for that entry. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tallinn/merkle.h"
#include "tallinn/tlogproof.h"
#include "tessera_keys.h"

/* The 15 entries of the Tessera test log (tests/data/tessera), in order. */
static const char *const ENTRIES[] = {"one", "two", "three", "four", "five",
                                      "six", "seven", "eit", "nain", "ten",
                                      "ileven", "twelf", "threeten", "fourten", "fivten"};
#define NENTRIES (sizeof ENTRIES / sizeof ENTRIES[0])

static note_verifier known;
static uint8_t leaves[NENTRIES][MERKLE_HASH_SIZE];

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_tlogproof: check failed: %s\n", what);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    check(sodium_init() >= 0, "sodium_init");
    check(note_verifier_parse(TESSERA_VKEY, &known, NULL, 0) == 0, "verifier key");
    for (size_t i = 0; i < NENTRIES; i++)
        merkle_hash_leaf(ENTRIES[i], strlen(ENTRIES[i]), leaves[i]);
    return 0;
}

static int is_errno(int rc)
{
    return rc == -EINVAL || rc == -EBADMSG || rc == -ENOKEY || rc == -ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1), *text = NULL, err[256];
    tlogproof *p = NULL, *q = NULL;
    checkpoint cp;
    size_t len = 0;
    int rc;

    check(buf != NULL, "malloc");
    memcpy(buf, data, size);
    rc = tlogproof_parse(buf, size, &p, err, sizeof err);
    check(rc == 0 || is_errno(rc), "tlogproof_parse result");
    if (rc != 0) {
        check(p == NULL, "no proof on failure");
        goto done;
    }
    check(p->hash_count <= TLOGPROOF_MAX_HASHES, "hash count");
    check(p->checkpoint != NULL && strlen(p->checkpoint) == p->checkpoint_len, "checkpoint copy");

    check(tlogproof_format(p, &text, &len) == 0, "tlogproof_format of a parsed proof");
    if (len != size || memcmp(text, buf, size) != 0)
        fprintf(stderr, "accepted:\n%.*s\nformats as:\n%s\n", (int)size, buf, text);
    check(len == size && memcmp(text, buf, size) == 0, "format(parse(x)) == x");
    check(tlogproof_parse(text, len, &q, err, sizeof err) == 0, "formatted proof parses");
    check(q->index == p->index && q->hash_count == p->hash_count &&
              memcmp(q->hashes, p->hashes, p->hash_count * MERKLE_HASH_SIZE) == 0 &&
              q->extra_len == p->extra_len &&
              (p->extra_len == 0 || memcmp(q->extra, p->extra, p->extra_len) == 0) &&
              q->checkpoint_len == p->checkpoint_len,
          "same proof after a round trip");

    /* Signature and shape only. */
    rc = tlogproof_verify(p, &known, 1, NULL, &cp, err, sizeof err);
    check(rc == 0 || is_errno(rc), "tlogproof_verify result");
    if (rc == 0)
        check(p->index < cp.size &&
                  p->hash_count == merkle_inclusion_proof_len(p->index, cp.size),
              "a verified proof has the right length");
    /* Inclusion of the real entry; and of a wrong one, which must fail. */
    if (p->index < NENTRIES) {
        int ri = tlogproof_verify(p, &known, 1, leaves[p->index], &cp, err, sizeof err);
        check(ri == 0 || is_errno(ri), "tlogproof_verify (leaf) result");
        if (ri == 0) {
            check(rc == 0, "inclusion implies the shape check");
            check(cp.size <= NENTRIES, "the Tessera log has 15 entries");
            int rw = tlogproof_verify(p, &known, 1, leaves[(p->index + 1) % NENTRIES], &cp,
                                      err, sizeof err);
            check(rw != 0, "another entry's leaf does not verify");
        }
    }
done:
    tlogproof_destroy(q);
    tlogproof_destroy(p);
    free(text);
    free(buf);
    return 0;
}
