# A PostgreSQL connection lost exactly during a write batch's COMMIT, after
# and before the database committed (STORE_INDOUBT): UNAVAILABLE "may or may
# not", the retry with the same request_id stores the need once, the log
# stays one verifiable log (tests/integration/pg_indoubt_test.py).
# PostgreSQL only: the `pg` fixture.
add_test(NAME integration.pg_indoubt
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/pg_indoubt_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl> $<TARGET_FILE:tallinn-audit>)
set_tests_properties(integration.pg_indoubt PROPERTIES TIMEOUT 180 LABELS pg
  FIXTURES_REQUIRED pg
  ENVIRONMENT "TALLINN_TEST_ENGINE=postgresql;TALLINN_TEST_PG=${TALLINN_PG_STATE}")
