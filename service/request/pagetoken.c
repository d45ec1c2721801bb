/* pagetoken.c — authenticated, query-bound List page tokens (see
 * pagetoken.h).
 *
 * Wire format, version 1 (integers big-endian):
 *   u8  version
 *   u8  binding[32]
 *   i64 issue_time
 *   u8  nkeys
 *   value keys[nkeys]
 *   value last_id
 *   u8  mac[32]          crypto_auth over every byte before it
 * value := u8 kind (1 = int, 2 = bytes), then i64 (int) or u16 len + bytes. */
#include "tallinn/pagetoken.h"

#include <string.h>

#include <sodium.h>

_Static_assert(PAGETOKEN_KEYBYTES == crypto_auth_KEYBYTES, "crypto_auth key size");
_Static_assert(PAGETOKEN_MACBYTES == crypto_auth_BYTES, "crypto_auth tag size");
_Static_assert(PAGETOKEN_MAX_VALUE <= 0xFFFF, "value length is a u16");
_Static_assert(PAGETOKEN_MAX_LEN >= (PAGETOKEN_MAX_RAW + 2) / 3 * 4, "encoded size");

/* Smallest token: header, no keys, an empty BYTES id (what encode writes
 * for one), MAC. */
#define HEADER_BYTES (1 + PAGETOKEN_BINDINGBYTES + 8 + 1)
#define MIN_RAW (HEADER_BYTES + 1 + 2 + PAGETOKEN_MACBYTES)

static const char BIND_TAG[] = "tallinn.pagetoken.binding.v1";

