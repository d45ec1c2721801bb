/* metrics_collect.c — the page a scrape gets: every tallinnd metric, named
 * and described in one place (docs/operations.md lists the same), read from
 * the counters the runtime, the store, the audit log and authz keep. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "metrics/metrics_http.h"

#define US_PER_S 1e6

static void rpc_metrics(metrics_text *t, rpc_server *srv)
{
    size_t n = rpc_server_method_count(srv);
    rpc_server_stats st;
    const char *path;
    long conns;

    /* Only series that moved: 17 codes x every method would be mostly
     * zeros. Unregistered methods are one series, method="" (their paths
     * are the callers' text). */
    metrics_text_family(t, "tallinn_rpc_calls_total", METRICS_COUNTER,
                        "Finished gRPC calls by method and the status code the client saw.");
    for (size_t i = 0; i <= n; i++) {
        const rpc_method_stats *ms = rpc_server_method_stats(srv, i, &path);
        for (int c = 0; c < RPC_STATUS_CODES; c++) {
            uint64_t v = atomic_load_explicit(&ms->calls[c], memory_order_relaxed);
            metrics_label l[2] = {{"method", path}, {"code", rpc_status_name((grpc_status_code)c)}};
            if (v > 0)
                metrics_text_sample_u64(t, "tallinn_rpc_calls_total", l, 2, v);
        }
    }
    metrics_text_family(t, "tallinn_rpc_call_duration_seconds", METRICS_HISTOGRAM,
                        "gRPC call latency by method, from arrival to the end of the call.");
    for (size_t i = 0; i <= n; i++) {
        const rpc_method_stats *ms = rpc_server_method_stats(srv, i, &path);
        metrics_hist_snapshot h;
        metrics_label l = {"method", path};
        uint64_t count = 0;
        metrics_hist_read(&ms->latency_us, &h);
        for (size_t b = 0; b <= h.n; b++)
            count += h.buckets[b];
        if (count > 0)
            metrics_text_histogram(t, "tallinn_rpc_call_duration_seconds", &l, 1, &h, US_PER_S);
    }
    rpc_server_get_stats(srv, &st);
    metrics_text_family(t, "tallinn_rpc_active_streams", METRICS_GAUGE,
                        "Streaming calls running now.");
    metrics_text_sample(t, "tallinn_rpc_active_streams", NULL, 0, st.streams);
    metrics_text_family(t, "tallinn_rpc_active_connections", METRICS_GAUGE,
                        "Client connections (HTTP/2 transports) open now, from gRPC channelz.");
    if ((conns = rpc_server_connections(srv)) >= 0)
        metrics_text_sample(t, "tallinn_rpc_active_connections", NULL, 0, (double)conns);
    metrics_text_family(t, "tallinn_call_log_dropped_total", METRICS_COUNTER,
                        "Call log lines lost because the log's reader did not keep up.");
    metrics_text_sample(t, "tallinn_call_log_dropped_total", NULL, 0, (double)st.log_dropped);
}

static void store_metrics_(metrics_text *t, store *s)
{
    store_metrics m;

    store_get_metrics(s, &m);
    metrics_text_family(t, "tallinn_store_commit_batch_jobs", METRICS_HISTOGRAM,
                        "Write jobs per group-commit batch.");
    metrics_text_histogram(t, "tallinn_store_commit_batch_jobs", NULL, 0, &m.batch_sizes, 1.0);
    metrics_text_family(t, "tallinn_store_commit_duration_seconds", METRICS_HISTOGRAM,
                        "A write batch's transaction, from its start to COMMIT returning "
                        "(durable).");
    metrics_text_histogram(t, "tallinn_store_commit_duration_seconds", NULL, 0, &m.commit_us,
                           US_PER_S);
    metrics_text_family(t, "tallinn_store_commit_failures_total", METRICS_COUNTER,
                        "Write batches rolled back (their callers got an error).");
    metrics_text_sample_u64(t, "tallinn_store_commit_failures_total", NULL, 0, m.batches_failed);
    metrics_text_family(t, "tallinn_store_read_pool_waits_total", METRICS_COUNTER,
                        "Reads that found every pooled read connection taken and waited.");
    metrics_text_sample_u64(t, "tallinn_store_read_pool_waits_total", NULL, 0, m.read_waits);
    metrics_text_family(t, "tallinn_store_read_pool_wait_seconds_total", METRICS_COUNTER,
                        "Time reads spent waiting for a pooled read connection.");
    metrics_text_sample(t, "tallinn_store_read_pool_wait_seconds_total", NULL, 0,
                        (double)m.read_wait_us / US_PER_S);
    metrics_text_family(t, "tallinn_store_read_pool_connections", METRICS_GAUGE,
                        "Read connections open in the pool.");
    metrics_text_sample(t, "tallinn_store_read_pool_connections", NULL, 0, m.readers_open);
    metrics_text_family(t, "tallinn_store_read_pool_max_connections", METRICS_GAUGE,
                        "The read pool's size limit.");
    metrics_text_sample(t, "tallinn_store_read_pool_max_connections", NULL, 0, m.readers_max);
}

