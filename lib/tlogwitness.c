/* tlogwitness.c — c2sp.org/tlog-witness without I/O: the add-checkpoint
 * request body, the 409 size body, and the witness's decision rules. */
#include "tlog_util.h"
#include "tallinn/tlogwitness.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define HASH_B64_LEN 44 /* padded base64 of 32 bytes */

int tlogwitness_request_format(uint64_t old_size, const uint8_t *proof, size_t proof_count,
                               const char *checkpoint, size_t checkpoint_len, char **out,
                               size_t *out_len)
{
    if (!out || !out_len || !checkpoint || checkpoint_len == 0 ||
        proof_count > TLOGWITNESS_MAX_PROOF || (proof_count > 0 && !proof) ||
        checkpoint_len > SIZE_MAX / 2)
        return -EINVAL;
    *out = NULL;
    size_t size = 4 + 20 + 1 + proof_count * (HASH_B64_LEN + 1) + 1 + checkpoint_len + 1;
    char *buf = malloc(size);
    if (!buf)
        return -ENOMEM;
    size_t used = (size_t)snprintf(buf, size, "old %" PRIu64 "\n", old_size);
    for (size_t i = 0; i < proof_count; i++) {
        sodium_bin2base64(buf + used, HASH_B64_LEN + 1, proof + i * MERKLE_HASH_SIZE,
                          MERKLE_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL);
        used += HASH_B64_LEN;
        buf[used++] = '\n';
    }
    buf[used++] = '\n';
    memcpy(buf + used, checkpoint, checkpoint_len);
    used += checkpoint_len;
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
    return 0;
}

/* The '\n'-terminated line at *off; -EINVAL if there is no newline. */
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

int tlogwitness_request_parse(const char *body, size_t len, tlogwitness_request *out, char *err,
                              size_t err_size)
{
    const char *line;
    size_t line_len, off = 0;
    if (!body || !out)
        return tlog__set_err(err, err_size, -EINVAL, "missing argument");
    memset(out, 0, sizeof *out);
    if (next_line(body, len, &off, &line, &line_len) != 0 || line_len < 4 ||
        memcmp(line, "old ", 4) != 0 || tlog__parse_u64(line + 4, line_len - 4, &out->old_size))
        return tlog__set_err(err, err_size, -EINVAL,
                             "line 1: expected \"old <size>\" (decimal, no leading zeros)");
    for (size_t line_no = 2;; line_no++) {
        if (next_line(body, len, &off, &line, &line_len) != 0)
            return tlog__set_err(err, err_size, -EINVAL,
                                 "line %zu: no empty line before the checkpoint", line_no);
        if (line_len == 0)
            break;
        if (out->proof_count == TLOGWITNESS_MAX_PROOF)
            return tlog__set_err(err, err_size, -EINVAL,
                                 "line %zu: more than %d consistency proof lines", line_no,
                                 TLOGWITNESS_MAX_PROOF);
        if (line_len != HASH_B64_LEN ||
            tlog__b64_decode_exact(line, line_len,
                                   out->proof + out->proof_count * MERKLE_HASH_SIZE,
                                   MERKLE_HASH_SIZE) != 0)
            return tlog__set_err(err, err_size, -EINVAL,
                                 "line %zu: a proof line must be base64 of %d bytes", line_no,
                                 MERKLE_HASH_SIZE);
        out->proof_count++;
    }
    if (off >= len)
        return tlog__set_err(err, err_size, -EINVAL, "no checkpoint after the empty line");
    out->checkpoint = body + off;
    out->checkpoint_len = len - off;
    return 0;
}

int tlogwitness_size_format(uint64_t size, char *buf, size_t size_buf, size_t *len)
{
    if (!buf || !len)
        return -EINVAL;
    int n = snprintf(buf, size_buf, "%" PRIu64 "\n", size);
    if (n < 0 || (size_t)n >= size_buf)
        return -ENOSPC;
    *len = (size_t)n;
    return 0;
}

int tlogwitness_size_parse(const char *body, size_t len, uint64_t *size)
{
    if (!body || !size || len < 2 || body[len - 1] != '\n')
        return -EINVAL;
    return tlog__parse_u64(body, len - 1, size);
}

void tlogwitness_origin_hash(const char *origin, char out[TLOGWITNESS_ORIGIN_HASH_HEX + 1])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)origin, strlen(origin));
    sodium_bin2hex(out, TLOGWITNESS_ORIGIN_HASH_HEX + 1, h, sizeof h);
}

