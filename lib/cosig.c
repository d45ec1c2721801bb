/* cosig.c — C2SP tlog-cosignature/v1 with Ed25519: witness keys (type 0x04),
 * timestamped cosignature lines, verification, quorum, and merging
 * cosignature lines into a signed note. */
#include "tlog_util.h"
#include "tallinn/cosig.h"
#include "tallinn/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define KEY_BIN_SIZE (1 + NOTE_PUBLIC_KEY_SIZE) /* 0x04 || key */
#define SIG_B64_SIZE sodium_base64_ENCODED_LEN(COSIG_SIG_SIZE, sodium_base64_VARIANT_ORIGINAL)

static const char header[] = "cosignature/v1\ntime ";
static const char sig_prefix[] = "\xe2\x80\x94 "; /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN (sizeof sig_prefix - 1)

struct cosig_signer {
    char name[NOTE_NAME_MAX + 1];
    uint32_t key_id;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

static uint32_t key_id_of(const char *name, size_t name_len,
                          const uint8_t pub[NOTE_PUBLIC_KEY_SIZE])
{
    static const uint8_t sep[2] = {'\n', COSIG_ALG_ED25519};
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)name, name_len);
    crypto_hash_sha256_update(&st, sep, sizeof sep);
    crypto_hash_sha256_update(&st, pub, NOTE_PUBLIC_KEY_SIZE);
    crypto_hash_sha256_final(&st, digest);
    return tlog__be32(digest);
}

int cosig_key_id(const char *name, const uint8_t pub[NOTE_PUBLIC_KEY_SIZE], uint32_t *id)
{
    if (!name || !pub || !id)
        return -EINVAL;
    size_t len = strnlen(name, NOTE_NAME_MAX + 1);
    if (note_check_name(name, len) != 0)
        return -EINVAL;
    *id = key_id_of(name, len, pub);
    return 0;
}

/* "name+hex+base64(type || 32 bytes)": the parts, the type byte unchecked.
 * The base64 may itself hold '+', so only the first two split. */
static int split_key(const char *what, const char *s, const char **name, size_t *name_len,
                     uint32_t *id, uint8_t key[KEY_BIN_SIZE], char *err, size_t err_size)
{
    const char *p1 = strchr(s, '+');
    const char *p2 = p1 ? strchr(p1 + 1, '+') : NULL;
    if (!p2)
        return tlog__set_err(err, err_size, -EINVAL, "%s: expected name+keyid+base64(key)",
                             what);
    *name = s;
    *name_len = (size_t)(p1 - s);
    if (note_check_name(s, *name_len) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                             "%s: invalid key name (empty, too long, spaces, '+' or bad UTF-8)",
                             what);
    if (tlog__parse_key_id_hex(p1 + 1, (size_t)(p2 - p1 - 1), id) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                             "%s: key ID must be 8 lowercase hex digits", what);
    if (tlog__b64_decode_exact(p2 + 1, strlen(p2 + 1), key, KEY_BIN_SIZE) != 0)
        return tlog__set_err(err, err_size, -EINVAL, "%s: key is not base64 of %d bytes", what,
                             KEY_BIN_SIZE);
    if (key[0] == NOTE_ALG_ED25519)
        return tlog__set_err(err, err_size, -EINVAL,
                             "%s: signature type 0x01 is a log's Ed25519 key; a witness key "
                             "has type 0x04 (cosignature/v1)",
                             what);
    if (key[0] != COSIG_ALG_ED25519)
        return tlog__set_err(err, err_size, -EINVAL,
                             "%s: unsupported signature type 0x%02x (only Ed25519 "
                             "cosignature/v1, 0x04)",
                             what, key[0]);
    return 0;
}

