/* store_calls.c — store.h's typed calls, handed to the engine on the
 * transaction's connection: resources (the principals epoch moved with the
 * principal changes it depends on), lists rendered by store_sql.c and read
 * arm after arm, the named queries, the audit tables, remembered requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_internal.h"
#include "log/slog.h"
#include "store/store_sql.h"
#include "tallinn/v1/principal.pb-c.h"

typedef struct unpack_ctx {
    const ProtobufCMessageDescriptor *desc;
    ProtobufCAllocator *alloc;
    ProtobufCMessage *msg;
    int corrupt;
    store_bytes *bytes; /* if not NULL: the row's bytes, copied with alloc */
    int nomem;
} unpack_ctx;

/* The engine's bytes are valid only during its callback: a copy. */
static int copy_bytes(ProtobufCAllocator *alloc, const uint8_t *data, size_t len, store_bytes *out)
{
    uint8_t *copy = alloc->alloc(alloc->allocator_data, len ? len : 1);

    if (copy == NULL)
        return -1;
    memcpy(copy, data, len);
    out->data = copy;
    out->len = len;
    return 0;
}

static int unpack_one(const uint8_t *data, size_t len, void *p)
{
    unpack_ctx *u = p;

    u->msg = protobuf_c_message_unpack(u->desc, u->alloc, len, data);
    u->corrupt = u->msg == NULL;
    if (u->msg != NULL && u->bytes != NULL && copy_bytes(u->alloc, data, len, u->bytes) != 0)
        u->nomem = 1;
    return 1;
}

/* A one-row answer unpacked as desc: STORE_OK, STORE_NOT_FOUND, or the
 * engine's error; STORE_CORRUPT when the row does not decode. */
static int unpacked(store_tx *tx, int rc, unpack_ctx *u, const char *what, ProtobufCMessage **out)
{
    *out = NULL;
    if (rc != STORE_OK)
        return store__rec(tx, rc);
    if (u->corrupt || u->msg == NULL) {
        SLOG(SLOG_ERROR, "undecodable_row", SLOG_S("table", what));
        return STORE_CORRUPT;
    }
    if (u->nomem)
        return STORE_NOMEM;
    *out = u->msg;
    return STORE_OK;
}

int store_get(store_tx *tx, store_kind kind, const char *name, ProtobufCAllocator *alloc,
              ProtobufCMessage **out)
{
    unpack_ctx u = {.alloc = alloc};

    *out = NULL;
    if ((unsigned)kind >= STORE_KIND_COUNT || name == NULL)
        return STORE_ERROR;
    u.desc = store_kinds[kind].desc;
    return unpacked(tx, ENG(tx)->get(CONN(tx), kind, name, unpack_one, &u), &u,
                    store_kinds[kind].table, out);
}

int store_get_bytes(store_tx *tx, store_kind kind, const char *name, ProtobufCAllocator *alloc,
                    ProtobufCMessage **out, store_bytes *bytes)
{
    unpack_ctx u = {.alloc = alloc, .bytes = bytes};

    *out = NULL;
    if ((unsigned)kind >= STORE_KIND_COUNT || name == NULL || alloc == NULL || bytes == NULL)
        return STORE_ERROR;
    u.desc = store_kinds[kind].desc;
    return unpacked(tx, ENG(tx)->get(CONN(tx), kind, name, unpack_one, &u), &u,
                    store_kinds[kind].table, out);
}

/* A row's typed column values as the fields' filter values (text copied
 * with alloc: the engine's is valid during its callback only). */
static int copy_values(ProtobufCAllocator *alloc, const filter_field *const *fields,
                       const store_value *cols, size_t n, filter_value *out)
{
    for (size_t j = 0; j < n; j++) {
        out[j] = (filter_value){.type = fields[j]->type};
        if (cols[j].type == STORE_VALUE_TEXT) {
            char *t = alloc->alloc(alloc->allocator_data, cols[j].len + 1);
            if (t == NULL)
                return -1;
            if (cols[j].len > 0)
                memcpy(t, cols[j].p, cols[j].len);
            t[cols[j].len] = '\0';
            out[j].s = t;
            out[j].len = cols[j].len;
        } else {
            out[j].i = cols[j].i;
        }
    }
    return 0;
}

