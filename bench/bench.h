/* bench.h — internals of tallinn-bench, the loopback load generator: the
 * latency histogram, the load engines (HTTP/2 on libnghttp2, or the gRPC C
 * core's client) and the workloads they run, and the set-up that creates the
 * principals and data a run needs. Private to bench/. */
#ifndef TALLINN_BENCH_H
#define TALLINN_BENCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>

/* ---- Histogram (bench_hist.c) ----
 * Log-linear, as HdrHistogram: values below 2*BENCH_HIST_SUB ns are exact;
 * above, each power of two is split into BENCH_HIST_SUB equal buckets, so a
 * value reported as its bucket's midpoint is within 1/(2*BENCH_HIST_SUB)
 * (0.8 %) of the true one. Fixed size, no allocation: one per thread and op. */
#define BENCH_HIST_SUB_BITS 6
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_BUCKETS (2 * BENCH_HIST_SUB + (63 - BENCH_HIST_SUB_BITS) * BENCH_HIST_SUB)

typedef struct bench_hist {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t n;
    uint64_t min, max; /* exact, ns; min is UINT64_MAX while n == 0 */
    double sum;        /* ns, for the mean */
} bench_hist;

void bench_hist_init(bench_hist *h);
void bench_hist_record(bench_hist *h, uint64_t ns);
void bench_hist_merge(bench_hist *dst, const bench_hist *src);
/* The value (ns) at quantile q in [0,1]: the midpoint of the bucket holding
 * the ceil(q*n)-th smallest sample, clamped to [min, max]; 0 when empty. */
uint64_t bench_hist_quantile(const bench_hist *h, double q);

/* ---- Roles, operations, workloads ---- */
typedef enum bench_role {
    BENCH_ROLE_FRONT_OFFICE,
    BENCH_ROLE_BACK_OFFICE,
    BENCH_ROLE_COORDINATOR,
    BENCH_ROLE_DONOR,
    BENCH_ROLE_COUNT
} bench_role;

/* One RPC method each; latency and status are kept per op. */
typedef enum bench_op {
    BENCH_OP_GET_NEED,
    BENCH_OP_LIST_NEEDS,
    BENCH_OP_CREATE_NEED,
    BENCH_OP_SUBMIT_NEED,
    BENCH_OP_VALIDATE_NEED,
    BENCH_OP_CREATE_MATCH,
    BENCH_OP_APPROVE_MATCH,
    BENCH_OP_NOOP,
    BENCH_OP_COUNT
} bench_op;

typedef enum bench_workload {
    BENCH_WL_READ,     /* GetNeed as DONOR on a random seeded OPEN need */
    BENCH_WL_LIST,     /* ListNeeds as DONOR, one filtered page */
    BENCH_WL_WRITE,    /* CreateNeed as FRONT_OFFICE */
    BENCH_WL_WORKFLOW, /* create, submit, validate, CreateMatch, ApproveMatch */
    BENCH_WL_EMPTY,    /* DiagnosticsService.Noop: the transport ceiling */
    BENCH_WL_SEED,     /* internal (--setup): create, submit, validate needs */
    BENCH_WL_COUNT
} bench_workload;

const char *bench_op_name(bench_op op);       /* "GetNeed", ... */
const char *bench_op_method(bench_op op);     /* "/tallinn.v1.NeedService/GetNeed" */
const char *bench_workload_name(bench_workload wl);
/* The workload named s, or -1. Only public workloads (not seed). */
int bench_workload_parse(const char *s);
const char *bench_role_file(bench_role r);    /* "front-office.token", ... */

/* Sizes of the id and name buffers; ids follow AIP-122 (<= 63 bytes). A
 * prefix is one letter and 8 hex digits, so prefix-conn-seq always fits. */
#define BENCH_PREFIX_MAX 16
#define BENCH_ID_MAX 64
#define BENCH_NAME_MAX 160
/* Largest gRPC status code we count separately (UNAUTHENTICATED = 16). */
#define BENCH_STATUS_COUNT 17
#define BENCH_ERROR_MAX 256

/* How calls reach the server. Both speak gRPC over plaintext HTTP/2 and feed
 * the same workloads and checks; they differ in what a call costs the client. */
