# The domain services: shared handler machinery and one file per resource.
add_library(tallinn_handlers STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/api.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/api_check.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/api_write.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/api_list.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/visibility.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/needs.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/donors.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/matches.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/delivery.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/reports.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/rates.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/diagnostics.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/audit_service.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/changes.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/changes_view.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/changes_wait.c
  ${CMAKE_CURRENT_SOURCE_DIR}/handlers/history.c)
target_include_directories(tallinn_handlers PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tallinn_handlers PUBLIC tallinn_audit tallinn_witnesses tallinn_rpc tallinn_store tallinn_ledger tallinn_api
                      tallinn_tlog PkgConfig::SODIUM m)
