/* audit_server.c — the --server modes of tallinn-audit: `verify --server`
 * (every record re-hashed against the signed checkpoint, and consistency with
 * the checkpoint verified last time), `prove INDEX` (a tlog-proof file for
 * one record) and `show --server`. Trusts nothing the server says that the
 * verifier key and the records themselves cannot prove. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit_cmds.h"
#include "tallinn/checkpoint.h"
#include "tallinn/cosig.h"
#include "tallinn/merkle.h"
#include "tallinn/tiles.h"
#include "tallinn/tlogproof.h"

#define H MERKLE_HASH_SIZE
#define B64_HASH sodium_base64_ENCODED_LEN(H, sodium_base64_VARIANT_ORIGINAL)

static void b64(const uint8_t hash[H], char out[B64_HASH])
{
    sodium_bin2base64(out, B64_HASH, hash, H, sodium_base64_VARIANT_ORIGINAL);
}

/* A signed note, indented, for the SECURITY ERROR report. */
static void print_note(FILE *out, const char *title, const char *note, size_t len)
{
    fprintf(out, "%s:\n    ", title);
    for (size_t i = 0; i < len; i++) {
        fputc(note[i], out);
        if (note[i] == '\n' && i + 1 < len)
            fputs("    ", out);
    }
    if (len == 0 || note[len - 1] != '\n')
        fputc('\n', out);
}

/* ---- verify --server ------------------------------------------------------ */

typedef struct server_verify {
    merkle_frontier *f;
    audit_stats stats;
    uint64_t saved_size; /* 0 when nothing was saved */
    int have_saved_root;
    uint8_t saved_at[H]; /* our root at saved_size, from the records */
    audit_progress progress;
} server_verify;

static int on_leaf(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                   const Tallinn__V1__AuditRecord *copy, char *err, size_t err_size)
{
    server_verify *sv = ctx;
    uint8_t hash[H];
    int rc;
    if (len > TILES_ENTRY_MAX) {
        snprintf(err, err_size,
                 "record %" PRIu64 " is %zu bytes: more than a tlog-tiles entry can hold", index,
                 len);
        return -1;
    }
    rc = audit_stats_add(&sv->stats, index, leaf, len, NULL, err, err_size);
    if (rc != 0)
        return -1;
    /* The server's decoded copy is a convenience; it must still agree. */
    if (copy && (copy->index < 0 || (uint64_t)copy->index != index)) {
        snprintf(err, err_size,
                 "record %" PRIu64 ": the server's decoded copy says index %" PRId64, index,
                 copy->index);
        return -1;
    }
    merkle_hash_leaf(leaf, len, hash);
    if (merkle_frontier_append(sv->f, hash, NULL, NULL) != 0) {
        snprintf(err, err_size, "record %" PRIu64 ": the tree is full", index);
        return -1;
    }
    if (merkle_frontier_size(sv->f) == sv->saved_size) {
        merkle_frontier_root(sv->f, sv->saved_at);
        sv->have_saved_root = 1;
    }
    audit_progress_update(&sv->progress, index + 1);
    return 0;
}

static int security_error(const char *why, const char *state_path, const char *saved,
                          size_t saved_len, const char *target, const char *note,
                          size_t note_len)
{
    fprintf(stderr, AUDIT_PROG ": verify: SECURITY ERROR: %s\n", why);
    print_note(stderr, "checkpoint verified before, from the state file", saved, saved_len);
    fprintf(stderr, "    (state file %s)\n", state_path);
    print_note(stderr, "checkpoint the server signs now", note, note_len);
    fprintf(stderr, "    (server %s)\n", target);
    fprintf(stderr,
            "Both notes are signed by the log's key: keep them, together they prove the\n"
            "log was rolled back or rewritten. The state file is left as it was.\n");
    return AUDIT_EXIT_SECURITY;
}

