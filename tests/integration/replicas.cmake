# tallinnctl and tallinn-audit given several addresses: lists, dns:///, a
# killed replica, errors naming the replica, TLS with one name for all
# (tests/integration/replicas_test.py; two tallinnd on their own data dirs).
tallinn_server_test(replicas TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/replicas_test.py
                 $<TARGET_FILE:tallinnd> $<TARGET_FILE:tallinnctl> $<TARGET_FILE:tallinn-audit>)
