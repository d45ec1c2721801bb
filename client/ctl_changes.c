/* ctl_changes.c — tallinnctl over tallinn.v1.ChangeService: `changes watch`
 * (the change feed, resumed after a server ends the stream), `--watch` on
 * `get` and `list` (printed again on each change), and `<resource> history`,
 * whose --prove checks each entry's audit record against the signed
 * checkpoint with the log's verifier key (lib/merkle, lib/checkpoint), the
 * key given by the user, never taken from the server it checks. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl.h"
#include "tallinn/checkpoint.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"
#include "tallinn/v1/audit.pb-c.h"
#include "tallinn/v1/change.pb-c.h"

#define CTL_CHANGES_SVC "/tallinn.v1.ChangeService/"
#define CTL_RESUME_FOR_MS 60000 /* how long a watch tries to resume after the stream ended */
#define CTL_HISTORY_PAGE 200
#define CTL_ERR 512

typedef Tallinn__V1__WatchChangesResponse ctl_wresp;

/* ---- Kinds ---- */

static const struct {
    const char *collection;
    const char *word; /* as printed */
    Tallinn__V1__ResourceKind kind;
} ctl_kinds[] = {
    {"donors", "donor", TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_DONOR},
    {"pledges", "pledge", TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_PLEDGE},
    {"needs", "need", TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_NEED},
    {"matches", "match", TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_MATCH},
    {"exchangeRates", "rate", TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_EXCHANGE_RATE},
    {"rates", "rate", TALLINN__V1__RESOURCE_KIND__RESOURCE_KIND_EXCHANGE_RATE}, /* the noun */
};
#define CTL_N_KINDS (sizeof ctl_kinds / sizeof ctl_kinds[0])

/* The kind of a collection ("needs") or word ("need"); -1 if none. */
static int ctl_kind_index(const char *s, size_t len)
{
    for (size_t i = 0; i < CTL_N_KINDS; i++)
        if ((strlen(ctl_kinds[i].collection) == len &&
             strncmp(ctl_kinds[i].collection, s, len) == 0) ||
            (strlen(ctl_kinds[i].word) == len && strncmp(ctl_kinds[i].word, s, len) == 0))
            return (int)i;
    return -1;
}

static const char *ctl_kind_word(Tallinn__V1__ResourceKind k)
{
    for (size_t i = 0; i < CTL_N_KINDS; i++)
        if (ctl_kinds[i].kind == k)
            return ctl_kinds[i].word;
    return "resource";
}

/* ---- A watch that resumes where the stream ended ---- */

/* Called per message: returns -1 to go on, else the exit status to end with. */
typedef int (*ctl_watch_fn)(ctl_ctx *ctx, const ctl_wresp *m, void *arg);

static void ctl_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int64_t ctl_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the feed for req until fn ends it or the server fails it. A stream
 * the server ended with UNAVAILABLE (shutdown, a replica gone) after it had
 * begun is opened again at the last next_start_index, on whichever replica
 * answers, for up to CTL_RESUME_FOR_MS: nothing is lost or repeated. A
 * stream that never began fails at once, as any other call. */
