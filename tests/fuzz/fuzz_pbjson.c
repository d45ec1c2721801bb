/* fuzz_pbjson.c — the protobuf <-> JSON converter of tallinnctl
 * (lib/pbjson.c) over every tallinn.v1 message type. Byte 0 picks the
 * message type, byte 1 the mode and output flags; the rest is the payload.
 *   JSON mode: m1 = loads(text); then j1 = dumps(m1) must succeed, loads(j1)
 *     must give a message that packs to the same bytes as m1, and dump to
 *     the same JSON (the round trip is stable after one step).
 *   Binary mode: m0 = protobuf unpack; if dumps(m0) succeeds (it may refuse,
 *     e.g. a string that is not UTF-8), loads of it must succeed and pack to
 *     the bytes of m0 without its unknown fields (JSON drops those). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tallinn/pbjson.h"

/* Included twice: first for the headers, then for the table. */
#define FUZZ_MESSAGE(d)
#include "fuzz_all_messages.h"
#undef FUZZ_MESSAGE
#define FUZZ_MESSAGE(d) &d,
static const ProtobufCMessageDescriptor *const MESSAGES[] = {
#include "fuzz_all_messages.h"
};
#undef FUZZ_MESSAGE
#define NMESSAGES (sizeof MESSAGES / sizeof MESSAGES[0])

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_pbjson: check failed: %s\n", what);
        abort();
    }
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    check(buf != NULL, "malloc");
    check(protobuf_c_message_pack(m, buf) == *len, "pack size");
    return buf;
}

/* Sets every nested message's unknown-field count to 0, remembering the old
 * counts in saved[] (restore with unknown_restore) so the message is still
 * freed whole. */
typedef struct saved_unknown {
    ProtobufCMessage *m;
    unsigned n;
} saved_unknown;

typedef struct unknown_stack {
    saved_unknown *items;
    size_t len, cap;
} unknown_stack;

static void unknown_hide(ProtobufCMessage *m, unknown_stack *s)
{
    if (m == NULL)
        return;
    if (m->n_unknown_fields > 0) {
        if (s->len == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 16;
            s->items = realloc(s->items, s->cap * sizeof *s->items);
            check(s->items != NULL, "realloc");
        }
        s->items[s->len++] = (saved_unknown){m, m->n_unknown_fields};
        m->n_unknown_fields = 0;
    }
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)((char *)m + f->quantifier_offset);
            ProtobufCMessage **v = *(ProtobufCMessage ***)((char *)m + f->offset);
            for (size_t j = 0; j < n; j++)
                unknown_hide(v[j], s);
        } else {
            unknown_hide(*(ProtobufCMessage **)((char *)m + f->offset), s);
        }
    }
}

static void unknown_restore(unknown_stack *s)
{
    for (size_t i = 0; i < s->len; i++)
        s->items[i].m->n_unknown_fields = s->items[i].n;
    free(s->items);
}

static void json_mode(const ProtobufCMessageDescriptor *d, unsigned flags, const char *text,
                      size_t len)
{
    ProtobufCMessage *m1 = NULL, *m2 = NULL;
    char err[PBJSON_ERROR_MAX], *j1 = NULL, *j2 = NULL;
    uint8_t *b1, *b2;
    size_t l1, l2;

    if (pbjson_loads(text, len, d, &m1, err, sizeof err) != 0) {
        check(m1 == NULL && memchr(err, '\0', sizeof err) != NULL && err[0] != '\0',
              "a refused input has a message");
        return;
    }
    j1 = pbjson_dumps(m1, flags, (int)(flags & 1) * 2, err, sizeof err);
    if (j1 == NULL)
        fprintf(stderr, "%s: loads accepted %.*s but dumps fails: %s\n", d->name, (int)len, text,
                err);
    check(j1 != NULL, "what loads accepts, dumps writes");
    if (pbjson_loads(j1, strlen(j1), d, &m2, err, sizeof err) != 0)
        fprintf(stderr, "%s: dumps wrote %s which loads refuses: %s\n", d->name, j1, err);
    check(m2 != NULL, "what dumps writes, loads reads");
    b1 = pack(m1, &l1);
    b2 = pack(m2, &l2);
    if (l1 != l2 || memcmp(b1, b2, l1) != 0)
        fprintf(stderr, "%s: %.*s -> %s changes the message\n", d->name, (int)len, text, j1);
    check(l1 == l2 && memcmp(b1, b2, l1) == 0, "JSON round trip keeps the message");
    j2 = pbjson_dumps(m2, flags, (int)(flags & 1) * 2, err, sizeof err);
    check(j2 != NULL && strcmp(j1, j2) == 0, "JSON round trip is stable");
    free(b1);
    free(b2);
    free(j1);
    free(j2);
    protobuf_c_message_free_unpacked(m1, NULL);
    protobuf_c_message_free_unpacked(m2, NULL);
}

static void binary_mode(const ProtobufCMessageDescriptor *d, unsigned flags, const uint8_t *data,
                        size_t len)
{
    ProtobufCMessage *m0 = protobuf_c_message_unpack(d, NULL, len, data), *m1 = NULL;
    char err[PBJSON_ERROR_MAX], *j0;
    unknown_stack saved = {0};
    uint8_t *b0, *b1;
    size_t l0, l1;

    if (m0 == NULL)
        return;
    j0 = pbjson_dumps(m0, flags, 0, err, sizeof err);
    if (j0 == NULL) {
        check(err[0] != '\0', "a refused message has a message");
        protobuf_c_message_free_unpacked(m0, NULL);
        return;
    }
    if (pbjson_loads(j0, strlen(j0), d, &m1, err, sizeof err) != 0)
        fprintf(stderr, "%s: dumps wrote %s which loads refuses: %s\n", d->name, j0, err);
    check(m1 != NULL, "what dumps writes, loads reads");
    unknown_hide(m0, &saved);
    b0 = pack(m0, &l0);
    unknown_restore(&saved);
    b1 = pack(m1, &l1);
    if (l0 != l1 || memcmp(b0, b1, l0) != 0)
        fprintf(stderr, "%s: message -> %s -> another message\n", d->name, j0);
    check(l0 == l1 && memcmp(b0, b1, l0) == 0, "binary -> JSON -> binary keeps the message");
    free(b0);
    free(b1);
    free(j0);
    protobuf_c_message_free_unpacked(m0, NULL);
    protobuf_c_message_free_unpacked(m1, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ProtobufCMessageDescriptor *d;
    unsigned flags;
    uint8_t *copy;

    if (size < 2)
        return 0;
    d = MESSAGES[data[0] % NMESSAGES];
    flags = (data[1] >> 1) & (PBJSON_EMIT_DEFAULTS | PBJSON_PROTO_NAMES);
    copy = malloc(size - 2 ? size - 2 : 1); /* exact size: ASan sees over-reads */
    check(copy != NULL, "malloc");
    memcpy(copy, data + 2, size - 2);
    if (data[1] & 1)
        binary_mode(d, flags, copy, size - 2);
    else
        json_mode(d, flags, (const char *)copy, size - 2);
    free(copy);
    return 0;
}