int audit_verify_server(const audit_conn_opts *o, const note_verifier *key, const char *state,
                        const audit_witnesses *w, int quiet)
{
    audit_conn *c = NULL;
    server_verify sv;
    char err[1024], why[1024], path[4096], cosigned[1024] = "";
    char *note = NULL, *saved = NULL, *qnote = NULL;
    size_t note_len = 0, saved_len = 0, qnote_len = 0;
    checkpoint cp, old;
    int status = AUDIT_EXIT_FAILED, have_saved = 0, quorum_older = 0;
    uint64_t latest_size = 0; /* > 0: the quorum checkpoint was verified instead */

    memset(&sv, 0, sizeof sv);
    memset(&old, 0, sizeof old);
    audit_stats_init(&sv.stats, AUDIT_STATS_RECORDS);
    if (merkle_frontier_create(&sv.f) != 0) {
        audit_report_failure("verify", "out of memory");
        goto done;
    }
    if (audit_conn_open(o, &c, err, sizeof err) != 0) {
        status = audit_conn_report(NULL, "verify", err);
        goto done;
    }
    if (audit_conn_checkpoints(c, 0, &note, &note_len, w->count > 0 ? &qnote : NULL, &qnote_len,
                               err, sizeof err) != 0) {
        status = audit_conn_report(c, "verify", err);
        goto done;
    }
    if (checkpoint_open(note, note_len, key, 1, &cp, err, sizeof err) != 0) {
        audit_report_failure("verify", "%s: the latest checkpoint: %s", o->server, err);
        goto done;
    }

    /* The checkpoint verified last time, if any. */
    if (state) {
        snprintf(path, sizeof path, "%s", state);
    } else if (audit_state_default_path(cp.origin, path, sizeof path, err, sizeof err) != 0) {
        audit_report_failure("verify", "%s", err);
        goto done;
    }
    int lrc = audit_state_load(path, &saved, &saved_len, err, sizeof err);
    if (lrc != 0 && lrc != -ENOENT) {
        audit_report_failure("verify", "state file %s", err);
        goto done;
    }
    if (lrc == 0) {
        if (checkpoint_open(saved, saved_len, key, 1, &old, err, sizeof err) != 0) {
            audit_report_failure("verify",
                                 "state file %s: the saved checkpoint does not verify with this "
                                 "key: %s (a state file of another log? give --state)",
                                 path, err);
            goto done;
        }
        if (strcmp(old.origin, cp.origin) != 0) {
            audit_report_failure("verify",
                                 "state file %s holds a checkpoint of \"%s\", but the server's "
                                 "log is \"%s\" (give --state)",
                                 path, old.origin, cp.origin);
            goto done;
        }
        have_saved = 1;
        sv.saved_size = old.size;
        if (old.size > cp.size) {
            snprintf(why, sizeof why,
                     "the log at %s shrank: the server signs a checkpoint of %" PRIu64
                     " records, but a checkpoint of %" PRIu64
                     " records was verified before. A log never shrinks: records were "
                     "deleted, or the server was rolled back.",
                     o->server, cp.size, old.size);
            status = security_error(why, path, saved, saved_len, o->server, note, note_len);
            goto done;
        }
        if (old.size == cp.size && sodium_memcmp(old.root, cp.root, H) != 0) {
            snprintf(why, sizeof why,
                     "the log at %s forked: two different signed roots for the same %" PRIu64
                     " records.",
                     o->server, cp.size);
            status = security_error(why, path, saved, saved_len, o->server, note, note_len);
            goto done;
        }
    }

    /* The witnesses' cosignatures travel on the signed checkpoint (the
     * server adds the ones it collected); they cosign this very note, whose
     * tree is re-hashed below. Witnesses cosign after the log signs, so the
     * newest checkpoint may lack the quorum that an older one has: the
     * server also names the newest one its quorum reached, and that one is
     * verified instead when it carries our quorum (the newest one's
     * signature and growth were checked above; an invalid cosignature on it
     * stays a SECURITY ERROR). */
    if (w->count > 0 && qnote != NULL &&
        cosig_check_quorum(note, note_len, w->keys, w->count, w->quorum, NULL, NULL, 0) ==
            -ENOKEY) {
        checkpoint qcp;
        err[0] = '\0';
        if (checkpoint_open(qnote, qnote_len, key, 1, &qcp, err, sizeof err) != 0 ||
            strcmp(qcp.origin, cp.origin) != 0 || qcp.size > cp.size) {
            audit_report_failure("verify", "%s: the checkpoint its witnesses' quorum cosigned: "
                                 "%s", o->server, err[0] ? err : "not of this log");
            goto done;
        }
        if (cosig_check_quorum(qnote, qnote_len, w->keys, w->count, w->quorum, NULL, NULL, 0) ==
            0) {
            latest_size = cp.size;
            free(note);
            note = qnote;
            note_len = qnote_len;
            qnote = NULL;
            cp = qcp;
            if (have_saved && old.size > cp.size)
                quorum_older = 1;
        }
    }
    if (quorum_older) {
        audit_report_failure("verify",
                             "%s: the newest checkpoint your witnesses cosigned (size %" PRIu64
                             ") is older than the one verified before (size %" PRIu64
                             "): run again once they cosigned a newer one",
                             o->server, cp.size, old.size);
        goto done;
    }
    int wst = audit_witness_check(w, "verify", o->server, note, note_len, cosigned,
                                  sizeof cosigned);
    if (wst != AUDIT_EXIT_OK) {
        status = wst;
        goto done;
    }

    /* Every record, re-hashed: the tree, and so every tile, from the leaves. */
    audit_progress_start(&sv.progress, "verifying records", cp.size);
    int src = audit_conn_scan(c, 0, cp.size, on_leaf, &sv, err, sizeof err);
    audit_progress_end(&sv.progress);
    if (src != 0) {
        char where[1200];
        snprintf(where, sizeof where, "%s: %s", o->server, err);
        status = audit_conn_report(c, "verify", where);
        goto done;
    }
    uint8_t root[H];
    merkle_frontier_root(sv.f, root);
    if (sodium_memcmp(root, cp.root, H) != 0) {
        char want[B64_HASH], got[B64_HASH];
        b64(cp.root, want);
        b64(root, got);
        audit_report_failure("verify",
                             "%s: the %" PRIu64 " records hash to the root %s, but the signed "
                             "checkpoint says %s: the records were changed",
                             o->server, cp.size, got, want);
        goto done;
    }

    /* Only grown: the new tree starts with the old one. */
    if (have_saved && old.size > 0 && old.size < cp.size) {
        uint8_t proof[MERKLE_MAX_PROOF * H];
        size_t n = 0;
        if (!sv.have_saved_root || sodium_memcmp(sv.saved_at, old.root, H) != 0) {
            snprintf(why, sizeof why,
                     "the log at %s forked: its first %" PRIu64
                     " records are not the ones of the checkpoint verified before (the "
                     "records were changed, or deleted and written anew).",
                     o->server, old.size);
            status = security_error(why, path, saved, saved_len, o->server, note, note_len);
            goto done;
        }
        if (audit_conn_consistency(c, old.size, cp.size, proof, &n, err, sizeof err) != 0) {
            status = audit_conn_report(c, "verify", err);
            goto done;
        }
        if (merkle_verify_consistency(old.size, cp.size, old.root, cp.root, proof, n, err,
                                      sizeof err) != 0) {
            /* The records prove the two trees consistent; the proof is wrong. */
            audit_report_failure("verify",
                                 "%s: the consistency proof %" PRIu64 " -> %" PRIu64
                                 " does not verify (%s), although the records show the two "
                                 "checkpoints consistent: a server bug",
                                 o->server, old.size, cp.size, err);
            goto done;
        }
    }

    if (audit_state_save(path, note, note_len, err, sizeof err) != 0) {
        fprintf(stderr, AUDIT_PROG ": verify: verified, but the state file was not saved, so "
                "the next run could not tell a rollback: %s\n", err);
        status = AUDIT_EXIT_UNCHECKED;
        goto done;
    }
    status = AUDIT_EXIT_OK;
    if (quiet)
        goto done;
    char r64[B64_HASH];
    b64(cp.root, r64);
    printf("%s: verified\n", o->server);
    printf("origin:           %s\n", cp.origin);
    printf("size:             %" PRIu64 "\n", cp.size);
    printf("root:             %s\n", r64);
    if (!have_saved)
        printf("consistency:      first check: no checkpoint was saved before\n");
    else if (old.size == cp.size)
        printf("consistency:      same checkpoint as verified before (size %" PRIu64 ")\n",
               old.size);
    else
        printf("consistency:      extends the checkpoint verified before (size %" PRIu64
               " -> %" PRIu64 ", proof verified)\n",
               old.size, cp.size);
    printf("state file:       %s\n", path);
    if (w->count > 0)
        printf("witnesses:        %s\n", cosigned);
    if (latest_size > 0)
        printf("note:             the newest checkpoint your witnesses' quorum cosigned; the "
               "latest (size %" PRIu64 ") awaits their cosignatures\n",
               latest_size);
    audit_stats_print(&sv.stats, stdout);
done:
    audit_conn_close(c);
    merkle_frontier_destroy(sv.f);
    audit_stats_free(&sv.stats);
    free(note);
    free(qnote);
    free(saved);
    return status;
}

