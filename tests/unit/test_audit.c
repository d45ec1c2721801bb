/* test_audit.c — audit records are bounded and valid by construction
 * (issue 10, item 1): audit_record_pack with every field hostile and at its
 * maximum, values at and past the limits, the escaping and digest of a
 * replaced value; audit_append over a real store, after which the log
 * re-opens (start-up decodes every record) and every leaf decodes; and the
 * log sequenced in the database (issue 11): two store handles on one
 * database, each with its own log in memory, append in turns, each catching
 * up with the other at the head, and the result is one log whose every
 * checkpoint, from either writer, is the root of its prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "audit/audit.h"
#include "tallinn/checkpoint.h"
#include "tallinn/note.h"
#include "tallinn/textsafe.h"
#include "tallinn/v1/audit.pb-c.h"

#define BIG (70 * 1000)

/* A value of len bytes repeating pattern (plen bytes), NUL-terminated. */
static char *fill(const char *pattern, size_t plen, size_t len)
{
    char *s = malloc(len + 1);

    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = pattern[i % plen];
    s[len] = '\0';
    return s;
}

static void check_clean(const char *field, const char *v)
{
    size_t len = strlen(v);

    if (len > AUDIT_TEXT_MAX || !textsafe_is_clean(v, len))
        fail_msg("%s is %zu bytes or not clean text", field, len);
}

/* Every string field of r clean and bounded; returns how many replaced. */
static size_t check_record(const Tallinn__V1__AuditRecord *r)
{
    check_clean("principal", r->principal);
    check_clean("method", r->method);
    check_clean("resource", r->resource);
    check_clean("request_id", r->request_id);
    check_clean("etag", r->etag);
    check_clean("server_version", r->server_version);
    for (size_t i = 0; i < r->n_replaced; i++) {
        check_clean("replaced.field", r->replaced[i]->field);
        assert_int_equal(r->replaced[i]->sha256.len, 32);
    }
    return r->n_replaced;
}

static const Tallinn__V1__ReplacedText *replaced(const Tallinn__V1__AuditRecord *r,
                                                 const char *field)
{
    for (size_t i = 0; i < r->n_replaced; i++)
        if (strcmp(r->replaced[i]->field, field) == 0)
            return r->replaced[i];
    return NULL;
}

static void check_digest(const Tallinn__V1__AuditRecord *r, const char *field, const char *orig)
{
    const Tallinn__V1__ReplacedText *rp = replaced(r, field);
    uint8_t h[32];

    assert_non_null(rp);
    crypto_hash_sha256(h, (const uint8_t *)orig, strlen(orig));
    assert_memory_equal(rp->sha256.data, h, 32);
    assert_int_equal(rp->size, (int64_t)strlen(orig));
}

/* Counts what protobuf-c allocates, rounded as the start-up bump allocator
 * rounds, to check AUDIT_DECODE_MAX against a record at the maximum. */
static size_t counted;

