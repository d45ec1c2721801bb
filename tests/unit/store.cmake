# The store over its SQLite engine: resources, group commit, observers,
# store_submit, the principals epoch, connections replaced after a failure
# (a fault-injecting wrapper of the engine), deep pages (test_store); the SQL both
# engines share, checked against the real engine: filters select what
# filter_eval selects, pages follow filter_order_compare (test_store_sql).
tallinn_unit_test(store tallinn_store)
target_include_directories(test_store PRIVATE ${CMAKE_SOURCE_DIR}/service)
tallinn_unit_test(store_sql tallinn_store)
target_include_directories(test_store_sql PRIVATE ${CMAKE_SOURCE_DIR}/service)
# The same on PostgreSQL: a fresh database of the `pg` fixture's cluster
# (tests/pg/pgcluster.py run), text in byte order under an ICU collation.
add_test(NAME unit.store_sql.pg
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/pg/pgcluster.py run ${TALLINN_PG_STATE}
                 $<TARGET_FILE:test_store_sql>)
set_tests_properties(unit.store_sql.pg PROPERTIES TIMEOUT 120 LABELS pg FIXTURES_REQUIRED pg)
# The audit log's witnesses in the store (sizes, cosignature lines, the
# newest quorum), on SQLite and on a fresh PostgreSQL database.
tallinn_unit_test(store_witness tallinn_store)
add_test(NAME unit.store_witness.pg
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/pg/pgcluster.py run ${TALLINN_PG_STATE}
                 $<TARGET_FILE:test_store_witness>)
set_tests_properties(unit.store_witness.pg PROPERTIES TIMEOUT 120 LABELS pg FIXTURES_REQUIRED pg)
# A need's and a pledge's match sums kept by the engine (triggers) as
# matches change, against sums recomputed from a model, and the migration's
# fill; on SQLite and on a fresh PostgreSQL database.
tallinn_unit_test(store_sums tallinn_store)
add_test(NAME unit.store_sums.pg
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/pg/pgcluster.py run ${TALLINN_PG_STATE}
                 $<TARGET_FILE:test_store_sums>)
set_tests_properties(unit.store_sums.pg PROPERTIES TIMEOUT 120 LABELS pg FIXTURES_REQUIRED pg)
# The PostgreSQL engine's pipeline (test_store_pg): a failed statement fails
# its job only, a failed deferred statement its batch; reads stay snapshots;
# dead pooled connections are replaced within the call. PostgreSQL only.
add_executable(test_store_pg ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_pg.c)
target_link_libraries(test_store_pg PRIVATE tallinn_store PkgConfig::CMOCKA)
target_include_directories(test_store_pg PRIVATE ${CMAKE_SOURCE_DIR}/include)
set_target_properties(test_store_pg PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME unit.store_pg.pg
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/pg/pgcluster.py run ${TALLINN_PG_STATE}
                 $<TARGET_FILE:test_store_pg>)
set_tests_properties(unit.store_pg.pg PROPERTIES TIMEOUT 120 LABELS pg FIXTURES_REQUIRED pg)
