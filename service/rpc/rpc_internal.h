/* rpc_internal.h — structures shared by the RPC runtime's files (rpc_server.c,
 * rpc_call.c); nothing outside service/rpc*.c may include it. */
#ifndef TALLINN_RPC_INTERNAL_H
#define TALLINN_RPC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "tallinn/rpc.h"

/* Every completion-queue tag starts with its type, so one dispatcher can tell
 * a newly requested call from a batch of an existing call. */
typedef enum rpc_tag_type {
    RPC_TAG_REQUEST = 1, /* a registered-method request completed */
    RPC_TAG_CATCHALL,    /* the unregistered-method request completed */
    RPC_TAG_OP,          /* a batch on a call completed */
    RPC_TAG_SHUTDOWN     /* grpc_server_shutdown_and_notify completed */
} rpc_tag_type;

typedef struct rpc_tag {
    rpc_tag_type type;
} rpc_tag;

/* The batches a call can have in flight; at most one of each at a time. */
typedef enum rpc_op_slot {
    RPC_OP_CLOSE = 0, /* RECV_CLOSE_ON_SERVER: completes when the call ends */
    RPC_OP_SEND,      /* SEND_MESSAGE (+ initial metadata) */
    RPC_OP_RECV,      /* RECV_MESSAGE */
    RPC_OP_STATUS,    /* SEND_STATUS_FROM_SERVER (+ message, initial metadata) */
    RPC_OP_COUNT
} rpc_op_slot;

typedef struct rpc_op_tag {
    rpc_tag tag; /* RPC_TAG_OP */
    struct rpc_call *call;
    rpc_op_slot slot;
} rpc_op_tag;

typedef struct rpc_method_reg {
    rpc_method_info info;
    rpc_handler_fn fn;
    void *ctx;
    unsigned flags;    /* RPC_METHOD_* */
    void *grpc_handle; /* from grpc_server_register_method */
    int missing;       /* request slots lost to a failed post, not yet re-posted */
    rpc_method_stats stats; /* counted where each call ends (rpc_call.c) */
} rpc_method_reg;

/* The streams one principal has open (its stream budget). */
typedef struct rpc_stream_owner {
    struct rpc_stream_owner *next;
    int n;
    char name[];
} rpc_stream_owner;
#define RPC_OWNER_BUCKETS 64

/* One posted request, waiting for a call to arrive. */
typedef struct rpc_request {
    rpc_tag tag;
    struct rpc_server *srv;
    rpc_method_reg *method; /* NULL for the catch-all */
    int cq;                 /* the completion queue it is posted on */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details; /* catch-all only */
} rpc_request;

typedef struct rpc_md_list {
    grpc_metadata *items;
    size_t n, cap;
} rpc_md_list;

#define RPC_ARENA0_UNITS (1024 / sizeof(max_align_t))

typedef struct rpc_arena_block {
    struct rpc_arena_block *next;
    size_t used, size;
    max_align_t data[];
} rpc_arena_block;

typedef struct rpc_owned_msg {
    struct rpc_owned_msg *next;
    ProtobufCMessage *msg;
} rpc_owned_msg;

typedef struct rpc_violation {
    struct rpc_violation *next;
    char *field, *description;
} rpc_violation;