typedef struct fields_ctx {
    const filter_field *const *fields;
    size_t n;
    ProtobufCAllocator *alloc;
    store_bytes *bytes;
    filter_value *values;
    int found, nomem;
} fields_ctx;

static int fields_row(const uint8_t *data, size_t len, const store_value *cols, size_t n_cols,
                      void *p)
{
    fields_ctx *f = p;

    f->found = 1;
    if (n_cols != f->n || copy_bytes(f->alloc, data, len, f->bytes) != 0 ||
        copy_values(f->alloc, f->fields, cols, n_cols, f->values) != 0)
        f->nomem = 1;
    return 1;
}

int store_get_fields(store_tx *tx, store_kind kind, const char *name,
                     const filter_field *const *fields, size_t n, ProtobufCAllocator *alloc,
                     store_bytes *bytes, filter_value *values)
{
    fields_ctx f = {fields, n, alloc, bytes, values, 0, 0};
    store_sql *sql;
    int rc;

    if ((unsigned)kind >= STORE_KIND_COUNT || name == NULL || alloc == NULL || bytes == NULL ||
        (n > 0 && values == NULL))
        return STORE_ERROR;
    if ((sql = malloc(sizeof(*sql))) == NULL)
        return STORE_NOMEM;
    rc = store_sql_get_fields(ENG(tx)->dialect, kind, name, fields, n, sql);
    if (rc == STORE_OK)
        rc = store__rec(tx, ENG(tx)->list(CONN(tx), sql, fields_row, &f, NULL));
    else
        SLOG(SLOG_ERROR, "get_fields_render", SLOG_S("kind", store_kinds[kind].table));
    free(sql);
    if (rc != STORE_OK)
        return rc;
    if (f.nomem)
        return STORE_NOMEM;
    return f.found ? STORE_OK : STORE_NOT_FOUND;
}

/* Would this principal change what a cached authentication holds? The
 * fields authz.c keeps: role, state, donor; and how it is found. */
static int principal_differs(const Tallinn__V1__Principal *a, const Tallinn__V1__Principal *b)
{
    const char *ad = a->donor != NULL ? a->donor : "", *bd = b->donor != NULL ? b->donor : "";
    const char *ac = a->cert_identity != NULL ? a->cert_identity : "";
    const char *bc = b->cert_identity != NULL ? b->cert_identity : "";

    return a->role != b->role || a->state != b->state || strcmp(ad, bd) != 0 || strcmp(ac, bc) != 0;
}

/* Does writing principal m (insert, or update of the stored one) move the
 * epoch? */
static int principal_moves_epoch(store_tx *tx, const ProtobufCMessage *m, const char *name,
                                 int insert, int *moves)
{
    ProtobufCMessage *old = NULL;
    int rc;

    *moves = 1;
    if (insert)
        return STORE_OK;
    rc = store_get(tx, STORE_PRINCIPAL, name, NULL, &old);
    if (rc == STORE_NOT_FOUND)
        return STORE_OK; /* the update answers NOT_FOUND */
    if (rc != STORE_OK)
        return rc;
    *moves = principal_differs((const Tallinn__V1__Principal *)old,
                               (const Tallinn__V1__Principal *)m);
    protobuf_c_message_free_unpacked(old, NULL);
    return STORE_OK;
}

/* ---- The change log: what a job changed, until its audit record ---- */

/* The kinds the change log records: the mechanism's resources and the
 * exchange rates they are valued at. Principals are not among them: their
 * last-use times change without a record. */
