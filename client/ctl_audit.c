/* ctl_audit.c — tallinnctl's audit commands over tallinn.v1.AuditService:
 * the signed checkpoint, an inclusion proof as a c2sp.org/tlog-proof@v1
 * file, and a resumable export of the log as a C2SP tlog-tiles directory
 * (entry bundles from StreamAuditRecords; hash tiles recomputed from the
 * leaves with the shared Merkle code, never taken from the server). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl.h"
#include "tallinn/checkpoint.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"
#include "tallinn/tiles.h"
#include "tallinn/tlogproof.h"
#include "tallinn/v1/audit.pb-c.h"

#define CTL_AUDIT_SVC "/tallinn.v1.AuditService/"
#define CTL_AUDIT_CHUNK 16384 /* records per StreamAuditRecords call */
#define CTL_AUDIT_ERR 512
#define CTL_AUDIT_LEVELS (TILES_MAX_LEVEL / 8 + 2)

/* One line for an audit call that failed; UNIMPLEMENTED said plainly. */
static int ctl_audit_failed(const ctl_ctx *ctx, const char *what, const rpcc_result *r)
{
    if (r->code == GRPC_STATUS_UNIMPLEMENTED) {
        fprintf(stderr, CTL_PROG ": %s: the server at %s does not offer the audit log "
                "(tallinn.v1.AuditService is UNIMPLEMENTED there)\n", what, ctx->addr);
        return CTL_EXIT_FAILURE;
    }
    return ctl_call_failed(ctx, what, r);
}

static int ctl_parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno != 0 || *end != '\0' ? -1 : 0;
}

/* GetCheckpoint(size): the signed note (caller frees) and its parsed text.
 * With `cosigned`, the newest checkpoint the server's witness quorum
 * cosigned takes signed_note's place (an error when there is none). */
static int ctl_get_checkpoint(ctl_ctx *ctx, uint64_t size, const char *what, int cosigned,
                              Tallinn__V1__GetCheckpointResponse **out, checkpoint *cp)
{
    Tallinn__V1__GetCheckpointRequest req = TALLINN__V1__GET_CHECKPOINT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rpcc_result result = {0};
    note_parsed *np;
    char err[CTL_AUDIT_ERR];
    int rc = CTL_EXIT_OK;

    req.tree_size = (int64_t)size;
    if (ctl_unary(ctx, CTL_AUDIT_SVC "GetCheckpoint", &req.base,
                  &tallinn__v1__get_checkpoint_response__descriptor, &resp,
                  &result) != GRPC_STATUS_OK) {
        rc = ctl_audit_failed(ctx, what, &result);
        rpcc_result_free(&result);
        return rc;
    }
    rpcc_result_free(&result);
    *out = (Tallinn__V1__GetCheckpointResponse *)resp;
    if (cosigned) {
        ProtobufCBinaryData q = (*out)->quorum_signed_note;
        if (q.len == 0) {
            int none = (*out)->witnesses == 0;
            protobuf_c_message_free_unpacked(resp, NULL);
            *out = NULL;
            return ctl_fail("%s --cosigned: %s", what,
                            none ? "the server has no witnesses (tallinnd --witness)"
                                 : "no checkpoint has reached the server's witness quorum yet; "
                                   "try again shortly");
        }
        /* Swapped, not copied: the response still frees both. */
        (*out)->quorum_signed_note = (*out)->signed_note;
        (*out)->signed_note = q;
    }
    if (cp == NULL)
        return CTL_EXIT_OK;
    if ((np = malloc(sizeof *np)) == NULL)
        return ctl_fail("out of memory");
    if (note_parse((const char *)(*out)->signed_note.data, (*out)->signed_note.len, np, err,
                   sizeof err) != 0 ||
        checkpoint_parse((const char *)(*out)->signed_note.data, np->text_len, cp, err,
                         sizeof err) != 0)
        rc = ctl_fail("%s: the server's checkpoint is malformed: %s", what, err);
    free(np);
    return rc;
}

/* ---- audit key ---- */

