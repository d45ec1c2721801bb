/* bench_setup.c — what tallinn-bench needs before it can load a server: one
 * principal per role it calls as, a MEMBER donor with a pledge large enough
 * for a million workflow matches, and N OPEN needs to read. The few set-up
 * calls go through the synchronous client runtime; the needs are seeded by
 * the load engine itself (create, submit, validate), many at a time. Tokens
 * land in 0600 files of a state directory, the rest in its state.json. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "tallinn/rpc_client.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/principal.pb-c.h"

/* Longest token file line we accept. */
#define BENCH_TOKEN_MAX 512
#define BENCH_STATE_FILE "state.json"
#define BENCH_DONOR_ID "bench-donor"
/* VALIDATE_MONEY_MAX_UNITS: the largest amount the API accepts. */
#define BENCH_PLEDGE_UNITS 1000000000LL
#define BENCH_SETUP_DEADLINE_MS 30000

static const struct {
    const char *id;
    const char *display;
    Tallinn__V1__Principal__Role role;
} bench__principals[BENCH_ROLE_COUNT] = {
    [BENCH_ROLE_FRONT_OFFICE] = {"bench-front-office", "Bench front office",
                                 TALLINN__V1__PRINCIPAL__ROLE__ROLE_FRONT_OFFICE},
    [BENCH_ROLE_BACK_OFFICE] = {"bench-back-office", "Bench back office",
                                TALLINN__V1__PRINCIPAL__ROLE__ROLE_BACK_OFFICE},
    [BENCH_ROLE_COORDINATOR] = {"bench-coordinator", "Bench coordinator",
                                TALLINN__V1__PRINCIPAL__ROLE__ROLE_COORDINATOR},
    [BENCH_ROLE_DONOR] = {"bench-donor", "Bench donor",
                          TALLINN__V1__PRINCIPAL__ROLE__ROLE_DONOR},
};

int bench_token_read(const char *path, char **auth, char *err, size_t err_len)
{
    char line[BENCH_TOKEN_MAX];
    FILE *f = fopen(path, "r");
    size_t n;
    int rc = -1;

    *auth = NULL;
    if (f == NULL) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        snprintf(err, err_len, "%s: empty", path);
        goto cleanup;
    }
    n = strcspn(line, "\r\n \t");
    line[n] = '\0';
    if (n == 0) {
        snprintf(err, err_len, "%s: empty", path);
        goto cleanup;
    }
    if ((*auth = malloc(n + sizeof("Bearer "))) == NULL) {
        snprintf(err, err_len, "out of memory");
        goto cleanup;
    }
    memcpy(*auth, "Bearer ", 7);
    memcpy(*auth + 7, line, n + 1);
    rc = 0;

cleanup:
    sodium_memzero(line, sizeof(line));
    fclose(f);
    return rc;
}

