/* visibility.c — need-to-know in one place: which stored resources a caller
 * may know exist, the one order in which every handler loads a resource the
 * caller named (visibility, existence, etag; the handler then checks state),
 * and who may choose the id of a new resource. A resource the caller may not
 * see is answered exactly like a missing one: the same status, the same
 * message, the same store queries. Lists apply the same rules as the
 * store's need-to-know scopes (store_scope; their SQL: store/store_sql.c). */
#include <string.h>

#include "domain.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

#define NEED_OPEN TALLINN__V1__NEED__STATE__STATE_OPEN
#define STANDARD TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD
#define RESTRICTED TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED

visibility_need visibility_need_of(const Tallinn__V1__Need *n)
{
    return (visibility_need){n->name, (int)n->state, (int)n->sensitivity};
}

int visibility_need_sees(store_tx *tx, const api_caller *caller, const visibility_need *n)
{
    int own = 0;

    switch (caller->role) {
    case API_ROLE_OBSERVER:
        return n->sensitivity != RESTRICTED;
    case API_ROLE_DONOR:
        if (caller->donor == NULL)
            return 0;
        if (n->state == NEED_OPEN && n->sensitivity == STANDARD)
            return 1; /* the common case needs no query */
        if (store_donor_has_match(tx, n->name, caller->donor, DOMAIN_LIVE_MATCH_STATES, &own) !=
            STORE_OK)
            return 0;
        return own;
    default:
        return 1;
    }
}

static int need_visible(store_tx *tx, const api_caller *caller, const Tallinn__V1__Need *n)
{
    visibility_need v = visibility_need_of(n);
    return visibility_need_sees(tx, caller, &v);
}

/* Is name "<donor>/pledges/<id>" of this donor? */
static int own_pledge(const api_caller *caller, const char *name)
{
    size_t n = caller->donor != NULL ? strlen(caller->donor) : 0;

    return n > 0 && strncmp(name, caller->donor, n) == 0 &&
           strncmp(name + n, "/pledges/", 9) == 0;
}

int visibility_sees(store_tx *tx, const api_caller *caller, store_kind kind,
                    const ProtobufCMessage *m)
{
    switch (kind) {
    case STORE_NEED:
        return need_visible(tx, caller, (const Tallinn__V1__Need *)m);
    case STORE_MATCH:
        return caller->role != API_ROLE_DONOR ||
               (caller->donor != NULL &&
                strcmp(((const Tallinn__V1__Match *)m)->donor, caller->donor) == 0);
    case STORE_PLEDGE:
        return caller->role != API_ROLE_DONOR || own_pledge(caller, api_get_string(m, "name"));
    default:
        return 1; /* donors (redacted for donors), principals (ADMIN, AUDITOR) */
    }
}

int needs_visible(store_tx *tx, const api_caller *caller, const Tallinn__V1__Need *n)
{
    return need_visible(tx, caller, n);
}

int visibility_sees_all(const api_caller *caller, store_kind kind)
{
    switch (kind) {
    case STORE_NEED:
        return caller->role != API_ROLE_DONOR && caller->role != API_ROLE_OBSERVER;
    case STORE_MATCH:
    case STORE_PLEDGE:
        return caller->role != API_ROLE_DONOR;
    default:
        return 1;
    }
}

static grpc_status_code load(store_tx *tx, rpc_call *call, store_kind kind, const char *name,
                             const char *etag, ProtobufCMessage **out, store_bytes *bytes)
{
    const api_caller *caller = api_caller_of(call);
    int rc = bytes != NULL
                 ? store_get_bytes(tx, kind, name, rpc_call_allocator(call), out, bytes)
                 : api_get(tx, call, kind, name, out);

    if (rc == STORE_OK && !visibility_sees(tx, caller, kind, *out)) {
        rc = STORE_NOT_FOUND;
    } else if (rc == STORE_NOT_FOUND && kind == STORE_NEED && caller->role == API_ROLE_DONOR &&
               caller->donor != NULL) {
        /* A hidden need cost a match query: a missing one costs the same. */
        int ignored;
        store_donor_has_match(tx, name, caller->donor, DOMAIN_LIVE_MATCH_STATES, &ignored);
    }
    if (rc == STORE_NOT_FOUND) {
        *out = NULL;
        return api_not_found(call, name);
    }
    if (rc != STORE_OK)
        return api_store_error(call, rc);
    return api_check_etag(call, *out, etag);
}

