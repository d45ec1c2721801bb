/* changes_view.c — need-to-know over the change log: which versions a
 * caller's reads would have shown at a given position (visibility.c's rules,
 * with a DONOR's live matches as of that position), redaction as on reads,
 * and one position rendered for a caller — the resources it may see after
 * the change, and a tombstone for each it saw before and may not see after.
 * WatchChanges and ListHistory both decide here, so a resource's history
 * shows exactly the versions the feed showed. */
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/validate.h"

#define NEED_OPEN TALLINN__V1__NEED__STATE__STATE_OPEN
#define STANDARD TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD
#define RESTRICTED TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED

/* ---- Kinds and names ---- */

int changes_kind_of_name(const char *name, store_kind *kind)
{
    size_t len = name != NULL ? strlen(name) : 0;

    if (len == 0)
        return -1;
    if (validate_need_name(name, len, NULL) == VALIDATE_OK)
        *kind = STORE_NEED;
    else if (validate_match_name(name, len, NULL) == VALIDATE_OK)
        *kind = STORE_MATCH;
    else if (validate_pledge_name(name, len, NULL, NULL) == VALIDATE_OK)
        *kind = STORE_PLEDGE;
    else if (validate_donor_name(name, len, NULL) == VALIDATE_OK)
        *kind = STORE_DONOR;
    else if (validate_exchange_rate_name(name, len, NULL) == VALIDATE_OK)
        *kind = STORE_RATE;
    else
        return -1;
    return 0;
}

Tallinn__V1__ResourceKind changes_kind_to_proto(store_kind kind)
{
    switch (kind) {
    case STORE_DONOR:
        return TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_DONOR;
    case STORE_PLEDGE:
        return TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_PLEDGE;
    case STORE_NEED:
        return TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_NEED;
    case STORE_MATCH:
        return TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_MATCH;
    case STORE_RATE:
        return TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_EXCHANGE_RATE;
    default:
        return TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_UNSPECIFIED;
    }
}

int changes_kind_from_proto(Tallinn__V1__ResourceKind k, store_kind *kind)
{
    switch (k) {
    case TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_DONOR:
        *kind = STORE_DONOR;
        return 0;
    case TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_PLEDGE:
        *kind = STORE_PLEDGE;
        return 0;
    case TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_NEED:
        *kind = STORE_NEED;
        return 0;
    case TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_MATCH:
        *kind = STORE_MATCH;
        return 0;
    case TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_EXCHANGE_RATE:
        *kind = STORE_RATE;
        return 0;
    default:
        return -1;
    }
}

/* The roles whose Get method of the kind authz.c's table allows (GetNeed,
 * GetDonor, GetExchangeRate: staff, DONOR, OBSERVER, AUDITOR; GetPledge,
 * GetMatch: staff, DONOR, AUDITOR). integration.changes checks every role's
 * feed against its reads, so a change to the table that is not made here
 * fails there. */
int changes_kind_readable(const api_caller *caller, store_kind kind)
{
    switch (caller->role) {
    case API_ROLE_FRONT_OFFICE:
    case API_ROLE_BACK_OFFICE:
    case API_ROLE_COORDINATOR:
    case API_ROLE_DONOR:
    case API_ROLE_AUDITOR:
        return kind == STORE_NEED || kind == STORE_DONOR || kind == STORE_PLEDGE ||
               kind == STORE_MATCH || kind == STORE_RATE;
    case API_ROLE_OBSERVER:
        return kind == STORE_NEED || kind == STORE_DONOR || kind == STORE_RATE;
    default:
        return 0;
    }
}

/* ---- Versions ---- */

int changes_version_copy(const store_change *ch, change_version *out)
{
    memset(out, 0, sizeof(*out));
    if ((unsigned)ch->kind >= STORE_KIND_COUNT || (out->name = strdup(ch->name)) == NULL)
        return (unsigned)ch->kind >= STORE_KIND_COUNT ? STORE_CORRUPT : STORE_NOMEM;
    out->index = ch->index;
    out->seq = ch->seq;
    out->kind = ch->kind;
    out->deleted = ch->deleted;
    out->msg = protobuf_c_message_unpack(store_kind_descriptor(ch->kind), NULL, ch->len, ch->data);
    if (out->msg == NULL) {
        free(out->name);
        out->name = NULL;
        return STORE_CORRUPT;
    }
    return STORE_OK;
}

