/* evidence.c — delivery evidence (evidence.h): strict checks of the
 * documents a step cites and the digest of a step's evidence. */
#include "tallinn/evidence.h"

#include <string.h>

#include <sodium.h>

#include "tallinn/validate.h"

int evidence_check_sha256(const char *s, size_t len)
{
    if (s == NULL || len == 0)
        return VALIDATE_ERR_EMPTY;
    if (len != EVIDENCE_SHA256_HEX)
        return VALIDATE_ERR_SYNTAX;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return VALIDATE_ERR_SYNTAX;
    return VALIDATE_OK;
}

/* RFC 6838 section 4.2, restricted-name-chars. */
static int media_char(char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return !first && c != '\0' && strchr("!#$&-^_.+", c) != NULL;
}

int evidence_check_media_type(const char *s, size_t len, char *lower)
{
    size_t slash = len, i;

    if (s == NULL || len == 0)
        return VALIDATE_ERR_EMPTY;
    if (len > EVIDENCE_MEDIA_TYPE_MAX)
        return VALIDATE_ERR_TOO_LONG;
    for (i = 0; i < len; i++)
        if (s[i] == '/') {
            slash = i;
            break;
        }
    /* one slash, a name of 1..127 on each side */
    if (slash == 0 || slash >= len - 1 || slash > EVIDENCE_MEDIA_NAME_MAX ||
        len - slash - 1 > EVIDENCE_MEDIA_NAME_MAX)
        return VALIDATE_ERR_SYNTAX;
    for (i = 0; i < len; i++) {
        if (i == slash)
            continue;
        if (!media_char(s[i], i == 0 || i == slash + 1))
            return VALIDATE_ERR_SYNTAX;
    }
    if (lower != NULL) {
        for (i = 0; i < len; i++)
            lower[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
        lower[len] = '\0';
    }
    return VALIDATE_OK;
}

static void put_u32(crypto_hash_sha256_state *st, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    crypto_hash_sha256_update(st, b, sizeof(b));
}

static int put_text(crypto_hash_sha256_state *st, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n > UINT32_MAX)
        return -1;
    put_u32(st, (uint32_t)n);
    crypto_hash_sha256_update(st, (const uint8_t *)(n > 0 ? s : ""), n);
    return 0;
}

int evidence_digest(const char *note, const evidence_doc *docs, size_t n,
                    uint8_t out[EVIDENCE_DIGEST_BYTES])
{
    static const char tag[] = "tallinn-evidence-v1\n";
    crypto_hash_sha256_state st;

    if (n > UINT32_MAX || (n > 0 && docs == NULL))
        return -1;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof(tag) - 1);
    if (put_text(&st, note) != 0)
        return -1;
    put_u32(&st, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t d[EVIDENCE_DIGEST_BYTES];
        size_t dlen = 0;
        const char *hex = docs[i].sha256;
        if (hex == NULL || evidence_check_sha256(hex, strlen(hex)) != VALIDATE_OK ||
            sodium_hex2bin(d, sizeof(d), hex, EVIDENCE_SHA256_HEX, NULL, &dlen, NULL) != 0 ||
            dlen != sizeof(d))
            return -1;
        crypto_hash_sha256_update(&st, d, sizeof(d));
        if (put_text(&st, docs[i].name) != 0 || put_text(&st, docs[i].media_type) != 0)
            return -1;
    }
    crypto_hash_sha256_final(&st, out);
    return 0;
}
