# The store over its SQLite engine: resources, group commit, observers,
# store_submit, the principals epoch, deep pages (test_store); the SQL both
# engines share, checked against the real engine: filters select what
# filter_eval selects, pages follow filter_order_compare (test_store_sql).
tallinn_unit_test(store tallinn_store)
tallinn_unit_test(store_sql tallinn_store)
target_include_directories(test_store_sql PRIVATE ${CMAKE_SOURCE_DIR}/service)
