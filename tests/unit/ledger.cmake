# The ledger's exact sums: 128-bit amounts, Money range refusals, formatting,
# and sums over a real store past the int64 nanos range.
tallinn_unit_test(ledger tallinn_ledger)
target_include_directories(test_ledger PRIVATE ${CMAKE_SOURCE_DIR}/service)
