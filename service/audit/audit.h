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

typedef struct audit audit;

/* One record's content (audit.c adds index, time and server version). */
typedef struct audit_entry {
    const char *principal;
    int role;             /* tallinn.v1.Principal.Role */
    const char *method;   /* "/tallinn.v1.NeedService/ValidateNeed" */
    const char *resource; /* "needs/abc", or "" */
    const char *request_id;
    const uint8_t *request_sha256; /* 32 bytes, or NULL */
    int status;           /* the gRPC status of the attempt */
    const char *etag;     /* the resource's etag after the change, or "" */
} audit_entry;

/* tallinnd init: a new signing key for `origin` (e.g. "host/tallinn"),
 * written to dir/audit.key (0600); *vkey gets the verifier key string. */
int audit_keygen(const char *dir, const char *origin, char *vkey, size_t vkey_size);

/* Opens the log over the store with the key in dir. Before anything else it
 * recomputes every tile and the root from the stored records and checks them
 * against the last signed checkpoint: on any mismatch it fails, saying why in
 * err, and the server must not start. Installs the store's batch hooks. */
int audit_open(audit **out, store *s, const char *dir, char *err, size_t errlen);
void audit_close(audit *a);

/* "name+keyid+base64" and the origin line. */
const char *audit_verifier_key(const audit *a);
const char *audit_origin(const audit *a);

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
