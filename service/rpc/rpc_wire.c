/* rpc_wire.c — the text check of a request's wire bytes (rpc_wire.h): every
 * string field, at any depth, valid UTF-8 and free of NUL. A small reader of
 * the protobuf wire format by hand, because protobuf-c offers no way to see
 * a string's bytes before it turns them into a C string; the descriptors
 * (protobuf-c's) say which field numbers are strings and which are nested
 * messages, and validate_utf8 (tallinn_api) decides what is UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tallinn/rpc_wire.h"
#include "tallinn/validate.h"

#define WIRE_VARINT 0
#define WIRE_FIXED64 1
#define WIRE_LEN 2
#define WIRE_FIXED32 5
#define FIELD_NUMBER_MAX 536870911u /* 2^29 - 1 */

/* Where the walk is: the field and, if repeated, the index at each level.
 * The path text is built only for a report, off the hot path. */
typedef struct wire_frame {
    const ProtobufCFieldDescriptor *f;
    size_t i;
} wire_frame;

typedef struct wire_walk {
    rpc_wire_report_fn report;
    void *ctx;
    wire_frame frame[RPC_WIRE_MAX_DEPTH + 1];
    char path[RPC_WIRE_PATH_MAX];
    int bad;
} wire_walk;

/* Reads a base-128 varint at *pos; -1 if truncated or longer than 10 bytes. */
static int read_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (*pos >= len)
            return -1;
        b = buf[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Writes "a.b[2].c" for frames 0..n-1 into w->path, cut short (never
 * overrun) if it would not fit. */
static const char *path_text(wire_walk *w, unsigned n)
{
    size_t used = 0;

    w->path[0] = '\0';
    for (unsigned k = 0; k < n && used < sizeof(w->path) - 1; k++) {
        const ProtobufCFieldDescriptor *f = w->frame[k].f;
        size_t room = sizeof(w->path) - used;
        int r = f->label == PROTOBUF_C_LABEL_REPEATED
                    ? snprintf(w->path + used, room, "%s%s[%zu]", k ? "." : "", f->name,
                               w->frame[k].i)
                    : snprintf(w->path + used, room, "%s%s", k ? "." : "", f->name);
        if (r < 0)
            break;
        used = (size_t)r < room ? used + (size_t)r : sizeof(w->path) - 1;
    }
    return w->path;
}

static void check_string(wire_walk *w, unsigned depth, const uint8_t *s, size_t n)
{
    const uint8_t *z = memchr(s, 0, n);
    size_t off = 0;
    int problem = 0;

    if (z != NULL) {
        problem = RPC_WIRE_BAD_NUL;
        off = (size_t)(z - s);
    } else if (validate_utf8((const char *)s, n, &off) != VALIDATE_OK) {
        problem = RPC_WIRE_BAD_UTF8;
    }
    if (problem == 0)
        return;
    w->bad++;
    if (w->report != NULL)
        w->report(w->ctx, path_text(w, depth + 1), problem, off);
}

static int walk_message(wire_walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                        size_t len, unsigned depth)
{
    size_t pos = 0, *seen = NULL; /* occurrences per field: the [i] of repeated ones */
    int rc = -1;

    if (depth > RPC_WIRE_MAX_DEPTH)
        return -1;
    if (d->n_fields > 0 && (seen = calloc(d->n_fields, sizeof(*seen))) == NULL)
        return -1;
    while (pos < len) {
        uint64_t key, n;
        const ProtobufCFieldDescriptor *f;
        size_t start;

        if (read_varint(buf, len, &pos, &key) != 0 || (key >> 3) == 0 ||
            (key >> 3) > FIELD_NUMBER_MAX)
            goto done;
        switch (key & 7) {
        case WIRE_VARINT:
            if (read_varint(buf, len, &pos, &n) != 0)
                goto done;
            continue;
        case WIRE_FIXED64:
            if (len - pos < 8)
                goto done;
            pos += 8;
            continue;
        case WIRE_FIXED32:
            if (len - pos < 4)
                goto done;
            pos += 4;
            continue;
        case WIRE_LEN:
            if (read_varint(buf, len, &pos, &n) != 0 || n > len - pos)
                goto done;
            break;
        default: /* groups (3, 4) are not proto3; 6 and 7 do not exist */
            goto done;
        }
        start = pos;
        pos += (size_t)n;
        f = protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
        if (f == NULL || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE))
            continue; /* unknown, bytes or packed numbers: not text */
        w->frame[depth].f = f;
        w->frame[depth].i = seen[f - d->fields]++;
        if (f->type == PROTOBUF_C_TYPE_STRING)
            check_string(w, depth, buf + start, (size_t)n);
        else if (walk_message(w, (const ProtobufCMessageDescriptor *)f->descriptor, buf + start,
                              (size_t)n, depth + 1) != 0)
            goto done;
    }
    rc = 0;
done:
    free(seen);
    return rc;
}

int rpc_wire_check_text(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                        rpc_wire_report_fn report, void *ctx)
{
    wire_walk w;

    if (d == NULL || (buf == NULL && len > 0))
        return -1;
    memset(&w, 0, sizeof(w));
    w.report = report;
    w.ctx = ctx;
    if (walk_message(&w, d, buf != NULL ? buf : (const uint8_t *)"", len, 0) != 0)
        return -1;
    return w.bad;
}
