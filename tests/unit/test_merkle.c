/* test_merkle.c — Merkle hashing, proofs and the frontier against the
 * transparency-dev known-answer vectors and a recursive RFC 9162 reference. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sodium.h>

#include "tallinn/merkle.h"

#define H MERKLE_HASH_SIZE

/* ---- helpers ---------------------------------------------------------- */

static const char *data_dir(void)
{
    const char *d = getenv("TALLINN_TEST_DATA");
    if (!d || !*d)
        fail_msg("TALLINN_TEST_DATA is not set");
    return d;
}

static void hex_to_hash(const char *hex, uint8_t out[H])
{
    size_t n = 0;
    assert_int_equal(sodium_hex2bin(out, H, hex, strlen(hex), NULL, &n, NULL), 0);
    assert_int_equal(n, H);
}

/* ---- the recursive reference (RFC 9162 §2.1, literally) --------------- */

typedef struct ref_tree {
    const uint8_t *leaves; /* leaf hashes, H bytes each */
} ref_tree;

static uint64_t ref_split(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

/* MTH(D[a:b]) over leaf hashes. */
static void ref_mth(const ref_tree *t, uint64_t a, uint64_t b, uint8_t out[H])
{
    if (b - a == 0) {
        merkle_hash_empty(out);
        return;
    }
    if (b - a == 1) {
        memcpy(out, t->leaves + a * H, H);
        return;
    }
    uint64_t k = ref_split(b - a);
    uint8_t l[H], r[H];
    ref_mth(t, a, a + k, l);
    ref_mth(t, a + k, b, r);
    merkle_hash_node(l, r, out);
}

/* PATH(m, D[a:b]) appended to out. */
static void ref_path(const ref_tree *t, uint64_t m, uint64_t a, uint64_t b, uint8_t *out,
                     size_t *n)
{
    if (b - a <= 1)
        return;
    uint64_t k = ref_split(b - a);
    if (m < k) {
        ref_path(t, m, a, a + k, out, n);
        ref_mth(t, a + k, b, out + (*n)++ * H);
    } else {
        ref_path(t, m - k, a + k, b, out, n);
        ref_mth(t, a, a + k, out + (*n)++ * H);
    }
}

/* SUBPROOF(m, D[a:b], bflag) appended to out. */
static void ref_subproof(const ref_tree *t, uint64_t m, uint64_t a, uint64_t b, int bflag,
                         uint8_t *out, size_t *n)
{
    uint64_t size = b - a;
    if (m == size) {
        if (!bflag)
            ref_mth(t, a, b, out + (*n)++ * H);
        return;
    }
    uint64_t k = ref_split(size);
    if (m <= k) {
        ref_subproof(t, m, a, a + k, bflag, out, n);
        ref_mth(t, a + k, b, out + (*n)++ * H);
    } else {
        ref_subproof(t, m - k, a + k, b, 0, out, n);
        ref_mth(t, a, a + k, out + (*n)++ * H);
    }
}

/* The store: complete subtree hashes from the reference, counting reads. */
typedef struct ref_store {
    ref_tree tree;
    uint64_t size;
    unsigned reads;
} ref_store;

static int ref_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
    ref_store *s = ctx;
    uint64_t a = index << level, b = (index + 1) << level;
    assert_true(level <= 63);
    assert_true(b <= s->size); /* only complete nodes inside the tree */
    s->reads++;
    ref_mth(&s->tree, a, b, out);
    return 0;
}

static unsigned ceil_log2(uint64_t n)
{
    unsigned l = 0;
    while (((uint64_t)1 << l) < n)
        l++;
    return l;
}

static uint8_t *make_leaves(size_t n)
{
    uint8_t *leaves = malloc(n * H + 1);
    assert_non_null(leaves);
    for (size_t i = 0; i < n; i++) {
        char data[32];
        int len = snprintf(data, sizeof data, "leaf %zu", i);
        merkle_hash_leaf(data, (size_t)len, leaves + i * H);
    }
    return leaves;
}

/* ---- known answers ----------------------------------------------------- */