typedef enum bench_engine_kind {
    BENCH_ENGINE_H2,   /* libnghttp2, one socket per connection thread: cheap */
    BENCH_ENGINE_GRPC, /* the gRPC C core's client channel: ~45,000 instructions a call */
} bench_engine_kind;

/* Everything a run needs to know; filled by main from flags and state. */
typedef struct bench_config {
    const char *addr;
    bench_engine_kind engine;
    int connections;
    int inflight;            /* per connection */
    double duration_s;       /* > 0: time-bounded */
    uint64_t calls;          /* > 0: count-bounded (measured RPCs) */
    double warmup_s;
    int64_t deadline_ms;     /* per call */
    unsigned weights[BENCH_WL_COUNT];
    unsigned verify_every;   /* decode and check every Nth call per connection */
    int list_page_size;
    const char *list_filter;
    /* "Bearer <token>" per role, owned by main (wiped at exit). */
    char *auth[BENCH_ROLE_COUNT];
    /* Data from set-up: seeded needs are needs/<seed_prefix>-<i>, i < n_needs,
     * OPEN, STANDARD, titled "Bench need <i>", priority by i % 4
     * (CRITICAL, HIGH, MEDIUM, LOW). */
    char seed_prefix[BENCH_PREFIX_MAX];
    uint32_t n_needs;
    char donor[BENCH_ID_MAX + 8];   /* donors/<id> */
    char pledge[BENCH_NAME_MAX];
    /* Prefix of ids this run creates (random, so runs never collide). */
    char run_id[BENCH_PREFIX_MAX];
} bench_config;

/* Priority of seeded need i (tallinn.v1.Need.Priority value). */
#define BENCH_SEED_PRIORITY(i) ((int)((i) % 4) + 1)
/* Seeded needs with priority HIGH among the first n. */
#define BENCH_SEED_HIGH(n) ((n) / 4 + ((n) % 4 > 1 ? 1 : 0))

typedef struct bench_result {
    bench_hist hist[BENCH_OP_COUNT];           /* latency of measured OK calls */
    uint64_t status[BENCH_OP_COUNT][BENCH_STATUS_COUNT]; /* measured calls by code */
    uint64_t status_other;                     /* codes >= BENCH_STATUS_COUNT */
    uint64_t workflows;                        /* measured chains completed */
    uint64_t verified, verify_failed;          /* all phases */
    uint64_t started;                          /* all RPCs started, all phases */
    double window_s;                           /* the measured window */
    char first_failure[BENCH_ERROR_MAX];       /* first verification or error message */
} bench_result;

/* Runs the load described by cfg against cfg->addr and fills res (zeroed by
 * the call). The engine owns nothing of cfg. Returns 0, or -1 with a cause in
 * err when the run could not take place (threads, channel). Call errors and
 * verification failures are counted in res, not returned. For BENCH_WL_SEED,
 * cfg->n_needs chains are run to their end, whatever the bounds. */
int bench_run(const bench_config *cfg, bench_result *res, char *err, size_t err_len);

/* ---- Set-up (bench_setup.c) ---- */
/* Creates (or rotates the tokens of) the bench principals with the ADMIN token
 * in admin_token_file, the bench donor and a large pledge, then seeds
 * n_needs OPEN needs through the engine; writes the role tokens (0600) and
 * state.json into state_dir. cfg supplies addr, connections, inflight and
 * deadline; it is filled with the resulting tokens and data. Returns 0 or -1
 * with a cause in err. */
int bench_setup(bench_config *cfg, const char *admin_token_file, const char *state_dir,
                uint32_t n_needs, char *err, size_t err_len);

/* Loads the tokens and state.json that bench_setup wrote. */
int bench_state_load(bench_config *cfg, const char *state_dir, char *err, size_t err_len);

/* Reads a token file (first line, trimmed) into a malloc'd "Bearer <token>". */
int bench_token_read(const char *path, char **auth, char *err, size_t err_len);

/* Monotonic clock in ns. */
uint64_t bench_now_ns(void);

