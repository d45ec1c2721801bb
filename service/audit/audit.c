/* audit.c — the audit log's engine. Records are appended by write jobs in
 * the same transaction as the change they record (store.h); the log is the
 * store's first commit observer. At the start of each write batch it locks
 * the database's audit head (the one row that sequences the log across every
 * process writing the database) and, if another process appended since, or
 * a batch of ours failed, rebuilds its frontier and edge tiles from the
 * database inside that transaction; before COMMIT it folds the batch's
 * leaves into the Merkle tree, writes the tiles that changed, signs one
 * checkpoint and moves the head, so records, tiles, checkpoint and head
 * commit together or not at all, and the log never forks. In memory: the
 * tree's frontier and its right-edge tiles, as of the head last seen. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "log/slog.h"
#include "tallinn/checkpoint.h"
#include "tallinn/note.h"
#include "tallinn/tiles.h"
#include "tallinn/v1/audit.pb-c.h"

#define TILE_W TILES_WIDTH     /* 256 hashes per tile */
#define TILE_H TILES_HEIGHT    /* 8 tree levels per tile level */
#define TILE_LEVELS 8          /* tile levels 0..7 cover every tree of < 2^64 leaves */
#define H MERKLE_HASH_SIZE

typedef struct edge_tile {
    uint64_t index;   /* which tile of its level */
    unsigned n;       /* hashes in it so far */
    int dirty;        /* changed since written */
    uint8_t h[TILE_W][H];
} edge_tile;

typedef struct pending_leaf {
    uint8_t hash[H];
} pending_leaf;

struct audit {
    store *store;
    note_signer *signer;
    note_verifier verifier;
    char vkey[NOTE_VERIFIER_KEY_MAX];
    /* Committer-thread state: only the committer (jobs and observer calls)
     * and audit_open touch it. */
    merkle_frontier *f;
    uint64_t size;           /* leaves appended, the current batch's included */
    int stale;               /* memory may not match the head: rebuild at the next batch */
    uint64_t reloads;        /* rebuilds because another process appended */
    pending_leaf *pending;   /* leaf hashes appended in this batch */
    size_t n_pending, cap_pending;
    edge_tile edge[TILE_LEVELS];
    store_tx *tx;            /* the batch's transaction, while folding */
    int fold_rc;
    uint64_t signed_size;    /* the checkpoint this batch signed (0: none) */
    /* For scrapes (audit_get_metrics), from any thread: the committed log's
     * size and when its latest checkpoint was signed (or, found at start or
     * from another replica, when its last record was appended / first seen). */
    _Atomic uint64_t pub_size;
    _Atomic int64_t pub_checkpoint_ms; /* Unix time in ms; 0: no checkpoint */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Keys ---- */

int audit_keygen(const char *dir, const char *origin, char *vkey, size_t vkey_size)
{
    char skey[NOTE_PRIVATE_KEY_MAX], path[4096];
    int fd, rc = -1;
    size_t len;

    if (note_keygen(origin, skey, sizeof(skey), vkey, vkey_size) != 0) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "tallinnd")),
                 "\"%s\" cannot name a signing key", origin);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_KEY_FILE);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "tallinnd")),
                 "cannot create %s: %s", path, strerror(errno));
        goto done;
    }
    len = strlen(skey);
    if (write(fd, skey, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        slog_msg(SLOG_ERROR, "error", SLOG_FIELDS(SLOG_S("module", "tallinnd")),
                 "cannot write %s: %s", path, strerror(errno));
        close(fd);
        goto done;
    }
    rc = close(fd) == 0 ? 0 : -1;
done:
    sodium_memzero(skey, sizeof(skey));
    return rc;
}

static int load_signer(audit *a, const char *dir, char *err, size_t errlen)
{
    char path[4096], skey[NOTE_PRIVATE_KEY_MAX + 2];
    FILE *f;
    size_t len;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_KEY_FILE);
    if ((f = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "cannot read the audit signing key %s: %s", path, strerror(errno));
        return -1;
    }
    len = fread(skey, 1, sizeof(skey) - 1, f);
    fclose(f);
    skey[len] = '\0';
    while (len > 0 && (skey[len - 1] == '\n' || skey[len - 1] == '\r'))
        skey[--len] = '\0';
    rc = note_signer_create(skey, &a->signer, err, errlen);
    sodium_memzero(skey, sizeof(skey));
    if (rc != 0)
        return -1;
    note_signer_verifier(a->signer, &a->verifier);
    return note_verifier_format(&a->verifier, a->vkey, sizeof(a->vkey)) == 0 ? 0 : -1;
}

