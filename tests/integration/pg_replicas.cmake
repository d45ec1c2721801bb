# Three tallinnd replicas on one PostgreSQL database (issue 11): load through
# all three with one SIGKILLed, verify --server against each with one state,
# revocation, request_id, guards, etags and page tokens across replicas
# (tests/integration/pg_replicas_test.py). PostgreSQL only: the `pg` fixture.
add_test(NAME integration.pg_replicas
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/pg_replicas_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl> $<TARGET_FILE:tallinn-audit>)
set_tests_properties(integration.pg_replicas PROPERTIES TIMEOUT 300 LABELS pg
  FIXTURES_REQUIRED pg
  ENVIRONMENT "TALLINN_TEST_ENGINE=postgresql;TALLINN_TEST_PG=${TALLINN_PG_STATE}")
