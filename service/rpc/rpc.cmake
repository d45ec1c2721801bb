# The RPC runtime (transport only) and the standard health and reflection
# services.
add_library(tallinn_rpc STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/rpc_server.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/rpc_call.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/rpc_listen.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/rpc_requests.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/rpc_log.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/rpc_budget.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/rpc_wire.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/rpc_stats.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/health.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/reflection.c
  ${CMAKE_CURRENT_SOURCE_DIR}/rpc/reflection_index.c)
target_include_directories(tallinn_rpc PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tallinn_rpc PUBLIC tallinn_proto tallinn_api PkgConfig::GRPC PkgConfig::PROTOBUFC
                      tallinn_metrics tallinn_slog PkgConfig::JANSSON Threads::Threads)