int cosig_verifier_parse(const char *vkey, cosig_verifier *out, char *err, size_t err_size)
{
    const char *name;
    size_t name_len;
    uint32_t id;
    uint8_t key[KEY_BIN_SIZE];
    if (!vkey || !out)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    int rc = split_key("witness key", vkey, &name, &name_len, &id, key, err, err_size);
    if (rc != 0)
        return rc;
    uint32_t want = key_id_of(name, name_len, key + 1);
    if (want != id)
        return tlog__set_err(err, err_size, -EINVAL,
                             "witness key: key ID %08x does not match the key (expected %08x)",
                             id, want);
    memset(out, 0, sizeof *out);
    memcpy(out->name, name, name_len);
    out->key_id = id;
    memcpy(out->public_key, key + 1, NOTE_PUBLIC_KEY_SIZE);
    return 0;
}

/* prefix name "+" hex "+" base64(0x04 || key) into buf. */
static int format_key(const char *prefix, const char *name, uint32_t id, const uint8_t *key,
                      char *buf, size_t size)
{
    uint8_t bin[KEY_BIN_SIZE];
    char b64[sodium_base64_ENCODED_LEN(KEY_BIN_SIZE, sodium_base64_VARIANT_ORIGINAL)];
    int rc = 0;
    bin[0] = COSIG_ALG_ED25519;
    memcpy(bin + 1, key, NOTE_PUBLIC_KEY_SIZE);
    sodium_bin2base64(b64, sizeof b64, bin, sizeof bin, sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(buf, size, "%s%s+%08" PRIx32 "+%s", prefix, name, id, b64);
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            sodium_memzero(buf, size);
        rc = -ENOSPC;
    }
    sodium_memzero(bin, sizeof bin);
    sodium_memzero(b64, sizeof b64);
    return rc;
}

int cosig_verifier_format(const cosig_verifier *v, char *buf, size_t size)
{
    if (!v || !buf)
        return -EINVAL;
    if (note_check_name(v->name, strnlen(v->name, sizeof v->name)) != 0)
        return -EINVAL;
    return format_key("", v->name, v->key_id, v->public_key, buf, size);
}

int cosig_signer_create(const char *skey, cosig_signer **out, char *err, size_t err_size)
{
    static const char head[] = "PRIVATE+KEY+";
    const char *name;
    size_t name_len;
    uint32_t id;
    uint8_t key[KEY_BIN_SIZE];
    cosig_signer *s = NULL;
    int rc;

    if (!skey || !out)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    *out = NULL;
    if (sodium_init() < 0)
        return tlog__set_err(err, err_size, -EIO, "libsodium failed to start");
    if (strncmp(skey, head, sizeof head - 1) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                             "witness private key: does not start with PRIVATE+KEY+");
    rc = split_key("witness private key", skey + sizeof head - 1, &name, &name_len, &id, key,
                   err, err_size);
    if (rc != 0)
        goto cleanup;
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
                           "witness private key: key ID %08x does not match the key "
                           "(expected %08x)",
                           id, s->key_id);
        goto cleanup;
    }
    *out = s;
    s = NULL;
    rc = 0;
cleanup:
    sodium_memzero(key, sizeof key);
    if (s)
        sodium_free(s); /* wipes */
    return rc;
}

void cosig_signer_destroy(cosig_signer *s)
{
    if (s)
        sodium_free(s);
}

const char *cosig_signer_name(const cosig_signer *s)
{
    return s ? s->name : NULL;
}

void cosig_signer_verifier(const cosig_signer *s, cosig_verifier *out)
{
    if (!s || !out)
        return;
    memset(out, 0, sizeof *out);
    memcpy(out->name, s->name, strlen(s->name) + 1);
    out->key_id = s->key_id;
    memcpy(out->public_key, s->pk, NOTE_PUBLIC_KEY_SIZE);
}

int cosig_keygen(const char *name, char *skey, size_t skey_size, char *vkey, size_t vkey_size)
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

