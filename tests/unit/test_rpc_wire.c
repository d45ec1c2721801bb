/* Unit tests for rpc_wire.c: the text check of request wire bytes. Real
 * tallinn.v1 descriptors (nested Need, Money, repeated FieldMask paths),
 * messages packed by protobuf-c and then edited byte by byte; unknown and
 * bytes fields; malformed input; a hand-made self-nesting descriptor for
 * the depth limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tallinn/rpc_wire.h"
#include "tallinn/v1/audit.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

#define MAX_REPORTS 16

typedef struct reports {
    int n;
    char path[MAX_REPORTS][RPC_WIRE_PATH_MAX];
    int problem[MAX_REPORTS];
    size_t offset[MAX_REPORTS];
} reports;

static void on_report(void *ctx, const char *path, int problem, size_t offset)
{
    reports *r = ctx;

    if (r->n < MAX_REPORTS) {
        strcpy(r->path[r->n], path);
        r->problem[r->n] = problem;
        r->offset[r->n] = offset;
    }
    r->n++;
}

/* Packs an UpdateNeedRequest with the given title, currency and mask paths.
 * Placeholders are ASCII and unique, so a test can overwrite them in place. */
static uint8_t *pack_update(const char *title, const char *currency, char **paths, size_t npaths,
                            size_t *len)
{
    Tallinn__V1__UpdateNeedRequest req = TALLINN__V1__UPDATE_NEED_REQUEST__INIT;
    Tallinn__V1__Need need = TALLINN__V1__NEED__INIT;
    Tallinn__V1__Money cost = TALLINN__V1__MONEY__INIT;
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    uint8_t *buf;

    need.name = "needs/a";
    need.title = (char *)title;
    need.sector = TALLINN__V1__SECTOR__SECTOR_ENERGY;
    cost.currency_code = (char *)currency;
    cost.units = 5;
    need.estimated_cost = &cost;
    mask.paths = paths;
    mask.n_paths = npaths;
    req.need = &need;
    req.update_mask = &mask;
    *len = tallinn__v1__update_need_request__get_packed_size(&req);
    buf = malloc(*len);
    assert_non_null(buf);
    tallinn__v1__update_need_request__pack(&req, buf);
    return buf;
}

/* Overwrites the first occurrence of a placeholder with bytes of the same
 * length. */
static void patch(uint8_t *buf, size_t len, const char *placeholder, const char *bytes)
{
    size_t n = strlen(placeholder);

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, placeholder, n) == 0) {
            memcpy(buf + i, bytes, n);
            return;
        }
    fail_msg("placeholder %s not found", placeholder);
}

static int check(const uint8_t *buf, size_t len, reports *r)
{
    memset(r, 0, sizeof(*r));
    return rpc_wire_check_text(&tallinn__v1__update_need_request__descriptor, buf, len, on_report,
                               r);
}

