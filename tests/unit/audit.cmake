tallinn_unit_test(audit tallinn_audit)
target_include_directories(test_audit PRIVATE ${CMAKE_SOURCE_DIR}/service)
