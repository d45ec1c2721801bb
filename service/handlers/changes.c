/* changes.c — ChangeService.WatchChanges: every committed change the caller
 * may see, in commit order, read from the change log a batch at a time in
 * short read snapshots (a slow reader never holds one open while it sends),
 * then live: woken by this process's commits and polling the audit head for
 * other replicas'. A position is an audit record's index, so a stream resumed
 * with the next_start_index of the last message it got continues exactly
 * there, on any replica. Every message is built on the heap and freed once
 * sent: a stream lives for hours and the call's own memory only grows. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit/audit.h"
#include "changes.h"
#include "tallinn/v1/audit.pb-c.h"

#define BATCH_ROWS 256         /* change rows read per snapshot */
#define POSITION_ROWS_MAX 4096 /* rows one position may hold (a job changes a handful) */
#define PROGRESS_EVERY_MS 1000 /* a caught-up message at most this often */
#define IDLE_WAIT_MS 30000     /* an idle stream reads the head this often (commits wake it) */

/* ---- One batch: rows read in a snapshot, rendered, then sent ---- */

typedef struct feed {
    rpc_call *call;
    api *api;
    changes_waiter *waiter;
    const api_caller *caller;
    changes_filter filter;
    uint8_t request_sha256[crypto_hash_sha256_BYTES];
    int64_t pos;        /* the next position to read */
    int64_t sent_next;  /* next_start_index of the last message sent; -1 none */
    int64_t progress_ms;
    int announced;      /* a TYPE_CAUGHT_UP was sent */
} feed;

/* A rendered position, waiting to be sent. */
typedef struct pending {
    int64_t index;
    int64_t seconds;
    int32_t nanos;
    changes_out *out;
    size_t n;
} pending;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The commit time of position index: its audit record's time. */
static int record_time(store_tx *tx, int64_t index, int64_t *seconds, int32_t *nanos)
{
    Tallinn__V1__AuditRecord *r;
    uint8_t *data;
    size_t len;
    int rc = store_audit_leaf(tx, index, &data, &len);

    *seconds = 0;
    *nanos = 0;
    if (rc != STORE_OK)
        return rc;
    r = tallinn__v1__audit_record__unpack(NULL, len, data);
    free(data);
    if (r == NULL)
        return STORE_CORRUPT;
    if (r->time != NULL) {
        *seconds = r->time->seconds;
        *nanos = r->time->nanos;
    }
    tallinn__v1__audit_record__free_unpacked(r, NULL);
    return STORE_OK;
}

/* Reads the rows of [pos, head) in one snapshot, at most about BATCH_ROWS,
 * never cutting a position in two, and renders each position for the
 * caller. *next is where the next batch starts. */
static int read_batch(feed *f, int64_t head, pending **out, size_t *n_out, int64_t *next)
{
    change_versions r = {.chunk = BATCH_ROWS};
    store_tx *tx;
    int64_t to = head;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n_out = 0;
    if ((rc = store_read_begin(f->api->store, &tx)) != STORE_OK)
        return rc;
    rc = store_change_scan(tx, f->pos, head, BATCH_ROWS, changes_versions_collect, &r);
    if (rc == STORE_OK)
        rc = r.rc;
    if (rc == STORE_OK && r.n == BATCH_ROWS) {
        /* Full: the last position may go on beyond it. Stop before it,
         * unless it is the only one, which is then read whole. */
        int64_t last = r.v[r.n - 1].index;
        if (r.v[0].index != last) {
            while (r.n > 0 && r.v[r.n - 1].index == last)
                changes_version_free(&r.v[--r.n]);
            to = last;
        } else {
            changes_versions_free(&r);
            rc = store_change_scan(tx, last, last + 1, POSITION_ROWS_MAX,
                                   changes_versions_collect, &r);
            if (rc == STORE_OK)
                rc = r.rc;
            to = last + 1;
        }
    }
    for (size_t i = 0; rc == STORE_OK && i < r.n;) {
        size_t j = i;
        pending *p;

        while (j < r.n && r.v[j].index == r.v[i].index)
            j++;
        if (*n_out == cap) {
            size_t c = cap ? 2 * cap : 16;
            pending *grown = realloc(*out, c * sizeof(*grown));
            if (grown == NULL) {
                rc = STORE_NOMEM;
                break;
            }
            *out = grown;
            cap = c;
        }
        p = &(*out)[*n_out];
        memset(p, 0, sizeof(*p));
        p->index = r.v[i].index;
        size_t pcap = 0;
        rc = changes_render(tx, f->caller, &f->filter, &r.v[i], j - i, &p->out, &p->n, &pcap);
        if (rc == STORE_OK && p->n > 0)
            rc = record_time(tx, p->index, &p->seconds, &p->nanos);
        (*n_out)++;
        i = j;
    }
    store_read_end(tx);
    changes_versions_free(&r);
    *next = to;
    return rc;
}

static void pending_free(pending *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        changes_out_free(p[i].out, p[i].n);
        free(p[i].out);
    }
    free(p);
}

