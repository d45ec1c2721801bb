/* witness.h — `tallinn-audit witness`: a C2SP tlog-witness (init, serve)
 * and the log-side client for a tlog-tiles directory (cosign). Private to
 * tallinn-audit. Design: docs/audit.md ("Witnesses"). */
#ifndef TALLINN_WITNESS_H
#define TALLINN_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/cosig.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"
#include "tallinn/tlogwitness.h"

/* Files in a witness directory. */
#define WITNESS_KEY_FILE "witness.key"   /* PRIVATE+KEY+... (0600) */
#define WITNESS_VKEY_FILE "witness.vkey" /* its vkey (0644) */
#define WITNESS_LOCK_FILE "witness.lock" /* flock: one serving process */
#define WITNESS_LOGS_DIR "logs"          /* <origin hash>.checkpoint */
#define WITNESS_EVIDENCE_DIR "evidence"  /* refused, validly signed requests */
#define WITNESS_STATE_MAX (64u * 1024)

/* Commands (argv[0] is the subcommand). */
int witness_cmd_init(int argc, char **argv);
int witness_cmd_serve(int argc, char **argv);
int witness_cmd_cosign(int argc, char **argv);

/* ---- the witness directory (witness_store.c) ---------------------------- */

/* One witnessed log: its origin, the keys trusted for it, and the latest
 * checkpoint cosigned (its note, as stored and served; size 0 and the empty
 * root when none). */
typedef struct witness_log {
    char origin[NOTE_NAME_MAX + 1];
    char origin_hash[TLOGWITNESS_ORIGIN_HASH_HEX + 1];
    note_verifier *keys;
    size_t key_count;
    uint64_t size;
    uint8_t root[MERKLE_HASH_SIZE];
    char *note; /* NULL when never cosigned */
    size_t note_len;
} witness_log;

typedef struct witness_store {
    char *dir;
    int lock_fd;
    cosig_signer *signer;
    cosig_verifier self;
    witness_log *logs;
    size_t log_count;
    unsigned evidence_written;
} witness_store;

/* Writes DIR/witness.key (0600; refuses to replace one) and
 * DIR/witness.vkey for a fresh key named `name`; vkey gets the vkey string.
 * Creates DIR (0700) if missing. 0, or -1 with err set. */
int witness_store_init(const char *dir, const char *name, char *vkey, size_t vkey_size,
                       char *err, size_t err_size);

/* Opens DIR for serving: takes its lock (another process serving it is an
 * error), loads the key, and for each log key (vkey strings; keys with the
 * same name are one log, whose origin is that name) loads its state, which
 * must carry this witness's valid cosignature. 0, or -1 with err set. */
int witness_store_open(const char *dir, const char *const *log_vkeys, size_t n, witness_store **out,
                       char *err, size_t err_size);
void witness_store_close(witness_store *s);

witness_log *witness_store_find(witness_store *s, const char *origin);
witness_log *witness_store_find_hash(witness_store *s, const char *origin_hash);

/* Durably replaces a log's state with `note` (the checkpoint with this
 * witness's cosignature): temporary file, fsync, rename, fsync of the
 * directory; then the copy in memory. On failure nothing changes. */
int witness_store_save(witness_store *s, witness_log *log, const char *note, size_t len,
                       uint64_t size, const uint8_t root[MERKLE_HASH_SIZE], char *err,
                       size_t err_size);

/* Keeps a refused request whose checkpoint the log validly signed (a proof
 * of misbehaviour) as DIR/evidence/<origin hash>.<time>.<n>.txt; best
 * effort, bounded in count. */
void witness_store_evidence(witness_store *s, const witness_log *log, const char *body,
                            size_t len, int status);

/* ---- the HTTP server (witness_http.c) ----------------------------------- */

typedef struct witness_server_opts {
    const char *listen;   /* host:port or [v6]:port; port 0 = any */
    const char *tls_cert; /* PEM; with tls_key, HTTPS */
    const char *tls_key;
    const char *prefix;   /* URL path prefix, "" or "/something" */
} witness_server_opts;

/* Serves add-checkpoint and the monitoring checkpoint endpoint until SIGINT
 * or SIGTERM; prints "listening on ADDR" to stderr once ready. Exit status. */
int witness_serve(witness_store *s, const witness_server_opts *o);

#endif