const char *pagetoken_strerror(int code)
{
    switch (code) {
    case PAGETOKEN_OK: return "ok";
    case PAGETOKEN_ERR_TOO_LONG: return "page token is too long";
    case PAGETOKEN_ERR_MALFORMED: return "page token is malformed";
    case PAGETOKEN_ERR_BAD_MAC: return "page token is not authentic";
    case PAGETOKEN_ERR_BAD_VERSION: return "page token has an unsupported version";
    case PAGETOKEN_ERR_WRONG_BINDING:
        return "page token belongs to a different query (filter, order_by or parent changed)";
    case PAGETOKEN_ERR_EXPIRED: return "page token has expired; list again from the first page";
    case PAGETOKEN_ERR_FUTURE: return "page token is from the future";
    case PAGETOKEN_ERR_NOSPACE: return "output buffer too small";
    case PAGETOKEN_ERR_ARG: return "invalid argument";
    case PAGETOKEN_ERR_CRYPTO: return "libsodium failed to initialise";
    }
    return "unknown error";
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void hash_field(crypto_generichash_state *st, const char *s)
{
    uint8_t len[8];
    size_t n = s != NULL ? strlen(s) : 0;

    put_u64(len, (uint64_t)n);
    crypto_generichash_update(st, len, sizeof len);
    if (n > 0)
        crypto_generichash_update(st, (const uint8_t *)s, n);
}

int pagetoken_bind(const char *collection, const char *parent, const char *filter,
                   const char *order, const char *caller,
                   uint8_t out[PAGETOKEN_BINDINGBYTES])
{
    crypto_generichash_state st;

    if (out == NULL)
        return PAGETOKEN_ERR_ARG;
    if (sodium_init() < 0)
        return PAGETOKEN_ERR_CRYPTO;
    if (crypto_generichash_init(&st, NULL, 0, PAGETOKEN_BINDINGBYTES) != 0)
        return PAGETOKEN_ERR_CRYPTO;
    hash_field(&st, BIND_TAG);
    hash_field(&st, collection);
    hash_field(&st, parent);
    hash_field(&st, filter);
    hash_field(&st, order);
    hash_field(&st, caller);
    if (crypto_generichash_final(&st, out, PAGETOKEN_BINDINGBYTES) != 0)
        return PAGETOKEN_ERR_CRYPTO;
    return PAGETOKEN_OK;
}

/* Appends one value to raw[*n..]; returns PAGETOKEN_OK or an error. */
static int put_value(uint8_t *raw, size_t *n, const pagetoken_value *v)
{
    size_t need;

    if (v->kind == PAGETOKEN_INT) {
        need = 1 + 8;
    } else if (v->kind == PAGETOKEN_BYTES) {
        if (v->len > PAGETOKEN_MAX_VALUE || (v->bytes == NULL && v->len > 0))
            return PAGETOKEN_ERR_ARG;
        need = 1 + 2 + v->len;
    } else {
        return PAGETOKEN_ERR_ARG;
    }
    if (*n + need + PAGETOKEN_MACBYTES > PAGETOKEN_MAX_RAW)
        return PAGETOKEN_ERR_TOO_LONG;
    raw[(*n)++] = (uint8_t)v->kind;
    if (v->kind == PAGETOKEN_INT) {
        put_u64(raw + *n, (uint64_t)v->i);
        *n += 8;
    } else {
        raw[(*n)++] = (uint8_t)(v->len >> 8);
        raw[(*n)++] = (uint8_t)v->len;
        if (v->len > 0)
            memcpy(raw + *n, v->bytes, v->len);
        *n += v->len;
    }
    return PAGETOKEN_OK;
}

int pagetoken_encode(const pagetoken *t, const uint8_t key[PAGETOKEN_KEYBYTES], char *out,
                     size_t cap, size_t *outlen)
{
    uint8_t raw[PAGETOKEN_MAX_RAW];
    size_t n = 0, enc;
    int rc;

    if (t == NULL || key == NULL || out == NULL || cap == 0 || t->nkeys > PAGETOKEN_MAX_KEYS)
        return PAGETOKEN_ERR_ARG;
    out[0] = '\0';
    if (sodium_init() < 0)
        return PAGETOKEN_ERR_CRYPTO;
    raw[n++] = PAGETOKEN_VERSION;
    memcpy(raw + n, t->binding, PAGETOKEN_BINDINGBYTES);
    n += PAGETOKEN_BINDINGBYTES;
    put_u64(raw + n, (uint64_t)t->issue_time);
    n += 8;
    raw[n++] = (uint8_t)t->nkeys;
    for (size_t i = 0; i < t->nkeys; i++) {
        rc = put_value(raw, &n, &t->keys[i]);
        if (rc != PAGETOKEN_OK)
            return rc;
    }
    rc = put_value(raw, &n, &t->last_id);
    if (rc != PAGETOKEN_OK)
        return rc;
    crypto_auth(raw + n, raw, n, key);
    n += PAGETOKEN_MACBYTES;
    enc = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (enc > cap)
        return PAGETOKEN_ERR_NOSPACE;
    sodium_bin2base64(out, cap, raw, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (outlen != NULL)
        *outlen = enc - 1;
    return PAGETOKEN_OK;
}

/* Reads one value at raw[*pos..end); BYTES are copied into storage. */
static int get_value(const uint8_t *raw, size_t *pos, size_t end, pagetoken *out,
                     size_t *used, pagetoken_value *v)
{
    size_t p = *pos;
    uint8_t kind;

    if (p >= end)
        return PAGETOKEN_ERR_MALFORMED;
    kind = raw[p++];
    if (kind == PAGETOKEN_INT) {
        if (end - p < 8)
            return PAGETOKEN_ERR_MALFORMED;
        v->kind = PAGETOKEN_INT;
        v->i = (int64_t)get_u64(raw + p);
        p += 8;
    } else if (kind == PAGETOKEN_BYTES) {
        size_t len;
        if (end - p < 2)
            return PAGETOKEN_ERR_MALFORMED;
        len = ((size_t)raw[p] << 8) | raw[p + 1];
        p += 2;
        if (len > PAGETOKEN_MAX_VALUE || end - p < len ||
            *used + len > sizeof out->storage)
            return PAGETOKEN_ERR_MALFORMED;
        memcpy(out->storage + *used, raw + p, len);
        v->kind = PAGETOKEN_BYTES;
        v->bytes = out->storage + *used;
        v->len = len;
        *used += len;
        p += len;
    } else {
        return PAGETOKEN_ERR_MALFORMED;
    }
    *pos = p;
    return PAGETOKEN_OK;
}

int pagetoken_decode(const char *s, size_t len, const uint8_t key[PAGETOKEN_KEYBYTES],
                     const uint8_t expected_binding[PAGETOKEN_BINDINGBYTES], int64_t now,
                     int64_t max_age, pagetoken *out)
{
    uint8_t raw[PAGETOKEN_MAX_RAW];
    size_t n = 0, pos, body, used = 0;
    const char *end = NULL;
    int rc;

    if (out == NULL)
        return PAGETOKEN_ERR_ARG;
    memset(out, 0, sizeof *out);
    if ((s == NULL && len > 0) || key == NULL || expected_binding == NULL || max_age <= 0)
        return PAGETOKEN_ERR_ARG;
    if (len > PAGETOKEN_MAX_LEN)
        return PAGETOKEN_ERR_TOO_LONG;
    if (len == 0)
        return PAGETOKEN_ERR_MALFORMED;
    if (sodium_init() < 0)
        return PAGETOKEN_ERR_CRYPTO;
    /* Strict base64url: no padding, no ignored characters, nothing left over,
     * unused trailing bits zero (libsodium checks them). libsodium 1.0.18
     * decodes every byte >= 0x80 as '_': refuse those first. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return PAGETOKEN_ERR_MALFORMED;
    if (sodium_base642bin(raw, sizeof raw, s, len, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != s + len)
        return PAGETOKEN_ERR_MALFORMED;
    if (n < MIN_RAW)
        return PAGETOKEN_ERR_MALFORMED;
    body = n - PAGETOKEN_MACBYTES;
    if (crypto_auth_verify(raw + body, raw, body, key) != 0)
        return PAGETOKEN_ERR_BAD_MAC;

    /* Authentic from here on; still parse strictly. */
    if (raw[0] != PAGETOKEN_VERSION) {
        rc = PAGETOKEN_ERR_BAD_VERSION;
        goto fail;
    }
    pos = 1;
    memcpy(out->binding, raw + pos, PAGETOKEN_BINDINGBYTES);
    pos += PAGETOKEN_BINDINGBYTES;
    out->issue_time = (int64_t)get_u64(raw + pos);
    pos += 8;
    out->nkeys = raw[pos++];
    if (out->nkeys > PAGETOKEN_MAX_KEYS) {
        rc = PAGETOKEN_ERR_MALFORMED;
        goto fail;
    }
    for (size_t i = 0; i < out->nkeys; i++) {
        rc = get_value(raw, &pos, body, out, &used, &out->keys[i]);
        if (rc != PAGETOKEN_OK)
            goto fail;
    }
    rc = get_value(raw, &pos, body, out, &used, &out->last_id);
    if (rc != PAGETOKEN_OK)
        goto fail;
    if (pos != body) {
        rc = PAGETOKEN_ERR_MALFORMED;
        goto fail;
    }
    if (sodium_memcmp(out->binding, expected_binding, PAGETOKEN_BINDINGBYTES) != 0) {
        rc = PAGETOKEN_ERR_WRONG_BINDING;
        goto fail;
    }
    if (out->issue_time > now &&
        (uint64_t)out->issue_time - (uint64_t)now > (uint64_t)PAGETOKEN_CLOCK_SKEW) {
        rc = PAGETOKEN_ERR_FUTURE;
        goto fail;
    }
    if (out->issue_time < now && (uint64_t)now - (uint64_t)out->issue_time > (uint64_t)max_age) {
        rc = PAGETOKEN_ERR_EXPIRED;
        goto fail;
    }
    return PAGETOKEN_OK;
fail:
    memset(out, 0, sizeof *out);
    return rc;
}
