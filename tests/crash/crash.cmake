# The crash test's short form (make test) on both engines; `make crash` runs
# the long one. crash.pg_immediate: the PostgreSQL server itself stopped with
# `pg_ctl stop -m immediate` under write load (its own cluster: the shared
# one of the .pg tests must stay up).
tallinn_server_test(short PREFIX crash TIMEOUT 240
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/crash/crash_test.py
          $<TARGET_FILE:tallinnd> --rounds 3
  LABELS crash)
add_test(NAME crash.pg_immediate
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/crash/pg_crash_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinn-audit> --rounds 3)
set_tests_properties(crash.pg_immediate PROPERTIES TIMEOUT 300 LABELS "crash;pg")
