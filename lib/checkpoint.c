/* checkpoint.c — C2SP tlog-checkpoint note text: strict parse and format,
 * and the signed form through note.c. */
#include "tlog_util.h"
#include "tallinn/checkpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define ROOT_B64_LEN 44 /* base64 of 32 bytes, padded */



/* Extension lines: zero or more non-empty lines, each ending in '\n'. */
static int check_extensions(const char *ext, size_t len, size_t *bad_line)
{
    size_t line = 1;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (ext[i] != '\n')
            continue;
        if (i == start) {
            *bad_line = line;
            return -EINVAL;
        }
        start = i + 1;
        line++;
    }
    if (start != len) {
        *bad_line = line;
        return -EINVAL;
    }
    return 0;
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

int checkpoint_parse(const char *text, size_t len, checkpoint *out, char *err, size_t err_size)
{
    size_t where;
    if (!text || !out)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    memset(out, 0, sizeof *out);
    if (note_check_text(text, len, &where) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                       "checkpoint: invalid UTF-8 or control character at byte %zu", where);
    if (len == 0 || text[len - 1] != '\n')
        return tlog__set_err(err, err_size, -EINVAL, "checkpoint: text does not end in a newline");

    const char *line[3];
    size_t line_len[3];
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        const char *nl = off < len ? memchr(text + off, '\n', len - off) : NULL;
        if (!nl)
            return tlog__set_err(err, err_size, -EINVAL,
                           "checkpoint: %d lines, need origin, size and root hash", i);
        line[i] = text + off;
        line_len[i] = (size_t)(nl - line[i]);
        off += line_len[i] + 1;
    }

    if (line_len[0] == 0)
        return tlog__set_err(err, err_size, -EINVAL, "checkpoint: line 1: empty origin");
    if (line_len[0] > CHECKPOINT_ORIGIN_MAX)
        return tlog__set_err(err, err_size, -EINVAL,
                       "checkpoint: line 1: origin longer than %d bytes", CHECKPOINT_ORIGIN_MAX);
    if (tlog__parse_u64(line[1], line_len[1], &out->size) != 0)
        return tlog__set_err(err, err_size, -EINVAL,
                       "checkpoint: line 2: tree size is not a decimal number without "
                       "leading zeros");
    size_t bin_len = 0;
    if (line_len[2] != ROOT_B64_LEN || !b64_ascii(line[2], line_len[2]) ||
        sodium_base642bin(out->root, sizeof out->root, line[2], line_len[2], NULL, &bin_len,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bin_len != MERKLE_HASH_SIZE)
        return tlog__set_err(err, err_size, -EINVAL,
                       "checkpoint: line 3: root hash is not base64 of %d bytes",
                       MERKLE_HASH_SIZE);
    size_t bad;
    if (check_extensions(text + off, len - off, &bad) != 0)
        return tlog__set_err(err, err_size, -EINVAL, "checkpoint: line %zu: empty extension line",
                       3 + bad);
    memcpy(out->origin, line[0], line_len[0]);
    out->origin[line_len[0]] = '\0';
    out->extensions = off < len ? text + off : NULL;
    out->extensions_len = len - off;
    return 0;
}

int checkpoint_format(const checkpoint *cp, char *buf, size_t size, size_t *len)
{
    char root[sodium_base64_ENCODED_LEN(MERKLE_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL)];
    size_t bad;
    if (!cp || !buf || !len)
        return -EINVAL;
    size_t origin_len = strnlen(cp->origin, sizeof cp->origin);
    if (origin_len == 0 || origin_len > CHECKPOINT_ORIGIN_MAX ||
        memchr(cp->origin, '\n', origin_len) || note_check_text(cp->origin, origin_len, NULL))
        return -EINVAL;
    if (cp->extensions_len > 0 &&
        (!cp->extensions || check_extensions(cp->extensions, cp->extensions_len, &bad) != 0 ||
         note_check_text(cp->extensions, cp->extensions_len, NULL) != 0))
        return -EINVAL;
    sodium_bin2base64(root, sizeof root, cp->root, MERKLE_HASH_SIZE,
                      sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(buf, size, "%s\n%llu\n%s\n", cp->origin, (unsigned long long)cp->size, root);
    if (n < 0 || (size_t)n >= size)
        return -ENOSPC;
    size_t used = (size_t)n;
    if (cp->extensions_len > 0) {
        if (cp->extensions_len >= size - used)
            return -ENOSPC;
        memcpy(buf + used, cp->extensions, cp->extensions_len);
        used += cp->extensions_len;
        buf[used] = '\0';
    }
    *len = used;
    return 0;
}

int checkpoint_open(const char *msg, size_t len, const note_verifier *known,
                    size_t known_count, checkpoint *out, char *err, size_t err_size)
{
    size_t text_len = 0;
    int rc = note_open(msg, len, known, known_count, &text_len, err, err_size);
    if (rc != 0)
        return rc;
    return checkpoint_parse(msg, text_len, out, err, err_size);
}

int checkpoint_sign(const checkpoint *cp, const note_signer *signer, char *buf, size_t size,
                    size_t *len, char *err, size_t err_size)
{
    if (!cp || !signer || !buf || !len)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    if (cp->extensions_len > SIZE_MAX - CHECKPOINT_TEXT_MAX - 1)
        return tlog__set_err(err, err_size, -EINVAL, "checkpoint: extensions too long");
    size_t text_size = CHECKPOINT_TEXT_MAX + cp->extensions_len + 1;
    char *text = malloc(text_size);
    size_t text_len = 0;
    int rc;
    if (!text)
        return tlog__set_err(err, err_size, -ENOMEM, "out of memory");
    rc = checkpoint_format(cp, text, text_size, &text_len);
    if (rc != 0) {
        tlog__set_err(err, err_size, rc, "checkpoint: cannot format (bad origin or extensions)");
        goto cleanup;
    }
    rc = note_sign(signer, text, text_len, buf, size, len, err, err_size);
cleanup:
    free(text);
    return rc;
}