static void audit_metrics_(metrics_text *t, const audit *a)
{
    audit_metrics m;
    struct timespec now;

    audit_get_metrics(a, &m);
    clock_gettime(CLOCK_REALTIME, &now);
    metrics_text_family(t, "tallinn_audit_log_size", METRICS_GAUGE,
                        "Records in the audit log (its Merkle tree size).");
    metrics_text_sample_u64(t, "tallinn_audit_log_size", NULL, 0, m.size);
    /* No sample before the first checkpoint: an age of nothing is no age. */
    metrics_text_family(t, "tallinn_audit_checkpoint_timestamp_seconds", METRICS_GAUGE,
                        "When the latest signed checkpoint was made (Unix time).");
    if (m.checkpoint_unix_ms > 0)
        metrics_text_sample(t, "tallinn_audit_checkpoint_timestamp_seconds", NULL, 0,
                            (double)m.checkpoint_unix_ms / 1e3);
    metrics_text_family(t, "tallinn_audit_checkpoint_age_seconds", METRICS_GAUGE,
                        "Seconds since the latest signed checkpoint was made.");
    if (m.checkpoint_unix_ms > 0) {
        double age = (double)now.tv_sec + (double)now.tv_nsec / 1e9 -
                     (double)m.checkpoint_unix_ms / 1e3;
        metrics_text_sample(t, "tallinn_audit_checkpoint_age_seconds", NULL, 0,
                            age > 0 ? age : 0);
    }
}

static void authz_metrics(metrics_text *t, const authz *z)
{
    metrics_text_family(t, "tallinn_authn_failures_total", METRICS_COUNTER,
                        "Failed authentications by reason (throttled: refused because the "
                        "address or server was past its failure budget).");
    for (int r = 0; r < AUTHZ_FAIL_REASONS; r++) {
        metrics_label l = {"reason", authz_fail_reason_name((authz_fail_reason)r)};
        metrics_text_sample_u64(t, "tallinn_authn_failures_total", &l, 1,
                                authz_failures(z, (authz_fail_reason)r));
    }
}

/* Each family's samples follow its TYPE line (the text format's rule), so
 * the witnesses' counters are copied first, then written family by family. */
static void witness_metrics(metrics_text *t, const witnesses *w)
{
    static const char *const outcomes[] = {"cosigned", "stale", "inconsistent", "refused",
                                           "bad_response", "unavailable"};
    witness_stats st[WITNESSES_MAX];
    size_t n = 0;

    for (size_t i = 0; i < witnesses_count(w) && n < WITNESSES_MAX; i++)
        if (witnesses_stats(w, i, &st[n]) == 0)
            n++;
    metrics_text_family(t, "tallinn_witness_quorum", METRICS_GAUGE,
                        "Cosignatures a checkpoint needs to count as witnessed.");
    metrics_text_sample_u64(t, "tallinn_witness_quorum", NULL, 0, witnesses_quorum(w));
    metrics_text_family(t, "tallinn_witness_requests_total", METRICS_COUNTER,
                        "Checkpoints sent to each witness by this process.");
    for (size_t i = 0; i < n; i++) {
        metrics_label l = {"witness", st[i].name};
        metrics_text_sample_u64(t, "tallinn_witness_requests_total", &l, 1, st[i].requests);
    }
    metrics_text_family(t, "tallinn_witness_answers_total", METRICS_COUNTER,
                        "Witnesses' answers by outcome (inconsistent: a fork or split view "
                        "was refused; unavailable: down, slow or unreachable).");
    for (size_t i = 0; i < n; i++) {
        const uint64_t counts[] = {st[i].cosigned, st[i].stale, st[i].inconsistent,
                                   st[i].refused, st[i].bad_response, st[i].unavailable};
        for (size_t k = 0; k < sizeof(outcomes) / sizeof(outcomes[0]); k++) {
            metrics_label l[2] = {{"witness", st[i].name}, {"outcome", outcomes[k]}};
            metrics_text_sample_u64(t, "tallinn_witness_answers_total", l, 2, counts[k]);
        }
    }
    metrics_text_family(t, "tallinn_witness_store_failures_total", METRICS_COUNTER,
                        "Cosignatures that could not be kept in the database.");
    for (size_t i = 0; i < n; i++) {
        metrics_label l = {"witness", st[i].name};
        metrics_text_sample_u64(t, "tallinn_witness_store_failures_total", &l, 1,
                                st[i].store_failed);
    }
    metrics_text_family(t, "tallinn_witness_cosigned_size", METRICS_GAUGE,
                        "The largest log size each witness cosigned for this process.");
    for (size_t i = 0; i < n; i++) {
        metrics_label l = {"witness", st[i].name};
        if (st[i].last_cosigned_size >= 0)
            metrics_text_sample(t, "tallinn_witness_cosigned_size", &l, 1,
                                (double)st[i].last_cosigned_size);
    }
}

char *metrics_collect(const metrics_sources *src, size_t *len)
{
    metrics_text *t;
    metrics_label version = {"version", TALLINN_VERSION};
    char *page;

    if (metrics_text_create(&t) != 0)
        return NULL;
    metrics_text_family(t, "tallinn_build_info", METRICS_GAUGE, "The running tallinnd's version.");
    metrics_text_sample(t, "tallinn_build_info", &version, 1, 1);
    if (src->rpc != NULL)
        rpc_metrics(t, src->rpc);
    if (src->store != NULL)
        store_metrics_(t, src->store);
    if (src->audit != NULL)
        audit_metrics_(t, src->audit);
    if (src->authz != NULL)
        authz_metrics(t, src->authz);
    if (src->witnesses != NULL)
        witness_metrics(t, src->witnesses);
    page = metrics_text_take(t, len);
    metrics_text_destroy(t);
    return page;
}