static void test_known_hashes(void **state)
{
    (void)state;
    uint8_t got[H], want[H];
    merkle_hash_empty(got);
    hex_to_hash("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
    assert_memory_equal(got, want, H);
    assert_int_equal(merkle_root(NULL, 0, got), 0);
    assert_memory_equal(got, want, H);

    /* The standard 8-leaf tree of the vectors' README and its roots. */
    static const char *inputs[8] = {"", "00", "10", "2021", "3031", "40414243",
                                    "5051525354555657", "606162636465666768696a6b6c6d6e6f"};
    static const char *roots[8] = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
    uint8_t leaves[8 * H];
    merkle_frontier *f = NULL;
    assert_int_equal(merkle_frontier_create(&f), 0);
    for (int i = 0; i < 8; i++) {
        uint8_t data[16];
        size_t n = 0;
        assert_int_equal(sodium_hex2bin(data, sizeof data, inputs[i], strlen(inputs[i]), NULL,
                                        &n, NULL),
                         0);
        merkle_hash_leaf(data, n, leaves + i * H);
        hex_to_hash(roots[i], want);
        assert_int_equal(merkle_root(leaves, (uint64_t)i + 1, got), 0);
        assert_memory_equal(got, want, H);
        assert_int_equal(merkle_frontier_append(f, leaves + i * H, NULL, NULL), 0);
        merkle_frontier_root(f, got);
        assert_memory_equal(got, want, H);
    }
    merkle_frontier_destroy(f);
}

/* ---- the transparency-dev vectors -------------------------------------- */

typedef struct vec_counts {
    int total, accepted, rejected;
} vec_counts;

/* jansson's integers are signed 64-bit; a vector holds 2^64-1. Quote the
 * size and index numbers so they arrive as strings, parsed exactly below. */
static char *quote_numbers(const char *text)
{
    static const char *keys[] = {"\"leafIdx\"", "\"treeSize\"", "\"size1\"", "\"size2\""};
    size_t len = strlen(text);
    char *out = malloc(len + 2 * 4 + 1);
    assert_non_null(out);
    strcpy(out, text);
    for (size_t k = 0; k < 4; k++) {
        char *p = strstr(out, keys[k]);
        if (!p)
            continue;
        p += strlen(keys[k]);
        while (*p == ' ' || *p == ':')
            p++;
        if (*p < '0' || *p > '9')
            continue;
        size_t digits = strspn(p, "0123456789");
        memmove(p + digits + 2, p + digits, strlen(p + digits) + 1);
        memmove(p + 1, p, digits);
        p[0] = '"';
        p[digits + 1] = '"';
    }
    return out;
}

static uint64_t get_u64(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_string(v));
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(json_string_value(v), &end, 10);
    assert_int_equal(errno, 0);
    assert_true(*end == '\0');
    return (uint64_t)x;
}

/* Decodes a base64 field (may be empty) into a fresh buffer. */
static merkle_span get_b64(json_t *v)
{
    merkle_span s = {NULL, 0};
    assert_true(json_is_string(v));
    const char *b64 = json_string_value(v);
    size_t b64_len = strlen(b64), n = 0;
    uint8_t *buf = malloc(b64_len + 1);
    assert_non_null(buf);
    assert_int_equal(sodium_base642bin(buf, b64_len + 1, b64, b64_len, NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    s.data = buf;
    s.len = n;
    return s;
}

static size_t get_proof(json_t *obj, merkle_span *proof, size_t cap)
{
    json_t *arr = json_object_get(obj, "proof");
    if (!arr || json_is_null(arr))
        return 0;
    assert_true(json_is_array(arr));
    size_t n = json_array_size(arr);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++)
        proof[i] = get_b64(json_array_get(arr, i));
    return n;
}

static void run_vector(const char *path, int inclusion, vec_counts *c)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char text[16384];
    size_t len = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[len] = '\0';
    char *quoted = quote_numbers(text);
    json_error_t jerr;
    json_t *obj = json_loads(quoted, 0, &jerr);
    if (!obj)
        fail_msg("%s: %s", path, jerr.text);
    free(quoted);

    json_t *want_err = json_object_get(obj, "wantErr");
    assert_true(json_is_boolean(want_err));
    merkle_span proof[80];
    size_t count = get_proof(obj, proof, 80);
    char err[256] = "";
    int rc;
    if (inclusion) {
        merkle_span leaf = get_b64(json_object_get(obj, "leafHash"));
        merkle_span root = get_b64(json_object_get(obj, "root"));
        rc = merkle_verify_inclusion_span(get_u64(obj, "leafIdx"), get_u64(obj, "treeSize"),
                                          leaf, proof, count, root, err, sizeof err);
        free((void *)leaf.data);
        free((void *)root.data);
    } else {
        merkle_span r1 = get_b64(json_object_get(obj, "root1"));
        merkle_span r2 = get_b64(json_object_get(obj, "root2"));
        rc = merkle_verify_consistency_span(get_u64(obj, "size1"), get_u64(obj, "size2"), r1,
                                            r2, proof, count, err, sizeof err);
        free((void *)r1.data);
        free((void *)r2.data);
    }
    for (size_t i = 0; i < count; i++)
        free((void *)proof[i].data);
    if (json_is_true(want_err)) {
        if (rc == 0)
            fail_msg("%s: accepted, must be rejected", path);
        assert_int_equal(rc, -EBADMSG);
        assert_true(err[0] != '\0');
        c->rejected++;
    } else {
        if (rc != 0)
            fail_msg("%s: rejected (%s), must be accepted", path, err);
        c->accepted++;
    }
    c->total++;
    json_decref(obj);
}

