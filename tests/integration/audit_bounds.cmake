# Hostile text in refused writes (issue 10, item 1): every audit record stays
# bounded and valid, decodes in Python, exports, verifies and lets the server
# start again.
tallinn_server_test(audit_bounds TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/audit_bounds_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinn-audit> $<TARGET_FILE:tallinnctl>
  LABELS audit)