static int tracked(store_kind kind)
{
    return kind == STORE_DONOR || kind == STORE_PLEDGE || kind == STORE_NEED ||
           kind == STORE_MATCH || kind == STORE_RATE;
}

static void pending_free(store_pending_change *p)
{
    free(p->name);
    free(p->donor);
    free(p->need);
    free(p->data);
}

void store__changes_drop(store_tx *tx, size_t from)
{
    while (tx->n_changes > from)
        pending_free(&tx->changes[--tx->n_changes]);
    if (from == 0) {
        free(tx->changes);
        tx->changes = NULL;
        tx->cap_changes = 0;
        tx->changes_mark = 0;
    }
}

/* A text column of the kind by name, as a new string ("" when the kind has
 * no such column). */
static char *column_text(store_kind kind, const store_value *cols, const char *column)
{
    for (size_t i = 0; i < store_kinds[kind].n_columns; i++)
        if (strcmp(store_kinds[kind].columns[i].name, column) == 0 &&
            cols[i].type == STORE_VALUE_TEXT)
            return strndup(cols[i].len > 0 ? cols[i].p : "", cols[i].len);
    return strdup("");
}

static int column_int(store_kind kind, const store_value *cols, const char *column)
{
    for (size_t i = 0; i < store_kinds[kind].n_columns; i++)
        if (strcmp(store_kinds[kind].columns[i].name, column) == 0 &&
            cols[i].type == STORE_VALUE_INT)
            return (int)cols[i].i;
    return 0;
}

/* The pending change of the resource (its previous columns and bytes
 * freed), or a new one at the end; NULL when out of memory. A resource
 * written twice in one job keeps its first place. */
