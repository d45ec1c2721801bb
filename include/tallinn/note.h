/* note.h — C2SP signed notes with Ed25519: key strings, key IDs, signing,
 * parsing and verifying. Design: docs/audit-formats.md.
 *
 * Errors: 0 or a negative errno value: -EINVAL malformed input or bad
 * argument, -ENOSPC output buffer too small, -EBADMSG a signature by a known
 * key failed, -ENOKEY no known key signed the note, -ENOMEM, -EIO when
 * libsodium cannot start. `err` buffers (may be NULL) get a short message.
 *
 * sodium_init() must have succeeded before the functions here are used
 * (note_signer_create and note_keygen call it themselves). */
#ifndef TALLINN_NOTE_H
#define TALLINN_NOTE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NOTE_NAME_MAX 255       /* longest key name accepted, in bytes */
#define NOTE_KEY_ID_SIZE 4
#define NOTE_ALG_ED25519 0x01   /* signature type byte of Ed25519 keys */
#define NOTE_PUBLIC_KEY_SIZE 32 /* Ed25519 public key */
#define NOTE_SEED_SIZE 32       /* Ed25519 private key seed */
#define NOTE_SIGNATURE_SIZE 64  /* Ed25519 signature */
#define NOTE_MAX_SIGS 100       /* signature lines accepted in one note */
/* Buffer sizes for key strings, terminating NUL included:
 * name '+' 8 hex '+' base64(33 bytes) = 44 characters. */
#define NOTE_VERIFIER_KEY_MAX (NOTE_NAME_MAX + 1 + 8 + 1 + 44 + 1)
#define NOTE_PRIVATE_KEY_MAX (12 + NOTE_VERIFIER_KEY_MAX)
/* "— " name " " base64(4 + 64 bytes) "\n": the signature line of one key. */
#define NOTE_SIG_LINE_MAX (4 + NOTE_NAME_MAX + 1 + 92 + 1)

/* A known key: plain public data, owned by the caller. */
typedef struct note_verifier {
    char name[NOTE_NAME_MAX + 1];
    uint32_t key_id;
    uint8_t public_key[NOTE_PUBLIC_KEY_SIZE];
} note_verifier;

/* 0 if name (len bytes) is a valid key name: non-empty, at most
 * NOTE_NAME_MAX bytes, valid UTF-8, no Unicode spaces, no '+'; else -EINVAL. */
int note_check_name(const char *name, size_t len);

/* 0 if text (len bytes) is valid note content: well-formed UTF-8 with no
 * ASCII control characters other than '\n'; else -EINVAL and, if where is not
 * NULL, the offset of the first bad byte. */
int note_check_text(const char *text, size_t len, size_t *where);

/* Key ID = first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || pub). */
int note_key_id(const char *name, const uint8_t pub[NOTE_PUBLIC_KEY_SIZE], uint32_t *id);

/* Parses "name+keyid+base64(0x01 || pub)" (NUL-terminated); the key ID must be
 * 8 lowercase hex digits and match the key. */
int note_verifier_parse(const char *vkey, note_verifier *out, char *err, size_t err_size);
/* Writes the verifier key string (NUL-terminated) to buf. */
int note_verifier_format(const note_verifier *v, char *buf, size_t size);

/* A private key, kept in guarded memory and wiped on destroy. */
typedef struct note_signer note_signer;

/* Parses "PRIVATE+KEY+name+keyid+base64(0x01 || seed)"; the key ID must match
 * the key. Free with note_signer_destroy. The string stays the caller's to
 * wipe. */
int note_signer_create(const char *skey, note_signer **out, char *err, size_t err_size);
void note_signer_destroy(note_signer *s);
/* Borrowed; valid until the signer is destroyed. */
const char *note_signer_name(const note_signer *s);
uint32_t note_signer_key_id(const note_signer *s);
/* The matching public key. */
void note_signer_verifier(const note_signer *s, note_verifier *out);

/* A fresh key pair for `name`: the private key string (a secret: the caller
 * wipes it, e.g. with sodium_memzero) and the verifier key string. */
int note_keygen(const char *name, char *skey, size_t skey_size, char *vkey, size_t vkey_size);

/* Signs note text (valid UTF-8, no control characters but '\n', ending in
 * '\n'): writes text, a blank line and the signature line to out (NUL-
 * terminated, *out_len excludes the NUL). Deterministic (Ed25519).
 * out_size >= text_len + 1 + NOTE_SIG_LINE_MAX + 1 always suffices. */
int note_sign(const note_signer *s, const char *text, size_t text_len, char *out,
              size_t out_size, size_t *out_len, char *err, size_t err_size);

/* One signature line; pointers borrow from the parsed message. */
typedef struct note_sig {
    const char *name;
    size_t name_len;
    uint32_t key_id;
    const char *b64; /* base64(key ID || signature) */
    size_t b64_len;
} note_sig;

/* A signed note split into text and signature lines, pointing into the
 * message, which must outlive it. Caller-owned; nothing to free. */
typedef struct note_parsed {
    const char *msg;
    size_t text_len; /* the text is msg[0, text_len), ending in '\n' */
    size_t sig_count;
    note_sig sigs[NOTE_MAX_SIGS];
} note_parsed;

/* Splits a signed note (not NUL-terminated; len bytes) at its last blank line
 * and parses every signature line. Checks the format only: valid UTF-8, no
 * control characters but '\n', well-formed lines, at most NOTE_MAX_SIGS. */
int note_parse(const char *msg, size_t len, note_parsed *out, char *err, size_t err_size);

/* Applies the verification rules: lines from keys not in `known` (name and
 * ID) are ignored; every line from a known key must verify (-EBADMSG
 * otherwise); at least one must (-ENOKEY otherwise). *verified (may be NULL)
 * gets the number of lines that verified. */
int note_verify(const note_parsed *p, const note_verifier *known, size_t known_count,
                size_t *verified, char *err, size_t err_size);

/* note_parse + note_verify; *text_len gets the length of the verified text,
 * which starts at msg. */
int note_open(const char *msg, size_t len, const note_verifier *known, size_t known_count,
              size_t *text_len, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
