/* rpc_client.h — a small gRPC client over protobuf-c on the gRPC C core:
 * channels (plaintext or TLS/mTLS) to one server or several replicas
 * (balanced round-robin by gRPC), unary and server-streaming calls with
 * deadlines, request metadata, rich error details, and bounded retries of
 * calls that are safe to repeat. Used by tallinnctl, tallinn-audit and tests.
 *
 * Ownership in one paragraph: a channel is freed by rpcc_channel_destroy, a
 * stream by rpcc_stream_destroy, a response message by the caller with
 * protobuf_c_message_free_unpacked(msg, NULL), and an rpcc_result by
 * rpcc_result_free. Every call uses a private completion queue that is shut
 * down and drained before it is destroyed. Channels and calls on different
 * threads are independent; one stream must be used from one thread at a time
 * (except rpcc_stream_cancel, which any thread may call). */
#ifndef TALLINN_RPC_CLIENT_H
#define TALLINN_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Size of the error buffer rpcc_channel_create writes to. */
#define RPCC_ERROR_MAX 256

/* Trailing metadata key holding a serialized google.rpc.Status. */
#define RPCC_STATUS_DETAILS_KEY "grpc-status-details-bin"

/* Attempts per call that is safe to repeat, unless the channel says otherwise,
 * and the most a channel may ask for. */
#define RPCC_DEFAULT_ATTEMPTS 3
#define RPCC_MAX_ATTEMPTS 10

typedef struct rpcc_channel rpcc_channel;
typedef struct rpcc_stream rpcc_stream;

/* One attempt of a call, as reported to rpcc_channel_options.on_attempt
 * (verbose output). Every pointer is valid during the callback only. */
typedef struct rpcc_attempt {
    const char *method;        /* "/package.Service/Method" */
    const char *peer;          /* the server that answered, "127.0.0.1:50051" or
                                  "[::1]:50051"; NULL when none was reached */
    grpc_status_code code;
    const char *message;       /* the status message, "" when none */
    int attempt;               /* 1 for the first */
    int64_t retry_in_ms;       /* >= 0: the call is sent again after this pause;
                                  -1: this attempt is the call's outcome */
    const char *not_retried;   /* when an UNAVAILABLE is the outcome: why it was
                                  not sent again; NULL otherwise */
} rpcc_attempt;

typedef void (*rpcc_attempt_fn)(void *arg, const rpcc_attempt *a);

typedef struct rpcc_channel_options {
    /* Required. One of:
     *   "host:port"                 gRPC's default (DNS) resolution;
     *   "host1:p1,host2:p2,[::1]:p3" several replicas: each host is resolved
     *                               once, here (getaddrinfo), and the addresses
     *                               become one ipv4: or ipv6: target, in a
     *                               random order per channel;
     *   "dns:///name:port"          every address the name resolves to, kept
     *                               up to date by gRPC; or any other gRPC
     *                               target URI (ipv4:, ipv6:, unix:).
     * Whatever the target, calls are balanced round-robin over the addresses
     * that are connected (gRPC's round_robin policy). */
    const char *target;
    int insecure;                /* 1 = plaintext; 0 = TLS */
    const char *ca_file;         /* TLS: PEM roots; NULL = gRPC's default roots */
    const char *cert_file;       /* TLS: client certificate PEM (mTLS), with key_file */
    const char *key_file;        /* TLS: client private key PEM (wiped after loading) */
    const char *ssl_target_name; /* TLS: name to check the server certificate against
                                    instead of the target's host; NULL = host. A
                                    list naming several hosts needs it. */
    const char *user_agent;      /* prepended to gRPC's user agent; NULL = none */
    size_t max_receive_bytes;    /* largest response message; 0 = 4 MiB */
    int max_attempts;            /* per call safe to repeat; 0 = RPCC_DEFAULT_ATTEMPTS,
                                    1 = never retry; at most RPCC_MAX_ATTEMPTS */
    rpcc_attempt_fn on_attempt;  /* called after every attempt; NULL = none */
    void *on_attempt_arg;
} rpcc_channel_options;