static store_pending_change *pending_slot(store_tx *tx, store_kind kind, const char *name,
                                          size_t name_len)
{
    store_pending_change *p;

    for (size_t i = 0; i < tx->n_changes; i++) {
        p = &tx->changes[i];
        if (p->kind == kind && strlen(p->name) == name_len &&
            memcmp(p->name, name, name_len) == 0) {
            free(p->data);
            free(p->donor);
            free(p->need);
            p->data = NULL;
            p->donor = p->need = NULL;
            return p;
        }
    }
    if (tx->n_changes == tx->cap_changes) {
        size_t cap = tx->cap_changes ? 2 * tx->cap_changes : 8;
        store_pending_change *grown = realloc(tx->changes, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        tx->changes = grown;
        tx->cap_changes = cap;
    }
    p = &tx->changes[tx->n_changes];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    if ((p->name = strndup(name, name_len)) == NULL)
        return NULL;
    tx->n_changes++;
    return p;
}

/* Drops a pending change that could not be completed (out of memory). */
static int pending_fail(store_tx *tx, store_pending_change *p)
{
    size_t i = (size_t)(p - tx->changes);

    pending_free(p);
    memmove(p, p + 1, (tx->n_changes - i - 1) * sizeof(*p));
    tx->n_changes--;
    return STORE_NOMEM;
}

/* Keeps a version the job just stored until its audit record (takes data),
 * with the bytes of its last change. */
static int pending_add(store_tx *tx, store_kind kind, const store_value *cols, uint8_t *data,
                       size_t len)
{
    store_pending_change *p = pending_slot(tx, kind, cols[0].p, cols[0].len);

    if (p == NULL) {
        free(data);
        return STORE_NOMEM;
    }
    p->donor = kind == STORE_PLEDGE || kind == STORE_MATCH ? column_text(kind, cols, "donor")
                                                            : strdup("");
    p->need = kind == STORE_MATCH ? column_text(kind, cols, "need") : strdup("");
    p->state = kind == STORE_NEED || kind == STORE_PLEDGE || kind == STORE_MATCH
                   ? column_int(kind, cols, "state")
                   : 0;
    p->deleted = 0;
    p->data = data;
    p->len = len;
    return p->donor == NULL || p->need == NULL ? pending_fail(tx, p) : STORE_OK;
}

/* Keeps a removal until the job's audit record: a row without bytes. */
static int pending_delete(store_tx *tx, store_kind kind, const char *name)
{
    store_pending_change *p = pending_slot(tx, kind, name, strlen(name));

    if (p == NULL)
        return STORE_NOMEM;
    p->donor = strdup("");
    p->need = strdup("");
    p->state = 0;
    p->deleted = 1;
    p->data = malloc(1);
    p->len = 0;
    return p->donor == NULL || p->need == NULL || p->data == NULL ? pending_fail(tx, p)
                                                                  : STORE_OK;
}

/* Writes the pending changes under the audit record `index`. */
static int changes_flush(store_tx *tx, int64_t index)
{
    int rc = STORE_OK;

    for (size_t i = 0; i < tx->n_changes && rc == STORE_OK; i++) {
        const store_pending_change *p = &tx->changes[i];
        store_change ch = {
            .index = index, .seq = (int)i, .kind = p->kind, .name = p->name,
            .deleted = p->deleted,
            .donor = p->donor, .need = p->need, .state = p->state, .data = p->data, .len = p->len,
        };
        rc = store__rec(tx, ENG(tx)->change_put(CONN(tx), &ch));
    }
    if (rc == STORE_OK)
        store__changes_drop(tx, 0);
    return rc;
}

static int put(store_tx *tx, store_kind kind, const ProtobufCMessage *msg, const uint8_t *packed,
               size_t packed_len, int insert)
{
    store_value cols[STORE_MAX_COLUMNS];
    store_folds folds = {0};
    size_t len;
    uint8_t *buf = NULL;
    int rc, moves = 0;

    if (!tx->write)
        return STORE_ERROR;
    if ((rc = store_kind_extract(kind, msg, cols, &folds)) != STORE_OK)
        goto done;
    if (kind == STORE_PRINCIPAL &&
        (rc = principal_moves_epoch(tx, msg, (const char *)cols[0].p, insert, &moves)) != STORE_OK)
        goto done;
    len = packed != NULL ? packed_len : protobuf_c_message_get_packed_size(msg);
    if ((buf = malloc(len ? len : 1)) == NULL) {
        rc = STORE_NOMEM;
        goto done;
    }
    if (packed != NULL)
        memcpy(buf, packed, len);
    else
        protobuf_c_message_pack(msg, buf);
    rc = store__rec(tx, ENG(tx)->put(CONN(tx), kind, cols, buf, len, insert));
    if (rc == STORE_OK && tx->s->opts.change_log && tracked(kind)) {
        rc = pending_add(tx, kind, cols, buf, len); /* it keeps buf */
        buf = NULL;
        goto done;
    }
    if (rc == STORE_OK && moves)
        rc = store__epoch_bump(tx);
done:
    free(buf);
    store_folds_free(&folds);
    return rc;
}

int store_insert(store_tx *tx, store_kind kind, const ProtobufCMessage *msg)
{
    return put(tx, kind, msg, NULL, 0, 1);
}

int store_update(store_tx *tx, store_kind kind, const ProtobufCMessage *msg)
{
    return put(tx, kind, msg, NULL, 0, 0);
}

int store_put_packed(store_tx *tx, store_kind kind, const ProtobufCMessage *msg,
                     const uint8_t *data, size_t len, int insert)
{
    if (data == NULL)
        return STORE_ERROR;
    return put(tx, kind, msg, data, len, insert);
}

int store_delete(store_tx *tx, store_kind kind, const char *name)
{
    int rc;

    if (!tx->write || (unsigned)kind >= STORE_KIND_COUNT || kind == STORE_PRINCIPAL ||
        name == NULL)
        return STORE_ERROR;
    rc = store__rec(tx, ENG(tx)->del(CONN(tx), kind, name));
    if (rc == STORE_OK && tx->s->opts.change_log && tracked(kind))
        rc = pending_delete(tx, kind, name);
    return rc;
}

/* ---- Lists ---- */

typedef struct list_ctx {
    const store_list_query *q;
    store_row_fn fn;
    void *ctx;
    int left, stopped, corrupt, nomem;
} list_ctx;

static int list_row(const uint8_t *data, size_t len, const store_value *cols, size_t n_cols,
                    void *p)
{
    list_ctx *l = p;
    const store_list_query *q = l->q;
    size_t i = (size_t)(q->limit - l->left);
    ProtobufCMessage *m = NULL;

    /* Rows answered as stored need no decoding: their values decide. */
    if (!q->stored_only &&
        (m = protobuf_c_message_unpack(store_kinds[q->kind].desc, q->alloc, len, data)) == NULL) {
        l->corrupt = 1;
        return 1;
    }
    if ((q->bytes != NULL && q->alloc != NULL &&
         copy_bytes(q->alloc, data, len, &q->bytes[i]) != 0) ||
        (q->n_fields > 0 && (n_cols != q->n_fields ||
                             copy_values(q->alloc, q->fields, cols, n_cols,
                                         &q->values[i * q->n_fields]) != 0))) {
        l->nomem = 1;
        return 1;
    }
    l->left--;
    if (l->fn(m, l->ctx) != 0)
        l->stopped = 1;
    return l->stopped || l->left == 0;
}

int store_list(store_tx *tx, const store_list_query *q, store_row_fn fn, void *ctx)
{
    list_ctx l = {.q = q, .fn = fn, .ctx = ctx};
    store_sql *sql;
    size_t arms, arm = 0;
    int rc = STORE_OK;

    if (q == NULL || (unsigned)q->kind >= STORE_KIND_COUNT || q->limit <= 0 ||
        (q->n_fields > 0 && (q->alloc == NULL || q->values == NULL)) ||
        (q->stored_only && (q->bytes == NULL || q->alloc == NULL)))
        return STORE_ERROR;
    if ((sql = malloc(sizeof(*sql))) == NULL)
        return STORE_NOMEM;
    l.left = q->limit;
    if (q->work != NULL)
        *q->work = 0;
    /* The rows after the cursor are those of arm 0, then arm 1, … (disjoint,
     * in order); each is read as its own index range until the page is full. */
    arms = q->after == NULL ? 1 : store_sql_seek_arms(q->order);
    if (arms == 0)
        rc = STORE_ERROR;
    for (; rc == STORE_OK && arm < arms && l.left > 0 && !l.stopped && !l.corrupt && !l.nomem;
         arm++) {
        rc = store_sql_list(ENG(tx)->dialect, q, q->after == NULL ? STORE_SQL_NO_SEEK : arm, sql);
        if (rc != STORE_OK) {
            SLOG(SLOG_ERROR, "list_render", SLOG_S("kind", store_kinds[q->kind].table));
            break;
        }
        rc = store__rec(tx, ENG(tx)->list(CONN(tx), sql, list_row, &l, q->work));
    }
    free(sql);
    if (rc == STORE_OK && l.nomem)
        rc = STORE_NOMEM;
    if (rc == STORE_OK && l.corrupt) {
        SLOG(SLOG_ERROR, "undecodable_row", SLOG_S("table", store_kinds[q->kind].table));
        rc = STORE_CORRUPT;
    }
    return rc;
}

/* ---- Named queries ---- */

int store_match_sum(store_tx *tx, const char *need, const char *pledge, uint32_t state_mask,
                    store_sum *nanos)
{
    *nanos = 0;
    if ((need == NULL) == (pledge == NULL))
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->match_sum(CONN(tx), need, pledge, state_mask, nanos));
}

