/* api.h — what the domain handlers (donors.c, needs.c, matches.c,
 * reports.c) share: who is calling, generic field access on protobuf-c
 * messages, etags and ids (api.c); validation helpers that collect field
 * violations (api_check.c); idempotent write jobs (api_write.c); List paging
 * (api_list.c). Private to service/. */
#ifndef TALLINN_API_H
#define TALLINN_API_H

#include <stdint.h>

#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "tallinn/filter.h"
#include "tallinn/pagetoken.h"
#include "tallinn/rpc.h"
#include "tallinn/store.h"
#include "tallinn/v1/common.pb-c.h"

#define API_PAGE_DEFAULT 50
#define API_PAGE_MAX 1000
#define API_REQUEST_TTL_S (48 * 3600) /* request_id replays are kept >= 24 h */

struct audit;

typedef struct api {
    store *store;
    struct audit *audit; /* every change and refused write is recorded here */
    const char *currency; /* the accounting currency, e.g. "EUR" */
    uint8_t page_key[PAGETOKEN_KEYBYTES];
} api;

/* ---- Who is calling ---- */
typedef enum api_role {
    API_ROLE_NONE = 0,
    API_ROLE_FRONT_OFFICE,
    API_ROLE_BACK_OFFICE,
    API_ROLE_COORDINATOR,
    API_ROLE_DONOR,
    API_ROLE_OBSERVER,
    API_ROLE_AUDITOR,
    API_ROLE_ADMIN
} api_role;

typedef struct api_caller {
    const char *principal; /* resource name, e.g. "principals/kyiv-1" */
    api_role role;
    const char *donor; /* DONOR principals: the donor they act for */
} api_caller;

/* The one place a handler learns who calls (authz.c attached it). Never
 * NULL: a call without one gets a caller with role NONE, allowed nothing. */
const api_caller *api_caller_of(rpc_call *call);

