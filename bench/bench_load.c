/* bench_load.c — the workloads of tallinn-bench and the run around them: one
 * thread per connection, each keeping `inflight` calls going through its
 * engine (bench_h2.c, bench_grpc.c); every completion starts the next call on
 * the same slot at once, so the offered concurrency is exactly connections x
 * inflight (closed loop). Responses are decoded and checked (every one by
 * default), so a fast wrong answer fails the run. */
#include "bench.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/grpc.h>

#include "tallinn/v1/diagnostics.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

/* Steps of the chained workloads. */
#define BENCH_WORKFLOW_STEPS 5
#define BENCH_SEED_STEPS 3
/* Workflow needs cost this much and are matched in full. */
#define BENCH_WORKFLOW_UNITS 1000

static const struct {
    const char *name;
    const char *method;
} bench__ops[BENCH_OP_COUNT] = {
    [BENCH_OP_GET_NEED] = {"GetNeed", "/tallinn.v1.NeedService/GetNeed"},
    [BENCH_OP_LIST_NEEDS] = {"ListNeeds", "/tallinn.v1.NeedService/ListNeeds"},
    [BENCH_OP_CREATE_NEED] = {"CreateNeed", "/tallinn.v1.NeedService/CreateNeed"},
    [BENCH_OP_SUBMIT_NEED] = {"SubmitNeed", "/tallinn.v1.NeedService/SubmitNeed"},
    [BENCH_OP_VALIDATE_NEED] = {"ValidateNeed", "/tallinn.v1.NeedService/ValidateNeed"},
    [BENCH_OP_CREATE_MATCH] = {"CreateMatch", "/tallinn.v1.MatchService/CreateMatch"},
    [BENCH_OP_APPROVE_MATCH] = {"ApproveMatch", "/tallinn.v1.MatchService/ApproveMatch"},
    [BENCH_OP_NOOP] = {"Noop", "/tallinn.v1.DiagnosticsService/Noop"},
};

static const char *const bench__workloads[BENCH_WL_COUNT] = {
    [BENCH_WL_READ] = "read",         [BENCH_WL_LIST] = "list",
    [BENCH_WL_WRITE] = "write",       [BENCH_WL_WORKFLOW] = "workflow",
    [BENCH_WL_EMPTY] = "empty",       [BENCH_WL_SEED] = "seed",
};

static const char *const bench__role_files[BENCH_ROLE_COUNT] = {
    [BENCH_ROLE_FRONT_OFFICE] = "front-office.token",
    [BENCH_ROLE_BACK_OFFICE] = "back-office.token",
    [BENCH_ROLE_COORDINATOR] = "coordinator.token",
    [BENCH_ROLE_DONOR] = "donor.token",
};

/* The op and role of each step of each workload. */
static const bench_op bench__workflow_ops[BENCH_WORKFLOW_STEPS] = {
    BENCH_OP_CREATE_NEED, BENCH_OP_SUBMIT_NEED, BENCH_OP_VALIDATE_NEED,
    BENCH_OP_CREATE_MATCH, BENCH_OP_APPROVE_MATCH};
static const bench_role bench__op_roles[BENCH_OP_COUNT] = {
    [BENCH_OP_GET_NEED] = BENCH_ROLE_DONOR,
    [BENCH_OP_LIST_NEEDS] = BENCH_ROLE_DONOR,
    [BENCH_OP_CREATE_NEED] = BENCH_ROLE_FRONT_OFFICE,
    [BENCH_OP_SUBMIT_NEED] = BENCH_ROLE_FRONT_OFFICE,
    [BENCH_OP_VALIDATE_NEED] = BENCH_ROLE_BACK_OFFICE,
    [BENCH_OP_CREATE_MATCH] = BENCH_ROLE_BACK_OFFICE,
    [BENCH_OP_APPROVE_MATCH] = BENCH_ROLE_COORDINATOR,
    [BENCH_OP_NOOP] = BENCH_ROLE_DONOR,
};

const char *bench_op_name(bench_op op) { return bench__ops[op].name; }
const char *bench_op_method(bench_op op) { return bench__ops[op].method; }
const char *bench_workload_name(bench_workload wl) { return bench__workloads[wl]; }
const char *bench_role_file(bench_role r) { return bench__role_files[r]; }