int store_pledge_count(store_tx *tx, const char *donor, uint32_t except_mask, int64_t *count)
{
    return store__rec(tx, ENG(tx)->pledge_count(CONN(tx), donor, except_mask, count));
}

int store_donor_record(store_tx *tx, const char *donor, int sector, uint32_t state_mask,
                       int64_t *all, int64_t *in_sector)
{
    return store__rec(tx, ENG(tx)->donor_record(CONN(tx), donor, sector, state_mask, all, in_sector));
}

int store_donor_has_match(store_tx *tx, const char *need, const char *donor, uint32_t state_mask,
                          int *yes)
{
    return store__rec(tx, ENG(tx)->donor_has_match(CONN(tx), need, donor, state_mask, yes));
}

/* ---- Principals ---- */

int store_principal_set_token(store_tx *tx, const char *name, const uint8_t hash[32])
{
    int rc;

    if (!tx->write)
        return STORE_ERROR;
    if ((rc = store__rec(tx, ENG(tx)->principal_set_token(CONN(tx), name, hash))) != STORE_OK)
        return rc;
    return store__epoch_bump(tx);
}

int store_principal_by_token(store_tx *tx, const uint8_t hash[32], ProtobufCAllocator *alloc,
                             ProtobufCMessage **out)
{
    unpack_ctx u = {.desc = &tallinn__v1__principal__descriptor, .alloc = alloc};

    return unpacked(tx, ENG(tx)->principal_by_token(CONN(tx), hash, unpack_one, &u), &u,
                    "principals", out);
}

