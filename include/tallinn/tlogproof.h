/* tlogproof.h — the c2sp.org/tlog-proof@v1 offline proof file: index,
 * inclusion proof hashes, optional extra data and the signed checkpoint;
 * strict parse, format, and verification. Design: docs/audit-formats.md.
 *
 * Errors: 0 or a negative errno value: -EINVAL malformed or bad argument,
 * -ENOMEM, and from tlogproof_verify the checkpoint's and proof's codes
 * (-EBADMSG, -ENOKEY). `err` buffers (may be NULL) get a message naming the
 * line. */
#ifndef TALLINN_TLOGPROOF_H
#define TALLINN_TLOGPROOF_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/checkpoint.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TLOGPROOF_HEADER "c2sp.org/tlog-proof@v1"
#define TLOGPROOF_MAX_HASHES 64 /* an inclusion proof in a tree below 2^64 */

typedef struct tlogproof {
    uint64_t index;
    uint8_t *extra; /* opaque, unauthenticated; NULL and 0 when absent */
    size_t extra_len;
    size_t hash_count;
    uint8_t hashes[TLOGPROOF_MAX_HASHES * MERKLE_HASH_SIZE]; /* leaf side first */
    char *checkpoint; /* the signed checkpoint note, verbatim, NUL-terminated */
    size_t checkpoint_len;
} tlogproof;

/* Parses a proof file (len bytes). Strict: exact header line, "extra " with
 * non-empty base64, "index " decimal without leading zeros, hash lines of
 * base64 of exactly 32 bytes, one empty line, then a well-formed signed
 * checkpoint (not yet verified). On success *out owns copies of the extra
 * data and the checkpoint; free with tlogproof_destroy. */
int tlogproof_parse(const char *buf, size_t len, tlogproof **out, char *err, size_t err_size);
void tlogproof_destroy(tlogproof *p);

/* Formats p (only read; extra may be NULL/0) into a malloc'd NUL-terminated
 * string that the caller frees; *out_len excludes the NUL. */
int tlogproof_format(const tlogproof *p, char **out, size_t *out_len);

/* Verifies the checkpoint's signature with the known keys, that index is
 * below its size, and then either the inclusion of leaf_hash, or, when
 * leaf_hash is NULL, only that the proof has the length an inclusion proof
 * for that index and size has. cp (may be NULL) gets the verified checkpoint;
 * its extensions point into p. */
int tlogproof_verify(const tlogproof *p, const note_verifier *known, size_t known_count,
                     const uint8_t leaf_hash[MERKLE_HASH_SIZE], checkpoint *cp, char *err,
                     size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
