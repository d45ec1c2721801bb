# What only the PostgreSQL engine has: URL and password rules, start-up
# refusals in one line, the unix socket, byte order under an ICU database,
# keyset pages by index range (plans logged by auto_explain)
# (tests/integration/pg_engine_test.py). The `pg` fixture's cluster.
add_test(NAME integration.pg_engine
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/pg_engine_test.py
                 $<TARGET_FILE:tallinnd>)
set_tests_properties(integration.pg_engine PROPERTIES TIMEOUT 180 LABELS pg
  FIXTURES_REQUIRED pg
  ENVIRONMENT "TALLINN_TEST_ENGINE=postgresql;TALLINN_TEST_PG=${TALLINN_PG_STATE}")
