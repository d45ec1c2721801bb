/* Unit tests for pagetoken.c: round trips, the wire layout and MAC checked
 * independently (HMAC-SHA-512 truncated to 256 bits), every single-bit and
 * single-character edit rejected, truncation, wrong key, wrong binding,
 * expiry, version, oversize and malformed-but-authentic tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "tallinn/pagetoken.h"

#define NOW 1740787200LL /* 2025-03-01T00:00:00Z */

static uint8_t KEY[PAGETOKEN_KEYBYTES];
static uint8_t BINDING[PAGETOKEN_BINDINGBYTES];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (size_t i = 0; i < sizeof KEY; i++)
        KEY[i] = (uint8_t)i;
    return pagetoken_bind("needs", "", "(sector = SECTOR_ENERGY AND state = STATE_OPEN)",
                          "priority asc, create_time desc", "principals/kyiv-front", BINDING);
}

/* A typical token: three sort keys (an enum number, a negative integer, a
 * non-ASCII string) and a string id. */
static void sample(pagetoken *t)
{
    memset(t, 0, sizeof *t);
    memcpy(t->binding, BINDING, sizeof BINDING);
    t->issue_time = NOW;
    t->nkeys = 3;
    t->keys[0].kind = PAGETOKEN_INT;
    t->keys[0].i = 2;
    t->keys[1].kind = PAGETOKEN_INT;
    t->keys[1].i = -1234567890123456789LL;
    t->keys[2].kind = PAGETOKEN_BYTES;
    t->keys[2].bytes = (const uint8_t *)"Київ backbone";
    t->keys[2].len = strlen("Київ backbone");
    t->last_id.kind = PAGETOKEN_BYTES;
    t->last_id.bytes = (const uint8_t *)"need-0042";
    t->last_id.len = 9;
}

static size_t encode(const pagetoken *t, char *out)
{
    size_t n = 0;
    assert_int_equal(pagetoken_encode(t, KEY, out, PAGETOKEN_MAX_LEN + 1, &n), PAGETOKEN_OK);
    assert_int_equal(strlen(out), n);
    return n;
}

static int decode(const char *s, size_t n, pagetoken *out)
{
    return pagetoken_decode(s, n, KEY, BINDING, NOW, PAGETOKEN_DEFAULT_MAX_AGE, out);
}

