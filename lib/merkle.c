/* merkle.c — RFC 9162 Merkle tree: hashing, proofs from a store of complete
 * subtree hashes, proof verification, and the append frontier. */
#include "tlog_util.h"
#include "tallinn/merkle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct merkle_frontier {
    uint64_t size;
    /* hash[L] is valid when bit L of size is set. */
    uint8_t hash[MERKLE_MAX_LEVEL + 1][MERKLE_HASH_SIZE];
};


/* floor(log2(x)) for x > 0. */
static unsigned log2_floor(uint64_t x)
{
    return 63u - (unsigned)__builtin_clzll(x);
}

/* Largest power of two strictly below n, for n >= 2 (RFC 9162's split k). */
static uint64_t split_point(uint64_t n)
{
    return (uint64_t)1 << log2_floor(n - 1);
}

static int store_error(int rc)
{
    return rc < 0 ? rc : -EIO;
}

void merkle_hash_leaf(const void *data, size_t len, uint8_t out[MERKLE_HASH_SIZE])
{
    static const uint8_t prefix = 0x00;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    if (len > 0)
        crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void merkle_hash_node(const uint8_t left[MERKLE_HASH_SIZE], const uint8_t right[MERKLE_HASH_SIZE],
                      uint8_t out[MERKLE_HASH_SIZE])
{
    uint8_t buf[1 + 2 * MERKLE_HASH_SIZE];
    buf[0] = 0x01;
    memcpy(buf + 1, left, MERKLE_HASH_SIZE);
    memcpy(buf + 1 + MERKLE_HASH_SIZE, right, MERKLE_HASH_SIZE);
    crypto_hash_sha256(out, buf, sizeof buf);
}

void merkle_hash_empty(uint8_t out[MERKLE_HASH_SIZE])
{
    crypto_hash_sha256(out, (const unsigned char *)"", 0);
}

/* ---- the frontier ---------------------------------------------------- */

/* Root of the complete subtrees listed by the set bits of size. */
static void frontier_root(const struct merkle_frontier *f, uint8_t out[MERKLE_HASH_SIZE])
{
    if (f->size == 0) {
        merkle_hash_empty(out);
        return;
    }
    unsigned low = (unsigned)__builtin_ctzll(f->size);
    uint8_t acc[MERKLE_HASH_SIZE];
    memcpy(acc, f->hash[low], MERKLE_HASH_SIZE);
    for (unsigned l = low + 1; l <= MERKLE_MAX_LEVEL; l++)
        if ((f->size >> l) & 1)
            merkle_hash_node(f->hash[l], acc, acc);
    memcpy(out, acc, MERKLE_HASH_SIZE);
}

static int frontier_append(struct merkle_frontier *f, const uint8_t leaf[MERKLE_HASH_SIZE],
                           merkle_emit_fn emit, void *ctx)
{
    if (f->size == UINT64_MAX)
        return -ERANGE;
    uint8_t cur[MERKLE_HASH_SIZE];
    memcpy(cur, leaf, MERKLE_HASH_SIZE);
    unsigned level = 0;
    if (emit) {
        int rc = emit(ctx, 0, f->size, cur);
        if (rc != 0)
            return store_error(rc);
    }
    /* Each set low bit of size is a complete sibling waiting on the left. */
    while ((f->size >> level) & 1) {
        merkle_hash_node(f->hash[level], cur, cur);
        level++;
        if (emit) {
            int rc = emit(ctx, level, f->size >> level, cur);
            if (rc != 0)
                return store_error(rc);
        }
    }
    memcpy(f->hash[level], cur, MERKLE_HASH_SIZE);
    f->size++;
    return 0;
}

static int frontier_load(struct merkle_frontier *f, uint64_t size, merkle_node_fn node, void *ctx)
{
    f->size = size;
    for (unsigned l = 0; l <= MERKLE_MAX_LEVEL; l++) {
        if (!((size >> l) & 1))
            continue;
        int rc = node(ctx, l, (size >> l) - 1, f->hash[l]);
        if (rc != 0)
            return store_error(rc);
    }
    return 0;
}

int merkle_frontier_create(merkle_frontier **out)
{
    if (!out)
        return -EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void merkle_frontier_destroy(merkle_frontier *f)
{
    free(f);
}

int merkle_frontier_restore(merkle_frontier *f, uint64_t size, merkle_node_fn node, void *ctx)
{
    if (!f || !node)
        return -EINVAL;
    struct merkle_frontier tmp;
    int rc = frontier_load(&tmp, size, node, ctx);
    if (rc == 0)
        *f = tmp;
    return rc;
}

uint64_t merkle_frontier_size(const merkle_frontier *f)
{
    return f ? f->size : 0;
}

int merkle_frontier_append(merkle_frontier *f, const uint8_t leaf[MERKLE_HASH_SIZE],
                           merkle_emit_fn emit, void *ctx)
{
    if (!f || !leaf)
        return -EINVAL;
    return frontier_append(f, leaf, emit, ctx);
}

void merkle_frontier_root(const merkle_frontier *f, uint8_t out[MERKLE_HASH_SIZE])
{
    frontier_root(f, out);
}

int merkle_root(const uint8_t *leaf_hashes, uint64_t count, uint8_t out[MERKLE_HASH_SIZE])
{
    if (!out || (count > 0 && !leaf_hashes))
        return -EINVAL;
    if (count > SIZE_MAX / MERKLE_HASH_SIZE)
        return -ERANGE;
    struct merkle_frontier f;
    f.size = 0;
    for (uint64_t i = 0; i < count; i++)
        frontier_append(&f, leaf_hashes + i * MERKLE_HASH_SIZE, NULL, NULL);
    frontier_root(&f, out);
    return 0;
}

int merkle_root_from_store(uint64_t size, merkle_node_fn node, void *ctx,
                           uint8_t out[MERKLE_HASH_SIZE])
{
    if (!node || !out)
        return -EINVAL;
    struct merkle_frontier f;
    int rc = frontier_load(&f, size, node, ctx);
    if (rc == 0)
        frontier_root(&f, out);
    return rc;
}

/* ---- proof generation ------------------------------------------------ */

/* MTH(D[lo:hi]) for a range of the RFC 9162 recursion: either a complete
 * aligned subtree (one read) or a right edge, whose aligned blocks from the
 * left have decreasing sizes and fold from the right (one read per block). */
static int range_hash(uint64_t lo, uint64_t hi, merkle_node_fn node, void *ctx,
                      uint8_t out[MERKLE_HASH_SIZE])
{
    uint8_t blocks[MERKLE_MAX_LEVEL + 1][MERKLE_HASH_SIZE];
    size_t n = 0;
    unsigned prev = MERKLE_MAX_LEVEL + 1;
    while (lo < hi) {
        unsigned level = log2_floor(hi - lo);
        if (lo != 0 && (unsigned)__builtin_ctzll(lo) < level)
            level = (unsigned)__builtin_ctzll(lo);
        /* Decreasing block sizes hold for every range the recursion asks
         * for; anything else would be a bug here, not bad input. */
        if (level >= prev || n > MERKLE_MAX_LEVEL)
            return -EINVAL;
        int rc = node(ctx, level, lo >> level, blocks[n]);
        if (rc != 0)
            return store_error(rc);
        n++;
        prev = level;
        lo += (uint64_t)1 << level;
    }
    if (n == 0)
        return -EINVAL;
    uint8_t acc[MERKLE_HASH_SIZE];
    memcpy(acc, blocks[n - 1], MERKLE_HASH_SIZE);
    for (size_t i = n - 1; i-- > 0;)
        merkle_hash_node(blocks[i], acc, acc);
    memcpy(out, acc, MERKLE_HASH_SIZE);
    return 0;
}

/* The recursion yields hashes root-side first; proofs list them leaf-side
 * first. */
static int emit_reversed(uint8_t tmp[][MERKLE_HASH_SIZE], size_t n, uint8_t *proof, size_t cap,
                         size_t *count)
{
    if (n > cap)
        return -ERANGE;
    for (size_t i = 0; i < n; i++)
        memcpy(proof + i * MERKLE_HASH_SIZE, tmp[n - 1 - i], MERKLE_HASH_SIZE);
    *count = n;
    return 0;
}

size_t merkle_inclusion_proof_len(uint64_t index, uint64_t size)
{
    if (index >= size)
        return 0;
    /* Levels where the path to the root has a right sibling subtree that
     * is complete (inner), plus the ones on the tree's right border. */
    uint64_t diff = index ^ (size - 1);
    unsigned inner = diff ? log2_floor(diff) + 1 : 0;
    uint64_t rest = inner >= 64 ? 0 : index >> inner;
    return inner + (size_t)__builtin_popcountll(rest);
}

int merkle_prove_inclusion(uint64_t index, uint64_t size, merkle_node_fn node, void *ctx,
                           uint8_t *proof, size_t cap, size_t *count)
{
    if (!node || !count || (cap > 0 && !proof) || index >= size)
        return -EINVAL;
    uint8_t tmp[MERKLE_MAX_PROOF][MERKLE_HASH_SIZE];
    size_t n = 0;
    uint64_t lo = 0, hi = size;
    /* PATH(m, D[lo:hi]): the sibling at each split, top down. */
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        int rc;
        if (index < lo + k) {
            rc = range_hash(lo + k, hi, node, ctx, tmp[n]);
            hi = lo + k;
        } else {
            rc = range_hash(lo, lo + k, node, ctx, tmp[n]);
            lo += k;
        }
        if (rc != 0)
            return rc;
        n++;
    }
    return emit_reversed(tmp, n, proof, cap, count);
}

int merkle_prove_consistency(uint64_t size1, uint64_t size2, merkle_node_fn node, void *ctx,
                             uint8_t *proof, size_t cap, size_t *count)
{
    if (!node || !count || (cap > 0 && !proof) || size1 == 0 || size1 > size2)
        return -EINVAL;
    uint8_t tmp[MERKLE_MAX_PROOF][MERKLE_HASH_SIZE];
    size_t n = 0;
    if (size1 == size2) {
        *count = 0;
        return 0;
    }
    /* SUBPROOF(m, D[lo:hi], b), with m = size1 an absolute leaf count. */
    uint64_t lo = 0, hi = size2;
    int whole = 1; /* b: D[lo:hi] is the whole old tree's side, root known */
    for (;;) {
        int rc;
        if (size1 == hi) {
            if (!whole) {
                rc = range_hash(lo, hi, node, ctx, tmp[n]);
                if (rc != 0)
                    return rc;
                n++;
            }
            break;
        }
        uint64_t k = split_point(hi - lo);
        if (size1 <= lo + k) {
            rc = range_hash(lo + k, hi, node, ctx, tmp[n]);
            hi = lo + k;
        } else {
            rc = range_hash(lo, lo + k, node, ctx, tmp[n]);
            lo += k;
            whole = 0;
        }
        if (rc != 0)
            return rc;
        n++;
    }
    return emit_reversed(tmp, n, proof, cap, count);
}

/* ---- verification ---------------------------------------------------- */

static int span_equal(merkle_span a, merkle_span b)
{
    if (a.len != b.len)
        return 0;
    return a.len == 0 || sodium_memcmp(a.data, b.data, a.len) == 0;
}

static int check_hash_span(merkle_span s, const char *what, size_t i, char *err, size_t err_size)
{
    if (s.len == MERKLE_HASH_SIZE && s.data)
        return 0;
    if (i == SIZE_MAX)
        return tlog__set_err(err, err_size, -EBADMSG, "%s is %zu bytes, not %d", what, s.len,
                       MERKLE_HASH_SIZE);
    return tlog__set_err(err, err_size, -EBADMSG, "%s %zu is %zu bytes, not %d", what, i, s.len,
                   MERKLE_HASH_SIZE);
}

int merkle_verify_inclusion_span(uint64_t index, uint64_t size, merkle_span leaf,
                                 const merkle_span *proof, size_t count, merkle_span root,
                                 char *err, size_t err_size)
{
    if (count > 0 && !proof)
        return tlog__set_err(err, err_size, -EINVAL, "no proof hashes given");
    if (index >= size)
        return tlog__set_err(err, err_size, -EBADMSG,
                       "leaf index %llu is not below tree size %llu",
                       (unsigned long long)index, (unsigned long long)size);
    int rc = check_hash_span(leaf, "leaf hash", SIZE_MAX, err, err_size);
    if (rc == 0)
        rc = check_hash_span(root, "root hash", SIZE_MAX, err, err_size);
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = check_hash_span(proof[i], "proof hash", i, err, err_size);
    if (rc != 0)
        return rc;

    uint64_t fn = index, sn = size - 1;
    uint8_t r[MERKLE_HASH_SIZE];
    memcpy(r, leaf.data, MERKLE_HASH_SIZE);
    for (size_t i = 0; i < count; i++) {
        if (sn == 0)
            return tlog__set_err(err, err_size, -EBADMSG,
                           "proof too long: %zu hashes for index %llu in size %llu", count,
                           (unsigned long long)index, (unsigned long long)size);
        if ((fn & 1) || fn == sn) {
            merkle_hash_node(proof[i].data, r, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            merkle_hash_node(r, proof[i].data, r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return tlog__set_err(err, err_size, -EBADMSG,
                       "proof too short: %zu hashes for index %llu in size %llu", count,
                       (unsigned long long)index, (unsigned long long)size);
    if (sodium_memcmp(r, root.data, MERKLE_HASH_SIZE) != 0)
        return tlog__set_err(err, err_size, -EBADMSG,
                       "inclusion proof for index %llu does not lead to the root of size %llu",
                       (unsigned long long)index, (unsigned long long)size);
    return 0;
}

int merkle_verify_consistency_span(uint64_t size1, uint64_t size2, merkle_span root1,
                                   merkle_span root2, const merkle_span *proof, size_t count,
                                   char *err, size_t err_size)
{
    if (count > 0 && !proof)
        return tlog__set_err(err, err_size, -EINVAL, "no proof hashes given");
    if (size1 > size2)
        return tlog__set_err(err, err_size, -EBADMSG, "old size %llu is larger than new size %llu",
                       (unsigned long long)size1, (unsigned long long)size2);
    if (size1 == 0)
        return tlog__set_err(err, err_size, -EBADMSG,
                       "old size 0: nothing to prove consistent (check the empty root instead)");
    if (size1 == size2) {
        if (count != 0)
            return tlog__set_err(err, err_size, -EBADMSG,
                           "sizes are equal (%llu) but the proof has %zu hashes, not 0",
                           (unsigned long long)size1, count);
        if (!span_equal(root1, root2))
            return tlog__set_err(err, err_size, -EBADMSG,
                           "sizes are equal (%llu) but the roots differ",
                           (unsigned long long)size1);
        return 0;
    }
    if (count == 0)
        return tlog__set_err(err, err_size, -EBADMSG, "empty consistency proof from %llu to %llu",
                       (unsigned long long)size1, (unsigned long long)size2);
    int rc = check_hash_span(root1, "old root hash", SIZE_MAX, err, err_size);
    if (rc == 0)
        rc = check_hash_span(root2, "new root hash", SIZE_MAX, err, err_size);
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = check_hash_span(proof[i], "proof hash", i, err, err_size);
    if (rc != 0)
        return rc;

    /* An old tree that is a complete subtree is its own first proof node. */
    int prepend = (size1 & (size1 - 1)) == 0;
    size_t total = count + (size_t)prepend;
#define PATH(i) (prepend ? ((i) == 0 ? root1.data : proof[(i) - 1].data) : proof[(i)].data)
    uint64_t fn = size1 - 1, sn = size2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[MERKLE_HASH_SIZE], sr[MERKLE_HASH_SIZE];
    memcpy(fr, PATH(0), MERKLE_HASH_SIZE);
    memcpy(sr, PATH(0), MERKLE_HASH_SIZE);
    for (size_t i = 1; i < total; i++) {
        const uint8_t *c = PATH(i);
        if (sn == 0)
            return tlog__set_err(err, err_size, -EBADMSG,
                           "proof too long: %zu hashes from size %llu to %llu", count,
                           (unsigned long long)size1, (unsigned long long)size2);
        if ((fn & 1) || fn == sn) {
            merkle_hash_node(c, fr, fr);
            merkle_hash_node(c, sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            merkle_hash_node(sr, c, sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
#undef PATH
    if (sn != 0)
        return tlog__set_err(err, err_size, -EBADMSG,
                       "proof too short: %zu hashes from size %llu to %llu", count,
                       (unsigned long long)size1, (unsigned long long)size2);
    if (sodium_memcmp(fr, root1.data, MERKLE_HASH_SIZE) != 0)
        return tlog__set_err(err, err_size, -EBADMSG,
                       "consistency proof does not lead to the old root (size %llu)",
                       (unsigned long long)size1);
    if (sodium_memcmp(sr, root2.data, MERKLE_HASH_SIZE) != 0)
        return tlog__set_err(err, err_size, -EBADMSG,
                       "consistency proof does not lead to the new root (size %llu)",
                       (unsigned long long)size2);
    return 0;
}

static void spans_of(const uint8_t *proof, size_t count, merkle_span *spans)
{
    for (size_t i = 0; i < count; i++) {
        spans[i].data = proof + i * MERKLE_HASH_SIZE;
        spans[i].len = MERKLE_HASH_SIZE;
    }
}

int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_SIZE],
                            const uint8_t *proof, size_t count,
                            const uint8_t root[MERKLE_HASH_SIZE], char *err, size_t err_size)
{
    if (!leaf || !root || (count > 0 && !proof))
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    /* No valid proof is longer; refusing early bounds the stack array. */
    if (count > MERKLE_MAX_PROOF)
        return tlog__set_err(err, err_size, -EBADMSG, "proof too long: %zu hashes", count);
    merkle_span spans[MERKLE_MAX_PROOF];
    spans_of(proof, count, spans);
    return merkle_verify_inclusion_span(index, size,
                                        (merkle_span){leaf, MERKLE_HASH_SIZE}, spans, count,
                                        (merkle_span){root, MERKLE_HASH_SIZE}, err, err_size);
}

int merkle_verify_consistency(uint64_t size1, uint64_t size2,
                              const uint8_t root1[MERKLE_HASH_SIZE],
                              const uint8_t root2[MERKLE_HASH_SIZE], const uint8_t *proof,
                              size_t count, char *err, size_t err_size)
{
    if (!root1 || !root2 || (count > 0 && !proof))
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    if (count > MERKLE_MAX_PROOF)
        return tlog__set_err(err, err_size, -EBADMSG, "proof too long: %zu hashes", count);
    merkle_span spans[MERKLE_MAX_PROOF];
    spans_of(proof, count, spans);
    return merkle_verify_consistency_span(size1, size2,
                                          (merkle_span){root1, MERKLE_HASH_SIZE},
                                          (merkle_span){root2, MERKLE_HASH_SIZE}, spans, count,
                                          err, err_size);
}