int cosig_message(uint64_t timestamp, const char *text, size_t text_len, char **msg,
                  size_t *len)
{
    char ts[24];
    if (!text || !msg || !len || text_len == 0 || text[text_len - 1] != '\n')
        return -EINVAL;
    *msg = NULL;
    int n = snprintf(ts, sizeof ts, "%" PRIu64 "\n", timestamp);
    size_t head_len = sizeof header - 1 + (size_t)n;
    if (text_len > SIZE_MAX - head_len - 1)
        return -EINVAL;
    char *m = malloc(head_len + text_len + 1);
    if (!m)
        return -ENOMEM;
    memcpy(m, header, sizeof header - 1);
    memcpy(m + sizeof header - 1, ts, (size_t)n);
    memcpy(m + head_len, text, text_len);
    m[head_len + text_len] = '\0';
    *msg = m;
    *len = head_len + text_len;
    return 0;
}

int cosig_sign(const cosig_signer *s, uint64_t timestamp, const char *text, size_t text_len,
               char *line, size_t size, size_t *len, char *err, size_t err_size)
{
    uint8_t sig[COSIG_SIG_SIZE];
    char b64[SIG_B64_SIZE];
    char *msg = NULL;
    size_t msg_len = 0;
    checkpoint cp;
    char sub[200];
    int rc;

    if (!s || !text || !line || !len)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    if (timestamp == 0 || timestamp > COSIG_TIMESTAMP_MAX)
        return tlog__set_err(err, err_size, -EINVAL,
                             "cosignature timestamp %" PRIu64 " is not in 1..2^63-1", timestamp);
    /* A witness vouches for checkpoints only: never sign other text. */
    if (checkpoint_parse(text, text_len, &cp, sub, sizeof sub) != 0)
        return tlog__set_err(err, err_size, -EINVAL, "not a checkpoint: %s", sub);
    size_t name_len = strlen(s->name);
    size_t need = SIG_PREFIX_LEN + name_len + 1 + (SIG_B64_SIZE - 1) + 1 + 1;
    if (size < need)
        return tlog__set_err(err, err_size, -ENOSPC, "output buffer too small for the line");
    rc = cosig_message(timestamp, text, text_len, &msg, &msg_len);
    if (rc != 0)
        return tlog__set_err(err, err_size, rc, "cannot build the signed message");
    tlog__put_be32(sig, s->key_id);
    tlog__put_be64(sig + NOTE_KEY_ID_SIZE, timestamp);
    crypto_sign_detached(sig + NOTE_KEY_ID_SIZE + COSIG_TIMESTAMP_SIZE, NULL,
                         (const unsigned char *)msg, msg_len, s->sk);
    free(msg);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    char *p = line;
    memcpy(p, sig_prefix, SIG_PREFIX_LEN);
    p += SIG_PREFIX_LEN;
    memcpy(p, s->name, name_len);
    p += name_len;
    *p++ = ' ';
    memcpy(p, b64, SIG_B64_SIZE - 1);
    p += SIG_B64_SIZE - 1;
    *p++ = '\n';
    *p = '\0';
    *len = (size_t)(p - line);
    return 0;
}

static int names_key(const cosig_verifier *v, const note_sig *sig)
{
    size_t n = strnlen(v->name, sizeof v->name);
    return v->key_id == sig->key_id && n == sig->name_len && memcmp(v->name, sig->name, n) == 0;
}

