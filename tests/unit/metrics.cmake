tallinn_unit_test(metrics tallinn_metrics)
tallinn_unit_test(slog tallinn_slog)
target_include_directories(test_slog PRIVATE ${CMAKE_SOURCE_DIR}/service)
