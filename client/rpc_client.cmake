# Client runtime: channels and unary / server-streaming calls over protobuf-c.
add_library(tallinn_rpc_client STATIC ${CMAKE_CURRENT_SOURCE_DIR}/rpc_client.c
                                       ${CMAKE_CURRENT_SOURCE_DIR}/rpc_channel.c
                                       ${CMAKE_CURRENT_SOURCE_DIR}/rpc_result.c
                                       ${CMAKE_CURRENT_SOURCE_DIR}/rpc_target.c
                                       ${CMAKE_CURRENT_SOURCE_DIR}/rpc_retry.c)
target_include_directories(tallinn_rpc_client PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(tallinn_rpc_client PUBLIC tallinn_proto PkgConfig::GRPC PkgConfig::PROTOBUFC)
