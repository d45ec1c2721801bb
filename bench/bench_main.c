/* bench_main.c — tallinn-bench: flags, the loopback guard, and the report
 * (a table for people, --json for scripts). See docs/BENCHMARKS.md. */
#include "bench.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <jansson.h>
#include <sodium.h>

#include "tallinn/rpc_client.h"

#define BENCH_EXIT_OK 0
#define BENCH_EXIT_FAILED 1 /* verification failures, or call errors */
#define BENCH_EXIT_USAGE 2
#define BENCH_EXIT_RUN 3    /* the run or the set-up could not take place */

/* Hard ceilings: every run is bounded in time and in count. */
#define BENCH_MAX_DURATION_S 3600.0
#define BENCH_MAX_WARMUP_S 600.0
#define BENCH_MAX_CONNECTIONS 64
#define BENCH_MAX_INFLIGHT 4096
#define BENCH_MAX_NEEDS 10000000
#define BENCH_DEFAULT_FILTER "state = OPEN AND priority = HIGH"

static const char bench__usage[] =
    "usage: tallinn-bench [options] (--workload W | --mix W=N,...) (--duration S | --calls N)\n"
    "       tallinn-bench --setup --admin-token-file F --state-dir D [--needs N] [run options]\n"
    "\n"
    "Loopback load generator for tallinnd on the gRPC C core (async: one completion\n"
    "queue per connection thread, --inflight calls per connection, closed loop).\n"
    "\n"
    "workloads:\n"
    "  read      GetNeed as DONOR on a random seeded OPEN need\n"
    "  list      ListNeeds as DONOR, one page (--page-size) with --list-filter\n"
    "  write     CreateNeed as FRONT_OFFICE\n"
    "  workflow  CreateNeed, SubmitNeed (FRONT_OFFICE), ValidateNeed, CreateMatch\n"
    "            (BACK_OFFICE), ApproveMatch (COORDINATOR)\n"
    "  empty     DiagnosticsService.Noop (the transport ceiling)\n"
    "\n"
    "options:\n"
    "  --addr HOST:PORT          server, loopback only (default 127.0.0.1:50051)\n"
    "  --state-dir DIR           tokens and data written by --setup (default bench-state)\n"
    "  --token-file FILE         one token for every role instead of the state dir\n"
    "                            (enough for `empty`)\n"
    "  --setup                   create principals, donor, pledge and --needs OPEN needs\n"
    "  --admin-token-file FILE   ADMIN token for --setup (tallinnd init writes one)\n"
    "  --needs N                 OPEN needs to seed (default 1000)\n"
    "  --workload W              one workload (same as --mix W=1)\n"
    "  --mix W=N,...             workloads by ratio, e.g. read=8,write=1,list=1\n"
    "  --engine E                h2 (default): HTTP/2 with libnghttp2, a few us of client\n"
    "                            CPU a call; grpc: the gRPC C core's client (tens of us)\n"
    "  --connections C           connections, one thread each (default 2)\n"
    "  --inflight K              calls in flight per connection (default 32)\n"
    "  --duration S              measure for S seconds (after the warm-up)\n"
    "  --calls N                 measure N calls (after the warm-up)\n"
    "  --warmup S                unmeasured warm-up (default 1)\n"
    "  --deadline-ms MS          per-call deadline (default 30000)\n"
    "  --verify-every N          decode and check every Nth response per op (default 1:\n"
    "                            every one)\n"
    "  --page-size N             ListNeeds page size (default 50)\n"
    "  --list-filter F           ListNeeds filter (default \"" BENCH_DEFAULT_FILTER "\")\n"
    "  --allow-errors            exit 0 even if calls failed (never with bad answers)\n"
    "  --json                    one JSON object on stdout instead of the table\n"
    "  -h, --help                this help\n"
    "\n"
    "exit status: 0 all good; 1 verification failures or failed calls; 2 usage;\n"
    "3 the run or set-up could not take place.\n";

enum {
    O_ADDR = 256, O_STATE, O_TOKEN, O_SETUP, O_ADMIN, O_NEEDS, O_WORKLOAD, O_MIX, O_CONNS,
    O_INFLIGHT, O_DURATION, O_CALLS, O_WARMUP, O_DEADLINE, O_VERIFY, O_PAGE, O_FILTER,
    O_ALLOW, O_JSON, O_ENGINE
};

