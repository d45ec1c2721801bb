# tallinn-audit: the offline verifier of the audit log (tlog-tiles directories,
# checkpoints, tlog-proof files). Links the shared tlog library only.
add_executable(tallinn-audit
  ${CMAKE_CURRENT_LIST_DIR}/audit_main.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_verify.c
  ${CMAKE_CURRENT_LIST_DIR}/audit_proof.c)
target_link_libraries(tallinn-audit PRIVATE tallinn_tlog PkgConfig::SODIUM)
