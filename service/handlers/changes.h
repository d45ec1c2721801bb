/* changes.h — the change log read for one caller: need-to-know as of a
 * position (changes_view.c), waiting for positions committed by this
 * process or another one (changes_wait.c), and ChangeService on top of them
 * (changes.c: WatchChanges; history.c: ListHistory). Design: docs/store.md
 * ("The change log") and docs/api.md ("Changes and history"). Private to
 * service/. */
#ifndef TALLINN_CHANGES_H
#define TALLINN_CHANGES_H

#include <stdint.h>

#include "domain.h"
#include "tallinn/v1/change.pb-c.h"

/* ---- Waiting for new positions (changes_wait.c) ---- */
typedef struct changes_waiter changes_waiter;

#define CHANGES_POLL_MS_DEFAULT 500

/* A waiter over store s: a commit observer wakes its waits after each
 * committed batch of this process, and a poller thread reads the audit head
 * every poll_ms (0: no poller, for tests) and wakes them when another process
 * moved it (a shared database). The observer stays registered for the
 * store's life: shut the waiter down (stopping the poller) before
 * store_close, and destroy it after. */
int changes_waiter_create(changes_waiter **out, store *s, int poll_ms);
void changes_waiter_destroy(changes_waiter *w);
/* Wakes every wait, makes later ones return at once, and stops the poller
 * (server shutdown). Idempotent; NULL is ignored. */
void changes_waiter_shutdown(changes_waiter *w);

enum {
    CHANGES_WAIT_MOVED = 0,    /* the head is past pos: *head says where */
    CHANGES_WAIT_TIMEOUT = 1,  /* timeout_ms passed */
    CHANGES_WAIT_STOPPED = 2,  /* shutdown, or call cancelled or draining */
};
/* Waits until the audit log's committed size passes pos, at most
 * timeout_ms; call (may be NULL) ends the wait when it is cancelled or the
 * server drains. Returns a CHANGES_WAIT_* code, or a negative STORE_* error
 * from reading the head. */
int changes_wait(changes_waiter *w, int64_t pos, int timeout_ms, rpc_call *call, int64_t *head);

/* ---- Need-to-know as of a position (changes_view.c) ---- */

/* The store kind a resource name names ("needs/x", "matches/x",
 * "donors/x", "donors/x/pledges/y"); -1 for anything else. */
int changes_kind_of_name(const char *name, store_kind *kind);
Tallinn__V1__ResourceKind changes_kind_to_proto(store_kind kind);
int changes_kind_from_proto(Tallinn__V1__ResourceKind k, store_kind *kind);

/* May the caller's role read this kind at all (its Get method)? */
int changes_kind_readable(const api_caller *caller, store_kind kind);

/* One version from the change log, decoded (malloc'd: changes_version_free). */
typedef struct change_version {
    int64_t index;
    int seq;
    store_kind kind;
    char *name;
    int deleted;
    ProtobufCMessage *msg;
} change_version;

/* Copies and decodes a row; STORE_CORRUPT when its data does not decode. */
int changes_version_copy(const store_change *ch, change_version *out);
void changes_version_free(change_version *v);

/* Versions read by a store scan: changes_versions_collect is the
 * store_change_fn (grows by `chunk` at first; rc keeps why it stopped). */
typedef struct change_versions {
    change_version *v;
    size_t n, cap, chunk;
    int rc;
} change_versions;

int changes_versions_collect(const store_change *ch, void *change_versions_p);
void changes_versions_free(change_versions *r);
/* The resource's latest version with index < before (the baseline
 * included); STORE_NOT_FOUND when it has none. */
int changes_version_before(store_tx *tx, store_kind kind, const char *name, int64_t before,
                           change_version *out);

/* Would the caller's reads have shown version m (of kind) at position at:
 * its role reads the kind, and need-to-know as visibility.c decides it, with
 * a DONOR's live matches as of that position (store_change_live_match)?
 * *sees 0 or 1; returns STORE_OK or a storage error. */
int changes_sees_at(store_tx *tx, const api_caller *caller, store_kind kind,
                    const ProtobufCMessage *m, int deleted, int64_t at, int *sees);

/* Clears what the caller's reads clear: an OBSERVER's need fields, another
 * donor's contact e-mail for a DONOR. */
void changes_redact(const api_caller *caller, store_kind kind, ProtobufCMessage *m);

/* Sets holder's oneof `resource` (Change, HistoryEntry) to m of kind. */
void changes_set_resource(ProtobufCMessage *holder, store_kind kind, ProtobufCMessage *m);

/* What a WatchChanges caller asked for. */
typedef struct changes_filter {
    unsigned kinds;       /* bit (1 << store_kind); 0: every kind */
    const char *resource; /* "" or NULL: every resource */
} changes_filter;

/* One change rendered for a caller (malloc'd; msg NULL for a tombstone). */
typedef struct changes_out {
    store_kind kind;
    char *name;
    int tombstone;
    ProtobufCMessage *msg; /* redacted */
} changes_out;

/* Renders the rows of one position (n versions, all of index at, in seq
 * order) for the caller: the resources it may see after the change, and a
 * tombstone for each it saw just before and may not see after — including a
 * need a DONOR gains or loses sight of because its own match there became
 * live or stopped being live. Appends to *out (grown with realloc).
 * Returns STORE_OK or a storage error. */
int changes_render(store_tx *tx, const api_caller *caller, const changes_filter *f,
                   const change_version *rows, size_t n, changes_out **out, size_t *n_out,
                   size_t *cap_out);
void changes_out_free(changes_out *o, size_t n);

/* ---- The service ---- */
typedef struct changes_ctx {
    api *api;
    changes_waiter *waiter;
} changes_ctx;

/* ChangeService: WatchChanges (changes.c) and ListHistory (history.c). */
int changes_register(rpc_server *srv, api *a, changes_waiter *w);
/* ListHistory; ctx is the service's changes_ctx. */
grpc_status_code history_list(rpc_call *call, const ProtobufCMessage *req,
                              ProtobufCMessage **resp, void *ctx);

#endif
