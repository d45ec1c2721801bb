# tallinnctl's export helpers: the RFC 4180 writer (client/ctl_csv.c) and
# Money as an exact decimal (client/ctl_money.c).
tallinn_unit_test(ctl_csv)
target_sources(test_ctl_csv PRIVATE ${CMAKE_SOURCE_DIR}/client/ctl_csv.c)
tallinn_unit_test(ctl_money tallinn_api tallinn_proto PkgConfig::PROTOBUFC)
target_sources(test_ctl_money PRIVATE ${CMAKE_SOURCE_DIR}/client/ctl_money.c)