static void walk_vectors(const char *dir, int inclusion, vec_counts *c)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("%s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        if (S_ISDIR(st.st_mode))
            walk_vectors(path, inclusion, c);
        else if (strstr(de->d_name, ".json"))
            run_vector(path, inclusion, c);
    }
    closedir(d);
}

static void test_vectors(void **state)
{
    (void)state;
    char dir[1024];
    vec_counts inc = {0, 0, 0}, con = {0, 0, 0};
    snprintf(dir, sizeof dir, "%s/merkle/inclusion", data_dir());
    walk_vectors(dir, 1, &inc);
    snprintf(dir, sizeof dir, "%s/merkle/consistency", data_dir());
    walk_vectors(dir, 0, &con);
    print_message("merkle vectors: %d inclusion (%d accept, %d reject), %d consistency "
                  "(%d accept, %d reject)\n",
                  inc.total, inc.accepted, inc.rejected, con.total, con.accepted,
                  con.rejected);
    assert_int_equal(inc.total + con.total, 196);
    assert_int_equal(inc.accepted + con.accepted, 12);
    assert_int_equal(inc.rejected + con.rejected, 184);
}

/* ---- every (size, index) and (size, old size) for sizes 1..100 ------- */

static void test_inclusion_exhaustive(void **state)
{
    (void)state;
    enum { N = 100 };
    uint8_t *leaves = make_leaves(N);
    ref_store store = {.tree = {leaves}};
    unsigned corruptions = 0;
    for (uint64_t size = 1; size <= N; size++) {
        uint8_t root[H];
        ref_mth(&store.tree, 0, size, root);
        uint8_t got[H];
        store.size = size;
        assert_int_equal(merkle_root_from_store(size, ref_node, &store, got), 0);
        assert_memory_equal(got, root, H);
        assert_int_equal(merkle_root(leaves, size, got), 0);
        assert_memory_equal(got, root, H);
        for (uint64_t index = 0; index < size; index++) {
            uint8_t want[MERKLE_MAX_PROOF * H], proof[MERKLE_MAX_PROOF * H];
            size_t want_n = 0, n = 0;
            ref_path(&store.tree, index, 0, size, want, &want_n);
            store.reads = 0;
            assert_int_equal(merkle_prove_inclusion(index, size, ref_node, &store, proof,
                                                    MERKLE_MAX_PROOF, &n),
                             0);
            assert_int_equal(n, want_n);
            assert_int_equal(n, merkle_inclusion_proof_len(index, size));
            assert_memory_equal(proof, want, n * H);
            /* O(log n) reads: one per proof hash, plus the right border. */
            assert_true(store.reads <= 2 * ceil_log2(size) + 1);

            const uint8_t *leaf = leaves + index * H;
            assert_int_equal(merkle_verify_inclusion(index, size, leaf, proof, n, root, NULL, 0),
                             0);
            /* Every single corrupted hash fails. */
            for (size_t i = 0; i < n; i++) {
                proof[i * H + (i % H)] ^= 0x01;
                assert_int_equal(
                    merkle_verify_inclusion(index, size, leaf, proof, n, root, NULL, 0),
                    -EBADMSG);
                proof[i * H + (i % H)] ^= 0x01;
                corruptions++;
            }
            uint8_t bad[H];
            memcpy(bad, leaf, H);
            bad[31] ^= 0x80;
            assert_int_equal(merkle_verify_inclusion(index, size, bad, proof, n, root, NULL, 0),
                             -EBADMSG);
            memcpy(bad, root, H);
            bad[0] ^= 0x80;
            assert_int_equal(merkle_verify_inclusion(index, size, leaf, proof, n, bad, NULL, 0),
                             -EBADMSG);
            /* Missing or extra hashes fail. */
            if (n > 0)
                assert_int_equal(
                    merkle_verify_inclusion(index, size, leaf, proof, n - 1, root, NULL, 0),
                    -EBADMSG);
            memcpy(proof + n * H, root, H);
            assert_int_equal(
                merkle_verify_inclusion(index, size, leaf, proof, n + 1, root, NULL, 0),
                -EBADMSG);
            /* The proof is for this leaf's position only. */
            for (uint64_t other = 0; other < size; other++)
                if (other != index)
                    assert_int_equal(merkle_verify_inclusion(other, size, leaf, proof, n, root,
                                                             NULL, 0),
                                     -EBADMSG);
            /* Out of range. */
            assert_int_equal(merkle_verify_inclusion(size, size, leaf, proof, n, root, NULL, 0),
                             -EBADMSG);
        }
        uint8_t proof[MERKLE_MAX_PROOF * H];
        size_t n;
        assert_int_equal(
            merkle_prove_inclusion(size, size, ref_node, &store, proof, MERKLE_MAX_PROOF, &n),
            -EINVAL);
    }
    print_message("inclusion: %u single-hash corruptions rejected\n", corruptions);
    free(leaves);
}

