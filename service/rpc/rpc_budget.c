/* rpc_budget.c — stream budgets: a stream counts against the budget of its
 * principal, or against the one of calls without a principal, so neither a
 * crowd of unauthenticated watchers nor one principal can take the streams
 * everyone else needs. The total is bounded where a stream's thread starts
 * (rpc_server.c). */
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

static unsigned owner_hash(const char *name)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *name != '\0'; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return h % RPC_OWNER_BUCKETS;
}

/* Counts an authenticated stream in its principal's budget, or one without
 * a principal in the unauthenticated budget; RESOURCE_EXHAUSTED when full. */
grpc_status_code rpc__stream_admit(rpc_call *call)
{
    rpc_server *srv = call->srv;
    rpc_stream_owner **head, *o;
    grpc_status_code code = GRPC_STATUS_OK;

    pthread_mutex_lock(&srv->mu);
    if (call->principal == NULL) {
        if (srv->anon_streams < srv->opts.max_anon_streams) {
            srv->anon_streams++;
            call->stream_anon = 1;
        } else {
            code = rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                  "too many unauthenticated streams (limit %d); retry later",
                                  srv->opts.max_anon_streams);
        }
        goto done;
    }
    head = &srv->owners[owner_hash(call->principal)];
    for (o = *head; o != NULL && strcmp(o->name, call->principal) != 0; o = o->next)
        ;
    if (o == NULL) {
        size_t len = strlen(call->principal) + 1;
        if ((o = calloc(1, sizeof(*o) + len)) == NULL) {
            code = rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            goto done;
        }
        memcpy(o->name, call->principal, len);
        o->next = *head;
        *head = o;
    }
    if (o->n >= srv->opts.max_principal_streams) {
        code = rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                              "too many concurrent streams for %s (limit %d); close one or retry "
                              "later",
                              call->principal, srv->opts.max_principal_streams);
        goto done; /* (o->n > 0 here: a new owner is under any limit >= 1) */
    }
    o->n++;
    call->stream_owner = o;
done:
    pthread_mutex_unlock(&srv->mu);
    return code;
}

void rpc__stream_release(rpc_call *call)
{
    rpc_server *srv = call->srv;
    rpc_stream_owner *o = call->stream_owner;

    if (o == NULL && !call->stream_anon)
        return;
    pthread_mutex_lock(&srv->mu);
    if (call->stream_anon)
        srv->anon_streams--;
    if (o != NULL && --o->n == 0) {
        rpc_stream_owner **p = &srv->owners[owner_hash(o->name)];
        while (*p != o)
            p = &(*p)->next;
        *p = o->next;
        free(o);
    }
    pthread_mutex_unlock(&srv->mu);
    call->stream_owner = NULL;
    call->stream_anon = 0;
}

