/* throttle.h — failed authentications, counted per peer address and for the
 * whole server, in bounded memory. It only decides how a failure is
 * answered: a valid credential is never refused. Design: docs/authz.md.
 * Private to service/authz. */
#ifndef TALLINN_AUTHZ_THROTTLE_H
#define TALLINN_AUTHZ_THROTTLE_H

typedef struct authz_throttle authz_throttle;

typedef struct authz_throttle_options {
    int addr_burst;          /* failures an address may have at once; 0 = 10 */
    double addr_refill_per_s; /* then one more every 1/x seconds; 0 = 0.5 */
    int global_burst;        /* failures from all addresses together; 0 = 200 */
    double global_refill_per_s; /* 0 = 20 */
} authz_throttle_options;

/* 0 or -1 (out of memory). opts may be NULL. */
int authz_throttle_create(authz_throttle **out, const authz_throttle_options *opts);
void authz_throttle_destroy(authz_throttle *t);

/* Counts one failed authentication from peer ("ipv4:1.2.3.4:5678"; the port
 * is ignored) at monotonic time now (seconds). Returns 0 while the address
 * and the server are within their budgets, else the seconds to wait until
 * the address may fail again (>= 1): the failure is then answered
 * RESOURCE_EXHAUSTED instead of UNAUTHENTICATED. */
int authz_throttle_fail(authz_throttle *t, const char *peer, double now);

#endif
