/* note.c — C2SP signed notes with Ed25519 keys: key strings, signing,
 * parsing and the verification rules. */
#include "tlog_util.h"
#include "tallinn/note.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Base64 of a 68-byte Ed25519 note signature (key ID || signature). */
#define NOTE_SIG_B64_SIZE 92
/* Decoded signature lines longer than this are refused (post-quantum
 * signatures are under 5 kB). */
#define NOTE_SIG_BIN_MAX 8192
#define NOTE_KEY_BIN_SIZE (1 + NOTE_PUBLIC_KEY_SIZE) /* 0x01 || key */

static const char sig_prefix[] = "\xe2\x80\x94 "; /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN (sizeof sig_prefix - 1)

struct note_signer {
    char name[NOTE_NAME_MAX + 1];
    uint32_t key_id;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
};


/* Decodes one UTF-8 sequence from s (len > 0 bytes): its length, or 0 if it
 * is not well-formed (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t min, v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1fu, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0fu, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Unicode White_Space, as Go's unicode.IsSpace (which the reference note
 * implementation uses for key names). */
static int is_unicode_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* Valid UTF-8 without ASCII control characters other than '\n'. Returns 0, or
 * -EINVAL with the offending byte offset in *where. */
static int check_text(const char *s, size_t len, size_t *where)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0 || (cp < 0x20 && cp != '\n')) {
            *where = i;
            return -EINVAL;
        }
        i += n;
    }
    return 0;
}

int note_check_text(const char *text, size_t len, size_t *where)
{
    size_t at = 0;
    if (!text && len > 0)
        return -EINVAL;
    int rc = check_text(text, len, &at);
    if (rc != 0 && where)
        *where = at;
    return rc;
}

int note_check_name(const char *name, size_t len)
{
    if (!name || len == 0 || len > NOTE_NAME_MAX)
        return -EINVAL;
    const unsigned char *p = (const unsigned char *)name;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0 || cp == '+' || cp == 0 || is_unicode_space(cp) || cp < 0x20)
            return -EINVAL;
        i += n;
    }
    return 0;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static uint32_t key_id_of(const char *name, size_t name_len, const uint8_t pub[NOTE_PUBLIC_KEY_SIZE])
{
    static const uint8_t sep[2] = {'\n', NOTE_ALG_ED25519};
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)name, name_len);
    crypto_hash_sha256_update(&st, sep, sizeof sep);
    crypto_hash_sha256_update(&st, pub, NOTE_PUBLIC_KEY_SIZE);
    crypto_hash_sha256_final(&st, digest);
    return be32(digest);
}

int note_key_id(const char *name, const uint8_t pub[NOTE_PUBLIC_KEY_SIZE], uint32_t *id)
{
    if (!name || !pub || !id)
        return -EINVAL;
    size_t len = strnlen(name, NOTE_NAME_MAX + 1);
    if (note_check_name(name, len) != 0)
        return -EINVAL;
    *id = key_id_of(name, len, pub);
    return 0;
}

/* Eight lowercase hex digits, as key IDs are written in key strings. */
static int parse_key_id_hex(const char *s, size_t len, uint32_t *id)
{
    if (len != 2 * NOTE_KEY_ID_SIZE)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -EINVAL;
    uint8_t b[NOTE_KEY_ID_SIZE];
    size_t bin_len = 0;
    if (sodium_hex2bin(b, sizeof b, s, len, NULL, &bin_len, NULL) != 0 || bin_len != sizeof b)
        return -EINVAL;
    *id = be32(b);
    return 0;
}

static void format_key_id_hex(uint32_t id, char out[2 * NOTE_KEY_ID_SIZE + 1])
{
    uint8_t b[NOTE_KEY_ID_SIZE];
    put_be32(b, id);
    sodium_bin2hex(out, 2 * NOTE_KEY_ID_SIZE + 1, b, sizeof b);
}

/* Decodes standard padded base64 of exactly `want` bytes; anything else
 * (bad characters, missing padding, non-zero pad bits, other length) fails. */
/* libsodium 1.0.18's sodium_base642bin decodes every byte >= 0x80 as '/':
 * refuse such bytes first, so that a value has exactly one encoding. */
