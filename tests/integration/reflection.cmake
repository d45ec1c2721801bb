# integration.reflection: server reflection (v1, v1alpha) and health per
# service, from python3-grpcio with the reflection protos of grpc-proto.
tallinn_server_test(reflection TIMEOUT 120
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/reflection_test.py
          $<TARGET_FILE:tallinnd>)
