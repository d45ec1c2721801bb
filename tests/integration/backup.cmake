tallinn_server_test(backup TIMEOUT 180
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/backup_test.py
                 $<TARGET_FILE:tallinnd>)