int store_principal_by_cert(store_tx *tx, const char *identity, ProtobufCAllocator *alloc,
                            ProtobufCMessage **out)
{
    unpack_ctx u = {.desc = &tallinn__v1__principal__descriptor, .alloc = alloc};

    *out = NULL;
    if (identity == NULL || identity[0] == '\0')
        return STORE_NOT_FOUND;
    return unpacked(tx, ENG(tx)->principal_by_cert(CONN(tx), identity, unpack_one, &u), &u,
                    "principals", out);
}

/* ---- The audit log ---- */

int store_audit_head(store_tx *tx, int64_t *size)
{
    return store__rec(tx, ENG(tx)->audit_head(CONN(tx), size));
}

int store_audit_head_set(store_tx *tx, int64_t size)
{
    if (!tx->write || size < 0)
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->audit_head_set(CONN(tx), size));
}

int store_audit_append(store_tx *tx, int64_t index, const uint8_t *data, size_t len)
{
    int rc;

    if (!tx->write || index < 0)
        return STORE_ERROR;
    if ((rc = store__rec(tx, ENG(tx)->audit_append(CONN(tx), index, data, len))) != STORE_OK)
        return rc;
    return changes_flush(tx, index);
}

int store_audit_leaf(store_tx *tx, int64_t index, uint8_t **data, size_t *len)
{
    return store__rec(tx, ENG(tx)->audit_leaf(CONN(tx), index, data, len));
}

int store_audit_size(store_tx *tx, int64_t *size, int64_t *count)
{
    return store__rec(tx, ENG(tx)->audit_size(CONN(tx), size, count));
}

int store_audit_scan(store_tx *tx, int64_t start, int64_t end, store_leaf_fn fn, void *ctx)
{
    return store__rec(tx, ENG(tx)->audit_scan(CONN(tx), start, end, fn, ctx));
}

int store_tile_put(store_tx *tx, int level, int64_t index, const uint8_t *hashes, size_t n)
{
    if (!tx->write || n == 0 || n > 256)
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->tile_put(CONN(tx), level, index, hashes, n));
}

int store_tile_get(store_tx *tx, int level, int64_t index, uint8_t hashes[256 * 32], size_t *n)
{
    return store__rec(tx, ENG(tx)->tile_get(CONN(tx), level, index, hashes, n));
}

int store_checkpoint_put(store_tx *tx, int64_t size, const uint8_t *note, size_t len)
{
    if (!tx->write)
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->checkpoint_put(CONN(tx), size, note, len, (int64_t)time(NULL)));
}

