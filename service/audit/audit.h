/* audit.h — the signed, tamper-evident audit log: every change and every
 * refused write, appended in the same transaction as the change, hashed into
 * an RFC 9162 Merkle tree kept as 256-wide tiles, with a C2SP checkpoint
 * signed (Ed25519) after each group commit. Design: docs/audit.md. Private
 * to service/. */
#ifndef TALLINN_AUDIT_H
#define TALLINN_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/merkle.h"
#include "tallinn/rpc.h"
#include "tallinn/store.h"

#define AUDIT_KEY_FILE "audit.key"

/* Every record the server writes is bounded and valid by construction
 * (audit_record.c, docs/audit.md "Bounded records"): each string field is
 * valid UTF-8 without control characters and at most AUDIT_TEXT_MAX bytes (a
 * value that is not is recorded as an escaped prefix and listed, with its
 * SHA-256 and size, in AuditRecord.replaced), so a serialized record is at
 * most AUDIT_RECORD_MAX bytes, well below a tlog-tiles entry's 65,535. */
#define AUDIT_TEXT_MAX 512
#define AUDIT_RECORD_MAX 4096
/* What protobuf-c allocates, in 16-byte-aligned pieces, to decode a record
 * of at most AUDIT_RECORD_MAX bytes: a copy of each string and bytes field
 * (fewer bytes than the record), the structs (record, timestamp, up to 6
 * ReplacedText: under 1 KiB), one scan slab once a record has more than 16
 * fields (1 KiB) and the rounding of each piece (under 40 pieces: 640
 * bytes), so less than twice the record. Start-up decodes into a buffer of
 * this size; tests/unit/test_audit.c measures a record with every field at
 * its maximum (2,964 bytes) at 4,768 bytes decoded. */
#define AUDIT_DECODE_MAX (2 * AUDIT_RECORD_MAX)

typedef struct audit audit;

/* One record's content (audit.c adds index, time and server version). The
 * strings may hold anything a caller sent: audit_record_pack bounds them. */
typedef struct audit_entry {
    const char *principal;
    int role;             /* tallinn.v1.Principal.Role */
    const char *method;   /* "/tallinn.v1.NeedService/ValidateNeed" */
    const char *resource; /* "needs/abc", or "" */
    const char *request_id;
    const uint8_t *request_sha256; /* 32 bytes, or NULL */
    int status;           /* the gRPC status of the attempt */
    const char *etag;     /* the resource's etag after the change, or "" */
    /* A delivery step's evidence (evidence.h's evidence_digest): 32 bytes,
     * or NULL; and the number of documents it cites (bounded by the
     * handler; recorded as given). */
    const uint8_t *evidence_sha256;
    int32_t evidence_documents;
} audit_entry;

/* tallinnd init: a new signing key for `origin` (e.g. "host/tallinn"),
 * written to dir/audit.key (0600); *vkey gets the verifier key string. */
int audit_keygen(const char *dir, const char *origin, char *vkey, size_t vkey_size);

/* Opens the log over the store with the key in dir. Before anything else it
 * recomputes every tile and the root from the stored records (in one read
 * snapshot) and checks them against the audit head and the last signed
 * checkpoint: on any mismatch it fails, saying why in err, and the server
 * must not start. Then it observes the store's commits (store_observe):
 * every write batch locks the audit head first, so that every process
 * writing the database appends after every other. Close the store before
 * the log. */
int audit_open(audit **out, store *s, const char *dir, char *err, size_t errlen);
void audit_close(audit *a);

/* Write batches that found the head moved by another process and rebuilt
 * the tree's edge from the database first (committer thread; for tests and
 * metrics). */
uint64_t audit_catch_ups(const audit *a);

/* For scrapes, from any thread: the committed log's size, and when its latest
 * checkpoint was signed (Unix ms; 0: none yet). A checkpoint another replica
 * signed counts from when this one first saw it (its next write batch); one
 * found at start from its last record's time. */
typedef struct audit_metrics {
    uint64_t size;
    int64_t checkpoint_unix_ms;
} audit_metrics;
void audit_get_metrics(const audit *a, audit_metrics *out);

/* "name+keyid+base64" and the origin line. */
const char *audit_verifier_key(const audit *a);
const char *audit_origin(const audit *a);

/* Serializes e's record into out: the only way a record is built. Returns
 * its length (at most AUDIT_RECORD_MAX, whatever e holds), or 0 if it would
 * not fit (a bug: the bound is proven statically in audit_record.c). */
size_t audit_record_pack(const audit_entry *e, int64_t index, int64_t seconds, int32_t nanos,
                         uint8_t out[AUDIT_RECORD_MAX]);

/* Appends a record inside a write job (on the committer thread). */
int audit_append(audit *a, store_tx *tx, const audit_entry *e);

/* Records n events in one write job (refused calls, restricted reads) and
 * waits until they are durable. */
int audit_record(audit *a, const audit_entry *e, size_t n);

/* Proofs over the stored tiles, in a read transaction: O(log n) reads. */
int audit_inclusion_proof(audit *a, store_tx *tx, uint64_t index, uint64_t size,
                          uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_SIZE], size_t *n);
int audit_consistency_proof(audit *a, store_tx *tx, uint64_t size1, uint64_t size2,
                            uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_SIZE], size_t *n);

#endif
