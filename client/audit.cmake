# tallinn-audit: the independent verifier of the audit log. The offline
# commands (verify DIR, check-proof, show DIR) need only the shared tlog
# library, libsodium, protobuf-c and the generated AuditRecord (tallinn_proto);
# the gRPC client runtime is linked for the --server modes and is reached
# only from audit_net.c.
add_executable(tallinn-audit
  ${CMAKE_CURRENT_LIST_DIR}/audit_main.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_verify.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_proof.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_records.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_state.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_show.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_server.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_net.c)
target_link_libraries(tallinn-audit PRIVATE tallinn_tlog tallinn_proto tallinn_rpc_client
                      PkgConfig::SODIUM PkgConfig::PROTOBUFC PkgConfig::JANSSON)