int ctl_run_audit_key(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__GetVerifierKeyRequest req = TALLINN__V1__GET_VERIFIER_KEY_REQUEST__INIT;
    const Tallinn__V1__GetVerifierKeyResponse *key;
    ProtobufCMessage *resp = NULL;
    rpcc_result result = {0};
    int rc = CTL_EXIT_OK;

    (void)argc;
    (void)argv;
    if (ctl_unary(ctx, CTL_AUDIT_SVC "GetVerifierKey", &req.base,
                  &tallinn__v1__get_verifier_key_response__descriptor, &resp,
                  &result) != GRPC_STATUS_OK) {
        rc = ctl_audit_failed(ctx, "audit key", &result);
        goto done;
    }
    key = (const Tallinn__V1__GetVerifierKeyResponse *)resp;
    /* The key alone on stdout (for a file or a diff); the caution on stderr,
     * where a script does not take it for the key, but a person reads it. */
    if (ctx->format == CTL_FORMAT_JSON)
        rc = ctl_print_message(ctx, resp, 1);
    else
        printf("%s\n", key->verifier_key);
    {
        fprintf(stderr,
                CTL_PROG ": this is the key the server at %s states for its log %s. A key "
                "fetched from the server it is to check proves nothing: a server that forged "
                "its log would state the forger's key. Verify with the key 'tallinnd init' "
                "printed when the log was created, handed to auditors out of band, and compare "
                "the two (docs/audit.md).\n", ctx->addr, key->origin);
    }
done:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&result);
    return rc;
}

/* ---- audit checkpoint ---- */

int ctl_run_audit_checkpoint(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__GetCheckpointResponse *resp = NULL;
    uint64_t size = 0;
    int rc;

    if (argc > 0 && ctl_parse_u64(argv[0], &size) != 0)
        return ctl_usage_error(ctx->cmd, "SIZE wants a tree size, not \"%s\"", argv[0]);
    if ((rc = ctl_get_checkpoint(ctx, size, "audit checkpoint", 0, &resp, NULL)) != CTL_EXIT_OK)
        return rc;
    if (ctx->format == CTL_FORMAT_JSON)
        rc = ctl_print_message(ctx, &resp->base, 1);
    else
        fwrite(resp->signed_note.data, 1, resp->signed_note.len, stdout);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

/* ---- audit proof ---- */

int ctl_run_audit_proof(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__GetCheckpointResponse *cpr = NULL;
    Tallinn__V1__GetInclusionProofRequest req = TALLINN__V1__GET_INCLUSION_PROOF_REQUEST__INIT;
    Tallinn__V1__GetInclusionProofResponse *proof = NULL;
    ProtobufCMessage *resp = NULL;
    rpcc_result result = {0};
    const char *size_s = ctl_option_value(ctx, "size");
    uint64_t index, size = 0;
    tlogproof *tp = NULL;
    checkpoint cp;
    char *text = NULL;
    size_t text_len;
    int rc;

    (void)argc;
    if (ctl_parse_u64(argv[0], &index) != 0)
        return ctl_usage_error(ctx->cmd, "INDEX wants a record index, not \"%s\"", argv[0]);
    if (size_s != NULL && (ctl_parse_u64(size_s, &size) != 0 || size == 0))
        return ctl_usage_error(ctx->cmd, "--size wants a tree size, not \"%s\"", size_s);
    if ((rc = ctl_get_checkpoint(ctx, size, "audit proof", 0, &cpr, &cp)) != CTL_EXIT_OK)
        goto cleanup;
    if (index >= cp.size) {
        rc = ctl_fail("audit proof: record %" PRIu64 " is not in the tree of %" PRIu64
                      " records", index, cp.size);
        goto cleanup;
    }
    req.index = (int64_t)index;
    req.tree_size = (int64_t)cp.size;
    if (ctl_unary(ctx, CTL_AUDIT_SVC "GetInclusionProof", &req.base,
                  &tallinn__v1__get_inclusion_proof_response__descriptor, &resp,
                  &result) != GRPC_STATUS_OK) {
        rc = ctl_audit_failed(ctx, "audit proof", &result);
        goto cleanup;
    }
    proof = (Tallinn__V1__GetInclusionProofResponse *)resp;
    if (ctx->format == CTL_FORMAT_JSON) {
        rc = ctl_print_message(ctx, resp, 1);
        goto cleanup;
    }
    if (proof->n_hashes > TLOGPROOF_MAX_HASHES || (tp = calloc(1, sizeof *tp)) == NULL) {
        rc = ctl_fail("audit proof: the server's proof has %zu hashes", proof->n_hashes);
        goto cleanup;
    }
    tp->index = index;
    tp->hash_count = proof->n_hashes;
    for (size_t i = 0; i < proof->n_hashes; i++) {
        if (proof->hashes[i].len != MERKLE_HASH_SIZE) {
            rc = ctl_fail("audit proof: hash %zu of the server's proof is %zu bytes", i,
                          proof->hashes[i].len);
            goto cleanup;
        }
        memcpy(tp->hashes + i * MERKLE_HASH_SIZE, proof->hashes[i].data, MERKLE_HASH_SIZE);
    }
    if ((tp->checkpoint = strndup((const char *)cpr->signed_note.data, cpr->signed_note.len)) ==
        NULL) {
        rc = ctl_fail("out of memory");
        goto cleanup;
    }
    tp->checkpoint_len = cpr->signed_note.len;
    if (tlogproof_format(tp, &text, &text_len) != 0) {
        rc = ctl_fail("audit proof: cannot format the proof");
        goto cleanup;
    }
    fwrite(text, 1, text_len, stdout);
cleanup:
    if (tp != NULL)
        free(tp->checkpoint);
    free(tp);
    free(text);
    if (cpr != NULL)
        protobuf_c_message_free_unpacked(&cpr->base, NULL);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&result);
    return rc;
}

