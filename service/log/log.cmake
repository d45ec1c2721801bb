# tallinnd's log lines (slog): one formatter (logfmt or JSON), levels, and the
# gRPC core's own log routed through it.
add_library(tallinn_slog STATIC ${CMAKE_CURRENT_SOURCE_DIR}/log/slog.c)
target_include_directories(tallinn_slog PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tallinn_slog PUBLIC tallinn_tlog PkgConfig::JANSSON PkgConfig::GRPC)
