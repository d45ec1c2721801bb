# Metrics: lock-free counters and histograms with their text exposition
# (tallinn_metrics, linked by the modules that count), and tallinnd's
# /metrics endpoint over libmicrohttpd (tallinn_metrics_http).
add_library(tallinn_metrics STATIC ${CMAKE_CURRENT_SOURCE_DIR}/metrics/metrics_text.c)
target_include_directories(tallinn_metrics PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(tallinn_metrics PUBLIC m)
add_library(tallinn_metrics_http STATIC ${CMAKE_CURRENT_SOURCE_DIR}/metrics/metrics_http.c
            ${CMAKE_CURRENT_SOURCE_DIR}/metrics/metrics_collect.c)
target_include_directories(tallinn_metrics_http PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tallinn_metrics_http PUBLIC tallinn_metrics tallinn_slog tallinn_rpc
                      tallinn_store tallinn_audit tallinn_authz tallinn_witnesses PkgConfig::MHD Threads::Threads)
