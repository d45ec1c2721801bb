# The store over its SQLite engine: resources, group commit, observers,
# store_submit, the principals epoch, connections replaced after a failure
# (a fault-injecting wrapper of the engine), deep pages (test_store); the SQL both
# engines share, checked against the real engine: filters select what
# filter_eval selects, pages follow filter_order_compare (test_store_sql).
tallinn_unit_test(store tallinn_store)
target_include_directories(test_store PRIVATE ${CMAKE_SOURCE_DIR}/service)
tallinn_unit_test(store_sql tallinn_store)
target_include_directories(test_store_sql PRIVATE ${CMAKE_SOURCE_DIR}/service)