struct rpc_call {
    struct rpc_server *srv;
    const rpc_method_reg *method; /* NULL: unknown method (catch-all) */
    grpc_call *call;
    char *path;            /* the method's (registered) or our own copy (path_owned) */
    int path_owned;
    char *peer;            /* from grpc_call_get_peer: gpr_free */
    gpr_timespec deadline; /* monotonic */
    gpr_timespec start;    /* monotonic */
    grpc_metadata_array req_md;
    grpc_byte_buffer *req_payload;
    grpc_slice req_bytes; /* the request as received, flattened */
    int have_req_bytes;
    ProtobufCMessage *request;
    ProtobufCAllocator allocator; /* draws on the arena */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;             /* batches in flight */
    int handler_done;        /* the handler no longer touches the call */
    int closed;              /* RECV_CLOSE_ON_SERVER completed */
    int client_cancelled;    /* ... and reported cancellation */
    int busy[RPC_OP_COUNT];  /* a batch in this slot is in flight */
    int ok[RPC_OP_COUNT];    /* its completion's ok flag */
    int initial_md_sent;
    int status_sent;
    int close_started;       /* RECV_CLOSE is out, alone or in the status batch */
    int close_in_status;     /* ... in the status batch (inline calls) */
    int inline_run;          /* the handler runs on a queue thread now */
    int deferred;            /* ... and asked to be run again on a worker */
    int intercepted;         /* the interceptor has run (not again after a defer) */
    int suspended;           /* the handler handed the call on (rpc_call_suspend) */
    int handler_returned;    /* ... and has returned (under mu) */
    int resumed;             /* rpc_call_resume came (under mu) */
    int resuming;            /* a worker only completes the call with resume_* */
    grpc_status_code resume_code;
    ProtobufCMessage *resume_resp;
    const uint8_t *resp_data; /* rpc_call_set_response_bytes: sent instead of packing */
    size_t resp_len;
    pthread_mutex_t *notify_mu;
    pthread_cond_t *notify_cv;
    int notifying;           /* a cancel broadcast to notify_cv is under way */
    struct rpc_call *work_next; /* in the server's queue of unary calls */

    /* Kept alive until the batches that reference them complete. */
    grpc_byte_buffer *send_buf;
    grpc_byte_buffer *recv_buf;
    grpc_slice status_details;
    int have_status_details;
    rpc_md_list init_md, trail_md;

    grpc_status_code code;
    char *message;
    rpc_violation *violations, **violations_tail;
    size_t n_violations;     /* all the handler added */
    size_t n_listed;         /* ... of which these are kept and sent */
    size_t listed_bytes;
    char *info_reason, *info_domain;

    char *principal;
    void *principal_data;
    rpc_stream_owner *stream_owner; /* the budget this stream is counted in */
    int stream_anon;                /* ... or the unauthenticated one */

    rpc_arena_block *arena;
    int wipe; /* zero the arena before freeing it */
    /* The arena's first block, inside the call: a Noop or an authenticated
     * read's small allocations cost no malloc. */
    size_t arena0_used;
    max_align_t arena0[RPC_ARENA0_UNITS];
    rpc_owned_msg *owned;
    rpc_op_tag tags[RPC_OP_COUNT];
};

/* A completion-queue thread and its own queue. */
typedef struct rpc_queue {
    struct rpc_server *srv;
    int index;
    grpc_completion_queue *cq;
    pthread_t thread;
    int started;
} rpc_queue;

struct rpc_server {
    grpc_server *server;
    /* One completion queue per queue thread, as the core is fastest with:
     * threads sharing one queue make the transport hand its work to the
     * core's executor thread (a hand-off per call) whenever the queue has
     * events waiting. A call's batches complete on the queue it came on. */
    rpc_queue *queues;
    int n_queues;
    rpc_server_options opts;
    char *listen_addr;
    grpc_server_credentials *creds;
    rpc_method_reg **methods;
    size_t n_methods;
    char **service_names;
    size_t n_services;
    rpc_interceptor_fn interceptor;
    void *interceptor_ctx;
    rpc_outcome_fn outcome;
    void *outcome_ctx;
    int requests_per_method;
    rpc_tag shutdown_tag;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;
    atomic_int draining;  /* shutdown began: do not re-post requests */
    int shutdown_notified; /* the shutdown tag came back */
    int streams;           /* streaming handlers running */
    int anon_streams;      /* ... admitted without a principal */
    rpc_stream_owner *owners[RPC_OWNER_BUCKETS]; /* ... per principal */
    int calls;             /* call contexts alive */
    int catchall_missing;  /* catch-all request slots to re-post */
    atomic_int requests_missing; /* all slots to re-post (methods + catch-all) */
    long post_failures;
    atomic_int fail_posts; /* testing: posts to fail */
    int repairing;         /* a queue thread is re-posting */
    gpr_timespec repair_after; /* ... not before (monotonic), after a failure */
    char *bound;           /* "addr,addr": what the listening sockets are bound to */
    struct rpc_log *log;   /* the call log's writer (default log, not quiet) */
    long log_dropped;      /* its count of dropped lines, once it has stopped */
    int stopped;           /* rpc_server_shutdown finished */
    rpc_method_stats unknown_stats; /* calls to unregistered methods */

