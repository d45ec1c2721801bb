/* health.c — grpc.health.v1.Health per the gRPC health checking protocol:
 * the whole server ("") and each registered service by its full name; Check
 * answers at once (unknown service: NOT_FOUND); Watch sends the current
 * status, then every change, until the client leaves or the server stops. */
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "tallinn/health.h"

typedef struct health_entry {
    char *service;
    health_status status;
} health_entry;

struct health {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every change, and on a watcher's cancel */
    health_entry *entries;
    size_t n;
    int shutting_down;
};

int health_create(health **out)
{
    health *h = calloc(1, sizeof(*h));

    *out = NULL;
    if (h == NULL)
        return -1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (health_set(h, "", HEALTH_NOT_SERVING) != 0) {
        health_destroy(h);
        return -1;
    }
    *out = h;
    return 0;
}

void health_destroy(health *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->entries[i].service);
    free(h->entries);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

/* Caller holds h->mu. */
static health_entry *find(health *h, const char *service)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->entries[i].service, service) == 0)
            return &h->entries[i];
    return NULL;
}

int health_set(health *h, const char *service, health_status status)
{
    health_entry *e;
    int rc = 0;

    pthread_mutex_lock(&h->mu);
    e = find(h, service);
    if (e == NULL) {
        health_entry *entries = realloc(h->entries, (h->n + 1) * sizeof(*entries));
        char *name = strdup(service);
        if (entries == NULL || name == NULL) {
            free(name);
            if (entries != NULL)
                h->entries = entries;
            rc = -1;
            goto done;
        }
        h->entries = entries;
        e = &h->entries[h->n++];
        e->service = name;
    }
    e->status = status;
    pthread_cond_broadcast(&h->cv);
done:
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int health_set_services(health *h, const rpc_server *srv, health_status status)
{
    int rc = health_set(h, "", status);

    for (size_t i = 0; i < rpc_server_service_count(srv); i++)
        if (health_set(h, rpc_server_service_name(srv, i), status) != 0)
            rc = -1;
    return rc;
}

void health_shutdown(health *h)
{
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        h->entries[i].status = HEALTH_NOT_SERVING;
    h->shutting_down = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static grpc_status_code health_check(rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, void *ctx)
{
    const Grpc__Health__V1__HealthCheckRequest *in = (const void *)req;
    Grpc__Health__V1__HealthCheckResponse *out;
    health *h = ctx;
    health_entry *e;
    health_status st;

    pthread_mutex_lock(&h->mu);
    e = find(h, in->service);
    st = e != NULL ? e->status : HEALTH_SERVICE_UNKNOWN;
    pthread_mutex_unlock(&h->mu);
    if (st == HEALTH_SERVICE_UNKNOWN)
        return rpc_call_error(call, GRPC_STATUS_NOT_FOUND, "unknown service \"%s\"", in->service);
    out = rpc_call_alloc(call, sizeof(*out));
    if (out == NULL)
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    grpc__health__v1__health_check_response__init(out);
    out->status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

static grpc_status_code health_watch(rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, void *ctx)
{
    const Grpc__Health__V1__HealthCheckRequest *in = (const void *)req;
    Grpc__Health__V1__HealthCheckResponse out = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    health *h = ctx;
    grpc_status_code code = GRPC_STATUS_OK;
    int sent = -1; /* nothing sent yet */

    (void)resp;
    rpc_call_notify_cancel(call, &h->mu, &h->cv);
    pthread_mutex_lock(&h->mu);
    for (;;) {
        health_entry *e = find(h, in->service);
        int now = e != NULL ? (int)e->status : HEALTH_SERVICE_UNKNOWN;
        int stopping = h->shutting_down;

        if (now != sent) {
            pthread_mutex_unlock(&h->mu);
            out.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)now;
            if (rpc_call_send(call, &out.base) != 0) {
                code = GRPC_STATUS_CANCELLED;
                pthread_mutex_lock(&h->mu);
                break;
            }
            sent = now;
            pthread_mutex_lock(&h->mu);
            continue; /* re-read: it may have changed while we sent */
        }
        if (stopping) {
            code = rpc_call_error(call, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
            break;
        }
        if (rpc_call_cancelled(call)) {
            code = GRPC_STATUS_CANCELLED;
            break;
        }
        pthread_cond_wait(&h->cv, &h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    rpc_call_notify_cancel(call, NULL, NULL);
    return code;
}

int health_register(health *h, rpc_server *srv)
{
    static const rpc_method_handler handlers[] = {
        {"Check", health_check},
        {"Watch", health_watch},
    };
    return rpc_server_add_service(srv, &grpc__health__v1__health__descriptor, handlers,
                                  sizeof(handlers) / sizeof(handlers[0]), h);
}
