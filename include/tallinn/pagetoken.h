/* pagetoken.h — opaque List page tokens that clients cannot forge or edit.
 *
 * A token carries where the previous page ended (the sort-key values and id of
 * its last row), when it was issued, and a binding: a hash of the collection,
 * parent, canonical filter, canonical order_by and caller. It is serialized
 * compactly, authenticated with crypto_auth (HMAC-SHA-512-256) under a
 * 32-byte server key, and written as base64url without padding. Decoding
 * checks the MAC in constant time before reading anything, then the version,
 * the binding (a token from another query or caller is refused) and the age.
 *
 * Tokens are authenticated, not encrypted: they hold only values of a row the
 * caller has already received. Design note: docs/api-conventions.md.
 *
 * Errors: 0 or a negative PAGETOKEN_ERR_*; every decode error means the
 * client sent a bad page_token (INVALID_ARGUMENT). The functions call
 * sodium_init() themselves. Keys are the caller's and are never copied. */
#ifndef TALLINN_PAGETOKEN_H
#define TALLINN_PAGETOKEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    PAGETOKEN_OK = 0,
    PAGETOKEN_ERR_TOO_LONG = -1,      /* encoded token over PAGETOKEN_MAX_LEN */
    PAGETOKEN_ERR_MALFORMED = -2,     /* not base64url, or bad structure */
    PAGETOKEN_ERR_BAD_MAC = -3,       /* forged, edited or from another key */
    PAGETOKEN_ERR_BAD_VERSION = -4,   /* authentic, but a format we do not read */
    PAGETOKEN_ERR_WRONG_BINDING = -5, /* issued for another filter/order/parent/caller */
    PAGETOKEN_ERR_EXPIRED = -6,       /* older than max_age */
    PAGETOKEN_ERR_FUTURE = -7,        /* issued in the future (beyond clock skew) */
    PAGETOKEN_ERR_NOSPACE = -8,       /* output buffer too small */
    PAGETOKEN_ERR_ARG = -9,           /* bad argument: NULL, too many keys, value too long */
    PAGETOKEN_ERR_CRYPTO = -10        /* libsodium failed to initialise */
};

#define PAGETOKEN_VERSION 1
#define PAGETOKEN_KEYBYTES 32     /* == crypto_auth_KEYBYTES */
#define PAGETOKEN_MACBYTES 32     /* == crypto_auth_BYTES */
#define PAGETOKEN_BINDINGBYTES 32 /* BLAKE2b-256 */
#define PAGETOKEN_MAX_KEYS 8      /* sort keys (== FILTER_ORDER_MAX_KEYS) */
#define PAGETOKEN_MAX_VALUE 1024  /* bytes of one BYTES value */
#define PAGETOKEN_MAX_RAW 3072    /* serialized bytes, MAC included */
#define PAGETOKEN_MAX_LEN 4096    /* base64url characters (>= 4/3 of MAX_RAW) */
#define PAGETOKEN_DEFAULT_MAX_AGE 3600 /* seconds */
#define PAGETOKEN_CLOCK_SKEW 60   /* seconds a token may appear to be from the future */

typedef enum pagetoken_kind {
    PAGETOKEN_INT = 1,  /* int64: enum, integer, money nanos, timestamp, date, bool */
    PAGETOKEN_BYTES = 2 /* up to PAGETOKEN_MAX_VALUE bytes: strings, ids */
} pagetoken_kind;

typedef struct pagetoken_value {
    pagetoken_kind kind;
    int64_t i;
    const uint8_t *bytes; /* BYTES; encode: caller's memory; decode: into the token */
    size_t len;
} pagetoken_value;

typedef struct pagetoken {
    uint8_t binding[PAGETOKEN_BINDINGBYTES];
    int64_t issue_time;                     /* Unix seconds */
    size_t nkeys;                           /* sort-key values, in order_by order */
    pagetoken_value keys[PAGETOKEN_MAX_KEYS];
    pagetoken_value last_id;                /* the tie-breaker of the last row */
    uint8_t storage[PAGETOKEN_MAX_RAW];     /* decode: backs the BYTES values */
} pagetoken;

/* Computes the binding: BLAKE2b-256 over a domain tag and each argument with
 * its length (NULL means ""), so that no two different argument lists give
 * the same input. collection names the List method's resource (e.g.
 * "needs"); parent is the request's parent ("" if none); filter and order are
 * the canonical forms (filter_canonical, filter_order_canonical); caller is
 * the principal's name. Returns PAGETOKEN_OK or PAGETOKEN_ERR_CRYPTO. */
int pagetoken_bind(const char *collection, const char *parent, const char *filter,
                   const char *order, const char *caller,
                   uint8_t out[PAGETOKEN_BINDINGBYTES]);

/* Serializes, authenticates and encodes t into out (NUL-terminated), storing
 * the length without NUL in *outlen if not NULL. The version written is
 * PAGETOKEN_VERSION. Returns PAGETOKEN_OK, PAGETOKEN_ERR_ARG (too many keys,
 * a value too long, a bad kind), PAGETOKEN_ERR_TOO_LONG (the whole exceeds
 * PAGETOKEN_MAX_RAW), PAGETOKEN_ERR_NOSPACE or PAGETOKEN_ERR_CRYPTO. A buffer
 * of PAGETOKEN_MAX_LEN + 1 bytes always suffices. */
int pagetoken_encode(const pagetoken *t, const uint8_t key[PAGETOKEN_KEYBYTES], char *out,
                     size_t cap, size_t *outlen);

/* Decodes and checks s[0..len): MAC under key, version, binding equal to
 * expected_binding, issue_time no older than max_age seconds before now and
 * no later than now + PAGETOKEN_CLOCK_SKEW. On success fills *out (its BYTES
 * values point into out->storage). On failure *out is zeroed. max_age must
 * be positive. Returns PAGETOKEN_OK or a PAGETOKEN_ERR_*. */
int pagetoken_decode(const char *s, size_t len, const uint8_t key[PAGETOKEN_KEYBYTES],
                     const uint8_t expected_binding[PAGETOKEN_BINDINGBYTES], int64_t now,
                     int64_t max_age, pagetoken *out);

/* A short English description of a result code. Never NULL. */
const char *pagetoken_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