/* ---- Errors ---- */
/* Adds a BadRequest field violation (printf-style description). */
void api_violation(rpc_call *call, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* INVALID_ARGUMENT summarising the violations collected, or OK if none. */
grpc_status_code api_violations_status(rpc_call *call, const char *what);
/* Maps a STORE_* error to a status with a short message. */
grpc_status_code api_store_error(rpc_call *call, int store_rc);

/* Marks a read-only method RPC_METHOD_INLINE (run where the call arrived)
 * when the store's reads are in-process (SQLite); with PostgreSQL a read is
 * a round trip over the network, and a queue thread must not wait on it.
 * Returns 0 or -1 as rpc_server_set_method_flags. */
int api_inline_read(rpc_server *srv, const api *a, const char *path);
/* Maps a ledger result (ledger/ledger.h): LEDGER_ERR_RANGE, a sum no Money
 * can hold, is `code` (FAILED_PRECONDITION for a write, OUT_OF_RANGE for a
 * report) saying what would not fit; a STORE_* error as api_store_error. */
grpc_status_code api_ledger_error(rpc_call *call, int rc, grpc_status_code code, const char *what);

/* ---- Validation helpers: each adds a violation and returns 0 when bad ---- */
int api_check_text(rpc_call *call, const char *field, const char *s, size_t max_chars,
                   unsigned flags);
int api_check_money(rpc_call *call, const api *a, const char *field,
                    const Tallinn__V1__Money *m, unsigned flags, int64_t *nanos);
int api_check_enum(rpc_call *call, const char *field, const ProtobufCEnumDescriptor *d, int v,
                   int required);
int api_check_request_id(rpc_call *call, const char *rid);
/* Parses a resource name against pattern ("needs/{need}"); adds a violation
 * and returns 0 when bad. */
int api_check_name(rpc_call *call, const char *field, const char *pattern, const char *name);
/* Checks the client-chosen {resource}_id (AIP-133); "" is fine. */
int api_check_id(rpc_call *call, const char *field, const char *id);

/* ---- Messages ---- */
/* A new random resource id ([a-z][a-z0-9]{11}). */
void api_new_id(char out[16]);
/* Allocates a name "prefix/id" on the call. */
char *api_name(rpc_call *call, const char *prefix, const char *id);
/* A Timestamp for now, on the call. */
Google__Protobuf__Timestamp *api_now(rpc_call *call);
Tallinn__V1__Money *api_money(rpc_call *call, const api *a, int64_t nanos);
int64_t api_nanos(const Tallinn__V1__Money *m); /* 0 for NULL */
/* Recomputes and sets msg's "etag" field (a hash of everything else). */
void api_set_etag(rpc_call *call, ProtobufCMessage *msg);
/* ABORTED when etag is non-empty and differs from the resource's. */
grpc_status_code api_check_etag(rpc_call *call, const ProtobufCMessage *current, const char *etag);
/* A field's descriptor by name (NULL if none), and the size of one value of
 * it in a message struct. */
const ProtobufCFieldDescriptor *api_field(const ProtobufCMessageDescriptor *d, const char *name);
size_t api_field_size(const ProtobufCFieldDescriptor *f);
/* Copies one field (shallow) from src to dst, both of the same type. */
int api_copy_field(ProtobufCMessage *dst, const ProtobufCMessage *src, const char *field);
/* Reads a string field by name (NULL if no such string field). */
const char *api_get_string(const ProtobufCMessage *m, const char *field);
int api_set_string(ProtobufCMessage *m, const char *field, char *value);

/* Checks an update_mask against the fields an update may change: an
 * absent or empty mask (update_mask), "*", an unknown field and a field
 * outside mutable_fields (output only or immutable; update_mask.paths[i])
 * are violations. OK or INVALID_ARGUMENT. Pure: run it before any lookup. */
grpc_status_code api_check_mask(rpc_call *call, const ProtobufCMessageDescriptor *d,
                                const Google__Protobuf__FieldMask *mask,
                                const char *const *mutable_fields, const char *resource);
/* Applies an update: api_check_mask, then exactly the mask's paths are
 * copied from req to cur; nothing else changes. */
grpc_status_code api_apply_mask(rpc_call *call, ProtobufCMessage *cur, const ProtobufCMessage *req,
                                const Google__Protobuf__FieldMask *mask,
                                const char *const *mutable_fields, const char *resource);

/* ---- Writes ---- */
typedef struct api_job api_job;
typedef grpc_status_code (*api_job_fn)(store_tx *tx, api_job *job);
struct api_job {
    rpc_call *call;
    api *api;
    const api_caller *caller;
    void *arg;
    ProtobufCMessage *resp; /* set by fn on success */
    /* Set by fn when the change records a delivery step's evidence: its
     * digest (32 bytes, call memory) and document count, for the audit
     * record. */
    const uint8_t *evidence_sha256;
    int32_t evidence_documents;
    /* api_save's encoding of the message it stored (call memory): the
     * response's bytes while resp is still that message. */
    const ProtobufCMessage *packed_of;
    const uint8_t *packed;
    size_t packed_len;
};

/* Runs fn as a write job in the next group commit and waits until it is
 * durable. With a request_id, a repeat by the same caller of the same method
 * returns the first response and changes nothing; the same request_id with a
 * different request is INVALID_ARGUMENT. A change is written to the audit
 * log in the same transaction; a refusal (FAILED_PRECONDITION,
 * PERMISSION_DENIED) is undone and recorded by api_audit_refusal. */
grpc_status_code api_write(rpc_call *call, api *a, const char *request_id, api_job_fn fn, void *arg,
                           ProtobufCMessage **resp);

/* api_write without a waiting thread: queues the job and suspends the call
 * (rpc_call_suspend); the committer ends it once its batch is durable, with
 * the job's response or error. The handler returns what this returns at once
 * and touches the call no more; arg must live in the call's memory. For
 * handlers whose answer is the job's response as it stands. */
grpc_status_code api_write_async(rpc_call *call, api *a, const char *request_id, api_job_fn fn,
                                 void *arg);

/* Writes a resource in a job: stamps update_time (and create_time on
 * insert) and the etag, inserts or updates it (ALREADY_EXISTS when the name
 * is taken), and makes it the job's response. */
grpc_status_code api_save(store_tx *tx, api_job *job, store_kind kind, ProtobufCMessage *m,
                          int insert);

/* Gets a resource, answering NOT_FOUND ("<name> not found") or a storage
 * error as a status. For the server's own loads: a resource the caller
 * named goes through visibility_load (domain.h), which checks need-to-know
 * first. */
grpc_status_code api_load(store_tx *tx, rpc_call *call, store_kind kind, const char *name,
                          ProtobufCMessage **out);
grpc_status_code api_not_found(rpc_call *call, const char *name);

/* Gets a resource in a write job or read, unpacked on the call. */
int api_get(store_tx *tx, rpc_call *call, store_kind kind, const char *name,
            ProtobufCMessage **out);

/* Records a refused write (code: PERMISSION_DENIED or FAILED_PRECONDITION)
 * of the call: who, what method, the resource the request names, its
 * request_id and the hash of its bytes; one write job, durable on return.
 * Returns code, or a storage error when the record could not be written.
 * The one place refusals are recorded: authz.c calls it from the outcome
 * hook, for every refused write whichever code refused it. */
grpc_status_code api_audit_refusal(rpc_call *call, struct audit *log, grpc_status_code code);

/* Records a read of RESTRICTED resources (one audit record each). */
grpc_status_code api_audit_reads(rpc_call *call, api *a, const char *const *names, size_t n);

/* ---- Workflow transitions (custom methods, AIP-136) ---- */
typedef struct api_transition {
    const char *method;    /* "SubmitNeed" */
    unsigned from;         /* states allowed before (bit 1 << state) */
    int to;
    int needs_reason;      /* reason required (else optional) */
    const char *from_text; /* the allowed states, for the error message */
    const char *cli;       /* what staff type for it, "needs submit" (named in messages) */
} api_transition;

/* The common fields of a transition request, read and checked. */
typedef struct api_transition_req {
    const api_transition *t;
    const char *name, *reason, *etag, *request_id;
} api_transition_req;

/* Finds the called method in table and checks name (against pattern), the
 * reason (required when the transition or require_reason says so), and
 * request_id. OK, UNIMPLEMENTED or INVALID_ARGUMENT with violations. */
grpc_status_code api_transition_request(rpc_call *call, const ProtobufCMessage *req,
                                        const api_transition *table, size_t n,
                                        const char *pattern, int require_reason,
                                        api_transition_req *out);

/* ---- Lists ---- */
typedef struct api_list_req {
    store_kind kind;
    const char *collection; /* "needs" */
    const char *parent;     /* "" or the parent's name */
    int32_t page_size;
    const char *page_token, *filter, *order_by;
    /* Need-to-know: the rows must also be in this scope. */
    store_scope scope;
    /* Fields this caller may not filter or order on (redacted for it). */
    const char *const *hidden_fields;
} api_list_req;

/* api_list, answered as a List response of type desc: its one repeated
 * message field gets the rows and next_page_token the token. */
grpc_status_code api_list_response(rpc_call *call, api *a, const api_list_req *req,
                                   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp);
/* A page read to be answered as stored (api_list_stored): its rows are
 * not decoded; each row's stored bytes and its values of the fields asked
 * for, read from the store's columns (store_get_fields). */
typedef struct api_list_page {
    size_t n;                   /* rows on the page */
    const store_bytes *bytes;   /* bytes[i]: row i as stored */
    const filter_value *values; /* values[i * stride + j]: row i's value of fields[j]; its
                                   name is values[i * stride + stride - 1] */
    size_t stride;
    char *next_token;           /* "" at the end */
} api_list_page;

/* api_list, for a caller that answers with the rows as stored (nothing is
 * redacted for it) and decides on them from typed values: fields (NULL-
 * terminated names of the kind's schema fields; NULL: none) are read beside
 * each row, and the page token comes from the store's values of the order's
 * keys. */
grpc_status_code api_list_stored(rpc_call *call, api *a, const api_list_req *req,
                                 const char *const *fields, api_list_page *page);
/* Answers a List response of type desc with a stored page: the rows as
 * stored, in order, then next_page_token, sent as one encoding without
 * packing the rows again (*resp is the response without its rows). */
grpc_status_code api_list_answer_stored(rpc_call *call, const ProtobufCMessageDescriptor *desc,
                                        const api_list_page *page, ProtobufCMessage **resp);

/* Runs a list: validates paging, filter and order_by, decodes and checks the
 * page token, reads one page in a snapshot, and returns the rows (unpacked on
 * the call) and the next page token ("" at the end). */
grpc_status_code api_list(rpc_call *call, api *a, const api_list_req *req,
                          ProtobufCMessage ***rows, size_t *n_rows, char **next_token);

#endif
