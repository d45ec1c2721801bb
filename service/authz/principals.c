/* principals.c — PrincipalService: staff, donor and observer identities and
 * their tokens. A token is shown once, in the response that creates or
 * rotates it; the store keeps only its keyed hash, and a replayed request
 * (same request_id) returns the principal without the token. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "authz.h"
#include "handlers/domain.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/principal.pb-c.h"
#include "tallinn/validate.h"

#define ROLE(x) TALLINN__V1__PRINCIPAL__ROLE__ROLE_##x
#define PSTATE(x) TALLINN__V1__PRINCIPAL__STATE__STATE_##x

typedef struct principals_ctx {
    api *a;
    authz *z;
} principals_ctx;

static grpc_status_code load(store_tx *tx, rpc_call *call, const char *name,
                             Tallinn__V1__Principal **p)
{
    ProtobufCMessage *m;
    grpc_status_code code = visibility_load(tx, call, STORE_PRINCIPAL, name, NULL, &m);

    if (code == GRPC_STATUS_OK)
        *p = (Tallinn__V1__Principal *)m;
    return code;
}

/* Create and Rotate: the job stores the principal and the token's hash and
 * returns a response without the token (that response is what a request_id
 * replay gets); the handler adds the token afterwards, for this caller only.
 * The call's memory is wiped when it ends. */
typedef struct token_arg {
    principals_ctx *pc;
    Tallinn__V1__Principal *principal; /* Create: the new principal */
    const char *name;                  /* Rotate: which one */
    char token[AUTHZ_TOKEN_BUF];
    int rotate;
} token_arg;

static grpc_status_code token_job(store_tx *tx, api_job *job)
{
    token_arg *arg = job->arg;
    rpc_call *call = job->call;
    Tallinn__V1__Principal *p;
    uint8_t hash[AUTHZ_HASHBYTES];
    grpc_status_code code;
    ProtobufCMessage *resp;
    int rc;

    if (arg->rotate) {
        if ((code = load(tx, call, arg->name, &p)) != GRPC_STATUS_OK)
            return code;
        if (p->state != PSTATE(ACTIVE))
            return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                                  "%s is DISABLED; a disabled principal gets no token", p->name);
    } else {
        p = arg->principal;
        if (p->donor[0] != '\0') {
            ProtobufCMessage *d;
            rc = api_get(tx, call, STORE_DONOR, p->donor, &d);
            if (rc == STORE_NOT_FOUND) {
                api_violation(call, "principal.donor", "%s does not exist", p->donor);
                return api_violations_status(call, "principal");
            }
            if (rc != STORE_OK)
                return api_store_error(call, rc);
        }
        p->create_time = api_now(call);
        rc = store_insert(tx, STORE_PRINCIPAL, &p->base);
        if (rc == STORE_EXISTS) {
            if (p->cert_identity[0] != '\0')
                return rpc_call_error(call, GRPC_STATUS_ALREADY_EXISTS,
                                      "%s or a principal with that cert_identity already exists",
                                      p->name);
            return rpc_call_error(call, GRPC_STATUS_ALREADY_EXISTS, "%s already exists", p->name);
        }
        if (rc != STORE_OK)
            return api_store_error(call, rc);
    }
    authz_new_token(arg->pc->z, arg->token, hash);
    rc = store_principal_set_token(tx, p->name, hash);
    sodium_memzero(hash, sizeof(hash));
    if (rc != STORE_OK)
        return api_store_error(call, rc);

    /* The remembered response (request_id replays) carries no token. */
    if (arg->rotate) {
        Tallinn__V1__RotateTokenResponse *r = rpc_call_alloc(call, sizeof(*r));
        if (r == NULL)
            return api_store_error(call, STORE_NOMEM);
        tallinn__v1__rotate_token_response__init(r);
        r->principal = p;
        resp = &r->base;
    } else {
        Tallinn__V1__CreatePrincipalResponse *r = rpc_call_alloc(call, sizeof(*r));
        if (r == NULL)
            return api_store_error(call, STORE_NOMEM);
        tallinn__v1__create_principal_response__init(r);
        r->principal = p;
        resp = &r->base;
    }
    job->resp = resp;
    return GRPC_STATUS_OK;
}

/* Puts the token into the response after the write: only this caller sees it. */
static void attach_token(ProtobufCMessage *resp, char *token)
{
    if (token[0] == '\0')
        return;
    if (resp->descriptor == &tallinn__v1__rotate_token_response__descriptor)
        ((Tallinn__V1__RotateTokenResponse *)resp)->token = token;
    else
        ((Tallinn__V1__CreatePrincipalResponse *)resp)->token = token;
}

