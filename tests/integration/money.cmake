# Money sums past the int64 nanos range and each role's coverage report
# (issue 10, items 3 and 4) against a real tallinnd.
tallinn_server_test(money TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/money_test.py
                 $<TARGET_FILE:tallinnd>)
