# Every refused write recorded exactly once (issue 10, item 5): the role x
# method table of authz_test.py for every write method, need-to-know and
# state refusals, checked against the records in the log.
tallinn_server_test(audit_refusals TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/audit_refusals_test.py
                 $<TARGET_FILE:tallinnd>
  LABELS audit)