static grpc_status_code create_principal(rpc_call *call, const ProtobufCMessage *req,
                                         ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__CreatePrincipalRequest *in = (const void *)req;
    principals_ctx *pc = ctx;
    Tallinn__V1__Principal *p;
    token_arg *arg;
    const char *id = in->principal_id;
    char gen[16];
    grpc_status_code code;

    if (in->principal == NULL) {
        api_violation(call, "principal", "required");
        return api_violations_status(call, "request");
    }
    api_check_text(call, "principal.display_name", in->principal->display_name,
                   VALIDATE_DISPLAY_NAME_MAX, VALIDATE_TEXT_REQUIRED);
    api_check_enum(call, "principal.role", &tallinn__v1__principal__role__descriptor,
                   in->principal->role, 1);
    if (in->principal->role == ROLE(DONOR))
        api_check_name(call, "principal.donor", "donors/{donor}", in->principal->donor);
    else if (in->principal->donor[0] != '\0')
        api_violation(call, "principal.donor", "only a DONOR principal acts for a donor");
    if (in->principal->cert_identity[0] != '\0' &&
        validate_cert_identity(in->principal->cert_identity,
                               strlen(in->principal->cert_identity)) != VALIDATE_OK)
        api_violation(call, "principal.cert_identity",
                      "1 to %d printable ASCII characters (the certificate's SAN or CN)",
                      VALIDATE_CERT_IDENTITY_MAX);
    visibility_check_id(call, STORE_PRINCIPAL, "principal_id", in->principal_id);
    api_check_request_id(call, in->request_id);
    if ((code = api_violations_status(call, "principal")) != GRPC_STATUS_OK)
        return code;

    p = rpc_call_alloc(call, sizeof(*p));
    arg = rpc_call_alloc(call, sizeof(*arg));
    if (p == NULL || arg == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__principal__init(p);
    if (id[0] == '\0') {
        api_new_id(gen);
        id = gen;
    }
    p->name = api_name(call, "principals", id);
    p->display_name = in->principal->display_name;
    p->role = in->principal->role;
    p->donor = in->principal->donor;
    p->cert_identity = in->principal->cert_identity;
    p->state = PSTATE(ACTIVE);
    arg->pc = pc;
    arg->principal = p;
    rpc_call_wipe_on_end(call);
    code = api_write(call, pc->a, in->request_id, token_job, arg, resp);
    if (code == GRPC_STATUS_OK)
        attach_token(*resp, arg->token);
    return code;
}

static grpc_status_code rotate_token(rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__RotateTokenRequest *in = (const void *)req;
    principals_ctx *pc = ctx;
    token_arg *arg = rpc_call_alloc(call, sizeof(*arg));
    grpc_status_code code;

    if (arg == NULL)
        return api_store_error(call, STORE_NOMEM);
    api_check_name(call, "name", "principals/{principal}", in->name);
    api_check_request_id(call, in->request_id);
    if ((code = api_violations_status(call, "request")) != GRPC_STATUS_OK)
        return code;
    arg->pc = pc;
    arg->name = in->name;
    arg->rotate = 1;
    rpc_call_wipe_on_end(call);
    code = api_write(call, pc->a, in->request_id, token_job, arg, resp);
    if (code == GRPC_STATUS_OK)
        attach_token(*resp, arg->token);
    return code;
}

static grpc_status_code disable_job(store_tx *tx, api_job *job)
{
    const char *name = job->arg;
    rpc_call *call = job->call;
    Tallinn__V1__Principal *p;
    grpc_status_code code;
    int rc;

    if ((code = load(tx, call, name, &p)) != GRPC_STATUS_OK)
        return code;
    if (strcmp(p->name, job->caller->principal) == 0)
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "you cannot disable yourself: another ADMIN must");
    if (p->state == PSTATE(DISABLED))
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION, "%s is already DISABLED",
                              p->name);
    p->state = PSTATE(DISABLED);
    if ((rc = store_update(tx, STORE_PRINCIPAL, &p->base)) != STORE_OK ||
        (rc = store_principal_set_token(tx, p->name, NULL)) != STORE_OK)
        return api_store_error(call, rc);
    job->resp = &p->base;
    return GRPC_STATUS_OK;
}