int cosig_verify_sig(const cosig_verifier *v, const note_parsed *p, size_t sig_index,
                     uint64_t *timestamp, char *err, size_t err_size)
{
    uint8_t bin[COSIG_SIG_SIZE];
    char *msg = NULL;
    size_t msg_len = 0;
    if (!v || !p || !p->msg || sig_index >= p->sig_count)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    const note_sig *sig = &p->sigs[sig_index];
    if (!names_key(v, sig))
        return -ENOENT;
    if (tlog__b64_decode_exact(sig->b64, sig->b64_len, bin, sizeof bin) != 0)
        return tlog__set_err(err, err_size, -EBADMSG,
                             "cosignature by witness %s+%08" PRIx32
                             " (signature line %zu) is not a %d-byte cosignature/v1 signature",
                             v->name, v->key_id, sig_index + 1, COSIG_SIG_SIZE);
    uint64_t ts = tlog__be64(bin + NOTE_KEY_ID_SIZE);
    if (ts > COSIG_TIMESTAMP_MAX)
        return tlog__set_err(err, err_size, -EBADMSG,
                             "cosignature by witness %s+%08" PRIx32
                             " (signature line %zu) has a timestamp above 2^63-1",
                             v->name, v->key_id, sig_index + 1);
    int rc = cosig_message(ts, p->msg, p->text_len, &msg, &msg_len);
    if (rc != 0)
        return tlog__set_err(err, err_size, rc == -ENOMEM ? rc : -EBADMSG,
                             "cannot build the cosigned message");
    rc = crypto_sign_verify_detached(bin + NOTE_KEY_ID_SIZE + COSIG_TIMESTAMP_SIZE,
                                     (const unsigned char *)msg, msg_len, v->public_key);
    free(msg);
    if (rc != 0)
        return tlog__set_err(err, err_size, -EBADMSG,
                             "cosignature by witness %s+%08" PRIx32
                             " (signature line %zu) is invalid: it does not sign this "
                             "checkpoint",
                             v->name, v->key_id, sig_index + 1);
    if (timestamp)
        *timestamp = ts;
    return 0;
}

int cosig_verify(const note_parsed *p, const cosig_verifier *known, size_t known_count,
                 size_t *valid, uint64_t *timestamps, char *err, size_t err_size)
{
    size_t count = 0;
    if (valid)
        *valid = 0;
    if (!p || !p->msg || (known_count > 0 && !known))
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    if (timestamps)
        memset(timestamps, 0, known_count * sizeof *timestamps);
    for (size_t k = 0; k < known_count; k++) {
        int seen = 0;
        for (size_t i = 0; i < p->sig_count; i++) {
            uint64_t ts = 0;
            int rc = cosig_verify_sig(&known[k], p, i, &ts, err, err_size);
            if (rc == -ENOENT)
                continue;
            if (rc != 0)
                return rc;
            seen = 1;
            if (timestamps && ts > timestamps[k])
                timestamps[k] = ts;
        }
        count += (size_t)seen;
    }
    if (valid)
        *valid = count;
    return 0;
}