/* Every RESTRICTED need handed out is a recorded read, durable before it is
 * sent (as GetNeed's): no record, no read. */
static int record_reads(feed *f, const pending *p)
{
    audit_entry e[64];
    size_t n = 0;
    int rc;

    if (f->api->audit == NULL)
        return STORE_OK;
    for (size_t i = 0; i < p->n; i++) {
        const Tallinn__V1__Need *need = (const Tallinn__V1__Need *)p->out[i].msg;
        if (p->out[i].kind != STORE_NEED || need == NULL ||
            need->sensitivity != TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED)
            continue;
        memset(&e[n], 0, sizeof(e[n]));
        e[n].principal = f->caller->principal;
        e[n].role = (int)f->caller->role;
        e[n].method = rpc_call_path(f->call);
        e[n].resource = need->name;
        e[n].request_sha256 = f->request_sha256;
        e[n].status = GRPC_STATUS_OK;
        if (++n == sizeof(e) / sizeof(e[0])) {
            if ((rc = audit_record(f->api->audit, e, n)) != STORE_OK)
                return rc;
            n = 0;
        }
    }
    return n > 0 ? audit_record(f->api->audit, e, n) : STORE_OK;
}

/* Sends one position's changes; -1 when the call is gone. */
static int send_changes(feed *f, const pending *p)
{
    Tallinn__V1__WatchChangesResponse m = TALLINN__V1__WATCH_CHANGES_RESPONSE__INIT;
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Tallinn__V1__Change *c = calloc(p->n, sizeof(*c));
    Tallinn__V1__Change **cp = calloc(p->n, sizeof(*cp));
    int rc = -1;

    if (c != NULL && cp != NULL) {
        for (size_t i = 0; i < p->n; i++) {
            tallinn__v1__change__init(&c[i]);
            c[i].kind = changes_kind_to_proto(p->out[i].kind);
            c[i].name = p->out[i].name;
            c[i].tombstone = p->out[i].tombstone;
            if (p->out[i].msg != NULL)
                changes_set_resource(&c[i].base, p->out[i].kind, p->out[i].msg);
            cp[i] = &c[i];
        }
        t.seconds = p->seconds;
        t.nanos = p->nanos;
        m.type = TALLINN__V1__WATCH_CHANGES_RESPONSE__TYPE__TYPE_CHANGES;
        m.index = p->index;
        m.commit_time = &t;
        m.n_changes = p->n;
        m.changes = cp;
        m.next_start_index = p->index + 1;
        rc = rpc_call_send(f->call, &m.base);
    }
    free(cp);
    free(c);
    if (rc == 0)
        f->sent_next = p->index + 1;
    return rc;
}

static int send_caught_up(feed *f)
{
    Tallinn__V1__WatchChangesResponse m = TALLINN__V1__WATCH_CHANGES_RESPONSE__INIT;

    m.type = TALLINN__V1__WATCH_CHANGES_RESPONSE__TYPE__TYPE_CAUGHT_UP;
    m.next_start_index = f->pos;
    if (rpc_call_send(f->call, &m.base) != 0)
        return -1;
    f->sent_next = f->pos;
    f->progress_ms = mono_ms();
    f->announced = 1;
    return 0;
}

/* Reads and sends everything in [pos, head). */
static grpc_status_code catch_up(feed *f, int64_t head)
{
    while (f->pos < head) {
        pending *p;
        size_t n;
        int64_t next;
        int rc;

        if (rpc_call_cancelled(f->call))
            return GRPC_STATUS_CANCELLED;
        if ((rc = read_batch(f, head, &p, &n, &next)) != STORE_OK) {
            pending_free(p, n);
            return api_store_error(f->call, rc);
        }
        for (size_t i = 0; i < n; i++) {
            if (p[i].n == 0)
                continue;
            if ((rc = record_reads(f, &p[i])) != STORE_OK) {
                pending_free(p, n);
                return api_store_error(f->call, rc);
            }
            if (send_changes(f, &p[i]) != 0) {
                pending_free(p, n);
                return GRPC_STATUS_CANCELLED;
            }
        }
        pending_free(p, n);
        f->pos = next;
    }
    return GRPC_STATUS_OK;
}

/* ---- The request ---- */

static grpc_status_code check_request(rpc_call *call, const Tallinn__V1__WatchChangesRequest *in,
                                      changes_filter *filter)
{
    store_kind kind;

    memset(filter, 0, sizeof(*filter));
    if (in->start_index < 0)
        api_violation(call, "start_index", "must not be negative (0 is the start of the log)");
    for (size_t i = 0; i < in->n_kinds; i++) {
        char field[32];
        snprintf(field, sizeof(field), "kinds[%zu]", i);
        if (changes_kind_from_proto(in->kinds[i], &kind) != 0)
            api_violation(call, field, "must be DONOR, PLEDGE, NEED, MATCH or EXCHANGE_RATE");
        else if (filter->kinds & (1u << kind))
            api_violation(call, field, "repeats an earlier kind");
        else
            filter->kinds |= 1u << kind;
    }
    if (in->resource != NULL && in->resource[0] != '\0' &&
        changes_kind_of_name(in->resource, &kind) != 0)
        api_violation(call, "resource",
                      "\"%.80s\" is not a resource name like needs/{need}, matches/{match}, "
                      "donors/{donor}, donors/{donor}/pledges/{pledge} or "
                      "exchangeRates/{exchange_rate}",
                      in->resource);
    filter->resource = in->resource;
    return api_violations_status(call, "request");
}