/* ---- audit export ---- */

typedef struct ctl_export {
    tiles_dir *dir;
    merkle_frontier *frontier;
    /* the hashes of the tile being filled at each tile level */
    uint8_t tiles[CTL_AUDIT_LEVELS][TILES_HASH_TILE_MAX];
    unsigned counts[CTL_AUDIT_LEVELS];
    int replay;        /* rebuilding from bundles on disk: write only missing tiles */
    uint8_t *bundle;   /* the entry bundle being filled */
    size_t bundle_len;
    unsigned bundle_count;
    char err[CTL_AUDIT_ERR];
    /* progress on a terminal */
    int progress;
    uint64_t total;
    double last;
} ctl_export;

static int ctl_export_exists(ctl_export *e, const tiles_tile *t)
{
    char rel[TILES_PATH_MAX], *path;
    struct stat st;
    int ok;

    if (tiles_path(t, rel, sizeof rel) != 0 ||
        asprintf(&path, "%s/%s", tiles_dir_path(e->dir), rel) < 0)
        return 0;
    ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return ok;
}

/* The frontier's emit callback: nodes at levels 0, 8, 16, ... are the
 * entries of the hash tiles; a tile is written when its 256th arrives. */
static int ctl_export_emit(void *arg, unsigned level, uint64_t index,
                           const uint8_t hash[MERKLE_HASH_SIZE])
{
    ctl_export *e = arg;
    unsigned tl = level / 8, pos = (unsigned)(index % TILES_WIDTH);
    tiles_tile t;

    if (level % 8 != 0 || tl >= CTL_AUDIT_LEVELS)
        return 0;
    memcpy(e->tiles[tl] + (size_t)pos * MERKLE_HASH_SIZE, hash, MERKLE_HASH_SIZE);
    e->counts[tl] = pos + 1;
    if (pos + 1 < TILES_WIDTH)
        return 0;
    t.entries = false;
    t.level = tl;
    t.index = index / TILES_WIDTH;
    t.width = TILES_WIDTH;
    e->counts[tl] = 0;
    if (e->replay && ctl_export_exists(e, &t))
        return 0;
    return tiles_dir_write_tile(e->dir, &t, e->tiles[tl], TILES_HASH_TILE_MAX, e->err,
                                sizeof e->err);
}

