# integration.interop: the gRPC interop cases against tallinn-interop-server,
# driven by python3-grpcio (an independent stack). Uses Debian's /usr/bin/python3,
# where python3-grpcio and python3-protobuf live, whatever python3 is on PATH.
add_test(NAME integration.interop
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/interop_test.py
          --server $<TARGET_FILE:tallinn-interop-server>
          --protoc ${PROTOC} --proto-dir ${TALLINN_GRPC_PROTO_DIR})
# The server inherits this environment: leaks and UB fail its exit status,
# which the test checks after SIGTERM.
set_tests_properties(integration.interop PROPERTIES
  TIMEOUT 120
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
