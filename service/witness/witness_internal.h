/* witness_internal.h — what the files of service/witness/ share: the
 * witnesses object and one sender per witness. Private to service/witness/. */
#ifndef TALLINN_WITNESS_INTERNAL_H
#define TALLINN_WITNESS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "tallinn/witness_client.h"
#include "witness/witnesses.h"

typedef struct witness_sender {
    struct witnesses *w;
    const witness_config *cfg;
    witness_client *client;
    pthread_t thread;
    int started;
    /* Counters (witnesses_stats copies them); the sender thread writes. */
    _Atomic uint64_t requests, cosigned, stale, inconsistent, refused, bad_response, unavailable,
        store_failed;
    _Atomic int64_t last_size, last_time;
    /* Sender thread only: a failure streak (to log a recovery once). */
    unsigned failures;
} witness_sender;

struct witnesses {
    store *store;
    audit *log;
    witness_config cfg[WITNESSES_MAX];
    size_t count, quorum;
    long backoff_ms, backoff_max_ms, poll_ms;
    witness_sender senders[WITNESSES_MAX];
    /* Wakes idle senders: bumped by the commit observer and at stop. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t wakeups;
    _Atomic int stopping;
    int observing;
};

/* A sender thread's body (witness_sender.c); arg is its witness_sender. */
void *witness__sender_main(void *arg);

/* Is `vkey` (a database row's witness) one of the configured witnesses? */
int witness__configured(const struct witnesses *w, const char *vkey);

#endif