static void *count_alloc(void *data, size_t size)
{
    (void)data;
    counted += (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    return malloc(size);
}

static void count_free(void *data, void *p)
{
    (void)data;
    free(p);
}

/* Every field a caller can reach filled with 70 KB of the worst kinds: bytes
 * that escape to 4 (invalid UTF-8, controls) and characters that escape to 8
 * (C1, bidi overrides). */
static void test_every_field_at_maximum(void **state)
{
    static const char *patterns[] = {
        "\xff",                /* invalid: \xFF, 4 bytes each */
        "\x1b",                /* ESC: \x1B */
        "\xc2\x9b",            /* U+009B (CSI): \u{009B}, 8 bytes for 2 */
        "\xe2\x80\xae",        /* U+202E: \u{202E}, 8 bytes for 3 */
        "a\n\xed\xa0\x80\\",   /* newline, a surrogate, a backslash */
    };
    uint8_t buf[AUDIT_RECORD_MAX], sha[32] = {0};
    size_t max_len = 0, max_decoded = 0;

    (void)state;
    for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
        char *v = fill(patterns[p], strlen(patterns[p]), BIG);
        audit_entry e = {
            .principal = v, .role = -1, .method = v, .resource = v, .request_id = v,
            .request_sha256 = sha, .status = INT32_MIN, .etag = v,
            .evidence_sha256 = sha, .evidence_documents = INT32_MIN,
        };
        ProtobufCAllocator alloc = {count_alloc, count_free, NULL};
        size_t len = audit_record_pack(&e, INT64_MAX, INT64_MIN, -1, buf);
        Tallinn__V1__AuditRecord *r;

        assert_true(len > 0 && len <= AUDIT_RECORD_MAX);
        if (len > max_len)
            max_len = len;
        counted = 0;
        r = tallinn__v1__audit_record__unpack(&alloc, len, buf);
        assert_non_null(r);
        if (counted > max_decoded)
            max_decoded = counted;
        assert_int_equal(r->index, INT64_MAX);
        assert_int_equal(r->evidence_sha256.len, 32);
        assert_int_equal(r->evidence_documents, INT32_MIN);
        assert_int_equal(check_record(r), 5); /* all but server_version */
        check_digest(r, "resource", v);
        check_digest(r, "request_id", v);
        tallinn__v1__audit_record__free_unpacked(r, &alloc);
        free(v);
    }
    print_message("largest record %zu bytes (AUDIT_RECORD_MAX %d), decoded in %zu bytes "
                  "(AUDIT_DECODE_MAX %d)\n", max_len, AUDIT_RECORD_MAX, max_decoded,
                  AUDIT_DECODE_MAX);
    assert_true(max_decoded <= AUDIT_DECODE_MAX);
}

/* Valid text up to AUDIT_TEXT_MAX bytes is kept as sent; one byte more, or
 * one control character, and it is replaced. */
static void test_limits(void **state)
{
    uint8_t buf[AUDIT_RECORD_MAX];
    char *at = fill("\xc3\xa9", 2, AUDIT_TEXT_MAX);       /* 256 x U+00E9 */
    char *past = fill("needs/", 6, AUDIT_TEXT_MAX + 1);
    audit_entry e = {.principal = "principals/fo-1", .method = "/tallinn.v1.NeedService/GetNeed",
                     .resource = at, .request_id = past, .etag = "a\\b"};
    size_t len = audit_record_pack(&e, 7, 1, 2, buf);
    Tallinn__V1__AuditRecord *r = tallinn__v1__audit_record__unpack(NULL, len, buf);

    (void)state;
    assert_non_null(r);
    assert_string_equal(r->resource, at);
    assert_string_equal(r->etag, "a\\b"); /* a backslash alone needs no escape */
    assert_string_equal(r->principal, "principals/fo-1");
    assert_int_equal(r->n_replaced, 1);
    check_digest(r, "request_id", past);
    assert_int_equal(strlen(r->request_id), AUDIT_TEXT_MAX); /* the escaped prefix */
    assert_memory_equal(r->request_id, past, AUDIT_TEXT_MAX);
    tallinn__v1__audit_record__free_unpacked(r, NULL);
    free(at);
    free(past);
}

/* A short hostile value: escaped whole, unambiguously (backslash doubled). */
static void test_escaped_form(void **state)
{
    static const char hostile[] =
        "needs/x\x1b[2J\nfake\r\x7f\xc2\x85\xe2\x80\xae\xe2\x81\xa6\xff\xfe\\\xe2\x80\xa8ok\xc3\xa9";
    uint8_t buf[AUDIT_RECORD_MAX];
    audit_entry e = {.resource = hostile};
    size_t len = audit_record_pack(&e, 0, 0, 0, buf);
    Tallinn__V1__AuditRecord *r = tallinn__v1__audit_record__unpack(NULL, len, buf);

    (void)state;
    assert_non_null(r);
    assert_string_equal(r->resource, "needs/x\\x1B[2J\\x0Afake\\x0D\\x7F\\u{0085}\\u{202E}"
                                     "\\u{2066}\\xFF\\xFE\\\\\\u{2028}ok\xc3\xa9");
    assert_int_equal(check_record(r), 1);
    check_digest(r, "resource", hostile);
    tallinn__v1__audit_record__free_unpacked(r, NULL);
}