void changes_version_free(change_version *v)
{
    if (v == NULL)
        return;
    free(v->name);
    if (v->msg != NULL)
        protobuf_c_message_free_unpacked(v->msg, NULL);
    memset(v, 0, sizeof(*v));
}

int changes_versions_collect(const store_change *ch, void *p)
{
    change_versions *r = p;

    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : (r->chunk ? r->chunk : 16);
        change_version *grown = realloc(r->v, cap * sizeof(*grown));
        if (grown == NULL) {
            r->rc = STORE_NOMEM;
            return 1;
        }
        r->v = grown;
        r->cap = cap;
    }
    if ((r->rc = changes_version_copy(ch, &r->v[r->n])) != STORE_OK)
        return 1;
    r->n++;
    return 0;
}

void changes_versions_free(change_versions *r)
{
    for (size_t i = 0; i < r->n; i++)
        changes_version_free(&r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
    r->rc = STORE_OK;
}

typedef struct one_version {
    change_version *out;
    int rc, found;
} one_version;

static int take_version(const store_change *ch, void *p)
{
    one_version *o = p;

    o->rc = changes_version_copy(ch, o->out);
    o->found = o->rc == STORE_OK;
    return 1;
}

int changes_version_before(store_tx *tx, store_kind kind, const char *name, int64_t before,
                           change_version *out)
{
    one_version o = {.out = out};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = store_change_versions(tx, kind, name, -1, before, 1, 1, take_version, &o);
    if (rc != STORE_OK)
        return rc;
    if (o.rc != STORE_OK)
        return o.rc;
    return o.found ? STORE_OK : STORE_NOT_FOUND;
}

/* ---- Need-to-know at a position ---- */

static int own_pledge(const api_caller *caller, const char *name)
{
    size_t n = caller->donor != NULL ? strlen(caller->donor) : 0;

    return n > 0 && name != NULL && strncmp(name, caller->donor, n) == 0 &&
           strncmp(name + n, "/pledges/", 9) == 0;
}

int changes_sees_at(store_tx *tx, const api_caller *caller, store_kind kind,
                    const ProtobufCMessage *m, int deleted, int64_t at, int *sees)
{
    const Tallinn__V1__Need *n;
    int own = 0, rc;

    *sees = 0;
    if (m == NULL || deleted || !changes_kind_readable(caller, kind))
        return STORE_OK;
    switch (kind) {
    case STORE_NEED:
        n = (const Tallinn__V1__Need *)m;
        if (caller->role == API_ROLE_OBSERVER) {
            *sees = n->sensitivity != RESTRICTED;
        } else if (caller->role == API_ROLE_DONOR) {
            if (caller->donor == NULL)
                return STORE_OK;
            if (n->state == NEED_OPEN && n->sensitivity == STANDARD) {
                *sees = 1;
                return STORE_OK;
            }
            rc = store_change_live_match(tx, n->name, caller->donor, DOMAIN_LIVE_MATCH_STATES, at,
                                         &own);
            if (rc != STORE_OK)
                return rc;
            *sees = own;
        } else {
            *sees = 1;
        }
        return STORE_OK;
    case STORE_MATCH:
        *sees = caller->role != API_ROLE_DONOR ||
                (caller->donor != NULL &&
                 strcmp(((const Tallinn__V1__Match *)m)->donor, caller->donor) == 0);
        return STORE_OK;
    case STORE_PLEDGE:
        *sees = caller->role != API_ROLE_DONOR || own_pledge(caller, api_get_string(m, "name"));
        return STORE_OK;
    default:
        /* donors (redacted for donors), exchange rates: everyone who reads them */
        *sees = 1;
        return STORE_OK;
    }
}

#define REDACT_MAX_FIELDS 32

void changes_redact(const api_caller *caller, store_kind kind, ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char *was[REDACT_MAX_FIELDS] = {0};

    /* The reads' own redaction, on a message unpacked with malloc: the
     * strings it replaces are freed here, since it only swaps pointers. */
    for (unsigned i = 0; i < d->n_fields && i < REDACT_MAX_FIELDS; i++)
        if (d->fields[i].type == PROTOBUF_C_TYPE_STRING &&
            d->fields[i].label != PROTOBUF_C_LABEL_REPEATED)
            was[i] = *(char **)((char *)m + d->fields[i].offset);
    if (kind == STORE_NEED)
        needs_redact(caller, (Tallinn__V1__Need *)m);
    else if (kind == STORE_DONOR)
        donors_redact(caller, (Tallinn__V1__Donor *)m);
    for (unsigned i = 0; i < d->n_fields && i < REDACT_MAX_FIELDS; i++)
        if (was[i] != NULL && was[i] != *(char **)((char *)m + d->fields[i].offset) &&
            was[i] != (char *)d->fields[i].default_value)
            free(was[i]);
}

void changes_set_resource(ProtobufCMessage *holder, store_kind kind, ProtobufCMessage *m)
{
    static const char *const fields[STORE_KIND_COUNT] = {
        [STORE_DONOR] = "donor", [STORE_PLEDGE] = "pledge", [STORE_NEED] = "need",
        [STORE_MATCH] = "match", [STORE_RATE] = "exchange_rate",
    };
    const ProtobufCFieldDescriptor *f;

    if ((unsigned)kind >= STORE_KIND_COUNT || fields[kind] == NULL ||
        (f = api_field(holder->descriptor, fields[kind])) == NULL)
        return;
    *(ProtobufCMessage **)((char *)holder + f->offset) = m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)((char *)holder + f->quantifier_offset) = f->id;
}

