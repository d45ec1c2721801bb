# integration.ctl: the whole workflow through tallinnctl only, against a real
# tallinnd: config contexts per role, table and JSON output, the JSON round
# trip of get | update -f -, and bad input (tests/integration/ctl_test.py).
tallinn_server_test(ctl TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/ctl_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl>)