/* Writes token to dir/file, mode 0600, replacing an older one. */
static int bench__token_write(const char *dir, const char *file, const char *token, char *err,
                              size_t err_len)
{
    char path[4096];
    int fd;
    size_t len = strlen(token);

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (write(fd, token, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || close(fd) != 0) {
        snprintf(err, err_len, "%s: write failed", path);
        return -1;
    }
    return 0;
}

/* One unary call as the principal whose "Bearer ..." is auth. ALREADY_EXISTS
 * is returned as such (set-up is re-runnable). */
static grpc_status_code bench__call(rpcc_channel *ch, const char *method, const char *auth,
                                    const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *resp_desc,
                                    ProtobufCMessage **resp, char *err, size_t err_len)
{
    rpcc_metadata md = {"authorization", auth, strlen(auth)};
    rpcc_call_options o = {.deadline_ms = BENCH_SETUP_DEADLINE_MS, .metadata = &md,
                           .n_metadata = 1, .wait_for_ready = 1};
    rpcc_result r;
    grpc_status_code code;

    memset(&r, 0, sizeof(r));
    code = rpcc_unary(ch, method, req, resp_desc, &o, resp, &r);
    if (code != GRPC_STATUS_OK && code != GRPC_STATUS_ALREADY_EXISTS)
        snprintf(err, err_len, "%s: %s: %s", method, rpcc_status_name(code), r.message);
    rpcc_result_free(&r);
    return code;
}

/* Creates principal i, or rotates its token if it exists; returns its
 * token in *auth ("Bearer ..."). */
static int bench__principal(rpcc_channel *ch, const char *admin, int i, const char *donor,
                            char **auth, char *err, size_t err_len)
{
    Tallinn__V1__CreatePrincipalRequest req;
    Tallinn__V1__Principal p;
    Tallinn__V1__RotateTokenRequest rot;
    ProtobufCMessage *resp = NULL;
    const char *token;
    char name[BENCH_NAME_MAX];
    grpc_status_code code;
    int rc = -1;

    tallinn__v1__create_principal_request__init(&req);
    tallinn__v1__principal__init(&p);
    p.display_name = (char *)bench__principals[i].display;
    p.role = bench__principals[i].role;
    if (bench__principals[i].role == TALLINN__V1__PRINCIPAL__ROLE__ROLE_DONOR)
        p.donor = (char *)donor;
    req.principal = &p;
    req.principal_id = (char *)bench__principals[i].id;
    code = bench__call(ch, "/tallinn.v1.PrincipalService/CreatePrincipal", admin, &req.base,
                       &tallinn__v1__create_principal_response__descriptor, &resp, err, err_len);
    if (code == GRPC_STATUS_ALREADY_EXISTS) {
        /* Its token was shown once, maybe to an earlier run: take a new one. */
        tallinn__v1__rotate_token_request__init(&rot);
        snprintf(name, sizeof(name), "principals/%s", bench__principals[i].id);
        rot.name = name;
        code = bench__call(ch, "/tallinn.v1.PrincipalService/RotateToken", admin, &rot.base,
                           &tallinn__v1__rotate_token_response__descriptor, &resp, err, err_len);
        if (code != GRPC_STATUS_OK)
            goto cleanup;
        token = ((Tallinn__V1__RotateTokenResponse *)resp)->token;
    } else if (code == GRPC_STATUS_OK) {
        token = ((Tallinn__V1__CreatePrincipalResponse *)resp)->token;
    } else {
        goto cleanup;
    }
    if ((*auth = malloc(strlen(token) + sizeof("Bearer "))) == NULL) {
        snprintf(err, err_len, "out of memory");
        goto cleanup;
    }
    snprintf(*auth, strlen(token) + sizeof("Bearer "), "Bearer %s", token);
    rc = 0;

cleanup:
    if (resp != NULL) {
        /* the response holds the token in clear */
        Tallinn__V1__CreatePrincipalResponse *cr = (void *)resp;
        Tallinn__V1__RotateTokenResponse *rr = (void *)resp;
        char *t = resp->descriptor == &tallinn__v1__create_principal_response__descriptor
                      ? cr->token
                      : rr->token;
        if (t != NULL)
            sodium_memzero(t, strlen(t));
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return rc;
}

static int bench__donor_and_pledge(rpcc_channel *ch, bench_config *cfg, char *err, size_t err_len)
{
    Tallinn__V1__CreateDonorRequest dreq;
    Tallinn__V1__Donor d;
    Tallinn__V1__CreatePledgeRequest preq;
    Tallinn__V1__Pledge p;
    Tallinn__V1__Money amount;
    ProtobufCMessage *resp = NULL;
    char pledge_id[BENCH_PREFIX_MAX + 8];
    const char *back = cfg->auth[BENCH_ROLE_BACK_OFFICE];
    grpc_status_code code;

    tallinn__v1__create_donor_request__init(&dreq);
    tallinn__v1__donor__init(&d);
    d.display_name = (char *)"Bench donor";
    d.kind = TALLINN__V1__DONOR__KIND__KIND_STATE;
    d.country_code = (char *)"EE";
    d.membership = TALLINN__V1__DONOR__MEMBERSHIP__MEMBERSHIP_MEMBER;
    d.contact_email = (char *)"bench@example.org";
    dreq.donor = &d;
    dreq.donor_id = (char *)BENCH_DONOR_ID;
    code = bench__call(ch, "/tallinn.v1.DonorService/CreateDonor", back, &dreq.base,
                       &tallinn__v1__donor__descriptor, &resp, err, err_len);
    protobuf_c_message_free_unpacked(resp, NULL);
    resp = NULL;
    if (code != GRPC_STATUS_OK && code != GRPC_STATUS_ALREADY_EXISTS)
        return -1;
    snprintf(cfg->donor, sizeof(cfg->donor), "donors/%s", BENCH_DONOR_ID);

    /* A fresh pledge per set-up, so that earlier runs' matches never leave
     * too little available. */
    tallinn__v1__create_pledge_request__init(&preq);
    tallinn__v1__pledge__init(&p);
    tallinn__v1__money__init(&amount);
    amount.currency_code = (char *)"EUR";
    amount.units = BENCH_PLEDGE_UNITS;
    p.amount = &amount;
    p.fiscal_year = 2025;
    p.source = (char *)"tallinn-bench load-test budget";
    p.state = TALLINN__V1__PLEDGE__STATE__STATE_COMMITTED;
    snprintf(pledge_id, sizeof(pledge_id), "pledge-%s", cfg->seed_prefix);
    preq.parent = cfg->donor;
    preq.pledge = &p;
    preq.pledge_id = pledge_id;
    code = bench__call(ch, "/tallinn.v1.DonorService/CreatePledge", back, &preq.base,
                       &tallinn__v1__pledge__descriptor, &resp, err, err_len);
    protobuf_c_message_free_unpacked(resp, NULL);
    if (code != GRPC_STATUS_OK)
        return -1;
    snprintf(cfg->pledge, sizeof(cfg->pledge), "%s/pledges/%s", cfg->donor, pledge_id);
    return 0;
}

static int bench__state_write(const bench_config *cfg, const char *dir, char *err,
                              size_t err_len)
{
    char path[4096];
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s}", "addr", cfg->addr, "seed_prefix",
                          cfg->seed_prefix, "needs", (json_int_t)cfg->n_needs, "donor",
                          cfg->donor, "pledge", cfg->pledge);
    int rc;

    if (j == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, BENCH_STATE_FILE);
    rc = json_dump_file(j, path, JSON_INDENT(2));
    json_decref(j);
    if (rc != 0)
        snprintf(err, err_len, "%s: cannot write", path);
    return rc == 0 ? 0 : -1;
}

