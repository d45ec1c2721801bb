# Authentication and authorisation: the role x method table, tokens and
# certificates, and the PrincipalService that manages them.
add_library(tallinn_authz STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/authz/authz.c
  ${CMAKE_CURRENT_SOURCE_DIR}/authz/throttle.c
  ${CMAKE_CURRENT_SOURCE_DIR}/authz/lastuse.c
  ${CMAKE_CURRENT_SOURCE_DIR}/authz/principals.c)
target_include_directories(tallinn_authz PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tallinn_authz PUBLIC tallinn_handlers tallinn_audit PkgConfig::SODIUM)
