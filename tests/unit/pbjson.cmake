# Unit test of the protobuf <-> JSON converter over every message type of
# proto/tallinn/v1: the list of descriptors is taken from the generated
# headers at build time, so a new message is covered without editing the test.
set(PBJSON_INC_H ${CMAKE_CURRENT_BINARY_DIR}/pbjson_all_headers.h)
set(PBJSON_ALL_H ${CMAKE_CURRENT_BINARY_DIR}/pbjson_all_messages.h)
add_custom_command(
  OUTPUT ${PBJSON_INC_H} ${PBJSON_ALL_H}
  COMMAND sh -c "for h in \"$1\"/tallinn/v1/*.pb-c.h; do echo \"#include \\\"tallinn/v1/\${h##*/}\\\"\"; done > \"$2\" && grep -ho 'extern const ProtobufCMessageDescriptor [a-z0-9_]*' \"$1\"/tallinn/v1/*.pb-c.h | sed 's/.* /PBJSON_MESSAGE(/; s/$/)/' > \"$3\""
          sh ${TALLINN_GEN_DIR} ${PBJSON_INC_H} ${PBJSON_ALL_H}
  DEPENDS tallinn_proto
  COMMENT "list of tallinn.v1 message descriptors" VERBATIM)
tallinn_unit_test(pbjson tallinn_pbjson tallinn_proto)
target_sources(test_pbjson PRIVATE ${PBJSON_INC_H} ${PBJSON_ALL_H})
target_include_directories(test_pbjson PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
target_compile_definitions(test_pbjson PRIVATE TALLINN_PROTO_DIR="${CMAKE_SOURCE_DIR}/proto/tallinn/v1")
