/* test_reflection.c — the reflection index over small descriptor sets built
 * here (nested types, enum values in their parent's scope, extensions,
 * imports two deep) and over the embedded set tallinnd serves: lookups,
 * what one stream sends and when, and the sets it must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "rpc/reflection_index.h"
#include "tallinn/rpc.h"

/* Three files: a.proto defines package t's types and service, b.proto
 * imports a.proto and extends t.M, c.proto imports b.proto. */
typedef struct set_parts {
    Google__Protobuf__FileDescriptorProto a, b, c;
    Google__Protobuf__FileDescriptorProto *files[3];
    Google__Protobuf__DescriptorProto m, n, *m_nested[1], *msgs[1];
    Google__Protobuf__FieldDescriptorProto f, ext, *m_fields[1], *exts[1];
    Google__Protobuf__OneofDescriptorProto o, *oneofs[1];
    Google__Protobuf__EnumDescriptorProto e, top, *n_enums[1], *top_enums[1];
    Google__Protobuf__EnumValueDescriptorProto x, t0, *e_values[1], *top_values[1];
    Google__Protobuf__ServiceDescriptorProto s, *services[1];
    Google__Protobuf__MethodDescriptorProto do_, *methods[1];
    Google__Protobuf__DescriptorProto__ExtensionRange range, *ranges[1];
    char *b_deps[1], *c_deps[1];
    Google__Protobuf__FileDescriptorSet set;
} set_parts;

static void build_parts(set_parts *p)
{
    memset(p, 0, sizeof(*p));
    google__protobuf__file_descriptor_proto__init(&p->a);
    google__protobuf__file_descriptor_proto__init(&p->b);
    google__protobuf__file_descriptor_proto__init(&p->c);
    google__protobuf__descriptor_proto__init(&p->m);
    google__protobuf__descriptor_proto__init(&p->n);
    google__protobuf__field_descriptor_proto__init(&p->f);
    google__protobuf__field_descriptor_proto__init(&p->ext);
    google__protobuf__oneof_descriptor_proto__init(&p->o);
    google__protobuf__enum_descriptor_proto__init(&p->e);
    google__protobuf__enum_descriptor_proto__init(&p->top);
    google__protobuf__enum_value_descriptor_proto__init(&p->x);
    google__protobuf__enum_value_descriptor_proto__init(&p->t0);
    google__protobuf__service_descriptor_proto__init(&p->s);
    google__protobuf__method_descriptor_proto__init(&p->do_);
    google__protobuf__descriptor_proto__extension_range__init(&p->range);
    google__protobuf__file_descriptor_set__init(&p->set);

    /* message M { int32 f = 1; oneof o {...}; message N { enum E { X = 0; } }
     *             extensions 100 to 199; } enum Top { T0 = 0; }
     * service S { rpc Do(M) returns (M); } */
    p->x.name = "X";
    p->e_values[0] = &p->x;
    p->e.name = "E";
    p->e.n_value = 1;
    p->e.value = p->e_values;
    p->n.name = "N";
    p->n_enums[0] = &p->e;
    p->n.n_enum_type = 1;
    p->n.enum_type = p->n_enums;
    p->f.name = "f";
    p->f.has_number = 1;
    p->f.number = 1;
    p->m_fields[0] = &p->f;
    p->o.name = "o";
    p->oneofs[0] = &p->o;
    p->range.has_start = p->range.has_end = 1;
    p->range.start = 100;
    p->range.end = 200;
    p->ranges[0] = &p->range;
    p->m.name = "M";
    p->m.n_field = 1;
    p->m.field = p->m_fields;
    p->m.n_oneof_decl = 1;
    p->m.oneof_decl = p->oneofs;
    p->m_nested[0] = &p->n;
    p->m.n_nested_type = 1;
    p->m.nested_type = p->m_nested;
    p->m.n_extension_range = 1;
    p->m.extension_range = p->ranges;
    p->msgs[0] = &p->m;
    p->t0.name = "T0";
    p->top_values[0] = &p->t0;
    p->top.name = "Top";
    p->top.n_value = 1;
    p->top.value = p->top_values;
    p->top_enums[0] = &p->top;
    p->do_.name = "Do";
    p->do_.input_type = ".t.M";
    p->do_.output_type = ".t.M";
    p->methods[0] = &p->do_;
    p->s.name = "S";
    p->s.n_method = 1;
    p->s.method = p->methods;
    p->services[0] = &p->s;
    p->a.name = "t/a.proto";
    p->a.package = "t";
    p->a.n_message_type = 1;
    p->a.message_type = p->msgs;
    p->a.n_enum_type = 1;
    p->a.enum_type = p->top_enums;
    p->a.n_service = 1;
    p->a.service = p->services;

    /* extend M { int32 ext = 150; } */
    p->ext.name = "ext";
    p->ext.has_number = 1;
    p->ext.number = 150;
    p->ext.extendee = ".t.M";
    p->exts[0] = &p->ext;
    p->b_deps[0] = "t/a.proto";
    p->b.name = "t/b.proto";
    p->b.package = "t";
    p->b.n_dependency = 1;
    p->b.dependency = p->b_deps;
    p->b.n_extension = 1;
    p->b.extension = p->exts;

    p->c_deps[0] = "t/b.proto";
    p->c.name = "u/c.proto";
    p->c.package = "u";
    p->c.n_dependency = 1;
    p->c.dependency = p->c_deps;

    /* Dependents first: the index must not rely on the order. */
    p->files[0] = &p->c;
    p->files[1] = &p->b;
    p->files[2] = &p->a;
    p->set.n_file = 3;
    p->set.file = p->files;
}