/* ---- One position for one caller ---- */

static int wanted(const changes_filter *f, store_kind kind, const char *name)
{
    if (f->kinds != 0 && (f->kinds & (1u << kind)) == 0)
        return 0;
    return f->resource == NULL || f->resource[0] == '\0' || strcmp(f->resource, name) == 0;
}

static int out_add(changes_out **out, size_t *n, size_t *cap, store_kind kind, const char *name,
                   ProtobufCMessage *msg)
{
    changes_out *o;

    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 8;
        changes_out *grown = realloc(*out, c * sizeof(*grown));
        if (grown == NULL)
            return STORE_NOMEM;
        *out = grown;
        *cap = c;
    }
    o = &(*out)[*n];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->tombstone = msg == NULL;
    o->msg = msg;
    if ((o->name = strdup(name)) == NULL)
        return STORE_NOMEM;
    (*n)++;
    return STORE_OK;
}

/* Adds the version `after` (a copy, redacted) when the caller sees it at
 * position at, or a tombstone when it saw `before` just before (at at - 1)
 * and does not see `after`; nothing otherwise. before may be NULL (no
 * earlier version). With only_news, a version the caller saw before too is
 * not added either (the resource itself did not change). */
static int add_transition(store_tx *tx, const api_caller *caller, const change_version *after,
                          const change_version *before, int64_t at, int only_news,
                          changes_out **out, size_t *n, size_t *cap)
{
    int now, then = 0, rc;
    ProtobufCMessage *copy;
    uint8_t *buf;
    size_t len;

    if ((rc = changes_sees_at(tx, caller, after->kind, after->msg, after->deleted, at, &now)) !=
        STORE_OK)
        return rc;
    if ((!now || only_news) && before != NULL &&
        (rc = changes_sees_at(tx, caller, before->kind, before->msg, before->deleted, at - 1,
                              &then)) != STORE_OK)
        return rc;
    if (!now)
        return then ? out_add(out, n, cap, after->kind, after->name, NULL) : STORE_OK;
    if (only_news && then)
        return STORE_OK;
    /* A copy the caller's view may be cut from (the row stays as stored). */
    len = protobuf_c_message_get_packed_size(after->msg);
    if ((buf = malloc(len ? len : 1)) == NULL)
        return STORE_NOMEM;
    protobuf_c_message_pack(after->msg, buf);
    copy = protobuf_c_message_unpack(after->msg->descriptor, NULL, len, buf);
    free(buf);
    if (copy == NULL)
        return STORE_NOMEM;
    changes_redact(caller, after->kind, copy);
    if ((rc = out_add(out, n, cap, after->kind, after->name, copy)) != STORE_OK)
        protobuf_c_message_free_unpacked(copy, NULL);
    return rc;
}

