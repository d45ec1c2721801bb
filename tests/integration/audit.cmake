# tallinn-audit on the Tessera test log, the tlog-proof fixtures and altered
# copies of both (tests/integration/audit_verify.sh), plus a 1,000,000-entry
# log written by the audit_mklog helper.
add_executable(audit_mklog ${CMAKE_CURRENT_SOURCE_DIR}/integration/audit_mklog.c)
target_link_libraries(audit_mklog PRIVATE tallinn_tlog PkgConfig::SODIUM)
set_target_properties(audit_mklog PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

find_program(TALLINN_BASH bash REQUIRED)
foreach(mode ok flip-checkpoint flip-bundle flip-tile flip-older truncate wrong-key proof large)
  add_test(NAME integration.audit.${mode}
           COMMAND ${TALLINN_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/integration/audit_verify.sh
                   $<TARGET_FILE:tallinn-audit> ${CMAKE_SOURCE_DIR}/tests/data ${mode}
                   $<TARGET_FILE:audit_mklog>)
  set_tests_properties(integration.audit.${mode} PROPERTIES TIMEOUT 600 LABELS audit)
endforeach()
