# tallinn_cli: what tallinnctl and tallinn-audit share that needs no server
# (exit statuses, terminal text, "did you mean", money input, the config file
# of contexts). Pure enough to unit-test: tests/unit/test_cli*.c.
add_library(tallinn_cli STATIC ${CMAKE_CURRENT_LIST_DIR}/cli_exit.c
                               ${CMAKE_CURRENT_LIST_DIR}/cli_text.c
                               ${CMAKE_CURRENT_LIST_DIR}/cli_suggest.c
                               ${CMAKE_CURRENT_LIST_DIR}/cli_money.c
                               ${CMAKE_CURRENT_LIST_DIR}/cli_config.c
                               ${CMAKE_CURRENT_LIST_DIR}/cli_config_edit.c
                               ${CMAKE_CURRENT_LIST_DIR}/cli_csv.c)
target_include_directories(tallinn_cli PUBLIC ${CMAKE_CURRENT_LIST_DIR})
# tallinn_api: the server's ISO 4217 table (currency.c), one copy for both.
target_link_libraries(tallinn_cli PUBLIC tallinn_api PkgConfig::GRPC PkgConfig::INIH)
