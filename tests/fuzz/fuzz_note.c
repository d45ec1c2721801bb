/* fuzz_note.c — C2SP signed notes and checkpoints (lib/note.c,
 * lib/checkpoint.c) with the Tessera test key. The input is used as:
 *   - a signed note: note_parse, note_verify and note_open must agree;
 *   - a signed checkpoint: checkpoint_open agrees with note_open +
 *     checkpoint_parse of the verified text;
 *   - checkpoint text: whatever checkpoint_parse accepts formats back to the
 *     same bytes (one encoding per checkpoint, no malleability);
 *   - note text: whatever note_sign signs, note_open verifies, with the same
 *     text; a signed checkpoint opens to the same fields. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tallinn/checkpoint.h"
#include "tallinn/note.h"
#include "tessera_keys.h"

static note_verifier known;
static note_signer *signer;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_note: check failed: %s\n", what);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    check(sodium_init() >= 0, "sodium_init");
    check(note_verifier_parse(TESSERA_VKEY, &known, NULL, 0) == 0, "verifier key");
    check(note_signer_create(TESSERA_SKEY, &signer, NULL, 0) == 0, "signer key");
    return 0;
}

static int is_errno(int rc)
{
    return rc == -EINVAL || rc == -ENOSPC || rc == -EBADMSG || rc == -ENOKEY || rc == -ENOMEM;
}

static void as_signed(const char *msg, size_t len)
{
    note_parsed *p = malloc(sizeof *p);
    checkpoint cp, cp2;
    char err[256];
    size_t verified = 0, text_len = 0;
    int rc, rv, ro, rc_cp;

    check(p != NULL, "malloc");
    rc = note_parse(msg, len, p, err, sizeof err);
    check(rc == 0 || is_errno(rc), "note_parse result");
    ro = note_open(msg, len, &known, 1, &text_len, err, sizeof err);
    check(ro == 0 || is_errno(ro), "note_open result");
    if (rc != 0) {
        check(ro == rc, "note_open fails as note_parse does");
        free(p);
        return;
    }
    check(p->text_len <= len && p->sig_count <= NOTE_MAX_SIGS, "parsed bounds");
    check(p->text_len > 0 && msg[p->text_len - 1] == '\n', "text ends in a newline");
    for (size_t i = 0; i < p->sig_count; i++)
        check(p->sigs[i].name >= msg && p->sigs[i].name + p->sigs[i].name_len <= msg + len &&
                  p->sigs[i].b64 >= msg && p->sigs[i].b64 + p->sigs[i].b64_len <= msg + len,
              "signature fields point into the message");
    rv = note_verify(p, &known, 1, &verified, err, sizeof err);
    check(rv == ro, "note_open == note_parse + note_verify");
    if (rv == 0) {
        check(verified >= 1 && text_len == p->text_len, "verified text");
    }

    rc_cp = checkpoint_open(msg, len, &known, 1, &cp, err, sizeof err);
    if (ro != 0) {
        check(rc_cp == ro, "checkpoint_open fails as note_open does");
    } else {
        int rp = checkpoint_parse(msg, text_len, &cp2, err, sizeof err);
        check(rc_cp == rp, "checkpoint_open == note_open + checkpoint_parse");
        if (rp == 0)
            check(strcmp(cp.origin, cp2.origin) == 0 && cp.size == cp2.size &&
                      memcmp(cp.root, cp2.root, sizeof cp.root) == 0,
                  "same checkpoint");
    }
    free(p);
}

static void as_checkpoint_text(const char *text, size_t len)
{
    checkpoint cp, cp2;
    char *buf, *sig, err[256];
    size_t cap, out_len = 0, sig_len = 0;
    int rc = checkpoint_parse(text, len, &cp, err, sizeof err);

    check(rc == 0 || rc == -EINVAL, "checkpoint_parse result");
    if (rc != 0)
        return;
    check(strlen(cp.origin) > 0 && strlen(cp.origin) <= CHECKPOINT_ORIGIN_MAX, "origin");
    check(cp.extensions_len == 0 ||
              (cp.extensions >= text && cp.extensions + cp.extensions_len <= text + len),
          "extensions point into the text");
    cap = CHECKPOINT_TEXT_MAX + cp.extensions_len + 1;
    buf = malloc(cap);
    check(buf != NULL, "malloc");
    check(checkpoint_format(&cp, buf, cap, &out_len) == 0, "checkpoint_format");
    if (out_len != len || memcmp(buf, text, len) != 0)
        fprintf(stderr, "accepted:\n%.*s\nformats as:\n%s\n", (int)len, text, buf);
    check(out_len == len && memcmp(buf, text, len) == 0, "format(parse(x)) == x");

    /* Sign it and open it again. */
    cap = CHECKPOINT_TEXT_MAX + cp.extensions_len + NOTE_SIG_LINE_MAX + 2;
    sig = malloc(cap);
    check(sig != NULL, "malloc");
    rc = checkpoint_sign(&cp, signer, sig, cap, &sig_len, err, sizeof err);
    check(rc == 0, "checkpoint_sign of a parsed checkpoint");
    rc = checkpoint_open(sig, sig_len, &known, 1, &cp2, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "signed checkpoint does not open: %s\n", err);
    check(rc == 0, "a signed checkpoint opens");
    check(strcmp(cp.origin, cp2.origin) == 0 && cp.size == cp2.size &&
              memcmp(cp.root, cp2.root, sizeof cp.root) == 0 &&
              cp.extensions_len == cp2.extensions_len,
          "signed checkpoint opens to the same fields");
    free(sig);
    free(buf);
}

static void as_note_text(const char *text, size_t len)
{
    size_t cap = len + 1 + NOTE_SIG_LINE_MAX + 1, out_len = 0, text_len = 0;
    char *out = malloc(cap), err[256];
    int rc;

    check(out != NULL, "malloc");
    rc = note_sign(signer, text, len, out, cap, &out_len, err, sizeof err);
    check(rc == 0 || rc == -EINVAL, "note_sign result");
    if (rc == 0) {
        check(out_len < cap && out[out_len] == '\0', "signed note fits");
        rc = note_open(out, out_len, &known, 1, &text_len, err, sizeof err);
        if (rc != 0)
            fprintf(stderr, "signed note does not open: %s\n", err);
        check(rc == 0, "what note_sign signs, note_open verifies");
        check(text_len == len && memcmp(out, text, len) == 0, "same text");
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so that ASan sees any over-read. */
    char *msg = malloc(size ? size : 1);

    if (msg == NULL)
        return 0;
    memcpy(msg, data, size);
    as_signed(msg, size);
    as_checkpoint_text(msg, size);
    as_note_text(msg, size);
    free(msg);
    return 0;
}
