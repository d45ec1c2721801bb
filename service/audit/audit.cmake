# The audit log: records appended in the change's transaction, RFC 9162 tree
# in C2SP tiles, one signed checkpoint per group commit.
add_library(tallinn_audit STATIC ${CMAKE_CURRENT_SOURCE_DIR}/audit/audit.c
            ${CMAKE_CURRENT_SOURCE_DIR}/audit/audit_record.c)
target_include_directories(tallinn_audit PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tallinn_audit PUBLIC tallinn_store tallinn_tlog tallinn_rpc tallinn_slog PkgConfig::SODIUM)
