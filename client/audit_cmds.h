/* audit_cmds.h — tallinn-audit's private interfaces: its commands and the
 * helpers they share (key loading, bounded file reads, failure reports, the
 * progress line, AuditRecord statistics and printing, the saved checkpoint,
 * and — for the --server modes only — the gRPC connection). */
#ifndef TALLINN_AUDIT_CMDS_H
#define TALLINN_AUDIT_CMDS_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#include "cli.h"
#include "tallinn/checkpoint.h"
#include "tallinn/cosig.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"
#include "tallinn/v1/audit.pb-c.h"

#define AUDIT_PROG "tallinn-audit"

/* Exit statuses, the scheme tallinnctl shares (cli.h), listed in --help.
 * A server's refusal exits as tallinnctl does for its status: 4 NOT_FOUND,
 * 5 PERMISSION_DENIED or UNAUTHENTICATED, 6 INVALID_ARGUMENT and the like. */
enum {
    AUDIT_EXIT_OK = CLI_EXIT_OK,
    AUDIT_EXIT_FAILED = CLI_EXIT_FAILURE,          /* did not verify ("FAILED"): the message
                                                      says what and where */
    AUDIT_EXIT_USAGE = CLI_EXIT_USAGE,             /* bad command line, unreadable key */
    AUDIT_EXIT_UNREACHABLE = CLI_EXIT_UNREACHABLE, /* could not reach the server or witnesses:
                                                      nothing was verified */
    AUDIT_EXIT_SECURITY = CLI_EXIT_SECURITY,       /* the log forked or shrank: SECURITY ERROR,
                                                      both checkpoints shown */
    AUDIT_EXIT_UNCHECKED = CLI_EXIT_UNCHECKED,     /* another error stopped the check before it
                                                      could conclude */
};

#define AUDIT_EXIT_HELP                                                                    \
    "Exit status (as tallinnctl's where they overlap): 0 verified; 1 FAILED: did not\n"    \
    "verify (the message says what and where); 2 usage error; 3 could not reach the\n"    \
    "server (or enough witnesses): nothing was verified; 4, 5, 6 the server refused\n"    \
    "(NOT_FOUND; PERMISSION_DENIED or UNAUTHENTICATED; INVALID_ARGUMENT); 8 SECURITY\n"  \
    "ERROR (the log forked or shrank, or fewer than --quorum witnesses validly\n"        \
    "cosigned the checkpoint); 9 could not check (the server failed the call, the\n"     \
    "state file could not be written).\n"

/* Commands: argv[0] is the command name; they return an exit status. */
int audit_cmd_verify(int argc, char **argv);
int audit_cmd_check_proof(int argc, char **argv);
int audit_cmd_prove(int argc, char **argv);
int audit_cmd_show(int argc, char **argv);
int audit_cmd_witness(int argc, char **argv); /* witness_main.c */

/* Parses --key's value: a verifier key string, or a file holding one.
 * Prints the reason and returns -1 if it is neither. */
int audit_load_key(const char *arg, note_verifier *out);
/* The same for another option's value (named in messages). */
int audit_load_key_as(const char *opt, const char *arg, note_verifier *out);
/* --witness's value: a witness's cosignature vkey (type 0x04), or a file
 * holding one. Prints the reason and returns -1 if it is neither. */
int audit_load_witness(const char *arg, cosig_verifier *out);

/* Reads a whole file of at most max bytes into a malloc'd buffer (with a NUL
 * after the data; the caller frees). 0, or a negative errno value with a
 * message naming the file in err. */
int audit_read_file(const char *path, size_t max, char **buf, size_t *len, char *err,
                    size_t err_size);

/* Whether the input a command was given on its command line exists and is
 * a directory (want_dir) or a regular file: 0, or after printing
 * "tallinn-audit CMD: cannot read PATH: why; nothing was verified"
 * AUDIT_EXIT_USAGE, as tallinnctl exits for a file it cannot read. A path
 * that is wrong is a usage error, never a log that FAILED to verify. */
int audit_input_ok(const char *cmd, const char *what, const char *path, int want_dir);

