/* fuzz_pagetoken.c — List page tokens (service/request/pagetoken.c). The first byte
 * picks a mode:
 *   0  the input is a token string: pagetoken_decode under a fixed key and
 *      binding must never crash, and a token that decodes re-encodes to the
 *      same string;
 *   1  the input is a token body: it gets a valid MAC under the fixed key, so
 *      the parser behind the MAC check is reached; whatever decodes must
 *      re-encode to the very same token (one encoding per token);
 *   2  the input chooses a token's values: encode -> decode gives them back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tallinn/pagetoken.h"

static const uint8_t KEY[PAGETOKEN_KEYBYTES] = "fuzz-page-token-key-0123456789ab";
static const uint8_t OTHER_KEY[PAGETOKEN_KEYBYTES] = "another-page-token-key-987654321";
static const int64_t NOW = 1750000000;
static uint8_t binding[PAGETOKEN_BINDINGBYTES];

static void check_at(int ok, const char *what, int line)
{
    if (!ok) {
        fprintf(stderr, "fuzz_pagetoken.c:%d: check failed: %s\n", line, what);
        abort();
    }
}
#define check(ok) check_at((ok), #ok, __LINE__)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    check(sodium_init() >= 0);
    check(pagetoken_bind("needs", "", "state = STATE_OPEN", "priority asc", "principals/fuzz",
                         binding) == PAGETOKEN_OK);
    return 0;
}

static int same_value(const pagetoken_value *a, const pagetoken_value *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == PAGETOKEN_INT)
        return a->i == b->i;
    return a->len == b->len && (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0);
}

static int same_token(const pagetoken *a, const pagetoken *b)
{
    if (memcmp(a->binding, b->binding, sizeof a->binding) != 0 ||
        a->issue_time != b->issue_time || a->nkeys != b->nkeys ||
        !same_value(&a->last_id, &b->last_id))
        return 0;
    for (size_t i = 0; i < a->nkeys; i++)
        if (!same_value(&a->keys[i], &b->keys[i]))
            return 0;
    return 1;
}

/* Mode 0: arbitrary text as a token. */
static void decode_text(const uint8_t *data, size_t size)
{
    pagetoken *t = malloc(sizeof *t);
    int rc;

    check(t != NULL);
    rc = pagetoken_decode((const char *)data, size, KEY, binding, NOW,
                          PAGETOKEN_DEFAULT_MAX_AGE, t);
    check(rc <= 0 && rc != PAGETOKEN_ERR_ARG && rc != PAGETOKEN_ERR_NOSPACE);
    /* Seeds hold real tokens: one that decodes has exactly one encoding. */
    if (rc == PAGETOKEN_OK) {
        char again[PAGETOKEN_MAX_LEN + 1];
        size_t len = 0;
        check(pagetoken_encode(t, KEY, again, sizeof again, &len) == PAGETOKEN_OK);
        check(len == size && memcmp(again, data, size) == 0);
    }
    free(t);
}

