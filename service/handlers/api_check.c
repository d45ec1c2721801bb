/* api_check.c — validation helpers that collect BadRequest field
 * violations, update masks, and the common fields of workflow transitions. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "tallinn/currency.h"
#include "tallinn/validate.h"

/* ---- Validation ---- */

int api_check_text(rpc_call *call, const char *field, const char *s, size_t max_chars,
                   unsigned flags)
{
    size_t off = 0;
    int rc = validate_text(s != NULL ? s : "", s != NULL ? strlen(s) : 0, max_chars, flags, &off);

    if (rc == VALIDATE_OK)
        return 1;
    if (rc == VALIDATE_ERR_TOO_LONG)
        api_violation(call, field, "longer than %zu characters", max_chars);
    else if (rc == VALIDATE_ERR_EMPTY)
        api_violation(call, field, "required");
    else
        api_violation(call, field, "%s at byte %zu", validate_strerror(rc), off);
    return 0;
}

int api_check_money(rpc_call *call, const api *a, const char *field, const Tallinn__V1__Money *m,
                    unsigned flags, int64_t *nanos)
{
    const char *cur = m != NULL && m->currency_code != NULL ? m->currency_code : "";
    int rc;

    if (m == NULL) {
        api_violation(call, field, "required (an amount in %s)",
                      flags & VALIDATE_MONEY_ANY_CURRENCY ? "an ISO 4217 currency" : a->currency);
        return 0;
    }
    rc = validate_money(m->currency_code, m->units, m->nanos, a->currency, flags, nanos);
    if (rc == VALIDATE_OK)
        return 1;
    /* The code is echoed only when it has the shape of one (hostile text
     * stays out of messages). */
    if (validate_currency_code(cur, strlen(cur)) != VALIDATE_OK)
        cur = "?";
    if (rc == VALIDATE_ERR_CURRENCY)
        api_violation(call, field, "currency must be %s, the mechanism's accounting currency, not %s",
                      a->currency, cur);
    else if (rc == VALIDATE_ERR_UNKNOWN)
        api_violation(call, field, "currency %s is not an active ISO 4217 currency with minor units "
                      "(e.g. EUR, USD, GBP, JPY)", cur);
    else if (rc == VALIDATE_ERR_PRECISION)
        api_violation(call, field, "%s amounts have at most %d decimal(s)", cur,
                      currency_minor_units(cur, strlen(cur)));
    else
        api_violation(call, field, "%s", validate_strerror(rc));
    return 0;
}

int api_check_enum(rpc_call *call, const char *field, const ProtobufCEnumDescriptor *d, int v,
                   int required)
{
    if (v == 0 && required) {
        api_violation(call, field, "required: one of the %s values", d->short_name);
        return 0;
    }
    if (protobuf_c_enum_descriptor_get_value(d, v) == NULL) {
        api_violation(call, field, "%d is not a %s value", v, d->short_name);
        return 0;
    }
    return 1;
}

int api_check_request_id(rpc_call *call, const char *rid)
{
    if (rid == NULL || rid[0] == '\0')
        return 1;
    if (validate_uuid(rid, strlen(rid), NULL) != VALIDATE_OK) {
        api_violation(call, "request_id", "must be a UUID such as 3f2c1a9e-8b7d-4c6e-9f1a-2b3c4d5e6f70");
        return 0;
    }
    return 1;
}

int api_check_name(rpc_call *call, const char *field, const char *pattern, const char *name)
{
    char ids[4][VALIDATE_ID_BUF];

    if (name == NULL || name[0] == '\0') {
        api_violation(call, field, "required: a resource name like %s", pattern);
        return 0;
    }
    if (validate_name_parse(pattern, name, strlen(name), 0, ids, 4) != VALIDATE_OK) {
        api_violation(call, field, "\"%.80s\" is not a resource name like %s", name, pattern);
        return 0;
    }
    return 1;
}

