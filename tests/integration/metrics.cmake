# integration.metrics: /metrics (counts moved by OK, refused and
# unauthenticated calls; promtool check metrics; 404/405; loopback only),
# the alert rules in docs/operations.md (promtool check rules), and the log
# lines (timestamps, logfmt and JSON, --log-level, no token in any form).
tallinn_server_test(metrics TIMEOUT 120
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/metrics_test.py
                 $<TARGET_FILE:tallinnd>
  LABELS metrics)
