tallinn_server_test(diskfull TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/diskfull_test.py
                 $<TARGET_FILE:tallinnd>
  PROPERTIES RUN_SERIAL TRUE)
