/* bench_check.c — checking a ListNeeds page on its wire bytes, without
 * building 50 Needs: every need of the page is walked field by field
 * (protobuf-c's descriptors say what each field number is), its framing
 * and nested messages checked as a decoder would, and its name, state and
 * priority read. Written by hand because protobuf-c can only decode a
 * whole message, allocating every string and submessage, which cost the
 * client more CPU a page than the server spends on it (docs/BENCHMARKS.md). */
#include <stdint.h>
#include <string.h>

#include "bench.h"
#include "tallinn/v1/need.pb-c.h"

#define WIRE_VARINT 0
#define WIRE_FIXED64 1
#define WIRE_LEN 2
#define WIRE_FIXED32 5
#define WALK_MAX_DEPTH 8

static int read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (*pos >= len)
            return -1;
        b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* The wire type a field of this type is encoded with (LEN for packed
 * repeated scalars is allowed apart). */
static int wire_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return WIRE_FIXED32;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return WIRE_FIXED64;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return WIRE_LEN;
    default:
        return WIRE_VARINT;
    }
}

/* One field as the walk met it: its descriptor (NULL: unknown number),
 * its varint value or its bytes. */
typedef struct wire_field {
    const ProtobufCFieldDescriptor *f;
    uint64_t v;
    const uint8_t *data;
    size_t len;
} wire_field;

typedef int (*wire_fn)(const wire_field *wf, void *ctx);

/* The descriptor of field number num of d. protobuf-c packs fields in
 * number order and d->fields is sorted by number, so the field after the
 * last one found (*hint) is tried first; else the library's search. */
static const ProtobufCFieldDescriptor *field_of(const ProtobufCMessageDescriptor *d, unsigned num,
                                                unsigned *hint)
{
    const ProtobufCFieldDescriptor *f;

    for (unsigned i = *hint; i < d->n_fields && d->fields[i].id <= num; i++)
        if (d->fields[i].id == num) {
            *hint = i + 1;
            return &d->fields[i];
        }
    if ((f = protobuf_c_message_descriptor_get_field(d, num)) != NULL)
        *hint = (unsigned)(f - d->fields) + 1;
    return f;
}

/* Walks the encoding of a message of type d: every tag, wire type and
 * length within the bytes, a known field's wire type the one its type has,
 * a nested message walked the same way (depth-bounded) — unless shallow:
 * then fn walks them. fn (may be NULL) sees each top-level field; non-zero
 * from it stops with that value. 0 = well formed, -1 = not. */
static int walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth,
                int shallow, wire_fn fn, void *ctx)
{
    size_t pos = 0;
    unsigned hint = 0;

    if (depth > WALK_MAX_DEPTH)
        return -1;
    while (pos < len) {
        uint64_t key;
        wire_field wf = {0};
        unsigned wire;
        int rc;

        if (read_varint(p, len, &pos, &key) != 0 || (key >> 3) == 0 || (key >> 3) > 536870911u)
            return -1;
        wire = (unsigned)(key & 7);
        wf.f = field_of(d, (unsigned)(key >> 3), &hint);
        switch (wire) {
        case WIRE_VARINT:
            if (read_varint(p, len, &pos, &wf.v) != 0)
                return -1;
            break;
        case WIRE_FIXED64:
        case WIRE_FIXED32: {
            size_t n = wire == WIRE_FIXED64 ? 8 : 4;
            if (len - pos < n)
                return -1;
            wf.data = p + pos;
            wf.len = n;
            pos += n;
            break;
        }
        case WIRE_LEN:
            if (read_varint(p, len, &pos, &wf.v) != 0 || wf.v > len - pos)
                return -1;
            wf.data = p + pos;
            wf.len = (size_t)wf.v;
            pos += wf.len;
            break;
        default:
            return -1; /* groups are not proto3 */
        }
        if (wf.f != NULL) {
            int want = wire_of(wf.f->type);
            int packed = wire == WIRE_LEN && wf.f->label == PROTOBUF_C_LABEL_REPEATED &&
                         want != WIRE_LEN;
            if ((int)wire != want && !packed)
                return -1;
            if (wf.f->type == PROTOBUF_C_TYPE_MESSAGE && !shallow &&
                walk(wf.f->descriptor, wf.data, wf.len, depth + 1, 0, NULL, NULL) != 0)
                return -1;
        }
        if (fn != NULL && (rc = fn(&wf, ctx)) != 0)
            return rc;
    }
    return 0;
}

/* ---- A ListNeeds page ---- */

/* The Need fields the check reads. */
typedef struct need_fields {
    const ProtobufCFieldDescriptor *name, *state, *priority;
} need_fields;

typedef struct need_seen {
    const need_fields *nf;
    int have_name;
    uint64_t state, priority;
} need_seen;

static int need_field(const wire_field *wf, void *ctx)
{
    need_seen *n = ctx;

    if (wf->f == n->nf->name) /* "needs/<id>": what every need's name is */
        n->have_name = wf->len > 6 && memcmp(wf->data, "needs/", 6) == 0;
    else if (wf->f == n->nf->state)
        n->state = wf->v;
    else if (wf->f == n->nf->priority)
        n->priority = wf->v;
    return 0;
}

typedef struct page_seen {
    need_fields nf;
    size_t needs;
    int check_filter;
    const char *bad;
} page_seen;

#define BAD_NEED 2

static int page_field(const wire_field *wf, void *ctx)
{
    page_seen *pg = ctx;
    need_seen n = {&pg->nf, 0, 0, 0};

    if (wf->f == NULL || wf->f->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0; /* next_page_token: its framing was checked */
    pg->needs++;
    if (walk(&tallinn__v1__need__descriptor, wf->data, wf->len, 1, 0, need_field, &n) != 0)
        return -1;
    if (!n.have_name) {
        pg->bad = "a need without a name";
        return BAD_NEED;
    }
    if (pg->check_filter && (n.state != TALLINN__V1__NEED__STATE__STATE_OPEN ||
                             n.priority != TALLINN__V1__NEED__PRIORITY__PRIORITY_HIGH)) {
        pg->bad = "a need outside the filter";
        return BAD_NEED;
    }
    return 0;
}

const char *bench_check_list_page(const uint8_t *data, size_t len, size_t page_size,
                                  size_t want_min, int check_filter)
{
    const ProtobufCMessageDescriptor *nd = &tallinn__v1__need__descriptor;
    page_seen pg = {{protobuf_c_message_descriptor_get_field_by_name(nd, "name"),
                     protobuf_c_message_descriptor_get_field_by_name(nd, "state"),
                     protobuf_c_message_descriptor_get_field_by_name(nd, "priority")},
                    0, check_filter, NULL};
    int rc = walk(&tallinn__v1__list_needs_response__descriptor, data, len, 0, 1, page_field,
                  &pg);

    if (rc == BAD_NEED)
        return pg.bad;
    if (rc != 0)
        return "response does not decode as a ListNeedsResponse";
    if (pg.needs > page_size)
        return "more needs than page_size";
    if (pg.needs < want_min)
        return "fewer needs than the seeded HIGH ones";
    return NULL;
}