/* Mode 1: MAC the body, encode, decode. */
static void decode_body(const uint8_t *data, size_t size)
{
    uint8_t raw[PAGETOKEN_MAX_RAW + 64];
    char text[2 * PAGETOKEN_MAX_LEN], again[PAGETOKEN_MAX_LEN + 1];
    pagetoken *t = malloc(sizeof *t);
    size_t len = 0;
    int rc;

    check(t != NULL);
    if (size + PAGETOKEN_MACBYTES > sizeof raw) {
        free(t);
        return;
    }
    memcpy(raw, data, size);
    /* Make most bodies carry the expected binding and a fresh time, so
     * that the checks after parsing are reached too. */
    if (size >= 1 + PAGETOKEN_BINDINGBYTES + 8 && (size & 1) == 0) {
        memcpy(raw + 1, binding, PAGETOKEN_BINDINGBYTES);
        for (int i = 0; i < 8; i++)
            raw[1 + PAGETOKEN_BINDINGBYTES + i] = (uint8_t)((uint64_t)NOW >> (56 - 8 * i));
    }
    crypto_auth(raw + size, raw, size, KEY);
    sodium_bin2base64(text, sizeof text, raw, size + PAGETOKEN_MACBYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    rc = pagetoken_decode(text, strlen(text), KEY, binding, NOW, PAGETOKEN_DEFAULT_MAX_AGE, t);
    check(rc <= 0 && rc != PAGETOKEN_ERR_BAD_MAC && rc != PAGETOKEN_ERR_ARG);
    if (rc == PAGETOKEN_OK) {
        check(pagetoken_encode(t, KEY, again, sizeof again, &len) == PAGETOKEN_OK);
        check(len == strlen(text) && memcmp(again, text, len) == 0);
        /* The same bytes under another key are refused. */
        pagetoken *u = malloc(sizeof *u);
        check(u != NULL);
        check(pagetoken_decode(text, strlen(text), OTHER_KEY, binding, NOW,
                               PAGETOKEN_DEFAULT_MAX_AGE, u) == PAGETOKEN_ERR_BAD_MAC);
        free(u);
    }
    free(t);
}

/* Mode 2: values from the input, encode -> decode. */
typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t take_u8(reader *r)
{
    uint8_t v = 0;
    if (r->n > 0) {
        v = r->p[0];
        r->p++;
        r->n--;
    }
    return v;
}

static int64_t take_i64(reader *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | take_u8(r);
    return (int64_t)v;
}

static void take_value(reader *r, pagetoken_value *v)
{
    uint8_t k = take_u8(r);

    if ((k & 1) == 0) {
        v->kind = PAGETOKEN_INT;
        v->i = take_i64(r);
    } else {
        size_t len = (size_t)take_u8(r) * ((k >> 1) & 7); /* up to 1785 bytes */
        v->kind = PAGETOKEN_BYTES;
        if (len > r->n)
            len = r->n;
        v->bytes = r->p;
        v->len = len;
        r->p += len;
        r->n -= len;
    }
}

static void round_trip(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    pagetoken *in = calloc(1, sizeof *in), *out = malloc(sizeof *out);
    char text[PAGETOKEN_MAX_LEN + 1];
    size_t len = 0;
    int64_t age;
    int rc;

    check(in != NULL && out != NULL);
    memcpy(in->binding, binding, sizeof binding);
    age = take_u8(&r);
    age |= (int64_t)take_u8(&r) << 8;
    in->issue_time = NOW - age + PAGETOKEN_CLOCK_SKEW; /* some expired, some from the future */
    in->nkeys = take_u8(&r) % (PAGETOKEN_MAX_KEYS + 2); /* one too many now and then */
    for (size_t i = 0; i < in->nkeys && i < PAGETOKEN_MAX_KEYS; i++)
        take_value(&r, &in->keys[i]);
    take_value(&r, &in->last_id);

    rc = pagetoken_encode(in, KEY, text, sizeof text, &len);
    if (in->nkeys > PAGETOKEN_MAX_KEYS) {
        check(rc == PAGETOKEN_ERR_ARG);
        goto done;
    }
    if (rc != PAGETOKEN_OK) {
        check(rc == PAGETOKEN_ERR_ARG || rc == PAGETOKEN_ERR_TOO_LONG);
        goto done;
    }
    check(len == strlen(text) && len <= PAGETOKEN_MAX_LEN);
    rc = pagetoken_decode(text, len, KEY, binding, NOW, PAGETOKEN_DEFAULT_MAX_AGE, out);
    if (in->issue_time > NOW + PAGETOKEN_CLOCK_SKEW) {
        check(rc == PAGETOKEN_ERR_FUTURE);
    } else if (NOW - in->issue_time > PAGETOKEN_DEFAULT_MAX_AGE) {
        check(rc == PAGETOKEN_ERR_EXPIRED);
    } else {
        check(rc == PAGETOKEN_OK);
        check(same_token(in, out));
    }
    /* Any one flipped character is refused. */
    if (len > 0) {
        size_t at = (size_t)take_u8(&r) * 7 % len;
        text[at] = text[at] == 'A' ? 'B' : 'A';
        check(pagetoken_decode(text, len, KEY, binding, NOW, PAGETOKEN_DEFAULT_MAX_AGE, out) !=
              PAGETOKEN_OK);
    }
done:
    free(in);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0: decode_text(data + 1, size - 1); break;
    case 1: decode_body(data + 1, size - 1); break;
    default: round_trip(data + 1, size - 1); break;
    }
    return 0;
}