const char *audit_verifier_key(const audit *a)
{
    return a->vkey;
}

const char *audit_origin(const audit *a)
{
    return note_signer_name(a->signer);
}

uint64_t audit_catch_ups(const audit *a)
{
    return a->reloads;
}

/* ---- Tiles in the store ---- */

typedef struct tile_cache {
    store_tx *tx;
    int valid;
    unsigned level;
    uint64_t index;
    size_t n;
    uint8_t h[TILE_W * H];
} tile_cache;

static int tile_load(tile_cache *c, unsigned level, uint64_t index)
{
    int rc;

    if (c->valid && c->level == level && c->index == index)
        return 0;
    c->valid = 0;
    rc = store_tile_get(c->tx, (int)level, (int64_t)index, c->h, &c->n);
    if (rc != STORE_OK)
        return rc == STORE_NOT_FOUND ? -ENOENT : -EIO;
    c->valid = 1;
    c->level = level;
    c->index = index;
    return 0;
}

/* merkle_node_fn over stored tiles: a node at tree level 8T + k is the root
 * of 2^k consecutive hashes of one level-T tile. */
static int tile_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
    tile_cache *c = ctx;
    unsigned t = level / TILE_H, k = level % TILE_H;
    uint64_t base = index << k;
    size_t off = base % TILE_W, width = (size_t)1 << k;
    int rc;

    if (t >= TILE_LEVELS || (rc = tile_load(c, t, base / TILE_W)) != 0)
        return t >= TILE_LEVELS ? -ERANGE : rc;
    if (off + width > c->n)
        return -ENOENT;
    if (k == 0) {
        memcpy(out, c->h + off * H, H);
        return 0;
    }
    return merkle_root(c->h + off * H, width, out);
}

/* ---- Memory kept in step with disk ---- */

/* Rebuilds the frontier and the edge tiles of a log of `size` leaves from
 * the tiles tx reads (a read snapshot at start, the batch's own transaction
 * after that). */
static int reload_at(audit *a, store_tx *tx, int64_t size, char *err, size_t errlen)
{
    tile_cache *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->tx = tx;
    rc = merkle_frontier_restore(a->f, (uint64_t)size, tile_node, c) == 0 ? STORE_OK
                                                                           : STORE_CORRUPT;
    for (unsigned t = 0; rc == STORE_OK && t < TILE_LEVELS; t++) {
        edge_tile *e = &a->edge[t];
        uint64_t nodes = t * TILE_H >= 64 ? 0 : (uint64_t)size >> (t * TILE_H);
        e->index = nodes / TILE_W;
        e->n = (unsigned)(nodes % TILE_W);
        e->dirty = 0;
        if (e->n > 0) {
            size_t got;
            if (store_tile_get(tx, (int)t, (int64_t)e->index, (uint8_t *)e->h, &got) != STORE_OK ||
                got < e->n)
                rc = STORE_CORRUPT;
        }
    }
    free(c);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot rebuild the audit tree from its tiles: %s", store_strerror(rc));
        return -1;
    }
    if ((uint64_t)size != atomic_load(&a->pub_size))
        atomic_store(&a->pub_checkpoint_ms, now_ms()); /* another replica signed it */
    a->size = (uint64_t)size;
    atomic_store(&a->pub_size, a->size);
    a->n_pending = 0;
    a->stale = 0;
    return 0;
}

/* Start-up: the frontier of the committed log, in a read snapshot. */
static int reload(audit *a, char *err, size_t errlen)
{
    store_tx *tx;
    int64_t size;
    int rc;

    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK) {
        snprintf(err, errlen, "cannot read the audit log: %s", store_strerror(rc));
        return -1;
    }
    if ((rc = store_audit_head(tx, &size)) != STORE_OK) {
        snprintf(err, errlen, "cannot read the audit head: %s", store_strerror(rc));
        store_read_end(tx);
        return -1;
    }
    rc = reload_at(a, tx, size, err, errlen);
    store_read_end(tx);
    return rc;
}

