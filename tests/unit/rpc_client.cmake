# Unit tests of the client runtime (tallinn_rpc_client) that need no server.
tallinn_unit_test(rpc_client tallinn_rpc_client)
# It also checks the runtime's private target parser (client/rpc_internal.h).
target_include_directories(test_rpc_client PRIVATE ${CMAKE_SOURCE_DIR}/client)