static int live(int state)
{
    return (DOMAIN_LIVE_MATCH_STATES & (1u << state)) != 0;
}

/* A DONOR's own match became live or stopped being live at position at: the
 * need it is on may have come into, or gone out of, the donor's sight
 * without changing itself. */
static int need_sight(store_tx *tx, const api_caller *caller, const changes_filter *f,
                      const change_version *row, const change_version *rows, size_t n_rows,
                      int64_t at, changes_out **out, size_t *n, size_t *cap)
{
    const Tallinn__V1__Match *x = (const Tallinn__V1__Match *)row->msg;
    change_version prev, need;
    int was = 0, is, rc;

    if (caller->role != API_ROLE_DONOR || caller->donor == NULL ||
        strcmp(x->donor, caller->donor) != 0 || !wanted(f, STORE_NEED, x->need))
        return STORE_OK;
    for (size_t i = 0; i < n_rows; i++)
        if (rows[i].kind == STORE_NEED && strcmp(rows[i].name, x->need) == 0)
            return STORE_OK; /* the need changed here too: its own row decides */
    rc = changes_version_before(tx, STORE_MATCH, row->name, at, &prev);
    if (rc == STORE_OK)
        was = !prev.deleted && live(((const Tallinn__V1__Match *)prev.msg)->state);
    changes_version_free(&prev);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND)
        return rc;
    is = !row->deleted && live(x->state);
    if (was == is)
        return STORE_OK;
    /* The need as it stands at this position (unchanged here). */
    if ((rc = changes_version_before(tx, STORE_NEED, x->need, at, &need)) != STORE_OK)
        return rc == STORE_NOT_FOUND ? STORE_OK : rc;
    rc = add_transition(tx, caller, &need, &need, at, 1, out, n, cap);
    changes_version_free(&need);
    return rc;
}

/* Can a version the caller does not see follow one it saw? Only a need's
 * (its state or sensitivity, a DONOR's matches) or a deleted one: whose
 * pledge or match it is never changes, and donors are seen by all. */
static int may_hide(const api_caller *caller, const change_version *r)
{
    return r->deleted || (r->kind == STORE_NEED && (caller->role == API_ROLE_DONOR ||
                                                    caller->role == API_ROLE_OBSERVER));
}

int changes_render(store_tx *tx, const api_caller *caller, const changes_filter *f,
                   const change_version *rows, size_t n, changes_out **out, size_t *n_out,
                   size_t *cap_out)
{
    int rc = STORE_OK;

    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        const change_version *r = &rows[i];
        change_version prev;
        int sees;

        if (!changes_kind_readable(caller, r->kind))
            continue;
        if (wanted(f, r->kind, r->name)) {
            /* The earlier version matters only when this one is not shown. */
            if ((rc = changes_sees_at(tx, caller, r->kind, r->msg, r->deleted, r->index, &sees)) !=
                STORE_OK)
                break;
            if (sees || !may_hide(caller, r)) {
                rc = add_transition(tx, caller, r, NULL, r->index, 0, out, n_out, cap_out);
            } else {
                rc = changes_version_before(tx, r->kind, r->name, r->index, &prev);
                if (rc == STORE_OK || rc == STORE_NOT_FOUND)
                    rc = add_transition(tx, caller, r, rc == STORE_OK ? &prev : NULL, r->index, 0,
                                        out, n_out, cap_out);
                changes_version_free(&prev);
            }
        }
        if (rc == STORE_OK && r->kind == STORE_MATCH)
            rc = need_sight(tx, caller, f, r, rows, n, r->index, out, n_out, cap_out);
    }
    return rc;
}

void changes_out_free(changes_out *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(o[i].name);
        if (o[i].msg != NULL)
            protobuf_c_message_free_unpacked(o[i].msg, NULL);
    }
}