static void test_consistency_exhaustive(void **state)
{
    (void)state;
    enum { N = 100 };
    uint8_t *leaves = make_leaves(N);
    ref_store store = {.tree = {leaves}};
    unsigned corruptions = 0;
    for (uint64_t size2 = 1; size2 <= N; size2++) {
        uint8_t root2[H];
        ref_mth(&store.tree, 0, size2, root2);
        store.size = size2;
        for (uint64_t size1 = 1; size1 <= size2; size1++) {
            uint8_t root1[H];
            ref_mth(&store.tree, 0, size1, root1);
            uint8_t want[MERKLE_MAX_PROOF * H], proof[(MERKLE_MAX_PROOF + 1) * H];
            size_t want_n = 0, n = 0;
            if (size1 < size2)
                ref_subproof(&store.tree, size1, 0, size2, 1, want, &want_n);
            store.reads = 0;
            assert_int_equal(merkle_prove_consistency(size1, size2, ref_node, &store, proof,
                                                      MERKLE_MAX_PROOF, &n),
                             0);
            assert_int_equal(n, want_n);
            assert_memory_equal(proof, want, n * H);
            assert_true(store.reads <= 2 * ceil_log2(size2) + 2);
            assert_int_equal(
                merkle_verify_consistency(size1, size2, root1, root2, proof, n, NULL, 0), 0);
            for (size_t i = 0; i < n; i++) {
                proof[i * H + (i % H)] ^= 0x04;
                assert_int_equal(
                    merkle_verify_consistency(size1, size2, root1, root2, proof, n, NULL, 0),
                    -EBADMSG);
                proof[i * H + (i % H)] ^= 0x04;
                corruptions++;
            }
            uint8_t bad[H];
            memcpy(bad, root1, H);
            bad[5] ^= 0x10;
            assert_int_equal(
                merkle_verify_consistency(size1, size2, bad, root2, proof, n, NULL, 0),
                -EBADMSG);
            memcpy(bad, root2, H);
            bad[7] ^= 0x10;
            assert_int_equal(
                merkle_verify_consistency(size1, size2, root1, bad, proof, n, NULL, 0),
                -EBADMSG);
            if (n > 0)
                assert_int_equal(
                    merkle_verify_consistency(size1, size2, root1, root2, proof, n - 1, NULL, 0),
                    -EBADMSG);
            memcpy(proof + n * H, root1, H);
            assert_int_equal(
                merkle_verify_consistency(size1, size2, root1, root2, proof, n + 1, NULL, 0),
                -EBADMSG);
            /* The roots swapped, or the sizes swapped, do not prove anything. */
            if (size1 < size2) {
                assert_int_equal(
                    merkle_verify_consistency(size1, size2, root2, root1, proof, n, NULL, 0),
                    -EBADMSG);
                assert_int_equal(
                    merkle_verify_consistency(size2, size1, root1, root2, proof, n, NULL, 0),
                    -EBADMSG);
            }
        }
        /* Old size 0 is rejected both ways. */
        uint8_t proof[MERKLE_MAX_PROOF * H], empty[H];
        size_t n;
        merkle_hash_empty(empty);
        assert_int_equal(
            merkle_prove_consistency(0, size2, ref_node, &store, proof, MERKLE_MAX_PROOF, &n),
            -EINVAL);
        assert_int_equal(merkle_verify_consistency(0, size2, empty, root2, NULL, 0, NULL, 0),
                         -EBADMSG);
    }
    print_message("consistency: %u single-hash corruptions rejected\n", corruptions);
    free(leaves);
}

