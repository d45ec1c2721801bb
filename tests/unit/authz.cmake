# Unit tests of authz's parts that need no server: the failed-authentication
# throttle and the background writer of last-use times (over a real store).
tallinn_unit_test(authz tallinn_authz tallinn_store)
target_include_directories(test_authz PRIVATE ${CMAKE_SOURCE_DIR}/service)
