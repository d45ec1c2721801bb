# tallinnd, the server.
add_executable(tallinnd ${CMAKE_CURRENT_SOURCE_DIR}/daemon/tallinnd_main.c
                        ${CMAKE_CURRENT_SOURCE_DIR}/daemon/datalock.c)
# libsystemd for sd_notify (Type=notify units); a no-op outside systemd.
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
target_link_libraries(tallinnd PRIVATE tallinn_authz tallinn_handlers tallinn_witnesses tallinn_rpc
                      tallinn_metrics_http tallinn_slog PkgConfig::SODIUM
                      PkgConfig::SYSTEMD)
target_include_directories(tallinnd PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
