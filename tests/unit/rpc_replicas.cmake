# The client runtime against three in-process servers (tallinn_rpc): round-robin
# over an address list, retries of calls safe to repeat, dns:/// targets.
tallinn_unit_test(rpc_replicas tallinn_rpc tallinn_rpc_client)
set_tests_properties(unit.rpc_replicas PROPERTIES ENVIRONMENT
  "TALLINN_TEST_DATA=${CMAKE_SOURCE_DIR}/tests/data;LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan-cares.supp")