/* Whether a call may be sent again after UNAVAILABLE (rpcc_call_options.retry). */
typedef enum rpcc_retry {
    RPCC_RETRY_AUTO = 0, /* if rpcc_call_repeatable() says it is safe */
    RPCC_RETRY_NEVER,    /* one attempt only */
    RPCC_RETRY_SAFE,     /* the caller knows it is safe (e.g. a no-op) */
} rpcc_retry;

/* Request metadata, and received metadata in an rpcc_result. Keys are lower
 * case; a key ending in "-bin" may carry any bytes (gRPC base64-encodes them
 * on the wire), other values must be printable ASCII. In a result, key and
 * value are owned by the result and value is NUL-terminated after len bytes. */
typedef struct rpcc_metadata {
    const char *key;
    const char *value;
    size_t len;
} rpcc_metadata;

typedef struct rpcc_call_options {
    int64_t deadline_ms;            /* relative to now (monotonic); <= 0 = none */
    const rpcc_metadata *metadata;  /* request metadata, copied; may be NULL */
    size_t n_metadata;
    int wait_for_ready;             /* 1 = wait for a connection instead of failing
                                       fast with UNAVAILABLE (until the deadline) */
    rpcc_retry retry;               /* 0 = RPCC_RETRY_AUTO */
} rpcc_call_options;

/* The outcome of a call. Local failures (request does not encode, response
 * does not decode, invalid metadata, out of memory) are reported the same way,
 * with a status code and a message, as gRPC's own client stacks do. */
typedef struct rpcc_result {
    grpc_status_code code;
    char *message;                   /* never NULL once filled; "" when none */
    Google__Rpc__Status *details;    /* from grpc-status-details-bin, or NULL */
    /* The first detail of each kind, decoded from details (owned by the
     * result), or NULL. Other kinds: walk details->details (google.protobuf.Any). */
    Google__Rpc__BadRequest *bad_request;
    Google__Rpc__ErrorInfo *error_info;
    rpcc_metadata *initial_metadata;
    size_t n_initial_metadata;
    rpcc_metadata *trailing_metadata;
    size_t n_trailing_metadata;
    char *peer;    /* the server that gave this outcome ("127.0.0.1:50051"), or
                      NULL when none was reached or it is not known */
    int attempts;  /* attempts made (0 for a call refused before sending) */
} rpcc_result;

/* Creates a channel; connects lazily on the first call (host names in a list
 * are resolved here). Takes a gRPC library reference (grpc_init) that
 * rpcc_channel_destroy gives back. Returns 0, or -1 with a one-line cause in
 * err (e.g. an unreadable CA file, a list entry without a port, a host that
 * does not resolve). */
int rpcc_channel_create(rpcc_channel **out, const rpcc_channel_options *opts, char *err,
                        size_t err_len);

/* Checks the form of a target (see rpcc_channel_options.target) without
 * resolving anything: each entry of a list is HOST:PORT or [V6]:PORT. For
 * command-line checks; rpcc_channel_create checks it again. Returns 0, or -1
 * with a one-line cause in err. */
int rpcc_target_check(const char *addr, char *err, size_t err_len);

/* Destroys the channel. Every stream on it must be destroyed first. NULL ok. */
void rpcc_channel_destroy(rpcc_channel *ch);

/* The target the channel was created with (as given in the options). */
const char *rpcc_channel_target(const rpcc_channel *ch);

/* Addresses the channel balances over: the entries of a list (after
 * resolution), 1 for "host:port", 0 for a resolver URI such as dns:///
 * (gRPC learns them). */
size_t rpcc_channel_address_count(const rpcc_channel *ch);

