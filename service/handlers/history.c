/* history.c — ChangeService.ListHistory: one resource's committed changes,
 * oldest first, each joined with the audit record committed with it (who,
 * when, which method, the record's bytes and, on request, its inclusion
 * proof), showing exactly the versions WatchChanges showed the caller
 * (changes_view.c) and withholding who acted wherever the record names a
 * resource the caller may not see. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "changes.h"
#include "tallinn/v1/audit.pb-c.h"

#define HISTORY_CHUNK 128 /* versions read per query while filling a page */

/* The version's state as its value name without "STATE_"; "" for a kind
 * without a state. On the call. */
static const char *state_text(rpc_call *call, const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f = api_field(m->descriptor, "state");
    const ProtobufCEnumValue *v;

    if (f == NULL || f->type != PROTOBUF_C_TYPE_ENUM)
        return "";
    v = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)((const char *)m +
                                                                           f->offset));
    if (v == NULL)
        return "UNKNOWN";
    return rpc_call_strdup(call, strncmp(v->name, "STATE_", 6) == 0 ? v->name + 6 : v->name);
}

static int state_of(const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f = api_field(m->descriptor, "state");

    return f != NULL && f->type == PROTOBUF_C_TYPE_ENUM
               ? *(const int *)((const char *)m + f->offset)
               : 0;
}

/* The version as the caller's reads show it, on the call's memory. */
static ProtobufCMessage *caller_copy(rpc_call *call, const api_caller *caller,
                                     const change_version *v)
{
    size_t len = protobuf_c_message_get_packed_size(v->msg);
    uint8_t *buf = rpc_call_alloc(call, len ? len : 1);
    ProtobufCMessage *m;

    if (buf == NULL)
        return NULL;
    protobuf_c_message_pack(v->msg, buf);
    if ((m = protobuf_c_message_unpack(v->msg->descriptor, rpc_call_allocator(call), len, buf)) ==
        NULL)
        return NULL;
    if (v->kind == STORE_NEED)
        needs_redact(caller, (Tallinn__V1__Need *)m);
    else if (v->kind == STORE_DONOR)
        donors_redact(caller, (Tallinn__V1__Donor *)m);
    return m;
}

/* Does the caller see resource `name` as it was at position at (the record
 * of another resource's change names it)? */
static int sees_named(store_tx *tx, const api_caller *caller, const char *name, int64_t at,
                      int *yes)
{
    change_versions r = {.chunk = HISTORY_CHUNK};
    store_kind kind;
    int rc;

    *yes = 0;
    if (changes_kind_of_name(name, &kind) != 0)
        return STORE_OK;
    rc = store_change_versions(tx, kind, name, -1, at + 1, 1, 1, changes_versions_collect, &r);
    if (rc == STORE_OK)
        rc = r.rc;
    if (rc == STORE_OK && r.n == 1)
        rc = changes_sees_at(tx, caller, kind, r.v[0].msg, r.v[0].deleted, at, yes);
    changes_versions_free(&r);
    return rc;
}

typedef struct page {
    rpc_call *call;
    api *api;
    const api_caller *caller;
    const char *name;
    Tallinn__V1__HistoryEntry **entries;
    size_t n, max;
    int restricted_read; /* a RESTRICTED need's version is handed out */
} page;

/* The audit record at index, its bytes kept on the call. */
static int load_record(page *pg, store_tx *tx, int64_t index, Tallinn__V1__AuditRecord **r,
                       ProtobufCBinaryData *bytes)
{
    uint8_t *data;
    size_t len;
    int rc = store_audit_leaf(tx, index, &data, &len);

    if (rc != STORE_OK)
        return rc;
    bytes->data = rpc_call_alloc(pg->call, len ? len : 1);
    if (bytes->data == NULL) {
        free(data);
        return STORE_NOMEM;
    }
    memcpy(bytes->data, data, len);
    bytes->len = len;
    free(data);
    *r = tallinn__v1__audit_record__unpack(rpc_call_allocator(pg->call), len, bytes->data);
    return *r != NULL ? STORE_OK : STORE_CORRUPT;
}

/* One entry for version v (prev: the one before, or NULL), if the caller
 * sees it, or saw prev and no longer sees v (hidden). */