static void test_clean_message(void **state)
{
    char *paths[] = {"title", "description"};
    size_t len;
    uint8_t *buf = pack_update("EDR licences \xd0\x96 \xe2\x98\x83", "EUR", paths, 2, &len);
    reports r;

    (void)state;
    assert_int_equal(check(buf, len, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(rpc_wire_check_text(&tallinn__v1__update_need_request__descriptor,
                                         (const uint8_t *)"", 0, NULL, NULL), 0);
    free(buf);
}

static void test_nul_in_nested_string(void **state)
{
    size_t len;
    uint8_t *buf = pack_update("abcXdef", "EUR", NULL, 0, &len);
    reports r;

    (void)state;
    patch(buf, len, "abcXdef", "abc\0def");
    assert_int_equal(check(buf, len, &r), 1);
    assert_string_equal(r.path[0], "need.title");
    assert_int_equal(r.problem[0], RPC_WIRE_BAD_NUL);
    assert_int_equal(r.offset[0], 3);
    free(buf);
}

static void test_bad_utf8_two_levels_down(void **state)
{
    size_t len;
    uint8_t *buf = pack_update("t", "EUQ", NULL, 0, &len);
    reports r;

    (void)state;
    patch(buf, len, "EUQ", "E\xc3(");            /* a lead byte without its continuation */
    assert_int_equal(check(buf, len, &r), 1);
    assert_string_equal(r.path[0], "need.estimated_cost.currency_code");
    assert_int_equal(r.problem[0], RPC_WIRE_BAD_UTF8);
    assert_int_equal(r.offset[0], 1);
    patch(buf, len, "E\xc3(", "\xed\xa0\x80");   /* a UTF-16 surrogate: not UTF-8 */
    assert_int_equal(check(buf, len, &r), 1);
    assert_int_equal(r.problem[0], RPC_WIRE_BAD_UTF8);
    free(buf);
}

static void test_repeated_index_and_count(void **state)
{
    char *paths[] = {"title", "regionA", "sectorB", "priority"};
    size_t len;
    uint8_t *buf = pack_update("abcXdef", "EUR", paths, 4, &len);
    reports r;

    (void)state;
    patch(buf, len, "regionA", "region\0");
    patch(buf, len, "sectorB", "sector\xff");
    patch(buf, len, "abcXdef", "abc\xc0\x80" "ef"); /* an overlong NUL */
    assert_int_equal(check(buf, len, &r), 3);
    assert_string_equal(r.path[0], "need.title");
    assert_int_equal(r.problem[0], RPC_WIRE_BAD_UTF8);
    assert_string_equal(r.path[1], "update_mask.paths[1]");
    assert_int_equal(r.problem[1], RPC_WIRE_BAD_NUL);
    assert_int_equal(r.offset[1], 6);
    assert_string_equal(r.path[2], "update_mask.paths[2]");
    assert_int_equal(r.problem[2], RPC_WIRE_BAD_UTF8);
    /* without a callback it still counts */
    assert_int_equal(rpc_wire_check_text(&tallinn__v1__update_need_request__descriptor, buf, len,
                                         NULL, NULL), 3);
    free(buf);
}

/* The same field twice (protobuf keeps the last): both are checked, so a
 * bad first copy is not hidden by a good second one. */
static void test_repeated_singular_field(void **state)
{
    static const uint8_t twice[] = {0x0a, 3, 'a', 0, 'b', 0x0a, 2, 'o', 'k'}; /* name twice */
    reports r;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(rpc_wire_check_text(&tallinn__v1__get_need_request__descriptor, twice,
                                         sizeof(twice), on_report, &r), 1);
    assert_string_equal(r.path[0], "name");
}

static void test_unknown_and_bytes_fields_are_not_text(void **state)
{
    /* field 999 (unknown), length-delimited, holding NUL and 0xff */
    static const uint8_t unknown[] = {0xba, 0x3e, 3, 0, 0xff, 'x', 0x0a, 2, 'o', 'k'};
    /* InclusionProof response-like: a bytes field is raw, any byte goes.
     * GetCheckpointResponse.signed_note is bytes = 1. */
    static const uint8_t raw[] = {0x0a, 3, 0, 0xff, 0xfe};

    (void)state;
    assert_int_equal(rpc_wire_check_text(&tallinn__v1__get_need_request__descriptor, unknown,
                                         sizeof(unknown), NULL, NULL), 0);
    assert_int_equal(rpc_wire_check_text(&tallinn__v1__get_checkpoint_response__descriptor, raw,
                                         sizeof(raw), NULL, NULL), 0);
}

static void test_malformed(void **state)
{
    static const uint8_t truncated_len[] = {0x0a, 5, 'a', 'b'};
    static const uint8_t truncated_tag[] = {0x80};
    static const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t group[] = {0x0b, 0x0c};
    static const uint8_t field_zero[] = {0x02, 0x00};
    static const uint8_t fixed64_short[] = {0x09, 1, 2, 3};
    const ProtobufCMessageDescriptor *d = &tallinn__v1__get_need_request__descriptor;

    (void)state;
    assert_int_equal(rpc_wire_check_text(d, truncated_len, sizeof(truncated_len), NULL, NULL), -1);
    assert_int_equal(rpc_wire_check_text(d, truncated_tag, sizeof(truncated_tag), NULL, NULL), -1);
    assert_int_equal(rpc_wire_check_text(d, long_varint, sizeof(long_varint), NULL, NULL), -1);
    assert_int_equal(rpc_wire_check_text(d, group, sizeof(group), NULL, NULL), -1);
    assert_int_equal(rpc_wire_check_text(d, field_zero, sizeof(field_zero), NULL, NULL), -1);
    assert_int_equal(rpc_wire_check_text(d, fixed64_short, sizeof(fixed64_short), NULL, NULL), -1);
    assert_int_equal(rpc_wire_check_text(NULL, truncated_tag, 1, NULL, NULL), -1);
    assert_int_equal(rpc_wire_check_text(d, NULL, 3, NULL, NULL), -1);
}

/* A message type that contains itself (field 1) and a string (field 2). */
static const ProtobufCMessageDescriptor nest_descriptor;
static const ProtobufCFieldDescriptor nest_fields[2] = {
    {"child_with_a_long_name", 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_MESSAGE, 0, 0,
     &nest_descriptor, NULL, 0, 0, NULL, NULL},
    {"text", 2, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING, 0, 0, NULL, NULL, 0, 0, NULL, NULL},
};
static const unsigned nest_by_name[2] = {0, 1};
static const ProtobufCIntRange nest_ranges[2] = {{1, 0}, {0, 2}};
static const ProtobufCMessageDescriptor nest_descriptor = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "test.Nest", "Nest", "Test__Nest", "test", 0, 2,
    nest_fields, nest_by_name, 1, nest_ranges, NULL, NULL, NULL, NULL};

/* depth levels of child, then a text field holding NUL. */
static uint8_t *nested(unsigned depth, size_t *len)
{
    size_t cap = 16 + depth * 8, n = 4;
    uint8_t *buf = malloc(cap), *tmp = malloc(cap);

    assert_non_null(buf);
    assert_non_null(tmp);
    memcpy(buf, "\x12\x02\x00x", 4); /* text = "\0x" */
    for (unsigned i = 0; i < depth; i++) {
        size_t k = 0;
        tmp[k++] = 0x0a;
        for (size_t v = n; ; v >>= 7) { /* varint length */
            tmp[k++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
            if (v < 0x80)
                break;
        }
        memcpy(tmp + k, buf, n);
        n += k;
        memcpy(buf, tmp, n);
    }
    free(tmp);
    *len = n;
    return buf;
}

static void test_depth_limit_and_path(void **state)
{
    size_t len;
    uint8_t *buf = nested(3, &len);
    reports r;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(rpc_wire_check_text(&nest_descriptor, buf, len, on_report, &r), 1);
    assert_string_equal(r.path[0],
                        "child_with_a_long_name.child_with_a_long_name.child_with_a_long_name.text");
    free(buf);
    buf = nested(RPC_WIRE_MAX_DEPTH, &len);
    assert_int_equal(rpc_wire_check_text(&nest_descriptor, buf, len, NULL, NULL), 1);
    free(buf);
    buf = nested(RPC_WIRE_MAX_DEPTH + 1, &len);
    assert_int_equal(rpc_wire_check_text(&nest_descriptor, buf, len, NULL, NULL), -1);
    free(buf);
}

/* A long path (32 levels of a 22-character name) is cut short, never
 * overrun. */
static void test_long_path_is_cut(void **state)
{
    size_t len;
    uint8_t *buf = nested(RPC_WIRE_MAX_DEPTH, &len);
    reports r;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(rpc_wire_check_text(&nest_descriptor, buf, len, on_report, &r), 1);
    assert_int_equal(strlen(r.path[0]), RPC_WIRE_PATH_MAX - 1);
    assert_memory_equal(r.path[0], "child_with_a_long_name.child_with_a_long_name.", 46);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_message),
        cmocka_unit_test(test_nul_in_nested_string),
        cmocka_unit_test(test_bad_utf8_two_levels_down),
        cmocka_unit_test(test_repeated_index_and_count),
        cmocka_unit_test(test_repeated_singular_field),
        cmocka_unit_test(test_unknown_and_bytes_fields_are_not_text),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth_limit_and_path),
        cmocka_unit_test(test_long_path_is_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
