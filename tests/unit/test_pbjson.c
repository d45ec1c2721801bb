/* test_pbjson.c — the proto3 JSON converter: every message type of
 * proto/tallinn/v1, filled generically from its descriptor, survives
 * message -> JSON text -> message byte for byte; known answers for money,
 * timestamps, field masks and bytes; and malformed input is refused. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "pbjson_all_headers.h"
#include "tallinn/pbjson.h"

/* Every tallinn.v1 message descriptor, from the generated headers. */
#define PBJSON_MESSAGE(d) &d,
static const ProtobufCMessageDescriptor *const all_messages[] = {
#include "pbjson_all_messages.h"
};
#undef PBJSON_MESSAGE
#define N_MESSAGES (sizeof all_messages / sizeof all_messages[0])

#define MAX_DEPTH 4

/* ---- A populated instance of any message, built from its descriptor ---- */

static void fill(ProtobufCMessage *m, int depth, unsigned seed);

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: return 4;
    }
}

/* Writes a non-default value of f's type to p; seed varies it. */
static void fill_value(const ProtobufCFieldDescriptor *f, void *p, int depth, unsigned seed)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)p = seed % 2 ? -(int32_t)(seed * 1000 + 7) : INT32_MAX - (int32_t)seed;
        break;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)p = UINT32_MAX - seed;
        break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        /* beyond 2^53: must survive as a string, not a double */
        *(int64_t *)p = seed % 2 ? INT64_MIN + seed : INT64_MAX - seed;
        break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)p = UINT64_MAX - seed;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)p = 1.5f + (float)seed;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)p = 0.1 + seed;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)p = 1;
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        *(int *)p = ed->values[ed->n_values - 1 - seed % (ed->n_values - 1)].value;
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char buf[128];
        snprintf(buf, sizeof buf, "%s %u: \"Kharkiv\" – Харків ✓\n\ttab\\", f->name, seed);
        *(char **)p = strdup(buf);
        assert_non_null(*(char **)p);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = p;
        b->len = 32 + seed;
        b->data = malloc(b->len);
        assert_non_null(b->data);
        for (size_t i = 0; i < b->len; i++)
            b->data[i] = (uint8_t)(i * 37 + seed + 0xf0);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *d = f->descriptor;
        ProtobufCMessage *m = malloc(d->sizeof_message);
        assert_non_null(m);
        protobuf_c_message_init(d, m);
        fill(m, depth + 1, seed);
        *(ProtobufCMessage **)p = m;
        break;
    }
    }
}

static void fill(ProtobufCMessage *m, int depth, unsigned seed)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    if (strcmp(d->name, "google.protobuf.Timestamp") == 0) {
        Google__Protobuf__Timestamp *t = (Google__Protobuf__Timestamp *)m;
        static const int32_t nanos[] = {0, 120000000, 123456000, 123456789};
        t->seconds = 1700000000 + (int64_t)seed * 86400 * 400;
        t->nanos = nanos[seed % 4];
        return;
    }
    if (strcmp(d->name, "google.protobuf.FieldMask") == 0) {
        Google__Protobuf__FieldMask *fm = (Google__Protobuf__FieldMask *)m;
        fm->n_paths = 2;
        fm->paths = calloc(2, sizeof *fm->paths);
        assert_non_null(fm->paths);
        fm->paths[0] = strdup("display_name");
        fm->paths[1] = strdup("estimated_cost.units");
        return;
    }
    if (depth > MAX_DEPTH)
        return;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *slot = (char *)m + f->offset;

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = 3, es = elem_size(f->type);
            char *arr = calloc(n, es);

            assert_non_null(arr);
            for (size_t k = 0; k < n; k++)
                fill_value(f, arr + k * es, depth, seed + (unsigned)k + i);
            *(char **)slot = arr;
            *(size_t *)((char *)m + f->quantifier_offset) = n;
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            /* Members of a oneof share one slot: fill the first, set the case. */
            uint32_t *which = (uint32_t *)((char *)m + f->quantifier_offset);
            if (*which != 0)
                continue;
            fill_value(f, slot, depth, seed + i);
            *which = f->id;
        } else {
            fill_value(f, slot, depth, seed + i);
            if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                f->type != PROTOBUF_C_TYPE_MESSAGE)
                *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
        }
    }
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    uint8_t *buf;

    *len = protobuf_c_message_get_packed_size(m);
    buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

/* m -> JSON text -> message; the two encodings must be identical, and the
 * second JSON text identical to the first. */
static void round_trip(const ProtobufCMessage *m, unsigned flags)
{
    char err[PBJSON_ERROR_MAX] = "";
    char *text, *text2;
    ProtobufCMessage *back = NULL;
    uint8_t *a, *b;
    size_t alen, blen;

    text = pbjson_dumps(m, flags, 0, err, sizeof err);
    if (text == NULL)
        fail_msg("%s: to JSON: %s", m->descriptor->name, err);
    if (pbjson_loads(text, strlen(text), m->descriptor, &back, err, sizeof err) != 0)
        fail_msg("%s: from JSON: %s\n%s", m->descriptor->name, err, text);
    a = pack(m, &alen);
    b = pack(back, &blen);
    if (alen != blen || memcmp(a, b, alen) != 0)
        fail_msg("%s: round trip differs:\n%s", m->descriptor->name, text);
    text2 = pbjson_dumps(back, flags, 0, err, sizeof err);
    assert_non_null(text2);
    assert_string_equal(text, text2);
    free(a);
    free(b);
    free(text);
    free(text2);
    protobuf_c_message_free_unpacked(back, NULL);
}