/* merkle_emit_fn: a completed node; tree levels 0, 8, 16, ... go to tiles. */
static int emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    audit *a = ctx;
    edge_tile *e;
    unsigned t = level / TILE_H;
    uint64_t tidx = index / TILE_W;
    unsigned pos = (unsigned)(index % TILE_W);

    if (level % TILE_H != 0)
        return 0;
    if (t >= TILE_LEVELS)
        return -ERANGE;
    e = &a->edge[t];
    if (tidx != e->index) { /* the previous tile was completed and written */
        e->index = tidx;
        e->n = 0;
    }
    memcpy(e->h[pos], hash, H);
    e->n = pos + 1;
    e->dirty = 1;
    if (e->n == TILE_W) { /* complete: write it now, before the edge moves on */
        if (store_tile_put(a->tx, (int)t, (int64_t)e->index, (uint8_t *)e->h, TILE_W) != STORE_OK)
            return -EIO;
        e->dirty = 0;
    }
    return 0;
}

/* Begin: lock the head; catch up with what other processes appended (or
 * forget what a failed batch of ours left in memory). Every index this
 * batch assigns follows the head it holds. */
static int batch_begin(store_tx *tx, void *ctx)
{
    audit *a = ctx;
    char err[256];
    int64_t head;
    int rc;

    a->n_pending = 0;
    a->signed_size = 0;
    if ((rc = store_audit_head(tx, &head)) != STORE_OK) {
        SLOG(SLOG_ERROR, "audit_head_failed", SLOG_S("error", store_strerror(rc)));
        a->stale = 1;
        return -1;
    }
    if (!a->stale && (uint64_t)head == a->size)
        return 0;
    if (!a->stale) {
        a->reloads++;
        SLOG(SLOG_INFO, "audit_caught_up", SLOG_I("from", (unsigned long long)a->size),
             SLOG_I("to", (long long)head));
    }
    if (reload_at(a, tx, head, err, sizeof(err)) != 0) {
        SLOG(SLOG_ERROR, "audit_reload_failed", SLOG_S("error", err));
        a->stale = 1;
        return -1;
    }
    return 0;
}

/* Pre-commit: fold the batch's leaves in, write the tiles, sign, move the
 * head. */
static int batch_pre_commit(store_tx *tx, void *ctx)
{
    audit *a = ctx;
    char note[CHECKPOINT_TEXT_MAX + 1 + NOTE_SIG_LINE_MAX + 2];
    char err[256];
    checkpoint cp;
    size_t len;

    if (a->n_pending == 0)
        return 0;
    a->tx = tx;
    for (size_t i = 0; i < a->n_pending; i++)
        if (merkle_frontier_append(a->f, a->pending[i].hash, emit, a) != 0)
            goto fail;
    for (unsigned t = 0; t < TILE_LEVELS; t++) {
        edge_tile *e = &a->edge[t];
        if (e->dirty && e->n > 0) {
            if (store_tile_put(tx, (int)t, (int64_t)e->index, (uint8_t *)e->h, e->n) != STORE_OK)
                goto fail;
            e->dirty = 0;
        }
    }
    memset(&cp, 0, sizeof(cp));
    snprintf(cp.origin, sizeof(cp.origin), "%s", note_signer_name(a->signer));
    cp.size = merkle_frontier_size(a->f);
    merkle_frontier_root(a->f, cp.root);
    if (checkpoint_sign(&cp, a->signer, note, sizeof(note), &len, err, sizeof(err)) != 0) {
        SLOG(SLOG_ERROR, "checkpoint_sign_failed", SLOG_S("error", err));
        goto fail;
    }
    if (store_checkpoint_put(tx, (int64_t)cp.size, (const uint8_t *)note, len) != STORE_OK ||
        store_audit_head_set(tx, (int64_t)cp.size) != STORE_OK)
        goto fail;
    a->tx = NULL;
    a->signed_size = cp.size;
    return 0;
fail:
    a->tx = NULL;
    return -1;
}