/* A clean record has no `replaced` field at all: its bytes are those of a
 * record written before the field existed. */
static void test_clean_record_unchanged(void **state)
{
    uint8_t buf[AUDIT_RECORD_MAX], sha[32];
    audit_entry e = {.principal = "principals/bo", .role = 2,
                     .method = "/tallinn.v1.DonorService/CreateDonor", .resource = "donors/alpha",
                     .request_id = "3f2c1a9e-8b7d-4c6e-9f1a-2b3c4d5e6f70", .request_sha256 = sha,
                     .status = 0, .etag = "W/\"1\""};
    Tallinn__V1__AuditRecord r = TALLINN__V1__AUDIT_RECORD__INIT;
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    uint8_t want[AUDIT_RECORD_MAX];
    size_t len, wlen;

    (void)state;
    memset(sha, 7, sizeof(sha));
    len = audit_record_pack(&e, 42, 1767225600, 5, buf);
    t.seconds = 1767225600;
    t.nanos = 5;
    r.index = 42;
    r.time = &t;
    r.principal = (char *)e.principal;
    r.role = 2;
    r.method = (char *)e.method;
    r.resource = (char *)e.resource;
    r.request_id = (char *)e.request_id;
    r.request_sha256.data = sha;
    r.request_sha256.len = 32;
    r.etag = (char *)e.etag;
    r.server_version = TALLINN_VERSION;
    wlen = tallinn__v1__audit_record__pack(&r, want);
    assert_int_equal(len, wlen);
    assert_memory_equal(buf, want, len);
}

/* A replaced value starts with the escaped form of the original's start. */
static void check_escaped_prefix(const char *got, const char *orig)
{
    char want[AUDIT_TEXT_MAX + 1];
    size_t n = strlen(got);

    textsafe_escape(orig, strlen(orig), TEXTSAFE_BACKSLASH, want, sizeof(want), NULL);
    assert_int_equal(strlen(want), n);
    assert_memory_equal(got, want, n);
}

/* Random bytes of random lengths in every field (a fixed seed, so a failure
 * reproduces): every record within the bound, decodes, clean, and each
 * replaced field identified by the digest of what was given. */
static void test_random_fields(void **state)
{
    static const uint8_t seed[randombytes_SEEDBYTES] = "tallinn audit record fuzz seed";
    enum { ROUNDS = 3000, LEN_MAX = 1400 };
    uint8_t *pool = malloc(ROUNDS * 8), *raw = malloc(5 * (LEN_MAX + 1));
    uint8_t buf[AUDIT_RECORD_MAX], sha[32] = {0};
    int kept = 0;

    (void)state;
    assert_non_null(pool);
    assert_non_null(raw);
    randombytes_buf_deterministic(pool, ROUNDS * 8, seed);
    for (int i = 0; i < ROUNDS; i++) {
        char *f[5];
        for (int k = 0; k < 5; k++) {
            size_t len = (pool[i * 8 + k] * 7u + pool[i * 8 + 5] * 13u) % LEN_MAX;
            uint8_t sub[randombytes_SEEDBYTES] = {(uint8_t)i, (uint8_t)(i >> 8), (uint8_t)k};
            f[k] = (char *)raw + k * (LEN_MAX + 1);
            randombytes_buf_deterministic(f[k], len, sub);
            for (size_t j = 0; j < len; j++) { /* C strings: raw, printable, or ASCII */
                uint8_t c = (uint8_t)f[k][j];
                int mode = pool[i * 8 + 6] % 3;
                c = mode == 1 ? (uint8_t)(' ' + c % 95) : mode == 2 ? (uint8_t)(c % 128) : c;
                f[k][j] = (char)(c == 0 ? 'a' : c);
            }
            f[k][len] = '\0';
        }
        audit_entry e = {.principal = f[0], .method = f[1], .resource = f[2],
                         .request_id = f[3], .request_sha256 = sha, .etag = f[4]};
        size_t len = audit_record_pack(&e, i, i, i, buf);
        Tallinn__V1__AuditRecord *r = tallinn__v1__audit_record__unpack(NULL, len, buf);
        assert_true(len > 0 && len <= AUDIT_RECORD_MAX);
        assert_non_null(r);
        check_record(r);
        for (size_t k = 0; k < r->n_replaced; k++) {
            const char *name = r->replaced[k]->field;
            const char *orig = strcmp(name, "principal") == 0 ? f[0]
                               : strcmp(name, "method") == 0 ? f[1]
                               : strcmp(name, "resource") == 0 ? f[2]
                               : strcmp(name, "request_id") == 0 ? f[3] : f[4];
            check_digest(r, name, orig);
        }
        if (replaced(r, "resource") == NULL)
            assert_string_equal(r->resource, f[2]);
        else
            check_escaped_prefix(r->resource, f[2]);
        kept += replaced(r, "resource") == NULL;
        tallinn__v1__audit_record__free_unpacked(r, NULL);
    }
    print_message("%d random records, %d resources kept as given\n", ROUNDS, kept);
    assert_true(kept > ROUNDS / 10 && kept < ROUNDS - ROUNDS / 10); /* both paths taken */
    free(pool);
    free(raw);
}