/* Random (size, index) and (size, old size) pairs beyond 100, against the
 * same reference (deterministic seed, so a failure reproduces). */
static void test_random_larger(void **state)
{
    (void)state;
    enum { N = 3000, CASES = 300 };
    uint8_t *leaves = make_leaves(N);
    ref_store store = {.tree = {leaves}};
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int c = 0; c < CASES; c++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t size = 101 + x % (N - 100);
        uint64_t index = (x >> 20) % size;
        uint64_t old = 1 + (x >> 40) % size;
        uint8_t root[H], old_root[H], want[MERKLE_MAX_PROOF * H], proof[MERKLE_MAX_PROOF * H];
        size_t want_n = 0, n = 0;
        store.size = size;
        ref_mth(&store.tree, 0, size, root);
        ref_mth(&store.tree, 0, old, old_root);

        ref_path(&store.tree, index, 0, size, want, &want_n);
        assert_int_equal(merkle_prove_inclusion(index, size, ref_node, &store, proof,
                                                MERKLE_MAX_PROOF, &n),
                         0);
        assert_int_equal(n, want_n);
        assert_memory_equal(proof, want, n * H);
        assert_int_equal(
            merkle_verify_inclusion(index, size, leaves + index * H, proof, n, root, NULL, 0), 0);

        want_n = 0;
        if (old < size)
            ref_subproof(&store.tree, old, 0, size, 1, want, &want_n);
        assert_int_equal(
            merkle_prove_consistency(old, size, ref_node, &store, proof, MERKLE_MAX_PROOF, &n), 0);
        assert_int_equal(n, want_n);
        assert_memory_equal(proof, want, n * H);
        assert_int_equal(merkle_verify_consistency(old, size, old_root, root, proof, n, NULL, 0),
                         0);
        if (n > 0) {
            proof[(x % n) * H + 3] ^= 0x08;
            assert_int_equal(
                merkle_verify_consistency(old, size, old_root, root, proof, n, NULL, 0),
                -EBADMSG);
        }
    }
    free(leaves);
}

/* ---- sizes near 2^64 --------------------------------------------------- */

/* A tree whose leaves are all equal: every node of a level has the same
 * hash, so huge trees can be stored in one hash per level. */
typedef struct uniform_store {
    uint8_t level_hash[64][H];
    uint64_t size;
    unsigned reads;
} uniform_store;

static int uniform_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
    uniform_store *s = ctx;
    assert_true(level <= 63);
    assert_true(index < (s->size >> level));
    s->reads++;
    memcpy(out, s->level_hash[level], H);
    return 0;
}

