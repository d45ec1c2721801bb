/* authz.h — who may call what: authentication of every call (bearer token or
 * verified client certificate), the one role × method table, and failed-
 * authentication rate limiting. Design: docs/authz.md. Private to service/. */
#ifndef TALLINN_AUTHZ_H
#define TALLINN_AUTHZ_H

#include <stdio.h>

#include "handlers/api.h"
#include "tallinn/validate.h"

#define AUTHZ_KEYBYTES 32    /* the token-hashing key (data dir: token.key) */
#define AUTHZ_HASHBYTES 32   /* keyed BLAKE2b of a token */
#define AUTHZ_TOKEN_PREFIX "tln_"
#define AUTHZ_TOKEN_BUF 64   /* "tln_" + base64url(32 bytes) + NUL */

typedef struct authz authz;

typedef struct authz_options {
    int fail_burst;          /* failed authentications allowed per address; 0 = 10 */
    double fail_refill_per_s; /* then one more every 1/x seconds; 0 = 0.5 */
    int fail_global_burst;   /* ... from all addresses together; 0 = 200 */
    double fail_global_refill_per_s; /* 0 = 20 */
} authz_options;

/* Creates the authenticator over the store with the token key (copied;
 * wiped on destroy), and starts the thread that writes last-use times.
 * 0 or -1. */
int authz_create(authz **out, store *s, const uint8_t key[AUTHZ_KEYBYTES],
                 const authz_options *opts);
/* Writes the queued last-use times and frees; call before closing the store. */
void authz_destroy(authz *z);

/* Last-use times written, and dropped (queue full, or storage failing). */
void authz_lastuse_stats(authz *z, long *written, long *dropped);

/* Refused writes (PERMISSION_DENIED, FAILED_PRECONDITION) go to this audit
 * log: authz_install's outcome hook records every one. */
struct audit;
void authz_set_audit(authz *z, struct audit *a);

/* Failed authentications by reason (never by token): counted where each is
 * refused, read for scrapes. "throttled" is an attempt refused because its
 * address (or the server) is past its budget of failures. */
typedef enum authz_fail_reason {
    AUTHZ_FAIL_NO_CREDENTIALS,
    AUTHZ_FAIL_INVALID_TOKEN,
    AUTHZ_FAIL_UNKNOWN_CERTIFICATE,
    AUTHZ_FAIL_THROTTLED,
    AUTHZ_FAIL_REASONS
} authz_fail_reason;
const char *authz_fail_reason_name(authz_fail_reason r);
uint64_t authz_failures(const authz *z, authz_fail_reason r);

/* Who a bearer token is: 0 and who filled, AUTHZ_NO_PRINCIPAL when no ACTIVE
 * principal holds it, or a STORE_* error. Served from a cache while the
 * principals epoch (store_principals_epoch) has not moved: a token revoked or
 * a principal disabled through any process is refused from the moment that
 * call returned. Every bearer-token call is authenticated through it. */
#define AUTHZ_NO_PRINCIPAL 1
typedef struct authz_who {
    char name[VALIDATE_NAME_MAX + 1];
    char donor[VALIDATE_NAME_MAX + 1];
    int role;         /* tallinn.v1.Principal.Role = api_role */
    int64_t last_use; /* Unix seconds */
} authz_who;
int authz_token_lookup(authz *z, const char *token, authz_who *who);

/* Installs the per-call interceptor and the outcome hook that records
 * refused writes on the server. */
void authz_install(authz *z, rpc_server *srv);

/* A new token (from libsodium's CSPRNG) and its keyed hash. */
void authz_new_token(const authz *z, char token[AUTHZ_TOKEN_BUF], uint8_t hash[AUTHZ_HASHBYTES]);
void authz_hash_token(const uint8_t key[AUTHZ_KEYBYTES], const char *token,
                      uint8_t hash[AUTHZ_HASHBYTES]);

/* 1 if role may call the method at all (need-to-know is the handlers'). */
int authz_allowed(const char *path, api_role role);

/* Writes the role × method matrix as Markdown (docs/authz.md is generated
 * from this, so docs and code cannot drift). */
void authz_write_matrix(FILE *out);

/* The role's name ("FRONT_OFFICE"), or "NONE". */
const char *authz_role_name(api_role role);

/* PrincipalService. */
int principals_register(rpc_server *srv, api *a, authz *z);

/* tallinnd init: creates principals/admin and its token (into token, which
 * the caller writes to a 0600 file and wipes). STORE_EXISTS if already done. */
int principals_bootstrap(store *s, const uint8_t key[AUTHZ_KEYBYTES], char token[AUTHZ_TOKEN_BUF]);

#endif