static int ctl_watch_run(ctl_ctx *ctx, Tallinn__V1__WatchChangesRequest *req, const char *what,
                         ctl_watch_fn fn, void *arg)
{
    int64_t resume = -1, failing_since = 0;
    int backoff = 200;

    for (;;) {
        rpcc_call_options opts = ctl_call_options(ctx);
        rpcc_result result = {0};
        rpcc_stream *s = NULL;
        ProtobufCMessage *msg;
        char err[RPCC_ERROR_MAX];
        grpc_status_code code;
        int r, rc = -1;

        opts.deadline_ms = 0;           /* a watch lasts until it is ended */
        opts.retry = RPCC_RETRY_SAFE;   /* a read: safe on another replica */
        if (resume >= 0) {
            req->from_now = 0;
            req->start_index = resume;
        }
        if (ctl_channel(ctx) == NULL)
            return CTL_EXIT_FAILURE;
        if (rpcc_stream_open(ctl_channel(ctx), CTL_CHANGES_SVC "WatchChanges", &req->base,
                             &tallinn__v1__watch_changes_response__descriptor, &opts, &s, err,
                             sizeof err) != 0)
            return ctl_fail("%s: %s", what, err);
        while (rc < 0 && (r = rpcc_stream_next(s, &msg)) == 1) {
            const ctl_wresp *m = (const ctl_wresp *)msg;
            resume = m->next_start_index;
            failing_since = 0;
            backoff = 200;
            rc = fn(ctx, m, arg);
            protobuf_c_message_free_unpacked(msg, NULL);
        }
        if (rc >= 0) {
            rpcc_stream_destroy(s);
            return rc;
        }
        code = rpcc_stream_finish(s, &result);
        rpcc_stream_destroy(s);
        /* Transient: the server went away (UNAVAILABLE), or refused a call
         * while it shut down (CANCELLED: this loop never cancels one). */
        if ((code != GRPC_STATUS_UNAVAILABLE && code != GRPC_STATUS_CANCELLED) || resume < 0) {
            rc = code == GRPC_STATUS_OK ? CTL_EXIT_OK : ctl_call_failed(ctx, what, &result);
            rpcc_result_free(&result);
            return rc;
        }
        if (failing_since == 0) {
            failing_since = ctl_mono_ms();
            fprintf(stderr, CTL_PROG ": %s: the stream ended (%s); resuming at position %" PRId64
                    "\n", what, result.message != NULL ? result.message : "UNAVAILABLE", resume);
        } else if (ctl_mono_ms() - failing_since > CTL_RESUME_FOR_MS) {
            rc = ctl_call_failed(ctx, what, &result);
            rpcc_result_free(&result);
            return rc;
        }
        rpcc_result_free(&result);
        ctl_sleep_ms(backoff);
        backoff = backoff < 2000 ? backoff * 2 : 2000;
    }
}

/* ---- changes watch ---- */

typedef struct ctl_feed {
    long long count, seen; /* --count; changes printed */
} ctl_feed;

static const ProtobufCMessage *ctl_change_resource(const Tallinn__V1__Change *c)
{
    switch (c->resource_case) {
    case TALLINN__V1__CHANGE__RESOURCE_DONOR:
        return &c->donor->base;
    case TALLINN__V1__CHANGE__RESOURCE_PLEDGE:
        return &c->pledge->base;
    case TALLINN__V1__CHANGE__RESOURCE_NEED:
        return &c->need->base;
    case TALLINN__V1__CHANGE__RESOURCE_MATCH:
        return &c->match->base;
    case TALLINN__V1__CHANGE__RESOURCE_EXCHANGE_RATE:
        return &c->exchange_rate->base;
    default:
        return NULL;
    }
}

/* A short word on the version: its state, a donor's name, or a rate. */
static void ctl_change_summary(const Tallinn__V1__Change *c, char *buf, size_t len)
{
    const ProtobufCMessage *m = ctl_change_resource(c);
    const ProtobufCFieldDescriptor *f;

    buf[0] = '\0';
    if (c->tombstone) {
        snprintf(buf, len, "no longer visible to you");
    } else if (m != NULL && (f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
                                                                                 "state")) != NULL) {
        ctl_enum_short(f->descriptor, *(const int *)((const char *)m + f->offset), buf, len);
    } else if (m != NULL && ctl_msg_get_string(m, "display_name") != NULL) {
        snprintf(buf, len, "%s", ctl_msg_get_string(m, "display_name"));
    } else if (m != NULL && ctl_msg_get_string(m, "rate") != NULL &&
               ctl_msg_get_string(m, "currency_code") != NULL) {
        snprintf(buf, len, "%s %s", ctl_msg_get_string(m, "currency_code"),
                 ctl_msg_get_string(m, "rate"));
    }
}

