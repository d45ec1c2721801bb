/* reflection_index.c — indexes a descriptor set for server reflection: files
 * by name, every symbol a file defines (the names a descriptor pool knows:
 * messages, enums and their values, services, methods, fields, oneofs,
 * extensions, at any nesting depth) and extensions by (type, number).
 * Decoding and re-encoding go through protobuf-c's descriptor.proto. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "rpc/reflection_index.h"

/* Deeper nesting than any real .proto; bounds the recursion on odd input. */
#define REFLECTION_MAX_DEPTH 64

typedef struct ix_file {
    const char *name; /* in the unpacked set */
    uint8_t *data;    /* serialized FileDescriptorProto */
    size_t len;
    size_t *deps;     /* direct dependencies, as file indices */
    size_t n_deps;
} ix_file;

typedef struct ix_symbol {
    char *name;
    size_t file;
    reflection_symbol_kind kind;
} ix_symbol;

typedef struct ix_extension {
    char *type; /* the extended message, without a leading dot */
    int32_t number;
    size_t file;
} ix_extension;

struct reflection_index {
    Google__Protobuf__FileDescriptorSet *set;
    ix_file *files;
    size_t n_files;
    ix_symbol *symbols; /* sorted by name */
    size_t n_symbols, cap_symbols;
    ix_extension *exts; /* sorted by (type, number) */
    int32_t *ext_numbers; /* exts[i].number, for extension_numbers() */
    size_t n_exts, cap_exts;
    char *err;
    size_t errlen;
};

