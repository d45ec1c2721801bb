# tallinn-interop-server: grpc.testing.TestService on the RPC runtime, for the
# gRPC interop cases (tests/integration/interop_test.py drives it).
add_executable(tallinn-interop-server ${CMAKE_CURRENT_SOURCE_DIR}/interop/interop_main.c)
target_link_libraries(tallinn-interop-server PRIVATE tallinn_rpc tallinn_proto Threads::Threads)