static void batch_done(int committed, void *ctx)
{
    audit *a = ctx;

    a->n_pending = 0;
    /* Rolled back: memory saw leaves that are not in the database. The next
     * batch rebuilds it from the head it locks, inside its transaction. */
    if (!committed)
        a->stale = 1;
    else if (a->signed_size != 0) {
        atomic_store(&a->pub_checkpoint_ms, now_ms());
        atomic_store(&a->pub_size, a->signed_size);
    }
    a->signed_size = 0;
}

/* ---- Appending ---- */

int audit_append(audit *a, store_tx *tx, const audit_entry *e)
{
    uint8_t buf[AUDIT_RECORD_MAX];
    struct timespec ts;
    size_t len;
    int rc;

    if (a->stale)
        return STORE_ERROR; /* no head held: the batch failed to begin (logged) */
    if (a->n_pending == a->cap_pending) {
        size_t cap = a->cap_pending ? a->cap_pending * 2 : 256;
        pending_leaf *p = realloc(a->pending, cap * sizeof(*p));
        if (p == NULL)
            return STORE_NOMEM;
        a->pending = p;
        a->cap_pending = cap;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    if ((len = audit_record_pack(e, (int64_t)a->size, ts.tv_sec, (int32_t)ts.tv_nsec, buf)) == 0)
        return STORE_ERROR;
    rc = store_audit_append(tx, (int64_t)a->size, buf, len);
    if (rc == STORE_OK) {
        /* Leaf data = the bytes as stored; verifiers hash these bytes. */
        merkle_hash_leaf(buf, len, a->pending[a->n_pending++].hash);
        a->size++;
    }
    return rc;
}

typedef struct record_arg {
    audit *a;
    const audit_entry *e;
    size_t n;
} record_arg;

static int record_job(store_tx *tx, void *p)
{
    record_arg *r = p;
    size_t pending = r->a->n_pending;
    uint64_t size = r->a->size;

    for (size_t i = 0; i < r->n; i++) {
        if (audit_append(r->a, tx, &r->e[i]) != STORE_OK) {
            /* The job's rollback undoes the rows before it: memory too. */
            r->a->n_pending = pending;
            r->a->size = size;
            return 1;
        }
    }
    return 0;
}

int audit_record(audit *a, const audit_entry *e, size_t n)
{
    record_arg r = {a, e, n};
    int job_rc, rc = store_write(a->store, record_job, &r, &job_rc);

    return rc != STORE_OK ? rc : job_rc != 0 ? STORE_ERROR : STORE_OK;
}

/* ---- Proofs ---- */

int audit_inclusion_proof(audit *a, store_tx *tx, uint64_t index, uint64_t size,
                          uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_SIZE], size_t *n)
{
    tile_cache *c = calloc(1, sizeof(*c));
    int rc;

    (void)a;
    if (c == NULL)
        return -ENOMEM;
    c->tx = tx;
    rc = merkle_prove_inclusion(index, size, tile_node, c, (uint8_t *)proof, MERKLE_MAX_PROOF, n);
    free(c);
    return rc;
}

int audit_consistency_proof(audit *a, store_tx *tx, uint64_t size1, uint64_t size2,
                            uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_SIZE], size_t *n)
{
    tile_cache *c = calloc(1, sizeof(*c));
    int rc;

    (void)a;
    if (c == NULL)
        return -ENOMEM;
    c->tx = tx;
    rc = merkle_prove_consistency(size1, size2, tile_node, c, (uint8_t *)proof, MERKLE_MAX_PROOF, n);
    free(c);
    return rc;
}

/* ---- Open: prove the stored log before serving ---- */

typedef struct bump bump;

typedef struct verify_ctx {
    bump *bump;
    tile_cache *c;
    merkle_frontier *f;
    int64_t expect;
    char *err;
    size_t errlen;
    int failed;
    uint64_t oversized;       /* records too large for a tlog-tiles entry */
    int64_t first_oversized;
    int64_t last_ms;          /* the last record's time (Unix ms) */
} verify_ctx;

/* While re-hashing every record, each completed tile-level node must equal
 * the stored tile's hash at its place. */
