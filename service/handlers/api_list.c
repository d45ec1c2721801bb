/* api_list.c — keyset-paged Lists: paging, filter and order_by checked
 * against the caller's role, authenticated page tokens, one page read in a
 * snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

/* ---- Lists ---- */

typedef struct list_rows {
    ProtobufCMessage **rows;
    size_t n, cap;
} list_rows;

static int collect(ProtobufCMessage *m, void *ctx)
{
    list_rows *r = ctx;
    if (r->n < r->cap)
        r->rows[r->n++] = m;
    return r->n == r->cap;
}

/* A page token's value of key k as the key's typed value (its bytes stay
 * the token's). -1 if the token does not fit the order: it was bound to
 * this order's canonical form, so only a bug gets here. */
static int from_token_value(const pagetoken_value *pv, filter_type type, filter_value *fv)
{
    memset(fv, 0, sizeof(*fv));
    fv->type = type;
    if (type == FILTER_STRING) {
        if (pv->kind != PAGETOKEN_BYTES)
            return -1;
        fv->s = pv->len > 0 ? (const char *)pv->bytes : "";
        fv->len = pv->len;
        return 0;
    }
    if (pv->kind != PAGETOKEN_INT)
        return -1;
    fv->i = pv->i;
    return 0;
}

static void to_token_value(const filter_value *fv, pagetoken_value *pv)
{
    memset(pv, 0, sizeof(*pv));
    if (fv->type == FILTER_STRING) {
        pv->kind = PAGETOKEN_BYTES;
        pv->bytes = (const uint8_t *)fv->s;
        pv->len = fv->len;
    } else {
        pv->kind = PAGETOKEN_INT;
        pv->i = fv->i;
    }
}

static int hidden(const api_list_req *req, const char *field)
{
    for (const char *const *h = req->hidden_fields; h != NULL && *h != NULL; h++)
        if (strcmp(*h, field) == 0)
            return 1;
    return 0;
}

/* The first field of the filter the caller may not use, or NULL. */
static const char *hidden_in(const api_list_req *req, const filter_node *n)
{
    const char *f;

    if (n == NULL)
        return NULL;
    if (n->kind == FILTER_NODE_CMP)
        return hidden(req, n->field->name) ? n->field->name : NULL;
    for (size_t i = 0; i < n->nchildren; i++)
        if ((f = hidden_in(req, n->children[i])) != NULL)
            return f;
    return NULL;
}

/* The cursor of a next page: the token's values of the order's keys, then
 * its row's name (store_list_query.after). */
static grpc_status_code cursor(rpc_call *call, const filter_order *order, const pagetoken *tok,
                               filter_value *after, size_t *n_after)
{
    for (size_t k = 0; k < order->count; k++)
        if (from_token_value(&tok->keys[k], order->keys[k].field->type, &after[k]) != 0)
            return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                                  "page_token does not fit the order_by");
    if (from_token_value(&tok->last_id, FILTER_STRING, &after[order->count]) != 0)
        return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "page_token does not fit the order_by");
    *n_after = order->count + 1;
    return GRPC_STATUS_OK;
}

/* A page as run_list reads it: decoded rows, or (stored) each row's bytes
 * and its values of the fields asked for, then the order's keys and the
 * name (the cursor's, at nf .. nf + order.count). */
typedef struct list_out {
    ProtobufCMessage **rows;
    size_t n;
    char *next_token;
    store_bytes *bytes;
    filter_value *values;
    size_t n_values; /* per row */
} list_out;

/* The schema's field of this name, or NULL. */
static const filter_field *schema_field(const filter_schema *schema, const char *name)
{
    for (size_t i = 0; i < schema->nfields; i++)
        if (strcmp(schema->fields[i].name, name) == 0)
            return &schema->fields[i];
    return NULL;
}

/* stored_fields NULL: rows decoded; else rows not decoded, and their values
 * of these fields read from the store's columns. */