static int add_entry(page *pg, store_tx *tx, const change_version *v, const change_version *prev)
{
    const api_caller *caller = pg->caller;
    Tallinn__V1__HistoryEntry *e;
    Tallinn__V1__AuditRecord *r;
    ProtobufCBinaryData bytes;
    int now, then = 0, identity = 0, rc;

    if ((rc = changes_sees_at(tx, caller, v->kind, v->msg, v->deleted, v->index, &now)) !=
        STORE_OK)
        return rc;
    if (!now && prev != NULL &&
        (rc = changes_sees_at(tx, caller, prev->kind, prev->msg, prev->deleted, v->index - 1,
                              &then)) != STORE_OK)
        return rc;
    if (!now && !then)
        return STORE_OK; /* never shown: not even its place */
    if ((e = rpc_call_alloc(pg->call, sizeof(*e))) == NULL)
        return STORE_NOMEM;
    tallinn__v1__history_entry__init(e);
    if ((rc = load_record(pg, tx, v->index, &r, &bytes)) != STORE_OK)
        return rc;
    e->index = v->index;
    e->time = r->time;
    pg->entries[pg->n++] = e;
    if (!now) {
        e->hidden = 1;
        return STORE_OK;
    }
    e->role = r->role;
    e->method = r->method;
    /* Who acted, and the record that proves it, only where the record names
     * nothing the caller may not see; never to an OBSERVER. */
    if (caller->role != API_ROLE_OBSERVER) {
        if (strcmp(r->resource, pg->name) == 0)
            identity = 1;
        else if ((rc = sees_named(tx, caller, r->resource, v->index, &identity)) != STORE_OK)
            return rc;
    }
    if (identity) {
        e->principal = r->principal;
        e->request_id = r->request_id;
        e->record = bytes;
    }
    e->state_before = prev != NULL ? (char *)state_text(pg->call, prev->msg) : (char *)"";
    e->state_after = (char *)state_text(pg->call, v->msg);
    if (prev == NULL || state_of(prev->msg) != state_of(v->msg)) {
        const char *reason = api_get_string(v->msg, "state_reason");
        e->reason = rpc_call_strdup(pg->call, reason != NULL ? reason : "");
    }
    if (e->state_before == NULL || e->state_after == NULL || e->reason == NULL)
        return STORE_NOMEM;
    {
        ProtobufCMessage *m = caller_copy(pg->call, caller, v);
        if (m == NULL)
            return STORE_NOMEM;
        changes_set_resource(&e->base, v->kind, m);
        if (v->kind == STORE_NEED && ((Tallinn__V1__Need *)m)->sensitivity ==
                                         TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED)
            pg->restricted_read = 1;
    }
    return STORE_OK;
}

/* Fills the page with the entries after position `after`; *cursor gets the
 * last position considered and *more whether versions remain beyond it. */
static int fill(page *pg, store_tx *tx, store_kind kind, int64_t from, int64_t head,
                int64_t *cursor, int *more)
{
    change_version prev;
    int have_prev, rc;

    *more = 0;
    *cursor = from - 1;
    rc = changes_version_before(tx, kind, pg->name, from, &prev);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND)
        return rc;
    have_prev = rc == STORE_OK;
    rc = STORE_OK;
    while (rc == STORE_OK && pg->n < pg->max && from < head) {
        change_versions r = {.chunk = HISTORY_CHUNK};
        size_t i;

        rc = store_change_versions(tx, kind, pg->name, from, head, 0, HISTORY_CHUNK,
                                   changes_versions_collect, &r);
        if (rc == STORE_OK)
            rc = r.rc;
        for (i = 0; rc == STORE_OK && i < r.n && pg->n < pg->max; i++) {
            rc = add_entry(pg, tx, &r.v[i], have_prev ? &prev : NULL);
            *cursor = r.v[i].index;
            changes_version_free(&prev);
            prev = r.v[i]; /* moved */
            memset(&r.v[i], 0, sizeof(r.v[i]));
            have_prev = 1;
        }
        if (rc == STORE_OK && i < r.n)
            *more = 1;
        if (r.n < HISTORY_CHUNK)
            from = head; /* read to the end */
        else
            from = *cursor + 1;
        changes_versions_free(&r);
    }
    if (rc == STORE_OK && !*more && pg->n == pg->max && *cursor + 1 < head) {
        /* The page is full at a chunk's end: is there anything after it? */
        change_versions r = {.chunk = HISTORY_CHUNK};
        rc = store_change_versions(tx, kind, pg->name, *cursor + 1, head, 0, 1,
                                   changes_versions_collect, &r);
        if (rc == STORE_OK)
            rc = r.rc;
        *more = r.n > 0;
        changes_versions_free(&r);
    }
    changes_version_free(&prev);
    return rc;
}