static uint8_t *pack_set(const set_parts *p, size_t *len)
{
    uint8_t *buf;

    *len = protobuf_c_message_get_packed_size(&p->set.base);
    buf = malloc(*len);
    assert_non_null(buf);
    protobuf_c_message_pack(&p->set.base, buf);
    return buf;
}

static reflection_index *index_of(const set_parts *p)
{
    reflection_index *ix = NULL;
    char err[256] = "";
    size_t len;
    uint8_t *buf = pack_set(p, &len);

    assert_int_equal(reflection_index_create(&ix, buf, len, err, sizeof(err)), 0);
    free(buf);
    return ix;
}

/* reflection_index_create's error for the set, or "" when it accepts it. */
static void expect_refused(const set_parts *p, const char *want)
{
    reflection_index *ix = NULL;
    char err[256] = "";
    size_t len;
    uint8_t *buf = pack_set(p, &len);

    assert_int_equal(reflection_index_create(&ix, buf, len, err, sizeof(err)), -1);
    assert_null(ix);
    free(buf);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, want);
}

static const char *file_of(const reflection_index *ix, const char *symbol,
                           reflection_symbol_kind *kind)
{
    long f = reflection_index_find_symbol(ix, symbol, kind);
    return f < 0 ? NULL : reflection_index_file_name(ix, (size_t)f);
}

static void test_symbols(void **state)
{
    set_parts p;
    reflection_index *ix;
    reflection_symbol_kind kind;
    static const struct {
        const char *symbol, *file;
        reflection_symbol_kind kind;
    } cases[] = {
        {"t.M", "t/a.proto", REFLECTION_SYM_MESSAGE},
        {"t.M.f", "t/a.proto", REFLECTION_SYM_OTHER},
        {"t.M.o", "t/a.proto", REFLECTION_SYM_OTHER},
        {"t.M.N", "t/a.proto", REFLECTION_SYM_MESSAGE},
        {"t.M.N.E", "t/a.proto", REFLECTION_SYM_ENUM},
        {"t.M.N.X", "t/a.proto", REFLECTION_SYM_OTHER}, /* a value is the enum's sibling */
        {"t.Top", "t/a.proto", REFLECTION_SYM_ENUM},
        {"t.T0", "t/a.proto", REFLECTION_SYM_OTHER},
        {"t.S", "t/a.proto", REFLECTION_SYM_SERVICE},
        {"t.S.Do", "t/a.proto", REFLECTION_SYM_METHOD},
        {"t.ext", "t/b.proto", REFLECTION_SYM_OTHER},
    };
    static const char *const absent[] = {"t", "M", ".t.M", "t.M.N.E.X", "t.Top.T0", "t.S.Do.x",
                                         "t.M.", "", "u.M"};

    (void)state;
    build_parts(&p);
    ix = index_of(&p);
    assert_int_equal(reflection_index_file_count(ix), 3);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *f = file_of(ix, cases[i].symbol, &kind);
        if (f == NULL || strcmp(f, cases[i].file) != 0 || kind != cases[i].kind)
            fail_msg("%s: got %s kind %d, expected %s kind %d", cases[i].symbol,
                     f ? f : "nothing", (int)kind, cases[i].file, (int)cases[i].kind);
    }
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        if (reflection_index_find_symbol(ix, absent[i], NULL) >= 0)
            fail_msg("\"%s\" was found", absent[i]);
    assert_int_equal(reflection_index_find_file(ix, "u/c.proto"), 0);
    assert_int_equal(reflection_index_find_file(ix, "t/a.proto"), 2);
    assert_int_equal(reflection_index_find_file(ix, "t/nope.proto"), -1);
    reflection_index_destroy(ix);
}

