# Need-to-know decided on a need's stored columns (no decoding) equals the
# decision on the decoded need, for every role x sensitivity x state, and a
# stored page carries what the decoded one does (tests/unit/test_visibility.c),
# on SQLite and on a fresh PostgreSQL database of the `pg` fixture.
tallinn_unit_test(visibility tallinn_handlers)
target_include_directories(test_visibility PRIVATE ${CMAKE_SOURCE_DIR}/service)
add_test(NAME unit.visibility.pg
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/pg/pgcluster.py run ${TALLINN_PG_STATE}
                 $<TARGET_FILE:test_visibility>)
set_tests_properties(unit.visibility.pg PROPERTIES TIMEOUT 120 LABELS pg FIXTURES_REQUIRED pg)
