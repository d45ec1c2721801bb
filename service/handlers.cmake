# The domain services: shared handler machinery and one file per resource.
add_library(tallinn_handlers STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/api.c
  ${CMAKE_CURRENT_SOURCE_DIR}/needs.c
  ${CMAKE_CURRENT_SOURCE_DIR}/donors.c
  ${CMAKE_CURRENT_SOURCE_DIR}/matches.c
  ${CMAKE_CURRENT_SOURCE_DIR}/reports.c
  ${CMAKE_CURRENT_SOURCE_DIR}/authz.c
  ${CMAKE_CURRENT_SOURCE_DIR}/principals.c
  ${CMAKE_CURRENT_SOURCE_DIR}/diagnostics.c
  ${CMAKE_CURRENT_SOURCE_DIR}/audit.c
  ${CMAKE_CURRENT_SOURCE_DIR}/audit_service.c)
target_include_directories(tallinn_handlers PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(tallinn_handlers PUBLIC tallinn_rpc tallinn_store tallinn_api tallinn_tlog PkgConfig::SODIUM m)