static int b64_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

static int b64_decode_exact(const char *b64, size_t b64_len, uint8_t *out, size_t want)
{
    size_t bin_len = 0;
    if (!b64_ascii(b64, b64_len) ||
        sodium_base642bin(out, want, b64, b64_len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -EINVAL;
    return bin_len == want ? 0 : -EINVAL;
}

/* Splits "name+hex+base64" into its parts; base64 may itself hold '+'. */
static int split_key(const char *s, const char **name, size_t *name_len, const char **hex,
                     size_t *hex_len, const char **b64)
{
    const char *p1 = strchr(s, '+');
    if (!p1)
        return -EINVAL;
    const char *p2 = strchr(p1 + 1, '+');
    if (!p2)
        return -EINVAL;
    *name = s;
    *name_len = (size_t)(p1 - s);
    *hex = p1 + 1;
    *hex_len = (size_t)(p2 - p1 - 1);
    *b64 = p2 + 1;
    return 0;
}

int note_verifier_parse(const char *vkey, note_verifier *out, char *err, size_t err_size)
{
    if (!vkey || !out)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    const char *name, *hex, *b64;
    size_t name_len, hex_len;
    uint32_t id;
    uint8_t key[NOTE_KEY_BIN_SIZE];
    if (split_key(vkey, &name, &name_len, &hex, &hex_len, &b64) != 0)
        return tlog__set_err(err, err_size, -EINVAL, "verifier key: expected name+keyid+base64(key)");
    if (note_check_name(name, name_len) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                       "verifier key: invalid key name (empty, too long, spaces or bad UTF-8)");
    if (parse_key_id_hex(hex, hex_len, &id) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                       "verifier key: key ID must be 8 lowercase hex digits");
    if (b64_decode_exact(b64, strlen(b64), key, sizeof key) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                       "verifier key: key is not base64 of %d bytes", NOTE_KEY_BIN_SIZE);
    if (key[0] != NOTE_ALG_ED25519)
        return tlog__set_err(err, err_size, -EINVAL,
                       "verifier key: unsupported signature type 0x%02x (only Ed25519, 0x01)",
                       key[0]);
    uint32_t want = key_id_of(name, name_len, key + 1);
    if (want != id)
        return tlog__set_err(err, err_size, -EINVAL,
                       "verifier key: key ID %08x does not match the key (expected %08x)", id,
                       want);
    memset(out, 0, sizeof *out);
    memcpy(out->name, name, name_len);
    out->key_id = id;
    memcpy(out->public_key, key + 1, NOTE_PUBLIC_KEY_SIZE);
    return 0;
}

/* "name+hex+base64(0x01 || key)" into buf; key is public or secret. */
static int format_key(const char *prefix, const char *name, uint32_t id, const uint8_t *key,
                      char *buf, size_t size)
{
    char hex[2 * NOTE_KEY_ID_SIZE + 1];
    uint8_t bin[NOTE_KEY_BIN_SIZE];
    char b64[sodium_base64_ENCODED_LEN(NOTE_KEY_BIN_SIZE, sodium_base64_VARIANT_ORIGINAL)];
    int rc = 0;
    format_key_id_hex(id, hex);
    bin[0] = NOTE_ALG_ED25519;
    memcpy(bin + 1, key, NOTE_PUBLIC_KEY_SIZE);
    sodium_bin2base64(b64, sizeof b64, bin, sizeof bin, sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(buf, size, "%s%s+%s+%s", prefix, name, hex, b64);
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            sodium_memzero(buf, size);
        rc = -ENOSPC;
    }
    sodium_memzero(bin, sizeof bin);
    sodium_memzero(b64, sizeof b64);
    return rc;
}

int note_verifier_format(const note_verifier *v, char *buf, size_t size)
{
    if (!v || !buf)
        return -EINVAL;
    if (note_check_name(v->name, strnlen(v->name, sizeof v->name)) != 0)
        return -EINVAL;
    return format_key("", v->name, v->key_id, v->public_key, buf, size);
}

int note_signer_create(const char *skey, note_signer **out, char *err, size_t err_size)
{
    static const char head[] = "PRIVATE+KEY+";
    const char *name, *hex, *b64;
    size_t name_len, hex_len;
    uint32_t id;
    uint8_t key[NOTE_KEY_BIN_SIZE];
    note_signer *s = NULL;
    int rc;

    if (!skey || !out)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    *out = NULL;
    if (sodium_init() < 0)
        return tlog__set_err(err, err_size, -EIO, "libsodium failed to start");
    if (strncmp(skey, head, sizeof head - 1) != 0)
        return tlog__set_err(err, err_size, -EINVAL, "private key: does not start with PRIVATE+KEY+");
    if (split_key(skey + sizeof head - 1, &name, &name_len, &hex, &hex_len, &b64) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                       "private key: expected PRIVATE+KEY+name+keyid+base64(key)");
    if (note_check_name(name, name_len) != 0)
        return tlog__set_err(err, err_size, -EINVAL, "private key: invalid key name");
    if (parse_key_id_hex(hex, hex_len, &id) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                       "private key: key ID must be 8 lowercase hex digits");
    if (b64_decode_exact(b64, strlen(b64), key, sizeof key) != 0) {
        rc = tlog__set_err(err, err_size, -EINVAL, "private key: key is not base64 of %d bytes",
                     NOTE_KEY_BIN_SIZE);
        goto cleanup;
    }
    if (key[0] != NOTE_ALG_ED25519) {
        rc = tlog__set_err(err, err_size, -EINVAL,
                     "private key: unsupported signature type 0x%02x (only Ed25519, 0x01)",
                     key[0]);
        goto cleanup;
    }
    s = sodium_malloc(sizeof *s);
    if (!s) {
        rc = tlog__set_err(err, err_size, -ENOMEM, "out of memory");
        goto cleanup;
    }
    memcpy(s->name, name, name_len);
    s->name[name_len] = '\0';
    crypto_sign_seed_keypair(s->pk, s->sk, key + 1);
    s->key_id = key_id_of(s->name, name_len, s->pk);
    if (s->key_id != id) {
        rc = tlog__set_err(err, err_size, -EINVAL,
                     "private key: key ID %08x does not match the key (expected %08x)", id,
                     s->key_id);
        goto cleanup;
    }
    *out = s;
    s = NULL;
    rc = 0;
cleanup:
    sodium_memzero(key, sizeof key);
    if (s)
        sodium_free(s); /* sodium_free wipes the memory */
    return rc;
}

void note_signer_destroy(note_signer *s)
{
    if (s)
        sodium_free(s);
}

const char *note_signer_name(const note_signer *s)
{
    return s ? s->name : NULL;
}

uint32_t note_signer_key_id(const note_signer *s)
{
    return s ? s->key_id : 0;
}

void note_signer_verifier(const note_signer *s, note_verifier *out)
{
    if (!s || !out)
        return;
    memset(out, 0, sizeof *out);
    memcpy(out->name, s->name, strlen(s->name) + 1);
    out->key_id = s->key_id;
    memcpy(out->public_key, s->pk, NOTE_PUBLIC_KEY_SIZE);
}

int note_keygen(const char *name, char *skey, size_t skey_size, char *vkey, size_t vkey_size)
{
    uint8_t seed[NOTE_SEED_SIZE];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    int rc;
    if (!name || !skey || !vkey)
        return -EINVAL;
    size_t name_len = strnlen(name, NOTE_NAME_MAX + 1);
    if (note_check_name(name, name_len) != 0)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    uint32_t id = key_id_of(name, name_len, pk);
    rc = format_key("PRIVATE+KEY+", name, id, seed, skey, skey_size);
    if (rc == 0)
        rc = format_key("", name, id, pk, vkey, vkey_size);
    if (rc != 0)
        sodium_memzero(skey, skey_size);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int note_sign(const note_signer *s, const char *text, size_t text_len, char *out,
              size_t out_size, size_t *out_len, char *err, size_t err_size)
{
    uint8_t sig[NOTE_KEY_ID_SIZE + crypto_sign_BYTES];
    char b64[sodium_base64_ENCODED_LEN(sizeof sig, sodium_base64_VARIANT_ORIGINAL)];
    size_t where;

    if (!s || !text || !out || !out_len)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    if (text_len == 0 || text[text_len - 1] != '\n')
        return tlog__set_err(err, err_size, -EINVAL, "note text must end in a newline");
    if (check_text(text, text_len, &where) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                       "note text: invalid UTF-8 or control character at byte %zu", where);
    size_t name_len = strlen(s->name);
    size_t b64_len = sizeof b64 - 1;
    /* text "\n" "— " name " " base64 "\n" NUL */
    if (text_len > SIZE_MAX / 2 ||
        out_size < text_len + 1 + SIG_PREFIX_LEN + name_len + 1 + b64_len + 1 + 1)
        return tlog__set_err(err, err_size, -ENOSPC, "output buffer too small for the signed note");

    put_be32(sig, s->key_id);
    crypto_sign_detached(sig + NOTE_KEY_ID_SIZE, NULL, (const unsigned char *)text, text_len,
                         s->sk);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);

    char *p = out;
    memmove(p, text, text_len);
    p += text_len;
    *p++ = '\n';
    memcpy(p, sig_prefix, SIG_PREFIX_LEN);
    p += SIG_PREFIX_LEN;
    memcpy(p, s->name, name_len);
    p += name_len;
    *p++ = ' ';
    memcpy(p, b64, b64_len);
    p += b64_len;
    *p++ = '\n';
    *p = '\0';
    *out_len = (size_t)(p - out);
    return 0;
}

int note_parse(const char *msg, size_t len, note_parsed *out, char *err, size_t err_size)
{
    size_t where;
    if (!msg || !out)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    out->msg = msg;
    out->text_len = 0;
    out->sig_count = 0;
    if (check_text(msg, len, &where) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                       "signed note: invalid UTF-8 or control character at byte %zu", where);
    /* The text ends at the last blank line. */
    size_t split = SIZE_MAX;
    for (size_t i = len; i >= 2; i--) {
        if (msg[i - 2] == '\n' && msg[i - 1] == '\n') {
            split = i - 2;
            break;
        }
    }
    if (split == SIZE_MAX)
        return tlog__set_err(err, err_size, -EINVAL,
                       "signed note: no blank line before the signatures");
    const char *sigs = msg + split + 2;
    size_t sigs_len = len - split - 2;
    if (sigs_len == 0)
        return tlog__set_err(err, err_size, -EINVAL, "signed note: no signature lines");
    if (sigs[sigs_len - 1] != '\n')
        return tlog__set_err(err, err_size, -EINVAL,
                       "signed note: last signature line does not end in a newline");

    size_t line_no = 0;
    while (sigs_len > 0) {
        const char *nl = memchr(sigs, '\n', sigs_len);
        size_t line_len = (size_t)(nl - sigs);
        const char *line = sigs;
        line_no++;
        sigs = nl + 1;
        sigs_len -= line_len + 1;

        if (line_no > NOTE_MAX_SIGS)
            return tlog__set_err(err, err_size, -EINVAL,
                           "signed note: more than %d signature lines", NOTE_MAX_SIGS);
        if (line_len < SIG_PREFIX_LEN || memcmp(line, sig_prefix, SIG_PREFIX_LEN) != 0)
            return tlog__set_err(err, err_size, -EINVAL,
                           "signed note: signature line %zu does not start with an em dash "
                           "and a space",
                           line_no);
        line += SIG_PREFIX_LEN;
        line_len -= SIG_PREFIX_LEN;
        const char *sp = memchr(line, ' ', line_len);
        if (!sp)
            return tlog__set_err(err, err_size, -EINVAL,
                           "signed note: signature line %zu has no space after the key name",
                           line_no);
        size_t name_len = (size_t)(sp - line);
        const char *b64 = sp + 1;
        size_t b64_len = line_len - name_len - 1;
        if (note_check_name(line, name_len) != 0)
            return tlog__set_err(err, err_size, -EINVAL,
                           "signed note: signature line %zu has an invalid key name", line_no);
        uint8_t bin[NOTE_SIG_BIN_MAX];
        size_t bin_len = 0;
        if (b64_len == 0 || !b64_ascii(b64, b64_len) ||
            sodium_base642bin(bin, sizeof bin, b64, b64_len, NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
            return tlog__set_err(err, err_size, -EINVAL,
                           "signed note: signature line %zu is not valid base64", line_no);
        if (bin_len < NOTE_KEY_ID_SIZE + 1)
            return tlog__set_err(err, err_size, -EINVAL,
                           "signed note: signature line %zu is too short (%zu bytes)", line_no,
                           bin_len);
        note_sig *sig = &out->sigs[out->sig_count++];
        sig->name = line;
        sig->name_len = name_len;
        sig->key_id = be32(bin);
        sig->b64 = b64;
        sig->b64_len = b64_len;
    }
    out->text_len = split + 1;
    return 0;
}

static const note_verifier *find_known(const note_sig *sig, const note_verifier *known,
                                       size_t known_count)
{
    for (size_t i = 0; i < known_count; i++) {
        size_t n = strnlen(known[i].name, sizeof known[i].name);
        if (known[i].key_id == sig->key_id && n == sig->name_len &&
            memcmp(known[i].name, sig->name, n) == 0)
            return &known[i];
    }
    return NULL;
}

int note_verify(const note_parsed *p, const note_verifier *known, size_t known_count,
                size_t *verified, char *err, size_t err_size)
{
    size_t ok = 0;
    if (verified)
        *verified = 0;
    if (!p || !p->msg || (known_count > 0 && !known))
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    for (size_t i = 0; i < p->sig_count; i++) {
        const note_sig *sig = &p->sigs[i];
        const note_verifier *k = find_known(sig, known, known_count);
        if (!k)
            continue; /* unknown keys are ignored, by the rules */
        uint8_t bin[NOTE_KEY_ID_SIZE + crypto_sign_BYTES];
        size_t bin_len = 0;
        if (sodium_base642bin(bin, sizeof bin, sig->b64, sig->b64_len, NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bin_len != sizeof bin)
            return tlog__set_err(err, err_size, -EBADMSG,
                           "signature not verified by key %s+%08x: line %zu is not an Ed25519 "
                           "signature",
                           k->name, k->key_id, i + 1);
        if (crypto_sign_verify_detached(bin + NOTE_KEY_ID_SIZE, (const unsigned char *)p->msg,
                                        p->text_len, k->public_key) != 0)
            return tlog__set_err(err, err_size, -EBADMSG,
                           "signature not verified by key %s+%08x: the signature on line %zu "
                           "is invalid",
                           k->name, k->key_id, i + 1);
        ok++;
    }
    if (ok == 0) {
        char found[160] = "";
        size_t used = 0;
        for (size_t i = 0; i < p->sig_count && used + 1 < sizeof found; i++) {
            int n = snprintf(found + used, sizeof found - used, "%s%.*s+%08x", i ? ", " : "",
                             (int)(p->sigs[i].name_len > 64 ? 64 : p->sigs[i].name_len),
                             p->sigs[i].name, p->sigs[i].key_id);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        if (known_count == 1)
            return tlog__set_err(err, err_size, -ENOKEY,
                           "signature not verified by key %s+%08x: the note is signed only by "
                           "other keys (%s)",
                           known[0].name, known[0].key_id, found);
        return tlog__set_err(err, err_size, -ENOKEY,
                       "signature not verified by any of the %zu known keys: the note is "
                       "signed only by other keys (%s)",
                       known_count, found);
    }
    if (verified)
        *verified = ok;
    return 0;
}

int note_open(const char *msg, size_t len, const note_verifier *known, size_t known_count,
              size_t *text_len, char *err, size_t err_size)
{
    note_parsed *p = malloc(sizeof *p);
    int rc;
    if (!p)
        return tlog__set_err(err, err_size, -ENOMEM, "out of memory");
    rc = note_parse(msg, len, p, err, err_size);
    if (rc == 0)
        rc = note_verify(p, known, known_count, NULL, err, err_size);
    if (rc == 0 && text_len)
        *text_len = p->text_len;
    free(p);
    return rc;
}