/* Where the stream starts: start_index checked against the log, or now. */
static grpc_status_code start_position(rpc_call *call, api *a,
                                       const Tallinn__V1__WatchChangesRequest *in, int64_t *pos)
{
    int64_t head = 0, first = 0;
    store_tx *tx;
    int rc;

    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    rc = store_audit_head(tx, &head);
    if (rc == STORE_OK)
        rc = store_change_start(tx, &first);
    store_read_end(tx);
    if (rc != STORE_OK)
        return api_store_error(call, rc);
    if (in->from_now) {
        *pos = head;
        return GRPC_STATUS_OK;
    }
    if (in->start_index > head)
        return rpc_call_error(call, GRPC_STATUS_OUT_OF_RANGE,
                              "start_index %lld is beyond the log (%lld records): resume from "
                              "a next_start_index this server sent, at most %lld",
                              (long long)in->start_index, (long long)head, (long long)head);
    if (in->start_index < first) {
        rpc_call_set_error_info(call, "CHANGE_LOG_TRUNCATED", "tallinn.v1");
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "start_index %lld is before the change log's first position "
                              "%lld: read the current state with the List methods, then "
                              "watch from %lld",
                              (long long)in->start_index, (long long)first, (long long)first);
    }
    *pos = in->start_index;
    return GRPC_STATUS_OK;
}

static grpc_status_code watch_changes(rpc_call *call, const ProtobufCMessage *req,
                                      ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__WatchChangesRequest *in = (const void *)req;
    changes_ctx *cc = ctx;
    const uint8_t *data;
    size_t len;
    feed f;
    grpc_status_code code;

    (void)resp;
    memset(&f, 0, sizeof(f));
    f.call = call;
    f.api = cc->api;
    f.waiter = cc->waiter;
    f.caller = api_caller_of(call);
    f.sent_next = -1;
    if ((code = check_request(call, in, &f.filter)) != GRPC_STATUS_OK)
        return code;
    if ((code = start_position(call, f.api, in, &f.pos)) != GRPC_STATUS_OK)
        return code;
    data = rpc_call_request_data(call, &len);
    crypto_hash_sha256(f.request_sha256, data != NULL ? data : (const uint8_t *)"", len);
    if (in->from_now && send_caught_up(&f) != 0)
        return GRPC_STATUS_CANCELLED;
    for (int first = 1;; first = 0) {
        int64_t head, since = mono_ms() - f.progress_ms;
        /* The first time only reads the head (it is at least pos); then
         * waits for one past pos, or until a caught-up message is due. */
        int timeout = first ? 0
                      : f.announced && f.sent_next != f.pos
                          ? (since < PROGRESS_EVERY_MS ? (int)(PROGRESS_EVERY_MS - since) : 1)
                          : IDLE_WAIT_MS;
        int w = changes_wait(f.waiter, first ? f.pos - 1 : f.pos, timeout, call, &head);

        if (w < 0)
            return api_store_error(call, w);
        if (w == CHANGES_WAIT_STOPPED) {
            if (rpc_call_cancelled(call))
                return GRPC_STATUS_CANCELLED;
            /* Shutting down: the client resumes elsewhere from where this
             * ends, which the last message says. */
            if (f.sent_next != f.pos)
                send_caught_up(&f);
            return rpc_call_error(call, GRPC_STATUS_UNAVAILABLE,
                                  "the server is shutting down; resume with start_index %lld",
                                  (long long)f.pos);
        }
        if (w == CHANGES_WAIT_MOVED && head > f.pos &&
            (code = catch_up(&f, head)) != GRPC_STATUS_OK)
            return code;
        /* Caught up: say so the first time, and when the position moved past
         * commits the caller may not see (at most once a second), so that a
         * client resuming later need not read them again. */
        if ((!f.announced ||
             (f.sent_next != f.pos && mono_ms() - f.progress_ms >= PROGRESS_EVERY_MS)) &&
            send_caught_up(&f) != 0)
            return GRPC_STATUS_CANCELLED;
    }
}

int changes_register(rpc_server *srv, api *a, changes_waiter *w)
{
    static changes_ctx cc; /* one server per process */
    static const rpc_method_handler handlers[] = {
        {"WatchChanges", watch_changes},
        {"ListHistory", history_list},
    };
    cc.api = a;
    cc.waiter = w;
    return rpc_server_add_service(srv, &tallinn__v1__change_service__descriptor, handlers,
                                  sizeof(handlers) / sizeof(handlers[0]), &cc);
}
