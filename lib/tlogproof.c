/* tlogproof.c — c2sp.org/tlog-proof@v1 files: strict parse, format, and
 * verification against a log key. */
#include "tlog_util.h"
#include "tallinn/tlogproof.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define HASH_B64_LEN 44 /* base64 of 32 bytes, padded */



/* The next '\n'-terminated line at *off: its start and length (without the
 * newline); -EINVAL if the text ends without a newline. */
static int next_line(const char *buf, size_t len, size_t *off, const char **line,
                     size_t *line_len)
{
    if (*off >= len)
        return -EINVAL;
    const char *nl = memchr(buf + *off, '\n', len - *off);
    if (!nl)
        return -EINVAL;
    *line = buf + *off;
    *line_len = (size_t)(nl - *line);
    *off += *line_len + 1;
    return 0;
}

void tlogproof_destroy(tlogproof *p)
{
    if (!p)
        return;
    free(p->extra);
    free(p->checkpoint);
    free(p);
}

/* libsodium 1.0.18's sodium_base642bin decodes every byte >= 0x80 as '/':
 * refuse such bytes first, so that a value has exactly one encoding. */
static int b64_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

int tlogproof_parse(const char *buf, size_t len, tlogproof **out, char *err, size_t err_size)
{
    tlogproof *p = NULL;
    note_parsed *note = NULL;
    const char *line;
    size_t line_len, off = 0, line_no = 0, where;
    int rc;

    if (!buf || !out)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    *out = NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return tlog__set_err(err, err_size, -ENOMEM, "out of memory");

#define FAIL(...)                                                                               \
    do {                                                                                        \
        rc = tlog__set_err(err, err_size, -EINVAL, __VA_ARGS__);                                      \
        goto cleanup;                                                                           \
    } while (0)

    line_no++;
    if (next_line(buf, len, &off, &line, &line_len) != 0 ||
        line_len != strlen(TLOGPROOF_HEADER) || memcmp(line, TLOGPROOF_HEADER, line_len) != 0)
        FAIL("tlog-proof: line 1 is not \"%s\"", TLOGPROOF_HEADER);

    line_no++;
    if (next_line(buf, len, &off, &line, &line_len) != 0)
        FAIL("tlog-proof: line %zu: missing index line", line_no);
    if (line_len >= 6 && memcmp(line, "extra ", 6) == 0) {
        const char *b64 = line + 6;
        size_t b64_len = line_len - 6, bin_len = 0;
        if (b64_len == 0)
            FAIL("tlog-proof: line %zu: empty extra data", line_no);
        p->extra = malloc(b64_len / 4 * 3 + 3);
        if (!p->extra) {
            rc = tlog__set_err(err, err_size, -ENOMEM, "out of memory");
            goto cleanup;
        }
        if (!b64_ascii(b64, b64_len) ||
            sodium_base642bin(p->extra, b64_len / 4 * 3 + 3, b64, b64_len, NULL, &bin_len,
                              NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bin_len == 0)
            FAIL("tlog-proof: line %zu: extra data is not base64", line_no);
        p->extra_len = bin_len;
        line_no++;
        if (next_line(buf, len, &off, &line, &line_len) != 0)
            FAIL("tlog-proof: line %zu: missing index line", line_no);
    }
    if (line_len < 6 || memcmp(line, "index ", 6) != 0)
        FAIL("tlog-proof: line %zu: expected \"index <N>\"", line_no);
    if (tlog__parse_u64(line + 6, line_len - 6, &p->index) != 0)
        FAIL("tlog-proof: line %zu: index is not a decimal number without leading zeros",
             line_no);

    for (;;) {
        line_no++;
        if (next_line(buf, len, &off, &line, &line_len) != 0)
            FAIL("tlog-proof: line %zu: no empty line before the checkpoint", line_no);
        if (line_len == 0)
            break;
        if (p->hash_count == TLOGPROOF_MAX_HASHES)
            FAIL("tlog-proof: line %zu: more than %d proof hashes", line_no,
                 TLOGPROOF_MAX_HASHES);
        size_t bin_len = 0;
        if (line_len != HASH_B64_LEN || !b64_ascii(line, line_len) ||
            sodium_base642bin(p->hashes + p->hash_count * MERKLE_HASH_SIZE, MERKLE_HASH_SIZE,
                              line, line_len, NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bin_len != MERKLE_HASH_SIZE)
            FAIL("tlog-proof: line %zu: proof hash %zu is not base64 of %d bytes", line_no,
                 p->hash_count, MERKLE_HASH_SIZE);
        p->hash_count++;
    }
    if (note_check_text(buf, off, &where) != 0)
        FAIL("tlog-proof: invalid UTF-8 or control character at byte %zu", where);

    /* The rest is the signed checkpoint, verbatim; it must at least be one. */
    size_t cp_len = len - off;
    if (cp_len == 0)
        FAIL("tlog-proof: line %zu: missing checkpoint", line_no + 1);
    p->checkpoint = malloc(cp_len + 1);
    note = malloc(sizeof *note);
    if (!p->checkpoint || !note) {
        rc = tlog__set_err(err, err_size, -ENOMEM, "out of memory");
        goto cleanup;
    }
    memcpy(p->checkpoint, buf + off, cp_len);
    p->checkpoint[cp_len] = '\0';
    p->checkpoint_len = cp_len;
    char sub[200];
    checkpoint cp;
    if (note_parse(p->checkpoint, cp_len, note, sub, sizeof sub) != 0 ||
        checkpoint_parse(p->checkpoint, note->text_len, &cp, sub, sizeof sub) != 0)
        FAIL("tlog-proof: checkpoint from line %zu: %s", line_no + 1, sub);
#undef FAIL
    *out = p;
    p = NULL;
    rc = 0;
cleanup:
    free(note);
    tlogproof_destroy(p);
    return rc;
}

int tlogproof_format(const tlogproof *p, char **out, size_t *out_len)
{
    char hash[sodium_base64_ENCODED_LEN(MERKLE_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL)];
    char *buf = NULL, *extra = NULL;
    size_t extra_b64 = 0;
    if (!p || !out || !out_len || p->hash_count > TLOGPROOF_MAX_HASHES || !p->checkpoint ||
        p->checkpoint_len == 0 || (p->extra_len > 0 && !p->extra))
        return -EINVAL;
    *out = NULL;
    if (p->extra_len > 0) {
        if (p->extra_len > (SIZE_MAX / 4) * 3 - 3)
            return -EINVAL;
        extra_b64 = sodium_base64_ENCODED_LEN(p->extra_len, sodium_base64_VARIANT_ORIGINAL);
        extra = malloc(extra_b64);
        if (!extra)
            return -ENOMEM;
        sodium_bin2base64(extra, extra_b64, p->extra, p->extra_len,
                          sodium_base64_VARIANT_ORIGINAL);
    }
    size_t size = sizeof TLOGPROOF_HEADER + 6 + extra_b64 + 1 + 6 + 21 + 1 +
                  p->hash_count * (HASH_B64_LEN + 1) + 1 + p->checkpoint_len + 1;
    buf = malloc(size);
    if (!buf) {
        free(extra);
        return -ENOMEM;
    }
    size_t used = (size_t)snprintf(buf, size, "%s\n", TLOGPROOF_HEADER);
    if (extra)
        used += (size_t)snprintf(buf + used, size - used, "extra %s\n", extra);
    used += (size_t)snprintf(buf + used, size - used, "index %llu\n",
                             (unsigned long long)p->index);
    for (size_t i = 0; i < p->hash_count; i++) {
        sodium_bin2base64(hash, sizeof hash, p->hashes + i * MERKLE_HASH_SIZE,
                          MERKLE_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL);
        used += (size_t)snprintf(buf + used, size - used, "%s\n", hash);
    }
    buf[used++] = '\n';
    memcpy(buf + used, p->checkpoint, p->checkpoint_len);
    used += p->checkpoint_len;
    buf[used] = '\0';
    free(extra);
    *out = buf;
    *out_len = used;
    return 0;
}

int tlogproof_verify(const tlogproof *p, const note_verifier *known, size_t known_count,
                     const uint8_t leaf_hash[MERKLE_HASH_SIZE], checkpoint *cp, char *err,
                     size_t err_size)
{
    checkpoint tmp;
    char sub[256];
    if (!p || !p->checkpoint)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    int rc = checkpoint_open(p->checkpoint, p->checkpoint_len, known, known_count, &tmp, sub,
                             sizeof sub);
    if (rc != 0)
        return tlog__set_err(err, err_size, rc, "tlog-proof: checkpoint: %s", sub);
    if (p->index >= tmp.size)
        return tlog__set_err(err, err_size, -EBADMSG,
                       "tlog-proof: index %llu is not below the checkpoint's size %llu",
                       (unsigned long long)p->index, (unsigned long long)tmp.size);
    if (leaf_hash) {
        rc = merkle_verify_inclusion(p->index, tmp.size, leaf_hash, p->hashes, p->hash_count,
                                     tmp.root, sub, sizeof sub);
        if (rc != 0)
            return tlog__set_err(err, err_size, rc, "tlog-proof: entry %llu: %s",
                           (unsigned long long)p->index, sub);
    } else {
        size_t want = merkle_inclusion_proof_len(p->index, tmp.size);
        if (p->hash_count != want)
            return tlog__set_err(err, err_size, -EBADMSG,
                           "tlog-proof: %zu proof hashes, but index %llu in size %llu needs %zu",
                           p->hash_count, (unsigned long long)p->index,
                           (unsigned long long)tmp.size, want);
    }
    if (cp)
        *cp = tmp;
    return 0;
}