int bench_setup(bench_config *cfg, const char *admin_token_file, const char *state_dir,
                uint32_t n_needs, char *err, size_t err_len)
{
    rpcc_channel_options co = {.target = cfg->addr, .insecure = 1, .user_agent = "tallinn-bench"};
    rpcc_channel *ch = NULL;
    char *admin = NULL;
    bench_config seed;
    bench_result *res = NULL;
    uint64_t failed = 0;
    int rc = -1;

    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "%s: %s", state_dir, strerror(errno));
        return -1;
    }
    if (bench_token_read(admin_token_file, &admin, err, err_len) != 0)
        return -1;
    if (rpcc_channel_create(&ch, &co, err, err_len) != 0)
        goto cleanup;
    /* Needs of this set-up are needs/<prefix>-<i>: a new prefix each time. */
    snprintf(cfg->seed_prefix, sizeof(cfg->seed_prefix), "s%08" PRIx32, randombytes_random());
    for (int r = 0; r < BENCH_ROLE_COUNT; r++) {
        if (r == BENCH_ROLE_DONOR)
            continue; /* needs the donor, made by the back office below */
        free(cfg->auth[r]);
        cfg->auth[r] = NULL;
        if (bench__principal(ch, admin, r, NULL, &cfg->auth[r], err, err_len) != 0)
            goto cleanup;
    }
    if (bench__donor_and_pledge(ch, cfg, err, err_len) != 0)
        goto cleanup;
    free(cfg->auth[BENCH_ROLE_DONOR]);
    cfg->auth[BENCH_ROLE_DONOR] = NULL;
    if (bench__principal(ch, admin, BENCH_ROLE_DONOR, cfg->donor, &cfg->auth[BENCH_ROLE_DONOR],
                         err, err_len) != 0)
        goto cleanup;
    for (int r = 0; r < BENCH_ROLE_COUNT; r++) {
        if (bench__token_write(state_dir, bench_role_file(r), cfg->auth[r] + 7, err, err_len) != 0)
            goto cleanup;
    }

    /* Seed the needs through the engine, with the run's connections. */
    seed = *cfg;
    memset(seed.weights, 0, sizeof(seed.weights));
    seed.weights[BENCH_WL_SEED] = 1;
    seed.n_needs = n_needs;
    seed.duration_s = 0;
    seed.calls = 0;
    seed.warmup_s = 0;
    if ((res = malloc(sizeof(*res))) == NULL) {
        snprintf(err, err_len, "out of memory");
        goto cleanup;
    }
    if (n_needs > 0 && bench_run(&seed, res, err, err_len) != 0)
        goto cleanup;
    for (int op = 0; n_needs > 0 && op < BENCH_OP_COUNT; op++) {
        for (int k = 1; k < BENCH_STATUS_COUNT; k++)
            failed += res->status[op][k];
    }
    if (n_needs > 0 && (failed > 0 || res->verify_failed > 0)) {
        snprintf(err, err_len, "seeding %" PRIu32 " needs: %" PRIu64 " calls failed, %" PRIu64
                 " bad answers; first: %s", n_needs, failed, res->verify_failed,
                 res->first_failure);
        goto cleanup;
    }
    cfg->n_needs = n_needs;
    if (bench__state_write(cfg, state_dir, err, err_len) != 0)
        goto cleanup;
    rc = 0;

