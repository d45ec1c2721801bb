/* authz.c — authentication and the role × method table. Every call but the
 * public services (health, reflection) passes here before its handler:
 * credentials are checked
 * (client certificate, else bearer token), the method is looked up in the
 * one table, and the caller is attached to the call for the handlers'
 * need-to-know checks. Tokens exist only as keyed hashes past this file. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit/audit.h"
#include "authz.h"
#include "lastuse.h"
#include "throttle.h"
#include "tallinn/v1/principal.pb-c.h"
#include "tallinn/validate.h"

#define LAST_USE_EVERY_S 60

#define FO (1u << API_ROLE_FRONT_OFFICE)
#define BO (1u << API_ROLE_BACK_OFFICE)
#define CO (1u << API_ROLE_COORDINATOR)
#define DN (1u << API_ROLE_DONOR)
#define OB (1u << API_ROLE_OBSERVER)
#define AU (1u << API_ROLE_AUDITOR)
#define AD (1u << API_ROLE_ADMIN)
#define STAFF (FO | BO | CO)
#define ANY (FO | BO | CO | DN | OB | AU | AD)

/* The table. A role not listed gets PERMISSION_DENIED. "scoped" marks the
 * methods whose handlers narrow what a role sees (need-to-know): DONOR sees
 * its own pledges and matches and only the needs it may know of; OBSERVER
 * sees needs redacted and never RESTRICTED ones. */
typedef struct authz_rule {
    const char *path;
    unsigned roles;
    const char *note;
} authz_rule;

static const authz_rule rules[] = {
    {"/tallinn.v1.NeedService/CreateNeed", FO, NULL},
    {"/tallinn.v1.NeedService/GetNeed", STAFF | DN | OB | AU, "DONOR: OPEN STANDARD needs, or needs it has a match on; OBSERVER: redacted, never RESTRICTED"},
    {"/tallinn.v1.NeedService/ListNeeds", STAFF | DN | OB | AU, "as GetNeed"},
    {"/tallinn.v1.NeedService/UpdateNeed", FO, NULL},
    {"/tallinn.v1.NeedService/SubmitNeed", FO, NULL},
    {"/tallinn.v1.NeedService/ValidateNeed", BO, NULL},
    {"/tallinn.v1.NeedService/ReturnNeed", BO, NULL},
    {"/tallinn.v1.NeedService/RejectNeed", BO, NULL},
    {"/tallinn.v1.NeedService/RouteNeed", BO, NULL},
    {"/tallinn.v1.NeedService/HoldNeed", BO, NULL},
    {"/tallinn.v1.NeedService/ResumeNeed", BO, NULL},
    {"/tallinn.v1.NeedService/CancelNeed", FO, NULL},
    {"/tallinn.v1.NeedService/CloseNeed", BO, NULL},
    {"/tallinn.v1.DonorService/CreateDonor", BO, NULL},
    {"/tallinn.v1.DonorService/GetDonor", STAFF | DN | OB | AU, "DONOR: contact_email of its own donor only"},
    {"/tallinn.v1.DonorService/ListDonors", STAFF | DN | OB | AU, "as GetDonor"},
    {"/tallinn.v1.DonorService/UpdateDonor", BO, NULL},
    {"/tallinn.v1.DonorService/CreatePledge", BO, NULL},
    {"/tallinn.v1.DonorService/GetPledge", STAFF | DN | AU, "DONOR: its own"},
    {"/tallinn.v1.DonorService/ListPledges", STAFF | DN | AU, "DONOR: its own"},
    {"/tallinn.v1.DonorService/UpdatePledge", BO, NULL},
    {"/tallinn.v1.MatchService/CreateMatch", BO | DN, "DONOR: for itself, on needs it may see"},
    {"/tallinn.v1.MatchService/GetMatch", STAFF | DN | AU, "DONOR: its own"},
    {"/tallinn.v1.MatchService/ListMatches", STAFF | DN | AU, "DONOR: its own"},
    {"/tallinn.v1.MatchService/ApproveMatch", CO, "never a match the caller proposed"},
    {"/tallinn.v1.MatchService/DeclineMatch", CO, "never a match the caller proposed"},
    {"/tallinn.v1.MatchService/WithdrawMatch", DN, "its own"},
    {"/tallinn.v1.MatchService/StartDelivery", DN, "its own"},
    {"/tallinn.v1.MatchService/MarkDelivered", DN, "its own"},
    {"/tallinn.v1.MatchService/AcceptDelivery", FO, NULL},
    {"/tallinn.v1.MatchService/RejectDelivery", FO, NULL},
    {"/tallinn.v1.MatchService/SuggestMatches", STAFF | AU, NULL},
    {"/tallinn.v1.ReportService/GetCoverageReport", STAFF | DN | OB | AU, "DONOR: its own line, fiscal years, currencies and statement; totals over the needs it may see; OBSERVER: never RESTRICTED needs, no regions"},
    {"/tallinn.v1.ExchangeRateService/CreateExchangeRate", BO, NULL},
    {"/tallinn.v1.ExchangeRateService/GetExchangeRate", STAFF | DN | OB | AU, "public reference data: every rate"},
    {"/tallinn.v1.ExchangeRateService/ListExchangeRates", STAFF | DN | OB | AU, "as GetExchangeRate"},
    {"/tallinn.v1.ExchangeRateService/DeleteExchangeRate", BO, "only a rate no decision rests on"},
    {"/tallinn.v1.PrincipalService/CreatePrincipal", AD, NULL},
    {"/tallinn.v1.PrincipalService/GetPrincipal", AD | AU, NULL},
    {"/tallinn.v1.PrincipalService/ListPrincipals", AD | AU, NULL},
    {"/tallinn.v1.PrincipalService/DisablePrincipal", AD, NULL},
    {"/tallinn.v1.PrincipalService/RotateToken", AD, NULL},
    {"/tallinn.v1.AuditService/GetCheckpoint", AU, NULL},
    {"/tallinn.v1.AuditService/GetInclusionProof", AU, NULL},
    {"/tallinn.v1.AuditService/GetConsistencyProof", AU, NULL},
    {"/tallinn.v1.AuditService/StreamAuditRecords", AU, NULL},
    {"/tallinn.v1.AuditService/GetVerifierKey", ANY, NULL},
    {"/tallinn.v1.ChangeService/WatchChanges", STAFF | DN | OB | AU, "each change as the caller's reads show it, as of its position: DONOR: the needs ListNeeds shows it, its own pledges and matches; OBSERVER: needs (redacted, never RESTRICTED) and donors; a tombstone for what it saw and no longer sees"},
    {"/tallinn.v1.ChangeService/ListHistory", STAFF | DN | OB | AU, "a resource the caller may read now, each version as WatchChanges showed it; OBSERVER: no principals, request ids or records"},
    {"/tallinn.v1.DiagnosticsService/Noop", ANY, "a no-op: the transport ceiling for benchmarks"},
    {"/tallinn.v1.DiagnosticsService/GetServerInfo", ANY, NULL},
    {"/tallinn.v1.DiagnosticsService/GetCaller", ANY, "the caller's own principal"},
};