/* Whether a call is safe to send again when its outcome is unknown: reads
 * (a method named Get*, List*, Stream* or Suggest*, and grpc.health.v1.Health),
 * and any call whose request carries a non-empty string field request_id (the
 * server answers a repeat with the first outcome). Every other call — a write
 * without request_id — is sent once. */
int rpcc_call_repeatable(const char *method, const ProtobufCMessage *req);

/* Unary call on method ("/package.Service/Method"). On GRPC_STATUS_OK, *resp
 * holds the decoded response (caller frees); otherwise *resp is NULL. result
 * (may be NULL) is overwritten, not freed: release it with rpcc_result_free.
 * opts may be NULL (no deadline, no metadata). Returns the status code.
 *
 * Retries: when an attempt ends in UNAVAILABLE and the call is safe to repeat
 * (opts->retry), it is sent again — to the next replica, as round_robin
 * picks — after a backoff (100 ms, doubling, at most 1 s, ±20 % jitter), up
 * to the channel's max_attempts, and never past the deadline, which covers
 * all attempts. No retry when no address is reachable at all (gRPC has
 * already tried them each). The result is the last attempt's. */
grpc_status_code rpcc_unary(rpcc_channel *ch, const char *method, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *resp_desc,
                            const rpcc_call_options *opts, ProtobufCMessage **resp,
                            rpcc_result *result);

/* Server-streaming call: sends req and half-closes. Returns 0 with *out, or -1
 * (out of memory, request does not encode; cause in err). Errors from the
 * server surface in rpcc_stream_next and rpcc_stream_finish. A stream that
 * ends in UNAVAILABLE before its first message is retried as a unary call is;
 * once a message has arrived it is not (the caller has seen part of it: only
 * it can resume). */
int rpcc_stream_open(rpcc_channel *ch, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, const rpcc_call_options *opts,
                     rpcc_stream **out, char *err, size_t err_len);

/* Blocks for the next response: 1 with *msg (caller frees), 0 at the end of
 * the stream, -1 when the call failed (cancelled, deadline, undecodable
 * message). After 0 or -1, call rpcc_stream_finish for the status. */
int rpcc_stream_next(rpcc_stream *s, ProtobufCMessage **msg);

/* Initial metadata, available once rpcc_stream_next has returned (NULL/0
 * before). Owned by the stream. */
const rpcc_metadata *rpcc_stream_initial_metadata(const rpcc_stream *s, size_t *n);

/* Waits for the call's status and fills result (may be NULL; overwritten, not
 * freed). If the stream was not read to its end, the call is cancelled first
 * (status CANCELLED unless the server had already finished). Returns the
 * status code; later calls return the same code and fill only code and
 * message. */
grpc_status_code rpcc_stream_finish(rpcc_stream *s, rpcc_result *result);

/* Cancels the call (status CANCELLED); a blocked rpcc_stream_next returns -1.
 * Safe from any thread while the stream exists. */
void rpcc_stream_cancel(rpcc_stream *s);

/* Cancels the call if still running, waits for its operations, frees it.
 * NULL ok. */
void rpcc_stream_destroy(rpcc_stream *s);

/* Whether a failed call reached no server: every address refused the
 * connection or none resolved, so nothing was sent (even a write may be
 * repeated). Read from gRPC's status message, the only place the core says so. */
int rpcc_result_unreached(const rpcc_result *r);

/* Frees what a result holds and zeroes it; safe on a zeroed or freed result. */
void rpcc_result_free(rpcc_result *result);

/* First value of key in a metadata list, or NULL; *len (may be NULL) gets its
 * length. */
const char *rpcc_metadata_find(const rpcc_metadata *md, size_t n, const char *key, size_t *len);

/* gRPC status code names ("OK", "NOT_FOUND", ...); "UNKNOWN_CODE" if none. */
const char *rpcc_status_name(grpc_status_code code);

#ifdef __cplusplus
}
#endif

#endif