static int ctl_print_feed(ctl_ctx *ctx, const ctl_wresp *m, void *arg)
{
    ctl_feed *f = arg;
    char when[64], what[128];
    int rc;

    if (ctx->format == CTL_FORMAT_JSON) {
        if ((rc = ctl_print_message(ctx, &m->base, 0)) != CTL_EXIT_OK)
            return rc;
    }
    if (m->type != TALLINN__V1__WATCH_CHANGES_RESPONSE__TYPE__TYPE_CHANGES) {
        fflush(stdout);
        return -1;
    }
    if (m->commit_time != NULL)
        ctl_format_time(&m->commit_time->base, when, sizeof when);
    else
        snprintf(when, sizeof when, "-");
    for (size_t i = 0; i < m->n_changes; i++) {
        const Tallinn__V1__Change *c = m->changes[i];
        if (ctx->format == CTL_FORMAT_NAME) {
            puts(c->name);
        } else if (ctx->format == CTL_FORMAT_TEXT) {
            ctl_change_summary(c, what, sizeof what);
            printf("%-6" PRId64 "  %s  %-6s  %s  %s\n", m->index, when, ctl_kind_word(c->kind),
                   c->name, what);
        }
        if (f->count > 0 && ++f->seen >= f->count) {
            fflush(stdout);
            return CTL_EXIT_OK;
        }
    }
    fflush(stdout);
    return -1;
}

static int ctl_parse_ll(const char *s, long long min, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno != 0 || *s == '\0' || *end != '\0' || *out < min ? -1 : 0;
}

int ctl_run_changes_watch(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__WatchChangesRequest req = TALLINN__V1__WATCH_CHANGES_REQUEST__INIT;
    Tallinn__V1__ResourceKind kinds[CTL_N_KINDS];
    const char *kind_s = ctl_option_value(ctx, "kind");
    const char *after_s = ctl_option_value(ctx, "after");
    const char *count_s = ctl_option_value(ctx, "count");
    const char *resource = ctl_option_value(ctx, "resource");
    ctl_feed f = {0, 0};
    long long after = -1;

    (void)argc;
    (void)argv;
    if (after_s != NULL && ctl_option_value(ctx, "from-start") != NULL)
        return ctl_usage_error(ctx->cmd, "--after and --from-start do not go together");
    if (after_s != NULL && ctl_parse_ll(after_s, -1, &after) != 0)
        return ctl_usage_error(ctx->cmd, "--after wants a position (an audit index >= 0), not "
                                         "\"%s\"", after_s);
    if (count_s != NULL && (ctl_parse_ll(count_s, 1, &f.count) != 0))
        return ctl_usage_error(ctx->cmd, "--count wants a whole number >= 1, not \"%s\"", count_s);
    req.n_kinds = 0;
    req.kinds = kinds;
    for (const char *p = kind_s; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, ",");
        int k = ctl_kind_index(p, n);
        if (k < 0)
            return ctl_usage_error(ctx->cmd, "--kind wants needs, matches, pledges, donors or rates "
                                             "(comma-separated), not \"%.*s\"", (int)n, p);
        for (size_t i = 0; i < req.n_kinds; i++)
            if (kinds[i] == ctl_kinds[k].kind)
                return ctl_usage_error(ctx->cmd, "--kind names %s twice", ctl_kinds[k].collection);
        kinds[req.n_kinds++] = ctl_kinds[k].kind;
        p += n + (p[n] == ',');
    }
    if (resource != NULL)
        req.resource = (char *)resource;
    if (after_s != NULL)
        req.start_index = after + 1;
    else if (ctl_option_value(ctx, "from-start") == NULL)
        req.from_now = 1;
    return ctl_watch_run(ctx, &req, "changes watch", ctl_print_feed, &f);
}

/* ---- get --watch, list --watch ---- */

static int ctl_collection_kind(const ctl_ctx *ctx, const ctl_resource *res,
                               Tallinn__V1__ResourceKind *kind)
{
    int k = ctl_kind_index(res->collection, strlen(res->collection));

    if (k < 0)
        return ctl_usage_error(ctx->cmd, "%s are not in the change feed: --watch works for "
                                         "needs, matches, pledges, donors and rates",
                             res->collection);
    *kind = ctl_kinds[k].kind;
    return CTL_EXIT_OK;
}

/* Clears a flag of the running command, so the plain command can run. */
static void ctl_option_clear(ctl_ctx *ctx, const char *name)
{
    const ctl_option *opts = ctx->cmd->options;

    for (size_t i = 0; opts != NULL && opts[i].name != NULL; i++)
        if (strcmp(opts[i].name, name) == 0)
            ctx->opt_values[i] = NULL;
}