/* ---- audit_append over a real store, and start-up over what it wrote ---- */

typedef struct scan_ctx {
    size_t n, replaced;
} scan_ctx;

static int scan_leaf(int64_t index, const uint8_t *data, size_t len, void *p)
{
    scan_ctx *c = p;
    Tallinn__V1__AuditRecord *r = tallinn__v1__audit_record__unpack(NULL, len, data);

    assert_non_null(r);
    assert_true(len <= AUDIT_RECORD_MAX);
    assert_int_equal(r->index, index);
    c->replaced += check_record(r);
    c->n++;
    tallinn__v1__audit_record__free_unpacked(r, NULL);
    return 0;
}

static void open_log(const char *dir, store **s, audit **a)
{
    char path[128], err[256];
    store_options o = {0};

    snprintf(path, sizeof(path), "%s/t.db", dir);
    o.path = path;
    assert_int_equal(store_open(s, &o, err, sizeof(err)), STORE_OK);
    if (audit_open(a, *s, dir, err, sizeof(err)) != 0)
        fail_msg("audit_open: %s", err);
}

static void test_append_and_reopen(void **state)
{
    char dir[] = "/tmp/tallinn-audit-XXXXXX", vkey[256], cmd[64];
    char *big = fill("\xff\x1b", 2, BIG), *mid = fill("a", 1, 8192);
    uint8_t sha[32] = {0};
    audit_entry e[] = {
        {.principal = "principals/obs", .role = 5, .method = "/tallinn.v1.NeedService/SubmitNeed",
         .resource = mid, .request_sha256 = sha, .status = 7},
        {.principal = "principals/obs", .role = 5, .method = "/tallinn.v1.NeedService/SubmitNeed",
         .resource = big, .request_id = big, .request_sha256 = sha, .status = 7},
        {.principal = "principals/obs", .role = 5, .method = "/tallinn.v1.NeedService/SubmitNeed",
         .resource = "needs/\xff\xfe", .request_sha256 = sha, .status = 7},
        {.principal = big, .role = 5, .method = big, .resource = big, .request_id = big,
         .request_sha256 = sha, .status = 9, .etag = big},
    };
    store *s;
    audit *a;
    scan_ctx c = {0};
    store_tx *tx;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(audit_keygen(dir, "test/tallinn", vkey, sizeof(vkey)), 0);
    open_log(dir, &s, &a);
    assert_int_equal(audit_record(a, e, sizeof(e) / sizeof(e[0])), STORE_OK);
    store_close(s);
    audit_close(a);
    /* Start-up re-decodes and re-hashes every record. */
    open_log(dir, &s, &a);
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_audit_scan(tx, 0, 100, scan_leaf, &c), STORE_OK);
    store_read_end(tx);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.replaced, 1 + 2 + 1 + 5);
    store_close(s);
    audit_close(a);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(big);
    free(mid);
}

