/* health.h — the standard grpc.health.v1.Health service (Check and Watch). */
#ifndef TALLINN_HEALTH_H
#define TALLINN_HEALTH_H

#include "tallinn/rpc.h"

typedef struct health health;

/* Serving states, as in grpc.health.v1.HealthCheckResponse.ServingStatus. */
typedef enum health_status {
    HEALTH_UNKNOWN = 0,
    HEALTH_SERVING = 1,
    HEALTH_NOT_SERVING = 2,
    HEALTH_SERVICE_UNKNOWN = 3 /* Watch only */
} health_status;

/* Creates the registry; the whole server ("") starts NOT_SERVING. 0 or -1. */
int health_create(health **out);
void health_destroy(health *h);

/* Registers grpc.health.v1.Health on srv. 0 or -1. */
int health_register(health *h, rpc_server *srv);

/* Sets a service's status ("" is the whole server); unknown names are added.
 * Watchers see the change at once. 0 or -1 (out of memory). */
int health_set(health *h, const char *service, health_status status);

/* Sets the whole server ("") and every service registered on srv so far to
 * status: the runtime's registry is the list of what is served, so each one
 * answers for itself ("health tallinn.v1.NeedService"). tallinnd calls it
 * with NOT_SERVING once every service is registered, and with SERVING once
 * the server has started. 0 or -1 (out of memory). */
int health_set_services(health *h, const rpc_server *srv, health_status status);

/* Shutdown: every service NOT_SERVING; Watch streams send that and end. */
void health_shutdown(health *h);

#endif