    /* Unary handlers run on workers, never on the queue threads, so a
     * blocking handler stalls no one: the pool grows when all are busy. */
    pthread_cond_t work_cv;
    struct rpc_call *work_head, **work_tail;
    int workers, idle_workers, workers_stop;
};

/* rpc_call.c */
rpc_call *rpc__call_create(struct rpc_server *srv, const rpc_method_reg *method, rpc_request *req);
/* Starts a batch in a slot (call->mu must NOT be held); 0 or -1. */
int rpc__call_start(rpc_call *call, rpc_op_slot slot, grpc_op *ops, size_t n);
/* Sends the final status (with initial metadata if not yet sent). */
void rpc__call_finish(rpc_call *call, grpc_status_code code, const ProtobufCMessage *resp);
/* A batch completed: records it, wakes waiters, frees the call when done. */
void rpc__call_op_done(rpc_call *call, rpc_op_slot slot, int ok);
/* The handler is finished with the call. */
void rpc__call_handler_done(rpc_call *call);
/* Decodes buf; keep != 0 keeps the flattened bytes as the call's request data. */
int rpc__call_decode(rpc_call *call, grpc_byte_buffer *buf, const ProtobufCMessageDescriptor *desc,
                     ProtobufCMessage **out, int keep);

/* rpc_server.c */
void rpc__server_call_freed(struct rpc_server *srv, const rpc_call *call);

/* rpc_requests.c: posting request slots. */
void rpc__request_free(rpc_request *req);
/* Posts one request for a method (NULL: the catch-all) on queue cq; 0 or -1. */
int rpc__request_post(struct rpc_server *srv, rpc_method_reg *method, int cq);
/* Re-posts a completed request's slot; a failure is counted and repaired. */
void rpc__request_repost(struct rpc_server *srv, rpc_method_reg *method, int cq);
/* Re-posts missing slots on queue cq (its thread calls it while any are
 * missing). */
void rpc__request_repair(struct rpc_server *srv, int cq);

/* rpc_log.c: the call log's ring and writer thread. */
typedef struct rpc_log rpc_log;
/* Starts a writer of call lines to fd, with a ring of at least `bytes`. */
int rpc__log_create(rpc_log **out, int fd, size_t bytes);
/* Formats e (ended at the current time) and queues it; never blocks on the
 * descriptor: a line that does not fit is counted as dropped. */
void rpc__log_call(rpc_log *l, const rpc_call_log *e);
/* The line for e at `when` into buf; its length, or the size needed (> cap). */
size_t rpc__log_format(char *buf, size_t cap, const rpc_call_log *e, const struct timespec *when);
long rpc__log_dropped(rpc_log *l);
/* Writes every queued line, then stops the writer and frees the log. */
void rpc__log_destroy(rpc_log *l);

/* rpc_budget.c: stream budgets, after the interceptor named the caller. */
grpc_status_code rpc__stream_admit(rpc_call *call);
void rpc__stream_release(rpc_call *call);

/* rpc_listen.c: binds srv->listen_addr with creds (taken), checking what was
 * bound (see rpc_server_start); sets srv->bound. The port, or 0 after a
 * message on stderr. */
int rpc__listen(struct rpc_server *srv, grpc_server_credentials *creds);

#endif
