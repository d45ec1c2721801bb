/* merkle.h — RFC 9162 (RFC 6962) Merkle tree hashing, proof generation over a
 * store of complete subtree hashes, proof verification, and an incremental
 * frontier for appending leaves. Design: docs/audit-formats.md.
 *
 * Errors: functions return 0 or a negative errno value: -EINVAL for bad
 * arguments, -EBADMSG when a proof or hash does not verify, -ERANGE when a
 * size does not fit, -ENOMEM; a store callback's own negative code is passed
 * through. Where an `err` buffer is taken (may be NULL) it receives a short
 * message saying what failed and where.
 *
 * sodium_init() must have succeeded before any function here is used. */
#ifndef TALLINN_MERKLE_H
#define TALLINN_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MERKLE_HASH_SIZE 32
/* Most hashes in an inclusion (64) or consistency (65) proof for any tree of
 * fewer than 2^64 leaves: size proof output buffers with this. */
#define MERKLE_MAX_PROOF 65
/* Highest level of a complete subtree in a tree of fewer than 2^64 leaves. */
#define MERKLE_MAX_LEVEL 63

/* A borrowed byte string of unchecked length, for hashes that arrive from
 * outside (wire, files, test vectors) and have not been length-checked. */
typedef struct merkle_span {
    const uint8_t *data;
    size_t len;
} merkle_span;

/* leaf = SHA-256(0x00 || data). */
void merkle_hash_leaf(const void *data, size_t len, uint8_t out[MERKLE_HASH_SIZE]);
/* node = SHA-256(0x01 || left || right); out may alias left or right. */
void merkle_hash_node(const uint8_t left[MERKLE_HASH_SIZE], const uint8_t right[MERKLE_HASH_SIZE],
                      uint8_t out[MERKLE_HASH_SIZE]);
/* Root of the empty tree = SHA-256(""). */
void merkle_hash_empty(uint8_t out[MERKLE_HASH_SIZE]);

/* Root of `count` leaf hashes stored back to back (count * 32 bytes).
 * count 0 gives the empty root. Uses O(log count) memory. */
int merkle_root(const uint8_t *leaf_hashes, uint64_t count, uint8_t out[MERKLE_HASH_SIZE]);

/* The hash store: writes the hash of the complete subtree at `level` and
 * `index`, the node covering leaves [index << level, (index + 1) << level),
 * to out. Level 0 nodes are leaf hashes. Returns 0, or a negative code that
 * the caller passes back unchanged. Only nodes inside the tree size given to
 * the proving function are ever asked for. */
typedef int (*merkle_node_fn)(void *ctx, unsigned level, uint64_t index,
                              uint8_t out[MERKLE_HASH_SIZE]);

/* Root of the tree of `size` leaves from the store: at most 64 reads. */
int merkle_root_from_store(uint64_t size, merkle_node_fn node, void *ctx,
                           uint8_t out[MERKLE_HASH_SIZE]);

/* Number of hashes in the inclusion proof of leaf `index` in a tree of `size`
 * leaves (0 if index >= size). */
size_t merkle_inclusion_proof_len(uint64_t index, uint64_t size);

/* Inclusion proof of leaf `index` in the tree of `size` leaves, in RFC 9162
 * order (leaf's sibling first), written to proof (room for `cap` hashes of
 * 32 bytes; MERKLE_MAX_PROOF always suffices); *count gets the number of
 * hashes. O(log size) reads. -EINVAL if index >= size, -ERANGE if cap is too
 * small. */
int merkle_prove_inclusion(uint64_t index, uint64_t size, merkle_node_fn node, void *ctx,
                           uint8_t *proof, size_t cap, size_t *count);

/* Consistency proof from size1 to size2 (0 < size1 <= size2), RFC 9162 order;
 * equal sizes give an empty proof. Same buffer rules as above. */
int merkle_prove_consistency(uint64_t size1, uint64_t size2, merkle_node_fn node, void *ctx,
                             uint8_t *proof, size_t cap, size_t *count);

/* RFC 9162 §2.1.3.2. proof is `count` hashes back to back. 0 if the leaf hash
 * at index is in the tree with this root; -EBADMSG otherwise (including
 * index >= size). */
int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_SIZE],
                            const uint8_t *proof, size_t count,
                            const uint8_t root[MERKLE_HASH_SIZE], char *err, size_t err_size);

/* RFC 9162 §2.1.4.2. 0 if root2 (size2) extends root1 (size1); -EBADMSG
 * otherwise. size1 == 0 is rejected; equal sizes need an empty proof and
 * equal roots. */
int merkle_verify_consistency(uint64_t size1, uint64_t size2,
                              const uint8_t root1[MERKLE_HASH_SIZE],
                              const uint8_t root2[MERKLE_HASH_SIZE], const uint8_t *proof,
                              size_t count, char *err, size_t err_size);

/* The same checks on byte strings of any length (the functions above call
 * these). A hash that is not 32 bytes where one is needed rejects. */
int merkle_verify_inclusion_span(uint64_t index, uint64_t size, merkle_span leaf,
                                 const merkle_span *proof, size_t count, merkle_span root,
                                 char *err, size_t err_size);
int merkle_verify_consistency_span(uint64_t size1, uint64_t size2, merkle_span root1,
                                   merkle_span root2, const merkle_span *proof, size_t count,
                                   char *err, size_t err_size);

/* The frontier ("compact range" [0, size)): the roots of the complete
 * subtrees that make up the tree, one per set bit of size. Appending a leaf
 * completes subtrees bottom-up; each is reported to the emit callback, which
 * is how a log maintains its hash tiles. */
typedef struct merkle_frontier merkle_frontier;

/* Called once per completed node on append: first the leaf (level 0), then
 * each completed parent, level by level. Return 0, or a negative code to
 * abort the append (the frontier is then left unchanged). */
typedef int (*merkle_emit_fn)(void *ctx, unsigned level, uint64_t index,
                              const uint8_t hash[MERKLE_HASH_SIZE]);

/* An empty frontier (size 0); free with merkle_frontier_destroy. */
int merkle_frontier_create(merkle_frontier **out);
void merkle_frontier_destroy(merkle_frontier *f);
/* Resets f to the tree of `size` leaves held in a store (at most 64 reads);
 * on error f is unchanged. */
int merkle_frontier_restore(merkle_frontier *f, uint64_t size, merkle_node_fn node, void *ctx);
uint64_t merkle_frontier_size(const merkle_frontier *f);
/* Appends one leaf hash. emit may be NULL. -ERANGE when the tree is full. */
int merkle_frontier_append(merkle_frontier *f, const uint8_t leaf[MERKLE_HASH_SIZE],
                           merkle_emit_fn emit, void *ctx);
/* Root of the tree of the current size (the empty root at size 0). */
void merkle_frontier_root(const merkle_frontier *f, uint8_t out[MERKLE_HASH_SIZE]);

#ifdef __cplusplus
}
#endif

#endif
