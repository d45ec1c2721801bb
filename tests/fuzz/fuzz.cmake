# libFuzzer targets (one tests/fuzz/fuzz_<name>.c each), included by
# tests/integration/fuzz.cmake when the compiler is clang and TALLINN_FUZZ is
# ON. The libraries under test get coverage instrumentation and ASan+UBSan
# here, so a fuzz build is its own build directory (make fuzz: build-fuzz).
set(TALLINN_FUZZ_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
                       -fno-omit-frame-pointer -O1 -g)

# Instrument the code under test. Consumers link the sanitizer runtimes.
foreach(lib tallinn_proto tallinn_api tallinn_store tallinn_tlog tallinn_pbjson)
  target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link ${TALLINN_FUZZ_FLAGS})
  target_link_options(${lib} INTERFACE -fsanitize=address,undefined)
endforeach()

# Every tallinn.v1 message descriptor, from the generated headers (for
# fuzz_pbjson), so that a new message is fuzzed without editing the target.
set(FUZZ_MSGS_H ${CMAKE_CURRENT_BINARY_DIR}/fuzz_all_messages.h)
add_custom_command(
  OUTPUT ${FUZZ_MSGS_H}
  COMMAND sh -c "{ for h in \"$1\"/tallinn/v1/*.pb-c.h; do echo \"#include \\\"tallinn/v1/\${h##*/}\\\"\"; done; grep -ho 'extern const ProtobufCMessageDescriptor [a-z0-9_]*' \"$1\"/tallinn/v1/*.pb-c.h | sed 's/.* /FUZZ_MESSAGE(/; s/$/)/'; } > \"$2\""
          sh ${TALLINN_GEN_DIR} ${FUZZ_MSGS_H}
  DEPENDS tallinn_proto
  COMMENT "list of tallinn.v1 message descriptors (fuzz)" VERBATIM)
add_custom_target(fuzz_messages_h DEPENDS ${FUZZ_MSGS_H})

set(TALLINN_FUZZ_TARGETS requests filter pagetoken note tiles tlogproof witness pbjson)
set(fuzz_libs_requests tallinn_store tallinn_api tallinn_proto PkgConfig::SODIUM)
set(fuzz_libs_filter tallinn_store tallinn_api PkgConfig::SQLITE)
set(fuzz_libs_pagetoken tallinn_api PkgConfig::SODIUM)
set(fuzz_libs_note tallinn_tlog PkgConfig::SODIUM)
set(fuzz_libs_tiles tallinn_tlog PkgConfig::SODIUM)
set(fuzz_libs_tlogproof tallinn_tlog PkgConfig::SODIUM)
set(fuzz_libs_witness tallinn_tlog PkgConfig::SODIUM)
set(fuzz_libs_pbjson tallinn_pbjson tallinn_proto PkgConfig::JANSSON)

add_custom_target(fuzz-all)
foreach(t ${TALLINN_FUZZ_TARGETS})
  add_executable(fuzz_${t} ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${t}.c)
  target_compile_options(fuzz_${t} PRIVATE -fsanitize=fuzzer ${TALLINN_FUZZ_FLAGS})
  target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_${t} PRIVATE ${fuzz_libs_${t}})
  target_include_directories(fuzz_${t} PRIVATE ${CMAKE_SOURCE_DIR}/include
                             ${CMAKE_SOURCE_DIR}/service ${CMAKE_SOURCE_DIR}/tests/fuzz
                             ${CMAKE_CURRENT_BINARY_DIR})
  set_target_properties(fuzz_${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  add_dependencies(fuzz-all fuzz_${t})
  # Short form: replay the regressions, then 20 s on the seed corpus.
  add_test(NAME fuzz.${t}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh --prebuilt ${CMAKE_BINARY_DIR}
                   --seconds 20 --only ${t})
  set_tests_properties(fuzz.${t} PROPERTIES TIMEOUT 300 LABELS fuzz)
endforeach()
add_dependencies(fuzz_pbjson fuzz_messages_h)
# The runtime's wire check, built here with the fuzz flags (tallinn_rpc would
# bring the whole gRPC runtime, uninstrumented).
target_sources(fuzz_requests PRIVATE ${CMAKE_SOURCE_DIR}/service/rpc/rpc_wire.c)
add_dependencies(fuzz_requests fuzz_messages_h)
