/* rpc_internal.h — what the files of the client runtime share and nothing
 * else may use: the channel (rpc_channel.c), an address list turned into a
 * gRPC target (rpc_target.c), the pause between retries (rpc_retry.c) and
 * result building (rpc_result.c). */
#ifndef TALLINN_CLIENT_RPC_INTERNAL_H
#define TALLINN_CLIENT_RPC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "tallinn/rpc_client.h"

/* Most entries in an address list, and most addresses they may resolve to. */
#define RPCC_TARGET_MAX_ENTRIES 64
#define RPCC_TARGET_MAX_ADDRESSES 256

/* Formats a one-line cause into err (may be NULL or 0 long). */
void rpcc__errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct rpcc__target {
    char *uri;          /* what grpc_channel_create gets */
    char *tls_name;     /* name to check server certificates against; NULL =
                           gRPC's default (the target's host) */
    char *authority;    /* :authority of every call; NULL = gRPC's default */
    size_t n_addresses; /* as rpcc_channel_address_count */
} rpcc__target;

/* Turns addr (see rpcc_channel_options.target) into a target. tls: the
 * channel checks certificates, so a list needs one name for every replica:
 * server_name, else the one host all entries share. shuffle: put a list's
 * addresses in a random order (channels do; tests want it fixed). Returns 0,
 * or -1 with a one-line cause in err; t holds nothing then. */
int rpcc__target_parse(rpcc__target *t, const char *addr, int tls, const char *server_name,
                       int shuffle, char *err, size_t err_len);
void rpcc__target_free(rpcc__target *t);

/* A channel (rpc_channel.c); calls read it, never change it. */
struct rpcc_channel {
    grpc_channel *channel;
    char *target;      /* as given */
    char *grpc_target; /* what gRPC reports as the peer of a call that reached no server */
    rpcc__target tgt;
    int max_attempts;
    rpcc_attempt_fn on_attempt;
    void *on_attempt_arg;
};

/* The pause before attempt n + 1 after attempt n (n >= 1) failed: 100 ms,
 * doubling, at most 1 s, times a random factor in [0.8, 1.2]. */
int64_t rpcc__backoff_ms(int n);

/* Received metadata copied into / freed from rpcc_metadata lists (each entry
 * one block: key, NUL, value, NUL). rpcc__md_copy returns 0 or -1 (memory). */
int rpcc__md_copy(const grpc_metadata_array *a, rpcc_metadata **out, size_t *n_out);
void rpcc__md_free(rpcc_metadata *md, size_t n);

/* Fills r (overwritten) from a finished call: status, message, metadata,
 * details. Returns r->code. */
grpc_status_code rpcc__result_fill(rpcc_result *r, grpc_status_code status, grpc_slice details,
                                   const grpc_metadata_array *initial,
                                   const grpc_metadata_array *trailing);

/* Sets r to a status of our own (nothing reached or came from the server);
 * frees the message it held. Returns code. */
grpc_status_code rpcc__result_local(rpcc_result *r, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