static grpc_status_code disable_principal(rpc_call *call, const ProtobufCMessage *req,
                                          ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__DisablePrincipalRequest *in = (const void *)req;
    principals_ctx *pc = ctx;
    grpc_status_code code;

    api_check_name(call, "name", "principals/{principal}", in->name);
    api_check_request_id(call, in->request_id);
    if ((code = api_violations_status(call, "request")) != GRPC_STATUS_OK)
        return code;
    code = api_write(call, pc->a, in->request_id, disable_job, (void *)in->name, resp);
    return code;
}

static grpc_status_code get_principal(rpc_call *call, const ProtobufCMessage *req,
                                      ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__GetPrincipalRequest *in = (const void *)req;
    principals_ctx *pc = ctx;
    Tallinn__V1__Principal *p;
    store_tx *tx;
    grpc_status_code code;
    int rc;

    if (!api_check_name(call, "name", "principals/{principal}", in->name))
        return api_violations_status(call, "request");
    if ((rc = store_read_begin(pc->a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    code = load(tx, call, in->name, &p);
    store_read_end(tx);
    if (code == GRPC_STATUS_OK)
        *resp = &p->base;
    return code;
}

static grpc_status_code list_principals(rpc_call *call, const ProtobufCMessage *req,
                                        ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__ListPrincipalsRequest *in = (const void *)req;
    principals_ctx *pc = ctx;
    api_list_req lr = {
        .kind = STORE_PRINCIPAL, .collection = "principals", .parent = "",
        .page_size = in->page_size, .page_token = in->page_token,
        .filter = in->filter, .order_by = in->order_by,
    };

    return api_list_response(call, pc->a, &lr, &tallinn__v1__list_principals_response__descriptor,
                             resp);
}

typedef struct bootstrap_arg {
    const uint8_t *key;
    char token[AUTHZ_TOKEN_BUF];
} bootstrap_arg;

static int bootstrap_job(store_tx *tx, void *p)
{
    bootstrap_arg *b = p;
    Tallinn__V1__Principal pr = TALLINN__V1__PRINCIPAL__INIT;
    Google__Protobuf__Timestamp now = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    uint8_t raw[32], hash[AUTHZ_HASHBYTES];
    int rc;

    now.seconds = time(NULL);
    pr.name = "principals/admin";
    pr.display_name = "First administrator (tallinnd init)";
    pr.role = ROLE(ADMIN);
    pr.state = PSTATE(ACTIVE);
    pr.create_time = &now;
    if ((rc = store_insert(tx, STORE_PRINCIPAL, &pr.base)) != STORE_OK)
        return rc == STORE_EXISTS ? 1 : 2;
    randombytes_buf(raw, sizeof(raw));
    memcpy(b->token, AUTHZ_TOKEN_PREFIX, strlen(AUTHZ_TOKEN_PREFIX));
    sodium_bin2base64(b->token + strlen(AUTHZ_TOKEN_PREFIX),
                      AUTHZ_TOKEN_BUF - strlen(AUTHZ_TOKEN_PREFIX), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    authz_hash_token(b->key, b->token, hash);
    rc = store_principal_set_token(tx, pr.name, hash);
    sodium_memzero(hash, sizeof(hash));
    return rc == STORE_OK ? 0 : 2;
}

int principals_bootstrap(store *s, const uint8_t key[AUTHZ_KEYBYTES], char token[AUTHZ_TOKEN_BUF])
{
    bootstrap_arg b = {.key = key};
    int job_rc, rc = store_write(s, bootstrap_job, &b, &job_rc);

    if (rc == STORE_OK && job_rc == 0)
        memcpy(token, b.token, AUTHZ_TOKEN_BUF);
    sodium_memzero(b.token, sizeof(b.token));
    if (rc != STORE_OK)
        return rc;
    return job_rc == 0 ? 0 : job_rc == 1 ? STORE_EXISTS : STORE_ERROR;
}

int principals_register(rpc_server *srv, api *a, authz *z)
{
    static principals_ctx pc; /* one server per process */
    static const rpc_method_handler handlers[] = {
        {"CreatePrincipal", create_principal},   {"GetPrincipal", get_principal},
        {"ListPrincipals", list_principals},     {"DisablePrincipal", disable_principal},
        {"RotateToken", rotate_token},
    };
    pc.a = a;
    pc.z = z;
    return rpc_server_add_service(srv, &tallinn__v1__principal_service__descriptor, handlers,
                                  sizeof(handlers) / sizeof(handlers[0]), &pc);
}