/* Services any caller may use without credentials, every method. What they
 * reveal is public: a serving status, and the contract (what the .proto
 * files partners build against say), never data. */
typedef struct authz_public {
    const char *service;
    const char *note;
} authz_public;

static const authz_public public_services[] = {
    {"grpc.health.v1.Health", "no credentials: load balancers and orchestrators probe"},
    {"grpc.reflection.v1.ServerReflection",
     "no credentials: the public contract, never data (grpcurl, Postman, Kreya)"},
    {"grpc.reflection.v1alpha.ServerReflection", "as v1 (its older name)"},
};

/* 1 when path ("/pkg.Service/Method") belongs to a public service. */
static int is_public(const char *path)
{
    for (size_t i = 0; i < sizeof(public_services) / sizeof(public_services[0]); i++) {
        size_t n = strlen(public_services[i].service);
        if (path[0] == '/' && strncmp(path + 1, public_services[i].service, n) == 0 &&
            path[n + 1] == '/')
            return 1;
    }
    return 0;
}

static const char *const role_names[] = {
    "NONE", "FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "DONOR", "OBSERVER", "AUDITOR", "ADMIN",
};

const char *authz_role_name(api_role role)
{
    return (int)role >= 0 && (int)role <= API_ROLE_ADMIN ? role_names[role] : "NONE";
}

/* The rules by path: an open-addressed table built once, so a call costs
 * one hash of its path and one strcmp instead of a scan of the table
 * (Noop, near its end, paid ~50 strcmp a call). */
#define RULE_SLOTS 256 /* a power of two, over twice the rules */
#define N_RULES (sizeof(rules) / sizeof(rules[0]))

static const authz_rule *rule_index[RULE_SLOTS];
static pthread_once_t rule_index_once = PTHREAD_ONCE_INIT;

