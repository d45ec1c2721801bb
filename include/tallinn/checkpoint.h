/* checkpoint.h — C2SP tlog-checkpoint: the note text of a log's signed tree
 * head (origin, tree size, root hash, optional extension lines), strict.
 * Design: docs/audit-formats.md.
 *
 * Errors: 0 or a negative errno value: -EINVAL malformed, -ENOSPC buffer too
 * small, and note_open's codes (-EBADMSG, -ENOKEY) from checkpoint_open. */
#ifndef TALLINN_CHECKPOINT_H
#define TALLINN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/merkle.h"
#include "tallinn/note.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CHECKPOINT_ORIGIN_MAX 255 /* longest origin line accepted, bytes */
/* Longest checkpoint text without extensions: origin, 20 digits, 44 base64. */
#define CHECKPOINT_TEXT_MAX (CHECKPOINT_ORIGIN_MAX + 1 + 20 + 1 + 44 + 1)

typedef struct checkpoint {
    char origin[CHECKPOINT_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[MERKLE_HASH_SIZE];
    /* Extension lines, each non-empty and ending in '\n', back to back;
     * borrowed (from the parsed text, or the caller's when formatting);
     * NULL and 0 when there are none. */
    const char *extensions;
    size_t extensions_len;
} checkpoint;

/* Parses note text (len bytes, not NUL-terminated): "origin\nsize\nroot\n"
 * then extension lines. Size is decimal without leading zeros; the root is
 * padded base64 of exactly 32 bytes; no empty lines, no control characters,
 * text ends in '\n'. out->extensions points into text. */
int checkpoint_parse(const char *text, size_t len, checkpoint *out, char *err, size_t err_size);

/* Writes the note text (NUL-terminated; *len excludes the NUL). */
int checkpoint_format(const checkpoint *cp, char *buf, size_t size, size_t *len);

/* Verifies a signed checkpoint note with the known keys (note_open rules)
 * and parses its text. out->extensions points into msg. */
int checkpoint_open(const char *msg, size_t len, const note_verifier *known,
                    size_t known_count, checkpoint *out, char *err, size_t err_size);

/* Formats and signs: writes the signed note (NUL-terminated) to buf, which
 * needs CHECKPOINT_TEXT_MAX + extensions_len + NOTE_SIG_LINE_MAX + 2 bytes at
 * most. */
int checkpoint_sign(const checkpoint *cp, const note_signer *signer, char *buf, size_t size,
                    size_t *len, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