/* Signs arbitrary bytes with the key, as the encoder would. */
static size_t sign_raw(const uint8_t *body, size_t n, char *out, size_t cap)
{
    uint8_t raw[PAGETOKEN_MAX_RAW + 64];
    assert_true(n + PAGETOKEN_MACBYTES <= sizeof raw);
    memcpy(raw, body, n);
    crypto_auth(raw + n, raw, n, KEY);
    sodium_bin2base64(out, cap, raw, n + PAGETOKEN_MACBYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(out);
}

static size_t to_raw(const char *s, size_t n, uint8_t *raw, size_t cap)
{
    size_t len = 0;
    assert_int_equal(sodium_base642bin(raw, cap, s, n, NULL, &len, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
    return len;
}

static void test_round_trip(void **state)
{
    pagetoken t, d;
    char s[PAGETOKEN_MAX_LEN + 1];
    size_t n;
    (void)state;

    sample(&t);
    n = encode(&t, s);
    for (size_t i = 0; i < n; i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                               s[i]));
    assert_int_equal(decode(s, n, &d), PAGETOKEN_OK);
    assert_memory_equal(d.binding, BINDING, sizeof BINDING);
    assert_int_equal(d.issue_time, NOW);
    assert_int_equal(d.nkeys, 3);
    assert_int_equal(d.keys[0].kind, PAGETOKEN_INT);
    assert_int_equal(d.keys[0].i, 2);
    assert_true(d.keys[1].i == -1234567890123456789LL);
    assert_int_equal(d.keys[2].kind, PAGETOKEN_BYTES);
    assert_int_equal(d.keys[2].len, strlen("Київ backbone"));
    assert_memory_equal(d.keys[2].bytes, "Київ backbone", d.keys[2].len);
    assert_int_equal(d.last_id.kind, PAGETOKEN_BYTES);
    assert_int_equal(d.last_id.len, 9);
    assert_memory_equal(d.last_id.bytes, "need-0042", 9);
    /* Values point into the decoded token, not the input. */
    assert_true(d.last_id.bytes >= d.storage && d.last_id.bytes < d.storage + sizeof d.storage);

    /* No sort keys and an integer id: the smallest token. */
    memset(&t, 0, sizeof t);
    memcpy(t.binding, BINDING, sizeof BINDING);
    t.issue_time = NOW;
    t.last_id.kind = PAGETOKEN_INT;
    t.last_id.i = INT64_MIN;
    n = encode(&t, s);
    assert_int_equal(n, (42 + 9 + 32) * 4 / 3 + 1); /* 83 bytes -> 111 characters */
    assert_int_equal(decode(s, n, &d), PAGETOKEN_OK);
    assert_int_equal(d.nkeys, 0);
    assert_true(d.last_id.i == INT64_MIN);

    /* Empty BYTES values survive. */
    t.nkeys = 1;
    t.keys[0].kind = PAGETOKEN_BYTES;
    t.keys[0].bytes = NULL;
    t.keys[0].len = 0;
    n = encode(&t, s);
    assert_int_equal(decode(s, n, &d), PAGETOKEN_OK);
    assert_int_equal(d.keys[0].kind, PAGETOKEN_BYTES);
    assert_int_equal(d.keys[0].len, 0);
}

/* The layout and the MAC, recomputed here from the format description with
 * HMAC-SHA-512 (crypto_auth is HMAC-SHA-512 truncated to 32 bytes). */
static void test_layout_and_mac(void **state)
{
    pagetoken t;
    char s[PAGETOKEN_MAX_LEN + 1];
    uint8_t raw[PAGETOKEN_MAX_RAW], full[crypto_auth_hmacsha512_BYTES];
    size_t n, len, p = 0;
    (void)state;

    sample(&t);
    n = encode(&t, s);
    len = to_raw(s, n, raw, sizeof raw);
    assert_int_equal(raw[p++], 1); /* version */
    assert_memory_equal(raw + p, BINDING, 32);
    p += 32;
    static const uint8_t when[8] = {0, 0, 0, 0, 0x67, 0xC2, 0x4E, 0x00}; /* 1740787200 */
    assert_memory_equal(raw + p, when, 8);
    p += 8;
    assert_int_equal(raw[p++], 3);
    assert_int_equal(raw[p++], 1);
    static const uint8_t two[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    assert_memory_equal(raw + p, two, 8);
    p += 8;
    assert_int_equal(raw[p++], 1);
    static const uint8_t neg[8] = {0xEE, 0xDD, 0xEF, 0x0B, 0x82, 0x16, 0x7E, 0xEB};
    assert_memory_equal(raw + p, neg, 8); /* -1234567890123456789 two's complement */
    p += 8;
    assert_int_equal(raw[p++], 2);
    assert_int_equal(raw[p++], 0);
    assert_int_equal(raw[p++], 17); /* "Київ backbone" is 17 bytes */
    assert_memory_equal(raw + p, "Київ backbone", 17);
    p += 17;
    assert_int_equal(raw[p++], 2);
    assert_int_equal(raw[p++], 0);
    assert_int_equal(raw[p++], 9);
    assert_memory_equal(raw + p, "need-0042", 9);
    p += 9;
    assert_int_equal(len, p + 32);
    crypto_auth_hmacsha512(full, raw, p, KEY);
    assert_memory_equal(raw + p, full, 32);
}

static void test_bit_flips_rejected(void **state)
{
    pagetoken t, d;
    char s[PAGETOKEN_MAX_LEN + 1], e[PAGETOKEN_MAX_LEN + 1];
    uint8_t raw[PAGETOKEN_MAX_RAW];
    size_t n, len, tried = 0;
    (void)state;

    sample(&t);
    n = encode(&t, s);
    len = to_raw(s, n, raw, sizeof raw);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            raw[i] ^= (uint8_t)(1u << bit);
            sodium_bin2base64(e, sizeof e, raw, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            int rc = decode(e, strlen(e), &d);
            if (rc != PAGETOKEN_ERR_BAD_MAC)
                fail_msg("byte %zu bit %d: got %d", i, bit, rc);
            assert_int_equal(d.nkeys, 0); /* output cleared */
            raw[i] ^= (uint8_t)(1u << bit);
            tried++;
        }
    }
    assert_int_equal(tried, len * 8);
    assert_int_equal(decode(s, n, &d), PAGETOKEN_OK);
}

static void test_char_edits_rejected(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. ";
    pagetoken t, d;
    char s[PAGETOKEN_MAX_LEN + 1], e[PAGETOKEN_MAX_LEN + 2];
    size_t n;
    (void)state;

    sample(&t);
    n = encode(&t, s);
    for (size_t i = 0; i < n; i++) {
        for (const char *c = alphabet; *c != '\0'; c++) {
            if (*c == s[i])
                continue;
            memcpy(e, s, n + 1);
            e[i] = *c;
            int rc = decode(e, n, &d);
            if (rc != PAGETOKEN_ERR_BAD_MAC && rc != PAGETOKEN_ERR_MALFORMED)
                fail_msg("position %zu -> '%c': got %d", i, *c, rc);
        }
    }
    /* Every truncation, and every extension. */
    for (size_t k = 0; k < n; k++) {
        int rc = decode(s, k, &d);
        assert_true(rc == PAGETOKEN_ERR_MALFORMED || rc == PAGETOKEN_ERR_BAD_MAC);
    }
    for (const char *c = alphabet; *c != '\0'; c++) {
        memcpy(e, s, n);
        e[n] = *c;
        int rc = decode(e, n + 1, &d);
        assert_true(rc == PAGETOKEN_ERR_MALFORMED || rc == PAGETOKEN_ERR_BAD_MAC);
    }
    assert_int_equal(decode("", 0, &d), PAGETOKEN_ERR_MALFORMED);
}

static void test_wrong_key_and_binding(void **state)
{
    pagetoken t, d;
    char s[PAGETOKEN_MAX_LEN + 1];
    uint8_t other_key[PAGETOKEN_KEYBYTES], other[PAGETOKEN_BINDINGBYTES];
    size_t n;
    (void)state;

    sample(&t);
    n = encode(&t, s);
    memcpy(other_key, KEY, sizeof KEY);
    other_key[31] ^= 1;
    assert_int_equal(pagetoken_decode(s, n, other_key, BINDING, NOW, 3600, &d),
                     PAGETOKEN_ERR_BAD_MAC);

    /* Any change of query or caller changes the binding. */
    static const char *const args[][5] = {
        {"matches", "", "(sector = SECTOR_ENERGY AND state = STATE_OPEN)", "priority asc, create_time desc", "principals/kyiv-front"},
        {"needs", "donors/-", "(sector = SECTOR_ENERGY AND state = STATE_OPEN)", "priority asc, create_time desc", "principals/kyiv-front"},
        {"needs", "", "sector = SECTOR_ENERGY", "priority asc, create_time desc", "principals/kyiv-front"},
        {"needs", "", "(sector = SECTOR_ENERGY AND state = STATE_OPEN)", "priority asc", "principals/kyiv-front"},
        {"needs", "", "(sector = SECTOR_ENERGY AND state = STATE_OPEN)", "priority asc, create_time desc", "principals/donor-ee"},
    };
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        assert_int_equal(pagetoken_bind(args[i][0], args[i][1], args[i][2], args[i][3], args[i][4],
                                        other), PAGETOKEN_OK);
        assert_memory_not_equal(other, BINDING, sizeof other);
        assert_int_equal(pagetoken_decode(s, n, KEY, other, NOW, 3600, &d),
                         PAGETOKEN_ERR_WRONG_BINDING);
        assert_int_equal(d.nkeys, 0);
    }
    /* Length-prefixed: moving a boundary between arguments changes the hash. */
    uint8_t a[32], b[32];
    assert_int_equal(pagetoken_bind("ab", "c", "", "", "", a), PAGETOKEN_OK);
    assert_int_equal(pagetoken_bind("a", "bc", "", "", "", b), PAGETOKEN_OK);
    assert_memory_not_equal(a, b, 32);
    /* NULL is "". */
    assert_int_equal(pagetoken_bind("needs", NULL, NULL, NULL, "p", a), PAGETOKEN_OK);
    assert_int_equal(pagetoken_bind("needs", "", "", "", "p", b), PAGETOKEN_OK);
    assert_memory_equal(a, b, 32);
    /* Deterministic, and equal to BLAKE2b-256 of the documented input. */
    {
        uint8_t in[256], want[32];
        size_t p = 0;
        const char *parts[6] = {"tallinn.pagetoken.binding.v1", "needs", "", "", "", "p"};
        for (int i = 0; i < 6; i++) {
            size_t l = strlen(parts[i]);
            memset(in + p, 0, 7);
            in[p + 7] = (uint8_t)l;
            p += 8;
            memcpy(in + p, parts[i], l);
            p += l;
        }
        crypto_generichash(want, 32, in, p, NULL, 0);
        assert_memory_equal(a, want, 32);
    }
}

static void test_age(void **state)
{
    pagetoken t, d;
    char s[PAGETOKEN_MAX_LEN + 1];
    size_t n;
    (void)state;

    sample(&t);
    n = encode(&t, s);
    assert_int_equal(pagetoken_decode(s, n, KEY, BINDING, NOW + 600, 600, &d), PAGETOKEN_OK);
    assert_int_equal(pagetoken_decode(s, n, KEY, BINDING, NOW + 601, 600, &d), PAGETOKEN_ERR_EXPIRED);
    assert_int_equal(pagetoken_decode(s, n, KEY, BINDING, INT64_MAX, 600, &d),
                     PAGETOKEN_ERR_EXPIRED);
    assert_int_equal(pagetoken_decode(s, n, KEY, BINDING, NOW - PAGETOKEN_CLOCK_SKEW, 600, &d),
                     PAGETOKEN_OK);
    assert_int_equal(pagetoken_decode(s, n, KEY, BINDING, NOW - PAGETOKEN_CLOCK_SKEW - 1, 600, &d),
                     PAGETOKEN_ERR_FUTURE);
    assert_int_equal(pagetoken_decode(s, n, KEY, BINDING, INT64_MIN, 600, &d),
                     PAGETOKEN_ERR_FUTURE);
    assert_int_equal(pagetoken_decode(s, n, KEY, BINDING, NOW, 0, &d), PAGETOKEN_ERR_ARG);
    assert_int_equal(pagetoken_decode(s, n, KEY, BINDING, NOW, -1, &d), PAGETOKEN_ERR_ARG);
}

static void test_sizes(void **state)
{
    static uint8_t big[PAGETOKEN_MAX_VALUE + 1];
    static char s[PAGETOKEN_MAX_LEN + 8];
    pagetoken t, d;
    size_t n;
    (void)state;

    memset(big, 'x', sizeof big);
    sample(&t);
    /* A value over the limit, too many keys, a bad kind: caller errors. */
    t.keys[2].bytes = big;
    t.keys[2].len = PAGETOKEN_MAX_VALUE + 1;
    assert_int_equal(pagetoken_encode(&t, KEY, s, sizeof s, &n), PAGETOKEN_ERR_ARG);
    sample(&t);
    t.nkeys = PAGETOKEN_MAX_KEYS + 1;
    assert_int_equal(pagetoken_encode(&t, KEY, s, sizeof s, &n), PAGETOKEN_ERR_ARG);
    sample(&t);
    t.keys[0].kind = 7;
    assert_int_equal(pagetoken_encode(&t, KEY, s, sizeof s, &n), PAGETOKEN_ERR_ARG);

    /* Largest values that fit: two keys of 1024 bytes and a 900-byte id. */
    sample(&t);
    t.nkeys = 2;
    for (int i = 0; i < 2; i++) {
        t.keys[i].kind = PAGETOKEN_BYTES;
        t.keys[i].bytes = big;
        t.keys[i].len = PAGETOKEN_MAX_VALUE;
    }
    t.last_id.bytes = big;
    t.last_id.len = 900;
    assert_int_equal(pagetoken_encode(&t, KEY, s, sizeof s, &n), PAGETOKEN_OK);
    assert_true(n <= PAGETOKEN_MAX_LEN);
    assert_int_equal(decode(s, n, &d), PAGETOKEN_OK);
    assert_int_equal(d.keys[1].len, PAGETOKEN_MAX_VALUE);
    assert_int_equal(d.last_id.len, 900);
    /* Three such keys exceed the serialized limit. */
    t.nkeys = 3;
    t.keys[2] = t.keys[0];
    assert_int_equal(pagetoken_encode(&t, KEY, s, sizeof s, &n), PAGETOKEN_ERR_TOO_LONG);

    /* Output buffer too small. */
    sample(&t);
    assert_int_equal(pagetoken_encode(&t, KEY, s, 20, &n), PAGETOKEN_ERR_NOSPACE);
    assert_string_equal(s, "");

    /* Oversized input is refused before any decoding. */
    memset(s, 'A', PAGETOKEN_MAX_LEN + 1);
    assert_int_equal(decode(s, PAGETOKEN_MAX_LEN + 1, &d), PAGETOKEN_ERR_TOO_LONG);
    assert_int_equal(decode(s, PAGETOKEN_MAX_LEN, &d), PAGETOKEN_ERR_BAD_MAC);
}

static void test_authentic_but_malformed(void **state)
{
    uint8_t body[256];
    char s[PAGETOKEN_MAX_LEN + 1];
    pagetoken d;
    size_t p;
    (void)state;

#define HEADER(version, nkeys)                   \
    do {                                         \
        p = 0;                                   \
        body[p++] = (version);                   \
        memcpy(body + p, BINDING, 32);           \
        p += 32;                                 \
        memset(body + p, 0, 8);                  \
        body[p + 4] = 0x67;                      \
        body[p + 5] = 0xC2;                      \
        body[p + 6] = 0x4E;                      \
        p += 8;                                  \
        body[p++] = (nkeys);                     \
    } while (0)
#define INT_VALUE()                              \
    do {                                         \
        body[p++] = 1;                           \
        memset(body + p, 0, 8);                  \
        p += 8;                                  \
    } while (0)

    /* Well-formed by hand: accepted (the test's construction is right). */
    HEADER(1, 0);
    INT_VALUE();
    assert_int_equal(decode(s, sign_raw(body, p, s, sizeof s), &d), PAGETOKEN_OK);

    HEADER(2, 0);
    INT_VALUE();
    assert_int_equal(decode(s, sign_raw(body, p, s, sizeof s), &d), PAGETOKEN_ERR_BAD_VERSION);

    HEADER(1, 0);
    INT_VALUE();
    body[p++] = 0; /* trailing byte */
    assert_int_equal(decode(s, sign_raw(body, p, s, sizeof s), &d), PAGETOKEN_ERR_MALFORMED);

    HEADER(1, PAGETOKEN_MAX_KEYS + 1);
    for (int i = 0; i < PAGETOKEN_MAX_KEYS + 2; i++)
        INT_VALUE();
    assert_int_equal(decode(s, sign_raw(body, p, s, sizeof s), &d), PAGETOKEN_ERR_MALFORMED);

    HEADER(1, 0);
    body[p++] = 3; /* unknown kind */
    memset(body + p, 0, 8);
    p += 8;
    assert_int_equal(decode(s, sign_raw(body, p, s, sizeof s), &d), PAGETOKEN_ERR_MALFORMED);

    HEADER(1, 1);
    body[p++] = 2; /* bytes whose length runs past the end */
    body[p++] = 0;
    body[p++] = 200;
    memset(body + p, 'x', 5);
    p += 5;
    INT_VALUE();
    assert_int_equal(decode(s, sign_raw(body, p, s, sizeof s), &d), PAGETOKEN_ERR_MALFORMED);

    HEADER(1, 1); /* one key announced, only the id present */
    INT_VALUE();
    assert_int_equal(decode(s, sign_raw(body, p, s, sizeof s), &d), PAGETOKEN_ERR_MALFORMED);
#undef HEADER
#undef INT_VALUE

    /* Standard base64 alphabet and padding are not accepted. */
    assert_int_equal(decode("ab+/", 4, &d), PAGETOKEN_ERR_MALFORMED);
    assert_int_equal(decode("abc=", 4, &d), PAGETOKEN_ERR_MALFORMED);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int c = 0; c >= -10; c--)
        assert_string_not_equal(pagetoken_strerror(c), "unknown error");
    assert_string_equal(pagetoken_strerror(5), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_layout_and_mac),
        cmocka_unit_test(test_bit_flips_rejected),
        cmocka_unit_test(test_char_edits_rejected),
        cmocka_unit_test(test_wrong_key_and_binding),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_authentic_but_malformed),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests_name("pagetoken", tests, setup, NULL);
}
