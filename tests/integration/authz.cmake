# integration.authz: every role x every method against a real tallinnd, checked
# against a table written out in the test from issue 7 (not from authz.c), plus
# cross-donor attempts, need-to-know lists, tokens and rate limiting.
tallinn_server_test(authz TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/authz_test.py
                 $<TARGET_FILE:tallinnd>
  LABELS authz)