static uint32_t path_hash(const char *p)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    while (*p != '\0')
        h = (h ^ (uint8_t)*p++) * 16777619u;
    return h;
}

static void rule_index_build(void)
{
    _Static_assert(N_RULES * 2 <= RULE_SLOTS, "RULE_SLOTS too small for the rules");
    for (size_t i = 0; i < N_RULES; i++) {
        uint32_t at = path_hash(rules[i].path) & (RULE_SLOTS - 1);
        while (rule_index[at] != NULL)
            at = (at + 1) & (RULE_SLOTS - 1);
        rule_index[at] = &rules[i];
    }
}

static const authz_rule *find_rule(const char *path)
{
    uint32_t at;

    pthread_once(&rule_index_once, rule_index_build);
    for (at = path_hash(path) & (RULE_SLOTS - 1); rule_index[at] != NULL;
         at = (at + 1) & (RULE_SLOTS - 1))
        if (strcmp(rule_index[at]->path, path) == 0)
            return rule_index[at];
    return NULL;
}

int authz_allowed(const char *path, api_role role)
{
    const authz_rule *r = find_rule(path);
    if (role <= API_ROLE_NONE || role > API_ROLE_ADMIN)
        return 0;
    return is_public(path) || (r != NULL && (r->roles & (1u << role)) != 0);
}

void authz_write_matrix(FILE *out)
{
    fprintf(out, "| method |");
    for (int r = API_ROLE_FRONT_OFFICE; r <= API_ROLE_ADMIN; r++)
        fprintf(out, " %s |", role_names[r]);
    fprintf(out, " need-to-know |\n|---|");
    for (int r = API_ROLE_FRONT_OFFICE; r <= API_ROLE_ADMIN; r++)
        fprintf(out, ":-:|");
    fprintf(out, "---|\n");
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const char *m = strrchr(rules[i].path, '/');
        const char *svc = rules[i].path + strlen("/tallinn.v1.");
        fprintf(out, "| %.*s.%s |", (int)(m - svc), svc, m + 1);
        for (int r = API_ROLE_FRONT_OFFICE; r <= API_ROLE_ADMIN; r++)
            fprintf(out, " %s |", (rules[i].roles & (1u << r)) ? "yes" : "—");
        fprintf(out, " %s |\n", rules[i].note != NULL ? rules[i].note : "");
    }
    for (size_t i = 0; i < sizeof(public_services) / sizeof(public_services[0]); i++) {
        fprintf(out, "| %s.* |", public_services[i].service);
        for (int r = API_ROLE_FRONT_OFFICE; r <= API_ROLE_ADMIN; r++)
            fprintf(out, " yes |");
        fprintf(out, " %s |\n", public_services[i].note);
    }
}

/* ---- Authentication ---- */

#define CACHE_SLOTS 1024
#define CACHE_TTL_S 60

typedef struct cache_entry {
    uint8_t hash[AUTHZ_HASHBYTES]; /* keyed hash of the token */
    uint64_t epoch;                /* the principals epoch it was read at */
    int used;
    double expires;                /* monotonic seconds */
    authz_who who;
} cache_entry;

struct authz {
    store *store;
    audit *audit;
    cache_entry *cache;
    uint8_t key[AUTHZ_KEYBYTES];
    authz_options opts;
    pthread_mutex_t mu;
    authz_throttle *throttle; /* failed attempts */
    authz_lastuse *lastuse;   /* last-use times, written in the background */
    _Atomic uint64_t failures[AUTHZ_FAIL_REASONS];
};

const char *authz_fail_reason_name(authz_fail_reason r)
{
    static const char *const names[] = {"no_credentials", "invalid_token",
                                        "unknown_certificate", "throttled"};
    return (unsigned)r < AUTHZ_FAIL_REASONS ? names[r] : "unknown";
}

