tallinn_server_test(hostile TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/hostile_test.py
                 $<TARGET_FILE:tallinnd>)