/* Prints "tallinn-audit: CMD: FAILED: <message>" to stderr. */
void audit_report_failure(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A progress line on stderr, drawn only when stderr is a terminal and at
 * most a few times a second. */
typedef struct audit_progress {
    int enabled;
    uint64_t total;
    double last; /* seconds, monotonic */
    const char *what;
} audit_progress;

void audit_progress_start(audit_progress *p, const char *what, uint64_t total);
void audit_progress_update(audit_progress *p, uint64_t done);
void audit_progress_end(audit_progress *p);

/* ---- Witness cosignatures demanded by a verifier (audit_witness.c) ------ */

#define AUDIT_MAX_WITNESSES 64

typedef struct audit_witnesses {
    cosig_verifier keys[AUDIT_MAX_WITNESSES];
    size_t count;
    size_t quorum; /* 0 until audit_witness_finish: then count when not given */
} audit_witnesses;

/* getopt codes 320, 321; and their help text. */
#define AUDIT_WITNESS_LONGOPTS                                                \
    {"witness", required_argument, NULL, 320}, {"quorum", required_argument, NULL, 321}
#define AUDIT_WITNESS_HELP                                                                   \
    "  -W, --witness VKEY    a witness whose cosignature counts (its C2SP vkey, type\n"     \
    "                        0x04, or a file holding it); repeat for each witness\n"        \
    "      --quorum K        valid cosignatures required (default: every --witness);\n"    \
    "                        fewer is a SECURITY ERROR (exit 8)\n"

/* Takes a getopt code of AUDIT_WITNESS_LONGOPTS (or 'W'): 1 if it was one,
 * 0 if not, -1 after printing why a value is bad. */
int audit_witness_option(audit_witnesses *w, int c, const char *arg);
/* After option parsing: --quorum needs --witness and at most as many; the
 * default quorum is every witness. -1 after printing why (usage error). */
int audit_witness_finish(audit_witnesses *w, const char *cmd);
/* Demands the quorum on a signed checkpoint note (whose log signature the
 * caller verified): AUDIT_EXIT_OK, or AUDIT_EXIT_SECURITY after printing
 * "SECURITY ERROR" with the checkpoint (`where` names its source). With no
 * witnesses configured, AUDIT_EXIT_OK. *summary (may be NULL; size bytes)
 * gets a line for the success report ("2 of 3 (quorum 2): ..."). */
int audit_witness_check(const audit_witnesses *w, const char *cmd, const char *where,
                        const char *note, size_t len, char *summary, size_t size);

/* ---- AuditRecords (audit_records.c; no network) ------------------------- */

/* gRPC status code name ("OK", "PERMISSION_DENIED"), or "CODE_<n>". */
const char *audit_status_name(int code, char *buf, size_t size);
/* Role name without its "ROLE_" prefix ("AUDITOR"), or "ROLE_<n>". */
const char *audit_role_name(int role, char *buf, size_t size);

/* Counts over the records of a log: time range, by method, by status. */
typedef enum audit_stats_mode {
    AUDIT_STATS_DETECT,  /* entry 0 decides: a Tallinn AuditRecord, or opaque entries */
    AUDIT_STATS_RECORDS, /* every entry must be an AuditRecord carrying its own index */
    AUDIT_STATS_OPAQUE,  /* not Tallinn records: only counted */
} audit_stats_mode;

typedef struct audit_method_count {
    char *method;
    uint64_t count;
} audit_method_count;

typedef struct audit_stats {
    audit_stats_mode mode;
    uint64_t entries;
    int have_time;
    int64_t first_s, last_s; /* earliest and latest record time, UTC */
    int32_t first_ns, last_ns;
    uint64_t by_status[17];
    uint64_t status_other;
    audit_method_count *methods;
    size_t n_methods, cap_methods, last_hit;
} audit_stats;

void audit_stats_init(audit_stats *st, audit_stats_mode mode);
void audit_stats_free(audit_stats *st);
/* Adds the entry at `position` (its leaf bytes). In RECORDS mode (or DETECT
 * once entry 0 was a record) an entry that does not decode as an AuditRecord,
 * or whose index is not its position, fails: -EBADMSG with err saying which.
 * rec (may be NULL) gets the decoded record when there is one (caller frees
 * with tallinn__v1__audit_record__free_unpacked). */
int audit_stats_add(audit_stats *st, uint64_t position, const uint8_t *leaf, size_t len,
                    Tallinn__V1__AuditRecord **rec, char *err, size_t err_size);
/* "records:", "time range:", "by method:", "by status:" lines. */
void audit_stats_print(const audit_stats *st, FILE *out);

/* Prints records for people (a table, local time) or as a JSON array of
 * proto3-JSON AuditRecord objects, one record at a time. */
typedef struct audit_printer {
    FILE *out;
    int json;
    uint64_t printed;
} audit_printer;

void audit_printer_begin(audit_printer *p, FILE *out, int json);
int audit_printer_record(audit_printer *p, const Tallinn__V1__AuditRecord *r);
void audit_printer_end(audit_printer *p);

/* ---- The last verified checkpoint (audit_state.c; no network) ----------- */

/* $XDG_STATE_HOME/tallinn-audit/<origin with every byte outside
 * [A-Za-z0-9._-] as '_'>.checkpoint ($HOME/.local/state when unset). */
int audit_state_default_path(const char *origin, char *buf, size_t size, char *err,
                             size_t err_size);
/* The saved signed checkpoint, malloc'd (caller frees); -ENOENT if none. */
int audit_state_load(const char *path, char **note, size_t *len, char *err, size_t err_size);
/* Replaces the saved checkpoint atomically: parent directories (0700), a
 * temporary file in the same directory, fsync, rename, fsync of the
 * directory. */
int audit_state_save(const char *path, const char *note, size_t len, char *err,
                     size_t err_size);

/* ---- --server modes (audit_net.c, audit_server.c) ----------------------- */

typedef struct audit_conn_opts {
    const char *server;      /* host:port, a list host1:port,host2:port, or
                                dns:///name:port (replicas, round-robin) */
    const char *context;     /* --context: the config file's context to use */
    const char *token_file;  /* bearer token; else $TALLINN_TOKEN_FILE, $TALLINN_TOKEN,
                                then the context's token and token-file */
    const char *cfg_token;   /* the context's token and token-file (audit_context.c) */
    const char *cfg_token_file;
    const char *ca_file;     /* TLS roots (PEM) */
    const char *cert_file;   /* mTLS client certificate */
    const char *cert_key;    /* mTLS client key */
    const char *server_name; /* TLS name to check instead of the host */
    int insecure;            /* plaintext */
    long timeout_s;          /* per unary call; 0 = 30 s */
    int verbose;             /* one line on stderr per call attempt */
} audit_conn_opts;

/* Long options shared by the --server commands (getopt codes >= 256 except
 * 's'), and the help text that describes them. */
#define AUDIT_CONN_LONGOPTS                                          \
    {"server", required_argument, NULL, 's'},                        \
    {"addr", required_argument, NULL, 's'}, /* tallinnctl's name */  \
    {"token-file", required_argument, NULL, 256},                    \
    {"insecure", no_argument, NULL, 257},                            \
    {"ca", required_argument, NULL, 258},                            \
    {"cert", required_argument, NULL, 259},                          \
    {"cert-key", required_argument, NULL, 260},                      \
    {"server-name", required_argument, NULL, 261},                   \
    {"timeout", required_argument, NULL, 262},                       \
    {"verbose", no_argument, NULL, 263},                             \
    {"context", required_argument, NULL, 264}
#define AUDIT_CONN_HELP                                                                    \
    "  -s, --server ADDR     the live server, host:port (AUDITOR role needed; --addr,\n"  \
    "                        tallinnctl's name for it, is the same); replicas\n"       \
    "                        as host1:port,host2:port or dns:///name:port (round-robin,\n" \
    "                        reads retried on the next one when one is unavailable)\n"   \
    "      --context NAME    take what is not given here from this context of\n"         \
    "                        tallinnctl's config file ($TALLINN_CONFIG, else\n"          \
    "                        ~/.config/tallinn/config; default: $TALLINN_CONTEXT, else\n" \
    "                        the file's own); without a directory or --server, its\n"    \
    "                        address is the server\n"                                    \
    "      --token-file F    the bearer token (default $TALLINN_TOKEN_FILE, else\n"        \
    "                        $TALLINN_TOKEN)\n"                                            \
    "      --insecure        plaintext (loopback, tests); default TLS\n"                  \
    "      --ca F            TLS roots (PEM) to check the server with\n"                  \
    "      --cert F, --cert-key F  client certificate and key (mTLS)\n"                   \
    "      --server-name N   TLS name to check instead of ADDR's host (needed when a\n"   \
    "                        list names several hosts)\n"                               \
    "      --timeout S       seconds per request (default 30; the record stream has\n"     \
    "                        none)\n"                                                   \
    "      --verbose         one line on stderr per call: the replica, status, retries\n"

/* Takes a getopt code of AUDIT_CONN_LONGOPTS: 1 if it was one (0 when not
 * ours), -1 after printing why a value is bad. */
int audit_conn_option(audit_conn_opts *o, int c, const char *arg);

/* For a command that may run against a server (audit_context.c): fills
 * what the options leave unset from the environment (TALLINN_ADDR,
 * TALLINN_CA, TALLINN_CERT, TALLINN_KEY) and then from the config file's
 * context (--context, $TALLINN_CONTEXT, else the file's default), as
 * tallinnctl does. offline: the command was given a directory instead;
 * then only an explicit --server or --context is an error. Returns 1 when
 * o names a server, 0 when it does not (offline), or -1 after printing a
 * usage error. */
int audit_conn_settle(audit_conn_opts *o, const char *cmd, int offline);

/* The AuditService client (audit_net.c). Functions return 0, or -1 with a
 * message naming the server and the call in err. */
typedef struct audit_conn audit_conn;

/* A channel and the bearer token; connects on the first call. */
int audit_conn_open(const audit_conn_opts *o, audit_conn **out, char *err, size_t err_size);
/* Reports a failed audit_conn_* call (err: its message) as the kind of
 * failure it was and returns the exit status: "could not reach ADDR" (3)
 * for a connection, UNAVAILABLE or DEADLINE_EXCEEDED; "the server refused"
 * (4, 5, 6) for NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED,
 * INVALID_ARGUMENT; "could not check" (9) for another status; and FAILED
 * (1) when the call succeeded but what came back does not verify. c may be
 * NULL (audit_conn_open failed: 9). */
int audit_conn_report(const audit_conn *c, const char *cmd, const char *err);
void audit_conn_close(audit_conn *c);
const char *audit_conn_target(const audit_conn *c);

/* The signed checkpoint at size (0 = the latest), malloc'd and NUL-terminated
 * after *len bytes; the caller frees. */
int audit_conn_checkpoint(audit_conn *c, uint64_t size, char **note, size_t *len, char *err,
                          size_t err_size);
/* The same, and (size 0 only) the newest checkpoint a quorum of the
 * server's witnesses cosigned, NULL when the server has none: a claim to
 * check like any other (its signature, its cosignatures, its records). */
int audit_conn_checkpoints(audit_conn *c, uint64_t size, char **note, size_t *len,
                           char **quorum_note, size_t *quorum_len, char *err, size_t err_size);
/* Proofs, into proof (room for MERKLE_MAX_PROOF hashes); every hash is
 * checked to be 32 bytes. */
int audit_conn_inclusion(audit_conn *c, uint64_t index, uint64_t size, uint8_t *proof,
                         size_t *count, char *err, size_t err_size);
int audit_conn_consistency(audit_conn *c, uint64_t size1, uint64_t size2, uint8_t *proof,
                           size_t *count, char *err, size_t err_size);

/* Called for each streamed record in index order: the leaf bytes and the
 * server's decoded copy (borrowed, for this call only). Non-zero stops the
 * scan; fn then has filled err. */
typedef int (*audit_leaf_fn)(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                             const Tallinn__V1__AuditRecord *server_copy, char *err,
                             size_t err_size);

/* Streams records [start, end) and checks that exactly those arrive, each
 * once, in order. */
int audit_conn_scan(audit_conn *c, uint64_t start, uint64_t end, audit_leaf_fn fn, void *ctx,
                    char *err, size_t err_size);

/* verify --server (audit_server.c). state: the state file, or NULL for the
 * default path; w: the witnesses demanded (count 0: none). */
int audit_verify_server(const audit_conn_opts *o, const note_verifier *key, const char *state,
                        const audit_witnesses *w, int quiet);
/* prove: where the proof goes, and what it must carry. */
typedef struct audit_prove_req {
    const char *output;    /* NULL: standard output */
    const char *entry_out; /* NULL: not written */
    const audit_witnesses *w;
    int quiet;
} audit_prove_req;
/* prove INDEX --server (audit_server.c): fetches, checks, then emits. */
int audit_prove_server(const audit_conn_opts *co, uint64_t index, const note_verifier *v,
                       const audit_prove_req *rq);
/* The common end of prove (audit_proof.c): demands the witnesses' quorum on
 * the checkpoint note (`source` names it), then writes the tlog-proof file
 * and the entry. The proof has been verified. Exit status. */
int audit_proof_emit(const audit_prove_req *rq, const char *source, uint64_t index,
                     const uint8_t *hashes, size_t n, const char *note, size_t note_len,
                     const checkpoint *cp, const uint8_t *leaf, size_t leaf_len);

/* show --server: records [from, to] (to inclusive; UINT64_MAX = the end). */
int audit_show_server(const audit_conn_opts *o, uint64_t from, uint64_t to, int json);

#endif