static int verify_emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    verify_ctx *v = ctx;
    unsigned t = level / TILE_H;
    size_t pos = index % TILE_W;

    if (level % TILE_H != 0)
        return 0;
    if (tile_load(v->c, t, index / TILE_W) != 0 || pos >= v->c->n) {
        snprintf(v->err, v->errlen, "hash tile %u/%llu is missing or short", t,
                 (unsigned long long)(index / TILE_W));
        return -EBADMSG;
    }
    if (sodium_memcmp(v->c->h + pos * H, hash, H) != 0) {
        snprintf(v->err, v->errlen,
                 "hash tile %u/%llu, entry %zu, does not match the records it covers", t,
                 (unsigned long long)(index / TILE_W), pos);
        return -EBADMSG;
    }
    return 0;
}

/* A bump allocator over a fixed buffer for decoding one record at a time:
 * start-up reads every record, and malloc/free per record would dominate.
 * AUDIT_DECODE_MAX holds the decoded form of any record the server writes
 * (audit.h); a record that does not fit all the same (one written before
 * records were bounded) is decoded on the heap instead, never refused. */
typedef struct bump {
    size_t used;
    max_align_t buf[AUDIT_DECODE_MAX / sizeof(max_align_t)];
} bump;

static void *bump_alloc(void *data, size_t size)
{
    bump *b = data;
    size_t n = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t);

    if (n > sizeof(b->buf) / sizeof(max_align_t) - b->used)
        return NULL; /* too large for the buffer: the caller retries on the heap */
    b->used += n;
    return &b->buf[b->used - n];
}

static void bump_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static int64_t record_ms(const Tallinn__V1__AuditRecord *r)
{
    return r->time != NULL ? r->time->seconds * 1000 + r->time->nanos / 1000000 : 0;
}

/* 1 if the leaf decodes as a record carrying index; *ms gets its time. */
static int leaf_decodes(bump *b, int64_t index, const uint8_t *data, size_t len, int64_t *ms)
{
    ProtobufCAllocator alloc = {bump_alloc, bump_free, b};
    Tallinn__V1__AuditRecord *r;
    int ok;

    b->used = 0;
    if ((r = tallinn__v1__audit_record__unpack(&alloc, len, data)) != NULL) {
        *ms = record_ms(r);
        return r->index == index;
    }
    if ((r = tallinn__v1__audit_record__unpack(NULL, len, data)) == NULL)
        return -1;
    ok = r->index == index;
    *ms = record_ms(r);
    tallinn__v1__audit_record__free_unpacked(r, NULL);
    return ok;
}

static int verify_leaf(int64_t index, const uint8_t *data, size_t len, void *ctx)
{
    verify_ctx *v = ctx;
    uint8_t leaf[H];
    int ok;

    if (index != v->expect) {
        snprintf(v->err, v->errlen, "record %lld is missing", (long long)v->expect);
        v->failed = 1;
        return 1;
    }
    if ((ok = leaf_decodes(v->bump, index, data, len, &v->last_ms)) != 1) {
        snprintf(v->err, v->errlen, "record %lld %s", (long long)index,
                 ok < 0 ? "does not decode" : "carries another index");
        v->failed = 1;
        return 1;
    }
    if (len > TILES_ENTRY_MAX && v->oversized++ == 0)
        v->first_oversized = index;
    merkle_hash_leaf(data, len, leaf);
    if (merkle_frontier_append(v->f, leaf, verify_emit, v) != 0) {
        v->failed = 1;
        return 1;
    }
    v->expect++;
    return 0;
}

