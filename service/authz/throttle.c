/* throttle.c — token buckets of failed authentications: one per peer address
 * (a fixed table indexed by a keyed hash of the address, so memory is
 * bounded whatever the number of addresses; two addresses that share a slot
 * share a budget, which only ever concerns callers that fail) and one for
 * the whole server, so a crowd of addresses is slowed too. A caller with a
 * valid credential never comes here: one bad client behind an office's NAT
 * cannot lock the office out. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "throttle.h"

#define THROTTLE_SLOTS 4096

typedef struct bucket {
    double tokens;
    double last; /* when tokens was last brought up to date; 0 = never used */
} bucket;

struct authz_throttle {
    pthread_mutex_t mu;
    authz_throttle_options o;
    uint8_t key[crypto_shorthash_KEYBYTES]; /* addresses cannot be chosen to collide */
    bucket global;
    bucket slots[THROTTLE_SLOTS];
};

int authz_throttle_create(authz_throttle **out, const authz_throttle_options *opts)
{
    authz_throttle *t = calloc(1, sizeof(*t));

    *out = NULL;
    if (t == NULL)
        return -1;
    if (opts != NULL)
        t->o = *opts;
    if (t->o.addr_burst <= 0)
        t->o.addr_burst = 10;
    if (t->o.addr_refill_per_s <= 0)
        t->o.addr_refill_per_s = 0.5;
    if (t->o.global_burst <= 0)
        t->o.global_burst = 200;
    if (t->o.global_refill_per_s <= 0)
        t->o.global_refill_per_s = 20;
    crypto_shorthash_keygen(t->key);
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return 0;
}

void authz_throttle_destroy(authz_throttle *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Brings b up to date at now; 1 if a token was taken. */
static int take(bucket *b, int burst, double refill, double now)
{
    if (b->last == 0)
        b->tokens = burst;
    else
        b->tokens = fmin((double)burst, b->tokens + (now - b->last) * refill);
    b->last = now;
    if (b->tokens < 1.0)
        return 0;
    b->tokens -= 1.0;
    return 1;
}

static int wait_s(const bucket *b, double refill)
{
    double s = ceil((1.0 - b->tokens) / refill);
    return s < 1 ? 1 : (int)fmin(s, 3600);
}

int authz_throttle_fail(authz_throttle *t, const char *peer, double now)
{
    const char *end = strrchr(peer, ':');
    size_t len = end != NULL ? (size_t)(end - peer) : strlen(peer);
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;
    bucket *b;
    int wait = 0;

    if (now <= 0)
        now = 1e-9; /* 0 marks an unused bucket */
    crypto_shorthash(h, (const uint8_t *)peer, len, t->key);
    memcpy(&v, h, sizeof(v));
    pthread_mutex_lock(&t->mu);
    b = &t->slots[v % THROTTLE_SLOTS];
    if (!take(b, t->o.addr_burst, t->o.addr_refill_per_s, now))
        wait = wait_s(b, t->o.addr_refill_per_s);
    else if (!take(&t->global, t->o.global_burst, t->o.global_refill_per_s, now))
        wait = wait_s(&t->global, t->o.global_refill_per_s);
    pthread_mutex_unlock(&t->mu);
    return wait;
}
