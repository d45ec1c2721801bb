/* cosig.h — C2SP tlog-cosignature, Ed25519 "cosignature/v1": witness keys
 * (signature type 0x04), timestamped cosignature lines on checkpoints,
 * verifying them, counting a quorum, and adding cosignature lines to a
 * signed note. Design: docs/audit-formats.md.
 *
 * Errors: 0 or a negative errno value: -EINVAL malformed input or bad
 * argument, -ENOSPC output buffer too small, -EBADMSG a cosignature by a
 * known witness failed, -ENOKEY fewer valid cosignatures than the quorum,
 * -ENOMEM, -EIO when libsodium cannot start. `err` buffers (may be NULL) get
 * a short message.
 *
 * sodium_init() must have succeeded before the functions here are used
 * (cosig_signer_create and cosig_keygen call it themselves). */
#ifndef TALLINN_COSIG_H
#define TALLINN_COSIG_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/note.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COSIG_ALG_ED25519 0x04 /* signature type of Ed25519 cosignature/v1 keys */
#define COSIG_TIMESTAMP_SIZE 8
/* Decoded signature: key ID || timestamp (u64, big-endian) || Ed25519. */
#define COSIG_SIG_SIZE (NOTE_KEY_ID_SIZE + COSIG_TIMESTAMP_SIZE + NOTE_SIGNATURE_SIZE)
#define COSIG_TIMESTAMP_MAX ((uint64_t)INT64_MAX) /* the spec's 2^63 - 1 */
/* Key strings have the same shape as note.h's (name, 8 hex, 44 base64). */
#define COSIG_VERIFIER_KEY_MAX NOTE_VERIFIER_KEY_MAX
#define COSIG_PRIVATE_KEY_MAX NOTE_PRIVATE_KEY_MAX
/* "— " name " " base64(76 bytes) "\n", without a NUL. */
#define COSIG_LINE_MAX (4 + NOTE_NAME_MAX + 1 + 104 + 1)

/* A witness's public key: plain data, owned by the caller. key_id is
 * SHA-256(name || 0x0A || 0x04 || public key)[:4], big-endian. */
typedef struct cosig_verifier {
    char name[NOTE_NAME_MAX + 1];
    uint32_t key_id;
    uint8_t public_key[NOTE_PUBLIC_KEY_SIZE];
} cosig_verifier;

/* Key ID of a cosignature/v1 key. -EINVAL for an invalid name. */
int cosig_key_id(const char *name, const uint8_t pub[NOTE_PUBLIC_KEY_SIZE], uint32_t *id);

/* Parses a C2SP vkey "name+keyid+base64(0x04 || pub)" (NUL-terminated); the
 * type must be 0x04 and the key ID must match. A log's Ed25519 key (type
 * 0x01) is refused with a message that says so. */
int cosig_verifier_parse(const char *vkey, cosig_verifier *out, char *err, size_t err_size);
/* Writes the vkey string (NUL-terminated) to buf. */
int cosig_verifier_format(const cosig_verifier *v, char *buf, size_t size);

/* A witness's private key, in guarded memory, wiped on destroy. */
typedef struct cosig_signer cosig_signer;

/* Parses "PRIVATE+KEY+name+keyid+base64(0x04 || 32-byte seed)" (the form
 * cosig_keygen writes and the Go witnesses load); the key ID must be the
 * cosignature key ID of the derived public key. The string stays the
 * caller's to wipe. */
int cosig_signer_create(const char *skey, cosig_signer **out, char *err, size_t err_size);
void cosig_signer_destroy(cosig_signer *s);
const char *cosig_signer_name(const cosig_signer *s); /* borrowed */
void cosig_signer_verifier(const cosig_signer *s, cosig_verifier *out);

/* A fresh witness key pair for `name`: the private key string (a secret: the
 * caller wipes it) and the vkey string. */
int cosig_keygen(const char *name, char *skey, size_t skey_size, char *vkey, size_t vkey_size);

/* The message a cosignature/v1 signs: "cosignature/v1\ntime <timestamp>\n"
 * then the checkpoint's note text (ending in '\n', no signature lines).
 * malloc'd (caller frees); *len is its length. */
int cosig_message(uint64_t timestamp, const char *text, size_t text_len, char **msg,
                  size_t *len);

/* Cosigns a checkpoint: text is the note text (a well-formed C2SP
 * checkpoint), timestamp in 1..COSIG_TIMESTAMP_MAX (the witness protocol
 * forbids 0). Writes one signature line "— name base64(id || time || sig)\n"
 * (NUL-terminated; *len excludes the NUL) into line, which needs
 * COSIG_LINE_MAX + 1 bytes at most. Deterministic for a given timestamp. */
int cosig_sign(const cosig_signer *s, uint64_t timestamp, const char *text, size_t text_len,
               char *line, size_t size, size_t *len, char *err, size_t err_size);

/* Checks one signature line of a parsed note against one witness key: 0 and
 * *timestamp if it is that witness's valid cosignature over the note's text;
 * -ENOENT if the line's key name or ID is another key's; -EBADMSG if it names
 * this key but is not a valid cosignature (wrong length, timestamp above
 * 2^63 - 1, bad signature). */
int cosig_verify_sig(const cosig_verifier *v, const note_parsed *p, size_t sig_index,
                     uint64_t *timestamp, char *err, size_t err_size);

/* The cosignatures of a parsed note by the known witnesses. Lines by other
 * keys (the log's own, unknown witnesses) are ignored; every line that names
 * a known witness must verify (-EBADMSG naming the witness otherwise). A
 * witness counts once however many lines it has. *valid (may be NULL) gets
 * the number of known witnesses with a valid cosignature; timestamps (may be
 * NULL; known_count entries) gets each one's latest timestamp, 0 if it has
 * none. */
int cosig_verify(const note_parsed *p, const cosig_verifier *known, size_t known_count,
                 size_t *valid, uint64_t *timestamps, char *err, size_t err_size);

/* cosig_verify on a signed note (len bytes), then the quorum: -ENOKEY, with
 * a message naming the witnesses that did not cosign, when fewer than
 * `quorum` (>= 1, <= known_count) known witnesses validly cosigned. The log's
 * own signature is NOT checked here: use checkpoint_open for that. */
int cosig_check_quorum(const char *msg, size_t len, const cosig_verifier *known,
                       size_t known_count, size_t quorum, size_t *valid, char *err,
                       size_t err_size);

/* Adds signature lines (each "— name base64\n", lines_len bytes, e.g. a
 * witness's add-checkpoint response) to a signed note: a line whose key name
 * and ID are already in the note replaces that line, the others are appended
 * in order. The result (malloc'd, NUL-terminated; caller frees) must be a
 * well-formed note of at most NOTE_MAX_SIGS lines. Signatures are not
 * verified here. */
int cosig_note_add(const char *msg, size_t len, const char *lines, size_t lines_len, char **out,
                   size_t *out_len, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