/* Inclusion proofs of the page's records in the latest checkpoint's tree. */
static int prove(page *pg, store_tx *tx, Tallinn__V1__ListHistoryResponse *out)
{
    uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_SIZE];
    uint8_t *note;
    size_t len, n;
    int64_t size;
    int rc;

    if (pg->api->audit == NULL)
        return STORE_ERROR;
    if ((rc = store_checkpoint_get(tx, -1, &note, &len, &size)) != STORE_OK)
        return rc;
    out->signed_checkpoint.data = rpc_call_alloc(pg->call, len);
    if (out->signed_checkpoint.data == NULL) {
        free(note);
        return STORE_NOMEM;
    }
    memcpy(out->signed_checkpoint.data, note, len);
    out->signed_checkpoint.len = len;
    free(note);
    for (size_t i = 0; i < pg->n; i++) {
        Tallinn__V1__HistoryEntry *e = pg->entries[i];
        uint8_t *bytes;
        if (e->record.len == 0)
            continue;
        if (e->index >= size ||
            audit_inclusion_proof(pg->api->audit, tx, (uint64_t)e->index, (uint64_t)size, proof,
                                  &n) != 0)
            return STORE_CORRUPT;
        e->inclusion_proof = rpc_call_alloc(pg->call, (n + 1) * sizeof(*e->inclusion_proof));
        bytes = rpc_call_alloc(pg->call, n * MERKLE_HASH_SIZE + 1);
        if (e->inclusion_proof == NULL || bytes == NULL)
            return STORE_NOMEM;
        for (size_t k = 0; k < n; k++) {
            memcpy(bytes + k * MERKLE_HASH_SIZE, proof[k], MERKLE_HASH_SIZE);
            e->inclusion_proof[k].data = bytes + k * MERKLE_HASH_SIZE;
            e->inclusion_proof[k].len = MERKLE_HASH_SIZE;
        }
        e->n_inclusion_proof = n;
    }
    return STORE_OK;
}

/* The page token's position, or -1 (none). */
static grpc_status_code token_position(rpc_call *call, api *a, const char *token,
                                       const uint8_t binding[PAGETOKEN_BINDINGBYTES],
                                       int64_t *after)
{
    pagetoken tok;
    int rc;

    *after = -1;
    if (token == NULL || token[0] == '\0')
        return GRPC_STATUS_OK;
    rc = pagetoken_decode(token, strlen(token), a->page_key, binding, (int64_t)time(NULL),
                          PAGETOKEN_DEFAULT_MAX_AGE, &tok);
    if (rc == PAGETOKEN_OK && (tok.nkeys != 1 || tok.keys[0].kind != PAGETOKEN_INT))
        rc = PAGETOKEN_ERR_MALFORMED;
    if (rc != PAGETOKEN_OK) {
        const char *why = rc == PAGETOKEN_ERR_WRONG_BINDING
                              ? "page_token belongs to another resource or caller; send the same "
                                "request as for the first page"
                          : rc == PAGETOKEN_ERR_EXPIRED
                              ? "page_token has expired; start again without it"
                              : "page_token is not one this server issued";
        api_violation(call, "page_token", "%s", why);
        return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
    }
    *after = tok.keys[0].i;
    return GRPC_STATUS_OK;
}