static int bench__parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (*s == '\0' || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "tallinn-bench: %s: expected a number from %g to %g, got '%s'\n", flag,
                lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int bench__parse_u64(const char *flag, const char *s, uint64_t lo, uint64_t hi,
                            uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        goto bad;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || v < lo || v > hi)
        goto bad;
    *out = v;
    return 0;
bad:
    fprintf(stderr, "tallinn-bench: %s: expected an integer from %" PRIu64 " to %" PRIu64
            ", got '%s'\n", flag, lo, hi, s);
    return -1;
}

/* "read=8,write=1": weights by workload. */
static int bench__parse_mix(const char *s, unsigned *weights)
{
    char buf[256];
    char *save = NULL;

    if (strlen(s) >= sizeof(buf))
        goto bad;
    strcpy(buf, s);
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        uint64_t w = 1;
        int wl;
        if (eq != NULL) {
            *eq = '\0';
            if (bench__parse_u64("--mix", eq + 1, 0, 1000000, &w) != 0)
                return -1;
        }
        if ((wl = bench_workload_parse(tok)) < 0)
            goto bad;
        weights[wl] += (unsigned)w;
    }
    return 0;
bad:
    fprintf(stderr, "tallinn-bench: --mix: expected W=N,... with W in read, list, write, "
            "workflow, empty; got '%s'\n", s);
    return -1;
}

/* The load stays on this machine: only loopback targets are accepted. */
static int bench__loopback(const char *addr)
{
    char host[256];
    const char *colon;
    size_t n;
    struct in_addr a4;
    struct in6_addr a6;

    if (strncmp(addr, "ipv4:", 5) == 0 || strncmp(addr, "ipv6:", 5) == 0 ||
        strncmp(addr, "dns:", 4) == 0)
        addr = strchr(addr, ':') + 1;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (end == NULL || (n = (size_t)(end - addr - 1)) >= sizeof(host))
            return 0;
        memcpy(host, addr + 1, n);
        host[n] = '\0';
    } else {
        if ((colon = strrchr(addr, ':')) == NULL)
            return 0;
        if ((n = (size_t)(colon - addr)) >= sizeof(host))
            return 0;
        memcpy(host, addr, n);
        host[n] = '\0';
    }
    if (strcmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

static double bench__ms(uint64_t ns) { return (double)ns / 1e6; }

static uint64_t bench__op_calls(const bench_result *r, int op, uint64_t *errors)
{
    uint64_t all = 0;

    *errors = 0;
    for (int k = 0; k < BENCH_STATUS_COUNT; k++) {
        all += r->status[op][k];
        if (k != GRPC_STATUS_OK)
            *errors += r->status[op][k];
    }
    return all;
}

static json_t *bench__lat_json(const bench_hist *h)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "p50",
                     bench__ms(bench_hist_quantile(h, 0.50)), "p90",
                     bench__ms(bench_hist_quantile(h, 0.90)), "p99",
                     bench__ms(bench_hist_quantile(h, 0.99)), "p99_9",
                     bench__ms(bench_hist_quantile(h, 0.999)), "mean",
                     h->n ? h->sum / (double)h->n / 1e6 : 0.0, "min",
                     h->n ? bench__ms(h->min) : 0.0, "max", bench__ms(h->max));
}

/* CPU seconds this process used: the client shares the cores with the
 * server, so its own cost is part of every figure. */
