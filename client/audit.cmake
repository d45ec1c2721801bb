# tallinn-audit: the independent verifier of the audit log. The offline
# commands (verify DIR, check-proof, show DIR) need only the shared tlog
# library, libsodium, protobuf-c and the generated AuditRecord (tallinn_proto);
# the gRPC client runtime is linked for the --server modes and is reached
# only from audit_net.c. The witness (witness_*.c) adds libmicrohttpd (its
# server) and libcurl (tallinn_witness_client, for `witness cosign`).
add_executable(tallinn-audit
  ${CMAKE_CURRENT_LIST_DIR}/audit_main.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_verify.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_proof.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_records.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_state.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_witness.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_show.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_server.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_net.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_context.c
  ${CMAKE_CURRENT_LIST_DIR}/witness_main.c
  ${CMAKE_CURRENT_LIST_DIR}/witness_store.c
  ${CMAKE_CURRENT_LIST_DIR}/witness_http.c
  ${CMAKE_CURRENT_LIST_DIR}/witness_cosign.c)
target_link_libraries(tallinn-audit PRIVATE tallinn_cli tallinn_tlog tallinn_witness_client tallinn_proto
                      tallinn_rpc_client PkgConfig::SODIUM PkgConfig::PROTOBUFC
                      PkgConfig::JANSSON PkgConfig::MHD Threads::Threads)
# Test-only hooks (a witness that stops itself between storing and answering)
# exist in builds for testing only: the sanitizer build that `make test` runs.
if(TALLINN_TEST_HOOKS)
  target_compile_definitions(tallinn-audit PRIVATE TALLINN_TEST_HOOKS)
endif()
