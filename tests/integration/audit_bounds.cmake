# Hostile text in refused writes (issue 10, item 1): every audit record stays
# bounded and valid, decodes in Python, exports, verifies and lets the server
# start again.
add_test(NAME integration.audit_bounds
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/audit_bounds_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinn-audit> $<TARGET_FILE:tallinnctl>)
set_tests_properties(integration.audit_bounds PROPERTIES TIMEOUT 180 LABELS audit)
