# Code generation from .proto files: protoc-c for C messages, protoc for a
# descriptor set (the runtime's table of streaming flags is generated from it).
find_program(PROTOC_C protoc-c REQUIRED)
find_program(PROTOC protoc REQUIRED)

set(TALLINN_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
set(TALLINN_PROTO_WKT_DIR /usr/include CACHE PATH "Directory holding google/protobuf/*.proto")
set(TALLINN_GRPC_PROTO_DIR /usr/share/grpc-proto CACHE PATH "Debian grpc-proto directory")
set(TALLINN_GOOGLEAPIS_DIR /usr/share/gocode/src/github.com/gogo/googleapis
    CACHE PATH "Directory holding google/rpc/*.proto (Debian golang-github-gogo-googleapis-dev)")
set(TALLINN_PROTO_PATH
    -I${CMAKE_SOURCE_DIR}/proto -I${TALLINN_GRPC_PROTO_DIR}
    -I${TALLINN_GOOGLEAPIS_DIR} -I${TALLINN_PROTO_WKT_DIR})

# tallinn_protoc_c(<out-var> <root> <file.proto>...): generate C for each file
# (given relative to its import root <root>), append the .c files to <out-var>.
function(tallinn_protoc_c out_var root)
  set(srcs ${${out_var}})
  foreach(rel ${ARGN})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(c ${TALLINN_GEN_DIR}/${stem}.pb-c.c)
    set(h ${TALLINN_GEN_DIR}/${stem}.pb-c.h)
    add_custom_command(
      OUTPUT ${c} ${h}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${TALLINN_GEN_DIR}
      COMMAND ${PROTOC_C} ${TALLINN_PROTO_PATH} --c_out=${TALLINN_GEN_DIR} ${root}/${rel}
      DEPENDS ${root}/${rel}
      COMMENT "protoc-c ${rel}" VERBATIM)
    list(APPEND srcs ${c})
  endforeach()
  set(${out_var} ${srcs} PARENT_SCOPE)
endfunction()