static grpc_status_code run_list(rpc_call *call, api *a, const api_list_req *req,
                                 const char *const *stored_fields, list_out *lo)
{
    const char *bad;
    const filter_schema *schema = store_filter_schema(req->kind);
    const api_caller *caller = api_caller_of(call);
    filter *f = NULL;
    filter_order order;
    filter_error ferr;
    pagetoken tok;
    uint8_t binding[PAGETOKEN_BINDINGBYTES];
    char ocanon[FILTER_ORDER_MAX_LEN * 2];
    filter_value after[FILTER_ORDER_MAX_KEYS + 1];
    size_t n_after = 0;
    int32_t size = req->page_size;
    int have_token = req->page_token != NULL && req->page_token[0] != '\0';
    list_rows r = {0};
    store_list_query q;
    store_tx *tx;
    const filter_field *fields[STORE_MAX_FIELDS];
    size_t nf = 0, nv = 0;
    grpc_status_code code = GRPC_STATUS_OK;
    int rc;

    memset(lo, 0, sizeof(*lo));
    lo->next_token = (char *)"";
    if (schema == NULL)
        return api_store_error(call, STORE_NOMEM);
    if (size < 0) {
        api_violation(call, "page_size", "must not be negative (0 means %d, at most %d)",
                      API_PAGE_DEFAULT, API_PAGE_MAX);
        return api_violations_status(call, "request");
    }
    if (size == 0)
        size = API_PAGE_DEFAULT;
    if (size > API_PAGE_MAX)
        size = API_PAGE_MAX;

    rc = filter_parse(schema, req->filter ? req->filter : "", req->filter ? strlen(req->filter) : 0,
                      &f, &ferr);
    if (rc != FILTER_OK) {
        if (rc != FILTER_ERR_INVALID)
            return api_store_error(call, STORE_NOMEM);
        api_violation(call, "filter", "%s", ferr.message);
        return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", ferr.message);
    }
    /* Without order_by, lists come in creation order (the contract says so). */
    {
        const char *ob = req->order_by != NULL && req->order_by[0] != '\0' ? req->order_by
                                                                            : "create_time";
        rc = filter_order_parse(schema, ob, strlen(ob), &order, &ferr);
    }
    if (rc != FILTER_OK) {
        api_violation(call, "order_by", "%s", ferr.message);
        code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", ferr.message);
        goto done;
    }
    bad = hidden_in(req, filter_root(f));
    for (size_t k = 0; bad == NULL && k < order.count; k++)
        if (hidden(req, order.keys[k].field->name))
            bad = order.keys[k].field->name;
    if (bad != NULL) {
        api_violation(call, "filter", "%s is not available to your role", bad);
        code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "%s is not available to your role: filter and order on other fields",
                              bad);
        goto done;
    }
    if (filter_order_canonical(&order, ocanon, sizeof(ocanon)) != FILTER_OK ||
        filter_canonical(f) == NULL ||
        pagetoken_bind(req->collection, req->parent, filter_canonical(f), ocanon,
                       caller->principal, binding) != PAGETOKEN_OK) {
        code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot prepare the list");
        goto done;
    }
    if (have_token) {
        rc = pagetoken_decode(req->page_token, strlen(req->page_token), a->page_key, binding,
                              (int64_t)time(NULL), PAGETOKEN_DEFAULT_MAX_AGE, &tok);
        if (rc != PAGETOKEN_OK) {
            const char *why = rc == PAGETOKEN_ERR_WRONG_BINDING
                                  ? "page_token belongs to a different filter, order_by, parent "
                                    "or caller; send the same request as for the first page"
                                  : rc == PAGETOKEN_ERR_EXPIRED
                                        ? "page_token has expired; start again without it"
                                        : "page_token is not one this server issued";
            api_violation(call, "page_token", "%s", why);
            code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
            goto done;
        }
        if (tok.nkeys != order.count) {
            code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                                  "page_token does not fit the order_by");
            goto done;
        }
        if ((code = cursor(call, &order, &tok, after, &n_after)) != GRPC_STATUS_OK)
            goto done;
    }
    /* Stored rows: the caller's fields, then the cursor's (order keys, name). */
    for (const char *const *sf = stored_fields; sf != NULL && *sf != NULL; sf++)
        if (nf == STORE_MAX_FIELDS || (fields[nf++] = schema_field(schema, *sf)) == NULL) {
            code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot list %s as stored",
                                  req->collection);
            goto done;
        }
    /* The cursor always comes from the store's own values: the columns it
     * seeks on (an amount's is the accounting value, not the message's). */
    nv = nf + order.count + 1;
    if (nv > STORE_MAX_FIELDS ||
        (fields[nf + order.count] = schema_field(schema, "name")) == NULL) {
        code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot list %s", req->collection);
        goto done;
    }
    for (size_t k = 0; k < order.count; k++)
        fields[nf + k] = order.keys[k].field;
    r.cap = (size_t)size + 1; /* one more tells whether a next page exists */
    r.rows = rpc_call_alloc(call, r.cap * sizeof(*r.rows));
    if (r.rows == NULL) {
        code = api_store_error(call, STORE_NOMEM);
        goto done;
    }
    memset(&q, 0, sizeof(q));
    q.kind = req->kind;
    q.filter = f;
    q.order = &order;
    q.after = have_token ? after : NULL;
    q.n_after = n_after;
    q.scope = req->scope;
    q.limit = (int)r.cap;
    q.alloc = rpc_call_allocator(call);
    q.values = rpc_call_alloc(call, r.cap * nv * sizeof(*q.values));
    q.fields = fields;
    q.n_fields = nv;
    if (stored_fields != NULL) {
        q.bytes = rpc_call_alloc(call, r.cap * sizeof(*q.bytes));
        q.stored_only = 1;
    }
    if (q.values == NULL || (stored_fields != NULL && q.bytes == NULL)) {
        code = api_store_error(call, STORE_NOMEM);
        goto done;
    }
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK) {
        code = api_store_error(call, rc);
        goto done;
    }
    rc = store_list(tx, &q, collect, &r);
    store_read_end(tx);
    if (rc != STORE_OK) {
        code = api_store_error(call, rc);
        goto done;
    }
    if (r.n > (size_t)size) {
        /* the cursor's values, as the store compares them */
        const filter_value *v = &q.values[(size_t)(size - 1) * nv + nf];
        char *out = rpc_call_alloc(call, PAGETOKEN_MAX_LEN + 1);

        memset(&tok, 0, sizeof(tok));
        memcpy(tok.binding, binding, sizeof(binding));
        tok.issue_time = (int64_t)time(NULL);
        tok.nkeys = order.count;
        for (size_t k = 0; k < order.count; k++)
            to_token_value(&v[k], &tok.keys[k]);
        to_token_value(&v[order.count], &tok.last_id);
        if (out == NULL || pagetoken_encode(&tok, a->page_key, out, PAGETOKEN_MAX_LEN + 1, NULL) !=
                               PAGETOKEN_OK) {
            code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot issue a page token");
            goto done;
        }
        lo->next_token = out;
        r.n = (size_t)size;
    }
    lo->rows = r.rows;
    lo->n = r.n;
    lo->bytes = q.bytes;
    lo->values = q.values;
    lo->n_values = nv;
