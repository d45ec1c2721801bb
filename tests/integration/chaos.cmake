# The chaos test's short form (issue 10): random calls by every role with
# valid and hostile fields against a real tallinnd, then SIGKILL, restart and
# the audit log checked end to end; a random seed each run, printed with
# every failure. `make chaos` runs it for CHAOS_SECONDS.
add_test(NAME integration.chaos
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/chaos_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinn-audit> $<TARGET_FILE:tallinnctl>
                 --seconds 15)
set_tests_properties(integration.chaos PROPERTIES TIMEOUT 180 LABELS chaos)
# Registered but not yet run by `make test`: on main (2f8ef59) it still finds
# SuggestMatches' max_suggestions, Pledge.source line breaks and
# StreamAuditRecords' end below start answered against their .proto comments,
# and now and then a coverage by_donor line counting needs that are not
# counted (issue 10 item 3). Remove this line once those are settled and
# `make chaos` runs clean.
set_tests_properties(integration.chaos PROPERTIES DISABLED TRUE)