/* ---- prove INDEX ------------------------------------------------------------ */

typedef struct one_leaf {
    uint8_t *data;
    size_t len;
} one_leaf;

static int keep_leaf(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                     const Tallinn__V1__AuditRecord *copy, char *err, size_t err_size)
{
    one_leaf *l = ctx;
    (void)index;
    (void)copy;
    if (!(l->data = malloc(len ? len : 1))) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(l->data, leaf, len);
    l->len = len;
    return 0;
}

int audit_prove_server(const audit_conn_opts *co, uint64_t index, const note_verifier *v,
                       const audit_prove_req *rq)
{
    audit_conn *conn = NULL;
    char err[1024], *note = NULL;
    size_t note_len = 0, n = 0;
    one_leaf leaf = {0};
    checkpoint cp;
    uint8_t *hashes = malloc(MERKLE_MAX_PROOF * H);
    uint8_t lh[H];
    int status = AUDIT_EXIT_FAILED;
    if (!hashes) {
        audit_report_failure("prove", "out of memory");
        goto done;
    }
    if (audit_conn_open(co, &conn, err, sizeof err) != 0 ||
        audit_conn_checkpoint(conn, 0, &note, &note_len, err, sizeof err) != 0) {
        status = audit_conn_report(conn, "prove", err);
        goto done;
    }
    if (checkpoint_open(note, note_len, v, 1, &cp, err, sizeof err) != 0) {
        audit_report_failure("prove", "%s: the latest checkpoint: %s", co->server, err);
        goto done;
    }
    if (index >= cp.size) {
        audit_report_failure("prove",
                             "%s: record %" PRIu64 " is not in the log: the latest checkpoint has %" PRIu64
                             " records",
                             co->server, index, cp.size);
        goto done;
    }
    if (audit_conn_inclusion(conn, index, cp.size, hashes, &n, err, sizeof err) != 0 ||
        audit_conn_scan(conn, index, index + 1, keep_leaf, &leaf, err, sizeof err) != 0) {
        status = audit_conn_report(conn, "prove", err);
        goto done;
    }
    /* Never hand out a proof that does not verify. */
    merkle_hash_leaf(leaf.data, leaf.len, lh);
    if (merkle_verify_inclusion(index, cp.size, lh, hashes, n, cp.root, err, sizeof err) != 0) {
        audit_report_failure("prove",
                             "%s: the inclusion proof of record %" PRIu64 " in the checkpoint of "
                             "size %" PRIu64 " does not verify: %s",
                             co->server, index, cp.size, err);
        goto done;
    }
    status = audit_proof_emit(rq, co->server, index, hashes, n, note, note_len, &cp, leaf.data,
                              leaf.len);
done:
    audit_conn_close(conn);
    free(hashes);
    free(note);
    free(leaf.data);
    return status;
}