typedef struct ctl_rewatch {
    const ctl_resource *res;
    const char *name;    /* get: the resource */
    int argc;            /* list: its arguments */
    char **argv;
    int started;         /* printed once */
    char *etag;          /* get: of the version printed last */
} ctl_rewatch;

static void ctl_separator(const ctl_ctx *ctx, const ctl_wresp *m)
{
    char when[64] = "";

    if (ctx->format != CTL_FORMAT_TEXT)
        return;
    if (m->commit_time != NULL)
        ctl_format_time(&m->commit_time->base, when, sizeof when);
    printf("--- position %" PRId64 ", %s\n", m->index, when);
}

/* Gets and prints the resource; keeps its etag. */
static int ctl_print_current(ctl_ctx *ctx, ctl_rewatch *w)
{
    ProtobufCMessage *req = malloc(w->res->get_req->sizeof_message), *resp = NULL;
    rpcc_result result = {0};
    char method[128], what[160];
    int rc;

    if (req == NULL)
        return ctl_fail("out of memory");
    protobuf_c_message_init(w->res->get_req, req);
    ctl_msg_set_string(req, "name", w->name);
    snprintf(method, sizeof method, "/%s/%s", w->res->service, w->res->get_method);
    if (ctl_unary(ctx, method, req, w->res->msg, &resp, &result) != GRPC_STATUS_OK) {
        snprintf(what, sizeof what, "get %s", w->name);
        rc = ctl_call_failed(ctx, what, &result);
    } else {
        const char *etag = ctl_msg_get_string(resp, "etag");
        free(w->etag);
        w->etag = strdup(etag != NULL ? etag : "");
        rc = ctl_print_message(ctx, resp, 1);
    }
    rpcc_result_free(&result);
    protobuf_c_message_free_unpacked(req, NULL);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    fflush(stdout);
    return rc;
}

static int ctl_rewatch_get(ctl_ctx *ctx, const ctl_wresp *m, void *arg)
{
    ctl_rewatch *w = arg;
    int rc;

    if (!w->started) {
        /* The stream is open (its first message): what Get shows now is
         * not older than any change the stream will bring. */
        w->started = 1;
        rc = ctl_print_current(ctx, w);
        return rc == CTL_EXIT_OK ? -1 : rc;
    }
    for (size_t i = 0; i < m->n_changes; i++) {
        const Tallinn__V1__Change *c = m->changes[i];
        const ProtobufCMessage *r = ctl_change_resource(c);
        const char *etag = r != NULL ? ctl_msg_get_string(r, "etag") : NULL;

        if (strcmp(c->name, w->name) != 0)
            continue;
        if (c->tombstone) {
            ctl_separator(ctx, m);
            printf("%s is no longer visible to you\n", c->name);
            free(w->etag);
            w->etag = NULL;
        } else if (r != NULL && (w->etag == NULL || etag == NULL || strcmp(etag, w->etag) != 0)) {
            ctl_separator(ctx, m);
            if ((rc = ctl_print_message(ctx, r, 1)) != CTL_EXIT_OK)
                return rc;
            free(w->etag);
            w->etag = strdup(etag != NULL ? etag : "");
        }
    }
    fflush(stdout);
    return -1;
}

int ctl_watch_get(ctl_ctx *ctx, const ctl_resource *res, const char *name)
{
    Tallinn__V1__WatchChangesRequest req = TALLINN__V1__WATCH_CHANGES_REQUEST__INIT;
    ctl_rewatch w = {.res = res, .name = name};
    int rc;

    if ((rc = ctl_collection_kind(ctx, res, &(Tallinn__V1__ResourceKind){0})) != CTL_EXIT_OK)
        return rc;
    req.from_now = 1;
    req.resource = (char *)name;
    rc = ctl_watch_run(ctx, &req, "watch", ctl_rewatch_get, &w);
    free(w.etag);
    return rc;
}

static int ctl_rewatch_list(ctl_ctx *ctx, const ctl_wresp *m, void *arg)
{
    ctl_rewatch *w = arg;
    int rc;

    if (w->started && m->n_changes == 0)
        return -1;
    if (w->started)
        ctl_separator(ctx, m);
    w->started = 1;
    rc = ctl_run_list(ctx, w->argc, w->argv);
    fflush(stdout);
    return rc == CTL_EXIT_OK ? -1 : rc;
}