static double bench__cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int bench__report_json(const bench_config *cfg, const bench_result *r,
                              const bench_hist *all, uint64_t ok, uint64_t errors, double cpu_s)
{
    json_t *root = json_object(), *ops = json_object(), *errs = json_object(),
           *mix = json_object();
    int rc;

    for (int wl = 0; wl < BENCH_WL_COUNT; wl++) {
        if (cfg->weights[wl] > 0)
            json_object_set_new(mix, bench_workload_name(wl), json_integer(cfg->weights[wl]));
    }
    for (int op = 0; op < BENCH_OP_COUNT; op++) {
        uint64_t e, n = bench__op_calls(r, op, &e);
        json_t *o;
        if (n == 0)
            continue;
        o = json_pack("{s:I, s:I, s:f, s:o}", "calls", (json_int_t)n, "errors", (json_int_t)e,
                      "calls_per_s", r->window_s > 0 ? (double)r->hist[op].n / r->window_s : 0.0,
                      "latency_ms", bench__lat_json(&r->hist[op]));
        json_object_set_new(ops, bench_op_name(op), o);
        for (int k = 1; k < BENCH_STATUS_COUNT; k++) {
            if (r->status[op][k] > 0) {
                const char *name = rpcc_status_name((grpc_status_code)k);
                json_t *cur = json_object_get(errs, name);
                json_object_set_new(errs, name,
                                    json_integer((cur ? json_integer_value(cur) : 0) +
                                                 (json_int_t)r->status[op][k]));
            }
        }
    }
    if (r->status_other > 0)
        json_object_set_new(errs, "OTHER", json_integer((json_int_t)r->status_other));
    json_object_set_new(root, "addr", json_string(cfg->addr));
    json_object_set_new(root, "engine",
                        json_string(cfg->engine == BENCH_ENGINE_GRPC ? "grpc" : "h2"));
    json_object_set_new(root, "mix", mix);
    json_object_set_new(root, "connections", json_integer(cfg->connections));
    json_object_set_new(root, "inflight_per_connection", json_integer(cfg->inflight));
    json_object_set_new(root, "inflight", json_integer(cfg->connections * cfg->inflight));
    json_object_set_new(root, "warmup_s", json_real(cfg->warmup_s));
    json_object_set_new(root, "window_s", json_real(r->window_s));
    json_object_set_new(root, "calls", json_integer((json_int_t)ok));
    json_object_set_new(root, "calls_per_s",
                        json_real(r->window_s > 0 ? (double)ok / r->window_s : 0.0));
    json_object_set_new(root, "workflows", json_integer((json_int_t)r->workflows));
    json_object_set_new(root, "workflows_per_s",
                        json_real(r->window_s > 0 ? (double)r->workflows / r->window_s : 0.0));
    json_object_set_new(root, "latency_ms", bench__lat_json(all));
    json_object_set_new(root, "errors", json_integer((json_int_t)errors));
    json_object_set_new(root, "errors_by_status", errs);
    json_object_set_new(root, "calls_started", json_integer((json_int_t)r->started));
    json_object_set_new(root, "client_cpu_s", json_real(cpu_s));
    json_object_set_new(root, "client_cpu_us_per_call",
                        json_real(r->started > 0 ? cpu_s * 1e6 / (double)r->started : 0.0));
    json_object_set_new(root, "verified", json_integer((json_int_t)r->verified));
    json_object_set_new(root, "verify_failures", json_integer((json_int_t)r->verify_failed));
    json_object_set_new(root, "first_failure",
                        r->first_failure[0] ? json_string(r->first_failure) : json_null());
    json_object_set_new(root, "ops", ops);
    rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(root);
    return rc;
}