done:
    filter_destroy(f);
    return code;
}

grpc_status_code api_list(rpc_call *call, api *a, const api_list_req *req,
                          ProtobufCMessage ***rows, size_t *n_rows, char **next_token)
{
    list_out lo;
    grpc_status_code code = run_list(call, a, req, NULL, &lo);

    *rows = lo.rows;
    *n_rows = lo.n;
    *next_token = lo.next_token;
    return code;
}

grpc_status_code api_list_stored(rpc_call *call, api *a, const api_list_req *req,
                                 const char *const *fields, api_list_page *page)
{
    static const char *const none[] = {NULL};
    list_out lo;
    grpc_status_code code = run_list(call, a, req, fields != NULL ? fields : none, &lo);

    page->n = lo.n;
    page->bytes = lo.bytes;
    page->values = lo.values;
    page->stride = lo.n_values;
    page->next_token = lo.next_token;
    return code;
}

/* The List response's one repeated message field. */
static const ProtobufCFieldDescriptor *rows_field(const ProtobufCMessageDescriptor *desc)
{
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (desc->fields[i].label == PROTOBUF_C_LABEL_REPEATED &&
            desc->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            return &desc->fields[i];
    return NULL;
}

grpc_status_code api_list_response(rpc_call *call, api *a, const api_list_req *req,
                                   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
    ProtobufCMessage *out = rpc_call_alloc(call, desc->sizeof_message);
    const ProtobufCFieldDescriptor *rows_f = rows_field(desc);
    ProtobufCMessage **rows;
    char *token;
    size_t n;
    grpc_status_code code;

    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    protobuf_c_message_init(desc, out);
    if (rows_f == NULL || api_set_string(out, "next_page_token", (char *)"") != 0)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "%s is not a List response", desc->name);
    if ((code = api_list(call, a, req, &rows, &n, &token)) != GRPC_STATUS_OK)
        return code;
    *(size_t *)((char *)out + rows_f->quantifier_offset) = n;
    *(ProtobufCMessage ***)((char *)out + rows_f->offset) = rows;
    api_set_string(out, "next_page_token", token);
    *resp = out;
    return GRPC_STATUS_OK;
}
/* A varint as protobuf encodes it (base 128, low group first): protobuf-c
 * has no public encoder, and a length prefix is all that is needed here. */
