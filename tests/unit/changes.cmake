# The change log (store) and its reading for a caller (handlers): records and
# rows in one job, versions, live matches as of a position, the migration's
# baseline, rendering per role with tombstones, waiting on local commits and
# polling for another store handle's (tests/unit/test_changes.c).
tallinn_unit_test(changes tallinn_handlers)
target_include_directories(test_changes PRIVATE ${CMAKE_SOURCE_DIR}/service)
