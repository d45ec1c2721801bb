/* metrics_http.h — tallinnd's Prometheus endpoint: GET/HEAD /metrics on its
 * own listen address (libmicrohttpd), rendering what the server's modules
 * counted (metrics_collect.c). Private to service/. */
#ifndef TALLINN_METRICS_HTTP_H
#define TALLINN_METRICS_HTTP_H

#include <stddef.h>

#include "audit/audit.h"
#include "authz/authz.h"
#include "tallinn/rpc.h"
#include "tallinn/store.h"
#include "witness/witnesses.h"

/* What a scrape reads; each may be NULL (its metrics are left out). */
typedef struct metrics_sources {
    rpc_server *rpc;
    store *store;
    const audit *audit;
    const authz *authz;
    const witnesses *witnesses; /* NULL: none configured */
} metrics_sources;

/* The whole page (text format 0.0.4): malloc'd, NUL-terminated, its length
 * in *len; NULL if it could not be rendered. */
char *metrics_collect(const metrics_sources *src, size_t *len);

typedef struct metrics_http metrics_http;

/* Serves /metrics on addr ("host:port", "[v6]:port"; port 0 picks one).
 * Unless allow_remote, every address addr resolves to must be loopback.
 * Returns 0 and the bound port in *port, or -1 after logging why. */
int metrics_http_start(metrics_http **out, const char *addr, int allow_remote,
                       const metrics_sources *src, int *port);
/* Stops serving (waits for a scrape in progress) and frees. NULL is fine. */
void metrics_http_stop(metrics_http *m);

#endif