static size_t varint(uint64_t v, uint8_t *out)
{
    size_t n = 0;

    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

grpc_status_code api_list_answer_stored(rpc_call *call, const ProtobufCMessageDescriptor *desc,
                                        const api_list_page *page, ProtobufCMessage **resp)
{
    ProtobufCMessage *out = rpc_call_alloc(call, desc->sizeof_message);
    const ProtobufCFieldDescriptor *rows_f = rows_field(desc);
    uint8_t tag[10], *buf;
    size_t tag_len, total, rest, at = 0;

    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    protobuf_c_message_init(desc, out);
    if (rows_f == NULL || api_set_string(out, "next_page_token", page->next_token) != 0)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "%s is not a List response", desc->name);
    /* The answer's encoding: each row as one element of the repeated field
     * (its tag, its length, the row as stored), then the rest of the
     * response (next_page_token) as protobuf-c packs it — fields may come in
     * any order, and a message's encoding is the concatenation of its
     * fields'. */
    tag_len = varint((uint64_t)rows_f->id << 3 | PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, tag);
    rest = protobuf_c_message_get_packed_size(out);
    total = rest;
    for (size_t i = 0; i < page->n; i++)
        total += tag_len + 10 + page->bytes[i].len;
    if ((buf = rpc_call_alloc(call, total ? total : 1)) == NULL)
        return api_store_error(call, STORE_NOMEM);
    for (size_t i = 0; i < page->n; i++) {
        memcpy(buf + at, tag, tag_len);
        at += tag_len;
        at += varint(page->bytes[i].len, buf + at);
        memcpy(buf + at, page->bytes[i].data, page->bytes[i].len);
        at += page->bytes[i].len;
    }
    at += protobuf_c_message_pack(out, buf + at);
    /* *resp is the response without its rows, for its type: the bytes are
     * the answer (rpc_call_set_response_bytes). */
    rpc_call_set_response_bytes(call, buf, at);
    *resp = out;
    return GRPC_STATUS_OK;
}
