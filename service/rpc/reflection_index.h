/* reflection_index.h — what server reflection looks things up in: the files
 * of a descriptor set (each serialized once), every symbol they define, the
 * extensions they declare, and each file's dependencies. Private to
 * service/rpc (reflection.c) and its unit test. */
#ifndef TALLINN_REFLECTION_INDEX_H
#define TALLINN_REFLECTION_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef enum reflection_symbol_kind {
    REFLECTION_SYM_MESSAGE = 1,
    REFLECTION_SYM_ENUM,
    REFLECTION_SYM_SERVICE,
    REFLECTION_SYM_METHOD,
    REFLECTION_SYM_OTHER /* a field, oneof, enum value or extension */
} reflection_symbol_kind;

typedef struct reflection_index reflection_index;

/* Indexes a serialized google.protobuf.FileDescriptorSet. The set must be
 * closed under imports (protoc --include_imports): a dependency it lacks, a
 * file named twice or a symbol defined twice is refused. Returns 0, or -1
 * with the reason in err. The set's bytes are not kept. */
int reflection_index_create(reflection_index **out, const uint8_t *set, size_t len, char *err,
                            size_t errlen);
void reflection_index_destroy(reflection_index *ix);

size_t reflection_index_file_count(const reflection_index *ix);
const char *reflection_index_file_name(const reflection_index *ix, size_t file);
/* The file's FileDescriptorProto, serialized; owned by the index. */
const uint8_t *reflection_index_file_data(const reflection_index *ix, size_t file, size_t *len);

/* The file of that name; -1 if none. */
long reflection_index_find_file(const reflection_index *ix, const char *name);
/* The file defining a fully-qualified symbol ("pkg.Msg", "pkg.Svc.Method",
 * "pkg.Msg.Nested", without a leading dot); -1 if none. *kind (may be NULL)
 * gets what it is. */
long reflection_index_find_symbol(const reflection_index *ix, const char *symbol,
                                  reflection_symbol_kind *kind);
/* The file declaring extension `number` of message type `type`; -1 if none. */
long reflection_index_find_extension(const reflection_index *ix, const char *type, int32_t number);
/* The extension numbers declared for message type `type`, ascending: *numbers
 * points into the index (NULL when there are none). Returns the count. */
size_t reflection_index_extension_numbers(const reflection_index *ix, const char *type,
                                          const int32_t **numbers);

/* What a reply for `file` carries: the file itself, always, then those of its
 * transitive dependencies not yet marked in sent[] (one flag per file, kept
 * by the caller for a whole stream), each once. Appends the file indices to
 * out[] (room for reflection_index_file_count entries), marks them sent and
 * returns how many. */
size_t reflection_index_closure(const reflection_index *ix, size_t file, unsigned char *sent,
                                size_t *out);

#endif