static void bench__report_text(const bench_config *cfg, const bench_result *r,
                               const bench_hist *all, uint64_t ok, uint64_t errors, double cpu_s)
{
    printf("tallinn-bench: %s (%s), %d connection(s) x %d in flight, window %.2f s (+%.1f s "
           "warm-up)\n", cfg->addr, cfg->engine == BENCH_ENGINE_GRPC ? "grpc" : "h2",
           cfg->connections, cfg->inflight, r->window_s, cfg->warmup_s);
    printf("%-13s %10s %10s %8s %8s %8s %8s %8s %7s\n", "op", "ok calls", "calls/s", "p50 ms",
           "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors");
    for (int op = 0; op < BENCH_OP_COUNT; op++) {
        uint64_t e, n = bench__op_calls(r, op, &e);
        const bench_hist *h = &r->hist[op];
        if (n == 0)
            continue;
        printf("%-13s %10" PRIu64 " %10.0f %8.2f %8.2f %8.2f %8.2f %8.2f %7" PRIu64 "\n",
               bench_op_name(op), h->n, r->window_s > 0 ? (double)h->n / r->window_s : 0,
               bench__ms(bench_hist_quantile(h, 0.5)), bench__ms(bench_hist_quantile(h, 0.9)),
               bench__ms(bench_hist_quantile(h, 0.99)), bench__ms(bench_hist_quantile(h, 0.999)),
               bench__ms(h->max), e);
    }
    printf("%-13s %10" PRIu64 " %10.0f %8.2f %8.2f %8.2f %8.2f %8.2f %7" PRIu64 "\n", "all", ok,
           r->window_s > 0 ? (double)ok / r->window_s : 0, bench__ms(bench_hist_quantile(all, 0.5)),
           bench__ms(bench_hist_quantile(all, 0.9)), bench__ms(bench_hist_quantile(all, 0.99)),
           bench__ms(bench_hist_quantile(all, 0.999)), bench__ms(all->max), errors);
    if (r->workflows > 0)
        printf("workflows: %" PRIu64 " (%.0f/s)\n", r->workflows,
               r->window_s > 0 ? (double)r->workflows / r->window_s : 0);
    if (errors > 0 || r->status_other > 0) {
        printf("errors by status:");
        for (int k = 1; k < BENCH_STATUS_COUNT; k++) {
            uint64_t n = 0;
            for (int op = 0; op < BENCH_OP_COUNT; op++)
                n += r->status[op][k];
            if (n > 0)
                printf(" %s=%" PRIu64, rpcc_status_name((grpc_status_code)k), n);
        }
        if (r->status_other > 0)
            printf(" OTHER=%" PRIu64, r->status_other);
        printf("\n");
    }
    printf("client CPU: %.2f s (%.0f us per call started)\n", cpu_s,
           r->started > 0 ? cpu_s * 1e6 / (double)r->started : 0.0);
    printf("verified: %" PRIu64 " responses, %" PRIu64 " failures\n", r->verified,
           r->verify_failed);
    if (r->first_failure[0] != '\0')
        printf("first failure: %s\n", r->first_failure);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"addr", required_argument, NULL, O_ADDR},
        {"state-dir", required_argument, NULL, O_STATE},
        {"token-file", required_argument, NULL, O_TOKEN},
        {"setup", no_argument, NULL, O_SETUP},
        {"admin-token-file", required_argument, NULL, O_ADMIN},
        {"needs", required_argument, NULL, O_NEEDS},
        {"workload", required_argument, NULL, O_WORKLOAD},
        {"mix", required_argument, NULL, O_MIX},
        {"connections", required_argument, NULL, O_CONNS},
        {"inflight", required_argument, NULL, O_INFLIGHT},
        {"duration", required_argument, NULL, O_DURATION},
        {"calls", required_argument, NULL, O_CALLS},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"deadline-ms", required_argument, NULL, O_DEADLINE},
        {"verify-every", required_argument, NULL, O_VERIFY},
        {"page-size", required_argument, NULL, O_PAGE},
        {"list-filter", required_argument, NULL, O_FILTER},
        {"allow-errors", no_argument, NULL, O_ALLOW},
        {"json", no_argument, NULL, O_JSON},
        {"engine", required_argument, NULL, O_ENGINE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    bench_config cfg;
    bench_result *res = NULL;
    bench_hist *all = NULL;
    const char *state_dir = "bench-state", *token_file = NULL, *admin_file = NULL;
    int setup = 0, json = 0, allow_errors = 0, have_mix = 0, c, rc = BENCH_EXIT_USAGE;
    uint64_t v, needs = 1000, ok = 0, errors = 0;
    double cpu_s = 0;
    char err[BENCH_ERROR_MAX];

    memset(&cfg, 0, sizeof(cfg));
    cfg.addr = "127.0.0.1:50051";
    cfg.connections = 2;
    cfg.inflight = 32;
    cfg.warmup_s = 1;
    cfg.deadline_ms = 30000;
    cfg.verify_every = 1;
    cfg.list_page_size = 50;
    cfg.list_filter = BENCH_DEFAULT_FILTER;
    if (sodium_init() < 0) {
        fprintf(stderr, "tallinn-bench: libsodium does not initialise\n");
        return BENCH_EXIT_RUN;
    }
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_ADDR: cfg.addr = optarg; break;
        case O_STATE: state_dir = optarg; break;
        case O_TOKEN: token_file = optarg; break;
        case O_SETUP: setup = 1; break;
        case O_ADMIN: admin_file = optarg; break;
        case O_NEEDS:
            if (bench__parse_u64("--needs", optarg, 1, BENCH_MAX_NEEDS, &needs) != 0)
                goto cleanup;
            break;
        case O_WORKLOAD: {
            int wl = bench_workload_parse(optarg);
            if (wl < 0) {
                fprintf(stderr, "tallinn-bench: --workload: unknown workload '%s'\n", optarg);
                goto cleanup;
            }
            cfg.weights[wl] += 1;
            have_mix = 1;
            break;
        }
        case O_MIX:
            if (bench__parse_mix(optarg, cfg.weights) != 0)
                goto cleanup;
            have_mix = 1;
            break;
        case O_CONNS:
            if (bench__parse_u64("--connections", optarg, 1, BENCH_MAX_CONNECTIONS, &v) != 0)
                goto cleanup;
            cfg.connections = (int)v;
            break;
        case O_INFLIGHT:
            if (bench__parse_u64("--inflight", optarg, 1, BENCH_MAX_INFLIGHT, &v) != 0)
                goto cleanup;
            cfg.inflight = (int)v;
            break;
        case O_DURATION:
            if (bench__parse_double("--duration", optarg, 0.01, BENCH_MAX_DURATION_S,
                                    &cfg.duration_s) != 0)
                goto cleanup;
            break;
        case O_CALLS:
            if (bench__parse_u64("--calls", optarg, 1, UINT32_MAX, &cfg.calls) != 0)
                goto cleanup;
            break;
        case O_WARMUP:
            if (bench__parse_double("--warmup", optarg, 0, BENCH_MAX_WARMUP_S, &cfg.warmup_s) != 0)
                goto cleanup;
            break;
        case O_DEADLINE:
            if (bench__parse_u64("--deadline-ms", optarg, 1, 600000, &v) != 0)
                goto cleanup;
            cfg.deadline_ms = (int64_t)v;
            break;
        case O_VERIFY:
            if (bench__parse_u64("--verify-every", optarg, 1, 1000000, &v) != 0)
                goto cleanup;
            cfg.verify_every = (unsigned)v;
            break;
        case O_PAGE:
            if (bench__parse_u64("--page-size", optarg, 1, 1000, &v) != 0)
                goto cleanup;
            cfg.list_page_size = (int)v;
            break;
        case O_FILTER: cfg.list_filter = optarg; break;
        case O_ALLOW: allow_errors = 1; break;
        case O_ENGINE:
            if (strcmp(optarg, "h2") == 0) {
                cfg.engine = BENCH_ENGINE_H2;
            } else if (strcmp(optarg, "grpc") == 0) {
                cfg.engine = BENCH_ENGINE_GRPC;
            } else {
                fprintf(stderr, "tallinn-bench: --engine: h2 or grpc, not '%s'\n", optarg);
                goto cleanup;
            }
            break;
        case O_JSON: json = 1; break;
        case 'h':
            fputs(bench__usage, stdout);
            rc = BENCH_EXIT_OK;
            goto cleanup;
        default:
            fputs(bench__usage, stderr);
            goto cleanup;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tallinn-bench: unexpected argument '%s'\n", argv[optind]);
        goto cleanup;
    }
    if (!bench__loopback(cfg.addr)) {
        fprintf(stderr, "tallinn-bench: %s is not a loopback address: load is generated only "
                "against 127.0.0.0/8, ::1 or localhost\n", cfg.addr);
        goto cleanup;
    }
    if (!setup && !have_mix) {
        fprintf(stderr, "tallinn-bench: give --workload or --mix (or --setup)\n%s", bench__usage);
        goto cleanup;
    }
    if (have_mix && (cfg.duration_s > 0) == (cfg.calls > 0)) {
        fprintf(stderr, "tallinn-bench: a run must be bounded: give exactly one of --duration "
                "and --calls\n");
        goto cleanup;
    }
    if (setup && admin_file == NULL) {
        fprintf(stderr, "tallinn-bench: --setup needs --admin-token-file\n");
        goto cleanup;
    }
    snprintf(cfg.run_id, sizeof(cfg.run_id), "r%08" PRIx32, randombytes_random());

    rc = BENCH_EXIT_RUN;
    if (setup) {
        if (bench_setup(&cfg, admin_file, state_dir, (uint32_t)needs, err, sizeof(err)) != 0) {
            fprintf(stderr, "tallinn-bench: set-up failed: %s\n", err);
            goto cleanup;
        }
        if (!json)
            fprintf(stderr, "tallinn-bench: set up %s: principals, %s, %" PRIu64
                    " OPEN needs (needs/%s-*)\n", state_dir, cfg.pledge, needs, cfg.seed_prefix);
    } else if (token_file != NULL) {
        if (bench_token_read(token_file, &cfg.auth[0], err, sizeof(err)) != 0) {
            fprintf(stderr, "tallinn-bench: %s\n", err);
            goto cleanup;
        }
        for (int r = 1; r < BENCH_ROLE_COUNT; r++) {
            if ((cfg.auth[r] = strdup(cfg.auth[0])) == NULL)
                goto cleanup;
        }
    } else if (have_mix) {
        if (bench_state_load(&cfg, state_dir, err, sizeof(err)) != 0) {
            fprintf(stderr, "tallinn-bench: %s\n", err);
            goto cleanup;
        }
    }
    if (!have_mix) {
        rc = BENCH_EXIT_OK;
        goto cleanup;
    }
    if ((cfg.weights[BENCH_WL_READ] || cfg.weights[BENCH_WL_LIST]) && cfg.n_needs == 0) {
        fprintf(stderr, "tallinn-bench: read and list need seeded needs: run --setup and use "
                "--state-dir\n");
        rc = BENCH_EXIT_USAGE;
        goto cleanup;
    }
    if (cfg.weights[BENCH_WL_WORKFLOW] && cfg.pledge[0] == '\0') {
        fprintf(stderr, "tallinn-bench: workflow needs the bench donor and pledge: run --setup "
                "and use --state-dir\n");
        rc = BENCH_EXIT_USAGE;
        goto cleanup;
    }

    if ((res = malloc(sizeof(*res))) == NULL || (all = malloc(sizeof(*all))) == NULL)
        goto cleanup;
    cpu_s = bench__cpu_s();
    if (bench_run(&cfg, res, err, sizeof(err)) != 0) {
        fprintf(stderr, "tallinn-bench: %s\n", err);
        goto cleanup;
    }
    cpu_s = bench__cpu_s() - cpu_s;
    bench_hist_init(all);
    for (int op = 0; op < BENCH_OP_COUNT; op++) {
        uint64_t e;
        bench__op_calls(res, op, &e);
        errors += e;
        bench_hist_merge(all, &res->hist[op]);
    }
    errors += res->status_other;
    ok = all->n;
    if (json)
        bench__report_json(&cfg, res, all, ok, errors, cpu_s);
    else
        bench__report_text(&cfg, res, all, ok, errors, cpu_s);
    if (res->verify_failed > 0) {
        fprintf(stderr, "tallinn-bench: %" PRIu64 " responses failed verification\n",
                res->verify_failed);
        rc = BENCH_EXIT_FAILED;
    } else if (errors > 0 && !allow_errors) {
        fprintf(stderr, "tallinn-bench: %" PRIu64 " calls failed (--allow-errors to accept)\n",
                errors);
        rc = BENCH_EXIT_FAILED;
    } else if (ok == 0) {
        fprintf(stderr, "tallinn-bench: no call completed in the window\n");
        rc = BENCH_EXIT_FAILED;
    } else {
        rc = BENCH_EXIT_OK;
    }

cleanup:
    for (int r = 0; r < BENCH_ROLE_COUNT; r++) {
        if (cfg.auth[r] != NULL) {
            sodium_memzero(cfg.auth[r], strlen(cfg.auth[r]));
            free(cfg.auth[r]);
        }
    }
    free(res);
    free(all);
    return rc;
}