static int verify_stored(audit *a, char *err, size_t errlen)
{
    tile_cache *c = calloc(1, sizeof(*c));
    merkle_frontier *f = NULL;
    store_tx *tx = NULL;
    uint8_t *note = NULL, root[H];
    size_t note_len;
    int64_t size, count, head, ck_size = 0;
    checkpoint cp;
    verify_ctx v = {0};
    char why[256];
    int rc = -1, have_ck;

    if (c == NULL || merkle_frontier_create(&f) != 0)
        goto done;
    if (store_read_begin(a->store, &tx) != STORE_OK) {
        snprintf(err, errlen, "cannot read the audit log");
        goto done;
    }
    c->tx = tx;
    if (store_audit_size(tx, &size, &count) != STORE_OK || store_audit_head(tx, &head) != STORE_OK)
        goto done;
    if (head != size) {
        snprintf(err, errlen, "the audit head says the log has %lld records, but its highest "
                 "index is %lld: records were %s", (long long)head, (long long)size - 1,
                 head > size ? "deleted" : "added outside a write batch");
        goto done;
    }
    rc = store_checkpoint_get(tx, -1, &note, &note_len, &ck_size);
    have_ck = rc == STORE_OK;
    rc = -1;
    if (count != size) {
        snprintf(err, errlen, "the audit log has %lld records but its highest index is %lld: "
                 "records were deleted", (long long)count, (long long)size - 1);
        goto done;
    }
    if (!have_ck) {
        if (size == 0) {
            rc = 0; /* a new log */
            goto done;
        }
        snprintf(err, errlen, "the audit log has %lld records and no signed checkpoint",
                 (long long)size);
        goto done;
    }
    if (checkpoint_open((const char *)note, note_len, &a->verifier, 1, &cp, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "the last checkpoint (size %lld) does not verify with this server's "
                 "key: %s", (long long)ck_size, why);
        goto done;
    }
    if ((int64_t)cp.size != size) {
        snprintf(err, errlen, "the audit log has %lld records but its last signed checkpoint covers "
                 "%llu: records were %s", (long long)size, (unsigned long long)cp.size,
                 (int64_t)cp.size > size ? "deleted" : "added without a checkpoint");
        goto done;
    }
    if ((v.bump = malloc(sizeof(*v.bump))) == NULL)
        goto done;
    v.c = c;
    v.f = f;
    v.err = err;
    v.errlen = errlen;
    if (store_audit_scan(tx, 0, size, verify_leaf, &v) != STORE_OK || v.failed ||
        v.expect != size) {
        if (!v.failed)
            snprintf(err, errlen, "cannot read the audit records");
        goto done;
    }
    merkle_frontier_root(f, root);
    if (sodium_memcmp(root, cp.root, H) != 0) {
        snprintf(err, errlen, "the records' root differs from the last signed checkpoint's (size "
                 "%lld): a record was changed", (long long)size);
        goto done;
    }
    if (v.oversized > 0) /* written before records were bounded: serve, but say so */
        SLOG(SLOG_WARN, "audit_records_oversized", SLOG_I("count", (unsigned long long)v.oversized),
             SLOG_I("first", (long long)v.first_oversized), SLOG_I("limit", TILES_ENTRY_MAX),
             SLOG_S("note", "these records cannot be exported as tlog-tiles"));
    /* The last checkpoint was signed in the batch of the last record. */
    atomic_store(&a->pub_size, (uint64_t)size);
    atomic_store(&a->pub_checkpoint_ms, size > 0 ? v.last_ms : 0);
    rc = 0;
done:
    free(v.bump);
    store_read_end(tx);
    merkle_frontier_destroy(f);
    free(note);
    free(c);
    return rc;
}

int audit_open(audit **out, store *s, const char *dir, char *err, size_t errlen)
{
    audit *a = calloc(1, sizeof(*a));

    *out = NULL;
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->store = s;
    if (load_signer(a, dir, err, errlen) != 0 || merkle_frontier_create(&a->f) != 0 ||
        verify_stored(a, err, errlen) != 0 || reload(a, err, errlen) != 0) {
        audit_close(a);
        return -1;
    }
    {
        store_observer o = {batch_begin, batch_pre_commit, batch_done, a};
        if (store_observe(s, &o) != STORE_OK) {
            snprintf(err, errlen, "cannot observe the store's commits");
            audit_close(a);
            return -1;
        }
    }
    *out = a;
    return 0;
}

void audit_close(audit *a)
{
    if (a == NULL)
        return;
    note_signer_destroy(a->signer);
    merkle_frontier_destroy(a->f);
    free(a->pending);
    free(a);
}

void audit_get_metrics(const audit *a, audit_metrics *out)
{
    out->size = atomic_load(&((audit *)a)->pub_size);
    out->checkpoint_unix_ms = atomic_load(&((audit *)a)->pub_checkpoint_ms);
}
