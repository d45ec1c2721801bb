/* test_audit_records.c — `tallinn-audit show` printing untrusted record text
 * (issue 10, item 2): the table escapes control characters, escape sequences
 * and invalid bytes so a caller's text cannot draw on an auditor's terminal;
 * -o json never drops a field that is not valid UTF-8. Records are built by
 * hand, as a forged or old log could hold them (the server writes clean ones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "../../client/audit_cmds.h"
#include "tallinn/textsafe.h"

/* ESC sequences (clear screen, colour, cursor up), CR, LF, DEL, a raw C1
 * byte, U+009B (CSI) and U+0085 (NEL) encoded, a bidi override, an invalid
 * byte: a caller's attempt to draw a fake line under its own. */
#define HOSTILE "needs/x\x1b[2J\x1b[31m\x1b[1A\rfake\n7   2099-01-01 00:00:00 principals/admin" \
                "\x7f\x9b\xc2\x9b\xc2\x85\xe2\x80\xae\xff"

static char *print(const Tallinn__V1__AuditRecord *r, int json, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    audit_printer p;

    assert_non_null(f);
    audit_printer_begin(&p, f, json);
    *rc = audit_printer_record(&p, r);
    audit_printer_end(&p);
    fclose(f);
    return buf;
}

static void record(Tallinn__V1__AuditRecord *r, Google__Protobuf__Timestamp *t, uint8_t *sha)
{
    tallinn__v1__audit_record__init(r);
    google__protobuf__timestamp__init(t);
    t->seconds = 1767225600;
    r->index = 7;
    r->time = t;
    r->principal = "principals/obs";
    r->role = 5;
    r->method = "/tallinn.v1.NeedService/SubmitNeed";
    r->resource = HOSTILE;
    r->request_id = "\xff\xfe";
    r->request_sha256.data = sha;
    r->request_sha256.len = 32;
    r->status_code = 7;
    r->etag = "";
    r->server_version = "0.1.0";
}

static void test_table_escapes(void **state)
{
    Tallinn__V1__AuditRecord r;
    Google__Protobuf__Timestamp t;
    uint8_t sha[32] = {0};
    int rc;
    char *out;
    size_t lines = 0;

    (void)state;
    record(&r, &t, sha);
    out = print(&r, 0, &rc);
    assert_int_equal(rc, 0);
    /* Only the two line ends of the header and the record; no control byte,
     * no C1 control, no bidi override, nothing that is not UTF-8. */
    for (const unsigned char *c = (const unsigned char *)out; *c; c++) {
        if (*c == '\n')
            lines++;
        else if (*c < 0x20 || *c == 0x7f)
            fail_msg("control byte 0x%02x in the table: %s", *c, out);
    }
    assert_int_equal(lines, 2);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        assert_true(textsafe_is_clean(line, strlen(line)));
    free(out);
    out = print(&r, 0, &rc);
    assert_non_null(strstr(out, "needs/x\\x1B[2J\\x1B[31m\\x1B[1A\\x0Dfake\\x0A7   2099-01-01 "
                                "00:00:00 principals/admin\\x7F\\x9B\\u{009B}\\u{0085}\\u{202E}"
                                "\\xFF"));
    free(out);
}

static void test_table_marks_replaced(void **state)
{
    Tallinn__V1__AuditRecord r;
    Google__Protobuf__Timestamp t;
    Tallinn__V1__ReplacedText rp = TALLINN__V1__REPLACED_TEXT__INIT, *list[1] = {&rp};
    uint8_t sha[32] = {0};
    int rc;
    char *out;

    (void)state;
    record(&r, &t, sha);
    r.resource = "needs/aaaa";
    rp.field = "resource";
    rp.size = 70006;
    r.replaced = list;
    r.n_replaced = 1;
    out = print(&r, 0, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "needs/aaaa\xe2\x80\xa6"));
    free(out);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("no string \"%s\" in the JSON record", key);
    return json_string_value(v);
}

static void test_json_keeps_invalid_utf8(void **state)
{
    Tallinn__V1__AuditRecord r;
    Google__Protobuf__Timestamp t;
    Tallinn__V1__ReplacedText rp = TALLINN__V1__REPLACED_TEXT__INIT, *list[1] = {&rp};
    uint8_t sha[32] = {0}, digest[32];
    char b64[64];
    json_error_t err;
    json_t *arr, *o, *e;
    unsigned char raw[64];
    size_t raw_len;
    int rc;
    char *out;

    (void)state;
    memset(digest, 0xab, sizeof(digest));
    record(&r, &t, sha);
    rp.field = "resource";
    rp.sha256.data = digest;
    rp.sha256.len = 32;
    rp.size = 70006;
    r.replaced = list;
    r.n_replaced = 1;
    out = print(&r, 1, &rc);
    assert_int_equal(rc, 0);
    arr = json_loads(out, 0, &err);
    if (!arr)
        fail_msg("show -o json is not JSON: %s\n%s", err.text, out);
    o = json_array_get(arr, 0);
    assert_non_null(o);
    /* Every field is there; the invalid bytes as U+FFFD, and exactly in
     * <field>Bytes. */
    assert_string_equal(jstr(o, "requestId"), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_int_equal(sodium_base642bin(raw, sizeof(raw), jstr(o, "requestIdBytes"),
                                       strlen(jstr(o, "requestIdBytes")), NULL, &raw_len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(raw_len, 2);
    assert_memory_equal(raw, "\xff\xfe", 2);
    assert_non_null(strstr(jstr(o, "resource"), "needs/x\x1b[2J"));
    assert_non_null(json_object_get(o, "resourceBytes"));
    assert_null(json_object_get(o, "principalBytes")); /* valid: no copy */
    assert_string_equal(jstr(o, "principal"), "principals/obs");
    assert_string_equal(jstr(o, "method"), "/tallinn.v1.NeedService/SubmitNeed");
    assert_string_equal(jstr(o, "etag"), "");
    assert_string_equal(jstr(o, "serverVersion"), "0.1.0");
    assert_string_equal(jstr(o, "index"), "7");
    /* The replaced list, in the proto3 JSON mapping. */
    e = json_array_get(json_object_get(o, "replaced"), 0);
    assert_non_null(e);
    assert_string_equal(jstr(e, "field"), "resource");
    assert_string_equal(jstr(e, "size"), "70006");
    sodium_bin2base64(b64, sizeof(b64), digest, 32, sodium_base64_VARIANT_ORIGINAL);
    assert_string_equal(jstr(e, "sha256"), b64);
    json_decref(arr);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_escapes),
        cmocka_unit_test(test_table_marks_replaced),
        cmocka_unit_test(test_json_keeps_invalid_utf8),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