static void test_huge_sizes(void **state)
{
    (void)state;
    uniform_store s;
    merkle_hash_leaf("x", 1, s.level_hash[0]);
    for (int l = 1; l < 64; l++)
        merkle_hash_node(s.level_hash[l - 1], s.level_hash[l - 1], s.level_hash[l]);

    const uint64_t sizes[] = {UINT64_MAX, UINT64_MAX - 1, (uint64_t)1 << 63,
                              ((uint64_t)1 << 63) + 1, ((uint64_t)1 << 40) + 12345};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint64_t size = sizes[k];
        uint8_t root[H], proof[MERKLE_MAX_PROOF * H];
        size_t n;
        s.size = size;
        assert_int_equal(merkle_root_from_store(size, uniform_node, &s, root), 0);
        const uint64_t indices[] = {0, 1, size / 2, size - 2, size - 1};
        for (size_t j = 0; j < 5; j++) {
            uint64_t index = indices[j];
            s.reads = 0;
            assert_int_equal(merkle_prove_inclusion(index, size, uniform_node, &s, proof,
                                                    MERKLE_MAX_PROOF, &n),
                             0);
            assert_true(n <= 64);
            assert_true(s.reads <= 128);
            assert_int_equal(n, merkle_inclusion_proof_len(index, size));
            assert_int_equal(
                merkle_verify_inclusion(index, size, s.level_hash[0], proof, n, root, NULL, 0),
                0);
            proof[0] ^= 1;
            assert_int_equal(
                merkle_verify_inclusion(index, size, s.level_hash[0], proof, n, root, NULL, 0),
                -EBADMSG);
        }
        const uint64_t olds[] = {1, 3, size / 2 + 1, size - 1, ((uint64_t)1 << 62) - 1};
        for (size_t j = 0; j < 5; j++) {
            uint64_t size1 = olds[j];
            uint8_t root1[H];
            if (size1 > size)
                continue;
            s.size = size1;
            assert_int_equal(merkle_root_from_store(size1, uniform_node, &s, root1), 0);
            s.size = size;
            assert_int_equal(merkle_prove_consistency(size1, size, uniform_node, &s, proof,
                                                      MERKLE_MAX_PROOF, &n),
                             0);
            assert_true(n <= MERKLE_MAX_PROOF);
            assert_int_equal(
                merkle_verify_consistency(size1, size, root1, root, proof, n, NULL, 0), 0);
            if (n > 0) {
                proof[(n - 1) * H] ^= 1;
                assert_int_equal(
                    merkle_verify_consistency(size1, size, root1, root, proof, n, NULL, 0),
                    -EBADMSG);
            }
        }
    }
    /* A proof buffer that is too small is refused, not overrun. */
    uint8_t small[3 * H];
    size_t n;
    s.size = UINT64_MAX;
    assert_int_equal(merkle_prove_inclusion(5, UINT64_MAX, uniform_node, &s, small, 3, &n),
                     -ERANGE);
}

/* ---- the frontier ------------------------------------------------------ */

typedef struct emit_log {
    const ref_tree *tree;
    uint64_t emitted[8]; /* per level */
    int fail_at_level;   /* -1: never */
} emit_log;

static int check_emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    emit_log *e = ctx;
    if ((int)level == e->fail_at_level)
        return -EIO;
    uint8_t want[H];
    ref_mth(e->tree, index << level, (index + 1) << level, want);
    assert_memory_equal(hash, want, H);
    assert_true(level < 8);
    /* Nodes of a level complete in order. */
    assert_int_equal(index, e->emitted[level]);
    e->emitted[level]++;
    return 0;
}

