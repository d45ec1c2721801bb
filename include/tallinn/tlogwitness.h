/* tlogwitness.h — the C2SP tlog-witness protocol's formats and rules, with
 * no I/O: the add-checkpoint request body (build and strict parse), the
 * "409 Conflict" size body (text/x.tlog.size), and the witness's decision on
 * a request (the status codes, in the order the spec checks them), given
 * what the witness knows about the log. Design: docs/audit-formats.md.
 *
 * Errors: 0 or a negative errno value: -EINVAL malformed or bad argument,
 * -ENOMEM. `err` buffers (may be NULL) get a short message. */
#ifndef TALLINN_TLOGWITNESS_H
#define TALLINN_TLOGWITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/checkpoint.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TLOGWITNESS_MAX_PROOF 63 /* consistency proof lines a client may send */
/* Largest request body a witness reads: a 63-line proof is 2.8 kB, a
 * checkpoint with many signatures a few kB (the Go witnesses allow 16 kB). */
#define TLOGWITNESS_BODY_MAX (16u * 1024)
#define TLOGWITNESS_SIZE_CONTENT_TYPE "text/x.tlog.size"
#define TLOGWITNESS_PATH_ADD "/add-checkpoint"
/* GET <monitoring prefix>/<hex SHA-256 of the origin>/checkpoint */
#define TLOGWITNESS_ORIGIN_HASH_HEX 64

typedef struct tlogwitness_request {
    uint64_t old_size;
    size_t proof_count;
    uint8_t proof[TLOGWITNESS_MAX_PROOF * MERKLE_HASH_SIZE];
    const char *checkpoint; /* the signed checkpoint note, borrowed from the body */
    size_t checkpoint_len;
} tlogwitness_request;

/* Builds a request body: "old N\n", one base64 proof hash a line, "\n", then
 * the signed checkpoint note. malloc'd, NUL-terminated (caller frees). */
int tlogwitness_request_format(uint64_t old_size, const uint8_t *proof, size_t proof_count,
                               const char *checkpoint, size_t checkpoint_len, char **out,
                               size_t *out_len);

/* Parses a request body strictly: "old " and a decimal without leading zeros,
 * at most 63 lines of padded base64 of exactly 32 bytes, an empty line, and
 * a non-empty rest (the checkpoint, checked later by tlogwitness_decide).
 * out->checkpoint points into body. */
int tlogwitness_request_parse(const char *body, size_t len, tlogwitness_request *out, char *err,
                              size_t err_size);

/* The 409 body: "<size>\n". buf needs 22 bytes. */
int tlogwitness_size_format(uint64_t size, char *buf, size_t size_buf, size_t *len);
/* Parses a 409 body strictly (decimal without leading zeros, one '\n'). */
int tlogwitness_size_parse(const char *body, size_t len, uint64_t *size);

/* Lowercase hex SHA-256 of an origin (the monitoring path's <origin hash>),
 * NUL-terminated. */
void tlogwitness_origin_hash(const char *origin, char out[TLOGWITNESS_ORIGIN_HASH_HEX + 1]);

/* What a witness knows about one log: the keys it trusts for the origin,
 * and the latest checkpoint it cosigned (size 0 and the empty root when it
 * never cosigned one). */
typedef struct tlogwitness_log {
    const note_verifier *keys;
    size_t key_count;
    uint64_t size;
    uint8_t root[MERKLE_HASH_SIZE];
} tlogwitness_log;

/* Finds the log for an origin: 0 and *log filled, or -ENOENT if the witness
 * does not witness it; any other negative code is an internal failure. */
typedef int (*tlogwitness_lookup_fn)(void *ctx, const char *origin, tlogwitness_log *log);

/* HTTP status codes of add-checkpoint. */
enum {
    TLOGWITNESS_OK = 200,
    TLOGWITNESS_BAD_REQUEST = 400,    /* malformed body or checkpoint; old size > size */
    TLOGWITNESS_FORBIDDEN = 403,      /* no valid signature by a trusted key, or a bad one */
    TLOGWITNESS_NOT_FOUND = 404,      /* unknown origin */
    TLOGWITNESS_CONFLICT = 409,       /* old size is not the size last cosigned */
    TLOGWITNESS_UNPROCESSABLE = 422,  /* bad proof, or not consistent with what was cosigned */
    TLOGWITNESS_INTERNAL = 500,
};

typedef struct tlogwitness_decision {
    int status;                /* one of the codes above */
    uint64_t witness_size;     /* 409: the size last cosigned (the response body) */
    int signature_verified;    /* the log's signature verified (a refusal is then evidence) */
    checkpoint cp;             /* the parsed checkpoint, when it parsed */
    const char *text;          /* its note text inside the request, when it parsed */
    size_t text_len;
    char reason[256];          /* for the log line and the error body */
} tlogwitness_decision;

/* Applies the add-checkpoint rules of c2sp.org/tlog-witness to a request
 * body, in the spec's order: parse (400), origin known (404), the log's
 * signature (403; unknown keys ignored, a line naming a trusted key that
 * fails also 403), old size <= size (400), old size == size last cosigned
 * (409 with that size), a size-0 checkpoint has the empty root (422), a
 * proof only when old size > 0 and it verifies from the cosigned root (422),
 * equal sizes need equal roots (422). 200 means: cosign d->text, and record
 * d->cp as the latest cosigned checkpoint, atomically with this decision.
 * Returns 0 when a decision was made (d->status says which), or the lookup's
 * failure code (d->status 500). Pure: no I/O, no clock. */
int tlogwitness_decide(const char *body, size_t len, tlogwitness_lookup_fn lookup, void *ctx,
                       tlogwitness_decision *d);

#ifdef __cplusplus
}
#endif

#endif