static int fail(reflection_index *ix, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(reflection_index *ix, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (ix->err != NULL && ix->errlen > 0)
        vsnprintf(ix->err, ix->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* "scope.name" (or "name" at the root), freshly allocated. */
static char *qualify(const char *scope, const char *name)
{
    size_t a = strlen(scope), b = strlen(name);
    char *s = malloc(a + b + 2);

    if (s == NULL)
        return NULL;
    if (a > 0) {
        memcpy(s, scope, a);
        s[a++] = '.';
    }
    memcpy(s + a, name, b + 1);
    return s;
}

/* Takes ownership of name (freed on failure). */
static int add_symbol(reflection_index *ix, char *name, size_t file, reflection_symbol_kind kind)
{
    if (name == NULL)
        return fail(ix, "out of memory");
    if (ix->n_symbols == ix->cap_symbols) {
        size_t cap = ix->cap_symbols ? ix->cap_symbols * 2 : 256;
        ix_symbol *s = realloc(ix->symbols, cap * sizeof(*s));
        if (s == NULL) {
            free(name);
            return fail(ix, "out of memory");
        }
        ix->symbols = s;
        ix->cap_symbols = cap;
    }
    ix->symbols[ix->n_symbols++] = (ix_symbol){name, file, kind};
    return 0;
}

static int add_named(reflection_index *ix, const char *scope, const char *name, size_t file,
                     reflection_symbol_kind kind)
{
    if (name == NULL || name[0] == '\0')
        return fail(ix, "%s: a definition in %s has no name", ix->files[file].name,
                    scope[0] ? scope : "the file's root");
    return add_symbol(ix, qualify(scope, name), file, kind);
}

static int add_extension(reflection_index *ix, const char *scope,
                         const Google__Protobuf__FieldDescriptorProto *f, size_t file)
{
    const char *type = f->extendee;

    if (add_named(ix, scope, f->name, file, REFLECTION_SYM_OTHER) != 0)
        return -1;
    if (type == NULL || !f->has_number)
        return fail(ix, "%s: extension %s lacks its extendee or number", ix->files[file].name,
                    f->name);
    if (type[0] == '.')
        type++; /* protoc writes fully-qualified names with a leading dot */
    if (ix->n_exts == ix->cap_exts) {
        size_t cap = ix->cap_exts ? ix->cap_exts * 2 : 16;
        ix_extension *e = realloc(ix->exts, cap * sizeof(*e));
        if (e == NULL)
            return fail(ix, "out of memory");
        ix->exts = e;
        ix->cap_exts = cap;
    }
    if ((ix->exts[ix->n_exts].type = strdup(type)) == NULL)
        return fail(ix, "out of memory");
    ix->exts[ix->n_exts].number = f->number;
    ix->exts[ix->n_exts].file = file;
    ix->n_exts++;
    return 0;
}

/* An enum's values live in the scope that holds the enum, as in C++. */
static int add_enum(reflection_index *ix, const char *scope,
                    const Google__Protobuf__EnumDescriptorProto *e, size_t file)
{
    if (add_named(ix, scope, e->name, file, REFLECTION_SYM_ENUM) != 0)
        return -1;
    for (size_t i = 0; i < e->n_value; i++)
        if (add_named(ix, scope, e->value[i]->name, file, REFLECTION_SYM_OTHER) != 0)
            return -1;
    return 0;
}

static int add_message(reflection_index *ix, const char *scope,
                       const Google__Protobuf__DescriptorProto *m, size_t file, int depth)
{
    char *full;
    int rc = -1;

    if (depth > REFLECTION_MAX_DEPTH)
        return fail(ix, "%s: messages nested more than %d deep", ix->files[file].name,
                    REFLECTION_MAX_DEPTH);
    if (add_named(ix, scope, m->name, file, REFLECTION_SYM_MESSAGE) != 0)
        return -1;
    if ((full = qualify(scope, m->name)) == NULL)
        return fail(ix, "out of memory");
    for (size_t i = 0; i < m->n_field; i++)
        if (add_named(ix, full, m->field[i]->name, file, REFLECTION_SYM_OTHER) != 0)
            goto done;
    for (size_t i = 0; i < m->n_oneof_decl; i++)
        if (add_named(ix, full, m->oneof_decl[i]->name, file, REFLECTION_SYM_OTHER) != 0)
            goto done;
    for (size_t i = 0; i < m->n_extension; i++)
        if (add_extension(ix, full, m->extension[i], file) != 0)
            goto done;
    for (size_t i = 0; i < m->n_enum_type; i++)
        if (add_enum(ix, full, m->enum_type[i], file) != 0)
            goto done;
    for (size_t i = 0; i < m->n_nested_type; i++)
        if (add_message(ix, full, m->nested_type[i], file, depth + 1) != 0)
            goto done;
    rc = 0;
done:
    free(full);
    return rc;
}

static int add_file_symbols(reflection_index *ix, size_t file)
{
    const Google__Protobuf__FileDescriptorProto *f = ix->set->file[file];
    const char *pkg = f->package != NULL ? f->package : "";

    for (size_t i = 0; i < f->n_message_type; i++)
        if (add_message(ix, pkg, f->message_type[i], file, 0) != 0)
            return -1;
    for (size_t i = 0; i < f->n_enum_type; i++)
        if (add_enum(ix, pkg, f->enum_type[i], file) != 0)
            return -1;
    for (size_t i = 0; i < f->n_extension; i++)
        if (add_extension(ix, pkg, f->extension[i], file) != 0)
            return -1;
    for (size_t i = 0; i < f->n_service; i++) {
        const Google__Protobuf__ServiceDescriptorProto *s = f->service[i];
        char *full;
        int rc = 0;

        if (add_named(ix, pkg, s->name, file, REFLECTION_SYM_SERVICE) != 0)
            return -1;
        if ((full = qualify(pkg, s->name)) == NULL)
            return fail(ix, "out of memory");
        for (size_t k = 0; k < s->n_method && rc == 0; k++)
            rc = add_named(ix, full, s->method[k]->name, file, REFLECTION_SYM_METHOD);
        free(full);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int cmp_symbol(const void *a, const void *b)
{
    return strcmp(((const ix_symbol *)a)->name, ((const ix_symbol *)b)->name);
}

static int cmp_extension(const void *a, const void *b)
{
    const ix_extension *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    return c != 0 ? c : (x->number > y->number) - (x->number < y->number);
}

/* Serializes each file and resolves its dependencies to indices. */
static int index_files(reflection_index *ix)
{
    ix->n_files = ix->set->n_file;
    ix->files = calloc(ix->n_files ? ix->n_files : 1, sizeof(*ix->files));
    if (ix->files == NULL)
        return fail(ix, "out of memory");
    for (size_t i = 0; i < ix->n_files; i++) {
        const Google__Protobuf__FileDescriptorProto *f = ix->set->file[i];
        ix_file *x = &ix->files[i];

        if (f->name == NULL || f->name[0] == '\0')
            return fail(ix, "file %zu of the set has no name", i);
        x->name = f->name;
        for (size_t k = 0; k < i; k++)
            if (strcmp(ix->files[k].name, x->name) == 0)
                return fail(ix, "file %s is in the set twice", x->name);
        x->len = protobuf_c_message_get_packed_size(&f->base);
        if ((x->data = malloc(x->len ? x->len : 1)) == NULL)
            return fail(ix, "out of memory");
        protobuf_c_message_pack(&f->base, x->data);
    }
    for (size_t i = 0; i < ix->n_files; i++) {
        const Google__Protobuf__FileDescriptorProto *f = ix->set->file[i];
        ix_file *x = &ix->files[i];

        if ((x->deps = calloc(f->n_dependency ? f->n_dependency : 1, sizeof(*x->deps))) == NULL)
            return fail(ix, "out of memory");
        for (size_t k = 0; k < f->n_dependency; k++) {
            long d = reflection_index_find_file(ix, f->dependency[k]);
            if (d < 0)
                return fail(ix, "%s imports %s, which the set lacks (build it with "
                                "protoc --include_imports)",
                            x->name, f->dependency[k]);
            x->deps[x->n_deps++] = (size_t)d;
        }
    }
    return 0;
}

int reflection_index_create(reflection_index **out, const uint8_t *set, size_t len, char *err,
                            size_t errlen)
{
    reflection_index *ix = calloc(1, sizeof(*ix));

    *out = NULL;
    if (ix == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ix->err = err;
    ix->errlen = errlen;
    ix->set = google__protobuf__file_descriptor_set__unpack(NULL, len, set);
    if (ix->set == NULL) {
        fail(ix, "not a serialized google.protobuf.FileDescriptorSet");
        goto fail;
    }
    if (index_files(ix) != 0)
        goto fail;
    for (size_t i = 0; i < ix->n_files; i++)
        if (add_file_symbols(ix, i) != 0)
            goto fail;
    if (ix->n_symbols > 0)
        qsort(ix->symbols, ix->n_symbols, sizeof(*ix->symbols), cmp_symbol);
    for (size_t i = 1; i < ix->n_symbols; i++)
        if (strcmp(ix->symbols[i - 1].name, ix->symbols[i].name) == 0) {
            fail(ix, "%s is defined twice (%s, %s)", ix->symbols[i].name,
                 ix->files[ix->symbols[i - 1].file].name, ix->files[ix->symbols[i].file].name);
            goto fail;
        }
    if (ix->n_exts > 0)
        qsort(ix->exts, ix->n_exts, sizeof(*ix->exts), cmp_extension);
    if ((ix->ext_numbers = malloc((ix->n_exts ? ix->n_exts : 1) * sizeof(int32_t))) == NULL) {
        fail(ix, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ix->n_exts; i++) {
        if (i > 0 && cmp_extension(&ix->exts[i - 1], &ix->exts[i]) == 0) {
            fail(ix, "extension %d of %s is declared twice", ix->exts[i].number, ix->exts[i].type);
            goto fail;
        }
        ix->ext_numbers[i] = ix->exts[i].number;
    }
    ix->err = NULL;
    *out = ix;
    return 0;
fail:
    ix->err = NULL;
    reflection_index_destroy(ix);
    return -1;
}

void reflection_index_destroy(reflection_index *ix)
{
    if (ix == NULL)
        return;
    for (size_t i = 0; ix->files != NULL && i < ix->n_files; i++) {
        free(ix->files[i].data);
        free(ix->files[i].deps);
    }
    free(ix->files);
    for (size_t i = 0; i < ix->n_symbols; i++)
        free(ix->symbols[i].name);
    free(ix->symbols);
    for (size_t i = 0; i < ix->n_exts; i++)
        free(ix->exts[i].type);
    free(ix->exts);
    free(ix->ext_numbers);
    if (ix->set != NULL)
        google__protobuf__file_descriptor_set__free_unpacked(ix->set, NULL);
    free(ix);
}

size_t reflection_index_file_count(const reflection_index *ix)
{
    return ix->n_files;
}

const char *reflection_index_file_name(const reflection_index *ix, size_t file)
{
    return file < ix->n_files ? ix->files[file].name : NULL;
}

const uint8_t *reflection_index_file_data(const reflection_index *ix, size_t file, size_t *len)
{
    if (file >= ix->n_files) {
        *len = 0;
        return NULL;
    }
    *len = ix->files[file].len;
    return ix->files[file].data;
}

long reflection_index_find_file(const reflection_index *ix, const char *name)
{
    /* A few dozen files: a scan is as fast as anything else. */
    for (size_t i = 0; i < ix->n_files; i++)
        if (ix->files[i].name != NULL && strcmp(ix->files[i].name, name) == 0)
            return (long)i;
    return -1;
}

long reflection_index_find_symbol(const reflection_index *ix, const char *symbol,
                                  reflection_symbol_kind *kind)
{
    ix_symbol key = {(char *)symbol, 0, 0};
    const ix_symbol *s;

    if (ix->n_symbols == 0)
        return -1;
    s = bsearch(&key, ix->symbols, ix->n_symbols, sizeof(*ix->symbols), cmp_symbol);
    if (s == NULL)
        return -1;
    if (kind != NULL)
        *kind = s->kind;
    return (long)s->file;
}

/* The first extension of type, in sorted order, or n_exts. */
static size_t first_extension(const reflection_index *ix, const char *type)
{
    size_t lo = 0, hi = ix->n_exts;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->exts[mid].type, type) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

long reflection_index_find_extension(const reflection_index *ix, const char *type, int32_t number)
{
    for (size_t i = first_extension(ix, type);
         i < ix->n_exts && strcmp(ix->exts[i].type, type) == 0; i++)
        if (ix->exts[i].number == number)
            return (long)ix->exts[i].file;
    return -1;
}

size_t reflection_index_extension_numbers(const reflection_index *ix, const char *type,
                                          const int32_t **numbers)
{
    size_t first = first_extension(ix, type), n = 0;

    while (first + n < ix->n_exts && strcmp(ix->exts[first + n].type, type) == 0)
        n++;
    *numbers = n > 0 ? &ix->ext_numbers[first] : NULL;
    return n;
}

size_t reflection_index_closure(const reflection_index *ix, size_t file, unsigned char *sent,
                                size_t *out)
{
    size_t n = 0;

    /* Breadth first over the imports, out[] doubling as the queue. A file
     * already sent on this stream went out with all of its own imports, so
     * only the requested file's imports are walked regardless. */
    out[n++] = file;
    sent[file] = 1;
    for (size_t head = 0; head < n; head++) {
        const ix_file *f = &ix->files[out[head]];
        for (size_t k = 0; k < f->n_deps; k++) {
            size_t d = f->deps[k];
            if (!sent[d]) {
                sent[d] = 1;
                out[n++] = d;
            }
        }
    }
    return n;
}
