/* audit_record.c — building one audit record, bounded and valid by
 * construction: every record the server writes is built here (audit_append),
 * so whatever a refused request held, each string field is valid UTF-8
 * without control characters and at most AUDIT_TEXT_MAX bytes, and the whole
 * record at most AUDIT_RECORD_MAX bytes. Design: docs/audit.md, "Bounded
 * records". */
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "tallinn/textsafe.h"
#include "tallinn/v1/audit.pb-c.h"

/* The string fields of an AuditRecord. */
enum { F_PRINCIPAL, F_METHOD, F_RESOURCE, F_REQUEST_ID, F_ETAG, F_SERVER_VERSION, N_TEXT };

static const char *const text_names[N_TEXT] = {
    "principal", "method", "resource", "request_id", "etag", "server_version",
};

/* The largest serialized record, from the wire format (every varint at its
 * 10-byte worst, lengths below 2^14 in 2 bytes):
 *   a string field:  tag 1 + length 2 + AUDIT_TEXT_MAX bytes
 *   a replaced entry: tag 1 + length 1 + field (1 + 1 + 14, "server_version")
 *                     + sha256 (1 + 1 + 32) + size (1 + 10) = 63 bytes
 *   the rest:        index 11, time 1 + 1 + (11 + 11), role 11,
 *                    request_sha256 1 + 1 + 32, status_code 11,
 *                    evidence_sha256 1 + 1 + 32, evidence_documents 1 + 10
 *                    = 136 bytes
 * 6 strings and at most 6 replaced entries: 3,090 + 378 + 136 = 3,604 bytes.
 * A delivery step's evidence (up to 16 documents and a 2,000-character
 * note: some 27 KiB) is never copied in: its digest stands for it, and the
 * match holds the evidence itself. */
#define STRING_MAX (1 + 2 + AUDIT_TEXT_MAX)
#define REPLACED_MAX (1 + 1 + (1 + 1 + 14) + (1 + 1 + 32) + (1 + 10))
#define FIXED_MAX (11 + (1 + 1 + 11 + 11) + 11 + (1 + 1 + 32) + 11 + (1 + 1 + 32) + (1 + 10))
_Static_assert(N_TEXT * STRING_MAX + N_TEXT * REPLACED_MAX + FIXED_MAX <= AUDIT_RECORD_MAX,
               "an AuditRecord could exceed AUDIT_RECORD_MAX");
_Static_assert(AUDIT_TEXT_MAX < (1 << 14), "string lengths must fit 2-byte varints");
_Static_assert(AUDIT_RECORD_MAX <= 65535, "a record must fit one tlog-tiles entry");

typedef struct record_scratch {
    char text[N_TEXT][AUDIT_TEXT_MAX + 1];
    uint8_t sha[N_TEXT][crypto_hash_sha256_BYTES];
    Tallinn__V1__ReplacedText replaced[N_TEXT];
    Tallinn__V1__ReplacedText *list[N_TEXT];
    size_t n_replaced;
} record_scratch;

/* The value a field records: v itself when it is clean and short enough,
 * else its escaped prefix, with an entry in `replaced` that identifies v. */
static char *bounded(record_scratch *s, int f, const char *v)
{
    size_t len;
    Tallinn__V1__ReplacedText *rp;

    if (v == NULL)
        return (char *)"";
    len = strlen(v);
    if (len <= AUDIT_TEXT_MAX && textsafe_is_clean(v, len))
        return (char *)v;
    textsafe_escape(v, len, TEXTSAFE_BACKSLASH, s->text[f], sizeof(s->text[f]), NULL);
    crypto_hash_sha256(s->sha[f], (const unsigned char *)v, len);
    rp = &s->replaced[f];
    tallinn__v1__replaced_text__init(rp);
    rp->field = (char *)text_names[f];
    rp->sha256.data = s->sha[f];
    rp->sha256.len = sizeof(s->sha[f]);
    rp->size = (int64_t)len;
    s->list[s->n_replaced++] = rp;
    return s->text[f];
}

size_t audit_record_pack(const audit_entry *e, int64_t index, int64_t seconds, int32_t nanos,
                         uint8_t out[AUDIT_RECORD_MAX])
{
    Tallinn__V1__AuditRecord r = TALLINN__V1__AUDIT_RECORD__INIT;
    Google__Protobuf__Timestamp now = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    record_scratch s;

    s.n_replaced = 0;
    now.seconds = seconds;
    now.nanos = nanos;
    r.index = index;
    r.time = &now;
    r.principal = bounded(&s, F_PRINCIPAL, e->principal);
    r.role = (Tallinn__V1__Principal__Role)e->role;
    r.method = bounded(&s, F_METHOD, e->method);
    r.resource = bounded(&s, F_RESOURCE, e->resource);
    r.request_id = bounded(&s, F_REQUEST_ID, e->request_id);
    if (e->request_sha256 != NULL) {
        r.request_sha256.data = (uint8_t *)e->request_sha256;
        r.request_sha256.len = crypto_hash_sha256_BYTES;
    }
    r.status_code = e->status;
    r.etag = bounded(&s, F_ETAG, e->etag);
    r.server_version = bounded(&s, F_SERVER_VERSION, TALLINN_VERSION);
    if (e->evidence_sha256 != NULL) {
        r.evidence_sha256.data = (uint8_t *)e->evidence_sha256;
        r.evidence_sha256.len = crypto_hash_sha256_BYTES;
        r.evidence_documents = e->evidence_documents;
    }
    r.replaced = s.list;
    r.n_replaced = s.n_replaced;
    /* Cannot fail (the static bound above); checked all the same, so that a
     * future field added without its bound is refused, not written. */
    if (tallinn__v1__audit_record__get_packed_size(&r) > AUDIT_RECORD_MAX)
        return 0;
    return tallinn__v1__audit_record__pack(&r, out);
}