/* ---- One log, two writers ---- */

#define TWO_MAX 2000

typedef struct two {
    char dir[40];
    char vkey[256];
    store *s[2];
    audit *a[2];
    int64_t sizes[64]; /* the head after each turn: a checkpoint each */
    int n_sizes;
    int64_t total;
} two;

static int64_t head_of(store *s)
{
    store_tx *tx;
    int64_t head = -1;

    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_audit_head(tx, &head), STORE_OK);
    store_read_end(tx);
    return head;
}

/* Writer w records n events in one batch. */
static void turn(two *t, int w, int n)
{
    static audit_entry e[TWO_MAX];
    uint8_t sha[32] = {1};

    for (int i = 0; i < n; i++)
        e[i] = (audit_entry){.principal = w ? "principals/b" : "principals/a", .role = 2,
                             .method = "/tallinn.v1.NeedService/SubmitNeed",
                             .resource = "needs/x", .request_sha256 = sha, .status = 0};
    assert_int_equal(audit_record(t->a[w], e, (size_t)n), STORE_OK);
    t->total += n;
    assert_true(head_of(t->s[0]) == t->total);
    assert_true(head_of(t->s[1]) == t->total);
    t->sizes[t->n_sizes++] = t->total;
}

typedef struct leaves {
    uint8_t (*hash)[MERKLE_HASH_SIZE];
    int64_t n;
    char who[TWO_MAX * 2];
} leaves;

static int hash_leaf(int64_t index, const uint8_t *data, size_t len, void *p)
{
    leaves *l = p;
    Tallinn__V1__AuditRecord *r = tallinn__v1__audit_record__unpack(NULL, len, data);

    assert_non_null(r);
    assert_true(r->index == index && index == l->n); /* no gap, no repeat */
    l->who[index] = r->principal[strlen(r->principal) - 1];
    tallinn__v1__audit_record__free_unpacked(r, NULL);
    merkle_hash_leaf(data, len, l->hash[l->n++]);
    return 0;
}

/* Every checkpoint either writer signed is the root of the log's prefix of
 * its size: one log, never forked. */
static void check_one_log(two *t)
{
    leaves l = {.hash = calloc(TWO_MAX * 2, MERKLE_HASH_SIZE)};
    note_verifier v;
    char err[256];
    store_tx *tx;

    assert_int_equal(note_verifier_parse(t->vkey, &v, err, sizeof err), 0);
    assert_int_equal(store_read_begin(t->s[0], &tx), STORE_OK);
    assert_int_equal(store_audit_scan(tx, 0, INT64_MAX, hash_leaf, &l), STORE_OK);
    assert_true(l.n == t->total);
    for (int i = 0; i < t->n_sizes; i++) {
        uint8_t *note, root[MERKLE_HASH_SIZE];
        size_t len;
        int64_t size;
        checkpoint cp;
        assert_int_equal(store_checkpoint_get(tx, t->sizes[i], &note, &len, &size), STORE_OK);
        if (checkpoint_open((const char *)note, len, &v, 1, &cp, err, sizeof err) != 0)
            fail_msg("checkpoint %lld: %s", (long long)t->sizes[i], err);
        assert_true((int64_t)cp.size == t->sizes[i]);
        assert_int_equal(merkle_root((const uint8_t *)l.hash, cp.size, root), 0);
        assert_memory_equal(root, cp.root, MERKLE_HASH_SIZE);
        free(note);
    }
    store_read_end(tx);
    free(l.hash);
}

static int refuse_pre_commit(store_tx *tx, void *ctx)
{
    int *left = ctx;
    (void)tx;
    return *left > 0 && (*left)-- == 1 ? -1 : 0;
}