/* ---- show --server ------------------------------------------------------------ */

typedef struct show_ctx {
    audit_printer pr;
    audit_stats st;
} show_ctx;

static int show_leaf(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                     const Tallinn__V1__AuditRecord *copy, char *err, size_t err_size)
{
    show_ctx *s = ctx;
    Tallinn__V1__AuditRecord *r = NULL;
    (void)copy; /* decode the bytes ourselves */
    if (audit_stats_add(&s->st, index, leaf, len, &r, err, err_size) != 0)
        return -1;
    int rc = audit_printer_record(&s->pr, r);
    tallinn__v1__audit_record__free_unpacked(r, NULL);
    if (rc != 0) {
        snprintf(err, err_size, "record %" PRIu64 " cannot be printed: out of memory", index);
        return -1;
    }
    return 0;
}

int audit_show_server(const audit_conn_opts *o, uint64_t from, uint64_t to, int json)
{
    audit_conn *c = NULL;
    char err[1024], *note = NULL;
    size_t len = 0;
    note_parsed *np = malloc(sizeof *np);
    checkpoint cp;
    show_ctx s;
    int status = AUDIT_EXIT_FAILED;
    audit_stats_init(&s.st, AUDIT_STATS_RECORDS);
    if (!np) {
        audit_report_failure("show", "out of memory");
        goto done;
    }
    if (audit_conn_open(o, &c, err, sizeof err) != 0 ||
        audit_conn_checkpoint(c, 0, &note, &len, err, sizeof err) != 0) {
        status = audit_conn_report(c, "show", err);
        goto done;
    }
    /* show decodes for people; verify proves. The size only bounds the range. */
    if (note_parse(note, len, np, err, sizeof err) != 0 ||
        checkpoint_parse(note, np->text_len, &cp, err, sizeof err) != 0) {
        audit_report_failure("show", "%s: the latest checkpoint: %s", o->server, err);
        goto done;
    }
    if (to >= cp.size)
        to = cp.size ? cp.size - 1 : 0;
    audit_printer_begin(&s.pr, stdout, json);
    if (cp.size > 0 && from <= to &&
        audit_conn_scan(c, from, to + 1, show_leaf, &s, err, sizeof err) != 0) {
        char where[1200];
        audit_printer_end(&s.pr);
        snprintf(where, sizeof where, "%s: %s", o->server, err);
        status = audit_conn_report(c, "show", where);
        goto done;
    }
    audit_printer_end(&s.pr);
    status = AUDIT_EXIT_OK;
done:
    audit_conn_close(c);
    audit_stats_free(&s.st);
    free(note);
    free(np);
    return status;
}
