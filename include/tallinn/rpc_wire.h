/* rpc_wire.h — checks of a request's wire bytes against its message
 * descriptor, made by the RPC runtime before any handler runs. Generic
 * protobuf: no knowledge of the services.
 *
 * Why on the wire bytes: protobuf-c unpacks a string into a NUL-terminated C
 * string, so "abc\0def" arrives in a handler as "abc" and no later check can
 * see what was cut off. proto3 also requires string fields to be valid
 * UTF-8, which protobuf-c does not check. */
#ifndef TALLINN_RPC_WIRE_H
#define TALLINN_RPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RPC_WIRE_MAX_DEPTH 32   /* nested messages followed; deeper is malformed */
#define RPC_WIRE_PATH_MAX 256   /* bytes of a reported field path, NUL included */
#define RPC_WIRE_BAD_NUL 1      /* the string holds a NUL byte */
#define RPC_WIRE_BAD_UTF8 2     /* the string is not valid UTF-8 */

/* Called once per bad string: path names the field the way BadRequest
 * does ("need.title", "update_mask.paths[2]", "items[0].name"), problem is
 * RPC_WIRE_BAD_NUL or RPC_WIRE_BAD_UTF8, offset the byte offset of the first
 * offending byte within the string. */
typedef void (*rpc_wire_report_fn)(void *ctx, const char *path, int problem, size_t offset);

/* Walks buf[0..len) as a message of type d and checks every string field at
 * every depth, repeated and nested ones included: valid UTF-8, no NUL.
 * Unknown fields and bytes fields are not text and are skipped. Each byte is
 * read once (cost linear in len); no allocation beyond one counter array per
 * nested message. Returns the number of bad strings (0: all good), or -1 if
 * buf is not a well-formed message (truncated, a group, nesting deeper than
 * RPC_WIRE_MAX_DEPTH) or memory ran out. report may be NULL. */
int rpc_wire_check_text(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                        rpc_wire_report_fn report, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