int api_check_id(rpc_call *call, const char *field, const char *id)
{
    if (id == NULL || id[0] == '\0')
        return 1;
    if (validate_resource_id(id, strlen(id)) != VALIDATE_OK) {
        api_violation(call, field,
                      "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter and "
                      "not ending with '-'");
        return 0;
    }
    return 1;
}

grpc_status_code api_check_mask(rpc_call *call, const ProtobufCMessageDescriptor *d,
                                const Google__Protobuf__FieldMask *mask,
                                const char *const *mutable_fields, const char *resource)
{
    char path[48], list[320];
    size_t used = 0;

    list[0] = '\0';
    for (const char *const *m = mutable_fields; *m != NULL && used < sizeof(list); m++) {
        int k = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *m);
        used += k > 0 ? (size_t)k : 0;
    }
    /* Without a mask, proto3 cannot tell "leave as is" from "clear": an
     * update that names nothing is refused rather than guessed at. */
    if (mask == NULL || mask->n_paths == 0) {
        api_violation(call, "update_mask", "required: name the %s fields to change, from: %s",
                      resource, list);
        return api_violations_status(call, "update_mask");
    }
    for (size_t i = 0; i < mask->n_paths; i++) {
        const char *p = mask->paths[i];
        int ok = 0;
        for (const char *const *m = mutable_fields; *m != NULL && !ok; m++)
            ok = strcmp(*m, p) == 0;
        snprintf(path, sizeof(path), "update_mask.paths[%zu]", i);
        if (ok)
            continue;
        if (strcmp(p, "*") == 0)
            api_violation(call, path, "\"*\" (replace everything) is not supported: name each "
                                      "field to change, from: %s", list);
        else if (api_field(d, p) != NULL)
            api_violation(call, path, "%s.%s cannot be updated (output only or fixed at creation)",
                          resource, p);
        else
            api_violation(call, path, "%s has no field \"%.60s\"", resource, p);
    }
    return api_violations_status(call, "update_mask");
}

grpc_status_code api_apply_mask(rpc_call *call, ProtobufCMessage *cur, const ProtobufCMessage *req,
                                const Google__Protobuf__FieldMask *mask,
                                const char *const *mutable_fields, const char *resource)
{
    grpc_status_code code =
        api_check_mask(call, cur->descriptor, mask, mutable_fields, resource);

    if (code != GRPC_STATUS_OK)
        return code;
    for (size_t i = 0; i < mask->n_paths; i++)
        api_copy_field(cur, req, mask->paths[i]);
    return GRPC_STATUS_OK;
}

/* ---- Workflow transitions ---- */

grpc_status_code api_transition_request(rpc_call *call, const ProtobufCMessage *req,
                                        const api_transition *table, size_t n,
                                        const char *pattern, int require_reason,
                                        api_transition_req *out)
{
    const char *method = rpc_call_method(call)->method->name;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n && out->t == NULL; i++)
        if (strcmp(table[i].method, method) == 0)
            out->t = &table[i];
    if (out->t == NULL)
        return rpc_call_error(call, GRPC_STATUS_UNIMPLEMENTED, "%s is not a transition", method);
    out->name = api_get_string(req, "name");
    out->etag = api_get_string(req, "etag");
    out->reason = api_get_string(req, "reason");
    out->request_id = api_get_string(req, "request_id");
    api_check_name(call, "name", pattern, out->name);
    if (out->t->needs_reason || require_reason)
        api_check_text(call, "reason", out->reason, VALIDATE_REASON_MAX,
                       VALIDATE_TEXT_REQUIRED | VALIDATE_TEXT_MULTILINE);
    else if (out->reason != NULL)
        api_check_text(call, "reason", out->reason, VALIDATE_REASON_MAX, VALIDATE_TEXT_MULTILINE);
    api_check_request_id(call, out->request_id);
    return api_violations_status(call, "request");
}
