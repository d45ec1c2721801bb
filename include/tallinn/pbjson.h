/* pbjson.h — protobuf <-> JSON in the proto3 JSON mapping, driven by
 * protobuf-c descriptors through jansson: one converter for every message
 * type (tallinnctl's -o json and -f, the tests and the fuzzers).
 *
 * Mapping (https://protobuf.dev/programming-guides/proto3/#json):
 * - field names lowerCamelCase on output; the proto name or the camelCase
 *   name on input; an unknown field is an error.
 * - enums as value names (a value without a name as its number); on input a
 *   name or an integer.
 * - int64, uint64 (and their fixed/sint kinds) as decimal strings; on input a
 *   string or an integral number. 32-bit kinds as numbers. Out of range is an
 *   error.
 * - float and double as numbers, "NaN", "Infinity", "-Infinity".
 * - bytes as standard base64 with padding; on input standard or URL-safe,
 *   padded or not.
 * - google.protobuf.Timestamp as RFC 3339 ("2025-01-02T03:04:05.120Z", 0, 3,
 *   6 or 9 fraction digits, UTC on output; any offset on input);
 *   google.protobuf.Duration as "1.500s"; google.protobuf.FieldMask as
 *   comma-joined lowerCamelCase paths; google.protobuf.Empty as {}.
 * - null on input means the field's default.
 * google.protobuf.Any, Struct, Value and the wrapper types are refused with
 * an error (nothing in tallinn.v1 uses them).
 *
 * Ownership: pbjson_to_json returns a new jansson reference (json_decref);
 * pbjson_from_json returns a message allocated with malloc that the caller
 * frees with protobuf_c_message_free_unpacked(msg, NULL). On failure nothing
 * is returned and err gets a one-line cause naming the field path
 * ("need.estimatedCost.units: ..."). */
#ifndef TALLINN_PBJSON_H
#define TALLINN_PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Size of an err buffer that holds any message pbjson writes. */
#define PBJSON_ERROR_MAX 256

/* Output flags. */
#define PBJSON_EMIT_DEFAULTS 1u /* also write fields that hold their default */
#define PBJSON_PROTO_NAMES 2u   /* write proto field names instead of camelCase */

/* msg as a JSON object. Returns 0 with *out, or -1 (a string that is not
 * valid UTF-8, an unsupported well-known type, out of memory). */
int pbjson_to_json(const ProtobufCMessage *msg, unsigned flags, json_t **out, char *err,
                   size_t err_len);

/* A JSON object as a new message of type desc. Returns 0 with *out, or -1. */
int pbjson_from_json(const json_t *json, const ProtobufCMessageDescriptor *desc,
                     ProtobufCMessage **out, char *err, size_t err_len);

/* The same through text: pbjson_dumps returns a malloc'd NUL-terminated
 * string (compact, or indented by indent spaces when indent > 0) or NULL with
 * err; pbjson_loads parses len bytes of JSON text (one value, nothing after
 * it but white space) into a new message. */
char *pbjson_dumps(const ProtobufCMessage *msg, unsigned flags, int indent, char *err,
                   size_t err_len);
int pbjson_loads(const char *text, size_t len, const ProtobufCMessageDescriptor *desc,
                 ProtobufCMessage **out, char *err, size_t err_len);

/* The field of desc that a JSON key names (proto name or lowerCamelCase), or
 * NULL. */
const ProtobufCFieldDescriptor *pbjson_field_by_json_key(const ProtobufCMessageDescriptor *desc,
                                                         const char *key);

/* The lowerCamelCase JSON name of a proto field name ("estimated_cost" ->
 * "estimatedCost") into buf; returns buf. Truncates to len - 1 bytes. */
const char *pbjson_json_name(const char *proto_name, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