static void test_two_writers_one_log(void **state)
{
    two *t = calloc(1, sizeof(*t));
    char cmd[64];
    int fail_next = 0;
    store_observer refuse = {NULL, refuse_pre_commit, NULL, &fail_next};
    store *s;
    audit *a;

    (void)state;
    strcpy(t->dir, "/tmp/tallinn-audit-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    assert_int_equal(audit_keygen(t->dir, "test/tallinn", t->vkey, sizeof(t->vkey)), 0);
    /* Two handles on one database stand for two processes: neither sees
     * the other's memory, only the database. */
    open_log(t->dir, &t->s[0], &t->a[0]);
    open_log(t->dir, &t->s[1], &t->a[1]);
    assert_int_equal(store_observe(t->s[0], &refuse), STORE_OK);

    turn(t, 0, 3);
    assert_true(audit_catch_ups(t->a[0]) == 0 && audit_catch_ups(t->a[1]) == 0);
    turn(t, 1, 2); /* b finds the head at 3, not at its 0 */
    assert_true(audit_catch_ups(t->a[1]) == 1);
    turn(t, 0, 1); /* a finds it at 5, not at its 3 */
    assert_true(audit_catch_ups(t->a[0]) == 1);
    turn(t, 0, 1); /* a's own head: nothing to catch up */
    assert_true(audit_catch_ups(t->a[0]) == 1);
    turn(t, 1, 300); /* past a full tile (256): b rebuilds mid-tile, then completes it */
    turn(t, 0, 250); /* a rebuilds at 307, then fills tile 0/1 further */
    turn(t, 1, 1);
    assert_true(audit_catch_ups(t->a[0]) == 2 && audit_catch_ups(t->a[1]) == 3);

    /* A batch of a's that fails after appending leaves memory ahead of the
     * database: the next batch rebuilds it from the head it locks. */
    fail_next = 1;
    {
        audit_entry e = {.principal = "principals/a", .role = 2, .method = "/m", .status = 0};
        assert_int_not_equal(audit_record(t->a[0], &e, 1), STORE_OK);
    }
    assert_true(head_of(t->s[0]) == t->total);
    turn(t, 0, 2);
    turn(t, 1, 1);
    turn(t, 0, 1);
    check_one_log(t);

    /* Both writers are gone; a third opens the log: start-up verifies every
     * record, tile and the last checkpoint. */
    for (int w = 0; w < 2; w++) {
        store_close(t->s[w]);
        audit_close(t->a[w]);
    }
    open_log(t->dir, &s, &a);
    store_close(s);
    audit_close(a);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
    assert_int_equal(system(cmd), 0);
    free(t);
}

/* A head that disagrees with the records is refused at start. */
static int set_head_zero(store_tx *tx, void *arg)
{
    (void)arg;
    return store_audit_head_set(tx, 0) == STORE_OK ? 0 : 1;
}

static void test_head_checked_at_start(void **state)
{
    char dir[] = "/tmp/tallinn-audit-XXXXXX", vkey[256], cmd[64], err[256], path[128];
    audit_entry e = {.principal = "principals/a", .role = 2, .method = "/m", .status = 0};
    store *s;
    audit *a;
    int job_rc;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(audit_keygen(dir, "test/tallinn", vkey, sizeof(vkey)), 0);
    open_log(dir, &s, &a);
    assert_int_equal(audit_record(a, &e, 1), STORE_OK);
    store_close(s);
    audit_close(a);
    /* move the head back behind the log's back */
    snprintf(path, sizeof(path), "%s/t.db", dir);
    assert_int_equal(store_open(&s, &(store_options){.path = path}, err, sizeof err), STORE_OK);
    assert_int_equal(store_write(s, set_head_zero, NULL, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    assert_int_not_equal(audit_open(&a, s, dir, err, sizeof err), 0);
    assert_non_null(strstr(err, "the audit head says the log has 0 records"));
    store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field_at_maximum),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_escaped_form),
        cmocka_unit_test(test_clean_record_unchanged),
        cmocka_unit_test(test_random_fields),
        cmocka_unit_test(test_append_and_reopen),
        cmocka_unit_test(test_two_writers_one_log),
        cmocka_unit_test(test_head_checked_at_start),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