cleanup:
    free(res);
    rpcc_channel_destroy(ch);
    if (admin != NULL) {
        sodium_memzero(admin, strlen(admin));
        free(admin);
    }
    return rc;
}

int bench_state_load(bench_config *cfg, const char *state_dir, char *err, size_t err_len)
{
    char path[4096];
    json_error_t je;
    json_t *j;
    const char *prefix = NULL, *donor = NULL, *pledge = NULL;
    json_int_t needs = 0;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/%s", state_dir, BENCH_STATE_FILE);
    if ((j = json_load_file(path, 0, &je)) == NULL) {
        snprintf(err, err_len, "%s: %s (run with --setup first)", path, je.text);
        return -1;
    }
    if (json_unpack_ex(j, &je, 0, "{s:s, s:I, s:s, s:s}", "seed_prefix", &prefix, "needs", &needs,
                       "donor", &donor, "pledge", &pledge) != 0 ||
        needs < 0 || needs > UINT32_MAX) {
        snprintf(err, err_len, "%s: %s", path, je.text);
        goto cleanup;
    }
    snprintf(cfg->seed_prefix, sizeof(cfg->seed_prefix), "%s", prefix);
    snprintf(cfg->donor, sizeof(cfg->donor), "%s", donor);
    snprintf(cfg->pledge, sizeof(cfg->pledge), "%s", pledge);
    cfg->n_needs = (uint32_t)needs;
    for (int r = 0; r < BENCH_ROLE_COUNT; r++) {
        snprintf(path, sizeof(path), "%s/%s", state_dir, bench_role_file(r));
        free(cfg->auth[r]);
        if (bench_token_read(path, &cfg->auth[r], err, err_len) != 0)
            goto cleanup;
    }
    rc = 0;

cleanup:
    json_decref(j);
    return rc;
}
