/* evidence.h — delivery evidence (MarkDelivered, AcceptDelivery,
 * RejectDelivery): the documents a delivery step cites, each a SHA-256
 * digest, a name and a media type (the documents themselves stay with their
 * owners), checked strictly, and the digest of one step's evidence that the
 * audit log records. Pure functions, safe from any thread. Design:
 * docs/api.md ("Delivery evidence"), docs/audit.md ("Bounded records"). */
#ifndef TALLINN_EVIDENCE_H
#define TALLINN_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVIDENCE_MAX_DOCUMENTS 16   /* documents one step may cite */
#define EVIDENCE_MAX_STEPS 32       /* delivery steps one match keeps */
#define EVIDENCE_NAME_MAX 200       /* a document's name, code points, one line */
#define EVIDENCE_NOTE_MAX 2000      /* a step's note, code points, multi-line */
#define EVIDENCE_SHA256_HEX 64      /* digits of a digest */
#define EVIDENCE_MEDIA_NAME_MAX 127 /* RFC 6838: a type or subtype name */
#define EVIDENCE_MEDIA_TYPE_MAX (2 * EVIDENCE_MEDIA_NAME_MAX + 1) /* "type/subtype" */
#define EVIDENCE_DIGEST_BYTES 32

/* The digest of a document: exactly 64 lower-case hexadecimal digits, the
 * form sha256sum prints. Returns VALIDATE_OK, VALIDATE_ERR_EMPTY or
 * VALIDATE_ERR_SYNTAX (wrong length, a non-hex or upper-case digit). */
int evidence_check_sha256(const char *s, size_t len);

/* A media type, RFC 6838 section 4.2: type-name "/" subtype-name, each
 * 1..127 characters, the first a letter or digit, the rest letters, digits
 * or ! # $ & - ^ _ . +; no parameters, no spaces. Names compare without
 * regard to case: if lower is not NULL (EVIDENCE_MEDIA_TYPE_MAX + 1 bytes)
 * it gets the lower-case form the service keeps. Returns VALIDATE_OK,
 * VALIDATE_ERR_EMPTY, VALIDATE_ERR_TOO_LONG or VALIDATE_ERR_SYNTAX. */
int evidence_check_media_type(const char *s, size_t len, char *lower);

/* One document of a step, as recorded (media_type in lower case). */
typedef struct evidence_doc {
    const char *sha256; /* 64 lower-case hex digits */
    const char *name;
    const char *media_type;
} evidence_doc;

/* The digest of one step's evidence, which the audit record of the step
 * keeps (AuditRecord.evidence_sha256): SHA-256 over
 *   "tallinn-evidence-v1\n"
 *   u32 length of note, note's bytes
 *   u32 number of documents, then for each, in order:
 *     its digest's 32 bytes, u32 length of name, name,
 *     u32 length of media_type, media_type
 * (u32 big-endian; lengths in bytes). Anyone holding the match can
 * recompute it and find the step's record in the log. Returns 0, or -1 for a
 * document whose sha256 is not 64 hex digits or a length past 2^32 - 1. */
int evidence_digest(const char *note, const evidence_doc *docs, size_t n,
                    uint8_t out[EVIDENCE_DIGEST_BYTES]);

#ifdef __cplusplus
}
#endif

#endif