/* ---- Engines (bench_load.c drives them; bench_h2.c, bench_grpc.c) ----
 * An engine owns a connection's transport. bench_load.c chooses each call,
 * encodes its request and checks its answer; the engine sends the request,
 * collects status and response, and reports them with bench_slot_done. One
 * thread per connection: nothing here is shared between threads but
 * bench_shared's atomics. */

/* Largest request we encode (ours are a few hundred bytes). */
#define BENCH_REQ_MAX 4096
/* The gRPC length-prefixed message header: compressed flag, 4-byte length. */
#define BENCH_GRPC_PREFIX 5

typedef struct bench_shared bench_shared;
typedef struct bench_conn bench_conn;
typedef struct bench_h2_conn bench_h2_conn;
typedef struct bench_grpc_conn bench_grpc_conn;

/* One call slot: a small state machine that runs one call at a time and
 * starts the next as soon as one is answered. */
typedef struct bench_slot {
    bench_conn *conn;
    bench_workload wl;
    bench_op op;
    bench_role role;
    int step;           /* position in a chain */
    int in_chain;       /* a chained workload is under way */
    int measured;       /* this call started in the window */
    int chain_measured; /* the chain started in the window */
    int verify;         /* decode and check this response */
    uint64_t t_start;
    uint64_t index;     /* seeded need read (read) or written (seed) */
    char id[BENCH_ID_MAX];       /* need (and match) id of this chain or write */
    char title[BENCH_NAME_MAX];  /* title sent with CreateNeed */
    /* The request as a gRPC message: prefix, then req_len bytes. */
    uint8_t req[BENCH_GRPC_PREFIX + BENCH_REQ_MAX];
    size_t req_len;
    void *engine;       /* the engine's per-slot state */
} bench_slot;

typedef struct bench_engine {
    const char *name;
    /* Connects c (c->sh, c->index set); -1 with a cause in err. */
    int (*conn_init)(bench_conn *c, char *err, size_t err_len);
    /* Starts s's call (request in s->req); 1 under way, 0 not (a local error,
     * already reported with bench_conn_fail). */
    int (*start)(bench_slot *s);
    /* Runs the connection until no slot has a call under way. */
    void (*conn_main)(bench_conn *c);
    void (*conn_destroy)(bench_conn *c);
} bench_engine;

extern const bench_engine bench_engine_h2;
extern const bench_engine bench_engine_grpc;

struct bench_conn {
    bench_shared *sh;
    const bench_engine *engine;
    int index;
    pthread_t thread;
    int thread_started;
    uint64_t rng;
    uint64_t seq;                      /* ids this connection created */
    uint64_t op_calls[BENCH_OP_COUNT]; /* for sampling */
    uint64_t last_done;                /* ns: last measured completion */
    int active;                        /* slots with a call under way */
    int n_slots;
    bench_slot *slots;
    bench_h2_conn *h2;
    bench_grpc_conn *grpc;
    struct bench_arena *arena;         /* decoded responses, reset per check */
    bench_result res;
};

const bench_config *bench_conn_config(const bench_conn *c);
/* Chooses and starts the slot's next call: 1 when one is under way, 0 when
 * the slot is done (the window closed, the budget is spent). */
int bench_slot_next(bench_slot *s);
/* The slot's call ended: code and message as the server sent them (or as
 * the engine concluded), and the response message if one came. Counts it,
 * checks the response when sampled, and moves a chain on. */
void bench_slot_done(bench_slot *s, grpc_status_code code, const char *msg, size_t msg_len,
                     const uint8_t *resp, size_t resp_len, int have_resp);
/* Keeps the first failure of a connection, as a hint for the report. */
void bench_conn_fail(bench_conn *c, const char *fmt, const char *a, const char *b);

/* ---- Checking a ListNeeds page (bench_check.c) ----
 * Every need of the page walked on its wire bytes, as a decoder would
 * check them (framing, wire types, nested messages), without building the
 * messages: at most page_size needs, at least want_min, each named
 * "needs/…" and, with check_filter, OPEN and HIGH. NULL = good, else why. */
const char *bench_check_list_page(const uint8_t *data, size_t len, size_t page_size,
                                  size_t want_min, int check_filter);

#endif
