# tallinnd, the server.
add_executable(tallinnd ${CMAKE_CURRENT_SOURCE_DIR}/daemon/tallinnd_main.c
                        ${CMAKE_CURRENT_SOURCE_DIR}/daemon/datalock.c)
target_link_libraries(tallinnd PRIVATE tallinn_authz tallinn_handlers tallinn_rpc PkgConfig::SODIUM)
target_include_directories(tallinnd PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