grpc_status_code visibility_load(store_tx *tx, rpc_call *call, store_kind kind, const char *name,
                                 const char *etag, ProtobufCMessage **out)
{
    return load(tx, call, kind, name, etag, out, NULL);
}

grpc_status_code visibility_load_bytes(store_tx *tx, rpc_call *call, store_kind kind,
                                       const char *name, ProtobufCMessage **out,
                                       store_bytes *bytes)
{
    return load(tx, call, kind, name, NULL, out, bytes);
}

/* The need schema's fields a visibility_need is read from. */
static const char *const need_fields[] = {"name", "state", "sensitivity"};
#define N_NEED_FIELDS (sizeof(need_fields) / sizeof(need_fields[0]))

int visibility_need_fields(const filter_field *out[3])
{
    const filter_schema *schema = store_filter_schema(STORE_NEED);

    for (size_t j = 0; j < N_NEED_FIELDS; j++) {
        out[j] = NULL;
        for (size_t i = 0; schema != NULL && i < schema->nfields; i++)
            if (strcmp(schema->fields[i].name, need_fields[j]) == 0)
                out[j] = &schema->fields[i];
        if (out[j] == NULL)
            return -1;
    }
    return 0;
}

grpc_status_code visibility_load_need_stored(store_tx *tx, rpc_call *call, const char *name,
                                             visibility_need *need, store_bytes *bytes)
{
    const api_caller *caller = api_caller_of(call);
    const filter_field *fields[N_NEED_FIELDS];
    filter_value v[N_NEED_FIELDS];
    int rc;

    if (visibility_need_fields(fields) != 0)
        return api_store_error(call, STORE_NOMEM);
    rc = store_get_fields(tx, STORE_NEED, name, fields, N_NEED_FIELDS, rpc_call_allocator(call),
                          bytes, v);
    if (rc == STORE_OK) {
        *need = (visibility_need){v[0].s, (int)v[1].i, (int)v[2].i};
        if (!visibility_need_sees(tx, caller, need))
            rc = STORE_NOT_FOUND;
    } else if (rc == STORE_NOT_FOUND && caller->role == API_ROLE_DONOR && caller->donor != NULL) {
        /* A hidden need cost a match query: a missing one costs the same. */
        int ignored;
        store_donor_has_match(tx, name, caller->donor, DOMAIN_LIVE_MATCH_STATES, &ignored);
    }
    if (rc == STORE_NOT_FOUND)
        return api_not_found(call, name);
    if (rc != STORE_OK)
        return api_store_error(call, rc);
    return GRPC_STATUS_OK;
}

static const char *collection(store_kind kind)
{
    switch (kind) {
    case STORE_NEED:
        return "needs";
    case STORE_MATCH:
        return "matches";
    case STORE_PLEDGE:
        return "pledges";
    default:
        return "resources";
    }
}

int visibility_check_id(rpc_call *call, store_kind kind, const char *field, const char *id)
{
    if (!api_check_id(call, field, id))
        return 0;
    if (id == NULL || id[0] == '\0' || visibility_sees_all(api_caller_of(call), kind))
        return 1;
    /* Decided before any lookup, so a taken id and a free one get the same
     * answer: "already exists" would confirm a resource the caller may not
     * see. */
    api_violation(call, field,
                  "leave %s empty (tallinnctl: no --id): you see only some %s, so the server "
                  "chooses the id; set request_id to retry safely (tallinnctl sets one)",
                  field, collection(kind));
    return 0;
}