int cosig_check_quorum(const char *msg, size_t len, const cosig_verifier *known,
                       size_t known_count, size_t quorum, size_t *valid, char *err,
                       size_t err_size)
{
    note_parsed *p = NULL;
    uint64_t *ts = NULL;
    size_t ok = 0;
    int rc;
    if (valid)
        *valid = 0;
    if (!msg || !known || known_count == 0 || quorum == 0 || quorum > known_count)
        return tlog__set_err(err, err_size, -EINVAL,
                             "a quorum needs 1..%zu of the %zu witnesses given", known_count,
                             known_count);
    p = malloc(sizeof *p);
    ts = calloc(known_count, sizeof *ts);
    if (!p || !ts) {
        rc = tlog__set_err(err, err_size, -ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = note_parse(msg, len, p, err, err_size);
    if (rc != 0)
        goto cleanup;
    rc = cosig_verify(p, known, known_count, &ok, ts, err, err_size);
    if (rc != 0)
        goto cleanup;
    if (valid)
        *valid = ok;
    if (ok < quorum) {
        /* Name the missing witnesses: that is what an operator acts on. */
        int n = snprintf(err, err ? err_size : 0,
                         "%zu of the %zu witnesses cosigned this checkpoint, %zu required; "
                         "no valid cosignature from",
                         ok, known_count, quorum);
        for (size_t k = 0; err && n >= 0 && (size_t)n < err_size && k < known_count; k++) {
            if (ts[k] != 0)
                continue;
            int m = snprintf(err + n, err_size - (size_t)n, " %s+%08" PRIx32, known[k].name,
                             known[k].key_id);
            if (m < 0)
                break;
            n += m;
        }
        rc = -ENOKEY;
    }
cleanup:
    free(p);
    free(ts);
    return rc;
}

static int same_key(const note_sig *a, const note_sig *b)
{
    return a->key_id == b->key_id && a->name_len == b->name_len &&
           memcmp(a->name, b->name, a->name_len) == 0;
}

/* Appends a signature line (em dash to newline) to buf, or only counts its
 * bytes when buf is NULL. */
static void put_line(char *buf, size_t *used, const note_sig *s)
{
    const char *start = s->name - SIG_PREFIX_LEN;
    size_t n = (size_t)(s->b64 + s->b64_len + 1 - start); /* through the '\n' */
    if (buf)
        memcpy(buf + *used, start, n);
    *used += n;
}

/* The merged note: text, blank line, the note's lines in order (one the new
 * lines replace takes the last new value in place), then the new lines whose
 * key is not in the note (the last of each key). Returns the line count. */
static size_t merge(const char *msg, const note_parsed *note, const note_parsed *add, char *buf,
                    size_t *used)
{
    size_t count = 0;
    *used = note->text_len + 1;
    if (buf)
        memcpy(buf, msg, *used);
    for (size_t i = 0; i < note->sig_count; i++) {
        const note_sig *src = &note->sigs[i];
        for (size_t j = 0; j < add->sig_count; j++)
            if (same_key(&add->sigs[j], &note->sigs[i]))
                src = &add->sigs[j];
        put_line(buf, used, src);
        count++;
    }
    for (size_t j = 0; j < add->sig_count; j++) {
        int skip = 0;
        for (size_t i = 0; i < note->sig_count && !skip; i++)
            skip = same_key(&add->sigs[j], &note->sigs[i]);
        for (size_t k = j + 1; k < add->sig_count && !skip; k++)
            skip = same_key(&add->sigs[j], &add->sigs[k]);
        if (skip)
            continue;
        put_line(buf, used, &add->sigs[j]);
        count++;
    }
    if (buf)
        buf[*used] = '\0';
    return count;
}

int cosig_note_add(const char *msg, size_t len, const char *lines, size_t lines_len, char **out,
                   size_t *out_len, char *err, size_t err_size)
{
    note_parsed *note = NULL, *add = NULL;
    char *wrapped = NULL, *buf = NULL;
    size_t used = 0;
    int rc;
    char sub[200];
    if (!msg || !out || !out_len || (lines_len > 0 && !lines))
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    *out = NULL;
    if (lines_len > SIZE_MAX / 2 - 3)
        return tlog__set_err(err, err_size, -EINVAL, "input too long");
    note = malloc(sizeof *note);
    add = malloc(sizeof *add);
    wrapped = malloc(3 + lines_len);
    if (!note || !add || !wrapped) {
        rc = tlog__set_err(err, err_size, -ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = note_parse(msg, len, note, sub, sizeof sub);
    if (rc != 0) {
        rc = tlog__set_err(err, err_size, rc, "the note: %s", sub);
        goto cleanup;
    }
    /* The new lines, parsed as the signatures of a one-line note. */
    memcpy(wrapped, "x\n\n", 3);
    memcpy(wrapped + 3, lines, lines_len);
    rc = note_parse(wrapped, 3 + lines_len, add, sub, sizeof sub);
    if (rc != 0 || add->text_len != 2) {
        rc = tlog__set_err(err, err_size, -EINVAL, "the lines to add: %s",
                           rc != 0 ? sub : "a line is not a signature line");
        goto cleanup;
    }
    if (merge(msg, note, add, NULL, &used) > NOTE_MAX_SIGS) {
        rc = tlog__set_err(err, err_size, -EINVAL, "more than %d signature lines",
                           NOTE_MAX_SIGS);
        goto cleanup;
    }
    buf = malloc(used + 1);
    if (!buf) {
        rc = tlog__set_err(err, err_size, -ENOMEM, "out of memory");
        goto cleanup;
    }
    merge(msg, note, add, buf, &used);
    rc = note_parse(buf, used, note, sub, sizeof sub);
    if (rc != 0) {
        rc = tlog__set_err(err, err_size, rc, "the merged note: %s", sub);
        goto cleanup;
    }
    *out = buf;
    *out_len = used;
    buf = NULL;
cleanup:
    free(note);
    free(add);
    free(wrapped);
    free(buf);
    return rc;
}
