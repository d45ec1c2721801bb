# The chaos test's short form (issue 10): random calls by every role with
# valid and hostile fields against a real tallinnd, then SIGKILL, restart and
# the audit log checked end to end; a random seed each run, printed with
# every failure. `make chaos` runs it for CHAOS_SECONDS.
tallinn_server_test(chaos TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/chaos_test.py
          $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinn-audit> $<TARGET_FILE:tallinnctl>
          --seconds 15
  LABELS chaos)
