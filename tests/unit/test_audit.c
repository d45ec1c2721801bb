/* test_audit.c — audit records are bounded and valid by construction
 * (issue 10, item 1): audit_record_pack with every field hostile and at its
 * maximum, values at and past the limits, the escaping and digest of a
 * replaced value; and audit_append over a real store, after which the log
 * re-opens (start-up decodes every record) and every leaf decodes. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field_at_maximum),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_escaped_form),
        cmocka_unit_test(test_clean_record_unchanged),
        cmocka_unit_test(test_random_fields),
        cmocka_unit_test(test_append_and_reopen),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