static grpc_status_code next_token(rpc_call *call, api *a, const char *name,
                                   const uint8_t binding[PAGETOKEN_BINDINGBYTES], int64_t cursor,
                                   char **out)
{
    pagetoken tok;
    char *buf = rpc_call_alloc(call, PAGETOKEN_MAX_LEN + 1);

    memset(&tok, 0, sizeof(tok));
    memcpy(tok.binding, binding, PAGETOKEN_BINDINGBYTES);
    tok.issue_time = (int64_t)time(NULL);
    tok.nkeys = 1;
    tok.keys[0].kind = PAGETOKEN_INT;
    tok.keys[0].i = cursor;
    tok.last_id.kind = PAGETOKEN_BYTES;
    tok.last_id.bytes = (const uint8_t *)name;
    tok.last_id.len = strlen(name);
    if (buf == NULL ||
        pagetoken_encode(&tok, a->page_key, buf, PAGETOKEN_MAX_LEN + 1, NULL) != PAGETOKEN_OK)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot issue a page token");
    *out = buf;
    return GRPC_STATUS_OK;
}

grpc_status_code history_list(rpc_call *call, const ProtobufCMessage *req,
                              ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__ListHistoryRequest *in = (const void *)req;
    api *a = ((changes_ctx *)ctx)->api;
    const api_caller *caller = api_caller_of(call);
    Tallinn__V1__ListHistoryResponse *out = rpc_call_alloc(call, sizeof(*out));
    uint8_t binding[PAGETOKEN_BINDINGBYTES];
    page pg = {.call = call, .api = a, .caller = caller, .name = in->name};
    ProtobufCMessage *cur;
    int64_t after, head = 0, start = 0, cursor;
    int32_t size = in->page_size;
    store_kind kind = STORE_NEED;
    store_tx *tx;
    grpc_status_code code;
    int more = 0, rc;

    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__list_history_response__init(out);
    if (in->name == NULL || in->name[0] == '\0')
        api_violation(call, "name", "required: needs/{need}, matches/{match}, donors/{donor}, "
                                    "donors/{donor}/pledges/{pledge} or "
                                    "exchangeRates/{exchange_rate}");
    else if (changes_kind_of_name(in->name, &kind) != 0)
        api_violation(call, "name",
                      "\"%.80s\" is not a resource name like needs/{need}, matches/{match}, "
                      "donors/{donor}, donors/{donor}/pledges/{pledge} or "
                      "exchangeRates/{exchange_rate}",
                      in->name);
    if (size < 0)
        api_violation(call, "page_size", "must not be negative (0 means %d, at most %d)",
                      API_PAGE_DEFAULT, API_PAGE_MAX);
    if ((code = api_violations_status(call, "request")) != GRPC_STATUS_OK)
        return code;
    size = size == 0 ? API_PAGE_DEFAULT : size > API_PAGE_MAX ? API_PAGE_MAX : size;
    if (pagetoken_bind("history", in->name, "", "", caller->principal, binding) != PAGETOKEN_OK)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot prepare the list");
    if ((code = token_position(call, a, in->page_token, binding, &after)) != GRPC_STATUS_OK)
        return code;
    pg.max = (size_t)size;
    if ((pg.entries = rpc_call_alloc(call, pg.max * sizeof(*pg.entries))) == NULL)
        return api_store_error(call, STORE_NOMEM);

    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    /* Visibility first: a resource the caller may not read now has no
     * history for it, exactly as GetNeed answers. */
    if ((code = visibility_load(tx, call, kind, in->name, NULL, &cur)) != GRPC_STATUS_OK)
        goto done;
    if ((rc = store_audit_head(tx, &head)) != STORE_OK ||
        (rc = store_change_start(tx, &start)) != STORE_OK ||
        (rc = fill(&pg, tx, kind, after + 1 > start ? after + 1 : start, head, &cursor, &more)) !=
            STORE_OK ||
        (in->include_proofs && (rc = prove(&pg, tx, out)) != STORE_OK)) {
        code = api_store_error(call, rc);
        goto done;
    }
done:
    store_read_end(tx);
    if (code != GRPC_STATUS_OK)
        return code;
    /* The versions of a RESTRICTED need are read like the need itself. */
    if (pg.restricted_read) {
        const char *name = in->name;
        if ((code = api_audit_reads(call, a, &name, 1)) != GRPC_STATUS_OK)
            return code;
    }
    out->entries = pg.entries;
    out->n_entries = pg.n;
    out->history_start_index = start;
    out->next_page_token = "";
    if (more && (code = next_token(call, a, in->name, binding, cursor, &out->next_page_token)) !=
                    GRPC_STATUS_OK)
        return code;
    *resp = &out->base;
    return GRPC_STATUS_OK;
}
