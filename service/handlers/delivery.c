/* delivery.c — the evidence of a match's delivery steps (MarkDelivered,
 * AcceptDelivery, RejectDelivery): the note and document digests a request
 * gives, checked as hostile input, and recorded in the match and, as one
 * digest, in the step's audit record. Design: docs/api.md ("Delivery
 * evidence"); the checks and the digest: tallinn/evidence.h. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "domain.h"
#include "tallinn/evidence.h"
#include "tallinn/validate.h"

#define STEP(s) TALLINN__V1__DELIVERY_EVIDENCE__STEP__STEP_##s

/* The note and documents of the request, whichever delivery step it is. */
static int request_evidence(const ProtobufCMessage *req, const char **note, size_t *n,
                            Tallinn__V1__DeliveryDocument ***docs, int *step)
{
    if (req->descriptor == &tallinn__v1__mark_delivered_request__descriptor) {
        const Tallinn__V1__MarkDeliveredRequest *r = (const void *)req;
        *note = r->note, *n = r->n_documents, *docs = r->documents, *step = STEP(DELIVERED);
    } else if (req->descriptor == &tallinn__v1__accept_delivery_request__descriptor) {
        const Tallinn__V1__AcceptDeliveryRequest *r = (const void *)req;
        *note = r->note, *n = r->n_documents, *docs = r->documents, *step = STEP(ACCEPTED);
    } else if (req->descriptor == &tallinn__v1__reject_delivery_request__descriptor) {
        const Tallinn__V1__RejectDeliveryRequest *r = (const void *)req;
        *note = r->note, *n = r->n_documents, *docs = r->documents, *step = STEP(REJECTED);
    } else {
        return 0;
    }
    return 1;
}

static void check_document(rpc_call *call, size_t i, const Tallinn__V1__DeliveryDocument *d,
                           Tallinn__V1__DeliveryDocument *out)
{
    char field[48];
    const char *sha = d->sha256 != NULL ? d->sha256 : "";
    const char *type = d->media_type != NULL ? d->media_type : "";
    char *lower = rpc_call_alloc(call, EVIDENCE_MEDIA_TYPE_MAX + 1);
    int rc;

    snprintf(field, sizeof(field), "documents[%zu].sha256", i);
    rc = evidence_check_sha256(sha, strlen(sha));
    if (rc == VALIDATE_ERR_EMPTY)
        api_violation(call, field, "required: the document's SHA-256");
    else if (rc != VALIDATE_OK)
        api_violation(call, field, "must be exactly 64 lower-case hexadecimal digits (the "
                                   "SHA-256 of the document, as sha256sum prints it)");
    snprintf(field, sizeof(field), "documents[%zu].name", i);
    api_check_text(call, field, d->name, EVIDENCE_NAME_MAX, VALIDATE_TEXT_REQUIRED);
    snprintf(field, sizeof(field), "documents[%zu].media_type", i);
    rc = evidence_check_media_type(type, strlen(type), lower);
    if (rc == VALIDATE_ERR_EMPTY)
        api_violation(call, field, "required: e.g. application/pdf");
    else if (rc == VALIDATE_ERR_TOO_LONG)
        api_violation(call, field, "longer than %d characters", EVIDENCE_MEDIA_TYPE_MAX);
    else if (rc != VALIDATE_OK)
        api_violation(call, field, "must be a media type type/subtype (RFC 6838), e.g. "
                                   "application/pdf, without parameters");
    tallinn__v1__delivery_document__init(out);
    out->sha256 = (char *)sha;
    out->name = d->name != NULL ? d->name : (char *)protobuf_c_empty_string;
    out->media_type = rc == VALIDATE_OK && lower != NULL ? lower : (char *)type;
}

int delivery_check(rpc_call *call, const ProtobufCMessage *req, delivery_req *out)
{
    Tallinn__V1__DeliveryDocument **docs;
    const char *note;
    size_t n;
    int step;

    memset(out, 0, sizeof(*out));
    if (!request_evidence(req, &note, &n, &docs, &step))
        return 1; /* not a delivery step: no evidence */
    out->given = 1;
    out->step = step;
    out->note = note != NULL ? note : protobuf_c_empty_string;
    api_check_text(call, "note", out->note, EVIDENCE_NOTE_MAX, VALIDATE_TEXT_MULTILINE);
    if (n > EVIDENCE_MAX_DOCUMENTS) {
        /* One violation, not one per document: the count alone is wrong. */
        api_violation(call, "documents", "at most %d documents per step, got %zu",
                      EVIDENCE_MAX_DOCUMENTS, n);
        return 0;
    }
    if (n > 0) {
        out->docs = rpc_call_alloc(call, n * sizeof(*out->docs));
        Tallinn__V1__DeliveryDocument *copies = rpc_call_alloc(call, n * sizeof(*copies));
        if (out->docs == NULL || copies == NULL)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (docs[i] == NULL)
                return -1;
            check_document(call, i, docs[i], &copies[i]);
            out->docs[i] = &copies[i];
        }
        out->n = n;
    }
    return 1;
}

grpc_status_code delivery_record(api_job *job, Tallinn__V1__Match *x, const delivery_req *ev)
{
    rpc_call *call = job->call;
    Tallinn__V1__DeliveryEvidence *e, **steps;
    evidence_doc docs[EVIDENCE_MAX_DOCUMENTS];
    uint8_t *digest;
    char *hex;

    if (!ev->given)
        return GRPC_STATUS_OK;
    if (x->n_delivery_evidence >= EVIDENCE_MAX_STEPS) {
        rpc_call_set_error_info(call, "EVIDENCE_LIMIT", "tallinn.v1");
        return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s already has %d delivery steps, the most a match keeps; no "
                              "further delivery step can be recorded on it", x->name,
                              EVIDENCE_MAX_STEPS);
    }
    for (size_t i = 0; i < ev->n; i++)
        docs[i] = (evidence_doc){ev->docs[i]->sha256, ev->docs[i]->name, ev->docs[i]->media_type};
    e = rpc_call_alloc(call, sizeof(*e));
    steps = rpc_call_alloc(call, (x->n_delivery_evidence + 1) * sizeof(*steps));
    digest = rpc_call_alloc(call, EVIDENCE_DIGEST_BYTES);
    hex = rpc_call_alloc(call, EVIDENCE_DIGEST_BYTES * 2 + 1);
    if (e == NULL || steps == NULL || digest == NULL || hex == NULL)
        return api_store_error(call, STORE_NOMEM);
    if (evidence_digest(ev->note, docs, ev->n, digest) != 0)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "the evidence could not be digested");
    sodium_bin2hex(hex, EVIDENCE_DIGEST_BYTES * 2 + 1, digest, EVIDENCE_DIGEST_BYTES);
    tallinn__v1__delivery_evidence__init(e);
    e->step = (Tallinn__V1__DeliveryEvidence__Step)ev->step;
    e->principal = (char *)job->caller->principal;
    e->time = api_now(call);
    e->note = (char *)ev->note;
    e->n_documents = ev->n;
    e->documents = ev->docs;
    e->evidence_sha256 = hex;
    if (x->n_delivery_evidence > 0)
        memcpy(steps, x->delivery_evidence, x->n_delivery_evidence * sizeof(*steps));
    steps[x->n_delivery_evidence] = e;
    x->delivery_evidence = steps;
    x->n_delivery_evidence++;
    job->evidence_sha256 = digest;
    job->evidence_documents = (int32_t)ev->n;
    return GRPC_STATUS_OK;
}