int store_checkpoint_get(store_tx *tx, int64_t size, uint8_t **note, size_t *len,
                         int64_t *size_out)
{
    return store__rec(tx, ENG(tx)->checkpoint_get(CONN(tx), size, note, len, size_out));
}

/* ---- The change log ---- */

int store_change_scan(store_tx *tx, int64_t from, int64_t to, int limit, store_change_fn fn,
                      void *ctx)
{
    if (limit <= 0 || fn == NULL)
        return STORE_ERROR;
    if (from < 0)
        from = 0; /* the baseline is no change */
    if (from >= to)
        return STORE_OK;
    return store__rec(tx, ENG(tx)->change_scan(CONN(tx), from, to, limit, fn, ctx));
}

int store_change_versions(store_tx *tx, store_kind kind, const char *name, int64_t from,
                          int64_t to, int descending, int limit, store_change_fn fn, void *ctx)
{
    if (limit <= 0 || fn == NULL || name == NULL || !tracked(kind))
        return STORE_ERROR;
    if (from >= to)
        return STORE_OK;
    return store__rec(tx, ENG(tx)->change_versions(CONN(tx), kind, name, from, to, descending,
                                                   limit, fn, ctx));
}

int store_change_live_match(store_tx *tx, const char *need, const char *donor,
                            uint32_t state_mask, int64_t at, int *yes)
{
    *yes = 0;
    if (need == NULL || donor == NULL)
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->change_live_match(CONN(tx), need, donor, state_mask, at, yes));
}

int store_change_start(store_tx *tx, int64_t *start)
{
    return store__rec(tx, ENG(tx)->change_start(CONN(tx), start));
}

/* ---- Witnesses of the audit log ---- */

int store_witness_size(store_tx *tx, const char *witness, int64_t *size)
{
    *size = 0;
    if (witness == NULL || witness[0] == '\0')
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->witness_size(CONN(tx), witness, size));
}

int store_witness_size_raise(store_tx *tx, const char *witness, int64_t size)
{
    if (!tx->write || witness == NULL || witness[0] == '\0' || size < 0)
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->witness_size_raise(CONN(tx), witness, size, (int64_t)time(NULL)));
}

int store_cosignature_put(store_tx *tx, int64_t size, const char *witness, const uint8_t *line,
                          size_t len)
{
    if (!tx->write || witness == NULL || witness[0] == '\0' || size < 0 || len == 0)
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->cosignature_put(CONN(tx), size, witness, line, len,
                                                   (int64_t)time(NULL)));
}

int store_cosignatures(store_tx *tx, int64_t size, store_cosignature_fn fn, void *ctx)
{
    return store__rec(tx, ENG(tx)->cosignatures(CONN(tx), size, fn, ctx));
}

int store_cosigned_size(store_tx *tx, int64_t before, int64_t count, int64_t *size)
{
    *size = 0;
    if (count < 1)
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->cosigned_size(CONN(tx), before, count, size));
}

/* ---- Remembered requests ---- */

int store_request_get(store_tx *tx, const char *principal, const char *method,
                      const char *request_id, uint8_t hash[32], uint8_t **response,
                      size_t *response_len)
{
    return store__rec(tx, ENG(tx)->request_get(CONN(tx), principal, method, request_id, hash, response,
                                        response_len));
}

int store_request_put(store_tx *tx, const char *principal, const char *method,
                      const char *request_id, const uint8_t hash[32], const uint8_t *response,
                      size_t response_len)
{
    if (!tx->write)
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->request_put(CONN(tx), principal, method, request_id, hash, response,
                                        response_len, (int64_t)time(NULL)));
}

int store_request_expire(store_tx *tx, int64_t max_age_s)
{
    if (!tx->write)
        return STORE_ERROR;
    return store__rec(tx, ENG(tx)->request_expire(CONN(tx), (int64_t)time(NULL) - max_age_s));
}