int bench_workload_parse(const char *s)
{
    for (int i = 0; i < BENCH_WL_COUNT; i++) {
        if (i != BENCH_WL_SEED && strcmp(s, bench__workloads[i]) == 0)
            return i;
    }
    return -1;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct bench_shared {
    const bench_config *cfg;
    uint64_t t_measure;                   /* ns: end of warm-up */
    uint64_t t_end;                       /* ns: end of the window; UINT64_MAX with --calls */
    unsigned weight_total;
    atomic_uint_fast64_t measured_started; /* --calls budget */
    atomic_uint_fast64_t seed_next;        /* seed: next need index */
};

static uint64_t bench__rand(bench_conn *c)
{
    /* xorshift64*: cheap, per thread, good enough to pick needs and workloads */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545F4914F6CDD1DULL;
}

const bench_config *bench_conn_config(const bench_conn *c) { return c->sh->cfg; }

void bench_conn_fail(bench_conn *c, const char *fmt, const char *a, const char *b)
{
    /* the first failure is kept, cut to fit: it is a hint, not a record */
    if (c->res.first_failure[0] == '\0' &&
        snprintf(c->res.first_failure, sizeof(c->res.first_failure), fmt, a, b) < 0)
        c->res.first_failure[0] = '?';
}

/* May a new call start now, and is it measured? 1 measured, 0 warm-up,
 * -1 no (the window is over or the --calls budget is spent). */
static int bench__may_start(bench_shared *sh, uint64_t now)
{
    if (now >= sh->t_end)
        return -1;
    if (now < sh->t_measure)
        return 0;
    if (sh->cfg->calls > 0 && atomic_fetch_add(&sh->measured_started, 1) >= sh->cfg->calls)
        return -1;
    return 1;
}

static bench_workload bench__pick(bench_conn *c)
{
    const bench_config *cfg = c->sh->cfg;
    unsigned r = (unsigned)(bench__rand(c) % c->sh->weight_total);

    for (int i = 0; i < BENCH_WL_COUNT; i++) {
        if (r < cfg->weights[i])
            return (bench_workload)i;
        r -= cfg->weights[i];
    }
    return BENCH_WL_EMPTY; /* not reached: weights sum to weight_total */
}

static void bench__need_fields(Tallinn__V1__Need *n, Tallinn__V1__Money *cost, const char *title,
                               int priority, int64_t units)
{
    tallinn__v1__need__init(n);
    tallinn__v1__money__init(cost);
    cost->currency_code = (char *)"EUR";
    cost->units = units;
    n->title = (char *)title;
    n->description = (char *)"Load-test need written by tallinn-bench: endpoint protection "
                             "for a regional operator's control centre.";
    n->beneficiary = (char *)"Bench beneficiary";
    n->region = (char *)"Kyiv City";
    n->sector = TALLINN__V1__SECTOR__SECTOR_ENERGY;
    n->category = TALLINN__V1__CATEGORY__CATEGORY_ENDPOINT_PROTECTION;
    n->domain = TALLINN__V1__NEED__DOMAIN__DOMAIN_CIVILIAN;
    n->priority = (Tallinn__V1__Need__Priority)priority;
    n->sensitivity = TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD;
    n->estimated_cost = cost;
}

/* Encodes the request of the slot's current op into buf; returns its length,
 * 0 when it does not fit. */
static size_t bench__encode(bench_slot *s, uint8_t *buf, size_t cap)
{
    const bench_config *cfg = s->conn->sh->cfg;
    char name[BENCH_NAME_MAX];
    ProtobufCMessage *msg;
    union {
        Tallinn__V1__GetNeedRequest get;
        Tallinn__V1__ListNeedsRequest list;
        Tallinn__V1__CreateNeedRequest create;
        Tallinn__V1__SubmitNeedRequest submit;
        Tallinn__V1__ValidateNeedRequest validate;
        Tallinn__V1__CreateMatchRequest match;
        Tallinn__V1__ApproveMatchRequest approve;
        Tallinn__V1__NoopRequest noop;
    } r;
    Tallinn__V1__Need need;
    Tallinn__V1__Money cost, amount;
    Tallinn__V1__Match match;
    size_t len;

    switch (s->op) {
    case BENCH_OP_GET_NEED:
        tallinn__v1__get_need_request__init(&r.get);
        snprintf(name, sizeof(name), "needs/%s-%" PRIu64, cfg->seed_prefix, s->index);
        r.get.name = name;
        msg = &r.get.base;
        break;
    case BENCH_OP_LIST_NEEDS:
        tallinn__v1__list_needs_request__init(&r.list);
        r.list.page_size = cfg->list_page_size;
        r.list.filter = (char *)cfg->list_filter;
        msg = &r.list.base;
        break;
    case BENCH_OP_CREATE_NEED:
        tallinn__v1__create_need_request__init(&r.create);
        if (s->wl == BENCH_WL_SEED) {
            snprintf(s->title, sizeof(s->title), "Bench need %" PRIu64, s->index);
            bench__need_fields(&need, &cost, s->title, BENCH_SEED_PRIORITY(s->index), 100000);
        } else {
            snprintf(s->title, sizeof(s->title), "Bench %s %s", bench__workloads[s->wl], s->id);
            /* Workflow needs are LOW so that they never enter the list
             * workload's HIGH filter and change what it verifies. */
            bench__need_fields(&need, &cost, s->title,
                               TALLINN__V1__NEED__PRIORITY__PRIORITY_LOW, BENCH_WORKFLOW_UNITS);
        }
        r.create.need = &need;
        r.create.need_id = s->id;
        msg = &r.create.base;
        break;
    case BENCH_OP_SUBMIT_NEED:
        tallinn__v1__submit_need_request__init(&r.submit);
        snprintf(name, sizeof(name), "needs/%s", s->id);
        r.submit.name = name;
        msg = &r.submit.base;
        break;
    case BENCH_OP_VALIDATE_NEED:
        tallinn__v1__validate_need_request__init(&r.validate);
        snprintf(name, sizeof(name), "needs/%s", s->id);
        r.validate.name = name;
        msg = &r.validate.base;
        break;
    case BENCH_OP_CREATE_MATCH:
        tallinn__v1__create_match_request__init(&r.match);
        tallinn__v1__match__init(&match);
        tallinn__v1__money__init(&amount);
        amount.currency_code = (char *)"EUR";
        amount.units = BENCH_WORKFLOW_UNITS;
        snprintf(name, sizeof(name), "needs/%s", s->id);
        match.need = name;
        match.donor = (char *)cfg->donor;
        match.pledge = (char *)cfg->pledge;
        match.amount = &amount;
        match.description = (char *)"EDR licences for one year (tallinn-bench)";
        r.match.match = &match;
        r.match.match_id = s->id;
        msg = &r.match.base;
        break;
    case BENCH_OP_APPROVE_MATCH:
        tallinn__v1__approve_match_request__init(&r.approve);
        snprintf(name, sizeof(name), "matches/%s", s->id);
        r.approve.name = name;
        msg = &r.approve.base;
        break;
    case BENCH_OP_NOOP:
    default:
        tallinn__v1__noop_request__init(&r.noop);
        msg = &r.noop.base;
        break;
    }
    len = protobuf_c_message_get_packed_size(msg);
    if (len > cap)
        return 0;
    return protobuf_c_message_pack(msg, buf);
}

/* Encodes the slot's current op as a gRPC message and hands it to the engine.
 * Returns 1 when the call is under way, 0 when it could not start (counted as
 * a local error by the caller). */
static int bench__start(bench_slot *s, uint64_t now)
{
    bench_conn *c = s->conn;
    const bench_config *cfg = c->sh->cfg;
    size_t len = bench__encode(s, s->req + BENCH_GRPC_PREFIX, BENCH_REQ_MAX);

    if (len == 0 && s->op != BENCH_OP_NOOP && s->op != BENCH_OP_LIST_NEEDS) {
        bench_conn_fail(c, "%s: request does not encode%s", bench__ops[s->op].name, "");
        return 0;
    }
    s->req[0] = 0; /* not compressed */
    s->req[1] = (uint8_t)(len >> 24);
    s->req[2] = (uint8_t)(len >> 16);
    s->req[3] = (uint8_t)(len >> 8);
    s->req[4] = (uint8_t)len;
    s->req_len = len;
    s->role = bench__op_roles[s->op];
    s->t_start = now;
    c->op_calls[s->op]++;
    /* The first call of each op is always checked, then every Nth (every
     * one by default), so that even a short run verifies every kind. */
    s->verify = cfg->verify_every > 0 && (c->op_calls[s->op] - 1) % cfg->verify_every == 0;
    if (!c->engine->start(s))
        return 0;
    c->res.started++;
    return 1;
}

int bench_slot_next(bench_slot *s)
{
    bench_conn *c = s->conn;
    bench_shared *sh = c->sh;
    const bench_config *cfg = sh->cfg;
    uint64_t now;
    int m;

    for (;;) {
        now = bench_now_ns();
        if (s->in_chain && s->wl == BENCH_WL_SEED) {
            /* Seeding runs every chain to its end, whatever the bounds. */
            s->op = bench__workflow_ops[s->step];
            s->measured = 1;
            if (bench__start(s, now))
                return 1;
            s->in_chain = 0;
            continue;
        }
        if (!s->in_chain && cfg->weights[BENCH_WL_SEED] > 0) {
            uint64_t i = atomic_fetch_add(&sh->seed_next, 1);
            if (i >= cfg->n_needs)
                return 0;
            s->wl = BENCH_WL_SEED;
            s->index = i;
            s->step = 0;
            s->in_chain = 1;
            snprintf(s->id, sizeof(s->id), "%s-%" PRIu64, cfg->seed_prefix, i);
            continue;
        }
        if ((m = bench__may_start(sh, now)) < 0) {
            s->in_chain = 0;
            return 0;
        }
        s->measured = m;
        if (!s->in_chain) {
            s->wl = bench__pick(c);
            s->step = 0;
            switch (s->wl) {
            case BENCH_WL_READ:
                s->op = BENCH_OP_GET_NEED;
                s->index = bench__rand(c) % cfg->n_needs;
                break;
            case BENCH_WL_LIST:
                s->op = BENCH_OP_LIST_NEEDS;
                break;
            case BENCH_WL_WRITE:
            case BENCH_WL_WORKFLOW:
                s->op = BENCH_OP_CREATE_NEED;
                snprintf(s->id, sizeof(s->id), "%s-%d-%" PRIu64, cfg->run_id, c->index, c->seq++);
                if (s->wl == BENCH_WL_WORKFLOW) {
                    s->in_chain = 1;
                    s->chain_measured = m;
                }
                break;
            default:
                s->op = BENCH_OP_NOOP;
                break;
            }
        } else {
            s->op = bench__workflow_ops[s->step];
        }
        if (bench__start(s, now))
            return 1;
        s->in_chain = 0;
        /* a call that could not start is a local error: try the next one */
        if (s->measured)
            c->res.status[s->op][GRPC_STATUS_INTERNAL]++;
    }
}

/* A connection's memory for decoding answers: blocks reused from one check
 * to the next, so that checking every response costs no malloc/free per
 * field (the client shares the cores with the server it measures). */
#define BENCH_ARENA_BLOCK (64 * 1024)

typedef struct bench_arena_block {
    struct bench_arena_block *next;
    size_t used, size;
    max_align_t data[];
} bench_arena_block;

struct bench_arena {
    ProtobufCAllocator alloc;
    bench_arena_block *head, *cur;
};

static void *bench__arena_alloc(void *data, size_t size)
{
    struct bench_arena *a = data;
    size_t need = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t);
    bench_arena_block *b = a->cur;
    void *p;

    while (b != NULL && b->size - b->used < need)
        b = b->next;
    if (b == NULL) {
        size_t units = BENCH_ARENA_BLOCK / sizeof(max_align_t);
        if (units < need)
            units = need;
        if ((b = malloc(sizeof(*b) + units * sizeof(max_align_t))) == NULL)
            return NULL;
        b->size = units;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    a->cur = b;
    p = &b->data[b->used];
    b->used += need;
    return p;
}

static void bench__arena_free(void *data, void *p)
{
    (void)data; /* everything goes at the next reset */
    (void)p;
}

static void bench__arena_reset(struct bench_arena *a)
{
    for (bench_arena_block *b = a->head; b != NULL; b = b->next)
        b->used = 0;
    a->cur = a->head;
}

static void bench__arena_destroy(struct bench_arena *a)
{
    if (a == NULL)
        return;
    while (a->head != NULL) {
        bench_arena_block *b = a->head;
        a->head = b->next;
        free(b);
    }
    free(a);
}

static ProtobufCMessage *bench__decode(bench_slot *s, const uint8_t *data, size_t len,
                                       const ProtobufCMessageDescriptor *d)
{
    struct bench_arena *a = s->conn->arena;

    bench__arena_reset(a);
    return protobuf_c_message_unpack(d, &a->alloc, len, data);
}

/* s is prefix followed by the decimal digits of v and nothing else. */
static int bench__is_numbered(const char *s, const char *prefix, uint64_t v)
{
    char digits[24];
    char *p = digits + sizeof(digits) - 1;
    size_t n = strlen(prefix);

    *p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return strncmp(s, prefix, n) == 0 && strcmp(s + n, p) == 0;
}

/* Checks a need answer against what the slot asked for. NULL = good. */
static const char *bench__check_need(bench_slot *s, const Tallinn__V1__Need *n, int state)
{
    const bench_config *cfg = s->conn->sh->cfg;
    char want[BENCH_NAME_MAX];

    if (s->op == BENCH_OP_GET_NEED) {
        size_t plen = strlen(cfg->seed_prefix);
        if (strncmp(n->name, "needs/", 6) != 0 || strncmp(n->name + 6, cfg->seed_prefix, plen) != 0 ||
            !bench__is_numbered(n->name + 6 + plen, "-", s->index))
            return "wrong need name";
        if (!bench__is_numbered(n->title, "Bench need ", s->index))
            return "wrong need title";
        if (n->sensitivity != TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD)
            return "wrong sensitivity";
        if ((int)n->priority != BENCH_SEED_PRIORITY(s->index))
            return "wrong priority";
    } else {
        snprintf(want, sizeof(want), "needs/%s", s->id);
        if (strcmp(n->name, want) != 0)
            return "wrong need name";
        if (strcmp(n->title, s->title) != 0 && s->op == BENCH_OP_CREATE_NEED)
            return "wrong need title";
    }
    if ((int)n->state != state)
        return "wrong need state";
    if (n->estimated_cost == NULL || strcmp(n->estimated_cost->currency_code, "EUR") != 0)
        return "wrong estimated cost";
    return NULL;
}

/* Decodes and checks the response of a sampled call. NULL = good. */
static const char *bench__verify(bench_slot *s, const uint8_t *data, size_t len)
{
    const bench_config *cfg = s->conn->sh->cfg;
    ProtobufCMessage *m = NULL;
    const char *bad = NULL;
    char want[BENCH_NAME_MAX];

    switch (s->op) {
    case BENCH_OP_GET_NEED:
    case BENCH_OP_CREATE_NEED:
    case BENCH_OP_SUBMIT_NEED:
    case BENCH_OP_VALIDATE_NEED: {
        static const int states[] = {
            [BENCH_OP_GET_NEED] = TALLINN__V1__NEED__STATE__STATE_OPEN,
            [BENCH_OP_CREATE_NEED] = TALLINN__V1__NEED__STATE__STATE_DRAFT,
            [BENCH_OP_SUBMIT_NEED] = TALLINN__V1__NEED__STATE__STATE_SUBMITTED,
            [BENCH_OP_VALIDATE_NEED] = TALLINN__V1__NEED__STATE__STATE_OPEN};
        if ((m = bench__decode(s, data, len, &tallinn__v1__need__descriptor)) == NULL)
            return "response does not decode as a Need";
        bad = bench__check_need(s, (Tallinn__V1__Need *)m, states[s->op]);
        break;
    }
    case BENCH_OP_LIST_NEEDS: {
        size_t high = BENCH_SEED_HIGH(cfg->n_needs);
        size_t want_min = high < (size_t)cfg->list_page_size ? high : (size_t)cfg->list_page_size;
        int default_filter = strcmp(cfg->list_filter, "state = OPEN AND priority = HIGH") == 0;

        /* Every need of the page, on its wire bytes (bench_check.c). */
        return bench_check_list_page(data, len, (size_t)cfg->list_page_size,
                                     default_filter ? want_min : 0, default_filter);
    }
    case BENCH_OP_CREATE_MATCH:
    case BENCH_OP_APPROVE_MATCH: {
        const Tallinn__V1__Match *x;
        if ((m = bench__decode(s, data, len, &tallinn__v1__match__descriptor)) == NULL)
            return "response does not decode as a Match";
        x = (const Tallinn__V1__Match *)m;
        snprintf(want, sizeof(want), "matches/%s", s->id);
        if (strcmp(x->name, want) != 0)
            bad = "wrong match name";
        else if (strcmp(x->need + (strncmp(x->need, "needs/", 6) == 0 ? 6 : 0), s->id) != 0)
            bad = "wrong match need";
        else if (strcmp(x->pledge, cfg->pledge) != 0)
            bad = "wrong match pledge";
        else if (x->amount == NULL || x->amount->units != BENCH_WORKFLOW_UNITS)
            bad = "wrong match amount";
        else if ((int)x->state != (s->op == BENCH_OP_CREATE_MATCH
                                       ? TALLINN__V1__MATCH__STATE__STATE_PROPOSED
                                       : TALLINN__V1__MATCH__STATE__STATE_APPROVED))
            bad = "wrong match state";
        break;
    }
    case BENCH_OP_NOOP:
    default:
        if ((m = bench__decode(s, data, len, &tallinn__v1__noop_response__descriptor)) == NULL)
            return "response does not decode as a NoopResponse";
        break;
    }
    return bad; /* m lives in the connection's arena until the next check */
}

void bench_slot_done(bench_slot *s, grpc_status_code code, const char *msg, size_t msg_len,
                     const uint8_t *resp, size_t resp_len, int have_resp)
{
    bench_conn *c = s->conn;
    bench_shared *sh = c->sh;
    uint64_t now = bench_now_ns();
    int measured = s->measured && now <= sh->t_end;

    if (measured) {
        if ((unsigned)code < BENCH_STATUS_COUNT)
            c->res.status[s->op][code]++;
        else
            c->res.status_other++;
        if (now > c->last_done)
            c->last_done = now;
    }
    if (code == GRPC_STATUS_OK) {
        if (measured)
            bench_hist_record(&c->res.hist[s->op], now - s->t_start);
        if (s->verify || !have_resp) {
            const char *bad = !have_resp ? "OK without a response message"
                                         : bench__verify(s, resp, resp_len);
            c->res.verified++;
            if (bad != NULL) {
                c->res.verify_failed++;
                bench_conn_fail(c, "verification failed on %s: %s", bench__ops[s->op].name, bad);
            }
        }
        if (s->in_chain) {
            s->step++;
            if (s->step == (s->wl == BENCH_WL_SEED ? BENCH_SEED_STEPS : BENCH_WORKFLOW_STEPS)) {
                s->in_chain = 0;
                if (s->wl == BENCH_WL_WORKFLOW && s->chain_measured && measured)
                    c->res.workflows++;
            }
        }
    } else {
        char text[BENCH_ERROR_MAX];
        if (msg_len >= sizeof(text))
            msg_len = sizeof(text) - 1;
        memcpy(text, msg, msg_len);
        text[msg_len] = '\0';
        bench_conn_fail(c, "%s failed: %s", bench__ops[s->op].name, text);
        s->in_chain = 0; /* a broken chain is abandoned */
    }
}

static void *bench__conn_main(void *arg)
{
    bench_conn *c = arg;

    for (int i = 0; i < c->n_slots; i++)
        c->active += bench_slot_next(&c->slots[i]);
    c->engine->conn_main(c);
    return NULL;
}

static void bench__conn_destroy(bench_conn *c)
{
    c->engine->conn_destroy(c);
    bench__arena_destroy(c->arena);
    free(c->slots);
}

static int bench__conn_init(bench_conn *c, bench_shared *sh, int index, char *err, size_t err_len)
{
    const bench_config *cfg = sh->cfg;

    c->sh = sh;
    c->engine = cfg->engine == BENCH_ENGINE_GRPC ? &bench_engine_grpc : &bench_engine_h2;
    c->index = index;
    c->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(index + 1) ^ bench_now_ns();
    if (c->rng == 0)
        c->rng = 1;
    for (int i = 0; i < BENCH_OP_COUNT; i++)
        bench_hist_init(&c->res.hist[i]);
    c->slots = calloc((size_t)cfg->inflight, sizeof(*c->slots));
    if ((c->arena = calloc(1, sizeof(*c->arena))) != NULL) {
        c->arena->alloc.alloc = bench__arena_alloc;
        c->arena->alloc.free = bench__arena_free;
        c->arena->alloc.allocator_data = c->arena;
    }
    if (c->slots == NULL || c->arena == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    c->n_slots = cfg->inflight;
    for (int i = 0; i < cfg->inflight; i++)
        c->slots[i].conn = c;
    return c->engine->conn_init(c, err, err_len);
}

int bench_run(const bench_config *cfg, bench_result *res, char *err, size_t err_len)
{
    bench_shared sh;
    bench_conn *conns = NULL;
    uint64_t t0, last = 0;
    int rc = -1, n = 0, use_grpc = cfg->engine == BENCH_ENGINE_GRPC;

    memset(res, 0, sizeof(*res));
    for (int i = 0; i < BENCH_OP_COUNT; i++)
        bench_hist_init(&res->hist[i]);
    memset(&sh, 0, sizeof(sh));
    sh.cfg = cfg;
    for (int i = 0; i < BENCH_WL_COUNT; i++)
        sh.weight_total += cfg->weights[i];
    if (sh.weight_total == 0 || cfg->connections < 1 || cfg->inflight < 1) {
        snprintf(err, err_len, "nothing to run");
        return -1;
    }
    atomic_init(&sh.measured_started, 0);
    atomic_init(&sh.seed_next, 0);

    if (use_grpc)
        grpc_init();
    conns = calloc((size_t)cfg->connections, sizeof(*conns));
    if (conns == NULL) {
        snprintf(err, err_len, "out of memory");
        goto cleanup;
    }
    for (n = 0; n < cfg->connections; n++) {
        if (bench__conn_init(&conns[n], &sh, n, err, err_len) != 0) {
            n++;
            goto cleanup;
        }
    }
    t0 = bench_now_ns();
    sh.t_measure = t0 + (uint64_t)(cfg->warmup_s * 1e9);
    sh.t_end = cfg->duration_s > 0 ? sh.t_measure + (uint64_t)(cfg->duration_s * 1e9) : UINT64_MAX;
    if (cfg->weights[BENCH_WL_SEED] > 0)
        sh.t_measure = t0; /* seeding has no warm-up */
    for (int i = 0; i < n; i++) {
        if (pthread_create(&conns[i].thread, NULL, bench__conn_main, &conns[i]) != 0) {
            snprintf(err, err_len, "cannot start thread %d", i);
            /* the threads already started end by the bounds; join them */
            break;
        }
        conns[i].thread_started = 1;
    }
    for (int i = 0; i < n; i++) {
        if (conns[i].thread_started)
            pthread_join(conns[i].thread, NULL);
    }
    for (int i = 0; i < n; i++) {
        bench_conn *c = &conns[i];
        if (!c->thread_started)
            goto cleanup;
        for (int op = 0; op < BENCH_OP_COUNT; op++) {
            bench_hist_merge(&res->hist[op], &c->res.hist[op]);
            for (int k = 0; k < BENCH_STATUS_COUNT; k++)
                res->status[op][k] += c->res.status[op][k];
        }
        res->status_other += c->res.status_other;
        res->workflows += c->res.workflows;
        res->verified += c->res.verified;
        res->verify_failed += c->res.verify_failed;
        res->started += c->res.started;
        if (c->last_done > last)
            last = c->last_done;
        if (res->first_failure[0] == '\0' && c->res.first_failure[0] != '\0')
            memcpy(res->first_failure, c->res.first_failure, sizeof(res->first_failure));
    }
    if (cfg->duration_s > 0 && cfg->weights[BENCH_WL_SEED] == 0)
        res->window_s = cfg->duration_s;
    else
        res->window_s = last > sh.t_measure ? (double)(last - sh.t_measure) / 1e9 : 0;
    rc = 0;

cleanup:
    for (int i = 0; i < n; i++)
        bench__conn_destroy(&conns[i]);
    free(conns);
    if (use_grpc)
        grpc_shutdown();
    return rc;
}
