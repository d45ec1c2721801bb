# The change log (store) and its reading for a caller (handlers): records and
# rows in one job, versions, live matches as of a position, the migration's
# baseline, rendering per role with tombstones, waiting on local commits and
# polling for another store handle's (tests/unit/test_changes.c).
tallinn_unit_test(changes tallinn_handlers)
target_include_directories(test_changes PRIVATE ${CMAKE_SOURCE_DIR}/service)
# The same on PostgreSQL: a database of the `pg` fixture's cluster
# (tests/pg/pgcluster.py run), emptied before each test; the baseline over
# PostgreSQL's migration, polling a second store handle on one database.
add_test(NAME unit.changes.pg
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/pg/pgcluster.py run ${TALLINN_PG_STATE}
                 $<TARGET_FILE:test_changes>)
set_tests_properties(unit.changes.pg PROPERTIES TIMEOUT 120 LABELS pg FIXTURES_REQUIRED pg)