static int decided(tlogwitness_decision *d, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int decided(tlogwitness_decision *d, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    d->status = status;
    return 0;
}

int tlogwitness_decide(const char *body, size_t len, tlogwitness_lookup_fn lookup, void *ctx,
                       tlogwitness_decision *d)
{
    tlogwitness_request *req = NULL;
    note_parsed *np = NULL;
    tlogwitness_log log;
    char sub[200];
    int rc = 0;

    if (!d)
        return -EINVAL;
    memset(d, 0, sizeof *d);
    if (!body || !lookup) {
        decided(d, TLOGWITNESS_INTERNAL, "missing argument");
        return -EINVAL;
    }
    req = malloc(sizeof *req);
    np = malloc(sizeof *np);
    if (!req || !np) {
        decided(d, TLOGWITNESS_INTERNAL, "out of memory");
        rc = -ENOMEM;
        goto done;
    }
    if (tlogwitness_request_parse(body, len, req, sub, sizeof sub) != 0) {
        decided(d, TLOGWITNESS_BAD_REQUEST, "malformed request: %s", sub);
        goto done;
    }
    if (note_parse(req->checkpoint, req->checkpoint_len, np, sub, sizeof sub) != 0 ||
        checkpoint_parse(req->checkpoint, np->text_len, &d->cp, sub, sizeof sub) != 0) {
        decided(d, TLOGWITNESS_BAD_REQUEST, "malformed checkpoint: %s", sub);
        goto done;
    }
    d->text = req->checkpoint;
    d->text_len = np->text_len;

    /* "If the checkpoint origin is unknown, ... 404 Not Found." */
    rc = lookup(ctx, d->cp.origin, &log);
    if (rc == -ENOENT) {
        rc = 0;
        decided(d, TLOGWITNESS_NOT_FOUND, "unknown log origin \"%s\"", d->cp.origin);
        goto done;
    }
    if (rc != 0) {
        decided(d, TLOGWITNESS_INTERNAL, "cannot read the state of \"%s\"", d->cp.origin);
        goto done;
    }
    /* "403 Forbidden if either no signature from a trusted key for the
     * origin is present, or a signature line's key name and ID match a
     * trusted key but the signature itself fails to verify." */
    if (note_verify(np, log.keys, log.key_count, NULL, sub, sizeof sub) != 0) {
        decided(d, TLOGWITNESS_FORBIDDEN, "%s", sub);
        goto done;
    }
    d->signature_verified = 1;
    /* "The old size MUST be equal to or lower than the checkpoint size.
     * Otherwise ... 400 Bad Request." */
    if (req->old_size > d->cp.size) {
        decided(d, TLOGWITNESS_BAD_REQUEST, "old size %" PRIu64 " is above the checkpoint size %" PRIu64,
                req->old_size, d->cp.size);
        goto done;
    }
    /* "... old size matches the size of the latest checkpoint it cosigned
     * ... If it doesn't match ... 409 Conflict", the body that size. */
    if (req->old_size != log.size) {
        d->witness_size = log.size;
        decided(d, TLOGWITNESS_CONFLICT,
                "old size %" PRIu64 " is not the size last cosigned for \"%s\" (%" PRIu64 ")",
                req->old_size, d->cp.origin, log.size);
        goto done;
    }
    /* "A checkpoint of size zero MUST have the root hash of the empty tree." */
    uint8_t empty[MERKLE_HASH_SIZE];
    merkle_hash_empty(empty);
    if (d->cp.size == 0 && sodium_memcmp(d->cp.root, empty, MERKLE_HASH_SIZE) != 0) {
        decided(d, TLOGWITNESS_UNPROCESSABLE,
                "a checkpoint of size 0 must have the empty tree's root");
        goto done;
    }
    /* "If the old size is zero, the consistency proof MUST be empty." */
    if (req->old_size == 0) {
        if (req->proof_count != 0)
            decided(d, TLOGWITNESS_UNPROCESSABLE,
                    "old size 0 takes an empty proof, not %zu lines", req->proof_count);
        else
            decided(d, TLOGWITNESS_OK, "first checkpoint of \"%s\"", d->cp.origin);
        goto done;
    }
    /* Equal sizes: "the root hashes are also identical" (and the proof
     * empty, as RFC 6962 has it); otherwise the proof from the root
     * cosigned before. Both are merkle_verify_consistency's rules. */
    if (merkle_verify_consistency(req->old_size, d->cp.size, log.root, d->cp.root, req->proof,
                                  req->proof_count, sub, sizeof sub) != 0) {
        if (req->old_size == d->cp.size)
            decided(d, TLOGWITNESS_UNPROCESSABLE,
                    "size %" PRIu64 " was cosigned with another root hash (%s)", d->cp.size, sub);
        else
            decided(d, TLOGWITNESS_UNPROCESSABLE,
                    "consistency proof %" PRIu64 " -> %" PRIu64
                    " does not verify from the root cosigned before: %s",
                    req->old_size, d->cp.size, sub);
        goto done;
    }
    decided(d, TLOGWITNESS_OK, "consistent with size %" PRIu64, req->old_size);
done:
    free(req);
    free(np);
    return rc;
}