int ctl_watch_list(ctl_ctx *ctx, int argc, char **argv)
{
    Tallinn__V1__WatchChangesRequest req = TALLINN__V1__WATCH_CHANGES_REQUEST__INIT;
    Tallinn__V1__ResourceKind kind;
    ctl_rewatch w = {.res = ctx->cmd->data, .argc = argc, .argv = argv};
    int rc;

    if ((rc = ctl_collection_kind(ctx, w.res, &kind)) != CTL_EXIT_OK)
        return rc;
    ctl_option_clear(ctx, "watch");
    req.from_now = 1;
    req.n_kinds = 1;
    req.kinds = &kind;
    return ctl_watch_run(ctx, &req, "watch", ctl_rewatch_list, &w);
}

/* ---- history ---- */

typedef struct ctl_proof {
    note_verifier key;
    int prove;
    long long proved, withheld;
    checkpoint cp;       /* of the last page */
} ctl_proof;

static const ProtobufCMessage *ctl_entry_resource(const Tallinn__V1__HistoryEntry *e)
{
    switch (e->resource_case) {
    case TALLINN__V1__HISTORY_ENTRY__RESOURCE_DONOR:
        return &e->donor->base;
    case TALLINN__V1__HISTORY_ENTRY__RESOURCE_PLEDGE:
        return &e->pledge->base;
    case TALLINN__V1__HISTORY_ENTRY__RESOURCE_NEED:
        return &e->need->base;
    case TALLINN__V1__HISTORY_ENTRY__RESOURCE_MATCH:
        return &e->match->base;
    case TALLINN__V1__HISTORY_ENTRY__RESOURCE_EXCHANGE_RATE:
        return &e->exchange_rate->base;
    default:
        return NULL;
    }
}