static void test_extensions(void **state)
{
    set_parts p;
    reflection_index *ix;
    const int32_t *nums;

    (void)state;
    build_parts(&p);
    ix = index_of(&p);
    assert_int_equal(reflection_index_find_extension(ix, "t.M", 150), 1);
    assert_int_equal(reflection_index_find_extension(ix, "t.M", 151), -1);
    assert_int_equal(reflection_index_find_extension(ix, ".t.M", 150), -1);
    assert_int_equal(reflection_index_find_extension(ix, "t.M.N", 150), -1);
    assert_int_equal(reflection_index_extension_numbers(ix, "t.M", &nums), 1);
    assert_int_equal(nums[0], 150);
    assert_int_equal(reflection_index_extension_numbers(ix, "t.M.N", &nums), 0);
    assert_null(nums);
    reflection_index_destroy(ix);
}

/* Every file serializes back to what was indexed. */
static void test_file_data(void **state)
{
    set_parts p;
    reflection_index *ix;

    (void)state;
    build_parts(&p);
    ix = index_of(&p);
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        const uint8_t *data = reflection_index_file_data(ix, i, &len);
        Google__Protobuf__FileDescriptorProto *f =
            google__protobuf__file_descriptor_proto__unpack(NULL, len, data);
        assert_non_null(f);
        assert_string_equal(f->name, p.files[i]->name);
        assert_int_equal(f->n_dependency, p.files[i]->n_dependency);
        assert_int_equal(f->n_message_type, p.files[i]->n_message_type);
        google__protobuf__file_descriptor_proto__free_unpacked(f, NULL);
    }
    reflection_index_destroy(ix);
}

/* One stream: a file with its imports, each once; the requested file always. */
static void test_closure(void **state)
{
    set_parts p;
    reflection_index *ix;
    unsigned char sent[3] = {0};
    size_t out[3], n;

    (void)state;
    build_parts(&p);
    ix = index_of(&p);
    n = reflection_index_closure(ix, 0, sent, out); /* c -> b -> a */
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 2);
    n = reflection_index_closure(ix, 1, sent, out); /* b again: b alone */
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 1);
    memset(sent, 0, sizeof(sent)); /* a new stream */
    n = reflection_index_closure(ix, 2, sent, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 2);
    n = reflection_index_closure(ix, 0, sent, out); /* a went already */
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 1);
    reflection_index_destroy(ix);
}

static void test_refused(void **state)
{
    set_parts p;
    reflection_index *ix = NULL;
    char err[256] = "";
    static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};

    (void)state;
    assert_int_equal(reflection_index_create(&ix, garbage, sizeof(garbage), err, sizeof(err)), -1);
    assert_null(ix);
    assert_non_null(strstr(err, "FileDescriptorSet"));

    build_parts(&p);
    p.set.n_file = 2; /* c and b, without a */
    expect_refused(&p, "t/b.proto imports t/a.proto");

    build_parts(&p);
    p.c.name = "t/a.proto";
    expect_refused(&p, "t/a.proto is in the set twice");

    build_parts(&p);
    p.c.package = "t"; /* c defines t.Top as well */
    p.c.n_enum_type = 1;
    p.c.enum_type = p.top_enums;
    expect_refused(&p, "is defined twice (u/c.proto, t/a.proto)");

    build_parts(&p);
    p.n.name = NULL;
    expect_refused(&p, "has no name");

    build_parts(&p);
    p.b.extension[0]->has_number = 0;
    expect_refused(&p, "extension ext lacks");
}

/* What tallinnd embeds: closed under imports, every service it registers. */
static void test_embedded_set(void **state)
{
    reflection_index *ix = NULL;
    reflection_symbol_kind kind;
    char err[256] = "";
    static const char *const services[] = {
        "tallinn.v1.NeedService", "tallinn.v1.DonorService", "tallinn.v1.MatchService",
        "tallinn.v1.AuditService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection"};
    long need;
    unsigned char *sent;
    size_t *out, n, found = 0;

    (void)state;
    assert_int_equal(reflection_index_create(&ix, rpc_descriptor_set, rpc_descriptor_set_len, err,
                                             sizeof(err)),
                     0);
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        assert_non_null(file_of(ix, services[i], &kind));
        assert_int_equal(kind, REFLECTION_SYM_SERVICE);
    }
    assert_null(file_of(ix, "grpc.testing.TestService", NULL)); /* built, not served */
    need = reflection_index_find_file(ix, "tallinn/v1/need.proto");
    assert_true(need >= 0);
    sent = calloc(reflection_index_file_count(ix), 1);
    out = calloc(reflection_index_file_count(ix), sizeof(*out));
    assert_non_null(sent);
    assert_non_null(out);
    n = reflection_index_closure(ix, (size_t)need, sent, out);
    for (size_t i = 0; i < n; i++)
        if (strcmp(reflection_index_file_name(ix, out[i]), "google/protobuf/timestamp.proto") == 0)
            found++;
    assert_int_equal(found, 1);
    free(sent);
    free(out);
    reflection_index_destroy(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symbols),   cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_file_data), cmocka_unit_test(test_closure),
        cmocka_unit_test(test_refused),   cmocka_unit_test(test_embedded_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
