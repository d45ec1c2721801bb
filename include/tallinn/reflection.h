/* reflection.h — gRPC server reflection (grpc.reflection.v1.ServerReflection
 * and its older name, grpc.reflection.v1alpha.ServerReflection), so that
 * grpcurl, grpcui, Postman or Kreya can call the server without its .proto
 * files. Generic: it serves whatever descriptor set it is given and lists the
 * services registered on the server. Design: docs/rpc.md. */
#ifndef TALLINN_REFLECTION_H
#define TALLINN_REFLECTION_H

#include "tallinn/rpc.h"

typedef struct reflection reflection;

/* Indexes a serialized google.protobuf.FileDescriptorSet that is closed
 * under imports (protoc --include_imports; e.g. rpc_descriptor_set). The
 * bytes are not kept. Returns 0, or -1 with the reason on stderr. */
int reflection_create(reflection **out, const uint8_t *set, size_t len);
void reflection_destroy(reflection *r);

/* Registers both reflection services on srv. Call it after every other
 * service: it then checks that each service registered on srv (its own
 * included) is described by the set, and fails (-1, reason on stderr)
 * otherwise, so a server never lists a service it cannot describe. */
int reflection_register(reflection *r, rpc_server *srv);

#endif
