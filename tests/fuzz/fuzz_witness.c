/* fuzz_witness.c — what a witness reads from the network (lib/tlogwitness.c,
 * lib/cosig.c): any bytes as an add-checkpoint body. What parses formats
 * back to the same bytes; tlogwitness_decide, against the Tessera test key
 * and a state at a Tessera size (the seeds carry real checkpoints and
 * proofs, so mutations reach every rule), answers one of the protocol's
 * codes and keeps its invariants (200 only with a verified signature, never
 * for a smaller tree, and what it accepts is consistent with the state);
 * what it accepts, cosigned, verifies and reaches a quorum of one; any
 * checkpoint's cosignature lines are counted without crashing. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tallinn/cosig.h"
#include "tallinn/merkle.h"
#include "tallinn/tlogwitness.h"
#include "tessera_keys.h"

/* A test witness key (tests/data/cosig/vectors.txt, witness 1). */
#define WITNESS_SKEY \
    "PRIVATE+KEY+witness.tallinn.test/w1+f2da4942+BImWbCARUJsK8K+ODJwlMKcUL0Vjd8XDtHz+FJC8rNgi"

static const char *const ENTRIES[] = {"one", "two", "three", "four", "five",
                                      "six", "seven", "eit", "nain", "ten",
                                      "ileven", "twelf", "threeten", "fourten", "fivten"};
#define NENTRIES 15

static note_verifier log_key;
static cosig_signer *signer;
static cosig_verifier self;
static uint8_t roots[NENTRIES + 1][MERKLE_HASH_SIZE]; /* the Tessera roots by size */

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_witness: check failed: %s\n", what);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t leaves[NENTRIES * MERKLE_HASH_SIZE];
    (void)argc;
    (void)argv;
    check(sodium_init() >= 0, "sodium_init");
    check(note_verifier_parse(TESSERA_VKEY, &log_key, NULL, 0) == 0, "log key");
    check(cosig_signer_create(WITNESS_SKEY, &signer, NULL, 0) == 0, "witness key");
    cosig_signer_verifier(signer, &self);
    for (size_t i = 0; i < NENTRIES; i++)
        merkle_hash_leaf(ENTRIES[i], strlen(ENTRIES[i]), leaves + i * MERKLE_HASH_SIZE);
    for (size_t n = 0; n <= NENTRIES; n++)
        check(merkle_root(leaves, n, roots[n]) == 0, "root");
    return 0;
}

typedef struct state {
    uint64_t size;
} state;

static int lookup(void *ctx, const char *origin, tlogwitness_log *log)
{
    const state *s = ctx;
    if (strcmp(origin, "example.com/log/testdata") != 0)
        return -ENOENT;
    log->keys = &log_key;
    log->key_count = 1;
    log->size = s->size;
    memcpy(log->root, roots[s->size], MERKLE_HASH_SIZE);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *text = NULL, *cosigned = NULL;
    tlogwitness_request *req = malloc(sizeof *req);
    tlogwitness_decision *d = malloc(sizeof *d);
    size_t len = 0;
    check(buf && req && d, "malloc");
    memcpy(buf, data, size);
    buf[size] = '\0';

    int rc = tlogwitness_request_parse(buf, size, req, NULL, 0);
    check(rc == 0 || rc == -EINVAL, "request_parse result");
    /* The state: the old size asked for when it is a Tessera size (so the
     * consistency rules run), else one chosen by the input's length. */
    state st = {size % (NENTRIES + 1)};
    if (rc == 0) {
        check(req->proof_count <= TLOGWITNESS_MAX_PROOF, "proof count");
        check(req->checkpoint >= buf && req->checkpoint + req->checkpoint_len == buf + size,
              "the checkpoint is the rest of the body");
        check(tlogwitness_request_format(req->old_size, req->proof, req->proof_count,
                                         req->checkpoint, req->checkpoint_len, &text,
                                         &len) == 0,
              "format of a parsed request");
        check(len == size && memcmp(text, buf, size) == 0, "format(parse(x)) == x");
        if (req->old_size <= NENTRIES && size % 2 == 0)
            st.size = req->old_size;
    }

    check(tlogwitness_decide(buf, size, lookup, &st, d) == 0, "decide returns a decision");
    switch (d->status) {
    case TLOGWITNESS_OK:
        check(rc == 0 && d->signature_verified, "200 only for a parsed, verified request");
        check(req->old_size == st.size && d->cp.size >= st.size, "200 never for a smaller tree");
        if (d->cp.size == st.size)
            check(memcmp(d->cp.root, roots[st.size], MERKLE_HASH_SIZE) == 0 || st.size == 0,
                  "200 at the same size only with the same root");
        if (d->cp.size <= NENTRIES && st.size > 0)
            check(memcmp(d->cp.root, roots[d->cp.size], MERKLE_HASH_SIZE) == 0,
                  "what extends a Tessera tree by proof is the Tessera tree");
        break;
    case TLOGWITNESS_CONFLICT:
        check(d->witness_size == st.size && req->old_size != st.size, "409 carries the state");
        break;
    case TLOGWITNESS_BAD_REQUEST:
    case TLOGWITNESS_FORBIDDEN:
    case TLOGWITNESS_NOT_FOUND:
    case TLOGWITNESS_UNPROCESSABLE:
        break;
    default:
        check(0, "a status add-checkpoint does not answer");
    }

    /* What the witness would store: the checkpoint with its cosignature. */
    if (d->status == TLOGWITNESS_OK) {
        char line[COSIG_LINE_MAX + 1];
        size_t line_len = 0, clen = 0, valid = 0;
        check(cosig_sign(signer, 1700000000, d->text, d->text_len, line, sizeof line, &line_len,
                         NULL, 0) == 0,
              "cosign an accepted checkpoint");
        check(cosig_note_add(req->checkpoint, req->checkpoint_len, line, line_len, &cosigned,
                             &clen, NULL, 0) == 0,
              "add the cosignature");
        check(cosig_check_quorum(cosigned, clen, &self, 1, 1, &valid, NULL, 0) == 0 &&
                  valid == 1,
              "the stored checkpoint carries the witness's cosignature");
    }
    /* Any note's cosignature lines, counted. */
    if (rc == 0) {
        size_t valid = 0;
        int q = cosig_check_quorum(req->checkpoint, req->checkpoint_len, &self, 1, 1, &valid,
                                   NULL, 0);
        check(q == 0 || q == -EINVAL || q == -EBADMSG || q == -ENOKEY || q == -ENOMEM,
              "check_quorum result");
        check(q != 0 || valid == 1, "a quorum of one is one valid cosignature");
    }
    free(cosigned);
    free(text);
    free(buf);
    free(req);
    free(d);
    return 0;
}
