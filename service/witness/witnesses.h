/* witnesses.h — the log's side of C2SP tlog-witness in tallinnd: the
 * configured witnesses, one sender thread per witness that brings it each
 * new checkpoint with a consistency proof (never on the write path), and the
 * checkpoints with their cosignatures as GetCheckpoint and exports serve
 * them. What a witness last cosigned and the cosignatures themselves live in
 * the database (store.h), so every replica of one log sends from what any of
 * them learnt. Design: docs/audit.md ("The log's side"). Private to
 * service/. */
#ifndef TALLINN_WITNESSES_H
#define TALLINN_WITNESSES_H

#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "tallinn/cosig.h"
#include "tallinn/store.h"

#define WITNESSES_MAX 32           /* configured witnesses at most */
#define WITNESS_URL_MAX 1024
#define WITNESSES_TIMEOUT_MS 5000  /* per add-checkpoint request, by default */

/* One configured witness: its cosignature key and submission prefix. */
typedef struct witness_config {
    cosig_verifier key;
    char vkey[COSIG_VERIFIER_KEY_MAX]; /* the key's string: how the database names it */
    char url[WITNESS_URL_MAX];
} witness_config;

/* Parses tallinnd's --witness value, "VKEY URL" (one space): a witness's
 * cosignature vkey (type 0x04) and its prefix (https://…, or http:// to a
 * loopback host; no credentials, no query). 0, or -1 with err set. */
int witness_config_parse(const char *arg, witness_config *out, char *err, size_t errlen);
/* Reads a witnesses file (INI: an optional `quorum = K` first, then one
 * section per witness with `key = VKEY` and `url = URL`) and appends its
 * witnesses to list[*count..max). *quorum is set only if the file has one.
 * 0, or -1 with err set (naming the file and line). */
int witness_config_file(const char *path, witness_config *list, size_t max, size_t *count,
                        long *quorum, char *err, size_t errlen);

typedef struct witnesses_options {
    const witness_config *list;
    size_t count;        /* 1..WITNESSES_MAX */
    size_t quorum;       /* 1..count: the cosignatures GetCheckpoint's quorum checkpoint has */
    long timeout_ms;     /* per request; 0: WITNESSES_TIMEOUT_MS */
    const char *ca_file; /* PEM roots for https witnesses; NULL: the system's */
    /* Backoff after a failed request: first and largest wait (0: 500 ms
     * and 30 s); and how often an idle sender looks for checkpoints other
     * replicas signed (0: 1 s). */
    long backoff_ms, backoff_max_ms, poll_ms;
} witnesses_options;

typedef struct witnesses witnesses;

/* Checks the options (witnesses given twice, a quorum out of range, a bad
 * URL) and creates the clients; no thread runs yet. err: one line. */
int witnesses_create(witnesses **out, store *s, audit *log, const witnesses_options *o, char *err,
                     size_t errlen);
/* Starts one sender thread per witness and observes the store's commits
 * (a new checkpoint wakes the senders). 0 or -1. */
int witnesses_start(witnesses *w);
/* Stops and joins the senders (a request in flight is abandoned). Call
 * before store_close; the object stays valid for the store's observer
 * until witnesses_destroy, after store_close. NULL is fine. */
void witnesses_stop(witnesses *w);
void witnesses_destroy(witnesses *w);

size_t witnesses_count(const witnesses *w); /* 0 for NULL */
size_t witnesses_quorum(const witnesses *w); /* 0 for NULL */

/* The checkpoint of tree size `size` (< 0: the newest) as a signed note with
 * the cosignature lines of the configured witnesses appended (C2SP
 * tlog-cosignature); w may be NULL (then: the log's note alone). *note is
 * malloc'd and NUL-terminated; *cosigned (may be NULL) gets the number of
 * lines added. STORE_NOT_FOUND when there is no such checkpoint. In a read
 * transaction. */
int witnesses_checkpoint(const witnesses *w, store_tx *tx, int64_t size, char **note, size_t *len,
                         int64_t *size_out, size_t *cosigned);
/* The newest checkpoint that at least the quorum of configured witnesses
 * cosigned, with those cosignatures; STORE_NOT_FOUND when none did (or w is
 * NULL). */
int witnesses_quorum_checkpoint(const witnesses *w, store_tx *tx, char **note, size_t *len,
                                int64_t *size_out);

/* What one sender did since start, for logs and metrics: counts of
 * requests by outcome, plain copies of atomics (witnesses_stats). */
typedef struct witness_stats {
    const char *name; /* the witness's key name (borrowed from the object) */
    const char *url;  /* its add-checkpoint URL (borrowed) */
    uint64_t requests, cosigned, stale, inconsistent, refused, bad_response, unavailable;
    uint64_t store_failed; /* answers that could not be kept in the database */
    int64_t last_cosigned_size;  /* the last size it cosigned for this process; -1: none */
    int64_t last_cosigned_time;  /* unix seconds of that; 0: none */
} witness_stats;

/* Copies witness i's counters (0..count-1). 0, or -1 for a bad index. */
int witnesses_stats(const witnesses *w, size_t i, witness_stats *out);

#endif
