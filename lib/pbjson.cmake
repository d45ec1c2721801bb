# tallinn_pbjson: protobuf <-> JSON (proto3 JSON mapping) for any protobuf-c
# message, through jansson. Shared by tallinnctl, the tests and the fuzzers.
add_library(tallinn_pbjson STATIC ${CMAKE_CURRENT_LIST_DIR}/pbjson.c)
set_target_properties(tallinn_pbjson PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(tallinn_pbjson PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(tallinn_pbjson PUBLIC PkgConfig::PROTOBUFC PkgConfig::JANSSON
                      PRIVATE PkgConfig::SODIUM m)
