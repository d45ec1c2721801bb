/* witness_client.h — the log's side of c2sp.org/tlog-witness over HTTP(S),
 * with libcurl: send a signed checkpoint and a consistency proof to one
 * witness, classify its answer, and keep only a cosignature that verifies
 * with the witness's configured key. Shared by `tallinn-audit witness
 * cosign` and the server. Design: docs/audit.md ("Witnesses").
 *
 * One client is one witness and one connection (kept alive between
 * requests); use it from one thread at a time. Functions return 0 or a
 * negative errno value (-EINVAL bad argument or URL, -ENOMEM). A witness that
 * refuses or does not answer is NOT an error of the call: the result says
 * what happened. */
#ifndef TALLINN_WITNESS_CLIENT_H
#define TALLINN_WITNESS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/cosig.h"
#include "tallinn/merkle.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct witness_client witness_client;

typedef struct witness_client_options {
    /* The witness's submission prefix: "https://host[:port][/path]", or
     * "http://" with a loopback host only (127.0.0.0/8, [::1], localhost).
     * "/add-checkpoint" is appended. */
    const char *url;
    cosig_verifier key; /* the witness's cosignature key */
    long timeout_ms;    /* whole request, connection included; 0 = 10 s */
    const char *ca_file; /* PEM roots for HTTPS; NULL = the system's */
    /* Asked while a request runs: non-zero abandons it (the outcome is then
     * WITNESS_UNAVAILABLE), so that a server can stop without waiting out
     * the timeout. NULL: never. */
    int (*cancelled)(void *ctx);
    void *cancel_ctx;
} witness_client_options;

int witness_client_create(const witness_client_options *o, witness_client **out, char *err,
                          size_t err_size);
void witness_client_destroy(witness_client *c);
/* The add-checkpoint URL; borrowed. */
const char *witness_client_url(const witness_client *c);
const cosig_verifier *witness_client_key(const witness_client *c);

typedef enum witness_outcome {
    WITNESS_COSIGNED,     /* 200 with a valid cosignature from the configured key */
    WITNESS_STALE,        /* 409 text/x.tlog.size: it last cosigned witness_size */
    WITNESS_INCONSISTENT, /* 422 (or a 409 without a size): the checkpoint conflicts
                             with what it cosigned, or the proof failed */
    WITNESS_REFUSED,      /* 400, 403, 404 or another 4xx: see message */
    WITNESS_BAD_RESPONSE, /* 200 without a valid cosignature by its key, or a
                             malformed 409 */
    WITNESS_UNAVAILABLE,  /* no answer (down, timeout, TLS), 5xx, 429 */
} witness_outcome;

/* "cosigned", "stale", ...: for log lines and counters. */
const char *witness_outcome_name(witness_outcome o);

typedef struct witness_result {
    witness_outcome outcome;
    long http_status;      /* 0 when there was no HTTP answer */
    uint64_t witness_size; /* STALE: the size it last cosigned */
    uint64_t timestamp;    /* COSIGNED: the cosignature's time */
    char line[COSIG_LINE_MAX + 1]; /* COSIGNED: the cosignature line, '\n' included */
    size_t line_len;
    char message[1024]; /* what happened, naming the witness */
} witness_result;

/* One add-checkpoint request: old size, proof (proof_count hashes of 32
 * bytes, at most 63) and the signed checkpoint note. Returns 0 with *r
 * filled whatever the witness said; -EINVAL for bad arguments. */
int witness_client_add_checkpoint(witness_client *c, uint64_t old_size, const uint8_t *proof,
                                  size_t proof_count, const char *note, size_t note_len,
                                  witness_result *r);

/* Writes the consistency proof from old_size to new_size (0 < old_size <=
 * new_size) into proof (room for MERKLE_MAX_PROOF hashes), *count hashes.
 * 0, or a negative code that aborts the exchange. */
typedef int (*witness_prove_fn)(void *ctx, uint64_t old_size, uint64_t new_size,
                                uint8_t *proof, size_t *count);

/* The whole exchange for one witness: sends from *known_size (what the
 * witness last cosigned, as far as the caller knows; 0 if unknown) with a
 * proof from `prove`, and after a 409 once more from the size the witness
 * reports, when that size is not above the checkpoint's. *known_size is
 * updated whenever the witness tells its size (a 409, or a cosignature: the
 * checkpoint's size). Returns 0 with *r the last answer; a negative code
 * from bad arguments or from `prove`. */
int witness_client_cosign(witness_client *c, const char *note, size_t note_len,
                          uint64_t *known_size, witness_prove_fn prove, void *ctx,
                          witness_result *r);

#ifdef __cplusplus
}
#endif

#endif
