/* rpc_requests.c — the request slots the server keeps posted: the core hands
 * over only as many calls as there are requests posted, so each completed
 * one is re-posted at once, and one that cannot be is counted, logged and
 * re-posted later, never silently lost. */
#include <stdio.h>
#include <stdlib.h>

#include <grpc/support/time.h>

#include "rpc_internal.h"
#include "log/slog.h"

#define RPC_REPAIR_BACKOFF_MS 100 /* after a failed re-post, wait before the next try */

void rpc__request_free(rpc_request *req)
{
    grpc_metadata_array_destroy(&req->md);
    if (req->payload != NULL)
        grpc_byte_buffer_destroy(req->payload);
    if (req->method == NULL)
        grpc_call_details_destroy(&req->details);
    if (req->call != NULL)
        grpc_call_unref(req->call);
    free(req);
}

/* Posts one request for a method (NULL: the catch-all). The server accepts
 * only as many calls as there are requests posted, so each completed request
 * is replaced at once. */
int rpc__request_post(rpc_server *srv, rpc_method_reg *method, int cq)
{
    rpc_request *req = calloc(1, sizeof(*req));
    grpc_completion_queue *q = srv->queues[cq].cq;
    grpc_call_error err;

    if (req == NULL)
        return -1;
    req->srv = srv;
    req->method = method;
    req->cq = cq;
    grpc_metadata_array_init(&req->md);
    if (atomic_load(&srv->fail_posts) > 0 && atomic_fetch_sub(&srv->fail_posts, 1) > 0) {
        req->tag.type = method != NULL ? RPC_TAG_REQUEST : RPC_TAG_CATCHALL;
        if (method == NULL)
            grpc_call_details_init(&req->details);
        rpc__request_free(req);
        return -1; /* testing: as if the core had refused it */
    }
    if (method != NULL) {
        req->tag.type = RPC_TAG_REQUEST;
        err = grpc_server_request_registered_call(
            srv->server, method->grpc_handle, &req->call, &req->deadline, &req->md,
            (method->info.kind == RPC_UNARY || method->info.kind == RPC_SERVER_STREAMING)
                ? &req->payload
                : NULL,
            q, q, req);
    } else {
        req->tag.type = RPC_TAG_CATCHALL;
        grpc_call_details_init(&req->details);
        err = grpc_server_request_call(srv->server, &req->call, &req->details, &req->md, q, q,
                                       req);
    }
    if (err != GRPC_CALL_OK) {
        SLOG(SLOG_ERROR, "request_failed", SLOG_S("error", grpc_call_error_to_string(err)));
        rpc__request_free(req);
        return -1;
    }
    return 0;
}

/* Re-posts the slot a completed request used. The server takes only as many
 * calls as it has slots posted, so a slot that cannot be re-posted (the core
 * refused it, or memory ran out) is counted as missing, logged, and re-posted
 * later by the queue threads (rpc__request_repair): capacity is never lost
 * silently. */
void rpc__request_repost(rpc_server *srv, rpc_method_reg *method, int cq)
{
    int missing;

    if (rpc__request_post(srv, method, cq) == 0)
        return;
    pthread_mutex_lock(&srv->mu);
    if (method != NULL)
        method->missing++;
    else
        srv->catchall_missing++;
    srv->post_failures++;
    missing = atomic_fetch_add(&srv->requests_missing, 1) + 1;
    pthread_mutex_unlock(&srv->mu);
    SLOG(SLOG_WARN, "request_slot_lost",
         SLOG_S("method", method != NULL ? method->info.path : "(catch-all)"),
         SLOG_I("missing", missing), SLOG_S("msg", "will be re-posted"));
}

/* Re-posts missing slots; one queue thread at a time. A post that fails
 * again stays missing for the next try, RPC_REPAIR_BACKOFF_MS later. */
void rpc__request_repair(rpc_server *srv, int cq)
{
    int done = 0, left;

    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);

    pthread_mutex_lock(&srv->mu);
    if (srv->repairing || atomic_load(&srv->draining) || gpr_time_cmp(now, srv->repair_after) < 0) {
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    srv->repairing = 1;
    for (size_t i = 0; i <= srv->n_methods; i++) {
        rpc_method_reg *m = i < srv->n_methods ? srv->methods[i] : NULL;
        int *missing = m != NULL ? &m->missing : &srv->catchall_missing;
        while (*missing > 0) {
            int rc;
            pthread_mutex_unlock(&srv->mu);
            rc = rpc__request_post(srv, m, cq);
            pthread_mutex_lock(&srv->mu);
            if (rc != 0) { /* still failing: not again at every event */
                srv->post_failures++;
                srv->repair_after = gpr_time_add(
                    now, gpr_time_from_millis(RPC_REPAIR_BACKOFF_MS, GPR_TIMESPAN));
                goto out;
            }
            (*missing)--;
            atomic_fetch_sub(&srv->requests_missing, 1);
            done++;
        }
    }
out:
    srv->repairing = 0;
    left = atomic_load(&srv->requests_missing);
    pthread_mutex_unlock(&srv->mu);
    if (done > 0)
        SLOG(SLOG_INFO, "request_slots_reposted", SLOG_I("count", done), SLOG_I("missing", left));
}

void rpc_server_fail_posts(rpc_server *srv, int n)
{
    atomic_store(&srv->fail_posts, n);
}