/* Counts `message X {` lines in the .proto files: every message, nested or
 * not, must be in all_messages. */
static size_t count_proto_messages(void)
{
    DIR *dir = opendir(TALLINN_PROTO_DIR);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(dir);
    while ((e = readdir(dir)) != NULL) {
        char path[512], line[512];
        size_t len = strlen(e->d_name);
        FILE *f;

        if (len < 6 || strcmp(e->d_name + len - 6, ".proto") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", TALLINN_PROTO_DIR, e->d_name);
        assert_non_null(f = fopen(path, "r"));
        while (fgets(line, sizeof line, f) != NULL) {
            const char *p = line + strspn(line, " ");
            if (strncmp(p, "message ", 8) == 0)
                n++;
        }
        fclose(f);
    }
    closedir(dir);
    return n;
}

static void test_every_message_round_trips(void **state)
{
    (void)state;
    assert_int_equal(N_MESSAGES, count_proto_messages());
    for (size_t i = 0; i < N_MESSAGES; i++) {
        const ProtobufCMessageDescriptor *d = all_messages[i];

        for (unsigned seed = 0; seed < 4; seed++) {
            ProtobufCMessage *m = malloc(d->sizeof_message);
            assert_non_null(m);
            protobuf_c_message_init(d, m);
            fill(m, 0, seed);
            round_trip(m, 0);
            round_trip(m, PBJSON_PROTO_NAMES);
            round_trip(m, PBJSON_EMIT_DEFAULTS);
            protobuf_c_message_free_unpacked(m, NULL);
        }
        /* the empty instance, with and without defaults written out */
        {
            ProtobufCMessage *m = malloc(d->sizeof_message);
            assert_non_null(m);
            protobuf_c_message_init(d, m);
            round_trip(m, 0);
            round_trip(m, PBJSON_EMIT_DEFAULTS);
            protobuf_c_message_free_unpacked(m, NULL);
        }
    }
}

static const ProtobufCMessageDescriptor *find(const char *full_name)
{
    for (size_t i = 0; i < N_MESSAGES; i++)
        if (strcmp(all_messages[i]->name, full_name) == 0)
            return all_messages[i];
    fail_msg("no message %s", full_name);
    return NULL;
}

static ProtobufCMessage *load_ok(const char *type, const char *json)
{
    char err[PBJSON_ERROR_MAX] = "";
    ProtobufCMessage *m = NULL;

    if (pbjson_loads(json, strlen(json), find(type), &m, err, sizeof err) != 0)
        fail_msg("%s refused: %s", json, err);
    return m;
}

static void expect_dump(const ProtobufCMessage *m, const char *want)
{
    char err[PBJSON_ERROR_MAX] = "";
    char *got = pbjson_dumps(m, 0, 0, err, sizeof err);

    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_known_answers(void **state)
{
    ProtobufCMessage *m;

    (void)state;
    /* money: int64 units as a string, both field spellings accepted */
    m = load_ok("tallinn.v1.Pledge",
                "{\"name\":\"donors/ee/pledges/fy2025\",\"amount\":{\"currency_code\":\"EUR\","
                "\"units\":500000,\"nanos\":250000000},\"fiscalYear\":2025,"
                "\"state\":\"STATE_COMMITTED\",\"createTime\":\"2025-01-02T03:04:05.120+02:00\"}");
    expect_dump(m, "{\"name\":\"donors/ee/pledges/fy2025\",\"amount\":{\"currencyCode\":\"EUR\","
                   "\"units\":\"500000\",\"nanos\":250000000},\"fiscalYear\":2025,"
                   "\"state\":\"STATE_COMMITTED\",\"createTime\":\"2025-01-02T01:04:05.120Z\"}");
    protobuf_c_message_free_unpacked(m, NULL);
    /* repeated enums, enum by number, null = default */
    m = load_ok("tallinn.v1.Donor", "{\"capabilities\":[\"CATEGORY_TRAINING\",1],\"kind\":null,"
                                    "\"createTime\":\"1970-01-01T00:00:00Z\"}");
    expect_dump(m, "{\"capabilities\":[\"CATEGORY_TRAINING\",\"CATEGORY_INCIDENT_RESPONSE\"],"
                   "\"createTime\":\"1970-01-01T00:00:00Z\"}");
    protobuf_c_message_free_unpacked(m, NULL);
    /* field masks: camelCase on the wire, snake_case inside */
    m = load_ok("tallinn.v1.UpdateNeedRequest",
                "{\"need\":{\"name\":\"needs/a\"},\"updateMask\":\"title,estimatedCost\"}");
    {
        const Google__Protobuf__FieldMask *fm = ((Tallinn__V1__UpdateNeedRequest *)m)->update_mask;
        assert_non_null(fm);
        assert_int_equal(fm->n_paths, 2);
        assert_string_equal(fm->paths[1], "estimated_cost");
    }
    expect_dump(m, "{\"need\":{\"name\":\"needs/a\"},\"updateMask\":\"title,estimatedCost\"}");
    protobuf_c_message_free_unpacked(m, NULL);
    /* bytes: standard base64 out; URL-safe and unpadded in */
    m = load_ok("tallinn.v1.StreamAuditRecordsResponse", "{\"leaf\":\"-_8\",\"index\":\"7\"}");
    expect_dump(m, "{\"index\":\"7\",\"leaf\":\"+/8=\"}");
    protobuf_c_message_free_unpacked(m, NULL);
    /* timestamps at both ends of the range */
    m = load_ok("tallinn.v1.AuditRecord", "{\"time\":\"0001-01-01T00:00:00Z\"}");
    expect_dump(m, "{\"time\":\"0001-01-01T00:00:00Z\"}");
    protobuf_c_message_free_unpacked(m, NULL);
    m = load_ok("tallinn.v1.AuditRecord", "{\"time\":\"9999-12-31T23:59:59.999999999Z\"}");
    expect_dump(m, "{\"time\":\"9999-12-31T23:59:59.999999999Z\"}");
    protobuf_c_message_free_unpacked(m, NULL);
}

static void expect_refused(const char *type, const char *json, const char *want_in_err)
{
    char err[PBJSON_ERROR_MAX] = "";
    ProtobufCMessage *m = NULL;

    if (pbjson_loads(json, strlen(json), find(type), &m, err, sizeof err) == 0)
        fail_msg("accepted: %s", json);
    assert_null(m);
    if (strstr(err, want_in_err) == NULL)
        fail_msg("%s: error \"%s\" lacks \"%s\"", json, err, want_in_err);
    assert_null(strchr(err, '\n'));
}

static void test_rejections(void **state)
{
    (void)state;
    expect_refused("tallinn.v1.Need", "{\"title\": \"x\",", "malformed JSON");
    expect_refused("tallinn.v1.Need", "[1]", "wants an object");
    expect_refused("tallinn.v1.Need", "{\"title\":\"x\",\"colour\":\"red\"}",
                   "unknown field \"colour\"");
    expect_refused("tallinn.v1.Need", "{\"title\":5}", "title: wants a string");
    expect_refused("tallinn.v1.Need", "{\"sector\":\"SECTOR_NOPE\"}", "sector: \"SECTOR_NOPE\"");
    expect_refused("tallinn.v1.Need", "{\"sector\":true}", "sector: wants a name");
    expect_refused("tallinn.v1.Pledge", "{\"fiscalYear\":3000000000}", "out of range");
    expect_refused("tallinn.v1.Pledge", "{\"fiscalYear\":1.5}", "not an integer");
    expect_refused("tallinn.v1.Pledge", "{\"amount\":{\"units\":\"12x\"}}",
                   "amount.units: \"12x\" is not an integer");
    expect_refused("tallinn.v1.Pledge", "{\"amount\":{\"units\":\"99999999999999999999\"}}",
                   "out of range");
    expect_refused("tallinn.v1.Pledge", "{\"amount\":{\"nanos\":\"1e3\"}}", "not an integer");
    expect_refused("tallinn.v1.Pledge", "{\"amount\":\"EUR 5\"}", "amount: wants an object");
    expect_refused("tallinn.v1.Need", "{\"createTime\":\"2025-02-30T00:00:00Z\"}", "RFC 3339");
    expect_refused("tallinn.v1.Need", "{\"createTime\":\"2025-01-01 00:00:00\"}", "RFC 3339");
    expect_refused("tallinn.v1.Need", "{\"title\":\"a\",\"title\":\"b\"}", "malformed JSON");
    expect_refused("tallinn.v1.Need", "{\"state_reason\":\"a\",\"stateReason\":\"b\"}",
                   "given twice");
    expect_refused("tallinn.v1.Donor", "{\"capabilities\":\"CATEGORY_TRAINING\"}",
                   "wants an array");
    expect_refused("tallinn.v1.Donor", "{\"capabilities\":[null]}", "null in an array");
    expect_refused("tallinn.v1.Donor", "{\"capabilities\":[\"CATEGORY_TRAINING\",\"X\"]}",
                   "capabilities[1]");
    expect_refused("tallinn.v1.AuditRecord", "{\"requestSha256\":\"!!\"}", "not base64");
    expect_refused("tallinn.v1.UpdateNeedRequest", "{\"updateMask\":\"estimated_cost\"}",
                   "not lowerCamelCase");
    expect_refused("tallinn.v1.ApproveMatchRequest", "{\"allowOverfunding\":\"yes\"}",
                   "wants true or false");
    expect_refused("tallinn.v1.Need", "{\"title\":\"a\\u0000b\"}", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_message_round_trips),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_rejections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