static int ctl_same(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* Checks one entry's record against the page's checkpoint: its leaf hash is
 * in the tree (the inclusion proof leads to the signed root), and what the
 * entry says is what the record says. */
static int ctl_prove_entry(const ctl_proof *p, const char *name, const Tallinn__V1__HistoryEntry *e,
                           char *why, size_t why_len)
{
    uint8_t leaf[MERKLE_HASH_SIZE], *proof = NULL;
    Tallinn__V1__AuditRecord *r;
    const ProtobufCMessage *res = ctl_entry_resource(e);
    int ok = -1;

    if (e->n_inclusion_proof > MERKLE_MAX_PROOF) {
        snprintf(why, why_len, "its inclusion proof has %zu hashes", e->n_inclusion_proof);
        return -1;
    }
    if ((proof = malloc(e->n_inclusion_proof * MERKLE_HASH_SIZE + 1)) == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < e->n_inclusion_proof; i++) {
        if (e->inclusion_proof[i].len != MERKLE_HASH_SIZE) {
            snprintf(why, why_len, "proof hash %zu is %zu bytes, not 32", i,
                     e->inclusion_proof[i].len);
            free(proof);
            return -1;
        }
        memcpy(proof + i * MERKLE_HASH_SIZE, e->inclusion_proof[i].data, MERKLE_HASH_SIZE);
    }
    merkle_hash_leaf(e->record.data, e->record.len, leaf);
    if (e->index < 0 ||
        merkle_verify_inclusion((uint64_t)e->index, p->cp.size, leaf, proof,
                                e->n_inclusion_proof, p->cp.root, why, why_len) != 0) {
        free(proof);
        if (why[0] == '\0')
            snprintf(why, why_len, "the record is not in the log the checkpoint signs");
        return -1;
    }
    free(proof);
    if ((r = tallinn__v1__audit_record__unpack(NULL, e->record.len, e->record.data)) == NULL) {
        snprintf(why, why_len, "the record does not decode as an AuditRecord");
        return -1;
    }
    if (r->index != e->index)
        snprintf(why, why_len, "the record is at position %" PRId64, r->index);
    else if (!ctl_same(r->method, e->method) || !ctl_same(r->principal, e->principal) ||
             (int)r->role != (int)e->role || !ctl_same(r->request_id, e->request_id))
        snprintf(why, why_len, "the entry says %s by %s; the record says %s by %s", e->method,
                 e->principal, r->method, r->principal);
    else if (r->status_code != 0)
        snprintf(why, why_len, "the record is of a refused call (status %d)", r->status_code);
    else if (e->time == NULL || r->time == NULL || e->time->seconds != r->time->seconds ||
             e->time->nanos != r->time->nanos)
        snprintf(why, why_len, "the entry's time is not the record's");
    else if (ctl_same(r->resource, name) && res != NULL &&
             !ctl_same(r->etag, ctl_msg_get_string(res, "etag")))
        snprintf(why, why_len, "the record says etag %s, the entry's version has %s", r->etag,
                 ctl_msg_get_string(res, "etag"));
    else
        ok = 0;
    tallinn__v1__audit_record__free_unpacked(r, NULL);
    return ok;
}

static void ctl_history_row(const ctl_ctx *ctx, const Tallinn__V1__HistoryEntry *e)
{
    char when[64] = "-", by[160], role[48] = "", state[96];
    const char *method = e->method != NULL ? strrchr(e->method, '/') : NULL;

    if (e->time != NULL)
        ctl_format_time(&e->time->base, when, sizeof when);
    if (e->hidden) {
        printf("%-8" PRId64 "  %-23s  (no longer visible to you)\n", e->index, when);
        return;
    }
    ctl_enum_short(&tallinn__v1__principal__role__descriptor, e->role, role, sizeof role);
    if (e->principal != NULL && e->principal[0] != '\0')
        snprintf(by, sizeof by, "%s (%s)", e->principal, role);
    else
        snprintf(by, sizeof by, "(%s)", role);
    if (e->state_before != NULL && e->state_before[0] != '\0' &&
        strcmp(e->state_before, e->state_after) != 0)
        snprintf(state, sizeof state, "%s -> %s", e->state_before, e->state_after);
    else
        snprintf(state, sizeof state, "%s", e->state_after != NULL ? e->state_after : "");
    (void)ctx;
    printf("%-8" PRId64 "  %-23s  %-44s  %-15s  %-24s  %s\n", e->index, when, by,
           method != NULL ? method + 1 : "", state, e->reason != NULL ? e->reason : "");
}

int ctl_run_history(ctl_ctx *ctx, int argc, char **argv)
{
    const ctl_resource *res = ctx->cmd->data;
    const char *key_s = ctl_option_value(ctx, "log-key");
    const char *limit_s = ctl_option_value(ctx, "limit");
    Tallinn__V1__ListHistoryRequest req = TALLINN__V1__LIST_HISTORY_REQUEST__INIT;
    ctl_proof p;
    char *name = NULL, *token = NULL, what[160], err[CTL_ERR];
    long long limit = 0, seen = 0;
    int rc = CTL_EXIT_OK, printed_header = 0;

    memset(&p, 0, sizeof p);
    p.prove = ctl_option_value(ctx, "prove") != NULL;
    if (limit_s != NULL && ctl_parse_ll(limit_s, 0, &limit) != 0)
        return ctl_usage_error(ctx->cmd, "--limit wants a whole number >= 0, not \"%s\"", limit_s);
    if (p.prove && key_s == NULL)
        return ctl_usage_error(ctx->cmd, "--prove needs the audit log's verifier key: --log-key "
                                         "VKEY (or TALLINN_LOG_KEY), as 'tallinnd init' printed "
                                         "it; a key taken from the server would prove nothing");
    if (key_s != NULL && note_verifier_parse(key_s, &p.key, err, sizeof err) != 0)
        return ctl_usage_error(ctx->cmd, "--log-key: %s", err);
    if (sodium_init() < 0)
        return ctl_fail("libsodium failed to start");
    /* NAME, or DONOR PLEDGE for pledges */
    if (res->parent != NULL && argc == 2) {
        char *parent = ctl_resource_name(ctx, res->parent, argv[0]);
        if (parent == NULL)
            return CTL_EXIT_USAGE;
        if (strchr(argv[1], '/') != NULL || asprintf(&name, "%s/pledges/%s", parent, argv[1]) < 0)
            name = NULL;
        free(parent);
    } else if (res->parent != NULL) {
        if (strncmp(argv[0], "donors/", 7) == 0 && strstr(argv[0], "/pledges/") != NULL)
            name = strdup(argv[0]);
    } else if (argc == 1) {
        name = ctl_resource_name(ctx, res->collection, argv[0]);
    }
    if (name == NULL)
        return ctl_usage_error(ctx->cmd, "give %s", ctx->cmd->args);
    snprintf(what, sizeof what, "history of %s", name);
    req.name = name;
    req.include_proofs = p.prove;
    do {
        ProtobufCMessage *out = NULL;
        const Tallinn__V1__ListHistoryResponse *resp;
        rpcc_result result = {0};

        req.page_token = token != NULL ? token : "";
        req.page_size = limit > 0 && limit - seen < CTL_HISTORY_PAGE ? (int32_t)(limit - seen)
                                                                     : CTL_HISTORY_PAGE;
        if (ctl_unary(ctx, CTL_CHANGES_SVC "ListHistory", &req.base,
                      &tallinn__v1__list_history_response__descriptor, &out,
                      &result) != GRPC_STATUS_OK) {
            rc = ctl_call_failed(ctx, what, &result);
            rpcc_result_free(&result);
            break;
        }
        rpcc_result_free(&result);
        resp = (const Tallinn__V1__ListHistoryResponse *)out;
        if (p.prove && checkpoint_open((const char *)resp->signed_checkpoint.data,
                                       resp->signed_checkpoint.len, &p.key, 1, &p.cp, err,
                                       sizeof err) != 0) {
            rc = ctl_fail("%s: the server's checkpoint does not verify with --log-key: %s", what,
                          err);
            protobuf_c_message_free_unpacked(out, NULL);
            break;
        }
        for (size_t i = 0; i < resp->n_entries && (limit == 0 || seen < limit); i++, seen++) {
            const Tallinn__V1__HistoryEntry *e = resp->entries[i];
            if (p.prove && e->record.len > 0) {
                char why[CTL_ERR] = "";
                if (ctl_prove_entry(&p, name, e, why, sizeof why) != 0) {
                    rc = ctl_fail("%s: the entry at position %" PRId64 " does not prove: %s",
                                  what, e->index, why);
                    break;
                }
                p.proved++;
            } else if (p.prove && !e->hidden) {
                p.withheld++;
            }
            if (ctx->format == CTL_FORMAT_JSON) {
                ctl_print_message(ctx, &e->base, 0);
            } else if (ctx->format == CTL_FORMAT_NAME) {
                printf("%" PRId64 "\n", e->index);
            } else {
                if (!printed_header++)
                    printf("%-8s  %-23s  %-44s  %-15s  %-24s  %s\n", "POSITION", "TIME", "BY",
                           "METHOD", "STATE", "REASON");
                ctl_history_row(ctx, e);
            }
        }
        free(token);
        token = resp->next_page_token != NULL && resp->next_page_token[0] != '\0'
                    ? strdup(resp->next_page_token)
                    : NULL;
        protobuf_c_message_free_unpacked(out, NULL);
        fflush(stdout);
    } while (rc == CTL_EXIT_OK && token != NULL && (limit == 0 || seen < limit));
    if (rc == CTL_EXIT_OK && p.prove) {
        char root[64];
        sodium_bin2base64(root, sizeof root, p.cp.root, sizeof p.cp.root,
                          sodium_base64_VARIANT_ORIGINAL);
        fprintf(ctx->format == CTL_FORMAT_TEXT ? stdout : stderr,
                "proved %lld entr%s: each record is in the audit log %s of %" PRIu64
                " records (root %s), signed by %s%s\n", p.proved, p.proved == 1 ? "y" : "ies",
                p.cp.origin, p.cp.size, root, p.key.name, "");
        if (p.withheld > 0)
            fprintf(ctx->format == CTL_FORMAT_TEXT ? stdout : stderr,
                    "%lld entr%s no record for you (who acted is withheld) and %s not proved\n",
                    p.withheld, p.withheld == 1 ? "y carries" : "ies carry",
                    p.withheld == 1 ? "was" : "were");
    }
    free(token);
    free(name);
    return rc;
}