uint64_t authz_failures(const authz *z, authz_fail_reason r)
{
    return (unsigned)r < AUTHZ_FAIL_REASONS
               ? atomic_load_explicit(&((authz *)z)->failures[r], memory_order_relaxed)
               : 0;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int authz_create(authz **out, store *s, const uint8_t key[AUTHZ_KEYBYTES],
                 const authz_options *opts)
{
    authz *z = calloc(1, sizeof(*z));
    authz_throttle_options to;

    *out = NULL;
    if (z == NULL)
        return -1;
    if (opts != NULL)
        z->opts = *opts;
    memset(&to, 0, sizeof(to));
    to.addr_burst = z->opts.fail_burst;
    to.addr_refill_per_s = z->opts.fail_refill_per_s;
    to.global_burst = z->opts.fail_global_burst;
    to.global_refill_per_s = z->opts.fail_global_refill_per_s;
    z->cache = calloc(CACHE_SLOTS, sizeof(*z->cache));
    if (z->cache == NULL || authz_throttle_create(&z->throttle, &to) != 0 ||
        authz_lastuse_create(&z->lastuse, s) != 0) {
        authz_throttle_destroy(z->throttle);
        free(z->cache);
        free(z);
        return -1;
    }
    z->store = s;
    memcpy(z->key, key, AUTHZ_KEYBYTES);
    pthread_mutex_init(&z->mu, NULL);
    *out = z;
    return 0;
}

void authz_destroy(authz *z)
{
    if (z == NULL)
        return;
    authz_lastuse_destroy(z->lastuse);
    authz_throttle_destroy(z->throttle);
    sodium_memzero(z->key, sizeof(z->key));
    sodium_memzero(z->cache, CACHE_SLOTS * sizeof(*z->cache));
    pthread_mutex_destroy(&z->mu);
    free(z->cache);
    free(z);
}

void authz_hash_token(const uint8_t key[AUTHZ_KEYBYTES], const char *token,
                      uint8_t hash[AUTHZ_HASHBYTES])
{
    crypto_generichash(hash, AUTHZ_HASHBYTES, (const uint8_t *)token, strlen(token), key,
                       AUTHZ_KEYBYTES);
}

void authz_new_token(const authz *z, char token[AUTHZ_TOKEN_BUF], uint8_t hash[AUTHZ_HASHBYTES])
{
    uint8_t raw[32];

    randombytes_buf(raw, sizeof(raw));
    memcpy(token, AUTHZ_TOKEN_PREFIX, strlen(AUTHZ_TOKEN_PREFIX));
    sodium_bin2base64(token + strlen(AUTHZ_TOKEN_PREFIX), AUTHZ_TOKEN_BUF - strlen(AUTHZ_TOKEN_PREFIX),
                      raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    authz_hash_token(z->key, token, hash);
}

/* The verified client certificate's identity: its SAN, else its CN. */
static char *cert_identity(rpc_call *call)
{
    grpc_auth_context *ctx = rpc_call_auth_context(call);
    grpc_auth_property_iterator it;
    const grpc_auth_property *p;
    char *id = NULL;

    if (ctx == NULL)
        return NULL;
    if (grpc_auth_context_peer_is_authenticated(ctx)) {
        it = grpc_auth_context_peer_identity(ctx);
        if ((p = grpc_auth_property_iterator_next(&it)) != NULL) {
            id = rpc_call_alloc(call, p->value_length + 1);
            if (id != NULL) {
                memcpy(id, p->value, p->value_length);
                id[p->value_length] = '\0';
            }
        }
    }
    grpc_auth_context_release(ctx);
    return id;
}

/* Reads are Get*, List*, Stream*, Watch*, Suggest* and the no-op; the rest
 * write. */
static int is_write(const rpc_method_info *info)
{
    static const char *const reads[] = {"Get", "List", "Stream", "Watch", "Suggest", "Noop"};
    const char *m = info->method->name;

    if (strncmp(info->path, "/tallinn.v1.", 12) != 0)
        return 0;
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
        if (strncmp(m, reads[i], strlen(reads[i])) == 0)
            return 0;
    return 1;
}

/* A failed authentication: UNAUTHENTICATED, or RESOURCE_EXHAUSTED once the
 * address (or the server) is past its budget of failures. Only failures
 * are counted and throttled; a valid credential is checked first and never
 * refused, whatever its address did. */
static grpc_status_code unauthenticated(authz *z, rpc_call *call, authz_fail_reason reason,
                                        const char *why)
{
    int wait = authz_throttle_fail(z->throttle, rpc_call_peer(call), mono_now());

    atomic_fetch_add_explicit(&z->failures[wait > 0 ? AUTHZ_FAIL_THROTTLED : reason], 1,
                              memory_order_relaxed);
    if (wait > 0)
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                              "too many failed authentication attempts (from this address, "
                              "or from all); retry in %d s with valid credentials", wait);
    return rpc_call_error(call, GRPC_STATUS_UNAUTHENTICATED, "%s", why);
}

/* ---- A cache of token -> principal ----
 * A token's principal is looked up once and then served from memory while
 * the principals epoch stays where it was when the entry was read. Any
 * change a cached entry depends on, made through any process (a principal
 * created, disabled, its role or donor changed, a token rotated or revoked),
 * moves the epoch in the same transaction, so a revoked token never
 * outlives the call that revoked it, on any replica (store.h,
 * store_principals_epoch). Entries also age out after CACHE_TTL_S. */

static cache_entry *slot_of(authz *z, const uint8_t hash[AUTHZ_HASHBYTES])
{
    return &z->cache[(hash[0] | (unsigned)hash[1] << 8) % CACHE_SLOTS];
}

static int cache_get(authz *z, const uint8_t hash[AUTHZ_HASHBYTES], uint64_t epoch,
                     authz_who *out)
{
    cache_entry *e = slot_of(z, hash);
    int hit;

    pthread_mutex_lock(&z->mu);
    hit = e->used && e->epoch == epoch && e->expires > mono_now() &&
          sodium_memcmp(e->hash, hash, AUTHZ_HASHBYTES) == 0;
    if (hit)
        *out = e->who;
    pthread_mutex_unlock(&z->mu);
    return hit;
}

static void cache_put(authz *z, const uint8_t hash[AUTHZ_HASHBYTES], uint64_t epoch,
                      const authz_who *who)
{
    cache_entry *e = slot_of(z, hash);

    pthread_mutex_lock(&z->mu);
    memcpy(e->hash, hash, AUTHZ_HASHBYTES);
    e->epoch = epoch;
    e->who = *who;
    e->used = 1;
    e->expires = mono_now() + CACHE_TTL_S;
    pthread_mutex_unlock(&z->mu);
}

/* A newer last-use time for a cached entry, if it is still that token's. */
static void cache_touch(authz *z, const uint8_t hash[AUTHZ_HASHBYTES], int64_t last_use)
{
    cache_entry *e = slot_of(z, hash);

    pthread_mutex_lock(&z->mu);
    if (e->used && sodium_memcmp(e->hash, hash, AUTHZ_HASHBYTES) == 0)
        e->who.last_use = last_use;
    pthread_mutex_unlock(&z->mu);
}

/* Reads a principal by token hash or certificate identity into who:
 * 0, AUTHZ_NO_PRINCIPAL (none, or not ACTIVE), or a STORE_* error. */
static int lookup(authz *z, const char *identity, const uint8_t hash[AUTHZ_HASHBYTES],
                  authz_who *who)
{
    ProtobufCMessage *m = NULL;
    Tallinn__V1__Principal *p;
    store_tx *tx;
    int rc;

    memset(who, 0, sizeof(*who));
    if ((rc = store_read_begin(z->store, &tx)) != STORE_OK)
        return rc;
    if (identity != NULL)
        rc = store_principal_by_cert(tx, identity, NULL, &m);
    else
        rc = store_principal_by_token(tx, hash, NULL, &m);
    store_read_end(tx);
    if (rc == STORE_NOT_FOUND)
        return AUTHZ_NO_PRINCIPAL;
    if (rc != STORE_OK)
        return rc;
    p = (Tallinn__V1__Principal *)m;
    if (p->state != TALLINN__V1__PRINCIPAL__STATE__STATE_ACTIVE) {
        rc = AUTHZ_NO_PRINCIPAL;
    } else {
        snprintf(who->name, sizeof(who->name), "%s", p->name);
        snprintf(who->donor, sizeof(who->donor), "%s", p->donor);
        who->role = (int)p->role;
        who->last_use = p->last_use_time != NULL ? p->last_use_time->seconds : 0;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

static int token_lookup(authz *z, const uint8_t hash[AUTHZ_HASHBYTES], authz_who *who)
{
    uint64_t epoch;
    int rc;

    /* The epoch first: an entry read after it is at least that fresh, and
     * a change committed after it moves the epoch past it. */
    if ((rc = store_principals_epoch(z->store, &epoch)) != STORE_OK)
        return rc;
    if (cache_get(z, hash, epoch, who))
        return 0;
    if ((rc = lookup(z, NULL, hash, who)) == 0)
        cache_put(z, hash, epoch, who);
    return rc;
}

int authz_token_lookup(authz *z, const char *token, authz_who *who)
{
    uint8_t hash[AUTHZ_HASHBYTES];
    int rc;

    authz_hash_token(z->key, token, hash);
    rc = token_lookup(z, hash, who);
    sodium_memzero(hash, sizeof(hash));
    return rc;
}

/* Looks the caller up: by verified certificate, else by bearer token
 * (cached). Fills who and hash (the token's, or zeros); 0, or a status
 * for the call. */
static grpc_status_code authenticate(authz *z, rpc_call *call, authz_who *who,
                                     uint8_t hash[AUTHZ_HASHBYTES])
{
    char *identity = cert_identity(call);
    const char *auth = NULL;
    int rc;

    memset(who, 0, sizeof(*who));
    memset(hash, 0, AUTHZ_HASHBYTES);
    if (identity == NULL) {
        auth = rpc_call_metadata(call, "authorization", NULL);
        if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
            return unauthenticated(z, call, AUTHZ_FAIL_NO_CREDENTIALS,
                                   "no credentials: send \"authorization: Bearer <token>\" or "
                                   "use a client certificate (tallinnctl: --token-file FILE, "
                                   "or a context's token-file)");
        authz_hash_token(z->key, auth + 7, hash);
        rc = token_lookup(z, hash, who);
    } else {
        rc = lookup(z, identity, NULL, who); /* certificates are not cached */
    }
    /* Unknown and disabled credentials answer alike. */
    if (rc == AUTHZ_NO_PRINCIPAL)
        return unauthenticated(z, call,
                               identity != NULL ? AUTHZ_FAIL_UNKNOWN_CERTIFICATE
                                                : AUTHZ_FAIL_INVALID_TOKEN,
                               identity != NULL ? "the client certificate maps to no active principal"
                                                : "invalid or revoked token");
    if (rc != 0)
        return api_store_error(call, rc);
    return GRPC_STATUS_OK;
}

static grpc_status_code intercept(rpc_call *call, const rpc_method_info *info, void *ctx)
{
    authz *z = ctx;
    authz_who who;
    uint8_t hash[AUTHZ_HASHBYTES];
    api_caller *caller;
    grpc_status_code code;

    if (is_public(info->path))
        return GRPC_STATUS_OK; /* no credentials asked, none checked */
    code = authenticate(z, call, &who, hash);
    if (code != GRPC_STATUS_OK)
        goto done;

    caller = rpc_call_alloc(call, sizeof(*caller));
    if (caller == NULL || (caller->principal = rpc_call_strdup(call, who.name)) == NULL) {
        code = api_store_error(call, STORE_NOMEM);
        goto done;
    }
    caller->role = (api_role)who.role;
    caller->donor = who.donor[0] != '\0' ? rpc_call_strdup(call, who.donor) : NULL;
    rpc_call_set_principal(call, caller->principal, caller);

    if (!authz_allowed(info->path, caller->role)) {
        /* Recorded, when a write, by record_refusal like every refusal. */
        code = rpc_call_error(call, GRPC_STATUS_PERMISSION_DENIED, "role %s may not call %s",
                              authz_role_name(caller->role), info->method->name);
        goto done;
    }

    if (who.last_use + LAST_USE_EVERY_S < time(NULL)) {
        /* Queued, never waited for: a read must not wait for a disk sync. */
        who.last_use = time(NULL);
        authz_lastuse_note(z->lastuse, caller->principal, who.last_use);
        cache_touch(z, hash, who.last_use); /* a certificate's zero hash matches no entry */
    }
done:
    sodium_memzero(hash, sizeof(hash));
    return code;
}

void authz_lastuse_stats(authz *z, long *written, long *dropped)
{
    authz_lastuse_counts(z->lastuse, written, dropped);
}

/* The outcome hook: every refused write — PERMISSION_DENIED from the table
 * above or from a handler's need-to-know check, FAILED_PRECONDITION from a
 * resource's state — is recorded here, whatever code refused it, so a
 * handler cannot forget to. The record is durable before the status is
 * sent. */
static grpc_status_code record_refusal(rpc_call *call, const rpc_method_info *info,
                                       grpc_status_code code, void *ctx)
{
    authz *z = ctx;

    if (z->audit == NULL || !is_write(info) ||
        (code != GRPC_STATUS_PERMISSION_DENIED && code != GRPC_STATUS_FAILED_PRECONDITION))
        return code;
    return api_audit_refusal(call, z->audit, code);
}

void authz_set_audit(authz *z, audit *a)
{
    z->audit = a;
}

void authz_install(authz *z, rpc_server *srv)
{
    rpc_server_set_interceptor(srv, intercept, z);
    rpc_server_set_outcome_hook(srv, record_refusal, z);
}