static double ctl_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void ctl_export_progress(ctl_export *e, uint64_t done, int final)
{
    double now;
    int width = 30, fill;

    if (!e->progress || e->total == 0)
        return;
    now = ctl_now();
    if (!final && now - e->last < 0.1)
        return;
    e->last = now;
    fill = (int)((double)done / (double)e->total * width);
    fprintf(stderr, "\rexporting the audit log [%.*s%*s] %" PRIu64 "/%" PRIu64 " (%3d%%)",
            fill, "##############################", width - fill, "", done, e->total,
            (int)(done * 100 / e->total));
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Adds one leaf; writes the bundle when it holds 256 entries. */
static int ctl_export_leaf(ctl_export *e, uint64_t index, const uint8_t *leaf, size_t len)
{
    uint8_t h[MERKLE_HASH_SIZE];
    int r;

    merkle_hash_leaf(leaf, len, h);
    if ((r = merkle_frontier_append(e->frontier, h, ctl_export_emit, e)) != 0)
        return r;
    if (e->replay)
        return 0;
    if ((r = tiles_bundle_append(e->bundle, TILES_BUNDLE_MAX, &e->bundle_len, leaf, len)) != 0) {
        snprintf(e->err, sizeof e->err, "record %" PRIu64 " (%zu bytes) does not fit an entry "
                 "bundle", index, len);
        return r;
    }
    if (++e->bundle_count == TILES_WIDTH) {
        tiles_tile t = {true, 0, index / TILES_WIDTH, TILES_WIDTH};
        if ((r = tiles_dir_write_tile(e->dir, &t, e->bundle, e->bundle_len, e->err,
                                      sizeof e->err)) != 0)
            return r;
        e->bundle_len = 0;
        e->bundle_count = 0;
    }
    return 0;
}

/* Rebuilds the frontier and the open tiles from the complete bundles on
 * disk; returns how many there are (consecutive from 0) in *bundles. */
static int ctl_export_replay(ctl_export *e, uint64_t size, uint64_t *bundles)
{
    uint64_t full = size / TILES_WIDTH;
    tiles_entry *entries = malloc(TILES_WIDTH * sizeof *entries);
    int r = 0;

    *bundles = 0;
    if (entries == NULL)
        return -ENOMEM;
    e->replay = 1;
    for (uint64_t k = 0; k < full; k++) {
        tiles_tile t = {true, 0, k, TILES_WIDTH};
        char rel[TILES_PATH_MAX];
        size_t len;

        if (!ctl_export_exists(e, &t))
            break;
        tiles_path(&t, rel, sizeof rel);
        if ((r = tiles_dir_read(e->dir, rel, e->bundle, TILES_BUNDLE_MAX, &len, e->err,
                                sizeof e->err)) != 0 ||
            (r = tiles_bundle_split(e->bundle, len, TILES_WIDTH, entries, e->err,
                                    sizeof e->err)) != 0)
            break;
        for (unsigned i = 0; i < TILES_WIDTH && r == 0; i++)
            r = ctl_export_leaf(e, k * TILES_WIDTH + i, entries[i].data, entries[i].len);
        if (r != 0)
            break;
        *bundles = k + 1;
        ctl_export_progress(e, *bundles * TILES_WIDTH, 0);
    }
    e->replay = 0;
    free(entries);
    return r;
}

/* Streams [start, end) into the export. */
static int ctl_export_stream(ctl_ctx *ctx, ctl_export *e, uint64_t start, uint64_t end)
{
    Tallinn__V1__StreamAuditRecordsRequest req = TALLINN__V1__STREAM_AUDIT_RECORDS_REQUEST__INIT;
    rpcc_call_options opts = ctl_call_options(ctx);
    rpcc_result result = {0};
    rpcc_stream *s = NULL;
    ProtobufCMessage *msg;
    char err[RPCC_ERROR_MAX];
    uint64_t next = start;
    int r, rc = CTL_EXIT_OK;

    req.start = (int64_t)start;
    req.end = (int64_t)end;
    if (rpcc_stream_open(ctl_channel(ctx), CTL_AUDIT_SVC "StreamAuditRecords", &req.base,
                         &tallinn__v1__stream_audit_records_response__descriptor, &opts, &s,
                         err, sizeof err) != 0)
        return ctl_fail("audit export: %s", err);
    while ((r = rpcc_stream_next(s, &msg)) == 1) {
        const Tallinn__V1__StreamAuditRecordsResponse *rec = (const void *)msg;
        int w;

        if (rec->index != (int64_t)next) {
            rc = ctl_fail("audit export: the server sent record %" PRId64 " where %" PRIu64
                          " was due", rec->index, next);
            protobuf_c_message_free_unpacked(msg, NULL);
            break;
        }
        w = ctl_export_leaf(e, next, rec->leaf.data, rec->leaf.len);
        protobuf_c_message_free_unpacked(msg, NULL);
        if (w != 0) {
            rc = ctl_fail("audit export: %s", e->err[0] ? e->err : strerror(-w));
            break;
        }
        next++;
        ctl_export_progress(e, next, 0);
    }
    if (rc == CTL_EXIT_OK && rpcc_stream_finish(s, &result) != GRPC_STATUS_OK)
        rc = ctl_audit_failed(ctx, "audit export", &result);
    else if (rc == CTL_EXIT_OK && next != end)
        rc = ctl_fail("audit export: the server's stream ended at record %" PRIu64 " of %" PRIu64,
                      next, end);
    rpcc_result_free(&result);
    rpcc_stream_destroy(s);
    return rc;
}

int ctl_run_audit_export(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__GetCheckpointResponse *cpr = NULL;
    const char *key = ctl_option_value(ctx, "key");
    ctl_export *e = NULL;
    checkpoint cp, old;
    uint8_t *oldbuf = NULL, root[MERKLE_HASH_SIZE];
    size_t oldlen = 0;
    uint64_t bundles = 0, start;
    int rc, r;

    (void)argc;
    if (sodium_init() < 0)
        return ctl_fail("libsodium failed to start");
    if ((rc = ctl_get_checkpoint(ctx, 0, "audit export",
                                 ctl_option_value(ctx, "cosigned") != NULL, &cpr,
                                 &cp)) != CTL_EXIT_OK)
        return rc;
    if (key != NULL) {
        note_verifier v;
        checkpoint verified;
        char err[CTL_AUDIT_ERR];

        if (note_verifier_parse(key, &v, err, sizeof err) != 0) {
            rc = ctl_usage_error(ctx->cmd, "--key: %s", err);
            goto cleanup;
        }
        if (checkpoint_open((const char *)cpr->signed_note.data, cpr->signed_note.len, &v, 1,
                            &verified, err, sizeof err) != 0) {
            rc = ctl_fail("audit export: the server's checkpoint does not verify with --key: %s",
                          err);
            goto cleanup;
        }
    }
    if ((e = calloc(1, sizeof *e)) == NULL || (e->bundle = malloc(TILES_BUNDLE_MAX)) == NULL ||
        (oldbuf = malloc(CHECKPOINT_TEXT_MAX + 64 * 1024)) == NULL ||
        merkle_frontier_create(&e->frontier) != 0) {
        rc = ctl_fail("out of memory");
        goto cleanup;
    }
    if (tiles_dir_open(argv[0], TILES_DIR_CREATE, &e->dir, e->err, sizeof e->err) != 0) {
        rc = ctl_fail("audit export: %s", e->err);
        goto cleanup;
    }
    /* A directory that already holds a log must hold this one, no larger. */
    r = tiles_dir_read(e->dir, "checkpoint", oldbuf, CHECKPOINT_TEXT_MAX + 64 * 1024, &oldlen,
                       e->err, sizeof e->err);
    if (r == 0) {
        note_parsed *np = malloc(sizeof *np);
        if (np == NULL || note_parse((const char *)oldbuf, oldlen, np, e->err,
                                     sizeof e->err) != 0 ||
            checkpoint_parse((const char *)oldbuf, np->text_len, &old, e->err,
                             sizeof e->err) != 0) {
            free(np);
            rc = ctl_fail("audit export: %s/checkpoint is not a checkpoint; use an empty "
                          "directory", argv[0]);
            goto cleanup;
        }
        free(np);
        if (strcmp(old.origin, cp.origin) != 0 || old.size > cp.size) {
            rc = ctl_fail("audit export: %s holds another log (%s, %" PRIu64 " records); the "
                          "server's is %s with %" PRIu64, argv[0], old.origin, old.size,
                          cp.origin, cp.size);
            goto cleanup;
        }
    } else if (r != -ENOENT) {
        rc = ctl_fail("audit export: %s", e->err);
        goto cleanup;
    }
    e->progress = isatty(STDERR_FILENO);
    e->total = cp.size;
    e->last = 0;
    if ((r = ctl_export_replay(e, cp.size, &bundles)) != 0) {
        rc = ctl_fail("audit export: %s", e->err[0] ? e->err : strerror(-r));
        goto cleanup;
    }
    for (start = bundles * TILES_WIDTH; start < cp.size; start += CTL_AUDIT_CHUNK) {
        uint64_t end = cp.size - start > CTL_AUDIT_CHUNK ? start + CTL_AUDIT_CHUNK : cp.size;
        if ((rc = ctl_export_stream(ctx, e, start, end)) != CTL_EXIT_OK)
            goto cleanup;
    }
    ctl_export_progress(e, cp.size, 1);
    /* The rightmost partial tiles and bundle, then the checkpoint: a reader
     * that sees the checkpoint finds every tile it needs. */
    if (e->bundle_count > 0) {
        tiles_tile t = {true, 0, cp.size / TILES_WIDTH, e->bundle_count};
        if (tiles_dir_write_tile(e->dir, &t, e->bundle, e->bundle_len, e->err,
                                 sizeof e->err) != 0) {
            rc = ctl_fail("audit export: %s", e->err);
            goto cleanup;
        }
    }
    for (unsigned l = 0; l < CTL_AUDIT_LEVELS; l++) {
        uint64_t nodes = 8 * l >= 64 ? 0 : cp.size >> (8 * l);
        tiles_tile t = {false, l, nodes / TILES_WIDTH, e->counts[l]};

        if (e->counts[l] == 0)
            continue;
        if (e->counts[l] != nodes % TILES_WIDTH) {
            rc = ctl_fail("audit export: internal error: level %u holds %u hashes", l,
                          e->counts[l]);
            goto cleanup;
        }
        if (tiles_dir_write_tile(e->dir, &t, e->tiles[l], (size_t)e->counts[l] * MERKLE_HASH_SIZE,
                                 e->err, sizeof e->err) != 0) {
            rc = ctl_fail("audit export: %s", e->err);
            goto cleanup;
        }
    }
    merkle_frontier_root(e->frontier, root);
    if (sodium_memcmp(root, cp.root, MERKLE_HASH_SIZE) != 0) {
        rc = ctl_fail("audit export: the records do not hash to the root of the server's "
                      "checkpoint (size %" PRIu64 "); nothing was marked exported", cp.size);
        goto cleanup;
    }
    if (tiles_dir_write(e->dir, "checkpoint", cpr->signed_note.data, cpr->signed_note.len,
                        e->err, sizeof e->err) != 0) {
        rc = ctl_fail("audit export: %s", e->err);
        goto cleanup;
    }
    if (ctx->format == CTL_FORMAT_TEXT)
        printf("exported %" PRIu64 " records of %s to %s (%" PRIu64 " were there already)\n",
               cp.size, cp.origin, argv[0], bundles * TILES_WIDTH);
    rc = CTL_EXIT_OK;
cleanup:
    if (e != NULL) {
        tiles_dir_destroy(e->dir);
        merkle_frontier_destroy(e->frontier);
        free(e->bundle);
        free(e);
    }
    free(oldbuf);
    if (cpr != NULL)
        protobuf_c_message_free_unpacked(&cpr->base, NULL);
    return rc;
}