static void test_frontier(void **state)
{
    (void)state;
    enum { N = 200, EXTRA = 8 };
    uint8_t *leaves = make_leaves(N + EXTRA);
    ref_tree tree = {leaves};
    emit_log log = {.tree = &tree, .fail_at_level = -1};
    merkle_frontier *f = NULL;
    assert_int_equal(merkle_frontier_create(&f), 0);
    for (uint64_t i = 0; i < N + EXTRA - 1; i++) {
        uint8_t got[H], want[H];
        assert_int_equal(merkle_frontier_append(f, leaves + i * H, check_emit, &log), 0);
        assert_int_equal(merkle_frontier_size(f), i + 1);
        merkle_frontier_root(f, got);
        ref_mth(&tree, 0, i + 1, want);
        assert_memory_equal(got, want, H);
        /* Every complete node has been emitted exactly once. */
        for (unsigned l = 0; l < 8; l++)
            assert_int_equal(log.emitted[l], (i + 1) >> l);
    }

    /* Size 207 = 0b11001111: the next append completes levels 0..4. A
     * failure at level 3 leaves the frontier as it was; the retry works. */
    uint8_t before[H], after[H];
    uint64_t saved[8];
    memcpy(saved, log.emitted, sizeof saved);
    merkle_frontier_root(f, before);
    log.fail_at_level = 3;
    assert_int_equal(merkle_frontier_append(f, leaves + (N + EXTRA - 1) * H, check_emit, &log),
                     -EIO);
    assert_int_equal(log.emitted[2], saved[2] + 1); /* it got that far */
    assert_int_equal(merkle_frontier_size(f), N + EXTRA - 1);
    merkle_frontier_root(f, after);
    assert_memory_equal(before, after, H);
    memcpy(log.emitted, saved, sizeof saved);
    log.fail_at_level = -1;
    assert_int_equal(merkle_frontier_append(f, leaves + (N + EXTRA - 1) * H, check_emit, &log),
                     0);
    assert_int_equal(log.emitted[4], (uint64_t)(N + EXTRA) >> 4);
    uint8_t want[H];
    merkle_frontier_root(f, after);
    ref_mth(&tree, 0, N + EXTRA, want);
    assert_memory_equal(after, want, H);

    /* Restore from a store at many sizes and continue: same roots. */
    ref_store store = {.tree = tree};
    for (uint64_t size = 0; size <= N + EXTRA; size += 7) {
        merkle_frontier *g = NULL;
        assert_int_equal(merkle_frontier_create(&g), 0);
        store.size = size;
        store.reads = 0;
        assert_int_equal(merkle_frontier_restore(g, size, ref_node, &store), 0);
        assert_int_equal(store.reads, (unsigned)__builtin_popcountll(size));
        assert_int_equal(merkle_frontier_size(g), size);
        for (uint64_t i = size; i < N + EXTRA; i++)
            assert_int_equal(merkle_frontier_append(g, leaves + i * H, NULL, NULL), 0);
        uint8_t got[H];
        merkle_frontier_root(g, got);
        assert_memory_equal(got, want, H);
        merkle_frontier_destroy(g);
    }
    merkle_frontier_destroy(f);
    free(leaves);
}

static int failing_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
    (void)ctx, (void)level, (void)index, (void)out;
    return -EIO;
}

static void test_store_errors(void **state)
{
    (void)state;
    uint8_t proof[(MERKLE_MAX_PROOF + 1) * H], root[H];
    size_t n;
    assert_int_equal(
        merkle_prove_inclusion(3, 10, failing_node, NULL, proof, MERKLE_MAX_PROOF, &n), -EIO);
    assert_int_equal(
        merkle_prove_consistency(3, 10, failing_node, NULL, proof, MERKLE_MAX_PROOF, &n), -EIO);
    assert_int_equal(merkle_root_from_store(10, failing_node, NULL, root), -EIO);
    merkle_frontier *f = NULL;
    assert_int_equal(merkle_frontier_create(&f), 0);
    assert_int_equal(merkle_frontier_restore(f, 10, failing_node, NULL), -EIO);
    assert_int_equal(merkle_frontier_size(f), 0);
    merkle_frontier_destroy(f);
    /* Verification takes inputs of any length without reading past them. */
    uint8_t h[H] = {0};
    merkle_span leaf = {h, 31}, rt = {h, H};
    assert_int_equal(merkle_verify_inclusion_span(0, 1, leaf, NULL, 0, rt, NULL, 0), -EBADMSG);
    char err[128];
    assert_int_equal(merkle_verify_inclusion(0, 2, h, proof, MERKLE_MAX_PROOF + 1, h, err,
                                             sizeof err),
                     -EBADMSG);
    assert_non_null(strstr(err, "too long"));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_hashes),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_inclusion_exhaustive),
        cmocka_unit_test(test_consistency_exhaustive),
        cmocka_unit_test(test_random_larger),
        cmocka_unit_test(test_huge_sizes),
        cmocka_unit_test(test_frontier),
        cmocka_unit_test(test_store_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
